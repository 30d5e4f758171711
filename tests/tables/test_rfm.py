"""`tables.rfm_summary` and `tables.calibration_holdout_split` (API.md §3).

Expectations come from three independent sources:

- the published CDNOW calibration summary (Fader, Hardie & Lee 2005), reproduced from the
  raw 1/10 sample of the transaction log;
- a plain-Python reference implementation (dicts, loops and ``datetime`` arithmetic) of the
  BTYD / ``lifetimes.utils.summary_data_from_transaction_data`` semantics, compared with the
  library on random logs by hypothesis;
- ``lifetimes`` itself, when it is installed and runs.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import re
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loyaltymetrics import tables

DATA = Path(__file__).parents[1] / "data"

Stamp = date | datetime  # datetime is a subclass of date
Row = tuple[Hashable, Stamp, float]  # (customer id, timestamp, amount)
# frequency, recency, T, monetary_value
RfmRow = tuple[int, float, float, float]
# ... + frequency_holdout, monetary_value_holdout, duration_holdout
SplitRow = tuple[int, float, float, float, int, float, float]

RFM_COLUMNS = ["frequency", "recency", "T"]
SPLIT_COLUMNS = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
FLOAT_TOL = 1e-9


# --------------------------------------------------------------------------------------------
# Plain-Python reference implementation
# --------------------------------------------------------------------------------------------


def ref_period(ts: Stamp, unit: str) -> int:
    """Index of the ``unit`` period containing ``ts``; differences are in ``unit``s."""
    day = ts.date() if isinstance(ts, datetime) else ts
    if unit == "D":
        return day.toordinal()
    if unit == "W":
        # ordinal 1 is Monday 0001-01-01, so this counts ISO weeks (Monday to Sunday)
        assert date.fromordinal(1).weekday() == 0
        return (day.toordinal() - 1) // 7
    if unit == "M":
        return day.year * 12 + day.month - 1
    if unit == "h":
        hour = ts.hour if isinstance(ts, datetime) else 0
        return day.toordinal() * 24 + hour
    raise AssertionError(unit)


def _period_totals(rows: Sequence[Row], unit: str, keep: Any) -> dict[Hashable, dict[int, float]]:
    totals: dict[Hashable, dict[int, float]] = {}
    for cid, ts, amount in rows:
        p = ref_period(ts, unit)
        if not keep(cid, p):
            continue
        per = totals.setdefault(cid, {})
        per[p] = per.get(p, 0.0) + amount
    return totals


def ref_rfm_summary(
    rows: Sequence[Row], observation_end: Stamp | None, unit: str, scaler: float
) -> dict[Hashable, RfmRow]:
    if observation_end is None:
        observation_end = max(ts for _, ts, _ in rows)
    end = ref_period(observation_end, unit)
    totals = _period_totals(rows, unit, lambda _cid, p: p <= end)
    out: dict[Hashable, RfmRow] = {}
    for cid, per in totals.items():
        periods = sorted(per)
        first, last = periods[0], periods[-1]
        repeat = [per[p] for p in periods[1:]]
        monetary = sum(repeat) / len(repeat) if repeat else 0.0
        out[cid] = (len(periods) - 1, (last - first) / scaler, (end - first) / scaler, monetary)
    return out


def ref_calibration_holdout_split(
    rows: Sequence[Row], calibration_end: Stamp, holdout_end: Stamp, unit: str, scaler: float
) -> dict[Hashable, SplitRow]:
    cal = ref_rfm_summary(rows, calibration_end, unit, scaler)
    cal_p = ref_period(calibration_end, unit)
    hold_p = ref_period(holdout_end, unit)
    hold = _period_totals(rows, unit, lambda cid, p: cid in cal and cal_p < p <= hold_p)
    out: dict[Hashable, SplitRow] = {}
    for cid, summary in cal.items():
        per = hold.get(cid, {})
        monetary = sum(per.values()) / len(per) if per else 0.0
        out[cid] = (*summary, len(per), monetary, (hold_p - cal_p) / scaler)
    return out


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _collect(result: pl.DataFrame | pl.LazyFrame, *, lazy: bool) -> pl.DataFrame:
    if lazy:
        assert isinstance(result, pl.LazyFrame), type(result)
        return result.collect()
    assert isinstance(result, pl.DataFrame), type(result)
    return result


def _close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=FLOAT_TOL, abs_tol=FLOAT_TOL)


def _check_table(
    out: pl.DataFrame,
    expected: dict[Hashable, tuple[Any, ...]],
    *,
    id_col: str,
    id_dtype: pl.DataType,
    columns: list[str],
    int_columns: set[str],
) -> None:
    """``expected`` rows are tuples in the order of ``columns`` (after the id column)."""
    assert out.columns[0] == id_col
    assert set(out.columns) == {id_col, *columns}, out.columns
    assert len(out.columns) == len(columns) + 1, out.columns
    assert out.schema[id_col] == id_dtype
    for name in columns:
        dtype = out.schema[name]
        if name in int_columns:
            assert dtype.is_integer(), (name, dtype)
        else:
            assert dtype == pl.Float64, (name, dtype)
    ids = out[id_col].to_list()
    assert ids == sorted(expected), "one row per customer, sorted by customer id"
    for row in out.iter_rows(named=True):
        want = expected[row[id_col]]
        for name, value in zip(columns, want, strict=True):
            got = row[name]
            if name in int_columns:
                assert got == value, (row[id_col], name, got, value)
            else:
                assert got is not None, (row[id_col], name)
                assert _close(got, value), (row[id_col], name, got, value)


def _rfm_columns(with_amount: bool) -> list[str]:
    return [*RFM_COLUMNS, "monetary_value"] if with_amount else list(RFM_COLUMNS)


def _split_columns(with_amount: bool) -> list[str]:
    if with_amount:
        return [
            "frequency_cal",
            "recency_cal",
            "T_cal",
            "monetary_value_cal",
            "frequency_holdout",
            "monetary_value_holdout",
            "duration_holdout",
        ]
    return list(SPLIT_COLUMNS)


def _drop_monetary_rfm(row: RfmRow, with_amount: bool) -> tuple[Any, ...]:
    return row if with_amount else row[:3]


def _drop_monetary_split(row: SplitRow, with_amount: bool) -> tuple[Any, ...]:
    if with_amount:
        return row
    freq, rec, t, _m, f_h, _m_h, dur = row
    return (freq, rec, t, f_h, dur)


# --------------------------------------------------------------------------------------------
# 1. CDNOW reproduction
# --------------------------------------------------------------------------------------------


@functools.cache
def cdnow_rows() -> tuple[Row, ...]:
    rows: list[Row] = []
    for line in (DATA / "CDNOW_sample.txt").read_text().splitlines():
        if not line.strip():
            continue
        _master, sample_id, ymd, _cds, dollars = line.split()
        day = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
        rows.append((int(sample_id), day, float(dollars)))
    return tuple(rows)


@functools.cache
def cdnow_published() -> dict[int, RfmRow]:
    out: dict[int, RfmRow] = {}
    with (DATA / "cdnow_customers_summary_with_transactions.csv").open(newline="") as f:
        for rec in csv.DictReader(f):
            out[int(rec["ID"])] = (
                int(rec["x"]),
                float(rec["t_x"]),
                float(rec["T"]),
                float(rec["zbar"]),
            )
    return out


def cdnow_frame() -> pl.DataFrame:
    rows = cdnow_rows()
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
        },
        schema={"customer_id": pl.Int64, "timestamp": pl.Date, "amount": pl.Float64},
    )


CDNOW_END = date(1997, 9, 30)
ROUNDING_TOL = 0.005 + 1e-9


def test_cdnow_data_files_are_what_the_readme_says() -> None:
    rows = cdnow_rows()
    published = cdnow_published()
    assert len(rows) == 6919
    assert {r[0] for r in rows} == set(range(1, 2358))
    assert sorted(published) == list(range(1, 2358))
    assert sum(1 for v in published.values() if v[0] > 0) == 946


def test_reference_implementation_reproduces_cdnow() -> None:
    """The reference itself is checked against the published summary."""
    ref = ref_rfm_summary(cdnow_rows(), CDNOW_END, "D", 7.0)
    published = cdnow_published()
    assert ref.keys() == published.keys()
    for cid, (x, t_x, t_big, zbar) in published.items():
        freq, rec, t, mon = ref[cid]
        assert freq == x
        assert abs(rec - t_x) <= ROUNDING_TOL
        assert abs(t - t_big) <= ROUNDING_TOL
        assert abs(mon - zbar) <= ROUNDING_TOL


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_cdnow_summary_reproduced(lazy: bool) -> None:
    tx = cdnow_frame()
    result = tables.rfm_summary(
        tx.lazy() if lazy else tx,
        amount="amount",
        observation_end=CDNOW_END,
        time_unit="D",
        time_scaler=7,
    )
    out = _collect(result, lazy=lazy)
    assert out.columns == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert out.height == 2357
    assert out["customer_id"].to_list() == list(range(1, 2358))
    assert out.filter(pl.col("frequency") > 0).height == 946
    published = cdnow_published()
    bad: list[tuple[Any, ...]] = []
    for row in out.iter_rows(named=True):
        x, t_x, t_big, zbar = published[row["customer_id"]]
        ok = (
            row["frequency"] == x
            and abs(row["recency"] - t_x) <= ROUNDING_TOL
            and abs(row["T"] - t_big) <= ROUNDING_TOL
            and abs(row["monetary_value"] - zbar) <= ROUNDING_TOL
        )
        if not ok:
            bad.append((row, (x, t_x, t_big, zbar)))
    assert not bad, f"{len(bad)} customers differ, first: {bad[:3]}"


def test_cdnow_calibration_holdout_split_matches_reference() -> None:
    holdout_end = date(1998, 6, 30)
    out = _collect(
        tables.calibration_holdout_split(
            cdnow_frame(),
            calibration_end=CDNOW_END,
            holdout_end=holdout_end,
            amount="amount",
            time_unit="D",
            time_scaler=7,
        ),
        lazy=False,
    )
    # The calibration part is the published summary.
    published = cdnow_published()
    assert out.height == 2357
    for row in out.iter_rows(named=True):
        x, t_x, t_big, zbar = published[row["customer_id"]]
        assert row["frequency_cal"] == x
        assert abs(row["recency_cal"] - t_x) <= ROUNDING_TOL
        assert abs(row["T_cal"] - t_big) <= ROUNDING_TOL
        assert abs(row["monetary_value_cal"] - zbar) <= ROUNDING_TOL
    expected = ref_calibration_holdout_split(cdnow_rows(), CDNOW_END, holdout_end, "D", 7.0)
    _check_table(
        out,
        dict(expected),
        id_col="customer_id",
        id_dtype=pl.Int64(),
        columns=_split_columns(True),
        int_columns={"frequency_cal", "frequency_holdout"},
    )
    # (1998-06-30 - 1997-09-30) = 273 days = 39 weeks
    assert out["duration_holdout"].unique().to_list() == [39.0]


# --------------------------------------------------------------------------------------------
# Hand-computed examples
# --------------------------------------------------------------------------------------------


def _small_log() -> pl.DataFrame:
    # Customer 7: two orders on Wed 2020-01-01 (one period), then 01-08, 01-15 (at the
    # observation end, late in the day), 01-20 (after it). Customer 3: one order on 01-10.
    # Customer 9: only after the observation end (absent).
    return pl.DataFrame(
        {
            "customer_id": [7, 7, 7, 7, 7, 3, 9],
            "timestamp": [
                datetime(2020, 1, 1, 10, 0),
                datetime(2020, 1, 1, 18, 30),
                datetime(2020, 1, 8, 9, 0),
                datetime(2020, 1, 15, 23, 59),
                datetime(2020, 1, 20, 12, 0),
                datetime(2020, 1, 10, 8, 0),
                datetime(2020, 2, 1, 8, 0),
            ],
            "amount": [5.0, 3.0, 4.0, 0.0, 99.0, 12.5, 1.0],
        }
    )


@pytest.mark.parametrize(
    ("time_unit", "time_scaler", "expected"),
    [
        # D: periods 01-01, 01-08, 01-15 -> frequency 2, recency 14, T 14, mean(4, 0) = 2
        ("D", 1.0, {3: (0, 0.0, 5.0, 0.0), 7: (2, 14.0, 14.0, 2.0)}),
        ("D", 7.0, {3: (0, 0.0, 5 / 7, 0.0), 7: (2, 2.0, 2.0, 2.0)}),
        # W (Monday weeks): 12-30, 01-06, 01-13; customer 3 in week 01-06, end week 01-13
        ("W", 1.0, {3: (0, 0.0, 1.0, 0.0), 7: (2, 2.0, 2.0, 2.0)}),
        # M: everything up to the end is in January
        ("M", 1.0, {3: (0, 0.0, 0.0, 0.0), 7: (0, 0.0, 0.0, 0.0)}),
    ],
)
def test_hand_computed_example(
    time_unit: str, time_scaler: float, expected: dict[int, RfmRow]
) -> None:
    out = tables.rfm_summary(
        _small_log(),
        amount="amount",
        observation_end=datetime(2020, 1, 15, 0, 0),
        time_unit=time_unit,
        time_scaler=time_scaler,
    )
    _check_table(
        _collect(out, lazy=False),
        dict(expected),
        id_col="customer_id",
        id_dtype=pl.Int64(),
        columns=_rfm_columns(True),
        int_columns={"frequency"},
    )


def test_hand_computed_hourly() -> None:
    # hours: 01-01 10h, 01-01 18h, 01-08 9h, 01-15 23h (end 01-15 23:10 -> same hour)
    out = tables.rfm_summary(
        _small_log(),
        amount="amount",
        observation_end=datetime(2020, 1, 15, 23, 10),
        time_unit="h",
        time_scaler=24.0,
    )
    first = datetime(2020, 1, 1, 10)
    last = datetime(2020, 1, 15, 23)
    recency = (last - first) / timedelta(days=1)
    t3 = (last - datetime(2020, 1, 10, 8)) / timedelta(days=1)
    _check_table(
        _collect(out, lazy=False),
        {3: (0, 0.0, t3, 0.0), 7: (3, recency, recency, (3.0 + 4.0 + 0.0) / 3)},
        id_col="customer_id",
        id_dtype=pl.Int64(),
        columns=_rfm_columns(True),
        int_columns={"frequency"},
    )


def test_hand_computed_default_observation_end_is_latest_period() -> None:
    # latest order: 2020-02-01 (customer 9); no amount column requested
    out = _collect(tables.rfm_summary(_small_log()), lazy=False)
    assert out.columns == ["customer_id", "frequency", "recency", "T"]
    _check_table(
        out,
        {3: (0, 0.0, 22.0), 7: (3, 19.0, 31.0), 9: (0, 0.0, 0.0)},
        id_col="customer_id",
        id_dtype=pl.Int64(),
        columns=RFM_COLUMNS,
        int_columns={"frequency"},
    )


def test_hand_computed_split() -> None:
    out = tables.calibration_holdout_split(
        _small_log(),
        calibration_end=datetime(2020, 1, 8),
        holdout_end=datetime(2020, 1, 31),
        amount="amount",
    )
    # customer 7: cal periods 01-01, 01-08 -> (1, 7, 7, 4); holdout 01-15 (0.0), 01-20 (99.0)
    # customer 3 and 9: first order after the calibration end -> absent
    _check_table(
        _collect(out, lazy=False),
        {7: (1, 7.0, 7.0, 4.0, 2, 49.5, 23.0)},
        id_col="customer_id",
        id_dtype=pl.Int64(),
        columns=_split_columns(True),
        int_columns={"frequency_cal", "frequency_holdout"},
    )


def test_observation_end_before_every_order_gives_no_customers() -> None:
    out = _collect(
        tables.rfm_summary(_small_log(), amount="amount", observation_end=datetime(2019, 12, 31)),
        lazy=False,
    )
    assert out.height == 0
    assert out.columns == ["customer_id", "frequency", "recency", "T", "monetary_value"]


# --------------------------------------------------------------------------------------------
# 2. Differential tests against the reference on random logs
# --------------------------------------------------------------------------------------------

# Per time unit: the time_scalers to try, how many days orders spread over, and the smallest
# step in days from calibration_end to holdout_end that guarantees a later period.
UNITS: dict[str, tuple[tuple[float, ...], int, int]] = {
    "D": ((1.0, 7.0), 60, 1),
    "W": ((1.0,), 150, 7),
    "M": ((1.0,), 500, 31),
    "h": ((1.0, 24.0), 6, 1),
}


@dataclass(frozen=True)
class Log:
    rows: tuple[Row, ...]
    id_col: str
    ts_col: str
    amount_col: str
    id_dtype: pl.DataType
    ts_dtype: pl.DataType
    amount_dtype: pl.DataType
    with_amount: bool
    custom_names: bool
    time_unit: str
    time_scaler: float
    lazy: bool
    base: date
    span: int
    is_datetime: bool

    def frame(self) -> pl.DataFrame | pl.LazyFrame:
        df = pl.DataFrame(
            {
                self.id_col: [r[0] for r in self.rows],
                self.ts_col: [r[1] for r in self.rows],
                self.amount_col: [r[2] for r in self.rows],
            },
            schema={
                self.id_col: self.id_dtype,
                self.ts_col: self.ts_dtype,
                self.amount_col: self.amount_dtype,
            },
        )
        return df.lazy() if self.lazy else df

    def names(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.custom_names:
            kw["customer_id"] = self.id_col
            kw["timestamp"] = self.ts_col
        if self.with_amount:
            kw["amount"] = self.amount_col
        return kw


def _stamp(draw: st.DrawFn, day: date, is_datetime: bool) -> Stamp:
    if not is_datetime:
        return day
    seconds = draw(st.integers(0, 86_399))
    return datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)


@st.composite
def logs(draw: st.DrawFn, units: Sequence[str] = ("D", "W", "M", "h")) -> Log:
    time_unit = draw(st.sampled_from(units))
    scalers, span, _ = UNITS[time_unit]
    time_scaler = draw(st.sampled_from(scalers))
    span = draw(st.integers(0, span))
    base = draw(st.dates(min_value=date(2019, 1, 1), max_value=date(2021, 12, 31)))
    is_datetime = draw(st.booleans())
    ts_dtype: pl.DataType = (
        pl.Datetime(draw(st.sampled_from(["us", "ms", "ns"]))) if is_datetime else pl.Date()
    )
    string_ids = draw(st.booleans())
    n_customers = draw(st.integers(1, 6))
    if string_ids:
        ids: list[Hashable] = draw(
            st.lists(
                st.text("abcXYZ019_", min_size=1, max_size=4),
                min_size=n_customers,
                max_size=n_customers,
                unique=True,
            )
        )
    else:
        ids = draw(
            st.lists(
                st.integers(-(10**9), 10**9),
                min_size=n_customers,
                max_size=n_customers,
                unique=True,
            )
        )
    int_amounts = draw(st.booleans())
    amount_st = (
        st.integers(0, 500)
        if int_amounts
        else st.one_of(st.just(0.0), st.integers(0, 50_000).map(lambda c: c / 100))
    )
    rows: list[Row] = []
    for cid in ids:
        n_orders = draw(st.integers(1, 6))
        days: list[date] = []
        for _ in range(n_orders):
            # a tie: several orders of one customer on the same day
            if days and draw(st.booleans()):
                day = draw(st.sampled_from(days))
            else:
                day = base + timedelta(days=draw(st.integers(0, span)))
            days.append(day)
            rows.append((cid, _stamp(draw, day, is_datetime), draw(amount_st)))
    order = draw(st.permutations(range(len(rows))))
    custom_names = draw(st.booleans())
    return Log(
        rows=tuple(rows[i] for i in order),
        id_col="cust" if custom_names else "customer_id",
        ts_col="ordered_at" if custom_names else "timestamp",
        amount_col="revenue" if custom_names else "amount",
        id_dtype=pl.String() if string_ids else pl.Int64(),
        ts_dtype=ts_dtype,
        amount_dtype=pl.Int64() if int_amounts else pl.Float64(),
        with_amount=draw(st.booleans()),
        custom_names=custom_names,
        time_unit=time_unit,
        time_scaler=time_scaler,
        lazy=draw(st.booleans()),
        base=base,
        span=span,
        is_datetime=is_datetime,
    )


def _boundary(draw: st.DrawFn, log: Log) -> Stamp:
    """A cut-off: often exactly an order's day, sometimes anywhere around the log."""
    if draw(st.booleans()):
        day = draw(st.sampled_from([r[1] for r in log.rows]))
        day = day.date() if isinstance(day, datetime) else day
    else:
        day = log.base + timedelta(days=draw(st.integers(-3, log.span + 3)))
    return _stamp(draw, day, log.is_datetime)


@st.composite
def rfm_cases(
    draw: st.DrawFn, units: Sequence[str] = ("D", "W", "M", "h")
) -> tuple[Log, Stamp | None]:
    log = draw(logs(units))
    end = None if draw(st.integers(0, 3)) == 0 else _boundary(draw, log)
    return log, end


@st.composite
def split_cases(draw: st.DrawFn) -> tuple[Log, Stamp, Stamp]:
    log = draw(logs())
    cal = _boundary(draw, log)
    _, span, min_step = UNITS[log.time_unit]
    cal_day = cal.date() if isinstance(cal, datetime) else cal
    hold_day = cal_day + timedelta(days=draw(st.integers(min_step, min_step + span)))
    return log, cal, _stamp(draw, hold_day, log.is_datetime)


@settings(max_examples=200)
@given(case=rfm_cases())
def test_rfm_summary_matches_reference(case: tuple[Log, Stamp | None]) -> None:
    log, end = case
    result = tables.rfm_summary(
        log.frame(),
        **log.names(),
        observation_end=end,
        time_unit=log.time_unit,
        time_scaler=log.time_scaler,
    )
    out = _collect(result, lazy=log.lazy)
    expected = ref_rfm_summary(log.rows, end, log.time_unit, log.time_scaler)
    _check_table(
        out,
        {k: _drop_monetary_rfm(v, log.with_amount) for k, v in expected.items()},
        id_col=log.id_col,
        id_dtype=log.id_dtype,
        columns=_rfm_columns(log.with_amount),
        int_columns={"frequency"},
    )


@settings(max_examples=150)
@given(case=split_cases())
def test_calibration_holdout_split_matches_reference(case: tuple[Log, Stamp, Stamp]) -> None:
    log, cal, hold = case
    result = tables.calibration_holdout_split(
        log.frame(),
        calibration_end=cal,
        holdout_end=hold,
        **log.names(),
        time_unit=log.time_unit,
        time_scaler=log.time_scaler,
    )
    out = _collect(result, lazy=log.lazy)
    expected = ref_calibration_holdout_split(log.rows, cal, hold, log.time_unit, log.time_scaler)
    _check_table(
        out,
        {k: _drop_monetary_split(v, log.with_amount) for k, v in expected.items()},
        id_col=log.id_col,
        id_dtype=log.id_dtype,
        columns=_split_columns(log.with_amount),
        int_columns={"frequency_cal", "frequency_holdout"},
    )


@settings(max_examples=50)
@given(case=split_cases())
def test_split_calibration_part_is_rfm_summary(case: tuple[Log, Stamp, Stamp]) -> None:
    log, cal, hold = case
    kw: dict[str, Any] = {
        **log.names(),
        "time_unit": log.time_unit,
        "time_scaler": log.time_scaler,
    }
    split = _collect(
        tables.calibration_holdout_split(log.frame(), calibration_end=cal, holdout_end=hold, **kw),
        lazy=log.lazy,
    )
    rfm = _collect(tables.rfm_summary(log.frame(), observation_end=cal, **kw), lazy=log.lazy)
    renamed = rfm.rename({c: f"{c}_cal" for c in rfm.columns if c != log.id_col})
    assert_frame_equal(split.select(renamed.columns), renamed, check_dtypes=False)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("ts_dtype", [pl.Date(), pl.Datetime("us")], ids=["date", "datetime"])
@pytest.mark.parametrize("with_amount", [False, True], ids=["no-amount", "amount"])
def test_empty_input(lazy: bool, ts_dtype: pl.DataType, with_amount: bool) -> None:
    df = pl.DataFrame(schema={"customer_id": pl.Int64, "timestamp": ts_dtype, "amount": pl.Float64})
    tx = df.lazy() if lazy else df
    kw: dict[str, Any] = {"amount": "amount"} if with_amount else {}
    is_date = ts_dtype == pl.Date
    end = date(2020, 1, 31) if is_date else datetime(2020, 1, 31)
    hold = date(2020, 3, 31) if is_date else datetime(2020, 3, 31)
    out = _collect(tables.rfm_summary(tx, observation_end=end, **kw), lazy=lazy)
    assert out.height == 0
    assert out.columns == ["customer_id", *_rfm_columns(with_amount)]
    split = _collect(
        tables.calibration_holdout_split(tx, calibration_end=end, holdout_end=hold, **kw),
        lazy=lazy,
    )
    assert split.height == 0
    assert split.columns[0] == "customer_id"
    assert set(split.columns) == {"customer_id", *_split_columns(with_amount)}


# --------------------------------------------------------------------------------------------
# 3. Differential test against lifetimes (when it installs and runs)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lifetimes_utils() -> ModuleType:
    # lifetimes 0.11 sets a pandas option that pandas 3 deprecates at import time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("pandas")
        return pytest.importorskip("lifetimes.utils")


@settings(max_examples=60)
# lifetimes cannot divide by a calendar month (np.timedelta64(1, "M")) on pandas >= 3
@given(case=rfm_cases(units=("D", "W", "h")))
def test_rfm_summary_matches_lifetimes(
    lifetimes_utils: ModuleType, case: tuple[Log, Stamp | None]
) -> None:
    import pandas as pd

    log, end = case
    rows = log.rows
    if not ref_rfm_summary(rows, end, log.time_unit, log.time_scaler):
        return  # nothing up to the observation end; lifetimes does not handle that
    tx = pd.DataFrame(
        {
            "cid": [r[0] for r in rows],
            "ts": pd.to_datetime([datetime(*r[1].timetuple()[:6]) for r in rows]),
            "amt": [float(r[2]) for r in rows],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = lifetimes_utils.summary_data_from_transaction_data(
            tx,
            "cid",
            "ts",
            monetary_value_col="amt",
            observation_period_end=None if end is None else pd.Timestamp(end),
            freq=log.time_unit,
            freq_multiplier=log.time_scaler,
        )
    expected: dict[Hashable, RfmRow] = {
        cid: (int(r["frequency"]), r["recency"], r["T"], r["monetary_value"])
        for cid, r in want.iterrows()
    }
    amount_log = dataclasses.replace(log, with_amount=True)
    out = _collect(
        tables.rfm_summary(
            amount_log.frame(),
            **amount_log.names(),
            observation_end=end,
            time_unit=log.time_unit,
            time_scaler=log.time_scaler,
        ),
        lazy=log.lazy,
    )
    _check_table(
        out,
        expected,
        id_col=log.id_col,
        id_dtype=log.id_dtype,
        columns=_rfm_columns(True),
        int_columns={"frequency"},
    )


# --------------------------------------------------------------------------------------------
# 4. Bad input
# --------------------------------------------------------------------------------------------


def _valid_tx() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 3],
            "timestamp": [date(2020, 1, 1), date(2020, 1, 5), date(2020, 1, 3), date(2020, 1, 4)],
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    )


def _run_rfm(tx: pl.DataFrame | pl.LazyFrame, **kw: Any) -> pl.DataFrame:
    out = tables.rfm_summary(tx, **kw)
    return out.collect() if isinstance(out, pl.LazyFrame) else out


def _run_split(tx: pl.DataFrame | pl.LazyFrame, **kw: Any) -> pl.DataFrame:
    out = tables.calibration_holdout_split(
        tx, calibration_end=date(2020, 1, 3), holdout_end=date(2020, 1, 10), **kw
    )
    return out.collect() if isinstance(out, pl.LazyFrame) else out


MISSING_COLUMN = (ValueError, pl.exceptions.ColumnNotFoundError)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("run", [_run_rfm, _run_split], ids=["rfm_summary", "split"])
@pytest.mark.parametrize(
    ("transform", "kw", "missing"),
    [
        (lambda df: df.drop("timestamp"), {}, "timestamp"),
        (lambda df: df.rename({"customer_id": "cust"}), {}, "customer_id"),
        (lambda df: df, {"amount": "revenue"}, "revenue"),
        (lambda df: df, {"timestamp": "ordered_at"}, "ordered_at"),
        (lambda df: df, {"customer_id": "client"}, "client"),
    ],
    ids=["timestamp", "customer_id", "amount", "custom-timestamp", "custom-customer_id"],
)
def test_missing_column_is_named(
    lazy: bool, run: Any, transform: Any, kw: dict[str, Any], missing: str
) -> None:
    tx = transform(_valid_tx())
    with pytest.raises(MISSING_COLUMN, match=re.escape(missing)):
        run(tx.lazy() if lazy else tx, **kw)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("run", [_run_rfm, _run_split], ids=["rfm_summary", "split"])
def test_string_timestamps_are_a_type_error(lazy: bool, run: Any) -> None:
    tx = _valid_tx().with_columns(pl.col("timestamp").dt.to_string())
    assert tx.schema["timestamp"] == pl.String
    with pytest.raises(TypeError, match="timestamp"):
        run(tx.lazy() if lazy else tx)


@pytest.mark.parametrize("run", [_run_rfm, _run_split], ids=["rfm_summary", "split"])
def test_null_customer_ids_are_counted(run: Any) -> None:
    tx = pl.concat(
        [
            _valid_tx(),
            pl.DataFrame(
                {
                    "customer_id": [None, None],
                    "timestamp": [date(2020, 1, 2), date(2020, 1, 3)],
                    "amount": [1.0, 1.0],
                },
                schema=_valid_tx().schema,
            ),
        ]
    )
    with pytest.raises(ValueError, match=r"customer_id(.|\n)*\b2\b|\b2\b(.|\n)*customer_id"):
        run(tx)


@pytest.mark.parametrize("run", [_run_rfm, _run_split], ids=["rfm_summary", "split"])
def test_null_timestamps_are_counted(run: Any) -> None:
    tx = pl.concat(
        [
            _valid_tx(),
            pl.DataFrame(
                {"customer_id": [1, 2, 5], "timestamp": [None, None, None], "amount": [1.0] * 3},
                schema=_valid_tx().schema,
            ),
        ]
    )
    with pytest.raises(ValueError, match=r"timestamp(.|\n)*\b3\b|\b3\b(.|\n)*timestamp"):
        run(tx)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("run", [_run_rfm, _run_split], ids=["rfm_summary", "split"])
def test_unknown_time_unit(lazy: bool, run: Any) -> None:
    tx = _valid_tx()
    with pytest.raises(ValueError, match=r"time_unit(.|\n)*X|X(.|\n)*time_unit"):
        run(tx.lazy() if lazy else tx, time_unit="X")
