"""`cohort_retention`: the polars plan and the portable plan."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from loyaltymetrics import _compat
from loyaltymetrics._periods import calendar_index, calendar_start, on_column_clock, parse_period

from . import _narwhals as pn
from ._by import by_columns, join_nullsafe, nw_segment_keys
from ._engine import PolarsFrame, table
from ._narwhals import PERIOD
from ._parts import check_partitions, in_parts
from ._plumbing import (
    calendar_index_of,
    check_log,
    key_parts,
    lazy_null_guard,
    schema_of,
    sorted_customer_period_keys,
)

RESULT_COLUMNS = ("cohort", "period_index", "cohort_size", "active", "retention")


def _cohort_cells(
    activity: pl.LazyFrame, tx: object, cid: str, dtype: pl.DataType, keys: list[str]
) -> pl.LazyFrame:
    """Active customers per (cohort, period index) of (customer id, period) rows.

    With segment columns ``keys`` (``by=``) the unit is the (customer, segment) pair: a
    cohort is the first period of the pair (a window over the pair, where a null
    segment value is a segment), and the cells are per (keys, cohort, period index).
    """
    if keys:
        unit = [*keys, cid]
        visits = activity.unique().with_columns(pl.col(PERIOD).min().over(unit).alias("__cohort"))
    elif dtype.is_integer():
        # one integer key per order, sorted: the distinct (customer, period) rows come out
        # in order, and a customer's cohort is the period on their first row (no join)
        k = pl.col("__key")
        visits = (
            activity.select(sorted_customer_period_keys(tx, cid, dtype).alias("__key"))
            .filter((k != k.shift()).fill_null(True))
            .select(*key_parts(k))
        )
        new_customer = (pl.col("__cid") != pl.col("__cid").shift()).fill_null(True)
        visits = visits.with_columns(
            pl.when(new_customer).then(pl.col(PERIOD)).forward_fill().alias("__cohort")
        )
    else:
        first = activity.group_by(cid).agg(pl.col(PERIOD).min().alias("__cohort"))
        visits = activity.unique().join(first, on=cid)  # one row per (customer, period)
    return (
        visits.with_columns((pl.col(PERIOD) - pl.col("__cohort")).alias("period_index"))
        .group_by(*keys, "__cohort", "period_index")
        .agg(pl.len().cast(pl.Int64).alias("active"))
    )


def _cohort_rows(
    active: pl.LazyFrame, end_index: pl.Expr | None, unit: str, n: int, keys: list[str]
) -> pl.LazyFrame:
    """The rows of `cohort_retention` from the active counts per cell (the last stage).

    `active` has one row per observed (``__cohort``, ``period_index``) cell with a buyer,
    its counts summed over the parts (cells of disjoint customers add up). The size of a
    cohort is its cell at index 0 (everyone buys in their first period). Every cell from
    index 0 up to the last observed period (the period of `end_index`, else the latest
    active cell) gets a row, with ``active = 0`` where nobody bought: unobserved cells
    are absent, never 0.

    With segment columns ``keys`` (``by=``) the cells are per segment, and the last
    period is the latest active cell of any segment: every segment's cohorts run to the
    same last period.
    """
    sizes = active.filter(pl.col("period_index") == 0).select(
        *keys, "__cohort", pl.col("active").alias("cohort_size")
    )
    sizes = sizes.join(
        active.select((pl.col("__cohort") + pl.col("period_index")).max().alias("__last")),
        how="cross",
    )
    last_index = end_index if end_index is not None else pl.col("__last")
    grid = _compat.explode(
        sizes.with_columns(
            pl.int_ranges(0, last_index - pl.col("__cohort") + 1, dtype=pl.Int64).alias(
                "period_index"
            )
        ),
        "period_index",
    )
    cell = [*keys, "__cohort", "period_index"]
    return (
        join_nullsafe(grid, active, cell, how="left")
        .with_columns(pl.col("active").fill_null(0))
        .sort(cell)
        .select(
            *keys,
            calendar_start(pl.col("__cohort"), unit, n).alias("cohort"),
            "period_index",
            "cohort_size",
            "active",
            (pl.col("active") / pl.col("cohort_size")).alias("retention"),
        )
    )


def _cohort_retention_portable(
    tx: Any,
    *,
    customer_id: str,
    timestamp: str,
    period: str,
    observation_end: dt.date | None,
    by: str | list[str] | None = None,
    partitions: int = 1,
) -> Any:
    """`tables.cohort_retention` as a portable narwhals plan; returns the engine's frame.

    With ``by``, every row also carries the segment's null-free key
    (`_by.nw_segment_keys`), joined back to the segment's values at the end.
    """
    nw = pn.narwhals_module()
    check_partitions(partitions, tx)
    unit, n = parse_period(period)
    end: list[int] = []  # the end period, once the timestamp's dtype is known

    def bounds(frame: Any, schema: Any) -> tuple[Any, dict[str, Any]]:
        kept = nw.col(PERIOD)
        if observation_end is not None:
            clock = on_column_clock(observation_end, "observation_end", schema[timestamp])
            end.append(pn.literal_index(clock, unit, n))
            kept = nw.when(kept <= end[0]).then(kept)
        return pn.with_index(nw, frame, timestamp, unit, n), {"lo": kept.min(), "hi": kept.max()}

    frame, schema, stats = pn.validated(
        nw, tx, pn.log_columns(customer_id, timestamp, None), extra=bounds
    )
    keys: list[str] = by_columns(
        by, schema, log_columns=[customer_id, timestamp], result_columns=RESULT_COLUMNS
    )
    lo, hi = pn.int_or_none(stats["lo"]), pn.int_or_none(stats["hi"])
    seed = pn.seed(nw, frame)
    frame, _ = pn.internal_log(
        nw, frame, {pn.CID: customer_id, pn.TS: timestamp, **{k: k for k in keys}}
    )
    customer_id, timestamp = pn.CID, pn.TS
    frame, g, segments = nw_segment_keys(nw, frame, keys)
    unit_cols = [*g, customer_id]  # the unit: (segment, customer)
    rows = pn.with_index(nw, frame.select(*unit_cols, timestamp), timestamp, unit, n).select(
        *unit_cols, PERIOD
    )
    if end:
        rows = rows.filter(nw.col(PERIOD) <= end[0])
    # one row per (customer, period with an order)
    activity = rows.unique()
    cohorts = activity.group_by(*unit_cols).agg(nw.col(PERIOD).min().alias("__cohort"))
    sizes = cohorts.group_by(*g, "__cohort").agg(nw.len().alias("cohort_size"))
    last = end[0] if end else hi
    span = 0 if lo is None or last is None else last - lo + 1
    cells = sizes.join(pn.grid(nw, seed, span, "period_index"), how="cross").filter(
        nw.col("period_index") <= (last if last is not None else 0) - nw.col("__cohort")
    )
    active = (
        activity.join(cohorts, on=unit_cols)
        .select(*g, "__cohort", (nw.col(PERIOD) - nw.col("__cohort")).alias("period_index"))
        .group_by(*g, "__cohort", "period_index")
        .agg(nw.len().alias("active"))
    )
    starts = pn.period_starts(nw, seed, lo, hi, unit, n, "cohort")
    active_count = nw.col("active").fill_null(0).cast(nw.Int64)
    cells = cells.join(active, on=[*g, "__cohort", "period_index"], how="left")
    if keys:
        cells = cells.join(segments, on=g, how="left")
    result = (
        cells.join(starts, left_on="__cohort", right_on="__t", how="left")
        .select(
            *keys,
            "cohort",
            nw.col("period_index").cast(nw.Int64),
            nw.col("cohort_size").cast(nw.Int64),
            active_count.alias("active"),
            (active_count.cast(nw.Float64) / nw.col("cohort_size")).alias("retention"),
        )
        .sort(*keys, "cohort", "period_index")
    )
    return result.to_native()


@table(_cohort_retention_portable)
def cohort_retention(
    tx: PolarsFrame,
    *,
    customer_id: str = "customer_id",
    timestamp: str = "timestamp",
    period: str = "1mo",
    observation_end: dt.date | None = None,
    by: str | list[str] | None = None,
    partitions: int = 1,
) -> PolarsFrame:
    r"""Acquisition-cohort retention as a long table: one row per (cohort, period index).

    A customer's cohort is the calendar period of their first order. For cohort $c$ and
    period index $k$ (0 = the acquisition period):

    $$R_{c,k} = \frac{\#\{\text{customers of } c \text{ with an order in period } c + k\}}
                     {\#\{\text{customers of } c\}}$$

    so $R_{c,0} = 1$. Periods are calendar periods (a month is January, February, ...,
    not 30 days), and the index counts calendar periods, never rows.

    **Other engines.** A DuckDB relation, a pyarrow Table, a PySpark or Dask DataFrame
    (anything narwhals supports; ``pip install "loyaltymetrics[engines]"``) runs a
    portable plan inside its own engine and returns that engine's frame (lazy stays
    lazy). The plan uses group-by aggregations, joins and civil day numbers from
    year/month/day, and builds period grids in the engine from literal rows. One
    aggregate query runs at call time (null counts, and the first and last period); the
    tests check the result against the polars plan.

    Parameters
    ----------
    tx : polars.DataFrame or polars.LazyFrame
        The transaction log, one row per order.
    customer_id : str, default="customer_id"
        Customer id column.
    timestamp : str, default="timestamp"
        Order time column, `Date` or `Datetime`.
    period : str, default="1mo"
        Calendar period `<n><unit>`, unit `d`, `w` (Monday–Sunday), `mo`, `q` or `y`.
    observation_end : datetime.date or datetime.datetime, optional
        End of the data. Orders in later periods are ignored, and cells after the period
        containing it are not observed and absent. Default: the latest order.
    by : str or list of str, optional
        Segment column(s) of the log (store, channel, ...). The unit becomes the
        (customer, segment) pair: a customer's cohort in a segment is the period of their
        first order there, and a customer who buys in two stores is in a cohort of each.
        Every segment's cells run to the same last period (`observation_end`, else the
        latest order of the whole log), so the segments line up; cells after a segment's
        own last order are observed zeros. On a segment's own periods the rows equal this
        function applied to that segment's orders alone. A null segment value is a
        segment of its own (rows are never dropped).
    partitions : int, default=1
        Split the customers into this many disjoint parts (by a hash of the id) and put the
        parts' results together (the cells of the parts add up). The result does not
        depend on it. With k > 1 the parts are read and computed one after the other when
        the result is collected (with any polars engine), so only one part's orders are in
        memory at a time: for a `LazyFrame` over files larger than memory
        (``pl.scan_parquet``). Each part reads the input again. polars input only.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The same kind as `tx`, sorted by cohort and index (with `by`: the `by` columns
        first, sorted by segment, nulls first, then cohort and index): `cohort` (Date,
        first day of the cohort period), `period_index` (Int64, 0, 1, ...), `cohort_size` (Int64),
        `active` (Int64, distinct customers of the cohort with an order in that period)
        and `retention` (Float64, `active / cohort_size`). Every observed cell is present,
        with `active = 0` when nobody bought; unobserved cells are absent, never 0.

    Raises
    ------
    TypeError
        If `tx` is not a polars frame, the timestamp is not a date/datetime, or `period`
        is not a string.
    ValueError
        If a column is missing or holds nulls (eager input), `period` is malformed, or a
        `by` column is missing, repeated, the customer id or timestamp column, or named
        like a result column (`by` not a name or a list of names: ``TypeError``).

    Notes
    -----
    The last period may be partial (it ends at `observation_end` or the latest order):
    its retention understates a full period's. Pool cohorts for one period index as
    $\sum \text{active} / \sum \text{cohort\_size}$ over the cohorts that have reached it,
    not as the mean of the cohorts' rates.

    References
    ----------
    1. Fader, P. S., & Hardie, B. G. S. (2007). How to Project Customer Retention.
       *Journal of Interactive Marketing*, 21(1), 76–90.
    2. Gold, C. (2020). *Fighting Churn with Data*, ch. 2. Manning.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> from loyaltymetrics import tables
    >>> tx = pl.DataFrame({
    ...     "customer_id": [1, 1, 2, 3, 3],
    ...     "timestamp": [dt.date(2024, 1, 5), dt.date(2024, 3, 2), dt.date(2024, 1, 20),
    ...                   dt.date(2024, 2, 10), dt.date(2024, 3, 9)],
    ... })
    >>> tables.cohort_retention(tx).rows()
    [(datetime.date(2024, 1, 1), 0, 2, 2, 1.0),
     (datetime.date(2024, 1, 1), 1, 2, 0, 0.0),
     (datetime.date(2024, 1, 1), 2, 2, 1, 0.5),
     (datetime.date(2024, 2, 1), 0, 1, 1, 1.0),
     (datetime.date(2024, 2, 1), 1, 1, 1, 1.0)]

    By store: customer 1's cohort is January in the north store and March in the south
    store; both stores' cells run to March.

    >>> tx = tx.with_columns(store=pl.Series(["north", "south", "north", "south", "south"]))
    >>> tables.cohort_retention(tx, by="store").rows()
    [('north', datetime.date(2024, 1, 1), 0, 2, 2, 1.0),
     ('north', datetime.date(2024, 1, 1), 1, 2, 0, 0.0),
     ('north', datetime.date(2024, 1, 1), 2, 2, 0, 0.0),
     ('south', datetime.date(2024, 2, 1), 0, 1, 1, 1.0),
     ('south', datetime.date(2024, 2, 1), 1, 1, 1, 1.0),
     ('south', datetime.date(2024, 3, 1), 0, 1, 1, 1.0)]
    """
    keys: list[str] = by_columns(
        by, schema_of(tx)[1], log_columns=[customer_id, timestamp], result_columns=RESULT_COLUMNS
    )
    frame, lf, cid, ts, _, ts_dtype, labels = check_log(tx, customer_id, timestamp, None, keep=keys)
    unit, n = parse_period(period)
    end_index: pl.Expr | None = None
    if observation_end is not None:
        end_value = on_column_clock(observation_end, "observation_end", ts_dtype)
        end_index = calendar_index(
            pl.lit(end_value),
            pl.Datetime("us") if isinstance(end_value, dt.datetime) else pl.Date(),
            unit,
            n,
        )

    def build(part_tx: object, frame: pl.LazyFrame) -> pl.LazyFrame:
        o = calendar_index_of(part_tx, ts, ts_dtype, unit, n)
        if isinstance(part_tx, pl.LazyFrame):
            o = o + lazy_null_guard([cid, ts], labels)
        activity = frame.select(*keys, pl.col(cid), o.alias(PERIOD))
        if end_index is not None:
            activity = activity.filter(pl.col(PERIOD) <= end_index)
        return _cohort_cells(activity, part_tx, cid, frame.collect_schema()[cid], keys)

    return in_parts(
        frame,
        lf,
        cid,
        [*keys, cid, ts],
        check_partitions(partitions, tx),
        build,
        lambda f: f.group_by(*keys, "__cohort", "period_index").agg(pl.col("active").sum()),
        lambda active: _cohort_rows(active, end_index, unit, n, keys),
        labels,
        nullable=keys,
        in_halves=True,
    )
