"""Fixed-step simulation of the value and representation flows (docs: theory/c1, C4-C8, §3).

Python wrappers: validate (``ValueError`` naming the argument), coerce to float64 C-contiguous
arrays, sum the fixed heads out of the flow (``G = alpha W W^T``, ``s = alpha W 1``), allocate,
then call the jitted integrators of :mod:`kernels._flow_kernels`. Random heads and cumulants
are drawn here in Python from a ``numpy.random.Generator`` (:func:`draw_heads`,
:func:`draw_cumulants`) and passed in, so the kernels are deterministic.

Conventions (docs: contract): ``Phi`` is (n, K); heads ``W`` are (K, M), one head per column;
cumulants ``C`` are (n, M). Every simulator returns ``times`` (T,) with ``times[0] = 0`` and
then one record every ``record_every`` steps (T = n_steps // record_every + 1), and
trajectories with time first. ``P`` may be a scipy sparse matrix (it is only multiplied).
``method`` is ``"rk4"`` (classical Runge-Kutta, global error O(dt^4)) or ``"euler"`` (O(dt)).

Every simulator has an independent plain-numpy reference (``reference_*`` in
:mod:`repdyn.proofs.references`) that integrates the same ODE with the right-hand side written as
a researcher would, ``(R 1^T + (gamma P - I) Phi W) W^T`` (O(n K M) per evaluation); the tests
and ``repdyn verify`` compare the two, and the speed benchmark times them.
"""
from __future__ import annotations


import numpy as np
import scipy.sparse as sp

from repdyn.analysis.mdp import (_finite_array, check_gamma, check_int, check_gammas, check_heads, check_matrix,
                          check_nonnegative, check_policies, check_rng, check_transition,
                          check_vector)
from repdyn.kernels import _flow_kernels as _fk
from repdyn.analysis.errors import UnstableStepError

__all__ = ["UnstableStepError", "simulate_values", "simulate_linear_fa", "simulate_ensemble",
           "simulate_random_cumulants", "simulate_multi_policy", "simulate_multi_discount",
           "draw_heads", "draw_cumulants", "head_groups",
]

METHODS = {"euler": _fk.EULER, "rk4": _fk.RK4}


# ----------------------------------------------------------------------------- validation


def _steps(dt, n_steps, record_every, method):
    """Validate the time-stepping arguments; returns (dt, n_steps, record_every, code, times)."""
    dt = check_nonnegative(dt, "dt", allow_zero=False)
    n_steps = check_int(n_steps, "n_steps", 0)
    record_every = check_int(record_every, "record_every", 1)
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    T = n_steps // record_every + 1
    times = dt * (record_every * np.arange(T, dtype=np.float64))   # step count times dt
    return dt, n_steps, record_every, METHODS[method], times


def _operators(Ps):
    """Validated transition matrices -> kernel arguments (sparse, Pd, indptr, indices, data).

    Dense: Pd (J, n, n). If any matrix is sparse, all are stored as CSR with row pointers
    ``indptr[j]`` (global offsets) into shared ``indices`` / ``data``.
    """
    n = Ps[0].shape[0]
    if any(sp.issparse(P) for P in Ps):
        mats = [sp.csr_matrix(P) for P in Ps]
        for M in mats:
            M.sort_indices()
        offs = np.cumsum([0] + [M.nnz for M in mats])
        indptr = np.ascontiguousarray(np.stack([M.indptr.astype(np.int64) + o
                                                for M, o in zip(mats, offs[:-1])]))
        indices = np.ascontiguousarray(np.concatenate([M.indices for M in mats]).astype(np.int64))
        data = np.ascontiguousarray(np.concatenate([M.data for M in mats]), dtype=np.float64)
        return True, np.zeros((0, 1, 1)), indptr, indices, data
    Pd = np.ascontiguousarray(np.stack([np.asarray(P) for P in Ps]), dtype=np.float64)
    return (False, Pd, np.zeros((0, n + 1), dtype=np.int64), np.zeros(0, dtype=np.int64),
            np.zeros(0))




def _finite_trajectory(times, dt, *outs):
    """No silent wrong answer: an explicit step that blew up is the caller's ``dt`` to fix."""
    for o in outs:
        bad = ~np.isfinite(o.reshape(o.shape[0], -1)).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise UnstableStepError(f"dt = {dt:g} is too large for this flow: the trajectory is no longer "
                             f"finite at recorded time {times[i]:g} (record {i}); reduce dt "
                             "(stability bounds in the simulator's docstring), unless the flow "
                             "itself diverges")


def _run_linear(Ps, X0, G, H, F, steps):
    """Integrate dX/dt = -X G + sum_j (P_j X) H_j + F with the jitted kernel."""
    dt, n_steps, record_every, code, times = steps
    n, K = X0.shape
    sparse, Pd, indptr, indices, data = _operators(Ps) if len(Ps) else \
        (False, np.zeros((0, n, n)), np.zeros((0, n + 1), dtype=np.int64),
         np.zeros(0, dtype=np.int64), np.zeros(0))
    out = np.empty((len(times), n, K))
    work = np.empty((8, n, K))
    _fk._linear_flow(np.ascontiguousarray(X0, dtype=np.float64),
                     np.ascontiguousarray(G, dtype=np.float64),
                     np.ascontiguousarray(H, dtype=np.float64).reshape(len(Ps), K, K),
                     np.ascontiguousarray(F, dtype=np.float64), sparse, Pd, indptr, indices,
                     data, dt, n_steps, record_every, code, out, work)
    _finite_trajectory(times, dt, out)
    return times, out


def head_groups(M: int, J: int, groups=None) -> list[np.ndarray]:
    """Split head indices 0..M-1 into J groups (C8): contiguous near-equal blocks by default.

    ``groups`` may give a label in 0..J-1 for every head; every group must be non-empty.

    Examples
    --------
    >>> from repdyn.kernels.flows import head_groups
    >>> [g.tolist() for g in head_groups(7, 3)]
    [[0, 1, 2], [3, 4], [5, 6]]
    >>> [g.tolist() for g in head_groups(4, 2, groups=[1, 0, 1, 0])]
    [[1, 3], [0, 2]]
    """
    if groups is None:
        if M < J:
            raise ValueError(f"W must have at least one head per group: M = {M} < J = {J}")
        return [np.asarray(g) for g in np.array_split(np.arange(M), J)]
    g = _finite_array(groups, "groups", ndim=1)
    if g.shape[0] != M or np.any(g != np.round(g)) or np.any((g < 0) | (g >= J)):
        raise ValueError(f"groups must hold one integer label in 0..{J - 1} per head (M = {M})")
    out = [np.flatnonzero(g == j) for j in range(J)]
    if any(len(o) == 0 for o in out):
        raise ValueError("groups: every group must hold at least one head")
    return out


# ----------------------------------------------------------------------------- draws


def draw_heads(K: int, M: int, scaling: str, rng) -> tuple[np.ndarray, float]:
    """Draw M fixed heads ``w^m ~ N(0, sigma^2 I_K)`` as the columns of W (K, M) (docs: theory/c5).

    Parameters
    ----------
    K, M : feature dimension and number of heads (>= 1)
    scaling : ``"i"`` (sigma^2 = 1, alpha = 1/M: dPhi/dt -> -A Phi in probability) or
        ``"ii"`` (sigma^2 = 1/M, alpha = 1: the limit keeps R eps^T, eps = W 1 ~ N(0, I_K))
    rng : numpy Generator

    Returns
    -------
    W : (K, M) heads;  alpha : the learning rate that goes with the scaling.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.flows import draw_heads
    >>> W, alpha = draw_heads(3, 1000, "i", np.random.default_rng(0))
    >>> W.shape, alpha
    ((3, 1000), 0.001)
    >>> bool(np.allclose(alpha * W @ W.T, np.eye(3), atol=0.2))   # G -> I as M grows
    True
    """
    K = check_int(K, "K", 1)
    M = check_int(M, "M", 1)
    rng = check_rng(rng)
    if scaling == "i":
        return rng.standard_normal((K, M)), 1.0 / M
    if scaling == "ii":
        return rng.standard_normal((K, M)) / np.sqrt(M), 1.0
    raise ValueError(f"scaling must be 'i' or 'ii', got {scaling!r}")


def draw_cumulants(n: int, M: int, Sigma, rng) -> np.ndarray:
    """Draw M random cumulants ``r^m ~ N(0, Sigma)`` as the columns of C (n, M) (docs: theory/c7).

    ``Sigma`` is a symmetric positive semi-definite (n, n) matrix, or None for I. The square
    root is taken from the eigendecomposition, so a singular Sigma is fine.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.flows import draw_cumulants
    >>> Sigma = np.array([[1.0, 1.0], [1.0, 1.0]])                # singular is fine
    >>> C = draw_cumulants(2, 5, Sigma, np.random.default_rng(0))
    >>> C.shape, bool(np.allclose(C[0], C[1]))                     # perfectly correlated states
    ((2, 5), True)
    """
    n = check_int(n, "n", 1)
    M = check_int(M, "M", 1)
    rng = check_rng(rng)
    Z = rng.standard_normal((n, M))
    if Sigma is None:
        return Z
    S = check_matrix(Sigma, "Sigma", n, n)
    scale = max(np.abs(S).max(), np.finfo(float).tiny)
    if np.abs(S - S.T).max() > 1e-10 * scale:
        raise ValueError("Sigma must be symmetric")
    e, Q = np.linalg.eigh(0.5 * (S + S.T))
    if e.min() < -1e-10 * max(e.max(), 0.0):
        raise ValueError(f"Sigma must be positive semi-definite (min eigenvalue {e.min():.3g})")
    return (Q * np.sqrt(np.clip(e, 0.0, None))) @ (Q.T @ Z)


# ----------------------------------------------------------------------------- simulators


def simulate_values(P, R, gamma, V0, dt, n_steps, record_every, method="rk4", flow="td"):
    """TD (``dV/dt = R + gamma P V - V``) or MC (``dV/dt = V* - V``) value flow (docs: theory/c1-C3).

    ``V0`` is (n,) or (n, K) (K independent value functions, C3). Returns ``(times, V_traj)``
    with V_traj (T, n) or (T, n, K). Exact solutions: :func:`analysis.closed_form.td_values`,
    :func:`analysis.closed_form.mc_values`.

    Notes
    -----
    Cost O(nnz(P) K) per right-hand side (O(n^2 K) dense). The MC flow needs V* = A^{-1} R:
    one LU solve, in Python.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import td_values
    >>> from repdyn.kernels.flows import simulate_values
    >>> P = np.array([[0.7, 0.3], [0.2, 0.8]]); R = np.array([1.0, 0.0])
    >>> times, V = simulate_values(P, R, 0.9, np.zeros(2), dt=0.01, n_steps=500, record_every=100)
    >>> times.tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    >>> bool(np.allclose(V, td_values(P, R, 0.9, np.zeros(2), times), atol=1e-10))   # RK4 error O(dt^4)
    True
    """
    P = check_transition(P, "P", sparse_ok=True)
    gamma = check_gamma(gamma)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    V = _finite_array(V0, "V0", ndim=(1, 2))
    if V.shape[0] != n:
        raise ValueError(f"V0 must have {n} rows (the number of states), got shape {V.shape}")
    vec = V.ndim == 1
    V = V[:, None] if vec else V
    if flow not in ("td", "mc"):
        raise ValueError(f"flow must be 'td' or 'mc', got {flow!r}")
    steps = _steps(dt, n_steps, record_every, method)
    K = V.shape[1]
    I = np.eye(K)
    if flow == "td":
        times, out = _run_linear([P], V, I, gamma * I, np.repeat(R[:, None], K, axis=1), steps)
    else:
        from repdyn.analysis.closed_form import true_values
        Vs = true_values(P, R, gamma)
        times, out = _run_linear([], V, I, np.zeros((0, K, K)),
                                 np.repeat(Vs[:, None], K, axis=1), steps)
    return times, (out[:, :, 0] if vec else out)


def _learned(P, R, gamma, Phi0, W, alpha, beta, steps):
    dt, n_steps, record_every, code, times = steps
    n, K = Phi0.shape
    M = W.shape[1]
    sparse, Pd, indptr, indices, data = _operators([P])
    T = len(times)
    out_Phi = np.empty((T, n, K))
    out_W = np.empty((T, K, M))
    _fk._learned_flow(Phi0, W, R, gamma, alpha, beta, sparse, Pd, indptr, indices, data, dt,
                      n_steps, record_every, code, out_Phi, out_W, np.empty((7, n, K)),
                      np.empty((6, K, M)), np.empty((2, K, K)), np.empty((2, K)))
    _finite_trajectory(times, dt, out_Phi, out_W)
    return times, out_Phi, out_W


def simulate_ensemble(P, R, gamma, Phi0, W, alpha, beta, dt, n_steps, record_every,
                      method="rk4"):
    """M-head ensemble flow (docs: theory/c5, C6; Thm 4.1, Cor 4.2).

    ``dPhi/dt = alpha sum_m (R + gamma P Phi w^m - Phi w^m) w^mT``,
    ``dw^m/dt = beta Phi^T (R + gamma P Phi w^m - Phi w^m)``.

    Parameters
    ----------
    P : (n, n) row-stochastic, dense or scipy sparse;  R : (n,);  gamma : in [0, 1)
    Phi0 : (n, K) initial features;  W : (K, M) initial heads, one per column
    alpha, beta : learning rates >= 0 (beta = 0: fixed heads)
    dt : step > 0;  n_steps : int >= 0;  record_every : int >= 1;  method : "rk4" or "euler"

    Returns
    -------
    times : (T,);  Phi_traj : (T, n, K);  W_traj : (T, K, M). With beta = 0 the heads do not
    move and W_traj is a read-only broadcast view of W (no T copies of a large W).

    Notes
    -----
    beta = 0 takes the fast path ``dPhi/dt = -A Phi G + R s^T``, ``G = alpha W W^T``,
    ``s = alpha W 1`` (formed once, O(K^2 M)): O(n^2 K + n K^2) per right-hand side (nnz(P) K
    for sparse P), independent of M. beta > 0: O(n^2 K + n K^2 + K^2 M), never forming the
    n x M TD-error matrix. RK4 is stable for dt * alpha ||W||^2 (1 + gamma) below about 2.7;
    its global error is O(dt^4). Exact solution for beta = 0:
    :func:`analysis.closed_form.ensemble_features`.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import ensemble_features
    >>> from repdyn.kernels.flows import simulate_ensemble
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> P = random_walk_chain(5); R = np.zeros(5); R[-1] = 1.0
    >>> rng = np.random.default_rng(0)
    >>> Phi0, W = rng.standard_normal((5, 2)), rng.standard_normal((2, 8))
    >>> times, Phi, Wt = simulate_ensemble(P, R, 0.9, Phi0, W, 1 / 8, 0.0, 0.01, 300, 100)
    >>> Phi.shape, Wt.shape
    ((4, 5, 2), (4, 2, 8))
    >>> exact = ensemble_features(P, R, 0.9, Phi0, W, 1 / 8, times)   # fixed heads: exact solution
    >>> bool(np.allclose(Phi, exact, atol=1e-9))
    True
    """
    P = check_transition(P, "P", sparse_ok=True)
    gamma = check_gamma(gamma)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    Phi0 = check_matrix(Phi0, "Phi0", rows=n)
    K = Phi0.shape[1]
    if K == 0:
        raise ValueError("Phi0 must have at least one column")
    W = check_heads(W, K)
    alpha = check_nonnegative(alpha, "alpha")
    beta = check_nonnegative(beta, "beta")
    steps = _steps(dt, n_steps, record_every, method)
    if beta == 0.0:
        G = alpha * (W @ W.T)
        s = alpha * W.sum(axis=1)
        times, out = _run_linear([P], Phi0, G, (gamma * G)[None], np.outer(R, s), steps)
        W_traj = np.broadcast_to(W, (len(times),) + W.shape)
        return times, out, W_traj
    return _learned(P, R, gamma, Phi0, W, alpha, beta, steps)


def simulate_linear_fa(P, R, gamma, Phi0, w0, alpha, beta, dt, n_steps, record_every,
                       method="rk4"):
    """Two-timescale linear function approximation (docs: theory/c4).

    ``dPhi/dt = alpha delta w^T``, ``dw/dt = beta Phi^T delta``,
    ``delta = R + gamma P Phi w - Phi w``: the ensemble flow with one learned head.

    Returns ``(times, Phi_traj (T, n, K), w_traj (T, K))``. No closed form exists; every
    stationary point with w != 0 has zero TD error, so ``Phi_t w_t -> V*`` is what C4 checks.

    Notes
    -----
    Cost O(n^2 K + n K^2) per right-hand side. The flow is nonlinear: RK4 needs
    ``dt (alpha ||w||^2 + beta ||Phi||^2)(1 + gamma)`` well below 2.7; with R = 0 the approach
    to V* = 0 is algebraic, not exponential.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import true_values
    >>> from repdyn.kernels.flows import simulate_linear_fa
    >>> P = np.array([[0.7, 0.3], [0.2, 0.8]]); R = np.array([1.0, 0.5])
    >>> rng = np.random.default_rng(0)
    >>> times, Phi, w = simulate_linear_fa(P, R, 0.5, rng.standard_normal((2, 2)),
    ...                                    rng.standard_normal(2), 1.0, 1.0, 0.01, 4000, 4000)
    >>> Phi.shape, w.shape
    ((2, 2, 2), (2, 2))
    >>> bool(np.allclose(Phi[-1] @ w[-1], true_values(P, R, 0.5), atol=1e-4))   # Phi_t w_t -> V* (C4)
    True
    """
    P = check_transition(P, "P", sparse_ok=True)
    gamma = check_gamma(gamma)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    Phi0 = check_matrix(Phi0, "Phi0", rows=n)
    K = Phi0.shape[1]
    if K == 0:
        raise ValueError("Phi0 must have at least one column")
    w0 = check_vector(w0, K, "w0")
    alpha = check_nonnegative(alpha, "alpha")
    beta = check_nonnegative(beta, "beta")
    steps = _steps(dt, n_steps, record_every, method)
    times, Phi, W = _learned(P, R, gamma, Phi0, np.ascontiguousarray(w0[:, None]), alpha, beta,
                             steps)
    return times, Phi, np.ascontiguousarray(W[:, :, 0])


def simulate_random_cumulants(P, C, gamma, Phi0, W, dt, n_steps, record_every, method="rk4"):
    """Random-cumulant flow (docs: theory/c7, Thm 4.3), alpha = 1, fixed heads.

    ``dPhi/dt = sum_m (c^m + gamma P Phi w^m - Phi w^m) w^mT = -A Phi W W^T + C W^T``.

    Parameters
    ----------
    C : (n, M) cumulants (column m is head m's reward);  W : (K, M) heads;  Phi0 : (n, K)

    Returns ``(times, Phi_traj (T, n, K))``. Exact solution:
    :func:`analysis.closed_form.random_cumulant_features`; limit ``Phi_inf = A^{-1} C W^T G^{-1}``.

    Notes
    -----
    ``G = W W^T`` and ``F = C W^T`` are formed once (O(K^2 M + n K M)); then O(n^2 K + n K^2)
    per right-hand side.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.closed_form import random_cumulant_features
    >>> from repdyn.kernels.flows import draw_cumulants, draw_heads, simulate_random_cumulants
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> P = random_walk_chain(5); rng = np.random.default_rng(0)
    >>> W, alpha = draw_heads(2, 16, "ii", rng); C = draw_cumulants(5, 16, None, rng)
    >>> times, Phi = simulate_random_cumulants(P, C, 0.9, np.zeros((5, 2)), W, 0.01, 200, 100)
    >>> bool(np.allclose(Phi, random_cumulant_features(P, C, 0.9, np.zeros((5, 2)), W, times),
    ...                  atol=1e-9))
    True
    """
    P = check_transition(P, "P", sparse_ok=True)
    gamma = check_gamma(gamma)
    n = P.shape[0]
    Phi0 = check_matrix(Phi0, "Phi0", rows=n)
    K = Phi0.shape[1]
    if K == 0:
        raise ValueError("Phi0 must have at least one column")
    W = check_heads(W, K)
    C = check_matrix(C, "C", rows=n, cols=W.shape[1], cols_of="the M heads, columns of W")
    steps = _steps(dt, n_steps, record_every, method)
    G = W @ W.T
    return _run_linear([P], Phi0, G, (gamma * G)[None], C @ W.T, steps)


def simulate_multi_policy(Ps, Rs, gamma, Phi0, W, alpha, dt, n_steps, record_every,
                          method="rk4", groups=None):
    """Additional-policies auxiliary task (docs: theory/c8), fixed heads split into J groups.

    Group j (heads ``W_j``) predicts the values of policy j:
    ``dPhi/dt = alpha sum_j sum_{m in j} (R_j + gamma P_j Phi w^m - Phi w^m) w^mT
    = sum_j (-(I - gamma P_j) Phi G_j + R_j s_j^T)``, ``G_j = alpha W_j W_j^T``, ``s_j = alpha W_j 1``.

    Parameters
    ----------
    Ps : (J, n, n) array or list of J transition matrices (dense or sparse);  Rs : (J, n)
    gamma, Phi0 (n, K), W (K, M), alpha >= 0, dt, n_steps, record_every, method: as
    :func:`simulate_ensemble`;  groups : None (contiguous near-equal blocks) or a label per head

    Returns ``(times, Phi_traj)``. Limit (scaling (ii)): :func:`analysis.closed_form.multi_policy_limit`
    with ``eps_j = sqrt(J) W_j 1``. The G_j do not commute: the exact finite-M solution goes
    through the vec form ``vec dPhi/dt = -(sum_j G_j kron A_j) vec Phi + vec F``.

    Notes
    -----
    O(J (n^2 K + n K^2)) per right-hand side (J nnz(P) K sparse).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.flows import simulate_multi_policy
    >>> from repdyn.proofs.references import reference_multi_policy
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> Ps = np.stack([random_walk_chain(4, 0.3), random_walk_chain(4, 0.7)])
    >>> Rs = np.eye(4)[[0, 3]]; rng = np.random.default_rng(0)
    >>> Phi0, W = rng.standard_normal((4, 2)), rng.standard_normal((2, 6)) / np.sqrt(6)
    >>> times, Phi = simulate_multi_policy(Ps, Rs, 0.9, Phi0, W, 1.0, 0.01, 100, 50)
    >>> _, ref = reference_multi_policy(Ps, Rs, 0.9, Phi0, W, 1.0, 0.01, 100, 50)
    >>> Phi.shape, bool(np.allclose(Phi, ref, atol=1e-12))
    ((3, 4, 2), True)
    """
    Ps = check_policies(Ps)
    J = len(Ps)
    gamma = check_gamma(gamma)
    n = Ps[0].shape[0]
    Rs = check_matrix(Rs, "Rs", rows=J, cols=n)
    Phi0 = check_matrix(Phi0, "Phi0", rows=n)
    K = Phi0.shape[1]
    if K == 0:
        raise ValueError("Phi0 must have at least one column")
    W = check_heads(W, K)
    alpha = check_nonnegative(alpha, "alpha")
    steps = _steps(dt, n_steps, record_every, method)
    gr = head_groups(W.shape[1], J, groups)
    Gs = np.stack([alpha * (W[:, g] @ W[:, g].T) for g in gr])
    F = sum(np.outer(Rs[j], alpha * W[:, g].sum(axis=1)) for j, g in enumerate(gr))
    return _run_linear(Ps, Phi0, Gs.sum(axis=0), gamma * Gs, F, steps)


def simulate_multi_discount(P, R, gammas, Phi0, W, alpha, dt, n_steps, record_every,
                            method="rk4", groups=None):
    """Several-discounts auxiliary task (docs: theory/c8), fixed heads split into J groups.

    Group j predicts the value at discount ``gammas[j]``:
    ``dPhi/dt = sum_j (-(I - gamma_j P) Phi G_j + R s_j^T) = -Phi G + P Phi (sum_j gamma_j G_j) + R s^T``.

    Returns ``(times, Phi_traj)``. Limit: :func:`analysis.closed_form.multi_discount_limit`
    (generator ``I - gamma_bar P``, eps = W 1 under scaling (ii)).

    Notes
    -----
    One P, so O(n^2 K + n K^2) per right-hand side after forming ``G = sum_j G_j`` and
    ``H = sum_j gamma_j G_j`` once (O(K^2 M)). The G_j do not commute; the exact finite-M
    solution goes through the vec form (tests/test_flows.py).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.kernels.flows import simulate_multi_discount
    >>> from repdyn.proofs.references import reference_multi_discount
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> P = random_walk_chain(4); R = np.eye(4)[3]; rng = np.random.default_rng(0)
    >>> Phi0, W = rng.standard_normal((4, 2)), rng.standard_normal((2, 6)) / np.sqrt(6)
    >>> times, Phi = simulate_multi_discount(P, R, [0.8, 0.9, 0.99], Phi0, W, 1.0, 0.01, 100, 50)
    >>> _, ref = reference_multi_discount(P, R, [0.8, 0.9, 0.99], Phi0, W, 1.0, 0.01, 100, 50)
    >>> bool(np.allclose(Phi, ref, atol=1e-12))
    True
    """
    P = check_transition(P, "P", sparse_ok=True)
    g = check_gammas(gammas)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    Phi0 = check_matrix(Phi0, "Phi0", rows=n)
    K = Phi0.shape[1]
    if K == 0:
        raise ValueError("Phi0 must have at least one column")
    W = check_heads(W, K)
    alpha = check_nonnegative(alpha, "alpha")
    steps = _steps(dt, n_steps, record_every, method)
    gr = head_groups(W.shape[1], len(g), groups)
    Gs = np.stack([alpha * (W[:, idx] @ W[:, idx].T) for idx in gr])
    H = np.tensordot(g, Gs, axes=1)
    s = alpha * W.sum(axis=1)
    return _run_linear([P], Phi0, Gs.sum(axis=0), H[None], np.outer(R, s), steps)


# ----------------------------------------------------------------------------- warm-up


def _warmup():
    """Compile both kernels (dense and sparse P share one signature each) on tiny inputs."""
    P = np.array([[0.5, 0.5], [0.25, 0.75]])
    R = np.array([1.0, 0.0])
    Phi0 = np.eye(2)
    W = np.array([[1.0, 0.5, -0.5], [0.0, 1.0, 0.25]])
    for PP in (P, sp.csr_matrix(P)):
        simulate_ensemble(PP, R, 0.5, Phi0, W, 0.3, 0.0, 0.1, 2, 1)
        simulate_ensemble(PP, R, 0.5, Phi0, W, 0.3, 0.1, 0.1, 2, 1, method="euler")
    simulate_values(P, R, 0.5, R, 0.1, 2, 1, flow="mc")
