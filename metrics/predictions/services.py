"""Fit the models and score every member: the `predictions` nightly job and
`manage.py fit_predictions`."""

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from metrics.models import MemberPrediction, PredictionFit
from metrics.predictions.fitting import (
    BgNbd,
    FitFailed,
    GammaGamma,
    bgnbd_fit,
    gamma_gamma_fit,
)
from metrics.predictions.inputs import DAYS_PER_WEEK, PurchaseSummary, fit_inputs_get
from rewards.selectors import program_get

logger = logging.getLogger(__name__)

WRITE_BATCH = 5000
# The holdout chart groups members by repeat purchases 0, 1, …, 6 and "7+".
HOLDOUT_GROUPS = 7
MONEY = Decimal("0.0001")


class PhaseTimes(dict):
    """Wall seconds per phase of a fit, in the order they ran: where a night's run went."""

    @contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self[phase] = self.get(phase, 0.0) + time.monotonic() - started

    def __str__(self) -> str:
        return ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in self.items())


def _money(values: np.ndarray) -> list[Decimal]:
    return [Decimal(f"{value:.4f}") for value in values]


def predictions_score(*, bg_nbd: BgNbd, gamma_gamma: GammaGamma, summary: PurchaseSummary):
    """Per-member scores as arrays: p_alive, expected purchases in 90 and 365 days,
    expected spend per purchase and the 12-month value (undiscounted: expected purchases
    in 365 days × expected spend)."""
    t_x, T = summary.weeks()
    p_alive = np.clip(bg_nbd.p_alive(summary.x, t_x, T), 0.0, 1.0)
    in_90 = bg_nbd.expected_purchases(90 / DAYS_PER_WEEK, summary.x, t_x, T)
    in_365 = bg_nbd.expected_purchases(365 / DAYS_PER_WEEK, summary.x, t_x, T)
    spend = gamma_gamma.expected_spend(summary.x, summary.repeat_spend)
    return p_alive, in_90, in_365, spend, in_365 * spend


def prediction_holdout_check(
    *, calibration: PurchaseSummary, actual: np.ndarray, calibration_end: date, weeks: int
) -> dict | None:
    """Fit on the purchases up to `calibration_end`, `weeks` weeks before the fit's day,
    predict each member's purchases in those weeks and compare with what they did
    (`actual`, per calibration member): in total and per number of repeat purchases in
    the calibration period (the papers' figure). None when the calibration period has no
    repeat purchaser to fit on."""
    if not len(calibration) or not (calibration.x > 0).any():
        return None
    t_x, T = calibration.weeks()
    try:
        model = bgnbd_fit(calibration.x, t_x, T)
    except FitFailed:
        return None
    predicted = model.expected_purchases(float(weeks), calibration.x, t_x, T)
    groups = np.minimum(calibration.x, HOLDOUT_GROUPS).astype(int)
    by_frequency = []
    for group in range(HOLDOUT_GROUPS + 1):
        chosen = groups == group
        if not chosen.any():
            continue
        by_frequency.append(
            {
                "repeat_purchases": f"{group}+" if group == HOLDOUT_GROUPS else str(group),
                "members": int(chosen.sum()),
                "predicted": round(float(predicted[chosen].mean()), 4),
                "actual": round(float(actual[chosen].mean()), 4),
            }
        )
    return {
        "weeks": weeks,
        "calibration_end": calibration_end.isoformat(),
        "members": len(calibration),
        "predicted": round(float(predicted.sum()), 2),
        "actual": round(float(actual.sum()), 2),
        "by_frequency": by_frequency,
    }


COLUMNS = (
    "member_id",
    "fit_id",
    "repeat_purchases",
    "recency",
    "age",
    "p_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_spend",
    "predicted_clv_12m",
    "historical_value",
    "value_at_risk",
)


def _text(values: np.ndarray, kind: str) -> list[str]:
    """One column as COPY text: what psycopg sends for the Python value (str of the int
    or float, the shortest text that reads back as the same float8) and, for money, the
    four-decimal text of the Decimals `_money` makes."""
    if kind == "money":
        return list(map("{:.4f}".format, values.tolist()))
    return list(map(str, values.tolist()))


def _predictions_write(
    *, fit: PredictionFit, summary: PurchaseSummary, scores, progress: Callable | None
) -> int:
    p_alive, in_90, in_365, spend, clv = scores
    history = np.round(summary.total_spend, 4)
    at_risk = history * (1.0 - p_alive)
    columns = [
        (summary.member_ids, "int"),
        (np.full(len(summary), fit.pk), "int"),
        (summary.x.astype(int), "int"),
        (summary.t_x / DAYS_PER_WEEK, "float"),
        (summary.T / DAYS_PER_WEEK, "float"),
        (p_alive, "float"),
        (in_90, "float"),
        (in_365, "float"),
        (spend, "money"),
        (clv, "money"),
        (history, "money"),
        (at_risk, "money"),
    ]
    MemberPrediction.objects.all().delete()
    if connection.vendor != "postgresql":
        return _predictions_create(columns, progress=progress)
    # PostgreSQL's COPY: a million rows in seconds, where INSERTs take minutes. One COPY,
    # fed a batch of lines at a time, so the server stores a batch while the next is
    # formatted.
    table = connection.ops.quote_name(MemberPrediction._meta.db_table)
    written = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for start in range(0, len(summary), WRITE_BATCH):
                part = slice(start, start + WRITE_BATCH)
                texts = [_text(values[part], kind) for values, kind in columns]
                lines = map("\t".join, zip(*texts, strict=True))
                copy.write("".join(f"{line}\n" for line in lines).encode())
                written += len(texts[0])
                if progress:
                    progress(written, len(summary))
    return written


def _predictions_create(columns: list[tuple[np.ndarray, str]], *, progress) -> int:
    total = len(columns[0][0])
    written = 0
    for start in range(0, total, WRITE_BATCH):
        part = slice(start, start + WRITE_BATCH)
        values = [
            _money(column[part]) if kind == "money" else column[part].tolist()
            for column, kind in columns
        ]
        MemberPrediction.objects.bulk_create(
            [
                MemberPrediction(**dict(zip(COLUMNS, row, strict=True)))
                for row in zip(*values, strict=True)
            ]
        )
        written += len(values[0])
        if progress:
            progress(written, total)
    return written


def prediction_fit_run(
    *,
    as_of: date,
    holdout_weeks: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    phases: PhaseTimes | None = None,
) -> PredictionFit:
    """Fit BG/NBD and Gamma-Gamma on every member's purchases up to the end of `as_of`
    (the program's time zone) and rewrite every member's prediction.

    A fit that does not converge is recorded with `converged` false and its reason, and
    the members' predictions are left as the last converged fit made them: a failed fit
    never writes scores. Safe to run twice: the second run rewrites the same rows.
    `phases`, when given, receives the wall seconds of each phase (also logged at INFO).
    """
    started = time.monotonic()
    phases = PhaseTimes() if phases is None else phases
    tz = program_get().tz
    weeks = settings.PREDICTIONS_HOLDOUT_WEEKS if holdout_weeks is None else holdout_weeks
    calibration_end = as_of - timedelta(weeks=weeks) if weeks else None
    with phases.timing("read"):
        inputs = fit_inputs_get(as_of=as_of, tz=tz, calibration_end=calibration_end)
    summary = inputs.summary
    fit = PredictionFit(
        as_of=as_of,
        time_unit="week",
        members=len(summary),
        repeat_members=int((summary.x > 0).sum()),
        converged=False,
        created_at=timezone.now(),
    )
    try:
        with phases.timing("fit"):
            t_x, T = summary.weeks()
            bg_nbd = bgnbd_fit(summary.x, t_x, T)
            gamma_gamma = gamma_gamma_fit(summary.x, summary.repeat_spend)
    except FitFailed as failure:
        fit.error = str(failure)
        fit.seconds = time.monotonic() - started
        fit.save()
        logger.warning("Predictions as of %s: %s; keeping the last good model.", as_of, failure)
        return fit
    fit.converged = True
    fit.r, fit.alpha, fit.a, fit.b = bg_nbd.r, bg_nbd.alpha, bg_nbd.a, bg_nbd.b
    fit.bg_nbd_log_likelihood = bg_nbd.log_likelihood
    fit.p, fit.q, fit.gamma = gamma_gamma.p, gamma_gamma.q, gamma_gamma.gamma
    fit.gamma_gamma_log_likelihood = gamma_gamma.log_likelihood
    if weeks:
        with phases.timing("holdout"):
            fit.holdout = prediction_holdout_check(
                calibration=inputs.calibration,
                actual=inputs.holdout_actual,
                calibration_end=calibration_end,
                weeks=weeks,
            )
    with phases.timing("score"):
        scores = predictions_score(bg_nbd=bg_nbd, gamma_gamma=gamma_gamma, summary=summary)
    with phases.timing("write"), transaction.atomic():
        fit.save()
        _predictions_write(fit=fit, summary=summary, scores=scores, progress=progress)
    fit.seconds = time.monotonic() - started
    fit.save(update_fields=["seconds"])
    logger.info(
        "Predictions as of %s: %s members in %.1f s (%s).", as_of, fit.members, fit.seconds, phases
    )
    return fit


def fit_day(as_of: datetime) -> date:
    """The last whole day before `as_of`, in the program's time zone: the nightly run at
    03:30 on the 2nd fits on purchases up to the end of the 1st."""
    return as_of.astimezone(program_get().tz).date() - timedelta(days=1)


def predictions_nightly_fit(*, after: int, upto: int | None, as_of: datetime) -> Counter:
    """The `predictions` nightly job (process_chunk: one chunk; the id range is unused)."""
    fit = prediction_fit_run(as_of=fit_day(as_of))
    outcome = Counter(members_scored=fit.members if fit.converged else 0)
    if not fit.converged:
        # The run log's totals say it; the fit's row says why.
        outcome["fit_not_converged"] = 1
    outcome["items"] = outcome["members_scored"]
    return outcome
