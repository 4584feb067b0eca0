import io

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import override_settings

from members.models import Member
from rewards.models import LedgerEntry, LotMovement, Purchase
from rewards.services import ledger
from rewards.services.purchases import purchase_record
from tests.conftest import earn
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db


def test_entries_cannot_be_updated_by_the_database(shop, member):
    earn(shop, member, "10.00")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.update(points=1000)
    assert LedgerEntry.objects.get().points == 10


def test_entries_cannot_be_deleted_by_the_database(shop, member):
    earn(shop, member, "10.00")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM rewards_ledgerentry")
    assert LedgerEntry.objects.count() == 1


def test_lot_movements_cannot_be_changed(shop_client, shop, member):
    earn(shop, member, "10.00")
    shop_client.post(
        "/api/v1/redemptions",
        {"member": member.external_id, "points": 4},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LotMovement.objects.update(points=-1)


def test_negative_available_balance_is_refused_by_the_database(member):
    with pytest.raises(DatabaseError), transaction.atomic():
        Member.objects.filter(pk=member.pk).update(points_available=-1)


# The Python path's failure (a plain earn on PostgreSQL is one statement, whose failure
# tests/rewards/test_plain_earn.py injects in the database).
@override_settings(EARN_PLAIN_FUNCTION=False)
def test_a_failure_between_entry_and_balance_leaves_nothing(shop, member, monkeypatch):
    def fail(_member):
        raise RuntimeError("injected failure after the entry and lot were written")

    monkeypatch.setattr("rewards.services.purchases.balance_save", fail)
    with pytest.raises(RuntimeError, match="injected"):
        purchase_record(
            shop=shop,
            member_external_id=member.external_id,
            order_id="A-1",
            amount=10,
            currency="EUR",
            occurred_at=None,
            lines=[],
            request_hash="h",
        )
    assert not Purchase.objects.exists()
    assert not LedgerEntry.objects.exists()
    member.refresh_from_db()
    assert member.points_available == 0
    assert_reconciles(member)
    assert ledger.balance_save is not fail  # the service module alone was patched


def test_verify_ledger_passes_on_a_consistent_ledger(shop, member):
    earn(shop, member, "10.00")
    out = io.StringIO()
    call_command("verify_ledger", stdout=out)
    assert "All 1 members reconcile" in out.getvalue()


def test_verify_ledger_exits_non_zero_on_drift(shop, member):
    earn(shop, member, "10.00")
    Member.objects.filter(pk=member.pk).update(points_available=11)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_ledger", stdout=io.StringIO(), stderr=err)
    assert exited.value.code == 1
    assert f"Member {member.external_id}: available + pending is 11" in err.getvalue()
