"""Many members with lots, written straight into the tables in bulk and consistent with
the ledger's rules (verify_ledger passes): for the worker tests and bench/nightly_rss.py.

Each lot comes with the earn entry that created it; the member's cached balance is the sum
of its lots. Nothing here goes through the services, which would take minutes for a million
lots.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import transaction

from members.models import Member
from rewards.models import LedgerEntry, PointLot

POINTS_PER_LOT = 10


def members_with_lots_create(
    *,
    members: int,
    lots_per_member: int,
    earned_at: datetime,
    expires_at: datetime,
    prefix: str = "bulk",
    batch_members: int = 1000,
) -> int:
    """Create `members` members with `lots_per_member` lots each, earned at `earned_at` and
    expiring at `expires_at`. Returns the number of lots written. Memory stays bounded by
    `batch_members`."""
    written = 0
    for start in range(0, members, batch_members):
        count = min(batch_members, members - start)
        written += _batch_create(
            numbers=range(start, start + count),
            lots_per_member=lots_per_member,
            earned_at=earned_at,
            expires_at=expires_at,
            prefix=prefix,
        )
    return written


@transaction.atomic
def _batch_create(
    *,
    numbers: range,
    lots_per_member: int,
    earned_at: datetime,
    expires_at: datetime,
    prefix: str,
) -> int:
    balance = POINTS_PER_LOT * lots_per_member
    created = Member.objects.bulk_create(
        Member(
            external_id=f"{prefix}-{number:07d}",
            enrolled_at=earned_at,
            points_available=balance,
            lifetime_earned=balance,
        )
        for number in numbers
    )

    def slots() -> Iterator[tuple[Member, int]]:
        for member in created:
            for index in range(lots_per_member):
                yield member, index

    entries = LedgerEntry.objects.bulk_create(
        LedgerEntry(
            member=member,
            kind=LedgerEntry.Kind.EARN,
            points=POINTS_PER_LOT,
            reason=f"Earned {POINTS_PER_LOT} points (bulk data).",
            reference=f"bulk:{index}",
            actor_kind=LedgerEntry.Actor.SYSTEM,
            effective_at=earned_at + timedelta(seconds=index),
            created_at=earned_at + timedelta(seconds=index),
        )
        for member, index in slots()
    )
    PointLot.objects.bulk_create(
        PointLot(
            member_id=entry.member_id,
            entry=entry,
            points=POINTS_PER_LOT,
            remaining=POINTS_PER_LOT,
            earned_at=entry.effective_at,
            available_at=entry.effective_at,
            is_pending=False,
            expires_at=expires_at,
        )
        for entry in entries
    )
    return len(entries)
