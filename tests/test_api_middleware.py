"""A shop's or member's API call takes settings.API_MIDDLEWARE; everything else MIDDLEWARE
(loyalty_engine/middleware.py, issue 18)."""

import pytest
from django.conf import settings
from django.urls import Resolver404
from rest_framework.test import APIClient

from loyalty_engine.middleware import ApiCallMiddleware


def test_the_api_chain_is_the_full_chain_in_the_same_order_without_the_browsers_parts():
    full = settings.MIDDLEWARE
    api = settings.API_MIDDLEWARE
    assert full.index("loyalty_engine.middleware.ApiCallMiddleware") < full.index(api[0])
    assert [m for m in full if m in api] == api
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in api
    assert "django.middleware.csrf.CsrfViewMiddleware" not in api
    assert "django.contrib.auth.middleware.AuthenticationMiddleware" not in api


@pytest.mark.django_db
def test_a_shops_call_takes_the_api_chain(shop_client, member):
    response = shop_client.get(f"/api/v1/members/{member.external_id}")

    assert response.status_code == 200, response.content
    # What the API chain keeps: security headers, the language, the length.
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Language"] == "en"
    assert int(response["Content-Length"]) == len(response.content)
    # What only the full chain adds.
    assert not response.has_header("X-Frame-Options")


@pytest.mark.django_db
def test_a_members_call_takes_the_api_chain(member_client):
    response = member_client.get("/api/v1/me/balance")

    assert response.status_code == 200, response.content
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not response.has_header("X-Frame-Options")


@pytest.mark.django_db
def test_calls_without_a_shop_or_member_credential_take_the_full_chain(member, admin_client):
    anonymous = APIClient().get("/api/v1/me/balance")
    assert anonymous.status_code == 401
    assert anonymous["X-Frame-Options"] == "DENY"

    # Staff on the API with their session: the session and CSRF middleware are needed.
    staff = admin_client.get("/api/v1/events")
    assert staff.status_code == 200, staff.content
    assert staff["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_an_unknown_api_url_with_a_credential_gets_the_json_404(shop_client):
    response = shop_client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not response.has_header("X-Frame-Options")


def test_only_the_api_prefix_with_an_api_key_or_bearer_credential_is_diverted(rf):
    seen = []
    middleware = ApiCallMiddleware(lambda request: seen.append(request.path) or "full")
    middleware.api_chain = lambda request: "api"

    def route(path, authorization=None):
        headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
        return middleware(rf.get(path, **headers))

    assert route("/api/v1/me/balance", "Bearer abc") == "api"
    assert route("/api/v1/purchases", "Api-Key abc.def") == "api"
    assert route("/api/v1/events", "Token abc") == "full"
    assert route("/api/v1/me/balance") == "full"
    assert route("/admin/", "Bearer abc") == "full"
    assert route("/api/schema/", "Api-Key abc.def") == "full"
    assert seen == ["/api/v1/events", "/api/v1/me/balance", "/admin/", "/api/schema/"]


# --- content negotiation (loyalty_engine.parsers.JsonContentNegotiation) -------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "application/json", "application/json; indent=2", "text/html, */*;q=0.8"],
)
def test_accept_headers_that_take_json_get_json(member_client, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = member_client.get("/api/v1/me/balance", **headers)

    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert "available" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["text/html", "application/xml"])
def test_an_accept_header_that_refuses_json_gets_406(member_client, accept):
    response = member_client.get("/api/v1/me/balance", HTTP_ACCEPT=accept)

    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"


@pytest.mark.django_db
def test_a_format_the_view_does_not_render_is_404(member_client):
    # DRF's answer to ?format= naming no renderer, kept by the shortcut.
    assert member_client.get("/api/v1/me/balance?format=xml").status_code == 404
    assert member_client.get("/api/v1/me/balance?format=json").status_code == 200


# --- URL resolution on the API chain ------------------------------------------------------


@pytest.mark.django_db
def test_each_api_path_resolves_to_its_own_view_and_arguments(shop, shop_client):
    from tests.factories import MemberFactory

    first, second = MemberFactory(), MemberFactory()
    for member in (first, second, first):
        response = shop_client.get(f"/api/v1/members/{member.external_id}")
        assert response.status_code == 200, response.content
        assert response.json()["external_id"] == member.external_id
        assert response.wsgi_request.resolver_match.kwargs == {"external_id": member.external_id}
    assert shop_client.get("/api/v1/members/nobody").status_code == 404


def test_a_new_url_configuration_is_resolved_afresh(settings):
    from django.urls import get_resolver

    from loyalty_engine.middleware import _resolved

    before = _resolved(get_resolver(), "/api/v1/purchases")
    assert _resolved(get_resolver(), "/api/v1/purchases") is before
    settings.ROOT_URLCONF = "tests.urls_other"
    with pytest.raises(Resolver404):
        _resolved(get_resolver(), "/api/v1/purchases")
    assert _resolved(get_resolver(), "/api/v1/other").url_name == "other"
