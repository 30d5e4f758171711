"""Shared mathematics of the beta-geometric models (BG/NBD and MBG/NBD).

Both models mix a gamma purchase rate with a beta dropout probability at purchase
times, so they share the conditional expectation of the number of purchases (a Gauss
hypergeometric expression), the maximum-likelihood routine over ``(r, alpha, a, b)`` and
the simulation of purchase times. Each model module imports these public names; no
module imports another model module's private helpers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl
from scipy import special as sc

from loyaltymetrics._typing import FloatArray

from . import _base as b
from . import _uncertainty as u

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
    # r >> a + b: the Gauss series of the slow path has a large negative parameter and
    # cancels to a finite wrong value (111 for 184.57 at r = 1000), so quadrature over p.
    # a >> r: the Taylor steps of hyp2f1_robust grow like 2^(a - r) per step and overflow
    # to nan or inf, caught below. (Measured against 40-digit mpmath on 600 random cases
    # with a in [10, 1000]: the paths are right to 1e-9 wherever they are finite; routing
    # every a - r > 20 to quadrature instead cost 80x on 100,000 customers at a = 30.)
    hard = rr - a - b_ > _GAP
    slow &= ~hard
    if slow.any():
        i = np.flatnonzero(slow)
        with np.errstate(all="ignore"):
            out[i] = _count_series(rr[i], uu[i], a, c[i], z[i], log_grow[i])
    hard |= ~(np.isfinite(out) & (out >= 0.0))
    if hard.any():
        i = np.flatnonzero(hard)
        out[i] = count_quadrature(rr[i], uu[i], a, b_[i])
    return out.reshape(shape)


_GAP = 20.0
"""r - (a + b) beyond which `expected_count` integrates over p numerically."""
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(20)
_PANELS = 40
_LEFT_DRIFT = 1e-5
"""p·u·(r + 2) below which the integrand is replaced by its 3-term Taylor series in p."""
_RIGHT_DRIFT = 1e-8
"""(1 - p)(r + 2) below which the integrand is replaced by its tangent at p = 1."""
_SUPPORT = 50.0
"""The quadrature covers the logits where the beta density is within e^-50 of its mode."""
_CHUNK = 2048


def count_quadrature(r: Any, u: Any, a: Any, bb: Any) -> FloatArray:
    r"""`expected_count` by quadrature over the dropout probability $p$ (any parameters).

    $E = \int_0^1 g(p)\,\text{Beta}(p; a, b)\,dp$ with $g(p) = (1 - (1 + pu)^{-r})/p$,
    which is positive, bounded by $ru$ and analytic in $s = \operatorname{logit} p$ within
    $|\Im s| < \pi$, as is the beta density in $s$ (log-concave, mode
    $\log(a/b)$). So:

    * $p \le p_0$ with $p_0 u (r + 2) = 10^{-5}$: the series
      $g = u[r - r(r+1)\tfrac{pu}{2} + r(r+1)(r+2)\tfrac{(pu)^2}{6}]$ against the beta
      moments on $[0, p_0]$ (regularised incomplete beta functions), error below 1e-15;
    * $1 - p \le q_1$ with $q_1 (r + 2) = 10^{-8}$: the tangent of $g$ at 1 against the
      mass and mean of $1 - p$ there;
    * in between: 40 panels of 20-point Gauss–Legendre in $s$ over the logits where the
      density is within $e^{-50}$ of its mode (found by bisection, the density being
      log-concave in $s$), in logs ($p^a(1 - p)^b/B(a, b)$, $g$ by ``expm1``/``log1p``).

    No hypergeometric function, no cancellation (every term is positive except the small
    tangent correction), no overflow: agrees with 40-digit mpmath to about 1e-11 for
    every $r, b \le 6000$, $a \in [10^{-3}, 10^3]$ and $u \le 10^7$, at about 800
    evaluations of $g$ per element (a fallback, not the common path).
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (r, u, a, bb)))
    rr, uu, aa, b_ = (np.ravel(v) for v in arrays)
    out = np.zeros(rr.size)
    for start in range(0, rr.size, _CHUNK):
        sl = slice(start, start + _CHUNK)
        pos = np.flatnonzero(uu[sl] > 0) + start  # u = 0: nothing to buy, E = 0
        if pos.size:
            out[pos] = _quadrature(rr[pos], uu[pos], aa[pos], b_[pos])
    return out.reshape(arrays[0].shape)


def _quadrature(r: FloatArray, u: FloatArray, a: FloatArray, bb: FloatArray) -> FloatArray:
    """`count_quadrature` for u > 0 (1-D arrays of one length)."""
    lbeta = sc.betaln(a, bb)
    q1 = _RIGHT_DRIFT / (r + 2.0)
    p0 = np.minimum(_LEFT_DRIFT / (u * (r + 2.0)), 1.0 - q1)
    # [0, p0]: E[p^k; p < p0] = B(a + k, b)/B(a, b) I_p0(a + k, b)
    m0 = sc.betainc(a, bb, p0)
    m1 = np.exp(sc.betaln(a + 1.0, bb) - lbeta) * sc.betainc(a + 1.0, bb, p0)
    m2 = np.exp(sc.betaln(a + 2.0, bb) - lbeta) * sc.betainc(a + 2.0, bb, p0)
    left = u * r * (m0 - (r + 1.0) * u * m1 / 2.0 + (r + 1.0) * (r + 2.0) * u * u * m2 / 6.0)
    # [1 - q1, 1]: g(1) - g'(1)(1 - p); the mass and mean of 1 - p from I_q1(b, a)
    log_grow = np.log1p(u)
    at_one = -np.expm1(-r * log_grow)
    slope = r * u * np.exp(-(r + 1.0) * log_grow) - at_one
    right = at_one * sc.betainc(bb, a, q1) - slope * np.exp(
        sc.betaln(a, bb + 1.0) - lbeta
    ) * sc.betainc(bb + 1.0, a, q1)
    # between: Gauss-Legendre panels in s = logit p over the bulk of the density
    s_lo = np.log(p0) - np.log1p(-p0)
    s_hi = np.log1p(-q1) - np.log(q1)

    def log_density(s: FloatArray) -> FloatArray:  # up to the constant -log B(a, b)
        return np.asarray(a * s - (a + bb) * np.logaddexp(0.0, s))

    mode = np.clip(np.log(a) - np.log(bb), s_lo, s_hi)
    level = log_density(mode) - _SUPPORT
    lo_s = _crossing(log_density, level, s_lo, mode)
    hi_s = _crossing(log_density, level, s_hi, mode)
    width = (hi_s - lo_s) / _PANELS
    centres = lo_s[:, None] + width[:, None] * (np.arange(_PANELS) + 0.5)
    half = (width / 2.0)[:, None, None]
    s = (centres[:, :, None] + half * _GL_NODES).reshape(r.size, -1)
    weights = np.broadcast_to(half * _GL_WEIGHTS, (r.size, _PANELS, _GL_NODES.size))
    log_p = -np.logaddexp(0.0, -s)
    log_q = -np.logaddexp(0.0, s)
    p = np.exp(log_p)
    g = -np.expm1(-r[:, None] * np.log1p(p * u[:, None])) / p
    density = np.exp(a[:, None] * log_p + bb[:, None] * log_q - lbeta[:, None])
    middle = np.sum(weights.reshape(r.size, -1) * density * g, axis=1)
    return np.asarray(left + np.where(hi_s > lo_s, middle, 0.0) + right)


def _crossing(
    f: Callable[[FloatArray], FloatArray], level: FloatArray, edge: FloatArray, mode: FloatArray
) -> FloatArray:
    """Where the concave `f` falls to `level` between `mode` and `edge` (else `edge`)."""
    outside, inside = edge.copy(), mode.copy()
    for _ in range(60):
        mid = 0.5 * (outside + inside)
        below = f(mid) < level
        outside = np.where(below, mid, outside)
        inside = np.where(below, inside, mid)
    return np.where(f(edge) < level, outside, edge)


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


class GroupedCustomers:
    r"""Customers prepared once for the grouped BG/NBD or MBG/NBD likelihood (`loglik_totals`).

    Both likelihoods are $\ell = A + \log(e^{c_1} + e^{c_2})$ with
    $A = \log\Gamma(r + x) - \log\Gamma(r) + r\log\alpha$ and the components
    $c_j = \log B(a + d_j, b + x + e_j) - \log B(a, b) - (r + x)\log(\alpha + \tau_j)$:
    BG/NBD (FHL 2005, eq. 6) $(d, e, \tau) = (0, 0, T)$ and $(1, -1, t_x)$, the second only
    for $x > 0$; MBG/NBD (Batislam et al. 2007) $(0, 1, T)$ and $(1, 0, t_x)$.

    The customers are sorted by frequency once, so each distinct frequency `freqs[g]` is
    one contiguous run (`starts`) and a per-frequency sum is one `np.add.reduceat`; the
    customers with a second component are the runs from `first` on (BG/NBD: all but
    x = 0). Measured at 1M customers: the stable sort of the frequencies as int16 (numpy's
    radix sort) takes 0.01 s once; per evaluation `reduceat` takes 0.3 ms per sum where
    `np.bincount` over an index took 1.8 ms.
    """

    __slots__ = (
        "big_t",
        "e1",
        "e2",
        "first",
        "freqs",
        "gap2",
        "groups2",
        "sizes2",
        "starts",
        "starts2",
        "t_x2",
        "w",
        "w2",
        "weight",
        "x2",
    )

    def __init__(
        self, x: FloatArray, t_x: FloatArray, big_t: FloatArray, w: FloatArray, *, modified: bool
    ) -> None:
        self.e1, self.e2 = (1.0, 0.0) if modified else (0.0, -1.0)
        top = float(x.max())
        key = x.astype(np.int16 if top < 2**15 else np.int64)  # whole numbers (check_rfm)
        order = np.argsort(key, kind="stable")
        x, t_x, big_t, w = x[order], t_x[order], big_t[order], w[order]
        n = x.shape[0]
        self.starts = np.flatnonzero(np.concatenate([[True], x[1:] != x[:-1]]))
        self.freqs = x[self.starts]
        # the runs with a second component: all (MBG/NBD) or those with x > 0 (BG/NBD)
        self.groups2 = 1 if (not modified and self.freqs[0] == 0) else 0
        self.first = int(self.starts[1]) if self.groups2 and self.starts.size > 1 else 0
        if self.groups2 and self.starts.size == 1:
            self.first = n
        self.starts2 = self.starts[self.groups2 :] - self.first
        self.sizes2 = np.diff(np.append(self.starts2, n - self.first))
        self.big_t = big_t
        self.t_x2 = t_x[self.first :]
        self.x2 = x[self.first :]
        self.gap2 = big_t[self.first :] - self.t_x2
        # unit weights (the usual unweighted fit) skip a multiplication per sum
        unit = bool(np.all(w == 1.0))
        self.w: FloatArray | None = None if unit else w
        self.w2: FloatArray | None = None if unit else w[self.first :]
        self.weight = np.add.reduceat(w, self.starts)

    def sums(self, values: FloatArray) -> FloatArray:
        """Weighted sums of `values` (one per customer) per frequency."""
        return np.asarray(
            np.add.reduceat(values if self.w is None else self.w * values, self.starts),
            dtype=np.float64,
        )

    def sums2(self, values: FloatArray) -> FloatArray:
        """Weighted sums per frequency of `values` over the customers with a second part.

        One entry per frequency (0 where a frequency has no second part).
        """
        out = np.zeros(self.freqs.size)
        if values.size:
            out[self.groups2 :] = np.add.reduceat(
                values if self.w2 is None else self.w2 * values, self.starts2
            )
        return out

    def spread2(self, per_group: FloatArray) -> FloatArray:
        """A per-frequency constant, repeated for each customer with a second part."""
        return np.repeat(per_group[self.groups2 :], self.sizes2)

    def total2(self, values: FloatArray) -> float:
        """Weighted sum of `values` over the customers with a second part."""
        return float(np.sum(values if self.w2 is None else self.w2 * values))


def loglik_totals(
    params: FloatArray, data: GroupedCustomers, *, hessian: bool = False
) -> tuple[float, FloatArray, FloatArray | None]:
    r"""Total log-likelihood, its gradient and (with `hessian`) its Hessian in (r, alpha, a, b).

    The same quantities as the weighted sums of the models' per-customer `_loglik_terms`
    (and of `_uncertainty.beta_geometric_hessian`), see `GroupedCustomers` for the
    likelihood. With $\delta = c_2 - c_1$, $q = \operatorname{expit}\delta$ (the weight of
    $c_2$) and $D = \nabla c_2 - \nabla c_1$:

    $\ell = A + c_1 + \log(1 + e^\delta)$, $\nabla\ell = \nabla A + \nabla c_1 + qD$,
    $\nabla^2\ell = \nabla^2 A + \nabla^2 c_1 + q(\nabla^2 c_2 - \nabla^2 c_1)
    + q(1 - q)DD^\top$.

    Everything that depends on the customer only through $x$ (the log-gamma, log-beta,
    digamma and trigamma terms, and the $a$, $b$ entries of $D$) is a per-frequency
    constant, so a customer's part reduces to per-frequency sums of
    $\log(\alpha + \tau)$, $1/(\alpha + \tau)$, $q$ and products with $q$; the second
    component is computed only for the customers that have one (BG/NBD: $x > 0$).

    Measured at 1M simulated customers (39 % with x > 0; bench_models' population), in one
    process, interleaved, median of 5, machine loaded (load average 17): 21 ms CPU per
    evaluation (32 ms with the Hessian) against 97 ms for the weighted sums of
    `_bg_nbd._loglik_terms` (a dozen full-length passes, most of them for the 61 % with
    x = 0, whose second component is -inf) and 2.1 s for `beta_geometric_hessian`
    (trigamma per customer and a 4 x 4 x n array); `GroupedCustomers` takes 27 ms once.
    Rejected: `np.logaddexp` for $\log(1 + e^\delta)$ (8.5 ms at 390,000 customers,
    against 3 ms for the passes used), `np.bincount` for the per-frequency sums (1.8 ms per
    sum at 1M, against 0.3 ms for `reduceat` over sorted runs).
    """
    r, alpha, a, bb = (float(p) for p in params)
    dg, tg = sc.digamma, _trigamma
    fx = data.freqs
    rx = r + fx
    lbeta_ab = sc.betaln(a, bb)
    log_alpha = math.log(alpha)
    # per-frequency constants of A and of the two components
    b1 = bb + fx + data.e1
    s1 = a + b1
    k1 = sc.betaln(a, b1) - lbeta_ab
    fx2 = fx if data.e2 == 0.0 else np.maximum(fx, 1.0)  # BG/NBD: no second part at x = 0
    b2 = bb + fx2 + data.e2
    s2 = a + 1.0 + b2
    k2 = sc.betaln(a + 1.0, b2) - lbeta_ab
    dg_ab = dg(a + bb)
    g1a = dg_ab - dg(s1)
    g1b = dg(b1) - dg(s1) - dg(bb) + dg_ab
    g2a = dg(a + 1.0) - dg(a) - dg(s2) + dg_ab
    g2b = dg(b2) - dg(s2) - dg(bb) + dg_ab
    weight = data.weight
    gamma_ratio = _rising(r, fx)

    # Written so that the large terms cancel per customer, before any sum: with
    # l = log(1 + T/alpha), r log(alpha) - (r + x) log(alpha + T) = -x log(alpha) - (r + x) l
    # and r/alpha - (r + x)/(alpha + T) = r tau - x/(alpha + T), tau = T/(alpha(alpha + T)).
    # The sums of log(alpha + T) and 1/(alpha + T) cancelled afterwards instead, which near
    # the homogeneous boundary (r ≈ 3600, alpha ≈ 7200: 6e7 against a log-likelihood of
    # 5e3) left noise above L-BFGS-B's ftol, and its line search stopped (test_convergence).
    inv1 = 1.0 / (alpha + data.big_t)
    l1 = np.log1p(data.big_t * (1.0 / alpha))
    tau1 = data.big_t * inv1 * (1.0 / alpha)
    s_l = data.sums(l1)
    s_inv = data.sums(inv1)
    s_tau = data.sums(tau1)
    ll = float(weight @ (gamma_ratio[0] - fx * log_alpha + k1) - rx @ s_l)
    grad = np.array(
        [
            weight @ gamma_ratio[1] - s_l.sum(),
            r * s_tau.sum() - fx @ s_inv,
            weight @ g1a,
            weight @ g1b,
        ]
    )
    hess = None
    if hessian:
        c1 = tg(a + bb) - tg(s1)
        hess = np.zeros((4, 4))
        hess[0, 0] = weight @ gamma_ratio[2]
        hess[0, 1] = s_tau.sum()
        hess[1, 1] = -r * data.sums(tau1 * (1.0 / alpha + inv1)).sum()
        hess[1, 1] += fx @ data.sums(inv1 * inv1)
        hess[2, 2] = hess[2, 3] = weight @ c1
        hess[3, 3] = weight @ (tg(b1) - tg(bb) + c1)
    first = data.first
    if data.x2.size:
        inv1_2 = inv1[first:]
        inv2 = 1.0 / (alpha + data.t_x2)
        log_ratio = np.log1p(data.gap2 * inv2)  # log((alpha + T)/(alpha + t_x)) = D_r
        m = -data.gap2 * inv1_2 * inv2  # 1/(alpha + T) - 1/(alpha + t_x) = D_alpha / (r + x)
        rx2 = r + data.x2
        delta = data.spread2(k2 - k1) + rx2 * log_ratio
        q = sc.expit(delta)
        # log(1 + e^delta) as max(delta, 0) + log1p(e^-|delta|): numpy's logaddexp took
        # 8.5 ms at 390,000 customers, these passes 3 ms
        ll += data.total2(np.maximum(delta, 0.0)) + data.total2(np.log1p(np.exp(-np.abs(delta))))
        s_q = data.sums2(q)
        d_a, d_b = g2a - g1a, g2b - g1b
        grad[0] += data.total2(q * log_ratio)
        grad[1] += rx @ data.sums2(q * m)
        grad[2] += s_q @ d_a
        grad[3] += s_q @ d_b
        if hess is not None:
            qq = q * (1.0 - q)
            s_qq = data.sums2(qq)
            s_qql = data.sums2(qq * log_ratio)
            s_qqm = data.sums2(qq * m)
            c1 = tg(a + bb) - tg(s1)
            c2 = tg(a + bb) - tg(s2)
            hess[0, 0] += data.total2(qq * log_ratio * log_ratio)
            hess[0, 1] += data.total2(q * m) + rx @ data.sums2(qq * log_ratio * m)
            hess[1, 1] += rx @ data.sums2(q * (inv2 * inv2 - inv1_2 * inv1_2))
            hess[1, 1] += (rx * rx) @ data.sums2(qq * m * m)
            hess[0, 2] += s_qql @ d_a
            hess[0, 3] += s_qql @ d_b
            hess[1, 2] += (rx * d_a) @ s_qqm
            hess[1, 3] += (rx * d_b) @ s_qqm
            hess[2, 2] += s_q @ (tg(a + 1.0) - tg(a) + c2 - c1) + s_qq @ (d_a * d_a)
            hess[2, 3] += s_q @ (c2 - c1) + s_qq @ (d_a * d_b)
            hess[3, 3] += s_q @ ((tg(b2) + c2) - (tg(b1) + c1)) + s_qq @ (d_b * d_b)
    if hess is not None:
        hess = np.triu(hess) + np.triu(hess, 1).T
    return ll, grad, hess


_RISING_SUM_MAX = 100_000
"""Largest frequency up to which `_rising` sums the terms (beyond: special functions)."""


def _rising(r: float, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""$\log\Gamma(r + x) - \log\Gamma(r)$ and its first two derivatives in $r$, for whole $x$.

    As the sums $\sum_{j<x}\log(r + j)$, $\sum 1/(r + j)$ and $-\sum 1/(r + j)^2$ (cumulative
    sums up to the largest $x$), not as differences of special functions: near the
    homogeneous boundary ($r$ beyond 1e10) $\log\Gamma(r)$ is about 1e12 and the
    difference lost about 1e-4 per customer, which hid the boundary's flat ridge from
    `fit_mle`'s check (tests/test_convergence.py). Beyond `_RISING_SUM_MAX` the
    differences of scipy's functions are used.
    """
    top = float(x[-1]) if x.size else 0.0  # x is sorted
    if top > _RISING_SUM_MAX:
        return (
            sc.gammaln(r + x) - sc.gammaln(r),
            sc.digamma(r + x) - sc.digamma(r),
            _trigamma(r + x) - _trigamma(r),
        )
    shifted = r + np.arange(int(top), dtype=np.float64)
    k = x.astype(np.intp)
    out = []
    for terms in (np.log(shifted), 1.0 / shifted, -1.0 / (shifted * shifted)):
        out.append(np.concatenate([[0.0], np.cumsum(terms)])[k])
    return out[0], out[1], out[2]


def _trigamma(v: Any) -> Any:
    return sc.polygamma(1, v)


def fit_r_alpha_a_b(
    names: tuple[str, ...],
    frequency: Any,
    recency: Any,
    T: Any,
    weights: Any,
    penalizer: float = 0.0,
    *,
    modified: bool,
) -> tuple[dict[str, float], float, Mapping[str, float], float, FloatArray]:
    """Weighted MLE of (r, alpha, a, b) for BG/NBD and MBG/NBD (`modified`).

    Returns the estimates, the total log-likelihood, the standard errors, the number of
    customers and the covariance (inverse analytic observed information of the unpenalised
    log-likelihood). The likelihood, its gradient and the Hessian are `loglik_totals` over
    the customers grouped once (`GroupedCustomers`).
    """
    x, t_x, big_t = b.check_rfm(frequency, recency, T)
    w = b.check_weights(weights, x.shape[0])
    b.check_identified(x, w)
    lam = b.check_penalizer(penalizer)
    data = GroupedCustomers(x, t_x, big_t, w, modified=modified)

    def objective(p: FloatArray) -> tuple[float, FloatArray]:
        ll, grad, _ = loglik_totals(p, data)
        return ll, grad

    n = float(w.sum())
    mean_x = b.wsum(w, x) / n
    mean_t = b.wsum(w, big_t) / n
    start = np.array([1.0, max(mean_t / max(mean_x, 1e-3), 1e-3), 1.0, 1.0])
    params, ll = b.fit_mle(objective, start, names, n, penalizer=lam)
    _, _, hess = loglik_totals(np.array(list(params.values())), data, hessian=True)
    cov = u.observed_covariance(params, hessian=hess)
    return params, ll, u.standard_errors_from(cov, names), n, cov
