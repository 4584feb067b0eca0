"""GET /api/v1/events: ordered, cursor-paginated, for shops and staff."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from loyalty_engine.events.models import Event
from tests.conftest import earn, member_client_for
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def settled(settings):
    settings.EVENTS_FEED_SETTLE_SECONDS = 0


def many_events(count: int, member) -> None:
    old = datetime.now(UTC) - timedelta(minutes=1)
    Event.objects.bulk_create(
        Event(
            type="points.earned" if n % 3 else "points.redeemed",
            member=member,
            data={"n": n},
            occurred_at=old,
            created_at=old,
        )
        for n in range(count)
    )


def test_the_feed_pages_through_10000_events_without_gap_or_duplicate(shop_client, member):
    many_events(10_000, member)
    seen, cursor, pages = [], "0", 0
    while True:
        response = shop_client.get("/api/v1/events", {"after": cursor, "limit": 1000})
        assert response.status_code == 200
        body = response.json()
        seen += [event["data"]["n"] for event in body["events"]]
        cursor, pages = body["next_cursor"], pages + 1
        if not body["has_more"]:
            break
    assert seen == list(range(10_000))
    assert pages == 10
    # Polling at the end returns nothing new and keeps the cursor.
    tail = shop_client.get("/api/v1/events", {"after": cursor}).json()
    assert tail["events"] == [] and tail["next_cursor"] == cursor


def test_the_feed_filters_by_type(shop_client, member):
    many_events(30, member)
    body = shop_client.get("/api/v1/events", {"types": "points.redeemed", "limit": 1000}).json()
    assert {event["type"] for event in body["events"]} == {"points.redeemed"}
    assert len(body["events"]) == 10


def test_the_feed_shows_an_event_once_it_settled(shop, shop_client, member, settings):
    settings.EVENTS_FEED_SETTLE_SECONDS = 60
    earn(shop, member, "10.00")
    assert shop_client.get("/api/v1/events").json()["events"] == []
    settings.EVENTS_FEED_SETTLE_SECONDS = 0
    [event] = shop_client.get("/api/v1/events").json()["events"]
    assert event["type"] == "points.earned"
    assert event["member"] == {"external_id": member.external_id}


def test_every_shop_sees_every_members_events(settled, shop, member):
    from members.services import shop_api_key_create

    other = MemberFactory()
    earn(shop, member, "10.00")
    earn(shop, other, "10.00")
    _, key = shop_api_key_create(shop_name="Another shop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    members = {e["member"]["external_id"] for e in client.get("/api/v1/events").json()["events"]}
    assert members == {member.external_id, other.external_id}


def test_staff_read_the_feed_with_a_token(settled, shop, member, django_user_model):
    earn(shop, member, "10.00")
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    assert len(client.get("/api/v1/events").json()["events"]) == 1


def test_members_non_staff_and_anonymous_callers_are_refused(member, django_user_model):
    assert APIClient().get("/api/v1/events").status_code in (401, 403)
    assert member_client_for(member).get("/api/v1/events").status_code in (401, 403)
    user = django_user_model.objects.create_user("clerk")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.get("/api/v1/events").status_code == 403


@pytest.mark.parametrize(
    "params, field",
    [
        ({"after": "abc"}, "after"),
        ({"after": "-1"}, "after"),
        ({"after": str(2**64)}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"types": "points.stolen"}, "types"),
    ],
)
def test_bad_feed_parameters_are_400_naming_the_field(shop_client, params, field):
    response = shop_client.get("/api/v1/events", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
