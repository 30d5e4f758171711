"""plot.retention_projection: the observed points, the fitted and the projected curve."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from loyaltymetrics import models, plot

HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]


def test_draws_observed_fit_and_projection() -> None:
    m = models.ShiftedBetaGeometricModel.fit_survivors(HIGH_END[:8])
    ax = plot.retention_projection(m, HIGH_END, calibration_periods=8, horizon=20)
    observed, fitted, projected = ax.get_lines()[:3]
    assert observed.get_xdata().tolist() == list(range(13))
    assert np.allclose(observed.get_ydata(), np.array(HIGH_END) / 1000)
    assert fitted.get_xdata().tolist() == list(range(8))
    assert np.allclose(fitted.get_ydata(), m.survival(np.arange(8)))
    assert projected.get_xdata().tolist() == list(range(7, 21))
    assert np.allclose(projected.get_ydata(), m.survival(np.arange(7, 21)))
    assert projected.get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "observed",
        "model (calibration)",
        "projection",
    ]


def test_bdw_and_defaults() -> None:
    m = models.BetaDiscreteWeibullModel.from_params(gamma=0.26, delta=1.72, c=1.58)
    ax = plot.retention_projection(m, HIGH_END[:5])
    assert ax.get_lines()[2].get_xdata()[-1] == 10  # horizon max(2 * 5, 10)
    assert "BetaDiscreteWeibullModel" in ax.get_title()


def test_bad_input() -> None:
    m = models.ShiftedBetaGeometricModel.from_params(alpha=1.0, beta=2.0)
    with pytest.raises(ValueError, match=r"survivors\[2\]=900"):
        plot.retention_projection(m, [1000, 800, 900])
    with pytest.raises(ValueError, match="calibration_periods"):
        plot.retention_projection(m, [1000, 800], calibration_periods=3)
    with pytest.raises(ValueError, match="horizon"):
        plot.retention_projection(m, [1000, 800], horizon=0)
    with pytest.raises(TypeError, match="model must be"):
        plot.retention_projection(models.ShiftedBetaGeometricModel, [1000, 800])
    with pytest.raises(ValueError, match="survivors"):
        plot.retention_projection(m, [0, 0])
