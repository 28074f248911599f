"""Jitted kernels of the empirical NTK Gram matrix (docs: theory/c14): arithmetic only.

The wrapper :func:`kernels.probes.ntk_gram` validates, coerces and allocates; these
functions take flat parameters in the layout of :mod:`kernels.nn` (``W_l`` row-major
``(fan_in, fan_out)``, ``b_l``, ..., head ``Wh (head_in, n_out)``, ``bh``).

Per-layer Gram identity: for output ``g = Wh[:, c] . hin + bh[c]`` the gradient with respect
to ``W_l`` at input x is ``a_{l-1}(x) delta_l(x)^T`` (``a_0 = x``, ``delta_l = dg/dz_l``), so

    <grad_{W_l} g(x), grad_{W_l} g(y)> = (a_{l-1}(x) . a_{l-1}(y)) (delta_l(x) . delta_l(y)),

and ``NTK = 1 + hin hin^T + sum_l (A_{l-1} A_{l-1}^T + 1) o (D_l D_l^T)`` (o: elementwise;
the ``+1`` terms are the biases). Frozen extra features enter ``hin`` but have no gradient.
Cost ``O(n^2 (d_in + 2 sum_l h_l))`` in GEMMs plus ``O(B sum h_{l-1} h_l)`` for the passes;
the Jacobian (``n x n_params``) is never formed.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _passes(params, dims, n_extra, n_out, act, col, X, extra, acts, deltas, hin):
    """Forward pass (post-activations into ``acts``, layer after layer, each (B, h_l); head
    input into ``hin``) and backward pass of output column ``col`` (``deltas``: dg/dz_l,
    same layout as ``acts``). ReLU'(0) = 0, as in kernels.nn."""
    B = X.shape[0]
    L = dims.shape[0] - 1
    po = 0
    ao = 0
    prev = X
    for l in range(L):
        i = dims[l]
        o = dims[l + 1]
        W = params[po:po + i * o].reshape((i, o))
        po += i * o
        b = params[po:po + o]
        po += o
        A = acts[ao:ao + B * o].reshape((B, o))
        ao += B * o
        np.dot(prev, W, A)
        if act == 0:
            for r in range(B):
                for c in range(o):
                    z = A[r, c] + b[c]
                    A[r, c] = z if z > 0.0 else 0.0
        else:
            for r in range(B):
                for c in range(o):
                    A[r, c] = np.tanh(A[r, c] + b[c])
        prev = A
    d = dims[L]
    for r in range(B):
        for c in range(d):
            hin[r, c] = prev[r, c]
        for c in range(n_extra):
            hin[r, d + c] = extra[r, c]
    # backward: delta_L = Wh[:d, col] * act'(z_L); delta_l = (delta_{l+1} W_{l+1}^T) * act'(z_l)
    body = po
    hi = d + n_extra
    ao_end = ao
    o = dims[L]
    D = deltas[ao_end - B * o:ao_end].reshape((B, o))
    for r in range(B):
        for c in range(o):
            D[r, c] = params[body + c * n_out + col]
    pw_end = body
    for l in range(L - 1, -1, -1):
        o = dims[l + 1]
        i = dims[l]
        A = acts[ao_end - B * o:ao_end].reshape((B, o))
        D = deltas[ao_end - B * o:ao_end].reshape((B, o))
        if act == 0:
            for r in range(B):
                for c in range(o):
                    if A[r, c] <= 0.0:
                        D[r, c] = 0.0
        else:
            for r in range(B):
                for c in range(o):
                    D[r, c] *= 1.0 - A[r, c] * A[r, c]
        pw = pw_end - o - i * o
        if l > 0:
            W = params[pw:pw + i * o].reshape((i, o))
            Dp = deltas[ao_end - B * o - B * i:ao_end - B * o].reshape((B, i))
            np.dot(D, W.T, Dp)
        ao_end -= B * o
        pw_end = pw
    return hi


@njit(cache=True)
def _ntk_gram(params, dims, n_extra, n_out, col, act, X, extra, acts, deltas, hin, G, DD, out):
    """NTK Gram of output ``col`` over the rows of X into ``out`` (n, n).

    Workspaces: ``acts``, ``deltas`` (B * sum h), ``hin`` (B, head_in), ``G``, ``DD`` (n, n)."""
    B = X.shape[0]
    L = dims.shape[0] - 1
    _passes(params, dims, n_extra, n_out, act, col, X, extra, acts, deltas, hin)
    # head: weights hin . hin' and bias 1
    np.dot(hin, hin.T, out)
    for r in range(B):
        for c in range(B):
            out[r, c] += 1.0
    ao = 0
    for l in range(L):
        o = dims[l + 1]
        if l == 0:
            np.dot(X, X.T, G)
        else:
            i = dims[l]
            Ap = acts[ao - B * i:ao].reshape((B, i))
            np.dot(Ap, Ap.T, G)
        D = deltas[ao:ao + B * o].reshape((B, o))
        np.dot(D, D.T, DD)
        for r in range(B):
            for c in range(B):
                out[r, c] += (G[r, c] + 1.0) * DD[r, c]
        ao += B * o
    # exact symmetry (the GEMMs round both triangles independently)
    for r in range(B):
        for c in range(r):
            s = 0.5 * (out[r, c] + out[c, r])
            out[r, c] = s
            out[c, r] = s


@njit(cache=True)
def _per_state_grads(params, dims, n_extra, n_out, col, act, X, extra, acts, deltas, hin, J):
    """Per-state gradients of output ``col`` (rows of J, layout of the flat parameters).

    Used by the interference probe on small state sets (O(n n_params) memory)."""
    B = X.shape[0]
    L = dims.shape[0] - 1
    hi = _passes(params, dims, n_extra, n_out, act, col, X, extra, acts, deltas, hin)
    for r in range(B):
        for k in range(J.shape[1]):
            J[r, k] = 0.0
    po = 0
    ao = 0
    for l in range(L):
        i = dims[l]
        o = dims[l + 1]
        D = deltas[ao:ao + B * o].reshape((B, o))
        for r in range(B):
            for a in range(i):
                xa = X[r, a] if l == 0 else acts[ao - B * i + r * i + a]
                for c in range(o):
                    J[r, po + a * o + c] = xa * D[r, c]
            for c in range(o):
                J[r, po + i * o + c] = D[r, c]
        po += i * o + o
        ao += B * o
    for r in range(B):
        for a in range(hi):
            J[r, po + a * n_out + col] = hin[r, a]
        J[r, po + hi * n_out + col] = 1.0
