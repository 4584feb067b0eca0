"""Writing events: `event_emit` inside a write's transaction.

Inside a `durable_write` service the events are collected and written in one bulk INSERT
at the end of its transaction (`collecting`), so an earn adds one statement however many
events it has; the balances they carry are the member's at the end of the change. A
transaction that rolls back drops them with everything else. Outside a `durable_write`
(a set-based nightly batch, a plain `atomic`) `event_emit` inserts at once and
`events_bulk_emit` inserts many rows in one statement.

This module imports no app: members, rewards and metrics import it.
"""

import functools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from loyalty_engine.events.types import EVENT_TYPES
from loyalty_engine.rows import RowInsert

BALANCE_FIELDS = ("points_available", "points_pending", "points_held", "points_owed")
# A bulk import collects many events in one transaction: write them every so many.
FLUSH_EVERY = 1000

_state = threading.local()


def balance_of(member) -> dict:
    """The balance block of an event's data, from a member row or a row-like object."""
    return {
        "available": member.points_available,
        "pending": member.points_pending,
        "held": member.points_held,
        "owed": member.points_owed,
        "lifetime_earned": member.lifetime_earned,
    }


@dataclass
class _Pending:
    type: str
    member: object | None
    data: dict
    occurred_at: datetime
    balance: bool
    tier: bool
    dedupe_key: str | None = None
    extra: dict = field(default_factory=dict)


def _member_id(member) -> int | None:
    """A member row or its id."""
    if member is None or isinstance(member, int):
        return member
    return member.pk


def _check_type(type: str) -> None:
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {type!r}: add it to loyalty_engine/events/types.py.")


def event_emit(
    *,
    type: str,
    member=None,
    data: dict | None = None,
    occurred_at: datetime | None = None,
    balance: bool = False,
    tier: bool = False,
    dedupe_key: str | None = None,
) -> None:
    """Record an event of `type` about `member` (a row or an id) in the current
    transaction. With `balance`, data gets the member's balance at the end of the
    transaction; with `tier`, the name of their tier then, where the change read it
    (`event_tier_known`: purchases, enrollment, tier changes). No query is added for the
    tier: a change that did not read it leaves it out."""
    _check_type(type)
    pending = _Pending(
        type=type,
        member=member,
        data=dict(data or {}),
        occurred_at=occurred_at or timezone.now(),
        balance=balance,
        tier=tier,
        dedupe_key=dedupe_key,
    )
    buffer = getattr(_state, "buffer", None)
    if buffer is None:
        _write([pending])
        return
    buffer.append(pending)
    if len(buffer) >= FLUSH_EVERY:
        _write(buffer)
        buffer.clear()


def event_tier_known(member, tier_name: str | None) -> None:
    """Tell the collector the member's tier at the end of this change, so events that
    carry the tier need no query for it (the earn path knows it already)."""
    tiers = getattr(_state, "tiers", None)
    if tiers is not None:
        tiers[_member_id(member)] = tier_name


@contextmanager
def collecting():
    """Collect the events of one durable transaction; written when the block ends
    normally, dropped when it raises. Used by loyalty_engine.db.durable_write."""
    _state.buffer, _state.tiers = [], {}
    try:
        yield
        if _state.buffer:
            _write(_state.buffer)
    finally:
        _state.buffer = _state.tiers = None


def _write(pending: list[_Pending]) -> None:
    event_model = apps.get_model("events", "Event")
    known = getattr(_state, "tiers", None) or {}
    now = timezone.now()
    build = _single_insert(event_model).build
    rows = []
    for p in pending:
        data = p.data
        if p.balance and p.member is not None:
            data = {**data, "balance": balance_of(p.member)}
        if p.tier and _member_id(p.member) in known:
            data = {**data, "tier": known[_member_id(p.member)]}
        rows.append(
            build(
                type=p.type,
                member_id=_member_id(p.member),
                data=data,
                occurred_at=p.occurred_at,
                created_at=now,
                dedupe_key=p.dedupe_key,
            )
        )
    if len(rows) == 1:
        # One change, one event (an earn, a redemption): the prepared insert (issue 18).
        _single_insert(event_model).insert(rows[0], pk=False)
    else:
        event_model.objects.bulk_create(rows)
    dispatch_soon()


@functools.cache
def _single_insert(event_model) -> RowInsert:
    return RowInsert(event_model)


EMIT_BATCH = 5000


def events_bulk_emit(rows: list[dict], *, ignore_duplicates: bool = False) -> None:
    """Insert many events in one statement (set-based nightly jobs). Each row: type,
    member_id, data, occurred_at and optionally dedupe_key. With `ignore_duplicates`, a
    row whose dedupe_key exists is skipped (points.expiring: once per member and date)."""
    if not rows:
        return
    event_model = apps.get_model("events", "Event")
    now = timezone.now()
    events = []
    for row in rows:
        _check_type(row["type"])
        events.append(
            event_model(
                type=row["type"],
                member_id=row.get("member_id"),
                data=row.get("data") or {},
                occurred_at=row.get("occurred_at") or now,
                created_at=now,
                dedupe_key=row.get("dedupe_key"),
            )
        )
    # In batches: a segment recompute or a night's expiry may hand over 100k+ rows.
    event_model.objects.bulk_create(
        events, ignore_conflicts=ignore_duplicates, batch_size=EMIT_BATCH
    )
    dispatch_soon()


_last_kick = [0.0]


def dispatch_soon() -> None:
    """After commit, ask a worker to dispatch within about a second: one task per process
    per second at most, however many transactions commit. Beat's `events-pump` schedule
    (settings) catches anything this misses. Nothing is sent where Celery runs eagerly
    (development without Redis): `manage.py events_pump` does it there."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    now = time.monotonic()
    if now - _last_kick[0] < 1.0:
        return
    _last_kick[0] = now

    def kick():
        from loyalty_engine.events.tasks import events_pump

        events_pump.apply_async(countdown=1)

    transaction.on_commit(kick)
