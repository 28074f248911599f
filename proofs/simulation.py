"""Numeric and statistical certificates from the flow kernels: C4, C5-C8 by simulation."""
from proofs.registry import check, Context, Outcome  # noqa: F401
