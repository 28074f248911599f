"""Symbolic and exact-rational certificates for C1-C3 and C5-C8 (issue: symbolic layer)."""
from proofs.registry import check, Context, Outcome  # noqa: F401
