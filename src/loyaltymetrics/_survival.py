"""The Kaplan–Meier retention curve of subscription data (`stats.survival_curve`).

Its own module because it is its own concept (survival analysis of (lifetime, churned)
data) and keeps `stats` readable; `loyaltymetrics.stats` re-exports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._rules import z_quantile as _z


def survival_curve(
    lifetime: Any, churned: Any, *, confidence: float = 0.95, weights: Any = None
) -> Any:
    r"""Kaplan–Meier retention curve of discrete lifetimes, with log-log confidence intervals.

    The nonparametric counterpart of a fitted sBG/BdW `survival(t)`. With `lifetime` the
    periods paid and `churned` whether the cancellation is observed (as in
    `models.ShiftedBetaGeometricModel.fit`), the customers *at risk* at renewal $t$ are
    those whose decision at $t$ is observed,

    $$n_t = \#\{\text{churned},\ \text{lifetime} \ge t\}
          + \#\{\text{censored},\ \text{lifetime} \ge t + 1\},
      \qquad d_t = \#\{\text{churned},\ \text{lifetime} = t\},$$

    and

    $$\hat S(t) = \prod_{j \le t} \Bigl(1 - \frac{d_j}{n_j}\Bigr), \qquad
      \widehat{\operatorname{Var}}\,\hat S(t) = \hat S(t)^2 \sum_{j \le t}
      \frac{d_j}{n_j (n_j - d_j)} \quad \text{(Greenwood)}.$$

    The interval is the log-log (Kalbfleisch–Prentice) one,
    $\hat S(t)^{\exp(\pm z \sigma_t)}$ with
    $\sigma_t^2 = \sum_{j \le t} \frac{d_j}{n_j(n_j - d_j)} \big/ (\log \hat S(t))^2$,
    which stays inside (0, 1).

    Parameters
    ----------
    lifetime : array-like
        Periods paid by each customer, whole numbers ≥ 1.
    churned : array-like of bool
        True where the cancellation after `lifetime` periods is observed, False where the
        customer is still active (right-censored).
    confidence : float, default=0.95
        Nominal coverage of the pointwise intervals, in (0, 1).
    weights : array-like, optional
        Number of customers with each (lifetime, churned) pattern.

    Returns
    -------
    polars.DataFrame
        One row per period $t = 0, 1, \dots$ up to the last with customers at risk:
        `period` (Int64), `at_risk` $n_t$, `churned` $d_t$ (Float64, weighted counts;
        period 0 has everyone at risk and no churn), `survival` $\hat S(t)$, `low`,
        `high` (the pointwise confidence interval) and `std_error` (Greenwood). Where
        $\hat S(t) = 1$ the bounds are 1; where $\hat S(t) = 0$ they are null
        (undefined on the log-log scale).

    Raises
    ------
    TypeError, ValueError
        As `ShiftedBetaGeometricModel.fit` (lifetimes whole ≥ 1, `churned` booleans of
        the same length), or for a `confidence` outside (0, 1).

    Notes
    -----
    A single cohort without censoring before its last period gives
    $\hat S(t) = n_t^{\text{survivors}} / n_0$, the survival of `tables.survival_table`.
    With censoring (cohorts of different ages pooled) Kaplan–Meier uses each customer for
    the renewals actually observed, where pooled survivor shares would not.

    References
    ----------
    1. Kaplan, E. L., & Meier, P. (1958). Nonparametric Estimation from Incomplete
       Observations. *JASA*, 53(282), 457–481. https://doi.org/10.1080/01621459.1958.10501452
    2. Greenwood, M. (1926). The Natural Duration of Cancer. *Reports on Public Health
       and Medical Subjects*, 33. HMSO.
    3. Kalbfleisch, J. D., & Prentice, R. L. (2002). *The Statistical Analysis of Failure
       Time Data* (2nd ed.), §1.4. Wiley.

    Examples
    --------
    The regular customers of Fader & Hardie (2007), years 0–3 (382 still active):

    >>> from loyaltymetrics import stats
    >>> km = stats.survival_curve([1, 2, 3, 4], [True, True, True, False],
    ...                           weights=[369, 163, 86, 382])
    >>> km.select("period", "at_risk", "churned", "survival").rows()
    [(0, 1000.0, 0.0, 1.0), (1, 1000.0, 369.0, 0.631), (2, 631.0, 163.0, 0.468),
     (3, 468.0, 86.0, 0.382)]
    >>> [round(x, 3) for x in km.row(3)[4:6]]
    [0.352, 0.412]
    """
    import polars as pl

    from ._lifetimes import check_lifetimes, check_weights, compress

    z = _z(confidence)
    life, flags = check_lifetimes(lifetime, churned)
    life, flags, w = compress(life, flags, check_weights(weights, life.shape[0]))
    top = int(life.max())
    idx = life.astype(np.int64)
    deaths = np.bincount(idx[flags], weights=w[flags], minlength=top + 2).astype(np.float64)
    # leaving the risk set after renewal t: churned at t, censored with lifetime t + 1
    leave = deaths.copy()
    cens = np.bincount(idx[~flags] - 1, weights=w[~flags], minlength=top + 2).astype(np.float64)
    leave += cens
    total = float(w.sum())
    at_risk = total - np.concatenate([[0.0], np.cumsum(leave)[:-1]])
    # the periods with someone at risk (period 0: everyone, no decision yet)
    last = int(np.flatnonzero(at_risk > 0)[-1]) if (at_risk > 0).any() else 0
    t = np.arange(last + 1)
    n_t = at_risk[: last + 1]
    d_t = deaths[: last + 1].copy()
    d_t[0] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(n_t > 0, 1.0 - d_t / n_t, 1.0)
        surv = np.cumprod(step)
        term = np.where(d_t > 0, d_t / (n_t * (n_t - d_t)), 0.0)
        green = np.cumsum(term)
        se = surv * np.sqrt(green)
        log_s = np.log(surv)
        sigma = np.sqrt(green) / np.abs(log_s)
        low = surv ** np.exp(z * sigma)
        high = surv ** np.exp(-z * sigma)
    one = surv == 1.0
    low = np.where(one, 1.0, low)
    high = np.where(one, 1.0, high)
    zero = surv <= 0.0
    se = np.where(zero, 0.0, se)
    return pl.DataFrame(
        {
            "period": t.astype(np.int64),
            "at_risk": n_t,
            "churned": d_t,
            "survival": surv,
            "low": np.where(zero, np.nan, low),
            "high": np.where(zero, np.nan, high),
            "std_error": se,
        }
    ).with_columns(pl.col("low", "high").fill_nan(None))
