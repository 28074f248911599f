"""repdyn: representation dynamics and feature collapse in RL.

The curated public API re-exports the stable names of the three packages below it
(SPEC §3). Import ``analysis``, ``kernels`` and ``proofs`` directly for everything else.
"""
from analysis.spectral import principal_angles, grassmann_distance, ebfs, rsbfs
from analysis.closed_form import (
    td_values, mc_values, ensemble_features, ensemble_limit, random_cumulant_features,
    random_cumulant_limit, multi_policy_limit, multi_discount_limit,
)
from analysis.value_improvement import value_improvement_transfer
from kernels.flows import simulate_ensemble, simulate_random_cumulants
from kernels.probes import feature_rank
from proofs.registry import CLAIMS, run as run_claims

__version__ = "0.1.0"

__all__ = [
    "principal_angles", "grassmann_distance", "ebfs", "rsbfs",
    "td_values", "mc_values", "ensemble_features", "ensemble_limit",
    "random_cumulant_features", "random_cumulant_limit", "multi_policy_limit",
    "multi_discount_limit", "value_improvement_transfer", "simulate_ensemble",
    "simulate_random_cumulants", "feature_rank", "CLAIMS", "run_claims", "__version__",
]
