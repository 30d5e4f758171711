"""The rules of ``loyaltymetrics._rules``, each run in numpy, polars and narwhals.

One function per rule serves the three dialects; these tests run it in each on the same
inputs and require the same numbers (bit for bit where the arithmetic is the same IEEE
double), plus hand-computed values and the textbook formulas from scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from loyaltymetrics import _rules

nw = pytest.importorskip("narwhals.stable.v2")

from loyaltymetrics.tables import _narwhals  # noqa: E402

NW = _narwhals.namespace(nw)

Rule = Callable[..., tuple[Any, Any]]


_DUCKDB_CONNECTIONS: list[Any] = []


def _in_three_dialects(
    rule: Callable[[dict[str, Any], _rules.Namespace[Any]], tuple[Any, Any]],
    columns: dict[str, list[float]],
) -> list[np.ndarray]:
    """Bounds from numpy, polars and narwhals (over polars and DuckDB), as float arrays."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = rule(arrays, _rules.NUMPY)
    out = [np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)]
    frame = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Float64))
    lo, hi = rule({k: pl.col(k) for k in columns}, _rules.POLARS)
    got = frame.select(lo.alias("low"), hi.alias("high"))
    out += [got["low"].to_numpy(), got["high"].to_numpy()]
    natives: list[Any] = [frame]
    duckdb = pytest.importorskip("duckdb")
    # held, as a user holds theirs: duckdb < 1.5 closes a connection nobody holds
    connection = duckdb.connect()
    _DUCKDB_CONNECTIONS.append(connection)
    natives.append(connection.from_arrow(frame.to_arrow()))
    for native in natives:
        lo, hi = rule({k: nw.col(k) for k in columns}, NW)
        res = nw.from_native(native).select(lo.alias("low"), hi.alias("high"))
        if isinstance(res, nw.LazyFrame):
            res = res.collect()
        got = res.to_polars()
        out += [got["low"].cast(pl.Float64).to_numpy(), got["high"].cast(pl.Float64).to_numpy()]
    return out


def _assert_same(bounds: list[np.ndarray]) -> None:
    low, high = bounds[0], bounds[1]
    for i in range(2, len(bounds), 2):
        np.testing.assert_array_equal(
            np.nan_to_num(bounds[i], nan=-9e9), np.nan_to_num(low, nan=-9e9)
        )
        np.testing.assert_array_equal(
            np.nan_to_num(bounds[i + 1], nan=-9e9), np.nan_to_num(high, nan=-9e9)
        )


counts = st.integers(0, 60)


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.tuples(counts, counts, counts), min_size=1, max_size=6))
def test_nps_bounds_are_the_same_in_every_dialect(data: list[tuple[int, int, int]]) -> None:
    promoters = [float(p) for p, _, _ in data]
    detractors = [float(d) for _, d, _ in data]
    n = [float(p + d + o) for p, d, o in data]
    observed = [
        100.0 * (p - d) / t if t else math.nan
        for p, d, t in zip(promoters, detractors, n, strict=True)
    ]
    z = _rules.z_quantile(0.95)

    def rule(c: dict[str, Any], ns: _rules.Namespace[Any]) -> tuple[Any, Any]:
        return _rules.nps_bounds(c["p"], c["d"], c["n"], c["obs"], z, ns)

    cols = {
        "p": promoters,
        "d": detractors,
        "n": n,
        "obs": [0.0 if math.isnan(o) else o for o in observed],
    }
    bounds = _in_three_dialects(rule, cols)
    _assert_same(bounds)
    low, high = bounds[0], bounds[1]
    for i, obs in enumerate(observed):
        if n[i] == 0:
            assert math.isnan(low[i])
            assert math.isnan(high[i])
        else:  # the interval contains its own estimate and stays in [-100, 100]
            assert -100.0 <= low[i] <= obs <= high[i] <= 100.0


def test_single_detractor_nps_interval_is_clamped_to_the_estimate() -> None:
    # adjusted shares (0 + 3/4)/4 and (1 + 3/4)/4: centre -1/4, so the clipped low bound
    # would be -98.5, above the observed -100; the rule widens it to -100
    z = _rules.z_quantile(0.95)
    centre, variance = _rules.nps_adjusted(0.0, 1.0, 1.0)
    assert centre == pytest.approx(-0.25)
    assert variance == pytest.approx((0.1875 + 0.4375 - 0.0625) / 4)
    assert 100 * (centre - z * math.sqrt(variance)) == pytest.approx(-98.5, abs=0.01)

    def rule(c: dict[str, Any], ns: _rules.Namespace[Any]) -> tuple[Any, Any]:
        return _rules.nps_bounds(c["p"], c["d"], c["n"], c["obs"], z, ns)

    bounds = _in_three_dialects(rule, {"p": [0.0], "d": [1.0], "n": [1.0], "obs": [-100.0]})
    _assert_same(bounds)
    assert bounds[0][0] == -100.0
    assert bounds[1][0] == pytest.approx(100 * (centre + z * math.sqrt(variance)))


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.tuples(counts, counts), min_size=1, max_size=6))
def test_wilson_bounds_match_scipy_in_every_dialect(data: list[tuple[int, int]]) -> None:
    successes = [float(min(s, t)) for s, t in data]
    n = [float(t) for _, t in data]
    z = _rules.z_quantile(0.9)

    def rule(c: dict[str, Any], ns: _rules.Namespace[Any]) -> tuple[Any, Any]:
        return _rules.wilson_bounds(c["x"], c["n"], z, ns)

    bounds = _in_three_dialects(rule, {"x": successes, "n": n})
    _assert_same(bounds)
    for i, (x, t) in enumerate(zip(successes, n, strict=True)):
        if t == 0:
            assert math.isnan(bounds[0][i])
            continue
        ci = sps.binomtest(int(x), int(t)).proportion_ci(0.9, method="wilson")
        assert bounds[0][i] == pytest.approx(ci.low, abs=1e-12)
        assert bounds[1][i] == pytest.approx(ci.high, abs=1e-12)


def test_mean_bounds_and_t_quantiles() -> None:
    t = _rules.t_quantiles(np.array([0.0, 1.0, 4.0, 0.5]), 0.95)
    assert math.isnan(t[0])
    assert t[1] == pytest.approx(sps.t.ppf(0.975, 1))
    assert t[2] == pytest.approx(2.7764451051977987)  # tables of Student's t, 4 dof
    assert t[3] == pytest.approx(sps.t.ppf(0.975, 0.5))

    def rule(c: dict[str, Any], ns: _rules.Namespace[Any]) -> tuple[Any, Any]:
        return _rules.mean_bounds(c["m"], c["s"], c["n"], c["t"], ns)

    cols = {
        "m": [4.0, 3.0, 2.0],
        "s": [1.0, 2.0, 0.5],
        "n": [5.0, 1.0, 0.0],
        "t": [2.776, 0.0, 0.0],
    }
    bounds = _in_three_dialects(rule, cols)
    _assert_same(bounds)
    assert bounds[0][0] == pytest.approx(4.0 - 2.776 / math.sqrt(5))
    assert math.isnan(bounds[0][1])
    assert math.isnan(bounds[1][2])


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.999])
def test_t_quantile_expansion_matches_scipy_in_every_dialect(confidence: float) -> None:
    dof = np.arange(0, 3000, 7, dtype=np.float64)

    def rule(c: dict[str, Any], ns: _rules.Namespace[Any]) -> tuple[Any, Any]:
        q = _rules.t_quantile_expansion(c["dof"], confidence, ns)
        return q, q

    bounds = _in_three_dialects(rule, {"dof": list(dof)})
    _assert_same(bounds)
    exact = _rules.t_quantiles(dof, confidence)
    assert math.isnan(bounds[0][0])
    np.testing.assert_allclose(bounds[0][1:], exact[1:], rtol=_rules.T_TOLERANCE)


def test_null_if_zero_in_every_dialect() -> None:
    def rule(c: dict[str, Any], ns: _rules.Namespace[Any]) -> tuple[Any, Any]:
        r = _rules.null_if_zero(c["a"], c["b"], ns)
        return r, r

    bounds = _in_three_dialects(rule, {"a": [1.0, 3.0, 0.0], "b": [2.0, 0.0, 4.0]})
    _assert_same(bounds)
    assert bounds[0][0] == 0.5
    assert math.isnan(bounds[0][1])
    assert bounds[0][2] == 0.0


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1, "0.9", math.nan])
def test_z_quantile_rejects_bad_confidence(confidence: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="confidence"):
        _rules.z_quantile(confidence)


def test_z_quantile_value() -> None:
    assert _rules.z_quantile(0.95) == pytest.approx(1.959963984540054)


@settings(max_examples=30, deadline=None)
@given(
    bases=st.lists(st.integers(-100_000, 100_000), min_size=1, max_size=20),
    unit=st.sampled_from(["D", "W", "M", "Q", "Y", "h"]),
    n=st.integers(1, 5),
)
def test_period_bucket_is_the_same_for_ints_polars_and_narwhals(
    bases: list[int], unit: str, n: int
) -> None:
    from loyaltymetrics._periods import bucket, first_of

    python = [bucket(b, unit, n) for b in bases]
    frame = pl.DataFrame({"b": bases}, schema={"b": pl.Int64})
    assert frame.select(bucket(pl.col("b"), unit, n))["b"].to_list() == python
    native = nw.from_native(frame).select(bucket(nw.col("b"), unit, n)).to_native()
    assert native["b"].to_list() == python
    # floor division: the first unit of a period is in it, and the next period starts after
    for b, index in zip(bases, python, strict=True):
        first = first_of(index, unit, n)
        assert bucket(first, unit, n) == index
        assert first <= b
        assert bucket(first_of(index + 1, unit, n), unit, n) == index + 1
    if unit == "W":  # weeks start on Mondays: day -3 is Monday 1969-12-29
        assert bucket(-3, "W") == 0
        assert bucket(-4, "W") == -1
