"""C9: transfer of EBFs/RSBFs along the value-improvement path."""
from proofs.registry import check, Context, Outcome  # noqa: F401
