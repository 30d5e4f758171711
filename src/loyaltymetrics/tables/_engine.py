"""The one engine boundary of the table functions: any frame in, the same kind out.

A table module writes its polars plan as a plain function of a polars frame and its
options, and decorates it with `table` (naming its portable plan, if it has one). The
decorator returns a `Table`, whose call

* runs the polars plan on a polars ``DataFrame`` or ``LazyFrame`` and returns the same
  kind (lazy in, lazy out; nothing is collected for lazy input);
* converts a pandas ``DataFrame`` to polars (``polars.from_pandas``), runs the polars plan
  and converts the result back (``to_pandas``): pandas in, pandas out;
* hands any other frame that narwhals knows (a DuckDB relation, a pyarrow Table, Spark,
  Dask, ...) to the portable plan, which runs inside that engine and returns its frame;
* raises ``TypeError`` naming the argument for anything else.

Both plans receive the same arguments, so one option check serves both.

Typing: `Table.__call__` is overloaded once for every table: a polars ``DataFrame`` gives
a ``DataFrame``, a ``LazyFrame`` a ``LazyFrame``, and any other native frame type
(narwhals' ``IntoFrameT``: pandas, a DuckDB relation, ...) the same type, so user code
such as ``rel2 = tables.rfm_summary(rel)`` passes ``mypy --strict`` with ``rel2`` typed
as a ``DuckDBPyRelation``. The implementation returns ``object``: the kind of its result
is what the overloads promise, and the tests check it for every kind and function.

Rejected designs: a ``TypeVar`` constrained to the polars frames (the former
``FrameT``) cannot express "any native frame"; a decorator typed with ``Callable[...,
Any]`` (the former ``accepts_pandas``) erased every signature; one dispatch block per
function was copied five times.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, Generic, ParamSpec, TypeAlias, TypeGuard, overload

import polars as pl

from ._narwhals import is_foreign_frame

if TYPE_CHECKING:  # narwhals is an optional extra; its types are only needed by mypy
    import pandas as pd
    from narwhals.typing import IntoFrameT

P = ParamSpec("P")

PolarsFrame: TypeAlias = pl.DataFrame | pl.LazyFrame
"""The input and output of a polars plan."""

PolarsPlan: TypeAlias = Callable[Concatenate[PolarsFrame, P], PolarsFrame]
"""A polars plan: a polars frame and the options in, a frame (often lazy) out."""

PortablePlan: TypeAlias = Callable[..., object]
"""A portable plan: an engine's native frame and every option, by keyword, in; that
engine's frame out. Its parameter names are the public function's (a test checks them)."""


_ENGINES_HINT = (
    " (DuckDB, pyarrow, Spark, Dask and other engines go through narwhals: "
    'pip install "loyaltymetrics[engines]")'
)


def _is_pandas(frame: object) -> TypeGuard[pd.DataFrame]:
    """A pandas ``DataFrame``, recognised without importing pandas (an optional extra)."""
    kind = type(frame)
    return kind.__module__.split(".")[0] == "pandas" and kind.__name__ == "DataFrame"


def _collected(result: PolarsFrame) -> pl.DataFrame:
    return result if isinstance(result, pl.DataFrame) else result.collect()


def like(frame: object, result: PolarsFrame) -> PolarsFrame:
    """`result` as the kind of polars frame `frame` is: lazy in, lazy out; else eager."""
    if isinstance(frame, pl.LazyFrame) or isinstance(result, pl.DataFrame):
        return result
    return result.collect()


class Table(Generic[P]):
    """A table function: `table`'s wrapper of a polars plan and its portable plan."""

    def __init__(self, plan: PolarsPlan[P], portable: PortablePlan | None) -> None:
        self._plan = plan
        self._portable = portable
        self._signature = inspect.signature(plan)
        self._frame_name = next(iter(self._signature.parameters))
        functools.update_wrapper(self, plan)

    @overload
    def __call__(
        self, frame: pl.DataFrame, /, *args: P.args, **kwargs: P.kwargs
    ) -> pl.DataFrame: ...

    @overload
    def __call__(
        self, frame: pl.LazyFrame, /, *args: P.args, **kwargs: P.kwargs
    ) -> pl.LazyFrame: ...

    @overload
    def __call__(self, frame: IntoFrameT, /, *args: P.args, **kwargs: P.kwargs) -> IntoFrameT: ...

    def __call__(self, frame: object, /, *args: P.args, **kwargs: P.kwargs) -> object:
        if isinstance(frame, pl.DataFrame | pl.LazyFrame):
            return like(frame, self._plan(frame, *args, **kwargs))
        if _is_pandas(frame):
            eager = pl.from_pandas(frame)
            return _collected(self._plan(eager, *args, **kwargs)).to_pandas()
        if self._portable is not None and is_foreign_frame(frame):
            # every option by name, defaults included: the portable plan repeats no default
            bound = self._signature.bind(frame, *args, **kwargs)
            bound.apply_defaults()
            return self._portable(**bound.arguments)
        engines = " or another engine's frame" if self._portable is not None else ""
        raise TypeError(
            f"{self._frame_name} must be a polars DataFrame or LazyFrame, a pandas "
            f"DataFrame{engines}; got {type(frame).__module__}.{type(frame).__name__}"
            + (self._portable is not None)
            * _ENGINES_HINT
        )

    def __repr__(self) -> str:
        return f"<table function {getattr(self._plan, '__name__', '?')}>"


def table(portable: PortablePlan | None = None) -> Callable[[PolarsPlan[P]], Table[P]]:
    """Decorate a polars plan into a table function, with its portable plan (or none)."""

    def decorate(plan: PolarsPlan[P]) -> Table[P]:
        return Table(plan, portable)

    return decorate
