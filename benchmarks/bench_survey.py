"""Time ``tables.survey_summary`` against hand-written pandas, DuckDB SQL and a floor.

One run draws a survey table per size with numpy (seeded): ``--answers`` rows in
``--segments`` segments of unequal size, with three answer columns, all ``Int8``:

* ``nps``: 0–10 likelihood to recommend, about 2 % null;
* ``csat``: 1–5 satisfaction, about 2 % null;
* ``ces``: 1–7 effort (higher = easier), about 2 % null.

Each segment has its own mean answer, so the metrics differ between segments. The
segment column is a String (``segment-01`` .. ``segment-50``) in the Parquet file; with
``--segment categorical`` each case casts it to ``pl.Categorical`` before it starts
(untimed), and every engine gets it as its categorical type (Arrow dictionary, pandas
``category``). The table is written once, in Parquet parts of 10M rows, and every
(engine) case runs in its own Python subprocess, like ``bench_tables.py``:

* the subprocess loads the table and prepares its engine's input, untimed;
* it computes the summary once and compares it with the loyaltymetrics eager result
  (same segments; every column, the point estimates, counts and interval bounds, within
  1e-9 relative); an engine that disagrees is not timed;
* it then times ``--repeats`` further runs and reads the peak RSS during the first run.

The call is ``tables.survey_summary(survey, by="segment", nps="nps", csat="csat",
ces="ces")``: per segment the NPS with its adjusted-Wald interval, the top-2-box CSAT
share with its Wilson interval, and the mean CES with its Student-t interval, each with
its count of valid answers. The pandas and SQL versions compute the same columns and,
like loyaltymetrics, fail on an answer off its scale. The ``floor`` is one polars
``group_by`` pass computing the counts and sums the metrics need (valid answers,
promoters, detractors, satisfied, sum and sum of squares of CES), without any check, on
polars' streaming engine (the faster one for it).

Before any timing, every engine is also checked on a small table with edge cases: a
segment without any NPS answer, one with a single answer to each question.

Run ``python benchmarks/bench_survey.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl
from _check import compare, frame_mb, to_polars
from _measure import run_worker, source_version, time_runs, versions

from loyaltymetrics import tables

ENGINES = ("loyaltymetrics", "floor", "loyaltymetrics-lazy", "pandas", "duckdb")
EXTRAS = {"pandas": ("pandas", "pyarrow"), "duckdb": ("duckdb", "pyarrow")}
CONFIDENCE = 0.95
CHUNK_ROWS = 10_000_000
NULL_SHARE = 0.02
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


# --------------------------------------------------------------------------- data


def segment_names(segments: int) -> list[str]:
    """``segment-01``, ``segment-02``, ... (sorted order is numeric order)."""
    width = max(2, len(str(segments)))
    return [f"segment-{i:0{width}d}" for i in range(1, segments + 1)]


def make_survey(n: int, segments: int, seed: int) -> pl.DataFrame:
    """`n` answers in `segments` segments of unequal size (seeded numpy draws).

    Segment k has weight 1 / (k + 5), so the largest is about 8 times the smallest;
    its answers are rounded normal draws around its own means, clipped to the scales,
    and each answer is null with probability 2 %.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(segments) + 6.0)
    means = {
        "nps": rng.uniform(6.0, 9.0, segments),
        "csat": rng.uniform(3.0, 4.5, segments),
        "ces": rng.uniform(4.0, 6.0, segments),
    }
    spread = {"nps": 2.5, "csat": 1.0, "ces": 1.4}
    code = np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(n), side="right")
    code = np.minimum(code, segments - 1).astype(np.uint32)
    columns: dict[str, pl.Series] = {
        "segment": pl.Series("segment", segment_names(segments)).gather(code)
    }
    for name, (low, high) in SCALES.items():
        answer = np.rint(means[name][code] + spread[name] * rng.standard_normal(n))
        answer = np.clip(answer, low, high).astype(np.int8)
        missing = rng.random(n) < NULL_SHARE
        columns[name] = pl.Series(name, answer).scatter(np.flatnonzero(missing), None)
    return pl.DataFrame(columns)


def write_survey(folder: Path, n: int, segments: int, seed: int) -> dict[str, Any]:
    """Write `n` answers as Parquet parts of up to 10M rows (part i drawn with seed + i)."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    size = 0.0
    for i, lo in enumerate(range(0, n, CHUNK_ROWS)):
        part = make_survey(min(CHUNK_ROWS, n - lo), segments, seed + i)
        size += frame_mb(part)
        part.write_parquet(folder / f"part-{i:04d}.parquet", compression="lz4")
        del part
    (folder / "done").write_text(json.dumps({"rows": n, "input_mb": size}))
    return {"rows": n, "input_mb": size, "seconds": time.perf_counter() - t0}


def edge_survey(seed: int) -> pl.DataFrame:
    """A small table with the edge cases every engine must get right."""
    base = make_survey(20_000, 7, seed)
    edges = pl.DataFrame(
        {
            "segment": ["edge-no-nps"] * 3 + ["edge-one-answer"],
            "nps": [None, None, None, 10],
            "csat": [5, 1, None, 4],
            "ces": [7, None, 3, 2],
        },
        schema=base.schema,
    )
    return pl.concat([base, edges])


# --------------------------------------------------------------------------- engines


def _lm_eager(frame: pl.DataFrame) -> pl.DataFrame:
    return tables.survey_summary(frame, by="segment", nps="nps", csat="csat", ces="ces")


def _lm_lazy(frame: pl.DataFrame) -> pl.DataFrame:
    lazy = tables.survey_summary(frame.lazy(), by="segment", nps="nps", csat="csat", ces="ces")
    return lazy.collect()


def floor(frame: pl.DataFrame) -> pl.DataFrame:
    """One group_by pass: the counts and sums the three metrics need, nothing else.

    It runs on polars' streaming engine, which for this query is about 2.5 times as fast
    as the in-memory engine that eager ``DataFrame.group_by`` uses (polars 2.1, 2M rows).
    """
    ces = pl.col("ces").cast(pl.Int32)
    counts = (
        frame.lazy()
        .group_by("segment")
        .agg(
            pl.col("nps").count().alias("nps_n"),
            (pl.col("nps") >= 9).sum().alias("promoters"),
            (pl.col("nps") <= 6).sum().alias("detractors"),
            pl.col("csat").count().alias("csat_n"),
            (pl.col("csat") >= 4).sum().alias("satisfied"),
            pl.col("ces").count().alias("ces_n"),
            ces.sum().alias("ces_sum"),
            (ces * ces).sum().alias("ces_sum_sq"),
        )
    )
    return counts.collect(engine="streaming")


def _z() -> float:
    return NormalDist().inv_cdf(0.5 + CONFIDENCE / 2.0)


def _t_quantiles(n: Any) -> Any:
    """Student-t quantiles for the CES interval; NaN where there are fewer than 2 answers."""
    from scipy import stats

    n = np.asarray(n, dtype=np.float64)
    dof = np.where(n > 1, n - 1.0, np.nan)
    return stats.t.ppf(0.5 + CONFIDENCE / 2.0, dof)


def pandas_survey_summary(df: Any) -> Any:
    """Hand-written pandas: one groupby with named aggregations, then the intervals."""
    import pandas as pd

    for name, (low, high) in SCALES.items():
        x = df[name]
        if (x.notna() & ((x < low) | (x > high) | (x % 1 != 0))).any():
            raise ValueError(f"{name}: answers must be whole numbers from {low} to {high}")
    frame = df.assign(promoter=df["nps"] >= 9, detractor=df["nps"] <= 6, satisfied=df["csat"] >= 4)
    g = frame.groupby("segment", sort=True, observed=True).agg(
        nps_n=("nps", "count"),
        promoters=("promoter", "sum"),
        detractors=("detractor", "sum"),
        csat_n=("csat", "count"),
        satisfied=("satisfied", "sum"),
        ces=("ces", "mean"),
        ces_n=("ces", "count"),
        ces_sd=("ces", "std"),
    )
    z = _z()
    out = pd.DataFrame(index=g.index)
    n = g["nps_n"].where(g["nps_n"] > 0)
    out["nps"] = 100.0 * (g["promoters"] - g["detractors"]) / n
    out["nps_n"] = g["nps_n"]
    n3 = n + 3.0
    pa, da = (g["promoters"] + 0.75) / n3, (g["detractors"] + 0.75) / n3
    se = np.sqrt((pa + da - (pa - da) ** 2) / n3)
    # the interval is widened to contain the observed score (tiny samples only)
    out["nps_low"] = np.fmin((100.0 * (pa - da - z * se)).clip(-100.0, 100.0), out["nps"])
    out["nps_high"] = np.fmax((100.0 * (pa - da + z * se)).clip(-100.0, 100.0), out["nps"])
    n = g["csat_n"].where(g["csat_n"] > 0)
    p = g["satisfied"] / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    out["csat"] = p
    out["csat_n"] = g["csat_n"]
    out["csat_low"] = (centre - half).clip(0.0, 1.0)
    out["csat_high"] = (centre + half).clip(0.0, 1.0)
    half = _t_quantiles(g["ces_n"]) * g["ces_sd"] / np.sqrt(g["ces_n"])
    out["ces"] = g["ces"]
    out["ces_n"] = g["ces_n"]
    out["ces_low"] = g["ces"] - half
    out["ces_high"] = g["ces"] + half
    return out.reset_index()


def duckdb_sql() -> str:
    """The same summary in SQL; the CES t quantiles are applied afterwards (see `duckdb_run`)."""
    z = repr(_z())
    return f"""
        WITH g AS (
            SELECT segment,
                   count(nps) AS nps_n,
                   count_if(nps >= 9) AS promoters,
                   count_if(nps <= 6) AS detractors,
                   count(csat) AS csat_n,
                   count_if(csat >= 4) AS satisfied,
                   avg(ces) AS ces,
                   count(ces) AS ces_n,
                   stddev_samp(ces) AS ces_sd,
                   count_if(nps NOT BETWEEN 0 AND 10) + count_if(csat NOT BETWEEN 1 AND 5)
                       + count_if(ces NOT BETWEEN 1 AND 7) AS off_scale
            FROM survey GROUP BY segment
        ), w AS (
            SELECT *,
                   (promoters + 0.75) / (nps_n + 3.0) AS pa,
                   (detractors + 0.75) / (nps_n + 3.0) AS da,
                   CASE WHEN nps_n > 0 THEN 100.0 * (promoters - detractors) / nps_n END AS nps,
                   CASE WHEN csat_n > 0 THEN satisfied / csat_n END AS p,
                   CASE WHEN csat_n > 0 THEN {z} * {z} / csat_n END AS z2n
            FROM g
        )
        SELECT segment,
               nps,
               nps_n,
               -- the interval is widened to contain the observed score (tiny samples only)
               CASE WHEN nps_n > 0 THEN least(nps, greatest(-100.0, least(100.0, 100.0
                   * (pa - da - {z} * sqrt((pa + da - (pa - da) ** 2) / (nps_n + 3.0))))))
                   END AS nps_low,
               CASE WHEN nps_n > 0 THEN greatest(nps, greatest(-100.0, least(100.0, 100.0
                   * (pa - da + {z} * sqrt((pa + da - (pa - da) ** 2) / (nps_n + 3.0))))))
                   END AS nps_high,
               p AS csat,
               csat_n,
               greatest(0.0, least(1.0, (p + z2n / 2) / (1 + z2n) - {z} / (1 + z2n)
                   * sqrt(p * (1 - p) / csat_n + {z} * {z} / (4.0 * csat_n * csat_n))))
                   AS csat_low,
               greatest(0.0, least(1.0, (p + z2n / 2) / (1 + z2n) + {z} / (1 + z2n)
                   * sqrt(p * (1 - p) / csat_n + {z} * {z} / (4.0 * csat_n * csat_n))))
                   AS csat_high,
               ces, ces_n, ces_sd, off_scale
        FROM w ORDER BY segment
    """


def duckdb_run(con: Any, query: str) -> pl.DataFrame:
    """Run the SQL, fail on answers off their scale, add the CES t interval (one row a segment)."""
    out = pl.from_arrow(con.sql(query).to_arrow_table())
    assert isinstance(out, pl.DataFrame)
    if out["off_scale"].sum():
        raise ValueError("answers off their scale")
    half = pl.Series(_t_quantiles(out["ces_n"].to_numpy())) * out["ces_sd"] / out["ces_n"].sqrt()
    return out.with_columns(ces_low=out["ces"] - half, ces_high=out["ces"] + half).drop(
        "ces_sd", "off_scale"
    )


def _prepare(engine: str, frame: pl.DataFrame) -> tuple[Callable[[], Any], Any]:
    """The timed call and whatever must stay alive while it runs."""
    if engine == "loyaltymetrics":
        return lambda: _lm_eager(frame), frame
    if engine == "loyaltymetrics-lazy":
        return lambda: _lm_lazy(frame), frame
    if engine == "floor":
        return lambda: floor(frame), frame
    arrow = frame.to_arrow()
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.register("survey", arrow)
        query = duckdb_sql()
        return lambda: duckdb_run(con, query), (con, arrow)
    df = arrow.to_pandas()
    del arrow
    return lambda: pandas_survey_summary(df), df


# --------------------------------------------------------------------------- checks


def _as_segment(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    if kind == "categorical":
        return frame.with_columns(pl.col("segment").cast(pl.Categorical))
    return frame


def precheck(engines: list[str], kind: str, seed: int) -> int:
    """Every engine on the small edge-case table, compared with loyaltymetrics; failures."""
    survey = _as_segment(edge_survey(seed), kind)
    reference = _lm_eager(survey)
    failures = 0
    for engine in engines:
        if engine in ("loyaltymetrics", "floor"):
            continue
        run, _keep = _prepare(engine, survey)
        problem = compare(to_polars(run()), reference, ["segment"])
        failures += problem is not None
        print(f"   edge-case table / {engine}: " + ("agrees" if problem is None else problem))
    return failures


# --------------------------------------------------------------------------- worker


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    frame = _as_segment(pl.read_parquet(Path(spec["data"]) / "*.parquet").rechunk(), spec["kind"])
    out: dict[str, Any] = {
        "input_mb": frame_mb(frame),
        "estimated_size_mb": frame.estimated_size("mb"),
    }
    run, keep = _prepare(spec["engine"], frame)
    del frame
    reference = Path(spec["reference"])

    def check(value: Any) -> bool:
        result = to_polars(value)
        out["rows_out"] = result.height
        if spec["engine"] == "floor":
            out["check"] = "floor (not compared)"
            return True
        if spec["engine"] == "loyaltymetrics":
            result.write_parquet(reference)
            out["check"] = "reference"
            return True
        problem = compare(result, pl.read_parquet(reference), ["segment"])
        out["check"] = "agrees" if problem is None else "DISAGREES: " + problem
        return problem is None

    _, timing = time_runs(run, spec["repeats"], warmup=True, check=check)
    del keep
    out.update(timing.as_dict())
    return out


# --------------------------------------------------------------------------- driver

_HEADER = (
    "| answers | segment | engine | median s | min s | CPU s | × loyaltymetrics | × floor | "
    "input MB | peak RSS MB | extra RSS MB | peak ÷ input | extra ÷ input | other load | check |"
)


def _median(row: dict[str, Any] | None) -> float | None:
    return statistics.median(row["wall"]) if row and row.get("wall") else None


def _fmt_row(row: dict[str, Any], baseline: float | None, floor_s: float | None) -> str:
    cells = [f"{row['answers']:,}", row["kind"], row["engine"]]
    med = _median(row)
    if med is None:
        cells += ["–"] * 11
    else:
        extra = row["rss_peak_mb"] - row["rss_before_mb"]
        cells += [
            f"{med:.3f}",
            f"{min(row['wall']):.3f}",
            f"{statistics.median(row['cpu']):.2f}",
            f"{med / baseline:.2f}" if baseline else "–",
            f"{med / floor_s:.2f}" if floor_s else "–",
            f"{row['input_mb']:,.0f}",
            f"{row['rss_peak_mb']:,.0f}",
            f"{extra:,.0f}",
            f"{row['rss_peak_mb'] / row['input_mb']:.2f}",
            f"{extra / row['input_mb']:.2f}",
            f"{max(row['other_load']):.2f}",
        ]
    return "| " + " | ".join([*cells, str(row["check"])]) + " |"


def _available(engine: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in EXTRAS.get(engine, ()))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Example: .venv/bin/python benchmarks/bench_survey.py --answers 10000000 "
            "100000000 --repeats 3 --json bench-survey.json"
        ),
    )
    parser.add_argument(
        "--answers",
        type=int,
        nargs="+",
        default=[10_000_000],
        help="rows of the survey table, one run per size (default: 10000000)",
    )
    parser.add_argument("--segments", type=int, default=50, help="segments (default: 50)")
    parser.add_argument(
        "--segment",
        choices=("string", "categorical"),
        default="string",
        help="type of the segment column (default: string)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a check that the script still runs (.ci/bench-smoke): allows --repeats 1; "
        "use a tiny size, and read nothing into the figures",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case, >= 3")
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the survey tables in this folder and reuse one made earlier with the same "
        "size, segments and seed (default: a temporary folder, deleted at the end)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0
    if args.repeats < (1 if args.smoke else 3):
        parser.error("--repeats must be at least 3 (1 with --smoke)")
    if not 1 <= args.segments <= 10_000:
        parser.error("--segments must be from 1 to 10000")

    engines = [e for e in args.engines if e != "loyaltymetrics"]
    for engine in list(engines):
        if not _available(engine):
            print(f"note: {engine} is not installed; skipping it")
            engines.remove(engine)
    engines = ["loyaltymetrics", *engines]  # the reference always runs first
    info = versions(("polars", "numpy", "scipy", "pandas", "duckdb", "pyarrow"))
    info["source"] = source_version()
    print("versions:", ", ".join(f"{k} {v}" for k, v in info.items() if k != "source"))
    print(info["source"])
    print(f"polars threads: {pl.thread_pool_size()}, cpus: {os.cpu_count()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")

    print(f"\n== check on a small table with edge cases ({', '.join(engines[1:])})")
    disagreements = precheck(engines, args.segment, args.seed)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lm-survey-") as tmp:
        folder = args.data_dir or Path(tmp)
        for n in args.answers:
            data = folder / f"survey-{n}-seg{args.segments}-seed{args.seed}"
            if (data / "done").exists():
                made = json.loads((data / "done").read_text())
                print(f"\n== {n:,} answers: reusing {data}")
            else:
                made = write_survey(data, n, args.segments, args.seed)
                print(
                    f"\n== {n:,} answers in {args.segments} segments, drawn and written in "
                    f"{made['seconds']:.1f} s; {made['input_mb']:,.0f} MB in memory with a "
                    "String segment"
                )
            for engine in engines:
                spec = {
                    "data": str(data),
                    "engine": engine,
                    "kind": args.segment,
                    "repeats": args.repeats,
                    "reference": str(Path(tmp) / f"ref-{n}.parquet"),
                }
                t0 = time.perf_counter()
                result = run_worker(__file__, spec)
                row = {"answers": n, "segments": args.segments, **spec, **result}
                del row["data"], row["reference"]
                rows.append(row)
                med = _median(result)
                shown = f"median {med:.3f} s" if med is not None else "not timed"
                memory = (
                    f", peak RSS {result['rss_peak_mb']:,.0f} MB for {result['input_mb']:,.0f} MB "
                    "of input"
                    if "input_mb" in result
                    else ""
                )
                print(
                    f"   {engine}: {shown}{memory}, {result['check']} "
                    f"({time.perf_counter() - t0:.0f} s in all)"
                )
                disagreements += not str(result["check"]).startswith(
                    ("agrees", "reference", "floor")
                )

    print("\n" + _HEADER)
    print("|" + "---|" * _HEADER.count(" | ") + "---|")

    def peer(row: dict[str, Any], engine: str) -> float | None:
        return _median(
            next(
                (r for r in rows if r["answers"] == row["answers"] and r["engine"] == engine), None
            )
        )

    for row in rows:
        print(_fmt_row(row, peer(row, "loyaltymetrics"), peer(row, "floor")))
    print("\ntarget: survey_summary within 3 × the floor")
    for row in rows:
        med, floor_s = _median(row), peer(row, "floor")
        if row["engine"].startswith("loyaltymetrics") and med and floor_s:
            duck = peer(row, "duckdb")
            versus = f", ÷ DuckDB {med / duck:.2f}" if duck else ""
            print(
                f"   {row['answers']:,} answers, {row['engine']}: ÷ floor {med / floor_s:.2f}"
                f"{versus}, (input + extra) ÷ input "
                f"{1 + (row['rss_peak_mb'] - row['rss_before_mb']) / row['input_mb']:.2f}"
            )
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"versions": info, "rows": rows}, indent=1))
    if disagreements:
        print(f"\n{disagreements} case(s) disagree with loyaltymetrics or failed: see 'check'")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
