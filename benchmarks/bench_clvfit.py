"""The BG/NBD fit and the CLV at 1,000,000 customers, now against the previous algorithms.

The population of ``bench_models.py`` (``simulate_population``: BG/NBD at the CDNOW
parameters, T uniform on 1..``--max-weeks`` weeks). In one process, interleaved, each
call ``--repeats`` times; the figures are the medians of the wall and CPU seconds (CPU
is the steadier one on a loaded machine) and the load average.

* ``fit``: ``BetaGeoModel.fit`` (grouped likelihood, one OpenBLAS thread in L-BFGS-B);
* ``fit, before``: the previous algorithm rebuilt from the code that still exists: the
  weighted sums of the per-customer ``_bg_nbd._loglik_terms``, L-BFGS-B with scipy's
  default OpenBLAS threads and ``_uncertainty.beta_geometric_hessian``;
* ``clv``: ``customer_lifetime_value`` (12 months, 1 % a month; interpolated per
  frequency);
* ``clv, month by month``: the same with ``_clv._INTERPOLATE_MIN`` raised, so every
  customer takes the exact per-month path (the previous algorithm).

The results are compared first: the two fits' estimates (largest relative difference)
and the two CLVs (largest relative difference)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_clvfit.py --customers 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from bench_models import GG_TRUE, simulate_population

from loyaltymetrics.models import BetaGeoModel, GammaGammaModel, _clv, customer_lifetime_value
from loyaltymetrics.models import _base as b
from loyaltymetrics.models import _uncertainty as u
from loyaltymetrics.models._bg_nbd import _loglik_terms


@contextlib.contextmanager
def _default_blas_threads() -> Iterator[None]:
    saved = b._one_blas_thread
    b._one_blas_thread = contextlib.nullcontext  # type: ignore[assignment]
    try:
        yield
    finally:
        b._one_blas_thread = saved  # type: ignore[assignment]


def fit_before(x: Any, t_x: Any, big_t: Any) -> dict[str, float]:
    """The previous fit: per-customer terms, default BLAS threads, per-customer Hessian."""
    w = np.ones(x.size)
    groups = np.unique(x, return_inverse=True)

    def objective(p: Any) -> tuple[float, Any]:
        ll, grads = _loglik_terms(p, x, t_x, big_t, groups)
        return b.wsum(w, ll), np.array([b.wsum(w, g) for g in grads])

    n = float(x.size)
    start = np.array([1.0, max(float(big_t.mean()) / max(float(x.mean()), 1e-3), 1e-3), 1.0, 1.0])
    with _default_blas_threads():
        params, _ = b.fit_mle(objective, start, BetaGeoModel.PARAM_NAMES, n)
    hess = u.beta_geometric_hessian(
        np.array(list(params.values())), x, t_x, big_t, w, modified=False
    )
    u.observed_covariance(params, hessian=hess)
    return params


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--max-weeks", type=float, default=78.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x, t_x, big_t, spend = simulate_population(args.customers, args.max_weeks, args.seed)
    gg = GammaGammaModel.from_params(**GG_TRUE)
    fitted = BetaGeoModel.fit(x, t_x, big_t)

    def clv() -> Any:
        return customer_lifetime_value(
            fitted, gg, x, t_x, big_t, spend, horizon=12, discount_rate=0.01, time_unit="W"
        )

    def clv_month_by_month() -> Any:
        saved = _clv._INTERPOLATE_MIN
        _clv._INTERPOLATE_MIN = 1 << 62
        try:
            return clv()
        finally:
            _clv._INTERPOLATE_MIN = saved

    before = fit_before(x, t_x, big_t)
    fit_diff = max(abs(fitted.params[k] / before[k] - 1) for k in before)
    a, e = clv(), clv_month_by_month()
    clv_diff = float(np.max(np.abs(a - e) / np.maximum(np.abs(e), 1e-300)))
    print(
        f"{args.customers:,} customers, {int((x > 0).sum()):,} repeat buyers; "
        f"fit {fitted!r}, largest relative difference from before {fit_diff:.1e}; "
        f"CLV total {a.sum():.6f}, largest relative difference month by month {clv_diff:.1e}"
    )
    calls: dict[str, Callable[[], Any]] = {
        "fit": lambda: BetaGeoModel.fit(x, t_x, big_t),
        "fit, before": lambda: fit_before(x, t_x, big_t),
        "clv": clv,
        "clv, month by month": clv_month_by_month,
    }
    wall: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, list[float]] = {k: [] for k in calls}
    loads = []
    for _ in range(args.repeats):
        for name, call in calls.items():
            t0, c0 = time.perf_counter(), time.process_time()
            call()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            loads.append(os.getloadavg()[0])
    print(f"load average {min(loads):.1f}-{max(loads):.1f} during the runs")
    print("| call | median wall s | median CPU s | wall runs |")
    print("|---|---:|---:|---|")
    for name in calls:
        runs = ", ".join(f"{w:.2f}" for w in wall[name])
        print(
            f"| {name} | {statistics.median(wall[name]):.2f} | "
            f"{statistics.median(cpu[name]):.2f} | {runs} |"
        )


if __name__ == "__main__":
    main()
