"""Milestones and the awards they gave, once per member and period."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty_engine.history import audit_trail
from members.models import Member, Segment
from rewards.models.catalog import Reward, Voucher
from rewards.models.ledger import LedgerEntry
from rewards.models.program import Window, window_ordered


class Milestone(Window):
    """A goal that awards bonus points and/or a catalog reward once, or once per period."""

    class Kind(models.TextChoices):
        PURCHASE_COUNT = "purchases", _("Number of purchases")
        LIFETIME_POINTS = "lifetime_points", _("Lifetime points earned")
        SPEND = "spend", _("Money spent")

    class Period(models.TextChoices):
        EVER = "ever", _("Once")
        YEAR = "year", _("Once per calendar year")
        MONTH = "month", _("Once per calendar month")

    name = models.CharField(verbose_name=_("name"), max_length=100, unique=True)
    description = models.CharField(verbose_name=_("description"), max_length=300, blank=True)
    kind = models.CharField(verbose_name=_("kind"), max_length=16, choices=Kind)
    target = models.DecimalField(
        verbose_name=_("target"),
        max_digits=18,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Purchases (whole number), lifetime points (whole number) or money spent."),
    )
    period = models.CharField(
        verbose_name=_("period"),
        max_length=8,
        choices=Period,
        default=Period.EVER,
        help_text=_("Purchases and spend count within the period; lifetime points only once."),
    )
    bonus_points = models.PositiveIntegerField(
        verbose_name=_("bonus points"), null=True, blank=True
    )
    segments = models.ManyToManyField(
        Segment,
        verbose_name=_("segments"),
        blank=True,
        related_name="+",
        help_text=_(
            "Empty: every member. Otherwise members in at least one of these segments "
            "when they reach it."
        ),
    )
    reward = models.ForeignKey(
        Reward,
        verbose_name=_("reward"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="milestones",
        help_text=_("A voucher for this reward is issued, free, when the milestone is reached."),
    )
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)

    history = audit_trail(m2m_fields=[segments])

    class Meta:
        verbose_name = _("milestone")
        verbose_name_plural = _("milestones")
        ordering = ["kind", "target"]
        constraints = [
            window_ordered("milestone_window_ordered"),
            models.CheckConstraint(condition=Q(target__gt=0), name="milestone_target_positive"),
            models.CheckConstraint(
                condition=Q(bonus_points__gt=0) | Q(reward__isnull=False),
                name="milestone_awards_something",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MilestoneAward(models.Model):
    """A milestone reached by a member, once per period: the unique key makes a second
    award impossible even if two purchases race."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="milestone_awards")
    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="awards")
    period_key = models.CharField(
        max_length=8, help_text=_("'ever', a year '2026' or a month '2026-03'.")
    )
    awarded_at = models.DateTimeField()
    entry = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    voucher = models.OneToOneField(
        Voucher, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "milestone", "period_key"], name="milestone_award_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.milestone} ({self.period_key}) for {self.member_id}"
