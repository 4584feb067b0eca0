"""The staff admin in a real headless Chromium, with screenshots in test-artifacts/."""

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from members.models import Member
from rewards.models import EarnRule, LedgerEntry
from tests.browser import admin_login, screenshot
from tests.conftest import staff_groups_ensure

PASSWORD = "a-long-staff-password-1"


def staff_with_password(username: str, group: str) -> User:
    staff_groups_ensure()
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_program_manager_logs_in_and_creates_an_earn_rule(live_server, browser, program):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    staff_with_password("manager", "Program manager")
    admin_login(browser, live_server, "manager", PASSWORD)
    screenshot(browser, "admin-index-program-manager")
    browser.find_element(By.LINK_TEXT, "Earn rules").click()
    browser.find_element(By.CSS_SELECTOR, ".object-tools a.addlink").click()
    browser.find_element(By.NAME, "name").send_keys("Double points on coffee")
    Select(browser.find_element(By.NAME, "kind")).select_by_value("category")
    browser.find_element(By.NAME, "multiplier").send_keys("2")
    browser.find_element(By.NAME, "targets").send_keys("coffee")
    browser.find_element(By.NAME, "_save").click()

    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert "Double points on coffee" in message and "added successfully" in message
    screenshot(browser, "admin-earn-rule-created")
    rule = EarnRule.objects.get()
    assert (rule.kind, rule.multiplier, rule.targets) == ("category", 2, "coffee")
    assert rule.history.get().history_user.username == "manager"


# PostgreSQL only: the ledger's append-only triggers refuse the DELETE that empties an
# SQLite database after a transactional test (PostgreSQL truncates).
@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_support_finds_a_member_adjusts_points_and_sees_the_entry(live_server, browser, program):
    from selenium.webdriver.common.by import By

    agent = staff_with_password("agent", "Support")
    now = timezone.now()
    Member.objects.create(
        external_id="cust-7781",
        email="ann@example.com",
        name="Ann Smith",
        enrolled_at=now,
    )
    Member.objects.create(external_id="cust-9000", name="Someone Else", enrolled_at=now)
    admin_login(browser, live_server, "agent", PASSWORD)
    browser.find_element(By.LINK_TEXT, "Members").click()
    search = browser.find_element(By.ID, "searchbar")
    search.send_keys("ann@example.com")
    search.submit()
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    browser.find_element(By.LINK_TEXT, "cust-7781").click()
    browser.find_element(By.ID, "adjust-points").click()
    browser.find_element(By.NAME, "points").send_keys("120")
    browser.find_element(By.NAME, "reason").send_keys("Points missing from order 5512")
    browser.find_element(By.NAME, "confirm").click()

    assert "+120 points" in browser.find_element(By.CSS_SELECTOR, "li.success").text
    assert browser.find_element(By.ID, "points-available").text == "120"
    newest = browser.find_elements(By.CSS_SELECTOR, "#ledger tr.ledger-entry")[0]
    assert "Points missing from order 5512" in newest.text and "+120" in newest.text
    assert "agent" in newest.text
    browser.execute_script("document.getElementById('ledger').scrollIntoView()")
    screenshot(browser, "admin-support-adjustment-in-ledger")
    entry = LedgerEntry.objects.get()
    assert (entry.points, entry.actor_user) == (120, agent)
