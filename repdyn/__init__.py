"""repdyn: representation dynamics and feature collapse in RL.

The curated public API re-exports the stable names of the three packages below it
(SPEC §3). Import ``analysis``, ``kernels`` and ``proofs`` directly for everything else.
"""
from analysis.spectral import principal_angles, grassmann_distance, ebfs, rsbfs
from analysis.closed_form import (
    td_values, mc_values, ensemble_features, ensemble_limit, random_cumulant_features,
    random_cumulant_limit, multi_policy_limit, multi_discount_limit,
)
from proofs.registry import CLAIMS, run as run_claims

__version__ = "0.1.0"

__all__ = [
    "principal_angles", "grassmann_distance", "ebfs", "rsbfs",
    "td_values", "mc_values", "ensemble_features", "ensemble_limit",
    "random_cumulant_features", "random_cumulant_limit", "multi_policy_limit",
    "multi_discount_limit", "CLAIMS", "run_claims", "__version__",
]
