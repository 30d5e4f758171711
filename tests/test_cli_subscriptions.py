"""``loyaltymetrics report --subscriptions``: the subscription section, printed and written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result

from loyaltymetrics import datasets, models, tables
from loyaltymetrics.cli import main

ENV: dict[str, str | None] = {"COLUMNS": "400", "NO_COLOR": "1", "FORCE_COLOR": None}


def invoke(*args: str | Path) -> Result:
    return CliRunner(env=ENV).invoke(main, [str(a) for a in args])


def pairs(stdout: str, title: str) -> dict[str, str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out = {}
    for line in lines[start + 1 :]:
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            out[cells[0]] = cells[1]
        elif line.startswith("└"):
            return out
    raise AssertionError(title)


@pytest.fixture(scope="module")
def subs_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, Path]:
    rng = np.random.default_rng(2)
    model = models.ShiftedBetaGeometricModel.from_params(alpha=1.5, beta=4.0)
    rows = []
    for k in range(12):  # monthly cohorts of 2023
        sim = model.simulate(150, 24, seed=k)
        for life, churned in sim.iter_rows():
            day = int(rng.integers(1, 29))
            start = dt.date(2023, k + 1, day)
            index = 2023 * 12 + k + life
            end = dt.date(index // 12, index % 12 + 1, day) if churned else None
            rows.append((len(rows), start, end))
    subs = pl.DataFrame(
        rows, schema={"client": pl.Int64, "start": pl.Date, "end": pl.Date}, orient="row"
    ).with_columns(
        pl.when(pl.col("end") > dt.date(2024, 6, 30)).then(None).otherwise(pl.col("end"))
    )
    path = tmp_path_factory.mktemp("subs") / "subs.csv"
    subs.write_csv(path)
    return subs, path


def test_subscription_section_alone(subs_csv: tuple[pl.DataFrame, Path], tmp_path: Path) -> None:
    subs, path = subs_csv
    out = tmp_path / "out"
    result = invoke("report", "--subscriptions", path, "--customer-id", "client", "--out", out)
    assert result.exit_code == 0, (result.stderr, repr(result.exception))
    overview = pairs(result.stdout, "Subscriptions overview")
    lives = tables.subscription_lifetimes(subs, customer_id="client")
    assert int(overview["subscriptions"]) == subs.height
    assert int(overview["cancelled"]) == int(lives["churned"].sum())
    fits = pairs(result.stdout, "Retention models")
    sbg = models.ShiftedBetaGeometricModel.fit(lives["lifetime"], lives["churned"])
    assert fits["sBG"] == repr(sbg)
    d = 1.1 ** (1 / 12) - 1
    assert float(fits["sBG DEL (payments)"]) == pytest.approx(
        sbg.expected_lifetime(discount_rate=d), rel=1e-3
    )
    for name in ("survival_table", "retention_projection", "subscription_value"):
        assert (out / f"{name}.parquet").exists()
    written = pl.read_parquet(out / "survival_table.parquet")
    assert written.equals(tables.survival_table(subs, customer_id="client"))
    value = pl.read_parquet(out / "subscription_value.parquet")
    assert value["sBG DERL (payments)"].to_list() == pytest.approx(
        sbg.expected_residual_lifetime([0, 1, 3, 6, 12], discount_rate=d).tolist(), rel=1e-9
    )
    html = (out / "subscriptions.html").read_text(encoding="utf-8")
    assert "Projected survival and retention" in html
    assert (out / "retention_projection_sbg.png").read_bytes()[:4] == b"\x89PNG"


def test_subscription_section_after_the_transactions(
    subs_csv: tuple[pl.DataFrame, Path], tmp_path: Path
) -> None:
    subs, _ = subs_csv
    path = tmp_path / "subs.csv"
    subs.rename({"client": "customer_id"}).write_csv(path)
    log = datasets.simulate_transactions(
        200, start=dt.date(2023, 1, 1), end=dt.date(2024, 1, 1), seed=3
    )
    orders = tmp_path / "orders.parquet"
    log.write_parquet(orders)
    result = invoke("report", orders, "--subscriptions", path)
    assert result.exit_code == 0, (result.stderr, repr(result.exception))
    # the loyalty report first, then the subscription section (--customer-id names both)
    assert 0 < result.stdout.index("Overview") < result.stdout.index("Subscriptions overview")


def test_bad_subscription_file(subs_csv: tuple[pl.DataFrame, Path], tmp_path: Path) -> None:
    _, path = subs_csv
    result = invoke("report", "--subscriptions", path)
    assert result.exit_code == 1
    assert "no customer id column 'customer_id'" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,start,end\n1,2024-03-01,2024-02-01\n", encoding="utf-8")
    result = invoke("report", "--subscriptions", bad)
    assert result.exit_code == 1
    assert "a start after an end" in result.stderr
    result = invoke("report", "--subscriptions", tmp_path / "missing.csv")
    assert "subscriptions file not found" in result.stderr
