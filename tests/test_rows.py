"""loyalty_engine/rows.py (issue 18): the hand-written hot-path statements give what the
ORM gives, on PostgreSQL and SQLite alike."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from loyalty_engine.rows import Columns, RowInsert, RowUpdate
from members.models import Member
from rewards.models import LedgerEntry, Program, Redemption
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
