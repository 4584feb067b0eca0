"""Reward stock and vouchers under real concurrent requests against PostgreSQL."""

from collections import Counter

import pytest

from members.services import shop_api_key_create
from rewards.models import Redemption, Reward, Voucher
from tests.conftest import earn
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles
from tests.rewards.test_concurrency import client_for, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop_key():
    return shop_api_key_create(shop_name="Concurrent shop")


def redeem_reward(key: str, member, reward: Reward, idempotency_key: str):
    response = client_for(key).post(
        "/api/v1/redemptions",
        {"member": member.external_id, "reward_id": reward.pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY=idempotency_key,
    )
    return response.status_code, response.json()


def error_codes(results, status: int) -> set[str]:
    return {body["error"]["code"] for code, body in results if code == status}


def test_twenty_members_racing_for_five_units_get_exactly_five_vouchers(shop_key):
    shop, key = shop_key
    reward = Reward.objects.create(name="Concert ticket", points_cost=50, stock=5)
    members = [MemberFactory() for _ in range(20)]
    for member in members:
        earn(shop, member, "100.00")

    results = run_concurrently(
        20, lambda index: redeem_reward(key, members[index], reward, f"k-{index}")
    )
    assert all(isinstance(result, tuple) for result in results), results
    assert Counter(status for status, _ in results) == {201: 5, 422: 15}, results
    assert error_codes(results, 422) == {"reward_out_of_stock"}
    reward.refresh_from_db()
    assert reward.stock == 0
    assert Voucher.objects.filter(reward=reward).count() == 5
    assert len({body["voucher"]["code"] for status, body in results if status == 201}) == 5
    for member in members:
        member.refresh_from_db()
        assert member.points_available == (50 if member.vouchers.exists() else 100)
        assert_reconciles(member)


def test_one_member_racing_past_the_limit_gets_one_voucher(shop_key):
    shop, key = shop_key
    reward = Reward.objects.create(name="Welcome gift", points_cost=10, per_member_limit=1)
    member = MemberFactory()
    earn(shop, member, "100.00")

    results = run_concurrently(10, lambda index: redeem_reward(key, member, reward, f"k-{index}"))
    assert Counter(status for status, _ in results) == {201: 1, 422: 9}, results
    assert error_codes(results, 422) == {"reward_limit_reached"}
    member.refresh_from_db()
    assert member.points_available == 90
    assert_reconciles(member)


def test_identical_reward_redemptions_issue_one_voucher(shop_key):
    shop, key = shop_key
    reward = Reward.objects.create(name="Mug", points_cost=30, stock=10)
    member = MemberFactory()
    earn(shop, member, "100.00")

    results = run_concurrently(12, lambda index: redeem_reward(key, member, reward, "same-key"))
    assert Counter(status for status, _ in results) == {201: 1, 200: 11}, results
    assert all(body == results[0][1] for _, body in results)
    reward.refresh_from_db()
    assert reward.stock == 9 and Voucher.objects.count() == 1
    assert_reconciles(member)


def test_ten_tills_using_one_voucher_get_exactly_one_success(shop_key):
    shop, key = shop_key
    reward = Reward.objects.create(name="Free coffee", points_cost=10)
    member = MemberFactory()
    earn(shop, member, "100.00")
    _, body = redeem_reward(key, member, reward, "r-1")
    code = body["voucher"]["code"]
    keys = [shop_api_key_create(shop_name=f"Till {index}")[1] for index in range(10)]

    def use(index):
        response = client_for(keys[index]).post(f"/api/v1/vouchers/{code}/use")
        return response.status_code, response.json()

    results = run_concurrently(10, use)
    assert Counter(status for status, _ in results) == {200: 1, 409: 9}, results
    assert error_codes(results, 409) == {"voucher_already_used"}
    winner = next(body for status, body in results if status == 200)
    voucher = Voucher.objects.select_related("used_by").get()
    assert voucher.status == "used" and voucher.used_by.name == winner["used_by"]
    refused = [body["error"] for status, body in results if status == 409]
    assert {error["used_by"] for error in refused} == {winner["used_by"]}


def test_use_racing_cancel_lets_exactly_one_win(shop_key):
    shop, key = shop_key
    reward = Reward.objects.create(name="Free cake", points_cost=40, stock=6)
    members = [MemberFactory() for _ in range(6)]
    vouchers = []
    for index, member in enumerate(members):
        earn(shop, member, "100.00")
        _, body = redeem_reward(key, member, reward, f"r-{index}")
        vouchers.append((body["redemption_id"], body["voucher"]["code"]))

    def race(index):
        redemption_id, code = vouchers[index // 2]
        client = client_for(key)
        if index % 2:
            return "use", client.post(f"/api/v1/vouchers/{code}/use").status_code
        return "cancel", client.post(f"/api/v1/redemptions/{redemption_id}/cancel").status_code

    # Each voucher gets a cancel and a use at the same moment.
    results = run_concurrently(12, race)
    for pair in range(6):
        outcomes = dict(results[2 * pair : 2 * pair + 2])
        assert sorted(outcomes.values()) == [200, 409], results
    used = Voucher.objects.filter(status="used").count()
    cancelled = Voucher.objects.filter(status="cancelled").count()
    assert used + cancelled == 6
    assert Redemption.objects.filter(status="cancelled").count() == cancelled
    reward.refresh_from_db()
    assert reward.stock == cancelled
    for member in members:
        member.refresh_from_db()
        voucher = Voucher.objects.get(member=member)
        assert member.points_available == (100 if voucher.status == "cancelled" else 60)
        assert_reconciles(member)
