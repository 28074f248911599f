"""Closed-form trajectories and limits of the value and representation flows (docs: theory/index, contract).

Every function validates its inputs (``ValueError`` naming the argument), then reduces to
actions of the TD semigroup ``exp(-tau A)``, ``A = I - gamma P``, computed by
:class:`analysis.propagator.Propagator` (exact up to rounding; modal or uniformization).

Conventions: ``t`` is a 1-d array of times >= 0; results put time first. Feature matrices
``Phi`` are (n, K); heads ``W`` are (K, M), one head per column; cumulants ``C`` are (n, M).
``P`` may be scipy sparse everywhere here.
"""
from __future__ import annotations

import numpy as np

from repdyn.analysis.mdp import (_finite_array, check_basis, check_gamma, check_gammas, check_heads, check_matrix,
                          check_nonnegative, check_policies, check_times, check_transition,
                          check_vector)
from repdyn.analysis.propagator import Propagator

__all__ = ["true_values", "td_values", "mc_values", "linear_feature_flow", "ensemble_features",
           "ensemble_limit", "random_cumulant_features", "random_cumulant_limit",
           "multi_policy_limit", "multi_discount_limit", "span_trajectory",
           "log_alignment_distance"]


# ----------------------------------------------------------------------------- helpers


def _values_block(V0, n):
    """V0 of shape (n,) or (n, K) -> ((n, K) array, was_vector)."""
    a = _finite_array(V0, "V0", ndim=(1, 2))
    if a.shape[0] != n:
        raise ValueError(f"V0 must have {n} rows (the number of states), got shape {a.shape}")
    return (a[:, None], True) if a.ndim == 1 else (a, False)


def _setup(P, gamma, t):
    P = check_transition(P, "P", sparse_ok=True)
    gamma = check_gamma(gamma)
    t = check_times(t)
    return P, gamma, t, Propagator(P, gamma)


def _affine(prop, X0, Xinf, t):
    """exp(-tA)(X0 - Xinf) + Xinf for every t: (T, n, K)."""
    return prop.expm(X0 - Xinf, t) + Xinf[None]


# ----------------------------------------------------------------------------- C1


def true_values(P, R, gamma) -> np.ndarray:
    """``V* = (I - gamma P)^{-1} R`` by an LU solve (sparse LU for sparse ``P``).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import true_values
    >>> P = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> V = true_values(P, np.array([1.0, 0.0]), 0.5)
    >>> bool(np.allclose(V - 0.5 * P @ V, [1.0, 0.0]))      # V* = R + gamma P V*
    True
    """
    P = check_transition(P, "P", sparse_ok=True)
    gamma = check_gamma(gamma)
    R = check_vector(R, P.shape[0], "R")
    return Propagator(P, gamma).solve(R)


def td_values(P, R, gamma, V0, t) -> np.ndarray:
    """TD flow ``dV/dt = R - A V``: ``V_t = exp(-tA)(V0 - V*) + V*`` (docs: theory/c1).

    Parameters
    ----------
    P : (n, n) row-stochastic, dense or scipy sparse
    R : (n,) reward
    gamma : discount in [0, 1)
    V0 : (n,) or (n, K) initial values (K independent value functions, docs: theory/c3)
    t : (T,) times >= 0

    Returns
    -------
    (T, n) or (T, n, K) array.

    Notes
    -----
    Exact up to rounding: normwise relative error ~1e-14 against ``scipy.linalg.expm``
    (see :mod:`analysis.propagator` for the method and its cost).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import expm
    >>> from repdyn.analysis.closed_form import td_values, true_values
    >>> P = np.array([[0.7, 0.3], [0.2, 0.8]]); R = np.array([1.0, 0.0]); gamma = 0.9
    >>> V = td_values(P, R, gamma, np.zeros(2), [0.0, 1.0, 500.0])
    >>> V.shape
    (3, 2)
    >>> A = np.eye(2) - gamma * P
    >>> Vs = true_values(P, R, gamma)
    >>> bool(np.allclose(V[1], expm(-A) @ (0 - Vs) + Vs)), bool(np.allclose(V[-1], Vs))
    (True, True)

    ``V0`` with K columns gives K value functions at once:

    >>> td_values(P, R, gamma, np.zeros((2, 3)), [0.0, 1.0]).shape
    (2, 2, 3)
    """
    P, gamma, t, prop = _setup(P, gamma, t)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    V0, vec = _values_block(V0, n)
    Vs = prop.solve(R)
    out = _affine(prop, V0, np.repeat(Vs[:, None], V0.shape[1], axis=1), t)
    return out[:, :, 0] if vec else out


def mc_values(P, R, gamma, V0, t) -> np.ndarray:
    """Monte Carlo flow ``dV/dt = V* - V``: ``V_t = e^{-t}(V0 - V*) + V*`` (docs: theory/c1).

    Same arguments and shapes as :func:`td_values`. Cost: one LU solve for V*.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import mc_values, true_values
    >>> P = np.array([[0.7, 0.3], [0.2, 0.8]]); R = np.array([1.0, 0.0])
    >>> V = mc_values(P, R, 0.9, np.zeros(2), [0.0, np.log(2.0)])
    >>> bool(np.allclose(V[1], true_values(P, R, 0.9) / 2))    # half-way along the straight line
    True
    """
    P, gamma, t, prop = _setup(P, gamma, t)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    V0, vec = _values_block(V0, n)
    Vs = prop.solve(R)[:, None]
    out = np.exp(-t)[:, None, None] * (V0 - Vs)[None] + Vs[None]
    return out[:, :, 0] if vec else out


# ----------------------------------------------------------------------------- C5 / C7


def linear_feature_flow(prop: Propagator, Phi0: np.ndarray, G: np.ndarray, F: np.ndarray,
                        t: np.ndarray) -> np.ndarray:
    """Exact solution of ``dPhi/dt = -A Phi G + F`` for symmetric PSD ``G`` (K x K), F (n x K).

    With ``G = Q diag(d) Q^T`` and ``Psi = Phi Q``, column j obeys
    ``dpsi_j/dt = -d_j A psi_j + f_j`` (``f_j`` = column j of ``F Q``), so
    ``psi_j(t) = exp(-t d_j A) psi_j(0) + t phi_1(-t d_j A) f_j``, where
    ``t phi_1(-t d A) f = (1/d) int_0^{t d} exp(-uA) du f`` for d > 0 and ``t f`` for d = 0.
    Correct for singular G (M < K). Inputs are assumed validated (internal helper).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import linear_feature_flow
    >>> from repdyn.analysis.propagator import Propagator
    >>> P = np.array([[0.7, 0.3], [0.2, 0.8]]); gamma = 0.9
    >>> G = np.zeros((1, 1)); F = np.array([[1.0], [2.0]])    # singular G: dPhi/dt = F
    >>> Phi = linear_feature_flow(Propagator(P, gamma), np.zeros((2, 1)), G, F, np.array([0.0, 3.0]))
    >>> Phi[-1].ravel().tolist()
    [3.0, 6.0]
    """
    d, Q = np.linalg.eigh(0.5 * (G + G.T))
    d = np.where(d < 0, 0.0, d)             # PSD up to rounding
    Psi0 = Phi0 @ Q
    FQ = F @ Q
    T, n, K = len(t), Phi0.shape[0], Phi0.shape[1]
    out = np.empty((T, n, K))
    for j in range(K):
        col = out[:, :, j]
        if d[j] == 0.0:
            col[...] = Psi0[None, :, j] + t[:, None] * FQ[None, :, j]
            continue
        tau = t * d[j]
        col[...] = prop.expm(Psi0[:, j:j + 1], tau)[:, :, 0]
        if np.any(FQ[:, j] != 0):
            col += prop.integral(FQ[:, j:j + 1], tau)[:, :, 0] / d[j]
    return np.ascontiguousarray(out @ Q.T)


def ensemble_features(P, R, gamma, Phi0, W, alpha, t) -> np.ndarray:
    """Exact finite-M ensemble flow with fixed heads (docs: theory/c5, Thm 4.1).

    ``dPhi/dt = alpha sum_m (R + gamma P Phi w^m - Phi w^m) w^mT = -A Phi G + R s^T`` with
    ``G = alpha W W^T`` and ``s = alpha W 1``.

    Parameters
    ----------
    P, R, gamma : the MDP
    Phi0 : (n, K) initial features
    W : (K, M) fixed heads, one per column
    alpha : learning rate >= 0
    t : (T,) times

    Returns
    -------
    (T, n, K) features. Solved exactly through ``G = Q D Q^T`` (see
    :func:`linear_feature_flow`); correct when G is singular (M < K).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import ensemble_features
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> P = random_walk_chain(5); rng = np.random.default_rng(0)
    >>> Phi0, W = rng.standard_normal((5, 2)), rng.standard_normal((2, 8))
    >>> Phi = ensemble_features(P, np.zeros(5), 0.9, Phi0, W, 1 / 8, [0.0, 200.0])
    >>> Phi.shape, bool(np.allclose(Phi[0], Phi0)), bool(np.linalg.norm(Phi[-1]) < 1e-3)
    ((2, 5, 2), True, True)

    With R = 0 and M >= K the features collapse (docs: theory/c6).
    """
    P, gamma, t, prop = _setup(P, gamma, t)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    Phi0 = check_matrix(Phi0, "Phi0", rows=n, rows_of="the number of states")
    W = check_heads(W, Phi0.shape[1])
    alpha = check_nonnegative(alpha, "alpha")
    G = alpha * (W @ W.T)
    s = alpha * W.sum(axis=1)
    return linear_feature_flow(prop, Phi0, G, np.outer(R, s), t)


def ensemble_limit(P, R, gamma, Phi0, t, eps=None) -> np.ndarray:
    """Infinite-ensemble limits of Thm 4.1 (docs: theory/c5).

    ``eps is None``: eq. (13), ``exp(-tA) Phi0`` (scaling (i), alpha = 1/M, sigma^2 = 1).
    ``eps`` (K,): eq. (14), ``exp(-tA)(Phi0 - V* eps^T) + V* eps^T`` (scaling (ii)).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import expm
    >>> from repdyn.analysis.closed_form import ensemble_limit
    >>> P = np.array([[0.7, 0.3], [0.2, 0.8]]); Phi0 = np.eye(2)
    >>> Phi = ensemble_limit(P, np.array([1.0, 0.0]), 0.9, Phi0, [2.0])
    >>> bool(np.allclose(Phi[0], expm(-2.0 * (np.eye(2) - 0.9 * P)) @ Phi0))
    True
    """
    P, gamma, t, prop = _setup(P, gamma, t)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    Phi0 = check_matrix(Phi0, "Phi0", rows=n, rows_of="the number of states")
    if eps is None:
        return prop.expm(Phi0, t)
    eps = check_vector(eps, Phi0.shape[1], "eps", "K, the columns of Phi0") if np.ndim(eps) == 1 else _bad_eps(eps, Phi0.shape[1])
    return _affine(prop, Phi0, np.outer(prop.solve(R), eps), t)


def _bad_eps(eps, K):
    raise ValueError(f"eps must be a vector of length K = {K} (the columns of Phi0), got shape {np.shape(eps)}")


def random_cumulant_features(P, C, gamma, Phi0, W, t) -> np.ndarray:
    """Exact finite-M random-cumulant flow (docs: theory/c7, Thm 4.3), alpha = 1, fixed heads.

    ``dPhi/dt = sum_m (c^m + gamma P Phi w^m - Phi w^m) w^mT = -A Phi W W^T + C W^T``.

    Parameters
    ----------
    C : (n, M) cumulants, one per head;  W : (K, M) heads;  Phi0 : (n, K).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import random_cumulant_features
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> P = random_walk_chain(4); rng = np.random.default_rng(1); M = 6
    >>> C, W = rng.standard_normal((4, M)), rng.standard_normal((2, M)) / np.sqrt(M)
    >>> Phi = random_cumulant_features(P, C, 0.9, np.zeros((4, 2)), W, [0.0, 400.0])
    >>> A = np.eye(4) - 0.9 * P                                # fixed point: A Phi W W^T = C W^T
    >>> bool(np.allclose(A @ Phi[-1] @ W @ W.T, C @ W.T))
    True
    """
    P, gamma, t, prop = _setup(P, gamma, t)
    n = P.shape[0]
    Phi0 = check_matrix(Phi0, "Phi0", rows=n, rows_of="the number of states")
    W = check_heads(W, Phi0.shape[1])
    C = check_matrix(C, "C", rows=n, cols=W.shape[1], cols_of="the M heads, columns of W")
    return linear_feature_flow(prop, Phi0, W @ W.T, C @ W.T, t)


def random_cumulant_limit(P, Z, gamma, Phi0, t) -> np.ndarray:
    """Limit of Thm 4.3: ``exp(-tA)(Phi0 - A^{-1} Z) + A^{-1} Z`` with Z (n, K) (docs: theory/c7).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import random_cumulant_limit
    >>> P = np.array([[0.7, 0.3], [0.2, 0.8]]); Z = np.array([[1.0], [-1.0]])
    >>> Phi = random_cumulant_limit(P, Z, 0.9, np.zeros((2, 1)), [0.0, 500.0])
    >>> bool(np.allclose(Phi[-1], np.linalg.solve(np.eye(2) - 0.9 * P, Z)))   # no collapse
    True
    """
    P, gamma, t, prop = _setup(P, gamma, t)
    n = P.shape[0]
    Phi0 = check_matrix(Phi0, "Phi0", rows=n, rows_of="the number of states")
    Z = check_matrix(Z, "Z", rows=n, cols=Phi0.shape[1], cols_of="the K columns of Phi0")
    return _affine(prop, Phi0, prop.solve(Z), t)


# ----------------------------------------------------------------------------- C8


def multi_policy_limit(Ps, Rs, gamma, Phi0, t, eps=None) -> np.ndarray:
    """Additional-policies limit (docs: theory/c8): generator ``A_bar = I - gamma P_bar``.

    ``P_bar`` is the mean of the J policies' matrices ``Ps`` ((J, n, n) array or a list, dense
    or sparse); ``Rs`` is (J, n). ``eps is None``: ``exp(-t A_bar) Phi0``. ``eps`` (J, K): the
    corrected limit ``exp(-t A_bar)(Phi0 - X) + X``, ``X = A_bar^{-1} sum_j R_j eps_j^T / sqrt(J)``.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import multi_policy_limit
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> Ps = np.stack([random_walk_chain(4, 0.3), random_walk_chain(4, 0.7)])
    >>> Rs = np.array([[1.0, 0, 0, 0], [0, 0, 0, 1.0]])
    >>> eps = np.array([[1.0], [2.0]])                          # (J, K)
    >>> Phi = multi_policy_limit(Ps, Rs, 0.9, np.zeros((4, 1)), [500.0], eps)
    >>> X = np.linalg.solve(np.eye(4) - 0.9 * Ps.mean(axis=0), Rs.T @ eps / np.sqrt(2))
    >>> bool(np.allclose(Phi[0], X))
    True
    """
    gamma = check_gamma(gamma)
    t = check_times(t)
    Ps = check_policies(Ps)
    n = Ps[0].shape[0]
    J = len(Ps)
    Pbar = Ps[0] * (1.0 / J)
    for Pj in Ps[1:]:
        Pbar = Pbar + Pj * (1.0 / J)
    Pbar = check_transition(Pbar, "Ps (mean)", sparse_ok=True)
    Rs = check_matrix(Rs, "Rs", rows=J, cols=n, rows_of="the J policies in Ps", cols_of="the number of states")
    Phi0 = check_matrix(Phi0, "Phi0", rows=n, rows_of="the number of states")
    prop = Propagator(Pbar, gamma)
    if eps is None:
        return prop.expm(Phi0, t)
    eps = check_matrix(eps, "eps", rows=J, cols=Phi0.shape[1], rows_of="the J policies",
                       cols_of="the K columns of Phi0")
    X = prop.solve(Rs.T @ eps / np.sqrt(J))
    return _affine(prop, Phi0, X, t)


def multi_discount_limit(P, R, gammas, Phi0, t, eps=None) -> np.ndarray:
    """Several-discounts limit (docs: theory/c8): generator ``I - gamma_bar P``, gamma_bar = mean(gammas).

    ``eps is None``: ``exp(-t(I - gamma_bar P)) Phi0``; ``eps`` (K,): the affine limit towards
    ``(I - gamma_bar P)^{-1} R eps^T``.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import multi_discount_limit
    >>> P = np.array([[0.7, 0.3], [0.2, 0.8]]); R = np.array([1.0, 0.0])
    >>> Phi = multi_discount_limit(P, R, [0.8, 0.9], np.zeros((2, 1)), [500.0], eps=np.ones(1))
    >>> bool(np.allclose(Phi[0, :, 0], np.linalg.solve(np.eye(2) - 0.85 * P, R)))
    True
    """
    P = check_transition(P, "P", sparse_ok=True)
    g = check_gammas(gammas)
    t = check_times(t)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    Phi0 = check_matrix(Phi0, "Phi0", rows=n, rows_of="the number of states")
    prop = Propagator(P, float(g.mean()))
    if eps is None:
        return prop.expm(Phi0, t)
    eps = check_vector(eps, Phi0.shape[1], "eps", "K, the columns of Phi0") if np.ndim(eps) == 1 else _bad_eps(eps, Phi0.shape[1])
    return _affine(prop, Phi0, np.outer(prop.solve(R), eps), t)


# ----------------------------------------------------------------------------- spans

#: Largest step of the subspace iteration: exp(-dt A) Q has condition <= e^{2 gamma dt} <= e^{10}.
_SPAN_STEP = 5.0
#: Up to this size the step propagator exp(-dt A) is formed once as a dense matrix and reused.
_SPAN_DENSE_MAX = 1500


def span_trajectory(P, gamma, X0, t) -> np.ndarray:
    """Orthonormal bases of ``span(exp(-tA) X0)`` for every t, tracked stably (C2, C3, C6).

    ``exp(-tA) X0`` loses its span in float64 once its columns all turn towards the slowest
    mode (condition number ~ e^{t gamma (lambda_1 - lambda_K)}). The flow acts on the left
    only, so subspace iteration with QR keeps it: ``Q_{i+1} = qr(exp(-(t_{i+1} - t_i) A) Q_i)``
    has the same span in exact arithmetic and stays orthonormal. ``t`` must be ascending.

    Returns (T, n, K) orthonormal bases.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import span_trajectory
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> from repdyn.analysis.spectral import ebfs, grassmann_distance
    >>> P = random_walk_chain(8); X0 = np.random.default_rng(0).standard_normal((8, 2))
    >>> Q = span_trajectory(P, 0.9, X0, [0.0, 50.0, 100.0])
    >>> d = [grassmann_distance(q, ebfs(P, 2)) for q in Q]
    >>> bool(d[2] < d[1] < d[0])                               # aligning with U_1:2 (C3)
    True
    """
    P, gamma, t, prop = _setup(P, gamma, t)
    n = P.shape[0]
    X0 = check_basis(X0, "X0", n)
    if np.any(np.diff(t) < 0):
        raise ValueError("t must be ascending for span_trajectory")
    Q = np.linalg.qr(X0)[0]
    out = np.empty((len(t), n, X0.shape[1]))
    cache = {}          # dt -> dense exp(-dt A), reused across a uniform grid (n small)

    def step(Q, dt):
        if n <= _SPAN_DENSE_MAX:
            key = round(dt, 12)
            if key not in cache:
                cache[key] = prop.expm(np.eye(n), np.array([dt]))[0]
            return cache[key] @ Q
        return prop.expm(Q, np.array([dt]))[0]

    prev = 0.0
    for i, ti in enumerate(t):
        if ti > prev:   # equal sub-steps <= _SPAN_STEP keep each exp(-dt A) Q well conditioned
            m = int(np.ceil((ti - prev) / _SPAN_STEP))
            dt = (ti - prev) / m
            for _ in range(m):
                Q = np.linalg.qr(step(Q, dt))[0]
            prev = ti
        out[i] = Q
    return out


def log_alignment_distance(P, gamma, X0, K: int, t) -> np.ndarray:
    """``log d(span(exp(-tA) X0), U_1:K)`` at late times, exactly in eigen-coordinates (C2, C3).

    With ``P = U diag(lambda) U^{-1}`` (eigenvalues by real part, descending) and
    ``C = U^{-1} X0`` split into the top K rows C1 and the rest C2,
    ``span exp(-tA) X0 = span(U1 + U2 Y(t))``, ``Y_ji(t) = e^{-t(mu_j - mu_i)} (C2 C1^{-1})_ji``,
    ``mu = 1 - gamma lambda``. To first order in Y, the principal angles are the singular
    values of ``(I - Q1 Q1^H) U2 Y R1^{-1}`` (``U1 = Q1 R1``), so
    ``d = ||(I - Q1 Q1^H) U2 Y R1^{-1}||_F (1 + O(d^2))``. The largest exponent is factored out,
    so the logarithm is exact far below float64's range (d = 1e-300 and beyond): the
    asymptotic rate can be read where every sub-leading mode has died out.

    Requires X0 with K columns, C1 invertible (true for almost every X0), P diagonalisable
    with eigenvector condition <= 1e8 and a strict gap after lambda_K; raises ValueError else.
    Valid when d is small (say < 1e-3): compare against :func:`span_trajectory` before that.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import log_alignment_distance
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> from repdyn.analysis.spectral import alignment_rate
    >>> P = random_walk_chain(6); X0 = np.random.default_rng(0).standard_normal((6, 1))
    >>> ld = log_alignment_distance(P, 0.9, X0, 1, [1000.0, 2000.0])
    >>> slope = (ld[0] - ld[1]) / 1000.0                        # far below float64's range
    >>> bool(abs(slope - alignment_rate(P, 0.9, 1)) < 1e-9)
    True
    """
    P = check_transition(P, "P")
    gamma = check_gamma(gamma)
    t = check_times(t)
    n = P.shape[0]
    X0 = check_basis(X0, "X0", n)
    if X0.shape[1] != K:
        raise ValueError(f"X0 must have K = {K} columns, got {X0.shape[1]}")
    if not (1 <= K < n):
        raise ValueError(f"K must satisfy 1 <= K < n = {n}, got {K}")
    from repdyn.analysis.spectral import _top_k_threshold
    lam, U = np.linalg.eigh(P) if np.array_equal(P, P.T) else np.linalg.eig(P)
    order = np.lexsort((-lam.imag, -lam.real))
    lam, U = lam[order].astype(complex), U[:, order].astype(complex)
    _top_k_threshold(lam, K)
    s = np.linalg.svd(U, compute_uv=False)
    if s[-1] <= 0 or s[0] / s[-1] > 1e8:
        raise ValueError("P: not (numerically) diagonalisable; eigen-coordinates unavailable")
    C = np.linalg.solve(U, X0.astype(complex))
    C1, C2 = C[:K], C[K:]
    if np.linalg.svd(C1, compute_uv=False)[-1] <= 1e-12 * np.abs(C).max():
        raise ValueError("X0 has (almost) no component in U_1:K: not a generic initial condition")
    coef = np.linalg.solve(C1.T, C2.T).T                 # C2 C1^{-1}
    Q1, R1 = np.linalg.qr(U[:, :K])
    N = U[:, K:] - Q1 @ (Q1.conj().T @ U[:, K:])
    mu = 1.0 - gamma * lam
    expo_re = -(mu[K:, None] - mu[None, :K]).real        # (n-K, K), all < 0
    expo_im = -(mu[K:, None] - mu[None, :K]).imag
    nz = np.abs(coef) > 0
    out = np.empty(len(t))
    for i, ti in enumerate(t):
        e = ti * expo_re
        m = e[nz].max() if nz.any() else 0.0
        Y = coef * np.exp(e - m + 1j * ti * expo_im)
        out[i] = m + np.log(np.linalg.norm(N @ np.linalg.solve(R1.T, Y.T).T))
    return out
