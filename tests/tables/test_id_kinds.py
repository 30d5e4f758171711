"""The table plans sort by (customer, period) in four ways, chosen by the id column:

* a value sort of one Int64 that packs the id offset, the period offset and the row
  number (an eager frame of integer ids whose ranges fit in 63 bits together),
* one Int64 key ``id * 2**32 + period`` (small integer ids, or an eager Int64 column whose
  values fit),
* the same key as an Int128 (other integer ids, e.g. a LazyFrame of Int64 ids, or ids
  beyond 2**31),
* an Int128 key from a 64-bit hash of the id and the period, with the rows of ids that
  share a hash re-sorted by (id, period) (strings and other dtypes; see the collision
  test at the end).

String, Categorical, Binary and Enum ids reach these plans as dense integer codes in id
order (`_plumbing.encode_ids`, tested in test_encoded_ids.py); the hash key serves the
other ids and `calibration_holdout_split`. Every path must give the same table. The
reference is the plan on small Int64 ids; the other id kinds are order-preserving maps
of those ids, so the outputs must be equal row for row once the ids are mapped back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loyaltymetrics import tables
from loyaltymetrics.tables import _plumbing

DAY0 = dt.datetime(2023, 12, 30, 8)
BIG = 1 << 40
HUGE = 1 << 59  # ids 9 * 2**59 apart: no room to pack them with a period and a row number

# order-preserving maps from small ids (0..9) to another id column, and back
ID_KINDS: dict[str, tuple[Callable[[pl.Expr], pl.Expr], Callable[[pl.Expr], pl.Expr]]] = {
    "int32": (lambda c: c.cast(pl.Int32), lambda c: c.cast(pl.Int64)),
    "int64-negative": (lambda c: c - 7, lambda c: c + 7),
    "int64-big": (lambda c: (c - 5) * BIG, lambda c: c // BIG + 5),
    "uint64-big": (lambda c: (c * BIG).cast(pl.UInt64), lambda c: (c // BIG).cast(pl.Int64)),
    "uint32": (lambda c: c.cast(pl.UInt32), lambda c: c.cast(pl.Int64)),
    "int8-negative": (lambda c: (c - 100).cast(pl.Int8), lambda c: c.cast(pl.Int64) + 100),
    "int64-huge": (lambda c: (c - 5) * HUGE, lambda c: c // HUGE + 5),
    "uint64-huge": (
        lambda c: c.cast(pl.UInt64) * (2 * HUGE),
        lambda c: (c // (2 * HUGE)).cast(pl.Int64),
    ),
    "string": (
        lambda c: c.cast(pl.String).str.zfill(3),
        lambda c: c.cast(pl.Int64),
    ),
}

orders = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 24 * 200), st.integers(-5, 500)),
    min_size=1,
    max_size=60,
)


def _log(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [DAY0 + dt.timedelta(hours=r[1]) for r in rows],
            "amount": [float(r[2]) for r in rows],
        },
        schema={"customer_id": pl.Int64, "timestamp": pl.Datetime("us"), "amount": pl.Float64},
    )


CALLS: dict[str, Callable[[Any], Any]] = {
    "rfm_summary": lambda tx: tables.rfm_summary(tx, amount="amount"),
    "rfm_summary_hours": lambda tx: tables.rfm_summary(tx, time_unit="h", time_scaler=24.0),
    "calibration_holdout_split": lambda tx: tables.calibration_holdout_split(
        tx,
        calibration_end=dt.date(2024, 3, 1),
        holdout_end=dt.date(2024, 6, 1),
        amount="amount",
    ),
    "customer_summary": lambda tx: tables.customer_summary(tx),
    "period_summary": lambda tx: tables.period_summary(tx, period="1w", active_window=2),
    "cohort_retention": lambda tx: tables.cohort_retention(tx, period="1mo"),
}


def _collect(out: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return out.collect() if isinstance(out, pl.LazyFrame) else out


@pytest.mark.parametrize("kind", sorted(ID_KINDS))
@pytest.mark.parametrize("call", sorted(CALLS))
@settings(max_examples=25, deadline=None)
@given(rows=orders, lazy=st.booleans())
def test_every_sort_path_gives_the_same_table(
    call: str, kind: str, rows: list[tuple[int, int, int]], lazy: bool
) -> None:
    fn = CALLS[call]
    to_kind, back = ID_KINDS[kind]
    log = _log(rows)
    expected = _collect(fn(log))
    other = log.with_columns(to_kind(pl.col("customer_id")))
    got = _collect(fn(other.lazy() if lazy else other))
    if "customer_id" in got.columns:
        assert got.height == 0 or got["customer_id"].dtype == other["customer_id"].dtype
        got = got.with_columns(back(pl.col("customer_id")))
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_ids_near_the_key_limits(call: str) -> None:
    """Ids at the edges of the single-key range (+-2**31) and just outside it."""
    fn = CALLS[call]
    rows = [(0, 0, 10), (0, 30, 5), (1, 5, 7), (1, 6, 8), (2, 100, 1), (3, 2, 2), (3, 99, 9)]
    log = _log(rows)
    expected = _collect(fn(log))
    edges = pl.Series([-(1 << 31), (1 << 31) - 1, 1 << 31, (1 << 62)], dtype=pl.Int64)
    mapped = log.with_columns(pl.col("customer_id").replace_strict(list(range(4)), edges))
    for frame in (mapped, mapped.lazy()):
        got = _collect(fn(frame))
        if "customer_id" in got.columns:
            got = got.with_columns(
                pl.col("customer_id").replace_strict(edges, list(range(4)), return_dtype=pl.Int64)
            )
        assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("kind", "packed"),
    [
        ("int32", True),
        ("int8-negative", True),
        ("int64-big", True),
        ("uint64-big", True),
        ("int64-huge", False),
        ("uint64-huge", False),
        ("string", False),
    ],
)
def test_the_packed_sort_is_used_where_the_ranges_fit(kind: str, packed: bool) -> None:
    """The kinds above cover both sides of the packed-sort test, eager and lazy."""
    log = _log([(0, 0, 1), (9, 24 * 200, 2)]).with_columns(ID_KINDS[kind][0](pl.col("customer_id")))
    frame = log.lazy().select("customer_id", pl.lit(0, pl.Int64).alias(_plumbing.PERIOD))
    dtype = log.schema["customer_id"]
    assert (_plumbing.packed_order([frame], log, "customer_id", dtype) is not None) is packed
    assert _plumbing.packed_order([frame], log.lazy(), "customer_id", dtype) is None


COLLIDING_HASHES: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "three hashes": lambda c: c.hash(1) % 3,  # most ids share a hash with others
    "one hash": lambda c: c.hash(1) * 0,  # every id shares one hash
}


@pytest.mark.parametrize("hashing", sorted(COLLIDING_HASHES))
@pytest.mark.parametrize("call", sorted(CALLS))
@settings(max_examples=25, deadline=None)
@given(rows=orders, lazy=st.booleans())
def test_string_ids_whose_hashes_collide(
    call: str, hashing: str, rows: list[tuple[int, int, int]], lazy: bool
) -> None:
    """String ids sort by a hash of the id; ids that share a hash must still be exact."""
    fn = CALLS[call]
    to_kind, back = ID_KINDS["string"]
    log = _log(rows)
    expected = _collect(fn(log))
    other = log.with_columns(to_kind(pl.col("customer_id")))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_plumbing, "id_hash", COLLIDING_HASHES[hashing])
        got = _collect(fn(other.lazy() if lazy else other))
    if "customer_id" in got.columns:
        got = got.with_columns(back(pl.col("customer_id")))
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
