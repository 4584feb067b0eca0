"""Earn rules and rewards limited to segments: only the segment's members get them, the
preview agrees with the earn, and the program page and catalog say so in plain words."""

from datetime import date
from decimal import Decimal

import pytest

from members.models import Segment, SegmentMembership
from rewards.models import EarnRule, Reward
from tests.conftest import earn, member_client_for
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db


def redeem_reward(shop_client, customer, reward, key):
    return shop_client.post(
        "/api/v1/redemptions",
        {"member": customer.external_id, "reward_id": reward.pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.fixture
def vip(db):
    return Segment.objects.create(name="VIP", conditions=[])


def member_in(segment: Segment, *, left: bool = False):
    member = MemberFactory()
    SegmentMembership.objects.create(
        segment=segment,
        member=member,
        entered_on=date(2026, 1, 1),
        left_on=date(2026, 2, 1) if left else None,
    )
    return member


def test_a_rule_limited_to_a_segment_earns_for_its_members_only(shop, shop_client, vip, program):
    rule = EarnRule.objects.create(
        name="Win-back x3", kind=EarnRule.Kind.CAMPAIGN_MULTIPLIER, multiplier=Decimal(3)
    )
    rule.segments.add(vip)
    inside = member_in(vip)
    former = member_in(vip, left=True)
    outside = MemberFactory()

    earned = {}
    for name, member in (("inside", inside), ("former", former), ("outside", outside)):
        body = {
            "member": member.external_id,
            "order_id": f"o-{name}",
            "amount": "10.00",
            "currency": "EUR",
        }
        preview = shop_client.post("/api/v1/purchases/preview", body, format="json").json()
        response = shop_client.post("/api/v1/purchases", body, format="json")
        assert response.status_code == 201, response.json()
        earned[name] = response.json()["points_earned"]
        assert preview["points_earned"] == earned[name]  # the preview agrees with the earn
        assert [i["name"] for i in preview["items"]] == [
            i["name"] for i in response.json()["items"]
        ]
        assert_reconciles(member)

    assert earned == {"inside": 30, "former": 10, "outside": 10}


def test_the_program_page_says_a_rule_is_for_selected_members(client, vip, program):
    rule = EarnRule.objects.create(
        name="Bonus",
        kind=EarnRule.Kind.MIN_SPEND_BONUS,
        bonus_points=50,
        min_amount=Decimal(20),
    )
    rule.segments.add(vip)
    Reward.objects.create(name="Thank-you cake", points_cost=10).segments.add(vip)

    body = client.get("/api/v1/program").json()

    assert any("for selected members" in line for line in body["earning"]["text"])
    assert "VIP" not in str(body)  # staff's segment names stay with staff
    assert "Some rewards are offered to selected members only." in body["redeeming"]["text"]
    cake = body["redeeming"]["rewards"][0]
    assert cake["for_selected_members"] is True


def test_a_reward_limited_to_a_segment_is_for_its_members_only(shop, shop_client, vip, program):
    reward = Reward.objects.create(name="Thank-you cake", points_cost=10)
    reward.segments.add(vip)
    inside, outside = member_in(vip), MemberFactory()
    earn(shop, inside, "50.00")
    earn(shop, outside, "50.00")

    seen_inside = member_client_for(inside).get("/api/v1/me/rewards").json()["rewards"][0]
    seen_outside = member_client_for(outside).get("/api/v1/me/rewards").json()["rewards"][0]

    assert seen_inside["available"] is True and seen_inside["for_selected_members"] is True
    assert seen_outside["available"] is False
    assert seen_outside["unavailable_reason"] == {
        "code": "reward_segment_required",
        "message": "This reward is offered to selected members only.",
    }

    refused = redeem_reward(shop_client, outside, reward, key="r-out")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "reward_segment_required"
    assert redeem_reward(shop_client, inside, reward, key="r-in").status_code == 201
    assert_reconciles(inside)
    assert_reconciles(outside)


def test_a_milestone_limited_to_a_segment_is_reached_by_its_members_only(
    shop, member_client, vip, program
):
    from rewards.models import Milestone, MilestoneAward

    first = Milestone.objects.create(
        name="First purchase",
        kind=Milestone.Kind.PURCHASE_COUNT,
        target=Decimal(1),
        bonus_points=25,
    )
    first.segments.add(vip)
    inside, outside = member_in(vip), MemberFactory()

    earn(shop, inside, "10.00")
    earn(shop, outside, "10.00")

    assert list(MilestoneAward.objects.values_list("member_id", flat=True)) == [inside.pk]
    inside.refresh_from_db()
    outside.refresh_from_db()
    assert (inside.points_available, outside.points_available) == (35, 10)
    for reader, sees in ((inside, True), (outside, False)):
        page = member_client_for(reader).get("/api/v1/me/milestones").json()
        assert ("First purchase" in [m["name"] for m in page["results"]]) is sees
    assert_reconciles(inside)
