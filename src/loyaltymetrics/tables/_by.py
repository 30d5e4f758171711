"""``by=`` of the period tables: the segment columns, their checks, null-safe keys.

A segment is one combination of the ``by`` values; the unit of the tables becomes the
(customer, segment) pair. A null ``by`` value is a segment of its own, as in
``survey_summary``, a polars ``group_by`` or SQL's ``GROUP BY``: orders without a store
are a group to report, not an error (the customer id, timestamp and amount stay
errors when null) and never dropped. Joins do not match nulls by default (polars or
SQL), so the polars plans join with ``nulls_equal`` and the portable plans join on
null-free copies of the keys (`nw_segment_keys`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import polars as pl

from ._narwhals import Columns, require

# polars 1.24 renamed ``join_nulls`` to ``nulls_equal``; the lower bound is 1.20
_NULLS_EQUAL = (
    "nulls_equal"
    if "nulls_equal" in inspect.signature(pl.LazyFrame.join).parameters
    else "join_nulls"
)


def by_columns(
    by: object,
    schema: Columns,
    *,
    log_columns: Sequence[str | None],
    result_columns: Sequence[str],
) -> list[str]:
    """The ``by`` column names as a list ([] for None), after checking them.

    ``TypeError`` if `by` is not a name or a list of names; ``ValueError`` if a name is
    missing, repeated, one of the log's own columns (customer id, timestamp, amount),
    the name of a result column, or starts with ``__`` (the plans' helper columns).
    """
    if by is None:
        return []
    if isinstance(by, str):
        keys = [by]
    elif isinstance(by, list | tuple) and all(isinstance(k, str) for k in by):
        keys = list(by)
    else:
        raise TypeError(
            f"by must be a column name (str) or a list of names; got {type(by).__name__} {by!r}"
        )
    for k in keys:
        require(schema, k, "by")
        if keys.count(k) > 1:
            raise ValueError(f"by names column {k!r} more than once; got by={by!r}")
        if k in log_columns:
            raise ValueError(
                f"by column {k!r} is also the customer id, timestamp or amount column; "
                "segment by another column"
            )
        if k in result_columns:
            raise ValueError(
                f"by column {k!r} has the name of a result column ({', '.join(result_columns)}); "
                "rename it first"
            )
        if k.startswith("__"):
            raise ValueError(
                f"by column {k!r}: names starting with '__' are reserved for the plan's "
                "helper columns; rename it first"
            )
    return keys


def join_nullsafe(
    left: pl.LazyFrame, right: pl.LazyFrame, on: list[str], how: Any = "inner"
) -> pl.LazyFrame:
    """``left.join(right, on=on, how=how)`` where null keys match each other."""
    nulls: dict[str, Any] = {_NULLS_EQUAL: True}
    return left.join(right, on=on, how=how, **nulls)


def nw_segment_keys(nw: Any, frame: Any, keys: list[str]) -> tuple[Any, list[str], Any]:
    """One null-free join key for the ``by`` columns of a narwhals frame.

    The key ``__lm_seg`` is a string that tells every combination of values apart: per
    column, ``n`` for a null, else ``v<length>:<value as a string>`` (a prefix code, so
    the concatenation is unique; the string cast is one function of the value on each
    engine). SQL joins match it where they would not match a null. One key column rather
    than one per ``by`` column: Dask 2026.11 fails on a join after a concat and a
    group-by on three key columns (``KeyError ... not in index`` in its shuffle
    optimiser), and two work. Returns the frame with the key, ``["__lm_seg"]``, and the
    segments: one row per distinct combination, with the original ``by`` columns and the
    key, to put the original values (and dtypes) back at the end (``[]`` and ``None``
    without keys).
    """
    if not keys:
        return frame, [], None
    pieces: list[Any] = []
    for k in keys:
        text = nw.col(k).cast(nw.String)
        pieces.append(
            nw.when(nw.col(k).is_null())
            .then(nw.lit("n"))
            .otherwise(
                nw.concat_str(
                    [nw.lit("v"), text.str.len_chars().cast(nw.String), nw.lit(":"), text]
                )
            )
        )
    out = frame.with_columns(nw.concat_str(pieces).alias("__lm_seg"))
    segments = out.select(*keys, "__lm_seg").unique()
    return out, ["__lm_seg"], segments
