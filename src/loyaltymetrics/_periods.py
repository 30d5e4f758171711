"""Time units: how timestamps are bucketed into purchase periods (one table, one place)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import polars as pl

TIME_UNITS: dict[str, str] = {
    "D": "calendar day",
    "W": "week, Monday to Sunday (ISO week)",
    "M": "calendar month",
    "h": "hour",
}
"""The purchase-period units accepted by the table functions."""

# 1970-01-01 (day 0) is a Thursday; Monday 1969-12-29 is day -3, so weeks are (day + 3) // 7.
MONDAY_OFFSET = 3
EPOCH = dt.date(1970, 1, 1)
"""Day 0 of the day numbers, week numbers and hour numbers; month 0 is its January."""
# Months, quarters and years are counted from January 1970 too, so that periods of n of
# them start where the days' and weeks' do: at the epoch, then every n units (counted
# from January of year 0 before, 7mo or 3y periods started elsewhere than documented).
EPOCH_YEAR = EPOCH.year

_MONTHS_PER = {"M": 1, "Q": 3, "Y": 12}

IntT = TypeVar("IntT")
"""An integer-like: a Python int, a polars or a narwhals integer expression."""


def unit_basis(unit: str) -> str:
    """What a period index is counted in: ``"day"`` (D, W), ``"month"`` (M, Q, Y), ``"hour"``."""
    return "day" if unit in ("D", "W") else "hour" if unit == "h" else "month"


def bucket(base: IntT, unit: str, n: int = 1) -> IntT:
    """The period index of `unit` (times `n`) from its `unit_basis` number.

    The one definition of the calendar numbering, for polars, narwhals and Python ints:
    days and hours since 1970-01-01 are their own index, Monday–Sunday weeks are
    ``(day + 3) // 7`` (day 0 is a Thursday), months since January 1970 are
    ``(year − 1970) * 12 + month − 1``, quarters ``month // 3`` and years ``month // 12``, and
    periods of `n` units are ``index // n`` (counted from the epoch, so that a `"2w"`
    period starts on a Monday an even number of weeks after 1969-12-29).
    """
    x: Any = base
    if unit == "W":
        x = (x + MONDAY_OFFSET) // 7
    elif unit in ("Q", "Y"):
        x = x // _MONTHS_PER[unit]
    result: IntT = x // n if n > 1 else x
    return result


def first_of(index: IntT, unit: str, n: int = 1) -> IntT:
    """The inverse of `bucket`: the first day number (D, W) or month number of a period."""
    first: Any = index
    first = first * n
    if unit == "W":
        first = first * 7 - MONDAY_OFFSET
    elif unit in _MONTHS_PER:
        first = first * _MONTHS_PER[unit]
    result: IntT = first
    return result


def check_time_unit(time_unit: object) -> str:
    """Validate a ``time_unit`` argument."""
    if not isinstance(time_unit, str):
        raise TypeError(
            f"time_unit must be one of {', '.join(map(repr, TIME_UNITS))}; "
            f"got {type(time_unit).__name__} {time_unit!r}"
        )
    if time_unit not in TIME_UNITS:
        raise ValueError(
            f"time_unit must be one of {', '.join(map(repr, TIME_UNITS))}; "
            f"got time_unit={time_unit!r}"
        )
    return time_unit


def local_date(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The ``Date`` of a ``Date`` or ``Datetime`` column (the local date when zone-aware)."""
    return expr if dtype == pl.Date else expr.dt.date()


def local_clock(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A naive ``Datetime`` of the local wall-clock time (``Date``: its midnight)."""
    if dtype == pl.Date:
        return expr.cast(pl.Datetime("us"))
    if getattr(dtype, "time_zone", None) is not None:
        return expr.dt.replace_time_zone(None)
    return expr


def period_index(expr: pl.Expr, dtype: pl.DataType, time_unit: str) -> pl.Expr:
    """Integer index of the ``time_unit`` period containing each timestamp.

    Consecutive periods have consecutive indices, so differences count periods. Works on
    ``Date`` and ``Datetime``; every unit, hours included, is read on the local clock of
    a time-zone-aware timestamp (its local date, month and hour).
    """
    if time_unit == "h":
        # hours on the local clock, like days and months: the epoch of a zone-aware column
        # counts UTC hours (two Kolkata orders at 10:10 and 10:50 fall in two UTC hours,
        # 04:00 and 05:00), so the zone is dropped first and the wall-clock time counted.
        # At a DST change the clock's hours are counted as the clock shows them: the
        # repeated hour of the autumn change is one period, the skipped spring one none.
        return (local_clock(expr, dtype).dt.epoch("s") // 3600).cast(pl.Int64)
    if time_unit == "M":
        year = expr.dt.year().cast(pl.Int64) - EPOCH_YEAR
        return year * 12 + expr.dt.month().cast(pl.Int64) - 1
    return bucket(local_date(expr, dtype).cast(pl.Int64), time_unit)


def on_column_clock(value: object, name: str, ts_dtype: pl.DataType) -> dt.date:
    """A ``date``/``datetime`` argument as a naive value on the timestamp column's clock.

    Periods of a time-zone-aware column are its local dates, so an aware argument is
    converted to the column's zone first; a naive argument (or a date) is read on the
    column's clock as it is. An aware argument with a naive column is ambiguous and
    raises ``TypeError``.
    """
    if not isinstance(value, dt.date):
        raise TypeError(
            f"{name} must be a datetime.date or datetime.datetime; "
            f"got {type(value).__name__} {value!r}"
        )
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        zone = getattr(ts_dtype, "time_zone", None)
        if zone is None:
            raise TypeError(
                f"{name} ({value.isoformat()}) has a time zone but the timestamp column "
                "has none; pass a naive datetime on the column's clock"
            )
        return value.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return value


def literal_period(value: object, name: str, time_unit: str, ts_dtype: pl.DataType) -> pl.Expr:
    """The period index of a Python ``date``/``datetime`` argument, as a polars literal."""
    value = on_column_clock(value, name, ts_dtype)  # a date or datetime, or it raised
    if isinstance(value, dt.datetime):
        return period_index(pl.lit(value, dtype=pl.Datetime("us")), pl.Datetime("us"), time_unit)
    return period_index(pl.lit(value, dtype=pl.Date), pl.Date(), time_unit)


# Calendar periods for cohort and period tables: "<n><unit>" with unit d, w, mo, q, y.
_CALENDAR_UNITS = {"d": "D", "w": "W", "mo": "M", "q": "Q", "y": "Y"}


def parse_period(period: object, name: str = "period") -> tuple[str, int]:
    """Parse a calendar period such as ``"1mo"``, ``"2w"``, ``"1q"`` into (unit, multiple)."""
    if not isinstance(period, str):
        raise TypeError(
            f"{name} must be a string such as '1d', '1w', '1mo', '1q' or '1y'; "
            f"got {type(period).__name__} {period!r}"
        )
    digits = len(period) - len(period.lstrip("0123456789"))
    count, unit = period[:digits], period[digits:]
    if not count or unit not in _CALENDAR_UNITS or int(count) < 1:
        raise ValueError(
            f"{name} must be <n><unit> with n >= 1 and unit d, w, mo, q or y "
            f"(e.g. '1mo'); got {name}={period!r}"
        )
    return _CALENDAR_UNITS[unit], int(count)


def check_active_window(active_window: object) -> int:
    """`period_summary`'s `active_window` as a whole number of periods >= 1 (None: 1)."""
    if active_window is None:
        return 1
    if isinstance(active_window, bool) or not isinstance(active_window, int):
        raise TypeError(
            f"active_window must be a whole number of periods; got "
            f"{type(active_window).__name__} {active_window!r}"
        )
    if active_window < 1:
        raise ValueError(f"active_window must be >= 1; got active_window={active_window}")
    return active_window


def calendar_index(expr: pl.Expr, dtype: pl.DataType, unit: str, n: int) -> pl.Expr:
    """Integer index of the calendar period (of ``n`` units) containing each timestamp.

    Weeks run Monday to Sunday; months, quarters and years are calendar ones. Periods of
    ``n`` units are counted from the epoch: ``nd`` from 1970-01-01, ``nw`` from the
    Monday 1969-12-29, ``nmo``, ``nq`` and ``ny`` from January 1970. So ``2w`` periods
    start on every other Monday from 1969-12-29 (2024-01-01 is one), ``5mo`` ones in
    January 1970, June 1970, ..., and ``2d`` ones on the even day numbers since 1970-01-01.
    Index 0 is the period that starts at the epoch.
    """
    if unit == "Y":  # the year itself: cheaper than months // 12, the same number
        base = expr.dt.year().cast(pl.Int64) - EPOCH_YEAR
        return base // n if n > 1 else base
    basis = "M" if unit_basis(unit) == "month" else "D"  # months or days, then the unit
    return bucket(period_index(expr, dtype, basis), unit, n)


def calendar_start(index: pl.Expr, unit: str, n: int) -> pl.Expr:
    """The first day (``Date``) of the calendar period with the given index."""
    first = first_of(index, unit, n)
    if unit_basis(unit) == "day":
        return first.cast(pl.Int32).cast(pl.Date)
    return pl.date(first // 12 + EPOCH_YEAR, first % 12 + 1, 1)


UNITS_PER_MONTH: dict[str, float] = {
    "h": 365.25 * 24 / 12,  # 730.5 hours
    "D": 365.25 / 12,  # 30.4375 days
    "W": 365.25 / 12 / 7,  # 4.3482 weeks
    "M": 1.0,
}
"""The one table of RFM time units per month (a month is 1/12 of a Julian year).

Its keys are those of `TIME_UNITS`, so the unit of a model's durations is named with the
same letters as the purchase periods of `rfm_summary`."""
