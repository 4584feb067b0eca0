import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from rewards.errors import NightlyJobUnknown
from rewards.jobs import nightly_job_get, nightly_job_list
from rewards.models import JobRun
from rewards.selectors import program_get
from rewards.services.nightly import CHUNK_SIZE, job_run_inline

from ._options import as_of_localize, as_of_parse, positive_int


class Command(BaseCommand):
    help = (
        "Run the nightly jobs now, in this process (no Celery worker needed), with a "
        "progress bar and a summary line per job. Safe to run again for the same as-of: "
        "it changes nothing the second time."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            help="Bring members up to this moment (ISO 8601, e.g. 2026-01-31T02:00; without "
            "an offset it is in the program's time zone). Default: now.",
        )
        parser.add_argument(
            "--job",
            help="Run only this job (default: every job, in schedule order): "
            + ", ".join(job.name for job in nightly_job_list())
            + ".",
        )
        parser.add_argument(
            "--chunk-size",
            type=positive_int,
            default=CHUNK_SIZE,
            help=f"Members per chunk (default {CHUNK_SIZE}).",
        )

    def handle(self, *args, as_of, job, chunk_size, **options):
        try:
            jobs = [nightly_job_get(job)] if job else nightly_job_list()
        except NightlyJobUnknown as error:
            raise CommandError(error.message) from None
        parsed = as_of_parse(as_of) if as_of else None
        tz = program_get().tz
        at = as_of_localize(parsed, tz=tz) if parsed else timezone.now()

        failed = []
        for nightly_job in jobs:
            started = time.monotonic()
            bar = tqdm(desc=nightly_job.name, unit="member", file=sys.stderr, disable=None)

            def planned(chunks, bar=bar):
                bar.total = sum(chunk.members for chunk in chunks)
                bar.refresh()

            try:
                run = job_run_inline(
                    job_name=nightly_job.name,
                    as_of=at,
                    chunk_size=chunk_size,
                    on_planned=planned,
                    on_chunk=lambda chunk, outcome, bar=bar: bar.update(chunk.members),
                )
            finally:
                bar.close()
            self.stdout.write(self.summary(run, seconds=time.monotonic() - started, tz=tz))
            if run.status == JobRun.Status.FAILED:
                failed.append(run)
                self.stderr.write(run.error)
        if failed:
            names = ", ".join(f"{run.job} (run {run.pk})" for run in failed)
            raise CommandError(f"Some members could not be processed by: {names}.")

    @staticmethod
    def summary(run: JobRun, *, seconds: float, tz) -> str:
        counts = " ".join(f"{key}={value}" for key, value in sorted(run.totals.items()))
        return (
            f"{run.job}: as of {run.as_of.astimezone(tz):%Y-%m-%d %H:%M %Z}, "
            f"{run.items_processed} {nightly_job_get(run.job).items_label} in {seconds:.1f}s "
            f"(run {run.pk}, {run.status})" + (f"; {counts}" if counts else "")
        )
