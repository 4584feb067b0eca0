"""The predictions: the nightly job on a generated population, the command, the API, and
a fit that fails keeping the last good model."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from metrics.models import MemberPrediction, PredictionFit
from metrics.predictions.fitting import BgNbd, GammaGamma
from metrics.predictions.inputs import DAYS_PER_WEEK, purchase_summary_get
from metrics.predictions.services import prediction_fit_run, predictions_score
from rewards.models import JobRun
from rewards.services.nightly import job_run_inline
from tests.metrics.history import members_create, purchase, refund, shop_get
from tests.metrics.population import TrueParameters, population_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db):
    user = User.objects.create_user("ana", password="s3cret-pass!", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_the_nightly_job_recovers_the_parameters_of_a_generated_population(program):
    truth = TrueParameters()
    end = population_create(members=3000, weeks=78, seed=16)

    run = job_run_inline(job_name="predictions", as_of=end + timedelta(hours=3))

    assert run.status == JobRun.Status.SUCCEEDED
    fit = PredictionFit.objects.get()
    assert fit.converged and fit.members == 3000 and fit.time_unit == "week"
    # 3,000 members pin the rate's distribution closely, the dropout's and the spend's
    # less so (their standard errors at this size are about 10-15%).
    assert fit.r == pytest.approx(truth.r, rel=0.15)
    assert fit.alpha == pytest.approx(truth.alpha, rel=0.15)
    assert fit.a == pytest.approx(truth.a, rel=0.25)
    assert fit.b == pytest.approx(truth.b, rel=0.25)
    assert fit.p == pytest.approx(truth.p, rel=0.2)
    assert fit.q == pytest.approx(truth.q, rel=0.2)
    assert fit.gamma == pytest.approx(truth.gamma, rel=0.2)
    # The mean spend the model implies, pγ/(q − 1), is pinned much tighter.
    assert fit.p * fit.gamma / (fit.q - 1) == pytest.approx(
        truth.p * truth.gamma / (truth.q - 1), rel=0.05
    )
    assert run.totals["members_scored"] == 3000
    assert MemberPrediction.objects.count() == 3000
    # The holdout check predicted the last 26 weeks' purchases within 10% overall.
    holdout = fit.holdout
    assert holdout["weeks"] == 26
    assert holdout["predicted"] == pytest.approx(holdout["actual"], rel=0.1)
    assert [group["repeat_purchases"] for group in holdout["by_frequency"]][-1] == "7+"


def small_history(program):
    """Three members: one with repeat purchases (one of them fully refunded, two on one
    day), one with a single purchase, one with none."""
    shop_get()
    regular, once, never = members_create(3, enrolled_at=datetime(2025, 1, 1, tzinfo=UTC))
    base = datetime(2025, 1, 6, 10, tzinfo=UTC)
    purchase(regular, "20.00", base)
    for week in (3, 9, 20, 30):
        purchase(regular, "30.00", base + timedelta(weeks=week))
    purchase(regular, "10.00", base + timedelta(weeks=30, hours=2))  # same day: one purchase
    refunded = purchase(regular, "99.00", base + timedelta(weeks=40))
    refund(refunded, "99.00", base + timedelta(weeks=40, days=1))
    purchase(once, "50.00", base + timedelta(weeks=2))
    # Enough other members with repeats to fit on.
    others = members_create(60, enrolled_at=datetime(2025, 1, 1, tzinfo=UTC), prefix="o")
    for i, member in enumerate(others):
        for k in range(i % 5 + 1):
            purchase(member, f"{10 + i % 7}.50", base + timedelta(days=3 * i + 17 * k))
    return regular, once, never


def test_the_inputs_are_net_of_full_refunds_and_count_a_day_once(program):
    regular, once, never = small_history(program)

    prediction_fit_run(as_of=date(2025, 12, 31), holdout_weeks=0)

    row = MemberPrediction.objects.get(member=regular)
    assert row.repeat_purchases == 4  # weeks 3, 9, 20, 30; the refunded one does not count
    assert row.recency == pytest.approx(30.0)
    assert row.historical_value == Decimal("150.0000")  # 20 + 4 × 30 + 10, without the 99
    assert MemberPrediction.objects.get(member=once).repeat_purchases == 0
    assert not MemberPrediction.objects.filter(member=never).exists()


def test_the_stored_predictions_are_the_scores_to_the_last_digit(program):
    small_history(program)

    fit = prediction_fit_run(as_of=date(2025, 12, 31), holdout_weeks=0)

    summary = purchase_summary_get(as_of=fit.as_of, tz=program.tz)
    p_alive, in_90, in_365, spend, clv = predictions_score(
        bg_nbd=BgNbd(fit.r, fit.alpha, fit.a, fit.b, fit.bg_nbd_log_likelihood),
        gamma_gamma=GammaGamma(fit.p, fit.q, fit.gamma, fit.gamma_gamma_log_likelihood),
        summary=summary,
    )
    rows = list(MemberPrediction.objects.order_by("member_id"))
    assert [row.member_id for row in rows] == summary.member_ids.tolist()
    assert len(rows) > 50
    for i, row in enumerate(rows):
        history = round(summary.total_spend[i], 4)
        assert (row.fit_id, row.repeat_purchases) == (fit.pk, int(summary.x[i]))
        assert row.recency == summary.t_x[i] / DAYS_PER_WEEK
        assert row.age == summary.T[i] / DAYS_PER_WEEK
        assert [row.p_alive, row.expected_purchases_90d, row.expected_purchases_365d] == [
            p_alive[i],
            in_90[i],
            in_365[i],
        ]
        assert [
            row.expected_spend,
            row.predicted_clv_12m,
            row.historical_value,
            row.value_at_risk,
        ] == [
            Decimal(f"{value:.4f}")
            for value in (spend[i], clv[i], history, history * (1.0 - p_alive[i]))
        ]


def test_before_the_first_fit_the_api_says_model_not_fitted(staff_client, program):
    response = staff_client.get("/api/v1/metrics/predictions")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_fitted"


def test_fit_predictions_prints_the_parameters_and_the_api_serves_them(staff_client, program):
    regular, once, never = small_history(program)
    out = io.StringIO()

    call_command("fit_predictions", "--as-of", "2025-12-31", stdout=out, stderr=io.StringIO())

    output = out.getvalue()
    assert output.startswith("predictions: as of 2025-12-31, 62 members")
    assert "BG/NBD: r=" in output and "Gamma-Gamma: p=" in output
    phases = next(line for line in output.splitlines() if line.startswith("phases: "))
    assert [part.split()[0] for part in phases.removeprefix("phases: ").split(", ")] == [
        "read",
        "fit",
        "holdout",
        "score",
        "write",
    ]
    body = staff_client.get("/api/v1/metrics/predictions").json()
    fit = PredictionFit.objects.get()
    assert body["as_of"] == "2025-12-31"
    assert body["time_unit"] == "week"
    assert body["bg_nbd"] == {
        "r": fit.r,
        "alpha": fit.alpha,
        "a": fit.a,
        "b": fit.b,
        "log_likelihood": fit.bg_nbd_log_likelihood,
    }
    assert set(body["gamma_gamma"]) == {"p", "q", "gamma", "log_likelihood"}
    assert "holdout" in body

    value = staff_client.get(f"/api/v1/metrics/members/{regular.external_id}").json()
    assert 0 < value["p_alive"] <= 1
    assert value["expected_purchases_365d"] > value["expected_purchases_90d"] > 0
    assert Decimal(value["predicted_clv_12m"]) > 0
    empty = staff_client.get(f"/api/v1/metrics/members/{never.external_id}").json()
    assert [empty[k] for k in ("p_alive", "predicted_clv_12m")] == [None, None]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday"], "--as-of must be a day such as 2026-01-31"),
        (["--as-of", "1999-12-31"], "--as-of must be a day between"),
        (["--holdout-weeks", "-1"], "--holdout-weeks must be between 0 and 520"),
    ],
)
def test_fit_predictions_refuses_bad_input_with_a_sentence(program, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("fit_predictions", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not PredictionFit.objects.exists()


def test_a_fit_that_fails_keeps_the_last_good_model_and_says_so(staff_client, program):
    regular, once, never = small_history(program)
    good = prediction_fit_run(as_of=date(2025, 12, 31), holdout_weeks=0)
    scores = list(MemberPrediction.objects.order_by("pk").values_list("pk", "p_alive", "fit"))

    # On the first day nobody has a repeat purchase yet: Gamma-Gamma has nothing to fit.
    run = job_run_inline(job_name="predictions", as_of=datetime(2025, 1, 8, 3, tzinfo=UTC))

    assert run.status == JobRun.Status.SUCCEEDED
    assert run.totals["fit_not_converged"] == 1
    failed = PredictionFit.objects.latest("pk")
    assert not failed.converged
    assert failed.error == "The Gamma-Gamma fit needs at least one repeat customer."
    assert (
        list(MemberPrediction.objects.order_by("pk").values_list("pk", "p_alive", "fit")) == scores
    )
    assert staff_client.get("/api/v1/metrics/predictions").json()["as_of"] == str(good.as_of)
    with pytest.raises(CommandError, match="did not converge"):
        call_command(
            "fit_predictions", "--as-of", "2025-01-07", stdout=io.StringIO(), stderr=io.StringIO()
        )
