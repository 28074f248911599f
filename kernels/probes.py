"""Probes of a representation: feature rank and its relatives (C10), target-fitting capacity (C11).

All rank estimators take a feature matrix ``F`` of shape ``(n_samples, d)`` — one row per
input, e.g. the penultimate features ``phi(X)`` of a network — and are **uncentred**.
Names follow docs: theory/c10 exactly; none of them is called something it is not:

* :func:`feature_rank` — the talk's numerical rank
  ``rho_n = #{sigma in svd(F / sqrt(n)) : sigma > eps}`` (Lyle et al. 2022), eps = 0.01.
* :func:`effective_rank` — Roy & Vetterli (2007): ``exp(H(p))``, ``p_i = sigma_i / sum sigma``.
* :func:`srank` — Kumar et al. (2021): smallest k with ``sum_{i<=k} sigma_i >= (1 - delta)
  sum sigma``, delta = 0.01. (This is *not* the stable rank.)
* :func:`stable_rank` — ``||F||_F^2 / ||F||_2^2``.
* :func:`dormant_fraction` — ReDo (Sokar et al. 2023): fraction of units whose normalised
  mean absolute activation ``s_i = E|h_i| / mean_j E|h_j|`` is ``<= tau``.

The capacity probe (C11, :func:`capacity`) fits freshly drawn targets from the current
parameters with a fixed optimiser budget and returns the mean final MSE (lower = more
capacity); :func:`make_targets` draws the target families.

The update-space probes (C14) measure how an update on one state moves the predictions on
the others: :func:`ntk_gram` (the empirical NTK Gram matrix of per-state gradients, by
per-layer Gram identities in numba), :func:`ntk_ranks` (its rank, effective rank and
spectrum through the estimators above), :func:`interference_matrix` /
:func:`interference_score` (first order) and :func:`step_interference` (one exact SGD step),
and :func:`kernel_alignment` (top eigenvectors against the EBFs and RSBFs of P).
"""
from __future__ import annotations

import hashlib
import numbers

import numpy as np

from repdyn.analysis.mdp import check_int, check_matrix, check_nonnegative, check_rng, is_int
from repdyn.kernels.nn import MLP, Adam, Architecture

__all__ = ["RANK_EPS", "SRANK_DELTA", "feature_rank", "singular_values", "effective_rank",
           "srank", "stable_rank", "dormant_fraction", "TARGET_FAMILIES", "make_targets", "dead_units",
           "is_dead",
           "capacity", "gram_rank_certified", "ntk_gram", "per_state_gradients", "ntk_ranks",
           "interference_matrix", "interference_score", "step_interference", "kernel_alignment"]

#: Default threshold of the numerical feature rank (docs: theory/c10).
RANK_EPS = 0.01
#: Default delta of srank (Kumar et al. 2021).
SRANK_DELTA = 0.01
#: Aspect ratio max(n, d) / min(n, d) from which the Gram route is tried (below it an SVD
#: costs about the same as forming the Gram matrix, so there is nothing to gain).
GRAM_ASPECT = 2.0
#: Safety factor on the rigorous-up-to-constants rounding bound of the Gram route.
GRAM_SAFETY = 10.0


# ----------------------------------------------------------------------------- validation


def _features(F, name="features") -> np.ndarray:
    F = check_matrix(F, name)
    if F.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row (sample), got shape {F.shape}")
    return F


def _eps(eps, name="eps") -> float:
    if isinstance(eps, bool) or not isinstance(eps, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{name} must be a positive finite number, got {eps!r}")
    e = float(eps)
    if not np.isfinite(e) or e <= 0:
        raise ValueError(f"{name} must be a positive finite number (a threshold of 0 counts "
                         f"rounding noise), got {eps!r}")
    return e


# ------------------------------------------------------------------------------- ranks


def singular_values(features) -> np.ndarray:
    """Singular values of ``features / sqrt(n_samples)``, descending (uncentred).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.probes import singular_values
    >>> singular_values(np.diag([3.0, 4.0]) * np.sqrt(2)).tolist()   # of F / sqrt(n), descending
    [4.0, 3.0]
    """
    F = _features(features)
    if F.shape[1] == 0:
        return np.zeros(0)
    return np.linalg.svd(F, compute_uv=False) / np.sqrt(F.shape[0])


def gram_rank_certified(features, eps: float = RANK_EPS):
    """Rank by the Gram route, or ``None`` when it cannot be certified equal to the SVD rank.

    With ``m = min(n, d)`` and ``G = F^T F / n`` (or ``F F^T / n`` when ``n < d``), the
    squared singular values of ``F / sqrt(n)`` are the eigenvalues of ``G``. Rounding:
    forming ``G`` in floating point perturbs it by at most ``gamma_N ||F||_F^2 / n``
    (Higham, *Accuracy and Stability*, §3.5: ``|dG| <= gamma_N |F|^T|F|`` elementwise,
    ``N = max(n, d)`` the inner dimension, ``gamma_N = N u / (1 - N u)``), and a backward
    stable symmetric eigensolver adds at most ``m u ||G||_2``; by Weyl each eigenvalue moves
    by at most ``delta = GRAM_SAFETY * (gamma_N ||F||_F^2 / n + m u lambda_max)``. The
    count of eigenvalues above ``eps^2`` is therefore exact when no computed eigenvalue lies
    in ``[eps^2 - delta, eps^2 + delta]``; otherwise this returns ``None`` (the caller falls
    back to the SVD). The SVD's own singular values carry an absolute error of order
    ``u sigma_max``, far inside that window, so the two routes then count the same values.

    In words: the Gram route is safe while ``eps^2`` exceeds the rounding floor
    ``~ N u sum(sigma_i^2)``, i.e. ``sigma_max / eps`` is below about ``1 / sqrt(N d u)``
    (about 3e4 for ``N = 1e4``, ``d = 512``) and no singular value sits within that floor of
    eps. Features of a network at ordinary scale (``sigma_max`` up to ~1e2) are far inside.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.probes import feature_rank, gram_rank_certified
    >>> F = np.random.default_rng(0).standard_normal((2000, 30))
    >>> gram_rank_certified(F) == feature_rank(F) == 30
    True
    >>> print(gram_rank_certified(np.diag([1.0, 0.01 * np.sqrt(2)])))   # sigma_2 at eps: no certificate
    None
    """
    F = _features(features)
    eps = _eps(eps)
    n, d = F.shape
    if d == 0:
        return 0
    u = np.finfo(np.float64).eps / 2
    N, m = max(n, d), min(n, d)
    fro2 = float(np.einsum("ij,ij->", F, F)) / n
    if fro2 == 0.0:                   # exactly zero matrix: rank 0, nothing to round
        return 0
    G = (F.T @ F) if n >= d else (F @ F.T)
    G /= n
    lam = np.linalg.eigvalsh(G)
    gN = N * u / (1.0 - N * u)
    delta = GRAM_SAFETY * (gN * fro2 + m * u * max(lam[-1], 0.0))
    thr = eps * eps
    if np.any(np.abs(lam - thr) <= delta):
        return None
    return int(np.count_nonzero(lam > thr))


def feature_rank(features, eps: float = RANK_EPS) -> int:
    """Numerical feature rank ``rho_n(phi, X, eps)`` (docs: theory/c10, the talk's Part II).

    ``rho_n = #{sigma in svd(F / sqrt(n)) : sigma > eps}`` for ``F = phi(X)`` of shape
    ``(n_samples, d)``: uncentred, scaled by ``1/sqrt(n_samples)``; any shape (``n < d`` is
    fine; the rank is at most ``min(n, d)``); a zero matrix has rank 0.

    Parameters
    ----------
    features : array_like, shape (n_samples, d)
        Finite; at least one row.
    eps : float, default 0.01
        Threshold (> 0) on the scaled singular values.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``features`` not 2-d, non-finite or without rows; ``eps`` not a positive number.

    Notes
    -----
    For tall or wide matrices (aspect ratio >= ``GRAM_ASPECT``) the eigenvalues of the
    ``min(n, d)``-square Gram matrix are used when :func:`gram_rank_certified` proves the
    count equals the SVD count; otherwise (and for near-square matrices) a singular-value
    decomposition (LAPACK ``gesdd``) is used. Cost: Gram route ``O(n d min(n, d))`` for the
    product plus ``O(min(n, d)^3)``; SVD ``O(n d min(n, d))`` with a larger constant. Measured
    on 10^4 x 512 (``benchmarks/bench_rank.py``, one thread): 3-4.6x faster than
    ``np.linalg.svd(compute_uv=False)`` when certified; when the certificate declines (a
    singular value within the rounding floor of eps) the Gram work is wasted and the call
    costs about 1.2-1.6x the SVD alone.
    ``sqrt(n) sigma_i`` are the singular values of F, so ``rho_n`` counts eigenvalues of the
    empirical second-moment matrix ``F^T F / n`` above ``eps^2``; as n grows it converges to
    the number of eigenvalues of ``E[phi phi^T]`` above ``eps^2`` (when none equals eps^2).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.probes import feature_rank
    >>> rng = np.random.default_rng(0)
    >>> F = rng.standard_normal((1000, 3)) @ rng.standard_normal((3, 20))   # rank 3, 20 features
    >>> feature_rank(F)
    3
    >>> feature_rank(np.diag([1.0, 0.1, 0.001]) * np.sqrt(3))     # sigma/sqrt(n) vs eps = 0.01
    2
    >>> feature_rank(np.zeros((5, 4)))
    0
    """
    F = _features(features)
    eps = _eps(eps)
    n, d = F.shape
    if d == 0:
        return 0
    if max(n, d) >= GRAM_ASPECT * min(n, d):
        r = gram_rank_certified(F, eps)
        if r is not None:
            return r
    s = np.linalg.svd(F, compute_uv=False) / np.sqrt(n)
    return int(np.count_nonzero(s > eps))


def effective_rank(features) -> float:
    """Roy–Vetterli effective rank ``exp(-sum p_i log p_i)``, ``p_i = sigma_i / sum_j sigma_j``.

    Scale invariant (the 1/sqrt(n) scaling does not matter); lies in [1, min(n, d)] for a
    non-zero matrix; 0.0 for a zero matrix (by convention: no direction is used).
    Roy & Vetterli, *The effective rank*, EUSIPCO 2007. Terms with ``p_i = 0`` contribute 0.
    Cost: one SVD.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.probes import effective_rank
    >>> round(effective_rank(np.eye(4)), 12)                        # four equal directions
    4.0
    >>> round(effective_rank(np.diag([1.0, 0.0, 0.0])), 12)
    1.0
    """
    s = singular_values(features)
    tot = s.sum()
    if tot <= 0:
        return 0.0
    p = s[s > 0] / tot
    return float(np.exp(-np.sum(p * np.log(p))))


def srank(features, delta: float = SRANK_DELTA) -> int:
    """srank_delta (Kumar et al. 2021): smallest k with ``sum_{i<=k} sigma_i >= (1-delta) sum sigma``.

    Not the stable rank. Scale invariant; 0 for a zero matrix. ``0 < delta < 1``.
    Implementation: cumulative sums are compared with a relative slack of a few ulps so that
    exact ties (e.g. k equal singular values with delta = 1 - j/k) count as reached.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.probes import srank
    >>> srank(np.diag([1.0, 1.0, 1e-4]))                           # the tail holds < 1% of sum sigma
    2
    >>> srank(np.diag([1.0, 1.0, 1.0]), delta=0.5)                 # 2 of 3 reach 50%
    2
    """
    if isinstance(delta, bool) or not isinstance(delta, (numbers.Real, np.floating)) or not (0.0 < float(delta) < 1.0):
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    return srank_of_singular_values(singular_values(features), delta)


def srank_of_singular_values(s, delta: float = SRANK_DELTA) -> int:
    """:func:`srank` from singular values already at hand (descending; any common scale), for
    callers that have the SVD anyway. No validation: ``0 < delta < 1`` is the caller's."""
    s = np.asarray(s, dtype=np.float64)
    tot = s.sum()
    if tot <= 0:
        return 0
    c = np.cumsum(s)
    target = (1.0 - float(delta)) * tot
    slack = 8 * np.finfo(float).eps * tot
    return int(np.argmax(c >= target - slack) + 1)


def stable_rank(features) -> float:
    """Stable rank ``||F||_F^2 / ||F||_2^2 = sum sigma_i^2 / sigma_1^2`` (0.0 for F = 0).

    Scale invariant; lies in [1, rank F]. Cost: one SVD.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.probes import stable_rank
    >>> round(stable_rank(np.diag([2.0, 1.0])), 12)                # (4 + 1) / 4
    1.25
    """
    s = singular_values(features)
    if s.size == 0 or s[0] <= 0:
        return 0.0
    return float(np.sum(s ** 2) / s[0] ** 2)


def dormant_fraction(activations, tau: float = 0.0) -> float:
    """Fraction of tau-dormant units (ReDo; Sokar et al. 2023).

    Unit i of a layer with H units has score ``s_i = E_x|h_i(x)| / ((1/H) sum_j E_x|h_j(x)|)``
    over the rows of ``activations`` (n_samples, H); it is dormant when ``s_i <= tau``.
    ``tau = 0`` (default) counts units that are exactly zero on every sample (dead ReLUs);
    ReDo also uses 0.025 and 0.1. A layer whose activations are all zero is fully dormant
    (fraction 1.0).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.probes import dormant_fraction
    >>> H = np.array([[1.0, 0.0, 2.0, 0.01], [3.0, 0.0, 1.0, 0.01]])
    >>> dormant_fraction(H)                                         # one unit is zero everywhere
    0.25
    >>> dormant_fraction(H, tau=0.025)                              # score of the last unit ~0.01
    0.5
    """
    A = _features(activations, "activations")
    if isinstance(tau, bool) or not isinstance(tau, (numbers.Real, np.floating, np.integer)) or not np.isfinite(tau) or tau < 0:
        raise ValueError(f"tau must be a finite number >= 0, got {tau!r}")
    if A.shape[1] == 0:
        raise ValueError("activations must have at least one column (unit)")
    m = np.abs(A).mean(axis=0)
    mean = m.mean()
    if mean <= 0:
        return 1.0
    return float(np.mean(m / mean <= tau))


# ---------------------------------------------------------------------------- capacity (C11)

#: Target families of the capacity probe (docs: theory/c11). ``"smooth"`` is the
#: low-frequency family (a random target network's outputs, standardised) under the name the
#: experiments use; ``"random-network"`` is the same family under its older name.
TARGET_FAMILIES = ("smooth", "random-network", "high-frequency", "hash", "permuted-labels")


def _standardise(y):
    y = y - y.mean()
    s = y.std()
    return y / s if s > 0 else y


def _random_net_outputs(X, rng, width, depth):
    net = MLP(Architecture(X.shape[1], (width,) * depth, 1), rng)
    return net.forward(X)[:, 0]


def make_targets(X, family: str, n_targets: int, rng=None, *, seed=None, labels=None,
                 frequency: float = 1e5, offset=None, width: int = 30, depth: int = 2,
                 standardise=None, phase: str = "natural") -> np.ndarray:
    """Draw ``n_targets`` target vectors over the rows of ``X``; returns ``(n_targets, n)``.

    Families (docs: theory/c11):

    * ``"smooth"`` (alias ``"random-network"``): outputs of a freshly initialised ReLU target
      network ``d_in -> width^depth -> 1`` (He init), standardised to mean 0, variance 1. Its
      size (``width``, ``depth``) is independent of any learner's.
    * ``"high-frequency"``: ``a + sin(frequency * f(x))`` with ``f`` a fresh random target
      network as above and an offset ``a ~ N(0, 1)`` when ``offset`` (Lyle et al. 2023 use
      frequency 1e5; the MNIST script of docs: theory/c12 used 1e3). With ``phase="natural"``
      ``f`` keeps its natural scale, which varies between target networks (on the digits its
      s.d. ranges over a factor ~3), so targets of one frequency differ widely in difficulty;
      ``phase="standardised"`` standardises ``f`` first, so ``frequency`` counts radians per
      standard deviation of ``f`` and every target is about equally hard. With
      ``standardise=True`` the offset is not drawn and each target is standardised instead.
    * ``"hash"``: a keyed BLAKE2b hash of each input row's bytes mapped to a number,
      standardised (a deterministic function of the input with no structure; equal inputs
      get equal targets).
    * ``"permuted-labels"``: the given ``labels`` (length n) randomly permuted across
      samples, standardised. Requires ``labels``.

    Parameters
    ----------
    X : array_like, shape (n, d_in)
        Inputs (any data: the targets are functions of its rows).
    family : str
        One of :data:`TARGET_FAMILIES`.
    n_targets : int
        Number of targets (>= 1).
    rng, seed : numpy Generator or int (one of them)
    labels : array_like, shape (n,), optional
        Class labels (``"permuted-labels"`` only).
    frequency : float
        Frequency of ``"high-frequency"`` (> 0).
    offset : bool or None
        ``"high-frequency"`` only: add ``a ~ N(0, 1)``. ``None`` (default): an offset exactly
        when not standardising. ``offset=True`` with ``standardise=True`` is refused (the
        standardisation would remove it).
    width, depth : int
        Size of the random target network (``"smooth"``, ``"high-frequency"``).
    phase : {"natural", "standardised"}
        ``"high-frequency"`` only: the scale of ``f`` inside the sine (see above).
    standardise : bool or None
        ``True``: every target has mean 0 and variance 1 over the rows of ``X`` (the literature's
        protocol; makes capacity errors comparable across families: predicting the mean scores
        1). ``None`` (default): the family's own convention (all standardised except
        ``"high-frequency"``). ``False``: only ``"high-frequency"`` may be unstandardised; the
        other families are defined standardised, so ``False`` is refused for them.

    Returns
    -------
    ndarray, shape (n_targets, n), float64

    Raises
    ------
    ValueError
        On an unknown family, a bad count, frequency, size, ``offset`` or ``standardise``, or
        missing/ill-shaped labels, naming the argument.

    Notes
    -----
    Cost: one forward pass of the target network per target (O(n d_in width + n width^2
    (depth - 1))), or one hash per row. Draws are taken from ``rng`` in target order, so the
    same seed gives the same bits.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.probes import make_targets
    >>> X = np.random.default_rng(0).standard_normal((50, 4))
    >>> T = make_targets(X, "smooth", 3, seed=1)
    >>> T.shape, bool(np.allclose(T.mean(axis=1), 0.0)), bool(np.allclose(T.std(axis=1), 1.0))
    ((3, 50), True, True)
    >>> bool(np.array_equal(T, make_targets(X, "smooth", 3, seed=1)))   # same seed, same bits
    True
    >>> bool(np.array_equal(T, make_targets(X, "random-network", 3, seed=1)))  # the older name
    True
    >>> H = make_targets(X, "high-frequency", 2, seed=1, standardise=True)
    >>> bool(np.allclose(H.mean(axis=1), 0.0)), bool(np.allclose(H.std(axis=1), 1.0))
    (True, True)
    """
    X = check_matrix(X, "X")
    rng = check_rng(rng, seed)
    if not isinstance(family, str) or family not in TARGET_FAMILIES:
        raise ValueError(f"family must be one of {TARGET_FAMILIES}, got {family!r}")
    n_targets = check_int(n_targets, "n_targets", 1)
    if standardise is not None and not isinstance(standardise, (bool, np.bool_)):
        raise ValueError(f"standardise must be True, False or None, got {standardise!r}")
    if standardise is False and family != "high-frequency":
        raise ValueError(f"standardise=False is only defined for 'high-frequency'; family {family!r} "
                         "is standardised by definition")
    if offset is not None and not isinstance(offset, (bool, np.bool_)):
        raise ValueError(f"offset must be True, False or None, got {offset!r}")
    if family in ("smooth", "random-network", "high-frequency"):
        width = check_int(width, "width", 1)
        depth = check_int(depth, "depth", 1)
    std_hf = bool(standardise)
    if family == "high-frequency":
        frequency = check_nonnegative(frequency, "frequency", allow_zero=False)
        if std_hf and offset:
            raise ValueError("offset=True with standardise=True: standardising removes the offset; "
                             "pass offset=False or None")
        use_offset = (not std_hf) if offset is None else bool(offset)
        if phase not in ("natural", "standardised"):
            raise ValueError(f"phase must be 'natural' or 'standardised', got {phase!r}")
    n = X.shape[0]
    out = np.empty((n_targets, n))
    if family == "permuted-labels":
        if labels is None:
            raise ValueError("labels must be given for family 'permuted-labels'")
        lab = np.asarray(labels, dtype=np.float64)
        if lab.shape != (n,) or not np.all(np.isfinite(lab)):
            raise ValueError(f"labels must be {n} finite numbers (one per row of X)")
    for t in range(n_targets):
        if family in ("smooth", "random-network"):
            out[t] = _standardise(_random_net_outputs(X, rng, width, depth))
        elif family == "high-frequency":
            f = _random_net_outputs(X, rng, width, depth)
            if phase == "standardised":
                f = _standardise(f)
            a = rng.standard_normal() if use_offset else 0.0
            y = a + np.sin(float(frequency) * f)
            out[t] = _standardise(y) if std_hf else y
        elif family == "hash":
            key = rng.bytes(16)
            h = np.array([int.from_bytes(hashlib.blake2b(row.tobytes(), key=key, digest_size=8).digest(), "little")
                          for row in np.ascontiguousarray(X)], dtype=np.float64)
            out[t] = _standardise(h / 2.0 ** 64)
        else:
            out[t] = _standardise(lab[rng.permutation(n)])
    return out


def dead_units(net, X) -> list:
    """Per hidden layer, the fraction of units inactive (output exactly 0) on every row of ``X``.

    A ReLU unit whose pre-activation is <= 0 on all inputs gets no gradient and never
    recovers; a layer with fraction 1.0 cuts every input off from the head, so the network is
    *dead*: it can only fit a constant (rank 0, capacity error = target variance). This is a
    different failure from gradual rank loss (:func:`is_dead`).

    Parameters
    ----------
    net : kernels.nn.MLP
    X : array_like, shape (n, d_in)

    Returns
    -------
    list of float, one per hidden layer, each in [0, 1]

    Notes
    -----
    An independent plain-numpy forward pass from the flat parameters (not the jitted
    kernel); cost O(n * n_body) multiply-adds. For tanh a unit is inactive when its output is
    exactly 0 on every row.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.nn import MLP, Architecture
    >>> from repdyn.kernels.probes import dead_units, is_dead
    >>> net = MLP(Architecture(3, (4, 5), 1), seed=0)
    >>> X = np.random.default_rng(1).standard_normal((100, 3))
    >>> dead_units(net, X)[1] < 1.0, is_dead(net, X)
    (True, False)
    >>> net.params[12:16] = -1e3                       # first-layer biases: every unit off
    >>> dead_units(net, X)[0], is_dead(net, X)
    (1.0, True)
    """
    if not isinstance(net, MLP):
        raise ValueError(f"net must be a kernels.nn.MLP, got {type(net).__name__}")
    X = check_matrix(X, "X", cols=net.arch.d_in)
    if X.shape[0] == 0:
        raise ValueError("X must have at least one row")
    from repdyn.kernels.nn import _unpack
    layers, _ = _unpack(net.params, net.arch)
    h = X
    out = []
    for W, b in layers:
        z = h @ W + b
        h = np.maximum(z, 0.0) if net.arch.activation == "relu" else np.tanh(z)
        out.append(float(np.mean(np.all(h == 0.0, axis=0))))
    return out


def is_dead(net, X) -> bool:
    """True when some hidden layer has every unit inactive on all rows of ``X`` (:func:`dead_units`)."""
    return any(f == 1.0 for f in dead_units(net, X))


#: Floating-point types of the capacity probe's training (the checks always use float64).
PROBE_DTYPES = {"float64": np.float64, "float32": np.float32}


def _fit_probe32(net, X, extra, Y, cw, lr, batches):
    """Adam on a float32 copy of ``net``'s parameters (fresh moments) over ``batches``; returns
    the float32 outputs on all of ``X``. The same jitted kernels as float64 (numba compiles a
    float32 specialisation: the kernels are arithmetic only and allocate nothing)."""
    from repdyn.kernels._nn_kernels import _fit, _forward
    f32 = np.float32
    a = net.arch
    n_steps, B = batches.shape
    p = net.params.astype(f32)
    hs = int(sum(a.hidden))
    hmax = int(max(a.hidden))
    acts, hin, out = np.empty(B * hs, f32), np.empty((B, a.head_in), f32), np.empty((B, a.n_out), f32)
    d1, d2, grad = np.empty(B * hmax, f32), np.empty(B * hmax, f32), np.empty_like(p)
    m, v = np.zeros_like(p), np.zeros_like(p)
    opt = Adam(lr)
    _fit(p, net._dims, a.n_extra, a.n_out, net._act, X, extra, Y, cw, batches,
         np.empty((B, a.d_in), f32), np.empty((B, a.n_extra), f32), np.empty((B, a.n_out), f32),
         acts, hin, out, d1, d2, grad, opt.code, m, v, 0, f32(opt.lr), f32(opt.b1), f32(opt.b2),
         f32(opt.eps), np.empty(n_steps, f32))
    n = X.shape[0]
    res = np.empty((n, a.n_out), f32)
    _forward(p, net._dims, a.n_extra, a.n_out, net._act, X, extra, np.empty(n * hs, f32),
             np.empty((n, a.head_in), f32), res)
    return res


def capacity(net, X, targets, *, n_steps: int = 500, batch_size: int = 64, lr: float = 1e-3,
             head: int = 0, rng=None, seed=None, return_all: bool = False, dtype: str = "float64"):
    """Target-fitting capacity ``C(N, O, D)`` (docs: theory/c11); an error: lower = more capacity.

    For each target vector ``f`` (rows of ``targets``, one value per row of ``X``): copy
    the network at its *current* parameters, run Adam (``lr``, fresh moments) for
    ``n_steps`` minibatch steps of size ``batch_size`` on the squared error of output
    column ``head`` only, and measure the final MSE over all of ``X``. Returns the mean over
    targets (and the per-target MSEs when ``return_all``).

    ``C = E_f E_x (g_theta'(x) - f(x))^2``, ``theta' = O(theta, P_X, f)``.

    ``dtype="float32"`` trains the probe copies in single precision (parameters, inputs,
    targets, Adam moments; the same jitted kernels, compiled for float32) and measures the
    final error in float64; the minibatches are the same draws as for float64. Use it for
    speed in long runs; every check of the library uses float64 (the default).

    Notes
    -----
    Cost: ``len(targets) * n_steps`` training steps, each in one jitted loop
    (:meth:`kernels.nn.MLP.fit`). The network passed in is not modified.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.nn import MLP, Architecture
    >>> from repdyn.kernels.probes import capacity, make_targets
    >>> X = np.random.default_rng(0).standard_normal((200, 8))
    >>> T = make_targets(X, "random-network", 2, seed=1)            # standardised: variance 1
    >>> net = MLP(Architecture(8, (64, 64), 1), seed=2)
    >>> c = capacity(net, X, T, n_steps=400, seed=3)
    >>> bool(c < 0.05)                                              # a fresh network fits them well
    True
    """
    if not isinstance(net, MLP):
        raise ValueError(f"net must be a kernels.nn.MLP, got {type(net).__name__}")
    X = check_matrix(X, "X", cols=net.arch.d_in)
    T = check_matrix(np.atleast_2d(targets), "targets", cols=X.shape[0])
    if T.shape[0] == 0:
        raise ValueError("targets must hold at least one target vector")
    n_steps = check_int(n_steps, "n_steps", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    lr = check_nonnegative(lr, "lr", allow_zero=False)
    if not (is_int(head) and 0 <= head < net.arch.n_out):
        raise ValueError(f"head must be an integer index of an output column in [0, {net.arch.n_out}), got {head!r}")
    head = int(head)
    rng = check_rng(rng, seed)
    if not isinstance(dtype, str) or dtype not in PROBE_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(PROBE_DTYPES)}, got {dtype!r}")
    cw = np.zeros(net.arch.n_out)
    cw[head] = 1.0
    errs = np.empty(T.shape[0])
    if dtype == "float32":
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        extra32 = np.ascontiguousarray(net._extra(X), dtype=np.float32)
        cw32 = cw.astype(np.float32)
    for i, f in enumerate(T):
        Y = np.zeros((X.shape[0], net.arch.n_out))
        Y[:, int(head)] = f
        if dtype == "float32":
            batches = rng.integers(0, X.shape[0], size=(n_steps, batch_size)).astype(np.int64)
            out = _fit_probe32(net, X32, extra32, Y.astype(np.float32), cw32, lr, batches)
            errs[i] = np.mean((out[:, int(head)].astype(np.float64) - f) ** 2)
            continue
        probe = net.copy()
        probe.fit(X, Y, cw, Adam(lr), n_steps, batch_size, rng)
        errs[i] = np.mean((probe.forward(X)[:, int(head)] - f) ** 2)
    return (float(errs.mean()), errs) if return_all else float(errs.mean())


# ------------------------------------------------------------------- update space (C14)


def _net_X(net, X, head):
    if not isinstance(net, MLP):
        raise ValueError(f"net must be a kernels.nn.MLP, got {type(net).__name__}")
    X = check_matrix(X, "X", cols=net.arch.d_in)
    if X.shape[0] == 0:
        raise ValueError("X must have at least one row (state)")
    if not (is_int(head) and 0 <= head < net.arch.n_out):
        raise ValueError(f"head must be an integer index of an output column in [0, {net.arch.n_out}), got {head!r}")
    return X, int(head)


def _ntk_work(net, X):
    a = net.arch
    B = X.shape[0]
    tot = B * int(sum(a.hidden))
    extra = np.ascontiguousarray(net._extra(X))
    return a, B, extra, np.empty(tot), np.empty(tot), np.empty((B, a.head_in))


def ntk_gram(net, X, head: int = 0) -> np.ndarray:
    r"""Empirical NTK Gram matrix ``K[i, j] = <grad g(x_i), grad g(x_j)>`` (docs: theory/c14).

    ``g`` is output column ``head`` (default 0, the main value head) of the MLP at its current
    parameters; gradients are with respect to every trainable parameter (the frozen initial
    features of the Hypothesis-1 ablation carry none).

    Parameters
    ----------
    net : kernels.nn.MLP
    X : array_like, shape (n, d_in)
        States (one row each).
    head : int, default 0

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric positive semi-definite.

    Raises
    ------
    ValueError
        ``net`` not an MLP, ``X`` of the wrong width, empty or non-finite, ``head`` out of range.

    Notes
    -----
    Per-layer Gram identities (:mod:`kernels._nn_kernels`): with post-activations ``A_l``
    (``A_0 = X``) and back-propagated ``D_l = dg/dz_l`` of all n states in one batched pass,
    ``K = 1 + H H^T + sum_l (A_{l-1} A_{l-1}^T + 1) o (D_l D_l^T)``, ``H`` the head input.
    Cost ``O(n^2 (d_in + 2 sum_l h_l))`` in BLAS GEMMs plus one forward/backward pass; memory
    ``O(n sum_l h_l + n^2)``. The full Jacobian (cost ``n^2 x n_params``) is never formed:
    on a 64-256-256-1 MLP over 1000 states, one thread, 0.14 s against 8.2 s for
    ``torch.func`` (vmap of jacrev, then J J^T; 60x) and 4.8 s for numpy ``J J^T``, all
    agreeing to 5e-16 (``benchmarks/bench_ntk.py``, loaded shared machine). To first order an SGD step of size ``lr`` on
    state j with error e moves the prediction at state i by ``-lr e K[i, j]``.

    Examples
    --------
    >>> from repdyn.kernels.probes import ntk_gram
    >>> import numpy as np
    >>> from repdyn.kernels.nn import MLP, Architecture
    >>> net = MLP(Architecture(3, (8, 8), 1), seed=0)
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> K = ntk_gram(net, X)
    >>> K.shape, bool(np.allclose(K, K.T)), bool(np.linalg.eigvalsh(K)[0] > -1e-12)
    ((5, 5), True, True)
    """
    from repdyn.kernels._nn_kernels import _ntk_gram
    X, head = _net_X(net, X, head)
    a, B, extra, acts, deltas, hin = _ntk_work(net, X)
    out = np.empty((B, B))
    _ntk_gram(net.params, a.dims, a.n_extra, a.n_out, head, ACT_CODE[a.activation], X, extra,
              acts, deltas, hin, np.empty((B, B)), np.empty((B, B)), out)
    return out


def per_state_gradients(net, X, head: int = 0) -> np.ndarray:
    """Per-state gradients of output ``head``: (n, n_params), rows in the flat parameter layout.

    Parameters
    ----------
    net : kernels.nn.MLP;  X : (n, d_in) states;  head : int, default 0

    Returns
    -------
    ndarray, shape (n, net.arch.n_params)
        Row i is ``grad_theta g_head(x_i)`` (frozen extra features carry no gradient).

    Raises
    ------
    ValueError
        As :func:`ntk_gram`.

    Notes
    -----
    One batched forward/backward pass in numba, then the outer products
    ``a_{l-1}(x) delta_l(x)^T`` written row by row: O(n n_params) time and memory. For small
    state sets (the interference probe); use :func:`ntk_gram` for inner products.

    Examples
    --------
    >>> from repdyn.kernels.probes import per_state_gradients, ntk_gram
    >>> import numpy as np
    >>> from repdyn.kernels.nn import MLP, Architecture
    >>> net = MLP(Architecture(3, (4,), 1), seed=0)
    >>> X = np.ones((2, 3))
    >>> J = per_state_gradients(net, X)
    >>> J.shape, bool(np.allclose(J @ J.T, ntk_gram(net, X)))
    ((2, 21), True)
    """
    from repdyn.kernels._nn_kernels import _per_state_grads
    X, head = _net_X(net, X, head)
    a, B, extra, acts, deltas, hin = _ntk_work(net, X)
    J = np.empty((B, a.n_params))
    _per_state_grads(net.params, a.dims, a.n_extra, a.n_out, head, ACT_CODE[a.activation], X,
                     extra, acts, deltas, hin, J)
    return J


def _gram(K, name="K") -> np.ndarray:
    K = check_matrix(K, name)
    if K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square Gram matrix, got shape {K.shape}")
    scale = max(np.abs(K).max(), np.finfo(float).tiny)
    if np.abs(K - K.T).max() > 1e-10 * scale:
        raise ValueError(f"{name} must be symmetric (a Gram matrix)")
    return K


def ntk_ranks(K, eps: float = RANK_EPS, delta: float = SRANK_DELTA) -> dict:
    """Rank, effective rank, srank, stable rank and spectrum of the per-state gradients.

    ``K = J J^T`` (n x n); the singular values of ``J / sqrt(n)`` are ``sqrt(eig(K) / n)``,
    so the estimators of docs: theory/c10 apply to ``J`` through the factor ``F = U
    sqrt(Lambda)`` (``F F^T = K``, same singular values as J): ``rank`` =
    ``#{sqrt(eig/n) > eps}``. ``spectrum`` is ``eig(K) / n`` descending (negative rounding
    values clipped to 0). Cost: one symmetric eigendecomposition, O(n^3).

    Parameters
    ----------
    K : (n, n) symmetric Gram matrix (e.g. :func:`ntk_gram`)
    eps : float, default 0.01;  delta : float, default 0.01 (srank)

    Returns
    -------
    dict with ``rank`` (int), ``effective_rank``, ``srank``, ``stable_rank`` and
    ``spectrum`` ((n,) ndarray).

    Raises
    ------
    ValueError
        ``K`` not square, empty, non-finite or not symmetric (relative 1e-10).

    Examples
    --------
    >>> from repdyn.kernels.probes import ntk_ranks
    >>> import numpy as np
    >>> r = ntk_ranks(np.diag([4.0, 1.0, 0.0]))
    >>> r["rank"], r["spectrum"].tolist()
    (2, [1.3333333333333333, 0.3333333333333333, 0.0])
    """
    K = _gram(K)
    n = K.shape[0]
    lam, Uv = np.linalg.eigh(0.5 * (K + K.T))
    lam = np.clip(lam[::-1], 0.0, None)
    F = Uv[:, ::-1] * np.sqrt(lam)
    return dict(rank=feature_rank(F, eps), effective_rank=effective_rank(F),
                srank=srank(F, delta), stable_rank=stable_rank(F), spectrum=lam / n)


def interference_matrix(K) -> np.ndarray:
    """First-order interference ``I[i, j] = K[i, j] / K[j, j]`` (docs: theory/c14).

    Column j: the change of the prediction at every state i after a small gradient step on
    state j, normalised by the change at j itself (so ``I[j, j] = 1``): an SGD step of size
    ``lr`` with error e on state j moves g(x_i) by ``-lr e K[i, j] + O(lr^2)``.

    Parameters
    ----------
    K : (n, n) symmetric Gram matrix (e.g. :func:`ntk_gram`)

    Returns
    -------
    ndarray, shape (n, n)

    Raises
    ------
    ValueError
        ``K`` not a symmetric Gram matrix, or a state with a zero gradient (``K[j, j] = 0``:
        nothing moves, the ratio is undefined).

    Notes
    -----
    O(n^2). :func:`step_interference` measures the same with one real step.

    Examples
    --------
    >>> from repdyn.kernels.probes import interference_matrix
    >>> import numpy as np
    >>> interference_matrix(np.array([[2.0, 1.0], [1.0, 4.0]]))
    array([[1.  , 0.25],
           [0.5 , 1.  ]])
    """
    K = _gram(K)
    d = np.diag(K).copy()
    if np.any(d <= 0):
        raise ValueError(f"K: state(s) {np.flatnonzero(d <= 0)[:5].tolist()} have a zero gradient "
                         "(K[j, j] = 0): interference is undefined there")
    return K / d[None, :]


def interference_score(I) -> dict:
    """Summaries of an interference matrix (columns normalised so the diagonal is 1).

    ``mean_abs_offdiag``: mean of ``|I[i, j]|`` over i != j (how much an update on one state
    moves the others, in units of its own move: the interference magnitude judged by C14);
    ``mean_offdiag``: the signed mean (positive: updates generalise, negative: they interfere
    destructively); ``mean_diag``: 1 for a normalised matrix (reported as a check).

    Examples
    --------
    >>> from repdyn.kernels.probes import interference_score
    >>> import numpy as np
    >>> interference_score(np.array([[1.0, -0.5], [0.25, 1.0]]))
    {'mean_abs_offdiag': 0.375, 'mean_offdiag': -0.125, 'mean_diag': 1.0}
    """
    I = check_matrix(I, "I")
    n = I.shape[0]
    if I.shape[1] != n or n < 2:
        raise ValueError(f"I must be a square matrix of at least 2 states, got shape {I.shape}")
    off = ~np.eye(n, dtype=bool)
    return dict(mean_abs_offdiag=float(np.abs(I[off]).mean()), mean_offdiag=float(I[off].mean()),
                mean_diag=float(np.diag(I).mean()))


def step_interference(net, X, lr: float = 1e-3, head: int = 0) -> np.ndarray:
    """Measured interference of one SGD step: ``I[i, j] = dg(x_i) / dg(x_j)`` (docs: theory/c14).

    For each state j: one plain SGD step of size ``lr`` on ``(1/2)(g(x_j) - y)^2`` with unit
    error (``theta' = theta - lr grad g(x_j)``), then the change of the predictions at every
    state, divided by the change at j. Equals :func:`interference_matrix` of
    :func:`ntk_gram` up to O(lr) (second-order terms of the step). The network is not
    modified.

    Parameters
    ----------
    net : kernels.nn.MLP;  X : (n, d_in) states;  lr : step size > 0;  head : int, default 0

    Returns
    -------
    ndarray, shape (n, n), column j normalised so that ``I[j, j] = 1``

    Raises
    ------
    ValueError
        As :func:`ntk_gram`; ``lr`` not positive; a step that does not move its own state.

    Notes
    -----
    n forward passes over X plus one gradient pass: O(n^2 cost(forward)) time, O(n n_params)
    memory.

    Examples
    --------
    >>> from repdyn.kernels.probes import step_interference, interference_matrix, ntk_gram
    >>> import numpy as np
    >>> from repdyn.kernels.nn import MLP, Architecture
    >>> net = MLP(Architecture(3, (8,), 1, activation="tanh"), seed=0)
    >>> X = np.random.default_rng(0).standard_normal((4, 3))
    >>> I = step_interference(net, X, lr=1e-4)
    >>> bool(np.abs(I - interference_matrix(ntk_gram(net, X))).max() < 1e-2)
    True
    """
    X, head = _net_X(net, X, head)
    lr = check_nonnegative(lr, "lr", allow_zero=False)
    J = per_state_gradients(net, X, head)
    g0 = net.forward(X)[:, head]
    n = X.shape[0]
    out = np.empty((n, n))
    for j in range(n):
        dg = net.forward(X, net.params - lr * J[j])[:, head] - g0
        if dg[j] == 0.0:
            raise ValueError(f"lr: the step on state {j} does not move its prediction (zero "
                             "gradient or lr below rounding)")
        out[:, j] = dg / dg[j]
    return out


def kernel_alignment(K, P, gamma: float, k: int) -> dict:
    """Grassmann distance of the top-k eigenvectors of an n x n kernel over the states of P to
    the top-k EBFs and RSBFs of P (docs: theory/c14, c13).

    Parameters
    ----------
    K : (n, n) symmetric kernel indexed by the MDP's states in order (e.g. the NTK over each
        state's observation)
    P : (n, n) dense row-stochastic;  gamma : discount (for the RSBFs);  k : 1 <= k < n

    Returns
    -------
    dict ``{"ebf": d, "rsbf": d}``
        Radians; 0 = the same subspace, the largest possible is ``sqrt(k) pi / 2``.

    Raises
    ------
    ValueError
        Bad shapes or k; ``UndefinedSubspaceError`` (a ValueError) when the kernel's k-th and
        (k+1)-th eigenvalues tie (relative 1e-10) or the EBF subspace is undefined.

    Notes
    -----
    O(n^3): eigh of K, the EBFs' Schur form, the RSBFs' SVD.

    Examples
    --------
    >>> from repdyn.kernels.probes import kernel_alignment
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> from repdyn.analysis.spectral import ebfs
    >>> P = random_walk_chain(6)
    >>> E = ebfs(P, 2)
    >>> d = kernel_alignment(np.eye(6) + E @ np.diag([2.0, 1.0]) @ E.T, P, 0.9, 2)
    >>> round(d["ebf"], 12)
    0.0
    """
    from repdyn.analysis.errors import UndefinedSubspaceError
    from repdyn.analysis.spectral import ebfs, grassmann_distance, rsbfs
    K = _gram(K)
    n = K.shape[0]
    if P is None or np.shape(P) != (n, n):
        raise ValueError(f"P must be an ({n}, {n}) transition matrix over the kernel's states, "
                         f"got shape {np.shape(P)}")
    k = check_int(k, "k", 1)
    if k >= n:
        raise ValueError(f"k must be < n = {n} (the whole space always aligns), got {k}")
    lam, Uv = np.linalg.eigh(0.5 * (K + K.T))
    lam, Uv = lam[::-1], Uv[:, ::-1]
    if lam[k - 1] - lam[k] <= 1e-10 * max(abs(lam[0]), np.finfo(float).tiny):
        raise UndefinedSubspaceError(f"K: eigenvalues {k} and {k + 1} tie ({lam[k - 1]:.6g}); the "
                                     "top-k eigenvector subspace is not defined")
    top = Uv[:, :k]
    return dict(ebf=grassmann_distance(top, ebfs(P, k)),
                rsbf=grassmann_distance(top, rsbfs(P, gamma, k)))


#: Activation codes of :data:`kernels.nn.ACTIVATIONS` (kept here so the probes do not
#: depend on kernel internals).
ACT_CODE = {"relu": 0, "tanh": 1}


def _warmup():
    """Compile the NTK kernels on tiny inputs (both activations)."""
    from repdyn.kernels.nn import Architecture as _Arch
    for act in ("relu", "tanh"):
        net = MLP(_Arch(3, (4, 5), 2, n_extra=1, activation=act), seed=0)
        X = np.ones((2, 3))
        ntk_gram(net, X)
        per_state_gradients(net, X)
