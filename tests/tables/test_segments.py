"""Segmentation: tables.rfm_segments, tables.classify_customers, expr.loyalty_index and
expr.engagement_score, against hand computations and plain-Python references.

Every expected value is derived from the docstrings (scoring rule, default segment table,
rule semantics, normalisations), by hand in a comment or with a reference written here
with sorting, counting and ``operator`` only, never by running the library.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from polars.exceptions import InvalidOperationError
from polars.testing import assert_frame_equal

import loyaltymetrics as lm
from loyaltymetrics import expr as lmx
from loyaltymetrics import tables
from loyaltymetrics.tables._segments import DEFAULT_SEGMENTS, SEGMENT_NAMES

REL = 1e-9
ABS = 1e-9


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


def _rfm(
    frequency: Sequence[float],
    recency: Sequence[float],
    T: Sequence[float],
    monetary_value: Sequence[float],
    **extra: Sequence[Any],
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            **extra,
            "frequency": frequency,
            "recency": recency,
            "T": T,
            "monetary_value": monetary_value,
        },
        schema_overrides={
            "frequency": pl.Int64,
            "recency": pl.Float64,
            "T": pl.Float64,
            "monetary_value": pl.Float64,
        },
    )


def _scores(out: pl.DataFrame) -> list[tuple[int, int, int, str]]:
    return list(out.select("r_score", "f_score", "m_score", "segment").iter_rows())


# ======================================================================================
# rfm_segments


def ref_scores(values: Sequence[float], bins: int) -> list[int]:
    """1 + floor(bins (rank_min − 1) / n), with rank_min − 1 = how many values sort before."""
    ordered = sorted(values)
    n = len(values)
    return [1 + (bins * bisect.bisect_left(ordered, x)) // n for x in values]


def test_rfm_hand_computed_distinct_values() -> None:
    # n = 5, all values distinct: 1 + floor(5 (rank − 1) / 5) = rank.
    # since the last purchase T − recency = [1, 3, 5, 4, 2] → ranked on −(T − recency):
    #   −5 (c3) < −4 (c4) < −3 (c2) < −2 (c5) < −1 (c1)  →  r = [5, 3, 1, 2, 4]
    # frequency [0, 2, 7, 1, 3]          → f = [1, 3, 5, 2, 4]
    # monetary  [20, 40, 50, 10, 30]     → m = [2, 4, 5, 1, 3]
    # FM = ceil((F + M)/2)               → [2, 4, 5, 2, 4]
    # (R, FM) in the docstring table: (5,2) Potential Loyalist, (3,4) Loyal,
    # (1,5) Cannot Lose, (2,2) Hibernating, (4,4) Loyal.
    # floor((F + M)/2) would give (5,1) New, (3,3) Needs Attention and (4,3) Potential
    # Loyalist for c1, c2 and c5.
    rfm = _rfm(
        [0, 2, 7, 1, 3],
        [9.0, 7.0, 5.0, 6.0, 8.0],
        [10.0] * 5,
        [20.0, 40.0, 50.0, 10.0, 30.0],
        customer_id=[1, 2, 3, 4, 5],
    )
    out = tables.rfm_segments(rfm)
    assert _scores(out) == [
        (5, 1, 2, "Potential Loyalist"),
        (3, 3, 4, "Loyal"),
        (1, 5, 5, "Cannot Lose"),
        (2, 2, 1, "Hibernating"),
        (4, 4, 3, "Loyal"),
    ]


def test_rfm_hand_computed_ties() -> None:
    # n = 10, score = 1 + floor(5 (rank_min − 1) / 10) = 1 + (rank_min − 1) // 2.
    # frequency [0]*6 + [1, 2, 3, 4]: the six one-time buyers share rank 1 → f = 1 (a 60 %
    #   block spans quintiles 1–3 and gets the lowest); ranks 7, 8, 9, 10 → 4, 4, 5, 5.
    # monetary [0]*6 + [10, 10, 30, 20]: zeros rank 1 → 1; both 10s rank 7 → 4;
    #   20 ranks 9 → 5; 30 ranks 10 → 5.
    # T − recency = [5, 5, 5, 1, 2, 3, 4, 0, 0, 6], ranked on its negative:
    #   −6 (c10) rank 1 → 1; −5 ×3 (c1–c3) rank 2 → 1; −4 (c7) rank 5 → 3;
    #   −3 (c6) rank 6 → 3; −2 (c5) rank 7 → 4; −1 (c4) rank 8 → 4; 0 ×2 (c8, c9) rank 9 → 5.
    # Score 2 is empty in every signal.
    # FM = ceil((F + M)/2) = [1]*6 + [4, 4, 5, 5]; segments from the table:
    #   (1,1) Lost ×3, (4,1) Promising ×2, (3,1) Needs Attention, (3,4) Loyal,
    #   (5,4) Champions, (5,5) Champions, (1,5) Cannot Lose.
    rfm = _rfm(
        [0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
        [15.0, 5.0, 0.0, 19.0, 10.0, 0.0, 26.0, 7.0, 1.0, 34.0],
        [20.0, 10.0, 5.0, 20.0, 12.0, 3.0, 30.0, 7.0, 1.0, 40.0],
        [0.0] * 6 + [10.0, 10.0, 30.0, 20.0],
    )
    out = tables.rfm_segments(rfm)
    assert out["f_score"].to_list() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert out["m_score"].to_list() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert out["r_score"].to_list() == [1, 1, 1, 4, 4, 3, 3, 5, 5, 1]
    assert out["segment"].to_list() == [
        "Lost",
        "Lost",
        "Lost",
        "Promising",
        "Promising",
        "Needs Attention",
        "Loyal",
        "Champions",
        "Champions",
        "Cannot Lose",
    ]


def test_rfm_recency_is_scored_on_time_since_last_purchase() -> None:
    # (recency, T) → T − recency: a (10, 40) → 30, b (10, 12) → 2, c (35, 40) → 5,
    # d (0, 1) → 1, e (10, 39) → 29, f (1, 30) → 29.
    # Less time since the last purchase is better: ranked on −(T − recency)
    #   −30 (a) 1, −29 (e, f) 2, −5 (c) 4, −2 (b) 5, −1 (d) 6;
    #   n = 6: score = 1 + floor(5 (rank − 1)/6) → a 1, e/f 1 + floor(5/6) = 1,
    #   c 1 + floor(15/6) = 3, b 1 + floor(20/6) = 4, d 1 + floor(25/6) = 5.
    # a and b have the same recency but different scores; e and f have different recency
    # and T but the same time since the last purchase, hence the same score.
    rfm = _rfm(
        [1] * 6,
        [10.0, 10.0, 35.0, 0.0, 10.0, 1.0],
        [40.0, 12.0, 40.0, 1.0, 39.0, 30.0],
        [1.0] * 6,
    )
    assert tables.rfm_segments(rfm)["r_score"].to_list() == [1, 4, 3, 5, 1, 1]


def test_rfm_single_customer_scores_one() -> None:
    out = tables.rfm_segments(_rfm([3], [20.0], [30.0], [12.5], customer_id=["x"]))
    # rank 1 of n = 1 → 1 + floor(5 · 0 / 1) = 1 in every signal; (1, 1) is Lost
    assert _scores(out) == [(1, 1, 1, "Lost")]


def test_rfm_all_identical_values_score_one() -> None:
    # one tie block of 7: rank_min 1 for everyone → score 1
    out = tables.rfm_segments(_rfm([2] * 7, [5.0] * 7, [9.0] * 7, [3.0] * 7))
    assert _scores(out) == [(1, 1, 1, "Lost")] * 7


@st.composite
def rfm_tables(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 25), label="n")
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, 4),
                st.integers(0, 12),
                st.sampled_from([6.0, 12.0, 13.5]),
                st.one_of(
                    st.sampled_from([0.0, 5.0, 12.5, 40.0]),
                    st.floats(0, 1e4, allow_nan=False),
                ),
            ),
            min_size=n,
            max_size=n,
        ),
        label="rows",
    )
    return _rfm(
        [f for f, _, _, _ in rows],
        [min(float(r), t) for _, r, t, _ in rows],
        [t for _, _, t, _ in rows],
        [m for _, _, _, m in rows],
        customer_id=list(range(n)),
    )


@settings(max_examples=60)
@given(rfm=rfm_tables(), bins=st.integers(2, 8))
def test_rfm_scores_equal_plain_python_reference(rfm: pl.DataFrame, bins: int) -> None:
    freq = rfm["frequency"].to_list()
    rec = rfm["recency"].to_list()
    horizon = rfm["T"].to_list()
    mon = rfm["monetary_value"].to_list()
    r_ref = ref_scores([-(t - r) for r, t in zip(rec, horizon, strict=True)], bins)
    f_ref = ref_scores(freq, bins)
    m_ref = ref_scores(mon, bins)
    if bins == 5:
        seg_map: Mapping[tuple[int, int], str] | None = None
        cells: Mapping[tuple[int, int], str] = DEFAULT_SEGMENTS
    else:
        cells = {(r, fm): f"R{r}/FM{fm}" for r in range(1, bins + 1) for fm in range(1, bins + 1)}
        seg_map = cells
    out = tables.rfm_segments(rfm, bins=bins, segments=seg_map)
    assert out["r_score"].to_list() == r_ref
    assert out["f_score"].to_list() == f_ref
    assert out["m_score"].to_list() == m_ref
    expected = [
        cells[(r, math.ceil((f + m) / 2))] for r, f, m in zip(r_ref, f_ref, m_ref, strict=True)
    ]
    assert out["segment"].to_list() == expected
    # identical values always share a score
    for col, values in (("f_score", freq), ("m_score", mon)):
        by_value: dict[float, set[int]] = {}
        for x, s in zip(values, out[col].to_list(), strict=True):
            by_value.setdefault(x, set()).add(s)
        assert all(len(s) == 1 for s in by_value.values())


def _docstring_segment_table() -> dict[tuple[int, int], str]:
    doc = tables.rfm_segments.__doc__
    assert doc is not None
    table: dict[tuple[int, int], str] = {}
    for line in doc.splitlines():
        match = re.fullmatch(r"\s*\|\s*([1-5])\s*\|(.*)\|\s*", line)
        if match:
            names = [c.strip() for c in match.group(2).split("|")]
            assert len(names) == 5
            for fm, name in enumerate(names, 1):
                table[(int(match.group(1)), fm)] = name
    return table


def test_default_segment_map_covers_the_grid_with_the_ten_names() -> None:
    cells = [(r, fm) for r in range(1, 6) for fm in range(1, 6)]
    assert sorted(DEFAULT_SEGMENTS) == cells
    assert len(SEGMENT_NAMES) == len(set(SEGMENT_NAMES)) == 10
    assert all(DEFAULT_SEGMENTS[c] in SEGMENT_NAMES for c in cells)
    assert set(DEFAULT_SEGMENTS.values()) == set(SEGMENT_NAMES)
    # the map is the table printed in the docstring
    assert _docstring_segment_table() == dict(DEFAULT_SEGMENTS)


def test_rfm_every_default_cell_is_reachable() -> None:
    # n = 5 distinct values per signal: score = rank, so any score can be placed by hand.
    # For each (r, f, m) with m = f (FM = f) build a 5-row table where row 0 gets (r, f, f):
    # T − recency is 6 − k for k = 1..5 (row 0 takes k = r), so −(T − recency) = k − 6 has
    # rank k; frequency and monetary value are k = 1..5 (row 0 takes k = f).
    for r in range(1, 6):
        for f in range(1, 6):
            since_last = [6 - r] + [6 - k for k in range(1, 6) if k != r]
            freq = [f] + [k for k in range(1, 6) if k != f]
            rfm = _rfm(freq, [20.0 - s for s in since_last], [20.0] * 5, [float(x) for x in freq])
            row = _scores(tables.rfm_segments(rfm))[0]
            assert row == (r, f, f, _docstring_segment_table()[(r, f)])


def test_rfm_user_map_with_three_bins() -> None:
    # n = 3 distinct values: 1 + floor(3 (rank − 1)/3) = rank.
    # since last [1, 2, 3] → r [3, 2, 1]; frequency [0, 5, 2] → f [1, 3, 2];
    # monetary [7, 8, 9] → m [1, 2, 3]; FM = ceil([2/2, 5/2, 5/2]) = [1, 3, 3].
    cells = {
        (r, fm): "high" if r + fm >= 5 else f"low{r}{fm}" for r in (3, 2, 1) for fm in (1, 2, 3)
    }
    rfm = _rfm([0, 5, 2], [9.0, 8.0, 7.0], [10.0] * 3, [7.0, 8.0, 9.0])
    out = tables.rfm_segments(rfm, bins=3, segments=cells)
    assert _scores(out) == [(3, 1, 1, "low31"), (2, 3, 2, "high"), (1, 2, 3, "low13")]
    # Enum categories in the map's order, each name once
    assert out.schema["segment"] == pl.Enum(list(dict.fromkeys(cells.values())))
    # (3,1) low31, (3,2) high, (3,3) high, (2,1) low21, (2,2) low22, (2,3) high, (1,1) ...
    assert out.schema["segment"] == pl.Enum(
        ["low31", "high", "low21", "low22", "low11", "low12", "low13"]
    )


def test_rfm_twenty_bins_with_a_full_map() -> None:
    cells = {(r, fm): f"{r}-{fm}" for r in range(1, 21) for fm in range(1, 21)}
    # n = 2: ranks 1, 2 → 1 + floor(20 · 0/2) = 1 and 1 + floor(20 · 1/2) = 11
    rfm = _rfm([1, 2], [1.0, 2.0], [3.0, 3.0], [5.0, 4.0])
    out = tables.rfm_segments(rfm, bins=20, segments=cells)
    # r: T − recency = [2, 1] → c2 better; m: [5, 4] → c1 better
    assert _scores(out) == [(1, 1, 11, "1-6"), (11, 11, 1, "11-6")]


def test_rfm_map_missing_a_cell_raises() -> None:
    cells = {(r, fm): "x" for r in range(1, 4) for fm in range(1, 4) if (r, fm) != (2, 3)}
    rfm = _rfm([0, 1], [1.0, 2.0], [3.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"1 of 9 are missing: \(2, 3\)"):
        tables.rfm_segments(rfm, bins=3, segments=cells)
    # the default map is 5 × 5, so with bins=5 a map that drops three cells is short by 3
    partial = {k: v for k, v in DEFAULT_SEGMENTS.items() if k[0] != 1 or k[1] > 3}
    with pytest.raises(ValueError, match=r"3 of 25 are missing"):
        tables.rfm_segments(rfm, segments=partial)


def test_rfm_other_bins_need_a_map() -> None:
    rfm = _rfm([0, 1], [1.0, 2.0], [3.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"bins=3 pass segments="):
        tables.rfm_segments(rfm, bins=3)


@pytest.mark.parametrize(
    ("bins", "error"),
    [(1, ValueError), (21, ValueError), (0, ValueError), (2.5, TypeError), (True, TypeError)],
)
def test_rfm_bad_bins(bins: Any, error: type[Exception]) -> None:
    rfm = _rfm([0, 1], [1.0, 2.0], [3.0, 3.0], [1.0, 2.0])
    with pytest.raises(error, match="bins"):
        tables.rfm_segments(rfm, bins=bins)


def test_rfm_missing_columns() -> None:
    rfm = _rfm([0, 1], [1.0, 2.0], [3.0, 3.0], [1.0, 2.0], customer_id=[1, 2])
    with pytest.raises(
        ValueError, match=r"'monetary_value' \(pass amount=\.\.\. to rfm_summary for monetary"
    ):
        tables.rfm_segments(rfm.drop("monetary_value"))
    with pytest.raises(ValueError, match=r"'T'.*the columns are \['customer_id', 'frequency'"):
        tables.rfm_segments(rfm.drop("T"))


@pytest.mark.parametrize("column", ["frequency", "recency", "T", "monetary_value"])
def test_rfm_nulls_raise(column: str) -> None:
    rfm = _rfm([0, 1, 2], [1.0, 2.0, 0.0], [3.0, 3.0, 3.0], [1.0, 2.0, 0.0])
    rfm = rfm.with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(ValueError, match=rf"'{column}' has 2 null value\(s\)"):
        tables.rfm_segments(rfm)
    lazy = tables.rfm_segments(rfm.lazy())  # no error until collected
    assert isinstance(lazy, pl.LazyFrame)
    with pytest.raises(InvalidOperationError, match=rf"'{column}' has 2 null value\(s\)"):
        lazy.collect()


def test_rfm_lazy_nulls_raise_for_any_projection() -> None:
    rfm = _rfm([0, None, 2], [1.0, 2.0, 0.0], [3.0, 3.0, 3.0], [1.0, 2.0, 0.0])  # type: ignore[list-item]
    lazy = tables.rfm_segments(rfm.lazy())
    with pytest.raises(InvalidOperationError, match="null value"):
        lazy.select("f_score").collect()


def test_rfm_lazy_in_lazy_out_and_output_schema() -> None:
    rfm = _rfm(
        [0, 3, 1, 1, 6],
        [0.0, 8.0, 2.0, 5.0, 9.0],
        [4.0, 10.0, 9.0, 6.0, 12.0],
        [0.0, 20.0, 5.0, 5.0, 60.0],
        customer_id=["a", "b", "c", "d", "e"],
        region=["n", "s", "s", "e", "w"],
    )
    eager = tables.rfm_segments(rfm)
    lazy = tables.rfm_segments(rfm.lazy())
    assert isinstance(eager, pl.DataFrame)
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(lazy.collect(), eager)
    # the input is kept, column for column and row for row, and the scores are appended
    assert eager.columns == [*rfm.columns, "r_score", "f_score", "m_score", "segment"]
    assert_frame_equal(eager.select(rfm.columns), rfm)
    assert eager.schema["segment"] == pl.Enum(list(SEGMENT_NAMES))
    assert isinstance(eager.schema["segment"], pl.Enum)
    for col in ("r_score", "f_score", "m_score"):
        assert eager.schema[col] == pl.Int8


def test_rfm_rejects_non_frames_and_existing_score_columns() -> None:
    with pytest.raises(TypeError, match="rfm"):
        tables.rfm_segments({"frequency": [1]})  # type: ignore[type-var]
    rfm = _rfm([0, 1], [1.0, 2.0], [3.0, 3.0], [1.0, 2.0], segment=["a", "b"])
    with pytest.raises(ValueError, match="'segment'"):
        tables.rfm_segments(rfm)


# ======================================================================================
# classify_customers

OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def _customers() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6],
            "orders": [5, 4, 1, 3, None, 2],
            "days": [21.0, 60.0, None, 25.0, 10.0, 30.0],
            "member": [True, False, None, True, False, True],
            "tier": ["gold", "silver", "gold", None, "bronze", "silver"],
            "joined": [
                dt.date(2024, 3, 1),
                dt.date(2023, 12, 31),
                dt.date(2024, 1, 1),
                None,
                dt.date(2022, 6, 15),
                dt.date(2024, 1, 2),
            ],
        }
    )


def _labels(customers: pl.DataFrame, rules: Any, **kwargs: Any) -> list[str]:
    return tables.classify_customers(customers, rules, **kwargs)["label"].to_list()


def test_classify_first_matching_rule_wins() -> None:
    c = _customers()
    # orders [5, 4, 1, 3, null, 2]: 5 and 4 meet both ">= 3" and ">= 4"
    assert _labels(c, {"three": {"orders": ">= 3"}, "four": {"orders": ">= 4"}}) == [
        "three",
        "three",
        "other",
        "three",
        "other",
        "other",
    ]
    assert _labels(c, {"four": {"orders": ">= 4"}, "three": {"orders": ">= 3"}}) == [
        "four",
        "four",
        "other",
        "three",
        "other",
        "other",
    ]


def test_classify_default_label() -> None:
    c = _customers()
    rules = {"big": pl.col("orders") >= 5}
    assert _labels(c, rules) == ["big", "other", "other", "other", "other", "other"]
    out = tables.classify_customers(c, rules, default="rest", label="kind")
    assert out["kind"].to_list() == ["big", "rest", "rest", "rest", "rest", "rest"]
    assert out.schema["kind"] == pl.Enum(["big", "rest"])


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize(("text", "value"), [("3", 3), ("2.5", 2.5)])
def test_classify_numeric_operators(op: str, text: str, value: float) -> None:
    c = _customers()
    # orders [5, 4, 1, 3, null, 2]; null never matches, whatever the operator
    expected = [
        "hit" if x is not None and OPS[op](x, value) else "other" for x in c["orders"].to_list()
    ]
    assert expected[4] == "other"
    assert _labels(c, {"hit": {"orders": f"{op} {text}"}}) == expected
    assert _labels(c, {"hit": {"orders": f"  {op}{text} "}}) == expected
    # the same on a Float64 column: days [21, 60, null, 25, 10, 30] against 10 × value
    expected_days = [
        "hit" if x is not None and OPS[op](x, 10 * value) else "other" for x in c["days"].to_list()
    ]
    assert _labels(c, {"hit": {"days": f"{op} {10 * value}"}}) == expected_days


def test_classify_bare_number_means_equality_and_lists_are_all_of() -> None:
    c = _customers()
    # orders [5, 4, 1, 3, null, 2]
    assert _labels(c, {"x": {"orders": 3}}) == ["other"] * 3 + ["x"] + ["other"] * 2
    assert _labels(c, {"x": {"days": 25.0}}) == ["other"] * 3 + ["x"] + ["other"] * 2
    # 2 ≤ orders < 5 → 4, 3, 2
    assert _labels(c, {"x": {"orders": [">= 2", "< 5"]}}) == [
        "other",
        "x",
        "other",
        "x",
        "other",
        "x",
    ]
    # all columns must hold: orders >= 3 and days <= 30 → customers 1 and 4
    assert _labels(c, {"x": {"orders": ">= 3", "days": "<= 30"}}) == [
        "x",
        "other",
        "other",
        "x",
        "other",
        "other",
    ]


def test_classify_boolean_columns() -> None:
    c = _customers()
    # member [True, False, null, True, False, True]
    yes = ["m", "other", "other", "m", "other", "m"]
    no = ["other", "m", "other", "other", "m", "other"]
    assert _labels(c, {"m": {"member": True}}) == yes
    assert _labels(c, {"m": {"member": "== true"}}) == yes
    assert _labels(c, {"m": {"member": "== TRUE"}}) == yes
    assert _labels(c, {"m": {"member": False}}) == no
    assert _labels(c, {"m": {"member": "!= true"}}) == no  # the null is not "not true"
    with pytest.raises(ValueError, match="true or false"):
        tables.classify_customers(c, {"m": {"member": "== yes"}})


def test_classify_string_columns() -> None:
    c = _customers()
    # tier ["gold", "silver", "gold", null, "bronze", "silver"]
    gold = ["g", "other", "g", "other", "other", "other"]
    assert _labels(c, {"g": {"tier": "== gold"}}) == gold
    assert _labels(c, {"g": {"tier": "== 'gold'"}}) == gold
    assert _labels(c, {"g": {"tier": '=="gold"'}}) == gold
    # != gold: silver, bronze, silver; the null tier does not match
    assert _labels(c, {"g": {"tier": "!= gold"}}) == ["other", "g", "other", "other", "g", "g"]
    # String columns compare as text: "bronze" < "c"
    assert _labels(c, {"g": {"tier": "< c"}}) == ["other"] * 4 + ["g", "other"]


def test_classify_date_columns() -> None:
    c = _customers()
    # joined [2024-03-01, 2023-12-31, 2024-01-01, null, 2022-06-15, 2024-01-02]
    assert _labels(c, {"new": {"joined": ">= 2024-01-01"}}) == [
        "new",
        "other",
        "new",
        "other",
        "other",
        "new",
    ]
    assert _labels(c, {"new": {"joined": "< '2024-01-01'"}}) == [
        "other",
        "new",
        "other",
        "other",
        "new",
        "other",
    ]
    assert _labels(c, {"new": {"joined": "== 2024-01-02"}}) == ["other"] * 5 + ["new"]
    with pytest.raises(ValueError, match="ISO date"):
        tables.classify_customers(c, {"new": {"joined": ">= 01/01/2024"}})
    # a Datetime column takes the date as its midnight
    stamps = c.with_columns(pl.col("joined").cast(pl.Datetime("us")) + pl.duration(hours=12))
    assert _labels(stamps, {"new": {"joined": ">= 2024-01-01"}}) == [
        "new",
        "other",
        "new",
        "other",
        "other",
        "new",
    ]


def test_classify_timezone_aware_datetime_column() -> None:
    c = pl.DataFrame(
        {"ts": [dt.datetime(2024, 1, 2, tzinfo=dt.UTC), dt.datetime(2023, 5, 1, tzinfo=dt.UTC)]}
    )
    assert _labels(c, {"new": {"ts": ">= 2024-01-01"}}) == ["new", "other"]


def test_classify_nulls_never_match() -> None:
    c = pl.DataFrame(
        {"x": [None, None, 1], "s": [None, "a", None]}, schema={"x": pl.Int64, "s": pl.String}
    )
    # x = 1 meets each of these; the nulls meet none, "!=" included
    for cond in ("== 1", ">= 0", "<= 1", "> -5", "< 5", "!= 2"):
        assert _labels(c, {"hit": {"x": cond}}) == ["other", "other", "hit"]
    assert _labels(c, {"hit": {"x": "!= 1"}}) == ["other", "other", "other"]
    assert _labels(c, {"hit": {"s": "!= b"}}) == ["other", "hit", "other"]
    # expression rules too: a null comparison is not a match
    assert _labels(c, {"hit": pl.col("x") != 7}) == ["other", "other", "hit"]


def test_classify_sequence_of_pairs_with_a_repeated_label() -> None:
    c = _customers()
    rules = [
        ("vip", {"orders": ">= 5"}),
        ("regular", {"orders": ">= 3"}),
        ("vip", {"tier": "== gold"}),  # alternative route to vip, tried after "regular"
    ]
    # orders [5, 4, 1, 3, null, 2], tier [gold, silver, gold, null, bronze, silver]
    out = tables.classify_customers(c, rules)
    assert out["label"].to_list() == ["vip", "regular", "vip", "regular", "other", "other"]
    assert out.schema["label"] == pl.Enum(["vip", "regular", "other"])


def test_classify_output_enum_is_rule_labels_then_default() -> None:
    c = _customers()
    rules = {"z": pl.col("orders") > 4, "a": {"member": True}, "m": {"days": "> 50"}}
    out = tables.classify_customers(c, rules, default="none")
    assert out.schema["label"] == pl.Enum(["z", "a", "m", "none"])
    # orders > 4 → c1; member → c4, c6; days > 50 → c2
    assert out["label"].to_list() == ["z", "m", "none", "a", "none", "a"]
    # the input columns are kept
    assert_frame_equal(out.drop("label"), c)


def test_classify_lazy_in_lazy_out() -> None:
    c = _customers()
    rules = {"loyal": {"orders": ">= 3", "days": "<= 30"}, "member": pl.col("member")}
    lazy = tables.classify_customers(c.lazy(), rules)
    assert isinstance(lazy, pl.LazyFrame)
    eager = tables.classify_customers(c, rules)
    assert isinstance(eager, pl.DataFrame)
    assert_frame_equal(lazy.collect(), eager)
    assert eager["label"].to_list() == ["loyal", "other", "other", "loyal", "other", "member"]


@pytest.mark.parametrize(
    ("rules", "error", "pattern"),
    [
        ({"x": {"nope": ">= 3"}}, ValueError, r"unknown column 'nope'.*\['customer_id', 'orders'"),
        ({"x": {"orders": "=> 3"}}, ValueError, r"cannot read condition '=> 3'"),
        ({"x": {"orders": ">="}}, ValueError, r"cannot read condition '>='"),
        ({"x": {"orders": "3"}}, ValueError, r"cannot read condition"),
        ({"x": {"orders": "> many"}}, ValueError, r"'many' is not a number"),
        ({"x": {"days": "== nan"}}, ValueError, r"NaN"),
        ({"x": pl.col("orders") + 1}, TypeError, r"rule 'x' must be a boolean expression"),
        ({"x": pl.col("nope") > 1}, ValueError, r"rule 'x' cannot be evaluated"),
        ({}, ValueError, r"rules is empty"),
        ([], ValueError, r"rules is empty"),
        ({"x": {}}, ValueError, r"rule 'x' has no conditions"),
        ({"x": 5}, TypeError, r"rule 'x' must be a polars expression or a mapping"),
        ({"x": [">= 3"]}, TypeError, r"rule 'x' must be a polars expression or a mapping"),
        ({"x": {"orders": []}}, TypeError, r"non-empty list of conditions"),
        ({"x": {"orders": [">= 1", None]}}, TypeError, r"a condition must be a string"),
        ("x", TypeError, r"rules must be a mapping"),
        (42, TypeError, r"rules must be a mapping"),
        ([("x",)], TypeError, r"rules\[0\] must be a \(label, rule\) pair"),
        ([["x", pl.col("member")]], TypeError, r"rules\[0\] must be a \(label, rule\) pair"),
        ([(1, pl.col("member"))], TypeError, r"rule labels must be strings"),
    ],
)
def test_classify_errors(rules: Any, error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        tables.classify_customers(_customers(), rules)


def test_classify_label_column_already_exists() -> None:
    c = _customers().with_columns(label=pl.lit("x"))
    with pytest.raises(ValueError, match="already has a column 'label'"):
        tables.classify_customers(c, {"x": pl.col("member")})
    out = tables.classify_customers(c, {"x": pl.col("member")}, label="group")
    assert out["group"].to_list() == ["x", "other", "other", "x", "other", "x"]
    with pytest.raises(TypeError, match="customers"):
        tables.classify_customers(c.to_dict(), {"x": pl.col("member")})  # type: ignore[type-var]


def test_classify_bare_number_on_string_column_is_a_type_error() -> None:
    with pytest.raises((TypeError, ValueError)):
        tables.classify_customers(_customers(), {"x": {"tier": 3}})


# -- random rules against a plain-Python reference -----------------------------------------

VALUES: dict[str, list[Any]] = {
    "x": [-1, 0, 1, 2, 3, 5],
    "y": [-1.5, 0.0, 1.0, 2.25, 3.0],
    "flag": [True, False],
}


@st.composite
def conditions(draw: st.DrawFn) -> tuple[str, str, Any]:
    column = draw(st.sampled_from(sorted(VALUES)))
    ops = ["==", "!="] if column == "flag" else list(OPS)
    return column, draw(st.sampled_from(ops)), draw(st.sampled_from(VALUES[column]))


def _text(column: str, op: str, value: Any, bare: bool, spaced: bool) -> Any:
    if bare and op == "==":
        return value
    text = str(value).lower() if column == "flag" else repr(value)
    return f"{op} {text}" if spaced else f"{op}{text}"


@st.composite
def rule_cases(
    draw: st.DrawFn,
) -> tuple[pl.DataFrame, list[tuple[str, list[tuple[str, str, Any]]]], str]:
    n = draw(st.integers(0, 12), label="n")
    frame = pl.DataFrame(
        {
            "x": draw(st.lists(st.one_of(st.none(), st.integers(-1, 4)), min_size=n, max_size=n)),
            "y": draw(
                st.lists(
                    st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.5, 2.25, 3.0])),
                    min_size=n,
                    max_size=n,
                )
            ),
            "flag": draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n)),
        },
        schema={"x": pl.Int64, "y": pl.Float64, "flag": pl.Boolean},
    )
    rules = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c"]), st.lists(conditions(), min_size=1, max_size=3)
            ),
            min_size=1,
            max_size=4,
        ),
        label="rules",
    )
    default = draw(st.sampled_from(["other", "a"]), label="default")
    return frame, rules, default


def _reference_labels(
    frame: pl.DataFrame, rules: list[tuple[str, list[tuple[str, str, Any]]]], default: str
) -> list[str]:
    out = []
    for row in frame.iter_rows(named=True):
        label = default
        for name, conds in rules:
            if all(row[c] is not None and OPS[op](row[c], v) for c, op, v in conds):
                label = name
                break
        out.append(label)
    return out


@settings(max_examples=80)
@given(case=rule_cases(), data=st.data())
def test_classify_dict_and_expression_rules_equal_reference(
    case: tuple[pl.DataFrame, list[tuple[str, list[tuple[str, str, Any]]]], str],
    data: st.DataObject,
) -> None:
    frame, rules, default = case
    as_dicts: list[tuple[str, Any]] = []
    as_exprs: list[tuple[str, Any]] = []
    for name, conds in rules:
        by_column: dict[str, list[Any]] = {}
        for c, op, v in conds:
            bare, spaced = data.draw(st.booleans()), data.draw(st.booleans())
            by_column.setdefault(c, []).append(_text(c, op, v, bare, spaced))
        as_dicts.append(
            (name, {c: specs[0] if len(specs) == 1 else specs for c, specs in by_column.items()})
        )
        parts = [OPS[op](pl.col(c), pl.lit(v)) for c, op, v in conds]
        as_exprs.append((name, functools.reduce(operator.and_, parts)))
    expected = _reference_labels(frame, rules, default)
    from_dicts = tables.classify_customers(frame, as_dicts, default=default)
    from_exprs = tables.classify_customers(frame.lazy(), as_exprs, default=default).collect()
    for out in (from_dicts, from_exprs):
        assert out["label"].null_count() == 0
        assert out["label"].to_list() == expected
        assert out.schema["label"] == pl.Enum(
            list(dict.fromkeys([n for n, _ in rules] + [default]))
        )


# ======================================================================================
# expr.loyalty_index


def test_loyalty_index_hand_computed_with_missing_components() -> None:
    df = pl.DataFrame(
        {
            "nps": [50.0, float("nan"), None, -100.0],
            "retention": [None, 0.4, None, 1.0],
            "sat": [2.0, None, float("nan"), 5.0],
        }
    )
    components = {
        "nps": "nps",  # points, −100..100
        "retention": "retention",  # a rate, 0..1
        "csat": lm.IndexComponent("sat", scale=(1, 5)),
    }
    weights = {"nps": 2.0, "retention": 1.0, "csat": 1.0}
    got = df.select(lmx.loyalty_index(components, weights=weights))["loyalty_index"].to_list()
    # row 0: nps 50 → 75, csat 2 → 25, retention missing: (2·75 + 1·25)/3 = 175/3
    # row 1: only retention 0.4 → 40
    # row 2: nothing → null
    # row 3: nps −100 → 0, retention 1 → 100, csat 5 → 100: (0 + 100 + 100)/4 = 50
    expected = [175 / 3, 40.0, None, 50.0]
    assert all(_close(a, b) for a, b in zip(got, expected, strict=True))
    # ... which is the scalar index of the components that are present
    assert _close(
        got[0],
        lm.loyalty_index(
            {"nps": 50.0, "csat": lm.IndexComponent(2.0, scale=(1, 5))}, weights=weights
        ),
    )
    assert _close(got[1], lm.loyalty_index({"retention": 0.4}, weights=weights))


def test_loyalty_index_lower_is_better_and_expression_values() -> None:
    df = pl.DataFrame({"effort": [2.0, 7.0], "raw": [150.0, 30.0]})
    comp = {
        "ces": lm.IndexComponent("effort", scale=(1, 7), higher_is_better=False),
        "share": lm.IndexComponent(pl.col("raw") / 300, scale=(0, 1)),
    }
    got = df.select(lmx.loyalty_index(comp))["loyalty_index"].to_list()
    # row 0: ces 100 (7 − 2)/6 = 83.33, share 0.5 → 50: mean 66.67
    # row 1: ces 0, share 0.1 → 10: mean 5
    assert _close(got[0], (500 / 6 + 50) / 2)
    assert _close(got[1], 5.0)


@st.composite
def index_cases(
    draw: st.DrawFn,
) -> tuple[
    pl.DataFrame, dict[str, Any], list[tuple[str, float, float, bool, str]], dict[str, float] | None
]:
    k = draw(st.integers(1, 4), label="k")
    names = draw(st.permutations(["nps", "retention", "csat", "effort", "share"]))[:k]
    n = draw(st.integers(1, 8), label="n")
    columns: dict[str, list[float | None]] = {}
    components: dict[str, Any] = {}
    specs: list[tuple[str, float, float, bool, str]] = []
    for i, name in enumerate(names):
        col = f"c{i}"
        if draw(st.booleans()):  # a plain column: NPS in points, anything else a rate
            low, high, higher = (-100.0, 100.0, True) if name == "nps" else (0.0, 1.0, True)
            components[name] = draw(st.sampled_from([col, pl.col(col)]))
        else:
            low = float(draw(st.integers(-10, 10)))
            high = low + draw(st.sampled_from([0.5, 1.0, 4.0, 6.0, 200.0]))
            higher = draw(st.booleans())
            value = draw(st.sampled_from([col, pl.col(col)]))
            components[name] = lm.IndexComponent(value, scale=(low, high), higher_is_better=higher)
        fraction = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 1))
        columns[col] = [
            None
            if t is None
            else (float("nan") if t < 0 else min(max(low + t * (high - low), low), high))
            for t in draw(
                st.lists(st.one_of(st.none(), st.just(-1.0), fraction), min_size=n, max_size=n)
            )
        ]
        specs.append((name, low, high, higher, col))
    weights = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries({name: st.floats(0.01, 100) for name in names}),
        ),
        label="weights",
    )
    frame = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Float64))
    return frame, components, specs, weights


def _scalar_index_per_row(
    frame: pl.DataFrame,
    specs: list[tuple[str, float, float, bool, str]],
    weights: dict[str, float] | None,
) -> list[float | None]:
    expected: list[float | None] = []
    for row in frame.iter_rows(named=True):
        present: dict[str, Any] = {}
        for name, low, high, higher, col in specs:
            x = row[col]
            if x is None or math.isnan(x):
                continue
            plain = (low, high, higher) == (
                (-100.0, 100.0, True) if name == "nps" else (0.0, 1.0, True)
            )
            present[name] = (
                x if plain else lm.IndexComponent(x, scale=(low, high), higher_is_better=higher)
            )
        expected.append(lm.loyalty_index(present, weights=weights) if present else None)
    return expected


@settings(max_examples=80)
@given(case=index_cases(), factor=st.floats(1e-3, 1e3))
def test_loyalty_index_expression_equals_scalar_row_by_row(
    case: tuple[
        pl.DataFrame,
        dict[str, Any],
        list[tuple[str, float, float, bool, str]],
        dict[str, float] | None,
    ],
    factor: float,
) -> None:
    frame, components, specs, weights = case
    got = frame.select(lmx.loyalty_index(components, weights=weights))["loyalty_index"].to_list()
    expected = _scalar_index_per_row(frame, specs, weights)
    assert all(_close(a, b) for a, b in zip(got, expected, strict=True)), (got, expected)
    assert all(0.0 <= x <= 100.0 for x in got if x is not None)
    # invariant to scaling all the weights
    scaled = {k: w * factor for k, w in (weights or dict.fromkeys(components, 1.0)).items()}
    got_scaled = frame.lazy().select(lmx.loyalty_index(components, weights=scaled)).collect()
    assert all(
        _close(a, b) for a, b in zip(got_scaled["loyalty_index"].to_list(), got, strict=True)
    )


@pytest.mark.parametrize(
    ("components", "values", "pattern"),
    [
        ({"nps": "v"}, [10.0, 150.0], r"components\['nps'\] must lie in \[-100, 100\]: 1 value"),
        ({"retention": "v"}, [1.2, -0.1], r"components\['retention'\] must lie in \[0, 1\]: 2 va"),
        ({"csat": lm.IndexComponent("v", scale=(1, 5))}, [5.5], r"components\['csat'\]"),
        ({"nps": "v"}, [float("inf")], r"components\['nps'\]"),
    ],
)
def test_loyalty_index_out_of_range_fails_at_collect(
    components: dict[str, Any], values: list[float], pattern: str
) -> None:
    lf = pl.LazyFrame({"v": values}).with_columns(lmx.loyalty_index(components))
    with pytest.raises(InvalidOperationError, match=pattern):
        lf.collect()


def test_loyalty_index_lazy_and_errors_at_once() -> None:
    df = pl.DataFrame({"nps": [20.0, None], "r": [0.3, 0.9]})
    comp = {"nps": "nps", "repeat": "r"}
    eager = df.with_columns(lmx.loyalty_index(comp))
    lazy = df.lazy().with_columns(lmx.loyalty_index(comp))
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(lazy.collect(), eager)
    # (60 + 30)/2 = 45 and 90 alone
    assert eager["loyalty_index"].to_list() == pytest.approx([45.0, 90.0])
    with pytest.raises(ValueError, match="at least one component"):
        lmx.loyalty_index({})
    with pytest.raises(ValueError, match="no entry for 'repeat'"):
        lmx.loyalty_index(comp, weights={"nps": 1.0})
    with pytest.raises(ValueError, match="non-negative"):
        lmx.loyalty_index(comp, weights={"nps": 1.0, "repeat": -1.0})
    with pytest.raises(TypeError, match="mapping"):
        lmx.loyalty_index(["nps"])  # type: ignore[arg-type]


# ======================================================================================
# expr.engagement_score


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def ref_percentile(values: Sequence[float | None]) -> list[float | None]:
    """100 (c_below + c_equal/2)/n over the present values, by counting."""
    present = [x for x in values if not _missing(x)]
    n = len(present)
    out: list[float | None] = []
    for x in values:
        if _missing(x):
            out.append(None)
            continue
        below = sum(1 for y in present if y < x)
        equal = sum(1 for y in present if y == x)
        out.append(100.0 * (below + equal / 2) / n)
    return out


def ref_minmax(values: Sequence[float | None]) -> list[float | None]:
    present = [x for x in values if not _missing(x)]
    out: list[float | None] = []
    for x in values:
        if _missing(x):
            out.append(None)
        elif max(present) == min(present):
            out.append(50.0)
        else:
            out.append(100.0 * (x - min(present)) / (max(present) - min(present)))
    return out


REFERENCE = {"percentile": ref_percentile, "minmax": ref_minmax}


def ref_engagement(
    columns: Sequence[Sequence[float | None]], weights: Sequence[float], normalize: str
) -> list[float | None]:
    normed = [REFERENCE[normalize](col) for col in columns]
    out: list[float | None] = []
    for i in range(len(columns[0])):
        pairs = [(w, u[i]) for w, u in zip(weights, normed, strict=True) if u[i] is not None]
        total = sum(w for w, _ in pairs)
        out.append(sum(w * u for w, u in pairs) / total if pairs else None)
    return out


def test_engagement_percentile_by_hand() -> None:
    df = pl.DataFrame({"a": [1.0, 2.0, 3.0], "b": [None, 10.0, 20.0]})
    got = df.select(lmx.engagement_score(["a", "b"], weights=[1, 3]))["engagement_score"]
    # a: n = 3 → 100·0.5/3 = 16.67, 100·1.5/3 = 50, 100·2.5/3 = 83.33
    # b: n = 2 (the null does not count) → 25, 75
    # row 0 has only a: its weight is renormalised, 16.67 (not 16.67/4)
    # row 1: (1·50 + 3·25)/4 = 31.25; row 2: (83.33 + 3·75)/4 = 77.083
    expected = [50 / 3, 31.25, (250 / 3 + 225) / 4]
    assert all(_close(a, b) for a, b in zip(got.to_list(), expected, strict=True))


def test_engagement_percentile_ties() -> None:
    df = pl.DataFrame({"v": [5, 1, 5, 5, 9]})
    # 1: 100·0.5/5 = 10; 5 (three equal, one below): 100·(1 + 1.5)/5 = 50; 9: 100·4.5/5 = 90
    got = df.select(lmx.engagement_score(["v"]))["engagement_score"].to_list()
    assert got == pytest.approx([50.0, 10.0, 50.0, 50.0, 90.0])


def test_engagement_minmax_by_hand() -> None:
    df = pl.DataFrame({"v": [2.0, 4.0, None, 10.0, float("nan")], "c": [7, 7, 7, None, 7]})
    out = df.select(
        lmx.engagement_score(["v"], normalize="minmax").alias("v"),
        lmx.engagement_score(["c"], normalize="minmax").alias("c"),
        lmx.engagement_score(["c"]).alias("c_pct"),
        lmx.engagement_score(["v", "c"], weights=[3.0, 1.0], normalize="minmax").alias("both"),
    )
    # v: (x − 2)/(10 − 2) → 0, 25, null, 100, null (NaN is missing)
    assert out["v"].to_list() == pytest.approx([0.0, 25.0, None, 100.0, None])
    # a constant signal maps to 50 in both normalisations
    assert out["c"].to_list() == [50.0, 50.0, 50.0, None, 50.0]
    assert out["c_pct"].to_list() == [50.0, 50.0, 50.0, None, 50.0]
    # (3·0 + 50)/4, (3·25 + 50)/4, 50 alone, 100 alone, 50 alone
    assert out["both"].to_list() == pytest.approx([12.5, 31.25, 50.0, 100.0, 50.0])


def test_engagement_row_without_signal_is_null() -> None:
    df = pl.DataFrame({"a": [None, 1.0], "b": [float("nan"), 2.0]})
    assert df.select(lmx.engagement_score(["a", "b"]))["engagement_score"].to_list() == [
        None,
        50.0,
    ]


SIGNAL = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0, 8.0]),
    st.floats(-1e3, 1e3, allow_nan=False),
)


@st.composite
def signal_frames(draw: st.DrawFn) -> tuple[pl.DataFrame, list[float] | None]:
    k = draw(st.integers(1, 3), label="k")
    n = draw(st.integers(1, 15), label="n")
    cols = {
        f"s{j}": draw(st.lists(SIGNAL, min_size=n, max_size=n), label=f"s{j}") for j in range(k)
    }
    cols["g"] = draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n), label="g")
    weights = draw(
        st.one_of(st.none(), st.lists(st.floats(0.01, 50), min_size=k, max_size=k)), label="w"
    )
    schema = {c: pl.String if c == "g" else pl.Float64 for c in cols}
    return pl.DataFrame(cols, schema=schema), weights


def _signals(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("s")]


@pytest.mark.parametrize("normalize", ["percentile", "minmax"])
@settings(max_examples=60)
@given(case=signal_frames())
def test_engagement_equals_plain_python_reference(
    normalize: str, case: tuple[pl.DataFrame, list[float] | None]
) -> None:
    frame, weights = case
    names = _signals(frame)
    columns = [frame[c].to_list() for c in names]
    for name, col in zip(names, columns, strict=True):
        got = frame.select(lmx.engagement_score([name], normalize=normalize))  # type: ignore[arg-type]
        expected = REFERENCE[normalize](col)
        assert all(
            _close(a, b) for a, b in zip(got["engagement_score"].to_list(), expected, strict=True)
        )
    combined = frame.lazy().select(
        lmx.engagement_score(names, weights=weights, normalize=normalize)  # type: ignore[arg-type]
    )
    scores = combined.collect()["engagement_score"].to_list()
    expected = ref_engagement(columns, weights or [1.0] * len(names), normalize)
    assert all(_close(a, b) for a, b in zip(scores, expected, strict=True)), (scores, expected)
    assert all(0.0 <= s <= 100.0 for s in scores if s is not None)


@pytest.mark.parametrize("normalize", ["percentile", "minmax"])
@settings(max_examples=60)
@given(case=signal_frames(), data=st.data())
def test_engagement_is_monotone_in_each_signal(
    normalize: str, case: tuple[pl.DataFrame, list[float] | None], data: st.DataObject
) -> None:
    frame, weights = case
    names = _signals(frame)
    name = data.draw(st.sampled_from(names), label="signal")
    present = [i for i, x in enumerate(frame[name].to_list()) if not _missing(x)]
    assume(present)
    i = data.draw(st.sampled_from(present), label="row")
    delta = data.draw(st.sampled_from([0.5, 1.0, 3.0, 1e3]), label="delta")
    bumped = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == i).then(pl.col(name) + delta).otherwise(pl.col(name))
    )
    score = lmx.engagement_score(names, weights=weights, normalize=normalize)  # type: ignore[arg-type]
    before = frame.select(score)["engagement_score"][i]
    after = bumped.select(score)["engagement_score"][i]
    assert after >= before - 1e-9


@settings(max_examples=60)
@given(case=signal_frames())
def test_engagement_over_groups_equals_each_group_alone(
    case: tuple[pl.DataFrame, list[float] | None],
) -> None:
    frame, weights = case
    names = _signals(frame)
    score = lmx.engagement_score(names, weights=weights)
    frame = frame.with_row_index("i")
    grouped = frame.with_columns(score.over("g"))
    for g in ("a", "b", "c"):
        part = frame.filter(pl.col("g") == g)
        if part.height == 0:
            continue
        alone = part.with_columns(score)["engagement_score"].to_list()
        within = grouped.filter(pl.col("g") == g)["engagement_score"].to_list()
        assert all(_close(a, b) for a, b in zip(within, alone, strict=True))
        expected = ref_engagement(
            [part[c].to_list() for c in names], weights or [1.0] * len(names), "percentile"
        )
        assert all(_close(a, b) for a, b in zip(within, expected, strict=True))


@pytest.mark.parametrize("normalize", ["minmax", "percentile"])
def test_engagement_infinite_signal_is_an_error(normalize: str) -> None:
    df = pl.DataFrame({"v": [1.0, 2.0, float("inf")]})
    with pytest.raises(pl.exceptions.InvalidOperationError, match=r"signals\[0\] must be finite"):
        df.select(lmx.engagement_score(["v"], normalize=normalize))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"signals": []}, ValueError, "at least one signal"),
        ({"signals": "visits"}, TypeError, "sequence of column names"),
        ({"signals": pl.col("visits")}, TypeError, "sequence of column names"),
        ({"signals": [3]}, TypeError, r"signals\[0\]"),
        ({"signals": ["a", "b"], "weights": [1.0]}, ValueError, "1 entries but there are 2"),
        ({"signals": ["a", "b"], "weights": [1.0, -0.5]}, ValueError, "non-negative"),
        ({"signals": ["a", "b"], "weights": [0.0, 0.0]}, ValueError, "sum to 0"),
        ({"signals": ["a"], "weights": "1"}, TypeError, "weights must be a sequence"),
        ({"signals": ["a"], "normalize": "zscore"}, ValueError, "normalize"),
    ],
)
def test_engagement_errors(kwargs: dict[str, Any], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        lmx.engagement_score(**kwargs)
