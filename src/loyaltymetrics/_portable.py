"""Portable table plans through narwhals, for frames of other engines (DuckDB, Spark, Dask).

The plans use only what every narwhals backend implements: ``dt.year/month/day/hour``,
integer ``//`` and ``%``, ``when/then``, joins, and ``group_by().agg`` with
``len/min/max/sum``. Days are civil day numbers computed from year, month and day
(Hinnant's ``days_from_civil``), so no engine needs ``total_seconds`` or epochs.

polars frames never come here: the polars plans in ``tables`` are the fast path, and the
tests check that both plans give the same tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._periods import check_time_unit

_PERIOD = "__lm_period"
_AMOUNT = "__lm_amount"


def _narwhals() -> Any:
    try:
        import narwhals.stable.v2 as nw
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise TypeError(
            "tx must be a polars or pandas DataFrame or a polars LazyFrame; other engines "
            '(DuckDB, Spark, Dask, pyarrow) need narwhals: pip install "loyaltymetrics[engines]"'
        ) from err
    return nw


def is_foreign_frame(tx: object) -> bool:
    """True for a frame that narwhals knows and that is not polars or pandas."""
    module = type(tx).__module__.split(".")[0]
    if module in ("polars", "pandas"):
        return False
    try:
        nw = _narwhals()
    except TypeError:
        return False
    try:
        nw.from_native(tx)
    except TypeError:
        return False
    return True


def _days_from_civil(nw: Any, ts: Any) -> Any:
    """Days since 1970-01-01 of a date/datetime column, from year, month and day only."""
    year, month, day = ts.dt.year(), ts.dt.month(), ts.dt.day()
    y = year - nw.when(month <= 2).then(1).otherwise(0)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _period(nw: Any, ts: Any, unit: str) -> Any:
    if unit == "M":
        return ts.dt.year() * 12 + ts.dt.month() - 1
    days = _days_from_civil(nw, ts)
    if unit == "W":
        return (days + 3) // 7
    if unit == "h":
        return days * 24 + ts.dt.hour()
    return days


def _literal_period(value: dt.date, unit: str) -> int:
    if unit == "M":
        return value.year * 12 + value.month - 1
    days = value.toordinal() - dt.date(1970, 1, 1).toordinal()
    if unit == "W":
        return (days + 3) // 7
    if unit == "h":
        hour = value.hour if isinstance(value, dt.datetime) else 0
        return days * 24 + hour
    return days


def rfm_summary(
    tx: Any,
    *,
    customer_id: str,
    timestamp: str,
    amount: str | None,
    observation_end: dt.date | None,
    time_unit: str,
    time_scaler: float,
) -> Any:
    """`tables.rfm_summary` as a portable narwhals plan; returns the engine's own frame."""
    nw = _narwhals()
    unit = check_time_unit(time_unit)
    frame = nw.from_native(tx)
    schema = frame.collect_schema()
    for role, name in (("customer_id", customer_id), ("timestamp", timestamp), ("amount", amount)):
        if name is None:
            continue
        if name not in schema:
            raise ValueError(
                f"{role} column {name!r} not found; the columns are {list(schema.names())}"
            )
    if not isinstance(schema[timestamp], nw.Date | nw.Datetime):
        raise TypeError(
            f"timestamp column {timestamp!r} must be Date or Datetime; got {schema[timestamp]}"
        )
    if amount is not None and not schema[amount].is_numeric():
        raise TypeError(f"amount column {amount!r} must be numeric; got {schema[amount]}")
    keys = [c for c in (customer_id, timestamp, amount) if c is not None]
    # one aggregate query (a single row) so that nulls are an error, never a silent drop
    counts = frame.select(nw.col(c).null_count().alias(c) for c in keys)
    if isinstance(counts, nw.LazyFrame):
        counts = counts.collect()
    for c, n in zip(keys, counts.row(0), strict=True):
        if n:
            raise ValueError(
                f"column {c!r} has {n} null value(s); drop or fill them first "
                "(rows are never dropped silently)"
            )

    ts = nw.col(timestamp)
    cols = [nw.col(customer_id), _period(nw, ts, unit).alias(_PERIOD)]
    if amount is not None:
        cols.append(nw.col(amount).cast(nw.Float64).alias(_AMOUNT))
    rows = frame.select(cols)
    if observation_end is not None:
        if not isinstance(observation_end, dt.date):
            raise TypeError(
                "observation_end must be a datetime.date or datetime.datetime; "
                f"got {type(observation_end).__name__} {observation_end!r}"
            )
        rows = rows.filter(nw.col(_PERIOD) <= _literal_period(observation_end, unit))

    # stage 2: one row per (customer, purchase period), then per customer
    period_aggs = [nw.len().alias("__orders")]
    if amount is not None:
        period_aggs.append(nw.col(_AMOUNT).sum().alias(_AMOUNT))
    per_period = rows.group_by(customer_id, _PERIOD).agg(*period_aggs)
    first = per_period.group_by(customer_id).agg(
        nw.col(_PERIOD).min().alias("__first"),
        nw.col(_PERIOD).max().alias("__last"),
        nw.len().alias("__n"),
    )
    if amount is not None:
        repeat = (
            per_period.join(first.select(customer_id, "__first"), on=customer_id)
            .filter(nw.col(_PERIOD) != nw.col("__first"))
            .group_by(customer_id)
            .agg(nw.col(_AMOUNT).sum().alias("__repeat_total"))
        )
        first = first.join(repeat, on=customer_id, how="left")

    # stage 3: final ratios
    if observation_end is not None:
        end_period: Any = nw.lit(_literal_period(observation_end, unit))
    else:
        end_period = nw.col("__last").max()
    out = [
        nw.col(customer_id),
        (nw.col("__n") - 1).cast(nw.Int64).alias("frequency"),
        ((nw.col("__last") - nw.col("__first")) / time_scaler).cast(nw.Float64).alias("recency"),
        ((end_period - nw.col("__first")) / time_scaler).cast(nw.Float64).alias("T"),
    ]
    if amount is not None:
        out.append(
            nw.when(nw.col("__n") > 1)
            .then(nw.col("__repeat_total") / (nw.col("__n") - 1))
            .otherwise(0.0)
            .cast(nw.Float64)
            .alias("monetary_value")
        )
    return first.select(out).sort(customer_id).to_native()
