from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, F, Min, QuerySet, Sum

from members.models import Member
from rewards.errors import MemberNotFound
from rewards.models import JobRun, LedgerEntry, PointLot, Program, Redemption


def program_get() -> Program:
    """The program's settings (created with defaults on first use)."""
    program, _ = Program.objects.get_or_create(pk=1)
    return program


def member_get(*, external_id: str) -> Member:
    try:
        return Member.objects.get(external_id=external_id)
    except Member.DoesNotExist:
        raise MemberNotFound() from None


def member_expiring_list(*, member: Member) -> list[dict]:
    """Points still in the member's lots, grouped by expiry instant, soonest first.

    Lots that never expire are left out. Points whose expiry has passed but that the
    nightly expiry has not processed yet are listed too, with their (past) date, so the
    groups always add up to the balance.
    """
    by_expiry: dict[datetime, int] = defaultdict(int)
    lots = PointLot.objects.filter(
        member=member, remaining__gt=0, expires_at__isnull=False
    ).values_list("expires_at", "remaining")
    for expires_at, remaining in lots:
        by_expiry[expires_at] += remaining
    return [{"points": points, "expires_at": at} for at, points in sorted(by_expiry.items())]


def member_balance_get(*, member: Member) -> dict:
    return {
        "available": member.points_available,
        "pending": member.points_pending,
        "held": member.points_held,
        "owed": member.points_owed,
        "lifetime_earned": member.lifetime_earned,
        "expiring": member_expiring_list(member=member),
    }


def ledger_entry_list(*, member: Member) -> QuerySet[LedgerEntry]:
    """The member's ledger, newest first."""
    return LedgerEntry.objects.filter(member=member).order_by("-id")


def expiry_due_member_id_list(
    *, as_of: datetime, after: int = 0, upto: int | None = None
) -> QuerySet[int]:
    """Ids of members with points left in lots whose expiry is at or before `as_of`, within
    `after < id <= upto`, distinct and ascending (index lot_open_spend_order)."""
    lots = PointLot.objects.filter(remaining__gt=0, expires_at__lte=as_of, member_id__gt=after)
    if upto is not None:
        lots = lots.filter(member_id__lte=upto)
    return lots.values_list("member_id", flat=True).distinct().order_by("member_id")


def release_due_member_id_list(
    *, as_of: datetime, after: int = 0, upto: int | None = None
) -> QuerySet[int]:
    """Ids of members with pending points whose returns window has passed by `as_of`, or
    with holds past their time limit, within `after < id <= upto`, distinct and ascending
    (indexes lot_pending_release and redemption_open_holds)."""
    lots = PointLot.objects.filter(
        is_pending=True, remaining__gt=0, available_at__lte=as_of, member_id__gt=after
    )
    holds = Redemption.objects.filter(
        status=Redemption.Status.HELD, hold_expires_at__lte=as_of, member_id__gt=after
    )
    if upto is not None:
        lots = lots.filter(member_id__lte=upto)
        holds = holds.filter(member_id__lte=upto)
    # UNION (not UNION ALL) removes the duplicates.
    return (
        lots.values_list("member_id", flat=True)
        .union(holds.values_list("member_id", flat=True))
        .order_by("member_id")
    )


EXPIRING_SOON_DAYS = 30


def expiring_soon_member_list(*, as_of: datetime, days: int = EXPIRING_SOON_DAYS) -> QuerySet:
    """Members with points that expire after `as_of` and within `days` of it: one row per
    member with `member_id`, `external_id`, `email`, `points` and `first_expiry`, soonest
    first. Points held for an open redemption are not in any lot, so not listed."""
    return (
        PointLot.objects.filter(
            remaining__gt=0,
            expires_at__gt=as_of,
            expires_at__lte=as_of + timedelta(days=days),
        )
        .values("member_id")
        .annotate(
            external_id=F("member__external_id"),
            email=F("member__email"),
            points=Sum("remaining"),
            first_expiry=Min("expires_at"),
        )
        .order_by("first_expiry", "member_id")
    )


def expiring_soon_totals(*, as_of: datetime, days: int = EXPIRING_SOON_DAYS) -> dict:
    """How many members and points expire in the `days` after `as_of`."""
    totals = PointLot.objects.filter(
        remaining__gt=0,
        expires_at__gt=as_of,
        expires_at__lte=as_of + timedelta(days=days),
    ).aggregate(members=Count("member_id", distinct=True), points=Sum("remaining"))
    return {
        "expiring_soon_days": days,
        "expiring_soon_members": totals["members"],
        "expiring_soon_points": totals["points"] or 0,
    }


def job_run_list(*, job: str | None = None) -> QuerySet[JobRun]:
    """Runs of the nightly jobs, newest first."""
    runs = JobRun.objects.order_by("-started_at", "-id")
    return runs.filter(job=job) if job else runs
