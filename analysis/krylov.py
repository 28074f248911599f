r"""The top of the spectrum of a large or sparse ``P``: shift-invert Krylov-Schur, certificates,
and the resolvent's top singular subspace through one sparse LU.

docs: theory/index (EBFs, RSBFs), docs: architecture (large MDPs).

EBFs by shift-invert Krylov-Schur
---------------------------------
The eigenvalues of a stochastic ``P`` lie in the unit disc and 1 is one of them, so the top of
the spectrum by real part sits near ``sigma = 1 + SHIFT_DELTA``. ``OP = (P - sigma I)^{-1}``
maps the eigenvalue ``lambda`` to ``theta = 1 / (lambda - sigma)``: the eigenvalues nearest
``sigma`` become the largest in modulus and well separated, even in the clusters near 1 of a
large gridworld (``four_rooms(158)``: a four-fold cluster at 0.99990117). ``P - sigma I`` is
strictly diagonally dominant by rows (``|P_ii - sigma| = sigma - P_ii > 1 - P_ii``), so one LU
without pivoting (SuperLU with a fill-reducing symmetric order, or LAPACK for dense ``P``) is
stable; every application of ``OP`` is one pair of triangular solves; the inverse is never
formed.

The Krylov-Schur iteration (Stewart 2001) keeps an Arnoldi-like relation
``OP V_j = V_j H_j + v_{j+1} h_j^T`` with orthonormal ``V`` (classical Gram-Schmidt, twice),
and restarts from the ordered real Schur form of ``H``: the ``keep`` Ritz values of largest
``|theta|`` first, complex pairs never split. Real Schur vectors span the invariant subspace
whether or not ``P`` is normal or diagonalisable, so defective blocks are handled. It stops
when the top ``p`` block's residual ``||b_p||`` falls below ``KRYLOV_TOL |theta_p|``.
Then, in ``P``'s own terms, with ``V`` (n x p) orthonormal: ``T = V^T P V``, eigenvalues sorted
by real part, and the order-k basis from a reordered real Schur form of ``T`` (k < p, so the
gap to ``lambda_{k+1}`` is seen).

Certificates (:class:`SpectrumCertificate`)
-------------------------------------------
* residual ``||P Q - Q (Q^T P Q)||_F`` of the returned basis, computed with ``P`` itself;
* gap ``Re lambda_k - Re lambda_{k+1}`` of the computed eigenvalues; ties and split conjugate
  pairs raise :class:`~repdyn.analysis.errors.UndefinedSubspaceError` (``EIG_TIE_TOL``);
* the disc argument: the iteration finds the eigenvalues nearest ``sigma``, all within radius
  ``r``; every eigenvalue of a stochastic matrix with ``Re lambda > (sigma^2 + 1 - r^2)/(2 sigma)``
  lies inside that disc (the disc covers that cap of the unit disc). That the Krylov iteration
  found *every* eigenvalue inside the disc is the usual Krylov assumption, not a proof;
* reversible ``P`` (``pi_i P_ij = pi_j P_ji``): an exact count by Sylvester's law of inertia,
  once per computed block (at its widest gap at or below k; every order below reuses it).
  With ``S`` the symmetrised ``D^{1/2} P D^{-1/2}`` and ``c`` mid-gap, ``c I - S = L D L^T``
  (SuperLU without pivoting in a symmetric order, or LAPACK's Bunch-Kaufman ``ldl`` for dense
  input) has as many negative pivots as ``S`` has eigenvalues above ``c``. The factors are exact
  for ``c I - S + E``; ``||E||_F`` (computed from the factors) plus the asymmetry ``||S - S^T||_F
  / 2`` bound how far any eigenvalue moved (Weyl, Bauer-Fike), so when the computed
  ``lambda_k`` minus its residual bound is above ``c + eps`` and the count is ``k``, exactly k
  eigenvalues lie above the cut: the returned k are the top k. For general ``P`` nothing is
  certified beyond the residual and the disc argument; the certificate says so.

RSBFs through one sparse LU
---------------------------
``Psi = (I - gamma P)^{-1}``: one LU of ``I - gamma P`` (row diagonally dominant, no pivoting)
serves ``Psi x`` (solve) and ``Psi^T x`` (transposed solve). The top ``p`` eigenpairs of the
symmetric positive semi-definite operator ``Psi Sigma Psi^T`` (``Sigma = I`` by default) come
from ARPACK's Lanczos (``eigsh``, ``which='LA'``); its eigenvalues are the squared singular
values of ``Psi Sigma^{1/2}``, so no square root of ``Sigma`` is needed.

Cost: one sparse LU (a 2-d grid of n states: O(n^1.5) flops, O(n log n) memory) and
``O(restarts * m)`` solves plus ``O(n m^2)`` orthogonalisation per restart, m = Krylov
dimension. Memory: ``n (m + 1)`` floats for ``V`` beside the factors.

References: G. W. Stewart, "A Krylov-Schur algorithm for large eigenproblems", SIAM J. Matrix
Anal. Appl. 23 (2001); Parlett, *The Symmetric Eigenvalue Problem* (Kahan's residual bound,
Sylvester's inertia and spectrum slicing); Lehoucq, Sorensen & Yang, *ARPACK Users' Guide* (1998).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from repdyn.analysis.errors import UndefinedSubspaceError
from repdyn.analysis.mdp import EIG_TIE_TOL

__all__ = ["SHIFT_DELTA", "KRYLOV_TOL", "KRYLOV_MAX_RESTARTS", "KRYLOV_EXTRA", "LU_MAX_BYTES", "LU_SLOW_FLOPS",
           "SpectrumCertificate", "TopSpectrum", "top_spectrum", "top_basis", "count_above", "resolvent_top",
           "lu_fill_estimate"]

#: The shift is ``sigma = 1 + SHIFT_DELTA``: close to the top eigenvalue 1 so that a cluster
#: just below it is spread out by ``1 / (lambda - sigma)``, far enough that ``P - sigma I``
#: stays strictly diagonally dominant with a condition number ~ 2 / SHIFT_DELTA = 2e6 (the
#: solves lose ~6 digits, in the direction of the eigenvector of 1 only; the final residual is
#: measured with ``P`` itself).
SHIFT_DELTA = 1e-6

#: Stop when the top block's Krylov residual is below ``KRYLOV_TOL |theta_p|``; in ``P``'s
#: terms that is a residual ~ 2 KRYLOV_TOL (a few hundred eps): subspaces separated by a gap
#: g are then accurate to ~ 1e-13 / g.
KRYLOV_TOL = 1e-13

#: Restarts before giving up (each restart costs ``m - keep`` solves).
KRYLOV_MAX_RESTARTS = 300

#: Eigenvalues computed beyond the k asked for, to see the gap to lambda_{k+1} and to keep a
#: conjugate pair or a small cluster at the cut inside the computed block.
KRYLOV_EXTRA = 4

#: Fixed seed of the Krylov start vector: the result is the same bits on every run.
_START_SEED = 20211

_TIE_REL = 1e-10      # |theta| values this close (relative) are one pair / cluster at a cut

#: The sparse LUs (of ``P - sigma I``, ``I - gamma P``, ``c I - S``) are refused before they start
#: when :func:`lu_fill_estimate` puts their dense frontal block above this many bytes (the
#: memory target of issue 12), and warned about (RuntimeWarning, with the estimate) above
#: LU_SLOW_FLOPS. Grids and four-rooms of 10^6 states estimate ~1e3 x 1e3 (a few MB, ~1e9
#: flops); expander-like random sparse chains a block of ~n/3 (n = 1e5: 36,767 -> 5.4 GB).
LU_MAX_BYTES = 4 * 2**30
LU_SLOW_FLOPS = 1e11
#: Below this many states the estimate is skipped (every LU is fast).
LU_ESTIMATE_MIN_N = 5000


@dataclass(frozen=True)
class SpectrumCertificate:
    """What the Krylov route certifies about an order-k EBF basis (docs: theory/index).

    Attributes
    ----------
    k : order of the basis
    residual : ``||P Q - Q (Q^T P Q)||_F`` of the returned orthonormal basis ``Q``
    gap : ``Re lambda_k - Re lambda_{k+1}`` of the computed eigenvalues
    sigma : the shift
    radius : distance from ``sigma`` of the farthest computed eigenvalue
    cut : every eigenvalue with real part above ``cut`` lies within ``radius`` of ``sigma``
    top_k_certified : True when Sylvester's inertia confirmed exactly k eigenvalues above the
        mid-gap cut (reversible P); False when the count disagreed; None when no count is
        possible (P not reversible: see ``note``)
    count_above : the inertia count at the computed block's widest gap at or below k (>= k;
        None when not computed)
    perturbation : the Weyl/Bauer-Fike bound ``eps`` used with the count (None if no count)
    method : ``"krylov-schur"`` or ``"dense-schur"``
    note : one line saying what is and is not certified

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.krylov import top_basis, top_spectrum
    >>> from repdyn.analysis.mdp import random_walk_chain, ring
    >>> P = random_walk_chain(40, sparse=True)          # symmetric: reversible, pi uniform
    >>> Q, cert = top_basis(P, top_spectrum(P, 6), 3, sqrt_pi=np.ones(40))
    >>> cert.k, cert.method, cert.top_k_certified, cert.residual < 1e-12
    (3, 'krylov-schur', True, True)
    >>> bool(np.isclose(cert.gap, np.cos(2 * np.pi / 40) - np.cos(3 * np.pi / 40)))
    True
    >>> Pr = ring(40, sparse=True)                       # not reversible: no inertia count
    >>> Q, cert = top_basis(Pr, top_spectrum(Pr, 6), 1)
    >>> cert.top_k_certified, cert.count_above, cert.as_dict()["k"]
    (None, None, 1)
    """

    k: int
    residual: float
    gap: float
    sigma: float
    radius: float
    cut: float
    top_k_certified: object
    count_above: object
    perturbation: object
    method: str
    note: str

    def as_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass
class TopSpectrum:
    """The computed top block: ``P V = V T + (residual)`` with ``V`` orthonormal (n x p).

    ``values`` are the eigenvalues of ``T`` sorted by real part, descending (imaginary part
    descending within a pair), as :func:`analysis.spectral.eigenvalues` sorts them.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.krylov import top_spectrum
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> P = random_walk_chain(40, sparse=True)
    >>> top = top_spectrum(P, 6)
    >>> top.p, top.V.shape, top.T.shape
    (6, (40, 6), (6, 6))
    >>> bool(np.allclose(top.V.T @ top.V, np.eye(6)))                  # V orthonormal
    True
    >>> float(np.linalg.norm(P @ top.V - top.V @ top.T)) < 1e-12        # P V = V T
    True
    >>> bool(np.allclose(top.values.real, np.cos(np.pi * np.arange(6) / 40)))
    True
    """

    V: np.ndarray
    T: np.ndarray
    values: np.ndarray
    residual: float
    sigma: float
    radius: float
    cut: float
    restarts: int
    solves: int
    bases: dict = field(default_factory=dict)

    @property
    def p(self) -> int:
        return self.V.shape[1]


# ----------------------------------------------------------------------------- operators


def lu_fill_estimate(P) -> dict:
    """Estimated size of the dense frontal block of a sparse LU of a matrix with ``P``'s pattern.

    Parameters
    ----------
    P : scipy sparse matrix (n x n)

    Returns
    -------
    dict with ``separator`` (s), ``bytes`` (``8 s^2 / 2``: the block's factor) and ``flops``
    (``s^3 / 3``).

    Notes
    -----
    ``s`` is the number of states of a breadth-first half-ball (from state 0, on the symmetrised
    graph) with a neighbour outside it: a balanced vertex separator. A fill-reducing order
    (nested dissection, minimum degree) eliminates the two halves first and is left with a
    dense block on the separator, so the LU needs at least about ``s^2 / 2`` entries and
    ``s^3 / 3`` flops there. An estimate, not a bound (the BFS separator is not the smallest),
    but of the right order for grids (s ~ sqrt(n)) and for expander-like graphs (s ~ n / 3),
    where the fill-in makes the sparse LU as costly as a dense one. Cost O(nnz).

    Examples
    --------
    >>> from repdyn.analysis.krylov import lu_fill_estimate
    >>> from repdyn.analysis.mdp import gridworld, random_sparse_chain
    >>> lu_fill_estimate(gridworld(100, 100))["separator"]             # ~ the side of the grid
    100
    >>> lu_fill_estimate(random_sparse_chain(20000, 4, seed=0))["separator"] > 5000   # expander
    True
    """
    import scipy.sparse.csgraph as csgraph
    n = P.shape[0]
    G = (abs(P) + abs(P.T)).tocsr()
    order = csgraph.breadth_first_order(G, 0, directed=False, return_predecessors=False)
    inside = np.zeros(n, dtype=bool)
    inside[order[:max(1, len(order) // 2)]] = True
    rows = np.repeat(np.arange(n), np.diff(G.indptr))
    s = int(np.unique(rows[inside[rows] & ~inside[G.indices]]).size)
    return {"separator": s, "bytes": 4.0 * s * s, "flops": s ** 3 / 3.0}


def _check_lu_size(P, what: str) -> None:
    """Refuse (ValueError) or warn (RuntimeWarning) before a sparse LU that would not fit or
    would take long (:func:`lu_fill_estimate`, LU_MAX_BYTES, LU_SLOW_FLOPS)."""
    n = P.shape[0]
    if n < LU_ESTIMATE_MIN_N:
        return
    est = lu_fill_estimate(P)
    msg = (f"P: the sparse LU of {what} (n = {n}) is estimated at a dense block of "
           f"{est['separator']} x {est['separator']} (separator of the transition graph): "
           f"~{est['bytes'] / 2**30:.2g} GiB and ~{est['flops']:.2g} flops")
    if est["bytes"] > LU_MAX_BYTES:
        raise ValueError(f"{msg}; refused (limit LU_MAX_BYTES = {LU_MAX_BYTES / 2**30:g} GiB). "
                         "Expander-like random graphs fill in; grids and rooms do not")
    if est["flops"] > LU_SLOW_FLOPS:
        import warnings
        warnings.warn(f"{msg} (minutes or more at ~1e9 flop/s)", RuntimeWarning, stacklevel=3)


def _shift_invert(P, sigma):
    """x -> (P - sigma I)^{-1} x by one LU (no pivoting needed: strict row dominance)."""
    n = P.shape[0]
    if sp.issparse(P):
        _check_lu_size(P, "P - sigma I")
        A = (P - sigma * sp.identity(n, format="csr")).tocsc()
        lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options=dict(SymmetricMode=True))
        return lu.solve
    A = np.array(P, dtype=np.float64, order="F")
    A[np.diag_indices(n)] -= sigma
    lu = sla.lu_factor(A, overwrite_a=True, check_finite=False)
    return lambda x: sla.lu_solve(lu, x, check_finite=False)


def _sort_desc_real(w):
    return np.lexsort((-w.imag, -w.real))


# ----------------------------------------------------------------------------- Krylov-Schur


def _ordered_schur(H, scores, thr):
    """Real Schur form of H with the eigenvalues whose score exceeds ``thr`` first."""
    return sla.schur(H, output="real", sort=lambda re, im: scores(re + 1j * im) > thr)


def _cut_between(vals_sorted_desc, p):
    """A threshold between the p-th and (p+1)-th of descending scores, moving p down past
    a pair / cluster that a cut would split (never below 1). Returns (thr, p)."""
    v = vals_sorted_desc
    while p < len(v) and p > 1 and v[p - 1] - v[p] <= _TIE_REL * abs(v[0]):
        p -= 1
    if p >= len(v):
        return -np.inf, len(v)
    return 0.5 * (v[p - 1] + v[p]), p


def _krylov_schur(op, n, p, m, tol, max_restarts, v0):
    """Orthonormal basis of the invariant subspace of ``op`` for its ``p`` eigenvalues of
    largest modulus (pairs kept whole). Returns (V_p, restarts, solves)."""
    V = np.empty((n, m + 1))
    H = np.zeros((m + 1, m))
    V[:, 0] = v0 / np.linalg.norm(v0)
    j0, solves = 0, 0
    rng = np.random.default_rng(_START_SEED + 1)
    score = np.abs
    for restart in range(max_restarts + 1):
        for j in range(j0, m):
            w = op(V[:, j])
            solves += 1
            h = V[:, :j + 1].T @ w
            w -= V[:, :j + 1] @ h
            h2 = V[:, :j + 1].T @ w                   # second pass ("twice is enough")
            w -= V[:, :j + 1] @ h2
            H[:j + 1, j] = h + h2
            beta = np.linalg.norm(w)
            if beta <= 1e-14 * max(np.abs(H[:j + 1, j]).max(), 1e-300):
                # an invariant subspace: continue with a fresh direction, no coupling
                w = rng.standard_normal(n)
                for _ in range(2):
                    w -= V[:, :j + 1] @ (V[:, :j + 1].T @ w)
                beta_new = np.linalg.norm(w)
                H[j + 1, j] = 0.0
                V[:, j + 1] = w / beta_new
            else:
                H[j + 1, j] = beta
                V[:, j + 1] = w / beta
        Hm = H[:m, :m]
        theta = np.linalg.eigvals(Hm)
        s = np.sort(score(theta))[::-1]
        keep_target = min(m - 2, max(p + 2, (m + p) // 2))
        thr_keep, keep = _cut_between(s, keep_target)
        T, Z, sdim = _ordered_schur(Hm, score, thr_keep)
        keep = sdim
        thr_p, p_eff = _cut_between(s, p)
        # order the top p first inside the kept block
        T11, Z2, sdim_p = _ordered_schur(T[:keep, :keep], score, thr_p)
        Zk = Z[:, :keep] @ Z2
        b = H[m, :m] @ Zk                                   # residual row of the kept block
        bnorm = np.linalg.norm(b[:sdim_p])
        if bnorm <= tol * s[max(sdim_p - 1, 0)]:
            return np.ascontiguousarray(V[:, :m] @ Zk[:, :sdim_p]), restart, solves
        if restart == max_restarts:
            raise spla.ArpackNoConvergence(
                f"P: the shift-invert Krylov-Schur iteration did not converge in {max_restarts} "
                f"restarts ({solves} solves; residual {bnorm:.3g} > {tol:g} |theta_p| = "
                f"{tol * s[max(sdim_p - 1, 0)]:.3g})", np.array([]), np.zeros((n, 0)))
        Vk = V[:, :m] @ Zk
        V[:, :keep] = Vk
        V[:, keep] = V[:, m]
        H[:] = 0.0
        H[:keep, :keep] = T11
        H[keep, :keep] = b
        j0 = keep
    raise AssertionError("unreachable")


def top_spectrum(P, p: int, *, sigma: float | None = None, m: int | None = None,
                 tol: float = KRYLOV_TOL, max_restarts: int = KRYLOV_MAX_RESTARTS) -> TopSpectrum:
    """Invariant subspace of ``P`` for its ``p`` eigenvalues nearest ``sigma = 1 + SHIFT_DELTA``.

    Parameters
    ----------
    P : validated stochastic matrix, dense ndarray or scipy CSR (n x n), n > p
    p : number of eigenvalues (a conjugate pair or cluster at the cut may make it one less)
    sigma : shift (default ``1 + SHIFT_DELTA``)
    m : Krylov dimension (default ``max(2 p + 10, 30)``, at most n)
    tol, max_restarts : stopping rule (see :data:`KRYLOV_TOL`)

    Returns
    -------
    TopSpectrum
        ``V`` (n x p) orthonormal, ``T = V^T P V``, sorted eigenvalues of ``T``, the residual
        ``||P V - V T||_F``, and the disc radius and certified real-part cut.

    Notes
    -----
    Shift-invert Krylov-Schur (module docstring). Cost: one LU of ``P - sigma I`` and
    ``solves`` triangular solve pairs, plus ``O(n m^2)`` per restart.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.krylov import top_spectrum
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> top = top_spectrum(random_walk_chain(50, sparse=True), 4)
    >>> bool(np.allclose(top.values.real, np.cos(np.pi * np.arange(4) / 50), atol=1e-12))
    True
    """
    n = P.shape[0]
    if not 1 <= p < n:
        raise ValueError(f"p must satisfy 1 <= p < n = {n}, got {p}")
    sigma = 1.0 + SHIFT_DELTA if sigma is None else float(sigma)
    m = min(n - 1, max(2 * p + 10, 30)) if m is None else min(int(m), n - 1)
    if m <= p:
        raise ValueError(f"the Krylov dimension m = {m} must exceed p = {p} (n = {n} too small "
                         "for the Krylov route: use the dense one)")
    op = _shift_invert(P, sigma)
    v0 = np.random.default_rng(_START_SEED).standard_normal(n)
    V, restarts, solves = _krylov_schur(op, n, p, m, tol, max_restarts, v0)
    PV = P @ V
    T = V.T @ PV
    res = float(np.linalg.norm(PV - V @ T))
    w = np.linalg.eigvals(T)
    w = w[_sort_desc_real(w)]
    radius = float(np.abs(w - sigma).max())
    cut = (sigma * sigma + 1.0 - radius * radius) / (2.0 * sigma)
    return TopSpectrum(V, T, w, res, sigma, radius, cut, restarts, solves)


def _tie_check(w, k):
    """Midpoint between Re lambda_k and Re lambda_{k+1} (``w`` sorted by real part, descending)
    and the gap; raises UndefinedSubspaceError on a tie or a split conjugate pair, printing the
    gap. The one tie rule of the package (the dense route uses it too)."""
    a, b = w[k - 1], w[k]
    gap = a.real - b.real
    if gap <= EIG_TIE_TOL:
        if abs(a.imag) > EIG_TIE_TOL and abs(a.imag + b.imag) <= 10 * EIG_TIE_TOL:
            raise UndefinedSubspaceError(
                f"k = {k} splits the complex conjugate pair {a:.6g}, {b:.6g}: the real invariant "
                f"subspace is not defined (choose k = {k - 1} or {k + 1})")
        raise UndefinedSubspaceError(
            f"k = {k}: lambda_{k} and lambda_{k + 1} tie in real part ({a.real:.12g} vs "
            f"{b.real:.12g}, gap {gap:.3g} <= EIG_TIE_TOL = {EIG_TIE_TOL:g}); the subspace U_1:k "
            "is not defined")
    return 0.5 * (a.real + b.real), gap


def top_basis(P, top: TopSpectrum, k: int, sqrt_pi=None):
    """Order-k EBF basis from a computed top block, with its certificate.

    Parameters
    ----------
    P : the matrix ``top`` was computed for (dense or CSR)
    top : :class:`TopSpectrum` with ``top.p > k``
    k : order, ``1 <= k < top.p``
    sqrt_pi : ``sqrt`` of the stationary measure if ``P`` is reversible (enables the inertia
        count), else None

    Returns
    -------
    Q : ndarray (n, k), orthonormal
    cert : SpectrumCertificate

    Raises
    ------
    UndefinedSubspaceError
        Re lambda_k and Re lambda_{k+1} tie (EIG_TIE_TOL), a conjugate pair would be split, or
        the block's Schur reordering cannot separate the k.
    ValueError
        ``k >= top.p``.

    Notes
    -----
    A real Schur form of the p x p ``T`` reordered by ``Re lambda > c`` (c mid-gap) gives
    ``Q = V Z[:, :k]``; cost O(p^3 + n p k) plus k products with ``P``, and, for reversible
    ``P``, one symmetric factorisation of ``c I - S`` (the count).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.krylov import top_basis, top_spectrum
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> P = random_walk_chain(40, sparse=True)
    >>> Q, cert = top_basis(P, top_spectrum(P, 6), 3, sqrt_pi=np.ones(40))
    >>> Q.shape, cert.top_k_certified, cert.count_above     # the count covers the block: 5 of 6
    ((40, 3), True, 5)
    """
    if not 1 <= k < top.p:
        raise ValueError(f"k must satisfy 1 <= k < {top.p} (the computed block), got {k}")
    w = top.values
    c, gap = _tie_check(w, k)
    if k in top.bases:
        return top.bases[k]
    T, Z, sdim = sla.schur(top.T, output="real", sort=lambda re, im: re > c)
    if sdim != k:
        raise UndefinedSubspaceError(f"P: the Schur form of the computed top block selected {sdim} "
                                     f"eigenvalues for k = {k} (gap {gap:.3g}): eigenvalues near the "
                                     "cut are too ill-conditioned to separate")
    Q = np.ascontiguousarray(top.V @ Z[:, :k])
    PQ = P @ Q
    resid = float(np.linalg.norm(PQ - Q @ (Q.T @ PQ)))
    count = certified = eps = None
    lam_k = w[k - 1].real
    if sqrt_pi is not None:
        j, count, eps, block_ok = _block_count(P, top, k, sqrt_pi)
        kappa = float(sqrt_pi.max() / sqrt_pi.min())
        margin = 2.0 * (eps + kappa * top.residual)
        ok = block_ok and gap > margin
        certified = bool(ok)
        note = ("top k certified: P is reversible and Sylvester's inertia of c I - S counts exactly "
                f"the {count} computed eigenvalue(s) above c = {c_str(top, j)} (perturbation bound "
                f"{eps:.2g}); the gap {gap:.3g} at k = {k} exceeds {margin:.2g}"
                if ok else
                f"NOT certified: the inertia count above c = {c_str(top, j)} is {count}, the computed "
                f"block has {j} there (perturbation bound {eps:.2g}, gap {gap:.3g} vs {margin:.2g})")
    elif lam_k > top.cut:
        note = ("P is not (detectably) reversible; certified: the residual, and that every "
                f"eigenvalue with Re > {top.cut:.6g} (which includes lambda_1..lambda_{k}) lies within "
                f"{top.radius:.3g} of sigma; not certified: that the Krylov iteration found all of them")
    else:
        note = ("P is not (detectably) reversible; certified: the residual only. lambda_1..lambda_"
                f"{k} are the eigenvalues nearest sigma found by the Krylov iteration; that none "
                f"with a larger real part was missed is not certified (the disc argument covers "
                f"Re > {top.cut:.6g} only)")
    cert = SpectrumCertificate(k=k, residual=resid, gap=float(gap), sigma=top.sigma,
                               radius=top.radius, cut=float(top.cut), top_k_certified=certified,
                               count_above=count, perturbation=eps, method="krylov-schur", note=note)
    top.bases[k] = (Q, cert)
    return Q, cert


# ----------------------------------------------------------------------------- inertia


def _block_cut(top, j):
    w = top.values
    return 0.5 * (w[j - 1].real + w[j].real)


def c_str(top, j) -> str:
    return f"{_block_cut(top, j):.12g}"


def _block_count(P, top, k, sqrt_pi):
    """One inertia count certifies the whole computed block down to its widest gap at or below
    position k: (j, count, eps, ok), cached on ``top``. ``ok``: exactly the j computed
    eigenvalues lie above the cut, each farther from it than the perturbation bound."""
    w = top.values.real
    cached = top.bases.get("block")
    if cached is not None and cached[0] >= k:
        return cached
    gaps = w[k - 1:top.p - 1] - w[k:top.p]
    j = k + int(np.argmax(gaps))
    c = _block_cut(top, j)
    count, eps = count_above(P, c, sqrt_pi)
    kappa = float(sqrt_pi.max() / sqrt_pi.min())
    ok = count == j and w[j - 1] - kappa * top.residual > c + eps
    top.bases["block"] = (j, count, eps, bool(ok))
    return top.bases["block"]


def count_above(P, c: float, sqrt_pi) -> tuple[int, float]:
    """Number of eigenvalues of a reversible ``P`` above ``c``, by Sylvester's law of inertia.

    Parameters
    ----------
    P : reversible stochastic matrix (dense or CSR)
    c : the cut
    sqrt_pi : square root of the stationary measure (any positive scaling)

    Returns
    -------
    count : the number of negative pivots of ``L D L^T = c I - S``
    eps : bound on the eigenvalue perturbation behind the count: ``||L D L^T - (c I - S)||_F``
        plus ``||S - S^T||_F / 2`` (the count is exact for every eigenvalue farther than eps
        from c)

    Notes
    -----
    ``S = D^{1/2} P D^{-1/2}`` (symmetric when ``P`` is reversible), symmetrised. Sparse: SuperLU
    with ``diag_pivot_thresh = 0`` in a symmetric fill-reducing order, refused (ValueError) if it
    had to pivot off the diagonal; then ``U = D L^T`` and the pivots are ``diag(U)``. Dense:
    LAPACK ``sytrf`` (Bunch-Kaufman) through ``scipy.linalg.ldl``, its 1x1 and 2x2 blocks.
    Cost: one factorisation and one product of the factors.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.krylov import count_above
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> count_above(random_walk_chain(30, sparse=True), 0.55, np.ones(30))[0]   # cos(pi j/30) > 0.55
    10
    """
    n = P.shape[0]
    d = np.asarray(sqrt_pi, dtype=np.float64)
    if sp.issparse(P):
        _check_lu_size(P, "c I - S")
        S = sp.diags(d) @ P @ sp.diags(1.0 / d)
        asym = 0.5 * float(spla.norm(S - S.T))
        M = (c * sp.identity(n, format="csr") - 0.5 * (S + S.T)).tocsc()
        lu = spla.splu(M, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options=dict(SymmetricMode=True))
        if not np.array_equal(lu.perm_r, lu.perm_c):
            raise ValueError("P: the symmetric factorisation pivoted off the diagonal; the inertia "
                             "count is not available")
        U = lu.U.tocsc()
        piv = U.diagonal()
        L = lu.L.tocsc()
        Pr = sp.csc_matrix((np.ones(n), (lu.perm_r, np.arange(n))), shape=(n, n))
        Mp = Pr @ M @ Pr.T
        E = L @ sp.diags(piv) @ L.T - Mp
        err = float(spla.norm(E)) if E.nnz else 0.0
        return int(np.sum(piv < 0)), err + asym
    S = d[:, None] * P / d[None, :]
    asym = 0.5 * float(np.linalg.norm(S - S.T))
    M = c * np.eye(n) - 0.5 * (S + S.T)
    lu, D, perm = sla.ldl(M)
    count = 0
    i = 0
    while i < n:
        if i + 1 < n and D[i + 1, i] != 0.0:
            count += int(np.sum(np.linalg.eigvalsh(D[i:i + 2, i:i + 2]) < 0))
            i += 2
        else:
            count += int(D[i, i] < 0)
            i += 1
    err = float(np.linalg.norm(lu @ D @ lu.T - M))
    return count, err + asym


# ----------------------------------------------------------------------------- resolvent


def resolvent_top(P, gamma: float, p: int, Sigma=None, lu=None):
    """Top ``p`` eigenpairs of ``Psi Sigma Psi^T``, ``Psi = (I - gamma P)^{-1}``, by Lanczos.

    Parameters
    ----------
    P : validated stochastic matrix (dense or CSR), n x n, p < n
    gamma : discount in [0, 1)
    p : number of eigenpairs
    Sigma : None (identity), or a symmetric PSD matrix (dense, or sparse)
    lu : optional ``(solve, solve_transposed)`` pair to reuse a factorisation of ``I - gamma P``

    Returns
    -------
    sig : ndarray (p,)  singular values of ``Psi Sigma^{1/2}``, descending
    U : ndarray (n, p)  the matching orthonormal eigenvectors (the RSBFs are its first k columns)

    Notes
    -----
    One LU of ``I - gamma P`` (SuperLU for sparse P, without pivoting: row diagonal dominance;
    LAPACK for dense); ``Psi x`` is a solve, ``Psi^T x`` a transposed solve, and ARPACK's
    implicitly restarted Lanczos (``eigsh``, ``which='LA'``, ``tol=0``: machine precision)
    finds the top p eigenpairs. Never the inverse. Cost: the LU plus two solves per Lanczos step.

    Examples
    --------
    >>> from repdyn.analysis.krylov import resolvent_top
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> sig, U = resolvent_top(random_walk_chain(30, sparse=True), 0.9, 3)
    >>> round(float(sig[0]), 10)       # the constant vector: Psi 1 = 1 / (1 - gamma)
    10.0
    """
    n = P.shape[0]
    if lu is None:
        lu = resolvent_lu(P, gamma)
    solve, solve_t = lu
    if Sigma is None:
        mv = lambda x: solve(solve_t(x))
    else:
        mv = lambda x: solve(Sigma @ solve_t(x))
    op = spla.LinearOperator((n, n), matvec=mv, dtype=np.float64)
    v0 = np.random.default_rng(_START_SEED).standard_normal(n)
    ncv = min(n, max(2 * p + 1, 20))
    e, U = spla.eigsh(op, k=p, which="LA", tol=0.0, v0=v0, ncv=ncv)
    order = np.argsort(e)[::-1]
    e, U = e[order], U[:, order]
    return np.sqrt(np.clip(e, 0.0, None)), np.ascontiguousarray(U)


def resolvent_lu(P, gamma: float):
    """``(solve, solve_transposed)`` for ``I - gamma P`` from one LU (no pivoting needed)."""
    n = P.shape[0]
    if sp.issparse(P):
        _check_lu_size(P, "I - gamma P")
        A = (sp.identity(n, format="csr") - gamma * P).tocsc()
        lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options=dict(SymmetricMode=True))
        return (lambda x: lu.solve(x), lambda x: lu.solve(x, trans="T"))
    A = np.eye(n) - gamma * np.asarray(P)
    f = sla.lu_factor(A, check_finite=False)
    return (lambda x: sla.lu_solve(f, x, check_finite=False),
            lambda x: sla.lu_solve(f, x, trans=1, check_finite=False))
