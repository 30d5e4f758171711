r"""Contractual retention: the shifted-beta-geometric (sBG) and beta-discrete-Weibull (BdW) models.

A customer pays for period 1 when acquired and then renews (or not) at the start of each
later period; a cancellation is observed. With $T$ the number of periods paid by a
customer who cancels, $P(T = t)$ is the probability of churning after exactly $t$ paid
periods and $S(t) = P(T > t)$ the probability of still being a customer in period
$t + 1$ (of having renewed $t$ times).

Data come as (`lifetime`, `churned`) pairs: `lifetime` periods paid, `churned` False
when the next renewal is not observed yet (right-censored, contributing
$S(\text{lifetime} - 1) = P(T \ge \text{lifetime})$). Both models compress the data to
the distinct (lifetime, churned) patterns with counts before fitting, so a fit costs
the same for 1,000 or 10,000,000 customers once the counts are taken (a bincount).

Parameter uncertainty (`_uncertainty.ParameterUncertainty`): `fit` and `fit_survivors`
store `covariance`, the inverse observed information at the estimate, and derive
`standard_errors` from it, so the two and `confidence_intervals` agree. The sBG's Hessian
is analytic (trigamma functions, `sbg_hessian`); the BdW's is a Richardson-extrapolated
central difference of its analytic gradient (`_uncertainty.hessian_from_gradient`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, overload

import numpy as np
import polars as pl
from scipy import integrate
from scipy import special as sc

from loyaltymetrics import _validation as v
from loyaltymetrics._lifetimes import BoolArray, check_lifetimes, compress
from loyaltymetrics._typing import FloatArray, RealInput

from . import _base as b
from . import _uncertainty as u

# -- input checks and compression ---------------------------------------------------------


def _is_sequence(x: Any) -> bool:
    return isinstance(x, Sequence | np.ndarray | pl.Series) and not isinstance(x, str | bytes)


def survivors_to_patterns(survivors: Any) -> tuple[FloatArray, BoolArray, FloatArray]:
    r"""Survivor counts of one or several cohorts as (lifetime, churned, count) patterns.

    A cohort $n_0 \ge n_1 \ge \dots \ge n_k$ (customers active at the start of periods
    $0..k$) has $n_{t-1} - n_t$ customers with ``lifetime=t, churned=True`` for
    $t = 1..k$ and $n_k$ with ``lifetime=k+1, churned=False``.
    """
    if not _is_sequence(survivors):
        raise TypeError(
            "survivors must be a sequence of counts (one cohort) or a sequence of such "
            f"sequences (several cohorts); got {type(survivors).__name__} {survivors!r}"[:300]
        )
    items = list(survivors)
    if not items:
        raise ValueError("survivors is empty")
    several = all(_is_sequence(x) for x in items)
    if not several and any(_is_sequence(x) for x in items):
        raise TypeError(
            "survivors must be either one cohort's counts or a sequence of cohorts' counts, "
            "not a mixture of numbers and sequences"
        )
    cohorts = items if several else [survivors]
    lives, flags, counts = [], [], []
    for j, cohort in enumerate(cohorts):
        label = f"survivors[{j}]" if several else "survivors"
        n = b.as_array(cohort, label)
        if n.shape[0] == 0:
            raise ValueError(f"{label} is empty")
        b.check_counts(n, label)
        rise = np.flatnonzero(n[1:] > n[:-1])
        if rise.size:
            i = int(rise[0]) + 1
            raise ValueError(
                f"survivors cannot increase (a cohort only loses customers); got "
                f"{label}[{i}]={v.fmt(n[i])} > {label}[{i - 1}]={v.fmt(n[i - 1])}"
            )
        k = n.shape[0] - 1
        lives += [np.arange(1.0, k + 2.0)]
        flags += [np.arange(k + 1) < k]
        counts += [np.append(n[:-1] - n[1:], n[-1])]
    life = np.concatenate(lives)
    flag = np.concatenate(flags)
    w = np.concatenate(counts)
    if not w.sum() > 0:
        raise ValueError("survivors hold no customers (every count is 0)")
    return compress(life, flag, w)


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}; got {name}={value}")
    return int(value)


def _whole(x: Any, name: str, low: int) -> FloatArray:
    arr = b.as_array(x, name)
    bad = (arr < low) | (np.floor(arr) != arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be whole numbers >= {low}; got {name}[{i}]={v.fmt(arr[i])}")
    return arr


def _discount(discount_rate: Any) -> float:
    d = v.as_scalar(discount_rate, "discount_rate")
    if d < 0:
        raise ValueError(f"discount_rate must be >= 0; got discount_rate={v.fmt(d)}")
    return d


# -- shared prediction interface ----------------------------------------------------------


class _Model(Protocol):
    params: Mapping[str, float]

    def _log_survival(self, t: FloatArray) -> FloatArray: ...

    def _tail_exponent(self) -> float: ...


_DIRECT_TERMS = 1024
"""Terms of a discounted sum added one by one before the tail is integrated."""
_LOG_SPAN = 60.0
"""The tail integral runs over x from K to K·e^60, then a closed-form power tail."""


def _discounted_sum(model: _Model, first: FloatArray, d: float) -> FloatArray:
    r"""$\sum_{k \ge 0} S(f + k)/S(f - 1)\, z^k$ with $z = 1/(1 + d)$, for each $f$ in `first`.

    The first 1,024 terms are summed directly; the rest by the Euler–Maclaurin formula
    $\sum_{k \ge K} g(k) = \int_K^\infty g + g(K)/2 - g'(K)/12 + \dots$ with the integral
    by adaptive quadrature (`S` is smooth in $t$; at $K = 1024$ the neglected
    $g'''(K)/720$ is below 1e-12 of the sum). $f = 0$ gives the DEL
    ($S(-1) := 1$). The caller handles the divergent case ($d = 0$, $S(t)$ decaying as
    $t^{-p}$ with $p \le 1$).
    """
    log_z = -math.log1p(d)
    k = np.arange(_DIRECT_TERMS, dtype=np.float64)
    out = np.empty(first.shape[0])
    for i, f in enumerate(first):
        ref = 0.0 if f == 0 else float(model._log_survival(np.array([f - 1.0]))[0])
        log_terms = model._log_survival(f + k) - ref + k * log_z
        total = float(np.sum(np.exp(log_terms)))
        last = math.exp(float(log_terms[-1]))
        if last <= 1e-18 * total:
            out[i] = total
            continue
        start = f + _DIRECT_TERMS

        def g(x: float, f: float = f, ref: float = ref) -> float:
            lt = model._log_survival(np.array([x]))[0] - ref + (x - f) * log_z
            return math.exp(float(lt))

        h = 1e-3 * start
        slope = (g(start + h) - g(start - h)) / (2 * h)
        # integrate over u = log(x / start), where the integrand decays geometrically
        # (d > 0) or as a power (d = 0), up to x = start·e^60; beyond it only the d = 0
        # power tail S(x) ~ K x^-p is left, integrated in closed form: g(X)·X/(p - 1)
        tail, _ = integrate.quad(
            lambda u, x0=start: g(x0 * math.exp(u)) * x0 * math.exp(u),
            0.0,
            _LOG_SPAN,
            limit=200,
            epsabs=0.0,
            epsrel=1e-11,
        )
        if d == 0:
            far = start * math.exp(_LOG_SPAN)
            tail += g(far) * far / (model._tail_exponent() - 1.0)
        out[i] = total + tail + g(start) / 2 - slope / 12
    return out


class ContractualBase:
    """Predictions shared by the sBG and the BdW (both define ``_log_survival``)."""

    __slots__ = ()
    params: Mapping[str, float]

    def _log_survival(self, t: FloatArray) -> FloatArray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _tail_exponent(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _log_retention(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(log r(t), 1 - r(t)): by default from log S differences (the sBG: closed forms)."""
        step = self._log_survival(t) - self._log_survival(t - 1)
        return step, -np.expm1(step)

    @overload
    def survival(self, t: float) -> float: ...
    @overload
    def survival(self, t: RealInput) -> FloatArray: ...
    @b.prediction(probability=True)
    def survival(self, t: Any) -> FloatArray:
        r"""Probability $S(t)$ that a new customer is still a customer after `t` renewals.

        $S(t) = P(T > t)$: the share of a cohort active at the start of period $t$
        (counting the acquisition period as 0), so $S(0) = 1$.

        Parameters
        ----------
        t : int or array-like
            Whole numbers of periods, ≥ 0.

        Returns
        -------
        float or numpy.ndarray
            Probabilities in (0, 1]; a float for a scalar `t`.
        """
        tt = _whole(t, "t", 0)
        return np.exp(self._log_survival(tt))

    @overload
    def retention_rate(self, t: float) -> float: ...
    @overload
    def retention_rate(self, t: RealInput) -> FloatArray: ...
    @b.prediction(probability=True)
    def retention_rate(self, t: Any) -> FloatArray:
        r"""Retention rate $r(t) = S(t)/S(t-1)$: the share of period $t-1$'s customers who renew.

        Parameters
        ----------
        t : int or array-like
            Whole numbers of periods, ≥ 1.

        Returns
        -------
        float or numpy.ndarray
            Probabilities in [0, 1]; a float for a scalar `t`.
        """
        tt = _whole(t, "t", 1)
        return np.exp(self._log_retention(tt)[0])

    @overload
    def churn_probability(self, t: float) -> float: ...
    @overload
    def churn_probability(self, t: RealInput) -> FloatArray: ...
    @b.prediction(probability=True)
    def churn_probability(self, t: Any) -> FloatArray:
        r"""$P(T = t) = S(t-1) - S(t)$: probability that a new customer pays exactly `t` periods.

        Parameters
        ----------
        t : int or array-like
            Whole numbers of periods, ≥ 1.

        Returns
        -------
        float or numpy.ndarray
            Probabilities in [0, 1]; a float for a scalar `t`.
        """
        tt = _whole(t, "t", 1)
        return np.exp(self._log_survival(tt - 1)) * self._log_retention(tt)[1]

    def _residual(self, first: FloatArray, d: float) -> FloatArray:
        if d == 0 and self._tail_exponent() <= 1:
            return np.full(first.shape[0], math.inf)
        return _discounted_sum(self, first, d)

    @b.prediction(allow_infinite=True)
    def expected_lifetime(self, *, discount_rate: Any) -> FloatArray:
        r"""Discounted expected lifetime (DEL) of a just-acquired customer, in payments.

        $$\text{DEL} = \sum_{t=0}^{\infty} \frac{S(t)}{(1 + d)^t}$$

        the expected number of payments, the first one (at acquisition, $t = 0$) counted
        undiscounted. Times the margin per period it is the expected CLV of a new
        customer (Fader & Hardie 2010).

        Parameters
        ----------
        discount_rate : float
            Discount rate $d \ge 0$ per period.

        Returns
        -------
        float
            DEL ≥ 1. `inf` when $d = 0$ and the expected lifetime is infinite (sBG:
            $\alpha \le 1$; BdW: $c\gamma \le 1$).
        """
        d = _discount(discount_rate)
        return self._residual(np.zeros(1), d)

    @overload
    def expected_residual_lifetime(self, renewals: float, *, discount_rate: float) -> float: ...
    @overload
    def expected_residual_lifetime(
        self, renewals: RealInput, *, discount_rate: float
    ) -> FloatArray: ...
    @b.prediction(allow_infinite=True)
    def expected_residual_lifetime(self, renewals: Any, *, discount_rate: Any) -> FloatArray:
        r"""Discounted expected residual lifetime (DERL) of a customer who renewed `renewals` times.

        With $n$ = `renewals`:

        $$\text{DERL}(n) = \sum_{k=0}^{\infty}
          \frac{S(n + 1 + k)}{S(n)} \frac{1}{(1 + d)^k}$$

        the expected number of *future* payments of a customer who has paid $n + 1$
        periods (acquisition plus $n$ renewals; `lifetime = n + 1` in `fit`) and is about
        to decide on renewal $n + 1$, which, if made, is counted undiscounted. This is
        the DERL of Fader & Hardie (2010) with their "$n - 1$ renewals" equal to
        `renewals`. The identity $\text{DEL} = 1 + \text{DERL}(0)/(1 + d)$ links the two.

        Worked example: of the 1,000 high-end customers of Fader & Hardie (2007), 491
        are still active at the start of year 7; they have paid for years 0–7, that is
        renewed 7 times, so `renewals=7`; their DERL counts the payments from the start
        of year 8 on, the first with probability $S(8)/S(7)$.

        Parameters
        ----------
        renewals : int or array-like
            Renewals made so far, whole numbers ≥ 0.
        discount_rate : float
            Discount rate $d \ge 0$ per period.

        Returns
        -------
        float or numpy.ndarray
            DERL ≥ 0; a float for a scalar `renewals`. `inf` when $d = 0$ and the
            expected lifetime is infinite (sBG: $\alpha \le 1$; BdW: $c\gamma \le 1$).
        """
        n = _whole(renewals, "renewals", 0)
        d = _discount(discount_rate)
        return self._residual(n + 1.0, d)


# -- fitting ------------------------------------------------------------------------------

Objective = b.Objective


def prepare(lifetime: Any, churned: Any, weights: Any) -> tuple[FloatArray, BoolArray, FloatArray]:
    life, flags = check_lifetimes(lifetime, churned)
    w = b.check_weights(weights, life.shape[0])
    return compress(life, flags, w)


def check_identified(life: FloatArray, flags: BoolArray, w: FloatArray) -> None:
    if not bool(np.any(flags & (w > 0))):
        raise ValueError(
            "no customer has churned (every churned is False): the churn probabilities are "
            "not identified, so there is no model to fit"
        )


# -- the sBG ------------------------------------------------------------------------------


def sbg_loglik(
    params: FloatArray, life: FloatArray, flags: BoolArray
) -> tuple[FloatArray, FloatArray]:
    r"""Per-pattern log-likelihood of the sBG and its gradient (2 x n).

    Churned after $t$ periods: $\log B(\alpha + 1, \beta + t - 1) - \log B(\alpha, \beta)$;
    censored at lifetime $t$:
    $\log S(t - 1) = \log B(\alpha, \beta + t - 1) - \log B(\alpha, \beta)$.
    """
    al, be = params
    dg = sc.digamma
    m = life - 1.0
    a1 = al + flags
    ll = sc.betaln(a1, be + m) - sc.betaln(al, be)
    common = dg(al + be) - dg(a1 + be + m)
    grad = np.stack([dg(a1) - dg(al) + common, dg(be + m) - dg(be) + common])
    return ll, grad


def _trigamma(x: Any) -> Any:
    return sc.polygamma(1, x)


def sbg_hessian(
    params: FloatArray, life: FloatArray, flags: BoolArray, w: FloatArray
) -> FloatArray:
    r"""Analytic Hessian (2 x 2) of the sBG's total log-likelihood, natural scale.

    Each pattern's log-likelihood is $\log B(a, b) - \log B(\alpha, \beta)$ with
    $a = \alpha + [\text{churned}]$, $b = \beta + t - 1$, and
    $\partial^2_x \log B(x, y) = \psi_1(x) - \psi_1(x + y)$,
    $\partial_x\partial_y \log B(x, y) = -\psi_1(x + y)$ ($\psi_1$ the trigamma
    function), so, with $\psi_1$ weighted by the pattern counts,

    $$\partial^2_\alpha \ell = \sum w[\psi_1(a) - \psi_1(a + b)
        - \psi_1(\alpha) + \psi_1(\alpha + \beta)]$$

    and likewise for $\beta$ (with $b$, $\beta$) and the cross term
    $\sum w[\psi_1(\alpha + \beta) - \psi_1(a + b)]$.
    """
    al, be = params

    def tg(x: Any) -> Any:
        return sc.polygamma(1, x)

    m = life - 1.0
    a1 = al + flags
    both = _trigamma(a1 + be + m)
    base = _trigamma(al + be)
    h_aa = b.wsum(w, _trigamma(a1) - both) - float(w.sum()) * (_trigamma(al) - base)
    h_bb = b.wsum(w, _trigamma(be + m) - both) - float(w.sum()) * (_trigamma(be) - base)
    h_ab = float(w.sum()) * base - b.wsum(w, both)
    return np.array([[h_aa, h_ab], [h_ab, h_bb]], dtype=np.float64)


@dataclass(frozen=True, slots=True, repr=False)
class ShiftedBetaGeometricModel(ContractualBase, u.ParameterUncertainty):
    r"""The shifted-beta-geometric (sBG) model of contractual retention.

    Each customer renews at every period's end with a constant probability $1 - \theta$,
    and $\theta \sim \text{Beta}(\alpha, \beta)$ across customers. A new customer pays
    $T \ge 1$ periods with

    $$P(T = t) = \frac{B(\alpha + 1, \beta + t - 1)}{B(\alpha, \beta)}, \qquad
      S(t) = P(T > t) = \frac{B(\alpha, \beta + t)}{B(\alpha, \beta)}, \qquad
      r(t) = \frac{\beta + t - 1}{\alpha + \beta + t - 1}.$$

    The aggregate retention rate $r(t)$ rises with tenure although no customer's does:
    the customers with a high $\theta$ leave first (sorting).

    Attributes
    ----------
    params : mapping
        `alpha`, `beta` (the beta distribution of the churn probability).
    log_likelihood : float
        Total log-likelihood of the fitted data (`nan` for `from_params`).
    standard_errors : mapping
        Asymptotic standard errors: the square roots of the diagonal of `covariance`
        (nan for `from_params`).
    n_customers : float
        Number of customers fitted (sum of the weights).
    covariance : numpy.ndarray
        Inverse observed information at the estimate, in ``PARAM_NAMES`` order, natural
        scale (read-only; all nan for `from_params` or a singular information matrix).
        `confidence_intervals(level)` gives Wald intervals on the log scale from it.

    Notes
    -----
    `polarization_index` $\varphi = 1/(\alpha + \beta + 1)$ is the correlation of two
    renewal decisions of one customer: near 0 the customers are alike, near 1 each one
    either stays for good or leaves at once (Fader et al. 2018).

    References
    ----------
    1. Fader, P. S., & Hardie, B. G. S. (2007). How to Project Customer Retention.
       *Journal of Interactive Marketing*, 21(1), 76–90. https://doi.org/10.1002/dir.20074
    2. Fader, P. S., & Hardie, B. G. S. (2010). Customer-Base Valuation in a Contractual
       Setting: The Perils of Ignoring Heterogeneity. *Marketing Science*, 29(1), 85–93.
       https://doi.org/10.1287/mksc.1080.0482

    Examples
    --------
    Fader & Hardie (2007), Table 1, the high-end segment calibrated on years 0–7:

    >>> from loyaltymetrics import models
    >>> high_end = [1000, 869, 743, 653, 593, 551, 517, 491]
    >>> m = models.ShiftedBetaGeometricModel.fit_survivors(high_end)
    >>> {k: round(val, 3) for k, val in m.params.items()}
    {'alpha': 0.668, 'beta': 3.806}
    >>> round(1000 * m.survival(12))  # projected; 394 were observed (Table 1)
    378
    >>> round(m.expected_residual_lifetime(7, discount_rate=0.10), 2)
    7.53
    """

    params: Mapping[str, float]
    log_likelihood: float = math.nan
    standard_errors: Mapping[str, float] = field(default_factory=b.empty_mapping)
    n_customers: float = 0.0
    covariance: FloatArray = field(default_factory=u.unknown_covariance(2), compare=False)

    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def __repr__(self) -> str:
        return f"ShiftedBetaGeometricModel({b.format_params(self.params)})"

    @classmethod
    def from_params(cls, **params: float) -> ShiftedBetaGeometricModel:
        """Build a model from known `alpha` and `beta` (both positive).

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> models.ShiftedBetaGeometricModel.from_params(alpha=0.668, beta=3.806)
        ShiftedBetaGeometricModel(alpha=0.668, beta=3.806)
        """
        return cls(MappingProxyType(b.check_params(cls.__name__, cls.PARAM_NAMES, params)))

    @staticmethod
    def _objective(life: FloatArray, flags: BoolArray, w: FloatArray) -> Objective:
        """Total log-likelihood and gradient of the patterns, as the other models' `fit` use."""

        def objective(params: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = sbg_loglik(params, life, flags)
            return b.wsum(w, ll), np.sum(grad * w, axis=-1)

        return objective

    @classmethod
    def _fit_patterns(
        cls, life: FloatArray, flags: BoolArray, w: FloatArray
    ) -> ShiftedBetaGeometricModel:
        check_identified(life, flags, w)
        objective = cls._objective(life, flags, w)
        total = float(w.sum())
        params, ll = b.fit_mle(objective, np.ones(2), cls.PARAM_NAMES, total)
        p = np.array([params[k] for k in cls.PARAM_NAMES])
        cov = u.observed_covariance(params, hessian=sbg_hessian(p, life, flags, w))
        se = u.standard_errors_from(cov, cls.PARAM_NAMES)
        return cls(MappingProxyType(params), ll, se, total, cov)

    @classmethod
    def fit(cls, lifetime: Any, churned: Any, *, weights: Any = None) -> ShiftedBetaGeometricModel:
        r"""Fit by maximum likelihood to per-customer (or per-pattern) lifetimes.

        $$LL = \sum_{\text{churned}} \log P(T = \text{lifetime})
             + \sum_{\text{censored}} \log S(\text{lifetime} - 1)$$

        Parameters
        ----------
        lifetime : array-like
            Periods paid by each customer, whole numbers ≥ 1 (acquisition counts as one).
        churned : array-like of bool
            True where the customer cancelled after `lifetime` periods; False where the
            next renewal is not observed yet (right-censored).
        weights : array-like, optional
            Number of customers with each (lifetime, churned) pattern.

        Returns
        -------
        ShiftedBetaGeometricModel
            The fitted model.

        Raises
        ------
        ValueError
            For lifetimes that are not whole numbers ≥ 1, `churned` of another length,
            or data without a single churn.
        ConvergenceError
            If maximum likelihood does not converge.

        Examples
        --------
        The 1,000 regular customers of Fader & Hardie (2007), years 0–7:

        >>> from loyaltymetrics import models
        >>> m = models.ShiftedBetaGeometricModel.fit(
        ...     [1, 2, 3, 4, 5, 6, 7, 8],
        ...     [True] * 7 + [False],
        ...     weights=[369, 163, 86, 56, 37, 27, 21, 241],
        ... )
        >>> {k: round(val, 3) for k, val in m.params.items()}
        {'alpha': 0.704, 'beta': 1.182}
        """
        return cls._fit_patterns(*prepare(lifetime, churned, weights))

    @classmethod
    def fit_survivors(cls, survivors: Any) -> ShiftedBetaGeometricModel:
        r"""Fit to survivor counts: customers active at the start of periods 0, 1, …, n.

        Parameters
        ----------
        survivors : sequence of int, or sequence of sequences
            One cohort's counts (`[1000, 631, 468, …]`, non-increasing), or several
            cohorts' counts of different lengths (cohorts acquired in successive periods
            and observed to the same date). A cohort with a single count adds nothing.

        Returns
        -------
        ShiftedBetaGeometricModel
            The fitted model.

        Raises
        ------
        ValueError
            For counts that increase, are negative or not whole, or are all 0.

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> m = models.ShiftedBetaGeometricModel.fit_survivors(
        ...     [1000, 631, 468, 382, 326, 289, 262, 241]
        ... )
        >>> round(m.params["alpha"], 3), round(m.params["beta"], 3)
        (0.704, 1.182)
        """
        return cls._fit_patterns(*survivors_to_patterns(survivors))

    def _p(self) -> tuple[float, float]:
        return self.params["alpha"], self.params["beta"]

    def _log_survival(self, t: FloatArray) -> FloatArray:
        al, be = self._p()
        return np.asarray(sc.betaln(al, be + t) - sc.betaln(al, be), dtype=np.float64)

    def _tail_exponent(self) -> float:
        return self.params["alpha"]

    def _log_retention(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        # closed forms r(t) = (β + t - 1)/(α + β + t - 1), 1 - r(t) = α/(α + β + t - 1):
        # the difference of log-betas lost up to 4e-8 of 1 - r(t) at α = 0.0013, t = 2827
        al, be = self._p()
        total = al + be + t - 1
        return np.log((be + t - 1) / total), al / total

    @property
    def polarization_index(self) -> float:
        r"""$\varphi = 1/(\alpha + \beta + 1)$, in (0, 1) (Fader et al. 2018)."""
        al, be = self._p()
        return 1.0 / (al + be + 1.0)

    def _residual(self, first: FloatArray, d: float) -> FloatArray:
        r"""Closed forms (Fader & Hardie 2010, eqs. 4 and 6).

        $\sum_{k \ge 0} S(f + k)/S(f - 1) z^k$ is, for $f \ge 1$,
        $\frac{\beta + f - 1}{\alpha + \beta + f - 1}\,{}_2F_1(1, \beta + f; \alpha + \beta + f; z)$
        and for $f = 0$ (DEL) ${}_2F_1(1, \beta; \alpha + \beta; z)$. At $d = 0$ (z = 1,
        Gauss's sum) they are $(\beta + f - 1)/(\alpha - 1)$ and
        $(\alpha + \beta - 1)/(\alpha - 1)$ when $\alpha > 1$, infinite otherwise.
        """
        al, be = self._p()
        f = first
        lead = np.where(f == 0, 1.0, (be + f - 1) / (al + be + f - 1))
        bb = np.where(f == 0, be, be + f)
        if d == 0:
            if al <= 1:
                return np.full(f.shape[0], math.inf)
            return np.asarray(lead * (al + bb - 1) / (al - 1), dtype=np.float64)
        z = 1.0 / (1.0 + d)
        value, _ = b.hyp2f1_robust(1.0, bb, al + bb, z, d / (1.0 + d))
        return np.asarray(lead * value, dtype=np.float64)

    def simulate(self, n_customers: int, n_periods: int, *, seed: int) -> pl.DataFrame:
        r"""Draw a synthetic cohort, observed until it has paid `n_periods` periods.

        Each customer draws $\theta \sim \text{Beta}(\alpha, \beta)$ and a geometric
        lifetime $T$ (periods paid); a customer with $T \ge$ `n_periods` is censored
        (`lifetime = n_periods`, `churned = False`).

        Parameters
        ----------
        n_customers : int
            Number of customers, ≥ 1.
        n_periods : int
            Paid periods observed, ≥ 1.
        seed : int
            Seed of the random generator.

        Returns
        -------
        polars.DataFrame
            `lifetime` (Int64), `churned` (Boolean), one row per customer.

        Examples
        --------
        >>> from loyaltymetrics import models
        >>> m = models.ShiftedBetaGeometricModel.from_params(alpha=0.7, beta=1.2)
        >>> m.simulate(5, 8, seed=1).columns
        ['lifetime', 'churned']
        """
        n, k, rng = simulation_args(n_customers, n_periods, seed)
        al, be = self._p()
        theta = rng.beta(al, be, size=n)
        lifetime = rng.geometric(np.clip(theta, 1e-300, 1.0))
        return censor(lifetime.astype(np.float64), k)


def simulation_args(
    n_customers: Any, n_periods: Any, seed: Any
) -> tuple[int, int, np.random.Generator]:
    n = _check_int(n_customers, "n_customers", 1)
    k = _check_int(n_periods, "n_periods", 1)
    s = _check_int(seed, "seed", 0)
    return n, k, np.random.default_rng(s)


def censor(lifetime: FloatArray, n_periods: int) -> pl.DataFrame:
    churned = lifetime < n_periods
    life = np.minimum(lifetime, n_periods).astype(np.int64)
    return pl.DataFrame({"lifetime": life, "churned": churned})
