from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from members.models import Member
from tests.conftest import earn, member_client_for

pytestmark = pytest.mark.django_db


def test_enroll_returns_the_member_with_an_empty_balance(shop_client, program):
    response = shop_client.post(
        "/api/v1/members",
        {
            "external_id": "c-1",
            "email": "ann@example.com",
            "name": "Ann",
            "birth_date": "1990-02-28",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["external_id"] == "c-1" and body["status"] == "active"
    assert body["tier"] is None
    assert body["balance"] == {
        "available": 0,
        "pending": 0,
        "held": 0,
        "owed": 0,
        "lifetime_earned": 0,
    }


def test_enrolling_an_existing_external_id_is_409(shop_client, member):
    response = shop_client.post(
        "/api/v1/members", {"external_id": member.external_id}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "member_exists"
    assert Member.objects.count() == 1


def test_get_member_shows_balances(shop_client, shop, member):
    earn(shop, member, "12.00")
    body = shop_client.get(f"/api/v1/members/{member.external_id}").json()
    assert body["balance"]["available"] == 12 and body["balance"]["lifetime_earned"] == 12


def test_unknown_member_is_404(shop_client, db):
    response = shop_client.get("/api/v1/members/nobody")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "member_not_found"


def test_token_lets_the_member_read_their_own_profile(shop_client, member):
    minted = shop_client.post(f"/api/v1/members/{member.external_id}/token")
    assert minted.status_code == 201
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {minted.json()['token']}")
    assert client.get("/api/v1/me").json()["external_id"] == member.external_id


def test_member_balance_lists_expiring_points_soonest_first(shop, member):
    now = timezone.now()
    earn(shop, member, "5.00", occurred_at=now - timedelta(days=60))
    earn(shop, member, "7.00", occurred_at=now - timedelta(days=300))
    earn(shop, member, "3.00", occurred_at=now - timedelta(days=59))
    body = member_client_for(member).get("/api/v1/me/balance").json()
    assert body["available"] == 15 and body["owed"] == 0
    assert body["expiring"][0]["points"] == 7
    dates = [group["expires_at"] for group in body["expiring"]]
    assert dates == sorted(dates)
    assert sum(group["points"] for group in body["expiring"]) == 15


def test_points_past_expiry_but_not_yet_expired_are_listed_with_their_date(shop, member):
    long_ago = timezone.now() - timedelta(days=500)
    earn(shop, member, "7.00", occurred_at=long_ago, as_of=long_ago)
    body = member_client_for(member).get("/api/v1/me/balance").json()
    assert body["available"] == 7
    assert body["expiring"][0]["points"] == 7
    assert body["expiring"][0]["expires_at"] < timezone.now().isoformat()


def test_member_transactions_are_newest_first_with_descriptions(shop, member):
    earn(shop, member, "5.00", order_id="first")
    earn(shop, member, "7.00", order_id="second")
    body = member_client_for(member).get("/api/v1/me/transactions").json()
    assert [row["points"] for row in body["results"]] == [7, 5]
    assert "second" in body["results"][0]["description"]


def test_member_transactions_are_paginated(shop, member):
    for index in range(5):
        earn(shop, member, "1.00", order_id=f"o-{index}")
    client = member_client_for(member)
    first = client.get("/api/v1/me/transactions?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = client.get(first["next"]).json()
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in second["results"]})


def test_a_member_never_sees_another_members_entries(shop, member):
    from tests.factories import MemberFactory

    other = MemberFactory()
    earn(shop, other, "99.00")
    earn(shop, member, "1.00")
    body = member_client_for(member).get("/api/v1/me/transactions").json()
    assert [row["points"] for row in body["results"]] == [1]
    assert member_client_for(member).get("/api/v1/me/balance").json()["available"] == 1


def test_suspended_member_gets_no_token(shop_client, member):
    member.status = Member.Status.SUSPENDED
    member.save()
    response = shop_client.post(f"/api/v1/members/{member.external_id}/token")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "member_not_active"


def test_the_balance_read_takes_a_pinned_number_of_queries(shop, member, django_assert_num_queries):
    client = member_client_for(member)
    # A member without points: the token's member only (no lot can hold a point).
    with django_assert_num_queries(1):
        assert client.get("/api/v1/me/balance").json()["expiring"] == []
    earn(shop, member, "25.00")
    # With points: the member, and their lots grouped by expiry (on PostgreSQL in the same
    # statement, a LATERAL join).
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        assert client.get("/api/v1/me/balance").json()["available"] == 25
