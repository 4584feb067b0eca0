"""Points + cash at checkout (issue 17): the share of an order points may pay, the minimum
per redemption and steps. Refusals write nothing and name the largest allowed points."""

import pytest

from rewards.models import LedgerEntry, Redemption
from tests.conftest import earn

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich_member(shop, member):
    earn(shop, member, "1000.00")  # 1000 points, worth 10 EUR at 0.01 each
    return member


def redeem(client, member, key="k-1", **body):
    return client.post(
        "/api/v1/redemptions",
        {"member": member.external_id, **body},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def nothing_written(member) -> bool:
    return (
        not Redemption.objects.exists()
        and not LedgerEntry.objects.filter(member=member, kind__in=["redeem", "hold"]).exists()
    )


def test_points_may_pay_at_most_the_programs_share_of_an_order(shop_client, rich_member, program):
    program.max_points_share = 50
    program.save()
    # Half of 8 EUR is 4 EUR: 400 points.
    response = redeem(shop_client, rich_member, points=401, order_total="8.00")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "redemption_exceeds_order_share"
    assert error["max_points"] == 400
    assert "400" in error["message"]
    assert nothing_written(rich_member)

    ok = redeem(shop_client, rich_member, key="k-2", points=400, order_total="8.00")
    assert ok.status_code == 201
    assert Redemption.objects.get().order_total == 8


def test_without_order_total_the_share_does_not_apply(shop_client, rich_member, program):
    program.max_points_share = 50
    program.save()
    assert redeem(shop_client, rich_member, points=900).status_code == 201


def test_the_largest_allowed_is_bounded_by_the_balance(shop_client, rich_member, program):
    program.max_points_share = 100
    program.redemption_step_points = 300
    program.save()
    response = redeem(shop_client, rich_member, points=1000, order_total="50.00")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "redemption_not_in_steps"
    # The share allows 5000 points, the balance 1000: 900 in steps of 300.
    assert response.json()["error"]["max_points"] == 900


def test_a_redemption_below_the_minimum_is_refused(shop_client, rich_member, program):
    program.min_points_per_redemption = 200
    program.save()
    response = redeem(shop_client, rich_member, points=199)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "redemption_below_minimum"
    assert response.json()["error"]["max_points"] == 1000
    assert nothing_written(rich_member)
    assert redeem(shop_client, rich_member, key="k-2", points=200).status_code == 201


def test_a_redemption_must_be_in_steps(shop_client, rich_member, program):
    program.redemption_step_points = 100
    program.save()
    response = redeem(shop_client, rich_member, points=250, hold=True)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["max_points"], error["step_points"]) == (
        "redemption_not_in_steps",
        1000,
        100,
    )
    assert nothing_written(rich_member)
    assert redeem(shop_client, rich_member, key="k-2", points=300, hold=True).status_code == 201


def test_when_nothing_is_allowed_the_largest_is_zero(shop_client, shop, member, program):
    earn(shop, member, "150.00")
    program.min_points_per_redemption = 200
    program.save()
    response = redeem(shop_client, member, points=100)
    # 150 points available, at least 200 per redemption: nothing can be redeemed.
    assert response.json()["error"]["code"] == "redemption_below_minimum"
    assert response.json()["error"]["max_points"] == 0


def test_a_refused_redemption_can_be_retried_with_the_same_key(shop_client, rich_member, program):
    program.redemption_step_points = 100
    program.save()
    assert redeem(shop_client, rich_member, points=150).status_code == 422
    assert redeem(shop_client, rich_member, points=100).status_code == 201


def test_the_settings_do_not_apply_to_a_catalog_reward(shop_client, rich_member, program):
    from rewards.models import Reward

    program.redemption_step_points = 1000
    program.save()
    reward = Reward.objects.create(name="Mug", points_cost=150)
    response = redeem(shop_client, rich_member, reward_id=reward.pk)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"points": 10, "order_total": "0"},
        {"points": 10, "order_total": "-5.00"},
        {"points": 10, "order_total": "abc"},
        {"points": 10, "order_total": "1.00001"},
        {"reward_id": 1, "order_total": "10.00"},
    ],
)
def test_bad_order_total_is_refused_with_the_field_named(shop_client, rich_member, body):
    response = redeem(shop_client, rich_member, **body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "order_total" in response.json()["error"]["fields"]
    assert nothing_written(rich_member)


def test_the_program_page_states_the_checkout_rules(client, program):
    program.max_points_share = 50
    program.min_points_per_redemption = 100
    program.redemption_step_points = 50
    program.save()
    redeeming = client.get("/api/v1/program").json()["redeeming"]
    assert "Points can pay up to 50% of an order." in redeeming["text"]
    assert "You redeem at least 100 points at a time." in redeeming["text"]
    assert "Points are redeemed in steps of 50." in redeeming["text"]
    assert (redeeming["max_points_share_percent"], redeeming["min_points"]) == ("50", 100)
    assert redeeming["step_points"] == 50
