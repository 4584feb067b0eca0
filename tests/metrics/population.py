"""A purchase history drawn from the BG/NBD and Gamma-Gamma models with known parameters,
written straight into the tables in bulk (as tests/metrics/history.py): for the nightly
job's recovery test and the predictions benchmark (bench/predictions.py)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from members.models import Member, Shop
from rewards.models import Purchase

START = datetime(2024, 1, 1, 12, tzinfo=UTC)


@dataclass(frozen=True)
class TrueParameters:
    r: float = 0.5
    alpha: float = 6.0  # weeks
    a: float = 0.8
    b: float = 3.0
    p: float = 6.0
    q: float = 4.0
    gamma: float = 15.0


def population_draw(
    *, members: int, weeks: float, acquisition_weeks: float, seed: int, truth=TrueParameters()
):
    """Per member: purchase times in weeks from START (the first is the acquisition) and
    the amounts. Purchases follow a Poisson process of rate λ ~ Gamma(r, α) until the
    member drops out, with probability p ~ Beta(a, b) after each repeat purchase; amounts are
    Gamma(p, ν) with ν ~ Gamma(q, γ)."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(truth.r, 1 / truth.alpha, members)
    dropout = rng.beta(truth.a, truth.b, members)
    spend_rate = rng.gamma(truth.q, 1 / truth.gamma, members)
    histories = []
    for i in range(members):
        t = rng.uniform(0, acquisition_weeks)
        times = [t]
        while True:
            t += rng.exponential(1 / rates[i])
            if t >= weeks:
                break
            times.append(t)
            # As in the BG/NBD, a member may drop out after each repeat purchase (not
            # after the first).
            if rng.random() < dropout[i]:
                break
        amounts = rng.gamma(truth.p, 1 / spend_rate[i], len(times))
        histories.append((times, np.maximum(np.round(amounts, 2), 0.01)))
    return histories


def population_create(
    *, members: int, weeks: float, acquisition_weeks: float = 12, seed: int = 16, prefix="gen"
) -> datetime:
    """Write a drawn population; returns the end of the observed period."""
    shop = Shop.objects.get_or_create(name="Generated")[0]
    histories = population_draw(
        members=members, weeks=weeks, acquisition_weeks=acquisition_weeks, seed=seed
    )
    rows = Member.objects.bulk_create(
        [Member(external_id=f"{prefix}-{i:07d}", enrolled_at=START) for i in range(members)],
        batch_size=2000,
    )
    purchases = []
    number = 0
    for member, (times, amounts) in zip(rows, histories, strict=True):
        for at, amount in zip(times, amounts, strict=True):
            number += 1
            moment = START + timedelta(weeks=float(at))
            purchases.append(
                Purchase(
                    shop=shop,
                    member=member,
                    order_id=f"{prefix}-{number}",
                    amount=Decimal(f"{amount:.2f}"),
                    currency="EUR",
                    occurred_at=moment,
                    created_at=moment,
                    points_earned=int(amount),
                    request_hash=f"{prefix}-{number}",
                    response={},
                )
            )
        if len(purchases) >= 5000:
            Purchase.objects.bulk_create(purchases)
            purchases = []
    Purchase.objects.bulk_create(purchases)
    return START + timedelta(weeks=weeks)
