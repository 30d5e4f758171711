"""Time the loyaltymetrics models against lifetimes: fits on CDNOW, fit and CLV at 1M customers.

Part 1, CDNOW (the 2,357-customer calibration summary, in weeks): the fit time of
``BetaGeoModel``, ``ModifiedBetaGeoModel``, ``ParetoNBDModel`` and ``GammaGammaModel``
(repeat buyers) against lifetimes' ``BetaGeoFitter``, ``ModifiedBetaGeoFitter``,
``ParetoNBDFitter`` and ``GammaGammaFitter``, in the same process, after checking that
the two estimates agree to ``--rtol`` (1e-3 relative).

Part 2, a simulated population (default 1,000,000 customers): RFM drawn with
``BetaGeoModel.from_params(...).simulate`` with ``T`` uniform on 1..``--max-weeks`` weeks,
mean repeat spend drawn from the Gamma-Gamma process. Timed: the BG/NBD fit, and
``customer_lifetime_value`` for every customer (12 months, 1% a month, with a
``GammaGammaModel.from_params``), against lifetimes' fit and
``GammaGammaFitter.customer_lifetime_value``. Memory is the growth of the process's
resident set size during the first run of each call (peak RSS, reset just before the
call through /proc/self/clear_refs, minus the RSS before it), so the inputs, already in
memory, are not counted.

Every figure is the median of ``--repeats`` runs (wall clock); the first run of each
call is also the one whose result is checked.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy
from _measure import Timing, source_version, time_runs

from loyaltymetrics import datasets
from loyaltymetrics.models import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    customer_lifetime_value,
)

BG_TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG_TRUE = {"p": 6.25, "q": 3.74, "v": 15.44}
FIT_TARGET_S = 5.0
CLV_TARGET_S = 2.0
LIFETIMES_WEEKS_PER_MONTH = 4.345  # lifetimes' fixed conversion for freq="W"


def measure(call: Callable[[], Any], repeats: int) -> tuple[Any, Timing]:
    """Time `repeats` runs of `call` (the first one included); return its first result."""
    return time_runs(call, repeats, warmup=False)


def _load(timing: Timing) -> str:
    return f"other load ≤ {max(timing.other_load):.2f}"


def rel_diff(ours: Mapping[str, float], theirs: Mapping[str, float]) -> float:
    """Largest relative difference between two parameter sets with the same names."""
    return max(abs(ours[k] - float(theirs[k])) / abs(float(theirs[k])) for k in ours)


def _quiet(call: Callable[[], Any]) -> Callable[[], Any]:
    """Wrap a lifetimes call so that its pandas/numpy deprecation warnings are not printed."""

    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()

    return run


def _fmt(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={float(v):.6g}" for k, v in params.items())


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- part 1


def bench_cdnow(repeats: int, rtol: float, use_lifetimes: bool) -> list[dict[str, Any]]:
    """Fit the four models on the CDNOW summary with both libraries."""
    summary = datasets.load_cdnow_summary()
    f, r, big_t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    repeat = summary.filter(pl.col("frequency") > 0)
    fr, zr = repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy()
    print(f"\n== CDNOW: {summary.height:,} customers (weeks), {repeat.height} repeat buyers")

    ours: dict[str, Callable[[], Any]] = {
        "BG/NBD": lambda: BetaGeoModel.fit(f, r, big_t),
        "MBG/NBD": lambda: ModifiedBetaGeoModel.fit(f, r, big_t),
        "Pareto/NBD": lambda: ParetoNBDModel.fit(f, r, big_t),
        "Gamma-Gamma": lambda: GammaGammaModel.fit(fr, zr),
    }
    theirs: dict[str, Callable[[], Any]] = {}
    if use_lifetimes:
        from lifetimes import (
            BetaGeoFitter,
            GammaGammaFitter,
            ModifiedBetaGeoFitter,
            ParetoNBDFitter,
        )

        theirs = {
            "BG/NBD": _quiet(lambda: BetaGeoFitter().fit(f, r, big_t)),
            "MBG/NBD": _quiet(lambda: ModifiedBetaGeoFitter().fit(f, r, big_t)),
            "Pareto/NBD": _quiet(lambda: ParetoNBDFitter().fit(f, r, big_t)),
            "Gamma-Gamma": _quiet(lambda: GammaGammaFitter().fit(fr, zr)),
        }
    rows = []
    for model, fit in ours.items():
        fitted, t_ours = measure(fit, repeats)
        row: dict[str, Any] = {
            "part": "cdnow",
            "model": model,
            "loyaltymetrics_s": t_ours.median,
            "loyaltymetrics": t_ours.as_dict(),
            "loyaltymetrics_params": dict(fitted.params),
            "loyaltymetrics_loglik": fitted.log_likelihood,
        }
        print(
            f"   {model}: loyaltymetrics {t_ours.median:.3f} s ({_fmt(fitted.params)}; "
            f"{_load(t_ours)})"
        )
        if model in theirs:
            other, t_theirs = measure(theirs[model], repeats)
            diff = rel_diff(fitted.params, other.params_)
            row.update(
                lifetimes_s=t_theirs.median,
                lifetimes=t_theirs.as_dict(),
                lifetimes_params={k: float(v) for k, v in other.params_.items()},
                max_rel_diff=diff,
                agrees=diff <= rtol,
            )
            print(
                f"   {model}: lifetimes      {t_theirs.median:.3f} s ({_fmt(other.params_)}; "
                f"{_load(t_theirs)}); max relative difference {diff:.1e}: "
                + ("agrees" if diff <= rtol else f"DISAGREES (> {rtol:g})")
            )
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- part 2


def simulate_population(
    n: int, max_weeks: float, seed: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Frequency, recency, T (weeks) from BG/NBD, and Gamma-Gamma mean repeat spend."""
    rng = np.random.default_rng(seed)
    big_t = rng.uniform(1.0, max_weeks, size=n)
    sim = BetaGeoModel.from_params(**BG_TRUE).simulate(n, big_t, seed=seed + 1)
    x = sim["frequency"].to_numpy().astype(np.float64)
    # a customer's mean of x Gamma(p, nu) spends is Gamma(p x, rate x nu), nu ~ Gamma(q, v)
    nu = rng.gamma(GG_TRUE["q"], 1.0 / GG_TRUE["v"], size=n)
    xs = np.maximum(x, 1.0)
    spend = np.where(x > 0, rng.gamma(GG_TRUE["p"] * xs, 1.0 / (xs * nu)), 0.0)
    return x, sim["recency"].to_numpy(), sim["T"].to_numpy(), spend


def bench_population(
    n: int,
    max_weeks: float,
    seed: int,
    repeats: int,
    rtol: float,
    use_lifetimes: bool,
) -> list[dict[str, Any]]:
    """BG/NBD fit and CLV on a simulated population, both libraries."""
    t0 = time.perf_counter()
    x, t_x, big_t, spend = simulate_population(n, max_weeks, seed)
    print(
        f"\n== simulated population: {n:,} customers, T uniform on [1, {max_weeks:g}] weeks, "
        f"{int((x > 0).sum()):,} repeat buyers (simulated in {time.perf_counter() - t0:.1f} s)"
    )
    print(f"   inputs: 4 float64 arrays, {4 * x.nbytes / 2**20:.0f} MB")
    gg = GammaGammaModel.from_params(**GG_TRUE)
    rows: list[dict[str, Any]] = []

    fitted, t_fit = measure(lambda: BetaGeoModel.fit(x, t_x, big_t), repeats)
    print(
        f"   loyaltymetrics BG/NBD fit: {t_fit.median:.2f} s, +{t_fit.extra_rss_mb:.0f} MB RSS "
        f"({_fmt(fitted.params)}; true {_fmt(BG_TRUE)}; {_load(t_fit)})"
    )

    def our_clv(model: BetaGeoModel = fitted) -> Any:
        return customer_lifetime_value(
            model, gg, x, t_x, big_t, spend, horizon=12, discount_rate=0.01, time_unit="W"
        )

    clv, t_clv = measure(our_clv, repeats)
    print(
        f"   loyaltymetrics CLV (12 months, all customers): {t_clv.median:.2f} s, "
        f"+{t_clv.extra_rss_mb:.0f} MB RSS (total {clv.sum():,.0f}; {_load(t_clv)})"
    )
    rows.append(_row(n, "BG/NBD fit", t_fit, FIT_TARGET_S, params=dict(fitted.params)))
    rows.append(_row(n, "CLV", t_clv, CLV_TARGET_S, total=float(clv.sum())))
    if not use_lifetimes:
        return rows

    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    other, t_lfit = measure(_quiet(lambda: BetaGeoFitter().fit(x, t_x, big_t)), repeats)
    diff = rel_diff(fitted.params, other.params_)
    print(
        f"   lifetimes BG/NBD fit: {t_lfit.median:.2f} s, +{t_lfit.extra_rss_mb:.0f} MB RSS "
        f"({_fmt(other.params_)}; {_load(t_lfit)}); max relative difference {diff:.1e}: "
        + ("agrees" if diff <= rtol else f"DISAGREES (> {rtol:g})")
    )
    rows.append(_row(n, "lifetimes BG/NBD fit", t_lfit, None, max_rel_diff=diff))

    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series(GG_TRUE)
    series = [pd.Series(a) for a in (x, t_x, big_t, spend)]

    def their_clv() -> Any:
        return ggf.customer_lifetime_value(
            other, *series, time=12, discount_rate=0.01, freq="W"
        ).to_numpy()

    lclv, t_lclv = measure(_quiet(their_clv), repeats)
    print(
        f"   lifetimes CLV: {t_lclv.median:.2f} s, +{t_lclv.extra_rss_mb:.0f} MB RSS "
        f"(total {lclv.sum():,.0f}; lifetimes counts 4.345 weeks a month, loyaltymetrics "
        f"365.25/12/7 = {365.25 / 12 / 7:.4f}; {_load(t_lclv)})"
    )
    clv_diff = _same_clv_check(fitted, gg, x, t_x, big_t, spend, series)
    print(
        f"   CLV check with one month = {LIFETIMES_WEEKS_PER_MONTH} weeks for both: "
        f"max relative difference {clv_diff:.1e}: "
        + ("agrees" if clv_diff <= rtol else f"DISAGREES (> {rtol:g})")
    )
    rows.append(_row(n, "lifetimes CLV", t_lclv, None, max_rel_diff=clv_diff))
    return rows


def _same_clv_check(
    fitted: BetaGeoModel,
    gg: GammaGammaModel,
    x: np.ndarray[Any, Any],
    t_x: np.ndarray[Any, Any],
    big_t: np.ndarray[Any, Any],
    spend: np.ndarray[Any, Any],
    series: list[Any],
) -> float:
    """Both CLVs on the same month: the data and model rescaled to lifetimes' month.

    A month of 4.345 weeks for both: recency and T divided by 4.345, the rate parameter
    alpha divided by 4.345 (the same population in months), loyaltymetrics with
    ``time_unit="M"`` and lifetimes with ``freq="M"``.
    """
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    k = LIFETIMES_WEEKS_PER_MONTH
    monthly = {**fitted.params, "alpha": fitted.params["alpha"] / k}
    ours = customer_lifetime_value(
        BetaGeoModel.from_params(**monthly),
        gg,
        x,
        t_x / k,
        big_t / k,
        spend,
        horizon=12,
        discount_rate=0.01,
        time_unit="M",
    )
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(monthly)
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # as fit() sets it
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series(GG_TRUE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ggf.customer_lifetime_value(
            bgf,
            series[0],
            series[1] / k,
            series[2] / k,
            series[3],
            time=12,
            discount_rate=0.01,
            freq="M",
        ).to_numpy()
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))


def _row(n: int, what: str, timing: Timing, target: float | None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "part": "population",
        "customers": n,
        "what": what,
        **timing.as_dict(),
        **extra,
    }
    if target is not None:
        row["target_s"] = target
        row["target_met"] = timing.median <= target
    return row


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: .venv/bin/python benchmarks/bench_models.py --json bench-models.json",
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="simulated customers")
    parser.add_argument("--max-weeks", type=float, default=78.0, help="T ~ uniform(1, this)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a check that the script still runs (.ci/bench-smoke): allows --repeats 1; "
        "use a tiny size, and read nothing into the figures",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per call, >= 3")
    parser.add_argument("--seed", type=int, default=2026, help="simulation seed")
    parser.add_argument("--rtol", type=float, default=1e-3, help="agreement of the estimates")
    parser.add_argument(
        "--lifetimes-max-customers",
        type=int,
        default=1_000_000,
        help="run lifetimes on the simulated population only up to this size (default: 1000000)",
    )
    parser.add_argument("--skip-cdnow", action="store_true", help="only the simulated part")
    parser.add_argument("--skip-population", action="store_true", help="only CDNOW")
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    args = parser.parse_args(argv)
    if args.repeats < (1 if args.smoke else 3):
        parser.error("--repeats must be at least 3 (1 with --smoke)")

    has_lifetimes = _has("lifetimes") and _has("pandas")
    if not has_lifetimes:
        print("note: lifetimes (or pandas) is not installed; timing loyaltymetrics only")
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "polars": pl.__version__,
    }
    if has_lifetimes:
        import lifetimes
        import pandas as pd

        versions.update(pandas=pd.__version__, lifetimes=lifetimes.__version__)
    versions["source"] = source_version()
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions.items() if k != "source"))
    print(versions["source"])
    print(f"cpus: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}")

    rows: list[dict[str, Any]] = []
    if not args.skip_cdnow:
        rows += bench_cdnow(args.repeats, args.rtol, has_lifetimes)
    if not args.skip_population:
        use = has_lifetimes and args.customers <= args.lifetimes_max_customers
        if has_lifetimes and not use:
            print(f"note: lifetimes skipped at {args.customers:,} > --lifetimes-max-customers")
        rows += bench_population(
            args.customers, args.max_weeks, args.seed, args.repeats, args.rtol, use
        )
        for row in rows:
            if "target_met" in row:
                verdict = "met" if row["target_met"] else "NOT met"
                print(
                    f"   target {row['what']} <= {row['target_s']:g} s at {row['customers']:,}: "
                    f"{verdict} (median {row['median_s']:.2f} s)"
                )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "rows": rows}, indent=1))
    bad = [r for r in rows if r.get("max_rel_diff", 0.0) > args.rtol]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
