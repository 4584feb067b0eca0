"""A CSV import keeps PostgreSQL's planner statistics of the tables it fills up to date, so
its per-chunk lookups by key stay index lookups however large the import (see
rewards.services.imports.TableStatistics)."""

import pytest
from django.db import connection

from rewards.models import Purchase
from rewards.services.imports import csv_import_create, csv_import_run

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def counted_rows(table: str) -> int:
    """The live rows the last ANALYZE counted (a small table is counted exactly)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        return int(cursor.fetchone()[0])


def analyze(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def run_import(tmp_path, kind: str, text: str, on_progress=None):
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    csv_import = csv_import_create(kind=kind, file_name=path.name, run_in_background=False)
    return csv_import_run(
        csv_import=csv_import,
        open_file=lambda: path.open(encoding="utf-8", newline=""),
        on_progress=on_progress,
    )


def purchases_csv(shop, count: int) -> str:
    return "shop,order_id,member_external_id,amount,occurred_at\n" + "".join(
        f"{shop.name},o-{n},c-{n % 5},10.00,2025-06-01\n" for n in range(count)
    )


@pytest.fixture
def five_members(tmp_path, program, shop):
    run_import(tmp_path, "members", "external_id\n" + "".join(f"c-{n}\n" for n in range(5)))
    return shop


def test_the_statistics_are_refreshed_each_time_the_table_doubles_and_at_the_end(
    tmp_path, five_members, monkeypatch
):
    monkeypatch.setattr("rewards.services.imports.CHUNK_ROWS", 10)
    monkeypatch.setattr("rewards.services.imports.STATISTICS_MIN_ROWS", 20)
    analyze(Purchase._meta.db_table)
    assert counted_rows(Purchase._meta.db_table) == 0
    seen = []

    def on_progress(phase, done, total):
        if phase == "import":
            seen.append((done, counted_rows(Purchase._meta.db_table)))

    done = run_import(tmp_path, "purchases", purchases_csv(five_members, 60), on_progress)

    assert (done.status, done.created_count) == ("succeeded", 60)
    # Refreshed once 20 rows were written, then once as many as the table held (20, then
    # 40), and at the end.
    assert seen == [(10, 0), (20, 20), (30, 20), (40, 40), (50, 40), (60, 40)]
    assert counted_rows(Purchase._meta.db_table) == 60


def test_a_repeat_import_refreshes_before_it_checks_and_writes_nothing_more(
    tmp_path, five_members, monkeypatch
):
    text = purchases_csv(five_members, 30)
    run_import(tmp_path, "purchases", text)
    with connection.cursor() as cursor:
        # As if autovacuum had never looked at the table since it was empty.
        cursor.execute("UPDATE pg_class SET reltuples = 0 WHERE relname = 'rewards_purchase'")
    seen = []

    def on_progress(phase, done, total):
        seen.append((phase, counted_rows(Purchase._meta.db_table)))

    again = run_import(tmp_path, "purchases", text, on_progress)

    assert (again.status, again.created_count, again.unchanged_count) == ("succeeded", 0, 30)
    # The check pass already plans on the table's real size.
    assert seen[0] == ("check", 30)
    assert Purchase.objects.count() == 30


def test_a_members_import_counts_its_members(tmp_path, program):
    analyze("members_member")
    before = counted_rows("members_member")

    run_import(tmp_path, "members", "external_id\n" + "".join(f"m-{n}\n" for n in range(25)))

    assert counted_rows("members_member") == before + 25
