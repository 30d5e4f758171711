"""Polars expressions: the formulas as aggregating ``polars.Expr``, same names as the top level.

Each function takes column names or expressions and returns an expression that
aggregates, so it works in ``select``, ``group_by().agg``, ``over`` and ``rolling``, eager or
lazy::

    from loyaltymetrics import expr as lmx
    df.group_by("segment").agg(lmx.nps("score"), lmx.csat("sat"), n=pl.len())

Two expressions are per row rather than aggregating: `loyalty_index` (a composite per
customer, row by row) and `engagement_score` (each signal ranked or scaled within the
frame, or within groups with ``.over(...)``); use them in ``with_columns``.

Conventions (shared by every expression):

* the output is named after the metric (`nps`, `csat`, ...) unless aliased;
* nulls and NaN are missing answers/values and are skipped;
* a group with no valid answers (or a zero denominator) gives null, never NaN;
* invalid values never pass silently: an answer off the scale, a negative or null weight
  for a valid answer, or a negative count make the query fail when it is collected, with
  an error that is both a ``ValueError`` and a ``polars.exceptions.InvalidOperationError``
  and whose first line names the metric, the problem, the number of offending values and
  one example (``nps: answers must be whole numbers from 0 to 10: 2 value(s), e.g.
  11.0``); polars appends the expression after a blank line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias

import polars as pl

from . import _validation as v
from ._index import IndexComponent, component_scale

_SMALLEST_NORMAL = 2.2250738585072014e-308
"""Smallest normal float64: a min-max span below it is scaled before the division."""
_SUBNORMAL_SCALE = 2.0**600

__all__ = [
    "average_order_value",
    "ces",
    "csat",
    "engagement_score",
    "loyalty_index",
    "nps",
    "purchase_frequency",
    "repeat_purchase_rate",
    "share_of_wallet",
]

IntoExprColumn: TypeAlias = pl.Expr | str
"""A column name or a polars expression."""


def _col(x: IntoExprColumn, name: str) -> pl.Expr:
    if isinstance(x, str):
        return pl.col(x)
    if isinstance(x, pl.Expr):
        return x
    raise TypeError(f"{name} must be a column name or a polars expression; got {type(x).__name__}")


def _fail_if(bad: pl.Expr, value: pl.Expr, problem: str) -> pl.Expr:
    """An Int8 zero, or a collect-time error naming ``problem``, the count and an example."""
    count = bad.sum()
    message = pl.format(
        "{}: {} value(s), e.g. {}", pl.lit(problem), count, value.filter(bad).first()
    )
    return v.raise_at_collect(pl.when(count > 0).then(message))


def _answers(
    scores: IntoExprColumn,
    weights: IntoExprColumn | None,
    low: float,
    high: float,
    metric: str,
) -> tuple[pl.Expr, pl.Expr | None, pl.Expr]:
    """Answers as Float64 with NaN as null, the weights of valid answers, and the guard."""
    x = _col(scores, "scores").cast(pl.Float64).fill_nan(None)
    off = x.is_not_null() & ((x < low) | (x > high) | (x.floor() != x))
    guard = _fail_if(
        off, x, f"{metric}: answers must be whole numbers from {v.fmt(low)} to {v.fmt(high)}"
    )
    if weights is None:
        return x, None, guard
    w = _col(weights, "weights").cast(pl.Float64)
    bad_w = x.is_not_null() & (w.is_null() | w.is_nan() | w.is_infinite() | (w < 0))
    guard = guard + _fail_if(
        bad_w, w, f"{metric}: weights must be finite and non-negative (no nulls)"
    )
    return x, pl.when(x.is_not_null()).then(w).otherwise(0.0), guard


def _mass(mask: pl.Expr, w: pl.Expr | None) -> pl.Expr:
    """Count (or weight) of the valid answers where ``mask`` holds."""
    if w is None:
        return mask.sum().cast(pl.Float64)
    return (w * mask.cast(pl.Float64)).sum()


def _share(mask: pl.Expr, x: pl.Expr, w: pl.Expr | None) -> pl.Expr:
    """Weighted share of valid answers where ``mask`` holds; null without valid answers."""
    total = x.count() if w is None else w.sum()
    return pl.when(total > 0).then(_mass(mask, w) / total)


def _mean(x: pl.Expr, w: pl.Expr | None) -> pl.Expr:
    if w is None:
        return pl.when(x.count() > 0).then(x.mean())
    total = w.sum()
    return pl.when(total > 0).then((w * x).sum() / total)


def nps(scores: IntoExprColumn, *, weights: IntoExprColumn | None = None) -> pl.Expr:
    r"""Net Promoter Score of a column of 0–10 answers, as an aggregating expression.

    $$\mathrm{NPS} = 100\,\frac{n_{9\text{–}10} - n_{0\text{–}6}}{n}$$

    Parameters
    ----------
    scores : str or polars.Expr
        Column of answers, whole numbers 0–10; nulls and NaN are missing and skipped.
    weights : str or polars.Expr, optional
        Column of frequency or survey weights, finite and non-negative for every valid
        answer.

    Returns
    -------
    polars.Expr
        Float64 named `nps`, in [−100, 100]; null for a group without valid answers.

    Raises
    ------
    polars.exceptions.InvalidOperationError
        At collect time, if an answer is not a whole number from 0 to 10 or a weight is
        invalid.

    See Also
    --------
    loyaltymetrics.nps : The same metric on an array.

    References
    ----------
    1. Reichheld, F. F. (2003). The One Number You Need to Grow. *Harvard Business
       Review*, 81(12), 46–54, 124.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import expr as lmx
    >>> df = pl.DataFrame({"seg": ["a", "a", "a", "b", "b"], "score": [10, 9, 3, 7, None]})
    >>> df.group_by("seg", maintain_order=True).agg(lmx.nps("score")).to_dicts()
    [{'seg': 'a', 'nps': 33.33333333333333}, {'seg': 'b', 'nps': 0.0}]
    """
    x, w, guard = _answers(scores, weights, 0.0, 10.0, "nps")
    # 100 (P - D) / n, in the same order of operations as loyaltymetrics.nps
    total = x.count() if w is None else w.sum()
    promoters = _mass(x >= 9, w)
    detractors = _mass(x <= 6, w)
    value = pl.when(total > 0).then(100.0 * (promoters - detractors) / total)
    return (value + guard).alias("nps")


_METHODS = ("top_box", "mean")


def csat(
    scores: IntoExprColumn,
    *,
    scale: tuple[float, float] = (1, 5),
    threshold: float | None = None,
    method: Literal["top_box", "mean"] = "top_box",
    weights: IntoExprColumn | None = None,
) -> pl.Expr:
    r"""Customer Satisfaction (top-box share or mean answer), as an aggregating expression.

    $$\mathrm{CSAT} = \frac{\#\{\text{answers} \ge \text{threshold}\}}{n}$$

    Parameters
    ----------
    scores : str or polars.Expr
        Column of answers, whole numbers on `scale`; nulls and NaN are skipped.
    scale : (int, int), default=(1, 5)
        Answer scale `(low, high)`.
    threshold : float, optional
        Lowest satisfied answer for `top_box`; `None` is `high − 1` (top-2-box).
    method : {"top_box", "mean"}, default="top_box"
        Top-box share or mean answer.
    weights : str or polars.Expr, optional
        Column of frequency or survey weights.

    Returns
    -------
    polars.Expr
        Float64 named `csat`: a share in [0, 1] or a mean on `scale`; null for a group
        without valid answers.

    Raises
    ------
    TypeError, ValueError
        At once, for invalid `scale`, `threshold` or `method`.
    polars.exceptions.InvalidOperationError
        At collect time, for answers off `scale` or invalid weights.

    See Also
    --------
    loyaltymetrics.csat : The same metric on an array.

    References
    ----------
    1. Fornell, C., Johnson, M. D., Anderson, E. W., Cha, J., & Bryant, B. E. (1996).
       The American Customer Satisfaction Index: Nature, Purpose, and Findings.
       *Journal of Marketing*, 60(4), 7–18.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import expr as lmx
    >>> pl.DataFrame({"sat": [5, 4, 3, 2, 5]}).select(lmx.csat("sat")).item()
    0.6
    """
    low, high = v.check_scale(scale, "scale")
    v.check_choice(method, "method", _METHODS)
    x, w, guard = _answers(scores, weights, low, high, "csat")
    if method == "mean":
        value = _mean(x, w)
    else:
        t = v.as_scalar(high - 1.0 if threshold is None else threshold, "threshold")
        v.check_in_range(t, "threshold", low, high, what="within scale")
        value = _share(x >= t, x, w)
    return (value + guard).alias("csat")


def ces(
    scores: IntoExprColumn,
    *,
    scale: tuple[float, float] = (1, 7),
    threshold: float = 5,
    method: Literal["mean", "top_box"] = "mean",
    higher_is_better: bool = True,
    weights: IntoExprColumn | None = None,
) -> pl.Expr:
    r"""Customer Effort Score (mean or share of "easy" answers), as an aggregating expression.

    $$\mathrm{CES}_{\text{mean}} = \frac{1}{n}\sum_i x_i,\qquad
      \mathrm{CES}_{\text{top box}} = \frac{\#\{x_i \ge \text{threshold}\}}{n}$$

    (`x_i <= threshold` when `higher_is_better=False`, the CES 1.0 effort scale).

    Parameters
    ----------
    scores : str or polars.Expr
        Column of answers, whole numbers on `scale`; nulls and NaN are skipped.
    scale : (int, int), default=(1, 7)
        Answer scale `(low, high)`.
    threshold : float, default=5
        Boundary of the "easy" box (top-box only).
    method : {"mean", "top_box"}, default="mean"
        Mean answer or top-box share.
    higher_is_better : bool, default=True
        `False` for effort scales, where the easy box is `answer <= threshold`.
    weights : str or polars.Expr, optional
        Column of frequency or survey weights.

    Returns
    -------
    polars.Expr
        Float64 named `ces`; null for a group without valid answers.

    Raises
    ------
    TypeError, ValueError
        At once, for invalid options.
    polars.exceptions.InvalidOperationError
        At collect time, for answers off `scale` or invalid weights.

    See Also
    --------
    loyaltymetrics.ces : The same metric on an array.

    References
    ----------
    1. Dixon, M., Toman, N., & DeLisi, R. (2013). *The Effortless Experience*.
       Portfolio/Penguin.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import expr as lmx
    >>> pl.DataFrame({"effort": [7, 6, 5, 2]}).select(lmx.ces("effort")).item()
    5.0
    """
    low, high = v.check_scale(scale, "scale")
    v.check_choice(method, "method", _METHODS)
    v.check_bool(higher_is_better, "higher_is_better")
    x, w, guard = _answers(scores, weights, low, high, "ces")
    if method == "mean":
        value = _mean(x, w)
    else:
        t = v.as_scalar(threshold, "threshold")
        v.check_in_range(t, "threshold", low, high, what="within scale")
        value = _share(x >= t if higher_is_better else x <= t, x, w)
    return (value + guard).alias("ces")


def _nonneg(x: pl.Expr, metric: str, what: str) -> tuple[pl.Expr, pl.Expr]:
    values = x.cast(pl.Float64).fill_nan(None)
    guard = _fail_if(
        values.is_not_null() & ((values < 0) | values.is_infinite()),
        values,
        f"{metric}: {what} must be finite and non-negative",
    )
    return values, guard


def _ratio_of_sums(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    total = den.sum()
    return pl.when(total > 0).then(num.sum() / total)


def average_order_value(revenue: IntoExprColumn, orders: IntoExprColumn | None = None) -> pl.Expr:
    r"""Average order value, as a ratio of sums: $\sum$ revenue / $\sum$ orders.

    $$\mathrm{AOV} = \frac{\sum \text{revenue}}{\sum \text{orders}}$$

    Parameters
    ----------
    revenue : str or polars.Expr
        Revenue column, non-negative. Nulls are skipped (with their orders).
    orders : str or polars.Expr, optional
        Orders column (per-customer or per-period totals). `None` means each row is one
        order (an order log), so the AOV is the mean non-null revenue.

    Returns
    -------
    polars.Expr
        Float64 named `average_order_value`; null when there are no orders.

    Raises
    ------
    polars.exceptions.InvalidOperationError
        At collect time, for negative or infinite values.

    See Also
    --------
    loyaltymetrics.average_order_value : The scalar formula.

    Notes
    -----
    A ratio of sums, never the mean of per-customer AOVs.

    References
    ----------
    1. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.). Pearson.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import expr as lmx
    >>> df = pl.DataFrame({"revenue": [100.0, 50.0], "orders": [3, 1]})
    >>> df.select(lmx.average_order_value("revenue", "orders")).item()
    37.5
    """
    r, guard = _nonneg(_col(revenue, "revenue"), "average_order_value", "revenue")
    if orders is None:
        return (_ratio_of_sums(r, r.is_not_null().cast(pl.Float64)) + guard).alias(
            "average_order_value"
        )
    o, g2 = _nonneg(_col(orders, "orders"), "average_order_value", "orders")
    both = r.is_not_null() & o.is_not_null()
    value = _ratio_of_sums(pl.when(both).then(r), pl.when(both).then(o))
    return (value + guard + g2).alias("average_order_value")


def purchase_frequency(orders: IntoExprColumn) -> pl.Expr:
    r"""Purchase frequency over a per-customer column of order counts: orders per customer.

    $$F = \frac{\sum_i \text{orders}_i}{\#\text{customers}}$$

    Parameters
    ----------
    orders : str or polars.Expr
        Orders per customer (one row per customer), non-negative. Nulls are skipped.

    Returns
    -------
    polars.Expr
        Float64 named `purchase_frequency`; null for a group without customers.

    Raises
    ------
    polars.exceptions.InvalidOperationError
        At collect time, for negative or infinite counts.

    See Also
    --------
    loyaltymetrics.purchase_frequency : The scalar formula.

    References
    ----------
    1. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.). Pearson.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import expr as lmx
    >>> pl.DataFrame({"orders": [1, 2, 3]}).select(lmx.purchase_frequency("orders")).item()
    2.0
    """
    o, guard = _nonneg(_col(orders, "orders"), "purchase_frequency", "orders")
    return (_ratio_of_sums(o, o.is_not_null().cast(pl.Float64)) + guard).alias("purchase_frequency")


def repeat_purchase_rate(orders: IntoExprColumn) -> pl.Expr:
    r"""Repeat purchase rate over a per-customer column of order counts.

    $$\mathrm{RPR} = \frac{\#\{i : \text{orders}_i \ge 2\}}{\#\{i : \text{orders}_i \ge 1\}}$$

    Parameters
    ----------
    orders : str or polars.Expr
        Orders per customer in the window, non-negative. Customers with 0 orders are not
        buyers and are outside the denominator; nulls are skipped.

    Returns
    -------
    polars.Expr
        Float64 named `repeat_purchase_rate` in [0, 1]; null for a group without buyers.

    Raises
    ------
    polars.exceptions.InvalidOperationError
        At collect time, for negative or infinite counts.

    See Also
    --------
    loyaltymetrics.repeat_purchase_rate : The scalar formula.

    References
    ----------
    1. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.). Pearson.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import expr as lmx
    >>> df = pl.DataFrame({"orders": [0, 1, 2, 5]})
    >>> round(df.select(lmx.repeat_purchase_rate("orders")).item(), 4)
    0.6667
    """
    o, guard = _nonneg(_col(orders, "orders"), "repeat_purchase_rate", "orders")
    return (_ratio_of_sums((o >= 2).cast(pl.Float64), (o >= 1).cast(pl.Float64)) + guard).alias(
        "repeat_purchase_rate"
    )


def share_of_wallet(brand_spend: IntoExprColumn, category_spend: IntoExprColumn) -> pl.Expr:
    r"""Spend-weighted share of wallet: $\sum$ brand spend / $\sum$ category spend.

    $$\mathrm{SoW} = \frac{\sum_i b_i}{\sum_i c_i}$$

    Parameters
    ----------
    brand_spend : str or polars.Expr
        Spend with the brand, non-negative and at most `category_spend` on every row.
    category_spend : str or polars.Expr
        Total category spend, non-negative. Rows with a null in either column are skipped.

    Returns
    -------
    polars.Expr
        Float64 named `share_of_wallet` in [0, 1]; null when the category spend sums to 0.

    Raises
    ------
    polars.exceptions.InvalidOperationError
        At collect time, for negative values or brand spend above category spend.

    See Also
    --------
    loyaltymetrics.share_of_wallet : The scalar formula.

    Notes
    -----
    The spend-weighted share, not the mean of customers' individual shares.

    References
    ----------
    1. Keiningham, T. L., Aksoy, L., Buoye, A., & Cooil, B. (2011). Customer Loyalty
       Isn't Enough. Grow Your Share of Wallet. *Harvard Business Review*, October 2011.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import expr as lmx
    >>> df = pl.DataFrame({"brand": [30.0, 10.0], "category": [100.0, 60.0]})
    >>> df.select(lmx.share_of_wallet("brand", "category")).item()
    0.25
    """
    b, g1 = _nonneg(_col(brand_spend, "brand_spend"), "share_of_wallet", "brand_spend")
    c, g2 = _nonneg(_col(category_spend, "category_spend"), "share_of_wallet", "category_spend")
    both = b.is_not_null() & c.is_not_null()
    g3 = _fail_if(both & (b > c), b, "share_of_wallet: brand_spend cannot exceed category_spend")
    value = _ratio_of_sums(pl.when(both).then(b), pl.when(both).then(c))
    return (value + g1 + g2 + g3).alias("share_of_wallet")


def _weights(names: Sequence[str], weights: Mapping[str, float] | None) -> list[float]:
    if weights is not None and not isinstance(weights, Mapping):
        raise TypeError(
            f"weights must be a mapping of names to weights; got {type(weights).__name__}"
        )
    out: list[float] = []
    for name in names:
        if weights is None:
            out.append(1.0)
            continue
        if name not in weights:
            raise ValueError(f"weights has no entry for {name!r}")
        w = v.as_scalar(weights[name], f"weights[{name!r}]")
        v.check_nonnegative(w, f"weights[{name!r}]")
        out.append(w)
    if not sum(out) > 0:
        raise ValueError(f"the weights sum to 0: {dict(zip(names, out, strict=True))}")
    return out


def _available_case_mean(scores: list[pl.Expr], w: list[float]) -> pl.Expr:
    """Row-wise weighted mean of the non-null scores, weights renormalised per row."""
    num = pl.sum_horizontal([s * wj for s, wj in zip(scores, w, strict=True)])
    present = [s.is_not_null().cast(pl.Float64) * wj for s, wj in zip(scores, w, strict=True)]
    den = pl.sum_horizontal(present)
    return pl.when(den > 0).then(num / den)


def loyalty_index(
    components: Mapping[str, IntoExprColumn | IndexComponent],
    *,
    weights: Mapping[str, float] | None = None,
) -> pl.Expr:
    r"""The composite loyalty index per row (per customer), as a polars expression.

    Row by row the same formula as `loyaltymetrics.loyalty_index`: each component is
    mapped onto 0–100 by its nominal range and the mapped values are averaged with
    normalised weights,

    $$\mathrm{LI} = \frac{\sum_j w_j s_j}{\sum_j w_j},\qquad
      s_j = 100\,\frac{x_j - a_j}{b_j - a_j}$$

    (or $100\,(b_j - x_j)/(b_j - a_j)$ where lower is better). Ranges follow the scalar
    function: a column named `"nps"` is in points (−100..100), any other plain column is
    a rate or share in 0..1, and an `IndexComponent` whose `value` is a column name or
    expression gives its own scale and direction.

    Parameters
    ----------
    components : mapping of str to column name, expression or IndexComponent
        The named components, at least one.
    weights : mapping of str to float, optional
        Non-negative weights by component name, normalised; default equal.

    Returns
    -------
    polars.Expr
        Float64 named `loyalty_index` in [0, 100], one value per row. A null or NaN
        component is left out of that row (its weight is dropped and the others
        renormalised, as the scalar function does for a component not given); a row
        with no component is null.

    Raises
    ------
    TypeError, ValueError
        At once, for malformed components or weights (as the scalar function).
    polars.exceptions.InvalidOperationError
        At collect time, if a value lies outside its component's range.

    See Also
    --------
    loyaltymetrics.loyalty_index : The index of aggregate values. The mean of
        per-customer indices differs from the index of the means when components are
        missing for some customers.

    References
    ----------
    1. Hayes, B. E. (2008). The True Test of Loyalty. *Quality Progress*, June 2008,
       20–26.

    Examples
    --------
    >>> import polars as pl
    >>> import loyaltymetrics as lm
    >>> from loyaltymetrics import expr as lmx
    >>> df = pl.DataFrame({"nps": [30.0, 80.0], "repeat": [0.85, None], "sat": [4.2, 3.0]})
    >>> df.select(lmx.loyalty_index({
    ...     "nps": "nps", "repeat": "repeat", "csat": lm.IndexComponent("sat", scale=(1, 5)),
    ... })).to_series().round(2).to_list()
    [76.67, 70.0]
    """
    if not isinstance(components, Mapping):
        raise TypeError(
            "components must be a mapping of component names to columns; "
            f"got {type(components).__name__}"
        )
    if not components:
        raise ValueError("components must name at least one component; got an empty mapping")
    names = list(components)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"component names must be strings; got {name!r}")
    w = _weights(names, weights)
    scores: list[pl.Expr] = []
    guard: pl.Expr = pl.lit(0, dtype=pl.Int8)
    for name, comp in components.items():
        value, low, high, higher = component_scale(name, comp)
        x = _col(value, f"components[{name!r}]").cast(pl.Float64).fill_nan(None)
        off = x.is_not_null() & ((x < low) | (x > high))
        guard = guard + _fail_if(
            off,
            x,
            f"loyalty_index: components[{name!r}] must lie in [{v.fmt(low)}, {v.fmt(high)}]",
        )
        span = high - low
        scores.append(((x - low) if higher else (high - x)) * (100.0 / span))
    return (_available_case_mean(scores, w).clip(0.0, 100.0) + guard).alias("loyalty_index")


def engagement_score(
    signals: Sequence[IntoExprColumn],
    *,
    weights: Sequence[float] | None = None,
    normalize: Literal["percentile", "minmax"] = "percentile",
) -> pl.Expr:
    r"""A 0–100 engagement score per row from any number of activity signals.

    Each signal (site visits, dwell time, email opens, social interactions, coupon uses,
    membership as 0/1, …; higher = more engaged) is normalised over the rows of the frame
    (or of each group, with ``.over(...)``), then the normalised signals are averaged
    with normalised weights:

    * `"percentile"` (default): the percentile rank
      $u = 100\,(c_{<} + \tfrac12 c_{=})/n$, where $c_<$ and $c_=$ count the rows
      below and equal to the value and $n$ the rows with a value. Robust to outliers and
      to skew; ties share a value; a constant signal maps to 50.
    * `"minmax"`: $u = 100\,(x - \min)/(\max - \min)$ over the rows; sensitive to
      outliers; a constant signal maps to 50.

    $$E = \frac{\sum_j w_j u_j}{\sum_j w_j}$$

    There is no standard engagement score; it is a vendor-defined weighted sum of
    normalised activity signals, and this is that recipe with the normalisation stated.
    Both normalisations are relative to the population scored, so scores are not
    comparable across populations or over time.

    Parameters
    ----------
    signals : sequence of str or polars.Expr
        The signal columns, at least one; numeric. Nulls and NaN are missing; an
        infinite value is an error.
    weights : sequence of float, optional
        One non-negative weight per signal, normalised; default equal.
    normalize : {"percentile", "minmax"}, default="percentile"
        How each signal is put on 0–100.

    Returns
    -------
    polars.Expr
        Float64 named `engagement_score` in [0, 100]. A missing signal is left out of
        that row's mean (weights renormalised); a row without any signal is null.

    Raises
    ------
    TypeError
        If a signal is not a column name or expression, or `weights` is not a sequence.
    ValueError
        If there are no signals, the weights do not match the signals, are negative or
        sum to 0, or `normalize` is unknown.
    polars.exceptions.InvalidOperationError
        At collect time, if a signal holds an infinite value.

    References
    ----------
    1. Crocker, L., & Algina, J. (1986). *Introduction to Classical and Modern Test
       Theory*. Holt, Rinehart and Winston. (Percentile ranks, mid-point convention.)

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import expr as lmx
    >>> df = pl.DataFrame({"visits": [1, 5, 5, 20], "opens": [0, 2, None, 4]})
    >>> df.with_columns(lmx.engagement_score(["visits", "opens"]))["engagement_score"].to_list()
    [14.583333333333332, 50.0, 50.0, 85.41666666666666]
    """
    if isinstance(signals, str | pl.Expr) or not isinstance(signals, Sequence):
        raise TypeError(
            "signals must be a sequence of column names or expressions; "
            f"got {type(signals).__name__}"
        )
    if not signals:
        raise ValueError("signals must name at least one signal; got an empty sequence")
    if normalize not in ("percentile", "minmax"):
        raise ValueError(f"normalize must be 'percentile' or 'minmax'; got {normalize!r}")
    if weights is None:
        w = [1.0] * len(signals)
    else:
        if isinstance(weights, str) or not isinstance(weights, Sequence):
            raise TypeError(f"weights must be a sequence of numbers; got {type(weights).__name__}")
        if len(weights) != len(signals):
            raise ValueError(
                f"weights has {len(weights)} entries but there are {len(signals)} signals"
            )
        w = []
        for i, wi in enumerate(weights):
            value = v.as_scalar(wi, f"weights[{i}]")
            v.check_nonnegative(value, f"weights[{i}]")
            w.append(value)
        if not sum(w) > 0:
            raise ValueError(f"the weights sum to 0: {list(weights)}")
    scores: list[pl.Expr] = []
    guard: pl.Expr = pl.lit(0, dtype=pl.Int8)
    for i, sig in enumerate(signals):
        x = _col(sig, f"signals[{i}]").cast(pl.Float64).fill_nan(None)
        guard = guard + _fail_if(
            x.is_infinite(), x, f"engagement_score: signals[{i}] must be finite"
        )
        if normalize == "percentile":
            n = x.count()
            u = (x.rank(method="average") - 0.5) / n * 100.0
        else:
            lo, hi = x.min(), x.max()
            span = hi - lo
            # polars divides a column by a scalar as a product with its reciprocal, which
            # is inf for a subnormal span (values within 2.2e-308 of each other): such a
            # span and the differences are scaled up by 2**600 first (exact, no overflow);
            # a span beyond the largest float (values near ±1.8e308) is halved instead
            scaled = ((x - lo) * _SUBNORMAL_SCALE) / (span * _SUBNORMAL_SCALE)
            halved = (x * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5)
            ratio = (
                pl.when(span.is_infinite())
                .then(halved)
                .when(span >= _SMALLEST_NORMAL)
                .then((x - lo) / span)
                .otherwise(scaled)
            )
            u = pl.when(hi > lo).then(ratio * 100.0).otherwise(50.0)
            u = pl.when(x.is_not_null()).then(u)
        scores.append(u)
    return (_available_case_mean(scores, w).clip(0.0, 100.0) + guard).alias("engagement_score")
