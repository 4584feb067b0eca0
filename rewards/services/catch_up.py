"""Bringing members' points up to an as-of time, for the nightly expire and release jobs
(rewards/jobs.py): one member at a time (`member_nightly_catch_up`), or a batch of
members at once, set-based, for the common case (`members_nightly_catch_up`)."""

from collections import Counter
from datetime import datetime

from django.db.models import F, Q

from loyalty_engine.db import durable_write
from members.models import Member
from rewards.models import LedgerEntry, LotMovement, PointLot, Redemption
from rewards.services.ledger import (
    BALANCE_FIELDS,
    Actor,
    _expiry_reason,
    _is_due,
    balance_save,
    member_catch_up,
    member_lock,
)


@durable_write
def member_nightly_catch_up(*, member_id: int, as_of: datetime) -> Counter:
    """Run `member_catch_up` for one member in its own short transaction under the
    member's row lock, so a concurrent redemption waits for it (or it for the redemption)
    and never spends a point this expires: stale holds are released, pending lots whose
    time has come become available, due lots expire in one entry, owed points are settled.

    Safe to run twice for the same `as_of`: the second run finds nothing due and writes
    nothing. Returns what changed, from the balance before and after (empty when
    nothing did): points expired, points returned from stale holds, owed points settled,
    and points that left pending.
    """
    member = member_lock(member_id=member_id)
    before = _balance(member)
    member_catch_up(member, as_of=as_of, actor=Actor.system())
    after = _balance(member)
    if after == before:
        return Counter()
    balance_save(member)
    return _outcome(before, after)


@durable_write
def members_nightly_catch_up(
    *, member_ids: list[int], as_of: datetime
) -> tuple[Counter, list[int]]:
    """Do for a batch of members, in one short transaction and a constant number of
    queries, what `member_nightly_catch_up` does for each, as far as it is plain work:
    pending lots whose time has come become available, then due lots expire, one entry
    per member with the reason, reference and times `lots_expire` writes.

    The members are locked first, in id order (every other writer locks one member at a
    time, so this order cannot deadlock with them), and their lots are re-selected under
    the lock, so a point a concurrent redemption spent first is not expired, and no point
    this expires can be spent: the same guarantee as one member at a time.

    Members whose catch-up needs more (a stale hold to release, owed points to settle,
    both of which must run in `member_catch_up`'s order) or whose cached balance would go
    negative (a drifted cache, which the database would refuse for the whole batch) are
    left untouched and returned, for the caller to process one by one with
    `member_nightly_catch_up`. Returns the counts of what changed, as that function's
    (plus "items", the members changed), and the ids left to process one by one.
    """
    members = list(
        Member.objects.select_for_update()
        .filter(pk__in=member_ids)
        .order_by("pk")
        .only("pk", *BALANCE_FIELDS)
    )
    lots_by_member: dict[int, list[PointLot]] = {}
    lots = (
        PointLot.objects.filter(member_id__in=member_ids, remaining__gt=0)
        .filter(Q(expires_at__lte=as_of) | Q(is_pending=True, available_at__lte=as_of))
        .order_by("member_id", F("expires_at").asc(nulls_last=True), "earned_at", "id")
        .only("member_id", "remaining", "is_pending", "available_at", "expires_at", "earned_at")
    )
    for lot in lots:
        lots_by_member.setdefault(lot.member_id, []).append(lot)
    holding = [member.pk for member in members if member.points_held]
    stale_holds = (
        set(
            Redemption.objects.filter(
                member_id__in=holding,
                status=Redemption.Status.HELD,
                hold_expires_at__lte=as_of,
            ).values_list("member_id", flat=True)
        )
        if holding
        else set()
    )

    one_by_one: list[int] = []
    outcome = Counter()
    changed: list[Member] = []
    released: list[PointLot] = []
    expired: list[tuple[Member, list[PointLot]]] = []
    for member in members:
        mine = lots_by_member.get(member.pk, [])
        if member.pk in stale_holds or member.points_owed:
            one_by_one.append(member.pk)
            continue
        if not mine:
            continue  # a redemption caught it up before we had the lock
        before = _balance(member)
        available, pending = member.points_available, member.points_pending
        # The same steps, in the same order, as member_catch_up: release, then expire.
        now_available = [lot for lot in mine if lot.is_pending and lot.available_at <= as_of]
        for lot in now_available:
            pending -= lot.remaining
            available += lot.remaining
        still_pending = {lot.pk for lot in mine if lot.is_pending} - {
            lot.pk for lot in now_available
        }
        due = [lot for lot in mine if _is_due(lot, as_of)]
        for lot in due:
            if lot.pk in still_pending:
                pending -= lot.remaining
            else:
                available -= lot.remaining
        if available < 0 or pending < 0:
            one_by_one.append(member.pk)
            continue
        member.points_available, member.points_pending = available, pending
        for lot in now_available:
            lot.is_pending = False
        released.extend(now_available)
        if due:
            expired.append((member, due))
        changed.append(member)
        outcome.update(_outcome(before, _balance(member)))
        outcome["items"] += 1

    if released:
        PointLot.objects.filter(pk__in=[lot.pk for lot in released]).update(is_pending=False)
    if expired:
        _expiries_write(expired, as_of=as_of)
    if changed:
        Member.objects.bulk_update(changed, ["points_available", "points_pending"])
    return outcome, one_by_one


def _expiries_write(expired: list[tuple[Member, list[PointLot]]], *, as_of: datetime) -> None:
    """One expiry entry per member, one movement per lot, and the lots emptied: three
    statements however many members (the lots are locked through their members)."""
    actor = Actor.system()
    entries = LedgerEntry.objects.bulk_create(
        LedgerEntry(
            member_id=member.pk,
            kind=LedgerEntry.Kind.EXPIRE,
            points=-sum(lot.remaining for lot in due),
            reason=_expiry_reason(due, sum(lot.remaining for lot in due)),
            reference="expiry",
            actor_kind=actor.kind,
            effective_at=as_of,
            created_at=as_of,
        )
        for member, due in expired
    )
    LotMovement.objects.bulk_create(
        LotMovement(entry=entry, lot_id=lot.pk, points=-lot.remaining)
        for entry, (_, due) in zip(entries, expired, strict=True)
        for lot in due
    )
    PointLot.objects.filter(pk__in=[lot.pk for _, due in expired for lot in due]).update(
        remaining=0
    )


def _balance(member: Member) -> dict[str, int]:
    return {field: getattr(member, field) for field in BALANCE_FIELDS}


def _outcome(before: dict[str, int], after: dict[str, int]) -> Counter:
    from_holds = before["points_held"] - after["points_held"]
    settled = before["points_owed"] - after["points_owed"]
    owned_change = (after["points_available"] + after["points_pending"]) - (
        before["points_available"] + before["points_pending"]
    )
    # Catching up moves owned points in exactly three ways: released holds give points
    # back, expiry and settling take them; so what expired is what is left unexplained.
    expired = from_holds - settled - owned_change
    outcome = Counter(
        points_expired=expired,
        points_from_stale_holds=from_holds,
        points_settled=settled,
        points_no_longer_pending=before["points_pending"] - after["points_pending"],
    )
    return +outcome  # drops the zero counts
