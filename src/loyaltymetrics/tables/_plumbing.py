"""Shared plumbing of the polars table plans: frames, log checks, integer keys, parts.

Every table module uses these: one place for the checks of a transaction log (columns,
dtypes, nulls), the (customer, period) sort keys, and the split of the customers into
parts (``partitions=``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import polars as pl

from loyaltymetrics._periods import period_index

from ._narwhals import AMOUNT, PERIOD, is_foreign_frame, null_problem, require


def schema_of(tx: object, name: str = "tx") -> tuple[pl.LazyFrame, pl.Schema]:
    """A LazyFrame view of a polars frame and its schema; ``TypeError`` for anything else."""
    if isinstance(tx, pl.DataFrame):
        return tx.lazy(), tx.schema
    if isinstance(tx, pl.LazyFrame):
        return tx, tx.collect_schema()
    raise TypeError(
        f"{name} must be a polars DataFrame or LazyFrame (or a pandas DataFrame); "
        f"got {type(tx).__name__}"
    )


def check_no_nulls(frame: pl.DataFrame, cols: list[str]) -> None:
    """Raise ``ValueError`` with the count if an eager frame has nulls in ``cols``."""
    nulls = frame.select(pl.col(cols).null_count()).row(0)
    for col, n in zip(cols, nulls, strict=True):
        if n:
            raise ValueError(null_problem(col, n))


def lazy_null_guard(cols: list[str]) -> pl.Expr:
    """An Int8 zero that fails at collect time if any of ``cols`` holds nulls.

    Added to a result column (so projection pushdown cannot drop it); the failing strict
    cast carries the message ``column 'x' has N null value(s) ...``.
    """
    guard = pl.lit(0, dtype=pl.Int8)
    for col in cols:
        n = pl.col(col).null_count()
        message = pl.format(
            "column '{}' has {} null value(s); drop or fill them first", pl.lit(col), n
        )
        guard = guard + pl.when(n > 0).then(message).otherwise(pl.lit("0")).cast(
            pl.Int8, strict=True
        )
    return guard


def check_log(
    tx: object, customer_id: object, timestamp: object, amount: object | None
) -> tuple[pl.LazyFrame, str, str, str | None, pl.DataType]:
    """Validate a transaction log; eager input is checked for nulls here."""
    lf, schema = schema_of(tx)
    cid = require(schema, customer_id, "customer_id")
    ts = require(schema, timestamp, "timestamp")
    ts_dtype = schema[ts]
    if not isinstance(ts_dtype, pl.Date | pl.Datetime):
        raise TypeError(
            f"timestamp column {ts!r} must be Date or Datetime; got {ts_dtype}. Parse it "
            "first, e.g. pl.col(...).str.to_datetime()"
        )
    amt = None
    if amount is not None:
        amt = require(schema, amount, "amount")
        if not schema[amt].is_numeric():
            raise TypeError(f"amount column {amt!r} must be numeric; got {schema[amt]}")
    if isinstance(tx, pl.DataFrame):
        check_no_nulls(tx, [c for c in (cid, ts, amt) if c is not None])
    return lf, cid, ts, amt, ts_dtype


def check_scaler(time_scaler: object) -> float:
    if isinstance(time_scaler, bool) or not isinstance(time_scaler, int | float):
        raise TypeError(
            f"time_scaler must be a positive number; got {type(time_scaler).__name__} "
            f"{time_scaler!r}"
        )
    value = float(time_scaler)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"time_scaler must be positive and finite; got time_scaler={value!r}")
    return value


_SMALL_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)
_KEY_SHIFT = 1 << 32  # key = id * 2**32 + (period + 2**31): ids within +-2**31


def _integer_key_fits(tx: object, cid: str, dtype: pl.DataType) -> bool:
    """Whether one Int64 sort key per (customer, period) cannot overflow."""
    if isinstance(dtype, _SMALL_INTS):
        return True
    if isinstance(dtype, pl.Int64 | pl.UInt64) and isinstance(tx, pl.DataFrame):
        if tx.height == 0:
            return True
        low, high = tx.select(lo=pl.col(cid).min(), hi=pl.col(cid).max()).row(0)
        return bool(low >= -(1 << 31) and high < (1 << 31))
    return False


def customer_period_key(tx: object, cid: str, dtype: pl.DataType) -> pl.Expr:
    """One integer per (customer, period) of integer ids, in (customer, period) order.

    ``id * 2**32 + (period + 2**31)``: an Int64 when the ids are known to fit
    (`_integer_key_fits`), an Int128 otherwise. `key_parts` recovers both halves.
    """
    key_dtype = pl.Int64 if _integer_key_fits(tx, cid, dtype) else pl.Int128
    return pl.col(cid).cast(key_dtype) * _KEY_SHIFT + (pl.col(PERIOD) + (1 << 31))


def key_parts(key: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The customer (``__cid``, the key's dtype) and the period (Int64) of a key."""
    customer = key // _KEY_SHIFT  # floor division: exact for negative ids too
    period = (key - customer * _KEY_SHIFT - (1 << 31)).cast(pl.Int64)
    return customer.alias("__cid"), period.alias(PERIOD)


def id_hash(c: pl.Expr) -> pl.Expr:
    """A 64-bit hash of non-integer ids (replaced in the tests to force collisions)."""
    return c.hash(0x6C6D)


def by_customer(frame: pl.LazyFrame, tx: object, cid: str, dtype: pl.DataType) -> pl.LazyFrame:
    """``frame`` with each customer's rows together, sorted by period within the customer.

    Sorting by two columns is about four times slower than by one integer key, so one
    key ``id * 2**32 + period`` is sorted instead. Integer ids use it as it is: an Int64
    when the ids are known to fit, an Int128 otherwise (a LazyFrame, or ids beyond
    2**31); the rows are then sorted by id, and the id column is flagged sorted.

    Other ids (strings, ...) use a 64-bit hash of the id in its place (an Int128 key),
    so the customers come in hash order, not id order: `group_customers` groups them by
    runs and sorts its output by id. Two ids with the same hash would interleave their
    rows, so the rows of any hash shared by two ids (found where the id changes but the
    hash does not) are taken out and sorted by (id, period): exact, and cheap when no
    hashes collide. For integer ids the frame is used once, so a lazy plan holds no
    cached copy of its input; the string path filters the sorted rows twice.
    """
    c = pl.col(cid)
    if dtype.is_integer():
        key = customer_period_key(tx, cid, dtype)
        return frame.sort(key).with_columns(c.set_sorted())
    h = pl.col("__hash")
    ordered = frame.with_columns(id_hash(c).alias("__hash")).sort(
        h.cast(pl.Int128) * _KEY_SHIFT + (pl.col(PERIOD) + (1 << 31))
    )
    # a hash block (contiguous) is shared if the id changes inside it: flag every row of
    # such a block by filling the shared hash forwards and backwards from those rows
    marker = pl.when((h == h.shift()) & (c != c.shift())).then(h)
    shared = (marker.forward_fill() == h) | (marker.backward_fill() == h)
    ordered = ordered.with_columns(shared.fill_null(False).alias("__shared"))
    clean = ordered.filter(~pl.col("__shared"))
    repaired = ordered.filter(pl.col("__shared")).sort(cid, PERIOD)
    return pl.concat([clean, repaired]).drop("__hash", "__shared")


def group_customers(
    ordered: pl.LazyFrame, cid: str, dtype: pl.DataType, aggs: list[pl.Expr]
) -> pl.LazyFrame:
    """One row per customer of a `by_customer` frame, sorted by id.

    Integer ids come sorted: a sorted group-by on the id. Other ids come in hash order: a
    group-by on runs of equal ids (no hash table over the id values), then a sort of
    the per-customer rows.
    """
    if dtype.is_integer():
        return ordered.group_by(cid, maintain_order=True).agg(aggs)
    c = pl.col(cid)
    run = (c != c.shift()).fill_null(True).cum_sum().alias("__run")
    return (
        ordered.with_columns(run)
        .group_by("__run", maintain_order=True)
        .agg(c.first(), *aggs)
        .drop("__run")
        .sort(cid)
    )


_PART_SEED = 0x4C4D  # fixed, so that a plan's parts do not depend on the session


def check_partitions(partitions: object, tx: object) -> int:
    """Validate `partitions` (a positive int; only 1 for engines other than polars)."""
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise TypeError(
            f"partitions must be a positive int; got {type(partitions).__name__} {partitions!r}"
        )
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1; got partitions={partitions}")
    if partitions > 1 and is_foreign_frame(tx):
        raise ValueError(
            f"partitions={partitions} applies to polars input only; "
            f"{type(tx).__module__}.{type(tx).__name__} is run by its own engine, which "
            "manages its memory itself: leave partitions at 1"
        )
    return partitions


def _check_part_nulls(rows: pl.DataFrame, raw: pl.LazyFrame) -> None:
    """Raise, with the count over the whole input, if one part's rows hold nulls.

    A ``LazyFrame`` is checked here, when its parts are collected: the same exception
    and message as the null guard of a one-part plan (`lazy_null_guard`).
    """
    if not any(rows.null_count().row(0)):
        return
    totals = raw.select(pl.all().null_count()).collect().row(0)
    for col, n in zip(raw.collect_schema().names(), totals, strict=True):
        if n:
            raise pl.exceptions.InvalidOperationError(
                f"column '{col}' has {n} null value(s); drop or fill them first"
            )


def in_parts(
    tx: object,
    lf: pl.LazyFrame,
    cid: str,
    columns: list[str],
    partitions: int,
    build: Callable[[object, pl.LazyFrame], pl.LazyFrame],
    combine: Callable[[pl.LazyFrame], pl.LazyFrame],
    finish: Callable[[pl.LazyFrame], pl.LazyFrame],
) -> pl.LazyFrame:
    """``finish(build(tx, lf))``, with `build` computed over disjoint sets of customers.

    One part of a ``DataFrame`` is the plain plan. A ``LazyFrame``, or more parts: the
    customers are split by a hash of the id (one part: no split), and the result is a
    deferred source (``pl.defer``): when it is collected,
    each part's rows of `columns` are read into memory in turn (one pass over the input
    per part), checked for nulls, and given to `build` as a ``DataFrame``, so each part
    runs the eager plan (an Int64 sort key when its ids fit). Only one part's rows are
    held at a time, whatever engine collects the result, and nothing runs before it is
    collected. `combine` puts the stacked part results together (a sort by id, or a sum
    of counts); `finish` runs inside the deferred source too, so that a plan which uses
    the combined table several times does not read the input again for each use.
    """
    if partitions == 1 and not isinstance(tx, pl.LazyFrame):
        return finish(build(tx, lf))
    # A LazyFrame with one part runs the same way (one pass, no filter): its needed
    # columns are read into memory and the eager plan runs on them. Every plan sorts the
    # whole log anyway, so this holds no more than the lazy plan did, and the eager plan
    # knows the ranges (an Int64 packed value sort where the lazy plan had to sort an
    # Int128 key: 10M orders, measured in one process, see docs/benchmarks.md). Rejected:
    # keeping the lazy plan and reading the id range in a first pass at call time
    # (a query before collect, and still the slower key sort for the other plans).
    raw = lf.select(columns)
    bucket = pl.col(cid).hash(_PART_SEED) % partitions
    empty = pl.DataFrame(schema=raw.collect_schema())
    schema = finish(build(empty, empty.lazy())).collect_schema()

    def run() -> pl.DataFrame:
        results = []
        for k in range(partitions):
            rows = (raw if partitions == 1 else raw.filter(bucket == k)).collect()
            _check_part_nulls(rows, raw)
            results.append(build(rows, rows.lazy()).collect())
            del rows  # free this part's orders before the next is read
        if partitions == 1:  # one part is the eager plan's own result: nothing to combine
            # (combine would re-sort customer_summary's 1M rows: lazy 1.70x eager at 10M)
            return finish(results[0].lazy()).collect()
        return finish(combine(pl.concat(results).lazy())).collect()

    return pl.defer(run, schema=schema)


def log_periods(
    tx: object,
    lf: pl.LazyFrame,
    cid: str,
    ts: str,
    amt: str | None,
    ts_dtype: pl.DataType,
    unit: str,
) -> pl.LazyFrame:
    """The log reduced to (customer id, period index, amount as Float64).

    For a ``LazyFrame`` the null check is folded into the period index (an aggregate that
    broadcasts a zero, or fails at collect time), so the optimiser cannot prune it.
    """
    period = period_index(pl.col(ts), ts_dtype, unit)
    if isinstance(tx, pl.LazyFrame):
        period = period + lazy_null_guard([c for c in (cid, ts, amt) if c is not None])
    cols = [pl.col(cid), period.alias(PERIOD)]
    if amt is not None:
        cols.append(pl.col(amt).cast(pl.Float64).alias(AMOUNT))
    return lf.select(cols)


def null_if_zero(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den`` as Float64, null where ``den`` is 0 (the polars form of nan)."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den)
