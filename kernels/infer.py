"""InFeR (docs: theory/c12; Lyle, Rowland & Dabney, ICLR 2022) and its two ablations from the talk.

InFeR adds ``k`` linear heads ``g_1..g_k`` on the penultimate features and regresses them
onto ``beta`` times their own outputs at initialisation:

    L_InFeR(theta, theta_0; B, beta) = E_{x ~ B} sum_{i=1}^k (g_i(x; theta) - beta g_i(x; theta_0))^2 ,

added to the main loss with weight ``alpha``. Defaults k = 10, beta = 100, alpha = 0.1
(the issue's defaults; public reimplementations used beta = 175, alpha = 0.05 on Atari).
The InFeR heads are ordinary output columns of :class:`kernels.nn.MLP` — by convention the
*last* ``k`` columns — so training needs no special code: their targets are the constants
``beta * g_i(x; theta_0)`` and their column weight is ``alpha``.

Ablations (the talk's "How does InFeR work?"):

* **H1** — no InFeR loss; a random subset of the network's *frozen initial* penultimate
  features is appended to the penultimate layer and the linear heads may use it
  (:class:`kernels.nn.Architecture` ``n_extra``). Tests whether InFeR helps because the
  random initial subspace is useful for prediction.
* **H2** — InFeR with the penultimate width doubled and the same number of heads: more
  degrees of freedom for the representation to drift while the heads stay fitted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repdyn.analysis.mdp import check_int, check_nonnegative, is_int
from repdyn.kernels.nn import Architecture, MLP, check_hidden

__all__ = ["InferConfig", "VARIANTS", "variant_architecture", "infer_columns", "infer_targets",
           "infer_loss", "build", "infer_objective"]

#: Learner variants: plain, with InFeR, and the two ablations.
VARIANTS = ("none", "infer", "h1", "h2")


@dataclass(frozen=True)
class InferConfig:
    """InFeR hyper-parameters: ``k`` heads, target scale ``beta``, loss weight ``alpha``.

    Examples
    --------
    >>> from repdyn.kernels.infer import InferConfig
    >>> InferConfig()
    InferConfig(k=10, beta=100.0, alpha=0.1)
    >>> InferConfig(k=0)
    Traceback (most recent call last):
    ...
    ValueError: k must be an integer >= 1, got 0
    """

    k: int = 10
    beta: float = 100.0
    alpha: float = 0.1

    def __post_init__(self):
        check_int(self.k, "k", 1)
        for nm in ("beta", "alpha"):
            check_nonnegative(getattr(self, nm), nm)


def variant_architecture(variant: str, d_in: int, hidden, n_main: int, cfg: InferConfig = InferConfig(),
                         *, activation: str = "relu", h1_features=None):
    """Architecture of a learner variant and the indices of its InFeR columns.

    ``n_main`` output columns (main + other auxiliary heads) come first; InFeR variants add
    ``cfg.k`` columns after them. ``"h2"`` doubles the last hidden width; ``"h1"`` appends
    ``h1_features`` frozen initial features (default: ``cfg.k``, as many directions as InFeR
    pins down).

    Returns
    -------
    arch : Architecture
    cols : ndarray of int (the InFeR columns; empty for "none" and "h1")

    Examples
    --------
    >>> from repdyn.kernels.infer import InferConfig, variant_architecture
    >>> cfg = InferConfig(k=3)
    >>> arch, cols = variant_architecture("infer", 4, (8, 8), 1, cfg)
    >>> arch.n_out, cols.tolist()                  # main head, then the k InFeR heads
    (4, [1, 2, 3])
    >>> arch, cols = variant_architecture("h2", 4, (8, 8), 1, cfg)
    >>> arch.hidden, arch.n_out                    # doubled width, same heads
    ((8, 16), 4)
    >>> arch, cols = variant_architecture("h1", 4, (8, 8), 1, cfg)
    >>> arch.n_extra, arch.n_out, cols.size        # k frozen features, no InFeR heads
    (3, 1, 0)
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if not isinstance(cfg, InferConfig):
        raise ValueError(f"cfg must be an InferConfig, got {type(cfg).__name__}")
    hidden = check_hidden(hidden)
    d_in = check_int(d_in, "d_in", 1)
    n_main = check_int(n_main, "n_main", 1)
    n_extra = 0
    if variant == "h2":
        hidden = hidden[:-1] + (2 * hidden[-1],)
    if variant == "h1":
        n_extra = cfg.k if h1_features is None else check_int(h1_features, "h1_features", 1)
    elif h1_features is not None:
        check_int(h1_features, "h1_features", 1)
    k = cfg.k if variant in ("infer", "h2") else 0
    arch = Architecture(d_in, hidden, n_main + k, n_extra=n_extra, activation=activation)
    return arch, np.arange(n_main, n_main + k, dtype=np.int64)


def build(variant: str, d_in: int, hidden, n_main: int, rng=None, *, seed=None,
          cfg: InferConfig = InferConfig(), activation: str = "relu", h1_features=None,
          init: str = "auto"):
    """A fresh :class:`MLP` for ``variant`` and its InFeR columns (see :func:`variant_architecture`).

    ``init`` is the initialisation scheme (:func:`kernels.nn.init_params`: ``"auto"``, ``"he"``,
    ``"lecun"`` or ``"torch"``).

    Examples
    --------
    >>> from repdyn.kernels.infer import InferConfig, build
    >>> net, cols = build("infer", 4, (8,), 1, seed=0, cfg=InferConfig(k=2))
    >>> net.arch.n_out, cols.tolist()
    (3, [1, 2])
    >>> build("plain", 4, (8,), 1, seed=0)
    Traceback (most recent call last):
    ...
    ValueError: variant must be one of ('none', 'infer', 'h1', 'h2'), got 'plain'
    """
    arch, cols = variant_architecture(variant, d_in, hidden, n_main, cfg, activation=activation,
                                      h1_features=h1_features)
    return MLP(arch, rng, seed=seed, init=init), cols


def infer_columns(net: MLP, k: int) -> np.ndarray:
    """Indices of the last ``k`` output columns (the InFeR heads by convention).

    Examples
    --------
    >>> from repdyn.kernels.infer import InferConfig, build, infer_columns
    >>> net, cols = build("infer", 4, (8,), 1, seed=0, cfg=InferConfig(k=2))
    >>> infer_columns(net, 2).tolist() == cols.tolist()
    True
    >>> infer_columns(net, 4)
    Traceback (most recent call last):
    ...
    ValueError: k must be an integer in [1, n_out = 3], got 4
    """
    if not isinstance(net, MLP):
        raise ValueError(f"net must be a kernels.nn.MLP, got {type(net).__name__}")
    if not is_int(k) or not (1 <= k <= net.arch.n_out):
        raise ValueError(f"k must be an integer in [1, n_out = {net.arch.n_out}], got {k!r}")
    return np.arange(net.arch.n_out - int(k), net.arch.n_out, dtype=np.int64)


def _check_cols(net, cols):
    """Validate InFeR column indices: a non-empty 1-d integer array of distinct indices in [0, n_out)."""
    if not isinstance(net, MLP):
        raise ValueError(f"net must be a kernels.nn.MLP, got {type(net).__name__}")
    c = np.asarray(cols)
    if (c.ndim != 1 or c.size == 0 or c.dtype == np.bool_ or not np.issubdtype(c.dtype, np.integer)
            or c.min() < 0 or c.max() >= net.arch.n_out or np.unique(c).size != c.size):
        raise ValueError(f"cols must be distinct integer output-column indices in [0, {net.arch.n_out}), "
                         f"got {cols!r}")
    return c.astype(np.int64)


def infer_targets(net: MLP, X, cols, beta: float) -> np.ndarray:
    """InFeR regression targets ``beta * g_i(x; theta_0)`` for the columns ``cols``, ``(B, k)``.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.infer import InferConfig, build, infer_targets
    >>> net, cols = build("infer", 4, (8,), 1, seed=0, cfg=InferConfig(k=2))
    >>> X = np.random.default_rng(0).standard_normal((5, 4))
    >>> T = infer_targets(net, X, cols, 100.0)
    >>> T.shape
    (5, 2)
    >>> bool(np.allclose(T, 100.0 * net.initial_forward(X)[:, cols]))
    True
    """
    cols = _check_cols(net, cols)
    beta = check_nonnegative(beta, "beta")
    return beta * net.initial_forward(X)[:, cols]


def infer_loss(net: MLP, X, cols, beta: float) -> float:
    """``E_x sum_i (g_i(x; theta) - beta g_i(x; theta_0))^2`` over the rows of ``X`` (docs: theory/c12).

    Zero at initialisation when ``beta = 1``; equals ``(beta - 1)^2 E sum_i g_i(x; theta_0)^2``
    at initialisation in general.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.infer import InferConfig, build, infer_loss
    >>> net, cols = build("infer", 4, (8,), 1, seed=0, cfg=InferConfig(k=2))
    >>> X = np.random.default_rng(0).standard_normal((5, 4))
    >>> infer_loss(net, X, cols, 1.0)
    0.0
    >>> g0 = net.initial_forward(X)[:, cols]
    >>> bool(np.isclose(infer_loss(net, X, cols, 3.0), 4.0 * np.mean(np.sum(g0 ** 2, axis=1))))
    True
    """
    cols = _check_cols(net, cols)
    beta = check_nonnegative(beta, "beta")
    g = net.forward(X)[:, cols]
    return float(np.mean(np.sum((g - infer_targets(net, X, cols, beta)) ** 2, axis=1)))


def infer_objective(net: MLP, X, cols, cfg: InferConfig = InferConfig(), main_weight: float = 1.0):
    """The whole training objective's layout for a net with InFeR heads: targets and column weights.

    Returns ``Y`` of shape ``(n, n_out)`` holding the InFeR targets ``beta g_i(x; theta_0)`` in
    the columns ``cols`` and zeros elsewhere (the caller writes its main targets there), and
    ``cw`` of shape ``(n_out,)`` with ``alpha`` on ``cols`` and ``main_weight`` on every other
    column, so that :meth:`kernels.nn.MLP.fit` minimises
    ``sum_main main_weight * MSE + alpha * L_InFeR`` (docs: theory/c12). With ``cols`` empty
    (variants ``"none"``, ``"h1"``) it returns zeros and ``main_weight`` everywhere.

    Parameters
    ----------
    net : kernels.nn.MLP
    X : array_like, shape (n, d_in)
    cols : array_like of int
        InFeR output columns (from :func:`build` or :func:`infer_columns`); may be empty.
    cfg : InferConfig
        ``beta`` scales the targets, ``alpha`` is the InFeR column weight.
    main_weight : float
        Weight of every non-InFeR column (>= 0).

    Returns
    -------
    Y : ndarray, shape (n, n_out)
    cw : ndarray, shape (n_out,)

    Raises
    ------
    ValueError
        On a bad network, columns, configuration or weight.

    Notes
    -----
    Cost: one forward pass at ``theta_0`` over ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.infer import InferConfig, build, infer_objective
    >>> cfg = InferConfig(k=2, beta=10.0, alpha=0.5)
    >>> net, cols = build("infer", 4, (8,), 1, seed=0, cfg=cfg)
    >>> X = np.random.default_rng(0).standard_normal((5, 4))
    >>> Y, cw = infer_objective(net, X, cols, cfg)
    >>> Y.shape, cw.tolist()
    ((5, 3), [1.0, 0.5, 0.5])
    >>> bool(np.allclose(Y[:, cols], 10.0 * net.initial_forward(X)[:, cols])), bool(np.all(Y[:, 0] == 0))
    (True, True)
    """
    if not isinstance(net, MLP):
        raise ValueError(f"net must be a kernels.nn.MLP, got {type(net).__name__}")
    if not isinstance(cfg, InferConfig):
        raise ValueError(f"cfg must be an InferConfig, got {type(cfg).__name__}")
    main_weight = check_nonnegative(main_weight, "main_weight")
    X = net._X(X)
    Y = np.zeros((X.shape[0], net.arch.n_out))
    cw = np.full(net.arch.n_out, float(main_weight))
    if np.asarray(cols).size:
        cols = _check_cols(net, cols)
        Y[:, cols] = infer_targets(net, X, cols, cfg.beta)
        cw[cols] = cfg.alpha
    return Y, cw
