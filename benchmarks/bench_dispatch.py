"""Benchmark: what the engine dispatch costs a polars call.

The table functions send polars frames straight to their native plans; only other
frames (DuckDB, Spark, Dask, pyarrow) go through narwhals. The one cost on the polars
path is the check ``tables._narwhals.is_foreign_frame``, measured here against a whole
``rfm_summary`` call on a two-row frame (the smallest call there is)::

    .venv/bin/python benchmarks/bench_dispatch.py
"""

from __future__ import annotations

import datetime as dt
import timeit

import polars as pl

from loyaltymetrics import tables
from loyaltymetrics.tables import _narwhals


def main() -> None:
    """Print the best of 5 repeats, per call."""
    df = pl.DataFrame(
        {"customer_id": [1, 2], "timestamp": [dt.date(2024, 1, 1)] * 2, "amount": [1.0, 2.0]}
    )
    lf = df.lazy()
    n, m = 200_000, 500
    eager = min(timeit.repeat(lambda: _narwhals.is_foreign_frame(df), number=n, repeat=5)) / n
    lazy = min(timeit.repeat(lambda: _narwhals.is_foreign_frame(lf), number=n, repeat=5)) / n
    call = min(timeit.repeat(lambda: tables.rfm_summary(df, amount="amount"), number=m, repeat=5))
    call /= m
    print(f"dispatch check, DataFrame: {eager * 1e6:.2f} µs")
    print(f"dispatch check, LazyFrame: {lazy * 1e6:.2f} µs")
    print(f"rfm_summary on 2 rows:     {call * 1e3:.2f} ms  (check = {eager / call:.1e} of it)")


if __name__ == "__main__":
    main()
