"""Wall time and peak memory of the nightly expiry on a real worker, for growing numbers of
lots (not a test: run it by hand and copy the table into BENCHMARKS.md).

    .venv/bin/python bench/nightly_rss.py --lots 100000 1000000

For each size it recreates a dedicated PostgreSQL database, migrates it, bulk-inserts
members whose lots are all past expiry (consistent with the ledger), starts a Celery
worker (prefork, --concurrency 2) against Redis, sends the expire job and waits for its run
to close. Peak RSS is each worker process's high-water mark (VmHWM in /proc), read before
the worker stops: the main process and the largest pool child.
"""

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

EARNED_AT = datetime(2025, 1, 10, tzinfo=UTC)
EXPIRES_AT = datetime(2026, 2, 1, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, 2, tzinfo=UTC)


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


def measure(*, lots: int, lots_per_member: int, database_url: str, redis_url: str, chunk: int):
    from celery import Celery
    from django.db import connection

    from rewards.models import JobRun, LedgerEntry, PointLot
    from tests.bulk_ledger import members_with_lots_create

    connection.close()
    database_recreate(database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True
    )

    members = lots // lots_per_member
    started = time.monotonic()
    members_with_lots_create(
        members=members,
        lots_per_member=lots_per_member,
        earned_at=EARNED_AT,
        expires_at=EXPIRES_AT,
        batch_members=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    generated = time.monotonic() - started

    # A queue of its own: other processes on the machine may share the Redis database.
    queue = f"nightly-bench-{uuid.uuid4().hex}"
    log = Path(f"/tmp/nightly_rss_worker_{lots}.log")
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
        started = time.monotonic()
        run_id = client.send_task(
            "rewards.tasks.nightly_job_start",
            kwargs={"job": "expire", "as_of": AS_OF.isoformat(), "chunk_size": chunk},
        ).get(timeout=600)
        while JobRun.objects.filter(pk=run_id, status=JobRun.Status.RUNNING).exists():
            time.sleep(0.5)
        wall = time.monotonic() - started
        marks = high_water_marks(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=120)
        client.close()

    run = JobRun.objects.get(pk=run_id)
    left = PointLot.objects.filter(remaining__gt=0).count()
    expiries = LedgerEntry.objects.filter(kind="expire").count()
    assert run.status == "succeeded", run.error
    assert left == 0 and expiries == members, (left, expiries)
    main = marks.pop(worker.pid)
    return {
        "lots": lots,
        "members": members,
        "chunks": run.chunks_total,
        "generate_s": generated,
        "wall_s": wall,
        "members_per_s": members / wall,
        "rss_main_mib": main / 1024,
        "rss_child_mib": max(marks.values()) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--lots-per-member", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/loyalty_bench_nightly"
    )
    # Not database 5, the test suite's: older copies of its worker tests flush it, which
    # empties every queue in it, a long benchmark run's included.
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    args = parser.parse_args()

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
    print(
        f"Machine: {os.cpu_count()} cores, {memory_gib:.0f} GiB; Python "
        f"{platform.python_version()}, Django {django.get_version()}, Celery "
        f"{celery.__version__}, PostgreSQL {pg_version}; worker prefork --concurrency 2, "
        f"chunk size {args.chunk_size}, {args.lots_per_member} lots per member."
    )
    print("| lots | members | chunks | generate (s) | expiry wall (s) | members/s "
          "| peak RSS main (MiB) | peak RSS largest child (MiB) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for lots in args.lots:
        row = measure(
            lots=lots,
            lots_per_member=args.lots_per_member,
            database_url=args.database_url,
            redis_url=args.redis_url,
            chunk=args.chunk_size,
        )
        print(
            f"| {row['lots']:,} | {row['members']:,} | {row['chunks']} | "
            f"{row['generate_s']:.0f} | {row['wall_s']:.0f} | {row['members_per_s']:.0f} | "
            f"{row['rss_main_mib']:.0f} | {row['rss_child_mib']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
