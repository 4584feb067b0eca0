"""The bulk history import under issue 17's settings still writes what the services write
row by row: excluded categories, a budgeted rule, fixed-date and inactivity expiry."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from rewards.models import EarnRule, ExpiryPolicy, Purchase
from tests.rewards import test_bulk_import
from tests.rewards.test_bulk_import import (
    assert_twins_equal,
    enroll_twins,
    history,
    in_bulk,
    row_by_row,
    twin_shops,
)

# The program of the bulk import's own tests.
loyalty_setup = test_bulk_import.loyalty_setup

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "settings",
    [
        {"excluded_categories": "books"},
        {"expiry_policy": ExpiryPolicy.FIXED, "expiry_after_period_months": 3},
        {"expiry_policy": ExpiryPolicy.INACTIVITY, "expiry_inactivity_months": 4},
    ],
)
def test_the_bulk_path_writes_what_purchase_record_writes_under_issue_17(loyalty_setup, settings):
    for field, value in settings.items():
        setattr(loyalty_setup, field, value)
    loyalty_setup.save()
    shops = twin_shops()
    enroll_twins(6)
    row_by_row(history(11, "a", 6, shops["Row shop"]), shops)
    in_bulk(history(11, "b", 6, shops["Bulk shop"]), shops, chunk=7)
    assert_twins_equal(6)
    call_command("verify_ledger")
    if "excluded_categories" in settings:
        assert Purchase.objects.filter(not_earning_amount__gt=0).exists()


def test_a_budget_is_shared_by_both_paths_and_never_overspent(loyalty_setup):
    rule = EarnRule.objects.get(name="Coffee x2")
    rule.budget_points = 150
    rule.save()
    shops = twin_shops()
    enroll_twins(6)
    in_bulk(history(5, "b", 6, shops["Bulk shop"]), shops, chunk=7)
    rule.refresh_from_db()
    given = sum(rule.awards.values_list("points", flat=True))
    assert given == rule.budget_used == 150
    call_command("verify_ledger")


def test_a_rule_exclusion_is_planned_in_memory_with_the_same_response(loyalty_setup):
    EarnRule.objects.filter(name="Spring campaign").update(
        excluded_categories="books",
        starts_at=datetime(2024, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    shops = twin_shops()
    enroll_twins(6)
    row_by_row(history(13, "a", 6, shops["Row shop"]), shops)
    in_bulk(history(13, "b", 6, shops["Bulk shop"]), shops, chunk=7)
    assert_twins_equal(6)
    for shop in shops.values():
        assert Purchase.objects.filter(shop=shop, response__has_key="excluded").exists()
    call_command("verify_ledger")


def test_a_spent_budget_gives_the_same_responses_on_both_paths(loyalty_setup):
    EarnRule.objects.filter(name="Coffee x2").update(budget_points=10, budget_used=10)
    shops = twin_shops()
    enroll_twins(6)
    row_by_row(history(17, "a", 6, shops["Row shop"]), shops)
    in_bulk(history(17, "b", 6, shops["Bulk shop"]), shops, chunk=7)
    assert_twins_equal(6)
