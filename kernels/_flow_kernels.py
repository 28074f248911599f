"""Jitted fixed-step integrators of the representation flows (docs: theory/c1, C4-C8).

Arithmetic only: no validation, no allocation inside the time loop. The Python wrappers in
:mod:`kernels.flows` validate, coerce to float64 C-contiguous arrays, allocate the outputs and
the work buffers, then call these kernels.

Two kernels cover every flow of the specification.

``_linear_flow`` integrates the affine matrix ODE with fixed coefficients

    dX/dt = -X G + sum_j (P_j X) H_j + F,        X (n, K), G and H_j (K, K), F (n, K),

which is every fixed-head flow once the heads are summed out (the O(n^2 K + n K^2) "fast
path" of the issue; M never appears in the time loop):

* TD values (C1):           G = I, H = [gamma I], F = R 1^T
* MC values (C1):           G = I, no H (J = 0),   F = V* 1^T
* ensemble, beta = 0 (C5, C6): G = alpha W W^T, H = [gamma G], F = R s^T, s = alpha W 1
* random cumulants (C7):    G = W W^T, H = [gamma G], F = C W^T
* additional policies (C8): G = sum_j G_j, H_j = gamma G_j with P_j, F = sum_j R_j s_j^T
* several discounts (C8):   G = sum_j G_j, H = [sum_j gamma_j G_j], F = R s^T

``_learned_flow`` integrates the ensemble with learned heads (beta > 0; C4 is its M = 1 case):

    dPhi/dt = alpha E W^T,  dW/dt = beta Phi^T E,  E = R 1^T + (gamma P Phi - Phi) W,

evaluated without forming the n x M matrix E: ``E W^T = R s^T + B G`` and
``Phi^T E = (Phi^T R) 1^T + (Phi^T B) W`` with ``B = gamma P Phi - Phi``, ``G = W W^T``,
``s = W 1``: O(n^2 K + n K^2 + K^2 M) per right-hand side instead of O(n K M).

``P`` enters through ``_apply_P``: dense ``Pd`` (J, n, n) or CSR with per-matrix row pointers
``indptr`` (J, n + 1) into shared ``indices``/``data`` arrays; ``sparse`` picks the branch.
The unused representation is passed as an empty array so one compiled signature serves both.

``method`` is 0 for explicit Euler, 1 for classical RK4 (global error O(dt) and O(dt^4)).

Cost and accuracy: dense products go to BLAS through ``np.dot(a, b, out)`` into buffers the
wrapper allocated (10x faster than loops at n = 64, K = 8); sparse ``P`` is applied by a CSR
loop. ``fastmath`` is limited to ``{'reassoc', 'contract'}`` (vectorised sums, FMA): results
differ from the plain-numpy references by a few ulps per step, and NaN/inf still propagate.
Records: ``out[0]`` is the initial state, then every ``record_every`` steps.
"""
from __future__ import annotations

import numpy as np
from numba import njit

EULER = 0
RK4 = 1

#: fastmath subset: reassociation (vectorised sums) and fused multiply-add only; NaN/inf
#: semantics are kept (no 'nnan'/'ninf'), so a blown-up flow still shows NaN.
_FM = {"reassoc", "contract"}


@njit(cache=True, fastmath=_FM)
def _apply_P(j, X, out, sparse, Pd, indptr, indices, data):
    """out = P_j @ X for X (n, K): dense Pd[j] or CSR rows indptr[j]."""
    n, K = X.shape
    if sparse:
        for i in range(n):
            for k in range(K):
                out[i, k] = 0.0
            for p in range(indptr[j, i], indptr[j, i + 1]):
                c = indices[p]
                v = data[p]
                for k in range(K):
                    out[i, k] += v * X[c, k]
    else:
        np.dot(Pd[j], X, out)


@njit(cache=True, fastmath=_FM)
def _linear_rhs(X, G, H, F, sparse, Pd, indptr, indices, data, PX, tmp, out):
    """out = -X G + sum_j (P_j X) H_j + F (products through BLAS into preallocated buffers)."""
    n, K = X.shape
    np.dot(X, G, out)
    for i in range(n):
        for k in range(K):
            out[i, k] = F[i, k] - out[i, k]
    for j in range(H.shape[0]):
        _apply_P(j, X, PX, sparse, Pd, indptr, indices, data)
        np.dot(PX, H[j], tmp)
        for i in range(n):
            for k in range(K):
                out[i, k] += tmp[i, k]


@njit(cache=True, fastmath=_FM)
def _axpy_into(dst, x, a, y):
    """dst = x + a * y for 2-d arrays of one shape (dst may alias x)."""
    for i in range(dst.shape[0]):
        for k in range(dst.shape[1]):
            dst[i, k] = x[i, k] + a * y[i, k]


@njit(cache=True, fastmath=_FM)
def _rk4_combine(x, h, k1, k2, k3, k4):
    """x += h/6 (k1 + 2 k2 + 2 k3 + k4) for 2-d arrays."""
    s = h / 6.0
    for i in range(x.shape[0]):
        for k in range(x.shape[1]):
            x[i, k] += s * (k1[i, k] + 2.0 * k2[i, k] + 2.0 * k3[i, k] + k4[i, k])


@njit(cache=True, fastmath=_FM)
def _linear_flow(X0, G, H, F, sparse, Pd, indptr, indices, data, dt, n_steps, record_every,
                 method, out, work):
    """Integrate dX/dt = -X G + sum_j (P_j X) H_j + F; records into out (T, n, K).

    ``work`` is (8, n, K) scratch: X, Y, PX, k1..k4, tmp.
    """
    X = work[0]
    Y = work[1]
    PX = work[2]
    k1 = work[3]
    k2 = work[4]
    k3 = work[5]
    k4 = work[6]
    tmp = work[7]
    X[:, :] = X0
    out[0] = X
    r = 1
    half = 0.5 * dt
    for step in range(1, n_steps + 1):
        _linear_rhs(X, G, H, F, sparse, Pd, indptr, indices, data, PX, tmp, k1)
        if method == RK4:
            _axpy_into(Y, X, half, k1)
            _linear_rhs(Y, G, H, F, sparse, Pd, indptr, indices, data, PX, tmp, k2)
            _axpy_into(Y, X, half, k2)
            _linear_rhs(Y, G, H, F, sparse, Pd, indptr, indices, data, PX, tmp, k3)
            _axpy_into(Y, X, dt, k3)
            _linear_rhs(Y, G, H, F, sparse, Pd, indptr, indices, data, PX, tmp, k4)
            _rk4_combine(X, dt, k1, k2, k3, k4)
        else:
            _axpy_into(X, X, dt, k1)
        if step % record_every == 0:
            out[r] = X
            r += 1


@njit(cache=True, fastmath=_FM)
def _learned_rhs(Phi, W, R, gamma, alpha, beta, sparse, Pd, indptr, indices, data,
                 B, G, s, Hm, u, dPhi, dW):
    """dPhi = alpha (R s^T + B G), dW = beta ((Phi^T R) 1^T + (Phi^T B) W), B = gamma P Phi - Phi,
    G = W W^T, s = W 1 (products through BLAS into preallocated buffers)."""
    n, K = Phi.shape
    M = W.shape[1]
    _apply_P(0, Phi, B, sparse, Pd, indptr, indices, data)
    for i in range(n):
        for k in range(K):
            B[i, k] = gamma * B[i, k] - Phi[i, k]
    np.dot(W, W.T, G)
    for a in range(K):
        acc = 0.0
        for m in range(M):
            acc += W[a, m]
        s[a] = acc
    np.dot(B, G, dPhi)
    for i in range(n):
        for k in range(K):
            dPhi[i, k] = alpha * (dPhi[i, k] + R[i] * s[k])
    np.dot(Phi.T, B, Hm)
    for a in range(K):
        acc = 0.0
        for i in range(n):
            acc += Phi[i, a] * R[i]
        u[a] = acc
    np.dot(Hm, W, dW)
    for a in range(K):
        for m in range(M):
            dW[a, m] = beta * (dW[a, m] + u[a])


@njit(cache=True, fastmath=_FM)
def _learned_flow(Phi0, W0, R, gamma, alpha, beta, sparse, Pd, indptr, indices, data, dt,
                  n_steps, record_every, method, out_Phi, out_W, wphi, ww, kk, kv):
    """Ensemble with learned heads (beta > 0) or linear FA (M = 1); RK4 or Euler.

    Scratch: ``wphi`` (7, n, K): Phi, Yphi, B, k1..k4 for Phi; ``ww`` (6, K, M): W, Yw,
    k1..k4 for W; ``kk`` (2, K, K): G and Phi^T B; ``kv`` (2, K): s and Phi^T R.
    """
    Phi = wphi[0]
    Yp = wphi[1]
    B = wphi[2]
    p1 = wphi[3]
    p2 = wphi[4]
    p3 = wphi[5]
    p4 = wphi[6]
    W = ww[0]
    Yw = ww[1]
    w1 = ww[2]
    w2 = ww[3]
    w3 = ww[4]
    w4 = ww[5]
    G = kk[0]
    Hm = kk[1]
    s = kv[0]
    u = kv[1]
    Phi[:, :] = Phi0
    W[:, :] = W0
    out_Phi[0] = Phi
    out_W[0] = W
    r = 1
    half = 0.5 * dt
    for step in range(1, n_steps + 1):
        _learned_rhs(Phi, W, R, gamma, alpha, beta, sparse, Pd, indptr, indices, data,
                     B, G, s, Hm, u, p1, w1)
        if method == RK4:
            _axpy_into(Yp, Phi, half, p1)
            _axpy_into(Yw, W, half, w1)
            _learned_rhs(Yp, Yw, R, gamma, alpha, beta, sparse, Pd, indptr, indices, data,
                         B, G, s, Hm, u, p2, w2)
            _axpy_into(Yp, Phi, half, p2)
            _axpy_into(Yw, W, half, w2)
            _learned_rhs(Yp, Yw, R, gamma, alpha, beta, sparse, Pd, indptr, indices, data,
                         B, G, s, Hm, u, p3, w3)
            _axpy_into(Yp, Phi, dt, p3)
            _axpy_into(Yw, W, dt, w3)
            _learned_rhs(Yp, Yw, R, gamma, alpha, beta, sparse, Pd, indptr, indices, data,
                         B, G, s, Hm, u, p4, w4)
            _rk4_combine(Phi, dt, p1, p2, p3, p4)
            _rk4_combine(W, dt, w1, w2, w3, w4)
        else:
            _axpy_into(Phi, Phi, dt, p1)
            _axpy_into(W, W, dt, w1)
        if step % record_every == 0:
            out_Phi[r] = Phi
            out_W[r] = W
            r += 1
