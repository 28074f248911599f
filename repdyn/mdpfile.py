"""Load a user's MDP for ``repdyn verify --mdp`` / ``repdyn analyse``.

Formats: ``.npz`` or ``.json`` with keys ``P`` (n x n), ``R`` (n), ``gamma``; or a per-action
MDP with ``P`` (A x n x n), ``R`` (A x n) and ``policy`` (n x A, rows summing to one), which
is reduced to the policy's P^pi and R^pi; the per-action arrays are kept in ``MDP.extra``
(``P_actions``, ``R_actions``, ``policy``) for claims that need actions (C9).
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from repdyn.analysis.mdp import MDP, check_gamma, check_transition, check_vector


def load_mdp(path: str, what: str = "--mdp") -> MDP:
    """Read and validate an MDP file; every problem raises ``ValueError`` naming the field.

    ``what`` names the command-line argument in messages (``--mdp`` or ``FILE``).
    """
    try:
        return _load(path)
    except ValueError as exc:
        msg = str(exc)
        if msg.startswith("--mdp: "):
            msg = msg[len("--mdp: "):]
        raise ValueError(f"{what} {path}: {msg}") from None
    except (TypeError, KeyError, IndexError) as exc:   # odd contents that slipped past the checks
        raise ValueError(f"{what} {path}: malformed contents ({type(exc).__name__}: {exc})") from None


def _load(path: str) -> MDP:
    if os.path.isdir(path):
        raise ValueError(f"--mdp: {path!r} is a directory, not an MDP file")
    if not os.path.exists(path):
        raise ValueError(f"--mdp: no such file {path!r}")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            if not zipfile.is_zipfile(path):
                raise ValueError(f"--mdp: {path!r} is not a valid .npz file (not a zip archive "
                                 "written by numpy.savez)")
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        elif ext == ".json":
            with open(path) as fh:
                data = json.load(fh)
        else:
            raise ValueError(f"--mdp: {path!r} must end in .npz or .json")
    except Exception as exc:  # unreadable file of any kind (bad zip, bad JSON, pickled arrays)
        if isinstance(exc, ValueError) and str(exc).startswith("--mdp"):
            raise
        raise ValueError(f"--mdp: cannot read {path!r}: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("--mdp: the file must hold a mapping with keys P, R, gamma")
    missing = [k for k in ("P", "R", "gamma") if k not in data]
    if missing:
        raise ValueError(f"--mdp: missing key(s) {missing}; need P, R, gamma")
    P, R = _real_array(data["P"], "P"), _real_array(data["R"], "R")
    try:
        g = np.asarray(data["gamma"])
        if g.dtype.kind not in "iuf":             # a string "0.9", a bool, a complex number
            raise TypeError
        g = g.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a real number in [0, 1), got {data['gamma']!r}") from None
    if g.ndim != 0:
        raise ValueError(f"gamma must be a single number, got shape {g.shape}")
    gamma = check_gamma(g.item(), "gamma")
    if P.ndim == 3:
        if "policy" not in data:
            raise ValueError("--mdp: per-action P (A x n x n) needs a 'policy' (n x A)")
        for a in range(P.shape[0]):
            check_transition(P[a], f"P[{a}]")
        A, n = P.shape[0], P.shape[1]
        pi = _real_array(data["policy"], "policy")
        if pi.shape != (n, A):
            raise ValueError(f"policy must have shape (n, A) = {(n, A)}, got {pi.shape}")
        _check_policy(pi)
        if R.shape != (A, n):
            raise ValueError(f"R must have shape (A, n) = {(A, n)} for a per-action MDP, got {R.shape}")
        extra = {"P_actions": P, "R_actions": R, "policy": pi}   # kept for C9 (needs actions)
        P = np.einsum("sa,ast->st", pi, P)
        R = np.einsum("sa,as->s", pi, R)
    else:
        if "policy" in data:
            raise ValueError(f"--mdp: a 'policy' needs per-action P (A x n x n) and R (A x n); "
                             f"this P has shape {P.shape}")
        extra = {}
    P = check_transition(P, "P")
    R = check_vector(R, P.shape[0], "R")
    name = os.path.basename(path)
    return MDP(name, P, R, gamma, "user MDP", extra)


def _real_array(x, name):
    """A real float64 array; complex, string or ragged data is refused (one line, naming it)."""
    try:
        a = np.asarray(x)
        if a.dtype.kind not in "iuf":
            raise TypeError(f"dtype {a.dtype}" + (" (complex values)" if a.dtype.kind == "c" else ""))
        return a.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--mdp: {name} must be a real numeric array: {exc}") from None


def _check_policy(pi):
    if not np.all(np.isfinite(pi)) or np.any(pi < 0):
        raise ValueError("policy must be finite and >= 0")
    if np.any(np.abs(pi.sum(axis=1) - 1) > 1e-10):
        raise ValueError("policy rows must sum to one")
