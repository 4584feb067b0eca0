"""Staff screens for the reward catalog and the (read-only) vouchers."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from rewards.models import Reward, Tier, Voucher
from rewards.services.catalog import voucher_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    User.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    client.login(username="boss", password="a-long-password-1")
    return client


def reward_form(**fields) -> dict:
    return {
        "name": "Free coffee",
        "description": "",
        "image_url": "",
        "points_cost": "40",
        "is_active": "on",
        "stock": "10",
        "per_member_limit": "",
        "voucher_valid_days": "",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        **fields,
    }


def test_staff_create_a_reward_for_some_tiers(staff_client):
    gold = Tier.objects.create(name="Gold", rank=3)
    response = staff_client.post(
        "/admin/rewards/reward/add/", reward_form(tiers=[gold.pk], voucher_valid_days="30")
    )
    assert response.status_code == 302, response.content[:2000]
    reward = Reward.objects.get()
    assert (reward.points_cost, reward.stock, reward.voucher_valid_days) == (40, 10, 30)
    assert list(reward.tiers.all()) == [gold]


def test_reward_list_shows_cost_stock_and_window_and_filters(staff_client):
    Reward.objects.create(name="Free coffee", points_cost=40, stock=3)
    Reward.objects.create(name="Old mug", points_cost=90, is_active=False)
    page = staff_client.get("/admin/rewards/reward/?is_active__exact=1&q=coffee")
    assert page.status_code == 200
    assert b"Free coffee" in page.content and b"Old mug" not in page.content
    assert b"column-points_cost" in page.content and b"column-ends_at" in page.content


def test_saving_a_reward_keeps_stock_taken_while_the_form_was_open(staff_client, member):
    reward = Reward.objects.create(name="Free coffee", points_cost=40, stock=10)
    url = f"/admin/rewards/reward/{reward.pk}/change/"
    assert b'name="initial-stock" value="10"' in staff_client.get(url).content
    voucher_issue(member, reward=reward, as_of=timezone.now())  # a redemption meanwhile
    form = reward_form(**{"stock": "10", "initial-stock": "10"}, description="Oat milk too.")
    assert staff_client.post(url, form).status_code == 302
    reward.refresh_from_db()
    assert (reward.description, reward.stock) == ("Oat milk too.", 9)

    staff_client.post(url, reward_form(**{"stock": "50", "initial-stock": "9"}))
    reward.refresh_from_db()
    assert reward.stock == 50  # a stock the staff member typed is set as typed


def test_vouchers_are_read_only_in_admin(staff_client, member):
    reward = Reward.objects.create(name="Free coffee", points_cost=40)
    voucher = voucher_issue(member, reward=reward, as_of=timezone.now())
    assert staff_client.get("/admin/rewards/voucher/add/").status_code == 403
    delete = staff_client.post(f"/admin/rewards/voucher/{voucher.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    staff_client.post(f"/admin/rewards/voucher/{voucher.pk}/change/", {"status": "used"})
    assert Voucher.objects.get().status == "issued"
    assert staff_client.get(f"/admin/rewards/voucher/{voucher.pk}/change/").status_code == 200


def test_voucher_search_finds_a_code_as_it_was_read_out(staff_client, member):
    reward = Reward.objects.create(name="Free coffee", points_cost=40)
    voucher = voucher_issue(member, reward=reward, as_of=timezone.now())
    other = voucher_issue(member, reward=reward, as_of=timezone.now())
    typed = voucher.code.replace("-", " ").lower()
    page = staff_client.get("/admin/rewards/voucher/", {"q": typed})
    assert page.status_code == 200
    assert voucher.code.encode() in page.content and other.code.encode() not in page.content
