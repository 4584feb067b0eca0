"""Merging a member who enrolled twice (the source) into the member who stays (the target).

Ledger entries are append-only and outlive an erasure, so their texts name members by id
(`#42`), never by external id.

What moves, each as ledger entries on both sides, so every member's ledger reconciles on
its own before and after (`verify_ledger`):
- open lots (available and pending): one `merge_out` entry on the source takes what is left
  of each; on the target one `merge_in` entry per lot creates a lot with the same points,
  earning date, availability and expiry (and the same purchase, so a later refund of that
  purchase takes its points back from the target);
- open holds: `merge_out` on the source gives the held points back to its lots (before they
  move); `merge_in` on the target takes them again from the moved lots and holds them; the
  hold then belongs to the target, which captures, voids or releases it as its own;
- owed points: `merge_out` ends them on the source, `merge_in` starts them on the target,
  which settles them at once from its available points if it can;
- purchases (with their refunds), vouchers and tier history now belong to the target (the
  tier counts the source's purchases from now on, and the target's tier is re-evaluated);
- the source's lifetime earned points count as the target's (kept on the MemberMerge row,
  which `verify_ledger` reads).

Captured redemptions, activities, referrals, awards and survey answers stay with the
source, as its history. A pending referral of the source (it enrolled with a friend's code)
is decided `merged` and pays nobody: the target was a customer already. A referral the
source made is paid, when due, to the target. The source is marked merged and its external
id names the target in the API from now on. A merge is recorded (MemberMerge, and the
source's audit trail), and cannot be undone.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty_engine.db import durable_write
from members.errors import MemberErased, MemberMerged
from members.models import Member
from rewards import ledger_words
from rewards.errors import MergeRefused
from rewards.models import (
    LedgerEntry,
    MemberMerge,
    PointLot,
    Purchase,
    Redemption,
    TierChange,
    Voucher,
)
from rewards.selectors import program_get
from rewards.services.ledger import (
    Actor,
    balance_save,
    entry_movements_undo,
    entry_write,
    lots_move,
    lots_open,
    lots_plan,
    member_catch_up,
    member_lock,
    spendable,
)
from rewards.services.referrals import referral_merge_decide
from rewards.services.tiers import tier_upgrade_check

Kind = LedgerEntry.Kind


def member_merge(
    *,
    source: Member,
    target: Member,
    reason: str,
    staff_user: AbstractBaseUser | None = None,
    as_of: datetime | None = None,
) -> MemberMerge:
    """Merge `source` into `target` (see the module's docstring), in one transaction with
    both members locked in id order. Raises ValueError for an empty reason, MergeRefused
    (the same member twice), MemberErased, MemberMerged (either was merged already)."""
    if not reason.strip():
        raise ValueError(_("Give a reason: it is kept with the merge."))
    if source.pk == target.pk:
        raise MergeRefused(_("A member cannot be merged into themselves."))
    return _member_merge(
        source_id=source.pk,
        target_id=target.pk,
        reason=reason.strip(),
        staff_user=staff_user,
        as_of=as_of or timezone.now(),
    )


@durable_write
def _member_merge(*, source_id, target_id, reason, staff_user, as_of) -> MemberMerge:
    locked = {pk: member_lock(member_id=pk) for pk in sorted((source_id, target_id))}
    source, target = locked[source_id], locked[target_id]
    for member in (source, target):
        if member.status == Member.Status.ERASED:
            raise MemberErased()
        if member.status == Member.Status.MERGED:
            raise MemberMerged()
    program = program_get()
    actor = Actor.for_staff(staff_user) if staff_user else Actor.system()
    reference = f"merge:{source.pk}->{target.pk}"
    # Both up to date first: stale holds released, due points made available or expired,
    # owed points settled where they can be.
    member_catch_up(source, as_of=as_of, actor=Actor.system())
    member_catch_up(target, as_of=as_of, actor=Actor.system())

    referral_merge_decide(referred=source, as_of=as_of)

    holds = list(
        Redemption.objects.filter(member=source, status=Redemption.Status.HELD).order_by(
            "created_at", "pk"
        )
    )
    for hold in holds:
        _hold_out(source, hold=hold, as_of=as_of, actor=actor, reference=reference, target=target)

    lots = list(
        PointLot.objects.filter(member=source, remaining__gt=0).order_by(
            "expires_at", "earned_at", "pk"
        )
    )
    # Taken before the move below empties the lots (lots_move updates them in memory too).
    left = {lot.pk: lot.remaining for lot in lots}
    moved_points = sum(lot.remaining for lot in lots)
    moved_pending = sum(lot.remaining for lot in lots if lot.is_pending)
    owed = source.points_owed
    if lots or owed:
        out = entry_write(
            source,
            kind=Kind.MERGE_OUT,
            actor=actor,
            as_of=as_of,
            points=-moved_points,
            owed_change=-owed,
            words=ledger_words.merged_out(points=moved_points, target=target.pk),
            reference=reference,
        )
        lots_move(source, entry=out, plan=[(lot, lot.remaining) for lot in lots], sign=-1)
    moved_lots = [
        _lot_in(
            target,
            lot=lot,
            points=left[lot.pk],
            as_of=as_of,
            actor=actor,
            reference=reference,
            source=source,
        )
        for lot in lots
    ]
    for hold in holds:
        _hold_in(
            target, hold=hold, moved_lots=moved_lots, as_of=as_of, actor=actor, reference=reference
        )
    if owed:
        entry_write(
            target,
            kind=Kind.MERGE_IN,
            actor=actor,
            as_of=as_of,
            owed_change=owed,
            words=ledger_words.owed_merged_in(points=owed, source=source.pk),
            reference=reference,
        )
    if target.points_owed:
        member_catch_up(target, as_of=as_of, actor=Actor.system())  # settles what it can

    purchases = Purchase.objects.filter(member=source).update(member=target)
    vouchers = Voucher.objects.filter(member=source).update(member=target)
    tier_changes = TierChange.objects.filter(member=source).update(member=target)
    tier = tier_upgrade_check(target, program=program, as_of=as_of).tier

    # What the source earned counts as the target's (lifetime-points milestones, and a later
    # refund of a moved purchase takes back from the target what the source earned).
    lifetime = source.lifetime_earned
    target.lifetime_earned += lifetime
    source.lifetime_earned = 0
    balance_save(source)
    balance_save(target)
    source.status = Member.Status.MERGED
    source.merged_into = target
    source._change_reason = f"Merged into member #{target.pk}: {reason}"
    source._history_user = staff_user
    source.save(update_fields=["status", "merged_into"])
    return MemberMerge.objects.create(
        source=source,
        target=target,
        reason=reason,
        staff_user=staff_user,
        merged_at=as_of,
        lifetime_moved=lifetime,
        moved={
            "lots": len(lots),
            "points": moved_points,
            "pending": moved_pending,
            "holds": len(holds),
            "held": sum(hold.points for hold in holds),
            "owed": owed,
            "purchases": purchases,
            "vouchers": vouchers,
            "tier_changes": tier_changes,
            "tier": tier.name if tier else None,
        },
    )


def _hold_out(source, *, hold: Redemption, as_of, actor, reference, target) -> None:
    """Give a hold's points back to the source's lots, so they move with the lots."""
    hold_entry = LedgerEntry.objects.get(
        redemption=hold, kind__in=[Kind.HOLD, Kind.MERGE_IN], member=source
    )
    entry = entry_write(
        source,
        kind=Kind.MERGE_OUT,
        actor=actor,
        as_of=as_of,
        points=hold.points,
        held_change=-hold.points,
        words=ledger_words.hold_merged_out(points=hold.points, target=target.pk),
        reference=reference,
        redemption=hold,
    )
    entry_movements_undo(source, original=hold_entry, entry=entry)


def _lot_in(target, *, lot: PointLot, points: int, as_of, actor, reference, source) -> PointLot:
    entry = entry_write(
        target,
        kind=Kind.MERGE_IN,
        actor=actor,
        as_of=as_of,
        effective_at=as_of,
        points=points,
        words=ledger_words.merged_in(points=points, source=source.pk),
        reference=reference,
    )
    moved = PointLot.objects.create(
        member=target,
        entry=entry,
        purchase_id=lot.purchase_id,
        points=points,
        remaining=points,
        earned_at=lot.earned_at,
        available_at=lot.available_at,
        is_pending=lot.is_pending,
        expires_at=lot.expires_at,
    )
    if moved.is_pending:
        target.points_pending += moved.points
    else:
        target.points_available += moved.points
    return moved


def _hold_in(target, *, hold: Redemption, moved_lots, as_of, actor, reference) -> None:
    """Hold the moved hold's points again on the target: from the lots that came with the
    merge first (the hold's points went back to them), then the target's own, in spending
    order."""
    moved_ids = {lot.pk for lot in moved_lots}
    own = [lot for lot in lots_open(target) if lot.pk not in moved_ids]
    plan = lots_plan(spendable(moved_lots) + spendable(own), hold.points)
    if sum(points for _, points in plan) != hold.points:
        raise AssertionError("a moved hold's points are not available on the target")
    entry = entry_write(
        target,
        kind=Kind.MERGE_IN,
        actor=actor,
        as_of=as_of,
        points=-hold.points,
        held_change=hold.points,
        words=ledger_words.hold_merged_in(points=hold.points),
        reference=reference,
        redemption=hold,
    )
    lots_move(target, entry=entry, plan=plan, sign=-1)
    Redemption.objects.filter(pk=hold.pk).update(member=target)
