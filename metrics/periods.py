"""Periods of the KPIs: days, ISO weeks (Monday to Sunday), months, quarters and years,
in the program's time zone. A period is [start, end): its first local midnight belongs to
it, its end (the next period's first midnight) does not."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class Granularity:
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    ALL = (DAY, WEEK, MONTH, QUARTER, YEAR)
    CHOICES = [(g, g.capitalize()) for g in ALL]


@dataclass(frozen=True)
class Period:
    granularity: str
    start: date
    end: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The instants of the period's first and next period's first local midnight."""
        return local_midnight(self.start, tz), local_midnight(self.end, tz)

    @property
    def label(self) -> str:
        if self.granularity == Granularity.YEAR:
            return f"{self.start.year}"
        if self.granularity == Granularity.QUARTER:
            return f"{self.start.year} Q{(self.start.month - 1) // 3 + 1}"
        if self.granularity == Granularity.MONTH:
            return self.start.strftime("%Y-%m")
        if self.granularity == Granularity.WEEK:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return self.start.isoformat()


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_start(granularity: str, day: date) -> date:
    """The first day of the period of this granularity that contains `day`."""
    if granularity == Granularity.DAY:
        return day
    if granularity == Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity == Granularity.MONTH:
        return day.replace(day=1)
    if granularity == Granularity.QUARTER:
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if granularity == Granularity.YEAR:
        return date(day.year, 1, 1)
    raise ValueError(f"Unknown granularity {granularity!r}.")


def period_after(granularity: str, start: date) -> date:
    """The start of the period that follows the one starting at `start`."""
    if granularity == Granularity.DAY:
        return start + timedelta(days=1)
    if granularity == Granularity.WEEK:
        return start + timedelta(days=7)
    if granularity == Granularity.MONTH:
        return _add_months(start, 1)
    if granularity == Granularity.QUARTER:
        return _add_months(start, 3)
    if granularity == Granularity.YEAR:
        return date(start.year + 1, 1, 1)
    raise ValueError(f"Unknown granularity {granularity!r}.")


def period_before(granularity: str, start: date) -> date:
    return period_start(granularity, start - timedelta(days=1))


def period_containing(granularity: str, day: date) -> Period:
    start = period_start(granularity, day)
    return Period(granularity, start, period_after(granularity, start))


def period_list(granularity: str, first: date, last: date) -> Iterator[Period]:
    """Every period of the granularity that overlaps the days first..last (both included)."""
    start = period_start(granularity, first)
    while start <= last:
        end = period_after(granularity, start)
        yield Period(granularity, start, end)
        start = end


def period_count(granularity: str, first: date, last: date) -> int:
    """How many periods period_list would yield, without listing them."""
    if last < first:
        return 0
    start, end = period_start(granularity, first), period_start(granularity, last)
    if granularity == Granularity.DAY:
        return (end - start).days + 1
    if granularity == Granularity.WEEK:
        return (end - start).days // 7 + 1
    months = (end.year - start.year) * 12 + end.month - start.month
    if granularity == Granularity.MONTH:
        return months + 1
    if granularity == Granularity.QUARTER:
        return months // 3 + 1
    return end.year - start.year + 1
