"""Load a user's MDP for ``repdyn verify --mdp`` / ``repdyn analyse``.

Formats: ``.npz`` or ``.json`` with keys ``P`` (n x n), ``R`` (n), ``gamma``; or a per-action
MDP with ``P`` (A x n x n), ``R`` (A x n) and ``policy`` (n x A, rows summing to one), which
is reduced to the policy's P^pi and R^pi; the per-action arrays are kept in ``MDP.extra``
(``P_actions``, ``R_actions``, ``policy``) for claims that need actions (C9).

Sparse ``P`` (``.npz`` only): the arrays of ``scipy.sparse.save_npz`` (``format`` = "csr",
"csc" or "coo", ``shape``, ``data``, ``indices``/``indptr`` or ``row``/``col``) with ``R`` and
``gamma`` beside them in the same file, e.g.::

    np.savez("big.npz", format="csr", shape=P.shape, data=P.data, indices=P.indices,
             indptr=P.indptr, R=R, gamma=0.99)

A file written by ``scipy.sparse.save_npz`` alone holds no ``R`` and ``gamma``; it is refused
with that message. Before a dense ``P`` is read, its size is compared with the memory available
(:func:`memory_available`); a file that would not fit is refused in one line.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

import scipy.sparse as sp

from repdyn.analysis.mdp import MDP, check_gamma, check_transition

#: Keys of the scipy.sparse.save_npz format, by format.
_SPARSE_KEYS = {"csr": ("data", "indices", "indptr", "shape"), "csc": ("data", "indices", "indptr", "shape"),
                "coo": ("data", "row", "col", "shape")}

#: A dense load needs the array plus about this many working copies (validation, float64 cast).
DENSE_LOAD_COPIES = 3


def memory_available() -> int:
    """Bytes of memory available now (``MemAvailable`` of /proc/meminfo; else physical pages)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_fits(nbytes: float, what: str, avail=None) -> None:
    """Raise a one-line ``ValueError`` when ``nbytes`` exceed the memory available."""
    avail = memory_available() if avail is None else avail
    if nbytes > avail:
        raise ValueError(f"{what} needs about {nbytes / 2**30:.1f} GiB, only {avail / 2**30:.1f} GiB "
                         "available: refused")


def _npz_dense_shape(path, key="P"):
    """Shape of array ``key`` in an .npz without reading it (None if absent or unreadable)."""
    try:
        with zipfile.ZipFile(path) as zf:
            with zf.open(f"{key}.npy") as fh:
                version = np.lib.format.read_magic(fh)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, _ = read(fh)
                return shape
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, AttributeError):
        return None


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
    try:                  # a file that cannot be opened is not "not a valid .npz": say why
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ValueError(f"--mdp: cannot read {path!r}: {exc.strerror or exc}") from None
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            if not zipfile.is_zipfile(path):
                raise ValueError(f"--mdp: {path!r} is not a valid .npz file (not a zip archive "
                                 "written by numpy.savez)")
            shape = _npz_dense_shape(path)
            if shape is not None and len(shape) >= 2:
                check_fits(DENSE_LOAD_COPIES * 8.0 * float(np.prod(shape)),
                           f"--mdp: the dense P of shape {tuple(shape)} (save P sparse: see "
                           "repdyn.mdpfile)")
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            data = _sparse_from_arrays(data)
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
        extra = (" (a scipy.sparse.save_npz file holds P only: write R and gamma beside the "
                 "CSR arrays with numpy.savez, see repdyn.mdpfile)" if data.get("_sparse") else "")
        raise ValueError(f"--mdp: missing key(s) {missing}; need P, R, gamma{extra}")
    P = data["P"] if sp.issparse(data["P"]) else _real_array(data["P"], "P")
    R = _real_array(data["R"], "R")
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
    if not sp.issparse(P) and P.ndim == 3:
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
    name = os.path.basename(path)
    if not sp.issparse(P) and P.ndim != 2:
        check_transition(P, "P")                   # the shape message
    return MDP(P, R, gamma, "user MDP", extra, name=name)   # validated once, here


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


def _sparse_from_arrays(data: dict) -> dict:
    """Replace the arrays of the scipy.sparse.save_npz format by a CSR ``P`` (marked ``_sparse``)."""
    if "format" not in data or "P" in data:
        return data
    fmt = data["format"]
    try:
        fmt = fmt.item().decode() if isinstance(fmt.item(), bytes) else str(fmt.item())
    except (AttributeError, ValueError):
        raise ValueError(f"--mdp: 'format' must be one of {sorted(_SPARSE_KEYS)}, got {fmt!r}") from None
    if fmt not in _SPARSE_KEYS:
        raise ValueError(f"--mdp: sparse format {fmt!r} is not supported; use one of {sorted(_SPARSE_KEYS)}")
    miss = [k for k in _SPARSE_KEYS[fmt] if k not in data]
    if miss:
        raise ValueError(f"--mdp: the {fmt} arrays lack {miss}")
    shape = tuple(int(v) for v in np.asarray(data["shape"]).ravel())
    if len(shape) != 2:
        raise ValueError(f"--mdp: shape must have two entries, got {shape}")
    vals = _real_array(data["data"], "data")
    try:
        if fmt == "coo":
            P = sp.coo_matrix((vals, (data["row"], data["col"])), shape=shape).tocsr()
        else:
            cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
            P = cls((vals, data["indices"], data["indptr"]), shape=shape).tocsr()
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"--mdp: the {fmt} arrays do not form a matrix of shape {shape}: {exc}") from None
    out = {k: v for k, v in data.items() if k not in _SPARSE_KEYS[fmt] + ("format",)}
    out["P"] = P
    out["_sparse"] = True
    return out
