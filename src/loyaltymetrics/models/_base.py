"""Shared machinery of the models: input checks, maximum likelihood, standard errors."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import optimize
from scipy import special as sc

from loyaltymetrics import _validation as v
from loyaltymetrics._typing import FloatArray

Objective = Callable[[FloatArray], tuple[float, FloatArray]]
"""Parameters (natural scale) -> (total log-likelihood, gradient)."""


class ConvergenceError(RuntimeError):
    """Raised when maximum likelihood fails; the message carries the optimiser's reason."""


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


def fit_mle(
    objective: Objective,
    start: FloatArray,
    names: tuple[str, ...],
    n_obs: float,
    *,
    gtol: float = 1e-10,
) -> tuple[dict[str, float], float]:
    """Maximise a log-likelihood over positive parameters (optimised on the log scale).

    Deterministic: L-BFGS-B from the given start with the given gradient. `gtol` bounds
    the per-observation gradient at the optimum; a numerical gradient needs a looser one
    than an analytic gradient. If the optimiser stops early it is restarted once from where
    it stopped; the result is accepted only at a point whose per-observation gradient is
    below 1e-7. Otherwise ``ConvergenceError`` carries the optimiser's message.
    """
    scale = 1.0 / max(n_obs, 1.0)

    def neg(theta: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(theta)
        ll, grad = objective(params)
        if not math.isfinite(ll):
            return math.inf, np.zeros_like(theta)
        return -ll * scale, -(grad * params) * scale

    options: Any = {"maxiter": 5000, "gtol": gtol, "ftol": 1e-15 if gtol <= 1e-10 else 1e-13}
    bounds = [(-25.0, 25.0)] * len(names)
    result = optimize.minimize(
        neg, np.log(start), jac=True, method="L-BFGS-B", bounds=bounds, options=options
    )
    if not result.success:
        # A line search that fails next to the optimum is a limit of floating point, not a
        # wrong answer: restart once from there (fresh curvature memory), then accept the
        # point only if the per-observation gradient is negligible anyway.
        result = optimize.minimize(
            neg, result.x, jac=True, method="L-BFGS-B", bounds=bounds, options=options
        )
        if not result.success:
            worst = float(np.max(np.abs(neg(result.x)[1])))
            if not (np.isfinite(result.fun) and worst <= _ACCEPT_GRADIENT):
                raise ConvergenceError(
                    f"maximum likelihood did not converge: {result.message} (largest "
                    f"gradient per observation {worst:.3g} on the log-parameter scale)"
                )
    params = np.exp(result.x)
    if np.any(np.abs(result.x) >= 24.9):
        raise ConvergenceError(
            "maximum likelihood ran to a parameter bound "
            f"({dict(zip(names, params.tolist(), strict=True))}); the data do not identify "
            "the model"
        )
    ll, _ = objective(params)
    return dict(zip(names, params.tolist(), strict=True)), float(ll)


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
