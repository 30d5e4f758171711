"""Time ``loyaltymetrics.tables`` against hand-written pandas, DuckDB SQL, lifetimes and a floor.

One run simulates a transaction log per size with ``datasets.simulate_transactions``
(in chunks of customers, in parallel processes: see ``_logs.py``), writes it once to a
Parquet file, and then runs every (table, engine, id type) case in its own Python
subprocess, one after the other:

* the subprocess loads the log and prepares its engine's input (a polars DataFrame, a
  pandas DataFrame, or a DuckDB connection over the Arrow table), untimed;
* it computes the table once and compares it with the loyaltymetrics eager result
  (same rows, same keys, numbers within 1e-9 relative); an engine that disagrees is
  reported as such and not timed;
* it then times ``--repeats`` further runs (wall clock and CPU time) and reads the
  process's peak resident set size during the first run (reset just before it), so that the
  "extra" memory is what the computation itself added.

The ``floor`` engine is the least any engine must do: one polars pass over the columns
the table needs (min and max of the ids and timestamps, the sum of the amounts). Its
result is not a table and is not compared; every engine is also reported as a multiple
of it. Each case reports the in-memory size of its input (``DataFrame.estimated_size()``)
and its peak RSS as a multiple of that size.

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
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
from _check import compare, frame_mb, to_polars
from _logs import CDNOW_ALPHA, alpha_for, describe, expected_orders, write_log
from _measure import run_worker, source_version, time_runs, versions

from loyaltymetrics import datasets, tables

START = dt.date(2023, 1, 1)
END = dt.date(2025, 1, 1)
TABLES = ("rfm_summary", "customer_summary", "cohort_retention", "period_summary")
ENGINES = ("loyaltymetrics", "floor", "loyaltymetrics-lazy", "pandas", "duckdb", "lifetimes")
KEYS = {
    "rfm_summary": ["customer_id"],
    "customer_summary": ["customer_id"],
    "cohort_retention": ["cohort", "period_index"],
    "period_summary": ["period"],
}
# The columns each table reads; the floor makes one pass over them.
NEEDS = {
    "rfm_summary": ("customer_id", "timestamp", "amount"),
    "customer_summary": ("customer_id", "timestamp", "amount"),
    "cohort_retention": ("customer_id", "timestamp"),
    "period_summary": ("customer_id", "timestamp", "amount"),
}
EXTRAS = {"pandas": ("pandas",), "duckdb": ("duckdb", "pyarrow"), "lifetimes": ("lifetimes",)}
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


def floor(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """One pass over the columns `table` needs: min/max of ids and timestamps, sum of amounts.

    Every engine has to read each of these values at least once, so no engine can be
    faster than this by much; it is the yardstick of the "× floor" column.
    """
    aggs = [
        agg
        for name in NEEDS[table]
        if name != "amount"
        for agg in (
            pl.col(name).min().alias(name + "_min"),
            pl.col(name).max().alias(name + "_max"),
        )
    ]
    if "amount" in NEEDS[table]:
        aggs.append(pl.col("amount").sum())
    return frame.select(aggs)


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
            problem = compare(to_polars(run()), reference, KEYS[table])
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
    if engine == "floor":
        return lambda: floor(table, frame), frame
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
    out: dict[str, Any] = {
        "input_mb": frame_mb(frame),
        "input_needed_mb": frame_mb(frame.select(NEEDS[spec["table"]])),
        "estimated_size_mb": frame.estimated_size("mb"),
    }
    run, keep = _prepare(spec["engine"], spec["table"], frame)
    del frame
    reference = Path(spec["reference"])

    def check(value: Any) -> bool:
        result = to_polars(value)
        out["rows_out"] = result.height
        if spec["engine"] == "floor":
            out["check"] = "floor (not compared)"
            return True
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


_HEADER = (
    "| customers | orders | table | ids | engine | median s | min s | CPU s | × loyaltymetrics | "
    "× floor | input MB | peak RSS MB | extra RSS MB | peak ÷ input | extra ÷ input | other load | "
    "check |"
)


def _median(row: dict[str, Any] | None) -> float | None:
    return statistics.median(row["wall"]) if row and row.get("wall") else None


def _fmt_row(row: dict[str, Any], baseline: float | None, floor_s: float | None) -> str:
    cells = [f"{row['customers']:,}", f"{row['rows']:,}", row["table"], row["ids"], row["engine"]]
    med = _median(row)
    if med is None:
        cells += ["–"] * 11
    else:
        cells += [
            f"{med:.3f}",
            f"{min(row['wall']):.3f}",
            f"{statistics.median(row['cpu']):.2f}",
            f"{med / baseline:.2f}" if baseline else "–",
            f"{med / floor_s:.1f}" if floor_s else "–",
            f"{row['input_mb']:,.0f}",
            f"{row['rss_peak_mb']:,.0f}",
            f"{row['rss_peak_mb'] - row['rss_before_mb']:,.0f}",
            f"{row['rss_peak_mb'] / row['input_mb']:.2f}",
            f"{(row['rss_peak_mb'] - row['rss_before_mb']) / row['input_mb']:.2f}",
            f"{max(row['other_load']):.2f}",
        ]
    return "| " + " | ".join([*cells, str(row["check"])]) + " |"


def _peer(rows: list[dict[str, Any]], row: dict[str, Any], engine: str) -> dict[str, Any] | None:
    """The row of `engine` for the same log, table and id type as `row`."""
    for r in rows:
        if r["engine"] == engine and all(r[k] == row[k] for k in ("customers", "table", "ids")):
            return r
    return None


def _print_targets(rows: list[dict[str, Any]]) -> None:
    """The issue's targets, as ratios of the Int64-id cases of this run."""
    print(
        "\ntargets (Int64 ids): loyaltymetrics ÷ DuckDB <= 1.0 (aim 0.75), lifetimes ÷ "
        "loyaltymetrics >= 20 at 10M orders, peak memory < 2 × input (the peak RSS includes "
        "the interpreter and libraries, ~150-250 MB; input + extra leaves them out)"
    )
    for lm in rows:
        lm_s = _median(lm)
        if lm["engine"] != "loyaltymetrics" or lm["ids"] != "int" or lm_s is None:
            continue
        parts = [
            f"peak RSS ÷ input {lm['rss_peak_mb'] / lm['input_mb']:.2f}",
            f"(input + extra) ÷ input {1 + lm['extra_rss_mb'] / lm['input_mb']:.2f}",
        ]
        for engine, label in (("duckdb", "lm ÷ DuckDB"), ("floor", "lm ÷ floor")):
            other = _median(_peer(rows, lm, engine))
            if other:
                parts.append(f"{label} {lm_s / other:.2f}")
        lifetimes_s = _median(_peer(rows, lm, "lifetimes"))
        if lifetimes_s:
            parts.append(f"lifetimes ÷ lm {lifetimes_s / lm_s:.1f}")
        print(f"   {lm['rows']:,} orders, {lm['table']}: " + ", ".join(parts))


def _sizes(args: argparse.Namespace, opc: float) -> list[int]:
    """Customers per log: --customers, or --orders divided by the expected orders per customer."""
    if args.orders:
        return [max(1, round(n / opc)) for n in args.orders]
    return list(args.customers or [1_000_000])


def _log_file(folder: Path, customers: int, alpha: float, args: argparse.Namespace) -> Path:
    return folder / (
        f"tx-{customers}c-alpha{alpha:.8g}-seed{args.seed}-chunk{args.chunk_events}.parquet"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Example: .venv/bin/python benchmarks/bench_tables.py --orders 1000000 "
            "--orders-per-customer 10 --repeats 3 --json bench-tables.json"
        ),
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--customers",
        type=int,
        nargs="+",
        help="simulated customers per log, one run per size (default: 1000000)",
    )
    size.add_argument(
        "--orders",
        type=int,
        nargs="+",
        help="log sizes in orders instead (e.g. 1000000 10000000 50000000): the customers "
        "are the orders divided by the expected orders per customer; the realised number of "
        "orders is random around it",
    )
    parser.add_argument(
        "--orders-per-customer",
        type=float,
        help="expected orders per customer; the simulation's purchase-rate parameter alpha "
        "is solved for it (r and the dropout stay at the CDNOW values; above 1, at most 30). "
        "Default: the CDNOW "
        "alpha, about 3.04 orders per customer",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a check that the script still runs (.ci/bench-smoke): allows --repeats 1; "
        "use a tiny size, and read nothing into the figures",
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
    parser.add_argument(
        "--chunk-events",
        type=int,
        default=20_000_000,
        help="simulate in chunks of customers drawing about this many purchase events each "
        "(about 100 bytes each: about 2 GB per simulating process; default: 20000000)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes simulating chunks in parallel (default: the number of CPUs)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the simulated logs in this folder and reuse one made earlier with the same "
        "size, alpha, seed and chunking (default: a temporary folder, deleted at the end)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0
    if args.repeats < (1 if args.smoke else 3):
        parser.error("--repeats must be at least 3 (1 with --smoke)")
    if args.orders_per_customer is not None and not 1.0 < args.orders_per_customer <= 30.0:
        parser.error("--orders-per-customer must be above 1 and at most 30")

    engines = [e for e in args.engines if e != "loyaltymetrics"]
    for engine in list(engines):
        if not _available(engine):
            print(f"note: {engine} is not installed; skipping it")
            engines.remove(engine)
    engines = ["loyaltymetrics", *engines]  # the reference always runs first
    info = versions(("polars", "numpy", "pandas", "duckdb", "pyarrow", "lifetimes"))
    info["source"] = source_version()
    print("versions:", ", ".join(f"{k} {v}" for k, v in info.items() if k != "source"))
    print(info["source"])
    print(f"polars threads: {pl.thread_pool_size()}, cpus: {os.cpu_count()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    if args.orders_per_customer is None:
        alpha = CDNOW_ALPHA
    else:
        alpha = alpha_for(args.orders_per_customer, START, END)
    opc = expected_orders(alpha, START, END)
    print(describe(alpha, START, END))

    print(f"\n== check on the CDNOW master log ({', '.join(engines[1:])})")
    disagreements = precheck_cdnow(args.tables, engines)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lm-bench-") as tmp:
        folder = args.data_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for n in _sizes(args, opc):
            data = _log_file(folder, n, alpha, args)
            if data.exists():
                n_rows = pl.scan_parquet(data).select(pl.len()).collect().item()
                print(f"\n== {n:,} customers, {n_rows:,} orders: reusing {data}")
            else:
                made = write_log(
                    data,
                    n,
                    start=START,
                    end=END,
                    seed=args.seed,
                    alpha=alpha,
                    chunk_events=args.chunk_events,
                    workers=args.workers,
                )
                n_rows = made["rows"]
                print(
                    f"\n== {n:,} customers, {n_rows:,} orders ({n_rows / n:.2f} per customer, "
                    f"{START} to {END}), simulated in {made['total_s']:.1f} s "
                    f"({made['chunks']} chunk(s) of up to {made['chunk_customers']:,} customers "
                    f"in {made['simulate_s']:.1f} s, then sorted and written); in memory "
                    f"{made['input_mb']:,.0f} MB with Int64 ids, {made['input_str_mb']:,.0f} MB "
                    f"with string ids"
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
                result = run_worker(__file__, spec)
                row = {"customers": n, "rows": n_rows, "alpha": alpha, **spec, **result}
                del row["data"], row["reference"], row["write_reference"]
                rows.append(row)
                med = _median(result)
                shown = f"median {med:.3f} s" if med is not None else "not timed"
                memory = (
                    f", peak RSS {result['rss_peak_mb']:,.0f} MB for {result['input_mb']:,.0f} MB "
                    "of input"
                    if "input_mb" in result
                    else ""
                )
                print(
                    f"   {case.label}: {shown}{memory}, {result['check']} "
                    f"({time.perf_counter() - t0:.0f} s in all)"
                )
                disagreements += not str(result["check"]).startswith(
                    ("agrees", "reference", "floor")
                )

    print("\n" + _HEADER)
    print("|" + "---|" * _HEADER.count(" | ") + "---|")
    for row in rows:
        base = _median(_peer(rows, row, "loyaltymetrics"))
        print(_fmt_row(row, base, _median(_peer(rows, row, "floor"))))
    _print_targets(rows)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"versions": info, "rows": rows}, indent=1))
    if disagreements:
        print(f"\n{disagreements} case(s) disagree with loyaltymetrics or failed: see 'check'")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
