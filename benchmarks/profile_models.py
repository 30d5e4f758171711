"""Where the time of the BG/NBD fit and of the CLV goes, at 1,000,000 customers.

The population of ``bench_models.py`` (``simulate_population``). For each call: the
median of 3 runs (wall and CPU seconds; CPU time is the steadier figure on a loaded
machine), then a cProfile of one run, sorted by own time::

    .venv/bin/python benchmarks/profile_models.py --customers 1000000
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_models import GG_TRUE, simulate_population

from loyaltymetrics.models import BetaGeoModel, GammaGammaModel, customer_lifetime_value


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--lines", type=int, default=12, help="profile lines to print")
    args = parser.parse_args()
    x, t_x, big_t, spend = simulate_population(args.customers, 78.0, args.seed)
    gg = GammaGammaModel.from_params(**GG_TRUE)
    fitted = BetaGeoModel.fit(x, t_x, big_t)

    def clv() -> Any:
        return customer_lifetime_value(
            fitted, gg, x, t_x, big_t, spend, horizon=12, discount_rate=0.01, time_unit="W"
        )

    calls: dict[str, Callable[[], Any]] = {
        "BG/NBD fit": lambda: BetaGeoModel.fit(x, t_x, big_t),
        "CLV": clv,
    }
    for name, call in calls.items():
        wall, cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            call()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(
            f"{name}: median {statistics.median(wall):.2f} s wall, "
            f"{statistics.median(cpu):.2f} s CPU; load average {os.getloadavg()[0]:.1f}"
        )
    for name, call in calls.items():
        profile = cProfile.Profile()
        profile.enable()
        call()
        profile.disable()
        print(f"\n== {name}")
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.lines)


if __name__ == "__main__":
    main()
