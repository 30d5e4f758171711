# Property tests for the top-level formulas of ``loyaltymetrics``.
#
# Every expected value below is derived from the public contract (shared/API.md sections 1 and 6,
# the Conventions, and shared/DEFINITIONS.md), never from the implementation.
from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import loyaltymetrics as lm

REL = 1e-9
ABS = 1e-9

# No wall-clock deadline: the first call may import or compile lazily.
SETTINGS = settings(deadline=None)

# A non-negative weight that is either exactly zero or comfortably representable after scaling.
WEIGHT = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e3))
POSITIVE_WEIGHT = st.floats(min_value=1e-3, max_value=1e3)
SCALE_FACTOR = st.floats(min_value=1e-3, max_value=1e3)


def close(actual: float, expected: float, *, rel: float = REL, abs_: float = ABS) -> bool:
    """Return True when both are nan or they agree within the tolerances."""
    if math.isnan(expected):
        return math.isnan(actual)
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)


def py_float(value: object) -> float:
    assert type(value) is float, f"expected a Python float, got {type(value)!r}: {value!r}"
    return value


def assert_array_close(actual: Any, expected: Any) -> None:
    np.testing.assert_allclose(actual, expected, rtol=REL, atol=ABS, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# Count / amount formulas: a registry of valid-argument strategies and contract references.
# ---------------------------------------------------------------------------------------------


@st.composite
def customer_flows(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """(start, lost, new, reactivated) for one period, always consistent."""
    start = draw(st.integers(1, 10_000))
    lost = draw(st.integers(0, start))
    new = draw(st.integers(0, 10_000))
    reactivated = draw(st.integers(0, 1_000))
    return start, lost, new, reactivated


def flows_end(flows: tuple[int, int, int, int]) -> int:
    start, lost, new, reactivated = flows
    return start - lost + new + reactivated


RETENTION_ROWS = customer_flows().map(lambda f: (f[0], flows_end(f), f[2], f[3]))
RETENTION_ROWS_NO_R = customer_flows().map(lambda f: (f[0], f[0] - f[1] + f[2], f[2]))


@st.composite
def part_whole_rows(draw: st.DrawFn) -> tuple[int, int]:
    """(part, whole) with 0 <= part <= whole and whole >= 1."""
    whole = draw(st.integers(1, 1_000_000))
    part = draw(st.integers(0, whole))
    return part, whole


@st.composite
def spend_rows(draw: st.DrawFn) -> tuple[float, float]:
    """(brand_spend, category_spend) as floats with brand <= category."""
    category = draw(st.floats(min_value=1e-3, max_value=1e6))
    brand = category * draw(st.floats(min_value=0.0, max_value=1.0))
    return brand, category


@st.composite
def churn_rows(draw: st.DrawFn) -> tuple[int, int]:
    """(customers_start, customers_lost)."""
    start = draw(st.integers(1, 1_000_000))
    lost = draw(st.integers(0, start))
    return start, lost


@st.composite
def revenue_flows(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """(revenue_start, expansion, contraction, churned) in cents, C + L <= S."""
    start = draw(st.integers(1, 10_000_000))
    contraction = draw(st.integers(0, start))
    churned = draw(st.integers(0, start - contraction))
    expansion = draw(st.integers(0, 10_000_000))
    return start, expansion, contraction, churned


@st.composite
def order_rows(draw: st.DrawFn) -> tuple[int, int]:
    """(orders, customers) with 1 <= customers <= orders."""
    customers = draw(st.integers(1, 10_000))
    orders = customers + draw(st.integers(0, 100_000))
    return orders, customers


@st.composite
def war_rows(draw: st.DrawFn) -> tuple[float, int]:
    """(rank, n_brands): an integer or half-integer (tie-averaged) rank in [1, n]."""
    n_brands = draw(st.integers(1, 50))
    rank = draw(st.integers(2, 2 * n_brands)) / 2
    return rank, n_brands


NPS_COUNT_ROWS = st.tuples(
    st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000)
).filter(lambda t: sum(t) > 0)
RATE = st.floats(min_value=0.0, max_value=1.0)
RATE_ROWS = st.tuples(RATE)
CLV_ROWS = st.tuples(
    st.floats(min_value=0.0, max_value=1e4),
    st.floats(min_value=0.0, max_value=100.0),
    st.floats(min_value=0.0, max_value=50.0),
    st.floats(min_value=0.0, max_value=1.0),
)
# (margin, retention_rate, discount_rate) with 1 + d - r bounded away from zero.
CLVD_ROWS = st.tuples(
    st.floats(min_value=-1e4, max_value=1e4),
    RATE,
    st.floats(min_value=0.0, max_value=0.5),
).filter(lambda t: 1.0 + t[2] - t[1] >= 1e-3)


def clvd_sum(margin: float, retention: float, discount: float, periods: int) -> float:
    """Sum_{t=1..T} m r^t / (1 + d)^t, straight from the contract."""
    return math.fsum(margin * retention**t / (1.0 + discount) ** t for t in range(1, periods + 1))


def clvd_infinite(margin: float, retention: float, discount: float) -> float:
    return margin * retention / (1.0 + discount - retention)


@dataclass(frozen=True)
class CountSpec:
    id: str
    name: str
    rows: st.SearchStrategy[tuple[Any, ...]]
    reference: Callable[..., float]
    keywords: tuple[str, ...] = ()  # trailing row entries passed by keyword
    fixed: tuple[tuple[str, Any], ...] = ()  # constant keyword arguments
    bounds: tuple[float, float] = (-math.inf, math.inf)
    zero_row: tuple[Any, ...] | None = None  # a valid row whose denominator is zero

    def call(self, *columns: Any) -> Any:
        n_positional = len(columns) - len(self.keywords)
        kwargs = dict(self.fixed)
        kwargs.update(zip(self.keywords, columns[n_positional:], strict=True))
        return getattr(lm, self.name)(*columns[:n_positional], **kwargs)


INF = math.inf
COUNT_SPECS: list[CountSpec] = [
    CountSpec(
        "retention_rate",
        "retention_rate",
        RETENTION_ROWS,
        lambda s, e, n, r: (e - n - r) / s,
        keywords=("customers_reactivated",),
        bounds=(0.0, 1.0),
        zero_row=(0, 0, 0, 0),
    ),
    CountSpec(
        "retention_rate-seed",
        "retention_rate",
        RETENTION_ROWS_NO_R,
        lambda s, e, n: (e - n) / s,
        bounds=(0.0, 1.0),
        zero_row=(0, 0, 0),
    ),
    CountSpec(
        "churn_rate",
        "churn_rate",
        churn_rows(),
        lambda s, lost: lost / s,
        bounds=(0.0, 1.0),
        zero_row=(0, 0),
    ),
    CountSpec(
        "nps_from_counts",
        "nps_from_counts",
        NPS_COUNT_ROWS,
        lambda p, pa, d: 100.0 * (p - d) / (p + pa + d),
        bounds=(-100.0, 100.0),
        zero_row=(0, 0, 0),
    ),
    CountSpec(
        "convert_rate-default",
        "convert_rate",
        RATE_ROWS,
        lambda c: 1.0 - (1.0 - c) ** 12,
        bounds=(0.0, 1.0),
    ),
    CountSpec(
        "convert_rate-churn-12to1",
        "convert_rate",
        RATE_ROWS,
        lambda c: 1.0 - (1.0 - c) ** (1 / 12),
        fixed=(("from_periods", 12), ("to_periods", 1), ("kind", "churn")),
        bounds=(0.0, 1.0),
    ),
    CountSpec(
        "convert_rate-retention-1to12",
        "convert_rate",
        RATE_ROWS,
        lambda r: r**12,
        fixed=(("from_periods", 1), ("to_periods", 12), ("kind", "retention")),
        bounds=(0.0, 1.0),
    ),
    CountSpec(
        "convert_rate-retention-3to2",
        "convert_rate",
        RATE_ROWS,
        lambda r: r ** (2 / 3),
        fixed=(("from_periods", 3), ("to_periods", 2), ("kind", "retention")),
        bounds=(0.0, 1.0),
    ),
    CountSpec(
        "net_revenue_retention",
        "net_revenue_retention",
        revenue_flows(),
        lambda s, x, c, lost: (s + x - c - lost) / s,
        bounds=(0.0, INF),
        zero_row=(0, 0, 0, 0),
    ),
    CountSpec(
        "gross_revenue_retention",
        "gross_revenue_retention",
        revenue_flows().map(lambda f: (f[0], f[2], f[3])),
        lambda s, c, lost: (s - c - lost) / s,
        bounds=(0.0, 1.0),
        zero_row=(0, 0, 0),
    ),
    *(
        CountSpec(
            name,
            name,
            part_whole_rows(),
            lambda part, whole: part / whole,
            bounds=(0.0, 1.0),
            zero_row=(0, 0),
        )
        for name in (
            "repeat_purchase_rate",
            "referral_rate",
            "share_of_wallet",
            "response_rate",
        )
    ),
    CountSpec(
        "share_of_wallet-float",
        "share_of_wallet",
        spend_rows(),
        lambda brand, category: brand / category,
        bounds=(0.0, 1.0),
        zero_row=(0.0, 0.0),
    ),
    CountSpec(
        "purchase_frequency",
        "purchase_frequency",
        order_rows(),
        lambda orders, customers: orders / customers,
        bounds=(0.0, INF),
        zero_row=(0, 0),
    ),
    CountSpec(
        "average_order_value",
        "average_order_value",
        st.tuples(st.floats(min_value=0.0, max_value=1e7), st.integers(1, 100_000)),
        lambda revenue, orders: revenue / orders,
        bounds=(0.0, INF),
        zero_row=(0.0, 0),
    ),
    CountSpec(
        "wallet_allocation_share",
        "wallet_allocation_share",
        war_rows(),
        lambda rank, n: (1.0 - rank / (n + 1)) * 2.0 / n,
        bounds=(0.0, 1.0),
    ),
    CountSpec(
        "clv",
        "clv",
        CLV_ROWS,
        lambda aov, freq, life, margin: aov * freq * life * margin,
        keywords=("margin",),
        bounds=(0.0, INF),
    ),
    CountSpec(
        "clv_discounted-infinite",
        "clv_discounted",
        CLVD_ROWS,
        clvd_infinite,
    ),
    CountSpec(
        "clv_discounted-infinite-include_current",
        "clv_discounted",
        CLVD_ROWS,
        lambda m, r, d: m + clvd_infinite(m, r, d),
        fixed=(("include_current", True),),
    ),
    CountSpec(
        "clv_discounted-12",
        "clv_discounted",
        CLVD_ROWS,
        lambda m, r, d: clvd_sum(m, r, d, 12),
        fixed=(("periods", 12),),
    ),
]
ZERO_SPECS = [spec for spec in COUNT_SPECS if spec.zero_row is not None]
FORMS = ("list", "ndarray", "series", "column")


def spec_id(spec: CountSpec) -> str:
    return spec.id


def to_form(column: Sequence[Any], form: str) -> Any:
    if form == "list":
        return list(column)
    if form == "ndarray":
        return np.asarray(column)
    if form == "series":
        return pl.Series(column)
    return np.asarray(column).reshape(-1, 1)


def snapshot(value: Any) -> list[Any]:
    if isinstance(value, pl.Series):
        return value.to_list()
    return np.asarray(value).tolist()


@pytest.mark.parametrize("spec", COUNT_SPECS, ids=spec_id)
@SETTINGS
@given(data=st.data())
def test_count_formula_scalar_matches_contract(spec: CountSpec, data: st.DataObject) -> None:
    row = data.draw(spec.rows, label="row")
    got = py_float(spec.call(*row))
    expected = spec.reference(*row)
    assert close(got, expected), (row, got, expected)
    low, high = spec.bounds
    assert low - ABS <= got <= high + ABS, (row, got)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("spec", COUNT_SPECS, ids=spec_id)
@SETTINGS
@given(data=st.data())
def test_count_formula_array_matches_elementwise(
    spec: CountSpec, form: str, data: st.DataObject
) -> None:
    rows = data.draw(st.lists(spec.rows, min_size=1, max_size=8), label="rows")
    columns = list(zip(*rows, strict=True))
    args = [to_form(column, form) for column in columns]
    before = [snapshot(arg) for arg in args]
    got = spec.call(*args)
    expected = np.array([py_float(spec.call(*row)) for row in rows])
    assert isinstance(got, np.ndarray), type(got)
    assert got.dtype == np.float64
    assert got.shape == ((len(rows), 1) if form == "column" else (len(rows),))
    assert_array_close(got.reshape(-1), expected)
    assert [snapshot(arg) for arg in args] == before, "inputs were modified"


@pytest.mark.parametrize("spec", ZERO_SPECS, ids=spec_id)
@SETTINGS
@given(data=st.data())
def test_zero_denominator_is_nan_without_warning(spec: CountSpec, data: st.DataObject) -> None:
    assert spec.zero_row is not None
    zero_row = spec.zero_row
    rows = data.draw(
        st.lists(st.one_of(spec.rows, st.just(zero_row)), min_size=1, max_size=8), label="rows"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scalar = py_float(spec.call(*zero_row))
        got = spec.call(*[np.asarray(column) for column in zip(*rows, strict=True)])
    assert math.isnan(scalar)
    expected = [math.nan if row == zero_row else spec.reference(*row) for row in rows]
    assert_array_close(got, expected)


# ---------------------------------------------------------------------------------------------
# Retention and churn
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(flows=customer_flows())
def test_retention_plus_churn_is_one(flows: tuple[int, int, int, int]) -> None:
    start, lost, new, reactivated = flows
    end = flows_end(flows)
    retention = py_float(lm.retention_rate(start, end, new, customers_reactivated=reactivated))
    churn = py_float(lm.churn_rate(start, lost))
    assert close(retention + churn, 1.0)
    assert close(retention, 1.0 - lost / start)
    assert 0.0 <= retention <= 1.0
    assert 0.0 <= churn <= 1.0


@SETTINGS
@given(flows=st.lists(customer_flows(), min_size=1, max_size=10))
def test_retention_plus_churn_is_one_for_arrays(flows: list[tuple[int, int, int, int]]) -> None:
    start, lost, new, reactivated = (np.array(col) for col in zip(*flows, strict=True))
    end = start - lost + new + reactivated
    retention = lm.retention_rate(start, end, new, customers_reactivated=reactivated)
    churn = lm.churn_rate(start, lost)
    assert_array_close(retention + churn, np.ones(len(flows)))


@SETTINGS
@given(flows=customer_flows())
def test_retention_reactivated_counted_as_new_is_the_same(
    flows: tuple[int, int, int, int],
) -> None:
    start, _, new, reactivated = flows
    end = flows_end(flows)
    separate = py_float(lm.retention_rate(start, end, new, customers_reactivated=reactivated))
    as_new = py_float(lm.retention_rate(start, end, new + reactivated))
    explicit_zero = py_float(
        lm.retention_rate(start, end, new + reactivated, customers_reactivated=0)
    )
    assert close(separate, as_new)
    assert close(as_new, explicit_zero)
    assert close(as_new, (end - new - reactivated) / start)


@SETTINGS
@given(flows=customer_flows())
def test_retention_rate_increases_with_customers_end(flows: tuple[int, int, int, int]) -> None:
    start, lost, new, reactivated = flows
    assume(lost >= 1)  # one more retained customer keeps E - N - R <= S
    end = flows_end(flows)
    low = py_float(lm.retention_rate(start, end, new, customers_reactivated=reactivated))
    high = py_float(lm.retention_rate(start, end + 1, new, customers_reactivated=reactivated))
    assert high > low
    assert close(high - low, 1.0 / start)


@SETTINGS
@given(row=churn_rows())
def test_churn_rate_monotone(row: tuple[int, int]) -> None:
    start, lost = row
    base = py_float(lm.churn_rate(start, lost))
    more_start = py_float(lm.churn_rate(start + 1, lost))
    assert more_start <= base
    if lost < start:
        more_lost = py_float(lm.churn_rate(start, lost + 1))
        assert more_lost > base
        assert close(more_lost - base, 1.0 / start)
    else:
        assert close(base, 1.0)


@SETTINGS
@given(start=st.integers(1, 10_000), data=st.data())
def test_churn_rate_broadcasts_scalar_start(start: int, data: st.DataObject) -> None:
    lost = data.draw(st.lists(st.integers(0, start), min_size=1, max_size=10), label="lost")
    got = lm.churn_rate(start, np.array(lost))
    assert isinstance(got, np.ndarray)
    assert_array_close(got, [x / start for x in lost])


@SETTINGS
@given(row=churn_rows(), extra=st.integers(1, 1_000))
def test_churn_rate_rejects_lost_above_start(row: tuple[int, int], extra: int) -> None:
    start, _ = row
    with pytest.raises(ValueError, match=r"customers_lost|customers_start"):
        lm.churn_rate(start, start + extra)


@SETTINGS
@given(row=churn_rows())
def test_churn_rate_rejects_negative_counts(row: tuple[int, int]) -> None:
    start, lost = row
    with pytest.raises(ValueError, match="customers_lost"):
        lm.churn_rate(start, -1 - lost)


@SETTINGS
@given(flows=customer_flows(), extra=st.integers(1, 1_000))
def test_retention_rate_rejects_new_above_end(flows: tuple[int, int, int, int], extra: int) -> None:
    start, _, new, _ = flows
    end = new  # any end below new is impossible
    with pytest.raises(ValueError, match=r"customers_new|customers_end"):
        lm.retention_rate(start, end, new + extra)


# ---------------------------------------------------------------------------------------------
# convert_rate
# ---------------------------------------------------------------------------------------------

PERIODS = st.integers(1, 24)
KINDS = st.sampled_from(["churn", "retention"])


def convert_reference(rate: float, from_periods: int, to_periods: int, kind: str) -> float:
    k = to_periods / from_periods
    if kind == "churn":
        return 1.0 - (1.0 - rate) ** k
    return rate**k


@SETTINGS
@given(rate=RATE, a=PERIODS, b=PERIODS, kind=KINDS)
def test_convert_rate_matches_contract_and_bounds(rate: float, a: int, b: int, kind: str) -> None:
    got = py_float(lm.convert_rate(rate, from_periods=a, to_periods=b, kind=kind))
    assert 0.0 <= got <= 1.0
    assert close(got, convert_reference(rate, a, b, kind))


@SETTINGS
@given(rate=RATE)
def test_convert_rate_defaults_are_monthly_churn_to_annual(rate: float) -> None:
    default = py_float(lm.convert_rate(rate))
    explicit = py_float(lm.convert_rate(rate, from_periods=1, to_periods=12, kind="churn"))
    assert close(default, explicit)
    assert close(default, 1.0 - (1.0 - rate) ** 12)


@SETTINGS
@given(rate=RATE, a=PERIODS, b=PERIODS, kind=KINDS)
def test_convert_rate_round_trips(rate: float, a: int, b: int, kind: str) -> None:
    # Keep the intermediate rate away from 1 - 1e-16 (churn) so that it is representable.
    if kind == "churn":
        assume((1.0 - rate) ** (b / a) >= 1e-3)
    there = lm.convert_rate(rate, from_periods=a, to_periods=b, kind=kind)
    back = py_float(lm.convert_rate(there, from_periods=b, to_periods=a, kind=kind))
    assert close(back, rate), (rate, there, back)


@SETTINGS
@given(rate=RATE, a=PERIODS, b=PERIODS, c=PERIODS, kind=KINDS)
def test_convert_rate_composes(rate: float, a: int, b: int, c: int, kind: str) -> None:
    if kind == "churn":
        assume((1.0 - rate) ** (b / a) >= 1e-3)
    via_b = lm.convert_rate(
        lm.convert_rate(rate, from_periods=a, to_periods=b, kind=kind),
        from_periods=b,
        to_periods=c,
        kind=kind,
    )
    direct = lm.convert_rate(rate, from_periods=a, to_periods=c, kind=kind)
    assert close(py_float(via_b), py_float(direct), rel=1e-7, abs_=1e-9)


@SETTINGS
@given(rate=RATE, a=PERIODS, b=PERIODS)
def test_convert_rate_churn_is_complement_of_retention(rate: float, a: int, b: int) -> None:
    churn = py_float(lm.convert_rate(rate, from_periods=a, to_periods=b, kind="churn"))
    retention = py_float(
        lm.convert_rate(1.0 - rate, from_periods=a, to_periods=b, kind="retention")
    )
    assert close(churn, 1.0 - retention)


@SETTINGS
@given(rate=RATE, a=PERIODS, kind=KINDS)
def test_convert_rate_same_period_is_identity(rate: float, a: int, kind: str) -> None:
    assert close(py_float(lm.convert_rate(rate, from_periods=a, to_periods=a, kind=kind)), rate)


@SETTINGS
@given(
    rates=st.tuples(RATE, RATE).map(sorted),
    a=PERIODS,
    b=PERIODS,
    kind=KINDS,
)
def test_convert_rate_monotone_in_rate(rates: list[float], a: int, b: int, kind: str) -> None:
    low, high = (
        py_float(lm.convert_rate(r, from_periods=a, to_periods=b, kind=kind)) for r in rates
    )
    assert low <= high + ABS


@SETTINGS
@given(
    rate=st.floats(min_value=0.01, max_value=0.99),
    a=PERIODS,
    horizons=st.tuples(PERIODS, PERIODS).filter(lambda t: t[0] < t[1]),
)
def test_convert_rate_longer_horizon_more_churn_less_retention(
    rate: float, a: int, horizons: tuple[int, int]
) -> None:
    short, long = horizons
    # keep 1 - churn representable, or both churn values round to exactly 1.0
    assume((1.0 - rate) ** (long / a) >= 1e-6)
    churn_short = py_float(lm.convert_rate(rate, from_periods=a, to_periods=short, kind="churn"))
    churn_long = py_float(lm.convert_rate(rate, from_periods=a, to_periods=long, kind="churn"))
    ret_short = py_float(lm.convert_rate(rate, from_periods=a, to_periods=short, kind="retention"))
    ret_long = py_float(lm.convert_rate(rate, from_periods=a, to_periods=long, kind="retention"))
    assert churn_long > churn_short
    assert ret_long < ret_short


@SETTINGS
@given(a=PERIODS, b=PERIODS, kind=KINDS)
def test_convert_rate_fixed_points(a: int, b: int, kind: str) -> None:
    for rate in (0.0, 1.0):
        got = py_float(lm.convert_rate(rate, from_periods=a, to_periods=b, kind=kind))
        assert close(got, rate)


@SETTINGS
@given(
    rate=st.one_of(
        st.floats(min_value=-10.0, max_value=-1e-6), st.floats(min_value=1.0 + 1e-6, max_value=10)
    ),
    kind=KINDS,
)
def test_convert_rate_rejects_rate_outside_unit_interval(rate: float, kind: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        lm.convert_rate(rate, kind=kind)


# ---------------------------------------------------------------------------------------------
# Net and gross revenue retention
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(flows=revenue_flows())
def test_nrr_at_least_grr_and_grr_in_unit_interval(flows: tuple[int, int, int, int]) -> None:
    start, expansion, contraction, churned = flows
    nrr = py_float(lm.net_revenue_retention(start, expansion, contraction, churned))
    grr = py_float(lm.gross_revenue_retention(start, contraction, churned))
    assert 0.0 <= grr <= 1.0
    assert nrr >= grr
    assert close(nrr - grr, expansion / start)
    assert close(py_float(lm.net_revenue_retention(start, 0, contraction, churned)), grr)


@SETTINGS
@given(flows=revenue_flows(), more=st.integers(1, 1_000_000))
def test_nrr_increases_with_expansion(flows: tuple[int, int, int, int], more: int) -> None:
    start, expansion, contraction, churned = flows
    base = py_float(lm.net_revenue_retention(start, expansion, contraction, churned))
    grown = py_float(lm.net_revenue_retention(start, expansion + more, contraction, churned))
    assert grown > base
    assert close(grown - base, more / start)


@SETTINGS
@given(flows=revenue_flows())
def test_grr_decreases_with_contraction_and_churn(flows: tuple[int, int, int, int]) -> None:
    start, _, contraction, churned = flows
    assume(contraction + churned < start)
    base = py_float(lm.gross_revenue_retention(start, contraction, churned))
    more_contraction = py_float(lm.gross_revenue_retention(start, contraction + 1, churned))
    more_churn = py_float(lm.gross_revenue_retention(start, contraction, churned + 1))
    assert more_contraction < base
    assert more_churn < base
    assert close(base - more_churn, 1.0 / start)


@SETTINGS
@given(flows=revenue_flows(), extra=st.integers(1, 1_000))
def test_revenue_retention_rejects_losses_above_start(
    flows: tuple[int, int, int, int], extra: int
) -> None:
    start, expansion, contraction, _ = flows
    churned = start - contraction + extra
    with pytest.raises(ValueError, match=r"churned|contraction|revenue_start"):
        lm.gross_revenue_retention(start, contraction, churned)
    with pytest.raises(ValueError, match=r"churned|contraction|revenue_start"):
        lm.net_revenue_retention(start, expansion, contraction, churned)


# ---------------------------------------------------------------------------------------------
# Part / whole shares
# ---------------------------------------------------------------------------------------------

PART_WHOLE = [
    ("repeat_purchase_rate", "repeat_customers", "customers"),
    ("referral_rate", "referred_customers", "new_customers"),
    ("share_of_wallet", "brand_spend", "category_spend"),
    ("response_rate", "responses", "invited"),
]
PART_WHOLE_NAMES = [name for name, _, _ in PART_WHOLE]


@pytest.mark.parametrize("name", PART_WHOLE_NAMES)
@SETTINGS
@given(row=part_whole_rows())
def test_part_whole_monotone_in_part_and_whole(name: str, row: tuple[int, int]) -> None:
    func = getattr(lm, name)
    part, whole = row
    base = py_float(func(part, whole))
    assert 0.0 <= base <= 1.0
    assert py_float(func(part, whole + 1)) <= base
    if part < whole:
        more = py_float(func(part + 1, whole))
        assert more > base
        assert close(more - base, 1.0 / whole)
    assert close(py_float(func(whole, whole)), 1.0)
    assert close(py_float(func(0, whole)), 0.0)


@pytest.mark.parametrize("name", PART_WHOLE_NAMES)
@SETTINGS
@given(data=st.data())
def test_part_whole_broadcasts_outer(name: str, data: st.DataObject) -> None:
    wholes = data.draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=6), label="wholes")
    parts = data.draw(st.lists(st.integers(0, min(wholes)), min_size=1, max_size=6), label="parts")
    got = getattr(lm, name)(np.array(parts)[None, :], np.array(wholes)[:, None])
    assert isinstance(got, np.ndarray)
    assert got.shape == (len(wholes), len(parts))
    assert_array_close(got, [[p / w for p in parts] for w in wholes])


@pytest.mark.parametrize(("name", "part_arg", "whole_arg"), PART_WHOLE)
@SETTINGS
@given(row=part_whole_rows(), extra=st.integers(1, 1_000))
def test_part_whole_rejects_part_above_whole(
    name: str, part_arg: str, whole_arg: str, row: tuple[int, int], extra: int
) -> None:
    _, whole = row
    with pytest.raises(ValueError, match=rf"{part_arg}|{whole_arg}"):
        getattr(lm, name)(whole + extra, whole)


@pytest.mark.parametrize(("name", "part_arg", "whole_arg"), PART_WHOLE)
@SETTINGS
@given(row=part_whole_rows())
def test_part_whole_rejects_negative(
    name: str, part_arg: str, whole_arg: str, row: tuple[int, int]
) -> None:
    part, whole = row
    with pytest.raises(ValueError, match=part_arg):
        getattr(lm, name)(-1 - part, whole)


# ---------------------------------------------------------------------------------------------
# Purchase frequency, average order value, simple CLV
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(row=order_rows(), revenue=st.floats(min_value=0.0, max_value=1e7))
def test_aov_times_frequency_is_revenue_per_customer(row: tuple[int, int], revenue: float) -> None:
    orders, customers = row
    aov = py_float(lm.average_order_value(revenue, orders))
    frequency = py_float(lm.purchase_frequency(orders, customers))
    assert close(aov * frequency, revenue / customers)
    assert aov >= 0.0
    assert frequency >= 0.0


@SETTINGS
@given(rows=st.lists(st.tuples(order_rows(), st.floats(0.0, 1e7)), min_size=1, max_size=8))
def test_aov_times_frequency_identity_for_arrays(
    rows: list[tuple[tuple[int, int], float]],
) -> None:
    orders = np.array([r[0][0] for r in rows])
    customers = np.array([r[0][1] for r in rows])
    revenue = np.array([r[1] for r in rows])
    product = lm.average_order_value(revenue, orders) * lm.purchase_frequency(orders, customers)
    assert_array_close(product, revenue / customers)


@SETTINGS
@given(
    revenue=st.floats(min_value=0.0, max_value=1e6),
    orders=st.integers(1, 10_000),
    k=st.floats(min_value=0.0, max_value=100.0),
)
def test_aov_linear_in_revenue_and_decreasing_in_orders(
    revenue: float, orders: int, k: float
) -> None:
    base = py_float(lm.average_order_value(revenue, orders))
    assert close(py_float(lm.average_order_value(k * revenue, orders)), k * base)
    assert py_float(lm.average_order_value(revenue, orders + 1)) <= base


@SETTINGS
@given(row=order_rows())
def test_purchase_frequency_increases_with_orders(row: tuple[int, int]) -> None:
    orders, customers = row
    base = py_float(lm.purchase_frequency(orders, customers))
    more = py_float(lm.purchase_frequency(orders + 1, customers))
    assert more > base
    assert close(more - base, 1.0 / customers)


@SETTINGS
@given(
    revenue=st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=1, max_size=8),
    orders=st.integers(1, 10_000),
)
def test_aov_broadcasts_scalar_orders(revenue: list[float], orders: int) -> None:
    got = lm.average_order_value(pl.Series(revenue), orders)
    assert isinstance(got, np.ndarray)
    assert_array_close(got, [x / orders for x in revenue])


CLV_ARG = st.floats(min_value=0.0, max_value=1e3)


@SETTINGS
@given(
    args=st.tuples(CLV_ARG, CLV_ARG, CLV_ARG),
    margin=RATE,
    position=st.integers(0, 3),
    data=st.data(),
)
def test_clv_is_linear_in_each_argument(
    args: tuple[float, float, float], margin: float, position: int, data: st.DataObject
) -> None:
    base = py_float(lm.clv(*args, margin=margin))
    assert close(base, args[0] * args[1] * args[2] * margin)
    # the margin is a fraction of revenue, so keep a scaled margin within [0, 1]
    k_max = 100.0 if position < 3 else 1.0
    k = data.draw(st.floats(min_value=0.0, max_value=k_max), label="k")
    values = [*args, margin]
    values[position] *= k
    scaled = py_float(lm.clv(*values[:3], margin=values[3]))
    assert close(scaled, k * base)


@SETTINGS
@given(args=st.tuples(CLV_ARG, CLV_ARG, CLV_ARG), position=st.integers(0, 2), more=CLV_ARG)
def test_clv_default_margin_and_monotone(
    args: tuple[float, float, float], position: int, more: float
) -> None:
    base = py_float(lm.clv(*args))
    assert close(base, py_float(lm.clv(*args, margin=1.0)))
    assert base >= 0.0
    bigger = list(args)
    bigger[position] += more
    assert py_float(lm.clv(*bigger)) >= base - ABS * max(1.0, base)


@SETTINGS
@given(
    aov=st.lists(CLV_ARG, min_size=1, max_size=8),
    frequency=CLV_ARG,
    lifespan=CLV_ARG,
    margin=RATE,
)
def test_clv_broadcasts_scalars_with_array(
    aov: list[float], frequency: float, lifespan: float, margin: float
) -> None:
    got = lm.clv(np.array(aov), frequency, lifespan, margin=margin)
    assert isinstance(got, np.ndarray)
    assert_array_close(got, [a * frequency * lifespan * margin for a in aov])


# ---------------------------------------------------------------------------------------------
# Wallet Allocation Rule
# ---------------------------------------------------------------------------------------------


def average_ranks(ratings: Sequence[int]) -> list[float]:
    """Rank 1 = highest rating; ties share the average of the ranks they occupy."""
    order = sorted(range(len(ratings)), key=lambda i: -ratings[i])
    ranks = [0.0] * len(ratings)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and ratings[order[j + 1]] == ratings[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j + 2) / 2
        i = j + 1
    return ranks


@SETTINGS
@given(n=st.integers(1, 60))
def test_war_shares_of_a_complete_ranking_sum_to_one(n: int) -> None:
    shares = [py_float(lm.wallet_allocation_share(rank, n)) for rank in range(1, n + 1)]
    assert close(math.fsum(shares), 1.0)
    assert all(0.0 < s <= 1.0 for s in shares)
    # strictly decreasing in rank
    assert all(a > b for a, b in itertools.pairwise(shares))
    array = lm.wallet_allocation_share(np.arange(1, n + 1), n)
    assert_array_close(array, shares)
    assert close(float(np.sum(array)), 1.0)


@SETTINGS
@given(ratings=st.lists(st.integers(0, 4), min_size=1, max_size=12))
def test_war_shares_with_tied_average_ranks_sum_to_one(ratings: list[int]) -> None:
    n = len(ratings)
    ranks = average_ranks(ratings)
    shares = [py_float(lm.wallet_allocation_share(rank, n)) for rank in ranks]
    assert close(math.fsum(shares), 1.0)
    for rating_a, share_a in zip(ratings, shares, strict=True):
        for rating_b, share_b in zip(ratings, shares, strict=True):
            if rating_a > rating_b:
                assert share_a > share_b
            elif rating_a == rating_b:
                assert close(share_a, share_b)
    assert close(float(np.sum(lm.wallet_allocation_share(np.array(ranks), n))), 1.0)


@SETTINGS
@given(n=st.integers(1, 60))
def test_war_middle_rank_gets_one_over_n(n: int) -> None:
    assert close(py_float(lm.wallet_allocation_share((n + 1) / 2, n)), 1.0 / n)
    if n == 1:
        assert close(py_float(lm.wallet_allocation_share(1, 1)), 1.0)


@SETTINGS
@given(n=st.integers(1, 60), beyond=st.integers(1, 10))
def test_war_rejects_rank_outside_one_to_n(n: int, beyond: int) -> None:
    with pytest.raises(ValueError, match="rank"):
        lm.wallet_allocation_share(n + beyond, n)
    with pytest.raises(ValueError, match="rank"):
        lm.wallet_allocation_share(1 - beyond, n)


# ---------------------------------------------------------------------------------------------
# Discounted CLV
# ---------------------------------------------------------------------------------------------

MARGIN = st.floats(min_value=-1e4, max_value=1e4)
POSITIVE_MARGIN = st.floats(min_value=1e-2, max_value=1e4)
DISCOUNT = st.floats(min_value=0.0, max_value=0.5)


@SETTINGS
@given(row=CLVD_ROWS, periods=st.integers(1, 200), include_current=st.booleans())
def test_clv_discounted_finite_is_the_sum(
    row: tuple[float, float, float], periods: int, include_current: bool
) -> None:
    margin, retention, discount = row
    got = py_float(
        lm.clv_discounted(
            margin, retention, discount, periods=periods, include_current=include_current
        )
    )
    expected = clvd_sum(margin, retention, discount, periods) + (margin if include_current else 0)
    assert close(got, expected, abs_=ABS * max(1.0, abs(margin)))


@SETTINGS
@given(row=CLVD_ROWS, periods=st.one_of(st.none(), st.integers(1, 200)))
def test_clv_discounted_include_current_adds_the_margin(
    row: tuple[float, float, float], periods: int | None
) -> None:
    margin, retention, discount = row
    without = py_float(lm.clv_discounted(margin, retention, discount, periods=periods))
    with_current = py_float(
        lm.clv_discounted(margin, retention, discount, periods=periods, include_current=True)
    )
    assert close(with_current - without, margin, abs_=ABS * max(1.0, abs(without)))
    if periods is None:
        farris = margin * (1.0 + discount) / (1.0 + discount - retention)
        assert close(with_current, farris)


@SETTINGS
@given(
    margin=POSITIVE_MARGIN,
    retention=st.floats(min_value=1e-3, max_value=1.0),
    discount=st.floats(min_value=1e-3, max_value=0.5),
    periods=st.integers(1, 300),
)
def test_clv_discounted_increases_with_periods_towards_infinite(
    margin: float, retention: float, discount: float, periods: int
) -> None:
    q = retention / (1.0 + discount)
    shorter = py_float(lm.clv_discounted(margin, retention, discount, periods=periods))
    longer = py_float(lm.clv_discounted(margin, retention, discount, periods=periods + 1))
    infinite = py_float(lm.clv_discounted(margin, retention, discount))
    tol = ABS * max(1.0, infinite)
    assert longer >= shorter - tol
    # the increment is exactly the next discounted term
    assert close(longer - shorter, margin * q ** (periods + 1), abs_=tol)
    assert shorter <= infinite + tol
    assert longer <= infinite + tol


@SETTINGS
@given(
    margin=POSITIVE_MARGIN,
    retention=st.floats(min_value=1e-3, max_value=1.0),
    discount=DISCOUNT,
)
def test_clv_discounted_long_horizon_tends_to_infinite_value(
    margin: float, retention: float, discount: float
) -> None:
    assume(retention / (1.0 + discount) <= 0.99)
    finite = py_float(lm.clv_discounted(margin, retention, discount, periods=2000))
    infinite = py_float(lm.clv_discounted(margin, retention, discount))
    assert close(infinite, clvd_infinite(margin, retention, discount))
    assert math.isclose(finite, infinite, rel_tol=1e-6)


@SETTINGS
@given(row=CLVD_ROWS, k=st.floats(min_value=-10.0, max_value=10.0))
def test_clv_discounted_linear_in_margin(row: tuple[float, float, float], k: float) -> None:
    margin, retention, discount = row
    base = py_float(lm.clv_discounted(margin, retention, discount))
    scaled = py_float(lm.clv_discounted(k * margin, retention, discount))
    assert close(scaled, k * base, abs_=ABS * max(1.0, abs(base)))


@SETTINGS
@given(
    margin=POSITIVE_MARGIN,
    retentions=st.tuples(RATE, RATE).map(sorted),
    discounts=st.tuples(DISCOUNT, DISCOUNT).map(sorted),
    periods=st.one_of(st.none(), st.integers(1, 100)),
)
def test_clv_discounted_monotone_in_retention_and_discount(
    margin: float,
    retentions: list[float],
    discounts: list[float],
    periods: int | None,
) -> None:
    low_r, high_r = retentions
    low_d, high_d = discounts
    assume(1.0 + low_d - high_r >= 1e-3)
    tol = 1e-9

    def value(r: float, d: float) -> float:
        return py_float(lm.clv_discounted(margin, r, d, periods=periods))

    assert value(high_r, low_d) >= value(low_r, low_d) * (1 - tol) - tol
    assert value(high_r, high_d) <= value(high_r, low_d) * (1 + tol) + tol


@SETTINGS
@given(margin=MARGIN, discount=DISCOUNT, periods=st.one_of(st.none(), st.integers(1, 100)))
def test_clv_discounted_zero_retention_is_zero(
    margin: float, discount: float, periods: int | None
) -> None:
    assert close(py_float(lm.clv_discounted(margin, 0.0, discount, periods=periods)), 0.0)
    with_current = lm.clv_discounted(margin, 0.0, discount, periods=periods, include_current=True)
    assert close(py_float(with_current), margin)


@SETTINGS
@given(margin=POSITIVE_MARGIN)
def test_clv_discounted_infinite_diverging_raises(margin: float) -> None:
    with pytest.raises(ValueError, match=r"retention_rate|discount_rate"):
        lm.clv_discounted(margin, 1.0, 0.0)


# ---------------------------------------------------------------------------------------------
# Survey formulas: nps, csat, ces
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyVariant:
    id: str
    name: str
    kwargs: tuple[tuple[str, Any], ...]
    lo: int
    hi: int
    kind: str  # "points" | "share" | "mean"
    direction: int = 1  # +1: non-decreasing when an answer rises; -1: non-increasing
    whole_numbers: bool = True  # contract requires whole-number answers

    def __call__(self, scores: Any, **extra: Any) -> Any:
        return getattr(lm, self.name)(scores, **dict(self.kwargs), **extra)

    def bounds(self) -> tuple[float, float]:
        if self.kind == "points":
            return -100.0, 100.0
        if self.kind == "share":
            return 0.0, 1.0
        return float(self.lo), float(self.hi)


SURVEY_VARIANTS = [
    SurveyVariant("nps", "nps", (), 0, 10, "points"),
    SurveyVariant("csat-top_box", "csat", (), 1, 5, "share"),
    SurveyVariant("csat-mean", "csat", (("method", "mean"),), 1, 5, "mean"),
    SurveyVariant(
        "csat-1to10-threshold8", "csat", (("scale", (1, 10)), ("threshold", 8)), 1, 10, "share"
    ),
    SurveyVariant(
        "csat-0to10-mean", "csat", (("scale", (0, 10)), ("method", "mean")), 0, 10, "mean"
    ),
    SurveyVariant("ces-mean", "ces", (), 1, 7, "mean", whole_numbers=False),
    SurveyVariant(
        "ces-top_box", "ces", (("method", "top_box"),), 1, 7, "share", whole_numbers=False
    ),
    SurveyVariant(
        "ces-effort-top_box",
        "ces",
        (("scale", (1, 5)), ("threshold", 2), ("method", "top_box"), ("higher_is_better", False)),
        1,
        5,
        "share",
        direction=-1,
        whole_numbers=False,
    ),
    SurveyVariant(
        "ces-effort-mean",
        "ces",
        (("scale", (1, 5)), ("method", "mean"), ("higher_is_better", False)),
        1,
        5,
        "mean",
        whole_numbers=False,
    ),
]
WHOLE_NUMBER_VARIANTS = [v for v in SURVEY_VARIANTS if v.whole_numbers]


def variant_id(variant: SurveyVariant) -> str:
    return variant.id


def is_missing(answer: Any) -> bool:
    return answer is None or (isinstance(answer, float) and math.isnan(answer))


def survey_reference(
    variant: SurveyVariant, answers: Sequence[Any], weights: Sequence[float] | None = None
) -> float:
    """The contract's definition, with frequency weights and missing answers skipped."""
    kw = dict(variant.kwargs)
    if weights is None:
        weights = [1.0] * len(answers)
    kept = [
        (float(a), float(w)) for a, w in zip(answers, weights, strict=True) if not is_missing(a)
    ]
    total = math.fsum(w for _, w in kept)
    if not kept or total == 0:
        return math.nan
    if variant.name == "nps":
        promoters = math.fsum(w for a, w in kept if a >= 9)
        detractors = math.fsum(w for a, w in kept if a <= 6)
        return 100.0 * (promoters - detractors) / total
    method = kw.get("method", "top_box" if variant.name == "csat" else "mean")
    if method == "mean":
        return math.fsum(a * w for a, w in kept) / total
    _, hi = kw.get("scale", (1, 5) if variant.name == "csat" else (1, 7))
    threshold = kw.get("threshold")
    if threshold is None:
        threshold = hi - 1 if variant.name == "csat" else 5
    if kw.get("higher_is_better", True):
        good = math.fsum(w for a, w in kept if a >= threshold)
    else:
        good = math.fsum(w for a, w in kept if a <= threshold)
    return good / total


def answers_for(variant: SurveyVariant, min_size: int = 1) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(variant.lo, variant.hi), min_size=min_size, max_size=30)


def survey_close(variant: SurveyVariant, actual: float, expected: float) -> bool:
    return close(actual, expected, abs_=ABS * (100.0 if variant.kind == "points" else 1.0))


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_unweighted_matches_contract(variant: SurveyVariant, data: st.DataObject) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    got = py_float(variant(answers))
    assert survey_close(variant, got, survey_reference(variant, answers))
    low, high = variant.bounds()
    assert low - ABS <= got <= high + ABS


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_weighted_matches_contract(variant: SurveyVariant, data: st.DataObject) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    weights = data.draw(
        st.lists(WEIGHT, min_size=len(answers), max_size=len(answers)), label="weights"
    )
    got = py_float(variant(answers, weights=weights))
    assert survey_close(variant, got, survey_reference(variant, answers, weights))
    if not math.isnan(got):
        low, high = variant.bounds()
        assert low - ABS <= got <= high + ABS


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_integer_weights_equal_repeated_rows(
    variant: SurveyVariant, data: st.DataObject
) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    counts = data.draw(
        st.lists(st.integers(0, 4), min_size=len(answers), max_size=len(answers)), label="counts"
    )
    repeated = [a for a, c in zip(answers, counts, strict=True) for _ in range(c)]
    weighted = py_float(variant(answers, weights=counts))
    expanded = py_float(variant(repeated))
    assert survey_close(variant, weighted, expanded), (weighted, expanded)


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_zero_weight_removes_the_row(variant: SurveyVariant, data: st.DataObject) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    n = len(answers)
    weights = data.draw(st.lists(POSITIVE_WEIGHT, min_size=n, max_size=n), label="weights")
    removed = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="removed")
    zeroed = [0.0 if r else w for w, r in zip(weights, removed, strict=True)]
    kept_answers = [a for a, r in zip(answers, removed, strict=True) if not r]
    kept_weights = [w for w, r in zip(weights, removed, strict=True) if not r]
    with_zero = py_float(variant(answers, weights=zeroed))
    without = py_float(variant(kept_answers, weights=kept_weights))
    assert survey_close(variant, with_zero, without), (with_zero, without)


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data(), factor=SCALE_FACTOR)
def test_survey_invariant_to_scaling_weights(
    variant: SurveyVariant, data: st.DataObject, factor: float
) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    n = len(answers)
    weights = data.draw(st.lists(WEIGHT, min_size=n, max_size=n), label="weights")
    base = py_float(variant(answers, weights=weights))
    scaled = py_float(variant(answers, weights=[factor * w for w in weights]))
    assert survey_close(variant, scaled, base), (scaled, base)
    constant = py_float(variant(answers, weights=[factor] * n))
    assert survey_close(variant, constant, py_float(variant(answers)))


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_permutation_invariant(variant: SurveyVariant, data: st.DataObject) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    n = len(answers)
    weights = data.draw(st.lists(WEIGHT, min_size=n, max_size=n), label="weights")
    order = data.draw(st.permutations(range(n)), label="order")
    base = py_float(variant(answers, weights=weights))
    shuffled = py_float(variant([answers[i] for i in order], weights=[weights[i] for i in order]))
    assert survey_close(variant, shuffled, base)


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_missing_answers_are_skipped_with_their_weights(
    variant: SurveyVariant, data: st.DataObject
) -> None:
    slots = data.draw(
        st.lists(st.one_of(st.integers(variant.lo, variant.hi), st.none()), min_size=1),
        label="answers",
    )
    n = len(slots)
    weights = data.draw(st.lists(WEIGHT, min_size=n, max_size=n), label="weights")
    clean = [a for a in slots if a is not None]
    clean_weights = [w for a, w in zip(slots, weights, strict=True) if a is not None]
    expected_unweighted = survey_reference(variant, clean)
    expected_weighted = survey_reference(variant, clean, clean_weights)

    as_float = [math.nan if a is None else float(a) for a in slots]
    forms: dict[str, Any] = {
        "list-None": slots,
        "list-nan": as_float,
        "ndarray-nan": np.array(as_float, dtype=np.float64),
        "series-null": pl.Series(slots, dtype=pl.Int64),
        "series-nan": pl.Series(as_float, dtype=pl.Float64, nan_to_null=False),
    }
    for form, scores in forms.items():
        unweighted = py_float(variant(scores))
        weighted = py_float(variant(scores, weights=weights))
        assert survey_close(variant, unweighted, expected_unweighted), (form, unweighted)
        assert survey_close(variant, weighted, expected_weighted), (form, weighted)


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_input_forms_agree(variant: SurveyVariant, data: st.DataObject) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    n = len(answers)
    weights = data.draw(st.lists(WEIGHT, min_size=n, max_size=n), label="weights")
    expected = py_float(variant(answers))
    expected_weighted = py_float(variant(answers, weights=weights))
    forms: dict[str, Any] = {
        "tuple": tuple(answers),
        "whole-floats": [float(a) for a in answers],
        "ndarray-int": np.array(answers, dtype=np.int64),
        "ndarray-float": np.array(answers, dtype=np.float64),
        "series-int": pl.Series(answers, dtype=pl.Int64),
        "series-float": pl.Series(answers, dtype=pl.Float64),
    }
    for form, scores in forms.items():
        before = snapshot(scores)
        assert survey_close(variant, py_float(variant(scores)), expected), form
        assert snapshot(scores) == before, f"{form} input was modified"
    for form, w in {
        "ndarray": np.array(weights),
        "series": pl.Series(weights),
        "tuple": tuple(weights),
    }.items():
        got = py_float(variant(np.array(answers), weights=w))
        assert survey_close(variant, got, expected_weighted), form


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_no_valid_answers_is_nan(variant: SurveyVariant, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, 10), label="k")
    answers = data.draw(answers_for(variant), label="answers")
    empties: list[Any] = [
        [None] * k,
        np.full(k, np.nan),
        pl.Series([None] * k, dtype=pl.Int64),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scores in empties:
            assert math.isnan(py_float(variant(scores)))
        zero_total = py_float(variant(answers, weights=[0.0] * len(answers)))
    assert math.isnan(zero_total)


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_monotone_in_each_answer(variant: SurveyVariant, data: st.DataObject) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    n = len(answers)
    weights = data.draw(st.lists(WEIGHT, min_size=n, max_size=n), label="weights")
    i = data.draw(st.integers(0, n - 1), label="i")
    step = data.draw(st.integers(0, variant.hi - answers[i]), label="step")
    raised = list(answers)
    raised[i] += step
    for w in (None, weights):
        before = py_float(variant(answers, weights=w))
        after = py_float(variant(raised, weights=w))
        if math.isnan(before):
            continue
        assert variant.direction * (after - before) >= -ABS, (before, after)


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data(), outside=st.integers(1, 5), low_side=st.booleans())
def test_survey_rejects_off_scale_answers(
    variant: SurveyVariant, data: st.DataObject, outside: int, low_side: bool
) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    bad = variant.lo - outside if low_side else variant.hi + outside
    position = data.draw(st.integers(0, len(answers)), label="position")
    answers.insert(position, bad)
    with pytest.raises(ValueError, match="scores"):
        variant(answers)


@pytest.mark.parametrize("variant", WHOLE_NUMBER_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data(), fraction=st.sampled_from([0.5, 0.25, 0.1]))
def test_survey_rejects_non_whole_answers(
    variant: SurveyVariant, data: st.DataObject, fraction: float
) -> None:
    answers: list[float] = [float(a) for a in data.draw(answers_for(variant), label="answers")]
    bad = data.draw(st.integers(variant.lo, variant.hi - 1), label="bad") + fraction
    answers.insert(data.draw(st.integers(0, len(answers)), label="position"), bad)
    with pytest.raises(ValueError, match="scores"):
        variant(answers)


@pytest.mark.parametrize("variant", SURVEY_VARIANTS, ids=variant_id)
@SETTINGS
@given(data=st.data())
def test_survey_rejects_bad_weights(variant: SurveyVariant, data: st.DataObject) -> None:
    answers = data.draw(answers_for(variant), label="answers")
    n = len(answers)
    weights = data.draw(st.lists(WEIGHT, min_size=n, max_size=n), label="weights")
    i = data.draw(st.integers(0, n - 1), label="i")
    negative = list(weights)
    negative[i] = -data.draw(POSITIVE_WEIGHT, label="negative")
    with pytest.raises(ValueError, match="weights"):
        variant(answers, weights=negative)
    with pytest.raises(ValueError, match=r"weights|scores"):
        variant(answers, weights=[*weights, 1.0])


# --- nps specifics ---------------------------------------------------------------------------


@SETTINGS
@given(answers=st.lists(st.integers(0, 10), min_size=1, max_size=50))
def test_nps_from_scores_equals_nps_from_counts(answers: list[int]) -> None:
    promoters = sum(a >= 9 for a in answers)
    passives = sum(7 <= a <= 8 for a in answers)
    detractors = sum(a <= 6 for a in answers)
    from_scores = py_float(lm.nps(answers))
    from_counts = py_float(lm.nps_from_counts(promoters, passives, detractors))
    assert close(from_scores, from_counts)
    assert close(from_scores, 100.0 * (promoters - detractors) / len(answers))


@SETTINGS
@given(
    n=st.integers(1, 30),
    promoter=st.sampled_from([9, 10]),
    passive=st.sampled_from([7, 8]),
    detractor=st.integers(0, 6),
)
def test_nps_extremes(n: int, promoter: int, passive: int, detractor: int) -> None:
    assert close(py_float(lm.nps([promoter] * n)), 100.0)
    assert close(py_float(lm.nps([detractor] * n)), -100.0)
    assert close(py_float(lm.nps([passive] * n)), 0.0)
    assert close(py_float(lm.nps([promoter, detractor] * n)), 0.0)


@SETTINGS
@given(counts=NPS_COUNT_ROWS, k=st.integers(1, 50))
def test_nps_from_counts_scale_invariant_and_monotone(counts: tuple[int, int, int], k: int) -> None:
    promoters, passives, detractors = counts
    base = py_float(lm.nps_from_counts(promoters, passives, detractors))
    assert -100.0 <= base <= 100.0
    scaled = py_float(lm.nps_from_counts(k * promoters, k * passives, k * detractors))
    assert close(scaled, base)
    assert py_float(lm.nps_from_counts(promoters + 1, passives, detractors)) > base - ABS
    assert py_float(lm.nps_from_counts(promoters, passives, detractors + 1)) < base + ABS
    # a passive pulls the score towards 0
    with_passive = py_float(lm.nps_from_counts(promoters, passives + 1, detractors))
    assert abs(with_passive) <= abs(base) + ABS


@SETTINGS
@given(counts=NPS_COUNT_ROWS)
def test_nps_from_counts_rejects_negative(counts: tuple[int, int, int]) -> None:
    promoters, passives, detractors = counts
    with pytest.raises(ValueError, match="detractors"):
        lm.nps_from_counts(promoters, passives, -1 - detractors)


# --- csat / ces specifics --------------------------------------------------------------------


@st.composite
def scales(draw: st.DrawFn) -> tuple[int, int]:
    lo = draw(st.integers(0, 3))
    return lo, lo + draw(st.integers(1, 10))


@SETTINGS
@given(scale=scales(), data=st.data())
def test_csat_default_threshold_is_top_two_box_of_the_scale(
    scale: tuple[int, int], data: st.DataObject
) -> None:
    lo, hi = scale
    answers = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=30), label="answers")
    default = py_float(lm.csat(answers, scale=scale))
    explicit = py_float(lm.csat(answers, scale=scale, threshold=hi - 1))
    assert close(default, explicit)
    assert close(default, sum(a >= hi - 1 for a in answers) / len(answers))


@SETTINGS
@given(scale=scales(), data=st.data())
def test_csat_top_box_non_increasing_in_threshold_and_mean_on_scale(
    scale: tuple[int, int], data: st.DataObject
) -> None:
    lo, hi = scale
    answers = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=30), label="answers")
    shares = [py_float(lm.csat(answers, scale=scale, threshold=t)) for t in range(lo, hi + 1)]
    assert close(shares[0], 1.0)
    assert all(a >= b for a, b in itertools.pairwise(shares))
    mean = py_float(lm.csat(answers, scale=scale, method="mean"))
    assert lo <= mean <= hi
    assert close(mean, sum(answers) / len(answers))


@SETTINGS
@given(scale=scales(), data=st.data())
def test_ces_effort_top_box_is_complement_of_agreement_top_box(
    scale: tuple[int, int], data: st.DataObject
) -> None:
    lo, hi = scale
    answers = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=30), label="answers")
    threshold = data.draw(st.integers(lo, hi - 1), label="threshold")
    low_good = py_float(
        lm.ces(answers, scale=scale, threshold=threshold, method="top_box", higher_is_better=False)
    )
    high_good = py_float(lm.ces(answers, scale=scale, threshold=threshold + 1, method="top_box"))
    assert close(low_good + high_good, 1.0)
    assert close(low_good, sum(a <= threshold for a in answers) / len(answers))


@SETTINGS
@given(scale=scales(), data=st.data())
def test_ces_mean_is_the_mean_answer_in_either_direction(
    scale: tuple[int, int], data: st.DataObject
) -> None:
    lo, hi = scale
    answers = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=30), label="answers")
    expected = sum(answers) / len(answers)
    threshold = data.draw(st.integers(lo, hi), label="threshold")
    for higher_is_better in (True, False):
        got = py_float(
            lm.ces(answers, scale=scale, threshold=threshold, higher_is_better=higher_is_better)
        )
        assert lo <= got <= hi
        assert close(got, expected)


@SETTINGS
@given(answers=st.lists(st.integers(1, 7), min_size=1, max_size=30))
def test_ces_defaults_are_ces2_mean_and_top_box_at_five(answers: list[int]) -> None:
    n = len(answers)
    assert close(py_float(lm.ces(answers)), sum(answers) / n)
    top = py_float(lm.ces(answers, method="top_box"))
    assert close(top, sum(a >= 5 for a in answers) / n)


# ---------------------------------------------------------------------------------------------
# Composite loyalty index
# ---------------------------------------------------------------------------------------------

NPS_NAME = "nps"
RATE_NAMES = ("retention_rate", "repeat_purchase_rate", "csat_top_box", "share_of_wallet")
SCALED_NAMES = ("csat_mean", "ces_mean", "effort_mean")
ALL_NAMES = (NPS_NAME, *RATE_NAMES, *SCALED_NAMES)


@dataclass(frozen=True)
class Component:
    value: float
    scale: tuple[int, int] | None = None  # None: a plain number (nps points or a rate)
    higher_is_better: bool = True

    def build(self) -> Any:
        if self.scale is None:
            return self.value
        return lm.IndexComponent(
            self.value, scale=self.scale, higher_is_better=self.higher_is_better
        )


def mapped(name: str, component: Component) -> float:
    """The contract's nominal-range mapping onto 0..100."""
    if component.scale is None:
        if name == NPS_NAME:
            return (component.value + 100.0) / 2.0
        return 100.0 * component.value
    lo, hi = component.scale
    if component.higher_is_better:
        return 100.0 * (component.value - lo) / (hi - lo)
    return 100.0 * (hi - component.value) / (hi - lo)


def value_range(name: str, component: Component) -> tuple[float, float]:
    if component.scale is not None:
        return float(component.scale[0]), float(component.scale[1])
    return (-100.0, 100.0) if name == NPS_NAME else (0.0, 1.0)


def index_reference(
    components: dict[str, Component], weights: dict[str, float] | None = None
) -> float:
    names = list(components)
    w = dict.fromkeys(names, 1.0) if weights is None else weights
    total = math.fsum(w[name] for name in names)
    return math.fsum(w[name] * mapped(name, components[name]) for name in names) / total


def build(components: dict[str, Component]) -> dict[str, Any]:
    return {name: component.build() for name, component in components.items()}


@st.composite
def component_for(draw: st.DrawFn, name: str) -> Component:
    if name == NPS_NAME:
        return Component(draw(st.floats(min_value=-100.0, max_value=100.0)))
    if name in RATE_NAMES:
        return Component(draw(RATE))
    lo = draw(st.integers(-5, 5))
    hi = lo + draw(st.integers(1, 10))
    value = draw(st.floats(min_value=lo, max_value=hi))
    return Component(value, scale=(lo, hi), higher_is_better=draw(st.booleans()))


@st.composite
def index_components(draw: st.DrawFn, min_size: int = 1) -> dict[str, Component]:
    names = draw(
        st.lists(
            st.sampled_from(ALL_NAMES), min_size=min_size, max_size=len(ALL_NAMES), unique=True
        )
    )
    return {name: draw(component_for(name)) for name in names}


def weights_for(names: Sequence[str]) -> st.SearchStrategy[dict[str, float]]:
    return st.fixed_dictionaries(dict.fromkeys(names, WEIGHT)).filter(
        lambda w: any(v > 0 for v in w.values())
    )


def index_close(actual: float, expected: float) -> bool:
    return close(actual, expected, abs_=1e-9 * 100)


@SETTINGS
@given(components=index_components(), data=st.data())
def test_loyalty_index_is_weighted_mean_of_mapped_components(
    components: dict[str, Component], data: st.DataObject
) -> None:
    weights = data.draw(weights_for(list(components)), label="weights")
    default = py_float(lm.loyalty_index(build(components)))
    weighted = py_float(lm.loyalty_index(build(components), weights=weights))
    assert index_close(default, index_reference(components))
    assert index_close(weighted, index_reference(components, weights))
    for got in (default, weighted):
        assert -ABS <= got <= 100.0 + ABS
    equal = py_float(lm.loyalty_index(build(components), weights=dict.fromkeys(components, 1.0)))
    assert index_close(equal, default)


@SETTINGS
@given(
    name=st.sampled_from(ALL_NAMES),
    data=st.data(),
)
def test_loyalty_index_single_component_maps_by_nominal_range(
    name: str, data: st.DataObject
) -> None:
    component = data.draw(component_for(name), label="component")
    got = py_float(lm.loyalty_index({name: component.build()}))
    assert index_close(got, mapped(name, component))


@SETTINGS
@given(
    components=index_components(), level=st.floats(min_value=0.0, max_value=100.0), data=st.data()
)
def test_loyalty_index_equal_components_give_that_value(
    components: dict[str, Component], level: float, data: st.DataObject
) -> None:
    same: dict[str, Component] = {}
    for name, component in components.items():
        if component.scale is None:
            value = 2.0 * level - 100.0 if name == NPS_NAME else level / 100.0
        else:
            lo, hi = component.scale
            span = level / 100.0 * (hi - lo)
            value = lo + span if component.higher_is_better else hi - span
            value = min(max(value, lo), hi)
        same[name] = dataclasses.replace(component, value=value)
    weights = data.draw(weights_for(list(components)), label="weights")
    assert index_close(py_float(lm.loyalty_index(build(same))), level)
    assert index_close(py_float(lm.loyalty_index(build(same), weights=weights)), level)


@SETTINGS
@given(components=index_components(), data=st.data())
def test_loyalty_index_monotone_in_each_component(
    components: dict[str, Component], data: st.DataObject
) -> None:
    weights = data.draw(weights_for(list(components)), label="weights")
    name = data.draw(st.sampled_from(sorted(components)), label="name")
    component = components[name]
    _, top = value_range(name, component)
    new_value = data.draw(st.floats(min_value=component.value, max_value=top), label="new")
    raised = {**components, name: dataclasses.replace(component, value=new_value)}
    # raising the raw value raises the index, except on a lower-is-better scale
    direction = -1.0 if component.scale is not None and not component.higher_is_better else 1.0
    for w in (None, weights):
        before = py_float(lm.loyalty_index(build(components), weights=w))
        after = py_float(lm.loyalty_index(build(raised), weights=w))
        assert direction * (after - before) >= -ABS, (before, after)
        assert index_close(after, index_reference(raised, w))


@SETTINGS
@given(components=index_components(), factor=SCALE_FACTOR, data=st.data())
def test_loyalty_index_invariant_to_scaling_weights(
    components: dict[str, Component], factor: float, data: st.DataObject
) -> None:
    weights = data.draw(weights_for(list(components)), label="weights")
    base = py_float(lm.loyalty_index(build(components), weights=weights))
    scaled_weights = {name: factor * w for name, w in weights.items()}
    scaled = py_float(lm.loyalty_index(build(components), weights=scaled_weights))
    assert index_close(scaled, base)


@SETTINGS
@given(components=index_components(min_size=2), data=st.data())
def test_loyalty_index_missing_component_is_dropped_not_zero(
    components: dict[str, Component], data: st.DataObject
) -> None:
    weights = data.draw(weights_for(list(components)), label="weights")
    dropped = data.draw(st.sampled_from(sorted(components)), label="dropped")
    rest = {name: c for name, c in components.items() if name != dropped}
    rest_weights = {name: w for name, w in weights.items() if name != dropped}
    assume(any(w > 0 for w in rest_weights.values()))
    # weights may name components that are not given; they are ignored
    with_extra_keys = py_float(lm.loyalty_index(build(rest), weights=weights))
    restricted = py_float(lm.loyalty_index(build(rest), weights=rest_weights))
    assert index_close(with_extra_keys, restricted)
    assert index_close(restricted, index_reference(rest, rest_weights))
    assert index_close(py_float(lm.loyalty_index(build(rest))), index_reference(rest))
    # a zero weight has the same effect as leaving the component out
    zeroed = py_float(lm.loyalty_index(build(components), weights={**weights, dropped: 0.0}))
    assert index_close(zeroed, restricted)


@SETTINGS
@given(components=index_components(), data=st.data())
def test_loyalty_index_ignores_component_order(
    components: dict[str, Component], data: st.DataObject
) -> None:
    weights = data.draw(weights_for(list(components)), label="weights")
    order = data.draw(st.permutations(list(components)), label="order")
    reordered = {name: components[name] for name in order}
    base = py_float(lm.loyalty_index(build(components), weights=weights))
    again = py_float(lm.loyalty_index(build(reordered), weights=weights))
    assert index_close(again, base)


@SETTINGS
@given(components=index_components(), data=st.data())
def test_loyalty_index_rejects_negative_weights(
    components: dict[str, Component], data: st.DataObject
) -> None:
    weights = data.draw(weights_for(list(components)), label="weights")
    name = data.draw(st.sampled_from(sorted(components)), label="name")
    negative = {**weights, name: -data.draw(POSITIVE_WEIGHT, label="negative")}
    with pytest.raises(ValueError, match="weights"):
        lm.loyalty_index(build(components), weights=negative)
