"""Regressions of issue 18 ("same answer everywhere"), one test or more per defect.

Each expected value is worked out by hand from the docstrings (the comments show how);
each test failed on the code before its fix. The cross-engine property test is in
``tests/tables/test_same_answer.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from loyaltymetrics import tables

pytest.importorskip("narwhals")
duckdb = pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")
pytest.importorskip("pandas")

UTC = dt.UTC
NY = "America/New_York"
KOLKATA = "Asia/Kolkata"


def _log(
    ids: list[Any], times: list[dt.datetime], zone: str | None = None, amounts: Any = None
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "customer_id": ids,
            "timestamp": pl.Series(times, dtype=pl.Datetime("us")),
            "amount": amounts if amounts is not None else [10.0] * len(ids),
        }
    )
    if zone is not None:
        frame = frame.with_columns(pl.col("timestamp").dt.replace_time_zone(zone))
    return frame


_CONNECTIONS: list[Any] = []


def _duckdb(df: pl.DataFrame, zone: str = "UTC") -> Any:
    con = duckdb.connect()
    _CONNECTIONS.append(con)  # a relation needs its connection (DuckDB 1.x closes it)
    con.execute(f"SET TimeZone = '{zone}'")
    return con.from_arrow(df.to_arrow())


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


# engines whose view of a zone-aware column keeps its zone: DuckDB runs in a session of
# the data's zone (a DuckDB column has no zone of its own; see test_duckdb_session_zone_*)
def _engines(zone: str | None) -> dict[str, Callable[[pl.DataFrame], Any]]:
    return {
        "polars": lambda df: df,
        "polars-lazy": lambda df: df.lazy(),
        "pandas": lambda df: df.to_pandas(),
        "pyarrow": lambda df: df.to_arrow(),
        "duckdb": lambda df: _duckdb(df, zone or "UTC"),
    }


# -- items 1 and 2: calendar periods (hours too) on the local clock ------------------------


@pytest.mark.parametrize("engine", list(_engines(NY)))
def test_hours_of_a_new_york_log_are_local_hours(engine: str) -> None:
    # orders at 08:00 and 20:00 local, end 23:00 local: hours 8, 20, 23 of one day, so
    # frequency 1, recency 20 - 8 = 12, T 23 - 8 = 15 (UTC hours gave frequency 0, T 10)
    log = _log([1, 1], [dt.datetime(2024, 3, 1, 8), dt.datetime(2024, 3, 1, 20)], NY)
    out = tables.rfm_summary(
        _engines(NY)[engine](log), time_unit="h", observation_end=dt.datetime(2024, 3, 1, 23)
    )
    assert _to_polars(out).select("frequency", "recency", "T").row(0) == (1, 12.0, 15.0)


@pytest.mark.parametrize("engine", list(_engines(KOLKATA)))
def test_hours_in_a_half_hour_zone(engine: str) -> None:
    # 10:10 and 10:50 in Kolkata (UTC+05:30) are one local hour but two UTC hours
    # (04:40 and 05:20); a third order at 11:05 local is the next hour
    times = [dt.datetime(2024, 3, 1, 10, 10), dt.datetime(2024, 3, 1, 10, 50)]
    log = _log([1, 1, 2, 2], [*times, times[0], dt.datetime(2024, 3, 1, 11, 5)], KOLKATA)
    out = _to_polars(tables.rfm_summary(_engines(KOLKATA)[engine](log), time_unit="h"))
    assert out.sort("customer_id").select("frequency", "recency").rows() == [(0, 0.0), (1, 1.0)]


@pytest.mark.parametrize("engine", list(_engines(NY)))
def test_hours_at_the_new_york_dst_changes(engine: str) -> None:
    # autumn: 01:30 EDT and 01:30 EST (05:30Z and 06:30Z) are the same local hour;
    # spring: 01:30 EST and 03:30 EDT (06:30Z and 07:30Z) are local hours 1 and 3, two
    # clock hours apart although one hour passed (02:00-03:00 does not exist that day)
    autumn = pl.Series([dt.datetime(2024, 11, 3, 5, 30), dt.datetime(2024, 11, 3, 6, 30)])
    spring = pl.Series([dt.datetime(2024, 3, 10, 6, 30), dt.datetime(2024, 3, 10, 7, 30)])
    log = pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 2],
            "timestamp": pl.concat([autumn, spring]).dt.replace_time_zone("UTC"),
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    ).with_columns(pl.col("timestamp").dt.convert_time_zone(NY))
    out = _to_polars(tables.rfm_summary(_engines(NY)[engine](log), time_unit="h"))
    assert out.sort("customer_id").select("frequency", "recency").rows() == [(0, 0.0), (1, 2.0)]


@pytest.mark.parametrize("engine", list(_engines(KOLKATA)))
def test_days_and_months_of_an_aware_log_are_local(engine: str) -> None:
    # 2024-01-31 20:00 UTC is 2024-02-01 01:30 in Kolkata: February, local day 19754
    log = _log([1, 1], [dt.datetime(2024, 1, 31, 20), dt.datetime(2024, 2, 3, 12)], "UTC")
    log = log.with_columns(pl.col("timestamp").dt.convert_time_zone(KOLKATA))
    convert = _engines(KOLKATA)[engine]
    cohorts = _to_polars(tables.cohort_retention(convert(log), period="1mo"))
    # (pandas out holds the cohort's first day as a datetime64 at midnight)
    assert cohorts.select(pl.col("cohort").cast(pl.Date), "period_index", "active").rows() == [
        (dt.date(2024, 2, 1), 0, 1)
    ]
    days = _to_polars(tables.rfm_summary(convert(log), time_unit="D"))
    assert days.select("frequency", "recency").row(0) == (1, 2.0)  # Feb 1 -> Feb 3


# -- item 3: the DuckDB session's zone -----------------------------------------------------


LOG_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("rfm_summary", {"amount": "amount", "time_unit": "h"}),
    ("rfm_summary", {"amount": "amount", "time_unit": "D"}),
    (
        "calibration_holdout_split",
        {
            "amount": "amount",
            "calibration_end": dt.date(2024, 3, 2),
            "holdout_end": dt.date(2024, 3, 9),
        },
    ),
    ("cohort_retention", {"period": "1d"}),
    ("period_summary", {"period": "1d"}),
    ("customer_summary", {}),
]


def _evening_log(zone: str | None) -> pl.DataFrame:
    # evenings in New York are the next day in UTC and in Tokyo
    times = [
        dt.datetime(2024, 3, 1, 20),
        dt.datetime(2024, 3, 1, 23, 30),
        dt.datetime(2024, 3, 2, 21),
        dt.datetime(2024, 3, 4, 19),
        dt.datetime(2024, 3, 5, 22),
    ]
    return _log([1, 2, 1, 2, 1], times, zone, [1.0, 2.0, 3.0, 4.0, 5.0])


@pytest.mark.parametrize(("function", "options"), LOG_CALLS, ids=[c[0] for c in LOG_CALLS])
def test_duckdb_session_zone_does_not_change_naive_or_date_logs(
    function: str, options: dict[str, Any]
) -> None:
    naive = _evening_log(None)
    dates = naive.with_columns(pl.col("timestamp").dt.date())
    for log in (naive, dates):
        if function == "rfm_summary" and options["time_unit"] == "h" and log is dates:
            continue
        expected = getattr(tables, function)(log, **options)
        for zone in ("UTC", NY, KOLKATA, "Asia/Tokyo"):
            got = _to_polars(getattr(tables, function)(_duckdb(log, zone), **options))
            assert_frame_equal(got, expected, check_dtypes=False)


@pytest.mark.parametrize(("function", "options"), LOG_CALLS, ids=[c[0] for c in LOG_CALLS])
@pytest.mark.parametrize("session", [NY, "UTC", "Asia/Tokyo"])
def test_duckdb_reads_an_aware_column_on_its_own_clock(
    function: str, options: dict[str, Any], session: str
) -> None:
    # A DuckDB TIMESTAMPTZ column holds instants; its zone is the connection's (DuckDB
    # and narwhals report it so, and `.pl()` returns it in that zone). The table is the
    # polars table of the same instants on that clock, whatever zone the data came from.
    log = _evening_log(NY)
    relation = _duckdb(log, session)
    assert relation.pl().schema["timestamp"] == pl.Datetime("us", session)
    got = _to_polars(getattr(tables, function)(relation, **options))
    as_held = log.with_columns(pl.col("timestamp").dt.convert_time_zone(session))
    expected = getattr(tables, function)(as_held, **options)
    if function == "customer_summary":
        expected = expected.with_columns(
            pl.col("first_order", "last_order").dt.cast_time_unit("us")
        )
    assert_frame_equal(got, expected, check_dtypes=False)


# -- item 4: an aware observation_end --------------------------------------------------------

END_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("rfm_summary", {"time_unit": "D"}),
    ("rfm_summary", {"time_unit": "h"}),
    ("cohort_retention", {"period": "1d"}),
    ("customer_summary", {}),
]


@pytest.mark.parametrize(("function", "options"), END_CALLS, ids=[c[0] for c in END_CALLS])
@pytest.mark.parametrize("engine", list(_engines(NY)))
def test_an_aware_end_is_converted_to_the_column_zone(
    function: str, options: dict[str, Any], engine: str
) -> None:
    # 2024-03-02 03:00 UTC is 2024-03-01 22:00 in New York: the same table as the naive
    # end 22:00 on the column's clock, on every engine
    if engine == "pyarrow" and function == "customer_summary":
        pytest.skip("customer_summary raises NotImplementedError for pyarrow")
    log = _evening_log(NY)
    convert = _engines(NY)[engine]
    aware = dt.datetime(2024, 3, 2, 3, tzinfo=UTC)
    naive = dt.datetime(2024, 3, 1, 22)
    got = _to_polars(getattr(tables, function)(convert(log), observation_end=aware, **options))
    expected = getattr(tables, function)(log, observation_end=naive, **options)
    assert_frame_equal(got, expected, check_dtypes=False)


@pytest.mark.parametrize(("function", "options"), END_CALLS, ids=[c[0] for c in END_CALLS])
@pytest.mark.parametrize("engine", list(_engines(None)))
@pytest.mark.parametrize("kind", ["naive", "date"])
def test_an_aware_end_with_a_naive_column_raises(
    function: str, options: dict[str, Any], engine: str, kind: str
) -> None:
    log = _evening_log(None)
    if kind == "date":
        log = log.with_columns(pl.col("timestamp").dt.date())
    aware = dt.datetime(2024, 3, 2, 3, tzinfo=UTC)
    with pytest.raises(TypeError, match=r"observation_end \(2024-03-02T03:00:00\+00:00\) has a"):
        _to_polars(
            getattr(tables, function)(_engines(None)[engine](log), observation_end=aware, **options)
        )


# -- item 5: customer_summary ignores the orders after a datetime end, exactly ---------------


@pytest.mark.parametrize("engine", [e for e in _engines(NY) if e != "pyarrow"])
@pytest.mark.parametrize("zone", [None, NY])
def test_customer_summary_stops_at_the_end_instant(engine: str, zone: str | None) -> None:
    # orders at 08:00, 12:00 (kept: at the end) and 18:00 (after it) on the end day
    times = [dt.datetime(2024, 3, 1, 8), dt.datetime(2024, 3, 1, 12), dt.datetime(2024, 3, 1, 18)]
    log = _log([1, 1, 1], times, zone, [1.0, 2.0, 4.0])
    end = dt.datetime(2024, 3, 1, 12)
    out = _to_polars(
        tables.customer_summary(_engines(zone)[engine](log), observation_end=end)
    ).select("orders", "revenue", "last_order", "tenure_days")
    assert out.row(0)[:2] == (2, 3.0)
    assert out["last_order"].dt.replace_time_zone(None).to_list() == [times[1]]
    assert out["tenure_days"].to_list() == [0.0]
    # a microsecond later the 12:00 order is still in, a microsecond earlier it is out
    early = tables.customer_summary(log, observation_end=end - dt.timedelta(microseconds=1))
    assert early["orders"].to_list() == [1]


# -- item 6: integer ids at the edges of their dtypes ---------------------------------------

INT_DTYPES = [pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64]


def _edge_ids(dtype: pl.DataType) -> list[int]:
    """The smallest and largest values of an integer dtype, and those around 0 and 2**31."""
    name = str(dtype)
    bits = int(name.removeprefix("U").removeprefix("Int"))
    if name.startswith("UInt"):
        top = (1 << bits) - 1
        values = [0, 1, top // 2, top // 2 + 1, top - 1, top]
    else:
        half = 1 << (bits - 1)
        values = [-half, -half + 1, -1, 0, half - 2, half - 1]
    near_key_limit = [(1 << 31) - 1, 1 << 31, -(1 << 31), -(1 << 31) - 1]
    values += [v for v in near_key_limit if min(values) <= v <= max(values)]
    return sorted(set(values))


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
@pytest.mark.parametrize("lazy", [False, True])
def test_integer_ids_at_their_dtype_edges(dtype: pl.DataType, lazy: bool) -> None:
    # the same log with the ids replaced by their rank (small Int64 ids) gives the same
    # tables, row for row, once the ids are mapped back
    ids = _edge_ids(dtype)
    rows = [(ids[i % len(ids)], d) for i, d in enumerate([3, 0, 5, 1, 4, 2, 9, 7, 8, 6, 12, 11])]
    times = [dt.datetime(2024, 1, 1) + dt.timedelta(days=d, hours=d) for _, d in rows]
    log = _log([r[0] for r in rows], times).with_columns(pl.col("customer_id").cast(dtype))
    ranked = log.with_columns(
        pl.col("customer_id").cast(pl.Int128).rank("dense").cast(pl.Int64) - 1
    )
    back = pl.Series(ids, dtype=dtype)
    frame: Any = log.lazy() if lazy else log
    for function, options in [
        ("rfm_summary", {"amount": "amount"}),
        ("customer_summary", {}),
        (
            "calibration_holdout_split",
            {"calibration_end": dt.date(2024, 1, 8), "holdout_end": dt.date(2024, 1, 20)},
        ),
    ]:
        got = _to_polars(getattr(tables, function)(frame, **options))
        expected = getattr(tables, function)(ranked, **options).with_columns(
            pl.col("customer_id").map_elements(lambda i: back[i], return_dtype=dtype)
        )
        assert_frame_equal(got, expected)
    for function, options in [("cohort_retention", {"period": "1w"}), ("period_summary", {})]:
        got = _to_polars(getattr(tables, function)(frame, **options))
        assert_frame_equal(got, getattr(tables, function)(ranked, **options))


def test_uint32_ids_beyond_2_31() -> None:
    # the packed key id * 2**32 + period overflowed an Int64 for UInt32 ids >= 2**31
    log = _log(
        [2**31 + 5, 3, 2**32 - 1, 3],
        [dt.datetime(2024, 1, d) for d in (1, 2, 3, 4)],
    ).with_columns(pl.col("customer_id").cast(pl.UInt32))
    for frame in (log, log.lazy()):
        summary = _to_polars(tables.customer_summary(frame))
        assert summary.select("customer_id", "orders").rows() == [
            (3, 2),
            (2**31 + 5, 1),
            (2**32 - 1, 1),
        ]
        rfm = _to_polars(tables.rfm_summary(frame))
        assert rfm["customer_id"].to_list() == [3, 2**31 + 5, 2**32 - 1]


# -- item 7: column names --------------------------------------------------------------------


def _small_log() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 3, 2],
            "timestamp": [dt.date(2024, 1, d) for d in (1, 9, 2, 20, 28)],
            "amount": [10.0, 20.0, 5.0, 7.0, 1.0],
        }
    )


@pytest.mark.parametrize("engine", list(_engines(None)))
def test_the_id_column_can_also_be_the_amount(engine: str) -> None:
    log = _small_log().with_columns(pl.col("customer_id").cast(pl.Float64).alias("copy"))
    convert = _engines(None)[engine]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("rfm_summary", {}),
        ("period_summary", {}),
        ("customer_summary", {}),
    ]
    for function, options in calls:
        if engine == "pyarrow" and function == "customer_summary":
            continue
        got = _to_polars(getattr(tables, function)(convert(log), amount="customer_id", **options))
        expected = getattr(tables, function)(log, amount="copy", **options)
        assert_frame_equal(got, expected, check_dtypes=False)


HELPER_NAMES = [
    "__cid",
    "__lm_period",
    "__lm_amount",
    "__lm_cid",
    "__lm_ts",
    "__lm_amt",
    "__hash",
    "__run",
    "__cohort",
    "__key",
    "__t",
    "__orders",
    "__first",
    "__day",
    "__prev",
    "__packed",
]


@pytest.mark.parametrize("name", HELPER_NAMES)
@pytest.mark.parametrize("engine", ["polars", "polars-lazy", "duckdb"])
def test_columns_named_like_internal_helpers(name: str, engine: str) -> None:
    # each input column in turn renamed to a helper's name (string ids: the hash path)
    base = _small_log().with_columns(pl.col("customer_id").cast(pl.String))
    convert = _engines(None)[engine]
    calls: list[tuple[str, dict[str, Any]]] = [
        ("rfm_summary", {"amount": "amount"}),
        ("cohort_retention", {"period": "1w"}),
        ("period_summary", {"amount": "amount"}),
        ("customer_summary", {"amount": "amount"}),
    ]
    for role in ("customer_id", "timestamp", "amount"):
        log = base.rename({role: name})
        for function, options in calls:
            if role not in options and role == "amount":
                continue
            got = _to_polars(getattr(tables, function)(convert(log), **{**options, role: name}))
            expected = getattr(tables, function)(base, **options)
            if role == "customer_id" and "customer_id" in expected.columns:
                expected = expected.rename({"customer_id": name})
            assert_frame_equal(got, expected, check_dtypes=False)


@pytest.mark.parametrize("engine", ["polars", "polars-lazy", "duckdb"])
def test_inputs_named_like_outputs(engine: str) -> None:
    convert = _engines(None)[engine]
    log = _small_log()
    # the amount is not an output column: it works
    got = _to_polars(
        tables.period_summary(convert(log.rename({"amount": "orders"})), amount="orders")
    )
    assert_frame_equal(got, tables.period_summary(log), check_dtypes=False)
    got = _to_polars(
        tables.cohort_retention(
            convert(log.rename({"customer_id": "cohort"})), customer_id="cohort"
        )
    )
    assert_frame_equal(got, tables.cohort_retention(log), check_dtypes=False)
    got = _to_polars(
        tables.rfm_summary(convert(log.rename({"amount": "frequency"})), amount="frequency")
    )
    assert_frame_equal(got, tables.rfm_summary(log, amount="amount"), check_dtypes=False)
    # the id goes to the output next to the outputs: a clash cannot work
    for function, output in [("rfm_summary", "frequency"), ("customer_summary", "orders")]:
        with pytest.raises(
            ValueError, match=f"customer_id column '{output}' has the name of an output column"
        ):
            _to_polars(
                getattr(tables, function)(
                    convert(log.rename({"customer_id": output})), customer_id=output
                )
            )


# -- item 8: the lazy null error ------------------------------------------------------------


@pytest.mark.parametrize("column", ["customer_id", "timestamp", "amount"])
@pytest.mark.parametrize(
    "function", ["rfm_summary", "cohort_retention", "period_summary", "customer_summary"]
)
def test_lazy_nulls_name_the_column_and_count_on_the_first_line(function: str, column: str) -> None:
    if function == "cohort_retention" and column == "amount":
        return
    log = _small_log().with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise(pl.col(column)).alias(column)
    )
    options = {"amount": "amount"} if function == "rfm_summary" else {}
    with pytest.raises(ValueError) as lazy_error:  # noqa: PT011 - the message is checked below
        getattr(tables, function)(log.lazy(), **options).collect()
    with pytest.raises(ValueError) as eager_error:  # noqa: PT011
        getattr(tables, function)(log, **options)
    first_line = str(lazy_error.value).splitlines()[0]
    assert first_line == str(eager_error.value).splitlines()[0]
    assert first_line.startswith(f"column '{column}' has 2 null value(s)")
    assert isinstance(lazy_error.value, pl.exceptions.InvalidOperationError)


# -- item 9: NaN amounts ------------------------------------------------------------------------


@pytest.mark.parametrize("engine", list(_engines(None)))
@pytest.mark.parametrize("function", ["rfm_summary", "period_summary", "customer_summary"])
def test_nan_amounts_are_an_error_naming_the_column_and_count(engine: str, function: str) -> None:
    log = _small_log().with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(float("nan"))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    if engine == "pyarrow" and function == "customer_summary":
        return
    # pandas holds a missing float as NaN: a NaN amount there is a null (the same count)
    what = "null" if engine == "pandas" else "NaN"
    with pytest.raises(ValueError, match=rf"column 'amount' has 3 {what} value\(s\)"):
        _to_polars(getattr(tables, function)(_engines(None)[engine](log), amount="amount"))


# -- item 15: where multi-unit periods start, the order of ids and of the split -----------------


@pytest.mark.parametrize(
    ("period", "day", "start"),
    [
        # 2d periods are counted from 1970-01-01: day 19723 (2024-01-01) is odd, so its
        # period started the day before
        ("2d", dt.date(2024, 1, 1), dt.date(2023, 12, 31)),
        ("2d", dt.date(2024, 1, 2), dt.date(2024, 1, 2)),
        # 2w periods from Monday 1969-12-29: 2024-01-01 (day 19723) is (19723 + 3) / 7 =
        # 2818 weeks later, an even number, so it starts one; so do 1970-01-12 and
        # 2023-12-18
        ("2w", dt.date(2024, 1, 10), dt.date(2024, 1, 1)),
        ("2w", dt.date(2024, 1, 16), dt.date(2024, 1, 15)),
        ("2w", dt.date(2023, 12, 31), dt.date(2023, 12, 18)),
        ("2w", dt.date(1970, 1, 11), dt.date(1969, 12, 29)),
        ("2w", dt.date(1970, 1, 12), dt.date(1970, 1, 12)),
        # 5mo periods from January 1970: 2024-01 is month 648 (= 5 * 129 + 3), so its
        # period started in 2023-10; 7mo ones from 1970 too (648 = 7 * 92 + 4: 2023-09)
        ("5mo", dt.date(2024, 1, 15), dt.date(2023, 10, 1)),
        ("5mo", dt.date(1970, 5, 31), dt.date(1970, 1, 1)),
        ("7mo", dt.date(2024, 1, 15), dt.date(2023, 9, 1)),
        ("2q", dt.date(2024, 5, 1), dt.date(2024, 1, 1)),
        # years from 1970: 3y periods start in 1970, 1973, ..., 2021, 2024
        ("3y", dt.date(2024, 5, 1), dt.date(2024, 1, 1)),
        ("3y", dt.date(2023, 5, 1), dt.date(2021, 1, 1)),
        ("2mo", dt.date(1969, 12, 5), dt.date(1969, 11, 1)),
    ],
)
@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_where_multi_unit_periods_start(
    period: str, day: dt.date, start: dt.date, engine: str
) -> None:
    log = pl.DataFrame({"customer_id": [1], "timestamp": [day], "amount": [1.0]})
    convert = _engines(None)[engine]
    cohorts = _to_polars(tables.cohort_retention(convert(log), period=period))
    assert cohorts["cohort"].to_list() == [start]
    periods = _to_polars(tables.period_summary(convert(log), period=period))
    assert periods["period"].to_list() == [start]


@pytest.mark.parametrize("engine", ["polars", "polars-lazy", "pandas", "pyarrow", "duckdb"])
def test_categorical_ids_are_sorted_by_their_strings(engine: str) -> None:
    # the categories are created in the order b, c, a (not sorted)
    log = pl.DataFrame(
        {
            "customer_id": ["b", "c", "a", "b"],
            "timestamp": [dt.date(2024, 1, d) for d in (1, 2, 3, 4)],
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    ).with_columns(pl.col("customer_id").cast(pl.Categorical))
    out = _to_polars(tables.rfm_summary(_engines(None)[engine](log)))
    assert out["customer_id"].cast(pl.String).to_list() == ["a", "b", "c"]


def test_enum_ids_are_sorted_in_the_enum_order() -> None:
    log = pl.DataFrame(
        {"customer_id": ["b", "c", "a"], "timestamp": [dt.date(2024, 1, d) for d in (1, 2, 3)]}
    ).with_columns(pl.col("customer_id").cast(pl.Enum(["c", "a", "b"])))
    for frame in (log, log.lazy()):
        out = _to_polars(tables.rfm_summary(frame))
        assert out["customer_id"].cast(pl.String).to_list() == ["c", "a", "b"]
        out = _to_polars(tables.customer_summary(frame.with_columns(amount=pl.lit(1.0))))
        assert out["customer_id"].cast(pl.String).to_list() == ["c", "a", "b"]


@pytest.mark.parametrize("engine", ["polars", "polars-lazy", "pandas", "duckdb"])
def test_calibration_holdout_split_rows_are_sorted_by_id(engine: str) -> None:
    # ids in input order 5, 2, 9, 1; customer 7 first buys in the holdout (absent)
    log = pl.DataFrame(
        {
            "customer_id": [5, 2, 9, 7, 1, 5],
            "timestamp": [dt.date(2024, 1, d) for d in (3, 1, 2, 20, 4, 15)],
        }
    )
    out = _to_polars(
        tables.calibration_holdout_split(
            _engines(None)[engine](log),
            calibration_end=dt.date(2024, 1, 10),
            holdout_end=dt.date(2024, 1, 31),
        )
    )
    assert out["customer_id"].to_list() == [1, 2, 5, 9]
    assert out["frequency_holdout"].to_list() == [0, 0, 1, 0]


@pytest.mark.parametrize("lazy", [False, True])
def test_nan_amounts_with_partitions(lazy: bool) -> None:
    # the parts are checked when they are read (a deferred source for lazy input)
    log = _small_log().with_columns(
        pl.when(pl.int_range(pl.len()) < 2)
        .then(float("nan"))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    frame: Any = log.lazy() if lazy else log
    # polars 1.20 wraps an exception of a deferred source in a ComputeError
    errors = (ValueError, pl.exceptions.ComputeError)
    for function in ("rfm_summary", "customer_summary", "period_summary"):
        with pytest.raises(errors, match=r"column 'amount' has 2 NaN value\(s\)"):
            _to_polars(getattr(tables, function)(frame, amount="amount", partitions=2))
