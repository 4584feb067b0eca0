"""The two staff groups from the data migration: each can do its own work and only that."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from members.models import Member
from rewards.models import EarnRule, LedgerEntry
from tests.conftest import client_for, staff_user_in

pytestmark = pytest.mark.django_db

MANAGER_PAGES = [
    "/admin/rewards/program/",
    "/admin/rewards/tier/add/",
    "/admin/rewards/earnrule/add/",
    "/admin/rewards/milestone/add/",
    "/admin/rewards/reward/add/",
    "/admin/rewards/staffadjustmentlimit/add/",
    "/admin/members/shop/add/",
    "/admin/members/shopapikey/add/",
    "/admin/django_celery_beat/periodictask/",
    "/admin/rewards/jobrun/",
    "/admin/rewards/csvimport/add/",
]
SUPPORT_PAGES = [
    "/admin/members/member/",
    "/admin/rewards/ledgerentry/",
    "/admin/rewards/pointlot/",
    "/admin/rewards/purchase/",
    "/admin/rewards/redemption/",
    "/admin/rewards/voucher/",
    "/admin/rewards/membertier/",
    "/admin/rewards/tierchange/",
    "/admin/members/member/export/",
    "/admin/rewards/ledgerentry/export/",
]


def test_the_staff_groups_migration_makes_both_groups_with_their_permissions(db):
    Group.objects.filter(name__in=["Program manager", "Support"]).delete()
    migration = importlib.import_module("metrics.migrations.0002_staff_groups")
    migration.groups_create(apps, None)
    manager = set(
        Group.objects.get(name="Program manager").permissions.values_list("codename", flat=True)
    )
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))
    assert {"change_program", "add_earnrule", "change_shopapikey", "add_csvimport"} <= manager
    assert {"view_member", "adjust_points", "erase_member", "view_ledgerentry"} <= support
    assert not manager & support
    assert not any(name.startswith(("add_ledger", "change_ledger", "delete_")) for name in support)


@pytest.mark.parametrize("url", MANAGER_PAGES)
def test_a_program_manager_opens_the_program_setup_pages(manager_client, program, url):
    assert manager_client.get(url).status_code == 200, url


@pytest.mark.parametrize("url", SUPPORT_PAGES)
def test_a_program_manager_cannot_open_member_pages(manager_client, url):
    assert manager_client.get(url).status_code == 403, url


@pytest.mark.parametrize("url", SUPPORT_PAGES)
def test_a_support_agent_opens_the_member_pages(support_client, url):
    assert support_client.get(url).status_code == 200, url


@pytest.mark.parametrize("url", MANAGER_PAGES)
def test_a_support_agent_cannot_open_program_setup_pages(support_client, program, url):
    assert support_client.get(url).status_code == 403, url


def test_a_program_manager_creates_an_earn_rule(manager_client, program):
    response = manager_client.post(
        "/admin/rewards/earnrule/add/",
        {
            "name": "Double coffee",
            "description": "",
            "kind": "category",
            "is_active": "on",
            "priority": "0",
            "multiplier": "2",
            "targets": "coffee",
        },
    )
    assert response.status_code == 302
    assert EarnRule.objects.get().name == "Double coffee"


def test_a_support_agent_cannot_create_an_earn_rule_or_change_the_program(support_client, program):
    assert (
        support_client.post("/admin/rewards/earnrule/add/", {"name": "x", "kind": "signup"})
    ).status_code == 403
    assert (
        support_client.post(
            f"/admin/rewards/program/{program.pk}/change/", {"name": "Hacked"}
        ).status_code
        == 403
    )
    assert not EarnRule.objects.exists()


def test_a_program_manager_cannot_adjust_suspend_or_erase_a_member(manager_client, member):
    for action in ("adjust", "suspend", "erase"):
        response = manager_client.post(
            f"/admin/members/member/{member.pk}/{action}/",
            {"points": "10", "reason": "x", "confirm_external_id": member.external_id},
        )
        assert response.status_code == 403, action
    assert not LedgerEntry.objects.exists()
    assert Member.objects.get().status == Member.Status.ACTIVE


def test_staff_without_a_group_see_nothing_to_change(program, member):
    client = client_for(staff_user_in(None, "nobody"))
    assert client.get("/admin/members/member/").status_code == 403
    assert client.get("/admin/rewards/earnrule/").status_code == 403
    assert client.get("/admin/").status_code == 200


def test_each_group_sees_only_its_sections_on_the_index(manager_client, support_client, program):
    manager = [app["name"] for app in manager_client.get("/admin/").context["app_list"]]
    support = [app["name"] for app in support_client.get("/admin/").context["app_list"]]
    assert manager[:4] == [
        "Program setup",
        "Shops and API keys",
        "Onboarding and export",
        "Nightly jobs and schedules",
    ]
    assert "Members and support" not in manager
    assert support == ["Members and support"]


def test_a_program_manager_revokes_a_shop_api_key(manager_client, shop_and_key):
    from members.models import ShopAPIKey

    key = ShopAPIKey.objects.get()
    response = manager_client.post(
        f"/admin/members/shopapikey/{key.pk}/change/",
        {
            "name": key.name,
            "shop": key.shop_id,
            "revoked": "on",
            "expiry_date_0": "",
            "expiry_date_1": "",
        },
    )
    assert response.status_code == 302
    assert ShopAPIKey.objects.get().revoked
    assert manager_client.post(f"/admin/members/shopapikey/{key.pk}/delete/").status_code == 403
