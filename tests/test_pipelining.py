"""loyalty_engine.rows.pipelined (issue 18): on PostgreSQL the statements nobody waits for
are sent without waiting, and nothing else changes: every other statement's rows,
rowcount and errors are where the ORM expects them, and a failure of a statement sent
without waiting can't be mistaken for a later statement's."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from psycopg.pq import TransactionStatus

from loyalty_engine.db import durable_write
from loyalty_engine.rows import (
    DeferredWriteFailed,
    RowInsert,
    RowUpdate,
    pipelined,
    rows_fetch_together,
)
from members.models import Member
from rewards.models import LedgerEntry, PointLot, Purchase
from rewards.services.ledger import member_lock_with_program
from tests.conftest import other_connection
from tests.factories import MemberFactory

IDLE, INTRANS = TransactionStatus.IDLE, TransactionStatus.INTRANS

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


def _entry(member, points: int) -> LedgerEntry:
    now = timezone.now()
    return LedgerEntry(
        member=member,
        kind=LedgerEntry.Kind.BONUS,
        points=points,
        reason="held",
        actor_kind=LedgerEntry.Actor.SYSTEM,
        effective_at=now,
        created_at=now,
    )


_entry_insert = RowInsert(LedgerEntry)
_name_update = RowUpdate(Member, ["name"])
_response_update = RowUpdate(Purchase, ["response"])


def test_writes_to_different_tables_go_together_as_one_statement(shop, member):
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), pipelined():
        _purchase_insert.insert(_purchase(shop, member, "together"), pk=False)
        _entry_insert.insert(_entry(member, 7), pk=False)
        _name_update.run(member.pk, ["Together"])
    sent = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    (statement,) = sent
    assert statement.startswith("WITH ")
    assert 'INSERT INTO "rewards_purchase"' in statement
    assert 'INSERT INTO "rewards_ledgerentry"' in statement
    assert 'UPDATE "members_member"' in statement
    # Every part ran, each with its own values.
    assert Purchase.objects.filter(order_id="together").count() == 1
    assert list(LedgerEntry.objects.filter(member=member).values_list("points", "reason")) == [
        (7, "held")
    ]
    assert Member.objects.get(pk=member.pk).name == "Together"


def test_a_second_write_to_the_same_table_sends_the_held_ones_before_it(shop, member):
    # PostgreSQL runs the parts of one statement on one snapshot: an UPDATE there would not
    # see a row a part before it inserted. So the second write to a table starts anew.
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), pipelined():
        locked, _ = member_lock_with_program(member.external_id, reserve=(Purchase,))
        purchase = _purchase_insert.insert(_purchase(shop, locked, "then-answered"))
        _entry_insert.insert(_entry(member, 3), pk=False)
        _response_update.run(purchase.pk, [{"answered": True}])
    sent = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(sent) == 3  # the lock; purchase with entry; the response's update
    assert 'INSERT INTO "rewards_purchase"' in sent[1] and "rewards_ledgerentry" in sent[1]
    assert sent[2].startswith('UPDATE "rewards_purchase"')
    assert Purchase.objects.get(pk=purchase.pk).response == {"answered": True}


def test_a_statement_that_waits_sends_the_held_writes_first(shop, member):
    with transaction.atomic(), pipelined():
        _entry_insert.insert(_entry(member, 5), pk=False)
        _name_update.run(member.pk, ["Seen"])
        # Both sent before this read, which sees them.
        assert LedgerEntry.objects.filter(member=member, points=5).exists()
        assert Member.objects.get(pk=member.pk).name == "Seen"
        # Read together: held writes go before them too.
        _entry_insert.insert(_entry(member, 6), pk=False)
        (((count,),),) = rows_fetch_together(
            [("SELECT count(*) FROM rewards_ledgerentry WHERE member_id = %s", [member.pk])]
        )
        assert count == 2


def test_a_failing_part_fails_the_whole_statement_and_the_write(shop, member):
    _purchase_insert.insert(_purchase(shop, member, "twice-held"), pk=False)

    @durable_write(pipelined=True)
    def write():
        _entry_insert.insert(_entry(member, 9), pk=False)
        _purchase_insert.insert(_purchase(shop, member, "twice-held"), pk=False)
        _name_update.run(member.pk, ["Never"])

    with pytest.raises(IntegrityError) as raised:
        write()
    assert "purchase_order_unique" in str(raised.value)
    assert not LedgerEntry.objects.filter(member=member, points=9).exists()
    assert Member.objects.get(pk=member.pk).name != "Never"
    assert Purchase.objects.filter(order_id="twice-held").count() == 1


def test_outside_a_pipeline_a_write_runs_at_once(shop, member):
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        _entry_insert.insert(_entry(member, 4), pk=False)
        assert len(queries.captured_queries) == 2  # the savepoint and the insert
        _name_update.run(member.pk, ["At once"])
        assert len(queries.captured_queries) == 3
    assert LedgerEntry.objects.filter(member=member, points=4).exists()


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


# The commit riding the last sync (pipelined(commit=True), as durable_write uses it). These
# tests commit for real: outside a test's transaction, where the block is the outermost.


def _committed_order_ids() -> list[str]:
    with other_connection() as other:
        rows = other.execute("SELECT order_id FROM rewards_purchase ORDER BY order_id")
        return [order_id for (order_id,) in rows.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_commit_is_sent_with_the_pending_statements(shop, member):
    with transaction.atomic(durable=True):
        with pipelined(commit=True):
            locked, _ = member_lock_with_program(member.external_id, reserve=(Purchase,))
            _purchase_insert.insert(_purchase(shop, locked, "riding"))
            # Sent, not answered: nothing is committed yet.
            assert connection.connection.info.transaction_status != IDLE
            assert _committed_order_ids() == []
        # The block's closing sync was the only wait: the transaction is over before
        # Django's commit, which then has nothing to send.
        assert connection.connection.info.transaction_status == IDLE
        assert _committed_order_ids() == ["riding"]
    assert connection.get_autocommit()
    # The connection goes on as usual, in and out of transactions.
    assert Purchase.objects.filter(order_id="riding").count() == 1
    with transaction.atomic():
        _purchase_insert.insert(_purchase(shop, member, "after"), pk=False)
    assert _committed_order_ids() == ["after", "riding"]


@pytest.mark.django_db(transaction=True)
def test_without_commit_the_block_leaves_the_transaction_to_django(shop, member):
    with transaction.atomic(durable=True):
        with pipelined():
            _purchase_insert.insert(_purchase(shop, member, "later"), pk=False)
        assert connection.connection.info.transaction_status == INTRANS
        assert _committed_order_ids() == []
    assert _committed_order_ids() == ["later"]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_around_it_is_not_committed_by_it(shop, member):
    with transaction.atomic():
        with transaction.atomic(), pipelined(commit=True):
            _purchase_insert.insert(_purchase(shop, member, "inner"), pk=False)
        assert connection.connection.info.transaction_status == INTRANS
        assert _committed_order_ids() == []
    assert _committed_order_ids() == ["inner"]


@pytest.mark.django_db(transaction=True)
def test_a_deferred_insert_failing_with_the_commit_writes_nothing(shop, member):
    _purchase_insert.insert(_purchase(shop, member, "twice"), pk=False)
    on_commit = []

    @durable_write(pipelined=True)
    def write():
        _, _ = member_lock_with_program(member.external_id, reserve=(Purchase,))
        _purchase_insert.insert(_purchase(shop, member, "first-of-two"))
        _purchase_insert.insert(_purchase(shop, member, "twice"), pk=False)
        transaction.on_commit(lambda: on_commit.append("ran"))

    with pytest.raises(IntegrityError):
        write()
    assert _committed_order_ids() == ["twice"]
    assert on_commit == []
    assert connection.get_autocommit() and not connection.in_atomic_block
    assert Purchase.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_foreign_key_checked_at_the_commit_fails_the_write_and_writes_nothing(shop, member):
    # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: PostgreSQL checks them at
    # the COMMIT, which here is answered with the pending statements.
    @durable_write(pipelined=True)
    def write():
        _purchase_insert.insert(_purchase(shop, member, "kept-out"), pk=False)
        orphan = _purchase(shop, member, "orphan")
        orphan.member_id = member.pk + 10_000
        _purchase_insert.insert(orphan, pk=False)

    with pytest.raises(IntegrityError) as raised:
        write()
    assert "foreign key" in str(raised.value)
    assert _committed_order_ids() == []
    # The connection is usable and out of the failed transaction.
    assert connection.connection.info.transaction_status == IDLE
    assert Member.objects.filter(pk=member.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_successful_durable_write_commits_once_and_runs_its_on_commit_hooks(shop, member):
    ran = []

    @durable_write(pipelined=True)
    def write():
        locked, _ = member_lock_with_program(member.external_id, reserve=(Purchase,))
        _purchase_insert.insert(_purchase(shop, locked, "hooked"))
        transaction.on_commit(lambda: ran.append(_committed_order_ids()))

    write()
    assert ran == [["hooked"]]


@pytest.mark.django_db(transaction=True)
def test_an_error_in_the_block_rolls_back_and_sends_no_commit(shop, member):
    @durable_write(pipelined=True)
    def write():
        _purchase_insert.insert(_purchase(shop, member, "undone"), pk=False)
        raise ValueError("refused")

    with pytest.raises(ValueError):
        write()
    assert _committed_order_ids() == []
    assert connection.connection.info.transaction_status == IDLE


def test_selects_sent_together_each_get_their_own_rows_in_one_round_trip(shop, member):
    other = MemberFactory()
    statements = [
        ("SELECT external_id FROM members_member WHERE id = %s", [member.pk]),
        (
            "SELECT external_id FROM members_member WHERE id IN (%s, %s) ORDER BY id",
            [member.pk, other.pk],
        ),
    ]
    with transaction.atomic(), pipelined():
        first, second = rows_fetch_together(statements)
    assert first == [(member.external_id,)]
    assert second == [(member.external_id,), (other.external_id,)]
    # Outside a pipeline: the same rows, one statement after the other.
    assert rows_fetch_together(statements) == [first, second]


def test_a_failure_among_selects_sent_together_is_raised_as_a_deferred_failure(member):
    with pytest.raises(DeferredWriteFailed) as raised, transaction.atomic(), pipelined():
        rows_fetch_together([("SELECT 1 / 0", []), ("SELECT %s", [member.pk])])
    assert "division by zero" in str(raised.value.error)
