"""Benchmark: ``tables.rfm_summary`` on a PySpark DataFrame in local mode, against polars.

Usage::

    .venv/bin/python benchmarks/bench_spark.py --parquet LOG.parquet

with ``LOG.parquet`` a log written by ``bench_tables.py --data-dir`` (10M orders here).

Reads one Parquet log with Spark (``local[N]``, N = the number of CPUs), runs the
portable plan of ``tables.rfm_summary`` inside Spark and writes the result to Parquet,
``--repeats`` times after one warm-up run; then runs the polars plan on the same file and
checks that both tables agree. Spark's start-up (about 7 s) is reported separately.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parquet", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import polars as pl
    from _check import compare
    from pyspark.sql import SparkSession

    from loyaltymetrics import tables

    cpus = os.cpu_count() or 1
    t0 = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{cpus}]")
        .config("spark.sql.shuffle.partitions", str(2 * cpus))
        .config("spark.driver.memory", "8g")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
        .getOrCreate()
    )
    start_s = time.perf_counter() - t0
    rows = pl.scan_parquet(args.parquet).select(pl.len()).collect().item()
    print(
        f"# {rows:,} orders in {args.parquet.name}; Spark local[{cpus}] started in {start_s:.1f} s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rfm-spark.parquet"
        times = []
        for i in range(args.repeats + 1):
            t = time.perf_counter()
            frame = spark.read.parquet(str(args.parquet))
            result = tables.rfm_summary(frame, amount="amount")
            result.write.mode("overwrite").parquet(str(out))
            if i:  # the first run warms up the JVM
                times.append(time.perf_counter() - t)
        spark_s = statistics.median(times)

        t = time.perf_counter()
        reference = tables.rfm_summary(pl.read_parquet(args.parquet), amount="amount")
        polars_s = time.perf_counter() - t
        problem = compare(pl.read_parquet(out / "*.parquet"), reference, ["customer_id"])
    spark.stop()
    print("| engine | median s | agrees with polars |")
    print("|---|---:|---|")
    print(f"| Spark local[{cpus}], portable plan | {spark_s:.2f} | {problem or 'yes'} |")
    print(f"| polars (one run, with the read) | {polars_s:.2f} | |")


if __name__ == "__main__":
    main()
