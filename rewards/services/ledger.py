"""The ledger core: entries, lots and the member's cached balance, moved together.

Every function here runs inside a write service's transaction with the member row
already locked (`member_lock`); all writes to a member's lots happen under that lock,
so lots need no locks of their own. Callers save the cache once with `balance_save`.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Sum

from loyalty_engine import i18n
from loyalty_engine.events.outbox import event_emit
from loyalty_engine.events.services import rfc3339
from loyalty_engine.rows import (
    Columns,
    RowInsert,
    RowUpdate,
    VendorCache,
    reserve_columns,
    reserved_add,
    row_fetch,
    rows_fetch,
    rows_fetch_together,
)
from members.models import Member, Shop
from members.services import member_follow_merges
from rewards import ledger_words
from rewards.errors import MemberNotFound
from rewards.models import LedgerEntry, LotMovement, PointLot, Program, Redemption
from rewards.program_flags import program_flags_sql
from rewards.services.expiry import lot_expiry_for, policy_expires_at

Kind = LedgerEntry.Kind


@dataclass(frozen=True)
class Actor:
    """Who moved the points: a shop, a staff user or a system job."""

    kind: str
    shop: Shop | None = None
    user: AbstractBaseUser | None = None

    @classmethod
    def for_shop(cls, shop: Shop) -> "Actor":
        return cls(kind=LedgerEntry.Actor.SHOP, shop=shop)

    @classmethod
    def for_staff(cls, user: AbstractBaseUser) -> "Actor":
        return cls(kind=LedgerEntry.Actor.STAFF, user=user)

    @classmethod
    def system(cls) -> "Actor":
        return cls(kind=LedgerEntry.Actor.SYSTEM)


BALANCE_FIELDS = [
    "points_available",
    "points_pending",
    "points_held",
    "points_owed",
    "lifetime_earned",
]


def member_lock(*, member_id: int) -> Member:
    """Lock the member row: the one lock that serializes every change to a member's points.
    In a request, what follows speaks the member's language (loyalty_engine.i18n)."""
    member = Member.objects.select_for_update().get(pk=member_id)
    i18n.speak_to(member)
    return member


def member_lock_by_external_id(external_id: str) -> Member:
    member = Member.objects.select_for_update().filter(external_id=external_id).first()
    if member is None:
        raise MemberNotFound()
    if member.merged_into_id:
        # The external id of a merged member names the member it was merged into.
        member = member_follow_merges(member, lock=True)
    i18n.speak_to(member)
    return member


def member_lock_with_program(
    external_id: str, *, reserve: tuple = (), spending: tuple[datetime, int] | None = None
) -> tuple[Member | None, Program | None]:
    """Lock the member by external id and read the program (as `program_for_purchase_get`,
    with `has_tiers`, `has_purchase_rules`, `has_milestones`) in one round trip: the two
    reads every purchase starts with. (None, None) when there is no such member or no
    program row yet: the caller falls back to the two separate reads, which create the
    program and raise what they raise. A merged member's external id is followed, locked,
    to the member it was merged into.

    `reserve`: models of which the write will insert a row; when pipelined, the same
    round trip numbers one of each (loyalty_engine.rows.reserve_columns).

    `spending` (as_of, points): the caller will spend `points` at `as_of` (a redemption).
    The lots that takes (`lots_for_spending`) are read in the same round trip, by a
    statement PostgreSQL runs once the lock is granted, and kept for the member's
    catch-up. They are dropped when something may change them first: a merge followed
    to another member, or holds to release."""
    query = _member_and_program_query.get()
    extra_sql, extra_params = reserve_columns(reserve)
    lock = (query.sql.format(reserve=extra_sql), [*query.params, *extra_params, external_id])
    if spending is None:
        row, lots_rows = row_fetch(*lock), None
    else:
        as_of, points = spending
        sql, _ = _lots_for_spending_by_external_id_query.get()
        # The points owed come from the member's row: the external id names it again.
        params = _lots_for_spending_params(
            external_id, as_of, SPENDING_PREFIX_LOTS, points=[external_id, points]
        )
        lock_rows, lots_rows = rows_fetch_together([lock, (sql, params)])
        row = lock_rows[0] if lock_rows else None
    if row is None:
        return None, None
    if extra_sql:
        reserved_add(reserve, row[len(row) - len(reserve) :])
    member = query.member_from(row)
    program = query.program_from(row)
    if member.merged_into_id:
        member = member_follow_merges(member, lock=True)
    elif lots_rows is not None and not member.points_held:
        member.lots_prefetched = (as_of, member.points_owed + points, _lots_from_rows(lots_rows))
    i18n.speak_to(member)
    return member, program


@dataclass(frozen=True)
class _MemberAndProgramQuery:
    sql: str  # with {reserve}: where reserve_columns go
    params: list
    member: Columns
    program: Columns

    def member_from(self, row) -> Member:
        return self.member.instance(row)

    def program_from(self, row) -> Program:
        program = self.program.instance(row)
        flags = row[self.program.end : self.program.end + 3]
        program.has_tiers, program.has_purchase_rules, program.has_milestones = map(bool, flags)
        return program


def _member_and_program_query_build() -> _MemberAndProgramQuery:
    """The columns come from the models' metadata, the values are parameters."""
    member = Columns.of(Member, "member")
    program = Columns.of(Program, "program", member.end)
    flags_sql, flags_params = program_flags_sql()
    lock = " FOR UPDATE OF member" if connection.features.has_select_for_update_of else ""
    sql = (
        f"SELECT {member.sql}, {program.sql}, {flags_sql}{{reserve}} "
        f"FROM {Member._meta.db_table} AS member "
        f"CROSS JOIN {Program._meta.db_table} AS program "
        f"WHERE program.id = 1 AND member.external_id = %s{lock}"
    )
    return _MemberAndProgramQuery(sql=sql, params=flags_params, member=member, program=program)


_member_and_program_query = VendorCache(_member_and_program_query_build)


def balance_save(member: Member) -> None:
    # A plain UPDATE, not Model.save(): no save signals, so the member's audit trail (staff
    # changes, django-simple-history) gets no row; the ledger is the record of every
    # balance change, and the trail would only repeat it, one row per movement.
    _balance_update.run(member.pk, [getattr(member, field) for field in BALANCE_FIELDS])


# Built once (issue 18): on every earn and redemption, compiling the update cost more CPU
# than sending it.
_balance_update = RowUpdate(Member, BALANCE_FIELDS)
# Entries and lots have no save signals (no audit trail: the ledger is the record).
_entry_insert = RowInsert(LedgerEntry)
_lot_insert = RowInsert(PointLot)
_lot_remaining_update = RowUpdate(PointLot, ["remaining"])
_movement_insert = RowInsert(LotMovement)


def lot_expires_at(*, program: Program, earned_at: datetime) -> datetime | None:
    """Expiry of points earned at `earned_at` under the program's expiry policy, before
    any activity (rewards.services.expiry has the policies)."""
    return policy_expires_at(program=program, earned_at=earned_at)


def entry_write(
    member: Member,
    *,
    kind: str,
    actor: Actor,
    as_of: datetime,
    words: ledger_words.Words,
    reason: str = "",
    points: int = 0,
    held_change: int = 0,
    owed_change: int = 0,
    reference: str = "",
    effective_at: datetime | None = None,
    **links,
) -> LedgerEntry:
    """Append one entry and apply its held and owed changes to the cached balance.
    Its `points` reach the cache through the lots it creates or moves. What it says is
    `words` (a message key and parameters, rendered when read); `reason` is only for words
    a person typed."""
    entry = _entry_insert.create(
        member=member,
        kind=kind,
        points=points,
        held_change=held_change,
        owed_change=owed_change,
        reason=reason,
        **words.fields(),
        reference=reference,
        actor_kind=actor.kind,
        actor_shop=actor.shop,
        actor_user=actor.user,
        effective_at=effective_at or as_of,
        created_at=as_of,
        **links,
    )
    member.points_held += held_change
    member.points_owed += owed_change
    _entry_event(member, entry, links)
    return entry


# The event each kind of entry emits, and the `source` it names. Releases of holds emit
# hold.voided or hold.released from `hold_release`, which knows which.
ENTRY_EVENTS = {
    Kind.EARN: ("points.earned", "purchase"),
    Kind.BONUS: ("points.earned", "bonus"),
    Kind.REDEEM: ("points.redeemed", None),
    Kind.HOLD: ("hold.created", None),
    Kind.CAPTURE: ("hold.captured", None),
    Kind.CANCEL: ("redemption.cancelled", None),
    Kind.REFUND: ("points.reversed", None),
    Kind.SETTLE: ("points.adjusted", "settle"),
    Kind.EXPIRE: ("points.expired", None),
    Kind.ADJUST: ("points.adjusted", "adjust"),
    # A merge moves points between two members: out of one, into the other.
    Kind.MERGE_OUT: ("points.adjusted", "merge"),
    Kind.MERGE_IN: ("points.adjusted", "merge"),
}


def _entry_event(member: Member, entry: LedgerEntry, links: dict) -> None:
    """The entry's event, with the balance and tier at the end of the transaction."""
    if entry.kind not in ENTRY_EVENTS:
        return
    event_type, source = ENTRY_EVENTS[entry.kind]
    data = {
        "points": entry.points,
        "reason": ledger_words.event_reason(entry),
        "reference": entry.reference,
    }
    if source:
        data["source"] = source
    purchase, redemption = links.get("purchase"), links.get("redemption")
    if purchase is not None:
        data["order_id"] = purchase.order_id
    if redemption is not None:
        data["redemption_id"] = str(redemption.pk)
        data["points"] = redemption.points if entry.kind != Kind.REDEEM else entry.points
        if entry.kind == Kind.HOLD:
            data["expires_at"] = rfc3339(redemption.hold_expires_at)
    if entry.owed_change:
        data["owed_change"] = entry.owed_change
    event_emit(
        type=event_type,
        member=member,
        data=data,
        occurred_at=entry.created_at,
        balance=True,
        tier=True,
    )


def lot_create(
    member: Member,
    *,
    entry: LedgerEntry,
    points: int,
    program: Program,
    earned_at: datetime,
    available_at: datetime,
    as_of: datetime,
    purchase=None,
    expires_at: datetime | None | bool = False,
) -> PointLot:
    """A new lot. Its expiry follows the program's policy (`lot_expiry_for`; a purchase
    is a qualifying activity) unless the caller computed it (`expires_at`)."""
    is_pending = available_at > as_of
    if expires_at is False:
        expires_at = lot_expiry_for(
            program=program,
            member=member,
            earned_at=earned_at,
            as_of=as_of,
            activity=purchase is not None,
        )
    lot = _lot_insert.create(
        member=member,
        entry=entry,
        purchase=purchase,
        points=points,
        remaining=points,
        earned_at=earned_at,
        available_at=available_at,
        is_pending=is_pending,
        expires_at=expires_at,
    )
    _cache_lot_change(member, lot, points)
    return lot


def _cache_lot_change(member: Member, lot: PointLot, delta: int) -> None:
    if lot.is_pending:
        member.points_pending += delta
    else:
        member.points_available += delta


def lots_open(member: Member) -> list[PointLot]:
    """The member's lots with points left, in spending order (expires_at, earned_at, id);
    lots that never expire come last."""
    sql, columns = _lots_open_query.get()
    return [columns.instance(row) for row in rows_fetch(sql, [member.pk])]


def _lots_names() -> dict[str, str]:
    quote = connection.ops.quote_name
    meta = PointLot._meta
    names = ("member", "remaining", "expires_at", "earned_at", "id", "is_pending", "available_at")
    return {name: quote(meta.get_field(name).column) for name in names}


def _spending_order(alias: str) -> str:
    """Soonest expiry first, never last; then earliest earned; then by id: the order of
    the index `lot_open_spend_order`, so PostgreSQL reads a member's open lots in it
    without sorting them."""
    n = _lots_names()
    return f"{alias}.{n['expires_at']} ASC NULLS LAST, {alias}.{n['earned_at']}, {alias}.{n['id']}"


def _lots_open_query_build() -> tuple[str, Columns]:
    """Built once (issue 18): what `PointLot.objects.filter(member=member,
    remaining__gt=0).order_by(F("expires_at").asc(nulls_last=True), "earned_at", "id")`
    reads, as the same instances (tests/test_rows.py)."""
    n = _lots_names()
    columns = Columns.of(PointLot, "lot")
    sql = (
        f"SELECT {columns.sql} FROM {connection.ops.quote_name(PointLot._meta.db_table)} "
        f"AS lot WHERE lot.{n['member']} = %s AND lot.{n['remaining']} > 0 "
        f"ORDER BY {_spending_order('lot')}"
    )
    return sql, columns


# How many of a member's spendable lots, in spending order, a redemption reads first; only
# if they hold too few points does it read on (issue 18). Reading every open lot to find the
# first that cover the points cost a redemption of a member with 5,000 lots 9 ms under its
# lock.
SPENDING_PREFIX_LOTS = 16
_ALL_LOTS = 2**62


def _lots_for_spending_query_build(
    member_sql: str = "%s", points_sql: str = "%s"
) -> tuple[str, Columns]:
    """The member and the points are parameters; `member_sql` and `points_sql` may
    compute them instead."""
    n = _lots_names()
    inner = Columns.of(PointLot, "l")
    columns = Columns.of(PointLot, "lot")
    table = connection.ops.quote_name(PointLot._meta.db_table)
    member, expires, remaining = n["member"], n["expires_at"], n["remaining"]
    sql = (
        f"SELECT {columns.sql}, lot.due, lot.taken FROM ("
        # Due for expiry: a range of the member's open lots by expiry.
        f"SELECT {inner.sql}, 1 AS due, 0 AS taken FROM {table} AS l "
        f"WHERE l.{member} = {member_sql} AND l.{remaining} > 0 AND l.{expires} <= %s "
        "UNION ALL "
        # Due for release, and not for expiry.
        f"SELECT {inner.sql}, 1, 0 FROM {table} AS l "
        f"WHERE l.{member} = {member_sql} AND l.{remaining} > 0 AND l.{n['is_pending']} "
        f"AND l.{n['available_at']} <= %s AND (l.{expires} IS NULL OR l.{expires} > %s) "
        "UNION ALL "
        # Spendable once caught up: of the first so many in spending order (`taken` of
        # them), those while the points before each fall short.
        f"SELECT {Columns.of(PointLot, 'f').sql}, 0, f.taken FROM ("
        f"SELECT {Columns.of(PointLot, 'g').sql}, SUM(g.{remaining}) OVER ("
        f"ORDER BY {_spending_order('g')} ROWS UNBOUNDED PRECEDING) AS running, "
        "COUNT(*) OVER () AS taken FROM ("
        f"SELECT {inner.sql} FROM {table} AS l "
        f"WHERE l.{member} = {member_sql} AND l.{remaining} > 0 "
        f"AND (l.{expires} IS NULL OR l.{expires} > %s) "
        f"AND (NOT l.{n['is_pending']} OR l.{n['available_at']} <= %s) "
        f"ORDER BY {_spending_order('l')} LIMIT %s) AS g) AS f "
        f"WHERE f.running - f.{remaining} < {points_sql}"
        f") AS lot ORDER BY lot.due DESC, {_spending_order('lot')}"
    )
    return sql, columns


def _lots_for_spending_by_external_id_query_build() -> tuple[str, Columns]:
    """The same read for a member named by its external id, with the points owed read
    from its row: it can be sent before the member's lock has answered."""
    quote = connection.ops.quote_name
    table = quote(Member._meta.db_table)
    external_id = quote(Member._meta.get_field("external_id").column)
    owed = quote(Member._meta.get_field("points_owed").column)
    return _lots_for_spending_query_build(
        member_sql=f"(SELECT m.id FROM {table} AS m WHERE m.{external_id} = %s)",
        points_sql=f"(SELECT m.{owed} FROM {table} AS m WHERE m.{external_id} = %s) + %s",
    )


_lots_for_spending_query = VendorCache(_lots_for_spending_query_build)
_lots_for_spending_by_external_id_query = VendorCache(_lots_for_spending_by_external_id_query_build)
_lots_open_query = VendorCache(_lots_open_query_build)


def lots_plan(lots: list[PointLot], points: int) -> list[tuple[PointLot, int]]:
    """How many points to take from each lot, in the given order, to cover `points`
    (or as many as the lots hold)."""
    plan = []
    for lot in lots:
        if points <= 0:
            break
        take = min(lot.remaining, points)
        if take > 0:
            plan.append((lot, take))
            points -= take
    return plan


def lots_move(member: Member, *, entry: LedgerEntry, plan: list[tuple[PointLot, int]], sign: int):
    """Take (sign=-1) or return (sign=+1) points on lots, recording one movement each."""
    if not plan:
        return
    for lot, points in plan:
        lot.remaining += sign * points
        _cache_lot_change(member, lot, sign * points)
    if len(plan) == 1:
        # The usual redemption takes from one lot: a plain UPDATE, built once (issue 18),
        # instead of bulk_update's CASE expression, and one prepared insert.
        lot, points = plan[0]
        _lot_remaining_update.run(lot.pk, [lot.remaining])
        _movement_insert.create(entry=entry, lot=lot, points=sign * points, pk=False)
        return
    PointLot.objects.bulk_update([lot for lot, _ in plan], ["remaining"])
    LotMovement.objects.bulk_create(
        LotMovement(entry=entry, lot=lot, points=sign * points) for lot, points in plan
    )


def entry_movements_undo(member: Member, *, original: LedgerEntry, entry: LedgerEntry) -> int:
    """Return to their original lots, with their original expiry, the points that
    `original` took. Returns the points given back."""
    taken = (
        LotMovement.objects.filter(entry=original, points__lt=0)
        .values("lot_id")
        .annotate(points=Sum("points"))
    )
    points_by_lot = {row["lot_id"]: -row["points"] for row in taken}
    lots = PointLot.objects.in_bulk(list(points_by_lot))
    plan = [(lots[lot_id], points) for lot_id, points in sorted(points_by_lot.items())]
    lots_move(member, entry=entry, plan=plan, sign=+1)
    return sum(points for _, points in plan)


def _is_due(lot: PointLot, as_of: datetime) -> bool:
    return lot.expires_at is not None and lot.expires_at <= as_of


def member_catch_up(
    member: Member, *, as_of: datetime, actor: Actor, spend: int | None = None
) -> list[PointLot]:
    """Bring a locked member's points up to `as_of`: release stale holds, make pending
    lots whose time has come available, expire due lots, then settle owed points.

    Returns the member's open lots (unexpired, with points left) in spending order.
    The nightly jobs run the same steps for every member; the write paths that spend
    points run them first so no expired or pending point is ever spent.

    `spend`: the caller will spend this many points, and needs no other lot. Then only
    the lots due for release or expiry are read, and of the spendable lots the first ones
    in spending order that cover the points owed and `spend` (what `lots_plan` would take
    from the full list): a member with years of lots costs what one with a few does
    (issue 18). The steps and their entries are the same
    (tests/rewards/test_catch_up_spend.py).
    """
    if member.points_held:
        for hold in Redemption.objects.filter(
            member=member, status=Redemption.Status.HELD, hold_expires_at__lte=as_of
        ):
            hold_release(member, redemption=hold, as_of=as_of, actor=Actor.system(), expired=True)

    if spend is None:
        lots = due = lots_open(member)
    else:
        due, lots = lots_for_spending(member, as_of=as_of, points=member.points_owed + spend)

    released = [lot for lot in due if lot.is_pending and lot.available_at <= as_of]
    for lot in released:
        member.points_pending -= lot.remaining
        member.points_available += lot.remaining
        lot.is_pending = False
    if released:
        PointLot.objects.bulk_update(released, ["is_pending"])

    lots_expire(member, lots=[lot for lot in due if _is_due(lot, as_of)], as_of=as_of, actor=actor)

    if member.points_owed:
        owed_settle(member, lots=spendable(lots), as_of=as_of, actor=actor)
    return [lot for lot in lots if lot.remaining > 0]


def lots_for_spending(
    member: Member, *, as_of: datetime, points: int
) -> tuple[list[PointLot], list[PointLot]]:
    """One read for a catch-up before spending `points`: the member's open lots due for
    release or expiry at `as_of`, and the first lots in spending order that will be
    spendable once they are released and expired, as many as cover `points` (each lot
    whose points before it fall short). Both in spending order; a lot in both is one
    instance, so releasing it makes it spendable in the second list too.

    The read looks at the first SPENDING_PREFIX_LOTS spendable lots only; when they fall
    short and there are more, a second read looks at all of them."""
    prefetched = member.__dict__.pop("lots_prefetched", None)
    if prefetched is not None and prefetched[:2] == (as_of, points):
        due, first, taken = prefetched[2]
    else:
        due, first, taken = _lots_for_spending_read(member, as_of=as_of, points=points)
    if taken == SPENDING_PREFIX_LOTS and sum(lot.remaining for lot in first) < points:
        # The first lots fall short, and there are more: read them all.
        due, first, _ = _lots_for_spending_read(member, as_of=as_of, points=points, limit=_ALL_LOTS)
    return due, first


def _lots_for_spending_read(
    member: Member, *, as_of: datetime, points: int, limit: int = SPENDING_PREFIX_LOTS
) -> tuple[list[PointLot], list[PointLot], int]:
    sql, _ = _lots_for_spending_query.get()
    params = _lots_for_spending_params(member.pk, as_of, limit, points=[points])
    return _lots_from_rows(rows_fetch(sql, params))


def _lots_for_spending_params(member, as_of: datetime, limit: int, *, points: list) -> list:
    """The parameters of a lots_for_spending read, in its statement's order: `member` for
    each of its three parts, `points` for the last condition."""
    moment = PointLot._meta.get_field("expires_at").get_db_prep_value(as_of, connection)
    return [member, moment, member, moment, moment, member, moment, moment, limit, *points]


def _lots_from_rows(rows) -> tuple[list[PointLot], list[PointLot], int]:
    """A lots_for_spending read's rows: the due lots, the first spendable, and how many
    spendable lots the read looked at."""
    _, columns = _lots_for_spending_query.get()
    due, first, made, taken = [], [], {}, 0
    for row in rows:
        lot = made.get(row[0])
        if lot is None:
            lot = made[row[0]] = columns.instance(row)
        if row[columns.end]:
            due.append(lot)
        else:
            first.append(lot)
            taken = row[columns.end + 1]
    return due, first, taken


def spendable(lots: list[PointLot]) -> list[PointLot]:
    return [lot for lot in lots if lot.remaining > 0 and not lot.is_pending]


def lots_expire(member: Member, *, lots: list[PointLot], as_of: datetime, actor: Actor) -> int:
    """Expire what is left of these lots in one entry that says which points expired."""
    total = sum(lot.remaining for lot in lots)
    if total:
        entry = entry_write(
            member,
            kind=Kind.EXPIRE,
            actor=actor,
            as_of=as_of,
            points=-total,
            words=_expiry_words(lots, total),
            reference="expiry",
        )
        lots_move(member, entry=entry, plan=[(lot, lot.remaining) for lot in lots], sign=-1)
    return total


def _expiry_words(due: list[PointLot], total: int) -> ledger_words.Words:
    first = min(lot.earned_at for lot in due)
    last = max(lot.earned_at for lot in due)
    return ledger_words.expired(points=total, first=first.date(), last=last.date())


def owed_settle(member: Member, *, lots: list[PointLot], as_of: datetime, actor: Actor) -> int:
    """Settle points owed from earlier refunds out of the given available lots, first."""
    plan = lots_plan(lots, member.points_owed)
    settled = sum(points for _, points in plan)
    if settled:
        entry = entry_write(
            member,
            kind=Kind.SETTLE,
            actor=actor,
            as_of=as_of,
            points=-settled,
            owed_change=-settled,
            words=ledger_words.settled(points=settled),
            reference="owed",
        )
        lots_move(member, entry=entry, plan=plan, sign=-1)
    return settled


def hold_release(
    member: Member, *, redemption: Redemption, as_of: datetime, actor: Actor, expired: bool
) -> LedgerEntry:
    """Give a hold's points back to their lots and close it as voided or expired."""
    # The entry that took the hold's points from this member's lots: the hold itself, or,
    # for a hold that a merge moved here, the merge_in entry that took them again.
    hold_entry = LedgerEntry.objects.get(
        redemption=redemption, kind__in=[Kind.HOLD, Kind.MERGE_IN], member=member
    )
    entry = entry_write(
        member,
        kind=Kind.RELEASE,
        actor=actor,
        as_of=as_of,
        points=redemption.points,
        held_change=-redemption.points,
        words=ledger_words.hold_released(points=redemption.points, expired=expired),
        reference=f"redemption:{redemption.pk}",
        redemption=redemption,
    )
    entry_movements_undo(member, original=hold_entry, entry=entry)
    redemption.status = Redemption.Status.EXPIRED if expired else Redemption.Status.VOIDED
    redemption.resolved_at = as_of
    redemption.save(update_fields=["status", "resolved_at"])
    event_emit(
        type="hold.released" if expired else "hold.voided",
        member=member,
        data={
            "redemption_id": str(redemption.pk),
            "points": redemption.points,
            "reason": ledger_words.event_reason(entry),
        },
        occurred_at=as_of,
        balance=True,
        tier=True,
    )
    return entry
