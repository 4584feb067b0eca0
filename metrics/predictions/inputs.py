"""The models' inputs, read set-based from purchases and refunds.

A purchase counts if it occurred on or before the fit's day (in the program's time zone)
and refunds created by the end of that day do not cover it (metrics.selectors.CENT). Its
value is its amount net of those refunds. Purchases on the same day are one purchase
(their values add up), as in the papers: x, t_x and T are counted in whole days.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from metrics.selectors import CENT
from rewards.models import Purchase, Refund

DAYS_PER_WEEK = 7.0


@dataclass
class PurchaseSummary:
    """One row per member with a counted purchase, ordered by member id."""

    member_ids: np.ndarray  # int64
    x: np.ndarray  # repeat purchase days
    t_x: np.ndarray  # days from the first to the last purchase day
    T: np.ndarray  # days from the first purchase day to the fit's day
    repeat_spend: np.ndarray  # mean value of the repeat purchase days (0 when x = 0)
    total_spend: np.ndarray  # net value of all counted purchases

    def __len__(self) -> int:
        return len(self.member_ids)

    def weeks(self) -> tuple[np.ndarray, np.ndarray]:
        return self.t_x / DAYS_PER_WEEK, self.T / DAYS_PER_WEEK


def day_end(day: date, tz) -> datetime:
    """The first moment after `day` in the program's time zone."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def purchase_days_sql(*, as_of: date, tz, since: date | None = None) -> tuple[str, list]:
    """SQL (and params) of the purchase days: member_id, day, spend."""
    if connection.vendor == "postgresql":
        return _purchase_days_sql_joined(as_of=as_of, tz=tz, since=since)
    return _purchase_days_sql_orm(as_of=as_of, tz=tz, since=since)


def _purchase_days_sql_joined(*, as_of: date, tz, since: date | None) -> tuple[str, list]:
    """PostgreSQL: the refunds summed once per purchase and hash-joined, where the ORM's
    correlated subquery ran twice per purchase (20M index probes and a purchase scan in
    member order for 10M purchases: 170 s of a 1M-member fit). Equal to
    `_purchase_days_sql_orm` row for row (tests/metrics/test_prediction_inputs_sql.py)."""
    end = day_end(as_of, tz)
    purchase, refund = Purchase._meta.db_table, Refund._meta.db_table
    window, params = "", [str(tz), end, end]
    if since is not None:
        window = " AND p.occurred_at >= %s"
        params.append(day_end(since - timedelta(days=1), tz))
    params.append(Decimal(CENT))
    sql = f"""
        SELECT p.member_id, (p.occurred_at AT TIME ZONE %s)::date AS day,
            SUM(p.amount - COALESCE(r.total, 0)) AS spend
        FROM {purchase} AS p
        LEFT JOIN (
            SELECT purchase_id, SUM(amount) AS total FROM {refund}
            WHERE created_at < %s GROUP BY purchase_id
        ) AS r ON r.purchase_id = p.id
        WHERE p.occurred_at < %s{window} AND p.amount - COALESCE(r.total, 0) > %s
        GROUP BY 1, 2"""
    return sql, params


def _purchase_days_sql_orm(*, as_of: date, tz, since: date | None) -> tuple[str, list]:
    end = day_end(as_of, tz)
    money = DecimalField(max_digits=18, decimal_places=4)
    refunded = (
        Refund.objects.filter(purchase=OuterRef("pk"), created_at__lt=end)
        .values("purchase")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    purchases = Purchase.objects.filter(occurred_at__lt=end)
    if since is not None:
        purchases = purchases.filter(occurred_at__gte=day_end(since - timedelta(days=1), tz))
    days = (
        purchases.annotate(
            refunded=Coalesce(Subquery(refunded, output_field=money), Value(Decimal(0)))
        )
        .annotate(net=F("amount") - F("refunded"))
        .filter(net__gt=Value(Decimal(CENT)))
        .annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("member_id", "day")
        .annotate(spend=Sum("net"))
        .values_list("member_id", "day", "spend")
        .order_by()
    )
    sql, params = days.query.sql_with_params()
    return sql, list(params)


def _days(values, as_of: date) -> np.ndarray:
    """Days before `as_of`, from dates (PostgreSQL) or ISO text (SQLite)."""
    stamps = np.array([str(v)[:10] for v in values], dtype="datetime64[D]")
    return (np.datetime64(as_of, "D") - stamps).astype(np.int64)


def purchase_summary_get(*, as_of: date, tz) -> PurchaseSummary:
    """x, t_x, T and spend per member as of the end of `as_of`: one grouped query, a row
    per member, never a row per purchase in Python."""
    days_sql, params = purchase_days_sql(as_of=as_of, tz=tz)
    sql = f"""
        WITH d (member_id, day, spend) AS ({days_sql}),
        f AS (SELECT member_id, MIN(day) AS first_day FROM d GROUP BY member_id)
        SELECT d.member_id, COUNT(*) - 1, f.first_day, MAX(d.day), SUM(d.spend),
            SUM(CASE WHEN d.day > f.first_day THEN d.spend ELSE 0 END)
        FROM d JOIN f ON f.member_id = d.member_id
        GROUP BY d.member_id, f.first_day
        ORDER BY d.member_id"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        empty = np.zeros(0)
        return PurchaseSummary(np.zeros(0, dtype=np.int64), empty, empty, empty, empty, empty)
    member_ids, x, first, last, total, repeat = zip(*rows, strict=True)
    x = np.array(x, dtype=float)
    since_first = _days(first, as_of).astype(float)
    since_last = _days(last, as_of).astype(float)
    repeat_total = np.array([float(v or 0) for v in repeat])
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat_mean = np.where(x > 0, repeat_total / np.maximum(x, 1), 0.0)
    return PurchaseSummary(
        member_ids=np.array(member_ids, dtype=np.int64),
        x=x,
        t_x=since_first - since_last,
        T=since_first,
        repeat_spend=repeat_mean,
        total_spend=np.array([float(v or 0) for v in total]),
    )
