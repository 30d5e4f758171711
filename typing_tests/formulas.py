"""Checked by ``mypy --strict``, never run: the overloads give users the right types."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

import loyaltymetrics as lm

scalar: float = lm.churn_rate(200, 30)
scalar = lm.retention_rate(200, 210, 30, customers_reactivated=5)
scalar = lm.convert_rate(0.05, to_periods=12, kind="retention")
scalar = lm.clv_discounted(100.0, 0.8, 0.1, periods=5)
scalar = lm.nps([10, 9, None])
scalar = lm.csat(np.array([5, 4]), scale=(1, 5), method="mean")
scalar = lm.ces(pl.Series([7, 6]))
scalar = lm.loyalty_index({"nps": 30.0, "csat": lm.IndexComponent(4.2, scale=(1, 5))})

array: npt.NDArray[np.float64] = lm.churn_rate([200, 100], [30, 10])
array = lm.churn_rate(np.array([200.0]), 30)
array = lm.average_order_value(pl.Series([1.0]), [1])
array = lm.wallet_allocation_share([1, 2, 3], 3)
