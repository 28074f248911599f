"""The package's exception types, in one place.

Every error whose cause is the caller's input is a ``ValueError`` (so ``except ValueError``
keeps working); :class:`RepdynError` is the common base for catching repdyn's own errors.
"""
from __future__ import annotations

__all__ = ["RepdynError", "UndefinedSubspaceError", "UnstableStepError",
           "SymbolicIntractableError", "SweepFileError"]


class RepdynError(Exception):
    """Base class of every exception repdyn raises on purpose."""


class UndefinedSubspaceError(RepdynError, ValueError):
    """The requested EBF/RSBF subspace is not defined: a tie at the cut ``k`` (or a split
    complex pair), or eigenvalues too ill-conditioned there to separate. The message prints
    the gap. A ``ValueError``."""


class UnstableStepError(RepdynError, ValueError):
    """An explicit integration step left the method's stability region; the message names
    ``dt`` and the first non-finite recorded time. A ``ValueError``."""


class SymbolicIntractableError(RepdynError, NotImplementedError):
    """sympy cannot finish this exact derivation (in closed form, or in the time allowed).
    A limitation of the method, not of the input: a ``NotImplementedError``."""


class SweepFileError(RepdynError, ValueError):
    """A sweep file that cannot be run; the message is one line naming the problem."""
