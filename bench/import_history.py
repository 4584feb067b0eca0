"""History import through the bulk path: purchases/s, wall time and peak RSS of
`manage.py import_csv purchases`, beside a pgbench figure of the earn SQL on the same
database (not a test: run it by hand, or as the `import` stage of the benchmark runner).

    .venv/bin/python bench/import_history.py --purchases 1000000 --members 100000
    .venv/bin/python bench/import_history.py --quick --markdown   # 5k purchases, about 20 s

It recreates a dedicated PostgreSQL database, migrates it, and configures a program as a
shop would (points expiring after 12 months, 14 pending days, a tier ladder, a category
multiplier, a spring campaign, a minimum-spend and a first-purchase bonus, a sign-up bonus
and a 10th-purchase milestone), so every row goes through rules, tiers, expiry and
milestones. It enrolls the members with `import_csv members` (the bulk members path, timed
too), writes a CSV of purchases spread over the last two years (random members, in date
order, a third of them coffee), and imports it in a child process, then runs
`verify_ledger`. The wall time includes the import's check of every row (its first pass).

The reference is pgbench running, from 16 clients, one transaction with the SQL an earn
needs at least (lock the member, insert the purchase, its earn entry, its lot and its
award, update the cached balance), against the same database after the import; a figure
measured by the benchmark runner in the same run can be given instead (--pgbench-tps).
Peak RSS is each child's high-water mark (ru_maxrss from os.wait4). With --markdown, only
a markdown fragment goes to stdout; progress goes to stderr.
"""

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.databases import database_from_template  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lb_h4_import"
SHOP = "Bench shop"

SETUP = """
from datetime import UTC, datetime
from decimal import Decimal
from members.models import Shop
from rewards.models import EarnRule, Milestone, Tier
from rewards.selectors import program_get
program = program_get()
program.expiry_months = 12
program.pending_days = 14
program.save()
Shop.objects.create(name="Bench shop")
Tier.objects.create(name="Base", rank=1, threshold=0)
Tier.objects.create(name="Silver", rank=2, threshold=500, earn_multiplier=Decimal("1.25"))
Tier.objects.create(name="Gold", rank=3, threshold=1500, earn_multiplier=Decimal("1.5"))
EarnRule.objects.create(name="Welcome", kind="signup", bonus_points=50)
EarnRule.objects.create(name="Coffee x2", kind="category", multiplier=2, targets="coffee")
EarnRule.objects.create(
    name="Spring", kind="campaign", multiplier=Decimal("1.5"),
    starts_at=datetime(2026, 3, 1, tzinfo=UTC), ends_at=datetime(2026, 4, 1, tzinfo=UTC),
)
EarnRule.objects.create(name="Big basket", kind="min_spend", bonus_points=20, min_amount=100)
EarnRule.objects.create(name="First purchase", kind="first_purchase", bonus_points=30)
Milestone.objects.create(name="Tenth purchase", kind="purchases", target=10, bonus_points=100)
"""

# The least SQL one earn needs, one transaction per purchase, with the row lock the API's
# earn takes. Member ids are 1..members (the bench enrolls them in that order).
PGBENCH_EARN = r"""
\set mid random(1, {members})
\set oid random(1, 1000000000000000)
\set points random(1, 200)
BEGIN;
SELECT id, points_available FROM members_member WHERE id = :mid FOR UPDATE;
INSERT INTO rewards_purchase (shop_id, member_id, order_id, amount, currency, occurred_at,
  created_at, points_earned, refunded_amount, points_reversed, request_hash, response)
  VALUES ({shop_id}, :mid, 'pgb-' || :client_id || '-' || :oid, 42.50, 'EUR', now(), now(),
  :points, 0, 0, md5(:oid::text), '{{}}') RETURNING id AS purchase_id \gset
INSERT INTO rewards_ledgerentry (member_id, kind, points, held_change, owed_change, reason,
  reference, purchase_id, actor_kind, actor_shop_id, effective_at, created_at)
  VALUES (:mid, 'earn', :points, 0, 0, 'Earned on a pgbench order', 'order:pgb', :purchase_id,
  'shop', {shop_id}, now(), now()) RETURNING id AS entry_id \gset
INSERT INTO rewards_pointlot (member_id, entry_id, purchase_id, points, remaining, earned_at,
  available_at, is_pending, expires_at)
  VALUES (:mid, :entry_id, :purchase_id, :points, :points, now(), now(), false,
  now() + interval '12 months');
INSERT INTO rewards_earnaward (member_id, entry_id, purchase_id, source, description, points,
  awarded_at, local_date)
  VALUES (:mid, :entry_id, :purchase_id, 'base', 'Base points', :points, now(), current_date);
UPDATE members_member SET points_available = points_available + :points,
  lifetime_earned = lifetime_earned + :points WHERE id = :mid;
COMMIT;
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child(args: list[str], env: dict) -> tuple[float, float, int, str]:
    """Run a child process: (wall seconds, peak RSS MiB, exit code, stdout)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=out, stderr=sys.stderr)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - started
        out.seek(0)
        return elapsed, usage.ru_maxrss / 1024, process.returncode, out.read().strip()


def manage(*args: str, env: dict, check: bool = True) -> tuple[float, float, int, str]:
    result = child([sys.executable, "manage.py", *args], env)
    if check and result[2] != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed with exit code {result[2]}")
    return result


def members_write(path: Path, members: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "email", "enrolled_at"])
        for n in range(1, members + 1):
            writer.writerow([f"m-{n:07d}", f"m{n}@example.com", "2024-06-01"])


def purchases_write(path: Path, *, purchases: int, members: int, now: datetime) -> None:
    """Purchases at random moments of the last two years, in date order."""
    rng = random.Random(7)
    span = 730 * 24 * 3600
    start = now - timedelta(seconds=span + 3600)
    offsets = sorted(rng.randrange(span) for _ in range(purchases))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["shop", "order_id", "member_external_id", "amount", "occurred_at", "category"]
        )
        for n, offset in enumerate(offsets):
            writer.writerow(
                [
                    SHOP,
                    f"h-{n}",
                    f"m-{rng.randrange(1, members + 1):07d}",
                    f"{rng.randrange(500, 15000) / 100:.2f}",
                    (start + timedelta(seconds=offset)).isoformat(timespec="seconds"),
                    "coffee" if rng.random() < 1 / 3 else "",
                ]
            )


def pgbench_tps(url: str, *, members: int, seconds: int) -> tuple[float, int]:
    """Earn transactions per second of the reference script, and its statement count."""
    with psycopg.connect(url) as conn:
        shop_id = conn.execute("SELECT id FROM members_shop WHERE name = %s", [SHOP]).fetchone()[0]
    script = PGBENCH_EARN.format(members=members, shop_id=shop_id)
    statements = sum(1 for line in script.splitlines() if line.rstrip().endswith((";", "\\gset")))
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        result = subprocess.run(
            ["pgbench", "-n", "-c", "16", "-j", "2", "-T", str(seconds), "-f", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(handle.name)
    for line in result.stdout.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2]), statements
    raise SystemExit(f"pgbench printed no tps:\n{result.stdout}\n{result.stderr}")


def load_average() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5k purchases, 500 members")
    parser.add_argument("--markdown", action="store_true", help="only a markdown fragment")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_IMPORT_URL", DEFAULT_URL))
    parser.add_argument("--pgbench-tps", type=float, help="a same-run earn-SQL figure")
    parser.add_argument("--pgbench-seconds", type=int, default=None)
    parser.add_argument(
        "--no-again", action="store_true", help="skip importing the same file a second time"
    )
    args = parser.parse_args()
    if args.quick:
        args.purchases, args.members = 5_000, 500
    pgbench_seconds = args.pgbench_seconds or (3 if args.quick else 20)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "REDIS_URL": "",
    }
    load_at_start = load_average()
    say(f"recreating {args.database_url.rsplit('/', 1)[1]} and migrating")
    database_from_template(args.database_url, env)
    manage("shell", "-c", SETUP, env=env)

    with tempfile.TemporaryDirectory() as directory:
        members_path = Path(directory) / "members.csv"
        purchases_path = Path(directory) / "purchases.csv"
        members_write(members_path, args.members)
        say(f"importing {args.members:,} members")
        members_s, members_rss, _, members_out = manage(
            "import_csv", "members", str(members_path), "--no-progress", env=env
        )
        say(f"  {members_s:.1f} s: {members_out}")
        say(f"writing {args.purchases:,} purchases")
        purchases_write(
            purchases_path, purchases=args.purchases, members=args.members, now=datetime.now(UTC)
        )
        say(f"importing {args.purchases:,} purchases")
        import_s, import_rss, _, import_out = manage(
            "import_csv", "purchases", str(purchases_path), "--no-progress", env=env
        )
        say(f"  {import_s:.1f} s: {import_out}")
        again = "not run"
        if not args.no_again:
            say("importing the same purchases again")
            again_s, _, _, again_out = manage(
                "import_csv", "purchases", str(purchases_path), "--no-progress", env=env
            )
            say(f"  {again_s:.1f} s: {again_out}")
            again = f"{again_s:.1f} s"

    say("verify_ledger")
    verify_s, _, verify_code, verify_out = manage("verify_ledger", env=env, check=False)
    say(f"  exit {verify_code} in {verify_s:.1f} s: {verify_out.splitlines()[-1:]}")
    verified = "passes" if verify_code == 0 else f"FAILS (exit {verify_code})"

    rate = args.purchases / import_s
    if args.pgbench_tps:
        reference, statements, source = args.pgbench_tps, None, "given (--pgbench-tps)"
    else:
        say(f"pgbench earn SQL, 16 clients, {pgbench_seconds} s")
        reference, statements = pgbench_tps(
            args.database_url, members=args.members, seconds=pgbench_seconds
        )
        source = f"pgbench, {statements} statements per earn, 16 clients, {pgbench_seconds} s"
    say(f"  {reference:.0f} earns/s")

    table = [
        "| members | purchases | members import | purchases import (wall) | purchases/s "
        "| peak RSS | again (nothing changed) | earn SQL (pgbench) | ratio | verify_ledger |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {args.members:,} | {args.purchases:,} | {members_s:.1f} s "
        f"({args.members / members_s:,.0f}/s, {members_rss:.0f} MiB) | {import_s:.1f} s "
        f"| {rate:,.0f} | {import_rss:.0f} MiB | {again} | {reference:,.0f}/s "
        f"| {rate / reference:.0%} | {verified} |",
        "",
        f"Reference: {source}. Load average at start: {load_at_start}; at end: "
        f"{load_average()}. The purchases wall time includes checking every row first.",
    ]
    if not args.markdown:
        say(import_out)
    print("\n".join(table))


if __name__ == "__main__":
    main()
