"""tables.survey_summary: per-group metrics and bounds equal the stats functions on each group."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.exceptions import InvalidOperationError

import loyaltymetrics as lm
from loyaltymetrics import stats, tables


def _same(a: float | None, b: float) -> bool:
    if a is None:
        return math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


rows = st.lists(
    st.tuples(
        st.sampled_from(["north", "south", "east"]),
        st.one_of(st.none(), st.integers(0, 10)),
        st.one_of(st.none(), st.integers(1, 5)),
        st.one_of(st.none(), st.integers(1, 7)),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows, st.sampled_from([0.9, 0.95, 0.99]), st.booleans())
def test_each_group_equals_the_stats_functions(
    data: list[tuple[str, int | None, int | None, int | None]], confidence: float, lazy: bool
) -> None:
    frame = pl.DataFrame(
        data,
        schema={"seg": pl.String, "ltr": pl.Int64, "sat": pl.Int64, "eff": pl.Int64},
        orient="row",
    )
    arg = frame.lazy() if lazy else frame
    out = tables.survey_summary(
        arg, by="seg", nps="ltr", csat="sat", ces="eff", confidence=confidence
    )
    assert isinstance(out, pl.LazyFrame) is lazy
    result = out.collect() if isinstance(out, pl.LazyFrame) else out
    assert result["seg"].to_list() == sorted({r[0] for r in data})
    for row in result.iter_rows(named=True):
        group = [r for r in data if r[0] == row["seg"]]
        ltr = [r[1] for r in group]
        sat = [r[2] for r in group]
        eff = [r[3] for r in group]
        ci = stats.nps_interval(ltr, confidence=confidence)
        assert _same(row["nps"], lm.nps(ltr))
        assert row["nps_n"] == sum(x is not None for x in ltr)
        assert _same(row["nps_low"], ci.low)
        assert _same(row["nps_high"], ci.high)
        n_sat = sum(x is not None for x in sat)
        top = sum(x is not None and x >= 4 for x in sat)
        pi = stats.proportion_interval(top, n_sat, confidence=confidence)
        assert _same(row["csat"], lm.csat(sat))
        assert row["csat_n"] == n_sat
        assert _same(row["csat_low"], pi.low)
        assert _same(row["csat_high"], pi.high)
        mi = stats.mean_interval(eff, confidence=confidence)
        assert _same(row["ces"], lm.ces(eff))
        assert _same(row["ces_low"], mi.low)
        assert _same(row["ces_high"], mi.high)


def test_no_grouping_gives_one_row() -> None:
    survey = pl.DataFrame({"ltr": [10] * 45 + [8] * 40 + [3] * 15})
    out = tables.survey_summary(survey, nps="ltr")
    assert out.columns == ["nps", "nps_n", "nps_low", "nps_high"]
    assert out.height == 1
    assert (round(out["nps_low"][0], 1), round(out["nps_high"][0], 1)) == (15.3, 42.9)


def test_bad_input() -> None:
    survey = pl.DataFrame({"ltr": [10, 9], "seg": ["a", "b"]})
    with pytest.raises(ValueError, match="at least one"):
        tables.survey_summary(survey)
    with pytest.raises(ValueError, match="'score' not found"):
        tables.survey_summary(survey, nps="score")
    with pytest.raises(ValueError, match="by column 'region' not found"):
        tables.survey_summary(survey, by="region", nps="ltr")
    with pytest.raises(ValueError, match="confidence"):
        tables.survey_summary(survey, nps="ltr", confidence=1.5)
    with pytest.raises(TypeError, match="survey"):
        tables.survey_summary({"ltr": [1]}, nps="ltr")  # type: ignore[type-var]
    with pytest.raises(InvalidOperationError, match="nps: answers must be whole numbers"):
        tables.survey_summary(pl.DataFrame({"ltr": [10, 12]}), nps="ltr")
