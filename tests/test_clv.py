"""customer_lifetime_value: the time unit is always stated, the spend policy, any model.

The values are checked against independent computations: the discounted sum of
`expected_purchases` differences by hand, with the unit conversion written out here
(365.25 / 12 days per month), not read from the library's table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyaltymetrics import datasets, models, tables
from loyaltymetrics._typing import FloatArray

BG_NBD_CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL 2005, weeks
GG_CDNOW = {"p": 6.25, "q": 3.74, "v": 15.44}  # Fader & Hardie, note 025
DAYS_PER_MONTH = 365.25 / 12
BG = models.BetaGeoModel.from_params(**BG_NBD_CDNOW)
GG = models.GammaGammaModel.from_params(**GG_CDNOW)


@pytest.fixture(scope="module")
def weekly() -> tuple[pl.DataFrame, models.BetaGeoModel, models.GammaGammaModel]:
    """The CDNOW log as the README builds it: RFM in weeks, both models fitted to it."""
    rfm = tables.rfm_summary(datasets.load_cdnow(), amount="amount", time_unit="D", time_scaler=7)
    bg = models.BetaGeoModel.fit(rfm["frequency"], rfm["recency"], rfm["T"])
    spenders = rfm.filter((pl.col("frequency") > 0) & (pl.col("monetary_value") > 0))
    gg = models.GammaGammaModel.fit(spenders["frequency"], spenders["monetary_value"])
    return rfm, bg, gg


def _by_hand(
    model: Any, spend: FloatArray, x: Any, t_x: Any, big_t: Any, per_month: float, *, d: float
) -> FloatArray:
    """FHL (2005, JMR): Σ_k (E_k − E_{k−1}) / (1 + d)^k over 12 months, times the spend."""
    e = [model.expected_purchases(k * per_month, x, t_x, big_t) for k in range(13)]
    return np.asarray(spend * sum((e[k] - e[k - 1]) / (1 + d) ** k for k in range(1, 13)))


# ---------------------------------------------------------------- 1. the time unit


def test_a_weekly_table_cannot_give_a_daily_answer(weekly: Any) -> None:
    # issue 22: RFM in weeks and CLV without a unit used to be read as days (5x too high)
    rfm, bg, gg = weekly
    cols = (rfm["frequency"], rfm["recency"], rfm["T"], rfm["monetary_value"])
    with pytest.raises(TypeError, match="time_unit"):
        models.customer_lifetime_value(bg, gg, *cols)  # type: ignore[call-arg]
    in_weeks = models.customer_lifetime_value(bg, gg, *cols, time_unit="W")
    as_in_rfm = models.customer_lifetime_value(bg, gg, *cols, time_unit="D", time_scaler=7)
    np.testing.assert_allclose(as_in_rfm, in_weeks, rtol=1e-12)
    spend = gg.expected_spend(
        np.where(rfm["monetary_value"] > 0, rfm["frequency"], 0), rfm["monetary_value"]
    )
    expected = _by_hand(bg, spend, *cols[:3], DAYS_PER_MONTH / 7, d=0.01)
    np.testing.assert_allclose(in_weeks, expected, rtol=1e-10)
    # the magnitudes of the issue: about 780 thousand in weeks, 3.9 million read as days
    assert 7.7e5 < in_weeks.sum() < 7.9e5
    misread = models.customer_lifetime_value(bg, gg, *cols, time_unit="D")
    assert 3.8e6 < misread.sum() < 4.0e6


@pytest.mark.parametrize(
    ("time_unit", "time_scaler", "days"),
    [
        ("h", 1.0, 1 / 24),
        ("h", 24.0, 1.0),
        ("D", 1.0, 1.0),
        ("D", 7.0, 7.0),
        ("D", 14.0, 14.0),
        ("W", 1.0, 7.0),
        ("W", 2.0, 14.0),
        ("M", 1.0, DAYS_PER_MONTH),
    ],
)
def test_any_unit_of_rfm_summary_gives_the_same_value(
    time_unit: str, time_scaler: float, days: float
) -> None:
    # a model in units of `days` days: alpha scales with the unit, r, a, b do not
    x, t_x, big_t = np.array([0.0, 2.0, 5.0]), np.array([0.0, 30.0, 35.0]), np.full(3, 38.0)
    m = np.array([0.0, 20.0, 50.0])
    reference = models.customer_lifetime_value(BG, GG, x, t_x, big_t, m, time_unit="W")
    c = 7.0 / days  # model units per week
    other = models.BetaGeoModel.from_params(**{**BG_NBD_CDNOW, "alpha": 4.414 * c})
    got = models.customer_lifetime_value(
        other, GG, x, t_x * c, big_t * c, m, time_unit=time_unit, time_scaler=time_scaler
    )
    np.testing.assert_allclose(got, reference, rtol=1e-9)


def test_the_unit_vocabulary_is_rfm_summarys() -> None:
    args = (BG, GG, [1], [2.0], [3.0], [10.0])
    for bad in ("Y", "d", "w", "weeks", ""):
        with pytest.raises(ValueError, match=rf"time_unit.*'h'.*got time_unit='{bad}'"):
            models.customer_lifetime_value(*args, time_unit=bad)
        with pytest.raises(ValueError, match=r"time_unit"):
            tables.rfm_summary(
                pl.DataFrame({"customer_id": [1], "timestamp": [dt.date(2024, 1, 1)]}),
                time_unit=bad,
            )
    with pytest.raises(TypeError, match=r"time_unit"):
        models.customer_lifetime_value(*args, time_unit=None)  # type: ignore[arg-type]
    for scaler in (0.0, -7.0):
        with pytest.raises(ValueError, match=r"time_scaler"):
            models.customer_lifetime_value(*args, time_unit="D", time_scaler=scaler)


# ------------------------------------------------------- any model with the methods


class _DailyView:
    """A weekly model seen in days, through the public methods only (a user's wrapper)."""

    def __init__(self, weekly: models.BetaGeoModel) -> None:
        self.weekly = weekly

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        return self.weekly.p_alive(frequency, np.asarray(recency) / 7, np.asarray(T) / 7)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        return self.weekly.expected_purchases(
            np.asarray(t) / 7, frequency, np.asarray(recency) / 7, np.asarray(T) / 7
        )


class _Spend:
    """A spend model of one's own: a flat 10 per purchase."""

    def expected_spend(self, frequency: Any, monetary_value: Any) -> Any:
        return np.full(np.shape(frequency), 10.0)


def test_any_object_with_the_protocol_methods_is_accepted() -> None:
    x, t_x, big_t = np.array([0.0, 2.0, 5.0]), np.array([0.0, 30.0, 35.0]), np.full(3, 38.0)
    m = np.array([0.0, 20.0, 50.0])
    assert isinstance(_DailyView(BG), models.TransactionModel)
    got = models.customer_lifetime_value(
        _DailyView(BG), _Spend(), x, 7 * t_x, 7 * big_t, m, time_unit="D"
    )
    expected = _by_hand(BG, np.full(3, 10.0), x, t_x, big_t, DAYS_PER_MONTH / 7, d=0.01)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_a_model_returning_the_wrong_shape_is_named() -> None:
    class Scalar(_DailyView):
        def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
            return 1.0

    with pytest.raises(ValueError, match=r"expected_purchases returned .* shape \(\)"):
        models.customer_lifetime_value(
            Scalar(BG), GG, [1, 2], [1.0, 2.0], [3.0, 3.0], [5.0, 5.0], time_unit="D"
        )
    with pytest.raises(TypeError, match=r"not the class BetaGeoModel"):
        models.customer_lifetime_value(
            models.BetaGeoModel, GG, [1], [1.0], [3.0], [5.0], time_unit="D"
        )
    with pytest.raises(TypeError, match=r"spend_model.*expected_spend"):
        models.customer_lifetime_value(BG, object(), [1], [1.0], [3.0], [5.0], time_unit="D")


# ------------------------------------------------------ 2. non-positive mean spend

X = np.array([0.0, 3.0, 2.0, 1.0, 4.0, 0.0])
T_X = np.array([0.0, 20.0, 10.0, 5.0, 30.0, 0.0])
BIG_T = np.full(6, 38.0)
M = np.array([-5.0, 0.0, 25.0, -12.5, 40.0, 0.0])  # customers 1 and 3 are affected
AFFECTED = np.array([False, True, False, True, False, False])


def _clv(**kw: Any) -> FloatArray:
    return models.customer_lifetime_value(BG, GG, X, T_X, BIG_T, M, time_unit="W", **kw)


def test_population_mean_is_the_default_and_values_at_the_mean_spend() -> None:
    p, q, v = GG_CDNOW.values()
    population_mean = p * v / (q - 1)  # Fader & Hardie, note 025: E[Z] = p v / (q - 1)
    spend = np.where(AFFECTED, population_mean, GG.expected_spend(X, np.where(AFFECTED, 1, M)))
    expected = _by_hand(BG, spend, X, T_X, BIG_T, DAYS_PER_MONTH / 7, d=0.01)
    np.testing.assert_allclose(_clv(), expected, rtol=1e-10)
    np.testing.assert_array_equal(_clv(nonpositive_spend="population_mean"), _clv())
    assert np.all(_clv()[AFFECTED] > 0)


def test_zero_gives_the_affected_customers_nothing_and_leaves_the_others() -> None:
    zero = _clv(nonpositive_spend="zero")
    assert np.all(zero[AFFECTED] == 0.0)
    np.testing.assert_array_equal(zero[~AFFECTED], _clv()[~AFFECTED])


def test_raise_names_the_count_and_the_first_customer() -> None:
    with pytest.raises(
        ValueError,
        match=r"<= 0 for 2 customer\(s\).*frequency\[1\]=3, monetary_value\[1\]=0\b.*"
        r"nonpositive_spend='population_mean'",
    ):
        _clv(nonpositive_spend="raise")
    fine = M.copy()
    fine[AFFECTED] = 1.0
    # without affected customers every policy is the plain model
    got = [
        models.customer_lifetime_value(
            BG, GG, X, T_X, BIG_T, fine, time_unit="W", nonpositive_spend=policy
        )
        for policy in ("raise", "zero", "population_mean")
    ]
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[0], got[2])


def test_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"nonpositive_spend.*got nonpositive_spend='mean'"):
        _clv(nonpositive_spend="mean")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.floats(-50, 200, allow_nan=False)),
        min_size=1,
        max_size=12,
    )
)
def test_policies_differ_only_on_the_affected_customers(rows: list[tuple[int, float]]) -> None:
    x = np.array([r[0] for r in rows], dtype=float)
    m = np.array([r[1] for r in rows])
    t_x = np.where(x > 0, 10.0, 0.0)
    big_t = np.full(x.shape, 20.0)
    bad = (x > 0) & (m <= 0)
    kw: dict[str, Any] = {"time_unit": "W", "horizon": 6}
    mean = models.customer_lifetime_value(BG, GG, x, t_x, big_t, m, **kw)
    zero = models.customer_lifetime_value(BG, GG, x, t_x, big_t, m, nonpositive_spend="zero", **kw)
    np.testing.assert_array_equal(mean[~bad], zero[~bad])
    assert np.all(zero[bad] == 0.0)
    assert np.all(mean[bad] > 0.0)
    if bad.any():
        with pytest.raises(ValueError, match=rf"for {int(bad.sum())} customer\(s\)"):
            models.customer_lifetime_value(
                BG, GG, x, t_x, big_t, m, nonpositive_spend="raise", **kw
            )


@pytest.mark.parametrize("kind", ["bg", "mbg", "pareto"])
def test_the_library_models_give_what_their_public_methods_give(kind: str) -> None:
    # the built-in models take a shortcut (P(alive) once); a wrapper exposing only the
    # public methods goes through expected_purchases: both must agree
    model: Any = {
        "bg": BG,
        "mbg": models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614),
        "pareto": models.ParetoNBDModel.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669),
    }[kind]

    class Public:
        def p_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
            return model.p_alive(frequency, recency, T)

        def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
            return model.expected_purchases(t, frequency, recency, T)

    kw: dict[str, Any] = {"time_unit": "W", "horizon": 24, "discount_rate": 0.02}
    np.testing.assert_allclose(
        models.customer_lifetime_value(model, GG, X, T_X, BIG_T, M, **kw),
        models.customer_lifetime_value(Public(), GG, X, T_X, BIG_T, M, **kw),
        rtol=1e-12,
    )


# ------------------------------------- the interpolated discounted sum (large inputs)
#
# From `_clv._INTERPOLATE_MIN` customers, the library models' discounted sum is a
# Chebyshev interpolant per frequency in log(alpha + T) (see `_clv`). It must give what the
# month-by-month sum gives, on any model, unit and population; with the threshold raised
# every customer takes the month-by-month path, which the tests above check by hand.


def _population(rng: np.random.Generator, n: int, max_t: float) -> tuple[FloatArray, ...]:
    """Frequencies with a long tail (some with few customers), continuous T and recency."""
    x = np.minimum(rng.geometric(0.35, size=n) - 1, 400).astype(np.float64)
    big_t = rng.uniform(0.0, max_t, size=n)
    t_x = np.where(x > 0, big_t * rng.uniform(0.0, 1.0, size=n), 0.0)
    spend = rng.gamma(2.0, 20.0, size=n)
    return x, t_x, big_t, spend


def _random_model(rng: np.random.Generator, kind: str) -> Any:
    def draw(lo: float, hi: float) -> float:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    if kind == "bg":
        return models.BetaGeoModel.from_params(
            r=draw(0.05, 5), alpha=draw(0.5, 50), a=draw(0.1, 5), b=draw(0.1, 10)
        )
    if kind == "mbg":
        return models.ModifiedBetaGeoModel.from_params(
            r=draw(0.05, 5), alpha=draw(0.5, 50), a=draw(0.1, 5), b=draw(0.1, 10)
        )
    return models.ParetoNBDModel.from_params(
        r=draw(0.05, 5), alpha=draw(0.5, 50), s=draw(0.1, 5), beta=draw(0.5, 50)
    )


def _both_paths(monkeypatch: pytest.MonkeyPatch, *args: Any, **kw: Any) -> tuple[Any, Any]:
    from loyaltymetrics.models import _clv

    fast = models.customer_lifetime_value(*args, **kw)
    with monkeypatch.context() as m:
        m.setattr(_clv, "_INTERPOLATE_MIN", 10**12)
        slow = models.customer_lifetime_value(*args, **kw)
    return fast, slow


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["bg", "mbg", "pareto"])
def test_the_interpolated_sum_is_the_month_by_month_sum(
    monkeypatch: pytest.MonkeyPatch, kind: str, seed: int
) -> None:
    rng = np.random.default_rng(1000 * seed + len(kind))
    model = _random_model(rng, kind)
    unit, max_t = [("W", 80.0), ("D", 900.0), ("M", 30.0), ("h", 20_000.0)][seed]
    x, t_x, big_t, spend = _population(rng, 30_000, max_t)
    kw: dict[str, Any] = {
        "time_unit": unit,
        "horizon": int(rng.integers(1, 40)),
        "discount_rate": float(rng.uniform(0.0, 0.05)),
    }
    fast, slow = _both_paths(monkeypatch, model, _Spend(), x, t_x, big_t, spend, **kw)
    assert np.all(slow > 0)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0)


def test_the_interpolated_sum_matches_40_digit_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    # independent of the library's hypergeometric code: FHL (2005, eq. 10) in mpmath
    import mpmath

    mpmath.mp.dps = 40
    p = BG_NBD_CDNOW
    rng = np.random.default_rng(7)
    x, t_x, big_t, spend = _population(rng, 30_000, 78.0)
    fast, _ = _both_paths(monkeypatch, BG, _Spend(), x, t_x, big_t, spend, time_unit="W")
    month = mpmath.mpf(365.25) / 12 / 7
    for i in rng.choice(x.size, 12, replace=False):
        rr, bb, a = mpmath.mpf(p["r"]) + x[i], mpmath.mpf(p["b"]) + x[i], mpmath.mpf(p["a"])
        alive = 1 / (
            1
            + (x[i] > 0)
            * a
            / (bb - 1)
            * ((p["alpha"] + mpmath.mpf(big_t[i])) / (p["alpha"] + mpmath.mpf(t_x[i]))) ** rr
        )
        total, previous = mpmath.mpf(0), mpmath.mpf(0)
        for k in range(1, 13):
            u = k * month / (p["alpha"] + mpmath.mpf(big_t[i]))
            e = (
                (a + bb - 1)
                / (a - 1)
                * (1 - (1 + u) ** -rr * mpmath.hyp2f1(rr, bb, a + bb - 1, u / (1 + u)))
            )
            total += (e - previous) / mpmath.mpf(1.01) ** k
            previous = e
        assert float(fast[i]) == pytest.approx(float(10 * alive * total), rel=1e-12)


def test_one_t_for_everyone_and_frequencies_that_do_not_converge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from loyaltymetrics.models import _clv

    rng = np.random.default_rng(3)
    x, t_x, _, spend = _population(rng, 30_000, 52.0)
    big_t = np.full(x.size, 52.0)  # a cohort observed for one year: one T for all
    t_x = np.minimum(t_x, 52.0)
    fast, slow = _both_paths(monkeypatch, BG, _Spend(), x, t_x, big_t, spend, time_unit="W")
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0)
    # no degree reaches the tolerance: every frequency takes the month-by-month path
    monkeypatch.setattr(_clv, "_CHEB_TOL", 0.0)
    x, t_x, big_t, spend = _population(rng, 30_000, 78.0)
    fast, slow = _both_paths(monkeypatch, BG, _Spend(), x, t_x, big_t, spend, time_unit="W")
    np.testing.assert_array_equal(fast, slow)
