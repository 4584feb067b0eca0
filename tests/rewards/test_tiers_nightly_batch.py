"""The nightly tiers job in batches (members_tier_nightly_evaluate): members whose tier
does not change tonight are marked evaluated, and their grace periods started or ended,
set-based, and the stored outcome is the same as evaluating every member in its own
transaction."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from members.models import Member
from rewards import jobs
from rewards.models import JobRun, MemberTier, Tier, TierChange
from rewards.services.nightly import job_run_inline
from rewards.services.tiers import (
    member_tier_evaluate,
    member_tier_pin,
    members_tier_nightly_evaluate,
)
from tests.conftest import earn
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

AS_OF = datetime(2027, 3, 1, 2, 30, tzinfo=UTC)
RECENT = datetime(2027, 2, 1, 12, tzinfo=UTC)  # inside the 12-month window at AS_OF
OLD = datetime(2026, 1, 15, 12, tzinfo=UTC)  # outside it


def buy(shop, member, amount: str, at: datetime) -> None:
    earn(shop, member, amount, occurred_at=at, as_of=at)


def tiers_create(program) -> dict[str, Tier]:
    program.tier_grace_days = 10
    program.save()
    return {
        "Bronze": Tier.objects.create(name="Bronze", rank=1, threshold=0),
        "Silver": Tier.objects.create(name="Silver", rank=2, threshold=100),
        "Gold": Tier.objects.create(name="Gold", rank=3, threshold=500),
    }


def mixed_population(shop, program) -> dict[str, Member]:
    """One member of every case the nightly evaluation meets, interleaved in id order so
    the ones left to go one by one sit between the plain ones in the same batch."""
    names = [
        "no_state",
        "no_state_qualified",
        "bronze",
        "falls_from_gold",
        "gold",
        "in_grace",
        "pinned_silver",
        "grace_over",
        "pinned_during_grace",
        "evaluated_tonight",
        "inactive",
        "no_state_again",
    ]
    members = dict(zip(names, MemberFactory.create_batch(len(names)), strict=True))
    # Purchases made before tiers were configured leave no tier state.
    buy(shop, members["no_state_qualified"], "150", RECENT)
    tiers = tiers_create(program)
    buy(shop, members["bronze"], "50", RECENT)
    buy(shop, members["gold"], "600", RECENT)
    for name in ("falls_from_gold", "in_grace", "grace_over", "pinned_during_grace"):
        buy(shop, members[name], "600", OLD)
    member_tier_evaluate(member_id=members["in_grace"].pk, as_of=AS_OF - timedelta(days=5))
    member_tier_evaluate(member_id=members["grace_over"].pk, as_of=AS_OF - timedelta(days=10))
    member_tier_evaluate(
        member_id=members["pinned_during_grace"].pk, as_of=AS_OF - timedelta(days=3)
    )
    member_tier_pin(
        member=members["pinned_during_grace"], floor=tiers["Gold"], as_of=AS_OF - timedelta(days=2)
    )
    member_tier_pin(member=members["pinned_silver"], floor=tiers["Silver"], as_of=RECENT)
    buy(shop, members["evaluated_tonight"], "50", RECENT)
    member_tier_evaluate(member_id=members["evaluated_tonight"].pk, as_of=AS_OF)
    buy(shop, members["inactive"], "50", RECENT)
    Member.objects.filter(pk=members["inactive"].pk).update(status=Member.Status.SUSPENDED)
    return members


def tier_state() -> dict:
    """Every stored outcome of an evaluation; TierChange ids left out, since they depend on
    the sequence, which a rolled-back run still advanced."""
    return {
        "states": list(
            MemberTier.objects.order_by("member_id").values_list(
                "member_id", "tier_id", "floor_id", "below_since", "evaluated_at", "changed_at"
            )
        ),
        "changes": list(
            TierChange.objects.order_by("id").values_list(
                "member_id",
                "from_tier_id",
                "to_tier_id",
                "reason",
                "detail",
                "qualifying_value",
                "changed_at",
                "actor_user_id",
            )
        ),
    }


def run_summary(run: JobRun) -> tuple:
    return (run.status, run.chunks_total, run.items_processed, run.totals, run.error)


def nights(chunk_size: int) -> list:
    """Tonight, tonight again (a rerun), and the next two nights."""
    outcome = []
    for as_of in (AS_OF, AS_OF, AS_OF + timedelta(days=1), AS_OF + timedelta(days=2)):
        run = job_run_inline(job_name="tiers", as_of=as_of, chunk_size=chunk_size)
        outcome.append((run_summary(run), tier_state()))
    return outcome


@pytest.mark.parametrize("chunk_size", [2, 500])
def test_batches_store_the_same_tiers_as_one_member_at_a_time(
    shop, program, monkeypatch, chunk_size
):
    members = mixed_population(shop, program)

    before = transaction.savepoint()
    with monkeypatch.context() as patched:
        job = jobs.nightly_job_get("tiers")
        patched.setitem(jobs._jobs, "tiers", dataclasses.replace(job, process_batch=None))
        expected = nights(chunk_size)
    transaction.savepoint_rollback(before)
    assert tier_state() != expected[0][1]  # really rolled back

    assert nights(chunk_size) == expected
    tonight, rerun = expected[0], expected[1]
    # One member placed above the entry tier, one moved down after its grace period.
    assert tonight[0][3] == {"tier_qualified": 1, "tier_downgrade": 1}
    # The rerun finds nobody left to evaluate and stores nothing new.
    assert rerun[0][1:3] == (0, 0)
    assert rerun[1] == tonight[1]
    states = {row[0]: row for row in tonight[1]["states"]}
    assert states[members["no_state"].pk][4] == AS_OF
    assert states[members["in_grace"].pk][3] == AS_OF - timedelta(days=5)
    assert members["inactive"].pk in states and states[members["inactive"].pk][4] != AS_OF


def test_a_batch_leaves_only_the_members_whose_tier_changes_tonight(shop, program):
    members = mixed_population(shop, program)
    ids = sorted(member.pk for member in members.values())
    changes_before = TierChange.objects.count()

    counts, left = members_tier_nightly_evaluate(member_ids=ids, as_of=AS_OF)

    assert counts == {}
    # Placed above the entry tier, and moved down at the end of the grace period.
    assert left == sorted(members[name].pk for name in ("no_state_qualified", "grace_over"))
    assert TierChange.objects.count() == changes_before
    batched = (
        "no_state",
        "bronze",
        "gold",
        "pinned_silver",
        "no_state_again",
        "inactive",
        "falls_from_gold",
        "in_grace",
        "pinned_during_grace",
    )
    states = MemberTier.objects.in_bulk([members[name].pk for name in batched])
    assert {state.evaluated_at for state in states.values()} == {AS_OF}
    assert states[members["no_state"].pk].tier.name == "Bronze"
    assert states[members["no_state"].pk].changed_at is None
    # Below Gold since tonight; still in the grace period started five days ago; back in
    # the pinned tier, so the grace period is over.
    below_since = {name: states[members[name].pk].below_since for name in batched[6:]}
    assert below_since == {
        "falls_from_gold": AS_OF,
        "in_grace": AS_OF - timedelta(days=5),
        "pinned_during_grace": None,
    }
    assert {states[members[name].pk].tier.name for name in batched[6:]} == {"Gold"}


def test_a_batch_of_plain_members_takes_a_fixed_number_of_queries(
    shop, program, django_assert_num_queries
):
    tiers_create(program)
    few = [member.pk for member in MemberFactory.create_batch(3)]
    many = [member.pk for member in MemberFactory.create_batch(30)]
    for member_id in few[:1] + many[:10]:
        buy(shop, Member.objects.get(pk=member_id), "20", RECENT)

    # The savepoint the test's transaction turns the durable atomic into and its release,
    # the tiers, the lock, the states, the program, the qualifying values, the update of the
    # states and the insert of the new ones.
    with django_assert_num_queries(9):
        members_tier_nightly_evaluate(member_ids=few, as_of=AS_OF)
    with django_assert_num_queries(9):
        members_tier_nightly_evaluate(member_ids=many, as_of=AS_OF)

    assert MemberTier.objects.filter(evaluated_at=AS_OF).count() == 33
    assert MemberTier.objects.filter(tier__name="Bronze").count() == 33
    assert not TierChange.objects.exists()


def test_grace_periods_start_and_end_in_a_fixed_number_of_queries(
    shop, program, django_assert_num_queries
):
    gold = tiers_create(program)["Gold"]
    members = MemberFactory.create_batch(12)
    for member in members:
        buy(shop, member, "600", OLD)  # Gold, on purchases that have left the window since
    starting, in_grace, back = members[:6], members[6:9], members[9:]
    for member in in_grace + back:
        member_tier_evaluate(member_id=member.pk, as_of=AS_OF - timedelta(days=3))
    for member in back:
        # Pinned to the tier they are in: the grace period is over tonight.
        member_tier_pin(member=member, floor=gold, as_of=AS_OF - timedelta(days=2))

    # The savepoint and its release, the tiers, the lock, the states, the program, the
    # qualifying values, and one update each for the members only evaluated, those whose
    # grace period is over and those whose grace period starts.
    with django_assert_num_queries(10):
        counts, left = members_tier_nightly_evaluate(
            member_ids=[member.pk for member in members], as_of=AS_OF
        )

    assert (counts, left) == ({}, [])
    states = MemberTier.objects.in_bulk([member.pk for member in members])
    assert {states[m.pk].below_since for m in starting} == {AS_OF}
    assert {states[m.pk].below_since for m in in_grace} == {AS_OF - timedelta(days=3)}
    assert {states[m.pk].below_since for m in back} == {None}
    assert {state.evaluated_at for state in states.values()} == {AS_OF}
    assert {state.tier.name for state in states.values()} == {"Gold"}
