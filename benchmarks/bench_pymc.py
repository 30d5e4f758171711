"""Benchmark: loyaltymetrics against pymc-marketing, in the same run, on the same data.

pymc-marketing pins its own stack (PyMC, PyTensor, ArviZ; about 800 MB), so it runs in a
separate virtual environment given by ``--pymc-python``::

    python3 -m venv /tmp/pymc-venv
    /tmp/pymc-venv/bin/pip install pymc-marketing pyarrow
    .venv/bin/python benchmarks/bench_pymc.py --pymc-python /tmp/pymc-venv/bin/python

Cases, each in its own subprocess (so peak RSS is that case's alone):

* ``fit``: BG/NBD on the CDNOW summary (2,357 customers, weeks). loyaltymetrics'
  ``BetaGeoModel.fit`` (maximum likelihood) against pymc-marketing's
  ``BetaGeoModel(data).fit(method="map")`` (the MAP estimate, which with its default
  priors is close to the MLE). The estimates are printed side by side first.
* ``rfm``: the RFM summary of a simulated log of ``--orders`` orders (Parquet, written
  once): ``tables.rfm_summary`` against ``pymc_marketing.clv.utils.rfm_summary`` on a
  pandas DataFrame read from the same file (reading is not timed). The two tables are
  compared (frequency exactly, the rest to 1e-9) before the times are reported.

Each case is run ``--repeats`` times inside its subprocess; the median is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CDNOW = HERE.parent / "tests" / "data" / "cdnow_customers_summary_with_transactions.csv"


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _median_time(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def worker(engine: str, case: str, data: Path, out: Path, repeats: int) -> None:
    """One engine, one case; prints JSON and writes its result table to `out`."""
    import pandas as pd

    if case == "fit":
        summary = pd.read_csv(CDNOW)
        if engine == "loyaltymetrics":
            from loyaltymetrics import models

            x, tx, big_t = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
            seconds, model = _median_time(lambda: models.BetaGeoModel.fit(x, tx, big_t), repeats)
            params = dict(model.params)
        else:
            import warnings

            from pymc_marketing.clv import BetaGeoModel

            warnings.filterwarnings("ignore")
            frame = pd.DataFrame(
                {
                    "customer_id": summary["ID"],
                    "frequency": summary["x"],
                    "recency": summary["t_x"],
                    "T": summary["T"],
                }
            )

            def fit() -> Any:
                model = BetaGeoModel(data=frame)
                model.fit(method="map")
                return model

            seconds, model = _median_time(fit, repeats)
            post = model.fit_result  # the posterior Dataset (one draw for MAP)
            params = {k: float(post[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")}
        result: dict[str, Any] = {"params": params}
    else:
        tx = pd.read_parquet(data)
        if engine == "loyaltymetrics":
            import polars as pl

            from loyaltymetrics import tables

            frame = pl.from_pandas(tx)
            seconds, table = _median_time(
                lambda: tables.rfm_summary(frame, amount="amount"), repeats
            )
            table.write_parquet(out)
        else:
            from pymc_marketing.clv.utils import rfm_summary

            seconds, table = _median_time(
                lambda: rfm_summary(
                    tx,
                    customer_id_col="customer_id",
                    datetime_col="timestamp",
                    monetary_value_col="amount",
                ),
                repeats,
            )
            table.to_parquet(out)
        result = {"rows": len(tx)}
    result.update({"engine": engine, "case": case, "seconds": seconds, "peak_gib": _peak_gib()})
    print(json.dumps(result))


def _run(
    python: str, engine: str, case: str, data: Path, out: Path, repeats: int
) -> dict[str, Any]:
    env = dict(os.environ)
    if engine == "pymc-marketing":  # the project's src must not shadow anything there
        env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [python, __file__, "worker", engine, case, str(data), str(out), str(repeats)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _compare(ours: Path, theirs: Path) -> str:
    import polars as pl

    a = pl.read_parquet(ours).sort("customer_id")
    b = pl.read_parquet(theirs).sort("customer_id")
    if a["customer_id"].to_list() != b["customer_id"].to_list():
        return "customer ids differ"
    if a["frequency"].cast(pl.Int64).to_list() != b["frequency"].cast(pl.Int64).to_list():
        return "frequency differs"
    for col in ("recency", "T", "monetary_value"):
        diff = (a[col] - b[col].cast(pl.Float64)).abs().max()
        if diff is None or float(diff) > 1e-9 * max(1.0, float(a[col].abs().max())):  # type: ignore[arg-type]
            return f"{col} differs by {diff}"
    return "equal"


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    w = sub.add_parser("worker")
    for name in ("engine", "case", "data", "out", "repeats"):
        w.add_argument(name)
    parser.add_argument("--pymc-python", default="/tmp/pymc-venv/bin/python")
    parser.add_argument("--orders", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.command == "worker":
        worker(args.engine, args.case, Path(args.data), Path(args.out), int(args.repeats))
        return

    import polars as pl

    from loyaltymetrics import datasets

    pythons = {"loyaltymetrics": sys.executable, "pymc-marketing": args.pymc_python}
    print(f"# load {os.getloadavg()[0]:.2f}; repeats {args.repeats}; medians in seconds")
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        fits = {
            e: _run(p, e, "fit", CDNOW, tmpdir / "unused", args.repeats) for e, p in pythons.items()
        }
        for engine, res in fits.items():
            params = ", ".join(f"{k}={v:.3f}" for k, v in res["params"].items())
            print(f"fit BG/NBD CDNOW  {engine:15s} {res['seconds']:8.3f} s  {params}")
        for orders in args.orders:
            # about 3 orders per customer at the CDNOW parameters (simulate_transactions)
            log = datasets.simulate_transactions(
                max(1, orders // 3), start=dt.date(2023, 1, 1), end=dt.date(2025, 1, 1), seed=7
            )
            data = tmpdir / f"log-{orders}.parquet"
            log.with_columns(pl.col("timestamp").cast(pl.Datetime("ns"))).write_parquet(data)
            outs, res = {}, {}
            for engine, python in pythons.items():
                outs[engine] = tmpdir / f"rfm-{engine}-{orders}.parquet"
                res[engine] = _run(python, engine, "rfm", data, outs[engine], args.repeats)
            check = _compare(outs["loyaltymetrics"], outs["pymc-marketing"])
            for engine, r in res.items():
                print(
                    f"rfm_summary {r['rows']:>11,} orders {engine:15s} {r['seconds']:8.3f} s"
                    f"  peak {r['peak_gib']:.2f} GiB  (tables {check})"
                )
    print(f"# load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
