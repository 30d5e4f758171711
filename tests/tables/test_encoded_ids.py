"""String-like ids are encoded once to dense integer codes (`_plumbing.encode_ids`).

The table plans then run their integer plan on the codes, and the per-customer rows get
their ids back. These tests check the encoding itself (dense, exact, in id order) with
forced hash collisions, and that every table gives the same table as the plan on the
ids themselves (``ENCODE_IDS = False``, the hash plan of `by_customer`) for String,
Categorical, Enum and Binary ids, eager and lazy, in one part or several.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from loyaltymetrics import tables
from loyaltymetrics.tables import _plumbing

HASHES: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "own": _plumbing.id_hash,
    "three hashes": lambda c: c.hash(1) % 3,  # most ids share a hash with others
    "one hash": lambda c: c.hash(1) * 0,  # every id shares one hash
    "top bits": lambda c: c.hash(1) // 4 * 4,  # the row number's bits are all zero
}
# "C00001234" shares its first 8 bytes with "C0000123", and "a\0" its zero-padded ones
# with "a": the prefix keys of `id_order` tie
NAMES = ["b", "a0", "ä", "Z", "a", "10", "", "a ", "C0000123", "C0000124", "C00001234", "a\0"]
ENUM = pl.Enum(
    ["Z", "b", "a0", "10", "ä", "", "a", "a ", "C0000124", "C0000123", "C00001234", "a\0", "unused"]
)


def _as(dtype: str, values: list[str | None]) -> pl.Series:
    s = pl.Series("customer_id", values, dtype=pl.String)
    if dtype == "binary":
        return s.cast(pl.Binary)
    if dtype == "categorical":
        return s.cast(pl.Categorical)
    if dtype == "enum":
        return s.cast(ENUM)
    return s


DTYPES = ["string", "categorical", "binary", "enum"]


@pytest.mark.parametrize("hashing", sorted(HASHES))
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30, deadline=None)
@given(picks=st.lists(st.integers(0, len(NAMES) - 1), max_size=40), ordered=st.booleans())
def test_codes_are_dense_exact_and_in_id_order(
    hashing: str, dtype: str, picks: list[int], ordered: bool
) -> None:
    ids = _as(dtype, [NAMES[i] for i in picks])
    frame = pl.DataFrame([ids, pl.Series("x", range(len(picks)))])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_plumbing, "id_hash", HASHES[hashing])
        encoded = _plumbing.encode_ids(frame, "customer_id", ordered=ordered)
    assert encoded is not None
    coded, dictionary = encoded
    codes = coded["customer_id"]
    assert coded["x"].to_list() == frame["x"].to_list()  # the other columns as they were
    assert codes.dtype == pl.Int32
    assert dictionary.dtype == ids.dtype
    # each code maps back to its row's id
    assert_series_equal(dictionary.gather(codes), ids, check_names=False)
    if dtype == "enum":  # the Enum's own codes: every category, in the Enum's order
        assert dictionary.cast(pl.String).to_list() == ENUM.categories.to_list()
        return
    # dense, one code per distinct id (so equal codes mean equal ids)
    assert dictionary.len() == ids.n_unique()
    assert sorted(set(codes.to_list())) == list(range(dictionary.len()))
    if ordered:  # the order of a sort by the id in its own dtype
        assert_series_equal(dictionary, ids.unique().sort(), check_names=False)


@pytest.mark.parametrize("alphabet", ["ab\0", "abC\0é"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_id_order_sorts_the_ids(alphabet: str, data: st.DataObject) -> None:
    # short alphabets, so that many ids share their first 8 bytes (ties of the prefix
    # key); "é" sends some to the arg-sort fallback. Python sorts str by code point,
    # which is the byte order of UTF-8
    values = data.draw(st.lists(st.text(alphabet=alphabet, max_size=11), unique=True))
    for dtype in (pl.String, pl.Categorical, pl.Binary):
        ids = pl.Series(values, dtype=pl.String).cast(dtype)
        order = _plumbing.id_order(ids)
        assert order.dtype == np.int64
        if dtype == pl.String:
            assert ids.gather(order).to_list() == sorted(values)
        else:  # the dtype's own order
            assert ids.gather(order).equals(ids.sort())


def test_codes_of_an_empty_frame() -> None:
    frame = pl.DataFrame({"customer_id": []}, schema={"customer_id": pl.String})
    encoded = _plumbing.encode_ids(frame, "customer_id", ordered=True)
    assert encoded is not None
    assert encoded[0].schema["customer_id"] == pl.Int32
    assert encoded[1].len() == 0


@pytest.mark.parametrize("dtype", [pl.Int64, pl.Float64, pl.Date])
def test_other_ids_are_not_encoded(dtype: Any) -> None:
    frame = pl.DataFrame({"customer_id": [1, 2]}).cast({"customer_id": dtype})
    assert _plumbing.encode_ids(frame, "customer_id", ordered=True) is None


DAY0 = dt.datetime(2023, 12, 30, 8)

CALLS: dict[str, Callable[[Any, int], Any]] = {
    "rfm_summary": lambda tx, k: tables.rfm_summary(tx, amount="amount", partitions=k),
    "rfm_summary_end": lambda tx, k: tables.rfm_summary(
        tx, observation_end=dt.date(2024, 3, 1), partitions=k
    ),
    "customer_summary": lambda tx, k: tables.customer_summary(tx, partitions=k),
    "customer_summary_end": lambda tx, k: tables.customer_summary(
        tx, observation_end=dt.date(2024, 2, 1), partitions=k
    ),
    "period_summary": lambda tx, k: tables.period_summary(
        tx, period="1w", active_window=2, partitions=k
    ),
    "cohort_retention": lambda tx, k: tables.cohort_retention(tx, period="1mo", partitions=k),
    "cohort_retention_by": lambda tx, k: tables.cohort_retention(
        tx, period="1mo", by="store", partitions=k
    ),
    "period_summary_by": lambda tx, k: tables.period_summary(
        tx, period="1mo", by="store", partitions=k
    ),
}

orders = st.lists(
    st.tuples(st.integers(0, len(NAMES) - 1), st.integers(0, 24 * 200), st.integers(-5, 500)),
    min_size=1,
    max_size=60,
)


def _collect(out: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return out.collect() if isinstance(out, pl.LazyFrame) else out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("call", sorted(CALLS))
@settings(max_examples=20, deadline=None)
@given(
    rows=orders,
    lazy=st.booleans(),
    parts=st.sampled_from([1, 3]),
    hashing=st.sampled_from(sorted(HASHES)),
)
def test_tables_on_codes_equal_the_plan_on_the_ids(
    call: str, dtype: str, rows: list[tuple[int, int, int]], lazy: bool, parts: int, hashing: str
) -> None:
    log = pl.DataFrame(
        [
            _as(dtype, [NAMES[r[0]] for r in rows]),
            pl.Series("timestamp", [DAY0 + dt.timedelta(hours=r[1]) for r in rows]),
            pl.Series("amount", [float(r[2]) for r in rows]),
            pl.Series("store", [["n", "s", None][r[2] % 3] for r in rows]),
        ]
    )
    tx = log.lazy() if lazy else log
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_plumbing, "id_hash", HASHES[hashing])
        got = _collect(CALLS[call](tx, parts))
        if dtype == "enum":  # an Enum is always encoded: the reference is its strings
            mp.setattr(_plumbing, "ENCODE_IDS", False)
            plain = log.with_columns(pl.col("customer_id").cast(pl.String))
            expected = _collect(CALLS[call](plain, 1))
            if "customer_id" in got.columns:
                assert got.schema["customer_id"] == ENUM
                order = [ENUM.categories.index_of(v) for v in expected["customer_id"]]
                expected = expected.with_columns(pl.col("customer_id").cast(ENUM))
                expected = expected.select(pl.all().gather(pl.Series(order).arg_sort()))
        else:
            mp.setattr(_plumbing, "ENCODE_IDS", False)
            expected = _collect(CALLS[call](tx, parts))
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lazy", [False, True])
def test_null_ids_are_an_error_on_the_encoded_path(call: str, dtype: str, lazy: bool) -> None:
    log = pl.DataFrame(
        [
            _as(dtype, ["a", None, "a"]),  # not scatter: polars 1.33 cannot scatter a null
            pl.Series("timestamp", [DAY0, DAY0, DAY0 + dt.timedelta(days=3)]),
            pl.Series("amount", [1.0, 2.0, 3.0]),
            pl.Series("store", ["n", "s", "n"]),
        ]
    )
    with pytest.raises(ValueError, match="'customer_id' has 1 null value"):
        _collect(CALLS[call](log.lazy() if lazy else log, 1))


def _one_sort_runs(frame: pl.DataFrame, low: int) -> tuple[np.ndarray, np.ndarray]:
    """The plain form of `_plumbing._hash_runs`: one sort of all the packed values."""
    high = frame.select(_plumbing.id_hash(pl.col("customer_id")).cast(pl.UInt64) // low)
    v = high.to_series().to_numpy().astype(np.uint64) * np.uint64(low)
    v = np.sort(v + np.arange(len(v), dtype=np.uint64))
    start = np.r_[
        True,
        (v[1:] >> np.uint64(low.bit_length() - 1)) != (v[:-1] >> np.uint64(low.bit_length() - 1)),
    ]
    rows = (v & np.uint64(low - 1)).astype(np.int64)
    codes = np.empty(len(v), dtype=np.int64)
    codes[rows] = np.cumsum(start) - 1
    return codes, rows[start]


@pytest.mark.parametrize("hashing", sorted(HASHES))
@settings(max_examples=40, deadline=None)
@given(picks=st.lists(st.integers(0, 30), min_size=1, max_size=60))
def test_hash_runs_in_two_halves_equal_one_sort(hashing: str, picks: list[int]) -> None:
    """The two-thread sort and merge give the codes and first rows of one sort."""
    frame = pl.DataFrame({"customer_id": [f"C{p}" for p in picks]})
    n = frame.height
    low = 1 << max(1, (n - 1).bit_length())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_plumbing, "id_hash", HASHES[hashing])
        codes, first = _plumbing._hash_runs(frame, "customer_id", n, low, np.int32)
        expected_codes, expected_first = _one_sort_runs(frame, low)
    assert codes.dtype == np.int32
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_array_equal(first, expected_first)
