"""The fitting code against the CDNOW sample and the papers' tables (tests/metrics/data)."""

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from metrics.predictions.fitting import (
    FitFailed,
    _BgNbdLikelihood,
    _compress,
    _GammaGammaLikelihood,
    bgnbd_fit,
    bgnbd_log_likelihood,
    gamma_gamma_fit,
    gamma_gamma_log_likelihood,
)
from metrics.predictions.inputs import purchase_summary_get
from rewards.models import Purchase
from tests.metrics.history import members_create, purchase_row, purchases_create, shop_get

DATA = Path(__file__).parent / "data"
CALIBRATION_END = date(1997, 9, 30)


def cdnow_summary() -> dict[str, np.ndarray]:
    with open(DATA / "cdnow_customers_summary_with_transactions.csv") as file:
        rows = list(csv.DictReader(file))
    return {key: np.array([float(row[key]) for row in rows]) for key in ("x", "t_x", "T", "zbar")}


def within_one_percent(value: float, paper: float) -> bool:
    return abs(value - paper) <= 0.01 * abs(paper)


def test_bg_nbd_reproduces_the_papers_table_on_cdnow():
    data = cdnow_summary()
    assert len(data["x"]) == 2357

    model = bgnbd_fit(data["x"], data["t_x"], data["T"])

    # Fader, Hardie & Lee (2005), section 5.
    for value, paper in [
        (model.r, 0.243),
        (model.alpha, 4.414),
        (model.a, 0.793),
        (model.b, 2.426),
        (model.log_likelihood, -9582.4),
    ]:
        assert within_one_percent(value, paper), (value, paper)


def test_gamma_gamma_reproduces_the_papers_table_on_cdnow():
    data = cdnow_summary()

    model = gamma_gamma_fit(data["x"], data["zbar"])

    # Fader & Hardie (2013): 946 repeat customers.
    assert (data["x"] > 0).sum() == 946
    for value, paper in [(model.p, 6.25), (model.q, 3.74), (model.gamma, 15.44)]:
        assert within_one_percent(value, paper), (value, paper)
    # Their expected mean spend of a customer with no repeat purchase: pγ/(q − 1) ≈ $35.
    assert float(model.expected_spend(0, 0)) == pytest.approx(6.25 * 15.44 / 2.74, rel=0.01)


def test_bg_nbd_predictions_match_the_papers_figures():
    data = cdnow_summary()
    model = bgnbd_fit(data["x"], data["t_x"], data["T"])

    # Fader, Hardie & Lee (2005), section 5: a customer with x = 2, t_x = 30.43 and
    # T = 38.86 is expected to make 1.226 purchases in the next 39 weeks.
    assert float(model.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, rel=0.01)
    # Somebody with no repeat purchase is alive for sure in the BG/NBD.
    assert float(model.p_alive(0, 0, 38.86)) == 1.0
    assert 0 < float(model.p_alive(2, 5, 38.86)) < float(model.p_alive(2, 30, 38.86)) < 1


def test_the_fits_likelihoods_give_the_row_by_row_likelihoods_to_the_last_bit():
    data = cdnow_summary()
    rows, weights = _compress(data["x"], data["t_x"], data["T"])
    bg_nbd = _BgNbdLikelihood(rows[:, 0], rows[:, 1], rows[:, 2], weights)
    repeat = data["x"] > 0
    spend_rows, spend_weights = _compress(data["x"][repeat], data["zbar"][repeat])
    gamma_gamma = _GammaGammaLikelihood(spend_rows[:, 0], spend_rows[:, 1], spend_weights)
    draw = np.random.default_rng(16)
    finite = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(50):
            params = np.exp(draw.normal(scale=2.0, size=4))
            pairs = [
                (bg_nbd(params), bgnbd_log_likelihood(params, *rows.T, weights)),
                (
                    gamma_gamma(params[:3]),
                    gamma_gamma_log_likelihood(params[:3], *spend_rows.T, spend_weights),
                ),
            ]
            for fast, row_by_row in pairs:
                assert np.array_equal(fast, row_by_row, equal_nan=True), (params, fast, row_by_row)
                finite += bool(np.isfinite(row_by_row))
    assert finite >= 50  # the draws reached real likelihoods, not only overflows


def test_compressing_gives_np_uniques_rows_and_counts():
    data = cdnow_summary()
    draw = np.random.default_rng(7)
    cases = [
        (data["x"], data["t_x"], data["T"]),
        (data["x"], data["zbar"]),
        tuple(draw.integers(0, 4, size=(3, 500)).astype(float) / 7),
        (np.zeros(0), np.zeros(0)),
    ]
    for columns in cases:
        rows, counts = _compress(*columns)
        unique, unique_counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
        assert np.array_equal(rows, unique)
        assert np.array_equal(counts, unique_counts.astype(float))
    assert len(_compress(*cases[2])[0]) < 500  # the random rows did repeat


def test_a_fit_without_repeat_customers_fails_instead_of_writing_nonsense():
    with pytest.raises(FitFailed):
        gamma_gamma_fit(np.zeros(10), np.zeros(10))
    with pytest.raises(FitFailed):
        bgnbd_fit(np.zeros(0), np.zeros(0), np.zeros(0))


@pytest.mark.django_db
def test_the_ledger_inputs_of_the_raw_cdnow_purchases_give_the_papers_summary(program):
    # The raw purchases, loaded as purchases, summarized by the engine's own selector:
    # same-day purchases count as one, days since the first purchase in weeks.
    lines = (DATA / "CDNOW_sample.txt").read_text().split("\n")
    purchases = [line.split() for line in lines if line.strip()]
    members = members_create(2357, enrolled_at=datetime(1997, 1, 1, tzinfo=UTC), prefix="cd")
    shop = shop_get()
    rows = []
    for _, number, day, _cds, value in purchases:
        at = datetime.strptime(day, "%Y%m%d").replace(hour=12, tzinfo=UTC)
        # Eight first purchases are worth $0.00, which the engine refuses; a cent keeps
        # them (first purchases don't enter the mean repeat spend).
        amount = max(Decimal(value), Decimal("0.01"))
        rows.append(purchase_row(members[int(number) - 1], amount, at, shop=shop))
    purchases_create(rows)
    assert Purchase.objects.count() == 6919

    summary = purchase_summary_get(as_of=CALIBRATION_END, tz=UTC)
    expected = cdnow_summary()
    t_x, T = summary.weeks()

    assert len(summary) == 2357
    assert summary.x.tolist() == expected["x"].tolist()
    assert np.allclose(t_x, expected["t_x"], atol=0.005)
    assert np.allclose(T, expected["T"], atol=0.005)
    assert np.allclose(summary.repeat_spend, expected["zbar"], atol=0.005)
    model = bgnbd_fit(summary.x, t_x, T)
    assert within_one_percent(model.r, 0.243) and within_one_percent(model.b, 2.426)
