"""``by=`` on tables.period_summary and tables.cohort_retention.

The contract (API.md §3): the ``by`` columns come first; the unit is the (customer,
segment) pair; a customer's cohort in a segment is their first period there; all
segments share one period grid; on a segment's own periods the rows equal the function
applied to that segment's orders alone. The properties below compare the ``by=`` table
with those per-segment calls on random logs, on every engine; the by-hand cases pin the
two-stores customer and the null segment.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loyaltymetrics import tables

STORES = ["north", "south", "west", None]  # a null store is a segment of its own


# -- random logs ----------------------------------------------------------------------------


_DUCKDB_CONNECTIONS: list[Any] = []


@st.composite
def logs(draw: st.DrawFn) -> pl.DataFrame:
    first = draw(st.dates(dt.date(1999, 1, 1), dt.date(2030, 1, 1)))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(1, 5),  # customer
                st.sampled_from(STORES),
                st.integers(1, 2),  # channel
                st.integers(0, 420),  # day offset
                st.integers(-500, 9_000),  # cents; refunds allowed
            ),
            min_size=1,
            max_size=30,
        )
    )
    ids = draw(st.sampled_from(["int", "str"]))
    return pl.DataFrame(
        {
            "customer_id": [r[0] if ids == "int" else f"c{r[0]}" for r in rows],
            "store": pl.Series([r[1] for r in rows], dtype=pl.String),
            "channel": [r[2] for r in rows],
            "timestamp": [first + dt.timedelta(days=r[3]) for r in rows],
            "amount": [r[4] / 100 for r in rows],
        }
    )


PERIODS = st.sampled_from(["1d", "1w", "2w", "1mo", "1q"])
BYS = st.sampled_from(["store", ["store"], ["store", "channel"], ["channel", "store"]])


def keys_of(by: str | list[str]) -> list[str]:
    return [by] if isinstance(by, str) else by


def segments_of(log: pl.DataFrame, keys: list[str]) -> list[tuple[Any, ...]]:
    return log.select(keys).unique().rows()


def in_segment(keys: list[str], values: tuple[Any, ...]) -> pl.Expr:
    """Rows of one segment; a null value matches a null (the segment of nulls)."""
    return pl.all_horizontal(
        pl.col(k).is_null() if v is None else pl.col(k) == v
        for k, v in zip(keys, values, strict=True)
    )


def to_polars(out: Any) -> pl.DataFrame:
    if isinstance(out, pl.LazyFrame):
        return out.collect()
    if isinstance(out, pl.DataFrame):
        return out
    module = type(out).__module__.split(".")[0]
    if module == "pandas":  # pandas has no date dtype: the period starts come back as dates
        frame = pl.from_pandas(out)
        dates = [c for c in ("period", "cohort") if c in frame.columns]
        return frame.with_columns(pl.col(dates).cast(pl.Date))
    if module == "pyarrow":
        return pl.from_arrow(out)  # type: ignore[return-value]
    if module == "duckdb":
        return out.pl()  # type: ignore[no-any-return]
    if module == "dask":
        return pl.from_pandas(out.compute())
    if module == "pyspark":
        return pl.from_arrow(out.toArrow())  # type: ignore[return-value]
    raise AssertionError(f"unexpected result type {type(out)}")


def assert_equals_per_segment_calls(
    got: pl.DataFrame, log: pl.DataFrame, function: str, by: str | list[str], **options: Any
) -> None:
    """The ``by=`` table against the function applied to each segment's orders alone."""
    keys = keys_of(by)
    call = getattr(tables, function)
    assert got.columns[: len(keys)] == keys  # the by columns come first
    assert got.columns[len(keys) :] == call(log.clear(), **options).columns
    date_col = "period" if function == "period_summary" else "cohort"
    # rows sorted by the segment, then by the period (nulls first, as polars sorts)
    assert_frame_equal(got, got.sort(*keys, date_col, *got.columns[len(keys) + 1 : len(keys) + 2]))
    seen = 0
    for values in segments_of(log, keys):
        own = got.filter(in_segment(keys, values)).drop(keys)
        alone = call(log.filter(in_segment(keys, values)).drop(keys), **options)
        if alone.height == 0:  # no orders up to the observation end
            assert own.height == 0
            continue
        # on the segment's own periods: the rows of the call on its orders alone
        if function == "period_summary":
            mine = own.join(alone.select("period"), on="period", how="semi")
        else:
            mine = own.join(
                alone.select("cohort", "period_index"), on=["cohort", "period_index"], how="semi"
            )
        assert_frame_equal(mine, alone)
        seen += own.height
        if function == "period_summary":
            # one shared grid: every segment has every period of the whole log
            assert own["period"].to_list() == call(log.drop(keys), **options)["period"].to_list()
            before = own.filter(pl.col("period") < alone["period"].min())
            assert (before["customers_end"] == 0).all()
            assert (before["orders"] == 0).all()
            assert before["retention_rate"].null_count() == before.height
        else:
            # the segment's cohorts, each observed to the last period of the whole log
            assert (
                own["cohort"].unique().sort().to_list() == alone["cohort"].unique().sort().to_list()
            )
            extra = own.join(alone, on=["cohort", "period_index"], how="anti")
            assert (extra["active"] == 0).all()
    assert seen == got.height  # no row of another segment, none dropped


# -- polars: eager, lazy, in parts ------------------------------------------------------------


@given(
    log=logs(),
    by=BYS,
    period=PERIODS,
    window=st.sampled_from([None, 1, 2, 3]),
    kind=st.sampled_from(["eager", "lazy", "parts"]),
)
@settings(max_examples=60, deadline=None)
def test_period_summary_by_equals_per_segment_calls(
    log: pl.DataFrame, by: str | list[str], period: str, window: int | None, kind: str
) -> None:
    options: dict[str, Any] = {"period": period, "active_window": window}
    frame = log if kind == "eager" else log.lazy()
    parts = {"partitions": 2} if kind == "parts" else {}
    out = tables.period_summary(frame, by=by, **options, **parts)
    assert isinstance(out, type(frame))  # lazy in, lazy out
    assert_equals_per_segment_calls(to_polars(out), log, "period_summary", by, **options)


@st.composite
def ends(draw: st.DrawFn, log: pl.DataFrame) -> dt.date | None:
    if draw(st.booleans()):
        return None
    first = log["timestamp"].min()
    assert isinstance(first, dt.date)
    return first + dt.timedelta(days=draw(st.integers(0, 500)))


@given(
    data=st.data(),
    log=logs(),
    by=BYS,
    period=PERIODS,
    kind=st.sampled_from(["eager", "lazy", "parts"]),
)
@settings(max_examples=60, deadline=None)
def test_cohort_retention_by_equals_per_segment_calls(
    data: st.DataObject, log: pl.DataFrame, by: str | list[str], period: str, kind: str
) -> None:
    end = data.draw(ends(log))
    options: dict[str, Any] = {"period": period, "observation_end": end}
    frame = log if kind == "eager" else log.lazy()
    parts = {"partitions": 3} if kind == "parts" else {}
    out = to_polars(tables.cohort_retention(frame, by=by, **options, **parts))
    keys = keys_of(by)
    assert_equals_per_segment_calls(out, log, "cohort_retention", by, **options)
    # every segment's cohorts run to one last period: the call on a segment's orders
    # alone, observed to the end of the whole log, gives exactly the segment's rows
    last = end if end is not None else log["timestamp"].max()
    for values in segments_of(log, keys):
        alone = log.filter(in_segment(keys, values)).drop(keys)
        assert_frame_equal(
            out.filter(in_segment(keys, values)).drop(keys),
            tables.cohort_retention(alone, period=period, observation_end=last),
        )


# -- other engines ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("PySpark needs Java (17 or later) on PATH or JAVA_HOME")
    session = (
        sql.SparkSession.builder.master("local[1]")
        .appName("loyaltymetrics-by-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _duckdb(df: pl.DataFrame) -> Any:
    duckdb = pytest.importorskip("duckdb")
    # held, as a user holds theirs: duckdb < 1.5 closes a connection nobody holds
    connection = duckdb.connect()
    _DUCKDB_CONNECTIONS.append(connection)
    return connection.from_arrow(df.to_arrow())


def _arrow(df: pl.DataFrame) -> Any:
    pytest.importorskip("pyarrow")
    return df.to_arrow()


def _pandas(df: pl.DataFrame) -> Any:
    pytest.importorskip("pandas")
    return df.to_pandas()


def _dask(df: pl.DataFrame) -> Any:
    dd = pytest.importorskip("dask.dataframe")
    return dd.from_pandas(df.to_pandas(), npartitions=2)


ENGINES: dict[str, Callable[[pl.DataFrame], Any]] = {
    "pandas": _pandas,
    "pyarrow": _arrow,
    "duckdb": _duckdb,
    "dask": _dask,
}
EXAMPLES = {"pandas": 15, "pyarrow": 20, "duckdb": 15, "dask": 3}
# Dask and Spark are slow per query: a few examples, no shrinking (minutes per step)
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]


def _check_engine(
    convert: Callable[[pl.DataFrame], Any],
    log: pl.DataFrame,
    by: str | list[str],
    period: str,
    window: int | None,
) -> None:
    pytest.importorskip("narwhals")
    frame = convert(log)
    summary = tables.period_summary(frame, by=by, period=period, active_window=window)
    cohorts = tables.cohort_retention(frame, by=by, period=period)
    module = type(frame).__module__.split(".")[0]
    for out in (summary, cohorts):  # the caller's kind of frame
        assert type(out).__module__.split(".")[0] == module
    assert_equals_per_segment_calls(
        to_polars(summary), log, "period_summary", by, period=period, active_window=window
    )
    assert_equals_per_segment_calls(to_polars(cohorts), log, "cohort_retention", by, period=period)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_by_equals_per_segment_calls_on_other_engines(engine: str) -> None:
    @given(log=logs(), by=BYS, period=PERIODS, window=st.sampled_from([None, 2]))
    @settings(
        max_examples=EXAMPLES[engine],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        phases=NO_SHRINK if engine == "dask" else list(Phase),
    )
    def run(log: pl.DataFrame, by: str | list[str], period: str, window: int | None) -> None:
        _check_engine(ENGINES[engine], log, by, period, window)

    run()


@pytest.mark.spark
def test_by_equals_per_segment_calls_on_spark(spark: Any) -> None:
    @given(log=logs(), by=BYS, period=PERIODS, window=st.sampled_from([None, 2]))
    @settings(
        max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), phases=NO_SHRINK
    )
    def run(log: pl.DataFrame, by: str | list[str], period: str, window: int | None) -> None:
        _check_engine(lambda df: spark.createDataFrame(df.to_arrow()), log, by, period, window)

    run()


# -- by hand ---------------------------------------------------------------------------------


def d(month: int, day: int = 1) -> dt.date:
    return dt.date(2024, month, day)


# customer 1 buys in north in January and March and in south in February; customer 2 in
# north in January; customer 3 in an unknown store (null) in February and March
HAND = pl.DataFrame(
    {
        "customer_id": [1, 1, 1, 2, 3, 3],
        "store": ["north", "south", "north", "north", None, None],
        "timestamp": [d(1, 5), d(2, 7), d(3, 2), d(1, 20), d(2, 11), d(3, 9)],
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
    }
)


def test_cohort_retention_by_hand() -> None:
    out = tables.cohort_retention(HAND, by="store")
    assert out.columns == ["store", "cohort", "period_index", "cohort_size", "active", "retention"]
    assert out.rows() == [
        # the null store sorts first; customer 3's cohort there is February
        (None, d(2), 0, 1, 1, 1.0),
        (None, d(2), 1, 1, 1, 1.0),
        # north: customers 1 and 2 start in January; 1 is back in March
        ("north", d(1), 0, 2, 2, 1.0),
        ("north", d(1), 1, 2, 0, 0.0),
        ("north", d(1), 2, 2, 1, 0.5),
        # south: customer 1 counts again, with February as cohort (first order there);
        # March is observed (the log runs to March) and nobody bought
        ("south", d(2), 0, 1, 1, 1.0),
        ("south", d(2), 1, 1, 0, 0.0),
    ]


def test_period_summary_by_hand() -> None:
    out = tables.period_summary(HAND, by="store")
    cols = [
        "store",
        "period",
        "customers_start",
        "customers_new",
        "customers_reactivated",
        "customers_lost",
        "customers_end",
        "orders",
        "revenue",
    ]
    assert out.select(cols).rows() == [
        (None, d(1), 0, 0, 0, 0, 0, 0, 0.0),  # the shared grid starts in January
        (None, d(2), 0, 1, 0, 0, 1, 1, 50.0),
        (None, d(3), 1, 0, 0, 0, 1, 1, 60.0),
        ("north", d(1), 0, 2, 0, 0, 2, 2, 50.0),
        ("north", d(2), 2, 0, 0, 2, 0, 0, 0.0),
        ("north", d(3), 0, 0, 1, 0, 1, 1, 30.0),
        ("south", d(1), 0, 0, 0, 0, 0, 0, 0.0),
        ("south", d(2), 0, 1, 0, 0, 1, 1, 20.0),
        ("south", d(3), 1, 0, 0, 1, 0, 0, 0.0),
    ]
    # a customer in two stores counts in both: four (customer, store) pairs are new
    assert out["customers_new"].sum() == 4
    assert tables.period_summary(HAND)["customers_new"].sum() == 3


def test_by_keeps_the_segment_dtypes() -> None:
    log = HAND.with_columns(
        pl.col("store").cast(pl.Categorical), pl.col("timestamp").dt.month().alias("month")
    )
    out = tables.period_summary(log, by=["store", "month"])
    assert out.schema["store"] == pl.Categorical()
    assert out.schema["month"] == log.schema["month"]
    pytest.importorskip("duckdb")
    got = to_polars(tables.period_summary(_duckdb(HAND), by="store"))
    assert_frame_equal(got, tables.period_summary(HAND, by="store"))


# -- bad input -------------------------------------------------------------------------------

BAD_BY: list[tuple[object, type[Exception], str]] = [
    (3, TypeError, r"by must be a column name \(str\) or a list of names; got int 3"),
    (["store", 1], TypeError, r"by must be a column name .* got list \['store', 1\]"),
    ("shop", ValueError, r"by column 'shop' not found; the columns are \['customer_id', "),
    (["store", "store"], ValueError, r"by names column 'store' more than once"),
    ("customer_id", ValueError, r"by column 'customer_id' is also the customer id"),
]


@pytest.mark.parametrize("function", ["period_summary", "cohort_retention"])
@pytest.mark.parametrize(("by", "error", "message"), BAD_BY)
@pytest.mark.parametrize("engine", ["polars", "polars-lazy", "duckdb"])
def test_bad_by_names_the_argument(
    function: str, by: object, error: type[Exception], message: str, engine: str
) -> None:
    frame = {"polars": lambda f: f, "polars-lazy": pl.DataFrame.lazy, "duckdb": _duckdb}[engine](
        HAND
    )
    with pytest.raises(error, match=message):
        getattr(tables, function)(frame, by=by)


@pytest.mark.parametrize(
    ("function", "name"), [("period_summary", "revenue"), ("cohort_retention", "cohort")]
)
def test_by_column_named_like_a_result_column(function: str, name: str) -> None:
    log = HAND.rename({"store": name})
    with pytest.raises(ValueError, match=f"by column '{name}' has the name of a result column"):
        getattr(tables, function)(log, by=name)


def test_by_column_with_a_reserved_name() -> None:
    log = HAND.rename({"store": "__store"})
    with pytest.raises(ValueError, match="by column '__store': names starting with '__'"):
        tables.period_summary(log, by="__store")


def test_nulls_in_the_segment_are_a_group_but_null_ids_still_raise() -> None:
    lazy = HAND.lazy()
    assert tables.period_summary(lazy, by="store", partitions=2).collect().height == 9
    bad = HAND.with_columns(
        pl.when(pl.col("store").is_null())
        .then(None)
        .otherwise(pl.col("customer_id"))
        .alias("customer_id")
    )
    with pytest.raises(ValueError, match="column 'customer_id' has 2 null value"):
        tables.cohort_retention(bad, by="store")
    with pytest.raises(
        pl.exceptions.InvalidOperationError, match="column 'customer_id' has 2 null value"
    ):
        tables.cohort_retention(bad.lazy(), by="store").collect()
    with pytest.raises(
        pl.exceptions.InvalidOperationError, match="column 'customer_id' has 2 null value"
    ):
        tables.period_summary(bad.lazy(), by="store", partitions=2).collect()
