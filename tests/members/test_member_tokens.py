"""A member token works only while its member is active, and only from when it was
minted (issue 13)."""

import time

import pytest
from django.core import signing
from rest_framework.test import APIClient

from members.services import MEMBER_TOKEN_SALT, member_reactivate, member_suspend
from tests.conftest import member_client_for

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def token_dated(member, seconds_from_now: int) -> str:
    """A correctly signed token whose timestamp lies `seconds_from_now` away."""

    class DatedSigner(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) + seconds_from_now)

    return DatedSigner(salt=MEMBER_TOKEN_SALT).sign_object({"m": member.pk}, compress=True)


def test_a_token_stops_working_the_moment_its_member_is_suspended(member):
    client = member_client_for(member)
    assert client.get("/api/v1/me/balance").status_code == 200

    member_suspend(member=member, reason="chargeback under review")

    response = client.get("/api/v1/me/balance")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert "not active" in response.json()["error"]["message"]


def test_a_token_minted_before_a_suspension_works_again_after_reactivation(member):
    client = member_client_for(member)
    member_suspend(member=member, reason="check")
    assert client.get("/api/v1/me").status_code == 401
    member_reactivate(member=member, reason="cleared")
    assert client.get("/api/v1/me").status_code == 200


def test_a_token_of_an_erased_member_is_refused(member):
    from members.services import member_erase

    client = member_client_for(member)
    member_erase(member=member, reason="GDPR request")
    assert client.get("/api/v1/me/vouchers").status_code == 401


def test_a_token_dated_in_the_future_is_refused(member):
    response = bearer(token_dated(member, 3600)).get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_token_dated_a_few_seconds_ahead_is_clock_skew_and_accepted(member):
    assert bearer(token_dated(member, 2)).get("/api/v1/me").status_code == 200


def test_an_expired_token_is_refused(member, settings):
    token = token_dated(member, -settings.MEMBER_TOKEN_TTL_SECONDS - 5)
    assert bearer(token).get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("url", "header", "expected"),
    [
        ("/api/v1/me", "Api-Key abc", "member token"),
        ("/api/v1/me", "Token abc", "member token"),
        ("/api/v1/members/x", "Bearer abc", "API key"),
        ("/api/v1/members/x", "Token abc", "API key"),
        ("/api/v1/metrics/kpis", "Api-Key abc", "staff token"),
        ("/api/v1/metrics/kpis", "Bearer abc", "staff token"),
    ],
)
def test_a_credential_of_the_wrong_kind_gets_a_message_that_says_so(url, header, expected):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(url)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert expected in error["message"]
    assert "another kind" in error["message"]
