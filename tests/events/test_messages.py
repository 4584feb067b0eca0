"""Emails to members, built from events, sent through a real SMTP server on 127.0.0.1."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from loyalty_engine.events.services import events_pump
from loyalty_engine.locale_format import date_format
from members.services import member_suspend
from rewards.models import MemberMessage, PointLot, Tier
from rewards.services.enrollment import member_enroll
from rewards.services.expiring import points_expiring_notify
from rewards.services.messages import member_messages_send
from tests.conftest import earn
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def deliver():
    """What the worker does after a commit: dispatch the events, then send the emails."""
    events_pump()
    member_messages_send()


def expiring_member(shop):
    member = MemberFactory(email="ann@example.com", name="Ann")
    earned = (datetime.now(UTC) - timedelta(days=334)).replace(day=2)
    earn(shop, member, "25.00", occurred_at=earned)
    return member, PointLot.objects.get(member=member).expires_at


def test_the_expiring_points_email_is_sent_once(smtp, shop, program):
    program.spend_url = "https://shop.example.com/rewards"
    program.save()
    member, expires_at = expiring_member(shop)
    as_of = expires_at - timedelta(days=10)
    for night in range(3):  # three nights in the notice window
        points_expiring_notify(as_of=as_of + timedelta(days=night))
        deliver()
    [(to, email)] = smtp.messages
    assert to == ["ann@example.com"]
    # The date as the member's language writes it (English here: the program's default).
    assert "25" in email["Subject"] and date_format(expires_at.date()) in email["Subject"]
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert "https://shop.example.com/rewards" in text and "https://shop.example.com/rewards" in html
    assert "/unsubscribe/" in email["List-Unsubscribe"]
    message = MemberMessage.objects.get(member=member)
    assert (message.kind, message.status) == ("points_expiring", "sent")


@pytest.mark.parametrize(
    ("member_language", "program_language", "subject", "hello"),
    [
        ("sv", "en", "25 av dina poäng går ut", "Hej Ann!"),
        ("", "da", "25 af dine point udløber", "Hej Ann"),
        ("da", "sv", "25 af dine point udløber", "Hej Ann"),
    ],
)
def test_the_email_speaks_the_members_language_else_the_programs(
    smtp, shop, program, member_language, program_language, subject, hello
):
    program.default_language = program_language
    program.save()
    member, expires_at = expiring_member(shop)
    member.language = member_language
    member.save()
    points_expiring_notify(as_of=expires_at - timedelta(days=10))
    deliver()
    [(_, email)] = smtp.messages
    language = member_language or program_language
    assert email["Subject"].startswith(subject)
    assert date_format(expires_at.date(), language=language) in email["Subject"]
    text = email.get_body(("plain",)).get_content()
    assert text.startswith(hello)
    assert "expire" not in text


def test_an_unsubscribe_link_works_without_login(smtp, shop, program):
    member, expires_at = expiring_member(shop)
    points_expiring_notify(as_of=expires_at - timedelta(days=10))
    deliver()
    [(_, email)] = smtp.messages
    url = re.search(r"http\S+/unsubscribe/\S+", email.get_body(("plain",)).get_content()).group()
    path = url.split("://", 1)[1].split("/", 1)[1]
    client = Client(enforce_csrf_checks=True)
    page = client.get(f"/{path}")
    assert page.status_code == 200 and b"<form" in page.content
    member.refresh_from_db()
    assert member.consent_transactional  # a GET (a link scanner) changes nothing
    done = client.post(f"/{path}")
    assert done.status_code == 200 and b'id="done"' in done.content
    member.refresh_from_db()
    assert member.consent_transactional is False
    # Nothing more is sent to them.
    member_enroll_welcome = MemberMessage.objects.count()
    points_expiring_notify(as_of=expires_at - timedelta(days=40))
    deliver()
    assert len(smtp.messages) == 1
    assert MemberMessage.objects.count() == member_enroll_welcome


def test_a_forged_unsubscribe_link_is_refused(client, member):
    assert client.post("/unsubscribe/not-a-token").status_code == 404
    member.refresh_from_db()
    assert member.consent_transactional


def test_welcome_tier_and_voucher_messages_follow_consent_and_program_switches(smtp, shop, program):
    Tier.objects.create(name="Bronze", rank=1, threshold=0)
    Tier.objects.create(name="Gold", rank=2, threshold=100)
    member = member_enroll(external_id="ann", email="ann@example.com", shop=shop)
    earn(shop, member, "150.00")  # to Gold: a marketing message, no consent yet
    deliver()
    assert [email["Subject"] for _, email in smtp.messages] == ["Welcome to Loyalty program"]
    member.consent_marketing = True
    member.save()
    program.message_welcome = False
    program.save()
    member_enroll(external_id="bob", email="bob@example.com", shop=shop)
    from rewards.services.tiers import member_tier_pin

    Tier.objects.create(name="Platinum", rank=3, threshold=10_000)
    member_tier_pin(member=member, floor=Tier.objects.get(name="Platinum"))
    deliver()
    subjects = [email["Subject"] for _, email in smtp.messages]
    assert subjects == [
        "Welcome to Loyalty program",
        "Your tier in Loyalty program is now Platinum",
    ]


def test_suspended_and_erased_members_get_nothing(smtp, shop, program):
    member, expires_at = expiring_member(shop)
    member_suspend(member=member, reason="check")
    points_expiring_notify(as_of=expires_at - timedelta(days=10))
    deliver()
    assert smtp.messages == []


def test_a_member_suspended_before_sending_is_skipped_with_the_reason(smtp, shop, program):
    member = member_enroll(external_id="ann", email="ann@example.com", shop=shop)
    events_pump()
    member_suspend(member=member, reason="check")
    member_messages_send()
    assert smtp.messages == []
    message = MemberMessage.objects.get()
    assert (message.status, message.detail) == ("skipped", "member is suspended")


def test_consent_is_set_through_the_api(shop_client, member):
    url = f"/api/v1/members/{member.external_id}/consent"
    assert shop_client.get(url).json() == {"transactional": True, "marketing": False}
    response = shop_client.post(url, {"marketing": True, "transactional": False}, format="json")
    assert response.status_code == 200
    assert response.json() == {"transactional": False, "marketing": True}
    bad = shop_client.post(url, {"marketing": "perhaps"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"
    assert shop_client.post("/api/v1/members/nobody/consent", {}, format="json").status_code == 404


def test_staff_see_a_members_messages_on_the_member_page(admin_client, smtp, shop, program):
    member = member_enroll(external_id="ann", email="ann@example.com", shop=shop)
    deliver()
    page = admin_client.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert 'id="messages"' in page
    assert "Welcome to Loyalty program" in page


def test_staff_switch_message_types_in_the_program_settings(admin_client, program):
    page = admin_client.get("/admin/rewards/program/1/change/").content.decode()
    for field in (
        "message_welcome",
        "message_tier_changed",
        "message_voucher_issued",
        "message_points_expiring",
        "expiring_notice_days",
    ):
        assert f'name="{field}"' in page


@pytest.mark.parametrize(
    "body",
    [["not", "an", "object"], {"transactional": None}, {"marketing": "perhaps"}],
)
def test_bad_consent_input_is_400_and_changes_nothing(shop_client, member, body):
    response = shop_client.post(
        f"/api/v1/members/{member.external_id}/consent", body, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    member.refresh_from_db()
    assert (member.consent_transactional, member.consent_marketing) == (True, False)


def test_consent_of_an_erased_member_is_refused(shop_client, member):
    from members.services import member_erase

    member_erase(member=member, reason="asked")
    response = shop_client.post(
        f"/api/v1/members/erased-{member.pk}/consent", {"marketing": True}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "member_erased"


def test_consent_needs_a_shop_key(member):
    from rest_framework.test import APIClient

    response = APIClient().post(f"/api/v1/members/{member.external_id}/consent", {})
    assert response.status_code in (401, 403)


@pytest.mark.parametrize("token", ["x" * 2000, "abc:def:ghi", "%00"])
def test_a_garbage_unsubscribe_token_is_404_not_500(client, token):
    assert client.get(f"/unsubscribe/{token}").status_code == 404
    assert client.post(f"/unsubscribe/{token}").status_code == 404


def test_a_mail_server_that_is_down_gets_the_message_later(smtp, settings, shop, program):
    from tests.events.receivers import free_port

    member_enroll(external_id="ann", email="ann@example.com", shop=shop)
    events_pump()
    settings.EMAIL_PORT = free_port()  # nothing listens there
    assert member_messages_send()["failed"] == 1
    message = MemberMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.next_try_at > message.created_at
    settings.EMAIL_PORT = smtp.port
    member_messages_send(now=message.next_try_at)
    message.refresh_from_db()
    assert message.status == "sent"
    assert len(smtp.messages) == 1
