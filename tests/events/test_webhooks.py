"""Webhook delivery in this process, to a real HTTP receiver on 127.0.0.1."""

import io
import json
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from loyalty_engine.events.models import Attempt, Delivery, Event, WebhookEndpoint
from loyalty_engine.events.services import (
    deliveries_resend,
    endpoint_failed_resend,
    events_prune,
    events_pump,
    webhook_endpoint_create,
)
from loyalty_engine.events.urls_check import webhook_url_check
from tests.conftest import earn

pytestmark = pytest.mark.django_db


def pump_until(condition, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition was not met in time")
        events_pump(budget_seconds=2)
        time.sleep(0.05)


def test_a_purchase_arrives_signed_and_the_signature_verifies(
    local_webhooks, receiver, shop, member
):
    endpoint = webhook_endpoint_create(url=receiver.url, event_types=["points.earned"])
    earn(shop, member, "42.00", order_id="SIGNED-1")
    events_pump()
    [request] = receiver.wait_for(1)
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "points.earned"
    assert payload["data"]["order_id"] == "SIGNED-1"
    assert request.headers["webhook-id"] == payload["id"]
    assert endpoint.secret.startswith("whsec_")
    # A tampered body does not verify.
    with pytest.raises(Exception):  # noqa: B017 - the library's own verification error
        Webhook(endpoint.secret).verify(request.body.replace(b"42", b"43"), request.headers)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.DELIVERED
    attempt = Attempt.objects.get()
    assert (attempt.status_code, attempt.response_start) == (200, "ok")


def test_only_subscribed_types_are_delivered(local_webhooks, receiver, shop, member):
    webhook_endpoint_create(url=receiver.url, event_types=["tier.changed"])
    earn(shop, member, "10.00")
    events_pump()
    assert Delivery.objects.count() == 0
    assert receiver.received == []
    assert Event.objects.get().dispatched_at is not None


def test_a_receiver_failing_twice_gets_the_third_attempt_with_the_same_id(
    local_webhooks, receiver, shop, member
):
    receiver.script = [500, 503]
    webhook_endpoint_create(url=receiver.url, event_types=[])
    earn(shop, member, "10.00")
    pump_until(lambda: Delivery.objects.filter(status="delivered").exists())
    requests = receiver.wait_for(3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert [a.status_code for a in Attempt.objects.order_by("attempted_at")] == [500, 503, 200]
    assert Attempt.objects.filter(status_code=500).get().response_start == "receiver says no"
    assert Delivery.objects.get().attempts == 3


def test_a_delivery_is_marked_failed_after_the_schedule_then_resent(
    local_webhooks, receiver, shop, member
):
    receiver.default = 500
    endpoint = webhook_endpoint_create(url=receiver.url, event_types=[])
    earn(shop, member, "10.00")
    pump_until(lambda: Delivery.objects.filter(status="failed").exists())
    # The first attempt and one per wait of the schedule.
    assert Delivery.objects.get().attempts == 1 + len(local_webhooks.WEBHOOK_RETRY_SCHEDULE)
    receiver.default = 200
    assert endpoint_failed_resend(endpoint=endpoint) == 1
    pump_until(lambda: Delivery.objects.filter(status="delivered").exists())
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


def test_a_hanging_receiver_is_cut_off_at_the_timeout(local_webhooks, receiver, shop, member):
    local_webhooks.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.script, receiver.hang_seconds = [None], 3
    webhook_endpoint_create(url=receiver.url, event_types=[])
    earn(shop, member, "10.00")
    started = time.monotonic()
    events_pump(budget_seconds=1)
    assert time.monotonic() - started < 2.5
    attempt = Attempt.objects.get()
    assert attempt.status_code is None
    assert "Timeout" in attempt.error
    assert Delivery.objects.get().status == Delivery.Status.PENDING


def test_an_endpoint_failing_for_a_day_is_paused_with_the_reason(
    local_webhooks, receiver, shop, member
):
    receiver.default = 500
    endpoint = webhook_endpoint_create(url=receiver.url, event_types=[])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(days=1, minutes=1)
    )
    earn(shop, member, "10.00")
    events_pump(budget_seconds=1)
    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert "HTTP 500" in endpoint.paused_reason
    # Paused: nothing more is posted, the delivery waits.
    deliveries_resend(delivery_ids=list(Delivery.objects.values_list("id", flat=True)))
    sent = len(receiver.received)
    events_pump(budget_seconds=1)
    assert len(receiver.received) == sent


def test_a_success_ends_the_failing_period(local_webhooks, receiver, shop, member):
    receiver.script = [500]
    endpoint = webhook_endpoint_create(url=receiver.url, event_types=[])
    earn(shop, member, "10.00")
    events_pump(budget_seconds=1)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    pump_until(lambda: Delivery.objects.filter(status="delivered").exists())
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.is_active


@pytest.mark.parametrize(
    "url, code",
    [
        ("not a url", "invalid_url"),
        ("ftp://example.com/hook", "invalid_url"),
        ("http://93.184.216.34/hook", "insecure_url"),
        ("https://127.0.0.1/hook", "address_not_allowed"),
        ("https://10.1.2.3/hook", "address_not_allowed"),
        ("https://192.168.0.10/hook", "address_not_allowed"),
        ("https://169.254.169.254/latest/meta-data", "address_not_allowed"),
        ("https://[::1]/hook", "address_not_allowed"),
        ("https://localhost/hook", "address_not_allowed"),
    ],
)
def test_production_refuses_urls_that_are_not_public_https(settings, url, code):
    settings.WEBHOOK_ALLOW_LOCAL = False
    with pytest.raises(ValidationError) as refused:
        webhook_url_check(url)
    assert refused.value.code == code


def test_production_accepts_a_public_https_address(settings):
    settings.WEBHOOK_ALLOW_LOCAL = False
    assert webhook_url_check("https://93.184.216.34/hook") == "https://93.184.216.34/hook"


def test_a_delivery_to_a_url_no_longer_allowed_is_refused_not_posted(
    local_webhooks, receiver, shop, member
):
    webhook_endpoint_create(url=receiver.url, event_types=[])
    local_webhooks.WEBHOOK_ALLOW_LOCAL = False
    earn(shop, member, "10.00")
    events_pump(budget_seconds=1)
    assert receiver.received == []
    assert "https" in Attempt.objects.get().error


def test_webhook_add_prints_the_id_and_secret_once(local_webhooks, receiver):
    out = io.StringIO()
    call_command("webhook_add", receiver.url, "--events", "points.earned,tier.changed", stdout=out)
    endpoint = WebhookEndpoint.objects.get()
    assert f"id: {endpoint.pk}" in out.getvalue()
    assert f"secret: {endpoint.secret}" in out.getvalue()
    assert endpoint.event_types == ["points.earned", "tier.changed"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["not-a-url"], "valid"),
        (["http://127.0.0.1:9/hook", "--events", "points.stolen"], "points.stolen"),
    ],
)
def test_webhook_add_refuses_bad_input_clearly(local_webhooks, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("webhook_add", *args, stdout=io.StringIO())
    assert not WebhookEndpoint.objects.exists()


def test_webhook_add_refuses_plain_http_in_production(settings):
    settings.WEBHOOK_ALLOW_LOCAL = False
    with pytest.raises(CommandError, match="https"):
        call_command("webhook_add", "http://example.com/hook", stdout=io.StringIO())


def test_delivered_events_are_pruned_after_the_retention_failed_ones_kept(
    local_webhooks, receiver, shop, member
):
    webhook_endpoint_create(url=receiver.url, event_types=[])
    earn(shop, member, "10.00")
    earn(shop, member, "11.00")
    events_pump()
    failed = Delivery.objects.order_by("id").last()
    Delivery.objects.filter(pk=failed.pk).update(status=Delivery.Status.FAILED)
    local_webhooks.EVENTS_RETENTION_DAYS = 30
    assert events_prune(now=timezone.now() + timedelta(days=29)) == 0
    assert events_prune(now=timezone.now() + timedelta(days=31), batch=1) == 1
    assert list(Event.objects.values_list("seq", flat=True)) == [failed.event_id]


def test_the_admin_adds_an_endpoint_shows_the_secret_and_refuses_a_bad_url(
    admin_client, local_webhooks, receiver
):
    response = admin_client.post(
        "/admin/events/webhookendpoint/add/",
        {
            "url": receiver.url,
            "description": "CRM",
            "event_types": ["points.earned"],
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    local_webhooks.WEBHOOK_ALLOW_LOCAL = False
    refused = admin_client.post(
        "/admin/events/webhookendpoint/add/", {"url": "http://10.0.0.1/x", "is_active": "on"}
    )
    assert refused.status_code == 200
    assert "https" in refused.content.decode()
    assert WebhookEndpoint.objects.count() == 1


def test_the_delivery_log_shows_each_attempt(admin_client, local_webhooks, receiver, shop, member):
    receiver.script = [500]
    webhook_endpoint_create(url=receiver.url, event_types=[])
    earn(shop, member, "10.00")
    pump_until(lambda: Delivery.objects.filter(status="delivered").exists())
    delivery = Delivery.objects.get()
    page = admin_client.get(f"/admin/events/delivery/{delivery.pk}/change/").content.decode()
    assert "receiver says no" in page and "500" in page
    assert delivery.event.public_id in admin_client.get("/admin/events/delivery/").content.decode()
    body = json.loads(json.dumps(delivery.event.data))
    assert body["points"] == 10


def test_a_points_expiring_event_outlives_the_retention_so_it_stays_once(local_webhooks):
    from loyalty_engine.events.outbox import events_bulk_emit

    events_bulk_emit(
        [{"type": "points.expiring", "member_id": None, "dedupe_key": "points.expiring:1:x"}]
    )
    events_pump()
    assert events_prune(now=timezone.now() + timedelta(days=31)) == 0
    assert events_prune(now=timezone.now() + timedelta(days=401)) == 1
