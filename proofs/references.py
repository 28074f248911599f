"""Independent plain-numpy references for the jitted kernels.

Written the way a researcher writes the mathematics, with no numba and no shared code path with
the kernels they check (only the MLP's parameter layout, :func:`repdyn.kernels.nn._unpack`, and
the head grouping, :func:`repdyn.kernels.flows.head_groups`, are shared conventions). They are
not part of the public API: the test suite and the kernel checks of ``repdyn verify`` compare the
kernels against them.

* ``reference_*``: fixed-step RK4 / Euler integration of the flows of
  :mod:`repdyn.kernels.flows` (no validation);
* ``forward_numpy``, ``loss_grad_numpy``, ``adam_numpy``: the MLP of :mod:`repdyn.kernels.nn`
  and its Adam step.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from repdyn.kernels.flows import head_groups
from repdyn.kernels.nn import ACTIVATIONS, _unpack

__all__ = ["reference_values", "reference_ensemble", "reference_linear_fa",
           "reference_random_cumulants", "reference_multi_policy", "reference_multi_discount",
           "forward_numpy", "loss_grad_numpy", "adam_numpy", "act_numpy"]


# ------------------------------------------------------------------------------------ flows


def _numpy_integrate(rhs, state, dt, n_steps, record_every, method):
    """Plain-numpy fixed-step integration of a tuple-valued ODE; records time-first."""
    state = tuple(np.array(x, dtype=np.float64) for x in state)
    T = n_steps // record_every + 1
    outs = [np.empty((T,) + x.shape) for x in state]
    for o, x in zip(outs, state):
        o[0] = x
    r = 1
    for step in range(1, n_steps + 1):
        k1 = rhs(*state)
        if method == "rk4":
            k2 = rhs(*(x + 0.5 * dt * k for x, k in zip(state, k1)))
            k3 = rhs(*(x + 0.5 * dt * k for x, k in zip(state, k2)))
            k4 = rhs(*(x + dt * k for x, k in zip(state, k3)))
            state = tuple(x + dt / 6.0 * (a + 2 * b + 2 * c + d)
                          for x, a, b, c, d in zip(state, k1, k2, k3, k4))
        else:
            state = tuple(x + dt * k for x, k in zip(state, k1))
        if step % record_every == 0:
            for o, x in zip(outs, state):
                o[r] = x
            r += 1
    return dt * (record_every * np.arange(T, dtype=np.float64)), outs


def reference_values(P, R, gamma, V0, dt, n_steps, record_every, method="rk4", flow="td"):
    """Plain-numpy reference for :func:`repdyn.kernels.flows.simulate_values` (no validation)."""
    V0 = np.asarray(V0, dtype=np.float64)
    if flow == "td":
        rhs = lambda V: (R[:, None] if V.ndim == 2 else R) + gamma * (P @ V) - V  # noqa: E731
    else:
        n = P.shape[0]
        Vs = np.linalg.solve(np.eye(n) - gamma * (P.toarray() if sp.issparse(P) else P), R)
        rhs = lambda V: (Vs[:, None] if V.ndim == 2 else Vs) - V  # noqa: E731
    times, (V,) = _numpy_integrate(lambda V: (rhs(V),), (V0,), dt, n_steps, record_every, method)
    return times, V


def reference_ensemble(P, R, gamma, Phi0, W, alpha, beta, dt, n_steps, record_every,
                       method="rk4"):
    """Plain-numpy reference for :func:`repdyn.kernels.flows.simulate_ensemble`, RHS as a researcher writes it:
    ``E = R[:, None] + (gamma P - I) Phi W``; ``dPhi = alpha E W^T``, ``dW = beta Phi^T E``."""
    n = P.shape[0]
    Aneg = gamma * P - (sp.identity(n, format="csr") if sp.issparse(P) else np.eye(n))

    def rhs(Phi, W):
        E = R[:, None] + Aneg @ Phi @ W
        return alpha * E @ W.T, (beta * Phi.T @ E if beta != 0 else np.zeros_like(W))
    times, (Phi, Ws) = _numpy_integrate(rhs, (Phi0, W), dt, n_steps, record_every, method)
    return times, Phi, Ws


def reference_linear_fa(P, R, gamma, Phi0, w0, alpha, beta, dt, n_steps, record_every,
                        method="rk4"):
    """Plain-numpy reference for :func:`repdyn.kernels.flows.simulate_linear_fa`."""
    def rhs(Phi, w):
        delta = R + gamma * (P @ (Phi @ w)) - Phi @ w
        return alpha * np.outer(delta, w), beta * Phi.T @ delta
    times, (Phi, w) = _numpy_integrate(rhs, (Phi0, w0), dt, n_steps, record_every, method)
    return times, Phi, w


def reference_random_cumulants(P, C, gamma, Phi0, W, dt, n_steps, record_every, method="rk4"):
    """Plain-numpy reference for :func:`repdyn.kernels.flows.simulate_random_cumulants`."""
    def rhs(Phi):
        return ((C + gamma * (P @ Phi) @ W - Phi @ W) @ W.T,)
    times, (Phi,) = _numpy_integrate(rhs, (Phi0,), dt, n_steps, record_every, method)
    return times, Phi


def reference_multi_policy(Ps, Rs, gamma, Phi0, W, alpha, dt, n_steps, record_every,
                           method="rk4", groups=None):
    """Plain-numpy reference for :func:`repdyn.kernels.flows.simulate_multi_policy` (head by head, per group)."""
    gr = head_groups(W.shape[1], len(Ps), groups)

    def rhs(Phi):
        out = np.zeros_like(Phi)
        for j, g in enumerate(gr):
            Wj = W[:, g]
            out += alpha * (Rs[j][:, None] + gamma * (Ps[j] @ Phi) @ Wj - Phi @ Wj) @ Wj.T
        return (out,)
    times, (Phi,) = _numpy_integrate(rhs, (Phi0,), dt, n_steps, record_every, method)
    return times, Phi


def reference_multi_discount(P, R, gammas, Phi0, W, alpha, dt, n_steps, record_every,
                             method="rk4", groups=None):
    """Plain-numpy reference for :func:`repdyn.kernels.flows.simulate_multi_discount`."""
    gr = head_groups(W.shape[1], len(gammas), groups)

    def rhs(Phi):
        out = np.zeros_like(Phi)
        for gj, g in zip(gammas, gr):
            Wj = W[:, g]
            out += alpha * (R[:, None] + gj * (P @ Phi) @ Wj - Phi @ Wj) @ Wj.T
        return (out,)
    times, (Phi,) = _numpy_integrate(rhs, (Phi0,), dt, n_steps, record_every, method)
    return times, Phi


# -------------------------------------------------------------------------------------- MLP


def act_numpy(z, act):
    return np.maximum(z, 0.0) if act == 0 else np.tanh(z)


def forward_numpy(params, arch, X, extra=None):
    """Reference forward: returns (out, activations list, head input)."""
    act = ACTIVATIONS[arch.activation]
    layers, (Wh, bh) = _unpack(params, arch)
    A, acts = X, []
    for W, b in layers:
        A = act_numpy(A @ W + b, act)
        acts.append(A)
    hin = A if arch.n_extra == 0 else np.hstack([A, extra])
    return hin @ Wh + bh, acts, hin


def loss_grad_numpy(params, arch, X, Y, cw, extra=None):
    """Reference loss and gradient (same conventions as :func:`_loss_grad`)."""
    act = ACTIVATIONS[arch.activation]
    layers, (Wh, bh) = _unpack(params, arch)
    out, acts, hin = forward_numpy(params, arch, X, extra)
    B = X.shape[0]
    E = out - Y
    loss = float(np.sum(cw * E ** 2) / B)
    dout = 2.0 * cw * E / B
    grads = [dout.sum(0), hin.T @ dout]
    dA = dout @ Wh[:arch.width].T
    for l in range(len(layers) - 1, -1, -1):
        A = acts[l]
        dZ = dA * (A > 0) if act == 0 else dA * (1.0 - A ** 2)
        prev = X if l == 0 else acts[l - 1]
        grads += [dZ.sum(0), (prev.T @ dZ).ravel()]
        if l > 0:
            dA = dZ @ layers[l][0].T
    # grads were collected back to front as [bh, Wh, b_L, W_L, ..., b_1, W_1]
    return loss, np.concatenate([g.ravel() for g in grads[::-1]])


def adam_numpy(params, grad, m, v, t, lr, b1, b2, eps):
    """Reference Adam step; returns new (params, m, v)."""
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad ** 2
    mh = m / (1 - b1 ** t)
    vh = v / (1 - b2 ** t)
    return params - lr * mh / (np.sqrt(vh) + eps), m, v
