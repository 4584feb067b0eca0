"""Planning the nightly tiers job: the chunks hold the active members due tonight (a tier
state not evaluated as of tonight, or none yet), in id order, found with a constant number
of queries per chunk boundary."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from members.models import Member
from rewards.jobs import nightly_job_get
from rewards.models import MemberTier, Tier
from rewards.services.nightly import Chunk, job_chunks_plan

pytestmark = pytest.mark.django_db

AS_OF = datetime(2026, 2, 1, 2, 30, tzinfo=UTC)


def plan(*, chunk_size: int) -> list[Chunk]:
    job = nightly_job_get("tiers")
    return list(job_chunks_plan(job=job, as_of=AS_OF, chunk_size=chunk_size))


def population(count: int) -> set[int]:
    """`count` members whose kinds repeat every six, in id order: a state evaluated last
    night (0), no state (1), a state never evaluated (2), a state evaluated tonight (3), a
    suspended member with a state due (4), a suspended member without a state (5). Written in
    bulk: a plan over chunks of 500 needs thousands. Returns the ids due tonight."""
    bronze = Tier.objects.create(name="Bronze", rank=1, threshold=0)
    members = Member.objects.bulk_create(
        Member(
            external_id=f"plan-{n:05d}",
            enrolled_at=timezone.now(),
            status=Member.Status.SUSPENDED if n % 6 in (4, 5) else Member.Status.ACTIVE,
        )
        for n in range(count)
    )
    members.sort(key=lambda member: member.pk)
    evaluated_at = {0: AS_OF - timedelta(days=1), 2: None, 3: AS_OF, 4: AS_OF - timedelta(days=1)}
    MemberTier.objects.bulk_create(
        MemberTier(member=member, tier=bronze, evaluated_at=evaluated_at[position % 6])
        for position, member in enumerate(members)
        if position % 6 in evaluated_at
    )
    return {member.pk for position, member in enumerate(members) if position % 6 in (0, 1, 2)}


def expected_chunks(due: set[int], chunk_size: int) -> list[Chunk]:
    ordered, chunks, after = sorted(due), [], 0
    for end in range(chunk_size, len(ordered) + 1, chunk_size):
        chunks.append(Chunk(after=after, upto=ordered[end - 1], members=chunk_size))
        after = ordered[end - 1]
    if len(ordered) % chunk_size:
        chunks.append(Chunk(after=after, upto=None, members=len(ordered) % chunk_size))
    return chunks


@pytest.mark.parametrize("chunk_size", [1, 3, 500])
def test_the_tiers_plan_holds_every_due_member_once_in_id_order(chunk_size):
    due = population(1603)

    chunks = plan(chunk_size=chunk_size)

    assert chunks == expected_chunks(due, chunk_size)
    seen = []
    for chunk in chunks:
        ids = list(
            nightly_job_get("tiers").members(as_of=AS_OF, after=chunk.after, upto=chunk.upto)
        )
        assert len(ids) == chunk.members
        seen += ids
    assert seen == sorted(due)


def test_the_tiers_plan_reads_two_queries_per_chunk_boundary(django_assert_num_queries):
    population(300)  # 150 members due

    # Per boundary, the check that tiers exist and the boundary's id; after the last full
    # chunk, one more round finds nothing and counts what is left (nothing).
    with django_assert_num_queries(2 * 5 + 3):
        chunks = plan(chunk_size=30)

    assert [chunk.members for chunk in chunks] == [30] * 5


def test_without_tiers_nothing_is_planned(django_assert_num_queries):
    Member.objects.create(external_id="alone", enrolled_at=timezone.now())

    with django_assert_num_queries(1):
        assert plan(chunk_size=500) == []
