"""Issue 18: a web process trusts an API key it verified for API_KEY_CACHE_SECONDS (1 s),
and a client address it read as having no failed authentication for
FAILED_AUTH_CLEAN_SECONDS (1 s). What another process changes in the database or the
shared cache reaches this one within that second; what this process changes, at once."""

import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from loyalty_engine import throttling
from members.models import Shop, ShopAPIKey

pytestmark = pytest.mark.django_db


def _client(key: str, address: str = "198.51.100.20") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def _status(client: APIClient) -> int:
    # A member that does not exist: 404 once the key is accepted, 401 when it is not.
    return client.get("/api/v1/members/nobody").status_code


def _update_as_another_process(sql: str, params: list) -> None:
    """Straight in the database, as another web process or the admin on another server
    would leave it: no model signal reaches this process."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_key_revoked_by_another_process_is_refused_within_a_second(shop_and_key):
    shop, key = shop_and_key
    client = _client(key)
    assert _status(client) == 404  # verified, and now trusted for a second

    _update_as_another_process(
        f"UPDATE {ShopAPIKey._meta.db_table} SET revoked = %s WHERE shop_id = %s", [True, shop.pk]
    )
    # Within the second the verification stands: the cache is what this test is about.
    assert _status(client) == 404

    time.sleep(settings.API_KEY_CACHE_SECONDS + 0.05)
    response = client.get("/api/v1/members/nobody")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_shop_deactivated_by_another_process_is_refused_within_a_second(shop_and_key):
    shop, key = shop_and_key
    client = _client(key)
    assert _status(client) == 404

    _update_as_another_process(
        f"UPDATE {Shop._meta.db_table} SET is_active = %s WHERE id = %s", [False, shop.pk]
    )
    time.sleep(settings.API_KEY_CACHE_SECONDS + 0.05)
    assert _status(client) == 401


def test_a_key_revoked_in_this_process_is_refused_at_once(shop_and_key):
    shop, key = shop_and_key
    client = _client(key)
    assert _status(client) == 404

    api_key = ShopAPIKey.objects.get(shop=shop)
    api_key.revoked = True
    api_key.save()  # as the admin does

    assert _status(client) == 401


def test_a_wrong_key_is_never_trusted(shop_and_key):
    _, key = shop_and_key
    assert _status(_client(key)) == 404
    # Same prefix, another secret: looked up and refused, every time.
    prefix = key.split(".", 1)[0]
    wrong = _client(f"{prefix}.not-the-secret")
    assert [_status(wrong) for _ in range(2)] == [401, 401]


def test_failures_counted_by_another_process_refuse_the_address_within_a_second(
    shop_and_key, monkeypatch
):
    monkeypatch.setattr(throttling.FailedAuthenticationThrottle, "rate", "3/m", raising=False)
    _, key = shop_and_key
    address = "198.51.100.21"
    client = _client(key, address)
    assert _status(client) == 404  # read as clean, and trusted for a second

    # Another web process counted three failures from this address in the shared cache.
    throttle = throttling.FailedAuthenticationThrottle()
    cache_key = throttle.cache_format % {"scope": throttle.scope, "ident": address}
    now = throttle.timer()
    cache.set(cache_key, [now, now, now], 60)

    time.sleep(settings.FAILED_AUTH_CLEAN_SECONDS + 0.05)
    response = client.get("/api/v1/members/nobody")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
