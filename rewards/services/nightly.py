"""The machinery that runs the nightly jobs (rewards/jobs.py) in chunks and keeps their
run log (JobRun).

A run is planned as contiguous member-id ranges, each holding `chunk_size` members with
work (the last one open-ended, so a member who gets work after planning is still in a
range). Planning reads one boundary id per chunk, never the list of all ids; a job whose
members are a union of sources (the release: pending lots and stale holds) reads instead
at most one chunk's worth of ids from each source per boundary, by index. Each chunk
then re-selects its members as of the run's as-of and processes them in set-based batches
(jobs with `process_batch`) or one by one, each batch or member in its own transaction.
The chunks go to Celery workers as a chord whose callback closes the run
(rewards/tasks.py), or run one after the other in-process (`manage.py run_nightly`).

Rerunning a job for the same as-of, or a chunk that a killed worker left half done, finds
only the members still due, so every change happens exactly once. The run log's counts are
bookkeeping, written once per chunk: the ledger is the record of what happened.
"""

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError, IntegrityError
from django.db.models import Q
from django.utils import timezone

from loyalty_engine.db import durable_write
from loyalty_engine.errors import DomainError
from rewards.jobs import NightlyJob, nightly_job_get, nightly_job_list
from rewards.models import JobRun, Program

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
# Members per set-based batch (process_batch): one transaction holds their row locks, so
# this bounds how long a redemption may wait on the night, and the statements' size.
BATCH_SIZE = 500
# The run log keeps this many characters of errors; the worker logs keep everything.
ERROR_LIMIT = 4000
SCHEDULE_TASK = "rewards.tasks.nightly_job_start"


@dataclass(frozen=True)
class Chunk:
    """Members with `after < id <= upto` (`upto` None: no upper bound); `members` is how
    many had work when the run was planned."""

    after: int
    upto: int | None
    members: int


def job_chunks_plan(*, job: NightlyJob, as_of: datetime, chunk_size: int) -> Iterator[Chunk]:
    """The chunks of a run, found by keyset: each step reads only the id that ends the next
    chunk, so memory stays flat however many members are due."""
    if job.members is None:
        yield Chunk(after=0, upto=None, members=0)
        return
    if job.member_sources is not None:
        yield from _chunks_plan_from_sources(job=job, as_of=as_of, chunk_size=chunk_size)
        return
    after = 0
    while True:
        ids = job.members(as_of=as_of, after=after)
        boundary = list(ids[chunk_size - 1 : chunk_size])
        if boundary:
            yield Chunk(after=after, upto=boundary[0], members=chunk_size)
            after = boundary[0]
            continue
        rest = ids.count()
        if rest:
            yield Chunk(after=after, upto=None, members=rest)
        return


def _chunks_plan_from_sources(
    *, job: NightlyJob, as_of: datetime, chunk_size: int
) -> Iterator[Chunk]:
    """The same chunks as planning from the union, one query per source per boundary.

    The union's first `chunk_size` ids after `after` are all among the first `chunk_size`
    of some source, so the merge of those bounded lists holds the boundary. Each list is a
    keyset query that an index scan stops early, where the union's OFFSET made the database
    build the whole union from `after` for every boundary: quadratic in the members due.
    Fewer than `chunk_size` merged ids means every source ran out, so they are the rest.
    """
    after = 0
    while True:
        sources = job.member_sources(as_of=as_of, after=after)
        merged = sorted(set().union(*(source[:chunk_size] for source in sources)))
        if len(merged) >= chunk_size:
            boundary = merged[chunk_size - 1]
            yield Chunk(after=after, upto=boundary, members=chunk_size)
            after = boundary
            continue
        if merged:
            yield Chunk(after=after, upto=None, members=len(merged))
        return


def job_run_start(
    *, job_name: str, as_of: datetime, via: str, chunk_size: int = CHUNK_SIZE
) -> tuple[JobRun, list[Chunk]]:
    """Plan a run of the job and open its run log; first close, as interrupted, the runs
    whose worker died (job_runs_sweep). Raises NightlyJobUnknown."""
    job = nightly_job_get(job_name)
    job_runs_sweep()
    chunks = list(job_chunks_plan(job=job, as_of=as_of, chunk_size=chunk_size))
    started_at = timezone.now()
    run = JobRun.objects.create(
        job=job.name,
        as_of=as_of,
        via=via,
        started_at=started_at,
        progressed_at=started_at,
        chunk_size=chunk_size,
        chunks_total=len(chunks),
    )
    return run, chunks


def job_chunk_run(*, run_id: int, after: int, upto: int | None, as_of: datetime) -> Counter:
    """Process one chunk of a run and add its counts to the run log.

    A job with `process_batch` does the chunk's members BATCH_SIZE at a time, each batch in
    one transaction, and the members a batch leaves one by one; a job without it processes
    every member in its own transaction. A member refused by the database or by a business
    rule is logged, counted as failed and skipped, so one bad member does not stop the
    night for the others (the run then ends as failed); a batch the database refuses is
    redone one member at a time to find that member. Anything else, a lost connection or
    deadlocks past db.py's retries, propagates so the task can retry the whole chunk, which
    is safe: the members already done are no longer due.
    """
    run = JobRun.objects.get(pk=run_id)
    job = nightly_job_get(run.job)
    errors: list[str] = []
    if job.process_chunk is not None:
        outcome = Counter(job.process_chunk(after=after, upto=upto, as_of=as_of))
    else:
        outcome = Counter()
        member_ids = list(job.members(as_of=as_of, after=after, upto=upto))
        for start in range(0, len(member_ids), BATCH_SIZE):
            one_by_one = member_ids[start : start + BATCH_SIZE]
            if job.process_batch is not None:
                try:
                    changed, one_by_one = job.process_batch(member_ids=one_by_one, as_of=as_of)
                except (IntegrityError, DataError):
                    logger.warning(
                        "Nightly %s: the database refused a batch from member %s; "
                        "processing it one member at a time",
                        job.name,
                        one_by_one[0],
                        exc_info=True,
                    )
                else:
                    outcome.update(changed)
            for member_id in one_by_one:
                try:
                    changed = job.process_member(member_id=member_id, as_of=as_of)
                except (IntegrityError, DataError, DomainError) as error:
                    logger.exception("Nightly %s failed for member %s", job.name, member_id)
                    outcome["failed"] += 1
                    errors.append(f"member {member_id}: {error}")
                    continue
                if changed:
                    outcome.update(changed)
                    outcome["items"] += 1
    _chunk_record(run_id=run_id, outcome=outcome, errors=errors)
    return outcome


@durable_write
def _chunk_record(*, run_id: int, outcome: Counter, errors: list[str]) -> None:
    # Locked: chunks finish concurrently on several workers and each merges its counts.
    run = JobRun.objects.select_for_update().get(pk=run_id)
    counts = Counter(outcome)
    run.items_processed += counts.pop("items", 0)
    run.totals = dict(Counter(run.totals) + counts)
    # A chunk redelivered after it was recorded (its worker died before acknowledging it)
    # must not push the progress past the total.
    run.chunks_done = min(run.chunks_done + 1, run.chunks_total)
    run.progressed_at = timezone.now()
    if errors:
        run.error = _error_append(run.error, "\n".join(errors))
    run.save(update_fields=["items_processed", "totals", "chunks_done", "error", "progressed_at"])


def _error_append(existing: str, error: str) -> str:
    combined = f"{existing}\n{error}" if existing else error
    return combined if len(combined) <= ERROR_LIMIT else combined[: ERROR_LIMIT - 1] + "…"


@durable_write
def job_run_finish(*, run_id: int) -> JobRun:
    """Close the run once every chunk is done: add the job's report and mark it succeeded,
    or failed if any member failed. Closing a closed run changes nothing."""
    run = JobRun.objects.select_for_update().get(pk=run_id)
    if run.status != JobRun.Status.RUNNING:
        return run
    job = nightly_job_get(run.job)
    if job.report is not None:
        run.totals = {**run.totals, **job.report(as_of=run.as_of)}
    failed = bool(run.error) or run.totals.get("failed", 0) > 0
    run.status = JobRun.Status.FAILED if failed else JobRun.Status.SUCCEEDED
    run.chunks_done = run.chunks_total
    run.finished_at = timezone.now()
    run.save(update_fields=["totals", "status", "chunks_done", "finished_at"])
    return run


@durable_write
def job_run_fail(*, run_id: int, error: str) -> JobRun:
    """Close the run as failed, keeping the error. A closed run is left as it is."""
    run = JobRun.objects.select_for_update().get(pk=run_id)
    if run.status != JobRun.Status.RUNNING:
        return run
    run.status = JobRun.Status.FAILED
    run.error = _error_append(run.error, error)
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    return run


def job_runs_sweep(
    *, now: datetime | None = None, stale_after_seconds: int | None = None
) -> list[JobRun]:
    """Close as `interrupted` every running run that has shown no progress (its start or a
    finished chunk) for `stale_after_seconds` (default JOB_RUN_STALE_AFTER_SECONDS): its
    worker or process died, and nothing will finish it. What it had done stays: chunks
    done, items and totals, and the error says so. Runs with progress are left alone; a
    chunk that still finishes later adds its counts but does not reopen the run. Returns
    the runs closed. Run by every new run (job_run_start) and `manage.py job_runs_sweep`."""
    now = now or timezone.now()
    if stale_after_seconds is None:
        stale_after_seconds = settings.JOB_RUN_STALE_AFTER_SECONDS
    cutoff = now - timedelta(seconds=stale_after_seconds)
    stale = JobRun.objects.filter(status=JobRun.Status.RUNNING).filter(
        Q(progressed_at__lt=cutoff) | Q(progressed_at__isnull=True, started_at__lt=cutoff)
    )
    return [
        run
        for run_id in stale.values_list("pk", flat=True)
        if (run := _job_run_interrupt(run_id=run_id, cutoff=cutoff, now=now)) is not None
    ]


@durable_write
def _job_run_interrupt(*, run_id: int, cutoff: datetime, now: datetime) -> JobRun | None:
    run = JobRun.objects.select_for_update().get(pk=run_id)
    last = run.progressed_at or run.started_at
    if run.status != JobRun.Status.RUNNING or last >= cutoff:
        return None
    run.status = JobRun.Status.INTERRUPTED
    run.finished_at = now
    run.error = _error_append(
        run.error,
        f"Interrupted: no progress since {last:%Y-%m-%d %H:%M:%S %Z} (its worker stopped); "
        f"{run.chunks_done} of {run.chunks_total} chunks done, "
        f"{run.items_processed} items processed. The next run picks up the members still due.",
    )
    run.save(update_fields=["status", "finished_at", "error"])
    logger.warning("Nightly run %s (%s) marked interrupted", run.pk, run.job)
    return run


def job_run_inline(
    *,
    job_name: str,
    as_of: datetime,
    chunk_size: int = CHUNK_SIZE,
    on_planned: Callable[[list[Chunk]], None] | None = None,
    on_chunk: Callable[[Chunk, Counter], None] | None = None,
) -> JobRun:
    """Run a job in this process, chunk after chunk, with the same chunk function the
    workers run. Raises NightlyJobUnknown; any other error closes the run as failed and
    propagates."""
    run, chunks = job_run_start(
        job_name=job_name, as_of=as_of, via=JobRun.Via.COMMAND, chunk_size=chunk_size
    )
    if on_planned:
        on_planned(chunks)
    try:
        for chunk in chunks:
            outcome = job_chunk_run(run_id=run.pk, after=chunk.after, upto=chunk.upto, as_of=as_of)
            if on_chunk:
                on_chunk(chunk, outcome)
    except BaseException as error:
        job_run_fail(run_id=run.pk, error=f"{type(error).__name__}: {error}")
        raise
    return job_run_finish(run_id=run.pk)


def nightly_schedules_install(*, using: str = "default") -> list[str]:
    """Give every registered job its django-celery-beat schedule at its default time in the
    program's time zone, if it has none yet. An existing schedule is never changed: staff
    may have moved or disabled it in the admin (disable rather than delete one: a deleted
    schedule comes back on the next migrate). Returns the names of the schedules created."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    program = Program.objects.using(using).filter(pk=1).first()
    tz = program.timezone if program else settings.TIME_ZONE
    created = []
    for job in nightly_job_list():
        name = f"nightly: {job.name}"
        if PeriodicTask.objects.using(using).filter(name=name).exists():
            continue
        crontab, _ = CrontabSchedule.objects.using(using).get_or_create(
            minute=str(job.runs_at.minute),
            hour=str(job.runs_at.hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=tz,
        )
        PeriodicTask.objects.using(using).create(
            name=name,
            task=SCHEDULE_TASK,
            crontab=crontab,
            kwargs=json.dumps({"job": job.name}),
            description=job.title,
        )
        created.append(name)
    return created
