"""Test configuration: hypothesis profiles (``HYPOTHESIS_PROFILE=ci`` is derandomised) and
the fixtures shared by several test files (the CDNOW data)."""

from __future__ import annotations

import os

import polars as pl
import pytest
from hypothesis import HealthCheck, settings

from loyaltymetrics import datasets

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def cdnow() -> pl.DataFrame:
    """The CDNOW summary (2,357 customers, weeks): the published BTYD reference data."""
    return datasets.load_cdnow_summary()


@pytest.fixture(scope="session")
def cdnow_log() -> pl.DataFrame:
    """The CDNOW sample transaction log (customer id, timestamp, amount)."""
    return datasets.load_cdnow().select("customer_id", "timestamp", "amount")
