"""Out-of-sample evaluation of a transaction model on a calibration/holdout split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from . import _base as b
from ._transaction import TransactionModel, check_predictions, check_transaction_model

_REQUIRED = ("frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout")


@dataclass(frozen=True, slots=True)
class HoldoutEvaluation:
    """Predicted versus actual holdout purchases, per customer and in aggregate.

    Attributes
    ----------
    customers : polars.DataFrame
        One row per customer, in input order: the id column if the split had one,
        `frequency_cal`, `actual` (holdout purchases), `predicted` (the model's
        conditional expectation over `duration_holdout`) and `error` = predicted − actual.
    by_frequency : polars.DataFrame
        The conditional-expectations table of the BTYD papers: one row per calibration
        frequency 0, 1, …, `max_frequency` (the last row pools every customer with at
        least `max_frequency`, flagged by `pooled`), with `n_customers` and the mean
        `actual` and `predicted` holdout purchases.
    n_customers : int
        Number of customers evaluated.
    actual_total, predicted_total : float
        Total holdout purchases, observed and predicted.
    mae, rmse : float
        Mean absolute and root-mean-square per-customer error.
    correlation : float
        Pearson correlation of predicted and actual (`nan` if either is constant).
    """

    customers: pl.DataFrame
    by_frequency: pl.DataFrame
    n_customers: int
    actual_total: float
    predicted_total: float
    mae: float
    rmse: float
    correlation: float

    def __repr__(self) -> str:
        return (
            f"HoldoutEvaluation(n_customers={self.n_customers}, "
            f"actual_total={self.actual_total:.6g}, predicted_total={self.predicted_total:.6g}, "
            f"mae={self.mae:.4g}, rmse={self.rmse:.4g}, correlation={self.correlation:.4g})"
        )


def evaluate_holdout(
    model: TransactionModel,
    split: pl.DataFrame | pl.LazyFrame,
    *,
    customer_id: str = "customer_id",
    max_frequency: int = 7,
) -> HoldoutEvaluation:
    r"""Compare a transaction model's predictions with actual holdout purchases.

    For each customer of a `tables.calibration_holdout_split` table, the prediction is
    the conditional expectation of purchases in the holdout window given the calibration
    history, $E[Y(t^*) \mid x, t_x, T]$ with $t^*$ = `duration_holdout`; the error is
    predicted − actual. The aggregate table groups customers by calibration frequency, as
    in the "conditional expectations" figures of Fader, Hardie & Lee (2005), where a
    well-specified model's mean prediction tracks the mean actual in every group.

    Parameters
    ----------
    model : TransactionModel
        A continuous-time transaction model fitted to the calibration columns (same time
        unit): `BetaGeoModel`, `ModifiedBetaGeoModel`, `ParetoNBDModel`, or any object
        with their `p_alive` and `expected_purchases(t, frequency, recency, T)` methods.
    split : polars.DataFrame or polars.LazyFrame
        A table with `frequency_cal`, `recency_cal`, `T_cal`, `frequency_holdout` and
        `duration_holdout`, as `tables.calibration_holdout_split` returns (a LazyFrame
        is collected: the models work on in-memory arrays).
    customer_id : str, default="customer_id"
        Id column carried into `customers` if present (it is optional).
    max_frequency : int, default=7
        Calibration frequencies at or above this are pooled into the table's last row.

    Returns
    -------
    HoldoutEvaluation
        Per-customer errors, the table by calibration frequency and summary errors.

    Raises
    ------
    TypeError
        If `model` is not a fitted continuous-time transaction model (a model class, the
        discrete-time BG/BB model or an object without the two methods), `split` is not
        a polars frame, or `max_frequency` is not an int.
    ValueError
        If a required column is missing (all missing ones are named), the calibration
        columns are invalid (as in `fit`), the holdout counts are not whole numbers ≥ 0,
        the durations are not ≥ 0, `max_frequency < 1`, or the model's
        `expected_purchases` does not return one value per customer.

    References
    ----------
    1. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting Your Customers" the
       Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science*, 24(2),
       275–284.

    Examples
    --------
    >>> import polars as pl
    >>> from loyaltymetrics import models
    >>> bg = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> split = pl.DataFrame({
    ...     "frequency_cal": [0, 2, 5], "recency_cal": [0.0, 30.4, 35.0],
    ...     "T_cal": [38.9, 38.9, 38.9], "frequency_holdout": [0, 1, 4],
    ...     "duration_holdout": [39.0, 39.0, 39.0],
    ... })
    >>> ev = models.evaluate_holdout(bg, split, max_frequency=2)
    >>> ev.by_frequency.select("frequency_cal", "n_customers", "actual", "pooled").rows()
    [(0, 1, 0.0, False), (1, 0, None, False), (2, 2, 2.5, True)]
    >>> ev.n_customers, ev.actual_total
    (3, 5.0)
    """
    model = check_transaction_model(model)
    if isinstance(max_frequency, bool) or not isinstance(max_frequency, int):
        raise TypeError(f"max_frequency must be an int; got {max_frequency!r}")
    if max_frequency < 1:
        raise ValueError(f"max_frequency must be >= 1; got max_frequency={max_frequency}")
    if isinstance(split, pl.LazyFrame):
        split = split.collect()
    if not isinstance(split, pl.DataFrame):
        raise TypeError(
            "split must be a polars DataFrame or LazyFrame (from "
            f"tables.calibration_holdout_split); got {type(split).__name__}"
        )
    missing = [c for c in _REQUIRED if c not in split.columns]
    if missing:
        raise ValueError(
            f"split is missing column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, split.columns))}"
        )
    cols: dict[str, Any] = {c: split.get_column(c).to_numpy() for c in _REQUIRED}
    x, t_x, big_t = b.check_rfm(cols["frequency_cal"], cols["recency_cal"], cols["T_cal"])
    actual = b.as_array(cols["frequency_holdout"], "frequency_holdout")
    duration = b.as_array(cols["duration_holdout"], "duration_holdout")
    b.check_same_length(frequency_cal=x, frequency_holdout=actual, duration_holdout=duration)
    b.check_counts(actual, "frequency_holdout")
    if (duration < 0).any():
        i = int(np.flatnonzero(duration < 0)[0])
        raise ValueError(f"duration_holdout must be >= 0; got duration_holdout[{i}]={duration[i]}")
    predicted = check_predictions(
        model.expected_purchases(duration, x, t_x, big_t), x.shape[0], "expected_purchases"
    )
    error = predicted - actual

    customers = pl.DataFrame(
        {
            **({customer_id: split.get_column(customer_id)} if customer_id in split else {}),
            "frequency_cal": x.astype(np.int64),
            "actual": actual,
            "predicted": predicted,
            "error": error,
        }
    )
    groups = pl.DataFrame(
        {"frequency_cal": np.arange(max_frequency + 1, dtype=np.int64)},
    )
    by_frequency = (
        groups.join(
            customers.group_by(
                pl.col("frequency_cal").clip(upper_bound=max_frequency).alias("frequency_cal")
            ).agg(
                pl.len().cast(pl.Int64).alias("n_customers"),
                pl.col("actual").mean(),
                pl.col("predicted").mean(),
            ),
            on="frequency_cal",
            how="left",
        )
        .with_columns(
            pl.col("n_customers").fill_null(0),
            (pl.col("frequency_cal") == max_frequency).alias("pooled"),
        )
        .select("frequency_cal", "pooled", "n_customers", "actual", "predicted")
    )
    spread = float(np.std(actual)) > 0 and float(np.std(predicted)) > 0
    correlation = float(np.corrcoef(predicted, actual)[0, 1]) if spread else math.nan
    return HoldoutEvaluation(
        customers=customers,
        by_frequency=by_frequency,
        n_customers=int(x.shape[0]),
        actual_total=float(actual.sum()),
        predicted_total=float(predicted.sum()),
        mae=float(np.abs(error).mean()),
        rmse=float(np.sqrt(np.mean(error**2))),
        correlation=correlation,
    )
