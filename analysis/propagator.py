r"""Actions of the TD semigroup: ``exp(-tau A) X`` and ``int_0^tau exp(-u A) du X``, A = I - gamma P.

One :class:`Propagator` per (P, gamma) serves every closed form in :mod:`analysis.closed_form`
(docs: theory/c1, C5, C7, C8). All times are done at once: one sequence of basis vectors ``B_k X`` is
shared by every tau and combined with per-time weights in one in-place BLAS GEMM per chunk of
vectors, restricted to the times whose weights are non-negligible there (a band at long
horizons).

Methods (``method=``; ``"auto"`` picks by cost, every method is exact up to rounding)
----------------------------------------------------------------------------------
``uniformization`` -- every stochastic P, dense or sparse
    ``exp(-tau A) = e^{-tau(1-gamma)} sum_k pois(k; tau gamma) P^k``,
    ``pois(k; rho) = e^{-rho} rho^k / k!`` evaluated in the log domain (e^{-tau} may underflow).
    Weights are positive and ``||P^k X||_inf <= ||X||_inf``: stable for defective, non-normal,
    periodic and reducible P. **Certified ergodic tail** (steady-state detection): since
    ``P 1 = 1`` and ``||P||_inf = 1``, for any split ``P^N X = 1 c^T + Z`` (c = column
    mid-ranges, ``||Z||_inf = osc(P^N X) / 2``)
    ``sum_{k>N} pois(k) P^k X = Q(N, rho) 1 c^T + E`` with ``||E||_inf <= Q(N, rho) ||Z||_inf``
    (Q the Poisson upper tail). The series stops at the first N where
    ``Q(N, rho_max) ||Z||_inf <= ERGODIC_TOL ||X||_inf``, or at the plain cut
    ``Q(N, rho_max) <= TAIL``. A fast-mixing chain stops after ~log(u)/log|lambda_2| products
    whatever the horizon (t = 10^4 at gamma = 0.999: ~13 products for a random dense chain
    instead of ~10^4).
``chebyshev`` -- reversible P (``pi_i P_ij = pi_j P_ji`` within ``REV_TOL``, found through
    the diagonal similarity ``D^{1/2} P D^{-1/2}``, pi by a BFS spanning tree of the support;
    ``sqrt(max pi/min pi) <= CHEB_COND_MAX``)
    ``e^{rho x} = I_0(rho) + 2 sum_k I_k(rho) T_k(x)`` on the real spectrum [-1, 1] of P:
    ``exp(-tau A) X = e^{-tau(1-gamma)} sum_k c_k ive(k, rho) T_k(P) X`` by the three-term
    recurrence on P itself. Bessel weights fall like ``exp(-k^2 / 2 rho)``:
    ~sqrt(2 rho ln(1/TAIL)) terms instead of ~rho (858 instead of 10,861 at rho = 10^4).
    ``auto`` switches to it when the ergodic tail is not in sight after 8, 16, 32, ...
    products and the remaining uniformization terms exceed 1.15x the Chebyshev count
    (slowly mixing reversible chains: gridworlds, long horizons).
``modal`` -- dense P with eigenvector condition number <= ``MODAL_COND_MAX``
    ``P = U diag(lambda) U^{-1}`` (``eigh`` if symmetric), pairs folded into real arithmetic,
    all times in one GEMM. ``auto`` switches to it when the remaining products would cost
    more than the eigendecomposition (slowly mixing non-reversible dense chains).

Guarantees (u = 2^-53, N = terms used; all normwise; ``||exp(-tau A)||_inf = e^{-tau(1-gamma)}``)
-------------------------------------------------------------------------------------------
* uniformization: ``||Y - exp(-tau A) X||_inf <= e^{-tau(1-gamma)} (TAIL + ERGODIC_TOL + c N u)
  ||X||_inf`` for every stochastic P and tau >= 0: rounding level relative to
  ``||exp(-tau A)|| ||X||``, the bound of a backward-stable method. Truncation is certified by
  computed quantities, never estimated. (Measured: <= 5e-15 against 40-digit references on
  Jordan-block and eigen-gap-1e-6 non-normal P, where ``scipy.linalg.expm`` is off by 3e-12.)
* chebyshev: ``||Y - exp(-tau A) X||_2 <= kappa e^{-tau(1-gamma)} (TAIL + c N^2 u) ||X||_2``,
  ``kappa = sqrt(max pi / min pi)`` (1 for symmetric P).
* modal: ``~cond(U) u (1 + tau)`` relative to ``||X||`` (eigenvalue errors ~cond(U) u are
  amplified by tau in ``e^{-tau mu}``); never used when cond(U) > MODAL_COND_MAX.
* tau = 0 returns X exactly (every method), gamma = 0 returns ``e^{-tau} X`` exactly, n = 1 is
  the scalar ``e^{-tau(1-gamma)}``.
* integral: tau <= 1 by ``sum_k gamma^k P(k+1, tau) P^k X`` (P the regularised lower
  incomplete gamma function; positive weights, error ~N u tau ||X||); tau > 1 by
  ``A^{-1}(X - exp(-tau A) X)``, error ~u ||A^{-1}|| ||X|| = u ||X|| / (1-gamma).
* solve (``A^{-1} X``): (1) Neumann series ``sum gamma^k P^k X`` with the same certified
  ergodic tail ``gamma^{N+1}/(1-gamma) 1 c^T``, when it finishes within a budget cheaper than
  LU; (2) sparse reversible P, n >= 1000: Chebyshev semi-iteration on
  ``spec(A) in [1-gamma, 1+gamma]``, accepted only if the true residual certifies
  ``||x - A^{-1}X||_inf <= ||X - Ax||_inf / (1-gamma) <= (1e-14 + 8 u cond_inf(A)) ||x||_inf``;
  (3) LU (dense) or SuperLU (sparse; A is row diagonally dominant, so no pivoting is needed).

Cost: N products ``P @ (n x K)`` plus ``2 T N n K`` flops of weights (band-limited); N as
above. Measured speed against ``expm_multiply`` and an ``expm`` loop:
``python -m repdyn.benchmarks.bench_closed_form``.

References: Grassmann, "Transient solutions in Markovian queueing systems", Comput. Oper. Res.
4 (1977) (uniformization); Sericola, "Availability analysis of repairable computer systems and
stationarity detection", IEEE Trans. Comput. 48 (1999) (steady-state detection); Trefethen,
*Approximation Theory and Approximation Practice*, ch. 8 (Chebyshev coefficients of exp);
Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., Alg. 12.1 (Chebyshev
iteration); Al-Mohy & Higham, SIAM J. Sci. Comput. 33 (2011) (expm_multiply, the peer).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla
from scipy.linalg.blas import dgemm
from scipy.special import gammainc, gammaln, ive, pdtrc

__all__ = ["Propagator", "MODAL_COND_MAX", "CHEB_COND_MAX", "REV_TOL", "TAIL", "ERGODIC_TOL"]

#: Largest eigenvector condition number for which the modal method is used (error ~ cond * u).
MODAL_COND_MAX = 1e4
#: Largest sqrt(max pi / min pi) for the Chebyshev method (its error bound scales with it).
CHEB_COND_MAX = 1e3
#: Relative entrywise asymmetry |pi_i P_ij - pi_j P_ji| <= REV_TOL (pi_i P_ij + pi_j P_ji)
#: accepted as reversible: builders of reversible chains (W / rowsum(W), symmetric P) meet it
#: at rounding level (~1e-16); a genuinely non-reversible P misses it by O(1).
REV_TOL = 1e-12
_REV_ABS = 1e-300                 # subnormal entries carry no relative precision; below this a
                                  # mismatch perturbs exp(-tau A) by < 1e-300 anyway
#: Truncation left out of every series, relative to ||exp(-tau A)|| ||X|| (or ||A^{-1}|| ||X||).
TAIL = 1e-17
#: Certified ergodic-tail truncation, relative to ||exp(-tau A)||_inf ||X||_inf (resp.
#: ||A^{-1}||_inf ||X||_inf): 4 ulps. The oscillation of P^k X cannot fall below ~1 ulp of
#: its mean (observed floor ~5e-17 relative), so TAIL itself would never be reached.
ERGODIC_TOL = 4.0 * np.finfo(np.float64).eps
#: Weights below WEIGHT_FLOOR * e^{-tau(1-gamma)} are dropped (band structure at long horizons);
#: they sum to < N * WEIGHT_FLOOR, far below TAIL.
WEIGHT_FLOOR = 1e-22
_CHEB_SOLVE_MAXIT = 200          # Chebyshev solve: gamma <= ~0.98 (<= 200 steps), else LU
EPS = np.finfo(np.float64).eps
_CHUNK_FLOATS = 1 << 22          # basis vectors held at once: at most 32 MiB (fresh pages are slow) ...
_CHUNK_ROWS = 256                 # ... and at most 256 of them (one GEMM per chunk)
_PROBE = 8                        # products before the ergodic-tail rate is extrapolated


def _poisson_terms(rho: float, tail: float = TAIL) -> int:
    """Smallest N with Q(N, rho) = P(Poisson(rho) > N) <= tail (bisection; Q falls with N)."""
    if rho <= 0:
        return 0
    lo, hi = 0, int(rho + 14.0 * np.sqrt(rho) + 60)
    while pdtrc(hi, rho) > tail:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if pdtrc(mid, rho) <= tail:
            hi = mid
        else:
            lo = mid + 1
    return hi


def _chebyshev_terms(rho: float, tail: float = TAIL) -> int:
    """Smallest N with sum_{k>N} 2 ive(k, rho) <= tail (Chebyshev tail of e^{rho(x-1)})."""
    if rho <= 0:
        return 0
    kmax = int(12.0 * np.sqrt(rho) + 60)          # 2 ive(k, rho) <~ exp(-k^2 / 2 rho): < 1e-31 beyond
    w = 2.0 * ive(np.arange(kmax + 1), rho)
    tails = np.cumsum(w[::-1])[::-1]          # tails[k] = sum_{j >= k}
    below = np.flatnonzero(tails[1:] <= tail)  # tails[N + 1] <= tail
    return int(below[0]) if len(below) else kmax


def _gemm_into(W, flat, out, beta):
    """out = W @ flat + beta * out in place (BLAS dgemm on the transposes: no temporaries).

    W (T, b) and flat (b, m) and out (T, m) C-contiguous float64, so their transposes are
    Fortran-contiguous and ``c`` is overwritten in place.
    """
    if out.shape[0] == 0:
        return out
    if beta == 0.0:
        np.matmul(W, flat, out=out)
        return out
    W = np.ascontiguousarray(W)
    res = dgemm(1.0, flat.T, W.T, beta=beta, c=out.T, overwrite_c=True)
    if not np.shares_memory(res, out):                 # BLAS wrapper had to copy: write back
        out[...] = res.T
    return out


class Propagator:
    """``exp(-tau A)`` and its integral applied to blocks of vectors, for many tau at once.

    Parameters
    ----------
    P : validated row-stochastic matrix (dense ndarray or scipy CSR), n x n
    gamma : validated discount in [0, 1)
    method : "auto", "uniformization", "chebyshev" (reversible P only) or "modal" (dense P
        with well-conditioned eigenvectors only)

    Attributes
    ----------
    n, gamma, sparse, P, method
    last_method : the method the last ``expm``/``integral`` call used (for benchmarks/tests)
    last_terms : the number of basis vectors it used (0 for modal)

    Notes
    -----
    Cost of ``expm`` for T times and K columns: N products ``P @ (n x K)`` plus one
    (T x N) @ (N x nK) GEMM restricted to the non-negligible weights; N as in the module
    docstring. ``solve``: a certified Neumann series or Chebyshev iteration when cheaper,
    else one LU. The eigendecomposition, the stationary measure of a reversible P and the LU
    are cached on the instance; nothing is cached across instances. Accuracy: see the module
    docstring (every method is exact up to rounding; docs: theory/c1).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.linalg as sla
    >>> from repdyn.analysis.mdp import random_walk_chain, ring
    >>> from repdyn.analysis.propagator import Propagator
    >>> P, gamma = ring(5), 0.9
    >>> A = np.eye(5) - gamma * P
    >>> prop = Propagator(P, gamma)
    >>> X = np.eye(5)[:, :2]
    >>> Y = prop.expm(X, [0.0, 1.0, 10.0])
    >>> Y.shape                                              # (T, n, K)
    (3, 5, 2)
    >>> bool(np.array_equal(Y[0], X)), bool(np.allclose(Y[2], sla.expm(-10.0 * A) @ X))
    (True, True)
    >>> I = prop.integral(X, [10.0])
    >>> bool(np.allclose(I[0], np.linalg.solve(A, X - Y[2])))      # A^{-1} (X - exp(-tau A) X)
    True
    >>> prop.solve(np.ones(5)).round(12)                     # A^{-1} 1 = 1 / (1 - gamma)
    array([10., 10., 10., 10., 10.])
    >>> Ps = Propagator(random_walk_chain(200, sparse=True), 0.99)
    >>> Z = Ps.expm(np.ones((200, 1)), [100.0])              # P 1 = 1: e^{-tau (1 - gamma)} 1
    >>> bool(np.allclose(Z, np.exp(-1.0)))
    True
    >>> Propagator(ring(5), 0.9, method="chebyshev")
    Traceback (most recent call last):
        ...
    ValueError: P: method='chebyshev' needs a reversible P (pi_i P_ij = pi_j P_ji within 1e-12) ...
    """

    def __init__(self, P, gamma: float, method: str = "auto"):
        if method not in ("auto", "modal", "uniformization", "chebyshev"):
            raise ValueError("method must be 'auto', 'modal', 'uniformization' or 'chebyshev', "
                             f"got {method!r}")
        self.sparse = sp.issparse(P)
        if self.sparse and method == "modal":
            raise ValueError("method='modal' needs a dense P")
        self.P = P.tocsr() if self.sparse else np.ascontiguousarray(P, dtype=np.float64)
        self.gamma = float(gamma)
        self.n = P.shape[0]
        self.method = method
        self._modal = None          # (mu, Ubig, real_idx, pos_idx, U) or False
        self._lu = None
        self._rev = None            # sqrt(pi) (normalised) if reversible, else False
        self.last_method = None
        self.last_terms = 0
        if method == "chebyshev" and self._reversible() is False:
            raise ValueError("P: method='chebyshev' needs a reversible P (pi_i P_ij = pi_j P_ji "
                             f"within {REV_TOL:g}) with sqrt(max pi/min pi) <= {CHEB_COND_MAX:g}")

    # ------------------------------------------------------------------ products
    def _matmul(self, Y, out):
        if self.sparse:
            out[...] = self.P @ Y
        else:
            np.matmul(self.P, Y, out=out)
        return out

    # ------------------------------------------------------------------ linear solves
    def solve(self, X: np.ndarray) -> np.ndarray:
        """``A^{-1} X`` for X of shape (n,) or (n, K): certified Neumann series or Chebyshev
        iteration when cheaper than LU, else LU / SuperLU (never an explicit inverse)."""
        X = np.asarray(X, dtype=np.float64)
        vec = X.ndim == 1
        X2 = X[:, None] if vec else X
        n, K = X2.shape
        g = self.gamma
        if g == 0.0:
            return X.copy()
        # products the Neumann series may spend before LU is cheaper (dense LU ~ n^3/3 flops
        # against 2 n^2 K per product; sparse LU of a 2-d grid ~ a few dozen products)
        budget = (64 if K == 1 else 16) if self.sparse else max(0, min(400, n // (3 * K)))
        Y = None
        if self._lu is None and budget > 0:
            Y = self._neumann(np.ascontiguousarray(X2), budget)
        if Y is None and self._lu is None and self.sparse and K <= 4 and n >= 1000:
            Y = self._chebyshev_solve(np.ascontiguousarray(X2))
        if Y is None:
            Y = self._lu_solve(X2)
        return Y[:, 0] if vec else Y

    def _chebyshev_solve(self, X):
        """Reversible P: Chebyshev semi-iteration for A x = X on spec(A) in [1-gamma, 1+gamma].

        No inner products (Saad, *Iterative Methods*, Alg. 12.1); converges like
        ((sqrt k - 1)/(sqrt k + 1))^m, k = (1+gamma)/(1-gamma). Accepted only if the true
        residual certifies ``||x - A^{-1}X||_inf <= ||X - A x||_inf / (1-gamma) <= solve_tol
        ||x||_inf`` (``||A^{-1}||_inf = 1/(1-gamma)`` for every stochastic P), with solve_tol
        the normwise bound of LU itself; else None.
        """
        g = self.gamma
        kappa = (1.0 + g) / (1.0 - g)
        rate = (np.sqrt(kappa) - 1.0) / (np.sqrt(kappa) + 1.0)
        steps = int(np.ceil(np.log(1e-17) / np.log(rate))) + 8 if rate > 0 else 2
        if steps > _CHEB_SOLVE_MAXIT or self._reversible() is False:
            return None
        tol = 1e-14 + 8.0 * EPS * kappa
        tmp = np.empty_like(X)

        def A(Y):
            self._matmul(Y, tmp)
            return Y - g * tmp

        theta, delta = 1.0, g
        sigma = theta / delta
        rho = 1.0 / sigma
        x = np.zeros_like(X)
        r = X.copy()
        d = r / theta
        for _ in range(steps):
            x += d
            r -= A(d)
            rho_new = 1.0 / (2.0 * sigma - rho)
            d *= rho_new * rho
            d += (2.0 * rho_new / delta) * r
            rho = rho_new
        res = X - A(x)
        if np.max(np.abs(res)) / (1.0 - g) <= tol * np.max(np.abs(x)):
            return x
        return None

    def _neumann(self, X, budget):
        """sum_{k<=N} gamma^k P^k X + gamma^{N+1}/(1-gamma) 1 c^T (certified ergodic tail), or None.

        With ``P^N X = 1 c^T + Z``: ``sum_{k>N} gamma^k P^k X = gamma^{N+1}/(1-gamma) 1 c^T + E``,
        ``||E||_inf <= gamma^{N+1}/(1-gamma) ||Z||_inf``; stop when that is below
        ``ERGODIC_TOL ||A^{-1}||_inf ||X||_inf`` (``||A^{-1}||_inf = 1/(1-gamma)``). Gives up (None)
        when the observed contraction predicts more than ``budget`` products.
        """
        g = self.gamma
        xnorm = float(np.max(np.abs(X))) if X.size else 0.0
        if xnorm == 0.0:
            return np.zeros_like(X)
        acc = X.copy()
        Y = X.copy()
        Y2 = np.empty_like(X)
        gk = 1.0
        hist = []
        for k in range(1, budget + 1):
            self._matmul(Y, Y2)
            Y, Y2 = Y2, Y
            gk *= g
            acc += gk * Y
            hi, lo = Y.max(axis=0), Y.min(axis=0)
            bound = gk * g * 0.5 * float(np.max(hi - lo))   # times 1/(1-gamma) on both sides
            if bound <= ERGODIC_TOL * xnorm:
                acc += (gk * g / (1.0 - g)) * (0.5 * (hi + lo))[None, :]
                return acc
            hist.append(bound)
            if k == _PROBE:
                r = (hist[-1] / hist[-5]) ** 0.25 if hist[-5] > 0 else 1.0
                if not 0 < r < 1 or k + np.log(ERGODIC_TOL * xnorm / bound) / np.log(r) > budget:
                    return None
        return None

    def _lu_solve(self, X):
        if self.sparse:
            if self._lu is None:
                A = (sp.identity(self.n, format="csc") - self.gamma * self.P).tocsc()
                # A is strictly diagonally dominant by rows, so elimination without pivoting
                # is stable (growth <= 2): keep the fill-reducing symmetric ordering intact
                self._lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                     options=dict(SymmetricMode=True))
            return self._lu.solve(np.asarray(X, dtype=np.float64))
        return np.linalg.solve(np.eye(self.n) - self.gamma * self.P, X)

    # ------------------------------------------------------------------ structure
    def _reversible(self):
        """sqrt(pi) normalised to max 1 if P is reversible (REV_TOL) and well scaled, else False."""
        if self._rev is not None:
            return self._rev
        self._rev = False
        n = self.n
        if n == 1:
            self._rev = np.ones(1)
            return self._rev
        P = self.P
        if (P != P.T).nnz == 0 if self.sparse else np.array_equal(P, P.T):
            self._rev = np.ones(n)                      # symmetric: pi uniform, kappa = 1
            return self._rev
        if self.sparse:
            S = P.copy()
            S.data = (S.data > 0).astype(np.float64)
            S.eliminate_zeros()
            if (S != S.T).nnz:
                return False
            G = S
        else:
            pos = P > 0
            if not np.array_equal(pos, pos.T):
                return False
            G = sp.csr_matrix(pos)
        _, labels = csgraph.connected_components(G, directed=False)
        pred = np.empty(n, dtype=np.int64)
        for c in np.unique(labels):
            root = int(np.flatnonzero(labels == c)[0])
            order, pr = csgraph.breadth_first_order(G, root, directed=False, return_predecessors=True)
            pred[order] = pr[order]
            pred[root] = root
        nodes = np.arange(n)
        child = nodes[pred != nodes]
        par = pred[child]
        if self.sparse:
            fwd = np.asarray(P[par, child]).ravel()
            bwd = np.asarray(P[child, par]).ravel()
        else:
            fwd, bwd = P[par, child], P[child, par]
        r = np.zeros(n)
        r[child] = np.log(fwd) - np.log(bwd)          # log pi_child - log pi_parent
        anc = pred.copy()
        while True:                                     # pointer jumping: path sums to the root
            nxt = anc[anc]
            if np.array_equal(nxt, anc):
                break
            r = r + np.where(anc != nodes, r[anc], 0.0)
            anc = nxt
        # r now holds log pi relative to each component's root
        logpi = r
        spread = 0.5 * (logpi.max() - logpi.min())
        if not np.isfinite(spread) or spread > np.log(CHEB_COND_MAX):
            return False
        pi = np.exp(logpi - logpi.max())
        if self.sparse:
            M = sp.diags(pi) @ P
            D = abs(M - M.T) - REV_TOL * (M + M.T)
            ok = D.nnz == 0 or D.max() <= _REV_ABS
        else:
            M = pi[:, None] * P
            ok = bool(np.all(np.abs(M - M.T) <= REV_TOL * (M + M.T) + _REV_ABS))
        if ok:
            self._rev = np.sqrt(pi)
        return self._rev

    # ------------------------------------------------------------------ modal
    def _decompose(self):
        P = np.asarray(self.P)
        if np.array_equal(P, P.T):
            lam, U = np.linalg.eigh(P)
            lam = lam.astype(complex)
            U = U.astype(complex)
            cond = 1.0
        else:
            lam, U = np.linalg.eig(P)
            lam = lam.astype(complex)
            U = U.astype(complex)
            s = np.linalg.svd(U, compute_uv=False)
            cond = s[0] / s[-1] if s[-1] > 0 else np.inf
        if not np.isfinite(cond) or cond > MODAL_COND_MAX:
            return False
        real_idx = np.flatnonzero(lam.imag == 0)
        pos_idx = np.flatnonzero(lam.imag > 0)
        neg = np.flatnonzero(lam.imag < 0)
        if len(neg) != len(pos_idx) or not np.allclose(np.sort_complex(lam[neg]),
                                                        np.sort_complex(np.conj(lam[pos_idx]))):
            return False
        Ubig = np.ascontiguousarray(np.hstack([U[:, real_idx].real, 2.0 * U[:, pos_idx].real,
                                               -2.0 * U[:, pos_idx].imag]))
        mu = 1.0 - self.gamma * lam
        return mu, Ubig, real_idx, pos_idx, U

    def _has_modal(self):
        return self._modal is not None and self._modal is not False

    def _modal_ok(self):
        if self.sparse:
            return False
        if self._modal is None:
            self._modal = self._decompose()
        return self._modal is not False

    def _modal_apply(self, X, taus, integral):
        out = self._modal_apply_raw(X, taus, integral)
        zero = taus == 0                                         # exact: identity / zero integral
        if zero.any():
            out[zero] = 0.0 if integral else X
        return out

    def _modal_apply_raw(self, X, taus, integral):
        mu, Ubig, ri, pi, U = self._modal
        Xh = np.linalg.solve(U, X.astype(complex))             # modal coordinates (n, K)
        z = -np.outer(taus, mu)                                  # (T, n)
        if integral:
            F = -np.expm1(z) / mu[None, :]
        else:
            F = np.exp(z)
        Y = F[:, :, None] * Xh[None, :, :]                       # (T, n, K) complex
        Ys = np.concatenate([Y[:, ri].real, Y[:, pi].real, Y[:, pi].imag], axis=1)  # (T, n, K)
        T, n, K = Ys.shape
        out = Ubig @ np.ascontiguousarray(Ys.transpose(1, 0, 2)).reshape(n, T * K)
        return np.ascontiguousarray(out.reshape(n, T, K).transpose(1, 0, 2))

    # ------------------------------------------------------------------ public actions
    def expm(self, X: np.ndarray, taus: np.ndarray) -> np.ndarray:
        """``exp(-tau A) X`` for every tau: shape (T, n, K) for X of shape (n, K)."""
        return self._apply(X, taus, integral=False)

    def integral(self, X: np.ndarray, taus: np.ndarray) -> np.ndarray:
        """``int_0^tau exp(-u A) du X`` for every tau: shape (T, n, K)."""
        return self._apply(X, taus, integral=True)

    def _apply(self, X, taus, integral):
        X = np.ascontiguousarray(X, dtype=np.float64)
        taus = np.ascontiguousarray(taus, dtype=np.float64).ravel()
        T, K = len(taus), X.shape[1]
        if T == 0 or K == 0:
            return np.zeros((T, self.n, K))
        if self.method == "modal":
            if not self._modal_ok():
                raise ValueError("P: eigenvectors too ill-conditioned for method='modal' "
                                 f"(cond > {MODAL_COND_MAX:g}); use 'uniformization'")
            self.last_method, self.last_terms = "modal", 0
            return self._modal_apply(X, taus, integral)
        if self.method == "auto" and self._has_modal():
            self.last_method, self.last_terms = "modal", 0
            return self._modal_apply(X, taus, integral)
        if not integral:
            return self._expm(X, taus)
        out = np.empty((T, self.n, K))
        small = taus <= 1.0
        if small.any():
            out[small] = self._integral_series(X, taus[small])
        if (~small).any():
            Y = self.solve(X)
            out[~small] = Y[None] - self._expm(Y, taus[~small])
        return out

    # ------------------------------------------------------------------ series engine
    def _series(self, X, weight_fn, step, stop_fn, nmax):
        """Accumulate ``out[j] = sum_k weight_fn(k-range)[j, k] B_k X`` for k = 0..N.

        ``step(prev, prevprev, out)`` writes B_{k+1} X; ``stop_fn(k, Bk)`` returns "stop",
        "abort" or None after each new vector. Returns (out (T, nK), N, B_N) or None on abort.
        """
        n, K = X.shape
        nK = n * K
        B = int(max(3, min(nmax + 1, _CHUNK_ROWS, _CHUNK_FLOATS // max(1, nK))))
        chunk = np.empty((B, n, K))
        out = None
        k0, i, k = 0, 0, 0
        chunk[0] = X
        while True:
            cur = chunk[i]
            verdict = "stop" if k >= nmax else stop_fn(k, cur)
            if verdict == "abort":
                return None
            done = verdict == "stop"
            if i == B - 1 or done:
                W = np.ascontiguousarray(weight_fn(k0, k + 1))   # (T, b)
                flat = chunk[: i + 1].reshape(i + 1, nK)
                if out is None:
                    out = np.empty((len(W), nK))
                    _gemm_into(W, flat, out, beta=0.0)
                else:
                    rows = np.flatnonzero(W.any(axis=1))      # band: only times with weight here
                    if len(rows):
                        lo, hi = rows[0], rows[-1] + 1
                        _gemm_into(W[lo:hi], flat, out[lo:hi], beta=1.0)
                if done:
                    return out, k, cur.copy()
                k0 = k + 1
            nxt_i = (i + 1) % B
            prev = chunk[i]
            prevprev = chunk[(i - 1) % B] if k >= 1 else None
            step(prev, prevprev, chunk[nxt_i])
            i, k = nxt_i, k + 1

    def _expm(self, X, taus):
        g = self.gamma
        rho = g * taus
        rho_max = float(rho.max())
        damp = -taus * (1.0 - g)                         # log e^{-tau(1-gamma)}
        xnorm = float(np.max(np.abs(X))) if X.size else 0.0
        n, K = X.shape
        if rho_max == 0.0 or xnorm == 0.0:
            self.last_method, self.last_terms = "uniformization", 0
            return np.exp(damp)[:, None, None] * X[None]
        # times where ||exp(-tau A) X||_inf <= e^{-tau(1-gamma)} ||X||_inf is below the smallest
        # normal float: the answer is 0 to within 2.2e-308 (skip them: rho could be ~1e9)
        dead = damp + np.log(xnorm) < np.log(np.finfo(np.float64).tiny)
        if dead.any():
            out = np.zeros((len(taus), n, K))
            if not dead.all():
                out[~dead] = self._expm(X, taus[~dead])
            else:
                self.last_method, self.last_terms = "underflow", 0
            return out
        n_unif = _poisson_terms(rho_max)
        if self.method == "chebyshev":
            return self._expm_cheb(X, taus, rho, damp, _chebyshev_terms(rho_max))
        res = self._expm_unif(X, taus, rho, damp, xnorm, n_unif)
        if res is not None:
            return res
        # the probe aborted: the power sequence would be slower than an alternative
        if self._has_modal():
            self.last_method, self.last_terms = "modal", 0
            return self._modal_apply(X, taus, False)
        if self._rev is not None and self._rev is not False:
            return self._expm_cheb(X, taus, rho, damp, _chebyshev_terms(rho_max))
        return self._expm_unif(X, taus, rho, damp, xnorm, n_unif, allow_abort=False)

    # uniformization with the certified ergodic tail ----------------------------------
    def _expm_unif(self, X, taus, rho, damp, xnorm, n_unif, allow_abort=True):
        rho_max = float(rho.max())
        n, K = X.shape
        T = len(taus)
        logrho = np.log(np.where(rho > 0, rho, 1.0))
        floor = np.log(WEIGHT_FLOOR)
        hist = {}
        # cost of the alternatives in units of one product P @ (n x K)
        auto = self.method == "auto" and allow_abort
        modal_cap = np.inf
        if auto and not self.sparse and self._modal is None:
            nn = float(self.n)                              # eig ~25 n^3, svd ~12 n^3, one GEMM
            modal_cap = (37.0 * nn ** 3 + 2.0 * T * nn * nn * K) / (2.0 * nn * nn * K + 2.0 * T * nn * K)
        decided = not auto
        alt = [None]

        def weights(k0, k1):
            k = np.arange(k0, k1, dtype=np.float64)
            lw = -rho[:, None] + k[None, :] * logrho[:, None] - gammaln(k + 1.0)[None, :]
            w = np.where(lw >= floor, np.exp(lw + damp[:, None]), 0.0)
            zero = rho == 0
            if zero.any():
                w[zero] = 0.0
                if k0 == 0:
                    w[zero, 0] = np.exp(damp[zero])
            return w

        def stop(k, Y):
            nonlocal decided
            q = pdtrc(k, rho_max)
            if q <= TAIL:
                return "stop"
            # the oscillation costs two reductions: every 2nd product up to 32, then every 4th
            # (a later check only costs <= 3 extra products; the cut is certified when checked)
            if k % (2 if k <= 32 else 4):
                return None
            hi, lo = Y.max(axis=0), Y.min(axis=0)
            osc = 0.5 * float(np.max(hi - lo))
            if q * osc <= ERGODIC_TOL * xnorm:
                return "stop"
            hist[k] = osc
            # at k = 8, 16, 32, ...: extrapolate the observed contraction of osc and switch to
            # a cheaper method if one exists (the cut stays certified whatever is predicted;
            # checking at doubling k bounds the wasted products by ~2x the alternative's cost)
            if not decided and k >= _PROBE and (k & (k - 1)) == 0:
                r = (hist[k] / hist[k // 2]) ** (2.0 / k) if hist[k // 2] > 0 else 1.0
                pred = (k + np.log(ERGODIC_TOL * xnorm / osc) / np.log(r)) if 0 < r < 1 else np.inf
                left = min(pred, n_unif) - k                 # products still to come
                if left <= 8:
                    return None
                if alt[0] is None:
                    alt[0] = _chebyshev_terms(rho_max)
                if left > 1.15 * alt[0] and self._reversible() is not False:
                    return "abort"
                if left > modal_cap and self._modal_ok():
                    return "abort"
                if k > max(alt[0], modal_cap):
                    decided = True
            return None

        def step(prev, prevprev, out):
            self._matmul(prev, out)

        res = self._series(X, weights, step, stop, n_unif)
        if res is None:
            return None
        out, N, YN = res
        c = 0.5 * (YN.max(axis=0) + YN.min(axis=0))       # (K,)
        q = pdtrc(N, rho) * np.exp(damp)                  # (T,)
        out = out.reshape(T, n, K)
        if np.any(q > 0):
            out += q[:, None, None] * c[None, None, :]
        self.last_method, self.last_terms = "uniformization", N
        return out

    # Chebyshev (reversible P) --------------------------------------------------------
    def _expm_cheb(self, X, taus, rho, damp, n_cheb):
        T = len(taus)
        n, K = X.shape
        ed = np.exp(damp)

        def weights(k0, k1):
            k = np.arange(k0, k1)
            w = ive(k[None, :], rho[:, None]) * np.where(k == 0, 1.0, 2.0)[None, :]
            w = np.where(w >= WEIGHT_FLOOR, w, 0.0) * ed[:, None]
            return w

        def stop(k, Y):
            return None

        def step(prev, prevprev, out):
            self._matmul(prev, out)
            if prevprev is not None:
                out *= 2.0
                out -= prevprev

        out, N, _ = self._series(X, weights, step, stop, n_cheb)
        self.last_method, self.last_terms = "chebyshev", N
        return out.reshape(T, n, K)

    # integral series (tau <= 1) ------------------------------------------------------
    def _integral_series(self, X, taus):
        """tau <= 1: sum_k gamma^k P(k+1, tau) P^k X, cut where gamma^k tau^{k+1}/(k+1)! < TAIL."""
        g = self.gamma
        tmax = float(taus.max())
        N = 0
        term = tmax
        while term > TAIL * max(tmax, 1e-300) and N < 200 and g > 0:
            term *= g * tmax / (N + 2)
            N += 1
        T = len(taus)
        n, K = X.shape

        def weights(k0, k1):
            k = np.arange(k0, k1, dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
                w = (np.where(k == 0, 1.0, g ** k)[None, :]
                     * gammainc(k[None, :] + 1.0, taus[:, None]))
            w[~np.isfinite(w)] = 0.0
            return w

        def step(prev, prevprev, out):
            self._matmul(prev, out)

        out, _, _ = self._series(X, weights, step, lambda k, Y: None, N)
        return out.reshape(T, n, K)
