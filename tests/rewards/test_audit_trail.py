"""The audit trail: who changed what and when, for every staff change, shown in the admin."""

import pytest

from members.models import Member, Shop, ShopAPIKey
from rewards.models import EarnRule, Milestone, Program, Reward, Tier
from rewards.services.adjustments import points_adjust
from tests.conftest import earn

pytestmark = pytest.mark.django_db

RULE = {
    "name": "Double coffee",
    "description": "",
    "kind": "category",
    "is_active": "on",
    "priority": "0",
    "multiplier": "2",
    "targets": "coffee",
}


def test_creating_and_changing_a_rule_records_who_when_and_what(manager_client, program_manager):
    manager_client.post("/admin/rewards/earnrule/add/", RULE)
    rule = EarnRule.objects.get()
    manager_client.post(f"/admin/rewards/earnrule/{rule.pk}/change/", {**RULE, "multiplier": "3"})
    latest, first = rule.history.all()[:2]
    assert (first.history_type, latest.history_type) == ("+", "~")
    assert latest.history_user == program_manager and latest.history_date
    delta = latest.diff_against(first)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [
        ("multiplier", first.multiplier, latest.multiplier)
    ]


def test_the_history_page_of_a_rule_shows_the_staff_user(manager_client, program):
    manager_client.post("/admin/rewards/earnrule/add/", RULE)
    rule = EarnRule.objects.get()
    page = manager_client.get(f"/admin/rewards/earnrule/{rule.pk}/history/")
    assert page.status_code == 200
    assert "program-manager" in page.content.decode()


@pytest.mark.parametrize("model", [Program, Tier, EarnRule, Milestone, Reward, Shop, ShopAPIKey])
def test_each_configuration_model_keeps_a_history(model):
    assert hasattr(model, "history")


def test_program_settings_changes_are_kept(manager_client, program_manager, program):
    data = {
        "name": "Coffee Club",
        "currency": "EUR",
        "timezone": "UTC",
        "points_per_unit": "1",
        "pending_days": "0",
        "expiry_months": "12",
        "expiry_at_month_end": "on",
        "point_value": "0.01",
        "hold_ttl_minutes": "15",
        "tier_basis": "points",
        "tier_window_months": "12",
        "tier_grace_days": "30",
        "activity_window_days": "365",
    }
    response = manager_client.post(f"/admin/rewards/program/{program.pk}/change/", data)
    assert response.status_code == 302
    change = Program.history.first()
    assert (change.name, change.history_user) == ("Coffee Club", program_manager)


def test_a_support_change_to_a_member_is_kept_but_points_movements_are_not(
    support_client, support_agent, shop, member
):
    versions = Member.history.count()
    earn(shop, member, "10.00")
    points_adjust(member=member, points=5, reason="Goodwill")
    assert Member.history.count() == versions  # the ledger records these
    support_client.post(
        f"/admin/members/member/{member.pk}/change/",
        {"name": "Corrected Name", "email": member.email, "birth_date": ""},
    )
    latest = Member.history.first()
    assert (latest.name, latest.history_user) == ("Corrected Name", support_agent)


def test_revoking_a_key_is_kept_in_its_history(manager_client, program_manager, shop_and_key):
    key = ShopAPIKey.objects.get()
    manager_client.post(
        f"/admin/members/shopapikey/{key.pk}/change/",
        {"name": key.name, "shop": key.shop_id, "revoked": "on"},
    )
    latest = key.history.first()
    assert latest.revoked and latest.history_user == program_manager


def test_a_past_version_can_be_viewed_but_not_saved_back(manager_client, program):
    manager_client.post("/admin/rewards/earnrule/add/", RULE)
    rule = EarnRule.objects.get()
    url = f"/admin/rewards/earnrule/{rule.pk}/history/{rule.history.first().history_id}/"
    page = manager_client.get(url).content.decode()
    assert page.count('type="submit"') == 1  # the log-out button only
    assert manager_client.post(url, {**RULE, "multiplier": "9"}).status_code == 403
    assert EarnRule.objects.get().multiplier == 2
