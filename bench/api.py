"""The API under load, side by side with PostgreSQL running the same SQL (stages of
bench/run.py; see BENCHMARKS.md for how to read the figures).

    .venv/bin/python bench/api.py throughput --markdown [--quick]
    .venv/bin/python bench/api.py profile --markdown [--quick]
    .venv/bin/python bench/api.py proxy --markdown [--quick] [--members N --duration S]

`throughput` recreates a dedicated PostgreSQL database (BENCH_API_DATABASE_URL), migrates
it, fills it with SQL (members with a starting bonus lot each, consistent with the
ledger), creates a shop and its API key, and records the SQL of one earn and one redeem
in-process (bench/pgbench_script.py). Then it serves the app with gunicorn as in
production (DEBUG off, a throwaway secret key, persistent connections, no access log,
127.0.0.1 only) and drives it with wrk from its own process: earn, redeem, one hot member,
balance reads. Then `manage.py verify_ledger`; then pgbench replays the recorded SQL on the
same database at the same concurrency. pgbench writes the captured balances back as
literals, so it runs after the ledger check, never before it.

`profile` samples one gunicorn worker with py-spy while wrk sends earns, then redeems,
and groups the samples (Django ORM, waiting on PostgreSQL, DRF, serialization, our code).
It reuses the database `throughput` filled, or fills one.

`proxy` refills the database and sends earns straight to gunicorn and through nginx in
front of it (the `make serve` setup, deploy/), alternating, and says what the proxy costs.

Markdown goes to stdout, progress to stderr.
"""

import argparse
import dataclasses
import http.client
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench import minimal_sql  # noqa: E402
from bench.databases import (  # noqa: E402,F401
    database_from_template,
    migrate,
    migrations_digest,
    settle,
)
from bench.pgbench_script import request_capture, script_build, sequences_spread  # noqa: E402

BENCH_DIR = REPO_ROOT / "bench"
WRK_DIR = BENCH_DIR / "wrk"
VENV_BIN = Path(sys.executable).parent

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
STARTING_POINTS = 1_000_000
# Two members outside the random range, whose primary keys are distinctive enough to be
# replaced as tokens in the recorded SQL (bench/pgbench_script.py): one records the earn,
# the other the redeem.
CAPTURE_MEMBER_PKS = {"earn": 987654321, "redeem": 987654322}
CONNECTIONS = 16
LOAD_THREADS = 2
# Workers x threads on two cores that share the machine with PostgreSQL and wrk. The full
# run measures each of these on the earn path and keeps the best (`setup_choose`). The
# quick run uses the first: an earn alone spends about 40% of its time on the CPU and 60%
# waiting on PostgreSQL, so three processes keep both cores busy beside PostgreSQL's
# backends. Sync with 3 workers against 4: 595-697 earns/s against 503-648 in six 12 s
# runs alternated, but 313 and 319 against 288 and 355 in four full runs alternated
# A B B A on a slower machine (BENCHMARKS.md, seventh session): within the noise.
SERVER_CONFIGS = [
    ("sync", 3, 1),
    ("gthread", 3, 4),
    ("sync", 2, 1),
    ("sync", 4, 1),
    ("gthread", 2, 4),
    ("gthread", 4, 2),
]
# Issue 18's bound on the earn's p99 at 16 clients: a setup above it is kept only if every
# setup is.
P99_BOUND_MS = 50.0


def log(message: str) -> None:
    print(f"[api] {message}", file=sys.stderr, flush=True)


@dataclass
class Sizes:
    members: int
    duration: int
    sweep_duration: int
    tokens: int
    profile_duration: int
    warm_up: int


FULL = Sizes(
    members=100_000, duration=30, sweep_duration=10, tokens=2000, profile_duration=15, warm_up=3
)
QUICK = Sizes(
    members=10_000, duration=3, sweep_duration=0, tokens=200, profile_duration=3, warm_up=1
)


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Production settings for the served app, with a secret made for this run only."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_LOG_LEVEL": "WARNING",
        # Tokens are minted before the balance load, which must not outlive them.
        "MEMBER_TOKEN_TTL_SECONDS": "86400",
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"bench-api-{uuid.uuid4().hex}",
        "PYTHONUNBUFFERED": "1",
    }


FILL = """
INSERT INTO members_member (id, external_id, email, name, status, enrolled_at,
        points_available, points_pending, points_held, points_owed, lifetime_earned)
    SELECT m, 'bench-' || m, '', '', 'active', now() - interval '30 days',
        %(points)s, 0, 0, 0, %(points)s
    FROM (SELECT generate_series(1, %(members)s) AS m
          UNION ALL SELECT unnest(ARRAY[%(capture)s])) g;
INSERT INTO rewards_ledgerentry (id, member_id, kind, points, held_change, owed_change,
        reason, reference, actor_kind, effective_at, created_at)
    SELECT id, id, 'bonus', %(points)s, 0, 0, 'Benchmark starting balance.', 'bench:start',
        'system', enrolled_at, enrolled_at
    FROM members_member;
INSERT INTO rewards_pointlot (id, member_id, entry_id, points, remaining, earned_at,
        available_at, is_pending, expires_at)
    SELECT id, id, id, %(points)s, %(points)s, enrolled_at, enrolled_at, false,
        now() + interval '180 days'
    FROM members_member
"""


def fill(url: str, *, members: int) -> None:
    """Members 1..N (`bench-<n>`) and the capture members, each with one bonus entry and
    its lot of STARTING_POINTS, the cached balance matching: verify_ledger passes. The
    lot and the entry have the member's id, so a recorded redeem that spends the capture
    member's lot spends member n's lot when its id becomes n. The lots expire in 180 days,
    before any lot earned during the run, so redemptions spend them first."""
    capture = ", ".join(str(pk) for pk in CAPTURE_MEMBER_PKS.values())
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in FILL.split(";\n"):
            conn.execute(
                statement.replace("%(points)s", str(STARTING_POINTS))
                .replace("%(members)s", str(members))
                .replace("%(capture)s", capture)
            )
        # Rows inserted from here on get ids in a range of their own per table, so a
        # recorded id is never mistaken for another number of the request.
        with conn.cursor() as cursor:
            sequences_spread(cursor)
        settle(conn)


def django_setup(env: dict[str, str]) -> None:
    for name in (
        "DATABASE_URL",
        "DJANGO_DEBUG",
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "MEMBER_TOKEN_TTL_SECONDS",
        "REDIS_URL",
        "CELERY_QUEUE",
    ):
        os.environ[name] = env[name]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_engine.settings")
    import django

    django.setup()


def shop_key_create() -> str:
    from members.services import shop_api_key_create
    from rewards.selectors import program_get

    program_get()
    _, key = shop_api_key_create(shop_name="Bench shop", key_name=f"bench-{uuid.uuid4().hex}")
    return key


def scripts_record(key: str, workdir: Path) -> dict[str, dict]:
    """One earn and one redeem in-process, recorded and turned into pgbench scripts. Each
    is recorded after one of its kind that is not: the statements a serving process sends
    on every request, not its first request's (the API key's lookup, the program's
    language, the sequences' names): replayed on every transaction, they slowed the
    replay and made the API look closer to its own SQL than it is."""
    tag = uuid.uuid4().hex[:12]
    requests = {
        "earn": dict(
            path="/api/v1/purchases",
            body={
                "member": f"bench-{CAPTURE_MEMBER_PKS['earn']}",
                "order_id": f"capture-order-{tag}",
                "amount": "57.31",
                "currency": "EUR",
            },
            headers={"Authorization": f"Api-Key {key}"},
            unique_strings={f"capture-order-{tag}": "pg"},
        ),
        "redeem": dict(
            path="/api/v1/redemptions",
            body={"member": f"bench-{CAPTURE_MEMBER_PKS['redeem']}", "points": 1},
            headers={"Authorization": f"Api-Key {key}", "Idempotency-Key": f"capture-key-{tag}"},
            unique_strings={f"capture-key-{tag}": "pgk"},
        ),
    }
    scripts = {}
    for name, request in requests.items():
        pk = CAPTURE_MEMBER_PKS[name]
        status, capture = request_capture(
            member_pk=pk, member_external_id=f"bench-{pk}", warm_up=True, **request
        )
        if status != 201:
            raise RuntimeError(f"the recorded {name} request answered {status}")
        script = script_build(capture)
        path = workdir / f"{name}.pgbench.sql"
        path.write_text(script.text)
        scripts[name] = {"path": path, "script": script}
        log(f"recorded {name}: {script.statements} statements")
    return scripts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_parse(text: str) -> tuple[str, int, int]:
    """`sync,2` or `gthread,2,4` as a SERVER_CONFIGS entry."""
    parts = [part.strip() for part in text.split(",")]
    try:
        if parts[0] == "sync" and len(parts) == 2:
            return ("sync", int(parts[1]), 1)
        if parts[0] == "gthread" and len(parts) == 3:
            return ("gthread", int(parts[1]), int(parts[2]))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a setup: write sync,WORKERS or gthread,WORKERS,THREADS"
    )


def config_label(config: tuple[str, int, int]) -> str:
    worker_class, workers, threads = config
    if worker_class == "sync":
        return f"sync, {workers} workers"
    return f"gthread, {workers} workers × {threads} threads"


def setup_choose(sweep: dict[tuple, list["Load"]]) -> tuple:
    """The setup with the most earns/s (the mean of its rounds) among those whose p99 (the
    mean of its rounds) is under P99_BOUND_MS; the most earns/s of all when none is. Chosen
    by throughput alone, a setup 4 requests/s ahead with a p99 of 392 ms served a whole
    run, although the issue asks for both."""

    def throughput(config):
        return statistics.mean(load.requests_per_s for load in sweep[config])

    within = [c for c in sweep if statistics.mean(x.p99_ms for x in sweep[c]) < P99_BOUND_MS]
    return max(within or sweep, key=throughput)


class Server:
    """gunicorn serving the app on 127.0.0.1 in its own process group."""

    def __init__(self, env: dict[str, str], config: tuple[str, int, int], workdir: Path):
        self.worker_class, self.workers, self.threads = config
        self.port = free_port()
        self.error_log = workdir / f"gunicorn-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "loyalty_engine.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--threads",
            str(self.threads),
            "--error-logfile",
            str(self.error_log),
            "--log-level",
            "warning",
            "--timeout",
            "60",
        ]
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start: {self.log_tail()}")
            try:
                if self.get("/api/v1/program")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)

    @property
    def label(self) -> str:
        return config_label((self.worker_class, self.workers, self.threads))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        try:
            return " / ".join(self.error_log.read_text().strip().splitlines()[-3:])
        except FileNotFoundError:
            return "no log"

    def request(self, method, path, headers=None, body=None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    ok: int
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int]


def wrk_measure(
    server: Server, script: str, *, duration: int, warm_up: int, env: dict[str, str]
) -> Load:
    """`script`'s load for `warm_up` seconds, not measured, then for `duration` seconds.
    A server just started answers its first requests slowly: each worker's first
    connection to PostgreSQL, the statements prepared after five runs, the caches. With
    four workers, their first requests alone were above the 99th percentile of a 10 s
    sweep. pgbench's own figure leaves its connections' start out too ("without initial
    connection time")."""
    if warm_up:
        wrk_run(server, script, duration=warm_up, env=env)
    return wrk_run(server, script, duration=duration, env=env)


def wrk_run(server: Server, script: str, *, duration: int, env: dict[str, str]) -> Load:
    run = uuid.uuid4().hex[:10]
    command = [
        "wrk",
        "-t",
        str(LOAD_THREADS),
        "-c",
        str(CONNECTIONS),
        "-d",
        f"{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(WRK_DIR / script),
        server.url,
    ]
    result = subprocess.run(
        command,
        env={**os.environ, "BENCH_WRK_DIR": str(WRK_DIR), "BENCH_RUN": run, **env},
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    ok = sum(count for status, count in data["statuses"].items() if status.startswith("2"))
    socket_errors = sum(
        data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return Load(
        requests_per_s=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        ok=ok,
        non_2xx=data["non_2xx"],
        socket_errors=socket_errors,
        statuses=data["statuses"],
    )


def pgbench_run(database_url: str, script: Path, *, duration: int, members: int) -> Load:
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as logs:
        command = [
            "pgbench",
            "-n",
            "-M",
            "simple",
            "-c",
            str(CONNECTIONS),
            "-j",
            str(LOAD_THREADS),
            "-T",
            str(duration),
            "-f",
            str(script),
            "-D",
            "member_min=1",
            "-D",
            f"member_max={members}",
            "-l",
            "--log-prefix",
            f"{logs}/tx",
            database_url.replace("postgres://", "postgresql://", 1),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
        output = result.stdout + result.stderr
        tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
        if result.returncode != 0 or not tps:
            raise RuntimeError(f"pgbench failed ({result.returncode}): {output.strip()[-400:]}")
        failed = re.search(r"number of failed transactions: (\d+)", output)
        latencies = []
        for path in Path(logs).iterdir():
            for row in path.read_text().splitlines():
                fields = row.split()
                if len(fields) >= 3:
                    latencies.append(int(fields[2]))
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return Load(
        requests_per_s=float(tps.group(1)),
        p50_ms=quantiles[49] / 1000,
        p99_ms=quantiles[98] / 1000,
        ok=len(latencies),
        non_2xx=int(failed.group(1)) if failed else 0,
        socket_errors=0,
        statuses={},
    )


def tokens_mint(server: Server, key: str, *, count: int, members: int, path: Path) -> None:
    """Member tokens through the API, as a shop's backend mints them."""
    step = max(members // count, 1)

    def mint(n: int) -> str:
        status, body = server.request(
            "POST", f"/api/v1/members/bench-{n}/token", headers={"Authorization": f"Api-Key {key}"}
        )
        if status != 201:
            raise RuntimeError(f"minting a token answered {status}: {body[:200]!r}")
        return json.loads(body)["token"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        tokens = list(pool.map(mint, range(1, members + 1, step)))
    path.write_text("\n".join(tokens[:count]) + "\n")


def hot_member_check(external_id: str) -> dict:
    from django.db import connection
    from django.db.models import Sum

    from members.models import Member
    from rewards.models import LedgerEntry, PointLot
    from rewards.services.verification import member_ledger_problems

    connection.close()
    member = Member.objects.get(external_id=external_id)
    return {
        "cached": member.points_available + member.points_pending,
        "entries": LedgerEntry.objects.filter(member=member).aggregate(s=Sum("points"))["s"],
        "lots": PointLot.objects.filter(member=member).aggregate(s=Sum("remaining"))["s"],
        "entry_count": LedgerEntry.objects.filter(member=member).count(),
        "problems": member_ledger_problems(member),
    }


def verify_ledger(env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_ledger"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode, lines[-1] if lines else "", time.monotonic() - started


def prepare(database_url: str, env: dict[str, str], sizes: Sizes) -> dict[str, float]:
    timings = {}
    started = time.monotonic()
    log(f"recreating {database_url.rsplit('/', 1)[1]}")
    timings["migrated"] = database_from_template(database_url, env)
    timings["create"] = time.monotonic() - started
    started = time.monotonic()
    log(f"filling {sizes.members:,} members")
    fill(database_url, members=sizes.members)
    timings["fill"] = time.monotonic() - started
    return timings


def row(name: str, load: Load, note: str = "") -> str:
    return (
        f"| {name} | {load.requests_per_s:,.0f} | {load.p50_ms:.1f} | {load.p99_ms:.1f} | "
        f"{load.ok:,} | {load.non_2xx:,} | {load.socket_errors:,} | {note} |"
    )


TABLE_HEAD = (
    "| measurement | requests/s | p50 (ms) | p99 (ms) | 2xx | non-2xx | socket errors | notes |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|"
)


def statuses_note(load: Load) -> str:
    other = {s: c for s, c in sorted(load.statuses.items()) if not s.startswith("2")}
    return ", ".join(f"{c:,}× {s}" for s, c in other.items())


def statements_note(script) -> str:
    """What a recorded request sends, in words: "3 statements, 1 transaction"."""
    if script.statements == 1 and script.transactions == 0:
        return "1 statement, its own transaction"
    return (
        f"{script.statements} statements, {script.transactions} "
        f"transaction{'' if script.transactions == 1 else 's'}"
    )


def throughput(args, sizes: Sizes) -> str:
    database_url = args.database_url
    env = server_env(database_url, args.redis_url)
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    out: list[str] = []
    timings = prepare(database_url, env, sizes)
    django_setup(env)
    key = shop_key_create()
    scripts = scripts_record(key, workdir)
    load_env = {"BENCH_API_KEY": key, "BENCH_MEMBERS": str(sizes.members)}

    # Each setup twice, the second round in reverse order, so that a change in the
    # machine's load during the sweep favours none of them; the means decide (`setup_choose`).
    sweep: dict[tuple, list[Load]] = {config: [] for config in SERVER_CONFIGS}
    best = args.setup or SERVER_CONFIGS[0]
    if sizes.sweep_duration and not args.setup:
        for config in SERVER_CONFIGS + SERVER_CONFIGS[::-1]:
            server = Server(env, config, workdir)
            try:
                log(f"earn on {server.label}, {sizes.sweep_duration} s")
                sweep[config].append(
                    wrk_measure(
                        server,
                        "earn.lua",
                        duration=sizes.sweep_duration,
                        warm_up=sizes.warm_up,
                        env=load_env,
                    )
                )
            finally:
                server.stop()
        best = setup_choose(sweep)

    # Before and after in one run: the earn on the Python path (as SQLite and every earn
    # that is not plain run it), then as the PostgreSQL function (rewards.services.plain_earn).
    server = Server({**env, "EARN_PLAIN_FUNCTION": "false"}, best, workdir)
    try:
        log(f"earn on the Python path, {sizes.duration} s")
        earn_python = wrk_measure(
            server, "earn.lua", duration=sizes.duration, warm_up=sizes.warm_up, env=load_env
        )
    finally:
        server.stop()

    server = Server(env, best, workdir)
    try:
        log(f"earn, {sizes.duration} s")
        earn = wrk_measure(
            server, "earn.lua", duration=sizes.duration, warm_up=sizes.warm_up, env=load_env
        )
        log(f"redeem, {sizes.duration} s")
        redeem = wrk_measure(
            server, "redeem.lua", duration=sizes.duration, warm_up=sizes.warm_up, env=load_env
        )
        hot_member = "bench-1"
        log(f"hot member, {sizes.duration} s")
        hot = wrk_measure(
            server,
            "hot.lua",
            duration=sizes.duration,
            warm_up=sizes.warm_up,
            env={**load_env, "BENCH_HOT_MEMBER": hot_member},
        )
        log(f"minting {sizes.tokens} member tokens")
        tokens = workdir / "tokens.txt"
        tokens_mint(server, key, count=sizes.tokens, members=sizes.members, path=tokens)
        log(f"balance reads, {sizes.duration} s")
        balance = wrk_measure(
            server,
            "balance.lua",
            duration=sizes.duration,
            warm_up=sizes.warm_up,
            env={**load_env, "BENCH_TOKENS": str(tokens)},
        )
        server_label = server.label
    finally:
        server.stop()

    hot_check = hot_member_check(hot_member)
    log("verify_ledger")
    verify_code, verify_line, verify_seconds = verify_ledger(env)

    references = {}
    for name in ("earn", "redeem"):
        log(f"pgbench {name}, {sizes.duration} s")
        references[name] = pgbench_run(
            database_url, scripts[name]["path"], duration=sizes.duration, members=sizes.members
        )

    # The least SQL an earn and a redeem need (issue 18), on tables of their own.
    minimal_url = f"{database_url}_minimal"
    log(f"minimal SQL: filling {sizes.members:,} members")
    minimal_sql.database_prepare(minimal_url, members=sizes.members)
    minimal_paths = minimal_sql.scripts_write(workdir)
    minimal = {}
    for name in ("earn", "redeem"):
        log(f"pgbench minimal {name}, {sizes.duration} s")
        minimal[name] = pgbench_run(
            minimal_url, minimal_paths[name], duration=sizes.duration, members=sizes.members
        )

    earn_script, redeem_script = scripts["earn"]["script"], scripts["redeem"]["script"]
    out.append(
        f"{sizes.members:,} members (each with a starting lot of {STARTING_POINTS:,} points), "
        f"{CONNECTIONS} connections, wrk and pgbench with {LOAD_THREADS} threads, "
        f"{sizes.duration} s per measurement, each after {sizes.warm_up} s of the same load "
        "not measured (the API; pgbench leaves its connections' start out); the databases "
        "vacuumed, analyzed and checkpointed after their fill; database "
        + ("migrated" if timings["migrated"] else "copied from its migrated template")
        + f" in {timings['create']:.0f} s and filled in {timings['fill']:.0f} s. "
        f"Server: gunicorn, {server_label}, "
        "DEBUG off, persistent connections (`CONN_MAX_AGE` 60), no access log."
    )
    out.append("")
    if args.setup:
        out.append(
            f"Server setup given (`--setup`), not swept: {config_label(args.setup)} serves "
            "every measurement below."
        )
        out.append("")
    elif sizes.sweep_duration:
        out.append(
            f"Server setups, earn for {sizes.sweep_duration} s each, twice (the second round "
            f"in reverse order); the one with the best mean among those with a mean p99 under "
            f"{P99_BOUND_MS:.0f} ms (of all, if none is) serves every measurement below:"
        )
        out.append("")
        out.append("| gunicorn | requests/s, 1st / 2nd | mean | p50 (ms) | p99 (ms) | non-2xx |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for config, loads in sweep.items():
            mean = statistics.mean(x.requests_per_s for x in loads)
            out.append(
                f"| {config_label(config)}{' (kept)' if config == best else ''} | "
                f"{' / '.join(f'{x.requests_per_s:,.0f}' for x in loads)} | {mean:,.0f} | "
                f"{' / '.join(f'{x.p50_ms:.0f}' for x in loads)} | "
                f"{' / '.join(f'{x.p99_ms:.0f}' for x in loads)} | "
                f"{sum(x.non_2xx + x.socket_errors for x in loads):,} |"
            )
        out.append("")
    out.append(TABLE_HEAD)
    out.append(
        row(
            "Earn API, Python path (`EARN_PLAIN_FUNCTION=false`): before",
            earn_python,
            statuses_note(earn_python),
        )
    )
    out.append(row("Earn API `POST /api/v1/purchases`", earn, statuses_note(earn)))
    out.append(
        row(
            "Earn SQL (pgbench)",
            references["earn"],
            f"{statements_note(earn_script)}; {references['earn'].non_2xx} failed",
        )
    )
    out.append(
        row(
            "Earn SQL, minimal (issue 18's script)",
            minimal["earn"],
            f"{minimal_sql.statements(minimal_sql.EARN)} statements; "
            f"{minimal['earn'].non_2xx} failed",
        )
    )
    out.append(row("Redeem API `POST /api/v1/redemptions`", redeem, statuses_note(redeem)))
    out.append(
        row(
            "Redeem SQL (pgbench)",
            references["redeem"],
            f"{statements_note(redeem_script)}; {references['redeem'].non_2xx} failed",
        )
    )
    out.append(
        row(
            "Redeem SQL, minimal",
            minimal["redeem"],
            f"{minimal_sql.statements(minimal_sql.REDEEM)} statements; "
            f"{minimal['redeem'].non_2xx} failed",
        )
    )
    out.append(row("Hot member: earn + redeem on one member", hot, statuses_note(hot)))
    balance_note = "; ".join(
        x for x in (f"{sizes.tokens:,} member tokens", statuses_note(balance)) if x
    )
    out.append(row("Balance read `GET /api/v1/me/balance`", balance, balance_note))
    out.append("")
    python_ratio = (
        earn_python.requests_per_s / minimal["earn"].requests_per_s
        if minimal["earn"].requests_per_s
        else 0
    )
    out.append(
        f"- **Earn on the Python path: API / minimal SQL = {python_ratio:.1%}** "
        f"({earn_python.requests_per_s:,.0f} requests/s, p99 {earn_python.p99_ms:.0f} ms): "
        "every earn as before the function, measured in this run before the earn below."
    )
    for name, load in (("Earn", earn), ("Redeem", redeem)):
        reference, least = references[name.lower()], minimal[name.lower()]
        ratio = load.requests_per_s / reference.requests_per_s if reference.requests_per_s else 0
        least_ratio = load.requests_per_s / least.requests_per_s if least.requests_per_s else 0
        out.append(
            f"- **{name}: API / minimal SQL = {least_ratio:.1%}** ({load.requests_per_s:,.0f} "
            f"requests/s against {least.requests_per_s:,.0f} transactions/s of the least SQL "
            f"{'an' if name == 'Earn' else 'a'} {name.lower()} needs); "
            f"**API / its own SQL = {ratio:.0%}** (against "
            f"{reference.requests_per_s:,.0f} transactions/s of the statements it sends)."
        )
    exact = (
        not hot_check["problems"]
        and hot_check["cached"] == hot_check["entries"] == hot_check["lots"]
    )
    out.append(
        f"- **Hot member** `{hot_member}`: {'exact' if exact else 'NOT exact'}: cached "
        f"balance {hot_check['cached']:,} = sum of its {hot_check['entry_count']:,} ledger "
        f"entries {hot_check['entries']:,} = sum of its lots {hot_check['lots']:,}"
        + (f"; problems: {'; '.join(hot_check['problems'])}" if hot_check["problems"] else "")
        + "."
    )
    out.append(
        f"- **Ledger** after the API load: `manage.py verify_ledger` exit {verify_code} in "
        f"{verify_seconds:.0f} s: {verify_line}"
    )
    if earn_script.literal_ids_left or redeem_script.literal_ids_left:
        left = earn_script.literal_ids_left + redeem_script.literal_ids_left
        out.append(f"- Ids left as literals in the pgbench scripts: {', '.join(left)}.")
    for name in ("earn", "redeem"):
        out.append("")
        out.append(f"<details><summary>The {name} as pgbench replays it</summary>")
        out.append("")
        out.append("```sql")
        out.append(scripts[name]["script"].text.rstrip())
        out.append("```")
        out.append("")
        out.append("</details>")
    return "\n".join(out)


# Where a sampled frame belongs, by the path py-spy prints (relative to the import root);
# the first match wins.
APP_PATHS = ("rewards/", "members/", "metrics/", "loyalty_engine/")
GROUPS = [
    (
        "serialization (DRF fields, JSON)",
        (
            "rest_framework/serializers.py",
            "rest_framework/fields.py",
            "rest_framework/renderers.py",
            "rest_framework/parsers.py",
            "json/",
            "loyalty_engine/parsers.py",
        ),
    ),
    ("psycopg (adapting, sending)", ("psycopg/", "psycopg_binary/", "psycopg_c/")),
    ("DRF (views, auth)", ("rest_framework/", "rest_framework_api_key/")),
    ("Django ORM", ("django/db/",)),
    ("our code (services, selectors, views)", APP_PATHS),
    ("Django request handling", ("django/",)),
    ("gunicorn", ("gunicorn/",)),
]
WAITING = "waiting on PostgreSQL (psycopg's wait)"
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


def frame_parts(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame)
    return (match["function"], match["path"]) if match else (frame, "")


def frame_group(frame: str) -> str:
    function, path = frame_parts(frame)
    if path.startswith(("psycopg/", "psycopg_binary/")) and (
        function.split(".")[-1] in {"wait", "wait_c", "wait_select", "wait_epoll"}
        or "waiting" in path
    ):
        return WAITING
    for group, prefixes in GROUPS:
        if path.startswith(prefixes):
            return group
    return "other (stdlib, C)"


def in_request(frames: list[str]) -> bool:
    return any(frame_parts(f)[1].startswith(("django/", *APP_PATHS)) for f in frames)


def flame_summary(raw: str, *, top: int = 12) -> tuple[int, int, list[str]]:
    """py-spy's raw output (one `root;...;leaf count` line a stack) grouped: samples in
    requests (a frame of the app or Django on the stack), and tables by own time (the
    innermost known frame) and total time (anywhere on the stack)."""
    own_groups: Counter = Counter()
    total_groups: Counter = Counter()
    own_functions: Counter = Counter()
    total_functions: Counter = Counter()
    total_app: Counter = Counter()
    busy = idle = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        count = int(count)
        if not in_request(frames):
            idle += count
            continue
        busy += count
        own_groups[frame_group(frames[-1])] += count
        for group in {frame_group(f) for f in frames}:
            total_groups[group] += count
        own_functions[frames[-1]] += count
        for function in set(frames):
            total_functions[function] += count
        # A function of the app counts once per sample, whichever of its lines was running.
        for function in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            if frame_group(function).startswith("our code"):
                total_app[function] += count
    lines = []
    if not busy:
        return busy, idle, ["No sample inside a request."]
    lines.append("| group | own time | total time |")
    lines.append("|---|---:|---:|")
    for group, count in own_groups.most_common():
        lines.append(f"| {group} | {count / busy:.0%} | {total_groups[group] / busy:.0%} |")
    lines.append("")
    lines.append(f"Top {top} frames by own time:")
    lines.append("")
    lines.append("| frame | own | total |")
    lines.append("|---|---:|---:|")
    for function, count in own_functions.most_common(top):
        lines.append(
            f"| `{short(function)}` | {count / busy:.1%} | {total_functions[function] / busy:.1%} |"
        )
    lines.append("")
    lines.append(f"Top {top} functions of the app by total time:")
    lines.append("")
    lines.append("| function | total |")
    lines.append("|---|---:|")
    for function, count in total_app.most_common(top):
        lines.append(f"| `{short(function)}` | {count / busy:.1%} |")
    return busy, idle, lines


def short(frame: str) -> str:
    """`function (path:line)` with the path cut to what follows site-packages or the repo."""
    frame = frame.replace(str(REPO_ROOT) + "/", "")
    frame = re.sub(r"\(\S*site-packages/", "(", frame)
    frame = re.sub(r"\(/\S*/lib/python3\.\d+/", "(", frame)
    return frame.replace("|", "\\|")


def profile(args, sizes: Sizes) -> str:
    database_url = args.database_url
    env = server_env(database_url, args.redis_url)
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists:
        # As the throughput stage of the same run left it: migrated and filled.
        log(f"reusing {name}")
        with psycopg.connect(database_url) as conn:
            members = conn.execute(
                "SELECT count(*) FROM members_member WHERE id < %s",
                [min(CAPTURE_MEMBER_PKS.values())],
            ).fetchone()[0]
    else:
        prepare(database_url, env, sizes)
        members = sizes.members
    django_setup(env)
    key = shop_key_create()
    load_env = {"BENCH_API_KEY": key, "BENCH_MEMBERS": str(members)}
    # One sync worker: every sample of it is one request's work, with nothing to tell
    # apart from idle threads; the figures are shares of time, not throughput.
    config = ("sync", 1, 1)
    out = [
        f"py-spy (`record --idle --format raw`, 200 samples/s) attached to one gunicorn sync "
        f"worker (a single worker, so every request's work lands in it) while wrk sends "
        f"{CONNECTIONS} connections for {sizes.profile_duration} s; {members:,} members. "
        "Shares are of the samples taken inside a request; *own* is where the innermost "
        "frame was, *total* is anywhere on the stack. Waiting on PostgreSQL is the time the "
        "worker spent blocked in psycopg's wait for the server's answer."
    ]
    for script, label in (("earn.lua", "Earn"), ("redeem.lua", "Redeem")):
        server = Server(env, config, workdir)
        try:
            worker = server.worker_pids()[0]
            raw = workdir / f"{script}.raw"
            spy = subprocess.Popen(
                [
                    str(VENV_BIN / "py-spy"),
                    "record",
                    "--pid",
                    str(worker),
                    "--idle",
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--duration",
                    str(sizes.profile_duration),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            log(f"profiling {label.lower()}, {sizes.profile_duration} s")
            load = wrk_run(server, script, duration=sizes.profile_duration, env=load_env)
            _, spy_errors = spy.communicate(timeout=60)
            if spy.returncode != 0 or not raw.exists():
                raise RuntimeError(f"py-spy failed: {spy_errors.strip()[-300:]}")
        finally:
            server.stop()
        busy, idle, lines = flame_summary(raw.read_text())
        out.append("")
        out.append(
            f"**{label}** ({load.requests_per_s:,.0f} requests/s on one worker under the "
            f"profiler; {busy:,} samples in requests, {idle:,} outside):"
        )
        out.append("")
        out.extend(lines)
    return "\n".join(out)


class Proxy:
    """Debian's nginx in front of a Server, with the repository's configuration
    (deploy/nginx/, rendered by deploy/serve.py), in its own process group."""

    def __init__(self, upstream: "Server", workdir: Path):
        sys.path.insert(0, str(REPO_ROOT / "deploy"))
        import serve

        self.port = free_port()
        runtime = workdir / f"nginx-{self.port}"
        runtime.mkdir()
        runtime.chmod(0o755)
        conf = serve.nginx_config(
            runtime, listen=str(self.port), upstream=f"127.0.0.1:{upstream.port}"
        )
        self.process = subprocess.Popen(
            [serve.nginx_binary(), "-p", str(runtime), "-c", str(conf), "-e", "stderr"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        serve.wait_for_port(self.port, self.process, "nginx", timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# The setup of `make serve` (deploy/serve.py): gunicorn's defaults there, nginx's workers.
PROXY_SERVER_CONFIG = ("gthread", 2, 4)


def proxy(args, sizes: Sizes) -> str:
    """Earn throughput straight at gunicorn and through nginx in front of the same
    gunicorn, alternating (straight, nginx, nginx, straight) so that a change in the
    machine's load favours neither; the means are compared."""
    database_url = args.database_url
    env = {**server_env(database_url, args.redis_url), "NGINX_WORKERS": "1"}
    os.environ["NGINX_WORKERS"] = "1"
    workdir = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    prepare(database_url, env, sizes)
    django_setup(env)
    key = shop_key_create()
    load_env = {"BENCH_API_KEY": key, "BENCH_MEMBERS": str(sizes.members)}
    loads: dict[str, list[Load]] = {"gunicorn": [], "nginx": []}
    server = Server(env, PROXY_SERVER_CONFIG, workdir)
    nginx = None
    try:
        nginx = Proxy(server, workdir)
        for name in ("gunicorn", "nginx", "nginx", "gunicorn"):
            target = server if name == "gunicorn" else nginx
            log(f"earn via {name}, {sizes.duration} s")
            loads[name].append(wrk_run(target, "earn.lua", duration=sizes.duration, env=load_env))
    finally:
        if nginx is not None:
            nginx.stop()
        server.stop()

    def mean(name: str, attribute: str) -> float:
        return statistics.mean(getattr(load, attribute) for load in loads[name])

    direct, proxied = mean("gunicorn", "requests_per_s"), mean("nginx", "requests_per_s")
    cost = (direct - proxied) / direct * 100 if direct else 0.0
    out = [
        f"Earn (`POST /api/v1/purchases`), {sizes.members:,} members, {CONNECTIONS} "
        f"connections, wrk with {LOAD_THREADS} threads, {sizes.duration} s per measurement, "
        f"twice each in the order straight, nginx, nginx, straight. gunicorn "
        f"{config_label(PROXY_SERVER_CONFIG)} as `make serve` runs it; nginx from Debian with "
        "deploy/nginx/ (1 worker, request and response buffering, keep-alive to gunicorn), "
        "all on this machine.",
        "",
        "| path | requests/s (mean) | p50 (ms) | p99 (ms) | 2xx | non-2xx | socket errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("gunicorn", "straight to gunicorn"), ("nginx", "nginx → gunicorn")):
        out.append(
            f"| {label} | {mean(name, 'requests_per_s'):,.0f} | {mean(name, 'p50_ms'):.1f} | "
            f"{mean(name, 'p99_ms'):.1f} | {sum(x.ok for x in loads[name]):,} | "
            f"{sum(x.non_2xx for x in loads[name]):,} | "
            f"{sum(x.socket_errors for x in loads[name]):,} |"
        )
    out.append("")
    if cost >= 0:
        out.append(
            f"The proxy costs {cost:.1f}% of the earn throughput here: nginx shares the two "
            "cores with gunicorn, PostgreSQL and wrk, so its CPU is taken from the app's."
        )
    else:
        out.append(
            f"Through nginx the earn throughput was {-cost:.1f}% higher in this run: the "
            "proxy's cost is below the run-to-run noise of this machine."
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["throughput", "profile", "proxy"])
    parser.add_argument("--markdown", action="store_true", help="(the only output format)")
    parser.add_argument("--quick", action="store_true", help="10k members, 3 s per figure")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--members", type=int, help="override the size's member count")
    parser.add_argument("--duration", type=int, help="override the seconds per measurement")
    parser.add_argument(
        "--setup",
        type=setup_parse,
        help="serve with this gunicorn setup instead of sweeping: sync,WORKERS or "
        "gthread,WORKERS,THREADS (to compare two trees in one sitting on the same setup)",
    )
    args = parser.parse_args()
    # Stopped by the runner (a timeout) or by hand: unwind, so the finally blocks stop the
    # gunicorn servers, which run in process groups of their own.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = QUICK if args.quick else FULL
    if args.members or args.duration:
        sizes = dataclasses.replace(
            sizes,
            members=args.members or sizes.members,
            duration=args.duration or sizes.duration,
        )
    stages = {"throughput": throughput, "profile": profile, "proxy": proxy}
    text = stages[args.stage](args, sizes)
    print(text)


if __name__ == "__main__":
    main()
