"""Shops and their API keys in the admin: a key is shown once, when it is added."""

import pytest

from members.models import ShopAPIKey

pytestmark = pytest.mark.django_db


def test_a_new_key_is_shown_once_and_only_its_hash_is_kept(manager_client, shop):
    response = manager_client.post(
        "/admin/members/shopapikey/add/", {"name": "till 2", "shop": shop.pk}, follow=True
    )
    message = next(str(m) for m in response.context["messages"])
    key = message.split("The API key for till 2 is: ")[1].split(" ")[0].rstrip(".")
    stored = ShopAPIKey.objects.get(name="till 2")
    assert key.startswith(stored.prefix) and key not in stored.hashed_key
    assert ShopAPIKey.objects.get_from_key(key) == stored
    page = manager_client.get(f"/admin/members/shopapikey/{stored.pk}/change/").content.decode()
    assert key not in page
