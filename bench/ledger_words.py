"""The cost of rendering ledger descriptions at read time, on `GET /api/v1/me/transactions`
(a page of 50 entries), before and after (not a test: `make bench` runs it as a stage).

    .venv/bin/python bench/ledger_words.py --markdown [--quick] \
        [--database-url postgres://postgres@127.0.0.1:5432/loyalty_bench_words]

It recreates the database, migrates it, and gives one member 50 entries of every kind a
member reads (purchases, redemptions, refunds, bonuses, expiry), a third of them written as
before message keys existed (an English sentence that is parsed back at read time). Then it
times, in-process through Django's test client:

- the whole request, in English and in Swedish;
- the descriptions alone, as the response builds them: *before*, the stored sentence as it
  was (`reason`, what the endpoint returned before this change), and *after*, rendered from
  the key and parameters (`rewards.ledger_words.entry_description`).

Times are wall-clock on whatever else the machine is doing: the median of the rounds.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))


def progress(message: str) -> None:
    print(f"[ledger_words {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(database_url: str) -> None:
    if database_url.startswith("postgres"):
        from bench.databases import database_from_template

        database_from_template(database_url, dict(os.environ))
        return
    Path(database_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=os.environ, check=True
    )


def seed():
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from members.services import shop_api_key_create
    from rewards.models import EarnRule, LedgerEntry
    from rewards.services.enrollment import member_enroll
    from rewards.services.purchases import purchase_record, refund_record
    from rewards.services.redemptions import redemption_create

    EarnRule.objects.create(
        name="Welcome", name_sv="Välkommen", kind=EarnRule.Kind.SIGNUP_BONUS, bonus_points=50
    )
    shop, _ = shop_api_key_create(shop_name="Bench shop")
    member = member_enroll(external_id="bench-words", shop=shop)
    now = timezone.now()
    for n in range(14):
        purchase_record(
            shop=shop,
            member_external_id=member.external_id,
            order_id=f"B-{n}",
            amount=Decimal("123.45"),
            currency="EUR",
            occurred_at=now - timedelta(days=900 if n % 4 == 0 else 1),
            lines=[],
            request_hash=f"p{n}",
        )
    for n in range(8):
        redemption_create(
            shop=shop,
            member_external_id=member.external_id,
            points=10,
            idempotency_key=f"k{n}",
            request_hash=f"k{n}",
        )
    for n in range(1, 6):
        refund_record(
            shop=shop,
            order_id=f"B-{n}",
            refund_id=f"R-{n}",
            amount=Decimal("20.00"),
            request_hash=f"r{n}",
        )
    legacy = [
        "Earned 123 points on order OLD-1 (123.45 EUR).",
        "Redeemed 10 points for 0.10 EUR off.",
        "42 points earned 2025-01-15 to 2025-01-18 expired unspent.",
        "Reversed 5 points for a refund of 5.00 EUR on order OLD-1.",
    ]
    written = LedgerEntry.objects.filter(member=member).count()
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            member=member,
            kind="earn",
            points=1,
            reason=legacy[n % len(legacy)],
            actor_kind="system",
            effective_at=now,
            created_at=now,
        )
        for n in range(max(50 - written, 17))
    )
    return member


def median_ms(function, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(member, rounds: int) -> dict:
    from django.utils import translation

    from rewards.ledger_words import entry_description
    from rewards.selectors import ledger_entry_list
    from tests.conftest import member_client_for

    client = member_client_for(member)
    entries = list(ledger_entry_list(member=member)[:50])
    assert len(entries) == 50, len(entries)
    for language in ("en", "sv"):
        response = client.get(f"/api/v1/me/transactions?lang={language}")
        assert response.status_code == 200 and len(response.json()["results"]) == 50

    def request(language):
        return lambda: client.get(f"/api/v1/me/transactions?lang={language}")

    def before():
        return [entry.reason for entry in entries]

    def after(language):
        def render():
            with translation.override(language):
                return [entry_description(entry) for entry in entries]

        return render

    return {
        "request_en": median_ms(request("en"), rounds),
        "request_sv": median_ms(request("sv"), rounds),
        "before": median_ms(before, rounds),
        "after_en": median_ms(after("en"), rounds),
        "after_sv": median_ms(after("sv"), rounds),
        "legacy": sum(1 for entry in entries if not entry.message_key),
    }


def markdown(result: dict, rounds: int) -> str:
    return "\n".join(
        [
            f"`GET /api/v1/me/transactions`, one page of 50 entries ({result['legacy']} of them "
            f"written before message keys), in-process, median of {rounds} rounds:",
            "",
            "| | ms |",
            "|---|---:|",
            f"| whole request, English | {result['request_en']:.2f} |",
            f"| whole request, Swedish | {result['request_sv']:.2f} |",
            f"| descriptions before (stored sentence) | {result['before']:.3f} |",
            f"| descriptions after, English (rendered from key) | {result['after_en']:.3f} |",
            f"| descriptions after, Swedish (rendered from key) | {result['after_sv']:.3f} |",
            "",
            f"Rendering adds {result['after_sv'] - result['before']:.2f} ms to a request of "
            f"{result['request_sv']:.2f} ms. The earn path renders nothing: its query count is "
            "pinned by the test suite (`tests/rewards/test_purchases_api.py`).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_WORDS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loyalty_bench_words"
        ),
    )
    args = parser.parse_args()
    rounds = 20 if args.quick else 300
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_engine.settings")
    progress(f"preparing {args.database_url}")
    prepare(args.database_url)
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's ALLOWED_HOSTS
    member = seed()
    progress(f"measuring, {rounds} rounds")
    result = measure(member, rounds)
    text = markdown(result, rounds)
    print(text if args.markdown else result)


if __name__ == "__main__":
    main()
