"""One definition, many engines: the portable narwhals plans agree with the polars plans.

Every table function's portable plan (next to its polars plan in
``loyaltymetrics.tables._<table>``) runs on each engine's own frame and is compared with
the polars plan (``tables.<function>`` on a polars DataFrame): same columns, same dtypes
after conversion to polars, same values, same order. Spark tests are marked ``spark``
(``pytest -m spark`` / ``-m "not spark"``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loyaltymetrics import datasets, stats, tables
from loyaltymetrics.tables import (
    _cohorts,
    _customer_summary,
    _period_summary,
    _rfm,
    _survey_summary,
)

# the portable (narwhals) plan of each table, called directly: forced onto any frame
PORTABLE: dict[str, Callable[..., Any]] = {
    "rfm_summary": _rfm._rfm_summary_portable,
    "cohort_retention": _cohorts._cohort_retention_portable,
    "period_summary": _period_summary._period_summary_portable,
    "survey_summary": _survey_summary._survey_summary_portable,
    "customer_summary": _customer_summary._customer_summary_portable,
}

pytest.importorskip("narwhals")

LOG = datasets.simulate_transactions(
    1500, start=dt.date(2020, 1, 1), end=dt.date(2021, 6, 1), seed=3
).with_columns(discount=pl.col("amount") > 50)


def _survey() -> pl.DataFrame:
    rng = np.random.default_rng(8)
    n = 2000
    ltr = rng.integers(0, 11, n).astype(float)
    sat = rng.integers(1, 6, n).astype(float)
    effort = rng.integers(1, 8, n).astype(float)
    ltr[rng.random(n) < 0.05] = np.nan
    sat[rng.random(n) < 0.05] = np.nan
    segment = rng.choice(["a", "b", "c", "tiny"], n, p=[0.45, 0.35, 0.1995, 0.0005])
    return pl.DataFrame(
        {
            "segment": pl.Series(segment).replace("tiny", None).cast(pl.String),
            "region": rng.choice(["north", "south"], n),
            "ltr": pl.Series(ltr).fill_nan(None),  # nulls
            "sat": sat,  # NaN as missing
            "effort": pl.Series(effort, dtype=pl.Float64).cast(pl.Int64),
        }
    )


SURVEY = _survey()


# -- engines ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
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
    yield session
    session.stop()


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


def _dask(df: pl.DataFrame) -> Any:
    dd = pytest.importorskip("dask.dataframe")
    pytest.importorskip("pyarrow")
    return dd.from_pandas(df.to_pandas(), npartitions=2)


ENGINES: dict[str, Callable[[pl.DataFrame], Any]] = {
    "polars": lambda df: df,
    "polars-lazy": lambda df: df.lazy(),
    "pandas": _pandas,
    "pyarrow": _arrow,
    "duckdb": _duckdb,
    "dask": _dask,
}
Engine = tuple[str, Callable[[pl.DataFrame], Any]]


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


def _assert_stays_in_engine(name: str, out: Any) -> None:
    """Lazy in, lazy out: the result is the engine's own (lazy) frame."""
    expected_module = {
        "polars": "polars",
        "polars-lazy": "polars",
        "pandas": "pandas",
        "pyarrow": "pyarrow",
        "duckdb": "duckdb",
        "dask": "dask",
        "spark": "pyspark",
    }[name]
    assert type(out).__module__.split(".")[0] == expected_module
    if name == "polars-lazy":
        assert isinstance(out, pl.LazyFrame)


# -- calling the plans --------------------------------------------------------------------

DEFAULTS: dict[str, dict[str, Any]] = {
    "cohort_retention": {
        "customer_id": "customer_id",
        "timestamp": "timestamp",
        "period": "1mo",
        "observation_end": None,
    },
    "period_summary": {
        "customer_id": "customer_id",
        "timestamp": "timestamp",
        "amount": "amount",
        "period": "1mo",
        "active_window": None,
    },
    "survey_summary": {
        "by": None,
        "nps": None,
        "csat": None,
        "ces": None,
        "confidence": 0.95,
        "csat_scale": (1, 5),
        "ces_scale": (1, 7),
    },
    "customer_summary": {
        "customer_id": "customer_id",
        "timestamp": "timestamp",
        "amount": "amount",
        "observation_end": None,
        "discount": None,
    },
}


def _portable_plan(function: str, frame: Any, **options: Any) -> Any:
    return PORTABLE[function](frame, **{**DEFAULTS[function], **options})


def _polars_plan(function: str, data: pl.DataFrame, **options: Any) -> pl.DataFrame:
    out = getattr(tables, function)(data, **options)
    assert isinstance(out, pl.DataFrame)
    return out


def _check(
    function: str, engine: tuple[str, Callable[[pl.DataFrame], Any]], **options: Any
) -> None:
    name, convert = engine
    data = SURVEY if function == "survey_summary" else LOG
    out = _portable_plan(function, convert(data), **options)
    _assert_stays_in_engine(name, out)
    expected = _polars_plan(function, data, **options)
    assert expected.height > 0
    assert_frame_equal(_to_polars(out), expected)


def _ids(options: dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in options.items()) or "defaults"


COHORT_OPTIONS: list[dict[str, Any]] = [
    {"period": "1mo"},
    {"period": "2w"},
    {"period": "1q", "observation_end": dt.date(2021, 1, 15)},
    {"period": "3d", "observation_end": dt.datetime(2021, 7, 1, 12)},
    {"period": "1y"},
]
PERIOD_OPTIONS: list[dict[str, Any]] = [
    {"period": "1mo"},
    {"period": "1mo", "active_window": 3},
    {"period": "2w", "active_window": 2},
    {"period": "1d", "active_window": 30},
    {"period": "1q"},
]
SURVEY_OPTIONS: list[dict[str, Any]] = [
    {"by": "segment", "nps": "ltr", "csat": "sat", "ces": "effort"},
    {"nps": "ltr", "ces": "effort", "confidence": 0.9},
    {"by": ["segment", "region"], "csat": "sat", "ces": "effort", "ces_scale": (0, 10)},
]
CUSTOMER_OPTIONS: list[dict[str, Any]] = [
    {},
    {"observation_end": dt.date(2021, 1, 15), "discount": "discount"},
]


# -- each function's portable plan on every engine ----------------------------------------

# Dask and Spark run one option set per function (their per-query overhead is seconds):
# the one that uses the most operations (grids, windows > 1, datetime ends, discount); the
# fast engines run them all. The plans use the same operations for every option.
SLOW_ENGINES = ("dask", "spark")


def _cases(options: list[dict[str, Any]], slow: tuple[int, ...]) -> list[Any]:
    cases = []
    for name in [*ENGINES, "spark"]:
        for i, option in enumerate(options):
            if name in SLOW_ENGINES and i not in slow:
                continue
            marks = [pytest.mark.spark] if name == "spark" else []
            cases.append(pytest.param(name, option, marks=marks, id=f"{name}-{_ids(option)}"))
    return cases


@pytest.fixture
def to_engine(request: pytest.FixtureRequest) -> Callable[[str], Engine]:
    """Engine name -> (name, converter); the Spark session starts only when asked for."""

    def get(name: str) -> Engine:
        if name == "spark":
            session = request.getfixturevalue("spark")
            return name, lambda df: session.createDataFrame(df.to_arrow())
        return name, ENGINES[name]

    return get


@pytest.mark.parametrize(("name", "options"), _cases(COHORT_OPTIONS, slow=(3,)))
def test_cohort_retention_on_every_engine(
    to_engine: Callable[[str], Engine], name: str, options: dict[str, Any]
) -> None:
    _check("cohort_retention", to_engine(name), **options)


@pytest.mark.parametrize(("name", "options"), _cases(PERIOD_OPTIONS, slow=(2,)))
def test_period_summary_on_every_engine(
    to_engine: Callable[[str], Engine], name: str, options: dict[str, Any]
) -> None:
    _check("period_summary", to_engine(name), **options)


@pytest.mark.parametrize(("name", "options"), _cases(SURVEY_OPTIONS, slow=(0,)))
def test_survey_summary_on_every_engine(
    to_engine: Callable[[str], Engine], name: str, options: dict[str, Any]
) -> None:
    _check("survey_summary", to_engine(name), **options)


@pytest.mark.parametrize(("name", "options"), _cases(CUSTOMER_OPTIONS, slow=(1,)))
def test_customer_summary_on_every_engine(
    to_engine: Callable[[str], Engine], name: str, options: dict[str, Any]
) -> None:
    engine = to_engine(name)
    if name == "pyarrow":
        with pytest.raises(NotImplementedError, match=r"customer_summary .* pyarrow .* median"):
            _portable_plan("customer_summary", engine[1](LOG), **options)
        return
    _check("customer_summary", engine, **options)


def test_survey_interval_bounds_use_the_exact_t_quantile() -> None:
    # groups of every size from 1 to 60: the CES bounds go through the exact table
    # (small groups) and the Cornish-Fisher expansion (large ones)
    sizes = np.arange(1, 61)
    survey = pl.DataFrame(
        {
            "group": np.repeat(sizes, sizes),
            "effort": np.concatenate([(np.arange(k) % 7) + 1 for k in sizes]),
        }
    )
    for confidence in (0.8, 0.95, 0.999):
        options = {"by": "group", "ces": "effort", "confidence": confidence}
        out = _portable_plan("survey_summary", _duckdb(survey), **options)
        expected = _polars_plan("survey_summary", survey, **options)
        assert_frame_equal(_to_polars(out), expected, rel_tol=1e-9)


# -- the public functions: rfm_summary dispatches already, the others once wired ----------

RFM_OPTIONS: list[dict[str, Any]] = [
    {"time_unit": "D", "time_scaler": 1.0},
    {"time_unit": "D", "time_scaler": 7.0},
    {"time_unit": "W", "time_scaler": 1.0},
    {"time_unit": "M", "time_scaler": 1.0},
    {"time_unit": "D", "time_scaler": 1.0, "observation_end": dt.date(2021, 1, 15)},
]


def _native(log: pl.DataFrame, **kw: Any) -> pl.DataFrame:
    return tables.rfm_summary(log, amount="amount", **kw).sort("customer_id")


@pytest.mark.parametrize(("name", "options"), _cases(RFM_OPTIONS, slow=(1, 4)))
def test_public_function_on_every_engine(
    to_engine: Callable[[str], Engine], name: str, options: dict[str, Any]
) -> None:
    _, convert = to_engine(name)
    out = tables.rfm_summary(convert(LOG), amount="amount", **options)
    if name in ("duckdb", "dask", "spark", "polars-lazy"):
        _assert_stays_in_engine(name, out)
    got = _to_polars(out).sort("customer_id")
    assert_frame_equal(got, _native(LOG, **options), check_dtypes=False)


@pytest.mark.parametrize("engine_name", ["polars", "pandas", "pyarrow"])
def test_portable_plan_equals_polars_plan(engine_name: str) -> None:
    # the narwhals plan forced onto frames that normally take the polars path
    frame = ENGINES[engine_name](LOG)
    out = PORTABLE["rfm_summary"](
        frame,
        customer_id="customer_id",
        timestamp="timestamp",
        amount="amount",
        observation_end=None,
        time_unit="D",
        time_scaler=7.0,
    )
    assert_frame_equal(_to_polars(out), _native(LOG, time_scaler=7.0), check_dtypes=False)


PUBLIC_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("cohort_retention", {"period": "1mo"}),
    ("period_summary", {"period": "1mo", "active_window": 2}),
    ("survey_summary", {"by": "segment", "nps": "ltr", "csat": "sat", "ces": "effort"}),
    ("customer_summary", {"discount": "discount"}),
]


@pytest.mark.parametrize(("function", "options"), PUBLIC_CALLS, ids=[c[0] for c in PUBLIC_CALLS])
def test_public_function_takes_a_duckdb_relation(function: str, options: dict[str, Any]) -> None:
    data = SURVEY if function == "survey_summary" else LOG
    out = getattr(tables, function)(_duckdb(data), **options)
    _assert_stays_in_engine("duckdb", out)
    assert_frame_equal(_to_polars(out), _polars_plan(function, data, **options))


# -- random logs: the portable plans on polars frames against the polars plans --------------

days = st.integers(min_value=-800, max_value=800)
rows = st.lists(st.tuples(st.integers(0, 5), days, st.integers(0, 500)), min_size=1, max_size=40)


def _random_log(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    base = dt.date(1970, 1, 1)
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [base + dt.timedelta(days=r[1]) for r in rows],
            "amount": [r[2] / 10 for r in rows],
            "discount": [r[2] % 3 == 0 for r in rows],
        }
    )


@given(rows=rows, unit=st.sampled_from(["D", "W", "M"]))
@settings(max_examples=40, deadline=None)
def test_civil_day_numbers_match_polars_on_random_logs(
    rows: list[tuple[int, int, int]], unit: str
) -> None:
    # dates on both sides of 1970 and of leap days; the portable plan computes day numbers
    # from year/month/day only
    log = _random_log(rows)
    out = PORTABLE["rfm_summary"](
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


@given(
    rows=rows,
    period=st.sampled_from(["1d", "3d", "1w", "2w", "1mo", "2mo", "1q", "1y"]),
    window=st.sampled_from([None, 1, 2, 5]),
    end=st.one_of(st.none(), days),
)
@settings(max_examples=30, deadline=None)
def test_period_tables_match_polars_on_random_logs(
    rows: list[tuple[int, int, int]], period: str, window: int | None, end: int | None
) -> None:
    log = _random_log(rows)
    end_date = None if end is None else dt.date(1970, 1, 1) + dt.timedelta(days=end)
    calls = [
        ("cohort_retention", {"period": period, "observation_end": end_date}),
        ("period_summary", {"period": period, "active_window": window}),
        ("customer_summary", {"observation_end": end_date, "discount": "discount"}),
    ]
    for function, options in calls:
        out = _portable_plan(function, log, **options)
        assert_frame_equal(
            _to_polars(out), _polars_plan(function, log, **options), check_column_order=True
        )


# -- errors -------------------------------------------------------------------------------


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


def test_portable_errors_name_the_argument_and_value() -> None:
    relation = _duckdb(LOG)
    with pytest.raises(ValueError, match="timestamp column 'when' not found"):
        _portable_plan("cohort_retention", relation, timestamp="when")
    with pytest.raises(ValueError, match=r"period must be <n><unit> .* got period='1m'"):
        _portable_plan("cohort_retention", relation, period="1m")
    with pytest.raises(TypeError, match=r"observation_end must be a datetime\.date"):
        _portable_plan("cohort_retention", relation, observation_end="2021-01-01")
    with pytest.raises(ValueError, match="active_window must be >= 1; got active_window=0"):
        _portable_plan("period_summary", relation, active_window=0)
    with pytest.raises(TypeError, match=r"active_window must be a whole number .* float 1\.5"):
        _portable_plan("period_summary", relation, active_window=1.5)
    with pytest.raises(TypeError, match="amount column 'timestamp' must be numeric"):
        _portable_plan("period_summary", relation, amount="timestamp")
    with pytest.raises(TypeError, match="discount column 'amount' must be Boolean"):
        _portable_plan("customer_summary", relation, discount="amount")
    for column in ("customer_id", "timestamp", "amount", "discount"):
        nulls = LOG.with_columns(
            pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise(pl.col(column)).alias(column)
        )
        with pytest.raises(ValueError, match=f"column '{column}' has 2 null value"):
            _portable_plan("customer_summary", _duckdb(nulls), discount="discount")
        if column != "discount":
            with pytest.raises(ValueError, match=f"column '{column}' has 2 null value"):
                _portable_plan("period_summary", _duckdb(nulls))


def test_portable_survey_errors() -> None:
    relation = _duckdb(SURVEY)
    with pytest.raises(ValueError, match="name at least one survey column"):
        _portable_plan("survey_summary", relation, by="segment")
    with pytest.raises(ValueError, match="by column 'seg' not found"):
        _portable_plan("survey_summary", relation, by="seg", nps="ltr")
    with pytest.raises(TypeError, match="nps column 'segment' must be numeric"):
        _portable_plan("survey_summary", relation, nps="segment")
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\).* got confidence=95"):
        _portable_plan("survey_summary", relation, nps="ltr", confidence=95)
    off = SURVEY.with_columns(
        pl.when(pl.int_range(pl.len()) < 4).then(11).otherwise(pl.col("ltr")).alias("ltr"),
        pl.when(pl.int_range(pl.len()) == 7).then(2.5).otherwise(pl.col("sat")).alias("sat"),
    )
    with pytest.raises(
        ValueError, match=r"nps: answers must be whole numbers from 0 to 10: 4 value\(s\), e.g. 11"
    ):
        _portable_plan("survey_summary", _duckdb(off), nps="ltr")
    with pytest.raises(ValueError, match=r"csat: .* from 1 to 5: 1 value\(s\), e.g. 2.5"):
        _portable_plan("survey_summary", _duckdb(off), csat="sat")


def test_empty_logs_give_empty_tables() -> None:
    empty = LOG.clear()
    for function in ("cohort_retention", "period_summary", "customer_summary"):
        out = _to_polars(_portable_plan(function, _duckdb(empty)))
        expected = _polars_plan(function, empty)
        assert out.height == expected.height == 0
        assert out.columns == expected.columns


# -- the engine boundary (tables._engine) ---------------------------------------------------

KIND_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("rfm_summary", {"amount": "amount"}),
    ("cohort_retention", {}),
    ("period_summary", {}),
    ("survey_summary", {"by": "segment", "nps": "ltr"}),
    ("customer_summary", {}),
]
EXPECTED_KIND = {
    "polars": "polars.dataframe",
    "polars-lazy": "polars.lazyframe",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "duckdb": "duckdb",
    "dask": "dask",
}


@pytest.mark.parametrize(("function", "options"), KIND_CALLS, ids=[c[0] for c in KIND_CALLS])
@pytest.mark.parametrize("name", sorted(EXPECTED_KIND))
def test_every_table_function_returns_the_callers_frame_kind(
    name: str, function: str, options: dict[str, Any]
) -> None:
    # issue 18 item 12: pandas in, pandas out (polars out before), and so on
    if name == "dask" and function != "rfm_summary":
        pytest.skip("Dask runs one function here (seconds per query); the others above")
    if name == "pyarrow" and function == "customer_summary":
        pytest.skip("a pyarrow Table cannot run customer_summary (approximate median)")
    data = SURVEY if function == "survey_summary" else LOG
    out = getattr(tables, function)(ENGINES[name](data), **options)
    assert type(out).__module__.startswith(EXPECTED_KIND[name])
    expected = getattr(tables, function)(data, **options)
    assert_frame_equal(_to_polars(out), expected, check_dtypes=False)


@pytest.mark.parametrize("function", ["calibration_holdout_split", "rfm_segments"])
def test_polars_only_table_functions_return_pandas_for_pandas(function: str) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    if function == "rfm_segments":
        data, options = tables.rfm_summary(LOG, amount="amount"), {}
    else:
        data = LOG
        options = {"calibration_end": dt.date(2020, 12, 31), "holdout_end": dt.date(2021, 5, 31)}
    out = getattr(tables, function)(data.to_pandas(), **options)
    assert isinstance(out, pd.DataFrame)
    pd.testing.assert_frame_equal(out, getattr(tables, function)(data, **options).to_pandas())


def _single_detractor() -> pl.DataFrame:
    return pl.DataFrame({"segment": ["a", "b", "b"], "ltr": [3.0, 10.0, 0.0]})


@pytest.mark.parametrize(
    "name", [*ENGINES, pytest.param("spark", marks=pytest.mark.spark)], ids=[*ENGINES, "spark"]
)
def test_single_detractor_nps_interval_is_minus_100_on_every_engine(
    to_engine: Callable[[str], Engine], name: str
) -> None:
    # issue 18 item 10: the portable plan gave -98.5, an interval without its estimate
    _, convert = to_engine(name)
    out = _to_polars(tables.survey_summary(convert(_single_detractor()), by="segment", nps="ltr"))
    row = out.row(0, named=True)
    assert row["nps"] == -100.0
    assert row["nps_low"] == -100.0
    reference = stats.nps_interval([3.0])
    assert (row["nps_low"], row["nps_high"]) == (reference.low, reference.high)
    assert out.row(1, named=True)["nps"] == 0.0


@pytest.mark.parametrize(
    "name", [*ENGINES, pytest.param("spark", marks=pytest.mark.spark)], ids=[*ENGINES, "spark"]
)
@pytest.mark.parametrize("by", [5, ["segment", 3], {"segment"}])
def test_survey_summary_bad_by_names_the_argument_on_every_engine(
    to_engine: Callable[[str], Engine], name: str, by: Any
) -> None:
    # issue 18 item 11: polars said "'int' object is not iterable"
    _, convert = to_engine(name)
    with pytest.raises(TypeError, match=r"^by must be a column name or a list of names; got "):
        tables.survey_summary(convert(_single_detractor()), by=by, nps="ltr")


@pytest.mark.parametrize("function", sorted(PORTABLE))
def test_portable_plans_take_the_public_parameters(function: str) -> None:
    # the boundary hands every option by name to the portable plan
    import inspect

    public = inspect.signature(getattr(tables, function)).parameters
    portable = inspect.signature(PORTABLE[function]).parameters
    assert list(portable) == list(public)


def test_the_boundary_rejects_other_objects_naming_the_argument() -> None:
    with pytest.raises(TypeError, match=r"^survey must be a polars DataFrame or LazyFrame"):
        tables.survey_summary([1, 2], nps="ltr")
    with pytest.raises(TypeError, match=r"^rfm must be a polars DataFrame or LazyFrame"):
        tables.rfm_segments({"frequency": [1]})
