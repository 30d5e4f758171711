"""Where the time of ``partitions=k`` goes: reading each part, its eager plan, the combine.

Usage::

    .venv/bin/python benchmarks/profile_parts.py --dir /tmp/lm-500m --table rfm_summary

Runs ``tables.<table>(pl.scan_parquet(DIR/*.parquet), partitions=k).collect()`` once,
with `_parts.in_parts` wrapped (in the table modules that import it) so that each
stage is collected and timed on its own:

* ``build``: the eager plan of one part, on the part's rows already in memory;
* ``combine``: putting the stacked part results together;
* ``finish``: the rest of the deferred source after the combine (``finish`` and the
  final collect);
* ``read``: the remainder of the total, which is reading the k parts (each a pass over
  the whole input, with the hash filter) and checking them for nulls.

The wrapping only moves each stage's ``collect`` earlier; the work is the same, so the
sum of the stages is the plain call's time, give or take the noise of the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from loyaltymetrics import tables
from loyaltymetrics.tables import (
    _cohorts,
    _customer_summary,
    _parts,
    _period_summary,
    _rfm,
)

MODULES = (_cohorts, _customer_summary, _period_summary, _rfm)


def _timed(
    stage: str, times: dict[str, list[float]], f: Callable[..., pl.LazyFrame]
) -> Callable[..., pl.LazyFrame]:
    def run(*args: Any) -> pl.LazyFrame:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        out = f(*args).collect()
        times[stage].append(time.perf_counter() - wall0)
        times[stage + "_cpu"].append(time.process_time() - cpu0)
        return out.lazy()

    return run


def profile(directory: Path, table: str, partitions: int) -> dict[str, Any]:
    """Run `table` once with its stages timed; the seconds of each stage."""
    times: dict[str, list[float]] = {
        k: [] for k in ("build", "build_cpu", "combine", "combine_cpu", "finish", "finish_cpu")
    }
    original = _parts.in_parts

    def in_parts(
        tx: object,
        lf: pl.LazyFrame,
        cid: str,
        columns: list[str],
        partitions: int,
        build: Callable[[object, pl.LazyFrame], pl.LazyFrame],
        combine: Callable[[pl.LazyFrame], pl.LazyFrame],
        finish: Callable[[pl.LazyFrame], pl.LazyFrame],
        *rest: Any,
        **kw: Any,
    ) -> pl.LazyFrame:
        def timed_build(rows: object, lazy: pl.LazyFrame) -> pl.LazyFrame:
            if isinstance(rows, pl.DataFrame) and rows.height == 0:
                return build(rows, lazy)  # the schema probe at plan time
            return _timed("build", times, build)(rows, lazy)

        def timed_finish(combined: pl.LazyFrame) -> pl.LazyFrame:
            return _timed("finish", times, finish)(combined)

        return original(
            tx,
            lf,
            cid,
            columns,
            partitions,
            timed_build,
            _timed("combine", times, combine),
            timed_finish,
            *rest,
            **kw,
        )

    for module in MODULES:
        module.in_parts = in_parts  # type: ignore[attr-defined]
    try:
        options = {"amount": "amount"} if table == "rfm_summary" else {}
        function = getattr(tables, table)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        plan = function(pl.scan_parquet(directory / "*.parquet"), partitions=partitions, **options)
        for k in times:  # drop the empty-frame schema probes made while planning
            times[k].clear()
        rows = plan.collect().height
        total, total_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        for module in MODULES:
            module.in_parts = original  # type: ignore[attr-defined]
    staged = sum(sum(times[k]) for k in ("build", "combine", "finish"))
    staged_cpu = sum(sum(times[k + "_cpu"]) for k in ("build", "combine", "finish"))
    return {
        "table": table,
        "partitions": partitions,
        "rows": rows,
        "total_s": total,
        "total_cpu_s": total_cpu,
        "read_s": total - staged,
        "read_cpu_s": total_cpu - staged_cpu,
        **{k: sum(v) for k, v in times.items()},
        "build_per_part_s": times["build"],
    }


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument(
        "--table",
        choices=("rfm_summary", "customer_summary", "cohort_retention", "period_summary"),
        required=True,
    )
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(profile(args.dir, args.table, args.partitions)))


if __name__ == "__main__":
    main()
