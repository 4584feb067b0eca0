from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from rewards.models import EarnAward, LedgerEntry, Milestone, MilestoneAward, Purchase, Reward
from rewards.services.purchases import refund_record
from tests.conftest import earn, member_client_for
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db

Kind = Milestone.Kind
Period = Milestone.Period
T0 = datetime(2026, 3, 10, 12, tzinfo=UTC)


def buy(shop, member, amount, *, at=T0):
    return earn(shop, member, amount, occurred_at=at, as_of=at)


def milestone(kind, target, **fields):
    return Milestone.objects.create(
        name=fields.pop("name", f"{kind} {target}"), kind=kind, target=Decimal(target), **fields
    )


def test_tenth_purchase_is_awarded_once_on_the_tenth(shop, member):
    tenth = milestone(Kind.PURCHASE_COUNT, 10, name="10th purchase", bonus_points=100)
    responses = [buy(shop, member, "1") for _ in range(12)]
    assert [r["milestones_reached"] for r in responses].count(["10th purchase"]) == 1
    assert responses[9]["milestones_reached"] == ["10th purchase"]
    assert responses[9]["balance"] == 10 + 100
    award = MilestoneAward.objects.get(member=member)
    assert (award.milestone, award.period_key) == (tenth, "ever")
    assert award.entry.kind == LedgerEntry.Kind.BONUS
    assert EarnAward.objects.get(member=member, source="milestone").points == 100
    assert_reconciles(member)


def test_fully_refunded_purchases_do_not_count(shop, member):
    milestone(Kind.PURCHASE_COUNT, 2, bonus_points=5)
    buy(shop, member, "10")
    order = Purchase.objects.get(member=member).order_id
    refund_record(shop=shop, order_id=order, refund_id="r", amount=Decimal(10), request_hash="r")
    assert buy(shop, member, "10")["milestones_reached"] == []
    assert buy(shop, member, "10")["milestones_reached"] == ["purchases 2"]


def test_lifetime_points_milestone_counts_bonuses_and_chains(shop, member):
    milestone(Kind.LIFETIME_POINTS, 100, name="100 points", bonus_points=50)
    milestone(Kind.LIFETIME_POINTS, 150, name="150 points", bonus_points=1)
    # 100 earned → 100 points reached → its 50 bonus reaches 150 in the same purchase.
    response = buy(shop, member, "100")
    assert response["milestones_reached"] == ["100 points", "150 points"]
    member.refresh_from_db()
    assert member.lifetime_earned == 151


def test_yearly_spend_milestone_once_per_calendar_year(shop, member, program):
    program.timezone = "America/New_York"
    program.save()
    milestone(Kind.SPEND, 100, name="Big spender", period=Period.YEAR, bonus_points=10)
    # 31 Dec 23:30 in New York is 1 Jan 04:30 UTC: it counts for the old year.
    new_years_eve = datetime(2027, 1, 1, 4, 30, tzinfo=UTC)
    assert buy(shop, member, "60", at=new_years_eve - timedelta(days=1))["milestones_reached"] == []
    assert buy(shop, member, "40", at=new_years_eve)["milestones_reached"] == ["Big spender"]
    assert buy(shop, member, "100", at=new_years_eve + timedelta(days=1))["milestones_reached"] == [
        "Big spender"
    ]
    assert (
        buy(shop, member, "100", at=new_years_eve + timedelta(days=2))["milestones_reached"] == []
    )
    keys = sorted(MilestoneAward.objects.values_list("period_key", flat=True))
    assert keys == ["2026", "2027"]


def test_milestone_outside_its_window_is_not_awarded(shop, member):
    milestone(Kind.PURCHASE_COUNT, 1, bonus_points=5, starts_at=T0 + timedelta(days=1))
    assert buy(shop, member, "1")["milestones_reached"] == []


def test_me_milestones_shows_progress(shop, program):
    member = MemberFactory()
    milestone(Kind.PURCHASE_COUNT, 10, name="10th", bonus_points=100, description="Ten visits")
    milestone(Kind.SPEND, 500, name="Monthly 500", period=Period.MONTH, bonus_points=5)
    now = datetime.now(UTC)
    for _ in range(3):
        buy(shop, member, "40", at=now)
    body = member_client_for(member).get("/api/v1/me/milestones").json()["results"]
    by_name = {m["name"]: m for m in body}
    assert by_name["10th"]["progress"] == "3.00"
    assert by_name["10th"]["remaining"] == "7.00"
    assert by_name["10th"]["reached"] is False
    assert by_name["10th"]["description"] == "Ten visits"
    assert by_name["Monthly 500"]["progress"] == "120.00"
    assert by_name["Monthly 500"]["period_key"] == now.strftime("%Y-%m")


def test_a_milestone_reward_issues_a_free_voucher_from_stock(shop, member):
    mug = Reward.objects.create(name="Mug", points_cost=500, stock=1)
    milestone(Kind.PURCHASE_COUNT, 2, name="Second visit", reward=mug)
    buy(shop, member, "10")
    response = buy(shop, member, "10")
    assert response["milestones_reached"] == ["Second visit"]
    assert response["balance"] == 20  # the voucher cost no points
    award = MilestoneAward.objects.get(member=member)
    assert award.voucher.reward == mug
    assert award.voucher.redemption is None
    mug.refresh_from_db()
    assert mug.stock == 0
    vouchers = member_client_for(member).get("/api/v1/me/vouchers").json()["results"]
    assert [v["code"] for v in vouchers] == [award.voucher.code]


def test_a_milestone_reached_with_its_reward_out_of_stock_still_counts(shop, member):
    mug = Reward.objects.create(name="Mug", points_cost=500, stock=0)
    milestone(Kind.PURCHASE_COUNT, 1, name="First visit", reward=mug, bonus_points=5)
    assert buy(shop, member, "10")["milestones_reached"] == ["First visit"]
    award = MilestoneAward.objects.get(member=member)
    assert award.voucher is None
    assert award.entry.points == 5
