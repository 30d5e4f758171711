"""Model-based customer lifetime value: a transaction model times a spend model, discounted."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from loyaltymetrics import _validation as v
from loyaltymetrics._periods import UNITS_PER_MONTH
from loyaltymetrics._typing import FloatArray

from . import _base as b
from ._bg_nbd import BetaGeoModel
from ._gamma_gamma import GammaGammaModel
from ._mbg_nbd import ModifiedBetaGeoModel
from ._pareto_nbd import ParetoNBDModel


def customer_lifetime_value(
    transaction_model: BetaGeoModel | ModifiedBetaGeoModel | ParetoNBDModel,
    spend_model: GammaGammaModel,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    horizon: int = 12,
    discount_rate: float = 0.01,
    time_unit: str = "D",
    margin: float = 1.0,
) -> FloatArray:
    r"""Discounted expected value of each customer's purchases over the next `horizon` months.

    With $E_k$ the expected purchases in the first $k$ months (from the transaction
    model, conditional on the customer's history), $\bar s$ the expected spend per
    purchase (from the spend model), $m$ the margin and $d$ the monthly discount rate:

    $$\mathrm{CLV} = m\,\bar s \sum_{k=1}^{H} \frac{E_k - E_{k-1}}{(1 + d)^k}$$

    i.e. each month's expected purchases are discounted at the end of that month, as in
    the BTYD literature's discrete approximation of discounted expected residual
    transactions.

    Parameters
    ----------
    transaction_model : BetaGeoModel, ModifiedBetaGeoModel or ParetoNBDModel
        A fitted continuous-time transaction model (the discrete-time BG/BB model has
        no calendar months and is not accepted).
    spend_model : GammaGammaModel
        A fitted spend model.
    frequency, recency, T : array-like
        The customers' RFM summary, in `time_unit`.
    monetary_value : array-like
        Mean repeat-transaction value (ignored where frequency is 0).
    horizon : int, default=12
        Number of months ahead, ≥ 1.
    discount_rate : float, default=0.01
        Monthly discount rate, ≥ 0 (convert an annual rate with $(1 + d_a)^{1/12} - 1$).
    time_unit : {"D", "W", "M"}, default="D"
        The unit of `recency` and `T`, which the models were fitted in: days, weeks or
        months. A month is taken as 365.25/12 = 30.4375 days or 4.348 weeks, from one
        table (never an assumption that the data are daily).
    margin : float, default=1.0
        Profit margin as a fraction of spend; 1.0 gives discounted revenue.

    Returns
    -------
    numpy.ndarray
        CLV per customer, in the currency of `monetary_value`.

    Raises
    ------
    TypeError
        If a model is of the wrong kind or an option has the wrong type.
    ValueError
        For invalid inputs, `horizon < 1`, a negative `discount_rate`, an unknown
        `time_unit`, or `margin` outside (−inf, 1].

    References
    ----------
    1. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using Iso-Value
       Curves for Customer Base Analysis. *Journal of Marketing Research*, 42(4),
       415–430.
    2. Fader, P. S., & Hardie, B. G. S. (2012). Reconciling and Clarifying CLV Formulas.
       Note 024, http://brucehardie.com/notes/024/

    Examples
    --------
    >>> from loyaltymetrics import datasets, models
    >>> c = datasets.load_cdnow_summary()
    >>> bg = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> gg = models.GammaGammaModel.from_params(p=6.25, q=3.74, v=15.44)
    >>> clv = models.customer_lifetime_value(
    ...     bg, gg, c["frequency"], c["recency"], c["T"], c["monetary_value"],
    ...     horizon=12, discount_rate=0.01, time_unit="W",
    ... )
    >>> round(float(clv[0]), 2), round(float(clv.sum()))
    (36.31, 71602)
    """
    if not isinstance(transaction_model, BetaGeoModel | ModifiedBetaGeoModel | ParetoNBDModel):
        raise TypeError(
            "transaction_model must be a fitted continuous-time transaction model "
            "(BetaGeoModel, ModifiedBetaGeoModel or ParetoNBDModel); "
            f"got {type(transaction_model).__name__}"
        )
    if not isinstance(spend_model, GammaGammaModel):
        raise TypeError(f"spend_model must be a GammaGammaModel; got {type(spend_model).__name__}")
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise TypeError(f"horizon must be a whole number of months; got {horizon!r}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 month; got horizon={horizon}")
    d = v.as_scalar(discount_rate, "discount_rate")
    v.check_nonnegative(d, "discount_rate")
    m = v.as_scalar(margin, "margin")
    v.check_in_range(m, "margin", -math.inf, 1.0, what="a fraction of spend")
    if time_unit not in UNITS_PER_MONTH:
        raise ValueError(
            f"time_unit must be one of {', '.join(map(repr, UNITS_PER_MONTH))}; "
            f"got time_unit={time_unit!r}"
        )
    x, t_x, big_t = b.check_rfm(frequency, recency, T)
    spend = spend_model.expected_spend(x, b.as_array(monetary_value, "monetary_value"))
    per_month = UNITS_PER_MONTH[time_unit]
    # E_k = P(alive) * E[purchases in k months | alive]: P(alive) once, inputs checked once
    alive = transaction_model._p_alive(x, t_x, big_t)
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for k in range(1, horizon + 1):
        current = transaction_model._if_alive(np.asarray(k * per_month), x, big_t)
        total += (current - previous) / (1.0 + d) ** k
        previous = current
    return np.asarray(m * spend * alive * total, dtype=np.float64)
