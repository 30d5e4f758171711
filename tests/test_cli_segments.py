"""``loyaltymetrics report --segment-by COLUMN``: retention by a column of the order log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result
from polars.testing import assert_frame_equal

from loyaltymetrics import datasets, tables
from loyaltymetrics._report import segment_overview
from loyaltymetrics.cli import main

ENV: dict[str, str | None] = {
    "COLUMNS": "400",
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
}


def invoke(*args: str | Path) -> Result:
    return CliRunner(env=ENV).invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    raw = datasets.simulate_transactions(
        300, start=dt.date(2022, 1, 1), end=dt.date(2023, 6, 1), seed=11
    )
    store = pl.when(pl.col("amount") > 40).then(pl.lit("north")).otherwise(pl.lit("south"))
    return raw.with_columns(store=store)


@pytest.fixture(scope="module")
def csv(log: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("orders") / "orders.csv"
    log.write_csv(path)
    return path


def test_segment_by_writes_the_tables_figures_and_section(
    csv: Path, log: pl.DataFrame, tmp_path: Path
) -> None:
    result = invoke("report", csv, "--segment-by", "store", "--out", tmp_path, "--format", "csv")
    assert result.exit_code == 0, (result.stderr, repr(result.exception))
    assert "Retention by store" in result.stdout
    periods = tables.period_summary(log, by="store")
    cohorts = tables.cohort_retention(log, by="store")
    written = pl.read_csv(tmp_path / "periods_by_segment.csv", try_parse_dates=True)
    assert_frame_equal(written, periods, check_dtypes=False)
    written = pl.read_csv(tmp_path / "cohorts_by_segment.csv", try_parse_dates=True)
    assert_frame_equal(written, cohorts, check_dtypes=False)
    for name in ("cohort_heatmap_by_segment", "retention_by_segment"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Retention by store</h2>" in page
    # the printed per-segment line is the overview of the by= table
    overview = segment_overview(periods, "store")
    for store, customers in overview.select("store", "customers").iter_rows():
        assert any(
            store in line and f"{customers:,}" in line for line in result.stdout.splitlines()
        )


def test_segment_overview_by_hand() -> None:
    periods = pl.DataFrame(
        {
            "store": ["a", "a", "a", "b", "b", "b"],
            "customers_start": [0, 2, 1, 0, 0, 3],
            "customers_new": [2, 0, 1, 0, 3, 0],
            "customers_reactivated": [0, 0, 1, 0, 0, 0],
            "customers_end": [2, 1, 3, 0, 3, 2],
            "retention_rate": [None, 0.5, 1.0, None, None, 2 / 3],
            "orders": [2, 1, 3, 0, 4, 2],
            "revenue": [5.0, 1.0, 2.0, 0.0, 7.0, 1.0],
        }
    )
    out = segment_overview(periods, "store")
    # a: kept (end - new - back) = 0 + 1 + 1 = 2 of starts 0 + 2 + 1 = 3; b: 2 of 3
    assert out.rows() == [("a", 3, 6, 8.0, 2 / 3, 1.0), ("b", 3, 6, 8.0, 2 / 3, 2 / 3)]


def test_segment_by_a_missing_column_is_a_one_line_error(csv: Path) -> None:
    result = invoke("report", csv, "--segment-by", "region")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        "error: --segment-by: the transactions have no column 'region'; the columns are "
    )
