"""tables.subscription_lifetimes and tables.survival_table against a brute-force reference.

The reference walks each subscription's billing periods one by one in Python
(``start + k * period`` with calendar months clamped to the month's length), which is the
definition in API.md §4c; the library computes the same counts with integer arithmetic.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyaltymetrics import models, tables

# -- the reference --------------------------------------------------------------------------


def add_period(start: dt.datetime, k: int, period: str) -> dt.datetime:
    """start + k periods; months from the start (never chained), day clamped."""
    digits = len(period) - len(period.lstrip("0123456789"))
    n, unit = int(period[:digits]), period[digits:]
    if unit in ("d", "w"):
        return start + dt.timedelta(days=k * n * (7 if unit == "w" else 1))
    months = k * n * {"mo": 1, "q": 3, "y": 12}[unit]
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)


def as_datetime(x: dt.date | dt.datetime) -> dt.datetime:
    return x if isinstance(x, dt.datetime) else dt.datetime.combine(x, dt.time())


def reference_lifetime(
    start: dt.datetime, end: dt.datetime | None, obs: dt.datetime, period: str
) -> tuple[int, bool]:
    """(lifetime, churned) by walking the periods: obs is inclusive."""
    churned = end is not None and end <= obs
    k = 0
    while True:
        begin = add_period(start, k, period)
        paid = begin < end if churned else begin <= obs  # type: ignore[operator]
        if not paid:
            break
        k += 1
    return max(k, 1), churned


def reference_table(
    rows: list[tuple[dt.datetime, dt.datetime | None]],
    obs: dt.datetime,
    period: str,
    cohort_of: Any,
) -> dict[tuple[Any, int], tuple[int, int, int, int]]:
    """(cohort, period) -> (size, alive, churned, censored) by brute force."""
    by_cohort: dict[Any, list[tuple[dt.datetime, int, bool]]] = {}
    for start, end in rows:
        if start > obs:
            continue
        life, churned = reference_lifetime(start, end, obs, period)
        by_cohort.setdefault(cohort_of(start), []).append((start, life, churned))
    out = {}
    for cohort, subs in by_cohort.items():
        first = min(s for s, _, _ in subs)
        n_periods = 0
        while add_period(first, n_periods, period) <= obs:
            n_periods += 1
        for k in range(n_periods):
            alive = sum(life > k for _, life, _ in subs)
            gone = sum(c and life == k + 1 for _, life, c in subs)
            censored = sum((not c) and life <= k for _, life, c in subs)
            out[(cohort, k)] = (len(subs), alive, gone, censored)
    return out


def month_cohort(start: dt.datetime) -> dt.date:
    return dt.date(start.year, start.month, 1)


def log(starts: list[Any], ends: list[Any]) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": list(range(len(starts))), "start": starts, "end": ends})


# -- semantics ------------------------------------------------------------------------------


def test_cancel_on_renewal_day_does_not_pay_it() -> None:
    subs = log(
        [dt.date(2024, 1, 1)] * 3,
        [dt.date(2024, 3, 1), dt.date(2024, 2, 29), dt.date(2024, 3, 2)],
    )
    out = tables.subscription_lifetimes(subs, observation_end=dt.date(2024, 12, 31))
    assert out["lifetime"].to_list() == [2, 2, 3]
    assert out["churned"].to_list() == [True, True, True]


def test_cancel_one_microsecond_after_the_renewal_pays_it() -> None:
    start = dt.datetime(2024, 1, 1, 9, 30)
    subs = log([start, start], [dt.datetime(2024, 3, 1, 9, 30), dt.datetime(2024, 3, 1, 9, 31)])
    out = tables.subscription_lifetimes(subs, observation_end=dt.datetime(2025, 1, 1))
    assert out["lifetime"].to_list() == [2, 3]


def test_month_end_starts_renew_on_the_clamped_day() -> None:
    # started 31 January (leap year): renewals on 29 February and 31 March
    start = [dt.date(2024, 1, 31)] * 4
    end = [dt.date(2024, 2, 29), dt.date(2024, 3, 1), None, None]
    subs = log(start, end)
    lives = tables.subscription_lifetimes(subs, observation_end=dt.date(2024, 3, 30))
    assert lives["lifetime"].to_list() == [1, 2, 2, 2]
    lives = tables.subscription_lifetimes(subs, observation_end=dt.date(2024, 3, 31))
    assert lives["lifetime"].to_list() == [1, 2, 3, 3]
    assert lives["churned"].to_list() == [True, True, False, False]


def test_cancel_on_start_day_paid_the_first_period() -> None:
    subs = log([dt.date(2024, 5, 5)], [dt.date(2024, 5, 5)])
    out = tables.subscription_lifetimes(subs)
    assert out.row(0) == (0, dt.date(2024, 5, 1), 1, True)


def test_end_after_observation_end_is_active_and_late_starts_are_absent() -> None:
    subs = log(
        [dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 7, 1)],
        [dt.date(2024, 8, 15), None, None],
    )
    out = tables.subscription_lifetimes(subs, observation_end=dt.date(2024, 6, 1))
    assert out.rows() == [
        (0, dt.date(2024, 1, 1), 6, False),
        (1, dt.date(2024, 1, 1), 6, False),
    ]
    # the default observation end is the latest start or end in the log (15 August)
    out = tables.subscription_lifetimes(subs)
    assert out["lifetime"].to_list() == [8, 8, 2]
    assert out["churned"].to_list() == [True, False, False]


def test_observation_end_datetime_on_date_columns_is_its_day() -> None:
    subs = log([dt.date(2024, 1, 1)], [None])
    a = tables.subscription_lifetimes(subs, observation_end=dt.datetime(2024, 3, 1, 0, 0))
    b = tables.subscription_lifetimes(subs, observation_end=dt.date(2024, 3, 1))
    assert a["lifetime"].to_list() == b["lifetime"].to_list() == [3]


def test_yearly_weekly_and_daily_periods() -> None:
    subs = log([dt.date(2020, 2, 29), dt.date(2024, 1, 1)], [None, dt.date(2024, 1, 15)])
    yearly = tables.subscription_lifetimes(subs, period="1y", observation_end=dt.date(2024, 2, 28))
    # 2020-02-29, 2021-02-28, 2022-02-28, 2023-02-28 (clamped), 2024-02-29 not yet
    assert yearly["lifetime"].to_list() == [4, 1]
    assert yearly["cohort"].to_list() == [dt.date(2020, 1, 1), dt.date(2024, 1, 1)]
    weekly = tables.subscription_lifetimes(subs, period="7d", observation_end=dt.date(2024, 2, 28))
    assert weekly["lifetime"][1] == 2  # 1 and 8 January paid; the 15th is the cancel day
    assert (
        tables.subscription_lifetimes(subs, period="1w", observation_end=dt.date(2024, 2, 28))[
            "lifetime"
        ].to_list()
        == weekly["lifetime"].to_list()
    )


def test_time_zone_aware_columns_use_the_local_clock() -> None:
    # 1 March 00:30 in Paris is 29 February 23:30 UTC: a Paris monthly plan renews on
    # 1 April 00:30 local time, whatever the UTC date
    zone = "Europe/Paris"
    starts = [dt.datetime(2024, 3, 1, 0, 30)]
    ends = [dt.datetime(2024, 4, 1, 0, 30)]
    aware = log(starts, ends).with_columns(
        pl.col("start", "end")
        .dt.replace_time_zone(zone)
        .dt.convert_time_zone("UTC")
        .dt.convert_time_zone(zone)
    )
    out = tables.subscription_lifetimes(aware, observation_end=dt.date(2024, 12, 31))
    assert out["lifetime"].to_list() == [1]
    assert out["cohort"].to_list() == [dt.date(2024, 3, 1)]
    # an end column in another zone is read on the start column's clock
    mixed = aware.with_columns(pl.col("end").dt.convert_time_zone("Asia/Tokyo"))
    assert tables.subscription_lifetimes(mixed, observation_end=dt.date(2024, 12, 31)).equals(out)


# -- random logs against the brute force ----------------------------------------------------

PERIODS = ["1mo", "2mo", "1q", "1y", "7d", "1d", "2w", "30d"]
day = st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2024, 12, 31))


@st.composite
def subscription_logs(draw: st.DrawFn) -> tuple[list[dt.datetime], list[dt.datetime | None], bool]:
    with_time = draw(st.booleans())
    n = draw(st.integers(1, 25))
    starts, ends = [], []
    for _ in range(n):
        s = as_datetime(draw(day))
        if with_time:
            s = s + dt.timedelta(minutes=draw(st.integers(0, 24 * 60 - 1)))
        if draw(st.booleans()):
            ends.append(None)
        else:
            ends.append(s + dt.timedelta(minutes=draw(st.integers(0, 3 * 365 * 24 * 60))))
            if not with_time:
                ends[-1] = as_datetime(ends[-1].date())  # type: ignore[union-attr]
        starts.append(s)
    return starts, ends, with_time


@settings(max_examples=60)
@given(logs=subscription_logs(), period=st.sampled_from(PERIODS), obs=day)
def test_lifetimes_match_brute_force(
    logs: tuple[list[dt.datetime], list[dt.datetime | None], bool], period: str, obs: dt.date
) -> None:
    starts, ends, with_time = logs
    frame = log(starts, ends)
    if not with_time:
        frame = frame.with_columns(pl.col("start", "end").cast(pl.Date))
    out = tables.subscription_lifetimes(frame, period=period, observation_end=obs)
    # a date observation end includes the whole day
    bound = as_datetime(obs) + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    want = [
        (i, *reference_lifetime(s, e, bound, period))
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
        if s <= bound
    ]
    assert out.select("customer_id", "lifetime", "churned").rows() == want


@settings(max_examples=40)
@given(logs=subscription_logs(), obs=day)
def test_survival_table_matches_brute_force(
    logs: tuple[list[dt.datetime], list[dt.datetime | None], bool], obs: dt.date
) -> None:
    starts, ends, _ = logs
    out = tables.survival_table(log(starts, ends), observation_end=obs)
    bound = as_datetime(obs) + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    want = reference_table(list(zip(starts, ends, strict=True)), bound, "1mo", month_cohort)
    got = {
        (r["cohort"], r["period"]): (
            r["cohort_size"],
            r["customers_alive"],
            r["customers_churned"],
            r["customers_censored"],
        )
        for r in out.iter_rows(named=True)
    }
    assert got == want
    for r in out.iter_rows(named=True):
        if r["customers_censored"]:
            assert r["survival"] is None
        else:
            assert r["survival"] == r["customers_alive"] / r["cohort_size"]
    assert out.select("cohort", "period").rows() == sorted(got)


# -- survival table ---------------------------------------------------------------------------


def test_survival_table_feeds_fit_survivors() -> None:
    # a cohort of 2,000 monthly subscriptions started on one day, lifetimes from an sBG
    truth = models.ShiftedBetaGeometricModel.from_params(alpha=0.9, beta=2.5)
    sim = truth.simulate(2000, 10, seed=5)
    start = dt.date(2023, 1, 1)

    def add_months(k: int) -> dt.date:
        return dt.date(2023 + k // 12, k % 12 + 1, 1)

    ends = [add_months(life) if churned else None for life, churned in sim.iter_rows()]
    subs = log([start] * sim.height, ends)
    obs = dt.date(2023, 10, 1)  # periods 0..9 started: 10 paid periods observed
    table = tables.survival_table(subs, observation_end=obs)
    assert table["customers_censored"].sum() == 0
    survivors = table["customers_alive"].to_list()
    lives = tables.subscription_lifetimes(subs, observation_end=obs)
    a = models.ShiftedBetaGeometricModel.fit_survivors(survivors)
    b = models.ShiftedBetaGeometricModel.fit(lives["lifetime"], lives["churned"])
    c = models.ShiftedBetaGeometricModel.fit(sim["lifetime"], sim["churned"])
    assert a.log_likelihood == pytest.approx(c.log_likelihood, rel=1e-12)
    assert b.log_likelihood == pytest.approx(c.log_likelihood, rel=1e-12)
    assert lives["lifetime"].to_list() == sim["lifetime"].to_list()


def test_survival_table_schema_and_lazy() -> None:
    subs = log(
        [dt.date(2024, 1, 1), dt.date(2024, 1, 20), dt.date(2024, 2, 3)],
        [dt.date(2024, 2, 15), None, None],
    )
    eager = tables.survival_table(subs, observation_end=dt.date(2024, 4, 1))
    assert eager.schema == pl.Schema(
        {
            "cohort": pl.Date,
            "period": pl.Int64,
            "cohort_size": pl.Int64,
            "customers_alive": pl.Int64,
            "customers_churned": pl.Int64,
            "customers_censored": pl.Int64,
            "survival": pl.Float64,
        }
    )
    lazy = tables.survival_table(subs.lazy(), observation_end=dt.date(2024, 4, 1))
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(eager)
    lives = tables.subscription_lifetimes(subs.lazy())
    assert isinstance(lives, pl.LazyFrame)
    assert lives.collect().equals(tables.subscription_lifetimes(subs))


# -- other frame kinds ------------------------------------------------------------------------


# every engine (polars eager and lazy, pandas, pyarrow, DuckDB, Dask, Spark) returns its own
# kind with the polars plan's numbers: tests/tables/test_engine.py,
# test_subscription_tables_on_every_engine


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input() -> None:
    good = log([dt.date(2024, 1, 1)], [None])
    with pytest.raises(ValueError, match=r"a start after an end.*start=2024-03-01.*end=2024-02-01"):
        tables.subscription_lifetimes(log([dt.date(2024, 3, 1)], [dt.date(2024, 2, 1)]))
    with pytest.raises(ValueError, match="'start' has 1 null"):
        tables.survival_table(
            log([None], [None]).with_columns(pl.col("start", "end").cast(pl.Date))
        )
    with pytest.raises(ValueError, match="end column 'stop' not found"):
        tables.subscription_lifetimes(good, end="stop")
    with pytest.raises(TypeError, match="start column 'start' must be Date or Datetime"):
        tables.subscription_lifetimes(good.with_columns(pl.col("start").cast(pl.String)))
    with pytest.raises(ValueError, match="period must be"):
        tables.subscription_lifetimes(good, period="1 month")
    with pytest.raises(TypeError, match="observation_end"):
        tables.subscription_lifetimes(good, observation_end="2024-01-01")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subs must be"):
        tables.subscription_lifetimes([1, 2, 3])


def test_lazy_bad_input_fails_when_collected() -> None:
    lazy = log([dt.date(2024, 3, 1)], [dt.date(2024, 2, 1)]).lazy()
    out = tables.subscription_lifetimes(lazy)  # builds the plan, reads nothing
    with pytest.raises(pl.exceptions.InvalidOperationError, match="a start after an end"):
        out.collect()
    nulls = log([dt.date(2024, 3, 1), None], [None, None]).lazy()
    with pytest.raises(pl.exceptions.InvalidOperationError, match="null"):
        tables.survival_table(nulls).collect()


def test_large_log_matches_numpy_on_day_periods() -> None:
    # 30-day periods: lifetime = ceil((limit - start) / 30 days), checked with numpy
    rng = np.random.default_rng(3)
    n = 50_000
    starts = np.datetime64("2020-01-01") + rng.integers(0, 1400, n).astype("timedelta64[D]")
    ends = starts + rng.integers(0, 900, n).astype("timedelta64[D]")
    open_ = rng.random(n) < 0.3
    subs = pl.DataFrame({"customer_id": np.arange(n), "start": starts, "end": ends}).with_columns(
        pl.when(pl.Series(open_)).then(None).otherwise(pl.col("end")).alias("end")
    )
    obs = np.datetime64("2023-06-30")
    out = tables.subscription_lifetimes(subs, period="30d", observation_end=dt.date(2023, 6, 30))
    keep = starts <= obs
    churned = ~open_ & (ends <= obs)
    limit = np.where(churned, ends, obs + np.timedelta64(1, "D"))
    diff = (limit - starts).astype(int)
    life = np.maximum(-(-diff // 30), 1)
    assert out["lifetime"].to_numpy().tolist() == life[keep].tolist()
    assert out["churned"].to_numpy().tolist() == churned[keep].tolist()


def test_dates_outside_the_supported_range() -> None:
    old = log([dt.date(1650, 1, 1)], [None])
    with pytest.raises(ValueError, match=r"from 1700-01-01 to 2399-12-31.*got dates from 1650"):
        tables.subscription_lifetimes(old)
    late = log([dt.date(2024, 1, 1)], [dt.date(2400, 1, 1)])
    with pytest.raises(pl.exceptions.InvalidOperationError, match="to 2400-01-01"):
        tables.survival_table(late.lazy()).collect()
    with pytest.raises(ValueError, match="observation_end"):
        tables.subscription_lifetimes(
            log([dt.date(2024, 1, 1)], [None]), observation_end=dt.date(2500, 1, 1)
        )
    edge = log([dt.date(1700, 1, 1)], [dt.date(2399, 12, 31)])
    out = tables.subscription_lifetimes(edge, period="1y")
    assert out["lifetime"].to_list() == [700]
