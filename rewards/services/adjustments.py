from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from loyalty_engine.db import durable_write
from members.models import Member
from rewards.errors import InsufficientPoints
from rewards.models import LedgerEntry
from rewards.selectors import program_get
from rewards.services.ledger import (
    Actor,
    balance_save,
    entry_write,
    lot_create,
    lots_move,
    lots_plan,
    member_catch_up,
    member_lock,
    spendable,
)


@durable_write
def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    staff_user: AbstractBaseUser | None = None,
    as_of: datetime | None = None,
) -> LedgerEntry:
    """A manual correction by staff, with a mandatory reason. Added points form a new lot
    that expires by the program's policy; removed points come out of the lots in spending
    order. Raises ValueError for a zero amount or an empty reason, InsufficientPoints."""
    if not points:
        raise ValueError("An adjustment must add or remove at least one point.")
    if not reason.strip():
        raise ValueError("An adjustment needs a reason.")
    as_of = as_of or timezone.now()
    actor = Actor.for_staff(staff_user) if staff_user else Actor.system()
    member = member_lock(member_id=member.pk)
    lots = spendable(member_catch_up(member, as_of=as_of, actor=actor))
    if points < 0 and member.points_available < -points:
        raise InsufficientPoints(extra={"available": member.points_available})
    entry = entry_write(
        member,
        kind=LedgerEntry.Kind.ADJUST,
        actor=actor,
        as_of=as_of,
        points=points,
        reason=reason.strip(),
        reference="adjustment",
    )
    if points > 0:
        lot_create(
            member,
            entry=entry,
            points=points,
            program=program_get(),
            earned_at=as_of,
            available_at=as_of,
            as_of=as_of,
        )
    else:
        lots_move(member, entry=entry, plan=lots_plan(lots, -points), sign=-1)
    balance_save(member)
    return entry
