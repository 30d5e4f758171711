"""Table functions: from a transaction log (one row per order) to per-customer tables.

Every function takes a polars ``DataFrame`` or ``LazyFrame`` and returns the same kind:
a ``LazyFrame`` in gives a ``LazyFrame`` out, and nothing runs before it is collected
(with ``partitions=k > 1``, the ``LazyFrame`` out is a deferred source that reads and
computes the k parts one after the other when it is collected). A pandas
``DataFrame`` is accepted too: it is converted at the edge (``polars.from_pandas``) and
the result comes back as a pandas ``DataFrame`` (pandas stays an optional extra,
``pip install "loyaltymetrics[pandas]"``). DuckDB relations, pyarrow tables, Dask and
Spark frames run inside their engine (``pip install "loyaltymetrics[engines]"``) and
come back as the same kind of frame. Column
names are keyword arguments with the defaults ``customer_id="customer_id"``,
``timestamp="timestamp"`` and ``amount="amount"``.

Bad input:

* a missing column raises ``ValueError`` naming it and listing the columns that exist;
* a timestamp column that is not ``Date``/``Datetime`` (for example strings), or a
  non-numeric amount, raises ``TypeError``;
* null customer ids, timestamps or amounts, and NaN amounts, are an error, never a
  silent drop. A ``DataFrame`` raises ``ValueError`` with the column and the count at
  once; for a ``LazyFrame`` the check is part of the plan and raises the same
  ``ValueError`` (also a ``polars.exceptions.InvalidOperationError``) when the result is
  collected;
* calendar periods, hours included, are read on the local clock of a time-zone-aware
  timestamp column, and an aware end is converted to the column's zone.
"""

from ._cohorts import cohort_retention
from ._customer_summary import customer_summary
from ._period_summary import period_summary
from ._rfm import calibration_holdout_split, rfm_summary
from ._segments import classify_customers, rfm_segments
from ._subscriptions import subscription_lifetimes, survival_table
from ._survey_summary import survey_summary

__all__ = [
    "calibration_holdout_split",
    "classify_customers",
    "cohort_retention",
    "customer_summary",
    "period_summary",
    "rfm_segments",
    "rfm_summary",
    "subscription_lifetimes",
    "survey_summary",
    "survival_table",
]
