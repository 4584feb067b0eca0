"""Wall time and peak memory of the nightly expire and release jobs on a real Celery worker,
for growing numbers of members (not a test: run it by hand, or through the bench runner).

    .venv/bin/python bench/nightly_rss.py --members 20000 200000 --lots-per-member 5
    .venv/bin/python bench/nightly_rss.py --quick --markdown

For each size it recreates a dedicated PostgreSQL database, migrates it and inserts in
bulk SQL, consistent with the ledger, `members` members whose lots are all past expiry (the expire
job's work) and as many members again whose lots are all pending with their returns window
passed (the release job's work), `lots-per-member` lots each. Then it starts a Celery worker
(prefork, --concurrency 2) on a queue of its own in Redis, sends the expire job, waits for
its run to close, then the same for the release job, and checks the result: no due lot left,
one expiry entry per member, no pending lot left, every cached balance equal to its lots.
Peak RSS is each worker process's high-water mark (VmHWM in /proc) over both jobs, read
before the worker stops: the main process and the largest pool child.

With --markdown, stdout carries only the table (a fragment for BENCHMARKS.md) and all
progress goes to stderr. --quick is one small size (4,000 members, 20,000 lots per job)
that runs in well under a minute. Times are wall-clock seconds on whatever else the
machine is doing: the table gives the load average at the start of each size.
"""

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.databases import database_from_template  # noqa: E402

EARNED_AT = datetime(2025, 1, 10, tzinfo=UTC)
EXPIRES_AT = datetime(2026, 2, 1, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, 2, tzinfo=UTC)
# The release job's members: earned three weeks before the as-of, pending until a week
# before it, expiring a year later (so the expire job leaves them alone).
PENDING_EARNED_AT = AS_OF - timedelta(days=21)
PENDING_UNTIL = AS_OF - timedelta(days=7)
PENDING_EXPIRES_AT = datetime(2027, 2, 1, tzinfo=UTC)

QUICK_MEMBERS = 4_000
RUN_TIMEOUT_S = 3600

COLUMNS = [
    ("lots", "lots per job"),
    ("members", "members per job"),
    ("chunks", "chunks"),
    ("load", "load avg (1 min) at start"),
    ("generate_s", "generate (s)"),
    ("expire_s", "expiry wall (s)"),
    ("expire_lots_per_s", "expiry lots/s"),
    ("expire_members_per_s", "expiry members/s"),
    ("release_s", "release wall (s)"),
    ("release_lots_per_s", "release lots/s"),
    ("release_members_per_s", "release members/s"),
    ("rss_main_mib", "peak RSS main (MiB)"),
    ("rss_child_mib", "peak RSS largest child (MiB)"),
]


def progress(message: str) -> None:
    print(f"[nightly_rss {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def database_recreate(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def high_water_marks(pgid: int) -> dict[int, int]:
    """VmHWM in KiB of every process in the worker's process group."""
    marks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    marks[int(entry.name)] = int(line.split()[1])
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return marks


def ledger_generate(
    cursor,
    *,
    prefix: str,
    members: int,
    lots_per_member: int,
    earned_at: datetime,
    expires_at: datetime,
    pending_until: datetime | None,
) -> None:
    """Members with `lots_per_member` lots of POINTS_PER_LOT each, every lot with the earn
    entry that created it and the members' cached balances to match (verify_ledger passes),
    as tests/bulk_ledger.py writes them, but in two INSERT ... SELECT statements: the
    ORM's bulk_create would take longer than the jobs it prepares at a million lots. With
    `pending_until`, the lots are pending until then."""
    from tests.bulk_ledger import POINTS_PER_LOT

    balance = POINTS_PER_LOT * lots_per_member
    pending = pending_until is not None
    cursor.execute(
        """
        INSERT INTO members_member (external_id, email, name, status, enrolled_at,
            points_available, points_pending, points_held, points_owed, lifetime_earned)
        SELECT %(prefix)s || '-' || lpad(n::text, 7, '0'), '', '', 'active', %(earned_at)s,
            %(available)s, %(pending)s, 0, 0, %(balance)s
        FROM generate_series(1, %(members)s) AS n
        """,
        {
            "prefix": prefix,
            "earned_at": earned_at,
            "available": 0 if pending else balance,
            "pending": balance if pending else 0,
            "balance": balance,
            "members": members,
        },
    )
    # One statement for the entries and their lots: the lots take the entries' ids from
    # RETURNING, where a join on tables not yet analyzed can get a nested-loop plan.
    cursor.execute(
        """
        WITH entry AS (
            INSERT INTO rewards_ledgerentry (member_id, kind, points, held_change,
                owed_change, reason, reference, actor_kind, effective_at, created_at)
            SELECT m.id, 'earn', %(points)s, 0, 0, %(reason)s, 'bulk:' || i, 'system',
                %(earned_at)s + i * interval '1 second',
                %(earned_at)s + i * interval '1 second'
            FROM members_member m CROSS JOIN generate_series(0, %(lots)s - 1) AS i
            WHERE m.external_id LIKE %(like)s
            ORDER BY m.id, i
            RETURNING id, member_id, points, effective_at
        )
        INSERT INTO rewards_pointlot (member_id, entry_id, points, remaining, earned_at,
            available_at, is_pending, expires_at)
        SELECT member_id, id, points, points, effective_at,
            coalesce(%(pending_until)s, effective_at), %(is_pending)s, %(expires_at)s
        FROM entry ORDER BY id
        """,
        {
            "points": POINTS_PER_LOT,
            "reason": f"Earned {POINTS_PER_LOT} points (bulk data).",
            "earned_at": earned_at,
            "lots": lots_per_member,
            "like": f"{prefix}-%",
            "pending_until": pending_until,
            "is_pending": pending,
            "expires_at": expires_at,
        },
    )


def job_time(client, *, job: str, chunk: int) -> tuple[int, float]:
    """Send the job, wait for its run to close; its id and the wall time from sending to
    closing (planning the chunks included)."""
    from rewards.models import JobRun

    started = time.monotonic()
    run_id = client.send_task(
        "rewards.tasks.nightly_job_start",
        kwargs={"job": job, "as_of": AS_OF.isoformat(), "chunk_size": chunk},
    ).get(timeout=RUN_TIMEOUT_S)
    deadline = started + RUN_TIMEOUT_S
    last_report = started
    while True:
        run = JobRun.objects.get(pk=run_id)
        if run.status != JobRun.Status.RUNNING:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"The {job} run {run_id} did not finish in {RUN_TIMEOUT_S} s.")
        if time.monotonic() - last_report > 15:
            progress(f"{job}: {run.chunks_done}/{run.chunks_total} chunks")
            last_report = time.monotonic()
        time.sleep(0.2)
    wall = time.monotonic() - started
    if run.status != JobRun.Status.SUCCEEDED:
        raise SystemExit(f"The {job} run {run_id} ended {run.status}: {run.error}")
    return run_id, wall


def ledger_check(*, members: int) -> None:
    """What the two jobs must have done, and that every cached balance equals its lots."""
    from django.db import connection

    from rewards.models import LedgerEntry, PointLot

    due_left = PointLot.objects.filter(remaining__gt=0, expires_at__lte=AS_OF).count()
    pending_left = PointLot.objects.filter(is_pending=True, remaining__gt=0).count()
    expiries = LedgerEntry.objects.filter(kind="expire").count()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM members_member m
            LEFT JOIN (
                SELECT member_id, sum(remaining) AS remaining FROM rewards_pointlot
                GROUP BY member_id
            ) l ON l.member_id = m.id
            WHERE m.points_available + m.points_pending <> coalesce(l.remaining, 0)
            """
        )
        drifted = cursor.fetchone()[0]
    assert (due_left, pending_left, expiries, drifted) == (0, 0, members, 0), (
        f"due lots left {due_left}, pending lots left {pending_left}, "
        f"expiry entries {expiries} (expected {members}), drifted members {drifted}"
    )


def measure(*, members: int, lots_per_member: int, database_url: str, redis_url: str, chunk: int):
    from celery import Celery
    from django.db import connection

    from rewards.models import JobRun

    load = os.getloadavg()[0]
    lots = members * lots_per_member
    progress(f"{members:,} members x {lots_per_member} lots: recreating {database_url}")
    connection.close()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    database_from_template(database_url, env)

    progress(f"generating {lots:,} due lots and {lots:,} pending lots")
    started = time.monotonic()
    with connection.cursor() as cursor:
        ledger_generate(
            cursor,
            prefix="due",
            members=members,
            lots_per_member=lots_per_member,
            earned_at=EARNED_AT,
            expires_at=EXPIRES_AT,
            pending_until=None,
        )
        ledger_generate(
            cursor,
            prefix="pending",
            members=members,
            lots_per_member=lots_per_member,
            earned_at=PENDING_EARNED_AT,
            expires_at=PENDING_EXPIRES_AT,
            pending_until=PENDING_UNTIL,
        )
        cursor.execute("VACUUM ANALYZE")
    generated = time.monotonic() - started

    # A queue of its own: other processes on the machine may share the Redis database.
    queue = f"nightly-bench-{uuid.uuid4().hex}"
    log = Path(f"/tmp/nightly_rss_worker_{os.getpid()}_{members}.log")
    progress(f"starting the worker (log {log})")
    worker = subprocess.Popen(
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
            f"--hostname=nightly-bench-{uuid.uuid4().hex[:8]}@%h",
        ],
        cwd=REPO_ROOT,
        env={**env, "CELERY_QUEUE": queue},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = Celery("bench", broker=redis_url, backend=redis_url)
    client.conf.task_default_queue = queue
    try:
        ready_deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            if worker.poll() is not None or time.monotonic() > ready_deadline:
                raise SystemExit(f"The worker did not start; see {log}")
            time.sleep(0.2)
        progress("expire")
        expire_run, expire_s = job_time(client, job="expire", chunk=chunk)
        progress(f"expire: {expire_s:.1f} s; release")
        _, release_s = job_time(client, job="release", chunk=chunk)
        progress(f"release: {release_s:.1f} s")
        marks = high_water_marks(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=120)
        client.close()
        redis_queue_delete(redis_url, queue)

    ledger_check(members=members)
    main = marks.pop(worker.pid)
    return {
        "lots": lots,
        "members": members,
        "chunks": JobRun.objects.get(pk=expire_run).chunks_total,
        "load": load,
        "generate_s": generated,
        "expire_s": expire_s,
        "expire_lots_per_s": lots / expire_s,
        "expire_members_per_s": members / expire_s,
        "release_s": release_s,
        "release_lots_per_s": lots / release_s,
        "release_members_per_s": members / release_s,
        "rss_main_mib": main / 1024,
        "rss_child_mib": max(marks.values()) / 1024,
    }


def redis_queue_delete(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(queue)
    client.close()


def row_format(row: dict) -> str:
    cells = []
    for key, _ in COLUMNS:
        value = row[key]
        if key in ("lots", "members", "chunks"):
            cells.append(f"{value:,}")
        elif key == "load":
            cells.append(f"{value:.1f}")
        elif key.endswith("_s") and not key.endswith("_per_s"):
            cells.append(f"{value:.1f}")
        else:
            cells.append(f"{value:,.0f}")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--members",
        type=int,
        nargs="+",
        default=[20_000, 200_000],
        help="members per job, one size after the other (default: 20000 200000)",
    )
    parser.add_argument("--lots-per-member", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help=f"one size, {QUICK_MEMBERS:,} members")
    parser.add_argument("--markdown", action="store_true", help="stdout: only the markdown table")
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "NIGHTLY_BENCH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/loyalty_bench_nightly",
        ),
        help="recreated for each size (env NIGHTLY_BENCH_DATABASE_URL)",
    )
    # Not database 5, the test suite's, nor those of other benchmarks on the machine.
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("NIGHTLY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        help="broker and result backend (env NIGHTLY_BENCH_REDIS_URL)",
    )
    args = parser.parse_args()
    sizes = [QUICK_MEMBERS] if args.quick else args.members

    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_engine.settings")
    database_recreate(args.database_url)
    import celery
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    setup = (
        f"Machine: {os.cpu_count()} cores, {memory_gib:.0f} GiB; Python "
        f"{platform.python_version()}, Django {django.get_version()}, Celery "
        f"{celery.__version__}, PostgreSQL {pg_version}; worker prefork --concurrency 2, "
        f"chunk size {args.chunk_size}, {args.lots_per_member} lots per member."
    )
    if args.markdown:
        progress(setup)
    else:
        print(setup)
    print("| " + " | ".join(title for _, title in COLUMNS) + " |")
    print("|" + "---:|" * len(COLUMNS), flush=True)
    for members in sizes:
        row = measure(
            members=members,
            lots_per_member=args.lots_per_member,
            database_url=args.database_url,
            redis_url=args.redis_url,
            chunk=args.chunk_size,
        )
        print(row_format(row), flush=True)


if __name__ == "__main__":
    main()
