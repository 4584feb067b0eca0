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
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from members.models import Member, Shop


def where_set(*fields: str, prefix: str) -> list[models.Index]:
    """An index on each of these nullable foreign keys, holding only the rows where it is
    set (`<prefix>_<field>`): the lookups and PostgreSQL's foreign key checks use it, and
    a row without the key writes nothing to it."""
    return [
        models.Index(
            fields=[field], condition=Q(**{f"{field}__isnull": False}), name=f"{prefix}_{field}"
        )
        for field in fields
    ]


class IdempotentRecord(models.Model):
    """The request hash and the response of a write, stored with its effect in one
    transaction and under the effect's unique key, so a replay returns the stored response."""

    request_hash = models.CharField(verbose_name=_("request hash"), max_length=64)
    response = models.JSONField(verbose_name=_("response"))

    class Meta:
        abstract = True


class Purchase(IdempotentRecord):
    # Every index is written on every earn (issue 18). The shop's and the member's own
    # indexes would repeat the first column of `purchase_order_unique` and of the
    # (member, occurred_at) index, which serve the same lookups.
    shop = models.ForeignKey(
        Shop,
        verbose_name=_("shop"),
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,
    )
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,
    )
    order_id = models.CharField(verbose_name=_("order id"), max_length=64)
    amount = models.DecimalField(verbose_name=_("amount"), max_digits=18, decimal_places=4)
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    points_earned = models.BigIntegerField(verbose_name=_("points earned"))
    refunded_amount = models.DecimalField(
        verbose_name=_("refunded amount"), max_digits=18, decimal_places=4, default=Decimal(0)
    )
    points_reversed = models.BigIntegerField(verbose_name=_("points reversed"), default=0)
    # What of `amount` earns nothing: excluded lines, and the part paid with points unless
    # the program lets it earn. It counts for no tier either (rewards.services.exclusions).
    not_earning_amount = models.DecimalField(
        verbose_name=_("not earning amount"),
        max_digits=18,
        decimal_places=4,
        default=Decimal(0),
        db_default=Decimal(0),
    )
    points_paid_amount = models.DecimalField(
        verbose_name=_("points paid amount"),
        max_digits=18,
        decimal_places=4,
        default=Decimal(0),
        db_default=Decimal(0),
    )

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [
            models.UniqueConstraint(fields=["shop", "order_id"], name="purchase_order_unique"),
            models.CheckConstraint(
                condition=Q(not_earning_amount__gte=0, not_earning_amount__lte=F("amount")),
                name="purchase_not_earning_within_amount",
            ),
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
    shop = models.ForeignKey(
        Shop, verbose_name=_("shop"), on_delete=models.PROTECT, related_name="refunds"
    )
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="refunds"
    )
    refund_id = models.CharField(verbose_name=_("refund id"), max_length=64)
    amount = models.DecimalField(verbose_name=_("amount"), max_digits=18, decimal_places=4)
    points_reversed = models.BigIntegerField(verbose_name=_("points reversed"))
    points_owed = models.BigIntegerField(verbose_name=_("points owed"), default=0)
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.UniqueConstraint(fields=["shop", "refund_id"], name="refund_id_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"refund {self.refund_id}"


class Redemption(IdempotentRecord):
    class Status(models.TextChoices):
        HELD = "held", _("Held")
        CAPTURED = "captured", _("Captured")
        VOIDED = "voided", _("Voided")
        EXPIRED = "expired", _("Hold expired")
        CANCELLED = "cancelled", _("Cancelled")

    # Random, so a redemption id in a URL cannot be guessed from another.
    id = models.UUIDField(
        verbose_name=_("id"), primary_key=True, default=uuid.uuid4, editable=False
    )
    shop = models.ForeignKey(
        Shop, verbose_name=_("shop"), on_delete=models.PROTECT, related_name="redemptions"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="redemptions"
    )
    idempotency_key = models.CharField(verbose_name=_("idempotency key"), max_length=128)
    points = models.BigIntegerField(verbose_name=_("points"))
    discount_amount = models.DecimalField(
        verbose_name=_("discount amount"), max_digits=18, decimal_places=4
    )
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    order_id = models.CharField(verbose_name=_("order id"), max_length=64, blank=True)
    order_total = models.DecimalField(
        verbose_name=_("order total"),
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("The order this redemption pays part of, when the shop said (points + cash)."),
    )
    reward = models.ForeignKey(
        "Reward",
        verbose_name=_("reward"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="redemptions",
    )
    status = models.CharField(verbose_name=_("status"), max_length=16, choices=Status)
    hold_expires_at = models.DateTimeField(verbose_name=_("hold expires at"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"))
    resolved_at = models.DateTimeField(verbose_name=_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
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
        EARN = "earn", _("Earn")
        REDEEM = "redeem", _("Redeem")
        HOLD = "hold", _("Hold")
        CAPTURE = "capture", _("Hold captured")
        RELEASE = "release", _("Hold released")
        CANCEL = "cancel", _("Redemption cancelled")
        REFUND = "refund", _("Refund reversal")
        SETTLE = "settle", _("Owed points settled")
        EXPIRE = "expire", _("Expiry")
        ADJUST = "adjust", _("Manual adjustment")
        BONUS = "bonus", _("Bonus")
        MERGE_OUT = "merge_out", _("Moved out by a merge")
        MERGE_IN = "merge_in", _("Moved in by a merge")

    class Actor(models.TextChoices):
        SHOP = "shop", _("Shop")
        STAFF = "staff", _("Staff")
        SYSTEM = "system", _("System")

    # Indexed by `entry_member_newest` (member, -id), which serves every lookup by member;
    # the refund, redemption and staff user only where they are set (Meta.indexes): an
    # earn writes none of them, and every index is written on every earn (issue 18).
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="ledger_entries",
        db_index=False,
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=16, choices=Kind)
    points = models.BigIntegerField(verbose_name=_("points"), default=0)
    held_change = models.BigIntegerField(verbose_name=_("held change"), default=0)
    owed_change = models.BigIntegerField(verbose_name=_("owed change"), default=0)
    # What the member reads is rendered at read time, in the reader's language, from a
    # message key and its parameters (rewards/ledger_words.py). `reason` keeps only words a
    # person typed (a staff adjustment's reason) and, on entries written before keys
    # existed, the English sentence that ledger_words parses back into a key.
    reason = models.CharField(verbose_name=_("reason"), max_length=500, blank=True)
    # Database defaults too: rows inserted by SQL (benchmarks, bulk loads) need no value.
    message_key = models.CharField(
        verbose_name=_("message key"), max_length=40, blank=True, default="", db_default=""
    )
    message_params = models.JSONField(
        verbose_name=_("message params"),
        default=dict,
        blank=True,
        db_default=models.Value({}, output_field=models.JSONField()),
    )
    reference = models.CharField(verbose_name=_("reference"), max_length=200, blank=True)
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), null=True, blank=True, on_delete=models.PROTECT
    )
    refund = models.ForeignKey(
        Refund,
        verbose_name=_("refund"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
    )
    redemption = models.ForeignKey(
        Redemption,
        verbose_name=_("redemption"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
    )
    actor_kind = models.CharField(verbose_name=_("actor kind"), max_length=8, choices=Actor)
    actor_shop = models.ForeignKey(
        Shop, verbose_name=_("actor shop"), null=True, blank=True, on_delete=models.PROTECT
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor user"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
    )
    effective_at = models.DateTimeField(
        verbose_name=_("effective at"), help_text=_("When it happened in business terms.")
    )
    created_at = models.DateTimeField(
        verbose_name=_("created at"), help_text=_("When it was written.")
    )

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(
                condition=~Q(points=0, held_change=0, owed_change=0), name="entry_moves_points"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-id"], name="entry_member_newest"),
            *where_set("refund", "redemption", "actor_user", prefix="entry"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+d} ({self.member_id})"


class PointLot(models.Model):
    """Points earned together, with one expiry. Spent in order of (expires_at, earned_at, id)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="lots"
    )
    entry = models.OneToOneField(
        LedgerEntry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="lot"
    )
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), null=True, blank=True, on_delete=models.PROTECT
    )
    points = models.BigIntegerField(verbose_name=_("points"))
    remaining = models.BigIntegerField(verbose_name=_("remaining"))
    earned_at = models.DateTimeField(verbose_name=_("earned at"))
    available_at = models.DateTimeField(verbose_name=_("available at"))
    is_pending = models.BooleanField(verbose_name=_("is pending"), default=False)
    expires_at = models.DateTimeField(verbose_name=_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("point lot")
        verbose_name_plural = _("point lots")
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
