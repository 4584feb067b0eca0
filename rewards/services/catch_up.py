"""Bringing members' points up to an as-of time, for the nightly expire and release jobs
(rewards/jobs.py): one member at a time (`member_nightly_catch_up`), or a batch of
members at once, set-based, for the common case (`members_nightly_catch_up`)."""

from collections import Counter
from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django.db.models import Max, Min, Q, Sum
from django.db.models.functions import Coalesce

from loyalty_engine.db import durable_write
from loyalty_engine.events.outbox import events_bulk_emit
from members.models import Member
from rewards import ledger_words
from rewards.models import LedgerEntry, LotMovement, PointLot, Redemption
from rewards.services.ledger import (
    BALANCE_FIELDS,
    Actor,
    _expiry_words,
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
    # Plain rows and per-member sums, not model instances: building (and parsing the
    # timestamps of) thousands of lots per batch would cost more than the statements.
    members = list(
        Member.objects.select_for_update()
        .filter(pk__in=member_ids)
        .order_by("pk")
        .values_list("id", *BALANCE_FIELDS, named=True)
    )
    # member_catch_up's steps, release then expire, per member: a pending lot whose
    # returns window has passed becomes available first, so if it is also due it expires
    # from the available points; a due lot still in its window expires from pending.
    releasable = Q(is_pending=True, available_at__lte=as_of)
    due = Q(expires_at__lte=as_of)
    due_from_pending = due & Q(is_pending=True, available_at__gt=as_of)
    work = {
        row["member_id"]: row
        for row in PointLot.objects.filter(member_id__in=member_ids, remaining__gt=0)
        .filter(due | releasable)
        .values("member_id")
        .annotate(
            released=Coalesce(Sum("remaining", filter=releasable), 0),
            expired=Coalesce(Sum("remaining", filter=due), 0),
            expired_from_pending=Coalesce(Sum("remaining", filter=due_from_pending), 0),
            first_earned=Min("earned_at", filter=due),
            last_earned=Max("earned_at", filter=due),
        )
        .order_by()
    }
    holding = [member.id for member in members if member.points_held]
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
    balances: list[tuple[int, int, int]] = []
    released: list[int] = []
    expired: list[tuple[int, int, str]] = []
    for member in members:
        if member.id in stale_holds or member.points_owed:
            one_by_one.append(member.id)
            continue
        lots = work.get(member.id)
        if lots is None:
            continue  # a redemption caught it up before we had the lock
        available = (
            member.points_available
            + lots["released"]
            - (lots["expired"] - lots["expired_from_pending"])
        )
        pending = member.points_pending - lots["released"] - lots["expired_from_pending"]
        if available < 0 or pending < 0:
            one_by_one.append(member.id)
            continue
        if lots["released"]:
            released.append(member.id)
        if lots["expired"]:
            # The reason only reads the span of earning dates of the due lots.
            span = [_Earned(lots["first_earned"]), _Earned(lots["last_earned"])]
            expired.append((member.id, lots["expired"], _expiry_words(span, lots["expired"])))
        balances.append((member.id, available, pending))
        before = {field: getattr(member, field) for field in BALANCE_FIELDS}
        after = {**before, "points_available": available, "points_pending": pending}
        outcome.update(_outcome(before, after))
        outcome["items"] += 1

    if released:
        PointLot.objects.filter(member_id__in=released, remaining__gt=0).filter(releasable).update(
            is_pending=False
        )
    if expired:
        _expiries_write(expired, as_of=as_of)
        _expiry_events_write(expired, members=members, balances=balances, as_of=as_of)
    if balances:
        _balances_write(balances)
    return outcome, one_by_one


def _expiry_events_write(expired, *, members, balances, as_of: datetime) -> None:
    """The points.expired event of each expiry entry, set-based: one insert."""
    rows = {member.id: member for member in members}
    after = {pk: (available, pending) for pk, available, pending in balances}
    events = []
    for member_id, points, words in expired:
        row = rows[member_id]
        available, pending = after[member_id]
        balance = {
            "available": available,
            "pending": pending,
            "held": row.points_held,
            "owed": row.points_owed,
            "lifetime_earned": row.lifetime_earned,
        }
        events.append(
            {
                "type": "points.expired",
                "member_id": member_id,
                "occurred_at": as_of,
                "data": {
                    "points": -points,
                    "reason": ledger_words.words_in_english(words),
                    "reference": "expiry",
                    "balance": balance,
                },
            }
        )
    events_bulk_emit(events)


_ENTRY_LINKS = ["purchase_id", "refund_id", "redemption_id", "actor_shop_id", "actor_user_id"]


class _Earned(NamedTuple):
    earned_at: datetime


def _expiries_write(expired: list[tuple[int, int, str]], *, as_of: datetime) -> None:
    """One expiry entry per (member, points, reason), one movement per due lot, and the
    due lots emptied: three statements however many members. The movements and the update
    find the due lots by the same condition as the batch's sums: the member locks keep
    them unchanged in between."""
    actor = Actor.system()
    entries = LedgerEntry.objects.bulk_create(
        LedgerEntry(
            member_id=member_id,
            kind=LedgerEntry.Kind.EXPIRE,
            points=-points,
            **words.fields(),
            reference="expiry",
            actor_kind=actor.kind,
            effective_at=as_of,
            created_at=as_of,
            # Given, so that building each entry skips looking up the links' defaults.
            **dict.fromkeys(_ENTRY_LINKS),
        )
        for member_id, points, words in expired
    )
    _movements_insert(entry_ids=[entry.pk for entry in entries], as_of=as_of)
    PointLot.objects.filter(
        member_id__in=[member_id for member_id, _, _ in expired],
        remaining__gt=0,
        expires_at__lte=as_of,
    ).update(remaining=0)


def _movements_insert(*, entry_ids: list[int], as_of: datetime) -> None:
    """INSERT ... SELECT of each entry's member's due lots, in spending order: the ORM has
    no INSERT ... SELECT, and thousands of LotMovement instances per batch would cost more
    than the insert. Ids are integers from bulk_create, written as literals."""
    quote = connection.ops.quote_name
    movement, lot, entry = (model._meta for model in (LotMovement, PointLot, LedgerEntry))

    def col(meta, name: str) -> str:
        return quote(meta.get_field(name).column)

    ids = ", ".join(str(int(pk)) for pk in entry_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(movement.db_table)} "
            f"({col(movement, 'entry')}, {col(movement, 'lot')}, {col(movement, 'points')}) "
            f"SELECT e.{col(entry, 'id')}, l.{col(lot, 'id')}, -l.{col(lot, 'remaining')} "
            f"FROM {quote(entry.db_table)} e JOIN {quote(lot.db_table)} l "
            f"ON l.{col(lot, 'member')} = e.{col(entry, 'member')} "
            f"WHERE e.{col(entry, 'id')} IN ({ids}) AND l.{col(lot, 'remaining')} > 0 "
            f"AND l.{col(lot, 'expires_at')} <= %s "
            f"ORDER BY e.{col(entry, 'id')}, l.{col(lot, 'expires_at')}, "
            f"l.{col(lot, 'earned_at')}, l.{col(lot, 'id')}",
            [connection.ops.adapt_datetimefield_value(as_of)],
        )


def _balances_write(balances: list[tuple[int, int, int]]) -> None:
    """Set (member id, available, pending) in one UPDATE ... FROM a VALUES list, which
    PostgreSQL and SQLite (3.33 and later) both run; the ORM's bulk_update would build a
    CASE expression per member, slower to compile than the update is to run. The values
    are integers we computed, written as literals, so no parameter limit applies."""
    quote = connection.ops.quote_name
    table = quote(Member._meta.db_table)
    column = {name: quote(Member._meta.get_field(name).column) for name in BALANCE_FIELDS}
    rows = ", ".join(
        f"({int(pk)}, {int(available)}, {int(pending)})" for pk, available, pending in balances
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH balance (id, available, pending) AS (VALUES {rows}) "
            f"UPDATE {table} SET {column['points_available']} = balance.available, "
            f"{column['points_pending']} = balance.pending "
            f"FROM balance WHERE {table}.{quote(Member._meta.pk.column)} = balance.id"
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
