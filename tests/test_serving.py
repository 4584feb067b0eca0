"""The serving layer in-process: health, CORS, throttles, database outages, chunked
bodies. tests/test_serving_stack.py proves the same on nginx in front of gunicorn."""

import io
import json
import os
import subprocess
import sys

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from loyalty_engine import throttling
from loyalty_engine.wsgi import application
from members.services import member_token_issue
from rewards.models import Voucher
from tests.conftest import backend_terminate

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
ALLOWED_ORIGIN = "https://members.shop.example"


# --- health -------------------------------------------------------------------------------


def test_live_answers_without_credentials(client):
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_names_each_check_and_reveals_no_version(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}
    assert "version" not in response.content.decode().lower()


@pytest.mark.django_db
def test_ready_checks_the_broker_when_redis_url_is_set(client):
    with override_settings(REDIS_URL=TEST_REDIS_URL):
        response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_ready_is_503_naming_the_broker_when_it_is_unreachable(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"] == "failed"
    assert body["failing"] == ["broker"]
    assert "127.0.0.1" not in response.content.decode()


def test_health_refuses_other_methods(client):
    assert client.post("/health/live").status_code == 405


# --- CORS ---------------------------------------------------------------------------------


def _preflight(client, path: str, origin: str):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/me/balance", "/api/v1/program"])
@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED_ORIGIN])
def test_member_endpoints_answer_a_preflight_from_an_allowed_origin(client, path):
    response = _preflight(client, path, ALLOWED_ORIGIN)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "authorization" in response["Access-Control-Allow-Headers"]


@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED_ORIGIN])
def test_member_endpoints_refuse_another_origin(client):
    response = _preflight(client, "/api/v1/me/balance", "https://evil.example")

    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize(
    "path", ["/api/v1/purchases", "/api/v1/members", "/api/v1/vouchers/ABC", "/api/v1/feedback"]
)
@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED_ORIGIN])
def test_shop_endpoints_never_answer_cross_origin(client, path):
    response = _preflight(client, path, ALLOWED_ORIGIN)

    assert "Access-Control-Allow-Origin" not in response


def test_no_origin_is_allowed_by_default(client):
    response = _preflight(client, "/api/v1/program", ALLOWED_ORIGIN)

    assert "Access-Control-Allow-Origin" not in response


# --- throttles ----------------------------------------------------------------------------


@pytest.fixture
def rate(monkeypatch):
    def set_rate(throttle_class, value: str):
        monkeypatch.setattr(throttle_class, "rate", value, raising=False)

    return set_rate


def _assert_rate_limited(response):
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


@pytest.mark.django_db
def test_bad_api_keys_are_throttled_per_client_address(rate, shop_and_key):
    rate(throttling.FailedAuthenticationThrottle, "3/m")
    guesser = APIClient(REMOTE_ADDR="198.51.100.7")
    guesser.credentials(HTTP_AUTHORIZATION="Api-Key wrong.key")

    statuses = [guesser.get("/api/v1/members/anyone").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    _assert_rate_limited(guesser.get("/api/v1/members/anyone"))

    # Refused before the key is looked at: a right guess is not told apart.
    guesser.credentials(HTTP_AUTHORIZATION=f"Api-Key {shop_and_key[1]}")
    _assert_rate_limited(guesser.get("/api/v1/members/anyone"))

    # Another address is not affected.
    other = APIClient(REMOTE_ADDR="198.51.100.8")
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {shop_and_key[1]}")
    assert other.get("/api/v1/members/anyone").status_code == 404


@pytest.mark.django_db
def test_bad_member_tokens_are_throttled(rate):
    rate(throttling.FailedAuthenticationThrottle, "2/m")
    client = APIClient(REMOTE_ADDR="198.51.100.9")
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert [client.get("/api/v1/me/balance").status_code for _ in range(2)] == [401, 401]
    _assert_rate_limited(client.get("/api/v1/me/balance"))


@pytest.mark.django_db
def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy(rate):
    rate(throttling.FailedAuthenticationThrottle, "2/m")
    # Straight from the internet: the header is the client's own claim and is ignored.
    for n in range(2):
        direct = APIClient(REMOTE_ADDR="198.51.100.10", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
        direct.credentials(HTTP_AUTHORIZATION="Api-Key wrong.key")
        assert direct.get("/api/v1/members/x").status_code == 401
    direct = APIClient(REMOTE_ADDR="198.51.100.10", HTTP_X_FORWARDED_FOR="10.0.0.9")
    direct.credentials(HTTP_AUTHORIZATION="Api-Key wrong.key")
    _assert_rate_limited(direct.get("/api/v1/members/x"))

    # Through the proxy (127.0.0.1): each client address nginx appended counts on its own.
    for n in range(3):
        proxied = APIClient(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        proxied.credentials(HTTP_AUTHORIZATION="Api-Key wrong.key")
        assert proxied.get("/api/v1/members/x").status_code == 401


@pytest.mark.django_db
def test_member_token_mints_are_throttled_per_shop(rate, shop_client, member):
    rate(throttling.MemberTokenThrottle, "2/m")
    path = f"/api/v1/members/{member.external_id}/token"

    assert [shop_client.post(path).status_code for _ in range(2)] == [201, 201]
    _assert_rate_limited(shop_client.post(path))


@pytest.mark.django_db
def test_unknown_voucher_codes_are_throttled_per_shop(rate, shop_client):
    rate(throttling.VoucherMissThrottle, "2/m")

    assert shop_client.get("/api/v1/vouchers/NOPE1").status_code == 404
    assert shop_client.post("/api/v1/vouchers/NOPE2/use").status_code == 404
    _assert_rate_limited(shop_client.get("/api/v1/vouchers/NOPE3"))
    assert Voucher.objects.count() == 0


@pytest.mark.django_db
def test_feedback_posts_are_throttled_per_shop(rate, shop_client, member):
    rate(throttling.FeedbackThrottle, "1/m")
    body = {"member": member.external_id, "kind": "nps", "score": 9}

    assert shop_client.post("/api/v1/feedback", body, format="json").status_code == 201
    _assert_rate_limited(shop_client.post("/api/v1/feedback", body, format="json"))


def test_throttle_rates_come_from_the_environment():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['failed_auth'])",
        ],
        env={**os.environ, "DJANGO_DEBUG": "true", "THROTTLE_FAILED_AUTH": "7/h"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7/h"


# --- database outages ---------------------------------------------------------------------


def _killer(statement_number: int):
    """An execute wrapper that has PostgreSQL terminate the request's own connection (from a
    second connection, pg_terminate_backend) just before its `statement_number`th
    statement."""
    statements = []

    def kill(execute, sql, params, many, context):
        statements.append(sql)
        if len(statements) == statement_number:
            backend_terminate(context["connection"].connection.info.backend_pid)
        return execute(sql, params, many, context)

    return kill


def _assert_service_unavailable(response):
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"] == "5"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_mid_request_gives_503_and_writes_nothing(shop_and_key, member):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {shop_and_key[1]}")
    body = {
        "member": member.external_id,
        "order_id": "o-killed",
        "amount": "10.00",
        "currency": "EUR",
    }
    with connection.execute_wrapper(_killer(2)):
        response = client.post("/api/v1/purchases", body, format="json")

    _assert_service_unavailable(response)
    connection.close()
    from rewards.models import Purchase

    assert not Purchase.objects.filter(order_id="o-killed").exists()
    # The client retries with the same order id once the database is back.
    retry = client.post("/api/v1/purchases", body, format="json")
    assert retry.status_code == 201, retry.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_killed_under_an_admin_page_gives_503(admin_client):
    with connection.execute_wrapper(_killer(1)):
        response = admin_client.get("/admin/")

    _assert_service_unavailable(response)
    connection.close()


# --- chunked request bodies ---------------------------------------------------------------


def _wsgi_call(body: bytes, *, terminated: bool, token: str):
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/me/balance",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if terminated:
        environ["wsgi.input_terminated"] = True
    status = []
    chunks = application(environ, lambda s, headers, exc_info=None: status.append(s))
    return status[0], b"".join(chunks)


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_from_a_server_that_decodes_it_is_read(member):
    token, _ = member_token_issue(member=member)

    status, payload = _wsgi_call(b"{}", terminated=True, token=token)

    assert status.startswith("200"), payload


def test_a_chunked_body_the_server_cannot_decode_is_refused_clearly():
    status, payload = _wsgi_call(b"2\r\n{}\r\n0\r\n\r\n", terminated=False, token="x")

    assert status.startswith("411")
    assert json.loads(payload)["error"]["code"] == "length_required"


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_what_the_view_reads(shop_and_key):
    body = json.dumps({"external_id": "chunked-1"}).encode()
    environ_status = []

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/members",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_AUTHORIZATION": f"Api-Key {shop_and_key[1]}",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    payload = b"".join(application(environ, lambda s, h, e=None: environ_status.append(s)))

    assert environ_status[0].startswith("201"), payload
    assert json.loads(payload)["external_id"] == "chunked-1"


# --- probes and a missing cache ----------------------------------------------------------


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["loyalty.example.com"])
def test_probes_answer_a_host_outside_allowed_hosts(client):
    assert client.get("/health/live", HTTP_HOST="10.0.0.5:8000").status_code == 200
    assert client.get("/health/ready", HTTP_HOST="10.0.0.5:8000").status_code == 200
    assert client.get("/api/v1/program", HTTP_HOST="10.0.0.5:8000").status_code == 400


@pytest.mark.django_db
def test_an_unreachable_throttle_cache_lets_requests_through(shop_client, member):
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with override_settings(CACHES=unreachable):
        minted = shop_client.post(f"/api/v1/members/{member.external_id}/token")
        missed = shop_client.get("/api/v1/vouchers/NOPE")
        refused = APIClient(REMOTE_ADDR="198.51.100.11")
        refused.credentials(HTTP_AUTHORIZATION="Api-Key wrong.key")
        bad_key = refused.get("/api/v1/members/x")

    assert minted.status_code == 201
    assert missed.status_code == 404
    assert bad_key.status_code == 401


# --- forwarded headers --------------------------------------------------------------------


@pytest.mark.parametrize("remote_addr, secure", [("127.0.0.1", True), ("198.51.100.20", False)])
@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy(rf, remote_addr, secure):
    from django.http import HttpResponse

    from loyalty_engine.serving import ForwardedHeadersMiddleware

    request = rf.get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_PROTO="https")
    middleware = ForwardedHeadersMiddleware(lambda r: HttpResponse(str(r.is_secure())))

    assert middleware(request).content.decode() == str(secure)
