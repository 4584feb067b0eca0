import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from members.models import Member
from rewards.models import (
    EarnAward,
    EarnRule,
    LedgerEntry,
    Purchase,
    Redemption,
    Tier,
    TierChange,
    Voucher,
)
from rewards.services.verification import ledger_problems, member_id_chunks

pytestmark = pytest.mark.django_db


def seed_demo(*args: str) -> str:
    stdout = io.StringIO()
    call_command("seed_demo", "--members", "20", *args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


def printed(label: str, output: str) -> str:
    match = re.search(rf"^\s*{label}:\s+(\S+)", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match.group(1)


def get_member(api_key: str, external_id: str):
    client = APIClient()
    return client.get(f"/api/v1/members/{external_id}", HTTP_AUTHORIZATION=f"Api-Key {api_key}")


def test_seed_demo_writes_members_with_a_history_that_reconciles():
    output = seed_demo()

    assert Member.objects.count() == 20
    assert Purchase.objects.exists()
    assert Redemption.objects.exists()
    assert "Seeded 20/20 members" in output
    for ids in member_id_chunks():
        assert ledger_problems(ids) == {}


def test_seed_demo_configures_a_program_that_earns_through_its_rules():
    seed_demo()
    assert list(Tier.objects.values_list("name", flat=True)) == ["Bronze", "Silver", "Gold"]
    # Every seeded member joined with the welcome bonus, and rules gave itemized points.
    assert EarnAward.objects.filter(rule__name="Welcome bonus").count() == 20
    assert EarnAward.objects.filter(rule__name="Double points on coffee").exists()
    assert TierChange.objects.filter(to_tier__name="Silver").exists()
    assert Voucher.objects.filter(reward__name="Free coffee", redemption=None).exists()


def test_seed_demo_keeps_a_program_staff_configured():
    Tier.objects.create(name="Staff tier", rank=1, threshold=0)
    output = seed_demo()
    assert "kept them" in output
    assert list(Tier.objects.values_list("name", flat=True)) == ["Staff tier"]
    assert not EarnRule.objects.exists()


def test_printed_api_key_authenticates():
    output = seed_demo()

    external_id = Member.objects.order_by("pk").first().external_id
    response = get_member(printed("API key", output), external_id)
    assert response.status_code == 200
    assert response.json()["external_id"] == external_id


def test_printed_password_logs_the_admin_in():
    output = seed_demo()

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password(printed("Password", output))


def test_second_run_writes_no_points_and_prints_a_fresh_key():
    first = seed_demo()
    counts = (Member.objects.count(), Purchase.objects.count(), LedgerEntry.objects.count())

    second = seed_demo()

    assert (Member.objects.count(), Purchase.objects.count(), LedgerEntry.objects.count()) == counts
    assert "already seeded" in second
    assert printed("API key", second) != printed("API key", first)
    assert get_member(printed("API key", second), "demo-00001").status_code == 200
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password(printed("Password", first))


def test_reset_password_gives_the_admin_a_new_password():
    first = seed_demo()

    second = seed_demo("--reset-password")

    new_password = printed("Password", second)
    assert new_password != printed("Password", first)
    assert get_user_model().objects.get(username="admin").check_password(new_password)


def test_seed_demo_shows_referrals_and_activities():
    from django.utils import timezone

    from rewards.models import Activity, Referral
    from rewards.services.nightly import job_run_inline

    seed_demo()
    assert Referral.objects.count() == 4  # every fifth of 20 members
    assert set(Activity.objects.values_list("activity_type__key", flat=True)) == {
        "product_review",
        "newsletter_signup",
    }
    job_run_inline(job_name="referrals", as_of=timezone.now())
    assert Referral.objects.filter(status="rewarded").exists()
    assert EarnAward.objects.filter(source=EarnAward.Source.REFERRAL).exists()
    for ids in member_id_chunks():
        assert ledger_problems(ids) == {}


def test_printed_urls_are_where_the_server_listens(monkeypatch):
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    output = seed_demo("--host", "0.0.0.0", "--port", "8123")
    assert printed("Admin", output) == "http://0.0.0.0:8123/admin/"
    assert printed("API docs", output) == "http://0.0.0.0:8123/api/docs/"
    assert "http://0.0.0.0:8123/api/v1/members/" in output
    assert ":8000" not in output


def test_printed_urls_follow_the_host_and_port_of_the_environment(monkeypatch):
    monkeypatch.setenv("HOST", "localhost")
    monkeypatch.setenv("PORT", "9001")
    output = seed_demo()
    assert printed("Admin", output) == "http://localhost:9001/admin/"


def test_the_demo_tells_two_years_of_a_real_shop():
    """Members churn and some come back, some answer NPS and CSAT, and the recomputed
    KPIs show retention well below 100%, churn, many cohorts, NPS and CSAT."""
    from datetime import timedelta

    from metrics.models import CohortCell, Feedback, KpiSnapshot

    stdout = io.StringIO()
    call_command("seed_demo", "--members", "80", stdout=stdout, stderr=io.StringIO())
    call_command("seed_demo_feedback", stdout=stdout)
    if connection.vendor == "postgresql":
        # The test's rows are uncommitted, so autovacuum never sees them: without this the
        # planner keeps the statistics of an earlier test's empty tables (as `make run`
        # never does: its seed commits before the recompute).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    call_command(
        "recompute_kpis",
        "--all-history",
        "--granularity",
        "month",
        stdout=stdout,
        stderr=io.StringIO(),
    )

    came_back = churned = 0
    now = max(p.occurred_at for p in Purchase.objects.all())
    for member in Member.objects.filter(external_id__startswith="demo-"):
        times = list(
            Purchase.objects.filter(member=member)
            .order_by("occurred_at")
            .values_list("occurred_at", flat=True)
        )
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        came_back += any(gap > timedelta(days=90) for gap in gaps)
        churned += bool(times) and now - times[-1] > timedelta(days=120)
    assert came_back >= 5 and churned >= 15, (came_back, churned)

    kinds = set(Feedback.objects.values_list("kind", flat=True))
    assert kinds == {"nps", "csat"}

    months = KpiSnapshot.objects.filter(granularity="month", breakdown="all")
    assert months.count() >= 24
    retention = [m.retention_rate for m in months if m.retention_rate is not None]
    assert retention and sorted(retention)[len(retention) // 2] < 95 and min(retention) < 85
    assert any(m.churn_rate and m.churn_rate > 10 for m in months)
    assert any(m.nps is not None for m in months) and any(m.csat is not None for m in months)
    assert CohortCell.objects.values("cohort").distinct().count() >= 18

    # Safe to run again: the answers replay.
    answers = Feedback.objects.count()
    call_command("seed_demo_feedback", stdout=io.StringIO())
    assert Feedback.objects.count() == answers
