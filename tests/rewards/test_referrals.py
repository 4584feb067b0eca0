"""Referrals: a code per member, enrollment with `referred_by`, bonuses once the friend's
first purchase is available, the yearly cap, no self-referral, and the nightly job."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Member
from members.referral_codes import referral_code_for, referral_code_member_id
from rewards.models import EarnAward, JobRun, Program, Referral
from rewards.services.nightly import job_run_inline
from rewards.services.referrals import referral_resolve
from tests.conftest import earn, member_client_for
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db


@pytest.fixture
def referral_program(program):
    Program.objects.filter(pk=1).update(
        referral_referrer_points=100,
        referral_referred_points=50,
        referral_share_url="https://shop.example/join?ref={code}",
    )
    return Program.objects.get(pk=1)


def enroll(client, external_id, code="", **extra):
    body = {"external_id": external_id, **extra}
    if code:
        body["referred_by"] = code
    return client.post("/api/v1/members", body, format="json")


def test_codes_round_trip_and_resist_guessing(member):
    code = referral_code_for(member.pk)
    assert referral_code_member_id(code) == member.pk
    assert referral_code_member_id(code.lower().replace("-", " ")) == member.pk
    assert referral_code_member_id(code[:-1] + ("0" if code[-1] != "0" else "1")) is None
    for junk in ("", "-", "!!!!!!!", "Z" * 40, None):
        assert referral_code_member_id(junk) is None


def test_me_referral_gives_the_code_and_the_share_link(referral_program, member):
    body = member_client_for(member).get("/api/v1/me/referral").json()
    assert body["code"] == referral_code_for(member.pk)
    assert body["share_url"] == f"https://shop.example/join?ref={body['code']}"
    assert (body["referrer_points"], body["referred_points"], body["referrals"]) == (100, 50, 0)


def test_both_get_their_bonus_once_the_first_purchase_is_available(
    referral_program, shop, shop_client, member
):
    Program.objects.filter(pk=1).update(pending_days=14)
    response = enroll(shop_client, "friend-1", referral_code_for(member.pk))
    assert response.status_code == 201
    friend = Member.objects.get(external_id="friend-1")
    earn(shop, friend, "30.00")
    now = timezone.now()
    assert referral_resolve(member_id=friend.pk, as_of=now) is None  # still pending
    later = now + timedelta(days=15)
    run = job_run_inline(job_name="referrals", as_of=later)
    assert run.status == JobRun.Status.SUCCEEDED
    referral = Referral.objects.get()
    assert (referral.status, referral.referrer_points, referral.referred_points) == (
        "rewarded",
        100,
        50,
    )
    member.refresh_from_db()
    friend.refresh_from_db()
    assert member.points_available == 100
    assert friend.points_pending + friend.points_available == 30 + 50
    assert EarnAward.objects.filter(source=EarnAward.Source.REFERRAL).count() == 2
    # Again: nothing more.
    job_run_inline(job_name="referrals", as_of=later + timedelta(minutes=1))
    assert referral_resolve(member_id=friend.pk, as_of=later) is None
    member.refresh_from_db()
    assert member.points_available == 100
    assert_reconciles(member)
    assert_reconciles(friend)


def test_a_fully_refunded_first_purchase_never_pays(referral_program, shop, shop_client, member):
    Program.objects.filter(pk=1).update(pending_days=14)
    enroll(shop_client, "friend-1", referral_code_for(member.pk))
    friend = Member.objects.get(external_id="friend-1")
    earn(shop, friend, "30.00", order_id="F-1")
    assert (
        shop_client.post(
            "/api/v1/purchases/F-1/refunds", {"refund_id": "R-1", "amount": "30.00"}, format="json"
        ).status_code
        == 201
    )
    earn(shop, friend, "20.00", order_id="F-2")
    job_run_inline(job_name="referrals", as_of=timezone.now() + timedelta(days=30))
    assert Referral.objects.get().status == "void"
    member.refresh_from_db()
    assert member.points_available == 0


def test_the_yearly_cap_per_referrer(referral_program, shop, shop_client, member):
    Program.objects.filter(pk=1).update(referral_cap_per_year=1)
    for index in (1, 2):
        enroll(shop_client, f"friend-{index}", referral_code_for(member.pk))
        earn(shop, Member.objects.get(external_id=f"friend-{index}"), "10.00")
    job_run_inline(job_name="referrals", as_of=timezone.now() + timedelta(seconds=1))
    assert sorted(Referral.objects.values_list("status", flat=True)) == ["capped", "rewarded"]
    member.refresh_from_db()
    assert member.points_available == 100
    capped = Referral.objects.get(status="capped")
    assert capped.referred.points_available == 10  # the purchase only


def test_self_referral_and_bad_codes_are_refused_with_nothing_written(
    referral_program, shop_client, member
):
    Member.objects.filter(pk=member.pk).update(email="me@example.com")
    code = referral_code_for(member.pk)
    same_email = enroll(shop_client, "me-again", code, email="ME@example.com")
    assert (same_email.status_code, same_email.json()["error"]["code"]) == (422, "self_referral")
    bad = enroll(shop_client, "friend-x", "NOT-A-CODE")
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "referral_code_invalid")
    assert list(bad.json()["error"]["fields"]) == ["referred_by"]
    # Each field error as the envelope gives every one: {code, message}.
    assert bad.json()["error"]["fields"]["referred_by"] == [
        {"code": "referral_code_invalid", "message": "No active member has this referral code."}
    ]
    assert same_email.json()["error"]["fields"]["referred_by"][0]["code"] == "self_referral"
    Member.objects.filter(pk=member.pk).update(status=Member.Status.SUSPENDED)
    suspended = enroll(shop_client, "friend-y", code)
    assert suspended.json()["error"]["code"] == "referral_code_invalid"
    assert Member.objects.count() == 1 and not Referral.objects.exists()


@pytest.fixture
def staff_client(db):
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = User.objects.create(username="ana", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_referral_kpis(referral_program, shop, shop_client, member, staff_client):
    enroll(shop_client, "friend-1", referral_code_for(member.pk))
    earn(shop, Member.objects.get(external_id="friend-1"), "10.00")
    job_run_inline(job_name="referrals", as_of=timezone.now() + timedelta(seconds=1))
    today = timezone.localdate()
    window = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    response = staff_client.get("/api/v1/metrics/referrals", window)
    assert response.status_code == 200
    body = response.json()
    assert (body["referrals"], body["rewarded"], body["points"]) == (1, 1, 150)
    assert body["from"] == window["from"]
    bad = staff_client.get("/api/v1/metrics/referrals", {"from": "2025-02-30"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "validation_error")


def test_the_kpi_dashboard_shows_the_referrals(referral_program, shop, shop_client, member):
    from metrics.models import KpiSnapshot  # noqa: F401 (the dashboard needs snapshots)
    from metrics.services import kpis_recompute
    from tests.conftest import client_for, staff_user_in

    enroll(shop_client, "friend-1", referral_code_for(member.pk))
    earn(shop, Member.objects.get(external_id="friend-1"), "10.00")
    job_run_inline(job_name="referrals", as_of=timezone.now() + timedelta(seconds=1))
    today = timezone.localdate()
    kpis_recompute(first=today, last=today, granularities=["month"])
    page = client_for(staff_user_in("Program manager")).get("/admin/metrics/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="referral-figures"' in html
    assert "<td>150</td>" in html


def test_a_referrer_merged_since_is_paid_as_the_member_who_stays(
    referral_program, shop, shop_client, member
):
    from rewards.services.merges import member_merge
    from tests.factories import MemberFactory

    enroll(shop_client, "friend-1", referral_code_for(member.pk))
    stays = MemberFactory()
    member_merge(source=member, target=stays, reason="Enrolled twice")
    earn(shop, Member.objects.get(external_id="friend-1"), "10.00")
    job_run_inline(job_name="referrals", as_of=timezone.now() + timedelta(seconds=1))
    stays.refresh_from_db()
    assert stays.points_available == 100
    assert_reconciles(stays)


def test_a_referrer_merged_into_the_friend_it_referred_gets_no_bonus(
    referral_program, shop, shop_client, member
):
    """The same person enrolled twice and referred themselves: once staff merge the
    referrer into the friend, the referral pays nobody (no self-referral), and the member
    who stays still reconciles."""
    from rewards.services.merges import member_merge

    enroll(shop_client, "friend-1", referral_code_for(member.pk))
    friend = Member.objects.get(external_id="friend-1")
    member_merge(source=member, target=friend, reason="Enrolled twice")
    earn(shop, friend, "10.00")
    run = job_run_inline(job_name="referrals", as_of=timezone.now() + timedelta(seconds=1))
    assert run.status == JobRun.Status.SUCCEEDED
    referral = Referral.objects.get()
    assert (referral.status, referral.referrer_points, referral.referred_points) == (
        "self_referral",
        0,
        0,
    )
    friend.refresh_from_db()
    assert friend.points_available == 10  # the purchase only
    assert not EarnAward.objects.filter(source=EarnAward.Source.REFERRAL).exists()
    assert_reconciles(friend)


def test_a_friend_merged_into_an_existing_member_is_decided_by_the_merge_and_pays_nobody(
    referral_program, shop, shop_client, member, staff_client
):
    """The friend enrolled with a code but was a customer already: once staff merge the
    friend into the member who stays, nobody was brought in. The merge decides the referral
    (its first purchase moves with the merge, so left pending it would never be decided);
    no bonus is ever paid, the ledger reconciles, and the KPIs count it as enrolled only."""
    import io

    from django.core.management import call_command

    from rewards.services.merges import member_merge
    from tests.factories import MemberFactory

    enroll(shop_client, "friend-1", referral_code_for(member.pk))
    friend = Member.objects.get(external_id="friend-1")
    earn(shop, friend, "10.00")
    stays = MemberFactory()
    merge = member_merge(source=friend, target=stays, reason="Enrolled twice")
    referral = Referral.objects.get()
    assert (referral.status, referral.resolved_at) == ("merged", merge.merged_at)
    later = timezone.now() + timedelta(days=30)
    run = job_run_inline(job_name="referrals", as_of=later)
    assert run.status == JobRun.Status.SUCCEEDED
    assert referral_resolve(member_id=friend.pk, as_of=later) is None
    assert referral_resolve(member_id=stays.pk, as_of=later) is None
    referral.refresh_from_db()
    assert (referral.status, referral.referrer_points, referral.referred_points) == (
        "merged",
        0,
        0,
    )
    assert not EarnAward.objects.filter(source=EarnAward.Source.REFERRAL).exists()
    member.refresh_from_db()
    stays.refresh_from_db()
    assert member.points_available == 0
    assert stays.points_available + stays.points_pending == 10  # the purchase only
    for each in (member, friend, stays):
        assert_reconciles(each)
    call_command("verify_ledger", stdout=io.StringIO())
    today = timezone.localdate()
    window = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    body = staff_client.get("/api/v1/metrics/referrals", window).json()
    assert (body["referrals"], body["rewarded"], body["capped"], body["void"]) == (1, 0, 0, 0)
    assert body["points"] == 0
