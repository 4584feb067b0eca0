"""The KPI dashboard in the admin: rendered by the test client, then in a real headless
Chromium (Debian's chromium and chromium-driver packages, driven by Selenium)."""

import os
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from metrics.services import kpis_recompute
from rewards.models import LedgerEntry, Tier
from tests.conftest import staff_groups_ensure
from tests.metrics.history import entry, feedback, members_create, purchase, refund, shop_get

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "s3cret-pass!"
CHARTS = ["retention", "members", "points", "liability", "tiers"]


def history_with_kpis(*, ledger: bool = True) -> None:
    bronze = Tier.objects.create(name="Bronze", rank=1, threshold=0)
    Tier.objects.create(name="Gold", rank=2, threshold=100)
    shop = shop_get()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for month in range(6):
        members = members_create(5 + month, enrolled_at=start + timedelta(days=30 * month))
        for index, member in enumerate(members):
            for later in range(0, 6 - month, 1 + index % 3):
                at = start + timedelta(days=30 * (month + later) + index)
                bought = purchase(member, f"{10 + index}.50", at, shop=shop)
                if ledger:
                    entry(member, LedgerEntry.Kind.EARN, 10 + index, at, shop=shop)
                if index == 2 and later == 0:
                    refund(bought, "5", at + timedelta(days=1))
                if ledger and index % 4 == 0:
                    entry(member, LedgerEntry.Kind.REDEEM, -5, at + timedelta(days=2), shop=shop)
            feedback(member, "nps", (index * 3) % 11, start + timedelta(days=30 * month + 3))
            feedback(member, "csat", 1 + index % 5, start + timedelta(days=30 * month + 4))
        if ledger:
            entry(members[0], LedgerEntry.Kind.EXPIRE, -3, start + timedelta(days=30 * month + 20))
    assert bronze
    kpis_recompute(first=date(2025, 1, 1), last=date(2025, 6, 30), granularities=["month"])


def program_manager() -> User:
    """A staff user in the "Program manager" group, whose work the dashboard is."""
    staff_groups_ensure()
    user = User.objects.create_user("manager", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Program manager"))
    return user


@pytest.fixture
def staff(db):
    return program_manager()


@pytest.mark.django_db
def test_dashboard_shows_charts_with_data_and_definitions(client, staff, program):
    history_with_kpis()
    client.force_login(staff)

    response = client.get(
        "/admin/metrics/dashboard/?granularity=month&from=2025-01-01&to=2025-06-30"
    )

    assert response.status_code == 200
    html = response.content.decode()
    for chart in CHARTS:
        marks = re.search(rf'id="chart-{chart}"[^>]*data-marks="(\d+)"', html)
        assert marks and int(marks.group(1)) > 0, chart
    assert 'id="cohort-heatmap"' in html
    # Definitions are one hover (title) or one click (details) away.
    assert "(E − N) ÷ S × 100" in html
    assert "<details><summary>What is this?</summary>" in html


@pytest.mark.django_db
def test_dashboard_shows_retention_and_churn_per_segment(client, staff, program):
    from members.models import Member, Segment, SegmentMembership
    from metrics.models import KpiSnapshot

    history_with_kpis()
    members = list(Member.objects.order_by("pk"))
    early = Segment.objects.create(name="Early birds", conditions=[])
    late = Segment.objects.create(name="Late <comers>", conditions=[])
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=early, member=m, entered_on=date(2025, 1, 1)) for m in members]
        + [
            SegmentMembership(segment=late, member=m, entered_on=date(2025, 4, 1))
            for m in members[10:]
        ]
    )
    kpis_recompute(first=date(2025, 1, 1), last=date(2025, 6, 30), granularities=["month"])
    client.force_login(staff)

    html = client.get(
        "/admin/metrics/dashboard/?granularity=month&from=2025-01-01&to=2025-06-30"
    ).content.decode()

    for chart, field in (("segment-retention", "retention_rate"), ("segment-churn", "churn_rate")):
        svg = re.search(rf'<svg[^>]*id="chart-{chart}".*?</svg>', html, re.S).group(0)
        # A mark for each period with a rate: all members' beside each segment's.
        for series, scope in (
            ("all", {"breakdown": "all"}),
            (f"segment-{early.pk}", {"segment": early}),
            (f"segment-{late.pk}", {"segment": late}),
        ):
            rates = KpiSnapshot.objects.filter(granularity="month", **scope).exclude(
                **{f"{field}__isnull": True}
            )
            assert rates.exists()
            assert len(re.findall(rf'data-series="{series}"', svg)) == rates.count(), series
    assert not KpiSnapshot.objects.filter(segment=late, period_start__lt=date(2025, 4, 1))
    assert "Late &lt;comers&gt;" in html and "Late <comers>" not in html
    june = KpiSnapshot.objects.get(period_start=date(2025, 6, 1), segment=early)
    table = re.search(r'<table id="segment-table">.*?</table>', html, re.S).group(0)
    row = re.search(r"<tr><th>Early birds</th>(.*?)</tr>", table, re.S).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells == [
        f"{june.members_total:,}",
        f"{june.active_start:,}",
        f"{june.retained:,}",
        f"{june.active_start - june.retained:,}",
        f"{june.retention_rate:.2f}%",
        f"{june.churn_rate:.2f}%",
    ]
    assert june.members_total == len(members) and june.active_start > 0
    assert table.index("Early birds") < table.index("Late &lt;comers&gt;")  # largest first


@pytest.mark.django_db
def test_dashboard_without_segments_says_how_to_get_them(client, staff, program):
    history_with_kpis()
    client.force_login(staff)

    html = client.get(
        "/admin/metrics/dashboard/?granularity=month&from=2025-01-01&to=2025-06-30"
    ).content.decode()

    assert 'id="segment-empty"' in html and 'id="segment-table"' not in html


@pytest.mark.django_db
def test_dashboard_is_linked_from_the_admin_index_for_staff(client, staff, program):
    client.force_login(staff)
    assert "/admin/metrics/dashboard/" in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_dashboard_refuses_anonymous_and_non_staff_users(client, program):
    assert client.get("/admin/metrics/dashboard/").status_code == 302
    user = User.objects.create_user("member", password=PASSWORD)
    client.force_login(user)
    assert client.get("/admin/metrics/dashboard/").status_code == 302


@pytest.mark.django_db
def test_dashboard_with_bad_dates_explains_and_shows_the_default_range(client, staff, program):
    client.force_login(staff)
    response = client.get("/admin/metrics/dashboard/?from=2025-13-01&granularity=hour")
    assert response.status_code == 200
    html = response.content.decode()
    assert "granularity:" in html and "from:" in html
    assert 'id="kpi-empty"' in html  # nothing computed yet: says how to compute it


@pytest.mark.django_db
def test_member_admin_shows_each_members_lifetime_value(client, program):
    admin = User.objects.create_superuser("root", password=PASSWORD)
    member = members_create(1, enrolled_at=datetime(2025, 1, 1, tzinfo=UTC))[0]
    bought = purchase(member, "80", datetime(2025, 2, 1, tzinfo=UTC))
    refund(bought, "30", datetime(2025, 2, 2, tzinfo=UTC))
    client.force_login(admin)

    listing = client.get("/admin/members/member/").content.decode()
    detail = client.get(f"/admin/members/member/{member.pk}/change/").content.decode()

    assert "50.00" in listing
    assert "Lifetime value" in detail and "50.00" in detail


# The browser.


def _chromium() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver. Called from the test body, so their
    absence in CI is a failure, not a skip."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    message = (
        "Chromium and chromedriver are needed for the dashboard's browser test: "
        "apt-get install chromium chromium-driver"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (.ci/run installs them).")
    pytest.skip(message)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_in_headless_chromium(live_server, program):
    browser_path, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    # The ledger's append-only triggers refuse the DELETE that empties an SQLite database
    # after a transactional test (PostgreSQL truncates), so there the points stay at zero.
    history_with_kpis(ledger=connection.vendor == "postgresql")
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
        driver.implicitly_wait(5)
        driver.get(f"{live_server.url}/admin/login/?next=/admin/")
        driver.find_element(By.NAME, "username").send_keys("manager")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        driver.find_element(By.LINK_TEXT, "KPI dashboard").click()

        Select(driver.find_element(By.NAME, "granularity")).select_by_value("month")
        for name, value in (("from", "2025-01-01"), ("to", "2025-06-30")):
            field = driver.find_element(By.NAME, name)
            driver.execute_script("arguments[0].value = arguments[1]", field, value)
        driver.find_element(By.CSS_SELECTOR, "#kpi-filters input[type=submit]").click()

        # The click returns before the browser has navigated: wait for the filtered page
        # (a form that doesn't submit still fails here, after 10 s).
        WebDriverWait(driver, 10).until(expected_conditions.url_contains("granularity=month"))
        for chart in CHARTS:
            svg = driver.find_element(By.ID, f"chart-{chart}")
            marks = svg.find_elements(By.CSS_SELECTOR, ".mark")
            assert marks, chart
            assert int(svg.get_attribute("data-marks")) == len(marks)
            # Drawn, not just present: the browser laid the chart out with a real size.
            assert svg.size["width"] > 300 and svg.size["height"] > 80, chart
            title = marks[0].find_element(By.TAG_NAME, "title").get_attribute("textContent")
            assert " — " in title  # value — definition, shown on hover
        cells = driver.find_elements(By.CSS_SELECTOR, "#cohort-heatmap td.heat[title]")
        assert len(cells) >= 6
        card = driver.find_element(By.CSS_SELECTOR, '.kpi-card[data-field="retention_rate"]')
        card.find_element(By.TAG_NAME, "summary").click()
        assert "(E − N) ÷ S" in card.find_element(By.CSS_SELECTOR, "details p").text

        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "kpi-dashboard.png"
        driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
    finally:
        driver.quit()


@pytest.mark.django_db
def test_support_staff_cannot_open_the_dashboard(client, program):
    staff_groups_ensure()
    user = User.objects.create_user("support", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    client.force_login(user)
    assert client.get("/admin/metrics/dashboard/").status_code == 403
