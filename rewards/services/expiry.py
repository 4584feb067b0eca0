"""Expiry policies: when the points of a lot expire (`Program.expiry_policy`).

- rolling: `expiry_months` after they were earned, to the end of that month when
  `expiry_at_month_end` is set (the expiry instant is then the first moment of the next
  month); no `expiry_months`: never;
- fixed: points earned in the same calendar period (`expiry_period_months`: a month, a
  quarter, a half-year or a year, in the program's time zone) expire together,
  `expiry_after_period_months` after the period ends (a year and 3: the points of 2026
  expire at the end of 31 March 2027, the instant 2027-04-01 00:00);
- inactivity: all of a member's points expire `expiry_inactivity_months` after their last
  qualifying activity (a purchase; a redemption too with
  `expiry_inactivity_counts_redemptions`). A lot is given the member's current deadline;
  a qualifying activity moves every open lot's expiry forward to its own deadline
  (`expiry_inactivity_extend`), in one UPDATE;
- never.

Every policy comes down to each lot's `expires_at`, so the nightly expiry job applies all
of them with the same set-based statement, exactly once, under the same as-of rules: a lot
is due when `expires_at <= as_of`, and an activity never moves a lot that is already due
(it expires with the next run, however late that run is). `/me/balance` lists the same
dates.

Changing the policy never rewrites a lot: expired lots are history, and open lots keep the
expiry they were given under the policy of their day; the new policy applies to points
earned from then on. The one exception is the inactivity policy's own rule: under it, an
activity moves every open lot that has an expiry date to the new deadline, whatever policy
gave it that date (lots that never expire stay so).
"""

import calendar
from datetime import datetime

from django.db.models import Max

from members.models import Member
from rewards.models import ExpiryPolicy, PointLot, Program


def _months_later(moment: datetime, months: int, tz) -> datetime:
    local = moment.astimezone(tz)
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def _month_start(year: int, month_index: int, tz) -> datetime:
    """The first instant of month `month_index` (0-based, may pass 11) of `year`."""
    year, month = divmod(year * 12 + month_index, 12)
    return datetime(year, month + 1, 1, tzinfo=tz)


def policy_expires_at(*, program: Program, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire under the program's policy, before any
    activity (inactivity: `expiry_inactivity_months` after `earned_at`)."""
    policy = program.expiry_policy
    if policy == ExpiryPolicy.NEVER:
        return None
    tz = program.tz
    if policy == ExpiryPolicy.FIXED:
        local = earned_at.astimezone(tz)
        period = program.expiry_period_months
        period_start = (local.month - 1) // period * period
        return _month_start(
            local.year, period_start + period + program.expiry_after_period_months, tz
        )
    if policy == ExpiryPolicy.INACTIVITY:
        return _months_later(earned_at, program.expiry_inactivity_months, tz)
    if program.expiry_months is None:
        return None
    if program.expiry_at_month_end:
        local = earned_at.astimezone(tz)
        return _month_start(local.year, local.month - 1 + program.expiry_months + 1, tz)
    return _months_later(earned_at, program.expiry_months, tz)


def inactivity_deadline_get(*, member: Member, as_of: datetime) -> datetime | None:
    """Under the inactivity policy: when the member's open points expire now (their lots
    share it), or None if they have none that are not due yet."""
    return PointLot.objects.filter(member=member, remaining__gt=0, expires_at__gt=as_of).aggregate(
        deadline=Max("expires_at")
    )["deadline"]


def lot_expiry_for(
    *, program: Program, member: Member, earned_at: datetime, as_of: datetime, activity: bool
) -> datetime | None:
    """The expiry of a new lot. Under the inactivity policy a lot shares the member's
    current deadline; a lot from a qualifying activity (`activity`) may push it later.
    Other policies: `policy_expires_at`, with no read."""
    own = policy_expires_at(program=program, earned_at=earned_at)
    if program.expiry_policy != ExpiryPolicy.INACTIVITY:
        return own
    if activity and own <= as_of:
        # A purchase imported from longer ago than the inactivity period: its points are
        # earned and expired at once (purchases._earn_plan), with their own date.
        return own
    deadline = inactivity_deadline_get(member=member, as_of=as_of)
    if deadline is None:
        return own
    return max(own, deadline) if activity else deadline


def expiry_inactivity_extend(
    member: Member, *, program: Program, activity_at: datetime, as_of: datetime
) -> int:
    """A qualifying activity: under the inactivity policy, every open lot of the member
    that is not due yet now expires `expiry_inactivity_months` after `activity_at`, if
    that is later. One UPDATE, under the member's lock. Returns the lots moved."""
    if program.expiry_policy != ExpiryPolicy.INACTIVITY:
        return 0
    until = _months_later(activity_at, program.expiry_inactivity_months, program.tz)
    return PointLot.objects.filter(
        member=member, remaining__gt=0, expires_at__gt=as_of, expires_at__lt=until
    ).update(expires_at=until)


def inactivity_counts(program: Program, *, redemption: bool) -> bool:
    """Whether this activity keeps points alive under the program's policy."""
    if program.expiry_policy != ExpiryPolicy.INACTIVITY:
        return False
    return not redemption or program.expiry_inactivity_counts_redemptions
