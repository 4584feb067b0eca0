"""Writes of the metrics app: KPI snapshots and cohort cells recomputed from the data, and
survey answers posted by shops."""

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from loyalty_engine.db import durable_write
from loyalty_engine.events.outbox import event_emit
from loyalty_engine.fields import rfc3339
from members.errors import MemberNotFound
from members.models import Member, Shop
from members.services import member_follow_merges
from metrics.models import CohortCell, Feedback, KpiSnapshot
from metrics.periods import (
    Granularity,
    Period,
    period_before,
    period_containing,
    period_count,
    period_list,
)
from metrics.selectors import (
    TWO_PLACES,
    PeriodFigures,
    cohort_cells_get,
    entry_tier_id,
    period_aggregates_get,
    rate,
    ratio,
    segment_activity_get,
)
from rewards.models import JobRun, LedgerEntry, Program, Purchase, Tier
from rewards.selectors import program_get
from rewards.services.activities import activity_for_feedback_record
from rewards.services.idempotency import WriteResult, replay_or_none, write_or_replay

logger = logging.getLogger(__name__)

# Numbers stored on a snapshot, in the order of the API and the CSV.
SNAPSHOT_FIGURES = [
    "active_start",
    "active_end",
    "new_active",
    "retained",
    "retention_rate",
    "churn_rate",
    "purchases",
    "purchasing_members",
    "repeat_members",
    "repeat_purchase_rate",
    "purchase_frequency",
    "purchase_amount",
    "refund_amount",
    "average_order_value",
    "net_revenue",
    "customer_lifetime_value",
    "members_total",
    "members_enrolled",
    "tier_distribution",
    "points_issued",
    "points_redeemed",
    "points_expired",
    "points_issued_to_date",
    "points_redeemed_to_date",
    "points_expired_to_date",
    "points_outstanding",
    "points_liability",
    "redemption_rate",
    "breakage_rate",
    "burn_earn_ratio",
    "nps",
    "nps_responses",
    "csat",
    "csat_responses",
]
MEMBER_FIGURES = {
    "active_start",
    "active_end",
    "new_active",
    "retained",
    "retention_rate",
    "churn_rate",
    "customer_lifetime_value",
    "members_total",
    "members_enrolled",
    "tier_distribution",
    "points_outstanding",
    "points_liability",
}


def _money(value: Decimal) -> Decimal:
    return value.quantize(TWO_PLACES)


def snapshot_figures(
    figures: PeriodFigures, *, program: Program, tiers: dict[int, Tier], members: bool
) -> dict:
    """The stored figures of one group from its sums. `members`: the group is a set of
    members (all, a tier), so member figures apply; for a shop they are null."""
    s, e, retained = figures.active_start, figures.active_end, figures.retained
    points = figures.points
    issued, redeemed, expired = (points[(c, "period")] for c in ("issued", "redeemed", "expired"))
    issued_to_date = points[("issued", "to_date")]
    outstanding = points[("outstanding", "to_date")]
    responses = figures.nps_responses
    values = {
        "active_start": s,
        "active_end": e,
        "new_active": e - retained,
        "retained": retained,
        "retention_rate": rate(retained, s),
        "churn_rate": rate(s - retained, s),
        "purchases": figures.purchases,
        "purchasing_members": figures.purchasing_members,
        "repeat_members": figures.repeat_members,
        "repeat_purchase_rate": rate(figures.repeat_members, figures.purchasing_members),
        "purchase_frequency": ratio(figures.purchases, figures.purchasing_members),
        "purchase_amount": figures.purchase_amount,
        "refund_amount": figures.refund_amount,
        "average_order_value": (
            _money(figures.purchase_amount / figures.purchases) if figures.purchases else None
        ),
        "net_revenue": figures.purchase_amount - figures.refund_amount,
        "customer_lifetime_value": (
            _money(figures.revenue_to_date / figures.members_total)
            if figures.members_total
            else None
        ),
        "members_total": figures.members_total,
        "members_enrolled": figures.members_enrolled,
        "tier_distribution": tier_distribution(figures.tier_end, tiers),
        "points_issued": issued,
        "points_redeemed": redeemed,
        "points_expired": expired,
        "points_issued_to_date": issued_to_date,
        "points_redeemed_to_date": points[("redeemed", "to_date")],
        "points_expired_to_date": points[("expired", "to_date")],
        "points_outstanding": outstanding,
        "points_liability": _money(outstanding * program.point_value),
        "redemption_rate": rate(points[("redeemed", "to_date")], issued_to_date),
        "breakage_rate": rate(points[("expired", "to_date")], issued_to_date),
        "burn_earn_ratio": rate(redeemed, issued),
        "nps": (
            (Decimal(figures.nps_promoters - figures.nps_detractors) * 100 / responses).quantize(
                TWO_PLACES
            )
            if responses
            else None
        ),
        "nps_responses": responses,
        "csat": rate(figures.csat_satisfied, figures.csat_responses),
        "csat_responses": figures.csat_responses,
    }
    if not members:
        values.update(dict.fromkeys(MEMBER_FIGURES))
    return values


def tier_distribution(counts: dict, tiers: dict[int, Tier]) -> list[dict]:
    """[{tier, members}] by rank, lowest first; members without a tier come first as
    tier null. Every tier is listed, with 0 members if it has none."""
    rows = []
    if counts.get(None):
        rows.append({"tier": None, "members": counts[None]})
    for tier in sorted(tiers.values(), key=lambda t: t.rank):
        rows.append({"tier": tier.name, "members": counts.get(tier.pk, 0)})
    return rows


def kpi_period_recompute(*, period: Period, computed_at: datetime | None = None) -> int:
    """Recompute and store every snapshot of one period (all members, each tier, each
    shop, each segment with members on its first day) and, for a month, its cohort
    cells. The period's rows are overwritten whole, so recomputing with no new data stores
    the same numbers. Returns the snapshots written."""
    return _period_write(period=period, computed_at=computed_at or timezone.now())


@durable_write
def _period_write(*, period: Period, computed_at: datetime) -> int:
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        # One snapshot of the data for all the period's queries, so its figures agree with
        # each other even while purchases keep coming in.
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # The per-member aggregates hash a million groups at scale: with the default
            # 4 MB they spill to disk. For this transaction only.
            # https://www.postgresql.org/docs/current/runtime-config-resource.html#GUC-WORK-MEM
            cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.KPIS_WORK_MEM])
            # JIT-compiling these wide aggregates took seconds per query at 10M purchases,
            # more than it saved.
            cursor.execute("SELECT set_config('jit', 'off', true)")
    program = program_get()
    tz = program.tz
    start, end = period.bounds(tz)
    aggregates = period_aggregates_get(
        start=start,
        end=end,
        window=timedelta(days=program.activity_window_days),
        entry_tier=entry_tier_id(),
    )
    tiers = Tier.objects.in_bulk()
    common = {
        "granularity": period.granularity,
        "period_start": period.start,
        "period_end": period.end,
        "computed_at": computed_at,
    }
    total = PeriodFigures()
    rows = []
    for figures in aggregates.by_tier.values():
        total.add(figures)
    rows.append(
        KpiSnapshot(
            **common,
            breakdown=KpiSnapshot.Breakdown.ALL,
            group_key="all",
            **snapshot_figures(total, program=program, tiers=tiers, members=True),
        )
    )
    for tier_id in [None, *tiers]:
        figures = aggregates.by_tier.get(tier_id)
        if tier_id is None and figures is None:
            continue  # "no tier" is listed only when some members have none
        rows.append(
            KpiSnapshot(
                **common,
                breakdown=KpiSnapshot.Breakdown.TIER,
                group_key=f"tier:{tier_id or 'none'}",
                tier_id=tier_id,
                **snapshot_figures(
                    figures or PeriodFigures(), program=program, tiers=tiers, members=True
                ),
            )
        )
    for shop_id in Shop.objects.order_by("pk").values_list("pk", flat=True):
        rows.append(
            KpiSnapshot(
                **common,
                breakdown=KpiSnapshot.Breakdown.SHOP,
                group_key=f"shop:{shop_id}",
                shop_id=shop_id,
                **snapshot_figures(
                    aggregates.by_shop.get(shop_id) or PeriodFigures(),
                    program=program,
                    tiers=tiers,
                    members=False,
                ),
            )
        )
    # Retention and churn of each segment's members on the period's first day.
    for segment_id, (members, s, e, kept) in segment_activity_get(
        start=start,
        end=end,
        window=timedelta(days=program.activity_window_days),
        start_day=period.start,
    ).items():
        rows.append(
            KpiSnapshot(
                **common,
                breakdown=KpiSnapshot.Breakdown.SEGMENT,
                group_key=f"segment:{segment_id}",
                segment_id=segment_id,
                active_start=s,
                active_end=e,
                new_active=e - kept,
                retained=kept,
                retention_rate=rate(kept, s),
                churn_rate=rate(s - kept, s),
                members_total=members,
            )
        )
    KpiSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["granularity", "period_start", "group_key"],
        update_fields=[
            "period_end",
            "breakdown",
            "tier",
            "shop",
            "segment",
            "computed_at",
            *SNAPSHOT_FIGURES,
        ],
    )
    KpiSnapshot.objects.filter(granularity=period.granularity, period_start=period.start).exclude(
        group_key__in=[row.group_key for row in rows]
    ).delete()
    if period.granularity == Granularity.MONTH:
        _cohorts_write(period=period, start=start, end=end, tz=tz, computed_at=computed_at)
    return len(rows)


def _cohorts_write(*, period: Period, start, end, tz, computed_at: datetime) -> None:
    cells = [
        CohortCell(
            cohort=row["cohort"],
            month=period.start,
            members=row["members"],
            active=row["active"],
            computed_at=computed_at,
        )
        for row in cohort_cells_get(month_start=start, month_end=end, tz=tz)
    ]
    CohortCell.objects.bulk_create(
        cells,
        update_conflicts=True,
        unique_fields=["cohort", "month"],
        update_fields=["members", "active", "computed_at"],
    )
    CohortCell.objects.filter(month=period.start).exclude(
        cohort__in=[cell.cohort for cell in cells]
    ).delete()


def kpis_recompute(
    *,
    first: date,
    last: date,
    granularities: Iterable[str] = Granularity.ALL,
    on_period: Callable[[Period, int], None] | None = None,
) -> Counter:
    """Recompute every period of each granularity overlapping the days first..last, one
    transaction per period. Returns counts of periods and snapshots written."""
    outcome = Counter()
    computed_at = timezone.now()
    for granularity in granularities:
        for period in period_list(granularity, first, last):
            written = kpi_period_recompute(period=period, computed_at=computed_at)
            outcome["periods"] += 1
            outcome["snapshots"] += written
            if on_period:
                on_period(period, written)
    return outcome


def kpis_period_total(*, first: date, last: date, granularities: Iterable[str]) -> int:
    return sum(period_count(g, first, last) for g in granularities)


def kpis_nightly_periods(*, as_of: datetime, since: datetime | None) -> list[Period]:
    """The periods the nightly job recomputes as of `as_of`: the current and the previous
    period of each granularity, and every later one back to the earliest business date of
    data written since `since` (a purchase dated in the past), within
    KPIS_NIGHTLY_MAX_DAYS; older periods are left for `manage.py recompute_kpis`."""
    program = program_get()
    today = as_of.astimezone(program.tz).date()
    oldest_allowed = today - timedelta(days=settings.KPIS_NIGHTLY_MAX_DAYS)
    changed = kpis_changed_since(since=since, tz=program.tz) if since else None
    periods = []
    for granularity in Granularity.ALL:
        current = period_containing(granularity, today)
        first = period_before(granularity, current.start)
        if changed is not None and changed < first:
            if changed < oldest_allowed:
                logger.warning(
                    "KPIs: data dated %s was written since the last run; the nightly job "
                    "recomputes back to %s only. Run manage.py recompute_kpis --from %s.",
                    changed,
                    oldest_allowed,
                    changed,
                )
            first = max(changed, oldest_allowed)
        periods.extend(period_list(granularity, first, today))
    return periods


def kpis_changed_since(*, since: datetime, tz) -> date | None:
    """The earliest local date that data written after `since` is dated at. Refunds, tier
    changes and enrollments are dated when they are written; purchases, ledger entries and
    survey answers may carry an earlier business date."""
    dates = [
        Purchase.objects.filter(created_at__gt=since).aggregate(at=Min("occurred_at"))["at"],
        LedgerEntry.objects.filter(created_at__gt=since).aggregate(at=Min("effective_at"))["at"],
        Feedback.objects.filter(created_at__gt=since).aggregate(at=Min("answered_at"))["at"],
    ]
    dates = [moment for moment in dates if moment is not None]
    return min(dates).astimezone(tz).date() if dates else None


def kpis_nightly_recompute(*, after: int, upto: int | None, as_of: datetime) -> Counter:
    """The `kpis` nightly job (process_chunk: it runs as one chunk, the id range is
    unused). Recomputes the periods kpis_nightly_periods names, since the last run that
    succeeded. Safe to run twice: it overwrites the same snapshots with the same numbers."""
    last = (
        JobRun.objects.filter(job="kpis", status=JobRun.Status.SUCCEEDED, as_of__lt=as_of)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )
    outcome = Counter()
    computed_at = timezone.now()
    for period in kpis_nightly_periods(as_of=as_of, since=last):
        outcome["snapshots"] += kpi_period_recompute(period=period, computed_at=computed_at)
        outcome["periods"] += 1
    outcome["items"] = outcome["periods"]
    return outcome


# Survey answers.


def feedback_record(
    *,
    shop: Shop,
    member_external_id: str,
    kind: str,
    score: int,
    comment: str,
    answered_at: datetime | None,
    feedback_id: str | None,
    request_hash: str,
) -> WriteResult:
    """Store a member's survey answer. With a feedback_id, a repeat of the same request
    replays the stored answer and a different request under the same id raises
    IdempotencyConflict. Raises MemberNotFound. The score's scale is checked by
    the API and held by a constraint."""

    def find_existing():
        if not feedback_id:
            return None
        return Feedback.objects.filter(shop=shop, feedback_id=feedback_id).first()

    replay = replay_or_none(find_existing(), request_hash)
    if replay:
        return replay

    def write() -> WriteResult:
        return _feedback_write(
            shop=shop,
            member_external_id=member_external_id,
            kind=kind,
            score=score,
            comment=comment,
            answered_at=answered_at,
            feedback_id=feedback_id,
            request_hash=request_hash,
        )

    return write_or_replay(write, find_existing=find_existing, request_hash=request_hash)


@transaction.atomic(durable=True)
def _feedback_write(
    *, shop, member_external_id, kind, score, comment, answered_at, feedback_id, request_hash
) -> WriteResult:
    member = Member.objects.filter(external_id=member_external_id).first()
    if member is None:
        raise MemberNotFound()
    member = member_follow_merges(member)
    now = timezone.now()
    feedback = Feedback(
        shop=shop,
        member=member,
        feedback_id=feedback_id or "",
        kind=kind,
        score=score,
        comment=comment,
        answered_at=answered_at or now,
        created_at=now,
        request_hash=request_hash,
    )
    feedback.response = feedback_response(feedback)
    feedback.save()
    feedback.response = {**feedback.response, "id": feedback.pk}
    feedback.save(update_fields=["response"])
    # An activity type may give points for the answer (once per period, by its caps).
    activity_for_feedback_record(
        feedback_id=feedback.pk,
        shop=shop,
        member=member,
        kind=kind,
        answered_at=feedback.answered_at,
        as_of=now,
    )
    event_emit(
        type="feedback.received",
        member=member,
        data={"kind": kind, "score": score, "shop": shop.name},
        occurred_at=feedback.answered_at,
    )
    return WriteResult(record=feedback, replayed=False)


def feedback_response(feedback: Feedback) -> dict:
    return {
        "id": feedback.pk,
        "feedback_id": feedback.feedback_id or None,
        "member": feedback.member.external_id,
        "kind": feedback.kind,
        "score": feedback.score,
        "comment": feedback.comment,
        "answered_at": rfc3339(feedback.answered_at),
    }
