from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from loyalty_engine.events.services import webhook_endpoint_create


class Command(BaseCommand):
    help = "Add a webhook endpoint; prints its id and signing secret (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument(
            "--events", default="", help="Comma-separated event types (default: all)."
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--paused", action="store_true", help="Create it paused.")

    def handle(self, *args, url, events, description, paused, **options):
        types = [part.strip() for part in events.split(",") if part.strip()]
        try:
            endpoint = webhook_endpoint_create(
                url=url, event_types=types, description=description, is_active=not paused
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"id: {endpoint.pk}")
        self.stdout.write(f"secret: {endpoint.secret}")
        self.stdout.write("Keep the secret: it is not shown again.")
