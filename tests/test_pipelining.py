"""loyalty_engine.rows.pipelined (issue 18): on PostgreSQL the statements nobody waits for
are sent without waiting, and nothing else changes: every other statement's rows,
rowcount and errors are where the ORM expects them, and a failure of a statement sent
without waiting can't be mistaken for a later statement's."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty_engine.db import durable_write
from loyalty_engine.rows import DeferredWriteFailed, RowInsert, pipelined
from members.models import Member
from rewards.models import LedgerEntry, PointLot, Purchase
from rewards.services.ledger import member_lock_with_program
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

_purchase_insert = RowInsert(Purchase)


def _purchase(shop, member, order_id: str) -> Purchase:
    now = timezone.now()
    return Purchase(
        shop=shop,
        member=member,
        order_id=order_id,
        amount="10.00",
        currency="EUR",
        occurred_at=now,
        created_at=now,
        points_earned=0,
        request_hash="h",
        response={},
    )


def test_an_insert_nobody_waits_for_fails_at_the_next_sync_not_where_it_was_sent(shop, member):
    _purchase_insert.insert(_purchase(shop, member, "taken"), pk=False)
    with pytest.raises(DeferredWriteFailed) as raised, transaction.atomic():
        with pipelined():
            # Sent without waiting: the duplicate order id raises nothing here...
            _purchase_insert.insert(_purchase(shop, member, "taken"), pk=False)
            sent = True
            # ...but before the next statement that waits, and not as that statement's
            # own IntegrityError, which a caller might catch as its own.
            try:
                Member.objects.filter(pk=member.pk).exists()
            except IntegrityError:
                pytest.fail("the earlier insert's failure was raised as this query's")
    assert sent
    assert isinstance(raised.value.error, IntegrityError)


def test_a_pipelined_durable_write_raises_the_database_error_of_a_deferred_insert(shop, member):
    _purchase_insert.insert(_purchase(shop, member, "twice"), pk=False)

    @durable_write(pipelined=True)
    def write():
        _purchase_insert.insert(_purchase(shop, member, "twice"), pk=False)

    with pytest.raises(IntegrityError):
        write()
    assert Purchase.objects.filter(order_id="twice").count() == 1


def test_other_statements_keep_their_rowcount_rows_and_errors(shop, member):
    other = MemberFactory()
    with transaction.atomic(), pipelined():
        _purchase_insert.insert(_purchase(shop, member, "first"), pk=False)
        # An update's rowcount is read by the ORM (save() inserts when it is 0).
        assert Member.objects.filter(pk__in=[member.pk, other.pk]).update(name="N") == 2
        other.name = "Saved"
        other.save()
        assert Member.objects.filter(name="Saved").count() == 1
        # The deferred insert is visible to the next read.
        assert Purchase.objects.filter(order_id="first").exists()
        # A statement that waits raises its own error, as the ORM's.
        with pytest.raises(IntegrityError), transaction.atomic():
            Member.objects.create(external_id=member.external_id)
        assert Member.objects.filter(pk=other.pk).values_list("name", flat=True).get() == "Saved"
    assert Member.objects.count() == 2


def test_the_member_lock_numbers_the_rows_the_write_inserts(shop, member):
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), pipelined():
        locked, _ = member_lock_with_program(
            member.external_id, reserve=(Purchase, LedgerEntry, PointLot)
        )
        purchase = _purchase_insert.insert(_purchase(shop, locked, "numbered"))
    assert locked.pk == member.pk
    assert purchase.pk is not None
    assert Purchase.objects.get(pk=purchase.pk).order_id == "numbered"
    # Numbered by the lock's query (no RETURNING), from the table's own sequence: the next
    # row the database numbers comes after it.
    sent = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    (lock,) = [sql for sql in sent if "FOR UPDATE" in sql]
    insert = sent[-1]
    assert "nextval" in lock
    assert insert.startswith("INSERT") and "RETURNING" not in insert
    later = _purchase_insert.insert(_purchase(shop, member, "later"))
    assert later.pk > purchase.pk


def test_outside_a_pipeline_nothing_is_reserved_and_the_database_numbers(shop, member):
    with transaction.atomic():
        _, _ = member_lock_with_program(member.external_id, reserve=(Purchase,))
        purchase = _purchase_insert.insert(_purchase(shop, member, "plain"))
    assert purchase.pk == Purchase.objects.get(order_id="plain").pk


def test_insert_all_writes_every_row_in_one_statement(shop, member):
    inserted = [_purchase(shop, member, f"bulk-{n}") for n in range(3)]
    with CaptureQueriesContext(connection) as queries:
        _purchase_insert.insert_all(inserted)
    assert len(queries.captured_queries) == 1
    assert sorted(Purchase.objects.values_list("order_id", flat=True)) == [
        "bulk-0",
        "bulk-1",
        "bulk-2",
    ]
    assert all(p.pk is None and not p._state.adding for p in inserted)


def test_a_key_set_beforehand_is_kept_in_a_pipeline(shop, member):
    from rewards.models import Redemption

    key = uuid.uuid4()
    with transaction.atomic(), pipelined():
        RowInsert(Redemption).create(
            id=key,
            shop=shop,
            member=member,
            idempotency_key="k",
            points=10,
            discount_amount="0.10",
            currency="EUR",
            status=Redemption.Status.CAPTURED,
            created_at=timezone.now(),
            request_hash="h",
            response={},
        )
    assert Redemption.objects.filter(pk=key).exists()


def test_a_purchase_inserted_last_stores_its_response_and_its_ledger_points_to_it(
    shop_client, member
):
    body = {"member": member.external_id, "order_id": "last", "amount": "25.90"}
    body["currency"] = "EUR"
    response = shop_client.post("/api/v1/purchases", body, format="json")
    assert response.status_code == 201
    stored = Purchase.objects.get(order_id="last")
    assert stored.response == response.json()
    entry = LedgerEntry.objects.get(purchase=stored)
    lot = PointLot.objects.get(purchase=stored)
    assert (entry.points, lot.entry_id, lot.remaining) == (25, entry.pk, 25)
    # A repeat is replayed from that row, and a different request under the order id is
    # refused: the unique key holds although the row was written last.
    again = shop_client.post("/api/v1/purchases", body, format="json")
    assert again.status_code == 200 and again.json() == response.json()
    other = shop_client.post("/api/v1/purchases", {**body, "amount": "30.00"}, format="json")
    assert other.status_code == 409
    assert LedgerEntry.objects.filter(member=member).count() == 1
