"""Wall time of the nightly tiers job in-process, in batches against one member per
transaction, on the same data (not a test: run it by hand).

    .venv/bin/python bench/tiers_nightly.py --members 20000 \
        --database-url postgres://postgres@127.0.0.1:5432/loyalty_bench_tiers

It recreates the database, migrates it, creates three tiers (Bronze 0, Silver 100,
Gold 500 points) and `members` members with a tier state, a tenth of them Silver with a
purchase-free window so that they fall below it tonight (grace periods starting), the rest
in the entry tier where they stay. It runs the job for one as-of with the batches, rolls
the database back by recreating it, and runs it again one member per transaction, and
checks both stored the same tier states. Times are wall-clock seconds on whatever else the
machine is doing. `--batches-only` skips the one-by-one run, for sizes where it would take
hours.
"""

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

AS_OF = datetime(2026, 2, 1, 2, 30, tzinfo=UTC)


def progress(message: str) -> None:
    print(f"[tiers_nightly {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(database_url: str, members: int) -> None:
    from nightly_rss import database_recreate

    database_recreate(database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=os.environ, check=True
    )
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO rewards_tier (name, rank, threshold, earn_multiplier, benefits)
            VALUES ('Bronze', 1, 0, 1, ''), ('Silver', 2, 100, 1, ''), ('Gold', 3, 500, 1, '')
            """
        )
        conn.execute(
            """
            INSERT INTO members_member (external_id, email, name, status, enrolled_at,
                points_available, points_pending, points_held, points_owed, lifetime_earned)
            SELECT 'tiers-' || lpad(n::text, 7, '0'), '', '', 'active', %(at)s, 0, 0, 0, 0, 0
            FROM generate_series(1, %(members)s) AS n
            """,
            {"at": AS_OF, "members": members},
        )
        conn.execute(
            """
            INSERT INTO rewards_membertier (member_id, tier_id, evaluated_at)
            SELECT m.id, (SELECT id FROM rewards_tier
                          WHERE name = CASE WHEN m.id %% 10 = 0 THEN 'Silver' ELSE 'Bronze' END),
                %(evaluated)s
            FROM members_member m
            """,
            {"evaluated": datetime(2026, 1, 31, 2, 30, tzinfo=UTC)},
        )
        conn.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TIERS_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loyalty_bench_tiers"
        ),
    )
    parser.add_argument(
        "--batches-only", action="store_true", help="skip the one-by-one run and the comparison"
    )
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_engine.settings")
    import django

    django.setup()
    from django.db import connection

    from rewards import jobs
    from rewards.models import MemberTier
    from rewards.services.nightly import job_run_inline

    def state() -> list:
        return list(
            MemberTier.objects.order_by("member_id").values_list(
                "member_id", "tier_id", "below_since", "evaluated_at"
            )
        )

    outcomes = {}
    for mode in ("batches",) if args.batches_only else ("batches", "one by one"):
        connection.close()
        progress(f"{mode}: preparing {args.members:,} members")
        prepare(args.database_url, args.members)
        job = jobs.nightly_job_get("tiers")
        if mode == "one by one":
            jobs._jobs["tiers"] = dataclasses.replace(job, process_batch=None)
        load = os.getloadavg()[0]
        started = time.monotonic()
        run = job_run_inline(job_name="tiers", as_of=AS_OF)
        wall = time.monotonic() - started
        jobs._jobs["tiers"] = job
        outcomes[mode] = state()
        print(
            f"{mode}: {args.members:,} members in {wall:.1f} s "
            f"({args.members / wall:,.0f} members/s), load avg at start {load:.1f}, "
            f"run {run.status}, {run.items_processed} changed, totals {run.totals}"
        )
    if not args.batches_only:
        print(f"same tier states: {outcomes['batches'] == outcomes['one by one']}")


if __name__ == "__main__":
    main()
