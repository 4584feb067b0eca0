"""Django's PostgreSQL backend, with the reuse check of a persistent connection skipped
while the connection is known to be alive.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before a request's first statement on a
connection it keeps between requests, so a connection PostgreSQL closed meanwhile (a
restart, an idle timeout) is replaced instead of failing the request. Under load every
request paid that round trip: a third of a balance read's, a quarter of an earn's (issue
18). Here it is skipped when the connection served a request without error less than
DATABASE_HEALTH_CHECK_IDLE_SECONDS ago; a connection idle for longer is checked as
before. The cost: if PostgreSQL drops the connections within that second (a restart), the
next request of each worker meets a closed connection and answers 503 with Retry-After
(loyalty_engine.serving), and the request after it reconnects."""

import itertools
import re
import time

from django.conf import settings
from django.db.backends.postgresql import base, operations
from psycopg import _queries

# psycopg converts a statement's text (`%s` to `$1`...) once and keeps the result, but only
# for statements up to 4,096 bytes and 50 parameters: it expects longer ones to be an ORM's
# bulk inserts, each of another shape (psycopg discussion 628). An earn's writes sent as
# one statement (loyalty_engine.rows) have about 70 parameters and 5 KB of text, always the
# same: converted again on every earn, 4% of its CPU (issue 18). The limits are raised so
# that they are kept too; the cache still holds at most 128 statements. psycopg names these
# in a private module: tests/test_prepared_statements.py fails if they stop taking effect.
_queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, 16384)
_queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, 128)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        # A statement psycopg ran as a prepared statement (DATABASE_PREPARE_THRESHOLD)
        # leaves no query text on the cursor, and Django would log None. Logged as the
        # text that was sent the first times, placeholders and all.
        text = super().last_executed_query(cursor, sql, params)
        if text is None and sql is not None:
            return _placeholders(sql)
        return text


_PLACEHOLDER = re.compile(r"%%|%s")


def _placeholders(sql: str) -> str:
    """`%s` placeholders numbered as PostgreSQL's `$1`, `$2`… and `%%` as `%`, as psycopg
    sends them."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    # When the connection last served a request without error (time.monotonic()).
    answered_at = float("-inf")

    def close_if_unusable_or_obsolete(self):
        # Django calls this when a request starts and when it ends. `health_check_done`
        # says the connection was checked or used since the last call, and
        # `errors_occurred` that a statement failed in a way that may have broken it.
        if self.connection is not None and self.health_check_done and not self.errors_occurred:
            self.answered_at = time.monotonic()
        super().close_if_unusable_or_obsolete()

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and not self.health_check_done
            and time.monotonic() - self.answered_at < settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
