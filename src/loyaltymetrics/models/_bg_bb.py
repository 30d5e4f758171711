"""The BG/BB model of Fader, Hardie & Shang (2010), for discrete transaction opportunities."""

from __future__ import annotations

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

_NEAR_ONE = 1e-2
"""|gamma - 1| below which `_drop_over_gamma_minus_one` sums its series in gamma - 1."""
_SERIES_ORDER = 10


def _drop_over_gamma_minus_one(ga: float, de: float, start: Any, stop: Any) -> FloatArray:
    r"""$(1 - e^D)/(\gamma - 1)$ for any $\gamma$, continuous through $\gamma = 1$.

    $D = \log\frac{\Gamma(1 + \delta + m)}{\Gamma(\gamma + \delta + m)}
    \Big|_{m = \text{start}}^{\text{stop}}$, so $1 - e^D$ is the relative drop of
    $\Gamma(1 + \delta + m)/\Gamma(\gamma + \delta + m)$ between `start` and `stop`;
    both it and $\gamma - 1$ change sign at $\gamma = 1$. Far from 1 it comes from
    ``gammaln``. Within 1e-2 of 1, where that difference of nearly equal ``gammaln``
    values loses $\log_{10}(1/|\gamma - 1|)$ digits, $D$ comes from its Taylor series in
    $\varepsilon = \gamma - 1$, $D = -\sum_{k \ge 1} \frac{\varepsilon^k}{k!}
    [\psi^{(k-1)}(1 + \delta + \text{stop}) - \psi^{(k-1)}(1 + \delta + \text{start})]$
    (10 terms: error below 1e-20), and the quotient is
    $-\frac{D}{\varepsilon}\,\frac{e^D - 1}{D}$, with no division by $\varepsilon$ (at
    $\gamma = 1$: $\psi(1 + \delta + \text{stop}) - \psi(1 + \delta + \text{start})$).
    The first-order limit used before lost about $|\gamma - 1|$ relative (2e-7 at
    $\gamma = 1 + 2 \cdot 10^{-7}$, found by the grid test).
    """
    lo = 1.0 + de + np.asarray(start, dtype=np.float64)
    hi = 1.0 + de + np.asarray(stop, dtype=np.float64)
    eps = ga - 1.0
    if abs(eps) >= _NEAR_ONE:
        d = (sc.gammaln(hi) - sc.gammaln(hi + eps)) - (sc.gammaln(lo) - sc.gammaln(lo + eps))
        return np.asarray(-np.expm1(d) / eps, dtype=np.float64)
    d_over_eps = np.zeros(np.broadcast_shapes(lo.shape, hi.shape))
    power = 1.0  # eps^(k-1) / k!
    for k in range(1, _SERIES_ORDER + 1):
        power /= k
        d_over_eps -= power * (sc.polygamma(k - 1, hi) - sc.polygamma(k - 1, lo))
        power *= eps
    return np.asarray(-d_over_eps * sc.exprel(d_over_eps * eps), dtype=np.float64)


def check_discrete(
    frequency: Any, recency: Any, n_periods: Any
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Whole numbers with 0 <= x <= t_x <= n, x = 0 iff t_x = 0, n >= 1."""
    x = b.as_array(frequency, "frequency")
    t_x = b.as_array(recency, "recency")
    n = b.as_array(n_periods, "n_periods")
    size = b.check_same_length(frequency=x, recency=t_x, n_periods=n)
    if size == 0:
        raise ValueError("frequency, recency and n_periods are empty")
    for arr, name in ((x, "frequency"), (t_x, "recency"), (n, "n_periods")):
        b.check_counts(arr, name)
    checks = [
        (n < 1, "n_periods must be >= 1"),
        (t_x > n, "recency cannot exceed n_periods"),
        (x > t_x, "frequency cannot exceed recency (one transaction per period at most)"),
        ((x == 0) != (t_x == 0), "recency must be 0 exactly when frequency is 0"),
    ]
    for bad, message in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{message}; got frequency[{i}]={x[i]:g}, recency[{i}]={t_x[i]:g}, "
                f"n_periods[{i}]={n[i]:g}"
            )
    return x, t_x, n


def _term(
    params: FloatArray, x: FloatArray, m: FloatArray, c: float, e: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """log[B(α+x, β+m)/B(α,β) · B(γ+c, δ+e)/B(γ,δ)] and its gradient (4 x n)."""
    al, be, ga, de = params
    dg = sc.digamma
    log = (
        sc.betaln(al + x, be + m)
        - sc.betaln(al, be)
        + sc.betaln(ga + c, de + e)
        - sc.betaln(ga, de)
    )
    grad = np.stack(
        [
            dg(al + x) - dg(al + be + x + m) - dg(al) + dg(al + be),
            dg(be + m) - dg(al + be + x + m) - dg(be) + dg(al + be),
            dg(ga + c) - dg(ga + de + c + e) - dg(ga) + dg(ga + de),
            dg(de + e) - dg(ga + de + c + e) - dg(de) + dg(ga + de),
        ]
    )
    return log, grad


def _loglik(
    params: FloatArray, x: FloatArray, t_x: FloatArray, n: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-customer log-likelihood (FHS 2010, eq. 5) and gradient, log-sum-exp over terms."""
    logs, grads = [], []
    log0, grad0 = _term(params, x, n - x, 0.0, n)
    logs.append(log0)
    grads.append(grad0)
    for i in range(int((n - t_x).max())):
        active = i <= n - t_x - 1
        log_i, grad_i = _term(params, x, t_x - x + i, 1.0, t_x + i)
        logs.append(np.where(active, log_i, -np.inf))
        grads.append(np.where(active, grad_i, 0.0))
    stacked = np.stack(logs)
    total = sc.logsumexp(stacked, axis=0)
    weights = np.exp(stacked - total)
    grad = sum(w * g for w, g in zip(weights, grads, strict=True))
    return total, np.asarray(grad, dtype=np.float64)


@dataclass(frozen=True, slots=True, repr=False)
class BetaGeoBetaBinomModel(pr.BetaGeoBetaBinomPrediction, b.BaseModel):
    r"""The BG/BB model: Bernoulli transactions with beta-geometric dropout, in discrete time.

    At each of $n$ transaction opportunities (e.g. yearly donation drives) an active
    customer transacts with probability $p_i \sim \text{Beta}(\alpha, \beta)$, and before
    each opportunity becomes inactive for good with probability
    $\theta_i \sim \text{Beta}(\gamma, \delta)$. For $x$ transactions, the last at
    opportunity $t_x$:

    $$L = \frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}
          \frac{B(\gamma, \delta + n)}{B(\gamma, \delta)}
        + \sum_{i=0}^{n - t_x - 1} \frac{B(\alpha + x, \beta + t_x - x + i)}{B(\alpha, \beta)}
          \frac{B(\gamma + 1, \delta + t_x + i)}{B(\gamma, \delta)}$$

    Attributes
    ----------
    params : mapping
        `alpha`, `beta` (transaction probability), `gamma`, `delta` (dropout).
    log_likelihood : float
        Total log-likelihood of the fitted data (`nan` for `from_params`).
    standard_errors : mapping
        Asymptotic standard errors from the inverse Hessian.
    n_customers : float
        Number of customers fitted (sum of the weights).

    References
    ----------
    1. Fader, P. S., Hardie, B. G. S., & Shang, J. (2010). Customer-Base Analysis in a
       Discrete-Time Noncontractual Setting. *Marketing Science*, 29(6), 1086–1108.
       https://doi.org/10.1287/mksc.1100.0580

    Examples
    --------
    >>> from loyaltymetrics import datasets, models
    >>> d = datasets.load_donations()
    >>> m = models.BetaGeoBetaBinomModel.fit(
    ...     d["frequency"], d["recency"], d["periods"], weights=d["weights"]
    ... )
    >>> {k: round(val, 3) for k, val in m.params.items()}
    {'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}
    >>> round(m.log_likelihood, 1)
    -33225.6
    """

    covariance: FloatArray = field(default_factory=u.unknown_covariance(4), compare=False)

    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")

    @classmethod
    def fit(
        cls,
        frequency: Any,
        recency: Any,
        n_periods: Any,
        *,
        weights: Any = None,
        penalizer: float = 0.0,
    ) -> BetaGeoBetaBinomModel:
        r"""Fit by maximum likelihood to (frequency, recency, n_periods) patterns.

        Parameters
        ----------
        frequency : array-like
            Transactions $x$ after the first (whole numbers, ≤ `recency`).
        recency : array-like
            Opportunity of the last transaction $t_x$ (0 when $x = 0$), ≤ `n_periods`.
        n_periods : array-like
            Number of transaction opportunities observed $n \ge 1$.
        weights : array-like, optional
            Number of customers with each pattern (as in the donations data).
        penalizer : float, default=0.0
            L2 penalty on the log parameters: maximise
            $\ell/N - \lambda \sum_i (\log \theta_i)^2$ instead of the log-likelihood
            $\ell$ ($N$ customers). 0 is plain maximum likelihood. A small value (1e-4
            to 1e-2; the smallest that converges changes the predictions least) keeps the
            estimate finite where the likelihood has its maximum at a boundary
            (homogeneous customers, see `ConvergenceError`). The penalty pulls
            every parameter towards 1. `log_likelihood` is the unpenalised value at
            the estimate, and `covariance` and `standard_errors` come from the curvature
            of the unpenalised log-likelihood there.

        Returns
        -------
        BetaGeoBetaBinomModel
            The fitted model.

        Raises
        ------
        ValueError
            For invalid inputs.
        ConvergenceError
            If maximum likelihood does not converge: the message names the parameters
            that run to a boundary and what to try.
        """
        lam = b.check_penalizer(penalizer)
        x, t_x, n = check_discrete(frequency, recency, n_periods)
        w = b.check_weights(weights, x.shape[0])
        b.check_identified(x, w)

        def objective(params: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = _loglik(params, x, t_x, n)
            return b.wsum(w, ll), np.sum(grad * w, axis=-1)

        total = float(w.sum())
        params, ll = b.fit_mle(objective, np.ones(4), cls.PARAM_NAMES, total, penalizer=lam)
        cov = u.observed_covariance(params, gradient=lambda p: objective(p)[1])
        se = u.standard_errors_from(cov, cls.PARAM_NAMES)
        return cls(MappingProxyType(params), ll, se, total, cov)

    @overload
    def p_alive(self, frequency: float, recency: float, n_periods: float) -> float: ...
    @overload
    def p_alive(
        self, frequency: RealInput, recency: RealInput, n_periods: RealInput
    ) -> FloatArray: ...
    @b.prediction(probability=True)
    def p_alive(self, frequency: Any, recency: Any, n_periods: Any) -> FloatArray:
        r"""Probability of being active at the next opportunity $n + 1$ (FHS 2010, eq. 11).

        $$P(\text{alive at } n + 1) = \frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}
          \frac{B(\gamma, \delta + n + 1)}{B(\gamma, \delta)} \Big/ L$$

        Parameters
        ----------
        frequency, recency, n_periods : array-like
            The customers' patterns, as in `fit`.

        Returns
        -------
        float or numpy.ndarray
            Probabilities in [0, 1].
            A float when every argument is a scalar.
        """
        x, t_x, n = check_discrete(frequency, recency, n_periods)
        al, be, ga, de = self._values()
        ll, _ = _loglik(np.array(self._values()), x, t_x, n)
        log_num = (
            sc.betaln(al + x, be + n - x)
            - sc.betaln(al, be)
            + sc.betaln(ga, de + n + 1)
            - sc.betaln(ga, de)
        )
        return np.asarray(np.exp(log_num - ll), dtype=np.float64)

    @overload
    def expected_purchases_new(self, t: float) -> float: ...
    @overload
    def expected_purchases_new(self, t: RealInput) -> FloatArray: ...
    @b.prediction()
    def expected_purchases_new(self, t: Any) -> FloatArray:
        r"""Expected transactions of a new customer in the first $t$ opportunities (eq. 7).

        $$E[X(n)] = \frac{\alpha}{\alpha + \beta}\frac{\delta}{\gamma - 1}\left[1 -
          \frac{\Gamma(\gamma + \delta)}{\Gamma(\gamma + \delta + n)}
          \frac{\Gamma(1 + \delta + n)}{\Gamma(1 + \delta)}\right]$$

        Parameters
        ----------
        t : int or array-like
            Number of opportunities, ≥ 0.

        Returns
        -------
        float or numpy.ndarray
            Expected transactions.
            A float when every argument is a scalar.
        """
        al, be, ga, de = self._values()
        n = b.as_array(t, "t")
        b.check_counts(n, "t")
        return al / (al + be) * de * _drop_over_gamma_minus_one(ga, de, 0.0, n)

    @overload
    def expected_purchases(
        self, t: float, frequency: float, recency: float, n_periods: float
    ) -> float: ...
    @overload
    def expected_purchases(
        self, t: RealInput, frequency: RealInput, recency: RealInput, n_periods: RealInput
    ) -> FloatArray: ...
    @b.prediction()
    def expected_purchases(
        self, t: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> FloatArray:
        r"""Expected transactions in the next $t$ opportunities, given history (eq. 13).

        $$E[X(n, n + t) \mid x, t_x, n] = \frac{1}{L}
          \frac{B(\alpha + x + 1, \beta + n - x)}{B(\alpha, \beta)}
          \frac{\delta}{\gamma - 1}\frac{\Gamma(\gamma + \delta)}{\Gamma(1 + \delta)}
          \left[\frac{\Gamma(1 + \delta + n)}{\Gamma(\gamma + \delta + n)}
          - \frac{\Gamma(1 + \delta + n + t)}{\Gamma(\gamma + \delta + n + t)}\right]$$

        Parameters
        ----------
        t : int
            Number of future opportunities, ≥ 0.
        frequency, recency, n_periods : array-like
            The customers' patterns, as in `fit`.

        Returns
        -------
        float or numpy.ndarray
            Expected transactions per customer.
            A float when every argument is a scalar.
        """
        x, t_x, n = check_discrete(frequency, recency, n_periods)
        steps = b.as_array(t, "t")
        b.check_counts(steps, "t")
        al, be, ga, de = self._values()
        ll, _ = _loglik(np.array(self._values()), x, t_x, n)
        log_a = sc.betaln(al + x + 1, be + n - x) - sc.betaln(al, be) - ll
        log_c = sc.gammaln(ga + de) - sc.gammaln(1 + de)
        log_now = sc.gammaln(1 + de + n) - sc.gammaln(ga + de + n)
        # now (1 - later/now) / (gamma - 1). `now` stays in the exponent with the other
        # logs: for gamma = 1000 alone it is e^-5900 (0 in floating point) while exp(log_c)
        # overflows, and 0 * inf = nan
        ratio = _drop_over_gamma_minus_one(ga, de, n, n + steps)
        return np.asarray(np.exp(log_a + log_c + log_now) * de * ratio, dtype=np.float64)

    def simulate(self, n_customers: int, T: Any, *, seed: int) -> pl.DataFrame:
        """Draw a synthetic population: `T` is the number of opportunities (whole, ≥ 1).

        Parameters
        ----------
        n_customers : int
            Number of customers.
        T : int or array-like
            Opportunities per customer.
        seed : int
            Seed of the random generator.

        Returns
        -------
        polars.DataFrame
            `frequency`, `recency`, `T` (Int64), one row per customer.
        """
        b.check_simulation_args(n_customers, seed)
        n = np.broadcast_to(b.as_array(T, "T"), (n_customers,))
        b.check_counts(n, "T")
        if (n < 1).any():
            raise ValueError(f"T must be at least 1 opportunity; got T={v.fmt(float(n.min()))}")
        rng = np.random.default_rng(seed)
        al, be, ga, de = self._values()
        p = rng.beta(al, be, size=n_customers)
        theta = rng.beta(ga, de, size=n_customers)
        alive_for = rng.geometric(theta) - 1  # opportunities survived
        x = np.zeros(n_customers, dtype=np.int64)
        t_x = np.zeros(n_customers, dtype=np.int64)
        for period in range(1, int(n.max()) + 1):
            buys = (period <= alive_for) & (period <= n) & (rng.random(n_customers) < p)
            x += buys
            t_x = np.where(buys, period, t_x)
        return pl.DataFrame({"frequency": x, "recency": t_x, "T": n.astype(np.int64)})
