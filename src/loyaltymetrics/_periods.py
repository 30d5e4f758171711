"""Time units: how timestamps are bucketed into purchase periods (one table, one place)."""

from __future__ import annotations

import datetime as dt

import polars as pl

TIME_UNITS: dict[str, str] = {
    "D": "calendar day",
    "W": "week, Monday to Sunday (ISO week)",
    "M": "calendar month",
    "h": "hour",
}
"""The purchase-period units accepted by the table functions."""

# 1970-01-01 (day 0) is a Thursday; Monday 1969-12-29 is day -3, so weeks are (day + 3) // 7.
_MONDAY_OFFSET = 3


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


def period_index(expr: pl.Expr, dtype: pl.DataType, time_unit: str) -> pl.Expr:
    """Integer index of the ``time_unit`` period containing each timestamp.

    Consecutive periods have consecutive indices, so differences count periods. Works on
    ``Date`` and ``Datetime`` (the local date of a time-zone-aware timestamp).
    """
    if time_unit == "h":
        as_datetime = expr.cast(pl.Datetime("us")) if dtype == pl.Date else expr
        return (as_datetime.dt.epoch("s") // 3600).cast(pl.Int64)
    if time_unit == "M":
        return expr.dt.year().cast(pl.Int64) * 12 + expr.dt.month().cast(pl.Int64) - 1
    days = (expr if dtype == pl.Date else expr.dt.date()).cast(pl.Int64)
    if time_unit == "W":
        return (days + _MONDAY_OFFSET) // 7
    return days


def literal_period(value: object, name: str, time_unit: str) -> pl.Expr:
    """The period index of a Python ``date``/``datetime`` argument, as a polars literal."""
    if isinstance(value, dt.datetime):
        return period_index(pl.lit(value, dtype=pl.Datetime("us")), pl.Datetime("us"), time_unit)
    if isinstance(value, dt.date):
        return period_index(pl.lit(value, dtype=pl.Date), pl.Date(), time_unit)
    raise TypeError(
        f"{name} must be a datetime.date or datetime.datetime; got {type(value).__name__} {value!r}"
    )
