"""Build the compact data files shipped in the wheel from the public reference data.

Run from the repository root:  python scripts/build_datasets.py ../shared/data

The inputs are Fader & Hardie's public CDNOW and donations files (see
tests/data/README.md); the outputs go to src/loyaltymetrics/data/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

OUT = Path(__file__).resolve().parents[1] / "src" / "loyaltymetrics" / "data"


def main(source: Path) -> None:
    """Convert the text files to zstd-compressed Parquet."""
    master = _read_whitespace(source / "CDNOW_master.txt", header=True)
    master.write_parquet(OUT / "cdnow_master.parquet", compression="zstd", compression_level=22)
    summary = pl.read_csv(source / "cdnow_customers_summary_with_transactions.csv")
    summary = summary.rename(
        {"ID": "customer_id", "x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    )
    summary.write_parquet(OUT / "cdnow_summary.parquet", compression="zstd", compression_level=22)
    donations = pl.read_csv(source / "donations.csv")
    donations.write_parquet(OUT / "donations.parquet", compression="zstd", compression_level=22)


def _read_whitespace(path: Path, *, header: bool) -> pl.DataFrame:
    rows = [line.split() for line in path.read_text().splitlines()[1 if header else 0 :]]
    return pl.DataFrame(
        {
            "customer_id": [int(r[0]) for r in rows],
            "timestamp": [r[1] for r in rows],
            "quantity": [int(r[2]) for r in rows],
            "amount": [float(r[3]) for r in rows],
        },
        schema={
            "customer_id": pl.Int32,
            "timestamp": pl.String,
            "quantity": pl.Int16,
            "amount": pl.Float64,
        },
    ).with_columns(pl.col("timestamp").str.to_date("%Y%m%d"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
