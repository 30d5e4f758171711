"""Customer value: simple historic CLV and the discounted margin-multiple CLV."""

from __future__ import annotations

import math
import operator
from typing import overload

import numpy as np

from . import _validation as v
from ._array import counts, real_args
from ._typing import FloatArray, Real, RealInput


@overload
def clv(
    average_order_value: float, purchase_frequency: float, lifespan: float, *, margin: float = 1.0
) -> float: ...
@overload
def clv(
    average_order_value: RealInput,
    purchase_frequency: RealInput,
    lifespan: RealInput,
    *,
    margin: RealInput = 1.0,
) -> FloatArray: ...
def clv(
    average_order_value: RealInput,
    purchase_frequency: RealInput,
    lifespan: RealInput,
    *,
    margin: RealInput = 1.0,
) -> Real:
    r"""Simple historic customer lifetime value: AOV × frequency × lifespan × margin.

    $$\mathrm{CLV} = \mathrm{AOV} \times F \times T \times m$$

    with $F$ purchases per period, $T$ the expected lifespan in the same periods (often
    $1/\text{churn}$, the mean of a geometric lifetime) and $m$ the margin as a fraction
    of revenue.

    Parameters
    ----------
    average_order_value : float or array-like
        Revenue per order (currency), non-negative.
    purchase_frequency : float or array-like
        Orders per customer per period, non-negative.
    lifespan : float or array-like
        Expected customer lifespan in the same periods, non-negative.
    margin : float or array-like, default=1.0
        Margin as a fraction of revenue, at most 1 (may be negative for loss-making
        customers). The default 1.0 makes the result *revenue*, not value.

    Returns
    -------
    float or numpy.ndarray
        Value in currency units.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a value is non-finite, one of the first three is negative, `margin > 1`, or
        the shapes do not broadcast.

    See Also
    --------
    clv_discounted : CLV with retention and discounting.

    Notes
    -----
    No churn curve and no discounting: this formula overstates the value of a customer
    base when the lifespan is long. Prefer `clv_discounted` or the probabilistic models in
    `loyaltymetrics.models` for decisions.

    References
    ----------
    1. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.), ch. 5. Pearson.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.clv(50.0, 4, 3)              # 50 per order, 4 orders a year, 3 years
    600.0
    >>> lm.clv(50.0, 4, 3, margin=0.25)
    150.0
    """
    names = ("average_order_value", "purchase_frequency", "lifespan")
    a, f, t = counts(names, average_order_value, purchase_frequency, lifespan)
    m = v.as_real(margin, "margin")
    v.check_in_range(m, "margin", -np.inf, 1.0, what="a fraction of revenue")
    a, f, t, m = v.broadcast((*names, "margin"), a, f, t, m)
    return a * f * t * m


@overload
def clv_discounted(
    margin: float,
    retention_rate: float,
    discount_rate: float,
    *,
    periods: int | None = None,
    include_current: bool = False,
) -> float: ...
@overload
def clv_discounted(
    margin: RealInput,
    retention_rate: RealInput,
    discount_rate: RealInput,
    *,
    periods: int | None = None,
    include_current: bool = False,
) -> FloatArray: ...
def clv_discounted(
    margin: RealInput,
    retention_rate: RealInput,
    discount_rate: RealInput,
    *,
    periods: int | None = None,
    include_current: bool = False,
) -> Real:
    r"""Customer lifetime value from a constant margin, retention rate and discount rate.

    Margins $m$ arrive at the end of each period while the customer survives (retention
    $r$ per period) and are discounted at rate $d$ per period:

    $$\mathrm{CLV}_T = \sum_{t=1}^{T} \frac{m\,r^t}{(1 + d)^t},
      \qquad \mathrm{CLV}_\infty = \frac{m\,r}{1 + d - r}$$

    $r/(1 + d - r)$ is Gupta & Lehmann's "margin multiple". With `include_current=True`
    the current period's margin is added ($t = 0$), which gives
    $m(1 + d)/(1 + d - r)$ over the infinite horizon.

    Parameters
    ----------
    margin : float or array-like
        $m$, the margin per period in currency units (negative for a loss-making
        customer).
    retention_rate : float or array-like
        $r$, the per-period retention probability, in [0, 1].
    discount_rate : float or array-like
        $d$, the per-period discount rate, greater than −1 (normally ≥ 0). Must be per
        the same period as $r$: convert an annual rate to monthly with
        $(1 + d_a)^{1/12} - 1$.
    periods : int, optional
        Horizon $T$ in periods, a positive whole number. `None` (default) is the infinite
        horizon, which needs $1 + d - r > 0$.
    include_current : bool, default=False
        Add the current period's margin $m$ (payments at the start of each period, as in
        Blattberg et al.).

    Returns
    -------
    float or numpy.ndarray
        Value in the currency of `margin`.

    Raises
    ------
    TypeError
        If an argument has the wrong type (`periods` must be an int or `None`).
    ValueError
        If a value is non-finite, `retention_rate` is outside [0, 1],
        `discount_rate <= -1`, `periods < 1`, the infinite horizon diverges
        ($1 + d - r \le 0$), or the shapes do not broadcast.

    See Also
    --------
    clv : Undiscounted AOV × frequency × lifespan.
    convert_rate : Convert a retention rate to the period of the discount rate.

    Notes
    -----
    Three textbook forms differ only in timing: $m r/(1 + d - r)$ (this default, future
    margins of an existing customer), $m(1 + d)/(1 + d - r)$ (`include_current=True`) and
    $m/(1 + d - r)$. The finite sum is computed in closed form,
    $m q (1 - q^T)/(1 - q)$ with $q = r/(1 + d)$.

    References
    ----------
    1. Gupta, S., & Lehmann, D. R. (2003). Customers as Assets. *Journal of Interactive
       Marketing*, 17(1), 9–24. https://doi.org/10.1002/dir.10045
    2. Fader, P. S., & Hardie, B. G. S. (2012). Reconciling and Clarifying CLV Formulas.
       Note 024, http://brucehardie.com/notes/024/
    3. Blattberg, R. C., Kim, B.-D., & Neslin, S. A. (2008). *Database Marketing:
       Analyzing and Managing Customers*. Springer.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> round(lm.clv_discounted(100.0, 0.8, 0.10), 2)
    266.67
    >>> round(lm.clv_discounted(100.0, 0.8, 0.10, periods=5), 2)
    212.41
    >>> round(lm.clv_discounted(100.0, 0.8, 0.10, include_current=True), 2)
    366.67
    """
    m, r, d = real_args(
        ("margin", "retention_rate", "discount_rate"), margin, retention_rate, discount_rate
    )
    v.check_in_range(r, "retention_rate", 0.0, 1.0)
    v.check_in_range(d, "discount_rate", -1.0, np.inf, low_open=True)
    v.check_bool(include_current, "include_current")
    if periods is None:
        gap = 1.0 + d - r
        v.check_in_range(
            gap,
            "1 + discount_rate - retention_rate",
            0.0,
            np.inf,
            low_open=True,
            what="the infinite-horizon CLV diverges otherwise",
        )
        value = m * r / gap
    else:
        if isinstance(periods, bool) or not isinstance(periods, int | np.integer):
            raise TypeError(
                f"periods must be a positive int or None; got {type(periods).__name__} {periods!r}"
            )
        horizon = operator.index(periods)
        if horizon < 1:
            raise ValueError(f"periods must be >= 1; got periods={horizon}")
        value = _finite_sum(m, r / (1.0 + d), horizon)
    if include_current:
        value = value + m
    return value if isinstance(value, np.ndarray) else float(value)


def _finite_sum(m: Real, q: Real, horizon: int) -> Real:
    """``sum_{t=1..T} m q^t`` in closed form, exact at ``q == 1``."""
    if type(m) is float and type(q) is float:
        if q == 0.0:
            return 0.0
        if q == 1.0:
            return m * horizon
        return m * q * -math.expm1(horizon * math.log(q)) / (1.0 - q)
    qa = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = np.where(
            qa == 1.0, float(horizon), qa * -np.expm1(horizon * np.log(qa)) / (1.0 - qa)
        )
    geometric = np.where(qa == 0.0, 0.0, geometric)
    return np.asarray(m * geometric, dtype=np.float64)
