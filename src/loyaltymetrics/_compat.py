"""Shims for the polars versions the package supports (``polars>=1.33``, 1.x and 2.x).

Each shim records the versions at which the behaviour was measured (installing the exact
release in a fresh Python 3.11 virtual environment and running the test suite):

* ``LazyFrame.explode(..., empty_as_null=)``: the keyword exists from polars 1.36.0
  (1.35.1 has none). On 1.36 to 1.44 leaving it out raises a ``DeprecationWarning``
  ("In Polars 2.0, the default behavior for `empty_as_null` will change to `False`"),
  and polars 2 turned the default to ``False``. `explode` asks for ``False`` (an empty
  list gives no row) where the keyword exists, and drops the rows whose list is empty
  before exploding where it does not, so every version gives the same rows.
* ``pl.defer``: from polars 1.25.0 (1.24.0 has none). Up to 1.44.2 an exception raised
  by the deferred function reaches the caller as ``ComputeError`` ("caught exception
  during execution of a Python source, exception: InvalidOperationError: ...");
  from 2.0.0 the function's own exception comes out. `defer` carries an
  ``InvalidOperationError`` out of the deferred function as a value and raises the same
  exception again from a function in the plan, as the null guard does
  (``tables._plumbing.lazy_null_guard``), so the type and message are the same on every
  version.

The floor itself (1.33.0): 1.30.0 panics inside polars (``entered unreachable code`` in
``polars-core/src/series/arithmetic/owned.rs``, an ``Add`` of the sort key in a sorted
lazy plan; 92 tests); 1.31.0 and 1.32.3 compute every table but have no
``polars.testing.assert_frame_equal(rel_tol=...)`` (``rtol`` before 1.33.0), which the
test suite uses, so the lowest version the suite can test is 1.33.0.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import TypeVar

import polars as pl

__all__ = ["POLARS_VERSION", "defer", "explode"]

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def _version(text: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", text)
    if match is None:  # pragma: no cover - every release is numbered
        raise ImportError(f"cannot read the polars version {text!r}")
    return int(match.group(1)), int(match.group(2))


POLARS_VERSION = _version(pl.__version__)
_EXPLODE_HAS_EMPTY_AS_NULL = "empty_as_null" in inspect.signature(pl.LazyFrame.explode).parameters
_DEFER_RAISES_ITS_OWN_ERRORS = POLARS_VERSION >= (2, 0)
_ERROR = "__lm_deferred_error"


def explode(frame: Frame, *columns: str) -> Frame:
    """``frame.explode(*columns)`` where an empty list gives no row (a null list one null).

    The lists of `columns` must have equal lengths in each row (as ``explode`` requires).
    """
    if _EXPLODE_HAS_EMPTY_AS_NULL:
        return frame.explode(*columns, empty_as_null=False)
    not_empty = pl.col(columns[0]).list.len().fill_null(1) > 0
    return frame.filter(not_empty).explode(*columns)


def defer(
    function: Callable[[], pl.DataFrame], *, schema: Mapping[str, pl.DataType] | pl.Schema
) -> pl.LazyFrame:
    """``pl.defer(function, schema=schema)``, the same on every supported polars.

    An ``InvalidOperationError`` raised by `function` comes out of ``collect`` as an
    ``InvalidOperationError`` whose message holds the function's message.
    """
    if _DEFER_RAISES_ITS_OWN_ERRORS:
        return pl.defer(function, schema=schema)
    columns = pl.Schema(schema)

    caught: list[pl.exceptions.InvalidOperationError] = []

    def run() -> pl.DataFrame:
        try:
            out = function()
        except pl.exceptions.InvalidOperationError as err:
            caught.append(err)
            # one row of nulls that carries the message; the check below raises it
            row = pl.DataFrame([pl.Series(n, [None], dtype=t) for n, t in columns.items()])
            return row.with_columns(pl.lit(str(err), dtype=pl.String).alias(_ERROR))
        return out.with_columns(pl.lit(None, dtype=pl.String).alias(_ERROR))

    def reraise(messages: pl.Series) -> pl.Series:
        # an exception raised by a function in the plan (not in the Python source) reaches
        # the caller of collect unchanged on 1.33+: the function's own exception, with its
        # message as the first line (a strict cast of the message, the first shim, showed
        # polars' "conversion from `str` to `i8` failed" first)
        if messages.null_count() < messages.len():
            if caught:
                raise caught[-1]
            raise pl.exceptions.InvalidOperationError(str(messages.drop_nulls()[0]))
        return messages

    carried = pl.defer(run, schema={**dict(columns), _ERROR: pl.String})
    # The check is a column of its own and the filter reads that column: a filter is never
    # pruned by projection pushdown, whatever the caller selects, and a filter on the
    # check itself would be pushed into the Python source (1.33.0), whose errors are wrapped
    checked = carried.with_columns(pl.col(_ERROR).map_batches(reraise, return_dtype=pl.String))
    return checked.filter(pl.col(_ERROR).is_null()).drop(_ERROR)
