"""The models' inputs, read set-based from purchases and refunds.

A purchase counts if it occurred on or before the fit's day (in the program's time zone)
and refunds created by the end of that day do not cover it (metrics.selectors.CENT). Its
value is its amount net of those refunds. Purchases on the same day are one purchase
(their values add up), as in the papers: x, t_x and T are counted in whole days.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from metrics.selectors import CENT
from rewards.models import Purchase, Refund

logger = logging.getLogger(__name__)

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


def holdout_actuals_get(*, calibration_end: date, as_of: date, tz) -> dict[int, int]:
    """Purchase days per member after `calibration_end`, up to the end of `as_of`."""
    days_sql, params = purchase_days_sql(
        as_of=as_of, tz=tz, since=calibration_end + timedelta(days=1)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT member_id, COUNT(*) FROM ({days_sql}) d GROUP BY member_id", params)
        return dict(cursor.fetchall())


@dataclass
class FitInputs:
    """What a fit reads: the summary as of the fit's day and, for the holdout check, the
    summary as of the calibration end with each of its members' purchase days after it."""

    summary: PurchaseSummary
    calibration: PurchaseSummary | None = None
    holdout_actual: np.ndarray | None = None  # float, one per calibration member


def fit_inputs_get(*, as_of: date, tz, calibration_end: date | None = None) -> FitInputs:
    """The summaries and holdout actuals a fit needs, exactly as `purchase_summary_get`
    and `holdout_actuals_get` give them: on PostgreSQL in one pass over the purchases
    (tests/metrics/test_prediction_inputs_sql.py holds the two equal), elsewhere by
    those three queries."""
    if connection.vendor == "postgresql":
        inputs = _fit_inputs_one_pass(as_of=as_of, tz=tz, calibration_end=calibration_end)
        if inputs is not None:
            return inputs
    return _fit_inputs_by_summaries(as_of=as_of, tz=tz, calibration_end=calibration_end)


def _fit_inputs_by_summaries(*, as_of: date, tz, calibration_end: date | None) -> FitInputs:
    summary = purchase_summary_get(as_of=as_of, tz=tz)
    if calibration_end is None:
        return FitInputs(summary)
    calibration = purchase_summary_get(as_of=calibration_end, tz=tz)
    actuals = holdout_actuals_get(calibration_end=calibration_end, as_of=as_of, tz=tz)
    actual = np.array([actuals.get(int(m), 0) for m in calibration.member_ids], dtype=float)
    return FitInputs(summary, calibration, actual)


# Money is summed in float8 counts of the amounts' smallest unit (0.0001): whole numbers,
# so the sums are exact, as numeric's are, and a fraction of numeric's work. An amount of
# k units converts exactly (round(amount::float8 · 10⁴) = k) below 2**51 units, and sums
# stay exact below 2**53; so a member whose purchases add up to 2**50 units (112 billion
# in the currency) or more sends the whole read to the numeric queries. Refunds stay within
# their purchase (the purchase_refunds_within_amount constraint), so they are covered too.
UNITS = 10 ** Purchase._meta.get_field("amount").decimal_places
EXACT_UNITS = 2.0**50

# The one-pass query's output columns: name, PostgreSQL type, expression over `firsts`.
# `spend` is the member's net value on a day counted at the fit's day, `held_spend` on a
# day counted at the calibration end (refunds created by then); null when not counted.
_ONE_PASS_COLUMNS = [
    ("member_id", "int8", "member_id"),
    ("purchased", "float8", "SUM(purchased)"),
    ("days", "int8", "COUNT(spend)"),
    ("since_first", "int4", "COALESCE(%(as_of)s - MIN(first_day), 0)"),
    ("since_last", "int4", "COALESCE(%(as_of)s - MAX(day) FILTER (WHERE spend IS NOT NULL), 0)"),
    ("total", "float8", "COALESCE(SUM(spend), 0)"),
    ("repeat", "float8", "COALESCE(SUM(spend) FILTER (WHERE day > first_day), 0)"),
    ("held_days", "int8", "COUNT(held_spend)"),
    ("held_since_first", "int4", "COALESCE(%(calibration_end)s - MIN(held_first_day), 0)"),
    (
        "held_since_last",
        "int4",
        "COALESCE(%(calibration_end)s - MAX(day) FILTER (WHERE held_spend IS NOT NULL), 0)",
    ),
    ("held_total", "float8", "COALESCE(SUM(held_spend), 0)"),
    ("held_repeat", "float8", "COALESCE(SUM(held_spend) FILTER (WHERE day > held_first_day), 0)"),
    ("days_after", "int8", "COUNT(*) FILTER (WHERE after_cut)"),
]
_BINARY = {"int8": ">i8", "int4": ">i4", "float8": ">f8"}


def _one_pass_sql() -> str:
    """Per member, in one scan of the purchases and refunds: the purchase days as of the
    fit's day and as of the calibration end (`_purchase_days_sql_joined`'s rules at both
    cut-offs), the days after the calibration end, and each summary's first day (a window
    over the member's days, where `purchase_summary_get` joins them to a regrouping)."""
    purchase, refund = Purchase._meta.db_table, Refund._meta.db_table
    counted = f"> {float(Decimal(CENT) * UNITS)}"

    def units(amount: str) -> str:
        return f"round({amount}::float8 * {UNITS})"

    select = ",\n            ".join(
        f"({expression})::{kind}" for _, kind, expression in _ONE_PASS_COLUMNS
    )
    return f"""
        WITH purchase_net AS (
            SELECT p.member_id, (p.occurred_at AT TIME ZONE %(tz)s)::date AS day,
                p.occurred_at < %(cut)s AS before_cut, {units("p.amount")} AS amount,
                {units("p.amount")} - COALESCE(r.by_end, 0) AS net,
                {units("p.amount")} - COALESCE(r.by_cut, 0) AS net_at_cut
            FROM {purchase} AS p
            LEFT JOIN (
                SELECT purchase_id, SUM({units("amount")}) AS by_end,
                    COALESCE(SUM({units("amount")}) FILTER (WHERE created_at < %(cut)s), 0)
                        AS by_cut
                FROM {refund} WHERE created_at < %(end)s GROUP BY purchase_id
            ) AS r ON r.purchase_id = p.id
            WHERE p.occurred_at < %(end)s
        ),
        days AS (
            SELECT member_id, day, SUM(amount) AS purchased,
                SUM(net) FILTER (WHERE net {counted}) AS spend,
                SUM(net_at_cut) FILTER (WHERE before_cut AND net_at_cut {counted}) AS held_spend,
                bool_or(NOT before_cut AND net {counted}) AS after_cut
            FROM purchase_net GROUP BY member_id, day
        ),
        firsts AS (
            SELECT days.*,
                MIN(day) FILTER (WHERE spend IS NOT NULL) OVER member AS first_day,
                MIN(day) FILTER (WHERE held_spend IS NOT NULL) OVER member AS held_first_day
            FROM days WINDOW member AS (PARTITION BY member_id)
        )
        SELECT {select}
        FROM firsts GROUP BY member_id ORDER BY member_id"""


def _copy_binary(sql: str, params: dict, columns: list[tuple[str, str, str]]) -> np.ndarray:
    """The rows of `sql` as a numpy record array, by COPY in PostgreSQL's binary format:
    no Python object per value. Every column must be non-null and of a fixed width, so
    each row is a field count and a (length, value) pair per column."""
    fields = [("count", ">i2")]
    for name, kind, _ in columns:
        fields += [(f"{name}_length", ">i4"), (name, _BINARY[kind])]
    row = np.dtype(fields)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
            # PostgreSQL sends a message per row: gathered in one buffer, not a million
            # small objects.
            data = bytearray()
            for block in copy:
                data += block
    # An 11-byte signature, flags and a header extension length (0), the rows, and a
    # two-byte trailer.
    header, trailer = 19, 2
    rows, rest = divmod(len(data) - header - trailer, row.itemsize)
    if rest or data[:11] != b"PGCOPY\n\xff\r\n\x00":
        raise ValueError("COPY's binary output does not have the expected row layout.")
    return np.frombuffer(data, dtype=row, offset=header, count=rows)


def _fit_inputs_one_pass(*, as_of: date, tz, calibration_end: date | None) -> FitInputs | None:
    """None when some member's purchases add up past the exact float8 range."""
    cut = as_of if calibration_end is None else calibration_end
    params = {
        "tz": str(tz),
        "end": day_end(as_of, tz),
        "cut": day_end(cut, tz),
        "as_of": as_of,
        "calibration_end": cut,
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A million members' purchase days are grouped twice: with the default 4 MB
            # the sorts and hashes spill to disk. For this transaction only.
            # https://www.postgresql.org/docs/current/runtime-config-resource.html#GUC-WORK-MEM
            cursor.execute(
                "SELECT set_config('work_mem', %s, true)", [settings.PREDICTIONS_WORK_MEM]
            )
            # A member's purchase days are nearly as many as their purchases, so hashing
            # them saves no rows and spills, and the window needs them sorted by member
            # anyway: one sort by member and day serves both groupings and the window.
            # Parallel workers picked the hashing plan (45 s for 10M purchases against 29 s)
            # and gained a tenth at best on two cores; JIT took seconds to compile it.
            cursor.execute(
                "SELECT set_config('enable_hashagg', 'off', true), "
                "set_config('max_parallel_workers_per_gather', '0', true), "
                "set_config('jit', 'off', true)"
            )
        rows = _copy_binary(_one_pass_sql(), params, _ONE_PASS_COLUMNS)
    if len(rows) and rows["purchased"].max() >= EXACT_UNITS:
        logger.warning("Predictions as of %s: money past float8's exact range; numeric.", as_of)
        return None
    summary = _summary_of(rows, prefix="")
    if calibration_end is None:
        return FitInputs(summary)
    held = rows["held_days"] > 0
    return FitInputs(
        summary, _summary_of(rows, prefix="held_"), rows["days_after"][held].astype(float)
    )


def _summary_of(rows: np.ndarray, *, prefix: str) -> PurchaseSummary:
    chosen = rows[f"{prefix}days"] > 0

    def column(name: str, *, dtype=float) -> np.ndarray:
        # Column by column: a selection of the whole record array would copy every field.
        return rows[name][chosen].astype(dtype)

    x = column(f"{prefix}days") - 1
    since_first = column(f"{prefix}since_first")
    # Whole units over a power of ten: the float nearest the decimal sum, as float(Decimal).
    repeat_total = column(f"{prefix}repeat") / UNITS
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat_mean = np.where(x > 0, repeat_total / np.maximum(x, 1), 0.0)
    return PurchaseSummary(
        member_ids=column("member_id", dtype=np.int64),
        x=x,
        t_x=since_first - column(f"{prefix}since_last"),
        T=since_first,
        repeat_spend=repeat_mean,
        total_spend=column(f"{prefix}total") / UNITS,
    )
