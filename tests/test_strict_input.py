"""Identifiers and numbers are strict (issue 13): what only Python would parse is refused
with 400 validation_error naming the field, and nothing is written."""

import json
from urllib.parse import quote

import pytest

from members.models import Member
from metrics.models import Feedback
from rewards.models import LedgerEntry, Purchase, Redemption, Refund, Voucher
from tests.conftest import earn

pytestmark = pytest.mark.django_db

# One per refused rule: `/`, and a character of each refused Unicode category.
BAD_IDENTIFIERS = {
    "slash": "a/b",
    "Cc-NEL": "a\x85b",
    "Cc-DEL": "a\x7fb",
    "Cf-bidi-override": "a\u202eb",
    "Cf-zero-width-space": "a\u200bb",
    "Cf-byte-order-mark": "\ufeffab",
    "Co-private-use": "a\ue000b",
    "Cs-lone-surrogate": "a\ud800b",
    "Cn-unassigned": "a\u0378b",
    "Zl-line-separator": "a\u2028b",
    "Zp-paragraph-separator": "a\u2029b",
}
bad_identifiers = pytest.mark.parametrize(
    "value", list(BAD_IDENTIFIERS.values()), ids=list(BAD_IDENTIFIERS)
)

# Numbers Python parses and the API must not.
BAD_AMOUNTS = {
    "underscore": "1_000",
    "exponent": "1E+2",
    "lower-exponent": "1e2",
    "full-width": "\uff11\uff12",
    "arabic-indic": "\u0661\u0662",
    "leading-space": " 12",
    "trailing-space": "12 ",
    "plus-sign": "+12",
    "trailing-dot": "12.",
    "leading-dot": ".5",
}
BAD_INTEGERS = {
    "underscore": "1_0",
    "exponent": "1E+1",
    "full-width": "\uff11\uff10",
    "arabic-indic": "\u0661\u0660",
    "leading-space": " 10",
    "trailing-space": "10 ",
    "decimal-string": "10.0",
    "float": 10.0,
    "boolean": True,
}
BAD_DATES = {
    "full-width": "\uff12\uff10\uff10\uff10-01-01",
    "arabic-indic": "\u0662\u0660\u0660\u0660-01-01",
    "leading-space": " 2000-01-01",
    "trailing-space": "2000-01-01 ",
    "compact": "20000101",
    "datetime": "2000-01-01T00:00:00Z",
}
BAD_DATETIMES = {
    "full-width": "\uff12\uff10\uff12\uff14-01-01T10:00:00Z",
    "arabic-indic-hour": "2024-01-01T\u0661\u0660:00:00Z",
    "leading-space": " 2024-01-01T10:00:00Z",
    "trailing-space": "2024-01-01T10:00:00Z ",
    "date-only": "2024-01-01",
    "week-date": "2024-W01-1T10:00:00Z",
}


def params(cases: dict):
    return pytest.mark.parametrize("value", list(cases.values()), ids=list(cases))


def written() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Member, Purchase, Refund, Redemption, LedgerEntry, Voucher, Feedback)
    }


def post_json(client, url: str, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def assert_refused(response, field: str, code: str = "validation_error"):
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == code, error
    assert field in error["fields"], error
    assert all({"code", "message"} <= set(p) for p in error["fields"][field])


@pytest.fixture
def funded(shop, member):
    earn(shop, member, "500.00", order_id="FUND-1")
    return member


# --- identifiers -------------------------------------------------------------------------


@bad_identifiers
def test_enrolling_with_a_bad_external_id_is_refused(shop_client, value):
    before = written()
    response = post_json(shop_client, "/api/v1/members", {"external_id": value})
    assert_refused(response, "external_id")
    assert written() == before


@bad_identifiers
def test_a_purchase_with_a_bad_order_id_is_refused(shop_client, member, value):
    before = written()
    body = {"member": member.external_id, "order_id": value, "amount": "10.00", "currency": "EUR"}
    assert_refused(post_json(shop_client, "/api/v1/purchases", body), "order_id")
    assert written() == before


@bad_identifiers
def test_a_purchase_for_a_bad_member_id_is_refused(shop_client, value):
    before = written()
    body = {"member": value, "order_id": "O-1", "amount": "10.00", "currency": "EUR"}
    assert_refused(post_json(shop_client, "/api/v1/purchases", body), "member")
    assert written() == before


@bad_identifiers
def test_a_refund_with_a_bad_refund_id_is_refused(shop_client, shop, member, value):
    earn(shop, member, "100.00", order_id="R-ORDER")
    before = written()
    body = {"refund_id": value, "amount": "10.00"}
    response = post_json(shop_client, "/api/v1/purchases/R-ORDER/refunds", body)
    assert_refused(response, "refund_id")
    assert written() == before


@bad_identifiers
def test_a_redemption_with_a_bad_order_id_is_refused(shop_client, funded, value):
    before = written()
    body = {"member": funded.external_id, "points": 10, "order_id": value}
    response = post_json(shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY="K-1")
    assert_refused(response, "order_id")
    assert written() == before


# A header value travels as latin-1: only its characters can reach the server.
@pytest.mark.parametrize(
    "value", ["a/b", "a\x85b", "a\x7fb", "a\x9fb"], ids=["slash", "NEL", "DEL", "APC"]
)
def test_a_redemption_with_a_bad_idempotency_key_is_refused(shop_client, funded, value):
    before = written()
    body = {"member": funded.external_id, "points": 10}
    response = post_json(shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY=value)
    # The stable code of an unusable key predates this rule; `fields` names the header.
    assert_refused(response, "Idempotency-Key", code="idempotency_key_required")
    assert written() == before


@bad_identifiers
def test_feedback_with_a_bad_feedback_id_is_refused(shop_client, member, value):
    before = written()
    body = {"member": member.external_id, "kind": "nps", "score": 9, "feedback_id": value}
    assert_refused(post_json(shop_client, "/api/v1/feedback", body), "feedback_id")
    assert written() == before


# In a URL path `/` ends the segment (a different URL), so the path cases are the rest.
PATH_BAD = {k: v for k, v in BAD_IDENTIFIERS.items() if k not in ("slash", "Cs-lone-surrogate")}


@pytest.mark.parametrize("value", list(PATH_BAD.values()), ids=list(PATH_BAD))
def test_reading_a_member_by_a_bad_external_id_is_refused(shop_client, value):
    response = shop_client.get(f"/api/v1/members/{quote(value)}")
    assert_refused(response, "external_id")


@pytest.mark.parametrize("value", list(PATH_BAD.values()), ids=list(PATH_BAD))
def test_checking_a_bad_voucher_code_is_refused(shop_client, value):
    response = shop_client.get(f"/api/v1/vouchers/{quote(value)}")
    assert_refused(response, "code")


@pytest.mark.parametrize("value", list(PATH_BAD.values()), ids=list(PATH_BAD))
def test_refunding_a_bad_order_id_is_refused(shop_client, value):
    before = written()
    body = {"refund_id": "RF-1", "amount": "1.00"}
    response = post_json(shop_client, f"/api/v1/purchases/{quote(value)}/refunds", body)
    assert_refused(response, "order_id")
    assert written() == before


def test_an_identifier_with_ordinary_unicode_is_accepted(shop_client):
    response = post_json(shop_client, "/api/v1/members", {"external_id": "kund-Åsa-東京 1"})
    assert response.status_code == 201, response.content
    assert shop_client.get(f"/api/v1/members/{quote('kund-Åsa-東京 1')}").status_code == 200


# --- numbers -----------------------------------------------------------------------------


@params(BAD_AMOUNTS)
def test_a_purchase_amount_out_of_format_is_refused(shop_client, member, value):
    before = written()
    body = {"member": member.external_id, "order_id": "O-1", "amount": value, "currency": "EUR"}
    assert_refused(post_json(shop_client, "/api/v1/purchases", body), "amount")
    assert written() == before


@params(BAD_AMOUNTS)
def test_a_line_quantity_or_price_out_of_format_is_refused(shop_client, member, value):
    body = {
        "member": member.external_id,
        "order_id": "O-1",
        "amount": "10.00",
        "currency": "EUR",
        "lines": [{"sku": "A", "quantity": value, "unit_price": "10.00"}],
    }
    assert_refused(post_json(shop_client, "/api/v1/purchases", body), "lines.0.quantity")
    body["lines"] = [{"sku": "A", "quantity": "1", "unit_price": value}]
    assert_refused(post_json(shop_client, "/api/v1/purchases", body), "lines.0.unit_price")
    assert not Purchase.objects.exists()


@params(BAD_AMOUNTS)
def test_a_refund_amount_out_of_format_is_refused(shop_client, shop, member, value):
    earn(shop, member, "100.00", order_id="R-ORDER")
    before = written()
    body = {"refund_id": "RF-1", "amount": value}
    assert_refused(post_json(shop_client, "/api/v1/purchases/R-ORDER/refunds", body), "amount")
    assert written() == before


@params(BAD_INTEGERS)
def test_redemption_points_out_of_format_are_refused(shop_client, funded, value):
    before = written()
    body = {"member": funded.external_id, "points": value}
    response = post_json(shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY="K-1")
    assert_refused(response, "points")
    assert written() == before


@params(BAD_INTEGERS)
def test_a_reward_id_out_of_format_is_refused(shop_client, funded, value):
    body = {"member": funded.external_id, "reward_id": value}
    response = post_json(shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY="K-1")
    assert_refused(response, "reward_id")


@params(BAD_INTEGERS)
def test_a_feedback_score_out_of_format_is_refused(shop_client, member, value):
    body = {"member": member.external_id, "kind": "nps", "score": value}
    assert_refused(post_json(shop_client, "/api/v1/feedback", body), "score")
    assert not Feedback.objects.exists()


@params(BAD_DATES)
def test_a_birth_date_out_of_format_is_refused(shop_client, value):
    body = {"external_id": "ann-1", "birth_date": value}
    assert_refused(post_json(shop_client, "/api/v1/members", body), "birth_date")
    assert not Member.objects.filter(external_id="ann-1").exists()


@params(BAD_DATETIMES)
def test_a_purchase_time_out_of_format_is_refused(shop_client, member, value):
    body = {
        "member": member.external_id,
        "order_id": "O-1",
        "amount": "10.00",
        "currency": "EUR",
        "occurred_at": value,
    }
    assert_refused(post_json(shop_client, "/api/v1/purchases", body), "occurred_at")
    assert not Purchase.objects.exists()


@params(BAD_DATETIMES)
def test_a_feedback_time_out_of_format_is_refused(shop_client, member, value):
    body = {"member": member.external_id, "kind": "csat", "score": 4, "answered_at": value}
    assert_refused(post_json(shop_client, "/api/v1/feedback", body), "answered_at")


@params(BAD_DATES)
def test_a_kpi_query_date_out_of_format_is_refused(value):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.conftest import staff_user_in

    token = Token.objects.create(user=staff_user_in("Program manager"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = client.get("/api/v1/metrics/kpis", {"from": value})
    assert_refused(response, "from")


@pytest.mark.parametrize("value", ["\u0661\u0660", " 10", "1_0", "1e1"])
def test_a_page_size_out_of_format_is_refused(member_client, value):
    response = member_client.get("/api/v1/me/transactions", {"page_size": value})
    assert_refused(response, "page_size")


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "42.50"},
        {"amount": 42},
        {"amount": "42", "occurred_at": "2024-05-01T12:00:00Z"},
        {"amount": "42.5", "occurred_at": "2024-05-01T14:00:00+02:00"},
        {"amount": "42.50", "lines": [{"sku": "A", "quantity": "2", "unit_price": "21.25"}]},
    ],
    ids=["string", "json-integer", "utc-time", "offset-time", "lines"],
)
def test_numbers_in_the_documented_format_are_accepted(shop_client, member, body):
    body = {"member": member.external_id, "order_id": "O-1", "currency": "EUR", **body}
    response = post_json(shop_client, "/api/v1/purchases", body)
    assert response.status_code == 201, response.content


def test_points_as_a_json_integer_or_a_digit_string_are_accepted(shop_client, funded):
    for key, points in (("K-1", 10), ("K-2", "10")):
        body = {"member": funded.external_id, "points": points}
        response = post_json(shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code == 201, response.content
