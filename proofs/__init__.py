"""Certificates: one or more checks per claim C1-C13, collected in :mod:`proofs.registry`."""
from repdyn.proofs.registry import CLAIMS, Claim, Context, Outcome, Result, check, checks_for, exit_code, run

__all__ = ["CLAIMS", "Claim", "Context", "Outcome", "Result", "check", "checks_for", "exit_code", "run"]
