"""Dispatching events to webhook endpoints, posting deliveries, and keeping the outbox
small. Writing events is `loyalty_engine.events.outbox`.

Delivery is at least once: a delivery is claimed with a lease (its next_attempt_at moved
past the receiver timeout) in a short transaction, posted outside any transaction, and
its outcome written afterwards; a worker killed in between leaves it due again when the
lease ends, and it is posted again with the same webhook-id.
"""

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from loyalty_engine.events import signing
from loyalty_engine.events.consumers import event_consumers
from loyalty_engine.events.models import Attempt, Delivery, Event, WebhookEndpoint
from loyalty_engine.events.types import ENVELOPE_VERSION, EVENT_TYPES
from loyalty_engine.events.urls_check import webhook_url_check

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 1000
DELIVERY_BATCH = 200
RESPONSE_START = 500
DEDUPED_KEEP_DAYS = 400


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_envelope(event: Event) -> dict:
    """The stable, versioned shape of an event, the same in the feed and in webhooks."""
    return {
        "id": event.public_id,
        "type": event.type,
        "version": ENVELOPE_VERSION,
        "occurred_at": rfc3339(event.occurred_at),
        "member": {"external_id": event.member.external_id} if event.member_id else None,
        "data": event.data,
    }


def event_types_check(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(
            f"Unknown event types: {', '.join(unknown)}.", code="unknown_event_type"
        )
    return types


@transaction.atomic
def webhook_endpoint_create(
    *, url: str, event_types: list[str], description: str = "", is_active: bool = True
) -> WebhookEndpoint:
    """A new endpoint with a fresh signing secret (shown once by the caller). Raises
    ValidationError for a URL that is not allowed or an unknown event type."""
    webhook_url_check(url)
    event_types_check(event_types)
    return WebhookEndpoint.objects.create(
        url=url,
        event_types=event_types,
        description=description,
        is_active=is_active,
        secret=signing.secret_new(),
    )


def events_dispatch(*, limit: int = DISPATCH_BATCH, now: datetime | None = None) -> int:
    """Fan the oldest undispatched events out: a delivery per subscribed endpoint (paused
    ones too: they get them when resumed) and whatever the consumers make of them. Safe to
    run concurrently (SKIP LOCKED) and twice. Returns the events dispatched."""
    now = now or timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True)
            .order_by("seq")[:limit]
        )
        if not events:
            return 0
        endpoints = list(WebhookEndpoint.objects.all())
        Delivery.objects.bulk_create(
            [
                Delivery(event=event, endpoint=endpoint, next_attempt_at=now, created_at=now)
                for event in events
                for endpoint in endpoints
                if endpoint.wants(event.type)
            ],
            ignore_conflicts=True,
        )
        for consumer in event_consumers():
            consumer(events)
        Event.objects.filter(seq__in=[event.seq for event in events]).update(dispatched_at=now)
    return len(events)


def _lease() -> timedelta:
    return timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)


def deliveries_claim(*, limit: int = DELIVERY_BATCH, now: datetime | None = None) -> list[int]:
    """Take up to `limit` due deliveries of active endpoints for this worker: their
    next_attempt_at moves past the lease, so no other worker takes them meanwhile."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=Delivery.Status.PENDING,
                next_attempt_at__lte=now,
                endpoint__is_active=True,
            )
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Delivery.objects.filter(id__in=ids).update(next_attempt_at=now + _lease())
    return ids


@dataclass
class _Outcome:
    delivery: Delivery
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_start: str
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _post(client: httpx.Client, delivery: Delivery, refused: dict) -> _Outcome:
    endpoint, event = delivery.endpoint, delivery.event
    attempted_at = timezone.now()
    started = time.monotonic()
    if endpoint.pk not in refused:
        try:
            webhook_url_check(endpoint.url)
            refused[endpoint.pk] = ""
        except ValidationError as error:
            refused[endpoint.pk] = error.messages[0]
    if refused[endpoint.pk]:
        return _Outcome(delivery, attempted_at, None, 0, "", refused[endpoint.pk][:500])
    body = json.dumps(event_envelope(event), separators=(",", ":")).encode()
    headers = signing.headers(
        secret=endpoint.secret,
        msg_id=event.public_id,
        timestamp=int(time.time()),
        body=body,
    )
    try:
        response = client.post(endpoint.url, content=body, headers=headers)
        status_code, text, error = response.status_code, response.text[:RESPONSE_START], ""
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError, OSError) as exc:
        # Any failure to post is that attempt's outcome, never the whole batch's.
        status_code, text = None, ""
        error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    latency = int((time.monotonic() - started) * 1000)
    return _Outcome(delivery, attempted_at, status_code, latency, text, error)


def retry_delay(attempts: int) -> timedelta | None:
    """The wait before the next attempt after `attempts` failed ones, with ±20% jitter;
    None once the schedule (WEBHOOK_RETRY_SCHEDULE) is used up."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    return timedelta(seconds=schedule[attempts - 1] * random.uniform(0.8, 1.2))


def deliveries_send(*, delivery_ids: list[int]) -> dict:
    """Post the claimed deliveries and record each attempt. Returns counts."""
    deliveries = list(
        Delivery.objects.select_related("event__member", "endpoint")
        .filter(id__in=delivery_ids, status=Delivery.Status.PENDING)
        .order_by("id")
    )
    outcomes: list[_Outcome] = []
    refused: dict[int, str] = {}
    unreachable: set[int] = set()
    deferred: list[Delivery] = []
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for delivery in deliveries:
            if delivery.endpoint_id in unreachable:
                # One timeout per endpoint and batch: a hanging receiver must not hold the
                # batch (and its lease) for a timeout per delivery.
                deferred.append(delivery)
                continue
            outcome = _post(client, delivery, refused)
            if outcome.status_code is None:
                unreachable.add(delivery.endpoint_id)
            outcomes.append(outcome)
    _outcomes_record(outcomes)
    if deferred:
        Delivery.objects.filter(id__in=[d.id for d in deferred]).update(
            next_attempt_at=timezone.now() + (retry_delay(1) or timedelta(0))
        )
    delivered = sum(1 for outcome in outcomes if outcome.ok)
    retries = [o.delivery.next_attempt_at for o in outcomes if not o.ok]
    retries += [timezone.now()] if deferred else []
    return {
        "delivered": delivered,
        "failed_attempts": len(outcomes) - delivered,
        "next_retry_at": min(retries) if retries else None,
    }


@transaction.atomic
def _outcomes_record(outcomes: list[_Outcome]) -> None:
    if not outcomes:
        return
    now = timezone.now()
    Attempt.objects.bulk_create(
        Attempt(
            delivery=o.delivery,
            attempted_at=o.attempted_at,
            status_code=o.status_code,
            latency_ms=o.latency_ms,
            response_start=o.response_start,
            error=o.error,
        )
        for o in outcomes
    )
    endpoints_ok, endpoints_failed = {}, {}
    for o in outcomes:
        delivery = o.delivery
        delivery.attempts += 1
        delivery.last_attempt_at = o.attempted_at
        if o.ok:
            delivery.status = Delivery.Status.DELIVERED
            delivery.delivered_at = now
            endpoints_ok[delivery.endpoint_id] = delivery.endpoint
        else:
            delay = retry_delay(delivery.attempts)
            if delay is None:
                delivery.status = Delivery.Status.FAILED
            else:
                delivery.next_attempt_at = now + delay
            endpoints_failed[delivery.endpoint_id] = (delivery.endpoint, o)
    Delivery.objects.bulk_update(
        [o.delivery for o in outcomes],
        ["attempts", "last_attempt_at", "status", "delivered_at", "next_attempt_at"],
    )
    if endpoints_ok:
        WebhookEndpoint.objects.filter(pk__in=list(endpoints_ok)).update(failing_since=None)
    for endpoint_id, (_, outcome) in endpoints_failed.items():
        if endpoint_id in endpoints_ok:
            continue
        _endpoint_failure(endpoint_id, outcome, now)


def _endpoint_failure(endpoint_id: int, outcome: _Outcome, now: datetime) -> None:
    """An endpoint failing for WEBHOOK_PAUSE_AFTER_SECONDS is paused, saying why."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        endpoint.save(update_fields=["failing_since"])
        return
    if (now - endpoint.failing_since).total_seconds() >= settings.WEBHOOK_PAUSE_AFTER_SECONDS:
        last = f"HTTP {outcome.status_code}" if outcome.status_code else outcome.error
        endpoint.is_active = False
        endpoint.paused_reason = (
            f"Paused automatically at {rfc3339(now)}: every delivery failed since "
            f"{rfc3339(endpoint.failing_since)}. Last answer: {last}"
        )[:1000]
        endpoint.save(update_fields=["is_active", "paused_reason"])


def deliveries_resend(*, delivery_ids: list[int]) -> int:
    """Make deliveries due now again (failed ones with a fresh retry schedule)."""
    return Delivery.objects.filter(id__in=delivery_ids).update(
        status=Delivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )


def endpoint_failed_resend(*, endpoint: WebhookEndpoint) -> int:
    return Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.FAILED).update(
        status=Delivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )


def endpoint_resume(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.is_active, endpoint.paused_reason, endpoint.failing_since = True, "", None
    endpoint.save(update_fields=["is_active", "paused_reason", "failing_since"])
    return endpoint


def events_pump(*, budget_seconds: float = 50.0) -> dict:
    """Dispatch new events and post due deliveries until there is nothing left or the
    budget is spent (a Celery task runs it; so does `manage.py events_pump`)."""
    deadline = time.monotonic() + budget_seconds
    counts = {"dispatched": 0, "delivered": 0, "failed_attempts": 0, "next_retry_at": None}
    while time.monotonic() < deadline:
        dispatched = events_dispatch()
        counts["dispatched"] += dispatched
        ids = deliveries_claim()
        if ids:
            sent = deliveries_send(delivery_ids=ids)
            counts["delivered"] += sent["delivered"]
            counts["failed_attempts"] += sent["failed_attempts"]
            if sent["next_retry_at"] is not None:
                counts["next_retry_at"] = min(
                    filter(None, [counts["next_retry_at"], sent["next_retry_at"]])
                )
        if not dispatched and not ids:
            break
    return counts


def member_events_scrub(*, member_id: int, scrub: Callable) -> int:
    """An erasure's part in the outbox, inside the erasure's transaction (the members app's
    eraser calls it with the erased values' `scrub`, so the outbox imports no app). The
    member's events keep their type and figures, but their payloads pass through `scrub`
    (a staff reason may name the member). Their webhook attempts keep status and latency,
    but no receiver's answer: a receiver may echo the payload, or answer with what it knows
    of the customer, cut at any length and in any encoding, so the answer is cleared; the
    error, our own text about the post, is scrubbed. The envelope reads the external id at
    delivery, so later deliveries carry the pseudonym. Returns the answers cleared and the
    errors scrubbed."""
    for seq, data in Event.objects.filter(member_id=member_id).values_list("seq", "data"):
        scrubbed = scrub(data)
        if scrubbed != data:
            Event.objects.filter(seq=seq).update(data=scrubbed)
    attempts = Attempt.objects.filter(delivery__event__member_id=member_id)
    changed = attempts.exclude(response_start="").update(response_start="")
    for pk, error in attempts.exclude(error="").values_list("pk", "error"):
        scrubbed = scrub(error)
        if scrubbed != error:
            changed += Attempt.objects.filter(pk=pk).update(error=scrubbed)
    return changed


def events_prune(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Remove events older than EVENTS_RETENTION_DAYS that were dispatched and whose
    deliveries all succeeded (a failed or pending delivery keeps its event for staff),
    in batches of `batch`, each its own transaction. Returns the events removed."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    # A points.expiring event is the once-per-member-and-date key (its dedupe_key): it is
    # kept until no notice window (at most a year) can reach its expiry date again.
    once_cutoff = now - timedelta(days=max(settings.EVENTS_RETENTION_DAYS, DEDUPED_KEEP_DAYS))
    open_delivery = Delivery.objects.filter(event=OuterRef("pk")).exclude(
        status=Delivery.Status.DELIVERED
    )
    removed = 0
    while True:
        with transaction.atomic():
            seqs = list(
                Event.objects.filter(created_at__lt=cutoff, dispatched_at__isnull=False)
                .filter(~Exists(open_delivery))
                .filter(Q(dedupe_key__isnull=True) | Q(created_at__lt=once_cutoff))
                .order_by("seq")
                .values_list("seq", flat=True)[:batch]
            )
            if not seqs:
                return removed
            Attempt.objects.filter(delivery__event__in=seqs).delete()
            Delivery.objects.filter(event__in=seqs).delete()
            Event.objects.filter(seq__in=seqs).delete()
        removed += len(seqs)
