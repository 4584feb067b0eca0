"""Replays of idempotent writes.

Each write stores its request hash and response on its own row, under that row's unique
key, in the transaction of the effect. A repeat with the same hash gets the stored
response back; a different request under the same key is a conflict.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError
from django.db.models import Model

from loyalty_engine.errors import DomainError, IdempotencyConflict


@dataclass(frozen=True)
class WriteResult:
    """What a write service stored, and whether this call was a replay of an earlier one."""

    record: Model
    replayed: bool

    @property
    def response(self) -> dict:
        return self.record.response


def replay_or_none(record: Model | None, request_hash: str) -> WriteResult | None:
    """The stored result for a repeat of the same request; None if there is no record.
    Raises IdempotencyConflict if the record was written for a different request."""
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyConflict()
    return WriteResult(record=record, replayed=True)


def write_or_replay(
    write: Callable[[], WriteResult],
    *,
    find_existing: Callable[[], Model | None],
    request_hash: str,
    refusals: tuple[type[DomainError], ...] = (),
) -> WriteResult:
    """Run a write; if its insert hits the unique key, the request is a repeat (or lost a
    race to a concurrent twin that has committed): replay the stored response instead, or
    raise IdempotencyConflict. So the write need not look for an earlier record first.

    `refusals`: domain errors that a repeat can meet before it reaches its insert, such as
    a redemption whose points were spent by its own first run. When the key has a record,
    the repeat is replayed instead; the refused write's transaction has rolled back."""
    try:
        return write()
    except (IntegrityError, *refusals):
        result = replay_or_none(find_existing(), request_hash)
        if result is None:
            raise
        return result
