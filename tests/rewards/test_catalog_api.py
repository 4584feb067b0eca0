"""Redeeming catalog rewards for vouchers, cancelling them, and the catalog members see."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Member
from rewards.errors import RewardOutOfStock
from rewards.ledger_words import entry_description
from rewards.models import LedgerEntry, MemberTier, PointLot, Redemption, Reward, Tier, Voucher
from rewards.services.catalog import reward_unavailable_reason, voucher_issue, voucher_use
from rewards.services.redemptions import reward_redeem
from rewards.vouchers import ALPHABET
from tests.conftest import earn, member_client_for
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db

CODE_SHAPE = re.compile(rf"[{ALPHABET}]{{4}}(-[{ALPHABET}]{{4}}){{3}}")


def make_reward(name="Free coffee", points_cost=40, **fields) -> Reward:
    return Reward.objects.create(name=name, points_cost=points_cost, **fields)


def redeem_reward(shop_client, customer, reward, key="key-1", **extra):
    reward_id = reward.pk if isinstance(reward, Reward) else reward
    return shop_client.post(
        "/api/v1/redemptions",
        {"member": customer.external_id, "reward_id": reward_id, **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def cancel(shop_client, redemption_id):
    return shop_client.post(f"/api/v1/redemptions/{redemption_id}/cancel", format="json")


def error_code(response) -> str:
    return response.json()["error"]["code"]


def stock_of(reward: Reward) -> int | None:
    reward.refresh_from_db()
    return reward.stock


def service_redeem(shop, customer, reward, *, as_of, key="svc-1"):
    return reward_redeem(
        shop=shop,
        member_external_id=customer.external_id,
        reward_id=reward.pk,
        idempotency_key=key,
        request_hash=f"hash-{key}",
        as_of=as_of,
    )


# --- redeeming ----------------------------------------------------------------------------


def test_redeeming_a_reward_debits_its_cost_and_issues_a_voucher(shop_client, shop, member):
    earn(shop, member, "100.00")
    reward = make_reward(points_cost=40, stock=3, voucher_valid_days=30)
    response = redeem_reward(shop_client, member, reward)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["points"], body["balance"], body["status"]) == (40, 60, "captured")
    assert body["discount_amount"] == "0.00"
    voucher = body["voucher"]
    assert CODE_SHAPE.fullmatch(voucher["code"]), voucher["code"]
    assert voucher["status"] == "issued"
    assert voucher["reward"] == {"id": reward.pk, "name": "Free coffee"}

    stored = Voucher.objects.get()
    assert stored.code == voucher["code"] and stored.member == member
    assert stored.redemption_id == Redemption.objects.get().pk
    assert stored.expires_at == stored.issued_at + timedelta(days=30)
    assert stock_of(reward) == 2
    entry = LedgerEntry.objects.get(kind="redeem")
    assert entry.points == -40 and "Free coffee" in entry_description(entry)
    assert_reconciles(member)


def test_points_redemption_response_has_no_voucher(shop_client, shop, member):
    earn(shop, member, "100.00")
    response = shop_client.post(
        "/api/v1/redemptions",
        {"member": member.external_id, "points": 10},
        format="json",
        HTTP_IDEMPOTENCY_KEY="p-1",
    )
    assert response.status_code == 201
    assert "voucher" not in response.json()
    assert not Voucher.objects.exists()


def test_voucher_without_valid_days_never_expires(shop_client, shop, member):
    earn(shop, member, "100.00")
    body = redeem_reward(shop_client, member, make_reward()).json()
    assert body["voucher"]["expires_at"] is None


def test_unlimited_stock_stays_unlimited(shop_client, shop, member):
    earn(shop, member, "100.00")
    reward = make_reward(stock=None)
    assert redeem_reward(shop_client, member, reward).status_code == 201
    assert stock_of(reward) is None


def test_replayed_reward_redemption_returns_the_same_voucher(shop_client, shop, member):
    earn(shop, member, "100.00")
    reward = make_reward(stock=5)
    first = redeem_reward(shop_client, member, reward)
    again = redeem_reward(shop_client, member, reward)
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    assert Voucher.objects.count() == 1 and stock_of(reward) == 4
    other = make_reward(name="Free cake")
    conflict = redeem_reward(shop_client, member, other)
    assert conflict.status_code == 409 and error_code(conflict) == "idempotency_conflict"
    assert_reconciles(member)


def test_replay_is_served_even_after_the_reward_is_withdrawn(shop_client, shop, member):
    earn(shop, member, "100.00")
    reward = make_reward(stock=1)
    first = redeem_reward(shop_client, member, reward)
    Reward.objects.filter(pk=reward.pk).update(is_active=False)
    again = redeem_reward(shop_client, member, reward)
    assert again.status_code == 200 and again.json() == first.json()


def test_redeem_reward_fails_when_points_are_insufficient(shop_client, shop, member):
    earn(shop, member, "39.00")
    reward = make_reward(points_cost=40, stock=3)
    response = redeem_reward(shop_client, member, reward)
    assert response.status_code == 422 and error_code(response) == "insufficient_points"
    assert response.json()["error"]["available"] == 39
    assert not Voucher.objects.exists() and not Redemption.objects.exists()
    assert stock_of(reward) == 3
    assert_reconciles(member)


def test_redeem_reward_with_exactly_enough_points_succeeds(shop_client, shop, member):
    earn(shop, member, "40.00")
    response = redeem_reward(shop_client, member, make_reward(points_cost=40))
    assert response.status_code == 201 and response.json()["balance"] == 0
    assert_reconciles(member)


def test_unknown_reward_is_404(shop_client, shop, member):
    earn(shop, member, "100.00")
    response = redeem_reward(shop_client, member, 987654)
    assert response.status_code == 404 and error_code(response) == "reward_not_found"
    assert not Redemption.objects.exists()


def test_inactive_reward_is_not_available(shop_client, shop, member):
    earn(shop, member, "100.00")
    reward = make_reward(is_active=False)
    response = redeem_reward(shop_client, member, reward)
    assert response.status_code == 422 and error_code(response) == "reward_not_available"
    assert not Voucher.objects.exists()
    assert_reconciles(member)


def test_reward_whose_window_has_ended_is_not_available(shop_client, shop, member):
    earn(shop, member, "100.00")
    now = timezone.now()
    reward = make_reward(starts_at=now - timedelta(days=10), ends_at=now - timedelta(seconds=1))
    response = redeem_reward(shop_client, member, reward)
    assert response.status_code == 422 and error_code(response) == "reward_not_available"
    assert "no longer" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("offset", "redeemable"),
    [
        (-timedelta(microseconds=1), False),  # just before the start
        (timedelta(0), True),  # the start itself is inside
        (timedelta(hours=2) - timedelta(microseconds=1), True),  # just before the end
        (timedelta(hours=2), False),  # the end itself is outside
    ],
    ids=["before-start", "at-start", "before-end", "at-end"],
)
def test_reward_window_includes_its_start_and_excludes_its_end(shop, member, offset, redeemable):
    earn(shop, member, "100.00")
    starts_at = timezone.now() + timedelta(hours=1)
    reward = make_reward(starts_at=starts_at, ends_at=starts_at + timedelta(hours=2), stock=1)
    as_of = starts_at + offset
    if redeemable:
        result = service_redeem(shop, member, reward, as_of=as_of)
        assert result.response["voucher"]["status"] == "issued"
        assert stock_of(reward) == 0
    else:
        with pytest.raises(Exception) as refused:
            service_redeem(shop, member, reward, as_of=as_of)
        assert getattr(refused.value, "code", None) == "reward_not_available"
        assert stock_of(reward) == 1
    assert_reconciles(member)


def test_tier_restricted_reward_requires_one_of_its_tiers(shop_client, shop, member):
    earn(shop, member, "100.00")
    silver = Tier.objects.create(name="Silver", rank=2, threshold=100)
    gold = Tier.objects.create(name="Gold", rank=3, threshold=500)
    platinum = Tier.objects.create(name="Platinum", rank=4, threshold=1000)
    reward = make_reward()
    reward.tiers.add(platinum, gold)

    no_tier = redeem_reward(shop_client, member, reward, key="k1")
    assert no_tier.status_code == 422 and error_code(no_tier) == "reward_tier_required"
    error = no_tier.json()["error"]
    assert error["message"] == "This reward is for members of Gold or Platinum."
    assert error["tiers"] == ["Gold", "Platinum"]

    state = MemberTier.objects.create(member=member, tier=silver)
    lower = redeem_reward(shop_client, member, reward, key="k2")
    assert lower.status_code == 422 and error_code(lower) == "reward_tier_required"

    state.tier = gold
    state.save()
    assert redeem_reward(shop_client, member, reward, key="k3").status_code == 201
    assert_reconciles(member)


def test_reward_without_tiers_is_for_every_member(shop_client, shop, member):
    earn(shop, member, "100.00")
    Tier.objects.create(name="Gold", rank=3, threshold=500)
    assert redeem_reward(shop_client, member, make_reward()).status_code == 201


def test_per_member_limit_counts_vouchers_that_are_not_cancelled(shop_client, shop, member):
    earn(shop, member, "200.00")
    reward = make_reward(per_member_limit=2, stock=10)
    first = redeem_reward(shop_client, member, reward, key="k1").json()
    assert redeem_reward(shop_client, member, reward, key="k2").status_code == 201
    refused = redeem_reward(shop_client, member, reward, key="k3")
    assert refused.status_code == 422 and error_code(refused) == "reward_limit_reached"
    assert refused.json()["error"]["limit"] == 2

    # Someone else has their own allowance.
    other = MemberFactory()
    earn(shop, other, "100.00")
    assert redeem_reward(shop_client, other, reward, key="o1").status_code == 201

    # A used voucher still counts; a cancelled one does not.
    voucher_use(shop=shop, code=first["voucher"]["code"])
    assert redeem_reward(shop_client, member, reward, key="k4").status_code == 422
    second = Redemption.objects.filter(member=member).order_by("created_at")[1]
    assert cancel(shop_client, second.pk).status_code == 200
    assert redeem_reward(shop_client, member, reward, key="k5").status_code == 201
    assert_reconciles(member)


def test_reward_out_of_stock_is_refused(shop_client, shop, member):
    reward = make_reward(stock=1)
    other = MemberFactory()
    for customer in (member, other):
        earn(shop, customer, "100.00")
    assert redeem_reward(shop_client, member, reward, key="k1").status_code == 201
    response = redeem_reward(shop_client, other, reward, key="k2")
    assert response.status_code == 422 and error_code(response) == "reward_out_of_stock"
    assert stock_of(reward) == 0
    assert Voucher.objects.count() == 1
    assert_reconciles(other)


def test_reward_reasons_come_before_points(shop_client, member):
    # A member without points who asks for an out-of-stock reward hears about the stock.
    response = redeem_reward(shop_client, member, make_reward(stock=0))
    assert response.status_code == 422 and error_code(response) == "reward_out_of_stock"


def test_suspended_member_cannot_redeem_a_reward(shop_client, shop, member):
    earn(shop, member, "100.00")
    Member.objects.filter(pk=member.pk).update(status=Member.Status.SUSPENDED)
    response = redeem_reward(shop_client, member, make_reward())
    assert response.status_code == 422 and error_code(response) == "member_not_active"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"reward_id": 1, "hold": True}, "hold", "not_with_reward"),
        ({"reward_id": 1, "points": 10}, "reward_id", "points_or_reward"),
        ({}, "points", "required"),
    ],
    ids=["hold", "both", "neither"],
)
def test_redemption_needs_exactly_one_of_points_and_reward(
    shop_client, shop, member, body, field, code
):
    earn(shop, member, "100.00")
    make_reward()
    response = shop_client.post(
        "/api/v1/redemptions",
        {"member": member.external_id, **body},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert code in [problem["code"] for problem in response.json()["error"]["fields"][field]]
    assert not Redemption.objects.exists()


# --- cancelling ---------------------------------------------------------------------------


def test_cancel_returns_points_to_their_lots_and_the_voucher_to_stock(shop_client, shop, member):
    earn(shop, member, "30.00", occurred_at=timezone.now() - timedelta(days=30))
    earn(shop, member, "30.00")
    reward = make_reward(points_cost=40, stock=5)
    before = {lot.pk: lot.remaining for lot in PointLot.objects.all()}
    redeemed = redeem_reward(shop_client, member, reward).json()
    assert stock_of(reward) == 4

    response = cancel(shop_client, redeemed["redemption_id"])
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["balance"]) == ("cancelled", 60)
    assert body["voucher"]["status"] == "cancelled"
    assert body["voucher"]["code"] == redeemed["voucher"]["code"]
    assert {lot.pk: lot.remaining for lot in PointLot.objects.all()} == before
    assert stock_of(reward) == 5
    voucher = Voucher.objects.get()
    assert voucher.status == "cancelled" and voucher.cancelled_at is not None
    assert redeemed["voucher"]["code"] in entry_description(LedgerEntry.objects.get(kind="cancel"))

    again = cancel(shop_client, redeemed["redemption_id"])
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert stock_of(reward) == 5
    assert_reconciles(member)


def test_cancel_of_an_unlimited_reward_keeps_it_unlimited(shop_client, shop, member):
    earn(shop, member, "100.00")
    reward = make_reward()
    redeemed = redeem_reward(shop_client, member, reward).json()
    assert cancel(shop_client, redeemed["redemption_id"]).status_code == 200
    assert stock_of(reward) is None


def test_cancel_after_the_voucher_was_used_changes_nothing(shop_client, shop, member):
    earn(shop, member, "100.00")
    reward = make_reward(stock=5)
    redeemed = redeem_reward(shop_client, member, reward).json()
    voucher_use(shop=shop, code=redeemed["voucher"]["code"])

    response = cancel(shop_client, redeemed["redemption_id"])
    assert response.status_code == 409 and error_code(response) == "voucher_already_used"
    error = response.json()["error"]
    assert error["used_by"] == "Test shop" and error["used_at"]
    member.refresh_from_db()
    assert member.points_available == 60
    assert stock_of(reward) == 4
    assert Voucher.objects.get().status == "used"
    assert Redemption.objects.get().status == "captured"
    assert not LedgerEntry.objects.filter(kind="cancel").exists()
    assert_reconciles(member)


def test_reward_redemption_cannot_be_captured_or_voided(shop_client, shop, member):
    earn(shop, member, "100.00")
    redeemed = redeem_reward(shop_client, member, make_reward()).json()
    for action in ("capture", "void"):
        response = shop_client.post(f"/api/v1/redemptions/{redeemed['redemption_id']}/{action}")
        assert response.status_code == 409 and error_code(response) == "hold_already_resolved"


# --- the reusable pieces ------------------------------------------------------------------


def test_voucher_issue_without_a_redemption_takes_stock_and_nothing_else(member):
    reward = make_reward(stock=1, per_member_limit=1)
    as_of = timezone.now()
    voucher = voucher_issue(member, reward=reward, as_of=as_of)
    assert (voucher.redemption, voucher.issued_at, voucher.status) == (None, as_of, "issued")
    assert CODE_SHAPE.fullmatch(voucher.code)
    assert stock_of(reward) == 0
    with pytest.raises(RewardOutOfStock):
        voucher_issue(member, reward=reward, as_of=as_of)
    assert Voucher.objects.count() == 1


def test_unavailable_reasons_come_in_a_fixed_order():
    now = timezone.now()
    gold = Tier.objects.create(name="Gold", rank=3)
    reward = make_reward(stock=0, per_member_limit=1, is_active=False)
    reward.tiers.add(gold)

    def reason(**facts):
        facts = {"member_tier_id": None, "vouchers_held": 1, "as_of": now, **facts}
        found = reward_unavailable_reason(reward, **facts)
        return found.code if found else None

    assert reason() == "reward_not_available"
    reward.is_active = True
    assert reason() == "reward_tier_required"
    assert reason(member_tier_id=gold.pk) == "reward_limit_reached"
    assert reason(member_tier_id=gold.pk, vouchers_held=0) == "reward_out_of_stock"
    reward.stock = 1
    assert reason(member_tier_id=gold.pk, vouchers_held=0) is None


def test_voucher_codes_are_unique_and_use_the_unambiguous_alphabet(member):
    reward = make_reward()
    codes = {voucher_issue(member, reward=reward, as_of=timezone.now()).code for _ in range(200)}
    assert len(codes) == 200
    assert all(CODE_SHAPE.fullmatch(code) for code in codes)
    assert not set("".join(codes)) & set("ILOU")


# --- the catalog members see --------------------------------------------------------------


def catalog(member_client) -> dict:
    response = member_client.get("/api/v1/me/rewards")
    assert response.status_code == 200, response.content[:300]
    return response.json()


def by_name(body: dict) -> dict:
    return {item["name"]: item for item in body["rewards"]}


def test_catalog_lists_rewards_on_offer_cheapest_first(member_client, member):
    now = timezone.now()
    make_reward("Cake", points_cost=90, description="A slice", image_url="https://x.test/c.png")
    make_reward("Coffee", points_cost=40)
    make_reward("Withdrawn", is_active=False)
    make_reward("Later", starts_at=now + timedelta(days=1))
    make_reward("Over", ends_at=now - timedelta(seconds=1))
    make_reward("Open", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1))
    body = catalog(member_client)
    assert [item["name"] for item in body["rewards"]] == ["Coffee", "Open", "Cake"]
    cake = by_name(body)["Cake"]
    assert (cake["description"], cake["image_url"], cake["points_cost"]) == (
        "A slice",
        "https://x.test/c.png",
        90,
    )
    assert cake["stock"] is None and cake["tiers"] == []


def test_catalog_says_what_the_member_can_afford(shop, member_client, member):
    earn(shop, member, "40.00")
    make_reward("Exact", points_cost=40)
    make_reward("One more", points_cost=41)
    body = catalog(member_client)
    assert body["points_available"] == 40
    items = by_name(body)
    assert items["Exact"]["affordable"] is True
    assert items["One more"]["affordable"] is False
    # Affordability is not availability: the member may still redeem it once they can pay.
    assert items["One more"]["available"] is True
    assert items["One more"]["unavailable_reason"] is None


def test_catalog_explains_why_a_reward_is_unavailable(shop, member_client, member):
    earn(shop, member, "100.00")
    gold = Tier.objects.create(name="Gold", rank=3, threshold=1000)
    make_reward("Gold only").tiers.add(gold)
    make_reward("Sold out", stock=0)
    limited = make_reward("Once", per_member_limit=1, stock=3)
    voucher_issue(member, reward=limited, as_of=timezone.now())
    make_reward("Free for all", stock=7)

    items = by_name(catalog(member_client))
    assert items["Gold only"]["unavailable_reason"] == {
        "code": "reward_tier_required",
        "message": "This reward is for members of Gold.",
    }
    assert items["Gold only"]["tiers"] == ["Gold"]
    assert items["Sold out"]["unavailable_reason"]["code"] == "reward_out_of_stock"
    assert items["Once"]["unavailable_reason"]["code"] == "reward_limit_reached"
    assert items["Once"]["stock"] == 2
    assert not any(items[name]["available"] for name in ("Gold only", "Sold out", "Once"))
    assert items["Free for all"]["available"] is True
    assert items["Free for all"]["stock"] == 7

    MemberTier.objects.create(member=member, tier=gold)
    assert by_name(catalog(member_client))["Gold only"]["available"] is True


def test_catalog_reads_in_constant_queries(shop, member_client, member, django_assert_num_queries):
    gold = Tier.objects.create(name="Gold", rank=3, threshold=1000)
    for index in range(3):
        make_reward(f"Reward {index}", stock=5).tiers.add(gold)
    voucher_issue(member, reward=Reward.objects.first(), as_of=timezone.now())
    # Token check, rewards, their tiers, the member's tier (then the entry tier, as this
    # member has not been placed yet), their vouchers held.
    with django_assert_num_queries(6):
        catalog(member_client)
    for index in range(3, 10):
        make_reward(f"Reward {index}")
    with django_assert_num_queries(6):
        assert len(catalog(member_client)["rewards"]) == 10


def test_catalog_is_for_members_only(shop_client, member):
    response = shop_client.get("/api/v1/me/rewards")
    assert response.status_code == 401


def test_catalog_of_one_member_ignores_anothers_vouchers(shop, member):
    reward = make_reward("Once", per_member_limit=1)
    voucher_issue(MemberFactory(), reward=reward, as_of=timezone.now())
    items = by_name(catalog(member_client_for(member)))
    assert items["Once"]["available"] is True


def test_reward_redemption_reads_and_writes_in_pinned_queries(
    shop_client, shop, member, django_assert_num_queries
):
    earn(shop, member, "100.00")
    reward = make_reward(points_cost=10, stock=5)
    reward.tiers.add(Tier.objects.create(name="Gold", rank=3))
    MemberTier.objects.create(member=member, tier=reward.tiers.get())
    # Key; member lock (a repeat is found by the key's unique constraint, not read first);
    # reward and tiers; member tier (the reward is for Gold; no per-member limit, so no
    # vouchers read); lots; program; redemption, entry, lots, movement, balance; stock;
    # voucher; response; the events (one bulk insert, issue 15); and the transaction's and
    # the voucher's savepoints.
    with django_assert_num_queries(20):
        assert redeem_reward(shop_client, member, reward).status_code == 201
