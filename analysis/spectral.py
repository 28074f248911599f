"""Spectra of the TD generator: principal angles, Grassmann distance, EBFs and RSBFs.

docs: theory/index. EBFs of order k span the real invariant subspace of ``P`` for its k eigenvalues of
largest real part (computed from a reordered real Schur form, so they are well defined and
accurate for non-normal and defective ``P``). RSBFs of order k are the top-k left singular
vectors of ``Psi = (I - gamma P)^{-1}`` (with a cumulant covariance ``Sigma``: the top-k
eigenvectors of ``Psi Sigma Psi^T``), computed without forming the inverse.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from repdyn.analysis.mdp import EIG_TIE_TOL, check_basis, check_gamma, check_k, check_matrix, check_transition
from repdyn.analysis.errors import UndefinedSubspaceError

__all__ = ["principal_angles", "grassmann_distance", "ebfs", "rsbfs", "eigenvalues", "UndefinedSubspaceError",
           "alignment_rate", "orthonormal_basis"]


def orthonormal_basis(B, name: str = "B", n=None) -> np.ndarray:
    """Orthonormal basis (thin QR) of the column span of a full-rank ``B``."""
    B = check_basis(B, name, n)
    Q, _ = np.linalg.qr(B)
    return Q


def principal_angles(A, B) -> np.ndarray:
    """Principal angles between the column spans of ``A`` (n x k1) and ``B`` (n x k2).

    Returns the min(k1, k2) angles in radians, ascending.

    Notes
    -----
    Both bases are orthonormalised by QR. Cosines are the singular values of ``Qa^T Qb``;
    sines are the singular values of the residual ``Qs - Ql (Ql^T Qs)`` of the smaller basis
    ``Qs`` after projecting on the larger ``Ql``. Sines ascending are paired with cosines
    descending and ``theta = arctan2(sin, cos)``, which is accurate to O(eps) for tiny angles
    even beside large ones (``arccos`` of cosines is not, nor is scipy 1.17's
    ``subspace_angles``). Cost O(n k1 k2 + n k^2).
    """
    A = check_basis(A, "A")
    B = check_basis(B, "B", A.shape[0])
    Qa, Qb = np.linalg.qr(A)[0], np.linalg.qr(B)[0]
    Qs, Ql = (Qa, Qb) if Qa.shape[1] <= Qb.shape[1] else (Qb, Qa)
    cos = np.linalg.svd(Ql.T @ Qs, compute_uv=False)            # descending
    resid = Qs - Ql @ (Ql.T @ Qs)
    resid = resid - Ql @ (Ql.T @ resid)                           # second pass: orthogonality
    sin = np.sort(np.linalg.svd(resid, compute_uv=False))        # ascending
    m = Qs.shape[1]
    cos = np.clip(cos[:m], 0.0, 1.0)
    sin = np.clip(sin[:m], 0.0, 1.0)
    return np.arctan2(sin, cos)


def grassmann_distance(A, B) -> float:
    """Grassmann distance ``||theta||_2`` between spans of equal dimension (docs: theory/index)."""
    A = check_basis(A, "A")
    B = check_basis(B, "B", A.shape[0])
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"A and B must span subspaces of equal dimension, got {A.shape[1]} "
                         f"and {B.shape[1]} columns (use principal_angles for unequal ones)")
    return float(np.linalg.norm(principal_angles(A, B)))


def eigenvalues(P) -> np.ndarray:
    """Eigenvalues of a dense stochastic ``P``, sorted by real part, descending."""
    P = check_transition(P, "P")
    w = np.linalg.eigvals(P)
    return w[np.lexsort((-w.imag, -w.real))]




def _top_k_threshold(w_sorted: np.ndarray, k: int) -> float:
    """Midpoint between Re lambda_k and Re lambda_{k+1}; raises on a tie (undefined subspace)."""
    n = len(w_sorted)
    if k == n:
        return -np.inf
    a, b = w_sorted[k - 1], w_sorted[k]
    if a.real - b.real <= EIG_TIE_TOL:
        if abs(a.imag) > EIG_TIE_TOL and abs(a.imag + b.imag) <= 10 * EIG_TIE_TOL:
            raise UndefinedSubspaceError(
                f"k = {k} splits the complex conjugate pair {a:.6g}, {b:.6g}: the real invariant "
                f"subspace is not defined (choose k = {k - 1} or {k + 1})")
        raise UndefinedSubspaceError(
            f"k = {k}: lambda_{k} and lambda_{k + 1} tie in real part ({a.real:.12g} vs "
            f"{b.real:.12g}, tolerance EIG_TIE_TOL = {EIG_TIE_TOL:g}); the subspace U_1:k is not "
            "defined")
    return 0.5 * (a.real + b.real)


def ebfs(P, k: int) -> np.ndarray:
    """Eigenbasis functions of order ``k``: orthonormal basis of U_{1:k} (docs: theory/index).

    The real invariant subspace of ``P`` for its ``k`` eigenvalues of largest real part.

    Raises ``ValueError`` when Re lambda_k and Re lambda_{k+1} tie within
    :data:`analysis.mdp.EIG_TIE_TOL` (including a split complex conjugate pair).

    Notes
    -----
    Computed as the leading ``k`` Schur vectors of the real Schur form reordered so that the
    selected eigenvalues come first (LAPACK ``gees`` + ``trsen`` through ``scipy.linalg.schur``).
    Schur vectors are orthonormal by construction, so the basis is accurate for non-normal
    and defective ``P`` as long as the selected cluster is separated from the rest.
    Cost O(n^3).
    """
    P = check_transition(P, "P")
    n = P.shape[0]
    k = check_k(k, n, "k")
    if k == n:
        return np.eye(n)
    w = eigenvalues(P)
    thr = _top_k_threshold(w, k)
    try:
        _, Z, sdim = sla.schur(P, output="real", sort=lambda re, im: re > thr)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise UndefinedSubspaceError(f"P: Schur reordering for k = {k} failed ({exc}); the eigenvalues "
                         "near the cut are too ill-conditioned to separate") from None
    if sdim != k:
        raise UndefinedSubspaceError(f"P: the Schur form selected {sdim} eigenvalues for k = {k}: eigenvalues "
                         "near the cut are too ill-conditioned to separate")
    return np.ascontiguousarray(Z[:, :k])


def rsbfs(P, gamma, k: int, Sigma=None) -> np.ndarray:
    """Resolvent singular basis functions of order ``k`` (docs: theory/index).

    Top-k left singular vectors of ``Psi = (I - gamma P)^{-1}``; with ``Sigma`` (symmetric
    positive semi-definite, n x n), the top-k eigenvectors of ``Psi Sigma Psi^T``.

    Raises ``ValueError`` when the k-th and (k+1)-th singular values tie (relative
    :data:`analysis.mdp.EIG_TIE_TOL` on their squares), e.g. at gamma = 0 with Sigma = I.

    Notes
    -----
    Without ``Sigma``: the left singular vectors of ``Psi`` are the right singular vectors of
    ``A = I - gamma P`` in reverse order, so one SVD of ``A`` gives them, no inverse formed.
    With ``Sigma = L L^T`` (L from its eigendecomposition): the top left singular vectors of
    ``np.linalg.solve(A, L)``. Cost O(n^3).
    """
    P = check_transition(P, "P")
    gamma = check_gamma(gamma)
    n = P.shape[0]
    k = check_k(k, n, "k")
    A = np.eye(n) - gamma * P
    if Sigma is None:
        _, s, Vt = np.linalg.svd(A)
        sig = 1.0 / s[::-1]                  # singular values of Psi, descending
        vecs = Vt[::-1].T
    else:
        S = check_matrix(Sigma, "Sigma", n, n)
        scale = max(np.abs(S).max(), np.finfo(float).tiny)
        if np.abs(S - S.T).max() > 1e-10 * scale:
            raise ValueError("Sigma must be symmetric")
        e, Q = np.linalg.eigh(0.5 * (S + S.T))
        if e.min() < -1e-10 * max(e.max(), 0.0) or e.max() <= 0:
            raise ValueError(f"Sigma must be positive semi-definite and non-zero (min eigenvalue {e.min():.3g})")
        L = Q * np.sqrt(np.clip(e, 0.0, None))
        U, sig, _ = np.linalg.svd(np.linalg.solve(A, L))
        vecs = U
    if k < n:
        s2 = sig ** 2
        if s2[k - 1] - s2[k] <= EIG_TIE_TOL * s2[0]:
            raise UndefinedSubspaceError(
                f"k = {k}: singular values {k} and {k + 1} of "
                f"{'the resolvent Psi' if Sigma is None else 'Psi Sigma^(1/2)'} tie "
                f"({sig[k - 1]:.12g} vs {sig[k]:.12g}); the RSBF subspace is not defined")
    return np.ascontiguousarray(vecs[:, :k])


def alignment_rate(P, gamma, K: int, d_min: float = 1.0) -> float:
    """Predicted rate ``d_min * gamma * (Re lambda_K - Re lambda_{K+1})`` (docs: theory/c2, C3, C6)."""
    P = check_transition(P, "P")
    gamma = check_gamma(gamma)
    K = check_k(K, P.shape[0] - 1, "K")
    w = eigenvalues(P)
    _top_k_threshold(w, K)
    return float(d_min * gamma * (w[K - 1].real - w[K].real))
