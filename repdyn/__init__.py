"""repdyn: representation dynamics and feature collapse in RL.

One installed name holds everything: :mod:`repdyn.analysis` (the theory: MDPs, spectra,
closed forms, sympy), :mod:`repdyn.kernels` (numba simulation and neural probes),
:mod:`repdyn.proofs` (one certificate per claim, in a registry), :mod:`repdyn.benchmarks`,
and the command line (:mod:`repdyn.cli`).

The names below are the curated public API. They are loaded lazily (PEP 562): ``import
repdyn`` and ``repdyn --help`` import neither numba nor sympy; the first use of a name
imports the module that defines it.

Examples
--------
>>> import numpy as np, repdyn
>>> P = np.array([[0.9, 0.1], [0.2, 0.8]])
>>> V = repdyn.td_values(P, np.array([1.0, 0.0]), 0.5, np.zeros(2), [0.0, 1e3])
>>> bool(np.allclose(V[-1], np.linalg.solve(np.eye(2) - 0.5 * P, [1.0, 0.0])))
True
"""
from __future__ import annotations

import importlib
import os as _os

__version__ = "0.1.0"

# Installed (wheel or editable), the subpackages are repdyn/analysis, ... or mapped by the
# editable finder. Run from a source checkout without installing, they sit beside this folder
# (the layout keeps analysis/, kernels/, proofs/, benchmarks/ at the top): look there too.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if (not _os.path.isdir(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "analysis"))
        and _os.path.isfile(_os.path.join(_root, "setup.cfg"))
        and all(_os.path.isfile(_os.path.join(_root, d, "__init__.py"))
                for d in ("analysis", "kernels", "proofs"))):
    __path__.append(_root)
del _root

#: public name -> module that defines it (the one place the API is curated)
_API = {
    # theory: spectra
    "principal_angles": "repdyn.analysis.spectral",
    "grassmann_distance": "repdyn.analysis.spectral",
    "ebfs": "repdyn.analysis.spectral",
    "rsbfs": "repdyn.analysis.spectral",
    "MDP": "repdyn.analysis.mdp",
    # theory: closed forms
    "td_values": "repdyn.analysis.closed_form",
    "mc_values": "repdyn.analysis.closed_form",
    "ensemble_features": "repdyn.analysis.closed_form",
    "ensemble_limit": "repdyn.analysis.closed_form",
    "random_cumulant_features": "repdyn.analysis.closed_form",
    "random_cumulant_limit": "repdyn.analysis.closed_form",
    "multi_policy_limit": "repdyn.analysis.closed_form",
    "multi_discount_limit": "repdyn.analysis.closed_form",
    "value_improvement_transfer": "repdyn.analysis.value_improvement",
    # simulation and probes
    "simulate_ensemble": "repdyn.kernels.flows",
    "simulate_random_cumulants": "repdyn.kernels.flows",
    "feature_rank": "repdyn.kernels.probes",
    # the update-space view (C14)
    "update_kernel": "repdyn.analysis.update_kernel",
    "collapse_kernel_asymptote": "repdyn.analysis.update_kernel",
    "cumulant_kernel_limit": "repdyn.analysis.update_kernel",
    "td_error_modes": "repdyn.analysis.update_kernel",
    "ntk_gram": "repdyn.kernels.probes",
    "ntk_ranks": "repdyn.kernels.probes",
    "interference_matrix": "repdyn.kernels.probes",
    "interference_score": "repdyn.kernels.probes",
    "kernel_alignment": "repdyn.kernels.probes",
    # claims
    "CLAIMS": "repdyn.proofs.registry",
    "run_claims": "repdyn.proofs.registry:run",
    # errors
    "RepdynError": "repdyn.analysis.errors",
    "UndefinedSubspaceError": "repdyn.analysis.errors",
    "UnstableStepError": "repdyn.analysis.errors",
    "SymbolicIntractableError": "repdyn.analysis.errors",
}

_SUBPACKAGES = ("analysis", "kernels", "proofs", "benchmarks")

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    """Import a public name (or a subpackage) on first use and cache it on the module."""
    if name in _API:
        target = _API[name]
        modname, _, attr = target.partition(":")
        value = getattr(importlib.import_module(modname), attr or name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"repdyn.{name}")
    else:
        raise AttributeError(f"module 'repdyn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_API) | set(_SUBPACKAGES))
