"""Actions of the TD semigroup: ``exp(-tau A) X`` and ``int_0^tau exp(-u A) du X``, A = I - gamma P.

One :class:`Propagator` per (P, gamma) serves every closed form in :mod:`analysis.closed_form`.
Two exact methods, chosen per call by a flop-count model:

``modal``
    ``P = U diag(lambda) U^{-1}`` once (``np.linalg.eig``; ``eigh`` for symmetric P), then
    ``exp(-tau A) X = U diag(exp(-tau mu)) U^{-1} X`` with ``mu = 1 - gamma lambda``. Conjugate
    pairs are folded into real arithmetic, so all times cost one real GEMM of n x n x (T K).
    Used only when ``cond(U) <= MODAL_COND_MAX``: the error is O(cond(U) eps).
``uniformization``
    ``exp(-tau A) = e^{-tau} sum_k Poisson-like weights (tau gamma)^k / k! P^k``: positive weights,
    ``||P^k X||_inf <= ||X||_inf``, so it is stable for every stochastic P (defective, non-normal,
    sparse). One sequence of powers ``P^k X`` is shared by all times; weights are evaluated in
    the log domain (no underflow at long horizons) and the series is cut where the Poisson tail
    is below ``TAIL``. Cost O(N nnz(P) K + T N n K), N ~ gamma tau_max + 10 sqrt(gamma tau_max).

The integral uses ``sum_k gamma^k P(k+1, tau) P^k X`` (P the regularised lower incomplete gamma)
for tau <= 1 and ``A^{-1}(X - exp(-tau A) X)`` beyond, in uniformization; ``-expm1(-tau mu)/mu``
in modal coordinates.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.special import gammainc, gammaln, pdtrc

__all__ = ["Propagator", "MODAL_COND_MAX", "TAIL"]

#: Largest eigenvector condition number for which the modal method is used (error ~ cond * eps).
MODAL_COND_MAX = 1e4
#: Poisson tail mass left out of the uniformization series (relative to ||X||_inf).
TAIL = 1e-18
_CHUNK_FLOATS = 1 << 22          # powers held at once: 32 MiB


def _poisson_terms(mu_max: float) -> int:
    """Smallest N with P(Poisson(mu_max) > N) <= TAIL."""
    if mu_max <= 0:
        return 0
    N = int(mu_max + 6.0 * np.sqrt(mu_max) + 10)
    while pdtrc(N, mu_max) > TAIL:
        N += max(5, int(np.sqrt(mu_max)))
    return N


class Propagator:
    """``exp(-tau A)`` and its integral applied to blocks of vectors, for many tau at once.

    Parameters
    ----------
    P : validated row-stochastic matrix (dense ndarray or scipy CSR)
    gamma : validated discount in [0, 1)
    method : "auto", "modal" or "uniformization"
    """

    def __init__(self, P, gamma: float, method: str = "auto"):
        if method not in ("auto", "modal", "uniformization"):
            raise ValueError(f"method must be 'auto', 'modal' or 'uniformization', got {method!r}")
        self.sparse = sp.issparse(P)
        if self.sparse and method == "modal":
            raise ValueError("method='modal' needs a dense P")
        self.P = P
        self.gamma = float(gamma)
        self.n = P.shape[0]
        self.method = method
        self._modal = None          # (mu, Ubig, real_idx, pos_idx, U) or False
        self._lu = None

    # ------------------------------------------------------------------ linear solves
    def solve(self, X: np.ndarray) -> np.ndarray:
        """``A^{-1} X`` by LU (never an explicit inverse)."""
        if self.sparse:
            if self._lu is None:
                A = (sp.identity(self.n, format="csc") - self.gamma * self.P).tocsc()
                self._lu = spla.splu(A)
            return self._lu.solve(np.asarray(X, dtype=np.float64))
        return np.linalg.solve(np.eye(self.n) - self.gamma * self.P, X)

    # ------------------------------------------------------------------ method choice
    def _use_modal(self, T: int, K: int, tau_max: float) -> bool:
        if self.sparse or self.method == "uniformization":
            return False
        if self.method == "auto" and self._modal is None:
            n = self.n
            N = _poisson_terms(self.gamma * tau_max)
            unif = N * 2.0 * n * n * K + 2.0 * T * N * n * K
            modal = 25.0 * n ** 3 + 2.0 * T * n * n * K
            if modal >= unif:
                return False
        if self._modal is None:
            self._modal = self._decompose()
        if self._modal is False:
            if self.method == "modal":
                raise ValueError("P: eigenvectors too ill-conditioned for method='modal' "
                                 f"(cond > {MODAL_COND_MAX:g}); use 'uniformization'")
            return False
        return True

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

    # ------------------------------------------------------------------ public actions
    def expm(self, X: np.ndarray, taus: np.ndarray) -> np.ndarray:
        """``exp(-tau A) X`` for every tau: shape (T, n, K) for X of shape (n, K)."""
        return self._apply(X, taus, integral=False)

    def integral(self, X: np.ndarray, taus: np.ndarray) -> np.ndarray:
        """``int_0^tau exp(-u A) du X`` for every tau: shape (T, n, K)."""
        return self._apply(X, taus, integral=True)

    def _apply(self, X, taus, integral):
        X = np.asarray(X, dtype=np.float64)
        taus = np.asarray(taus, dtype=np.float64)
        T, K = len(taus), X.shape[1]
        if T == 0:
            return np.zeros((0, self.n, K))
        if self._use_modal(T, K, float(taus.max())):
            return self._modal_apply(X, taus, integral)
        if not integral:
            return self._unif_expm(X, taus)
        out = np.empty((T, self.n, K))
        small = taus <= 1.0
        if small.any():
            out[small] = self._unif_integral_series(X, taus[small])
        if (~small).any():
            Y = self.solve(X)
            E = self._unif_expm(Y, taus[~small])
            out[~small] = Y[None] - E
        return out

    # modal ------------------------------------------------------------------------
    def _modal_apply(self, X, taus, integral):
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

    # uniformization -----------------------------------------------------------------
    def _series(self, X, weights):
        """sum_k weights[:, k] * P^k X for k = 0..N-1; weights (T, N)."""
        T, N = weights.shape
        n, K = X.shape
        out = np.zeros((T, n * K))
        B = max(1, min(N, _CHUNK_FLOATS // max(1, n * K)))
        chunk = np.empty((B, n * K))
        Y = X.copy()
        k = 0
        while k < N:
            b = min(B, N - k)
            for i in range(b):
                chunk[i] = Y.ravel()
                if k + i + 1 < N:
                    Y = self.P @ Y
            out += weights[:, k:k + b] @ chunk[:b]
            k += b
        return out.reshape(T, n, K)

    def _unif_expm(self, X, taus):
        g = self.gamma
        N = _poisson_terms(g * float(taus.max())) + 1
        k = np.arange(N)
        with np.errstate(divide="ignore", invalid="ignore"):
            logw = (-taus[:, None] + k[None, :] * np.log(g * taus[:, None])
                    - gammaln(k + 1.0)[None, :])
        logw[:, 0] = -taus                        # k = 0 term, also at tau = 0 or gamma = 0
        w = np.exp(logw)
        w[~np.isfinite(w)] = 0.0
        return self._series(X, w)

    def _unif_integral_series(self, X, taus):
        """tau <= 1: sum_k gamma^k P(k+1, tau) P^k X, cut where gamma^k tau^{k+1}/(k+1)! < TAIL."""
        g = self.gamma
        tmax = float(taus.max())
        N = 1
        term = tmax
        while term > TAIL * max(tmax, 1e-300) and N < 200 and g > 0:
            term *= g * tmax / (N + 1)
            N += 1
        k = np.arange(N)
        with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
            w = np.where(k[None, :] == 0, 1.0, g ** k[None, :]) * gammainc(k[None, :] + 1.0, taus[:, None])
        w[~np.isfinite(w)] = 0.0
        return self._series(X, w)
