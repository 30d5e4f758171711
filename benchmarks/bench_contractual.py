"""Time the contractual (subscription) side: model fits at 1M customers, tables at 10M rows.

Part 1, fits: ``--customers`` (default 1,000,000) per-customer (lifetime, churned) rows
drawn with ``ShiftedBetaGeometricModel.from_params(alpha=0.7, beta=1.2).simulate`` over
12 periods (and, for the BdW, from ``BetaDiscreteWeibullModel(gamma=0.9, delta=2.5,
c=1.6)``). Timed: ``ShiftedBetaGeometricModel.fit`` and ``BetaDiscreteWeibullModel.fit``
on the per-customer rows (validation, compression to (lifetime, churned) patterns with
a bincount, maximum likelihood, Hessian), the compression step alone, and
``stats.survival_curve``. Target: a fit under 0.5 s.

Part 2, tables: a log of ``--subscriptions`` (default 10,000,000) subscriptions, one
row each: ``Int64`` id, ``Date`` start uniform over 2020-2023, a geometric number of
20-40 day spells to the end, null when the end is after the observation end
(2024-06-30). Timed: ``tables.subscription_lifetimes`` and ``tables.survival_table``
with ``period="1mo"`` (calendar months, clamped days) and ``period="30d"``, eager and
lazy (``.lazy()`` in, ``.collect()`` timed); the lazy result is checked to equal the
eager one. Target: a few seconds at 10M.

Every figure is the median of ``--repeats`` runs after one warm-up run, with the "other
load" of the machine (see ``_measure.py``). Run from the repository root::

    .venv/bin/python benchmarks/bench_contractual.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
from _measure import Timing, source_version, time_runs

from loyaltymetrics import stats, tables
from loyaltymetrics._lifetimes import check_lifetimes, compress
from loyaltymetrics.models import BetaDiscreteWeibullModel, ShiftedBetaGeometricModel
from loyaltymetrics.models._base import check_weights

OBSERVATION_END = dt.date(2024, 6, 30)


def _report(name: str, timing: Timing, extra: str = "") -> None:
    load = max(timing.other_load) if timing.other_load else float("nan")
    print(
        f"{name:<58} {timing.median:8.3f} s   (runs {', '.join(f'{w:.3f}' for w in timing.wall)};"
        f" other load ≤ {load:.2f}){extra}"
    )


def bench_fits(n: int, repeats: int) -> None:
    """Part 1: the fits and the Kaplan-Meier curve on `n` simulated customers."""
    sbg = ShiftedBetaGeometricModel.from_params(alpha=0.7, beta=1.2)
    bdw = BetaDiscreteWeibullModel.from_params(gamma=0.9, delta=2.5, c=1.6)
    s_rows = sbg.simulate(n, 12, seed=1)
    b_rows = bdw.simulate(n, 12, seed=2)
    life, churned = s_rows["lifetime"].to_numpy(), s_rows["churned"].to_numpy()
    b_life, b_churned = b_rows["lifetime"].to_numpy(), b_rows["churned"].to_numpy()
    print(f"\n== fits on {n:,} per-customer rows (12 periods observed)")

    def compress_only() -> Any:
        lv, fl = check_lifetimes(life, churned)
        return compress(lv, fl, check_weights(None, lv.shape[0]))

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("validate + compress to patterns", compress_only),
        ("ShiftedBetaGeometricModel.fit", lambda: ShiftedBetaGeometricModel.fit(life, churned)),
        (
            "BetaDiscreteWeibullModel.fit (includes an sBG start)",
            lambda: BetaDiscreteWeibullModel.fit(b_life, b_churned),
        ),
        ("stats.survival_curve", lambda: stats.survival_curve(life, churned)),
    ]
    for name, call in cases:
        result, timing = time_runs(call, repeats, warmup=True)
        extra = ""
        if hasattr(result, "params"):
            extra = "  " + repr(result)
        _report(name, timing, extra)


def subscription_log(n: int) -> pl.DataFrame:
    """A simulated log of `n` subscriptions (see the module docstring)."""
    rng = np.random.default_rng(0)
    start = np.datetime64("2020-01-01") + rng.integers(0, 4 * 365, n).astype("timedelta64[D]")
    spell = rng.geometric(0.05, n) * rng.integers(20, 40, n)
    end = start + spell.astype("timedelta64[D]")
    open_ = end > np.datetime64(OBSERVATION_END)
    return pl.DataFrame(
        {"customer_id": np.arange(n, dtype=np.int64), "start": start, "end": end}
    ).with_columns(pl.when(pl.Series(open_)).then(None).otherwise(pl.col("end")).alias("end"))


def bench_tables(n: int, repeats: int) -> None:
    """Part 2: the two tables, eager and lazy, on `n` subscriptions."""
    log = subscription_log(n)
    print(
        f"\n== tables on {n:,} subscriptions ({log['end'].null_count():,} active at "
        f"{OBSERVATION_END})"
    )
    for function in (tables.subscription_lifetimes, tables.survival_table):
        for period in ("1mo", "30d"):

            def eager(f: Any = function, p: str = period) -> Any:
                return f(log, period=p, observation_end=OBSERVATION_END)

            def lazy(f: Any = function, p: str = period) -> Any:
                return f(log.lazy(), period=p, observation_end=OBSERVATION_END).collect()

            first, timing = time_runs(eager, repeats, warmup=True)
            _report(f"{function.__name__}(period={period!r}) eager", timing)
            lazy_first, timing = time_runs(lazy, repeats, warmup=True)
            assert lazy_first.equals(first), "lazy and eager results differ"
            _report(f"{function.__name__}(period={period!r}) lazy", timing)


def main() -> None:
    """Parse the options and run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-tables", action="store_true")
    args = parser.parse_args()
    print(source_version())
    print(
        f"python {platform.python_version()}, polars {pl.__version__}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores"
    )
    bench_fits(args.customers, args.repeats)
    if not args.skip_tables:
        bench_tables(args.subscriptions, args.repeats)


if __name__ == "__main__":
    main()
