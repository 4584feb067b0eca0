"""Options shared by the nightly commands."""

import argparse
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.management.base import CommandError


def as_of_parse(value: str) -> datetime:
    """An ISO 8601 date and time, naive or with a UTC offset. Raises CommandError with a
    sentence, never a traceback; checked before anything touches the database."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            "--as-of must be a date and time such as 2026-01-31T02:00 (in the program's "
            f"time zone) or 2026-01-31T02:00+01:00; {value!r} is not one."
        ) from None


def as_of_localize(as_of: datetime, *, tz: ZoneInfo) -> datetime:
    """A naive as-of is a wall-clock time in `tz`, the program's time zone. One that a DST
    change skips or repeats is read as the first one (fold=0), as zoneinfo does."""
    return as_of.replace(tzinfo=tz) if as_of.tzinfo is None else as_of


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return number
