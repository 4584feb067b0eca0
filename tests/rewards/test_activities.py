"""Activities that earn points: POST /api/v1/activities, caps, idempotency, feedback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Member
from rewards.models import Activity, ActivityType, EarnAward, LedgerEntry
from rewards.services.verification import member_ledger_problems

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(program):
    return ActivityType.objects.create(
        key="product_review", name="Product review", points=25, cap_per_day=2
    )


def post(client, member, activity_id, type_="product_review", **extra):
    return client.post(
        "/api/v1/activities",
        {"member": member.external_id, "activity_id": activity_id, "type": type_, **extra},
        format="json",
    )


def test_an_activity_earns_its_types_points_in_a_bonus_lot(shop_client, member, review):
    response = post(shop_client, member, "rev-1")
    assert response.status_code == 201
    body = response.json()
    assert (body["points"], body["capped_by"], body["reason"], body["type"]) == (
        25,
        None,
        None,
        "product_review",
    )
    member.refresh_from_db()
    assert member.points_available == 25
    assert EarnAward.objects.get(member=member).source == EarnAward.Source.ACTIVITY
    assert member_ledger_problems(member) == []


def test_the_same_activity_id_replays_and_a_different_body_conflicts(shop_client, member, review):
    first = post(shop_client, member, "rev-1")
    again = post(shop_client, member, "rev-1")
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    other = post(shop_client, member, "rev-1", occurred_at="2025-01-01T00:00:00Z")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert Activity.objects.count() == 1
    member.refresh_from_db()
    assert member.points_available == 25


def test_an_unknown_type_is_refused_and_nothing_is_written(shop_client, member, review):
    response = post(shop_client, member, "x-1", type_="tweet")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "activity_type_unknown"
    assert list(response.json()["error"]["fields"]) == ["type"]
    assert not Activity.objects.exists() and not LedgerEntry.objects.exists()


def test_past_the_cap_per_day_an_activity_is_recorded_with_no_points(shop_client, member, review):
    assert post(shop_client, member, "rev-1").json()["points"] == 25
    assert post(shop_client, member, "rev-2").json()["points"] == 25
    third = post(shop_client, member, "rev-3")
    assert third.status_code == 201
    assert (third.json()["points"], third.json()["capped_by"]) == (0, "day")
    assert third.json()["reason"]
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    assert post(shop_client, member, "rev-4", occurred_at=yesterday).json()["points"] == 25
    member.refresh_from_db()
    assert member.points_available == 75


def test_caps_per_month_and_in_total(shop_client, member, program):
    ActivityType.objects.create(key="newsletter_signup", name="Newsletter", points=10, cap_total=1)
    ActivityType.objects.create(key="survey", name="Survey", points=5, cap_per_month=1)
    assert post(shop_client, member, "n-1", "newsletter_signup").json()["points"] == 10
    assert post(shop_client, member, "n-2", "newsletter_signup").json()["capped_by"] == "total"
    assert post(shop_client, member, "s-1", "survey").json()["points"] == 5
    assert post(shop_client, member, "s-2", "survey").json()["capped_by"] == "month"


def test_a_switched_off_type_earns_nothing(shop_client, member, review):
    ActivityType.objects.filter(pk=review.pk).update(is_active=False)
    body = post(shop_client, member, "rev-1").json()
    assert (body["points"], body["capped_by"]) == (0, "inactive")


def test_bad_input_is_a_validation_error(shop_client, member, review):
    future = (timezone.now() + timedelta(days=1)).isoformat()
    for bad in (
        {"member": member.external_id, "type": "product_review"},
        {"member": member.external_id, "activity_id": "a", "type": "bad type!"},
        {
            "member": member.external_id,
            "activity_id": "a",
            "type": "product_review",
            "occurred_at": future,
        },
        {"member": member.external_id, "activity_id": "a" * 65, "type": "product_review"},
    ):
        response = shop_client.post("/api/v1/activities", bad, format="json")
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "validation_error"
    assert not Activity.objects.exists()


def test_unknown_and_suspended_members(shop_client, member, review):
    response = shop_client.post(
        "/api/v1/activities",
        {"member": "nobody", "activity_id": "a", "type": "product_review"},
        format="json",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "member_not_found")
    Member.objects.filter(pk=member.pk).update(status=Member.Status.SUSPENDED)
    response = post(shop_client, member, "a")
    assert response.json()["error"]["code"] == "member_not_active"
    assert not Activity.objects.exists()


def test_feedback_earns_an_activitys_points_once_per_month(shop_client, member, program):
    ActivityType.objects.create(
        key="survey_answered",
        name="Survey answered",
        points=15,
        cap_per_month=1,
        earns_on_feedback=ActivityType.Feedback.NPS,
    )
    for feedback_id in ("f-1", "f-2"):
        response = shop_client.post(
            "/api/v1/feedback",
            {"member": member.external_id, "kind": "nps", "score": 8, "feedback_id": feedback_id},
            format="json",
        )
        assert response.status_code == 201
    csat = shop_client.post(
        "/api/v1/feedback",
        {"member": member.external_id, "kind": "csat", "score": 4},
        format="json",
    )
    assert csat.status_code == 201
    member.refresh_from_db()
    assert member.points_available == 15
    assert list(Activity.objects.order_by("id").values_list("points", "capped_by")) == [
        (15, ""),
        (0, "month"),
    ]
    # A replayed answer is not a new activity.
    replay = shop_client.post(
        "/api/v1/feedback",
        {"member": member.external_id, "kind": "nps", "score": 8, "feedback_id": "f-1"},
        format="json",
    )
    assert replay.status_code == 200
    assert Activity.objects.count() == 2


def test_the_program_page_says_what_activities_and_referrals_earn(client, review):
    from rewards.models import Program

    Program.objects.filter(pk=1).update(
        referral_referrer_points=100, referral_referred_points=50, referral_cap_per_year=3
    )
    text = client.get("/api/v1/program").json()["earning"]["text"]
    assert "25 points for Product review, up to 2 time(s) a day." in text
    assert any("you get 100 points and they get 50, for up to 3 friends a year" in t for t in text)


def test_the_same_activity_id_from_another_shop_is_another_activity(shop_client, member, review):
    from members.services import shop_api_key_create
    from tests.rewards.test_concurrency import client_for

    _, key = shop_api_key_create(shop_name="Second shop")
    first = post(shop_client, member, "rev-1")
    second = post(client_for(key), member, "rev-1")
    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replay" not in second
    assert Activity.objects.filter(activity_id="rev-1").count() == 2
    member.refresh_from_db()
    assert member.points_available == 50


def test_a_program_manager_defines_an_activity_type_with_caps_in_the_admin(
    manager_client, shop_client, member, program
):
    page = manager_client.get("/admin/rewards/activitytype/add/")
    assert page.status_code == 200
    response = manager_client.post(
        "/admin/rewards/activitytype/add/",
        {
            "key": "newsletter_signup",
            "name": "Newsletter sign-up",
            "points": "30",
            "is_active": "on",
            "cap_per_day": "1",
            "cap_per_month": "2",
            "cap_total": "3",
            "earns_on_feedback": "",
        },
    )
    assert response.status_code == 302
    saved = ActivityType.objects.get(key="newsletter_signup")
    assert (saved.points, saved.cap_per_day, saved.cap_per_month, saved.cap_total) == (
        30,
        1,
        2,
        3,
    )
    assert saved.history.count() == 1  # the audit trail
    listing = manager_client.get("/admin/rewards/activitytype/").content.decode()
    assert "newsletter_signup" in listing
    # The shops' API earns by it at once, within its caps.
    first = post(shop_client, member, "n-1", "newsletter_signup")
    assert (first.status_code, first.json()["points"]) == (201, 30)
    assert post(shop_client, member, "n-2", "newsletter_signup").json()["capped_by"] == "day"


@pytest.mark.parametrize(
    ("field", "value"),
    [("key", "not a key!"), ("points", "0"), ("cap_per_day", "-1")],
)
def test_the_admin_refuses_a_bad_activity_type(manager_client, program, field, value):
    data = {"key": "product_review", "name": "Review", "points": "10", "is_active": "on"}
    response = manager_client.post("/admin/rewards/activitytype/add/", {**data, field: value})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not ActivityType.objects.exists()


def test_support_cannot_define_activity_types(support_client, program):
    assert support_client.get("/admin/rewards/activitytype/add/").status_code == 403
