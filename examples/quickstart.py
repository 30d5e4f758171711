"""A loyalty snapshot of a small (made-up) shop, computed with loyaltymetrics.

Run:  python examples/quickstart.py

The survey answers are drawn with a fixed seed, so the output is the same every run.
"""

from __future__ import annotations

import numpy as np

import loyaltymetrics as lm


def main() -> None:
    """Print the snapshot."""
    rng = np.random.default_rng(2026)
    # 400 NPS answers (0-10) and 400 CSAT answers (1-5), with a few skipped questions.
    nps_answers = rng.choice(11, size=400, p=[0.02] * 5 + [0.05, 0.08, 0.12, 0.18, 0.25, 0.22])
    csat_answers = rng.choice([1, 2, 3, 4, 5], size=400, p=[0.05, 0.07, 0.18, 0.40, 0.30])
    nps_list = [None if i % 50 == 0 else int(a) for i, a in enumerate(nps_answers)]

    # One quarter of the customer base, by month.
    start = np.array([1200, 1235, 1262])
    end = np.array([1235, 1262, 1290])
    new = np.array([150, 140, 155])
    reactivated = np.array([10, 12, 8])
    lost = start + new + reactivated - end

    retention = lm.retention_rate(start, end, new, customers_reactivated=reactivated)
    churn = lm.churn_rate(start, lost)
    rows = [
        ("NPS (points)", lm.nps(nps_list)),
        ("CSAT top-2-box", lm.csat(csat_answers)),
        ("CSAT mean (1-5)", lm.csat(csat_answers, method="mean")),
        ("monthly retention, mean of 3", float(retention.mean())),
        ("monthly churn, pooled", lm.churn_rate(start.sum(), lost.sum())),
        ("annual churn (compounded)", lm.convert_rate(lm.churn_rate(start.sum(), lost.sum()))),
        ("repeat purchase rate", lm.repeat_purchase_rate(410, 1290)),
        ("average order value", lm.average_order_value(96_840.0, 1_845)),
        ("purchase frequency", lm.purchase_frequency(1_845, 1_290)),
        ("net revenue retention", lm.net_revenue_retention(50_000.0, 4_200.0, 1_100.0, 2_300.0)),
        (
            "CLV, 24 months, 30% margin",
            lm.clv_discounted(52.5 * 1.43 * 0.3, 0.93, 0.008, periods=24),
        ),
    ]
    index = lm.loyalty_index(
        {
            "nps": rows[0][1],
            "csat": lm.IndexComponent(rows[2][1], scale=(1, 5)),
            "retention_rate": float(retention.mean()),
            "repeat_purchase_rate": rows[6][1],
        }
    )
    rows.append(("loyalty index (0-100)", index))

    width = max(len(name) for name, _ in rows)
    print("loyalty snapshot")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:10.3f}")
    print(f"  {'monthly churn by month':<{width}}  {np.array2string(churn, precision=3)}")


if __name__ == "__main__":
    main()
