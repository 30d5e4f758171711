"""Probabilistic customer-base models ("buy till you die") and model-based CLV.

Immutable fitted models: ``fit`` is a classmethod returning a new instance,
``from_params`` builds one from known parameters. Time is in the unit of the RFM inputs.
Predictions are "scalar in, float out": scalars give a ``float``, array-likes an array.
"""

from ._base import ConvergenceError
from ._bdw import BetaDiscreteWeibullModel
from ._bg_bb import BetaGeoBetaBinomModel
from ._bg_nbd import BetaGeoModel
from ._clv import customer_lifetime_value
from ._clv_interval import customer_lifetime_value_interval
from ._contractual import ShiftedBetaGeometricModel
from ._evaluation import HoldoutEvaluation, evaluate_holdout
from ._gamma_gamma import GammaGammaModel
from ._mbg_nbd import ModifiedBetaGeoModel
from ._pareto_nbd import ParetoNBDModel
from ._transaction import TransactionModel

__all__ = [
    "BetaDiscreteWeibullModel",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "ConvergenceError",
    "GammaGammaModel",
    "HoldoutEvaluation",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "ShiftedBetaGeometricModel",
    "TransactionModel",
    "customer_lifetime_value",
    "customer_lifetime_value_interval",
    "evaluate_holdout",
]
