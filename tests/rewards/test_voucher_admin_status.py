"""The admin shows an issued voucher past its expiry as expired, and filters by it
(issue 13): what a till would answer, not the stored `issued`."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from rewards.models import Reward, Voucher
from rewards.services.catalog import voucher_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("boss", password="x-boss-pass!"))
    return client


@pytest.fixture
def vouchers(member, shop):
    reward = Reward.objects.create(name="Coffee", points_cost=50)
    now = timezone.now()
    fresh = voucher_issue(member, reward=reward, as_of=now)
    expired = voucher_issue(member, reward=reward, as_of=now)
    Voucher.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(days=1))
    used = voucher_issue(member, reward=reward, as_of=now)
    Voucher.objects.filter(pk=used.pk).update(status=Voucher.Status.USED, used_at=now, used_by=shop)
    return {"fresh": fresh.code, "expired": expired.code, "used": used.code}


def listed_codes(staff_client, **params) -> set[str]:
    page = staff_client.get("/admin/rewards/voucher/", params)
    assert page.status_code == 200
    return {v.code for v in page.context["cl"].result_list}


def test_an_expired_voucher_is_shown_as_expired(staff_client, vouchers):
    page = staff_client.get("/admin/rewards/voucher/").content.decode()
    row = next(line for line in page.split("<tr") if vouchers["expired"] in line)
    assert "Expired" in row and "Issued" not in row
    fresh_row = next(line for line in page.split("<tr") if vouchers["fresh"] in line)
    assert "Issued" in fresh_row

    expired = Voucher.objects.get(code=vouchers["expired"])
    detail = staff_client.get(f"/admin/rewards/voucher/{expired.pk}/change/").content.decode()
    assert "Expired" in detail


def test_the_voucher_filter_offers_expired(staff_client, vouchers):
    page = staff_client.get("/admin/rewards/voucher/").content.decode()
    assert "?status=expired" in page
    assert listed_codes(staff_client, status="expired") == {vouchers["expired"]}
    assert listed_codes(staff_client, status="issued") == {vouchers["fresh"]}
    assert listed_codes(staff_client, status="used") == {vouchers["used"]}
    assert len(listed_codes(staff_client)) == 3
