"""Staff configure tiers, earn rules, milestones and the program in the admin; contradictory
settings are refused with plain words on the field, and nothing is written."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rewards.forms import RewardForm
from rewards.models import (
    EarnAward,
    EarnRule,
    LedgerEntry,
    MemberTier,
    Milestone,
    MilestoneAward,
    Program,
    Reward,
    Tier,
    TierBasis,
    TierChange,
)
from tests.conftest import earn
from tests.factories import MemberFactory, ShopFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    # No password: hashing one for each of these many tests would cost seconds.
    client.force_login(User.objects.create(username="boss", is_staff=True, is_superuser=True))
    return client


def form_data(fields: dict) -> dict:
    """POST data for an admin form: None leaves a field out (an unticked checkbox, no
    choices in a multi-select); datetimes are split into the admin's date and time inputs."""
    data = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in ("starts_at", "ends_at"):
            date, _, time = value.partition(" ")
            data[f"{name}_0"], data[f"{name}_1"] = date, time
        else:
            data[name] = value
    return data


def errors_of(response) -> dict[str, list[str]]:
    assert response.status_code == 200, "the form should be shown again with its errors"
    return response.context["adminform"].form.errors


def assert_refused(response, field: str, words: str) -> None:
    errors = errors_of(response)
    assert field in errors, errors
    assert any(words in message for message in errors[field]), errors[field]


def assert_saved(response) -> None:
    assert response.status_code == 302, getattr(response, "context", None) and errors_of(response)


# Tiers


def tier_data(**overrides) -> dict:
    return form_data(
        {"rank": "1", "name": "Bronze", "threshold": "0", "earn_multiplier": "1", "benefits": ""}
        | overrides
    )


@pytest.fixture
def tiers(program):
    return [
        Tier.objects.create(rank=1, name="Bronze", threshold=0),
        Tier.objects.create(rank=2, name="Silver", threshold=500, earn_multiplier="1.25"),
        Tier.objects.create(rank=4, name="Gold", threshold=2000, earn_multiplier="1.5"),
    ]


def test_a_tier_between_two_others_is_saved(staff_client, tiers):
    response = staff_client.post(
        "/admin/rewards/tier/add/",
        tier_data(rank="3", name="Gold light", threshold="1000", earn_multiplier="1.4"),
    )
    assert_saved(response)
    assert Tier.objects.get(rank=3).threshold == 1000


@pytest.mark.parametrize(
    ("rank", "threshold", "words"),
    [
        ("3", "500", "must be above 500, the threshold of Silver, which has a lower rank (2)"),
        ("3", "400", "must be above 500, the threshold of Silver"),
        ("3", "2000", "must be below 2000, the threshold of Gold, which has a higher rank (4)"),
        ("5", "1999", "must be above 2000, the threshold of Gold"),
    ],
)
def test_a_tier_threshold_that_does_not_rise_with_rank_is_refused(
    staff_client, tiers, rank, threshold, words
):
    response = staff_client.post(
        "/admin/rewards/tier/add/", tier_data(rank=rank, name="Platinum", threshold=threshold)
    )
    assert_refused(response, "threshold", words)
    assert Tier.objects.count() == 3


def test_moving_a_tier_to_another_rank_checks_its_new_neighbours(staff_client, tiers):
    bronze = tiers[0]
    response = staff_client.post(
        f"/admin/rewards/tier/{bronze.pk}/change/", tier_data(rank="5", threshold="0")
    )
    assert_refused(response, "threshold", "must be above 2000, the threshold of Gold")
    assert Tier.objects.get(pk=bronze.pk).rank == 1


def test_a_tier_is_not_compared_with_itself_when_changed(staff_client, tiers):
    silver = tiers[1]
    response = staff_client.post(
        f"/admin/rewards/tier/{silver.pk}/change/",
        tier_data(rank="2", name="Silver", threshold="600", earn_multiplier="1.3"),
    )
    assert_saved(response)
    assert Tier.objects.get(pk=silver.pk).threshold == 600


def test_only_one_tier_can_have_threshold_zero(staff_client, tiers):
    response = staff_client.post(
        "/admin/rewards/tier/add/", tier_data(rank="0", name="Starter", threshold="0")
    )
    assert_refused(response, "threshold", "Only one tier can have threshold 0")
    assert_refused(response, "threshold", "Bronze already has it")
    assert Tier.objects.count() == 3


def test_a_points_threshold_must_be_whole_points(staff_client, program):
    response = staff_client.post("/admin/rewards/tier/add/", tier_data(threshold="99.50"))
    assert_refused(response, "threshold", "must be a whole number of points")
    assert not Tier.objects.exists()


def test_a_spend_threshold_may_have_cents_but_not_more_than_the_currency_has(staff_client, program):
    program.tier_basis = TierBasis.SPEND
    program.save()
    assert_saved(staff_client.post("/admin/rewards/tier/add/", tier_data(threshold="99.50")))

    program.currency = "JPY"
    program.save()
    response = staff_client.post(
        "/admin/rewards/tier/add/", tier_data(rank="2", name="Silver", threshold="500.50")
    )
    assert_refused(response, "threshold", "more decimal places than the program currency JPY")
    assert Tier.objects.count() == 1


def test_a_tier_multiplier_below_one_is_refused(staff_client, program):
    response = staff_client.post("/admin/rewards/tier/add/", tier_data(earn_multiplier="0.9"))
    assert_refused(response, "earn_multiplier", "The earn multiplier must be at least 1")
    assert not Tier.objects.exists()


def test_tiers_are_listed_by_rank(staff_client, tiers):
    response = staff_client.get("/admin/rewards/tier/")
    assert response.status_code == 200
    assert [t.name for t in response.context["cl"].result_list] == ["Bronze", "Silver", "Gold"]


# Earn rules

GOOD_RULES = {
    "category": {"multiplier": "2", "targets": "coffee, tea"},
    "sku": {"multiplier": "1.5", "targets": "SKU-1"},
    "campaign": {
        "multiplier": "2",
        "starts_at": "2026-06-06 00:00:00",
        "ends_at": "2026-06-08 00:00:00",
    },
    "min_spend": {"bonus_points": "50", "min_amount": "100"},
    "first_purchase": {"bonus_points": "100"},
    "signup": {"bonus_points": "200"},
    "birthday": {"bonus_points": "300"},
}


def rule_data(kind: str, **overrides) -> dict:
    return form_data(
        {"name": f"A {kind} rule", "description": "", "kind": kind, "is_active": "on"}
        | {"priority": "0", "targets": ""}
        | GOOD_RULES[kind]
        | overrides
    )


def post_rule(client, kind: str, **overrides):
    return client.post("/admin/rewards/earnrule/add/", rule_data(kind, **overrides))


@pytest.mark.parametrize("kind", GOOD_RULES)
def test_a_rule_of_each_kind_with_what_it_needs_is_saved(staff_client, program, kind):
    assert_saved(post_rule(staff_client, kind))
    assert EarnRule.objects.get().kind == kind


def test_a_rule_restricted_to_shops_and_tiers_with_caps_is_saved(staff_client, program, tiers):
    shop = ShopFactory()
    response = post_rule(
        staff_client,
        "category",
        shops=[str(shop.pk)],
        tiers=[str(tiers[2].pk)],
        cap_per_day="100",
        cap_per_month="500",
        cap_total="2000",
    )
    assert_saved(response)
    rule = EarnRule.objects.get()
    assert list(rule.shops.all()) == [shop]
    assert list(rule.tiers.all()) == [tiers[2]]
    assert (rule.cap_per_day, rule.cap_per_month, rule.cap_total) == (100, 500, 2000)


@pytest.mark.parametrize(
    ("kind", "overrides", "field", "words"),
    [
        ("category", {"multiplier": ""}, "multiplier", "A category multiplier needs a multiplier"),
        ("sku", {"multiplier": ""}, "multiplier", "An SKU multiplier needs a multiplier"),
        ("campaign", {"multiplier": ""}, "multiplier", "A campaign multiplier needs a multiplier"),
        ("category", {"multiplier": "0.5"}, "multiplier", "The multiplier must be at least 1"),
        ("category", {"targets": ""}, "targets", "needs targets: the categories it applies to"),
        ("sku", {"targets": " , "}, "targets", "needs targets: the SKUs it applies to"),
        ("min_spend", {"bonus_points": ""}, "bonus_points", "needs bonus points above 0"),
        ("first_purchase", {"bonus_points": "0"}, "bonus_points", "needs bonus points above 0"),
        ("signup", {"bonus_points": ""}, "bonus_points", "A sign-up bonus needs bonus points"),
        ("birthday", {"bonus_points": ""}, "bonus_points", "A birthday bonus needs bonus points"),
        ("min_spend", {"min_amount": ""}, "min_amount", "needs a minimum amount"),
        ("min_spend", {"min_amount": "-1"}, "min_amount", "cannot be negative"),
        ("campaign", {"starts_at": None}, "starts_at", "so it needs a start"),
        ("campaign", {"ends_at": None}, "ends_at", "so it needs an end"),
    ],
)
def test_a_rule_missing_what_its_kind_needs_is_refused(
    staff_client, program, kind, overrides, field, words
):
    assert_refused(post_rule(staff_client, kind, **overrides), field, words)
    assert not EarnRule.objects.exists()


@pytest.mark.parametrize(
    ("kind", "field", "value", "words"),
    [
        ("min_spend", "multiplier", "2", "A minimum-spend bonus ignores a multiplier"),
        ("signup", "multiplier", "2", "A sign-up bonus ignores a multiplier"),
        ("category", "bonus_points", "10", "A category multiplier ignores bonus points"),
        ("category", "min_amount", "10", "ignores a minimum amount"),
        ("first_purchase", "min_amount", "10", "ignores a minimum amount"),
        ("campaign", "targets", "coffee", "A campaign multiplier ignores targets"),
        ("birthday", "targets", "coffee", "A birthday bonus ignores targets"),
    ],
)
def test_a_rule_with_a_field_its_kind_ignores_is_refused(
    staff_client, program, kind, field, value, words
):
    response = post_rule(staff_client, kind, **{field: value})
    assert_refused(response, field, words)
    assert_refused(response, field, "it would have no effect. Leave it empty.")
    assert not EarnRule.objects.exists()


def test_a_birthday_rule_restricted_to_shops_is_refused(staff_client, program):
    response = post_rule(staff_client, "birthday", shops=[str(ShopFactory().pk)])
    assert_refused(response, "shops", "with shops it would never be given")
    assert not EarnRule.objects.exists()


@pytest.mark.parametrize("ends_at", ["2026-06-05 00:00:00", "2026-06-06 00:00:00"])
def test_a_rule_window_that_ends_before_or_as_it_starts_is_refused(staff_client, program, ends_at):
    response = post_rule(staff_client, "category", starts_at="2026-06-06 00:00:00", ends_at=ends_at)
    assert_refused(response, "ends_at", "The end must be after the start.")
    assert not EarnRule.objects.exists()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("signup", "A sign-up bonus is given once: its bonus points already are its limit"),
        ("first_purchase", "A first-purchase bonus is given once"),
        ("birthday", "A birthday bonus is given once a year"),
    ],
)
@pytest.mark.parametrize("cap", ["cap_per_day", "cap_per_month", "cap_total"])
def test_caps_on_a_bonus_given_once_are_refused(staff_client, program, kind, words, cap):
    assert_refused(post_rule(staff_client, kind, **{cap: "100"}), cap, words)
    assert not EarnRule.objects.exists()


@pytest.mark.parametrize("cap", ["cap_per_day", "cap_per_month", "cap_total"])
def test_a_cap_of_zero_is_refused(staff_client, program, cap):
    assert_refused(
        post_rule(staff_client, "min_spend", **{cap: "0"}), cap, "A cap of 0 would stop the rule"
    )
    assert not EarnRule.objects.exists()


@pytest.mark.parametrize(
    ("caps", "field", "words"),
    [
        ({"cap_per_day": "600", "cap_per_month": "500"}, "cap_per_day", "The daily cap (600) "),
        ({"cap_per_day": "600", "cap_total": "500"}, "cap_per_day", "above the total cap (500)"),
        ({"cap_per_month": "600", "cap_total": "500"}, "cap_per_month", "The monthly cap (600)"),
    ],
)
def test_a_cap_above_the_cap_of_a_longer_period_is_refused(
    staff_client, program, caps, field, words
):
    response = post_rule(staff_client, "category", **caps)
    assert_refused(response, field, words)
    assert_refused(response, field, "so it could never be reached")
    assert not EarnRule.objects.exists()


def test_changing_a_rule_kind_refuses_the_fields_the_new_kind_ignores(staff_client, program):
    rule = EarnRule.objects.create(name="Coffee", kind="category", multiplier=2, targets="coffee")
    response = staff_client.post(
        f"/admin/rewards/earnrule/{rule.pk}/change/",
        rule_data("min_spend", name="Coffee", multiplier="2", targets="coffee"),
    )
    assert_refused(response, "multiplier", "ignores a multiplier")
    assert_refused(response, "targets", "ignores targets")
    rule.refresh_from_db()
    assert (rule.kind, rule.bonus_points) == ("category", None)


def award(rule, member, entry, points):
    now = timezone.now()
    return EarnAward.objects.create(
        member=member,
        entry=entry,
        purchase=entry.purchase,
        source=EarnAward.Source.RULE,
        rule=rule,
        description=f"+{points}",
        points=points,
        awarded_at=now,
        local_date=now.date(),
    )


@pytest.fixture
def rule_usage(program, shop):
    """Three rules: coffee used twice by one member and once by another, tea never."""
    ann, bob = MemberFactory(), MemberFactory()
    for member in (ann, ann, bob):
        earn(shop, member, "10.00")
    # Created after the purchases, so the awards below are the only ones they have.
    coffee = EarnRule.objects.create(name="Coffee", kind="category", multiplier=2, targets="c")
    tea = EarnRule.objects.create(name="Tea", kind="category", multiplier=2, targets="t")
    weekend = EarnRule.objects.create(name="Weekend", kind="campaign", multiplier=3)
    entries = list(LedgerEntry.objects.order_by("id"))
    award(coffee, ann, entries[0], 10)
    award(coffee, ann, entries[1], 15)
    award(coffee, bob, entries[2], 7)
    award(weekend, bob, entries[2], 20)
    return {"coffee": coffee, "tea": tea, "weekend": weekend}


def test_the_rule_list_shows_how_many_members_used_each_rule_and_the_points_it_gave(
    staff_client, rule_usage
):
    response = staff_client.get("/admin/rewards/earnrule/")
    assert response.status_code == 200
    usage = {r.name: (r.members_used, r.points_given) for r in response.context["cl"].result_list}
    assert usage == {"Coffee": (2, 32), "Tea": (0, 0), "Weekend": (1, 20)}
    assert "points it gave" in response.content.decode().lower()


def test_the_rule_list_counts_usage_in_one_query_whatever_the_number_of_rules(
    staff_client, rule_usage
):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get("/admin/rewards/earnrule/").status_code == 200
        return len(queries)

    with_three = queries_for_list()
    for n in range(5):
        EarnRule.objects.create(name=f"Extra {n}", kind="signup", bonus_points=10)
    assert queries_for_list() == with_three


def test_a_rule_change_page_shows_its_usage_and_help_texts(staff_client, rule_usage):
    response = staff_client.get(f"/admin/rewards/earnrule/{rule_usage['coffee'].pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "What it gives" in content and "When and where" in content and "Caps" in content
    assert "members who earned by it" in content.lower()
    assert '<div class="readonly">2</div>' in content
    assert '<div class="readonly">32</div>' in content
    assert "Fields a kind ignores must be left empty." in content
    assert "selectfilter" in content  # shops and tiers are picked with filter_horizontal


def test_the_rule_add_page_shows_no_usage(staff_client, program):
    response = staff_client.get("/admin/rewards/earnrule/add/")
    assert response.status_code == 200
    assert "members who earned by it" not in response.content.decode().lower()


# Milestones


def milestone_data(**overrides) -> dict:
    return form_data(
        {"name": "10th purchase", "description": "", "kind": "purchases", "target": "10"}
        | {"period": "ever", "bonus_points": "100", "reward": "", "is_active": "on"}
        | overrides
    )


def post_milestone(client, **overrides):
    return client.post("/admin/rewards/milestone/add/", milestone_data(**overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"kind": "purchases", "period": "month"},
        {"kind": "lifetime_points", "target": "1000"},
        {"kind": "spend", "target": "5000.50", "period": "year"},
    ],
)
def test_a_milestone_with_a_sensible_goal_is_saved(staff_client, program, overrides):
    assert_saved(post_milestone(staff_client, **overrides))
    assert Milestone.objects.count() == 1


def test_a_milestone_that_gives_only_a_reward_is_saved(staff_client, program):
    reward = Reward.objects.create(name="Free coffee", points_cost=100)
    assert_saved(post_milestone(staff_client, bonus_points="", reward=str(reward.pk)))
    assert Milestone.objects.get().reward == reward


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"target": "10.5"}, "target", "must be a whole number of purchases"),
        ({"kind": "lifetime_points", "target": "99.99"}, "target", "whole number of points"),
        ({"target": "0"}, "target", "The target must be more than 0."),
        ({"kind": "lifetime_points", "period": "year"}, "period", 'its period must be "Once"'),
        ({"bonus_points": ""}, "bonus_points", "Set bonus points (above 0), a reward, or both"),
        ({"bonus_points": "0"}, "bonus_points", "otherwise the milestone gives nothing"),
        (
            {"starts_at": "2026-01-01 00:00:00", "ends_at": "2025-12-31 00:00:00"},
            "ends_at",
            "The end must be after the start.",
        ),
    ],
)
def test_a_contradictory_milestone_is_refused(staff_client, program, overrides, field, words):
    assert_refused(post_milestone(staff_client, **overrides), field, words)
    assert not Milestone.objects.exists()


def test_a_spend_target_has_no_more_decimals_than_the_currency(staff_client, program):
    program.currency = "JPY"
    program.save()
    response = post_milestone(staff_client, kind="spend", target="5000.50")
    assert_refused(response, "target", "more decimal places than the program currency JPY")
    assert not Milestone.objects.exists()


def test_the_milestone_list_shows_how_often_each_milestone_was_awarded(staff_client, program):
    tenth = Milestone.objects.create(name="10th", kind="purchases", target=10, bonus_points=5)
    monthly = Milestone.objects.create(
        name="Monthly", kind="spend", target=100, period="month", bonus_points=5
    )
    Milestone.objects.create(name="Never", kind="purchases", target=1000, bonus_points=5)
    ann, bob = MemberFactory(), MemberFactory()
    now = timezone.now()
    MilestoneAward.objects.create(member=ann, milestone=tenth, period_key="ever", awarded_at=now)
    for member, month in ((ann, "2026-01"), (ann, "2026-02"), (bob, "2026-02")):
        MilestoneAward.objects.create(
            member=member, milestone=monthly, period_key=month, awarded_at=now
        )
    response = staff_client.get("/admin/rewards/milestone/")
    assert response.status_code == 200
    usage = {
        m.name: (m.times_awarded, m.members_reached) for m in response.context["cl"].result_list
    }
    assert usage == {"10th": (1, 1), "Monthly": (3, 2), "Never": (0, 0)}
    page = staff_client.get(f"/admin/rewards/milestone/{monthly.pk}/change/")
    assert page.status_code == 200
    assert "members who reached it" in page.content.decode().lower()


# The reward catalog: the form only (its admin lives with the catalog).


def reward_form(**overrides) -> RewardForm:
    data = {"name": "Free coffee", "points_cost": "100", "is_active": "on"} | overrides
    return RewardForm(data={k: v for k, v in data.items() if v is not None})


def test_a_sensible_reward_is_valid(db):
    form = reward_form(stock="0", per_member_limit="1", voucher_valid_days="30")
    assert form.is_valid(), form.errors


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"points_cost": "0"}, "points_cost", "The points cost must be at least 1."),
        ({"points_cost": "-5"}, "points_cost", "The points cost must be at least 1."),
        ({"stock": "-1"}, "stock", "Stock cannot be negative."),
        ({"per_member_limit": "0"}, "per_member_limit", "must be at least 1"),
        ({"voucher_valid_days": "0"}, "voucher_valid_days", "at least 1 day"),
        (
            {"starts_at": "2026-03-01 00:00", "ends_at": "2026-02-01 00:00"},
            "ends_at",
            "The end must be after the start.",
        ),
    ],
)
def test_a_contradictory_reward_is_refused(db, overrides, field, words):
    form = reward_form(**overrides)
    assert not form.is_valid()
    assert any(words in message for message in form.errors[field]), form.errors


# Program settings


def program_data(program: Program, **overrides) -> dict:
    fields = {
        name: getattr(program, name)
        for name in (
            "name",
            "currency",
            "timezone",
            "points_per_unit",
            "pending_days",
            "expiry_months",
            "point_value",
            "hold_ttl_minutes",
            "tier_basis",
            "tier_window_months",
            "tier_grace_days",
            "activity_window_days",
        )
    }
    fields["expiry_at_month_end"] = "on" if program.expiry_at_month_end else None
    return form_data({k: "" if v is None else str(v) for k, v in fields.items()} | overrides)


def post_program(client, program, **overrides):
    return client.post(
        f"/admin/rewards/program/{program.pk}/change/", program_data(program, **overrides)
    )


def test_program_tier_settings_are_saved(staff_client, program):
    response = post_program(
        staff_client,
        program,
        timezone="Europe/Berlin",
        currency="chf",
        tier_basis="spend",
        tier_window_months="6",
        tier_grace_days="0",
        activity_window_days="90",
    )
    assert_saved(response)
    program.refresh_from_db()
    assert (program.timezone, program.currency, program.tier_basis) == (
        "Europe/Berlin",
        "CHF",
        "spend",
    )
    assert (program.tier_window_months, program.tier_grace_days) == (6, 0)
    assert program.activity_window_days == 90


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone", "is not an IANA time zone"),
        ({"timezone": "../etc/passwd"}, "timezone", "is not an IANA time zone"),
        ({"currency": "XYZ"}, "currency", "'XYZ' is not an ISO 4217 code"),
        ({"tier_window_months": "0"}, "tier_window_months", "at least 1 month"),
        ({"activity_window_days": "0"}, "activity_window_days", "at least 1 day"),
    ],
)
def test_contradictory_program_settings_are_refused(staff_client, program, overrides, field, words):
    assert_refused(post_program(staff_client, program, **overrides), field, words)
    program_now = Program.objects.get()
    assert (program_now.timezone, program_now.currency, program_now.tier_window_months) == (
        program.timezone,
        program.currency,
        program.tier_window_months,
    )


def test_tiers_cannot_switch_to_points_while_a_threshold_has_cents(staff_client, program):
    program.tier_basis = TierBasis.SPEND
    program.save()
    Tier.objects.create(rank=1, name="Bronze", threshold=Decimal("99.50"))
    response = post_program(staff_client, program, tier_basis="points")
    assert_refused(response, "tier_basis", "Tier Bronze: Threshold 99.5 must be a whole number")
    assert Program.objects.get().tier_basis == TierBasis.SPEND


def test_the_program_page_groups_tier_settings_with_help_texts(staff_client, program):
    response = staff_client.get(f"/admin/rewards/program/{program.pk}/change/")
    content = response.content.decode()
    assert response.status_code == 200
    assert "Tiers" in content and "tier_grace_days" in content
    assert "An IANA time zone" in content
    assert "The rolling window, in months, that tier qualification counts." in content


# Every configuration page explains its fields; the history pages are read-only.


@pytest.mark.parametrize(
    ("url", "help_text"),
    [
        ("/admin/rewards/tier/add/", "One benefit per line, shown to members."),
        ("/admin/rewards/earnrule/add/", "Empty: every shop."),
        ("/admin/rewards/milestone/add/", "Set bonus points, a reward, or both."),
    ],
)
def test_configuration_pages_show_help_texts(staff_client, program, url, help_text):
    response = staff_client.get(url)
    assert response.status_code == 200
    assert help_text in response.content.decode()


@pytest.fixture
def tier_history(program, tiers):
    member = MemberFactory()
    state = MemberTier.objects.create(member=member, tier=tiers[1], floor=tiers[0])
    change = TierChange.objects.create(
        member=member,
        from_tier=tiers[0],
        to_tier=tiers[1],
        reason=TierChange.Reason.QUALIFIED,
        detail="Earned 500 points in 12 months.",
        qualifying_value=500,
        changed_at=timezone.now(),
    )
    return state, change


@pytest.mark.parametrize("model", ["ledgerentry", "pointlot", "tierchange", "membertier"])
def test_history_admins_refuse_add_and_delete(staff_client, tier_history, shop, model):
    earn(shop, tier_history[0].member, "10.00")
    objects = {
        "ledgerentry": LedgerEntry.objects.first(),
        "pointlot": LedgerEntry.objects.first().lot,
        "tierchange": tier_history[1],
        "membertier": tier_history[0],
    }
    pk = objects[model].pk
    assert staff_client.get(f"/admin/rewards/{model}/").status_code == 200
    assert staff_client.get(f"/admin/rewards/{model}/add/").status_code == 403
    delete = staff_client.post(f"/admin/rewards/{model}/{pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert type(objects[model]).objects.filter(pk=pk).exists()


def test_tier_history_cannot_be_changed_in_admin(staff_client, tier_history, tiers):
    state, change = tier_history
    staff_client.post(f"/admin/rewards/tierchange/{change.pk}/change/", {"to_tier": tiers[2].pk})
    change.refresh_from_db()
    assert change.to_tier == tiers[1]
    page = staff_client.get(f"/admin/rewards/tierchange/{change.pk}/change/")
    assert page.status_code == 200
    assert "Earned 500 points in 12 months." in page.content.decode()


def test_staff_pin_a_floor_through_the_service_which_records_who_did_it(
    staff_client, tier_history, tiers
):
    state, _ = tier_history
    response = staff_client.post(
        f"/admin/rewards/membertier/{state.pk}/change/",
        {"floor": tiers[2].pk, "tier": tiers[0].pk},  # a posted tier is ignored: read-only
    )
    assert response.status_code == 302
    state.refresh_from_db()
    assert (state.floor, state.tier) == (tiers[2], tiers[2])
    pinned = TierChange.objects.get(member=state.member, reason=TierChange.Reason.PINNED)
    assert pinned.actor_user.username == response.wsgi_request.user.username
    assert pinned.to_tier == tiers[2]
