"""The split of a log into parts of its customers: ``partitions=`` and the two halves.

`in_parts` runs a table's eager plan over disjoint sets of customers (the parts of
``partitions=k``, read one after the other from a ``LazyFrame``) and puts the results
together; `halves` splits a large part into two halves computed at once in two threads.
The string-like ids of a part are encoded to integer codes first (`_plumbing.encode_ids`).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from loyaltymetrics import _compat

from ._narwhals import is_foreign_frame, missing_message
from ._plumbing import (
    NAN_CHECKED,
    MissingValuesError,
    encode_ids,
    encodes,
    in_two_threads,
)

_PART_SEED = 0x4C4D  # fixed, so that a plan's parts do not depend on the session


def check_partitions(partitions: object, tx: object) -> int:
    """Validate `partitions` (a positive int; only 1 for engines other than polars)."""
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise TypeError(
            f"partitions must be a positive int; got {type(partitions).__name__} {partitions!r}"
        )
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1; got partitions={partitions}")
    if partitions > 1 and is_foreign_frame(tx):
        raise ValueError(
            f"partitions={partitions} applies to polars input only; "
            f"{type(tx).__module__}.{type(tx).__name__} is run by its own engine, which "
            "manages its memory itself: leave partitions at 1"
        )
    return partitions


def _check_part_nulls(
    rows: pl.DataFrame, raw: pl.LazyFrame, labels: dict[str, str], nullable: list[str]
) -> None:
    """Raise, with the count over the whole input, if one part's rows hold missing values.

    Columns in `nullable` (the `by=` segments, where a null is its own group) are not
    checked.

    A ``LazyFrame`` is checked here, when its parts are collected: the same exception
    and message as the guard of a one-part plan (`lazy_null_guard`).
    """
    names = [c for c in raw.collect_schema().names() if c not in nullable]
    nan_cols = [c for c in names if c in NAN_CHECKED and rows.schema[c].is_float()]
    nans = rows.select(pl.col(nan_cols).is_nan().sum()).row(0) if nan_cols else ()
    if not any(rows.select(names).null_count().row(0)) and not any(nans):
        return
    totals = raw.select(
        pl.col(names).null_count().name.suffix("/n"),
        pl.col(nan_cols).is_nan().sum().name.suffix("/nan"),
    )
    row = totals.collect().row(0, named=True)
    for col in names:
        message = missing_message(labels.get(col, col), row[f"{col}/n"], row.get(f"{col}/nan", 0))
        if message is not None:
            raise MissingValuesError(message)


Prepare = Callable[[list[pl.DataFrame]], pl.DataFrame]


def _run_encoded(
    build: Callable[[object, pl.LazyFrame], pl.LazyFrame],
    held: list[pl.DataFrame],
    cid: str,
    per_customer: bool,
    prepare: Prepare | None = None,
    combine: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
) -> pl.DataFrame:
    """``build(rows, ...)``, collected; on integer codes where `encode_ids` encodes the ids.

    ``held`` is a one-item list holding the rows; they are taken out of it, so that once
    `build` has returned its plan this function holds no reference to them: a plan that
    did its heavy step at build time (`packed_order`) then no longer keeps the
    input columns alive while it aggregates (nor the string ids once they are encoded),
    when the caller holds no other reference (`in_parts` with a LazyFrame).

    `prepare` (see `in_parts`) is handed the rows (or their codes) the same way, and
    `build` runs on what it returns. The codes in the output (a per-customer table) are
    mapped back to the ids.

    With `combine`, a large part runs as two halves of its customers, one in another
    thread (`halves`), and `combine` puts their results together like those of two
    parts (a per-customer result is already in id order: its id column is flagged
    sorted, so a sort by id costs nothing).
    """
    rows = held.pop()
    encoded = encode_ids(rows, cid, ordered=per_customer)
    ids = None
    if encoded is not None:
        rows, ids = encoded
    del encoded
    split = halves(rows, cid) if combine is not None else None
    if split is None or combine is None:
        out = _collect_part(build, [rows], prepare)
    else:
        del rows
        low, high = in_two_threads(lambda part: _collect_part(build, part, prepare), *split)
        together = pl.concat([low, high])
        if per_customer:  # the low half's ids all precede the high half's
            together = together.with_columns(pl.col(cid).set_sorted())
        out = combine(together.lazy()).collect()
    if ids is None:
        return out
    if cid in out.columns:
        out = out.with_columns(ids.gather(out.get_column(cid)).alias(cid))
    return out


def _collect_part(
    build: Callable[[object, pl.LazyFrame], pl.LazyFrame],
    held: list[pl.DataFrame],
    prepare: Prepare | None,
) -> pl.DataFrame:
    """``build`` on the rows held in ``held`` (after `prepare`), collected; keeps no rows."""
    rows = prepare(held) if prepare is not None else held.pop()
    plan = build(rows, rows.lazy())
    del rows
    return plan.collect()


# A part of at least this many rows runs as two halves in two threads (`halves`)
HALVES_MIN_ROWS = 1 << 20


def halves(rows: pl.DataFrame, cid: str) -> tuple[list[pl.DataFrame], list[pl.DataFrame]] | None:
    """``rows`` split into two halves of its customers, low ids first; None: no split.

    The plans of `rfm_summary`, `cohort_retention` and `period_summary` spend much of
    their time in numpy (`sorted_int64`, `packed_order`, `calendar_index_of`),
    which runs on one thread, and in serial polars steps: two halves of the customers
    computed at once, one per thread, keep both cores busy. Their results put together
    like those of two parts (`in_parts`) are the table (the customers are disjoint).
    Measured at 10M orders of 1M customers, ``Int64`` ids, in memory, idle 2-core machine,
    polars 2.1 (best of 5): `cohort_retention` 0.355 s whole against 0.038 s to split and
    0.235 s for the halves at once (0.354 one after the other); `rfm_summary` 0.562
    against 0.054 + 0.397; `period_summary` 0.459 against 0.054 + 0.334.
    `customer_summary` gained nothing (1.361 against 0.058 + 1.306: its plan keeps both
    cores busy), so it does not split.

    The halves are split at a sampled median of the ids (integer ids or their codes;
    other ids do not split), so each half has about half the rows. No split below
    `HALVES_MIN_ROWS` rows, with one polars thread, or when every sampled id is equal.
    Each half is a one-item list (the hand-over of `_run_encoded`). Rejected: the
    rows split column by column, each column dropped once split (one column held twice
    instead of all): the same peak RSS (`rfm_summary` from Parquet at 10M orders,
    723-728 against 679-719 MiB) and a slower split (0.10 against 0.05 s).

    String ids are encoded first (`encode_ids`, itself on both cores) and split by their
    codes. Rejected: splitting the rows by a hash bit of the string ids and encoding
    each half in its own thread (`cohort_retention` and `period_summary`, whose results
    need no id order). From Parquet at 10M orders, idle machine, best of 3 (wall s):
    "C" + number ids 0.87 against 1.03 and 1.02 against 1.11, but UUIDs 1.24 against
    1.21 and 1.42 against 1.39 (filtering 36-byte strings costs more than it saves),
    and the CPU time was the same or higher: the string tables are bound by CPU time,
    not by idle cores.
    """
    n = rows.height
    ids = rows.get_column(cid)
    if n < HALVES_MIN_ROWS or not ids.dtype.is_integer() or pl.thread_pool_size() < 2:
        return None
    sample = ids.gather_every(max(1, n // 65_536)).sort()
    pivot = sample[len(sample) // 2]
    if pivot == sample[0]:  # ids < pivot would be none of the sampled rows
        return None
    low = pl.col(cid) < pivot
    return [rows.filter(low)], [rows.filter(~low)]


def in_parts(
    tx: object,
    lf: pl.LazyFrame,
    cid: str,
    columns: list[str],
    partitions: int,
    build: Callable[[object, pl.LazyFrame], pl.LazyFrame],
    combine: Callable[[pl.LazyFrame], pl.LazyFrame],
    finish: Callable[[pl.LazyFrame], pl.LazyFrame],
    labels: dict[str, str] | None = None,
    nullable: list[str] | None = None,
    prepare: Prepare | None = None,
    in_halves: bool = False,
) -> pl.LazyFrame:
    """``finish(build(tx, lf))``, with `build` computed over disjoint sets of customers.

    One part of a ``DataFrame`` is the plain plan. A ``LazyFrame``, or more parts: the
    customers are split by a hash of the id (one part: no split), and the result is a
    deferred source (``pl.defer``): when it is collected,
    each part's rows of `columns` are read into memory in turn (one pass over the input
    per part), checked for nulls, and given to `build` as a ``DataFrame``, so each part
    runs the eager plan (an Int64 sort key when its ids fit). Only one part's rows are
    held at a time, whatever engine collects the result, and nothing runs before it is
    collected. `combine` puts the stacked part results together (a sort by id, or a sum
    of counts); `finish` runs inside the deferred source too, so that a plan which uses
    the combined table several times does not read the input again for each use.
    `nullable` columns (the ``by`` segments) may hold nulls.

    String, Categorical, Binary and Enum ids are encoded to integer codes for each part
    (`encode_ids`; an eager ``DataFrame`` in one part too, which then runs at call
    time), so `build` runs its integer plan, and the ids come back in its output. The
    codes follow the id order when the output has the id column (one row per
    customer), and the hash order otherwise (no sort of the distinct ids). `build` must
    read the id dtype from the frame it is given, not from the input.

    `prepare`, if given, runs on each eager part (an eager ``DataFrame`` in one part too)
    before `build`, which then gets what it returns: a step that runs at once on the
    part's columns. It is handed a one-item list holding the part, with no other
    reference kept for a ``LazyFrame``'s parts, so that it can free the input columns it
    no longer needs (`rfm_summary`: the ids and timestamps once the sort key is packed).
    `build` must accept both a prepared part and an unprepared one (the empty frame of
    the schema, or a part `prepare` gives back as it was).

    A per-customer result of several parts is put together by `_concat_sorted` (the sort
    by id that `combine` is for those tables, column by column) instead of `combine`.

    With `in_halves`, a part read from a ``LazyFrame`` (or a part of several) of
    `HALVES_MIN_ROWS` rows or more runs as two halves of its customers at once, one per
    thread (`halves`), put together by `combine`. An eager ``DataFrame`` in one part
    runs whole: the caller holds its rows, so the halves would be a second copy of them
    (peak RSS at 10M orders, `Int64` ids: `rfm_summary` 838-867 MiB against 549-580,
    `cohort_retention` 619-624 against 472-474).
    """
    if partitions == 1 and not isinstance(tx, pl.LazyFrame):
        if isinstance(tx, pl.DataFrame) and encodes(tx.schema[cid]):
            per_customer = cid in build(tx.clear(), tx.clear().lazy()).collect_schema()
            return finish(_run_encoded(build, [tx], cid, per_customer, prepare).lazy())
        if isinstance(tx, pl.DataFrame) and prepare is not None:
            part = prepare([tx])
            return finish(build(part, part.lazy()))
        return finish(build(tx, lf))
    # A LazyFrame with one part runs the same way (one pass, no filter): its needed
    # columns are read into memory and the eager plan runs on them. Every plan sorts the
    # whole log anyway, so this holds no more than the lazy plan did, and the eager plan
    # knows the ranges (an Int64 packed value sort where the lazy plan had to sort an
    # Int128 key: 10M orders, measured in one process, see docs/benchmarks.md). Rejected:
    # keeping the lazy plan and reading the id range in a first pass at call time
    # (a query before collect, and still the slower key sort for the other plans).
    raw = lf.select(columns)
    bucket = pl.col(cid).hash(_PART_SEED) % partitions
    halved = combine if in_halves else None
    empty = pl.DataFrame(schema=raw.collect_schema())
    built = build(empty, empty.lazy())
    per_customer = cid in built.collect_schema()  # output rows per customer: codes in id order
    schema = finish(built).collect_schema()

    def run() -> pl.DataFrame:
        results = []
        for k in range(partitions):
            rows = (raw if partitions == 1 else raw.filter(bucket == k)).collect()
            _check_part_nulls(rows, raw, labels or {}, nullable or [])
            # handed over, not kept: `_run_encoded` drops the last reference to this
            # part's orders as soon as the plan no longer needs them (see there)
            held = [rows]
            del rows
            results.append(_run_encoded(build, held, cid, per_customer, prepare, halved))
        if partitions == 1:  # one part is the eager plan's own result: nothing to combine
            # (combine would re-sort customer_summary's 1M rows: lazy 1.70x eager at 10M)
            return finish(results[0].lazy()).collect()
        if per_customer:  # `combine` is the sort by id: done column by column
            return finish(_concat_sorted(results, cid).lazy()).collect()
        return finish(combine(pl.concat(results).lazy())).collect()

    return _compat.defer(run, schema=schema)


def _concat_sorted(results: list[pl.DataFrame], cid: str) -> pl.DataFrame:
    """``pl.concat(results).sort(cid)`` for parts of disjoint ids, one column at a time.

    Each part's column is dropped from the part once the sorted column is built, so the
    parts' results are held about once, not twice (the concatenation and its sorted
    copy). At 500M orders (50M customers, `partitions=8`) `customer_summary`'s parts
    hold about 3.6 GB of results, and the plain sort peaked at 8.35 GiB. The ids are
    distinct (one row per customer), so the order is that of the plain sort.
    """
    order = pl.concat([r.get_column(cid) for r in results]).arg_sort()
    columns = []
    for name in results[0].columns:
        column = pl.concat([r.drop_in_place(name) for r in results])
        columns.append(column.gather(order))
        del column
    out = pl.DataFrame(columns)
    return out.with_columns(pl.col(cid).set_sorted())
