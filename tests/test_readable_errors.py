"""Errors found while a polars query runs: the first line is the library's own message.

An off-scale answer in an ``expr`` metric or a null key in a lazy table is only seen when
the query is collected. The error must read like the eager checks: its first line names
the metric or column, the problem, the count and an example (not polars' ``conversion
from `str` to `i8` failed ...``), and it is a ``ValueError`` (as the eager checks raise)
that still is the ``InvalidOperationError`` these errors were before.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from loyaltymetrics import _validation, tables
from loyaltymetrics import expr as lmx
from loyaltymetrics._validation import InvalidValuesError

# polars 1.20 wraps an exception raised in a query into a ComputeError; the library then
# keeps the former strict-cast error (tested below), and the first line is polars' own
NEEDS_PASS_THROUGH = pytest.mark.skipif(
    not _validation._exceptions_pass_through(),
    reason="this polars does not re-raise a query's Python exception as it is",
)

SURVEY = pl.DataFrame(
    {"seg": ["a", "a", "b", "b", "b"], "score": [10, 11, 3, 12, None], "w": [1.0, 1, 1, -2, 1]}
)


def first_line(run: Callable[[], Any]) -> str:
    with pytest.raises(InvalidValuesError) as info:
        run()
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, pl.exceptions.InvalidOperationError)
    return str(info.value).splitlines()[0]


NPS_OFF = "nps: answers must be whole numbers from 0 to 10: 2 value(s), e.g. 11.0"


@NEEDS_PASS_THROUGH
@pytest.mark.parametrize(
    "run",
    [
        lambda: SURVEY.select(lmx.nps("score")),
        lambda: SURVEY.lazy().select(lmx.nps("score")).collect(),
        lambda: SURVEY.lazy().select(lmx.nps("score")).collect(engine="streaming"),
        lambda: SURVEY.with_columns(lmx.nps("score").over(pl.lit(1))),
    ],
    ids=["eager", "lazy", "streaming", "over"],
)
def test_off_scale_answers_first_line(run: Callable[[], Any]) -> None:
    assert first_line(run) == NPS_OFF


@NEEDS_PASS_THROUGH
def test_off_scale_answers_in_groups_name_one_group_count() -> None:
    # per group: group "a" has one off-scale answer (11), group "b" one (12); the first
    # group found is reported with its own count
    line = first_line(lambda: SURVEY.group_by("seg").agg(lmx.nps("score")))
    assert line in {
        "nps: answers must be whole numbers from 0 to 10: 1 value(s), e.g. 11.0",
        "nps: answers must be whole numbers from 0 to 10: 1 value(s), e.g. 12.0",
    }


@NEEDS_PASS_THROUGH
def test_invalid_weights_and_other_metrics_first_line() -> None:
    ok = SURVEY.filter(pl.col("score") <= 10)
    line = first_line(lambda: SURVEY.with_columns(score=3).select(lmx.nps("score", weights="w")))
    assert line == "nps: weights must be finite and non-negative (no nulls): 1 value(s), e.g. -2.0"
    assert first_line(lambda: ok.select(lmx.csat("score"))).startswith(
        "csat: answers must be whole numbers from 1 to 5: 1 value(s), e.g. 10.0"
    )


def test_valid_answers_still_compute() -> None:
    # the check must not fire on valid data (a guard that always raises passes the above)
    out = SURVEY.filter(pl.col("score") <= 10).group_by("seg", maintain_order=True)
    assert out.agg(lmx.nps("score")).rows() == [("a", 100.0), ("b", -100.0)]


LOG = pl.DataFrame(
    {
        "customer_id": [1, None, 2, None],
        "timestamp": [dt.date(2024, 1, 3), dt.date(2024, 1, 9), dt.date(2024, 2, 1), None],
        "amount": [1.0, 2.0, 3.0, 4.0],
    }
)
NULL_IDS = (
    "column 'customer_id' has 2 null value(s); drop or fill them first "
    "(rows are never dropped silently)"
)
FUNCTIONS = ["rfm_summary", "cohort_retention", "period_summary", "customer_summary"]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("partitions", [1, 2])
@NEEDS_PASS_THROUGH
def test_null_keys_in_a_lazy_table_first_line(function: str, partitions: int) -> None:
    lazy = getattr(tables, function)(LOG.lazy(), partitions=partitions)
    assert isinstance(lazy, pl.LazyFrame)  # nothing runs before collect
    assert first_line(lazy.collect) == NULL_IDS


@pytest.mark.parametrize("function", FUNCTIONS)
def test_null_keys_eager_same_message_at_call_time(function: str) -> None:
    with pytest.raises(ValueError, match="^" + NULL_IDS.replace("(", r"\(").replace(")", r"\)")):
        getattr(tables, function)(LOG)


def test_older_polars_keep_the_strict_cast_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # where polars wraps a query's exception, the check is the strict cast it was: still
    # an InvalidOperationError that carries the message (after polars' own words)
    monkeypatch.setattr(_validation, "_exceptions_pass_through", lambda: False)
    with pytest.raises(pl.exceptions.InvalidOperationError, match=re.escape(NPS_OFF)):
        SURVEY.select(lmx.nps("score"))
    ok = SURVEY.filter(pl.col("score") <= 10).group_by("seg", maintain_order=True)
    assert ok.agg(lmx.nps("score")).rows() == [("a", 100.0), ("b", -100.0)]
