"""Frame plumbing shared by the table functions: input kinds, column checks, null guards."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import polars as pl

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
F = TypeVar("F", bound=Callable[..., Any])


def _is_pandas(obj: object) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas" and type(obj).__name__ == "DataFrame"


def accepts_pandas(func: F) -> F:
    """Convert a pandas DataFrame first argument to polars at the edge.

    pandas stays optional: it is never imported here. The result is a polars DataFrame
    (pandas in, polars out); call ``.to_pandas()`` on it if needed (that needs pyarrow).
    """

    @functools.wraps(func)
    def wrapper(frame: object, *args: Any, **kwargs: Any) -> Any:
        if _is_pandas(frame):
            frame = pl.from_pandas(frame)
        return func(frame, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


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


def require(schema: pl.Schema, column: object, role: str) -> str:
    """The column name, after checking that it is a string naming an existing column."""
    if not isinstance(column, str):
        raise TypeError(f"{role} must be a column name (str); got {type(column).__name__}")
    if column not in schema:
        raise ValueError(
            f"{role} column {column!r} not found; the columns are {list(schema.names())}"
        )
    return column


def check_no_nulls(frame: pl.DataFrame, cols: list[str]) -> None:
    """Raise ``ValueError`` with the count if an eager frame has nulls in ``cols``."""
    nulls = frame.select(pl.col(cols).null_count()).row(0)
    for col, n in zip(cols, nulls, strict=True):
        if n:
            raise ValueError(
                f"column {col!r} has {n} null value(s); drop or fill them first "
                "(rows are never dropped silently)"
            )


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


def like(tx: object, result: pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """``result`` as the same kind of frame as ``tx``: lazy in, lazy out."""
    return result if isinstance(tx, pl.LazyFrame) else result.collect()
