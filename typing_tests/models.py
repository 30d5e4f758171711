"""Checked by ``mypy --strict``, never run: model predictions are "scalar in, float out"."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from loyaltymetrics import models

bg = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
mbg = models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)
pn = models.ParetoNBDModel.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
bb = models.BetaGeoBetaBinomModel.from_params(alpha=1.2, beta=0.75, gamma=0.66, delta=2.8)
gg = models.GammaGammaModel.from_params(p=6.25, q=3.74, v=15.44)

p: float = bg.p_alive(2, 30.43, 38.86)
p = mbg.p_alive(2, 30.43, 38.86)
p = pn.p_alive(2, 30.43, 38.86)
p = bb.p_alive(3, 5, 6)
p = bg.probability_of_purchases(2, 39.0)
p = mbg.probability_of_purchases(0, 39.0)
e: float = bg.expected_purchases(39.0, 2, 30.43, 38.86)
e = mbg.expected_purchases(39.0, 2, 30.43, 38.86)
e = pn.expected_purchases(39.0, 2, 30.43, 38.86)
e = bb.expected_purchases(5, 3, 5, 6)
e = bg.expected_purchases_new(39.0)
e = mbg.expected_purchases_new(39.0)
e = pn.expected_purchases_new(39.0)
e = bb.expected_purchases_new(5)
e = gg.expected_spend(2, 35.5)

array: npt.NDArray[np.float64] = bg.p_alive([2, 0], [30.43, 0.0], [38.86, 38.86])
array = mbg.p_alive(np.array([2.0]), 30.43, 38.86)
array = pn.p_alive(pl.Series([2]), pl.Series([30.43]), pl.Series([38.86]))
array = bb.p_alive([3], [5], [6])
array = bg.probability_of_purchases(range(5), 39.0)
array = bg.probability_of_purchases([0, 1, 2], 39.0)
array = bg.expected_purchases([13.0, 39.0], 2, 30.43, 38.86)
array = pn.expected_purchases(39.0, [2], [30.43], [38.86])
array = bb.expected_purchases(5, [3], [5], [6])
array = mbg.expected_purchases_new(np.array([1.0, 39.0]))
array = gg.expected_spend([2, 0], [35.5, 0.0])

# an array in gives an array, never a float (the ignore fails mypy if it stops being needed)
wrong: float = bg.p_alive([2], [30.43], [38.86])  # type: ignore[assignment]

# every transaction model is a TransactionModel (what evaluate_holdout, plot and
# customer_lifetime_value accept)
model: models.TransactionModel = bg
model = mbg
model = pn
