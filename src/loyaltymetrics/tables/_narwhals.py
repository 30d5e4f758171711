"""Portable table plans through narwhals, for frames of other engines (DuckDB, Spark, Dask).

The plans use only what every narwhals backend implements: ``dt.year/month/day/hour``,
integer ``//`` and ``%``, ``when/then``, joins (inner, left, anti, cross), ``concat``,
``unique`` and ``group_by().agg`` with plain column aggregations (``len``, ``count``,
``min``, ``max``, ``sum``, ``mean``, ``std``; ``median`` where the engine's is exact). Days
are civil day numbers computed from year, month and day (Hinnant's ``days_from_civil``),
so no engine needs ``total_seconds`` or epochs.

Things narwhals lacks, and what the plans do instead:

* windows (``shift().over``) are not portable (Dask has no ordered windows, pyarrow none
  within groups), so "was the customer in the base last period" is a self-join on
  (customer, period − 1) and an anti-join, never a window. The one exception is the gap
  between consecutive purchase days in `customer_summary`, which needs order: it is a
  ``shift().over(customer, order_by=day)`` window, or, on engines without ordered windows
  within groups (Dask, pyarrow), the same window over the whole frame ordered by
  (customer, day);
* there is no integer or date range constructor for lazy frames and no integer-to-date
  cast in DuckDB or Spark, so period grids (every period from the first to the last,
  including periods without orders) are cross joins of one-row literal frames: base-16
  digits for integers, and ``datetime + timedelta`` literals for calendar days, of which
  the days that start a period are kept (integer arithmetic on the day number for days
  and weeks; day 1 of the right month for months, quarters and years);
* narwhals writes ``a // b`` with ``a`` six times in SQL, so nested expressions grow
  exponentially as SQL text: every step of a period index is its own ``with_columns``;
* the Student-t quantile of the CES interval is a scipy call in the polars plan; here it
  is exact (scipy, at plan time) for small degrees of freedom and the Cornish-Fisher
  expansion (Abramowitz & Stegun 26.7.5) above, chosen so that the relative error is
  below 1e-10.

Each function runs one aggregate query at call time (collected even for lazy frames): the
null counts of the columns that may not be null, plus what the plan needs as literals
(the first and last period for grids, off-scale answer counts). Everything else stays in
the engine, lazy where the input is lazy.

Engine bugs worked around (narwhals 2.28, dask 2026.8): grids are kept in one partition
with ``head`` and anti-joins are left joins with a null filter, or Dask's optimiser fails
on later joins. A pyarrow Table cannot run `customer_summary`: its group-by median is
approximate (t-digest), and the function raises ``NotImplementedError``.

polars frames never come here: the polars plan of each table module is the fast path,
and the tests check that both plans give the same tables. The portable plan of each table
lives next to its polars plan; this module holds what they share. The subscription
tables have no narwhals plan yet: their portable plan is `through_polars` (collect into
polars, run the polars plan, give the result back in the engine's kind).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import polars as pl

from loyaltymetrics._periods import EPOCH, MONDAY_OFFSET, bucket, first_of, unit_basis
from loyaltymetrics._rules import Namespace

PERIOD = "__lm_period"
AMOUNT = "__lm_amount"
_DIGITS = 16  # base of the integer and day grids built from cross joins


def narwhals_module() -> Any:
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
        nw = narwhals_module()
    except TypeError:
        return False
    try:
        nw.from_native(tx)
    except TypeError:
        return False
    return True


def through_polars(plan: Callable[..., object], native: object, /, **options: object) -> Any:
    """Run a polars plan on another engine's frame; give back that engine's kind of frame.

    The portable plan of the tables that have no engine-native plan yet (the subscription
    tables): the frame is collected into a polars ``DataFrame`` (a lazy engine runs its
    query first), `plan` (a table function or polars plan) runs on it eagerly, and the
    result goes back to the caller's engine: eager engines (pyarrow) get their eager frame
    (``narwhals.from_arrow``), lazy ones (DuckDB, Dask, Spark) a lazy frame over the
    result (``narwhals.DataFrame.lazy``; Spark in the input's session). The data passes
    through this process's memory, so it suits tables with one row per subscription, not
    logs larger than memory. Validation is the polars plan's eager check, so errors are
    the same on every engine.
    """
    nw = narwhals_module()
    frame = nw.from_native(native)
    implementation = frame.implementation
    lazy = isinstance(frame, nw.LazyFrame)
    eager = frame.collect(backend="polars").to_native() if lazy else frame.to_polars()
    result = plan(eager, **options)
    if not isinstance(result, pl.DataFrame):  # pragma: no cover - eager in, eager out
        raise TypeError(f"the plan returned {type(result).__name__}, not a polars DataFrame")
    if not lazy:
        return nw.from_arrow(result.to_arrow(), backend=implementation).to_native()
    session = getattr(native, "sparkSession", None) if implementation.is_spark_like() else None
    back = nw.from_native(result)
    if session is not None:
        return back.lazy(backend=implementation, session=session).to_native()
    return back.lazy(backend=implementation).to_native()


# -- validation -------------------------------------------------------------------------

# kind of column -> (dtype check, nulls allowed)
_NOT_NULL = frozenset({"key", "temporal", "numeric", "amount", "boolean"})


def validated(
    nw: Any,
    native: object,
    columns: Sequence[tuple[str, str | None, str]],
    *,
    extra: Callable[[Any, Any], tuple[Any, dict[str, Any]]] | None = None,
    name: str = "tx",
) -> tuple[Any, Any, dict[str, Any]]:
    """Check columns, dtypes and nulls; return the narwhals frame, its schema and ``extra``.

    ``columns`` holds ``(role, column name, kind)``; a ``None`` name is skipped. Kinds:
    ``key`` (any dtype), ``temporal`` (Date/Datetime), ``numeric``, ``amount`` (numeric,
    and no NaN either), ``boolean`` (these five may not hold nulls) and ``group``,
    ``answers`` (numeric) that may. ``extra`` receives
    the frame and its schema and returns the frame (with helper columns, if needed) and
    named aggregate expressions over it; they are computed in the same single query as
    the null counts (the only query collected at call time), and their values are
    returned by name.
    """
    try:
        frame = nw.from_native(native)
    except TypeError as err:
        raise TypeError(
            f"{name} must be a frame that narwhals supports; got {type(native).__name__}"
        ) from err
    schema = frame.collect_schema()
    for _, column, kind in columns:
        if kind == "temporal" and column is not None and schema.get(column) == nw.Unknown:
            schema[column] = _zoned_pandas_dtype(nw, frame, column, schema[column])
    not_null: list[str] = []
    not_nan: list[str] = []  # NaN is an error in an amount, as a null is
    for role, column, kind in columns:
        if column is None:
            continue
        require(schema, column, role)
        dtype = schema[column]
        if kind == "temporal" and not isinstance(dtype, nw.Date | nw.Datetime):
            raise TypeError(
                f"{role} column {column!r} must be Date or Datetime; got {dtype}. Parse it "
                "first (e.g. with the engine's to_timestamp / strptime)"
            )
        if kind in ("numeric", "amount", "answers") and not dtype.is_numeric():
            raise TypeError(f"{role} column {column!r} must be numeric; got {dtype}")
        if kind == "boolean" and dtype != nw.Boolean:
            raise TypeError(f"{role} column {column!r} must be Boolean; got {dtype}")
        if kind in _NOT_NULL and column not in not_null:
            not_null.append(column)
        if kind == "amount" and dtype.is_float() and column not in not_nan:
            not_nan.append(column)
    checked, named = extra(frame, schema) if extra is not None else (frame, {})
    aggs = [nw.col(c).null_count().alias(f"__nulls{i}") for i, c in enumerate(not_null)]
    aggs += [
        nw.col(c).is_nan().cast(nw.Int64).sum().alias(f"__nans{i}") for i, c in enumerate(not_nan)
    ]
    aggs += [expr.alias(key) for key, expr in named.items()]
    if not aggs:
        return frame, schema, {}
    # one aggregate query (a single row) so that nulls are an error, never a silent drop
    row = checked.select(aggs)
    if isinstance(row, nw.LazyFrame):
        row = row.collect()
    values = row.row(0)
    nulls = dict(zip(not_null, values, strict=False))
    nans = dict(zip(not_nan, values[len(not_null) :], strict=False))
    for column in not_null:
        message = missing_message(column, int(nulls[column] or 0), int(nans.get(column) or 0))
        if message is not None:
            raise ValueError(message)
    named_values = values[len(not_null) + len(not_nan) :]
    return frame, schema, dict(zip(named, named_values, strict=True))


def missing_message(column: str, nulls: int, nans: int = 0) -> str | None:
    """The message for nulls (or NaN amounts) in `column`, or None when there are none.

    One text for every engine. pandas and Dask hold a missing float as NaN, and report
    it as a null.
    """
    if nulls:
        return null_problem(column, nulls)
    if nans:
        return (
            f"column {column!r} has {nans} NaN value(s); an amount must be a number: "
            "drop or fill them first (rows are never dropped silently)"
        )
    return None


# The log's columns under internal names (as the polars plans): a plan selects them first,
# so a user's column named like an output or a helper column is never in it.
CID, TS, AMT = "__lm_cid", "__lm_ts", "__lm_amt"


def internal_log(nw: Any, frame: Any, columns: dict[str, str | None]) -> tuple[Any, dict[str, str]]:
    """``frame`` reduced to ``columns`` (internal name -> user column, None skipped)."""
    labels = {internal: user for internal, user in columns.items() if user is not None}
    return frame.select(nw.col(user).alias(internal) for internal, user in labels.items()), labels


def _zoned_pandas_dtype(nw: Any, frame: Any, column: str, dtype: Any) -> Any:
    """The narwhals dtype of a zone-aware pandas-like (Dask) timestamp column.

    narwhals 2.29 reports a pandas ``datetime64[us, <zone>]`` column (pandas 3) as
    ``Unknown``; its native dtype has the unit and the zone. Anything else stays as it is.
    """
    native = getattr(frame.to_native(), "dtypes", {}).get(column)
    zone, unit = getattr(native, "tz", None), getattr(native, "unit", None)
    if zone is None or unit not in ("s", "ms", "us", "ns"):
        return dtype
    return nw.Datetime(time_unit=unit, time_zone=str(zone))


class Columns(Protocol):
    """A schema: polars' and narwhals' both answer ``in`` and ``names()``."""

    def __contains__(self, key: object, /) -> bool: ...

    def names(self) -> list[str]: ...


def require(schema: Columns, column: object, role: str) -> str:
    """The column name, after checking that it is a string naming an existing column.

    The one check of a column argument, for the polars and the portable plans.
    """
    if not isinstance(column, str):
        raise TypeError(
            f"{role} must be a column name (str); got {type(column).__name__} {column!r}"
        )
    if column not in schema:
        raise ValueError(
            f"{role} column {column!r} not found; the columns are {list(schema.names())}"
        )
    return column


def null_problem(column: str, n: int) -> str:
    """The one message for nulls where none may be (eager check, parts, other engines)."""
    return (
        f"column {column!r} has {n} null value(s); drop or fill them first "
        "(rows are never dropped silently)"
    )


def int_or_none(value: Any) -> int | None:
    """An aggregate from the validation query as a Python int (engines return numpy/Decimal)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


# -- periods ----------------------------------------------------------------------------


def with_index(nw: Any, frame: Any, timestamp: str, unit: str, n: int = 1) -> Any:
    """``frame`` with ``PERIOD``: the index of the period of ``unit`` (times ``n``) of each row.

    Units: ``D`` day, ``W`` Monday-Sunday week, ``M`` month, ``Q`` quarter, ``Y`` year (the
    numbering of ``_periods.period_index`` and ``calendar_index``: counted from the epoch)
    and ``h`` hour. Days are Hinnant's ``days_from_civil`` of year, month and day. Each step
    is its own ``with_columns`` over named columns: SQL engines expand a nested
    expression into text (narwhals writes ``a // b`` with ``a`` six times), so one nested
    expression would grow exponentially with the depth of ``//``.
    """
    ts = nw.col(timestamp)
    y, m, d = nw.col("__lm_y"), nw.col("__lm_m"), nw.col("__lm_d")
    parts = [
        ts.dt.year().cast(nw.Int64).alias("__lm_y"),
        ts.dt.month().cast(nw.Int64).alias("__lm_m"),
        ts.dt.day().cast(nw.Int64).alias("__lm_d"),
    ]
    if unit == "h":  # a Date is at midnight (pyarrow has no hour of a date)
        is_date = frame.collect_schema()[timestamp] == nw.Date
        hour = nw.lit(0, nw.Int64) if is_date else ts.dt.hour().cast(nw.Int64)
        parts.append(hour.alias("__lm_h"))
    out = frame.with_columns(parts)
    if unit in ("M", "Q", "Y"):
        out = out.with_columns(bucket((y - EPOCH.year) * 12 + m - 1, unit).alias(PERIOD))
    else:
        steps = [
            {
                "__lm_yy": y - nw.when(m <= 2).then(1).otherwise(0),
                "__lm_doy": (153 * ((m + 9) % 12) + 2) // 5 + d - 1,
            },
            {"__lm_era": nw.col("__lm_yy") // 400},
            {"__lm_yoe": nw.col("__lm_yy") - nw.col("__lm_era") * 400},
        ]
        yoe = nw.col("__lm_yoe")
        days = (
            nw.col("__lm_era") * 146097
            + yoe * 365
            + yoe // 4
            - yoe // 100
            + nw.col("__lm_doy")
            - 719468
        )
        steps.append({PERIOD: days})
        if unit == "W":
            steps.append({PERIOD: bucket(nw.col(PERIOD), unit)})
        if unit == "h":
            steps.append({PERIOD: nw.col(PERIOD) * 24 + nw.col("__lm_h")})
        for step in steps:
            out = out.with_columns(expr.alias(name) for name, expr in step.items())
    if n > 1:
        out = out.with_columns(nw.col(PERIOD) // n)
    temps = ["__lm_y", "__lm_m", "__lm_d"]
    if unit == "h":
        temps.append("__lm_h")
    if unit in ("D", "W", "h"):
        temps += ["__lm_yy", "__lm_doy", "__lm_era", "__lm_yoe"]
    return out.drop(temps)


def literal_index(value: dt.date, unit: str, n: int = 1) -> int:
    """The period index of a Python date/datetime, as ``with_index``."""
    days = value.toordinal() - EPOCH.toordinal()
    basis = unit_basis(unit)
    if basis == "day":
        return bucket(days, unit, n)
    if basis == "hour":
        return bucket(days * 24 + (value.hour if isinstance(value, dt.datetime) else 0), unit, n)
    return bucket((value.year - EPOCH.year) * 12 + value.month - 1, unit, n)


def period_start_date(index: int, unit: str, n: int) -> dt.date:
    """First day of the calendar period with the given index (``_periods.calendar_start``)."""
    first = first_of(index, unit, n)
    if unit_basis(unit) == "day":
        return EPOCH + dt.timedelta(days=first)
    return dt.date(first // 12 + EPOCH.year, first % 12 + 1, 1)


# -- grids: every integer / every period between two bounds, built in the engine ----------


def seed(nw: Any, frame: Any) -> Any:
    """A frame of (at most) one row in the engine, the source of literal rows."""
    return frame.head(1).select(nw.lit(0, nw.Int64).alias("__seed"))


def grid(nw: Any, seed: Any, count: int, name: str, first_day: dt.date | None = None) -> Any:
    """Rows ``name`` = 0, ..., count − 1 (Int64), from base-16 digits and cross joins.

    With ``first_day``, a column ``__day`` holds ``first_day + name`` days, built from
    ``datetime + timedelta`` literals (engines cannot cast integers to dates). One frame of
    digits (one literal row each) serves every level; ``head`` keeps it, and the grid, in
    one partition (Spark otherwise runs a task per literal row, and Dask's optimiser fails
    on joins after later group-bys of a frame with one partition per row).
    """
    steps = []
    step = 1
    while step < count:
        steps.append(step)
        step *= _DIGITS
    cols = [nw.lit(0, nw.Int64).alias(name)]
    if first_day is not None:
        start = dt.datetime(first_day.year, first_day.month, first_day.day)
        cols.append(nw.lit(start).alias("__day"))
    out = seed.select(cols)
    if steps:
        rows = []
        for a in range(_DIGITS if len(steps) > 1 else count):
            row = [nw.lit(a, nw.Int64).alias("__digit")]
            if first_day is not None:
                row += [
                    nw.lit(dt.timedelta(days=a * s)).alias(f"__offset{k}")
                    for k, s in enumerate(steps)
                ]
            rows.append(seed.select(row))
        digits = nw.concat(rows).head(len(rows))
        for k, s in enumerate(steps):
            moved = [(nw.col(name) + nw.col("__digit") * s).alias(name)]
            if first_day is not None:
                moved.append((nw.col("__day") + nw.col(f"__offset{k}")).alias("__day"))
            out = out.join(digits, how="cross").select(moved)
    return out.filter(nw.col(name) < count).head(max(count, 0))


def period_starts(
    nw: Any, seed: Any, lo: int | None, hi: int | None, unit: str, n: int, name: str
) -> Any:
    """Rows ``__t`` = lo, ..., hi (Int64) with ``name``, the first day (Date) of period ``__t``."""
    if lo is None or hi is None:  # no orders: no periods
        empty = seed.select(nw.lit(0, nw.Int64).alias("__t"), nw.lit(EPOCH).alias(name))
        return empty.filter(nw.col("__t") < 0)
    first, last = period_start_date(lo, unit, n), period_start_date(hi, unit, n)
    days = grid(nw, seed, (last - first).days + 1, "__i", first_day=first)
    # keep the days that start a period: integer arithmetic on the day number for days
    # and weeks, the calendar month for months, quarters and years
    if unit in ("D", "W"):
        size, shift = (n, 0) if unit == "D" else (7 * n, MONDAY_OFFSET)
        number = nw.col("__i") + ((first - EPOCH).days + shift)
        days = days.with_columns((number // size).alias("__t"), (number % size).alias("__r"))
        starts = days.filter(nw.col("__r") == 0)
    else:
        size = {"M": 1, "Q": 3, "Y": 12}[unit] * n
        day = nw.col("__day")
        days = days.with_columns(
            (
                (day.dt.year().cast(nw.Int64) - EPOCH.year) * 12 + day.dt.month().cast(nw.Int64) - 1
            ).alias("__months"),
            day.dt.day().cast(nw.Int64).alias("__dom"),
        ).with_columns(
            (nw.col("__months") // size).alias("__t"), (nw.col("__months") % size).alias("__r")
        )
        starts = days.filter((nw.col("__dom") == 1) & (nw.col("__r") == 0))
    return starts.select("__t", nw.col("__day").cast(nw.Date).alias(name))


def namespace(nw: Any) -> Namespace[Any]:
    """The `loyaltymetrics._rules` namespace of narwhals expressions."""

    def if_else(cond: Any, x: Any, y: Any) -> Any:
        then = nw.when(cond).then(x)
        return then if y is None else then.otherwise(y)

    def cases(pairs: list[tuple[Any, float]], otherwise: Any) -> Any:
        if not pairs:
            return otherwise
        (cond, x), *rest = pairs
        chain = nw.when(cond).then(x)
        for cond, x in rest:
            chain = chain.when(cond).then(x)
        return chain.otherwise(otherwise)

    return Namespace(
        sqrt=lambda x: x.sqrt(),
        clip=lambda x, low, high: x.clip(low, high),
        # not nw.min_horizontal: on Dask it fails ("objects are not co-aligned") after a
        # group-by; the rules only take the min/max of two non-null values
        fmin=lambda a, b: nw.when(a <= b).then(a).otherwise(b),
        fmax=lambda a, b: nw.when(a >= b).then(a).otherwise(b),
        if_else=if_else,
        cases=cases,
        to_float=lambda x: x.cast(nw.Float64),
    )


# -- rfm_summary --------------------------------------------------------------------------


def log_columns(
    customer_id: str, timestamp: str, amount: str | None
) -> list[tuple[str, str | None, str]]:
    return [
        ("customer_id", customer_id, "key"),
        ("timestamp", timestamp, "temporal"),
        ("amount", amount, "amount"),
    ]


def check_end(value: object, name: str = "observation_end") -> None:
    if not isinstance(value, dt.date):
        raise TypeError(
            f"{name} must be a datetime.date or datetime.datetime; "
            f"got {type(value).__name__} {value!r}"
        )
