"""`manage.py run_nightly` and `manage.py expiring_soon`: input, output, time zones."""

import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rewards.models import JobRun, LedgerEntry, PointLot
from tests.factories import MemberFactory
from tests.nightly_helpers import earn_at

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_nightly(*args: str) -> str:
    stdout = io.StringIO()
    call_command("run_nightly", *args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


def test_without_a_job_every_job_runs_in_schedule_order_with_a_summary_line(shop, member):
    earn_at(shop, member, "12.00", datetime(2025, 1, 15, tzinfo=UTC))

    output = run_nightly("--as-of", "2026-02-01T02:00")

    lines = output.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "expire",
        "release",
        "referrals",
        "expiring",
        "tiers",
        "birthdays",
        "kpis",
        "predictions",
        "segments",
    ]
    assert lines[0].startswith("expire: as of 2026-02-01 02:00 UTC, 1 members changed in ")
    assert "points_expired=12" in lines[0]
    assert list(JobRun.objects.order_by("id").values_list("job", "status", "via")) == [
        ("expire", "succeeded", "command"),
        ("release", "succeeded", "command"),
        ("referrals", "succeeded", "command"),
        ("expiring", "succeeded", "command"),
        ("tiers", "succeeded", "command"),
        ("birthdays", "succeeded", "command"),
        ("kpis", "succeeded", "command"),
        ("predictions", "succeeded", "command"),
        ("segments", "succeeded", "command"),
    ]


def test_one_job_runs_alone_with_job(shop, member):
    run_nightly("--job", "release", "--as-of", "2026-02-01T02:00")

    assert list(JobRun.objects.values_list("job", flat=True)) == ["release"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday"], "--as-of must be a date and time such as 2026-01-31T02:00"),
        (["--as-of", "2026-02-30T02:00"], "'2026-02-30T02:00' is not one"),
        (["--job", "tier"], "There is no nightly job called 'tier'; the jobs are: expire"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(args, message):
    with pytest.raises(CommandError, match=message):
        run_nightly(*args)
    assert not JobRun.objects.exists()


def test_bad_input_exits_non_zero_without_a_traceback(tmp_path):
    # A real process, as a user runs it: the sentence, an exit status, no traceback.
    result = subprocess.run(
        [sys.executable, "manage.py", "run_nightly", "--as-of", "31/01/2026"],
        cwd=REPO_ROOT,
        env={"DJANGO_DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--as-of must be a date and time" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_naive_as_of_at_month_end_is_read_in_the_programs_time_zone(shop, member, program):
    program.timezone = "Europe/Berlin"
    program.save()
    # Earned on 31 January 2025 at 23:30 in Berlin: expires at the end of January 2026,
    # which is 2026-01-31T23:00 in UTC.
    earn_at(shop, member, "9.00", datetime(2025, 1, 31, 22, 30, tzinfo=UTC))
    assert PointLot.objects.get().expires_at == datetime(2026, 1, 31, 23, tzinfo=UTC)

    before = run_nightly("--job", "expire", "--as-of", "2026-01-31T23:59")
    after = run_nightly("--job", "expire", "--as-of", "2026-02-01T00:00")

    assert "as of 2026-01-31 23:59 CET, 0 members changed" in before
    assert "as of 2026-02-01 00:00 CET, 1 members changed" in after
    assert LedgerEntry.objects.get(kind="expire").created_at == datetime(
        2026, 1, 31, 23, tzinfo=UTC
    )


def test_expiry_across_a_dst_change_follows_the_programs_wall_clock(shop, member, program):
    program.timezone = "America/New_York"
    program.expiry_at_month_end = False
    program.expiry_months = 8
    program.save()
    # Earned 2026-03-01 01:30 EST: expires 8 months later at 01:30 on 1 November 2026 in
    # New York wall-clock time, the night clocks go back from EDT to EST.
    earn_at(shop, member, "5.00", datetime(2026, 3, 1, 6, 30, tzinfo=UTC))
    expires_at = PointLot.objects.get().expires_at
    assert expires_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first one

    # 00:59 is an hour before; the second 01:29 (EST, fold=1) is after: --as-of takes the
    # first of a repeated wall-clock time, so "01:29" is still before.
    run_nightly("--job", "expire", "--as-of", "2026-11-01T00:59")
    run_nightly("--job", "expire", "--as-of", "2026-11-01T01:29")
    assert PointLot.objects.get().remaining == 5
    output = run_nightly("--job", "expire", "--as-of", "2026-11-01T02:00")  # 07:00 UTC, EST
    assert "as of 2026-11-01 02:00 EST, 1 members changed" in output
    assert PointLot.objects.get().remaining == 0


def test_expiring_soon_lists_members_with_points_expiring_in_the_window(shop):
    soon, later = MemberFactory.create_batch(2)
    earn_at(shop, soon, "15.00", datetime(2025, 2, 10, tzinfo=UTC))  # expires 2026-03-01
    earn_at(shop, soon, "5.00", datetime(2025, 2, 11, tzinfo=UTC))
    earn_at(shop, later, "15.00", datetime(2025, 3, 10, tzinfo=UTC))  # expires 2026-04-01
    stdout = io.StringIO()

    call_command("expiring_soon", "--as-of", "2026-02-15T00:00", "--days", "30", stdout=stdout)

    assert stdout.getvalue().splitlines() == [
        "external_id,email,points,first_expiry",
        f"{soon.external_id},{soon.email},20,2026-03-01T00:00:00+00:00",
    ]
