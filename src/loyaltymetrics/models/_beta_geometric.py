"""Shared mathematics of the beta-geometric models (BG/NBD and MBG/NBD).

Both models mix a gamma purchase rate with a beta dropout probability at purchase
times, so they share the conditional expectation of the number of purchases (a Gauss
hypergeometric expression), the maximum-likelihood routine over ``(r, alpha, a, b)`` and
the simulation of purchase times. Each model module imports these public names; no
module imports another model module's private helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl

from loyaltymetrics._typing import FloatArray

from . import _base as b

_NEAR_ONE = 1e-3
"""|a - 1| below which the closed form's division by a - 1 loses digits: series path."""
_NEAR_WHOLE = 1e-3
"""Distance of a - r from a whole number below which scipy's 2F1 is unreliable near z = 1."""
_LARGE_Z = 0.85
_SMALL_Z = 0.01
"""Below this z the closed form's 1 - (1 - z)^(a-1) 2F1 cancels; the series is short there."""
_EXTREME_Z = 0.999
"""Above this z, scipy's 2F1 (given z, not 1 - z) loses about |c - a - b| · u ulps."""


def expected_count(r: Any, u: Any, a: float, bb: Any) -> FloatArray:
    r"""$E[(1 - (1 + pu)^{-r})/p]$ for $p \sim \text{Beta}(a, b)$: BG/NBD expected purchases.

    A customer who is active now, with purchase rate $\lambda \sim \text{Gamma}(r, \alpha)$
    and dropout probability $p \sim \text{Beta}(a, b)$, makes $(1 - e^{-\lambda p t})/p$
    purchases in the next $t$ on average given $(\lambda, p)$; integrating $\lambda$ gives the
    above with $u = t/\alpha$. FHL (2005, eq. 7 and 10) write it as

    $$\frac{a + b - 1}{a - 1}\left[1 - (1 + u)^{-r}\,
      {}_2F_1\!\left(r, b; a + b - 1; z\right)\right], \quad z = \frac{u}{1 + u}.$$

    New customers: `r, b` = the model's; a customer with `x` repeat purchases observed for
    `T`: `r + x, b + x` and $u = t/(\alpha + T)$. (MBG/NBD's $E[X(t)]$ is
    $\frac{b}{a + b}$ times this with `b + 1` in place of `b`.) `bb` is $b$.

    Fast path: the closed form after Euler's transformation,
    $\frac{C}{a-1}[1 - (1 + u)^{1-a}{}_2F_1(C - r, a - 1; C; z)]$ with $C = a + b - 1$,
    which cannot overflow for large `r`. Where that is unreliable (a near 1, where it is
    0/0 at a = 1; a - r near a whole number with z near 1, where scipy's 2F1 fails;
    C = 0; tiny z, where the bracket cancels; z within 1e-3 of 1, where the rounding of z
    costs digits) the same quantity is computed from

    $$C\,\frac{1 - (1+u)^{1-a}}{a - 1} - (1 + u)^{1-a} (C - r)
      \int_0^z {}_2F_1(C - r + 1, a; C + 1; y)\,dy$$

    (from $\frac{d}{dz}{}_2F_1(A, a-1; C; z) = \frac{A(a-1)}{C}{}_2F_1(A+1, a; C+1; z)$),
    which has no division by $a - 1$ or by $C$: its first fraction is $\log(1 + u)$ at
    $a = 1$, and the integral comes from `hyp2f1_robust`. `a` is a scalar; `r`, `u`, `b`
    broadcast.
    """
    shape = np.broadcast_shapes(np.shape(r), np.shape(u), np.shape(bb))
    rr, uu, b_ = (
        np.ravel(v)
        for v in np.broadcast_arrays(*(np.asarray(w, dtype=np.float64) for w in (r, u, bb)))
    )
    c = a + b_ - 1.0
    log_grow = np.log1p(uu)  # log(1 + u) = -log(1 - z)
    z = uu / (1.0 + uu)
    if abs(a - 1.0) < _NEAR_ONE:
        slow = np.ones(z.size, dtype=bool)
    else:
        slow = (z < _SMALL_Z) | (z > _EXTREME_Z) | (np.abs(c) < 1e-6)
        whole = b.near_whole(a - rr, _NEAR_WHOLE)
        if whole.any():
            slow |= whole & (z > _LARGE_Z)
    out = np.empty(z.size)
    fast = ~slow
    if fast.any():
        sub: slice | np.ndarray[Any, np.dtype[np.intp]] = (
            slice(None) if not slow.any() else np.flatnonzero(fast)
        )
        cf, zf = c[sub], z[sub]
        with np.errstate(all="ignore"):
            hyp = b.hyp2f1(cf - rr[sub], a - 1.0, cf, zf)
            out[sub] = cf / (a - 1.0) * (1.0 - np.exp((1.0 - a) * log_grow[sub]) * hyp)
        slow |= ~np.isfinite(out)
    if slow.any():
        i = np.flatnonzero(slow)
        out[i] = _count_series(rr[i], uu[i], a, c[i], z[i], log_grow[i])
    return out.reshape(shape)


def _count_series(
    r: FloatArray, u: FloatArray, a: float, c: FloatArray, z: FloatArray, log_grow: FloatArray
) -> FloatArray:
    """`expected_count` by the form without divisions (see there); `c` = a + b - 1."""
    big_a = c - r
    _, integral = b.hyp2f1_robust(big_a + 1.0, a, c + 1.0, z, 1.0 / (1.0 + u))
    one_minus_a = 1.0 - a
    # (1 - (1+u)^(1-a)) / (a - 1), continuous through a = 1 where it is log(1 + u)
    first = log_grow if one_minus_a == 0.0 else np.expm1(one_minus_a * log_grow) / one_minus_a
    return np.asarray(c * first - np.exp(one_minus_a * log_grow) * big_a * integral)


def frame_from_events(
    rng: np.random.Generator, repeats: Any, events: Any, big_t: FloatArray
) -> pl.DataFrame:
    """Recency = time of the `repeats`-th of `events` uniform event times in (0, T].

    The k-th smallest of m uniforms on (0, 1) is Beta(k, m - k + 1), so no sorting is needed.
    """
    k = np.asarray(repeats, dtype=np.int64)
    m = np.asarray(events, dtype=np.int64)
    has = k > 0
    u = np.zeros(k.shape[0])
    u[has] = rng.beta(k[has], m[has] - k[has] + 1)
    return pl.DataFrame(
        {"frequency": k, "recency": u * big_t, "T": big_t},
        schema={"frequency": pl.Int64, "recency": pl.Float64, "T": pl.Float64},
    )


LoglikTerms = Callable[..., tuple[FloatArray, list[FloatArray]]]


def fit_r_alpha_a_b(
    loglik_terms: LoglikTerms,
    names: tuple[str, ...],
    frequency: Any,
    recency: Any,
    T: Any,
    weights: Any,
) -> tuple[dict[str, float], float, Mapping[str, float], float]:
    """Weighted MLE of (r, alpha, a, b) for BG/NBD and MBG/NBD from their likelihood terms.

    Returns the estimates, the total log-likelihood, the standard errors and the number of
    customers. The special functions are evaluated once per distinct frequency (`groups`).
    """
    x, t_x, big_t = b.check_rfm(frequency, recency, T)
    w = b.check_weights(weights, x.shape[0])
    b.check_identified(x, w)

    groups = np.unique(x, return_inverse=True)

    def objective(p: FloatArray) -> tuple[float, FloatArray]:
        ll, grads = loglik_terms(p, x, t_x, big_t, groups)
        return b.wsum(w, ll), np.array([b.wsum(w, g) for g in grads])

    n = float(w.sum())
    mean_x = b.wsum(w, x) / n
    mean_t = b.wsum(w, big_t) / n
    start = np.array([1.0, max(mean_t / max(mean_x, 1e-3), 1e-3), 1.0, 1.0])
    params, ll = b.fit_mle(objective, start, names, n)
    se = b.standard_errors(objective, params)
    return params, ll, se, n
