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

polars frames never come here: the polars plans in ``tables`` are the fast path, and the
tests check that both plans give the same tables.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

from . import _validation as v
from ._periods import check_active_window, check_time_unit, on_column_clock, parse_period

_PERIOD = "__lm_period"
_AMOUNT = "__lm_amount"
_DIGITS = 16  # base of the integer and day grids built from cross joins
_EPOCH = dt.date(1970, 1, 1)
_MONDAY_OFFSET = 3  # 1970-01-01 is a Thursday: weeks (Monday to Sunday) are (day + 3) // 7
_T_TOLERANCE = 1e-10  # relative error allowed for the Cornish-Fisher t quantile


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


# -- validation -------------------------------------------------------------------------

# kind of column -> (dtype check, nulls allowed)
_NOT_NULL = frozenset({"key", "temporal", "numeric", "boolean"})


def _validated(
    nw: Any,
    native: object,
    columns: Sequence[tuple[str, str | None, str]],
    *,
    extra: Callable[[Any, Any], tuple[Any, dict[str, Any]]] | None = None,
    name: str = "tx",
) -> tuple[Any, Any, dict[str, Any]]:
    """Check columns, dtypes and nulls; return the narwhals frame, its schema and ``extra``.

    ``columns`` holds ``(role, column name, kind)``; a ``None`` name is skipped. Kinds:
    ``key`` (any dtype), ``temporal`` (Date/Datetime), ``numeric``, ``boolean`` (these four
    may not hold nulls) and ``group``, ``answers`` (numeric) that may. ``extra`` receives
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
    not_null: list[str] = []
    for role, column, kind in columns:
        if column is None:
            continue
        _require(schema, column, role)
        dtype = schema[column]
        if kind == "temporal" and not isinstance(dtype, nw.Date | nw.Datetime):
            raise TypeError(
                f"{role} column {column!r} must be Date or Datetime; got {dtype}. Parse it "
                "first (e.g. with the engine's to_timestamp / strptime)"
            )
        if kind in ("numeric", "answers") and not dtype.is_numeric():
            raise TypeError(f"{role} column {column!r} must be numeric; got {dtype}")
        if kind == "boolean" and dtype != nw.Boolean:
            raise TypeError(f"{role} column {column!r} must be Boolean; got {dtype}")
        if kind in _NOT_NULL and column not in not_null:
            not_null.append(column)
    checked, named = extra(frame, schema) if extra is not None else (frame, {})
    aggs = [nw.col(c).null_count().alias(f"__nulls{i}") for i, c in enumerate(not_null)]
    aggs += [expr.alias(key) for key, expr in named.items()]
    if not aggs:
        return frame, schema, {}
    # one aggregate query (a single row) so that nulls are an error, never a silent drop
    row = checked.select(aggs)
    if isinstance(row, nw.LazyFrame):
        row = row.collect()
    values = row.row(0)
    for column, n in zip(not_null, values, strict=False):
        if n:
            raise ValueError(
                f"column {column!r} has {int(n)} null value(s); drop or fill them first "
                "(rows are never dropped silently)"
            )
    return frame, schema, dict(zip(named, values[len(not_null) :], strict=True))


def _require(schema: Any, column: object, role: str) -> str:
    if not isinstance(column, str):
        raise TypeError(
            f"{role} must be a column name (str); got {type(column).__name__} {column!r}"
        )
    if column not in schema:
        raise ValueError(
            f"{role} column {column!r} not found; the columns are {list(schema.names())}"
        )
    return column


def _int_or_none(value: Any) -> int | None:
    """An aggregate from the validation query as a Python int (engines return numpy/Decimal)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


# -- periods ----------------------------------------------------------------------------


def _with_index(nw: Any, frame: Any, timestamp: str, unit: str, n: int = 1) -> Any:
    """``frame`` with ``_PERIOD``: the index of the period of ``unit`` (times ``n``) of each row.

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
    if unit == "h":
        parts.append(ts.dt.hour().cast(nw.Int64).alias("__lm_h"))
    out = frame.with_columns(parts)
    if unit in ("M", "Q", "Y"):
        months = y * 12 + m - 1
        out = out.with_columns(
            (months if unit == "M" else y if unit == "Y" else months // 3).alias(_PERIOD)
        )
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
        steps.append({_PERIOD: days})
        if unit == "W":
            steps.append({_PERIOD: (nw.col(_PERIOD) + _MONDAY_OFFSET) // 7})
        if unit == "h":
            steps.append({_PERIOD: nw.col(_PERIOD) * 24 + nw.col("__lm_h")})
        for step in steps:
            out = out.with_columns(expr.alias(name) for name, expr in step.items())
    if n > 1:
        out = out.with_columns(nw.col(_PERIOD) // n)
    temps = ["__lm_y", "__lm_m", "__lm_d"]
    if unit == "h":
        temps.append("__lm_h")
    if unit in ("D", "W", "h"):
        temps += ["__lm_yy", "__lm_doy", "__lm_era", "__lm_yoe"]
    return out.drop(temps)


def _literal_index(value: dt.date, unit: str, n: int = 1) -> int:
    """The period index of a Python date/datetime, as ``_with_index``."""
    months = value.year * 12 + value.month - 1
    days = value.toordinal() - _EPOCH.toordinal()
    base = {
        "D": days,
        "W": (days + _MONDAY_OFFSET) // 7,
        "M": months,
        "Q": months // 3,
        "Y": value.year,
        "h": days * 24 + (value.hour if isinstance(value, dt.datetime) else 0),
    }[unit]
    return base // n


def _calendar_start(index: int, unit: str, n: int) -> dt.date:
    """First day of the calendar period with the given index (``_periods.calendar_start``)."""
    first = index * n
    if unit == "D":
        return _EPOCH + dt.timedelta(days=first)
    if unit == "W":
        return _EPOCH + dt.timedelta(days=first * 7 - _MONDAY_OFFSET)
    months = first * 3 if unit == "Q" else first * 12 if unit == "Y" else first
    return dt.date(months // 12, months % 12 + 1, 1)


# -- grids: every integer / every period between two bounds, built in the engine ----------


def _seed(nw: Any, frame: Any) -> Any:
    """A frame of (at most) one row in the engine, the source of literal rows."""
    return frame.head(1).select(nw.lit(0, nw.Int64).alias("__seed"))


def _grid(nw: Any, seed: Any, count: int, name: str, first_day: dt.date | None = None) -> Any:
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


def _period_starts(
    nw: Any, seed: Any, lo: int | None, hi: int | None, unit: str, n: int, name: str
) -> Any:
    """Rows ``__t`` = lo, ..., hi (Int64) with ``name``, the first day (Date) of period ``__t``."""
    if lo is None or hi is None:  # no orders: no periods
        empty = seed.select(nw.lit(0, nw.Int64).alias("__t"), nw.lit(_EPOCH).alias(name))
        return empty.filter(nw.col("__t") < 0)
    first, last = _calendar_start(lo, unit, n), _calendar_start(hi, unit, n)
    days = _grid(nw, seed, (last - first).days + 1, "__i", first_day=first)
    # keep the days that start a period: integer arithmetic on the day number for days
    # and weeks, the calendar month for months, quarters and years
    if unit in ("D", "W"):
        size, shift = (n, 0) if unit == "D" else (7 * n, _MONDAY_OFFSET)
        number = nw.col("__i") + ((first - _EPOCH).days + shift)
        days = days.with_columns((number // size).alias("__t"), (number % size).alias("__r"))
        starts = days.filter(nw.col("__r") == 0)
    else:
        size = {"M": 1, "Q": 3, "Y": 12}[unit] * n
        day = nw.col("__day")
        days = days.with_columns(
            (day.dt.year().cast(nw.Int64) * 12 + day.dt.month().cast(nw.Int64) - 1).alias(
                "__months"
            ),
            day.dt.day().cast(nw.Int64).alias("__dom"),
        ).with_columns(
            (nw.col("__months") // size).alias("__t"), (nw.col("__months") % size).alias("__r")
        )
        starts = days.filter((nw.col("__dom") == 1) & (nw.col("__r") == 0))
    return starts.select("__t", nw.col("__day").cast(nw.Date).alias(name))


def _null_if_zero(nw: Any, num: Any, den: Any) -> Any:
    """``num / den`` as Float64, null where ``den`` is 0 (as ``tables._null_if_zero``)."""
    return nw.when(den > 0).then(num.cast(nw.Float64) / den)


# -- rfm_summary --------------------------------------------------------------------------


def _log_columns(
    customer_id: str, timestamp: str, amount: str | None
) -> list[tuple[str, str | None, str]]:
    return [
        ("customer_id", customer_id, "key"),
        ("timestamp", timestamp, "temporal"),
        ("amount", amount, "numeric"),
    ]


def _check_end(value: object, name: str = "observation_end") -> None:
    if not isinstance(value, dt.date):
        raise TypeError(
            f"{name} must be a datetime.date or datetime.datetime; "
            f"got {type(value).__name__} {value!r}"
        )


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
    if observation_end is not None:
        _check_end(observation_end)
    frame, _, _ = _validated(nw, tx, _log_columns(customer_id, timestamp, amount))

    cols = [nw.col(customer_id), nw.col(timestamp)]
    if amount is not None:
        cols.append(nw.col(amount).cast(nw.Float64).alias(_AMOUNT))
    rows = _with_index(nw, frame.select(cols), timestamp, unit).drop(timestamp)
    if observation_end is not None:
        rows = rows.filter(nw.col(_PERIOD) <= _literal_index(observation_end, unit))

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
        end_period: Any = nw.lit(_literal_index(observation_end, unit))
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


# -- cohort_retention ---------------------------------------------------------------------


def cohort_retention(
    tx: Any,
    *,
    customer_id: str,
    timestamp: str,
    period: str,
    observation_end: dt.date | None,
) -> Any:
    """`tables.cohort_retention` as a portable narwhals plan; returns the engine's frame."""
    nw = _narwhals()
    unit, n = parse_period(period)
    end: list[int] = []  # the end period, once the timestamp's dtype is known

    def bounds(frame: Any, schema: Any) -> tuple[Any, dict[str, Any]]:
        kept = nw.col(_PERIOD)
        if observation_end is not None:
            clock = on_column_clock(observation_end, "observation_end", schema[timestamp])
            end.append(_literal_index(clock, unit, n))
            kept = nw.when(kept <= end[0]).then(kept)
        return _with_index(nw, frame, timestamp, unit, n), {"lo": kept.min(), "hi": kept.max()}

    frame, _, stats = _validated(nw, tx, _log_columns(customer_id, timestamp, None), extra=bounds)
    lo, hi = _int_or_none(stats["lo"]), _int_or_none(stats["hi"])
    rows = _with_index(nw, frame.select(customer_id, timestamp), timestamp, unit, n).select(
        customer_id, _PERIOD
    )
    if end:
        rows = rows.filter(nw.col(_PERIOD) <= end[0])
    # one row per (customer, period with an order)
    activity = rows.unique()
    cohorts = activity.group_by(customer_id).agg(nw.col(_PERIOD).min().alias("__cohort"))
    sizes = cohorts.group_by("__cohort").agg(nw.len().alias("cohort_size"))
    last = end[0] if end else hi
    seed = _seed(nw, frame)
    span = 0 if lo is None or last is None else last - lo + 1
    cells = sizes.join(_grid(nw, seed, span, "period_index"), how="cross").filter(
        nw.col("period_index") <= (last if last is not None else 0) - nw.col("__cohort")
    )
    active = (
        activity.join(cohorts, on=customer_id)
        .select("__cohort", (nw.col(_PERIOD) - nw.col("__cohort")).alias("period_index"))
        .group_by("__cohort", "period_index")
        .agg(nw.len().alias("active"))
    )
    starts = _period_starts(nw, seed, lo, hi, unit, n, "cohort")
    active_count = nw.col("active").fill_null(0).cast(nw.Int64)
    result = (
        cells.join(active, on=["__cohort", "period_index"], how="left")
        .join(starts, left_on="__cohort", right_on="__t", how="left")
        .select(
            "cohort",
            nw.col("period_index").cast(nw.Int64),
            nw.col("cohort_size").cast(nw.Int64),
            active_count.alias("active"),
            (active_count.cast(nw.Float64) / nw.col("cohort_size")).alias("retention"),
        )
        .sort("cohort", "period_index")
    )
    return result.to_native()


# -- period_summary -----------------------------------------------------------------------


def _anti_join(nw: Any, left: Any, right: Any, on: list[str]) -> Any:
    """Rows of ``left`` without a match in ``right`` (``right`` distinct on ``on``).

    A left join and a null filter: narwhals' ``how="anti"`` fails on Dask after a cross join.
    """
    marked = right.select(*on, nw.lit(1, nw.Int64).alias("__lm_match"))
    return (
        left.join(marked, on=on, how="left")
        .filter(nw.col("__lm_match").is_null())
        .drop("__lm_match")
    )


def period_summary(
    tx: Any,
    *,
    customer_id: str,
    timestamp: str,
    amount: str,
    period: str,
    active_window: int | None,
) -> Any:
    """`tables.period_summary` as a portable narwhals plan; returns the engine's frame.

    The base at the end of period t (customers with an order in the window up to t) is
    a set of (customer, t) rows; customers entering it are the anti-join of the base at t
    with the base at t − 1, customers leaving it the reverse. Entering customers are new
    (first order in t) or reactivated; no window function and no running sum is needed.
    """
    nw = _narwhals()
    if amount is None:
        raise TypeError("amount must be a column name (str); period_summary needs order values")
    unit, n = parse_period(period)
    window = check_active_window(active_window)
    frame, _, stats = _validated(
        nw,
        tx,
        _log_columns(customer_id, timestamp, amount),
        extra=lambda frame, _: (
            _with_index(nw, frame, timestamp, unit, n),
            {"lo": nw.col(_PERIOD).min(), "hi": nw.col(_PERIOD).max()},
        ),
    )
    lo, hi = _int_or_none(stats["lo"]), _int_or_none(stats["hi"])
    seed = _seed(nw, frame)
    cid, t = customer_id, "__t"
    orders = _with_index(
        nw,
        frame.select(cid, timestamp, nw.col(amount).cast(nw.Float64).alias(_AMOUNT)),
        timestamp,
        unit,
        n,
    ).select(cid, _PERIOD, _AMOUNT)
    visits = orders.group_by(cid, _PERIOD).agg(nw.len().alias("__orders"))
    # in the base at the end of t: an order in t − window + 1, ..., t
    base = visits.select(cid, nw.col(_PERIOD).alias(t))
    if window > 1:
        base = (
            base.join(_grid(nw, seed, window, "__j"), how="cross")
            .select(cid, (nw.col(t) + nw.col("__j")).alias(t))
            .unique()
        )
    before = base.select(cid, (nw.col(t) + 1).alias(t))  # in the base at the end of t − 1
    # every count is a sum over rows keyed by period: one union, one group-by, one join
    measures = {
        "customers_new": nw.lit(0, nw.Int64),
        "__entered": nw.lit(0, nw.Int64),
        "customers_lost": nw.lit(0, nw.Int64),
        "customers_end": nw.lit(0, nw.Int64),
        "__start": nw.lit(0, nw.Int64),
        "orders": nw.lit(0, nw.Int64),
        "revenue": nw.lit(0.0, nw.Float64),
        "__buyers": nw.lit(0, nw.Int64),
        "__repeat": nw.lit(0, nw.Int64),
    }
    one = nw.lit(1, nw.Int64)

    def rows(frame: Any, period: Any, **values: Any) -> Any:
        cols = [values.get(name, zero).alias(name) for name, zero in measures.items()]
        return frame.select(period.alias(t), *cols)

    first_orders = visits.group_by(cid).agg(nw.col(_PERIOD).min().alias(t))
    parts = [
        rows(first_orders, nw.col(t), customers_new=one),
        rows(_anti_join(nw, base, before, [cid, t]), nw.col(t), __entered=one),
        rows(_anti_join(nw, before, base, [cid, t]), nw.col(t), customers_lost=one),
        rows(base, nw.col(t), customers_end=one),
        rows(base, nw.col(t) + 1, __start=one),
        rows(orders, nw.col(_PERIOD), orders=one, revenue=nw.col(_AMOUNT)),
        rows(
            visits,
            nw.col(_PERIOD),
            __buyers=one,
            __repeat=(nw.col("__orders") >= 2).cast(nw.Int64),
        ),
    ]
    totals = nw.concat(parts).group_by(t).agg(nw.col(name).sum() for name in measures)
    grid = _period_starts(nw, seed, lo, hi, unit, n, "period")
    joined = grid.join(totals, on=t, how="left")

    def count(name: str) -> Any:
        return nw.col(name).fill_null(0).cast(nw.Int64)

    start, new_c, lost_c, end = (
        count("__start"),
        count("customers_new"),
        count("customers_lost"),
        count("customers_end"),
    )
    reactivated = count("__entered") - new_c
    orders_c, buyers_c = count("orders"), count("__buyers")
    revenue = nw.col("revenue").fill_null(0.0).cast(nw.Float64)
    result = joined.select(
        "period",
        start.alias("customers_start"),
        new_c.alias("customers_new"),
        reactivated.alias("customers_reactivated"),
        lost_c.alias("customers_lost"),
        end.alias("customers_end"),
        _null_if_zero(nw, end - new_c - reactivated, start).alias("retention_rate"),
        _null_if_zero(nw, lost_c, start).alias("churn_rate"),
        orders_c.alias("orders"),
        revenue.alias("revenue"),
        _null_if_zero(nw, revenue, orders_c).alias("average_order_value"),
        _null_if_zero(nw, orders_c, buyers_c).alias("purchase_frequency"),
        _null_if_zero(nw, count("__repeat"), buyers_c).alias("repeat_purchase_rate"),
    ).sort("period")
    return result.to_native()


# -- survey_summary -----------------------------------------------------------------------


def _z_quantile(confidence: object) -> float:
    from scipy import stats

    c = v.as_scalar(confidence, "confidence")
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got confidence={v.fmt(c)}")
    return float(stats.norm.ppf(0.5 + c / 2.0))


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


def survey_summary(
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
    nw = _narwhals()
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
    frame, _, stats = _validated(nw, survey, columns, extra=off_scale, name="survey")
    for metric, _, low, high in metrics:
        n_off = _int_or_none(stats[f"{metric}_off"])
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


# -- customer_summary ---------------------------------------------------------------------


def _with_previous(nw: Any, frame: Any, key: str, value: str) -> Any:
    """Add ``__prev``: the previous ``value`` of the same ``key`` (values distinct per key).

    A window ordered by ``value`` within ``key``; engines whose narwhals backend has no
    ordered window within groups (Dask, pyarrow) get the window over the whole frame
    ordered by (key, value), which is the same previous row when the keys match.
    """
    previous = nw.col(value).shift(1)
    try:
        return frame.with_columns(previous.over(key, order_by=value).alias("__prev"))
    except NotImplementedError:
        order = [key, value]
        shifted = frame.with_columns(
            nw.col(key).shift(1).over(order_by=order).alias("__lm_prev_key"),
            previous.over(order_by=order).alias("__lm_prev"),
        )
        same_key = nw.col("__lm_prev_key") == nw.col(key)
        return shifted.with_columns(
            nw.when(same_key).then(nw.col("__lm_prev")).alias("__prev")
        ).drop("__lm_prev_key", "__lm_prev")


def customer_summary(
    tx: Any,
    *,
    customer_id: str,
    timestamp: str,
    amount: str,
    observation_end: dt.date | None,
    discount: str | None,
) -> Any:
    """`tables.customer_summary` as a portable narwhals plan; returns the engine's frame.

    The median gap needs an exact group median: narwhals' ``median`` aggregation is exact
    on DuckDB, Spark, Dask and pandas, but approximate (a t-digest) on pyarrow, so a
    pyarrow Table raises ``NotImplementedError`` here.
    """
    nw = _narwhals()
    if observation_end is not None:
        _check_end(observation_end)
    columns = [*_log_columns(customer_id, timestamp, amount), ("discount", discount, "boolean")]
    frame, schema, stats = _validated(
        nw,
        tx,
        columns,
        extra=lambda frame, _: (
            _with_index(nw, frame, timestamp, "D"),
            {"last_day": nw.col(_PERIOD).max()},
        ),
    )
    if frame.implementation is nw.Implementation.PYARROW:
        raise NotImplementedError(
            "customer_summary cannot run on a pyarrow Table: median_interpurchase_days needs "
            "an exact group median, and the pyarrow group-by median is approximate "
            "(t-digest). Convert first: tables.customer_summary(polars.from_arrow(table), ...)"
        )
    if observation_end is not None:
        clock = on_column_clock(observation_end, "observation_end", schema[timestamp])
        end_day: int | None = _literal_index(clock, "D")
    else:
        end_day = _int_or_none(stats["last_day"])
    cid = customer_id
    cols = [
        nw.col(cid),
        nw.col(timestamp),
        nw.col(amount).cast(nw.Float64).alias(_AMOUNT),
    ]
    if discount is not None:
        cols.append(nw.col(discount).cast(nw.Float64).alias("__discount"))
    orders = _with_index(nw, frame.select(cols), timestamp, "D")
    if observation_end is not None:
        orders = orders.filter(nw.col(_PERIOD) <= end_day)
    aggs = [
        nw.len().alias("orders"),
        nw.col(_AMOUNT).sum().alias("revenue"),
        nw.col(timestamp).min().alias("first_order"),
        nw.col(timestamp).max().alias("last_order"),
        nw.col(_PERIOD).min().alias("__first_day"),
        nw.col(_PERIOD).max().alias("__last_day"),
    ]
    if discount is not None:
        aggs.append(nw.col("__discount").mean().alias("discount_share"))
    per_customer = orders.group_by(cid).agg(*aggs)
    days = orders.select(cid, _PERIOD).unique()
    gaps = (
        _with_previous(nw, days, cid, _PERIOD)
        .filter(~nw.col("__prev").is_null())
        .select(cid, (nw.col(_PERIOD) - nw.col("__prev")).cast(nw.Float64).alias("__gap"))
        .group_by(cid)
        .agg(nw.col("__gap").count().alias("__gaps"), nw.col("__gap").median().alias("__median"))
    )
    purchase_days = nw.col("__gaps").fill_null(0).cast(nw.Int64) + 1
    span = (nw.col("__last_day") - nw.col("__first_day")).cast(nw.Float64)
    out = [
        nw.col(cid),
        nw.col("orders").cast(nw.Int64),
        nw.col("revenue").cast(nw.Float64),
        "first_order",
        "last_order",
        (nw.col("revenue") / nw.col("orders")).cast(nw.Float64).alias("average_order_value"),
        purchase_days.alias("purchase_days"),
        nw.when(purchase_days > 1)
        .then(span / nw.when(purchase_days > 1).then(purchase_days - 1).otherwise(1))
        .cast(nw.Float64)
        .alias("mean_interpurchase_days"),
        nw.col("__median").cast(nw.Float64).alias("median_interpurchase_days"),
        (nw.lit(end_day if end_day is not None else 0) - nw.col("__first_day"))
        .cast(nw.Float64)
        .alias("tenure_days"),
    ]
    if discount is not None:
        out.append(nw.col("discount_share").cast(nw.Float64))
    result = per_customer.join(gaps, on=cid, how="left").select(out).sort(cid)
    return result.to_native()
