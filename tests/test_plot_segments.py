"""``by=`` in loyaltymetrics.plot: faceted cohort heatmaps and retention by segment."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import datetime as dt
import io

import numpy as np
import polars as pl
import pytest
from matplotlib.axes import Axes

from loyaltymetrics import datasets, plot, tables

LOG = datasets.simulate_transactions(
    150, start=dt.date(2023, 1, 1), end=dt.date(2023, 9, 1), seed=4
).with_columns(
    store=pl.when(pl.col("customer_id") % 3 == 0)
    .then(None)
    .otherwise(pl.when(pl.col("amount") > 30).then(pl.lit("north")).otherwise(pl.lit("south")))
)


def image_values(ax: Axes) -> np.ndarray:
    assert len(ax.images) == 1
    return np.ma.filled(np.ma.asarray(ax.images[0].get_array(), dtype=float), np.nan)


def test_cohort_heatmap_facets_are_the_segments_pivots_on_one_grid() -> None:
    cohorts = tables.cohort_retention(LOG, by="store")
    axes = plot.cohort_heatmap(cohorts, by="store")
    assert [a.get_title() for a in axes] == ["null", "north", "south"]  # the table's order
    assert len({id(a.figure) for a in axes}) == 1
    cohort_days = cohorts["cohort"].unique().sort()
    n_cols = int(cohorts["period_index"].max()) + 1  # type: ignore[arg-type]
    for ax, store in zip(axes, [None, "north", "south"], strict=True):
        rows = cohorts.filter(
            pl.col("store").is_null() if store is None else pl.col("store") == store
        )
        # the segment's cells on the shared rows (every cohort) and columns; others blank
        expected = np.full((cohort_days.len(), n_cols), np.nan)
        for cohort, k, value in rows.select("cohort", "period_index", "retention").iter_rows():
            expected[cohort_days.to_list().index(cohort), k] = value
        np.testing.assert_array_equal(image_values(ax), expected)
    # shared axes: the labels are on the first column of facets
    assert [t.get_text() for t in axes[0].get_yticklabels()] == [str(d) for d in cohort_days]
    buf = io.BytesIO()
    axes[0].figure.savefig(buf, format="png", dpi=40)
    assert buf.getvalue().startswith(b"\x89PNG")


def test_cohort_heatmap_by_two_columns_labels_and_errors() -> None:
    log = LOG.with_columns(channel=pl.col("customer_id") % 2)
    cohorts = tables.cohort_retention(log, by=["store", "channel"])
    axes = plot.cohort_heatmap(cohorts, by=["store", "channel"], max_periods=3)
    assert axes[0].get_title() == "store=null, channel=0"
    assert all(image_values(a).shape[1] == 3 for a in axes)
    with pytest.raises(ValueError, match="ax must be None with by="):
        plot.cohort_heatmap(cohorts, by="store", ax=axes[0])  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="by column 'region' not found in cohorts"):
        plot.cohort_heatmap(cohorts, by="region")
    with pytest.raises(TypeError, match="by must be a column name"):
        plot.cohort_heatmap(cohorts, by=3)  # type: ignore[call-overload]


def test_retention_curve_by_segment_draws_each_segments_rates() -> None:
    periods = tables.period_summary(LOG, by="store")
    ax = plot.retention_curve(periods, by="store")
    assert [line.get_label() for line in ax.get_lines()] == ["null", "north", "south"]
    for line, store in zip(ax.get_lines(), [None, "north", "south"], strict=True):
        rows = periods.filter(
            pl.col("store").is_null() if store is None else pl.col("store") == store
        )
        assert list(line.get_xdata()) == rows["period"].to_list()  # the shared periods
        np.testing.assert_array_equal(
            np.asarray(line.get_ydata(), dtype=float),
            rows["retention_rate"].fill_null(np.nan).to_numpy(),
        )
    with pytest.raises(ValueError, match="by column 'region' not found in periods"):
        plot.retention_curve(periods, by="region")
