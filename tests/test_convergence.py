"""ConvergenceError says what it saw and what to try; `penalizer=` gives a finite fit.

Homogeneous purchase rates (every customer buys at about the same rate) put the maximum
of the BG/NBD likelihood at r, alpha -> infinity: there is no finite MLE. The penalised
fit is checked against an independent implementation of the penalised objective
(FHL 2005, eq. 6, written out here) maximised by another optimiser.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy import special as sc

from loyaltymetrics import datasets, models
from loyaltymetrics._typing import FloatArray

# r and alpha of a gamma with CV 0.1%: every customer buys 0.5 times a week
HOMOGENEOUS = {"r": 1e6, "alpha": 2e6, "a": 0.8, "b": 2.5}


@pytest.fixture(scope="module")
def homogeneous() -> tuple[FloatArray, FloatArray, FloatArray]:
    sim = models.BetaGeoModel.from_params(**HOMOGENEOUS).simulate(2000, 39.0, seed=0)
    return tuple(sim[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))  # type: ignore[return-value]


def _bg_nbd_loglik(params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> float:
    """FHL (2005) eq. 6, summed, straight from the paper (no grouping, no gradient)."""
    r, alpha, a, b = params
    common = sc.gammaln(r + x) - sc.gammaln(r) + r * np.log(alpha)
    first = sc.betaln(a, b + x) - sc.betaln(a, b) - (r + x) * np.log(alpha + big_t)
    second = np.where(
        x > 0,
        sc.betaln(a + 1, b + np.maximum(x, 1) - 1)
        - sc.betaln(a, b)
        - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return float(np.sum(common + np.logaddexp(first, second)))


def test_homogeneous_rates_name_the_boundary_and_the_remedy(homogeneous: Any) -> None:
    with pytest.raises(models.ConvergenceError) as info:
        models.BetaGeoModel.fit(*homogeneous)
    message = str(info.value)
    assert "r and alpha run to infinity together" in message
    assert "homogeneous purchase rates" in message
    # the common rate r/alpha is reported (0.5 per week generated the data)
    rate = float(message.split("r/alpha = ")[1].split(" ")[0])
    assert rate == pytest.approx(0.5, rel=0.05)
    assert "penalizer=" in message
    # the dropout pair is heterogeneous in these data and is not blamed
    assert "a and b" not in message


def test_penalizer_recovers_a_finite_fit_that_maximises_the_penalised_likelihood(
    homogeneous: Any,
) -> None:
    x, t_x, big_t = homogeneous
    lam = 1e-3
    m = models.BetaGeoModel.fit(x, t_x, big_t, penalizer=lam)
    theta = np.log(np.array([m.params[k] for k in ("r", "alpha", "a", "b")]))
    assert np.all(np.abs(theta) < 20)

    def objective(t: FloatArray) -> float:
        penalty = lam * float(np.sum(t * t))
        return float(-_bg_nbd_loglik(np.exp(t), x, t_x, big_t) / x.size + penalty)

    other = optimize.minimize(
        objective,
        np.zeros(4),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 20000, "maxfev": 40000},
    )
    assert objective(theta) <= other.fun + 1e-9
    np.testing.assert_allclose(theta, other.x, atol=2e-3)
    # the reported log-likelihood is the unpenalised one at the estimate
    assert m.log_likelihood == pytest.approx(_bg_nbd_loglik(np.exp(theta), x, t_x, big_t))
    # it predicts almost as the limit does (a fit with a negligible penalty, r near 3600)
    # and as the process that generated the data, the point of keeping it finite
    limit = models.BetaGeoModel.fit(x, t_x, big_t, penalizer=1e-6)
    assert limit.params["r"] > 1000
    future = m.expected_purchases(39.0, x, t_x, big_t).sum()
    assert future == pytest.approx(limit.expected_purchases(39.0, x, t_x, big_t).sum(), rel=0.01)
    truth = models.BetaGeoModel.from_params(**HOMOGENEOUS)
    assert future == pytest.approx(truth.expected_purchases(39.0, x, t_x, big_t).sum(), rel=0.05)
    assert all(math.isfinite(v) and v > 0 for v in m.standard_errors.values())


def test_penalizer_zero_is_plain_maximum_likelihood() -> None:
    c = datasets.load_cdnow_summary()
    rfm = c["frequency"], c["recency"], c["T"]
    plain = models.BetaGeoModel.fit(*rfm)
    assert models.BetaGeoModel.fit(*rfm, penalizer=0.0).params == plain.params
    assert models.BetaGeoModel.fit(*rfm, penalizer=0).params == plain.params


@settings(max_examples=6, deadline=None)
@given(st.floats(1e-4, 0.05), st.floats(1.5, 10.0))
def test_a_larger_penalizer_never_enlarges_the_penalty(lam: float, factor: float) -> None:
    # for any function, the minimiser of f + lam P has P non-increasing in lam
    c = datasets.load_cdnow_summary()
    rfm = c["frequency"], c["recency"], c["T"]

    def size(model: models.BetaGeoModel) -> float:
        return float(sum(math.log(v) ** 2 for v in model.params.values()))

    small = models.BetaGeoModel.fit(*rfm, penalizer=lam)
    large = models.BetaGeoModel.fit(*rfm, penalizer=lam * factor)
    assert size(large) <= size(small) + 1e-7


@pytest.mark.parametrize(
    "fit",
    [
        lambda p: models.BetaGeoModel.fit([1, 0, 2], [3.0, 0.0, 5.0], [6.0, 6.0, 6.0], penalizer=p),
        lambda p: models.ModifiedBetaGeoModel.fit(
            [1, 0, 2], [3.0, 0.0, 5.0], [6.0] * 3, penalizer=p
        ),
        lambda p: models.ParetoNBDModel.fit([1, 0, 2], [3.0, 0.0, 5.0], [6.0] * 3, penalizer=p),
        lambda p: models.BetaGeoBetaBinomModel.fit([1, 0, 2], [3, 0, 5], [6, 6, 6], penalizer=p),
        lambda p: models.GammaGammaModel.fit([1, 2, 3], [10.0, 20.0, 15.0], penalizer=p),
    ],
    ids=["bg", "mbg", "pareto", "bgbb", "gg"],
)
def test_every_fit_validates_the_penalizer(fit: Any) -> None:
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"penalizer must be finite and >= 0; got penalizer="):
            fit(bad)
    for wrong in ("0.1", True, None):
        with pytest.raises(TypeError, match=r"penalizer must be a non-negative number"):
            fit(wrong)
    # a strong penalty pulls every parameter towards 1 (log 0)
    loose, tight = fit(1e-3), fit(10.0)
    assert max(abs(math.log(v)) for v in tight.params.values()) < max(
        abs(math.log(v)) for v in loose.params.values()
    )


def test_a_stop_without_an_open_boundary_says_so() -> None:
    from loyaltymetrics.models import _base

    def flat_then_wall(params: FloatArray) -> tuple[float, FloatArray]:
        # a likelihood whose optimiser cannot move: nan everywhere but the start
        if np.allclose(params, 1.0):
            return -1.0, np.array([1e3, 1e3])
        return math.nan, np.zeros(2)

    with pytest.raises(models.ConvergenceError, match=r"no parameter runs to a boundary"):
        _base.fit_mle(flat_then_wall, np.ones(2), ("x", "y"), 10.0)
