"""stats.survival_curve (Kaplan-Meier, Greenwood, log-log intervals) against a textbook loop.

The reference treats each customer as a failure time on a continuous axis: a churn after
`lifetime` periods fails at time `lifetime`, a censored customer (still active after
paying `lifetime` periods, so known to have renewed `lifetime - 1` times) is censored at
`lifetime - 0.5`. It then runs the textbook product-limit estimator over the distinct
failure times, one customer at a time, with Greenwood's formula and the log-log
transformation of Kalbfleisch & Prentice (2002, §1.4).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from loyaltymetrics import models, stats

REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]


def textbook_km(
    lifetime: list[int], churned: list[bool], confidence: float
) -> dict[int, tuple[float, float, float, float, float]]:
    """t -> (at risk, deaths, S, low, high) at each whole t >= 1 up to the last at risk."""
    times = [life if c else life - 0.5 for life, c in zip(lifetime, churned, strict=True)]
    z = sps.norm.ppf(0.5 + confidence / 2)
    out = {}
    s, green = 1.0, 0.0
    t = 1
    while True:
        at_risk = sum(1 for x in times if x >= t)
        if at_risk == 0:
            break
        deaths = sum(1 for x, c in zip(times, churned, strict=True) if c and x == t)
        s *= 1 - deaths / at_risk
        if deaths and at_risk > deaths:
            green += deaths / (at_risk * (at_risk - deaths))
        if s == 1.0:
            low = high = 1.0
        elif s == 0.0:
            low = high = math.nan
        else:
            sigma = math.sqrt(green) / abs(math.log(s))
            low, high = s ** math.exp(z * sigma), s ** math.exp(-z * sigma)
        out[t] = (at_risk, deaths, s, low, high)
        t += 1
    return out


@settings(max_examples=80)
@given(
    rows=st.lists(st.tuples(st.integers(1, 12), st.booleans()), min_size=1, max_size=60),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_matches_textbook_kaplan_meier(rows: list[tuple[int, bool]], confidence: float) -> None:
    life = [r[0] for r in rows]
    churned = [r[1] for r in rows]
    got = stats.survival_curve(life, churned, confidence=confidence)
    want = textbook_km(life, churned, confidence)
    assert got["period"].to_list() == list(range(len(want) + 1))
    first = got.row(0, named=True)
    assert (first["at_risk"], first["churned"], first["survival"]) == (len(rows), 0, 1.0)
    for row in got.iter_rows(named=True):
        if row["period"] == 0:
            continue
        n, d, s, low, high = want[row["period"]]
        assert (row["at_risk"], row["churned"]) == (n, d)
        assert row["survival"] == pytest.approx(s, rel=1e-12, abs=1e-15)
        if math.isnan(low):
            assert row["low"] is None
            assert row["high"] is None
        else:
            assert row["low"] == pytest.approx(low, rel=1e-9, abs=1e-15)
            assert row["high"] == pytest.approx(high, rel=1e-9, abs=1e-15)
            assert row["low"] <= row["survival"] <= row["high"]


def test_single_cohort_is_the_survivor_share() -> None:
    # Fader & Hardie (2007) Table 1, regular customers: 1000 start, survivors by year
    n = REGULAR
    life = [*range(1, 13), 13]
    churned = [True] * 12 + [False]
    weights = [n[t - 1] - n[t] for t in range(1, 13)] + [n[12]]
    km = stats.survival_curve(life, churned, weights=weights)
    assert km["survival"].to_list() == pytest.approx([x / 1000 for x in n], rel=1e-12)
    # at renewal t the customers at risk are those active in period t - 1
    assert km["at_risk"].to_list() == [1000, *n[:-1]]
    # Greenwood: with no censoring, Var S(t) = S(t)(1 - S(t))/n0 (binomial)
    s = np.array(n) / 1000
    assert km["std_error"].to_numpy() == pytest.approx(np.sqrt(s * (1 - s) / 1000), rel=1e-9)


def test_weights_are_repeated_rows() -> None:
    life = [1, 2, 2, 3, 4]
    churned = [True, False, True, True, False]
    w = [2, 3, 1, 4, 2]
    a = stats.survival_curve(life, churned, weights=w)
    b = stats.survival_curve(np.repeat(life, w), np.repeat(churned, w))
    assert a.equals(b)


def test_interval_coverage_on_simulated_cohorts() -> None:
    # 400 cohorts of 300 customers from an sBG, observed for 6 paid periods: the 90%
    # log-log interval of S(3) covers the true S(3) in about 90% of them
    model = models.ShiftedBetaGeometricModel.from_params(alpha=1.0, beta=2.0)
    truth = model.survival(3)
    covered = 0
    for rep in range(400):
        sim = model.simulate(300, 6, seed=1000 + rep)
        row = stats.survival_curve(sim["lifetime"], sim["churned"], confidence=0.9).row(
            3, named=True
        )
        covered += row["low"] <= truth <= row["high"]
    assert 0.85 <= covered / 400 <= 0.95


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"lifetime\[0\]=0"):
        stats.survival_curve([0, 1], [True, False])
    with pytest.raises(ValueError, match="churned has 1"):
        stats.survival_curve([1, 2], [True])
    with pytest.raises(ValueError, match="confidence"):
        stats.survival_curve([1, 2], [True, False], confidence=1.5)
    with pytest.raises(ValueError, match="weights"):
        stats.survival_curve([1, 2], [True, False], weights=[1, -1])
