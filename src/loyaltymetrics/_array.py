"""Arithmetic helpers shared by the formulas: ratios with a NaN zero-denominator rule."""

from __future__ import annotations

import math

import numpy as np

from . import _validation as v
from ._typing import Real


def ratio(num: Real, den: Real) -> Real:
    """``num / den`` with ``nan`` where ``den == 0`` (no warning, no exception)."""
    if type(num) is float and type(den) is float:
        return num / den if den != 0.0 else math.nan
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(n, d)
    out = np.where(d == 0.0, np.nan, out)
    return out if out.ndim else float(out)


def clip(x: Real, low: float, high: float) -> Real:
    """Clip rounding error outside a range that holds by construction; NaN passes through."""
    if type(x) is float:
        return low if x < low else high if x > high else x
    return np.clip(x, low, high)


def real_args(names: tuple[str, ...], *values: object) -> list[Real]:
    """Validate finite numbers/array-likes and broadcast them together."""
    out: list[Real] = []
    scalar = True
    for i, x in enumerate(values):
        r = v.as_real(x, names[i])
        scalar = scalar and type(r) is float
        out.append(r)
    return out if scalar else v.broadcast(names, *out)


def counts(names: tuple[str, ...], *values: object) -> list[Real]:
    """Validate non-negative finite counts/amounts and broadcast them together."""
    out = real_args(names, *values)
    for i, x in enumerate(out):
        v.check_nonnegative(x, names[i])
    return out


def part_of_whole(part: object, part_name: str, whole: object, whole_name: str) -> Real:
    """Validate and compute ``part / whole`` for a share of a count, in [0, 1]."""
    p, w = counts((part_name, whole_name), part, whole)
    v.check_not_greater(p, part_name, w, whole_name)
    return clip(ratio(p, w), 0.0, 1.0)
