"""The ``loyaltymetrics`` command (optional extra: ``pip install "loyaltymetrics[cli]"``).

``loyaltymetrics report --sample`` prints the loyalty dashboard of the embedded CDNOW
log with a seeded synthetic survey; ``loyaltymetrics report ORDERS.csv`` does the same
for your own log (CSV or Parquet, one row per order).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

try:
    import click
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'the loyaltymetrics command needs click and rich: pip install "loyaltymetrics[cli]"'
    ) from err

import polars as pl

from . import __version__
from ._report import (
    ColumnNames,
    Report,
    ReportError,
    build_report,
    cohort_matrix,
    figures,
    prepare_log,
    read_table,
    sample_survey,
    segment_overview,
    to_html,
)

__all__ = ["main"]


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:,.4g}"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _table(df: pl.DataFrame, title: str, *, columns: list[str] | None = None) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    shown = columns or df.columns
    for c in shown:
        t.add_column(c, justify="right" if df.schema[c].is_numeric() else "left", no_wrap=True)
    for row in df.select(shown).iter_rows():
        t.add_row(*(_fmt(v) for v in row))
    return t


def _pairs(pairs: dict[str, object], title: str) -> Table:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("", style="bold")
    t.add_column("", justify="right")
    for k, v in pairs.items():
        t.add_row(k, _fmt(v))
    return t


def _survey_display(report: Report) -> pl.DataFrame:
    assert report.survey is not None
    t = report.survey
    keys = [report.survey_by] if report.survey_by else []
    shown: list[pl.Expr] = [pl.col(k) for k in keys]
    for m, digits in (("nps", 1), ("csat", 3), ("ces", 2)):
        if m in t.columns:
            shown.append(
                pl.format(
                    "{} [{}, {}] ({})",
                    pl.col(m).round(digits),
                    pl.col(f"{m}_low").round(digits),
                    pl.col(f"{m}_high").round(digits),
                    pl.col(f"{m}_n"),
                ).alias(m.upper())
            )
    return t.select(shown)


def _print_report(console: Console, report: Report, *, label: str) -> None:
    console.rule(f"[bold]Loyalty report: {label}")
    console.print(_pairs(report.overview, "Overview"))
    periods = report.periods.tail(12).select(
        pl.col("period"),
        pl.col("customers_start").alias("start"),
        pl.col("customers_new").alias("new"),
        pl.col("customers_reactivated").alias("back"),
        pl.col("customers_lost").alias("lost"),
        pl.col("customers_end").alias("end"),
        pl.col("retention_rate").alias("retention"),
        pl.col("churn_rate").alias("churn"),
        pl.col("orders"),
        pl.col("average_order_value").alias("AOV"),
    )
    console.print(
        _table(
            periods,
            "Customer base by period (last 12): retention = (end − new − back)/start, "
            "churn = lost/start",
        )
    )
    console.print(_table(cohort_matrix(report.cohorts), "Cohort retention, % active by period"))
    console.print(_table(report.segments, "RFM segments"))
    if report.clv_summary:
        console.print(_pairs(report.clv_summary, "CLV: BG/NBD + Gamma-Gamma, 12 months"))
        top = report.top_customers.rename(
            {"monetary_value": "mean_value", "expected_purchases_52w": "purchases_52w"}
        )
        console.print(_table(top, "Top 10 customers by 12-month CLV (RFM in weeks)"))
    if report.holdout is not None:
        ev = report.holdout
        console.print(
            _table(
                ev.by_frequency,
                "Model check: holdout purchases by calibration frequency "
                f"(total actual {ev.actual_total:,.0f}, predicted {ev.predicted_total:,.0f})",
            )
        )
    if report.survey is not None:
        console.print(_table(_survey_display(report), "Survey metrics [95 % interval] (answers)"))
    if report.segment_by is not None and report.segment_periods is not None:
        console.print(
            _table(
                segment_overview(report.segment_periods, report.segment_by),
                f"Retention by {report.segment_by}: customers are (customer, segment) pairs; "
                "pooled retention = Σ(end − new − back)/Σ start",
            )
        )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")


def _write(report: Report, out: Path, fmt: str, console: Console, label: str) -> None:
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out must be a directory; {out} is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(f"cannot create the output directory {out}: {err}") from err
    for name, df in report.tables().items():
        if fmt == "parquet":
            df.write_parquet(out / f"{name}.parquet")
        else:
            df.write_csv(out / f"{name}.csv")
    try:
        pngs = figures(report)
    except ImportError:
        console.print('[yellow]note:[/] figures skipped: pip install "loyaltymetrics[plot]"')
        pngs = {}
    for name, data in pngs.items():
        (out / f"{name}.png").write_bytes(data)
    (out / "report.html").write_text(
        to_html(report, pngs, title=f"Loyalty report: {label}"), encoding="utf-8"
    )
    console.print(
        f"wrote {len(report.tables())} tables, {len(pngs)} figures and report.html to {out}"
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loyaltymetrics")
def main() -> None:
    """Customer-loyalty metrics from a transaction log and a survey."""


@main.command()
@click.argument("transactions", required=False, type=click.Path(path_type=Path))
@click.option("--sample", is_flag=True, help="Use the embedded CDNOW log and a seeded survey.")
@click.option("--survey", type=click.Path(path_type=Path), help="Survey file (CSV/Parquet).")
@click.option("--customer-id", default="customer_id", show_default=True)
@click.option("--timestamp", default="timestamp", show_default=True)
@click.option("--amount", default="amount", show_default=True)
@click.option("--period", default="1mo", show_default=True, help="Period: 1d, 1w, 1mo, 1q, 1y.")
@click.option(
    "--segment", default=None, help="Survey column to group by (default: channel, segment or none)."
)
@click.option(
    "--segment-by",
    default=None,
    metavar="COLUMN",
    help="Order-log column (store, channel, ...) to show retention by.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write tables, PNGs and HTML.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv"]),
    default="parquet",
    show_default=True,
    help="Table format for --out.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--subscriptions",
    type=click.Path(path_type=Path),
    help="Subscription log (CSV/Parquet: customer id, start, end) for a retention section.",
)
@click.option("--start", "start_col", default="start", show_default=True)
@click.option("--end", "end_col", default="end", show_default=True)
def report(
    transactions: Path | None,
    sample: bool,
    survey: Path | None,
    customer_id: str,
    timestamp: str,
    amount: str,
    period: str,
    segment: str | None,
    segment_by: str | None,
    out: Path | None,
    fmt: str,
    debug: bool,
    subscriptions: Path | None,
    start_col: str,
    end_col: str,
) -> None:
    """Print the loyalty dashboard of TRANSACTIONS (one row per order).

    With --subscriptions (alone or with TRANSACTIONS) it adds the subscription section:
    survival table, sBG and BdW fits, projected retention and DEL/DERL.
    """
    console = Console() if sys.stdout.isatty() else Console(width=120)
    err_console = Console(stderr=True)
    try:
        if subscriptions is None or transactions is not None or sample:
            _run(
                console,
                transactions,
                sample,
                survey,
                ColumnNames(customer_id, timestamp, amount),
                period,
                segment,
                out,
                fmt,
                segment_by=segment_by,
            )
        if subscriptions is not None:
            _run_subscriptions(
                console, subscriptions, customer_id, start_col, end_col, period, out, fmt
            )
    except (ReportError, ValueError, TypeError, pl.exceptions.PolarsError) as err:
        if debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        # plain text, never markup, never wrapped: the message may quote user data
        err_console.print(
            Text("error: ", style="bold red") + Text(message), soft_wrap=True, highlight=False
        )
        sys.exit(1)


def _run(
    console: Console,
    transactions: Path | None,
    sample: bool,
    survey_path: Path | None,
    cols: ColumnNames,
    period: str,
    segment: str | None,
    out: Path | None,
    fmt: str,
    *,
    segment_by: str | None = None,
) -> None:
    from . import datasets

    if sample == (transactions is not None):
        raise ReportError("give a TRANSACTIONS file or --sample (not both)")
    if sample and survey_path is not None:
        raise ReportError("--sample brings its own survey; drop --survey or --sample")
    if out is not None and out.exists() and not out.is_dir():
        raise ReportError(f"--out must be a directory; {out} is a file")
    with console.status("reading the transactions") as status:
        if sample:
            log = datasets.load_cdnow().select("customer_id", "timestamp", "amount")
            cols = ColumnNames()
            label = "CDNOW sample data (23,570 customers, 1997–1998) + simulated survey"
        else:
            assert transactions is not None
            log = prepare_log(read_table(transactions, "transactions"), cols)
            label = transactions.name
        if segment_by is not None and segment_by not in log.columns:
            raise ReportError(
                f"--segment-by: the transactions have no column {segment_by!r}; the columns "
                f"are {', '.join(log.columns)}"
            )
        survey: pl.DataFrame | None = None
        metrics: dict[str, Any] = {}
        by = segment
        if sample:
            survey = sample_survey(log.get_column("customer_id"))
        elif survey_path is not None:
            survey = read_table(survey_path, "survey").collect()
            if survey.height == 0:
                raise ReportError(f"the survey file has no rows: {survey_path}")
        if survey is not None:
            metrics = {m: m for m in ("nps", "csat", "ces") if m in survey.columns}
            if not metrics:
                raise ReportError(
                    "the survey has none of the columns nps, csat, ces; the columns are "
                    f"{', '.join(survey.columns)}"
                )
            if by is None:
                by = next((c for c in ("channel", "segment") if c in survey.columns), None)
            elif by not in survey.columns:
                raise ReportError(
                    f"the survey has no column {by!r}; the columns are {', '.join(survey.columns)}"
                )

        def step(name: str) -> None:
            status.update(f"computing {name}")

        result = build_report(
            log,
            cols,
            period=period,
            survey=survey,
            survey_by=by,
            survey_metrics=metrics,
            step=step,
            segment_by=segment_by,
        )
        if out is not None:
            status.update("writing tables and figures")
    _print_report(console, result, label=label)
    if out is not None:
        _write(result, out, fmt, console, label)


def _run_subscriptions(
    console: Console,
    path: Path,
    customer_id: str,
    start: str,
    end: str,
    period: str,
    out: Path | None,
    fmt: str,
) -> None:
    """The subscription section: printed, and written to ``--out`` with its own HTML."""
    from ._report import (
        build_subscription_section,
        prepare_subscriptions,
        subscription_figures,
        subscription_html,
    )

    if out is not None and out.exists() and not out.is_dir():
        raise ReportError(f"--out must be a directory; {out} is a file")
    with console.status("reading the subscriptions") as status:
        subs = prepare_subscriptions(
            read_table(path, "subscriptions"), customer_id=customer_id, start=start, end=end
        )
        status.update("fitting the sBG and BdW models")
        section = build_subscription_section(
            subs, customer_id=customer_id, start=start, end=end, period=period
        )
    console.rule(f"[bold]Subscriptions: {path.name}")
    console.print(_pairs(section.overview, "Subscriptions overview"))
    console.print(_pairs(section.fits, "Retention models (sBG, BdW; DEL in payments)"))
    console.print(
        _table(section.projection, "Projected survival and retention by period (renewals)")
    )
    console.print(_table(section.value, "DERL by renewals made (discounted payments to come)"))
    survival = section.survival.tail(24)
    console.print(_table(survival, "Survival table by start cohort (last 24 rows)"))
    for note in section.notes:
        console.print(f"[yellow]note:[/] {note}")
    if out is None:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(f"cannot create the output directory {out}: {err}") from err
    for name, df in section.tables().items():
        if fmt == "parquet":
            df.write_parquet(out / f"{name}.parquet")
        else:
            df.write_csv(out / f"{name}.csv")
    try:
        pngs = subscription_figures(section)
    except ImportError:
        pngs = {}
    for name, data in pngs.items():
        (out / f"{name}.png").write_bytes(data)
    (out / "subscriptions.html").write_text(
        subscription_html(section, pngs, title=f"Subscriptions: {path.name}"), encoding="utf-8"
    )
    console.print(
        f"wrote {len(section.tables())} tables, {len(pngs)} figures and subscriptions.html to {out}"
    )
