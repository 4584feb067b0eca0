"""The purchase days the predictions and segments read: PostgreSQL's hand-written query
(refunds summed once and joined) gives the ORM query's rows exactly, refunds, time zones
and the `since` window included."""

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from metrics.predictions.inputs import _purchase_days_sql_joined, _purchase_days_sql_orm
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
