"""Profile the hot API paths in-process: earn, redeem, hold and the balance read.

Runs the real middleware, authentication, views and services through Django's test
client (no network, DEBUG off), against a PostgreSQL database of its own that it creates
and migrates, and prints the time per request and a pyinstrument summary per path.

    .venv/bin/python bench/profile_hot_paths.py --database lb_h2_prof --requests 2000

The figures are in-process (no HTTP server, no load generator), so they show where the
Python time goes, not the throughput a client sees; bench/ measures that.
"""

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="lb_h2_prof")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--config", action="store_true", help="a tier, a rule and a milestone")
    parser.add_argument("--paths", default="earn,redeem,hold,balance")
    parser.add_argument("--no-profile", action="store_true", help="time only")
    parser.add_argument("--output", type=Path, help="write the profiles' text here")
    # Coarse enough that 2,000 requests under load keep the samples in memory small.
    parser.add_argument("--interval", type=float, default=0.005, help="sampling, seconds")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SECRET_KEY", "profile-only-not-a-secret")
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_engine.settings")
    sys.path.insert(0, str(ROOT))
    _database_ensure(args.server, args.database)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args)


def _database_ensure(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def run(args) -> None:
    from decimal import Decimal

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from members.services import member_token_issue, shop_api_key_create
    from rewards.models import EarnRule, Milestone, Tier
    from rewards.services.enrollment import member_enroll

    stamp = time.strftime("%Y%m%d%H%M%S")
    shop, key = shop_api_key_create(shop_name=f"Profile shop {stamp}")
    members = [
        member_enroll(shop=shop, external_id=f"prof-{stamp}-{i}") for i in range(args.members)
    ]
    if args.config:
        Tier.objects.get_or_create(name="Profile base", defaults={"rank": 1, "threshold": 0})
        Tier.objects.get_or_create(
            name="Profile gold",
            defaults={"rank": 2, "threshold": 10**9, "earn_multiplier": Decimal("1.5")},
        )
        EarnRule.objects.get_or_create(
            name="Profile campaign", defaults={"kind": "campaign", "multiplier": 2}
        )
        Milestone.objects.get_or_create(
            name="Profile milestone", defaults={"kind": "purchases", "target": 10**6}
        )

    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    orders = itertools.count()
    cycle = itertools.cycle(members)

    def earn():
        member = next(cycle)
        body = {
            "member": member.external_id,
            "order_id": f"{stamp}-{next(orders)}",
            "amount": "25.90",
            "currency": "EUR",
        }
        response = client.post("/api/v1/purchases", body, content_type="application/json")
        assert response.status_code == 201, response.content

    def redeem(hold=False):
        member = next(cycle)
        response = client.post(
            "/api/v1/redemptions",
            {"member": member.external_id, "points": 1, "hold": hold},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"{stamp}-{next(orders)}",
        )
        assert response.status_code == 201, response.content

    member_clients = [
        Client(HTTP_AUTHORIZATION=f"Bearer {member_token_issue(member=m)[0]}") for m in members
    ]
    member_cycle = itertools.cycle(member_clients)

    def balance():
        response = next(member_cycle).get("/api/v1/me/balance")
        assert response.status_code == 200, response.content

    paths = {"earn": earn, "redeem": redeem, "hold": lambda: redeem(hold=True), "balance": balance}
    # Points to spend for the redemptions: every member earns a few times first.
    for _ in range(3 * len(members)):
        earn()
    reports = []
    for name in args.paths.split(","):
        call = paths[name]
        for _ in range(50):
            call()
        # Outside a test's wrapping transaction, as in production: BEGIN and COMMIT where a
        # test logs its savepoint pair.
        with CaptureQueriesContext(connection) as queries:
            call()
        # Read now: the captured list is a view of the connection's log, which the next
        # request clears.
        captured = [q["sql"] for q in queries.captured_queries]
        statements = "\n".join(f"    {sql[:160]}" for sql in captured)
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(args.requests):
            call()
        plain = (time.perf_counter() - started) / args.requests
        cpu = (time.process_time() - cpu_started) / args.requests
        profiler = Profiler(interval=args.interval)
        if not args.no_profile:
            profiler.start()
            for _ in range(args.requests):
                call()
            profiler.stop()
        line = (
            f"{name}: {len(captured)} statements (BEGIN and COMMIT included), "
            f"{plain * 1000:.2f} ms per request, {cpu * 1000:.2f} ms of it this process's CPU "
            f"({1 / plain:.0f}/s in-process, one client)"
        )
        print(line, flush=True)
        profile = "" if args.no_profile else profiler.output_text(unicode=True, color=False)
        reports.append(f"## {line}\n\n{statements}\n\n{profile}")
    if args.output:
        args.output.write_text("\n".join(reports))


if __name__ == "__main__":
    main()
