"""What a segment's conditions may say, and their validation.

A segment is a list of conditions, all of which must hold:
`{"field": ..., "op": ..., "value": ...}`. The fields are computed per member by
metrics.segments (set-based); this module only knows their names and types, so the
admin, the API and the nightly job refuse the same bad conditions with the same words.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils.translation import gettext as _

OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in")
ORDERED_OPS = ("lt", "lte", "gt", "gte")
MAX_CONDITIONS = 20
MAX_IN_VALUES = 100
# The codes a `language` condition may name: the languages the program speaks.
LANGUAGE_CODES = tuple(code for code, _name in settings.LANGUAGES)


@dataclass(frozen=True)
class Field:
    kind: str  # int, decimal, probability, tier, shop, language
    minimum: int | None = 0
    maximum: int | None = None


FIELDS: dict[str, Field] = {
    "days_since_last_purchase": Field("int"),
    "purchases_in_365d": Field("int"),
    "spend_in_365d": Field("decimal"),
    "tier": Field("tier"),  # the tier's rank (1 = entry tier); null: no tier
    "points_available": Field("int"),
    "points_expiring_30d": Field("int"),
    "days_since_enrolled": Field("int"),
    "birthday_month": Field("int", 1, 12),
    "shop": Field("shop"),  # the id of the shop of the last purchase
    # The language the member reads: their own, else the program's default (a code).
    "language": Field("language", None),
    "p_alive": Field("probability"),
    "predicted_clv_12m": Field("decimal"),
    "rfm_recency": Field("int", 1, 5),
    "rfm_frequency": Field("int", 1, 5),
    "rfm_monetary": Field("int", 1, 5),
    # The three quintiles as one number, 555 for the best: "rfm_score eq 555".
    "rfm_score": Field("int", 111, 555),
}


class ConditionError(ValueError):
    def __init__(self, index: int, message: str):
        self.index = index
        self.message = message
        super().__init__(f"Condition {index + 1}: {message}")


def _scalar(field_name: str, field: Field, value, index: int):
    if field.kind == "language":
        if not isinstance(value, str) or value not in LANGUAGE_CODES:
            raise ConditionError(
                index,
                _("%(field)s needs one of the language codes %(codes)s, not %(value)r.")
                % {"field": field_name, "codes": ", ".join(LANGUAGE_CODES), "value": value},
            )
        return value
    if isinstance(value, bool) or value is None:
        raise ConditionError(index, _("%(field)s needs a number.") % {"field": field_name})
    if field.kind in ("decimal", "probability"):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ConditionError(
                index,
                _("%(field)s needs a number, not %(value)r.")
                % {"field": field_name, "value": value},
            ) from None
        if not number.is_finite():
            raise ConditionError(
                index, _("%(field)s needs a finite number.") % {"field": field_name}
            )
        if number < 0:
            raise ConditionError(index, _("%(field)s cannot be negative.") % {"field": field_name})
        if field.kind == "probability" and number > 1:
            raise ConditionError(
                index, _("%(field)s is a probability between 0 and 1.") % {"field": field_name}
            )
        return str(number)
    if not isinstance(value, int):
        raise ConditionError(
            index,
            _("%(field)s needs a whole number, not %(value)r.")
            % {"field": field_name, "value": value},
        )
    low = field.minimum if field.kind not in ("tier", "shop") else 1
    if low is not None and value < low:
        raise ConditionError(
            index,
            _("%(field)s must be at least %(minimum)s.") % {"field": field_name, "minimum": low},
        )
    if field.maximum is not None and value > field.maximum:
        raise ConditionError(
            index,
            _("%(field)s must be at most %(maximum)s.")
            % {"field": field_name, "maximum": field.maximum},
        )
    return value


def conditions_validate(conditions) -> list[dict]:
    """The conditions, checked and normalized (decimals as strings). Raises
    ConditionError naming the condition and what is wrong with it."""
    if not isinstance(conditions, list):
        raise ConditionError(0, _("Conditions are a list of {field, op, value}."))
    if len(conditions) > MAX_CONDITIONS:
        raise ConditionError(MAX_CONDITIONS, _("At most %(n)s conditions.") % {"n": MAX_CONDITIONS})
    cleaned = []
    for index, condition in enumerate(conditions):
        if not isinstance(condition, dict) or set(condition) != {"field", "op", "value"}:
            raise ConditionError(index, _("A condition has exactly the keys field, op and value."))
        name, op, value = condition["field"], condition["op"], condition["value"]
        if name not in FIELDS:
            raise ConditionError(
                index,
                _("Unknown field %(field)r; the fields are: %(fields)s.")
                % {"field": name, "fields": ", ".join(FIELDS)},
            )
        if op not in OPS:
            raise ConditionError(
                index,
                _("Unknown op %(op)r; the ops are: %(ops)s.") % {"op": op, "ops": ", ".join(OPS)},
            )
        field = FIELDS[name]
        if op == "in":
            if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
                raise ConditionError(
                    index, _("'in' needs a list of 1 to %(n)s values.") % {"n": MAX_IN_VALUES}
                )
            value = [_scalar(name, field, item, index) for item in value]
        else:
            if field.kind in ("shop", "language") and op in ORDERED_OPS:
                # An id or a code has no order: "shop lt 3" means nothing.
                raise ConditionError(
                    index,
                    _("%(field)s can only be compared with eq, ne or in.") % {"field": name},
                )
            value = _scalar(name, field, value, index)
        cleaned.append({"field": name, "op": op, "value": value})
    return cleaned


# Built-in segments staff copy (admin action, or POST /api/v1/segments/{id}/copy). "High
# historical value" is the top two monetary quintiles.
BUILTIN_SEGMENTS = [
    {
        "name": "At risk",
        "description": "High historical value (top two monetary quintiles) and P(alive) below 0.3.",
        "conditions": [
            {"field": "rfm_monetary", "op": "gte", "value": 4},
            {"field": "p_alive", "op": "lt", "value": "0.3"},
        ],
    },
    {
        "name": "Lapsed 90 days",
        "description": "Bought before, but not in the last 90 days.",
        "conditions": [{"field": "days_since_last_purchase", "op": "gt", "value": 90}],
    },
    {
        "name": "Champions",
        "description": "RFM 5-5-5: bought recently, often, and for the most.",
        "conditions": [{"field": "rfm_score", "op": "eq", "value": 555}],
    },
    {
        "name": "Points about to expire",
        "description": "Points expiring within 30 days.",
        "conditions": [{"field": "points_expiring_30d", "op": "gt", "value": 0}],
    },
]
