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
integer sizes. The jitted kernels live in :mod:`repdyn.kernels._nn_kernels`, the optimisers in
:mod:`repdyn.kernels.optim`; :class:`MLP` validates, coerces and allocates. Each kernel has an
independent plain-numpy twin in :mod:`repdyn.proofs.references` (``forward_numpy``,
``loss_grad_numpy``, ``adam_numpy``) that the tests and ``repdyn verify`` compare against.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repdyn.analysis.mdp import check_int, check_matrix, check_nonnegative, check_rng, is_int

from repdyn.kernels._nn_kernels import _fit, _forward, _loss_grad, _step
from repdyn.kernels.optim import SGD, Adam, _check_opt

__all__ = ["ACTIVATIONS", "INIT_SCHEMES", "Architecture", "MLP", "Adam", "SGD", "init_params"]

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

    Examples
    --------
    >>> from repdyn.kernels.nn import Architecture
    >>> a = Architecture(3, (4, 5), 2)
    >>> a.dims.tolist(), a.width, a.head_in
    ([3, 4, 5], 5, 5)
    >>> a.n_params == (3 * 4 + 4) + (4 * 5 + 5) + (5 * 2 + 2)     # weights and biases per layer
    True
    >>> a.n_body == a.n_params - (5 * 2 + 2)
    True
    >>> Architecture(3, (4,), 1, n_extra=5)
    Traceback (most recent call last):
    ...
    ValueError: n_extra must be an integer in [0, hidden[-1] = 4], got 5
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


#: Initialisation schemes of :func:`init_params`.
INIT_SCHEMES = ("auto", "he", "lecun", "torch")


def init_params(arch: Architecture, rng=None, *, seed=None, scheme: str = "auto") -> np.ndarray:
    """Initial flat parameter vector.

    Parameters
    ----------
    arch : Architecture
    rng, seed : numpy Generator or int (one of them)
        Source of every draw, taken in layer order (``W_1, b_1, ..., W_head, b_head``), so the
        same seed gives the same bits.
    scheme : {"auto", "he", "lecun", "torch"}
        ``"he"``: hidden weights ``N(0, 2/fan_in)`` (He et al. 2015, for ReLU), zero biases;
        ``"lecun"``: ``N(0, 1/fan_in)`` (LeCun 1998, for tanh), zero biases; for both the
        linear head is LeCun-initialised (it has no nonlinearity). ``"torch"``: PyTorch's
        default ``nn.Linear`` initialisation for every layer, head included: weights and
        biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (kaiming-uniform with ``a = sqrt(5)``
        gives exactly this weight bound). ``"auto"``: ``"he"`` for ReLU, ``"lecun"`` for tanh.

    Returns
    -------
    ndarray, shape (arch.n_params,), float64

    Raises
    ------
    ValueError
        If ``scheme`` is not one of :data:`INIT_SCHEMES`.

    Notes
    -----
    Cost O(n_params) draws. The fan-in of the head is ``arch.head_in`` (including frozen
    extra features).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.nn import Architecture, init_params
    >>> arch = Architecture(3, (4,), 2)
    >>> p = init_params(arch, seed=0)
    >>> p.shape == (arch.n_params,)
    True
    >>> bool(np.array_equal(p, init_params(arch, seed=0)))      # same seed, same bits
    True
    >>> bool(np.all(p[12:16] == 0))          # layout W_1 (3 x 4 = 12 entries), then b_1 = 0
    True
    >>> t = init_params(arch, seed=0, scheme="torch")
    >>> bool(np.all(np.abs(t[:16]) <= 1 / np.sqrt(3))), bool(np.all(t[12:16] != 0))
    (True, True)
    >>> init_params(arch, seed=0, scheme="xavier")
    Traceback (most recent call last):
    ...
    ValueError: scheme must be one of ('auto', 'he', 'lecun', 'torch'), got 'xavier'
    """
    rng = check_rng(rng, seed)
    if not isinstance(scheme, str) or scheme not in INIT_SCHEMES:
        raise ValueError(f"scheme must be one of {INIT_SCHEMES}, got {scheme!r}")
    if scheme == "auto":
        scheme = "he" if arch.activation == "relu" else "lecun"
    parts = []
    d = arch.dims
    fans = [(int(i), int(o)) for i, o in zip(d[:-1], d[1:])] + [(arch.head_in, arch.n_out)]
    for layer, (i, o) in enumerate(fans):
        if scheme == "torch":
            bound = 1.0 / np.sqrt(i)
            parts.append(rng.uniform(-bound, bound, i * o))
            parts.append(rng.uniform(-bound, bound, o))
        else:
            head = layer == len(fans) - 1
            gain = 2.0 if (scheme == "he" and not head) else 1.0
            parts.append(rng.standard_normal(i * o) * np.sqrt(gain / i))
            parts.append(np.zeros(o))
    return np.ascontiguousarray(np.concatenate(parts))


# ------------------------------------------------------------------------------ layout


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


# ------------------------------------------------------------------------------------ MLP


class MLP:
    """A multilayer perceptron with a penultimate representation layer and linear heads.

    Parameters
    ----------
    arch : Architecture
    rng, seed : numpy Generator or int (one of them)
        Used for the initial parameters (and, when ``arch.n_extra > 0``, the choice of
        which frozen initial features are appended).
    init : {"auto", "he", "lecun", "torch"}
        Initialisation scheme (:func:`init_params`).

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

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.nn import Architecture, MLP
    >>> from repdyn.kernels.optim import Adam
    >>> net = MLP(Architecture(3, (16,), 1), seed=0)
    >>> X = np.random.default_rng(0).standard_normal((32, 3))
    >>> Y = X[:, :1] ** 2
    >>> net.forward(X).shape, net.features(X).shape
    ((32, 1), (32, 16))
    >>> loss, grad = net.loss_grad(X, Y, np.ones(1))       # the loss is the mean squared error
    >>> bool(np.isclose(loss, np.mean((net.forward(X) - Y) ** 2))), grad.shape == net.params.shape
    (True, True)
    >>> losses = net.fit(X, Y, np.ones(1), Adam(1e-2), 200, 16, seed=0)
    >>> bool(losses[-20:].mean() < losses[:20].mean())
    True
    >>> bool(np.allclose(net.initial_forward(X), net.forward(X, net.params0)))   # theta_0 is kept
    True
    >>> net.params0.flags.writeable
    False
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
