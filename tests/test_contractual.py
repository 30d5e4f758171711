"""sBG and BdW contractual retention models: published values, independent likelihoods.

Sources of the expected values:

* FH2007: Fader & Hardie (2007), How to Project Customer Retention, JIM 21(1), Table 1
  (survivors of 1,000 at the start of years 0-12) and the estimates in the text
  (years 0-7: regular alpha 0.704, beta 1.182; high end alpha 0.668, beta 3.806).
* FH2010: Fader & Hardie (2010), Marketing Science 29(1): DERL; the value 7.53 for the
  high end with the 7-year estimates, d = 0.10 and 7 renewals is the one in API.md §4c.
* FHLDS2018: Fader, Hardie, Liu, Davin & Steenburgh (2018), JIM 43: polarisation index
  on the high-end data, years 0-4: 0.099 (sBG) and 0.335 (BdW).
* Hardie's note "Fitting the sBG Model to Multi-Cohort Data" (2007): alpha 3.80,
  beta 15.19. The note itself was not at hand; the four-cohort layout below (the oldest
  cohort 10000, 8000, 6480, 5307, 4391 and the younger ones truncated) is the one used
  by public re-implementations' tests of that note, and it reproduces both estimates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, optimize
from scipy import stats as sps

from loyaltymetrics import datasets, models
from loyaltymetrics.models import _bdw as bdw
from loyaltymetrics.models import _contractual as ct

SBG = models.ShiftedBetaGeometricModel
BDW = models.BetaDiscreteWeibullModel

REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]
MULTI_COHORT = [
    [10000, 8000, 6480, 5307, 4391],
    [10000, 8000, 6480, 5307],
    [10000, 8000, 6480],
    [10000, 8000],
]


# -- independent, straightforward implementations ------------------------------------------


def sbg_pmf_recursive(alpha: float, beta: float, n: int) -> np.ndarray:
    """P(T = 1..n) by FH2007's recursion: P(1) = a/(a+b), P(t) = (b+t-2)/(a+b+t-1) P(t-1)."""
    p = np.empty(n)
    p[0] = alpha / (alpha + beta)
    for t in range(2, n + 1):
        p[t - 1] = p[t - 2] * (beta + t - 2) / (alpha + beta + t - 1)
    return p


def sbg_survival_recursive(alpha: float, beta: float, n: int) -> np.ndarray:
    """S(0..n) = 1 - cumulative P(T = t)."""
    return np.concatenate([[1.0], 1.0 - np.cumsum(sbg_pmf_recursive(alpha, beta, n))])


def survivors_loglik(survival: np.ndarray, counts: list[int]) -> float:
    """LL of one cohort's survivor counts from a survival curve S(0..)."""
    n = np.asarray(counts, dtype=float)
    k = len(counts) - 1
    lost = n[:-1] - n[1:]
    pmf = survival[:k] - survival[1 : k + 1]
    return float(np.sum(lost * np.log(pmf)) + n[-1] * math.log(survival[k]))


def bdw_survival_quadrature(gamma: float, delta: float, c: float, t: np.ndarray) -> np.ndarray:
    """S(t) = E[(1 - theta)^(t^c)], theta ~ Beta(gamma, delta), by numerical integration."""
    dist = sps.beta(gamma, delta)
    out = []
    for tt in np.atleast_1d(t):
        val, _ = integrate.quad(
            lambda th, e=float(tt) ** c: (1 - th) ** e * dist.pdf(th),
            0,
            1,
            epsabs=1e-14,
            epsrel=1e-12,
            limit=200,
        )
        out.append(val)
    return np.array(out)


def discounted_sum(survival: np.ndarray, first: int, d: float) -> float:
    """sum_k S(first + k)/S(first - 1) / (1 + d)^k, with S(-1) = 1, summed term by term."""
    ref = 1.0 if first == 0 else survival[first - 1]
    k = np.arange(survival.shape[0] - first)
    return float(np.sum(survival[first:] / ref / (1 + d) ** k))


# -- published estimates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "alpha", "beta"),
    [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)],
    ids=["regular", "high_end"],
)
def test_fh2007_estimates_years_0_to_7(data: list[int], alpha: float, beta: float) -> None:
    m = SBG.fit_survivors(data[:8])
    assert round(m.params["alpha"], 3) == alpha
    assert round(m.params["beta"], 3) == beta
    assert m.n_customers == 1000
    # the same fit from per-pattern (lifetime, churned) data
    lost = [data[t - 1] - data[t] for t in range(1, 8)]
    p = SBG.fit(list(range(1, 9)), [True] * 7 + [False], weights=[*lost, data[7]])
    assert p.params["alpha"] == pytest.approx(m.params["alpha"], rel=1e-9)
    assert p.log_likelihood == pytest.approx(m.log_likelihood, rel=1e-12)


def test_fh2007_public_copy_with_298_gives_other_estimates() -> None:
    # a public copy of Table 1 has 298 for regular year 5; it does not reproduce the paper
    wrong = list(REGULAR[:8])
    wrong[5] = 298
    m = SBG.fit_survivors(wrong)
    assert round(m.params["alpha"], 3) != 0.704 or round(m.params["beta"], 3) != 1.182


@pytest.mark.parametrize("data", [REGULAR, HIGH_END], ids=["regular", "high_end"])
def test_sbg_loglik_matches_independent_recursion(data: list[int]) -> None:
    m = SBG.fit_survivors(data[:8])
    al, be = m.params["alpha"], m.params["beta"]
    expected = survivors_loglik(sbg_survival_recursive(al, be, 8), data[:8])
    assert m.log_likelihood == pytest.approx(expected, rel=1e-12)
    # and it is the maximum of the independent likelihood
    res = optimize.minimize(
        lambda q: -survivors_loglik(sbg_survival_recursive(*np.exp(q), 8), data[:8]),
        np.zeros(2),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000},
    )
    assert np.exp(res.x) == pytest.approx([al, be], rel=1e-5)


def test_bdw_loglik_matches_quadrature() -> None:
    m = BDW.fit_survivors(HIGH_END[:8])
    g, d, c = (m.params[k] for k in ("gamma", "delta", "c"))
    survival = bdw_survival_quadrature(g, d, c, np.arange(9))
    assert m.log_likelihood == pytest.approx(survivors_loglik(survival, HIGH_END[:8]), rel=1e-9)
    assert m.survival(np.arange(9)) == pytest.approx(survival, rel=1e-9, abs=1e-13)


def test_polarization_index_fhlds2018_years_0_to_4() -> None:
    five = HIGH_END[:5]
    assert round(SBG.fit_survivors(five).polarization_index, 3) == 0.099
    bdw = BDW.fit_survivors(five)
    assert round(bdw.polarization_index, 3) == 0.335
    assert bdw.params["c"] > 1  # the paper's finding: churn propensity rises with tenure


def test_multi_cohort_hardie_note() -> None:
    m = SBG.fit_survivors(MULTI_COHORT)
    assert round(m.params["alpha"], 2) == 3.80
    assert round(m.params["beta"], 2) == 15.19
    # independent likelihood: the sum of each cohort's own likelihood
    al, be = m.params["alpha"], m.params["beta"]
    survival = sbg_survival_recursive(al, be, 5)
    expected = sum(survivors_loglik(survival, cohort) for cohort in MULTI_COHORT)
    assert m.log_likelihood == pytest.approx(expected, rel=1e-12)
    assert m.n_customers == 40000
    # a cohort with a single count is allowed and adds nothing to the likelihood
    more = SBG.fit_survivors([*MULTI_COHORT, [10000]])
    assert more.params["alpha"] == pytest.approx(al, rel=1e-6)
    assert more.log_likelihood == pytest.approx(m.log_likelihood, rel=1e-12)


def test_multi_cohort_simulate_and_recover() -> None:
    truth = SBG.from_params(alpha=1.2, beta=4.0)
    rng = np.random.default_rng(11)
    cohorts = []
    for age in range(1, 9):
        sim = truth.simulate(5000, age, seed=int(rng.integers(1 << 30)))
        life = sim["lifetime"].to_numpy()
        cohorts.append([int(np.sum(life > t)) for t in range(age)])
    m = SBG.fit_survivors(cohorts)
    for k in ("alpha", "beta"):
        assert abs(m.params[k] - truth.params[k]) < 4 * m.standard_errors[k]


# -- DEL and DERL ---------------------------------------------------------------------------


def test_derl_fh2010_high_end_seven_renewals() -> None:
    m = SBG.fit_survivors(HIGH_END[:8])
    assert round(m.expected_residual_lifetime(7, discount_rate=0.10), 2) == 7.53
    # the paper's rounded estimates give the same figure
    r = SBG.from_params(alpha=0.668, beta=3.806)
    assert round(r.expected_residual_lifetime(7, discount_rate=0.10), 2) == 7.53


@pytest.mark.parametrize(("alpha", "beta"), [(0.668, 3.806), (3.80, 15.20), (0.067, 0.267)])
@pytest.mark.parametrize("d", [0.01, 0.10, 1.0])
def test_del_derl_match_term_by_term_sums(alpha: float, beta: float, d: float) -> None:
    # FH2010 illustrate with (3.80, 15.20) and (0.067, 0.267); summed until the terms vanish
    n_terms = int(40 / math.log1p(d)) + 10
    survival = sbg_survival_recursive(alpha, beta, n_terms)
    m = SBG.from_params(alpha=alpha, beta=beta)
    tol = 1e-10 if alpha > 0.5 else 1e-7  # alpha = 0.067: S decays as t^-0.067, slow sum
    assert m.expected_lifetime(discount_rate=d) == pytest.approx(
        discounted_sum(survival, 0, d), rel=tol
    )
    renewals = np.array([0, 1, 7, 20])
    got = m.expected_residual_lifetime(renewals, discount_rate=d)
    assert isinstance(got, np.ndarray)
    want = [discounted_sum(survival, int(n) + 1, d) for n in renewals]
    assert got == pytest.approx(want, rel=tol)
    # BdW with c = 1 is the sBG: its numerical sums match the closed form
    w = BDW.from_params(gamma=alpha, delta=beta, c=1.0)
    assert w.expected_residual_lifetime(renewals, discount_rate=d) == pytest.approx(got, rel=1e-10)
    assert w.expected_lifetime(discount_rate=d) == pytest.approx(
        m.expected_lifetime(discount_rate=d), rel=1e-10
    )


def test_derl_renewal_convention() -> None:
    # renewals = n: the customer has paid n + 1 periods (alive at the start of period n);
    # DERL counts the payments from period n + 1 on, the first one undiscounted
    m = SBG.from_params(alpha=0.668, beta=3.806)
    s = sbg_survival_recursive(0.668, 3.806, 3000)
    d = 0.10
    assert m.expected_residual_lifetime(7, discount_rate=d) == pytest.approx(
        sum(s[8 + k] / s[7] / (1 + d) ** k for k in range(2000)), rel=1e-10
    )
    # a just-acquired customer: DEL = first payment + discounted DERL after 0 renewals
    assert m.expected_lifetime(discount_rate=d) == pytest.approx(
        1 + m.expected_residual_lifetime(0, discount_rate=d) / (1 + d), rel=1e-12
    )
    # the first future payment happens with probability r(n + 1) = S(n + 1)/S(n):
    # at d -> infinity only that term survives
    assert m.expected_residual_lifetime(7, discount_rate=1e9) == pytest.approx(
        m.retention_rate(8), rel=1e-6
    )


def test_del_derl_undiscounted() -> None:
    m = SBG.from_params(alpha=3.8, beta=15.2)
    # E[T] = (alpha + beta - 1)/(alpha - 1); E[residual] = (beta + n)/(alpha - 1)
    assert m.expected_lifetime(discount_rate=0) == pytest.approx(18.0 / 2.8, rel=1e-13)
    assert m.expected_residual_lifetime(4, discount_rate=0) == pytest.approx(19.2 / 2.8)
    # term-by-term with an exact power tail is too slow; a long sum plus the bound
    # product form S(t) = prod (beta + i)/(alpha + beta + i): no cancellation in a long sum
    i = np.arange(200_000)
    s = np.concatenate([[1.0], np.cumprod((15.2 + i) / (19.0 + i))])
    assert m.expected_lifetime(discount_rate=0) == pytest.approx(float(s.sum()), rel=1e-9)
    w = BDW.from_params(gamma=3.8, delta=15.2, c=1.0)
    assert w.expected_lifetime(discount_rate=0) == pytest.approx(18.0 / 2.8, rel=1e-9)
    assert w.expected_residual_lifetime(4, discount_rate=0) == pytest.approx(19.2 / 2.8, rel=1e-9)


def test_infinite_lifetime_is_inf() -> None:
    m = SBG.from_params(alpha=0.668, beta=3.806)
    assert m.expected_lifetime(discount_rate=0) == math.inf
    assert m.expected_residual_lifetime(3, discount_rate=0) == math.inf
    assert SBG.from_params(alpha=1.0, beta=2.0).expected_lifetime(discount_rate=0) == math.inf
    w = BDW.from_params(gamma=0.5, delta=2.0, c=1.9)  # c gamma = 0.95 <= 1
    assert w.expected_lifetime(discount_rate=0) == math.inf
    assert np.isinf(w.expected_residual_lifetime([1, 2], discount_rate=0)).all()
    # c gamma > 1 is finite, whatever gamma alone
    finite = BDW.from_params(gamma=0.8, delta=2.0, c=2.0)
    got = finite.expected_lifetime(discount_rate=0)
    assert math.isfinite(got)
    partial = float(np.sum(bdw_survival_quadrature(0.8, 2.0, 2.0, np.arange(60))))
    assert got > partial  # a partial sum is a lower bound


def test_bdw_derl_matches_quadrature_sum() -> None:
    w = BDW.from_params(gamma=0.26, delta=1.72, c=1.58)
    s = bdw_survival_quadrature(0.26, 1.72, 1.58, np.arange(400))
    d = 0.10
    assert w.expected_lifetime(discount_rate=d) == pytest.approx(discounted_sum(s, 0, d), rel=1e-8)
    assert w.expected_residual_lifetime(3, discount_rate=d) == pytest.approx(
        discounted_sum(s, 4, d), rel=1e-8
    )


# -- c = 1 is the sBG -----------------------------------------------------------------------


@given(
    alpha=st.floats(0.05, 20.0),
    beta=st.floats(0.05, 50.0),
    t=st.lists(st.integers(1, 500), min_size=1, max_size=20),
    flags=st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_bdw_with_c_one_is_the_sbg(
    alpha: float, beta: float, t: list[int], flags: list[bool]
) -> None:
    life = np.array(t, dtype=float)
    churned = np.array(flags[: len(t)])
    ll_s, _ = ct.sbg_loglik(np.array([alpha, beta]), life, churned)
    ll_b, grad_b = bdw.bdw_loglik(np.array([alpha, beta, 1.0]), life, churned)
    # the BdW likelihood takes log(1 - S(t)/S(t-1)) from two scipy log-betas, whose
    # difference carries about 1e-9 relative error for long lifetimes (1.2e-9 at alpha
    # 0.0508, beta 37, lifetime 500 against mpmath); the sBG's is in closed form
    assert ll_b == pytest.approx(ll_s, rel=1e-8, abs=1e-12)
    s = SBG.from_params(alpha=alpha, beta=beta)
    w = BDW.from_params(gamma=alpha, delta=beta, c=1.0)
    for name in ("survival", "retention_rate", "churn_probability"):
        assert getattr(w, name)(life) == pytest.approx(getattr(s, name)(life), rel=1e-9, abs=1e-300)
    # the sBG's closed-form retention rate
    assert s.retention_rate(life) == pytest.approx(
        (beta + life - 1) / (alpha + beta + life - 1), rel=1e-10
    )
    assert np.isfinite(grad_b).all()


def test_c_one_fit_equals_sbg_fit_on_sbg_data() -> None:
    # on data the sBG generated, the BdW likelihood at c = 1 equals the sBG's exactly
    sim = SBG.from_params(alpha=0.9, beta=2.0).simulate(2000, 10, seed=4)
    s = SBG.fit(sim["lifetime"], sim["churned"])
    w = BDW.fit(sim["lifetime"], sim["churned"])
    assert w.log_likelihood >= s.log_likelihood - 1e-9  # nested model
    objective = BDW._objective(
        *ct.compress(
            sim["lifetime"].to_numpy().astype(float),
            sim["churned"].to_numpy(),
            np.ones(sim.height),
        )
    )
    at_one = objective(np.array([s.params["alpha"], s.params["beta"], 1.0]))[0]
    assert at_one == pytest.approx(s.log_likelihood, rel=1e-12)


# -- gradients and standard errors ----------------------------------------------------------


def mp_loglik(gamma: object, delta: object, c: object, t: int, churned: bool) -> object:
    """One pattern's BdW log-likelihood in 40-digit arithmetic (c = 1: the sBG)."""

    def surv(k: int) -> object:
        return mpmath.beta(gamma, delta + mpmath.mpf(k) ** c) / mpmath.beta(gamma, delta)

    return mpmath.log(surv(t - 1) - surv(t)) if churned else mpmath.log(surv(t - 1))


@pytest.mark.parametrize("params", [[0.7, 1.3, 1.0], [0.4, 2.1, 1.4], [2.0, 5.0, 0.6]])
def test_loglik_and_gradients_match_high_precision(params: list[float]) -> None:
    life = np.array([1.0, 1, 2, 3, 5, 8, 13, 40])
    flags = np.array([True, False, True, False, True, True, False, True])
    p = np.array(params)
    if params[2] == 1.0:
        ll, grad = ct.sbg_loglik(p[:2], life, flags)
    else:
        ll, grad = bdw.bdw_loglik(p, life, flags)
    with mpmath.workdps(40):
        for i, (t, f) in enumerate(zip(life.astype(int), flags, strict=True)):
            ga, de, c = (mpmath.mpf(x) for x in params)
            assert ll[i] == pytest.approx(float(mp_loglik(ga, de, c, t, f)), rel=1e-12)
            args = (ga, de, c)
            partial = [
                mpmath.diff(
                    lambda x, k=k, a=args, tt=t, ff=f: mp_loglik(
                        *(x if m == k else a[m] for m in range(3)), tt, ff
                    ),
                    args[k],
                )
                for k in range(grad.shape[0])
            ]
            want = [float(x) for x in partial]
            assert grad[:, i] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_standard_errors_match_independent_hessian() -> None:
    m = SBG.fit_survivors(HIGH_END[:8])
    p = np.array([m.params["alpha"], m.params["beta"]])

    def ll(q: np.ndarray) -> float:
        return survivors_loglik(sbg_survival_recursive(q[0], q[1], 8), HIGH_END[:8])

    h = 1e-4 * p
    hess = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            corners = []
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                q = p.copy()
                q[i] += si * h[i]
                q[j] += sj * h[j]
                corners.append(ll(q))
            hess[i, j] = -(corners[0] - corners[1] - corners[2] + corners[3]) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(hess)))
    assert [m.standard_errors["alpha"], m.standard_errors["beta"]] == pytest.approx(se, rel=1e-4)


# -- simulate and recover -------------------------------------------------------------------


def test_sbg_simulate_and_recover_20000() -> None:
    truth = SBG.from_params(alpha=0.7, beta=1.2)
    sim = truth.simulate(20_000, 12, seed=2024)
    assert sim.schema == pl.Schema({"lifetime": pl.Int64, "churned": pl.Boolean})
    assert sim["lifetime"].min() == 1
    assert sim["lifetime"].max() == 12
    assert not sim.filter(pl.col("lifetime") == 12)["churned"].any()
    m = SBG.fit(sim["lifetime"], sim["churned"])
    for k in ("alpha", "beta"):
        assert abs(m.params[k] - truth.params[k]) < 4 * m.standard_errors[k]
    # the empirical survival of the simulated cohort follows S(t)
    life = sim["lifetime"].to_numpy()
    for t in range(1, 12):
        s = truth.survival(t)
        assert abs(np.mean(life > t) - s) < 4 * math.sqrt(s * (1 - s) / 20_000)


def test_bdw_simulate_and_recover_20000() -> None:
    truth = BDW.from_params(gamma=0.9, delta=2.5, c=1.6)
    sim = truth.simulate(20_000, 12, seed=99)
    m = BDW.fit(sim["lifetime"], sim["churned"])
    for k in ("gamma", "delta", "c"):
        assert abs(m.params[k] - truth.params[k]) < 4 * m.standard_errors[k]
    life = sim["lifetime"].to_numpy()
    for t in range(1, 12):
        s = truth.survival(t)
        assert abs(np.mean(life > t) - s) < 4 * math.sqrt(s * (1 - s) / 20_000)


def test_simulate_is_seeded() -> None:
    m = BDW.from_params(gamma=0.9, delta=2.5, c=0.7)
    assert m.simulate(100, 5, seed=3).equals(m.simulate(100, 5, seed=3))
    assert not m.simulate(100, 5, seed=3).equals(m.simulate(100, 5, seed=4))


# -- weights, forms, compression ------------------------------------------------------------


def test_weights_are_repeated_rows() -> None:
    # Fader & Hardie (2007) regular customers, years 0-3, as weighted patterns (a small
    # made-up set had its maximum at the homogeneous boundary, which scipy 1.11's L-BFGS-B
    # did not reach)
    life = [1, 2, 3, 4]
    churned = [True, True, True, False]
    w = [369, 163, 86, 382]
    a = SBG.fit(life, churned, weights=w)
    b = SBG.fit(np.repeat(life, w), np.repeat(churned, w))
    assert a.params["alpha"] == pytest.approx(b.params["alpha"], rel=1e-8)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)
    # zero weight = row removed; scaling weights scales the log-likelihood
    c = SBG.fit([*life, 9], [*churned, True], weights=[*w, 0])
    assert c.params["beta"] == pytest.approx(a.params["beta"], rel=1e-8)


def test_compress_handles_long_lifetimes() -> None:
    life = np.array([1.0, 3, 2**25, 3, 2**25])
    flags = np.array([True, False, False, False, False])
    lives, fl, w = ct.compress(life, flags, np.ones(5))
    assert lives.tolist() == [1, 3, 2**25]
    assert fl.tolist() == [True, False, False]
    assert w.tolist() == [1, 2, 2]


def test_inputs_as_polars_numpy_lists_and_int_flags() -> None:
    life = [1, 2, 3, 4, 4]
    churned = [True, True, True, False, False]
    ref = SBG.fit(life, churned)
    for lf, ch in [
        (pl.Series(life), pl.Series(churned)),
        (np.array(life), np.array(churned)),
        (life, [1, 1, 1, 0, 0]),
    ]:
        assert SBG.fit(lf, ch).params == ref.params


def test_scalar_in_float_out() -> None:
    m = SBG.from_params(alpha=0.7, beta=1.2)
    for name in ("survival", "retention_rate", "churn_probability"):
        assert type(getattr(m, name)(3)) is float
        assert isinstance(getattr(m, name)([1, 2]), np.ndarray)
    assert type(m.expected_residual_lifetime(2, discount_rate=0.1)) is float
    assert type(m.expected_lifetime(discount_rate=0.1)) is float
    assert m.survival(0) == 1.0
    assert math.isnan(m.log_likelihood)


@given(
    gamma=st.floats(0.05, 10.0),
    delta=st.floats(0.05, 20.0),
    c=st.floats(0.2, 3.0),
)
def test_bdw_properties(gamma: float, delta: float, c: float) -> None:
    m = BDW.from_params(gamma=gamma, delta=delta, c=c)
    t = np.arange(0, 60)
    s = m.survival(t)
    assert s[0] == 1.0
    assert np.all(np.diff(s) <= 0)
    # S(t-1) - S(t) cancels: it carries the error of S (to 1e-9 of it: scipy's betaln); the
    # churn probability avoids the difference (test_model_numerics checks it on mpmath)
    churn = m.churn_probability(t[1:])
    assert np.all(np.abs(churn - (s[:-1] - s[1:])) <= 1e-9 * churn + 1e-8 * s[:-1])
    r = m.retention_rate(t[1:])
    assert np.all((r >= 0) & (r <= 1))
    assert 0 < m.polarization_index < 1


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SBG, BDW])
def test_bad_input(cls) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"survivors cannot increase.*survivors\[3\]=500"):
        cls.fit_survivors([1000, 631, 468, 500])
    with pytest.raises(ValueError, match=r"survivors\[1\]\[2\]=9"):
        cls.fit_survivors([[10, 8, 7], [10, 8, 9]])
    with pytest.raises(ValueError, match=r"survivors.*whole"):
        cls.fit_survivors([10, 8.5])
    with pytest.raises(ValueError, match="no customers"):
        cls.fit_survivors([0, 0])
    with pytest.raises(TypeError, match="survivors"):
        cls.fit_survivors(1000)
    with pytest.raises(ValueError, match=r"lifetime.*lifetime\[1\]=0"):
        cls.fit([1, 0, 2], [True, False, True])
    with pytest.raises(ValueError, match=r"lifetime\[0\]=-2"):
        cls.fit([-2, 1], [True, False])
    with pytest.raises(ValueError, match=r"lifetime\[0\]=1.5"):
        cls.fit([1.5, 1], [True, False])
    with pytest.raises(ValueError, match="churned has 2"):
        cls.fit([1, 2, 3], [True, False])
    with pytest.raises(ValueError, match=r"churned\[1\]=2"):
        cls.fit([1, 2], [1, 2])
    with pytest.raises(TypeError, match="churned"):
        cls.fit([1, 2], ["yes", "no"])
    with pytest.raises(ValueError, match=r"churned\[1\] is null"):
        cls.fit([1, 2], pl.Series([True, None]))
    with pytest.raises(ValueError, match="no customer has churned"):
        cls.fit([1, 2], [False, False])
    with pytest.raises(ValueError, match="weights"):
        cls.fit([1, 2], [True, False], weights=[1, -1])
    with pytest.raises(ValueError, match="empty"):
        cls.fit([], [])


def test_bad_prediction_arguments() -> None:
    m = SBG.from_params(alpha=0.7, beta=1.2)
    with pytest.raises(ValueError, match=r"t must be whole numbers >= 1; got t\[0\]=0"):
        m.retention_rate(0)
    with pytest.raises(ValueError, match=r"t\[1\]=-1"):
        m.survival([1, -1])
    with pytest.raises(ValueError, match="renewals"):
        m.expected_residual_lifetime(-1, discount_rate=0.1)
    with pytest.raises(ValueError, match=r"discount_rate=-0\.1"):
        m.expected_lifetime(discount_rate=-0.1)
    with pytest.raises(TypeError, match="discount_rate"):
        m.expected_lifetime(discount_rate=[0.1])
    with pytest.raises(TypeError, match="from_params"):
        SBG.from_params(alpha=1.0)
    with pytest.raises(ValueError, match="beta"):
        SBG.from_params(alpha=1.0, beta=-1.0)
    with pytest.raises(TypeError, match="missing"):
        BDW.from_params(gamma=1.0, delta=1.0)
    with pytest.raises(ValueError, match="n_periods must be >= 1"):
        m.simulate(10, 0, seed=1)
    with pytest.raises(TypeError, match="n_customers"):
        m.simulate(10.0, 3, seed=1)  # type: ignore[arg-type]


def test_repr_and_immutability() -> None:
    m = BDW.from_params(gamma=0.26, delta=1.72, c=1.58)
    assert repr(m) == "BetaDiscreteWeibullModel(gamma=0.26, delta=1.72, c=1.58)"
    with pytest.raises(AttributeError):
        m.n_customers = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.params["c"] = 2.0  # type: ignore[index]


def test_retention_cohorts_dataset() -> None:
    d = datasets.load_retention_cohorts()
    assert d.columns == ["segment", "period", "customers_alive", "survival"]
    assert d.filter(segment="regular")["customers_alive"].to_list() == REGULAR
    assert d.filter(segment="high_end")["customers_alive"].to_list() == HIGH_END
    assert d.filter(segment="regular", period=5)["customers_alive"].item() == 289
    assert d["survival"].to_list() == pytest.approx([x / 1000 for x in REGULAR + HIGH_END])


# -- parameter uncertainty (API.md §4d): covariance and confidence intervals ---------------


def _mp_hessian(loglik: Callable[..., Any], point: list[float]) -> np.ndarray:
    """Hessian of an mpmath log-likelihood at `point`, by mpmath's numerical differentiation."""
    k = len(point)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            order = tuple(int(i == m) + int(j == m) for m in range(k))
            hess[i, j] = float(mpmath.diff(loglik, point, order))
    return hess


def sbg_loglik_mp(alpha: mpmath.mpf, beta: mpmath.mpf, counts: list[int]) -> mpmath.mpf:
    """One cohort's sBG LL in 50 digits, by FH2007's recursion P(t) = (b+t-2)/(a+b+t-1) P(t-1)."""
    k = len(counts) - 1
    p = alpha / (alpha + beta)
    survival = mpmath.mpf(1)
    total = mpmath.mpf(0)
    for t in range(1, k + 1):
        if t > 1:
            p = p * (beta + t - 2) / (alpha + beta + t - 1)
        total += (counts[t - 1] - counts[t]) * mpmath.log(p)
        survival -= p
    return total + counts[k] * mpmath.log(survival)


def bdw_loglik_mp(g: mpmath.mpf, d: mpmath.mpf, c: mpmath.mpf, counts: list[int]) -> mpmath.mpf:
    """One cohort's BdW LL in 50 digits, S(t) = B(g, d + t^c)/B(g, d) from mpmath's beta."""
    k = len(counts) - 1
    s = [mpmath.beta(g, d + mpmath.mpf(t) ** c) / mpmath.beta(g, d) for t in range(k + 1)]
    total = sum((counts[t - 1] - counts[t]) * mpmath.log(s[t - 1] - s[t]) for t in range(1, k + 1))
    return total + counts[k] * mpmath.log(s[k])


def test_sbg_covariance_is_the_inverse_of_an_independent_high_precision_hessian() -> None:
    # FH2007 regular customers, years 0-7; the Hessian of an independently written
    # likelihood (the recursion, not the beta functions), differentiated by mpmath
    data = REGULAR[:8]
    m = SBG.fit_survivors(data)
    point = [m.params["alpha"], m.params["beta"]]
    with mpmath.workdps(50):
        hess = _mp_hessian(lambda a, b: sbg_loglik_mp(a, b, data), point)
    want = np.linalg.inv(-hess)
    np.testing.assert_allclose(m.covariance, want, rtol=1e-10)
    # the standard errors are the same matrix's, and the analytic Hessian is exact
    np.testing.assert_allclose(
        [m.standard_errors["alpha"], m.standard_errors["beta"]],
        np.sqrt(np.diag(m.covariance)),
        rtol=1e-15,
    )
    life, flags, w = ct.survivors_to_patterns(data)
    np.testing.assert_allclose(ct.sbg_hessian(np.array(point), life, flags, w), hess, rtol=1e-11)


def test_bdw_covariance_matches_an_independent_high_precision_hessian() -> None:
    data = HIGH_END[:8]
    m = BDW.fit_survivors(data)
    point = [m.params[k] for k in BDW.PARAM_NAMES]
    with mpmath.workdps(30):
        hess = _mp_hessian(lambda g, d, c: bdw_loglik_mp(g, d, c, data), point)
    # finite differences of the analytic gradient, Richardson-extrapolated
    np.testing.assert_allclose(m.covariance, np.linalg.inv(-hess), rtol=1e-6)
    np.testing.assert_allclose(
        [m.standard_errors[k] for k in BDW.PARAM_NAMES], np.sqrt(np.diag(m.covariance)), rtol=1e-15
    )


@pytest.mark.parametrize(
    ("cls", "data"),
    [(SBG, REGULAR[:8]), (SBG, MULTI_COHORT), (BDW, HIGH_END[:8]), (BDW, REGULAR[:8])],
    ids=["sbg-regular", "sbg-multi-cohort", "bdw-high-end", "bdw-regular"],
)
def test_confidence_intervals_are_positive_and_contain_the_estimate(
    cls: type[SBG] | type[BDW], data: Any
) -> None:
    m = cls.fit_survivors(data)
    cov = m.covariance
    assert cov.shape == (len(cls.PARAM_NAMES),) * 2
    assert not cov.flags.writeable
    np.testing.assert_array_equal(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    ci = m.confidence_intervals(0.95)
    assert ci["parameter"].to_list() == list(cls.PARAM_NAMES)
    est = np.array([m.params[k] for k in cls.PARAM_NAMES])
    np.testing.assert_array_equal(ci["estimate"].to_numpy(), est)
    low, high = ci["low"].to_numpy(), ci["high"].to_numpy()
    assert np.all(low > 0)
    assert np.all((low < est) & (est < high))
    # log-scale Wald bounds, written out
    se = np.sqrt(np.diag(cov))
    z = sps.norm.ppf(0.975)
    np.testing.assert_allclose(low, est * np.exp(-z * se / est), rtol=1e-12)
    np.testing.assert_allclose(high, est * np.exp(z * se / est), rtol=1e-12)
    narrow = m.confidence_intervals(0.5)
    assert np.all((narrow["low"].to_numpy() > low) & (narrow["high"].to_numpy() < high))


def test_contractual_models_from_params_have_no_covariance() -> None:
    for m in (SBG.from_params(alpha=0.7, beta=1.2), BDW.from_params(gamma=1, delta=2, c=1.5)):
        assert np.isnan(m.covariance).all()
        assert m.confidence_intervals()["low"].is_nan().all()
    # the covariance does not take part in equality (as the other models')
    a = SBG.fit_survivors(REGULAR[:8])
    assert a == SBG(a.params, a.log_likelihood, a.standard_errors, a.n_customers)


def test_sbg_confidence_intervals_cover_the_truth_at_the_nominal_rate() -> None:
    # simulate-and-refit with this test's own generator: 200 cohorts of 3,000 customers,
    # theta ~ Beta(0.7, 1.2), geometric lifetimes, observed for 8 periods. Bound: each
    # parameter's 95% interval covers the truth in 180 to 198 of the 200 refits (the
    # binomial(200, 0.95) lies there with probability > 0.99; halving the standard
    # errors gives ~68% coverage, doubling them ~100%, both outside). Fixed seed.
    rng = np.random.default_rng(20071)
    alpha, beta, n, periods, refits = 0.7, 1.2, 3000, 8, 200
    covered = np.zeros(2, dtype=int)
    for _ in range(refits):
        theta = rng.beta(alpha, beta, size=n)
        life = np.minimum(rng.geometric(theta), periods)
        # per (lifetime, churned) pattern: churned below `periods`, censored at it
        counts = np.bincount(life, minlength=periods + 1)[1:]
        m = SBG.fit(np.arange(1, periods + 1), np.arange(1, periods + 1) < periods, weights=counts)
        ci = m.confidence_intervals(0.95)
        truth = np.array([alpha, beta])
        covered += (ci["low"].to_numpy() <= truth) & (truth <= ci["high"].to_numpy())
    assert np.all((covered >= 180) & (covered <= 198)), covered
