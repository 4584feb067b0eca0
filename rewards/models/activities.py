"""Activities that earn points (a product review, a survey answered, a newsletter sign-up)
and referrals of new members by members."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty_engine.history import audit_trail
from members.models import Member, Shop
from rewards.models.ledger import IdempotentRecord, LedgerEntry, Purchase


class ActivityType(models.Model):
    """A kind of activity that earns points, defined by staff. Caps count the activities
    that earned points, per member: per day and per month of the program's time zone, and
    in total."""

    class Feedback(models.TextChoices):
        NONE = "", _("No")
        NPS = "nps", _("NPS answers")
        CSAT = "csat", _("CSAT answers")
        ANY = "any", _("Any survey answer")

    key = models.SlugField(
        max_length=50,
        unique=True,
        help_text=_("What shops send as `type`, such as product_review or newsletter_signup."),
    )
    name = models.CharField(max_length=100)
    points = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)
    cap_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Most activities of this type that earn, per member and day."),
    )
    cap_per_month = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Most activities of this type that earn, per member and month."),
    )
    cap_total = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Most activities of this type that earn, per member, ever."),
    )
    earns_on_feedback = models.CharField(
        max_length=8,
        choices=Feedback,
        default=Feedback.NONE,
        blank=True,
        help_text=_(
            "A survey answer posted to /api/v1/feedback counts as this activity (within its "
            "caps: set a cap per month of 1 for once a month)."
        ),
    )
    history = audit_trail()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class Activity(IdempotentRecord):
    """One activity a shop reported, once per (shop, activity_id), with the points it
    earned: 0 with `capped_by` when a cap was reached."""

    class Cap(models.TextChoices):
        NONE = "", _("Not capped")
        DAY = "day", _("Cap per day reached")
        MONTH = "month", _("Cap per month reached")
        TOTAL = "total", _("Cap in total reached")
        INACTIVE = "inactive", _("Activity type switched off")

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="activities")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="activities")
    activity_type = models.ForeignKey(
        ActivityType, on_delete=models.PROTECT, related_name="activities"
    )
    activity_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    local_date = models.DateField(
        help_text=_("The day of the activity in the program's time zone.")
    )
    created_at = models.DateTimeField()
    points = models.BigIntegerField(default=0)
    capped_by = models.CharField(max_length=8, choices=Cap, default=Cap.NONE, blank=True)
    entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="activity"
    )

    class Meta:
        verbose_name_plural = _("activities")
        constraints = [
            models.UniqueConstraint(fields=["shop", "activity_id"], name="activity_id_unique"),
            models.CheckConstraint(condition=Q(points__gte=0), name="activity_points_not_negative"),
        ]
        indexes = [
            models.Index(
                fields=["member", "activity_type", "local_date"], name="activity_cap_usage"
            )
        ]

    def __str__(self) -> str:
        return f"{self.activity_type_id} {self.activity_id}"


class Referral(models.Model):
    """A member enrolled with another member's referral code. Both get their bonus once the
    referred member's first purchase is available (past the returns window) and not fully
    refunded: written once, under the referred member's lock (`rewards.services.referrals`)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the first purchase")
        REWARDED = "rewarded", _("Bonuses given")
        CAPPED = "capped", _("Referrer's yearly cap reached: no bonus")
        VOID = "void", _("First purchase refunded: no bonus")

    referrer = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="referrals_made")
    referred = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="referral")
    created_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    referrer_points = models.BigIntegerField(default=0)
    referred_points = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(referrer=models.F("referred")), name="referral_not_self"
            ),
        ]
        indexes = [
            models.Index(fields=["referrer", "resolved_at"], name="referral_referrer_year"),
            models.Index(fields=["status"], name="referral_pending", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"referral of {self.referred_id} by {self.referrer_id}"
