"""Tests for models.evaluate_holdout: identities, the CDNOW split end to end, errors."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from loyaltymetrics import datasets, models, tables

DATA = Path(__file__).parent / "data"
BG = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
# CDNOW estimates of BTYDplus (see tests/test_mbg_nbd.py)
MBG = models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)


def small_split() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "frequency_cal": [0, 0, 1, 3, 9],
            "recency_cal": [0.0, 0.0, 10.0, 20.0, 30.0],
            "T_cal": [20.0, 35.0, 30.0, 38.0, 39.0],
            "frequency_holdout": [0, 2, 1, 0, 5],
            "duration_holdout": [39.0, 39.0, 39.0, 39.0, 20.0],
        }
    )


def test_per_customer_predictions_are_the_conditional_expectations() -> None:
    split = small_split()
    ev = models.evaluate_holdout(BG, split, max_frequency=3)
    expected = BG.expected_purchases(
        split["duration_holdout"], split["frequency_cal"], split["recency_cal"], split["T_cal"]
    )
    np.testing.assert_allclose(ev.customers["predicted"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(ev.customers["actual"].to_numpy(), [0, 2, 1, 0, 5])
    np.testing.assert_allclose(
        ev.customers["error"].to_numpy(), expected - np.array([0, 2, 1, 0, 5]), rtol=1e-12
    )
    assert ev.customers["customer_id"].to_list() == ["a", "b", "c", "d", "e"]
    assert ev.n_customers == 5
    assert ev.actual_total == 8.0
    assert ev.predicted_total == pytest.approx(expected.sum(), rel=1e-12)
    err = expected - np.array([0, 2, 1, 0, 5])
    assert ev.mae == pytest.approx(np.abs(err).mean(), rel=1e-12)
    assert ev.rmse == pytest.approx(math.sqrt((err**2).mean()), rel=1e-12)


def test_table_by_calibration_frequency_pools_the_top_and_keeps_empty_groups() -> None:
    ev = models.evaluate_holdout(BG, small_split(), max_frequency=3)
    t = ev.by_frequency
    assert t["frequency_cal"].to_list() == [0, 1, 2, 3]
    assert t["pooled"].to_list() == [False, False, False, True]
    # groups by hand: x=0 -> a, b; x=1 -> c; x=2 -> none; x>=3 -> d, e
    assert t["n_customers"].to_list() == [2, 1, 0, 2]
    assert t["actual"].to_list() == [1.0, 1.0, None, 2.5]
    pred = ev.customers["predicted"].to_list()
    assert t["predicted"][0] == pytest.approx((pred[0] + pred[1]) / 2, rel=1e-12)
    assert t["predicted"][2] is None
    assert t["predicted"][3] == pytest.approx((pred[3] + pred[4]) / 2, rel=1e-12)
    assert t["n_customers"].sum() == ev.n_customers


def test_lazy_input_and_no_id_column() -> None:
    split = small_split().drop("customer_id")
    eager = models.evaluate_holdout(BG, split)
    lazy = models.evaluate_holdout(BG, split.lazy())
    assert eager.customers.columns == ["frequency_cal", "actual", "predicted", "error"]
    assert eager.customers.equals(lazy.customers)
    assert eager.by_frequency.equals(lazy.by_frequency)


def test_correlation_is_nan_when_actual_is_constant() -> None:
    split = small_split().with_columns(pl.lit(0).alias("frequency_holdout"))
    assert math.isnan(models.evaluate_holdout(BG, split).correlation)


def cdnow_log() -> pl.DataFrame:
    rows = []
    for line in (DATA / "CDNOW_sample.txt").read_text().splitlines():
        if line.strip():
            _master, sample_id, ymd, _cds, dollars = line.split()
            day = dt.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
            rows.append((int(sample_id), day, float(dollars)))
    return pl.DataFrame(rows, schema=["customer_id", "timestamp", "amount"], orient="row")


def test_cdnow_split_reproduces_the_published_fit_and_the_holdout_counts() -> None:
    """Fader, Hardie & Lee (2005): calibration to 1997-09-30 (weeks 1-39), holdout to
    1998-06-30 (weeks 40-78); BG/NBD r=0.243, alpha=4.414, a=0.793, b=2.426."""
    log = cdnow_log()
    split = tables.calibration_holdout_split(
        log,
        calibration_end=dt.date(1997, 9, 30),
        holdout_end=dt.date(1998, 6, 30),
        time_scaler=7,
    )
    fitted = models.BetaGeoModel.fit(split["frequency_cal"], split["recency_cal"], split["T_cal"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert {k: round(val, 3) for k, val in fitted.params.items()} == published
    ev = models.evaluate_holdout(fitted, split)
    # independent count: distinct purchase days per customer in the holdout window
    holdout_days: dict[int, set[dt.date]] = {}
    for cid, day, _ in log.iter_rows():
        if dt.date(1997, 9, 30) < day <= dt.date(1998, 6, 30):
            holdout_days.setdefault(cid, set()).add(day)
    assert ev.actual_total == sum(len(d) for d in holdout_days.values())
    assert ev.n_customers == 2357
    # the model tracks the data: each group's mean prediction within 40 % of the mean
    # actual, and the total within 15 % (FHL 2005, Figure 4 shows the same pattern)
    t = ev.by_frequency
    ratio = (t["predicted"] / t["actual"]).to_numpy()
    assert np.all(np.abs(ratio - 1) < 0.4)
    assert abs(ev.predicted_total / ev.actual_total - 1) < 0.15


def test_simulated_log_predictions_are_unbiased_in_aggregate() -> None:
    """Data drawn from a BG/NBD process: a model fitted on the calibration window
    predicts the holdout total within sampling error."""
    log = datasets.simulate_transactions(
        20_000, start=dt.date(2020, 1, 1), end=dt.date(2022, 1, 1), seed=7
    )
    split = tables.calibration_holdout_split(
        log, calibration_end=dt.date(2021, 1, 1), holdout_end=dt.date(2021, 12, 31)
    )
    fitted = models.BetaGeoModel.fit(split["frequency_cal"], split["recency_cal"], split["T_cal"])
    ev = models.evaluate_holdout(fitted, split)
    assert ev.actual_total > 1000
    # Poisson-scale sampling error of the total is ~ sqrt(total); allow a generous 5 %
    assert abs(ev.predicted_total / ev.actual_total - 1) < 0.05


@pytest.mark.parametrize(
    "model",
    [BG, MBG, models.ParetoNBDModel.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)],
    ids=["bg_nbd", "mbg_nbd", "pareto_nbd"],
)
def test_every_continuous_time_model_is_evaluated_with_its_own_expectations(
    model: models.TransactionModel,
) -> None:
    split = small_split()
    ev = models.evaluate_holdout(model, split, max_frequency=3)
    expected = model.expected_purchases(
        split["duration_holdout"], split["frequency_cal"], split["recency_cal"], split["T_cal"]
    )
    np.testing.assert_allclose(ev.customers["predicted"].to_numpy(), expected, rtol=1e-12)
    assert ev.predicted_total == pytest.approx(expected.sum(), rel=1e-12)
    if model is not BG:  # not BG/NBD's numbers under another name
        bg = models.evaluate_holdout(BG, split, max_frequency=3).customers["predicted"]
        assert np.abs(ev.customers["predicted"].to_numpy() - bg.to_numpy()).max() > 1e-3


@pytest.fixture(scope="module")
def cdnow_split() -> pl.DataFrame:
    return tables.calibration_holdout_split(
        cdnow_log(),
        calibration_end=dt.date(1997, 9, 30),
        holdout_end=dt.date(1998, 6, 30),
        time_scaler=7,
    )


def test_cdnow_mbg_nbd_forecast_is_close_to_bg_nbd_and_both_track_the_holdout(
    cdnow_split: pl.DataFrame,
) -> None:
    rfm = (cdnow_split["frequency_cal"], cdnow_split["recency_cal"], cdnow_split["T_cal"])
    bg = models.BetaGeoModel.fit(*rfm)
    mbg = models.ModifiedBetaGeoModel.fit(*rfm)
    # the split's calibration part is the CDNOW summary: BTYDplus's MBG/NBD estimates
    assert {k: round(val, 3) for k, val in mbg.params.items()} == dict(MBG.params)
    ev_bg = models.evaluate_holdout(bg, cdnow_split)
    ev_mbg = models.evaluate_holdout(mbg, cdnow_split)

    # per customer: the model's own conditional expectation over the holdout window
    expected = mbg.expected_purchases(cdnow_split["duration_holdout"], *rfm)
    np.testing.assert_allclose(ev_mbg.customers["predicted"].to_numpy(), expected, rtol=1e-12)
    assert ev_mbg.customers["customer_id"].equals(cdnow_split["customer_id"])
    assert ev_mbg.customers["actual"].equals(ev_bg.customers["actual"])
    assert ev_mbg.actual_total == ev_bg.actual_total == 1882

    # the two models forecast nearly the same total (about 1577 vs 1653 purchases) ...
    assert abs(ev_mbg.predicted_total / ev_bg.predicted_total - 1) < 0.06
    # ... and both fall short of the actual holdout purchases, by less than 20 %
    for ev in (ev_bg, ev_mbg):
        assert 0.8 < ev.predicted_total / ev.actual_total < 1.0
        ratio = (ev.by_frequency["predicted"] / ev.by_frequency["actual"]).to_numpy()
        assert np.all(np.abs(ratio - 1) < 0.4)
    # the difference: MBG/NBD lets a customer without repeat purchases be gone already,
    # so it predicts less for them than BG/NBD, for which they are all alive
    zero = cdnow_split["frequency_cal"] == 0
    p_alive = mbg.p_alive(*(c.filter(zero) for c in rfm))
    assert p_alive.max() < 1.0
    np.testing.assert_array_equal(bg.p_alive(*(c.filter(zero) for c in rfm)), 1.0)
    assert ev_mbg.by_frequency["predicted"][0] < ev_bg.by_frequency["predicted"][0]
    # per-customer errors of similar size
    assert ev_mbg.mae == pytest.approx(ev_bg.mae, rel=0.05)
    assert ev_mbg.rmse == pytest.approx(ev_bg.rmse, rel=0.05)


class InDays:
    """A model of one's own: a weekly model wrapped to take and predict in days."""

    def __init__(self, weekly: models.TransactionModel) -> None:
        self.weekly = weekly

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        return self.weekly.p_alive(frequency, np.asarray(recency) / 7, np.asarray(T) / 7)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        week = (np.asarray(a) / 7 for a in (t, recency, T))
        t_w, recency_w, big_t_w = week
        return self.weekly.expected_purchases(t_w, frequency, recency_w, big_t_w)


def test_any_model_with_the_prediction_methods_is_accepted() -> None:
    weeks = small_split()
    days = weeks.with_columns(pl.col("recency_cal", "T_cal", "duration_holdout") * 7)
    wrapped = InDays(MBG)
    assert isinstance(wrapped, models.TransactionModel)
    ev_days = models.evaluate_holdout(wrapped, days, max_frequency=3)
    ev_weeks = models.evaluate_holdout(MBG, weeks, max_frequency=3)
    np.testing.assert_allclose(
        ev_days.customers["predicted"].to_numpy(),
        ev_weeks.customers["predicted"].to_numpy(),
        rtol=1e-12,
    )
    assert ev_days.by_frequency.equals(ev_weeks.by_frequency.select(ev_days.by_frequency.columns))


class OneNumber:
    """The right methods, but one number for the whole population."""

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        return np.float64(0.5)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        return np.float64(1.0)


def test_model_type_errors() -> None:
    split = small_split()
    with pytest.raises(TypeError, match="not the class ModifiedBetaGeoModel"):
        models.evaluate_holdout(models.ModifiedBetaGeoModel, split)  # type: ignore[arg-type]
    bg_bb = models.BetaGeoBetaBinomModel.from_params(alpha=1.2, beta=0.75, gamma=0.66, delta=2.78)
    with pytest.raises(TypeError, match="BetaGeoBetaBinomModel is a discrete-time model"):
        models.evaluate_holdout(bg_bb, split)
    with pytest.raises(TypeError, match="expected_purchases\\(t, frequency, recency, T\\)"):
        models.evaluate_holdout(MBG.params, split)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"returned an array of shape \(\); expected \(5,\)"):
        models.evaluate_holdout(OneNumber(), split)


def test_errors() -> None:
    split = small_split()
    with pytest.raises(TypeError, match="model must be a continuous-time"):
        models.evaluate_holdout(
            models.GammaGammaModel.from_params(p=6.25, q=3.74, v=15.44),  # type: ignore[arg-type]
            split,
        )
    with pytest.raises(ValueError, match="missing column\\(s\\) 'T_cal', 'duration_holdout'"):
        models.evaluate_holdout(BG, split.drop("T_cal", "duration_holdout"))
    with pytest.raises(TypeError, match="split must be a polars DataFrame"):
        models.evaluate_holdout(BG, split.to_dict())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_frequency must be >= 1"):
        models.evaluate_holdout(BG, split, max_frequency=0)
    with pytest.raises(TypeError, match="max_frequency must be an int"):
        models.evaluate_holdout(BG, split, max_frequency=2.5)  # type: ignore[arg-type]
    bad = split.with_columns(pl.Series("duration_holdout", [39.0, -1.0, 39.0, 39.0, 39.0]))
    with pytest.raises(ValueError, match=r"duration_holdout\[1\]=-1"):
        models.evaluate_holdout(BG, bad)
    bad = split.with_columns(pl.Series("frequency_holdout", [0.0, 1.5, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"frequency_holdout\[1\]=1.5"):
        models.evaluate_holdout(BG, bad)
    bad = split.with_columns(pl.Series("recency_cal", [0.0, 0.0, 31.0, 20.0, 30.0]))
    with pytest.raises(ValueError, match=r"recency\[2\]"):
        models.evaluate_holdout(BG, bad)
