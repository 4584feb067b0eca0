"""The program's settings, the [start, end) window that rules, rewards and milestones share,
and the limits on staff adjustments."""

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from loyalty_engine.history import audit_trail


class TierBasis(models.TextChoices):
    POINTS = "points", _("Points earned")
    SPEND = "spend", _("Money spent")


class ExpiryPolicy(models.TextChoices):
    ROLLING = "rolling", _("Rolling: N months after earning")
    FIXED = "fixed", _("Fixed date: points earned in a period expire together")
    INACTIVITY = "inactivity", _("Inactivity: all points expire after N months without activity")
    NEVER = "never", _("Never")


def codes_parse(text: str) -> list[str]:
    """A comma-separated list of SKUs or categories, as staff type it."""
    return [code.strip() for code in text.split(",") if code.strip()]


class Program(models.Model):
    """The program's settings. One program per deployment: the row with id 1."""

    name = models.CharField(verbose_name=_("name"), max_length=100, default="Loyalty program")
    currency = models.CharField(
        verbose_name=_("currency"), max_length=3, default="EUR", help_text=_("ISO 4217 code.")
    )
    default_language = models.CharField(
        verbose_name=_("default language"),
        max_length=8,
        choices=settings.LANGUAGES,
        default="en",
        db_default="en",
        help_text=_(
            "What members read when neither the request nor the member names a "
            "language; names missing in a language fall back to it."
        ),
    )
    points_per_unit = models.DecimalField(
        verbose_name=_("points per unit"),
        max_digits=10,
        decimal_places=4,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text=_("Points per currency unit spent, rounded down to whole points per purchase."),
    )
    excluded_skus = models.CharField(
        verbose_name=_("excluded skus"),
        max_length=1000,
        blank=True,
        db_default="",
        help_text=_(
            "Lines with these SKUs, comma-separated, earn no points and count for no "
            "minimum spend or tier (for example gift cards, deposits)."
        ),
    )
    excluded_categories = models.CharField(
        verbose_name=_("excluded categories"),
        max_length=1000,
        blank=True,
        db_default="",
        help_text=_(
            "Lines in these categories, comma-separated, earn no points and count for "
            "no minimum spend or tier (for example tobacco, shipping)."
        ),
    )
    points_paid_earns = models.BooleanField(
        verbose_name=_("points paid earns"),
        default=False,
        db_default=False,
        help_text=_(
            "The part of a purchase paid with points earns points too. Off: it earns "
            "none and counts for no minimum spend or tier."
        ),
    )
    expiry_policy = models.CharField(
        verbose_name=_("expiry policy"),
        max_length=10,
        choices=ExpiryPolicy,
        default=ExpiryPolicy.ROLLING,
        db_default=ExpiryPolicy.ROLLING,
        help_text=_(
            "How points expire. A change applies to points earned from then on; "
            "points already earned keep the expiry they were given."
        ),
    )
    expiry_months = models.PositiveSmallIntegerField(
        verbose_name=_("expiry months"),
        null=True,
        blank=True,
        default=12,
        help_text=_(
            "Rolling: points expire this many months after they were earned. Empty: never."
        ),
    )
    expiry_at_month_end = models.BooleanField(
        verbose_name=_("expiry at month end"),
        default=True,
        help_text=_("Rolling: extend each expiry to the end of its month."),
    )
    expiry_period_months = models.PositiveSmallIntegerField(
        verbose_name=_("expiry period months"),
        default=12,
        db_default=12,
        choices=[(1, "a calendar month"), (3, "a quarter"), (6, "a half-year"), (12, "a year")],
        help_text=_("Fixed date: points earned in the same calendar period expire together."),
    )
    expiry_after_period_months = models.PositiveSmallIntegerField(
        verbose_name=_("expiry after period months"),
        default=3,
        db_default=3,
        help_text=_(
            "Fixed date: months after the period's end when its points expire "
            "(12-month periods and 3: points of a year expire at the end of 31 March of the next)."
        ),
    )
    expiry_inactivity_months = models.PositiveSmallIntegerField(
        verbose_name=_("expiry inactivity months"),
        default=12,
        db_default=12,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Inactivity: all of a member's points expire after this many months without a purchase."
        ),
    )
    expiry_inactivity_counts_redemptions = models.BooleanField(
        verbose_name=_("expiry inactivity counts redemptions"),
        default=False,
        db_default=False,
        help_text=_("Inactivity: a redemption counts as activity too, not only a purchase."),
    )
    pending_days = models.PositiveSmallIntegerField(
        verbose_name=_("pending days"),
        default=0,
        help_text=_("Days before purchase points become available (returns window)."),
    )
    point_value = models.DecimalField(
        verbose_name=_("point value"),
        max_digits=12,
        decimal_places=4,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Discount, in the program currency, that one redeemed point is worth."),
    )
    hold_ttl_minutes = models.PositiveIntegerField(
        verbose_name=_("hold ttl minutes"),
        default=15,
        help_text=_("An uncaptured hold releases its points after this many minutes."),
    )
    max_points_share = models.DecimalField(
        verbose_name=_("max points share"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(100))],
        help_text=_(
            "Most of an order, in percent, that points may pay when the redemption "
            "names its order_total. Empty: up to the whole order."
        ),
    )
    min_points_per_redemption = models.PositiveIntegerField(
        verbose_name=_("min points per redemption"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Fewest points one redemption may spend. Empty: any number."),
    )
    redemption_step_points = models.PositiveIntegerField(
        verbose_name=_("redemption step points"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Points are redeemed in steps of this many (100: 100, 200, …). Empty: any."),
    )
    timezone = models.CharField(
        verbose_name=_("timezone"),
        max_length=64,
        default=settings.TIME_ZONE,
        help_text=_("The program's time zone: month ends, birthdays and nightly jobs follow it."),
    )
    tier_basis = models.CharField(
        verbose_name=_("tier basis"),
        max_length=8,
        choices=TierBasis,
        default=TierBasis.POINTS,
        help_text=_(
            "What tiers qualify on: points earned on purchases, or money spent, "
            "net of refunds, within the tier window. Never the balance."
        ),
    )
    tier_window_months = models.PositiveSmallIntegerField(
        verbose_name=_("tier window months"),
        default=12,
        validators=[MinValueValidator(1)],
        help_text=_("The rolling window, in months, that tier qualification counts."),
    )
    tier_grace_days = models.PositiveSmallIntegerField(
        verbose_name=_("tier grace days"),
        default=30,
        help_text=_(
            "Days a member keeps a tier after falling below its threshold, before the "
            "nightly evaluation moves them down one tier."
        ),
    )
    activity_window_days = models.PositiveSmallIntegerField(
        verbose_name=_("activity window days"),
        default=365,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Metrics: a member is active if they made a purchase, not fully refunded, "
            "within this many days. Retention and churn are counted on it."
        ),
    )
    referral_share_url = models.CharField(
        verbose_name=_("referral share url"),
        max_length=300,
        blank=True,
        default="",
        help_text=_(
            "The link members share, with {code} where their referral code goes, such as "
            "https://shop.example/join?ref={code}. Empty: members get the code only."
        ),
    )
    referral_referrer_points = models.PositiveIntegerField(
        verbose_name=_("referral referrer points"),
        default=0,
        help_text=_(
            "Bonus for the member who referred, once the friend's first purchase is "
            "available (past the returns window) and not fully refunded. 0: none."
        ),
    )
    referral_referred_points = models.PositiveIntegerField(
        verbose_name=_("referral referred points"),
        default=0,
        help_text=_("Bonus for the referred friend, at the same moment. 0: none."),
    )
    referral_cap_per_year = models.PositiveIntegerField(
        verbose_name=_("referral cap per year"),
        null=True,
        blank=True,
        help_text=_(
            "Most referrals a member is rewarded for per calendar year; beyond it, neither "
            "member gets a bonus. Empty: no cap."
        ),
    )
    # Messages to members (rewards.services.messages), each type on or off.
    message_welcome = models.BooleanField(
        verbose_name=_("message welcome"),
        default=True,
        db_default=True,
        help_text=_("Email a welcome message when a member enrolls."),
    )
    message_tier_changed = models.BooleanField(
        verbose_name=_("message tier changed"),
        default=True,
        db_default=True,
        help_text=_("Email members when their tier goes up or down."),
    )
    message_voucher_issued = models.BooleanField(
        verbose_name=_("message voucher issued"),
        default=True,
        db_default=True,
        help_text=_("Email members the code of each voucher they get."),
    )
    message_points_expiring = models.BooleanField(
        verbose_name=_("message points expiring"),
        default=True,
        db_default=True,
        help_text=_("Email members before their points expire."),
    )
    expiring_notice_days = models.PositiveSmallIntegerField(
        verbose_name=_("expiring notice days"),
        default=30,
        db_default=30,
        validators=[MinValueValidator(1)],
        help_text=_(
            "The points.expiring event and email go out this many days before points "
            "expire, once per member and expiry date."
        ),
    )
    spend_url = models.URLField(
        verbose_name=_("spend url"),
        blank=True,
        db_default="",
        help_text=_("Where members spend their points: linked from the emails."),
    )

    history = audit_trail()

    class Meta:
        verbose_name = _("program")
        verbose_name_plural = _("programs")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="program_is_singleton"),
            models.CheckConstraint(
                condition=Q(points_per_unit__gt=0), name="program_rate_positive"
            ),
            models.CheckConstraint(
                condition=Q(point_value__gte=0), name="program_value_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(tier_window_months__gte=1), name="program_tier_window_positive"
            ),
            models.CheckConstraint(
                condition=Q(activity_window_days__gte=1), name="program_activity_window_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_points_share__isnull=True)
                | Q(max_points_share__gt=0, max_points_share__lte=100),
                name="program_points_share_in_range",
            ),
            models.CheckConstraint(
                condition=Q(expiry_inactivity_months__gte=1),
                name="program_inactivity_months_positive",
            ),
            models.CheckConstraint(
                condition=Q(expiry_period_months__in=[1, 3, 6, 12]),
                name="program_expiry_period_divides_a_year",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def excluded_sku_list(self) -> list[str]:
        return codes_parse(self.excluded_skus)

    @property
    def excluded_category_list(self) -> list[str]:
        return codes_parse(self.excluded_categories)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Window(models.Model):
    """An optional [starts_at, ends_at) window: start inclusive, end exclusive."""

    starts_at = models.DateTimeField(
        verbose_name=_("starts at"), null=True, blank=True, help_text=_("Empty: from the start.")
    )
    ends_at = models.DateTimeField(
        verbose_name=_("ends at"),
        null=True,
        blank=True,
        help_text=_("Empty: open-ended. The end itself is outside."),
    )

    class Meta:
        abstract = True

    def is_open_at(self, moment) -> bool:
        return (self.starts_at is None or self.starts_at <= moment) and (
            self.ends_at is None or moment < self.ends_at
        )


def window_ordered(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(starts_at__isnull=True)
        | Q(ends_at__isnull=True)
        | Q(ends_at__gt=F("starts_at")),
        name=name,
    )


class StaffAdjustmentLimit(models.Model):
    """The most points one staff user may adjust by hand: per adjustment and per day (in the
    program's time zone), added and removed points alike. A staff user without a row, or a
    field left empty, has no such limit (`rewards.services.adjustments.points_adjust`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="adjustment_limit",
    )
    max_points_per_adjustment = models.PositiveIntegerField(
        verbose_name=_("max points per adjustment"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Most points one adjustment may add or remove. Empty: no limit."),
    )
    max_points_per_day = models.PositiveIntegerField(
        verbose_name=_("max points per day"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Most points this user may add and remove in total in a day. Empty: no limit."),
    )
    history = audit_trail()

    class Meta:
        verbose_name_plural = _("staff adjustment limits")
        verbose_name = _("staff adjustment limit")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_points_per_adjustment__isnull=True)
                | Q(max_points_per_adjustment__gte=1),
                name="adjustment_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_points_per_day__isnull=True) | Q(max_points_per_day__gte=1),
                name="adjustment_day_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"adjustment limit of {self.user}"
