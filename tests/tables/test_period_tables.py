"""tables.cohort_retention and tables.period_summary against plain-Python references.

The references below are written from the definitions in the docstrings and in API.md §3,
with ``datetime`` and dicts only: calendar periods are numbered from 0001-01-01 (a Monday),
not from the 1970 epoch the library uses, so an off-by-one in either numbering shows up as
a wrong period start.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from loyaltymetrics import tables

# --------------------------------------------------------------------------------------
# plain-Python calendar periods


def period_of(day: dt.date, period: str) -> int:
    """Consecutive integer index of the calendar period containing ``day``."""
    if period == "1d":
        return day.toordinal()
    if period == "1w":
        return (day.toordinal() - 1) // 7  # ordinal 1 (0001-01-01) is a Monday
    if period == "1mo":
        return day.year * 12 + day.month - 1
    if period == "1q":
        return day.year * 4 + (day.month - 1) // 3
    if period == "1y":
        return day.year
    raise AssertionError(period)


def period_start(index: int, period: str) -> dt.date:
    """First day of the period with the given index (inverse of ``period_of``)."""
    if period == "1d":
        return dt.date.fromordinal(index)
    if period == "1w":
        return dt.date.fromordinal(index * 7 + 1)
    if period == "1mo":
        return dt.date(index // 12, index % 12 + 1, 1)
    if period == "1q":
        return dt.date(index // 4, index % 4 * 3 + 1, 1)
    if period == "1y":
        return dt.date(index, 1, 1)
    raise AssertionError(period)


def as_date(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


Row = tuple[Any, dt.date, float]  # (customer id, date or datetime, amount)


# --------------------------------------------------------------------------------------
# references


def reference_cohorts(
    rows: list[Row], period: str, observation_end: dt.date | None = None
) -> list[tuple[dt.date, int, int, int, float]]:
    end = None if observation_end is None else period_of(as_date(observation_end), period)
    activity = {
        (cid, period_of(as_date(ts), period))
        for cid, ts, _ in rows
        if end is None or period_of(as_date(ts), period) <= end
    }
    if not activity:
        return []
    first: dict[Any, int] = {}
    for cid, p in activity:
        first[cid] = min(p, first.get(cid, p))
    last = end if end is not None else max(p for _, p in activity)
    members: dict[int, list[Any]] = defaultdict(list)
    for cid, c in first.items():
        members[c].append(cid)
    out = []
    for c in sorted(members):
        size = len(members[c])
        for k in range(last - c + 1):
            active = sum((cid, c + k) in activity for cid in members[c])
            out.append((period_start(c, period), k, size, active, active / size))
    return out


def reference_period_summary(rows: list[Row], period: str, window: int) -> list[dict[str, Any]]:
    orders_in: dict[int, list[tuple[Any, float]]] = defaultdict(list)
    active_periods: dict[Any, set[int]] = defaultdict(set)
    for cid, ts, amount in rows:
        p = period_of(as_date(ts), period)
        orders_in[p].append((cid, amount))
        active_periods[cid].add(p)
    first = {cid: min(ps) for cid, ps in active_periods.items()}

    def in_base(cid: Any, t: int) -> bool:  # ordered in one of the periods t-W+1 .. t
        return any(t - window < p <= t for p in active_periods[cid])

    out = []
    lo, hi = min(orders_in), max(orders_in)
    for t in range(lo, hi + 1):
        before = {c for c in active_periods if in_base(c, t - 1)}
        after = {c for c in active_periods if in_base(c, t)}
        new = {c for c in after if first[c] == t}
        reactivated = after - before - new
        lost = before - after
        start, end = len(before), len(after)
        n_orders = len(orders_in[t])
        revenue = math.fsum(a for _, a in orders_in[t])
        per_buyer: dict[Any, int] = defaultdict(int)
        for cid, _ in orders_in[t]:
            per_buyer[cid] += 1
        buyers = len(per_buyer)
        repeat = sum(n >= 2 for n in per_buyer.values())
        out.append(
            {
                "period": period_start(t, period),
                "customers_start": start,
                "customers_new": len(new),
                "customers_reactivated": len(reactivated),
                "customers_lost": len(lost),
                "customers_end": end,
                "retention_rate": (end - len(new) - len(reactivated)) / start if start else None,
                "churn_rate": len(lost) / start if start else None,
                "orders": n_orders,
                "revenue": revenue,
                "average_order_value": revenue / n_orders if n_orders else None,
                "purchase_frequency": n_orders / buyers if buyers else None,
                "repeat_purchase_rate": repeat / buyers if buyers else None,
            }
        )
    return out


# --------------------------------------------------------------------------------------
# random transaction logs

SPAN_DAYS = {"1d": 20, "1w": 80, "1mo": 250, "1q": 700, "1y": 1500}


@dataclass
class Log:
    rows: list[Row]
    period: str
    first_day: dt.date
    span: int
    ts_dtype: pl.DataType
    string_ids: bool

    def frame(self) -> pl.DataFrame:
        ids = [f"c{r[0]}" if self.string_ids else r[0] for r in self.rows]
        return pl.DataFrame(
            {
                "customer_id": ids,
                "timestamp": pl.Series([r[1] for r in self.rows]).cast(self.ts_dtype),
                "amount": [r[2] for r in self.rows],
            }
        )

    def ref_rows(self) -> list[Row]:
        return [(f"c{r[0]}" if self.string_ids else r[0], r[1], r[2]) for r in self.rows]


@st.composite
def logs(draw: st.DrawFn, periods: tuple[str, ...] = ("1d", "1w", "1mo", "1q")) -> Log:
    period = draw(st.sampled_from(periods))
    first_day = draw(st.dates(dt.date(1968, 1, 1), dt.date(2030, 12, 31)))
    ts_dtype = draw(
        st.sampled_from([pl.Date(), pl.Datetime("ms"), pl.Datetime("us"), pl.Datetime("ns")])
    )
    span = SPAN_DAYS[period]
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(1, 6),  # customer
                st.integers(0, span),  # day offset
                st.integers(0, 24 * 60 - 1),  # minute of the day (Datetime columns)
                st.integers(-2_000, 50_000),  # cents; refunds allowed
            ),
            min_size=1,
            max_size=30,
        )
    )
    rows: list[Row] = []
    for cid, offset, minute, cents in raw:
        day = first_day + dt.timedelta(days=offset)
        ts: dt.date = day
        if isinstance(ts_dtype, pl.Datetime):
            ts = dt.datetime(day.year, day.month, day.day) + dt.timedelta(minutes=minute)
        rows.append((cid, ts, cents / 100))
    return Log(rows, period, first_day, span, ts_dtype, draw(st.booleans()))


def collect(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def assert_rows_match(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [r["period"] for r in got] == [r["period"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-12, abs=1e-9), (w["period"], key)
            else:
                assert g[key] == value, (w["period"], key)


COHORT_SCHEMA = pl.Schema(
    {
        "cohort": pl.Date(),
        "period_index": pl.Int64(),
        "cohort_size": pl.Int64(),
        "active": pl.Int64(),
        "retention": pl.Float64(),
    }
)
SUMMARY_SCHEMA = pl.Schema(
    {
        "period": pl.Date(),
        "customers_start": pl.Int64(),
        "customers_new": pl.Int64(),
        "customers_reactivated": pl.Int64(),
        "customers_lost": pl.Int64(),
        "customers_end": pl.Int64(),
        "retention_rate": pl.Float64(),
        "churn_rate": pl.Float64(),
        "orders": pl.Int64(),
        "revenue": pl.Float64(),
        "average_order_value": pl.Float64(),
        "purchase_frequency": pl.Float64(),
        "repeat_purchase_rate": pl.Float64(),
    }
)


# --------------------------------------------------------------------------------------
# 1. library == reference on random logs


@st.composite
def observation_ends(draw: st.DrawFn, log: Log) -> dt.date | None:
    if draw(st.booleans()):
        return None
    offset = draw(st.integers(-log.span // 4, log.span + log.span // 2))
    day = log.first_day + dt.timedelta(days=offset)
    if draw(st.booleans()):
        return dt.datetime(day.year, day.month, day.day, draw(st.integers(0, 23)))
    return day


@settings(max_examples=80)
@given(st.data(), logs(("1d", "1w", "1mo", "1q", "1y")), st.booleans())
def test_cohort_retention_matches_reference(data: st.DataObject, log: Log, lazy: bool) -> None:
    end = data.draw(observation_ends(log), label="observation_end")
    frame = log.frame()
    source: Any = frame.lazy() if lazy else frame
    got = tables.cohort_retention(source, period=log.period, observation_end=end)
    assert isinstance(got, pl.LazyFrame) is lazy
    result = collect(got)
    assert result.schema == COHORT_SCHEMA
    want = reference_cohorts(log.ref_rows(), log.period, end)
    # the counts and dates exactly, the rates to rounding
    assert [r[:4] for r in result.rows()] == [w[:4] for w in want]
    for (*_, r_got), (*_, r_want) in zip(result.rows(), want, strict=True):
        assert r_got == pytest.approx(r_want, rel=1e-15)


@settings(max_examples=80)
@given(logs(("1d", "1w", "1mo", "1q", "1y")), st.integers(1, 4), st.booleans(), st.booleans())
def test_period_summary_matches_reference(
    log: Log, window: int, default_window: bool, lazy: bool
) -> None:
    frame = log.frame()
    source: Any = frame.lazy() if lazy else frame
    kwargs: dict[str, Any] = {} if default_window and window == 1 else {"active_window": window}
    got = tables.period_summary(source, period=log.period, **kwargs)
    assert isinstance(got, pl.LazyFrame) is lazy
    result = collect(got)
    assert result.schema == SUMMARY_SCHEMA
    assert_rows_match(
        result.to_dicts(), reference_period_summary(log.ref_rows(), log.period, window)
    )


# --------------------------------------------------------------------------------------
# 2. hand-computed cases
#
# A: Jan 5 (10), Jan 20 (30), Feb 3 (20), Apr 10 (40)  -> active Jan, Feb, Apr (lapses in Mar)
# B: Jan 15 (50)                                       -> active Jan only
# C: Feb 28 (5), Mar 1 (15), Mar 31 (25)               -> active Feb, Mar
# D: Apr 30 (60)                                       -> active Apr only


def d(month: int, day: int) -> dt.date:
    return dt.date(2024, month, day)


HAND = pl.DataFrame(
    {
        "customer_id": ["A", "A", "A", "A", "B", "C", "C", "C", "D"],
        "timestamp": [
            *(d(1, 5), d(1, 20), d(2, 3), d(4, 10)),  # A
            d(1, 15),  # B
            *(d(2, 28), d(3, 1), d(3, 31)),  # C
            d(4, 30),  # D
        ],
        "amount": [10.0, 30.0, 20.0, 40.0, 50.0, 5.0, 15.0, 25.0, 60.0],
    }
)
FLOW_COLUMNS = [
    "period",
    "customers_start",
    "customers_new",
    "customers_reactivated",
    "customers_lost",
    "customers_end",
]
SALES_COLUMNS = [
    "period",
    "orders",
    "revenue",
    "average_order_value",
    "purchase_frequency",
    "repeat_purchase_rate",
]


def test_period_summary_by_hand_monthly() -> None:
    # W = 1: the base at the end of a month is who ordered in it.
    # Jan: base {A,B}.     S=0, N=2 (A,B), R=0, L=0, E=2; rates null (S = 0)
    # Feb: base {A,C}.     S=2, N=1 (C), R=0, L=1 (B), E=2; r=(2-1-0)/2=0.5, c=1/2
    # Mar: base {C}.       S=2, N=0, R=0, L=1 (A), E=1;   r=(1-0-0)/2=0.5, c=1/2
    # Apr: base {A,D}.     S=1, N=1 (D), R=1 (A is back), L=1 (C), E=2; r=(2-1-1)/1=0, c=1
    out = tables.period_summary(HAND)
    assert out.select(FLOW_COLUMNS).rows() == [
        (d(1, 1), 0, 2, 0, 0, 2),
        (d(2, 1), 2, 1, 0, 1, 2),
        (d(3, 1), 2, 0, 0, 1, 1),
        (d(4, 1), 1, 1, 1, 1, 2),
    ]
    assert out["retention_rate"].to_list() == [None, 0.5, 0.5, 0.0]
    assert out["churn_rate"].to_list() == [None, 0.5, 0.5, 1.0]
    # Jan: 3 orders (A, A, B) = 90, AOV 30, 2 buyers -> 1.5 orders each, A repeats -> 1/2
    # Feb: 2 orders (A, C) = 25, AOV 12.5, 2 buyers -> 1.0, nobody repeats -> 0
    # Mar: 2 orders (C, C) = 40, AOV 20, 1 buyer -> 2.0, C repeats -> 1
    # Apr: 2 orders (A, D) = 100, AOV 50, 2 buyers -> 1.0, 0
    assert out.select(SALES_COLUMNS).rows() == [
        (d(1, 1), 3, 90.0, 30.0, 1.5, 0.5),
        (d(2, 1), 2, 25.0, 12.5, 1.0, 0.0),
        (d(3, 1), 2, 40.0, 20.0, 2.0, 1.0),
        (d(4, 1), 2, 100.0, 50.0, 1.0, 0.0),
    ]


@pytest.mark.parametrize("lazy", [False, True])
def test_period_summary_periods_are_local_calendar_months(lazy: bool) -> None:
    # Both orders are in February in UTC, but the first is on January 31 in New York,
    # the column's zone: its flows (a new customer) and its sales (1 order, 10.0) both
    # belong to January, and the customer is back in February (window 1: no gap).
    tx = pl.DataFrame(
        {
            "customer_id": [7, 7],
            "timestamp": [dt.datetime(2024, 2, 1, 3, 30), dt.datetime(2024, 2, 10, 12)],
            "amount": [10.0, 30.0],
        }
    ).with_columns(
        pl.col("timestamp").dt.replace_time_zone("UTC").dt.convert_time_zone("America/New_York")
    )
    out = tables.period_summary(tx.lazy() if lazy else tx)
    if isinstance(out, pl.LazyFrame):
        out = out.collect()
    assert out.select(FLOW_COLUMNS).rows() == [
        (d(1, 1), 0, 1, 0, 0, 1),
        (d(2, 1), 1, 0, 0, 0, 1),
    ]
    assert out.select(SALES_COLUMNS).rows() == [
        (d(1, 1), 1, 10.0, 10.0, 1.0, 0.0),
        (d(2, 1), 1, 30.0, 30.0, 1.0, 0.0),
    ]


def test_period_summary_by_hand_window_two() -> None:
    # W = 2: the base at the end of month t is who ordered in t or t-1.
    # Jan: base {A,B}.     S=0, N=2, R=0, L=0, E=2
    # Feb: base {A,B,C}.   S=2, N=1 (C), R=0, L=0, E=3; r=(3-1)/2=1, c=0
    # Mar: base {A,C}.     S=3, N=0, R=0, L=1 (B: last order Jan, lost in Jan+2), E=2;
    #                      r=2/3, c=1/3
    # Apr: base {A,C,D}.   A never left (Feb keeps A in until Mar), so A is not reactivated.
    #                      S=2, N=1 (D), R=0, L=0, E=3; r=(3-1)/2=1, c=0
    out = tables.period_summary(HAND, active_window=2)
    assert out.select(FLOW_COLUMNS).rows() == [
        (d(1, 1), 0, 2, 0, 0, 2),
        (d(2, 1), 2, 1, 0, 0, 3),
        (d(3, 1), 3, 0, 0, 1, 2),
        (d(4, 1), 2, 1, 0, 0, 3),
    ]
    assert out["retention_rate"].to_list() == pytest.approx([None, 1.0, 2 / 3, 1.0])
    assert out["churn_rate"].to_list() == pytest.approx([None, 0.0, 1 / 3, 0.0])
    # the window changes the base, not the sales
    assert out["orders"].to_list() == [3, 2, 2, 2]
    assert out["revenue"].to_list() == [90.0, 25.0, 40.0, 100.0]


def test_period_summary_by_hand_quarterly() -> None:
    # Q1 (Jan-Mar): base {A,B,C}. S=0, N=3, E=3. 7 orders (A x3, B, C x3) = 155,
    #               AOV 155/7, 3 buyers -> 7/3, A and C repeat -> 2/3
    # Q2 (Apr-Jun): base {A,D}. S=3, N=1 (D), R=0, L=2 (B, C), E=2; r=(2-1)/3=1/3, c=2/3.
    #               2 orders = 100, AOV 50, 2 buyers -> 1.0, nobody repeats -> 0
    out = tables.period_summary(HAND, period="1q")
    assert out.select(FLOW_COLUMNS).rows() == [
        (d(1, 1), 0, 3, 0, 0, 3),
        (d(4, 1), 3, 1, 0, 2, 2),
    ]
    assert out["retention_rate"].to_list() == pytest.approx([None, 1 / 3])
    assert out["churn_rate"].to_list() == pytest.approx([None, 2 / 3])
    assert out["orders"].to_list() == [7, 2]
    assert out["revenue"].to_list() == [155.0, 100.0]
    assert out["average_order_value"].to_list() == pytest.approx([155 / 7, 50.0])
    assert out["purchase_frequency"].to_list() == pytest.approx([7 / 3, 1.0])
    assert out["repeat_purchase_rate"].to_list() == pytest.approx([2 / 3, 0.0])


def test_period_summary_by_hand_weekly_with_gap() -> None:
    # Weeks run Monday to Sunday. 2024-01-07 is a Sunday, 2024-01-08 a Monday.
    # X: Sun 01-07 23:59 (week of Jan 1), Mon 01-08 00:00 (week of Jan 8)
    # Y: Mon 01-22 12:00 (week of Jan 22); the week of Jan 15 has no orders.
    # wk Jan 1:  S=0, N=1 (X), E=1; 1 order of 3
    # wk Jan 8:  S=1, X stays: N=0, R=0, L=0, E=1; r=1, c=0; 1 order of 4
    # wk Jan 15: S=1, X lost: L=1, E=0; r=0, c=1; no orders: revenue 0, ratios null
    # wk Jan 22: S=0, N=1 (Y), E=1; rates null; 1 order of 5
    tx = pl.DataFrame(
        {
            "cust": ["X", "X", "Y"],
            "ts": [
                dt.datetime(2024, 1, 7, 23, 59),
                dt.datetime(2024, 1, 8, 0, 0),
                dt.datetime(2024, 1, 22, 12, 0),
            ],
            "value": [3, 4, 5],  # integer amounts
        }
    )
    out = tables.period_summary(tx, customer_id="cust", timestamp="ts", amount="value", period="1w")
    assert out.schema == SUMMARY_SCHEMA
    assert out.select(FLOW_COLUMNS).rows() == [
        (d(1, 1), 0, 1, 0, 0, 1),
        (d(1, 8), 1, 0, 0, 0, 1),
        (d(1, 15), 1, 0, 0, 1, 0),
        (d(1, 22), 0, 1, 0, 0, 1),
    ]
    assert out["retention_rate"].to_list() == [None, 1.0, 0.0, None]
    assert out["churn_rate"].to_list() == [None, 0.0, 1.0, None]
    assert out.select(SALES_COLUMNS).rows() == [
        (d(1, 1), 1, 3.0, 3.0, 1.0, 0.0),
        (d(1, 8), 1, 4.0, 4.0, 1.0, 0.0),
        (d(1, 15), 0, 0.0, None, None, None),
        (d(1, 22), 1, 5.0, 5.0, 1.0, 0.0),
    ]


def test_cohort_retention_by_hand() -> None:
    # Cohorts (month of first order): Jan {A,B}, Feb {C}, Apr {D}; no cohort starts in Mar.
    # Latest order: Apr, so every cohort is observed up to Apr.
    # Jan: Jan A,B -> 2/2; Feb A -> 1/2; Mar nobody -> 0/2 (observed, so present); Apr A -> 1/2
    # Feb: Feb C -> 1/1; Mar C -> 1/1; Apr nobody -> 0/1
    # Apr: Apr D -> 1/1
    out = tables.cohort_retention(HAND.drop("amount"))  # no amount column needed
    assert out.schema == COHORT_SCHEMA
    assert out.rows() == [
        (d(1, 1), 0, 2, 2, 1.0),
        (d(1, 1), 1, 2, 1, 0.5),
        (d(1, 1), 2, 2, 0, 0.0),
        (d(1, 1), 3, 2, 1, 0.5),
        (d(2, 1), 0, 1, 1, 1.0),
        (d(2, 1), 1, 1, 1, 1.0),
        (d(2, 1), 2, 1, 0, 0.0),
        (d(4, 1), 0, 1, 1, 1.0),
    ]


def test_cohort_retention_by_hand_observation_end() -> None:
    # observation_end 2024-03-15: April orders are ignored (D disappears, A's April order
    # does not count), cells end with March.
    out = tables.cohort_retention(HAND, observation_end=d(3, 15))
    assert out.rows() == [
        (d(1, 1), 0, 2, 2, 1.0),
        (d(1, 1), 1, 2, 1, 0.5),
        (d(1, 1), 2, 2, 0, 0.0),
        (d(2, 1), 0, 1, 1, 1.0),
        (d(2, 1), 1, 1, 1, 1.0),
    ]
    # observation_end 2024-05-31 (after the data): May is observed, and nobody bought in it.
    later = tables.cohort_retention(HAND, observation_end=dt.datetime(2024, 5, 31, 18))
    assert later.filter(pl.col("cohort") == d(1, 1))["active"].to_list() == [2, 1, 0, 1, 0]
    assert later.filter(pl.col("cohort") == d(2, 1))["active"].to_list() == [1, 1, 0, 0]
    assert later.filter(pl.col("cohort") == d(4, 1))["active"].to_list() == [1, 0]
    # before every order: no cohort at all
    empty = tables.cohort_retention(HAND, observation_end=dt.date(2023, 12, 31))
    assert empty.height == 0
    assert empty.schema == COHORT_SCHEMA


def test_cohort_retention_by_hand_quarterly() -> None:
    # Q1 cohort {A,B,C}: Q1 3/3; Q2 only A -> 1/3. Q2 cohort {D}: 1/1.
    out = tables.cohort_retention(HAND, period="1q")
    assert out.select(pl.exclude("retention")).rows() == [
        (d(1, 1), 0, 3, 3),
        (d(1, 1), 1, 3, 1),
        (d(4, 1), 0, 1, 1),
    ]
    assert out["retention"].to_list() == pytest.approx([1.0, 1 / 3, 1.0])


def test_multiple_unit_periods_by_hand() -> None:
    # "6mo" and "2q" are half-years: Jan-Jun and Jul-Dec.
    # 1: Jan 5 and Jul 1; 2: Jun 30. Cohort H1 2024 = {1, 2}; in H2 only 1 buys -> 1/2.
    tx = pl.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "timestamp": [d(1, 5), d(7, 1), d(6, 30)],
            "amount": [1.0, 2.0, 3.0],
        }
    )
    for period in ("6mo", "2q"):
        assert tables.cohort_retention(tx, period=period).rows() == [
            (d(1, 1), 0, 2, 2, 1.0),
            (d(1, 1), 1, 2, 1, 0.5),
        ], period
        # H1: S=0, N=2, E=2. H2: S=2, 1 stays, 2 is lost: L=1, E=1; r = 1/2.
        out = tables.period_summary(tx, period=period)
        assert out.select(FLOW_COLUMNS).rows() == [
            (d(1, 1), 0, 2, 0, 0, 2),
            (d(7, 1), 2, 0, 0, 1, 1),
        ], period
        assert out["retention_rate"].to_list() == [None, 0.5], period


def test_empty_log_cohort_retention() -> None:
    empty = HAND.clear()
    frames: list[Any] = [empty, empty.lazy()]
    for frame in frames:
        out = collect(tables.cohort_retention(frame))
        assert out.height == 0
        assert out.schema == COHORT_SCHEMA


def test_empty_log_period_summary() -> None:
    # "one row per period from the first order's period to the last's": no orders, no rows
    out = tables.period_summary(HAND.clear())
    assert out.schema == SUMMARY_SCHEMA
    assert out.height == 0


def test_cohort_observation_end_in_another_time_zone() -> None:
    # The end instant is 2024-02-01 03:00 UTC, written in New York time (Jan 31, 22:00).
    # Customer 2 ordered at 2024-02-01 01:00 UTC, two hours *before* it: in the data's
    # time zone (UTC) the end falls in February, so February is observed and 2 is there.
    tx = pl.DataFrame(
        {
            "customer_id": [1, 2],
            "timestamp": [dt.datetime(2024, 1, 10, 12), dt.datetime(2024, 2, 1, 1)],
        }
    ).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    end = dt.datetime(2024, 1, 31, 22, tzinfo=ZoneInfo("America/New_York"))
    assert end == dt.datetime(2024, 2, 1, 3, tzinfo=dt.UTC)
    out = tables.cohort_retention(tx, observation_end=end)
    assert out.rows() == [
        (d(1, 1), 0, 1, 1, 1.0),
        (d(1, 1), 1, 1, 0, 0.0),
        (d(2, 1), 0, 1, 1, 1.0),
    ]


# --------------------------------------------------------------------------------------
# 3. invariants


@settings(max_examples=60)
@given(logs(), st.integers(1, 4))
def test_period_summary_invariants(log: Log, window: int) -> None:
    out = tables.period_summary(log.frame(), period=log.period, active_window=window)
    rows = out.to_dicts()
    # one row per calendar period, consecutive, from the first order's to the last's
    indices = [period_of(r["period"], log.period) for r in rows]
    assert indices == list(range(indices[0], indices[0] + len(rows)))
    assert [period_start(i, log.period) for i in indices] == [r["period"] for r in rows]
    days = [as_date(r[1]) for r in log.rows]
    assert indices[0] == period_of(min(days), log.period)
    assert indices[-1] == period_of(max(days), log.period)
    previous_end = 0
    for r in rows:
        s, e = r["customers_start"], r["customers_end"]
        n, re_, lost = r["customers_new"], r["customers_reactivated"], r["customers_lost"]
        assert s == previous_end
        assert e == s - lost + n + re_
        assert min(s, e, n, re_, lost) >= 0
        assert lost <= s
        if s > 0:
            assert r["retention_rate"] + r["churn_rate"] == pytest.approx(1.0, abs=1e-12)
            assert 0.0 <= r["retention_rate"] <= 1.0
            assert r["churn_rate"] == lost / s
        else:
            assert r["retention_rate"] is None
            assert r["churn_rate"] is None
        if r["orders"] == 0:
            assert r["revenue"] == 0.0
            assert r["average_order_value"] is None
            assert r["purchase_frequency"] is None
            assert r["repeat_purchase_rate"] is None
        else:
            assert r["purchase_frequency"] >= 1.0
            assert 0.0 <= r["repeat_purchase_rate"] <= 1.0
        previous_end = e
    # every customer is new exactly once; every order is counted once
    assert sum(r["customers_new"] for r in rows) == len({r[0] for r in log.rows})
    assert sum(r["orders"] for r in rows) == len(log.rows)
    assert math.fsum(r["revenue"] for r in rows) == pytest.approx(
        math.fsum(r[2] for r in log.rows), abs=1e-6
    )


@settings(max_examples=60)
@given(st.data(), logs())
def test_cohort_retention_invariants(data: st.DataObject, log: Log) -> None:
    end = data.draw(observation_ends(log), label="observation_end")
    out = tables.cohort_retention(log.frame(), period=log.period, observation_end=end)
    seen = [
        (r[0], period_of(as_date(r[1]), log.period))
        for r in log.rows
        if end is None
        or period_of(as_date(r[1]), log.period) <= period_of(as_date(end), log.period)
    ]
    if not seen:
        assert out.height == 0
        return
    last = period_of(as_date(end), log.period) if end is not None else max(p for _, p in seen)
    assert out["cohort"].is_sorted()
    sizes = 0
    for (cohort,), cells in out.group_by("cohort", maintain_order=True):
        assert isinstance(cohort, dt.date)
        c = period_of(cohort, log.period)
        assert period_start(c, log.period) == cohort  # cohort is a period's first day
        # every observed cell, and none after the observation end
        assert cells["period_index"].to_list() == list(range(last - c + 1))
        size = cells["cohort_size"][0]
        assert (cells["cohort_size"] == size).all()
        assert cells["active"][0] == size
        assert cells["retention"][0] == 1.0
        assert ((cells["active"] >= 0) & (cells["active"] <= size)).all()
        assert ((cells["retention"] >= 0.0) & (cells["retention"] <= 1.0)).all()
        assert (cells["retention"] == cells["active"] / size).all()
        sizes += size
    assert sizes == len({cid for cid, _ in seen})  # every customer in exactly one cohort
    # active counts distinct customers: the whole table counts each (customer, period) once
    assert out["active"].sum() == len(set(seen))


# --------------------------------------------------------------------------------------
# 4. frame kinds


@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [
        (tables.cohort_retention, {}),
        (tables.cohort_retention, {"period": "1w", "observation_end": d(5, 1)}),
        (tables.period_summary, {}),
        (tables.period_summary, {"period": "1d", "active_window": 3}),
    ],
)
def test_lazy_in_lazy_out(fn: Any, kwargs: dict[str, Any]) -> None:
    eager = fn(HAND, **kwargs)
    lazy = fn(HAND.lazy(), **kwargs)
    assert isinstance(eager, pl.DataFrame)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == eager.schema
    assert_frame_equal(lazy.collect(), eager)


@pytest.mark.parametrize("fn", [tables.cohort_retention, tables.period_summary])
def test_pandas_input_is_converted_at_the_edge(fn: Any) -> None:
    # pandas in, pandas out (issue 18 item 12; it was polars out), the same table as from
    # the polars frame
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = fn(HAND.to_pandas())
    assert isinstance(out, pd.DataFrame)
    pd.testing.assert_frame_equal(out, fn(HAND).to_pandas())


@pytest.mark.parametrize("fn", [tables.cohort_retention, tables.period_summary])
def test_other_inputs_are_rejected(fn: Any) -> None:
    with pytest.raises(TypeError, match="tx must be a polars DataFrame or LazyFrame"):
        fn(HAND.to_dict(as_series=False))


# --------------------------------------------------------------------------------------
# 5. bad input

BOTH = pytest.mark.parametrize("fn", [tables.cohort_retention, tables.period_summary])


@BOTH
def test_missing_column(fn: Any) -> None:
    with pytest.raises(ValueError, match=r"customer_id column 'cust' not found.*'customer_id'"):
        fn(HAND, customer_id="cust")
    with pytest.raises(ValueError, match="timestamp column 'timestamp' not found"):
        fn(HAND.drop("timestamp"))
    with pytest.raises(ValueError, match="timestamp column 'timestamp' not found"):
        fn(HAND.lazy().drop("timestamp"))  # lazy: at call time, from the schema


def test_period_summary_missing_amount() -> None:
    with pytest.raises(ValueError, match="amount column 'amount' not found"):
        tables.period_summary(HAND.drop("amount"))
    with pytest.raises(TypeError, match="period_summary needs order values"):
        tables.period_summary(HAND, amount=None)  # type: ignore[arg-type]


@BOTH
def test_string_timestamps(fn: Any) -> None:
    bad = HAND.with_columns(pl.col("timestamp").cast(pl.String))
    with pytest.raises(TypeError, match="timestamp column 'timestamp' must be Date or Datetime"):
        fn(bad)
    with pytest.raises(TypeError, match="timestamp column 'timestamp' must be Date or Datetime"):
        fn(bad.lazy())


def test_string_amounts() -> None:
    bad = HAND.with_columns(pl.col("amount").cast(pl.String))
    with pytest.raises(TypeError, match="amount column 'amount' must be numeric"):
        tables.period_summary(bad)
    with pytest.raises(TypeError, match="amount column 'amount' must be numeric"):
        tables.period_summary(bad.lazy())


def with_nulls(column: str, count: int) -> pl.DataFrame:
    return HAND.with_columns(
        pl.when(pl.int_range(pl.len()) < count).then(None).otherwise(pl.col(column)).alias(column)
    )


NULL_CASES = [
    (tables.cohort_retention, "customer_id", 1),
    (tables.cohort_retention, "timestamp", 2),
    (tables.period_summary, "customer_id", 2),
    (tables.period_summary, "timestamp", 1),
    (tables.period_summary, "amount", 3),
]


@pytest.mark.parametrize(("fn", "column", "count"), NULL_CASES)
def test_nulls_eager(fn: Any, column: str, count: int) -> None:
    with pytest.raises(ValueError, match=rf"column '{column}' has {count} null value"):
        fn(with_nulls(column, count))


@pytest.mark.parametrize(("fn", "column", "count"), NULL_CASES)
def test_nulls_lazy_fail_at_collect(fn: Any, column: str, count: int) -> None:
    plan = fn(with_nulls(column, count).lazy())  # building the plan does not raise
    assert isinstance(plan, pl.LazyFrame)
    with pytest.raises(
        pl.exceptions.InvalidOperationError, match=rf"column '{column}' has {count} null value"
    ):
        plan.collect()


@pytest.mark.parametrize(("fn", "column", "count"), NULL_CASES)
def test_nulls_lazy_fail_when_one_column_is_selected(fn: Any, column: str, count: int) -> None:
    # projection pushdown must not prune the check
    first = "cohort" if fn is tables.cohort_retention else "revenue"
    plan = fn(with_nulls(column, count).lazy()).select(first)
    with pytest.raises(pl.exceptions.InvalidOperationError, match=f"column '{column}' has"):
        plan.collect()


def test_cohort_retention_ignores_nulls_in_other_columns() -> None:
    # the amount is not an input of cohort_retention, so its nulls do not matter
    # (the active counts are those of test_cohort_retention_by_hand)
    frames: list[Any] = [with_nulls("amount", 3), with_nulls("amount", 3).lazy()]
    for frame in frames:
        out = collect(tables.cohort_retention(frame))
        assert out["active"].to_list() == [2, 1, 0, 1, 1, 1, 0, 1]


@BOTH
@pytest.mark.parametrize("period", ["1m", "0mo", "mo", "1h", "", "1 mo", "-1w", "1.5mo", "1MO"])
def test_bad_period_string(fn: Any, period: str) -> None:
    with pytest.raises(ValueError, match=r"period must be <n><unit>.*got period="):
        fn(HAND, period=period)


@BOTH
@pytest.mark.parametrize("period", [1, None, dt.timedelta(days=30)])
def test_period_not_a_string(fn: Any, period: object) -> None:
    with pytest.raises(TypeError, match="period must be a string"):
        fn(HAND, period=period)


@pytest.mark.parametrize("window", [0, -1, -12])
def test_active_window_too_small(window: int) -> None:
    with pytest.raises(
        ValueError, match=rf"active_window must be >= 1; got active_window={window}"
    ):
        tables.period_summary(HAND, active_window=window)


@pytest.mark.parametrize("window", [1.5, 2.0, "2", True])
def test_active_window_not_an_int(window: object) -> None:
    with pytest.raises(TypeError, match="active_window must be a whole number of periods"):
        tables.period_summary(HAND, active_window=window)  # type: ignore[arg-type]


@pytest.mark.parametrize("end", ["2024-03-31", 20240331])
def test_cohort_observation_end_not_a_date(end: object) -> None:
    with pytest.raises(TypeError, match=r"observation_end must be a datetime\.date"):
        tables.cohort_retention(HAND, observation_end=end)  # type: ignore[arg-type]


def test_aware_observation_end_with_naive_timestamps_is_an_error() -> None:
    tx = pl.DataFrame(
        {"customer_id": [1], "timestamp": [dt.datetime(2024, 1, 10, 12)], "amount": [1.0]}
    )
    end = dt.datetime(2024, 1, 31, tzinfo=dt.UTC)
    with pytest.raises(TypeError, match="has a time zone but the timestamp column has none"):
        tables.cohort_retention(tx, observation_end=end)
    with pytest.raises(TypeError, match="has a time zone but the timestamp column has none"):
        tables.rfm_summary(tx, observation_end=end)
