"""Thin Celery tasks of the outbox. Schedules: CELERY_BEAT_SCHEDULE in settings."""

from celery import shared_task
from django.utils import timezone

from loyalty_engine.events.services import events_prune
from loyalty_engine.events.services import events_pump as events_pump_run

# Retries due sooner than this are scheduled by the pump itself; later ones by beat.
SELF_SCHEDULE_SECONDS = 300


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def events_pump() -> dict:
    """Dispatch and deliver what is due. Safe to run twice and concurrently."""
    counts = events_pump_run()
    next_retry_at = counts.pop("next_retry_at")
    if next_retry_at is not None:
        wait = (next_retry_at - timezone.now()).total_seconds()
        if wait < SELF_SCHEDULE_SECONDS:
            events_pump.apply_async(countdown=max(wait, 0) + 0.1)
    return counts


@shared_task(acks_late=True, soft_time_limit=30 * 60, time_limit=31 * 60)
def events_prune_task() -> int:
    return events_prune()
