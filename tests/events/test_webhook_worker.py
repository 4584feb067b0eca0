"""Webhooks end to end with real parts: a Celery worker process on Redis, the PostgreSQL
test database, and an HTTP receiver on 127.0.0.1. The worker is killed with SIGKILL while
it posts; the event is delivered later, with the same webhook-id."""

import time
import uuid

import pytest
import redis
from celery import Celery
from django.db import connection
from standardwebhooks.webhooks import Webhook

from loyalty_engine.events.models import Attempt, Delivery
from loyalty_engine.events.services import webhook_endpoint_create
from tests.conftest import earn
from tests.rewards.test_nightly_worker import REDIS_URL, Worker

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3


@pytest.fixture
def queue():
    name = f"events-test-{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(name)
    client.close()


@pytest.fixture
def worker(queue, tmp_path, monkeypatch, settings):
    settings.WEBHOOK_ALLOW_LOCAL = True
    # The worker process reads these from its environment (a copy of ours).
    monkeypatch.setenv("WEBHOOK_ALLOW_LOCAL", "true")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("WEBHOOK_LEASE_SECONDS", str(LEASE_SECONDS))
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "0.5,0.5,0.5")
    handle = Worker(tmp_path, queue)
    yield handle
    handle.stop()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def client_app(queue):
    app = Celery("events-test-client", broker=REDIS_URL, backend=REDIS_URL)
    app.conf.task_default_queue = queue
    yield app
    app.close()


def pump(client_app) -> None:
    client_app.send_task("loyalty_engine.events.tasks.events_pump")


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_worker_delivers_a_signed_purchase_and_retries_a_failing_receiver(
    worker, client_app, receiver, shop, member
):
    receiver.script = [500, 502]
    endpoint = webhook_endpoint_create(url=receiver.url, event_types=["points.earned"])
    worker.start()
    earn(shop, member, "42.00", order_id="W-1")
    pump(client_app)
    # The worker schedules its own retries (0.5 s here): no second pump is sent.
    wait_until(lambda: Delivery.objects.filter(status="delivered").exists())
    requests = receiver.wait_for(3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    payload = Webhook(endpoint.secret).verify(requests[-1].body, requests[-1].headers)
    assert payload["data"]["order_id"] == "W-1"


def test_kill_9_of_the_worker_mid_delivery_loses_nothing(
    worker, client_app, receiver, shop, member
):
    receiver.script, receiver.hang_seconds = [None], 60  # the first post hangs
    endpoint = webhook_endpoint_create(url=receiver.url, event_types=[])
    worker.start()
    earn(shop, member, "10.00", order_id="K-1")
    pump(client_app)
    receiver.wait_for(1)
    worker.kill()  # SIGKILL to the worker's process group, mid-post
    assert Delivery.objects.get().status == Delivery.Status.PENDING

    worker.start()
    time.sleep(LEASE_SECONDS + 0.5)  # the killed worker's lease ends
    pump(client_app)
    wait_until(lambda: Delivery.objects.filter(status="delivered").exists())
    first, second = receiver.wait_for(2)[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(endpoint.secret).verify(second.body, second.headers)
    assert Attempt.objects.filter(status_code=200).count() == 1
