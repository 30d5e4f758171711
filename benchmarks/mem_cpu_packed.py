"""CPU and wall seconds of `rfm_summary` with the previous and the current `_packed_order`.

One process, interleaved (round i runs both before round i + 1), the tables checked equal
first. ``PYTHONPATH=src python benchmarks/mem_cpu_packed.py FILE BASE_RFM_PY [ROUNDS]``,
where ``BASE_RFM_PY`` is the previous ``_rfm.py`` (e.g. from ``git show f12a7bc:...``).
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time

import polars as pl
from polars.testing import assert_frame_equal

from loyaltymetrics import tables
from loyaltymetrics.tables import _rfm

path, base_file = sys.argv[1:3]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
spec = importlib.util.spec_from_file_location("loyaltymetrics.tables._rfm_base", base_file)
assert spec is not None
assert spec.loader is not None
base = importlib.util.module_from_spec(spec)
spec.loader.exec_module(base)
versions = {"before": base._packed_order, "after": _rfm._packed_order}
frame = pl.read_parquet(path)
calls = {
    "eager": lambda: tables.rfm_summary(frame, amount="amount"),
    "scan": lambda: tables.rfm_summary(pl.scan_parquet(path), amount="amount").collect(),
}
results = {}
for version, fn in versions.items():
    _rfm._packed_order = fn
    results[version] = calls["eager"]()
assert_frame_equal(results["before"], results["after"])
cpu: dict[tuple[str, str], list[float]] = {}
wall: dict[tuple[str, str], list[float]] = {}
for _ in range(rounds):
    for call, run in calls.items():
        for version, fn in versions.items():
            _rfm._packed_order = fn
            c, w = time.process_time(), time.perf_counter()
            run()
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
