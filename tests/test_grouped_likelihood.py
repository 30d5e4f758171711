"""The grouped BG/NBD and MBG/NBD likelihood of the fits (`_beta_geometric.loglik_totals`).

The fits sum the likelihood, its gradient and its Hessian per distinct frequency over
customers sorted once (`GroupedCustomers`). Checked here against the per-customer terms
of each model and `_uncertainty.beta_geometric_hessian` on random data, against the
papers' formulas in 40-digit arithmetic (derivatives by mpmath's numerical
differentiation), and near the homogeneous boundary where r is huge. Also the one-thread
OpenBLAS guard of `fit_mle`.
"""

from __future__ import annotations

import threading
from typing import Any

import mpmath
import numpy as np
import pytest
from scipy import optimize

from loyaltymetrics import models
from loyaltymetrics._typing import FloatArray
from loyaltymetrics.models import _base as b
from loyaltymetrics.models import _beta_geometric as bgm
from loyaltymetrics.models import _uncertainty as u
from loyaltymetrics.models._bg_nbd import _loglik_terms as bg_terms
from loyaltymetrics.models._mbg_nbd import _loglik_terms as mbg_terms


def _data(
    rng: np.random.Generator, n: int, *, zeros: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x = np.minimum(rng.geometric(0.3, n) - (1 if zeros else 0), 70).astype(np.float64)
    big_t = rng.uniform(0.0, 60.0, n)
    t_x = np.where(x > 0, big_t * rng.uniform(0.0, 1.0, n), 0.0)
    return x, t_x, big_t


def _params(rng: np.random.Generator) -> FloatArray:
    return np.exp(rng.uniform(-2.0, 2.5, 4))


@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("zeros", [True, False])
def test_the_totals_are_the_sums_of_the_per_customer_terms(
    modified: bool, weighted: bool, zeros: bool
) -> None:
    rng = np.random.default_rng(int(modified) + 2 * int(weighted) + 4 * int(zeros))
    x, t_x, big_t = _data(rng, 3000, zeros=zeros)
    w = rng.integers(0, 4, x.size).astype(np.float64) if weighted else np.ones(x.size)
    data = bgm.GroupedCustomers(x, t_x, big_t, w, modified=modified)
    terms = mbg_terms if modified else bg_terms
    for _ in range(4):
        p = _params(rng)
        ll, grad, hess = bgm.loglik_totals(p, data, hessian=True)
        per_customer, grads = terms(p, x, t_x, big_t)
        scale = float(np.sum(w))
        assert ll == pytest.approx(float(np.sum(w * per_customer)), rel=1e-12)
        expected = np.array([np.sum(w * g) for g in grads])
        np.testing.assert_allclose(grad, expected, rtol=1e-9, atol=1e-11 * scale)
        reference = u.beta_geometric_hessian(p, x, t_x, big_t, w, modified=modified)
        assert hess is not None
        np.testing.assert_allclose(hess, reference, rtol=1e-9, atol=1e-11 * scale)
        assert bgm.loglik_totals(p, data)[2] is None


def _paper_loglik(p: Any, x: Any, t_x: Any, big_t: Any, *, modified: bool) -> Any:
    """FHL (2005) eq. 6 / Batislam et al. (2007), summed, in mpmath."""
    r, alpha, a, bb = p
    total = mpmath.mpf(0)
    for xi, txi, ti in zip(x, t_x, big_t, strict=True):
        xi, txi, ti = int(xi), mpmath.mpf(txi), mpmath.mpf(ti)
        head = mpmath.loggamma(r + xi) - mpmath.loggamma(r) + r * mpmath.log(alpha)
        lb = mpmath.log(mpmath.beta(a, bb))
        if modified:
            first = mpmath.log(mpmath.beta(a, bb + xi + 1)) - (r + xi) * mpmath.log(alpha + ti)
            second = mpmath.log(mpmath.beta(a + 1, bb + xi)) - (r + xi) * mpmath.log(alpha + txi)
            total += head - lb + mpmath.log(mpmath.exp(first) + mpmath.exp(second))
        else:
            term = mpmath.beta(a, bb + xi) * (alpha + ti) ** -(r + xi)
            if xi > 0:
                term += mpmath.beta(a + 1, bb + xi - 1) * (alpha + txi) ** -(r + xi)
            total += head - lb + mpmath.log(term)
    return total


@pytest.mark.parametrize("modified", [False, True])
def test_value_gradient_and_hessian_match_40_digit_arithmetic(modified: bool) -> None:
    mpmath.mp.dps = 40
    rng = np.random.default_rng(11 + modified)
    x, t_x, big_t = _data(rng, 12)
    data = bgm.GroupedCustomers(x, t_x, big_t, np.ones(x.size), modified=modified)
    points = [_params(rng) for _ in range(2)] + [np.array([2e3, 4e3, 0.8, 2.5])]
    for p in points:
        ll, grad, hess = bgm.loglik_totals(p, data, hessian=True)
        assert hess is not None

        def f(*q: Any) -> Any:
            return _paper_loglik(q, x, t_x, big_t, modified=modified)

        q = [mpmath.mpf(float(v)) for v in p]
        assert ll == pytest.approx(float(f(*q)), rel=1e-12)
        for i in range(4):
            order = [0] * 4
            order[i] = 1
            exact = float(mpmath.diff(f, q, tuple(order)))
            assert grad[i] == pytest.approx(exact, rel=1e-8, abs=1e-10)
            for j in range(i, 4):
                order = [0] * 4
                order[i] += 1
                order[j] += 1
                exact = float(mpmath.diff(f, q, tuple(order)))
                assert hess[i, j] == pytest.approx(exact, rel=1e-7, abs=1e-9)
                assert hess[j, i] == hess[i, j]


def test_rising_factorials_stay_exact_for_huge_r() -> None:
    mpmath.mp.dps = 40
    x = np.array([0.0, 1.0, 5.0, 40.0])
    for r in (0.3, 7.0, 3.6e10):
        value, first, second = bgm._rising(r, x)
        for i, xi in enumerate(x):
            rr = mpmath.mpf(r)
            assert value[i] == pytest.approx(
                float(mpmath.loggamma(rr + xi) - mpmath.loggamma(rr)), rel=1e-13, abs=1e-300
            )
            assert first[i] == pytest.approx(
                float(mpmath.digamma(rr + xi) - mpmath.digamma(rr)), rel=1e-13, abs=1e-300
            )
            assert second[i] == pytest.approx(
                float(mpmath.psi(1, rr + xi) - mpmath.psi(1, rr)), rel=1e-12, abs=1e-300
            )


def test_one_frequency_only_and_every_customer_without_a_repeat_but_one() -> None:
    rng = np.random.default_rng(5)
    for x in (np.full(50, 3.0), np.r_[np.zeros(49), 2.0]):
        big_t = rng.uniform(1.0, 30.0, x.size)
        t_x = np.where(x > 0, big_t / 2, 0.0)
        for modified, terms in ((False, bg_terms), (True, mbg_terms)):
            data = bgm.GroupedCustomers(x, t_x, big_t, np.ones(x.size), modified=modified)
            p = _params(rng)
            ll, grad, _ = bgm.loglik_totals(p, data)
            per_customer, grads = terms(p, x, t_x, big_t)
            assert ll == pytest.approx(float(per_customer.sum()), rel=1e-12)
            np.testing.assert_allclose(grad, [g.sum() for g in grads], rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------- one OpenBLAS thread


needs_openblas = pytest.mark.skipif(
    b._scipy_openblas() is None, reason="scipy does not use its bundled OpenBLAS here"
)


@needs_openblas
def test_the_optimiser_runs_on_one_blas_thread_and_the_count_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blas = b._scipy_openblas()
    assert blas is not None
    get, put = blas
    before = int(get())
    put(2)
    seen: list[int] = []
    real = optimize.minimize

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(int(get()))
        return real(*args, **kwargs)

    monkeypatch.setattr(b.optimize, "minimize", spy)
    try:
        models.BetaGeoModel.fit([0, 1, 2, 0, 4, 1], [0, 3, 5, 0, 9, 2], [10, 10, 10, 9, 12, 6])
        assert seen
        assert set(seen) == {1}
        assert int(get()) == 2
    finally:
        put(before)


@needs_openblas
def test_nested_and_concurrent_guards_restore_the_count() -> None:
    blas = b._scipy_openblas()
    assert blas is not None
    get, put = blas
    before = int(get())
    put(2)
    try:
        with b._one_blas_thread():
            with b._one_blas_thread():
                assert get() == 1
            assert get() == 1
        assert get() == 2
        start = threading.Barrier(4)

        def work() -> None:
            start.wait()
            for _ in range(50):
                with b._one_blas_thread():
                    assert get() == 1

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert get() == 2
    finally:
        put(before)


def test_the_guard_does_not_change_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    from loyaltymetrics import datasets

    c = datasets.load_cdnow_summary()
    rfm = (c["frequency"], c["recency"], c["T"])
    guarded = models.BetaGeoModel.fit(*rfm)
    monkeypatch.setattr(b, "_one_blas_thread", contextlib.nullcontext)
    assert models.BetaGeoModel.fit(*rfm).params == guarded.params
