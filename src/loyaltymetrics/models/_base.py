"""Shared machinery of the models: base class, checks, maximum likelihood, numerics.

Also the standard errors, the robust Gauss hypergeometric function and the simulation
set-up.

What is shared, and as what:

* ``BaseModel``, a frozen dataclass base class, holds what every model *is*: the four
  fields (``params``, ``log_likelihood``, ``standard_errors``, ``n_customers``), the
  ``PARAM_NAMES`` contract, ``from_params`` and the repr. A base class, because these
  are state and implementation shared by inheritance; a Protocol shares neither, and a
  mixin cannot declare dataclass fields (the subclasses must stay slotted, frozen
  dataclasses, so that ``model.extra = 1`` fails).
* ``TransactionModel`` (in ``_transaction``) is a Protocol, because its users
  (``evaluate_holdout``, ``plot``, ``customer_lifetime_value``) accept *any* object with
  the two prediction methods, including a user's own model that does not inherit from us.
* Everything else here is plain functions: checks and numerics used by several models.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Self

import numpy as np
import scipy
from scipy import optimize
from scipy import special as sc

from loyaltymetrics import _validation as v
from loyaltymetrics._typing import FloatArray

Objective = Callable[[FloatArray], tuple[float, FloatArray]]
"""Parameters (natural scale) -> (total log-likelihood, gradient)."""


class ConvergenceError(RuntimeError):
    """Raised when maximum likelihood finds no finite optimum it can vouch for.

    The message says what was observed: the parameters at the point where the optimiser
    stopped, which of them run to a boundary of the parameter space (0 or infinity) while
    the likelihood keeps rising (for example r and alpha together: homogeneous purchase
    rates), and what to try (the `penalizer=` of `fit`, or the data to check). It ends
    with the optimiser's own reason.
    """


def empty_mapping() -> Mapping[str, float]:
    """An empty read-only mapping: the standard errors of a model built from parameters."""
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, repr=False)
class BaseModel:
    """Fields, ``from_params`` and repr shared by every fitted model (see the module doc).

    Subclasses are ``@dataclass(frozen=True, slots=True, repr=False)`` too (so that they
    stay immutable and slotted) and set ``PARAM_NAMES``.
    """

    params: Mapping[str, float]
    log_likelihood: float = math.nan
    standard_errors: Mapping[str, float] = field(default_factory=empty_mapping)
    n_customers: float = 0.0

    PARAM_NAMES: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({format_params(self.params)})"

    @classmethod
    def from_params(cls, **params: float) -> Self:
        """Build a model from known parameters (the names in ``PARAM_NAMES``, all positive).

        The model has no fit statistics: ``log_likelihood`` is ``nan``, ``standard_errors``
        is empty and ``n_customers`` is 0.

        Raises
        ------
        TypeError
            If a parameter is missing or unexpected (the message lists both).
        ValueError
            If a parameter is not a finite positive number.

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        BetaGeoModel(r=0.243, alpha=4.414, a=0.793, b=2.426)
        """
        return cls(MappingProxyType(check_params(cls.__name__, cls.PARAM_NAMES, params)))

    def _values(self) -> tuple[float, ...]:
        """The parameters in ``PARAM_NAMES`` order."""
        return tuple(self.params[name] for name in self.PARAM_NAMES)


def check_simulation_args(n_customers: Any, seed: Any) -> None:
    """``n_customers`` a whole number >= 1 and ``seed`` an int, else TypeError/ValueError."""
    for name, value in (("n_customers", n_customers), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if n_customers < 1:
        raise ValueError(f"n_customers must be >= 1; got n_customers={n_customers}")


def simulation_setup(n_customers: Any, T: Any, seed: Any) -> tuple[np.random.Generator, FloatArray]:
    """Checked simulation arguments: the generator and one observation length per customer."""
    check_simulation_args(n_customers, seed)
    big_t = np.broadcast_to(as_array(T, "T"), (n_customers,)).astype(np.float64)
    if not (big_t > 0).all():
        raise ValueError("T must be positive")
    return np.random.default_rng(seed), big_t


_PARALLEL_MIN = 200_000


def hyp2f1(a: Any, b: Any, c: Any, z: Any) -> FloatArray:
    """Scipy's Gauss hypergeometric function, in threads for long arrays.

    The ufunc releases the GIL, so chunks run on every core; results are identical to
    one call (each element is computed independently).
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(u, dtype=np.float64) for u in (a, b, c, z)))
    size = z.size
    workers = min(os.cpu_count() or 1, 8)
    if size < _PARALLEL_MIN or workers < 2 or z.ndim != 1:
        return np.asarray(sc.hyp2f1(a, b, c, z), dtype=np.float64)
    bounds = np.linspace(0, size, workers + 1).astype(int)
    out = np.empty(size)

    def run(i: int) -> None:
        sl = slice(bounds[i], bounds[i + 1])
        out[sl] = sc.hyp2f1(a[sl], b[sl], c[sl], z[sl])

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, range(workers)))
    return out


_SERIES_TOL = 2.0**-56
"""A series is summed until two successive terms are below this fraction of its size."""
_SERIES_TERMS = 2000
_DIRECT_EXPONENT = 6.0
"""c - a - b from which the Gauss series at 0 is summed all the way to z (it converges fast)."""
_STEP_EXPONENT = 24.0
"""Bound on |c - 1| · h / y0 in a Taylor step (keeps the y^(1-c) solution from swamping it)."""


_MAX_STEPS = 400
"""Taylor steps after which `hyp2f1_robust` gives up (nan); enough for |c - 1| up to ~1e4."""

_CHECK_EVERY = 4
"""Convergence of the series is tested every this many terms (the test costs passes too)."""


def _gauss_series(
    a: FloatArray, b: FloatArray, c: FloatArray, z: FloatArray, *, slope: bool = False
) -> tuple[FloatArray, FloatArray, FloatArray, np.ndarray[Any, np.dtype[np.bool_]]]:
    """The Gauss series of 2F1(a, b; c; z) at 0: value, derivative, integral over [0, z].

    The derivative only with `slope=True` (zeros otherwise). Also returns which elements
    converged within the term limit.
    """
    term = np.ones_like(z)
    value = np.ones_like(z)
    deriv = np.zeros_like(z)
    integral = np.ones_like(z)  # sum of t_n / (n + 1); times z at the end
    size = np.ones_like(z)
    ab = a * b
    apb = a + b
    done = np.zeros(z.shape, dtype=bool)
    before = term
    for n in range(_SERIES_TERMS):
        # t_{n+1} = t_n (a+n)(b+n) / ((c+n)(n+1)) z
        term = term * ((ab + n * apb + n * n) / ((c + n) * (n + 1))) * z
        value += term
        if slope:
            deriv += (n + 1) * term
        integral += term / (n + 2)
        size += np.abs(term)
        if n % _CHECK_EVERY == _CHECK_EVERY - 1:
            done = (n + 2) * (np.abs(term) + np.abs(before)) <= _SERIES_TOL * size
            if bool(done.all()):
                break
        before = term
    with np.errstate(divide="ignore", invalid="ignore"):
        deriv = np.where(z > 0, deriv / z, ab / c)
    return value, deriv, integral * z, done


def _taylor_step(
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    d0: FloatArray,
    h: FloatArray,
    value: FloatArray,
    slope: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Advance a solution of the hypergeometric equation from $y_0 = 1 - d_0$ to $y_0 + h$.

    With $F = \sum_k c_k (y - y_0)^k$, the equation $y(1-y)F'' + [c - (a+b+1)y]F' - abF = 0$
    gives the three-term recurrence
    $y_0 d_0 (k+2)(k+1) c_{k+2} + (k+1)[(d_0 - y_0)k + Q_0] c_{k+1}
    + [-k(k-1) - (a+b+1)k - ab] c_k = 0$ with $Q_0 = c - (a+b+1)y_0$, summed here in the
    scaled form $c_k h^k$. $y_0 \in [1/2, 1)$ and $h \le d_0/2$, so the terms fall at
    least as $2^{-k}$. Returns the value, the derivative and the integral over the step.
    """
    y0 = 1.0 - d0
    apb = a + b + 1.0
    q0 = (c - apb) + apb * d0  # c - (a+b+1) y0, exact as y0 -> 1
    hh = h * h
    # the recurrence's coefficients, scaled by h and divided by y0 d0 once
    inv = 1.0 / (y0 * d0)
    first_k = h * (d0 - y0) * inv
    first_0 = h * q0 * inv
    second_0 = -hh * a * b * inv
    second_k = -hh * apb * inv
    second_kk = -hh * inv
    prev = value
    cur = h * slope
    total = prev + cur
    deriv = cur.copy()
    integral = prev + cur / 2
    size = np.abs(prev) + np.abs(cur)
    for k in range(_SERIES_TERMS):
        new = (
            ((first_k * k + first_0) * (k + 1)) * cur
            + (second_0 + second_k * k + second_kk * (k * (k - 1))) * prev
        ) * (-1.0 / ((k + 2) * (k + 1)))
        prev, cur = cur, new
        m = k + 2
        total += cur
        deriv += m * cur
        integral += cur / (m + 1)
        size += np.abs(cur)
        if k % _CHECK_EVERY == _CHECK_EVERY - 1 and bool(
            ((m + 1) * (np.abs(cur) + np.abs(prev)) <= _SERIES_TOL * size).all()
        ):
            break
    return total, deriv / h, h * integral


def hyp2f1_robust(a: Any, b: Any, c: Any, z: Any, d: Any) -> tuple[FloatArray, FloatArray]:
    r"""${}_2F_1(a, b; c; z)$ and $\int_0^z {}_2F_1(a, b; c; y)\,dy$ for $0 \le z < 1$, $c > 0$.

    The slow, reliable evaluation, for the parameters where scipy's ``hyp2f1`` is not: it
    has no special cases, so it is exact (to ~1e-13) where $c - a - b$ is a whole number
    and $z \to 1$, where the connection formulas that scipy uses for $z > 0.9$ divide by
    $\Gamma(a + b - c)$-type terms.

    * For $z \le 1/2$, or when $c - a - b \ge 6$ (the terms then fall like
      $n^{a+b-c-1}z^n$), the Gauss series at 0 is summed directly.
    * Otherwise the series gives $F$ and $F'$ at $y = 1/2$, and the solution is carried
      to $z$ by Taylor steps of the hypergeometric differential equation at regular points
      (Taylor-series analytic continuation), each step at most half the distance to the
      singular point 1 and short enough near 0 that the second solution $y^{1-c}$ cannot
      amplify rounding: $O(\log(1/(1 - z)))$ steps.

    `d` is $1 - z$, computed accurately by the caller (as $1/(1 + u)$ when $z = u/(1 + u)$),
    so that $z$ within rounding of 1 stays usable. Vectorised; arguments broadcast.

    Stepping towards 1 is stable for the solution that dominates there, which ${}_2F_1$ is
    unless its $(1 - z)^{c-a-b}$ part vanishes: when $c - a - b < 0$ and $a$ or $b$ is close
    to (but not exactly) a non-positive integer, about $(1 - z)^{c-a-b}$ ulps are lost.
    Exact polynomials are summed directly; the models never come near the other cases
    (BG/NBD: $a > 0$, and $c - a - b \ge 0$ when its other parameter is $\le 0$;
    Pareto/NBD: $a = 1$, $b > 0$).

    The work is bounded: after 400 Taylor steps (reached only for $|c - 1|$ beyond about
    $10^4$, where each step may advance by $12/|c - 1|$) the element is ``nan``. Callers
    treat ``nan`` as "no value here": maximum likelihood steps back from such parameters,
    and predictions use another path or raise.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z, d)))
    shape = arrays[0].shape
    aa, bb, cc, zz, dd = (np.ravel(v) for v in arrays)
    value = np.empty(zz.size)
    integral = np.empty(zz.size)
    # a or b a non-positive integer: a polynomial, whose series terminates
    poly = ((aa <= 0) & (aa == np.rint(aa))) | ((bb <= 0) & (bb == np.rint(bb)))
    direct = (zz <= 0.5) | (cc - aa - bb >= _DIRECT_EXPONENT) | poly
    if direct.any():
        i = np.flatnonzero(direct)
        v0, _, g0, ok = _gauss_series(aa[i], bb[i], cc[i], zz[i])
        value[i] = v0
        integral[i] = g0
        direct[i[~ok]] = False
    j = np.flatnonzero(~direct)
    if j.size:
        a1, b1, c1, d_end = aa[j], bb[j], cc[j], dd[j]
        half = np.full(j.size, 0.5)
        v, s, g, _ = _gauss_series(a1, b1, c1, half, slope=True)
        dist = half.copy()  # distance of the current point from 1
        reach = np.minimum(0.5, _STEP_EXPONENT / np.maximum(np.abs(c1 - 1.0), 1.0))
        act = np.flatnonzero(dist > d_end)
        for _ in range(_MAX_STEPS):
            if not act.size:
                break
            d0 = dist[act]
            h = np.minimum(np.minimum(0.5 * d0, reach[act] * (1.0 - d0)), d0 - d_end[act])
            last = h >= d0 - d_end[act]
            v[act], s[act], step = _taylor_step(a1[act], b1[act], c1[act], d0, h, v[act], s[act])
            g[act] += step
            dist[act] = np.where(last, d_end[act], d0 - h)
            act = act[~last]
        # out of reach within the step budget (|c - 1| in the tens of thousands): nan, which
        # the callers treat as "no value" (a fit steps back, a prediction falls back or raises)
        v[act] = np.nan
        g[act] = np.nan
        value[j] = v
        integral[j] = g
    return value.reshape(shape), integral.reshape(shape)


def near_whole(v: Any, tol: float) -> Any:
    """Whether `v` is within `tol` of a whole number (elementwise)."""
    return np.abs(v - np.rint(v)) < tol


def wsum(w: FloatArray, a: FloatArray) -> float:
    """Weighted sum without BLAS.

    A BLAS dot wakes its thread pool, which under load costs tens of milliseconds per
    call, far more than the sum itself.
    """
    return float(np.sum(w * a))


def as_array(x: Any, name: str) -> FloatArray:
    """A 1-D float64 array of finite numbers (scalars become length-1 arrays)."""
    arr = np.atleast_1d(np.asarray(v.as_real(x, name), dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {arr.shape}")
    return arr


def _first_bad(mask: np.ndarray[Any, np.dtype[np.bool_]]) -> int:
    return int(np.flatnonzero(mask)[0])


def check_same_length(**arrays: FloatArray) -> int:
    """Raise ``ValueError`` unless all arrays have one length; return it."""
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValueError(f"mismatched lengths: {shown}")
    return int(next(iter(lengths.values())))


def check_counts(x: FloatArray, name: str) -> None:
    """Non-negative whole numbers."""
    bad = (x < 0) | (np.floor(x) != x)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(
            f"{name} must be non-negative whole numbers; got {name}[{i}]={v.fmt(x[i])}"
        )


def check_rfm(frequency: Any, recency: Any, T: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate a continuous-time RFM summary: x whole >= 0, 0 <= t_x <= T, t_x = 0 if x = 0.

    T = 0 (a customer first seen at the end of observation) is allowed: such a customer
    has x = 0 and contributes a likelihood of exactly 1.
    """
    x = as_array(frequency, "frequency")
    t_x = as_array(recency, "recency")
    big_t = as_array(T, "T")
    n = check_same_length(frequency=x, recency=t_x, T=big_t)
    if n == 0:
        raise ValueError("frequency, recency and T are empty")
    check_counts(x, "frequency")
    v.check_nonnegative(t_x, "recency")
    v.check_not_greater(t_x, "recency", big_t, "T")
    zero = (x == 0) & (t_x != 0)
    if zero.any():
        i = _first_bad(zero)
        raise ValueError(
            f"recency must be 0 when frequency is 0; got frequency[{i}]=0, "
            f"recency[{i}]={v.fmt(t_x[i])}"
        )
    v.check_nonnegative(big_t, "T")
    return x, t_x, big_t


def check_identified(x: FloatArray, w: FloatArray) -> None:
    """A transaction model needs at least one repeat purchase to be identified."""
    if not bool(np.any((x > 0) & (w > 0))):
        raise ValueError(
            "no customer has a repeat purchase (every frequency is 0): the purchase and "
            "dropout rates are not identified, so there is no model to fit"
        )


def check_weights(weights: Any, n: int) -> FloatArray:
    """Frequency weights (pattern counts): finite, non-negative, one per row, not all 0."""
    if weights is None:
        return np.ones(n)
    w = as_array(weights, "weights")
    if w.shape[0] != n:
        raise ValueError(f"mismatched lengths: weights has {w.shape[0]} but the data have {n}")
    v.check_nonnegative(w, "weights")
    if not w.sum() > 0:
        raise ValueError("weights sum to 0: there is nothing to fit")
    return w


_ACCEPT_GRADIENT = 1e-7
"""Per-observation gradient (log-parameter scale) below which a stalled optimum is kept."""
_SUCCESS_GRADIENT = 1e-5
"""The same bound for a point the optimiser reports as converged (its ftol test can stop
at a point where f no longer decreases but the gradient is far from 0)."""

_LOG_BOUND = 25.0
"""Box of the log parameters: a parameter beyond e^±25 has run to a boundary."""

_BOUNDARIES: dict[tuple[str, ...], tuple[tuple[str, str, str, str], ...]] = {
    # names of a model's parameters -> (shape, scale, name, meaning) of each mixing
    # distribution whose shape and scale can run to infinity together (it becomes a point)
    ("r", "alpha", "a", "b"): (
        (
            "r",
            "alpha",
            "homogeneous purchase rates",
            "every customer buys at about the same rate (r/alpha = {ratio:.4g} per time "
            "unit), so the gamma distribution of the rates collapses to one value",
        ),
        (
            "a",
            "b",
            "homogeneous dropout probabilities",
            "every customer has about the same chance to drop out after a purchase "
            "(a/(a + b) = {mean:.4g})",
        ),
    ),
    ("r", "alpha", "s", "beta"): (
        (
            "r",
            "alpha",
            "homogeneous purchase rates",
            "every customer buys at about the same rate (r/alpha = {ratio:.4g} per time "
            "unit), so the gamma distribution of the rates collapses to one value",
        ),
        (
            "s",
            "beta",
            "homogeneous dropout rates",
            "every customer drops out at about the same rate (s/beta = {ratio:.4g} per time unit)",
        ),
    ),
    ("alpha", "beta", "gamma", "delta"): (
        (
            "alpha",
            "beta",
            "homogeneous purchase probabilities",
            "every customer buys at an opportunity with about the same probability "
            "(alpha/(alpha + beta) = {mean:.4g})",
        ),
        (
            "gamma",
            "delta",
            "homogeneous dropout probabilities",
            "every customer drops out with about the same probability per opportunity "
            "(gamma/(gamma + delta) = {mean:.4g})",
        ),
    ),
    ("p", "q", "v"): (
        (
            "q",
            "v",
            "homogeneous mean spend",
            "every customer has about the same mean spend per purchase, so the gamma "
            "distribution of the customers' spend scales collapses to one value",
        ),
    ),
}
_ADVICE = (
    "What to try: fit again with a small penalizer, such as penalizer=1e-3 (an L2 "
    "penalty on the log parameters that keeps them finite; the smallest value that "
    "converges predicts almost as the limit does), or, if every customer follows one "
    "schedule (subscriptions, simulated data), a model without that heterogeneity."
)


def check_penalizer(penalizer: object) -> float:
    """A finite, non-negative penalty coefficient."""
    if isinstance(penalizer, bool) or not isinstance(penalizer, int | float):
        raise TypeError(
            f"penalizer must be a non-negative number; got {type(penalizer).__name__} {penalizer!r}"
        )
    value = float(penalizer)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"penalizer must be finite and >= 0; got penalizer={value!r}")
    return value


def penalty(params: FloatArray, penalizer: float, n_obs: float) -> tuple[float, FloatArray]:
    r"""The L2 penalty on the log parameters and its gradient (natural scale).

    $P(\theta) = N \lambda \sum_i (\log \theta_i)^2$, subtracted from the log-likelihood,
    so the optimiser maximises $\ell(\theta)/N - \lambda \sum_i (\log \theta_i)^2$: the
    per-customer log-likelihood with a ridge penalty that pulls each parameter towards 1.
    """
    logs = np.log(params)
    scale = n_obs * penalizer
    return float(scale * np.sum(logs * logs)), 2.0 * scale * logs / params


def penalized(objective: Objective, penalizer: float, n_obs: float) -> Objective:
    """`objective` minus `penalty` (the same objective when `penalizer` is 0)."""
    if penalizer == 0.0:
        return objective

    def out(params: FloatArray) -> tuple[float, FloatArray]:
        ll, grad = objective(params)
        pen, d_pen = penalty(params, penalizer, n_obs)
        return ll - pen, grad - d_pen

    return out


def _open_boundaries(
    loglik: Callable[[FloatArray], float], theta: FloatArray, names: tuple[str, ...]
) -> list[str]:
    """Directions of the log parameters along which the log-likelihood does not fall.

    From the point where the optimiser stopped, the (unpenalised) log-likelihood per
    customer is evaluated after steps of 0.5, 1 and 2 on the log scale (factors 1.6, 2.7
    and 7.4) along each mixing distribution's (shape, scale) pair together, then along
    each parameter alone, up and down. A direction is open if no step lowers it by more
    than 1e-6 per customer. Near an interior optimum a factor of 1.6 costs far more (at
    least 0.001 per customer in every direction for BG/NBD on CDNOW); far out on the
    boundary ridge the likelihood is flat up to its rounding (about 1e-7 per customer
    for r near 1e8), which longer steps would exceed. The sentences name the open
    directions; a parameter already explained by a pair is not repeated.
    """
    base = loglik(theta)
    if not math.isfinite(base):
        return []

    def open_along(direction: FloatArray) -> bool:
        for step in (0.5, 1.0, 2.0):
            value = loglik(theta + step * direction)
            if not (math.isfinite(value) and value >= base - 1e-6):
                return False
        return True

    index = {name: i for i, name in enumerate(names)}
    found: list[str] = []
    explained: set[str] = set()
    values = np.exp(theta)
    for shape, scale, label, meaning in _BOUNDARIES.get(names, ()):
        direction = np.zeros_like(theta)
        direction[[index[shape], index[scale]]] = 1.0
        if open_along(direction):
            a, b = values[index[shape]], values[index[scale]]
            found.append(
                f"{shape} and {scale} run to infinity together ({shape}={a:.3g}, "
                f"{scale}={b:.3g} where it stopped), the boundary of {label}: "
                + meaning.format(ratio=a / b, mean=a / (a + b))
                + ". The likelihood's maximum is at that limit, not at finite parameters."
            )
            explained |= {shape, scale}
    for name, i in index.items():
        if name in explained:
            continue
        for sign, where in ((1.0, "infinity"), (-1.0, "0")):
            direction = np.zeros_like(theta)
            direction[i] = sign
            if open_along(direction):
                found.append(
                    f"{name} runs to {where} ({name}={values[i]:.3g} where it stopped): "
                    "the likelihood keeps rising towards that limit."
                )
    return found


# L-BFGS-B and OpenBLAS threads. scipy's L-BFGS-B calls its bundled OpenBLAS on arrays of
# a few parameters, and each call wakes OpenBLAS's worker threads, which then wait for a
# core: on the loaded 2-core machine 20 L-BFGS-B fits of a 4-parameter quadratic took
# 2.2-2.4 s wall (0.87-0.96 CPU s) with the default 2 threads and 0.04 s (0.017 CPU s)
# with 1, interleaved in one process; in the BG/NBD fit at 1M customers the optimiser's
# own calls took 0.16 s of CPU under load. So the optimiser runs with one OpenBLAS
# thread (`_one_blas_thread`), restored afterwards. Only scipy's wheel-bundled OpenBLAS
# is known (its `scipy_openblas_set_num_threads`); with any other BLAS nothing changes.
# numpy's own OpenBLAS (a separate library, used by the objectives) is not touched.
# Rejected: threadpoolctl (not a dependency), and OPENBLAS_NUM_THREADS (read once at load,
# before any of our code runs).
_BLAS_LOCK = threading.Lock()
_BLAS_DEPTH = [0, 0]  # [callers inside, thread count to restore]


@functools.cache
def _scipy_openblas() -> tuple[Any, Any] | None:
    """(get, set) of the number of threads of scipy's bundled OpenBLAS, if it is loaded."""
    here = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for path in sorted(glob.glob(os.path.join(here, "libscipy_openblas*"))):
        try:
            lib = ctypes.CDLL(path)
            get, put = lib.scipy_openblas_get_num_threads, lib.scipy_openblas_set_num_threads
        except (OSError, AttributeError):
            continue
        get.restype, get.argtypes = ctypes.c_int, []
        put.restype, put.argtypes = None, [ctypes.c_int]
        return get, put
    return None


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run the block with one thread in scipy's OpenBLAS (nested and thread-safe)."""
    blas = _scipy_openblas()
    if blas is None:
        yield
        return
    get, put = blas
    with _BLAS_LOCK:
        if _BLAS_DEPTH[0] == 0:
            _BLAS_DEPTH[1] = int(get())
            put(1)
        _BLAS_DEPTH[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_DEPTH[0] -= 1
            if _BLAS_DEPTH[0] == 0:
                put(_BLAS_DEPTH[1])


def fit_mle(
    objective: Objective,
    start: FloatArray,
    names: tuple[str, ...],
    n_obs: float,
    *,
    gtol: float = 1e-10,
    penalizer: float = 0.0,
) -> tuple[dict[str, float], float]:
    r"""Maximise a log-likelihood over positive parameters (optimised on the log scale).

    Deterministic: L-BFGS-B from the given start with the given gradient. `gtol` bounds
    the per-observation gradient at the optimum; a numerical gradient needs a looser one
    than an analytic gradient. If the optimiser stops early it is restarted once from where
    it stopped; the result is accepted only at a point whose per-observation gradient is
    below 1e-7 and inside the box $e^{\pm 25}$. Otherwise ``ConvergenceError`` says which
    parameters run to a boundary (`_open_boundaries`) and what to try.

    With `penalizer` $\lambda > 0$ the maximised function is
    $\ell(\theta)/N - \lambda\sum_i(\log\theta_i)^2$ (see `penalty`); the returned
    log-likelihood is the unpenalised $\ell$ at that estimate.
    """
    scale = 1.0 / max(n_obs, 1.0)
    target = penalized(objective, penalizer, n_obs)

    def neg(theta: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(theta)
        ll, grad = target(params)
        if not math.isfinite(ll):
            return math.inf, np.zeros_like(theta)
        return -ll * scale, -(grad * params) * scale

    options: Any = {"maxiter": 5000, "gtol": gtol, "ftol": 1e-15 if gtol <= 1e-10 else 1e-13}
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(names)
    with _one_blas_thread():
        result = optimize.minimize(
            neg, np.log(start), jac=True, method="L-BFGS-B", bounds=bounds, options=options
        )

    def stalled(res: Any) -> str:
        """Why `res` is not an optimum to keep ("" if it is one)."""
        worst = float(np.max(np.abs(neg(res.x)[1])))
        if np.isfinite(res.fun) and worst <= (
            _SUCCESS_GRADIENT if res.success else _ACCEPT_GRADIENT
        ):
            return ""
        return (
            f"the optimiser stopped ({res.message}; largest gradient per customer "
            f"{worst:.3g} on the log-parameter scale)"
        )

    # A line search that fails next to the optimum is a limit of floating point, not a
    # wrong answer: restart once from there (fresh curvature memory), then accept the
    # point only if the per-observation gradient is negligible anyway. A reported success
    # with a large gradient (no decrease of f from a bad point) is not accepted either.
    failure = stalled(result)
    if failure:
        with _one_blas_thread():
            result = optimize.minimize(
                neg, result.x, jac=True, method="L-BFGS-B", bounds=bounds, options=options
            )
        failure = stalled(result)
    if not failure and np.any(np.abs(result.x) >= _LOG_BOUND - 0.1):
        failure = f"a parameter reached the box e^±{_LOG_BOUND:g} of the optimiser"
    params = np.exp(result.x)
    if failure:
        _raise_convergence(objective, result.x, names, scale, penalizer, failure)
    ll, _ = objective(params)
    return dict(zip(names, params.tolist(), strict=True)), float(ll)


def _raise_convergence(
    objective: Objective,
    theta: FloatArray,
    names: tuple[str, ...],
    scale: float,
    penalizer: float,
    failure: str,
) -> None:
    """Raise ``ConvergenceError`` with what was observed and what to try."""

    def loglik(t: FloatArray) -> float:
        with np.errstate(all="ignore"):
            return float(objective(np.exp(t))[0]) * scale

    where = format_params(dict(zip(names, np.exp(theta).tolist(), strict=True)))
    found = [] if penalizer > 0 else _open_boundaries(loglik, theta, names)
    if found:
        observed = " ".join(found)
        advice = _ADVICE
    elif penalizer > 0:
        observed = f"It stopped at {where} with penalizer={penalizer:g}."
        advice = (
            "What to try: a larger penalizer, or check the data (time unit, "
            "duplicated customers, a recency or T far larger than the others)."
        )
    else:
        observed = f"It stopped at {where}; no parameter runs to a boundary there."
        advice = (
            "What to try: fit with a small penalizer such as 1e-3, rescale time (weeks instead "
            "of days or hours, so that the rates are near 1 per unit), or check the data "
            "for customers with extreme recency or T."
        )
    raise ConvergenceError(
        f"maximum likelihood did not converge. {observed} {advice} (Details: {failure}.)"
    )


def standard_errors(objective: Objective, params: Mapping[str, float]) -> Mapping[str, float]:
    """Standard errors from the inverse Hessian of −LL (central differences of the gradient)."""
    p = np.array(list(params.values()))
    k = p.size
    hess = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(abs(p[j]), 1e-3)
        up, down = p.copy(), p.copy()
        up[j] += h
        down[j] -= h
        hess[:, j] = -(objective(up)[1] - objective(down)[1]) / (2 * h)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
        se = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    except np.linalg.LinAlgError:
        se = np.full(k, np.nan)
    return MappingProxyType(dict(zip(params, se.tolist(), strict=True)))


def standard_errors_from_values(
    loglik: Callable[[FloatArray], float], params: Mapping[str, float], *, step: float = 1e-3
) -> Mapping[str, float]:
    r"""Standard errors from a Hessian of function values, for models without a gradient.

    Second differences on the log-parameter scale with a relative `step` (large enough
    that rounding in the likelihood does not swamp the curvature), mapped back to the
    natural scale by the delta method: $SE(p) = p\,SE(\log p)$.
    """
    theta = np.log(np.array(list(params.values())))
    k = theta.size
    f0 = loglik(np.exp(theta))
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            if i == j:
                up, down = theta.copy(), theta.copy()
                up[i] += step
                down[i] -= step
                value = (loglik(np.exp(up)) - 2 * f0 + loglik(np.exp(down))) / step**2
            else:
                corners = []
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    t = theta.copy()
                    t[i] += si * step
                    t[j] += sj * step
                    corners.append(loglik(np.exp(t)))
                value = (corners[0] - corners[1] - corners[2] + corners[3]) / (4 * step**2)
            hess[i, j] = hess[j, i] = -value
    try:
        cov = np.linalg.inv(hess)
        se = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan)) * np.exp(theta)
    except np.linalg.LinAlgError:
        se = np.full(k, np.nan)
    return MappingProxyType(dict(zip(params, se.tolist(), strict=True)))


def check_params(
    cls_name: str, names: tuple[str, ...], given: Mapping[str, Any]
) -> dict[str, float]:
    """Validate ``from_params`` keyword arguments: exactly ``names``, positive and finite."""
    missing = [n for n in names if n not in given]
    extra = [n for n in given if n not in names]
    if missing or extra:
        raise TypeError(
            f"{cls_name}.from_params takes exactly {', '.join(names)}; "
            f"missing {missing}, unexpected {extra}"
        )
    out = {}
    for n in names:
        value = v.as_scalar(given[n], n)
        v.check_in_range(value, n, 0.0, math.inf, low_open=True)
        out[n] = value
    return out


def format_params(params: Mapping[str, float]) -> str:
    """``r=0.2426, alpha=4.414`` for reprs."""
    return ", ".join(f"{k}={val:.4g}" for k, val in params.items())


# ---------------------------------------------------------------- prediction outputs

_ROUNDING = 1e-12
"""Excursions below 0 (or above 1 for a probability) up to this size are rounding: clipped."""


def prediction(
    *, probability: bool = False, allow_infinite: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a model method as a prediction and check what it returns (the structural rule).

    The wrapped method computes a float64 array. The wrapper then

    * checks it: a ``nan``, an infinity (unless `allow_infinite`, for quantities that are
      documented to be infinite, such as a lifetime with no discounting), a negative value,
      or with `probability` a value above 1, raises ``FloatingPointError`` naming the
      method, the model and the first offending element, instead of being returned.
      Excursions of at most 1e-12 past 0 or 1 are rounding and are clipped;
    * gives "scalar in, float out": when every argument is a scalar (``np.ndim == 0``),
      the one value is returned as a Python ``float``; otherwise the array.

    The methods compute through their stable paths first (the hypergeometric routines fall
    back to quadrature where the closed forms over- or underflow), so this check is the
    last line: it turns a numerical failure nobody has found yet into an error rather than
    a silent wrong number. Every prediction method of every model carries the marker
    ``__prediction__`` (``tests/test_model_numerics.py`` checks it).
    """

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> float | FloatArray:
            out = np.asarray(method(self, *args, **kwargs), dtype=np.float64)
            out = check_output(
                out, f"{type(self).__name__}.{method.__name__}", self, probability, allow_infinite
            )
            if all(np.ndim(a) == 0 for a in (*args, *kwargs.values())) and out.size == 1:
                return float(out.reshape(()))
            return out

        wrapper.__prediction__ = {  # type: ignore[attr-defined]
            "probability": probability,
            "allow_infinite": allow_infinite,
        }
        return wrapper

    return decorate


def check_output(
    out: FloatArray, where: str, model: Any, probability: bool, allow_infinite: bool
) -> FloatArray:
    """`out` if every value is a valid prediction (rounding clipped); else FloatingPointError."""
    with np.errstate(invalid="ignore"):
        bad = np.isnan(out) | (out < -_ROUNDING)
        if not allow_infinite:
            bad |= np.isinf(out)
        if probability:
            bad |= out > 1.0 + _ROUNDING
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        what = "probability" if probability else "value"
        raise FloatingPointError(
            f"{where} has no reliable {what} for element {i} (computed {float(out.ravel()[i])!r}) "
            f"with {model!r}: the parameters or inputs are beyond the numerically covered "
            "range; please report them"
        )
    if out.size and (out.min() < 0.0 or (probability and out.max() > 1.0)):
        out = np.clip(out, 0.0, 1.0 if probability else np.inf)
    return out
