from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Func, Sum
from django.utils import timezone
from django.utils.translation import ngettext

from loyalty_engine.db import durable_write
from members.errors import MemberErased
from members.models import Member
from rewards import ledger_words
from rewards.errors import AdjustmentLimitExceeded, InsufficientPoints
from rewards.models import LedgerEntry, Program, StaffAdjustmentLimit
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
    order. A staff user with a StaffAdjustmentLimit stays within it, per adjustment and per
    day in the program's time zone (added and removed points both count). Suspended members
    may be adjusted, erased ones not. Raises ValueError for a zero amount or an empty
    reason, AdjustmentLimitExceeded, MemberErased, InsufficientPoints."""
    if not points:
        raise ValueError("An adjustment must add or remove at least one point.")
    if not reason.strip():
        raise ValueError("An adjustment needs a reason.")
    as_of = as_of or timezone.now()
    actor = Actor.for_staff(staff_user) if staff_user else Actor.system()
    if staff_user is not None:
        # Locked before the member row (the fixed order), so one user's adjustments of
        # different members cannot both slip under the daily limit.
        limit = StaffAdjustmentLimit.objects.select_for_update().filter(user=staff_user).first()
        if limit is not None:
            adjustment_limit_check(limit, points=points, program=program_get(), as_of=as_of)
    member = member_lock(member_id=member.pk)
    if member.status == Member.Status.ERASED:
        raise MemberErased()
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
        words=ledger_words.adjusted(points=points),
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


def adjustment_limit_check(
    limit: StaffAdjustmentLimit, *, points: int, program: Program, as_of: datetime
) -> None:
    """Raise AdjustmentLimitExceeded if `points` more would take the limit's user over it."""
    size = abs(points)
    if limit.max_points_per_adjustment is not None and size > limit.max_points_per_adjustment:
        raise AdjustmentLimitExceeded(
            ngettext(
                "You may adjust at most %(points)s point at a time.",
                "You may adjust at most %(points)s points at a time.",
                limit.max_points_per_adjustment,
            )
            % {"points": limit.max_points_per_adjustment},
            extra={"max_points_per_adjustment": limit.max_points_per_adjustment},
        )
    if limit.max_points_per_day is None:
        return
    local = as_of.astimezone(program.tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    done = (
        LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.ADJUST,
            actor_user=limit.user,
            created_at__gte=day_start,
            created_at__lt=day_start + timedelta(days=1),
        ).aggregate(total=Sum(Func("points", function="ABS")))["total"]
        or 0
    )
    if done + size > limit.max_points_per_day:
        left = max(limit.max_points_per_day - done, 0)
        raise AdjustmentLimitExceeded(
            ngettext(
                "You may adjust at most %(points)s points a day; %(left)s is left today.",
                "You may adjust at most %(points)s points a day; %(left)s are left today.",
                left,
            )
            % {"points": limit.max_points_per_day, "left": left},
            extra={"max_points_per_day": limit.max_points_per_day, "left_today": left},
        )
