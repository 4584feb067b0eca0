"""Manual adjustments: a mandatory reason and an optional limit per staff user."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from rewards.errors import AdjustmentLimitExceeded
from rewards.models import LedgerEntry, StaffAdjustmentLimit
from rewards.services.adjustments import points_adjust
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db):
    return User.objects.create(username="agent", is_staff=True)


def test_an_adjustment_without_a_reason_is_refused(member, agent):
    with pytest.raises(ValueError, match="reason"):
        points_adjust(member=member, points=10, reason=" ", staff_user=agent)
    assert not LedgerEntry.objects.exists()


def test_a_staff_user_without_a_limit_adjusts_any_amount(member, agent):
    entry = points_adjust(member=member, points=100_000, reason="Migration fix", staff_user=agent)
    assert (entry.points, entry.actor_user, entry.reason) == (100_000, agent, "Migration fix")


def test_an_adjustment_over_the_users_limit_per_adjustment_is_refused(member, agent):
    StaffAdjustmentLimit.objects.create(user=agent, max_points_per_adjustment=500)
    points_adjust(member=member, points=500, reason="Goodwill", staff_user=agent)
    with pytest.raises(AdjustmentLimitExceeded, match="at most 500 points at a time"):
        points_adjust(member=member, points=-501, reason="Too much", staff_user=agent)
    assert LedgerEntry.objects.count() == 1


def test_the_daily_limit_counts_added_and_removed_points_across_members(program, agent):
    StaffAdjustmentLimit.objects.create(user=agent, max_points_per_day=300)
    first, second = MemberFactory(), MemberFactory()
    points_adjust(member=first, points=200, reason="Goodwill", staff_user=agent)
    points_adjust(member=first, points=-50, reason="Correction", staff_user=agent)
    with pytest.raises(AdjustmentLimitExceeded) as refused:
        points_adjust(member=second, points=60, reason="Goodwill", staff_user=agent)
    assert refused.value.extra == {"max_points_per_day": 300, "left_today": 50}
    points_adjust(member=second, points=50, reason="Goodwill", staff_user=agent)


def test_the_daily_limit_starts_afresh_the_next_day(program, member, agent):
    StaffAdjustmentLimit.objects.create(user=agent, max_points_per_day=100)
    yesterday = timezone.now() - timedelta(days=1)
    points_adjust(member=member, points=100, reason="a", staff_user=agent, as_of=yesterday)
    points_adjust(member=member, points=100, reason="b", staff_user=agent)


def test_another_users_adjustments_do_not_count_against_the_limit(member, agent):
    StaffAdjustmentLimit.objects.create(user=agent, max_points_per_day=100)
    other = User.objects.create(username="other", is_staff=True)
    points_adjust(member=member, points=1000, reason="a", staff_user=other)
    points_adjust(member=member, points=100, reason="b", staff_user=agent)
