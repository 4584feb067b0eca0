import sys

from django.core.management.base import BaseCommand

from members.models import Member
from rewards.services.verification import ledger_problems, member_id_chunks


class Command(BaseCommand):
    help = (
        "Check for every member that the cached balance, the ledger entries and the lots "
        "agree. Exits 1 if any member drifts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=2000)

    def handle(self, *args, chunk_size: int, **options):
        total = Member.objects.count()
        checked = drifting = 0
        for ids in member_id_chunks(chunk_size):
            problems = ledger_problems(ids)
            checked += len(ids)
            drifting += len(problems)
            external_ids = dict(
                Member.objects.filter(pk__in=problems).values_list("pk", "external_id")
            )
            for member_id, sentences in problems.items():
                for sentence in sentences:
                    self.stderr.write(f"Member {external_ids[member_id]}: {sentence}")
            if sys.stdout.isatty() or options["verbosity"] > 1:
                self.stdout.write(f"\rChecked {checked}/{total} members", ending="")
        if sys.stdout.isatty() or options["verbosity"] > 1:
            self.stdout.write("")
        if drifting:
            self.stderr.write(
                self.style.ERROR(f"{drifting} of {checked} members do not reconcile.")
            )
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"All {checked} members reconcile."))
