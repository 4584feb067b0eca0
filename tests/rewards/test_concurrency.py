"""Real concurrent requests against PostgreSQL: threads with their own connections."""

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from members.services import shop_api_key_create
from rewards.models import (
    LedgerEntry,
    Milestone,
    MilestoneAward,
    Purchase,
    Redemption,
    Tier,
    TierChange,
)
from tests.conftest import earn
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(count: int, request) -> list:
    """Start `count` threads that wait at a barrier, then each call request(index)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = request(index)
        except Exception as error:  # reported by the assertions below
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def shop_key():
    return shop_api_key_create(shop_name="Concurrent shop")


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_fifty_concurrent_redemptions_never_overspend(shop_key):
    shop, key = shop_key
    member = MemberFactory()
    earn(shop, member, "100.00")

    def redeem(index):
        response = client_for(key).post(
            "/api/v1/redemptions",
            {"member": member.external_id, "points": 10},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"r-{index}",
        )
        return response.status_code, response.json()

    results = run_concurrently(50, redeem)
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 10, 422: 40}, results
    refused = [body for status, body in results if status == 422]
    assert {body["error"]["code"] for body in refused} == {"insufficient_points"}
    member.refresh_from_db()
    assert member.points_available == 0
    assert Redemption.objects.count() == 10
    assert_reconciles(member)


def test_twenty_identical_purchases_earn_once(shop_key):
    _, key = shop_key
    member = MemberFactory()
    body = {"member": member.external_id, "order_id": "SAME", "amount": "42.00", "currency": "EUR"}

    def purchase(index):
        response = client_for(key).post("/api/v1/purchases", body, format="json")
        return response.status_code, response.json()

    results = run_concurrently(20, purchase)
    assert all(isinstance(result, tuple) for result in results), results
    assert Counter(status for status, _ in results) == {201: 1, 200: 19}
    assert all(body == results[0][1] for _, body in results)
    assert LedgerEntry.objects.filter(member=member, kind="earn").count() == 1
    assert Purchase.objects.count() == 1
    assert_reconciles(member)


def test_concurrent_identical_redemptions_spend_once(shop_key):
    shop, key = shop_key
    member = MemberFactory()
    earn(shop, member, "100.00")

    def redeem(index):
        response = client_for(key).post(
            "/api/v1/redemptions",
            {"member": member.external_id, "points": 70},
            format="json",
            HTTP_IDEMPOTENCY_KEY="one-key",
        )
        return response.status_code, response.json()

    results = run_concurrently(12, redeem)
    assert Counter(status for status, _ in results) == {201: 1, 200: 11}, results
    assert all(body == results[0][1] for _, body in results)
    member.refresh_from_db()
    assert member.points_available == 30
    assert_reconciles(member)


def test_concurrent_earns_and_redeems_on_one_member_stay_exact(shop_key):
    shop, key = shop_key
    member = MemberFactory()
    earn(shop, member, "200.00")

    def mixed(index):
        client = client_for(key)
        if index % 2:
            response = client.post(
                "/api/v1/purchases",
                {
                    "member": member.external_id,
                    "order_id": f"o-{index}",
                    "amount": "5.00",
                    "currency": "EUR",
                },
                format="json",
            )
        else:
            response = client.post(
                "/api/v1/redemptions",
                {"member": member.external_id, "points": 15},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"k-{index}",
            )
        return response.status_code

    results = run_concurrently(30, mixed)
    assert set(results) <= {201, 422}, results
    member.refresh_from_db()
    earned = 200 + 5 * 15
    spent = 15 * Redemption.objects.count()
    assert member.points_available == earned - spent
    assert_reconciles(member)


def test_concurrent_refunds_of_one_purchase_never_exceed_it(shop_key):
    shop, key = shop_key
    member = MemberFactory()
    earn(shop, member, "10.00", order_id="A-1")

    def refund(index):
        return (
            client_for(key)
            .post(
                "/api/v1/purchases/A-1/refunds",
                {"refund_id": f"R-{index}", "amount": "3.00"},
                format="json",
            )
            .status_code
        )

    results = run_concurrently(8, refund)
    assert Counter(results) == {201: 3, 422: 5}
    purchase = Purchase.objects.get()
    assert purchase.refunded_amount == 9 and purchase.points_reversed == 9
    assert_reconciles(member)


def test_a_milestone_is_awarded_exactly_once_under_concurrent_purchases(shop_key):
    shop, key = shop_key
    Milestone.objects.create(name="Fifth", kind="purchases", target=5, bonus_points=50)
    Milestone.objects.create(name="100 points", kind="lifetime_points", target=100, bonus_points=7)
    Tier.objects.create(name="Base", rank=1, threshold=0)
    Tier.objects.create(name="Silver", rank=2, threshold=60)
    member = MemberFactory()

    def buy(index):
        return client_for(key).post(
            "/api/v1/purchases",
            {
                "member": member.external_id,
                "order_id": f"MS-{index}",
                "amount": "20",
                "currency": "EUR",
            },
            format="json",
        )

    responses = run_concurrently(12, buy)
    assert Counter(r.status_code for r in responses) == {201: 12}
    reached = [name for r in responses for name in r.json()["milestones_reached"]]
    assert sorted(reached) == ["100 points", "Fifth"]
    assert MilestoneAward.objects.filter(member=member).count() == 2
    assert TierChange.objects.filter(member=member, to_tier__name="Silver").count() == 1
    member.refresh_from_db()
    assert member.points_available == 12 * 20 + 50 + 7
    assert_reconciles(member)
