"""Campaign budgets (issue 17): an earn rule gives at most its budget across all members."""

from datetime import UTC, datetime, timedelta

import pytest

from rewards.models import EarnAward, EarnRule
from tests.conftest import earn
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db

Kind = EarnRule.Kind


@pytest.fixture
def campaign(db):
    now = datetime.now(UTC)
    return EarnRule.objects.create(
        name="Double week",
        kind=Kind.CAMPAIGN_MULTIPLIER,
        multiplier=2,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=6),
        budget_points=50,
    )


def test_a_budget_is_spent_and_then_the_rule_gives_nothing(shop, campaign):
    first, second, third = (MemberFactory() for _ in range(3))
    assert earn(shop, first, "30.00")["points_earned"] == 60
    response = earn(shop, second, "30.00")
    assert response["points_earned"] == 50  # 30 base, only 20 left of the budget
    assert response["items"][1]["description"].endswith("(limited by what is left of its budget)")
    assert earn(shop, third, "30.00")["points_earned"] == 30
    campaign.refresh_from_db()
    assert campaign.budget_used == 50
    assert sum(EarnAward.objects.filter(rule=campaign).values_list("points", flat=True)) == 50
    for member in (first, second, third):
        assert_reconciles(member)


def test_a_preview_shows_what_is_left_and_takes_nothing(shop_client, member, campaign):
    campaign.budget_used = 45
    campaign.save()
    response = shop_client.post(
        "/api/v1/purchases/preview",
        {"member": member.external_id, "order_id": "P", "amount": "30.00", "currency": "EUR"},
        format="json",
    )
    assert response.json()["points_earned"] == 35
    campaign.refresh_from_db()
    assert campaign.budget_used == 45


def test_a_purchase_replay_takes_nothing_twice(shop, member, campaign):
    earn(shop, member, "10.00", order_id="R-1")
    earn(shop, member, "10.00", order_id="R-1")
    campaign.refresh_from_db()
    assert campaign.budget_used == 10


def test_a_refund_does_not_return_points_to_the_budget(shop, member, campaign):
    from tests.nightly_helpers import refund_at

    earn(shop, member, "10.00", order_id="F-1")
    refund_at(shop, "F-1", "10.00", datetime.now(UTC))
    campaign.refresh_from_db()
    assert campaign.budget_used == 10


def test_rules_without_a_budget_are_unaffected(shop, member):
    EarnRule.objects.create(name="Coffee", kind=Kind.CATEGORY_MULTIPLIER, multiplier=2,
                            targets="coffee")  # fmt: skip
    response = earn(shop, member, "10.00", lines=[("ESP", "coffee", "1", "10.00")])
    assert response["points_earned"] == 20


def test_the_admin_shows_the_budget_used(manager_client, campaign, shop):
    earn(shop, MemberFactory(), "20.00")
    page = manager_client.get("/admin/rewards/earnrule/").content.decode()
    assert "20 of 50 points (30 left)" in page
    page = manager_client.get(f"/admin/rewards/earnrule/{campaign.pk}/change/").content.decode()
    assert "20 of 50 points (30 left)" in page


def test_the_admin_refuses_a_budget_below_what_was_given(campaign):
    from rewards.forms import EarnRuleForm

    campaign.budget_used = 40
    campaign.save()
    data = {
        "name": campaign.name,
        "kind": campaign.kind,
        "is_active": "on",
        "priority": "0",
        "multiplier": "2",
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "budget_points": "30",
    }
    form = EarnRuleForm(data, instance=campaign)
    assert not form.is_valid()
    assert "budget_points" in form.errors


def test_a_signup_bonus_takes_no_budget(db):
    from rewards.forms import EarnRuleForm

    form = EarnRuleForm(
        {
            "name": "Welcome",
            "kind": Kind.SIGNUP_BONUS,
            "is_active": "on",
            "priority": "0",
            "bonus_points": "50",
            "budget_points": "1000",
        }
    )
    assert not form.is_valid()
    assert "budget_points" in form.errors


def test_the_program_page_says_the_rule_runs_while_its_budget_lasts(client, campaign):
    rules = client.get("/api/v1/program").json()["earning"]["rules"]
    assert rules[0]["text"].endswith(", while its budget of 50 points lasts.")


def test_saving_the_rule_in_the_admin_keeps_the_budget_purchases_used(
    manager_client, campaign, monkeypatch
):
    from rewards.forms import EarnRuleForm
    from tests.rewards.test_config_admin import form_data

    clean = EarnRuleForm.clean

    def clean_while_a_purchase_commits(form):
        # A purchase takes from the budget after the admin loaded the rule, before it saves.
        EarnRule.objects.filter(pk=campaign.pk).update(budget_used=30)
        return clean(form)

    monkeypatch.setattr(EarnRuleForm, "clean", clean_while_a_purchase_commits)
    data = form_data(
        {
            "name": "Double week (renamed)",
            "kind": campaign.kind,
            "is_active": "on",
            "priority": "0",
            "multiplier": "2",
            "starts_at": campaign.starts_at.strftime("%Y-%m-%d %H:%M:%S"),
            "ends_at": campaign.ends_at.strftime("%Y-%m-%d %H:%M:%S"),
            "budget_points": "50",
        }
    )
    response = manager_client.post(f"/admin/rewards/earnrule/{campaign.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign.refresh_from_db()
    assert (campaign.name, campaign.budget_used) == ("Double week (renamed)", 30)
