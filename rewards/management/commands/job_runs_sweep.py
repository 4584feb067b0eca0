"""Close as interrupted the nightly runs whose worker died (rewards.services.nightly)."""

from django.core.management.base import BaseCommand

from rewards.services.nightly import job_runs_sweep


class Command(BaseCommand):
    help = (
        "Mark as interrupted every nightly run still 'running' without progress for "
        "JOB_RUN_STALE_AFTER_SECONDS (or --stale-after seconds)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--stale-after", type=int, default=None, metavar="SECONDS")

    def handle(self, *args, stale_after: int | None, **options):
        runs = job_runs_sweep(stale_after_seconds=stale_after)
        for run in runs:
            self.stdout.write(
                f"{run.job} run {run.pk}: interrupted after {run.chunks_done} of "
                f"{run.chunks_total} chunks ({run.items_processed} items)."
            )
        self.stdout.write(f"{len(runs)} run(s) marked interrupted.")
