"""The BG/NBD model of Fader, Hardie & Lee (2005)."""

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


def _loglik_terms(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    groups: tuple[FloatArray, np.ndarray[Any, np.dtype[np.intp]]] | None = None,
) -> tuple[FloatArray, list[FloatArray]]:
    """Per-customer log-likelihood (FHL 2005, eq. 6) and its gradient terms.

    The fit uses the grouped totals of `_beta_geometric.loglik_totals`; these per-customer
    terms are their reference in the tests. The special functions depend on the customer
    only through $x$, which takes few distinct values: they are evaluated once per
    distinct $x$ (`groups` = the distinct values and the inverse index) and gathered.
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


@dataclass(frozen=True, slots=True, repr=False)
class BetaGeoModel(pr.BetaGeoPrediction, b.BaseModel):
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

    covariance: FloatArray = field(default_factory=u.unknown_covariance(4), compare=False)

    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")

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
            parameters. `log_likelihood` is the unpenalised value at
            the estimate, and `covariance` and `standard_errors` come from the curvature
            of the unpenalised log-likelihood there.

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
        params, ll, se, n, cov = fit_r_alpha_a_b(
            cls.PARAM_NAMES,
            frequency,
            recency,
            T,
            weights,
            penalizer,
            modified=False,
        )
        return cls(MappingProxyType(params), ll, se, n, cov)

    @overload
    def expected_purchases_new(self, t: float) -> float: ...
    @overload
    def expected_purchases_new(self, t: RealInput) -> FloatArray: ...
    @b.prediction()
    def expected_purchases_new(self, t: Any) -> FloatArray:
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
            A float when every argument is a scalar.
        """
        r, alpha, a, bb = self._values()
        tt = np.asarray(v.as_real(t, "t"), dtype=np.float64)
        v.check_nonnegative(tt, "t")
        return expected_count(r, tt / alpha, a, bb)

    @overload
    def expected_purchases(self, t: float, frequency: float, recency: float, T: float) -> float: ...
    @overload
    def expected_purchases(
        self, t: RealInput, frequency: RealInput, recency: RealInput, T: RealInput
    ) -> FloatArray: ...
    @b.prediction()
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
        float or numpy.ndarray
            Expected purchases per customer.
            A float when every argument is a scalar.
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        tt = np.asarray(v.as_real(t, "t"), dtype=np.float64)
        v.check_nonnegative(tt, "t")
        return np.asarray(
            self._if_alive(tt, x, big_t) * self._p_alive(x, t_x, big_t), dtype=np.float64
        )

    def _if_alive(self, tt: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """Expected purchases in the next `tt` for a customer alive at T (validated input)."""
        r, alpha, a, bb = self._values()
        return expected_count(r + x, tt / (alpha + big_t), a, bb + x)

    def _p_alive(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
        r, alpha, a, bb = self._values()
        xm = np.where(x > 0, x, 1.0)
        log_odds = (
            math.log(a)
            - np.log(bb + xm - 1)
            + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        )
        return np.where(x > 0, sc.expit(-log_odds), 1.0)

    @overload
    def p_alive(self, frequency: float, recency: float, T: float) -> float: ...
    @overload
    def p_alive(self, frequency: RealInput, recency: RealInput, T: RealInput) -> FloatArray: ...
    @b.prediction(probability=True)
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
        float or numpy.ndarray
            Probabilities in [0, 1].
            A float when every argument is a scalar.
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        return self._p_alive(x, t_x, big_t)

    @overload
    def probability_of_purchases(self, n: float, t: float) -> float: ...
    @overload
    def probability_of_purchases(self, n: RealInput, t: RealInput) -> FloatArray: ...
    @b.prediction(probability=True)
    def probability_of_purchases(self, n: Any, t: Any) -> FloatArray:
        r"""Probability that a new customer makes exactly $n$ purchases in $(0, t]$ (eq. 8).

        Parameters
        ----------
        n : int or array-like of int
            Numbers of purchases, ≥ 0.
        t : float
            Length of the period, > 0.

        Returns
        -------
        float or numpy.ndarray
            $P(X(t) = n)$ for each `n`.
            A float when every argument is a scalar.
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
            + r * math.log(alpha / (alpha + tt))
            + k * math.log(tt / (alpha + tt))
        )
        first = np.exp(sc.betaln(a, bb + k) - lbeta_ab + log_nb)
        # second term: delta_{n>0} B(a+1, b+n-1)/B(a,b) P(NB >= n); the negative-binomial
        # tail is the regularised incomplete beta I_{t/(alpha+t)}(n, r), not 1 - sum_{j<n}
        # (which cancels to rounding noise, even below 0, once the tail is below 1e-16)
        km = np.where(k > 0, k, 1.0)
        tail = sc.betainc(km, r, tt / (alpha + tt))
        second = np.exp(sc.betaln(a + 1, bb + km - 1) - lbeta_ab) * tail
        return np.asarray(first + np.where(k > 0, second, 0.0), dtype=np.float64)

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
        rng, big_t = b.simulation_setup(n_customers, T, seed)
        r, alpha, a, bb = self._values()
        lam = rng.gamma(r, 1.0 / alpha, size=n_customers)
        p = rng.beta(a, bb, size=n_customers)
        events = rng.poisson(lam * big_t)
        repeats = np.minimum(events, rng.geometric(p))
        return frame_from_events(rng, repeats, events, big_t)
