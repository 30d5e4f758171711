"""Simulated transaction logs of any size for the benchmarks, made in parallel chunks.

`datasets.simulate_transactions` draws every customer's Poisson purchase events before
it cuts them at the customer's dropout, and sorts all drawn events. At the CDNOW
parameters a customer draws about 5 events and keeps about 2 (3.04 orders with the
first); at ten orders per customer (a faster purchase rate, see `alpha_for`) a customer
draws about 123 events to keep 9, so one call for millions of customers would need tens of
GB and a very long sort. `write_log` therefore calls it for chunks of customers, each with
its own seed (``seed + i`` for chunk ``i``) and its own id range (ids stay ``0 .. n-1``,
unique), in worker processes, and writes one Parquet file sorted by timestamp like the
output of a single call. A log that fits in one chunk is exactly
``simulate_transactions(n, ..., seed=seed, alpha=alpha)``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, special, stats

# The CDNOW parameters of simulate_transactions (purchase rate per day, dropout).
R = 0.243
CDNOW_ALPHA = 30.9
A, B = 0.793, 2.426
# Gamma-Gamma spend (CDNOW): shape of an order value, shape and rate of its scale.
P, Q, GAMMA = 6.25, 3.74, 15.44


def _window(start: dt.date, end: dt.date) -> tuple[int, int]:
    """(observation days, acquisition days) exactly as simulate_transactions computes them."""
    acquisition_end = start + (end - start) / 4
    return (end - start).days, (acquisition_end - start).days


def expected_orders(alpha: float, start: dt.date, end: dt.date, r: float = R) -> float:
    r"""Expected orders per customer of `simulate_transactions` (other parameters CDNOW).

    A customer acquired at day $u \sim U(0, \text{acq})$ has the window $w = \text{span} - u$,
    draws $N \sim \text{NegBin}(r, \alpha/(\alpha + w))$ purchase events (Poisson with a
    Gamma(r, α) rate) and keeps $\min(N, G)$ of them, where the number of purchases before
    dropout $G$ is geometric on $\{1, 2, …\}$ with a Beta(a, b) probability, so
    $P(G \ge k) = B(a, b + k - 1) / B(a, b)$. With $N$ and $G$ independent,
    $E[\min(N, G)] = \sum_{k \ge 1} P(N \ge k)\,P(G \ge k)$; the sum is cut where
    $P(N \ge k) < 10^{-13}$ and the mean over $u$ is a 32-point Gauss–Legendre rule.
    """
    span, acq = _window(start, end)
    nodes, weights = np.polynomial.legendre.leggauss(32)
    windows = span - acq * (nodes + 1.0) / 2.0
    k_max = int(stats.nbinom.isf(1e-13, r, alpha / (alpha + span))) + 2
    k = np.arange(1, k_max + 1)
    p_g = np.exp(special.betaln(A, B + k - 1) - special.betaln(A, B))
    total = 0.0
    for w, weight in zip(windows, weights / 2.0, strict=True):
        total += weight * float(np.sum(stats.nbinom.sf(k - 1, r, alpha / (alpha + w)) * p_g))
    return 1.0 + total


def alpha_for(orders_per_customer: float, start: dt.date, end: dt.date) -> float:
    """The rate parameter `alpha` (r = 0.243 kept) giving this many expected orders per customer.

    Only the purchase rate's scale changes (mean rate r/alpha per day), so the shape of
    the CDNOW heterogeneity and dropout stays; the tail of heavy buyers gets longer.
    """
    if orders_per_customer <= 1.0:
        raise ValueError("orders per customer must be above 1 (every customer has one order)")

    def excess(alpha: float) -> float:
        return expected_orders(alpha, start, end) - orders_per_customer

    # The expectation falls as alpha grows: bracket the root by halving or doubling.
    low, high = CDNOW_ALPHA, CDNOW_ALPHA
    while excess(low) < 0:
        low /= 2.0
    while excess(high) > 0:
        high *= 2.0
    return float(optimize.brentq(excess, low, high, xtol=1e-9, rtol=1e-10))


def events_per_customer(alpha: float, start: dt.date, end: dt.date, r: float = R) -> float:
    """Expected purchase events drawn per customer before the dropout cut: r E[w] / alpha."""
    span, acq = _window(start, end)
    return r * (span - acq / 2.0) / alpha


def chunk_customers(alpha: float, start: dt.date, end: dt.date, chunk_events: int) -> int:
    """Customers per chunk so that a chunk draws about `chunk_events` events."""
    return max(1_000, int(chunk_events / events_per_customer(alpha, start, end)))


def _part(spec: dict[str, Any]) -> tuple[str, int]:
    """Worker: one chunk of customers written to a Parquet part; (path, rows)."""
    import polars as pl

    from loyaltymetrics import datasets

    simulate = fast_log if spec.get("fast") else datasets.simulate_transactions
    log = simulate(
        spec["customers"],
        start=dt.date.fromisoformat(spec["start"]),
        end=dt.date.fromisoformat(spec["end"]),
        seed=spec["seed"],
        alpha=spec["alpha"],
    )
    if spec["offset"]:
        log = log.with_columns(pl.col("customer_id") + spec["offset"])
    if spec.get("scramble"):
        # A bijection of 0 .. n-1 (multiplier coprime to n): every part holds ids from the
        # whole range, as in a log exported by date rather than by customer.
        multiplier, n = spec["scramble"]
        ids = log["customer_id"].to_numpy().astype(np.uint64)
        scrambled = (ids * np.uint64(multiplier)) % np.uint64(n)
        log = log.with_columns(customer_id=pl.Series(scrambled.astype(np.int64)))
    log.write_parquet(spec["path"], compression="lz4")
    return spec["path"], log.height


def _merge(parts: list[str], path: str) -> dict[str, Any]:
    """Worker: the parts as one Parquet file sorted by timestamp; rows and in-memory sizes."""
    import polars as pl
    from _check import frame_mb

    log = pl.read_parquet(parts).sort("timestamp", maintain_order=True)
    log.write_parquet(path, compression="lz4")
    as_str = log.select(pl.col("customer_id").cast(pl.String), "timestamp", "amount")
    return {"rows": log.height, "input_mb": frame_mb(log), "input_str_mb": frame_mb(as_str)}


def write_log(
    path: Path,
    customers: int,
    *,
    start: dt.date,
    end: dt.date,
    seed: int,
    alpha: float,
    chunk_events: int,
    workers: int | None = None,
    fast: bool = False,
) -> dict[str, Any]:
    """Simulate `customers` customers into `path`; return rows, chunks, seconds, sizes.

    Chunks run in `workers` spawned processes (default: the number of CPUs), each writing
    a Parquet part to a temporary folder next to `path`; a last process reads the parts,
    sorts them by timestamp (stable) and writes `path`. The parent never holds the log.
    With `fast`, each chunk is drawn by `fast_log` (same distribution, different draw)
    and `chunk_events` counts kept orders rather than drawn events.
    """
    per_chunk = (
        max(1_000, round(chunk_events / expected_orders(alpha, start, end)))
        if fast
        else chunk_customers(alpha, start, end, chunk_events)
    )
    bounds = [*range(0, customers, per_chunk), customers]
    workers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # polars' thread pool does not survive fork
    with (
        tempfile.TemporaryDirectory(prefix="parts-", dir=path.parent) as tmp,
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
    ):
        specs = [
            {
                "customers": hi - lo,
                "offset": lo,
                "seed": seed + i,
                "alpha": alpha,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "path": str(Path(tmp) / f"part-{i:05d}.parquet"),
                "fast": fast,
            }
            for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
        ]
        parts = [p for p, _ in pool.map(_part, specs)]
        simulated = time.perf_counter() - t0
        info = pool.submit(_merge, parts, str(path)).result()
    info.update(
        chunks=len(specs),
        chunk_customers=per_chunk,
        simulate_s=simulated,
        total_s=time.perf_counter() - t0,
    )
    return info


def describe(alpha: float, start: dt.date, end: dt.date) -> str:
    """One line on the simulation parameters, for the report."""
    opc = expected_orders(alpha, start, end)
    events = events_per_customer(alpha, start, end)
    return (
        f"simulate_transactions(r={R}, alpha={alpha:.6g}, other parameters CDNOW): "
        f"{opc:.3f} expected orders and {events:.1f} drawn purchase events per customer"
        + (" (the CDNOW default)" if math.isclose(alpha, CDNOW_ALPHA) else "")
    )


def fast_log(
    customers: int,
    *,
    start: dt.date,
    end: dt.date,
    seed: int,
    alpha: float,
    offset: int = 0,
) -> Any:
    r"""A log with the distribution of `simulate_transactions`, drawn in O(orders), not O(events).

    `simulate_transactions` draws every customer's $N$ Poisson purchase events, sorts them
    all and keeps the first $K = \min(N, G)$: at ten orders per customer it draws about
    123 events to keep 9, which made the 500M-order log take 72 minutes. Here only the $K$
    kept times are drawn: the sorted values of $N$ i.i.d. U(0, 1) are distributed as
    $(S_1, …, S_N) / S_{N+1}$, with $S_i$ the partial sums of $N + 1$ i.i.d. Exp(1)
    (Devroye 1986, *Non-Uniform Random Variate Generation*, V.2.2), so the first $K$ are
    $S_1, …, S_K$ over $S_K + \text{Gamma}(N + 1 - K)$: $K$ exponentials and one gamma
    per customer. Every other draw (acquisition, rate, dropout, spend) is the same as
    `simulate_transactions`'; the random stream differs, so the log is a different draw
    of the same distribution (checked by `check_fast`), not the same rows. Sorted by
    timestamp (stable); ids are ``offset .. offset + customers - 1``.
    """
    import polars as pl

    span, acq = _window(start, end)
    rng = np.random.default_rng(seed)
    n = customers
    birth = rng.uniform(0.0, acq, size=n)
    rate = rng.gamma(R, 1.0 / alpha, size=n)
    dropout = rng.beta(A, B, size=n)
    scale = rng.gamma(Q, 1.0 / GAMMA, size=n)  # nu_i
    window = span - birth
    events = rng.poisson(rate * window)
    repeats = np.minimum(events, rng.geometric(dropout))
    owner = np.repeat(np.arange(n, dtype=np.int64), repeats)
    starts = np.cumsum(repeats) - repeats
    partial = np.cumsum(rng.standard_exponential(owner.size))
    # S_i within each customer: the running sum minus the sum before the customer's first
    before = np.concatenate([[0.0], partial])[starts]
    s = partial - np.repeat(before, repeats)
    has = repeats > 0
    last = np.zeros(n)
    last[has] = s[starts[has] + repeats[has] - 1]
    total = last + rng.standard_gamma(np.maximum(events + 1 - repeats, 1).astype(np.float64))
    u = s / total[owner]
    repeat_time = birth[owner] + u * window[owner]
    ids = np.concatenate([np.arange(n, dtype=np.int64), owner])
    days = np.concatenate([birth, repeat_time])
    amount = np.round(rng.gamma(P, 1.0 / scale[ids]), 2)
    by_time = np.argsort(days, kind="stable")
    micros = np.datetime64(start, "us") + (days[by_time] * 86_400e6).astype("timedelta64[us]")
    return pl.DataFrame(
        {"customer_id": ids[by_time] + offset, "timestamp": micros, "amount": amount[by_time]},
        schema={"customer_id": pl.Int64, "timestamp": pl.Datetime("us"), "amount": pl.Float64},
    )
