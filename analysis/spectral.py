"""Spectra of the TD generator: principal angles, Grassmann distance, EBFs and RSBFs.

docs: theory/index. EBFs of order k span the real invariant subspace of ``P`` for its k eigenvalues of
largest real part (computed from a reordered real Schur form, so they are well defined and
accurate for non-normal and defective ``P``). RSBFs of order k are the top-k left singular
vectors of ``Psi = (I - gamma P)^{-1}`` (with a cumulant covariance ``Sigma``: the top-k
eigenvectors of ``Psi Sigma Psi^T``), computed without forming the inverse.

``P`` may be a dense array, a scipy sparse matrix or an :class:`analysis.mdp.MDP` (which
caches eigenvalues, bases and factorisations). Above :data:`KRYLOV_MIN_N` states the top of the
spectrum is computed by Krylov methods (:mod:`analysis.krylov`); the full spectrum only on
request and up to :data:`FULL_SPECTRUM_MAX_N` states (docs: architecture, large MDPs).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

import scipy.sparse as sp

from repdyn.analysis.mdp import MDP, EIG_TIE_TOL, as_mdp, check_basis, check_gamma, check_k, check_matrix
from repdyn.analysis.errors import UndefinedSubspaceError
from repdyn.analysis.krylov import (KRYLOV_EXTRA, _tie_check, resolvent_lu, resolvent_top, top_basis,
                                    top_spectrum)

__all__ = ["principal_angles", "grassmann_distance", "ebfs", "rsbfs", "eigenvalues", "UndefinedSubspaceError",
           "alignment_rate", "orthonormal_basis", "ebf_certificate", "KRYLOV_MIN_N", "FULL_SPECTRUM_MAX_N"]


def orthonormal_basis(B, name: str = "B", n=None) -> np.ndarray:
    """Orthonormal basis (thin QR) of the column span of a full-rank ``B``.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.spectral import grassmann_distance, orthonormal_basis
    >>> B = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    >>> Q = orthonormal_basis(B)
    >>> Q.shape, bool(np.allclose(Q.T @ Q, np.eye(2)))
    ((3, 2), True)
    >>> grassmann_distance(Q, B) < 1e-12                 # the same span as B
    True
    >>> orthonormal_basis(np.zeros((3, 1)))
    Traceback (most recent call last):
        ...
    ValueError: B is rank-deficient (singular values 0 ... 0): its columns do not span a subspace ...
    """
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

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.spectral import principal_angles
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])      # the x-y plane
    >>> B = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])      # the x-z plane
    >>> np.degrees(principal_angles(A, B)).round(6)           # they share the x axis
    array([ 0., 90.])
    >>> np.degrees(principal_angles([1.0, 0.0], [1.0, 1.0])).round(6)
    array([45.])
    >>> principal_angles(A, A[:, :1])                         # min(k1, k2) angles
    array([0.])
    >>> t = 1e-10                                             # tiny angles stay accurate
    >>> f"{float(principal_angles([1.0, 0.0], [np.cos(t), np.sin(t)])[0]):.6g}"
    '1e-10'
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
    """Grassmann distance ``||theta||_2`` between spans of equal dimension (docs: theory/index).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.spectral import grassmann_distance
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])      # the x-y plane
    >>> B = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])      # the x-z plane: angles 0, pi/2
    >>> bool(np.isclose(grassmann_distance(A, B), np.pi / 2))
    True
    >>> grassmann_distance(A, A[:, :1])
    Traceback (most recent call last):
        ...
    ValueError: A and B must span subspaces of equal dimension, got 2 and 1 columns (use principal_angles for unequal ones)
    """
    A = check_basis(A, "A")
    B = check_basis(B, "B", A.shape[0])
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"A and B must span subspaces of equal dimension, got {A.shape[1]} "
                         f"and {B.shape[1]} columns (use principal_angles for unequal ones)")
    return float(np.linalg.norm(principal_angles(A, B)))


#: Above this many states ``method="auto"`` takes the Krylov route (shift-invert Krylov-Schur
#: for EBFs and eigenvalues, a sparse LU and Lanczos for RSBFs), for dense and sparse input
#: alike; at or below it the dense O(n^3) route (real Schur form, full SVD). Measured with
#: ``python -m repdyn.benchmarks.bench_spectral`` (ebfs(P, 8), one BLAS thread): the Krylov
#: route is faster from n = 200 on dense random reversible chains (1.1x; 1.8x at 300) and from
#: n = 148 on sparse four-rooms (1.7x; 5.3x at 260). The constant sits above both crossovers,
#: so small problems keep the route that needs no convergence assumption.
KRYLOV_MIN_N = 300

#: A dense ``P`` sparser than this fraction of nonzeros is converted to CSR on the Krylov route.
DENSE_TO_CSR_DENSITY = 0.05

#: The full spectrum (``eigenvalues(P)`` without ``k``) is refused above this many states: it
#: needs a dense copy (8 n^2 bytes) and O(n^3) work; ask for the top k instead.
FULL_SPECTRUM_MAX_N = 6000


def _route(m: MDP, method: str, k: int = 0) -> str:
    if method not in ("auto", "dense", "krylov"):
        raise ValueError(f"method must be 'auto', 'dense' or 'krylov', got {method!r}")
    n = m.n
    if method == "krylov":
        if n < k + KRYLOV_EXTRA + 12:
            raise ValueError(f"method='krylov' needs n >= k + {KRYLOV_EXTRA + 12}, got n = {n}, k = {k}")
        return "krylov"
    if method == "dense":
        return "dense"
    return "krylov" if n > KRYLOV_MIN_N and n >= k + KRYLOV_EXTRA + 12 else "dense"


def _op_matrix(m: MDP):
    """The matrix the Krylov route multiplies with: CSR for sparse or sparse-ish dense P."""
    if m.sparse:
        return m.P
    if "csr" not in m._cache:
        P = m.P
        dens = np.count_nonzero(P) / P.size
        m._cache["csr"] = sp.csr_matrix(P) if dens < DENSE_TO_CSR_DENSITY else P
    return m._cache["csr"]


def _top(m: MDP, p: int, need: int | None = None):
    """The cached top block if it holds at least ``need`` eigenvalues (default ``p``), else a
    new one with ``p`` (grown past a cluster that trims it)."""
    top = m._cache.get("top")
    if top is None or top.p < (p if need is None else need):
        want = p
        while True:
            top = top_spectrum(_op_matrix(m), min(want, m.n - 12))
            if top.p >= p or want >= m.n - 12:
                break
            want += KRYLOV_EXTRA              # a cluster at the cut trimmed the block
        m._cache["top"] = top
    return top


def _dense_eigs(m: MDP) -> np.ndarray:
    if "eig_all" not in m._cache:
        n = m.n
        if n > FULL_SPECTRUM_MAX_N:
            raise ValueError(f"P: the full spectrum of n = {n} states needs a dense copy "
                             f"({8 * n * n / 2**30:.1f} GiB) and O(n^3) work (limit "
                             f"FULL_SPECTRUM_MAX_N = {FULL_SPECTRUM_MAX_N}); ask for the top k "
                             "with eigenvalues(P, k)")
        w = np.linalg.eigvals(m.dense_P())
        w = w[np.lexsort((-w.imag, -w.real))]
        w.flags.writeable = False
        m._cache["eig_all"] = w
    return m._cache["eig_all"]


def eigenvalues(P, k=None, *, method: str = "auto") -> np.ndarray:
    """Eigenvalues of a stochastic ``P`` sorted by real part, descending: all, or the top ``k``.

    Parameters
    ----------
    P : ndarray, scipy.sparse matrix or :class:`analysis.mdp.MDP` (n x n)
    k : int, optional
        Return only the top ``k`` (by real part; imaginary part descending within a pair).
        For large ``P`` (the Krylov route) only these are computed, with a few more.
    method : "auto", "dense" or "krylov"
        "auto" takes the Krylov route when n > :data:`KRYLOV_MIN_N` and ``k`` is given.

    Returns
    -------
    ndarray (n,) or (k,), complex

    Raises
    ------
    ValueError
        Invalid ``P`` or ``k``; ``k`` omitted for n > :data:`FULL_SPECTRUM_MAX_N` (the full
        spectrum is not computed for large P).

    Notes
    -----
    Dense: LAPACK ``geev`` on a dense copy, O(n^3), cached on the MDP object. Krylov: the top
    block of :func:`analysis.krylov.top_spectrum` (shift-invert about 1), cached.

    Examples
    --------
    >>> from repdyn.analysis.spectral import eigenvalues
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> eigenvalues(random_walk_chain(3)).real.round(6)
    array([ 1. ,  0.5, -0.5])
    >>> eigenvalues(random_walk_chain(1000, sparse=True), 2).real.round(8)
    array([1.        , 0.99999507])
    """
    m = as_mdp(P)
    if k is None:
        return _dense_eigs(m).copy()
    k = check_k(k, m.n, "k")
    if "eig_all" in m._cache or _route(m, method, k) == "dense":
        return _dense_eigs(m)[:k].copy()
    return _top(m, k + 1).values[:k].copy()


def _top_k_threshold(w_sorted: np.ndarray, k: int) -> float:
    """Midpoint between Re lambda_k and Re lambda_{k+1}; raises on a tie (undefined subspace).
    One tie rule for the dense and the Krylov routes (:func:`analysis.krylov._tie_check`)."""
    if k == len(w_sorted):
        return -np.inf
    return _tie_check(w_sorted, k)[0]


def ebfs(P, k: int, *, method: str = "auto") -> np.ndarray:
    """Eigenbasis functions of order ``k``: orthonormal basis of U_{1:k} (docs: theory/index).

    The real invariant subspace of ``P`` for its ``k`` eigenvalues of largest real part.

    Parameters
    ----------
    P : ndarray, scipy.sparse matrix or :class:`analysis.mdp.MDP` (n x n), row-stochastic
    k : int, 1 <= k <= n
    method : "auto" (default), "dense" or "krylov"
        "auto": dense real Schur form for n <= :data:`KRYLOV_MIN_N`, else shift-invert
        Krylov-Schur on the top of the spectrum (sparse LU, or dense LU for dense P).

    Returns
    -------
    ndarray (n, k), orthonormal columns

    Raises
    ------
    UndefinedSubspaceError
        Re lambda_k and Re lambda_{k+1} tie within :data:`analysis.mdp.EIG_TIE_TOL` (the
        message prints both and the gap), a complex conjugate pair would be split, or the
        eigenvalues at the cut are too ill-conditioned to separate. A ``ValueError``.
    ValueError
        Invalid ``P`` or ``k``.

    Notes
    -----
    Dense: the leading ``k`` Schur vectors of the real Schur form reordered so that the
    selected eigenvalues come first (LAPACK ``gees`` + ``trsen`` through ``scipy.linalg.schur``).
    Schur vectors are orthonormal by construction, so the basis is accurate for non-normal
    and defective ``P`` as long as the selected cluster is separated from the rest. O(n^3).

    Krylov (docs: architecture, large MDPs): :func:`analysis.krylov.top_spectrum` computes the
    invariant subspace for the ``k + KRYLOV_EXTRA`` eigenvalues nearest ``1 + SHIFT_DELTA``
    from one LU of ``P - sigma I``; the order-k basis comes from a reordered real Schur form
    of the small projected matrix, with a certificate (:func:`ebf_certificate`): residual,
    gap, and for reversible ``P`` an exact count of the eigenvalues above the cut (Sylvester's
    inertia) that certifies these are the top k. If the count disagrees, the block is
    recomputed larger; an answer that cannot be certified where a certificate is possible is
    refused. Cost for a 2-d grid of n states: O(n^1.5) for the LU plus O(n k) per solve.

    An :class:`analysis.mdp.MDP` caches the result per k (and the top block for every k).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.spectral import ebfs
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> E = ebfs(random_walk_chain(6), 1)
    >>> bool(np.allclose(np.abs(E[:, 0]), 6 ** -0.5))
    True
    >>> E = ebfs(random_walk_chain(2000, sparse=True), 3)      # Krylov route
    >>> E.shape, bool(np.allclose(E.T @ E, np.eye(3)))
    ((2000, 3), True)
    """
    m = as_mdp(P)
    n = m.n
    k = check_k(k, n, "k")
    if k == n:
        return np.eye(n)
    key = ("ebfs", k)
    if key not in m._cache:
        if _route(m, method, k) == "dense":
            m._cache[key] = (_dense_ebfs(m, k), None)
        else:
            m._cache[key] = _krylov_ebfs(m, k)
    return m._cache[key][0].copy()


def ebf_certificate(P, k: int, *, method: str = "auto"):
    """The certificate of the order-k EBFs: a :class:`analysis.krylov.SpectrumCertificate` on
    the Krylov route, None on the dense route (full spectrum, nothing to certify beyond LAPACK).

    Examples
    --------
    >>> from repdyn.analysis.spectral import ebf_certificate
    >>> from repdyn.analysis.mdp import MDP, random_walk_chain
    >>> cert = ebf_certificate(MDP(random_walk_chain(1000, sparse=True)), 3)
    >>> cert.top_k_certified, cert.count_above >= 3, cert.residual < 1e-10
    (True, True, True)
    """
    m = as_mdp(P)
    ebfs(m, k, method=method)
    k = int(k)
    return m._cache[("ebfs", k)][1] if ("ebfs", k) in m._cache else None


def _dense_schur(m: MDP):
    """The real Schur form ``P = Z T Z^T`` of a dense-route MDP, computed once and cached: every
    order k reorders it (LAPACK ``trsen``) instead of factorising ``P`` again."""
    if "schur" not in m._cache:
        T, Z = sla.schur(m.dense_P(), output="real")
        T.flags.writeable = Z.flags.writeable = False
        m._cache["schur"] = (T, Z)
    return m._cache["schur"]


def _dense_ebfs(m: MDP, k: int) -> np.ndarray:
    w = _dense_eigs(m)
    thr = _top_k_threshold(w, k)
    T, Z = _dense_schur(m)
    # LAPACK's standardised 2 x 2 blocks have equal diagonal entries (the pair's real part), so
    # the diagonal of T selects by real part, pairs whole: the sort of ``schur(P, sort=...)``
    # (gees = the same Schur form followed by the same trsen)
    select = (np.diag(T) > thr).astype(np.int32)
    _, Zs, wr, _, sdim, _, _, info = sla.lapack.dtrsen(select, T, Z, job="N")
    if info != 0:
        raise UndefinedSubspaceError(f"P: Schur reordering for k = {k} failed (LAPACK trsen info = "
                                     f"{info}); the eigenvalues near the cut are too ill-conditioned "
                                     "to separate")
    if sdim != k or np.any(wr[:k] <= thr) or np.any(wr[k:] > thr):
        raise UndefinedSubspaceError(f"P: the Schur form selected {sdim} eigenvalues for k = {k}: eigenvalues "
                         "near the cut are too ill-conditioned to separate")
    return np.ascontiguousarray(Zs[:, :k])


#: Enlargements of the computed top block before an uncertifiable answer is refused.
_CERT_RETRIES = 2


def _krylov_ebfs(m: MDP, k: int):
    sqrt_pi = m.sqrt_stationary()
    sqrt_pi = None if sqrt_pi is False else sqrt_pi
    p = k + KRYLOV_EXTRA
    for attempt in range(_CERT_RETRIES + 1):
        top = _top(m, p, need=k + 2 if attempt == 0 else p)
        if top.p <= k:
            raise UndefinedSubspaceError(f"k = {k}: the computed top block has only {top.p} "
                                         "eigenvalues (a cluster at the cut); the gap cannot be seen")
        Q, cert = top_basis(_op_matrix(m), top, k, sqrt_pi)
        if cert.top_k_certified is not False:
            return Q, cert
        p = 2 * top.p                              # missed eigenvalues: look further
        m._cache.pop("top", None)
    raise UndefinedSubspaceError(f"k = {k}: the Krylov route could not certify the top {k} "
                                 f"eigenvalues ({cert.note}); use method='dense' if n allows")


def rsbfs(P, gamma, k: int, Sigma=None, *, method: str = "auto") -> np.ndarray:
    """Resolvent singular basis functions of order ``k`` (docs: theory/index).

    Top-k left singular vectors of ``Psi = (I - gamma P)^{-1}``; with ``Sigma`` (symmetric
    positive semi-definite, n x n), the top-k eigenvectors of ``Psi Sigma Psi^T``.

    Parameters
    ----------
    P : ndarray, scipy.sparse matrix or :class:`analysis.mdp.MDP` (n x n), row-stochastic
    gamma : float in [0, 1)
    k : int, 1 <= k <= n
    Sigma : ndarray (n, n), optional (on the Krylov route also a scipy sparse matrix)
    method : "auto" (default), "dense" or "krylov" (as in :func:`ebfs`)

    Returns
    -------
    ndarray (n, k), orthonormal columns

    Raises
    ------
    UndefinedSubspaceError
        The k-th and (k+1)-th singular values tie (relative :data:`analysis.mdp.EIG_TIE_TOL`
        on their squares), e.g. at gamma = 0 with Sigma = I.
    ValueError
        Invalid input; ``Sigma`` not symmetric or not positive semi-definite.

    Notes
    -----
    Dense: the left singular vectors of ``Psi`` are the right singular vectors of
    ``A = I - gamma P`` in reverse order, so one SVD of ``A`` gives them, no inverse formed.
    With ``Sigma = L L^T`` (L from its eigendecomposition): the top left singular vectors of
    ``np.linalg.solve(A, L)``. Cost O(n^3).

    Krylov (n > :data:`KRYLOV_MIN_N`), exactly symmetric ``P`` (``P == P.T`` entry for entry)
    and ``Sigma = None``: ``Psi`` is then symmetric with singular values ``1 / (1 - gamma
    lambda_i)``, increasing in ``lambda_i``, so the RSBFs are the certified top-k EBFs rotated
    into eigenvectors (no second factorisation; ties decided on those singular values by the
    rule below). Not for reversible non-symmetric ``P``, whatever the weighting: with
    ``D = diag(pi)`` and ``S = D^{1/2} P D^{-1/2}`` symmetric, ``Psi = D^{-1/2} (I - gamma
    S)^{-1} D^{1/2}``, and ``Psi Sigma Psi^T`` is ``D^{-1/2} Psi_S D^2 Psi_S D^{-1/2}`` for
    ``Sigma = D`` and ``D^{-1/2} Psi_S^2 D^{-1/2}`` for ``Sigma = D^{-1}``: congruences, not
    similarities, of functions of ``S``, whose Euclidean eigenvectors are not ``P``'s.
    Otherwise: one LU of ``A`` (cached per gamma on an MDP object),
    and Lanczos on the operator ``x -> Psi Sigma Psi^T x`` (a transposed solve, a product
    with Sigma, a solve): :func:`analysis.krylov.resolvent_top`. There ``Sigma`` is checked
    for symmetry and the computed top eigenvalues for sign (a full PSD check would be O(n^3)).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.spectral import rsbfs, ebfs, grassmann_distance
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> U = rsbfs(random_walk_chain(6), 0.9, 1)
    >>> bool(np.allclose(np.abs(U[:, 0]), 6 ** -0.5))        # Psi 1 = 1/(1 - gamma) 1
    True
    >>> P = random_walk_chain(1000, sparse=True)      # symmetric: RSBFs = EBFs (Krylov route)
    >>> grassmann_distance(ebfs(P, 3), rsbfs(P, 0.9, 3)) < 1e-8
    True
    """
    m = as_mdp(P)
    gamma = check_gamma(gamma)
    n = m.n
    k = check_k(k, n, "k")
    route = _route(m, method, k) if k < n else "dense"
    key = ("rsbfs", gamma, k)
    if Sigma is None and key in m._cache:
        return m._cache[key].copy()
    if route == "dense":
        U = _dense_rsbfs(m.dense_P(), gamma, k, Sigma)
    else:
        U = _krylov_rsbfs(m, gamma, k, Sigma)
    if Sigma is None:
        m._cache[key] = U
    return U.copy()


def _dense_rsbfs(P, gamma, k, Sigma):
    n = P.shape[0]
    A = np.eye(n) - gamma * P
    if Sigma is None:
        _, s, Vt = np.linalg.svd(A)
        sig = 1.0 / s[::-1]                  # singular values of Psi, descending
        vecs = Vt[::-1].T
    else:
        if sp.issparse(Sigma):
            Sigma = Sigma.toarray()
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
    _rsbf_tie(sig, k, Sigma, n)
    return np.ascontiguousarray(vecs[:, :k])


def _rsbf_tie(sig, k, Sigma, n):
    if k < n and k < len(sig):
        s2 = sig ** 2
        if s2[k - 1] - s2[k] <= EIG_TIE_TOL * s2[0]:
            raise UndefinedSubspaceError(
                f"k = {k}: singular values {k} and {k + 1} of "
                f"{'the resolvent Psi' if Sigma is None else 'Psi Sigma^(1/2)'} tie "
                f"({sig[k - 1]:.12g} vs {sig[k]:.12g}, gap of squares {s2[k - 1] - s2[k]:.3g}); "
                "the RSBF subspace is not defined")


def _symmetric_rsbfs(m: MDP, gamma, k):
    """RSBFs of an exactly symmetric ``P`` with ``Sigma = I`` from its certified EBFs, or None
    when the EBF route cannot certify the top k (the caller then runs Lanczos).

    For symmetric ``P`` (eigenvalues real, in [-1, 1]) ``Psi = (I - gamma P)^{-1}`` is
    symmetric with eigenvalues ``1 / (1 - gamma lambda_i) > 0`` (gamma < 1), which are its
    singular values and increase strictly with ``lambda_i`` when gamma > 0. So the top-k left
    singular vectors of ``Psi`` are the top-k eigenvectors of ``P``, and the k-th and (k+1)-th
    singular values tie exactly when lambda_k and lambda_k+1 do. The EBF basis ``Q`` (certified
    by Sylvester's inertia to hold the top k eigenvalues) is rotated into eigenvectors by the
    k x k symmetric ``Q^T P Q``; the singular values come from the computed eigenvalues and
    meet the RSBF tie rule (:func:`_rsbf_tie`). Cost: the EBFs (shared with :func:`ebfs`,
    cached) plus k products with ``P``.
    """
    key = ("ebfs", k)
    try:
        if key not in m._cache:
            m._cache[key] = _krylov_ebfs(m, k)
    except UndefinedSubspaceError:
        return None               # EBF tie rule (on lambda) is not the RSBF one: let Lanczos decide
    Q, cert = m._cache[key]
    if cert is None or cert.top_k_certified is not True:
        return None
    w = m._cache["top"].values.real
    sig = 1.0 / (1.0 - gamma * w)
    _rsbf_tie(sig, k, None, m.n)
    PQ = _op_matrix(m) @ Q
    T = Q.T @ PQ
    e, V = np.linalg.eigh(0.5 * (T + T.T))
    return np.ascontiguousarray(Q @ V[:, ::-1])


def _krylov_rsbfs(m: MDP, gamma, k, Sigma):
    n = m.n
    if Sigma is None and m.is_symmetric():
        U = _symmetric_rsbfs(m, gamma, k)
        if U is not None:
            return U
    Pop = _op_matrix(m)
    lk = ("resolvent_lu", gamma)
    if lk not in m._cache:
        m._cache[lk] = resolvent_lu(Pop, gamma)
    p = min(k + KRYLOV_EXTRA, n - 1)
    if Sigma is None:
        tk = ("resolvent_top", gamma)
        hit = m._cache.get(tk)
        if hit is None or len(hit[0]) < p:
            hit = resolvent_top(Pop, gamma, p, None, lu=m._cache[lk])
            m._cache[tk] = hit
        sig, U = hit
    else:
        if sp.issparse(Sigma):
            S = sp.csr_matrix(Sigma, dtype=np.float64)
            if S.shape != (n, n):
                raise ValueError(f"Sigma must have shape {(n, n)}, got {S.shape}")
            if not np.all(np.isfinite(S.data)):
                raise ValueError("Sigma contains NaN or inf")
            asym = abs(S - S.T).max() if S.nnz else 0.0
            scale = abs(S).max() if S.nnz else 0.0
        else:
            S = check_matrix(Sigma, "Sigma", n, n)
            asym, scale = np.abs(S - S.T).max(), np.abs(S).max()
        if scale == 0.0:
            raise ValueError("Sigma must be positive semi-definite and non-zero (it is zero)")
        if asym > 1e-10 * scale:
            raise ValueError("Sigma must be symmetric")
        sig, U = resolvent_top(Pop, gamma, p, S, lu=m._cache[lk])
        if not np.all(np.isfinite(sig)) or sig[0] <= 0:
            raise ValueError("Sigma must be positive semi-definite and non-zero (Psi Sigma Psi^T "
                             "has no positive eigenvalue)")
    _rsbf_tie(sig, k, Sigma, n)
    return np.ascontiguousarray(U[:, :k])


def alignment_rate(P, gamma, K: int, d_min: float = 1.0) -> float:
    """Predicted rate ``d_min * gamma * (Re lambda_K - Re lambda_{K+1})`` (docs: theory/c2, C3, C6).

    Accepts dense, sparse and :class:`analysis.mdp.MDP` input; large ``P`` uses only the top
    ``K + 1`` eigenvalues (Krylov route of :func:`eigenvalues`).

    Examples
    --------
    >>> from repdyn.analysis.spectral import alignment_rate
    >>> from repdyn.analysis.mdp import two_state
    >>> round(alignment_rate(two_state(0.3, 0.2), 0.9, 1), 12)      # 0.9 * (1 - 0.5)
    0.45
    """
    m = as_mdp(P)
    gamma = check_gamma(gamma)
    K = check_k(K, m.n - 1, "K")
    w = eigenvalues(m, K + 1)
    _top_k_threshold(w, K)
    return float(d_min * gamma * (w[K - 1].real - w[K].real))
