"""The referral bonus under real concurrency on PostgreSQL: exactly once, never over the cap."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Member
from members.referral_codes import referral_code_for
from members.services import shop_api_key_create
from rewards.models import EarnAward, Program, Referral
from rewards.selectors import program_get
from rewards.services.enrollment import member_enroll
from rewards.services.referrals import referral_resolve
from tests.conftest import earn
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles
from tests.rewards.test_concurrency import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup():
    program_get()
    Program.objects.filter(pk=1).update(
        referral_referrer_points=100, referral_referred_points=50, referral_cap_per_year=2
    )
    shop, _ = shop_api_key_create(shop_name="Referral shop")
    referrer = MemberFactory()
    return shop, referrer


def test_concurrent_resolutions_pay_the_bonus_exactly_once(setup):
    shop, referrer = setup
    friend = member_enroll(external_id="friend-1", referred_by=referral_code_for(referrer.pk))
    earn(shop, friend, "10.00")
    as_of = timezone.now() + timedelta(seconds=1)
    results = run_concurrently(8, lambda _: referral_resolve(member_id=friend.pk, as_of=as_of))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert EarnAward.objects.filter(source=EarnAward.Source.REFERRAL).count() == 2
    referrer.refresh_from_db()
    friend.refresh_from_db()
    assert referrer.points_available == 100
    assert friend.points_available == 10 + 50
    assert Referral.objects.get().status == "rewarded"
    assert_reconciles(referrer)
    assert_reconciles(friend)


def test_concurrent_friends_of_one_referrer_never_pass_the_yearly_cap(setup):
    shop, referrer = setup
    friends = []
    for index in range(6):
        friend = member_enroll(
            external_id=f"friend-{index}", referred_by=referral_code_for(referrer.pk)
        )
        earn(shop, friend, "10.00")
        friends.append(friend)
    as_of = timezone.now() + timedelta(seconds=1)
    results = run_concurrently(
        len(friends), lambda index: referral_resolve(member_id=friends[index].pk, as_of=as_of)
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(Referral.objects.values_list("status", flat=True))
    assert statuses == ["capped"] * 4 + ["rewarded"] * 2
    referrer.refresh_from_db()
    assert referrer.points_available == 200
    assert_reconciles(referrer)
    for friend in Member.objects.exclude(pk=referrer.pk):
        assert_reconciles(friend)
