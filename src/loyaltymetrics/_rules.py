"""Rules written once, for numpy, polars and narwhals alike: intervals, quantiles, ratios.

Each rule is a function of *expression-like* arguments: numpy arrays, polars
expressions or narwhals expressions. The formulas use only the arithmetic and comparison
operators, which the three share, plus a small namespace object (`Namespace`) for what
they spell differently (square root, clip, element-wise min/max, if-else, a cast to
float). So `stats` (numpy), the polars plan of `tables.survey_summary` and its portable
plan call the same function and get the same bounds, to the last bit where the engines'
arithmetic is IEEE double.

Rejected design: one implementation in numpy, called from polars through
``map_batches``. It cannot run inside DuckDB or Spark, which is where the portable plan
must stay; and three hand-written copies drifted (the NPS clamp was fixed in two of
three, issue 17).

Rules here: `z_quantile` (confidence → two-sided normal quantile), `wilson_bounds`,
`nps_adjusted` (the adjusted-Wald shares and variance), `nps_bounds` (its interval and
the clamp to the observed score), `mean_bounds` (the Student-t interval of a mean),
`t_quantiles` (exact, numpy), `t_quantile_expansion` (an engine expression: exact for
small degrees of freedom, Cornish-Fisher above), and `null_if_zero`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import polars as pl
from scipy import stats as _sps

from . import _validation as v
from ._typing import FloatArray

E = TypeVar("E")
"""An expression-like: a float64 numpy array, a ``polars.Expr`` or a ``narwhals.Expr``."""

T_TOLERANCE = 1e-10
"""Relative error allowed for the Cornish-Fisher Student-t quantile."""


@dataclass(frozen=True, slots=True)
class Namespace(Generic[E]):
    """What numpy, polars and narwhals spell differently, for the rules below.

    ``if_else(cond, x, None)`` is the undefined value of the dialect: ``nan`` in numpy,
    null in polars and narwhals.
    """

    sqrt: Callable[[E], E]
    clip: Callable[[E, float, float], E]
    fmin: Callable[[E, E], E]
    fmax: Callable[[E, E], E]
    if_else: Callable[[E, E | float, E | float | None], E]
    cases: Callable[[list[tuple[E, float]], E], E]
    to_float: Callable[[E], E]


def _np_if_else(cond: FloatArray, x: FloatArray | float, y: FloatArray | float | None) -> Any:
    return np.where(cond, x, np.nan if y is None else y)


def _np_cases(pairs: list[tuple[Any, float]], otherwise: FloatArray) -> Any:
    out = np.asarray(otherwise, dtype=np.float64)
    for cond, x in reversed(pairs):
        out = np.where(cond, x, out)
    return out


NUMPY: Namespace[Any] = Namespace(
    sqrt=np.sqrt,
    clip=np.clip,
    fmin=np.fmin,
    fmax=np.fmax,
    if_else=_np_if_else,
    cases=_np_cases,
    to_float=lambda x: np.asarray(x, dtype=np.float64),
)
"""numpy arrays (float64); call the rules under ``np.errstate(divide=..., invalid=...)``."""


def _pl_if_else(cond: pl.Expr, x: pl.Expr | float, y: pl.Expr | float | None) -> pl.Expr:
    then = pl.when(cond).then(x)
    return then if y is None else then.otherwise(y)


def _pl_cases(pairs: list[tuple[pl.Expr, float]], otherwise: pl.Expr) -> pl.Expr:
    if not pairs:
        return otherwise
    (cond, x), *rest = pairs
    chain: Any = pl.when(cond).then(x)
    for cond, x in rest:
        chain = chain.when(cond).then(x)
    result: pl.Expr = chain.otherwise(otherwise)
    return result


POLARS: Namespace[pl.Expr] = Namespace(
    sqrt=lambda x: x.sqrt(),
    clip=lambda x, low, high: x.clip(low, high),
    fmin=lambda a, b: pl.min_horizontal(a, b),
    fmax=lambda a, b: pl.max_horizontal(a, b),
    if_else=_pl_if_else,
    cases=_pl_cases,
    to_float=lambda x: x.cast(pl.Float64),
)
"""polars expressions."""


def z_quantile(confidence: object) -> float:
    r"""Validate `confidence` in (0, 1); the two-sided normal quantile $z_{1-\alpha/2}$."""
    c = v.as_scalar(confidence, "confidence")
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got confidence={v.fmt(c)}")
    return float(_sps.norm.ppf(0.5 + c / 2.0))


def null_if_zero(num: E, den: E, ns: Namespace[E]) -> E:
    """``num / den`` as a float, undefined (nan or null) where ``den`` is not positive.

    The division sits inside the branch, so engines that fail on a zero divisor (Spark's
    ANSI mode) never evaluate it.
    """
    d: Any = den
    return ns.if_else(d > 0, ns.to_float(num) / d, None)


def wilson_bounds(successes: E, n: E, z: float, ns: Namespace[E]) -> tuple[E, E]:
    r"""Wilson score interval of a binomial proportion, clipped to [0, 1].

    $$\frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n}
      + \frac{z^2}{4n^2}}}{1 + z^2/n}$$

    Undefined where ``n`` is 0; every division is by ``n`` replaced with 1 there, so no
    engine divides by zero. Wilson, E. B. (1927), *JASA* 22(158), 209–212.
    """
    count: Any = n
    has = count > 0
    safe_n: Any = ns.if_else(has, n, 1.0)
    p = successes / safe_n
    z2n = z * z / safe_n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * ns.sqrt(p * (1.0 - p) / safe_n + z * z / (4.0 * safe_n * safe_n))
    return (
        ns.if_else(has, ns.clip(centre - half, 0.0, 1.0), None),
        ns.if_else(has, ns.clip(centre + half, 0.0, 1.0), None),
    )


def nps_adjusted(promoters: Any, detractors: Any, n: Any, *, adjusted: bool = True) -> Any:
    r"""The (adjusted-Wald) NPS centre and variance, as fractions, from counts.

    With $\tilde n = n + 3$, $\tilde p = (P + 3/4)/\tilde n$, $\tilde d = (D + 3/4)/\tilde n$:
    centre $\tilde p - \tilde d$ and variance $(\tilde p + \tilde d - (\tilde p -
    \tilde d)^2)/\tilde n$; without the adjustment, the Wald ones. Operators only, so
    floats, arrays and expressions all work. Rocks (2016), *Am. Stat.* 70(4), 365–372.
    """
    add, extra = (0.75, 3.0) if adjusted else (0.0, 0.0)
    n_adj = n + extra
    p = (promoters + add) / n_adj
    d = (detractors + add) / n_adj
    centre = p - d
    return centre, (p + d - centre * centre) / n_adj


def nps_bounds(
    promoters: E,
    detractors: E,
    n: E,
    observed: E,
    z: float,
    ns: Namespace[E],
    *,
    adjusted: bool = True,
) -> tuple[E, E]:
    r"""Bounds of the NPS in points, clipped to [−100, 100] and containing `observed`.

    $$100\,\bigl(\tilde p - \tilde d \pm z\,\sqrt{(\tilde p + \tilde d - (\tilde p -
      \tilde d)^2)/\tilde n}\bigr)$$

    from `nps_adjusted`. The adjusted centre moves towards 0, so with one or two answers
    the interval would exclude the observed score (``[-98.5, 48.5]`` for one detractor):
    the bounds are widened to contain `observed`, the score 100 (P − D)/n. Undefined
    where ``n`` is 0 (a Wald interval needs ``n > 0`` too).
    """
    count: Any = n
    has = count > 0
    safe_n: Any = ns.if_else(has, n, 1.0)
    centre, variance = nps_adjusted(promoters, detractors, safe_n, adjusted=adjusted)
    se: Any = ns.sqrt(variance)
    low = ns.fmin(ns.clip(100.0 * (centre - z * se), -100.0, 100.0), observed)
    high = ns.fmax(ns.clip(100.0 * (centre + z * se), -100.0, 100.0), observed)
    return ns.if_else(has, low, None), ns.if_else(has, high, None)


def mean_bounds(mean: E, sd: E, n: E, t: E, ns: Namespace[E]) -> tuple[E, E]:
    r"""Student-t interval of a mean, $\bar x \pm t\,s/\sqrt n$; undefined unless ``n > 1``.

    ``t`` is the quantile for ``n − 1`` degrees of freedom (`t_quantiles`,
    `t_quantile_expansion`). Student (1908), *Biometrika* 6(1), 1–25.
    """
    count: Any = n
    two = count > 1
    safe_n: Any = ns.if_else(two, n, 1.0)
    quantile: Any = t
    half = quantile * sd / ns.sqrt(safe_n)
    centre: Any = mean
    return ns.if_else(two, centre - half, None), ns.if_else(two, centre + half, None)


def t_quantiles(dof: FloatArray, confidence: float) -> FloatArray:
    """Exact two-sided Student-t quantiles (scipy); nan where ``dof <= 0``.

    The degrees of freedom may be fractional (a Kish effective sample size minus 1).
    """
    with np.errstate(invalid="ignore"):
        q = _sps.t.ppf(0.5 + confidence / 2.0, np.where(dof > 0, dof, np.nan))
    return np.asarray(q, dtype=np.float64)


def t_quantile_expansion(dof: E, confidence: float, ns: Namespace[E]) -> E:
    """The two-sided Student-t quantile as an expression, for engines without scipy.

    Exact (scipy, at plan time, as literals) for ``dof <= K``; above, the Cornish-Fisher
    expansion in 1/dof around the normal quantile z (Abramowitz & Stegun 26.7.5, five
    terms), with K the smallest cut-off that keeps the relative error below
    `T_TOLERANCE`. Undefined for ``dof < 1``.
    """
    p = 0.5 + confidence / 2.0
    z = float(_sps.norm.ppf(p))
    g = [
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
        (27 * z**11 + 339 * z**9 + 930 * z**7 - 1782 * z**5 - 765 * z**3 + 17955 * z) / 368640,
    ]

    def expansion(nu: Any) -> Any:
        return z + sum(gk / nu ** (k + 1) for k, gk in enumerate(g))

    grid = np.arange(1, 5001, dtype=np.float64)
    exact = t_quantiles(grid, confidence)
    bad = np.flatnonzero(np.abs(expansion(grid) / exact - 1.0) >= T_TOLERANCE)
    cut = int(grid[bad[-1]]) if bad.size else 0
    nu: Any = ns.to_float(dof)
    # the expansion is evaluated on max(dof, K + 1) so that no branch divides by zero
    value: Any = expansion(ns.if_else(nu > cut, nu, float(cut + 1)))
    exact_rows = [(nu == k, float(exact[k - 1])) for k in range(1, cut + 1)]
    return ns.if_else(nu >= 1, ns.cases(exact_rows, value), None)
