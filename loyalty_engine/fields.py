"""Strict serializer fields for what clients send: identifiers, numbers and dates.

Python is generous with input: `int("١٢")`, `Decimal("1_000")`, `Decimal(" 1E+2 ")` and
`date.fromisoformat("２０２４-01-01")` all parse. A shop's id or amount that only
Python understands is a bug waiting in another system, so every field here accepts
exactly the documented format (ASCII digits, no exponent, no separators, no spaces) and
the OpenAPI pattern it declares is the very regex the server applies.
"""

import copy
import re
import unicodedata
from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

# Unicode categories an identifier may not contain: controls, format characters
# (bidirectional overrides, zero-width joiners), private use, surrogates, unassigned,
# line and paragraph separators. `/` is refused too: an id must fit in one URL segment.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
IDENTIFIER_MAX_LENGTH = 64
# For clients: any character but `/` and ASCII controls. The server also refuses the
# non-ASCII categories above, which a JSON Schema regex cannot name portably.
IDENTIFIER_PATTERN = r"^[^/\x00-\x1f\x7f]+$"


def identifier_problem(value: str) -> str | None:
    """Why `value` is not a usable identifier, or None."""
    for char in value:
        if char == "/":
            return _("An identifier cannot contain '/'.")
        if unicodedata.category(char) in FORBIDDEN_CATEGORIES:
            return _(
                "An identifier cannot contain control, format, private-use, unassigned "
                "or line-separator characters (U+%(code)04X).",
            ) % {"code": ord(char)}
    return None


def validate_identifier(value: str) -> None:
    problem = identifier_problem(value)
    if problem:
        raise serializers.ValidationError(problem, code="invalid_characters")


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": IDENTIFIER_MAX_LENGTH,
        "pattern": IDENTIFIER_PATTERN,
    }
)
class IdentifierField(serializers.CharField):
    """A shop's identifier (external_id, order_id, refund_id, feedback_id, …): 1 to 64
    characters, no `/`, nothing invisible or unassigned."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", IDENTIFIER_MAX_LENGTH)
        super().__init__(**kwargs)
        self.validators.append(validate_identifier)


def identifier_value(value: str, *, field: str, max_length: int = IDENTIFIER_MAX_LENGTH) -> str:
    """An identifier from a URL path or a header, checked like a body field; the error
    names `field`."""
    try:
        IdentifierField(max_length=max_length).run_validation(value)
    except serializers.ValidationError as error:
        raise serializers.ValidationError({field: error.detail}) from None
    return value


INTEGER_RE = re.compile(r"-?[0-9]+", re.ASCII)
DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)


class StrictInputMixin:
    """Input must match `format_re` as a string. Input out of format goes to DRF's own
    parser first, so what DRF refuses keeps DRF's error codes (`max_digits`, …); what DRF
    would have let through (`1E+2`, `١٢`, ` 7 `) is refused here."""

    format_re: re.Pattern
    format_message = _("Use the documented format.")

    def refuse(self, data):
        super().to_internal_value(data)
        raise serializers.ValidationError(self.format_message, code="invalid")

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str):
            self.refuse(data)
        if not self.format_re.fullmatch(data):
            self.refuse(data)
        return super().to_internal_value(data)


@extend_schema_field({"type": "integer"})
class StrictIntegerField(StrictInputMixin, serializers.IntegerField):
    """A JSON integer, or a string of ASCII digits with an optional leading `-`."""

    format_re = INTEGER_RE
    format_message = _("Send a whole number in ASCII digits (no spaces or separators).")

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            return super(StrictInputMixin, self).to_internal_value(data)
        return super().to_internal_value(data)


class StrictDecimalField(StrictInputMixin, serializers.DecimalField):
    """A decimal as a string of ASCII digits with an optional `.` and fraction (`42.50`),
    or a JSON number written the same way. No exponent, no `_`, no spaces."""

    format_re = DECIMAL_RE
    format_message = _("Send a decimal number in ASCII digits, such as 42.50.")

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        elif isinstance(data, float):
            data = repr(data)
        return super().to_internal_value(data)


def decimal_pattern(max_digits: int, decimal_places: int, *, signed: bool = True) -> str:
    sign = "-?" if signed else ""
    whole = max_digits - decimal_places
    if decimal_places:
        return rf"^{sign}[0-9]{{1,{whole}}}(\.[0-9]{{1,{decimal_places}}})?$"
    return rf"^{sign}[0-9]{{1,{whole}}}$"


@extend_schema_field({"type": "string", "format": "date", "pattern": "^" + DATE_RE.pattern + "$"})
class StrictDateField(StrictInputMixin, serializers.DateField):
    """`YYYY-MM-DD` in ASCII digits."""

    format_re = DATE_RE
    format_message = _("Send a date as YYYY-MM-DD.")

    def to_internal_value(self, value):
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        return super().to_internal_value(value)


@extend_schema_field(
    {"type": "string", "format": "date-time", "pattern": "^" + DATETIME_RE.pattern + "$"}
)
class StrictDateTimeField(StrictInputMixin, serializers.DateTimeField):
    """RFC 3339 (`2024-05-01T12:00:00Z`) in ASCII digits; a time without offset is read in
    the server's time zone."""

    format_re = DATETIME_RE
    format_message = _("Send a time as RFC 3339, such as 2024-05-01T12:00:00Z.")

    def to_internal_value(self, value):
        if isinstance(value, datetime):
            return serializers.DateTimeField.to_internal_value(self, value)
        return super().to_internal_value(value)


def rfc3339(value: datetime | None) -> str | None:
    """A timestamp as clients get it: UTC, `Z`, microseconds only when there are some."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@extend_schema_field(OpenApiTypes.DATETIME)
class UtcDateTimeField(serializers.DateTimeField):
    """Output: RFC 3339 in UTC with `Z`, whatever TIME_ZONE the server runs in."""

    def to_representation(self, value):
        if isinstance(value, str):
            return value
        return rfc3339(value)


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
        "example": "0.10",
    }
)
class MoneyStringField(serializers.CharField):
    """Output: an amount already formatted with its currency's minor units ("0.10" in
    EUR, "150" in JPY) by rewards.currency.money_str."""


class CopiedFieldsMixin:
    """For a serializer: its fields are copied from the declared ones attribute by
    attribute, with a validator list of their own, instead of DRF's deep copy, which
    calls every field's __init__ again on every request (issue 18: about 4% of an earn).
    A field holding another field (a nested serializer, a list's child) is deep-copied as
    DRF does, so no bound field is shared between two serializers."""

    def get_fields(self):
        return {name: field_copy(field) for name, field in self._declared_fields.items()}


def field_copy(field: serializers.Field) -> serializers.Field:
    """A declared (unbound) field as DRF's deep copy would make it."""
    state = field.__dict__
    if any(isinstance(value, serializers.Field) for value in state.values()):
        return copy.deepcopy(field)
    clone = object.__new__(type(field))
    clone.__dict__.update(state)
    if "_validators" in state:
        clone._validators = list(state["_validators"])
    return clone


class PlainInputMixin:
    """For a hot input serializer: the body most requests send (`plain_fields` only, each
    a value the field accepts) is validated by the fields' own `run_validation` (on
    copies of the declared fields made once per class), the serializer's
    `validate_<field>` methods and its `validate()`, without building the serializer's
    bound fields (issue 18: in cProfile the serializer was 14% of an earn, half of it
    copying the fields). Any other body, and any value that fails a check, gets None:
    the caller then validates with the whole serializer, which gives the error exactly
    as before. tests/test_plain_input.py proves the two give the same data."""

    plain_fields: frozenset[str] = frozenset()

    @classmethod
    def _validating_fields(cls) -> list[tuple[str, serializers.Field, str | None]]:
        """(name, field, its `validate_<name>` method's name or None) for each declared
        field, made once per class. The fields are copies that only this short way uses:
        validating sets a field's `_validators` on first use, and the declared fields stay
        as they were declared."""
        fields = cls.__dict__.get("_plain_validating_fields")
        if fields is None:
            fields = [
                (
                    name,
                    field_copy(field),
                    f"validate_{name}" if hasattr(cls, f"validate_{name}") else None,
                )
                for name, field in cls._declared_fields.items()
            ]
            cls._plain_validating_fields = fields
        return fields

    def plain_validated_data(self) -> dict | None:
        data = getattr(self, "initial_data", None)
        if type(data) is not dict or not data.keys() <= self.plain_fields:
            return None
        validated = {}
        try:
            for name, field, check in self._validating_fields():
                if name in data:
                    value = field.run_validation(data[name])
                    if check is not None:
                        value = getattr(self, check)(value)
                elif field.required or getattr(field.default, "requires_context", False):
                    return None
                elif field.default is empty:
                    continue
                else:
                    value = field.default() if callable(field.default) else field.default
                validated[name] = value
            return self.validate(validated)
        except (serializers.ValidationError, DjangoValidationError):
            return None
