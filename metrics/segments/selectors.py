"""Every segment field for every member, set-based, and which members meet conditions.

The fields (members.segments.FIELDS), as of a day D in the program's time zone:

- Purchases count as in the predictions (metrics.predictions.inputs): occurred by the end
  of D, not fully refunded by refunds created by then, valued net of those refunds.
- days_since_last_purchase: D minus the day of the last purchase; purchases_in_365d and
  spend_in_365d: purchases (orders, not days) and their net value on days D − 364 … D;
  shop: the shop of the last purchase (the highest id on ties).
- tier: the rank of the member's tier (1 = entry tier); points_available: the balance;
  points_expiring_30d: remaining points of lots, not pending, expiring within 30 days of
  the end of D; days_since_enrolled and birthday_month from the member.
- language: the language the member reads, their own or else the program's default (as
  their e-mails are written, rewards.services.messages), so every member has one; held as
  its position in members.segments.LANGUAGE_CODES.
- p_alive and predicted_clv_12m: the last converged fit's scores.
- RFM quintiles among members with a purchase: recency (days since the last purchase,
  fewer is better), frequency (purchase days) and monetary (net spend), each scored
  1 + floor(5 × (rank − 1) / n) with the rank ascending from worst, ties taking the
  lowest rank ("min"), so equal members always share a score. rfm_score = 100 R + 10 F + M.

A field without a value (no purchase yet, no prediction, no tier, no birthday) is null,
and a null meets no condition, not even `ne`.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection
from django.db.models import Count, F, Sum
from scipy.stats import rankdata

from members.models import Member
from members.segments import FIELDS, LANGUAGE_CODES
from metrics.models import MemberPrediction
from metrics.predictions.inputs import day_end, purchase_days_sql
from metrics.selectors import CENT
from rewards.models import MemberTier, PointLot, Purchase, Refund

NULL = np.nan


def _quintile(values: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """1 … 5 for the finite values, NaN for the others."""
    scores = np.full(len(values), NULL)
    known = np.isfinite(values)
    n = int(known.sum())
    if n:
        ranked = values[known] if higher_is_better else -values[known]
        ranks = rankdata(ranked, method="min")
        scores[known] = 1 + np.floor(5 * (ranks - 1) / n)
    return scores


def segment_fields_get(*, day: date, tz, default_language: str) -> dict[str, np.ndarray]:
    """Every field of members.segments.FIELDS for every member not erased, as arrays
    aligned on "member_id" (ascending), floats with NaN for null. `default_language`: the
    program's, for members who chose none."""
    members = list(
        Member.objects.exclude(status=Member.Status.ERASED)
        .order_by("pk")
        .values_list("pk", "points_available", "enrolled_at", "birth_date", "language")
    )
    n = len(members)
    ids = np.array([row[0] for row in members], dtype=np.int64)
    position = {member_id: i for i, member_id in enumerate(ids.tolist())}
    fields = {
        name: np.full(n, NULL)
        for name in (
            "days_since_last_purchase",
            "purchases_in_365d",
            "spend_in_365d",
            "tier",
            "points_available",
            "points_expiring_30d",
            "days_since_enrolled",
            "birthday_month",
            "shop",
            "language",
            "p_alive",
            "predicted_clv_12m",
        )
    }
    fields["member_id"] = ids
    if not n:
        for name in ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_score"):
            fields[name] = np.zeros(0)
        return fields
    fields["points_available"] = np.array([row[1] for row in members], dtype=float)
    fields["days_since_enrolled"] = np.array(
        [(day - row[2].astimezone(tz).date()).days for row in members], dtype=float
    )
    fields["birthday_month"] = np.array(
        [row[3].month if row[3] else NULL for row in members], dtype=float
    )
    fields["language"] = np.array(
        [_language_position(row[4] or default_language) for row in members], dtype=float
    )

    def put(name: str, rows) -> None:
        column = fields[name]
        for member_id, value in rows:
            i = position.get(member_id)
            if i is not None and value is not None:
                column[i] = float(value)

    # Purchase days: recency, frequency and monetary of all time.
    days_sql, params = purchase_days_sql(as_of=day, tz=tz)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT member_id, MAX(day), COUNT(*), SUM(spend)
                FROM ({days_sql}) d GROUP BY member_id""",
            params,
        )
        all_time = cursor.fetchall()
    last_days = np.full(n, NULL)
    frequency = np.full(n, NULL)
    monetary = np.full(n, NULL)
    for member_id, last, count, spend in all_time:
        i = position.get(member_id)
        if i is None:
            continue
        last_days[i] = (day - date.fromisoformat(str(last)[:10])).days
        frequency[i] = count
        monetary[i] = float(spend)
    fields["days_since_last_purchase"] = last_days

    # Orders and spend in the last 365 days, and the shop of the last purchase.
    end = day_end(day, tz)
    counted = _counted_purchases(end=end)
    recent = counted.filter(occurred_at__gte=day_end(day - timedelta(days=365), tz))
    sums = list(
        recent.values("member_id")
        .annotate(orders=Count("pk"), spend=Sum("net"))
        .values_list("member_id", "orders", "spend")
        .order_by()
    )
    put("purchases_in_365d", ((m, orders) for m, orders, _ in sums))
    put("spend_in_365d", ((m, spend) for m, _, spend in sums))
    fields["purchases_in_365d"][np.isfinite(last_days) & np.isnan(fields["purchases_in_365d"])] = 0
    fields["spend_in_365d"][np.isfinite(last_days) & np.isnan(fields["spend_in_365d"])] = 0
    put("shop", _last_shops(counted))

    put(
        "tier",
        MemberTier.objects.filter(tier__isnull=False).values_list("member_id", "tier__rank"),
    )
    expiring = {}
    for member_id, remaining in PointLot.objects.filter(
        is_pending=False,
        remaining__gt=0,
        expires_at__gt=end - timedelta(days=1),
        expires_at__lte=end + timedelta(days=30),
    ).values_list("member_id", "remaining"):
        expiring[member_id] = expiring.get(member_id, 0) + remaining
    fields["points_expiring_30d"] = np.zeros(n)
    put("points_expiring_30d", expiring.items())
    put("p_alive", MemberPrediction.objects.values_list("member_id", "p_alive"))
    put(
        "predicted_clv_12m",
        MemberPrediction.objects.values_list("member_id", "predicted_clv_12m"),
    )

    recency = _quintile(last_days, higher_is_better=False)
    freq = _quintile(frequency, higher_is_better=True)
    money = _quintile(monetary, higher_is_better=True)
    fields["rfm_recency"], fields["rfm_frequency"], fields["rfm_monetary"] = recency, freq, money
    fields["rfm_score"] = 100 * recency + 10 * freq + money
    return fields


def _language_position(code: str) -> float:
    # A code the program no longer speaks (settings changed) meets no condition.
    return float(LANGUAGE_CODES.index(code)) if code in LANGUAGE_CODES else NULL


def _counted_purchases(*, end: datetime):
    from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
    from django.db.models.functions import Coalesce

    money = DecimalField(max_digits=18, decimal_places=4)
    refunded = (
        Refund.objects.filter(purchase=OuterRef("pk"), created_at__lt=end)
        .values("purchase")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        Purchase.objects.filter(occurred_at__lt=end)
        .annotate(refunded=Coalesce(Subquery(refunded, output_field=money), Value(Decimal(0))))
        .annotate(net=F("amount") - F("refunded"))
        .filter(net__gt=Value(Decimal(CENT)))
    )


def _last_shops(counted) -> list[tuple[int, int]]:
    """(member_id, shop_id) of each member's last counted purchase (highest id on ties),
    in one grouped query."""
    sql, params = (
        counted.values_list("member_id", "occurred_at", "pk", "shop_id").order_by().query
    ).sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH c (member_id, occurred_at, id, shop_id) AS ({sql}),
                l AS (SELECT member_id, MAX(occurred_at) AS at FROM c GROUP BY member_id),
                x AS (SELECT c.member_id, MAX(c.id) AS id FROM c
                      JOIN l ON l.member_id = c.member_id AND l.at = c.occurred_at
                      GROUP BY c.member_id)
            SELECT c.member_id, c.shop_id FROM c JOIN x ON x.id = c.id""",
            params,
        )
        return cursor.fetchall()


def _compare(column: np.ndarray, op: str, value) -> np.ndarray:
    known = np.isfinite(column)
    if op == "in":
        return known & np.isin(column, [float(v) for v in value])
    target = float(value)
    with np.errstate(invalid="ignore"):
        result = {
            "eq": column == target,
            "ne": column != target,
            "lt": column < target,
            "lte": column <= target,
            "gt": column > target,
            "gte": column >= target,
        }[op]
    return known & result


def segment_member_ids(*, conditions: list[dict], fields: dict[str, np.ndarray]) -> np.ndarray:
    """The ids of the members meeting every (validated) condition."""
    chosen = np.ones(len(fields["member_id"]), dtype=bool)
    for condition in conditions:
        name, value = condition["field"], condition["value"]
        if FIELDS[name].kind == "language":  # compared by position, as the column holds them
            value = (
                [LANGUAGE_CODES.index(v) for v in value]
                if isinstance(value, list)
                else LANGUAGE_CODES.index(value)
            )
        chosen &= _compare(fields[name], condition["op"], value)
    return fields["member_id"][chosen]


def segment_list():
    """Every segment with its current member count, built-in ones last."""
    from django.db.models import Count, Q

    from members.models import Segment

    return Segment.objects.annotate(
        member_count=Count("memberships", filter=Q(memberships__left_on__isnull=True))
    ).order_by("is_builtin", "name")


def segment_get(*, segment_id: int):
    from metrics.errors import SegmentNotFound

    if not 0 < segment_id < 2**63:  # beyond a bigint the database would raise
        raise SegmentNotFound()
    segment = segment_list().filter(pk=segment_id).first()
    if segment is None:
        raise SegmentNotFound()
    return segment


def segment_member_list(*, segment):
    """The segment's current members, as memberships with their member."""
    from members.models import SegmentMembership

    return SegmentMembership.objects.filter(segment=segment, left_on__isnull=True).select_related(
        "member"
    )


def segment_preview_count(*, conditions: list[dict], as_of=None) -> int:
    """How many members meet the (validated) conditions now, writing nothing: the admin's
    live count while staff edit a segment."""
    from django.utils import timezone

    from rewards.selectors import program_get

    program = program_get()
    day = (as_of or timezone.now()).astimezone(program.tz).date()
    fields = segment_fields_get(day=day, tz=program.tz, default_language=program.default_language)
    return len(segment_member_ids(conditions=conditions, fields=fields))
