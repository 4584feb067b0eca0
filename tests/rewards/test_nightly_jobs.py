"""The nightly expire and release jobs, run in-process through the same chunk function the
Celery workers run (the workers themselves: test_nightly_worker.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from members.models import Member
from rewards.jobs import nightly_job_list
from rewards.ledger_words import entry_description
from rewards.models import JobRun, LedgerEntry, PointLot, Redemption
from rewards.services.catch_up import member_nightly_catch_up
from rewards.services.nightly import (
    job_chunks_plan,
    job_run_finish,
    job_run_inline,
    job_run_start,
)
from rewards.tasks import nightly_job_start, nightly_run_fail
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles
from tests.nightly_helpers import earn_at, ledger_snapshot, redeem_at, refund_at

pytestmark = pytest.mark.django_db

# With the default 12 months to the end of the month (program time zone UTC), points earned
# in January 2025 expire at 2026-02-01 00:00, those of March 2025 at 2026-04-01 00:00.
EARNED_DUE = datetime(2025, 1, 15, 10, tzinfo=UTC)
EXPIRY = datetime(2026, 2, 1, tzinfo=UTC)
EARNED_LATER = datetime(2025, 3, 10, 10, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, 2, tzinfo=UTC)


def expire(as_of=AS_OF, **kwargs) -> JobRun:
    return job_run_inline(job_name="expire", as_of=as_of, **kwargs)


def test_expiry_writes_one_entry_per_member_that_says_what_expired(shop, member):
    earn_at(shop, member, "40.00", EARNED_DUE)
    earn_at(shop, member, "2.00", EARNED_DUE + timedelta(days=3))
    earn_at(shop, member, "7.00", EARNED_LATER)

    run = expire()

    entry = LedgerEntry.objects.get(member=member, kind="expire")
    assert entry.points == -42
    assert entry_description(entry) == (
        "42 points earned 15 January 2025 to 18 January 2025 expired unspent."
    )
    assert (entry.actor_kind, entry.created_at) == ("system", AS_OF)
    member.refresh_from_db()
    assert member.points_available == 7
    assert run.status == "succeeded"
    assert (run.items_processed, run.totals["points_expired"]) == (1, 42)
    assert_reconciles(member)


def test_expiry_leaves_points_until_their_expiry_instant(shop, member):
    earn_at(shop, member, "40.00", EARNED_DUE)

    early = expire(as_of=EXPIRY - timedelta(microseconds=1))
    on_time = expire(as_of=EXPIRY)

    assert early.items_processed == 0
    assert on_time.items_processed == 1
    assert PointLot.objects.get().remaining == 0


def test_running_expiry_twice_for_the_same_as_of_changes_nothing(shop):
    members = MemberFactory.create_batch(4)
    for index, member in enumerate(members):
        earn_at(shop, member, f"{10 + index}.00", EARNED_DUE)
        earn_at(shop, member, "5.00", EARNED_LATER)
    first = expire()
    after_first = ledger_snapshot()

    second = expire()

    assert ledger_snapshot() == after_first
    assert (first.items_processed, second.items_processed) == (4, 0)
    assert second.totals == {"expiring_soon_days": 30} | {
        key: value for key, value in second.totals.items() if key.startswith("expiring_soon")
    }
    assert LedgerEntry.objects.filter(kind="expire").count() == 4


def test_a_pending_lot_due_and_expired_at_once_is_released_then_expired(shop, member, program):
    program.pending_days = 14
    program.save()
    earn_at(shop, member, "25.00", EARNED_DUE)
    member.refresh_from_db()
    assert member.points_pending == 25

    run = expire()

    member.refresh_from_db()
    assert (member.points_available, member.points_pending) == (0, 0)
    assert LedgerEntry.objects.get(member=member, kind="expire").points == -25
    assert run.totals["points_no_longer_pending"] == 25
    assert_reconciles(member)


def test_owed_points_are_settled_from_points_that_have_not_expired(shop, member, program):
    # 50 points earned and spent, then the purchase refunded: 50 points owed.
    earn_at(shop, member, "50.00", EARNED_DUE, order_id="spent")
    redeem_at(shop, member, 50, EARNED_DUE + timedelta(days=1))
    refund_at(shop, "spent", "50.00", EARNED_DUE + timedelta(days=2))
    # Then, pending: 30 points due for expiry tonight and 80 that are not.
    program.pending_days = 14
    program.save()
    earn_at(shop, member, "30.00", EARNED_DUE + timedelta(days=3))
    earn_at(shop, member, "80.00", EARNED_LATER)
    member.refresh_from_db()
    assert (member.points_owed, member.points_pending) == (50, 110)

    run = expire()

    member.refresh_from_db()
    assert (member.points_available, member.points_pending, member.points_owed) == (30, 0, 0)
    assert LedgerEntry.objects.get(member=member, kind="expire").points == -30
    assert LedgerEntry.objects.get(member=member, kind="settle").points == -50
    assert run.totals["points_expired"] == 30
    assert run.totals["points_settled"] == 50
    assert_reconciles(member)


def test_held_points_do_not_expire_and_stale_hold_points_return_to_expire(shop, member, program):
    earn_at(shop, member, "100.00", EARNED_DUE)
    # Still open at the as-of: its 30 points are spoken for and must not expire.
    program.hold_ttl_minutes = 240
    program.save()
    live = redeem_at(shop, member, 30, EXPIRY - timedelta(minutes=5), hold=True)
    # Stale by the as-of: its 20 points go back to their lot, which is due, and expire.
    program.hold_ttl_minutes = 15
    program.save()
    redeem_at(shop, member, 20, EXPIRY - timedelta(minutes=4), hold=True)

    run = expire()

    member.refresh_from_db()
    assert (member.points_available, member.points_held) == (0, 30)
    assert LedgerEntry.objects.get(member=member, kind="expire").points == -70
    assert Redemption.objects.get(pk=live["redemption_id"]).status == "held"
    assert run.totals["points_from_stale_holds"] == 20
    assert_reconciles(member)


def test_release_makes_pending_points_available_once_the_returns_window_passes(
    shop, member, program
):
    program.pending_days = 14
    program.save()
    earned = datetime(2026, 1, 10, 12, tzinfo=UTC)
    earn_at(shop, member, "60.00", earned)

    too_soon = job_run_inline(job_name="release", as_of=earned + timedelta(days=13))
    released = job_run_inline(job_name="release", as_of=earned + timedelta(days=14))

    member.refresh_from_db()
    assert (member.points_available, member.points_pending) == (60, 0)
    assert (too_soon.items_processed, released.items_processed) == (0, 1)
    assert released.totals == {"points_no_longer_pending": 60}
    assert_reconciles(member)


def test_chunks_hold_a_constant_number_of_members_and_cover_every_due_member(shop):
    due = MemberFactory.create_batch(7)
    not_due = MemberFactory.create_batch(3)
    for member in due:
        earn_at(shop, member, "10.00", EARNED_DUE)
    for member in not_due:
        earn_at(shop, member, "10.00", EARNED_LATER)
    job = next(job for job in nightly_job_list() if job.name == "expire")

    chunks = list(job_chunks_plan(job=job, as_of=AS_OF, chunk_size=3))
    run = expire(chunk_size=3)

    assert [chunk.members for chunk in chunks] == [3, 3, 1]
    assert chunks[0].after == 0 and chunks[-1].upto is None
    assert all(a.upto == b.after for a, b in zip(chunks, chunks[1:], strict=False))
    assert (run.chunks_total, run.chunks_done, run.items_processed) == (3, 3, 7)
    assert set(LedgerEntry.objects.filter(kind="expire").values_list("member_id", flat=True)) == {
        member.pk for member in due
    }


def test_one_member_the_database_refuses_does_not_stop_the_others(shop):
    healthy, broken = MemberFactory.create_batch(2)
    earn_at(shop, healthy, "10.00", EARNED_DUE)
    earn_at(shop, broken, "10.00", EARNED_DUE)
    # A corrupted cache: expiring the lot would drive the balance below zero, which the
    # database refuses (member_available_not_negative).
    Member.objects.filter(pk=broken.pk).update(points_available=3)

    run = expire()

    assert run.status == "failed"
    assert (run.items_processed, run.totals["failed"]) == (1, 1)
    assert f"member {broken.pk}:" in run.error
    assert LedgerEntry.objects.filter(member=healthy, kind="expire").exists()
    assert not LedgerEntry.objects.filter(member=broken, kind="expire").exists()


def writes_and_reads(run) -> int:
    """Queries run by `run()`, leaving out the savepoints of the test's own transaction."""
    with CaptureQueriesContext(connection) as context:
        run()
    return sum(1 for query in context if "SAVEPOINT" not in query["sql"])


def test_expiring_one_member_takes_a_fixed_number_of_queries(shop, member):
    earn_at(shop, member, "10.00", EARNED_DUE)
    earn_at(shop, member, "10.00", EARNED_LATER)

    def catch_up():
        return member_nightly_catch_up(member_id=member.pk, as_of=AS_OF)

    # Lock, open lots, the entry, the lots' remainders, the movements, the points.expired
    # event (issue 15), the balance.
    assert writes_and_reads(catch_up) == 7
    # Nothing due any more: the lock and the lots, and no write.
    assert writes_and_reads(catch_up) == 2
    assert catch_up() == {}


def test_the_expire_run_reports_the_points_expiring_soon(shop):
    soon, later = MemberFactory.create_batch(2)
    earn_at(shop, soon, "15.00", EARNED_LATER - timedelta(days=30))  # expires 2026-03-01
    earn_at(shop, later, "15.00", EARNED_LATER)  # expires 2026-04-01

    run = expire()

    assert run.totals == {
        "expiring_soon_days": 30,
        "expiring_soon_members": 1,
        "expiring_soon_points": 15,
    }


def test_the_start_task_runs_the_chunks_and_closes_the_run(shop, settings):
    # Without REDIS_URL Celery runs tasks inline (eager), chord included.
    assert settings.CELERY_TASK_ALWAYS_EAGER
    members = MemberFactory.create_batch(3)
    for member in members:
        earn_at(shop, member, "10.00", EARNED_DUE)

    run_id = nightly_job_start.delay(job="expire", as_of=AS_OF.isoformat()).get()

    run = JobRun.objects.get(pk=run_id)
    assert (run.status, run.via, run.items_processed) == ("succeeded", "celery", 3)
    assert run.finished_at is not None
    assert PointLot.objects.filter(remaining__gt=0).count() == 0


def test_release_chunks_cover_members_with_pending_points_or_stale_holds(shop, program):
    program.pending_days = 14
    program.save()
    pending = MemberFactory.create_batch(4)
    for member in pending:
        earn_at(shop, member, "10.00", AS_OF - timedelta(days=20))
    job = next(job for job in nightly_job_list() if job.name == "release")

    chunks = list(job_chunks_plan(job=job, as_of=AS_OF, chunk_size=3))
    run = job_run_inline(job_name="release", as_of=AS_OF, chunk_size=3)

    assert [chunk.members for chunk in chunks] == [3, 1]
    assert (run.chunks_total, run.items_processed) == (2, 4)
    assert run.totals == {"points_no_longer_pending": 40}


def test_a_chunk_that_fails_for_good_closes_the_run_as_failed(shop):
    run, _ = job_run_start(job_name="expire", as_of=AS_OF, via=JobRun.Via.CELERY)

    # What the chord calls when a chunk task has exhausted its retries.
    nightly_run_fail.run(None, OperationalError("connection lost"), None, run_id=run.pk)
    job_run_finish(run_id=run.pk)  # a late callback leaves it failed

    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "OperationalError: connection lost")
    assert run.finished_at is not None
