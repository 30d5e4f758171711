"""Time the uncertainty of the models: covariance vs a bootstrap, predict and the CLV interval.

Part 1, CDNOW (2,357 customers, weeks): ``BetaGeoModel.fit`` (which now computes the
covariance from the analytic Hessian) against the bootstrap that CLVTools describes for
its standard errors (resample the customers with replacement, refit, 100 times), timed
as an equivalent loop of our own fits; the bootstrap standard errors are printed next to
the Hessian ones. lifetimes (Hessian standard errors only) is timed too if installed.

Part 2, a simulated population (default 1,000,000 customers, BG/NBD process with
CDNOW-like parameters, ``T`` uniform on 1..52 weeks, continuous, so the CLV interval
takes its spline path): ``predict(39, ..., n_draws=200)`` and
``customer_lifetime_value_interval`` (12 months, BG/NBD + Gamma-Gamma, delta method).
Memory is the growth of the peak RSS over the RSS before the call (inputs not counted).

Run from the repository root on an otherwise idle machine::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_uncertainty.py --customers 1000000

Every line reports wall seconds, CPU seconds and the "other load" (CPU seconds used by
other processes per wall second, see README.md).

``--against COMMIT`` (part 2 only) also times `predict` with ``models/_prediction.py`` of
that commit (read with ``git show``), alternating the two versions in this one process
(``--repeats`` rounds, the order swapped every round, so both see the same load), and
checks that the two tables are equal::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_uncertainty.py --customers 1000000 \
        --skip-cdnow --predict-only --against 0626e71 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from _measure import Timing, source_version, time_runs

from loyaltymetrics import datasets, models


def _line(name: str, t: Timing) -> str:
    return (
        f"{name:<48} wall {t.median:8.2f} s  cpu {np.median(t.cpu):8.2f} s  "
        f"other load {np.median(t.other_load):4.2f}  extra RSS {t.extra_rss_mb:7.0f} MiB"
    )


def cdnow(repeats: int, refits: int) -> None:
    """Part 1: CDNOW fit with covariance, the bootstrap loop, Pareto/NBD, lifetimes."""
    c = datasets.load_cdnow_summary()
    rfm = tuple(c[k].to_numpy().astype(float) for k in ("frequency", "recency", "T"))
    fitted, t_fit = time_runs(lambda: models.BetaGeoModel.fit(*rfm), repeats, warmup=True)
    print(_line("BG/NBD fit + analytic-Hessian covariance", t_fit))
    rng = np.random.default_rng(0)
    picks = [rng.integers(0, rfm[0].size, rfm[0].size) for _ in range(refits)]

    def bootstrap() -> np.ndarray:
        est = [list(models.BetaGeoModel.fit(*(a[i] for a in rfm)).params.values()) for i in picks]
        return np.asarray(np.std(est, axis=0, ddof=1))

    boot_se, t_boot = time_runs(bootstrap, 1, warmup=False)
    print(_line(f"bootstrap: {refits} refits of our BG/NBD", t_boot))
    print("  standard errors  Hessian:", np.sqrt(np.diag(fitted.covariance)).round(4).tolist())
    print("                   bootstrap:", np.asarray(boot_se).round(4).tolist())
    p, t_p = time_runs(lambda: models.ParetoNBDModel.fit(*rfm), 1, warmup=False)
    print(_line("Pareto/NBD fit + Richardson finite-difference covariance", t_p))
    print("  Pareto/NBD standard errors:", np.sqrt(np.diag(p.covariance)).round(4).tolist())
    if importlib.util.find_spec("lifetimes") is None:
        print("lifetimes: not installed, skipped")
    else:  # pragma: no cover - optional
        from lifetimes import BetaGeoFitter

        def lt() -> Any:
            return BetaGeoFitter().fit(*rfm)

        fitter, t_lt = time_runs(lt, repeats, warmup=True)
        print(_line("lifetimes BetaGeoFitter.fit (Hessian SEs)", t_lt))
        print("  lifetimes standard errors:", fitter.standard_errors_.round(4).tolist())


def _old_prediction(commit: str) -> ModuleType:
    """``models/_prediction.py`` of `commit`, loaded as a module of the installed package."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{commit}:src/loyaltymetrics/models/_prediction.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    name = "loyaltymetrics.models._prediction_at_" + commit
    module = ModuleType(name)
    module.__package__ = "loyaltymetrics.models"
    sys.modules[name] = module
    exec(compile(source, f"{commit}:_prediction.py", "exec"), module.__dict__)
    return module


def against(bg: Any, data: tuple[np.ndarray, ...], n_draws: int, rounds: int, commit: str) -> None:
    """`predict` of this checkout and of `commit`, alternated in this process."""
    old = _old_prediction(commit)
    cls = type(bg)

    # every method of the old mixins (predict calls the class's _window_start,
    # _p_alive_interval, _kernel, ...), put on the class for the old runs only
    methods = {
        k: f
        for mixin in (old._Prediction, old.BetaGeoPrediction)
        for k, f in vars(mixin).items()
        if callable(f) and not k.startswith("__")
    }

    def run_old() -> Any:
        saved = {k: vars(cls).get(k) for k in methods}
        for k, f in methods.items():
            setattr(cls, k, f)
        try:
            return cls.predict(bg, 39.0, *data, n_draws=n_draws, seed=1)
        finally:
            for k, f in saved.items():
                if f is None:
                    delattr(cls, k)
                else:
                    setattr(cls, k, f)

    def run_new() -> Any:
        return bg.predict(39.0, *data, n_draws=n_draws, seed=1)

    runs: dict[str, list[Timing]] = {"this checkout": [], commit: []}
    results: dict[str, Any] = {}
    for i in range(rounds):
        order = [("this checkout", run_new), (commit, run_old)]
        for name, call in order if i % 2 else order[::-1]:
            results[name], t = time_runs(call, 1, warmup=False)
            runs[name].append(t)
            print(_line(f"  round {i + 1}: predict at {name}", t))
    for name, ts in runs.items():
        wall = np.median([t.median for t in ts])
        cpu = np.median([np.median(t.cpu) for t in ts])
        print(f"  median of {rounds}, predict at {name}: wall {wall:.2f} s  cpu {cpu:.2f} s")
    same = results["this checkout"].equals(results[commit])
    print("  the two tables are", "equal" if same else "NOT EQUAL")


def population(
    n: int, n_draws: int, repeats: int, predict_only: bool = False, commit: str | None = None
) -> None:
    """Part 2: predict and the CLV interval on a simulated population."""
    truth = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    big_t = np.random.default_rng(1).uniform(1.0, 52.0, n)
    sim = truth.simulate(n, big_t, seed=2)
    x, t_x, tt = (sim[k].to_numpy().astype(float) for k in ("frequency", "recency", "T"))
    bg = models.BetaGeoModel.fit(x, t_x, tt)
    if commit is not None:
        against(bg, (x, t_x, tt), n_draws, repeats, commit)
        return
    spend = np.where(x > 0, np.random.default_rng(3).gamma(6.25, 35.0 / 6.25, n), 0.0)
    rep = x > 0
    gg = models.GammaGammaModel.fit(x[rep], spend[rep])
    out, t_pred = time_runs(
        lambda: bg.predict(39.0, x, t_x, tt, n_draws=n_draws, seed=1), repeats, warmup=False
    )
    print(_line(f"BG/NBD predict, {n:,} customers, n_draws={n_draws}", t_pred))
    print(
        f"  mean interval [{out['purchases_low'].mean():.3f}, {out['purchases_high'].mean():.3f}]"
    )
    if predict_only:
        return
    _clv, t_clv = time_runs(
        lambda: models.customer_lifetime_value_interval(bg, gg, x, t_x, tt, spend, time_unit="W"),
        repeats,
        warmup=False,
    )
    print(_line(f"customer_lifetime_value_interval, {n:,} customers", t_clv))
    _, t_point = time_runs(
        lambda: models.customer_lifetime_value(bg, gg, x, t_x, tt, spend, time_unit="W"),
        repeats,
        warmup=False,
    )
    print(_line("  of which customer_lifetime_value alone", t_point))


def main() -> None:
    """Parse the options and run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--refits", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-cdnow", action="store_true")
    parser.add_argument("--predict-only", action="store_true", help="part 2: predict only")
    parser.add_argument(
        "--against", metavar="COMMIT", help="part 2: predict here vs at COMMIT, alternated"
    )
    args = parser.parse_args()
    print(source_version(), "python", sys.version.split()[0])
    if not args.skip_cdnow:
        cdnow(args.repeats, args.refits)
    population(args.customers, args.draws, args.repeats, args.predict_only, args.against)


if __name__ == "__main__":
    main()
