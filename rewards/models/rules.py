"""Earn rules and the points each one gave to a purchase."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from loyalty_engine.history import audit_trail
from members.models import Member, Segment, Shop
from rewards.models.ledger import LedgerEntry, Purchase, where_set
from rewards.models.program import Window, codes_parse, window_ordered
from rewards.models.tiers import Tier


class EarnRule(Window):
    """A way to earn points beyond the base rate. See `rewards.services.rules` for how
    rules combine."""

    class Kind(models.TextChoices):
        CATEGORY_MULTIPLIER = "category", _("Category multiplier")
        SKU_MULTIPLIER = "sku", _("SKU multiplier")
        CAMPAIGN_MULTIPLIER = "campaign", _("Campaign multiplier")
        MIN_SPEND_BONUS = "min_spend", _("Bonus above a minimum spend")
        FIRST_PURCHASE_BONUS = "first_purchase", _("First-purchase bonus")
        SIGNUP_BONUS = "signup", _("Sign-up bonus")
        BIRTHDAY_BONUS = "birthday", _("Birthday bonus")

    MULTIPLIER_KINDS = {Kind.CATEGORY_MULTIPLIER, Kind.SKU_MULTIPLIER, Kind.CAMPAIGN_MULTIPLIER}
    PURCHASE_KINDS = MULTIPLIER_KINDS | {Kind.MIN_SPEND_BONUS, Kind.FIRST_PURCHASE_BONUS}

    name = models.CharField(verbose_name=_("name"), max_length=100, unique=True)
    description = models.CharField(
        verbose_name=_("description"),
        max_length=300,
        blank=True,
        help_text=_("Shown to members next to the generated rule text."),
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=16, choices=Kind)
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)
    priority = models.IntegerField(
        verbose_name=_("priority"),
        default=0,
        help_text=_(
            "When several rules of the same kind match, the highest priority applies "
            "(then the larger reward)."
        ),
    )
    multiplier = models.DecimalField(
        verbose_name=_("multiplier"),
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(1))],
        help_text=_("Multiplier kinds: 2 doubles the base points of what matches."),
    )
    bonus_points = models.PositiveIntegerField(
        verbose_name=_("bonus points"),
        null=True,
        blank=True,
        help_text=_("Bonus kinds: points awarded."),
    )
    min_amount = models.DecimalField(
        verbose_name=_("min amount"),
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Minimum-spend bonus: purchases of at least this amount qualify."),
    )
    targets = models.CharField(
        verbose_name=_("targets"),
        max_length=500,
        blank=True,
        help_text=_("Category or SKU multiplier: the categories or SKUs, comma-separated."),
    )
    shops = models.ManyToManyField(
        Shop,
        verbose_name=_("shops"),
        blank=True,
        related_name="+",
        help_text=_("Empty: purchases at every shop."),
    )
    tiers = models.ManyToManyField(
        Tier,
        verbose_name=_("tiers"),
        blank=True,
        related_name="+",
        help_text=_("Empty: members of every tier."),
    )
    segments = models.ManyToManyField(
        Segment,
        verbose_name=_("segments"),
        blank=True,
        related_name="+",
        help_text=_(
            "Empty: every member. Otherwise members in at least one of these segments "
            "when they earn."
        ),
    )
    cap_per_day = models.PositiveIntegerField(
        verbose_name=_("cap per day"),
        null=True,
        blank=True,
        help_text=_("Most points this rule gives a member in a day."),
    )
    cap_per_month = models.PositiveIntegerField(
        verbose_name=_("cap per month"),
        null=True,
        blank=True,
        help_text=_("Most points this rule gives a member in a month."),
    )
    cap_total = models.PositiveIntegerField(
        verbose_name=_("cap total"),
        null=True,
        blank=True,
        help_text=_("Most points this rule gives a member, ever."),
    )
    excluded_skus = models.CharField(
        verbose_name=_("excluded skus"),
        max_length=1000,
        blank=True,
        db_default="",
        help_text=_(
            "This rule leaves out lines with these SKUs, comma-separated (they still "
            "earn base points unless the program excludes them)."
        ),
    )
    excluded_categories = models.CharField(
        verbose_name=_("excluded categories"),
        max_length=1000,
        blank=True,
        db_default="",
        help_text=_("This rule leaves out lines in these categories, comma-separated."),
    )
    budget_points = models.PositiveBigIntegerField(
        verbose_name=_("budget points"),
        null=True,
        blank=True,
        help_text=_(
            "Most points this rule gives across all members; once spent, it gives "
            "none. Empty: no budget."
        ),
    )
    budget_used = models.BigIntegerField(
        verbose_name=_("budget used"),
        default=0,
        db_default=0,
        editable=False,
        help_text=_("Points this rule has given against its budget."),
    )

    history = audit_trail(m2m_fields=[shops, tiers, segments])

    class Meta:
        verbose_name = _("earn rule")
        verbose_name_plural = _("earn rules")
        ordering = ["kind", "-priority", "id"]
        constraints = [
            window_ordered("earn_rule_window_ordered"),
            models.CheckConstraint(
                condition=Q(multiplier__isnull=True) | Q(multiplier__gte=1),
                name="earn_rule_multiplier_at_least_one",
            ),
            # The budget is taken with one conditional UPDATE (rewards.services.budgets);
            # the database refuses anything past it all the same.
            models.CheckConstraint(
                condition=Q(budget_used__gte=0)
                & (Q(budget_points__isnull=True) | Q(budget_used__lte=F("budget_points"))),
                name="earn_rule_budget_not_overspent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def target_list(self) -> list[str]:
        return [t.strip() for t in self.targets.split(",") if t.strip()]

    @property
    def excluded_sku_list(self) -> list[str]:
        return codes_parse(self.excluded_skus)

    @property
    def excluded_category_list(self) -> list[str]:
        return codes_parse(self.excluded_categories)

    @property
    def budget_left(self) -> int | None:
        if self.budget_points is None:
            return None
        return max(self.budget_points - self.budget_used, 0)


class EarnAward(models.Model):
    """One itemized line of points: which rule gave how many points to which member, for
    which purchase and in which ledger entry. Caps, usage counts and the once-a-year
    birthday bonus are counted from these rows."""

    class Source(models.TextChoices):
        BASE = "base", _("Base rate")
        TIER = "tier", _("Tier multiplier")
        RULE = "rule", _("Earn rule")
        MILESTONE = "milestone", _("Milestone")
        ACTIVITY = "activity", _("Activity")
        REFERRAL = "referral", _("Referral")

    # Indexed by `award_rule_usage` (member, rule, local_date), which serves every lookup
    # by member; the rule, tier and milestone only where they are set (Meta.indexes): a
    # base award has none of them, and every index is written on every earn (issue 18).
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="earn_awards", db_index=False
    )
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="awards")
    purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="awards"
    )
    source = models.CharField(max_length=16, choices=Source)
    rule = models.ForeignKey(
        EarnRule,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="awards",
        db_index=False,
    )
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    milestone = models.ForeignKey(
        "Milestone",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    description = models.CharField(max_length=300)
    points = models.BigIntegerField()
    awarded_at = models.DateTimeField()
    local_date = models.DateField(help_text=_("The day of the award in the program's time zone."))

    class Meta:
        indexes = [
            models.Index(fields=["member", "rule", "local_date"], name="award_rule_usage"),
            *where_set("rule", "tier", "milestone", prefix="award"),
        ]

    def __str__(self) -> str:
        return f"{self.points} points: {self.description}"
