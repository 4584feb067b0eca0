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

    name = models.CharField(max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(
        unique=True,
        help_text=_("Order of the tiers: 1 is the entry tier, higher ranks are better."),
    )
    threshold = models.DecimalField(
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
        max_digits=6,
        decimal_places=3,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(1))],
        help_text=_("Purchase base points are multiplied by this: 1.5 adds half the base points."),
    )
    benefits = models.TextField(blank=True, help_text=_("One benefit per line, shown to members."))

    history = audit_trail()

    class Meta:
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
        Member, primary_key=True, on_delete=models.PROTECT, related_name="tier_state"
    )
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    floor = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Staff-pinned minimum tier."),
    )
    below_since = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier or 'no tier'}"


class TierChange(models.Model):
    """Every change of a member's tier, with why and when."""

    class Reason(models.TextChoices):
        QUALIFIED = "qualified", _("Qualified")
        DOWNGRADE = "downgrade", _("Fell below the threshold after the grace period")
        PINNED = "pinned", _("Pinned by staff")
        UNPINNED = "unpinned", _("Pin removed by staff")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="tier_changes")
    from_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=16, choices=Reason)
    detail = models.CharField(max_length=300)
    qualifying_value = models.DecimalField(max_digits=18, decimal_places=2)
    changed_at = models.DateTimeField()
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )

    class Meta:
        indexes = [models.Index(fields=["member", "-changed_at"], name="tier_change_member_newest")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier} → {self.to_tier}"
