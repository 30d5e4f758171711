"""Benchmark: rfm_segments + classify_customers on millions of customers.

Usage::

    .venv/bin/python benchmarks/bench_segments.py --customers 5000000 --repeats 3

The per-customer table is drawn directly (no transaction log): frequency from a
geometric-ish distribution with many one-time buyers (so scores have large tie blocks),
recency <= T, lognormal monetary values, plus two behaviour columns for the rules. The
script also times the same scoring written by hand in pandas (``qcut`` on ranks) and in
DuckDB SQL (``ntile`` cannot give tie-sharing scores, so the SQL uses ``rank()``), after
checking that both give the same scores as loyaltymetrics.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from loyaltymetrics import tables


def make_rfm(n: int, seed: int) -> pl.DataFrame:
    """A synthetic RFM table of `n` customers with realistic tie structure."""
    rng = np.random.default_rng(seed)
    big_t = rng.uniform(1.0, 104.0, n).round(2)
    freq = np.where(rng.random(n) < 0.55, 0, rng.geometric(0.25, n))
    recency = np.where(freq > 0, (rng.random(n) * big_t).round(2), 0.0)
    monetary = np.where(freq > 0, rng.lognormal(3.3, 0.6, n).round(2), 0.0)
    return pl.DataFrame(
        {
            "customer_id": np.arange(n, dtype=np.int64),
            "frequency": freq.astype(np.int64),
            "recency": recency,
            "T": big_t,
            "monetary_value": monetary,
            "discount_share": rng.beta(1.0, 3.0, n).round(3),
            "referrals": rng.poisson(0.2, n).astype(np.int64),
        }
    )


RULES: dict[str, Any] = {
    "truly loyal": {"frequency": ">= 4", "discount_share": "<= 0.3", "referrals": ">= 1"},
    "price-driven": {"frequency": ">= 2", "discount_share": "> 0.5"},
    "repeat": {"frequency": ">= 1"},
}


def lm_segments(rfm: pl.DataFrame) -> pl.DataFrame:
    """Scores, segments and rule labels with loyaltymetrics."""
    scored = tables.rfm_segments(rfm)
    return tables.classify_customers(scored, RULES, default="one-off")


def pandas_scores(rfm: pl.DataFrame) -> Any:
    """Hand-written pandas: the same 'min' rank rule."""
    pdf = rfm.to_pandas()
    n = len(pdf)

    def score(s: Any) -> Any:
        rank = s.rank(method="min")
        return (((rank - 1) * 5) // n + 1).clip(upper=5).astype("int8")

    pdf["r_score"] = score(-(pdf["T"] - pdf["recency"]))
    pdf["f_score"] = score(pdf["frequency"])
    pdf["m_score"] = score(pdf["monetary_value"])
    return pdf


def duckdb_scores(rfm: pl.DataFrame) -> Any:
    """The same scores in DuckDB SQL with rank() windows."""
    import duckdb

    con = duckdb.connect()
    con.register("rfm", rfm.to_arrow())
    sql = """
        select customer_id,
          least(5, (rank() over (order by recency - "T") - 1) * 5 // count(*) over () + 1)
            as r_score,
          least(5, (rank() over (order by frequency) - 1) * 5 // count(*) over () + 1)
            as f_score,
          least(5, (rank() over (order by monetary_value) - 1) * 5 // count(*) over () + 1)
            as m_score
        from rfm order by customer_id
    """
    return con.sql(sql).to_arrow_table()


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of `repeats` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"polars {pl.__version__}, load {os.getloadavg()[0]:.2f}"
    )
    rfm = make_rfm(args.customers, args.seed)
    t_lm, out = timed(lambda: lm_segments(rfm), args.repeats)
    t_scores, _ = timed(lambda: tables.rfm_segments(rfm), args.repeats)
    scores = out.select("r_score", "f_score", "m_score").cast(pl.Int64)
    print(f"customers: {rfm.height:,}")
    print(f"loyaltymetrics rfm_segments: {t_scores:.2f} s")
    print(f"loyaltymetrics rfm_segments + classify_customers: {t_lm:.2f} s")
    print(out.group_by("label").len().sort("label"))
    try:
        t_pd, pdf = timed(lambda: pandas_scores(rfm), args.repeats)
        same = pl.from_pandas(pdf[["r_score", "f_score", "m_score"]]).cast(pl.Int64)
        assert same.equals(scores), "pandas scores differ"
        print(f"pandas scores (rank + arithmetic): {t_pd:.2f} s")
    except ImportError:
        print("pandas not installed: skipped")
    try:
        t_db, tbl = timed(lambda: duckdb_scores(rfm), args.repeats)
        same = pl.from_arrow(tbl).select("r_score", "f_score", "m_score").cast(pl.Int64)
        assert isinstance(same, pl.DataFrame)
        assert same.equals(scores), "duckdb scores differ"
        print(f"duckdb scores (rank() windows): {t_db:.2f} s")
    except ImportError:
        print("duckdb not installed: skipped")
    print(f"# load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
