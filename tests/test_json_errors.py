"""Every 404, 405 and 415 of the API is the JSON error envelope, with DEBUG on as off;
the admin keeps its HTML pages (issue 13)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def assert_envelope(response, status: int, code: str):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["fields"] == {}


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nowhere", "/nowhere", "/api/v1/members/a%2Fb", "/api/v1/vouchers/x/y/z"],
)
def test_an_unknown_url_is_a_json_404(client, debug, path):
    assert_envelope(client.get(path), 404, "not_found")


def test_a_method_a_view_does_not_take_is_a_json_405(shop_client, debug):
    response = shop_client.delete("/api/v1/members")
    assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_a_body_that_is_not_json_is_a_json_415(shop_client, debug):
    response = shop_client.post("/api/v1/members", "external_id=a", content_type="text/plain")
    assert_envelope(response, 415, "unsupported_media_type")


def test_the_admin_keeps_its_html_pages(client, debug):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    response = client.get("/admin/no-such-page/")
    assert not response["Content-Type"].startswith("application/json")
