from collections import defaultdict
from datetime import datetime

from django.db.models import QuerySet

from members.models import Member
from rewards.errors import MemberNotFound
from rewards.models import LedgerEntry, PointLot, Program


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
