"""One consistent API (issue 13): every amount a string in its currency's minor units,
every timestamp RFC 3339 in UTC with `Z`, whatever TIME_ZONE the server runs in."""

import json
import re
from decimal import Decimal

import pytest

from metrics.models import Feedback
from rewards.models import Reward, Tier
from tests.conftest import earn

pytestmark = pytest.mark.django_db

RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", re.ASCII)


@pytest.fixture(autouse=True, params=["UTC", "Europe/Stockholm"])
def server_time_zone(request, settings):
    settings.TIME_ZONE = request.param


def post(client, url, body=None, **headers):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **headers)


def timestamps(body, key=""):
    """Every value of the body under a key that names a time."""
    if isinstance(body, dict):
        for name, value in body.items():
            yield from timestamps(value, name)
    elif isinstance(body, list):
        for value in body:
            yield from timestamps(value, key)
    elif key.endswith("_at") and body is not None:
        yield key, body


def assert_times_are_rfc3339_z(body):
    found = list(timestamps(body))
    for key, value in found:
        assert isinstance(value, str) and RFC3339_Z.fullmatch(value), (key, value)
    return found


def test_discount_amount_has_the_currency_minor_units_in_hold_capture_and_cancel(
    shop_client, shop, member, program
):
    program.point_value = Decimal("0.01")
    program.save()
    earn(shop, member, "100.00")
    held = post(
        shop_client,
        "/api/v1/redemptions",
        {"member": member.external_id, "points": 10, "hold": True},
        HTTP_IDEMPOTENCY_KEY="H-1",
    ).json()
    url = f"/api/v1/redemptions/{held['redemption_id']}"
    captured = post(shop_client, f"{url}/capture").json()
    cancelled = post(shop_client, f"{url}/cancel").json()

    assert [held["discount_amount"], captured["discount_amount"], cancelled["discount_amount"]] == [
        "0.10",
        "0.10",
        "0.10",
    ]
    assert assert_times_are_rfc3339_z(held)  # hold_expires_at


def test_a_refund_amount_has_the_currency_minor_units(shop_client, shop, member):
    earn(shop, member, "100.00", order_id="A-1")
    body = post(
        shop_client, "/api/v1/purchases/A-1/refunds", {"refund_id": "R-1", "amount": "10.5"}
    ).json()
    assert body["amount"] == "10.50"


def test_a_zero_decimal_currency_has_no_fraction(shop_client, shop, member, program):
    program.currency = "JPY"
    program.save()
    earn(shop, member, "1000", order_id="J-1", currency="JPY")
    body = post(
        shop_client, "/api/v1/purchases/J-1/refunds", {"refund_id": "R-1", "amount": "150"}
    ).json()
    assert body["amount"] == "150"


def test_member_voucher_and_feedback_times_are_rfc3339_z(shop_client, shop, member, member_client):
    earn(shop, member, "500.00")
    reward = Reward.objects.create(name="Coffee", points_cost=50)
    redeemed = post(
        shop_client,
        "/api/v1/redemptions",
        {"member": member.external_id, "reward_id": reward.pk},
        HTTP_IDEMPOTENCY_KEY="V-1",
    ).json()
    code = redeemed["voucher"]["code"]
    feedback = post(
        shop_client,
        "/api/v1/feedback",
        {
            "member": member.external_id,
            "kind": "nps",
            "score": 9,
            "answered_at": "2025-06-01T12:00:00+02:00",
        },
    ).json()
    bodies = [
        redeemed,
        shop_client.get(f"/api/v1/members/{member.external_id}").json(),
        shop_client.get(f"/api/v1/vouchers/{code}").json(),
        post(shop_client, f"/api/v1/vouchers/{code}/use").json(),
        member_client.get("/api/v1/me/balance").json(),
        member_client.get("/api/v1/me/transactions").json(),
        member_client.get("/api/v1/me/vouchers").json(),
        feedback,
        post(shop_client, f"/api/v1/members/{member.external_id}/token").json(),
    ]
    found = [key for body in bodies for key, _ in assert_times_are_rfc3339_z(body)]
    assert {
        "enrolled_at",
        "issued_at",
        "used_at",
        "occurred_at",
        "recorded_at",
        "answered_at",
        "expires_at",
    } <= set(found)
    assert feedback["answered_at"] == "2025-06-01T10:00:00Z"
    assert Feedback.objects.count() == 1


def test_program_gives_decimals_as_strings(client, program):
    program.point_value = Decimal("0.0125")
    program.save()
    Tier.objects.create(name="Gold", rank=2, threshold=Decimal(500), earn_multiplier=Decimal("1.5"))
    body = client.get("/api/v1/program").json()
    assert body["redeeming"]["point_value"] == "0.0125"
    gold = body["tiers"]["levels"][0]
    assert (gold["threshold"], gold["earn_multiplier"]) == ("500.00", "1.500")
    assert isinstance(body["earning"]["base_rate"], str)
