"""A small multilayer perceptron in numba: the network behind the probes of C10-C13.

Architecture (docs: theory/c10-C13, the talk's Part II)::

    x (d_in) -> [dense + ReLU/tanh] x L -> phi(x) (penultimate "representation", width d)
             -> [phi(x), phi0(x)[:, idx]] -> linear heads (n_out columns)

Every head is one output column of the last, linear layer: the main value head, auxiliary
heads (ensemble, random cumulants, several discounts) and InFeR heads all read the same
penultimate features. ``phi0(x)[:, idx]`` are optional *frozen initial features* (the
talk's Hypothesis 1 ablation, ``n_extra`` of them; zero by default): the penultimate
features of the frozen initial parameters ``theta_0``.

Training minimises a column-weighted squared error (targets are constants: semi-gradient)

    L(theta) = sum_j c_j * (1/B) sum_b (g_j(x_b; theta) - y_bj)^2 ,

which covers supervised regression, TD(0) with a target network and InFeR (docs: theory/c12) by the
choice of targets ``y`` and column weights ``c``. Optimisers: SGD and Adam (Kingma & Ba 2015,
bias-corrected).

Parameters live in one flat float64 vector (layer by layer: ``W_l`` row-major
``(fan_in, fan_out)``, then ``b_l``; the head last), so the kernels only see flat arrays and
integer sizes. The kernels are private ``_name`` functions; :class:`MLP`, :class:`Adam` and
:class:`SGD` validate, coerce and allocate. Each kernel has a plain-numpy twin
(``_forward_numpy``, ``_loss_grad_numpy``, ``_adam_numpy``) that the tests compare against.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from repdyn.analysis.mdp import check_int, check_matrix, check_nonnegative, check_rng, is_int

__all__ = ["ACTIVATIONS", "Architecture", "MLP", "Adam", "SGD", "init_params"]

#: Activation names and the integer codes the kernels use.
ACTIVATIONS = {"relu": 0, "tanh": 1}


# ------------------------------------------------------------------------------ architecture


@dataclass(frozen=True)
class Architecture:
    """Shape of an :class:`MLP`.

    Parameters
    ----------
    d_in : int
        Input dimension.
    hidden : tuple of int
        Widths of the hidden layers; the last one is the penultimate representation layer.
    n_out : int
        Number of linear head outputs (main + auxiliary + InFeR heads).
    n_extra : int
        Number of frozen initial penultimate features appended to the head input
        (Hypothesis 1 ablation of InFeR); ``0 <= n_extra <= hidden[-1]``.
    activation : {"relu", "tanh"}
    """

    d_in: int
    hidden: tuple
    n_out: int
    n_extra: int = 0
    activation: str = "relu"

    def __post_init__(self):
        for nm, v in (("d_in", self.d_in), ("n_out", self.n_out)):
            if not is_int(v) or v < 1:
                raise ValueError(f"{nm} must be a positive integer, got {v!r}")
        object.__setattr__(self, "d_in", int(self.d_in))
        object.__setattr__(self, "n_out", int(self.n_out))
        hid = check_hidden(self.hidden)
        object.__setattr__(self, "hidden", hid)
        if not is_int(self.n_extra) or not (0 <= self.n_extra <= hid[-1]):
            raise ValueError(f"n_extra must be an integer in [0, hidden[-1] = {hid[-1]}], got {self.n_extra!r}")
        object.__setattr__(self, "n_extra", int(self.n_extra))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")

    @property
    def dims(self) -> np.ndarray:
        """``[d_in, h_1, ..., h_L]`` as int64 (what the kernels take)."""
        return np.array((self.d_in,) + self.hidden, dtype=np.int64)

    @property
    def width(self) -> int:
        """Penultimate (representation) width ``d``."""
        return self.hidden[-1]

    @property
    def head_in(self) -> int:
        return self.hidden[-1] + self.n_extra

    @property
    def n_params(self) -> int:
        d = self.dims
        body = int(np.sum(d[:-1] * d[1:] + d[1:]))
        return body + self.head_in * self.n_out + self.n_out

    @property
    def n_body(self) -> int:
        """Number of parameters before the head (hidden layers only)."""
        return self.n_params - (self.head_in * self.n_out + self.n_out)


def check_hidden(hidden, name: str = "hidden") -> tuple:
    """Validate hidden widths: a non-empty sequence of positive integers; returns a tuple of int."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (tuple, list, np.ndarray)):
        raise ValueError(f"{name} must be a non-empty tuple of positive integers, got {hidden!r}")
    hid = tuple(hidden)
    if len(hid) == 0 or any(not is_int(h) or h < 1 for h in hid):
        raise ValueError(f"{name} must be a non-empty tuple of positive integers, got {hidden!r}")
    return tuple(int(h) for h in hid)


def init_params(arch: Architecture, rng=None, *, seed=None, scheme: str = "auto") -> np.ndarray:
    """Initial flat parameter vector: Gaussian weights, zero biases.

    ``scheme="he"``: ``W ~ N(0, 2/fan_in)`` (He et al. 2015, for ReLU); ``"lecun"``:
    ``N(0, 1/fan_in)`` (LeCun 1998, for tanh); ``"auto"`` picks by activation. The linear
    head is always LeCun-initialised (it has no nonlinearity). Draws come from ``rng`` (or
    ``seed``) in layer order, so the same seed gives the same bits.
    """
    rng = check_rng(rng, seed)
    if scheme == "auto":
        scheme = "he" if arch.activation == "relu" else "lecun"
    if scheme not in ("he", "lecun"):
        raise ValueError(f"scheme must be 'he', 'lecun' or 'auto', got {scheme!r}")
    gain = 2.0 if scheme == "he" else 1.0
    parts = []
    d = arch.dims
    for i, o in zip(d[:-1], d[1:]):
        parts.append(rng.standard_normal(int(i * o)) * np.sqrt(gain / i))
        parts.append(np.zeros(int(o)))
    parts.append(rng.standard_normal(arch.head_in * arch.n_out) * np.sqrt(1.0 / arch.head_in))
    parts.append(np.zeros(arch.n_out))
    return np.ascontiguousarray(np.concatenate(parts))


# ----------------------------------------------------------------------------------- kernels


@njit(cache=True)
def _forward(params, dims, n_extra, n_out, act, X, extra, acts, hin, out):
    """Forward pass. Fills ``acts`` (post-activations, layer after layer, each ``(B, h_l)``),
    ``hin`` (``(B, d + n_extra)`` head input) and ``out`` (``(B, n_out)``)."""
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
                for c in range(o):
                    if A[r, c] <= 0.0:
                        dZ[r, c] = 0.0
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

    ``error_model="numpy"`` drops the per-element division-by-zero check (the divisors are
    ``1 - b**t > 0`` and ``sqrt(.) + eps > 0`` for validated hyper-parameters), which lets the
    loop vectorise: 4x faster with the same bits."""
    c1 = 1.0 - b1 ** t
    c2 = 1.0 - b2 ** t
    for i in range(params.shape[0]):
        g = grad[i]
        m[i] = b1 * m[i] + (1.0 - b1) * g
        v[i] = b2 * v[i] + (1.0 - b2) * g * g
        params[i] -= lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps)


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


# ------------------------------------------------------------------ plain-numpy references


def _act_numpy(z, act):
    return np.maximum(z, 0.0) if act == 0 else np.tanh(z)


def _unpack(params, arch):
    """List of (W, b) for the hidden layers and (Wh, bh) for the head (views)."""
    d = arch.dims
    layers, po = [], 0
    for i, o in zip(d[:-1], d[1:]):
        W = params[po:po + i * o].reshape(i, o); po += i * o
        b = params[po:po + o]; po += o
        layers.append((W, b))
    hi, no = arch.head_in, arch.n_out
    Wh = params[po:po + hi * no].reshape(hi, no); po += hi * no
    return layers, (Wh, params[po:po + no])


def _forward_numpy(params, arch, X, extra=None):
    """Reference forward: returns (out, activations list, head input)."""
    act = ACTIVATIONS[arch.activation]
    layers, (Wh, bh) = _unpack(params, arch)
    A, acts = X, []
    for W, b in layers:
        A = _act_numpy(A @ W + b, act)
        acts.append(A)
    hin = A if arch.n_extra == 0 else np.hstack([A, extra])
    return hin @ Wh + bh, acts, hin


def _loss_grad_numpy(params, arch, X, Y, cw, extra=None):
    """Reference loss and gradient (same conventions as :func:`_loss_grad`)."""
    act = ACTIVATIONS[arch.activation]
    layers, (Wh, bh) = _unpack(params, arch)
    out, acts, hin = _forward_numpy(params, arch, X, extra)
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


def _adam_numpy(params, grad, m, v, t, lr, b1, b2, eps):
    """Reference Adam step; returns new (params, m, v)."""
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad ** 2
    mh = m / (1 - b1 ** t)
    vh = v / (1 - b2 ** t)
    return params - lr * mh / (np.sqrt(vh) + eps), m, v


# ----------------------------------------------------------------------------- optimisers


class SGD:
    """Plain SGD, ``theta <- theta - lr * grad``."""

    code = 0

    def __init__(self, lr: float = 1e-2):
        self.lr = check_nonnegative(lr, "lr", allow_zero=False)
        self.t = 0
        self.m = self.v = np.zeros(0)
        self.b1 = self.b2 = self.eps = 0.0

    def bind(self, n_params: int) -> "SGD":
        return self

    def copy(self):
        o = SGD(self.lr)
        o.t = self.t
        return o


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction; state ``m``, ``v``, step count ``t``."""

    code = 1

    def __init__(self, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        self.lr = check_nonnegative(lr, "lr", allow_zero=False)
        for nm, b in (("b1", b1), ("b2", b2)):
            if check_nonnegative(b, nm) >= 1.0:
                raise ValueError(f"{nm} must be a number in [0, 1), got {b!r}")
        self.b1, self.b2, self.eps = float(b1), float(b2), check_nonnegative(eps, "eps", allow_zero=False)
        self.m = self.v = None
        self.t = 0

    def bind(self, n_params: int) -> "Adam":
        if self.m is None or self.m.shape[0] != n_params:
            self.m = np.zeros(n_params)
            self.v = np.zeros(n_params)
            self.t = 0
        return self

    def copy(self):
        o = Adam(self.lr, self.b1, self.b2, self.eps)
        if self.m is not None:
            o.m, o.v, o.t = self.m.copy(), self.v.copy(), self.t
        return o


def _check_opt(opt):
    if not isinstance(opt, (Adam, SGD)):
        raise ValueError(f"opt must be an Adam or SGD optimiser, got {type(opt).__name__}")
    return opt


# ------------------------------------------------------------------------------------ MLP


class MLP:
    """A multilayer perceptron with a penultimate representation layer and linear heads.

    Parameters
    ----------
    arch : Architecture
    rng, seed : numpy Generator or int (one of them)
        Used for the initial parameters (and, when ``arch.n_extra > 0``, the choice of
        which frozen initial features are appended).
    init : {"auto", "he", "lecun"}

    Attributes
    ----------
    params : ndarray
        Current flat parameter vector (float64, C-contiguous; updated in place).
    params0 : ndarray
        Frozen (read-only) copy of the initial parameters ``theta_0``.
    extra_idx : ndarray of int
        Which penultimate units of ``theta_0`` feed the head as frozen extra features.

    Notes
    -----
    Cost per step O(B * sum_l h_{l-1} h_l) multiply-adds, done by BLAS ``gemm`` inside the
    jitted kernels (numba ``np.dot``); everything else is fused loops without allocation.
    Workspaces are cached per batch size.
    """

    def __init__(self, arch: Architecture, rng=None, *, seed=None, init: str = "auto"):
        if not isinstance(arch, Architecture):
            raise ValueError(f"arch must be an Architecture, got {type(arch).__name__}")
        rng = check_rng(rng, seed)
        self.arch = arch
        self.params = init_params(arch, rng, scheme=init)
        self.params0 = self.params.copy()
        self.params0.flags.writeable = False
        if arch.n_extra:
            self.extra_idx = np.sort(rng.choice(arch.width, arch.n_extra, replace=False)).astype(np.int64)
        else:
            self.extra_idx = np.zeros(0, dtype=np.int64)
        self._dims = arch.dims
        self._act = ACTIVATIONS[arch.activation]
        self._ws = {}

    # -- helpers
    def _work(self, B):
        ws = self._ws.get(B)
        if ws is None:
            a = self.arch
            hmax = int(max(a.hidden))
            ws = dict(acts=np.empty(B * int(sum(a.hidden))), hin=np.empty((B, a.head_in)),
                      out=np.empty((B, a.n_out)), d1=np.empty(B * hmax), d2=np.empty(B * hmax))
            self._ws[B] = ws
        return ws

    def _X(self, X):
        X = check_matrix(X, "X", cols=self.arch.d_in)
        if X.shape[0] == 0:
            raise ValueError("X must have at least one row")
        return X

    def _params(self, params):
        """Validate an explicit flat parameter vector (length ``arch.n_params``, finite)."""
        if isinstance(params, np.ndarray) and np.iscomplexobj(params):
            raise ValueError("params must be real, got a complex array")
        try:
            p = np.ascontiguousarray(params, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"params must be a flat vector of {self.arch.n_params} numbers") from None
        if p.shape != (self.arch.n_params,) or not np.all(np.isfinite(p)):
            raise ValueError(f"params must be a flat vector of {self.arch.n_params} finite numbers, "
                             f"got shape {p.shape}")
        return p

    def _extra(self, X):
        if self.arch.n_extra == 0:
            return np.zeros((X.shape[0], 0))
        return np.ascontiguousarray(self.initial_features(X)[:, self.extra_idx])

    # -- evaluation
    def forward(self, X, params=None) -> np.ndarray:
        """Head outputs ``(B, n_out)`` at ``params`` (default: current)."""
        out, _ = self.forward_features(X, params)
        return out

    def forward_features(self, X, params=None):
        """``(outputs (B, n_out), penultimate features (B, d))`` in one pass."""
        X = self._X(X)
        p = self.params if params is None else self._params(params)
        B = X.shape[0]
        ws = self._work(B)
        extra = self._extra(X)
        out = np.empty((B, self.arch.n_out))
        _forward(p, self._dims, self.arch.n_extra, self.arch.n_out, self._act, X, extra,
                 ws["acts"], ws["hin"], out)
        return out, ws["hin"][:, :self.arch.width].copy()

    def features(self, X) -> np.ndarray:
        """Penultimate representation ``phi(x; theta)``, shape ``(B, d)``."""
        return self.forward_features(X)[1]

    def initial_features(self, X) -> np.ndarray:
        """Penultimate representation at the frozen initial parameters ``phi(x; theta_0)``."""
        X = self._X(X)
        B = X.shape[0]
        ws = self._work(B)
        out = np.empty((B, self.arch.n_out))
        zeros = np.zeros((B, self.arch.n_extra))     # extra does not affect phi itself
        _forward(self.params0, self._dims, self.arch.n_extra, self.arch.n_out, self._act, X,
                 zeros, ws["acts"], ws["hin"], out)
        return ws["hin"][:, :self.arch.width].copy()

    def initial_forward(self, X) -> np.ndarray:
        """Head outputs at ``theta_0`` (with the same frozen extra features)."""
        return self.forward(X, self.params0)

    # -- training
    def _targets(self, X, Y, cw):
        B = X.shape[0]
        Y = check_matrix(Y, "Y", rows=B, cols=self.arch.n_out)
        cw = np.ascontiguousarray(cw, dtype=np.float64)
        if cw.shape != (self.arch.n_out,) or not np.all(np.isfinite(cw)) or np.any(cw < 0):
            raise ValueError(f"cw must be {self.arch.n_out} finite non-negative column weights")
        return Y, cw

    def loss_grad(self, X, Y, cw):
        """Loss ``sum_j cw_j mean_b (g_j(x_b) - Y_bj)^2`` and its gradient w.r.t. params."""
        X = self._X(X)
        Y, cw = self._targets(X, Y, cw)
        ws = self._work(X.shape[0])
        grad = np.empty_like(self.params)
        loss = _loss_grad(self.params, self._dims, self.arch.n_extra, self.arch.n_out, self._act,
                          X, self._extra(X), Y, cw, ws["acts"], ws["hin"], ws["out"], ws["d1"],
                          ws["d2"], grad)
        return float(loss), grad

    def step(self, X, Y, cw, opt) -> float:
        """One optimiser step on a batch; returns the loss before the step."""
        X = self._X(X)
        Y, cw = self._targets(X, Y, cw)
        return self._step_unchecked(X, self._extra(X), Y, cw, _check_opt(opt))

    def _step_unchecked(self, X, extra, Y, cw, opt) -> float:
        ws = self._work(X.shape[0])
        if "grad" not in ws:
            ws["grad"] = np.empty_like(self.params)
        opt.bind(self.params.shape[0])
        opt.t += 1
        return float(_step(self.params, self._dims, self.arch.n_extra, self.arch.n_out,
                           self._act, X, extra, Y, cw, ws["acts"], ws["hin"], ws["out"],
                           ws["d1"], ws["d2"], ws["grad"], opt.code, opt.m, opt.v, opt.t,
                           opt.lr, opt.b1, opt.b2, opt.eps))

    def fit(self, X, Y, cw, opt, n_steps: int, batch_size: int, rng=None, *, seed=None) -> np.ndarray:
        """``n_steps`` minibatch steps (rows drawn uniformly with replacement from ``rng``).

        Returns the per-step losses. The whole loop runs inside one jitted call.
        """
        X = self._X(X)
        Y, cw = self._targets(X, Y, cw)
        _check_opt(opt)
        n_steps = check_int(n_steps, "n_steps", 0)
        B = check_int(batch_size, "batch_size", 1)
        rng = check_rng(rng, seed)
        batches = rng.integers(0, X.shape[0], size=(n_steps, B)).astype(np.int64)
        return self._fit_batches(X, self._extra(X), Y, cw, opt, batches)

    def fit_batches(self, X, Y, cw, opt, batches, extra=None) -> np.ndarray:
        """Train on the given minibatches: step s uses rows ``batches[s]`` of ``X`` and ``Y``.

        ``extra`` (rows aligned with ``X``) may pass precomputed frozen initial features
        (:meth:`_extra`) to avoid recomputing them; by default they are computed.
        """
        X = self._X(X)
        Y, cw = self._targets(X, Y, cw)
        _check_opt(opt)
        b = np.asarray(batches)
        if b.dtype == np.bool_ or not np.issubdtype(b.dtype, np.integer):
            raise ValueError(f"batches must be an integer array of row indices, got dtype {b.dtype}")
        batches = np.ascontiguousarray(b, dtype=np.int64)
        if batches.ndim != 2 or batches.shape[1] < 1 or (batches.size and (batches.min() < 0 or batches.max() >= X.shape[0])):
            raise ValueError(f"batches must be a 2-d array of row indices into X, got shape {batches.shape}")
        if extra is None:
            extra = self._extra(X)
        else:
            extra = check_matrix(extra, "extra", rows=X.shape[0], cols=self.arch.n_extra)
        return self._fit_batches(X, extra, Y, cw, opt, batches)

    def _fit_batches(self, X, extra, Y, cw, opt, batches):
        n_steps, B = batches.shape
        ws = self._work(B)
        if "grad" not in ws:
            ws["grad"] = np.empty_like(self.params)
        opt.bind(self.params.shape[0])
        losses = np.empty(n_steps)
        a = self.arch
        _fit(self.params, self._dims, a.n_extra, a.n_out, self._act, X, extra, Y, cw,
             batches, np.empty((B, a.d_in)), np.empty((B, a.n_extra)), np.empty((B, a.n_out)),
             ws["acts"], ws["hin"], ws["out"], ws["d1"], ws["d2"], ws["grad"], opt.code, opt.m,
             opt.v, opt.t, opt.lr, opt.b1, opt.b2, opt.eps, losses)
        opt.t += n_steps
        return losses

    def copy(self) -> "MLP":
        """Independent copy (current and frozen initial parameters, extra-feature choice)."""
        new = object.__new__(MLP)
        new.arch, new._dims, new._act = self.arch, self._dims, self._act
        new.params = self.params.copy()
        new.params0 = self.params0
        new.extra_idx = self.extra_idx
        new._ws = {}
        return new


# --------------------------------------------------------------------------------- warm-up


def _warmup():
    """Compile every kernel once on tiny inputs (both activations)."""
    for act in ("relu", "tanh"):
        arch = Architecture(3, (4, 5), 2, n_extra=1, activation=act)
        net = MLP(arch, seed=0)
        X = np.ones((2, 3))
        net.forward(X)
        net.loss_grad(X, np.zeros((2, 2)), np.ones(2))
        net.step(X, np.zeros((2, 2)), np.ones(2), Adam())
        net.step(X, np.zeros((2, 2)), np.ones(2), SGD())
        net.fit(X, np.zeros((2, 2)), np.ones(2), Adam(), 2, 2, seed=0)
