import sys
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min
from django.utils import timezone
from tqdm import tqdm

from members.models import Member
from metrics.periods import Granularity
from metrics.services import kpis_period_total, kpis_recompute
from rewards.selectors import program_get

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option} must be a day such as 2025-01-31; {value!r} is not one."
        ) from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise CommandError(f"{option} must be a day between {EARLIEST_DAY} and {LATEST_DAY}.")
    return day


def history_days() -> tuple[date | None, date]:
    """The program's first enrollment day and today, in its time zone."""
    tz = program_get().tz
    first = Member.objects.aggregate(first=Min("enrolled_at"))["first"]
    today = timezone.now().astimezone(tz).date()
    return (first.astimezone(tz).date() if first else None), today


class Command(BaseCommand):
    help = (
        "Recompute the stored KPI snapshots (and, for months, the cohort cells) of every "
        "period overlapping --from..--to, in the program's time zone, with a progress bar "
        "and a summary line. Safe to run again: with no new data it stores the same numbers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", help="First day, 2025-01-01.")
        parser.add_argument("--to", dest="last", help="Last day, 2025-12-31.")
        parser.add_argument(
            "--all-history",
            action="store_true",
            help="From the first enrollment to today, in the program's time zone (what "
            "`make run` does after seeding the demo, so the dashboard is full).",
        )
        parser.add_argument(
            "--granularity",
            action="append",
            choices=Granularity.ALL,
            help="Only this granularity (repeatable). Default: all of "
            + ", ".join(Granularity.ALL)
            + ".",
        )

    def handle(self, *args, first, last, granularity, all_history=False, **options):
        first, last = _day(first, "--from"), _day(last, "--to")
        if all_history:
            first, last = history_days()
            if first is None:
                self.stdout.write("recompute_kpis: no members yet; nothing to compute.")
                return
        for value, option in ((first, "--from"), (last, "--to")):
            if value is None:
                raise CommandError(
                    f"the following arguments are required: {option} (or --all-history)"
                )
        if first > last:
            raise CommandError(f"--from ({first}) is after --to ({last}).")
        granularities = [g for g in Granularity.ALL if g in (granularity or Granularity.ALL)]
        total = kpis_period_total(first=first, last=last, granularities=granularities)
        started = time.monotonic()
        bar = tqdm(total=total, desc="KPIs", unit="period", file=sys.stderr, disable=None)
        try:
            outcome = kpis_recompute(
                first=first,
                last=last,
                granularities=granularities,
                on_period=lambda period, written: bar.update(1),
            )
        finally:
            bar.close()
        self.stdout.write(
            f"recompute_kpis: {outcome['periods']} periods ({', '.join(granularities)}) from "
            f"{first} to {last}, {outcome['snapshots']} snapshots written in "
            f"{time.monotonic() - started:.1f}s."
        )
