"""The purchase days the predictions and segments read: PostgreSQL's hand-written query
(refunds summed once and joined) gives the ORM query's rows exactly, refunds, time zones
and the `since` window included; and the fit's one-pass read gives exactly what the
summaries built on those days give."""

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.db import connection

from metrics.predictions.inputs import (
    FitInputs,
    PurchaseSummary,
    _fit_inputs_by_summaries,
    _fit_inputs_one_pass,
    _purchase_days_sql_joined,
    _purchase_days_sql_orm,
    fit_inputs_get,
)
from tests.metrics.history import members_create, purchase, refund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _rows(sql_and_params) -> list[tuple]:
    sql, params = sql_and_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(cursor.fetchall())


def test_the_joined_query_gives_the_orm_querys_rows(program):
    draw = random.Random(18)
    members = members_create(12, enrolled_at=datetime(2024, 1, 1, tzinfo=UTC))
    for member in members:
        for _ in range(draw.randint(1, 9)):
            # Late evening UTC: the day differs between UTC and Stockholm.
            at = datetime(2024, 1, 1, 22, 30, tzinfo=UTC) + timedelta(
                days=draw.randint(0, 500), minutes=draw.randint(0, 120)
            )
            bought = purchase(member, Decimal(draw.randint(100, 9000)) / 100, at)
            roll = draw.random()
            if roll < 0.2:
                refund(bought, bought.amount, at + timedelta(days=draw.randint(1, 60)))
            elif roll < 0.4:
                refund(bought, (bought.amount / 3).quantize(Decimal("0.01")), at + timedelta(1))
                refund(bought, Decimal("0.50"), at + timedelta(days=draw.randint(2, 200)))
    cases = 0
    for zone in (UTC, ZoneInfo("Europe/Stockholm")):
        for as_of in (date(2024, 6, 30), date(2024, 12, 31), date(2025, 6, 1)):
            for since in (None, as_of - timedelta(days=90)):
                orm = _rows(_purchase_days_sql_orm(as_of=as_of, tz=zone, since=since))
                joined = _rows(_purchase_days_sql_joined(as_of=as_of, tz=zone, since=since))
                assert joined == orm, (zone, as_of, since)
                cases += bool(orm)
    assert cases >= 10  # the comparison saw rows, not only empty results


def _assert_same_inputs(one_pass: FitInputs, summaries: FitInputs) -> None:
    pairs = [(one_pass.summary, summaries.summary)]
    if summaries.calibration is not None:
        pairs.append((one_pass.calibration, summaries.calibration))
        assert np.array_equal(one_pass.holdout_actual, summaries.holdout_actual)
        assert one_pass.holdout_actual.dtype == summaries.holdout_actual.dtype
    else:
        assert one_pass.calibration is None and one_pass.holdout_actual is None
    for ours, theirs in pairs:
        for field in dataclasses.fields(PurchaseSummary):
            mine, reference = getattr(ours, field.name), getattr(theirs, field.name)
            # Equal to the last bit, not approximately: the fits must not move.
            assert mine.dtype == reference.dtype, field.name
            assert np.array_equal(mine, reference), field.name


def test_the_one_pass_read_gives_both_summaries_and_the_holdout_actuals_exactly(program):
    draw = random.Random(16)
    start = datetime(2024, 1, 1, 22, 30, tzinfo=UTC)
    members = members_create(15, enrolled_at=start)
    for member in members:
        for _ in range(draw.randint(1, 12)):
            at = start + timedelta(days=draw.randint(0, 700), minutes=draw.randint(0, 120))
            amount = Decimal(draw.randint(100, 900_000)) / 10_000  # four decimals
            bought = purchase(member, amount, at)
            roll = draw.random()
            if roll < 0.2:
                refund(bought, bought.amount, at + timedelta(days=draw.randint(1, 200)))
            elif roll < 0.4:
                refund(bought, (bought.amount / 3).quantize(Decimal("0.0001")), at + timedelta(1))
                refund(bought, Decimal("0.0100"), at + timedelta(days=draw.randint(2, 200)))
    # Counted in the calibration period only: refunded in full after its end.
    held_only = members_create(1, enrolled_at=start)[0]
    bought = purchase(held_only, "25.00", datetime(2025, 3, 1, 12, tzinfo=UTC))
    refund(bought, "25.00", datetime(2025, 11, 1, 12, tzinfo=UTC))
    # Bought only after the calibration end.
    purchase(members_create(1, enrolled_at=start)[0], "9.99", datetime(2025, 11, 2, tzinfo=UTC))
    cases = 0
    for zone in (UTC, ZoneInfo("Europe/Stockholm")):
        for as_of in (date(2024, 6, 30), date(2025, 6, 1), date(2025, 12, 31)):
            for calibration_end in (None, as_of - timedelta(weeks=26)):
                one_pass = _fit_inputs_one_pass(
                    as_of=as_of, tz=zone, calibration_end=calibration_end
                )
                summaries = _fit_inputs_by_summaries(
                    as_of=as_of, tz=zone, calibration_end=calibration_end
                )
                _assert_same_inputs(one_pass, summaries)
                cases += len(summaries.summary) > 0
    assert cases >= 10  # the comparison saw members, not only empty summaries
    as_of, calibration_end = date(2025, 12, 31), date(2025, 7, 2)
    inputs = _fit_inputs_one_pass(as_of=as_of, tz=UTC, calibration_end=calibration_end)
    assert held_only.pk in inputs.calibration.member_ids
    assert held_only.pk not in inputs.summary.member_ids
    assert inputs.holdout_actual.sum() > 0


def test_money_past_the_exact_float_range_is_read_as_numeric(program):
    member = members_create(1, enrolled_at=datetime(2024, 1, 1, tzinfo=UTC))[0]
    # 10¹⁶ + 1 units of 0.0001: no float8 holds it, so the float sums would be off.
    purchase(member, "1000000000000.0001", datetime(2025, 1, 1, 12, tzinfo=UTC))
    purchase(member, "5.0000", datetime(2025, 2, 1, 12, tzinfo=UTC))
    as_of, calibration_end = date(2025, 12, 31), date(2025, 7, 2)

    assert _fit_inputs_one_pass(as_of=as_of, tz=UTC, calibration_end=calibration_end) is None
    inputs = fit_inputs_get(as_of=as_of, tz=UTC, calibration_end=calibration_end)

    assert inputs.summary.total_spend[0] == float(Decimal("1000000000005.0001"))
    _assert_same_inputs(
        inputs,
        _fit_inputs_by_summaries(as_of=as_of, tz=UTC, calibration_end=calibration_end),
    )
