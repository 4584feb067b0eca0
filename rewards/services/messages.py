"""Emails to members, built from the same events as the webhooks.

The events dispatcher calls `messages_from_events` with each batch of new events
(loyalty_engine.events.consumers): a welcome for member.enrolled, a note for tier.changed
and voucher.issued, a reminder for points.expiring (itself once per member and expiry
date). It writes a pending MemberMessage per email, at most one per event and kind (a
unique key), and a task sends them after commit (`member_messages_send`).

Who gets nothing: erased and suspended members, members without an email address, members
without consent for the message's category, and message types staff turned off in the
program settings. Every email carries a signed unsubscribe link that works without login.
"""

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty_engine import i18n
from loyalty_engine.events.consumers import event_consumer_register
from loyalty_engine.locale_format import date_format, number_format
from members.models import Member
from members.services import CONSENT_FIELD, MARKETING, TRANSACTIONAL, unsubscribe_token
from rewards.models import MemberMessage
from rewards.selectors import program_get

logger = logging.getLogger(__name__)

Kind = MemberMessage.Kind
Status = MemberMessage.Status

KIND_OF_EVENT = {
    "member.enrolled": Kind.WELCOME,
    "tier.changed": Kind.TIER_CHANGED,
    "voucher.issued": Kind.VOUCHER_ISSUED,
    "points.expiring": Kind.POINTS_EXPIRING,
}
PROGRAM_SWITCH = {
    Kind.WELCOME: "message_welcome",
    Kind.TIER_CHANGED: "message_tier_changed",
    Kind.VOUCHER_ISSUED: "message_voucher_issued",
    Kind.POINTS_EXPIRING: "message_points_expiring",
}
# Which consent each message needs: a tier change is news about the program; the others
# are about the member's own account, points and vouchers.
CATEGORY = {
    Kind.WELCOME: TRANSACTIONAL,
    Kind.VOUCHER_ISSUED: TRANSACTIONAL,
    Kind.POINTS_EXPIRING: TRANSACTIONAL,
    Kind.TIER_CHANGED: MARKETING,
}
SEND_BATCH = 100
# A message being sent is not due again for this long (a worker killed mid-send).
SEND_LEASE = timedelta(minutes=5)
# Waits after each failed send (the mail server down); then the message is failed.
SEND_RETRIES = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))


def _refusal(member: Member, kind: str, program) -> str:
    """Why this member gets no message of this kind, or ''."""
    if member.status != Member.Status.ACTIVE:
        return f"member is {member.status}"
    if not member.email:
        return "no email address"
    if not getattr(program, PROGRAM_SWITCH[kind]):
        return "message type turned off"
    if not getattr(member, CONSENT_FIELD[CATEGORY[kind]]):
        return f"no {CATEGORY[kind]} consent"
    return ""


def messages_from_events(events: list) -> int:
    """The events consumer: a pending message per event that makes one, for members who
    may get it. Runs in the dispatcher's transaction. Returns the messages written."""
    # An import's events are history: no email is built from them.
    wanted = [
        event
        for event in events
        if event.type in KIND_OF_EVENT and event.member_id and not event.data.get("imported")
    ]
    if not wanted:
        return 0
    program = program_get()
    members = Member.objects.in_bulk({event.member_id for event in wanted})
    now = timezone.now()
    messages = []
    for event in wanted:
        kind = KIND_OF_EVENT[event.type]
        member = members.get(event.member_id)
        if member is None or _refusal(member, kind, program):
            continue
        messages.append(
            MemberMessage(
                member=member,
                kind=kind,
                event_uid=event.uid,
                data={**event.data, "occurred_at": event.occurred_at.isoformat()},
                created_at=now,
                next_try_at=now,
            )
        )
    if not messages:
        return 0
    MemberMessage.objects.bulk_create(messages, ignore_conflicts=True)

    def send():
        from rewards.tasks import member_messages_send_task

        member_messages_send_task.delay()

    transaction.on_commit(send)
    return len(messages)


event_consumer_register(messages_from_events)


def _claim(now: datetime) -> list[int]:
    with transaction.atomic():
        ids = list(
            MemberMessage.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, next_try_at__lte=now)
            .order_by("next_try_at", "id")
            .values_list("id", flat=True)[:SEND_BATCH]
        )
        if ids:
            MemberMessage.objects.filter(id__in=ids).update(next_try_at=now + SEND_LEASE)
    return ids


def _language(member: Member, program) -> str:
    """The member's language; else the program's default language (loyalty_engine.i18n)."""
    return (
        i18n.supported(getattr(member, "language", ""))
        or i18n.supported(getattr(program, "default_language", ""))
        or i18n.program_language()
    )


def _number(value, language: str):
    """A count as the member's language writes it (1 000 in Swedish); None stays None."""
    return None if value is None else number_format(value, language=language)


def _day(value, language: str) -> str:
    """An ISO date of an event as the member's language writes it (13 december 2026)."""
    try:
        return date_format(date.fromisoformat(value), language=language)
    except (TypeError, ValueError):
        return value or ""


def message_render(message: MemberMessage, *, program) -> tuple[str, str, str, str]:
    """(subject, text, html, unsubscribe URL) of a message, in the member's language."""
    member = message.member
    category = CATEGORY[message.kind]
    unsubscribe_url = settings.PUBLIC_BASE_URL.rstrip("/") + reverse(
        "member-unsubscribe",
        kwargs={"token": unsubscribe_token(member_id=member.pk, category=category)},
    )
    data = message.data
    language = _language(member, program)
    with translation.override(language):
        subjects = {
            Kind.WELCOME: _("Welcome to %(program)s"),
            Kind.TIER_CHANGED: _("Your tier in %(program)s is now %(tier)s"),
            Kind.VOUCHER_ISSUED: _("Your voucher for %(reward)s"),
            Kind.POINTS_EXPIRING: _("%(points)s of your points expire on %(day)s"),
        }
        context = {
            "program": program.name,
            "name": member.name,
            "data": data,
            "tier": data.get("to_tier") or "",
            "reward": data.get("reward") or "",
            "points": _number(data.get("points"), language),
            "day": _day(data.get("expires_on"), language),
            "balance": _number((data.get("balance") or {}).get("available"), language),
            "spend_url": program.spend_url,
            "unsubscribe_url": unsubscribe_url,
            "category": category,
        }
        subject = subjects[message.kind] % context
        text = render_to_string(f"rewards/messages/{message.kind}.txt", context)
        html = render_to_string(f"rewards/messages/{message.kind}.html", context)
    return subject, text, html, unsubscribe_url


def member_messages_send(*, now: datetime | None = None) -> dict:
    """Send the due pending messages, checking again that each member may get it (they
    may have unsubscribed or been suspended since). Returns counts."""
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    program = program_get()
    while True:
        ids = _claim(now or timezone.now())
        if not ids:
            return counts
        for message in MemberMessage.objects.select_related("member").filter(id__in=ids):
            refusal = _refusal(message.member, message.kind, program)
            if refusal:
                message.status, message.detail = Status.SKIPPED, refusal
                message.save(update_fields=["status", "detail"])
                counts["skipped"] += 1
                continue
            subject, text, html, unsubscribe_url = message_render(message, program=program)
            email = EmailMultiAlternatives(
                subject=subject,
                body=text,
                to=[message.member.email],
                headers={
                    "List-Unsubscribe": f"<{unsubscribe_url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
            email.attach_alternative(html, "text/html")
            try:
                email.send()
            except Exception as error:  # noqa: BLE001 - any transport's failure is logged
                logger.warning("Message %s not sent: %s", message.pk, error)
                message.attempts += 1
                message.detail = f"{type(error).__name__}: {error}"[:500]
                if message.attempts > len(SEND_RETRIES):
                    message.status = Status.FAILED
                else:
                    message.next_try_at = timezone.now() + SEND_RETRIES[message.attempts - 1]
                message.save(update_fields=["status", "detail", "attempts", "next_try_at"])
                counts["failed"] += 1
                continue
            message.status, message.sent_at = Status.SENT, timezone.now()
            message.to_email, message.subject = message.member.email, subject
            message.save(update_fields=["status", "sent_at", "to_email", "subject"])
            counts["sent"] += 1
