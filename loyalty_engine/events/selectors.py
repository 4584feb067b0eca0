from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from loyalty_engine.events.models import Event


def event_list(*, after: int, types: list[str] | None, limit: int) -> QuerySet[Event]:
    """Events after the cursor in `seq` order, old enough to have settled: an event is
    listed EVENTS_FEED_SETTLE_SECONDS after it was written, by which time the transaction
    that wrote it (events are written as its last statement) has committed or rolled back,
    so no event can appear later behind a reader's cursor."""
    settled = timezone.now() - timedelta(seconds=settings.EVENTS_FEED_SETTLE_SECONDS)
    events = Event.objects.select_related("member").filter(seq__gt=after, created_at__lte=settled)
    if types:
        events = events.filter(type__in=types)
    return events.order_by("seq")[:limit]
