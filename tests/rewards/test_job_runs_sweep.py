"""Runs whose worker died are closed as interrupted, by the next run or by the sweep."""

from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from rewards.models import JobRun
from rewards.services.nightly import job_run_finish, job_run_start, job_runs_sweep


def _running(*, last_progress_ago: timedelta, chunks_done=1, chunks_total=4, items=250):
    now = timezone.now()
    return JobRun.objects.create(
        job="expire",
        as_of=now - last_progress_ago,
        via=JobRun.Via.CELERY,
        started_at=now - last_progress_ago - timedelta(minutes=5),
        progressed_at=now - last_progress_ago,
        chunk_size=500,
        chunks_total=chunks_total,
        chunks_done=chunks_done,
        items_processed=items,
        totals={"expired_points": 1200},
    )


@pytest.mark.django_db
def test_a_run_without_progress_for_too_long_is_marked_interrupted_with_what_it_did():
    stale = _running(last_progress_ago=timedelta(hours=3))

    closed = job_runs_sweep()

    assert [run.pk for run in closed] == [stale.pk]
    stale.refresh_from_db()
    assert stale.status == JobRun.Status.INTERRUPTED
    assert stale.finished_at is not None
    assert "1 of 4 chunks done" in stale.error and "250 items" in stale.error
    # What it had done stays.
    assert (stale.chunks_done, stale.items_processed) == (1, 250)
    assert stale.totals == {"expired_points": 1200}


@pytest.mark.django_db
def test_a_run_that_is_progressing_is_left_running():
    busy = _running(last_progress_ago=timedelta(minutes=10))

    assert job_runs_sweep() == []
    busy.refresh_from_db()
    assert busy.status == JobRun.Status.RUNNING


@pytest.mark.django_db
def test_the_next_run_closes_the_one_whose_worker_died(program):
    stale = _running(last_progress_ago=timedelta(hours=3))

    run, _ = job_run_start(job_name="expire", as_of=timezone.now(), via=JobRun.Via.COMMAND)

    stale.refresh_from_db()
    assert stale.status == JobRun.Status.INTERRUPTED
    assert run.status == JobRun.Status.RUNNING and run.progressed_at is not None


@pytest.mark.django_db
def test_a_late_finish_does_not_reopen_an_interrupted_run():
    stale = _running(last_progress_ago=timedelta(hours=3))
    job_runs_sweep()

    assert job_run_finish(run_id=stale.pk).status == JobRun.Status.INTERRUPTED


@pytest.mark.django_db
def test_the_sweep_command_reports_the_runs_it_closed():
    _running(last_progress_ago=timedelta(minutes=30))
    from io import StringIO

    out = StringIO()
    call_command("job_runs_sweep", "--stale-after", "600", stdout=out)

    assert "1 run(s) marked interrupted" in out.getvalue()
    assert JobRun.objects.get().status == JobRun.Status.INTERRUPTED


def test_the_broker_redelivers_within_minutes_yet_after_every_hard_time_limit():
    import rewards.tasks  # noqa: F401 - registers the tasks

    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    limits = [
        task.time_limit
        for name, task in current_app.tasks.items()
        if name.startswith("rewards.") and task.time_limit
    ]

    assert limits, "the tasks declare hard time limits"
    assert max(limits) < visibility <= 30 * 60
    # A run outlives every chunk's hard limit before it counts as stale.
    assert settings.JOB_RUN_STALE_AFTER_SECONDS > max(limits)
