"""The nightly jobs end to end: a real Celery worker process, real Redis (database 5) and
the PostgreSQL test database. The test commits its data (transaction=True) so the worker,
another process, sees it; tasks are sent by a separate Celery client app, so this
process's own (eager) Celery settings stay as they are. Each test has a queue of its own,
never a flush of the shared Redis database."""

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from rewards.models import JobRun, LedgerEntry, LotMovement, PointLot, Redemption
from tests.bulk_ledger import POINTS_PER_LOT, members_with_lots_create
from tests.factories import MemberFactory
from tests.nightly_helpers import earn_at, ledger_snapshot, redeem_at

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parents[2]
# Tests that need a real broker read TEST_REDIS_URL, so two checkouts can run side by side.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
EXPIRY = datetime(2026, 2, 1, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, 2, tzinfo=UTC)


def worker_database_url() -> str:
    """The pytest-created test database, for the worker process."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    """`celery worker` in its own process group, so kill -9 takes its pool with it."""

    def __init__(self, log_dir: Path, queue: str):
        self.log_dir = log_dir
        self.queue = queue
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_dir / f"worker-{self.starts}.log"
        env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "REDIS_URL": REDIS_URL,
            "CELERY_QUEUE": self.queue,
            "DJANGO_DEBUG": "true",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "loyalty_engine",
                "worker",
                "--loglevel=info",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                f"--hostname=nightly-test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"The worker did not start:\n{log.read_text()}")
            time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


@pytest.fixture
def queue():
    """A queue of this test's own in Redis database 5, so that other test sessions on the
    machine (other worktrees run this suite too) neither take our tasks nor we theirs."""
    name = f"nightly-test-{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(name)
    client.close()


@pytest.fixture
def worker(queue, tmp_path):
    handle = Worker(tmp_path, queue)
    handle.start()
    yield handle
    handle.stop()
    # Drop the worker's idle connections, or the test database cannot be flushed/dropped.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def client_app(queue):
    app = Celery("nightly-test-client", broker=REDIS_URL, backend=REDIS_URL)
    app.conf.task_default_queue = queue
    yield app
    app.close()


def start(client_app, job: str, *, chunk_size: int, as_of: datetime = AS_OF) -> int:
    result = client_app.send_task(
        "rewards.tasks.nightly_job_start",
        kwargs={"job": job, "as_of": as_of.isoformat(), "chunk_size": chunk_size},
    )
    return result.get(timeout=60)


def finished(run_id: int, timeout: float = 120) -> JobRun:
    deadline = time.monotonic() + timeout
    while True:
        run = JobRun.objects.get(pk=run_id)
        if run.status != JobRun.Status.RUNNING:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still running: {run.__dict__}"
        time.sleep(0.1)


def assert_ledger_verifies() -> None:
    stdout = io.StringIO()
    call_command("verify_ledger", stdout=stdout, stderr=stdout)  # exits 1 on any drift
    assert "members reconcile" in stdout.getvalue()


def test_workers_expire_and_release_in_chunks_and_a_second_run_changes_nothing(
    worker, client_app, shop, program
):
    program.pending_days = 14
    program.hold_ttl_minutes = 15
    program.save()
    due = MemberFactory.create_batch(12)
    for member in due:
        earn_at(shop, member, "30.00", datetime(2025, 1, 10, tzinfo=UTC))
    pending = MemberFactory()
    earn_at(shop, pending, "40.00", AS_OF - timedelta(days=20))  # available by the as-of
    holding = MemberFactory()
    earn_at(shop, holding, "50.00", datetime(2025, 6, 1, tzinfo=UTC))
    redeem_at(shop, holding, 20, AS_OF - timedelta(hours=3), hold=True)  # stale by then

    expire = finished(start(client_app, "expire", chunk_size=5))
    release = finished(start(client_app, "release", chunk_size=5))

    assert (expire.status, expire.chunks_total, expire.chunks_done) == ("succeeded", 3, 3)
    assert (expire.items_processed, expire.totals["points_expired"]) == (12, 12 * 30)
    assert LedgerEntry.objects.filter(kind="expire").count() == 12
    assert (release.status, release.items_processed) == ("succeeded", 2)
    pending.refresh_from_db()
    holding.refresh_from_db()
    assert (pending.points_available, pending.points_pending) == (40, 0)
    assert (holding.points_available, holding.points_held) == (50, 0)
    assert Redemption.objects.get().status == "expired"
    assert_ledger_verifies()
    after_first = ledger_snapshot()

    again = [finished(start(client_app, job, chunk_size=5)) for job in ("expire", "release")]

    assert ledger_snapshot() == after_first
    assert [(run.status, run.items_processed) for run in again] == [
        ("succeeded", 0),
        ("succeeded", 0),
    ]


def test_a_run_killed_half_way_and_rerun_expires_every_lot_exactly_once(
    worker, client_app, program
):
    members, lots_each = 1000, 2
    members_with_lots_create(
        members=members,
        lots_per_member=lots_each,
        earned_at=datetime(2025, 1, 10, tzinfo=UTC),
        expires_at=EXPIRY,
    )
    expiries = LedgerEntry.objects.filter(kind="expire")

    killed_run = start(client_app, "expire", chunk_size=50)
    deadline = time.monotonic() + 60
    while expiries.count() < members // 10:
        assert time.monotonic() < deadline, "the worker expired nothing"
        time.sleep(0.02)
    worker.kill(signal.SIGKILL)
    done_when_killed = expiries.count()
    assert 0 < done_when_killed < members, "the run must be killed half way"
    assert JobRun.objects.get(pk=killed_run).status == "running"  # never closed

    worker.start()
    rerun = finished(start(client_app, "expire", chunk_size=50))

    assert rerun.status == "succeeded"
    assert rerun.items_processed <= members - done_when_killed
    assert PointLot.objects.filter(remaining__gt=0).count() == 0
    per_member = expiries.values("member_id").annotate(n=Count("id"))
    assert per_member.count() == members and {row["n"] for row in per_member} == {1}
    per_lot = LotMovement.objects.values("lot_id").annotate(n=Count("id"))
    assert per_lot.count() == members * lots_each and {row["n"] for row in per_lot} == {1}
    assert not LotMovement.objects.exclude(points=-POINTS_PER_LOT).exists()
    assert_ledger_verifies()
