"""The at-risk page: ranked members, holdout chart, CSV, the win-back draft, a failed fit
said plainly; then in headless Chromium with a screenshot."""

import csv
import io
from datetime import date

import pytest
from django.contrib.auth.models import User

from members.models import Segment, SegmentMembership
from metrics.models import MemberPrediction, PredictionFit
from metrics.predictions.services import prediction_fit_run
from rewards.models import EarnRule
from tests.metrics.population import population_create
from tests.metrics.test_dashboard import ARTIFACTS, PASSWORD, _chromium, program_manager

AS_OF = date(2025, 6, 30)


def fitted_population():
    population_create(members=600, weeks=78, seed=5)
    fit = prediction_fit_run(as_of=AS_OF, holdout_weeks=26)
    assert fit.converged and fit.holdout
    return fit


@pytest.fixture
def manager_client(client, db):
    client.force_login(program_manager())
    return client


@pytest.mark.django_db
def test_the_page_ranks_members_by_value_lost_and_draws_the_holdout(manager_client, program):
    fitted_population()

    page = manager_client.get("/admin/metrics/atriskmembers/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="chart-holdout"' in html
    rows = page.context["rows"]
    values = [row.value_at_risk for row in rows]
    assert values == sorted(values, reverse=True) and len(rows) == 100
    top = MemberPrediction.objects.order_by("-value_at_risk").first()
    assert rows[0].pk == top.pk
    assert float(top.value_at_risk) == pytest.approx(
        float(top.historical_value) * (1 - top.p_alive), abs=0.01
    )


@pytest.mark.django_db
def test_the_csv_lists_every_member_at_risk_in_order(manager_client, program):
    fitted_population()

    response = manager_client.get("/admin/metrics/atriskmembers/?format=csv")

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == MemberPrediction.objects.filter(value_at_risk__gt=0).count()
    values = [float(row["value_at_risk"]) for row in rows]
    assert values == sorted(values, reverse=True)


@pytest.mark.django_db
def test_win_back_drafts_an_inactive_rule_limited_to_the_at_risk_segment(manager_client, program):
    fitted_population()

    response = manager_client.post("/admin/metrics/atriskmembers/", {"winback": "1"})

    rule = EarnRule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/rewards/earnrule/{rule.pk}/change/"
    assert not rule.is_active  # for staff to review before it starts
    segment = rule.segments.get()
    assert segment.name == "At risk (win-back)" and not segment.is_builtin
    members = SegmentMembership.objects.filter(segment=segment, left_on__isnull=True)
    assert members.exists()
    for membership in members.select_related("member__prediction"):
        assert membership.member.prediction.p_alive < 0.3
    # A second click drafts another rule on the same segment.
    manager_client.post("/admin/metrics/atriskmembers/", {"winback": "1"})
    assert (
        EarnRule.objects.count() == 2
        and Segment.objects.filter(name="At risk (win-back)").count() == 1
    )


@pytest.mark.django_db
def test_support_staff_cannot_draft_a_campaign(client, program):
    user = User.objects.create_user("nobody", password=PASSWORD, is_staff=True)
    client.force_login(user)
    assert client.get("/admin/metrics/atriskmembers/").status_code == 403
    assert client.post("/admin/metrics/atriskmembers/", {"winback": "1"}).status_code == 403
    assert not EarnRule.objects.exists()


@pytest.mark.django_db
def test_a_failed_fit_is_said_and_the_last_good_model_stays(manager_client, program):
    good = fitted_population()
    failed = prediction_fit_run(as_of=date(2024, 1, 2), holdout_weeks=0)
    assert not failed.converged

    page = manager_client.get("/admin/metrics/atriskmembers/")

    html = page.content.decode()
    assert 'id="fit-failed"' in html and "did not converge" in html
    assert page.context["fit"] == good


@pytest.mark.django_db
def test_before_any_fit_the_page_says_so(manager_client, program):
    page = manager_client.get("/admin/metrics/atriskmembers/")
    assert page.status_code == 200
    assert 'id="no-model"' in page.content.decode()
    assert not PredictionFit.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_at_risk_page_in_headless_chromium(live_server, program):
    browser_path, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    fitted_population()
    program_manager()
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,2400",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.implicitly_wait(15)  # a loaded machine can take seconds to log in
        driver.get(f"{live_server.url}/admin/login/?next=/admin/")
        driver.find_element(By.NAME, "username").send_keys("manager")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        driver.find_element(By.LINK_TEXT, "At-risk members").click()

        svg = driver.find_element(By.ID, "chart-holdout")
        marks = svg.find_elements(By.CSS_SELECTOR, ".mark")
        assert marks and int(svg.get_attribute("data-marks")) == len(marks)
        assert svg.size["width"] > 300 and svg.size["height"] > 80
        rows = driver.find_elements(By.CSS_SELECTOR, "#at-risk-table tbody tr")
        assert len(rows) == 100
        assert (
            driver.find_element(By.ID, "at-risk-csv").get_attribute("href").endswith("?format=csv")
        )
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "at-risk.png"
        driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000

        driver.find_element(By.ID, "winback").click()
        # The click returns before the browser has navigated: wait for the rule's page.
        WebDriverWait(driver, 10).until(expected_conditions.url_contains("/rewards/earnrule/"))
        assert EarnRule.objects.filter(is_active=False, segments__isnull=False).exists()
    finally:
        driver.quit()
