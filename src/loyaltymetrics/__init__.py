"""loyaltymetrics: customer-loyalty metrics, exact, with error bars, and fast.

The top level holds the formulas: pure functions of counts, amounts or survey answers.
Count and amount formulas broadcast like numpy (scalars give a ``float``, array-likes a
``numpy.ndarray``); survey formulas take a 1-D array-like of answers and give a ``float``.
A zero denominator gives ``nan``; invalid input raises ``TypeError``/``ValueError`` naming
the argument and the value.

>>> import loyaltymetrics as lm
>>> lm.nps([10, 9, 7, 3])
25.0
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from ._commerce import (
    average_order_value,
    purchase_frequency,
    referral_rate,
    repeat_purchase_rate,
    share_of_wallet,
    wallet_allocation_share,
)
from ._index import IndexComponent, loyalty_index
from ._retention import (
    churn_rate,
    convert_rate,
    gross_revenue_retention,
    net_revenue_retention,
    retention_rate,
)
from ._survey import ces, csat, nps, nps_from_counts, response_rate
from ._value import clv, clv_discounted

try:
    __version__ = _version("loyaltymetrics")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "IndexComponent",
    "__version__",
    "average_order_value",
    "ces",
    "churn_rate",
    "clv",
    "clv_discounted",
    "convert_rate",
    "csat",
    "gross_revenue_retention",
    "loyalty_index",
    "net_revenue_retention",
    "nps",
    "nps_from_counts",
    "purchase_frequency",
    "referral_rate",
    "repeat_purchase_rate",
    "response_rate",
    "retention_rate",
    "share_of_wallet",
    "wallet_allocation_share",
]
