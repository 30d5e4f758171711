"""Model-based customer lifetime value: a transaction model times a spend model, discounted."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from loyaltymetrics import _validation as v
from loyaltymetrics._periods import UNITS_PER_MONTH, check_time_unit
from loyaltymetrics._typing import FloatArray

from . import _base as b
from ._bg_nbd import BetaGeoModel
from ._mbg_nbd import ModifiedBetaGeoModel
from ._pareto_nbd import ParetoNBDModel
from ._transaction import TransactionModel, check_predictions, check_transaction_model

NonpositiveSpend = Literal["population_mean", "zero", "raise"]
_SPEND_POLICIES: tuple[str, ...] = ("population_mean", "zero", "raise")

# Rejected designs, for the record:
# * `time_unit="D"` as a default: a table built in weeks (the CDNOW convention, the docs'
#   own examples) then gave a daily-unit answer five times too high without a word.
# * carrying the unit from the RFM table: the inputs are arrays or Series, which hold no
#   unit, so the unit would be lost as soon as a column is taken out of the table.
# * returning a result object with the count of non-positive spenders: every model
#   prediction returns an array (API.md conventions), so CLV stays a column that goes
#   straight into `with_columns`; the count is a property of the inputs and is stated by
#   the "raise" error, the docs and the report instead.


def customer_lifetime_value(
    transaction_model: Any,
    spend_model: Any,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    time_unit: str,
    time_scaler: float = 1.0,
    horizon: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    nonpositive_spend: NonpositiveSpend = "population_mean",
) -> FloatArray:
    r"""Discounted expected value of each customer's purchases over the next `horizon` months.

    With $E_k$ the expected purchases in the first $k$ months (from the transaction
    model, conditional on the customer's history), $\bar s$ the expected spend per
    purchase (from the spend model), $m$ the margin and $d$ the monthly discount rate:

    $$\mathrm{CLV} = m\,\bar s \sum_{k=1}^{H} \frac{E_k - E_{k-1}}{(1 + d)^k}$$

    i.e. each month's expected purchases are discounted at the end of that month, as in
    the BTYD literature's discrete approximation of discounted expected residual
    transactions. A month is $u$ = `time_scaler`⁻¹ × (units of `time_unit` per month)
    of the RFM inputs' time, from one table (below), so $E_k$ is
    `expected_purchases(k * u, ...)`.

    Parameters
    ----------
    transaction_model : TransactionModel
        A fitted continuous-time transaction model: `BetaGeoModel`,
        `ModifiedBetaGeoModel`, `ParetoNBDModel`, or any object with the methods
        `p_alive(frequency, recency, T)` and `expected_purchases(t, frequency, recency, T)`
        (see `TransactionModel`; only `expected_purchases` is called). The discrete-time
        `BetaGeoBetaBinomModel` counts opportunities, not time, and is rejected.
    spend_model : GammaGammaModel
        A fitted spend model, or any object with a method
        `expected_spend(frequency, monetary_value)` that gives the population mean spend
        where frequency is 0.
    frequency, recency, T : array-like
        The customers' RFM summary, with recency and T in `time_unit` / `time_scaler`,
        the unit the transaction model was fitted in.
    monetary_value : array-like
        Mean repeat-transaction value (ignored where frequency is 0).
    time_unit : {"h", "D", "W", "M"}
        Required, no default: the unit of `recency` and `T`, in the vocabulary of
        `tables.rfm_summary`. Pass the same `time_unit` and `time_scaler` as to
        `rfm_summary`; a table built with `time_unit="D", time_scaler=7` is in weeks, so
        `time_unit="W"` is the same call. Units per month: h 730.5, D 30.4375 (365.25/12),
        W 4.348, M 1 (a month is 1/12 of a Julian year).
    time_scaler : float, default=1.0
        Divides the unit, as in `rfm_summary`: the RFM durations are in units of
        `time_unit` × `time_scaler` (`"D"` with 7 is weeks, with 14 fortnights).
    horizon : int, default=12
        Number of months ahead, ≥ 1.
    discount_rate : float, default=0.01
        Monthly discount rate, ≥ 0 (convert an annual rate with $(1 + d_a)^{1/12} - 1$).
    margin : float, default=1.0
        Profit margin as a fraction of spend; 1.0 gives discounted revenue.
    nonpositive_spend : {"population_mean", "zero", "raise"}, default="population_mean"
        What to do with a customer who has repeat purchases (frequency > 0) but a mean
        repeat value ≤ 0 (free orders, or refunds as large as the purchases). The
        Gamma-Gamma model is defined for positive spend only, so such a customer has no
        spend history it can use:

        * ``"population_mean"``: value their purchases at the population mean spend per
          purchase, as for a customer without repeat purchases (the spend model's
          `expected_spend` at frequency 0). Their purchase count still comes from their
          own history.
        * ``"zero"``: their expected spend is 0, so their CLV is 0.
        * ``"raise"``: ValueError with the number of such customers and the first one.

        The affected customers are exactly ``(frequency > 0) & (monetary_value <= 0)``;
        count them with that mask (the `loyaltymetrics report` command prints the count).
        Customers with frequency 0 are never affected: their `monetary_value` is ignored.

    Returns
    -------
    numpy.ndarray
        CLV per customer, in the currency of `monetary_value`.

    Raises
    ------
    TypeError
        If a model is of the wrong kind, `time_unit` is missing or not a string, or an
        option has the wrong type.
    ValueError
        For invalid inputs, `horizon < 1`, a negative `discount_rate`, an unknown
        `time_unit`, a non-positive `time_scaler`, `margin` outside (−inf, 1], an unknown
        `nonpositive_spend`, or a non-positive mean spend with `nonpositive_spend="raise"`.

    Notes
    -----
    For `BetaGeoModel`, `ModifiedBetaGeoModel` and `ParetoNBDModel` with 20,000 customers
    or more, the discounted sum of each frequency shared by many customers is computed
    from a Chebyshev interpolant in $\log(\alpha + T)$ of the month-by-month sum, whose
    degree grows until it reaches that sum's own rounding: the values agree with the
    month-by-month sum within about 1e-13 relative, at about a fifteenth of the time.

    The time unit has no default because the models have no unit of their own: a model
    fitted on weeks, asked about "12 months" as 12 × 30.4 *days*, answers about 30
    weeks. On the CDNOW log in weeks (BG/NBD and Gamma-Gamma fitted to it), the 12-month
    total is 780,169 with `time_unit="W"` and 3,924,364 if the weekly table is read as
    days.

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
    >>> c = datasets.load_cdnow_summary()  # recency and T in weeks
    >>> bg = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> gg = models.GammaGammaModel.from_params(p=6.25, q=3.74, v=15.44)
    >>> clv = models.customer_lifetime_value(
    ...     bg, gg, c["frequency"], c["recency"], c["T"], c["monetary_value"],
    ...     time_unit="W", horizon=12, discount_rate=0.01,
    ... )
    >>> round(float(clv[0]), 2), round(float(clv.sum()))
    (36.31, 71602)
    >>> same = models.customer_lifetime_value(  # the rfm_summary spelling of weeks
    ...     bg, gg, c["frequency"], c["recency"], c["T"], c["monetary_value"],
    ...     time_unit="D", time_scaler=7,
    ... )
    >>> bool(abs(same - clv).max() < 1e-9)
    True
    """
    model = check_transaction_model(transaction_model, "transaction_model")
    _check_spend_model(spend_model)
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise TypeError(f"horizon must be a whole number of months; got {horizon!r}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 month; got horizon={horizon}")
    d = v.as_scalar(discount_rate, "discount_rate")
    v.check_nonnegative(d, "discount_rate")
    m = v.as_scalar(margin, "margin")
    v.check_in_range(m, "margin", -math.inf, 1.0, what="a fraction of spend")
    unit = check_time_unit(time_unit)
    scaler = v.as_scalar(time_scaler, "time_scaler")
    v.check_in_range(scaler, "time_scaler", 0.0, math.inf, low_open=True)
    if not isinstance(nonpositive_spend, str) or nonpositive_spend not in _SPEND_POLICIES:
        raise ValueError(
            f"nonpositive_spend must be one of {', '.join(map(repr, _SPEND_POLICIES))}; "
            f"got nonpositive_spend={nonpositive_spend!r}"
        )
    x, t_x, big_t = b.check_rfm(frequency, recency, T)
    z = b.as_array(monetary_value, "monetary_value")
    n = b.check_same_length(frequency=x, monetary_value=z)
    spend = _expected_spend(spend_model, x, z, nonpositive_spend)
    per_month = UNITS_PER_MONTH[unit] / scaler
    shortcut = _if_alive_shortcut(model)
    if shortcut is None:
        total = discounted_sum(_public(model, x, t_x, big_t, n), horizon, per_month, d)
        alive: FloatArray | float = 1.0
    else:
        if_alive, p_alive, alpha = shortcut
        total = _discounted_if_alive(if_alive, alpha, x, big_t, horizon, per_month, d)
        alive = np.asarray(p_alive(x, t_x, big_t), dtype=np.float64)
    return np.asarray(m * spend * alive * total, dtype=np.float64)


def discounted_sum(
    purchases: Callable[[float], FloatArray], horizon: int, per_month: float, d: float
) -> FloatArray:
    r"""$\sum_k (E_k - E_{k-1}) / (1 + d)^k$ with $E_k$ = `purchases(k * per_month)`."""
    total: FloatArray | None = None
    previous: FloatArray | float = 0.0
    for k in range(1, horizon + 1):
        current = purchases(k * per_month)
        step = (current - previous) / (1.0 + d) ** k
        total = step if total is None else total + step
        previous = current
    assert total is not None  # horizon >= 1
    return np.asarray(total, dtype=np.float64)


def _public(
    model: TransactionModel, x: FloatArray, t_x: FloatArray, big_t: FloatArray, n: int
) -> Callable[[float], FloatArray]:
    """E[purchases in the next t] as a function of t, through the protocol method."""

    def public(t: float) -> FloatArray:
        return check_predictions(
            model.expected_purchases(t, x, t_x, big_t), n, "expected_purchases"
        )

    return public


IfAlive = Callable[[FloatArray, FloatArray, FloatArray], FloatArray]


def _if_alive_shortcut(
    model: TransactionModel,
) -> tuple[IfAlive, Callable[..., FloatArray], float] | None:
    """The library models' split of `expected_purchases`: (if alive, P(alive), alpha).

    Any `TransactionModel` goes through its public `expected_purchases`. The library's own
    models split it into P(alive) (computed once) times the purchases of a customer who
    is alive, which depend on (frequency, T) only: at 1M customers that took 2.1 s for
    12 months instead of 2.7 s, and it is what lets `_discounted_if_alive` interpolate.
    """
    # getattr: the split is an optimisation of these classes, not part of the protocol;
    # without it the public path gives the same values (tests/test_clv.py)
    if_alive_method = getattr(model, "_if_alive", None)
    p_alive_method = getattr(model, "_p_alive", None)
    if (
        isinstance(model, BetaGeoModel | ModifiedBetaGeoModel | ParetoNBDModel)
        and callable(if_alive_method)
        and callable(p_alive_method)
    ):
        method = if_alive_method

        def if_alive(t: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
            return np.asarray(method(np.asarray(t), x, big_t), dtype=np.float64)

        return if_alive, p_alive_method, float(model.params["alpha"])
    return None


# The discounted sum over the horizon, for the library models (`_discounted_if_alive`).
#
# Per customer it needs one Gauss hypergeometric function per month: 12 million scipy
# `hyp2f1` calls at 1M customers, about 1.8 of the 2.5 CPU s of the month-by-month sum
# (measured 0.09, 0.14 and 0.20 CPU s for months 1, 6 and 12 at 1M customers: the later
# months' z is nearer 1). But for a customer alive at T the sum depends on the frequency
# x and on T only, and x takes few values (81 among the 1M simulated customers), while in
# y = log(alpha + T) the sum is analytic in the strip |Im y| < pi (t / (alpha + T) reaches
# the cut of 2F1 and of log(1 + u) only at Im y = ±pi). So, per frequency with many
# customers, the log of the sum is interpolated at Chebyshev points in y over the range
# of all customers' T (the coefficients fall like rho^-k, rho ≈ 5 for T in 1-78 weeks;
# measured: by degree 20-24 they reach the noise of the exact values, 3e-15 to 1e-14),
# and the interpolant is evaluated per customer by Clenshaw's recurrence. The degree
# grows from 16 until the last quarter of the coefficients are below `_CHEB_TOL`; a
# frequency that does not get there by 256 (or whose sum is not positive and finite at
# a node) takes the exact path, as do frequencies with fewer than `_GROUP_MIN` customers
# and inputs below `_INTERPOLATE_MIN` customers.
#
# Accuracy, measured on 300,000 simulated customers (CDNOW parameters, weeks): the
# interpolated sum is within 8.7e-14 relative of the month-by-month sum (median 5.8e-15);
# for the five customers with the largest difference, both are within 3.8e-14 (the
# interpolation) and 4.0e-14 to 5.9e-14 (month by month) of the sum in 40-digit mpmath:
# the difference is the exact path's own rounding. The tests compare the two paths on
# random models in four units (1e-12) and against mpmath.
#
# Rejected:
# * caching `near_whole` per frequency and fewer passes around hyp2f1 in the per-month
#   loop: the loop's own array work is about 0.6 CPU s (profile_models.py), hyp2f1 stays.
# * the sum for each distinct (x, T) pattern (np.unique): an exact saving for logs in
#   whole days, none for a continuous T (1M distinct patterns in the benchmark), and the
#   sort took 0.19 s at 1M; the interpolation covers both.
# * interpolating the sum itself rather than its log: the absolute error of a Chebyshev
#   fit is uniform, so the sum's relative error would grow with its range over T (6-9x
#   per frequency here); the log's absolute error is the sum's relative error.
_INTERPOLATE_MIN = 20_000
"""Customers from which the sum is interpolated (below, every customer is summed exactly).

The interpolation pays from about 2,000 customers (measured CPU, median of 5, loaded
machine: 3.6 against 4.8 ms at 2,000, 6.0 against 43 ms at 20,000, 7.9 against 115 ms
at 50,000); the threshold is higher so that small inputs (CDNOW's 2,357 customers, the
docs' examples) keep the month-by-month values bit for bit, for at most ~40 ms.
"""
_GROUP_MIN = 256
"""Customers of one frequency from which that frequency is interpolated."""
_CHEB_DEGREES = (16, 24, 32, 48, 64, 96, 128, 192, 256)
_CHEB_TOL = 5e-14
"""Largest coefficient of the last quarter of a converged Chebyshev fit of the log sum."""
_CHUNK = 16_384
"""Customers per block of the Clenshaw recurrence (its temporaries stay in cache)."""


def _discounted_if_alive(
    if_alive: IfAlive,
    alpha: float,
    x: FloatArray,
    big_t: FloatArray,
    horizon: int,
    per_month: float,
    d: float,
) -> FloatArray:
    """`discounted_sum` of `if_alive(t, x, T)`, interpolated in log(alpha + T) per frequency."""

    def exact(xx: FloatArray, tt: FloatArray) -> FloatArray:
        return discounted_sum(lambda t: if_alive(np.asarray(t), xx, tt), horizon, per_month, d)

    n = x.shape[0]
    if n < _INTERPOLATE_MIN:
        return exact(x, big_t)
    freq = x.astype(np.intp)  # whole numbers >= 0 (check_rfm)
    counts = np.bincount(freq)
    candidates = np.flatnonzero(counts >= _GROUP_MIN)
    lo = math.log(alpha + float(big_t.min()))
    hi = max(math.log(alpha + float(big_t.max())), lo + 1e-3)
    coef = _chebyshev_fits(exact, candidates.astype(np.float64), alpha, lo, hi)
    fitted = np.isfinite(coef[:, 0])
    row = np.full(counts.size, -1, dtype=np.intp)
    row[candidates[fitted]] = np.arange(int(fitted.sum()))
    rows = row[freq]
    out = np.empty(n)
    rest = np.flatnonzero(rows < 0)
    if rest.size:
        out[rest] = exact(x[rest], big_t[rest])
    if rest.size < n:
        where = np.flatnonzero(rows >= 0) if rest.size else slice(None)
        t = (2.0 * np.log(alpha + big_t[where]) - (lo + hi)) / (hi - lo)
        out[where] = np.exp(_clenshaw(np.ascontiguousarray(coef[fitted].T), rows[where], t))
    return out


def _chebyshev_fits(
    exact: Callable[[FloatArray, FloatArray], FloatArray],
    freqs: FloatArray,
    alpha: float,
    lo: float,
    hi: float,
) -> FloatArray:
    """Chebyshev coefficients of log `exact(x, T)` in y = log(alpha + T) on [lo, hi].

    One row per frequency, zero-padded to the largest converged degree; a row of nan
    where the fit did not converge (see `_CHEB_TOL`).
    """
    out = np.full((freqs.size, _CHEB_DEGREES[-1] + 1), np.nan)
    todo = np.arange(freqs.size)
    used = 1
    for degree in _CHEB_DEGREES:
        if not todo.size:
            break
        theta = np.pi * np.arange(degree + 1) / degree
        y = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(theta)
        nodes_t = np.maximum(np.exp(y) - alpha, 0.0)
        xx = np.repeat(freqs[todo], degree + 1)
        tt = np.tile(nodes_t, todo.size)
        with np.errstate(all="ignore"):
            values = exact(xx, tt).reshape(todo.size, degree + 1)
            logs = np.log(values)
        # DCT-I: a_k = (2/N) sum'' g_j cos(pi j k / N), halved at k = 0 and k = N
        half = np.ones(degree + 1)
        half[[0, -1]] = 0.5
        basis = np.cos(np.outer(np.arange(degree + 1), theta)) * (half * (2.0 / degree))
        coef = logs @ basis.T
        coef[:, [0, -1]] *= 0.5
        tail = np.max(np.abs(coef[:, degree - degree // 4 :]), axis=1)
        good = np.all(np.isfinite(logs), axis=1) & (tail <= _CHEB_TOL)
        out[todo[good], : degree + 1] = coef[good]
        out[todo[good], degree + 1 :] = 0.0
        if good.any():
            used = max(used, degree + 1)
        todo = todo[~good]
    return out[:, :used]


def _clenshaw(coef: FloatArray, rows: Any, t: FloatArray) -> FloatArray:
    """sum_k coef[k, rows] T_k(t) per element, in cache-sized blocks."""
    out = np.empty(t.shape[0])
    degree = coef.shape[0] - 1
    for start in range(0, t.shape[0], _CHUNK):
        sl = slice(start, start + _CHUNK)
        r = rows[sl]
        tt = t[sl]
        t2 = 2.0 * tt
        b1 = np.zeros(tt.shape[0])
        b2 = np.zeros(tt.shape[0])
        for k in range(degree, 0, -1):
            b0 = coef[k].take(r)
            b0 += t2 * b1
            b0 -= b2
            b1, b2 = b0, b1
        out[sl] = coef[0].take(r) + tt * b1 - b2
    return out


def _check_spend_model(spend_model: object) -> None:
    if isinstance(spend_model, type):
        raise TypeError(
            f"spend_model must be a fitted model, not the class {spend_model.__name__}; "
            f"build one with {spend_model.__name__}.fit(...) or .from_params(...)"
        )
    if not callable(getattr(spend_model, "expected_spend", None)):
        raise TypeError(
            "spend_model must be a fitted spend model (GammaGammaModel, or any object with "
            "a method expected_spend(frequency, monetary_value)); "
            f"got {type(spend_model).__name__}"
        )


def _expected_spend(spend_model: Any, x: FloatArray, z: FloatArray, policy: str) -> FloatArray:
    """Expected spend per purchase under the `nonpositive_spend` policy."""
    n = x.shape[0]
    bad = (x > 0) & (z <= 0)
    if not bad.any():
        return check_predictions(spend_model.expected_spend(x, z), n, "expected_spend")
    if policy == "raise":
        i = int(np.flatnonzero(bad)[0])
        count = int(bad.sum())
        raise ValueError(
            f"monetary_value is <= 0 for {count} customer(s) with repeat purchases (first: "
            f"frequency[{i}]={v.fmt(x[i])}, monetary_value[{i}]={v.fmt(z[i])}); the spend "
            "model needs positive spend. Pass nonpositive_spend='population_mean' to value "
            "their purchases at the population mean spend, or 'zero' to give them CLV 0"
        )
    # frequency 0 makes the spend model return its population mean, whatever the value
    spend = check_predictions(
        spend_model.expected_spend(np.where(bad, 0.0, x), np.where(bad, 1.0, z)),
        n,
        "expected_spend",
    )
    return np.where(bad, 0.0, spend) if policy == "zero" else spend
