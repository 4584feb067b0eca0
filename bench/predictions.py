"""Wall time and peak memory of the predictions fit and scoring on a large history (a
stage of `make bench`, which puts its table in BENCHMARKS.md; not a test).

    .venv/bin/python bench/predictions.py                  # 100k/1M and 1M/10M
    .venv/bin/python bench/predictions.py --quick          # 2k/20k, for make bench-quick
    .venv/bin/python bench/predictions.py --size 1000000:10000000 --markdown

For each size (members:purchases) it uses a dedicated PostgreSQL database
(loyalty_bench_predictions_<members>_<purchases>), reused when it holds a complete fill of
that size (--refill forces a new one). The fill is SQL (generate_series): each member is
active from a first day in the first half of 2024 for a span of up to two years, and draws
purchases at a rate that varies from member to member (a skewed share of the purchases),
so the history has the heterogeneity and dropout the BG/NBD describes; 5% of purchases are
refunded (half in full). Then it times `manage.py fit_predictions --as-of 2025-12-31`
(fit, 26-week holdout check, scoring and writing every member's prediction) in its own
process, twice: the first run writes the predictions, the second replaces them.

Peak RSS is the Django process's high-water mark (os.wait4's ru_maxrss). The issue's
target: 1M members with 10M purchases in under 2 minutes, under 1 GB, time linear in size.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.kpis import (  # noqa: E402
    database_filled,
    database_recreate,
    fill_mark,
    log,
    manage,
    program_create,
    size_url,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench_predictions"

FILL = """
INSERT INTO members_shop (name, is_active, created_at)
    SELECT 'Shop ' || s, true, '2023-01-01' FROM generate_series(1, 5) s;
INSERT INTO members_member (external_id, email, name, status, enrolled_at, points_available,
        points_pending, points_held, points_owed, lifetime_earned)
    SELECT 'p-' || m, '', '', 'active', timestamptz '2024-01-01', 0, 0, 0, 0, 0
    FROM generate_series(1, %(members)s) m;
INSERT INTO rewards_purchase (request_hash, response, shop_id, member_id, order_id, amount,
        currency, occurred_at, created_at, points_earned, refunded_amount, points_reversed)
    SELECT '', '{}', 1 + p % 5, m, 'o' || p, amount, 'EUR', at, at, floor(amount), 0, 0
    FROM (SELECT p, m,
            (500 + (hashint4(p + 7) & 2147483647) % 10000 + m % 3000) / 100.0 AS amount,
            LEAST(timestamptz '2025-12-31 12:00',
                timestamptz '2024-01-01' + (hashint4(m + 1) & 2147483647) % 182 * interval '1 day'
                + ((hashint4(p + 13) & 2147483647) / 2147483647.0)
                    * ((hashint4(m + 2) & 2147483647) % 730) * interval '1 day') AS at
          FROM (SELECT p,
                  -- A skewed draw: some members buy far more often than others.
                  1 + floor(%(members)s
                      * power((hashint4(p) & 2147483647) / 2147483648.0, 2))::int AS m
                FROM generate_series(1, %(purchases)s) p) d) g;
INSERT INTO rewards_refund (request_hash, response, shop_id, purchase_id, refund_id, amount,
        points_reversed, points_owed, created_at)
    SELECT '', '{}', shop_id, id, 'r' || id,
        CASE WHEN id % 40 = 0 THEN amount ELSE round(amount / 3, 2) END,
        0, 0, occurred_at + interval '3 days'
    FROM rewards_purchase WHERE id % 20 = 0;
UPDATE rewards_purchase p SET refunded_amount = r.amount
    FROM rewards_refund r WHERE r.purchase_id = p.id
"""


def fill(url: str, *, members: int, purchases: int) -> float:
    started = time.monotonic()
    program_create(url)
    with psycopg.connect(url, autocommit=True) as conn:
        # Consistent by construction; skipping the foreign-key triggers while filling
        # (superuser, this session only) cuts the fill several-fold.
        conn.execute("SET session_replication_role = replica")
        for statement in FILL.split(";\n"):
            if statement.strip():
                conn.execute(
                    statement.replace("%(members)s", str(members)).replace(
                        "%(purchases)s", str(purchases)
                    )
                )
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        action="append",
        help="members:purchases (repeatable; default 100000:1000000 and 1000000:10000000, "
        "or 2000:20000 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="one small size")
    parser.add_argument("--markdown", action="store_true", help="only the table on stdout")
    parser.add_argument("--refill", action="store_true", help="fill again even if filled")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a size suffix is added")
    args = parser.parse_args()
    sizes = args.size or (["2000:20000"] if args.quick else ["100000:1000000", "1000000:10000000"])
    out = sys.stdout
    if not args.markdown:
        print(
            f"# {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores",
            file=out,
        )
    print(
        "| members | purchases | fill | run | members scored | wall time | per 100k members "
        "| peak RSS (Django) |\n|---:|---:|---|---|---:|---:|---:|---:|",
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
            seconds = fill(url, members=members, purchases=purchases)
            fill_mark(url, members=members, purchases=purchases, seconds=seconds)
            fill_note = f"{seconds:.0f} s"
        else:
            log(f"reusing the fill in {url} ({earlier:.0f} s when made)")
            manage(url, "migrate", "--noinput")
            fill_note = f"reused ({earlier:.0f} s when made)"
        for label in ("first fit", "refit"):
            seconds, rss, output = manage(url, "fit_predictions", "--as-of", "2025-12-31")
            scored = _scored_in(output)
            per = f"{seconds / scored * 100_000:.1f} s" if scored else "?"
            print(
                f"| {members:,} | {purchases:,} | {fill_note} | {label} | {scored or '?':,} "
                f"| {seconds:.1f} s | {per} | {rss} MiB |",
                file=out,
                flush=True,
            )
            log(f"    {output}")


def _scored_in(output: str) -> int | None:
    """Members scored, from the command's first line ("..., 1234 members (...")."""
    words = output.replace(",", " ").split()
    for number, word in zip(words, words[1:], strict=False):
        if word == "members" and number.isdigit():
            return int(number)
    return None


if __name__ == "__main__":
    main()
