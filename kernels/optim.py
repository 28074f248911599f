"""Optimisers of the MLP: plain SGD and Adam (Kingma & Ba 2015, bias-corrected).

The objects hold the state (``m``, ``v``, step count ``t``) and validate their settings; the
update itself runs inside the jitted training loop (:mod:`repdyn.kernels._nn_kernels`:
``_adam``, ``_sgd``). Independent numpy twin: :func:`repdyn.proofs.references.adam_numpy`.
"""
from __future__ import annotations

import numpy as np

from repdyn.analysis.mdp import check_nonnegative

__all__ = ["SGD", "Adam"]


class SGD:
    """Plain SGD, ``theta <- theta - lr * grad``.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.nn import Architecture, MLP
    >>> from repdyn.kernels.optim import SGD
    >>> net = MLP(Architecture(2, (4,), 1), seed=0)
    >>> X, Y, cw = np.ones((3, 2)), np.zeros((3, 1)), np.ones(1)
    >>> theta = net.params.copy()
    >>> _, g = net.loss_grad(X, Y, cw)
    >>> _ = net.step(X, Y, cw, SGD(lr=0.1))
    >>> bool(np.allclose(net.params, theta - 0.1 * g))
    True
    >>> SGD(lr=0)
    Traceback (most recent call last):
    ...
    ValueError: lr must be finite and > 0, got 0.0
    """

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
    """Adam (Kingma & Ba 2015) with bias correction; state ``m``, ``v``, step count ``t``.

    Examples
    --------
    With bias correction the first step moves every parameter by about ``lr`` against the sign
    of its gradient (``m_hat = g``, ``v_hat = g^2``):

    >>> import numpy as np
    >>> from repdyn.kernels.nn import Architecture, MLP
    >>> from repdyn.kernels.optim import Adam
    >>> net = MLP(Architecture(2, (4,), 1), seed=0)
    >>> X, Y, cw = np.ones((3, 2)), np.zeros((3, 1)), np.ones(1)
    >>> theta = net.params.copy()
    >>> _, g = net.loss_grad(X, Y, cw)
    >>> opt = Adam(lr=1e-3)
    >>> _ = net.step(X, Y, cw, opt)
    >>> big = np.abs(g) > 1e-6
    >>> bool(np.allclose((net.params - theta)[big], -1e-3 * np.sign(g[big]), rtol=1e-3))
    True
    >>> opt.t, opt.m.shape == net.params.shape
    (1, True)
    >>> Adam(b1=1.0)
    Traceback (most recent call last):
    ...
    ValueError: b1 must be a number in [0, 1), got 1.0
    """

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
