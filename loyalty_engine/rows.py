"""Model instances from hand-written SELECTs on the hot paths (issue 18).

The ORM compiles a query on every call: for a purchase's first read, or the member lookup
of every member request, compiling cost more CPU than the database took to answer. Here a
query's text is built once per database vendor from the models' metadata, and its rows
become instances through the same converters and `Model.from_db` the ORM uses, so they
come out as a queryset would make them (SQLite's decimals and booleans, JSON, ...)."""

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import DEFERRED
from django.db.models.fields import AutoFieldMixin


@dataclass(frozen=True)
class Columns:
    """A model's concrete columns at `start` in a row, as `alias.column, ...`."""

    model: type
    alias: str
    attnames: list[str]
    converters: list[tuple]
    start: int
    # (position, converters) of the columns that have any: on PostgreSQL none of the
    # member's or the program's 55 columns has one (issue 18).
    converting: tuple = ()

    @classmethod
    def of(cls, model, alias: str, start: int = 0) -> "Columns":
        fields = model._meta.concrete_fields
        converters = [_converters(field, alias) for field in fields]
        return cls(
            model=model,
            alias=alias,
            attnames=[field.attname for field in fields],
            converters=converters,
            start=start,
            converting=tuple(
                (position, column_converters)
                for position, column_converters in enumerate(converters)
                if column_converters[1]
            ),
        )

    @property
    def end(self) -> int:
        return self.start + len(self.attnames)

    @property
    def sql(self) -> str:
        quote = connection.ops.quote_name
        return ", ".join(
            f"{self.alias}.{quote(field.column)}" for field in self.model._meta.concrete_fields
        )

    def instance(self, row):
        values = row[self.start : self.end]
        if len(values) != len(self.attnames):
            raise ValueError(f"{len(values)} values for {len(self.attnames)} columns")
        if self.converting:
            values = list(values)
            for position, converters in self.converting:
                values[position] = _convert(values[position], converters)
        return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, values)


def _converters(field, alias: str) -> tuple:
    """The ORM's converters of one column (the backend's, then the field's)."""
    column = field.get_col(alias)
    return column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)


def _convert(value, converters: tuple):
    column, functions = converters
    for function in functions:
        value = function(value, column, connection)
    return value


def value_converter(model, attname: str, alias: str):
    """The function that makes a database value of `model.attname` what the ORM makes it
    (SQLite's datetimes arrive as text)."""
    converters = _converters(model._meta.get_field(attname), alias)
    return lambda value: _convert(value, converters)


def rows_fetch(sql: str, params: list) -> list[tuple]:
    """Every row of a hand-written SELECT."""
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def statement_cursor():
    """A cursor for this module's statements. On PostgreSQL it binds the parameters on
    the server (psycopg's `Cursor`, not Django's client-side `ClientCursor`): no quoting of
    every value into the text, and a statement run five times on a connection is
    prepared (psycopg's `prepare_threshold`, which Django turns off unless the settings
    name one: DATABASE_PREPARE_THRESHOLD), so PostgreSQL stops parsing and planning
    it. It is Django's cursor wrapper all the same: counted, logged, and wrapped by
    `connection.execute_wrapper`.

    One psycopg cursor serves every statement of a connection: a new one per statement
    cost a third of the statement's CPU (the cursor, and the adapters it looks up again
    for every parameter's type; issue 18)."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a lookup of its own
    if db.vendor != "postgresql":
        return db.cursor()
    # As connection.cursor() does: a kept connection is checked before a request's first
    # statement (loyalty_engine/postgresql says when).
    db.close_if_health_check_failed()
    db.ensure_connection()
    return db._prepare_cursor(_kept_cursors(db)[0])


def _kept_cursors(db=None, count: int = 1) -> list["_KeptCursor"]:
    """At least `count` cursors of the connection, each keeping its own results; the
    first is the one every statement uses."""
    db = db or connections[DEFAULT_DB_ALIAS]
    raw = db.connection
    kept = getattr(db, "_statement_cursors", None)
    if kept is None or kept[0].connection is not raw:
        kept = db._statement_cursors = [_KeptCursor(raw)]
    while len(kept) < count:
        kept.append(_KeptCursor(raw))
    return kept


class _KeptCursor(psycopg.Cursor):
    """Closing it (at the end of a `with statement_cursor()`) leaves it open for the
    connection's next statement, which replaces its results; it goes with its
    connection."""

    def close(self) -> None:
        pass


def row_fetch(sql: str, params: list):
    """The first row of a hand-written SELECT, or None."""
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def rows_fetch_together(statements: list[tuple[str, list]]) -> list[list[tuple]]:
    """Every row of each hand-written SELECT, run one after the other. Inside
    `pipelined()` they are sent together and answered in one round trip (issue 18: a
    redemption's member lock and its lots); PostgreSQL still runs each only when the one
    before it has finished, the second with a snapshot taken after the first's lock was
    granted. A failure is raised as DeferredWriteFailed, as a deferred write's."""
    state = _pipeline()
    if state is None:
        return [rows_fetch(sql, params) for sql, params in statements]
    cursors = _kept_cursors(count=len(statements))[: len(statements)]
    with deferrable():
        for cursor, (sql, params) in zip(cursors, statements, strict=True):
            connection._prepare_cursor(cursor).execute(sql, params)
    state.pending_sync()
    return [cursor.fetchall() for cursor in cursors]


class VendorCache:
    """One value per database vendor, built on first use (the SQL text and the converters
    depend on the backend)."""

    def __init__(self, build):
        self._build = build
        self._values: dict[str, object] = {}

    def get(self):
        vendor = connections[DEFAULT_DB_ALIAS].vendor
        value = self._values.get(vendor)
        if value is None:
            value = self._values[vendor] = self._build()
        return value


# How a plain value of a field is prepared for the database, without the ORM's chain of
# get_db_prep_save, get_db_prep_value, get_prep_value, to_python and the backend's adapt_*
# (issue 18: about 60 values an earn, each 5 to 8 calls and a lookup of the connection).
_AS_IS = "as is"  # the value itself
_WRAPPED = "wrapped"  # the backend's integer type around it (psycopg 3: Int4, Int8, ...)
_AWARE = "aware"  # the value itself when it is a datetime with its time zone


def _same(cls, base, *names) -> bool:
    """`cls` prepares values as `base` does: it overrides none of these methods."""
    return all(getattr(cls, name) is getattr(base, name) for name in names)


_PREP_CHAIN = ("get_db_prep_save", "get_db_prep_value", "get_prep_value", "to_python")


def _fast_way(field, ops) -> tuple[type | None, str | None]:
    """(the plain type, how it is prepared) for one field on one backend, or (None, None)
    where only the field's own get_db_prep_save will do. Only classes that override
    nothing of the chain qualify, so a custom field keeps its own preparing."""
    cls = type(field)
    if isinstance(field, models.ForeignKey):
        target = field.target_field
        if _same(cls, models.ForeignKey, "get_db_prep_save") and isinstance(target, AutoFieldMixin):
            field, cls = target, type(target)
        else:
            return None, None
    if isinstance(field, AutoFieldMixin):
        # No adapt_integerfield_value here: the ORM sends a primary key as the int it is.
        base = models.BigAutoField if isinstance(field, models.BigAutoField) else models.AutoField
        if _same(cls, base, *_PREP_CHAIN) and _same(
            type(ops), BaseDatabaseOperations, "validate_autopk_value"
        ):
            return int, _AS_IS
        return None, None
    if isinstance(field, models.IntegerField) and _same(
        cls, models.IntegerField, "get_db_prep_save", "get_db_prep_value", "get_prep_value"
    ):
        adapt = type(ops).adapt_integerfield_value
        if adapt is BaseDatabaseOperations.adapt_integerfield_value:
            return int, _AS_IS
        if hasattr(ops, "integerfield_type_map") and connection.vendor == "postgresql":
            return int, _WRAPPED
        return None, None
    for base in (models.CharField, models.TextField):
        if isinstance(field, base) and _same(cls, base, *_PREP_CHAIN):
            return str, _AS_IS
    if isinstance(field, models.BooleanField) and _same(cls, models.BooleanField, *_PREP_CHAIN):
        return bool, _AS_IS
    if (
        isinstance(field, models.DateTimeField)
        and _same(cls, models.DateTimeField, *_PREP_CHAIN)
        and connection.vendor == "postgresql"  # psycopg takes an aware datetime as it is
    ):
        return datetime, _AWARE
    return None, None


class Preparer:
    """Prepares a row of values for `fields` as each field's `get_db_prep_save` would: the
    plain values the hot paths write (ints, strings, booleans and, on PostgreSQL, aware
    datetimes) without the ORM's chain of calls, every other value through the field
    itself. Built once per database vendor; tests/test_rows.py proves it equal to the
    ORM's preparing for every field of every model."""

    def __init__(self, fields):
        ops = connection.ops
        self.steps = []
        for field in fields:
            plain, way = _fast_way(field, ops)
            wrap = ops.integerfield_type_map[field.get_internal_type()] if way == _WRAPPED else None
            self.steps.append((field, plain, way, wrap))

    def __call__(self, values, db) -> list:
        params = []
        append = params.append
        for (field, plain, way, wrap), value in zip(self.steps, values, strict=True):
            if value is None and way is not None:
                append(None)
            elif type(value) is not plain:
                append(field.get_db_prep_save(value, db))
            elif way is _AS_IS or (way is _AWARE and value.tzinfo is not None):
                append(value)
            elif way is _WRAPPED:
                append(wrap(value))
            else:
                append(field.get_db_prep_save(value, db))
        return params


class RowUpdate:
    """`UPDATE <table> SET <columns> WHERE <pk> = %s` for one model and a fixed set of
    fields, its text built once per vendor and its values adapted by each field's
    `get_db_prep_save`, as QuerySet.update() does (and, like it, with no save signals)."""

    def __init__(self, model, attnames):
        self.model = model
        self.fields = [model._meta.get_field(attname) for attname in attnames]
        self._sql = VendorCache(self._build)
        self._prepare = VendorCache(lambda: Preparer(self.fields))

    def _build(self) -> str:
        quote = connection.ops.quote_name
        sets = ", ".join(f"{quote(field.column)} = %s" for field in self.fields)
        table = quote(self.model._meta.db_table)
        return f"UPDATE {table} SET {sets} WHERE {quote(self.model._meta.pk.column)} = %s"

    def run(self, pk, values) -> None:
        params = self._prepare.get()(values, connections[DEFAULT_DB_ALIAS])
        deferred_run(self.model, self._sql.get(), [*params, pk])


class RowInsert:
    """`Model.objects.create(**values)` for a model no save signal listens to, with an
    `INSERT` built once per vendor: each field's value is prepared as the ORM prepares it
    (`pre_save`, then `get_db_prep_save`). A value the database has to compute (a
    `db_default`, an expression) goes through the ORM instead.

    The primary key the database numbers comes back by `RETURNING`, unless the instance
    already has one (or one was reserved: `reserve_columns`) or the caller needs none (`pk=False`):
    then nothing is read back, and inside `pipelined()` the insert is sent without
    waiting for its answer."""

    def __init__(self, model):
        meta = model._meta
        self.model = model
        self.auto = meta.auto_field
        self.fields = [
            field
            for field in meta.local_concrete_fields
            if field is not meta.auto_field and not getattr(field, "generated", False)
        ]
        self._sql = VendorCache(self._build)
        self._prepare = VendorCache(lambda: Preparer(self.fields))
        # For `build`: each concrete field, its name, its attname, and whether it is a
        # foreign key or one-to-one to a primary key (given as an instance, its pk goes
        # in the row).
        self._construct = [
            (
                field,
                field.name,
                field.attname,
                (field.many_to_one or field.one_to_one)
                and len(field.related_fields) == 1
                and field.related_fields[0][1].primary_key,
            )
            for field in meta.concrete_fields
        ]
        self._names = {name for _, name, _, _ in self._construct} | {
            attname for _, _, attname, _ in self._construct
        }

    def build(self, **values):
        """`Model(**values)`, made through the ORM's positional construction, as a row
        read from the database is (issue 18: 31 Python calls fewer an earn, for five
        rows; no CPU difference the paired measurement could see). A related instance is
        cached on it, as the keyword construction's descriptor does; anything else than
        field values (a property, a related instance of another model) goes to the
        keyword construction itself. tests/test_rows.py proves the two equal."""
        if not values.keys() <= self._names:
            return self.model(**values)
        args, related = [], []
        for field, name, attname, by_pk in self._construct:
            if by_pk and name in values:
                obj = values[name]
                if attname in values or (
                    obj is not None and not isinstance(obj, field.remote_field.model)
                ):
                    return self.model(**values)
                related.append((field, obj))
                args.append(None if obj is None else obj.pk)
            elif attname in values:
                args.append(values[attname])
            elif name in values:  # a name that is not its attname: a foreign key not by pk
                return self.model(**values)
            elif getattr(field, "generated", False):
                args.append(DEFERRED)
            else:
                args.append(field.get_default())
        instance = self.model(*args)
        for field, obj in related:
            field.set_cached_value(instance, obj)
            if obj is not None:  # as the descriptor does, with Django's default router
                if instance._state.db is None:
                    instance._state.db = obj._state.db or DEFAULT_DB_ALIAS
                if obj._state.db is None:
                    obj._state.db = instance._state.db
                if field.one_to_one:  # the other side knows its one row: entry.pointlot
                    field.remote_field.set_cached_value(obj, instance)
        return instance

    def _build(self) -> dict:
        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        columns = ", ".join(quote(field.column) for field in self.fields)
        values = ", ".join(["%s"] * len(self.fields))
        statements = {
            "plain": f"INSERT INTO {table} ({columns}) VALUES ({values})",
            "row": f"({values})",
        }
        if self.auto:  # a model without one is only ever inserted plain (`insert`)
            pk = quote(self.auto.column)
            statements["returning"] = f"{statements['plain']} RETURNING {table}.{pk}"
            statements["with_pk"] = f"INSERT INTO {table} ({columns}, {pk}) VALUES ({values}, %s)"
        return statements

    def create(self, *, pk: bool = True, **values):
        return self.insert(self.build(**values), pk=pk)

    def insert(self, instance, *, pk: bool = True):
        """Insert an unsaved instance. With `pk` (the default) it gets its primary key: a
        reserved one (`reserve_columns`) if there is one, else the database's."""
        raw = [field.pre_save(instance, True) for field in self.fields]
        if any(hasattr(value, "resolve_expression") for value in raw):
            instance.save(force_insert=True)
            return instance
        params = self._prepare.get()(raw, connections[DEFAULT_DB_ALIAS])
        statements = self._sql.get()
        if self.auto and instance.pk is None and pk:
            instance.pk = reserved_id(self.model)
        if not self.auto or instance.pk is None and not pk:
            deferred_run(self.model, statements["plain"], params)
        elif instance.pk is not None:
            deferred_run(self.model, statements["with_pk"], [*params, instance.pk])
        else:
            with statement_cursor() as cursor:
                cursor.execute(statements["returning"], params)
                instance.pk = cursor.fetchone()[0]
        instance._state.adding = False
        instance._state.db = DEFAULT_DB_ALIAS
        return instance

    def insert_all(self, instances: list) -> None:
        """Insert unsaved instances in one statement, as `bulk_create` would, without
        reading their primary keys back (they stay None)."""
        if not instances:
            return
        raws = [[field.pre_save(instance, True) for field in self.fields] for instance in instances]
        if any(hasattr(value, "resolve_expression") for raw in raws for value in raw):
            self.model.objects.bulk_create(instances)
            return
        prepare, db = self._prepare.get(), connections[DEFAULT_DB_ALIAS]
        params = [param for raw in raws for param in prepare(raw, db)]
        statements = self._sql.get()
        sql = statements["plain"] + f", {statements['row']}" * (len(instances) - 1)
        deferred_run(self.model, sql, params)
        for instance in instances:
            instance._state.adding = False
            instance._state.db = DEFAULT_DB_ALIAS


# Pipelining (issue 18). A write's statements are each a round trip: on a loaded two-core
# machine the waits for PostgreSQL's answers were half of an earn's time. Inside
# `pipelined()` (PostgreSQL), the statements whose answer nobody reads (an insert with its
# primary key reserved, or none needed; an update by primary key) are sent without
# waiting: psycopg's pipeline mode. Every other statement waits as it always did: the
# pending ones are synced first, then it runs and is synced at once, so its rowcount, its
# rows and its errors are where the ORM expects them. A pending statement's error (the
# unique key of an idempotent replay) surfaces at the next sync as DeferredWriteFailed,
# which no `except IntegrityError` around a later statement can mistake for its own;
# `loyalty_engine.db.durable_write` turns it back into the database error.
#
# The writes nobody waits for are also held back (`deferred_run`) until another statement
# is sent, the block ends, or a second write to the same table comes: then they go as ONE
# statement, `WITH w0 AS (INSERT ...), w1 AS (UPDATE ...) INSERT ...`. An earn's entry,
# lot, award, balance, purchase and event were six statements, each through Django's
# cursor wrapper and psycopg's adapting and PostgreSQL's parse, bind and execute; now
# they are one (issue 18). PostgreSQL runs every part of such a statement once and to
# completion, all on one snapshot, so no part sees another's rows: hence one write per
# table in a statement (an UPDATE of a row inserted just before must see it), and the
# foreign keys between them are checked at the commit, as Django declares them
# (DEFERRABLE INITIALLY DEFERRED). A failure of any part fails the whole statement, the
# transaction with it, exactly as a failure of one of the six did.
#
# `pipelined(commit=True)` ends the transaction too, when its block is the outermost one:
# the pending statements and the COMMIT go in the same message and are answered together.
# Django's commit that follows finds the transaction ended and sends nothing. Without it a
# write waited three times after its last statement (the pending statements' sync, the
# pipeline's own closing sync, the COMMIT), all with the member's row locked.


class DeferredWriteFailed(Exception):
    """A statement sent without waiting failed; `error` is Django's database error."""

    def __init__(self, error: DatabaseError):
        super().__init__(str(error))
        self.error = error


_local = threading.local()


class _Pipeline:
    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.pending = 0
        self.deferring = False
        self.reserved: dict[type, list] = {}
        self.executed = False
        self.held: list[tuple[str, str, list]] = []

    def hold(self, table: str, sql: str, params: list) -> None:
        """Keep a write nobody waits for until the next statement, the block's end or
        a second write to the same table, whichever comes first (`deferred_run`)."""
        if any(held_table == table for held_table, _, _ in self.held):
            self.send_held()
        self.held.append((table, sql, params))

    def send_held(self) -> None:
        """Send the held writes without waiting: one as it is, several as one statement,
        each but the last in a WITH of its own."""
        held, self.held = self.held, []
        if not held:
            return
        if len(held) == 1:
            _, sql, params = held[0]
        else:
            *first, (_, last, _) = held
            ahead = ", ".join(f"w{n} AS ({text})" for n, (_, text, _) in enumerate(first))
            sql = f"WITH {ahead} {last}"
            params = [param for _, _, held_params in held for param in held_params]
        with deferrable(), statement_cursor() as cursor:
            cursor.execute(sql, params)

    def execute(self, execute, sql, params, many, context):
        self.executed = True
        if self.held:
            self.send_held()
        if self.deferring:
            self.pending += 1
            return execute(sql, params, many, context)
        self.pending_sync()
        result = execute(sql, params, many, context)
        with connection.wrap_database_errors:
            self.pipeline.sync()
        return result

    def pending_sync(self) -> None:
        if self.held:
            self.send_held()
        if not self.pending:
            return
        self.pending = 0
        try:
            with connection.wrap_database_errors:
                self.pipeline.sync()
        except DatabaseError as error:
            raise DeferredWriteFailed(error) from error


def deferred_run(model, sql: str, params: list) -> None:
    """Run an INSERT or UPDATE of `model` whose answer nobody reads. Inside `pipelined()`
    it is held and sent with the writes that follow it, in one statement (see above);
    elsewhere it runs at once."""
    state = _pipeline()
    if state is None:
        with statement_cursor() as cursor:
            cursor.execute(sql, params)
    else:
        state.hold(model._meta.db_table, sql, params)


def _pipeline() -> _Pipeline | None:
    return getattr(_local, "pipeline", None)


@contextmanager
def pipelined(*, commit: bool = False):
    """Send the statements nobody waits for without waiting (PostgreSQL; elsewhere, and
    when already pipelined, nothing changes). Use inside a transaction: the pending
    statements are synced when the block ends, before the commit.

    `commit=True`: the block is the last thing its `transaction.atomic()` does. If that
    transaction is the outermost, the COMMIT is sent with the pending statements and both
    are answered in one round trip. Their failure (the COMMIT's included, such as a
    deferred foreign key) is raised as the database error, as Django's own commit would
    raise it, and the atomic block then rolls back what is left of the transaction."""
    if connection.vendor != "postgresql" or _pipeline() is not None:
        yield
        return
    connection.ensure_connection()
    # Inside a test's transaction the block is a savepoint: it is released, not committed.
    outermost = commit and len(connection.atomic_blocks) == 1 and not connection.savepoint_ids
    try:
        with connection.wrap_database_errors, connection.connection.pipeline() as pipeline:
            _local.pipeline = state = _Pipeline(pipeline)
            with connection.execute_wrapper(state.execute):
                yield
            state.send_held()
            if outermost and state.executed and not connection.needs_rollback:
                # Unlogged, as Django's own COMMIT; the pipeline's closing sync sends it.
                _kept_cursors()[0].execute("COMMIT", prepare=False)
            else:
                state.pending_sync()
    finally:
        _local.pipeline = None


@contextmanager
def deferrable():
    """The statements run in this block may be sent without waiting for their answer."""
    state = _pipeline()
    if state is None:
        yield
        return
    state.deferring = True
    try:
        yield
    finally:
        state.deferring = False


def reserve_columns(models) -> tuple[str, list]:
    """Inside `pipelined()`: SELECT columns (`, nextval(...)` each, and their params) that
    number one row of each model beforehand, to add to a query that returns one row; its
    values go to `reserved_add`. Their inserts then need not wait for a `RETURNING`.
    Elsewhere ("", []): the database numbers the rows as they are inserted."""
    if not models or _pipeline() is None:
        return "", []
    sequences = _sequences.get()
    names = [sequences[model._meta.db_table] for model in models]
    columns = "".join(f", nextval(%s::regclass) AS reserved_{n}" for n in range(len(names)))
    return columns, names


def reserved_add(models, values) -> None:
    state = _pipeline()
    for model, value in zip(models, values, strict=True):
        state.reserved.setdefault(model, []).append(value)


def reserved_id(model):
    """A primary key reserved for one row of `model` in this pipelined block, or None."""
    state = _pipeline()
    if state is None:
        return None
    ids = state.reserved.get(model)
    return ids.pop() if ids else None


def _sequences_build() -> dict[str, str]:
    """Each table's identity sequence (PostgreSQL), read once per process."""
    from django.apps import apps

    numbered = [
        (model._meta.db_table, model._meta.auto_field.column)
        for model in apps.get_models()
        if model._meta.auto_field is not None and model._meta.managed
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t, pg_get_serial_sequence(quote_ident(t), c) "
            "FROM unnest(%s::text[], %s::text[]) AS n (t, c)",
            [[table for table, _ in numbered], [column for _, column in numbered]],
        )
        return {table: sequence for table, sequence in cursor.fetchall() if sequence}


_sequences = VendorCache(_sequences_build)
