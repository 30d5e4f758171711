"""The MBG/NBD model of Batislam, Denizel & Filiztekin (2007)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, overload

import numpy as np
import polars as pl
from scipy import special as sc

from loyaltymetrics import _validation as v
from loyaltymetrics._typing import FloatArray, RealInput

from . import _base as b
from . import _prediction as pr
from . import _uncertainty as u
from ._beta_geometric import expected_count, fit_r_alpha_a_b, frame_from_events

_MIN_DROPOUT = 1e-12
"""Floor on a simulated dropout probability (numpy's geometric sampler needs p > 0)."""


def _loglik_terms(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    groups: tuple[FloatArray, np.ndarray[Any, np.dtype[np.intp]]] | None = None,
) -> tuple[FloatArray, list[FloatArray]]:
    r"""Per-customer log-likelihood and its gradient with respect to `(r, alpha, a, b)`.

    $\log L = \log\Gamma(r + x) - \log\Gamma(r) + r\log\alpha - \log B(a, b)
    + \log\left[B(a, b + x + 1)(\alpha + T)^{-(r+x)} + B(a + 1, b + x)(\alpha + t_x)^{-(r+x)}
    \right]$.

    Both bracketed terms exist for every customer (the second is "dropped out right after
    the last purchase", which for $x = 0$ is the first purchase). With $\pi$ the share of
    the first term, the gradient is a $\pi$-weighted mix of the two terms' derivatives.
    Special functions depend on the customer only through $x$ and are evaluated once per
    distinct $x$ (`groups` = the distinct values and the inverse index).
    """
    r, alpha, a, bb = params
    ux, inv = np.unique(x, return_inverse=True) if groups is None else groups
    dg = sc.digamma
    lbeta_ab = sc.betaln(a, bb)
    u_head = sc.gammaln(r + ux) - sc.gammaln(r) + r * math.log(alpha) - lbeta_ab
    u_alive = sc.betaln(a, bb + ux + 1)
    u_quit = sc.betaln(a + 1, bb + ux)
    u_dr = dg(r + ux) - dg(r) + math.log(alpha)
    u_dabx = dg(a + bb + ux + 1)
    u_db_alive = dg(bb + ux + 1)
    u_db_quit = dg(bb + ux)

    rx = r + x
    log_t = np.log(alpha + big_t)
    log_tx = np.log(alpha + t_x)
    alive = u_alive[inv] - rx * log_t
    quit_ = u_quit[inv] - rx * log_tx
    mix = np.logaddexp(alive, quit_)
    ll = u_head[inv] + mix
    pi = np.exp(alive - mix)  # posterior probability of "still alive at T"
    qi = 1.0 - pi
    d_r = u_dr[inv] - pi * log_t - qi * log_tx
    d_alpha = r / alpha - rx * (pi / (alpha + big_t) + qi / (alpha + t_x))
    dg_ab = dg(a + bb)
    d_a = pi * dg(a) + qi * dg(a + 1) - u_dabx[inv] - dg(a) + dg_ab
    d_b = pi * u_db_alive[inv] + qi * u_db_quit[inv] - u_dabx[inv] - dg(bb) + dg_ab
    return ll, [d_r, d_alpha, d_a, d_b]


@dataclass(frozen=True, slots=True, repr=False)
class ModifiedBetaGeoModel(pr.ModifiedBetaGeoPrediction, b.BaseModel):
    r"""The MBG/NBD model: BG/NBD with a dropout opportunity at the first purchase too.

    While active, customer $i$ buys at the events of a Poisson process with rate
    $\lambda_i \sim \text{Gamma}(r, \alpha)$. Immediately after *every* purchase,
    including the first one at time 0, they become inactive for good with probability
    $p_i \sim \text{Beta}(a, b)$. That is the one change from BG/NBD, where the first
    purchase carries no dropout: under MBG/NBD a customer without repeat purchases may
    already be gone, so $P(\text{alive} \mid x = 0) < 1$.

    Given $(\lambda, p)$, a customer with $x$ repeat purchases, the last at $t_x$, observed
    for $T$ either survived all $x + 1$ opportunities, with probability
    $(1 - p)^{x+1}\lambda^x e^{-\lambda T}$, or dropped out right after the last purchase,
    $p(1 - p)^x \lambda^x e^{-\lambda t_x}$ (for $x = 0$: $p$, dropout at time 0).
    Integrating over the gamma and beta mixing distributions gives the likelihood

    $$L = \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)}\left[
      \frac{B(a, b + x + 1)}{B(a, b)}\frac{1}{(\alpha + T)^{r+x}}
      + \frac{B(a + 1, b + x)}{B(a, b)}\frac{1}{(\alpha + t_x)^{r+x}}\right]$$

    Build a model with `ModifiedBetaGeoModel.fit(...)` (maximum likelihood) or
    `ModifiedBetaGeoModel.from_params(r=..., alpha=..., a=..., b=...)`. Instances are
    immutable. Time is in the unit of the RFM inputs (`recency`, `T`), and predictions
    take `t` in the same unit.

    Attributes
    ----------
    params : mapping
        `r`, `alpha` (purchase-rate heterogeneity; mean rate $r/\alpha$ per time unit
        while active), `a`, `b` (dropout heterogeneity; mean dropout probability per
        purchase $a/(a + b)$, which is also the share of customers lost at time 0).
    log_likelihood : float
        Total log-likelihood of the fitted data (`nan` for `from_params`).
    standard_errors : mapping
        Asymptotic standard errors of the parameters, from the inverse Hessian of the
        log-likelihood (empty for `from_params`).
    n_customers : float
        Number of customers fitted (sum of the weights).

    Notes
    -----
    For $x > 0$ the likelihood is $b/(a + b)$ times the BG/NBD likelihood with $b + 1$
    in place of $b$, because $B(a, b + 1)/B(a, b) = b/(a + b)$; so for customers with
    repeat purchases P(alive) and the conditional expectation equal BG/NBD's with
    parameters $(r, \alpha, a, b + 1)$. The models differ through the $x = 0$ customers,
    whose likelihood $\frac{b}{a + b}\left(\frac{\alpha}{\alpha + T}\right)^r + \frac{a}{a + b}$
    carries the time-0 dropout.

    A customer first seen at the end of observation ($T = 0$, so $x = 0$) contributes a
    likelihood of exactly 1.

    References
    ----------
    1. Batislam, E. P., Denizel, M., & Filiztekin, A. (2007). Empirical validation and
       comparison of models for customer base analysis. *International Journal of
       Research in Marketing*, 24(3), 201–209.
       https://doi.org/10.1016/j.ijresmar.2006.12.005
    2. Wagner, U., & Hoppe, D. (2008). Erratum on the MBG/NBD model. *International
       Journal of Research in Marketing*, 25(3), 225–226.
    3. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting Your Customers" the
       Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science*, 24(2),
       275–284 (the BG/NBD model this one modifies).

    Examples
    --------
    >>> from loyaltymetrics import datasets, models
    >>> cdnow = datasets.load_cdnow_summary()
    >>> m = models.ModifiedBetaGeoModel.fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    >>> {k: round(val, 3) for k, val in m.params.items()}
    {'r': 0.525, 'alpha': 6.183, 'a': 0.891, 'b': 1.614}
    >>> round(m.log_likelihood, 1)
    -9582.1
    >>> m.p_alive([0, 2], [0.0, 30.43], [38.86, 38.86]).round(3).tolist()
    [0.39, 0.706]
    """

    covariance: FloatArray = field(default_factory=u.unknown_covariance(4), compare=False)

    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")

    @classmethod
    def fit(
        cls, frequency: Any, recency: Any, T: Any, *, weights: Any = None, penalizer: float = 0.0
    ) -> ModifiedBetaGeoModel:
        r"""Fit by maximum likelihood to an RFM summary.

        The log-likelihood is evaluated in log space with its analytic gradient and
        maximised on the log-parameter scale by L-BFGS-B from a fixed start
        (deterministic).

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
            Number of customers with each row's pattern (frequency weights, ≥ 0).
        penalizer : float, default=0.0
            L2 penalty on the log parameters: maximise
            $\ell/N - \lambda \sum_i (\log \theta_i)^2$ instead of the log-likelihood
            $\ell$ ($N$ customers). 0 is plain maximum likelihood. A small value (1e-4
            to 1e-2; the smallest that converges changes the predictions least) keeps the
            estimate finite where the likelihood has its maximum at a boundary
            (homogeneous customers, see `ConvergenceError`). The penalty pulls
            every parameter towards 1, so it depends on the time unit through the scale
            parameters. `log_likelihood` is the unpenalised value at
            the estimate, and `covariance` and `standard_errors` come from the curvature
            of the unpenalised log-likelihood there.

        Returns
        -------
        ModifiedBetaGeoModel
            The fitted model, with `log_likelihood` and `standard_errors`.

        Raises
        ------
        ValueError
            For invalid inputs (the message names the argument and the first bad
            index), or when no customer has a repeat purchase (not identified).
        ConvergenceError
            If maximum likelihood does not converge: the message names the parameters
            that run to a boundary and what to try.
        """
        params, ll, se, n, cov = fit_r_alpha_a_b(
            cls.PARAM_NAMES,
            frequency,
            recency,
            T,
            weights,
            penalizer,
            modified=True,
        )
        return cls(MappingProxyType(params), ll, se, n, cov)

    @overload
    def expected_purchases_new(self, t: float) -> float: ...
    @overload
    def expected_purchases_new(self, t: RealInput) -> FloatArray: ...
    @b.prediction()
    def expected_purchases_new(self, t: Any) -> FloatArray:
        r"""Expected purchases of a new customer in $(0, t]$ after the first purchase.

        Given $(\lambda, p)$ the customer survives the time-0 dropout with probability
        $1 - p$ and then buys $(1 - e^{-\lambda p t})/p$ times on average (dropout after
        each purchase makes the active time exponential with rate $\lambda p$), so
        $E[X(t) \mid \lambda, p] = \frac{1 - p}{p}(1 - e^{-\lambda p t})$. Averaging over
        the gamma and beta distributions (Batislam et al. 2007):

        $$E[X(t)] = \frac{b}{a - 1}\left[1 - \left(\frac{\alpha}{\alpha + t}\right)^r
          {}_2F_1\!\left(r, b + 1; a + b; \frac{t}{\alpha + t}\right)\right]$$

        This is $\frac{b}{a + b}$ times the BG/NBD expectation with $b + 1$ in place of
        $b$, and is evaluated by the same routine (`BetaGeoModel.expected_purchases_new`):
        finite for long horizons, the finite limit at $a = 1$, and exact where $a - r$ is a
        whole number, where scipy's ${}_2F_1$ is degenerate. For $a \le 1$ the expectation
        grows without bound as $t \to \infty$ ($E[1/p]$ is infinite).

        Parameters
        ----------
        t : float or array-like
            Length of the period, ≥ 0, in the model's time unit.

        Returns
        -------
        float or numpy.ndarray
            Expected number of repeat purchases (0 at $t = 0$).
            A float when every argument is a scalar.

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> m = models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)
        >>> round(m.expected_purchases_new(39.0), 3)
        1.183
        """
        tt = np.asarray(v.as_real(t, "t"), dtype=np.float64)
        v.check_nonnegative(tt, "t")
        zero = np.zeros(1)
        out = self._p_alive(zero, zero, zero) * self._if_alive(tt, zero, zero)
        return out.reshape(tt.shape)

    @overload
    def expected_purchases(self, t: float, frequency: float, recency: float, T: float) -> float: ...
    @overload
    def expected_purchases(
        self, t: RealInput, frequency: RealInput, recency: RealInput, T: RealInput
    ) -> FloatArray: ...
    @b.prediction()
    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        r"""Expected purchases in the next $t$, given a customer's history.

        An active customer's posterior is $\lambda \sim \text{Gamma}(r + x, \alpha + T)$
        and $p \sim \text{Beta}(a, b + x + 1)$ (they survived $x + 1$ dropout
        opportunities); the next dropout opportunity follows the next purchase. So

        $$E[Y(t) \mid x, t_x, T] = P(\text{alive} \mid x, t_x, T)\,
          \frac{a + b + x}{a - 1}\left[1 - \left(\frac{\alpha + T}{\alpha + T + t}
          \right)^{r+x}{}_2F_1\!\left(r + x, b + x + 1; a + b + x;
          \frac{t}{\alpha + T + t}\right)\right]$$

        with P(alive) from `p_alive`. The bracket is the BG/NBD conditional expectation
        with $b + 1$ in place of $b$ and is evaluated by the same routine (finite for heavy
        buyers, at $a = 1$ and for whole $a - r$).

        Parameters
        ----------
        t : float or array-like
            Length of the future period, ≥ 0 (broadcast against the customers).
        frequency, recency, T : array-like
            The customers' RFM summary, as in `fit`.

        Returns
        -------
        float or numpy.ndarray
            Expected purchases per customer (0 at $t = 0$).
            A float when every argument is a scalar.

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> m = models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)
        >>> m.expected_purchases(39.0, [0, 2], [0.0, 30.43], [38.86, 38.86]).round(3).tolist()
        [0.154, 1.263]
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        tt = np.asarray(v.as_real(t, "t"), dtype=np.float64)
        v.check_nonnegative(tt, "t")
        return np.asarray(
            self._if_alive(tt, x, big_t) * self._p_alive(x, t_x, big_t), dtype=np.float64
        )

    def _if_alive(self, tt: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """Expected purchases in the next `tt` for a customer alive at T (validated input)."""
        # the BG/NBD expectation with b + 1 for b: alive at T, p ~ Beta(a, b + x + 1)
        r, alpha, a, bb = self._values()
        return expected_count(r + x, tt / (alpha + big_t), a, bb + 1.0 + x)

    def _p_alive(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
        r, alpha, a, bb = self._values()
        log_odds = (
            math.log(a) - np.log(bb + x) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        )
        return np.asarray(sc.expit(-log_odds), dtype=np.float64)

    @overload
    def p_alive(self, frequency: float, recency: float, T: float) -> float: ...
    @overload
    def p_alive(self, frequency: RealInput, recency: RealInput, T: RealInput) -> FloatArray: ...
    @b.prediction(probability=True)
    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        r"""Probability that each customer is still active at $T$.

        By Bayes' rule on the two terms of the likelihood (alive at $T$ vs dropped out
        right after the last purchase):

        $$P(\text{alive} \mid x, t_x, T) = \left[1 + \frac{a}{b + x}
          \left(\frac{\alpha + T}{\alpha + t_x}\right)^{r+x}\right]^{-1}$$

        Unlike BG/NBD, a customer without repeat purchases may have dropped out at the
        first purchase: for $x = 0$ this is
        $[1 + \frac{a}{b}(1 + T/\alpha)^r]^{-1} < 1$, equal to $b/(a + b)$ at $T = 0$.

        Parameters
        ----------
        frequency, recency, T : array-like
            The customers' RFM summary, as in `fit`.

        Returns
        -------
        float or numpy.ndarray
            Probabilities in [0, 1].
            A float when every argument is a scalar.

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> m = models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)
        >>> m.p_alive([0, 0, 5], [0.0, 0.0, 38.0], [0.0, 39.0, 39.0]).round(3).tolist()
        [0.644, 0.389, 0.868]
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        return self._p_alive(x, t_x, big_t)

    @overload
    def probability_of_purchases(self, n: float, t: float) -> float: ...
    @overload
    def probability_of_purchases(self, n: RealInput, t: RealInput) -> FloatArray: ...
    @b.prediction(probability=True)
    def probability_of_purchases(self, n: Any, t: Any) -> FloatArray:
        r"""Probability that a new customer makes exactly $n$ repeat purchases in $(0, t]$.

        Derivation. Given $(\lambda, p)$ the customer either drops out at time 0
        (probability $p$, then $X(t) = 0$) or survives it and from then on follows the
        BG/NBD process, whose individual-level probabilities are
        $(1 - p)^n \frac{(\lambda t)^n e^{-\lambda t}}{n!}$ (alive throughout) plus, for
        $n > 0$, $p(1 - p)^{n-1}\left[1 - \sum_{j<n} \frac{(\lambda t)^j e^{-\lambda t}}
        {j!}\right]$ (dropped out after the $n$-th purchase, which came before $t$). So

        $$P(X(t) = n \mid \lambda, p) = \delta_{n=0}\,p + (1 - p)^{n+1}
          \frac{(\lambda t)^n e^{-\lambda t}}{n!} + \delta_{n>0}\,p(1 - p)^n
          P(N_\lambda(t) \ge n)$$

        Integrating $p \sim \text{Beta}(a, b)$ and $\lambda \sim \text{Gamma}(r, \alpha)$
        (the Poisson count becomes negative binomial):

        $$P(X(t) = n) = \delta_{n=0}\frac{a}{a + b}
          + \frac{B(a, b + n + 1)}{B(a, b)}\,\mathrm{NB}(n)
          + \delta_{n>0}\frac{B(a + 1, b + n)}{B(a, b)}\,I_{t/(\alpha + t)}(n, r)$$

        with $\mathrm{NB}(n) = \frac{\Gamma(r + n)}{\Gamma(r)\,n!}
        \left(\frac{\alpha}{\alpha + t}\right)^r\left(\frac{t}{\alpha + t}\right)^n$ and
        $I$ the regularized incomplete beta function, which is the negative-binomial
        tail $\sum_{j \ge n}\mathrm{NB}(j)$ computed without cancellation. The
        probabilities sum to 1 over $n$ and their mean is `expected_purchases_new(t)`.

        Parameters
        ----------
        n : int or array-like of int
            Numbers of repeat purchases, ≥ 0.
        t : float
            Length of the period, > 0.

        Returns
        -------
        float or numpy.ndarray
            $P(X(t) = n)$ for each `n`.
            A float when every argument is a scalar.

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> m = models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)
        >>> pmf = m.probability_of_purchases(range(200), 39.0)
        >>> round(float(pmf.sum()), 9), round(float(pmf[0]), 3)
        (1.0, 0.582)
        """
        r, alpha, a, bb = self._values()
        k = b.as_array(n, "n")
        b.check_counts(k, "n")
        tt = v.as_scalar(t, "t")
        v.check_in_range(tt, "t", 0.0, math.inf, low_open=True)
        lbeta_ab = sc.betaln(a, bb)
        log_nb = (
            sc.gammaln(r + k)
            - sc.gammaln(r)
            - sc.gammaln(k + 1)
            + r * (math.log(alpha) - math.log(alpha + tt))
            + k * (math.log(tt) - math.log(alpha + tt))
        )
        alive = np.exp(sc.betaln(a, bb + k + 1) - lbeta_ab + log_nb)
        km = np.where(k > 0, k, 1.0)
        tail = sc.betainc(km, r, tt / (alpha + tt))
        quit_ = np.where(k > 0, np.exp(sc.betaln(a + 1, bb + k) - lbeta_ab) * tail, 0.0)
        at_zero = np.where(k == 0, a / (a + bb), 0.0)
        return np.asarray(at_zero + alive + quit_, dtype=np.float64)

    def simulate(self, n_customers: int, T: Any, *, seed: int) -> pl.DataFrame:
        r"""Draw a synthetic population from the MBG/NBD process.

        Each customer gets $\lambda \sim \text{Gamma}(r, \alpha)$ and
        $p \sim \text{Beta}(a, b)$. The number of repeat purchases made before dropping
        out is geometric on $\{0, 1, \dots\}$, $P(K = k) = p(1 - p)^k$ ($K = 0$: dropout at
        the first purchase); the observed repeat purchases are the Poisson events in
        $(0, T]$ up to the $K$-th. Dropout probabilities below 1e-12 are raised to 1e-12
        (numpy's geometric sampler needs $p > 0$; such a customer makes about $10^{12}$
        purchases before dropping out).

        Parameters
        ----------
        n_customers : int
            Number of customers, ≥ 1.
        T : float or array-like
            Observation length per customer (one value, or one per customer), > 0.
        seed : int
            Seed of the random generator.

        Returns
        -------
        polars.DataFrame
            `frequency` (Int64), `recency`, `T` (Float64), one row per customer.

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> m = models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)
        >>> m.simulate(1000, 39.0, seed=1).columns
        ['frequency', 'recency', 'T']
        """
        rng, big_t = b.simulation_setup(n_customers, T, seed)
        r, alpha, a, bb = self._values()
        lam = rng.gamma(r, 1.0 / alpha, size=n_customers)
        p = np.maximum(rng.beta(a, bb, size=n_customers), _MIN_DROPOUT)
        events = rng.poisson(lam * big_t)
        repeats = np.minimum(events, rng.geometric(p) - 1)
        return frame_from_events(rng, repeats, events, big_t)
