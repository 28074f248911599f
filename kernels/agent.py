"""A semi-gradient TD(0) agent with a target network on the MDPs of ``analysis/mdp.py`` (docs: theory/c13).

Policy evaluation under a fixed policy: the MDP is ``(P, R, gamma)`` with ``n`` states, and
each state ``s`` is shown to the network as an observation vector ``o(s)``
(:func:`observations`: one-hot, Gaussian random projections, or 8x8 digit images where
state ``s`` shows an image of class ``s mod 10``).

Data: :func:`load_digits` reads the 8x8 hand-written digits shipped inside the package
(``kernels/data/digits.npz``: 1797 images of 64 pixels with values 0..16 stored as uint8,
and their labels 0..9). Provenance and licence: the UCI ML hand-written digits data set
(Alpaydin & Kaynak, 1998; test set of "Optical Recognition of Handwritten Digits"), as
distributed by scikit-learn (``sklearn.datasets.load_digits``, BSD-3-Clause); the array is
byte-for-byte scikit-learn's, which a test checks whenever scikit-learn is importable.
No scikit-learn is needed at run time and there is no synthetic fallback.

Every step samples a minibatch of states uniformly, next states ``s' ~ P(s, .)`` (or uses the
expected next value when ``sample_next=False``), and takes one optimiser step on

    sum_j c_j mean_b (g_j(o(s_b); theta) - y_bj)^2,
    y_bj = r_j(s_b) + gamma_j g_j(o(s'_b); theta^-)      (TD heads, theta^- the target network)
    y_bj = beta g_j(o(s_b); theta_0)                      (InFeR heads, c_j = alpha)

Column 0 is the main value head (reward ``R``, discount ``gamma``). Auxiliary heads on the
shared penultimate representation (``aux``):

* ``"ensemble"``: ``n_aux`` more value heads on ``R`` (independently initialised);
* ``"cumulants"``: ``n_aux`` heads predicting random cumulants ``r_m ~ N(0, 1)`` per state
  (fixed at construction);
* ``"discounts"``: ``n_aux`` value heads on ``R`` with discounts ``gamma_j`` evenly spaced in
  ``[gamma / 2, gamma]``;
* ``"infer"``: InFeR heads (docs: theory/c12).

The target network is refreshed every ``target_update`` steps; its outputs on all ``n``
states are tabulated then, so the targets of a whole period cost one forward pass.

Logged every ``log_every`` steps over all n states: feature rank (docs: theory/c10) of the n x d
penultimate features, their norm ``||Phi||_F / sqrt(n)``, the value error of the main head
against ``V* = (I - gamma P)^{-1} R`` (solved, not inverted), optionally the capacity
(docs: theory/c11), and the Grassmann distance between the top-k left singular subspace of ``Phi``
and the top-k EBFs and RSBFs of ``P`` (the talk's last slide), next to the mean distance of
random k-subspaces as the no-structure baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from importlib import resources

import numpy as np

from repdyn.analysis.mdp import (check_gamma, check_int, check_k, check_matrix, check_nonnegative, check_rng,
                          check_transition, check_vector)
from repdyn.analysis.spectral import UndefinedSubspaceError, ebfs, grassmann_distance, rsbfs
from repdyn.kernels.infer import InferConfig, build, infer_targets
from repdyn.kernels.nn import ACTIVATIONS, Adam, SGD, check_hidden
from repdyn.kernels.probes import (RANK_EPS, capacity, feature_rank, is_dead, make_targets,
                                   srank_of_singular_values)

__all__ = ["AUX_TASKS", "OBSERVATIONS", "AgentConfig", "TDAgent", "observations", "load_digits",
           "DIGITS_SOURCE"]

AUX_TASKS = ("none", "ensemble", "cumulants", "discounts", "infer")
OBSERVATIONS = ("onehot", "random", "digits")


def observations(n: int, kind: str = "onehot", rng=None, *, seed=None, dim: int = 32) -> np.ndarray:
    """Observation matrix ``(n, d_in)``: row s is what the network sees in state s.

    ``"onehot"``: the identity (d_in = n). ``"random"``: iid ``N(0, 1/dim)`` vectors of
    length ``dim`` (a random projection of the one-hot code; distinct states stay distinct
    almost surely). ``"digits"``: the 8x8 hand-written digits shipped with the package
    (:func:`load_digits`); state s shows a randomly chosen image of class ``s mod 10``,
    pixels scaled to [0, 1] (d_in = 64).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.agent import observations
    >>> bool(np.array_equal(observations(4), np.eye(4)))
    True
    >>> O = observations(5, "random", seed=0, dim=8)
    >>> O.shape, int(np.linalg.matrix_rank(O))          # distinct states stay distinct
    ((5, 8), 5)
    >>> observations(3, "pixels")
    Traceback (most recent call last):
    ...
    ValueError: kind must be one of ('onehot', 'random', 'digits'), got 'pixels'
    """
    n = check_k(n, 10**7, "n")
    if kind not in OBSERVATIONS:
        raise ValueError(f"kind must be one of {OBSERVATIONS}, got {kind!r}")
    if kind == "onehot":
        return np.eye(n)
    rng = check_rng(rng, seed)
    if kind == "random":
        dim = check_k(dim, 10**6, "dim")
        return rng.standard_normal((n, dim)) / np.sqrt(dim)
    images, labels = load_digits()
    out = np.empty((n, images.shape[1]))
    for s in range(n):
        idx = np.flatnonzero(labels == s % 10)
        out[s] = images[rng.choice(idx)]
    return out


#: Name of the shipped digits data set, as experiments record it.
DIGITS_SOURCE = "uci-digits-8x8"

_DIGITS: dict = {}


def load_digits():
    """The shipped 8x8 hand-written digits: ``(images (1797, 64) in [0, 1], labels (1797,))``.

    Pixel values 0..16 divided by 16 (float64, C-contiguous), labels 0..9 (int64). Read once
    from ``kernels/data/digits.npz`` and cached; each call returns fresh copies.

    Returns
    -------
    images : ndarray, shape (1797, 64), float64
    labels : ndarray, shape (1797,), int64

    Raises
    ------
    FileNotFoundError
        When the package data file is missing (a broken install): there is no fallback.

    Notes
    -----
    Provenance: UCI ML hand-written digits (Alpaydin & Kaynak 1998) as distributed by
    scikit-learn's ``load_digits`` (BSD-3-Clause). Cost: one read of a 45 kB file.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.agent import load_digits
    >>> images, labels = load_digits()
    >>> images.shape, labels.shape, float(images.min()), float(images.max())
    ((1797, 64), (1797,), 0.0, 1.0)
    >>> np.bincount(labels).tolist()
    [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    """
    if not _DIGITS:
        with resources.files(__package__).joinpath("data").joinpath("digits.npz").open("rb") as fh:
            with np.load(fh) as z:
                _DIGITS["images"] = np.ascontiguousarray(z["images"], dtype=np.float64) / 16.0
                _DIGITS["labels"] = np.asarray(z["labels"], dtype=np.int64)
    return _DIGITS["images"].copy(), _DIGITS["labels"].copy()


def load_digits_or_none():
    """Deprecated name of :func:`load_digits` (the data now ships with the package, so the
    result is never ``(None, None)``)."""
    return load_digits()


@dataclass
class AgentConfig:
    """Hyper-parameters of :class:`TDAgent` (all configurable; defaults are small).

    Examples
    --------
    >>> from repdyn.kernels.agent import AgentConfig
    >>> cfg = AgentConfig(hidden=[32, 32], aux="ensemble", n_aux=4)
    >>> cfg.hidden, cfg.optimiser, cfg.to_dict()["hidden"]
    ((32, 32), 'adam', [32, 32])
    >>> AgentConfig(variant="h2")
    Traceback (most recent call last):
    ...
    ValueError: variant 'h2' (doubled width, same InFeR heads) needs aux='infer'
    """

    hidden: tuple = (64, 64)
    activation: str = "relu"
    aux: str = "none"
    n_aux: int = 10
    aux_weight: float = 1.0
    variant: str = "base"            # "base", or the InFeR ablations "h1" / "h2"
    h1_features: int | None = None
    infer: InferConfig = field(default_factory=InferConfig)
    optimiser: str = "adam"
    lr: float = 1e-3
    batch_size: int = 32
    target_update: int = 50
    sample_next: bool = True
    log_every: int = 100
    k_subspace: int = 5
    rank_eps: float = RANK_EPS
    capacity_every: int = 0          # 0: never (logs NaN); m: at every m-th log
    capacity_targets: int = 2
    capacity_steps: int = 200

    def __post_init__(self):
        if self.aux not in AUX_TASKS:
            raise ValueError(f"aux must be one of {AUX_TASKS}, got {self.aux!r}")
        if self.variant not in ("base", "h1", "h2"):
            raise ValueError(f"variant must be 'base', 'h1' or 'h2', got {self.variant!r}")
        if self.variant == "h2" and self.aux != "infer":
            raise ValueError("variant 'h2' (doubled width, same InFeR heads) needs aux='infer'")
        if self.optimiser not in ("adam", "sgd"):
            raise ValueError(f"optimiser must be 'adam' or 'sgd', got {self.optimiser!r}")
        self.hidden = check_hidden(self.hidden)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        for nm in ("n_aux", "batch_size", "target_update", "log_every", "k_subspace",
                   "capacity_targets", "capacity_steps"):
            setattr(self, nm, check_int(getattr(self, nm), nm, 1))
        self.capacity_every = check_int(self.capacity_every, "capacity_every", 0)
        if self.h1_features is not None:
            self.h1_features = check_int(self.h1_features, "h1_features", 1)
        self.aux_weight = check_nonnegative(self.aux_weight, "aux_weight")
        self.lr = check_nonnegative(self.lr, "lr", allow_zero=False)
        self.rank_eps = check_nonnegative(self.rank_eps, "rank_eps", allow_zero=False)
        if not isinstance(self.sample_next, (bool, np.bool_)):
            raise ValueError(f"sample_next must be True or False, got {self.sample_next!r}")
        self.sample_next = bool(self.sample_next)
        if not isinstance(self.infer, InferConfig):
            raise ValueError(f"infer must be an InferConfig, got {type(self.infer).__name__}")

    def to_dict(self):
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


class TDAgent:
    """Semi-gradient TD(0) with a target network; see the module docstring.

    Parameters
    ----------
    P : (n, n) row-stochastic (dense or scipy sparse)
    R : (n,) reward of the main head (changeable later: :meth:`train` takes ``R``)
    gamma : float in [0, 1)
    obs : (n, d_in) observations (see :func:`observations`)
    config : AgentConfig
    rng, seed : Generator or int — network initialisation, cumulants and all sampling

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> from repdyn.kernels.agent import AgentConfig, TDAgent, observations
    >>> P = random_walk_chain(6)
    >>> R = np.zeros(6); R[-1] = 1.0
    >>> cfg = AgentConfig(hidden=(16,), lr=3e-3, log_every=100, k_subspace=2)
    >>> agent = TDAgent(P, R, 0.9, observations(6), cfg, seed=0)
    >>> log = agent.train(300)
    >>> log["step"]
    [0, 100, 200, 300]
    >>> agent.features().shape, agent.values().shape
    ((6, 16), (6,))
    >>> bool(log["value_error"][-1] < log["value_error"][0])     # error against V* falls
    True
    """

    def __init__(self, P, R, gamma, obs, config: AgentConfig | None = None, rng=None, *, seed=None):
        import scipy.sparse as sp
        P = check_transition(P.toarray() if sp.issparse(P) else P, "P")
        self.P = P
        self.n = n = P.shape[0]
        self.R = check_vector(R, n, "R")
        self.gamma = check_gamma(gamma)
        self.obs = check_matrix(obs, "obs", rows=n)
        if config is not None and not isinstance(config, AgentConfig):
            raise ValueError(f"config must be an AgentConfig, got {type(config).__name__}")
        self.cfg = cfg = config or AgentConfig()
        self.rng = rng = check_rng(rng, seed)
        M = cfg.n_aux
        n_main = 1 + (M if cfg.aux in ("ensemble", "cumulants", "discounts") else 0)
        variant = {"base": "infer" if cfg.aux == "infer" else "none", "h1": "h1", "h2": "h2"}[cfg.variant]
        self.net, self.infer_cols = build(variant, self.obs.shape[1], cfg.hidden, n_main, rng,
                                          cfg=cfg.infer, activation=cfg.activation,
                                          h1_features=cfg.h1_features)
        n_out = self.net.arch.n_out
        # per-column reward source, discount and weight
        self.gammas = np.full(n_out, self.gamma)
        self.cw = np.full(n_out, float(cfg.aux_weight))
        self.cw[0] = 1.0
        self.cumulants = np.zeros((n, 0))
        if cfg.aux == "cumulants":
            self.cumulants = rng.standard_normal((n, M))
        if cfg.aux == "discounts":
            self.gammas[1:1 + M] = np.linspace(0.5 * self.gamma, self.gamma, M)
        if len(self.infer_cols):
            self.gammas[self.infer_cols] = 0.0
            self.cw[self.infer_cols] = cfg.infer.alpha
            self._infer_targets = infer_targets(self.net, self.obs, self.infer_cols, cfg.infer.beta)
        self._extra_obs = self.net._extra(self.obs)
        self.opt = Adam(cfg.lr) if cfg.optimiser == "adam" else SGD(cfg.lr)
        self._cumP = np.cumsum(P, axis=1)
        self.steps = 0
        self._target_out = None
        k = check_k(cfg.k_subspace, n, "k_subspace")
        self._bases = {}
        for nm, f in (("ebf", lambda: ebfs(P, k)), ("rsbf", lambda: rsbfs(P, self.gamma, k))):
            try:
                self._bases[nm] = f()
            except UndefinedSubspaceError as exc:
                # only a tie at k (the subspace is not defined) is logged as NaN; anything else
                # is a real error and propagates
                self._bases[nm] = str(exc)
        brng = np.random.default_rng([17, n, k])
        ref = self._bases["ebf"] if not isinstance(self._bases["ebf"], str) else np.eye(n)[:, :k]
        self.random_baseline = float(np.mean([grassmann_distance(np.linalg.qr(brng.standard_normal((n, k)))[0], ref)
                                              for _ in range(32)]))
        self.log = {key: [] for key in ("step", "rank", "srank", "feature_norm", "value_error", "td_loss",
                                        "d_ebf", "d_rsbf", "capacity", "dead")}
        self._losses = []

    # ------------------------------------------------------------------------- internals
    def _rewards(self, R):
        """Per-column immediate rewards (n, n_out)."""
        r = np.zeros((self.n, self.net.arch.n_out))
        cfg = self.cfg
        r[:, 0] = R
        M = cfg.n_aux
        if cfg.aux in ("ensemble", "discounts"):
            r[:, 1:1 + M] = R[:, None]
        elif cfg.aux == "cumulants":
            r[:, 1:1 + M] = self.cumulants
        return r

    def _refresh_target(self):
        out = self.net.forward(self.obs)
        self._target_out = out
        self._target_exp = self.P @ out

    def _period(self, n_steps, R):
        cfg = self.cfg
        B = cfg.batch_size
        s = self.rng.integers(0, self.n, size=n_steps * B)
        rew = self._rewards(R)[s]
        if cfg.sample_next:
            u = self.rng.random(n_steps * B)
            s2 = np.minimum((self._cumP[s] < u[:, None]).sum(axis=1), self.n - 1)
            boot = self._target_out[s2]
        else:
            boot = self._target_exp[s]
        Y = rew + self.gammas * boot
        if len(self.infer_cols):
            Y[:, self.infer_cols] = self._infer_targets[s]
        X = self.obs[s]
        extra = self._extra_obs[s]
        batches = np.arange(n_steps * B, dtype=np.int64).reshape(n_steps, B)
        losses = self.net._fit_batches(np.ascontiguousarray(X), np.ascontiguousarray(extra),
                                       np.ascontiguousarray(Y), self.cw, self.opt, batches)
        self._losses.extend(losses.tolist())

    def measure(self, R=None) -> dict:
        """Probes over all n states at the current parameters (one log row)."""
        R = self.R if R is None else R
        out, Phi = self.net.forward_features(self.obs)
        n, cfg = self.n, self.cfg
        Vstar = np.linalg.solve(np.eye(n) - self.gamma * self.P, R)
        nv = np.linalg.norm(Vstar)
        err = np.linalg.norm(out[:, 0] - Vstar)
        Uf, sv, _ = np.linalg.svd(Phi, full_matrices=False)     # one SVD: srank and the subspace
        row = dict(step=self.steps, rank=feature_rank(Phi, cfg.rank_eps),
                   srank=srank_of_singular_values(sv),
                   feature_norm=float(np.linalg.norm(Phi) / np.sqrt(n)),
                   value_error=float(err / nv if nv > 0 else err / np.sqrt(n)),
                   td_loss=float(np.mean(self._losses[-cfg.log_every:])) if self._losses else float("nan"))
        k = cfg.k_subspace
        U = Uf[:, :k]
        for nm in ("ebf", "rsbf"):
            B = self._bases[nm]
            row["d_" + nm] = float("nan") if isinstance(B, str) or U.shape[1] < k else grassmann_distance(U, B)
        row["capacity"] = float("nan")
        row["dead"] = bool(is_dead(self.net, self.obs))      # a ReLU layer off on every state
        if cfg.capacity_every and (len(self.log["step"]) % cfg.capacity_every == 0):
            crng = np.random.default_rng([23, self.steps])
            T = make_targets(self.obs, "random-network", cfg.capacity_targets, crng)
            row["capacity"] = capacity(self.net, self.obs, T, n_steps=cfg.capacity_steps,
                                       batch_size=min(cfg.batch_size, n), rng=crng)
        return row

    def _log(self, R):
        for key, v in self.measure(R).items():
            self.log[key].append(v)

    # --------------------------------------------------------------------------- public
    def train(self, n_steps: int, R=None, progress=None) -> dict:
        """Run ``n_steps`` TD steps with reward ``R`` (default: the agent's); returns the log.

        Logs at step 0 (if nothing logged yet) and every ``log_every`` steps.
        ``progress(steps_done, n_steps)`` is called after each chunk when given.
        """
        n_steps = check_int(n_steps, "n_steps", 0)
        R = self.R if R is None else check_vector(R, self.n, "R")
        cfg = self.cfg
        if not self.log["step"]:
            self._log(R)
        end = self.steps + n_steps
        while self.steps < end:
            if self._target_out is None or self.steps % cfg.target_update == 0:
                self._refresh_target()
            nxt = min(end, (self.steps // cfg.target_update + 1) * cfg.target_update,
                      (self.steps // cfg.log_every + 1) * cfg.log_every)
            self._period(nxt - self.steps, R)
            self.steps = nxt
            if self.steps % cfg.log_every == 0:
                self._log(R)
            if progress is not None:
                progress(self.steps - (end - n_steps), n_steps)
        return self.log

    def features(self) -> np.ndarray:
        """Penultimate features of all n states, ``(n, d)``."""
        return self.net.features(self.obs)

    def values(self) -> np.ndarray:
        """Main-head values of all n states."""
        return self.net.forward(self.obs)[:, 0]
