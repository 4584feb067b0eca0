"""The nightly jobs' registry, their beat schedules and their screens in the admin."""

import json
from datetime import time

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from rewards.jobs import DEFAULT_TIMES, nightly_job_list, nightly_job_register
from rewards.services.nightly import job_run_inline, nightly_schedules_install

pytestmark = pytest.mark.django_db


def schedules() -> dict[str, tuple[str, str, str, dict]]:
    return {
        task.name: (
            task.crontab.hour,
            task.crontab.minute,
            str(task.crontab.timezone),
            json.loads(task.kwargs),
        )
        for task in PeriodicTask.objects.select_related("crontab")
    }


def test_migrate_installs_a_schedule_for_each_registered_job_only():
    # Installed by the post_migrate handler when the test database was created.
    assert schedules() == {
        "nightly: expire": ("2", "0", "UTC", {"job": "expire"}),
        "nightly: release": ("2", "15", "UTC", {"job": "release"}),
        "nightly: referrals": ("2", "20", "UTC", {"job": "referrals"}),
        "nightly: expiring": ("2", "25", "UTC", {"job": "expiring"}),
        "nightly: tiers": ("2", "30", "UTC", {"job": "tiers"}),
        "nightly: birthdays": ("2", "45", "UTC", {"job": "birthdays"}),
        "nightly: kpis": ("3", "0", "UTC", {"job": "kpis"}),
        "nightly: predictions": ("3", "15", "UTC", {"job": "predictions"}),
        "nightly: segments": ("3", "30", "UTC", {"job": "segments"}),
    }
    assert PeriodicTask.objects.get(name="nightly: expire").task == (
        "rewards.tasks.nightly_job_start"
    )


def test_the_default_times_table_keeps_the_documented_order():
    assert DEFAULT_TIMES == {
        "expire": time(2, 0),
        "release": time(2, 15),
        "referrals": time(2, 20),
        "expiring": time(2, 25),
        "tiers": time(2, 30),
        "birthdays": time(2, 45),
        "kpis": time(3, 0),
        "predictions": time(3, 15),
        "segments": time(3, 30),
    }
    assert [job.name for job in nightly_job_list()] == [
        "expire",
        "release",
        "referrals",
        "expiring",
        "tiers",
        "birthdays",
        "kpis",
        "predictions",
        "segments",
    ]


def test_schedules_follow_the_programs_time_zone(program):
    PeriodicTask.objects.all().delete()
    program.timezone = "Europe/Berlin"
    program.save()

    created = nightly_schedules_install()

    assert created == [
        "nightly: expire",
        "nightly: release",
        "nightly: referrals",
        "nightly: expiring",
        "nightly: tiers",
        "nightly: birthdays",
        "nightly: kpis",
        "nightly: predictions",
        "nightly: segments",
    ]
    assert schedules()["nightly: expire"][:3] == ("2", "0", "Europe/Berlin")


def test_installing_again_never_overwrites_a_schedule_staff_edited():
    expire = PeriodicTask.objects.get(name="nightly: expire")
    expire.crontab = CrontabSchedule.objects.create(hour="4", minute="30", timezone="UTC")
    expire.enabled = False
    expire.save()
    PeriodicTask.objects.filter(name="nightly: release").delete()

    created = nightly_schedules_install()

    assert created == ["nightly: release"]
    expire.refresh_from_db()
    assert (expire.crontab.hour, expire.crontab.minute, expire.enabled) == ("4", "30", False)


def test_a_job_without_a_default_time_cannot_be_registered():
    with pytest.raises(ImproperlyConfigured, match="add it to DEFAULT_TIMES"):
        nightly_job_register(name="newsletter", title="?", process_chunk=lambda **kw: {})


@pytest.fixture
def staff_client(client):
    User.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    client.login(username="boss", password="a-long-password-1")
    return client


def test_the_run_log_is_read_only_in_the_admin(staff_client):
    run = job_run_inline(job_name="expire", as_of=timezone.now())
    assert staff_client.get("/admin/rewards/jobrun/").status_code == 200
    assert staff_client.get(f"/admin/rewards/jobrun/{run.pk}/change/").status_code == 200
    assert staff_client.get("/admin/rewards/jobrun/add/").status_code == 403
    staff_client.post(f"/admin/rewards/jobrun/{run.pk}/change/", {"status": "failed"})
    run.refresh_from_db()
    assert run.status == "succeeded"


def test_staff_edit_the_schedules_in_the_admin(staff_client):
    task = PeriodicTask.objects.get(name="nightly: expire")
    page = staff_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert page.status_code == 200
    assert b"rewards.tasks.nightly_job_start" in page.content
