"""Reading import files: the columns of each kind, and one row checked on its own.

Checks that need other rows or the database (duplicates, existing members and orders) are
in staff.services, a chunk of rows at a time.
"""

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TextIO
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_datetime

from rewards.currency import decimal_places, is_known_currency, minor_units

# As the API: printable text only, and no purchase before 2000.
NOT_PRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AMOUNT = Decimal("100000000000000")

COLUMNS = {
    "members": {
        "required": ("external_id",),
        "optional": ("email", "name", "birth_date", "enrolled_at"),
    },
    "purchases": {
        "required": ("shop", "order_id", "member_external_id", "amount", "occurred_at"),
        "optional": ("currency", "category", "sku"),
    },
}


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class MemberRow:
    line: int
    external_id: str
    email: str
    name: str
    birth_date: date | None
    enrolled_at: datetime | None


@dataclass(frozen=True)
class PurchaseRow:
    line: int
    shop: str
    order_id: str
    member_external_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    category: str
    sku: str


class HeaderError(Exception):
    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("; ".join(error.message for error in errors))


def rows_read(stream: TextIO, *, kind: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) for each data row, one at a time. The header comes
    first; a missing required column or an unknown one raises HeaderError."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise HeaderError([RowError(1, "", "The file is empty: it needs a header row.")])
    header = [column.strip().lower() for column in header]
    spec = COLUMNS[kind]
    errors = [
        RowError(1, column, f"The column {column!r} is missing.")
        for column in spec["required"]
        if column not in header
    ]
    known = set(spec["required"]) | set(spec["optional"])
    errors += [
        RowError(
            1,
            column,
            f"Unknown column {column!r}: the columns are {', '.join(sorted(known))}.",
        )
        for column in header
        if column not in known
    ]
    if len(set(header)) != len(header):
        errors.append(RowError(1, "", "A column appears twice in the header."))
    if errors:
        raise HeaderError(errors)
    line = 1
    for values in reader:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            yield line, {"__columns__": f"{len(values)} values for {len(header)} columns"}
            continue
        yield line, {column: value.strip() for column, value in zip(header, values, strict=True)}


def _text(row, field, errors, line, *, max_length, required=False) -> str:
    value = row.get(field, "")
    if required and not value:
        errors.append(RowError(line, field, "This field is required."))
    elif len(value) > max_length:
        errors.append(RowError(line, field, f"At most {max_length} characters."))
    elif NOT_PRINTABLE.search(value):
        errors.append(RowError(line, field, "Use printable characters only."))
    return value


def _moment(value: str, *, tz: ZoneInfo) -> datetime | None:
    """An ISO 8601 date-time; without an offset it is in the program's time zone, and a
    date alone is its midnight."""
    moment = parse_datetime(value)
    if moment is None:
        day = date.fromisoformat(value)
        return datetime.combine(day, time.min, tzinfo=tz)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def member_row_parse(
    line: int, row: dict, *, tz: ZoneInfo, now: datetime
) -> tuple[MemberRow | None, list[RowError]]:
    if "__columns__" in row:
        return None, [RowError(line, "", f"Wrong number of values: {row['__columns__']}.")]
    errors: list[RowError] = []
    external_id = _text(row, "external_id", errors, line, max_length=64, required=True)
    email = _text(row, "email", errors, line, max_length=254)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(RowError(line, "email", f"{email!r} is not an email address."))
    name = _text(row, "name", errors, line, max_length=200)
    birth_date = None
    if row.get("birth_date"):
        try:
            birth_date = date.fromisoformat(row["birth_date"])
        except ValueError:
            errors.append(RowError(line, "birth_date", "Use a date as YYYY-MM-DD."))
        else:
            if birth_date > now.date():
                errors.append(RowError(line, "birth_date", "The birth date is in the future."))
    enrolled_at = None
    if row.get("enrolled_at"):
        try:
            enrolled_at = _moment(row["enrolled_at"], tz=tz)
        except ValueError:
            errors.append(
                RowError(line, "enrolled_at", "Use a date or date-time as YYYY-MM-DD[THH:MM].")
            )
        else:
            if enrolled_at > now:
                errors.append(RowError(line, "enrolled_at", "The enrollment is in the future."))
    if errors:
        return None, errors
    return MemberRow(line, external_id, email, name, birth_date, enrolled_at), []


def purchase_row_parse(
    line: int, row: dict, *, tz: ZoneInfo, now: datetime, currency: str
) -> tuple[PurchaseRow | None, list[RowError]]:
    if "__columns__" in row:
        return None, [RowError(line, "", f"Wrong number of values: {row['__columns__']}.")]
    errors: list[RowError] = []
    shop = _text(row, "shop", errors, line, max_length=200, required=True)
    order_id = _text(row, "order_id", errors, line, max_length=64, required=True)
    member_external_id = _text(
        row, "member_external_id", errors, line, max_length=64, required=True
    )
    category = _text(row, "category", errors, line, max_length=64)
    sku = _text(row, "sku", errors, line, max_length=64)
    row_currency = (row.get("currency") or currency).upper()
    if row_currency != currency:
        errors.append(
            RowError(line, "currency", f"The program accepts {currency} only, not {row_currency}.")
        )
    amount = None
    try:
        amount = Decimal(row.get("amount", ""))
        if not amount.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        errors.append(RowError(line, "amount", "Use a number such as 12.50."))
    else:
        if amount <= 0:
            errors.append(RowError(line, "amount", "The amount must be more than 0."))
        elif amount >= MAX_AMOUNT:
            errors.append(RowError(line, "amount", "The amount is too large."))
        elif is_known_currency(currency) and decimal_places(amount) > minor_units(currency):
            errors.append(
                RowError(
                    line,
                    "amount",
                    f"{currency} has {minor_units(currency)} decimal places; "
                    f"{row['amount']} has more.",
                )
            )
    occurred_at = None
    if row.get("occurred_at"):
        try:
            occurred_at = _moment(row["occurred_at"], tz=tz)
        except ValueError:
            errors.append(
                RowError(line, "occurred_at", "Use a date or date-time as YYYY-MM-DD[THH:MM].")
            )
        else:
            if occurred_at > now:
                errors.append(RowError(line, "occurred_at", "The purchase is in the future."))
            elif occurred_at < EARLIEST:
                errors.append(RowError(line, "occurred_at", "Purchases before 2000 are refused."))
    else:
        errors.append(RowError(line, "occurred_at", "This field is required."))
    if errors:
        return None, errors
    return (
        PurchaseRow(
            line,
            shop,
            order_id,
            member_external_id,
            amount,
            row_currency,
            occurred_at,
            category,
            sku,
        ),
        [],
    )
