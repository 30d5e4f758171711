"""Registry-driven bad-input tests: every public formula rejects each class of bad input.

For each function the registry gives one valid call (all arguments by keyword) and which
arguments are numbers, which must be non-negative, which must not exceed which, and
which are probabilities. The tests derive the bad calls from it and check that each one
raises ``TypeError`` or ``ValueError`` with a message naming the argument and, where there is
one, the value; none of them may return a number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pytest

import loyaltymetrics as lm


@dataclass(frozen=True)
class Case:
    fn: Callable[..., Any]
    valid: dict[str, Any]
    numeric: tuple[str, ...] = ()  # number-or-array arguments
    nonneg: tuple[str, ...] = ()  # must be >= 0
    parts: tuple[tuple[str, str], ...] = ()  # (part, whole): part <= whole
    probabilities: tuple[str, ...] = ()  # must lie in [0, 1]
    extra_bad: tuple[tuple[dict[str, Any], type[Exception], str], ...] = field(default=())


REGISTRY: dict[str, Case] = {
    "nps_from_counts": Case(
        lm.nps_from_counts,
        {"promoters": 45, "passives": 40, "detractors": 15},
        numeric=("promoters", "passives", "detractors"),
        nonneg=("promoters", "passives", "detractors"),
    ),
    "response_rate": Case(
        lm.response_rate,
        {"responses": 12, "invited": 100},
        numeric=("responses", "invited"),
        nonneg=("responses", "invited"),
        parts=(("responses", "invited"),),
    ),
    "retention_rate": Case(
        lm.retention_rate,
        {"customers_start": 200, "customers_end": 210, "customers_new": 30},
        numeric=("customers_start", "customers_end", "customers_new", "customers_reactivated"),
        nonneg=("customers_start", "customers_end", "customers_new", "customers_reactivated"),
        extra_bad=(
            # new customers larger than the end base
            ({"customers_new": 250}, ValueError, r"customers_new.*\(250\).*customers_end.*\(210\)"),
            # E - N > S: retention above 1
            ({"customers_end": 260}, ValueError, r"\(230\) cannot exceed customers_start \(200\)"),
            ({"customers_reactivated": 190}, ValueError, r"customers_reactivated.*\(220\)"),
        ),
    ),
    "churn_rate": Case(
        lm.churn_rate,
        {"customers_start": 10, "customers_lost": 3},
        numeric=("customers_start", "customers_lost"),
        nonneg=("customers_start", "customers_lost"),
        parts=(("customers_lost", "customers_start"),),
    ),
    "convert_rate": Case(
        lm.convert_rate,
        {"rate": 0.05, "from_periods": 1, "to_periods": 12, "kind": "churn"},
        numeric=("rate", "from_periods", "to_periods"),
        probabilities=("rate",),
        extra_bad=(
            ({"from_periods": 0}, ValueError, r"from_periods.*0"),
            ({"to_periods": -12}, ValueError, r"to_periods.*-12"),
            ({"kind": "retension"}, ValueError, r"kind.*'retension'"),
            ({"kind": None}, TypeError, r"kind"),
        ),
    ),
    "net_revenue_retention": Case(
        lm.net_revenue_retention,
        {"revenue_start": 10.0, "expansion": 1.8, "contraction": 0.6, "churned": 0.9},
        numeric=("revenue_start", "expansion", "contraction", "churned"),
        nonneg=("revenue_start", "expansion", "contraction", "churned"),
        extra_bad=(({"churned": 9.5}, ValueError, r"contraction \+ churned.*revenue_start"),),
    ),
    "gross_revenue_retention": Case(
        lm.gross_revenue_retention,
        {"revenue_start": 10.0, "contraction": 0.6, "churned": 0.9},
        numeric=("revenue_start", "contraction", "churned"),
        nonneg=("revenue_start", "contraction", "churned"),
        extra_bad=(({"contraction": 9.5}, ValueError, r"contraction \+ churned.*revenue_start"),),
    ),
    "repeat_purchase_rate": Case(
        lm.repeat_purchase_rate,
        {"repeat_customers": 3, "customers": 10},
        numeric=("repeat_customers", "customers"),
        nonneg=("repeat_customers", "customers"),
        parts=(("repeat_customers", "customers"),),
    ),
    "purchase_frequency": Case(
        lm.purchase_frequency,
        {"orders": 30, "customers": 10},
        numeric=("orders", "customers"),
        nonneg=("orders", "customers"),
    ),
    "average_order_value": Case(
        lm.average_order_value,
        {"revenue": 300.0, "orders": 10},
        numeric=("revenue", "orders"),
        nonneg=("revenue", "orders"),
    ),
    "referral_rate": Case(
        lm.referral_rate,
        {"referred_customers": 3, "new_customers": 10},
        numeric=("referred_customers", "new_customers"),
        nonneg=("referred_customers", "new_customers"),
        parts=(("referred_customers", "new_customers"),),
    ),
    "share_of_wallet": Case(
        lm.share_of_wallet,
        {"brand_spend": 3.0, "category_spend": 10.0},
        numeric=("brand_spend", "category_spend"),
        nonneg=("brand_spend", "category_spend"),
        parts=(("brand_spend", "category_spend"),),
    ),
    "wallet_allocation_share": Case(
        lm.wallet_allocation_share,
        {"rank": 2, "n_brands": 3},
        numeric=("rank", "n_brands"),
        nonneg=("rank", "n_brands"),
        parts=(("rank", "n_brands"),),
        extra_bad=(
            ({"rank": 0}, ValueError, r"rank.*0"),
            ({"rank": 1.3}, ValueError, r"rank.*1\.3"),
            ({"n_brands": 0, "rank": 1}, ValueError, r"n_brands.*0"),
            ({"n_brands": 2.5, "rank": 1}, ValueError, r"n_brands.*2\.5"),
        ),
    ),
    "clv": Case(
        lm.clv,
        {"average_order_value": 50.0, "purchase_frequency": 4, "lifespan": 3, "margin": 0.3},
        numeric=("average_order_value", "purchase_frequency", "lifespan", "margin"),
        nonneg=("average_order_value", "purchase_frequency", "lifespan"),
        extra_bad=(({"margin": 30}, ValueError, r"margin.*30"),),
    ),
    "clv_discounted": Case(
        lm.clv_discounted,
        {"margin": 100.0, "retention_rate": 0.8, "discount_rate": 0.1},
        numeric=("margin", "retention_rate", "discount_rate"),
        probabilities=("retention_rate",),
        extra_bad=(
            ({"discount_rate": -1.0}, ValueError, r"discount_rate.*-1"),
            ({"retention_rate": 1.0, "discount_rate": 0.0}, ValueError, r"diverges"),
            ({"periods": 0}, ValueError, r"periods.*0"),
            ({"periods": 2.5}, TypeError, r"periods.*2\.5"),
            ({"periods": "5"}, TypeError, r"periods"),
            ({"periods": True}, TypeError, r"periods"),
            ({"include_current": "yes"}, TypeError, r"include_current"),
        ),
    ),
}

SCALAR_BAD: list[tuple[str, Any, type[Exception], str]] = [
    ("nan", math.nan, ValueError, "nan"),
    ("inf", math.inf, ValueError, "inf"),
    ("-inf", -math.inf, ValueError, "inf"),
    ("string", "3", TypeError, "'3'"),
    ("None", None, TypeError, "None"),
    ("bool", True, TypeError, "True"),
    ("list with None", [1.0, None], ValueError, r"\[1\].*None"),
    ("list with string", [1.0, "2"], TypeError, ""),
    ("array with nan", np.array([1.0, np.nan]), ValueError, r"\[1\]=nan"),
    ("Series with null", pl.Series([1.0, None]), ValueError, r"\[1\].*null"),
    ("string Series", pl.Series(["1", "2"]), TypeError, ""),
    ("bool array", np.array([True, False]), TypeError, ""),
]


def _num(x: float) -> str:
    """Numbers as messages print them: 11 for 11.0."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _calls() -> list[Any]:
    out = []
    for fname, case in REGISTRY.items():
        for arg in case.numeric:
            for label, bad, exc, value_pattern in SCALAR_BAD:
                pattern = re.escape(arg) + (".*" + value_pattern if value_pattern else "")
                out.append(
                    pytest.param(case, {arg: bad}, exc, pattern, id=f"{fname}-{arg}-{label}")
                )
        for arg in case.nonneg:
            out.append(
                pytest.param(
                    case, {arg: -1}, ValueError, re.escape(arg) + r".*-1", id=f"{fname}-{arg}-neg"
                )
            )
            out.append(
                pytest.param(
                    case,
                    {arg: [1, -2]},
                    ValueError,
                    re.escape(arg) + r"\[1\].*-2",
                    id=f"{fname}-{arg}-neg-array",
                )
            )
        for arg in case.probabilities:
            for bad in (1.5, -0.1):
                out.append(
                    pytest.param(
                        case,
                        {arg: bad},
                        ValueError,
                        re.escape(arg) + f".*{bad}",
                        id=f"{fname}-{arg}-prob{bad}",
                    )
                )
        for part, whole in case.parts:
            w = case.valid[whole]
            bad_part = w + 1
            pattern = rf"{part} \({_num(bad_part)}\) cannot exceed {whole} \({_num(w)}\)"
            out.append(
                pytest.param(
                    case, {part: bad_part}, ValueError, pattern, id=f"{fname}-{part}>{whole}"
                )
            )
        if len(case.numeric) >= 2:
            a, b = case.numeric[0], case.numeric[1]
            mismatched = {a: [case.valid.get(a, 1)] * 2, b: [case.valid.get(b, 0)] * 3}
            out.append(
                pytest.param(case, mismatched, ValueError, "mismatched", id=f"{fname}-mismatched")
            )
        for i, (override, exc, pattern) in enumerate(case.extra_bad):
            out.append(pytest.param(case, override, exc, pattern, id=f"{fname}-extra{i}"))
    return out


@pytest.mark.parametrize(("case", "override", "exc", "pattern"), _calls())
def test_bad_input_raises_naming_argument_and_value(
    case: Case, override: dict[str, Any], exc: type[Exception], pattern: str
) -> None:
    case.fn(**case.valid)  # the base call is valid
    kwargs = {**case.valid, **override}
    with pytest.raises(exc, match=pattern):
        case.fn(**kwargs)


def test_registry_covers_every_count_formula() -> None:
    survey_and_index = {"nps", "csat", "ces", "loyalty_index"}
    functions = {n for n in lm.__all__ if callable(getattr(lm, n)) and n[0].islower()}
    assert functions - survey_and_index == set(REGISTRY)


# ----------------------------------------------------------------- survey answers

SURVEYS: dict[str, tuple[Callable[..., float], dict[str, Any], list[Any]]] = {
    # name: (function, options, answers that are off its scale)
    "nps": (lm.nps, {}, [11, -1, 9.5, 10.01, math.inf, -math.inf]),
    "csat": (lm.csat, {}, [0, 6, 4.5, math.inf]),
    "csat-1-10": (lm.csat, {"scale": (1, 10)}, [0, 11, 9.5]),
    "ces": (lm.ces, {}, [0, 8, 6.5, -math.inf]),
    "ces-effort": (lm.ces, {"scale": (1, 5), "higher_is_better": False, "threshold": 2}, [6, 0]),
}
VALID = {
    "nps": [10, 9, 0],
    "csat": [5, 4, 1],
    "csat-1-10": [10, 1],
    "ces": [7, 1],
    "ces-effort": [1, 5],
}


@pytest.mark.parametrize("name", list(SURVEYS))
def test_survey_off_scale_answers(name: str) -> None:
    fn, opts, bad_answers = SURVEYS[name]
    fn(VALID[name], **opts)
    for bad in bad_answers:
        answers = [*VALID[name], bad]
        idx = len(VALID[name])
        for form in (answers, np.array(answers, dtype=float), pl.Series(answers, dtype=pl.Float64)):
            with pytest.raises(ValueError, match=rf"scores\[{idx}\] \(.*\) is not a whole number"):
                fn(form, **opts)


@pytest.mark.parametrize("name", list(SURVEYS))
@pytest.mark.parametrize(
    ("bad", "exc", "pattern"),
    [
        ("9", TypeError, "scores"),
        (["9", "10"], TypeError, "scores"),
        ([9, "10"], TypeError, "scores"),
        (None, TypeError, "scores.*None"),
        (9, TypeError, "scores.*1-D"),
        ([True, False], TypeError, "scores"),
        ([[9, 10], [1, 2]], ValueError, r"scores must be 1-D"),
        (pl.Series(["9"]), TypeError, "scores"),
        ({"a": 9}, TypeError, "scores"),
    ],
)
def test_survey_bad_scores(name: str, bad: Any, exc: type[Exception], pattern: str) -> None:
    fn, opts, _ = SURVEYS[name]
    with pytest.raises(exc, match=pattern):
        fn(bad, **opts)


@pytest.mark.parametrize("name", list(SURVEYS))
@pytest.mark.parametrize(
    ("weights", "exc", "pattern"),
    [
        ([1, -1, 1], ValueError, r"weights\[1\].*-1"),
        ([1, math.nan, 1], ValueError, r"weights\[1\]=nan"),
        ([1, math.inf, 1], ValueError, r"weights\[1\]=inf"),
        ([1, 1], ValueError, r"mismatched lengths.*weights"),
        ([1, 1, 1, 1], ValueError, r"mismatched lengths.*weights"),
        (["1", "1", "1"], TypeError, "weights"),
        ([1, None, 1], ValueError, r"weights\[1\].*None"),
        (2.0, TypeError, "weights"),
        ("1", TypeError, "weights"),
    ],
)
def test_survey_bad_weights(name: str, weights: Any, exc: type[Exception], pattern: str) -> None:
    fn, opts, _ = SURVEYS[name]
    answers = [*VALID[name], VALID[name][0]][:3]
    with pytest.raises(exc, match=pattern):
        fn(answers, weights=weights, **opts)


@pytest.mark.parametrize(
    ("fn", "kwargs", "exc", "pattern"),
    [
        (lm.csat, {"method": "median"}, ValueError, r"method.*'median'"),
        (lm.csat, {"method": 1}, TypeError, "method"),
        (lm.csat, {"scale": (5, 1)}, ValueError, r"scale.*\(5, 1\)"),
        (lm.csat, {"scale": (1, 5.5)}, ValueError, "scale.*whole"),
        (lm.csat, {"scale": 5}, TypeError, "scale"),
        (lm.csat, {"scale": (1, 2, 3)}, TypeError, "scale"),
        (lm.csat, {"threshold": 6, "method": "top_box"}, ValueError, r"threshold.*6"),
        (lm.csat, {"threshold": "4", "method": "top_box"}, TypeError, "threshold"),
        (lm.ces, {"threshold": 0, "method": "top_box"}, ValueError, r"threshold.*0"),
        (lm.ces, {"threshold": math.nan, "method": "top_box"}, ValueError, "threshold.*nan"),
        (lm.ces, {"method": "top-box"}, ValueError, r"method.*'top-box'"),
        (lm.ces, {"higher_is_better": "no"}, TypeError, "higher_is_better"),
        (lm.ces, {"higher_is_better": None}, TypeError, "higher_is_better"),
    ],
)
def test_survey_bad_options(
    fn: Callable[..., float], kwargs: dict[str, Any], exc: type[Exception], pattern: str
) -> None:
    with pytest.raises(exc, match=pattern):
        fn([5, 4, 1], **kwargs)


def test_survey_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        lm.csat([5, 4], (1, 5))  # type: ignore[misc]
    with pytest.raises(TypeError):
        lm.nps([9, 10], [1, 1])  # type: ignore[misc]


# ----------------------------------------------------------------- loyalty index


@pytest.mark.parametrize(
    ("components", "weights", "exc", "pattern"),
    [
        ({}, None, ValueError, "at least one"),
        ([("nps", 30)], None, TypeError, "components must be a mapping"),
        ({"nps": math.nan}, None, ValueError, r"components\['nps'\].*nan"),
        ({"nps": "30"}, None, TypeError, r"components\['nps'\].*'30'"),
        ({"nps": None}, None, TypeError, r"components\['nps'\].*None"),
        ({"nps": 130.0}, None, ValueError, r"components\['nps'\].*130"),
        ({"csat": 4.2}, None, ValueError, r"components\['csat'\].*IndexComponent.*4\.2"),
        ({"rate": -0.1}, None, ValueError, r"components\['rate'\].*-0\.1"),
        ({"rate": [0.5, 1.5]}, None, ValueError, r"components\['rate'\]\[1\].*1\.5"),
        ({"a": [0.5, 0.5], "b": [0.1, 0.2, 0.3]}, None, ValueError, "mismatched"),
        (
            {"csat": lm.IndexComponent(6, scale=(1, 5))},
            None,
            ValueError,
            r"components\['csat'\].*6",
        ),
        ({"csat": lm.IndexComponent(3, scale=(5, 1))}, None, ValueError, r"scale"),
        ({"x": lm.IndexComponent(0.3, higher_is_better="y")}, None, TypeError, "higher_is_better"),  # type: ignore[arg-type]
        ({"nps": 30.0, "rate": 0.5}, {"nps": 1.0}, ValueError, "no entry for component 'rate'"),
        ({"nps": 30.0}, {"nps": -1.0}, ValueError, r"weights\['nps'\].*-1"),
        ({"nps": 30.0}, {"nps": math.nan}, ValueError, r"weights\['nps'\].*nan"),
        ({"nps": 30.0}, {"nps": "1"}, TypeError, r"weights\['nps'\]"),
        ({"nps": 30.0}, {"nps": 0.0}, ValueError, "sum to 0"),
        ({"nps": 30.0}, [1.0], TypeError, "weights must be a mapping"),
    ],
)
def test_loyalty_index_bad_input(
    components: Any, weights: Any, exc: type[Exception], pattern: str
) -> None:
    with pytest.raises(exc, match=pattern):
        lm.loyalty_index(components, weights=weights)


def test_messages_use_the_documented_template() -> None:
    with pytest.raises(
        ValueError, match=r"^customers_lost \(11\) cannot exceed customers_start \(10\)$"
    ):
        lm.churn_rate(10, 11)
    with pytest.raises(
        ValueError, match=r"^customers_lost\[2\] \(11\) cannot exceed customers_start\[2\] \(10\)$"
    ):
        lm.churn_rate([10, 10, 10], [1, 2, 11])
