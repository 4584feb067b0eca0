"""loyalty_engine/rows.py (issue 18): the hand-written hot-path statements give what the
ORM gives, on PostgreSQL and SQLite alike."""

import uuid
import warnings
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db import DataError, connection
from django.db.models.signals import pre_init
from django.utils import timezone

from loyalty_engine.events.models import Event
from loyalty_engine.rows import Columns, Preparer, RowInsert, RowUpdate
from members.models import Member
from rewards.models import EarnAward, LedgerEntry, PointLot, Program, Purchase, Redemption
from rewards.selectors import program_for_purchase_get
from rewards.services.ledger import member_lock_with_program
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_columns_make_the_instance_the_orm_makes(program):
    member = MemberFactory(birth_date="1990-05-17")
    columns = Columns.of(Member, "member")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns.sql} FROM members_member AS member WHERE id = %s", [member.pk]
        )
        made = columns.instance(cursor.fetchone())
    orm = Member.objects.get(pk=member.pk)
    assert _values(made) == _values(orm)
    # Types too: SQLite hands back strings and integers where the ORM converts.
    assert {k: type(v) for k, v in _values(made).items()} == {
        k: type(v) for k, v in _values(orm).items()
    }
    assert made._state.adding is False


def test_the_member_lock_reads_the_program_as_the_program_read_does(program, member):
    Program.objects.filter(pk=1).update(point_value=Decimal("0.0250"), pending_days=3)
    locked, read = member_lock_with_program(member.external_id)
    expected = program_for_purchase_get()
    assert locked.pk == member.pk
    assert _values(read) == _values(expected)
    assert (read.has_tiers, read.has_purchase_rules, read.has_milestones) == (
        bool(expected.has_tiers),
        bool(expected.has_purchase_rules),
        bool(expected.has_milestones),
    )
    assert member_lock_with_program("nobody-by-that-id") == (None, None)


def test_a_prepared_insert_stores_what_create_stores(shop, member):
    fields = dict(
        member=member,
        kind=LedgerEntry.Kind.ADJUST,
        points=0,
        held_change=5,
        reason="Counted twice",
        reference="check",
        actor_kind=LedgerEntry.Actor.SHOP,
        actor_shop=shop,
        message_key="adjusted",
        message_params={"points": 0},
        effective_at=timezone.now(),
        created_at=timezone.now(),
    )
    made = RowInsert(LedgerEntry).create(**fields)
    stored = LedgerEntry.objects.get(pk=made.pk)
    reference = LedgerEntry.objects.create(**fields)
    reference.refresh_from_db()
    ignore = {"id"}
    assert {k: v for k, v in _values(stored).items() if k not in ignore} == {
        k: v for k, v in _values(reference).items() if k not in ignore
    }
    assert isinstance(made.pk, int) and made._state.adding is False


def test_a_primary_key_set_beforehand_stays_as_it_was(shop, member):
    key = uuid.uuid4()
    redemption = RowInsert(Redemption).create(
        id=key,
        shop=shop,
        member=member,
        idempotency_key="K-rows",
        points=5,
        discount_amount=Decimal("0.05"),
        currency="EUR",
        status=Redemption.Status.HELD,
        request_hash="h",
        response={"status": "held"},
        created_at=timezone.now(),
    )
    assert redemption.pk == key and isinstance(redemption.pk, uuid.UUID)
    assert Redemption.objects.get(pk=key).points == 5


def test_a_prepared_update_writes_as_update_does(member):
    RowUpdate(Member, ["points_available", "lifetime_earned"]).run(member.pk, [120, 400])
    member.refresh_from_db()
    assert (member.points_available, member.lifetime_earned) == (120, 400)


NOW = timezone.now()


def _lot(member, *, points, expires_in_days, earned_days_ago, pending=False):
    from datetime import timedelta

    from rewards.models import PointLot

    now = NOW
    entry = LedgerEntry.objects.create(
        member=member,
        kind=LedgerEntry.Kind.ADJUST,
        points=points,
        reason="lot",
        effective_at=now,
        created_at=now,
    )
    return PointLot.objects.create(
        member=member,
        entry=entry,
        points=points,
        remaining=points,
        earned_at=now - timedelta(days=earned_days_ago),
        available_at=now,
        is_pending=pending,
        expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
    )


def _lots_fixture(member):
    # Ties on expiry (broken by earning time, then id), lots that never expire, an empty
    # lot, and a pending one.
    _lot(member, points=5, expires_in_days=30, earned_days_ago=3)
    _lot(member, points=7, expires_in_days=30, earned_days_ago=9)
    _lot(member, points=2, expires_in_days=None, earned_days_ago=1)
    _lot(member, points=4, expires_in_days=None, earned_days_ago=8)
    _lot(member, points=9, expires_in_days=10, earned_days_ago=2, pending=True)
    empty = _lot(member, points=3, expires_in_days=5, earned_days_ago=2)
    empty.remaining = 0
    empty.save()
    _lot(member, points=6, expires_in_days=30, earned_days_ago=9)


def test_the_open_lots_come_as_the_orm_reads_them_in_spending_order(member):
    from django.db.models import F

    from rewards.models import PointLot
    from rewards.services.ledger import lots_open

    _lots_fixture(member)
    made = lots_open(member)
    orm = list(
        PointLot.objects.filter(member=member, remaining__gt=0).order_by(
            F("expires_at").asc(nulls_last=True), "earned_at", "id"
        )
    )
    assert [lot.pk for lot in made] == [lot.pk for lot in orm]
    assert [_values(lot) for lot in made] == [_values(lot) for lot in orm]
    assert made[-1].expires_at is None and made[0].is_pending is True


def test_the_expiring_points_are_the_open_lots_summed_per_instant(member):
    from collections import defaultdict

    from rewards.models import PointLot
    from rewards.selectors import member_expiring_list

    _lots_fixture(member)
    Member.objects.filter(pk=member.pk).update(points_available=24, points_pending=9)
    member.refresh_from_db()
    expected = defaultdict(int)
    for lot in PointLot.objects.filter(member=member, remaining__gt=0, expires_at__isnull=False):
        expected[lot.expires_at] += lot.remaining
    listed = member_expiring_list(member=member)
    assert listed == [{"points": p, "expires_at": at} for at, p in sorted(expected.items())]
    assert [row["points"] for row in listed] == [9, 18]
    assert all(type(row["points"]) is int for row in listed)
    assert all(row["expires_at"].tzinfo is not None for row in listed)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_statement_cursor_serves_a_connection_and_goes_with_it(member):
    from loyalty_engine.rows import row_fetch, rows_fetch, statement_cursor

    with statement_cursor() as first:
        kept = first.cursor
    assert row_fetch("SELECT %s::int", [7]) == (7,)
    with statement_cursor() as second:
        assert second.cursor is kept and not kept.closed
    # A statement that fails leaves it usable for the next.
    with pytest.raises(DataError), statement_cursor() as cursor:
        cursor.execute("SELECT 1 / %s::int", [0])
    assert rows_fetch("SELECT id FROM members_member WHERE id = %s", [member.pk]) == [(member.pk,)]

    connection.close()
    with statement_cursor() as after:
        assert after.cursor is not kept and after.cursor.connection is connection.connection
    assert row_fetch("SELECT %s::int", [8]) == (8,)


@pytest.mark.parametrize("balance", [(0, 0), (38, 0), (0, 9), (29, 9)])
def test_the_member_with_its_expiring_points_reads_as_the_two_reads_do(member, balance):
    from datetime import timedelta

    from members.auth import member_by_pk
    from rewards.selectors import member_expiring_list, member_with_expiring_get

    _lots_fixture(member)
    _lot(member, points=8, expires_in_days=-2, earned_days_ago=400)  # due, not expired yet
    _lots_fixture(MemberFactory())  # another member's lots are not this one's
    Member.objects.filter(pk=member.pk).update(
        points_available=balance[0], points_pending=balance[1]
    )

    read = member_with_expiring_get(member.pk)
    plain = member_by_pk(member.pk)

    assert _values(read) == _values(plain)
    expected = member_expiring_list(member=plain)
    if connection.vendor == "postgresql":
        assert read.expiring_read == expected
    else:  # SQLite: the member alone; the balance read makes the second read
        assert not hasattr(read, "expiring_read")
    if any(balance):
        assert [group["points"] for group in expected] == [8, 9, 18]
        assert expected[0]["expires_at"] < NOW - timedelta(days=1)
    else:
        assert expected == []
    assert member_with_expiring_get(10**12) is None


SAMPLE_VALUES = [
    None,
    0,
    7,
    -3,
    2**40,
    True,
    False,
    "",
    "abc",
    "12",
    datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    datetime(2026, 3, 1, 12, 30, tzinfo=ZoneInfo("Europe/Stockholm")),
    datetime(2026, 3, 1, 12, 30),
    Decimal("1.50"),
    {"a": [1, "b"]},
    [1, 2],
]


def _same_param(fast, orm) -> bool:
    if type(fast) is not type(orm):
        return False
    if hasattr(orm, "obj"):  # psycopg's Jsonb wrapper has no equality of its own
        return fast.obj == orm.obj
    return fast == orm


def _outcome(prepare, *args):
    try:
        return "value", prepare(*args)
    except Exception as error:  # noqa: BLE001 - an error is an outcome to compare too
        return "error", type(error)


def test_the_preparer_prepares_every_field_as_the_orm_does():
    """Every concrete field of every model, with plain and unusual values: the preparer's
    parameter is the one get_db_prep_save makes (the same type, the same value), or the
    same error. On PostgreSQL the integers come wrapped in psycopg's Int4/Int8 as the ORM
    wraps them, which keeps a prepared statement's parameter types fixed."""
    compared = fast = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            preparer = Preparer([field])
            fast += preparer.steps[0][2] is not None
            for value in SAMPLE_VALUES:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # the naive datetime
                    mine = _outcome(preparer, [value], connection)
                    orm = _outcome(field.get_db_prep_save, value, connection)
                if mine[0] == "value":
                    mine = ("value", mine[1][0])
                assert mine[0] == orm[0], (field, value, mine, orm)
                if mine[0] == "value":
                    assert _same_param(mine[1], orm[1]), (field, value, mine, orm)
                else:
                    assert mine[1] is orm[1], (field, value)
                compared += 1
    assert compared > 2000
    # The shortcut is taken at all: the ledger's ids, points, texts and flags.
    assert fast > 200
    entry_steps = Preparer(RowInsert(LedgerEntry).fields).steps
    kinds = {field.name: step for field, _, step, _ in entry_steps}
    assert kinds["member"] is not None and kinds["points"] is not None
    assert kinds["kind"] is not None
    assert (kinds["created_at"] is not None) == (connection.vendor == "postgresql")


def _made_alike(built, reference):
    """The same field values (a callable default, such as a new uuid, only of the same
    type), the same cached related instances, the same state."""
    callable_defaults = {
        field.attname
        for field in reference._meta.concrete_fields
        if field.has_default() and callable(field.default)
    }
    for key, value in reference.__dict__.items():
        if key == "_state":
            continue
        if key in callable_defaults:
            assert type(built.__dict__[key]) is type(value), key
        else:
            assert built.__dict__[key] == value, key
    assert built.__dict__.keys() == reference.__dict__.keys()
    assert built._state.db == reference._state.db
    assert built._state.adding == reference._state.adding
    cached, expected = built._state.fields_cache, reference._state.fields_cache
    assert cached.keys() == expected.keys()
    assert all(cached[key] is expected[key] for key in expected)


def test_a_built_row_is_the_instance_the_keyword_construction_makes(shop, member):
    """RowInsert.build against Model(**values) for the rows an earn writes, with related
    instances saved, unsaved and None, and ids given as ids."""
    now = timezone.now()
    purchase = Purchase(shop=shop, member=member, order_id="o-1", amount=Decimal("57.31"))
    entry_values = dict(
        member=member,
        kind=LedgerEntry.Kind.EARN,
        points=57,
        reason="",
        message_key="earned",
        message_params={"points": 57},
        reference="order:o-1",
        actor_kind=LedgerEntry.Actor.SHOP,
        actor_shop=shop,
        actor_user=None,
        effective_at=now,
        created_at=now,
        purchase=purchase,
    )
    entry = LedgerEntry.objects.create(**{**entry_values, "purchase": None})
    by_ids = {key: value for key, value in entry_values.items() if key != "actor_shop"}
    lot_values = dict(
        member=member,
        entry=entry,
        points=57,
        remaining=57,
        earned_at=now,
        available_at=now,
        is_pending=False,
        expires_at=None,
        purchase=purchase,
    )
    cases = [
        (LedgerEntry, entry_values),
        (LedgerEntry, {**by_ids, "purchase": None, "actor_shop_id": shop.pk}),
        (PointLot, lot_values),
        (
            EarnAward,
            dict(
                member=member,
                entry=entry,
                purchase=purchase,
                source="base",
                rule=None,
                tier=None,
                description="1 point per €1",
                points=57,
                awarded_at=now,
                local_date=now.date(),
            ),
        ),
        (
            Purchase,
            dict(
                shop=shop,
                member=member,
                order_id="o-2",
                amount=Decimal("1.00"),
                currency="EUR",
                occurred_at=now,
                created_at=now,
                points_earned=1,
                request_hash="h",
                response={},
            ),
        ),
        (
            Event,
            dict(
                type="points.earned",
                member_id=member.pk,
                data={"points": 1},
                occurred_at=now,
                created_at=now,
                dedupe_key=None,
            ),
        ),
    ]
    constructed = []

    def record(sender, args, kwargs, **_):
        constructed.append((sender, bool(args), bool(kwargs)))

    pre_init.connect(record)
    try:
        for model, values in cases:
            constructed.clear()
            built = RowInsert(model).build(**values)
            # The positional construction, not a quiet fall back to the keyword one.
            assert constructed == [(model, True, False)], model
            if model is PointLot:  # a one-to-one: the entry knows its lot, as Django sets it
                entry_field = PointLot._meta.get_field("entry").remote_field
                assert entry_field.get_cached_value(entry) is built
            _made_alike(built, model(**values))
    finally:
        pre_init.disconnect(record)
    # Unsaved related instances get the database as the descriptor gives it.
    fresh = Purchase(shop=shop, member=member, order_id="o-3", amount=Decimal("2.00"))
    RowInsert(PointLot).build(**{**lot_values, "purchase": fresh})
    assert fresh._state.db == "default"
    # What the positional construction cannot take goes to the keyword one: a wrong
    # instance raises as Django raises, an unknown name too.
    with pytest.raises(ValueError):
        RowInsert(PointLot).build(member=shop, entry=entry, points=1)
    with pytest.raises(TypeError):
        RowInsert(PointLot).build(member=member, no_such_field=1)
