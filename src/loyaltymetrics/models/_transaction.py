"""The prediction interface that the continuous-time transaction models have in common."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from loyaltymetrics._typing import FloatArray

from ._bg_bb import BetaGeoBetaBinomModel


@runtime_checkable
class TransactionModel(Protocol):
    """A fitted continuous-time transaction model, as `evaluate_holdout` and `plot` use it.

    `BetaGeoModel`, `ModifiedBetaGeoModel` and `ParetoNBDModel` satisfy it, and so does
    any other object with these two methods (a model of your own, or a wrapper around one
    of these). Time is in the unit of the RFM summary the model was fitted to. Both
    methods take the customers' frequency, recency and T as 1-D array-likes of equal
    length and must return one float per customer; the horizon `t` of
    `expected_purchases` is a number or one value per customer. The methods are called
    with positional arguments only. (The library's own models also take scalars and then
    return a ``float``; the functions that take a `TransactionModel` always pass arrays.)

    The discrete-time `BetaGeoBetaBinomModel` has methods with the same names, but its
    inputs count opportunities rather than time, so the functions that take a
    `TransactionModel` reject it.
    """

    def p_alive(self, frequency: Any, recency: Any, T: Any, /) -> FloatArray:
        """Probability that each customer is still active at the end of observation."""
        ...

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any, /) -> FloatArray:
        """Expected purchases of each customer in the next `t`, given the history."""
        ...


def check_transaction_model(model: object, name: str = "model") -> TransactionModel:
    """Return `model` if it is a fitted continuous-time transaction model; else TypeError."""
    if isinstance(model, type):
        raise TypeError(
            f"{name} must be a fitted model, not the class {model.__name__}; "
            f"build one with {model.__name__}.fit(...) or .from_params(...)"
        )
    if isinstance(model, BetaGeoBetaBinomModel):
        raise TypeError(
            f"{name} must be a continuous-time transaction model; BetaGeoBetaBinomModel "
            "is a discrete-time model (its inputs count opportunities, not time)"
        )
    if not isinstance(model, TransactionModel):
        raise TypeError(
            f"{name} must be a continuous-time transaction model (BetaGeoModel, "
            "ModifiedBetaGeoModel, ParetoNBDModel, or any object with methods "
            "p_alive(frequency, recency, T) and expected_purchases(t, frequency, recency, T)); "
            f"got {type(model).__name__}"
        )
    return model


def check_predictions(values: Any, n: int, method: str) -> FloatArray:
    """`values` as a float64 array of shape ``(n,)``, or a ValueError naming `method`."""
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(
            f"model.{method} returned an array of shape {out.shape}; expected ({n},), "
            "one value per customer"
        )
    return out
