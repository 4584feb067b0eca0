"""Money and dates in a sentence, written the way the reader's locale writes them (Babel,
CLDR data): "1 234,50 kr" in Swedish, "1.234,50 kr." in Danish, "€1,234.50" in English.
JSON fields stay machine-readable; only sentences use these."""

import functools
from datetime import date
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from django.utils.translation import get_language

# The territory whose conventions each language's members read.
LOCALES = {"sv": "sv_SE", "da": "da_DK", "en": "en_IE"}


def babel_locale(language: str | None = None) -> Locale:
    code = (language or get_language() or "en").split("-")[0]
    return _parsed(LOCALES.get(code, "en_IE"))


@functools.cache
def _parsed(identifier: str) -> Locale:
    # Parsed once: a purchase's itemized description formats money on the earn path.
    return Locale.parse(identifier)


def money_format(amount: Decimal, currency: str, *, language: str | None = None) -> str:
    return _money_text(str(amount), currency, babel_locale(language))


# Babel parses and applies its pattern on every call (issue 18: in cProfile about 7% of an
# earn, which formats its amount for the member's description of the points and again for
# the event's English reason, and the program's rate each time). The texts depend on
# nothing but these arguments; the amount is keyed by its text, so 57.31 and 57.310 are
# kept apart as Babel sees them.
@functools.lru_cache(maxsize=2048)
def _money_text(amount: str, currency: str, locale: Locale) -> str:
    text = format_currency(Decimal(amount), currency, locale=locale)
    # Babel separates groups and the symbol with no-break spaces: right for a page, but
    # API clients comparing text expect the plain space a person types.
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def date_format(day: date, *, language: str | None = None) -> str:
    return format_date(day, format="long", locale=babel_locale(language))


def number_format(value, *, language: str | None = None) -> str:
    """A number as the locale writes it, without trailing zeros: 1.5 is "1,5" in Swedish."""
    return _number_text(str(Decimal(value).normalize()), babel_locale(language))


@functools.lru_cache(maxsize=1024)
def _number_text(normalized: str, locale: Locale) -> str:
    return format_decimal(Decimal(normalized), locale=locale).replace("\u00a0", " ")
