"""BG/NBD and Gamma-Gamma: maximum-likelihood fits and per-customer predictions.

Pure numpy/scipy, no Django: the inputs are arrays, so the fitting code is tested on the
CDNOW sample directly (tests/metrics/test_prediction_fitting.py).

- BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an
  alternative to the Pareto/NBD model", Marketing Science 24(2). Equations (6), (10), (11)
  and the P(alive) of their note "Computing P(alive) using the BG/NBD model" (2008).
- Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma model of monetary value",
  equations (1) and (5).

Why scipy rather than a library: `lifetimes` is no longer maintained (its last release is
from 2020 and it pins old pandas), and `pymc-marketing` brings PyMC and a compiler
toolchain for a four-parameter likelihood. The likelihoods are a dozen lines each.

Inputs per customer: x repeat purchases (purchase days after the first), t_x the time from
the first to the last purchase day, T the time from the first purchase day to the end of
the calibration period, in one time unit (weeks here).

Customers with identical (x, t_x, T) contribute identical terms, so the likelihood is
evaluated once per distinct triple, weighted by its count: with purchase days on a daily
grid a million customers collapse to far fewer rows.
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special


class FitFailed(Exception):
    """The optimizer did not converge to finite, positive parameters."""


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    iterations: int = 0

    def p_alive(self, x, t_x, T) -> np.ndarray:
        """P(alive | x, t_x, T): 1 for customers with no repeat purchase."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T))

    def _odds_dead(self, x, t_x, T) -> np.ndarray:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
        return np.where(x > 0, np.exp(np.minimum(log_odds, 700.0)), 0.0)

    def expected_purchases(self, t: float, x, t_x, T) -> np.ndarray:
        """E[X(T, T + t) | x, t_x, T]: expected purchases in the next `t` time units
        (Fader, Hardie & Lee 2005, equation 10)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        head = (a + b + x - 1) / (a - 1)
        tail = 1.0 - np.power((alpha + T) / (alpha + T + t), r + x) * hyp
        return head * tail / (1.0 + self._odds_dead(x, t_x, T))

    def expected_purchases_new(self, t) -> np.ndarray:
        """E[X(t)] for a customer just acquired (equation 7)."""
        t = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1.0 - np.power(alpha / (alpha + t), r) * hyp)


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float
    iterations: int = 0

    def expected_spend(self, x, mean_spend) -> np.ndarray:
        """E[M | p, q, γ, m_x, x] (Fader & Hardie 2013, equation 5): the population mean
        p·γ/(q − 1) for customers with no repeat purchase."""
        x = np.asarray(x, dtype=float)
        m = np.asarray(mean_spend, dtype=float)
        p, q, gamma = self.p, self.q, self.gamma
        population = p * gamma / (q - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            individual = (gamma + m * x) * p / (p * x + q - 1)
        return np.where(x > 0, individual, population)


def _compress(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows in lexicographic order and how often each occurs: what
    np.unique(axis=0, return_counts=True) gives, by one lexsort of the columns, where
    np.unique sorts the rows as records (a second a million rows, against a quarter)."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    ordered = stacked[np.lexsort(stacked.T[::-1])]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(ordered)))
    return ordered[starts], counts.astype(float)


def bgnbd_log_likelihood(params, x, t_x, T, weights=None) -> float:
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    weights = np.ones_like(x) if weights is None else weights
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return float(np.sum(weights * (a1 + a2 + np.logaddexp(a3, a4))))


class _BgNbdLikelihood:
    """`bgnbd_log_likelihood` for the optimizer's hundreds of calls on the same rows.

    x, t_x and T each take a few hundred distinct values on a grid of days, however many
    customers there are, so the gammaln and log terms are evaluated once per distinct
    value and gathered into the rows: the same numbers in the same order as evaluating
    them row by row (tests/metrics/test_prediction_fitting.py holds them equal), at a
    fraction of the work.
    """

    def __init__(self, x, t_x, T, weights):
        self.xs, self.x_at = np.unique(np.asarray(x, dtype=float), return_inverse=True)
        self.ts, t_at = np.unique(np.asarray(t_x, dtype=float), return_inverse=True)
        self.Ts, self.T_at = np.unique(np.asarray(T, dtype=float), return_inverse=True)
        self.repeat = np.asarray(x) > 0
        self.x_at_repeat, self.t_at_repeat = self.x_at[self.repeat], t_at[self.repeat]
        self.weights = weights

    def __call__(self, params) -> float:
        r, alpha, a, b = params
        xs = self.xs
        a1 = special.gammaln(r + xs) - special.gammaln(r) + r * np.log(alpha)
        a2 = (
            special.gammaln(a + b)
            + special.gammaln(b + xs)
            - special.gammaln(b)
            - special.gammaln(a + b + xs)
        )
        a3 = (-(r + xs))[self.x_at] * np.log(alpha + self.Ts)[self.T_at]
        a4 = np.full_like(a3, -np.inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Only the repeat customers' terms are gathered; x = 0 gives log(b − 1).
            head = np.log(a) - np.log(b + xs - 1)
        a4[self.repeat] = (
            head[self.x_at_repeat]
            - (r + xs)[self.x_at_repeat] * np.log(alpha + self.ts)[self.t_at_repeat]
        )
        return float(np.sum(self.weights * ((a1 + a2)[self.x_at] + np.logaddexp(a3, a4))))


class _GammaGammaLikelihood:
    """`gamma_gamma_log_likelihood` for the optimizer's calls on the same rows: the terms
    of x alone once per distinct x, log(m) and m·x once per fit; the same numbers in the
    same order (tests/metrics/test_prediction_fitting.py holds them equal)."""

    def __init__(self, x, mean_spend, weights):
        x = np.asarray(x, dtype=float)
        m = np.asarray(mean_spend, dtype=float)
        self.xs, self.x_at = np.unique(x, return_inverse=True)
        self.log_m = np.log(m)
        self.m_x = m * x
        self.weights = weights

    def __call__(self, params) -> float:
        p, q, gamma = params
        px = p * self.xs
        head = special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
        head = head + q * np.log(gamma)
        at = self.x_at
        ll = (
            head[at]
            + (px - 1)[at] * self.log_m
            + (px * np.log(self.xs))[at]
            - (px + q)[at] * np.log(gamma + self.m_x)
        )
        return float(np.sum(self.weights * ll))


def _minimize(negative_ll, start: np.ndarray, *, name: str):
    # Parameters are fitted on the log scale, so they stay positive without bounds.
    result = optimize.minimize(
        negative_ll, np.log(start), method="L-BFGS-B", options={"maxiter": 500}
    )
    if not result.success:
        # L-BFGS-B sometimes stops on a flat ridge; Nelder-Mead from there settles it.
        result = optimize.minimize(
            negative_ll,
            result.x,
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-8},
        )
    params = np.exp(result.x)
    if not result.success or not np.all(np.isfinite(params)) or not np.isfinite(result.fun):
        raise FitFailed(f"The {name} fit did not converge: {result.message}")
    return params, -float(result.fun), int(result.nit)


def bgnbd_fit(x, t_x, T, *, start=(1.0, 1.0, 1.0, 1.0)) -> BgNbd:
    """Maximum-likelihood BG/NBD. Raises FitFailed when it does not converge."""
    rows, weights = _compress(x, t_x, T)
    if len(rows) == 0:
        raise FitFailed("The BG/NBD fit needs at least one customer.")
    likelihood = _BgNbdLikelihood(rows[:, 0], rows[:, 1], rows[:, 2], weights)
    # Scale the objective to one customer's share so the tolerances mean the same at any
    # population size.
    total = weights.sum()

    def negative_ll(log_params):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value = -likelihood(np.exp(log_params)) / total
        return value if np.isfinite(value) else 1e100

    params, ll, iterations = _minimize(negative_ll, np.asarray(start, float), name="BG/NBD")
    r, alpha, a, b = (float(v) for v in params)
    return BgNbd(
        r=r, alpha=alpha, a=a, b=b, log_likelihood=float(ll * total), iterations=iterations
    )


def gamma_gamma_log_likelihood(params, x, mean_spend, weights=None) -> float:
    p, q, gamma = params
    x = np.asarray(x, dtype=float)
    m = np.asarray(mean_spend, dtype=float)
    weights = np.ones_like(x) if weights is None else weights
    px = p * x
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m * x)
    )
    return float(np.sum(weights * ll))


def gamma_gamma_fit(x, mean_spend, *, start=(1.0, 1.0, 1.0)) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma over repeat customers (x > 0, mean spend > 0) only;
    the others are ignored. Raises FitFailed when it does not converge."""
    x = np.asarray(x, dtype=float)
    m = np.asarray(mean_spend, dtype=float)
    keep = (x > 0) & (m > 0)
    rows, weights = _compress(x[keep], m[keep])
    if len(rows) == 0:
        raise FitFailed("The Gamma-Gamma fit needs at least one repeat customer.")
    likelihood = _GammaGammaLikelihood(rows[:, 0], rows[:, 1], weights)
    total = weights.sum()

    def negative_ll(log_params):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value = -likelihood(np.exp(log_params)) / total
        return value if np.isfinite(value) else 1e100

    params, ll, iterations = _minimize(negative_ll, np.asarray(start, float), name="Gamma-Gamma")
    p, q, gamma = (float(v) for v in params)
    if q <= 1:
        # The expected spend p·γ/(q − 1) has no finite mean below q = 1.
        raise FitFailed(f"The Gamma-Gamma fit gave q = {q:.3f} ≤ 1: no finite mean spend.")
    return GammaGamma(
        p=p, q=q, gamma=gamma, log_likelihood=float(ll * total), iterations=iterations
    )
