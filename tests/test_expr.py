"""loyaltymetrics.expr: the same metric in a polars expression as in the scalar formula."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.exceptions import InvalidOperationError

import loyaltymetrics as lm
from loyaltymetrics import expr as lmx

# (scalar function, expression function, options, answer scale)
SURVEY: dict[str, tuple[Callable[..., float], Callable[..., pl.Expr], dict[str, Any], range]] = {
    "nps": (lm.nps, lmx.nps, {}, range(11)),
    "csat": (lm.csat, lmx.csat, {}, range(1, 6)),
    "csat-mean-1-10": (lm.csat, lmx.csat, {"scale": (1, 10), "method": "mean"}, range(1, 11)),
    "ces": (lm.ces, lmx.ces, {}, range(1, 8)),
    "ces-top": (lm.ces, lmx.ces, {"method": "top_box", "threshold": 6}, range(1, 8)),
    "ces-effort": (
        lm.ces,
        lmx.ces,
        {"scale": (1, 5), "method": "top_box", "threshold": 2, "higher_is_better": False},
        range(1, 6),
    ),
}


def _answers(scale: range) -> st.SearchStrategy[list[int | None]]:
    return st.lists(st.one_of(st.none(), st.sampled_from(list(scale))), max_size=40)


def _close(a: float | None, b: float) -> bool:
    if a is None:
        return math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("name", list(SURVEY))
@given(data=st.data())
def test_expression_equals_scalar_formula(name: str, data: st.DataObject) -> None:
    scalar, expression, opts, scale = SURVEY[name]
    answers = data.draw(_answers(scale), label="answers")
    weights = data.draw(
        st.lists(st.integers(0, 5), min_size=len(answers), max_size=len(answers)), label="w"
    )
    df = pl.DataFrame({"s": answers, "w": weights}, schema={"s": pl.Int64, "w": pl.Int64})
    got = df.select(expression("s", **opts)).item()
    assert _close(got, scalar(answers, **opts))
    got_w = df.lazy().select(expression("s", weights="w", **opts)).collect().item()
    assert _close(got_w, scalar(answers, weights=weights, **opts))


@pytest.mark.parametrize("name", list(SURVEY))
@given(data=st.data())
def test_group_by_equals_per_group_scalar(name: str, data: st.DataObject) -> None:
    scalar, expression, opts, scale = SURVEY[name]
    answers = data.draw(_answers(scale), label="answers")
    groups = data.draw(
        st.lists(st.sampled_from("abc"), min_size=len(answers), max_size=len(answers)), label="g"
    )
    df = pl.DataFrame({"g": groups, "s": answers}, schema={"g": pl.String, "s": pl.Int64})
    out = df.lazy().group_by("g").agg(expression("s", **opts)).collect()
    metric = expression("s", **opts).meta.output_name()
    assert out.columns == ["g", metric]
    for g, value in out.iter_rows():
        in_group = [a for a, gg in zip(answers, groups, strict=True) if gg == g]
        assert _close(value, scalar(in_group, **opts))


def test_no_valid_answers_is_null_not_nan() -> None:
    df = pl.DataFrame({"g": ["a", "a", "b"], "s": [None, float("nan"), 9.0]})
    out = df.group_by("g", maintain_order=True).agg(lmx.nps("s"), lmx.csat("s", scale=(0, 10)))
    assert out.row(0) == ("a", None, None)
    assert out.row(1) == ("b", 100.0, 1.0)
    empty = pl.DataFrame({"s": []}, schema={"s": pl.Float64})
    assert empty.select(lmx.ces("s")).item() is None


@pytest.mark.parametrize(
    ("expression", "values", "pattern"),
    [
        (lmx.nps("s"), [10, 11], r"nps: answers must be whole numbers from 0 to 10: 1 value"),
        (lmx.nps("s"), [9.5, 10.0], r"nps: .*e\.g\. 9\.5"),
        (lmx.nps("s"), [-1, 3], r"nps: .*e\.g\. -1"),
        (lmx.csat("s"), [0, 5], r"csat: answers must be whole numbers from 1 to 5"),
        (lmx.ces("s"), [8, 5], r"ces: answers must be whole numbers from 1 to 7"),
        (lmx.average_order_value("s"), [-1.0, 5.0], r"revenue must be finite and non-negative"),
        (lmx.purchase_frequency("s"), [-2, 1], r"orders must be finite and non-negative"),
        (lmx.repeat_purchase_rate("s"), [1, -3], r"orders must be finite and non-negative"),
    ],
)
def test_invalid_values_fail_at_collect(
    expression: pl.Expr, values: list[float], pattern: str
) -> None:
    lf = pl.LazyFrame({"s": values})
    with pytest.raises(InvalidOperationError, match=pattern):
        lf.select(expression).collect()


def test_invalid_weights_fail_at_collect() -> None:
    df = pl.DataFrame({"s": [10, 9, None], "w": [1.0, -1.0, None]})
    with pytest.raises(InvalidOperationError, match=r"weights must be finite and non-negative"):
        df.select(lmx.nps("s", weights="w"))
    # a null weight is fine where the answer itself is missing
    ok = pl.DataFrame({"s": [10, None], "w": [2.0, None]}).select(lmx.nps("s", weights="w"))
    assert ok.item() == 100.0


def test_options_are_checked_at_once() -> None:
    with pytest.raises(ValueError, match="method"):
        lmx.csat("s", method="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        lmx.ces("s", method="top_box", threshold=9)
    with pytest.raises(TypeError, match="scores"):
        lmx.nps(3)  # type: ignore[arg-type]


def test_expressions_accept_expressions_and_alias() -> None:
    df = pl.DataFrame({"raw": [20, 18, 6]})
    assert df.select(lmx.nps(pl.col("raw") // 2)).item() == pytest.approx(lm.nps([10, 9, 3]))
    assert df.select(lmx.nps(pl.col("raw") // 2).alias("x")).columns == ["x"]


def test_expressions_work_in_over_and_rolling() -> None:
    df = pl.DataFrame({"g": ["a", "a", "b"], "s": [10, 0, 9]})
    out = df.select(lmx.nps("s").over("g"))
    assert out["nps"].to_list() == [0.0, 0.0, 100.0]
    # rolling over an integer index: windows of 2 answers
    rolled = df.with_row_index("i").rolling("i", period="2i").agg(lmx.nps("s"))
    assert rolled["nps"].to_list() == [100.0, 0.0, 0.0]


@given(
    st.lists(
        st.tuples(st.floats(0, 1e6, allow_nan=False), st.integers(0, 50)), min_size=0, max_size=30
    )
)
def test_ratio_expressions_equal_scalar_formulas(rows: list[tuple[float, int]]) -> None:
    revenue = [r for r, _ in rows]
    orders = [o for _, o in rows]
    df = pl.DataFrame(
        {"revenue": revenue, "orders": orders}, schema={"revenue": pl.Float64, "orders": pl.Int64}
    )
    aov = df.select(lmx.average_order_value("revenue", "orders")).item()
    assert _close(aov, lm.average_order_value(math.fsum(revenue), sum(orders)))
    freq = df.select(lmx.purchase_frequency("orders")).item()
    assert _close(freq, lm.purchase_frequency(sum(orders), len(orders)))
    rpr = df.select(lmx.repeat_purchase_rate("orders")).item()
    buyers = sum(o >= 1 for o in orders)
    assert _close(rpr, lm.repeat_purchase_rate(sum(o >= 2 for o in orders), buyers))
    per_order = df.select(lmx.average_order_value("revenue")).item()
    assert _close(per_order, lm.average_order_value(math.fsum(revenue), len(revenue)))


def test_share_of_wallet_is_spend_weighted() -> None:
    df = pl.DataFrame({"b": [30.0, 10.0, None], "c": [100.0, 60.0, 50.0]})
    # (30 + 10) / (100 + 60): the row with a null brand spend is skipped, not counted as 0
    assert df.select(lmx.share_of_wallet("b", "c")).item() == pytest.approx(0.25)
    # the mean of individual shares would be (0.3 + 0.1667) / 2 = 0.233
    assert np.mean([0.3, 10 / 60]) != pytest.approx(0.25)
    with pytest.raises(InvalidOperationError, match="cannot exceed"):
        pl.DataFrame({"b": [5.0], "c": [4.0]}).select(lmx.share_of_wallet("b", "c"))
