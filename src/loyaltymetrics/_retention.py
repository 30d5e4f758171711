"""Customer-base metrics: retention, churn, rate conversion and revenue retention."""

from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np

from . import _validation as v
from ._array import clip, counts, part_of_whole, ratio, real_args
from ._typing import FloatArray, Real, RealInput


@overload
def retention_rate(
    customers_start: float,
    customers_end: float,
    customers_new: float,
    *,
    customers_reactivated: float = 0,
) -> float: ...
@overload
def retention_rate(
    customers_start: RealInput,
    customers_end: RealInput,
    customers_new: RealInput,
    *,
    customers_reactivated: RealInput = 0,
) -> FloatArray: ...
def retention_rate(
    customers_start: RealInput,
    customers_end: RealInput,
    customers_new: RealInput,
    *,
    customers_reactivated: RealInput = 0,
) -> Real:
    r"""Customer retention rate over one period: the share of starting customers still active.

    $$r = \frac{E - N - R}{S}$$

    with $S$ customers at the start of the period, $E$ at the end, $N$ new customers
    acquired during the period and $R$ lapsed customers who came back (reactivated).
    With no reactivations this is the textbook $(E - N)/S$.

    Parameters
    ----------
    customers_start : float or array-like
        $S$, customers at the start of the period, non-negative.
    customers_end : float or array-like
        $E$, customers at the end of the period, non-negative.
    customers_new : float or array-like
        $N$, customers acquired during the period (in $E$), non-negative.
    customers_reactivated : float or array-like, default=0
        $R$, previously lapsed customers who returned during the period (in $E$).

    Returns
    -------
    float or numpy.ndarray
        A fraction in [0, 1]; `nan` where `customers_start` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a count is negative or non-finite, `customers_new + customers_reactivated`
        exceeds `customers_end`, `customers_end − customers_new − customers_reactivated`
        exceeds `customers_start` (retention above 1), or the shapes do not broadcast.

    See Also
    --------
    churn_rate : $L/S$; with $E = S - L + N + R$, retention + churn = 1.
    convert_rate : Convert a monthly rate to an annual one (by compounding).

    Notes
    -----
    Retention and churn sum to 1 only when returning lapsed customers are counted in
    `customers_reactivated` (or in `customers_new`); otherwise $(E - N)/S$ is inflated by
    reactivations. `tables.period_summary` counts them separately.

    References
    ----------
    1. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.), ch. 5 (customer retention). Pearson.
    2. Gold, C. (2020). *Fighting Churn with Data*, ch. 2. Manning.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.retention_rate(200, 210, 30)       # (210 - 30) / 200
    0.9
    >>> lm.retention_rate(200, 210, 30, customers_reactivated=10)
    0.85
    >>> lm.retention_rate(0, 5, 5)
    nan
    """
    names = ("customers_start", "customers_end", "customers_new", "customers_reactivated")
    s, e, n, r = counts(names, customers_start, customers_end, customers_new, customers_reactivated)
    joining = n + r
    v.check_not_greater(joining, "customers_new + customers_reactivated", e, "customers_end")
    kept = e - joining
    v.check_not_greater(
        kept, "customers_end - customers_new - customers_reactivated", s, "customers_start"
    )
    return clip(ratio(kept, s), 0.0, 1.0)


@overload
def churn_rate(customers_start: float, customers_lost: float) -> float: ...
@overload
def churn_rate(customers_start: RealInput, customers_lost: RealInput) -> FloatArray: ...
def churn_rate(customers_start: RealInput, customers_lost: RealInput) -> Real:
    r"""Customer churn rate over one period: the share of starting customers lost.

    $$c = \frac{L}{S}$$

    Parameters
    ----------
    customers_start : float or array-like
        $S$, customers at the start of the period, non-negative.
    customers_lost : float or array-like
        $L$, customers active at the start and not at the end, at most $S$.

    Returns
    -------
    float or numpy.ndarray
        A fraction in [0, 1]; `nan` where `customers_start` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a count is negative or non-finite, `customers_lost > customers_start`, or the
        shapes do not broadcast.

    See Also
    --------
    retention_rate : $(E - N - R)/S = 1 - L/S$.
    convert_rate : Convert a monthly rate to an annual one (by compounding).

    Notes
    -----
    Only the start-of-period denominator makes churn a probability; pool several periods
    or segments as $\sum L / \sum S$, not as the mean of the rates.

    References
    ----------
    1. Gold, C. (2020). *Fighting Churn with Data*, ch. 2. Manning.
    2. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.), ch. 5. Pearson.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.churn_rate(200, 30)
    0.15
    >>> lm.churn_rate([200, 0], [30, 0])
    array([0.15,  nan])
    """
    return part_of_whole(customers_lost, "customers_lost", customers_start, "customers_start")


_KINDS = ("churn", "retention")


@overload
def convert_rate(
    rate: float,
    *,
    from_periods: float = 1,
    to_periods: float = 12,
    kind: Literal["churn", "retention"] = "churn",
) -> float: ...
@overload
def convert_rate(
    rate: RealInput,
    *,
    from_periods: RealInput = 1,
    to_periods: RealInput = 12,
    kind: Literal["churn", "retention"] = "churn",
) -> FloatArray: ...
def convert_rate(
    rate: RealInput,
    *,
    from_periods: RealInput = 1,
    to_periods: RealInput = 12,
    kind: Literal["churn", "retention"] = "churn",
) -> Real:
    r"""Convert a churn or retention rate from one period length to another by compounding.

    With $k = \text{to\_periods} / \text{from\_periods}$:

    $$c_{\text{to}} = 1 - (1 - c_{\text{from}})^{k},\qquad r_{\text{to}} = r_{\text{from}}^{k}$$

    A monthly churn of 5 % is an annual churn of $1 - 0.95^{12} = 46\%$, not $60\%$:
    never multiply a rate by 12.

    Parameters
    ----------
    rate : float or array-like
        The rate measured over `from_periods` periods, a fraction in [0, 1].
    from_periods : float, default=1
        Length of the period the rate was measured over (e.g. 1 month), positive.
    to_periods : float, default=12
        Length of the period to convert to, in the same unit (e.g. 12 months), positive.
    kind : {"churn", "retention"}, default="churn"
        Whether `rate` is a churn-type rate (share lost) or a retention-type rate
        (share kept).

    Returns
    -------
    float or numpy.ndarray
        The rate over `to_periods`, a fraction in [0, 1]. A churn of 1 stays 1; a
        retention of 0 stays 0.

    Raises
    ------
    TypeError
        If an argument has the wrong type, or `kind` is not a string.
    ValueError
        If `rate` is outside [0, 1], a period length is not positive and finite, or
        `kind` is unknown.

    Notes
    -----
    Compounding assumes a constant per-period hazard over the horizon and the same
    customer base; churn and retention conversions are consistent:
    `convert_rate(c, kind="churn") == 1 - convert_rate(1 - c, kind="retention")`.

    References
    ----------
    1. Gold, C. (2020). *Fighting Churn with Data*, ch. 2 (converting churn rates between
       measurement periods). Manning.
    2. Fader, P. S., & Hardie, B. G. S. (2007). How to Project Customer Retention.
       *Journal of Interactive Marketing*, 21(1), 76–90.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> round(lm.convert_rate(0.05), 4)                     # monthly -> annual churn
    0.4596
    >>> round(lm.convert_rate(0.30, from_periods=12, to_periods=1), 4)
    0.0293
    >>> round(lm.convert_rate(0.9, from_periods=12, to_periods=1, kind="retention"), 4)
    0.9913
    """
    v.check_choice(kind, "kind", _KINDS)
    x, f, t = real_args(("rate", "from_periods", "to_periods"), rate, from_periods, to_periods)
    v.check_in_range(x, "rate", 0.0, 1.0)
    v.check_in_range(f, "from_periods", 0.0, np.inf, low_open=True)
    v.check_in_range(t, "to_periods", 0.0, np.inf, low_open=True)
    if type(x) is float and type(f) is float and type(t) is float:
        k = t / f
        if kind == "churn":
            out = 1.0 if x == 1.0 else -math.expm1(k * math.log1p(-x))
        else:
            out = 0.0 if x == 0.0 else math.exp(k * math.log(x))
        return clip(out, 0.0, 1.0)
    k_arr = np.divide(t, f)
    xa = np.asarray(x, dtype=np.float64)
    # log1p/expm1 keep small rates exact; errstate covers rate == 1 (churn) or 0 (retention).
    with np.errstate(divide="ignore"):
        arr = -np.expm1(k_arr * np.log1p(-xa)) if kind == "churn" else np.exp(k_arr * np.log(xa))
    return np.clip(np.asarray(arr, dtype=np.float64), 0.0, 1.0)


@overload
def net_revenue_retention(
    revenue_start: float, expansion: float, contraction: float, churned: float
) -> float: ...
@overload
def net_revenue_retention(
    revenue_start: RealInput, expansion: RealInput, contraction: RealInput, churned: RealInput
) -> FloatArray: ...
def net_revenue_retention(
    revenue_start: RealInput, expansion: RealInput, contraction: RealInput, churned: RealInput
) -> Real:
    r"""Net revenue retention (NRR, net dollar retention) of an existing customer base.

    $$\mathrm{NRR} = \frac{S + X - C - L}{S}$$

    with $S$ the recurring revenue (MRR or ARR) of the customers present at the start,
    $X$ their expansion (upsell, cross-sell), $C$ their contraction (downgrades) and $L$
    the revenue of those who churned. Revenue from new customers is excluded.

    Parameters
    ----------
    revenue_start : float or array-like
        $S$, non-negative.
    expansion : float or array-like
        $X$, non-negative.
    contraction : float or array-like
        $C$, non-negative.
    churned : float or array-like
        $L$, non-negative; $C + L \le S$.

    Returns
    -------
    float or numpy.ndarray
        A ratio $\ge 0$ (unbounded above); above 1 is "negative churn". `nan` where
        `revenue_start` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If an amount is negative or non-finite, `contraction + churned > revenue_start`,
        or the shapes do not broadcast.

    See Also
    --------
    gross_revenue_retention : The same without expansion, at most 1.

    Notes
    -----
    Net revenue churn is $1 - \mathrm{NRR}$. Some tools omit contraction
    ($1 - (L - X)/S$); that is not this definition.

    References
    ----------
    1. Gold, C. (2020). *Fighting Churn with Data*, ch. 2 (net retention and MRR
       churn). Manning.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.net_revenue_retention(10.0, 1.8, 0.6, 0.9)     # (10 + 1.8 - 0.6 - 0.9) / 10
    1.03
    """
    names = ("revenue_start", "expansion", "contraction", "churned")
    s, x, c, lost = counts(names, revenue_start, expansion, contraction, churned)
    v.check_not_greater(c + lost, "contraction + churned", s, "revenue_start")
    return clip(ratio(s + x - c - lost, s), 0.0, np.inf)


@overload
def gross_revenue_retention(revenue_start: float, contraction: float, churned: float) -> float: ...
@overload
def gross_revenue_retention(
    revenue_start: RealInput, contraction: RealInput, churned: RealInput
) -> FloatArray: ...
def gross_revenue_retention(
    revenue_start: RealInput, contraction: RealInput, churned: RealInput
) -> Real:
    r"""Gross revenue retention (GRR): the share of starting recurring revenue kept.

    $$\mathrm{GRR} = \frac{S - C - L}{S}$$

    with $S$ the starting recurring revenue of the existing customers, $C$ contraction and
    $L$ churned revenue. Expansion is ignored, so GRR never exceeds 1.

    Parameters
    ----------
    revenue_start : float or array-like
        $S$, non-negative.
    contraction : float or array-like
        $C$, non-negative.
    churned : float or array-like
        $L$, non-negative; $C + L \le S$.

    Returns
    -------
    float or numpy.ndarray
        A fraction in [0, 1]; `nan` where `revenue_start` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If an amount is negative or non-finite, `contraction + churned > revenue_start`,
        or the shapes do not broadcast.

    See Also
    --------
    net_revenue_retention : Includes expansion; $\mathrm{NRR} \ge \mathrm{GRR}$.

    References
    ----------
    1. Gold, C. (2020). *Fighting Churn with Data*, ch. 2. Manning.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.gross_revenue_retention(10.0, 0.6, 0.9)
    0.85
    """
    names = ("revenue_start", "contraction", "churned")
    s, c, lost = counts(names, revenue_start, contraction, churned)
    v.check_not_greater(c + lost, "contraction + churned", s, "revenue_start")
    return clip(ratio(s - c - lost, s), 0.0, 1.0)
