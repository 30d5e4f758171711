"""Result checks shared by the benchmark scripts: an engine's table against the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

TOLERANCE = 1e-9


def compare(result: pl.DataFrame, reference: pl.DataFrame, keys: list[str]) -> str | None:
    """None if `result` holds the rows and values of `reference`, else what differs.

    Rows are matched on `keys` (order is not compared). Numbers must agree within
    ``TOLERANCE`` relative to ``max(1, |a|, |b|)``; NaN and null both mean "missing" and
    must be missing on both sides; dates, times and ids must be equal.
    """
    missing = [c for c in reference.columns if c not in result.columns]
    if missing:
        return f"columns {missing} missing; got {result.columns}"
    if result.height != reference.height:
        return f"{result.height} rows, expected {reference.height}"
    casts = [pl.col(k).cast(reference.schema[k]) for k in keys]
    got = result.select(reference.columns).with_columns(casts).sort(keys)
    want = reference.sort(keys)
    problems = []
    for name in reference.columns:
        dtype = reference.schema[name]
        a, b = got[name], want[name]
        if dtype.is_numeric():
            x = a.cast(pl.Float64).fill_null(np.nan).to_numpy()
            y = b.cast(pl.Float64).fill_null(np.nan).to_numpy()
            gone = np.isnan(x) != np.isnan(y)
            if gone.any():
                problems.append(f"{name}: missing on one side only in {gone.sum()} rows")
                continue
            scale = np.maximum(1.0, np.maximum(np.abs(x), np.abs(y)))
            rel = np.nan_to_num(np.abs(x - y) / scale)
            if rel.size and rel.max() > TOLERANCE:
                i = int(rel.argmax())
                problems.append(
                    f"{name}: {(rel > TOLERANCE).sum()} rows differ, worst {x[i]!r} vs "
                    f"{y[i]!r} at {want.select(keys).row(i)}"
                )
        elif not a.cast(dtype).equals(b):
            diff = (a.cast(dtype) != b).sum()
            problems.append(f"{name}: {diff} values differ")
    return "; ".join(problems) or None


def to_polars(result: Any) -> pl.DataFrame:
    """A polars DataFrame from a polars, pyarrow or pandas result."""
    if isinstance(result, pl.DataFrame):
        return result
    module = type(result).__module__
    if module.startswith("pyarrow"):
        out = pl.from_arrow(result)
        assert isinstance(out, pl.DataFrame)
        return out
    return pl.from_pandas(result)


def frame_mb(frame: pl.DataFrame) -> float:
    """In-memory size of `frame` in MiB: ``estimated_size()``, with String columns counted fully.

    polars stores strings as Arrow views: 16 bytes per value, plus the bytes of values
    longer than 12 bytes in a separate buffer. ``estimated_size()`` (polars 2.1) counts
    only the string bytes, so for a String column this uses the view layout instead.
    """
    size = 0.0
    for name, dtype in frame.schema.items():
        column = frame.get_column(name)
        if dtype == pl.String:
            lengths = column.str.len_bytes()
            long_bytes = float(lengths.filter(lengths > 12).cast(pl.Float64).sum())
            validity = column.len() / 8 if column.null_count() else 0.0
            size += 16.0 * column.len() + long_bytes + validity
        else:
            size += column.estimated_size()
    return size / 2**20
