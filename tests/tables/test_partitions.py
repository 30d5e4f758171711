"""`partitions=k`: the table functions computed over k disjoint sets of customers.

The parts are put together by concatenation (per-customer tables, then sorted by id) or
by adding their counts (cohort cells, period flows and sales). The result must not
depend on k: every table is compared with the one-part plan, for eager and lazy input,
integer and string ids, and k from 2 up to more parts than customers (empty parts).
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
from loyaltymetrics.tables import _parts

DAY0 = dt.datetime(2023, 12, 30, 8)

orders = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 24 * 300), st.integers(-5, 500)),
    min_size=0,
    max_size=80,
)


def _log(rows: list[tuple[int, int, int]], *, string_ids: bool = False) -> pl.DataFrame:
    log = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [DAY0 + dt.timedelta(hours=r[1]) for r in rows],
            "amount": [float(r[2]) for r in rows],
        },
        schema={"customer_id": pl.Int64, "timestamp": pl.Datetime("us"), "amount": pl.Float64},
    )
    if string_ids:
        log = log.with_columns(pl.col("customer_id").cast(pl.String).str.zfill(3))
    return log


CALLS: dict[str, Callable[..., Any]] = {
    "rfm_summary": lambda tx, k: tables.rfm_summary(tx, amount="amount", partitions=k),
    "rfm_summary_end": lambda tx, k: tables.rfm_summary(
        tx, observation_end=dt.date(2024, 6, 1), time_unit="W", partitions=k
    ),
    "customer_summary": lambda tx, k: tables.customer_summary(tx, partitions=k),
    "customer_summary_end": lambda tx, k: tables.customer_summary(
        tx, observation_end=dt.date(2024, 5, 1), partitions=k
    ),
    "cohort_retention": lambda tx, k: tables.cohort_retention(tx, partitions=k),
    "cohort_retention_end": lambda tx, k: tables.cohort_retention(
        tx, period="1w", observation_end=dt.date(2024, 4, 1), partitions=k
    ),
    "period_summary": lambda tx, k: tables.period_summary(tx, partitions=k),
    "period_summary_window": lambda tx, k: tables.period_summary(
        tx, period="1w", active_window=3, partitions=k
    ),
}


def _collect(out: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return out.collect() if isinstance(out, pl.LazyFrame) else out


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("string_ids", [False, True], ids=["int", "str"])
@settings(max_examples=25, deadline=None)
@given(rows=orders, k=st.integers(2, 17))
def test_partitions_do_not_change_the_table(
    name: str, lazy: bool, string_ids: bool, rows: list[tuple[int, int, int]], k: int
) -> None:
    log = _log(rows, string_ids=string_ids)
    tx = log.lazy() if lazy else log
    call = CALLS[name]
    one = call(tx, 1)
    many = call(tx, k)
    assert isinstance(many, type(one))  # lazy in, lazy out
    # revenue is a sum of the same amounts in another order: equal up to rounding
    assert_frame_equal(_collect(many), _collect(one), check_exact=False, rel_tol=1e-12)


def test_parts_are_disjoint_and_cover_every_customer() -> None:
    ids = pl.DataFrame({"customer_id": range(1_000)})

    def build(part_tx: object, frame: pl.LazyFrame) -> pl.LazyFrame:
        # every row tagged with its part: the part's smallest id
        return frame.with_columns(pl.col("customer_id").min().alias("part"))

    out = _parts.in_parts(
        ids, ids.lazy(), "customer_id", ["customer_id"], 7, build, lambda f: f, lambda f: f
    ).collect()
    assert out.height == 1_000
    assert out["customer_id"].n_unique() == 1_000
    sizes = out.group_by("part").len()["len"]
    assert sizes.len() == 7  # every part gets customers; a bad hash would leave some empty


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("k", [1, 5])
def test_lazy_parts_run_at_collect_one_pass_each(name: str, k: int) -> None:
    """Nothing is read before collect; then each of the k parts reads the input once.

    k = 1 is the default path of a LazyFrame: one deferred pass, then the eager plan.
    """
    log = _log([(c, 24 * c, c) for c in range(40)])
    reads = []

    def source() -> pl.DataFrame:
        reads.append(1)
        return log

    lazy_log = pl.defer(source, schema=log.schema)
    out = CALLS[name](lazy_log, k)
    assert reads == []
    assert_frame_equal(out.collect(), _collect(CALLS[name](log, 1)), check_exact=False)
    assert len(reads) == k


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
def test_partitions_with_either_engine(name: str, engine: Any) -> None:
    log = _log([(c % 9, 37 * c, c) for c in range(120)])
    many = CALLS[name](log.lazy(), 4).collect(engine=engine)
    assert_frame_equal(many, _collect(CALLS[name](log, 1)), check_exact=False)


@pytest.mark.parametrize("k", [2, 5])
@pytest.mark.parametrize(
    "name", ["rfm_summary", "customer_summary", "cohort_retention", "period_summary"]
)
@pytest.mark.parametrize("column", ["customer_id", "timestamp"])
def test_nulls_still_fail_with_partitions(name: str, k: int, column: str) -> None:
    log = _log([(1, 0, 1), (2, 30, 2), (3, 50, 3)]).with_columns(
        pl.when(pl.col("customer_id") == 2).then(None).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(pl.exceptions.InvalidOperationError, match="null value"):
        CALLS[name](log.lazy(), k).collect()
    with pytest.raises(ValueError, match="null value"):
        CALLS[name](log, k)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_null_count_is_over_all_parts(name: str) -> None:
    """The nulls of a lazy input fall in several parts; the message counts them all."""
    log = _log([(c, 24 * c, c) for c in range(60)]).with_columns(
        pl.when(pl.col("customer_id") % 3 == 0).then(None).otherwise("timestamp").alias("timestamp")
    )
    with pytest.raises(pl.exceptions.InvalidOperationError, match="'timestamp' has 20 null"):
        CALLS[name](log.lazy(), 6).collect()


@pytest.mark.parametrize("name", ["rfm_summary", "cohort_retention", "period_summary"])
def test_bad_partitions(name: str) -> None:
    log = _log([(1, 0, 1)])
    with pytest.raises(ValueError, match="partitions must be at least 1; got partitions=0"):
        CALLS[name](log, 0)
    with pytest.raises(TypeError, match=r"partitions must be a positive int; got float 2\.0"):
        CALLS[name](log, 2.0)
    with pytest.raises(TypeError, match="got bool True"):
        CALLS[name](log, True)


def test_partitions_are_refused_for_other_engines() -> None:
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"customer_id": [1], "timestamp": [dt.date(2024, 1, 1)], "amount": [1.0]})
    with pytest.raises(ValueError, match=r"partitions=4 applies to polars input only"):
        tables.rfm_summary(table, partitions=4)
    assert tables.rfm_summary(table, partitions=1).num_rows == 1


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 30), min_size=2, max_size=6),
    strings=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_parts_are_put_together_in_id_order(sizes: list[int], strings: bool, seed: int) -> None:
    """`_concat_sorted` is ``pl.concat(parts).sort(id)``, and it empties the parts."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(sum(sizes) * 3)[: sum(sizes)]  # distinct ids over the parts
    parts, start = [], 0
    for size in sizes:
        part_ids = ids[start : start + size]
        start += size
        parts.append(
            pl.DataFrame(
                {
                    "c": pl.Series([f"C{i}" for i in part_ids], dtype=pl.String)
                    if strings
                    else pl.Series(part_ids, dtype=pl.Int64),
                    "x": rng.normal(size=size),
                    "t": pl.Series(rng.integers(0, 10**6, size), dtype=pl.Int64).cast(
                        pl.Datetime("us")
                    ),
                }
            )
        )
    expected = pl.concat(parts).sort("c")
    got = _parts._concat_sorted(parts, "c")
    assert_frame_equal(got, expected)
    assert got["c"].flags["SORTED_ASC"]
    assert all(p.width == 0 for p in parts)
