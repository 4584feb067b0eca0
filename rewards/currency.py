"""ISO 4217 currencies and their minor units, from the CLDR data that Babel ships."""

import functools
from decimal import Decimal

from babel.numbers import get_currency_precision, list_currencies


@functools.cache
def known_currencies() -> frozenset[str]:
    return frozenset(code for code in list_currencies() if len(code) == 3 and code.isalpha())


def is_known_currency(code: str) -> bool:
    return code in known_currencies()


def minor_units(code: str) -> int:
    """Decimal places of the currency: 2 for EUR, 0 for JPY, 3 for BHD."""
    return get_currency_precision(code)


def decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def money_str(value: Decimal, currency: str) -> str:
    """An amount as the API returns it: a string with the currency's minor units
    ("0.10" in EUR, "150" in JPY), the same wherever the amount appears."""
    return f"{value.quantize(Decimal(1).scaleb(-minor_units(currency))):f}"
