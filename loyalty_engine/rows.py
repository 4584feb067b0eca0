"""Model instances from hand-written SELECTs on the hot paths (issue 18).

The ORM compiles a query on every call: for a purchase's first read, or the member lookup
of every member request, compiling cost more CPU than the database took to answer. Here a
query's text is built once per database vendor from the models' metadata, and its rows
become instances through the same converters and `Model.from_db` the ORM uses, so they
come out as a queryset would make them (SQLite's decimals and booleans, JSON, ...)."""

from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True)
class Columns:
    """A model's concrete columns at `start` in a row, as `alias.column, ...`."""

    model: type
    alias: str
    attnames: list[str]
    converters: list[tuple]
    start: int

    @classmethod
    def of(cls, model, alias: str, start: int = 0) -> "Columns":
        fields = model._meta.concrete_fields
        converters = []
        for field in fields:
            column = field.get_col(alias)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(
                connection
            )
            converters.append((column, functions))
        return cls(
            model=model,
            alias=alias,
            attnames=[field.attname for field in fields],
            converters=converters,
            start=start,
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
        values = list(row[self.start : self.end])
        for index, (column, functions) in enumerate(self.converters):
            for function in functions:
                values[index] = function(values[index], column, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


def row_fetch(sql: str, params: list):
    """The first row of a hand-written SELECT, or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


class VendorCache:
    """One value per database vendor, built on first use (the SQL text and the converters
    depend on the backend)."""

    def __init__(self, build):
        self._build = build
        self._values: dict[str, object] = {}

    def get(self):
        value = self._values.get(connection.vendor)
        if value is None:
            value = self._values[connection.vendor] = self._build()
        return value


class RowUpdate:
    """`UPDATE <table> SET <columns> WHERE <pk> = %s` for one model and a fixed set of
    fields, its text built once per vendor and its values adapted by each field's
    `get_db_prep_save`, as QuerySet.update() does (and, like it, with no save signals)."""

    def __init__(self, model, attnames):
        self.model = model
        self.fields = [model._meta.get_field(attname) for attname in attnames]
        self._sql = VendorCache(self._build)

    def _build(self) -> str:
        quote = connection.ops.quote_name
        sets = ", ".join(f"{quote(field.column)} = %s" for field in self.fields)
        table = quote(self.model._meta.db_table)
        return f"UPDATE {table} SET {sets} WHERE {quote(self.model._meta.pk.column)} = %s"

    def run(self, pk, values) -> None:
        params = [
            field.get_db_prep_save(value, connection)
            for field, value in zip(self.fields, values, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(self._sql.get(), [*params, pk])


class RowInsert:
    """`Model.objects.create(**values)` for a model no save signal listens to, with an
    `INSERT ... RETURNING <pk>` built once per vendor: each field's value is prepared as
    the ORM prepares it (`pre_save`, then `get_db_prep_save`). A value the database has to
    compute (a `db_default`, an expression) goes through the ORM instead."""

    def __init__(self, model):
        meta = model._meta
        self.model = model
        self.fields = [
            field
            for field in meta.local_concrete_fields
            if field is not meta.auto_field and not getattr(field, "generated", False)
        ]
        self._sql = VendorCache(self._build)

    def _build(self) -> str:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in self.fields)
        values = ", ".join(["%s"] * len(self.fields))
        table = quote(self.model._meta.db_table)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({values})"
        auto = self.model._meta.auto_field
        # A primary key the database numbers comes back (written as the ORM writes it);
        # one set beforehand (a UUID) stays as the instance has it.
        return f"{sql} RETURNING {table}.{quote(auto.column)}" if auto else sql

    def create(self, **values):
        return self.insert(self.model(**values))

    def insert(self, instance):
        """Insert an unsaved instance; it gets its primary key."""
        raw = [field.pre_save(instance, True) for field in self.fields]
        if any(hasattr(value, "resolve_expression") for value in raw):
            instance.save(force_insert=True)
            return instance
        params = [
            field.get_db_prep_save(value, connection)
            for field, value in zip(self.fields, raw, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(self._sql.get(), params)
            if self.model._meta.auto_field:
                instance.pk = cursor.fetchone()[0]
        instance._state.adding = False
        instance._state.db = connection.alias
        return instance
