"""The staff admin in Swedish, in a real headless Chromium whose language is Swedish:
Django's own words and the project's, and the ledger as the member would read it."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User

from members.models import Member
from rewards.services.enrollment import member_enroll
from tests.browser import admin_login, chromium, screenshot
from tests.conftest import earn, staff_groups_ensure

PASSWORD = "a-long-staff-password-1"


# PostgreSQL only: the ledger's append-only triggers refuse the DELETE that empties an
# SQLite database after a transactional test (PostgreSQL truncates).
@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_member_page_reads_in_swedish(live_server, program):
    from selenium.webdriver.common.by import By

    staff_groups_ensure()
    agent = User.objects.create_user("agent", password=PASSWORD, is_staff=True)
    agent.groups.add(Group.objects.get(name="Support"))
    program.currency = "SEK"
    program.save()
    shop_member = member_enroll(external_id="cust-4711", name="Anna Svensson", language="sv")
    from members.models import Shop

    shop = Shop.objects.create(name="Butiken")
    earn(shop, shop_member, Decimal("1234.50"), order_id="A-100", currency="SEK")
    member = Member.objects.get(external_id="cust-4711")

    with chromium(language="sv") as browser:
        admin_login(browser, live_server, "agent", PASSWORD)
        browser.get(f"{live_server.url}/admin/members/member/{member.pk}/change/")
        ledger = browser.find_element(By.ID, "ledger").text
        page = browser.find_element(By.TAG_NAME, "body").text
        screenshot(browser, "admin-member-page-swedish")

    assert "1234 poäng intjänade på order A-100 (1 234,50 kr)." in ledger
    assert "Earned" not in ledger and "Intjäning" in ledger  # the entry's kind
    assert "logga ut" in page.lower()  # Django's own Swedish (upper case by CSS)
    assert "Svenska" in page  # the language switcher
    assert "Poängliggare (nyast först, 1 post)" in ledger and "Nivåhistorik" in page
    assert "Köp och returer (1)" in page
