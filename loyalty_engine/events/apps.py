from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The outbox of events every app writes to, the pull feed and webhook delivery.
    It sits below the apps: it imports none of them, they call `events_emit`."""

    name = "loyalty_engine.events"
    label = "events"
    verbose_name = "Events and webhooks"
