"""Suspending, reactivating and erasing members: what each status lets points do."""

import pytest

from members.errors import MemberAlreadySuspended, MemberErased, MemberNotSuspended
from members.models import Member
from members.services import member_erase, member_reactivate, member_suspend
from rewards.errors import MemberNotActive
from rewards.models import LedgerEntry, Purchase
from rewards.services.adjustments import points_adjust
from tests.conftest import earn

pytestmark = pytest.mark.django_db


def test_a_suspended_member_cannot_earn_until_reactivated(shop, member):
    member_suspend(member=member, reason="Card reported stolen")
    with pytest.raises(MemberNotActive):
        earn(shop, member, "10.00")
    member_reactivate(member=member, reason="Card found")
    assert earn(shop, member, "10.00")["points_earned"] == 10


def test_a_suspended_member_can_still_be_adjusted_by_staff(member):
    member_suspend(member=member, reason="Under investigation")
    points_adjust(member=member, points=5, reason="Goodwill")
    assert Member.objects.get().points_available == 5


def test_suspending_twice_or_reactivating_an_active_member_is_refused(member):
    with pytest.raises(MemberNotSuspended):
        member_reactivate(member=member, reason="x")
    member_suspend(member=member, reason="x")
    with pytest.raises(MemberAlreadySuspended):
        member_suspend(member=member, reason="x")


def test_a_status_change_needs_a_reason(member):
    with pytest.raises(ValueError, match="reason"):
        member_suspend(member=member, reason="  ")
    assert Member.objects.get().status == Member.Status.ACTIVE


def test_erasing_replaces_personal_data_and_keeps_the_ledger_and_purchases(shop, member):
    member.birth_date = "1990-04-01"
    member.save()
    earn(shop, member, "25.00")
    before = list(LedgerEntry.objects.values_list("id", "points", "reason"))

    erased = member_erase(member=member, reason="Asked to be forgotten")

    row = Member.objects.get()
    assert (row.external_id, row.email, row.name, row.birth_date, row.status) == (
        f"erased-{member.pk}",
        "",
        "",
        None,
        Member.Status.ERASED,
    )
    assert erased.external_id == row.external_id
    assert row.points_available == 25 and row.lifetime_earned == 25
    assert list(LedgerEntry.objects.values_list("id", "points", "reason")) == before
    assert Purchase.objects.get().member_id == member.pk


def test_erasing_removes_personal_data_from_the_members_history_too(member):
    original = (member.external_id, member.email, member.name)
    member.name = "Renamed Person"
    member.save()
    member_erase(member=member, reason="Asked to be forgotten")
    versions = Member.history.filter(id=member.pk)
    assert versions.count() == 3
    for value in (*original, "Renamed Person"):
        assert not versions.filter(external_id=value).exists()
        assert not versions.filter(email=value).exists()
        assert not versions.filter(name=value).exists()
    assert versions.first().history_change_reason == "Erased: Asked to be forgotten"


def test_an_erased_member_cannot_earn_be_adjusted_or_be_reactivated(shop, member):
    member_erase(member=member, reason="Asked to be forgotten")
    member.refresh_from_db()
    with pytest.raises(MemberNotActive):
        earn(shop, member, "10.00")
    with pytest.raises(MemberErased):
        points_adjust(member=member, points=5, reason="Goodwill")
    with pytest.raises(MemberErased):
        member_reactivate(member=member, reason="Oops")
    with pytest.raises(MemberErased):
        member_suspend(member=member, reason="Oops")


def test_erasing_an_erased_member_changes_nothing(member):
    member_erase(member=member, reason="first")
    count = Member.history.count()
    member_erase(member=member, reason="second")
    assert Member.history.count() == count
