"""Time ``loyaltymetrics.tables`` against hand-written pandas, DuckDB SQL and lifetimes.

One run simulates a transaction log per size with ``datasets.simulate_transactions``,
writes it once to a Parquet file, and then runs every (table, engine,
id type) case in its own Python subprocess, one after the other:

* the subprocess loads the log and prepares its engine's input (a polars DataFrame, a
  pandas DataFrame, or a DuckDB connection over the Arrow table), untimed;
* it computes the table once and compares it with the loyaltymetrics eager result
  (same rows, same keys, numbers within 1e-9 relative); an engine that disagrees is
  reported as such and not timed;
* it then times ``--repeats`` further runs (wall clock and CPU time) and reads the
  process's peak resident set size during the first run (reset just before it), so that the
  "extra" memory is what the computation itself added.

Run ``python benchmarks/bench_tables.py --help`` for the options; benchmarks/README.md
has the commands behind docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
from _measure import source_version, time_runs

from loyaltymetrics import datasets, tables

START = dt.date(2023, 1, 1)
END = dt.date(2025, 1, 1)
TABLES = ("rfm_summary", "customer_summary", "cohort_retention", "period_summary")
ENGINES = ("loyaltymetrics", "loyaltymetrics-lazy", "pandas", "duckdb", "lifetimes")
KEYS = {
    "rfm_summary": ["customer_id"],
    "customer_summary": ["customer_id"],
    "cohort_retention": ["cohort", "period_index"],
    "period_summary": ["period"],
}
EXTRAS = {"pandas": ("pandas",), "duckdb": ("duckdb", "pyarrow"), "lifetimes": ("lifetimes",)}
TOLERANCE = 1e-9
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


# --------------------------------------------------------------------------- loyaltymetrics


def _lm_call(table: str, frame: FrameT) -> FrameT:
    if table == "rfm_summary":
        return tables.rfm_summary(frame, amount="amount")
    if table == "customer_summary":
        return tables.customer_summary(frame)
    if table == "cohort_retention":
        return tables.cohort_retention(frame)
    return tables.period_summary(frame)


def _lm_eager(table: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return functools.partial(_lm_call, table)


def _lm_lazy(table: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def run(frame: pl.DataFrame) -> pl.DataFrame:
        return _lm_call(table, frame.lazy()).collect()

    return run


# --------------------------------------------------------------------------- pandas
# What a pandas user would write: vectorised groupby, no per-group Python functions.
# Days and months are integer period indices, as in loyaltymetrics.


def _pd_days(df: Any) -> Any:
    return df["timestamp"].to_numpy().astype("datetime64[D]").astype(np.int64)


def _pd_months(df: Any) -> Any:
    ts = df["timestamp"].dt
    return (ts.year.astype(np.int64) * 12 + ts.month.astype(np.int64) - 1).to_numpy()


def _pd_month_start(index: Any) -> Any:
    import pandas as pd

    return pd.to_datetime({"year": index // 12, "month": index % 12 + 1, "day": 1})


def pandas_rfm_summary(df: Any) -> Any:
    """Frequency, recency, T and monetary value per customer, in daily periods."""
    import pandas as pd

    visits = (
        df[["customer_id", "amount"]]
        .assign(day=_pd_days(df))
        .groupby(["customer_id", "day"], sort=True, as_index=False)["amount"]
        .sum()
    )
    first = visits.groupby("customer_id", sort=False)["day"].transform("min")
    visits["repeat"] = visits["amount"].where(visits["day"] != first, 0.0)
    per = visits.groupby("customer_id", sort=True).agg(
        n=("day", "size"), first=("day", "min"), last=("day", "max"), repeat=("repeat", "sum")
    )
    repeats = per["n"] - 1
    out = pd.DataFrame(
        {
            "frequency": repeats,
            "recency": (per["last"] - per["first"]).astype(np.float64),
            "T": (per["last"].max() - per["first"]).astype(np.float64),
            "monetary_value": (per["repeat"] / repeats.clip(lower=1)).where(repeats > 0, 0.0),
        },
        index=per.index,
    )
    return out.reset_index()


def pandas_customer_summary(df: Any) -> Any:
    """Orders, revenue, order dates, AOV, repurchase cycle and tenure per customer."""
    tx = df.assign(day=_pd_days(df))
    per = tx.groupby("customer_id", sort=True).agg(
        orders=("amount", "size"),
        revenue=("amount", "sum"),
        first_order=("timestamp", "min"),
        last_order=("timestamp", "max"),
        first_day=("day", "min"),
        last_day=("day", "max"),
    )
    days = tx[["customer_id", "day"]].drop_duplicates().sort_values(["customer_id", "day"])
    days["gap"] = days.groupby("customer_id", sort=False)["day"].diff()
    gaps = days.groupby("customer_id", sort=True)["gap"]
    purchase_days = gaps.size()
    per["average_order_value"] = per["revenue"] / per["orders"]
    per["purchase_days"] = purchase_days
    per["mean_interpurchase_days"] = (
        (per["last_day"] - per["first_day"]) / (purchase_days - 1)
    ).where(purchase_days > 1)
    per["median_interpurchase_days"] = gaps.median()
    per["tenure_days"] = (per["last_day"].max() - per["first_day"]).astype(np.float64)
    return per.drop(columns=["first_day", "last_day"]).reset_index()


def pandas_cohort_retention(df: Any) -> Any:
    """Long cohort table by calendar month, every observed cell present."""
    import pandas as pd

    act = pd.DataFrame({"customer_id": df["customer_id"], "month": _pd_months(df)})
    act = act.drop_duplicates()
    cohort = act.groupby("customer_id", sort=False)["month"].transform("min")
    act = act.assign(cohort=cohort, period_index=act["month"] - cohort)
    sizes = act.loc[act["period_index"] == 0].groupby("cohort").size()
    active = act.groupby(["cohort", "period_index"]).size()
    cohorts = sizes.index.to_numpy()
    lengths = int(act["month"].max()) - cohorts + 1
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid = pd.MultiIndex.from_arrays(
        [np.repeat(cohorts, lengths), np.arange(lengths.sum()) - offsets],
        names=["cohort", "period_index"],
    )
    out = active.reindex(grid, fill_value=0).rename("active").reset_index()
    out["cohort_size"] = sizes.reindex(out["cohort"]).to_numpy()
    out["retention"] = out["active"] / out["cohort_size"]
    out["cohort"] = _pd_month_start(out["cohort"])
    return out[["cohort", "period_index", "cohort_size", "active", "retention"]]


def pandas_period_summary(df: Any, window: int = 1) -> Any:
    """Monthly base flows (new, reactivated, lost), retention, churn and sales."""
    import pandas as pd

    month = _pd_months(df)
    orders = pd.DataFrame(
        {"customer_id": df["customer_id"], "month": month, "amount": df["amount"]}
    )
    visits = orders.groupby(["customer_id", "month"], sort=True).size().rename("n").reset_index()
    by_customer = visits.groupby("customer_id", sort=False)["month"]
    m = visits["month"]
    prev, nxt = by_customer.shift(1), by_customer.shift(-1)
    grid = pd.RangeIndex(int(month.min()), int(month.max()) + 1)

    def count(periods: Any) -> Any:
        return periods.value_counts().reindex(grid, fill_value=0)

    out = pd.DataFrame(index=grid)
    out["customers_new"] = count(m[prev.isna()])
    out["customers_reactivated"] = count(m[(m - prev) > window])
    out["customers_lost"] = count(m[nxt.isna() | ((nxt - m) > window)] + window)
    out["customers_end"] = (
        out["customers_new"] + out["customers_reactivated"] - out["customers_lost"]
    ).cumsum()
    out["customers_start"] = out["customers_end"].shift(1, fill_value=0)
    start = out["customers_start"].where(out["customers_start"] > 0)
    out["retention_rate"] = (
        out["customers_end"] - out["customers_new"] - out["customers_reactivated"]
    ) / start
    out["churn_rate"] = out["customers_lost"] / start
    sales = orders.groupby("month").agg(orders=("amount", "size"), revenue=("amount", "sum"))
    out["orders"] = sales["orders"].reindex(grid, fill_value=0)
    out["revenue"] = sales["revenue"].reindex(grid, fill_value=0.0)
    buyers = visits.groupby("month").size().reindex(grid, fill_value=0)
    repeaters = (visits["n"] >= 2).groupby(visits["month"]).sum().reindex(grid, fill_value=0)
    out["average_order_value"] = out["revenue"] / out["orders"].where(out["orders"] > 0)
    out["purchase_frequency"] = out["orders"] / buyers.where(buyers > 0)
    out["repeat_purchase_rate"] = repeaters / buyers.where(buyers > 0)
    out.insert(0, "period", _pd_month_start(grid.to_series()).to_numpy())
    columns = ["period", "customers_start", "customers_new", "customers_reactivated"]
    columns += ["customers_lost", "customers_end", "retention_rate", "churn_rate", "orders"]
    columns += ["revenue", "average_order_value", "purchase_frequency", "repeat_purchase_rate"]
    return out[columns].reset_index(drop=True)


PANDAS = {
    "rfm_summary": pandas_rfm_summary,
    "customer_summary": pandas_customer_summary,
    "cohort_retention": pandas_cohort_retention,
    "period_summary": pandas_period_summary,
}


# --------------------------------------------------------------------------- DuckDB
# The same tables in SQL over the registered Arrow table ``tx``.

_MONTH = "(year(timestamp) * 12 + month(timestamp) - 1)"
_MONTH_START = "make_date(CAST({0} // 12 AS INTEGER), CAST({0} % 12 + 1 AS INTEGER), 1)"

SQL = {
    "rfm_summary": """
        WITH visits AS (
            SELECT customer_id, CAST(timestamp AS DATE) AS day, SUM(amount) AS amount
            FROM tx GROUP BY ALL
        ), per AS (
            SELECT customer_id, COUNT(*) AS n, MIN(day) AS first_day, MAX(day) AS last_day,
                   SUM(amount) - arg_min(amount, day) AS repeat_total
            FROM visits GROUP BY customer_id
        )
        SELECT customer_id, n - 1 AS frequency,
               CAST(last_day - first_day AS DOUBLE) AS recency,
               CAST((SELECT MAX(last_day) FROM per) - first_day AS DOUBLE) AS T,
               CASE WHEN n > 1 THEN repeat_total / (n - 1) ELSE 0.0 END AS monetary_value
        FROM per ORDER BY customer_id
    """,
    "customer_summary": """
        WITH o AS (
            SELECT customer_id, timestamp, amount, CAST(timestamp AS DATE) AS day FROM tx
        ), per AS (
            SELECT customer_id, COUNT(*) AS orders, SUM(amount) AS revenue,
                   MIN(timestamp) AS first_order, MAX(timestamp) AS last_order,
                   MIN(day) AS first_day, MAX(day) AS last_day
            FROM o GROUP BY customer_id
        ), gaps AS (
            SELECT customer_id,
                   day - LAG(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap
            FROM (SELECT DISTINCT customer_id, day FROM o)
        ), g AS (
            SELECT customer_id, COUNT(*) AS purchase_days, MEDIAN(gap) AS median_gap
            FROM gaps GROUP BY customer_id
        )
        SELECT customer_id, orders, revenue, first_order, last_order,
               revenue / orders AS average_order_value, purchase_days,
               CASE WHEN purchase_days > 1
                    THEN (last_day - first_day) / (purchase_days - 1) END
                   AS mean_interpurchase_days,
               CAST(median_gap AS DOUBLE) AS median_interpurchase_days,
               CAST((SELECT MAX(last_day) FROM per) - first_day AS DOUBLE) AS tenure_days
        FROM per JOIN g USING (customer_id) ORDER BY customer_id
    """,
    "cohort_retention": f"""
        WITH act AS (SELECT DISTINCT customer_id, {_MONTH} AS m FROM tx),
        first AS (SELECT customer_id, MIN(m) AS cohort FROM act GROUP BY customer_id),
        sizes AS (SELECT cohort, COUNT(*) AS cohort_size FROM first GROUP BY cohort),
        grid AS (
            SELECT cohort, cohort_size,
                   unnest(range(0, (SELECT MAX(m) FROM act) - cohort + 1)) AS period_index
            FROM sizes
        ), active AS (
            SELECT f.cohort, a.m - f.cohort AS period_index, COUNT(*) AS active
            FROM act a JOIN first f USING (customer_id) GROUP BY ALL
        )
        SELECT {_MONTH_START.format("g.cohort")} AS cohort, g.period_index, g.cohort_size,
               COALESCE(a.active, 0) AS active,
               COALESCE(a.active, 0) / g.cohort_size AS retention
        FROM grid g LEFT JOIN active a USING (cohort, period_index)
        ORDER BY g.cohort, g.period_index
    """,
    "period_summary": f"""
        WITH o AS (SELECT customer_id, {_MONTH} AS m, amount FROM tx),
        visits AS (
            SELECT m, COUNT(*) AS n,
                   LAG(m) OVER w AS prev, LEAD(m) OVER w AS nxt
            FROM o GROUP BY customer_id, m
            WINDOW w AS (PARTITION BY customer_id ORDER BY m)
        ), arrivals AS (
            SELECT m AS t, COUNT(*) FILTER (WHERE prev IS NULL) AS new,
                   COUNT(*) FILTER (WHERE m - prev > 1) AS reactivated,
                   COUNT(*) AS buyers, COUNT(*) FILTER (WHERE n >= 2) AS repeaters
            FROM visits GROUP BY m
        ), departures AS (
            SELECT m + 1 AS t, COUNT(*) AS lost FROM visits
            WHERE nxt IS NULL OR nxt - m > 1 GROUP BY ALL
        ), sales AS (
            SELECT m AS t, COUNT(*) AS orders, SUM(amount) AS revenue FROM o GROUP BY m
        ), grid AS (
            SELECT unnest(range(MIN(m), MAX(m) + 1)) AS t FROM o
        ), flows AS (
            SELECT t, COALESCE(new, 0) AS new, COALESCE(reactivated, 0) AS reactivated,
                   COALESCE(lost, 0) AS lost, COALESCE(orders, 0) AS orders,
                   COALESCE(revenue, 0.0) AS revenue, COALESCE(buyers, 0) AS buyers,
                   COALESCE(repeaters, 0) AS repeaters,
                   SUM(COALESCE(new, 0) + COALESCE(reactivated, 0) - COALESCE(lost, 0))
                       OVER (ORDER BY t) AS customers_end
            FROM grid LEFT JOIN arrivals USING (t) LEFT JOIN departures USING (t)
                 LEFT JOIN sales USING (t)
        ), base AS (
            SELECT *, COALESCE(LAG(customers_end) OVER (ORDER BY t), 0) AS customers_start
            FROM flows
        )
        SELECT {_MONTH_START.format("t")} AS period, customers_start,
               new AS customers_new, reactivated AS customers_reactivated,
               lost AS customers_lost, customers_end,
               CASE WHEN customers_start > 0
                    THEN (customers_end - new - reactivated) / customers_start END
                   AS retention_rate,
               CASE WHEN customers_start > 0 THEN lost / customers_start END AS churn_rate,
               orders, revenue,
               CASE WHEN orders > 0 THEN revenue / orders END AS average_order_value,
               CASE WHEN buyers > 0 THEN orders / buyers END AS purchase_frequency,
               CASE WHEN buyers > 0 THEN repeaters / buyers END AS repeat_purchase_rate
        FROM base ORDER BY t
    """,
}


# --------------------------------------------------------------------------- lifetimes


def lifetimes_rfm_summary(df: Any) -> Any:
    """The RFM summary from lifetimes (daily periods, default observation end)."""
    from lifetimes.utils import summary_data_from_transaction_data

    out = summary_data_from_transaction_data(
        df, "customer_id", "timestamp", monetary_value_col="amount"
    )
    return out.reset_index()


# --------------------------------------------------------------------------- checks


def compare(result: pl.DataFrame, reference: pl.DataFrame, keys: list[str]) -> str | None:
    """None if `result` holds the rows and values of `reference`, else what differs.

    Rows are matched on `keys` (order is not compared). Numbers must agree within
    ``TOLERANCE`` relative to ``max(1, |a|, |b|)``; NaN and null both mean "missing" and
    must be missing on both sides; dates, times and ids must be equal.
    """
    missing = [c for c in reference.columns if c not in result.columns]
    if missing:
        return f"columns {missing} missing; got {result.columns}"
    if result.height != reference.height:
        return f"{result.height} rows, expected {reference.height}"
    casts = [pl.col(k).cast(reference.schema[k]) for k in keys]
    got = result.select(reference.columns).with_columns(casts).sort(keys)
    want = reference.sort(keys)
    problems = []
    for name in reference.columns:
        dtype = reference.schema[name]
        a, b = got[name], want[name]
        if dtype.is_numeric():
            x = a.cast(pl.Float64).fill_null(np.nan).to_numpy()
            y = b.cast(pl.Float64).fill_null(np.nan).to_numpy()
            gone = np.isnan(x) != np.isnan(y)
            if gone.any():
                problems.append(f"{name}: missing on one side only in {gone.sum()} rows")
                continue
            scale = np.maximum(1.0, np.maximum(np.abs(x), np.abs(y)))
            rel = np.nan_to_num(np.abs(x - y) / scale)
            if rel.size and rel.max() > TOLERANCE:
                i = int(rel.argmax())
                problems.append(
                    f"{name}: {(rel > TOLERANCE).sum()} rows differ, worst {x[i]!r} vs "
                    f"{y[i]!r} at {want.select(keys).row(i)}"
                )
        elif not a.cast(dtype).equals(b):
            diff = (a.cast(dtype) != b).sum()
            problems.append(f"{name}: {diff} values differ")
    return "; ".join(problems) or None


def _to_polars(result: Any) -> pl.DataFrame:
    if isinstance(result, pl.DataFrame):
        return result
    module = type(result).__module__
    if module.startswith("pyarrow"):
        out = pl.from_arrow(result)
        assert isinstance(out, pl.DataFrame)
        return out
    return pl.from_pandas(result)


def precheck_cdnow(chosen_tables: list[str], engines: list[str]) -> int:
    """Check every alternative on the CDNOW master log before any timing; count failures.

    CDNOW has what the simulated log lacks: ``Date`` timestamps, several orders of one
    customer on one day, and zero amounts.
    """
    log = datasets.load_cdnow().select("customer_id", "timestamp", "amount")
    arrow = log.to_arrow()
    use_pandas = "pandas" in engines or "lifetimes" in engines
    df = arrow.to_pandas(date_as_object=False) if use_pandas else None
    con = None
    if "duckdb" in engines:
        import duckdb

        con = duckdb.connect()
        con.register("tx", arrow)
    failures = 0
    for table in chosen_tables:
        reference = _lm_eager(table)(log)
        candidates: dict[str, Callable[[], Any]] = {
            "loyaltymetrics-lazy": functools.partial(_lm_lazy(table), log)
        }
        if "pandas" in engines:
            candidates["pandas"] = functools.partial(PANDAS[table], df)
        if con is not None:
            candidates["duckdb"] = con.sql(SQL[table]).to_arrow_table
        if "lifetimes" in engines and table == "rfm_summary":
            candidates["lifetimes"] = functools.partial(lifetimes_rfm_summary, df)
        for engine, run in candidates.items():
            if engine not in engines:
                continue
            problem = compare(_to_polars(run()), reference, KEYS[table])
            failures += problem is not None
            print(f"   CDNOW {table} / {engine}: " + ("agrees" if problem is None else problem))
    return failures


# --------------------------------------------------------------------------- worker


def _prepare(engine: str, table: str, frame: pl.DataFrame) -> tuple[Callable[[], Any], Any]:
    """The timed call and whatever must stay alive while it runs."""
    if engine == "loyaltymetrics":
        run_lm = _lm_eager(table)
        return lambda: run_lm(frame), frame
    if engine == "loyaltymetrics-lazy":
        run_lazy = _lm_lazy(table)
        return lambda: run_lazy(frame), frame
    arrow = frame.to_arrow()
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.register("tx", arrow)
        query = SQL[table]
        return lambda: con.sql(query).to_arrow_table(), (con, arrow)
    df = arrow.to_pandas()
    del arrow
    if engine == "pandas":
        run_pd = PANDAS[table]
        return lambda: run_pd(df), df
    return lambda: lifetimes_rfm_summary(df), df


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    frame = pl.read_parquet(spec["data"]).rechunk()  # one chunk, as simulate_transactions gives
    if spec["ids"] == "str":
        frame = frame.with_columns(pl.col("customer_id").cast(pl.String))
    run, keep = _prepare(spec["engine"], spec["table"], frame)
    del frame
    out: dict[str, Any] = {}
    reference = Path(spec["reference"])

    def check(value: Any) -> bool:
        result = _to_polars(value)
        out["rows_out"] = result.height
        if spec.get("write_reference"):
            result.write_parquet(reference)
            out["check"] = "reference"
            return True
        problem = compare(result, pl.read_parquet(reference), KEYS[spec["table"]])
        out["check"] = "agrees" if problem is None else "DISAGREES: " + problem
        return problem is None

    _, timing = time_runs(run, spec["repeats"], warmup=True, check=check)
    del keep
    out.update(timing.as_dict())
    return out


# --------------------------------------------------------------------------- driver


@dataclass
class Case:
    """One timed (table, engine, id type) combination."""

    table: str
    engine: str
    ids: str

    @property
    def label(self) -> str:
        """Short name for progress lines."""
        return f"{self.table} / {self.engine} / {self.ids} ids"


def _cases(chosen_tables: list[str], engines: list[str], id_kinds: list[str]) -> list[Case]:
    cases = []
    for table in chosen_tables:
        for ids in id_kinds if table == "rfm_summary" else ["int"]:
            for engine in engines:
                if engine == "lifetimes" and table != "rfm_summary":
                    continue
                cases.append(Case(table, engine, ids))
    return cases


def _available(engine: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in EXTRAS.get(engine, ()))


def _run_case(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"check": "FAILED: " + proc.stderr.strip().splitlines()[-1][:300]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "polars": pl.__version__, "numpy": np.__version__}
    for name in ("pandas", "duckdb", "pyarrow", "lifetimes"):
        if importlib.util.find_spec(name) is not None:
            out[name] = __import__(name).__version__
    return out


_HEADER = (
    "| customers | orders | table | ids | engine | median s | min s | CPU s | "
    "× loyaltymetrics | peak RSS MB | extra RSS MB | other load | check |"
)


def _fmt_row(row: dict[str, Any], baseline: float | None) -> str:
    cells = [f"{row['customers']:,}", f"{row['rows']:,}", row["table"], row["ids"], row["engine"]]
    if not row.get("wall"):
        cells += ["–"] * 7
    else:
        med = statistics.median(row["wall"])
        cells += [
            f"{med:.3f}",
            f"{min(row['wall']):.3f}",
            f"{statistics.median(row['cpu']):.2f}",
            f"{med / baseline:.2f}" if baseline else "–",
            f"{row['rss_peak_mb']:,.0f}",
            f"{row['rss_peak_mb'] - row['rss_before_mb']:,.0f}",
            f"{max(row['other_load']):.2f}",
        ]
    return "| " + " | ".join([*cells, str(row["check"])]) + " |"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Example: .venv/bin/python benchmarks/bench_tables.py --customers 300000 1000000 "
            "--repeats 3 --json bench-tables.json"
        ),
    )
    parser.add_argument(
        "--customers",
        type=int,
        nargs="+",
        default=[1_000_000],
        help="simulated customers per log, one run per size (default: 1000000, about "
        "3.0M orders; 3300000 gives about 10M orders)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case, >= 3")
    parser.add_argument("--seed", type=int, default=2026, help="simulation seed")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument(
        "--ids",
        nargs="+",
        choices=("int", "str"),
        default=["int", "str"],
        help="customer id types for rfm_summary (Int64, and the same ids as strings); "
        "the other tables use Int64 ids",
    )
    parser.add_argument(
        "--lifetimes-max-rows",
        type=int,
        default=12_000_000,
        help="skip lifetimes above this many orders (default: 12000000)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")

    engines = [e for e in args.engines if e != "loyaltymetrics"]
    for engine in list(engines):
        if not _available(engine):
            print(f"note: {engine} is not installed; skipping it")
            engines.remove(engine)
    engines = ["loyaltymetrics", *engines]  # the reference always runs first
    versions = _versions()
    versions["source"] = source_version()
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions.items() if k != "source"))
    print(versions["source"])
    print(f"polars threads: {pl.thread_pool_size()}, cpus: {os.cpu_count()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    print(f"\n== check on the CDNOW master log ({', '.join(engines[1:])})")
    disagreements = precheck_cdnow(args.tables, engines)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lm-bench-") as tmp:
        for n in args.customers:
            t0 = time.perf_counter()
            log = datasets.simulate_transactions(n, start=START, end=END, seed=args.seed)
            data = Path(tmp) / f"tx-{n}.parquet"
            log.write_parquet(data, compression="lz4")
            n_rows = log.height
            del log
            print(
                f"\n== {n:,} customers, {n_rows:,} orders ({START} to {END}), "
                f"simulated in {time.perf_counter() - t0:.1f} s"
            )
            referenced: set[str] = set()  # tables whose loyaltymetrics result is on disk
            for case in _cases(args.tables, engines, args.ids):
                if case.engine == "lifetimes" and n_rows > args.lifetimes_max_rows:
                    print(f"   {case.label}: skipped, {n_rows:,} > --lifetimes-max-rows")
                    continue
                spec = {
                    "data": str(data),
                    "table": case.table,
                    "engine": case.engine,
                    "ids": case.ids,
                    "repeats": args.repeats,
                    "reference": str(Path(tmp) / f"ref-{n}-{case.table}.parquet"),
                    "write_reference": case.engine == "loyaltymetrics"
                    and case.table not in referenced,
                }
                if spec["write_reference"]:
                    referenced.add(case.table)
                t0 = time.perf_counter()
                result = _run_case(spec)
                row = {"customers": n, "rows": n_rows, **spec, **result}
                del row["data"], row["reference"], row["write_reference"]
                rows.append(row)
                shown = (
                    f"median {statistics.median(result['wall']):.3f} s"
                    if result.get("wall")
                    else "not timed"
                )
                print(
                    f"   {case.label}: {shown}, {result['check']} "
                    f"({time.perf_counter() - t0:.0f} s in all)"
                )
                disagreements += not str(result["check"]).startswith(("agrees", "reference"))

    print("\n" + _HEADER)
    print("|" + "---|" * _HEADER.count(" | ") + "---|")
    for row in rows:
        base = next(
            (
                statistics.median(r["wall"])
                for r in rows
                if r["customers"] == row["customers"]
                and r["table"] == row["table"]
                and r["ids"] == row["ids"]
                and r["engine"] == "loyaltymetrics"
                and r.get("wall")
            ),
            None,
        )
        print(_fmt_row(row, base))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "rows": rows}, indent=1))
    if disagreements:
        print(f"\n{disagreements} case(s) disagree with loyaltymetrics or failed: see 'check'")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
