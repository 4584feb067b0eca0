"""The indexes an earn writes (issue 18): each foreign key of the rows it inserts can still
be looked up by an index, and no index repeats the first columns of another."""

import pytest
from django.db import connection, transaction

from rewards.models import EarnAward, LedgerEntry, PointLot, Purchase
from tests.factories import MemberFactory

EARN_TABLES = [Purchase, LedgerEntry, EarnAward, PointLot]
# Foreign keys an earn leaves empty: indexed only where they are set.
EMPTY_ON_EARN = {
    LedgerEntry: ["refund_id", "redemption_id", "actor_user_id"],
    EarnAward: ["rule_id", "tier_id", "milestone_id"],
}


def indexes(model) -> dict[str, dict]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {name: info for name, info in found.items() if info["index"] or info["unique"]}


def index_definitions(model) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [model._meta.db_table],
        )
        return dict(cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.parametrize("model", EARN_TABLES, ids=lambda m: m.__name__)
def test_every_foreign_key_of_an_earns_rows_leads_an_index(model):
    leading = {info["columns"][0] for info in indexes(model).values() if info["columns"]}
    for field in model._meta.concrete_fields:
        if field.is_relation:
            assert field.column in leading, f"{model.__name__}.{field.column} has no index"


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("model", EARN_TABLES, ids=lambda m: m.__name__)
def test_no_index_repeats_the_first_columns_of_another(model):
    definitions = index_definitions(model)
    plain = {
        name: info["columns"]
        for name, info in indexes(model).items()
        if " WHERE " not in definitions.get(name, "") and info["columns"]
    }
    for name, columns in plain.items():
        if indexes(model)[name]["unique"]:
            continue  # a uniqueness rule, not only a lookup
        for other, other_columns in plain.items():
            if other != name and other_columns[: len(columns)] == columns:
                pytest.fail(f"{name} {columns} repeats the start of {other} {other_columns}")


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("model", list(EMPTY_ON_EARN), ids=lambda m: m.__name__)
def test_the_keys_an_earn_leaves_empty_are_indexed_only_where_set(model):
    definitions = index_definitions(model)
    for column in EMPTY_ON_EARN[model]:
        on_column = [
            definitions[name]
            for name, info in indexes(model).items()
            if info["columns"] and info["columns"][0] == column
        ]
        assert on_column, column
        for definition in on_column:
            assert f"WHERE ({column} IS NOT NULL)" in definition, definition


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "queryset",
    [
        lambda m: Purchase.objects.filter(member=m),
        lambda m: LedgerEntry.objects.filter(member=m),
        lambda m: EarnAward.objects.filter(member=m),
        lambda m: LedgerEntry.objects.filter(refund=1),
        lambda m: EarnAward.objects.filter(tier=1),
    ],
    ids=["purchases", "entries", "awards", "entries-of-a-refund", "awards-of-a-tier"],
)
def test_a_lookup_by_key_is_answered_from_an_index(queryset):
    member = MemberFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset(member).explain()
    assert "Index" in plan and "Seq Scan" not in plan, plan
