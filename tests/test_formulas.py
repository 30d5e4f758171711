"""Hand-computed and published values for every top-level formula.

Each expected value is either computed by hand in the comment next to it or quoted from the
source named there (DEFINITIONS.md sections refer to ../shared/DEFINITIONS.md, which records
where each worked value was checked).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import loyaltymetrics as lm

# ---------------------------------------------------------------------------- survey


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([10, 9, 8, 7, 6, 0, 10, 9], 25.0),  # P=4, D=2, n=8: 100*(4-2)/8
        ([9, 10], 100.0),  # all promoters
        ([0, 6, 3], -100.0),  # all detractors
        ([7, 8, 7], 0.0),  # all passives
        ([9.0, 6.0, 8.0, 10.0], 25.0),  # whole floats are valid: P=2, D=1, n=4
        ([10] * 45 + [7] * 40 + [0] * 15, 30.0),  # DEFINITIONS.md §1a worked example
    ],
)
def test_nps_hand_computed(scores: list[float], expected: float) -> None:
    assert lm.nps(scores) == pytest.approx(expected, abs=1e-12)


def test_nps_boundaries_of_the_buckets() -> None:
    # 9 is a promoter, 8 and 7 passives, 6 a detractor: 100*(1-1)/4 = 0 and the
    # promoter/detractor boundary answers move the score in the expected direction.
    assert lm.nps([9, 8, 7, 6]) == 0.0
    assert lm.nps([9]) == 100.0
    assert lm.nps([8]) == 0.0
    assert lm.nps([7]) == 0.0
    assert lm.nps([6]) == -100.0


def test_nps_missing_answers_are_skipped() -> None:
    # None and NaN are missing: [10, 6] remain -> 100*(1-1)/2 = 0
    assert lm.nps([10, None, 6]) == 0.0
    assert lm.nps(np.array([10.0, np.nan, 9.0, 0.0])) == pytest.approx(100 / 3)
    assert lm.nps(pl.Series([10, None, 9, 0])) == pytest.approx(100 / 3)
    assert math.isnan(lm.nps([None, None]))
    assert math.isnan(lm.nps([]))


def test_nps_weights_hand_computed() -> None:
    # promoters weigh 3, detractors 1: 100*(3-1)/4 = 50
    assert lm.nps([10, 6], weights=[3, 1]) == 50.0
    # weights 0.5/0.25/0.25 on P/Pa/D: 100*(0.5-0.25)/1 = 25
    assert lm.nps([10, 8, 0], weights=[0.5, 0.25, 0.25]) == pytest.approx(25.0)
    # the weight of a missing answer is ignored: 100*(2-1)/3
    assert lm.nps([10, None, 0, 8], weights=[2, 100, 1, 0]) == pytest.approx(100 / 3)
    assert math.isnan(lm.nps([10, 0], weights=[0, 0]))


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((45, 40, 15), 30.0), ((1, 0, 0), 100.0), ((0, 0, 3), -100.0), ((0, 5, 0), 0.0)],
)
def test_nps_from_counts(counts: tuple[int, int, int], expected: float) -> None:
    assert lm.nps_from_counts(*counts) == pytest.approx(expected)


def test_nps_from_counts_zero_total_is_nan_and_arrays_broadcast() -> None:
    assert math.isnan(lm.nps_from_counts(0, 0, 0))
    out = lm.nps_from_counts(np.array([45, 0, 10]), [40, 0, 0], 15)
    np.testing.assert_allclose(out, [30.0, -100.0, -20.0])  # (10-15)/25 = -0.2
    assert isinstance(out, np.ndarray)


def test_csat_top_two_box_and_mean() -> None:
    scores = [5, 4, 3, 2, 5]
    assert lm.csat(scores) == pytest.approx(3 / 5)  # {4, 5}: 3 of 5
    assert lm.csat(scores, threshold=5) == pytest.approx(2 / 5)  # top box only
    assert lm.csat(scores, method="mean") == pytest.approx(19 / 5)
    assert lm.csat(scores, threshold=1) == 1.0


def test_csat_default_threshold_follows_the_scale() -> None:
    # 1-10 scale: top-2-box is {9, 10}, not {4..10}
    assert lm.csat([10, 9, 8, 7, 4], scale=(1, 10)) == pytest.approx(2 / 5)
    # 0-10 scale: same top-2-box
    assert lm.csat([0, 9, 10, 8], scale=(0, 10)) == pytest.approx(2 / 4)
    # 1-7 scale: {6, 7}
    assert lm.csat([7, 6, 5, 1], scale=(1, 7)) == pytest.approx(2 / 4)


def test_csat_weights_and_missing() -> None:
    assert lm.csat([5, 1], weights=[3, 1]) == pytest.approx(0.75)
    assert lm.csat([5, 1], weights=[3, 1], method="mean") == pytest.approx((15 + 1) / 4)
    assert lm.csat([5, None, 1]) == pytest.approx(0.5)
    assert math.isnan(lm.csat([None]))
    assert math.isnan(lm.csat([], method="mean"))


def test_ces_agreement_and_effort_scales() -> None:
    assert lm.ces([7, 6, 5, 2]) == pytest.approx(5.0)  # mean (7+6+5+2)/4
    assert lm.ces([7, 6, 5, 2], method="top_box") == pytest.approx(0.75)  # 5..7
    assert lm.ces([7, 6, 5, 2], method="top_box", threshold=6) == pytest.approx(0.5)
    # CES 1.0 effort scale, low = easy: share <= 2 is {1, 2} of 4
    effort = [1, 2, 4, 5]
    low = lm.ces(effort, scale=(1, 5), threshold=2, method="top_box", higher_is_better=False)
    assert low == pytest.approx(0.5)
    # the same answers read as an agreement scale: share >= 2 is {2, 4, 5} of 4
    high = lm.ces(effort, scale=(1, 5), threshold=2, method="top_box", higher_is_better=True)
    assert high == pytest.approx(0.75)
    assert lm.ces(effort, scale=(1, 5), higher_is_better=False) == pytest.approx(3.0)


def test_mean_ignores_the_top_box_threshold() -> None:
    # the default CES threshold (5) lies outside a 1-4 scale but the mean does not use it
    assert lm.ces([1, 2, 3], scale=(1, 4)) == pytest.approx(2.0)
    assert lm.csat([1, 2], scale=(1, 2), method="mean", threshold=99) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="threshold"):
        lm.ces([1, 2, 3], scale=(1, 4), method="top_box")


def test_ces_weights() -> None:
    assert lm.ces([7, 1], weights=[1, 3]) == pytest.approx((7 + 3) / 4)
    assert lm.ces([7, 1], weights=[1, 3], method="top_box") == pytest.approx(0.25)


def test_survey_input_forms_agree() -> None:
    data = [10, 9, 7, 6, 3, 8, 10]
    forms = [data, tuple(data), np.array(data), np.array(data, dtype=float), pl.Series(data)]
    for f in (lm.nps,):
        values = {f(x) for x in forms}  # type: ignore[arg-type]
        assert len(values) == 1
    csat_data = [5, 4, 3, 1, 2, 5]
    forms = [csat_data, tuple(csat_data), np.array(csat_data), pl.Series(csat_data)]
    assert len({lm.csat(x) for x in forms}) == 1  # type: ignore[arg-type]
    assert len({lm.ces(x, scale=(1, 5)) for x in forms}) == 1  # type: ignore[arg-type]
    for x in forms:
        assert type(lm.nps(x)) is float  # type: ignore[arg-type]
        assert type(lm.csat(x, method="mean")) is float  # type: ignore[arg-type]
        assert type(lm.ces(x, scale=(1, 5))) is float  # type: ignore[arg-type]


def test_survey_functions_do_not_modify_inputs() -> None:
    scores = np.array([10.0, np.nan, 3.0])
    weights = np.array([1.0, 2.0, 3.0])
    lm.nps(scores, weights=weights)
    np.testing.assert_array_equal(scores, [10.0, np.nan, 3.0])
    np.testing.assert_array_equal(weights, [1.0, 2.0, 3.0])


def test_response_rate() -> None:
    assert lm.response_rate(120, 1000) == pytest.approx(0.12)
    assert lm.response_rate(5, 5) == 1.0
    assert math.isnan(lm.response_rate(0, 0))


# --------------------------------------------------------------------- customer base


def test_retention_rate_seed_formula() -> None:
    # (E - N) / S = (210 - 30) / 200
    assert lm.retention_rate(200, 210, 30) == pytest.approx(0.9)
    # reactivated customers are taken out too: (210 - 30 - 10) / 200
    assert lm.retention_rate(200, 210, 30, customers_reactivated=10) == pytest.approx(0.85)
    assert math.isnan(lm.retention_rate(0, 5, 5))
    assert lm.retention_rate(100, 100, 0) == 1.0


def test_churn_rate_seed_formula() -> None:
    assert lm.churn_rate(200, 30) == pytest.approx(0.15)  # L / S
    assert lm.churn_rate(10, 10) == 1.0
    assert math.isnan(lm.churn_rate(0, 0))


def test_retention_plus_churn_is_one_with_reactivations() -> None:
    # S=200, L=30, N=25, R=5 -> E = 200 - 30 + 25 + 5 = 200
    retention = lm.retention_rate(200, 200, 25, customers_reactivated=5)
    assert retention + lm.churn_rate(200, 30) == pytest.approx(1.0)
    # the textbook (E - N)/S without R is inflated by the returning customers
    assert lm.retention_rate(200, 200, 25) == pytest.approx(175 / 200)


@pytest.mark.parametrize(
    ("monthly", "annual"),
    # DEFINITIONS.md §4 worked values (churnkey.co conversion table)
    [(0.01, 0.1136), (0.03, 0.3062), (0.05, 0.4596), (0.10, 0.7176)],
)
def test_convert_rate_monthly_churn_to_annual(monthly: float, annual: float) -> None:
    assert lm.convert_rate(monthly) == pytest.approx(annual, abs=5e-5)
    # and the direct formula 1 - (1 - c)^12
    assert lm.convert_rate(monthly) == pytest.approx(1 - (1 - monthly) ** 12, rel=1e-12)


def test_convert_rate_other_directions() -> None:
    # annual 30% churn -> monthly 2.93% (DEFINITIONS.md §4)
    assert lm.convert_rate(0.30, from_periods=12, to_periods=1) == pytest.approx(0.0293, abs=5e-5)
    # retention compounds as r^k: 0.9 annual -> 0.9^(1/12) monthly
    monthly = lm.convert_rate(0.9, from_periods=12, to_periods=1, kind="retention")
    assert monthly == pytest.approx(0.9 ** (1 / 12), rel=1e-12)
    # a weekly rate to a 4-week rate, non-integer ratio: 1 - (1-0.02)^(30/7)
    assert lm.convert_rate(0.02, from_periods=7, to_periods=30) == pytest.approx(
        1 - 0.98 ** (30 / 7), rel=1e-12
    )
    assert lm.convert_rate(1.0) == 1.0
    assert lm.convert_rate(0.0, kind="retention") == 0.0
    assert lm.convert_rate(0.0) == 0.0


def test_convert_rate_churn_and_retention_are_complements() -> None:
    for c in (0.0, 0.01, 0.3, 0.99, 1.0):
        churn = lm.convert_rate(c, to_periods=12)
        retention = lm.convert_rate(1 - c, to_periods=12, kind="retention")
        assert churn == pytest.approx(1 - retention, abs=1e-12)


def test_revenue_retention_worked_example() -> None:
    # DEFINITIONS.md §4 (pulserevops): 10.0M start, 0.6M contraction, 0.9M churn, 1.8M
    # expansion -> GRR 85 %, NRR 103 %
    assert lm.gross_revenue_retention(10.0, 0.6, 0.9) == pytest.approx(0.85)
    assert lm.net_revenue_retention(10.0, 1.8, 0.6, 0.9) == pytest.approx(1.03)
    assert math.isnan(lm.net_revenue_retention(0.0, 0.0, 0.0, 0.0))
    assert math.isnan(lm.gross_revenue_retention(0.0, 0.0, 0.0))
    # float sums at the boundary are accepted: 0.1 + 0.2 > 0.3 in binary floating point
    assert lm.gross_revenue_retention(0.3, 0.1, 0.2) == pytest.approx(0.0, abs=1e-15)


# -------------------------------------------------------------------------- commerce


def test_commerce_ratios() -> None:
    assert lm.repeat_purchase_rate(320, 1000) == pytest.approx(0.32)
    assert lm.purchase_frequency(1500, 1000) == pytest.approx(1.5)
    assert lm.average_order_value(12_500.0, 250) == pytest.approx(50.0)
    assert lm.referral_rate(45, 300) == pytest.approx(0.15)
    assert lm.share_of_wallet(300.0, 1200.0) == pytest.approx(0.25)
    # revenue per customer = AOV x purchase frequency: 12500/1000
    aov = lm.average_order_value(12_500.0, 1500)
    assert aov * lm.purchase_frequency(1500, 1000) == pytest.approx(12.5)
    for f in (
        lm.repeat_purchase_rate,
        lm.purchase_frequency,
        lm.average_order_value,
        lm.referral_rate,
        lm.share_of_wallet,
    ):
        assert math.isnan(f(0, 0))


@pytest.mark.parametrize(
    ("n", "expected"),
    # DEFINITIONS.md §9 (Keiningham et al. 2011 formula, values checked there)
    [
        (1, [1.0]),
        (2, [2 / 3, 1 / 3]),
        (3, [0.5, 1 / 3, 1 / 6]),
        (4, [0.4, 0.3, 0.2, 0.1]),
        (5, [1 / 3, 4 / 15, 0.2, 2 / 15, 1 / 15]),
    ],
)
def test_wallet_allocation_share_published_values(n: int, expected: list[float]) -> None:
    got = lm.wallet_allocation_share(np.arange(1, n + 1), n)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert lm.wallet_allocation_share(1, n) == pytest.approx(expected[0])


def test_wallet_allocation_share_average_ranks_for_ties() -> None:
    # two brands tied for first of three: (1 - 1.5/4) * 2/3 = 0.41667 each
    got = lm.wallet_allocation_share([1.5, 1.5, 3], 3)
    np.testing.assert_allclose(got, [5 / 12, 5 / 12, 1 / 6], rtol=1e-12)
    assert got.sum() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- value


def test_clv_simple() -> None:
    assert lm.clv(50.0, 4, 3) == pytest.approx(600.0)
    assert lm.clv(50.0, 4, 3, margin=0.25) == pytest.approx(150.0)
    assert lm.clv(50.0, 4, 3, margin=-0.1) == pytest.approx(-60.0)


@pytest.mark.parametrize(
    ("periods", "expected"),
    # DEFINITIONS.md §7b worked values for m = 100, r = 0.8, d = 0.10
    [(None, 266.67), (1, 72.73), (5, 212.41), (10, 255.63), (50, 266.67)],
)
def test_clv_discounted_worked_values(periods: int | None, expected: float) -> None:
    assert lm.clv_discounted(100.0, 0.8, 0.10, periods=periods) == pytest.approx(
        expected, abs=0.005
    )


def test_clv_discounted_matches_the_explicit_sum() -> None:
    m, r, d = 120.0, 0.85, 0.08
    for horizon in (1, 2, 7, 30):
        explicit = math.fsum(m * r**t / (1 + d) ** t for t in range(1, horizon + 1))
        assert lm.clv_discounted(m, r, d, periods=horizon) == pytest.approx(explicit, rel=1e-12)


def test_clv_discounted_timing_variants() -> None:
    # Fader & Hardie (2012) note 024: m(1+d)/(1+d-r) = 366.67 for m=100, r=0.8, d=0.1
    assert lm.clv_discounted(100.0, 0.8, 0.1, include_current=True) == pytest.approx(
        366.6667, abs=1e-4
    )
    assert lm.clv_discounted(100.0, 0.8, 0.1, periods=3, include_current=True) == pytest.approx(
        100 + 100 * sum((0.8 / 1.1) ** t for t in (1, 2, 3)), rel=1e-12
    )
    # q = r/(1+d) = 1: each period is worth m
    assert lm.clv_discounted(10.0, 1.0, 0.0, periods=5) == pytest.approx(50.0)
    assert lm.clv_discounted(10.0, 0.0, 0.1, periods=5) == 0.0
    assert lm.clv_discounted(10.0, 0.0, 0.1) == 0.0


# ----------------------------------------------------------------------------- index


def test_loyalty_index_hand_computed() -> None:
    # NPS 30 -> (30+100)/2 = 65; retention 0.85 -> 85; mean 75
    assert lm.loyalty_index({"nps": 30.0, "retention_rate": 0.85}) == pytest.approx(75.0)
    # CSAT mean 4.2 on 1-5 -> 100*(3.2/4) = 80; weights 2:1 with NPS 65 -> (130+80)/3 = 70
    got = lm.loyalty_index(
        {"nps": 30.0, "csat": lm.IndexComponent(4.2, scale=(1, 5))},
        weights={"nps": 2, "csat": 1},
    )
    assert got == pytest.approx(70.0)
    # effort scale, lower is better: 2 on 1-5 -> 100*(5-2)/4 = 75
    effort = lm.IndexComponent(2.0, scale=(1, 5), higher_is_better=False)
    assert lm.loyalty_index({"ces": effort}) == pytest.approx(75.0)
    assert lm.loyalty_index({"nps": -100.0}) == 0.0
    assert lm.loyalty_index({"nps": 100.0, "repeat_purchase_rate": 1.0}) == 100.0


def test_loyalty_index_missing_component_is_left_out_not_zero() -> None:
    weights = {"nps": 1.0, "retention_rate": 1.0, "csat_top_box": 2.0}
    # csat not given: mean of the other two (65 + 85)/2, not (65 + 85 + 0)/4
    got = lm.loyalty_index({"nps": 30.0, "retention_rate": 0.85}, weights=weights)
    assert got == pytest.approx(75.0)


def test_loyalty_index_per_customer_arrays() -> None:
    got = lm.loyalty_index({"nps": np.array([-100.0, 0.0, 100.0]), "retention_rate": 0.5})
    np.testing.assert_allclose(got, [25.0, 50.0, 75.0])
    assert isinstance(got, np.ndarray)


def test_index_component_is_frozen() -> None:
    comp = lm.IndexComponent(4.0, scale=(1, 5))
    with pytest.raises(AttributeError):
        comp.value = 3.0  # type: ignore[misc]


# ------------------------------------------------------------------- return types


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (lm.churn_rate, (200, 30)),
        (lm.retention_rate, (200, 210, 30)),
        (lm.response_rate, (12, 100)),
        (lm.nps_from_counts, (4, 3, 2)),
        (lm.net_revenue_retention, (10.0, 1.0, 1.0, 1.0)),
        (lm.gross_revenue_retention, (10.0, 1.0, 1.0)),
        (lm.repeat_purchase_rate, (3, 10)),
        (lm.purchase_frequency, (30, 10)),
        (lm.average_order_value, (300.0, 10)),
        (lm.referral_rate, (3, 10)),
        (lm.share_of_wallet, (3.0, 10.0)),
        (lm.wallet_allocation_share, (2, 3)),
        (lm.clv, (50.0, 4, 3)),
        (lm.clv_discounted, (100.0, 0.8, 0.1)),
        (lm.convert_rate, (0.05,)),
    ],
)
def test_scalars_give_float_and_arrays_give_ndarray(fn: object, args: tuple[float, ...]) -> None:
    assert callable(fn)
    scalar = fn(*args)
    assert type(scalar) is float
    for wrap in (list, np.array, pl.Series):
        arr = fn(*(wrap([a, a]) for a in args))
        assert isinstance(arr, np.ndarray)
        assert arr.dtype == np.float64
        np.testing.assert_allclose(arr, [scalar, scalar], rtol=1e-12)
    # numpy scalars are scalars
    assert type(fn(*(np.float64(a) for a in args))) is float
