"""Tiers: up at once on a purchase, down only at night after the grace period, one tier at a
time, never below a pinned floor, and refunds no longer count."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from rewards.models import JobRun, MemberTier, Purchase, Tier, TierBasis, TierChange
from rewards.services.purchases import refund_record
from rewards.services.tiers import (
    member_tier_evaluate,
    member_tier_get,
    member_tier_pin,
    months_shift,
    qualifying_value_get,
)
from tests.conftest import earn, member_client_for
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 15, 12, tzinfo=UTC)


@pytest.fixture
def tiers(program):
    program.tier_grace_days = 10
    program.save()
    return {
        "Bronze": Tier.objects.create(name="Bronze", rank=1, threshold=0),
        "Silver": Tier.objects.create(
            name="Silver",
            rank=2,
            threshold=100,
            earn_multiplier=Decimal("1.25"),
            benefits="Free coffee\nBirthday gift",
        ),
        "Gold": Tier.objects.create(name="Gold", rank=3, threshold=500, earn_multiplier=2),
    }


def buy(shop, member, amount, *, at=T0):
    return earn(shop, member, amount, occurred_at=at, as_of=at)


def tier_of(member) -> str | None:
    tier = member_tier_get(member=member)
    return tier.name if tier else None


def evaluate(member, at):
    return member_tier_evaluate(member_id=member.pk, as_of=at)


def test_a_new_member_starts_in_the_entry_tier(tiers, member):
    assert tier_of(member) == "Bronze"


def test_a_purchase_crossing_a_threshold_moves_the_member_up_at_once(tiers, shop, member):
    assert buy(shop, member, "99")["tier"] == "Bronze"
    response = buy(shop, member, "1")
    assert response["tier"] == "Silver"
    assert response["tier_changed"] is True
    change = TierChange.objects.get(member=member)
    assert (change.from_tier.name, change.to_tier.name, change.reason) == (
        "Bronze",
        "Silver",
        "qualified",
    )
    assert change.changed_at == T0
    assert "100 points earned" in change.detail


def test_a_big_purchase_skips_straight_to_the_highest_qualified_tier(tiers, shop, member):
    assert buy(shop, member, "600")["tier"] == "Gold"


def test_tiers_qualify_on_points_earned_not_the_balance(tiers, shop, member):
    from rewards.services.redemptions import redemption_create

    buy(shop, member, "100")
    redemption_create(
        shop=shop,
        member_external_id=member.external_id,
        points=100,
        idempotency_key="spend-all",
        request_hash="h",
        as_of=T0,
    )
    member.refresh_from_db()
    assert member.points_available == 0
    assert evaluate(member, T0 + timedelta(days=30)).tier.name == "Silver"


def test_spend_basis_counts_money_net_of_refunds(tiers, shop, member, program):
    program.tier_basis = TierBasis.SPEND
    program.points_per_unit = Decimal("0.1")
    program.save()
    buy(shop, member, "150")
    assert tier_of(member) == "Silver"
    assert qualifying_value_get(member=member, program=program, as_of=T0) == Decimal(150)


def test_refunded_spend_no_longer_counts(tiers, shop, member, program):
    buy(shop, member, "120")
    order = Purchase.objects.get(member=member).order_id
    refund_record(
        shop=shop, order_id=order, refund_id="r1", amount=Decimal(30), request_hash="r1", as_of=T0
    )
    assert qualifying_value_get(member=member, program=program, as_of=T0) == Decimal(90)
    # Still Silver until the nightly evaluation and its grace period.
    assert tier_of(member) == "Silver"
    evaluate(member, T0 + timedelta(days=1))
    assert tier_of(member) == "Silver"
    evaluate(member, T0 + timedelta(days=11))
    assert tier_of(member) == "Bronze"


def test_down_only_at_night_after_grace_one_tier_per_evaluation(tiers, shop, member, program):
    buy(shop, member, "600")
    assert tier_of(member) == "Gold"
    # A year later the purchase has left the 12-month window.
    night = months_shift(T0, 12, program.tz) + timedelta(hours=14)
    evaluate(member, night)
    state = MemberTier.objects.get(member=member)
    assert state.tier.name == "Gold"
    assert state.below_since == night
    evaluate(member, night + timedelta(days=9))
    assert tier_of(member) == "Gold"
    evaluate(member, night + timedelta(days=10))
    assert tier_of(member) == "Silver"
    evaluate(member, night + timedelta(days=11))
    assert tier_of(member) == "Bronze"
    reasons = list(
        TierChange.objects.filter(member=member)
        .order_by("id")
        .values_list("reason", "to_tier__name")
    )
    assert reasons == [("qualified", "Gold"), ("downgrade", "Silver"), ("downgrade", "Bronze")]


def test_a_purchase_during_grace_ends_it(tiers, shop, member, program):
    buy(shop, member, "600")
    night = months_shift(T0, 12, program.tz) + timedelta(hours=14)
    evaluate(member, night)
    buy(shop, member, "500", at=night + timedelta(days=1))
    assert MemberTier.objects.get(member=member).below_since is None
    evaluate(member, night + timedelta(days=30))
    assert tier_of(member) == "Gold"


def test_the_same_night_evaluated_twice_changes_nothing(tiers, shop, member, program):
    program.tier_grace_days = 0
    program.save()
    buy(shop, member, "600")
    night = months_shift(T0, 12, program.tz) + timedelta(hours=14)
    evaluate(member, night)
    assert tier_of(member) == "Silver"
    evaluate(member, night)
    assert tier_of(member) == "Silver"
    assert TierChange.objects.filter(member=member, reason="downgrade").count() == 1


def test_a_pinned_floor_lifts_at_once_and_stops_downgrades(
    tiers, shop, member, program, admin_user
):
    outcome = member_tier_pin(member=member, floor=tiers["Gold"], staff_user=admin_user, as_of=T0)
    assert outcome.tier.name == "Gold"
    change = TierChange.objects.get(member=member)
    assert (change.reason, change.actor_user) == ("pinned", admin_user)
    evaluate(member, T0 + timedelta(days=400))
    assert tier_of(member) == "Gold"

    member_tier_pin(
        member=member, floor=None, staff_user=admin_user, as_of=T0 + timedelta(days=401)
    )
    assert tier_of(member) == "Gold"  # the grace period starts now
    evaluate(member, T0 + timedelta(days=402))
    evaluate(member, T0 + timedelta(days=412))
    assert tier_of(member) == "Silver"


def test_a_floor_below_the_current_tier_does_not_move_anyone(tiers, shop, member):
    buy(shop, member, "600")
    member_tier_pin(member=member, floor=tiers["Silver"], as_of=T0)
    assert tier_of(member) == "Gold"


def test_downgrades_stop_at_the_pinned_floor(tiers, shop, member, program):
    buy(shop, member, "600")
    member_tier_pin(member=member, floor=tiers["Silver"], as_of=T0)
    night = months_shift(T0, 12, program.tz) + timedelta(hours=14)
    for day in range(0, 40):
        evaluate(member, night + timedelta(days=day))
    assert tier_of(member) == "Silver"


def test_me_tier_shows_progress_and_what_keeping_the_tier_needs(tiers, shop, program):
    member = MemberFactory()
    now = datetime.now(UTC)
    buy(shop, member, "60", at=now - timedelta(days=200))
    buy(shop, member, "60", at=now - timedelta(days=10))
    body = member_client_for(member).get("/api/v1/me/tier").json()
    assert body["tier"]["name"] == "Silver"
    assert body["tier"]["benefits"] == ["Free coffee", "Birthday gift"]
    assert body["qualifying_value"] == "120.00"
    assert body["next_tier"]["name"] == "Gold"
    assert body["next_needed"] == "380.00"
    keep = body["keep"]
    assert keep["shortfall"] == "0.00"
    # Without another purchase, the first one leaves the window 12 months after it.
    expected = months_shift(now - timedelta(days=200), 12, program.tz)
    assert datetime.fromisoformat(keep["drops_below_on"]) == expected
    assert keep["grace_ends_at"] is None
    assert [c["to_tier"] for c in body["history"]] == ["Silver"]


def test_me_tier_shows_the_grace_period_when_below(tiers, shop, program):
    member = MemberFactory()
    now = datetime.now(UTC)
    buy(shop, member, "150", at=now - timedelta(days=370))
    evaluate(member, now - timedelta(days=2))
    keep = member_client_for(member).get("/api/v1/me/tier").json()["keep"]
    assert keep["shortfall"] == "100.00"
    assert datetime.fromisoformat(keep["grace_ends_at"]) == now - timedelta(days=2) + timedelta(
        days=10
    )
    assert keep["moves_down_to"] == "Bronze"


def test_me_tier_without_tiers_configured(member_client):
    body = member_client.get("/api/v1/me/tier").json()
    assert body["tier"] is None
    assert body["next_tier"] is None
    assert body["keep"] is None


def test_the_member_profile_shows_the_tier(tiers, shop, shop_client, member):
    buy(shop, member, "150")
    assert shop_client.get(f"/api/v1/members/{member.external_id}").json()["tier"] == "Silver"


def run_nightly(*args: str) -> str:
    out = io.StringIO()
    call_command("run_nightly", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_nightly_tiers_job_moves_members_down_once_per_night(tiers, shop, program):
    program.tier_grace_days = 0
    program.save()
    gold, silver, bronze = MemberFactory(), MemberFactory(), MemberFactory()
    buy(shop, gold, "600")
    buy(shop, silver, "150")
    night = months_shift(T0, 12, program.tz).replace(hour=2, minute=30) + timedelta(days=1)
    as_of = night.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")

    run_nightly("--job", "tiers", "--as-of", as_of)
    assert [tier_of(m) for m in (gold, silver, bronze)] == ["Silver", "Bronze", "Bronze"]
    run = JobRun.objects.get(job="tiers")
    assert (run.status, run.items_processed, run.totals["tier_downgrade"]) == ("succeeded", 2, 2)

    # The same night again changes nothing; the next night moves Gold one more step.
    run_nightly("--job", "tiers", "--as-of", as_of)
    assert TierChange.objects.filter(reason="downgrade").count() == 2
    next_night = (night + timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    run_nightly("--job", "tiers", "--as-of", next_night)
    assert tier_of(gold) == "Bronze"


def test_the_nightly_tiers_job_does_nothing_without_tiers(shop, member):
    run_nightly("--job", "tiers", "--as-of", "2026-02-01T02:30")
    assert JobRun.objects.get(job="tiers").items_processed == 0
    assert not MemberTier.objects.exists()
