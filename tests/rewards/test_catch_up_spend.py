"""member_catch_up(spend=N) (issue 18): a redemption reads only the lots due for release
or expiry and the first spendable lots that cover what it takes, and does exactly what
the catch-up over every open lot does."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import Member
from rewards.models import LedgerEntry, PointLot
from rewards.services.ledger import (
    SPENDING_PREFIX_LOTS,
    Actor,
    lots_plan,
    member_catch_up,
    member_lock,
    spendable,
)
from rewards.services.merges import member_merge
from rewards.services.redemptions import redemption_create
from tests.conftest import earn
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db


def _state(member_id):
    member = Member.objects.get(pk=member_id)
    return (
        (member.points_available, member.points_pending, member.points_owed),
        list(
            LedgerEntry.objects.filter(member_id=member_id)
            .order_by("id")
            .values_list("kind", "points", "owed_change")
        ),
        list(
            PointLot.objects.filter(member_id=member_id)
            .order_by("id")
            .values_list("id", "remaining", "is_pending")
        ),
    )


def _catch_up(member_id, as_of, points, *, read_all):
    """Run the catch-up and plan `points`, then roll back: the plan and the state."""
    with transaction.atomic():
        member = member_lock(member_id=member_id)
        spend = None if read_all else points
        lots = member_catch_up(member, as_of=as_of, actor=Actor.system(), spend=spend)
        plan = [(lot.pk, take) for lot, take in lots_plan(spendable(lots), points)]
        state = _state(member_id)
        transaction.set_rollback(True)
    return plan, state, len(lots)


@pytest.mark.parametrize("points", [1, 12, 40, 75, 400])
def test_spending_reads_a_prefix_and_does_what_the_full_catch_up_does(shop, member, points):
    now = timezone.now()
    for days, amount in [(-300, "10"), (-200, "20"), (-100, "15"), (-10, "30"), (-3, "25")]:
        earn(shop, member, amount, occurred_at=now + timedelta(days=days))
    for days in range(1, 30):  # many small lots, as a member with years of purchases has
        earn(shop, member, "2", occurred_at=now - timedelta(days=days, hours=1))
    lots = list(PointLot.objects.filter(member=member).order_by("id"))
    # An expired lot the nightly job has not processed, a pending lot whose time has come,
    # one still pending, one that never expires; and points owed from a refund.
    PointLot.objects.filter(pk=lots[0].pk).update(expires_at=now - timedelta(days=1))
    PointLot.objects.filter(pk=lots[1].pk).update(
        is_pending=True, available_at=now - timedelta(hours=1)
    )
    PointLot.objects.filter(pk=lots[2].pk).update(
        is_pending=True, available_at=now + timedelta(days=5)
    )
    PointLot.objects.filter(pk=lots[3].pk).update(expires_at=None)
    open_lots = PointLot.objects.filter(member=member)
    pending = sum(lot.remaining for lot in open_lots.filter(is_pending=True))
    available = sum(lot.remaining for lot in open_lots.filter(is_pending=False))
    Member.objects.filter(pk=member.pk).update(
        points_available=available, points_pending=pending, points_owed=6
    )

    full_plan, full_state, full_lots = _catch_up(member.pk, now, points, read_all=True)
    part_plan, part_state, part_lots = _catch_up(member.pk, now, points, read_all=False)
    assert part_state == full_state
    assert part_plan == full_plan
    # The expiry, the release and the settlement happened, in both.
    kinds = [kind for kind, _, _ in full_state[1]]
    assert kinds[-2:] == ["expire", "settle"]
    assert full_state[1][-1][2] == -6  # the owed points settled
    # Only what covers the points owed and spent was read.
    assert part_lots < full_lots if points < 100 else part_lots <= full_lots


@pytest.mark.parametrize(
    ("points", "reads"),
    [(1, 1), (SPENDING_PREFIX_LOTS, 1), (SPENDING_PREFIX_LOTS + 1, 2), (35, 2), (60, 2)],
)
def test_the_first_lots_are_read_and_the_rest_only_when_they_fall_short(
    shop, member, points, reads
):
    # 40 lots of one point, each expiring a day after the one before: spending N points
    # takes the N first. The first SPENDING_PREFIX_LOTS are read at once; more points
    # need a second read of every lot; more than the member has are refused later.
    now = timezone.now()
    for days in range(40):
        earn(shop, member, "1", occurred_at=now - timedelta(days=41 - days))
    lots = list(PointLot.objects.filter(member=member).order_by("id"))
    for n, lot in enumerate(lots):
        lot.expires_at = now + timedelta(days=n + 1)
    PointLot.objects.bulk_update(lots, ["expires_at"])

    full_plan, full_state, _ = _catch_up(member.pk, now, points, read_all=True)
    with CaptureQueriesContext(connection) as queries:
        part_plan, part_state, part_lots = _catch_up(member.pk, now, points, read_all=False)
    lot_reads = [q for q in queries.captured_queries if "OVER" in q["sql"]]
    assert len(lot_reads) == reads
    assert part_plan == full_plan
    assert part_state == full_state
    assert [lot_id for lot_id, _ in part_plan] == [lot.pk for lot in lots[:points]]
    assert part_lots == min(points, 40)


# A redemption's lots come with its member lock (issue 18): one statement sent right after
# the lock, which PostgreSQL runs once the lock is granted. The read is used only when
# nothing can change the lots between the two.


def _redeem(shop, member, points, key, **kwargs):
    return redemption_create(
        shop=shop,
        member_external_id=member.external_id,
        points=points,
        idempotency_key=key,
        request_hash=f"hash-{key}",
        **kwargs,
    )


def _lot_reads(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "OVER" in q["sql"]]


def test_a_redemption_reads_its_lots_by_external_id_with_the_lock(shop, member):
    earn(shop, member, "30.00")
    earn(shop, member, "20.00")
    with CaptureQueriesContext(connection) as queries:
        _redeem(shop, member, 40, "with-lock")
    (read,) = _lot_reads(queries)
    assert "external_id" in read  # sent before the lock's answer gave the member's id
    lock = next(n for n, q in enumerate(queries.captured_queries) if "CROSS JOIN" in q["sql"])
    assert queries.captured_queries[lock + 1]["sql"] == read
    member.refresh_from_db()
    assert member.points_available == 10
    assert sorted(PointLot.objects.filter(member=member).values_list("remaining", flat=True)) == [
        0,
        10,
    ]
    assert_reconciles(member)


def test_with_holds_to_release_the_lots_are_read_again_after_them(shop, member, program):
    # An expired hold gives its points back to their lot before the redemption spends:
    # the lots read with the lock, from before that, would show the lot without them.
    earn(shop, member, "100.00")
    _redeem(shop, member, 60, "hold", hold=True)
    later = timezone.now() + timedelta(minutes=program.hold_ttl_minutes, seconds=1)
    with CaptureQueriesContext(connection) as queries:
        _redeem(shop, member, 80, "after-hold", as_of=later)
    reads = _lot_reads(queries)
    assert len(reads) == 2 and "external_id" not in reads[1]
    member.refresh_from_db()
    assert (member.points_available, member.points_held) == (20, 0)
    assert_reconciles(member)


def test_a_merged_members_id_reads_the_lots_of_the_member_it_was_merged_into(shop, program):
    source = MemberFactory(external_id="old-id")
    target = MemberFactory(external_id="new-id")
    earn(shop, target, "50.00")
    member_merge(source=source, target=target, reason="Enrolled twice")
    with CaptureQueriesContext(connection) as queries:
        _redeem(shop, source, 30, "via-old-id")
    assert len(_lot_reads(queries)) == 2  # the one by the old id, then the target's
    target.refresh_from_db()
    assert target.points_available == 20
    assert_reconciles(target)
