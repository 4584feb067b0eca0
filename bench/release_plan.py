"""Planning time of the nightly release (issue 7), from its two sources against the old
OFFSET over the union, on the same data (not a test: run it by hand).

    .venv/bin/python bench/release_plan.py --members 200000 \
        --database-url postgres://postgres@127.0.0.1:5432/loyalty_bench_release_plan

It recreates the database, migrates it and inserts, as bench/nightly_rss.py does,
`members` members with `lots-per-member` pending lots past their returns window, plus a
stale hold for every tenth member (so both sources have members, some in both). Then it
plans the release in-process, as job_run_start does, first from the sources
(job_chunks_plan), then the way it was planned before: the chunk_size-th id of
release_due_member_id_list after each boundary, and checks both give the same chunks.
The old way is skipped with --skip-union (it is quadratic: minutes at 200,000 members).
Times are wall-clock seconds on whatever else the machine is doing.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))


def progress(message: str) -> None:
    print(f"[release_plan {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def union_plan(*, as_of, chunk_size: int) -> list:
    """The chunks as planned before issue 7: the generic keyset plan over the whole union
    (job_chunks_plan without the release's two sources)."""
    import dataclasses

    from rewards.jobs import nightly_job_get
    from rewards.services.nightly import job_chunks_plan

    union_job = dataclasses.replace(nightly_job_get("release"), member_sources=None)
    return list(job_chunks_plan(job=union_job, as_of=as_of, chunk_size=chunk_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--lots-per-member", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--skip-union", action="store_true")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "RELEASE_PLAN_BENCH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/loyalty_bench_release_plan",
        ),
    )
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_engine.settings")

    from nightly_rss import (
        AS_OF,
        PENDING_EARNED_AT,
        PENDING_EXPIRES_AT,
        PENDING_UNTIL,
        database_recreate,
        ledger_generate,
    )

    progress(f"recreating {args.database_url}")
    database_recreate(args.database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=REPO_ROOT,
        env={**os.environ},
        check=True,
    )
    import django

    django.setup()
    from django.db import connection

    from rewards.jobs import nightly_job_get
    from rewards.services.nightly import job_chunks_plan

    progress(f"generating {args.members:,} members with pending lots")
    started = time.monotonic()
    with connection.cursor() as cursor:
        ledger_generate(
            cursor,
            prefix="pending",
            members=args.members,
            lots_per_member=args.lots_per_member,
            earned_at=PENDING_EARNED_AT,
            expires_at=PENDING_EXPIRES_AT,
            pending_until=PENDING_UNTIL,
        )
        cursor.execute(
            """
            INSERT INTO members_shop (name, is_active, created_at)
            VALUES ('bench', true, now())
            """
        )
        # Bare hold rows: only the planner reads them here.
        cursor.execute(
            """
            INSERT INTO rewards_redemption (id, shop_id, member_id, idempotency_key, points,
                discount_amount, currency, order_id, status, hold_expires_at, created_at,
                request_hash, response)
            SELECT gen_random_uuid(), (SELECT max(id) FROM members_shop), m.id,
                'bench-hold-' || m.id, 5, 0.05, 'EUR', '', 'held',
                %(expired)s, %(expired)s, '', '{}'::jsonb
            FROM members_member m WHERE m.id %% 10 = 0
            """,
            {"expired": PENDING_UNTIL},
        )
        cursor.execute("VACUUM ANALYZE")
    progress(f"generated in {time.monotonic() - started:.1f} s; load {os.getloadavg()[0]:.1f}")

    job = nightly_job_get("release")
    started = time.monotonic()
    chunks = list(job_chunks_plan(job=job, as_of=AS_OF, chunk_size=args.chunk_size))
    sources_s = time.monotonic() - started
    progress(f"from the sources: {len(chunks)} chunks in {sources_s:.2f} s")
    print(f"plan from sources: {len(chunks)} chunks, {sources_s:.2f} s")
    if args.skip_union:
        return
    progress("the old way, OFFSET over the union")
    started = time.monotonic()
    old = union_plan(as_of=AS_OF, chunk_size=args.chunk_size)
    union_s = time.monotonic() - started
    print(f"plan over the union: {len(old)} chunks, {union_s:.2f} s")
    print(f"same chunks: {old == chunks}; load avg now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
