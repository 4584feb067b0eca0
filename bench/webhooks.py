"""Webhook throughput end to end: from outbox rows to a local receiver's 2xx, on a real
Celery worker (not a test: run it by hand, or through the bench runner).

    .venv/bin/python bench/webhooks.py --events 100000
    .venv/bin/python bench/webhooks.py --quick --markdown

It recreates a dedicated PostgreSQL database, migrates it, inserts `events` members and one
undispatched points.expired event each in bulk SQL (a night's expiry run), adds a webhook
endpoint for a receiver on 127.0.0.1 (a threaded HTTP server in this process, answering
204), starts a Celery worker (prefork, --concurrency 2) on a queue of its own, and keeps two
`events_pump` tasks running until the receiver has had every event. It reports events/s
from the first pump to the last 2xx, checks that every delivery is marked delivered and
that the receiver saw each event id once, and samples the worker processes' RSS every
second: the first sample after warm-up, the last, and the peak (flat memory: last ≈ first).

--markdown: stdout carries only the table; progress goes to stderr. --quick: 2,000 events.
Target (issue 15): 100,000 events in under 5 minutes (333 events/s).
"""

import argparse
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.databases import database_from_template  # noqa: E402

QUICK_EVENTS = 2_000
TARGET_EVENTS, TARGET_SECONDS = 100_000, 300


def progress(message: str) -> None:
    print(f"[webhooks {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Receiver:
    def __init__(self):
        self.ids: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.ids.append(self.headers.get("webhook-id", ""))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def rss_kib(pgid: int) -> int:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return total


def outbox_fill(database_url: str, events: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO members_member (external_id, email, name, status, enrolled_at,
                points_available, points_pending, points_held, points_owed, lifetime_earned)
            SELECT 'm-' || lpad(n::text, 7, '0'), '', '', 'active', now(), 0, 0, 0, 0, 50
            FROM generate_series(1, %s) AS n
            """,
            [events],
        )
        conn.execute(
            """
            INSERT INTO events_event (uid, type, occurred_at, created_at, member_id, data)
            SELECT gen_random_uuid(), 'points.expired', now(), now(), id,
                jsonb_build_object('points', -50, 'reason', '50 points expired unspent.',
                    'reference', 'expiry', 'balance', jsonb_build_object('available', 0,
                    'pending', 0, 'held', 0, 'owed', 0, 'lifetime_earned', 50))
            FROM members_member ORDER BY id
            """
        )
        conn.execute("VACUUM ANALYZE")


def run(*, events: int, database_url: str, redis_url: str) -> dict:
    from celery import Celery

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # As in production: with DEBUG on, Django keeps the last 9,000 queries of each
        # connection, and the worker's memory grows until that log is full.
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "WEBHOOK_ALLOW_LOCAL": "true",
    }
    database_from_template(database_url, env)
    progress(f"filling the outbox with {events:,} events")
    outbox_fill(database_url, events)
    receiver = Receiver()
    subprocess.run(
        [sys.executable, "manage.py", "webhook_add", receiver.url, "--description", "bench"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    queue = f"webhooks-bench-{uuid.uuid4().hex}"
    log = Path(f"/tmp/webhooks_bench_worker_{os.getpid()}.log")
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
            f"--hostname=webhooks-bench-{uuid.uuid4().hex[:8]}@%h",
        ],
        cwd=REPO_ROOT,
        env={**env, "CELERY_QUEUE": queue},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = Celery("bench", broker=redis_url, backend=redis_url)
    client.conf.task_default_queue = queue
    samples: list[int] = []
    # (events delivered so far, RSS): the RSS at each tenth of the run shows whether it
    # stays flat or grows with the events.
    progress_samples: list[tuple[int, int]] = []
    try:
        ready_deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            if worker.poll() is not None or time.monotonic() > ready_deadline:
                raise SystemExit(f"the worker did not start:\n{log.read_text()}")
            time.sleep(0.1)
        started = time.monotonic()
        pending = [client.send_task("loyalty_engine.events.tasks.events_pump") for _ in range(2)]
        last_sample = 0.0
        while len(receiver.ids) < events:
            if time.monotonic() - started > 3600:
                raise SystemExit(f"only {len(receiver.ids):,} of {events:,} delivered in an hour")
            pending = [result for result in pending if not result.ready()]
            while len(pending) < 2:
                pending.append(client.send_task("loyalty_engine.events.tasks.events_pump"))
            if time.monotonic() - last_sample >= 1:
                samples.append(rss_kib(worker.pid))
                progress_samples.append((len(receiver.ids), samples[-1]))
                last_sample = time.monotonic()
                progress(f"{len(receiver.ids):,} delivered")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        samples.append(rss_kib(worker.pid))
        # The receiver's 2xx ends the measure; the worker then records the outcomes.
        with psycopg.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                delivered = conn.execute(
                    "SELECT count(*) FROM events_delivery WHERE status = 'delivered'"
                ).fetchone()[0]
                if delivered >= events:
                    break
                time.sleep(0.2)
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)
        client.close()
    warm = samples[min(2, len(samples) - 1)]
    return {
        "events": events,
        "seconds": elapsed,
        "per_s": events / elapsed,
        "unique_ids": len(set(receiver.ids)),
        "delivered_rows": delivered,
        "rss_first_mib": warm / 1024,
        "rss_last_mib": samples[-1] / 1024,
        "rss_peak_mib": max(samples) / 1024,
        "rss_by_share": {
            share: next(
                (rss for done, rss in progress_samples if done >= events * share / 100),
                samples[-1],
            )
            / 1024
            for share in (10, 25, 50, 75, 100)
        },
        "load": os.getloadavg()[0],
    }


def markdown(result: dict) -> str:
    target = TARGET_EVENTS / TARGET_SECONDS
    return "\n".join(
        [
            "| events | wall (s) | events/s | target events/s | distinct ids received | "
            "deliveries marked delivered | worker RSS after warm-up (MiB) | last (MiB) | "
            "peak (MiB) | load avg (1 min) at end |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {result['events']:,} | {result['seconds']:.1f} | {result['per_s']:.0f} | "
            f"{target:.0f} | {result['unique_ids']:,} | {result['delivered_rows']:,} | "
            f"{result['rss_first_mib']:.0f} | {result['rss_last_mib']:.0f} | "
            f"{result['rss_peak_mib']:.0f} | {result['load']:.2f} |",
            "",
            "Worker RSS (MiB) by the share of the events delivered:",
            "",
            "| " + " | ".join(f"{share}%" for share in result["rss_by_share"]) + " |",
            "|" + "---:|" * len(result["rss_by_share"]),
            "| " + " | ".join(f"{mib:.0f}" for mib in result["rss_by_share"].values()) + " |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=TARGET_EVENTS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events")
    parser.add_argument("--markdown", action="store_true", help="stdout: only the table")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "WEBHOOKS_BENCH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/loyalty_bench_webhooks",
        ),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("WEBHOOKS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/10"),
    )
    args = parser.parse_args()
    events = QUICK_EVENTS if args.quick else args.events
    result = run(events=events, database_url=args.database_url, redis_url=args.redis_url)
    if result["unique_ids"] != events or result["delivered_rows"] != events:
        raise SystemExit(f"not every event was delivered once: {result}")
    print(markdown(result))
    if not args.markdown:
        print(result, file=sys.stderr)


if __name__ == "__main__":
    main()
