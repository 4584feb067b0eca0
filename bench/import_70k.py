"""Wall time and peak memory of `manage.py import_csv` on generated files (not a test: run
it by hand and copy the numbers into the README).

    .venv/bin/python bench/import_70k.py --members 70000 --purchases 70000

It recreates a dedicated PostgreSQL database, migrates it, adds a shop, a sign-up rule and
two tiers (so every row goes through enrollment, rules and tiers), writes a members file
and a purchases file (one purchase per member, in date order), and runs the command on each
in a child process: once, then again to show that a second import changes nothing. Peak
RSS is the child's high-water mark (ru_maxrss).
"""

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent


def database_recreate(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def files_write(directory: Path, *, members: int, purchases: int) -> tuple[Path, Path]:
    members_path, purchases_path = directory / "members.csv", directory / "purchases.csv"
    with members_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "email", "name", "birth_date", "enrolled_at"])
        for n in range(members):
            writer.writerow(
                [f"m-{n:07d}", f"m{n}@example.com", f"Member {n}", "1990-01-01", "2025-01-01"]
            )
    start = datetime(2025, 6, 1, tzinfo=UTC)
    with purchases_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["shop", "order_id", "member_external_id", "amount", "occurred_at"])
        for n in range(purchases):
            moment = start + timedelta(seconds=60 * n)
            writer.writerow(
                ["Bench shop", f"o-{n}", f"m-{n % members:07d}", "42.50", moment.isoformat()]
            )
    return members_path, purchases_path


def run(kind: str, path: Path, env: dict) -> tuple[float, int, str]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "import_csv", kind, str(path), "--no-progress"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak_kib, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=70_000)
    parser.add_argument("--purchases", type=int, default=70_000)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/loyalty_bench_import"
    )
    args = parser.parse_args()
    database_recreate(args.database_url)
    env = {**os.environ, "DATABASE_URL": args.database_url, "DJANGO_DEBUG": "true"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True
    )
    setup = (
        "from members.models import Shop; from rewards.models import EarnRule, Tier;"
        "Shop.objects.create(name='Bench shop');"
        "EarnRule.objects.create(name='Welcome', kind='signup', bonus_points=50);"
        "Tier.objects.create(name='Base', rank=1, threshold=0);"
        "Tier.objects.create(name='Gold', rank=2, threshold=1000)"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", setup], cwd=REPO_ROOT, env=env, check=True
    )
    with tempfile.TemporaryDirectory() as directory:
        members_path, purchases_path = files_write(
            Path(directory), members=args.members, purchases=args.purchases
        )
        print(
            f"members file {members_path.stat().st_size / 1e6:.1f} MB, "
            f"purchases file {purchases_path.stat().st_size / 1e6:.1f} MB"
        )
        for kind, path in (("members", members_path), ("purchases", purchases_path)):
            for attempt in ("first", "again"):
                elapsed, peak, out = run(kind, path, env)
                rate = (args.members if kind == "members" else args.purchases) / elapsed
                print(
                    f"{kind:9} {attempt:5}: {elapsed:7.1f} s ({rate:6.0f} rows/s), "
                    f"peak RSS so far {peak / 1024:.0f} MiB: {out}"
                )


if __name__ == "__main__":
    main()
