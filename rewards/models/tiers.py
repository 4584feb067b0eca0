"""Tiers, each member's current tier, and every change of it with its reason."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty_engine.history import audit_trail
from members.models import Member


class Tier(models.Model):
    """A level of the program. Tiers are ordered by `rank`, and their thresholds rise with it.

    A member qualifies for the highest tier whose threshold their points earned (or money
    spent, by `Program.tier_basis`) within the tier window reaches.
    """

    name = models.CharField(verbose_name=_("name"), max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(
        verbose_name=_("rank"),
        unique=True,
        help_text=_("Order of the tiers: 1 is the entry tier, higher ranks are better."),
    )
    threshold = models.DecimalField(
        verbose_name=_("threshold"),
        max_digits=18,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_(
            "Points earned (whole points) or money spent within the tier window to "
            "qualify. 0 makes this the tier every member starts in."
        ),
    )
    earn_multiplier = models.DecimalField(
        verbose_name=_("earn multiplier"),
        max_digits=6,
        decimal_places=3,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(1))],
        help_text=_("Purchase base points are multiplied by this: 1.5 adds half the base points."),
    )
    benefits = models.TextField(
        verbose_name=_("benefits"),
        blank=True,
        help_text=_("One benefit per line, shown to members."),
    )

    history = audit_trail()

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gte=0), name="tier_threshold_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(earn_multiplier__gte=1), name="tier_multiplier_at_least_one"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def benefit_list(self) -> list[str]:
        return [line.strip() for line in self.benefits.splitlines() if line.strip()]


class MemberTier(models.Model):
    """A member's tier and the state of its nightly evaluation.

    `tier` moves up at once when a purchase qualifies the member for a higher tier; it moves
    down only in the nightly evaluation, one tier at a time, once the member has been below
    its threshold for the program's grace period (counted from `below_since`). `floor` is a
    tier staff pinned: the member never goes below it.
    """

    member = models.OneToOneField(
        Member,
        verbose_name=_("member"),
        primary_key=True,
        on_delete=models.PROTECT,
        related_name="tier_state",
    )
    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    floor = models.ForeignKey(
        Tier,
        verbose_name=_("floor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Staff-pinned minimum tier."),
    )
    below_since = models.DateTimeField(verbose_name=_("below since"), null=True, blank=True)
    evaluated_at = models.DateTimeField(verbose_name=_("evaluated at"), null=True, blank=True)
    changed_at = models.DateTimeField(verbose_name=_("changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("member tier")
        verbose_name_plural = _("member tiers")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier or 'no tier'}"


class TierChange(models.Model):
    """Every change of a member's tier, with why and when."""

    class Reason(models.TextChoices):
        QUALIFIED = "qualified", _("Qualified")
        DOWNGRADE = "downgrade", _("Fell below the threshold after the grace period")
        PINNED = "pinned", _("Pinned by staff")
        UNPINNED = "unpinned", _("Pin removed by staff")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier,
        verbose_name=_("from tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_tier = models.ForeignKey(
        Tier,
        verbose_name=_("to tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField(verbose_name=_("reason"), max_length=16, choices=Reason)
    detail = models.CharField(verbose_name=_("detail"), max_length=300)
    qualifying_value = models.DecimalField(
        verbose_name=_("qualifying value"), max_digits=18, decimal_places=2
    )
    changed_at = models.DateTimeField(verbose_name=_("changed at"))
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor user"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
    )

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        indexes = [models.Index(fields=["member", "-changed_at"], name="tier_change_member_newest")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier} → {self.to_tier}"
