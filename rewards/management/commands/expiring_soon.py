import csv

from django.core.management.base import BaseCommand
from django.utils import timezone

from rewards.selectors import EXPIRING_SOON_DAYS, expiring_soon_member_list, program_get

from ._options import as_of_localize, as_of_parse, positive_int


class Command(BaseCommand):
    help = (
        "List, as CSV, the members with points that expire within the next days: "
        "external_id, email, points, first_expiry (in the program's time zone)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=positive_int,
            default=EXPIRING_SOON_DAYS,
            help=f"How far ahead to look (default {EXPIRING_SOON_DAYS} days).",
        )
        parser.add_argument(
            "--as-of",
            help="Look ahead from this moment (ISO 8601; without an offset it is in the "
            "program's time zone). Default: now.",
        )

    def handle(self, *args, days, as_of, **options):
        parsed = as_of_parse(as_of) if as_of else None
        tz = program_get().tz
        at = as_of_localize(parsed, tz=tz) if parsed else timezone.now()
        writer = csv.writer(self.stdout, lineterminator="")
        writer.writerow(["external_id", "email", "points", "first_expiry"])
        for row in expiring_soon_member_list(as_of=at, days=days).iterator(chunk_size=2000):
            writer.writerow(
                [
                    row["external_id"],
                    row["email"],
                    row["points"],
                    row["first_expiry"].astimezone(tz).isoformat(),
                ]
            )
