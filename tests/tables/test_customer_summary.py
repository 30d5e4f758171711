"""tables.customer_summary against a plain-Python reference."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyaltymetrics import tables

DAY0 = dt.date(2024, 1, 1)

orders = st.lists(
    st.tuples(
        st.integers(1, 5), st.integers(0, 60), st.floats(0, 500, allow_nan=False), st.booleans()
    ),
    min_size=1,
    max_size=40,
)


def reference(rows: list[tuple[int, int, float, bool]], end: int) -> dict[int, dict[str, object]]:
    out: dict[int, dict[str, object]] = {}
    for cid in sorted({r[0] for r in rows if r[1] <= end}):
        mine = [r for r in rows if r[0] == cid and r[1] <= end]
        days = sorted({r[1] for r in mine})
        gaps = [b - a for a, b in itertools.pairwise(days)]
        revenue = math.fsum(r[2] for r in mine)
        out[cid] = {
            "orders": len(mine),
            "revenue": revenue,
            "first_order": DAY0 + dt.timedelta(days[0]),
            "last_order": DAY0 + dt.timedelta(days[-1]),
            "average_order_value": revenue / len(mine),
            "purchase_days": len(days),
            "mean_interpurchase_days": (days[-1] - days[0]) / (len(days) - 1) if gaps else None,
            "median_interpurchase_days": float(statistics.median(gaps)) if gaps else None,
            "tenure_days": float(end - days[0]),
            "discount_share": sum(r[3] for r in mine) / len(mine),
        }
    return out


@settings(max_examples=80, deadline=None)
@given(orders, st.one_of(st.none(), st.integers(0, 70)), st.booleans())
def test_matches_reference(
    rows: list[tuple[int, int, float, bool]], end: int | None, lazy: bool
) -> None:
    frame = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [DAY0 + dt.timedelta(r[1]) for r in rows],
            "amount": [r[2] for r in rows],
            "promo": [r[3] for r in rows],
        }
    )
    end_day = end if end is not None else max(r[1] for r in rows)
    kwargs = {} if end is None else {"observation_end": DAY0 + dt.timedelta(end)}
    got = tables.customer_summary(frame.lazy() if lazy else frame, discount="promo", **kwargs)
    assert isinstance(got, pl.LazyFrame) is lazy
    result = got.collect() if isinstance(got, pl.LazyFrame) else got
    expected = reference(rows, end_day)
    assert result["customer_id"].to_list() == list(expected)
    for row in result.iter_rows(named=True):
        want = expected[row["customer_id"]]
        for key, value in want.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
            else:
                assert row[key] == value, key


def test_bad_input() -> None:
    frame = pl.DataFrame(
        {"customer_id": [1], "timestamp": [DAY0], "amount": [1.0], "promo": ["yes"]}
    )
    with pytest.raises(TypeError, match="discount column 'promo' must be Boolean"):
        tables.customer_summary(frame, discount="promo")
    with pytest.raises(ValueError, match="amount column 'value' not found"):
        tables.customer_summary(frame, amount="value")
    with pytest.raises(TypeError, match="timestamp"):
        tables.customer_summary(frame.with_columns(pl.col("timestamp").cast(pl.String)))
