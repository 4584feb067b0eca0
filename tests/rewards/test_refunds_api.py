import pytest

from rewards.models import LedgerEntry, Purchase
from tests.conftest import earn
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db


def refund(shop_client, order_id, refund_id, amount):
    return shop_client.post(
        f"/api/v1/purchases/{order_id}/refunds",
        {"refund_id": refund_id, "amount": amount},
        format="json",
    )


def test_full_refund_takes_all_points_back(shop_client, shop, member):
    earn(shop, member, "100.00", order_id="A-1")
    response = refund(shop_client, "A-1", "R-1", "100.00")
    assert response.status_code == 201
    body = response.json()
    assert (body["points_reversed"], body["points_owed"], body["balance"]) == (100, 0, 0)
    member.refresh_from_db()
    assert member.lifetime_earned == 0
    assert_reconciles(member)


def test_partial_refunds_reverse_proportionally_and_add_up(shop_client, shop, member):
    earn(shop, member, "10.00", order_id="A-1")  # 10 points
    reversed_points = [
        refund(shop_client, "A-1", f"R-{i}", "3.33").json()["points_reversed"] for i in range(3)
    ]
    # floor(10 * 3.33/10)=3, floor(10 * 6.66/10)=6 → 3, floor(10 * 9.99/10)=9 → 3
    assert reversed_points == [3, 3, 3]
    last = refund(shop_client, "A-1", "R-3", "0.01").json()
    assert last["points_reversed"] == 1  # the running total reaches all 10 points
    assert Purchase.objects.get().points_reversed == 10
    assert_reconciles(member)


def test_refunds_never_exceed_the_purchase(shop_client, shop, member):
    earn(shop, member, "10.00", order_id="A-1")
    refund(shop_client, "A-1", "R-1", "6.00")
    response = refund(shop_client, "A-1", "R-2", "4.01")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "refund_exceeds_purchase"
    assert response.json()["error"]["refundable"] == "4"
    assert LedgerEntry.objects.filter(kind="refund").count() == 1


def test_refund_is_idempotent_by_refund_id(shop_client, shop, member):
    earn(shop, member, "10.00", order_id="A-1")
    first = refund(shop_client, "A-1", "R-1", "5.00")
    again = refund(shop_client, "A-1", "R-1", "5.00")
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    conflict = refund(shop_client, "A-1", "R-1", "4.00")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert LedgerEntry.objects.filter(kind="refund").count() == 1


def test_spent_points_become_owed_and_are_settled_from_later_earnings(shop_client, shop, member):
    earn(shop, member, "100.00", order_id="A-1")
    redeemed = shop_client.post(
        "/api/v1/redemptions",
        {"member": member.external_id, "points": 80},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert redeemed.status_code == 201
    body = refund(shop_client, "A-1", "R-1", "100.00").json()
    assert (body["points_reversed"], body["points_owed"], body["balance"], body["owed"]) == (
        100,
        80,
        0,
        80,
    )
    member.refresh_from_db()
    assert member.points_available == 0 and member.points_owed == 80
    assert_reconciles(member)

    after = earn(shop, member, "50.00", order_id="A-2")
    assert after["balance"] == 0
    member.refresh_from_db()
    assert member.points_owed == 30
    after = earn(shop, member, "50.00", order_id="A-3")
    assert after["balance"] == 20
    member.refresh_from_db()
    assert (member.points_owed, member.points_available) == (0, 20)
    assert_reconciles(member)


def test_refund_takes_pending_points_of_its_own_purchase_first(shop_client, shop, member, program):
    earn(shop, member, "30.00", order_id="OLD")
    program.pending_days = 14
    program.save()
    earn(shop, member, "20.00", order_id="NEW")
    refund(shop_client, "NEW", "R-1", "20.00")
    member.refresh_from_db()
    assert (member.points_available, member.points_pending) == (30, 0)
    assert_reconciles(member)


def test_refund_of_unknown_order_is_404(shop_client, member):
    response = refund(shop_client, "NOPE", "R-1", "1.00")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "purchase_not_found"


def test_shop_cannot_refund_another_shops_purchase(shop_client, member):
    from tests.factories import ShopFactory

    other = ShopFactory(name="Other shop")
    earn(other, member, "10.00", order_id="A-1")
    assert refund(shop_client, "A-1", "R-1", "1.00").status_code == 404
