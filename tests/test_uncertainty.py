"""Uncertainty of the fitted models: covariance, confidence and prediction intervals.

References: CDNOW standard errors from Fader, Hardie & Lee (2005) (BG/NBD) and
Fader & Hardie's Pareto/NBD notes; the conditional distributions are checked against
the models' own unconditional PMFs with posterior-updated parameters, against
brute-force simulation, and the coverage against data drawn by this file's generator.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path
from typing import Any

import mpmath as mp
import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import special as sc

from loyaltymetrics import datasets, models, tables
from loyaltymetrics.models import _clv_interval as ci
from loyaltymetrics.models import _prediction as pr
from loyaltymetrics.models import _uncertainty as u

sys.path.insert(0, str(Path(__file__).parent))
from test_model_evaluation import cdnow_log

CDNOW = datasets.load_cdnow_summary()
RFM = tuple(CDNOW[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))


@pytest.fixture(scope="module")
def bg() -> models.BetaGeoModel:
    return models.BetaGeoModel.fit(*RFM)


@pytest.fixture(scope="module")
def pareto() -> models.ParetoNBDModel:
    return models.ParetoNBDModel.fit(*RFM)


@pytest.fixture(scope="module")
def mbg() -> models.ModifiedBetaGeoModel:
    return models.ModifiedBetaGeoModel.fit(*RFM)


@pytest.fixture(scope="module")
def gg() -> models.GammaGammaModel:
    rep = CDNOW.filter(CDNOW["frequency"] > 0)
    return models.GammaGammaModel.fit(rep["frequency"], rep["monetary_value"])


@pytest.fixture(scope="module")
def bgbb() -> models.BetaGeoBetaBinomModel:
    d = datasets.load_donations()
    return models.BetaGeoBetaBinomModel.fit(
        d["frequency"], d["recency"], d["periods"], weights=d["weights"]
    )


# --- 1. covariance and confidence intervals -------------------------------------------


def test_cdnow_standard_errors_reproduce_the_published_values(
    bg: models.BetaGeoModel, pareto: models.ParetoNBDModel
) -> None:
    # published to 3 significant figures
    se_bg = np.sqrt(np.diag(bg.covariance))
    assert [float(f"{s:.3g}") for s in se_bg] == [0.0126, 0.378, 0.186, 0.705]
    se_p = np.sqrt(np.diag(pareto.covariance))
    assert [float(f"{s:.3g}") for s in se_p] == [0.0476, 0.843, 0.187, 6.21]


@pytest.mark.parametrize("name", ["bg", "pareto", "mbg", "gg", "bgbb"])
def test_covariance_is_symmetric_positive_definite_and_matches_standard_errors(
    name: str, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(name)
    cov = model.covariance
    k = len(model.PARAM_NAMES)
    assert cov.shape == (k, k)
    np.testing.assert_array_equal(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    assert not cov.flags.writeable
    np.testing.assert_allclose(
        [model.standard_errors[p] for p in model.PARAM_NAMES], np.sqrt(np.diag(cov)), rtol=1e-15
    )


def test_confidence_intervals_are_wald_intervals_of_the_log_parameters(
    bg: models.BetaGeoModel,
) -> None:
    ci = bg.confidence_intervals(0.9)
    assert ci.columns == ["parameter", "estimate", "standard_error", "low", "high"]
    assert ci["parameter"].to_list() == ["r", "alpha", "a", "b"]
    est = ci["estimate"].to_numpy()
    se = ci["standard_error"].to_numpy()
    z = 1.6448536269514722
    # independent: log-scale Wald bounds
    np.testing.assert_allclose(ci["low"], np.exp(np.log(est) - z * se / est), rtol=1e-12)
    np.testing.assert_allclose(ci["high"], np.exp(np.log(est) + z * se / est), rtol=1e-12)
    assert (ci["low"] > 0).all()
    wider = bg.confidence_intervals(0.99)
    assert (wider["low"] < ci["low"]).all()
    assert (wider["high"] > ci["high"]).all()


def test_models_from_params_have_no_covariance() -> None:
    m = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    assert np.isnan(m.covariance).all()
    assert m.covariance.shape == (4, 4)
    assert m.confidence_intervals()["standard_error"].is_nan().all()
    with pytest.raises(ValueError, match="parameter_uncertainty=False"):
        m.predict(10.0, *RFM)
    # process uncertainty alone works without a covariance
    out = m.predict(10.0, *RFM, parameter_uncertainty=False)
    assert out.height == RFM[0].size


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_bad_level_is_a_value_error_naming_it(bg: models.BetaGeoModel, level: float) -> None:
    with pytest.raises(ValueError, match="level"):
        bg.confidence_intervals(level)
    with pytest.raises(ValueError, match="level"):
        bg.predict(10.0, *RFM, level=level)


def _bg_loglik_mp(params: Any, x: list[int], tx: list[float], big_t: list[float]) -> Any:
    """BG/NBD log-likelihood (FHL 2005, eq. 6), written afresh in mpmath."""
    r, alpha, a, b = params
    total = mp.mpf(0)
    for xi, txi, ti in zip(x, tx, big_t, strict=True):
        head = mp.gamma(r + xi) * alpha**r / mp.gamma(r)
        first = mp.beta(a, b + xi) / mp.beta(a, b) / (alpha + ti) ** (r + xi)
        second = mp.beta(a + 1, b + xi - 1) / mp.beta(a, b) / (alpha + txi) ** (r + xi) if xi else 0
        total += mp.log(head * (first + second))
    return total


def _mp_hessian(f: Any, p: list[float]) -> np.ndarray[Any, Any]:
    k = len(p)
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            order = [0] * k
            order[i] += 1
            order[j] += 1
            out[i, j] = out[j, i] = float(mp.diff(lambda *q: f(q), p, tuple(order)))
    return out


def test_analytic_bg_nbd_hessian_matches_a_high_precision_one() -> None:
    rng = np.random.default_rng(3)
    n = 25
    x = rng.integers(0, 6, n).astype(float)
    big_t = rng.uniform(20, 40, n)
    tx = np.where(x > 0, rng.uniform(0, 1, n) * big_t, 0.0)
    p = [0.4, 3.0, 0.9, 2.2]
    with mp.workdps(30):
        ref = _mp_hessian(
            lambda q: _bg_loglik_mp(q, x.astype(int).tolist(), tx.tolist(), big_t.tolist()), p
        )
    ours = u.beta_geometric_hessian(np.array(p), x, tx, big_t, np.ones(n), modified=False)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


def test_finite_difference_hessians_match_the_analytic_one(bg: models.BetaGeoModel) -> None:
    from loyaltymetrics.models._bg_nbd import _loglik_terms

    p = np.array(list(bg.params.values()))

    def grad(q: Any) -> Any:
        return np.array([g.sum() for g in _loglik_terms(q, *RFM)[1]])

    def value(q: Any) -> float:
        return float(_loglik_terms(q, *RFM)[0].sum())

    exact = u.beta_geometric_hessian(p, *RFM, np.ones(RFM[0].size), modified=False)
    np.testing.assert_allclose(u.hessian_from_gradient(grad, p), exact, rtol=1e-7)
    np.testing.assert_allclose(u.hessian_from_values(value, p), exact, rtol=1e-6)
    # without Richardson extrapolation the error is ~100x larger: the extrapolation matters
    crude = u.hessian_from_gradient(grad, p, step=0.04)
    assert np.max(np.abs(crude / exact - 1)) < 1e-5


def test_mbg_nbd_and_gamma_gamma_analytic_hessians_match_finite_differences(
    mbg: models.ModifiedBetaGeoModel, gg: models.GammaGammaModel
) -> None:
    from loyaltymetrics.models._mbg_nbd import _loglik_terms

    p = np.array(list(mbg.params.values()))
    exact = u.beta_geometric_hessian(p, *RFM, np.ones(RFM[0].size), modified=True)

    def grad(q: Any) -> Any:
        return np.array([g.sum() for g in _loglik_terms(q, *RFM)[1]])

    np.testing.assert_allclose(u.hessian_from_gradient(grad, p), exact, rtol=1e-7)

    rep = CDNOW.filter(CDNOW["frequency"] > 0)
    x, z = rep["frequency"].to_numpy().astype(float), rep["monetary_value"].to_numpy()

    def gg_value(q: Any) -> float:
        pp, qq, g = q
        ll = (
            sc.gammaln(pp * x + qq)
            - sc.gammaln(pp * x)
            - sc.gammaln(qq)
            + qq * np.log(g)
            + pp * x * np.log(x)
            + (pp * x - 1) * np.log(z)
            - (pp * x + qq) * np.log(g + x * z)
        )
        return float(ll.sum())

    q = np.array(list(gg.params.values()))
    np.testing.assert_allclose(
        u.hessian_from_values(gg_value, q),
        u.gamma_gamma_hessian(q, x, z, np.ones(x.size)),
        rtol=1e-6,
    )


def _pareto_loglik_mp(params: Any, x: list[int], tx: list[float], big_t: list[float]) -> Any:
    """Pareto/NBD log-likelihood (Fader & Hardie 2005, note 009, eq. 22), in mpmath."""
    r, alpha, s, beta = params
    total = mp.mpf(0)
    for xi, txi, ti in zip(x, tx, big_t, strict=True):
        rsx = r + s + xi
        if alpha >= beta:
            big, second = alpha, s + 1
        else:
            big, second = beta, r + xi

        def f(y: Any, big: Any = big, second: Any = second, rsx: Any = rsx) -> Any:
            return mp.hyp2f1(rsx, second, rsx + 1, abs(alpha - beta) / (big + y)) / (big + y) ** rsx

        a0 = f(txi) - f(ti)
        head = mp.gamma(r + xi) * alpha**r * beta**s / mp.gamma(r)
        body = 1 / ((alpha + ti) ** (r + xi) * (beta + ti) ** s) + s / rsx * a0
        total += mp.log(head * body)
    return total


def test_pareto_finite_difference_hessian_matches_a_high_precision_one() -> None:
    from loyaltymetrics.models._pareto_nbd import _loglik

    rng = np.random.default_rng(5)
    n = 12
    x = rng.integers(0, 5, n).astype(float)
    big_t = rng.uniform(20, 40, n)
    tx = np.where(x > 0, rng.uniform(0, 1, n) * big_t, 0.0)
    p = [0.55, 10.6, 0.6, 11.7]
    with mp.workdps(25):
        ref = _mp_hessian(
            lambda q: _pareto_loglik_mp(q, x.astype(int).tolist(), tx.tolist(), big_t.tolist()),
            p,
        )
    ours = u.hessian_from_values(lambda q: float(_loglik(q, x, tx, big_t).sum()), np.array(p))
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-7)


def test_covariance_hook_works_for_any_log_likelihood() -> None:
    """The hook for new models: a normal sample's (mu, sigma) MLE has known information."""
    rng = np.random.default_rng(0)
    y = rng.normal(5.0, 2.0, 400)
    mu, sigma = y.mean(), y.std()

    def loglik(q: Any) -> float:
        return float(np.sum(-np.log(q[1]) - (y - q[0]) ** 2 / (2 * q[1] ** 2)))

    cov = u.observed_covariance({"mu": mu, "sigma": sigma}, loglik=loglik)
    np.testing.assert_allclose(np.diag(cov), [sigma**2 / 400, sigma**2 / 800], rtol=1e-6)
    # a flat likelihood gives nan, not a wrong number
    flat = u.observed_covariance({"mu": mu, "sigma": sigma}, hessian=np.zeros((2, 2)))
    assert np.isnan(flat).all()


# --- 2. conditional distributions and prediction intervals ----------------------------


def _bg_conditional_pmf(
    model: models.BetaGeoModel, y_max: int, t: float, x: float, tx: float, big_t: float
) -> np.ndarray[Any, Any]:
    """Conditional PMF from the model's own *unconditional* PMF (FHL 2005, eq. 8) with the
    posterior-updated parameters (r + x, alpha + T, a, b + x), times P(alive)."""
    p = model.params
    alive = float(model.p_alive([x], [tx], [big_t])[0])
    post = models.BetaGeoModel.from_params(
        r=p["r"] + x, alpha=p["alpha"] + big_t, a=p["a"], b=p["b"] + x
    )
    pmf = alive * post.probability_of_purchases(np.arange(y_max + 1), t)
    pmf[0] += 1 - alive
    return np.asarray(pmf)


def test_bg_nbd_conditional_distribution_matches_the_updated_unconditional_pmf(
    bg: models.BetaGeoModel,
) -> None:
    theta = np.array(list(bg.params.values()))[None, :]
    for i in (0, 1, 4, 10, 157):
        x, tx, big_t = (np.array([a[i]]) for a in RFM)
        surv = pr._bg_kernel(False)(theta, (x, tx, big_t), np.array([39.0]), 30, None)[:, 0]
        pmf = _bg_conditional_pmf(bg, 30, 39.0, x[0], tx[0], big_t[0])
        np.testing.assert_allclose(1 - surv, np.cumsum(pmf), atol=1e-12)


@pytest.mark.parametrize("name", ["bg", "mbg"])
def test_conditional_mean_equals_expected_purchases(
    name: str, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(name)
    theta = np.array(list(model.params.values()))[None, :]
    surv = pr._bg_kernel(name == "mbg")(theta, RFM, np.array([39.0]), 400, None)
    np.testing.assert_allclose(surv.sum(axis=0), model.expected_purchases(39.0, *RFM), atol=1e-11)


def test_bg_bb_conditional_mean_equals_expected_purchases(
    bgbb: models.BetaGeoBetaBinomModel,
) -> None:
    d = datasets.load_donations()
    data = tuple(d[c].to_numpy().astype(float) for c in ("frequency", "recency", "periods"))
    theta = np.array(list(bgbb.params.values()))[None, :]
    for t in (1, 4, 9):
        surv = pr._bgbb_kernel(theta, data, np.array([float(t)]), t, None)
        np.testing.assert_allclose(
            surv.sum(axis=0), bgbb.expected_purchases(t, *data), rtol=1e-12, atol=1e-14
        )
        assert np.all(surv[-1] == 0)  # never more than t transactions


def test_pareto_conditional_distribution_matches_brute_force_simulation(
    pareto: models.ParetoNBDModel,
) -> None:
    """Independent: draw alive, lambda and mu from the posterior and run the process."""
    p = pareto.params
    x, tx, big_t = 3.0, 20.0, 38.0
    alive = float(pareto.p_alive([x], [tx], [big_t])[0])
    rng = np.random.default_rng(11)
    n = 400_000
    lam = rng.gamma(p["r"] + x, 1 / (p["alpha"] + big_t), n)
    mu = rng.gamma(p["s"], 1 / (p["beta"] + big_t), n)
    life = np.minimum(rng.exponential(1 / mu), 39.0)
    counts = np.where(rng.random(n) < alive, rng.poisson(lam * life), 0)
    empirical = np.array([(counts <= y).mean() for y in range(8)])
    theta = np.tile(np.array(list(p.values())), (4000, 1))
    uni = np.random.default_rng(2).random((4000, 1))
    kernel = pr._pareto_kernel(models.ParetoNBDModel)
    cdf = (
        1
        - kernel(
            theta, (np.array([x]), np.array([tx]), np.array([big_t])), np.array([39.0]), 7, uni
        )[:, 0]
        / 4000
    )
    # Monte Carlo error of the kernel (4000 lifetime draws) dominates: ~0.008
    np.testing.assert_allclose(cdf, empirical, atol=0.02)
    mean = (1 - cdf[:1]).sum()
    assert mean > 0


def test_prediction_bounds_follow_the_documented_quantile_rule(bg: models.BetaGeoModel) -> None:
    idx = np.array([0, 1, 4, 10, 157, 1000])
    sub = tuple(a[idx] for a in RFM)
    out = bg.predict(39.0, *sub, level=0.8, parameter_uncertainty=False)
    for row, i in enumerate(idx):
        cdf = np.cumsum(_bg_conditional_pmf(bg, 60, 39.0, RFM[0][i], RFM[1][i], RFM[2][i]))
        low, high = int(out["purchases_low"][row]), int(out["purchases_high"][row])
        assert cdf[low] >= 0.1
        assert low == 0 or cdf[low - 1] < 0.1
        assert cdf[high] >= 0.9
        assert high == 0 or cdf[high - 1] < 0.9


def test_predict_columns_are_the_point_methods(bg: models.BetaGeoModel) -> None:
    out = bg.predict(39.0, *RFM, n_draws=50, seed=1)
    assert out.columns == [
        "expected_purchases",
        "purchases_low",
        "purchases_high",
        "p_alive",
        "p_alive_low",
        "p_alive_high",
    ]
    np.testing.assert_array_equal(out["expected_purchases"], bg.expected_purchases(39.0, *RFM))
    np.testing.assert_array_equal(out["p_alive"], bg.p_alive(*RFM))
    assert (out["purchases_low"] <= out["purchases_high"]).all()
    assert (out["p_alive_low"] <= out["p_alive"]).all()
    assert (out["p_alive"] <= out["p_alive_high"]).all()
    # BG/NBD: no repeat purchase means alive for sure, and no uncertainty about it
    zero = RFM[0] == 0
    assert (out["p_alive_low"].to_numpy()[zero] == 1).all()


def test_p_alive_interval_agrees_with_percentiles_over_parameter_draws(
    bg: models.BetaGeoModel,
) -> None:
    idx = np.flatnonzero(RFM[0] > 0)[:40]
    sub = tuple(a[idx] for a in RFM)
    out = bg.predict(39.0, *sub, level=0.9, n_draws=10, seed=1)
    draws = bg._param_draws(4000, np.random.default_rng(9))
    alive = np.array(
        [
            models.BetaGeoModel.from_params(r=d[0], alpha=d[1], a=d[2], b=d[3]).p_alive(*sub)
            for d in draws
        ]
    )
    lo, hi = np.quantile(alive, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(out["p_alive_low"], lo, atol=0.01)
    np.testing.assert_allclose(out["p_alive_high"], hi, atol=0.01)


def test_predict_is_reproducible_and_independent_of_the_blocking(
    pareto: models.ParetoNBDModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tuple(a[:300] for a in RFM)
    first = pareto.predict(39.0, *sub, n_draws=40, seed=4)
    assert first.equals(pareto.predict(39.0, *sub, n_draws=40, seed=4))
    monkeypatch.setattr(pr, "_BLOCK", 7)
    monkeypatch.setattr(pr, "_DRAW_CHUNK", 3)
    assert first.equals(pareto.predict(39.0, *sub, n_draws=40, seed=4))
    assert not first.equals(pareto.predict(39.0, *sub, n_draws=40, seed=5))


def _bg_mixture_survival_scipy(
    draws: np.ndarray[Any, Any],
    x: float,
    t_x: np.ndarray[Any, Any],
    big_t: np.ndarray[Any, Any],
    t: np.ndarray[Any, Any],
    y_max: int,
    modified: bool,
) -> np.ndarray[Any, Any]:
    """Independent: sum over draws of P(alive) c_y P(NB > y), scipy's nbinom and betaln,
    P(alive) from the model classes (FHL 2005 eq. 8 with the updated parameters)."""
    from scipy import stats

    cls = models.ModifiedBetaGeoModel if modified else models.BetaGeoModel
    ys = np.arange(y_max + 1)[:, None]
    out = np.zeros((y_max + 1, big_t.size))
    for r, alpha, a, b in draws:
        alive = cls.from_params(r=r, alpha=alpha, a=a, b=b).p_alive(
            np.full(big_t.size, x), t_x, big_t
        )
        bp = b + x + (1.0 if modified else 0.0)
        drop = np.exp(sc.betaln(a, bp + ys) - sc.betaln(a, bp))
        tail = stats.nbinom.sf(ys, r + x, (alpha + big_t) / (alpha + big_t + t))
        out += alive * drop * tail
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    x=st.integers(0, 40),
    n=st.integers(1, 9),
    n_draws=st.integers(1, 20),
    y_max=st.integers(1, 60),
    modified=st.booleans(),
    one_t=st.booleans(),
)
def test_one_frequency_block_kernel_matches_the_general_recursion_and_scipy(
    seed: int, x: int, n: int, n_draws: int, y_max: int, modified: bool, one_t: bool
) -> None:
    """`_bg_block` (the fast path for blocks of one frequency) against the general
    per-customer recursion `_nbd_survival` and against scipy, on random inputs."""
    rng = np.random.default_rng(seed)
    draws = rng.uniform([0.05, 0.5, 0.1, 0.1], [5.0, 50.0, 5.0, 10.0], (n_draws, 4))
    big_t = rng.uniform(1.0, 100.0, n)
    t_x = rng.uniform(0.0, 1.0, n) * big_t if x > 0 else np.zeros(n)
    t = rng.uniform(0.0, 80.0, 1 if one_t else n)
    t[0] = 0.0 if seed % 7 == 0 else t[0]  # a zero horizon now and then
    fast = pr._bg_block(draws, float(x), t_x, big_t, t, y_max, modified)
    # the general path: one more customer of another frequency makes the block mixed
    mixed = (
        np.append(np.full(n, float(x)), x + 1.0),
        np.append(t_x, big_t[0] / 2),
        np.append(big_t, big_t[0]),
    )
    t_mixed = t if one_t else np.append(t, t[0])
    general = pr._bg_kernel(modified)(draws, mixed, t_mixed, y_max, None, True)[:, :n]
    np.testing.assert_allclose(fast, general, rtol=1e-11, atol=1e-13)
    reference = _bg_mixture_survival_scipy(draws, float(x), t_x, big_t, t, y_max, modified)
    np.testing.assert_allclose(fast, reference, rtol=1e-9, atol=1e-12)
    # per draw (`predict_total`)
    each = pr._bg_block(draws, float(x), t_x, big_t, t, y_max, modified, reduce=False)
    each_general = pr._bg_kernel(modified)(draws, mixed, t_mixed, y_max, None, False)
    np.testing.assert_allclose(each, each_general[:, :, :n], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("name", ["bg", "mbg"])
def test_frequency_blocks_give_the_window_blocks_answer(
    name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = request.getfixturevalue(name)
    kernel = model._kernel()
    draws = model._param_draws(40, np.random.default_rng(3))
    t = np.array([39.0])
    start = model._window_start(*RFM, t, 0.95)
    args = (kernel, draws, RFM, t, (0.05, 0.95), start, None, None)
    by_window = pr._mixture_bounds(*args, by_frequency=False)
    by_frequency = pr._mixture_bounds(*args, by_frequency=True)
    np.testing.assert_array_equal(by_window[0], by_frequency[0])
    np.testing.assert_array_equal(by_window[1], by_frequency[1])
    # and with tiny blocks and draw chunks (blocks cut inside a frequency)
    monkeypatch.setattr(pr, "_FREQUENCY_BLOCK", 5)
    monkeypatch.setattr(pr, "_FREQUENCY_DRAW_CHUNK", 3)
    small = pr._mixture_bounds(*args, by_frequency=True)
    np.testing.assert_array_equal(small[1], by_frequency[1])
    groups = pr._blocks(np.arange(RFM[0].size), np.ceil(start).astype(np.int64), RFM[0], True)
    seen = np.concatenate([sub for sub, _ in groups])
    np.testing.assert_array_equal(np.sort(seen), np.arange(RFM[0].size))  # each once
    for sub, w_ in groups:
        assert np.unique(RFM[0][sub]).size == 1
        assert w_ >= np.ceil(start[sub]).max()


@pytest.mark.parametrize("per_customer_t", [False, True])
def test_repeated_histories_are_computed_once_with_the_same_answer(
    bg: models.BetaGeoModel, per_customer_t: bool
) -> None:
    """CDNOW repeats histories (1,016 distinct of 2,357): `predict` computes each once;
    the bounds must be those of every customer computed on its own."""
    t = (
        np.where(np.arange(RFM[0].size) % 3 == 0, 39.0, 20.0)  # splits equal histories
        if per_customer_t
        else np.array([39.0])
    )
    rep, inverse = pr._distinct(*RFM, t)
    assert rep is not None
    assert inverse is not None
    assert rep.size < RFM[0].size
    keys = np.stack([*RFM, np.broadcast_to(t, RFM[0].shape)], axis=1)
    np.testing.assert_array_equal(keys[rep][inverse], keys)  # each row is its representative
    assert np.unique(keys[rep], axis=0).shape[0] == rep.size  # and those are distinct
    distinct_t = RFM[2] + np.arange(RFM[0].size) * 1e-6
    assert pr._distinct(RFM[0], RFM[1], distinct_t, t) == (None, None)
    # equal T but different histories are not merged
    same_t = np.full(4, 30.0)
    assert pr._distinct(np.array([0.0, 1, 1, 2]), np.array([0.0, 5, 6, 6]), same_t, t[:1]) == (
        None,
        None,
    )
    out = bg.predict(t if per_customer_t else 39.0, *RFM, level=0.9, n_draws=60, seed=2)
    param_seq, _ = np.random.SeedSequence(2).spawn(2)
    draws = bg._param_draws(60, np.random.default_rng(param_seq))
    start = np.full(RFM[0].size, 3.0)
    low, high = pr._mixture_bounds(
        bg._kernel(), draws, RFM, t, (0.05, 0.95), start, None, None, by_frequency=True
    )
    np.testing.assert_array_equal(out["purchases_low"], low)
    np.testing.assert_array_equal(out["purchases_high"], high)
    a_low, a_high = bg._p_alive_interval(*RFM, 0.9)
    np.testing.assert_array_equal(out["p_alive_low"], a_low)
    np.testing.assert_array_equal(out["p_alive_high"], a_high)


def test_too_short_windows_are_widened_to_the_same_answer(bg: models.BetaGeoModel) -> None:
    kernel = pr._bg_kernel(False)
    draws = bg._param_draws(30, np.random.default_rng(0))
    t = np.array([39.0])
    short = pr._mixture_bounds(
        kernel, draws, RFM, t, (0.05, 0.95), np.ones(RFM[0].size), None, None
    )
    long_ = pr._mixture_bounds(
        kernel, draws, RFM, t, (0.05, 0.95), np.full(RFM[0].size, 64.0), None, None
    )
    np.testing.assert_array_equal(short[0], long_[0])
    np.testing.assert_array_equal(short[1], long_[1])
    assert short[1].max() > 8  # heavy buyers needed several widenings


def test_parameter_uncertainty_widens_the_prediction_interval(bg: models.BetaGeoModel) -> None:
    with_p = bg.predict(39.0, *RFM, n_draws=300, seed=1)
    without = bg.predict(39.0, *RFM, parameter_uncertainty=False)
    assert (with_p["purchases_high"] >= without["purchases_high"] - 1).all()
    assert with_p["purchases_high"].sum() >= without["purchases_high"].sum()


def test_predict_bad_inputs(bg: models.BetaGeoModel, bgbb: models.BetaGeoBetaBinomModel) -> None:
    with pytest.raises(ValueError, match="n_draws"):
        bg.predict(39.0, *RFM, n_draws=0)
    with pytest.raises(TypeError, match="n_draws"):
        bg.predict(39.0, *RFM, n_draws=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed"):
        bg.predict(39.0, *RFM, seed="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="t must be one number or one per customer"):
        bg.predict([1.0, 2.0], *RFM)
    with pytest.raises(ValueError, match="t must be non-negative"):
        bg.predict(-1.0, *RFM)
    with pytest.raises(ValueError, match="both"):
        bg.predict_total(39.0, *RFM, parameter_uncertainty=False, process_uncertainty=False)
    with pytest.raises(ValueError, match="t must be non-negative whole"):
        bgbb.predict(2.5, [1], [1], [3])


# --- 3. coverage -----------------------------------------------------------------------


def _simulate_bg_nbd(
    n: int, params: dict[str, float], big_t: np.ndarray[Any, Any], horizon: float, seed: int
) -> tuple[np.ndarray[Any, Any], ...]:
    """This file's own BG/NBD generator: event by event, dropout after each purchase.

    Returns the calibration (x, t_x) up to each customer's T and the count in (T, T + horizon].
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    now = np.zeros(n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    hold = np.zeros(n)
    active = np.arange(n)
    while active.size:
        now[active] += rng.exponential(1 / lam[active])
        cal = now[active] <= big_t[active]
        later = (~cal) & (now[active] <= big_t[active] + horizon)
        x[active[cal]] += 1
        t_x[active[cal]] = now[active[cal]]
        hold[active[later]] += 1
        stays = rng.random(active.size) >= p[active]  # dropout after this purchase
        active = active[stays & (now[active] <= big_t[active] + horizon)]
    return x, t_x, hold


def test_coverage_on_simulated_customers_is_at_least_nominal() -> None:
    truth = {"r": 0.3, "alpha": 5.0, "a": 0.8, "b": 2.5}
    n = 20_000
    big_t = np.random.default_rng(1).uniform(20.0, 52.0, n)
    x, t_x, hold = _simulate_bg_nbd(n, truth, big_t, 39.0, seed=2)
    model = models.BetaGeoModel.fit(x, t_x, big_t)
    out = model.predict(39.0, x, t_x, big_t, level=0.9, n_draws=200, seed=3)
    low, high = out["purchases_low"].to_numpy(), out["purchases_high"].to_numpy()
    inside = float(np.mean((hold >= low) & (hold <= high)))
    # the rule guarantees >= 90 % under the model; discreteness makes it conservative.
    # The model's own mass inside each interval (point parameters) bounds it from above.
    kernel = pr._bg_kernel(False)
    theta = model._estimates()[None, :]
    surv = kernel(theta, (x, t_x, big_t), np.array([39.0]), 200, None)
    cdf = 1 - surv
    cols = np.arange(n)
    mass = cdf[high.astype(int), cols] - np.where(
        low > 0, cdf[np.maximum(low.astype(int) - 1, 0), cols], 0.0
    )
    se = math.sqrt(0.9 * 0.1 / n)  # 0.0021
    assert 0.9 - 4 * se <= inside <= float(mass.mean()) + 4 * se + 0.005
    # and the total's 95 % prediction interval covers the actual total
    total = model.predict_total(39.0, x, t_x, big_t, n_draws=200, seed=4)
    assert total.low <= hold.sum() <= total.high
    assert total.estimate == pytest.approx(out["expected_purchases"].sum(), rel=1e-12)
    conf = model.predict_total(39.0, x, t_x, big_t, n_draws=200, seed=4, process_uncertainty=False)
    assert conf.high - conf.low < total.high - total.low


@pytest.fixture(scope="module")
def cdnow_split() -> pl.DataFrame:
    return tables.calibration_holdout_split(
        cdnow_log(),
        calibration_end=dt.date(1997, 9, 30),
        holdout_end=dt.date(1998, 6, 30),
        time_scaler=7,
    )


def test_cdnow_holdout_coverage_figures_of_the_docs(cdnow_split: pl.DataFrame) -> None:
    """docs/concepts/clv-uncertainty.md quotes these CDNOW weeks 40-78 figures."""
    rfm = (cdnow_split["frequency_cal"], cdnow_split["recency_cal"], cdnow_split["T_cal"])
    actual = cdnow_split["frequency_holdout"].to_numpy()
    assert actual.sum() == 1882
    model = models.BetaGeoModel.fit(*rfm)
    out = model.predict(39.0, *rfm, level=0.9, n_draws=1000, seed=2)
    inside = np.mean(
        (actual >= out["purchases_low"].to_numpy()) & (actual <= out["purchases_high"].to_numpy())
    )
    assert round(float(inside), 3) == 0.947
    conf = model.predict_total(39.0, *rfm, n_draws=1000, seed=2, process_uncertainty=False)
    pred = model.predict_total(39.0, *rfm, n_draws=1000, seed=2)
    assert (round(conf.low), round(conf.high)) == (1515, 1796)
    assert (round(pred.low), round(pred.high)) == (1475, 1851)
    assert conf.high < 1882
    assert pred.high < 1882


# --- 4. CLV interval -------------------------------------------------------------------

SPEND = (CDNOW["monetary_value"].to_numpy(),)


def test_clv_column_is_customer_lifetime_value_exactly(
    bg: models.BetaGeoModel, gg: models.GammaGammaModel
) -> None:
    out = models.customer_lifetime_value_interval(bg, gg, *RFM, *SPEND, time_unit="W")
    point = models.customer_lifetime_value(bg, gg, *RFM, *SPEND, time_unit="W")
    np.testing.assert_array_equal(out["clv"], point)
    assert out.columns == ["clv", "clv_low", "clv_high"]
    assert (out["clv_low"] <= out["clv"]).all()
    assert (out["clv"] <= out["clv_high"]).all()
    assert (out["clv_low"] > 0).all()


@pytest.mark.parametrize("policy", ["population_mean", "zero"])
def test_clv_interval_follows_the_units_and_the_spend_policy_of_customer_lifetime_value(
    bg: models.BetaGeoModel, gg: models.GammaGammaModel, policy: str
) -> None:
    """The options of `customer_lifetime_value` mean the same in the interval."""
    spend = SPEND[0].copy()
    repeat = np.flatnonzero(RFM[0] > 0)[:5]
    spend[repeat] = 0.0  # five repeat customers with free orders only
    # weeks in rfm_summary's spelling: days with time_scaler=7
    opts: dict[str, Any] = {"time_unit": "D", "time_scaler": 7, "nonpositive_spend": policy}
    out = models.customer_lifetime_value_interval(bg, gg, *RFM, spend, **opts)
    point = models.customer_lifetime_value(bg, gg, *RFM, spend, **opts)
    np.testing.assert_array_equal(out["clv"], point)
    weekly = models.customer_lifetime_value_interval(
        bg, gg, *RFM, spend, time_unit="W", nonpositive_spend=policy
    )
    np.testing.assert_allclose(out["clv_low"], weekly["clv_low"], rtol=1e-9)
    free = out[repeat.tolist()]
    if policy == "zero":
        assert (free["clv_low"] == 0).all()
        assert (free["clv_high"] == 0).all()
    else:
        # valued at the population mean: a finite interval of positive width around it
        assert (free["clv_low"] < free["clv"]).all()
        assert (free["clv"] < free["clv_high"]).all()
        assert np.isfinite(free["clv_high"].to_numpy()).all()


@pytest.mark.parametrize("name", ["bg", "pareto"])
def test_clv_delta_method_matches_direct_differences_of_customer_lifetime_value(
    name: str, gg: models.GammaGammaModel, request: pytest.FixtureRequest
) -> None:
    """Independent: the gradient from whole `customer_lifetime_value` calls."""
    tm = request.getfixturevalue(name)
    out = models.customer_lifetime_value_interval(
        tm, gg, *RFM, *SPEND, time_unit="W", level=0.95, horizon=6, discount_rate=0.02
    )
    base = np.log(
        models.customer_lifetime_value(
            tm, gg, *RFM, *SPEND, time_unit="W", horizon=6, discount_rate=0.02
        )
    )
    var = np.zeros(base.size)
    for model, is_t in ((tm, True), (gg, False)):
        p = model._estimates()
        grads = []
        for j in range(p.size):
            sides = []
            for sign in (1, -1):
                q = p.copy()
                q[j] *= math.exp(sign * 1e-5)
                moved = type(model).from_params(**dict(zip(model.PARAM_NAMES, q, strict=True)))
                args = (moved, gg) if is_t else (tm, moved)
                sides.append(
                    np.log(
                        models.customer_lifetime_value(
                            *args, *RFM, *SPEND, time_unit="W", horizon=6, discount_rate=0.02
                        )
                    )
                )
            grads.append((sides[0] - sides[1]) / 2e-5)
        g = np.array(grads)
        var += np.einsum("in,ij,jn->n", g, model._log_covariance(), g)
    expected_high = np.exp(base + 1.959963984540054 * np.sqrt(var))
    np.testing.assert_allclose(out["clv_high"], expected_high, rtol=1e-6)


def test_clv_delta_method_agrees_with_parameter_draws(
    bg: models.BetaGeoModel, gg: models.GammaGammaModel
) -> None:
    idx = slice(0, 200)
    sub = (*tuple(a[idx] for a in RFM), SPEND[0][idx])
    delta = models.customer_lifetime_value_interval(bg, gg, *sub, time_unit="W", level=0.9)
    draws = models.customer_lifetime_value_interval(
        bg, gg, *sub, time_unit="W", level=0.9, n_draws=600, seed=1
    )
    assert draws["clv"].equals(delta["clv"])
    width = (delta["clv_high"] - delta["clv_low"]) / (draws["clv_high"] - draws["clv_low"])
    assert 0.85 < float(width.median()) < 1.15


def test_clv_spline_path_matches_exact_evaluation(
    bg: models.BetaGeoModel, gg: models.GammaGammaModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Continuous T: > 257 distinct T per frequency triggers the spline over log(alpha+T)."""
    sim = bg.simulate(3000, np.random.default_rng(0).uniform(10, 60, 3000), seed=1)
    data = tuple(sim[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    spend = np.full(3000, 30.0)
    spline = models.customer_lifetime_value_interval(bg, gg, *data, spend, time_unit="W")
    monkeypatch.setattr(ci, "_GRID_NODES", 10**9)
    exact = models.customer_lifetime_value_interval(bg, gg, *data, spend, time_unit="W")
    np.testing.assert_allclose(spline["clv_high"], exact["clv_high"], rtol=1e-8)


def test_clv_interval_errors(bg: models.BetaGeoModel, gg: models.GammaGammaModel) -> None:
    fixed = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    with pytest.raises(ValueError, match="covariance"):
        models.customer_lifetime_value_interval(fixed, gg, *RFM, *SPEND, time_unit="W")
    with pytest.raises(TypeError, match="time_unit"):
        models.customer_lifetime_value_interval(bg, gg, *RFM, *SPEND)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="level"):
        models.customer_lifetime_value_interval(bg, gg, *RFM, *SPEND, time_unit="W", level=2)
    zero = models.customer_lifetime_value_interval(bg, gg, *RFM, *SPEND, time_unit="W", margin=0.0)
    assert (zero["clv_low"] == 0).all()
    assert (zero["clv_high"] == 0).all()


def test_total_clv_interval_is_a_log_scale_delta_interval(
    bg: models.BetaGeoModel, gg: models.GammaGammaModel
) -> None:
    total = ci.total_clv_interval(bg, gg, *RFM, *SPEND, time_unit="W")
    point = models.customer_lifetime_value(bg, gg, *RFM, *SPEND, time_unit="W").sum()
    assert total.estimate == pytest.approx(point, rel=1e-12)
    assert total.low < point < total.high
    assert total.low * total.high == pytest.approx(point**2, rel=1e-9)


def test_report_clv_section_shows_totals_with_intervals() -> None:
    from loyaltymetrics._report import ColumnNames, build_report

    report = build_report(cdnow_log(), ColumnNames("customer_id", "timestamp", "amount"))
    clv = report.clv_summary
    low, high = (
        float(v.replace(",", ""))
        for v in clv["total 12-month CLV, 95 % confidence interval"].split(" to ")
    )
    assert low < float(clv["total 12-month CLV"]) < high
    low, high = (
        float(v.replace(",", ""))
        for v in clv["purchases next 52 weeks, 95 % prediction interval"].split(" to ")
    )
    assert low < float(clv["expected purchases next 52 weeks"]) < high


@settings(max_examples=25, deadline=None)
@given(
    r=st.floats(0.05, 5.0),
    alpha=st.floats(0.5, 50.0),
    a=st.floats(0.1, 5.0),
    b=st.floats(0.1, 10.0),
    x=st.integers(0, 30),
    share=st.floats(0.0, 1.0),
    big_t=st.floats(1.0, 100.0),
    t=st.floats(0.5, 80.0),
    modified=st.booleans(),
)
def test_conditional_survival_is_a_distribution_with_the_model_mean(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: int,
    share: float,
    big_t: float,
    t: float,
    modified: bool,
) -> None:
    cls = models.ModifiedBetaGeoModel if modified else models.BetaGeoModel
    model = cls.from_params(r=r, alpha=alpha, a=a, b=b)
    tx = share * big_t if x > 0 else 0.0
    data = (np.array([float(x)]), np.array([tx]), np.array([big_t]))
    expected = float(model.expected_purchases(t, *data)[0])
    assume(expected < 100)  # the survival below is summed to 1200 purchases
    surv = pr._bg_kernel(modified)(np.array([[r, alpha, a, b]]), data, np.array([t]), 1200, None)[
        :, 0
    ]
    assert np.all(np.diff(surv) <= 1e-12)  # P(Y > y) never increases
    assert 0.0 <= surv[0] <= 1.0
    assume(surv[-1] < 1e-15)  # the tail beyond 1200 purchases is negligible
    assert surv.sum() == pytest.approx(expected, rel=1e-8, abs=1e-10)


def test_bg_bb_conditional_distribution_matches_rejection_sampling(
    bgbb: models.BetaGeoBetaBinomModel,
) -> None:
    """Independent: run the BG/BB process from the prior, keep the customers whose first
    n opportunities match the history, and tabulate their next t transactions."""
    p = bgbb.params
    n_sim, n, t = 1_000_000, 6, 4
    rng = np.random.default_rng(8)
    prob = rng.beta(p["alpha"], p["beta"], n_sim)
    theta = rng.beta(p["gamma"], p["delta"], n_sim)
    alive_for = rng.geometric(theta) - 1  # opportunities survived
    buys = (np.arange(1, n + t + 1)[:, None] <= alive_for) & (rng.random((n + t, n_sim)) < prob)
    x = buys[:n].sum(axis=0)
    last = np.where(x > 0, n - np.argmax(buys[:n][::-1], axis=0), 0)
    future = buys[n:].sum(axis=0)
    theta_hat = np.array(list(p.values()))[None, :]
    for hx, htx in ((0, 0), (2, 3), (4, 6)):
        keep = (x == hx) & (last == htx)
        assert keep.sum() > 5000
        empirical = np.array([(future[keep] <= y).mean() for y in range(t + 1)])
        data = (np.array([float(hx)]), np.array([float(htx)]), np.array([float(n)]))
        cdf = 1 - pr._bgbb_kernel(theta_hat, data, np.array([float(t)]), t, None, True)[:, 0]
        se = np.sqrt(empirical * (1 - empirical) / keep.sum())
        assert np.all(np.abs(cdf - empirical) <= 4 * se + 1e-3)


def test_every_model_class_has_parameter_uncertainty() -> None:
    # API.md §4d: every fitted model (transaction, spend and contractual) has `covariance`
    # and `confidence_intervals`; a model class added without the hook fails here
    import dataclasses

    classes = [
        obj
        for name in models.__all__
        if isinstance(obj := getattr(models, name), type) and hasattr(obj, "PARAM_NAMES")
    ]
    assert models.ShiftedBetaGeometricModel in classes
    assert models.BetaDiscreteWeibullModel in classes
    for cls in classes:
        assert issubclass(cls, u.ParameterUncertainty), cls.__name__
        assert "covariance" in {f.name for f in dataclasses.fields(cls)}, cls.__name__
