"""The staff admin in Swedish and Danish: the project's own words on its pages (field help,
fieldsets, choices, column headers, the member page, the KPI dashboard, the CSV import) are
translated, not only Django's. The language is the switcher's cookie."""

import pytest
from django.conf import settings

from rewards.models import EarnRule
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def page(client, url: str, language: str) -> str:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Language"] == language
    return response.content.decode()


def test_the_earn_rule_form_reads_in_swedish(manager_client, program):
    html = page(manager_client, "/admin/rewards/earnrule/add/", "sv")
    for swedish in (
        "Vad den ger",
        "När och var",
        "Tomt: medlemmar på alla nivåer.",
        "Kampanjmultiplikator",
    ):
        assert swedish in html
    for english in (
        "What it gives",
        "When and where",
        "Empty: members of every tier.",
        "Campaign multiplier",
    ):
        assert english not in html


def test_the_earn_rule_list_reads_in_danish(manager_client, program):
    EarnRule.objects.create(
        name="Dobbelt kaffe", kind=EarnRule.Kind.CATEGORY_MULTIPLIER, multiplier=2, targets="coffee"
    )
    html = page(manager_client, "/admin/rewards/earnrule/", "da")
    assert "Point den har givet" in html and "Brugt budget" in html
    assert "Points it gave" not in html and "Budget used" not in html


def test_the_member_page_reads_in_swedish(support_client, program):
    member = MemberFactory()
    html = page(support_client, f"/admin/members/member/{member.pk}/change/", "sv")
    for swedish in (
        "Meddelanden (e-post)",
        "Butikens kund-id för den här medlemmen.",
        "Inga meddelanden.",
    ):
        assert swedish in html
    for english in ("Messages (email)", "The shop&#x27;s customer id", "Survey answers show"):
        assert english not in html


def test_the_member_list_filters_read_in_danish(support_client, program):
    MemberFactory()
    html = page(support_client, "/admin/members/member/", "da")
    assert "De seneste 30 dage" in html and "Seneste køb" in html
    assert "In the last 30 days" not in html and "Last purchase" not in html


def test_the_kpi_dashboard_and_the_index_read_in_swedish(manager_client, program):
    dashboard = page(manager_client, "/admin/metrics/dashboard/", "sv")
    assert "Nyckeltalspanel" in dashboard and "Inga nyckeltal har beräknats" in dashboard
    assert "KPI dashboard" not in dashboard and "No KPIs have been computed" not in dashboard
    index = page(manager_client, "/admin/", "sv")
    assert "Öppna nyckeltalspanelen" in index and "Driv programmet" in index
    assert "Open the KPI dashboard" not in index and "Run the program" not in index


def test_the_csv_import_page_reads_in_danish(manager_client, program):
    html = page(manager_client, "/admin/rewards/csvimport/add/", "da")
    assert "Kontrollér og importér" in html and "Hvad filen indeholder" in html
    assert "Check and import" not in html and "What the file holds" not in html
