"""Reads of the metrics app: the set-based aggregates a period's snapshots are computed
from, and the stored snapshots and cohorts.

The aggregates are plain SQL that PostgreSQL and SQLite both run: every query groups in
the database (by tier at the start of the period, by shop, by entry kind) and returns a
handful of rows, never a row per member. Definitions: metrics/definitions.py.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DateField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth

from members.models import Member, Segment, Shop
from metrics.models import CohortCell, Feedback, KpiSnapshot
from rewards.models import (
    LedgerEntry,
    LotMovement,
    PointLot,
    Purchase,
    Redemption,
    Refund,
    Tier,
    TierChange,
)

Kind = LedgerEntry.Kind
# Every kind that moves points falls in exactly one of these (capture moves none), so
# outstanding = issued − redeemed − expired. See metrics/definitions.py.
# A merge moves points between two members (merge_out on one, merge_in on the other): the
# pair sums to zero, so it counts with the issued points and adds nothing to the total.
ISSUED_KINDS = (
    Kind.EARN,
    Kind.BONUS,
    Kind.ADJUST,
    Kind.REFUND,
    Kind.SETTLE,
    Kind.MERGE_OUT,
    Kind.MERGE_IN,
)
REDEEMED_KINDS = (Kind.REDEEM, Kind.HOLD, Kind.RELEASE, Kind.CANCEL)
EXPIRED_KINDS = (Kind.EXPIRE,)
NO_TIER = None
# "Not fully refunded" means more than rounding is left: SQLite sums decimals as floats, so
# 5.55 + 6.79 need not equal 12.34 exactly there. Amounts have at most 4 decimals. A literal,
# not a parameter: SQLite would compare a parameter as text.
CENT = "0.00005"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _moment(value: datetime):
    """A datetime as the backend stores it (SQLite compares naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def _decimal(value) -> Decimal:
    # SQLite sums decimals as floats; their repr is exact to the cent at these magnitudes.
    return Decimal(0) if value is None else Decimal(str(value)).quantize(Decimal("0.0001"))


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def entry_tier_id() -> int | None:
    """The tier members are in before any tier change: the highest-ranked tier with
    threshold 0 (rewards.services.tiers.tier_for_value of 0), or None without tiers."""
    tier = Tier.objects.filter(threshold=0).order_by("-rank").first()
    return tier.pk if tier else None


def _tier_at(name: str, param: str) -> str:
    """A CTE `name(member_id, tier_id)`: the to_tier of each member's last tier change at or
    before the moment %(param)s. Members without a change are absent."""
    return f"""{name} AS (
        SELECT member_id, to_tier_id AS tier_id FROM (
            SELECT member_id, to_tier_id, ROW_NUMBER() OVER (
                PARTITION BY member_id ORDER BY changed_at DESC, id DESC) AS rn
            FROM {_table(TierChange)} WHERE changed_at <= %({param})s
        ) ranked WHERE rn = 1)"""


def _tier_group(alias: str, entry_tier: int | None) -> str:
    """The member's tier from a _tier_at CTE joined as `alias`, the entry tier if absent."""
    entry = "NULL" if entry_tier is None else str(int(entry_tier))
    return f"CASE WHEN {alias}.member_id IS NULL THEN {entry} ELSE {alias}.tier_id END"


@dataclass
class PeriodFigures:
    """The raw sums of one group (a tier group, a shop or everything) for one period."""

    active_start: int = 0
    active_end: int = 0
    retained: int = 0
    purchases: int = 0
    purchasing_members: int = 0
    repeat_members: int = 0
    purchase_amount: Decimal = Decimal(0)
    refund_amount: Decimal = Decimal(0)
    revenue_to_date: Decimal = Decimal(0)
    members_total: int = 0
    members_enrolled: int = 0
    tier_end: dict = field(default_factory=lambda: defaultdict(int))
    points: dict = field(default_factory=lambda: defaultdict(int))  # (category, scope) → sum
    nps_responses: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0
    csat_responses: int = 0
    csat_satisfied: int = 0

    def add(self, other: "PeriodFigures") -> None:
        for name in PeriodFigures.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, dict):
                for key, value in theirs.items():
                    mine[key] += value
            else:
                setattr(self, name, mine + theirs)


@dataclass
class PeriodAggregates:
    by_tier: dict[int | None, PeriodFigures]
    by_shop: dict[int, PeriodFigures]


def period_aggregates_get(
    *, start: datetime, end: datetime, window: timedelta, entry_tier: int | None
) -> PeriodAggregates:
    """Every sum the snapshots of the period [start, end) are made of, grouped by the
    members' tier at `start` and by shop: ten grouped queries. `start` and `end` carry the
    program's time zone, so subtracting the window counts calendar days in it."""
    params = {
        "start": _moment(start),
        "end": _moment(end),
        "start_w": _moment(start - window),
        "end_w": _moment(end - window),
    }
    by_tier: dict[int | None, PeriodFigures] = defaultdict(PeriodFigures)
    by_shop: dict[int, PeriodFigures] = defaultdict(PeriodFigures)
    group = _tier_group("ts", entry_tier)
    tier_start = _tier_at("tier_start", "start")

    # Activity at both ends and purchases in the period, per member, then per tier group.
    # A purchase counts toward activity at t unless refunds created by t cover it. Refunds
    # only add up, so a purchase not fully refunded today never was, and needs no sums.
    # The per-member state is a few integers, so a million members aggregate in memory.
    def qualifies(refunded: str) -> str:
        return f"""(p.refunded_amount = 0 OR p.refunded_amount + {CENT} < p.amount
                OR p.amount - COALESCE({refunded}, 0) > {CENT})"""

    for tier, *sums in _rows(
        f"""WITH refunds AS (
                SELECT purchase_id,
                    SUM(CASE WHEN created_at <= %(start)s THEN amount ELSE 0 END) AS by_start,
                    SUM(amount) AS by_end
                FROM {_table(Refund)} WHERE created_at <= %(end)s GROUP BY purchase_id),
            per_member AS (
                SELECT p.member_id,
                    MAX(CASE WHEN p.occurred_at > %(start_w)s AND p.occurred_at <= %(start)s
                        AND {qualifies("r.by_start")} THEN 1 ELSE 0 END) AS at_start,
                    MAX(CASE WHEN p.occurred_at > %(end_w)s AND p.occurred_at <= %(end)s
                        AND {qualifies("r.by_end")} THEN 1 ELSE 0 END) AS at_end,
                    SUM(CASE WHEN p.occurred_at >= %(start)s AND p.occurred_at < %(end)s
                        THEN 1 ELSE 0 END) AS bought
                FROM {_table(Purchase)} p LEFT JOIN refunds r ON r.purchase_id = p.id
                WHERE p.occurred_at > %(start_w)s AND p.occurred_at <= %(end)s
                GROUP BY p.member_id),
            {tier_start}
        SELECT {group} AS tier,
            SUM(m.at_start), SUM(m.at_end), SUM(m.at_start * m.at_end),
            SUM(m.bought), SUM(CASE WHEN m.bought > 0 THEN 1 ELSE 0 END),
            SUM(CASE WHEN m.bought > 1 THEN 1 ELSE 0 END)
        FROM per_member m LEFT JOIN tier_start ts ON ts.member_id = m.member_id
        GROUP BY {group}""",
        params,
    ):
        figures = by_tier[tier]
        (
            figures.active_start,
            figures.active_end,
            figures.retained,
            figures.purchases,
            figures.purchasing_members,
            figures.repeat_members,
        ) = (int(value or 0) for value in sums)

    # Purchase amounts by tier group: in the period, and of all time up to the end for the
    # lifetime value. Summed straight into the groups, without a row per member.
    for tier, in_period, to_date in _rows(
        f"""WITH {tier_start}
            SELECT {group} AS tier,
                SUM(CASE WHEN p.occurred_at >= %(start)s THEN p.amount ELSE 0 END),
                SUM(p.amount)
            FROM {_table(Purchase)} p LEFT JOIN tier_start ts ON ts.member_id = p.member_id
            WHERE p.occurred_at < %(end)s
            GROUP BY {group}""",
        params,
    ):
        by_tier[tier].purchase_amount += _decimal(in_period)
        by_tier[tier].revenue_to_date += _decimal(to_date)

    # Purchases in the period per shop (a repeat customer bought twice at that shop).
    for shop, members, repeat, purchases, amount in _rows(
        f"""SELECT shop_id, COUNT(*), SUM(CASE WHEN bought > 1 THEN 1 ELSE 0 END),
                SUM(bought), SUM(spent)
            FROM (SELECT shop_id, member_id, COUNT(*) AS bought, SUM(amount) AS spent
                  FROM {_table(Purchase)}
                  WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
                  GROUP BY shop_id, member_id) per_member
            GROUP BY shop_id""",
        params,
    ):
        figures = by_shop[shop]
        figures.purchasing_members, figures.repeat_members = int(members), int(repeat or 0)
        figures.purchases, figures.purchase_amount = int(purchases or 0), _decimal(amount)

    # Refunds up to the end, by the purchase's shop and the member's tier group: those
    # dated in the period, and all of them for the lifetime value's net revenue.
    for shop, tier, in_period, to_date in _rows(
        f"""WITH {tier_start}
            SELECT p.shop_id, {group} AS tier,
                SUM(CASE WHEN r.created_at >= %(start)s THEN r.amount ELSE 0 END),
                SUM(r.amount)
            FROM {_table(Refund)} r JOIN {_table(Purchase)} p ON p.id = r.purchase_id
                LEFT JOIN tier_start ts ON ts.member_id = p.member_id
            WHERE r.created_at < %(end)s
            GROUP BY p.shop_id, {group}""",
        params,
    ):
        by_shop[shop].refund_amount += _decimal(in_period)
        by_tier[tier].refund_amount += _decimal(in_period)
        by_tier[tier].revenue_to_date -= _decimal(to_date)

    # Members enrolled by the end, by tier group at the start and tier at the end.
    tier_end = _tier_at("tier_end", "end")
    for tier, tier_at_end, members, enrolled in _rows(
        f"""WITH {tier_start}, {tier_end}
            SELECT {group} AS tier, {_tier_group("te", entry_tier)} AS tier_at_end,
                COUNT(*), SUM(CASE WHEN m.enrolled_at >= %(start)s THEN 1 ELSE 0 END)
            FROM {_table(Member)} m
                LEFT JOIN tier_start ts ON ts.member_id = m.id
                LEFT JOIN tier_end te ON te.member_id = m.id
            WHERE m.enrolled_at < %(end)s
            GROUP BY {group}, {_tier_group("te", entry_tier)}""",
        params,
    ):
        figures = by_tier[tier]
        figures.members_total += int(members)
        figures.members_enrolled += int(enrolled or 0)
        figures.tier_end[tier_at_end] += int(members)

    # The ledger up to the end, by kind, in the period and to date: one scan, grouped by
    # tier group and shop (the shop that moved the points, or the redemption's), then
    # summed per tier and per shop. Expiry is credited to shops through its lots, below.
    for tier, shop, kind, in_period, to_date in _rows(
        f"""WITH {tier_start}
            SELECT {group} AS tier, COALESCE(e.actor_shop_id, rd.shop_id) AS shop, e.kind,
                SUM(CASE WHEN e.effective_at >= %(start)s THEN e.points ELSE 0 END),
                SUM(e.points)
            FROM {_table(LedgerEntry)} e LEFT JOIN tier_start ts ON ts.member_id = e.member_id
                LEFT JOIN {_table(Redemption)} rd ON rd.id = e.redemption_id
            WHERE e.effective_at < %(end)s
            GROUP BY {group}, COALESCE(e.actor_shop_id, rd.shop_id), e.kind""",
        params,
    ):
        _points_add(by_tier[tier], kind, in_period, to_date)
        if shop is not None and kind != Kind.EXPIRE:
            _points_add(by_shop[shop], kind, in_period, to_date)
    for shop, in_period, to_date in _rows(
        f"""SELECT p.shop_id,
                SUM(CASE WHEN e.effective_at >= %(start)s THEN mv.points ELSE 0 END),
                SUM(mv.points)
            FROM {_table(LotMovement)} mv
                JOIN {_table(LedgerEntry)} e ON e.id = mv.entry_id
                JOIN {_table(PointLot)} lot ON lot.id = mv.lot_id
                JOIN {_table(Purchase)} p ON p.id = lot.purchase_id
            WHERE e.kind = 'expire' AND e.effective_at < %(end)s
            GROUP BY p.shop_id""",
        params,
    ):
        _points_add(by_shop[shop], Kind.EXPIRE, in_period, to_date)

    # Survey answers of the period.
    for shop, tier, kind, responses, promoters, detractors, satisfied in _rows(
        f"""WITH {tier_start}
            SELECT f.shop_id, {group} AS tier, f.kind, COUNT(*),
                SUM(CASE WHEN f.score >= 9 THEN 1 ELSE 0 END),
                SUM(CASE WHEN f.score <= 6 THEN 1 ELSE 0 END),
                SUM(CASE WHEN f.score >= 4 THEN 1 ELSE 0 END)
            FROM {_table(Feedback)} f LEFT JOIN tier_start ts ON ts.member_id = f.member_id
            WHERE f.answered_at >= %(start)s AND f.answered_at < %(end)s
            GROUP BY f.shop_id, {group}, f.kind""",
        params,
    ):
        for figures in (by_shop[shop], by_tier[tier]):
            if kind == Feedback.Kind.NPS:
                figures.nps_responses += int(responses)
                figures.nps_promoters += int(promoters or 0)
                figures.nps_detractors += int(detractors or 0)
            else:
                figures.csat_responses += int(responses)
                figures.csat_satisfied += int(satisfied or 0)

    return PeriodAggregates(by_tier=dict(by_tier), by_shop=dict(by_shop))


def _points_add(figures: PeriodFigures, kind: str, in_period, to_date) -> None:
    if kind in ISSUED_KINDS:
        category, sign = "issued", 1
    elif kind in REDEEMED_KINDS:
        category, sign = "redeemed", -1
    elif kind in EXPIRED_KINDS:
        category, sign = "expired", -1
    else:
        return  # capture: moves held points only
    figures.points[(category, "period")] += sign * int(in_period or 0)
    figures.points[(category, "to_date")] += sign * int(to_date or 0)
    figures.points[("outstanding", "to_date")] += int(to_date or 0)


def cohort_cells_get(*, month_start: datetime, month_end: datetime, tz) -> list[dict]:
    """For the month [month_start, month_end): each monthly enrollment cohort up to it, its
    size and how many of its members made a purchase, not fully refunded by the month's
    end, in the month. One grouped query."""
    refunded_by_end = Coalesce(
        Subquery(
            Refund.objects.filter(purchase=OuterRef("pk"), created_at__lt=month_end)
            .values("purchase")
            .annotate(total=Sum("amount"))
            .values("total")
        ),
        Value(Decimal(0)),
    )
    # As in period_aggregates_get: only a purchase fully refunded today looks up its refunds.
    buyers = (
        Purchase.objects.filter(occurred_at__gte=month_start, occurred_at__lt=month_end)
        .annotate(refunded=refunded_by_end)
        .filter(
            Q(amount__gt=F("refunded_amount") + Value(Decimal(CENT)))
            | Q(amount__gt=F("refunded") + Value(Decimal(CENT)))
        )
        .values("member_id")
    )
    return list(
        Member.objects.filter(enrolled_at__lt=month_end)
        .annotate(cohort=TruncMonth("enrolled_at", tzinfo=tz, output_field=DateField()))
        .values("cohort")
        .annotate(members=Count("id"), active=Count("id", filter=Q(id__in=buyers)))
        .order_by("cohort")
    )


# Stored snapshots.


def kpi_snapshot_list(
    *,
    granularity: str,
    first: date,
    last: date,
    tier: Tier | None = None,
    shop: Shop | None = None,
    segment: Segment | None = None,
) -> QuerySet[KpiSnapshot]:
    """Snapshots of the periods overlapping the days first..last, oldest first: of all
    members, of one tier, of one shop or of one segment. A segment has a snapshot only for
    the periods it had members on the first day of."""
    if tier is not None:
        scope = Q(breakdown=KpiSnapshot.Breakdown.TIER, tier=tier)
    elif shop is not None:
        scope = Q(breakdown=KpiSnapshot.Breakdown.SHOP, shop=shop)
    elif segment is not None:
        scope = Q(breakdown=KpiSnapshot.Breakdown.SEGMENT, segment=segment)
    else:
        scope = Q(breakdown=KpiSnapshot.Breakdown.ALL)
    return (
        KpiSnapshot.objects.filter(
            scope, granularity=granularity, period_start__lte=last, period_end__gt=first
        )
        .select_related("tier", "shop", "segment")
        .order_by("period_start")
    )


def kpi_segment_snapshot_list(*, granularity: str, first: date, last: date):
    """The snapshots of every segment in the periods overlapping first..last, oldest
    first, with their segment: the dashboard's retention and churn per segment."""
    return (
        KpiSnapshot.objects.filter(
            breakdown=KpiSnapshot.Breakdown.SEGMENT,
            granularity=granularity,
            period_start__lte=last,
            period_end__gt=first,
        )
        .select_related("segment")
        .order_by("period_start", "segment__name")
    )


def cohort_matrix_get(*, first: date, last: date) -> list[dict]:
    """The cohorts enrolled in the months first..last, each with its size and its share
    active in each month since, oldest cohort first."""
    return _cohort_rows(
        CohortCell.objects.filter(cohort__gte=first.replace(day=1), cohort__lte=last)
    )


def cohort_list(*, first: date, last: date) -> QuerySet:
    """One row `{"cohort": …}` per cohort enrolled in the months first..last: what the API
    pages through; `cohort_rows_get` fills a page in."""
    return (
        CohortCell.objects.filter(cohort__gte=first.replace(day=1), cohort__lte=last)
        .values("cohort")
        .distinct()
    )


def cohort_rows_get(*, cohorts: list[date]) -> list[dict]:
    """The rows of `cohort_matrix_get` for these cohorts, oldest first."""
    return _cohort_rows(CohortCell.objects.filter(cohort__in=cohorts))


def _cohort_rows(cells: QuerySet) -> list[dict]:
    matrix: dict[date, dict] = {}
    for cell in cells.order_by("cohort", "month"):
        row = matrix.setdefault(cell.cohort, {"cohort": cell.cohort, "members": 0, "months": []})
        row["members"] = cell.members
        row["months"].append(
            {
                "month": cell.month,
                "offset": (cell.month.year - cell.cohort.year) * 12
                + cell.month.month
                - cell.cohort.month,
                "active": cell.active,
                "retention_rate": rate(cell.active, cell.members),
            }
        )
    return list(matrix.values())


def member_lifetime_value_get(*, member: Member) -> dict:
    """A member's historical value: net revenue (purchases minus refunds) since enrollment."""
    purchases = Purchase.objects.filter(member=member).aggregate(
        count=Count("id"), amount=Coalesce(Sum("amount"), Value(Decimal(0)))
    )
    refunds = Refund.objects.filter(purchase__member=member).aggregate(
        amount=Coalesce(Sum("amount"), Value(Decimal(0)))
    )
    return {
        "purchases": purchases["count"],
        "purchase_amount": _decimal(purchases["amount"]),
        "refund_amount": _decimal(refunds["amount"]),
        "net_revenue": _decimal(purchases["amount"]) - _decimal(refunds["amount"]),
    }


def member_lifetime_value_annotation():
    """Net revenue per member, for annotating a Member queryset (the admin's list)."""
    purchased = (
        Purchase.objects.filter(member=OuterRef("pk"))
        .values("member")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    refunded = (
        Refund.objects.filter(purchase__member=OuterRef("pk"))
        .values("purchase__member")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(purchased), Value(Decimal(0))) - Coalesce(
        Subquery(refunded), Value(Decimal(0))
    )


TWO_PLACES = Decimal("0.01")


def rate(numerator, denominator) -> Decimal | None:
    """numerator ÷ denominator × 100 with two decimals; None without a (positive)
    denominator."""
    if not denominator or denominator <= 0:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(TWO_PLACES)


def ratio(numerator, denominator) -> Decimal | None:
    if not denominator or denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(TWO_PLACES)


def referral_kpis_get(*, first, last, tz) -> dict:
    """Referral figures of the days first..last (both included, in the program's time zone):
    members enrolled with a referral code in those days, referrals decided in them by
    outcome, and the referral bonus points given in them (referrer and friend together).
    Two grouped queries."""
    from datetime import datetime, time, timedelta

    from django.db.models import Count, Sum

    from rewards.models import EarnAward, Referral

    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    enrolled = Referral.objects.filter(created_at__gte=start, created_at__lt=end).count()
    decided = dict(
        Referral.objects.filter(resolved_at__gte=start, resolved_at__lt=end)
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    points = EarnAward.objects.filter(
        source=EarnAward.Source.REFERRAL, awarded_at__gte=start, awarded_at__lt=end
    ).aggregate(points=Sum("points"))["points"]
    return {
        "from": first,
        "to": last,
        "referrals": enrolled,
        "rewarded": decided.get(Referral.Status.REWARDED, 0),
        "capped": decided.get(Referral.Status.CAPPED, 0),
        "void": decided.get(Referral.Status.VOID, 0),
        "points": points or 0,
    }


def segment_activity_get(
    *, start: datetime, end: datetime, window: timedelta, start_day
) -> dict[int, tuple[int, int, int, int]]:
    """Per segment, of its members on the period's first day (entered on or before it, not
    left by it): (members, active at start, active at end, active at both), with activity
    as in period_aggregates_get. Only segments with members then."""
    from members.models import SegmentMembership

    params = {
        "start": _moment(start),
        "end": _moment(end),
        "start_w": _moment(start - window),
        "end_w": _moment(end - window),
        "day": start_day,
    }

    def qualifies(refunded: str) -> str:
        return f"""(p.refunded_amount = 0 OR p.refunded_amount + {CENT} < p.amount
                OR p.amount - COALESCE({refunded}, 0) > {CENT})"""

    rows = _rows(
        f"""WITH refunds AS (
                SELECT purchase_id,
                    SUM(CASE WHEN created_at <= %(start)s THEN amount ELSE 0 END) AS by_start,
                    SUM(amount) AS by_end
                FROM {_table(Refund)} WHERE created_at <= %(end)s GROUP BY purchase_id),
            per_member AS (
                SELECT p.member_id,
                    MAX(CASE WHEN p.occurred_at > %(start_w)s AND p.occurred_at <= %(start)s
                        AND {qualifies("r.by_start")} THEN 1 ELSE 0 END) AS at_start,
                    MAX(CASE WHEN p.occurred_at > %(end_w)s AND p.occurred_at <= %(end)s
                        AND {qualifies("r.by_end")} THEN 1 ELSE 0 END) AS at_end
                FROM {_table(Purchase)} p LEFT JOIN refunds r ON r.purchase_id = p.id
                WHERE p.occurred_at > %(start_w)s AND p.occurred_at <= %(end)s
                GROUP BY p.member_id),
            seg AS (
                SELECT segment_id, member_id FROM {_table(SegmentMembership)}
                WHERE entered_on <= %(day)s AND (left_on IS NULL OR left_on > %(day)s))
        SELECT seg.segment_id, COUNT(*), SUM(COALESCE(m.at_start, 0)),
            SUM(COALESCE(m.at_end, 0)), SUM(COALESCE(m.at_start * m.at_end, 0))
        FROM seg LEFT JOIN per_member m ON m.member_id = seg.member_id
        GROUP BY seg.segment_id""",
        params,
    )
    return {row[0]: tuple(int(v or 0) for v in row[1:]) for row in rows}
