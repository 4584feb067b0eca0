"""Malformed, hostile and unauthorized requests: each gets a 4xx with the error envelope
{"error": {"code", "message", "fields"}} and writes nothing. A 500 is a bug."""

import json
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from unittest import mock
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core import signing
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from members.models import Member
from members.services import member_token_issue, shop_api_key_create
from metrics.models import Feedback
from rewards.models import LedgerEntry, Purchase, Redemption, Refund, Reward, Voucher
from rewards.services.redemptions import redemption_create
from tests.conftest import earn, member_client_for
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MISSING = object()  # an override that removes the field from the body
UNKNOWN_REDEMPTION = "6f1c3a52-8d0e-4b7a-9c2e-1f0a7b3d5e99"  # fixed, so test ids are stable


def tomorrow() -> str:
    return (timezone.now() + timedelta(days=1)).isoformat()


def future_date() -> str:
    return (timezone.localdate() + timedelta(days=1)).isoformat()


def written() -> dict[str, int]:
    """Row counts of everything a request could write."""
    return {
        model.__name__: model.objects.count()
        for model in (Member, Purchase, Refund, Redemption, LedgerEntry, Voucher, Feedback)
    }


def post_json(client, url: str, body, **headers):
    # json.dumps here rather than format="json": it lets a test send lists, strings and
    # escaped control characters exactly as a client would.
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def with_overrides(body: dict, overrides: dict) -> dict:
    body = dict(body)
    for key, value in overrides.items():
        if value is MISSING:
            body.pop(key, None)
        else:
            body[key] = value() if callable(value) else value
    return body


def case_id(case) -> str:
    overrides, field, field_code = case
    shown = ", ".join(
        f"{key}=missing"
        if value is MISSING
        else f"{key}={value.__name__}()"
        if callable(value)
        else f"{key}={value!r}"[:40]
        for key, value in overrides.items()
    )
    return f"{shown} -> {field}:{field_code}"


def assert_error(response, status: int, code: str, field: str | None = None, field_code=None):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if field is not None:
        assert field in error["fields"], error["fields"]
        problems = error["fields"][field]
        assert problems and all({"code", "message"} <= set(p) for p in problems)
        if field_code is not None:
            assert field_code in [p["code"] for p in problems], problems


@pytest.fixture
def funded(shop, member):
    """The member has 100 available points from order A-1, so a request that wrongly
    passed validation would have something to write."""
    earn(shop, member, "100.00", order_id="A-1")
    return member


@pytest.fixture
def before(funded):
    return written()


# --- purchases ------------------------------------------------------------------------

PURCHASE_CASES = [
    # amount
    ({"amount": "-1"}, "amount", "min_value"),
    ({"amount": "0"}, "amount", "min_value"),
    ({"amount": "0.00"}, "amount", "min_value"),
    ({"amount": "ten"}, "amount", "invalid"),
    ({"amount": ""}, "amount", "invalid"),
    ({"amount": "NaN"}, "amount", "invalid"),
    ({"amount": "Infinity"}, "amount", "invalid"),
    ({"amount": "-Infinity"}, "amount", "invalid"),
    ({"amount": "1e30"}, "amount", "max_digits"),
    ({"amount": 1e30}, "amount", "max_digits"),
    ({"amount": "1" * 1001}, "amount", "max_string_length"),
    ({"amount": "1.001"}, "amount", "too_many_decimals"),
    ({"amount": "1.00001"}, "amount", "max_decimal_places"),
    ({"amount": [10]}, "amount", "invalid"),
    ({"amount": {"value": "10"}}, "amount", "invalid"),
    ({"amount": True}, "amount", "invalid"),
    ({"amount": None}, "amount", "null"),
    ({"amount": MISSING}, "amount", "required"),
    # currency
    ({"currency": "XYZ"}, "currency", "unknown_currency"),
    ({"currency": "eur"}, "currency", "unknown_currency"),
    ({"currency": "EURO"}, "currency", "max_length"),
    ({"currency": ""}, "currency", "blank"),
    ({"currency": 978}, "currency", "unknown_currency"),
    ({"currency": MISSING}, "currency", "required"),
    # order_id
    ({"order_id": "x" * 65}, "order_id", "max_length"),
    ({"order_id": "A\x00-2"}, "order_id", "invalid_characters"),
    ({"order_id": "A\n-2"}, "order_id", "invalid_characters"),
    ({"order_id": "A\ud800-2"}, "order_id", "surrogate_characters_not_allowed"),
    ({"order_id": ""}, "order_id", "blank"),
    ({"order_id": ["A-2"]}, "order_id", "invalid"),
    ({"order_id": MISSING}, "order_id", "required"),
    # member
    ({"member": "x" * 65}, "member", "max_length"),
    ({"member": "ab\x00cd"}, "member", "invalid_characters"),
    ({"member": {"external_id": "x"}}, "member", "invalid"),
    ({"member": MISSING}, "member", "required"),
    # occurred_at
    ({"occurred_at": tomorrow}, "occurred_at", "future_date"),
    ({"occurred_at": "garbage"}, "occurred_at", "invalid"),
    ({"occurred_at": "2026-02-30T10:00:00Z"}, "occurred_at", "invalid"),
    ({"occurred_at": "2026-13-01T10:00:00Z"}, "occurred_at", "invalid"),
    ({"occurred_at": "yesterday"}, "occurred_at", "invalid"),
    ({"occurred_at": 1767225600}, "occurred_at", "invalid"),
    ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at", "overflow"),
    ({"occurred_at": "9999-12-31T23:59:59-14:00"}, "occurred_at", "overflow"),
    # lines
    (
        {"lines": [{"sku": "ESP", "quantity": "1", "unit_price": "1.001"}]},
        "lines.0.unit_price",
        "too_many_decimals",
    ),
    (
        {"lines": [{"sku": "ESP", "quantity": "0", "unit_price": "1"}]},
        "lines.0.quantity",
        "min_value",
    ),
    ({"lines": [{"sku": "ESP", "unit_price": "1"}]}, "lines.0.quantity", "required"),
    (
        {"lines": [{"sku": "E\x00", "quantity": "1", "unit_price": "1"}]},
        "lines.0.sku",
        "invalid_characters",
    ),
    ({"lines": [{"quantity": "1", "unit_price": "-1"}]}, "lines.0.unit_price", "min_value"),
    ({"lines": "ESP"}, "lines.non_field_errors", "not_a_list"),
    ({"lines": [1]}, "lines.0.non_field_errors", "invalid"),
    (
        {"lines": [{"quantity": "1", "unit_price": "0"}] * 501},
        "lines.non_field_errors",
        "max_length",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "field", "field_code"), PURCHASE_CASES, ids=[case_id(c) for c in PURCHASE_CASES]
)
def test_purchase_with_bad_field_is_refused(
    shop_client, funded, before, overrides, field, field_code
):
    body = {"member": funded.external_id, "order_id": "A-2", "amount": "25.90", "currency": "EUR"}
    response = post_json(shop_client, "/api/v1/purchases", with_overrides(body, overrides))
    assert_error(response, 400, "validation_error", field, field_code)
    assert written() == before


def test_purchase_for_unknown_member_is_404(shop_client, before):
    body = {"member": "nobody", "order_id": "A-2", "amount": "25.90", "currency": "EUR"}
    assert_error(post_json(shop_client, "/api/v1/purchases", body), 404, "member_not_found")
    assert written() == before


@pytest.mark.parametrize("program_timezone", ["UTC", "America/New_York"])
def test_purchase_dated_in_year_one_is_refused(
    shop_client, funded, before, program, program_timezone
):
    # A date two thousand years back is a data error, not history. West of UTC it also
    # fell outside datetime's range when the lot's expiry was computed (a 500).
    program.timezone = program_timezone
    program.save()
    body = {
        "member": funded.external_id,
        "order_id": "A-2",
        "amount": "25.90",
        "currency": "EUR",
        "occurred_at": "0001-01-01T00:00:00Z",
    }
    shop_client.raise_request_exception = False
    response = post_json(shop_client, "/api/v1/purchases", body)
    assert_error(response, 400, "validation_error", "occurred_at", "too_old")
    assert written() == before


# --- refunds --------------------------------------------------------------------------

REFUND_CASES = [
    ({"amount": "-1"}, "amount", "min_value"),
    ({"amount": "0"}, "amount", "min_value"),
    ({"amount": "abc"}, "amount", "invalid"),
    ({"amount": "NaN"}, "amount", "invalid"),
    ({"amount": "1e30"}, "amount", "max_digits"),
    ({"amount": [1]}, "amount", "invalid"),
    ({"amount": MISSING}, "amount", "required"),
    ({"refund_id": "r" * 65}, "refund_id", "max_length"),
    ({"refund_id": "R\x00-1"}, "refund_id", "invalid_characters"),
    ({"refund_id": MISSING}, "refund_id", "required"),
]


@pytest.mark.parametrize(
    ("overrides", "field", "field_code"), REFUND_CASES, ids=[case_id(c) for c in REFUND_CASES]
)
def test_refund_with_bad_field_is_refused(shop_client, before, overrides, field, field_code):
    body = with_overrides({"refund_id": "R-1", "amount": "10.00"}, overrides)
    response = post_json(shop_client, "/api/v1/purchases/A-1/refunds", body)
    assert_error(response, 400, "validation_error", field, field_code)
    assert written() == before


@pytest.mark.parametrize(
    ("order_path", "status", "code", "field"),
    [
        ("x%00y", 400, "validation_error", "order_id"),
        ("x%0Ay", 400, "validation_error", "order_id"),
        ("x" * 65, 400, "validation_error", "order_id"),
        ("nope", 404, "purchase_not_found", None),
    ],
)
def test_refund_of_bad_or_unknown_order_is_refused(
    shop_client, before, order_path, status, code, field
):
    body = {"refund_id": "R-1", "amount": "1.00"}
    response = post_json(shop_client, f"/api/v1/purchases/{order_path}/refunds", body)
    assert_error(response, status, code, field)
    assert written() == before


def test_refund_of_another_shops_order_is_404(before):
    _, other_key = shop_api_key_create(shop_name="Other shop")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    response = post_json(other, "/api/v1/purchases/A-1/refunds", {"refund_id": "R", "amount": "1"})
    assert_error(response, 404, "purchase_not_found")
    assert written() == before


def test_refund_above_the_purchase_amount_is_refused(shop_client, before):
    body = {"refund_id": "R-1", "amount": "100.01"}
    response = post_json(shop_client, "/api/v1/purchases/A-1/refunds", body)
    assert_error(response, 422, "refund_exceeds_purchase")
    assert written() == before


# --- redemptions ----------------------------------------------------------------------

REDEMPTION_CASES = [
    ({"points": "ten"}, "points", "invalid"),
    ({"points": 1.5}, "points", "invalid"),
    ({"points": "1.5"}, "points", "invalid"),
    ({"points": 0}, "points", "min_value"),
    ({"points": -10}, "points", "min_value"),
    ({"points": 10**30}, "points", "max_value"),
    ({"points": True}, "points", "invalid"),
    ({"points": [10]}, "points", "invalid"),
    ({"points": None}, "points", "null"),
    ({"points": MISSING}, "points", "required"),
    ({"hold": "maybe"}, "hold", "invalid"),
    ({"hold": 2}, "hold", "invalid"),
    ({"hold": None}, "hold", "null"),
    ({"member": "x" * 65}, "member", "max_length"),
    ({"member": "ab\x00cd"}, "member", "invalid_characters"),
    ({"member": MISSING}, "member", "required"),
    ({"order_id": "x" * 65}, "order_id", "max_length"),
    ({"order_id": "A\x00-1"}, "order_id", "invalid_characters"),
    # reward_id, instead of points
    ({"points": MISSING, "reward_id": "abc"}, "reward_id", "invalid"),
    ({"points": MISSING, "reward_id": 1.5}, "reward_id", "invalid"),
    ({"points": MISSING, "reward_id": 0}, "reward_id", "min_value"),
    ({"points": MISSING, "reward_id": -1}, "reward_id", "min_value"),
    ({"points": MISSING, "reward_id": 2**63}, "reward_id", "max_value"),
    ({"points": MISSING, "reward_id": 10**30}, "reward_id", "max_value"),
    ({"points": MISSING, "reward_id": True}, "reward_id", "invalid"),
    ({"points": MISSING, "reward_id": [1]}, "reward_id", "invalid"),
    ({"points": MISSING, "reward_id": None}, "reward_id", "null"),
    ({"reward_id": 1}, "reward_id", "points_or_reward"),
    ({"points": MISSING, "reward_id": 1, "hold": True}, "hold", "not_with_reward"),
]


@pytest.mark.parametrize(
    ("overrides", "field", "field_code"),
    REDEMPTION_CASES,
    ids=[case_id(c) for c in REDEMPTION_CASES],
)
def test_redemption_with_bad_field_is_refused(
    shop_client, funded, before, overrides, field, field_code
):
    body = with_overrides({"member": funded.external_id, "points": 10}, overrides)
    response = post_json(shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY="K-1")
    assert_error(response, 400, "validation_error", field, field_code)
    assert written() == before


@pytest.mark.parametrize(
    ("headers", "field_code", "says"),
    [
        ({}, "required", "Send an Idempotency-Key header"),
        ({"HTTP_IDEMPOTENCY_KEY": ""}, "blank", "malformed. The key is empty."),
        (
            {"HTTP_IDEMPOTENCY_KEY": "k" * 129},
            "max_length",
            "malformed. The key is longer than 128 characters.",
        ),
        ({"HTTP_IDEMPOTENCY_KEY": "K\x01-1"}, "invalid_characters", "malformed. An identifier"),
        ({"HTTP_IDEMPOTENCY_KEY": "K/1"}, "invalid_characters", "cannot contain '/'"),
    ],
    ids=["missing", "empty", "129-chars", "control-char", "slash"],
)
def test_redemption_without_a_usable_idempotency_key_is_refused(
    shop_client, funded, before, headers, field_code, says
):
    body = {"member": funded.external_id, "points": 10}
    response = post_json(shop_client, "/api/v1/redemptions", body, **headers)
    # The code predates the rules on a key's characters and stays; the message and
    # `fields` say what is wrong.
    assert_error(response, 400, "idempotency_key_required", "Idempotency-Key", field_code)
    assert says in response.json()["error"]["message"]
    assert written() == before


def test_a_malformed_idempotency_key_is_explained_in_the_readers_language(
    shop_client, funded, before
):
    body = {"member": funded.external_id, "points": 10}
    response = post_json(
        shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY="", HTTP_ACCEPT_LANGUAGE="sv"
    )
    assert_error(response, 400, "idempotency_key_required", "Idempotency-Key", "blank")
    assert response.json()["error"]["message"] == (
        "Idempotency-Key-headern du skickade är felaktig. Nyckeln är tom."
    )


def test_redemption_for_unknown_member_is_404(shop_client, before):
    body = {"member": "nobody", "points": 10}
    response = post_json(shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY="K-1")
    assert_error(response, 404, "member_not_found")
    assert written() == before


def test_redemption_of_unknown_reward_is_404(shop_client, funded, before):
    body = {"member": funded.external_id, "reward_id": 2**63 - 1}
    response = post_json(shop_client, "/api/v1/redemptions", body, HTTP_IDEMPOTENCY_KEY="K-1")
    assert_error(response, 404, "reward_not_found")
    assert written() == before


@pytest.mark.parametrize("action", ["capture", "void", "cancel"])
@pytest.mark.parametrize(
    ("redemption_id", "code"),
    [
        ("not-a-uuid", "not_found"),
        ("12345", "not_found"),
        ("00000000-0000-0000-0000-00000000000g", "not_found"),
        (UNKNOWN_REDEMPTION, "redemption_not_found"),
    ],
)
def test_action_on_bad_or_unknown_redemption_id_is_404(
    shop_client, before, action, redemption_id, code
):
    response = shop_client.post(f"/api/v1/redemptions/{redemption_id}/{action}")
    assert_error(response, 404, code)
    assert written() == before


@pytest.mark.parametrize("action", ["capture", "void", "cancel"])
def test_action_on_another_shops_redemption_is_404(shop_client, funded, action):
    other_shop, _ = shop_api_key_create(shop_name="Other shop")
    held = redemption_create(
        shop=other_shop,
        member_external_id=funded.external_id,
        points=10,
        idempotency_key="K-other",
        hold=True,
        request_hash="hash-other",
    ).record
    before = written()
    response = shop_client.post(f"/api/v1/redemptions/{held.pk}/{action}")
    assert_error(response, 404, "redemption_not_found")
    assert written() == before
    held.refresh_from_db()
    assert held.status == Redemption.Status.HELD


# --- vouchers -------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["", "/use"], ids=["check", "use"])
@pytest.mark.parametrize(
    ("code", "status", "error_code", "field"),
    [
        ("ab%00cd", 400, "validation_error", "code"),
        ("ab%0Acd", 400, "validation_error", "code"),
        ("x" * 65, 400, "validation_error", "code"),
        ("ABCD-EFGH-JKMN-PQRS", 404, "voucher_not_found", None),
        ("not-a-code", 404, "voucher_not_found", None),
        ("%F0%9F%8E%81", 404, "voucher_not_found", None),
        ("%ED%A0%80", 404, "voucher_not_found", None),
    ],
    ids=["nul", "newline", "oversize", "unknown", "malformed", "emoji", "bad-utf8"],
)
def test_bad_or_unknown_voucher_code_is_refused(
    shop_client, before, action, code, status, error_code, field
):
    method = shop_client.post if action else shop_client.get
    response = method(f"/api/v1/vouchers/{code}{action}")
    assert_error(response, status, error_code, field)
    assert written() == before


# --- members --------------------------------------------------------------------------

MEMBER_CASES = [
    ({"external_id": MISSING}, "external_id", "required"),
    ({"external_id": ""}, "external_id", "blank"),
    ({"external_id": None}, "external_id", "null"),
    ({"external_id": "x" * 65}, "external_id", "max_length"),
    ({"external_id": "ab\x00cd"}, "external_id", "invalid_characters"),
    ({"external_id": ["new-1"]}, "external_id", "invalid"),
    ({"name": "n" * 201}, "name", "max_length"),
    ({"name": "Ann\x00"}, "name", "invalid_characters"),
    ({"email": "not-an-email"}, "email", "invalid"),
    ({"email": "a@b@example.com"}, "email", "invalid"),
    ({"birth_date": future_date}, "birth_date", "out_of_range"),
    ({"birth_date": "1899-12-31"}, "birth_date", "out_of_range"),
    ({"birth_date": "garbage"}, "birth_date", "invalid"),
    ({"birth_date": "2000-02-30"}, "birth_date", "invalid"),
    ({"birth_date": 946684800}, "birth_date", "invalid"),
]


@pytest.mark.parametrize(
    ("overrides", "field", "field_code"), MEMBER_CASES, ids=[case_id(c) for c in MEMBER_CASES]
)
def test_enrollment_with_bad_field_is_refused(shop_client, before, overrides, field, field_code):
    body = with_overrides({"external_id": "new-1", "email": "new@example.com"}, overrides)
    response = post_json(shop_client, "/api/v1/members", body)
    assert_error(response, 400, "validation_error", field, field_code)
    assert written() == before


def test_enrolling_a_taken_external_id_is_a_conflict(shop_client, funded, before):
    response = post_json(shop_client, "/api/v1/members", {"external_id": funded.external_id})
    assert_error(response, 409, "member_exists")
    assert written() == before


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "field"),
    [
        ("get", "/api/v1/members/ab%00cd", 400, "validation_error", "external_id"),
        ("get", "/api/v1/members/" + "x" * 65, 400, "validation_error", "external_id"),
        ("get", "/api/v1/members/nobody", 404, "member_not_found", None),
        ("post", "/api/v1/members/ab%00cd/token", 400, "validation_error", "external_id"),
        ("post", "/api/v1/members/nobody/token", 404, "member_not_found", None),
    ],
)
def test_bad_or_unknown_member_in_path_is_refused(
    shop_client, before, method, path, status, code, field
):
    response = getattr(shop_client, method)(path)
    assert_error(response, status, code, field)
    assert written() == before


# --- the body as a whole --------------------------------------------------------------

SHOP_WRITES = [
    "/api/v1/purchases",
    "/api/v1/purchases/A-1/refunds",
    "/api/v1/redemptions",
    "/api/v1/members",
    "/api/v1/feedback",
]


@pytest.mark.parametrize("url", SHOP_WRITES)
@pytest.mark.parametrize(
    "text",
    ['["member", "order_id"]', '"a string"', "42", "null"],
    ids=["array", "string", "number", "null"],
)
def test_body_that_is_not_an_object_is_refused(shop_client, before, url, text):
    response = shop_client.post(
        url, text, content_type="application/json", HTTP_IDEMPOTENCY_KEY="K-1"
    )
    assert_error(response, 400, "validation_error", "non_field_errors")
    assert written() == before


@pytest.mark.parametrize("url", SHOP_WRITES)
@pytest.mark.parametrize(
    "text",
    [b'{"a":', b"{'member': 'x'}", b'{"amount": NaN}', b'{"amount": Infinity}', b"\xff\xfe{}"],
    ids=["truncated", "single-quotes", "bare-nan", "bare-infinity", "not-utf8"],
)
def test_malformed_json_is_refused(shop_client, before, url, text):
    response = shop_client.post(
        url, text, content_type="application/json", HTTP_IDEMPOTENCY_KEY="K-1"
    )
    assert_error(response, 400, "malformed_json")
    assert written() == before


@pytest.mark.parametrize("url", SHOP_WRITES)
@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, '{"a":' * 100_000, "[" * 2_000 + "]" * 2_000],
    ids=["unclosed-arrays", "unclosed-objects", "deep-but-valid"],
)
def test_deeply_nested_json_is_refused(shop_client, before, url, text):
    shop_client.raise_request_exception = False
    response = shop_client.post(
        url, text, content_type="application/json", HTTP_IDEMPOTENCY_KEY="K-1"
    )
    assert_error(response, 400, "malformed_json")
    assert written() == before


@pytest.mark.parametrize("url", SHOP_WRITES)
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
)
def test_body_that_is_not_json_is_415(shop_client, funded, before, url, content_type):
    body = {"member": funded.external_id, "order_id": "A-2", "amount": "1", "currency": "EUR"}
    if content_type == "multipart/form-data":
        response = shop_client.post(url, body, format="multipart", HTTP_IDEMPOTENCY_KEY="K-1")
    else:
        text = "&".join(f"{key}={value}" for key, value in body.items())
        response = shop_client.post(
            url, text, content_type=content_type, HTTP_IDEMPOTENCY_KEY="K-1"
        )
    assert_error(response, 415, "unsupported_media_type")
    assert written() == before


@pytest.mark.parametrize(
    ("url", "field", "body"),
    [
        ("/api/v1/purchases", "order_id", {"amount": "1", "currency": "EUR"}),
        ("/api/v1/members", "name", {"external_id": "new-1"}),
        ("/api/v1/purchases/A-1/refunds", "refund_id", {"amount": "1"}),
        ("/api/v1/redemptions", "order_id", {"points": 1}),
        ("/api/v1/feedback", "comment", {"kind": "nps", "score": 9}),
    ],
)
def test_two_megabyte_field_is_refused(shop_client, funded, before, url, field, body):
    body = {"member": funded.external_id, **body, field: "x" * (2 * 1024 * 1024)}
    response = post_json(shop_client, url, body, HTTP_IDEMPOTENCY_KEY="K-1")
    assert_error(response, 400, "validation_error", field, "max_length")
    assert written() == before


def test_body_above_the_upload_limit_gets_a_json_error(shop_client, funded, before):
    padding = "x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    body = {"member": funded.external_id, "order_id": "A-2", "amount": "1", "currency": "EUR"}
    response = post_json(shop_client, "/api/v1/purchases", {**body, "padding": padding})
    assert_error(response, 413, "request_too_large")
    assert written() == before


# --- feedback -------------------------------------------------------------------------

FEEDBACK_CASES = [
    ({"member": MISSING}, "member", "required"),
    ({"member": "x" * 65}, "member", "max_length"),
    ({"kind": MISSING}, "kind", "required"),
    ({"kind": "ces"}, "kind", "invalid_choice"),
    ({"kind": 1}, "kind", "invalid_choice"),
    ({"score": MISSING}, "score", "required"),
    ({"score": "ten"}, "score", "invalid"),
    ({"score": 5.5}, "score", "invalid"),
    ({"score": None}, "score", "null"),
    ({"score": -1}, "score", "min_value"),
    ({"score": 11}, "score", "max_value"),
    ({"score": 10**30}, "score", "max_value"),
    ({"kind": "csat", "score": 0}, "score", "out_of_range"),
    ({"kind": "csat", "score": 6}, "score", "out_of_range"),
    ({"comment": "bad\x00byte"}, "comment", "invalid_characters"),
    ({"comment": "x" * 2001}, "comment", "max_length"),
    ({"comment": ["a list"]}, "comment", "invalid"),
    ({"answered_at": tomorrow}, "answered_at", "future_date"),
    ({"answered_at": "1999-12-31T23:00:00Z"}, "answered_at", "too_old"),
    ({"answered_at": "yesterday"}, "answered_at", "invalid"),
    ({"feedback_id": "x" * 65}, "feedback_id", "max_length"),
    ({"feedback_id": "a\nb"}, "feedback_id", "invalid_characters"),
]


@pytest.mark.parametrize(
    ("overrides", "field", "field_code"), FEEDBACK_CASES, ids=[case_id(c) for c in FEEDBACK_CASES]
)
def test_feedback_with_bad_field_is_refused(shop_client, before, overrides, field, field_code):
    body = with_overrides({"member": "cust-00001", "kind": "nps", "score": 9}, overrides)
    response = post_json(shop_client, "/api/v1/feedback", body)
    assert_error(response, 400, "validation_error", field, field_code)
    assert written() == before


def test_feedback_for_unknown_member_is_404(shop_client, before):
    body = {"member": "nobody", "kind": "nps", "score": 9}
    assert_error(post_json(shop_client, "/api/v1/feedback", body), 404, "member_not_found")
    assert written() == before


# --- metrics (staff) ------------------------------------------------------------------

METRICS_URLS = ["/api/v1/metrics/kpis", "/api/v1/metrics/kpis.csv"]
KPI_QUERY_CASES = [
    ("granularity=hour", "granularity", "invalid_choice"),
    ("from=2025-13-01", "from", "invalid"),
    ("from=yesterday", "from", "invalid"),
    ("to=2025-02-30", "to", "invalid"),
    ("to=" + "9" * 300, "to", "invalid"),
    ("from=2025-12-31&to=2025-01-01", "from", "from_after_to"),
    ("from=1999-12-31&to=2025-01-01", "from", "out_of_range"),
    ("to=9999-12-31", "to", "out_of_range"),
    ("granularity=day&from=2000-01-01&to=2025-01-01", "from", "range_too_long"),
    ("granularity=week&from=2000-01-01&to=2100-12-31", "from", "range_too_long"),
    ("tier=No%20such%20tier", "tier", "unknown_tier"),
    ("tier=99999999999999999999999", "tier", "unknown_tier"),
    ("tier=%00", "tier", "invalid_characters"),
    ("tier=" + "t" * 51, "tier", "max_length"),
    ("shop=424242", "shop", "unknown_shop"),
    ("shop=Test%20shop&tier=Gold", "shop", "tier_or_shop"),
    ("segment=No%20such%20segment", "segment", "unknown_segment"),
    ("segment=99999999999999999999999", "segment", "unknown_segment"),
    ("segment=%00", "segment", "invalid_characters"),
    ("segment=" + "s" * 201, "segment", "max_length"),
    ("segment=Lapsed&tier=Gold", "segment", "segment_alone"),
    ("segment=Lapsed&shop=Test%20shop", "segment", "segment_alone"),
]


@pytest.fixture
def staff_client(db):
    user = User.objects.create_user("staff", password="s3cret-pass!", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize("url", METRICS_URLS)
@pytest.mark.parametrize(
    ("query", "field", "field_code"), KPI_QUERY_CASES, ids=[c[0][:40] for c in KPI_QUERY_CASES]
)
def test_kpis_with_bad_query_are_refused(staff_client, shop, url, query, field, field_code):
    from members.models import Segment
    from rewards.models import Tier

    Tier.objects.create(name="Gold", rank=1, threshold=0)
    Segment.objects.create(name="Lapsed", conditions=[])
    response = staff_client.get(f"{url}?{query}")
    assert_error(response, 400, "validation_error", field, field_code)


@pytest.mark.parametrize(
    ("query", "field", "field_code"),
    [
        ("from=2025-13-01", "from", "invalid"),
        ("from=2025-06-01&to=2025-01-01", "from", "from_after_to"),
        ("from=1900-01-01", "from", "out_of_range"),
    ],
)
def test_cohorts_with_bad_query_are_refused(staff_client, query, field, field_code):
    response = staff_client.get(f"/api/v1/metrics/cohorts?{query}")
    assert_error(response, 400, "validation_error", field, field_code)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/metrics/kpis",
        "/api/v1/metrics/kpis.csv",
        "/api/v1/metrics/cohorts",
        "/api/v1/metrics/members/someone",
    ],
)
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_metrics_endpoints_are_read_only(staff_client, method, path):
    assert_error(getattr(staff_client, method)(path), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/metrics/kpis",
        "/api/v1/metrics/kpis.csv",
        "/api/v1/metrics/cohorts",
        "/api/v1/metrics/members/someone",
    ],
)
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "not_authenticated"),
        ("Token", "authentication_failed"),
        ("Token not-a-key", "authentication_failed"),
        ("Token \x00", "authentication_failed"),
        ("Basic dXNlcjpwYXNz", "not_authenticated"),
    ],
    ids=["none", "empty-token", "wrong-token", "nul-token", "basic"],
)
def test_metrics_endpoint_without_a_valid_token_is_401(db, path, authorization, code):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.get(path)
    assert_error(response, 401, code)
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "path", ["/api/v1/metrics/kpis", "/api/v1/metrics/cohorts", "/api/v1/metrics/members/x"]
)
def test_shop_key_and_member_token_cannot_read_metrics(shop_client, member_client, path):
    assert_error(shop_client.get(path), 401, "not_authenticated")
    assert_error(member_client.get(path), 401, "not_authenticated")


def test_non_staff_user_cannot_read_metrics(db):
    user = User.objects.create_user("plain", password="s3cret-pass!")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert_error(client.get("/api/v1/metrics/kpis"), 403, "permission_denied")


def test_bad_member_in_metrics_path_is_refused(staff_client):
    assert_error(staff_client.get("/api/v1/metrics/members/nobody"), 404, "member_not_found")
    response = staff_client.get(f"/api/v1/metrics/members/{'x' * 65}")
    assert_error(response, 400, "validation_error", "external_id", "max_length")


# --- routing --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/purchases/", "/api/v1/members/x/y/z", "/api/v2/members"]
)
def test_unknown_url_is_json_404(shop_client, before, method, path):
    assert_error(getattr(shop_client, method)(path), 404, "not_found")
    assert written() == before


def test_request_for_a_foreign_host_gets_a_json_400(shop_client, funded, before):
    body = {"member": funded.external_id, "order_id": "A-2", "amount": "1", "currency": "EUR"}
    response = post_json(shop_client, "/api/v1/purchases", body, HTTP_HOST="evil.example")
    assert_error(response, 400, "bad_request")
    assert written() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/purchases"),
        ("get", "/api/v1/purchases/A-1/refunds"),
        ("get", "/api/v1/redemptions"),
        ("get", "/api/v1/members"),
        ("get", f"/api/v1/redemptions/{UNKNOWN_REDEMPTION}/capture"),
        ("get", "/api/v1/members/x/token"),
        ("get", "/api/v1/vouchers/ABCD-EFGH-JKMN-PQRS/use"),
        ("post", "/api/v1/vouchers/ABCD-EFGH-JKMN-PQRS"),
        ("delete", "/api/v1/vouchers/ABCD-EFGH-JKMN-PQRS"),
        ("delete", "/api/v1/members/x"),
        ("put", "/api/v1/purchases"),
        ("patch", "/api/v1/members/x"),
        ("get", "/api/v1/feedback"),
    ],
)
def test_wrong_method_is_405(shop_client, before, method, path):
    assert_error(getattr(shop_client, method)(path), 405, "method_not_allowed")
    assert written() == before


@pytest.mark.parametrize("method", ["post", "put", "delete"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/me",
        "/api/v1/me/balance",
        "/api/v1/me/transactions",
        "/api/v1/me/rewards",
        "/api/v1/me/vouchers",
    ],
)
def test_member_endpoints_are_read_only(member_client, method, path):
    assert_error(getattr(member_client, method)(path), 405, "method_not_allowed")


# --- authentication -------------------------------------------------------------------

SHOP_ENDPOINTS = [
    ("post", "/api/v1/members"),
    ("get", "/api/v1/members/someone"),
    ("post", "/api/v1/members/someone/token"),
    ("post", "/api/v1/purchases"),
    ("post", "/api/v1/purchases/A-1/refunds"),
    ("post", "/api/v1/redemptions"),
    ("post", f"/api/v1/redemptions/{UNKNOWN_REDEMPTION}/capture"),
    ("get", "/api/v1/vouchers/ABCD-EFGH-JKMN-PQRS"),
    ("post", "/api/v1/vouchers/ABCD-EFGH-JKMN-PQRS/use"),
    ("post", "/api/v1/feedback"),
]
MEMBER_ENDPOINTS = [
    "/api/v1/me",
    "/api/v1/me/balance",
    "/api/v1/me/transactions",
    "/api/v1/me/rewards",
    "/api/v1/me/vouchers",
]


@pytest.mark.parametrize(("method", "path"), SHOP_ENDPOINTS)
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "not_authenticated"),
        ("Basic dXNlcjpwYXNz", "not_authenticated"),
        ("Api-Key", "authentication_failed"),
        ("Api-Key abc.def", "authentication_failed"),
        ("Api-Key " + "k" * 201, "authentication_failed"),
        ("Api-Key \x00", "authentication_failed"),
    ],
    ids=["none", "basic", "empty-key", "wrong-key", "oversize-key", "nul-key"],
)
def test_shop_endpoint_without_a_valid_key_is_401(before, method, path, authorization, code):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = getattr(client, method)(path, {}, format="json")
    assert_error(response, 401, code)
    assert response.has_header("WWW-Authenticate")
    assert written() == before


@pytest.mark.parametrize(("method", "path"), SHOP_ENDPOINTS)
def test_member_token_cannot_call_shop_endpoints(member_client, before, method, path):
    response = getattr(member_client, method)(path, {}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert written() == before


def test_key_of_inactive_shop_is_401(shop_client, shop, funded, before):
    shop.is_active = False
    shop.save()
    body = {"member": funded.external_id, "order_id": "A-2", "amount": "1", "currency": "EUR"}
    assert_error(post_json(shop_client, "/api/v1/purchases", body), 401, "authentication_failed")
    assert written() == before


@pytest.mark.parametrize("path", MEMBER_ENDPOINTS)
def test_shop_key_cannot_call_member_endpoints(shop_client, path):
    assert_error(shop_client.get(path), 401, "not_authenticated")


# --- member tokens --------------------------------------------------------------------


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_member_sees_only_their_own_data(shop):
    alice, bob = MemberFactory(), MemberFactory()
    earn(shop, alice, "10.00", order_id="ALICE-1")
    earn(shop, bob, "70.00", order_id="BOB-1")
    earn(shop, bob, "20.00", order_id="BOB-2")
    client = member_client_for(alice)

    me = client.get("/api/v1/me").json()
    assert me["external_id"] == alice.external_id
    assert me["balance"]["available"] == 10

    balance = client.get("/api/v1/me/balance").json()
    assert (balance["available"], balance["lifetime_earned"]) == (10, 10)

    entries = client.get("/api/v1/me/transactions").json()["results"]
    assert [entry["reference"] for entry in entries] == ["order:ALICE-1"]
    assert set(LedgerEntry.objects.filter(member=alice).values_list("id", flat=True)) == {
        entry["id"] for entry in entries
    }


def test_member_cannot_page_into_another_members_history(shop):
    alice, bob = MemberFactory(), MemberFactory()
    earn(shop, alice, "10.00", order_id="ALICE-1")
    for index in range(3):
        earn(shop, bob, "5.00", order_id=f"BOB-{index}")
    bob_page = member_client_for(bob).get("/api/v1/me/transactions?page_size=1").json()
    # Alice replays Bob's cursor: she still sees her own ledger only.
    response = member_client_for(alice).get(bob_page["next"])
    assert response.status_code == 200
    assert all(entry["reference"] == "order:ALICE-1" for entry in response.json()["results"])


@pytest.mark.parametrize("path", MEMBER_ENDPOINTS)
def test_expired_token_is_401(member, path):
    issued = time.time() - django_settings.MEMBER_TOKEN_TTL_SECONDS - 60
    with mock.patch("time.time", return_value=issued):
        token, _ = member_token_issue(member=member)
    assert_error(bearer(token).get(path), 401, "authentication_failed")


def test_token_just_inside_its_lifetime_is_accepted(member):
    issued = time.time() - django_settings.MEMBER_TOKEN_TTL_SECONDS + 60
    with mock.patch("time.time", return_value=issued):
        token, _ = member_token_issue(member=member)
    assert bearer(token).get("/api/v1/me").status_code == 200


def flip_signature(token: str) -> str:
    payload, _, signature = token.rpartition(":")
    return f"{payload}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


TAMPERINGS = {
    "flipped-signature": flip_signature,
    "truncated": lambda token: token[:-1],
    "extended": lambda token: token + "x",
    "signature-removed": lambda token: token.rpartition(":")[0],
    "other-salt": lambda token: signing.dumps({"m": 1}),
    "other-key": lambda token: signing.dumps({"m": 1}, salt="members.token", key="not-ours"),
    "empty": lambda token: "",
    "nul": lambda token: "\x00",
    "oversize": lambda token: "a" * 5000,
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_tampered_token_is_401(member, tamper):
    token, _ = member_token_issue(member=member)
    response = bearer(tamper(token)).get("/api/v1/me")
    assert_error(response, 401, "authentication_failed")


def test_token_of_suspended_then_erased_member_is_401(member):
    token, _ = member_token_issue(member=member)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.SUSPENDED)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
    for path in MEMBER_ENDPOINTS:
        assert_error(bearer(token).get(path), 401, "authentication_failed")


def test_no_token_is_minted_for_a_suspended_member(shop_client, member):
    Member.objects.filter(pk=member.pk).update(status=Member.Status.SUSPENDED)
    response = shop_client.post(f"/api/v1/members/{member.external_id}/token")
    assert_error(response, 422, "member_not_active")


# --- fuzzing --------------------------------------------------------------------------

FUZZ_MEMBER = "fuzz-member"
FIELD_NAMES = [
    "member",
    "order_id",
    "amount",
    "currency",
    "occurred_at",
    "lines",
    "sku",
    "category",
    "quantity",
    "unit_price",
    "points",
    "hold",
    "external_id",
    "email",
    "name",
    "birth_date",
    "refund_id",
    "reward_id",
    "kind",
    "score",
    "comment",
    "answered_at",
    "feedback_id",
]
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80)
)
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=12)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=12,
)
WILD_BODIES = (
    st.fixed_dictionaries({}, optional={name: JSON_VALUES for name in FIELD_NAMES})
    | st.dictionaries(KEYS, JSON_VALUES, max_size=8)
    | JSON_VALUES
)


def printable(max_size: int):
    return st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=max_size)


def mostly(valid):
    """A valid value three times in four, anything at all otherwise: random bodies alone
    almost never pass validation, so they would never reach the services."""
    return st.sampled_from([valid, valid, valid, JSON_VALUES]).flatmap(lambda strategy: strategy)


def money(places: int):
    small = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1000), places=places)
    large = st.decimals(min_value=Decimal(1), max_value=Decimal("99999999999999.99"), places=places)
    return (small | large).map(str)


PAST_INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.timezones()
).map(datetime.isoformat)
LINES = st.lists(
    st.fixed_dictionaries(
        {
            "quantity": st.decimals(
                min_value=Decimal("0.001"), max_value=Decimal(1000), places=3
            ).map(str),
            "unit_price": mostly(money(2)),
        },
        optional={"sku": mostly(printable(64)), "category": mostly(printable(64))},
    ),
    max_size=4,
)
PURCHASES = st.fixed_dictionaries(
    {
        "member": mostly(st.just(FUZZ_MEMBER)),
        "order_id": mostly(printable(64)),
        "amount": mostly(money(2)),
        "currency": mostly(st.sampled_from(["EUR", "EUR", "USD", "JPY", "BHD"])),
    },
    optional={"occurred_at": mostly(PAST_INSTANTS), "lines": mostly(LINES)},
)
REDEMPTIONS = st.fixed_dictionaries(
    {"member": mostly(st.just(FUZZ_MEMBER)), "points": mostly(st.integers(1, 600))},
    optional={"order_id": mostly(printable(64)), "hold": mostly(st.booleans())},
)
REWARD_REDEMPTIONS = st.fixed_dictionaries(
    {"member": mostly(st.just(FUZZ_MEMBER)), "reward_id": mostly(st.integers(-1, 4))},
    optional={"order_id": mostly(printable(64)), "hold": mostly(st.booleans())},
)
VOUCHER_CODES = st.text(max_size=40) | st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ- ")
ENROLLMENTS = st.fixed_dictionaries(
    {"external_id": mostly(printable(64))},
    optional={
        "email": mostly(st.emails() | st.just("")),
        "name": mostly(printable(200)),
        "birth_date": mostly(st.dates(date(1900, 1, 1), date(2025, 12, 31)).map(str)),
    },
)
REFUNDS = st.fixed_dictionaries({"refund_id": mostly(printable(64)), "amount": mostly(money(2))})
FEEDBACK = st.fixed_dictionaries(
    {
        "member": mostly(st.just(FUZZ_MEMBER)),
        "kind": mostly(st.sampled_from(["nps", "csat"])),
        "score": mostly(st.integers(-2, 12)),
    },
    optional={
        "comment": mostly(st.text(max_size=200)),
        "answered_at": mostly(PAST_INSTANTS),
        "feedback_id": mostly(printable(64)),
    },
)
IDEMPOTENCY_KEYS = st.none() | printable(128) | st.text(st.characters(max_codepoint=255))
ORDER_PATHS = st.just("A-1") | st.text(min_size=1, max_size=70)

FUZZ_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def fuzz_client(shop, shop_client, program):
    member = MemberFactory(external_id=FUZZ_MEMBER)
    earn(shop, member, "500.00", order_id="A-1")
    Reward.objects.create(name="Fuzz mug", points_cost=20, stock=3, per_member_limit=2)
    Reward.objects.create(name="Fuzz cake", points_cost=50)
    # A 500 comes back as a response so the assertion, not the exception, reports it.
    shop_client.raise_request_exception = False
    return shop_client


def assert_handled(response) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["code"]


@FUZZ_SETTINGS
@given(body=PURCHASES | WILD_BODIES)
def test_fuzzed_purchase_never_breaks_the_api(fuzz_client, body):
    assert_handled(post_json(fuzz_client, "/api/v1/purchases", body))


@FUZZ_SETTINGS
@given(body=ENROLLMENTS | WILD_BODIES)
def test_fuzzed_enrollment_never_breaks_the_api(fuzz_client, body):
    assert_handled(post_json(fuzz_client, "/api/v1/members", body))


@FUZZ_SETTINGS
@given(body=REDEMPTIONS | WILD_BODIES, key=IDEMPOTENCY_KEYS)
def test_fuzzed_redemption_never_breaks_the_api(fuzz_client, body, key):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    assert_handled(post_json(fuzz_client, "/api/v1/redemptions", body, **headers))


@FUZZ_SETTINGS
@given(body=REWARD_REDEMPTIONS | WILD_BODIES, key=IDEMPOTENCY_KEYS)
def test_fuzzed_reward_redemption_never_breaks_the_api(fuzz_client, body, key):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    assert_handled(post_json(fuzz_client, "/api/v1/redemptions", body, **headers))


@FUZZ_SETTINGS
@given(code=VOUCHER_CODES, use=st.booleans())
def test_fuzzed_voucher_code_never_breaks_the_api(fuzz_client, code, use):
    url = f"/api/v1/vouchers/{quote(code, safe='')}" + ("/use" if use else "")
    assert_handled(fuzz_client.post(url) if use else fuzz_client.get(url))


@FUZZ_SETTINGS
@given(body=REFUNDS | WILD_BODIES, order_id=ORDER_PATHS)
def test_fuzzed_refund_never_breaks_the_api(fuzz_client, body, order_id):
    url = f"/api/v1/purchases/{quote(order_id, safe='')}/refunds"
    assert_handled(post_json(fuzz_client, url, body))


@FUZZ_SETTINGS
@given(body=FEEDBACK | WILD_BODIES)
def test_fuzzed_feedback_never_breaks_the_api(fuzz_client, body):
    assert_handled(post_json(fuzz_client, "/api/v1/feedback", body))
