"""The package's exception types, in one place.

Every error whose cause is the caller's input is a ``ValueError`` (so ``except ValueError``
keeps working); :class:`RepdynError` is the common base for catching repdyn's own errors.
"""
from __future__ import annotations

__all__ = ["RepdynError", "UndefinedSubspaceError", "UnstableStepError",
           "SymbolicIntractableError", "SweepFileError"]


class RepdynError(Exception):
    """Base class of every exception repdyn raises on purpose.

    Examples
    --------
    >>> from repdyn.analysis.errors import (RepdynError, SweepFileError, SymbolicIntractableError,
    ...                                     UndefinedSubspaceError, UnstableStepError)
    >>> all(issubclass(e, RepdynError) for e in (UndefinedSubspaceError, UnstableStepError,
    ...                                           SymbolicIntractableError, SweepFileError))
    True
    >>> from repdyn.analysis.mdp import ring
    >>> from repdyn.analysis.spectral import ebfs
    >>> try:
    ...     ebfs(ring(9), 2)                 # would split a complex conjugate pair
    ... except RepdynError as exc:
    ...     print(type(exc).__name__)
    UndefinedSubspaceError
    """


class UndefinedSubspaceError(RepdynError, ValueError):
    """The requested EBF/RSBF subspace is not defined: a tie at the cut ``k`` (or a split
    complex pair), or eigenvalues too ill-conditioned there to separate. The message prints
    the gap. A ``ValueError``.

    Examples
    --------
    >>> from repdyn.analysis.errors import UndefinedSubspaceError
    >>> from repdyn.analysis.mdp import ring, random_walk_chain
    >>> from repdyn.analysis.spectral import ebfs, rsbfs
    >>> ebfs(ring(9), 2)                     # eigenvalues of the ring come in conjugate pairs
    Traceback (most recent call last):
        ...
    repdyn.analysis.errors.UndefinedSubspaceError: k = 2 splits the complex conjugate pair ...: the real invariant subspace is not defined (choose k = 1 or 3)
    >>> rsbfs(random_walk_chain(4), 0.0, 1)  # gamma = 0: Psi = I, every singular value is 1
    Traceback (most recent call last):
        ...
    repdyn.analysis.errors.UndefinedSubspaceError: k = 1: singular values 1 and 2 of the resolvent Psi tie ...
    >>> issubclass(UndefinedSubspaceError, ValueError)
    True
    """


class UnstableStepError(RepdynError, ValueError):
    """An explicit integration step left the method's stability region; the message names
    ``dt`` and the first non-finite recorded time. A ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.errors import UnstableStepError
    >>> from repdyn.kernels.flows import simulate_ensemble
    >>> P = np.full((3, 3), 1 / 3)
    >>> # RK4 at dt * alpha ||W||^2 (1 + gamma) = 150, far beyond its stability bound ~2.7
    >>> simulate_ensemble(P, np.ones(3), 0.5, np.ones((3, 1)), 10 * np.ones((1, 1)), 1.0, 0.0,
    ...                   1.0, 200, 50)
    Traceback (most recent call last):
        ...
    repdyn.analysis.errors.UnstableStepError: dt = 1 is too large for this flow: the trajectory is no longer finite ...
    >>> issubclass(UnstableStepError, ValueError)
    True
    """


class SymbolicIntractableError(RepdynError, NotImplementedError):
    """sympy cannot finish this exact derivation (in closed form, or in the time allowed).
    A limitation of the method, not of the input: a ``NotImplementedError``.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.errors import SymbolicIntractableError
    >>> from repdyn.analysis.symbolic import spectral_blocks
    >>> spectral_blocks(sp.eye(3), max_n=2)  # refused before any work
    Traceback (most recent call last):
        ...
    repdyn.analysis.errors.SymbolicIntractableError: P is 3 x 3; exact spectral blocks are limited to n <= 2
    >>> issubclass(SymbolicIntractableError, NotImplementedError), issubclass(SymbolicIntractableError, ValueError)
    (True, False)
    """


class SweepFileError(RepdynError, ValueError):
    """A sweep file that cannot be run; the message is one line naming the problem.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> from repdyn.analysis.errors import SweepFileError
    >>> from repdyn.sweep import load_sweep
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "bad.toml")
    ...     with open(path, "w") as fh:
    ...         _ = fh.write("[grid]\\nalpha = [0.1, 0.2]\\n")
    ...     try:
    ...         load_sweep(path)
    ...     except SweepFileError as exc:
    ...         print(str(exc))
    bad.toml: missing 'study' (known: ...)
    >>> issubclass(SweepFileError, ValueError)
    True
    """
