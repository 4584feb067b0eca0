"""Bringing one member's points up to an as-of time, for the nightly expire and release
jobs (rewards/jobs.py)."""

from collections import Counter
from datetime import datetime

from loyalty_engine.db import durable_write
from rewards.services.ledger import (
    BALANCE_FIELDS,
    Actor,
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
    before = {field: getattr(member, field) for field in BALANCE_FIELDS}
    member_catch_up(member, as_of=as_of, actor=Actor.system())
    after = {field: getattr(member, field) for field in BALANCE_FIELDS}
    if after == before:
        return Counter()
    balance_save(member)

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
