"""CPU and wall seconds of `rfm_summary`: the previous ``_rfm.py`` against the current one.

One process, interleaved (round i runs both before round i + 1), the tables checked equal
first. ``PYTHONPATH=src python benchmarks/mem_cpu_packed.py FILE BASE_RFM_PY [ROUNDS]``,
where ``BASE_RFM_PY`` is the previous ``_rfm.py`` (e.g. from ``git show f12a7bc:...``),
loaded as a module of this package (it uses the current `_parts`, whose `in_parts`
without ``prepare`` runs as before).
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time

import polars as pl
from polars.testing import assert_frame_equal

from loyaltymetrics.tables import _rfm

path, base_file = sys.argv[1:3]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
spec = importlib.util.spec_from_file_location("loyaltymetrics.tables._rfm_base", base_file)
assert spec is not None
assert spec.loader is not None
base = importlib.util.module_from_spec(spec)
spec.loader.exec_module(base)
versions = {"before": base.rfm_summary, "after": _rfm.rfm_summary}
frame = pl.read_parquet(path)
calls = {
    "eager": lambda fn: fn(frame, amount="amount"),
    "scan": lambda fn: fn(pl.scan_parquet(path), amount="amount").collect(),
}
for run in calls.values():
    assert_frame_equal(run(versions["before"]), run(versions["after"]))
cpu: dict[tuple[str, str], list[float]] = {}
wall: dict[tuple[str, str], list[float]] = {}
for _ in range(rounds):
    for call, run in calls.items():
        for version, fn in versions.items():
            c, w = time.process_time(), time.perf_counter()
            run(fn)
            cpu.setdefault((call, version), []).append(time.process_time() - c)
            wall.setdefault((call, version), []).append(time.perf_counter() - w)
for key in cpu:
    print(
        *key,
        "median CPU s",
        round(statistics.median(cpu[key]), 3),
        "wall s",
        round(statistics.median(wall[key]), 3),
    )
