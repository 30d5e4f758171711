"""Two halves of the customers in two threads (`_parts.halves`) give the whole table.

`rfm_summary`, `cohort_retention` and `period_summary` split a part of
``HALVES_MIN_ROWS`` rows or more into two halves of its customers and compute them at
once. Here the threshold is lowered so that small random logs split, and every table
is compared with the same call computed whole (threshold out of reach), eager and lazy,
with integer and string ids, ``partitions`` and ``by`` segments.
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
from polars.testing import assert_frame_equal

from loyaltymetrics import tables
from loyaltymetrics.tables import _parts, _plumbing

START = dt.datetime(2023, 1, 1)


def _log(seed: int, rows: int, customers: int, id_kind: str) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, customers, rows)
    frame = pl.DataFrame(
        {
            "customer_id": ids,
            "timestamp": [
                START + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 500, rows)
            ],
            "amount": rng.gamma(2.0, 20.0, rows).round(2),
            "store": rng.choice(["north", "south", "east"], rows),
        }
    )
    if id_kind == "str":
        return frame.with_columns(pl.format("C{}", pl.col("customer_id")).alias("customer_id"))
    if id_kind == "uint64":
        return frame.with_columns(
            (pl.col("customer_id").cast(pl.UInt64) * ((1 << 63) // customers)).alias("customer_id")
        )
    return frame


CALLS: dict[str, Callable[[Any], Any]] = {
    "rfm": lambda tx: tables.rfm_summary(tx, amount="amount"),
    "rfm_weeks": lambda tx: tables.rfm_summary(
        tx, amount="amount", time_unit="W", observation_end=dt.date(2024, 3, 1)
    ),
    "cohort": lambda tx: tables.cohort_retention(tx),
    "cohort_by": lambda tx: tables.cohort_retention(tx, by="store", period="1q"),
    "period": lambda tx: tables.period_summary(tx),
    "period_by": lambda tx: tables.period_summary(tx, by="store", period="1w"),
    "rfm_parts": lambda tx: tables.rfm_summary(tx, partitions=3),
    "cohort_parts": lambda tx: tables.cohort_retention(tx, partitions=2),
}


def _whole_and_halved(name: str, tx: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    call = CALLS[name]

    def run() -> pl.DataFrame:
        out = call(tx)
        return out.collect() if isinstance(out, pl.LazyFrame) else out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parts, "HALVES_MIN_ROWS", 1 << 62)
        whole = run()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parts, "HALVES_MIN_ROWS", 2)
        calls: list[int] = []
        original = _parts.in_two_threads

        def counted(*args: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
            calls.append(1)
            return original(*args)

        mp.setattr(_parts, "in_two_threads", counted)
        halved = run()
    # a LazyFrame's parts are split; an eager frame (held by the caller) runs whole
    # (a frame of several parts is read part by part: each part is split)
    assert bool(calls) == (isinstance(tx, pl.LazyFrame) or name.endswith("parts")), calls
    return whole, halved


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("id_kind", ["int", "str", "uint64"])
@pytest.mark.parametrize("name", sorted(CALLS))
def test_halves_give_the_whole_table(name: str, id_kind: str, lazy: bool) -> None:
    tx = _log(11, 3_000, 400, id_kind)
    whole, halved = _whole_and_halved(name, tx.lazy() if lazy else tx)
    # sums of amounts may differ in the last bits (polars sums the groups' values in
    # another order when the rows come in other chunks); counts are exact
    assert_frame_equal(halved, whole, check_exact=False, rel_tol=1e-12, abs_tol=1e-9)
    if name.startswith("cohort"):
        assert halved.equals(whole)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows=st.integers(2, 300),
    customers=st.integers(1, 40),
    name=st.sampled_from(sorted(CALLS)),
)
def test_halves_on_random_logs(seed: int, rows: int, customers: int, name: str) -> None:
    tx = _log(seed, rows, customers, "int").lazy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parts, "HALVES_MIN_ROWS", 1 << 62)
        whole = CALLS[name](tx).collect()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parts, "HALVES_MIN_ROWS", 2)
        halved = CALLS[name](tx).collect()
    assert_frame_equal(halved, whole, check_exact=False, rel_tol=1e-12, abs_tol=1e-9)


def test_halves_split_at_a_sampled_median() -> None:
    rows = pl.DataFrame({"c": np.repeat(np.arange(100), 3), "x": np.arange(300)})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parts, "HALVES_MIN_ROWS", 2)
        parts = _parts.halves(rows.clone(), "c")
    assert parts is not None
    low, high = parts[0][0], parts[1][0]
    assert low.height + high.height == 300
    assert low["c"].max() < high["c"].min()  # type: ignore[operator]
    assert abs(low.height - high.height) <= 6
    assert_frame_equal(pl.concat([low, high]), rows)


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (pl.DataFrame({"c": [7] * 10, "x": range(10)}), "one customer"),
        (pl.DataFrame({"c": [1.5, 2.5] * 5, "x": range(10)}), "float ids"),
        (pl.DataFrame({"c": ["a", "b"] * 5, "x": range(10)}), "string ids (not encoded)"),
    ],
)
def test_no_halves(frame: pl.DataFrame, why: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parts, "HALVES_MIN_ROWS", 2)
        assert _parts.halves(frame, "c") is None, why
    assert _parts.halves(frame, "c") is None  # below the threshold


def test_halves_need_two_threads() -> None:
    frame = pl.DataFrame({"c": range(10), "x": range(10)})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parts, "HALVES_MIN_ROWS", 2)
        mp.setattr(pl, "thread_pool_size", lambda: 1)
        assert _parts.halves(frame, "c") is None


def test_an_error_in_the_thread_reaches_the_caller() -> None:
    def fail(part: list[pl.DataFrame]) -> pl.DataFrame:
        if part[0].height == 1:  # the first part, run in the other thread
            raise ValueError(f"part of {part[0].height} rows")
        return part[0]

    with pytest.raises(ValueError, match="part of 1 rows"):
        _plumbing.in_two_threads(fail, [pl.DataFrame({"a": [1]})], [pl.DataFrame({"a": [2, 3]})])
