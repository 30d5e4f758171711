"""Peak RSS of one table call on one path, in this fresh process (the `mem` helper's probe).

``python benchmarks/mem_probe.py TABLE PATH FILE`` prints one JSON line. The definition is
that of ``bench_parquet.py --memory`` (the `scale` branch): imports first, then (``eager``,
``lazy``) the log read into memory, the peak RSS reset (``/proc/self/clear_refs``), the
call; the figure is the peak RSS during the call (``VmHWM``) minus the RSS after the
imports (so the input frame of ``eager`` and ``lazy`` counts), divided by the in-memory
size of the needed columns. Also printed: ``call_mib``, the peak minus the RSS just before
the call (what the call itself adds), and the CPU seconds of the call.

Run it with ``PYTHONPATH`` set to the source tree to measure (two trees, alternated by the
caller, compare two versions of the code under the same load).
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time

import polars as pl
from bench_tables import _lm_call

NEEDS = {
    "rfm_summary": ("customer_id", "timestamp", "amount"),
    "customer_summary": ("customer_id", "timestamp", "amount"),
    "cohort_retention": ("customer_id", "timestamp"),
    "period_summary": ("customer_id", "timestamp", "amount"),
}


def rss(key: str) -> float:
    """A figure of /proc/self/status in MiB (VmRSS now, VmHWM the peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(key)


def main() -> None:
    """Measure one (table, path, file) given on the command line."""
    table, path, data = sys.argv[1:4]
    gc.collect()
    base = rss("VmRSS")
    frame = pl.read_parquet(data) if path in ("eager", "lazy") else None
    run = {
        "scan": lambda: _lm_call(table, pl.scan_parquet(data)).collect(),
        "read": lambda: _lm_call(table, pl.read_parquet(data)),
        "eager": lambda: _lm_call(table, frame),
        "lazy": lambda: _lm_call(table, frame.lazy()).collect(),
    }[path]
    gc.collect()
    before = rss("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    cpu = time.process_time()
    out = run()
    cpu = time.process_time() - cpu
    peak = rss("VmHWM")
    del out
    frame = None
    gc.collect()
    needed = pl.read_parquet(data, columns=list(NEEDS[table])).estimated_size("mb")
    print(
        json.dumps(
            {
                "table": table,
                "path": path,
                "peak_mib": round(peak - base),
                "call_mib": round(peak - before),
                "needed_mib": round(needed),
                "ratio": round((peak - base) / needed, 2),
                "cpu_s": round(cpu, 2),
                "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
