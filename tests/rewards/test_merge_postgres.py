"""A merge on PostgreSQL (triggers refusing UPDATE and DELETE on the ledger, real row
locks): two members, each with open lots, a hold, owed points and a voucher; verify_ledger
passes afterwards, and a purchase racing the merge lands on one member or the other, whole."""

import io

import pytest
from django.core.management import call_command

from members.services import shop_api_key_create
from rewards.models import Program, Purchase, Reward
from rewards.selectors import program_get
from rewards.services.merges import member_merge
from tests.ledger_checks import assert_reconciles
from tests.rewards.merge_scenario import member_with_everything
from tests.rewards.test_concurrency import client_for, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_merge_of_two_busy_members_passes_verify_ledger():
    program_get()
    Program.objects.filter(pk=1).update(pending_days=14)
    _, key = shop_api_key_create(shop_name="Merge shop")
    client = client_for(key)
    reward = Reward.objects.create(name="Coffee", points_cost=10)
    source = member_with_everything(client, "dup-1", reward.pk)
    target = member_with_everything(client, "dup-2", reward.pk, scale=2)

    def act(index):
        if index == 0:
            return member_merge(source=source, target=target, reason="Enrolled twice")
        return client.post(
            "/api/v1/purchases",
            {"member": "dup-1", "order_id": f"race-{index}", "amount": "7.00", "currency": "EUR"},
            format="json",
        ).status_code

    results = run_concurrently(5, act)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[1:] == [201] * 4
    assert Purchase.objects.filter(order_id__startswith="race-").count() == 4
    out = io.StringIO()
    call_command("verify_ledger", stdout=out, stderr=out)  # exits 1 on any drift
    assert_reconciles(source)
    assert_reconciles(target)
    target.refresh_from_db()
    source.refresh_from_db()
    assert source.points_held == 0 and target.points_held == 40
    assert source.points_available + source.points_pending == 0


def test_a_capture_and_a_refund_racing_the_merge_land_on_the_member_who_owns_them():
    program_get()
    _, key = shop_api_key_create(shop_name="Merge shop")
    client = client_for(key)
    reward = Reward.objects.create(name="Coffee", points_cost=10)
    source = member_with_everything(client, "dup-1", reward.pk)
    target = member_with_everything(client, "dup-2", reward.pk)
    new_order = Purchase.objects.filter(member=source, order_id__endswith="-new").get().order_id

    def act(index):
        if index == 0:
            return member_merge(source=source, target=target, reason="Enrolled twice")
        if index == 1:
            return client.post(f"/api/v1/redemptions/{source.hold_id}/capture").status_code
        return client.post(
            f"/api/v1/purchases/{new_order}/refunds",
            {"refund_id": "race-refund", "amount": "10.00"},
            format="json",
        ).status_code

    results = run_concurrently(3, act)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[1:] == [200, 201]
    out = io.StringIO()
    call_command("verify_ledger", stdout=out, stderr=out)
    assert_reconciles(source)
    assert_reconciles(target)
