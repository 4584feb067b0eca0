"""`manage.py recompute_kpis` and the nightly `kpis` job."""

import io
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from metrics.models import CohortCell, KpiSnapshot
from rewards.jobs import nightly_job_get
from rewards.models import JobRun
from tests.metrics.history import members_create, purchase, shop_get

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]


def recompute(*args: str) -> str:
    stdout = io.StringIO()
    call_command("recompute_kpis", *args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


def stored_periods(breakdown: str = "all") -> list[tuple[str, date]]:
    return list(
        KpiSnapshot.objects.filter(breakdown=breakdown)
        .order_by("granularity", "period_start")
        .values_list("granularity", "period_start")
    )


@pytest.fixture
def shop_with_sales(program):
    shop = shop_get()
    for member in members_create(3, enrolled_at=datetime(2024, 12, 1, tzinfo=UTC)):
        purchase(member, "10", datetime(2025, 2, 10, tzinfo=UTC), shop=shop)
    return shop


def test_recompute_backfills_a_range_with_a_summary_line(shop_with_sales):
    output = recompute("--from", "2025-01-01", "--to", "2025-12-31", "--granularity", "month")

    assert output.startswith("recompute_kpis: 12 periods (month) from 2025-01-01 to 2025-12-31,")
    assert "36 snapshots written" in output  # all + the shop + (no tiers) "no tier"
    assert [start for _, start in stored_periods()] == [date(2025, m, 1) for m in range(1, 13)]
    assert CohortCell.objects.filter(month=date(2025, 2, 1)).get().active == 3


def test_recompute_without_granularity_does_every_one(shop_with_sales):
    output = recompute("--from", "2025-02-10", "--to", "2025-02-10")

    assert "5 periods (day, week, month, quarter, year)" in output
    assert stored_periods() == [
        ("day", date(2025, 2, 10)),
        ("month", date(2025, 2, 1)),
        ("quarter", date(2025, 1, 1)),
        ("week", date(2025, 2, 10)),
        ("year", date(2025, 1, 1)),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-13-01", "--to", "2025-12-31"], "--from must be a day such as"),
        (["--from", "2025-01-01", "--to", "soon"], "--to must be a day such as"),
        (["--from", "2025-06-01", "--to", "2025-01-01"], r"--from \(2025-06-01\) is after --to"),
        (["--from", "1066-10-14", "--to", "2025-01-01"], "--from must be a day between"),
        (["--from", "2025-01-01", "--to", "2025-01-02", "--granularity", "hour"], "invalid choice"),
        (["--to", "2025-01-02"], "the following arguments are required: --from"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(args, message):
    with pytest.raises(CommandError, match=message):
        recompute(*args)
    assert not KpiSnapshot.objects.exists()


def test_bad_input_exits_non_zero_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "manage.py", "recompute_kpis", "--from", "2025-02-30", "--to", "2025"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--from must be a day such as 2025-01-31; '2025-02-30' is not one." in result.stderr
    assert "Traceback" not in result.stderr


def run_kpis(as_of: str) -> str:
    stdout = io.StringIO()
    call_command(
        "run_nightly", "--job", "kpis", "--as-of", as_of, stdout=stdout, stderr=io.StringIO()
    )
    return stdout.getvalue()


def test_nightly_recomputes_the_current_and_previous_period_of_each_granularity(shop_with_sales):
    output = run_kpis("2025-03-15T03:00")

    assert output.startswith("kpis: as of 2025-03-15 03:00 UTC, 10 periods recomputed")
    assert "periods=10" in output
    assert stored_periods() == [
        ("day", date(2025, 3, 14)),
        ("day", date(2025, 3, 15)),
        ("month", date(2025, 2, 1)),
        ("month", date(2025, 3, 1)),
        ("quarter", date(2024, 10, 1)),
        ("quarter", date(2025, 1, 1)),
        ("week", date(2025, 3, 3)),
        ("week", date(2025, 3, 10)),
        ("year", date(2024, 1, 1)),
        ("year", date(2025, 1, 1)),
    ]
    february = KpiSnapshot.objects.get(
        granularity="month", period_start=date(2025, 2, 1), breakdown="all"
    )
    assert february.purchases == 3
    assert JobRun.objects.get(job="kpis").status == JobRun.Status.SUCCEEDED


def test_nightly_twice_stores_the_same_numbers(shop_with_sales):
    run_kpis("2025-03-15T03:00")
    first = list(
        KpiSnapshot.objects.order_by("id").values("id", "group_key", "active_end", "net_revenue")
    )
    run_kpis("2025-03-15T03:00")
    assert (
        list(
            KpiSnapshot.objects.order_by("id").values(
                "id", "group_key", "active_end", "net_revenue"
            )
        )
        == first
    )


def test_nightly_also_recomputes_the_periods_a_backdated_purchase_changed(shop_with_sales):
    run_kpis("2025-03-15T03:00")
    member = members_create(1, enrolled_at=datetime(2024, 12, 1, tzinfo=UTC))[0]
    late = purchase(member, "99", datetime(2025, 1, 5, tzinfo=UTC), shop=shop_with_sales)
    type(late).objects.filter(pk=late.pk).update(created_at=datetime(2025, 3, 15, 12, tzinfo=UTC))

    run_kpis("2025-03-16T03:00")

    months = [start for g, start in stored_periods() if g == "month"]
    assert months == [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
    january = KpiSnapshot.objects.get(
        granularity="month", period_start=date(2025, 1, 1), breakdown="all"
    )
    assert january.purchases == 1


@override_settings(KPIS_NIGHTLY_MAX_DAYS=31)
def test_nightly_leaves_changes_older_than_its_limit_to_recompute_kpis(shop_with_sales, caplog):
    run_kpis("2025-03-15T03:00")
    member = members_create(1, enrolled_at=datetime(2024, 1, 1, tzinfo=UTC))[0]
    late = purchase(member, "99", datetime(2024, 6, 5, tzinfo=UTC), shop=shop_with_sales)
    type(late).objects.filter(pk=late.pk).update(created_at=datetime(2025, 3, 15, 12, tzinfo=UTC))

    run_kpis("2025-03-16T03:00")

    days = [start for g, start in stored_periods() if g == "day"]
    assert days[0] == date(2025, 3, 16) - timedelta(days=31)
    assert "Run manage.py recompute_kpis --from 2024-06-05" in caplog.text


def test_the_kpis_job_is_registered_as_one_chunk():
    job = nightly_job_get("kpis")
    assert job.members is None and job.process_chunk is not None
