from django.core.management.base import BaseCommand

from loyalty_engine.events.services import events_pump


class Command(BaseCommand):
    help = "Dispatch new events and deliver due webhooks now, in this process."

    def handle(self, *args, **options):
        counts = events_pump()
        counts.pop("next_retry_at", None)
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in counts.items()))
