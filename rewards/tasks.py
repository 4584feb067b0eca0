"""Celery tasks of the nightly jobs. Thin: ids and an as-of in, a service call, safe to run
twice. Beat starts `nightly_job_start` on the schedules installed from rewards/jobs.py
(DEFAULT_TIMES, the one table of default times); the chunks fan out as a chord.

https://docs.celeryq.dev/en/stable/userguide/tasks.html#retrying
https://docs.celeryq.dev/en/stable/userguide/canvas.html#chords
"""

import time
from datetime import datetime

from celery import chord, shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from rewards.models import CsvImport, JobRun
from rewards.services.imports import csv_import_run
from rewards.services.messages import member_messages_send
from rewards.services.nightly import (
    CHUNK_SIZE,
    job_chunk_run,
    job_run_fail,
    job_run_finish,
    job_run_start,
)

# Deadlocks and serialization failures that outlast db.py's own retries, and a lost
# connection, are worth another try later: every task here is safe to run twice.
RETRY_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}
# The hard limits stay well under the broker's visibility timeout (settings), or a chunk
# still running would be handed to a second worker.
CHUNK_LIMITS = {"soft_time_limit": 10 * 60, "time_limit": 11 * 60}
START_LIMITS = {"soft_time_limit": 15 * 60, "time_limit": 16 * 60}


def _as_of(value: str) -> datetime:
    as_of = datetime.fromisoformat(value)
    if timezone.is_naive(as_of):
        raise ValueError(f"as_of must carry its UTC offset, not {value!r}.")
    return as_of


@shared_task(**RETRY_OPTIONS, **START_LIMITS)
def nightly_job_start(*, job: str, as_of: str | None = None, chunk_size: int = CHUNK_SIZE) -> int:
    """Plan a run of `job` as of `as_of` (ISO 8601 with offset; default: now, as when beat
    starts it) and fan its chunks out. Returns the run's id."""
    at = _as_of(as_of) if as_of else timezone.now()
    run, chunks = job_run_start(
        job_name=job, as_of=at, via=JobRun.Via.CELERY, chunk_size=chunk_size
    )
    if not chunks:
        job_run_finish(run_id=run.pk)
        return run.pk
    header = [
        nightly_chunk_run.si(run_id=run.pk, after=c.after, upto=c.upto, as_of=at.isoformat())
        for c in chunks
    ]
    callback = nightly_run_finish.si(run_id=run.pk).on_error(nightly_run_fail.s(run_id=run.pk))
    chord(header)(callback)
    return run.pk


@shared_task(**RETRY_OPTIONS, **CHUNK_LIMITS)
def nightly_chunk_run(*, run_id: int, after: int, upto: int | None, as_of: str) -> dict:
    return dict(job_chunk_run(run_id=run_id, after=after, upto=upto, as_of=_as_of(as_of)))


@shared_task(**RETRY_OPTIONS, **CHUNK_LIMITS)
def nightly_run_finish(*, run_id: int) -> str:
    return job_run_finish(run_id=run_id).status


@shared_task
def nightly_run_fail(request, exc, traceback, *, run_id: int) -> None:
    """The chord's error callback: a chunk failed for good, so the run will never finish."""
    job_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")


# A task imports for at most this long, then hands the rest to a fresh task: well under
# the broker's visibility timeout (settings) and the hard limit below, however big the file.
WORK_SECONDS = 5 * 60
IMPORT_LIMITS = {"soft_time_limit": 9 * 60, "time_limit": 10 * 60}


@shared_task(acks_late=True, **IMPORT_LIMITS)
def csv_import_run_task(csv_import_id: int) -> str:
    csv_import = csv_import_run(
        csv_import=CsvImport.objects.get(pk=csv_import_id),
        deadline=time.monotonic() + WORK_SECONDS,
    )
    if not csv_import.is_finished:
        csv_import_run_task.delay(csv_import_id)
    return csv_import.status


@shared_task(acks_late=True, soft_time_limit=10 * 60, time_limit=11 * 60)
def member_messages_send_task() -> dict:
    """Send the due emails to members; safe to run twice (each is claimed first)."""
    return member_messages_send()
