"""The set-based nightly catch-up (members_nightly_catch_up): the same ledger as one member
at a time, in a number of queries that does not grow with the members."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from members.models import Member
from rewards import jobs
from rewards.ledger_words import entry_description
from rewards.models import JobRun, LedgerEntry, LotMovement, PointLot, Redemption
from rewards.services.nightly import job_chunk_run, job_run_inline, job_run_start
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles
from tests.nightly_helpers import earn_at, redeem_at, refund_at

pytestmark = pytest.mark.django_db

EARNED_DUE = datetime(2025, 1, 15, 10, tzinfo=UTC)  # expires 2026-02-01 00:00
EXPIRY = datetime(2026, 2, 1, tzinfo=UTC)
EARNED_LATER = datetime(2025, 3, 10, 10, tzinfo=UTC)  # expires 2026-04-01 00:00
AS_OF = datetime(2026, 2, 1, 2, tzinfo=UTC)


def mixed_population(shop, program) -> list[Member]:
    """Members of every kind the nightly catch-up meets, in interleaved id order so the
    ones processed one by one sit between the plain ones in the same batch."""
    members = MemberFactory.create_batch(9)
    plain, stale_hold, owed, pending_due, pending_only, live_hold, nothing, two_days, drift = (
        members
    )
    earn_at(shop, plain, "40.00", EARNED_DUE)
    earn_at(shop, plain, "2.00", EARNED_DUE + timedelta(days=3))
    earn_at(shop, plain, "7.00", EARNED_LATER)
    earn_at(shop, two_days, "11.00", EARNED_DUE)
    earn_at(shop, nothing, "9.00", EARNED_LATER)

    earn_at(shop, stale_hold, "100.00", EARNED_DUE)
    earn_at(shop, live_hold, "100.00", EARNED_DUE)
    earn_at(shop, live_hold, "10.00", EARNED_LATER)
    program.hold_ttl_minutes = 240
    program.save()
    redeem_at(shop, live_hold, 30, EXPIRY - timedelta(minutes=5), hold=True)
    redeem_at(shop, stale_hold, 15, EXPIRY - timedelta(minutes=5), hold=True)
    program.hold_ttl_minutes = 15
    program.save()
    redeem_at(shop, stale_hold, 20, EXPIRY - timedelta(minutes=4), hold=True)

    earn_at(shop, owed, "50.00", EARNED_DUE, order_id="spent")
    redeem_at(shop, owed, 50, EARNED_DUE + timedelta(days=1))
    refund_at(shop, "spent", "50.00", EARNED_DUE + timedelta(days=2))

    program.pending_days = 14
    program.save()
    earn_at(shop, owed, "30.00", EARNED_DUE + timedelta(days=3))
    earn_at(shop, owed, "80.00", EARNED_LATER)
    earn_at(shop, pending_due, "25.00", EARNED_DUE)
    earn_at(shop, pending_due, "12.00", EARNED_LATER)
    earn_at(shop, pending_only, "60.00", AS_OF - timedelta(days=20))
    earn_at(shop, pending_only, "5.00", AS_OF - timedelta(days=3))  # still in its window
    earn_at(shop, two_days, "3.00", EARNED_DUE + timedelta(days=1))  # pending and due at once
    earn_at(shop, drift, "10.00", EARNED_DUE)
    # A drifted cache: expiring the lot would take the pending balance below zero, which
    # the database refuses; that member fails alone, whichever the path.
    Member.objects.filter(pk=drift.pk).update(points_pending=4)
    return members


def ledger_state() -> dict:
    """Everything the nightly jobs write, without the ids that depend on the order of
    writing (entries and movements) so that two runs compare by content."""
    return {
        "entries": sorted(
            LedgerEntry.objects.values_list(
                "member_id",
                "kind",
                "points",
                "held_change",
                "owed_change",
                "reason",
                "reference",
                "actor_kind",
                "actor_shop_id",
                "actor_user_id",
                "redemption_id",
                "effective_at",
                "created_at",
            )
        ),
        "movements": sorted(
            LotMovement.objects.values_list(
                "entry__member_id", "entry__kind", "entry__reference", "lot_id", "points"
            )
        ),
        "lots": list(PointLot.objects.order_by("id").values_list("id", "remaining", "is_pending")),
        "members": list(
            Member.objects.order_by("id").values_list(
                "id",
                "points_available",
                "points_pending",
                "points_held",
                "points_owed",
                "lifetime_earned",
            )
        ),
        "holds": list(Redemption.objects.order_by("id").values_list("id", "status", "resolved_at")),
    }


def run_summary(run: JobRun) -> tuple:
    return (run.status, run.items_processed, run.totals, run.error.count("member "))


def one_by_one(monkeypatch) -> None:
    """The nightly catch-up as it was before batches: every member in its own transaction."""
    for name in ("expire", "release"):
        job = jobs.nightly_job_get(name)
        monkeypatch.setitem(jobs._jobs, name, dataclasses.replace(job, process_batch=None))


def night(chunk_size: int) -> tuple[tuple, tuple, dict]:
    expire = job_run_inline(job_name="expire", as_of=AS_OF, chunk_size=chunk_size)
    release = job_run_inline(job_name="release", as_of=AS_OF, chunk_size=chunk_size)
    return run_summary(expire), run_summary(release), ledger_state()


@pytest.mark.parametrize("chunk_size", [3, 500])
def test_batches_write_the_same_ledger_as_one_member_at_a_time(
    shop, program, monkeypatch, chunk_size
):
    members = mixed_population(shop, program)

    before = transaction.savepoint()
    with monkeypatch.context() as patched:
        one_by_one(patched)
        expected = night(chunk_size)
    transaction.savepoint_rollback(before)
    assert ledger_state()["entries"] != expected[2]["entries"]  # really rolled back

    alone = []
    for name in ("expire", "release"):
        job = jobs.nightly_job_get(name)

        def process_member(*, member_id, as_of, process=job.process_member):
            alone.append(member_id)
            return process(member_id=member_id, as_of=as_of)

        monkeypatch.setitem(
            jobs._jobs, name, dataclasses.replace(job, process_member=process_member)
        )
    batched = night(chunk_size)

    assert batched == expected
    # Only the stale hold, the owed points and the drifted cache (twice: both jobs find it
    # due) were left to one member at a time.
    stale_hold, owed, drift = members[1], members[2], members[-1]
    assert sorted(alone) == sorted([stale_hold.pk, owed.pk, drift.pk, drift.pk])
    expire, release, state = batched
    assert expire[0] == "failed" and expire[3] == 1  # the drifted member, alone
    assert {kind for _, kind, *_ in state["entries"]} >= {"expire", "release", "settle"}
    for member in members[:-1]:
        assert_reconciles(member)


def test_batches_expire_in_one_entry_per_member_that_says_what_expired(shop, program):
    members = MemberFactory.create_batch(3)
    for member in members:
        earn_at(shop, member, "40.00", EARNED_DUE)
        earn_at(shop, member, "2.00", EARNED_DUE + timedelta(days=3))
        earn_at(shop, member, "7.00", EARNED_LATER)

    run = job_run_inline(job_name="expire", as_of=AS_OF)
    again = job_run_inline(job_name="expire", as_of=AS_OF)

    for member in members:
        entry = LedgerEntry.objects.get(member=member, kind="expire")
        assert entry.points == -42
        assert entry_description(entry) == (
            "42 points earned 15 January 2025 to 18 January 2025 expired unspent."
        )
        assert (entry.reference, entry.actor_kind) == ("expiry", "system")
        assert (entry.effective_at, entry.created_at) == (AS_OF, AS_OF)
        assert sorted(entry.movements.values_list("points", flat=True)) == [-40, -2]
        member.refresh_from_db()
        assert (member.points_available, member.points_pending) == (7, 0)
        assert_reconciles(member)
    assert (run.status, run.items_processed, run.totals["points_expired"]) == (
        "succeeded",
        3,
        3 * 42,
    )
    assert (again.items_processed, LedgerEntry.objects.filter(kind="expire").count()) == (0, 3)


def members_due(shop, count: int) -> None:
    for member in MemberFactory.create_batch(count):
        earn_at(shop, member, "10.00", EARNED_DUE)
        earn_at(shop, member, "5.00", EARNED_DUE + timedelta(days=2))
        earn_at(shop, member, "5.00", EARNED_LATER)


@pytest.mark.parametrize("members", [5, 50])
def test_a_chunk_takes_the_same_number_of_queries_however_many_members(
    shop, program, django_assert_num_queries, members
):
    members_due(shop, members)
    run, chunks = job_run_start(
        job_name="expire", as_of=AS_OF, via=JobRun.Via.COMMAND, chunk_size=500
    )
    assert len(chunks) == 1

    # The run log; the chunk's member ids; the batch: its savepoint (the test's own
    # transaction), member locks, due lots, entries, movements, lots, the points.expired
    # events (one bulk insert, issue 15), balances, release; the run log's counts:
    # savepoint, lock, update, release.
    with django_assert_num_queries(15):
        outcome = job_chunk_run(run_id=run.pk, after=0, upto=None, as_of=AS_OF)

    assert (outcome["items"], outcome["points_expired"]) == (members, members * 15)
    assert PointLot.objects.filter(remaining__gt=0, expires_at__lte=AS_OF).count() == 0


def test_a_batch_the_database_refuses_is_redone_one_member_at_a_time(shop, program, monkeypatch):
    members_due(shop, 4)

    def refused(**kwargs):
        raise IntegrityError("refused")

    job = jobs.nightly_job_get("expire")
    monkeypatch.setitem(jobs._jobs, "expire", dataclasses.replace(job, process_batch=refused))
    run = job_run_inline(job_name="expire", as_of=AS_OF)

    assert (run.status, run.items_processed, run.totals["points_expired"]) == (
        "succeeded",
        4,
        4 * 15,
    )
    assert LedgerEntry.objects.filter(kind="expire").count() == 4
