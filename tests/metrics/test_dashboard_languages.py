"""The KPI dashboard and its definitions in the staff user's language."""

import pytest

from tests.metrics.test_dashboard import history_with_kpis, program_manager

URL = "/admin/metrics/dashboard/?granularity=month&from=2025-01-01&to=2025-06-30"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "sv",
            ["Vad är det här?", "Kvarhållningsgrad", "Andelen av medlemmarna", "aktivitetsfönster"],
        ),
        (
            "da",
            ["Hvad er det?", "Fastholdelsesrate", "Andelen af de medlemmer", "aktivitetsvindue"],
        ),
    ],
)
def test_the_dashboard_and_its_definitions_follow_the_browser(client, program, language, words):
    history_with_kpis()
    client.force_login(program_manager())
    html = client.get(URL, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    for word in words:
        assert word in html, word
    assert "<summary>What is this?</summary>" not in html
    assert "Share of the members active at the start" not in html


@pytest.mark.django_db
def test_the_language_switcher_keeps_the_staff_users_choice(client, program):
    client.force_login(program_manager())
    response = client.post("/i18n/setlang/", {"language": "da", "next": "/admin/"})
    assert response.status_code == 302
    page = client.get("/admin/")  # the test client sends no Accept-Language
    assert page["Content-Language"] == "da"
    assert "Log ud" in page.content.decode()
