"""Segmentation: RFM quantile scores and segments, and rule-based customer labels."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import polars as pl

from ._engine import PolarsFrame, table
from ._plumbing import check_no_nulls, lazy_null_guard, schema_of

SEGMENT_NAMES: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Needs Attention",
    "At Risk",
    "Cannot Lose",
    "Hibernating",
    "Lost",
)


def _grid(rows: dict[int, tuple[str, str, str, str, str]]) -> dict[tuple[int, int], str]:
    return {(r, fm): name for r, names in rows.items() for fm, name in enumerate(names, 1)}


DEFAULT_SEGMENTS: Mapping[tuple[int, int], str] = _grid(
    {  # recency score -> segment for FM score 1, 2, 3, 4, 5
        5: ("New", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"),
        4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal", "Champions"),
        3: ("Needs Attention", "Needs Attention", "Needs Attention", "Loyal", "Loyal"),
        2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Cannot Lose"),
        1: ("Lost", "Hibernating", "At Risk", "At Risk", "Cannot Lose"),
    }
)
"""The default (recency score, FM score) → segment map of `rfm_segments` (bins=5)."""

_RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")


def _score(x: pl.Expr, bins: int) -> pl.Expr:
    """1 + floor(bins (rank_min − 1) / n): quantile score, ties share their lowest score."""
    n = x.count()
    rank = x.rank(method="min")
    return (((rank - 1) * bins) // n + 1).clip(upper_bound=bins).cast(pl.Int8)


def _check_segment_map(segments: object, bins: int) -> dict[tuple[int, int], str]:
    if not isinstance(segments, Mapping):
        raise TypeError(
            "segments must be a mapping of (r_score, fm_score) to a segment name; "
            f"got {type(segments).__name__}"
        )
    out: dict[tuple[int, int], str] = {}
    for key, name in segments.items():
        ok = (
            isinstance(key, tuple)
            and len(key) == 2
            and all(isinstance(k, int) and not isinstance(k, bool) for k in key)
        )
        if not ok or not all(1 <= k <= bins for k in key):
            raise ValueError(
                f"segments keys must be (r_score, fm_score) pairs of ints from 1 to {bins}; "
                f"got {key!r}"
            )
        if not isinstance(name, str):
            raise TypeError(f"segments[{key!r}] must be a segment name (str); got {name!r}")
        out[key] = name
    missing = [(r, f) for r in range(1, bins + 1) for f in range(1, bins + 1) if (r, f) not in out]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(
            f"segments must give a name to every (r_score, fm_score) cell; {len(missing)} "
            f"of {bins * bins} are missing: {shown}"
        )
    return out


@table()
def rfm_segments(
    rfm: PolarsFrame,
    *,
    bins: int = 5,
    segments: Mapping[tuple[int, int], str] | None = None,
) -> PolarsFrame:
    r"""RFM quantile scores (1 = worst, `bins` = best) and a named segment per customer.

    Works on the output of `rfm_summary` (with `amount`), whose columns are the BTYD
    summary: the three RFM signals are

    * recency: time since the last purchase, $T - t_x$ (less is better, so scored
      on $-(T - t_x)$);
    * frequency: repeat purchases $x$;
    * monetary: `monetary_value`, the mean value of the repeat purchases (0 for one-time
      buyers).

    Each signal is cut into `bins` quantile groups over all customers (Hughes' quintile
    scoring):

    $$\text{score} = 1 + \left\lfloor \text{bins}\,\frac{\operatorname{rank}_{\min} - 1}{n}
      \right\rfloor$$

    **Ties** take the rank of their first member (`rank(method="min")`), so customers
    with identical values always share a score, and a block of ties that spans several
    quantiles gets the lowest of them (the one-time buyers' frequency 0 scores 1 however
    many they are; some higher scores may then be empty). A single customer, or a
    population with one value, scores 1.

    **Segments** come from the recency score $R$ and the combined frequency–monetary
    score $FM = \lceil (F + M)/2 \rceil$, through a map of every $(R, FM)$ cell. The
    default map (bins=5) is a convention, not a standard:

    | R ↓ FM → | 1 | 2 | 3 | 4 | 5 |
    |---|---|---|---|---|---|
    | 5 | New | Potential Loyalist | Potential Loyalist | Champions | Champions |
    | 4 | Promising | Potential Loyalist | Potential Loyalist | Loyal | Champions |
    | 3 | Needs Attention | Needs Attention | Needs Attention | Loyal | Loyal |
    | 2 | Hibernating | Hibernating | At Risk | At Risk | Cannot Lose |
    | 1 | Lost | Hibernating | At Risk | At Risk | Cannot Lose |

    It follows the recency × frequency grid that practitioners use under these names
    (recent and frequent: Champions; frequent but lapsed: At Risk / Cannot Lose;
    recent but one-off: New / Promising; lapsed and one-off: Hibernating / Lost).

    Parameters
    ----------
    rfm : polars.DataFrame or polars.LazyFrame
        Per-customer `frequency`, `recency`, `T` and `monetary_value` (as from
        `rfm_summary(..., amount=...)`); other columns are kept.
    bins : int, default=5
        Number of quantile groups per signal, 2–20.
    segments : mapping of (int, int) to str, optional
        A segment name for every `(r_score, fm_score)` cell, each score from 1 to
        `bins`. Required when `bins` is not 5.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The input plus `r_score`, `f_score`, `m_score` (Int8) and `segment` (an Enum in
        the map's order). Same kind as `rfm`.

    Raises
    ------
    TypeError
        If `rfm` is not a polars frame, `bins` is not an int, or the map is malformed.
    ValueError
        If a column is missing, `bins` is outside 2–20, the map misses a cell, or (for a
        DataFrame) a column has nulls; for a LazyFrame nulls raise
        ``polars.exceptions.InvalidOperationError`` at collect time.

    References
    ----------
    1. Hughes, A. M. (1994). *Strategic Database Marketing*. Probus. (Quintile RFM
       scoring, 5 = best.)
    2. Bult, J. R., & Wansbeek, T. (1995). Optimal Selection for Direct Mail.
       *Marketing Science*, 14(4), 378–394.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import tables
    >>> rfm = pl.DataFrame({
    ...     "customer_id": [1, 2, 3, 4, 5],
    ...     "frequency": [0, 1, 4, 9, 2],
    ...     "recency": [0.0, 10.0, 30.0, 38.0, 5.0],
    ...     "T": [2.0, 39.0, 39.0, 39.0, 39.0],
    ...     "monetary_value": [0.0, 20.0, 35.0, 50.0, 15.0],
    ... })
    >>> out = tables.rfm_segments(rfm)
    >>> out.select("customer_id", "r_score", "f_score", "m_score", "segment").rows()
    [(1, 4, 1, 1, 'Promising'), (2, 2, 2, 3, 'At Risk'), (3, 3, 4, 4, 'Loyal'),
     (4, 5, 5, 5, 'Champions'), (5, 1, 3, 2, 'At Risk')]
    """
    lf, schema = schema_of(rfm, "rfm")
    if isinstance(bins, bool) or not isinstance(bins, int):
        raise TypeError(f"bins must be an int; got {type(bins).__name__} {bins!r}")
    if not 2 <= bins <= 20:
        raise ValueError(f"bins must be from 2 to 20; got bins={bins}")
    if segments is None:
        if bins != 5:
            raise ValueError(
                f"the default segment map is defined for bins=5; with bins={bins} pass "
                "segments={(r_score, fm_score): name, ...} for every cell"
            )
        seg_map = dict(DEFAULT_SEGMENTS)
        names: list[str] = list(SEGMENT_NAMES)
    else:
        seg_map = _check_segment_map(segments, bins)
        names = list(dict.fromkeys(seg_map.values()))
    missing = [c for c in _RFM_COLUMNS if c not in schema]
    if missing:
        hint = (
            " (pass amount=... to rfm_summary for monetary_value)"
            if missing == ["monetary_value"]
            else ""
        )
        raise ValueError(
            f"rfm is missing column(s) {', '.join(map(repr, missing))}{hint}; "
            f"the columns are {list(schema.names())}"
        )
    for c in _RFM_COLUMNS:
        if not schema[c].is_numeric():
            raise TypeError(f"rfm column {c!r} must be numeric; got {schema[c]}")
    for c in ("r_score", "f_score", "m_score", "segment"):
        if c in schema:
            raise ValueError(f"rfm already has a column {c!r}; drop or rename it first")
    if isinstance(rfm, pl.DataFrame):
        check_no_nulls(rfm, list(_RFM_COLUMNS))
        guard = pl.lit(0, dtype=pl.Int8)
    else:
        guard = lazy_null_guard(list(_RFM_COLUMNS))
    since_last = pl.col("T").cast(pl.Float64) - pl.col("recency").cast(pl.Float64)
    # the guard rides on every output column, so no projection can skip the null check
    r = _score(-since_last, bins) + guard
    f = _score(pl.col("frequency"), bins) + guard
    m = _score(pl.col("monetary_value"), bins) + guard
    key_of = {r_ * 32 + fm: name for (r_, fm), name in seg_map.items()}
    result = lf.with_columns(r.alias("r_score"), f.alias("f_score"), m.alias("m_score"))
    fm_score = (pl.col("f_score") + pl.col("m_score") + 1) // 2
    return result.with_columns(
        (pl.col("r_score").cast(pl.Int32) * 32 + fm_score.cast(pl.Int32))
        .replace_strict(key_of, return_dtype=pl.Enum(names))
        .alias("segment")
    )


# ---------------------------------------------------------------------------------------
# classify_customers

RuleValue: TypeAlias = str | int | float | bool | Sequence[str]
"""One column's condition(s) in the dictionary rule form."""
Rule: TypeAlias = pl.Expr | Mapping[str, RuleValue]
"""A boolean polars expression, or ``{column: condition, ...}`` (all must hold)."""

_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(.*?)\s*$")
_OPS = {
    ">=": pl.Expr.ge,
    "<=": pl.Expr.le,
    "==": pl.Expr.eq,
    "!=": pl.Expr.ne,
    ">": pl.Expr.gt,
    "<": pl.Expr.lt,
}


def _literal(text: str, dtype: pl.DataType, where: str) -> Any:
    """Parse a condition's right-hand side for a column of ``dtype``."""
    if dtype.is_numeric():
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{where}: {text!r} is not a number (the column is {dtype})") from None
        if math.isnan(value):
            raise ValueError(f"{where}: cannot compare with NaN")
        return int(value) if value.is_integer() and dtype.is_integer() else value
    if dtype == pl.Boolean:
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"{where}: {text!r} is not true or false (the column is Boolean)")
        return lowered == "true"
    if isinstance(dtype, pl.Date | pl.Datetime):
        try:
            day = dt.date.fromisoformat(text.strip("'\""))
        except ValueError:
            raise ValueError(
                f"{where}: {text!r} is not an ISO date YYYY-MM-DD (the column is {dtype})"
            ) from None
        if isinstance(dtype, pl.Date):
            return day
        zone = dtype.time_zone
        return dt.datetime(
            day.year, day.month, day.day, tzinfo=ZoneInfo(zone) if zone is not None else None
        )
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        return text
    raise TypeError(f"{where}: columns of type {dtype} cannot be used in dictionary rules")


def _condition(column: str, spec: object, dtype: pl.DataType, where: str) -> pl.Expr:
    if isinstance(spec, bool):
        if dtype != pl.Boolean:
            raise TypeError(f"{where}: {spec!r} needs a Boolean column; the column is {dtype}")
        return pl.col(column) == pl.lit(spec)
    if isinstance(spec, int | float):
        if not dtype.is_numeric():
            raise TypeError(f"{where}: {spec!r} needs a numeric column; the column is {dtype}")
        return pl.col(column) == pl.lit(spec)
    if not isinstance(spec, str):
        raise TypeError(
            f"{where}: a condition must be a string like '>= 3' (or a number or bool for "
            f"equality); got {type(spec).__name__} {spec!r}"
        )
    match = _CONDITION.match(spec)
    if match is None or not match.group(2):
        raise ValueError(
            f"{where}: cannot read condition {spec!r}; write an operator "
            f"({', '.join(_OPS)}) followed by a value, e.g. '>= 3'"
        )
    op, text = match.groups()
    value = _literal(text, dtype, where)
    if isinstance(dtype, pl.Categorical | pl.Enum) and op not in ("==", "!="):
        raise ValueError(f"{where}: only == and != apply to the {dtype} column {column!r}")
    return _OPS[op](pl.col(column), pl.lit(value))


def _rule_expr(label: str, rule: object, schema: pl.Schema, lf: pl.LazyFrame) -> pl.Expr:
    if isinstance(rule, pl.Expr):
        try:
            dtype = lf.select(rule.alias("__lm_rule")).collect_schema()["__lm_rule"]
        except pl.exceptions.PolarsError as err:
            raise ValueError(f"rule {label!r} cannot be evaluated: {err}") from err
        if dtype not in (pl.Boolean, pl.Null):
            raise TypeError(f"rule {label!r} must be a boolean expression; it gives {dtype}")
        return rule
    if not isinstance(rule, Mapping):
        raise TypeError(
            f"rule {label!r} must be a polars expression or a mapping of column to "
            f"condition; got {type(rule).__name__}"
        )
    if not rule:
        raise ValueError(f"rule {label!r} has no conditions")
    parts: list[pl.Expr] = []
    for column, spec in rule.items():
        where = f"rule {label!r}, column {column!r}"
        if column not in schema:
            raise ValueError(
                f"rule {label!r} names unknown column {column!r}; the columns are "
                f"{list(schema.names())}"
            )
        specs = [spec] if isinstance(spec, str | bool | int | float) else spec
        if not isinstance(specs, Sequence) or not specs:
            raise TypeError(f"{where}: expected a condition or a non-empty list of conditions")
        parts.extend(_condition(column, s, schema[column], where) for s in specs)
    return pl.all_horizontal(parts)


@table()
def classify_customers(
    customers: PolarsFrame,
    rules: Mapping[str, Rule] | Sequence[tuple[str, Rule]],
    *,
    default: str = "other",
    label: str = "label",
) -> PolarsFrame:
    r"""Label every customer by the first of an ordered list of rules that they meet.

    Rules are a brand's own definition of loyalty ("a loyal customer has ≥ 3 orders and
    repurchases within 30 days", "a discount seeker buys mostly on promotion"). They are
    tried in order; the first that holds gives the label, and a customer who meets none
    gets `default`, so every customer has exactly one label.

    A rule is either a boolean polars expression, or a dictionary of conditions that
    must all hold, one entry per column:

    ```python
    {"orders": ">= 3", "repurchase_days": "<= 30"}
    {"orders": [">= 2", "< 5"], "member": True, "tier": "== gold"}
    ```

    A condition is an operator (``>=``, ``<=``, ``>``, ``<``, ``==``, ``!=``) and a value
    read for the column's type: a number for numeric columns, ``true``/``false`` for
    Boolean, an ISO date for Date/Datetime (midnight in the column's time zone), text
    (optionally quoted) for String, Categorical or Enum (which allow only ``==``/``!=``).
    A bare number or bool means equality. A null value fails its condition, so a rule
    never matches on missing data.

    Parameters
    ----------
    customers : polars.DataFrame or polars.LazyFrame
        One row per customer, e.g. from `customer_summary` joined with engagement data.
    rules : mapping of str to rule, or sequence of (label, rule) pairs
        The ordered rules. A sequence of pairs may repeat a label (its rules then act as
        alternatives).
    default : str, default="other"
        The label of customers that meet no rule.
    label : str, default="label"
        Name of the output column.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The input plus `label`, an Enum whose categories are the rule labels in order and
        then `default`. Same kind as `customers`.

    Raises
    ------
    TypeError
        If `customers` is not a polars frame, a rule is neither an expression nor a
        mapping, an expression is not boolean, or a condition has the wrong type.
    ValueError
        If there are no rules, a rule names an unknown column, an operator is unknown or a
        value cannot be read for its column, or `label` is already a column.

    Notes
    -----
    Rules are business definitions, not metrics with a literature; the distinction they
    usually encode, repeat behaviour with or without a favourable attitude ("spurious"
    versus "true" loyalty), is Dick & Basu's.

    References
    ----------
    1. Dick, A. S., & Basu, K. (1994). Customer Loyalty: Toward an Integrated Conceptual
       Framework. *Journal of the Academy of Marketing Science*, 22(2), 99–113.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import tables
    >>> customers = pl.DataFrame({
    ...     "customer_id": [1, 2, 3, 4],
    ...     "orders": [5, 4, 1, 3],
    ...     "repurchase_days": [21.0, 60.0, None, 25.0],
    ...     "discount_share": [0.1, 0.9, 0.0, 0.2],
    ... })
    >>> rules = {
    ...     "loyal": {"orders": ">= 3", "repurchase_days": "<= 30"},
    ...     "discount seeker": pl.col("discount_share") > 0.5,
    ...     "one-off": {"orders": "== 1"},
    ... }
    >>> tables.classify_customers(customers, rules)["label"].to_list()
    ['loyal', 'discount seeker', 'one-off', 'loyal']
    """
    lf, schema = schema_of(customers, "customers")
    for name, value in (("default", default), ("label", label)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str; got {type(value).__name__} {value!r}")
    if label in schema:
        raise ValueError(f"customers already has a column {label!r}; pass label=... to rename")
    if isinstance(rules, Mapping):
        pairs = list(rules.items())
    elif isinstance(rules, Sequence) and not isinstance(rules, str):
        pairs = list(rules)
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"rules[{i}] must be a (label, rule) pair; got {pair!r}")
    else:
        raise TypeError(
            "rules must be a mapping of label to rule or a sequence of (label, rule) pairs; "
            f"got {type(rules).__name__}"
        )
    if not pairs:
        raise ValueError("rules is empty: give at least one rule")
    chain: Any = None
    for name, rule in pairs:
        if not isinstance(name, str):
            raise TypeError(f"rule labels must be strings; got {name!r}")
        cond = _rule_expr(name, rule, schema, lf).fill_null(False)
        chain = (pl.when(cond) if chain is None else chain.when(cond)).then(pl.lit(name))
    categories = list(dict.fromkeys([name for name, _ in pairs] + [default]))
    out = chain.otherwise(pl.lit(default)).cast(pl.Enum(categories)).alias(label)
    return lf.with_columns(out)
