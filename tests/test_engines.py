"""One definition, many engines: the portable rfm_summary plan agrees with the polars plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loyaltymetrics import _portable, datasets, tables

pytest.importorskip("narwhals")

LOG = datasets.simulate_transactions(
    1500, start=dt.date(2020, 1, 1), end=dt.date(2021, 6, 1), seed=3
)


def _to_polars(out: Any) -> pl.DataFrame:
    if isinstance(out, pl.LazyFrame):
        return out.collect()
    if isinstance(out, pl.DataFrame):
        return out
    module = type(out).__module__.split(".")[0]
    if module == "pandas":
        return pl.from_pandas(out)
    if module == "pyarrow":
        return pl.from_arrow(out)  # type: ignore[return-value]
    if module == "duckdb":
        return out.pl()  # type: ignore[no-any-return]
    raise AssertionError(f"unexpected result type {type(out)}")


def _pandas(df: pl.DataFrame) -> Any:
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    return df.to_pandas()


def _arrow(df: pl.DataFrame) -> Any:
    pytest.importorskip("pyarrow")
    return df.to_arrow()


def _duckdb(df: pl.DataFrame) -> Any:
    duckdb = pytest.importorskip("duckdb")
    return duckdb.connect().from_arrow(df.to_arrow())


ENGINES: dict[str, Callable[[pl.DataFrame], Any]] = {
    "polars": lambda df: df,
    "polars-lazy": lambda df: df.lazy(),
    "pandas": _pandas,
    "pyarrow": _arrow,
    "duckdb": _duckdb,
}
OPTIONS = [
    {"time_unit": "D", "time_scaler": 1.0},
    {"time_unit": "D", "time_scaler": 7.0},
    {"time_unit": "W", "time_scaler": 1.0},
    {"time_unit": "M", "time_scaler": 1.0},
    {"time_unit": "D", "time_scaler": 1.0, "observation_end": dt.date(2021, 1, 15)},
]


def _native(log: pl.DataFrame, **kw: Any) -> pl.DataFrame:
    return tables.rfm_summary(log, amount="amount", **kw).sort("customer_id")


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_public_function_on_every_engine(engine: str, options: dict[str, Any]) -> None:
    frame = ENGINES[engine](LOG)
    out = tables.rfm_summary(frame, amount="amount", **options)
    if engine == "duckdb":
        assert type(out).__module__.startswith("duckdb")  # stays in the engine, lazy
    if engine == "polars-lazy":
        assert isinstance(out, pl.LazyFrame)
    got = _to_polars(out).sort("customer_id")
    assert_frame_equal(got, _native(LOG, **options), check_dtypes=False)


@pytest.mark.parametrize("engine", ["polars", "pandas", "pyarrow"])
def test_portable_plan_equals_polars_plan(engine: str) -> None:
    # the narwhals plan forced onto frames that normally take the polars path
    frame = ENGINES[engine](LOG)
    out = _portable.rfm_summary(
        frame,
        customer_id="customer_id",
        timestamp="timestamp",
        amount="amount",
        observation_end=None,
        time_unit="D",
        time_scaler=7.0,
    )
    assert_frame_equal(_to_polars(out), _native(LOG, time_scaler=7.0), check_dtypes=False)


days = st.integers(min_value=-800, max_value=800)
rows = st.lists(st.tuples(st.integers(0, 5), days, st.integers(0, 500)), min_size=1, max_size=40)


@given(rows=rows, unit=st.sampled_from(["D", "W", "M"]))
@settings(max_examples=40, deadline=None)
def test_civil_day_numbers_match_polars_on_random_logs(
    rows: list[tuple[int, int, int]], unit: str
) -> None:
    # dates on both sides of 1970 and of leap days; the portable plan computes day numbers
    # from year/month/day only
    base = dt.date(1970, 1, 1)
    log = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [base + dt.timedelta(days=r[1]) for r in rows],
            "amount": [r[2] / 10 for r in rows],
        }
    )
    out = _portable.rfm_summary(
        log,
        customer_id="customer_id",
        timestamp="timestamp",
        amount="amount",
        observation_end=None,
        time_unit=unit,
        time_scaler=1.0,
    )
    expected = _native(log, time_unit=unit)
    assert_frame_equal(_to_polars(out), expected, check_dtypes=False)


def test_errors_on_another_engine() -> None:
    frame = _arrow(LOG)
    with pytest.raises(ValueError, match="customer_id column 'who' not found"):
        tables.rfm_summary(frame, customer_id="who")
    with pytest.raises(TypeError, match="must be Date or Datetime"):
        tables.rfm_summary(_arrow(LOG.with_columns(pl.col("timestamp").cast(pl.String))))
    nulls = LOG.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("amount")).alias("amount")
    )
    with pytest.raises(ValueError, match="column 'amount' has 3 null value"):
        tables.rfm_summary(_arrow(nulls), amount="amount")
