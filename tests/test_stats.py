"""loyaltymetrics.stats: published and hand-computed values, coverage, monotonicity, errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

import loyaltymetrics as lm
from loyaltymetrics import stats
from loyaltymetrics.stats import nps_bounds, proportion_bounds

Z95 = 1.959963984540054

# --------------------------------------------------------------- proportions


def test_wilson_hand_computed() -> None:
    # Wilson (1927): centre (p + z²/2n)/(1 + z²/n), half-width z/(1+z²/n)·sqrt(p(1-p)/n + z²/4n²)
    x, n = 45, 100
    p = x / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    ci = stats.proportion_interval(x, n)
    assert ci.estimate == 0.45
    assert ci.low == pytest.approx(centre - half, rel=1e-12)
    assert ci.high == pytest.approx(centre + half, rel=1e-12)
    assert (round(ci.low, 4), round(ci.high, 4)) == (0.3561, 0.5476)


def test_wilson_equals_inverted_score_test() -> None:
    # the Wilson bounds are the p0 at which the score statistic equals ±z
    ci = stats.proportion_interval(7, 23)
    for bound in (ci.low, ci.high):
        score = (7 / 23 - bound) / math.sqrt(bound * (1 - bound) / 23)
        assert abs(score) == pytest.approx(Z95, rel=1e-9)


def test_agresti_coull_and_wald_hand_computed() -> None:
    x, n = 8, 40
    n_t = n + Z95**2
    p_t = (x + Z95**2 / 2) / n_t
    half = Z95 * math.sqrt(p_t * (1 - p_t) / n_t)
    ci = stats.proportion_interval(x, n, method="agresti_coull")
    assert (ci.low, ci.high) == pytest.approx((p_t - half, p_t + half), rel=1e-12)
    wald = stats.proportion_interval(x, n, method="wald")
    w_half = Z95 * math.sqrt(0.2 * 0.8 / 40)
    assert (wald.low, wald.high) == pytest.approx((0.2 - w_half, 0.2 + w_half), rel=1e-12)
    # Wald has zero width at 0: the known defect Wilson fixes
    zero = stats.proportion_interval(0, 10, method="wald")
    assert zero.low == zero.high == 0.0
    assert stats.proportion_interval(0, 10).high > 0.2


def test_clopper_pearson_exact_tail_property() -> None:
    # Clopper & Pearson (1934): P(X >= x | low) = alpha/2 and P(X <= x | high) = alpha/2
    x, n = 3, 25
    ci = stats.proportion_interval(x, n, method="clopper_pearson")
    assert sps.binom.sf(x - 1, n, ci.low) == pytest.approx(0.025, rel=1e-8)
    assert sps.binom.cdf(x, n, ci.high) == pytest.approx(0.025, rel=1e-8)
    # x = 0: the one-sided bound 1 - (alpha/2)^(1/n)
    zero = stats.proportion_interval(0, 25, method="clopper_pearson")
    assert zero.low == 0.0
    assert zero.high == pytest.approx(1 - 0.025 ** (1 / 25), rel=1e-10)


def test_proportion_interval_empty_sample_is_nan() -> None:
    ci = stats.proportion_interval(0, 0)
    assert math.isnan(ci.estimate)
    assert math.isnan(ci.low)
    assert math.isnan(ci.high)


@pytest.mark.parametrize("method", ["wilson", "agresti_coull", "clopper_pearson", "wald"])
@given(n=st.integers(1, 500), frac=st.floats(0, 1), conf=st.floats(0.5, 0.999))
def test_proportion_interval_properties(method: Any, n: int, frac: float, conf: float) -> None:
    x = round(frac * n)
    ci = stats.proportion_interval(x, n, confidence=conf, method=method)
    assert 0.0 <= ci.low <= ci.high <= 1.0
    assert ci.low - 1e-12 <= ci.estimate <= ci.high + 1e-12 or method == "agresti_coull"
    wider = stats.proportion_interval(x, n, confidence=min(conf + 0.0005, 0.9999), method=method)
    assert wider.high - wider.low >= ci.high - ci.low - 1e-12
    bigger = stats.proportion_interval(4 * x, 4 * n, confidence=conf, method=method)
    assert bigger.high - bigger.low <= ci.high - ci.low + 1e-12  # narrows with n


def _coverage_props(method: str, p: float, n: int, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x = rng.binomial(n, p, size=reps).astype(float)
    low, high = proportion_bounds(x, np.full(reps, float(n)), Z95, 0.95, method)
    return float(np.mean((low <= p) & (p <= high)))


@pytest.mark.parametrize("n", [30, 100, 1000])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_wilson_coverage_is_near_nominal(n: int, p: float) -> None:
    # seeded Monte Carlo: 20,000 samples; Wilson's coverage oscillates around 0.95 and stays
    # within about 0.93-0.98 (Brown, Cai & DasGupta 2001, fig. 4)
    coverage = _coverage_props("wilson", p, n, 20_000, seed=n * 10 + int(p * 10))
    assert 0.925 <= coverage <= 0.98


def test_compare_proportions_newcombe_published_example() -> None:
    # Newcombe (1998), Table II example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    c = stats.compare_proportions(56, 70, 48, 80)
    assert c.difference == pytest.approx(0.2)
    assert c.low == pytest.approx(0.0524, abs=5e-5)
    assert c.high == pytest.approx(0.3339, abs=5e-5)


def test_compare_proportions_z_test_hand_computed() -> None:
    c = stats.compare_proportions(60, 100, 45, 100)
    pooled = 105 / 200
    z = 0.15 / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert c.statistic == pytest.approx(z, rel=1e-12)
    assert c.p_value == pytest.approx(2 * sps.norm.sf(z), rel=1e-12)
    same = stats.compare_proportions(5, 10, 50, 100)
    assert same.difference == 0.0
    assert same.p_value == pytest.approx(1.0)


# ------------------------------------------------------------------------ NPS

ANSWERS_45_40_15 = [10] * 45 + [8] * 40 + [0] * 15


def test_nps_interval_worked_example() -> None:
    # DEFINITIONS.md §1a/§1b: n=100, 45/40/15 -> Wald SE 7.14, MoE ±14.0; adjusted Wald
    # estimate 29.13, SE 7.05, CI [15.3, 42.9]
    wald = stats.nps_interval(ANSWERS_45_40_15, method="wald")
    se = 100 * math.sqrt((0.45 + 0.15 - 0.30**2) / 100)
    assert se == pytest.approx(7.141, abs=5e-4)
    assert wald.estimate == 30.0
    assert (wald.low, wald.high) == pytest.approx((30 - Z95 * se, 30 + Z95 * se), rel=1e-12)
    adj = stats.nps_interval(ANSWERS_45_40_15)
    assert adj.method == "adjusted_wald"
    assert adj.estimate == 30.0  # the reported estimate is the sample's NPS
    assert (round(adj.low, 1), round(adj.high, 1)) == (15.3, 42.9)
    assert (adj.low + adj.high) / 2 == pytest.approx(100 * 30 / 103, abs=1e-9)  # 29.13


def test_nps_interval_extreme_shares_and_empty() -> None:
    all_promoters = [10] * 12
    wald = stats.nps_interval(all_promoters, method="wald")
    assert wald.low == wald.high == 100.0  # zero width: why Wald is not the default
    adj = stats.nps_interval(all_promoters)
    assert adj.low < 100.0
    assert adj.high == 100.0  # clipped
    empty = stats.nps_interval([None, None])
    assert math.isnan(empty.estimate)
    assert math.isnan(empty.low)
    assert empty.n == 0


def test_nps_interval_weighted_uses_kish_effective_n() -> None:
    answers = [10, 9, 8, 3, 1]
    weights = [1.0, 2.0, 1.0, 3.0, 1.0]
    ci = stats.nps_interval(answers, weights=weights, method="wald")
    n_eff = sum(weights) ** 2 / sum(w * w for w in weights)
    p, d = 3 / 8, 4 / 8
    se = 100 * math.sqrt((p + d - (p - d) ** 2) / n_eff)
    assert ci.n == pytest.approx(n_eff)
    assert ci.estimate == pytest.approx(lm.nps(answers, weights=weights))
    expected = (max(ci.estimate - Z95 * se, -100.0), min(ci.estimate + Z95 * se, 100.0))
    assert (ci.low, ci.high) == pytest.approx(expected)
    # equal weights: the effective n is the count
    assert stats.nps_interval(answers, weights=[2.0] * 5).n == pytest.approx(5.0)


def test_nps_bootstrap_is_seeded() -> None:
    a = stats.nps_interval(ANSWERS_45_40_15, method="bootstrap", seed=7)
    b = stats.nps_interval(ANSWERS_45_40_15, method="bootstrap", seed=7)
    assert a == b
    assert a.low < 30.0 < a.high
    # close to the Wald interval at n = 100
    wald = stats.nps_interval(ANSWERS_45_40_15, method="wald")
    assert a.low == pytest.approx(wald.low, abs=2.0)
    assert a.high == pytest.approx(wald.high, abs=2.0)


def _coverage_nps(method: str, p: float, d: float, n: int, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [p, 1 - p - d, d], size=reps)
    nn = np.full(reps, float(n))
    low, high = nps_bounds(counts[:, 0] / n, counts[:, 2] / n, nn, Z95, method)
    true = 100 * (p - d)
    return float(np.mean((low <= true) & (true <= high)))


@pytest.mark.parametrize("n", [30, 100, 1000])
@pytest.mark.parametrize(("p", "d"), [(0.45, 0.15), (0.30, 0.30), (0.70, 0.05)])
def test_adjusted_wald_nps_coverage_is_near_nominal(n: int, p: float, d: float) -> None:
    # DEFINITIONS.md §1b coverage table: adjusted Wald within ±0.02 of 0.95
    coverage = _coverage_nps("adjusted_wald", p, d, n, 20_000, seed=n + int(100 * p))
    assert 0.93 <= coverage <= 0.97


def test_wald_nps_undercovers_at_extreme_shares() -> None:
    # the same simulation can fail: Wald at (0.90, 0.02), n = 10 covers far below 0.95
    assert _coverage_nps("wald", 0.90, 0.02, 10, 20_000, seed=1) < 0.80


@given(
    st.lists(st.integers(0, 10), min_size=1, max_size=60),
    st.sampled_from(["adjusted_wald", "wald"]),
)
def test_nps_interval_properties(answers: list[int], method: Any) -> None:
    ci = stats.nps_interval(answers, method=method)
    assert -100.0 <= ci.low <= ci.high <= 100.0
    assert ci.estimate == pytest.approx(lm.nps(answers))
    if method == "wald":
        assert ci.low - 1e-9 <= ci.estimate <= ci.high + 1e-9
    # repeating every answer 4 times narrows the interval
    more = stats.nps_interval(answers * 4, method=method)
    assert more.high - more.low <= ci.high - ci.low + 1e-9


def test_compare_nps_worked_example() -> None:
    # DEFINITIONS.md §1c: A = 45/40/15 vs B = 30/45/25, n = 100 each: adjusted difference
    # 24.3, z = 2.39, p = 0.017
    b = [9] * 30 + [7] * 45 + [6] * 25
    c = stats.compare_nps(ANSWERS_45_40_15, b)
    assert c.difference == pytest.approx(25.0)
    assert (c.low + c.high) / 2 == pytest.approx(24.27, abs=0.01)
    assert round(c.statistic, 2) == 2.39
    assert round(c.p_value, 3) == 0.017
    assert c.low > 0
    flipped = stats.compare_nps(b, ANSWERS_45_40_15)
    assert flipped.statistic == pytest.approx(-c.statistic)
    assert flipped.p_value == pytest.approx(c.p_value)


# -------------------------------------------------------------------- means


def test_mean_interval_hand_computed() -> None:
    x = np.array([5, 4, 4, 3, 5, 4], dtype=float)
    ci = stats.mean_interval(x)
    half = sps.t.ppf(0.975, 5) * x.std(ddof=1) / math.sqrt(6)
    assert (ci.low, ci.high) == pytest.approx((x.mean() - half, x.mean() + half), rel=1e-12)
    assert ci.estimate == pytest.approx(lm.csat(x, method="mean"))
    single = stats.mean_interval([4])
    assert single.estimate == 4.0
    assert math.isnan(single.low)


def test_mean_interval_integer_weights_match_kish_formula() -> None:
    ci = stats.mean_interval([1, 5], weights=[1, 3])
    n_eff = 16 / 10
    mean = 4.0
    var = (1 * 9 + 3 * 1) / 4 * n_eff / (n_eff - 1)
    half = sps.t.ppf(0.975, n_eff - 1) * math.sqrt(var / n_eff)
    assert ci.estimate == mean
    assert ci.n == pytest.approx(n_eff)
    assert (ci.low, ci.high) == pytest.approx((mean - half, mean + half))


# -------------------------------------------------------------- sample size


@pytest.mark.parametrize(
    ("margin", "shares", "expected"),
    # DEFINITIONS.md §1c table
    [
        (10, None, 385),
        (5, None, 1537),
        (3, None, 4269),
        (10, (1 / 3, 1 / 3), 257),
        (5, (1 / 3, 1 / 3), 1025),
        (10, (0.45, 0.15), 196),
        (5, (0.45, 0.15), 784),
        (3, (0.45, 0.15), 2177),
    ],
)
def test_nps_sample_size_table(
    margin: float, shares: tuple[float, float] | None, expected: int
) -> None:
    if shares is None:
        assert stats.nps_sample_size(margin) == expected
    else:
        got = stats.nps_sample_size(margin, promoters=shares[0], detractors=shares[1])
        assert got == expected


def test_sample_size_achieves_the_margin() -> None:
    n = stats.nps_sample_size(4, promoters=0.5, detractors=0.2)
    half = 100 * Z95 * math.sqrt((0.7 - 0.09) / n)
    assert half <= 4.0 < 100 * Z95 * math.sqrt((0.7 - 0.09) / (n - 1))
    assert stats.proportion_sample_size(0.05) == 385
    assert stats.proportion_sample_size(0.03, proportion=0.2) == 683


# --------------------------------------------------------------- bad input


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 95, math.nan])
def test_invalid_confidence(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        stats.proportion_interval(5, 10, confidence=confidence)
    with pytest.raises(ValueError, match="confidence"):
        stats.nps_interval([10, 9], confidence=confidence)
    with pytest.raises(ValueError, match="confidence"):
        stats.mean_interval([1, 2], confidence=confidence)


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (
            lambda: stats.proportion_interval(11, 10),
            ValueError,
            r"successes \(11\) cannot exceed n \(10\)",
        ),
        (lambda: stats.proportion_interval(-1, 10), ValueError, "successes.*-1"),
        (lambda: stats.proportion_interval(1, -10), ValueError, "n.*-10"),
        (lambda: stats.proportion_interval("1", 10), TypeError, "successes"),
        (lambda: stats.proportion_interval(1, 10, method="exact"), ValueError, "method.*'exact'"),
        (lambda: stats.nps_interval([11, 9]), ValueError, r"scores\[0\] \(11\)"),
        (lambda: stats.nps_interval([9], method="score"), ValueError, "method"),
        (
            lambda: stats.nps_interval([9], method="bootstrap", n_resamples=0),
            ValueError,
            "n_resamples",
        ),
        (lambda: stats.compare_nps([9], [12]), ValueError, r"scores\[0\] \(12\)"),
        (lambda: stats.compare_proportions(5, 4, 1, 2), ValueError, "successes_a"),
        (lambda: stats.mean_interval([1, math.inf]), ValueError, "finite"),
        (lambda: stats.nps_sample_size(0), ValueError, "margin"),
        (lambda: stats.nps_sample_size(5, promoters=0.5), ValueError, "both"),
        (
            lambda: stats.nps_sample_size(5, promoters=0.7, detractors=0.4),
            ValueError,
            "promoters \\+ detractors",
        ),
        (lambda: stats.proportion_sample_size(1.5), ValueError, "margin"),
    ],
)
def test_bad_input(call: Any, exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        call()


def test_results_are_frozen_with_readable_repr() -> None:
    ci = stats.proportion_interval(45, 100)
    with pytest.raises(AttributeError):
        ci.low = 0.0  # type: ignore[misc]
    assert repr(ci) == (
        "Interval(estimate=0.45, low=0.3561, high=0.5476, confidence=0.95, method='wilson', n=100)"
    )
    assert "p_value=" in repr(stats.compare_proportions(6, 10, 4, 10))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 10), min_size=1, max_size=12),
    st.sampled_from(["adjusted_wald", "wald"]),
    st.floats(0.5, 0.999),
)
def test_nps_interval_contains_the_observed_score(
    scores: list[int], method: str, confidence: float
) -> None:
    """Even with one answer (where the adjusted centre is pulled towards 0)."""
    ci = stats.nps_interval(scores, method=method, confidence=confidence)  # type: ignore[arg-type]
    assert ci.low <= ci.estimate <= ci.high
    assert -100.0 <= ci.low <= ci.high <= 100.0
