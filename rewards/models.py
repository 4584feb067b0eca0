"""The points ledger and what moves points: purchases, refunds and redemptions.

Accounting, per member (checked by `manage.py verify_ledger`):
- sum(entry.points) == sum(lot.remaining) == member.points_available + member.points_pending
- sum(entry.held_change) == member.points_held == points of open holds
- sum(entry.owed_change) == member.points_owed
- for every lot: lot.remaining == lot.points + sum(its movements)
- for every entry: entry.points == points of the lot it created + sum(its movements)
Entries are append-only: database triggers refuse UPDATE and DELETE (migration 0002).
"""

import uuid
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from loyalty_engine.history import audit_trail
from members.models import Member, Shop


class TierBasis(models.TextChoices):
    POINTS = "points", "Points earned"
    SPEND = "spend", "Money spent"


class Program(models.Model):
    """The program's settings. One program per deployment: the row with id 1."""

    name = models.CharField(max_length=100, default="Loyalty program")
    currency = models.CharField(max_length=3, default="EUR", help_text="ISO 4217 code.")
    points_per_unit = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="Points per currency unit spent, rounded down to whole points per purchase.",
    )
    expiry_months = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=12,
        help_text="Points expire this many months after they were earned. Empty: never.",
    )
    expiry_at_month_end = models.BooleanField(
        default=True, help_text="Extend each expiry to the end of its month."
    )
    pending_days = models.PositiveSmallIntegerField(
        default=0, help_text="Days before purchase points become available (returns window)."
    )
    point_value = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Discount, in the program currency, that one redeemed point is worth.",
    )
    hold_ttl_minutes = models.PositiveIntegerField(
        default=15, help_text="An uncaptured hold releases its points after this many minutes."
    )
    timezone = models.CharField(
        max_length=64,
        default=settings.TIME_ZONE,
        help_text="The program's time zone: month ends, birthdays and nightly jobs follow it.",
    )
    tier_basis = models.CharField(
        max_length=8,
        choices=TierBasis,
        default=TierBasis.POINTS,
        help_text="What tiers qualify on: points earned on purchases, or money spent, "
        "net of refunds, within the tier window. Never the balance.",
    )
    tier_window_months = models.PositiveSmallIntegerField(
        default=12,
        validators=[MinValueValidator(1)],
        help_text="The rolling window, in months, that tier qualification counts.",
    )
    tier_grace_days = models.PositiveSmallIntegerField(
        default=30,
        help_text="Days a member keeps a tier after falling below its threshold, before the "
        "nightly evaluation moves them down one tier.",
    )
    activity_window_days = models.PositiveSmallIntegerField(
        default=365,
        validators=[MinValueValidator(1)],
        help_text="Metrics: a member is active if they made a purchase, not fully refunded, "
        "within this many days. Retention and churn are counted on it.",
    )

    history = audit_trail()

    class Meta:
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
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class IdempotentRecord(models.Model):
    """The request hash and the response of a write, stored with its effect in one
    transaction and under the effect's unique key, so a replay returns the stored response."""

    request_hash = models.CharField(max_length=64)
    response = models.JSONField()

    class Meta:
        abstract = True


class Purchase(IdempotentRecord):
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="purchases")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="purchases")
    order_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField()
    points_earned = models.BigIntegerField()
    refunded_amount = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal(0))
    points_reversed = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shop", "order_id"], name="purchase_order_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")),
                name="purchase_refunds_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(points_reversed__gte=0, points_reversed__lte=F("points_earned")),
                name="purchase_reversal_within_earned",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "occurred_at"]),
            # The KPIs' purchases of a period and cohort month (metrics/selectors.py).
            models.Index(fields=["occurred_at"], name="purchase_occurred_at"),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id}"


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=64, blank=True)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku or self.category}"


class Refund(IdempotentRecord):
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="refunds")
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    refund_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    points_reversed = models.BigIntegerField()
    points_owed = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shop", "refund_id"], name="refund_id_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"refund {self.refund_id}"


class Redemption(IdempotentRecord):
    class Status(models.TextChoices):
        HELD = "held", "Held"
        CAPTURED = "captured", "Captured"
        VOIDED = "voided", "Voided"
        EXPIRED = "expired", "Hold expired"
        CANCELLED = "cancelled", "Cancelled"

    # Random, so a redemption id in a URL cannot be guessed from another.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="redemptions")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="redemptions")
    idempotency_key = models.CharField(max_length=128)
    points = models.BigIntegerField()
    discount_amount = models.DecimalField(max_digits=18, decimal_places=4)
    currency = models.CharField(max_length=3)
    order_id = models.CharField(max_length=64, blank=True)
    reward = models.ForeignKey(
        "Reward", null=True, blank=True, on_delete=models.PROTECT, related_name="redemptions"
    )
    status = models.CharField(max_length=16, choices=Status)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "idempotency_key"], name="redemption_idempotency_key_unique"
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="redemption_points_positive"),
        ]
        indexes = [
            models.Index(
                fields=["hold_expires_at"], name="redemption_open_holds", condition=Q(status="held")
            ),
            # Planning the nightly release: the next members with a stale hold after an id,
            # read in member order and stopped at the chunk's size (rewards/services/nightly.py).
            models.Index(
                fields=["member", "hold_expires_at"],
                name="redemption_held_by_member",
                condition=Q(status="held"),
            ),
        ]

    def __str__(self) -> str:
        return f"redemption {self.pk}"


class LedgerEntry(models.Model):
    """One append-only movement of a member's points.

    `points` changes the points the member owns in lots (available + pending), `held_change`
    the points reserved by open holds, `owed_change` the points owed from refunds.
    """

    class Kind(models.TextChoices):
        EARN = "earn", "Earn"
        REDEEM = "redeem", "Redeem"
        HOLD = "hold", "Hold"
        CAPTURE = "capture", "Hold captured"
        RELEASE = "release", "Hold released"
        CANCEL = "cancel", "Redemption cancelled"
        REFUND = "refund", "Refund reversal"
        SETTLE = "settle", "Owed points settled"
        EXPIRE = "expire", "Expiry"
        ADJUST = "adjust", "Manual adjustment"
        BONUS = "bonus", "Bonus"

    class Actor(models.TextChoices):
        SHOP = "shop", "Shop"
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=Kind)
    points = models.BigIntegerField(default=0)
    held_change = models.BigIntegerField(default=0)
    owed_change = models.BigIntegerField(default=0)
    reason = models.CharField(max_length=500)
    reference = models.CharField(max_length=200, blank=True)
    purchase = models.ForeignKey(Purchase, null=True, blank=True, on_delete=models.PROTECT)
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT)
    redemption = models.ForeignKey(Redemption, null=True, blank=True, on_delete=models.PROTECT)
    actor_kind = models.CharField(max_length=8, choices=Actor)
    actor_shop = models.ForeignKey(Shop, null=True, blank=True, on_delete=models.PROTECT)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    effective_at = models.DateTimeField(help_text="When it happened in business terms.")
    created_at = models.DateTimeField(help_text="When it was written.")

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=~Q(points=0, held_change=0, owed_change=0), name="entry_moves_points"
            ),
        ]
        indexes = [models.Index(fields=["member", "-id"], name="entry_member_newest")]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d} ({self.member_id})"


class PointLot(models.Model):
    """Points earned together, with one expiry. Spent in order of (expires_at, earned_at, id)."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="lot")
    purchase = models.ForeignKey(Purchase, null=True, blank=True, on_delete=models.PROTECT)
    points = models.BigIntegerField()
    remaining = models.BigIntegerField()
    earned_at = models.DateTimeField()
    available_at = models.DateTimeField()
    is_pending = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="lot_points_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("points")),
                name="lot_remaining_within_points",
            ),
        ]
        indexes = [
            models.Index(
                fields=["member", "expires_at", "earned_at", "id"],
                name="lot_open_spend_order",
                condition=Q(remaining__gt=0),
            ),
            models.Index(
                fields=["expires_at"], name="lot_open_expiry", condition=Q(remaining__gt=0)
            ),
            # The nightly release looks for pending lots whose returns window has passed.
            models.Index(
                fields=["available_at"],
                name="lot_pending_release",
                condition=Q(is_pending=True, remaining__gt=0),
            ),
            # Planning the nightly release: the next members with pending points after an id,
            # read in member order and stopped at the chunk's size (rewards/services/nightly.py).
            models.Index(
                fields=["member", "available_at"],
                name="lot_pending_by_member",
                condition=Q(is_pending=True, remaining__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.points}"


class LotMovement(models.Model):
    """Points taken from (negative) or returned to (positive) a lot by a ledger entry."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="movements")
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="movements")
    points = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="movement_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} on lot {self.lot_id}"


# Program configuration: tiers, earn rules, milestones and the reward catalog. Staff edit
# these in the admin; `rewards.services.rules` turns them into points and plain words.


class Tier(models.Model):
    """A level of the program. Tiers are ordered by `rank`, and their thresholds rise with it.

    A member qualifies for the highest tier whose threshold their points earned (or money
    spent, by `Program.tier_basis`) within the tier window reaches.
    """

    name = models.CharField(max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(
        unique=True, help_text="Order of the tiers: 1 is the entry tier, higher ranks are better."
    )
    threshold = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Points earned (whole points) or money spent within the tier window to "
        "qualify. 0 makes this the tier every member starts in.",
    )
    earn_multiplier = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(1))],
        help_text="Purchase base points are multiplied by this: 1.5 adds half the base points.",
    )
    benefits = models.TextField(blank=True, help_text="One benefit per line, shown to members.")

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
        help_text="Staff-pinned minimum tier.",
    )
    below_since = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier or 'no tier'}"


class TierChange(models.Model):
    """Every change of a member's tier, with why and when."""

    class Reason(models.TextChoices):
        QUALIFIED = "qualified", "Qualified"
        DOWNGRADE = "downgrade", "Fell below the threshold after the grace period"
        PINNED = "pinned", "Pinned by staff"
        UNPINNED = "unpinned", "Pin removed by staff"

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


class Window(models.Model):
    """An optional [starts_at, ends_at) window: start inclusive, end exclusive."""

    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: from the start.")
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: open-ended. The end itself is outside."
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


class EarnRule(Window):
    """A way to earn points beyond the base rate. See `rewards.services.rules` for how
    rules combine."""

    class Kind(models.TextChoices):
        CATEGORY_MULTIPLIER = "category", "Category multiplier"
        SKU_MULTIPLIER = "sku", "SKU multiplier"
        CAMPAIGN_MULTIPLIER = "campaign", "Campaign multiplier"
        MIN_SPEND_BONUS = "min_spend", "Bonus above a minimum spend"
        FIRST_PURCHASE_BONUS = "first_purchase", "First-purchase bonus"
        SIGNUP_BONUS = "signup", "Sign-up bonus"
        BIRTHDAY_BONUS = "birthday", "Birthday bonus"

    MULTIPLIER_KINDS = {Kind.CATEGORY_MULTIPLIER, Kind.SKU_MULTIPLIER, Kind.CAMPAIGN_MULTIPLIER}
    PURCHASE_KINDS = MULTIPLIER_KINDS | {Kind.MIN_SPEND_BONUS, Kind.FIRST_PURCHASE_BONUS}

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(
        max_length=300, blank=True, help_text="Shown to members next to the generated rule text."
    )
    kind = models.CharField(max_length=16, choices=Kind)
    is_active = models.BooleanField(default=True)
    priority = models.IntegerField(
        default=0,
        help_text="When several rules of the same kind match, the highest priority applies "
        "(then the larger reward).",
    )
    multiplier = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(1))],
        help_text="Multiplier kinds: 2 doubles the base points of what matches.",
    )
    bonus_points = models.PositiveIntegerField(
        null=True, blank=True, help_text="Bonus kinds: points awarded."
    )
    min_amount = models.DecimalField(
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Minimum-spend bonus: purchases of at least this amount qualify.",
    )
    targets = models.CharField(
        max_length=500,
        blank=True,
        help_text="Category or SKU multiplier: the categories or SKUs, comma-separated.",
    )
    shops = models.ManyToManyField(
        Shop, blank=True, related_name="+", help_text="Empty: purchases at every shop."
    )
    tiers = models.ManyToManyField(
        Tier, blank=True, related_name="+", help_text="Empty: members of every tier."
    )
    cap_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most points this rule gives a member in a day."
    )
    cap_per_month = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most points this rule gives a member in a month."
    )
    cap_total = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most points this rule gives a member, ever."
    )

    history = audit_trail(m2m_fields=[shops, tiers])

    class Meta:
        ordering = ["kind", "-priority", "id"]
        constraints = [
            window_ordered("earn_rule_window_ordered"),
            models.CheckConstraint(
                condition=Q(multiplier__isnull=True) | Q(multiplier__gte=1),
                name="earn_rule_multiplier_at_least_one",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def target_list(self) -> list[str]:
        return [t.strip() for t in self.targets.split(",") if t.strip()]


class EarnAward(models.Model):
    """One itemized line of points: which rule gave how many points to which member, for
    which purchase and in which ledger entry. Caps, usage counts and the once-a-year
    birthday bonus are counted from these rows."""

    class Source(models.TextChoices):
        BASE = "base", "Base rate"
        TIER = "tier", "Tier multiplier"
        RULE = "rule", "Earn rule"
        MILESTONE = "milestone", "Milestone"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="earn_awards")
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="awards")
    purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="awards"
    )
    source = models.CharField(max_length=16, choices=Source)
    rule = models.ForeignKey(
        EarnRule, null=True, blank=True, on_delete=models.PROTECT, related_name="awards"
    )
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    milestone = models.ForeignKey(
        "Milestone", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    description = models.CharField(max_length=300)
    points = models.BigIntegerField()
    awarded_at = models.DateTimeField()
    local_date = models.DateField(help_text="The day of the award in the program's time zone.")

    class Meta:
        indexes = [
            models.Index(fields=["member", "rule", "local_date"], name="award_rule_usage"),
        ]

    def __str__(self) -> str:
        return f"{self.points} points: {self.description}"


class Reward(Window):
    """An item of the catalog that members redeem points for, as a voucher."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    image_url = models.URLField(blank=True)
    points_cost = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)
    stock = models.PositiveIntegerField(
        null=True, blank=True, help_text="Vouchers left to issue. Empty: unlimited."
    )
    per_member_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Most vouchers of this reward one member may hold (cancelled ones don't count).",
    )
    tiers = models.ManyToManyField(
        Tier, blank=True, related_name="+", help_text="Empty: members of every tier."
    )
    voucher_valid_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Days a voucher can be used after it is issued. Empty: no limit.",
    )

    history = audit_trail(m2m_fields=[tiers])

    class Meta:
        ordering = ["points_cost", "name"]
        constraints = [
            window_ordered("reward_window_ordered"),
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_cost_positive"),
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0), name="reward_stock_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Voucher(models.Model):
    """Proof of a reward, used once at a till. Issued by a redemption or a milestone."""

    class Status(models.TextChoices):
        ISSUED = "issued", "Issued"
        USED = "used", "Used"
        CANCELLED = "cancelled", "Cancelled"

    code = models.CharField(max_length=32, unique=True)
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="vouchers")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="vouchers")
    redemption = models.OneToOneField(
        Redemption, null=True, blank=True, on_delete=models.PROTECT, related_name="voucher"
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.ISSUED)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        Shop, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "-issued_at"], name="voucher_member_newest")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="used") | Q(used_at__isnull=False, used_by__isnull=False),
                name="voucher_used_has_when_and_where",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Milestone(Window):
    """A goal that awards bonus points and/or a catalog reward once, or once per period."""

    class Kind(models.TextChoices):
        PURCHASE_COUNT = "purchases", "Number of purchases"
        LIFETIME_POINTS = "lifetime_points", "Lifetime points earned"
        SPEND = "spend", "Money spent"

    class Period(models.TextChoices):
        EVER = "ever", "Once"
        YEAR = "year", "Once per calendar year"
        MONTH = "month", "Once per calendar month"

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=16, choices=Kind)
    target = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Purchases (whole number), lifetime points (whole number) or money spent.",
    )
    period = models.CharField(
        max_length=8,
        choices=Period,
        default=Period.EVER,
        help_text="Purchases and spend count within the period; lifetime points only once.",
    )
    bonus_points = models.PositiveIntegerField(null=True, blank=True)
    reward = models.ForeignKey(
        Reward,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="milestones",
        help_text="A voucher for this reward is issued, free, when the milestone is reached.",
    )
    is_active = models.BooleanField(default=True)

    history = audit_trail()

    class Meta:
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
        max_length=8, help_text="'ever', a year '2026' or a month '2026-03'."
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


class JobRun(models.Model):
    """One run of a nightly job (rewards/jobs.py) for one as-of time: its progress while it
    runs and its totals once every chunk is done. Written only by rewards.services.nightly."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Via(models.TextChoices):
        CELERY = "celery", "Celery workers"
        COMMAND = "command", "manage.py run_nightly"

    job = models.CharField(max_length=32)
    as_of = models.DateTimeField(help_text="The moment the job brought the members up to.")
    via = models.CharField(max_length=8, choices=Via)
    status = models.CharField(max_length=16, choices=Status, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    chunk_size = models.PositiveIntegerField()
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    items_processed = models.BigIntegerField(
        default=0, help_text="Members (or other items) the job changed."
    )
    totals = models.JSONField(default=dict, blank=True, help_text="The job's own counts.")
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["job", "-started_at"], name="jobrun_job_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(chunks_done__lte=F("chunks_total")), name="jobrun_chunks_within_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} as of {self.as_of:%Y-%m-%d %H:%M}"


class StaffAdjustmentLimit(models.Model):
    """The most points one staff user may adjust by hand: per adjustment and per day (in the
    program's time zone), added and removed points alike. A staff user without a row, or a
    field left empty, has no such limit (`rewards.services.adjustments.points_adjust`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="adjustment_limit"
    )
    max_points_per_adjustment = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Most points one adjustment may add or remove. Empty: no limit.",
    )
    max_points_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Most points this user may add and remove in total in a day. Empty: no limit.",
    )
    history = audit_trail()

    class Meta:
        verbose_name = "staff adjustment limit"
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


class CsvImport(models.Model):
    """One import of a CSV file of members or historical purchases, with its progress and
    its report. Written only by rewards.services.imports."""

    class Kind(models.TextChoices):
        MEMBERS = "members", "Members"
        PURCHASES = "purchases", "Historical purchases"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to run"
        VALIDATING = "validating", "Checking every row"
        APPLYING = "applying", "Importing"
        SUCCEEDED = "succeeded", "Imported"
        REJECTED = "rejected", "Rejected: rows in error, nothing imported"
        FAILED = "failed", "Stopped by an error"

    FINISHED = (Status.SUCCEEDED, Status.REJECTED, Status.FAILED)

    kind = models.CharField(max_length=16, choices=Kind)
    file_name = models.CharField(max_length=255)
    # The uploaded file, kept for the worker that runs the import (None for a file that
    # `manage.py import_csv` read from disk).
    content = models.BinaryField(null=True, editable=False)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0, help_text="Data rows in the file.")
    rows_checked = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0, help_text="Rows imported or skipped.")
    created_count = models.PositiveIntegerField(default=0, help_text="Members or purchases added.")
    unchanged_count = models.PositiveIntegerField(
        default=0, help_text="Rows already imported before: left as they are."
    )
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text="The first rows in error: line, field, message."
    )
    failure = models.TextField(blank=True)

    class Meta:
        verbose_name = "CSV import"
        indexes = [models.Index(fields=["-created_at"], name="csv_import_newest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.file_name}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent_done(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        # Checking is the first half of the work, importing the second.
        return int(50 * (self.rows_checked + self.rows_done) / self.rows_total)
