"""Each earn rule at its edges, and how rules combine (rewards.services.earning)."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from members.services import shop_api_key_create
from rewards.ledger_words import entry_description
from rewards.models import EarnAward, EarnRule, JobRun, LedgerEntry, MemberTier, Tier
from rewards.services.bonuses import birthday_bonus_award, birthday_in
from rewards.services.enrollment import member_enroll
from tests.conftest import earn
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db

Kind = EarnRule.Kind
NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def rule(kind, **fields) -> EarnRule:
    shops = fields.pop("shops", [])
    tiers = fields.pop("tiers", [])
    created = EarnRule.objects.create(name=fields.pop("name", f"{kind} rule"), kind=kind, **fields)
    created.shops.set(shops)
    created.tiers.set(tiers)
    return created


def buy(shop, member, amount, *, at=NOON, lines=(), as_of=None):
    return earn(shop, member, amount, occurred_at=at, as_of=as_of or max(at, NOON), lines=lines)


def items_by_name(response) -> dict[str, int]:
    return {item["name"]: item["points"] for item in response["items"]}


def test_items_add_up_to_the_points_earned(shop, member):
    rule(Kind.CATEGORY_MULTIPLIER, name="Coffee x2", multiplier=Decimal(2), targets="coffee")
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Weekend", multiplier=Decimal("1.5"))
    rule(Kind.MIN_SPEND_BONUS, name="Big basket", bonus_points=20, min_amount=Decimal(30))
    response = buy(shop, member, "33.33", lines=[("", "coffee", "3", "3.33"), ("", "tea", 1, 20)])
    assert sum(item["points"] for item in response["items"]) == response["points_earned"]
    # 33.33 base + 9.99 coffee extra + 16.665 weekend extra + 20 bonus = 79.985 → 79; the
    # odd point goes to the largest remainder (coffee's .99).
    assert response["points_earned"] == 79
    assert items_by_name(response) == {
        "Base points": 33,
        "Coffee x2": 10,
        "Weekend": 16,
        "Big basket": 20,
    }


def test_rounding_happens_once_on_the_total(shop, member):
    # Three items of 0.6 points each: rounding each would give 0, rounding the total gives 1.
    rule(Kind.CATEGORY_MULTIPLIER, name="A", multiplier=Decimal("1.6"), targets="a")
    rule(Kind.CAMPAIGN_MULTIPLIER, name="B", multiplier=Decimal("1.6"))
    response = buy(shop, member, "1", lines=[("", "a", 1, "1")])
    # 1 base + 0.6 + 0.6 = 2.2 → 2 points; each extra alone would round to 0.
    assert response["points_earned"] == 2
    assert items_by_name(response) == {"Base points": 1, "A": 1, "B": 0}


def test_multipliers_add_their_extras_and_do_not_compound(shop, member, program):
    gold = Tier.objects.create(name="Gold", rank=1, threshold=0, earn_multiplier=Decimal("1.5"))
    MemberTier.objects.create(member=member, tier=gold)
    rule(Kind.CATEGORY_MULTIPLIER, name="Coffee x2", multiplier=Decimal(2), targets="coffee")
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Double days", multiplier=Decimal(2))
    response = buy(shop, member, "10", lines=[("", "coffee", 1, "10")])
    # 10 base + 10 coffee + 10 campaign + 5 tier: 3.5 × base, where compounding gives 6 ×.
    assert items_by_name(response) == {
        "Base points": 10,
        "Coffee x2": 10,
        "Double days": 10,
        "Gold tier": 5,
    }
    assert response["points_earned"] == 35


def test_tier_multiplier_applies_to_base_points_not_bonuses(shop, member):
    gold = Tier.objects.create(name="Gold", rank=1, threshold=0, earn_multiplier=Decimal(2))
    MemberTier.objects.create(member=member, tier=gold)
    rule(Kind.MIN_SPEND_BONUS, name="Big", bonus_points=100, min_amount=Decimal(10))
    response = buy(shop, member, "10")
    assert items_by_name(response) == {"Base points": 10, "Gold tier": 10, "Big": 100}


def test_category_multiplier_matches_lines_case_insensitively_and_only_those(shop, member):
    rule(Kind.CATEGORY_MULTIPLIER, name="Coffee x3", multiplier=Decimal(3), targets="Coffee, tea")
    response = buy(
        shop,
        member,
        "30",
        lines=[("", "COFFEE", 2, "5"), ("", "tea", 1, "5"), ("", "cake", 1, "15")],
    )
    assert items_by_name(response)["Coffee x3"] == 30  # (10 + 5) × 2 extra
    assert response["points_earned"] == 60


def test_sku_multiplier_matches_the_sku_not_the_category(shop, member):
    rule(Kind.SKU_MULTIPLIER, name="Beans", multiplier=Decimal(2), targets="SKU-1")
    response = buy(shop, member, "20", lines=[("SKU-1", "x", 1, "8"), ("SKU-2", "SKU-1", 1, "12")])
    assert items_by_name(response)["Beans"] == 8


def test_lines_above_the_amount_are_scaled_down_to_it(shop, member):
    rule(Kind.CATEGORY_MULTIPLIER, name="Coffee x2", multiplier=Decimal(2), targets="coffee")
    # Lines add up to 40 but a discount brought the order to 20: coffee counts for half.
    response = buy(shop, member, "20", lines=[("", "coffee", 1, "20"), ("", "tea", 1, "20")])
    assert items_by_name(response)["Coffee x2"] == 10


def test_one_line_gets_one_multiplier_the_highest_priority_then_the_largest(shop, member):
    rule(Kind.CATEGORY_MULTIPLIER, name="Small", multiplier=Decimal(2), targets="coffee")
    rule(Kind.CATEGORY_MULTIPLIER, name="Large", multiplier=Decimal(4), targets="coffee")
    response = buy(shop, member, "10", lines=[("", "coffee", 1, "10")])
    assert items_by_name(response) == {"Base points": 10, "Large": 30}

    rule(
        Kind.CATEGORY_MULTIPLIER, name="Chosen", multiplier=Decimal(3), targets="coffee", priority=5
    )
    response = buy(shop, member, "10", lines=[("", "coffee", 1, "10")])
    assert items_by_name(response) == {"Base points": 10, "Chosen": 20}


def test_only_one_campaign_applies(shop, member):
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Double", multiplier=Decimal(2))
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Triple", multiplier=Decimal(3))
    assert items_by_name(buy(shop, member, "10")) == {"Base points": 10, "Triple": 20}


@pytest.mark.parametrize(
    ("at", "applies"),
    [
        (datetime(2026, 6, 13, 0, 0, tzinfo=UTC) - timedelta(microseconds=1), False),
        (datetime(2026, 6, 13, 0, 0, tzinfo=UTC), True),
        (datetime(2026, 6, 14, 23, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 6, 15, 0, 0, tzinfo=UTC), False),
    ],
    ids=["just-before-start", "at-start", "last-second", "at-end"],
)
def test_campaign_window_includes_its_start_and_excludes_its_end(shop, member, at, applies):
    rule(
        Kind.CAMPAIGN_MULTIPLIER,
        name="Weekend",
        multiplier=Decimal(2),
        starts_at=datetime(2026, 6, 13, tzinfo=UTC),
        ends_at=datetime(2026, 6, 15, tzinfo=UTC),
    )
    response = buy(shop, member, "10", at=at, as_of=datetime(2026, 6, 20, tzinfo=UTC))
    assert ("Weekend" in items_by_name(response)) is applies
    assert response["points_earned"] == (20 if applies else 10)


def test_inactive_rules_give_nothing(shop, member):
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Off", multiplier=Decimal(2), is_active=False)
    assert buy(shop, member, "10")["points_earned"] == 10


def test_min_spend_bonus_applies_at_exactly_the_minimum(shop, member):
    rule(Kind.MIN_SPEND_BONUS, name="Fifty", bonus_points=25, min_amount=Decimal(50))
    assert buy(shop, member, "49.99")["points_earned"] == 49
    assert items_by_name(buy(shop, member, "50"))["Fifty"] == 25


def test_min_spend_bonuses_do_not_stack_the_largest_applies(shop, member):
    rule(Kind.MIN_SPEND_BONUS, name="Fifty", bonus_points=25, min_amount=Decimal(50))
    rule(Kind.MIN_SPEND_BONUS, name="Hundred", bonus_points=80, min_amount=Decimal(100))
    assert items_by_name(buy(shop, member, "60")) == {"Base points": 60, "Fifty": 25}
    assert items_by_name(buy(shop, member, "100")) == {"Base points": 100, "Hundred": 80}


def test_first_purchase_bonus_only_on_the_first(shop, member):
    rule(Kind.FIRST_PURCHASE_BONUS, name="Welcome", bonus_points=50)
    assert items_by_name(buy(shop, member, "10"))["Welcome"] == 50
    assert "Welcome" not in items_by_name(buy(shop, member, "10"))


def test_rules_restricted_to_shops_apply_only_there(shop, member):
    other, _ = shop_api_key_create(shop_name="Other shop")
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Here only", multiplier=Decimal(2), shops=[shop])
    assert buy(shop, member, "10")["points_earned"] == 20
    assert buy(other, member, "10")["points_earned"] == 10


def test_rules_restricted_to_tiers_use_the_tier_before_the_purchase(shop, member):
    silver = Tier.objects.create(name="Silver", rank=1, threshold=0)
    gold = Tier.objects.create(name="Gold", rank=2, threshold=100)
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Gold days", multiplier=Decimal(2), tiers=[gold])
    MemberTier.objects.create(member=member, tier=silver)
    first = buy(shop, member, "150")
    # The purchase that reaches Gold earns at Silver; the next one earns at Gold.
    assert first["points_earned"] == 150
    assert first["tier"] == "Gold"
    assert buy(shop, member, "10")["points_earned"] == 20


def test_daily_cap_limits_a_rule_per_member_per_local_day(shop, member, program):
    program.timezone = "Europe/Paris"
    program.save()
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Double", multiplier=Decimal(2), cap_per_day=15)
    day = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    assert items_by_name(buy(shop, member, "10", at=day))["Double"] == 10
    capped = buy(shop, member, "10", at=day + timedelta(hours=1))
    assert items_by_name(capped)["Double"] == 5
    assert (
        "daily cap of 15"
        in next(i for i in capped["items"] if i["name"] == "Double")["description"]
    )
    assert items_by_name(buy(shop, member, "10", at=day + timedelta(hours=2)))["Double"] == 0
    # 22:30 UTC is already the next day in Paris: the cap starts again.
    next_day = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)
    assert items_by_name(buy(shop, member, "10", at=next_day, as_of=next_day))["Double"] == 10
    assert_reconciles(member)


def test_monthly_and_total_caps(shop, member):
    rule(Kind.CAMPAIGN_MULTIPLIER, name="Month", multiplier=Decimal(2), cap_per_month=25)
    rule(Kind.MIN_SPEND_BONUS, name="Total", bonus_points=10, min_amount=0, cap_total=25)
    june, july = NOON, datetime(2026, 7, 1, 12, tzinfo=UTC)
    given = [items_by_name(buy(shop, member, "10", at=june)) for _ in range(3)]
    assert [g["Month"] for g in given] == [10, 10, 5]
    assert [g["Total"] for g in given] == [10, 10, 5]
    later = items_by_name(buy(shop, member, "10", at=july, as_of=july))
    assert later["Month"] == 10
    assert later["Total"] == 0


def test_awards_record_every_item_for_usage_and_caps(shop, member):
    campaign = rule(Kind.CAMPAIGN_MULTIPLIER, name="Double", multiplier=Decimal(2))
    buy(shop, member, "10")
    awards = EarnAward.objects.filter(member=member).order_by("id")
    assert [(a.source, a.rule_id, a.points) for a in awards] == [
        ("base", None, 10),
        ("rule", campaign.pk, 10),
    ]
    assert awards[0].entry.kind == LedgerEntry.Kind.EARN


def test_sign_up_bonus_is_awarded_at_enrollment(shop_client, shop):
    rule(Kind.SIGNUP_BONUS, name="Welcome", bonus_points=100)
    response = shop_client.post("/api/v1/members", {"external_id": "new-1"}, format="json")
    assert response.status_code == 201
    assert response.json()["balance"]["available"] == 100
    entry = LedgerEntry.objects.get(member__external_id="new-1")
    assert entry.kind == LedgerEntry.Kind.BONUS
    assert "Sign-up bonus" in entry_description(entry)
    assert_reconciles(entry.member)


def test_sign_up_bonus_of_another_shop_is_not_awarded(shop):
    other, _ = shop_api_key_create(shop_name="Other shop")
    rule(Kind.SIGNUP_BONUS, name="Other only", bonus_points=100, shops=[other])
    member = member_enroll(external_id="new-2", shop=shop)
    assert member.points_available == 0


@pytest.mark.parametrize(
    ("year", "expected"), [(2028, date(2028, 2, 29)), (2027, date(2027, 2, 28))]
)
def test_a_feb_29_birthday_falls_on_feb_28_in_other_years(year, expected):
    assert birthday_in(year, date(2000, 2, 29)) == expected


def test_birthday_bonus_once_a_year_in_the_program_time_zone(program):
    program.timezone = "Pacific/Auckland"
    program.save()
    rule(Kind.BIRTHDAY_BONUS, name="Birthday", bonus_points=30)
    member = MemberFactory(birth_date=date(1990, 2, 28))
    # 27 Feb 11:30 UTC is already 28 Feb in Auckland.
    on_the_day = datetime(2027, 2, 27, 11, 30, tzinfo=UTC)
    assert birthday_bonus_award(member_id=member.pk, as_of=on_the_day - timedelta(hours=1)) is None
    assert birthday_bonus_award(member_id=member.pk, as_of=on_the_day).points == 30
    assert birthday_bonus_award(member_id=member.pk, as_of=on_the_day + timedelta(days=1)) is None
    member.refresh_from_db()
    assert member.points_available == 30
    assert_reconciles(member)


def test_feb_29_birthday_bonus_in_a_leap_and_a_common_year(program):
    rule(Kind.BIRTHDAY_BONUS, name="Birthday", bonus_points=30)
    member = MemberFactory(birth_date=date(2000, 2, 29))
    common = datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert birthday_bonus_award(member_id=member.pk, as_of=common).points == 30
    leap_eve = datetime(2028, 2, 28, 12, tzinfo=UTC)
    assert birthday_bonus_award(member_id=member.pk, as_of=leap_eve) is None
    leap = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert birthday_bonus_award(member_id=member.pk, as_of=leap).points == 30


def test_a_missed_birthday_is_caught_up_within_a_week_only(program):
    rule(Kind.BIRTHDAY_BONUS, name="Birthday", bonus_points=30)
    late = MemberFactory(birth_date=date(1990, 5, 1))
    too_late = MemberFactory(birth_date=date(1990, 5, 1))
    assert birthday_bonus_award(member_id=late.pk, as_of=datetime(2027, 5, 7, 23, tzinfo=UTC))
    assert not birthday_bonus_award(
        member_id=too_late.pk, as_of=datetime(2027, 5, 8, 0, 1, tzinfo=UTC)
    )


def test_purchase_response_names_each_rule_in_plain_words(shop, member):
    rule(Kind.CATEGORY_MULTIPLIER, name="Coffee x2", multiplier=Decimal(2), targets="coffee")
    response = buy(shop, member, "10", lines=[("", "coffee", 2, "2.50")])
    descriptions = {item["name"]: item["description"] for item in response["items"]}
    assert descriptions == {
        "Base points": "1 point per EUR on €10.00",
        "Coffee x2": "×2 on 1 matching line (€5.00)",
    }


def test_the_nightly_birthdays_job_gives_each_bonus_once(program):
    rule(Kind.BIRTHDAY_BONUS, name="Birthday", bonus_points=30)
    today = MemberFactory(birth_date=date(1990, 3, 1))
    missed = MemberFactory(birth_date=date(1985, 2, 25))
    leap = MemberFactory(birth_date=date(2000, 2, 29))
    not_yet = MemberFactory(birth_date=date(1990, 3, 2))
    out = io.StringIO()
    for _ in range(2):
        call_command("run_nightly", "--job", "birthdays", "--as-of", "2027-03-01T02:45", stdout=out)
    points = {m.pk: m.points_available for m in (today, missed, leap, not_yet)}
    for m in (today, missed, leap, not_yet):
        m.refresh_from_db()
    assert [m.points_available for m in (today, missed, leap, not_yet)] == [30, 30, 30, 0]
    assert set(points.values()) == {0}
    runs = JobRun.objects.filter(job="birthdays").order_by("id")
    assert [run.items_processed for run in runs] == [3, 0]
