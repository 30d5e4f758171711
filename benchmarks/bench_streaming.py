"""Benchmark: the table functions on a Parquet dataset larger than memory, against DuckDB.

Usage::

    .venv/bin/python benchmarks/bench_streaming.py generate --orders 500000000 --dir /tmp/lm-500m
    .venv/bin/python benchmarks/bench_streaming.py run --dir /tmp/lm-500m --partitions 16

``generate`` writes the log in chunks of simulated customers (``datasets.simulate_transactions``
with ten orders per customer, each chunk with its own seed), one Parquet part per chunk,
with the customer ids scrambled across parts (see `generate`; ``--fast`` draws them with
`_logs.fast_log`). ``run`` times, for each of ``rfm_summary``, ``customer_summary``,
``cohort_retention`` and ``period_summary``, each engine in its own process (so peak RSS
is that engine's alone, read from ``VmHWM``; CPU seconds are the process's own):

* ``loyaltymetrics``: ``tables.<function>(pl.scan_parquet(DIR/*.parquet), partitions=K)``
  collected (polars' default engine; the K customer parts are read and computed one
  after the other at collect time) and written to Parquet;
* ``loyaltymetrics-streaming``: the same call with ``partitions=1``, written with
  ``sink_parquet(engine="streaming")``: the plain lazy plan on polars' streaming engine;
* ``duckdb``: the SQL of ``bench_tables.py`` over ``read_parquet(DIR/*.parquet)``, written
  with ``COPY ... TO`` Parquet, with DuckDB's default memory limit (80% of RAM) or
  ``--duckdb-memory-limit`` (spilling to disk beyond it);
* ``duckdb-8gib``: the same with ``memory_limit = '7GiB'`` (DuckDB's own buffers; the
  process needs a little more), so that it keeps to the 8 GiB budget by spilling to disk.

The outputs are then compared with ``_check.compare`` (rows matched on their keys, numbers
within 1e-9 relative).
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


def generate(
    orders: int,
    directory: Path,
    orders_per_customer: float,
    chunk_events: int,
    workers: int,
    fast: bool = False,
) -> None:
    """Write about `orders` orders as Parquet parts, each part sorted by timestamp.

    The customers are simulated in chunks (``_logs``: ``simulate_transactions`` with the
    purchase rate solved for `orders_per_customer`, one seed per chunk) in `workers`
    processes. Their ids are then scrambled by a bijection of ``0 .. n-1``, so that every
    part holds customers from the whole id range, as a log exported by date would, rather
    than one contiguous block of customers (which would make partitioning by id trivial).

    With `fast`, each chunk is drawn by `_logs.fast_log` (the same distribution, only the
    kept orders drawn: 23x less CPU than `simulate_transactions` at 10 orders per
    customer, 100,000 customers, measured in one process) and `chunk_events` counts
    orders rather than drawn events.
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
    per_chunk = (
        max(1_000, round(chunk_events / orders_per_customer))
        if fast
        else chunk_customers(alpha, start_day, end_day, chunk_events)
    )
    directory.mkdir(parents=True, exist_ok=True)
    print(
        f"# {describe(alpha, start_day, end_day)}; {customers:,} customers"
        + ("; fast_log" if fast else ""),
        flush=True,
    )
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
            "fast": fast,
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
    print(f"# {written:,} orders in {time.perf_counter() - t0:.0f} s", flush=True)


KEYS = {
    "rfm_summary": ["customer_id"],
    "customer_summary": ["customer_id"],
    "cohort_retention": ["cohort", "period_index"],
    "period_summary": ["period"],
}
ENGINES = ("loyaltymetrics", "loyaltymetrics-streaming", "duckdb", "duckdb-8gib")


def worker(
    engine: str,
    table: str,
    directory: Path,
    out: Path,
    partitions: int,
    duckdb_memory_limit: str | None = None,
) -> None:
    """Run one engine on one table and print its wall and CPU time and peak RSS as JSON."""
    glob = str(directory / "*.parquet")
    if engine.startswith("loyaltymetrics"):
        import polars as pl

        from loyaltymetrics import tables

        start, cpu = time.perf_counter(), time.process_time()  # after the imports
        function = getattr(tables, table)
        options = {"amount": "amount"} if table == "rfm_summary" else {}
        if engine == "loyaltymetrics":
            plan = function(pl.scan_parquet(glob), partitions=partitions, **options)
            plan.collect().write_parquet(out)
        else:
            plan = function(pl.scan_parquet(glob), **options)
            plan.sink_parquet(out, engine="streaming")
    else:
        import duckdb
        from bench_tables import SQL

        start, cpu = time.perf_counter(), time.process_time()
        con = duckdb.connect()
        limit = "7GiB" if engine == "duckdb-8gib" else duckdb_memory_limit
        if limit:  # the 8 GiB budget of the target, or a share of a machine used by others
            con.sql(f"SET memory_limit = '{limit}'")
            con.sql(f"SET temp_directory = '{directory.parent / 'duckdb-spill'}'")
        con.sql(f"CREATE VIEW tx AS SELECT * FROM read_parquet('{glob}')")
        con.sql(f"COPY ({SQL[table]}) TO '{out}' (FORMAT parquet)")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_rss_gib": _peak_rss_kib() / 2**20}))


def _peak_rss_kib() -> int:
    """Peak RSS of the current process: ``VmHWM`` of its own address space.

    Not ``ru_maxrss``: on Linux a child started by fork and exec starts from the RSS of
    its parent at the fork, so a worker started by a parent that held large tables
    reports at least the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(
    directory: Path,
    tables: list[str],
    engines: list[str],
    partitions: int,
    duckdb_memory_limit: str | None = None,
) -> None:
    """Time the engines in subprocesses, check that their tables agree, print a table."""
    import platform

    import polars as pl
    from _check import compare

    scan = pl.scan_parquet(directory / "*.parquet")
    rows = scan.select(pl.len()).collect().item()
    files = len(list(directory.glob("*.parquet")))
    disk = sum(f.stat().st_size for f in directory.glob("*.parquet")) / 2**30
    print(
        f"# {rows:,} orders in {files} Parquet files ({disk:.1f} GiB) in {directory}; "
        f"partitions={partitions}; {os.cpu_count()} CPUs; {platform.python_version()}",
        flush=True,
    )
    print(f"# DuckDB memory_limit: {duckdb_memory_limit or 'its default (80% of RAM)'}")
    print(
        "| table | engine | seconds | CPU s | peak RSS GiB | load avg at start, end "
        "| agrees with DuckDB |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    limit_args = ["--duckdb-memory-limit", duckdb_memory_limit] if duckdb_memory_limit else []
    for table in tables:
        outputs: dict[str, Path] = {}
        results: dict[str, dict[str, float]] = {}
        loads: dict[str, float] = {}
        for engine in engines:
            out = directory.parent / f"{directory.name}-{table}-{engine}.parquet"
            loads[engine] = os.getloadavg()[0]
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "worker",
                    engine,
                    table,
                    "--dir",
                    str(directory),
                    "--out",
                    str(out),
                    "--partitions",
                    str(partitions),
                    *limit_args,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode:
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                print(f"| {table} | {engine} | failed ({proc.returncode}): {tail} | | | |")
                continue
            results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[engine]["load_end"] = os.getloadavg()[0]
            outputs[engine] = out
        duck = next((e for e in ("duckdb", "duckdb-8gib") if e in outputs), None)
        reference = pl.read_parquet(outputs[duck]) if duck else None
        for engine, result in results.items():
            verdict = ""
            if reference is not None and engine != duck:
                problem = compare(pl.read_parquet(outputs[engine]), reference, KEYS[table])
                verdict = "yes" if problem is None else f"NO: {problem}"
            print(
                f"| {table} | {engine} | {result['seconds']:.1f} | {result['cpu_s']:.1f} | "
                f"{result['peak_rss_gib']:.2f} | {loads[engine]:.2f}, "
                f"{result['load_end']:.2f} | {verdict} |",
                flush=True,
            )


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
    g.add_argument(
        "--fast", action="store_true", help="draw with _logs.fast_log (only the kept orders)"
    )
    r = sub.add_parser("run")
    r.add_argument("--dir", type=Path, required=True)
    r.add_argument("--tables", nargs="+", choices=sorted(KEYS), default=sorted(KEYS))
    r.add_argument("--engines", nargs="+", choices=ENGINES, default=["loyaltymetrics", "duckdb"])
    r.add_argument("--partitions", type=int, default=16)
    r.add_argument(
        "--duckdb-memory-limit", help="DuckDB's memory_limit for the duckdb engine, e.g. 12GB"
    )
    w = sub.add_parser("worker")
    w.add_argument("engine", choices=ENGINES)
    w.add_argument("table", choices=sorted(KEYS))
    w.add_argument("--dir", type=Path, required=True)
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--partitions", type=int, default=16)
    w.add_argument("--duckdb-memory-limit")
    args = parser.parse_args()
    if args.command == "generate":
        generate(
            args.orders,
            args.dir,
            args.orders_per_customer,
            args.chunk_events,
            args.workers,
            args.fast,
        )
    elif args.command == "run":
        run(args.dir, args.tables, args.engines, args.partitions, args.duckdb_memory_limit)
    else:
        worker(
            args.engine, args.table, args.dir, args.out, args.partitions, args.duckdb_memory_limit
        )


if __name__ == "__main__":
    main()
