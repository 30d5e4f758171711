"""Numerics of every model prediction: extreme parameters, long horizons, heavy histories.

Issue 23. Every reference here is computed in this file with mpmath, by a route that does
not share the library's closed forms or its special-function paths:

* BG/NBD and MBG/NBD expectations by quadrature over the dropout probability p of
  E[(1 - (1 + p u)^(-r)) / p] (the purchase rate integrated out), P(alive) by Bayes' rule
  on the likelihood's two branches, the pmf by direct sums of negative-binomial terms;
* Pareto/NBD P(alive) by quadrature over the death time, expectations by quadrature of the
  survival function's Laplace transform E[e^(-mu v)] = (1 + v/beta)^(-s) over (0, t];
* BG/BB by direct sums over the opportunities (beta-function recurrences);
* Gamma-Gamma by quadrature over the posterior of the scale;
* sBG and BdW survival, retention and churn from beta functions at 50 digits (the
  library: log-beta differences in double); the sBG's DEL and DERL by quadrature over the
  churn probability of E[(1 + d)/(d + θ)] (the geometric series summed inside), the BdW's
  by direct sums of S(t) z^t with an Euler–Maclaurin tail (mpmath quadrature and
  derivatives).

`NUMERICS` is the registry: one entry per (model, prediction method), with how to draw its
parameters and arguments and its reference. `test_every_prediction_method_is_registered`
fails for a public method of a model in `loyaltymetrics.models.__all__` that is not in it
(or not marked by `models._base.prediction`), so a new model (sBG, BdW, ...) joins by
decorating its prediction methods and adding one `Case` per method here; methods that are
not elementwise predictions (fitting, simulation, tables) go in `NOT_PREDICTIONS`. A method
with no array argument and only options (a lifetime with `discount_rate=`) has
`arguments=st.tuples()` and its options in `keywords`; scalar in, float out applies (and
its array test checks nothing more).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import loyaltymetrics.models as models
from loyaltymetrics.models import (
    BetaDiscreteWeibullModel,
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    ShiftedBetaGeometricModel,
    _base,
)

mpf = mpmath.mpf
DPS = 30

# A fixed profile, whatever HYPOTHESIS_PROFILE says: derandomised, no example database,
# a budget that keeps the whole grid under a minute on one core.
GRID = settings(
    max_examples=14,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: references are slow
)
REL = 1e-8
TINY = 1e-290  # values below this are compared absolutely (underflow in double)

# ----------------------------------------------------------------- mpmath references


def _beta_mean(f: Callable[[Any], Any], a: Any, b: Any, marks: Sequence[Any] = ()) -> Any:
    """E[f(p)] for p ~ Beta(a, b) by tanh-sinh quadrature, exact for any a, b > 0.

    Below the mean, if a < 1, the substitution w = p^a (p^(a-1) dp = dw / a), above it, if
    b < 1, v = (1 - p)^b, so that a mass piled up within 1e-300 of an end (a or b = 0.001)
    is a flat integrand; split at the mean + k standard deviations (|k| <= 16) and at
    `marks` (features of f).
    """
    a, b = mpf(a), mpf(b)
    m = a / (a + b)
    sd = mpmath.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    # one piece per standard deviation near the mean: tanh-sinh over a piece where the
    # log density falls by tens of nats loses digits (1e-7 at a = 153, b = 276)
    points = [m + k * sd for k in range(-16, 17)] + [mpf(p) for p in marks]
    lower = sorted({p for p in points if 0 < p < m} | {mpf(0), m})
    upper = sorted({1 - p for p in points if m < p < 1} | {mpf(0), 1 - m})

    def density(p: Any) -> Any:
        return f(p) * p ** (a - 1) * (1 - p) ** (b - 1)

    def below(w: Any) -> Any:
        p = w ** (1 / a)
        return f(p) * (1 - p) ** (b - 1)

    def above(v: Any) -> Any:
        q = v ** (1 / b)
        return f(1 - q) * (1 - q) ** (a - 1)

    # the substitutions only where the density is singular (a or b < 1): for a large a,
    # w = p^a squeezes the bulk into a spike
    if a < 1:
        total = mpmath.quad(below, [p**a for p in lower]) / a
    else:
        total = mpmath.quad(density, lower)
    if b < 1:
        total += mpmath.quad(above, [q**b for q in upper]) / b
    else:
        total += mpmath.quad(density, [1 - q for q in reversed(upper)])
    return total / mpmath.beta(a, b)


def _count(r: Any, u: Any, a: Any, b: Any, keep: Callable[[Any], Any] = lambda p: 1) -> Any:
    """E[keep(p) (1 - (1 + p u)^(-r)) / p], p ~ Beta(a, b) (future purchases if active)."""
    r, u = mpf(r), mpf(u)
    if u == 0:
        return mpf(0)
    marks = [1 / u, 1 / (u * (r + 1))]
    return _beta_mean(lambda p: keep(p) * -mpmath.expm1(-r * mpmath.log1p(p * u)) / p, a, b, marks)


def _bg_p_alive(params: dict[str, float], x: int, t_x: float, big_t: float, mbg: bool) -> Any:
    """Bayes' rule on the likelihood branches: alive at T vs dropped out after t_x."""
    r, alpha, a, b = (mpf(params[k]) for k in ("r", "alpha", "a", "b"))
    shift = 1 if mbg else 0  # MBG/NBD: a dropout opportunity at the first purchase too
    alive = mpmath.beta(a, b + x + shift) * (alpha + big_t) ** -(r + x)
    if x == 0 and not mbg:
        return mpf(1)
    quit_ = mpmath.beta(a + 1, b + x + shift - 1) * (alpha + t_x) ** -(r + x)
    return alive / (alive + quit_)


def _bg_conditional(
    params: dict[str, float], t: float, x: int, t_x: float, big_t: float, mbg: bool
) -> Any:
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    shift = 1 if mbg else 0
    u = mpf(t) / (mpf(alpha) + big_t)
    return _bg_p_alive(params, x, t_x, big_t, mbg) * _count(r + x, u, a, b + x + shift)


def _bg_new(params: dict[str, float], t: float, mbg: bool) -> Any:
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    keep = (lambda p: 1 - p) if mbg else (lambda p: 1)  # MBG: survive the time-0 dropout
    return _count(r, mpf(t) / alpha, a, b, keep)


def _nb_terms(r: Any, alpha: Any, t: Any, n: int) -> tuple[Any, Any]:
    """NB(n) and the tail P(N >= n) of the negative binomial count in (0, t] (direct sums).

    NB(j) = Γ(r + j)/(Γ(r) j!) (α/(α + t))^r z^j with z = t/(α + t), by the recurrence
    NB(j + 1) = NB(j) (r + j)/(j + 1) z.
    """
    z = t / (alpha + t)
    term = (alpha / (alpha + t)) ** r
    below = []
    for j in range(n):
        below.append(term)
        term = term * (r + j) / (j + 1) * z
    head = term  # NB(n)
    tail = 1 - mpmath.fsum(below)
    if tail < mpf(10) ** -100:  # 1 - sum has lost its digits: sum the tail upwards
        terms, j = [], n
        while True:
            terms.append(term)
            if j > n + 10 and term < mpf(10) ** -40 * terms[0]:
                break
            term = term * (r + j) / (j + 1) * z
            j += 1
        tail = mpmath.fsum(terms)
    return head, tail


def _bg_pmf(params: dict[str, float], n: int, t: float, mbg: bool) -> Any:
    with mpmath.workdps(160):  # 1 - sum loses up to ~120 digits before the switch
        r, alpha, a, b = (mpf(params[k]) for k in ("r", "alpha", "a", "b"))
        head, tail = _nb_terms(r, alpha, mpf(t), n)
        shift = 1 if mbg else 0
        out = mpmath.beta(a, b + n + shift) / mpmath.beta(a, b) * head
        if n > 0:
            out += mpmath.beta(a + 1, b + n + shift - 1) / mpmath.beta(a, b) * tail
        elif mbg:
            out += a / (a + b)
        return +out


def _geometric(start: Any, stop: Any, scale: Any) -> list[Any]:
    """start, start + scale·2^k (k = -3, -2, ...) below stop, and stop: quadrature pieces."""
    points, k = [start], -3
    while start + scale * mpf(2) ** k < stop:
        points.append(start + scale * mpf(2) ** k)
        k += 1
    return [*points, stop]


def _pareto_p_alive(params: dict[str, float], x: int, t_x: float, big_t: float) -> Any:
    r, alpha, s, beta = (mpf(params[k]) for k in ("r", "alpha", "s", "beta"))
    alive = (alpha + big_t) ** -(r + x) * (beta / (beta + big_t)) ** s
    if t_x == big_t:
        return mpf(1)

    def died_at(tau: Any) -> Any:  # density of death at tau, no purchase after t_x
        return s * beta**s * (beta + tau) ** -(s + 1) * (alpha + tau) ** -(r + x)

    # the density falls by e about every `scale` after t_x, then as a power: split
    # geometrically from t_x so that every piece is smooth at its own scale
    scale = 1 / ((s + 1) / (beta + t_x) + (r + x) / (alpha + t_x))
    died = mpmath.quad(died_at, _geometric(mpf(t_x), mpf(big_t), scale))
    return alive / (alive + died)


def _pareto_future(r: Any, alpha: Any, s: Any, beta: Any, t: float) -> Any:
    """E[purchases in (0, t] | alive at 0] = r/alpha ∫_0^t E[e^(-mu v)] dv, mu ~ Gamma(s, beta)."""
    r, alpha, s, beta = (mpf(v) for v in (r, alpha, s, beta))
    t = mpf(t)
    if t == 0:
        return mpf(0)
    marks = _geometric(mpf(0), t, beta / max(s, mpf(1)))
    return r / alpha * mpmath.quad(lambda v: (1 + v / beta) ** -s, marks)


def _pareto_conditional(
    params: dict[str, float], t: float, x: int, t_x: float, big_t: float
) -> Any:
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    future = _pareto_future(r + x, alpha + big_t, s, beta + big_t, t)
    return _pareto_p_alive(params, x, t_x, big_t) * future


def _bgbb_parts(params: dict[str, float], x: int, t_x: int, n: int) -> tuple[Any, Any, Any]:
    """(likelihood, B(α+x, β+n-x)/B(α, β), B(γ, δ+n)/B(γ, δ)) by direct sums."""
    al, be, ga, de = (mpf(params[k]) for k in ("alpha", "beta", "gamma", "delta"))
    lb_ab = mpmath.beta(al, be)
    lb_gd = mpmath.beta(ga, de)
    p_part = mpmath.beta(al + x, be + n - x) / lb_ab
    alive = mpmath.beta(ga, de + n) / lb_gd
    terms = []
    bp = mpmath.beta(al + x, be + t_x - x) / lb_ab  # B(α+x, β+t_x-x+i)/B(α,β), i = 0
    bg = mpmath.beta(ga + 1, de + t_x) / lb_gd  # B(γ+1, δ+t_x+i)/B(γ,δ), i = 0
    for i in range(n - t_x):
        terms.append(bp * bg)
        bp *= (be + t_x - x + i) / (al + be + t_x + i)
        bg *= (de + t_x + i) / (ga + 1 + de + t_x + i)
    return p_part * alive + mpmath.fsum(terms), p_part, alive


def _bgbb_survival_sum(params: dict[str, float], n: int, t: int) -> Any:
    """sum_{k=1..t} B(γ, δ+n+k)/B(γ, δ): expected opportunities alive among the next t."""
    ga, de = mpf(params["gamma"]), mpf(params["delta"])
    term = mpmath.beta(ga, de + n) / mpmath.beta(ga, de)
    out = []
    for k in range(1, t + 1):
        term *= (de + n + k - 1) / (ga + de + n + k - 1)
        out.append(term)
    return mpmath.fsum(out)


def _bgbb_p_alive(params: dict[str, float], x: int, t_x: int, n: int) -> Any:
    lik, p_part, alive = _bgbb_parts(params, x, t_x, n)
    ga, de = mpf(params["gamma"]), mpf(params["delta"])
    return p_part * alive * (de + n) / (ga + de + n) / lik


def _bgbb_conditional(params: dict[str, float], t: int, x: int, t_x: int, n: int) -> Any:
    lik, p_part, _ = _bgbb_parts(params, x, t_x, n)
    al, be = mpf(params["alpha"]), mpf(params["beta"])
    buy = p_part * (al + x) / (al + be + n)  # B(α+x+1, β+n-x)/B(α, β)
    return buy * _bgbb_survival_sum(params, n, t) / lik


def _bgbb_new(params: dict[str, float], t: int) -> Any:
    al, be = mpf(params["alpha"]), mpf(params["beta"])
    return al / (al + be) * _bgbb_survival_sum(params, 0, t)


def _gg_spend(params: dict[str, float], x: int, zbar: float) -> Any:
    """E[p / ν | x, z̄] by quadrature over log ν of the gamma posterior (its prior if x = 0)."""
    p, q, g = (mpf(params[k]) for k in ("p", "q", "v"))
    shape, rate = p * x + q, g + x * mpf(zbar)
    top = mpmath.log(shape / rate)  # the mode of e^(k y - c e^y) in y = log ν
    # beyond these ends both integrands are below e^-100 of their peaks (left: they fall
    # as e^((k - 1) y), k - 1 >= 0.5; right: as e^(-k e^y))
    low = top - 100 / (shape - 1) - 10
    high = top + mpmath.log1p(100 / shape) + 3
    width = 1 / mpmath.sqrt(shape)  # the peak's width in y
    near = {top + k * width for k in (-30, -20, -14, -10, -7, -5, -4, -3, -2, -1, 0, 1, 2, 3, 5, 8)}
    marks = sorted(m for m in near | {low, top - 20, top - 5, high} if low <= m <= high)

    def weight(y: Any, power: Any) -> Any:  # ν^power ν^(k-1) e^(-cν) dν, ν = e^y
        return mpmath.exp((shape + power) * y - rate * mpmath.exp(y))

    return (
        p * mpmath.quad(lambda y: weight(y, -1), marks) / mpmath.quad(lambda y: weight(y, 0), marks)
    )


def _log_s(params: dict[str, float], t: Any) -> Any:
    """log S(t) = log B(γ, δ + t^c) - log B(γ, δ) (sBG: γ = α, δ = β, c = 1), with 20 digits
    more than the caller's (mpmath.diff raises them) plus those log Γ(δ + t^c) spends on
    its magnitude."""
    if "alpha" in params:
        ga, de, c = mpf(params["alpha"]), mpf(params["beta"]), mpf(1)
    else:
        ga, de, c = (mpf(params[k]) for k in ("gamma", "delta", "c"))
    x = mpf(t) ** c
    extra = int(mpmath.log10(x + 10)) + 5
    with mpmath.workdps(mpmath.mp.dps + 20 + extra):
        lg = mpmath.loggamma
        return +(lg(de + x) - lg(ga + de + x) - lg(de) + lg(ga + de))


def _survival(params: dict[str, float], t: int) -> Any:
    return mpmath.exp(_log_s(params, t))


def _retention(params: dict[str, float], t: int) -> Any:
    return mpmath.exp(_log_s(params, t) - _log_s(params, t - 1))


def _churn(params: dict[str, float], t: int) -> Any:
    with mpmath.workdps(mpmath.mp.dps + 20):  # S(t - 1) - S(t) cancels ~20 digits (c = 0.001)
        return mpmath.exp(_log_s(params, t - 1)) - mpmath.exp(_log_s(params, t))


def _sbg_residual(params: dict[str, float], first: int, d: float) -> Any:
    """sum_k S(first + k)/S(first - 1) z^k = E[(1 - θ) (1 + d)/(d + θ)], θ ~ Beta(α, β + first - 1).

    (first = 0: E[(1 + d)/(d + θ)], θ ~ Beta(α, β).) The geometric series in
    (1 - θ) z is summed inside the expectation; at d = 0 it is E[1/θ] (times 1 - θ), a
    beta-function ratio, infinite for α <= 1.
    """
    al, be = mpf(params["alpha"]), mpf(params["beta"])
    lead, bb = (0, be) if first == 0 else (1, be + first - 1)
    if d == 0:
        if al <= 1:
            return mpmath.inf
        return mpmath.beta(al - 1, bb + lead) / mpmath.beta(al, bb)
    dd = mpf(d)
    return _beta_mean(lambda p: (1 - p) ** lead * (1 + dd) / (dd + p), al, bb, [dd])


def _bdw_residual(params: dict[str, float], first: int, d: float) -> Any:
    """sum_k S(first + k)/S(first - 1) z^k: 64 terms, then the Euler–Maclaurin formula
    (the integral by quadrature over doubling pieces, the first and third derivatives at
    64 by mpmath.diff)."""
    ga, c = mpf(params["gamma"]), mpf(params["c"])
    if d == 0 and ga * c <= 1:  # S(t) ~ t^(-cγ): the series diverges
        return mpmath.inf
    ref = 0 if first == 0 else _log_s(params, first - 1)
    log_z = -mpmath.log1p(mpf(d))

    def f(k: Any) -> Any:
        return mpmath.exp(_log_s(params, first + k) - ref + k * log_z)

    big_k = 64
    head = mpmath.fsum(f(k) for k in range(big_k))
    # quadrature up to the end where t^c = 1e30 (1 + γ + δ) (or z^t = e^-200); beyond it
    # S(t) = K t^(-cγ) (1 + O(γ (γ + 2δ) / t^c)), so with U = first + T the tail is
    # f(T) U^p e^(λU) ∫_U^∞ u^(-p) e^(-λu) du (p = cγ, λ = log(1 + d)): incomplete gamma
    de = mpf(params["delta"])
    lam = -log_z
    end = (mpf(10) ** 30 * (1 + ga + de)) ** (1 / c)
    if lam > 0:
        end = min(end, 200 / lam)
    pieces = [mpf(big_k)]
    while pieces[-1] * 8 < end:
        pieces.append(pieces[-1] * 8)
    pieces.append(max(end, mpf(big_k + 1)))
    tail = mpmath.quad(f, pieces)
    big_t, p = pieces[-1], ga * c
    big_u = first + big_t
    if lam == 0:
        tail += f(big_t) * big_u / (p - 1)
    else:
        far = lam ** (p - 1) * mpmath.gammainc(1 - p, lam * big_u)
        tail += f(big_t) * big_u**p * mpmath.exp(lam * big_u) * far
    corrections = f(big_k) / 2 - mpmath.diff(f, big_k, 1) / 12 + mpmath.diff(f, big_k, 3) / 720
    return head + tail + corrections


# ----------------------------------------------------------------- the registry

log_uniform = st.floats(-3.0, 3.0).map(lambda e: 10.0**e)
horizon = st.one_of(st.just(0.0), st.floats(-3.0, 4.0).map(lambda e: 10.0**e))


@st.composite
def rfm(draw: st.DrawFn) -> tuple[int, float, float]:
    """A history: x 0 or log-uniform to 5000, T log-uniform 1e-3..1e4 (0 if x = 0)."""
    x = 0 if draw(st.booleans()) else round(10.0 ** draw(st.floats(0.0, math.log10(5000.0))))
    big_t = 0.0 if x == 0 and draw(st.integers(0, 4)) == 0 else 10.0 ** draw(st.floats(-3, 4))
    t_x = 0.0 if x == 0 else draw(st.floats(0.0, 1.0)) * big_t
    return x, t_x, big_t


@st.composite
def discrete(draw: st.DrawFn) -> tuple[int, int, int]:
    """A BG/BB pattern: n log-uniform to 5000 opportunities, 0 <= x <= t_x <= n."""
    n = round(10.0 ** draw(st.floats(0.0, math.log10(5000.0))))
    t_x = draw(st.integers(0, n))
    x = 0 if t_x == 0 else draw(st.integers(1, t_x))
    return x, t_x, n


opportunities = st.floats(0.0, 4.0).map(lambda e: round(10.0**e))
periods = st.one_of(st.just(0), opportunities)
discount = st.one_of(st.just(0.0), st.floats(-3.0, 1.0).map(lambda e: 10.0**e)).map(
    lambda d: {"discount_rate": d}
)


NO_KEYWORDS: st.SearchStrategy[dict[str, Any]] = st.just({})


@dataclass(frozen=True)
class Case:
    """One prediction method of one model on the grid.

    `arguments` draws the method's positional arguments (scalars) and `keywords` its
    keyword options; `reference(params, *arguments, **keywords)` gives the mpmath value.
    Parameters are drawn log-uniform in [1e-3, 1e3] unless `params` overrides a name's
    strategy.
    """

    model: type
    method: str
    arguments: st.SearchStrategy[tuple[Any, ...]]
    reference: Callable[..., Any]
    params: tuple[tuple[str, st.SearchStrategy[float]], ...] = ()
    scalar_only: tuple[int, ...] = ()
    """Positions of arguments that take one number only (the pmf's horizon `t`)."""
    keywords: st.SearchStrategy[dict[str, Any]] = NO_KEYWORDS
    """Keyword options (one number each, e.g. a `discount_rate`), passed to the method and
    to `reference` alike."""

    @property
    def id(self) -> str:
        return f"{self.model.__name__}.{self.method}"


def _rfm_and_t() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(horizon, rfm()).map(lambda v: (v[0], *v[1]))


pmf_args = st.tuples(
    st.integers(0, 5000).filter(lambda n: n < 20 or n % 7 == 0),
    st.floats(-3.0, 4.0).map(lambda e: 10.0**e),
)

NUMERICS = [
    Case(BetaGeoModel, "p_alive", rfm(), lambda p, *h: _bg_p_alive(p, *h, mbg=False)),
    Case(
        BetaGeoModel,
        "expected_purchases",
        _rfm_and_t(),
        lambda p, t, *h: _bg_conditional(p, t, *h, mbg=False),
    ),
    Case(
        BetaGeoModel,
        "expected_purchases_new",
        st.tuples(horizon),
        lambda p, t: _bg_new(p, t, mbg=False),
    ),
    Case(
        BetaGeoModel,
        "probability_of_purchases",
        pmf_args,
        lambda p, n, t: _bg_pmf(p, n, t, mbg=False),
        scalar_only=(1,),
    ),
    Case(ModifiedBetaGeoModel, "p_alive", rfm(), lambda p, *h: _bg_p_alive(p, *h, mbg=True)),
    Case(
        ModifiedBetaGeoModel,
        "expected_purchases",
        _rfm_and_t(),
        lambda p, t, *h: _bg_conditional(p, t, *h, mbg=True),
    ),
    Case(
        ModifiedBetaGeoModel,
        "expected_purchases_new",
        st.tuples(horizon),
        lambda p, t: _bg_new(p, t, mbg=True),
    ),
    Case(
        ModifiedBetaGeoModel,
        "probability_of_purchases",
        pmf_args,
        lambda p, n, t: _bg_pmf(p, n, t, mbg=True),
        scalar_only=(1,),
    ),
    Case(ParetoNBDModel, "p_alive", rfm(), _pareto_p_alive),
    Case(ParetoNBDModel, "expected_purchases", _rfm_and_t(), _pareto_conditional),
    Case(
        ParetoNBDModel,
        "expected_purchases_new",
        st.tuples(horizon),
        lambda p, t: _pareto_future(p["r"], p["alpha"], p["s"], p["beta"], t),
    ),
    Case(BetaGeoBetaBinomModel, "p_alive", discrete(), _bgbb_p_alive),
    Case(
        BetaGeoBetaBinomModel,
        "expected_purchases",
        st.tuples(opportunities, discrete()).map(lambda v: (v[0], *v[1])),
        _bgbb_conditional,
    ),
    Case(BetaGeoBetaBinomModel, "expected_purchases_new", st.tuples(opportunities), _bgbb_new),
    Case(
        GammaGammaModel,
        "expected_spend",
        st.tuples(st.integers(0, 5000), log_uniform),
        _gg_spend,
        # q > 1 for the mean spend to exist; from 1.5 the prior's 1/ν tail is integrable by
        # quadrature (q in (1, 1.5): test_models' closed-form checks)
        params=(("q", st.floats(math.log10(1.5), 3.0).map(lambda e: 10.0**e)),),
    ),
]

for _cls in (ShiftedBetaGeometricModel, BetaDiscreteWeibullModel):
    _lifetime = _sbg_residual if _cls is ShiftedBetaGeometricModel else _bdw_residual
    NUMERICS += [
        Case(_cls, "survival", st.tuples(periods), _survival),
        Case(_cls, "retention_rate", st.tuples(opportunities), _retention),
        Case(_cls, "churn_probability", st.tuples(opportunities), _churn),
        Case(
            _cls,
            "expected_lifetime",
            st.tuples(),
            functools.partial(lambda p, f, *, discount_rate: f(p, 0, discount_rate), f=_lifetime),
            keywords=discount,
        ),
        Case(
            _cls,
            "expected_residual_lifetime",
            st.tuples(periods),
            functools.partial(
                lambda p, n, f, *, discount_rate: f(p, n + 1, discount_rate), f=_lifetime
            ),
            keywords=discount,
        ),
    ]

NOT_PREDICTIONS = {
    "fit",
    "fit_survivors",
    "from_params",
    "simulate",
    "predict",
    "predict_total",
    "confidence_intervals",
}
"""Public model methods that are not elementwise predictions (fitting, simulation, the
tables of the uncertainty methods); every other public method must be in NUMERICS."""


def _model_classes() -> list[type]:
    return [
        obj
        for name in models.__all__
        if isinstance(obj := getattr(models, name), type) and hasattr(obj, "PARAM_NAMES")
    ]


def _draw_params(data: st.DataObject, case: Case) -> dict[str, float]:
    special = dict(case.params)
    return {
        name: data.draw(special.get(name, log_uniform), label=name)
        for name in case.model.PARAM_NAMES  # type: ignore[attr-defined]
    }


def _close(got: float, want: Any) -> bool:
    want_f = float(want)
    if math.isinf(want_f):
        return got == want_f
    if abs(want_f) < TINY:
        return abs(got) < TINY
    return abs(got - want_f) <= REL * abs(want_f)


# ------------------------------------------------------------------- grid tests


def test_every_prediction_method_is_registered() -> None:
    registered = {(c.model, c.method) for c in NUMERICS}
    for cls in _model_classes():
        for name in dir(cls):
            if name.startswith("_") or name in NOT_PREDICTIONS:
                continue
            attr = getattr(cls, name)
            if not callable(attr) or isinstance(attr, type):
                continue
            assert (cls, name) in registered, f"{cls.__name__}.{name} is not in NUMERICS"
            assert hasattr(attr, "__prediction__"), f"{cls.__name__}.{name} is not checked"


@pytest.mark.parametrize("case", NUMERICS, ids=lambda c: c.id)
@GRID
@given(data=st.data())
def test_prediction_matches_the_mpmath_reference_on_the_grid(
    case: Case, data: st.DataObject
) -> None:
    params = _draw_params(data, case)
    args = data.draw(case.arguments, label="arguments")
    kwargs = data.draw(case.keywords, label="keywords")
    model = case.model.from_params(**params)  # type: ignore[attr-defined]
    got = getattr(model, case.method)(*args, **kwargs)  # filterwarnings=error: no warning
    assert type(got) is float
    with mpmath.workdps(DPS):
        want = case.reference(params, *args, **kwargs)
    assert _close(got, want), (got, float(want))


@pytest.mark.parametrize("case", NUMERICS, ids=lambda c: c.id)
@settings(max_examples=5, derandomize=True, database=None, deadline=None)
@given(data=st.data())
def test_scalar_in_float_out_and_arrays_in_arrays_out(case: Case, data: st.DataObject) -> None:
    params = _draw_params(data, case)
    args = data.draw(case.arguments, label="arguments")
    kwargs = data.draw(case.keywords, label="keywords")
    model = case.model.from_params(**params)  # type: ignore[attr-defined]
    method = functools.partial(getattr(model, case.method), **kwargs)
    scalar = method(*args)
    assert type(scalar) is float
    fixed = case.scalar_only
    if len(fixed) == len(args):  # only options: nothing to vectorise
        return
    as_lists = method(*(a if i in fixed else [a, a] for i, a in enumerate(args)))
    assert type(as_lists) is np.ndarray
    assert as_lists.shape == (2,)
    # equal up to the last bits: numpy's SIMD loops may round long and short arrays apart
    assert as_lists.tolist() == pytest.approx([scalar, scalar], rel=1e-14, abs=1e-300)
    as_arrays = method(*(a if i in fixed else np.array([a]) for i, a in enumerate(args)))
    assert type(as_arrays) is np.ndarray
    assert as_arrays.tolist() == pytest.approx([scalar], rel=1e-14, abs=1e-300)


# ---------------------------------------------- the five defects of issue 23

BG_CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
HISTORIES = [(0, 0.0, 0.0), (0, 0.0, 38.86), (2, 30.43, 38.86), (5000, 30.0, 38.86)]


@pytest.mark.parametrize("mbg", [False, True], ids=["bg_nbd", "mbg_nbd"])
@pytest.mark.parametrize("extreme", [{"a": 1000.0}, {"r": 1000.0}], ids=["a1000", "r1000"])
def test_long_horizon_expected_purchases_match_quadrature(
    mbg: bool, extreme: dict[str, float]
) -> None:
    # t = 1e4 with a = 1000 or r = 1000 gave nan or -4.45e277 for every history
    params = {**BG_CDNOW, **extreme}
    cls = ModifiedBetaGeoModel if mbg else BetaGeoModel
    model = cls.from_params(**params)
    x, t_x, big_t = (np.array(col) for col in zip(*HISTORIES, strict=True))
    got = model.expected_purchases(1e4, x, t_x, big_t)
    with mpmath.workdps(DPS):
        for i, history in enumerate(HISTORIES):
            want = _bg_conditional(params, 1e4, *history, mbg=mbg)
            assert _close(float(got[i]), want), (history, got[i], float(want))
    published = {(False, "a"): 0.849, (False, "r"): 184.57, (True, "a"): 0.00206}
    published[(True, "r")] = 183.57
    key = (mbg, next(iter(extreme)))
    assert got[0] == pytest.approx(published[key], rel=5e-3)  # the values, T = 0


@pytest.mark.parametrize(
    ("changes", "n", "expected"),
    [({}, 10, 3.754e-19), ({"a": 1000.0}, 10, 9.99e-39), ({"r": 1000.0}, 200, 1.1e-109)],
)
def test_bg_nbd_pmf_tail_matches_direct_sums(
    changes: dict[str, float], n: int, expected: float
) -> None:
    # 1 - sum gave 3.506e-19, 1.11e-40 and -5.3e-17 (a negative probability)
    params = {**BG_CDNOW, **changes}
    got = BetaGeoModel.from_params(**params).probability_of_purchases(n, 0.1)
    want = _bg_pmf(params, n, 0.1, mbg=False)
    assert _close(got, want), (got, float(want))
    assert got == pytest.approx(expected, rel=2e-3)


def test_pareto_nbd_new_customer_at_tiny_horizons() -> None:
    # 1 - (beta/(beta+t))^(s-1) cancelled: off by 1.1e-5 relative at t = 1e-6, beta = 1e5
    params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 1e5}
    model = ParetoNBDModel.from_params(**params)
    with mpmath.workdps(DPS):
        for t in (1e-9, 1e-6, 1e-3):
            want = _pareto_future(0.553, 10.578, 0.606, 1e5, t)
            assert _close(model.expected_purchases_new(t), want), t
            got = model.expected_purchases(t, 0, 0.0, 0.0)
            assert _close(got, want), t


def test_bg_bb_expectation_with_a_huge_gamma() -> None:
    # gamma = 1000, delta = 0.001 gave nan for every history
    params = {"alpha": 1.204, "beta": 0.75, "gamma": 1000.0, "delta": 0.001}
    model = BetaGeoBetaBinomModel.from_params(**params)
    got = model.expected_purchases(10, [0, 500], [0, 500], [1, 500])
    with mpmath.workdps(DPS):
        assert _close(float(got[0]), _bgbb_conditional(params, 10, 0, 0, 1))
        assert _close(float(got[1]), _bgbb_conditional(params, 10, 500, 500, 500))
    assert got.tolist() == pytest.approx([1.5675e-10, 0.49974], rel=1e-4)


@pytest.mark.parametrize(
    ("x", "t_x", "big_t"),
    [([2] * 50, [5.0] * 50, [10.0] * 50), ([0, 3, 10], [0.0, 1.0, 9.0], [4.0, 8.0, 12.0])],
    ids=["identical_customers", "three_customers"],
)
def test_pareto_nbd_fit_on_degenerate_data_stops_at_a_cap(
    x: list[int], t_x: list[float], big_t: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # used to run for minutes: each step towards r -> inf made the likelihood slower
    from loyaltymetrics.models import _pareto_nbd

    calls = [0]
    loglik = _pareto_nbd._loglik

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return loglik(*args)

    monkeypatch.setattr(_pareto_nbd, "_loglik", counted)
    # the fit stops within the evaluation cap, and the message says where it stopped
    # (the boundary the parameters ran to, or the cap on the shape parameters) and the cap
    with pytest.raises(ConvergenceError, match=r"likelihood evaluations \(cap 4000\)|cap on the"):
        ParetoNBDModel.fit(x, t_x, big_t)
    assert calls[0] <= _pareto_nbd._MAX_EVALUATIONS


def test_pareto_nbd_fit_names_the_evaluation_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from loyaltymetrics.models import _pareto_nbd

    monkeypatch.setattr(_pareto_nbd, "_MAX_EVALUATIONS", 20)
    with pytest.raises(ConvergenceError, match=r"cap of 20 likelihood evaluations"):
        ParetoNBDModel.fit([0, 3, 10, 1], [0.0, 1.0, 9.0, 2.0], [4.0, 8.0, 12.0, 5.0])


# ------------------------------------------------------ the output check itself


def test_a_non_finite_or_impossible_value_raises_instead_of_returning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from loyaltymetrics.models import _bg_nbd

    model = BetaGeoModel.from_params(**BG_CDNOW)
    monkeypatch.setattr(_bg_nbd, "expected_count", lambda *a: np.array([math.nan]))
    with pytest.raises(FloatingPointError, match=r"BetaGeoModel\.expected_purchases_new"):
        model.expected_purchases_new(39.0)
    monkeypatch.setattr(_bg_nbd, "expected_count", lambda *a: np.array([-0.5]))
    with pytest.raises(FloatingPointError, match=r"element 0 \(computed -0\.5\)"):
        model.expected_purchases_new(39.0)


@pytest.mark.parametrize(
    ("values", "probability", "ok"),
    [
        ([0.5, 1.0 + 1e-13, -1e-14], True, [0.5, 1.0, 0.0]),  # rounding: clipped
        ([0.5, 1.0 + 1e-9], True, None),
        ([0.5, -1e-9], False, None),
        ([0.5, math.inf], False, None),
        ([0.5, math.nan], True, None),
        ([3.0, 1e300], False, [3.0, 1e300]),
    ],
)
def test_check_output(values: list[float], probability: bool, ok: list[float] | None) -> None:
    out = np.array(values)
    if ok is None:
        with pytest.raises(FloatingPointError, match=r"element 1"):
            _base.check_output(out, "Model.method", "Model()", probability, False)
    else:
        assert _base.check_output(out, "M.m", "M()", probability, False).tolist() == ok


def test_infinity_passes_only_where_allowed() -> None:
    out = np.array([1.0, math.inf])
    assert _base.check_output(out, "M.m", "M()", False, True).tolist() == [1.0, math.inf]


# ------------------------------------------------- contractual models (issue 23)


def test_sbg_churn_probability_with_a_small_hazard() -> None:
    # 1 - e^(betaln difference) was 3.9e-7 relative off (4.40650485e-07 for 4.40650655e-07)
    params = {"alpha": 0.001259160763302509, "beta": 1.0000000000001987}
    model = ShiftedBetaGeometricModel.from_params(**params)
    for t in (1, 2827, 10_000):
        assert _close(model.churn_probability(t), _churn(params, t)), t
        assert _close(model.retention_rate(t), _retention(params, t)), t


def test_bdw_survival_and_retention_past_the_overflow_of_t_to_the_c() -> None:
    # t^c overflowed (c = 504, t = 6328): a RuntimeWarning and nan retention
    params = {"gamma": 0.04283, "delta": 0.001818, "c": 503.9}
    model = BetaDiscreteWeibullModel.from_params(**params)
    for t in (2, 6328):
        assert _close(model.retention_rate(t), _retention(params, t)), t
        assert _close(model.survival(t), _survival(params, t)), t
    # both sides of the switch to the asymptotic series (t^c = 9.7e14)
    params = {"gamma": 3.0, "delta": 1.0, "c": 5.0}
    model = BetaDiscreteWeibullModel.from_params(**params)
    for t in (900, 1000, 1001, 10_000):
        assert _close(model.survival(t), _survival(params, t)), t
        assert _close(model.retention_rate(t), _retention(params, t)), t


def test_bdw_churn_probability_with_a_small_hazard() -> None:
    # 1 - e^(betaln difference) was 1.6e-5 relative off (2.58188e-06 for 2.58184e-06)
    params = {"gamma": 0.006392523832689764, "delta": 1.0, "c": 10.0**0.1}
    model = BetaDiscreteWeibullModel.from_params(**params)
    for t in (1, 2, 2913, 10_000):
        assert _close(model.churn_probability(t), _churn(params, t)), t
        assert _close(model.retention_rate(t), _retention(params, t)), t
    # a tiny c: t^c - (t-1)^c = 1e-7, a huge gamma
    params = {"gamma": 1000.0, "delta": 2.0, "c": 0.001}
    model = BetaDiscreteWeibullModel.from_params(**params)
    for t in (2, 10_000):
        assert _close(model.churn_probability(t), _churn(params, t)), t


@pytest.mark.parametrize(
    ("params", "renewals", "d"),
    [
        ({"gamma": 0.5, "delta": 2.0, "c": 3.0}, None, 0.0),  # S ~ t^-1.5: a slow power tail
        ({"gamma": 0.6, "delta": 1.0, "c": 2.0}, 10, 0.0),
        ({"gamma": 1.0, "delta": 1.0, "c": 1.2}, None, 0.001),
        ({"gamma": 0.357, "delta": 1.0, "c": 0.2165}, 100, 0.0165),
        ({"gamma": 0.0362, "delta": 461.0, "c": 30.9}, 0, 0.0),
    ],
)
def test_bdw_lifetimes_through_the_integrated_tail(
    params: dict[str, float], renewals: int | None, d: float
) -> None:
    # the grid's draws mostly stop within the 1,024 direct terms: these need the tail
    model = BetaDiscreteWeibullModel.from_params(**params)
    with mpmath.workdps(DPS):
        if renewals is None:
            got = model.expected_lifetime(discount_rate=d)
            want = _bdw_residual(params, 0, d)
        else:
            got = model.expected_residual_lifetime(renewals, discount_rate=d)
            want = _bdw_residual(params, renewals + 1, d)
    assert _close(got, want), (got, float(want))
