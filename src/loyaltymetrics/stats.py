"""Statistics: confidence intervals, comparisons and sample sizes for survey and rate metrics.

Every result is a small frozen dataclass with named fields. Intervals are two-sided at
`confidence` (default 0.95), clipped to the metric's range; an empty sample gives `nan`
bounds rather than an error. NPS is in points (−100..100); proportions are fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as _sps

from . import _rules
from . import _validation as v
from ._survival import survival_curve
from ._typing import Answers, FloatArray, RealInput

__all__ = [
    "Comparison",
    "Interval",
    "compare_nps",
    "compare_proportions",
    "mean_interval",
    "nps_interval",
    "nps_sample_size",
    "proportion_interval",
    "proportion_sample_size",
    "survival_curve",
]


@dataclass(frozen=True, slots=True)
class Interval:
    r"""A point estimate with a two-sided confidence interval.

    Attributes
    ----------
    estimate : float
        The point estimate (NPS in points, a proportion, or a mean), `nan` for an empty
        sample.
    low, high : float
        The interval bounds, within the metric's range.
    confidence : float
        The nominal coverage, e.g. 0.95.
    method : str
        The interval method.
    n : float
        The sample size used: the number of answers or trials, or Kish's effective
        sample size $(\sum w)^2 / \sum w^2$ for weighted answers.

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> stats.proportion_interval(45, 100)
    Interval(estimate=0.45, low=0.3561, high=0.5476, confidence=0.95, method='wilson', n=100)
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n: float

    def __repr__(self) -> str:
        return (
            f"Interval(estimate={_r(self.estimate)}, low={_r(self.low)}, high={_r(self.high)}, "
            f"confidence={self.confidence}, method={self.method!r}, n={_r(self.n)})"
        )


@dataclass(frozen=True, slots=True)
class Comparison:
    """The difference between two groups, its interval and a two-sided test.

    Attributes
    ----------
    difference : float
        Estimate of group A minus group B (NPS points or a proportion difference).
    low, high : float
        Confidence interval of the difference.
    statistic : float
        The z statistic of the test.
    p_value : float
        Two-sided p-value of the null hypothesis of no difference.
    confidence : float
        Nominal coverage of the interval.
    method : str
        The method.
    n_a, n_b : float
        Sample sizes (effective sizes for weighted answers).

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> stats.compare_proportions(60, 100, 45, 100).p_value < 0.05
    True
    """

    difference: float
    low: float
    high: float
    statistic: float
    p_value: float
    confidence: float
    method: str
    n_a: float
    n_b: float

    def __repr__(self) -> str:
        return (
            f"Comparison(difference={_r(self.difference)}, low={_r(self.low)}, "
            f"high={_r(self.high)}, statistic={_r(self.statistic)}, "
            f"p_value={_r(self.p_value)}, confidence={self.confidence}, "
            f"method={self.method!r}, n_a={_r(self.n_a)}, n_b={_r(self.n_b)})"
        )


def _r(x: float) -> str:
    """Readable numbers in reprs: 4 significant decimals, integers as integers."""
    if math.isnan(x):
        return "nan"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}" if abs(x) >= 1 else f"{x:.4f}".rstrip("0")


_z = _rules.z_quantile  # confidence -> two-sided normal quantile, validated


# ------------------------------------------------------------------ proportions

_PROPORTION_METHODS = ("wilson", "agresti_coull", "clopper_pearson", "wald")


def proportion_bounds(
    successes: FloatArray, n: FloatArray, z: float, confidence: float, method: str
) -> tuple[FloatArray, FloatArray]:
    """Vectorised bounds of a binomial proportion (nan where ``n == 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / n
        if method == "wilson":
            low, high = _rules.wilson_bounds(successes, n, z, _rules.NUMPY)
        elif method == "agresti_coull":
            n_t = n + z * z
            p_t = (successes + z * z / 2.0) / n_t
            half = z * np.sqrt(p_t * (1.0 - p_t) / n_t)
            low, high = p_t - half, p_t + half
        elif method == "wald":
            half = z * np.sqrt(p * (1.0 - p) / n)
            low, high = p - half, p + half
        else:  # clopper_pearson
            alpha = 1.0 - confidence
            low = np.where(
                successes > 0, _sps.beta.ppf(alpha / 2, successes, n - successes + 1), 0.0
            )
            high = np.where(
                successes < n, _sps.beta.ppf(1 - alpha / 2, successes + 1, n - successes), 1.0
            )
    empty = n == 0
    low = np.where(empty, np.nan, np.clip(low, 0.0, 1.0))
    high = np.where(empty, np.nan, np.clip(high, 0.0, 1.0))
    return low, high


def proportion_interval(
    successes: float,
    n: float,
    *,
    confidence: float = 0.95,
    method: Literal["wilson", "agresti_coull", "clopper_pearson", "wald"] = "wilson",
) -> Interval:
    r"""Confidence interval for a binomial proportion (CSAT top-box, retention, churn, ...).

    With $\hat p = x/n$ and $z$ the normal quantile for `confidence`:

    * **wilson** (default), the inverted score test:
      $\dfrac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n}
      + \frac{z^2}{4n^2}}}{1 + z^2/n}$;
    * **agresti_coull**: the Wald interval around $\tilde p = (x + z^2/2)/(n + z^2)$ with
      $\tilde n = n + z^2$;
    * **clopper_pearson**: the exact interval from Beta quantiles,
      $[B(\frac{\alpha}{2}; x, n-x+1),\ B(1-\frac{\alpha}{2}; x+1, n-x)]$;
    * **wald**: $\hat p \pm z\sqrt{\hat p(1-\hat p)/n}$ (zero width at 0 or 1; it
      under-covers at small $n$ and is provided for comparison only).

    Parameters
    ----------
    successes : float
        Number of successes $x$ (e.g. satisfied answers, retained customers),
        non-negative and at most `n`. Weighted (fractional) counts are allowed.
    n : float
        Number of trials (answers, customers at risk), non-negative.
    confidence : float, default=0.95
        Nominal two-sided coverage, in (0, 1).
    method : {"wilson", "agresti_coull", "clopper_pearson", "wald"}, default="wilson"
        Interval method.

    Returns
    -------
    Interval
        `estimate` $= x/n$ and bounds clipped to [0, 1]; all `nan` when `n` is 0.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If a count is negative or non-finite, `successes > n`, `confidence` is not in
        (0, 1), or `method` is unknown.

    See Also
    --------
    compare_proportions : Difference between two proportions.
    proportion_sample_size : Sample size for a target margin of error.

    References
    ----------
    1. Wilson, E. B. (1927). Probable Inference, the Law of Succession, and Statistical
       Inference. *Journal of the American Statistical Association*, 22(158), 209–212.
    2. Agresti, A., & Coull, B. A. (1998). Approximate Is Better than "Exact" for
       Interval Estimation of Binomial Proportions. *The American Statistician*, 52(2),
       119–126.
    3. Clopper, C. J., & Pearson, E. S. (1934). The Use of Confidence or Fiducial Limits
       Illustrated in the Case of the Binomial. *Biometrika*, 26(4), 404–413.
    4. Brown, L. D., Cai, T. T., & DasGupta, A. (2001). Interval Estimation for a
       Binomial Proportion. *Statistical Science*, 16(2), 101–133.

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> ci = stats.proportion_interval(45, 100)
    >>> round(ci.low, 4), round(ci.high, 4)
    (0.3561, 0.5476)
    >>> stats.proportion_interval(0, 20, method="clopper_pearson").high < 0.17
    True
    """
    z = _z(confidence)
    v.check_choice(method, "method", _PROPORTION_METHODS)
    x = v.as_scalar(successes, "successes")
    total = v.as_scalar(n, "n")
    v.check_nonnegative(x, "successes")
    v.check_nonnegative(total, "n")
    v.check_not_greater(x, "successes", total, "n")
    low, high = proportion_bounds(np.array([x]), np.array([total]), z, float(confidence), method)
    estimate = x / total if total > 0 else math.nan
    return Interval(estimate, float(low[0]), float(high[0]), float(confidence), method, total)


# ------------------------------------------------------------------------- NPS

_NPS_METHODS = ("adjusted_wald", "wald", "bootstrap")


def _nps_counts(scores: Answers, weights: Any) -> tuple[float, float, float, float]:
    """Promoter share, detractor share, (effective) n and the NPS of validated answers.

    The NPS is computed as in `loyaltymetrics.nps`, 100 (P − D) / n, so both agree exactly.
    """
    x = v.as_answers(scores, "scores")
    v.check_answers_on_scale(x, "scores", 0.0, 10.0)
    valid = ~np.isnan(x)
    if weights is None:
        n = float(np.count_nonzero(valid))
        promoters, detractors, total, n_eff = (
            float(np.count_nonzero(x >= 9)),
            float(np.count_nonzero(x <= 6)),
            n,
            n,
        )
    else:
        w = np.where(valid, v.as_weights(weights, x.shape[0], "weights"), 0.0)
        total = float(w.sum())
        promoters, detractors = float(w[x >= 9].sum()), float(w[x <= 6].sum())
        n_eff = total * total / float((w * w).sum()) if total > 0 else 0.0
    if total <= 0:
        return math.nan, math.nan, 0.0, math.nan
    estimate = 100.0 * (promoters - detractors) / total
    return promoters / total, detractors / total, n_eff, estimate


def nps_bounds(
    p: FloatArray, d: FloatArray, n: FloatArray, z: float, method: str
) -> tuple[FloatArray, FloatArray]:
    """Vectorised NPS bounds in points from shares ``p``, ``d`` and sample size ``n``.

    `loyaltymetrics._rules.nps_bounds` on the counts ``p n`` and ``d n``, which is also
    what `tables.survey_summary` computes on every engine.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = _rules.nps_bounds(
            p * n,
            d * n,
            n,
            100.0 * (p - d),
            z,
            _rules.NUMPY,
            adjusted=method == "adjusted_wald",
        )
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def nps_interval(
    scores: Answers,
    *,
    confidence: float = 0.95,
    weights: RealInput | None = None,
    method: Literal["adjusted_wald", "wald", "bootstrap"] = "adjusted_wald",
    n_resamples: int = 9999,
    seed: int | None = None,
) -> Interval:
    r"""Confidence interval for the Net Promoter Score of a sample of 0–10 answers.

    With promoter share $p$ and detractor share $d$ among $n$ answers, the answers are
    trinomial and

    $$\operatorname{Var}(\hat p - \hat d) = \frac{p + d - (p - d)^2}{n},\qquad
      \mathrm{NPS} \pm 100\,z\sqrt{\frac{p + d - (p - d)^2}{n}}$$

    * **adjusted_wald** (default): add 3/4 to the promoter and the detractor counts and 3
      to $n$, then use the formula above, centred on the adjusted score. Near-nominal
      coverage even for small samples and extreme shares. The interval is widened where
      needed to contain the observed score (only with a handful of answers: a single
      detractor gives [−100, 48.5], not [−98.5, 48.5]).
    * **wald**: the formula on the raw shares (zero width when every answer falls in one
      category; under-covers for small $n$).
    * **bootstrap**: percentile interval of `n_resamples` trinomial resamples of the
      observed shares, seeded with `seed`.

    All bounds are clipped to [−100, 100]. For weighted answers, $p$ and $d$ are
    weighted shares and $n$ is Kish's effective sample size $(\sum w)^2/\sum w^2$.

    Parameters
    ----------
    scores : array-like of numbers
        Answers, whole numbers 0–10; `None`/`NaN` are missing and skipped.
    confidence : float, default=0.95
        Nominal two-sided coverage, in (0, 1).
    weights : array-like of numbers, optional
        Survey weights, one per answer, finite and non-negative.
    method : {"adjusted_wald", "wald", "bootstrap"}, default="adjusted_wald"
        Interval method.
    n_resamples : int, default=9999
        Number of bootstrap resamples (bootstrap only).
    seed : int, optional
        Seed of the bootstrap (bootstrap only); the same seed gives the same interval.

    Returns
    -------
    Interval
        `estimate` is the NPS of the sample (unadjusted), `low`/`high` the bounds in
        points, `n` the (effective) sample size. All `nan` without valid answers.

    Raises
    ------
    TypeError, ValueError
        For invalid answers or weights (as `loyaltymetrics.nps`), `confidence` outside
        (0, 1), an unknown `method`, or `n_resamples < 1`.

    See Also
    --------
    loyaltymetrics.nps : The point estimate.
    compare_nps : Difference between two NPS.
    nps_sample_size : Answers needed for a target margin of error.

    References
    ----------
    1. Rocks, B. (2016). Interval Estimation for the "Net Promoter Score". *The American
       Statistician*, 70(4), 365–372. arXiv:1601.07235.
    2. Lewis, J. R., & Sauro, J. (2021). Confidence Intervals for Net Promoter Scores.
       MeasuringU. https://measuringu.com/nps-confidence-intervals/
    3. Kish, L. (1965). *Survey Sampling*. Wiley. (effective sample size)

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> answers = [10] * 45 + [7] * 40 + [3] * 15
    >>> ci = stats.nps_interval(answers)
    >>> ci.estimate, round(ci.low, 1), round(ci.high, 1)
    (30.0, 15.3, 42.9)
    >>> ci = stats.nps_interval(answers, method="wald")
    >>> round(ci.high - ci.estimate, 1)      # margin of error, points
    14.0
    """
    z = _z(confidence)
    v.check_choice(method, "method", _NPS_METHODS)
    p, d, n, estimate = _nps_counts(scores, weights)
    c = float(confidence)
    if method == "bootstrap":
        return _nps_bootstrap(p, d, n, c, n_resamples, seed, estimate)
    low, high = nps_bounds(np.array([p]), np.array([d]), np.array([n]), z, method)
    if math.isnan(estimate):
        return Interval(estimate, float(low[0]), float(high[0]), c, method, n)
    # shares and score are rounded separately: keep the score inside to the last bit
    return Interval(
        estimate, min(float(low[0]), estimate), max(float(high[0]), estimate), c, method, n
    )


def _nps_bootstrap(
    p: float,
    d: float,
    n: float,
    confidence: float,
    n_resamples: object,
    seed: object,
    estimate: float,
) -> Interval:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int):
        raise TypeError(f"n_resamples must be an int; got {type(n_resamples).__name__}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1; got n_resamples={n_resamples}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None; got {type(seed).__name__} {seed!r}")
    if n <= 0:
        return Interval(math.nan, math.nan, math.nan, confidence, "bootstrap", 0.0)
    size = max(round(n), 1)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(size, [p, max(1.0 - p - d, 0.0), d], size=n_resamples)
    scores = 100.0 * (draws[:, 0] - draws[:, 2]) / size
    alpha = 1.0 - confidence
    low, high = np.quantile(scores, [alpha / 2, 1 - alpha / 2])
    return Interval(estimate, float(low), float(high), confidence, "bootstrap", n)


def compare_nps(
    scores_a: Answers,
    scores_b: Answers,
    *,
    confidence: float = 0.95,
    weights_a: RealInput | None = None,
    weights_b: RealInput | None = None,
) -> Comparison:
    r"""Compare the NPS of two independent samples: difference, interval and z test.

    Each sample's shares are adjusted as in `nps_interval` (3/4 added to promoters and
    detractors, 3 to $n$); with $\Delta = \mathrm{NPS}^{adj}_A - \mathrm{NPS}^{adj}_B$ and
    $\mathrm{SE} = 100\sqrt{V_A + V_B}$, $V = (p + d - (p - d)^2)/n$:

    $$z = \Delta / \mathrm{SE},\qquad p = 2\,(1 - \Phi(|z|)),\qquad
      \Delta \pm z_{1-\alpha/2}\,\mathrm{SE}$$

    Parameters
    ----------
    scores_a, scores_b : array-like of numbers
        The two samples of 0–10 answers (independent respondents).
    confidence : float, default=0.95
        Nominal coverage of the interval of the difference, in (0, 1).
    weights_a, weights_b : array-like of numbers, optional
        Survey weights of each sample (Kish's effective sizes are used).

    Returns
    -------
    Comparison
        `difference` is the unadjusted NPS of A minus that of B, in points; `low`,
        `high`, `statistic` and `p_value` come from the adjusted-Wald method (the
        interval is centred on the adjusted difference). All `nan` if a sample has no
        valid answers.

    Raises
    ------
    TypeError, ValueError
        For invalid answers, weights or `confidence`.

    See Also
    --------
    nps_interval : The interval of one NPS.

    Notes
    -----
    For the same respondents measured twice (paired data) this test is not valid: use
    per-respondent differences instead.

    References
    ----------
    1. Lewis, J. R., & Sauro, J. (2021). How to Statistically Compare Two Net Promoter
       Scores; Evaluating NPS Significance Tests with Real-World Data. MeasuringU.
       https://measuringu.com/nps-significance-test/
    2. Rocks, B. (2016). Interval Estimation for the "Net Promoter Score". *The American
       Statistician*, 70(4), 365–372.

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> a = [10] * 45 + [8] * 40 + [2] * 15
    >>> b = [9] * 30 + [7] * 45 + [5] * 25
    >>> c = stats.compare_nps(a, b)
    >>> c.difference, round(c.statistic, 2), round(c.p_value, 3)
    (25.0, 2.39, 0.017)
    """
    z = _z(confidence)
    pa, da, na, nps_a = _nps_counts(scores_a, weights_a)
    pb, db, nb, nps_b = _nps_counts(scores_b, weights_b)
    c = float(confidence)
    if na <= 0 or nb <= 0:
        nan = math.nan
        return Comparison(nan, nan, nan, nan, nan, c, "adjusted_wald", na, nb)

    ea, va = _rules.nps_adjusted(pa * na, da * na, na)
    eb, vb = _rules.nps_adjusted(pb * nb, db * nb, nb)
    delta = 100.0 * (ea - eb)
    se = 100.0 * math.sqrt(va + vb)
    stat = delta / se
    p_value = float(2.0 * _sps.norm.sf(abs(stat)))
    low = max(delta - z * se, -200.0)
    high = min(delta + z * se, 200.0)
    difference = nps_a - nps_b
    return Comparison(difference, low, high, stat, p_value, c, "adjusted_wald", na, nb)


def compare_proportions(
    successes_a: float,
    n_a: float,
    successes_b: float,
    n_b: float,
    *,
    confidence: float = 0.95,
) -> Comparison:
    r"""Compare two independent proportions: Newcombe interval and two-proportion z test.

    The interval of $\hat p_A - \hat p_B$ is Newcombe's hybrid score interval, built from
    the two Wilson intervals $(l_A, u_A)$, $(l_B, u_B)$:

    $$\Big[\Delta - \sqrt{(\hat p_A - l_A)^2 + (u_B - \hat p_B)^2},\
           \Delta + \sqrt{(u_A - \hat p_A)^2 + (\hat p_B - l_B)^2}\Big]$$

    and the test is the pooled two-proportion z test,
    $z = \Delta / \sqrt{\bar p(1 - \bar p)(1/n_A + 1/n_B)}$.

    Parameters
    ----------
    successes_a, n_a : float
        Successes and trials of group A ($0 \le x \le n$).
    successes_b, n_b : float
        Successes and trials of group B.
    confidence : float, default=0.95
        Nominal coverage of the interval, in (0, 1).

    Returns
    -------
    Comparison
        `difference` $= \hat p_A - \hat p_B$ with its interval, `statistic` $z$ and the
        two-sided `p_value` (`nan` when both proportions are 0 or both 1, or a group is
        empty).

    Raises
    ------
    TypeError, ValueError
        For invalid counts (negative, successes > n) or `confidence`.

    See Also
    --------
    proportion_interval : The interval of one proportion.

    References
    ----------
    1. Newcombe, R. G. (1998). Interval Estimation for the Difference Between
       Independent Proportions: Comparison of Eleven Methods. *Statistics in Medicine*,
       17(8), 873–890.

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> c = stats.compare_proportions(60, 100, 45, 100)
    >>> round(c.difference, 2), round(c.low, 4), round(c.high, 4)
    (0.15, 0.0117, 0.2804)
    """
    z = _z(confidence)
    xa, ta = v.as_scalar(successes_a, "successes_a"), v.as_scalar(n_a, "n_a")
    xb, tb = v.as_scalar(successes_b, "successes_b"), v.as_scalar(n_b, "n_b")
    for value, name in ((xa, "successes_a"), (ta, "n_a"), (xb, "successes_b"), (tb, "n_b")):
        v.check_nonnegative(value, name)
    v.check_not_greater(xa, "successes_a", ta, "n_a")
    v.check_not_greater(xb, "successes_b", tb, "n_b")
    c = float(confidence)
    if ta == 0 or tb == 0:
        nan = math.nan
        return Comparison(nan, nan, nan, nan, nan, c, "newcombe", ta, tb)
    pa, pb = xa / ta, xb / tb
    low, high = proportion_bounds(np.array([xa, xb]), np.array([ta, tb]), z, c, "wilson")
    delta = pa - pb
    lo = delta - math.sqrt((pa - low[0]) ** 2 + (high[1] - pb) ** 2)
    hi = delta + math.sqrt((high[0] - pa) ** 2 + (pb - low[1]) ** 2)
    pooled = (xa + xb) / (ta + tb)
    se = math.sqrt(pooled * (1 - pooled) * (1 / ta + 1 / tb))
    stat = delta / se if se > 0 else math.nan
    p_value = float(2.0 * _sps.norm.sf(abs(stat))) if se > 0 else math.nan
    return Comparison(delta, lo, hi, stat, p_value, c, "newcombe", ta, tb)


def mean_interval(
    scores: Answers,
    *,
    confidence: float = 0.95,
    weights: RealInput | None = None,
) -> Interval:
    r"""Student-t confidence interval for a mean score (CSAT or CES mean).

    $$\bar x \pm t_{1-\alpha/2,\,n-1}\,\frac{s}{\sqrt n}$$

    For weighted answers, $\bar x$ is the weighted mean, $n$ is Kish's effective sample
    size and $s^2 = \frac{n}{n-1}\sum_i w_i (x_i - \bar x)^2 / \sum_i w_i$.

    Parameters
    ----------
    scores : array-like of numbers
        Answers (any finite numbers); `None`/`NaN` are missing and skipped.
    confidence : float, default=0.95
        Nominal two-sided coverage, in (0, 1).
    weights : array-like of numbers, optional
        Survey weights, one per answer, finite and non-negative.

    Returns
    -------
    Interval
        The mean and its t interval (`method="t"`). Bounds are `nan` with fewer than two
        (effective) answers; everything is `nan` without answers.

    Raises
    ------
    TypeError, ValueError
        For non-numeric or infinite answers, invalid weights or `confidence`.

    See Also
    --------
    loyaltymetrics.csat, loyaltymetrics.ces : The mean scores.

    References
    ----------
    1. Student (1908). The Probable Error of a Mean. *Biometrika*, 6(1), 1–25.
    2. Kish, L. (1965). *Survey Sampling*. Wiley. (effective sample size)

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> ci = stats.mean_interval([5, 4, 4, 3, 5, 4])
    >>> ci.estimate, round(ci.low, 3), round(ci.high, 3)
    (4.166666666666667, 3.376, 4.957)
    """
    z = _z(confidence)
    del z  # validation only; the t quantile is used
    x = v.as_answers(scores, "scores")
    valid = ~np.isnan(x)
    bad = valid & ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"scores must be finite; got scores[{i}]={v.fmt(x[i])}")
    c = float(confidence)
    xs = x[valid]
    if weights is None:
        n = float(xs.size)
        if n == 0:
            return Interval(math.nan, math.nan, math.nan, c, "t", 0.0)
        mean = float(xs.mean())
        var = float(xs.var(ddof=1)) if n > 1 else math.nan
    else:
        w = v.as_weights(weights, x.shape[0], "weights")[valid]
        total = float(w.sum())
        if total <= 0:
            return Interval(math.nan, math.nan, math.nan, c, "t", 0.0)
        n = total * total / float((w * w).sum())
        mean = float((w * xs).sum() / total)
        var = float((w * (xs - mean) ** 2).sum() / total) * n / (n - 1) if n > 1 else math.nan
    if not n > 1:
        return Interval(mean, math.nan, math.nan, c, "t", n)
    t = _rules.t_quantiles(np.array([n - 1.0]), c)
    low, high = _rules.mean_bounds(
        np.array([mean]), np.array([math.sqrt(var)]), np.array([n]), t, _rules.NUMPY
    )
    return Interval(mean, float(low[0]), float(high[0]), c, "t", n)


def nps_sample_size(
    margin: float,
    *,
    confidence: float = 0.95,
    promoters: float | None = None,
    detractors: float | None = None,
) -> int:
    r"""Number of answers for an NPS margin of error of ± `margin` points.

    $$n = \left\lceil \left(\frac{100\,z}{\text{margin}}\right)^2
          \big(p + d - (p - d)^2\big) \right\rceil$$

    With no expected shares, the worst case $p = d = 1/2$ (variance 1) is used.

    Parameters
    ----------
    margin : float
        Target half-width of the interval, in NPS points (e.g. 5), in (0, 200].
    confidence : float, default=0.95
        Nominal coverage, in (0, 1).
    promoters, detractors : float, optional
        Expected promoter and detractor shares (fractions with sum ≤ 1); give both or
        neither.

    Returns
    -------
    int
        The number of (effective) answers.

    Raises
    ------
    TypeError, ValueError
        If `margin` is not positive, a share is outside [0, 1], the shares sum above 1,
        only one share is given, or `confidence` is invalid.

    See Also
    --------
    nps_interval : The interval once the answers are in.

    References
    ----------
    1. Lewis, J. R., & Sauro, J. (2021). Confidence Intervals for Net Promoter Scores.
       MeasuringU. https://measuringu.com/nps-confidence-intervals/

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> stats.nps_sample_size(10), stats.nps_sample_size(5)
    (385, 1537)
    >>> stats.nps_sample_size(10, promoters=0.45, detractors=0.15)
    196
    """
    z = _z(confidence)
    m = v.as_scalar(margin, "margin")
    v.check_in_range(m, "margin", 0.0, 200.0, low_open=True, what="NPS points")
    if (promoters is None) != (detractors is None):
        raise ValueError("give both promoters and detractors (expected shares), or neither")
    if promoters is None or detractors is None:
        var = 1.0
    else:
        p = v.as_scalar(promoters, "promoters")
        d = v.as_scalar(detractors, "detractors")
        v.check_in_range(p, "promoters", 0.0, 1.0)
        v.check_in_range(d, "detractors", 0.0, 1.0)
        v.check_not_greater(p + d, "promoters + detractors", 1.0, "1")
        var = p + d - (p - d) ** 2
    return max(1, math.ceil((100.0 * z / m) ** 2 * var - 1e-9))


def proportion_sample_size(
    margin: float, *, confidence: float = 0.95, proportion: float = 0.5
) -> int:
    r"""Number of trials for a proportion's margin of error of ± `margin`.

    $$n = \left\lceil \frac{z^2\, p (1 - p)}{\text{margin}^2} \right\rceil$$

    Parameters
    ----------
    margin : float
        Target half-width, as a fraction (0.05 for ± 5 points), in (0, 1].
    confidence : float, default=0.95
        Nominal coverage, in (0, 1).
    proportion : float, default=0.5
        Expected proportion; 0.5 is the worst case.

    Returns
    -------
    int
        The number of trials.

    Raises
    ------
    TypeError, ValueError
        If `margin` or `proportion` is outside its range, or `confidence` is invalid.

    References
    ----------
    1. Cochran, W. G. (1977). *Sampling Techniques* (3rd ed.). Wiley.

    Examples
    --------
    >>> from loyaltymetrics import stats
    >>> stats.proportion_sample_size(0.05)
    385
    """
    z = _z(confidence)
    m = v.as_scalar(margin, "margin")
    v.check_in_range(m, "margin", 0.0, 1.0, low_open=True)
    p = v.as_scalar(proportion, "proportion")
    v.check_in_range(p, "proportion", 0.0, 1.0)
    return max(1, math.ceil(z * z * p * (1 - p) / (m * m) - 1e-9))
