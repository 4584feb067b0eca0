"""Wall time and peak memory of the KPI recompute on a large history (a stage of
`make bench`, which puts its table in BENCHMARKS.md; not a test).

    .venv/bin/python bench/kpis.py                  # 100k/1M and 1M/10M
    .venv/bin/python bench/kpis.py --quick          # 5k/50k, for make bench-quick
    .venv/bin/python bench/kpis.py --size 1000000:10000000 --markdown

For each size (members:purchases) it uses a dedicated PostgreSQL database
(loyalty_bench_kpis_<members>_<purchases>). A database that holds a complete fill of that
size is reused (the 10M-purchase fill takes about 20 minutes; --refill forces a new one);
otherwise it is recreated, migrated and filled with SQL (generate_series; only the program
row by the ORM): members enrolling over three years, purchases at 20 shops over 2024-2025,
5% of them refunded (half in full), one earn entry per purchase, redemptions and expiries in
the ledger, tier changes for a tenth of the members and survey answers. Then it times, each
in its own process:

- `manage.py recompute_kpis --from 2025-01-01 --to 2025-12-31 --granularity month`
  (a year of months: 12 periods, with their cohort cells);
- `manage.py run_nightly --job kpis --as-of 2025-12-31T03:00`, the nightly default (the
  current and previous period of each granularity: 10 periods).

Peak RSS is the Django process's high-water mark (os.wait4's ru_maxrss); the aggregation
itself runs inside PostgreSQL, whose memory is bounded by its work_mem per operation.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench_kpis"


def database_recreate(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(url: str, *args: str) -> tuple[float, int, str]:
    """Run manage.py in a child process: wall seconds, peak RSS in MiB, its output."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "true"}
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{output}")
    return seconds, usage.ru_maxrss // 1024, output.strip()


FILL = """
INSERT INTO members_shop (name, is_active, created_at)
    SELECT 'Shop ' || s, true, '2023-01-01' FROM generate_series(1, 20) s;
INSERT INTO rewards_tier (name, rank, threshold, earn_multiplier, benefits)
    VALUES ('Bronze', 1, 0, 1, ''), ('Silver', 2, 200, 1.25, ''), ('Gold', 3, 1000, 1.5, '');
INSERT INTO members_member (external_id, email, name, status, enrolled_at, points_available,
        points_pending, points_held, points_owed, lifetime_earned)
    SELECT 'b-' || m, '', '', 'active',
        timestamptz '2023-01-01'
            + (hashint4(m) & 2147483647) % (3 * 365 * 86400) * interval '1 second',
        0, 0, 0, 0, 0
    FROM generate_series(1, %(members)s) m;
INSERT INTO rewards_purchase (request_hash, response, shop_id, member_id, order_id, amount,
        currency, occurred_at, created_at, points_earned, refunded_amount, points_reversed)
    SELECT '', '{}', 1 + p % 20, 1 + (hashint4(p) & 2147483647) % %(members)s, 'o' || p,
        amount, 'EUR', at, at, floor(amount), 0, 0
    FROM (SELECT p,
            (500 + (hashint4(p + 7) & 2147483647) % 20000) / 100.0 AS amount,
            timestamptz '2024-01-01'
                + (hashint4(p + 13) & 2147483647) % (2 * 365 * 86400) * interval '1 second' AS at
          FROM generate_series(1, %(purchases)s) p) g;
INSERT INTO rewards_refund (request_hash, response, shop_id, purchase_id, refund_id, amount,
        points_reversed, points_owed, created_at)
    SELECT '', '{}', shop_id, id, 'r' || id,
        CASE WHEN id % 40 = 0 THEN amount ELSE round(amount / 3, 2) END,
        0, 0, occurred_at + interval '3 days'
    FROM rewards_purchase WHERE id % 20 = 0;
UPDATE rewards_purchase p SET refunded_amount = r.amount
    FROM rewards_refund r WHERE r.purchase_id = p.id;
INSERT INTO rewards_ledgerentry (member_id, kind, points, held_change, owed_change, reason,
        reference, purchase_id, actor_kind, actor_shop_id, effective_at, created_at)
    SELECT member_id, 'earn', points_earned + 1, 0, 0, 'bench', '', id, 'shop', shop_id,
        occurred_at, occurred_at
    FROM rewards_purchase;
INSERT INTO rewards_ledgerentry (member_id, kind, points, held_change, owed_change, reason,
        reference, actor_kind, actor_shop_id, effective_at, created_at)
    SELECT member_id, 'redeem', -(points_earned / 2) - 1, 0, 0, 'bench', '', 'shop', shop_id,
        occurred_at + interval '20 days', occurred_at + interval '20 days'
    FROM rewards_purchase WHERE id % 10 = 3;
INSERT INTO rewards_ledgerentry (member_id, kind, points, held_change, owed_change, reason,
        reference, actor_kind, effective_at, created_at)
    SELECT member_id, 'expire', -(points_earned / 3) - 1, 0, 0, 'bench', '', 'system',
        occurred_at + interval '365 days', occurred_at + interval '365 days'
    FROM rewards_purchase WHERE id % 20 = 7 AND occurred_at < '2025-01-01';
INSERT INTO rewards_tierchange (member_id, from_tier_id, to_tier_id, reason, detail,
        qualifying_value, changed_at)
    SELECT id, 1, 2 + id % 2, 'qualified', '', 0, enrolled_at + interval '90 days'
    FROM members_member WHERE id % 10 = 0;
INSERT INTO metrics_feedback (request_hash, response, shop_id, member_id, feedback_id, kind,
        score, comment, answered_at, created_at)
    SELECT '', '{}', 1 + f % 20, 1 + (hashint4(f + 3) & 2147483647) % %(members)s, '',
        CASE WHEN f % 3 = 0 THEN 'csat' ELSE 'nps' END,
        CASE WHEN f % 3 = 0 THEN 1 + f % 5 ELSE f % 11 END, '',
        timestamptz '2024-01-01' + f % (2 * 365 * 86400) * interval '1 second', now()
    FROM generate_series(1, %(feedback)s) f;
UPDATE rewards_program SET activity_window_days = 365 WHERE id = 1;
"""


# The bench program's settings; every other column keeps the model's default.
PROGRAM_SETTINGS = {
    "name": "Bench",
    "currency": "EUR",
    "points_per_unit": 1,
    "expiry_months": 12,
    "expiry_at_month_end": True,
    "pending_days": 0,
    "point_value": "0.01",
    "hold_ttl_minutes": 15,
    "timezone": "UTC",
    "tier_basis": "points",
    "tier_window_months": 12,
    "tier_grace_days": 30,
    "activity_window_days": 365,
}


def program_create(url: str) -> None:
    """The program row, made by the ORM (so a column added later gets its default), then
    given the bench's settings."""
    code = (
        "from rewards.models import Program; "
        f"Program.objects.update_or_create(pk=1, defaults={PROGRAM_SETTINGS!r})"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_DEBUG": "true"},
        check=True,
        capture_output=True,
    )


def fill(url: str, *, members: int, purchases: int) -> dict[str, float]:
    counts = {"members": members, "purchases": purchases, "feedback": max(members // 10, 100)}
    started = time.monotonic()
    program_create(url)
    with psycopg.connect(url, autocommit=True) as conn:
        # The generated rows are consistent by construction; skipping the foreign-key
        # triggers while filling (superuser, this session only) cuts the fill several-fold.
        conn.execute("SET session_replication_role = replica")
        for statement in FILL.split(";\n"):
            if statement.strip():
                conn.execute(
                    statement.replace("%(members)s", str(counts["members"]))
                    .replace("%(purchases)s", str(counts["purchases"]))
                    .replace("%(feedback)s", str(counts["feedback"]))
                )
        conn.execute("VACUUM ANALYZE")
        rows = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "members_member",
                "rewards_purchase",
                "rewards_refund",
                "rewards_ledgerentry",
                "rewards_tierchange",
                "metrics_feedback",
            )
        }
    return {"fill_seconds": time.monotonic() - started, **rows}


FILL_MARK = "bench_fill"


def database_filled(url: str, *, members: int, purchases: int) -> float | None:
    """The seconds an earlier fill of this size took, if the database holds one."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                f"SELECT seconds FROM {FILL_MARK} WHERE members = %s AND purchases = %s",
                [members, purchases],
            ).fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def fill_mark(url: str, *, members: int, purchases: int, seconds: float) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {FILL_MARK} (members bigint, purchases bigint, seconds float)")
        conn.execute(f"INSERT INTO {FILL_MARK} VALUES (%s, %s, %s)", [members, purchases, seconds])


def size_url(base_url: str, members: int, purchases: int) -> str:
    return f"{base_url}_{members}_{purchases}"


RUNS = (
    (
        "year of months",
        ["recompute_kpis", "--from", "2025-01-01", "--to", "2025-12-31", "--granularity", "month"],
    ),
    ("nightly default", ["run_nightly", "--job", "kpis", "--as-of", "2025-12-31T03:00"]),
)
# make bench-quick: a quarter of months and the nightly default, on a small history.
RUNS_QUICK = (
    (
        "quarter of months",
        ["recompute_kpis", "--from", "2025-10-01", "--to", "2025-12-31", "--granularity", "month"],
    ),
    RUNS[1],
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        action="append",
        help="members:purchases, e.g. 1000000:10000000 (repeatable; default 100000:1000000 "
        "and 1000000:10000000, or 5000:50000 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="one small size, for make bench-quick")
    parser.add_argument(
        "--markdown", action="store_true", help="print only the results table on stdout"
    )
    parser.add_argument(
        "--refill",
        action="store_true",
        help="fill again even if the database of a size holds a complete earlier fill",
    )
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a size suffix is added")
    args = parser.parse_args()
    sizes = args.size or (["5000:50000"] if args.quick else ["100000:1000000", "1000000:10000000"])
    runs = RUNS_QUICK if args.quick else RUNS
    out = sys.stdout
    if not args.markdown:
        print(
            f"# {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores",
            file=out,
        )
    print(
        "| members | purchases | ledger entries | fill | run | periods | wall time "
        "| per period | peak RSS (Django) |\n|---:|---:|---:|---|---|---:|---:|---:|---:|",
        file=out,
        flush=True,
    )
    for size in sizes:
        members, purchases = (int(part) for part in size.split(":"))
        url = size_url(args.database_url, members, purchases)
        earlier = (
            None if args.refill else database_filled(url, members=members, purchases=purchases)
        )
        if earlier is None:
            log(f"filling {members:,} members and {purchases:,} purchases in {url}")
            database_recreate(url)
            manage(url, "migrate", "--noinput")
            filled = fill(url, members=members, purchases=purchases)
            fill_mark(url, members=members, purchases=purchases, seconds=filled["fill_seconds"])
            fill_note = f"{filled['fill_seconds']:.0f} s"
        else:
            log(f"reusing the fill in {url} ({earlier:.0f} s when made)")
            manage(url, "migrate", "--noinput")
            fill_note = f"reused ({earlier:.0f} s when made)"
        with psycopg.connect(url) as conn:
            entries = conn.execute("SELECT count(*) FROM rewards_ledgerentry").fetchone()[0]
        for label, command in runs:
            log(f"{label}: manage.py {' '.join(command)}")
            seconds, rss, output = manage(url, *command)
            periods = _periods_in(output)
            per_period = f"{seconds / periods:.1f} s" if periods else "?"
            print(
                f"| {members:,} | {purchases:,} | {entries:,} | {fill_note} | {label} "
                f"| {periods or '?'} | {seconds:.1f} s | {per_period} | {rss} MiB |",
                file=out,
                flush=True,
            )
            log(f"    {output}")


def _periods_in(output: str) -> int | None:
    """The number of periods from a command's summary line ("... 12 periods ...")."""
    words = output.replace(",", " ").split()
    for number, word in zip(words, words[1:], strict=False):
        if word.startswith("period") and number.isdigit():
            return int(number)
    return None


if __name__ == "__main__":
    main()
