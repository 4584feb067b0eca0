"""Turn the SQL that one real API request executes into a pgbench script.

The reference figure of the benchmark is PostgreSQL running exactly the statements of one
earn (or one redeem) with no Python in between. Rather than keeping a hand-written copy of
those statements, which would drift as soon as the services change, the script is made at
run time: one request goes through the real view in-process (Django's test client, the
whole middleware stack, on the benchmark database), every statement it sends is recorded
with whether it ran inside a transaction, and the literals that must differ from one
pgbench transaction to the next become pgbench variables:

- the member's primary key becomes `:member` (random over the members) and its external id
  `bench-:member`; the capture uses a member whose primary key is distinctive enough that
  replacing it as a token is safe (see CAPTURE_MEMBER_PKS in bench/api.py);
- the order id or idempotency key of the request becomes a per-client unique string;
- rows the request inserted get their id back with `RETURNING ... \\gset`, and later
  statements use the variable; UUID literals (client-side primary keys, such as a
  redemption's) become per-transaction UUIDs ending in a pgbench variable.

Statements that ran inside Django's atomic block are wrapped in BEGIN/COMMIT, savepoints
included, as the real transaction is; with persistent connections and health checks (the
settings' default on PostgreSQL), the `SELECT 1` Django sends first in every request is
added, since it bypasses the recording. Everything else (timestamps, amounts, hashes) stays as
captured: same cost, and no constraint depends on it.
"""

import re
from dataclasses import dataclass, field

UUID_LITERAL = re.compile(
    r"(?<![0-9a-f])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})"
    r"(?![0-9a-f])"
)
INSERT_TABLE = re.compile(r'^\s*INSERT\s+INTO\s+"(\w+)"', re.IGNORECASE)
# Every INSERT of a statement: its own, or each part of the writes sent as one statement
# (`WITH w0 AS (INSERT INTO ...), ... INSERT INTO ...`, loyalty_engine.rows).
INSERT_TABLES = re.compile(r'(?:^|\bAS\s*\()\s*INSERT\s+INTO\s+"(\w+)"', re.IGNORECASE)
# The id first; Django also returns columns with a database default (db_default).
RETURNING_ID = re.compile(r'RETURNING\s+"(\w+)"\."id"(\s*,\s*"\w+"\."\w+")*\s*$', re.IGNORECASE)
# Ids numbered beforehand by the member lock (loyalty_engine.rows.reserve_columns).
RESERVED_ID = re.compile(r"nextval\('(?:\w+\.)?\"?(\w+?)_id_seq\"?'::regclass\) AS (reserved_\d+)")


@dataclass
class Statement:
    sql: str
    in_transaction: bool


@dataclass
class Capture:
    """What one request sent to the database, and the values to turn into variables."""

    statements: list[Statement]
    member_pk: int
    member_external_id: str
    unique_strings: dict[str, str] = field(default_factory=dict)
    new_ids: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Script:
    text: str
    statements: int
    transactions: int
    id_variables: int
    literal_ids_left: list[str]


def statements_record():
    """A context manager recording every statement Django sends on the default connection,
    with the literals bound in (as the server sees them) and whether an atomic block was
    open. Returns (manager, list it fills)."""
    from contextlib import contextmanager

    from django.db import connection

    recorded: list[Statement] = []

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        # The values bound in as literals, also for the statements whose values the
        # server binds (loyalty_engine.rows.statement_cursor), whose own text has $1, $2.
        text = connection.ops.compose_sql(sql, params) if params else sql
        recorded.append(Statement(sql=text, in_transaction=connection.in_atomic_block))
        return result

    @contextmanager
    def manager():
        with connection.execute_wrapper(wrapper):
            yield recorded

    return manager(), recorded


def table_max_ids(tables: list[str]) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        found = {}
        for table in tables:
            cursor.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"')
            found[table] = cursor.fetchone()[0]
        return found


def integer_id_tables() -> list[str]:
    """Tables of the public schema whose `id` column is an integer (identity or serial)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'id' AND data_type IN ('bigint', 'integer') ORDER BY table_name"
        )
        return [row[0] for row in cursor.fetchall()]


def new_ids_since(before: dict[str, int]) -> dict[str, list[int]]:
    from django.db import connection

    found = {}
    with connection.cursor() as cursor:
        for table, max_id in before.items():
            cursor.execute(f'SELECT id FROM "{table}" WHERE id > %s ORDER BY id', [max_id])
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                found[table] = ids
    return found


# Recorded ids become variables by replacing them as tokens, which is only safe for numbers
# that cannot be anything else in the request (a count, a LIMIT, an amount).
DISTINCTIVE_DIGITS = 9


def sequences_spread(cursor) -> None:
    """Move every bigint id sequence of the public schema to a range of its own, 10^11
    apart (`10^11 × n`, n counting the tables by name), so that the ids a request creates
    are distinctive. Takes a DB-API cursor (psycopg's or Django's)."""
    cursor.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'id' AND data_type = 'bigint' ORDER BY table_name"
    )
    tables = [row[0] for row in cursor.fetchall()]
    for index, table in enumerate(tables, start=1):
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [f'"{table}"'])
        sequence = cursor.fetchone()[0]
        if sequence:
            cursor.execute("SELECT setval(%s, %s)", [sequence, index * 10**11])


def _replace_token(text: str, value: int | str, replacement: str) -> str:
    return re.sub(rf"(?<![\w]){re.escape(str(value))}(?![\w])", replacement, text)


def script_build(capture: Capture, *, member_variable: str = "member") -> Script:
    """The pgbench script for one captured request. Variables the script expects from
    pgbench: `member_min` and `member_max` (-D), the range of member primary keys."""
    lines = [
        f"\\set {member_variable} random(:member_min, :member_max)",
        # Unique per transaction with the client id: random collisions are negligible
        # (about one in 10^12 per pair of transactions of the same client).
        "\\set n random(1, 899999999999)",
        # The last 12 hex digits of a UUID: decimal digits are hex digits too, and a
        # variable can only end a literal (`0000...:uu`), its name would run on otherwise.
        "\\set uu 100000000000 + :client_id * 10000000000 + random(0, 9999999999)",
    ]
    for value in [capture.member_pk, *(i for ids in capture.new_ids.values() for i in ids)]:
        if len(str(value)) < DISTINCTIVE_DIGITS:
            raise ValueError(
                f"id {value} is too short to be replaced safely: record on a member with a "
                "distinctive primary key, after sequences_spread()"
            )
    uuid_slots: dict[str, str] = {}
    id_variables: dict[int, str] = {}
    inserts_seen: dict[str, int] = {}
    literal_ids_left: list[str] = []
    in_transaction = False
    transactions = 0

    # Which single-row inserts gave which new id: the k-th INSERT into a table made its k-th
    # new row (one connection, no concurrent writer during the capture).
    inserts_per_table: dict[str, int] = {}
    for statement in capture.statements:
        for table in INSERT_TABLES.findall(statement.sql):
            inserts_per_table[table] = inserts_per_table.get(table, 0) + 1

    for index, statement in enumerate(capture.statements):
        sql = statement.sql.strip()
        if statement.in_transaction and not in_transaction:
            lines.append("BEGIN;")
            transactions += 1
        elif not statement.in_transaction and in_transaction:
            lines.append("COMMIT;")
        in_transaction = statement.in_transaction

        for value, variable in id_variables.items():
            sql = _replace_token(sql, value, f":{variable}")
        sql = _replace_token(sql, capture.member_pk, f":{member_variable}")
        sql = sql.replace(capture.member_external_id, f"bench-:{member_variable}")
        for original, prefix in capture.unique_strings.items():
            sql = sql.replace(original, f"{prefix}-:client_id-:n")
        for found in UUID_LITERAL.findall(sql):
            canonical = found.replace("-", "")
            if canonical not in uuid_slots:
                uuid_slots[canonical] = f"{len(uuid_slots) + 1:08x}"
            slot = uuid_slots[canonical]
            if "-" in found:
                sql = sql.replace(found, f"{slot}-0000-4000-8000-:uu")
            else:
                sql = sql.replace(found, f"{slot}000040008000:uu")

        gset = ""
        reserved = RESERVED_ID.findall(sql)
        for table, alias in reserved:
            ids = capture.new_ids.get(table, [])
            if len(ids) == 1:
                id_variables[ids[0]] = f"r{index}_{alias}"
        if reserved:
            gset = f" \\gset r{index}_"
        match = INSERT_TABLE.match(sql)
        if match and RETURNING_ID.search(sql):
            table = match.group(1)
            k = inserts_seen.get(table, 0)
            inserts_seen[table] = k + 1
            ids = capture.new_ids.get(table, [])
            if inserts_per_table.get(table) == len(ids):
                prefix = f"r{index}_"
                id_variables[ids[k]] = f"{prefix}id"
                gset = f" \\gset {prefix}"
        lines.append(f"{sql}{gset}" if gset else f"{sql};")
    if in_transaction:
        lines.append("COMMIT;")
    # A new row's id the script still names as it was recorded: every replay would name
    # the same row. (The rows a database function inserts are not named at all.)
    text = "\n".join(lines)
    for table, ids in capture.new_ids.items():
        literal_ids_left.extend(
            f"{table}.id={value}" for value in ids if _replace_token(text, value, "") != text
        )
    return Script(
        text="\n".join(lines) + "\n",
        statements=len(capture.statements),
        transactions=transactions,
        id_variables=len(id_variables),
        literal_ids_left=literal_ids_left,
    )


def request_capture(
    *,
    path: str,
    body: dict,
    headers: dict[str, str],
    member_pk: int,
    member_external_id: str,
    unique_strings: dict[str, str],
    warm_up: bool = False,
) -> tuple[int, Capture]:
    """POST one JSON request through the whole Django stack in-process and record its SQL.
    Returns the response status and the capture.

    `warm_up`: the same request, its unique strings prefixed with `warm-`, is sent first
    and not recorded, so that what is recorded is what a serving process sends on every
    request, without its first request's reads (the API key, cached about a second; the
    program's language; the tables' sequences, read once per process) or the health check
    of a connection idle for a while."""
    import json

    from django.conf import settings as django_settings
    from django.db import connection
    from django.test import Client

    if warm_up:

        def warm(values: dict) -> dict:
            return {k: f"warm-{v}" if v in unique_strings else v for k, v in values.items()}

        answer = Client(headers=warm(headers)).post(
            path, data=json.dumps(warm(body)), content_type="application/json"
        )
        if answer.status_code != 201:
            raise RuntimeError(f"the warm-up request answered {answer.status_code}")
    tables = integer_id_tables()
    before = table_max_ids(tables)
    client = Client(headers=headers)
    manager, recorded = statements_record()
    with manager:
        response = client.post(path, data=json.dumps(body), content_type="application/json")
    statements = list(recorded)
    database = connection.settings_dict
    # A persistent connection is checked with `SELECT 1` before its first query of a
    # request, sent on the raw connection, past the execute wrappers; not when it served
    # a request less than DATABASE_HEALTH_CHECK_IDLE_SECONDS ago, as under load
    # (loyalty_engine/postgresql/base.py), which the warm-up request stands for.
    checked = database.get("CONN_HEALTH_CHECKS") and database.get("CONN_MAX_AGE")
    if checked and (not warm_up or django_settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS <= 0):
        statements.insert(0, Statement(sql="SELECT 1", in_transaction=False))
    return response.status_code, Capture(
        statements=statements,
        member_pk=member_pk,
        member_external_id=member_external_id,
        unique_strings=unique_strings,
        new_ids=new_ids_since(before),
    )
