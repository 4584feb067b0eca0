"""The outbox under real concurrency on PostgreSQL: threads with their own connections."""

import pytest

from loyalty_engine.events.models import Event
from rewards.models import Purchase, Redemption
from tests.conftest import earn
from tests.factories import MemberFactory
from tests.rewards.test_concurrency import client_for, run_concurrently, shop_key  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_purchases_have_one_event_each_and_a_replayed_one_none(shop_key):  # noqa: F811
    shop, key = shop_key
    member = MemberFactory()

    def purchase(index: int):
        # Half the threads send the same order: one earns, the others replay or conflict.
        order_id = "same" if index % 2 else f"order-{index}"
        body = {
            "member": member.external_id,
            "order_id": order_id,
            "amount": "10.00",
            "currency": "EUR",
        }
        return client_for(key).post("/api/v1/purchases", body, format="json").status_code

    statuses = run_concurrently(12, purchase)
    assert all(status in (200, 201) for status in statuses), statuses
    assert Purchase.objects.count() == 7
    earned = Event.objects.filter(type="points.earned")
    assert earned.count() == 7
    assert sorted(e.data["order_id"] for e in earned).count("same") == 1
    # Every event's balance is a balance the member really had, the last one theirs now.
    member.refresh_from_db()
    last = earned.order_by("seq").last()
    assert last.data["balance"]["available"] == member.points_available == 70


def test_concurrent_redemptions_refused_for_lack_of_points_emit_nothing(shop_key):  # noqa: F811
    shop, key = shop_key
    member = MemberFactory()
    earn(shop, member, "30.00")

    def redeem(index: int):
        body = {"member": member.external_id, "points": 10}
        return (
            client_for(key)
            .post("/api/v1/redemptions", body, format="json", HTTP_IDEMPOTENCY_KEY=f"k-{index}")
            .status_code
        )

    statuses = run_concurrently(8, redeem)
    assert statuses.count(201) == 3, statuses
    assert Redemption.objects.count() == 3
    assert Event.objects.filter(type="points.redeemed").count() == 3
