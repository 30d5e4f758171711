"""End to end from one Parquet file: ``tables.X(pl.scan_parquet(f)).collect()`` against DuckDB.

Where users start: a Parquet export of the order log, often with string ids from the
warehouse. For each table and id kind this script times, in ONE process and interleaved
(round ``i`` runs every path once before round ``i + 1``, so that a burst of load on the
shared machine hits every path alike):

========  ===================================================================================
path      timed call
========  ===================================================================================
scan      ``tables.X(pl.scan_parquet(f), ...).collect()``: read and compute (the lazy path)
read      ``tables.X(pl.read_parquet(f), ...)``: read and compute (the eager path)
duckdb    ``duckdb.connect().sql(<SQL over read_parquet(f)>).to_arrow_table()``: read and
          compute; the SQL is `bench_tables.SQL` with ``FROM tx`` replaced by
          ``FROM read_parquet('f')`` (printed by ``--show-sql``)
eager     ``tables.X(df, ...)`` on the log already in memory (``pl.read_parquet(f)``, untimed)
lazy      ``tables.X(df.lazy(), ...).collect()`` on the same in-memory log
========  ===================================================================================

``scan ÷ duckdb`` is the issue's end-to-end target (≤ 0.6); ``lazy ÷ eager`` and
``scan ÷ read`` are the lazy-equals-eager target (≤ 1.15). The DuckDB connection is made
once per table and id kind, untimed.

Id kinds: ``int`` (the simulated ``Int64`` ids), ``c`` (``"C"`` + the zero-padded number,
e.g. ``"C0000123"``) and ``uuid`` (a 36-character UUID string per customer, drawn from a
seeded generator, so their order has nothing to do with the numbers). Each kind is its own
Parquet file, written once next to the log (lz4, like the log).

Before anything is timed, every path's table is compared with the eager in-memory result
(`_check.compare`: rows matched on their keys, numbers within 1e-9 relative); a path that
disagrees is reported and not timed. Each (table, id kind) runs in its own subprocess.

Memory (``--memory``): instead of timing, each (table, id kind, path) runs once in its
own new process, which imports everything, reads the in-memory log first for ``eager``
and ``lazy`` (the user's frame is in memory before the call), resets its peak RSS
(``/proc/self/clear_refs``) and runs the call. The figure is the peak RSS during the
call (``VmHWM``) minus the RSS after the imports and before any data (the interpreter and
the libraries), so the input frame of ``eager`` and ``lazy`` counts; it is divided by the
in-memory size of the columns the table needs (`_check.frame_mb` of
``read_parquet(f, columns=NEEDS[table])``; strings counted as polars' views). The target
of issue 21 is a ratio below 2.

Run ``python benchmarks/bench_parquet.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _check import compare, frame_mb, to_polars
from _logs import alpha_for, describe, expected_orders, write_log
from _measure import Timing, _timed, reset_peak, rss_mb, run_worker, source_version, versions
from bench_tables import END, KEYS, NEEDS, SQL, START, TABLES, _lm_call

PATHS = ("scan", "read", "duckdb", "eager", "lazy")
# With --memory only: ``pl.read_parquet(f, columns=NEEDS[table])``, the floor of any path
# that reads the file (the decoded columns plus what the Parquet reader holds meanwhile).
MEMORY_PATHS = (*PATHS, "columns")
ID_KINDS = ("int", "c", "uuid")


def duckdb_sql(table: str, path: str) -> str:
    """The DuckDB query of `table` over the Parquet file `path` (bench_tables' SQL)."""
    query = SQL[table]
    if query.count("FROM tx") != 1:
        raise AssertionError(f"expected one 'FROM tx' in the SQL of {table}")
    return query.replace("FROM tx", "FROM read_parquet('" + path.replace("'", "''") + "')")


def id_file(log: Path, kind: str) -> Path:
    """The Parquet file of `log` with `kind` ids, written once (lz4, like the log)."""
    if kind == "int":
        return log
    path = log.with_name(f"{log.stem}-ids-{kind}.parquet")
    if path.exists():
        return path
    frame = pl.read_parquet(log)
    ids = frame["customer_id"]
    n = int(ids.max()) + 1  # the simulated ids are 0 .. n-1
    if kind == "c":
        width = len(str(n - 1))
        new = ("C" + ids.cast(pl.String).str.zfill(width)).alias("customer_id")
    else:
        raw = np.random.default_rng(2026).bytes(16 * n)
        names = [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(n)]
        new = pl.Series("customer_id", names, dtype=pl.String).gather(ids)
    frame.with_columns(new).write_parquet(path, compression="lz4")
    return path


def _calls(table: str, path: str, frame: pl.DataFrame) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    query = duckdb_sql(table, path)
    return {
        "scan": lambda: _lm_call(table, pl.scan_parquet(path)).collect(),
        "read": lambda: _lm_call(table, pl.read_parquet(path)),
        "duckdb": lambda: con.sql(query).to_arrow_table(),
        "eager": lambda: _lm_call(table, frame),
        "lazy": lambda: _lm_call(table, frame.lazy()).collect(),
    }


def _memory_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One (table, id kind, path) in a fresh process: its peak RSS over the bare process.

    Every path imports the same modules (polars, duckdb, pyarrow, loyaltymetrics) before
    the baseline is read, so the baseline is the same for all of them.
    """
    import duckdb
    import pyarrow  # noqa: F401  (DuckDB's to_arrow_table needs it; same baseline for all)

    path, table, name = spec["data"], spec["table"], spec["path"]
    gc.collect()
    base = rss_mb("VmRSS")
    frame = pl.read_parquet(path) if name in ("eager", "lazy") else pl.DataFrame()
    con = duckdb.connect()
    query = duckdb_sql(table, path)
    calls = {
        "scan": lambda: _lm_call(table, pl.scan_parquet(path)).collect(),
        "read": lambda: _lm_call(table, pl.read_parquet(path)),
        "duckdb": lambda: con.sql(query).to_arrow_table(),
        "eager": lambda: _lm_call(table, frame),
        "lazy": lambda: _lm_call(table, frame.lazy()).collect(),
        "columns": lambda: pl.read_parquet(path, columns=list(NEEDS[table])),
    }
    gc.collect()
    before = rss_mb("VmRSS")
    if not reset_peak():
        raise RuntimeError("cannot reset the peak RSS (/proc/self/clear_refs)")
    result = calls[name]()
    peak = rss_mb("VmHWM")
    rows = result.num_rows if hasattr(result, "num_rows") else result.height
    del result
    frame = pl.DataFrame()  # free the log before the needed columns are read
    gc.collect()
    needed = frame_mb(pl.read_parquet(path, columns=list(NEEDS[table])))
    return {
        "base_mb": base,
        "before_mb": before,
        "peak_mb": peak,
        "needed_mb": needed,
        "result_rows": rows,
        "load": os.getloadavg()[0],
    }


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One (table, id kind): check every path, then `repeats` interleaved rounds."""
    if spec.get("memory"):
        return _memory_worker(spec)
    path, table = spec["data"], spec["table"]
    frame = pl.read_parquet(path)
    calls = {k: v for k, v in _calls(table, path, frame).items() if k in spec["paths"]}
    reference = _lm_call(table, frame)
    out: dict[str, Any] = {"load_start": os.getloadavg()[0], "checks": {}, "timings": {}}
    ok = []
    for name, call in calls.items():
        problem = compare(to_polars(call()), reference, KEYS[table])
        out["checks"][name] = "agrees" if problem is None else "DISAGREES: " + problem
        if problem is None:
            ok.append(name)
    timings = {name: Timing() for name in ok}
    for _ in range(spec["repeats"]):
        for name in ok:
            gc.collect()
            _timed(calls[name], timings[name])
    out["timings"] = {name: t.as_dict() for name, t in timings.items()}
    out["load_end"] = os.getloadavg()[0]
    return out


def _median(row: dict[str, Any], name: str, kind: str = "wall") -> float | None:
    t = row["timings"].get(name)
    return statistics.median(t[kind]) if t and t[kind] else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "–"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: .venv/bin/python benchmarks/bench_parquet.py --orders 10000000 "
        "--repeats 3 --data-dir /tmp/lm-bench-data --json parquet-10m.json",
    )
    parser.add_argument("--orders", type=int, default=10_000_000, help="log size in orders")
    parser.add_argument(
        "--orders-per-customer", type=float, default=10.0, help="expected orders per customer"
    )
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    parser.add_argument("--ids", nargs="+", choices=ID_KINDS, default=list(ID_KINDS))
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=MEMORY_PATHS,
        default=list(PATHS),
        help="'columns' (reading the needed columns, nothing else) only with --memory",
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds, >= 3")
    parser.add_argument("--seed", type=int, default=2026, help="simulation seed")
    parser.add_argument("--chunk-events", type=int, default=20_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the logs here and reuse them (same names as bench_tables.py's logs)",
    )
    parser.add_argument("--smoke", action="store_true", help="allow --repeats 1 (CI smoke run)")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="measure the peak RSS of each path in its own process instead of timing",
    )
    parser.add_argument(
        "--fast-log",
        action="store_true",
        help="simulate the log with _logs.fast_log (same distribution, far quicker; "
        "its file name ends in -fast)",
    )
    parser.add_argument("--show-sql", action="store_true", help="print the DuckDB SQL and exit")
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0
    if args.show_sql:
        for table in args.tables:
            query = textwrap.dedent(duckdb_sql(table, "orders.parquet")).strip()
            print(f"-- {table}\n{query};\n")
        return 0
    if "columns" in args.paths and not args.memory:
        parser.error("--paths columns is a memory floor: only with --memory")
    if args.repeats < (1 if args.smoke else 3):
        parser.error("--repeats must be at least 3 (1 with --smoke)")

    info = versions(("polars", "duckdb", "pyarrow", "numpy"))
    info["source"] = source_version()
    print("versions:", ", ".join(f"{k} {v}" for k, v in info.items() if k != "source"))
    print(info["source"])
    print(f"polars threads: {pl.thread_pool_size()}, cpus: {os.cpu_count()}")
    alpha = alpha_for(args.orders_per_customer, START, END)
    customers = max(1, round(args.orders / expected_orders(alpha, START, END)))
    print(describe(alpha, START, END))
    rows: list[dict[str, Any]] = []
    failures = 0
    with tempfile.TemporaryDirectory(prefix="lm-parquet-") as tmp:
        folder = args.data_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / (
            f"tx-{customers}c-alpha{alpha:.8g}-seed{args.seed}-chunk{args.chunk_events}"
            + ("-fast" if args.fast_log else "")
            + ".parquet"
        )
        if not log.exists():
            write_log(
                log,
                customers,
                start=START,
                end=END,
                seed=args.seed,
                alpha=alpha,
                chunk_events=args.chunk_events,
                workers=args.workers,
                fast=args.fast_log,
            )
        n_rows = pl.scan_parquet(log).select(pl.len()).collect().item()
        print(f"log: {log} ({customers:,} customers, {n_rows:,} orders)")
        if args.memory:
            return _memory_main(log, args)
        for kind in args.ids:
            data = id_file(log, kind)
            for table in args.tables:
                spec = {
                    "data": str(data),
                    "table": table,
                    "paths": args.paths,
                    "repeats": args.repeats,
                }
                result = run_worker(__file__, spec)
                row = {"table": table, "ids": kind, "orders": n_rows, **result}
                rows.append(row)
                if "checks" not in row:
                    failures += 1
                    print(f"   {table} / {kind} ids: {row.get('check')}")
                    continue
                bad = {k: v for k, v in row["checks"].items() if v != "agrees"}
                failures += len(bad)
                shown = ", ".join(
                    f"{k} {_median(row, k):.3f} s ({_median(row, k, 'cpu'):.2f} CPU s)"
                    for k in args.paths
                    if _median(row, k)
                )
                print(
                    f"   {table} / {kind} ids: {shown}; load average {row['load_start']:.1f}"
                    f" -> {row['load_end']:.1f}" + (f"; {bad}" if bad else "")
                )

    print(
        "\n| table | ids | scan s | read s | DuckDB s | eager s | lazy s | scan ÷ DuckDB "
        "(≤ 0.6) | lazy ÷ eager (≤ 1.15) | scan ÷ read (≤ 1.15) | load avg | other load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if "timings" not in row:
            continue
        m = {k: _median(row, k) for k in PATHS}
        other = max((max(t["other_load"]) for t in row["timings"].values()), default=0.0)
        cells = [f"{m[k]:.3f}" if m[k] else "–" for k in PATHS]
        print(
            f"| `{row['table']}` | {row['ids']} | "
            + " | ".join(cells)
            + f" | {_ratio(m['scan'], m['duckdb'])} | {_ratio(m['lazy'], m['eager'])}"
            f" | {_ratio(m['scan'], m['read'])} | {row['load_start']:.1f}–{row['load_end']:.1f}"
            f" | {other:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"versions": info, "rows": rows}, indent=1))
    if failures:
        print(f"\n{failures} path(s) disagree or failed: see above")
    return 1 if failures else 0


def _memory_main(log: Path, args: argparse.Namespace) -> int:
    """Each (id kind, table, path) in its own process; a table of peak RSS ÷ needed columns."""
    print(
        "\n| table | ids | needed columns MiB | "
        + " | ".join(f"{p} MiB (÷ needed)" for p in args.paths)
        + " | worst ÷ needed (< 2) | load avg |"
    )
    print("|---|---|---:|" + "---:|" * len(args.paths) + "---|---|")
    rows, failures = [], 0
    for kind in args.ids:
        data = id_file(log, kind)
        for table in args.tables:
            cells, ratios, loads, needed = [], [], [], float("nan")
            for name in args.paths:
                spec = {"data": str(data), "table": table, "path": name, "memory": True}
                result = run_worker(__file__, spec)
                rows.append({"table": table, "ids": kind, "path": name, **result})
                if "peak_mb" not in result:
                    failures += 1
                    cells.append(str(result.get("check")))
                    continue
                needed = result["needed_mb"]
                used = result["peak_mb"] - result["base_mb"]
                if name != "columns":  # the floor is not a path of the target
                    ratios.append(used / needed)
                loads.append(result["load"])
                cells.append(f"{used:,.0f} ({used / needed:.2f})")
            worst = max(ratios, default=float("nan"))
            verdict = "met" if worst < 2 else "missed"
            print(
                f"| `{table}` | {kind} | {needed:,.0f} | "
                + " | ".join(cells)
                + f" | {worst:.2f} {verdict} | {min(loads, default=0):.1f}–"
                f"{max(loads, default=0):.1f} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps({"memory": rows}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
