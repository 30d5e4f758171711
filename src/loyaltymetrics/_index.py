"""The composite loyalty index."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import polars as pl

from . import _validation as v
from ._array import clip
from ._typing import FloatArray, Real, RealInput

_NPS_NAME = "nps"


@dataclass(frozen=True, slots=True)
class IndexComponent:
    r"""A `loyalty_index` component with an explicit scale and direction.

    Use it for mean scores (CSAT or CES means), which a plain number cannot describe,
    and for any component whose scale is not the default for its name.

    Attributes
    ----------
    value : float, array-like, or (for `expr.loyalty_index`) a column name or expression
        The component's value (or one value per customer), on `scale`.
    scale : (float, float), default=(0, 1)
        The nominal range `(low, high)` of the component: `(1, 5)` for a 1–5 CSAT mean,
        `(1, 7)` for a CES 2.0 mean, `(-100, 100)` for NPS, `(0, 1)` for a rate.
    higher_is_better : bool, default=True
        `False` for scales where a low value is good (the CES 1.0 effort scale); the
        component is then mapped as $100 (\text{high} - x)/(\text{high} - \text{low})$.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.IndexComponent(4.2, scale=(1, 5))
    IndexComponent(value=4.2, scale=(1, 5), higher_is_better=True)
    """

    value: RealInput | pl.Expr | str
    scale: tuple[float, float] = (0.0, 1.0)
    higher_is_better: bool = True


def component_scale(name: str, comp: Any) -> tuple[Any, float, float, bool]:
    if isinstance(comp, IndexComponent):
        low, high = v.check_scale_bounds(comp.scale, f"components[{name!r}].scale")
        v.check_bool(comp.higher_is_better, f"components[{name!r}].higher_is_better")
        return comp.value, low, high, comp.higher_is_better
    if name == _NPS_NAME:
        return comp, -100.0, 100.0, True
    return comp, 0.0, 1.0, True


@overload
def loyalty_index(
    components: Mapping[str, float | IndexComponent],
    *,
    weights: Mapping[str, float] | None = None,
) -> float: ...
@overload
def loyalty_index(
    components: Mapping[str, RealInput | IndexComponent],
    *,
    weights: Mapping[str, float] | None = None,
) -> FloatArray: ...
def loyalty_index(
    components: Mapping[str, RealInput | IndexComponent],
    *,
    weights: Mapping[str, float] | None = None,
) -> Real:
    r"""Composite loyalty index in [0, 100]: a weighted mean of components on 0–100.

    Each component $x_j$ is mapped onto 0–100 by its **nominal** range $[a_j, b_j]$
    (never by the observed minimum and maximum), then averaged with normalised weights:

    $$s_j = 100\,\frac{x_j - a_j}{b_j - a_j}\ \ (\text{or } 100\,\frac{b_j - x_j}{b_j - a_j}
      \text{ when lower is better}),\qquad
      \mathrm{LI} = \frac{\sum_j w_j s_j}{\sum_j w_j}$$

    Ranges: a plain number named `"nps"` is in points, −100..100; any other plain
    number is a rate or share in 0..1 (retention, repeat purchase rate, CSAT top-box…);
    a mean score (CSAT or CES mean) is given as an `IndexComponent` with its scale and
    direction.

    Parameters
    ----------
    components : mapping of str to number, array-like or IndexComponent
        The named components, at least one. A component not given is left out (its
        weight is dropped and the rest renormalised), never treated as 0. Array values
        broadcast (one index per customer).
    weights : mapping of str to float, optional
        Non-negative weights by component name; normalised, so only their ratios
        matter. Default: equal weights. Every component needs a weight; extra names are
        ignored, so one weight table can serve segments that lack a component.

    Returns
    -------
    float or numpy.ndarray
        The index in [0, 100]. Scalars give a `float`, array components an array.

    Raises
    ------
    TypeError
        If `components` or `weights` is not a mapping, or a value has the wrong type.
    ValueError
        If `components` is empty, a value is non-finite or outside its range, a
        component has no weight, a weight is negative or non-finite, or the weights of
        the given components sum to 0.

    Notes
    -----
    There is no standard loyalty index. Practitioner indices average a few 0–10 intent
    questions (recommend, repurchase, cross-buy); Hayes' RAPID indices average survey
    items per loyalty dimension. Mapping every component onto its nominal range first
    prevents the common unit error of averaging NPS points with 0–10 means. The index is
    monotone in every component and invariant to scaling all weights.

    References
    ----------
    1. Hayes, B. E. (2008). The True Test of Loyalty. *Quality Progress*, June 2008,
       20–26.
    2. Fornell, C., Johnson, M. D., Anderson, E. W., Cha, J., & Bryant, B. E. (1996).
       The American Customer Satisfaction Index: Nature, Purpose, and Findings.
       *Journal of Marketing*, 60(4), 7–18. (0–100 index scaling)

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.loyalty_index({"nps": 30.0, "retention_rate": 0.85})
    75.0
    >>> lm.loyalty_index(
    ...     {"nps": 30.0, "csat": lm.IndexComponent(4.2, scale=(1, 5))},
    ...     weights={"nps": 2, "csat": 1},
    ... )
    70.0
    >>> lm.loyalty_index({"ces": lm.IndexComponent(2.0, scale=(1, 5), higher_is_better=False)})
    75.0
    """
    if not isinstance(components, Mapping):
        raise TypeError(
            "components must be a mapping of component names to values; "
            f"got {type(components).__name__}"
        )
    if not components:
        raise ValueError("components must name at least one component; got an empty mapping")
    if weights is not None and not isinstance(weights, Mapping):
        raise TypeError(
            f"weights must be a mapping of component names to weights; got {type(weights).__name__}"
        )
    names: list[str] = []
    mapped: list[Real] = []
    w: list[float] = []
    for name, comp in components.items():
        if not isinstance(name, str):
            raise TypeError(f"component names must be strings; got {name!r}")
        value, low, high, higher = component_scale(name, comp)
        label = f"components[{name!r}]"
        x = v.as_real(value, label)
        v.check_in_range(x, label, low, high, what=_range_hint(name, comp, low, high))
        span = high - low
        mapped.append(100.0 * ((x - low) if higher else (high - x)) / span)
        names.append(label)
        if weights is None:
            w.append(1.0)
        elif name not in weights:
            raise ValueError(f"weights has no entry for component {name!r}")
        else:
            wj = v.as_scalar(weights[name], f"weights[{name!r}]")
            v.check_nonnegative(wj, f"weights[{name!r}]")
            w.append(wj)
    total = math.fsum(w)
    if total <= 0.0:
        raise ValueError(
            f"the weights of the given components sum to 0: {dict(zip(components, w, strict=True))}"
        )
    mapped = v.broadcast(names, *mapped)
    acc: Real = 0.0
    for wj, sj in zip(w, mapped, strict=True):
        acc = acc + (wj / total) * sj
    out = clip(acc, 0.0, 100.0)
    return out if isinstance(out, np.ndarray) else float(out)


def _range_hint(name: str, comp: Any, low: float, high: float) -> str:
    if isinstance(comp, IndexComponent):
        return "the component's scale"
    if name == _NPS_NAME:
        return "NPS in points"
    return (
        "a plain number is a rate or share in [0, 1]; for a mean score pass "
        "IndexComponent(value, scale=(low, high))"
    )
