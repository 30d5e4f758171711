"""Tests for the ``loyaltymetrics report`` command: the CDNOW sample end to end, files, errors.

The sample report takes a while (three model fits on 23,570 customers), so it runs once,
as a real ``python -m loyaltymetrics`` subprocess with ``--out``, and every sample test
reads that run. The other tests use click's ``CliRunner`` on a few hundred simulated
orders. Expected numbers are recomputed here from the raw log with plain polars.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result
from matplotlib.image import imread
from polars.testing import assert_frame_equal

import loyaltymetrics
from loyaltymetrics import datasets, tables
from loyaltymetrics.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = (
    "Overview",
    "Customer base by period",
    "Cohort retention",
    "RFM segments",
    "CLV: BG/NBD + Gamma-Gamma",
    "Top 10 customers",
    "Model check",
    "Survey metrics",
)
TABLES = ("periods", "cohorts", "rfm_segments", "top_customers", "holdout_by_frequency")
FIGURES = ("cohort_heatmap", "retention_curve", "p_alive_matrix", "calibration_holdout")
# a wide virtual terminal and no colour codes, whatever the shell running pytest has set
ENV: dict[str, str | None] = {
    "COLUMNS": "400",
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
}


# --------------------------------------------------------------------------------------
# helpers


def invoke(*args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner(env=ENV if env is None else env).invoke(main, [str(a) for a in args])


def succeeded(result: Result) -> str:
    """The stdout of a run that must have succeeded (the error is shown otherwise)."""
    assert result.exit_code == 0, (result.stderr, repr(result.exception))
    assert result.exception is None
    assert "Traceback" not in result.output
    return result.stdout


def error_line(result: Result) -> str:
    """The one-line message of a run that must have failed cleanly (exit 1, no traceback)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def rows(stdout: str, title: str) -> list[list[str]]:
    """The body rows (cells stripped) of the printed table whose title starts with `title`."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("│"):
            out.append([cell.strip() for cell in line.strip().strip("│").split("│")])
        elif line.startswith("└"):
            return out
    raise AssertionError(f"table {title!r} has no end")


def table(stdout: str, title: str) -> list[dict[str, str]]:
    """The printed table with a header row, as one dict per row."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    header_lines = [line for line in lines[start + 1 : start + 8] if line.startswith("┃")]
    assert len(header_lines) == 1, header_lines  # a wrapped header would need joining
    header = [cell.strip() for cell in header_lines[0].strip().strip("┃").split("┃")]
    return [dict(zip(header, row, strict=True)) for row in rows(stdout, title)]


def pairs(stdout: str, title: str) -> dict[str, str]:
    return {row[0]: row[1] for row in rows(stdout, title)}


def number(text: str) -> float:
    return float(text.replace(",", ""))


def shows(text: str, expected: float) -> bool:
    """Whether `text` is `expected` as the report prints floats (4 digits, or 0 decimals)."""
    if abs(expected) >= 1e4:
        half_unit = 0.5
    else:
        half_unit = 0.5 * 10.0 ** (math.floor(math.log10(abs(expected))) - 3)
    return abs(number(text) - expected) <= half_unit * (1 + 1e-9)


def nps_of(scores: pl.Expr) -> pl.Expr:
    """Net Promoter Score from its definition: % promoters (9–10) − % detractors (0–6)."""
    return 100.0 * ((scores >= 9).mean() - (scores <= 6).mean())


def write_csv_log(log: pl.DataFrame, path: Path) -> Path:
    log.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S")).write_csv(path)
    return path


# --------------------------------------------------------------------------------------
# the CDNOW sample, once, as a real subprocess


@dataclass(frozen=True)
class SampleRun:
    returncode: int
    stdout: str
    stderr: str
    out: Path


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    return datasets.load_cdnow().select("customer_id", "timestamp", "amount")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    work = tmp_path_factory.mktemp("sample")
    out = work / "report"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(PYTHONIOENCODING="utf-8", NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "loyaltymetrics", "report", "--sample", "--out", str(out)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=work,
        check=False,
    )
    return SampleRun(proc.returncode, proc.stdout, proc.stderr, out)


@pytest.fixture(scope="module")
def sample(sample_run: SampleRun) -> SampleRun:
    """The sample run, which must have succeeded."""
    assert sample_run.returncode == 0, sample_run.stderr
    return sample_run


def test_python_m_report_sample_exits_0_and_prints_every_section_in_order(
    sample_run: SampleRun,
) -> None:
    assert sample_run.returncode == 0, sample_run.stderr
    assert sample_run.stderr == ""
    lines = sample_run.stdout.splitlines()
    positions = [
        next((i for i, line in enumerate(lines) if line.startswith(title)), -1)
        for title in SECTIONS
    ]
    assert -1 not in positions, dict(zip(SECTIONS, positions, strict=True))
    assert positions == sorted(positions)


def test_sample_overview_numbers_match_the_raw_log(sample: SampleRun, cdnow: pl.DataFrame) -> None:
    shown = pairs(sample.stdout, "Overview")
    per_customer = cdnow.group_by("customer_id").len()
    revenue = cdnow["amount"].sum()
    # the dataset's documented size, recomputed from the raw log
    assert (cdnow.height, per_customer.height) == (69_659, 23_570)
    assert number(shown["orders"]) == cdnow.height
    assert number(shown["customers"]) == per_customer.height
    assert shown["first order"] == str(cdnow["timestamp"].min())
    assert shown["last order"] == str(cdnow["timestamp"].max())
    assert shows(shown["revenue"], revenue)
    assert shows(shown["average order value"], revenue / cdnow.height)
    assert shows(
        shown["purchase frequency (orders per customer)"], cdnow.height / per_customer.height
    )
    assert shows(shown["repeat purchase rate"], (per_customer["len"] >= 2).mean())


def test_sample_period_table_counts_the_orders_of_the_last_12_months(
    sample: SampleRun, cdnow: pl.DataFrame
) -> None:
    by_month = (
        cdnow.group_by(pl.col("timestamp").dt.truncate("1mo").alias("month"))
        .agg(pl.len().alias("orders"), pl.col("amount").mean().alias("aov"))
        .sort("month")
        .tail(12)
    )
    shown = table(sample.stdout, "Customer base by period")
    assert [r["period"] for r in shown] == [str(d) for d in by_month["month"]]
    assert [number(r["orders"]) for r in shown] == by_month["orders"].to_list()
    for r, aov in zip(shown, by_month["aov"], strict=True):
        assert shows(r["AOV"], aov), (r, aov)
    # every CDNOW customer arrived in 1997 Q1: nobody is new in the last 12 months
    assert {r["new"] for r in shown} == {"0"}


def test_sample_cohort_table_has_the_q1_cohorts_and_their_month_1_retention(
    sample: SampleRun, cdnow: pl.DataFrame
) -> None:
    months = cdnow.select("customer_id", pl.col("timestamp").dt.truncate("1mo").alias("month"))
    first = months.group_by("customer_id").agg(pl.col("month").min().alias("cohort"))
    sizes = first.group_by("cohort").len().sort("cohort")
    back_next_month = (
        months.unique()
        .join(first, on="customer_id")
        .filter(pl.col("month") == pl.col("cohort").dt.offset_by("1mo"))
        .group_by("cohort")
        .len()
    )
    expected = sizes.join(back_next_month, on="cohort", suffix="_back").sort("cohort")
    shown = table(sample.stdout, "Cohort retention")
    assert [r["cohort"] for r in shown] == [str(c) for c in expected["cohort"]]
    assert [number(r["cohort_size"]) for r in shown] == expected["len"].to_list()
    assert {r["0"] for r in shown} == {"100"}
    for r, size, back in zip(shown, expected["len"], expected["len_back"], strict=True):
        assert abs(number(r["1"]) - 100 * back / size) <= 0.05 + 1e-9, (r, back, size)


def test_sample_rfm_segments_partition_the_customers(
    sample: SampleRun, cdnow: pl.DataFrame
) -> None:
    shown = table(sample.stdout, "RFM segments")
    assert len({r["segment"] for r in shown}) == len(shown) > 1
    assert sum(number(r["customers"]) for r in shown) == cdnow["customer_id"].n_unique()
    assert sum(number(r["share"]) for r in shown) == pytest.approx(1.0, abs=1e-3)


def test_sample_clv_and_top_customers(sample: SampleRun, cdnow: pl.DataFrame) -> None:
    clv = pairs(sample.stdout, "CLV: BG/NBD + Gamma-Gamma")
    assert clv["BG/NBD (weeks)"].startswith("BetaGeoModel(")
    assert clv["Gamma-Gamma"].startswith("GammaGammaModel(")
    assert 0 < number(clv["customers likely alive (P(alive) > 0.5)"]) <= 1
    top = table(sample.stdout, "Top 10 customers")
    assert len(top) == 10
    values = [number(r["clv_12m"]) for r in top]
    assert values == sorted(values, reverse=True)
    assert number(clv["total 12-month CLV"]) > sum(values)
    # RFM in weeks, from the raw log: repeat purchase days and age at the last order date
    last_day = cdnow["timestamp"].max()
    days = (
        cdnow.group_by("customer_id")
        .agg(pl.col("timestamp").n_unique().alias("days"), pl.col("timestamp").min())
        .filter(pl.col("customer_id").is_in([int(r["customer_id"]) for r in top]))
    )
    by_id = {cid: (n, first) for cid, n, first in days.iter_rows()}
    assert len(by_id) == 10
    for r in top:
        n_days, first = by_id[int(r["customer_id"])]
        assert number(r["frequency"]) == n_days - 1
        assert shows(r["T"], (last_day - first).days / 7)
        assert 0 < number(r["p_alive"]) <= 1


def test_sample_holdout_check_covers_every_customer(sample: SampleRun, cdnow: pl.DataFrame) -> None:
    shown = table(sample.stdout, "Model check")
    # calibration ends half way (1997-09-30): every customer has arrived by then
    assert sum(number(r["n_customers"]) for r in shown) == cdnow["customer_id"].n_unique()
    assert [number(r["frequency_cal"]) for r in shown] == list(range(8))
    assert [r["pooled"] for r in shown] == ["False"] * 7 + ["True"]


def test_sample_survey_is_grouped_by_channel_with_intervals(
    sample: SampleRun, cdnow: pl.DataFrame
) -> None:
    from loyaltymetrics._report import sample_survey

    survey = sample_survey(cdnow["customer_id"])
    expected = (
        survey.group_by("channel")
        .agg(
            pl.len().alias("n"),
            nps_of(pl.col("nps")).alias("nps"),
            (pl.col("csat") >= 4).mean().alias("csat"),
            pl.col("ces").mean().alias("ces"),
        )
        .sort("channel")
    )
    shown = table(sample.stdout, "Survey metrics")
    assert [r["channel"] for r in shown] == expected["channel"].to_list()
    cell = re.compile(r"(-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\] \((\d+)\)")
    for r, (_, n, nps, csat, ces) in zip(shown, expected.iter_rows(), strict=True):
        for name, value, digits in (("NPS", nps, 1), ("CSAT", csat, 3), ("CES", ces, 2)):
            match = cell.fullmatch(r[name])
            assert match, r[name]
            est, low, high, count = match.groups()
            assert int(count) == n
            assert abs(float(est) - value) <= 0.5 * 10.0**-digits + 1e-9, (name, r[name], value)
            assert float(low) < float(est) < float(high)


# --------------------------------------------------------------------------------------
# the sample's --out directory


def test_sample_out_writes_the_tables_figures_and_html(sample: SampleRun) -> None:
    tables_ = {*TABLES, "survey"}
    figures = {*FIGURES, "nps_by_segment"}
    expected = {f"{t}.parquet" for t in tables_} | {f"{f}.png" for f in figures}
    assert {p.name for p in sample.out.iterdir()} == expected | {"report.html"}
    assert f"wrote {len(tables_)} tables, {len(figures)} figures and report.html" in sample.stdout


def test_sample_out_periods_and_cohorts_equal_the_tables_of_the_log(
    sample: SampleRun, cdnow: pl.DataFrame
) -> None:
    assert_frame_equal(
        pl.read_parquet(sample.out / "periods.parquet"), tables.period_summary(cdnow)
    )
    assert_frame_equal(
        pl.read_parquet(sample.out / "cohorts.parquet"), tables.cohort_retention(cdnow)
    )


def test_sample_out_survey_table_holds_the_nps_by_channel(
    sample: SampleRun, cdnow: pl.DataFrame
) -> None:
    from loyaltymetrics._report import sample_survey

    expected = (
        sample_survey(cdnow["customer_id"])
        .group_by("channel")
        .agg(pl.len().alias("nps_n"), nps_of(pl.col("nps")).alias("nps"))
        .sort("channel")
    )
    written = pl.read_parquet(sample.out / "survey.parquet")
    assert written["channel"].to_list() == expected["channel"].to_list()
    assert written["nps_n"].to_list() == expected["nps_n"].to_list()
    np.testing.assert_allclose(written["nps"].to_numpy(), expected["nps"].to_numpy(), rtol=1e-12)
    assert (written["nps_low"] < written["nps"]).all()
    assert (written["nps"] < written["nps_high"]).all()


def test_sample_out_pngs_are_valid_non_trivial_images(sample: SampleRun) -> None:
    for path in sample.out.glob("*.png"):
        assert path.read_bytes()[:8] == PNG_SIGNATURE, path.name
    image = imread(sample.out / "cohort_heatmap.png")
    height, width = image.shape[:2]
    assert height >= 200
    assert width >= 300
    assert float(image[..., :3].std()) > 0.01  # not a blank canvas


def test_sample_out_html_is_self_contained(sample: SampleRun) -> None:
    html = (sample.out / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    pngs = sorted(sample.out.glob("*.png"))
    assert html.count("data:image/png;base64,") == len(pngs) == 5
    for path in pngs:
        assert base64.b64encode(path.read_bytes()).decode("ascii") in html, path.name
    for remote in ('src="http', "src='http", 'href="http', "<script", "<link"):
        assert remote not in html
    for heading in ("Overview", "Cohort retention", "RFM segments", "Survey metrics"):
        assert f"<h2>{heading}" in html


# --------------------------------------------------------------------------------------
# a small log from files


@dataclass(frozen=True)
class Files:
    log: pl.DataFrame  # as the CSV holds it (whole seconds)
    csv: Path
    parquet: Path
    renamed: Path  # columns client, ordered_at, total
    survey: pl.DataFrame
    survey_csv: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    d = tmp_path_factory.mktemp("files")
    log = datasets.simulate_transactions(
        300, start=dt.date(2023, 1, 1), end=dt.date(2024, 7, 1), seed=11
    ).with_columns(pl.col("timestamp").dt.truncate("1s"))
    log.write_parquet(d / "orders.parquet")
    renamed = log.rename({"customer_id": "client", "timestamp": "ordered_at", "amount": "total"})
    renamed.write_parquet(d / "renamed.parquet")
    rng = np.random.default_rng(5)
    n = 400
    survey = pl.DataFrame(
        {
            "customer_id": rng.integers(0, 300, size=n),
            "channel": rng.choice(["web", "store"], size=n),
            "region": rng.choice(["east", "north", "south", "west"], size=n),
            "nps": rng.integers(0, 11, size=n),
            "csat": rng.integers(1, 6, size=n),
            "ces": rng.integers(1, 8, size=n),
        }
    )
    survey.write_csv(d / "survey.csv")
    return Files(
        log,
        write_csv_log(log, d / "orders.csv"),
        d / "orders.parquet",
        d / "renamed.parquet",
        survey,
        d / "survey.csv",
    )


def check_overview(stdout: str, log: pl.DataFrame) -> None:
    shown = pairs(stdout, "Overview")
    assert number(shown["orders"]) == log.height
    assert number(shown["customers"]) == log["customer_id"].n_unique() == 300
    assert shown["first order"] == str(log["timestamp"].min().date())
    assert shown["last order"] == str(log["timestamp"].max().date())
    assert shows(shown["revenue"], log["amount"].sum())


def test_csv_file_with_iso_timestamps_and_csv_output(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stdout = succeeded(invoke("report", files.csv, "--out", out, "--format", "csv"))
    check_overview(stdout, files.log)
    written = {p.name for p in out.iterdir()}
    assert {f"{t}.csv" for t in TABLES} <= written
    assert not any(name.endswith(".parquet") for name in written)
    assert {f"{f}.png" for f in FIGURES} <= written
    assert "report.html" in written
    assert_frame_equal(
        pl.read_csv(out / "periods.csv", try_parse_dates=True),
        tables.period_summary(files.log),
        check_dtypes=False,
    )


def test_parquet_file_with_another_period(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stdout = succeeded(invoke("report", files.parquet, "--period", "1q", "--out", out))
    check_overview(stdout, files.log)
    expected = tables.period_summary(files.log, period="1q")
    assert_frame_equal(pl.read_parquet(out / "periods.parquet"), expected)
    shown = table(stdout, "Customer base by period")
    assert [r["period"] for r in shown] == [str(p) for p in expected["period"].tail(12)]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_custom_column_names(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(
        "report",
        files.renamed,
        "--customer-id",
        "client",
        "--timestamp",
        "ordered_at",
        "--amount",
        "total",
        "--out",
        out,
    )
    check_overview(succeeded(result), files.log)
    assert "client" in pl.read_parquet(out / "top_customers.parquet").columns
    assert_frame_equal(pl.read_parquet(out / "periods.parquet"), tables.period_summary(files.log))


def test_survey_file_grouped_by_a_chosen_segment(files: Files, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stdout = succeeded(
        invoke(
            "report", files.parquet, "--survey", files.survey_csv, "--segment=region", "--out", out
        )
    )
    expected = (
        files.survey.group_by("region")
        .agg(
            pl.len().alias("nps_n"),
            nps_of(pl.col("nps")).alias("nps"),
            (pl.col("csat") >= 4).mean().alias("csat"),
            pl.col("ces").mean().alias("ces"),
        )
        .sort("region")
    )
    shown = table(stdout, "Survey metrics")
    assert [r["region"] for r in shown] == expected["region"].to_list()  # not channel
    for r, n in zip(shown, expected["nps_n"], strict=True):
        assert r["NPS"].endswith(f"({n})")
    written = pl.read_parquet(out / "survey.parquet")
    assert written["region"].to_list() == expected["region"].to_list()
    assert written["nps_n"].to_list() == expected["nps_n"].to_list()
    for metric in ("nps", "csat", "ces"):
        np.testing.assert_allclose(written[metric].to_numpy(), expected[metric].to_numpy())
    assert (out / "nps_by_segment.png").read_bytes()[:8] == PNG_SIGNATURE


# --------------------------------------------------------------------------------------
# errors: exit 1, one line on stderr, no traceback


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    line = error_line(invoke("report", path))
    assert str(path) in line
    assert "not found" in line


def test_missing_column_names_it_and_lists_the_columns(files: Files) -> None:
    line = error_line(invoke("report", files.renamed))
    assert "'customer_id'" in line
    assert "client, ordered_at, total" in line
    assert "--customer-id" in line


def test_missing_amount_column_chosen_by_option(files: Files) -> None:
    line = error_line(invoke("report", files.parquet, "--amount", "total"))
    assert "'total'" in line
    assert "customer_id, timestamp, amount" in line


def test_unparseable_timestamp_names_the_column_and_shows_a_value(
    files: Files, tmp_path: Path
) -> None:
    bad = files.log.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%d")).with_columns(
        pl.when(pl.int_range(pl.len()) == 17)
        .then(pl.lit("yesterday"))
        .otherwise(pl.col("timestamp"))
        .alias("timestamp")
    )
    bad.write_csv(tmp_path / "bad.csv")
    line = error_line(invoke("report", tmp_path / "bad.csv"))
    assert "'timestamp'" in line
    assert "yesterday" in line


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(b"")
    line = error_line(invoke("report", path))
    assert "empty" in line
    assert str(path) in line


def test_csv_with_a_header_only_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,timestamp,amount\n", encoding="utf-8")
    error_line(invoke("report", path))


def test_csv_with_a_header_only_says_the_file_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,timestamp,amount\n", encoding="utf-8")
    assert "no rows" in error_line(invoke("report", path))


def test_parquet_without_rows(files: Files, tmp_path: Path) -> None:
    files.log.head(0).write_parquet(tmp_path / "orders.parquet")
    assert "no rows" in error_line(invoke("report", tmp_path / "orders.parquet"))


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    path.write_text("this is not parquet\n", encoding="utf-8")
    assert "cannot read" in error_line(invoke("report", path))


def test_empty_amount_value_names_the_column(files: Files, tmp_path: Path) -> None:
    files.log.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("amount")).alias("amount")
    ).write_parquet(tmp_path / "orders.parquet")
    line = error_line(invoke("report", tmp_path / "orders.parquet"))
    assert "'amount'" in line
    assert "1 empty value" in line


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    line = error_line(invoke("report", path))
    assert "orders.xlsx" in line
    assert ".csv" in line
    assert ".parquet" in line


def test_malformed_period(files: Files) -> None:
    assert "2x" in error_line(invoke("report", files.parquet, "--period", "2x"))


def test_neither_file_nor_sample() -> None:
    line = error_line(invoke("report"))
    assert "--sample" in line
    assert "TRANSACTIONS" in line


def test_both_file_and_sample(files: Files) -> None:
    line = error_line(invoke("report", files.parquet, "--sample"))
    assert "not both" in line


def test_missing_survey_file_names_the_path(files: Files, tmp_path: Path) -> None:
    path = tmp_path / "survey.csv"
    line = error_line(invoke("report", files.parquet, "--survey", path))
    assert "survey" in line
    assert str(path) in line


def test_survey_without_metric_columns_lists_its_columns(files: Files, tmp_path: Path) -> None:
    path = tmp_path / "survey.csv"
    files.survey.select("customer_id", "region", score="nps").write_csv(path)
    line = error_line(invoke("report", files.parquet, "--survey", path))
    assert "nps, csat, ces" in line
    assert "customer_id, region, score" in line


def test_unknown_segment_names_it_and_lists_the_survey_columns(files: Files) -> None:
    line = error_line(
        invoke("report", files.parquet, "--survey", files.survey_csv, "--segment", "country")
    )
    assert "'country'" in line
    assert ", ".join(files.survey.columns) in line


def test_bad_format_choice_is_a_usage_error(files: Files) -> None:
    result = invoke("report", files.parquet, "--format", "xlsx")
    assert result.exit_code == 2
    assert "xlsx" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", ["missing file", "neither", "unknown segment"])
def test_debug_lets_the_error_propagate(case: str, files: Files, tmp_path: Path) -> None:
    args: list[str | Path] = {
        "missing file": ["report", tmp_path / "nope.csv"],
        "neither": ["report"],
        "unknown segment": ["report", files.parquet, "--survey", files.survey_csv, "--segment=x"],
    }[case]
    quiet = invoke(*args)
    loud = invoke(*args, "--debug")
    assert isinstance(quiet.exception, SystemExit)
    assert loud.exit_code != 0
    assert isinstance(loud.exception, ValueError)  # the ReportError itself
    assert loud.exc_info is not None
    assert loud.exc_info[2] is not None  # with its traceback
    assert quiet.stderr.removeprefix("error: ").strip() == str(loud.exception)


# --------------------------------------------------------------------------------------
# formerly known bugs, fixed: regression tests


def test_a_long_error_message_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / ("orders_" + "x" * 90 + ".csv")
    result = invoke("report", path, env={**ENV, "COLUMNS": "80"})
    assert str(path) in error_line(result)


def test_a_bracketed_value_is_shown_verbatim(files: Files, tmp_path: Path) -> None:
    bad = files.log.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%d")).with_columns(
        pl.when(pl.int_range(pl.len()) == 17)
        .then(pl.lit("[unknown]"))
        .otherwise(pl.col("timestamp"))
        .alias("timestamp")
    )
    bad.write_csv(tmp_path / "bad.csv")
    assert "[unknown]" in error_line(invoke("report", tmp_path / "bad.csv"))


def test_a_closing_tag_in_a_value_does_not_crash(files: Files, tmp_path: Path) -> None:
    bad = files.log.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%d")).with_columns(
        pl.when(pl.int_range(pl.len()) == 17)
        .then(pl.lit("[/]"))
        .otherwise(pl.col("timestamp"))
        .alias("timestamp")
    )
    bad.write_csv(tmp_path / "bad.csv")
    assert "[/]" in error_line(invoke("report", tmp_path / "bad.csv"))


def test_a_file_name_with_brackets(files: Files, tmp_path: Path) -> None:
    path = tmp_path / "orders [2024].csv"
    path.write_bytes(files.csv.read_bytes())
    check_overview(succeeded(invoke("report", path)), files.log)


def test_out_pointing_at_a_file_fails_cleanly(files: Files, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("x", encoding="utf-8")
    assert str(target) in error_line(invoke("report", files.parquet, "--out", target))


def test_out_for_a_log_within_one_period(tmp_path: Path) -> None:
    log = datasets.simulate_transactions(
        200, start=dt.date(2024, 3, 1), end=dt.date(2024, 3, 29), seed=2
    )
    log.write_parquet(tmp_path / "orders.parquet")
    out = tmp_path / "out"
    succeeded(invoke("report", tmp_path / "orders.parquet", "--out", out))
    assert (out / "report.html").exists()


def test_out_when_the_spend_model_is_skipped(files: Files, tmp_path: Path) -> None:
    files.log.with_columns(pl.lit(0.0).alias("amount")).write_parquet(tmp_path / "free.parquet")
    out = tmp_path / "out"
    stdout = succeeded(invoke("report", tmp_path / "free.parquet", "--out", out))
    assert "CLV models skipped" in stdout
    assert (out / "report.html").exists()


def test_clv_with_a_customer_acquired_on_the_last_day(files: Files, tmp_path: Path) -> None:
    newcomer = pl.DataFrame(
        {"customer_id": [10_000], "timestamp": [files.log["timestamp"].max()], "amount": [20.0]},
        schema=files.log.schema,
    )
    pl.concat([files.log, newcomer]).write_parquet(tmp_path / "orders.parquet")
    stdout = succeeded(invoke("report", tmp_path / "orders.parquet"))
    assert "CLV models skipped" not in stdout
    assert len(table(stdout, "Top 10 customers")) == 10


# --------------------------------------------------------------------------------------
# --version and --help


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"loyaltymetrics, version {loyaltymetrics.__version__}"
    assert loyaltymetrics.__version__ == importlib.metadata.version("loyaltymetrics")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_report_command(flag: str) -> None:
    result = invoke(flag)
    assert result.exit_code == 0
    commands = result.stdout.split("Commands:")[1]
    assert re.search(r"^\s+report\s", commands, flags=re.MULTILINE)


def test_report_help_lists_its_options() -> None:
    result = invoke("report", "--help")
    assert result.exit_code == 0
    for option in ("--sample", "--survey", "--customer-id", "--out", "--format", "--debug"):
        assert option in result.stdout
