"""C10-C13: feature rank, capacity, InFeR and neural TD."""
from proofs.registry import check, Context, Outcome  # noqa: F401
