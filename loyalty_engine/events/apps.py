from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    """The outbox of events every app writes to, the pull feed and webhook delivery.
    It sits below the apps: it imports none of them, they call `events_emit`."""

    name = "loyalty_engine.events"
    label = "events"
    verbose_name = _("Events and webhooks")
