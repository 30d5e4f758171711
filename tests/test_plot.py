"""Tests for loyaltymetrics.plot: what each figure draws, no pyplot state, errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from loyaltymetrics import datasets, models, plot, tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BG = models.BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
PARETO = models.ParetoNBDModel.from_params(r=0.55, alpha=10.58, s=0.61, beta=11.67)
MBG = models.ModifiedBetaGeoModel.from_params(r=0.525, alpha=6.183, a=0.891, b=1.614)
D = dt.date

# a, b arrive in January: nobody buys in February (retention 0, observed), a is back in
# March (0.5); c arrives in February and is back in March; d arrives in March. The cells
# (February, 2), (March, 1) and (March, 2) lie after the data: unobserved.
TX = pl.DataFrame(
    {
        "customer_id": ["a", "a", "b", "c", "c", "d"],
        "timestamp": [
            D(2024, 1, 5),
            D(2024, 3, 3),
            D(2024, 1, 20),
            D(2024, 2, 2),
            D(2024, 3, 10),
            D(2024, 3, 15),
        ],
    }
)
EXPECTED_GRID = np.array([[1.0, 0.0, 0.5], [1.0, 1.0, np.nan], [1.0, np.nan, np.nan]])


def png_bytes(ax: Axes) -> bytes:
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


def image_values(ax: Axes) -> np.ndarray:
    """The image's array with masked cells as nan."""
    assert len(ax.images) == 1
    return np.ma.filled(np.ma.asarray(ax.images[0].get_array(), dtype=float), np.nan)


# --------------------------------------------------------------------------------------
# inputs


@pytest.fixture(scope="module")
def cohorts() -> pl.DataFrame:
    return tables.cohort_retention(TX)


@pytest.fixture(scope="module")
def periods() -> pl.DataFrame:
    log = datasets.simulate_transactions(150, start=D(2023, 1, 1), end=D(2023, 9, 1), seed=4)
    return tables.period_summary(log)


@pytest.fixture(scope="module")
def survey() -> pl.DataFrame:
    rng = np.random.default_rng(12)
    n = 240
    answers = pl.DataFrame(
        {
            "segment": rng.choice(["web", "store", "app"], size=n, p=[0.5, 0.3, 0.2]),
            "nps": rng.integers(0, 11, size=n),
        }
    )
    # a segment without any valid answer: null NPS, not drawn
    silent = pl.DataFrame({"segment": ["fax", "fax"], "nps": [None, None]}, schema=answers.schema)
    return pl.concat([answers, silent])


@pytest.fixture(scope="module")
def summary(survey: pl.DataFrame) -> pl.DataFrame:
    return tables.survey_summary(survey, by="segment", nps="nps")


def holdout_split() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            "frequency_cal": [0, 0, 1, 3, 9, 4],
            "recency_cal": [0.0, 0.0, 10.0, 20.0, 30.0, 25.0],
            "T_cal": [20.0, 35.0, 30.0, 38.0, 39.0, 30.0],
            "frequency_holdout": [0, 2, 1, 0, 5, 3],
            "duration_holdout": [39.0, 39.0, 39.0, 39.0, 20.0, 39.0],
        }
    )


@pytest.fixture(scope="module")
def evaluation() -> models.HoldoutEvaluation:
    return models.evaluate_holdout(BG, holdout_split(), max_frequency=3)


Draw = Callable[[Axes | None], Axes]


@pytest.fixture
def draws(
    cohorts: pl.DataFrame,
    periods: pl.DataFrame,
    summary: pl.DataFrame,
    evaluation: models.HoldoutEvaluation,
) -> dict[str, Draw]:
    """One call of each plotting function, with an optional ``ax``."""
    return {
        "cohort_heatmap": lambda ax: plot.cohort_heatmap(cohorts, ax=ax),
        "retention_curve": lambda ax: plot.retention_curve(periods, ax=ax),
        "nps_by_segment": lambda ax: plot.nps_by_segment(summary, by="segment", ax=ax),
        "frequency_recency_matrix": lambda ax: plot.frequency_recency_matrix(
            BG, T=30.0, max_frequency=6, ax=ax
        ),
        "p_alive_matrix": lambda ax: plot.p_alive_matrix(BG, T=30.0, max_frequency=6, ax=ax),
        "calibration_holdout": lambda ax: plot.calibration_holdout(evaluation, ax=ax),
        "retention_projection": lambda ax: plot.retention_projection(
            models.ShiftedBetaGeometricModel.from_params(alpha=0.668, beta=3.806),
            [1000, 869, 743, 653, 593, 551, 517, 491],
            ax=ax,
        ),
    }


FUNCTIONS = sorted(plot.__all__)


def test_every_plotting_function_is_exercised(draws: dict[str, Draw]) -> None:
    assert sorted(draws) == FUNCTIONS


# --------------------------------------------------------------------------------------
# common contract


@pytest.mark.parametrize("name", FUNCTIONS)
def test_returns_axes_on_a_new_figure_that_renders_to_png(
    name: str, draws: dict[str, Draw]
) -> None:
    ax = draws[name](None)
    assert isinstance(ax, Axes)
    assert ax.has_data()
    assert png_bytes(ax)[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("name", FUNCTIONS)
def test_draws_on_the_given_axes(name: str, draws: dict[str, Draw]) -> None:
    fig = Figure()
    given = fig.add_subplot()
    assert not given.has_data()
    ax = draws[name](given)
    assert ax is given
    assert given.has_data()
    assert png_bytes(ax)[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("name", FUNCTIONS)
def test_never_shows_and_leaves_pyplot_alone(
    name: str, draws: dict[str, Draw], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("show() called")

    monkeypatch.setattr(plt, "show", boom)
    monkeypatch.setattr(Figure, "show", boom)
    before = plt.get_fignums()
    ax = draws[name](None)
    png_bytes(ax)
    assert plt.get_fignums() == before
    assert ax.figure.canvas.manager is None  # not a pyplot-managed figure


@pytest.mark.parametrize("name", FUNCTIONS)
def test_ax_must_be_an_axes(name: str, draws: dict[str, Draw]) -> None:
    with pytest.raises(TypeError, match="Axes"):
        draws[name]("not an axes")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# cohort_heatmap


def test_cohort_heatmap_image_is_the_retention_with_unobserved_cells_masked(
    cohorts: pl.DataFrame,
) -> None:
    ax = plot.cohort_heatmap(cohorts)
    array = ax.images[0].get_array()
    assert isinstance(array, np.ma.MaskedArray)
    np.testing.assert_array_equal(np.ma.getmaskarray(array), np.isnan(EXPECTED_GRID))
    np.testing.assert_array_equal(image_values(ax), EXPECTED_GRID)
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "2024-01-01",
        "2024-02-01",
        "2024-03-01",
    ]
    # the observed 0 is annotated; the unobserved cells are not
    assert sorted(t.get_text() for t in ax.texts) == sorted(["100", "0", "50", "100", "100", "100"])


def test_cohort_heatmap_accepts_a_lazyframe_and_limits_the_periods(cohorts: pl.DataFrame) -> None:
    ax = plot.cohort_heatmap(cohorts.lazy(), max_periods=2, annotate=False)
    np.testing.assert_array_equal(image_values(ax), EXPECTED_GRID[:, :2])
    assert len(ax.texts) == 0


def test_cohort_heatmap_of_a_larger_log_matches_a_pivot_of_the_table() -> None:
    log = datasets.simulate_transactions(200, start=D(2023, 1, 1), end=D(2023, 8, 1), seed=9)
    cohorts = tables.cohort_retention(log, period="1mo")
    wide = cohorts.pivot(on="period_index", index="cohort", values="retention").sort("cohort")
    k = sorted(int(c) for c in wide.columns[1:])
    expected = wide.select([str(i) for i in k]).to_numpy().astype(float)
    np.testing.assert_array_equal(image_values(plot.cohort_heatmap(cohorts)), expected)


# --------------------------------------------------------------------------------------
# retention_curve


def test_retention_curve_plots_the_two_rates(periods: pl.DataFrame) -> None:
    ax = plot.retention_curve(periods)
    retention, churn = ax.lines
    np.testing.assert_array_equal(
        np.asarray(retention.get_ydata(), dtype=float),
        periods["retention_rate"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
    )
    np.testing.assert_array_equal(
        np.asarray(churn.get_ydata(), dtype=float),
        periods["churn_rate"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
    )
    assert list(retention.get_xdata()) == periods["period"].to_list()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["retention", "churn"]


# --------------------------------------------------------------------------------------
# nps_by_segment


def test_nps_by_segment_labels_each_answered_segment_with_its_n(
    survey: pl.DataFrame, summary: pl.DataFrame
) -> None:
    counts = survey.filter(pl.col("nps").is_not_null()).group_by("segment").len()
    expected = {f"{seg} (n={n})" for seg, n in counts.iter_rows()}
    ax = plot.nps_by_segment(summary, by="segment")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 3
    assert set(labels) == expected  # "fax" had no answer
    assert all("fax" not in label for label in labels)


def test_nps_by_segment_error_bars_are_the_intervals(summary: pl.DataFrame) -> None:
    ax = plot.nps_by_segment(summary, by="segment")
    bounds = {
        seg: (est, low, high)
        for seg, est, low, high in summary.select("segment", "nps", "nps_low", "nps_high")
        .drop_nulls()
        .iter_rows()
    }
    segment_at = {
        round(y): label.get_text().split(" (n=")[0]
        for y, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
    }
    (container,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    marker, _caps, (bars,) = container.lines
    assert isinstance(bars, LineCollection)
    segments = bars.get_segments()
    assert len(segments) == len(bounds) == 3
    for segment in segments:
        (x0, y0), (x1, y1) = segment
        assert y0 == y1
        _, low, high = bounds[segment_at[round(y0)]]
        assert (min(x0, x1), max(x0, x1)) == pytest.approx((low, high), rel=1e-12)
    for x, y in zip(marker.get_xdata(), marker.get_ydata(), strict=True):
        assert x == pytest.approx(bounds[segment_at[round(y)]][0], rel=1e-12)


# --------------------------------------------------------------------------------------
# p_alive_matrix and frequency_recency_matrix


@pytest.mark.parametrize("model", [BG, MBG, PARETO], ids=["bg_nbd", "mbg_nbd", "pareto_nbd"])
def test_p_alive_matrix_values_are_the_model_p_alive_on_the_grid(
    model: models.TransactionModel,
) -> None:
    age, max_recency, max_frequency = 40.0, 30.0, 5
    ax = plot.p_alive_matrix(model, T=age, max_frequency=max_frequency, max_recency=max_recency)
    values = image_values(ax)
    n_freq, n_rec = values.shape
    assert n_freq == max_frequency + 1
    assert n_rec >= 10
    f, r = np.meshgrid(
        np.arange(n_freq, dtype=float), np.linspace(0.0, max_recency, n_rec), indexing="ij"
    )
    impossible = (f == 0) & (r > 0)  # no repeat purchase, yet a last purchase after the first
    expected = np.full(f.shape, np.nan)
    expected[~impossible] = model.p_alive(
        f[~impossible], r[~impossible], np.full((~impossible).sum(), age)
    )
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert np.isnan(values[0, 1:]).all()
    # origin lower: row f is centred on frequency f
    extent = ax.images[0].get_extent()
    assert extent[2:] == pytest.approx([-0.5, max_frequency + 0.5])
    assert "T = 40" in ax.get_title()


def test_frequency_recency_matrix_values_are_the_expected_purchases_in_one_unit() -> None:
    age, max_frequency = 25.0, 4
    ax = plot.frequency_recency_matrix(PARETO, T=age, max_frequency=max_frequency)
    values = image_values(ax)
    n_freq, n_rec = values.shape
    assert n_freq == max_frequency + 1
    f, r = np.meshgrid(np.arange(n_freq, dtype=float), np.linspace(0.0, age, n_rec), indexing="ij")
    possible = ~((f == 0) & (r > 0))
    expected = np.full(f.shape, np.nan)
    expected[possible] = PARETO.expected_purchases(
        1.0, f[possible], r[possible], np.full(possible.sum(), age)
    )
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_frequency_recency_matrix_of_mbg_nbd_is_its_expected_purchases() -> None:
    age, max_frequency = 39.0, 3
    ax = plot.frequency_recency_matrix(MBG, T=age, max_frequency=max_frequency)
    values = image_values(ax)
    n_freq, n_rec = values.shape
    f, r = np.meshgrid(np.arange(n_freq, dtype=float), np.linspace(0.0, age, n_rec), indexing="ij")
    possible = ~((f == 0) & (r > 0))
    expected = np.full(f.shape, np.nan)
    expected[possible] = MBG.expected_purchases(
        1.0, f[possible], r[possible], np.full(possible.sum(), age)
    )
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    bg_values = image_values(plot.frequency_recency_matrix(BG, T=age, max_frequency=max_frequency))
    assert not np.allclose(values[~np.isnan(values)], bg_values[~np.isnan(bg_values)])


def test_p_alive_of_customers_without_repeat_purchases_is_below_one_only_under_mbg_nbd() -> None:
    """BG/NBD's one-time buyers are alive for sure; MBG/NBD's may have left at once."""
    mbg = image_values(plot.p_alive_matrix(MBG, T=39.0, max_frequency=3))
    bg = image_values(plot.p_alive_matrix(BG, T=39.0, max_frequency=3))
    assert bg[0, 0] == 1.0
    # [1 + a/b (1 + T/alpha)^r]^-1 by hand
    assert mbg[0, 0] == pytest.approx(1 / (1 + 0.891 / 1.614 * (1 + 39.0 / 6.183) ** 0.525))
    assert mbg[0, 0] < 0.5


def test_matrix_columns_are_centred_on_their_recency() -> None:
    ax = plot.p_alive_matrix(BG, T=30.0, max_frequency=3)
    n_rec = image_values(ax).shape[1]
    x0, x1, _, _ = ax.images[0].get_extent()
    width = (x1 - x0) / n_rec
    assert (x0 + width / 2, x1 - width / 2) == pytest.approx((0.0, 30.0))


# --------------------------------------------------------------------------------------
# calibration_holdout


def test_calibration_holdout_plots_the_table_by_frequency(
    evaluation: models.HoldoutEvaluation,
) -> None:
    ax = plot.calibration_holdout(evaluation)
    actual, predicted = ax.lines
    t = evaluation.by_frequency
    np.testing.assert_array_equal(
        np.asarray(actual.get_ydata(), dtype=float), t["actual"].fill_null(np.nan).to_numpy()
    )
    np.testing.assert_array_equal(
        np.asarray(predicted.get_ydata(), dtype=float),
        t["predicted"].fill_null(np.nan).to_numpy(),
    )
    np.testing.assert_array_equal(actual.get_xdata(), np.arange(t.height))
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert labels == [str(k) for k in range(t.height - 1)] + [f"{t.height - 1}+"]
    assert labels[-1].endswith("+")
    assert [x.get_text() for x in ax.get_legend().get_texts()] == ["actual", "model"]


# --------------------------------------------------------------------------------------
# MBG/NBD and models of one's own


@pytest.fixture(scope="module")
def mbg_draws() -> dict[str, Callable[[], Axes]]:
    evaluation = models.evaluate_holdout(MBG, holdout_split(), max_frequency=3)
    return {
        "frequency_recency_matrix": lambda: plot.frequency_recency_matrix(
            MBG, T=39.0, max_frequency=8
        ),
        "p_alive_matrix": lambda: plot.p_alive_matrix(MBG, T=39.0, max_frequency=8),
        "calibration_holdout": lambda: plot.calibration_holdout(evaluation),
    }


@pytest.mark.parametrize(
    ("name", "size", "min_coloured"),
    [
        # a heatmap fills most of its axes; two lines and their markers take less room
        ("frequency_recency_matrix", (6.0, 5.0), 0.2),
        ("p_alive_matrix", (6.0, 5.0), 0.2),
        ("calibration_holdout", (7.0, 4.5), 0.002),
    ],
)
def test_mbg_nbd_figures_render_to_png(
    name: str,
    size: tuple[float, float],
    min_coloured: float,
    mbg_draws: dict[str, Callable[[], Axes]],
    tmp_path: Path,
) -> None:
    ax = mbg_draws[name]()
    assert ax.has_data()
    path = tmp_path / f"{name}.png"
    dpi = 50
    figure = ax.figure
    assert isinstance(figure, Figure)
    figure.savefig(path, format="png", dpi=dpi)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(path)
    width, height = size
    assert pixels.shape == (round(height * dpi), round(width * dpi), 4)
    rgb = pixels[..., :3]
    assert rgb.std() > 0.05  # not a constant canvas
    # empty axes render in black, white and greys only: the data are the coloured pixels
    coloured = (rgb.max(axis=-1) - rgb.min(axis=-1)) > 0.2
    assert coloured.mean() > min_coloured


class InDays:
    """A model of one's own: a weekly model wrapped to take days."""

    def __init__(self, weekly: models.TransactionModel) -> None:
        self.weekly = weekly

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        return self.weekly.p_alive(frequency, np.asarray(recency) / 7, np.asarray(T) / 7)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        t_w, recency_w, big_t_w = (np.asarray(a) / 7 for a in (t, recency, T))
        return self.weekly.expected_purchases(t_w, frequency, recency_w, big_t_w)


def test_any_model_with_the_prediction_methods_is_plotted() -> None:
    wrapped = image_values(plot.p_alive_matrix(InDays(MBG), T=273.0, max_frequency=4))
    weekly = image_values(plot.p_alive_matrix(MBG, T=39.0, max_frequency=4))
    np.testing.assert_allclose(wrapped, weekly, rtol=1e-12)


# --------------------------------------------------------------------------------------
# errors


def test_wrong_table_type(cohorts: pl.DataFrame, periods: pl.DataFrame) -> None:
    with pytest.raises(TypeError, match="polars DataFrame"):
        plot.cohort_heatmap(cohorts.to_dicts())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="polars DataFrame"):
        plot.retention_curve(periods.to_numpy())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="polars DataFrame"):
        plot.nps_by_segment({"segment": ["a"]}, by="segment")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="HoldoutEvaluation"):
        plot.calibration_holdout(periods)  # type: ignore[arg-type]


def test_missing_columns_are_named(cohorts: pl.DataFrame, summary: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"'period_index', 'retention'"):
        plot.cohort_heatmap(cohorts.drop("period_index", "retention"))
    with pytest.raises(ValueError, match=r"'churn_rate'"):
        plot.retention_curve(pl.DataFrame({"period": [D(2024, 1, 1)], "retention_rate": [0.5]}))
    with pytest.raises(ValueError, match=r"'region'"):
        plot.nps_by_segment(summary, by="region")
    with pytest.raises(ValueError, match=r"'nps_low'"):
        plot.nps_by_segment(summary.drop("nps_low"), by="segment")


def test_empty_tables(cohorts: pl.DataFrame, periods: pl.DataFrame, summary: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="empty"):
        plot.cohort_heatmap(cohorts.head(0))
    with pytest.raises(ValueError, match="empty"):
        plot.retention_curve(periods.head(0).lazy())
    with pytest.raises(ValueError, match="empty"):
        plot.nps_by_segment(summary.head(0), by="segment")


class OneNumber:
    """The right methods, but one number for the whole grid."""

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        return 0.5

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        return 1.0


@pytest.mark.parametrize("function", [plot.p_alive_matrix, plot.frequency_recency_matrix])
def test_wrong_model_type(function: Callable[..., Axes]) -> None:
    gamma_gamma = models.GammaGammaModel.from_params(p=6.25, q=3.74, v=15.44)
    expected = "BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, or any object with"
    with pytest.raises(TypeError, match=expected):
        function(gamma_gamma, T=30.0)
    with pytest.raises(TypeError, match=expected):
        function(BG.params, T=30.0)
    with pytest.raises(TypeError, match="not the class ModifiedBetaGeoModel"):
        function(models.ModifiedBetaGeoModel, T=30.0)
    bg_bb = models.BetaGeoBetaBinomModel.from_params(alpha=1.2, beta=0.75, gamma=0.66, delta=2.78)
    with pytest.raises(TypeError, match="BetaGeoBetaBinomModel is a discrete-time model"):
        function(bg_bb, T=30.0)
    with pytest.raises(ValueError, match=r"returned an array of shape \(\)"):
        function(OneNumber(), T=30.0)


@pytest.mark.parametrize("function", [plot.p_alive_matrix, plot.frequency_recency_matrix])
def test_max_recency_beyond_t(function: Callable[..., Axes]) -> None:
    with pytest.raises(ValueError, match=r"max_recency \(31\.0\) cannot exceed T \(30\.0\)"):
        function(BG, T=30.0, max_recency=31.0)


def test_negative_max_recency_is_named() -> None:
    with pytest.raises(ValueError, match="max_recency"):
        plot.p_alive_matrix(BG, T=30.0, max_recency=-1.0)


def test_cohort_heatmap_with_no_period_left_is_an_error(cohorts: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"max_periods|empty"):
        plot.cohort_heatmap(cohorts, max_periods=0)
