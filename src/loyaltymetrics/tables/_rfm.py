"""`rfm_summary` and `calibration_holdout_split`: the polars plan and the portable plan."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from loyaltymetrics._periods import check_time_unit, literal_period, on_column_clock

from . import _narwhals as pn
from ._engine import PolarsFrame, table
from ._narwhals import AMOUNT, PERIOD
from ._parts import check_partitions, in_parts
from ._plumbing import (
    by_customer,
    check_log,
    check_output_names,
    check_scaler,
    group_customers,
    log_periods,
    packed_order,
)


def _rfm_parts(
    periods: pl.LazyFrame, cid: str, amt: str | None, *, tx: object, dtype: pl.DataType
) -> pl.LazyFrame:
    """Per customer: first and last period, number of periods, repeat-period total.

    The plan sorts the rows by (customer, period) once (`by_customer`; `rfm_summary`
    gives an eager part already sorted by `_plumbing.packed_order`, see `_rfm_groups`), marks the
    first row of each customer and of each purchase period, and then needs only
    first/last/sum aggregations over the sorted customer column: no per-group filters or
    windows.
    """
    period_dtype = periods.collect_schema()[PERIOD]
    ordered = by_customer(periods, tx, cid, dtype)
    return _rfm_groups(ordered, cid, amt, dtype=dtype, period_dtype=period_dtype)


def _rfm_groups(
    ordered: pl.LazyFrame,
    cid: str,
    amt: str | None,
    *,
    dtype: pl.DataType,
    period_dtype: pl.DataType,
) -> pl.LazyFrame:
    """`_rfm_parts` of rows already sorted by (customer, period).

    ``__first`` and ``__last`` are cast to `period_dtype` (sorted rows from
    `_plumbing.packed_order` may carry Int32 periods).
    """
    p, c = pl.col(PERIOD), pl.col(cid)
    ordered = ordered.with_columns((c != c.shift()).fill_null(True).alias("__new_customer"))
    new_customer = pl.col("__new_customer")
    new_period = new_customer | (p != p.shift()).fill_null(True)
    first_period = pl.when(new_customer).then(p).forward_fill()
    row_cols = [new_period.cast(pl.UInt32).alias("__new_period")]
    aggs = [
        p.first().cast(period_dtype).alias("__first"),
        p.last().cast(period_dtype).alias("__last"),
        pl.col("__new_period").sum().alias("__n"),
    ]
    if amt is not None:
        row_cols.append(
            pl.when(p != first_period).then(pl.col(AMOUNT)).otherwise(0.0).alias("__repeat")
        )
        aggs.append(pl.col("__repeat").sum().alias("__repeat_total"))
    return group_customers(ordered.with_columns(row_cols), cid, dtype, aggs)


def _summarise(
    per_customer: pl.LazyFrame,
    cid: str,
    amt: str | None,
    end_period: pl.Expr,
    scaler: float,
) -> pl.LazyFrame:
    """Per-customer frequency, recency, T (and monetary value) from `_rfm_parts` rows.

    `end_period` may aggregate over the per-customer table (``__last``): it is evaluated
    after the parts are put together.
    """
    c = pl.col(cid)
    cols = [
        c,
        (pl.col("__n") - 1).cast(pl.Int64).alias("frequency"),
        ((pl.col("__last") - pl.col("__first")) / scaler).alias("recency"),
        ((end_period - pl.col("__first")) / scaler).alias("T"),
    ]
    if amt is not None:
        cols.append(
            pl.when(pl.col("__n") > 1)
            .then(pl.col("__repeat_total") / (pl.col("__n") - 1))
            .otherwise(0.0)
            .alias("monetary_value")
        )
    return per_customer.select(cols)


def _portable_rows(
    nw: Any, tx: Any, customer_id: str, timestamp: str, amount: str | None, unit: str
) -> tuple[Any, Any]:
    """The log as (``CID``, ``PERIOD``, ``AMOUNT``) rows in the engine, and its schema."""
    frame, schema, _ = pn.validated(nw, tx, pn.log_columns(customer_id, timestamp, amount))
    frame, _ = pn.internal_log(nw, frame, {pn.CID: customer_id, pn.TS: timestamp, pn.AMT: amount})
    cols = [nw.col(pn.CID), nw.col(pn.TS)]
    if amount is not None:
        cols.append(nw.col(pn.AMT).cast(nw.Float64).alias(AMOUNT))
    return pn.with_index(nw, frame.select(cols), pn.TS, unit).drop(pn.TS), schema


def _portable_summary(nw: Any, rows: Any, amount: bool, end: int | None, time_scaler: float) -> Any:
    """`_summarise` of `_portable_rows` (already cut at the end): a narwhals frame."""
    customer_id = pn.CID
    # one row per (customer, purchase period), then per customer
    period_aggs = [nw.len().alias("__orders")]
    if amount:
        period_aggs.append(nw.col(AMOUNT).sum().alias(AMOUNT))
    per_period = rows.group_by(customer_id, PERIOD).agg(*period_aggs)
    first = per_period.group_by(customer_id).agg(
        nw.col(PERIOD).min().alias("__first"),
        nw.col(PERIOD).max().alias("__last"),
        nw.len().alias("__n"),
    )
    if amount:
        repeat = (
            per_period.join(first.select(customer_id, "__first"), on=customer_id)
            .filter(nw.col(PERIOD) != nw.col("__first"))
            .group_by(customer_id)
            .agg(nw.col(AMOUNT).sum().alias("__repeat_total"))
        )
        first = first.join(repeat, on=customer_id, how="left")
    end_period: Any = nw.lit(end) if end is not None else nw.col("__last").max()
    out = [
        nw.col(customer_id),
        (nw.col("__n") - 1).cast(nw.Int64).alias("frequency"),
        ((nw.col("__last") - nw.col("__first")) / time_scaler).cast(nw.Float64).alias("recency"),
        ((end_period - nw.col("__first")) / time_scaler).cast(nw.Float64).alias("T"),
    ]
    if amount:
        out.append(
            nw.when(nw.col("__n") > 1)
            .then(nw.col("__repeat_total") / (nw.col("__n") - 1))
            .otherwise(0.0)
            .cast(nw.Float64)
            .alias("monetary_value")
        )
    return first.select(out)


def _rfm_summary_portable(
    tx: Any,
    *,
    customer_id: str,
    timestamp: str,
    amount: str | None,
    observation_end: dt.date | None,
    time_unit: str,
    time_scaler: float,
    partitions: int = 1,
) -> Any:
    """`tables.rfm_summary` as a portable narwhals plan; returns the engine's own frame."""
    nw = pn.narwhals_module()
    check_partitions(partitions, tx)
    time_scaler = check_scaler(time_scaler)
    unit = check_time_unit(time_unit)
    if observation_end is not None:
        pn.check_end(observation_end)
    rows, schema = _portable_rows(nw, tx, customer_id, timestamp, amount, unit)
    check_output_names("customer_id", customer_id, _outputs(amount), "rfm_summary")
    end: int | None = None
    if observation_end is not None:  # an aware end is read on the column's clock
        clock = on_column_clock(observation_end, "observation_end", schema[timestamp])
        end = pn.literal_index(clock, unit)
        rows = rows.filter(nw.col(PERIOD) <= end)
    out = _portable_summary(nw, rows, amount is not None, end, time_scaler)
    return out.sort(pn.CID).rename({pn.CID: customer_id}).to_native()


def _calibration_holdout_split_portable(
    tx: Any,
    *,
    calibration_end: dt.date,
    holdout_end: dt.date,
    customer_id: str,
    timestamp: str,
    amount: str | None,
    time_unit: str,
    time_scaler: float,
) -> Any:
    """`tables.calibration_holdout_split` as a portable narwhals plan (the engine's frame)."""
    nw = pn.narwhals_module()
    time_scaler = check_scaler(time_scaler)
    unit = check_time_unit(time_unit)
    pn.check_end(calibration_end, "calibration_end")
    pn.check_end(holdout_end, "holdout_end")
    rows, schema = _portable_rows(nw, tx, customer_id, timestamp, amount, unit)
    check_output_names(
        "customer_id", customer_id, _split_outputs(amount), "calibration_holdout_split"
    )
    cal_value = on_column_clock(calibration_end, "calibration_end", schema[timestamp])
    hold_value = on_column_clock(holdout_end, "holdout_end", schema[timestamp])
    if _as_datetime(hold_value) <= _as_datetime(cal_value):
        raise ValueError(
            f"holdout_end ({holdout_end}) must be after calibration_end ({calibration_end})"
        )
    cal, hold = pn.literal_index(cal_value, unit), pn.literal_index(hold_value, unit)
    has_amount = amount is not None
    summary = _portable_summary(
        nw, rows.filter(nw.col(PERIOD) <= cal), has_amount, cal, time_scaler
    )
    summary = summary.rename({c: f"{c}_cal" for c in _outputs(amount)})
    later = rows.filter((nw.col(PERIOD) > cal) & (nw.col(PERIOD) <= hold))
    aggs = [nw.len().alias("__n")]
    if has_amount:
        aggs.append(nw.col(AMOUNT).sum().alias("__total"))
    per_period = later.group_by(pn.CID, PERIOD).agg(*aggs)
    totals = [nw.len().alias("frequency_holdout")]
    if has_amount:
        totals.append(nw.col("__total").sum().alias("__total"))
    holdout = per_period.group_by(pn.CID).agg(*totals)
    frequency = nw.col("frequency_holdout").fill_null(0).cast(nw.Int64)
    out = [*summary.collect_schema().names(), frequency.alias("frequency_holdout")]
    if has_amount:
        out.append(
            nw.when(frequency > 0)
            .then(nw.col("__total") / frequency)
            .otherwise(0.0)
            .cast(nw.Float64)
            .alias("monetary_value_holdout")
        )
    out.append(nw.lit((hold - cal) / time_scaler).cast(nw.Float64).alias("duration_holdout"))
    result = summary.join(holdout, on=pn.CID, how="left").select(out).sort(pn.CID)
    return result.rename({pn.CID: customer_id}).to_native()


@table(_rfm_summary_portable)
def rfm_summary(
    tx: PolarsFrame,
    *,
    customer_id: str = "customer_id",
    timestamp: str = "timestamp",
    amount: str | None = None,
    observation_end: dt.date | None = None,
    time_unit: str = "D",
    time_scaler: float = 1.0,
    partitions: int = 1,
) -> PolarsFrame:
    r"""Per-customer frequency, recency, T and monetary value: the input of the BTYD models.

    Orders are bucketed into purchase periods of `time_unit` (several orders in one
    period count once, with their amounts summed). For each customer with periods
    $p_1 < \dots < p_k$ up to the observation end $p_{\text{end}}$:

    $$x = k - 1,\qquad t_x = \frac{p_k - p_1}{s},\qquad T = \frac{p_{\text{end}} - p_1}{s},
      \qquad \bar z = \frac{1}{x}\sum_{j=2}^{k} z_{p_j}\ (0 \text{ if } x = 0)$$

    with $s$ = `time_scaler` and $z_p$ the amount total of period $p$. These are the
    definitions of Fader, Hardie & Lee (2005) and of `lifetimes`'
    `summary_data_from_transaction_data`.

    **Other engines.** A DuckDB relation, a pyarrow Table, a PySpark or Dask DataFrame
    (anything narwhals supports; ``pip install "loyaltymetrics[engines]"``) runs a
    portable plan inside its own engine and returns that engine's frame (lazy stays
    lazy). The plan uses only group-by aggregations and civil day numbers from
    year/month/day; the tests check it against the polars plan. For those engines the
    null check is one aggregate query. An aware column is read on its engine's clock (the
    session's zone for DuckDB and Spark; see the "Nulls, NaN and errors" page).

    Parameters
    ----------
    tx : polars.DataFrame or polars.LazyFrame
        The transaction log, one row per order.
    customer_id : str, default="customer_id"
        Customer id column (any dtype that can be grouped; no nulls).
    timestamp : str, default="timestamp"
        Order time column, `Date` or `Datetime` (no nulls).
    amount : str, optional
        Order value column (numeric, no nulls). Gives `monetary_value`; without it the
        column is absent. Negative amounts (refunds) are summed into their period's total
        as they are; spend models need positive values.
    observation_end : datetime.date or datetime.datetime, optional
        End of the observation window. Orders in later periods are ignored, and customers
        whose first order is later are absent. Default: the period of the latest order.
    time_unit : {"D", "W", "M", "h"}, default="D"
        Purchase-period unit: calendar day, Monday–Sunday week, calendar month, hour;
        on the local clock of a time-zone-aware column (hours too).
    time_scaler : float, default=1.0
        Divides recency and T: `time_unit="D", time_scaler=7` gives weeks counted from
        daily periods (the CDNOW convention).
    partitions : int, default=1
        Split the customers into this many disjoint parts (by a hash of the id) and put the
        parts' results together. The result does not depend on it.
        With k > 1 the parts are read and computed one after the other when the result
        is collected (with any polars engine), so only one part's orders are in memory
        at a time: for a `LazyFrame` over files larger than memory
        (``pl.scan_parquet``). Each part reads the input again. polars input only.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The same kind as `tx`, one row per customer sorted by id: the id column,
        `frequency` (Int64, repeat purchase periods), `recency` and `T` (Float64, in
        `time_unit`/`time_scaler`) and `monetary_value` (Float64, when `amount` is
        given).

    Raises
    ------
    TypeError
        If `tx` is not a polars frame, the timestamp is not a date/datetime, the amount
        is not numeric, or an option has the wrong type.
    ValueError
        If a column is missing, holds nulls (eager input), or `time_unit`/`time_scaler`
        are invalid, or `customer_id` names an output column. For a `LazyFrame`, nulls
        raise the same `ValueError` at collect time (a `MissingValuesError`, also a
        `polars.exceptions.InvalidOperationError`). NaN amounts raise like nulls.

    Notes
    -----
    `frequency` counts *repeat* periods (orders − 1 with daily data), not orders: see
    `purchase_frequency` for orders per customer. A customer whose only orders are at
    the observation end has `T = 0`.

    References
    ----------
    1. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting Your Customers" the
       Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science*, 24(2),
       275–284. https://doi.org/10.1287/mksc.1040.0098
    2. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using Iso-Value
       Curves for Customer Base Analysis. *Journal of Marketing Research*, 42(4),
       415–430.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> from loyaltymetrics import tables
    >>> tx = pl.DataFrame({
    ...     "customer_id": [1, 1, 1, 2],
    ...     "timestamp": [dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 1, 8),
    ...                   dt.date(2024, 1, 5)],
    ...     "amount": [10.0, 5.0, 20.0, 7.0],
    ... })
    >>> tables.rfm_summary(tx, amount="amount", observation_end=dt.date(2024, 1, 15)).to_dicts()
    [{'customer_id': 1, 'frequency': 1, 'recency': 7.0, 'T': 14.0, 'monetary_value': 20.0},
     {'customer_id': 2, 'frequency': 0, 'recency': 0.0, 'T': 10.0, 'monetary_value': 0.0}]
    """
    frame, lf, cid, ts, amt, ts_dtype, labels = check_log(tx, customer_id, timestamp, amount)
    check_output_names("customer_id", labels[cid], _outputs(amt), "rfm_summary")
    unit = check_time_unit(time_unit)
    scaler = check_scaler(time_scaler)
    n_parts = check_partitions(partitions, tx)
    end: pl.Expr | None = None
    if observation_end is not None:
        end = literal_period(observation_end, "observation_end", unit, ts_dtype)

    def periods_of(part_tx: object, frame: pl.LazyFrame) -> pl.LazyFrame:
        periods = log_periods(part_tx, frame, cid, ts, amt, ts_dtype, unit, labels)
        return periods if end is None else periods.filter(pl.col(PERIOD) <= end)

    def prepare(held: list[pl.DataFrame]) -> pl.DataFrame:
        # An eager part's rows sorted by `_plumbing.packed_order` (None: the ranges do not fit),
        # which it is handed with no other reference, so that it frees the input's id
        # and timestamp columns once packed (for a LazyFrame: `in_parts` keeps none)
        rows = held.pop()
        dtype = rows.schema[cid]
        frames: list[Any] = [periods_of(rows, rows.lazy()), rows]
        del rows
        ordered = packed_order(frames, frames[1], cid, dtype)
        return frames[1] if ordered is None else ordered

    def build(part_tx: object, frame: pl.LazyFrame) -> pl.LazyFrame:
        schema = frame.collect_schema()
        if PERIOD in schema:  # sorted by `prepare` (no input column has this name)
            return _rfm_groups(frame, cid, amt, dtype=schema[cid], period_dtype=pl.Int64())
        return _rfm_parts(periods_of(part_tx, frame), cid, amt, tx=part_tx, dtype=schema[cid])

    columns = [cid, ts] + ([amt] if amt is not None else [])
    end_period = pl.col("__last").max() if end is None else end
    return in_parts(
        frame,
        lf,
        cid,
        columns,
        n_parts,
        build,
        lambda f: f.sort(cid),
        lambda f: _summarise(f, cid, amt, end_period, scaler).rename({cid: labels[cid]}),
        labels,
        prepare=prepare,
        in_halves=True,
    )


@table(_calibration_holdout_split_portable)
def calibration_holdout_split(
    tx: PolarsFrame,
    *,
    calibration_end: dt.date,
    holdout_end: dt.date,
    customer_id: str = "customer_id",
    timestamp: str = "timestamp",
    amount: str | None = None,
    time_unit: str = "D",
    time_scaler: float = 1.0,
) -> PolarsFrame:
    r"""Split a log into a calibration RFM summary and holdout-period outcomes.

    The calibration part is `rfm_summary` of the orders up to `calibration_end` (columns
    suffixed `_cal`). For every calibration customer the holdout part counts the
    purchase periods after `calibration_end` up to `holdout_end`:

    $$x^{\text{holdout}} = \#\{p : p_{\text{cal}} < p \le p_{\text{holdout}}\},\qquad
      \text{duration} = \frac{p_{\text{holdout}} - p_{\text{cal}}}{s}$$

    This is the out-of-sample check of Fader, Hardie & Lee (2005): fit a model on the
    calibration columns, predict `frequency_holdout` over `duration_holdout`.

    Parameters
    ----------
    tx : polars.DataFrame or polars.LazyFrame
        The transaction log, one row per order.
    calibration_end : datetime.date or datetime.datetime
        Last day (period) of the calibration window.
    holdout_end : datetime.date or datetime.datetime
        Last day (period) of the holdout window, after `calibration_end`.
    customer_id : str, default="customer_id"
        Customer id column.
    timestamp : str, default="timestamp"
        Order time column, `Date` or `Datetime`.
    amount : str, optional
        Order value column; gives `monetary_value_cal` and `monetary_value_holdout`.
    time_unit : {"D", "W", "M", "h"}, default="D"
        Purchase-period unit.
    time_scaler : float, default=1.0
        Divides recency, T and the holdout duration.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        One row per calibration customer, sorted by id (as `rfm_summary`; the input's
        row order plays no part): the id, `frequency_cal`, `recency_cal`,
        `T_cal`, (`monetary_value_cal`), `frequency_holdout` (Int64),
        (`monetary_value_holdout`: mean holdout-period total, 0 without holdout
        purchases) and `duration_holdout`. Customers who first buy in the holdout
        window are not included.

    Raises
    ------
    TypeError
        As `rfm_summary`, or if an end is not a date/datetime.
    ValueError
        As `rfm_summary`, or if `holdout_end` is not after `calibration_end`.

    See Also
    --------
    rfm_summary : The calibration columns.

    References
    ----------
    1. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting Your Customers" the
       Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science*, 24(2),
       275–284.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> from loyaltymetrics import tables
    >>> tx = pl.DataFrame({
    ...     "customer_id": [1, 1, 1, 2],
    ...     "timestamp": [dt.date(2024, 1, 1), dt.date(2024, 1, 3), dt.date(2024, 1, 12),
    ...                   dt.date(2024, 1, 2)],
    ... })
    >>> tables.calibration_holdout_split(
    ...     tx, calibration_end=dt.date(2024, 1, 7), holdout_end=dt.date(2024, 1, 14)
    ... ).to_dicts()
    [{'customer_id': 1, 'frequency_cal': 1, 'recency_cal': 2.0, 'T_cal': 6.0,
      'frequency_holdout': 1, 'duration_holdout': 7.0},
     {'customer_id': 2, 'frequency_cal': 0, 'recency_cal': 0.0, 'T_cal': 5.0,
      'frequency_holdout': 0, 'duration_holdout': 7.0}]
    """
    frame, lf, cid, ts, amt, ts_dtype, labels = check_log(tx, customer_id, timestamp, amount)
    outputs = _split_outputs(amt)
    check_output_names("customer_id", labels[cid], outputs, "calibration_holdout_split")
    unit = check_time_unit(time_unit)
    scaler = check_scaler(time_scaler)
    cal_value = on_column_clock(calibration_end, "calibration_end", ts_dtype)
    hold_value = on_column_clock(holdout_end, "holdout_end", ts_dtype)
    if _as_datetime(hold_value) <= _as_datetime(cal_value):
        raise ValueError(
            f"holdout_end ({holdout_end}) must be after calibration_end ({calibration_end})"
        )
    cal_period = literal_period(calibration_end, "calibration_end", unit, ts_dtype)
    hold_period = literal_period(holdout_end, "holdout_end", unit, ts_dtype)
    periods = log_periods(frame, lf, cid, ts, amt, ts_dtype, unit, labels)
    summary_cols = ["frequency", "recency", "T"] + (["monetary_value"] if amt else [])
    dtype = lf.collect_schema()[cid]
    cal_parts = _rfm_parts(
        periods.filter(pl.col(PERIOD) <= cal_period), cid, amt, tx=frame, dtype=dtype
    )
    cal = _summarise(cal_parts, cid, amt, cal_period, scaler).rename(
        {c: f"{c}_cal" for c in summary_cols}
    )
    holdout_aggs = [pl.col(PERIOD).n_unique().cast(pl.Int64).alias("frequency_holdout")]
    if amt is not None:
        # mean of the per-period totals = total amount / number of purchase periods
        holdout_aggs.append(
            (pl.col(AMOUNT).sum() / pl.col(PERIOD).n_unique()).alias("monetary_value_holdout")
        )
    holdout = (
        periods.filter((pl.col(PERIOD) > cal_period) & (pl.col(PERIOD) <= hold_period))
        .group_by(cid)
        .agg(holdout_aggs)
    )
    fills = [pl.col("frequency_holdout").fill_null(0)]
    if amt is not None:
        fills.append(pl.col("monetary_value_holdout").fill_null(0.0))
    return (
        cal.join(holdout, on=cid, how="left", maintain_order="left")
        .with_columns(fills)
        .with_columns(((hold_period - cal_period) / scaler).alias("duration_holdout"))
        .rename({cid: labels[cid]})
    )


def _outputs(amount: str | None) -> list[str]:
    """The columns of `rfm_summary` next to the id."""
    return ["frequency", "recency", "T"] + (["monetary_value"] if amount is not None else [])


def _split_outputs(amount: str | None) -> list[str]:
    """The columns of `calibration_holdout_split` next to the id."""
    outputs = [f"{c}_cal" for c in _outputs(amount)] + ["frequency_holdout", "duration_holdout"]
    return outputs + (["monetary_value_holdout"] if amount is not None else [])


def _as_datetime(value: dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime(value.year, value.month, value.day)
