"""Campaign budgets under real concurrent purchases against PostgreSQL (issue 17): the
budget is spent exactly, never over."""

from datetime import UTC, datetime, timedelta

import pytest

from members.services import shop_api_key_create
from rewards.models import EarnAward, EarnRule
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles
from tests.rewards.test_concurrency import client_for, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_thirty_members_racing_for_a_budget_spend_it_exactly():
    shop, key = shop_api_key_create(shop_name="Budget shop")
    now = datetime.now(UTC)
    rule = EarnRule.objects.create(
        name="Launch week",
        kind=EarnRule.Kind.CAMPAIGN_MULTIPLIER,
        multiplier=2,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=6),
        budget_points=125,
    )
    members = [MemberFactory() for _ in range(30)]

    def purchase(index: int):
        response = client_for(key).post(
            "/api/v1/purchases",
            {
                "member": members[index].external_id,
                "order_id": f"B-{index}",
                "amount": "10.00",
                "currency": "EUR",
            },
            format="json",
        )
        return response.status_code, response.json()

    results = run_concurrently(30, purchase)
    assert all(isinstance(result, tuple) and result[0] == 201 for result in results), results
    rule.refresh_from_db()
    assert rule.budget_used == 125
    given = [item["points"] for _, body in results for item in body["items"] if item["rule_id"]]
    assert sum(given) == 125
    # Twelve purchases got their full 10, one the last 5, the rest nothing.
    assert sorted(given, reverse=True)[:13] == [10] * 12 + [5]
    assert sum(EarnAward.objects.filter(rule=rule).values_list("points", flat=True)) == 125
    assert sum(body["points_earned"] for _, body in results) == 300 + 125
    for member in members:
        assert_reconciles(member)


def test_two_budgeted_rules_on_one_purchase_are_each_spent_exactly():
    shop, key = shop_api_key_create(shop_name="Two budgets shop")
    now = datetime.now(UTC)
    bonus = EarnRule.objects.create(
        name="Basket bonus",
        kind=EarnRule.Kind.MIN_SPEND_BONUS,
        bonus_points=7,
        min_amount=5,
        budget_points=50,
    )
    campaign = EarnRule.objects.create(
        name="Launch week",
        kind=EarnRule.Kind.CAMPAIGN_MULTIPLIER,
        multiplier=2,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=6),
        budget_points=95,
    )
    members = [MemberFactory() for _ in range(20)]

    def purchase(index: int):
        response = client_for(key).post(
            "/api/v1/purchases",
            {
                "member": members[index].external_id,
                "order_id": f"T-{index}",
                "amount": "10.00",
                "currency": "EUR",
            },
            format="json",
        )
        return response.status_code, response.json()

    results = run_concurrently(20, purchase)
    assert all(isinstance(result, tuple) and result[0] == 201 for result in results), results
    for rule, budget in ((bonus, 50), (campaign, 95)):
        rule.refresh_from_db()
        assert rule.budget_used == budget
        assert sum(EarnAward.objects.filter(rule=rule).values_list("points", flat=True)) == budget
    for member in members:
        assert_reconciles(member)
