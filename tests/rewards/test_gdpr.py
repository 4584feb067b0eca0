"""A member's own data: the export (GET /api/v1/me/export) and an erasure that leaves no
copy of the personal data in any text column of any table."""

import json
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import models
from django.utils import timezone

from loyalty_engine.events.models import Attempt, Delivery, Event, WebhookEndpoint
from loyalty_engine.events.services import event_envelope
from members.models import Member
from members.services import member_erase, member_reactivate, member_suspend
from metrics.models import Feedback
from metrics.services import kpis_recompute
from rewards.models import ActivityType, CsvImport, LedgerEntry, Program, Reward
from rewards.services.imports import csv_import_create, csv_import_run
from rewards.services.verification import member_ledger_problems
from tests.conftest import member_client_for

pytestmark = pytest.mark.django_db

EXTERNAL_ID = "zq-ann-4711"
EMAIL = "annika.zqvist@example.org"
NAME = "Annika Zqvist"


@pytest.fixture
def busy_member(tmp_path, program, shop, shop_client):
    """A member who did a bit of everything, through the API where the API stores what it
    answered, and whose row is in a stored CSV upload."""
    Program.objects.filter(pk=1).update(referral_referrer_points=100, referral_referred_points=50)
    ActivityType.objects.create(key="product_review", name="Product review", points=25)
    Reward.objects.create(name="Free coffee", points_cost=10)
    content = (
        "external_id,email,name,birth_date,enrolled_at\n"
        f"{EXTERNAL_ID},{EMAIL},{NAME},1990-04-01,2025-01-15\n"
        "zq-bob-0815,other@example.org,Other Person,,\n"
    ).encode()
    csv_import = csv_import_create(
        kind="members", file_name="members.csv", content=content, run_in_background=False
    )
    from rewards.services.imports import stored_content_opener

    csv_import_run(csv_import=csv_import, open_file=stored_content_opener(csv_import))
    member = Member.objects.get(external_id=EXTERNAL_ID)
    friend = shop_client.post(
        "/api/v1/members",
        {
            "external_id": "friend-1",
            "referred_by": member_client_for(member).get("/api/v1/me/referral").json()["code"],
        },
        format="json",
    )
    assert friend.status_code == 201, friend.json()
    for order_id, amount in (("A-1", "40.00"), ("A-2", "60.00")):
        response = shop_client.post(
            "/api/v1/purchases",
            {"member": EXTERNAL_ID, "order_id": order_id, "amount": amount, "currency": "EUR"},
            format="json",
        )
        assert response.status_code == 201
    assert (
        shop_client.post(
            "/api/v1/purchases/A-2/refunds", {"refund_id": "R-1", "amount": "10.00"}, format="json"
        ).status_code
        == 201
    )
    assert (
        shop_client.post(
            "/api/v1/redemptions",
            {"member": EXTERNAL_ID, "points": 5},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-1",
        ).status_code
        == 201
    )
    assert (
        shop_client.post(
            "/api/v1/redemptions",
            {"member": EXTERNAL_ID, "reward_id": Reward.objects.get().pk},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-2",
        ).status_code
        == 201
    )
    assert (
        shop_client.post(
            "/api/v1/activities",
            {"member": EXTERNAL_ID, "activity_id": "rev-1", "type": "product_review"},
            format="json",
        ).status_code
        == 201
    )
    assert (
        shop_client.post(
            "/api/v1/feedback",
            {
                "member": EXTERNAL_ID,
                "kind": "nps",
                "score": 9,
                "feedback_id": "f-1",
                "comment": f"I am {NAME}, write to {EMAIL} ({EXTERNAL_ID})",
            },
            format="json",
        ).status_code
        == 201
    )
    member = Member.objects.get(external_id=EXTERNAL_ID)
    # Staff's reason names the member: it is kept in the event's payload.
    member_suspend(member=member, reason=f"{NAME} asked for a pause")
    member_reactivate(member=member, reason="Back again")
    # A webhook receiver that answers with what it knows of the customer and echoes the
    # envelope it was sent (external id included): the attempt log keeps its answer.
    event = Event.objects.filter(member=member, type="points.earned").order_by("seq").first()
    endpoint = WebhookEndpoint.objects.create(url="https://crm.example/hooks", secret="s")
    now = timezone.now()
    delivery = Delivery.objects.create(
        event=event, endpoint=endpoint, next_attempt_at=now, created_at=now
    )
    echo = json.dumps(event_envelope(event))
    answer = f'{{"customer": {{"name": "{NAME}", "email": "{EMAIL}"}}, "echo": {echo}}}'
    Attempt.objects.create(
        delivery=delivery,
        attempted_at=now,
        status_code=409,
        latency_ms=12,
        response_start=answer[:500],
        error=f"Receiver refused: {EXTERNAL_ID} is on hold",
    )
    return member


def test_the_export_holds_every_section_in_plain_json(busy_member):
    response = member_client_for(busy_member).get("/api/v1/me/export")
    assert response.status_code == 200
    data = response.json()
    for section in (
        "profile",
        "consents",
        "ledger",
        "lots",
        "purchases",
        "refunds",
        "redemptions",
        "vouchers",
        "tier",
        "tier_history",
        "milestones",
        "feedback",
        "referrals",
        "activities",
    ):
        assert section in data, section
    assert data["profile"]["email"] == EMAIL
    assert data["profile"]["name"] == NAME
    assert [p["order_id"] for p in data["purchases"]] == ["A-1", "A-2"]
    assert data["purchases"][0]["amount"] == "40.0000"
    assert data["refunds"][0]["refund_id"] == "R-1"
    assert len(data["redemptions"]) == 2 and len(data["vouchers"]) == 1
    assert data["activities"][0]["activity_id"] == "rev-1"
    assert data["activities"][0]["points"] == 25
    assert data["feedback"][0]["score"] == 9
    assert len(data["referrals"]["referred"]) == 1
    assert sum(entry["points"] for entry in data["ledger"]) == busy_member.points_balance
    assert data["exported_at"].endswith("Z")
    assert data["ledger"][0]["created_at"].endswith("Z")


def test_the_export_needs_a_member_token(shop_client):
    assert shop_client.get("/api/v1/me/export").status_code in (401, 403)


def _text_columns():
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(
                field, models.CharField | models.TextField | models.JSONField | models.BinaryField
            ):
                yield model, field


def _occurrences(needles: list[str]) -> list[str]:
    found = []
    for model, field in _text_columns():
        for pk, value in model._base_manager.values_list("pk", field.attname):
            if value is None:
                continue
            text = (
                bytes(value).decode("utf-8", "replace")
                if isinstance(value, bytes | memoryview)
                else str(value)
            )
            for needle in needles:
                if needle in text:
                    found.append(f"{model._meta.label}.{field.name} #{pk}: {needle}")
    return found


def test_erasure_leaves_no_copy_of_personal_data_in_any_text_column(busy_member):
    needles = [EXTERNAL_ID, EMAIL, NAME]
    # Proof the search finds what is there: before the erasure, in many places.
    before = _occurrences(needles)
    for where in (
        "members.Member.",
        "members.HistoricalMember.",
        "rewards.Activity.response",
        "rewards.CsvImport.content",
        "metrics.Feedback.comment",
        "events.Event.data",
        "events.Attempt.response_start",
        "events.Attempt.error",
    ):
        assert any(hit.startswith(where) for hit in before), where
    assert {
        f"events.Attempt.response_start #{Attempt.objects.get().pk}: {needle}" for needle in needles
    } <= set(before)

    ledger_before = list(LedgerEntry.objects.order_by("id").values_list("id", "points"))
    today = timezone.localdate()
    kpis_recompute(first=today, last=today, granularities=["day"])
    from metrics.models import KpiSnapshot

    kpis_before = list(KpiSnapshot.objects.order_by("id").values("points_issued", "purchases"))

    member_erase(member=busy_member, reason="Asked to be forgotten")

    assert _occurrences(needles) == []
    # The ledger and the KPIs stay whole.
    assert list(LedgerEntry.objects.order_by("id").values_list("id", "points")) == ledger_before
    kpis_recompute(first=today, last=today, granularities=["day"])
    assert list(KpiSnapshot.objects.order_by("id").values("points_issued", "purchases")) == (
        kpis_before
    )
    assert member_ledger_problems(Member.objects.get(pk=busy_member.pk)) == []
    # The other member of the CSV upload (whose id contains the erased one) is untouched.
    content = bytes(CsvImport.objects.get().content).decode()
    assert "zq-bob-0815,other@example.org,Other Person" in content
    assert f"erased-{busy_member.pk}" in content
    feedback = Feedback.objects.get()
    assert (feedback.comment, feedback.score) == ("", 9)
    assert feedback.response["member"] == f"erased-{busy_member.pk}"
    # The attempt log keeps what was tried and how it went, not the receiver's answer.
    attempt = Attempt.objects.get()
    assert (attempt.status_code, attempt.latency_ms, attempt.response_start) == (409, 12, "")
    assert attempt.error == f"Receiver refused: erased-{busy_member.pk} is on hold"
    suspended = Event.objects.get(type="member.suspended")
    assert suspended.data["reason"] == " asked for a pause"


def test_a_stored_upload_reimported_after_the_erasure_does_not_bring_the_member_back(
    busy_member,
):
    member_erase(member=busy_member, reason="Asked to be forgotten")
    csv_import = CsvImport.objects.get()
    from rewards.services.imports import stored_content_opener

    result = csv_import_run(csv_import=csv_import, open_file=stored_content_opener(csv_import))
    assert result.status == "succeeded", result.errors
    assert not Member.objects.filter(email=EMAIL).exists()
    assert Decimal(Member.objects.count()) == 3


def test_scrubbing_matches_whole_values_only():
    from members.personal_data import PersonalData

    personal = PersonalData(external_id="ann-1", email="a@x.org", name="Ann", pseudonym="erased-7")
    assert personal.scrub({"member": "ann-1", "order": "ann-10", "note": "Ann and Anna"}) == {
        "member": "erased-7",
        "order": "ann-10",
        "note": " and Anna",
    }
    assert personal.scrub("row 3: ann-1 (a@x.org) unknown") == "row 3: erased-7 () unknown"


def test_the_export_holds_the_consents_tiers_milestones_and_lots_the_member_has(
    shop, shop_client, program
):
    from rewards.models import Milestone, Tier

    Tier.objects.create(name="Bronze", rank=1, threshold=0)
    Tier.objects.create(name="Silver", rank=2, threshold=50)
    Milestone.objects.create(
        name="First purchase", kind=Milestone.Kind.PURCHASE_COUNT, target=1, bonus_points=5
    )
    shop_client.post("/api/v1/members", {"external_id": EXTERNAL_ID}, format="json")
    consent = shop_client.post(
        f"/api/v1/members/{EXTERNAL_ID}/consent",
        {"transactional": False, "marketing": True},
        format="json",
    )
    assert consent.status_code == 200
    for order_id, amount in (("E-1", "20.00"), ("E-2", "40.00")):
        shop_client.post(
            "/api/v1/purchases",
            {"member": EXTERNAL_ID, "order_id": order_id, "amount": amount, "currency": "EUR"},
            format="json",
        )
    member = Member.objects.get(external_id=EXTERNAL_ID)
    data = member_client_for(member).get("/api/v1/me/export").json()

    consents = {consent["category"]: consent for consent in data["consents"]}
    assert set(consents) == {"transactional", "marketing"}
    assert (consents["transactional"]["given"], consents["marketing"]["given"]) == (False, True)
    assert consents["marketing"]["changed_at"].endswith("Z")
    assert data["tier"]["tier"] == "Silver"
    assert [
        (change["from_tier__name"], change["to_tier__name"]) for change in data["tier_history"]
    ] == [("Bronze", "Silver")]
    assert [award["milestone__name"] for award in data["milestones"]] == ["First purchase"]
    assert sum(lot["remaining"] for lot in data["lots"]) == member.points_balance == 65
    assert data["profile"]["language"] == ""


def test_erasure_removes_the_address_and_name_from_the_emails_sent(shop, program):
    from django.core import mail

    from loyalty_engine.events.services import events_pump
    from rewards.models import MemberMessage
    from rewards.services.enrollment import member_enroll
    from rewards.services.messages import member_messages_send

    member = member_enroll(external_id=EXTERNAL_ID, email=EMAIL, name=NAME, shop=shop)
    events_pump()
    assert member_messages_send()["sent"] == 1
    assert mail.outbox[0].to == [EMAIL]
    message = MemberMessage.objects.get(member=member)
    assert (message.status, message.to_email) == ("sent", EMAIL)
    assert any(hit.startswith("rewards.MemberMessage.") for hit in _occurrences([EMAIL]))
    [sent] = member_client_for(member).get("/api/v1/me/export").json()["messages"]
    assert (sent["kind"], sent["to_email"], sent["sent_at"][-1]) == ("welcome", EMAIL, "Z")

    member_erase(member=member, reason="Asked to be forgotten")

    found = _occurrences([EXTERNAL_ID, EMAIL, NAME])
    assert found == [], "\n".join(found)
    message.refresh_from_db()
    assert (message.status, message.kind, message.to_email) == ("sent", "welcome", "")
