"""The benchmarks' fast log generator draws the distribution of `simulate_transactions`.

`benchmarks/_logs.fast_log` draws only the kept orders (uniform order statistics from
exponential spacings) where `simulate_transactions` draws and sorts every Poisson event;
the benchmark figures of 50M and 500M orders rest on the two being the same process.
Compared here on 40,000 customers each (different seeds: independent samples) with
two-sample Kolmogorov-Smirnov tests per customer (orders, first and last order day,
mean order value), and against the exact expected orders per customer.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl
import pytest
from scipy import stats

from loyaltymetrics import datasets

START, END = dt.date(2023, 1, 1), dt.date(2025, 1, 1)
N = 40_000


@pytest.fixture(scope="module")
def logs_module() -> ModuleType:
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if not (folder / "_logs.py").exists():  # the sdist ships the tests, not the benchmarks
        pytest.skip("benchmarks/ is not here (an unpacked sdist): nothing to check")
    spec = importlib.util.spec_from_file_location("bench_logs_under_test", folder / "_logs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))  # _logs imports _check lazily, in its merge worker
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def per_customer(log: pl.DataFrame) -> pl.DataFrame:
    day = (pl.col("timestamp") - pl.lit(dt.datetime(2023, 1, 1))).dt.total_seconds() / 86_400
    return log.group_by("customer_id").agg(
        orders=pl.len(),
        first=day.min(),
        last=day.max(),
        value=pl.col("amount").mean(),
    )


@pytest.mark.parametrize("alpha", [1.26171, 30.9])  # ten orders per customer; CDNOW's rate
def test_fast_log_has_the_distribution_of_simulate_transactions(
    logs_module: ModuleType, alpha: float
) -> None:
    fast = logs_module.fast_log(N, start=START, end=END, seed=11, alpha=alpha, offset=5)
    slow = datasets.simulate_transactions(N, start=START, end=END, seed=12, alpha=alpha)
    assert fast.schema == slow.schema
    assert fast["timestamp"].is_sorted()
    assert fast["timestamp"].min() >= dt.datetime(2023, 1, 1)
    assert fast["timestamp"].max() < dt.datetime(2025, 1, 1)
    ids = fast["customer_id"].unique().sort()
    assert ids.to_list() == list(range(5, N + 5))  # every customer has an order
    a, b = per_customer(fast), per_customer(slow)
    for column in ("orders", "first", "last", "value"):
        result = stats.ks_2samp(a[column].to_numpy(), b[column].to_numpy())
        assert result.pvalue > 1e-3, (column, result)
    expected = logs_module.expected_orders(alpha, START, END)
    sd = np.sqrt(a["orders"].var() / N)
    assert abs(a["orders"].mean() - expected) < 4 * sd
