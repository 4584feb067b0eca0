"""The nightly jobs: which exist, what each one does and when it runs by default.

A job brings members up to an as-of time. It is registered once, with
`nightly_job_register`, from its app's `ready()`:

- `members`: a selector naming the members that have work as of `as_of`, within the id
  range `after < member_id <= upto` (`upto` None: no upper bound), as distinct member ids
  in ascending order. The machinery (rewards.services.nightly) cuts it into chunks of
  constant size and fans the chunks out to Celery workers, or runs them in-process for
  `manage.py run_nightly`.
- `process_member`: a write service that processes one member in its own transaction and
  returns a Counter of what it changed (empty when it changed nothing), or
  `process_chunk`: one that processes a whole id range and returns a Counter, of which
  "items" is counted as processed. A job without `members` runs as one chunk.
- `process_batch` (optional, with `process_member`): a write service that does the plain
  work of a batch of member ids set-based, in one transaction, and returns a Counter (with
  "items") and the ids it left for `process_member`, one by one. The machinery cuts each
  chunk into batches of BATCH_SIZE members; a batch the database refuses is redone one
  member at a time, so only the bad member fails.
- `report` (optional): extra figures for the run log, computed once when the run is done.
- `member_sources` (optional, with `members`): when `members` is a union of several
  selectors, a function with the same arguments that returns them as a list of querysets,
  each of distinct ascending ids. Planning then reads at most the next chunk's worth of ids
  from each, by index, instead of computing the union from `after` to the end for every
  chunk boundary.

Every job must be safe to run twice for the same as-of, and to rerun after it was killed
half way: it looks for work as of `as_of` rather than remembering what it did.

On migrate, each registered job gets a django-celery-beat schedule at its time in
DEFAULT_TIMES (rewards.services.nightly.nightly_schedules_install); staff change it in the
admin afterwards.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.utils.translation import gettext

from rewards import selectors
from rewards.errors import NightlyJobUnknown
from rewards.services.bonuses import member_birthday_nightly_award
from rewards.services.catch_up import member_nightly_catch_up, members_nightly_catch_up
from rewards.services.expiring import points_expiring_notify
from rewards.services.referrals import (
    member_referral_nightly_resolve,
    referral_due_member_id_list,
)
from rewards.services.tiers import member_tier_nightly_evaluate, members_tier_nightly_evaluate

# Default start times, in the program's time zone, of every nightly job this project has
# or plans; the one place they are written down. The order matters: points expire and
# pending points are released before tiers are re-evaluated on the resulting balances,
# and the KPIs are computed last so they describe the night's end state. Midnight to 02:00
# is left to the day's late traffic and to backups.
DEFAULT_TIMES: dict[str, time] = {
    "expire": time(2, 0),  # points past their expiry (this app)
    "release": time(2, 15),  # pending points past their returns window, stale holds (this app)
    "referrals": time(2, 20),  # referral bonuses once the first purchase is available (issue 17)
    "expiring": time(2, 25),  # points.expiring events and emails, N days ahead (issue 15)
    "tiers": time(2, 30),  # tier re-evaluation (issue 3)
    "birthdays": time(2, 45),  # birthday bonuses (issue 3)
    "kpis": time(3, 0),  # the day's KPIs (metrics)
    "predictions": time(3, 15),  # BG/NBD and Gamma-Gamma fit, member scores (metrics)
    "segments": time(3, 30),  # segment memberships, on the night's scores (metrics)
}

MemberSelector = Callable[..., QuerySet]


@dataclass(frozen=True)
class NightlyJob:
    name: str
    title: str
    members: MemberSelector | None = None
    process_member: Callable[..., Counter] | None = None
    process_chunk: Callable[..., Counter] | None = None
    process_batch: Callable[..., tuple[Counter, list[int]]] | None = None
    report: Callable[..., dict] | None = None
    member_sources: Callable[..., list[QuerySet]] | None = None
    # What the run log's items_processed counts, in the operator's summary line.
    items_label: str = "members changed"

    @property
    def runs_at(self) -> time:
        return DEFAULT_TIMES[self.name]


_jobs: dict[str, NightlyJob] = {}


def nightly_job_register(
    *,
    name: str,
    title: str,
    members: MemberSelector | None = None,
    process_member: Callable[..., Counter] | None = None,
    process_chunk: Callable[..., Counter] | None = None,
    process_batch: Callable[..., tuple[Counter, list[int]]] | None = None,
    report: Callable[[datetime], dict] | None = None,
    member_sources: Callable[..., list[QuerySet]] | None = None,
    items_label: str = "members changed",
) -> NightlyJob:
    """Add a job to the registry. Registering the same name again replaces it (a module
    imported twice must not fail); a name without a default time is a programming error."""
    if name not in DEFAULT_TIMES:
        raise ImproperlyConfigured(
            f"The nightly job {name!r} has no default time: add it to DEFAULT_TIMES in "
            "rewards/jobs.py."
        )
    if (process_member is None) == (process_chunk is None):
        raise ImproperlyConfigured(
            f"The nightly job {name!r} needs exactly one of process_member and process_chunk."
        )
    if process_member is not None and members is None:
        raise ImproperlyConfigured(
            f"The nightly job {name!r} processes members, so it needs a `members` selector."
        )
    if process_batch is not None and process_member is None:
        raise ImproperlyConfigured(
            f"The nightly job {name!r} processes batches, so it needs a `process_member` "
            "for the members a batch leaves to be processed one by one."
        )
    if member_sources is not None and members is None:
        raise ImproperlyConfigured(
            f"The nightly job {name!r} plans from member sources, so it needs the `members` "
            "selector that is their union, for the chunks."
        )
    job = NightlyJob(
        name=name,
        title=title,
        members=members,
        process_member=process_member,
        process_chunk=process_chunk,
        process_batch=process_batch,
        report=report,
        member_sources=member_sources,
        items_label=items_label,
    )
    _jobs[name] = job
    return job


def nightly_job_get(name: str) -> NightlyJob:
    try:
        return _jobs[name]
    except KeyError:
        known = ", ".join(job.name for job in nightly_job_list()) or "none"
        raise NightlyJobUnknown(
            gettext("There is no nightly job called %(name)r; the jobs are: %(known)s.")
            % {"name": name, "known": known}
        ) from None


def nightly_job_list() -> list[NightlyJob]:
    """The registered jobs in the order they run each night."""
    return sorted(_jobs.values(), key=lambda job: (job.runs_at, job.name))


def rewards_jobs_register() -> None:
    """The jobs of this app, called from RewardsConfig.ready()."""
    nightly_job_register(
        name="expire",
        title="Expire points past their expiry date",
        members=selectors.expiry_due_member_id_list,
        process_member=member_nightly_catch_up,
        process_batch=members_nightly_catch_up,
        report=selectors.expiring_soon_totals,
    )
    nightly_job_register(
        name="tiers",
        title="Re-evaluate tiers: move members down after their grace period",
        members=selectors.tier_evaluation_due_member_id_list,
        process_member=member_tier_nightly_evaluate,
        process_batch=members_tier_nightly_evaluate,
    )
    nightly_job_register(
        name="birthdays",
        title="Give birthday bonuses",
        members=selectors.birthday_due_member_id_list,
        process_member=member_birthday_nightly_award,
    )
    nightly_job_register(
        name="expiring",
        title="Tell members about points expiring soon (points.expiring)",
        process_chunk=points_expiring_notify,
        items_label="expiry notices",
    )
    nightly_job_register(
        name="release",
        title="Release pending points past their returns window, and stale holds",
        members=selectors.release_due_member_id_list,
        member_sources=selectors.release_due_member_id_sources,
        process_member=member_nightly_catch_up,
        process_batch=members_nightly_catch_up,
    )
    nightly_job_register(
        name="referrals",
        title="Give referral bonuses once the friend's first purchase is available",
        members=referral_due_member_id_list,
        process_member=member_referral_nightly_resolve,
    )
