"""CSV import of members and historical purchases, for a shop moving from another system.

An import reads its file three times, streaming, a chunk of rows at a time, so a file of
any length runs in constant memory (a set of the file's keys aside, to find duplicates):
1. count the rows, for the progress;
2. check every row, on its own and against the database; any row in error rejects the
   whole file, the report lists each such row (line, field, message) and nothing is
   written;
3. import the rows, a chunk (CHUNK_ROWS) per transaction, through the bulk path
   (rewards.services.bulk_import): it writes what `member_enroll` for members (entry tier,
   sign-up bonus) and `purchase_record` for purchases (earn rules, tiers, milestones, lots
   and their expiry from the purchase's own date) would have written row by row, in file
   order, so sort purchases by date for the history to replay as it happened.
Rows already imported (members by external id, purchases by shop and order id) are
skipped, so importing the same file twice changes nothing, and an import stopped half-way
(at most one chunk is lost, never half of one) is finished by running it again.

On PostgreSQL the import keeps the planner's statistics of the tables it writes up to date
(ANALYZE before it checks, each time the table has doubled since, and at the end), because
every chunk looks up its members and orders by key in those same tables; see
`TableStatistics`.
"""

import hashlib
import io
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from loyalty_engine.db import durable_write
from members.models import Member, Shop
from rewards.models import (
    CsvImport,
    EarnAward,
    LedgerEntry,
    LotMovement,
    MemberTier,
    MilestoneAward,
    PointLot,
    Purchase,
    TierChange,
)
from rewards.selectors import program_get
from rewards.services.bulk_import import (
    BulkImportResult,
    members_bulk_enroll,
    purchases_bulk_record,
)
from rewards.services.import_rows import (
    HeaderError,
    MemberRow,
    PurchaseRow,
    RowError,
    member_row_parse,
    purchase_row_parse,
    rows_read,
)

logger = logging.getLogger(__name__)

CHUNK_ROWS = 1000
ERRORS_KEPT = 500
# Rows an import writes before the statistics are refreshed, at the least (see
# TableStatistics): below this, the planner's guess from the table's size does as well.
STATISTICS_MIN_ROWS = 10_000

Progress = Callable[[str, int, int], None]


def _chunks(iterable) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, CHUNK_ROWS)):
        yield chunk


@durable_write
def csv_import_create(
    *,
    kind: str,
    file_name: str,
    content: bytes | None = None,
    staff_user: AbstractBaseUser | None = None,
    run_in_background: bool = True,
) -> CsvImport:
    """Store an import to run. With `run_in_background`, a Celery task runs it once this
    transaction commits (inline where Celery runs eagerly, as in development)."""
    csv_import = CsvImport.objects.create(
        kind=kind,
        file_name=file_name[:255],
        content=content,
        created_by=staff_user,
        created_at=timezone.now(),
    )
    if run_in_background:
        from rewards.tasks import csv_import_run_task

        transaction.on_commit(lambda: csv_import_run_task.delay(csv_import.pk))
    return csv_import


def _update(csv_import: CsvImport, **fields) -> None:
    for name, value in fields.items():
        setattr(csv_import, name, value)
    CsvImport.objects.filter(pk=csv_import.pk).update(**fields)


def stored_content_opener(csv_import: CsvImport) -> Callable[[], TextIO]:
    content = bytes(
        CsvImport.objects.filter(pk=csv_import.pk).values_list("content", flat=True).get()
    )
    return lambda: io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")


def csv_import_run(
    *,
    csv_import: CsvImport,
    open_file: Callable[[], TextIO] | None = None,
    on_progress: Progress | None = None,
    deadline: float | None = None,
) -> CsvImport:
    """Check, then import, the file of `csv_import` (see the module's docstring). The
    import's row is updated as it goes, so the admin shows its progress. `open_file`
    opens the file anew for each pass (default: the stored upload). Past `deadline` (a
    time.monotonic() value) the import stops after its current chunk and is returned still
    APPLYING; running it again goes on where it stopped. Runs outside any transaction: each
    chunk of rows is one. A finished import is returned as it is."""
    if csv_import.is_finished:
        return csv_import
    open_file = open_file or stored_content_opener(csv_import)
    progress = _progress_reporter(csv_import, on_progress)
    try:
        if csv_import.status != CsvImport.Status.APPLYING:  # else every row was checked
            if not _checked(csv_import, open_file, progress):
                return csv_import
        with open_file() as stream, _commits_unflushed():
            finished = _apply(csv_import, stream, progress, deadline=deadline)
        if not finished:
            return csv_import  # still APPLYING: running it again goes on
    except HeaderError as error:
        _update(
            csv_import,
            status=CsvImport.Status.REJECTED,
            errors=[e.as_dict() for e in error.errors],
            error_count=len(error.errors),
            finished_at=timezone.now(),
        )
        return csv_import
    except Exception as error:
        logger.exception("CSV import %s failed", csv_import.pk)
        _update(
            csv_import,
            status=CsvImport.Status.FAILED,
            failure=f"{type(error).__name__}: {error}. Rows imported so far stay; "
            "running the same file again finishes the import.",
            finished_at=timezone.now(),
        )
        raise
    _update(csv_import, status=CsvImport.Status.SUCCEEDED, finished_at=timezone.now())
    return csv_import


def _checked(csv_import: CsvImport, open_file, progress: Progress) -> bool:
    """Count and check every row; True if the import may go on, False if rejected."""
    _update(csv_import, status=CsvImport.Status.VALIDATING, started_at=timezone.now())
    with open_file() as stream:
        total = sum(1 for _ in rows_read(stream, kind=csv_import.kind))
    _update(csv_import, rows_total=total)
    TableStatistics(csv_import.kind).refresh()
    with open_file() as stream:
        errors, error_count = _check(csv_import, stream, progress)
    if error_count:
        _update(
            csv_import,
            status=CsvImport.Status.REJECTED,
            errors=[error.as_dict() for error in errors],
            error_count=error_count,
            finished_at=timezone.now(),
        )
        return False
    _update(csv_import, status=CsvImport.Status.APPLYING)
    return True


def _progress_reporter(csv_import: CsvImport, on_progress: Progress | None) -> Progress:
    def report(phase: str, done: int, total: int) -> None:
        field = "rows_checked" if phase == "check" else "rows_done"
        _update(csv_import, **{field: done})
        if on_progress:
            on_progress(phase, done, total)

    return report


class TableStatistics:
    """The planner's statistics of the tables an import writes, kept up to date as it goes.

    Every chunk looks up its members by external id and its orders by (shop, order id) in
    the tables the import is filling. PostgreSQL plans those lookups from statistics that
    autovacuum refreshes only after a delay, and not at all where an operator has turned
    it off for a bulk load. Planned for an empty or unanalyzed table, the order lookup
    became a scan of every purchase of the shop, 2.8 s per chunk at a million purchases,
    instead of probing the unique index for the chunk's keys. So the import runs ANALYZE
    (a fixed-size sample of each table: 1.1 to 1.3 s for all nine at ten million
    purchases) before it checks, each time it has written as many rows as the main table
    held at the last refresh (so a few times per import, however long), and at the end,
    for the nightly jobs that follow.
    https://www.postgresql.org/docs/current/populate.html#POPULATE-ANALYZE

    On SQLite this does nothing."""

    MEMBER_TABLES = (Member, MemberTier, PointLot, LedgerEntry, EarnAward)
    PURCHASE_TABLES = (
        Purchase,
        Member,
        MemberTier,
        TierChange,
        LedgerEntry,
        PointLot,
        LotMovement,
        EarnAward,
        MilestoneAward,
    )

    def __init__(self, kind: str):
        self.enabled = connection.vendor == "postgresql"
        models = self.MEMBER_TABLES if kind == CsvImport.Kind.MEMBERS else self.PURCHASE_TABLES
        self.tables = [model._meta.db_table for model in models]
        self.written = 0
        self.due_at = STATISTICS_MIN_ROWS

    def refresh(self) -> None:
        if not self.enabled:
            return
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(quote(table) for table in self.tables)}")
            # The main table's live rows as ANALYZE just counted them.
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [self.tables[0]]
            )
            rows = int(cursor.fetchone()[0])
        self.written = 0
        self.due_at = max(STATISTICS_MIN_ROWS, rows)

    def rows_written(self, count: int) -> None:
        self.written += count
        if self.written >= self.due_at:
            self.refresh()

    def finish(self) -> None:
        if self.written:
            self.refresh()


# --- pass 2: check every row ----------------------------------------------------------


def _check(csv_import: CsvImport, stream: TextIO, progress: Progress) -> tuple[list, int]:
    program = program_get()
    now = timezone.now()
    checker = (
        _MemberChecker(program=program, now=now)
        if csv_import.kind == CsvImport.Kind.MEMBERS
        else _PurchaseChecker(program=program, now=now)
    )
    kept: list[RowError] = []
    count = checked = 0
    for chunk in _chunks(rows_read(stream, kind=csv_import.kind)):
        for error in checker.chunk_errors(chunk):
            count += 1
            if len(kept) < ERRORS_KEPT:
                kept.append(error)
        checked += len(chunk)
        progress("check", checked, csv_import.rows_total)
    return kept, count


class _MemberChecker:
    def __init__(self, *, program, now: datetime):
        self.tz, self.now = program.tz, now
        self.lines: dict[str, int] = {}

    def chunk_errors(self, chunk) -> list[RowError]:
        errors = []
        for line, raw in chunk:
            row, row_errors = member_row_parse(line, raw, tz=self.tz, now=self.now)
            errors += row_errors
            if row is None:
                continue
            first = self.lines.setdefault(row.external_id, line)
            if first != line:
                errors.append(
                    RowError(line, "external_id", f"The same external id is on line {first}.")
                )
        return errors


class _PurchaseChecker:
    def __init__(self, *, program, now: datetime):
        self.tz, self.now, self.currency = program.tz, now, program.currency
        self.shops = dict(Shop.objects.values_list("name", "pk"))
        self.lines: dict[tuple[str, str], int] = {}

    def chunk_errors(self, chunk) -> list[RowError]:
        errors, rows = [], []
        for line, raw in chunk:
            row, row_errors = purchase_row_parse(
                line, raw, tz=self.tz, now=self.now, currency=self.currency
            )
            errors += row_errors
            if row is None:
                continue
            if row.shop not in self.shops:
                errors.append(RowError(line, "shop", f"No shop is named {row.shop!r}."))
                continue
            first = self.lines.setdefault((row.shop, row.order_id), line)
            if first != line:
                errors.append(
                    RowError(line, "order_id", f"The same shop and order id are on line {first}.")
                )
                continue
            rows.append(row)
        members = dict(
            Member.objects.filter(
                external_id__in={row.member_external_id for row in rows}
            ).values_list("external_id", "status")
        )
        existing = _existing_purchases(rows, self.shops)
        for row in rows:
            status = members.get(row.member_external_id)
            if status is None:
                errors.append(
                    RowError(
                        row.line,
                        "member_external_id",
                        f"No member has the external id {row.member_external_id!r}: "
                        "import the members first.",
                    )
                )
            elif status != Member.Status.ACTIVE:
                errors.append(
                    RowError(
                        row.line,
                        "member_external_id",
                        f"The member is {status}: their points cannot move.",
                    )
                )
            known = existing.get((self.shops[row.shop], row.order_id))
            if known and not _same_purchase(known, row):
                errors.append(
                    RowError(
                        row.line,
                        "order_id",
                        "This shop already has this order with other details "
                        f"(member {known['member__external_id']}, amount "
                        f"{known['amount'].normalize():f}).",
                    )
                )
        errors.sort(key=lambda error: error.line)
        return errors


def _existing_purchases(rows: list[PurchaseRow], shops: dict[str, int]) -> dict:
    """The purchases already recorded under the rows' (shop, order id), by that key."""
    if not rows:
        return {}
    keys = Q()
    by_shop: dict[int, set[str]] = {}
    for row in rows:
        by_shop.setdefault(shops[row.shop], set()).add(row.order_id)
    for shop_id, order_ids in by_shop.items():
        keys |= Q(shop_id=shop_id, order_id__in=order_ids)
    found = Purchase.objects.filter(keys).values(
        "shop_id", "order_id", "member__external_id", "amount", "occurred_at"
    )
    return {(item["shop_id"], item["order_id"]): item for item in found}


def _same_purchase(known: dict, row: PurchaseRow) -> bool:
    return (
        known["member__external_id"] == row.member_external_id
        and known["amount"] == row.amount
        and known["occurred_at"] == row.occurred_at
    )


# --- pass 3: import --------------------------------------------------------------------


@contextmanager
def _commits_unflushed():
    """PostgreSQL: don't wait for each chunk's commit to reach the disk. A crash may lose
    the last chunks' commits, never half of one, and the import is idempotent: running it
    again brings back what was lost.
    https://www.postgresql.org/docs/current/wal-async-commit.html"""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _apply(
    csv_import: CsvImport, stream: TextIO, progress: Progress, *, deadline: float | None
) -> bool:
    """Import the rows; False if it stopped at the deadline before the end."""
    program = program_get()
    now = timezone.now()
    shops = {shop.name: shop for shop in Shop.objects.all()}
    # Going on after a deadline (or a lost worker): the rows done before are passed over
    # unread; those of a chunk cut short are found already imported and skipped.
    done, created, unchanged = (
        csv_import.rows_done,
        csv_import.created_count,
        csv_import.unchanged_count,
    )
    rows = itertools.islice(rows_read(stream, kind=csv_import.kind), done, None)
    statistics = TableStatistics(csv_import.kind)
    for chunk in _chunks(rows):
        # Every row passed the checks: each parses.
        if csv_import.kind == CsvImport.Kind.MEMBERS:
            parsed = [member_row_parse(line, raw, tz=program.tz, now=now)[0] for line, raw in chunk]
            result = _members_import(parsed)
        else:
            currency = program.currency
            parsed = [
                purchase_row_parse(line, raw, tz=program.tz, now=now, currency=currency)[0]
                for line, raw in chunk
            ]
            result = _purchases_import(parsed, shops)
        done += len(parsed)
        created += result.created
        unchanged += result.unchanged
        fields = {"created_count": created, "unchanged_count": unchanged}
        if result.missing:
            # Checked before, these members were there; erased or renamed since, their rows
            # are left out and listed, and the rest of the file goes on.
            fields["errors"] = (csv_import.errors + [e.as_dict() for e in result.missing])[
                :ERRORS_KEPT
            ]
            fields["error_count"] = csv_import.error_count + len(result.missing)
        _update(csv_import, **fields)
        statistics.rows_written(result.created)
        progress("import", done, csv_import.rows_total)
        if deadline is not None and time.monotonic() > deadline and done < csv_import.rows_total:
            statistics.finish()
            return False
    statistics.finish()
    return True


def _members_import(rows: list[MemberRow]) -> BulkImportResult:
    return members_bulk_enroll(rows=rows)


def purchase_request_hash(row: PurchaseRow) -> str:
    """The idempotency hash of an imported purchase: the same row always hashes the same."""
    canonical = {
        "shop": row.shop,
        "order_id": row.order_id,
        "member_external_id": row.member_external_id,
        "amount": f"{row.amount.normalize():f}",
        "currency": row.currency,
        "occurred_at": row.occurred_at.isoformat(),
        "category": row.category,
        "sku": row.sku,
        "source": "csv_import",
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def _purchases_import(rows: list[PurchaseRow], shops: dict[str, Shop]) -> BulkImportResult:
    return purchases_bulk_record(
        rows=rows, shops=shops, request_hashes=[purchase_request_hash(row) for row in rows]
    )
