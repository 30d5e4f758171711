"""Checked by ``mypy --strict``, never run: a table function returns its input's frame type.

A DuckDB relation in gives a ``DuckDBPyRelation`` out, a pandas DataFrame a pandas
DataFrame, a polars DataFrame a DataFrame and a LazyFrame a LazyFrame (issue 18 items 12
and 14). ``assert_type`` fails the type check if the overloads give anything else.
"""

from __future__ import annotations

import datetime as dt
from typing import assert_type

import duckdb
import pandas as pd
import polars as pl

from loyaltymetrics import tables

con = duckdb.connect()
relation = con.sql("select 1 as customer_id, date '2024-01-01' as timestamp, 2.0 as amount")
assert relation is not None  # duckdb types sql() as "relation or None" (None for DDL)

rfm_rel = tables.rfm_summary(relation, amount="amount", time_unit="W")
assert_type(rfm_rel, duckdb.DuckDBPyRelation)
assert_type(tables.cohort_retention(relation, period="1mo"), duckdb.DuckDBPyRelation)
assert_type(tables.period_summary(relation, active_window=2), duckdb.DuckDBPyRelation)
assert_type(
    tables.customer_summary(relation, observation_end=dt.date(2024, 2, 1)),
    duckdb.DuckDBPyRelation,
)
survey_rel = con.sql("select 9 as ltr")
assert survey_rel is not None
assert_type(tables.survey_summary(survey_rel, nps="ltr"), duckdb.DuckDBPyRelation)

frame = pd.DataFrame({"customer_id": [1], "timestamp": [dt.datetime(2024, 1, 1)], "amount": [2.0]})
rfm_pd: pd.DataFrame = tables.rfm_summary(frame, amount="amount")
assert_type(tables.rfm_summary(frame), pd.DataFrame)
assert_type(tables.customer_summary(frame, amount="amount"), pd.DataFrame)
assert_type(
    tables.calibration_holdout_split(
        frame, calibration_end=dt.date(2024, 1, 1), holdout_end=dt.date(2024, 2, 1)
    ),
    pd.DataFrame,
)
assert_type(tables.rfm_segments(rfm_pd), pd.DataFrame)

eager = pl.from_pandas(frame)
assert_type(tables.rfm_summary(eager), pl.DataFrame)
assert_type(tables.cohort_retention(eager.lazy()), pl.LazyFrame)
assert_type(tables.classify_customers(eager, {"any": pl.lit(True)}), pl.DataFrame)
