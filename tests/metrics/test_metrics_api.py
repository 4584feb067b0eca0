"""The staff API (KPIs, CSV, cohorts, a member's value) and the shops' feedback endpoint."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from members.models import Member
from metrics.models import Feedback
from metrics.services import kpis_recompute
from tests.metrics.history import members_create, purchase, refund, shop_get

pytestmark = pytest.mark.django_db

STAFF_URLS = [
    "/api/v1/metrics/kpis",
    "/api/v1/metrics/kpis.csv",
    "/api/v1/metrics/cohorts",
]


@pytest.fixture
def staff_user(db):
    return User.objects.create_user("ana", password="s3cret-pass!", is_staff=True)


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    return client


@pytest.fixture
def history(program):
    shop = shop_get()
    members = members_create(4, enrolled_at=datetime(2025, 1, 10, tzinfo=UTC))
    for index, member in enumerate(members):
        purchase(member, "10", datetime(2025, 1, 20 + index, tzinfo=UTC), shop=shop)
    for member in members[:2]:
        bought = purchase(member, "30", datetime(2025, 2, 5, tzinfo=UTC), shop=shop)
    refund(bought, "5", datetime(2025, 2, 6, tzinfo=UTC))
    kpis_recompute(first=date(2025, 1, 1), last=date(2025, 3, 31), granularities=["month"])
    return shop


def test_staff_reads_monthly_kpis_with_a_token(staff_client, history):
    response = staff_client.get(
        "/api/v1/metrics/kpis?granularity=month&from=2025-01-01&to=2025-03-31"
    )

    assert response.status_code == 200, response.content
    body = response.json()["results"]
    assert [row["period_start"] for row in body] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    february = body[1]
    assert {
        "period_start",
        "period_end",
        "granularity",
        "active_start",
        "active_end",
        "new_active",
        "retained",
        "retention_rate",
        "churn_rate",
        "repeat_purchase_rate",
        "purchase_frequency",
        "average_order_value",
        "net_revenue",
        "members_total",
        "members_enrolled",
        "points_issued",
        "points_redeemed",
        "points_expired",
        "points_outstanding",
        "points_liability",
        "redemption_rate",
        "breakage_rate",
        "burn_earn_ratio",
        "nps",
        "csat",
        "tier_distribution",
    } <= set(february)
    assert february["period_end"] == "2025-03-01"
    assert (february["active_start"], february["active_end"], february["retained"]) == (4, 4, 4)
    assert february["retention_rate"] == "100.00"
    assert february["churn_rate"] == "0.00"
    assert february["net_revenue"] == "55.00"
    assert february["nps"] is None  # no answers: null, never zero


def test_staff_reads_kpis_with_an_admin_session(staff_user, history):
    client = APIClient()
    client.force_login(staff_user)
    response = client.get("/api/v1/metrics/kpis?from=2025-01-01&to=2025-01-31")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_kpis_of_one_shop_and_one_tier(staff_client, history):
    from rewards.models import Tier

    tier = Tier.objects.create(name="Bronze", rank=1, threshold=0)
    kpis_recompute(first=date(2025, 2, 1), last=date(2025, 2, 28), granularities=["month"])

    by_shop = staff_client.get(
        f"/api/v1/metrics/kpis?from=2025-02-01&to=2025-02-28&shop={history.name}"
    ).json()["results"]
    by_tier = staff_client.get(
        f"/api/v1/metrics/kpis?from=2025-02-01&to=2025-02-28&tier={tier.pk}"
    ).json()["results"]

    assert [(row["breakdown"], row["shop"], row["purchases"]) for row in by_shop] == [
        ("shop", history.name, 2)
    ]
    assert by_shop[0]["retention_rate"] is None
    assert [(row["breakdown"], row["tier"], row["members_total"]) for row in by_tier] == [
        ("tier", "Bronze", 4)
    ]


def test_kpis_of_one_segment_by_name_or_id(staff_client, history):
    from members.models import Segment, SegmentMembership

    first, second, third, fourth = Member.objects.order_by("pk")
    segment = Segment.objects.create(name="Regulars", conditions=[])
    for member, entered, left in (
        (first, date(2025, 1, 15), None),
        (second, date(2025, 1, 15), None),
        (third, date(2025, 1, 15), date(2025, 2, 20)),  # in on 1 February, not on 1 March
        (fourth, date(2025, 2, 10), None),  # in on 1 March only
    ):
        SegmentMembership.objects.create(
            segment=segment, member=member, entered_on=entered, left_on=left
        )
    kpis_recompute(first=date(2025, 1, 1), last=date(2025, 3, 31), granularities=["month"])

    by_name = staff_client.get(
        "/api/v1/metrics/kpis?from=2025-01-01&to=2025-03-31&segment=Regulars"
    )
    by_id = staff_client.get(
        f"/api/v1/metrics/kpis?from=2025-01-01&to=2025-03-31&segment={segment.pk}"
    )

    assert by_name.status_code == 200, by_name.content
    rows = by_name.json()["results"]
    assert rows == by_id.json()["results"]
    # January is absent: the segment had no members on its first day.
    assert [
        (row["period_start"], row["breakdown"], row["segment"], row["segment_id"]) for row in rows
    ] == [
        ("2025-02-01", "segment", "Regulars", segment.pk),
        ("2025-03-01", "segment", "Regulars", segment.pk),
    ]
    assert [(row["members_total"], row["active_start"], row["retained"]) for row in rows] == [
        (3, 3, 3),
        (3, 3, 3),
    ]
    assert [row["retention_rate"] for row in rows] == ["100.00", "100.00"]
    assert rows[0]["net_revenue"] is None and rows[0]["tier"] is None
    everyone = staff_client.get("/api/v1/metrics/kpis?from=2025-02-01&to=2025-02-28").json()
    assert [(row["breakdown"], row["segment"]) for row in everyone["results"]] == [("all", None)]
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                staff_client.get(
                    f"/api/v1/metrics/kpis.csv?from=2025-02-01&to=2025-02-28&segment={segment.pk}"
                ).content.decode()
            )
        )
    )
    assert [(row["segment"], row["segment_id"], row["churn_rate"]) for row in csv_rows] == [
        ("Regulars", str(segment.pk), "0.00")
    ]


def test_kpis_as_csv(staff_client, history):
    response = staff_client.get("/api/v1/metrics/kpis.csv?from=2025-01-01&to=2025-03-31")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["period_start"] for row in rows] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    json_rows = staff_client.get("/api/v1/metrics/kpis?from=2025-01-01&to=2025-03-31").json()[
        "results"
    ]
    for row, same in zip(rows, json_rows, strict=True):
        for field in ("active_end", "retention_rate", "net_revenue", "points_outstanding"):
            assert row[field] == ("" if same[field] is None else str(same[field]))


def test_csv_errors_are_json(staff_client):
    response = staff_client.get("/api/v1/metrics/kpis.csv?granularity=hour", HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["granularity"]


def test_cohort_matrix(staff_client, history):
    response = staff_client.get("/api/v1/metrics/cohorts?from=2025-01-01&to=2025-03-31")

    assert response.status_code == 200
    (january,) = response.json()["results"]
    assert january["cohort"] == "2025-01-01"
    assert january["members"] == 4
    assert [(m["offset"], m["active"], m["retention_rate"]) for m in january["months"]] == [
        (0, 4, "100.00"),
        (1, 2, "50.00"),
        (2, 0, "0.00"),
    ]


def test_a_members_lifetime_value(staff_client, history):
    second = Member.objects.order_by("pk")[1]  # bought 10 and 30, then 5 was refunded

    response = staff_client.get(f"/api/v1/metrics/members/{second.external_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["purchases"] == 2
    assert (body["purchase_amount"], body["refund_amount"], body["net_revenue"]) == (
        "40.00",
        "5.00",
        "35.00",
    )
    assert staff_client.get("/api/v1/metrics/members/nobody").status_code == 404


@pytest.mark.parametrize("url", STAFF_URLS)
def test_a_user_who_is_not_staff_is_refused(url):
    user = User.objects.create_user("bob", password="s3cret-pass!")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = client.get(url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("url", STAFF_URLS)
def test_shops_and_members_are_refused(url, shop_client, member_client):
    for client in (shop_client, member_client, APIClient()):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_drf_create_token_gives_a_working_token(staff_user, history):
    out = io.StringIO()
    call_command("drf_create_token", "ana", stdout=out)
    key = Token.objects.get(user=staff_user).key
    assert key in out.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/metrics/kpis").status_code == 200


# Feedback.


def test_shop_posts_nps_and_csat_answers(shop_client, member):
    nps = shop_client.post(
        "/api/v1/feedback",
        {"member": member.external_id, "kind": "nps", "score": 9, "comment": "Great\nstaff"},
        format="json",
    )
    csat = shop_client.post(
        "/api/v1/feedback",
        {
            "member": member.external_id,
            "kind": "csat",
            "score": 4,
            "answered_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        },
        format="json",
    )

    assert nps.status_code == 201, nps.content
    assert csat.status_code == 201, csat.content
    assert nps.json()["score"] == 9 and nps.json()["comment"] == "Great\nstaff"
    assert Feedback.objects.count() == 2


def test_feedback_with_the_same_feedback_id_is_replayed_not_counted_twice(shop_client, member):
    body = {"member": member.external_id, "kind": "nps", "score": 3, "feedback_id": "survey-1"}
    first = shop_client.post("/api/v1/feedback", body, format="json")
    again = shop_client.post("/api/v1/feedback", body, format="json")
    other = shop_client.post("/api/v1/feedback", {**body, "score": 4}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert Feedback.objects.count() == 1


@pytest.mark.parametrize(
    ("kind", "score"), [("nps", -1), ("nps", 11), ("csat", 0), ("csat", 6), ("csat", 10)]
)
def test_out_of_range_scores_are_rejected(shop_client, member, kind, score):
    response = shop_client.post(
        "/api/v1/feedback",
        {"member": member.external_id, "kind": kind, "score": score},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "score" in error["fields"]
    assert Feedback.objects.count() == 0


def test_feedback_for_an_unknown_member_is_404(shop_client, program):
    response = shop_client.post(
        "/api/v1/feedback", {"member": "nobody", "kind": "nps", "score": 5}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "member_not_found"


def test_kpis_page_like_every_list_of_the_api(staff_client, history):
    first = staff_client.get(
        "/api/v1/metrics/kpis?granularity=month&from=2025-01-01&to=2025-03-31&page_size=2"
    ).json()
    assert set(first) == {"next", "previous", "results"}
    assert [row["period_start"] for row in first["results"]] == ["2025-01-01", "2025-02-01"]
    assert first["previous"] is None
    second = staff_client.get(first["next"]).json()
    assert [row["period_start"] for row in second["results"]] == ["2025-03-01"]
    assert second["next"] is None
