"""`survey_summary`: the polars plan and the portable plan, with one validation.

Both plans take their options from `_spec` (one check of `by`, the metric columns, the
scales and `confidence`) and their bounds from `_bounds`, which calls the interval rules
of `loyaltymetrics._rules`; `stats` calls the same rules. So every engine gives the same
interval, including the clamp of the NPS interval to its estimate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import polars as pl

from loyaltymetrics import _validation as v
from loyaltymetrics import expr as lmx
from loyaltymetrics._rules import (
    POLARS,
    Namespace,
    mean_bounds,
    nps_bounds,
    t_quantile_expansion,
    t_quantiles,
    wilson_bounds,
    z_quantile,
)

from . import _narwhals as pn
from ._engine import PolarsFrame, table
from ._narwhals import require
from ._plumbing import schema_of


@dataclass(frozen=True, slots=True)
class _Spec:
    """The checked options of `survey_summary`."""

    keys: list[str]
    metrics: list[tuple[str, str, float, float]]  # (metric, column, scale low, scale high)
    z: float
    confidence: float


def _spec(
    *,
    by: object,
    nps: str | None,
    csat: str | None,
    ces: str | None,
    confidence: object,
    csat_scale: object,
    ces_scale: object,
) -> _Spec:
    """Check the options of `survey_summary` (the same errors on every engine)."""
    if nps is None and csat is None and ces is None:
        raise ValueError("name at least one survey column: nps=, csat= or ces=")
    if isinstance(by, str):
        keys = [by]
    elif by is None:
        keys = []
    elif isinstance(by, list | tuple) and all(isinstance(k, str) for k in by):
        keys = list(by)
    else:
        raise TypeError(
            f"by must be a column name or a list of names; got {type(by).__name__} {by!r}"
        )
    z = z_quantile(confidence)
    metrics: list[tuple[str, str, float, float]] = []
    if nps is not None:
        metrics.append(("nps", nps, 0.0, 10.0))
    if csat is not None:
        metrics.append(("csat", csat, *v.check_scale(csat_scale, "csat_scale")))
    if ces is not None:
        metrics.append(("ces", ces, *v.check_scale(ces_scale, "ces_scale")))
    return _Spec(keys, metrics, z, v.as_scalar(confidence, "confidence"))


def _bounds(metric: str, col: dict[str, Any], spec: _Spec, ns: Namespace[Any]) -> tuple[Any, Any]:
    """The interval of one metric from its group statistics, in any dialect.

    `col` holds the dialect's expressions for ``n`` (valid answers), ``estimate`` and,
    by metric, ``promoters``/``detractors`` (NPS), ``satisfied`` (CSAT) or ``sd`` and
    ``t`` (CES: the sample standard deviation and the t quantile for n − 1).
    """
    if metric == "nps":
        return nps_bounds(
            col["promoters"], col["detractors"], col["n"], col["estimate"], spec.z, ns
        )
    if metric == "csat":
        return wilson_bounds(col["satisfied"], col["n"], spec.z, ns)
    return mean_bounds(col["estimate"], col["sd"], col["n"], col["t"], ns)


def _t_column(dof: pl.Series, confidence: float) -> pl.Series:
    values = dof.cast(pl.Float64).to_numpy()
    return pl.Series(dof.name, t_quantiles(values, confidence), dtype=pl.Float64)


def _answer_problem(metric: str, low: float, high: float) -> str:
    return f"{metric}: answers must be whole numbers from {v.fmt(low)} to {v.fmt(high)}"


def _survey_summary_portable(
    survey: object,
    *,
    by: str | list[str] | None,
    nps: str | None,
    csat: str | None,
    ces: str | None,
    confidence: float,
    csat_scale: tuple[float, float],
    ces_scale: tuple[float, float],
) -> object:
    """`tables.survey_summary` as a portable narwhals plan; returns the engine's frame.

    Answers off their scale raise ``ValueError`` at call time (the validation query counts
    them), where the polars plan fails at collect time.
    """
    nw = pn.narwhals_module()
    ns = pn.namespace(nw)
    spec = _spec(
        by=by,
        nps=nps,
        csat=csat,
        ces=ces,
        confidence=confidence,
        csat_scale=csat_scale,
        ces_scale=ces_scale,
    )
    keys, metrics = spec.keys, spec.metrics

    def answers(column: str) -> Any:
        return nw.col(column).cast(nw.Float64).fill_nan(None)

    def off_scale(frame: Any, _: Any) -> tuple[Any, dict[str, Any]]:
        checks: dict[str, Any] = {}
        frame = frame.with_columns(answers(c).alias(f"__lm_{m}") for m, c, _, _ in metrics)
        for metric, _, low, high in metrics:
            x = nw.col(f"__lm_{metric}")
            off = ~x.is_null() & ((x < low) | (x > high) | (x % 1 != 0))
            checks[f"{metric}_off"] = nw.when(off).then(1).otherwise(0).cast(nw.Int64).sum()
            checks[f"{metric}_example"] = nw.when(off).then(x).max()
        return frame, checks

    columns = [("by", k, "group") for k in keys]
    columns += [(metric, column, "answers") for metric, column, _, _ in metrics]
    frame, _, stats = pn.validated(nw, survey, columns, extra=off_scale, name="survey")
    for metric, _, low, high in metrics:
        n_off = pn.int_or_none(stats[f"{metric}_off"])
        if n_off:
            raise ValueError(
                f"{_answer_problem(metric, low, high)}: {n_off} value(s), "
                f"e.g. {v.fmt(float(stats[f'{metric}_example']))}"
            )

    # per row: the answer (NaN as missing) and indicator columns; then plain aggregations
    rows: list[Any] = [nw.col(k) for k in keys]
    aggs: list[Any] = []
    for metric, column, _, high in metrics:
        x = answers(column)
        rows.append(x.alias(f"__{metric}"))
        aggs.append(nw.col(f"__{metric}").count().alias(f"{metric}_n"))
        boxes = {"nps": {"__p": x >= 9, "__d": x <= 6}, "csat": {"__sat": x >= high - 1}}
        for box, mask in boxes.get(metric, {}).items():
            rows.append(nw.when(mask).then(1).otherwise(0).cast(nw.Int64).alias(f"{box}_{metric}"))
            aggs.append(nw.col(f"{box}_{metric}").sum())
        if metric == "ces":
            aggs += [
                nw.col("__ces").mean().alias("__mean_ces"),
                nw.col("__ces").std(ddof=1).alias("__sd_ces"),
            ]
    per_row = frame.select(rows)
    grouped = per_row.group_by(keys).agg(aggs) if keys else per_row.select(aggs)

    if ces is not None:
        # the t quantile is a long when/then chain: one column, computed once per group
        dof = (nw.col("ces_n").cast(nw.Int64) - 1).cast(nw.Float64).alias("__dof_ces")
        grouped = grouped.with_columns(dof).with_columns(
            t_quantile_expansion(nw.col("__dof_ces"), spec.confidence, ns).alias("__tq_ces")
        )
    out: list[Any] = [nw.col(k) for k in keys]
    for metric, _, _, _ in metrics:
        n_int = nw.col(f"{metric}_n").cast(nw.Int64)
        n = n_int.cast(nw.Float64)
        group: dict[str, Any] = {"n": n}
        if metric == "nps":
            group["promoters"] = nw.col("__p_nps").fill_null(0).cast(nw.Float64)
            group["detractors"] = nw.col("__d_nps").fill_null(0).cast(nw.Float64)
            ratio = 100.0 * (group["promoters"] - group["detractors"]) / n
        elif metric == "csat":
            group["satisfied"] = nw.col("__sat_csat").fill_null(0).cast(nw.Float64)
            # every division is guarded (Spark's ANSI mode fails on 0)
            ratio = group["satisfied"] / nw.when(n_int > 0).then(n).otherwise(1.0)
        else:
            ratio = nw.col("__mean_ces")
            group["sd"], group["t"] = nw.col("__sd_ces"), nw.col("__tq_ces")
        value = nw.when(n_int > 0).then(ratio)
        group["estimate"] = value
        low_b, high_b = _bounds(metric, group, spec, ns)
        out += [
            value.cast(nw.Float64).alias(metric),
            n_int.alias(f"{metric}_n"),
            low_b.cast(nw.Float64).alias(f"{metric}_low"),
            high_b.cast(nw.Float64).alias(f"{metric}_high"),
        ]
    result = grouped.select(out)
    if keys:
        result = result.sort(keys)
    return result.to_native()


@table(_survey_summary_portable)
def survey_summary(
    survey: PolarsFrame,
    *,
    by: str | list[str] | None = None,
    nps: str | None = None,
    csat: str | None = None,
    ces: str | None = None,
    confidence: float = 0.95,
    csat_scale: tuple[float, float] = (1, 5),
    ces_scale: tuple[float, float] = (1, 7),
) -> PolarsFrame:
    r"""Survey metrics per group, with response counts and confidence intervals.

    For each group (or the whole table when `by` is None), and each metric named:

    * `nps`: the Net Promoter Score of a 0–10 column and its adjusted-Wald interval
      (3/4 added to promoters and detractors, 3 to $n$; `stats.nps_interval`);
    * `csat`: the top-2-box share of a `csat_scale` column and its Wilson interval
      (`stats.proportion_interval`);
    * `ces`: the mean of a `ces_scale` column (CES 2.0) and its Student-t interval
      (`stats.mean_interval`).

    The bounds are computed from each group's sufficient statistics (counts, sums,
    sums of squares) with polars expressions: no Python loop over groups.

    **Other engines.** A DuckDB relation, a pyarrow Table, a PySpark or Dask DataFrame
    (anything narwhals supports; ``pip install "loyaltymetrics[engines]"``) runs a
    portable plan inside its own engine and returns that engine's frame (lazy stays
    lazy). The plan uses group-by aggregations, joins and civil day numbers from
    year/month/day, and builds period grids in the engine from literal rows. One
    aggregate query runs at call time (null counts, and the first and last period); the
    tests check the result against the polars plan. Answers off their scale
    raise `ValueError` at call time, and answer columns must be numeric.

    Parameters
    ----------
    survey : polars.DataFrame or polars.LazyFrame
        One row per respondent (or per answer).
    by : str or list of str, optional
        Grouping column(s), e.g. a segment or a month.
    nps : str, optional
        Column of 0–10 likelihood-to-recommend answers.
    csat : str, optional
        Column of satisfaction answers on `csat_scale`.
    ces : str, optional
        Column of effort answers on `ces_scale` (higher = easier).
    confidence : float, default=0.95
        Nominal coverage of the intervals, in (0, 1).
    csat_scale, ces_scale : (int, int)
        Answer scales of the CSAT and CES columns.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The same kind as `survey`, one row per group (sorted by `by`): the `by` columns,
        then for each metric `<metric>`, `<metric>_n` (valid answers), `<metric>_low`,
        `<metric>_high`. A group without valid answers has null metric and bounds.

    Raises
    ------
    TypeError
        If `survey` is not a polars frame or an argument has the wrong type.
    ValueError
        If no metric column is named, a column is missing, or `confidence` is invalid.
    polars.exceptions.InvalidOperationError
        At collect time, if an answer is off its scale (as `loyaltymetrics.expr`).

    See Also
    --------
    loyaltymetrics.stats.nps_interval : The same NPS interval for one sample.

    Notes
    -----
    Nulls and NaN are missing answers and are skipped; `<metric>_n` counts the answers
    used.

    References
    ----------
    1. Rocks, B. (2016). Interval Estimation for the "Net Promoter Score". *The American
       Statistician*, 70(4), 365–372.
    2. Wilson, E. B. (1927). Probable Inference, the Law of Succession, and Statistical
       Inference. *Journal of the American Statistical Association*, 22(158), 209–212.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import tables
    >>> survey = pl.DataFrame({
    ...     "segment": ["a"] * 100 + ["b"] * 8,
    ...     "ltr": [10] * 45 + [8] * 40 + [3] * 15 + [10, 9, 9, 7, 8, 2, 10, None],
    ... })
    >>> out = tables.survey_summary(survey, by="segment", nps="ltr")
    >>> out.with_columns(pl.col("nps_low", "nps_high").round(1)).rows()
    [('a', 30.0, 100, 15.3, 42.9), ('b', 42.857142857142854, 7, -16.4, 76.4)]
    """
    _, schema = schema_of(survey, "survey")
    spec = _spec(
        by=by,
        nps=nps,
        csat=csat,
        ces=ces,
        confidence=confidence,
        csat_scale=csat_scale,
        ces_scale=ces_scale,
    )
    keys = spec.keys
    for k in keys:
        require(schema, k, "by")
    aggs: list[pl.Expr] = []
    bounds: list[pl.Expr] = []
    order: list[str] = []
    for metric, column, low, high in spec.metrics:
        col = require(schema, column, metric)
        x = pl.col(col).cast(pl.Float64).fill_nan(None)
        n = pl.col(f"{metric}_n")
        stats: dict[str, pl.Expr] = {"n": n, "estimate": pl.col(metric).cast(pl.Float64)}
        aggs.append(x.count().cast(pl.Int64).alias(f"{metric}_n"))
        if metric == "nps":
            aggs += [lmx.nps(col), (x >= 9).sum().alias("__p"), (x <= 6).sum().alias("__d")]
            stats["promoters"], stats["detractors"] = pl.col("__p"), pl.col("__d")
        elif metric == "csat":
            aggs += [lmx.csat(col, scale=(low, high)), (x >= high - 1).sum().alias("__sat")]
            stats["satisfied"] = pl.col("__sat")
        else:
            aggs += [lmx.ces(col, scale=(low, high)), x.std(ddof=1).alias("__sd")]
            t_column = functools.partial(_t_column, confidence=spec.confidence)
            stats["sd"] = pl.col("__sd")
            stats["t"] = (n - 1).map_batches(t_column, return_dtype=pl.Float64)
        low_b, high_b = _bounds(metric, stats, spec, POLARS)
        bounds += [low_b.alias(f"{metric}_low"), high_b.alias(f"{metric}_high")]
        order += [metric, f"{metric}_n", f"{metric}_low", f"{metric}_high"]
    lf = survey.lazy() if isinstance(survey, pl.DataFrame) else survey
    grouped = lf.group_by(keys).agg(aggs).sort(keys) if keys else lf.select(aggs)
    return grouped.with_columns(bounds).select([*keys, *order])
