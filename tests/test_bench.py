"""The benchmark harness (bench/): what keeps its figures honest, without timing anything."""

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import override_settings

from bench import api, run
from bench.pgbench_script import request_capture, script_build, sequences_spread
from members.models import Member
from members.services import shop_api_key_create
from rewards.models import Purchase
from rewards.selectors import program_get

REPO_ROOT = Path(__file__).resolve().parent.parent
PROSE = "# Benchmarks\n\nHand-written prose, *kept* as is.\n\n"


def test_a_section_is_replaced_and_the_prose_around_it_kept():
    document = (
        PROSE + "## API\n\n<!-- bench:api -->\nold figures\n<!-- /bench:api -->\n\nAfter: how to "
        "read it.\n"
    )

    updated = run.section_replace(document, "api", "| new | figures |", title="API")

    assert updated == (
        PROSE + "## API\n\n<!-- bench:api -->\n| new | figures |\n<!-- /bench:api -->\n\n"
        "After: how to read it.\n"
    )


def test_a_section_without_markers_is_appended_under_its_heading():
    updated = run.section_replace(PROSE, "kpis", "figures", title="KPI recompute")

    assert updated == (
        PROSE + "## KPI recompute\n\n<!-- bench:kpis -->\nfigures\n<!-- /bench:kpis -->\n"
    )
    assert run.section_replace(updated, "kpis", "figures", title="KPI recompute") == updated


def test_replacing_one_section_leaves_the_others_alone():
    document = run.section_replace(PROSE, "api", "api figures", title="API")
    document = run.section_replace(document, "profile", "profile figures", title="Profile")

    updated = run.section_replace(document, "api", "new api figures", title="API")

    assert "profile figures" in updated and "new api figures" in updated
    assert "\napi figures" not in updated


def write_script(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_a_failing_stage_is_recorded_as_not_measured_and_the_run_goes_on(tmp_path, monkeypatch):
    failing = write_script(
        tmp_path / "failing.py",
        "import sys\nprint('half a table')\nprint('database is gone', file=sys.stderr)\n"
        "sys.exit(3)\n",
    )
    working = write_script(
        tmp_path / "working.py",
        "import sys\nassert sys.argv[1:] == ['--markdown', '--quick'], sys.argv\nprint('| ok |')\n",
    )
    monkeypatch.setattr(
        run,
        "STAGES",
        [
            run.Stage("first", "First", str(failing)),
            run.Stage("missing", "Missing", str(tmp_path / "absent.py")),
            run.Stage("second", "Second", str(working)),
        ],
    )
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(PROSE)

    assert run.main(["--quick", "--output", str(output)]) == 0

    text = output.read_text()
    assert text.startswith(PROSE)
    first = text.split("<!-- bench:first -->")[1].split("<!-- /bench:first -->")[0]
    assert "not measured:" in first and "exited 3: database is gone" in first
    assert "half a table" not in first
    assert "not measured: script missing" in text.split("<!-- bench:missing -->")[1]
    assert "| ok |" in text.split("<!-- bench:second -->")[1]
    assert "stage took" in text.split("<!-- bench:second -->")[1]


def test_a_quick_run_writes_its_own_file_and_leaves_the_full_figures_alone(tmp_path, monkeypatch):
    working = write_script(tmp_path / "working.py", "print('| quick figure |')\n")
    monkeypatch.setattr(run, "STAGES", [run.Stage("only", "Only", str(working))])
    full, quick = tmp_path / "BENCHMARKS.md", tmp_path / "out" / "BENCHMARKS-quick.md"
    full.write_text(PROSE)
    monkeypatch.setattr(run, "FULL_OUTPUT", full)
    monkeypatch.setattr(run, "QUICK_OUTPUT", quick)

    assert run.main(["--quick"]) == 0

    assert full.read_text() == PROSE
    assert "| quick figure |" in quick.read_text()
    assert "quick run" in quick.read_text()


def test_a_stage_that_outlives_its_timeout_is_stopped_and_recorded(tmp_path):
    sleeping = write_script(tmp_path / "sleeping.py", "import time\ntime.sleep(60)\n")
    stage = run.Stage("slow", "Slow", str(sleeping), timeout_quick=1)

    outcome = run.stage_run(stage, quick=True)

    assert outcome.fragment == "not measured: timed out after 1 s."
    assert not outcome.measured and outcome.seconds < 30


def test_the_runner_registers_the_stages_of_every_benchmark():
    commands = {stage.name: stage.command(quick=True)[1:] for stage in run.STAGES}

    assert commands["api"] == ["bench/api.py", "throughput", "--markdown", "--quick"]
    assert commands["profile"] == ["bench/api.py", "profile", "--markdown", "--quick"]
    assert commands["nightly"] == ["bench/nightly_rss.py", "--markdown", "--quick"]
    assert commands["import"] == ["bench/import_history.py", "--markdown", "--quick"]
    assert commands["kpis"] == ["bench/kpis.py", "--markdown", "--quick"]
    assert commands["predictions"] == ["bench/predictions.py", "--markdown", "--quick"]
    assert list(commands)[0] == "machine"


def test_the_machine_header_names_the_cores_memory_and_versions():
    result = subprocess.run(
        [sys.executable, "bench/machine.py", "--markdown"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    for name in (
        "cores",
        "memory",
        "CPU",
        "kernel",
        "load average",
        "Django",
        "psycopg",
        "gunicorn",
        "PostgreSQL server",
        "wrk",
        "pgbench",
    ):
        assert f"| {name}" in result.stdout


def test_the_profile_summary_groups_samples_by_layer():
    raw = "\n".join(
        [
            "<module> (gunicorn:6);SyncWorker.accept (gunicorn/workers/sync.py:30) 50",
            "handle (gunicorn/workers/sync.py:141);get_response (django/core/handlers/base.py:"
            "140);purchase_record (rewards/services/purchases.py:125);execute (django/db/"
            "backends/utils.py:105);Cursor.execute (psycopg/cursor.py:113);Connection.wait "
            "(psycopg/connection.py:495) 60",
            "handle (gunicorn/workers/sync.py:141);get_response (django/core/handlers/base.py:"
            "140);purchase_record (rewards/services/purchases.py:130);compile (django/db/models/"
            "sql/compiler.py:573) 30",
            "handle (gunicorn/workers/sync.py:141);get_response (django/core/handlers/base.py:"
            "140);Serializer.data (rest_framework/serializers.py:573) 10",
        ]
    )

    busy, idle, lines = api.flame_summary(raw)

    assert (busy, idle) == (100, 50)
    table = "\n".join(lines)
    assert "| waiting on PostgreSQL (psycopg's wait) | 60% | 60% |" in table
    assert "| Django ORM | 30% | 90% |" in table
    assert "| serialization (DRF fields, JSON) | 10% | 10% |" in table
    assert "| `purchase_record (rewards/services/purchases.py)` | 90.0% |" in table


def test_a_given_server_setup_is_parsed_or_refused_in_a_sentence():
    import argparse

    assert api.setup_parse("sync,2") == ("sync", 2, 1)
    assert api.setup_parse("gthread, 2, 4") == ("gthread", 2, 4)
    assert api.setup_parse("sync,2") in api.SERVER_CONFIGS
    for text in ("sync", "gthread,2", "sync,two", "eventlet,2"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a setup"):
            api.setup_parse(text)


def sweep_load(requests_per_s: float, p99_ms: float) -> "api.Load":
    return api.Load(
        requests_per_s=requests_per_s,
        p50_ms=p99_ms / 2,
        p99_ms=p99_ms,
        ok=1,
        non_2xx=0,
        socket_errors=0,
        statuses={},
    )


def test_the_sweep_keeps_the_fastest_setup_whose_p99_is_within_the_issues_bound():
    fast_but_slow_tail = ("gthread", 3, 4)
    within = ("sync", 4, 1)
    slower_within = ("sync", 3, 1)
    sweep = {
        fast_but_slow_tail: [sweep_load(360, 392), sweep_load(350, 300)],
        within: [sweep_load(330, 48), sweep_load(340, 45)],
        slower_within: [sweep_load(300, 40), sweep_load(310, 41)],
    }

    assert api.setup_choose(sweep) == within

    # The bound is on the mean of the rounds: one round over it does not rule a setup out.
    sweep[slower_within] = [sweep_load(400, 55), sweep_load(390, 40)]
    assert api.setup_choose(sweep) == slower_within


def test_the_sweep_keeps_the_fastest_setup_when_none_is_within_the_bound():
    sweep = {
        ("sync", 4, 1): [sweep_load(300, 80), sweep_load(320, 90)],
        ("gthread", 3, 4): [sweep_load(330, 392), sweep_load(310, 125)],
    }

    assert api.setup_choose(sweep) == ("gthread", 3, 4)


def test_every_wrk_script_the_api_stage_uses_exists():
    source = (REPO_ROOT / "bench" / "api.py").read_text()
    for name in ("earn.lua", "redeem.lua", "hot.lua", "balance.lua"):
        assert f'"{name}"' in source
        assert "common.lua" in (REPO_ROOT / "bench" / "wrk" / name).read_text()


class _Answer(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # wrk drops its connections at the end of its run, mid-request.
        pass


# CI installs wrk (.ci/run), so there a missing wrk fails instead of skipping.
@pytest.mark.skipif(
    shutil.which("wrk") is None and os.environ.get("CI") != "true",
    reason="wrk is not installed (make bench-tools)",
)
@pytest.mark.parametrize("script", ["earn.lua", "redeem.lua", "hot.lua", "balance.lua"])
def test_the_wrk_scripts_load_and_report_their_status_counts(script, tmp_path):
    server = _QuietServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("token-1\ntoken-2\n")
    try:
        result = subprocess.run(
            [
                "wrk",
                "-t",
                "1",
                "-c",
                "2",
                "-d",
                "1s",
                "-s",
                str(api.WRK_DIR / script),
                f"http://127.0.0.1:{server.server_port}",
            ],
            env={
                "BENCH_WRK_DIR": str(api.WRK_DIR),
                "BENCH_RUN": "t",
                "BENCH_MEMBERS": "10",
                "BENCH_API_KEY": "k",
                "BENCH_TOKENS": str(tokens),
                "PATH": "/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        server.shutdown()

    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    assert data["requests"] > 0
    assert sum(data["statuses"].values()) == data["requests"]


CAPTURE_PK = 987654321


@pytest.fixture
def recorded_shop_key():
    with connection.cursor() as cursor:
        sequences_spread(cursor)
    program_get()
    Member.objects.create(
        pk=CAPTURE_PK,
        external_id=f"bench-{CAPTURE_PK}",
        enrolled_at="2025-01-01T00:00:00Z",
    )
    _, key = shop_api_key_create(shop_name="Bench shop")
    return key


def record(key: str, kind: str):
    if kind == "earn":
        request = dict(
            path="/api/v1/purchases",
            body={
                "member": f"bench-{CAPTURE_PK}",
                "order_id": "cap-1",
                "amount": "57.31",
                "currency": "EUR",
            },
            headers={"Authorization": f"Api-Key {key}"},
            unique_strings={"cap-1": "pg"},
        )
    else:
        request = dict(
            path="/api/v1/redemptions",
            body={"member": f"bench-{CAPTURE_PK}", "points": 2},
            headers={"Authorization": f"Api-Key {key}", "Idempotency-Key": "cap-key-1"},
            unique_strings={"cap-key-1": "pgk"},
        )
    status, capture = request_capture(
        member_pk=CAPTURE_PK, member_external_id=f"bench-{CAPTURE_PK}", **request
    )
    assert status == 201
    return script_build(capture)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_recorded_earn_is_what_a_serving_process_sends_on_every_request(
    recorded_shop_key, monkeypatch
):
    """Recorded after an unrecorded earn: no first request's reads in the replayed SQL (the
    key's lookup, cached about a second, would otherwise be in every replayed earn), and
    no health check of a persistent connection that has just served a request."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    key = recorded_shop_key  # a new key: the verified keys were forgotten when it was made
    headers = {"Authorization": f"Api-Key {key}"}
    body = {"member": f"bench-{CAPTURE_PK}", "amount": "57.31", "currency": "EUR"}
    status, capture = request_capture(
        path="/api/v1/purchases",
        body={**body, "order_id": "cap-2"},
        headers=headers,
        member_pk=CAPTURE_PK,
        member_external_id=f"bench-{CAPTURE_PK}",
        unique_strings={"cap-2": "pg"},
        warm_up=True,
    )

    assert status == 201
    text = script_build(capture).text
    assert "members_shopapikey" not in text and "SELECT 1;" not in text
    # A plain earn on PostgreSQL: one statement, the function (rewards.services.plain_earn),
    # with the program's copy read by the warm-up.
    assert "BEGIN;" not in text and "rewards_program" not in text
    assert text.count("SELECT loyalty_earn_plain(") == 1
    assert "warm-cap-2" not in text and "pg-:client_id-:n" in text
    assert Purchase.objects.filter(order_id__in=["warm-cap-2", "cap-2"]).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_recorded_earn_becomes_a_pgbench_transaction_with_variables(recorded_shop_key):
    # The Python path's earn: a transaction of several statements to turn into a script.
    with override_settings(EARN_PLAIN_FUNCTION=False):
        script = record(recorded_shop_key, "earn")

    text = script.text
    # The member lock, then the writes as one statement (loyalty_engine.rows), among the
    # process's first reads (the health check, the program's language, the key).
    assert script.statements >= 4 and script.transactions == 1
    assert text.count("BEGIN;") == 1 and text.rstrip().endswith("COMMIT;")
    assert 'INSERT INTO "rewards_purchase"' in text and "\\gset" in text
    assert 'WITH w0 AS (INSERT INTO "rewards_ledgerentry"' in text
    assert "pg-:client_id-:n" in text and "cap-1" not in text
    assert str(CAPTURE_PK) not in text and ":member" in text
    assert script.id_variables >= 3 and script.literal_ids_left == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_recorded_redeem_gets_a_fresh_uuid_and_key_each_transaction(recorded_shop_key):
    record(recorded_shop_key, "earn")

    script = record(recorded_shop_key, "redeem")

    assert 'INSERT INTO "rewards_redemption"' in script.text
    assert "pgk-:client_id-:n" in script.text and "cap-key-1" not in script.text
    assert "-0000-4000-8000-:uu" in script.text
    assert "\\set uu " in script.text


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    shutil.which("pgbench") is None and os.environ.get("CI") != "true",
    reason="pgbench is not installed",
)
def test_pgbench_replays_the_recorded_earn_and_redeem(recorded_shop_key, tmp_path):
    scripts = {kind: record(recorded_shop_key, kind) for kind in ("earn", "redeem")}
    settings = connection.settings_dict
    url = (
        f"postgresql://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    for kind, script in scripts.items():
        path = tmp_path / f"{kind}.sql"
        path.write_text(script.text)
        result = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                "simple",
                "-c",
                "2",
                "-t",
                "3",
                "-f",
                str(path),
                "-D",
                f"member_min={CAPTURE_PK}",
                "-D",
                f"member_max={CAPTURE_PK}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode == 0, result.stderr[-500:]
        assert "number of transactions actually processed: 6/6" in result.stdout


def test_a_short_recorded_id_is_refused():
    from bench.pgbench_script import Capture, Statement

    capture = Capture(
        statements=[Statement(sql="SELECT 7", in_transaction=True)],
        member_pk=7,
        member_external_id="m-7",
    )

    with pytest.raises(ValueError, match="too short"):
        script_build(capture)


def test_a_new_id_is_left_as_a_literal_only_where_the_script_still_names_it():
    from bench.pgbench_script import Capture, Statement

    member = 1234567890123
    capture = Capture(
        statements=[
            # A function inserts a purchase (5000000000001) without naming it; a hand-made
            # UPDATE names an award (6000000000001) by an id nobody numbered.
            Statement(sql=f"SELECT earn_somehow({member})", in_transaction=False),
            Statement(
                sql="UPDATE rewards_earnaward SET points = 1 WHERE id = 6000000000001",
                in_transaction=False,
            ),
        ],
        member_pk=member,
        member_external_id="m-1",
        new_ids={"rewards_purchase": [5000000000001], "rewards_earnaward": [6000000000001]},
    )

    script = script_build(capture)

    assert script.literal_ids_left == ["rewards_earnaward.id=6000000000001"]
    assert script.transactions == 0 and ":member" in script.text


@pytest.mark.postgres
def test_a_stage_database_is_a_copy_of_the_migrated_template_kept_between_runs():
    import psycopg

    from bench.databases import TEMPLATE, database_from_template, migrations_digest

    settings = connection.settings_dict
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    base = f"postgres://{settings['USER']}@{host}:{port}"
    url = f"{base}/loyalty_bench_template_check"
    env = {**os.environ, "DJANGO_DEBUG": "true"}
    database_from_template(url, env)
    # A second copy reuses the template: nothing is migrated again.
    assert database_from_template(url, env) is False
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        (comment,) = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [TEMPLATE],
        ).fetchone()
        assert comment == migrations_digest()
        with psycopg.connect(url) as copy:
            applied = copy.execute(
                "SELECT count(*) FROM django_migrations WHERE app = 'rewards'"
            ).fetchone()[0]
        conn.execute('DROP DATABASE IF EXISTS "loyalty_bench_template_check" WITH (FORCE)')
    migrations = Path(__file__).resolve().parent.parent / "rewards" / "migrations"
    assert applied == len(list(migrations.glob("0*.py")))


@pytest.mark.skipif(
    shutil.which("wrk") is None and os.environ.get("CI") != "true",
    reason="wrk is not installed (make bench-tools)",
)
def test_a_measurement_comes_after_a_warm_up_that_is_not_counted(monkeypatch):
    class Counting(_Answer):
        def _answer(self):
            counts.append(1)
            super()._answer()

        do_GET = do_POST = _answer

    counts: list[int] = []
    server = _QuietServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(api, "CONNECTIONS", 2)
    monkeypatch.setattr(api, "LOAD_THREADS", 1)
    target = type("Target", (), {"url": f"http://127.0.0.1:{server.server_port}"})()
    try:
        load = api.wrk_measure(
            target, "earn.lua", duration=1, warm_up=1, env={"BENCH_MEMBERS": "10"}
        )
    finally:
        server.shutdown()
    measured = load.ok + load.non_2xx
    assert measured > 0
    # The receiver answered the warm-up's requests too, which the measurement leaves out.
    assert len(counts) > measured + measured // 4


@pytest.mark.postgres
def test_a_filled_database_is_settled_before_it_is_measured():
    import psycopg

    from bench.databases import settle

    settings = connection.settings_dict
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    base = f"postgres://{settings['USER']}@{host}:{port}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "loyalty_bench_settle_check" WITH (FORCE)')
        conn.execute('CREATE DATABASE "loyalty_bench_settle_check"')
    try:
        with psycopg.connect(f"{base}/loyalty_bench_settle_check", autocommit=True) as conn:
            conn.execute("CREATE TABLE filled AS SELECT generate_series(1, 1000) AS n")
            view = "pg_stat_bgwriter"
            if conn.execute("SELECT to_regclass('pg_catalog.pg_stat_checkpointer')").fetchone()[0]:
                view, column = "pg_stat_checkpointer", "num_requested"
            else:
                column = "checkpoints_req"
            before = conn.execute(f"SELECT {column} FROM {view}").fetchone()[0]
            settle(conn)
            conn.execute("SELECT pg_stat_clear_snapshot()")
            after = conn.execute(f"SELECT {column} FROM {view}").fetchone()[0]
            analyzed = conn.execute(
                "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL "
                "FROM pg_stat_user_tables WHERE relname = 'filled'"
            ).fetchone()[0]
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "loyalty_bench_settle_check" WITH (FORCE)')
    assert after > before
    assert analyzed is True
