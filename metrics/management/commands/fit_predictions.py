import sys
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Avg, Sum
from tqdm import tqdm

from metrics.models import MemberPrediction
from metrics.predictions.services import PhaseTimes, fit_day, prediction_fit_run
from rewards.selectors import program_get

EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)


class Command(BaseCommand):
    help = (
        "Fit the BG/NBD and Gamma-Gamma models on every member's purchases up to the end of "
        "--as-of (default: yesterday, in the program's time zone), score every member, and "
        "print the parameters and a summary. A fit that does not converge keeps the last "
        "good model's scores. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="Last day of purchases counted, e.g. 2026-01-31.")
        parser.add_argument(
            "--holdout-weeks",
            type=int,
            default=None,
            help="Weeks held out for the holdout check (default: PREDICTIONS_HOLDOUT_WEEKS; "
            "0: no check).",
        )

    def handle(self, *args, as_of, holdout_weeks, **options):
        if as_of is None:
            from django.utils import timezone

            day = fit_day(timezone.now())
        else:
            try:
                day = date.fromisoformat(as_of)
            except ValueError:
                raise CommandError(
                    f"--as-of must be a day such as 2026-01-31; {as_of!r} is not one."
                ) from None
            if not EARLIEST_DAY <= day <= LATEST_DAY:
                raise CommandError(
                    f"--as-of must be a day between {EARLIEST_DAY} and {LATEST_DAY}."
                )
        if holdout_weeks is not None and not 0 <= holdout_weeks <= 520:
            raise CommandError("--holdout-weeks must be between 0 and 520.")
        started = time.monotonic()
        bar = tqdm(desc="scoring", unit="member", file=sys.stderr, disable=None)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        phases = PhaseTimes()
        try:
            fit = prediction_fit_run(
                as_of=day, holdout_weeks=holdout_weeks, progress=progress, phases=phases
            )
        finally:
            bar.close()
        seconds = time.monotonic() - started
        if not fit.converged:
            raise CommandError(
                f"The fit as of {day} did not converge ({fit.error}); the members keep the "
                "last good model's scores."
            )
        currency = program_get().currency
        totals = MemberPrediction.objects.aggregate(
            p_alive=Avg("p_alive"), clv=Sum("predicted_clv_12m")
        )
        self.stdout.write(
            f"predictions: as of {fit.as_of}, {fit.members} members "
            f"({fit.repeat_members} with a repeat purchase) scored in {seconds:.1f}s, "
            f"time unit {fit.time_unit}"
        )
        self.stdout.write(f"phases: {phases}")
        self.stdout.write(
            f"BG/NBD: r={fit.r:.4f} alpha={fit.alpha:.4f} a={fit.a:.4f} b={fit.b:.4f} "
            f"log-likelihood={fit.bg_nbd_log_likelihood:.2f}"
        )
        self.stdout.write(f"Gamma-Gamma: p={fit.p:.4f} q={fit.q:.4f} gamma={fit.gamma:.4f}")
        if fit.members:
            self.stdout.write(
                f"mean P(alive) {totals['p_alive']:.3f}; predicted 12-month value "
                f"{totals['clv']:.2f} {currency} in all"
            )
        if fit.holdout:
            h = fit.holdout
            self.stdout.write(
                f"holdout: {h['weeks']} weeks after {h['calibration_end']}: predicted "
                f"{h['predicted']} purchases, actual {h['actual']}"
            )
