"""Expiry policies (issue 17): rolling, fixed date, inactivity and never, all applied by
the nightly expire job through each lot's expiry, exactly once, with its as-of rules."""

from datetime import UTC, datetime, timedelta

import pytest

from rewards.models import ExpiryPolicy, LedgerEntry, PointLot
from rewards.selectors import member_expiring_list
from rewards.services.adjustments import points_adjust
from rewards.services.nightly import job_run_inline
from tests.conftest import member_client_for
from tests.ledger_checks import assert_reconciles
from tests.nightly_helpers import earn_at, ledger_snapshot, redeem_at

pytestmark = pytest.mark.django_db


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def expire(as_of: datetime):
    return job_run_inline(job_name="expire", as_of=as_of)


def expiries(member) -> list:
    return list(
        PointLot.objects.filter(member=member).order_by("id").values_list("expires_at", flat=True)
    )


def policy(program, name, **settings):
    program.expiry_policy = name
    for field, value in settings.items():
        setattr(program, field, value)
    program.save()


def test_fixed_date_points_of_a_year_expire_together_at_the_end_of_march(shop, member, program):
    policy(program, ExpiryPolicy.FIXED, expiry_period_months=12, expiry_after_period_months=3)
    earn_at(shop, member, "10.00", at(2025, 1, 3, 9))
    earn_at(shop, member, "20.00", at(2025, 12, 31, 23))
    earn_at(shop, member, "5.00", at(2026, 2, 1, 9))
    assert expiries(member) == [at(2026, 4, 1)] * 2 + [at(2027, 4, 1)]

    before = expire(at(2026, 3, 31, 23, 59))
    assert before.totals.get("points_expired", 0) == 0
    expire(at(2026, 4, 1, 2))
    entry = LedgerEntry.objects.get(member=member, kind="expire")
    assert entry.points == -30
    snapshot = ledger_snapshot()
    expire(at(2026, 4, 1, 2))  # a rerun for the same night changes nothing
    assert ledger_snapshot() == snapshot
    member.refresh_from_db()
    assert member.points_available == 5
    assert_reconciles(member)


def test_fixed_quarters_expire_one_month_after_the_quarter(shop, member, program):
    policy(program, ExpiryPolicy.FIXED, expiry_period_months=3, expiry_after_period_months=1)
    earn_at(shop, member, "10.00", at(2025, 5, 20, 9))
    earn_at(shop, member, "10.00", at(2025, 12, 20, 9))
    assert expiries(member) == [at(2025, 8, 1), at(2026, 2, 1)]


def test_never_gives_lots_no_expiry_and_the_job_leaves_them(shop, member, program):
    policy(program, ExpiryPolicy.NEVER)
    earn_at(shop, member, "10.00", at(2020, 1, 3, 9))
    assert expiries(member) == [None]
    expire(at(2030, 1, 1, 2))
    member.refresh_from_db()
    assert member.points_available == 10
    assert member_expiring_list(member=member) == []


def test_rolling_without_month_end_expires_on_the_same_day(shop, member, program):
    policy(program, ExpiryPolicy.ROLLING, expiry_months=6, expiry_at_month_end=False)
    earn_at(shop, member, "10.00", at(2025, 8, 31, 9))
    assert expiries(member) == [at(2026, 2, 28, 9)]


@pytest.fixture
def inactivity(program):
    policy(program, ExpiryPolicy.INACTIVITY, expiry_inactivity_months=6)
    return program


def test_inactivity_a_purchase_keeps_all_points_alive(shop, member, inactivity):
    earn_at(shop, member, "10.00", at(2025, 1, 10, 9))
    assert expiries(member) == [at(2025, 7, 10, 9)]
    earn_at(shop, member, "20.00", at(2025, 3, 1, 9))
    assert expiries(member) == [at(2025, 9, 1, 9)] * 2

    expire(at(2025, 9, 1, 2))
    member.refresh_from_db()
    assert member.points_available == 30
    expire(at(2025, 9, 2, 2))
    member.refresh_from_db()
    assert member.points_available == 0
    assert LedgerEntry.objects.get(member=member, kind="expire").points == -30
    assert_reconciles(member)


def test_inactivity_a_redemption_counts_only_when_the_setting_says_so(shop, member, inactivity):
    earn_at(shop, member, "100.00", at(2025, 1, 10, 9))
    redeem_at(shop, member, 10, at(2025, 4, 1, 9))
    assert expiries(member) == [at(2025, 7, 10, 9)]

    inactivity.expiry_inactivity_counts_redemptions = True
    inactivity.save()
    redeem_at(shop, member, 10, at(2025, 5, 1, 9))
    assert expiries(member) == [at(2025, 11, 1, 9)]
    member.refresh_from_db()
    assert member_expiring_list(member=member) == [{"points": 80, "expires_at": at(2025, 11, 1, 9)}]


def test_inactivity_an_activity_after_the_deadline_does_not_revive_due_points(
    shop, member, inactivity
):
    earn_at(shop, member, "10.00", at(2025, 1, 10, 9))
    # The deadline has passed, the nightly job has not run yet: those points are due.
    earn_at(shop, member, "5.00", at(2025, 7, 10, 12))
    assert expiries(member) == [at(2025, 7, 10, 9), at(2026, 1, 10, 12)]
    expire(at(2025, 7, 11, 2))
    member.refresh_from_db()
    assert member.points_available == 5
    assert_reconciles(member)


def test_inactivity_a_bonus_shares_the_deadline_and_does_not_extend_it(shop, member, inactivity):
    earn_at(shop, member, "10.00", at(2025, 1, 10, 9))
    points_adjust(member=member, points=50, reason="Goodwill", as_of=at(2025, 5, 1, 9))
    assert expiries(member) == [at(2025, 7, 10, 9)] * 2


def test_changing_the_policy_keeps_open_lots_and_never_touches_expired_ones(shop, member, program):
    earn_at(shop, member, "10.00", at(2024, 1, 10, 9))  # rolling 12 months: 2025-02-01
    earn_at(shop, member, "20.00", at(2025, 6, 10, 9))  # 2026-07-01
    expire(at(2025, 2, 1, 2))
    expired = PointLot.objects.filter(member=member, remaining=0).values_list(
        "id", "remaining", "expires_at"
    )
    before = list(expired)

    policy(program, ExpiryPolicy.NEVER)
    earn_at(shop, member, "5.00", at(2025, 7, 1, 9))
    assert expiries(member) == [at(2025, 2, 1), at(2026, 7, 1), None]
    assert list(expired) == before


def test_the_program_page_states_each_policy(client, program):
    def expiry():
        return client.get("/api/v1/program").json()["expiry"]

    assert expiry()["policy"] == "rolling"
    assert expiry()["text"][0].startswith("Points expire 12 months after you earn them, at the")
    policy(program, ExpiryPolicy.FIXED, expiry_period_months=12, expiry_after_period_months=3)
    assert expiry()["text"][0].startswith(
        "Points earned in the same calendar year expire together, 3 months after that year ends."
    )
    assert (expiry()["period_months"], expiry()["after_period_months"]) == (12, 3)
    policy(program, ExpiryPolicy.INACTIVITY, expiry_inactivity_months=18)
    assert expiry()["text"][0] == (
        "All your points expire together, 18 months after your last purchase."
    )
    assert (expiry()["months"], expiry()["redemptions_count"]) == (18, False)
    policy(program, ExpiryPolicy.NEVER)
    assert expiry() == {"policy": "never", "text": [expiry()["text"][0], expiry()["text"][1]]}
    assert expiry()["text"][0] == "Points never expire."


def test_the_balance_lists_what_expires_when_under_a_fixed_date(shop, member, program):
    policy(program, ExpiryPolicy.FIXED, expiry_period_months=12, expiry_after_period_months=3)
    now = datetime.now(UTC)
    earn_at(shop, member, "10.00", now - timedelta(days=1))
    earn_at(shop, member, "5.00", now - timedelta(hours=1))
    body = member_client_for(member).get("/api/v1/me/balance").json()
    assert len(body["expiring"]) in (1, 2)  # one group unless the year turned in between
    assert sum(group["points"] for group in body["expiring"]) == 15
    assert body["expiring"][-1]["expires_at"].endswith("-04-01T00:00:00Z")


@pytest.fixture
def staff_client(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create(username="boss", is_staff=True, is_superuser=True))
    return client


def test_staff_set_the_policy_and_checkout_settings_in_the_admin(staff_client, program):
    from tests.rewards.test_config_admin import post_program

    response = post_program(
        staff_client,
        program,
        expiry_policy="fixed",
        expiry_period_months="3",
        expiry_after_period_months="1",
        expiry_inactivity_months="12",
        excluded_skus="GIFT-CARD, DEPOSIT",
        max_points_share="50",
        min_points_per_redemption="100",
        redemption_step_points="50",
    )
    assert response.status_code == 302
    program.refresh_from_db()
    assert (program.expiry_policy, program.expiry_period_months) == ("fixed", 3)
    assert program.excluded_sku_list == ["GIFT-CARD", "DEPOSIT"]
    assert (program.max_points_share, program.redemption_step_points) == (50, 50)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_points_share", "0"),
        ("max_points_share", "150"),
        ("expiry_inactivity_months", "0"),
        ("redemption_step_points", "0"),
        ("expiry_policy", "sometimes"),
    ],
)
def test_the_admin_refuses_bad_settings(staff_client, program, field, value):
    from tests.rewards.test_config_admin import post_program

    response = post_program(staff_client, program, **{field: value})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    program.refresh_from_db()
    assert program.expiry_policy == "rolling"


def test_inactivity_an_imported_purchase_past_the_period_expires_at_once(shop, member, inactivity):
    earn_at(shop, member, "10.00", at(2025, 5, 1, 9))
    from tests.conftest import earn

    earn(shop, member, "7.00", occurred_at=at(2024, 1, 1, 9), as_of=at(2025, 5, 2, 9))
    assert expiries(member) == [at(2025, 11, 1, 9), at(2024, 7, 1, 9)]
    member.refresh_from_db()
    assert member.points_available == 10
    assert_reconciles(member)


def test_switching_to_inactivity_moves_only_open_lots_never_expired_or_due_ones(
    shop, member, program
):
    """Rolling 12 months to the month's end, then inactivity of 6 months. The lot that
    expired stays as it expired; the lot that is due (its date passed, the night's job not
    run yet) is not revived by a purchase; the open lot keeps its later date; the new
    purchase's lot shares the member's deadline."""
    earn_at(shop, member, "10.00", at(2024, 1, 10, 9))  # expires 2025-02-01: expired below
    earn_at(shop, member, "20.00", at(2024, 6, 10, 9))  # 2025-07-01: due when switching
    earn_at(shop, member, "40.00", at(2025, 5, 10, 9))  # 2026-06-01: open
    expire(at(2025, 2, 1, 2))
    expired = list(
        PointLot.objects.filter(member=member, remaining=0).values_list(
            "id", "points", "remaining", "expires_at"
        )
    )
    assert len(expired) == 1

    policy(program, ExpiryPolicy.INACTIVITY, expiry_inactivity_months=6)
    earn_at(shop, member, "5.00", at(2025, 7, 1, 12))
    assert expiries(member) == [at(2025, 2, 1), at(2025, 7, 1), at(2026, 6, 1), at(2026, 6, 1)]
    # A purchase whose deadline passes the open lot's date moves every open lot to it.
    earn_at(shop, member, "1.00", at(2025, 12, 20, 9))
    assert expiries(member) == [at(2025, 2, 1), at(2025, 7, 1)] + [at(2026, 6, 20, 9)] * 3
    assert (
        list(
            PointLot.objects.filter(pk=expired[0][0]).values_list(
                "id", "points", "remaining", "expires_at"
            )
        )
        == expired
    )

    expire(at(2026, 1, 2, 2))
    member.refresh_from_db()
    assert member.points_available == 40 + 5 + 1  # the due 20 expired, never revived
    assert LedgerEntry.objects.filter(member=member, kind="expire").count() == 2
    assert_reconciles(member)
