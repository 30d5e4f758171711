"""Plots of the tables and models (optional extra: ``pip install "loyaltymetrics[plot]"``).

Every function draws on the given matplotlib ``Axes`` (or a new ``Figure`` without
pyplot, so nothing global changes and no window opens) and returns the ``Axes``. None
calls ``show()``; save with ``ax.figure.savefig("file.png")``.
"""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np
import polars as pl

try:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
except ImportError as err:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(
        'loyaltymetrics.plot needs matplotlib: pip install "loyaltymetrics[plot]"'
    ) from err

from .models import HoldoutEvaluation, TransactionModel
from .models._transaction import check_predictions, check_transaction_model

__all__ = [
    "calibration_holdout",
    "cohort_heatmap",
    "frequency_recency_matrix",
    "nps_by_segment",
    "p_alive_matrix",
    "retention_curve",
    "retention_projection",
]


def _axes(ax: Axes | None, size: tuple[float, float] = (7.0, 4.5)) -> Axes:
    if ax is None:
        return Figure(figsize=size, layout="constrained").add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}")
    return ax


def _frame(table: object, name: str, columns: tuple[str, ...]) -> pl.DataFrame:
    if isinstance(table, pl.LazyFrame):
        table = table.collect()
    if not isinstance(table, pl.DataFrame):
        raise TypeError(f"{name} must be a polars DataFrame; got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, table.columns))}"
        )
    if table.height == 0:
        raise ValueError(f"{name} is empty: nothing to plot")
    return table


def _segment_columns(by: object, table: pl.DataFrame, name: str) -> list[str]:
    """The ``by`` names as a list, each a column of `table` (as in the tables' ``by=``)."""
    keys = [by] if isinstance(by, str) else by
    if not isinstance(keys, list | tuple) or not keys or not all(isinstance(k, str) for k in keys):
        raise TypeError(
            f"by must be a column name (str) or a list of names; got {type(by).__name__} {by!r}"
        )
    missing = [k for k in keys if k not in table.columns]
    if missing:
        raise ValueError(
            f"by column {missing[0]!r} not found in {name}; it has "
            f"{', '.join(map(repr, table.columns))} (pass the same by= as to the table)"
        )
    return list(keys)


def _segments(t: pl.DataFrame, keys: list[str]) -> list[tuple[str, pl.DataFrame]]:
    """(label, rows) per segment, in the table's order; a null segment value is ``null``."""
    out = []
    for values, rows in t.group_by(keys, maintain_order=True):
        parts = ["null" if v is None else str(v) for v in values]
        label = (
            parts[0]
            if len(keys) == 1
            else ", ".join(f"{k}={v}" for k, v in zip(keys, parts, strict=True))
        )
        out.append((label, rows))
    return out


def _heatmap(ax: Axes, t: pl.DataFrame, labels: list[Any], n_cols: int, annotate: bool) -> Any:
    """Draw one cohort x period-index grid of `t` on `ax`; the image (for a colour bar)."""
    grid = np.full((len(labels), n_cols), np.nan)
    row_of = {value: i for i, value in enumerate(labels)}
    for cohort, k, value in t.select("cohort", "period_index", "retention").iter_rows():
        if value is not None:
            grid[row_of[cohort], k] = value
    image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_yticks(range(len(labels)), [str(v) for v in labels])
    ax.set_xlabel("periods since first order")
    ax.set_ylabel("cohort")
    if annotate and n_cols <= 24:
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                colour = "black" if value > 0.6 else "white"
                ax.text(
                    j, i, f"{100 * value:.0f}", ha="center", va="center", fontsize=7, color=colour
                )
    return image


@overload
def cohort_heatmap(
    cohorts: pl.DataFrame | pl.LazyFrame,
    *,
    by: None = None,
    ax: Axes | None = None,
    max_periods: int | None = None,
    annotate: bool = True,
) -> Axes: ...


@overload
def cohort_heatmap(
    cohorts: pl.DataFrame | pl.LazyFrame,
    *,
    by: str | list[str],
    ax: None = None,
    max_periods: int | None = None,
    annotate: bool = True,
) -> list[Axes]: ...


def cohort_heatmap(
    cohorts: pl.DataFrame | pl.LazyFrame,
    *,
    by: str | list[str] | None = None,
    ax: Axes | None = None,
    max_periods: int | None = None,
    annotate: bool = True,
) -> Axes | list[Axes]:
    """Heatmap of cohort retention: one row per cohort, one column per period index.

    Parameters
    ----------
    cohorts : polars.DataFrame or polars.LazyFrame
        The long table of `tables.cohort_retention` (`cohort`, `period_index`,
        `retention`). Unobserved cells stay blank (never drawn as 0).
    by : str or list of str, optional
        The segment column(s) of a `tables.cohort_retention(..., by=...)` table: one
        heatmap (facet) per segment, in the table's order, on one figure with one colour
        scale. Every facet has the same rows (the cohorts of all segments; a cohort
        without customers in a segment stays blank) and columns, so they line up.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure. Not with `by` (the facets get a new
        figure of their own).
    max_periods : int, optional
        Show period indices below this only.
    annotate : bool, default=True
        Write the percentage in each cell (skipped above 24 columns).

    Returns
    -------
    matplotlib.axes.Axes or list of matplotlib.axes.Axes
        The axes drawn on; with `by`, one per segment (``axes[0].figure`` is the figure).

    Raises
    ------
    TypeError
        If `by` is not a name or a list of names.
    ValueError
        If a column is missing, the table is empty, or `ax` is given with `by`.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> from loyaltymetrics import plot, tables
    >>> tx = pl.DataFrame({"customer_id": [1, 1, 2],
    ...                    "timestamp": [dt.date(2024, 1, 5), dt.date(2024, 2, 1),
    ...                                  dt.date(2024, 2, 3)]})
    >>> ax = plot.cohort_heatmap(tables.cohort_retention(tx))
    >>> ax.get_ylabel()
    'cohort'

    By segment, one facet per store:

    >>> tx = tx.with_columns(store=pl.Series(["north", "south", "south"]))
    >>> axes = plot.cohort_heatmap(tables.cohort_retention(tx, by="store"), by="store")
    >>> [a.get_title() for a in axes]
    ['north', 'south']
    """
    t = _frame(cohorts, "cohorts", ("cohort", "period_index", "retention"))
    keys = None if by is None else _segment_columns(by, t, "cohorts")
    if max_periods is not None:
        if isinstance(max_periods, bool) or not isinstance(max_periods, int) or max_periods < 1:
            raise ValueError(f"max_periods must be a whole number >= 1; got {max_periods!r}")
        t = t.filter(pl.col("period_index") < max_periods)
    labels = t.get_column("cohort").unique().sort().to_list()
    n_cols = int(t.get_column("period_index").cast(pl.Int64).max() or 0) + 1  # type: ignore[arg-type]
    if keys is None:
        ax = _axes(ax, (max(6.0, 0.45 * n_cols + 2), max(3.0, 0.35 * len(labels) + 1.5)))
        image = _heatmap(ax, t, labels, n_cols, annotate)
        ax.figure.colorbar(image, ax=ax, label="retention")
        ax.set_title("Cohort retention")
        return ax
    if ax is not None:
        raise ValueError(
            "ax must be None with by=: the facets (one per segment) get a figure of their "
            "own; use axes[0].figure"
        )
    facets = _segments(t, keys)
    n_wide = min(3, len(facets))
    n_high = math.ceil(len(facets) / n_wide)
    width = max(6.0, 0.45 * n_cols + 2) * n_wide
    height = max(3.0, 0.35 * len(labels) + 1.5) * n_high
    figure = Figure(figsize=(width, height), layout="constrained")
    grid = figure.subplots(n_high, n_wide, sharex=True, sharey=True, squeeze=False)
    axes: list[Axes] = []
    for (label, rows), facet in zip(facets, grid.flat, strict=False):
        image = _heatmap(facet, rows, labels, n_cols, annotate)
        facet.set_title(label)
        axes.append(facet)
    for unused in list(grid.flat)[len(facets) :]:
        unused.set_visible(False)
    figure.colorbar(image, ax=axes, label="retention")
    figure.suptitle("Cohort retention by segment")
    return axes


def retention_curve(
    periods: pl.DataFrame | pl.LazyFrame,
    *,
    by: str | list[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Retention and churn rate per period, from `tables.period_summary`.

    Parameters
    ----------
    periods : polars.DataFrame or polars.LazyFrame
        The table of `tables.period_summary` (`period`, `retention_rate`, `churn_rate`).
    by : str or list of str, optional
        The segment column(s) of a `tables.period_summary(..., by=...)` table: one
        retention line per segment (churn is 1 − retention and left out), on the
        segments' shared periods. Periods without customers at the start (before a
        segment's first order) have no rate and no point.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> from loyaltymetrics import plot, tables
    >>> tx = pl.DataFrame({
    ...     "customer_id": [1, 1, 2, 2, 3],
    ...     "store": ["north", "north", "south", "south", "south"],
    ...     "timestamp": [dt.date(2024, 1, 5), dt.date(2024, 2, 1), dt.date(2024, 1, 9),
    ...                   dt.date(2024, 3, 3), dt.date(2024, 2, 8)],
    ...     "amount": [10.0, 12.0, 8.0, 9.0, 20.0],
    ... })
    >>> ax = plot.retention_curve(tables.period_summary(tx, by="store"), by="store")
    >>> [line.get_label() for line in ax.get_lines()]
    ['north', 'south']
    """
    t = _frame(periods, "periods", ("period", "retention_rate", "churn_rate"))
    ax = _axes(ax)
    if by is not None:
        for label, rows in _segments(t, _segment_columns(by, t, "periods")):
            rates = rows.get_column("retention_rate").cast(pl.Float64).fill_null(np.nan)
            ax.plot(rows.get_column("period").to_list(), rates.to_numpy(), marker="o", label=label)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel("period")
        ax.set_ylabel("retention rate")
        ax.set_title("Retention by segment")
        ax.legend(title=by if isinstance(by, str) else ", ".join(by))
        ax.figure.autofmt_xdate()
        return ax
    x = t.get_column("period").to_list()
    ax.plot(x, t.get_column("retention_rate").to_numpy(), marker="o", label="retention")
    ax.plot(x, t.get_column("churn_rate").to_numpy(), marker="o", label="churn")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("period")
    ax.set_ylabel("rate")
    ax.set_title("Retention and churn by period")
    ax.legend()
    ax.figure.autofmt_xdate()
    return ax


def nps_by_segment(
    summary: pl.DataFrame | pl.LazyFrame, *, by: str, ax: Axes | None = None
) -> Axes:
    """NPS per segment with its interval as error bars, from `tables.survey_summary`.

    Parameters
    ----------
    summary : polars.DataFrame or polars.LazyFrame
        The table of `tables.survey_summary(..., by=by, nps=...)` (`nps`, `nps_low`,
        `nps_high`, `nps_n`).
    by : str
        The segment column.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on; each bar is labelled with its number of answers.
    """
    t = _frame(summary, "summary", (by, "nps", "nps_low", "nps_high", "nps_n"))
    t = t.filter(pl.col("nps").is_not_null()).sort("nps")
    ax = _axes(ax)
    y = np.arange(t.height)
    est = t.get_column("nps").to_numpy()
    low = t.get_column("nps_low").to_numpy()
    high = t.get_column("nps_high").to_numpy()
    err = np.vstack([np.clip(est - low, 0, None), np.clip(high - est, 0, None)])
    ax.errorbar(est, y, xerr=err, fmt="o", capsize=4)
    ax.set_yticks(y, [f"{s} (n={n})" for s, n in t.select(by, "nps_n").iter_rows()])
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_xlim(-100, 100)
    ax.set_xlabel("NPS (points) with interval")
    ax.set_title("NPS by segment")
    return ax


def _grid_values(
    model: object, max_frequency: int, max_recency: float, T: float, what: str
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    checked = check_transaction_model(model)
    if not max_recency > 0:
        raise ValueError(f"max_recency must be positive; got max_recency={max_recency}")
    if max_recency > T:
        raise ValueError(f"max_recency ({max_recency}) cannot exceed T ({T})")
    recency = np.linspace(0.0, max_recency, 40)
    freq = np.arange(max_frequency + 1, dtype=np.float64)
    f_grid, r_grid = np.meshgrid(freq, recency, indexing="ij")
    f_flat, r_flat = f_grid.ravel(), r_grid.ravel()
    valid = ~((f_flat == 0) & (r_flat > 0))
    out = np.full(f_flat.shape, np.nan)
    n_valid = int(valid.sum())
    t_flat = np.full(n_valid, T)
    if what == "p_alive":
        out[valid] = check_predictions(
            checked.p_alive(f_flat[valid], r_flat[valid], t_flat), n_valid, "p_alive"
        )
    else:
        out[valid] = check_predictions(
            checked.expected_purchases(1.0, f_flat[valid], r_flat[valid], t_flat),
            n_valid,
            "expected_purchases",
        )
    return out.reshape(f_grid.shape), recency


def _matrix(
    model: Any,
    *,
    T: float,
    max_frequency: int,
    max_recency: float | None,
    ax: Axes | None,
    what: str,
) -> Axes:
    values, recency = _grid_values(
        model, max_frequency, T if max_recency is None else max_recency, T, what
    )
    ax = _axes(ax, (6.0, 5.0))
    image = ax.imshow(
        values,
        origin="lower",
        aspect="auto",
        # cell centres at the grid points: half a step beyond the first and last
        extent=(
            recency[0] - (recency[1] - recency[0]) / 2,
            recency[-1] + (recency[1] - recency[0]) / 2,
            -0.5,
            max_frequency + 0.5,
        ),
        cmap="magma",
    )
    label = "P(alive)" if what == "p_alive" else "expected purchases in the next time unit"
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("recency (time of the last purchase)")
    ax.set_ylabel("frequency (repeat purchases)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{label} at T = {T:g}")
    return ax


def frequency_recency_matrix(
    model: TransactionModel,
    *,
    T: float,
    max_frequency: int = 20,
    max_recency: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Expected purchases in the next time unit over a frequency × recency grid.

    Parameters
    ----------
    model : models.TransactionModel
        A fitted continuous-time transaction model: `BetaGeoModel`,
        `ModifiedBetaGeoModel`, `ParetoNBDModel`, or any object with their `p_alive` and
        `expected_purchases` methods.
    T : float
        Age of the hypothetical customers, in the model's time unit.
    max_frequency : int, default=20
        Largest frequency on the grid.
    max_recency : float, optional
        Largest recency on the grid; default `T`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (cells with frequency 0 and recency > 0 are impossible and
        blank).
    """
    return _matrix(
        model, T=T, max_frequency=max_frequency, max_recency=max_recency, ax=ax, what="expected"
    )


def p_alive_matrix(
    model: TransactionModel,
    *,
    T: float,
    max_frequency: int = 20,
    max_recency: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Probability of being alive over a frequency × recency grid.

    Parameters
    ----------
    model : models.TransactionModel
        A fitted continuous-time transaction model: `BetaGeoModel`,
        `ModifiedBetaGeoModel`, `ParetoNBDModel`, or any object with their `p_alive` and
        `expected_purchases` methods.
    T : float
        Age of the hypothetical customers, in the model's time unit.
    max_frequency : int, default=20
        Largest frequency on the grid.
    max_recency : float, optional
        Largest recency on the grid; default `T`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    return _matrix(
        model, T=T, max_frequency=max_frequency, max_recency=max_recency, ax=ax, what="p_alive"
    )


def calibration_holdout(evaluation: HoldoutEvaluation, *, ax: Axes | None = None) -> Axes:
    """Mean predicted vs actual holdout purchases by calibration frequency.

    Parameters
    ----------
    evaluation : HoldoutEvaluation
        The result of `models.evaluate_holdout`, for any transaction model it accepts.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on; the last group pools the highest frequencies ("7+").
    """
    if not isinstance(evaluation, HoldoutEvaluation):
        raise TypeError(f"evaluation must be a HoldoutEvaluation; got {type(evaluation).__name__}")
    t = evaluation.by_frequency
    ax = _axes(ax)
    labels = [
        f"{k}+" if pooled else str(k)
        for k, pooled in t.select("frequency_cal", "pooled").iter_rows()
    ]
    x = np.arange(t.height)
    ax.plot(x, t.get_column("actual").to_numpy(), marker="o", label="actual")
    ax.plot(x, t.get_column("predicted").to_numpy(), marker="s", linestyle="--", label="model")
    ax.set_xticks(x, labels)
    ax.set_xlabel("purchases in the calibration period")
    ax.set_ylabel("mean purchases in the holdout period")
    ax.set_title("Conditional expectations: model vs holdout")
    ax.legend()
    return ax


def retention_projection(
    model: Any,
    survivors: Any,
    *,
    calibration_periods: int | None = None,
    horizon: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Observed survival of a cohort, a contractual model's fit, and its projection.

    The observed points are `survivors[t] / survivors[0]`; the model's `survival(t)` is
    drawn solid over the calibration periods and dashed beyond them, with a vertical
    line where the calibration ends (Fader & Hardie 2007, Figure 1).

    Parameters
    ----------
    model : ShiftedBetaGeometricModel or BetaDiscreteWeibullModel
        A fitted (or `from_params`) contractual model; any object with `survival(t)`.
    survivors : sequence of int
        One cohort's customers still active at the start of periods 0, 1, …, n
        (`customers_alive` of `tables.survival_table`), non-increasing, first > 0.
    calibration_periods : int, optional
        How many of the counts the model was fitted on (default: all of them).
    horizon : int, optional
        Last period drawn (default: twice the number of counts, at least 10).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Examples
    --------
    >>> from loyaltymetrics import models, plot
    >>> counts = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]
    >>> m = models.ShiftedBetaGeometricModel.fit_survivors(counts[:8])
    >>> ax = plot.retention_projection(m, counts, calibration_periods=8)
    >>> ax.get_ylabel()
    'share of the cohort still active'
    """
    survival = getattr(model, "survival", None)
    if isinstance(model, type) or not callable(survival):
        raise TypeError(
            "model must be a fitted ShiftedBetaGeometricModel or BetaDiscreteWeibullModel "
            f"(an object with survival(t)); got {type(model).__name__}"
        )
    counts = np.asarray(
        survivors.to_numpy() if isinstance(survivors, pl.Series) else survivors, dtype=float
    )
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(
            "survivors must be one cohort's counts (a non-empty 1-D sequence); got shape "
            f"{counts.shape}"
        )
    if not np.isfinite(counts).all() or counts[0] <= 0 or (counts < 0).any():
        raise ValueError(
            f"survivors must be finite non-negative counts with survivors[0] > 0; got {counts}"
        )
    rise = np.flatnonzero(np.diff(counts) > 0)
    if rise.size:
        i = int(rise[0]) + 1
        raise ValueError(
            f"survivors cannot increase; got survivors[{i}]={counts[i]:g} > "
            f"survivors[{i - 1}]={counts[i - 1]:g}"
        )
    n = counts.size
    calib = n if calibration_periods is None else calibration_periods
    if isinstance(calib, bool) or not isinstance(calib, int) or not 1 <= calib <= n:
        raise ValueError(
            f"calibration_periods must be an int from 1 to len(survivors)={n}; "
            f"got calibration_periods={calibration_periods!r}"
        )
    last = max(2 * n, 10) if horizon is None else horizon
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise ValueError(f"horizon must be an int >= 1; got horizon={horizon!r}")
    ax = _axes(ax)
    t_obs = np.arange(n)
    ax.plot(t_obs, counts / counts[0], "o", color="black", label="observed")
    t_fit = np.arange(calib)
    ax.plot(t_fit, np.asarray(survival(t_fit)), "-", color="C0", label="model (calibration)")
    if last >= calib - 1:
        t_proj = np.arange(calib - 1, last + 1)
        ax.plot(t_proj, np.asarray(survival(t_proj)), "--", color="C0", label="projection")
    ax.axvline(calib - 0.5, color="grey", linewidth=0.8)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("period since acquisition")
    ax.set_ylabel("share of the cohort still active")
    ax.set_title(f"Retention projection: {type(model).__name__}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    return ax
