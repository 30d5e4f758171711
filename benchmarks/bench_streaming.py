"""Benchmark: rfm_summary on a large Parquet dataset, polars streaming vs DuckDB.

Usage::

    .venv/bin/python benchmarks/bench_streaming.py generate --rows 100000000 --dir /tmp/lm-big
    .venv/bin/python benchmarks/bench_streaming.py run --dir /tmp/lm-big

``generate`` writes the log in chunks of simulated customers (``datasets.simulate_transactions``,
each chunk with its own seed and id range) to ``DIR/part-*.parquet``. ``run`` times, each in
its own process (so peak RSS is that engine's alone, read from ``ru_maxrss``):

* loyaltymetrics: ``tables.rfm_summary(pl.scan_parquet(DIR/*.parquet), amount=...)``
  collected with ``engine="streaming"`` and written to Parquet;
* DuckDB SQL computing the same table from the same files, written to Parquet.

Both outputs are then compared row by row (sorted by customer id).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DUCKDB_SQL = """
copy (
  with days as (
    select customer_id, datediff('day', date '1970-01-01', cast("timestamp" as date)) as d,
           sum(amount) as amt
    from read_parquet('{glob}') group by 1, 2
  ), firsts as (
    select customer_id, min(d) as first_d, max(d) as last_d, count(*) as n from days group by 1
  ), repeats as (
    select days.customer_id, sum(amt) as repeat_total from days
    join firsts using (customer_id) where d <> first_d group by 1
  )
  select f.customer_id, (f.n - 1)::bigint as frequency,
         (f.last_d - f.first_d)::double as recency,
         ((select max(last_d) from firsts) - f.first_d)::double as "T",
         case when f.n > 1 then r.repeat_total / (f.n - 1) else 0.0 end as monetary_value
  from firsts f left join repeats r using (customer_id)
) to '{out}' (format parquet)
"""


def generate(
    orders: int, directory: Path, orders_per_customer: float, chunk_events: int, workers: int
) -> None:
    """Write about `orders` orders as Parquet parts, each part sorted by timestamp.

    The customers are simulated in chunks (``_logs``: ``simulate_transactions`` with the
    purchase rate solved for `orders_per_customer`, one seed per chunk) in `workers`
    processes. Their ids are then scrambled by a bijection of ``0 .. n-1``, so that every
    part holds customers from the whole id range, as a log exported by date would, rather
    than one contiguous block of customers (which would make partitioning by id trivial).
    """
    import math
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from _logs import _part, alpha_for, chunk_customers, describe, expected_orders

    start_day, end_day = dt.date(2022, 1, 1), dt.date(2025, 1, 1)
    alpha = alpha_for(orders_per_customer, start_day, end_day)
    customers = round(orders / expected_orders(alpha, start_day, end_day))
    multiplier = 2_654_435_761 % customers
    while math.gcd(multiplier, customers) != 1:
        multiplier += 1
    per_chunk = chunk_customers(alpha, start_day, end_day, chunk_events)
    directory.mkdir(parents=True, exist_ok=True)
    print(f"# {describe(alpha, start_day, end_day)}; {customers:,} customers", flush=True)
    specs = [
        {
            "customers": min(per_chunk, customers - lo),
            "offset": lo,
            "seed": i,
            "alpha": alpha,
            "start": start_day.isoformat(),
            "end": end_day.isoformat(),
            "path": str(directory / f"part-{i:05d}.parquet"),
            "scramble": (multiplier, customers),
        }
        for i, lo in enumerate(range(0, customers, per_chunk))
    ]
    t0, written = time.perf_counter(), 0
    context = multiprocessing.get_context("spawn")  # polars' thread pool does not survive fork
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for i, (_, rows) in enumerate(pool.map(_part, specs)):
            written += rows
            print(
                f"part {i + 1}/{len(specs)}: {written:,} rows, {time.perf_counter() - t0:.0f} s",
                flush=True,
            )


def worker(engine: str, directory: Path, out: Path) -> None:
    """Run one engine and print its wall time and peak RSS as JSON."""
    if engine == "polars-streaming":
        import polars as pl

        from loyaltymetrics import tables

        start = time.perf_counter()  # after the imports
        lf = tables.rfm_summary(pl.scan_parquet(directory / "*.parquet"), amount="amount")
        lf.sink_parquet(out, engine="streaming")
    else:
        import duckdb

        start = time.perf_counter()
        con = duckdb.connect()
        con.sql(DUCKDB_SQL.format(glob=directory / "*.parquet", out=out))
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_rss_gib": peak_kib / 2**20}))


def run(directory: Path) -> None:
    """Time both engines in subprocesses and check that their tables agree."""
    import polars as pl

    rows = pl.scan_parquet(directory / "*.parquet").select(pl.len()).collect().item()
    print(f"# {rows:,} rows in {directory}; load {os.getloadavg()[0]:.2f}")
    outputs = {}
    for engine in ("polars-streaming", "duckdb"):
        out = directory.parent / f"{directory.name}-rfm-{engine}.parquet"
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "worker",
                engine,
                "--dir",
                str(directory),
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        print(proc.stdout.strip().splitlines()[-1], flush=True)
        outputs[engine] = out
    a = pl.read_parquet(outputs["polars-streaming"]).sort("customer_id")
    b = pl.read_parquet(outputs["duckdb"]).sort("customer_id").cast(a.schema)  # type: ignore[arg-type]
    same = a.select("customer_id", "frequency").equals(b.select("customer_id", "frequency"))
    close = all(
        ((a[c] - b[c]).abs().max() or 0.0) <= 1e-6 * max(1.0, float(a[c].abs().max() or 0.0))  # type: ignore[operator]
        for c in ("recency", "T", "monetary_value")
    )
    print(f"# tables agree: {same and close}; load {os.getloadavg()[0]:.2f}")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--orders", type=int, required=True)
    g.add_argument("--dir", type=Path, required=True)
    g.add_argument("--orders-per-customer", type=float, default=10.0)
    g.add_argument("--chunk-events", type=int, default=40_000_000)
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    r = sub.add_parser("run")
    r.add_argument("--dir", type=Path, required=True)
    w = sub.add_parser("worker")
    w.add_argument("engine", choices=["polars-streaming", "duckdb"])
    w.add_argument("--dir", type=Path, required=True)
    w.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "generate":
        generate(
            args.orders, args.dir, args.orders_per_customer, args.chunk_events, args.workers
        )
    elif args.command == "run":
        run(args.dir)
    else:
        worker(args.engine, args.dir, args.out)


if __name__ == "__main__":
    main()
