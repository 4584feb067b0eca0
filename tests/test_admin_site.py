"""The admin's look: named after the program, its index in sections, the dashboard near."""

import pytest

from loyalty_engine import admin_site
from rewards.models import Program
from tests.conftest import client_for, staff_user_in

pytestmark = pytest.mark.django_db


def test_the_admin_title_and_header_name_the_program(manager_client, program):
    Program.objects.filter(pk=1).update(name="Coffee Club")
    html = manager_client.get("/admin/").content.decode()
    assert "<title>Run the program | Coffee Club staff admin</title>" in html
    assert "Coffee Club · staff" in html


def test_the_login_page_names_the_program_without_creating_its_settings(client, db):
    html = client.get("/admin/login/").content.decode()
    assert "Loyalty program" in html
    assert not Program.objects.exists()


def test_a_superuser_sees_every_section_in_order(program):
    client = client_for(staff_user_in(None, "root", superuser=True))
    names = [app["name"] for app in client.get("/admin/").context["app_list"]]
    expected = [name for name, _ in admin_site.SECTIONS if name in names]
    assert names[: len(expected)] == expected
    assert {"Members and support", "Program setup", "Staff accounts"} <= set(names)


def test_the_index_links_the_kpi_dashboard_when_the_metrics_app_provides_it(
    manager_client, program, monkeypatch
):
    monkeypatch.setattr(admin_site, "DASHBOARD_URL_NAME", "admin:rewards_tier_changelist")
    html = manager_client.get("/admin/").content.decode()
    assert 'href="/admin/rewards/tier/">Open the KPI dashboard</a>' in html
    monkeypatch.setattr(admin_site, "DASHBOARD_URL_NAME", "admin:no_such_view")
    assert "Open the KPI dashboard" not in manager_client.get("/admin/").content.decode()
