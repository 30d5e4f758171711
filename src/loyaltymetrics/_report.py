"""The loyalty report: every table of the dashboard from one transaction log (and survey)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from . import models, tables

_WEEK = 7.0
_YEAR_DAYS = 364.0  # 52 weeks: the horizon of the expected purchases


class ReportError(ValueError):
    """A problem with the report's input that the user can fix (one-line message)."""


@dataclass(frozen=True, slots=True)
class ColumnNames:
    """The input's column names."""

    customer_id: str = "customer_id"
    timestamp: str = "timestamp"
    amount: str = "amount"


@dataclass(slots=True)
class Report:
    """The report's tables and headline figures, in the order they are shown."""

    overview: dict[str, object]
    periods: pl.DataFrame
    cohorts: pl.DataFrame
    segments: pl.DataFrame
    clv_summary: dict[str, object]
    top_customers: pl.DataFrame
    holdout: models.HoldoutEvaluation | None
    transaction_model: models.BetaGeoModel | None
    survey: pl.DataFrame | None = None
    survey_by: str | None = None
    notes: list[str] = field(default_factory=list)
    t_max: float = 0.0
    # --segment-by: the period and cohort tables by a column of the order log
    segment_by: str | None = None
    segment_periods: pl.DataFrame | None = None
    segment_cohorts: pl.DataFrame | None = None

    def tables(self) -> dict[str, pl.DataFrame]:
        """The tables written by ``--out``."""
        out = {
            "periods": self.periods,
            "cohorts": self.cohorts,
            "rfm_segments": self.segments,
            "top_customers": self.top_customers,
        }
        if self.survey is not None:
            out["survey"] = self.survey
        if self.holdout is not None:
            out["holdout_by_frequency"] = self.holdout.by_frequency
        if self.segment_periods is not None and self.segment_cohorts is not None:
            out["periods_by_segment"] = self.segment_periods
            out["cohorts_by_segment"] = self.segment_cohorts
        return out


def read_table(path: Path, what: str) -> pl.LazyFrame:
    """Scan a CSV or Parquet file lazily; ``ReportError`` for a missing or empty file."""
    if not path.exists():
        raise ReportError(f"{what} file not found: {path}")
    if path.is_dir():
        raise ReportError(f"{what} path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise ReportError(f"{what} file is empty: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.scan_parquet(path, glob=False)
        if suffix in (".csv", ".txt", ".tsv"):
            return pl.scan_csv(
                path,
                try_parse_dates=True,
                separator="\t" if suffix == ".tsv" else ",",
                glob=False,
            )
    except pl.exceptions.PolarsError as err:
        raise ReportError(f"cannot read {what} file {path}: {err}") from err
    raise ReportError(f"{what} file must be .csv, .tsv or .parquet; got {path.name!r}")


def prepare_log(lf: pl.LazyFrame, cols: ColumnNames) -> pl.DataFrame:
    """Check the log's columns and parse the timestamp; return it in memory."""
    try:
        schema = lf.collect_schema()
        empty = lf.head(1).collect().height == 0
    except pl.exceptions.PolarsError as err:
        raise ReportError(f"cannot read the transactions: {err}") from err
    if empty:
        raise ReportError("the transactions file has no rows")
    for role, name in (
        ("customer id", cols.customer_id),
        ("timestamp", cols.timestamp),
        ("amount", cols.amount),
    ):
        if name not in schema:
            raise ReportError(
                f"the transactions have no {role} column {name!r}; the columns are "
                f"{', '.join(schema.names())} (choose with --{role.replace(' ', '-')})"
            )
    ts = schema[cols.timestamp]
    if ts == pl.String:
        lf = lf.with_columns(pl.col(cols.timestamp).str.to_datetime(strict=False).alias("__ts"))
    elif isinstance(ts, pl.Date | pl.Datetime):
        lf = lf.with_columns(pl.col(cols.timestamp).alias("__ts"))
    else:
        raise ReportError(
            f"timestamp column {cols.timestamp!r} has type {ts}; expected dates or datetimes"
        )
    if not schema[cols.amount].is_numeric():
        raise ReportError(
            f"amount column {cols.amount!r} has type {schema[cols.amount]}; expected numbers"
        )
    try:
        df = lf.collect()
    except pl.exceptions.PolarsError as err:
        raise ReportError(f"cannot read the transactions: {err}") from err
    if df.height == 0:
        raise ReportError("the transactions file has no rows")
    bad = df.filter(pl.col("__ts").is_null() & pl.col(cols.timestamp).is_not_null())
    if bad.height:
        example = bad.get_column(cols.timestamp)[0]
        raise ReportError(
            f"cannot parse {bad.height} timestamp(s) in column {cols.timestamp!r}, "
            f"e.g. {example!r}; use ISO dates such as 2024-01-31"
        )
    df = df.with_columns(pl.col("__ts").alias(cols.timestamp)).drop("__ts")
    nulls = df.select(pl.col(cols.customer_id, cols.timestamp, cols.amount).null_count()).row(0)
    for name, n in zip((cols.customer_id, cols.timestamp, cols.amount), nulls, strict=True):
        if n:
            raise ReportError(f"column {name!r} has {n} empty value(s); fill or drop them first")
    return df


def sample_survey(customer_ids: pl.Series, *, seed: int = 7, n: int = 2000) -> pl.DataFrame:
    """A seeded synthetic survey of `n` customers: channel, NPS 0–10, CSAT 1–5, CES 1–7."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(customer_ids.unique().sort().to_numpy(), size=n, replace=False)
    channels = np.array(["web", "store", "app", "phone"])
    channel = rng.choice(channels, size=n, p=[0.45, 0.25, 0.2, 0.1])
    mood = {"web": 0.3, "store": 0.6, "app": 0.1, "phone": -0.4}
    tilt = np.array([mood[c] for c in channel]) + rng.normal(0.0, 1.0, n)
    nps = np.clip(np.rint(7.8 + 1.6 * tilt), 0, 10).astype(np.int64)
    csat = np.clip(np.rint(3.9 + 0.8 * tilt), 1, 5).astype(np.int64)
    ces = np.clip(np.rint(5.2 + 0.9 * tilt), 1, 7).astype(np.int64)
    return pl.DataFrame(
        {"customer_id": ids, "channel": channel, "nps": nps, "csat": csat, "ces": ces}
    )


def build_report(
    log: pl.DataFrame,
    cols: ColumnNames,
    *,
    period: str = "1mo",
    survey: pl.DataFrame | None = None,
    survey_by: str | None = None,
    survey_metrics: dict[str, str] | None = None,
    step: Callable[[str], None] = lambda _: None,
    segment_by: str | None = None,
) -> Report:
    """Compute every section of the report (the ``step`` callback names each stage).

    With `segment_by` (a column of the log), the period and cohort tables are also
    computed by that column (``by=``; a customer who buys in two segments counts in both).
    """
    cid, ts, amt = cols.customer_id, cols.timestamp, cols.amount
    end = log.get_column(ts).max()
    start = log.get_column(ts).min()
    assert isinstance(end, dt.date)
    assert isinstance(start, dt.date)
    end_date = end.date() if isinstance(end, dt.datetime) else end
    start_date = start.date() if isinstance(start, dt.datetime) else start

    step("customer base by period")
    periods = tables.period_summary(log, customer_id=cid, timestamp=ts, amount=amt, period=period)
    customers = tables.customer_summary(log, customer_id=cid, timestamp=ts, amount=amt)
    n_customers = customers.height
    orders = log.height
    revenue = float(log.get_column(amt).sum())
    repeaters = int((customers.get_column("orders") >= 2).sum())
    overview: dict[str, object] = {
        "first order": start_date,
        "last order": end_date,
        "orders": orders,
        "customers": n_customers,
        "revenue": revenue,
        "average order value": revenue / orders,
        "purchase frequency (orders per customer)": orders / n_customers,
        "repeat purchase rate": repeaters / n_customers,
    }

    step("cohort retention")
    cohorts = tables.cohort_retention(log, customer_id=cid, timestamp=ts, period=period)

    step("RFM segments")
    rfm = tables.rfm_summary(
        log, customer_id=cid, timestamp=ts, amount=amt, time_unit="D", time_scaler=_WEEK
    )
    scored = tables.rfm_segments(rfm)
    segments = (
        scored.group_by("segment")
        .agg(
            pl.len().alias("customers"),
            pl.col("monetary_value").mean().alias("mean_repeat_value"),
            pl.col("frequency").mean().alias("mean_repeat_purchases"),
        )
        .with_columns((pl.col("customers") / n_customers).alias("share"))
        .sort("segment")
    )

    step("CLV models (BG/NBD + Gamma-Gamma)")
    notes: list[str] = []
    clv_summary: dict[str, object] = {}
    top = pl.DataFrame()
    bg: models.BetaGeoModel | None = None
    holdout: models.HoldoutEvaluation | None = None
    x = rfm.get_column("frequency").to_numpy()
    try:
        bg = models.BetaGeoModel.fit(x, rfm.get_column("recency"), rfm.get_column("T"))
        repeat = rfm.filter(pl.col("frequency") > 0)
        # the library's nonpositive_spend policy, stated with its count
        free = int((repeat.get_column("monetary_value") <= 0).sum())
        if free:
            notes.append(
                f"{free} repeat customer(s) with a mean repeat order value <= 0 (free orders "
                "or refunds) are left out of the Gamma-Gamma fit; their CLV values their "
                "expected purchases at the population mean spend "
                "(nonpositive_spend='population_mean')"
            )
        spendable = repeat.filter(pl.col("monetary_value") > 0)
        gg = models.GammaGammaModel.fit(spendable["frequency"], spendable["monetary_value"])
        clv = models.customer_lifetime_value(
            bg,
            gg,
            rfm["frequency"],
            rfm["recency"],
            rfm["T"],
            rfm["monetary_value"],
            time_unit="D",  # the unit of the RFM table above: days / 7 = weeks
            time_scaler=_WEEK,
            horizon=12,
            discount_rate=0.01,
            nonpositive_spend="population_mean",
        )
        alive = bg.p_alive(rfm["frequency"], rfm["recency"], rfm["T"])
        # the model is in the RFM table's unit (days / _WEEK): 364 days is 52 of them
        expected = bg.expected_purchases(
            _YEAR_DAYS / _WEEK, rfm["frequency"], rfm["recency"], rfm["T"]
        )
        clv_summary = {
            "BG/NBD (weeks)": repr(bg),
            "Gamma-Gamma": repr(gg),
            "total 12-month CLV": float(clv.sum()),
            "mean 12-month CLV": float(clv.mean()),
            "customers likely alive (P(alive) > 0.5)": float((alive > 0.5).mean()),
            "expected purchases next 52 weeks": float(expected.sum()),
            "repeat customers with mean value <= 0 (valued at the mean spend)": free,
        }
        # Issue 20: the two totals with their intervals. The CLV's is a confidence interval
        # (parameter uncertainty of both models, delta method); the purchases' a
        # prediction interval (parameter and process draws): about 0.2 us of CPU per
        # customer-draw, so the draws are capped at 2e7 customer-draws (200 draws up to
        # 100,000 customers, at least 40: about 8 CPU seconds at 1M customers).
        from loyaltymetrics.models._clv_interval import total_clv_interval

        rfm_cols = (rfm["frequency"], rfm["recency"], rfm["T"])
        clv_ci = total_clv_interval(
            bg,
            gg,
            *rfm_cols,
            rfm["monetary_value"],
            time_unit="D",
            time_scaler=_WEEK,
            horizon=12,
            discount_rate=0.01,
            nonpositive_spend="population_mean",
        )
        draws = max(40, min(200, 20_000_000 // max(rfm.height, 1)))
        purchases_pi = bg.predict_total(_YEAR_DAYS / _WEEK, *rfm_cols, n_draws=draws, seed=0)
        clv_summary["total 12-month CLV, 95 % confidence interval"] = (
            f"{clv_ci.low:,.0f} to {clv_ci.high:,.0f}"
        )
        clv_summary["purchases next 52 weeks, 95 % prediction interval"] = (
            f"{purchases_pi.low:,.0f} to {purchases_pi.high:,.0f}"
        )
        top = (
            rfm.select(cid, "frequency", "recency", "T", "monetary_value")
            .with_columns(
                pl.Series("p_alive", alive),
                pl.Series("expected_purchases_52w", expected),
                pl.Series("clv_12m", clv),
            )
            .sort("clv_12m", descending=True)
            .head(10)
        )
    except (models.ConvergenceError, ValueError) as err:
        notes.append(f"CLV models skipped: {err}")
    span_days = (end_date - start_date).days
    if bg is not None and span_days >= 60:
        step("model check on a holdout period")
        cal_end = start_date + dt.timedelta(days=span_days // 2)
        try:
            split = tables.calibration_holdout_split(
                log,
                calibration_end=cal_end,
                holdout_end=end_date,
                customer_id=cid,
                timestamp=ts,
                time_scaler=_WEEK,
            )
            cal_model = models.BetaGeoModel.fit(
                split["frequency_cal"], split["recency_cal"], split["T_cal"]
            )
            holdout = models.evaluate_holdout(cal_model, split, customer_id=cid)
        except (models.ConvergenceError, ValueError) as err:
            notes.append(f"holdout check skipped: {err}")

    survey_table = None
    if survey is not None:
        step("survey metrics with intervals")
        metrics = survey_metrics or {}
        survey_table = tables.survey_summary(
            survey,
            by=survey_by,
            nps=metrics.get("nps"),
            csat=metrics.get("csat"),
            ces=metrics.get("ces"),
        )
    segment_periods = segment_cohorts = None
    if segment_by is not None:
        step(f"retention by {segment_by}")
        segment_periods = tables.period_summary(
            log, customer_id=cid, timestamp=ts, amount=amt, period=period, by=segment_by
        )
        segment_cohorts = tables.cohort_retention(
            log, customer_id=cid, timestamp=ts, period=period, by=segment_by
        )
    return Report(
        segment_by=segment_by,
        segment_periods=segment_periods,
        segment_cohorts=segment_cohorts,
        overview=overview,
        periods=periods,
        cohorts=cohorts,
        segments=segments,
        clv_summary=clv_summary,
        top_customers=top,
        holdout=holdout,
        transaction_model=bg,
        t_max=float(rfm.get_column("T").max() or 0.0),  # type: ignore[arg-type]
        survey=survey_table,
        survey_by=survey_by,
        notes=notes,
    )


def cohort_matrix(
    cohorts: pl.DataFrame, *, max_periods: int = 7, max_cohorts: int = 12
) -> pl.DataFrame:
    """The long cohort table as a compact wide matrix of retention percentages."""
    small = cohorts.filter(pl.col("period_index") < max_periods)
    first = small.get_column("cohort").unique().sort().head(max_cohorts)
    return (
        small.filter(pl.col("cohort").is_in(first.implode()))
        .with_columns((pl.col("retention") * 100).round(1).alias("pct"))
        .pivot(on="period_index", index=["cohort", "cohort_size"], values="pct")
        .sort("cohort")
    )


def segment_overview(periods: pl.DataFrame, by: str) -> pl.DataFrame:
    r"""One row per segment of a ``period_summary(..., by=by)`` table.

    Customers are the (customer, segment) pairs (the new ones over all periods), the
    pooled retention is $\sum_t (E_t - N_t - R_t) / \sum_t S_t$ over the periods (not the
    mean of the rates), and the last period's retention is the latest rate.
    """
    kept = pl.col("customers_end") - pl.col("customers_new") - pl.col("customers_reactivated")
    start = pl.col("customers_start").sum()
    return periods.group_by(by, maintain_order=True).agg(
        pl.col("customers_new").sum().alias("customers"),
        pl.col("orders").sum(),
        pl.col("revenue").sum(),
        pl.when(start > 0).then(kept.sum() / start).alias("retention_pooled"),
        pl.col("retention_rate").last().alias("retention_last_period"),
    )


def figures(report: Report) -> dict[str, bytes]:
    """PNG bytes of each figure (needs matplotlib)."""
    from . import plot

    out: dict[str, bytes] = {}

    def png(ax: object) -> bytes:
        buf = io.BytesIO()
        ax.figure.savefig(buf, format="png", dpi=110)  # type: ignore[attr-defined]
        return buf.getvalue()

    out["cohort_heatmap"] = png(plot.cohort_heatmap(report.cohorts, max_periods=13))
    if report.periods.height > 1:  # the first period has no start base
        out["retention_curve"] = png(plot.retention_curve(report.periods.slice(1)))
    if report.survey is not None and report.survey_by and "nps" in report.survey.columns:
        out["nps_by_segment"] = png(plot.nps_by_segment(report.survey, by=report.survey_by))
    if report.transaction_model is not None and report.t_max > 0:
        out["p_alive_matrix"] = png(
            plot.p_alive_matrix(report.transaction_model, T=math.ceil(report.t_max))
        )
    if report.holdout is not None:
        out["calibration_holdout"] = png(plot.calibration_holdout(report.holdout))
    if report.segment_by is not None and report.segment_cohorts is not None:
        facets = plot.cohort_heatmap(report.segment_cohorts, by=report.segment_by, max_periods=13)
        out["cohort_heatmap_by_segment"] = png(facets[0])
    if report.segment_by is not None and report.segment_periods is not None:
        shared = report.segment_periods.filter(  # the first period has no start base
            pl.col("period") > pl.col("period").min()
        )
        if shared.height:
            out["retention_by_segment"] = png(plot.retention_curve(shared, by=report.segment_by))
    return out


_MISSING = "–"  # an en dash for a null (or NaN) cell: "None" or "nan" read as data


def _html_value(value: object) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, float):
        if math.isnan(value):
            return _MISSING
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return html.escape(str(value))


def _scrolling(table: str) -> str:
    # a wide table (the cohort matrix, the holdout table by frequency) scrolls inside its
    # own box instead of widening the page; the box is focusable so that it scrolls from
    # the keyboard too
    return f'<div class="table-scroll" tabindex="0">{table}</div>'


def _html_table(df: pl.DataFrame) -> str:
    if not df.columns:
        return ""
    head = "".join(f'<th scope="col">{html.escape(c)}</th>' for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_html_value(v)}</td>" for v in row) + "</tr>"
        for row in df.iter_rows()
    )
    return _scrolling(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _html_pairs(pairs: dict[str, object]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{html.escape(k)}</th><td>{_html_value(v)}</td></tr>'
        for k, v in pairs.items()
    )
    return _scrolling(f"<table><tbody>{rows}</tbody></table>")


def to_html(report: Report, pngs: dict[str, bytes], *, title: str) -> str:
    """One self-contained HTML page: tables inline, figures as data URIs."""

    def img(name: str) -> str:
        if name not in pngs:
            return ""
        data = base64.b64encode(pngs[name]).decode("ascii")
        alt = html.escape(name.replace("_", " "))
        return f'<img alt="{alt}" src="data:image/png;base64,{data}">'

    parts = [
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Overview</h2>",
        _html_pairs(report.overview),
        "<h2>Customer base by period</h2>",
        img("retention_curve"),
        _html_table(report.periods),
        "<h2>Cohort retention (%)</h2>",
        img("cohort_heatmap"),
        _html_table(cohort_matrix(report.cohorts)),
        "<h2>RFM segments</h2>",
        _html_table(report.segments),
    ]
    if report.clv_summary:
        parts += [
            "<h2>CLV (BG/NBD + Gamma-Gamma, 12 months, 1 % monthly discount)</h2>",
            _html_pairs(report.clv_summary),
            img("p_alive_matrix"),
            "<h3>Top customers by CLV</h3>",
            _html_table(report.top_customers),
        ]
    if report.holdout is not None:
        parts += [
            "<h3>Model check on a holdout period</h3>",
            img("calibration_holdout"),
            _html_table(report.holdout.by_frequency),
        ]
    if report.survey is not None:
        parts += [
            "<h2>Survey metrics with 95 % intervals</h2>",
            img("nps_by_segment"),
            _html_table(report.survey),
        ]
    if report.segment_by is not None and report.segment_periods is not None:
        parts += [
            f"<h2>Retention by {html.escape(report.segment_by)}</h2>",
            img("retention_by_segment"),
            _html_table(segment_overview(report.segment_periods, report.segment_by)),
            img("cohort_heatmap_by_segment"),
        ]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in report.notes]
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.85em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "img{max-width:100%}"
        ".table-scroll{overflow-x:auto;max-width:100%}"
        ".table-scroll table{margin:0.5em 0}"
        "td,th{white-space:nowrap}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )


# -- the subscription section (``report --subscriptions``) ---------------------------------

_PERIODS_PER_YEAR = {"D": 365.25, "W": 365.25 / 7, "M": 12.0, "Q": 4.0, "Y": 1.0}
_ANNUAL_DISCOUNT = 0.10
_RENEWALS_SHOWN = (0, 1, 3, 6, 12)
_PROJECTED = 6  # periods projected beyond the last one observed


@dataclass(slots=True)
class SubscriptionSection:
    """The subscription section: lifetimes, Kaplan–Meier, sBG and BdW, DEL/DERL."""

    overview: dict[str, object]
    survival: pl.DataFrame  # tables.survival_table
    projection: pl.DataFrame  # period, observed (KM), sbg, bdw and their retention rates
    fits: dict[str, object]
    value: pl.DataFrame  # renewals, DERL under sBG and BdW
    sbg: models.ShiftedBetaGeometricModel | None
    bdw: models.BetaDiscreteWeibullModel | None
    km: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, pl.DataFrame]:
        """The tables written by ``--out``."""
        return {
            "survival_table": self.survival,
            "retention_projection": self.projection,
            "subscription_value": self.value,
        }


def prepare_subscriptions(
    lf: pl.LazyFrame, *, customer_id: str, start: str, end: str
) -> pl.DataFrame:
    """Check a subscription file's columns and parse its dates; return it in memory."""
    try:
        df = lf.collect()
    except pl.exceptions.PolarsError as err:
        raise ReportError(f"cannot read the subscriptions: {err}") from err
    if df.height == 0:
        raise ReportError("the subscriptions file has no rows")
    for role, name in (("customer id", customer_id), ("start", start), ("end", end)):
        if name not in df.columns:
            raise ReportError(
                f"the subscriptions have no {role} column {name!r}; the columns are "
                f"{', '.join(df.columns)} (choose with --{role.replace(' ', '-')})"
            )
    for name in (start, end):
        dtype = df.schema[name]
        if dtype in (pl.String, pl.Null):
            parsed = df.get_column(name).cast(pl.String).str.to_datetime(strict=False)
            bad = df.filter(parsed.is_null() & df.get_column(name).is_not_null())
            if bad.height:
                raise ReportError(
                    f"cannot parse {bad.height} date(s) in column {name!r}, e.g. "
                    f"{bad.get_column(name)[0]!r}; use ISO dates such as 2024-01-31"
                )
            df = df.with_columns(parsed.alias(name))
        elif not isinstance(dtype, pl.Date | pl.Datetime):
            raise ReportError(f"column {name!r} has type {dtype}; expected dates or datetimes")
    return df


def _discount_per_period(period: str) -> float:
    from ._periods import parse_period

    unit, n = parse_period(period)
    return float((1.0 + _ANNUAL_DISCOUNT) ** (n / _PERIODS_PER_YEAR[unit]) - 1.0)


def build_subscription_section(
    subs: pl.DataFrame, *, customer_id: str, start: str, end: str, period: str
) -> SubscriptionSection:
    """Survival table, Kaplan–Meier curve, sBG and BdW fits, projection and DEL/DERL."""
    from . import stats

    lives = tables.subscription_lifetimes(
        subs, customer_id=customer_id, start=start, end=end, period=period
    )
    survival = tables.survival_table(
        subs, customer_id=customer_id, start=start, end=end, period=period
    )
    life, churned = lives.get_column("lifetime"), lives.get_column("churned")
    km = stats.survival_curve(life, churned)
    d = _discount_per_period(period)
    notes: list[str] = []
    overview: dict[str, object] = {
        "subscriptions": lives.height,
        "cancelled": int(churned.sum()),
        "active (censored)": int((~churned).sum()),
        "start cohorts": survival.get_column("cohort").n_unique(),
        "longest lifetime (periods paid)": int(lives.select(pl.col("lifetime").max()).item()),
        "billing period": period,
        "discount rate per period (10 % a year)": d,
    }
    fitted: dict[str, object] = {}
    sbg: models.ShiftedBetaGeometricModel | None = None
    bdw: models.BetaDiscreteWeibullModel | None = None
    try:
        sbg = models.ShiftedBetaGeometricModel.fit(life, churned)
        fitted["sBG"] = repr(sbg)
        fitted["sBG log-likelihood"] = sbg.log_likelihood
    except (models.ConvergenceError, ValueError) as err:
        notes.append(f"sBG skipped: {err}")
    try:
        bdw = models.BetaDiscreteWeibullModel.fit(life, churned)
        fitted["BdW"] = repr(bdw)
        fitted["BdW log-likelihood"] = bdw.log_likelihood
        fitted["BdW duration dependence c"] = bdw.params["c"]
    except (models.ConvergenceError, ValueError) as err:
        notes.append(f"BdW skipped: {err}")
    last = km.height - 1
    t = np.arange(last + _PROJECTED + 1)
    observed = km.get_column("survival").to_list() + [None] * _PROJECTED
    columns: dict[str, object] = {"period": t, "observed (Kaplan-Meier)": observed}
    value = pl.DataFrame({"renewals": list(_RENEWALS_SHOWN)})
    for name, model in (("sBG", sbg), ("BdW", bdw)):
        if model is None:
            continue
        columns[f"{name} survival"] = model.survival(t)
        columns[f"{name} retention"] = np.concatenate([[np.nan], model.retention_rate(t[1:])])
        fitted[f"{name} DEL (payments)"] = model.expected_lifetime(discount_rate=d)
        value = value.with_columns(
            pl.Series(
                f"{name} DERL (payments)",
                np.asarray(
                    model.expected_residual_lifetime(list(_RENEWALS_SHOWN), discount_rate=d)
                ),
            )
        )
    import polars.selectors as cs

    projection = pl.DataFrame(columns).with_columns(cs.float().fill_nan(None))
    return SubscriptionSection(
        overview=overview,
        survival=survival,
        projection=projection,
        fits=fitted,
        value=value,
        sbg=sbg,
        bdw=bdw,
        km=km,
        notes=notes,
    )


def subscription_figures(section: SubscriptionSection) -> dict[str, bytes]:
    """PNG of the projection of each fitted model against the Kaplan–Meier curve."""
    from . import plot

    out: dict[str, bytes] = {}
    observed = section.km.get_column("survival").to_numpy()
    for name, model in (("sbg", section.sbg), ("bdw", section.bdw)):
        if model is None:
            continue
        ax = plot.retention_projection(model, observed, horizon=observed.size + _PROJECTED)
        buf = io.BytesIO()
        ax.figure.savefig(buf, format="png", dpi=110)  # type: ignore[union-attr]
        out[f"retention_projection_{name}"] = buf.getvalue()
    return out


def subscription_html(section: SubscriptionSection, pngs: dict[str, bytes], *, title: str) -> str:
    """The subscription section as one self-contained HTML page."""
    images = "".join(
        f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'
        for name, data in pngs.items()
    )
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Overview</h2>",
        _html_pairs(section.overview),
        "<h2>Models (sBG, BdW)</h2>",
        _html_pairs(section.fits),
        images,
        "<h2>Projected survival and retention</h2>",
        _html_table(section.projection),
        "<h2>Discounted expected residual lifetime (DERL) by renewals made</h2>",
        _html_table(section.value),
        "<h2>Survival table by start cohort</h2>",
        _html_table(section.survival),
    ]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in section.notes]
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.85em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:49%}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>"
    )
