"""An independent computation of every KPI with pandas, over a generated multi-year
history, must agree with every stored snapshot of every granularity and breakdown.

The history is random but seeded: members enrolling over the years, purchases at three
shops, partial and full refunds, a ledger of every kind (earnings with their lots, bonuses,
adjustments, refund reversals, settlements, redemptions, holds and their releases,
cancellations, expiries of lots), tier changes and survey answers, in a program whose time
zone has daylight saving time. pandas reads the raw tables and applies the definitions of
metrics/definitions.py on its own: no code of the metrics app computes the expected side.
"""

import functools
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from members.models import Member, Shop
from metrics.models import Feedback, KpiSnapshot
from metrics.services import kpis_recompute
from rewards.models import (
    LedgerEntry,
    LotMovement,
    PointLot,
    Program,
    Purchase,
    Redemption,
    Refund,
    Tier,
    TierChange,
)

pytestmark = pytest.mark.django_db

TZ = "Europe/Berlin"
WINDOW_DAYS = 90
HISTORY_START = datetime(2023, 1, 1, tzinfo=UTC)
HISTORY_END = datetime(2025, 7, 1, tzinfo=UTC)
MEMBERS = 240
POINT_VALUE = Decimal("0.02")


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(seconds))


def history_generate(seed: int = 5) -> None:
    rng = random.Random(seed)
    shops = [Shop.objects.create(name=name) for name in ("North", "South", "Web")]
    tiers = [
        Tier.objects.create(name="Bronze", rank=1, threshold=0),
        Tier.objects.create(name="Silver", rank=2, threshold=100),
        Tier.objects.create(name="Gold", rank=3, threshold=500),
    ]
    members = Member.objects.bulk_create(
        Member(
            external_id=f"x-{n:04d}",
            enrolled_at=_moment(rng, HISTORY_START - timedelta(days=60), HISTORY_END),
        )
        for n in range(MEMBERS)
    )
    purchases = []
    for member in members:
        # Some members buy often, some rarely, a few never.
        count = rng.choice([0, 1, 2, 3, 5, 8, 13, 20])
        for _ in range(count):
            at = _moment(rng, member.enrolled_at, HISTORY_END)
            amount = Decimal(rng.randrange(100, 20000)) / 100
            number = len(purchases)
            purchases.append(
                Purchase(
                    shop=rng.choice(shops),
                    member=member,
                    order_id=f"o-{number}",
                    amount=amount,
                    currency="EUR",
                    occurred_at=at,
                    created_at=at,
                    points_earned=int(amount),
                    request_hash="",
                    response={},
                )
            )
    # A few purchases exactly on local period boundaries.
    for index, day in enumerate([date(2024, 1, 1), date(2024, 3, 31), date(2024, 10, 27)]):
        member = members[index]
        at = datetime.combine(day, datetime.min.time()).replace(tzinfo=_zone())
        purchases.append(
            Purchase(
                shop=shops[0],
                member=member,
                order_id=f"edge-{index}",
                amount=Decimal("12.34"),
                currency="EUR",
                occurred_at=at,
                created_at=at,
                points_earned=12,
                request_hash="",
                response={},
            )
        )
    purchases = Purchase.objects.bulk_create(purchases, batch_size=500)

    refunds = []
    for purchase in purchases:
        roll = rng.random()
        if roll < 0.05:  # refunded in full, in one or two refunds
            parts = [purchase.amount] if rng.random() < 0.5 else _split(rng, purchase.amount)
        elif roll < 0.12:
            parts = [
                (purchase.amount * Decimal(rng.randrange(10, 90)) / 100).quantize(Decimal("0.01"))
            ]
        else:
            continue
        at = purchase.occurred_at
        for part in parts:
            at = at + timedelta(days=rng.randrange(0, 40), minutes=rng.randrange(1, 600))
            refunds.append(
                Refund(
                    shop=purchase.shop,
                    purchase=purchase,
                    refund_id=f"r-{len(refunds)}",
                    amount=part,
                    points_reversed=0,
                    created_at=at,
                    request_hash="",
                    response={},
                )
            )
    refunds = Refund.objects.bulk_create(refunds)
    # As the refund service keeps it: a purchase's refunded amount is its refunds' sum.
    refunded = {}
    for refund in refunds:
        refunded[refund.purchase_id] = refunded.get(refund.purchase_id, 0) + refund.amount
    for purchase in purchases:
        purchase.refunded_amount = refunded.get(purchase.pk, Decimal(0))
    Purchase.objects.bulk_update(purchases, ["refunded_amount"], batch_size=500)

    entries, lots_for = [], []

    def add(member_id, kind, points, at, shop=None, held=0, **links):
        entries.append(
            LedgerEntry(
                member_id=member_id,
                kind=kind,
                points=points,
                held_change=held,
                reason="generated",
                actor_kind="shop" if shop else "system",
                actor_shop=shop,
                effective_at=at,
                created_at=at,
                **links,
            )
        )
        return entries[-1]

    for purchase in purchases:
        entry = add(
            purchase.member_id,
            "earn",
            int(purchase.amount) + 1,
            purchase.occurred_at,
            purchase.shop,
            purchase=purchase,
        )
        lots_for.append((entry, purchase))
    for refund in refunds:
        add(
            refund.purchase.member_id,
            "refund",
            -int(refund.amount // 2) - 1,
            refund.created_at,
            refund.shop,
            purchase=refund.purchase,
            refund=refund,
        )
    redemptions = []
    for member in members:
        for _ in range(rng.choice([0, 0, 1, 2, 4])):
            at = _moment(rng, member.enrolled_at, HISTORY_END)
            redemptions.append(
                Redemption(
                    shop=rng.choice(shops),
                    member=member,
                    idempotency_key=f"k-{len(redemptions)}",
                    points=rng.randrange(5, 300),
                    discount_amount=Decimal(1),
                    currency="EUR",
                    status="captured",
                    created_at=at,
                    request_hash="",
                    response={},
                )
            )
    redemptions = Redemption.objects.bulk_create(redemptions)
    for redemption in redemptions:
        at, points = redemption.created_at, redemption.points
        style = rng.random()
        if style < 0.5:
            add(redemption.member_id, "redeem", -points, at, redemption.shop, redemption=redemption)
        elif style < 0.7:  # held, then captured
            add(
                redemption.member_id,
                "hold",
                -points,
                at,
                redemption.shop,
                held=points,
                redemption=redemption,
            )
            add(
                redemption.member_id,
                "capture",
                0,
                at + timedelta(minutes=5),
                redemption.shop,
                held=-points,
                redemption=redemption,
            )
        elif style < 0.85:  # held, then released by the system (no actor shop)
            add(
                redemption.member_id,
                "hold",
                -points,
                at,
                redemption.shop,
                held=points,
                redemption=redemption,
            )
            add(
                redemption.member_id,
                "release",
                points,
                at + timedelta(minutes=15),
                None,
                held=-points,
                redemption=redemption,
            )
        else:  # redeemed, then cancelled days later
            add(redemption.member_id, "redeem", -points, at, redemption.shop, redemption=redemption)
            add(
                redemption.member_id,
                "cancel",
                points,
                at + timedelta(days=rng.randrange(1, 20)),
                redemption.shop,
                redemption=redemption,
            )
    for member in members:
        if rng.random() < 0.3:
            add(member.pk, "bonus", 50, member.enrolled_at, rng.choice([None, *shops]))
        if rng.random() < 0.1:
            add(
                member.pk,
                "adjust",
                rng.choice([-30, 25, 100]),
                _moment(rng, member.enrolled_at, HISTORY_END),
            )
        if rng.random() < 0.05:
            add(
                member.pk,
                "settle",
                -rng.randrange(1, 20),
                _moment(rng, member.enrolled_at, HISTORY_END),
            )
    entries = LedgerEntry.objects.bulk_create(entries, batch_size=500)

    lots = PointLot.objects.bulk_create(
        PointLot(
            member_id=entry.member_id,
            entry=entry,
            purchase=purchase,
            points=entry.points,
            remaining=entry.points,
            earned_at=entry.effective_at,
            available_at=entry.effective_at,
            is_pending=False,
            expires_at=entry.effective_at + timedelta(days=365),
        )
        for entry, purchase in lots_for
    )
    expiries = []
    for lot in lots:
        if lot.expires_at < HISTORY_END and rng.random() < 0.4:
            points = rng.randrange(1, lot.points + 1)
            expiries.append((lot, add(lot.member_id, "expire", -points, lot.expires_at)))
    first_expiry = len(entries) - len(expiries)
    LedgerEntry.objects.bulk_create(entries[first_expiry:])
    LotMovement.objects.bulk_create(
        LotMovement(entry=entry, lot=lot, points=entry.points) for lot, entry in expiries
    )

    changes = []
    for member in members:
        tier = tiers[0]
        at = member.enrolled_at
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            at = at + timedelta(days=rng.randrange(1, 200), seconds=rng.randrange(86400))
            if at >= HISTORY_END:
                break
            to = rng.choice([t for t in tiers if t != tier])
            changes.append(
                TierChange(
                    member=member,
                    from_tier=tier,
                    to_tier=to,
                    reason="qualified",
                    detail="",
                    qualifying_value=0,
                    changed_at=at,
                )
            )
            tier = to
    TierChange.objects.bulk_create(changes)

    Feedback.objects.bulk_create(
        Feedback(
            shop=rng.choice(shops),
            member=rng.choice(members),
            kind=kind,
            score=rng.randint(*Feedback.SCALES[kind]),
            answered_at=_moment(rng, HISTORY_START, HISTORY_END),
            created_at=HISTORY_END,
            request_hash="",
            response={},
        )
        for kind in ["nps"] * 300 + ["csat"] * 200
    )


def _split(rng: random.Random, amount: Decimal) -> list[Decimal]:
    first = (amount * Decimal(rng.randrange(10, 90)) / 100).quantize(Decimal("0.01"))
    return [first, amount - first]


def _zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(TZ)


# The independent side.


class Expected:
    """The raw tables as DataFrames and the definitions applied to them with pandas."""

    def __init__(self):
        def frame(queryset, *fields):
            return pd.DataFrame.from_records(list(queryset.values_list(*fields)), columns=fields)

        self.members = frame(Member.objects, "id", "enrolled_at")
        self.purchases = frame(
            Purchase.objects, "id", "member_id", "shop_id", "amount", "occurred_at"
        )
        self.refunds = frame(Refund.objects, "purchase_id", "amount", "created_at").merge(
            self.purchases[["id", "member_id", "shop_id"]].rename(columns={"id": "purchase_id"}),
            on="purchase_id",
        )
        entries = frame(
            LedgerEntry.objects,
            "id",
            "member_id",
            "kind",
            "points",
            "effective_at",
            "actor_shop_id",
            "redemption_id",
        )
        redemption_shop = dict(Redemption.objects.values_list("id", "shop_id"))
        entries["shop_id"] = entries["actor_shop_id"].where(
            entries["actor_shop_id"].notna(), entries["redemption_id"].map(redemption_shop)
        )
        # Every kind in exactly one category, signed so that each category counts up.
        category = {
            "earn": "issued",
            "bonus": "issued",
            "adjust": "issued",
            "refund": "issued",
            "settle": "issued",
            "redeem": "redeemed",
            "hold": "redeemed",
            "release": "redeemed",
            "cancel": "redeemed",
            "expire": "expired",
            "capture": "none",
        }
        entries["category"] = entries.kind.map(category)
        entries["signed"] = entries.points.where(entries.category == "issued", -entries.points)
        self.entries = entries
        self.expiry_shops = frame(
            LotMovement.objects.filter(entry__kind="expire"),
            "points",
            "entry__effective_at",
            "lot__purchase__shop_id",
        )
        self.changes = frame(TierChange.objects, "id", "member_id", "to_tier_id", "changed_at")
        self.feedback = frame(
            Feedback.objects, "member_id", "shop_id", "kind", "score", "answered_at"
        )
        self.tier_names = dict(Tier.objects.values_list("id", "name"))
        self.tier_ranks = dict(Tier.objects.values_list("name", "rank"))
        self.entry_tier = Tier.objects.filter(threshold=0).order_by("-rank").first().pk
        self.window = pd.DateOffset(days=WINDOW_DAYS)  # calendar days, local time

    @functools.cache  # noqa: B019 - one Expected per test
    def tier_at(self, t) -> pd.Series:
        """member id → tier id at t."""
        known = self.changes[self.changes.changed_at <= t].sort_values(["changed_at", "id"])
        last = known.groupby("member_id").to_tier_id.last()
        return (
            self.members.id.map(last).fillna(self.entry_tier).astype(int).set_axis(self.members.id)
        )

    @functools.cache  # noqa: B019 - one Expected per test
    def active_at(self, t) -> set:
        p = self.purchases[
            (self.purchases.occurred_at > t - self.window) & (self.purchases.occurred_at <= t)
        ]
        refunded = self.refunds[self.refunds.created_at <= t].groupby("purchase_id").amount.sum()
        covered = p.id.map(refunded).apply(lambda v: Decimal(0) if pd.isna(v) else Decimal(v))
        return set(p[p.amount.apply(Decimal) > covered].member_id)

    @functools.cache  # noqa: B019 - one Expected per test
    def until(self, end) -> dict:
        """The rows dated before `end`, shared by every period and breakdown ending there."""
        return {
            "purchases": self.purchases[self.purchases.occurred_at < end],
            "refunds": self.refunds[self.refunds.created_at < end],
            "entries": self.entries[self.entries.effective_at < end],
            "feedback": self.feedback[self.feedback.answered_at < end],
        }

    def figures(self, start, end, *, tier=None, shop=None) -> dict:
        before_end = self.until(end)
        tiers_start = self.tier_at(start)
        if tier is not None:
            members = set(tiers_start[tiers_start == tier].index)
        else:
            members = set(self.members.id)

        def mine(df, member_column="member_id"):
            if shop is not None:
                return df[df.shop_id == shop]
            return df[df[member_column].isin(members)]

        out = {}
        in_p = mine(before_end["purchases"])
        in_p = in_p[in_p.occurred_at >= start]
        per_member = in_p.groupby("member_id").size()
        out["purchases"] = len(in_p)
        out["purchasing_members"] = len(per_member)
        out["repeat_members"] = int((per_member >= 2).sum())
        out["purchase_amount"] = sum(in_p.amount, Decimal(0))
        refunds = mine(before_end["refunds"])
        refunds = refunds[refunds.created_at >= start]
        out["refund_amount"] = sum(refunds.amount, Decimal(0))
        out["net_revenue"] = out["purchase_amount"] - out["refund_amount"]
        out["repeat_purchase_rate"] = pct(out["repeat_members"], out["purchasing_members"])
        out["purchase_frequency"] = div(out["purchases"], out["purchasing_members"])
        out["average_order_value"] = div(out["purchase_amount"], out["purchases"])

        entries = mine(before_end["entries"])
        if shop is not None:
            entries = entries[entries.kind != "expire"]
        to_date = entries.groupby("category").signed.sum()
        in_period = entries[entries.effective_at >= start].groupby("category").signed.sum()
        for name in ("issued", "redeemed", "expired"):
            out[f"points_{name}"] = int(in_period.get(name, 0))
            out[f"points_{name}_to_date"] = int(to_date.get(name, 0))
        if shop is not None:
            moved = self.expiry_shops[
                (self.expiry_shops.lot__purchase__shop_id == shop)
                & (self.expiry_shops.entry__effective_at < end)
            ]
            out["points_expired_to_date"] = -int(moved.points.sum())
            out["points_expired"] = -int(moved[moved.entry__effective_at >= start].points.sum())
        out["redemption_rate"] = pct(out["points_redeemed_to_date"], out["points_issued_to_date"])
        out["breakage_rate"] = pct(out["points_expired_to_date"], out["points_issued_to_date"])
        out["burn_earn_ratio"] = pct(out["points_redeemed"], out["points_issued"])

        answers = mine(before_end["feedback"])
        answers = answers[answers.answered_at >= start]
        nps, csat = answers[answers.kind == "nps"].score, answers[answers.kind == "csat"].score
        out["nps_responses"], out["csat_responses"] = len(nps), len(csat)
        out["nps"] = (
            round(100 * ((nps >= 9).sum() - (nps <= 6).sum()) / len(nps), 2) if len(nps) else None
        )
        out["csat"] = pct(int((csat >= 4).sum()), len(csat))

        if shop is not None:
            return out
        at_start, at_end = self.active_at(start) & members, self.active_at(end) & members
        out["active_start"], out["active_end"] = len(at_start), len(at_end)
        out["retained"] = len(at_start & at_end)
        out["new_active"] = len(at_end - at_start)
        out["retention_rate"] = pct(out["retained"], out["active_start"])
        out["churn_rate"] = pct(out["active_start"] - out["retained"], out["active_start"])
        enrolled = self.members[self.members.id.isin(members) & (self.members.enrolled_at < end)]
        out["members_total"] = len(enrolled)
        out["members_enrolled"] = int((enrolled.enrolled_at >= start).sum())
        revenue = sum(mine(before_end["purchases"]).amount, Decimal(0)) - sum(
            mine(before_end["refunds"]).amount, Decimal(0)
        )
        out["customer_lifetime_value"] = div(revenue, out["members_total"])
        out["points_outstanding"] = int(entries.points.sum())
        out["points_liability"] = Decimal(out["points_outstanding"]) * POINT_VALUE
        tiers_end = self.tier_at(end)
        counts = tiers_end[enrolled.id.tolist()].map(self.tier_names).value_counts()
        out["tier_distribution"] = sorted(
            [
                {"tier": name, "members": int(counts.get(name, 0))}
                for name in self.tier_names.values()
            ],
            key=lambda row: self.tier_ranks[row["tier"]],
        )
        return out


def pct(numerator, denominator):
    return (
        None
        if not denominator or denominator <= 0
        else round(100 * float(numerator) / float(denominator), 2)
    )


def div(numerator, denominator):
    return None if not denominator else round(float(numerator) / float(denominator), 2)


def assert_agrees(snapshot: KpiSnapshot, expected: dict) -> None:
    where = f"{snapshot.granularity} {snapshot.period_start} {snapshot.group_key}"
    for name, value in expected.items():
        stored = getattr(snapshot, name)
        if value is None or stored is None:
            assert stored is None and value is None, (where, name, stored, value)
        elif isinstance(value, float):
            # pandas divides in floats; the database side in decimals: one cent apart at most.
            assert abs(float(stored) - value) <= 0.0101, (where, name, stored, value)
        elif isinstance(value, Decimal):
            assert Decimal(stored) == value.quantize(Decimal("0.01")) or Decimal(stored) == value, (
                where,
                name,
                stored,
                value,
            )
        else:
            assert stored == value, (where, name, stored, value)


@pytest.mark.slow
def test_pandas_agrees_with_every_stored_snapshot_of_every_granularity(program):
    Program.objects.filter(pk=1).update(
        timezone=TZ, activity_window_days=WINDOW_DAYS, point_value=POINT_VALUE
    )
    history_generate()
    kpis_recompute(
        first=date(2023, 1, 1),
        last=date(2025, 6, 30),
        granularities=["month", "quarter", "year"],
    )
    # Weeks over a year and days over a month around a daylight saving change are enough
    # to prove them, and keep the test to seconds.
    kpis_recompute(first=date(2024, 1, 1), last=date(2024, 12, 31), granularities=["week"])
    kpis_recompute(first=date(2024, 10, 10), last=date(2024, 11, 10), granularities=["day"])

    expected = Expected()
    zone = _zone()
    snapshots = list(KpiSnapshot.objects.select_related("tier", "shop").order_by("id"))
    checked = {g: 0 for g in ("day", "week", "month", "quarter", "year")}
    for snapshot in snapshots:
        start = pd.Timestamp(snapshot.period_start).tz_localize(zone)
        end = pd.Timestamp(snapshot.period_end).tz_localize(zone)
        if snapshot.breakdown == "all":
            figures = expected.figures(start, end)
        elif snapshot.breakdown == "tier":
            figures = expected.figures(start, end, tier=snapshot.tier_id)
        else:
            figures = expected.figures(start, end, shop=snapshot.shop_id)
        assert_agrees(snapshot, figures)
        checked[snapshot.granularity] += 1

    # Every period of the ranges, each for all members, three tiers and three shops.
    assert checked == {
        "day": 32 * 7,
        "week": 53 * 7,
        "month": 30 * 7,
        "quarter": 10 * 7,
        "year": 3 * 7,
    }
