"""Survey metrics: NPS, CSAT, CES and the survey response rate."""

from __future__ import annotations

import math
from typing import Any, Literal, overload

import numpy as np

from . import _validation as v
from ._array import clip, counts, part_of_whole, ratio
from ._typing import Answers, FloatArray, Real, RealInput


def _prepare(
    scores: Answers, weights: Any, low: float, high: float
) -> tuple[FloatArray, FloatArray | None]:
    """Validate answers on a scale and their weights; missing answers get weight 0."""
    x = v.as_answers(scores, "scores")
    v.check_answers_on_scale(x, "scores", low, high)
    if weights is None:
        return x, None
    w = v.as_weights(weights, x.shape[0], "weights")
    return x, np.where(np.isnan(x), 0.0, w)


def _total(x: FloatArray, w: FloatArray | None) -> float:
    return float(np.count_nonzero(~np.isnan(x))) if w is None else float(w.sum())


def _mass(mask: np.ndarray[Any, np.dtype[np.bool_]], w: FloatArray | None) -> float:
    return float(np.count_nonzero(mask)) if w is None else float(w[mask].sum())


def _share(mask: np.ndarray[Any, np.dtype[np.bool_]], x: FloatArray, w: FloatArray | None) -> float:
    total = _total(x, w)
    return _mass(mask, w) / total if total > 0 else math.nan


def _mean(x: FloatArray, w: FloatArray | None) -> float:
    valid = ~np.isnan(x)
    if w is None:
        n = int(np.count_nonzero(valid))
        return float(x[valid].sum()) / n if n else math.nan
    total = float(w.sum())
    return float((w[valid] * x[valid]).sum()) / total if total > 0 else math.nan


def _threshold(threshold: object, low: float, high: float) -> float:
    """Validate a top-box threshold: a number within the answer scale."""
    t = v.as_scalar(threshold, "threshold")
    v.check_in_range(t, "threshold", low, high, what=f"within scale ({v.fmt(low)}, {v.fmt(high)})")
    return t


def _nps_value(promoters: Real, passives: Real, detractors: Real) -> Real:
    total = promoters + passives + detractors
    return ratio(100.0 * (promoters - detractors), total)


def nps(scores: Answers, *, weights: RealInput | None = None) -> float:
    r"""Net Promoter Score of a set of 0–10 likelihood-to-recommend answers.

    Promoters answer 9–10, passives 7–8, detractors 0–6. The score is the share of
    promoters minus the share of detractors, in points:

    $$\mathrm{NPS} = 100\,\frac{n_{9\text{–}10} - n_{0\text{–}6}}{n}$$

    where $n$ counts every valid answer (passives included). With `weights`, each count
    is a sum of weights.

    Parameters
    ----------
    scores : array-like of numbers
        1-D answers on the 0–10 scale (list, tuple, numpy array or polars Series). Each
        answer must be a whole number from 0 to 10 (`9.0` is fine, `9.5` is not).
        `None`, `NaN` and polars nulls mark a missing answer and are skipped.
    weights : array-like of numbers, optional
        Frequency or survey weights, one per answer, finite and non-negative. Integer
        weights give the same result as repeating the answers; a zero weight removes
        the answer. The weight of a missing answer is ignored.

    Returns
    -------
    float
        NPS in points, in [−100, 100]. `nan` when there is no valid answer (or the
        valid answers' weights sum to 0).

    Raises
    ------
    TypeError
        If `scores` is a string, a scalar, or holds non-numbers or booleans.
    ValueError
        If an answer is not a whole number from 0 to 10 (including ±inf), `scores` is
        not 1-D, or `weights` is negative, non-finite or of another length.

    See Also
    --------
    nps_from_counts : The same score from promoter/passive/detractor counts.

    Notes
    -----
    Only the 0–10 scale is accepted. A survey asked on a 1–10 scale cannot be detected
    (its answers are valid 0–10 answers) and must not be rescaled: a linear map of 1–10
    onto 0–10 sends every 9 to 8.9 and turns promoters into passives. Apply the 9–10 /
    7–8 / 0–6 buckets unchanged and note that such a score is not comparable with 0–10
    benchmarks.

    References
    ----------
    1. Reichheld, F. F. (2003). The One Number You Need to Grow. *Harvard Business
       Review*, 81(12), 46–54, 124.
    2. Reichheld, F. F., & Markey, R. (2011). *The Ultimate Question 2.0*. Harvard
       Business Review Press.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.nps([10, 9, 8, 7, 6, 0, 10, 9])
    25.0
    >>> lm.nps([10, 6, None])          # None is a missing answer
    0.0
    >>> lm.nps([10, 6], weights=[3, 1])
    50.0
    >>> lm.nps([])
    nan
    """
    x, w = _prepare(scores, weights, 0.0, 10.0)
    total = _total(x, w)
    if total <= 0:
        return math.nan
    promoters = _mass(x >= 9.0, w)
    detractors = _mass(x <= 6.0, w)
    value = _nps_value(promoters, total - promoters - detractors, detractors)
    return float(clip(value, -100.0, 100.0))


@overload
def nps_from_counts(promoters: float, passives: float, detractors: float) -> float: ...
@overload
def nps_from_counts(
    promoters: RealInput, passives: RealInput, detractors: RealInput
) -> FloatArray: ...
def nps_from_counts(promoters: RealInput, passives: RealInput, detractors: RealInput) -> Real:
    r"""Net Promoter Score from the counts of promoters, passives and detractors.

    $$\mathrm{NPS} = 100\,\frac{P - D}{P + P_a + D}$$

    Parameters
    ----------
    promoters : float or array-like
        Number of promoters (answers 9–10), non-negative. Weighted (fractional) counts
        are allowed.
    passives : float or array-like
        Number of passives (answers 7–8), non-negative.
    detractors : float or array-like
        Number of detractors (answers 0–6), non-negative.

    Returns
    -------
    float or numpy.ndarray
        NPS in points, in [−100, 100]; `nan` where all three counts are 0. Scalars give
        a `float`; any array-like input gives an array (numpy broadcasting).

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a count is negative, NaN or infinite, or the shapes do not broadcast.

    See Also
    --------
    nps : The same score from the raw answers.

    References
    ----------
    1. Reichheld, F. F. (2003). The One Number You Need to Grow. *Harvard Business
       Review*, 81(12), 46–54, 124.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.nps_from_counts(45, 40, 15)
    30.0
    >>> lm.nps_from_counts([45, 0], [40, 0], [15, 0])
    array([30., nan])
    """
    p, pa, d = counts(("promoters", "passives", "detractors"), promoters, passives, detractors)
    return clip(_nps_value(p, pa, d), -100.0, 100.0)


_METHODS = ("top_box", "mean")


def csat(
    scores: Answers,
    *,
    scale: tuple[float, float] = (1, 5),
    threshold: float | None = None,
    method: Literal["top_box", "mean"] = "top_box",
    weights: RealInput | None = None,
) -> float:
    r"""Customer Satisfaction score: the top-box share (default) or the mean answer.

    With `method="top_box"` the score is the share of answers at or above `threshold`:

    $$\mathrm{CSAT} = \frac{\#\{\text{answers} \ge \text{threshold}\}}{n}$$

    which on the default 1–5 scale counts "satisfied" (4) and "very satisfied" (5). With
    `method="mean"` it is the (weighted) mean answer, on the answer scale.

    Parameters
    ----------
    scores : array-like of numbers
        1-D answers (list, tuple, numpy array or polars Series), whole numbers on
        `scale`. `None`, `NaN` and polars nulls mark a missing answer and are skipped.
    scale : (int, int), default=(1, 5)
        The answer scale `(low, high)`, whole numbers with `low < high`.
    threshold : float, optional
        Lowest answer counted as satisfied (`method="top_box"`). `None` means the
        top-2-box of `scale`, i.e. `high − 1` (4 on 1–5, 9 on 1–10), so a 1–10 survey is
        not silently scored as a top-7-box. Must lie within `scale`; unused (and not
        checked) for `method="mean"`.
    method : {"top_box", "mean"}, default="top_box"
        Top-box share, or mean answer.
    weights : array-like of numbers, optional
        Frequency or survey weights, one per answer, finite and non-negative (integer
        weights equal repeated answers; a zero weight removes an answer).

    Returns
    -------
    float
        `top_box`: a fraction in [0, 1]; `mean`: a value on `scale`. `nan` when there is
        no valid answer or the valid answers' weights sum to 0.

    Raises
    ------
    TypeError
        If `scores` holds non-numbers, or `scale`/`method` have the wrong type.
    ValueError
        If an answer is off `scale` or not whole, `threshold` is outside `scale`,
        `method` is unknown, or `weights` is invalid.

    See Also
    --------
    ces : Customer Effort Score, computed the same way on its own scale.

    Notes
    -----
    Scores are normalised by the nominal scale, never by the observed minimum and
    maximum. There is no standards body for CSAT; the top-2-box share is the common
    vendor definition, and the mean score is the index-style alternative (ACSI).

    References
    ----------
    1. Fornell, C., Johnson, M. D., Anderson, E. W., Cha, J., & Bryant, B. E. (1996).
       The American Customer Satisfaction Index: Nature, Purpose, and Findings.
       *Journal of Marketing*, 60(4), 7–18.
    2. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.). Pearson.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.csat([5, 4, 3, 2, 5])
    0.6
    >>> lm.csat([5, 4, 3, 2, 5], method="mean")
    3.8
    >>> lm.csat([10, 9, 8, 7], scale=(1, 10))   # top-2-box: 9 and 10
    0.5
    """
    low, high = v.check_scale(scale, "scale")
    v.check_choice(method, "method", _METHODS)
    x, w = _prepare(scores, weights, low, high)
    if method == "mean":
        return _mean(x, w)
    t = _threshold(high - 1.0 if threshold is None else threshold, low, high)
    return _share(x >= t, x, w)


def ces(
    scores: Answers,
    *,
    scale: tuple[float, float] = (1, 7),
    threshold: float = 5,
    method: Literal["mean", "top_box"] = "mean",
    higher_is_better: bool = True,
    weights: RealInput | None = None,
) -> float:
    r"""Customer Effort Score: the mean answer (default) or the share of "easy" answers.

    The default is CES 2.0: agreement with "The company made it easy for me to handle my
    issue" on a 1–7 scale, where high means easy. `method="mean"` gives the (weighted)
    mean answer; `method="top_box"` the share of answers at or above `threshold`
    (5–7, "somewhat agree" or stronger):

    $$\mathrm{CES}_{\text{mean}} = \frac{1}{n}\sum_i x_i,\qquad
      \mathrm{CES}_{\text{top box}} = \frac{\#\{x_i \ge \text{threshold}\}}{n}$$

    For the older CES 1.0 *effort* question ("How much effort did you personally have to
    put forth…", 1 = very low … 5 = very high effort) pass `scale=(1, 5)`,
    `higher_is_better=False` and a low threshold such as 2: the top box is then the share
    of answers **at or below** `threshold`.

    Parameters
    ----------
    scores : array-like of numbers
        1-D answers, whole numbers on `scale`. `None`, `NaN` and polars nulls mark a
        missing answer and are skipped.
    scale : (int, int), default=(1, 7)
        The answer scale `(low, high)`.
    threshold : float, default=5
        Boundary of the "easy" box for `method="top_box"`; must lie within `scale`.
        Unused (and not checked) for `method="mean"`, so the default 5 does not get in
        the way of a mean on a shorter scale.
    method : {"mean", "top_box"}, default="mean"
        Mean answer, or top-box share.
    higher_is_better : bool, default=True
        Direction of the scale: `True` for agreement scales (CES 2.0), `False` for effort
        scales (CES 1.0), where the easy box is `answer <= threshold`. The mean is
        reported as is; `loyalty_index` uses the direction to orient the component.
    weights : array-like of numbers, optional
        Frequency or survey weights, one per answer, finite and non-negative.

    Returns
    -------
    float
        `mean`: a value on `scale`; `top_box`: a fraction in [0, 1]. `nan` when there is
        no valid answer or the valid answers' weights sum to 0.

    Raises
    ------
    TypeError
        If `scores` holds non-numbers, or `scale`, `method` or `higher_is_better` have the
        wrong type.
    ValueError
        If an answer is off `scale` or not whole, `threshold` is outside `scale`,
        `method` is unknown, or `weights` is invalid.

    See Also
    --------
    csat : Customer satisfaction, computed the same way.
    loyalty_index : Composite index; orient a CES mean with `IndexComponent`.

    Notes
    -----
    The scale alone does not tell the direction (a 1–5 scale may be an effort scale or
    an agreement scale), so the direction is never inferred.

    References
    ----------
    1. Dixon, M., Freeman, K., & Toman, N. (2010). Stop Trying to Delight Your
       Customers. *Harvard Business Review*, July–August 2010. (CES 1.0)
    2. Dixon, M., Toman, N., & DeLisi, R. (2013). *The Effortless Experience*.
       Portfolio/Penguin. (CES 2.0)

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.ces([7, 6, 5, 2])
    5.0
    >>> lm.ces([7, 6, 5, 2], method="top_box")
    0.75
    >>> lm.ces([1, 2, 4, 5], scale=(1, 5), threshold=2, method="top_box",
    ...        higher_is_better=False)
    0.5
    """
    low, high = v.check_scale(scale, "scale")
    v.check_choice(method, "method", _METHODS)
    v.check_bool(higher_is_better, "higher_is_better")
    x, w = _prepare(scores, weights, low, high)
    if method == "mean":
        return _mean(x, w)
    t = _threshold(threshold, low, high)
    return _share(x >= t if higher_is_better else x <= t, x, w)


@overload
def response_rate(responses: float, invited: float) -> float: ...
@overload
def response_rate(responses: RealInput, invited: RealInput) -> FloatArray: ...
def response_rate(responses: RealInput, invited: RealInput) -> Real:
    r"""Survey response rate: completed responses over the people invited.

    $$\mathrm{RR} = \frac{\text{responses}}{\text{invited}}$$

    This is AAPOR's Response Rate 1 when `invited` counts every eligible invitee (and
    cases of unknown eligibility) and `responses` counts complete interviews only.

    Parameters
    ----------
    responses : float or array-like
        Completed responses, non-negative and at most `invited`.
    invited : float or array-like
        People invited (the eligible sample), non-negative.

    Returns
    -------
    float or numpy.ndarray
        A fraction in [0, 1]; `nan` where `invited` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a count is negative or non-finite, `responses > invited`, or the shapes do
        not broadcast.

    References
    ----------
    1. The American Association for Public Opinion Research (2015). *Standard
       Definitions: Final Dispositions of Case Codes and Outcome Rates for Surveys*
       (8th ed.). AAPOR.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.response_rate(120, 1000)
    0.12
    >>> lm.response_rate([120, 0], [1000, 0])
    array([0.12,  nan])
    """
    return part_of_whole(responses, "responses", invited, "invited")
