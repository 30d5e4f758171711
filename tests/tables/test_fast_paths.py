"""The shortcuts of the integer-id plans give exactly what the plain expressions give.

`_plumbing.sorted_int64` sorts keys with numpy instead of polars, and
`_plumbing.calendar_index_of` finds months by a binary search over month starts instead of
reading each value's year and month. Each is checked against the plain polars expression
it replaces, on random values and at the edges (month starts, before 1970, one month,
empty frames), and the tables that use them against the plain plans.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from loyaltymetrics import tables
from loyaltymetrics._periods import calendar_index
from loyaltymetrics.tables import _cohorts, _parts, _period_summary, _plumbing, _rfm

ints = st.lists(st.integers(-(1 << 62), (1 << 62)), max_size=200)


@settings(max_examples=50, deadline=None)
@given(values=ints, simd=st.booleans())
def test_sorted_int64_is_the_sorted_column(values: list[int], simd: bool) -> None:
    s = pl.Series("k", values, dtype=pl.Int64)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_plumbing, "_SIMD_SORT", simd)
        got = pl.select(_plumbing.sorted_int64(pl.lit(s))).to_series()
    assert_series_equal(got, s.sort())
    assert got.flags["SORTED_ASC"]


def test_sorted_int64_with_nulls_and_chunks() -> None:
    s = pl.concat([pl.Series("k", [5, None, 1]), pl.Series("k", [3, -2])], rechunk=False)
    got = pl.DataFrame({"k": s}).select(_plumbing.sorted_int64(pl.col("k"))).to_series()
    assert got.to_list() == [None, -2, 1, 3, 5]


@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
def test_sorted_int64_sorts_the_whole_column_in_every_engine(engine: str) -> None:
    """Not batch by batch: 600k values in 6 chunks span several streaming morsels."""
    rng = np.random.default_rng(7)
    parts = [pl.DataFrame({"k": rng.integers(-(1 << 40), 1 << 40, 100_000)}) for _ in range(6)]
    frame = pl.concat(parts, rechunk=False).lazy()
    got = frame.select(_plumbing.sorted_int64(pl.col("k"))).collect(engine=engine)
    assert_series_equal(got.to_series(), pl.concat(parts)["k"].sort())


UNITS = [("mo", 1), ("mo", 5), ("q", 1), ("q", 2), ("y", 1), ("y", 3), ("w", 1), ("d", 2)]
instants = st.datetimes(dt.datetime(1960, 1, 1), dt.datetime(2040, 12, 31))
# month starts exactly, and the instant before them: where a wrong `side` shows
edges = st.builds(
    lambda y, m, before: dt.datetime(y, m, 1) - dt.timedelta(microseconds=before),
    st.integers(1965, 2035),
    st.integers(1, 12),
    st.sampled_from([0, 1]),
)


@pytest.mark.parametrize(("unit", "n"), UNITS)
@pytest.mark.parametrize(
    "dtype", [pl.Datetime("us"), pl.Datetime("ns"), pl.Datetime("ms"), pl.Date()]
)
@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.one_of(instants, edges), max_size=40))
def test_calendar_index_of_equals_calendar_index(
    unit: str, n: int, dtype: pl.DataType, values: list[dt.datetime]
) -> None:
    code = {"mo": "M", "q": "Q", "y": "Y", "w": "W", "d": "D"}[unit]
    frame = pl.DataFrame({"t": pl.Series(values, dtype=pl.Datetime("us")).cast(dtype)})
    got = frame.select(_plumbing.calendar_index_of(frame, "t", dtype, code, n).alias("i"))
    expected = frame.select(calendar_index(pl.col("t"), dtype, code, n).alias("i"))
    assert_frame_equal(got, expected)


def test_calendar_index_of_uses_the_search_only_where_it_applies() -> None:
    """The search for naive eager columns counted in months; the plain expression else."""
    t = pl.Series("t", [dt.datetime(2024, 1, 31, 23), dt.datetime(2024, 3, 1)])
    frame = pl.DataFrame({"t": t})
    searched = str(_plumbing.calendar_index_of(frame, "t", t.dtype, "M", 1))
    assert "search_sorted" in searched
    aware = frame.with_columns(pl.col("t").dt.replace_time_zone("Asia/Kolkata"))
    for tx, dtype, code in [
        (frame.lazy(), t.dtype, "M"),
        (aware, aware.schema["t"], "M"),
        (frame, t.dtype, "D"),
        (frame.clear(), t.dtype, "M"),
    ]:
        plain = str(_plumbing.calendar_index_of(tx, "t", dtype, code, 1))
        assert "search_sorted" not in plain
        assert plain == str(calendar_index(pl.col("t"), dtype, code, 1))


@pytest.mark.parametrize("call", ["rfm_summary", "cohort_retention", "period_summary"])
@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 30), st.one_of(instants, edges), st.integers(-5, 500)),
        min_size=1,
        max_size=80,
    )
)
def test_tables_equal_their_plain_plans(
    call: str, rows: list[tuple[int, dt.datetime, int]]
) -> None:
    """With both shortcuts replaced by the plain expressions, every table is the same."""
    log = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [r[1] for r in rows],
            "amount": [float(r[2]) for r in rows],
        },
        schema={"customer_id": pl.Int64, "timestamp": pl.Datetime("us"), "amount": pl.Float64},
    )
    fn = {
        "rfm_summary": lambda tx: tables.rfm_summary(tx, amount="amount"),
        "cohort_retention": lambda tx: tables.cohort_retention(tx, period="1mo"),
        "period_summary": lambda tx: tables.period_summary(tx, amount="amount", period="1q"),
    }[call]
    got = fn(log)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_plumbing, "sorted_int64", lambda e: e.sort())
        # rfm_summary's packed value sort (numpy, decoded at build time) off: the row sort
        mp.setattr(_rfm, "packed_order", lambda *args: None)
        for module in (_cohorts, _period_summary):
            mp.setattr(
                module,
                "calendar_index_of",
                lambda tx, ts, dtype, unit, n: calendar_index(pl.col(ts), dtype, unit, n),
            )
        expected = fn(log)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


PACKED_IDS = {
    "int64": (pl.Int64, -(1 << 40), -(1 << 40) + (1 << 20)),
    "int32": (pl.Int32, -(1 << 31), -(1 << 31) + (1 << 20)),
    "uint64": (pl.UInt64, (1 << 63) + 5, (1 << 63) + (1 << 20)),  # beyond Int64
    "uint8": (pl.UInt8, 0, 255),
}


@pytest.mark.parametrize("kind", sorted(PACKED_IDS))
@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    wide=st.booleans(),
    n=st.integers(1, 120),
    cut=st.booleans(),
)
def test_packed_order_is_the_stable_row_sort(
    kind: str, data: st.DataObject, wide: bool, n: int, cut: bool
) -> None:
    """`_plumbing.packed_order` gives the rows sorted by (customer, period), ties in input order.

    Periods within +-2**30 come out as Int32 (their values unchanged), wider ones as
    Int64; ids keep their dtype (UInt64 beyond Int64 too); the amounts follow their rows,
    also from a filtered plan (`cut`, as with an observation end).
    """
    dtype, lo, hi = PACKED_IDS[kind]
    span = 1 << 31 if wide else 1 << 29  # wide: beyond the Int32 periods
    some = st.integers(lo, lo + 40) | st.just(hi)  # repeated ids and the range's ends
    ids = data.draw(st.lists(some, min_size=n, max_size=n))
    periods = data.draw(st.lists(st.integers(-span, span), min_size=n, max_size=n))
    frame = pl.DataFrame(
        {
            "c": pl.Series(ids, dtype=dtype),
            _plumbing.PERIOD: pl.Series(periods, dtype=pl.Int64),
            "a": np.arange(n, dtype=np.float64) * 0.5,  # distinct: a wrong gather shows
        }
    )
    plan = frame.lazy()
    if cut:  # keep about half of the rows (at least one)
        plan = plan.filter((pl.col("a") * 2 % 2 == 0) | (pl.col("a") == 0))
        frame = plan.collect()
        periods = frame.get_column(_plumbing.PERIOD).to_list()
    held = [plan]
    got_frame = _plumbing.packed_order(held, frame, "c", dtype)
    assert got_frame is not None
    assert held == []  # handed over: no reference kept
    expected = frame.sort("c", _plumbing.PERIOD, maintain_order=True)
    narrow = min(periods) >= -(1 << 30) and max(periods) < (1 << 30)
    assert got_frame.schema[_plumbing.PERIOD] == (pl.Int32 if narrow else pl.Int64)
    assert got_frame.get_column("c").flags["SORTED_ASC"]
    assert_frame_equal(got_frame, expected, check_dtypes=False)
    assert got_frame.schema["c"] == dtype


def test_run_encoded_keeps_no_reference_to_the_part() -> None:
    """`_run_encoded` takes the part out of the list it is given (the hand-over that lets
    `prepare` free a LazyFrame part's columns), and still computes the plan on it."""
    log = pl.DataFrame(
        {"customer_id": [1, 1, 2], "timestamp": [dt.datetime(2024, 1, d) for d in (1, 5, 2)]}
    )
    held = [log]
    out = _parts._run_encoded(
        lambda part, frame: frame.select(pl.len()), held, "customer_id", per_customer=False
    )
    assert held == []
    assert out.item() == 3
