"""Planning the nightly release (issue 7): the chunks are found from the two sources of due
members, pending lots and stale holds, one bounded keyset query each per boundary, and
they are the chunks the union of both would give."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from members.models import Member
from rewards import selectors
from rewards.jobs import nightly_job_get
from rewards.models import PointLot, Redemption
from rewards.services.nightly import Chunk, job_chunks_plan, job_run_inline
from tests.bulk_ledger import members_with_lots_create
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles
from tests.nightly_helpers import earn_at, redeem_at

pytestmark = pytest.mark.django_db

AS_OF = datetime(2026, 2, 1, 2, tzinfo=UTC)


def union_plan(*, as_of: datetime, chunk_size: int) -> list[Chunk]:
    """The chunks as planned before issue 7: the generic keyset plan over the whole union
    (job_chunks_plan without the release's two sources)."""
    import dataclasses

    from rewards.jobs import nightly_job_get
    from rewards.services.nightly import job_chunks_plan

    union_job = dataclasses.replace(nightly_job_get("release"), member_sources=None)
    return list(job_chunks_plan(job=union_job, as_of=as_of, chunk_size=chunk_size))


def plan(*, as_of: datetime = AS_OF, chunk_size: int) -> list[Chunk]:
    return list(job_chunks_plan(job=nightly_job_get("release"), as_of=as_of, chunk_size=chunk_size))


def bulk_release_population(shop, *, members: int) -> set[int]:
    """`members` members in id order whose kinds repeat every six: pending points due (0, 2,
    4), a stale hold (0, 3: member 0 has both), neither but a pending lot still in its
    returns window and a live hold (1, 5). Written in bulk, since a plan over chunks of 500
    needs thousands of members; the holds are bare rows, which the planner is all that
    reads here. Returns the ids of the members due."""
    members_with_lots_create(
        members=members,
        lots_per_member=2,
        earned_at=AS_OF - timedelta(days=30),
        expires_at=AS_OF + timedelta(days=365),
        prefix="plan",
    )
    ids = list(
        Member.objects.filter(external_id__startswith="plan-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    kinds = {member_id: position % 6 for position, member_id in enumerate(ids)}
    pending_due = [member_id for member_id, kind in kinds.items() if kind in (0, 2, 4)]
    pending_later = [member_id for member_id, kind in kinds.items() if kind in (1, 5)]
    PointLot.objects.filter(member_id__in=pending_due).update(
        is_pending=True, available_at=AS_OF - timedelta(days=1)
    )
    PointLot.objects.filter(member_id__in=pending_later).update(
        is_pending=True, available_at=AS_OF + timedelta(days=1)
    )
    holds = [
        (member_id, AS_OF - timedelta(minutes=5) if kind in (0, 3) else AS_OF + timedelta(hours=1))
        for member_id, kind in kinds.items()
        if kind in (0, 3, 1, 5)
    ]
    Redemption.objects.bulk_create(
        Redemption(
            shop=shop,
            member_id=member_id,
            idempotency_key=f"plan-hold-{member_id}",
            points=5,
            discount_amount=Decimal("0.05"),
            currency="EUR",
            status=Redemption.Status.HELD,
            hold_expires_at=expires_at,
            created_at=expires_at - timedelta(minutes=15),
            response={},
        )
        for member_id, expires_at in holds
    )
    return {member_id for member_id, kind in kinds.items() if kind in (0, 2, 3, 4)}


def expected_chunks(due: set[int], chunk_size: int) -> list[Chunk]:
    ordered = sorted(due)
    chunks, after = [], 0
    for end in range(chunk_size, len(ordered) + 1, chunk_size):
        chunks.append(Chunk(after=after, upto=ordered[end - 1], members=chunk_size))
        after = ordered[end - 1]
    rest = len(ordered) % chunk_size
    if rest:
        chunks.append(Chunk(after=after, upto=None, members=rest))
    return chunks


@pytest.mark.parametrize("chunk_size", [1, 3, 500])
def test_release_plan_gives_the_union_plan_on_interleaved_lots_and_holds(shop, chunk_size):
    due = bulk_release_population(shop, members=1603)

    chunks = plan(chunk_size=chunk_size)

    assert chunks == union_plan(as_of=AS_OF, chunk_size=chunk_size)
    assert chunks == expected_chunks(due, chunk_size)


@pytest.mark.parametrize("chunk_size", [1, 3, 500])
def test_release_plan_ends_without_an_empty_chunk_when_the_last_one_is_full(shop, chunk_size):
    due = bulk_release_population(shop, members=2250)
    assert len(due) == 1500

    chunks = plan(chunk_size=chunk_size)

    assert chunks == union_plan(as_of=AS_OF, chunk_size=chunk_size)
    assert chunks[-1].upto == max(due) and chunks[-1].members == chunk_size


def test_each_release_chunk_holds_the_members_it_was_planned_with(shop):
    due = bulk_release_population(shop, members=700)

    chunks = plan(chunk_size=120)

    seen = []
    for chunk in chunks:
        members = list(
            selectors.release_due_member_id_list(as_of=AS_OF, after=chunk.after, upto=chunk.upto)
        )
        assert len(members) == chunk.members
        seen += members
    assert seen == sorted(due)


def test_release_plan_reads_two_queries_per_chunk_boundary(shop, django_assert_num_queries):
    bulk_release_population(shop, members=300)  # 200 members due

    # 200 = 6 x 30 + 20: six full chunks and the rest, each found by one query per source.
    with django_assert_num_queries(2 * 7):
        chunks = plan(chunk_size=30)
    # A full last chunk needs one more round to find that nothing follows it.
    with django_assert_num_queries(2 * 5):
        full = plan(chunk_size=50)

    assert [chunk.members for chunk in chunks] == [30] * 6 + [20]
    assert [chunk.members for chunk in full] == [50] * 4


def test_release_plan_is_empty_when_no_member_is_due(shop, django_assert_num_queries):
    with django_assert_num_queries(2):
        assert plan(chunk_size=500) == []


def test_release_run_planned_from_sources_releases_pending_points_and_stale_holds(shop, program):
    """Through the services, members of each kind interleaved: the run's chunks cover
    every due member once, and the ledger reconciles."""
    program.pending_days = 14
    program.save()
    members = MemberFactory.create_batch(8)
    pending, hold, both, nothing = members[0::4], members[1::4], members[2::4], members[3::4]
    earned = AS_OF - timedelta(days=20)
    for member in [*pending, *both]:
        earn_at(shop, member, "10.00", earned)
    program.pending_days = 0
    program.hold_ttl_minutes = 15
    program.save()
    for member in [*hold, *both]:
        earn_at(shop, member, "30.00", earned)
        redeem_at(shop, member, 20, AS_OF - timedelta(hours=1), hold=True)
    for member in nothing:
        earn_at(shop, member, "30.00", earned)

    chunks = plan(chunk_size=3)
    assert chunks == union_plan(as_of=AS_OF, chunk_size=3)
    run = job_run_inline(job_name="release", as_of=AS_OF, chunk_size=3)

    assert [chunk.members for chunk in chunks] == [3, 3]
    assert (run.chunks_total, run.items_processed) == (2, 6)
    assert plan(chunk_size=3) == []
    for member in members:
        member.refresh_from_db()
        assert (member.points_pending, member.points_held) == (0, 0)
        assert_reconciles(member)
