"""Type aliases shared by the package (private; never import ``polars._typing``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray: TypeAlias = npt.NDArray[np.float64]
"""A float64 numpy array, the array result type of every formula."""

ArrayInput: TypeAlias = Sequence[float] | npt.NDArray[Any] | pl.Series
"""An array-like of numbers: list, tuple, numpy array or polars Series."""

RealInput: TypeAlias = float | ArrayInput
"""A number or an array-like of numbers (broadcast like numpy)."""

Real: TypeAlias = float | FloatArray
"""A validated number (``float``) or float64 array, as used inside the formulas."""

Answers: TypeAlias = Sequence[float | None] | npt.NDArray[Any] | pl.Series
"""A 1-D array-like of survey answers; ``None``/``NaN``/null mark a missing answer."""
