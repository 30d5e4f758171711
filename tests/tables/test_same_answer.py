"""Same answer everywhere: every table function gives the same table on every engine.

Random transaction logs (hypothesis) with time-zone-aware timestamps (New York, with its
two DST changes, and Kolkata, a half-hour zone), naive timestamps and dates; ids of every
integer dtype (values at the dtype's edges and around 2**31, where the sort keys
change), strings and categoricals; refunds, duplicated rows and unsorted input. Each
log goes through every table function of a log on polars (the reference), polars lazy,
pandas, pyarrow and DuckDB in a session whose zone is not the data's, and the tables
must be equal once converted to polars. Dask and Spark (marker ``spark``) take seconds
per query, so they run one fixed log with a bit of everything (`_rich_log`) instead.

A DuckDB ``TIMESTAMP WITH TIME ZONE`` column (and a Spark ``TimestampType`` one) holds
instants without a zone: the engine, and narwhals, give it the session's zone, and
``relation.pl()`` returns it in that zone. So the reference for an aware log on those
engines is the polars table of the same instants in the session's zone (for naive and
date logs the session's zone plays no part, and the reference is the log's own table).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loyaltymetrics import tables

pytest.importorskip("narwhals")
pytest.importorskip("pyarrow")
pytest.importorskip("pandas")
duckdb = pytest.importorskip("duckdb")

NY, KOLKATA, SESSION = "America/New_York", "Asia/Kolkata", "Asia/Tokyo"
CLOCKS = ["naive", "date", NY, KOLKATA]
ID_DTYPES: list[pl.DataType] = [
    pl.Int8(),
    pl.Int16(),
    pl.Int32(),
    pl.Int64(),
    pl.UInt8(),
    pl.UInt16(),
    pl.UInt32(),
    pl.UInt64(),
    pl.String(),
    pl.Categorical(),
]
# clusters of orders: the New York DST changes, a year's end, a month's end (UTC starts)
CLUSTERS = [
    dt.datetime(2024, 3, 9),
    dt.datetime(2024, 11, 2),
    dt.datetime(2023, 12, 30),
    dt.datetime(2024, 1, 30),
]
MINUTES = 3 * 24 * 60  # each cluster spans three days


def _edge_ids(dtype: pl.DataType) -> list[Any]:
    """Ids at the dtype's extremes, around 0 and around +-2**31 (where they fit)."""
    if not dtype.is_integer():
        return ["b", "a0", "ä", "Z", "a", "10"]
    name = str(dtype)
    bits = int(name.removeprefix("U").removeprefix("Int"))
    signed = not name.startswith("U")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    near = [lo, lo + 1, 0, 1, hi - 1, hi, (1 << 31) - 1, 1 << 31, -(1 << 31) - 1, -(1 << 31)]
    return sorted({v for v in near if lo <= v <= hi})


@st.composite
def logs(draw: st.DrawFn) -> pl.DataFrame:
    """A transaction log: random rows, some duplicated, shuffled."""
    clock = draw(st.sampled_from(CLOCKS))
    dtype = draw(st.sampled_from(ID_DTYPES))
    ids = _edge_ids(dtype)
    row = st.tuples(
        st.integers(0, len(ids) - 1),
        st.integers(0, len(CLUSTERS) - 1),
        st.integers(0, MINUTES),
        st.sampled_from([12.5, 3.0, 40.0, -5.0, 0.0, 99.99]),  # -5: a refund
    )
    rows = draw(st.lists(row, min_size=1, max_size=25))
    rows += draw(st.lists(st.sampled_from(rows), max_size=5))  # duplicated orders
    rows = draw(st.permutations(rows))
    times = pl.Series(
        [CLUSTERS[c] + dt.timedelta(minutes=m) for _, c, m, _ in rows], dtype=pl.Datetime("us")
    )
    if clock == "date":
        stamps = times.dt.date()
    elif clock == "naive":
        stamps = times
    else:  # UTC instants on a local clock: DST gaps and repeats come out right
        stamps = times.dt.replace_time_zone("UTC").dt.convert_time_zone(clock)
    id_values = pl.Series([ids[i] for i, *_ in rows])
    return pl.DataFrame(
        {
            "customer_id": id_values.cast(dtype),
            "timestamp": stamps,
            "amount": [a for *_, a in rows],
        }
    )


@st.composite
def ends(draw: st.DrawFn) -> dt.datetime | dt.date | None:
    """None, a date, a naive datetime or an aware one, within or around the clusters."""
    kind = draw(st.sampled_from(["none", "date", "naive", "aware"]))
    if kind == "none":
        return None
    moment = draw(st.sampled_from(CLUSTERS)) + dt.timedelta(minutes=draw(st.integers(0, MINUTES)))
    if kind == "date":
        return moment.date()
    if kind == "aware":
        return moment.replace(tzinfo=dt.UTC)
    return moment


@st.composite
def calls(draw: st.DrawFn, log: pl.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """One call of every table function of a log, with random options."""
    aware = getattr(log.schema["timestamp"], "time_zone", None) is not None

    def end() -> Any:
        value = draw(ends())
        if not aware and isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)  # an aware end with a naive log raises
        return value

    cal = draw(st.sampled_from(CLUSTERS)) + dt.timedelta(days=draw(st.integers(0, 2)))
    hold = cal + dt.timedelta(days=draw(st.integers(1, 320)))
    unit = draw(st.sampled_from(["D", "W", "M", "h"]))
    if log.schema["timestamp"] == pl.Date and unit == "h":
        unit = "D"
    return [
        (
            "rfm_summary",
            {
                "amount": draw(st.sampled_from(["amount", None])),
                "time_unit": unit,
                "time_scaler": draw(st.sampled_from([1.0, 7.0])),
                "observation_end": end(),
            },
        ),
        (
            "calibration_holdout_split",
            {
                "amount": "amount",
                "time_unit": unit,
                "calibration_end": cal.date() if unit != "h" else cal,
                "holdout_end": hold.date() if unit != "h" else hold,
            },
        ),
        (
            "cohort_retention",
            {
                "period": draw(st.sampled_from(["1d", "2d", "1w", "2w", "1mo", "5mo", "1q", "1y"])),
                "observation_end": end(),
            },
        ),
        (
            "period_summary",
            {
                "period": draw(st.sampled_from(["1d", "3d", "1w", "2w", "1mo", "2mo", "1q"])),
                "active_window": draw(st.sampled_from([None, 1, 2, 4])),
            },
        ),
        ("customer_summary", {"observation_end": end()}),
    ]


# -- engines ------------------------------------------------------------------------------


_CONNECTIONS: list[Any] = []


def _duckdb(df: pl.DataFrame) -> Any:
    con = duckdb.connect()
    _CONNECTIONS.append(con)  # a relation needs its connection (DuckDB 1.x closes it)
    con.execute(f"SET TimeZone = '{SESSION}'")
    return con.from_arrow(df.to_arrow())


def _dask(df: pl.DataFrame) -> Any:
    dd = pytest.importorskip("dask.dataframe")
    # one partition: on a log this small, customer_summary's ordered window (the gap
    # between purchase days) fails in Dask ("Partition size is less than overlapping
    # window size"); test_engines.py runs two partitions of a large log
    return dd.from_pandas(df.to_pandas(), npartitions=1)


FAST: dict[str, Callable[[pl.DataFrame], Any]] = {
    "polars-lazy": lambda df: df.lazy(),
    "pandas": lambda df: df.to_pandas(),
    "pyarrow": lambda df: df.to_arrow(),
}
# engines whose aware columns take the session's zone (see the module docstring)
SESSION_ZONE = {"duckdb": SESSION, "spark": "UTC"}


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
    if module == "dask":
        return pl.from_pandas(out.compute())
    if module == "pyspark":
        return pl.from_arrow(out.toArrow())  # type: ignore[return-value]
    raise AssertionError(f"unexpected result type {type(out)}")


def _like(got: pl.DataFrame, expected: pl.DataFrame) -> pl.DataFrame:
    """`got` with the dtypes of `expected` where an engine's types differ.

    pandas has no Date (a datetime64 at midnight comes back), DuckDB no categorical ids
    (VARCHAR), and engines return timestamps in their own unit: values are compared, and
    ids as strings when they are categorical.
    """
    cols = []
    for name, want in expected.schema.items():
        have, col = got.schema[name], pl.col(name)
        if have == want:
            cols.append(col)
        elif want == pl.Date:
            cols.append(col.cast(pl.Date))
        elif isinstance(want, pl.Datetime) and isinstance(have, pl.Datetime):
            if want.time_zone is not None and have.time_zone is not None:
                col = col.dt.convert_time_zone(want.time_zone)
            elif want.time_zone is None and have.time_zone is not None:
                col = col.dt.replace_time_zone(None)  # a naive column on the session clock
            cols.append(col.dt.cast_time_unit(want.time_unit or "us"))
        elif isinstance(want, pl.Categorical | pl.String):
            cols.append(col.cast(pl.String))
        else:
            cols.append(col)
    return got.select(cols)


def _expected(function: str, log: pl.DataFrame, options: dict[str, Any]) -> Any:
    try:
        out = getattr(tables, function)(log, **options)
    except (ValueError, TypeError) as error:
        return error
    return out.with_columns(pl.col(pl.Categorical).cast(pl.String))


def _check(
    engine: str, convert: Callable[[pl.DataFrame], Any], log: pl.DataFrame, todo: Any
) -> None:
    zone = SESSION_ZONE.get(engine)
    reference = log
    if zone is not None and getattr(log.schema["timestamp"], "time_zone", None) is not None:
        reference = log.with_columns(pl.col("timestamp").dt.convert_time_zone(zone))
    for function, options in todo:
        expected = _expected(function, reference, options)
        if engine == "pyarrow" and function == "customer_summary":
            with pytest.raises(NotImplementedError, match="pyarrow"):
                getattr(tables, function)(convert(log), **options)
            continue
        if isinstance(expected, Exception):  # the same error on every engine
            with pytest.raises(type(expected), match=re.escape(str(expected).splitlines()[0])):
                _to_polars(getattr(tables, function)(convert(log), **options))
            continue
        got = _to_polars(getattr(tables, function)(convert(log), **options))
        assert got.columns == expected.columns, (engine, function)
        assert_frame_equal(
            _like(got, expected),
            expected,
            check_dtypes=False,
            abs_tol=1e-9,
            rel_tol=1e-9,
        )


SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


# Examples per engine: the in-process engines take milliseconds per call; DuckDB (its
# period grids are joins of literal rows) about a second per example and Dask several,
# so they run fewer examples (CI profile: HYPOTHESIS_PROFILE=ci, derandomised)
@given(data=st.data())
@settings(max_examples=30, **SETTINGS)  # type: ignore[arg-type]
def test_every_table_function_gives_the_same_table_on_every_engine(data: st.DataObject) -> None:
    log = data.draw(logs())
    todo = data.draw(calls(log))
    for engine, convert in FAST.items():
        _check(engine, convert, log, todo)


@given(data=st.data())
@settings(max_examples=6, **SETTINGS)  # type: ignore[arg-type]
def test_same_tables_on_duckdb_in_another_zone(data: st.DataObject) -> None:
    log = data.draw(logs())
    _check("duckdb", _duckdb, log, data.draw(calls(log)))


def _rich_log() -> tuple[pl.DataFrame, list[tuple[str, dict[str, Any]]]]:
    """One fixed log with a bit of everything, for the slow engines (Dask, Spark).

    New York orders on both sides of the spring DST change and late in the evening (the
    next day in UTC), UInt64 ids at the dtype's edges and at 2**31, a refund, a
    duplicated order, unsorted rows; options that use every unit and an aware end.
    """
    ids = [0, 1 << 31, (1 << 64) - 1, (1 << 31) - 1]
    moments = [  # (id index, UTC time, amount)
        (0, dt.datetime(2024, 3, 10, 6, 30), 10.0),  # 01:30 EST
        (0, dt.datetime(2024, 3, 10, 7, 30), 5.0),  # 03:30 EDT, the next local hour but one
        (1, dt.datetime(2024, 3, 9, 4, 45), 20.0),  # 23:45 on March 8 in New York
        (1, dt.datetime(2024, 3, 31, 3, 0), -5.0),  # a refund, on March 30 locally
        (2, dt.datetime(2024, 4, 1, 2, 0), 7.5),
        (2, dt.datetime(2024, 4, 1, 2, 0), 7.5),  # duplicated
        (3, dt.datetime(2024, 2, 29, 23, 0), 3.0),
        (3, dt.datetime(2024, 3, 12, 12, 0), 4.0),
        (0, dt.datetime(2024, 4, 20, 16, 0), 8.0),
    ]
    order = [5, 2, 8, 0, 7, 3, 1, 6, 4]
    rows = [moments[i] for i in order]
    log = pl.DataFrame(
        {
            "customer_id": pl.Series([ids[r[0]] for r in rows], dtype=pl.UInt64),
            "timestamp": pl.Series([r[1] for r in rows], dtype=pl.Datetime("us"))
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(NY),
            "amount": [r[2] for r in rows],
        }
    )
    end = dt.datetime(2024, 4, 15, 12, tzinfo=dt.UTC)
    todo: list[tuple[str, dict[str, Any]]] = [
        ("rfm_summary", {"amount": "amount", "time_unit": "h", "observation_end": end}),
        (
            "calibration_holdout_split",
            {
                "amount": "amount",
                "calibration_end": dt.date(2024, 3, 10),
                "holdout_end": dt.date(2024, 4, 30),
            },
        ),
        ("cohort_retention", {"period": "2w", "observation_end": dt.date(2024, 4, 10)}),
        ("period_summary", {"period": "1mo", "active_window": 2}),
        ("customer_summary", {"observation_end": dt.datetime(2024, 4, 1)}),
    ]
    return log, todo


def test_same_tables_on_dask() -> None:
    # one fixed log: Dask takes seconds per query (each function runs several)
    log, todo = _rich_log()
    _check("dask", _dask, log, todo)
    naive = log.with_columns(pl.col("timestamp").dt.replace_time_zone(None))
    _check("dask", _dask, naive, todo[:1])


@pytest.fixture(scope="module")
def spark() -> Any:
    sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("PySpark needs Java (17 or later) on PATH or JAVA_HOME")
    session = (
        sql.SparkSession.builder.master("local[1]")
        .appName("loyaltymetrics-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session  # the session (same settings) is shared with test_engine.py, which stops it


def _for_spark(log: pl.DataFrame) -> pl.DataFrame:
    """The log in types Spark has: no unsigned integers (wider signed ones), no categoricals."""
    ids = pl.col("customer_id")
    dtype = log.schema["customer_id"]
    if dtype == pl.UInt64:  # Int64 ids at the same places: the edges and 2**31
        ranks = ids.rank("dense").cast(pl.Int64) - 1
        edges = pl.Series(_edge_ids(pl.Int64()))
        return log.with_columns(ranks.map_elements(lambda i: edges[i], return_dtype=pl.Int64))
    if dtype in (pl.UInt8, pl.UInt16, pl.UInt32):
        return log.with_columns(ids.cast(pl.Int64))
    if dtype == pl.Categorical:
        return log.with_columns(ids.cast(pl.String))
    return log


@pytest.mark.spark
def test_same_tables_on_spark(spark: Any) -> None:
    # the fixed log with a bit of everything, then its dates: Spark takes many seconds
    # per call (the random logs above, with a dozen calls, took minutes)
    def convert(df: pl.DataFrame) -> Any:
        return spark.createDataFrame(df.to_arrow())

    log, todo = _rich_log()
    log = _for_spark(log)
    _check("spark", convert, log, todo)
    dates = log.with_columns(pl.col("timestamp").dt.date())
    _check("spark", convert, dates, [todo[2], (todo[4][0], {"observation_end": None})])
