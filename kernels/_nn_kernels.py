"""Jitted kernels of the MLP (:mod:`repdyn.kernels.nn`): forward pass, column-weighted
squared-error loss and gradient, Adam and SGD steps, and the fused minibatch loop.

Arithmetic only: :class:`repdyn.kernels.nn.MLP` validates, coerces and allocates every buffer.
Parameters are one flat float64 vector (layer by layer: ``W_l`` row-major ``(fan_in, fan_out)``,
then ``b_l``; the head last). Activation codes: 0 = ReLU (derivative taken as 0 at exactly 0),
1 = tanh. Independent numpy twins: :mod:`repdyn.proofs.references`.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def _hidden(params, dims, n_extra, act, X, extra, acts, hin):
    """Hidden layers: fills ``acts`` (post-activations, layer after layer, each ``(B, h_l)``)
    and ``hin`` (``(B, d + n_extra)`` head input); returns the offset of the head's weights in
    ``params``. Shared by the forward pass and the NTK kernels."""
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
    return po


@njit(cache=True)
def _forward(params, dims, n_extra, n_out, act, X, extra, acts, hin, out):
    """Forward pass. Fills ``acts`` (post-activations, layer after layer, each ``(B, h_l)``),
    ``hin`` (``(B, d + n_extra)`` head input) and ``out`` (``(B, n_out)``)."""
    B = X.shape[0]
    po = _hidden(params, dims, n_extra, act, X, extra, acts, hin)
    d = dims[dims.shape[0] - 1]
    hi = d + n_extra
    Wh = params[po:po + hi * n_out].reshape((hi, n_out))
    po += hi * n_out
    bh = params[po:po + n_out]
    np.dot(hin, Wh, out)
    for r in range(B):
        for j in range(n_out):
            out[r, j] += bh[j]


@njit(cache=True)
def _loss_grad(params, dims, n_extra, n_out, act, X, extra, Y, cw, acts, hin, out,
               dbuf1, dbuf2, grad):
    """Loss ``sum_j cw_j mean_b (out_bj - Y_bj)^2`` and its gradient (into ``grad``)."""
    _forward(params, dims, n_extra, n_out, act, X, extra, acts, hin, out)
    B = X.shape[0]
    L = dims.shape[0] - 1
    # offsets of every layer
    loss = 0.0
    for r in range(B):
        for j in range(n_out):
            e = out[r, j] - Y[r, j]
            loss += cw[j] * e * e
            out[r, j] = 2.0 * cw[j] * e / B       # out now holds dL/dout
    loss /= B
    dout = out
    # head gradient
    body = 0
    for l in range(L):
        body += dims[l] * dims[l + 1] + dims[l + 1]
    d = dims[L]
    hi = d + n_extra
    gWh = grad[body:body + hi * n_out].reshape((hi, n_out))
    np.dot(hin.T, dout, gWh)
    gbh = grad[body + hi * n_out:body + hi * n_out + n_out]
    gbh[:] = 0.0
    for r in range(B):
        for j in range(n_out):
            gbh[j] += dout[r, j]
    # dL/dphi = dout @ Wh[:d].T
    Whd = params[body:body + d * n_out].reshape((d, n_out))
    dA = dbuf1[:B * d].reshape((B, d))
    np.dot(dout, Whd.T, dA)
    # walk the hidden layers backwards
    ao_end = 0
    for l in range(L):
        ao_end += B * dims[l + 1]
    po_end = body
    use1 = True
    for l in range(L - 1, -1, -1):
        i = dims[l]
        o = dims[l + 1]
        A = acts[ao_end - B * o:ao_end].reshape((B, o))
        ao_end -= B * o
        if use1:
            dZ = dbuf1[:B * o].reshape((B, o))
        else:
            dZ = dbuf2[:B * o].reshape((B, o))
        if act == 0:
            for r in range(B):
                for c in range(o):      # a select, not a branch: the loop vectorises
                    dZ[r, c] = dZ[r, c] if A[r, c] > 0.0 else 0.0
        else:
            for r in range(B):
                for c in range(o):
                    dZ[r, c] *= 1.0 - A[r, c] * A[r, c]
        pb = po_end - o
        pw = pb - i * o
        po_end = pw
        gb = grad[pb:pb + o]
        gb[:] = 0.0
        for r in range(B):
            for c in range(o):
                gb[c] += dZ[r, c]
        gW = grad[pw:pw + i * o].reshape((i, o))
        if l == 0:
            np.dot(X.T, dZ, gW)
        else:
            Aprev = acts[ao_end - B * i:ao_end].reshape((B, i))
            np.dot(Aprev.T, dZ, gW)
            W = params[pw:pw + i * o].reshape((i, o))
            if use1:
                dnext = dbuf2[:B * i].reshape((B, i))
            else:
                dnext = dbuf1[:B * i].reshape((B, i))
            np.dot(dZ, W.T, dnext)
            use1 = not use1
    return loss


@njit(cache=True, error_model="numpy")
def _adam(params, grad, m, v, t, lr, b1, b2, eps):
    """One bias-corrected Adam update in place; ``t`` is the 1-based step count.

    ``p -= (lr / c1) m / (sqrt(v) / sqrt(c2) + eps)`` with ``c = 1 - b**t``: PyTorch's order of
    operations, two divisions per element instead of three (the same value up to rounding).
    ``error_model="numpy"`` drops the per-element division-by-zero check (the divisors are
    ``1 - b**t > 0`` and ``sqrt(.) + eps > 0`` for validated hyper-parameters), which lets the
    loop vectorise."""
    step = lr / (1.0 - b1 ** t)
    s2 = np.sqrt(1.0 - b2 ** t)
    for i in range(params.shape[0]):
        g = grad[i]
        mi = b1 * m[i] + (1.0 - b1) * g
        vi = b2 * v[i] + (1.0 - b2) * g * g
        m[i] = mi
        v[i] = vi
        params[i] -= step * mi / (np.sqrt(vi) / s2 + eps)


@njit(cache=True)
def _sgd(params, grad, lr):
    """Plain gradient step in place."""
    for i in range(params.shape[0]):
        params[i] -= lr * grad[i]


@njit(cache=True)
def _step(params, dims, n_extra, n_out, act, X, extra, Y, cw, acts, hin, out, dbuf1,
          dbuf2, grad, opt, m, v, t, lr, b1, b2, eps):
    """One training step (forward, backward, SGD if ``opt == 0`` else Adam); returns loss."""
    loss = _loss_grad(params, dims, n_extra, n_out, act, X, extra, Y, cw, acts, hin, out,
                      dbuf1, dbuf2, grad)
    if opt == 0:
        _sgd(params, grad, lr)
    else:
        _adam(params, grad, m, v, t, lr, b1, b2, eps)
    return loss


@njit(cache=True)
def _fit(params, dims, n_extra, n_out, act, X, extra, Y, cw, batches, Xb, Eb, Yb, acts, hin,
         out, dbuf1, dbuf2, grad, opt, m, v, t0, lr, b1, b2, eps, losses):
    """Run ``batches.shape[0]`` steps; step s trains on rows ``batches[s]`` of X/extra/Y."""
    n_steps, B = batches.shape
    d_in = X.shape[1]
    for s in range(n_steps):
        for r in range(B):
            k = batches[s, r]
            for c in range(d_in):
                Xb[r, c] = X[k, c]
            for c in range(n_extra):
                Eb[r, c] = extra[k, c]
            for c in range(n_out):
                Yb[r, c] = Y[k, c]
        losses[s] = _step(params, dims, n_extra, n_out, act, Xb, Eb, Yb, cw, acts, hin, out,
                          dbuf1, dbuf2, grad, opt, m, v, t0 + s + 1, lr, b1, b2, eps)


# ------------------------------------------------------------------ empirical NTK (C14)
# Jitted kernels of the empirical NTK Gram matrix (docs: theory/c14): arithmetic only.
#
# The wrapper :func:`kernels.probes.ntk_gram` validates, coerces and allocates; these
# functions take flat parameters in the layout of :mod:`kernels.nn` (``W_l`` row-major
# ``(fan_in, fan_out)``, ``b_l``, ..., head ``Wh (head_in, n_out)``, ``bh``).
#
# Per-layer Gram identity: for output ``g = Wh[:, c] . hin + bh[c]`` the gradient with respect
# to ``W_l`` at input x is ``a_{l-1}(x) delta_l(x)^T`` (``a_0 = x``, ``delta_l = dg/dz_l``), so
#
#     <grad_{W_l} g(x), grad_{W_l} g(y)> = (a_{l-1}(x) . a_{l-1}(y)) (delta_l(x) . delta_l(y)),
#
# and ``NTK = 1 + hin hin^T + sum_l (A_{l-1} A_{l-1}^T + 1) o (D_l D_l^T)`` (o: elementwise;
# the ``+1`` terms are the biases). Frozen extra features enter ``hin`` but have no gradient.
# Cost ``O(n^2 (d_in + 2 sum_l h_l))`` in GEMMs plus ``O(B sum h_{l-1} h_l)`` for the passes;
# the Jacobian (``n x n_params``) is never formed.
# (In this file, not beside it: numba's on-disk cache does not see edits to a jitted function
# that lives in another file, and these kernels call _hidden.)


@njit(cache=True)
def _passes(params, dims, n_extra, n_out, act, col, X, extra, acts, deltas, hin):
    """Forward pass (post-activations into ``acts``, layer after layer, each (B, h_l); head
    input into ``hin``) and backward pass of output column ``col`` (``deltas``: dg/dz_l,
    same layout as ``acts``). ReLU'(0) = 0, as in kernels.nn."""
    B = X.shape[0]
    L = dims.shape[0] - 1
    po = _hidden(params, dims, n_extra, act, X, extra, acts, hin)
    ao = 0
    for l in range(L):
        ao += B * dims[l + 1]
    d = dims[L]
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
