"""The BG/NBD model of Fader, Hardie & Lee (2005)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import polars as pl
from scipy import special as sc

from loyaltymetrics import _validation as v
from loyaltymetrics._typing import FloatArray

from . import _base as b
from . import _uncertainty as u


def _empty() -> Mapping[str, float]:
    return MappingProxyType({})


def _loglik_terms(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    groups: tuple[FloatArray, np.ndarray[Any, np.dtype[np.intp]]] | None = None,
) -> tuple[FloatArray, list[FloatArray]]:
    """Per-customer log-likelihood (FHL 2005, eq. 6) and its gradient terms.

    The special functions depend on the customer only through $x$, which takes few
    distinct values: they are evaluated once per distinct $x$ (`groups` = the distinct
    values and the inverse index) and gathered, so a call costs a few array passes.
    """
    r, alpha, a, bb = params
    ux, inv = np.unique(x, return_inverse=True) if groups is None else groups
    dg = sc.digamma
    lbeta_ab = sc.betaln(a, bb)
    has = ux > 0
    uxm = np.where(has, ux, 1.0)  # keep b + x - 1 > 0 where x = 0 (term masked out)
    u_a1 = sc.gammaln(r + ux) - sc.gammaln(r) + r * math.log(alpha)
    u_b2 = sc.betaln(a, bb + ux) - lbeta_ab
    u_b3 = np.where(has, sc.betaln(a + 1, bb + uxm - 1) - lbeta_ab, -np.inf)
    u_dr = dg(r + ux) - dg(r) + math.log(alpha)
    u_dabx = dg(a + bb + ux)
    u_db = dg(bb + ux) - u_dabx
    u_db3 = dg(bb + uxm - 1) - u_dabx

    log_t = np.log(alpha + big_t)
    log_tx = np.log(alpha + t_x)
    rx = r + x
    a2 = u_b2[inv] - rx * log_t
    a3 = u_b3[inv] - rx * log_tx  # -inf where x = 0
    mix = np.logaddexp(a2, a3)
    ll = u_a1[inv] + mix
    pi3 = np.exp(a3 - mix)  # weight of the "dropped out after the last purchase" term
    pi2 = 1.0 - pi3
    d_r = u_dr[inv] - pi2 * log_t - pi3 * log_tx
    d_alpha = r / alpha - rx * (pi2 / (alpha + big_t) + pi3 / (alpha + t_x))
    base_a = -(dg(a) - dg(a + bb))
    base_b = -(dg(bb) - dg(a + bb))
    d_a = base_a + pi2 * dg(a) + pi3 * dg(a + 1) - u_dabx[inv]
    d_b = base_b + pi2 * u_db[inv] + pi3 * u_db3[inv]
    return ll, [d_r, d_alpha, d_a, d_b]


_NEAR_ONE = 1e-3
"""|a - 1| below which the closed form's division by a - 1 loses digits: series path."""
_NEAR_WHOLE = 1e-3
"""Distance of a - r from a whole number below which scipy's 2F1 is unreliable near z = 1."""
_LARGE_Z = 0.85
_SMALL_Z = 0.01
"""Below this z the closed form's 1 - (1 - z)^(a-1) 2F1 cancels; the series is short there."""
_EXTREME_Z = 0.999
"""Above this z, scipy's 2F1 (given z, not 1 - z) loses about |c - a - b| · u ulps."""


def _expected_count(r: Any, u: Any, a: float, bb: Any) -> FloatArray:
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
        out[i] = _expected_count_series(rr[i], uu[i], a, c[i], z[i], log_grow[i])
    return out.reshape(shape)


def _expected_count_series(
    r: FloatArray, u: FloatArray, a: float, c: FloatArray, z: FloatArray, log_grow: FloatArray
) -> FloatArray:
    """`_expected_count` by the form without divisions (see there); `c` = a + b - 1."""
    big_a = c - r
    _, integral = b.hyp2f1_robust(big_a + 1.0, a, c + 1.0, z, 1.0 / (1.0 + u))
    one_minus_a = 1.0 - a
    # (1 - (1+u)^(1-a)) / (a - 1), continuous through a = 1 where it is log(1 + u)
    first = log_grow if one_minus_a == 0.0 else np.expm1(one_minus_a * log_grow) / one_minus_a
    return np.asarray(c * first - np.exp(one_minus_a * log_grow) * big_a * integral)


@dataclass(frozen=True, slots=True, repr=False)
class BetaGeoModel(u.BetaGeoPrediction):
    r"""The BG/NBD model: Poisson purchasing with beta-geometric dropout.

    While active, customer $i$ buys at the events of a Poisson process with rate
    $\lambda_i \sim \text{Gamma}(r, \alpha)$; after each purchase they become inactive for
    good with probability $p_i \sim \text{Beta}(a, b)$. The likelihood of a customer with
    $x$ repeat purchases, the last at $t_x$, observed for $T$ is

    $$L = \frac{B(a, b + x)}{B(a, b)} \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)(\alpha + T)^{r+x}}
      + \delta_{x>0} \frac{B(a + 1, b + x - 1)}{B(a, b)}
        \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)(\alpha + t_x)^{r+x}}$$

    Build a model with `BetaGeoModel.fit(...)` (maximum likelihood) or
    `BetaGeoModel.from_params(r=..., alpha=..., a=..., b=...)`. Instances are immutable.
    Time is in the unit of the RFM inputs (`recency`, `T`), and predictions take `t` in
    the same unit.

    Attributes
    ----------
    params : mapping
        `r`, `alpha` (purchase-rate heterogeneity; mean rate $r/\alpha$ per time unit),
        `a`, `b` (dropout heterogeneity; mean dropout probability $a/(a + b)$).
    log_likelihood : float
        Total log-likelihood of the fitted data (`nan` for `from_params`).
    standard_errors : mapping
        Asymptotic standard errors of the parameters, from the inverse Hessian of the
        log-likelihood (empty for `from_params`).
    n_customers : float
        Number of customers fitted (sum of the weights).

    References
    ----------
    1. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting Your Customers" the
       Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science*, 24(2),
       275–284. https://doi.org/10.1287/mksc.1040.0098
    2. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2008). Computing P(alive) Using the
       BG/NBD Model. Note 021, http://brucehardie.com/notes/021/

    Examples
    --------
    >>> from loyaltymetrics import datasets, models
    >>> cdnow = datasets.load_cdnow_summary()
    >>> m = models.BetaGeoModel.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    >>> {k: round(val, 3) for k, val in m.params.items()}
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> round(m.log_likelihood, 1)
    -9582.4
    """

    params: Mapping[str, float]
    log_likelihood: float = math.nan
    standard_errors: Mapping[str, float] = field(default_factory=_empty)
    n_customers: float = 0.0
    covariance: FloatArray = field(default_factory=u.unknown_covariance(4), compare=False)

    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")

    def __repr__(self) -> str:
        return f"BetaGeoModel({b.format_params(self.params)})"

    @classmethod
    def from_params(cls, **params: float) -> BetaGeoModel:
        """Build a model from known parameters `r`, `alpha`, `a`, `b` (all positive).

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        BetaGeoModel(r=0.243, alpha=4.414, a=0.793, b=2.426)
        """
        return cls(MappingProxyType(b.check_params(cls.__name__, cls.PARAM_NAMES, params)))

    @classmethod
    def fit(
        cls, frequency: Any, recency: Any, T: Any, *, weights: Any = None, penalizer: float = 0.0
    ) -> BetaGeoModel:
        r"""Fit by maximum likelihood to an RFM summary.

        Parameters
        ----------
        frequency : array-like
            Repeat purchases $x$ per customer (whole numbers ≥ 0).
        recency : array-like
            Time of the last purchase $t_x$ since the first (0 when $x = 0$), ≤ `T`.
        T : array-like
            Time from the first purchase to the end of observation, ≥ 0 (0 for a
            customer first seen on the last day, who must then have frequency 0).
        weights : array-like, optional
            Number of customers with each row's pattern (frequency weights).
        penalizer : float, default=0.0
            L2 penalty on the log parameters: maximise
            $\ell/N - \lambda \sum_i (\log \theta_i)^2$ instead of the log-likelihood
            $\ell$ ($N$ customers). 0 is plain maximum likelihood. A small value (1e-4
            to 1e-2; the smallest that converges changes the predictions least) keeps the
            estimate finite where the likelihood has its maximum at a boundary
            (homogeneous customers, see `ConvergenceError`). The penalty pulls
            every parameter towards 1, so it depends on the time unit through the scale
            parameters. `log_likelihood` is the unpenalised value at the estimate, and
            `standard_errors` come from the curvature of the penalised function.

        Returns
        -------
        BetaGeoModel
            The fitted model, with `log_likelihood` and `standard_errors`.

        Raises
        ------
        ValueError
            For invalid inputs (the message names the argument and the first bad index).
        ConvergenceError
            If maximum likelihood does not converge: the message names the parameters
            that run to a boundary and what to try.
        """
        params, ll, se, n, cov = _fit_r_alpha_a_b(
            _loglik_terms,
            cls.PARAM_NAMES,
            frequency,
            recency,
            T,
            weights,
            penalizer,
            modified=False,
        )
        return cls(MappingProxyType(params), ll, se, n, cov)

    def _p(self) -> tuple[float, float, float, float]:
        p = self.params
        return p["r"], p["alpha"], p["a"], p["b"]

    def expected_purchases_new(self, t: Any) -> float | FloatArray:
        r"""Expected purchases of a new customer in $(0, t]$ (FHL 2005, eq. 7).

        $$E[X(t)] = \frac{a + b - 1}{a - 1}\left[1 - \left(\frac{\alpha}{\alpha + t}\right)^r
          {}_2F_1\!\left(r, b; a + b - 1; \frac{t}{\alpha + t}\right)\right]$$

        At $a = 1$ (0/0) and $a + b = 1$ (0·∞) the finite limit is returned; the value is
        continuous in the parameters, also where scipy's ${}_2F_1$ is degenerate.

        Parameters
        ----------
        t : float or array-like
            Length of the period, ≥ 0, in the model's time unit.

        Returns
        -------
        float or numpy.ndarray
            Expected number of purchases.
        """
        r, alpha, a, bb = self._p()
        tt = np.asarray(v.as_real(t, "t"), dtype=np.float64)
        v.check_nonnegative(tt, "t")
        out = _expected_count(r, tt / alpha, a, bb)
        return out if out.ndim else float(out)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        r"""Expected purchases in the next $t$, given a customer's history (FHL 2005, eq. 10).

        $$E[Y(t) \mid x, t_x, T] = \frac{\frac{a + b + x - 1}{a - 1}\left[1 -
          \left(\frac{\alpha + T}{\alpha + T + t}\right)^{r+x}
          {}_2F_1\!\left(r + x, b + x; a + b + x - 1; \frac{t}{\alpha + T + t}\right)\right]}
          {1 + \delta_{x>0} \frac{a}{b + x - 1}\left(\frac{\alpha + T}{\alpha + t_x}\right)^{r+x}}$$

        At $a = 1$ the finite limit is returned (as for `expected_purchases_new`).

        Parameters
        ----------
        t : float or array-like
            Length of the future period, ≥ 0 (broadcast against the customers).
        frequency, recency, T : array-like
            The customers' RFM summary, as in `fit`.

        Returns
        -------
        numpy.ndarray
            Expected purchases per customer.
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        tt = np.asarray(v.as_real(t, "t"), dtype=np.float64)
        v.check_nonnegative(tt, "t")
        return np.asarray(
            self._if_alive(tt, x, big_t) * self._p_alive(x, t_x, big_t), dtype=np.float64
        )

    def _if_alive(self, tt: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """Expected purchases in the next `tt` for a customer alive at T (validated input)."""
        r, alpha, a, bb = self._p()
        return _expected_count(r + x, tt / (alpha + big_t), a, bb + x)

    def _p_alive(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
        r, alpha, a, bb = self._p()
        xm = np.where(x > 0, x, 1.0)
        log_odds = (
            math.log(a)
            - np.log(bb + xm - 1)
            + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        )
        return np.where(x > 0, sc.expit(-log_odds), 1.0)

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        r"""Probability that each customer is still active at $T$ (FHL 2005, eq. 11).

        $$P(\text{alive} \mid x, t_x, T) = \left[1 + \delta_{x>0}\frac{a}{b + x - 1}
          \left(\frac{\alpha + T}{\alpha + t_x}\right)^{r+x}\right]^{-1}$$

        A customer without repeat purchases is alive with probability 1 under BG/NBD
        (dropout happens only after a purchase).

        Parameters
        ----------
        frequency, recency, T : array-like
            The customers' RFM summary, as in `fit`.

        Returns
        -------
        numpy.ndarray
            Probabilities in [0, 1].
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        return self._p_alive(x, t_x, big_t)

    def probability_of_purchases(self, n: Any, t: float) -> FloatArray:
        r"""Probability that a new customer makes exactly $n$ purchases in $(0, t]$ (eq. 8).

        Parameters
        ----------
        n : int or array-like of int
            Numbers of purchases, ≥ 0.
        t : float
            Length of the period, > 0.

        Returns
        -------
        numpy.ndarray
            $P(X(t) = n)$ for each `n`.
        """
        r, alpha, a, bb = self._p()
        k = b.as_array(n, "n")
        b.check_counts(k, "n")
        tt = v.as_scalar(t, "t")
        v.check_in_range(tt, "t", 0.0, math.inf, low_open=True)
        lbeta_ab = sc.betaln(a, bb)
        log_nb = (
            sc.gammaln(r + k)
            - sc.gammaln(r)
            - sc.gammaln(k + 1)
            + r * math.log(alpha / (alpha + tt))
            + k * math.log(tt / (alpha + tt))
        )
        first = np.exp(sc.betaln(a, bb + k) - lbeta_ab + log_nb)
        # second term: delta_{n>0} B(a+1, b+n-1)/B(a,b) [1 - (alpha/(alpha+t))^r sum_j ...]
        out = np.empty_like(k)
        for i, ki in enumerate(k):
            if ki == 0:
                out[i] = first[i]
                continue
            j = np.arange(int(ki))
            partial = np.exp(
                sc.gammaln(r + j)
                - sc.gammaln(r)
                - sc.gammaln(j + 1)
                + r * math.log(alpha / (alpha + tt))
                + j * math.log(tt / (alpha + tt))
            ).sum()
            coef = math.exp(sc.betaln(a + 1, bb + ki - 1) - lbeta_ab)
            out[i] = first[i] + coef * (1 - partial)
        return out

    def simulate(self, n_customers: int, T: Any, *, seed: int) -> pl.DataFrame:
        r"""Draw a synthetic population from the BG/NBD process.

        Each customer gets $\lambda \sim \text{Gamma}(r, \alpha)$ and
        $p \sim \text{Beta}(a, b)$; repeat purchases are the Poisson events in $(0, T]$ up
        to the geometric number of purchases after which they drop out.

        Parameters
        ----------
        n_customers : int
            Number of customers.
        T : float or array-like
            Observation length per customer (one value, or one per customer), > 0.
        seed : int
            Seed of the random generator.

        Returns
        -------
        polars.DataFrame
            `frequency` (Int64), `recency`, `T` (Float64), one row per customer.
        """
        rng, big_t = _simulation_setup(n_customers, T, seed)
        r, alpha, a, bb = self._p()
        lam = rng.gamma(r, 1.0 / alpha, size=n_customers)
        p = rng.beta(a, bb, size=n_customers)
        events = rng.poisson(lam * big_t)
        repeats = np.minimum(events, rng.geometric(p))
        return _frame_from_events(rng, repeats, events, big_t)


def _simulation_setup(
    n_customers: Any, T: Any, seed: Any
) -> tuple[np.random.Generator, FloatArray]:
    for name, value in (("n_customers", n_customers), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if n_customers < 1:
        raise ValueError(f"n_customers must be >= 1; got n_customers={n_customers}")
    big_t = np.broadcast_to(b.as_array(T, "T"), (n_customers,)).astype(np.float64)
    if not (big_t > 0).all():
        raise ValueError("T must be positive")
    return np.random.default_rng(seed), big_t


def _frame_from_events(
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


def _fit_r_alpha_a_b(
    loglik_terms: LoglikTerms,
    names: tuple[str, ...],
    frequency: Any,
    recency: Any,
    T: Any,
    weights: Any,
    penalizer: float = 0.0,
    *,
    modified: bool,
) -> tuple[dict[str, float], float, Mapping[str, float], float, FloatArray]:
    """Weighted MLE of (r, alpha, a, b) for BG/NBD and MBG/NBD from their likelihood terms.

    Returns the estimates, the total log-likelihood, the standard errors, the number of
    customers and the covariance (inverse analytic observed information; `modified` for
    MBG/NBD). The special functions are evaluated once per distinct frequency (`groups`).
    """
    x, t_x, big_t = b.check_rfm(frequency, recency, T)
    w = b.check_weights(weights, x.shape[0])
    lam = b.check_penalizer(penalizer)
    b.check_identified(x, w)

    groups = np.unique(x, return_inverse=True)

    def objective(p: FloatArray) -> tuple[float, FloatArray]:
        ll, grads = loglik_terms(p, x, t_x, big_t, groups)
        return b.wsum(w, ll), np.array([b.wsum(w, g) for g in grads])

    n = float(w.sum())
    mean_x = b.wsum(w, x) / n
    mean_t = b.wsum(w, big_t) / n
    start = np.array([1.0, max(mean_t / max(mean_x, 1e-3), 1e-3), 1.0, 1.0])
    params, ll = b.fit_mle(objective, start, names, n, penalizer=lam)
    hess = u.beta_geometric_hessian(
        np.array(list(params.values())), x, t_x, big_t, w, modified=modified
    )
    cov = u.observed_covariance(params, hessian=hess)
    return params, ll, u.standard_errors_from(cov, names), n, cov
