"""The hot path's hand-written statements run as prepared statements on PostgreSQL (issue
18): after DATABASE_PREPARE_THRESHOLD runs on a connection PostgreSQL no longer parses and
plans them. Django turns psycopg's preparing off unless asked; the ORM's client-side-bound
queries are never prepared either way."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from loyalty_engine.rows import rows_fetch
from members.models import Member

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LOOKUP = "SELECT id, external_id FROM members_member WHERE id = %s"


def _prepared() -> list[str]:
    """The statements prepared on this connection's session."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _earn(shop_client, member, order: str):
    body = {"member": member.external_id, "order_id": order, "amount": "10.00", "currency": "EUR"}
    response = shop_client.post("/api/v1/purchases", body, format="json")
    assert response.status_code == 201, response.content


def test_a_hand_written_statement_is_prepared_after_the_threshold(member):
    connection.ensure_connection()
    threshold = connection.connection.prepare_threshold
    assert threshold == 5

    for _ in range(threshold):
        assert rows_fetch(LOOKUP, [member.pk]) == [(member.pk, member.external_id)]
    assert not [s for s in _prepared() if "external_id FROM members_member" in s]

    # The next run prepares it; the one after runs what was prepared.
    for _ in range(2):
        assert rows_fetch(LOOKUP, [member.pk]) == [(member.pk, member.external_id)]
    assert "SELECT id, external_id FROM members_member WHERE id = $1" in _prepared()


def test_the_orms_queries_are_never_prepared(member):
    for _ in range(8):
        assert Member.objects.filter(pk=member.pk).values_list("external_id", flat=True).get()
    assert not [s for s in _prepared() if "members_member" in s]


# The Python path's statements (test_a_plain_earns_function_call_is_prepared: the one
# statement of a plain earn on PostgreSQL).
@override_settings(EARN_PLAIN_FUNCTION=False)
def test_an_earns_statements_are_prepared_and_still_logged_with_their_text(shop_client, member):
    for n in range(6):
        _earn(shop_client, member, f"warm-{n}")
    with CaptureQueriesContext(connection) as queries:
        _earn(shop_client, member, "prepared")

    prepared = _prepared()
    # The writes go as one statement (loyalty_engine.rows), the ledger's insert among them.
    assert any(s.startswith("WITH ") and 'INSERT INTO "rewards_ledgerentry"' in s for s in prepared)
    assert any("FOR UPDATE" in s and "members_member" in s for s in prepared)
    # Django logs the text psycopg sent before preparing, placeholders numbered.
    logged = [q["sql"] for q in queries.captured_queries]
    assert None not in logged
    writes = next(sql for sql in logged if 'INSERT INTO "rewards_ledgerentry"' in sql)
    assert "$1" in writes and "%s" not in writes
    assert writes in prepared


def test_a_plain_earns_function_call_is_prepared_and_still_logged_with_its_text(
    shop_client, member
):
    for n in range(6):
        _earn(shop_client, member, f"warm-{n}")
    with CaptureQueriesContext(connection) as queries:
        _earn(shop_client, member, "prepared")

    call = "SELECT loyalty_earn_plain($1, $2, $3"
    assert any(s.startswith(call) for s in _prepared())
    logged = [q["sql"] for q in queries.captured_queries]
    assert len(logged) == 1 and logged[0].startswith(call) and "%s" not in logged[0]


def test_the_response_and_the_ledger_are_the_same_once_prepared(shop_client, member):
    from rewards.models import LedgerEntry, PointLot

    for n in range(8):
        _earn(shop_client, member, f"order-{n}")
    member.refresh_from_db()
    # 10.00 EUR at the program's default 1 point per EUR, eight times.
    assert member.points_available == 80
    assert LedgerEntry.objects.filter(member=member).count() == 8
    assert sum(PointLot.objects.filter(member=member).values_list("remaining", flat=True)) == 80


def test_a_prepared_statements_logged_text_numbers_its_placeholders_as_psycopg_does():
    from loyalty_engine.postgresql.base import _placeholders

    sql = "SELECT %s, name LIKE '50%%s off' FROM t WHERE a = %s AND b = %s"
    expected = "SELECT $1, name LIKE '50%s off' FROM t WHERE a = $2 AND b = $3"
    assert _placeholders(sql) == expected
    # The text psycopg prepared for such a statement, as PostgreSQL keeps it.
    statement = "SELECT %s::text || '50%%s off' || %s::text"
    for _ in range(6):
        assert rows_fetch(statement, ["a", "b"]) == [("a50%s offb",)]
    assert _placeholders(statement) in _prepared()


def test_a_long_statement_with_many_parameters_is_converted_once(member):
    # As an earn's writes sent together: more than psycopg's 50 parameters and 4,096 bytes.
    from psycopg import _queries

    columns = ", ".join(f"%s::int AS c{n}" for n in range(70))
    padding = "-- " + "x" * 5000 + "\n"
    sql = f"{padding}SELECT {columns}"
    assert len(sql) > 4096
    rows_fetch(sql, list(range(70)))
    before = _queries._query2pg.cache_info().hits
    assert rows_fetch(sql, list(range(70))) == [tuple(range(70))]
    assert _queries._query2pg.cache_info().hits == before + 1
