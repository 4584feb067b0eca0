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
        verbose_name=_("key"),
        max_length=50,
        unique=True,
        help_text=_("What shops send as `type`, such as product_review or newsletter_signup."),
    )
    name = models.CharField(verbose_name=_("name"), max_length=100)
    points = models.PositiveIntegerField(
        verbose_name=_("points"), validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)
    cap_per_day = models.PositiveIntegerField(
        verbose_name=_("cap per day"),
        null=True,
        blank=True,
        help_text=_("Most activities of this type that earn, per member and day."),
    )
    cap_per_month = models.PositiveIntegerField(
        verbose_name=_("cap per month"),
        null=True,
        blank=True,
        help_text=_("Most activities of this type that earn, per member and month."),
    )
    cap_total = models.PositiveIntegerField(
        verbose_name=_("cap total"),
        null=True,
        blank=True,
        help_text=_("Most activities of this type that earn, per member, ever."),
    )
    earns_on_feedback = models.CharField(
        verbose_name=_("earns on feedback"),
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
        verbose_name = _("activity type")
        verbose_name_plural = _("activity types")
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

    shop = models.ForeignKey(
        Shop, verbose_name=_("shop"), on_delete=models.PROTECT, related_name="activities"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="activities"
    )
    activity_type = models.ForeignKey(
        ActivityType,
        verbose_name=_("activity type"),
        on_delete=models.PROTECT,
        related_name="activities",
    )
    activity_id = models.CharField(verbose_name=_("activity id"), max_length=64)
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    local_date = models.DateField(
        verbose_name=_("local date"),
        help_text=_("The day of the activity in the program's time zone."),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"))
    points = models.BigIntegerField(verbose_name=_("points"), default=0)
    capped_by = models.CharField(
        verbose_name=_("capped by"), max_length=8, choices=Cap, default=Cap.NONE, blank=True
    )
    entry = models.OneToOneField(
        LedgerEntry,
        verbose_name=_("entry"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activity",
    )

    class Meta:
        verbose_name = _("activity")
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
        SELF_REFERRAL = (
            "self_referral",
            _("Referrer merged into the member they referred: one person, no bonus"),
        )
        MERGED = "merged", _("Referred member merged into an existing member: no bonus")

    referrer = models.ForeignKey(
        Member, verbose_name=_("referrer"), on_delete=models.PROTECT, related_name="referrals_made"
    )
    referred = models.OneToOneField(
        Member, verbose_name=_("referred"), on_delete=models.PROTECT, related_name="referral"
    )
    created_at = models.DateTimeField(verbose_name=_("created at"))
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status, default=Status.PENDING
    )
    purchase = models.ForeignKey(
        Purchase,
        verbose_name=_("purchase"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    resolved_at = models.DateTimeField(verbose_name=_("resolved at"), null=True, blank=True)
    referrer_points = models.BigIntegerField(verbose_name=_("referrer points"), default=0)
    referred_points = models.BigIntegerField(verbose_name=_("referred points"), default=0)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
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
