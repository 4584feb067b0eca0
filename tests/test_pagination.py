"""Every list of the API pages the same way (issue 13): cursor pages `{next, previous,
results}`, walked through `next` with no item repeated or lost, and `page_size` from 1 to
the list's maximum in ASCII digits; anything else is a 400 that names it."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from members.models import Segment
from metrics.segments.services import segment_create, segments_recompute
from metrics.services import kpis_recompute
from rewards.models import Milestone
from tests.conftest import earn, member_client_for
from tests.factories import MemberFactory
from tests.metrics.history import members_create, purchase, shop_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db):
    user = User.objects.create_user("pager", password="s3cret-pass!", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def walk(client, url: str) -> list[list[dict]]:
    """Every page of a list, from `url` through `next`."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        pages.append(body["results"])
        url = body["next"]
    return pages


def assert_pages_hold_the_whole_list(client, url: str, key: str, *, size: int, pages: int):
    """Small pages, read through `next`, hold the one big page's items, in its order, each
    once; `previous` from the second page leads back to the first."""
    separator = "&" if "?" in url else "?"
    whole = client.get(f"{url}{separator}page_size=200").json()
    assert whole["next"] is None
    paged = walk(client, f"{url}{separator}page_size={size}")
    assert len(paged) == pages, paged
    assert all(len(page) == size for page in paged[:-1])
    keys = [row[key] for page in paged for row in page]
    assert keys == [row[key] for row in whole["results"]]
    assert len(keys) == len(set(keys))
    second = client.get(f"{url}{separator}page_size={size}").json()["next"]
    back = client.get(client.get(second).json()["previous"]).json()
    assert [row[key] for row in back["results"]] == [row[key] for row in paged[0]]
    return paged


def test_my_milestones_page_in_the_order_they_were_created(shop, program):
    member = MemberFactory()
    for kind, target in [
        (Milestone.Kind.SPEND, 100),
        (Milestone.Kind.PURCHASE_COUNT, 5),
        (Milestone.Kind.PURCHASE_COUNT, 1),
        (Milestone.Kind.LIFETIME_POINTS, 50),
        (Milestone.Kind.PURCHASE_COUNT, 3),
    ]:
        Milestone.objects.create(
            name=f"{kind} {target}", kind=kind, target=Decimal(target), bonus_points=1
        )
    # Neither an inactive milestone nor one whose window has closed is listed.
    Milestone.objects.create(
        name="Retired", kind="purchases", target=2, bonus_points=1, is_active=False
    )
    Milestone.objects.create(
        name="Closed",
        kind="purchases",
        target=4,
        bonus_points=1,
        ends_at=datetime(2020, 1, 1, tzinfo=UTC),
    )
    earn(shop, member, "10.00")
    client = member_client_for(member)

    pages = assert_pages_hold_the_whole_list(
        client, "/api/v1/me/milestones", "name", size=2, pages=3
    )

    assert [[row["name"] for row in page] for page in pages] == [
        ["spend 100", "purchases 5"],
        ["purchases 1", "lifetime_points 50"],
        ["purchases 3"],
    ]
    # Progress is the member's on every page, not only the first.
    assert pages[0][0]["progress"] == "10.00"
    assert (pages[1][0]["progress"], pages[1][0]["reached"]) == ("1.00", True)
    assert (pages[2][0]["progress"], pages[2][0]["reached"]) == ("1.00", False)


def test_cohorts_page_oldest_first(staff_client, program):
    shop = shop_get()
    for month in (1, 2, 3, 4, 5):
        for member in members_create(2, enrolled_at=datetime(2025, month, 3, tzinfo=UTC)):
            purchase(member, "10", datetime(2025, month, 20, tzinfo=UTC), shop=shop)
    kpis_recompute(first=date(2025, 1, 1), last=date(2025, 5, 31), granularities=["month"])
    url = "/api/v1/metrics/cohorts?from=2025-01-01&to=2025-05-31"

    pages = assert_pages_hold_the_whole_list(staff_client, url, "cohort", size=2, pages=3)

    assert [row["cohort"] for row in pages[0]] == ["2025-01-01", "2025-02-01"]
    # A row on a later page is whole: its size and every month since enrollment.
    march = pages[1][0]
    assert (march["cohort"], march["members"]) == ("2025-03-01", 2)
    assert [(m["offset"], m["active"]) for m in march["months"]] == [(0, 2), (1, 0), (2, 0)]


def test_segments_page_by_name(staff_client, program):
    for name in ("Gamma", "Alpha", "Beta"):
        segment_create(name=name, conditions=[])
    total = Segment.objects.count()
    pages = assert_pages_hold_the_whole_list(
        staff_client, "/api/v1/segments", "id", size=2, pages=(total + 1) // 2
    )
    names = [row["name"] for page in pages for row in page]
    assert names == sorted(Segment.objects.values_list("name", flat=True))
    assert {"Alpha", "Beta", "Gamma"} < set(names)


def test_a_segments_members_page_through_next(staff_client, program):
    MemberFactory.create_batch(5)
    segment = segment_create(name="Everyone", conditions=[])
    segments_recompute(segment_ids=[segment.pk])
    url = f"/api/v1/segments/{segment.pk}/members"
    assert len(staff_client.get(url).json()["results"]) == 5

    assert_pages_hold_the_whole_list(staff_client, url, "external_id", size=2, pages=3)


MEMBER_LISTS = ["/api/v1/me/transactions", "/api/v1/me/vouchers", "/api/v1/me/milestones"]
STAFF_LISTS = ["/api/v1/metrics/kpis", "/api/v1/metrics/cohorts", "/api/v1/segments"]


@pytest.mark.parametrize("value", ["0", "1e1", "\u0661\u0662"])
@pytest.mark.parametrize("path", MEMBER_LISTS + STAFF_LISTS + ["segment-members"])
def test_every_list_refuses_a_bad_page_size(member_client, staff_client, path, value):
    if path == "segment-members":
        path = f"/api/v1/segments/{segment_create(name='Any', conditions=[]).pk}/members"
    client = member_client if path in MEMBER_LISTS else staff_client

    response = client.get(path, {"page_size": value})

    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [problem["code"] for problem in error["fields"]["page_size"]] == ["invalid"]


@pytest.mark.parametrize("path", MEMBER_LISTS + STAFF_LISTS)
def test_a_page_size_over_the_maximum_gives_the_maximum(member_client, staff_client, path):
    client = member_client if path in MEMBER_LISTS else staff_client
    assert client.get(path, {"page_size": "999999"}).status_code == 200


def test_every_list_in_the_schema_is_a_cursor_page():
    response = APIClient().get("/api/schema/?format=json")
    schema = response.json()
    components = schema["components"]["schemas"]

    def resolve(node):
        while "$ref" in node:
            node = components[node["$ref"].removeprefix("#/components/schemas/")]
        return node

    lists, pages = [], []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        content = (get or {}).get("responses", {}).get("200", {}).get("content", {})
        if "application/json" not in content:
            continue
        body = resolve(content["application/json"]["schema"])
        if body.get("type") == "array":
            lists.append(path)
        if {"next", "previous", "results"} <= set(body.get("properties", {})):
            page_size = next(p for p in get["parameters"] if p["name"] == "page_size")
            assert page_size["schema"]["minimum"] == 1, path
            assert page_size["schema"]["maximum"] >= 50, path
            pages.append(path)
    assert lists == [], "lists that are not cursor pages"
    assert {
        "/api/v1/me/milestones",
        "/api/v1/metrics/cohorts",
        "/api/v1/segments",
        "/api/v1/segments/{segment_id}/members",
        "/api/v1/me/transactions",
        "/api/v1/metrics/kpis",
    } <= set(pages)
