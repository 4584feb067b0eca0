"""The reuse check of a persistent PostgreSQL connection (loyalty_engine/postgresql,
issue 18): skipped while the connection served a request moments ago, made as Django makes
it once the connection has been idle longer."""

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from members.models import Member
from tests.conftest import backend_terminate

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _terminate_backend() -> int:
    """PostgreSQL closes this process's connection from the other side; its backend's pid."""
    pid = connection.connection.info.backend_pid
    backend_terminate(pid)
    return pid


def _request_served() -> None:
    """A request that used the connection, then ended, and the next one starting (Django
    calls close_if_unusable_or_obsolete at both ends: django.db.close_old_connections)."""
    connection.close_if_unusable_or_obsolete()  # request_started
    Member.objects.exists()
    connection.close_if_unusable_or_obsolete()  # request_finished


def test_backend_is_djangos_postgresql_with_its_health_checks():
    assert connection.vendor == "postgresql"
    assert connection.settings_dict["ENGINE"] == "loyalty_engine.postgresql"
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_a_connection_that_just_served_a_request_is_reused_without_a_check(settings):
    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 60
    _request_served()
    terminated = _terminate_backend()
    connection.close_if_unusable_or_obsolete()  # the next request starts

    # No SELECT 1 first: the request meets the closed connection (the 503 of a restart).
    with pytest.raises(OperationalError):
        Member.objects.exists()
    # Django drops the broken connection; the request after it reconnects.
    connection.close_if_unusable_or_obsolete()
    assert Member.objects.exists() is False  # answered: no member in this test
    assert connection.connection.info.backend_pid != terminated


def test_a_connection_idle_for_longer_is_checked_and_replaced(settings):
    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 0
    _request_served()
    before = connection.connection
    _terminate_backend()
    connection.close_if_unusable_or_obsolete()  # the next request starts

    with CaptureQueriesContext(connection) as queries:
        assert Member.objects.exists() is False  # answered: no member in this test
    assert connection.connection is not before
    assert len(queries) == 1


def test_a_request_whose_statement_broke_off_does_not_vouch_for_the_connection(settings):
    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 60
    connection.ensure_connection()
    connection.close_if_unusable_or_obsolete()  # request_started
    connection.answered_at = float("-inf")
    try:
        with pytest.raises(OperationalError), connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 1")
            cursor.execute("SELECT pg_sleep(1)")  # cancelled: an error of the connection's
        assert connection.errors_occurred
        connection.close_if_unusable_or_obsolete()  # request_finished

        assert connection.answered_at == float("-inf")
    finally:
        connection.close()  # with its statement_timeout


def test_the_hand_written_statements_check_an_idle_connection_too(settings):
    # The balance read's only statement goes through loyalty_engine.rows, not the ORM.
    from loyalty_engine.rows import row_fetch

    settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS = 0
    _request_served()
    _terminate_backend()
    connection.close_if_unusable_or_obsolete()  # the next request starts

    assert row_fetch("SELECT %s::int", [1]) == (1,)
