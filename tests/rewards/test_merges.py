"""Merging a member who enrolled twice into the member who stays."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from members.errors import MemberErased, MemberMerged
from members.models import Member
from members.services import member_erase
from rewards.errors import MergeRefused
from rewards.models import LedgerEntry, MemberMerge, Program, Purchase, Reward, Voucher
from rewards.services.merges import member_merge
from tests.conftest import client_for, member_client_for, staff_user_in
from tests.ledger_checks import assert_reconciles
from tests.rewards.merge_scenario import member_with_everything

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(program, shop_client):
    Program.objects.filter(pk=1).update(pending_days=14)
    reward = Reward.objects.create(name="Coffee", points_cost=10)
    source = member_with_everything(shop_client, "ann-old", reward.pk)
    target = member_with_everything(shop_client, "ann", reward.pk)
    return source, target


def test_a_merge_moves_points_holds_owed_purchases_and_vouchers(pair):
    source, target = pair
    source.refresh_from_db()
    assert (source.points_pending, source.points_held, source.points_owed) == (50, 20, 95)
    merge = member_merge(source=source, target=target, reason="Enrolled twice")
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.status, source.merged_into_id) == (Member.Status.MERGED, target.pk)
    assert (source.points_available, source.points_pending, source.points_held) == (0, 0, 0)
    assert source.points_owed == 0
    assert (target.points_pending, target.points_held, target.points_owed) == (100, 40, 190)
    assert Voucher.objects.filter(member=target).count() == 2
    assert Purchase.objects.filter(member=target).count() == 4
    assert merge.moved["holds"] == 1 and merge.moved["owed"] == 95
    assert_reconciles(source)
    assert_reconciles(target)
    # The pending lots keep their dates: they become available on their own day.
    out = io.StringIO()
    call_command("verify_ledger", stdout=out)
    kinds = set(
        LedgerEntry.objects.filter(reference__startswith="merge:").values_list("kind", flat=True)
    )
    assert kinds == {"merge_out", "merge_in"}
    # The audit trail: the merge row and the source's history, with the reason.
    assert MemberMerge.objects.get().reason == "Enrolled twice"
    assert "Enrolled twice" in source.history.first().history_change_reason


def test_the_external_id_of_a_merged_member_names_the_target(pair, shop_client):
    source, target = pair
    member_merge(source=source, target=target, reason="Enrolled twice")
    body = shop_client.get("/api/v1/members/ann-old").json()
    assert body["external_id"] == "ann"
    response = shop_client.post(
        "/api/v1/purchases",
        {"member": "ann-old", "order_id": "after-merge", "amount": "10.00", "currency": "EUR"},
        format="json",
    )
    assert response.status_code == 201
    assert Purchase.objects.get(order_id="after-merge").member_id == target.pk
    token = shop_client.post("/api/v1/members/ann-old/token").json()["token"]
    assert token
    assert member_client_for(source).get("/api/v1/me").json()["external_id"] == "ann"


def test_the_moved_hold_is_captured_and_voided_by_the_target(pair, shop_client):
    source, target = pair
    member_merge(source=source, target=target, reason="Enrolled twice")
    captured = shop_client.post(f"/api/v1/redemptions/{source.hold_id}/capture")
    assert captured.status_code == 200, captured.json()
    voided = shop_client.post(f"/api/v1/redemptions/{target.hold_id}/void")
    assert voided.status_code == 200, voided.json()
    target.refresh_from_db()
    assert target.points_held == 0
    assert_reconciles(target)
    source.refresh_from_db()
    assert_reconciles(source)


def test_a_moved_hold_voided_returns_points_to_the_target(pair, shop_client):
    source, target = pair
    member_merge(source=source, target=target, reason="Enrolled twice")
    assert shop_client.post(f"/api/v1/redemptions/{source.hold_id}/void").status_code == 200
    target.refresh_from_db()
    assert target.points_held == 20
    assert_reconciles(target)


def test_the_moved_points_become_available_and_settle_owed_in_time(pair):
    source, target = pair
    member_merge(source=source, target=target, reason="Enrolled twice")
    from rewards.services.nightly import job_run_inline

    job_run_inline(job_name="release", as_of=timezone.now() + timedelta(days=15))
    target.refresh_from_db()
    # The 100 pending points became available and the two holds (the moved one and the
    # target's own) released their 40 points past their time limit: 140 of the 190 owed
    # points are settled.
    assert (target.points_pending, target.points_available, target.points_held) == (0, 0, 0)
    assert target.points_owed == 50
    assert_reconciles(target)


def test_refusals(pair, shop_client):
    source, target = pair
    with pytest.raises(MergeRefused):
        member_merge(source=source, target=source, reason="x")
    with pytest.raises(ValueError):
        member_merge(source=source, target=target, reason=" ")
    member_merge(source=source, target=target, reason="Enrolled twice")
    source.refresh_from_db()
    with pytest.raises(MemberMerged):
        member_merge(source=source, target=target, reason="again")
    # What the source spent before the merge can no longer be cancelled.
    spent = source.redemptions.filter(status="captured").first()
    response = shop_client.post(f"/api/v1/redemptions/{spent.pk}/cancel")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "member_merged")
    other = Member.objects.create(external_id="gone", enrolled_at=timezone.now())
    member_erase(member=other, reason="asked")
    with pytest.raises(MemberErased):
        member_merge(source=other, target=target, reason="x")


def test_the_command_merges_and_refuses_unknown_members(pair):
    out = io.StringIO()
    call_command("merge_members", "ann-old", "ann", "--reason", "Enrolled twice", stdout=out)
    assert "Merged ann-old into ann" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("merge_members", "nobody", "ann", "--reason", "x")
    with pytest.raises(CommandError, match="merged"):
        call_command("merge_members", "ann-old", "ann", "--reason", "again")


def test_support_merges_from_the_member_page(pair):
    source, target = pair
    client = client_for(staff_user_in("Support"))
    page = client.get(f"/admin/members/member/{source.pk}/change/")
    assert f"/admin/members/member/{source.pk}/merge/" in page.content.decode()
    wrong = client.post(
        f"/admin/members/member/{source.pk}/merge/",
        {"target_external_id": "ann", "confirm_external_id": "nope", "reason": "twice"},
    )
    assert wrong.status_code == 200
    assert Member.objects.get(pk=source.pk).status == Member.Status.ACTIVE
    done = client.post(
        f"/admin/members/member/{source.pk}/merge/",
        {"target_external_id": "ann", "confirm_external_id": "ann-old", "reason": "twice"},
    )
    assert done.status_code == 302
    assert Member.objects.get(pk=source.pk).merged_into_id == target.pk
    manager = client_for(staff_user_in("Program manager"))
    assert manager.get(f"/admin/members/member/{target.pk}/merge/").status_code == 403


def test_erasing_the_target_erases_the_member_merged_into_it(pair):
    from tests.rewards.test_gdpr import _occurrences

    source, target = pair
    member_merge(source=source, target=target, reason="ann-old enrolled twice")
    member_erase(member=target, reason="Asked to be forgotten")
    source.refresh_from_db()
    assert (source.status, source.external_id) == (Member.Status.ERASED, f"erased-{source.pk}")
    assert source.merged_into_id == target.pk
    found = _occurrences(["ann-old"])
    assert found == [], "\n".join(found)
    assert_reconciles(source)
    assert_reconciles(target)


def test_the_sources_lifetime_points_count_as_the_targets(pair):
    source, target = pair
    source.refresh_from_db()
    target.refresh_from_db()
    before = source.lifetime_earned, target.lifetime_earned
    merge = member_merge(source=source, target=target, reason="Enrolled twice")
    source.refresh_from_db()
    target.refresh_from_db()
    assert merge.lifetime_moved == before[0]
    assert (source.lifetime_earned, target.lifetime_earned) == (0, before[0] + before[1])
    assert_reconciles(source)
    assert_reconciles(target)


def test_the_export_includes_what_stayed_with_the_merged_member(pair):
    source, target = pair
    member_merge(source=source, target=target, reason="Enrolled twice")
    data = member_client_for(target).get("/api/v1/me/export").json()
    assert data["profile"]["external_id"] == "ann"
    [merged] = data["merged_members"]
    assert merged["profile"]["external_id"] == "ann-old"
    assert merged["profile"]["status"] == "merged"
    assert any(entry["kind"] == "merge_out" for entry in merged["ledger"])
    assert len(merged["redemptions"]) == 2  # the voucher's and the spent points, captured


def test_moved_lots_keep_their_earning_and_expiry_dates_and_expire_on_the_target(shop, program):
    from datetime import UTC, datetime

    from rewards.models import PointLot
    from rewards.services.nightly import job_run_inline
    from tests.factories import MemberFactory
    from tests.nightly_helpers import earn_at

    source, target = MemberFactory(), MemberFactory()
    # Rolling 12 months to the month's end: 2025-03-10 expires at 2026-04-01.
    earn_at(shop, source, "30.00", datetime(2025, 3, 10, 9, tzinfo=UTC))
    earn_at(shop, target, "20.00", datetime(2025, 9, 10, 9, tzinfo=UTC))
    [old] = PointLot.objects.filter(member=source)
    member_merge(
        source=source,
        target=target,
        reason="Enrolled twice",
        as_of=datetime(2025, 10, 1, tzinfo=UTC),
    )
    moved = PointLot.objects.get(member=target, entry__kind="merge_in")
    assert (moved.points, moved.remaining) == (30, 30)
    assert (moved.earned_at, moved.available_at, moved.expires_at) == (
        old.earned_at,
        old.available_at,
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    job_run_inline(job_name="expire", as_of=datetime(2026, 4, 1, 2, tzinfo=UTC))
    target.refresh_from_db()
    assert target.points_available == 20  # the moved 30 expired on their own date
    assert LedgerEntry.objects.get(member=target, kind="expire").points == -30
    assert not LedgerEntry.objects.filter(member=source, kind="expire").exists()
    assert_reconciles(source)
    assert_reconciles(target)


def test_the_targets_tier_is_re_evaluated_and_the_tier_history_moves(shop, program):
    from rewards.models import MemberTier, Tier, TierChange
    from tests.conftest import earn
    from tests.factories import MemberFactory

    Tier.objects.create(name="Bronze", rank=1, threshold=0)
    Tier.objects.create(name="Silver", rank=2, threshold=50)
    Tier.objects.create(name="Gold", rank=3, threshold=100)
    source, target = MemberFactory(), MemberFactory()
    assert earn(shop, source, "70.00")["tier"] == "Silver"
    assert earn(shop, target, "40.00")["tier"] == "Bronze"
    source_history = list(TierChange.objects.filter(member=source).values_list("pk", flat=True))
    assert source_history

    merge = member_merge(source=source, target=target, reason="Enrolled twice")

    # 70 + 40 points earned on purchases in the window: Gold at once, not at the next
    # purchase or the nightly run.
    assert merge.moved["tier"] == "Gold"
    assert MemberTier.objects.get(member=target).tier.name == "Gold"
    assert TierChange.objects.filter(member=target, to_tier__name="Gold").exists()
    assert set(source_history) <= set(
        TierChange.objects.filter(member=target).values_list("pk", flat=True)
    )
    assert not TierChange.objects.filter(member=source).exists()


def test_a_merged_member_cannot_be_suspended_or_reactivated_out_of_the_merge(pair):
    """A merge cannot be undone: suspending the merged member and reactivating it would
    make it active again, with its own external id, and mergeable again."""
    from members.services import member_reactivate, member_suspend

    source, target = pair
    member_merge(source=source, target=target, reason="Enrolled twice")
    source.refresh_from_db()
    with pytest.raises(MemberMerged):
        member_suspend(member=source, reason="Looks odd")
    with pytest.raises(MemberMerged):
        member_reactivate(member=source, reason="Undo the merge")
    client = client_for(staff_user_in("Support"))
    response = client.post(f"/admin/members/member/{source.pk}/suspend/", {"reason": "Looks odd"})
    assert response.status_code == 200
    assert "A merge cannot be undone." in response.content.decode()
    source.refresh_from_db()
    assert (source.status, source.merged_into_id) == (Member.Status.MERGED, target.pk)
    assert source.history.first().history_change_reason.startswith("Merged into")
