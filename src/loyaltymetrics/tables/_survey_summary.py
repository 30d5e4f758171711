"""`survey_summary`: the polars plan and the portable plan."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from scipy import stats as _sps

from loyaltymetrics import _validation as v
from loyaltymetrics import expr as lmx

from . import _narwhals as pn
from ._plumbing import FrameT, accepts_pandas, like, require, schema_of

_T_TOLERANCE = 1e-10  # relative error allowed for the Cornish-Fisher t quantile


def _z_quantile(confidence: object) -> float:
    c = v.as_scalar(confidence, "confidence")
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got confidence={v.fmt(c)}")
    return float(_sps.norm.ppf(0.5 + c / 2.0))


def _t_quantiles(df: pl.Series, confidence: float) -> pl.Series:
    values = df.cast(pl.Float64).to_numpy()
    with np.errstate(invalid="ignore"):
        q = _sps.t.ppf(0.5 + confidence / 2.0, np.where(values >= 1, values, np.nan))
    return pl.Series(df.name, np.asarray(q, dtype=np.float64), dtype=pl.Float64)


@accepts_pandas
def survey_summary(
    survey: FrameT,
    *,
    by: str | list[str] | None = None,
    nps: str | None = None,
    csat: str | None = None,
    ces: str | None = None,
    confidence: float = 0.95,
    csat_scale: tuple[float, float] = (1, 5),
    ces_scale: tuple[float, float] = (1, 7),
) -> FrameT:
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
    if pn.is_foreign_frame(survey):
        return _survey_summary_portable(  # type: ignore[no-any-return]
            survey,
            by=by,
            nps=nps,
            csat=csat,
            ces=ces,
            confidence=confidence,
            csat_scale=csat_scale,
            ces_scale=ces_scale,
        )
    _, schema = schema_of(survey, "survey")
    if nps is None and csat is None and ces is None:
        raise ValueError("name at least one survey column: nps=, csat= or ces=")
    keys: list[str] = [by] if isinstance(by, str) else list(by) if by is not None else []
    for k in keys:
        require(schema, k, "by")
    z = _z_quantile(confidence)
    c = float(confidence)
    aggs: list[pl.Expr] = []
    bounds: list[pl.Expr] = []
    order: list[str] = []
    if nps is not None:
        col = require(schema, nps, "nps")
        x = pl.col(col).cast(pl.Float64).fill_nan(None)
        aggs += [
            lmx.nps(col),
            x.count().cast(pl.Int64).alias("nps_n"),
            (x >= 9).sum().alias("__p"),
            (x <= 6).sum().alias("__d"),
        ]
        n3 = pl.col("nps_n") + 3.0
        pa = (pl.col("__p") + 0.75) / n3
        da = (pl.col("__d") + 0.75) / n3
        se = ((pa + da - (pa - da) ** 2) / n3).sqrt()
        has = pl.col("nps_n") > 0
        observed = pl.col("nps").cast(pl.Float64)  # the interval always contains it
        low_nps = pl.min_horizontal((100.0 * (pa - da - z * se)).clip(-100.0, 100.0), observed)
        high_nps = pl.max_horizontal((100.0 * (pa - da + z * se)).clip(-100.0, 100.0), observed)
        bounds += [
            pl.when(has).then(low_nps).alias("nps_low"),
            pl.when(has).then(high_nps).alias("nps_high"),
        ]
        order += ["nps", "nps_n", "nps_low", "nps_high"]
    if csat is not None:
        col = require(schema, csat, "csat")
        low, high = v.check_scale(csat_scale, "csat_scale")
        x = pl.col(col).cast(pl.Float64).fill_nan(None)
        aggs += [
            lmx.csat(col, scale=(low, high)),
            x.count().cast(pl.Int64).alias("csat_n"),
            (x >= high - 1).sum().alias("__sat"),
        ]
        n = pl.col("csat_n").cast(pl.Float64)
        p = pl.col("__sat") / n
        z2n = z * z / n
        centre = (p + z2n / 2.0) / (1.0 + z2n)
        half = z / (1.0 + z2n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()
        has = pl.col("csat_n") > 0
        bounds += [
            pl.when(has).then((centre - half).clip(0.0, 1.0)).alias("csat_low"),
            pl.when(has).then((centre + half).clip(0.0, 1.0)).alias("csat_high"),
        ]
        order += ["csat", "csat_n", "csat_low", "csat_high"]
    if ces is not None:
        col = require(schema, ces, "ces")
        low, high = v.check_scale(ces_scale, "ces_scale")
        x = pl.col(col).cast(pl.Float64).fill_nan(None)
        aggs += [
            lmx.ces(col, scale=(low, high)),
            x.count().cast(pl.Int64).alias("ces_n"),
            x.std(ddof=1).alias("__sd"),
        ]
        tq = (
            pl.col("ces_n")
            .sub(1)
            .map_batches(lambda s: _t_quantiles(s, c), return_dtype=pl.Float64)
        )
        half = tq * pl.col("__sd") / pl.col("ces_n").cast(pl.Float64).sqrt()
        has = pl.col("ces_n") > 1
        bounds += [
            pl.when(has).then(pl.col("ces") - half).alias("ces_low"),
            pl.when(has).then(pl.col("ces") + half).alias("ces_high"),
        ]
        order += ["ces", "ces_n", "ces_low", "ces_high"]
    lf = survey.lazy() if isinstance(survey, pl.DataFrame) else survey
    grouped = lf.group_by(keys).agg(aggs).sort(keys) if keys else lf.select(aggs)
    result = grouped.with_columns(bounds).select([*keys, *order])
    return like(survey, result)  # type: ignore[return-value]


def _t_quantile(nw: Any, dof: Any, confidence: float) -> Any:
    """Student-t quantile ``t.ppf(0.5 + confidence / 2, dof)`` as an engine expression.

    Exact (scipy, at plan time) for ``dof <= K``; above, the Cornish-Fisher expansion in
    1/dof around the normal quantile z (Abramowitz & Stegun 26.7.5, five terms), with K
    the smallest cut-off that keeps the relative error below 1e-10. Null for ``dof < 1``.
    """
    import numpy as np
    from scipy import stats

    p = 0.5 + confidence / 2.0
    z = float(stats.norm.ppf(p))
    g = [
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
        (27 * z**11 + 339 * z**9 + 930 * z**7 - 1782 * z**5 - 765 * z**3 + 17955 * z) / 368640,
    ]

    def expansion(nu: Any) -> Any:
        return z + sum(gk / nu ** (k + 1) for k, gk in enumerate(g))

    grid = np.arange(1, 5001, dtype=np.float64)
    exact = np.asarray(stats.t.ppf(p, grid), dtype=np.float64)
    bad = np.flatnonzero(np.abs(expansion(grid) / exact - 1.0) >= _T_TOLERANCE)
    cut = int(grid[bad[-1]]) if bad.size else 0
    nu = dof.cast(nw.Float64)
    # the expansion is evaluated on max(dof, K + 1) so that no branch divides by zero
    safe = nw.when(nu > cut).then(nu).otherwise(float(cut + 1))
    if cut == 0:
        return nw.when(nu >= 1).then(expansion(safe))
    chain = nw.when(nu == 1).then(float(exact[0]))
    for k in range(2, cut + 1):
        chain = chain.when(nu == k).then(float(exact[k - 1]))
    return nw.when(nu >= 1).then(chain.otherwise(expansion(safe)))


def _answer_problem(metric: str, low: float, high: float) -> str:
    return f"{metric}: answers must be whole numbers from {v.fmt(low)} to {v.fmt(high)}"


def _survey_summary_portable(
    survey: Any,
    *,
    by: str | list[str] | None,
    nps: str | None,
    csat: str | None,
    ces: str | None,
    confidence: float,
    csat_scale: tuple[float, float],
    ces_scale: tuple[float, float],
) -> Any:
    """`tables.survey_summary` as a portable narwhals plan; returns the engine's frame.

    Answers off their scale raise ``ValueError`` at call time (the validation query counts
    them), where the polars plan fails at collect time.
    """
    nw = pn.narwhals_module()
    if nps is None and csat is None and ces is None:
        raise ValueError("name at least one survey column: nps=, csat= or ces=")
    if isinstance(by, str):
        keys = [by]
    elif by is None:
        keys = []
    elif isinstance(by, list | tuple) and all(isinstance(k, str) for k in by):
        keys = list(by)
    else:
        raise TypeError(f"by must be a column name or a list of names; got {by!r}")
    z = _z_quantile(confidence)
    metrics: list[tuple[str, str, float, float]] = []
    if nps is not None:
        metrics.append(("nps", nps, 0.0, 10.0))
    if csat is not None:
        metrics.append(("csat", csat, *v.check_scale(csat_scale, "csat_scale")))
    if ces is not None:
        metrics.append(("ces", ces, *v.check_scale(ces_scale, "ces_scale")))

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
            _t_quantile(nw, nw.col("__dof_ces"), float(confidence)).alias("__tq_ces")
        )
    out: list[Any] = [nw.col(k) for k in keys]
    for metric, _, _, _ in metrics:
        n_int = nw.col(f"{metric}_n").cast(nw.Int64)
        n = n_int.cast(nw.Float64)
        has = n_int > 0
        if metric == "nps":
            promoters = nw.col("__p_nps").fill_null(0).cast(nw.Float64)
            detractors = nw.col("__d_nps").fill_null(0).cast(nw.Float64)
            n3 = n + 3.0
            pa, da = (promoters + 0.75) / n3, (detractors + 0.75) / n3
            se = ((pa + da - (pa - da) ** 2) / n3).sqrt()
            value = nw.when(has).then(100.0 * (promoters - detractors) / n)
            low_b = nw.when(has).then((100.0 * (pa - da - z * se)).clip(-100.0, 100.0))
            high_b = nw.when(has).then((100.0 * (pa - da + z * se)).clip(-100.0, 100.0))
        elif metric == "csat":
            satisfied = nw.col("__sat_csat").fill_null(0).cast(nw.Float64)
            # the Wilson interval; every division is guarded (Spark's ANSI mode fails on 0)
            safe_n = nw.when(has).then(n).otherwise(1.0)
            share = satisfied / safe_n
            z2n = z * z / safe_n
            centre = (share + z2n / 2.0) / (1.0 + z2n)
            half = (
                z
                / (1.0 + z2n)
                * (share * (1.0 - share) / safe_n + z * z / (4.0 * safe_n**2)).sqrt()
            )
            value = nw.when(has).then(share)
            low_b = nw.when(has).then((centre - half).clip(0.0, 1.0))
            high_b = nw.when(has).then((centre + half).clip(0.0, 1.0))
        else:
            two = n_int > 1
            tq = nw.col("__tq_ces")
            safe_n = nw.when(two).then(n).otherwise(1.0)
            half = tq * nw.col("__sd_ces") / safe_n.sqrt()
            value = nw.when(has).then(nw.col("__mean_ces"))
            low_b = nw.when(two).then(nw.col("__mean_ces") - half)
            high_b = nw.when(two).then(nw.col("__mean_ces") + half)
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
