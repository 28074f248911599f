r"""The update-space view of a representation (docs: theory/c14): how an update on one state
moves the predictions on the others.

**Convention.** The linear-FA flow of docs: theory/c4 (the one :func:`kernels.flows.simulate_linear_fa`
integrates) learns features ``Phi`` (n x K) with step size ``alpha`` and one head ``w`` (K)
with step size ``beta``::

    delta   = R + gamma P Phi w - Phi w                 (the TD error vector, one entry per state)
    dPhi/dt = alpha delta w^T,      dw/dt = beta Phi^T delta .

For the values ``V = Phi w`` the product rule gives

    dV/dt = (dPhi/dt) w + Phi (dw/dt) = alpha ||w||^2 delta + beta Phi Phi^T delta = K_t delta,

    K_t = alpha ||w_t||^2 I + beta Phi_t Phi_t^T          (the *update kernel* over states).

``K_t[i, j]`` is how much a unit of TD error at state j moves the prediction at state i. The
feature part ``alpha ||w||^2 I`` moves only the state that was updated (a table); the
weight part ``beta Phi Phi^T`` is where states generalise to one another. For a network
``V(x; theta)`` trained by semi-gradient TD with step ``eta`` the same computation gives
``eta J J^T`` with J the per-state gradients: the empirical NTK Gram matrix
(:func:`kernels.probes.ntk_gram`).

**Along the closed-form flows** (fixed heads, beta = 0: docs: theory/c5-c7) the features are
known exactly; the update kernel that a linear read-out learned on top of them would see is
the feature part ``Phi_t Phi_t^T`` (:func:`feature_kernel`):

* ensemble collapse (R = 0, ``G = alpha W W^T = Q diag(d) Q^T`` positive definite): column j
  of ``Phi_t Q`` is ``exp(-t d_j A) psi_j`` with ``A = I - gamma P``; the slowest mode of
  ``exp(-t d A)`` is the eigenvalue 1 of P (``1 - gamma lambda_1 = 1 - gamma``), so
  ``e^{r t} Phi_t Phi_t^T -> L = sum_{d_j = d_min} (Pi psi_j)(Pi psi_j)^T`` with
  ``r = 2 d_min(G) (1 - gamma)`` and ``Pi`` the spectral projector of P onto eigenvalue 1
  (``Pi = 1 pi^T`` for an irreducible chain): the feature kernel vanishes at rate ``r`` and
  what is left of it is constant across states (rank one, ``1 1^T``) — states stop being
  told apart before they stop generalising (:func:`collapse_kernel_asymptote`).
* random cumulants: ``Phi_t -> Phi_inf = A^{-1} C W^T G^{-1}``, so ``Phi_t Phi_t^T ->
  Phi_inf Phi_inf^T``, non-zero for generic cumulants (:func:`cumulant_kernel_limit`).

**"TD fits non-smooth components first", spectrally.** Along the TD flow ``dV/dt = R - A V``
the TD error ``delta_t = R - A V_t`` obeys ``d delta/dt = -A delta``, so for a diagonalisable
``P = U diag(lambda) U^{-1}`` its modal coordinates ``c(t) = U^{-1} delta_t`` are exactly
``c_i(t) = e^{-t (1 - gamma lambda_i)} c_i(0)``: the error along an eigenvector decays at
``1 - gamma Re lambda_i``, slowest for lambda near 1 (the smooth, slowly varying
eigenfunctions; lambda_1 = 1 is the constant) and fastest for the oscillating ones
(:func:`td_error_modes`). Two cautions:

* *defective P*: on a Jordan block of size m for lambda the coordinates in a Jordan basis are
  ``e^{-t(1 - gamma lambda)} sum_{j<m} (t gamma)^j / j! N^j c(0)`` (N nilpotent): the rate is
  still ``1 - gamma Re lambda`` but with polynomial factors ``t^j``, so a fitted slope is
  biased at finite t (the exact form is :func:`analysis.symbolic.td_values`).
* *non-normal P*: the modal coordinates are still exact, but the eigenvectors are not
  orthogonal, so the Euclidean norm of the error can grow transiently
  (``d/dt ||delta||^2 = -2 delta^T A delta`` is positive when ``delta^T P delta >
  ||delta||^2 / gamma``). It never grows in the max-norm: ``||exp(-tA)||_inf =
  e^{-t(1-gamma)}`` for every stochastic P.

All functions are float64 and use ``np.linalg.solve`` (never an inverse).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg as sla

from repdyn.analysis.closed_form import ensemble_features, random_cumulant_features, td_values
from repdyn.analysis.mdp import (_finite_array, check_gamma, check_heads, check_matrix,
                                 check_nonnegative, check_times, check_transition, check_vector)

__all__ = ["update_kernel", "td_error", "value_velocity", "feature_kernel",
           "KernelAsymptote", "collapse_kernel_asymptote", "cumulant_kernel_limit",
           "modal_rates", "td_error_modes", "D_TIE_RTOL", "MODAL_COND_MAX"]

#: Eigenvalues of G within this relative distance of d_min are treated as equal to it
#: (they share the slowest rate; a split smaller than this would only show after
#: t ~ 1 / (D_TIE_RTOL d_min (1 - gamma)), far beyond any horizon of interest).
D_TIE_RTOL = 1e-9
#: Eigenvector condition number beyond which P is treated as not diagonalisable (the modal
#: coordinates would lose more than 8 of float64's 16 digits).
MODAL_COND_MAX = 1e8


# ----------------------------------------------------------------------------- linear FA


def update_kernel(Phi, w, alpha, beta) -> np.ndarray:
    r"""Update kernel ``K = alpha ||w||^2 I + beta Phi Phi^T`` of the linear-FA flow (docs: theory/c14).

    Parameters
    ----------
    Phi : array_like, shape (n, K)
        Features, one row per state.
    w : array_like, shape (K,)
        Value head.
    alpha, beta : float >= 0
        Step sizes of the features and of the head (the flow of docs: theory/c4).

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric positive semi-definite; ``dV/dt = K delta`` for ``V = Phi w``.

    Raises
    ------
    ValueError
        Non-finite or mis-shaped ``Phi``/``w``; negative or non-finite step sizes.

    Notes
    -----
    Derivation (the module docstring): ``dV/dt = (dPhi/dt) w + Phi dw/dt`` with
    ``dPhi/dt = alpha delta w^T`` and ``dw/dt = beta Phi^T delta``. Cost O(n^2 K).

    Examples
    --------
    >>> from repdyn.analysis.update_kernel import update_kernel
    >>> import numpy as np
    >>> K = update_kernel(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([2.0, 0.0]), 0.5, 1.0)
    >>> K
    array([[3., 1.],
           [1., 4.]])
    """
    Phi = check_matrix(Phi, "Phi")
    w = check_vector(w, Phi.shape[1], "w", "the K columns of Phi")
    alpha = check_nonnegative(alpha, "alpha")
    beta = check_nonnegative(beta, "beta")
    K = beta * (Phi @ Phi.T)
    K[np.diag_indices_from(K)] += alpha * float(w @ w)
    return K


def td_error(P, R, gamma, V) -> np.ndarray:
    """TD error vector ``delta = R + gamma P V - V`` (the expected TD(0) error at every state).

    Parameters
    ----------
    P : (n, n) row-stochastic, dense or scipy sparse;  R : (n,);  gamma : in [0, 1)
    V : (n,) values

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    ValueError
        Invalid P or gamma, mis-shaped or non-finite R or V.

    Notes
    -----
    One product with P: O(nnz(P)).

    Examples
    --------
    >>> from repdyn.analysis.update_kernel import td_error
    >>> import numpy as np
    >>> td_error(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1.0, 0.0]), 0.5, np.zeros(2))
    array([1., 0.])
    """
    P = check_transition(P, "P", sparse_ok=True)
    gamma = check_gamma(gamma)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    V = check_vector(V, n, "V")
    return R + gamma * (P @ V) - V


def value_velocity(P, R, gamma, Phi, w, alpha, beta) -> np.ndarray:
    r"""``dV/dt = K delta`` of the linear-FA flow at ``(Phi, w)`` (docs: theory/c14).

    Parameters
    ----------
    P, R, gamma : the MDP (P may be sparse)
    Phi : (n, K) features;  w : (K,) head;  alpha, beta : step sizes >= 0

    Returns
    -------
    ndarray, shape (n,)

    Notes
    -----
    Computed as ``alpha ||w||^2 delta + beta Phi (Phi^T delta)`` in O(nK) after the TD error
    (O(nnz(P))), without forming K.

    Examples
    --------
    >>> from repdyn.analysis.update_kernel import value_velocity
    >>> import numpy as np
    >>> P = np.array([[0.5, 0.5], [0.0, 1.0]])
    >>> v = value_velocity(P, np.array([1.0, 0.0]), 0.9, np.eye(2), np.array([1.0, 0.0]), 1.0, 1.0)
    >>> v
    array([0.9, 0. ])
    """
    P = check_transition(P, "P", sparse_ok=True)
    n = P.shape[0]
    Phi = check_matrix(Phi, "Phi", rows=n, rows_of="the number of states")
    w = check_vector(w, Phi.shape[1], "w", "the K columns of Phi")
    alpha = check_nonnegative(alpha, "alpha")
    beta = check_nonnegative(beta, "beta")
    delta = td_error(P, R, gamma, Phi @ w)
    return alpha * float(w @ w) * delta + beta * (Phi @ (Phi.T @ delta))


# ----------------------------------------------------------------------- closed-form flows


def feature_kernel(Phi_traj) -> np.ndarray:
    """Feature part of the update kernel, ``Phi_t Phi_t^T`` for every t (docs: theory/c14).

    Parameters
    ----------
    Phi_traj : array_like, shape (T, n, K) or (n, K)
        A feature trajectory (e.g. :func:`analysis.closed_form.ensemble_features`) or one
        feature matrix.

    Returns
    -------
    ndarray, shape (T, n, n) or (n, n)

    Raises
    ------
    ValueError
        Not 2-d or 3-d, or non-finite.

    Notes
    -----
    One batched GEMM, O(T n^2 K).

    Examples
    --------
    >>> from repdyn.analysis.update_kernel import feature_kernel
    >>> import numpy as np
    >>> feature_kernel(np.array([[1.0], [2.0]]))
    array([[1., 2.],
           [2., 4.]])
    """
    F = _finite_array(Phi_traj, "Phi_traj", ndim=(2, 3))
    return F @ np.swapaxes(F, -1, -2)


class KernelAsymptote(NamedTuple):
    """``e^{rate t} Phi_t Phi_t^T -> limit`` with relative error ``O(e^{-gap t})``.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.update_kernel import KernelAsymptote, collapse_kernel_asymptote
    >>> P = np.array([[0.5, 0.5], [0.5, 0.5]])
    >>> a = collapse_kernel_asymptote(P, 0.5, np.array([[1.0], [3.0]]), np.array([[1.0]]), 1.0)
    >>> isinstance(a, KernelAsymptote), a._fields
    (True, ('rate', 'limit', 'gap'))
    >>> rate, limit, gap = a                 # r = 2 d_min (1 - gamma); L = (Pi psi)(Pi psi)^T
    >>> rate, limit.round(12).tolist(), round(gap, 12)
    (1.0, [[4.0, 4.0], [4.0, 4.0]], 0.5)
    """

    rate: float
    limit: np.ndarray
    gap: float


def _unit_projector(P) -> np.ndarray:
    """Spectral projector of a dense stochastic P onto its eigenvalue 1 (semisimple for
    every stochastic matrix): ``Pi = V (Y^T V)^{-1} Y^T`` from the right and left null
    spaces of ``P - I``, applied by a solve."""
    n = P.shape[0]
    I = np.eye(n)
    Vr = sla.null_space(P - I, rcond=1e-10)
    Yl = sla.null_space(P.T - I, rcond=1e-10)
    if Vr.shape[1] != Yl.shape[1] or Vr.shape[1] == 0:
        raise ValueError("P: could not separate the eigenvalue 1 (its left and right null spaces "
                         f"have dimensions {Yl.shape[1]} and {Vr.shape[1]})")
    return Vr @ np.linalg.solve(Yl.T @ Vr, Yl.T)


def collapse_kernel_asymptote(P, gamma, Phi0, W, alpha) -> KernelAsymptote:
    r"""How the feature kernel vanishes under ensemble collapse (R = 0; docs: theory/c6, c14).

    With fixed heads ``W`` (K, M), ``G = alpha W W^T = Q diag(d) Q^T`` positive definite and
    ``psi_j`` the columns of ``Phi0 Q``, the exact solution
    ``Phi_t Q = [exp(-t d_j A) psi_j]_j`` gives

    ``e^{r t} Phi_t Phi_t^T -> L = sum_{j : d_j = d_min} (Pi psi_j)(Pi psi_j)^T``,
    ``r = 2 d_min (1 - gamma)``,

    with ``Pi`` the spectral projector of P onto eigenvalue 1 (``1 pi^T`` for an irreducible
    chain, so L is a multiple of ``1 1^T``); at gamma = 0 (A = I) ``Pi`` is replaced by I.

    Parameters
    ----------
    P : (n, n) dense row-stochastic;  gamma : discount in [0, 1)
    Phi0 : (n, K) initial features;  W : (K, M) fixed heads;  alpha : step size > 0

    Returns
    -------
    KernelAsymptote
        ``rate`` r, ``limit`` L (n, n) and ``gap``: the relative error of
        ``e^{r t} Phi_t Phi_t^T`` against L is ``O(e^{-gap t})`` with
        ``gap = min(2 (d' - d_min)(1 - gamma), d_min gamma (1 - Re lambda_2'))``, d' the next
        distinct eigenvalue of G (the other columns) and
        lambda_2' the eigenvalue of P with the largest real part below 1 (whichever exist).

    Raises
    ------
    ValueError
        Bad shapes or values; ``G`` singular (M < K or dependent heads: some columns never
        move, no collapse); ``Pi psi_j = 0`` for every slowest column (a non-generic
        ``Phi0``: the rate is then faster).

    Notes
    -----
    Cost O(n^3) (null spaces and eigenvalues of P) + O(K^3). Exact up to rounding; the
    limit does not use the propagator, so it is an independent check of the closed form.

    Examples
    --------
    >>> from repdyn.analysis.update_kernel import collapse_kernel_asymptote
    >>> import numpy as np
    >>> P = np.array([[0.5, 0.5], [0.5, 0.5]])
    >>> a = collapse_kernel_asymptote(P, 0.5, np.array([[1.0], [3.0]]), np.array([[1.0]]), 1.0)
    >>> a.rate, a.limit
    (1.0, array([[4., 4.],
           [4., 4.]]))
    """
    P = check_transition(P, "P")
    gamma = check_gamma(gamma)
    n = P.shape[0]
    Phi0 = check_matrix(Phi0, "Phi0", rows=n, rows_of="the number of states")
    W = check_heads(W, Phi0.shape[1])
    alpha = check_nonnegative(alpha, "alpha", allow_zero=False)
    G = alpha * (W @ W.T)
    d, Q = np.linalg.eigh(0.5 * (G + G.T))
    if d[0] <= 1e-12 * max(d[-1], 1e-300):
        raise ValueError(f"W: G = alpha W W^T is singular (smallest eigenvalue {d[0]:.3g}): the "
                         "columns in its null space never move, so the features do not collapse")
    d_min = float(d[0])
    slow = d <= d_min * (1.0 + D_TIE_RTOL)
    Psi = Phi0 @ Q[:, slow]
    # gamma = 0: A = I, every mode of a column decays at the same rate, nothing is projected
    PiPsi = _unit_projector(P) @ Psi if gamma > 0 else Psi
    if np.linalg.norm(PiPsi) <= 1e-12 * np.linalg.norm(Psi):
        raise ValueError("Phi0: its slowest columns have no component along the eigenvalue 1 of P "
                         "(not a generic initial condition)")
    L = PiPsi @ PiPsi.T
    lam = np.linalg.eigvals(P)
    rest = lam[np.abs(lam - 1.0) > 1e-8]
    gaps = []
    if np.any(~slow):
        gaps.append(2.0 * (float(d[~slow][0]) - d_min) * (1.0 - gamma))
    if rest.size and gamma > 0:
        gaps.append(d_min * gamma * (1.0 - float(rest.real.max())))
    gap = min(gaps) if gaps else np.inf
    return KernelAsymptote(2.0 * d_min * (1.0 - gamma), L, float(gap))


def cumulant_kernel_limit(P, C, gamma, W) -> np.ndarray:
    r"""Limit of the feature kernel under random cumulants (docs: theory/c7, c14).

    ``Phi_inf = A^{-1} C W^T G^{-1}`` (``A = I - gamma P``, ``G = W W^T`` positive definite)
    and ``Phi_t Phi_t^T -> Phi_inf Phi_inf^T``, which is non-zero unless ``C W^T = 0``:
    random cumulants keep states generalising to one another.

    Parameters
    ----------
    P : (n, n) row-stochastic (dense or sparse);  C : (n, M) cumulants
    gamma : discount;  W : (K, M) fixed heads

    Returns
    -------
    ndarray (n, n)

    Notes
    -----
    Two solves (``np.linalg.solve`` with G, an LU solve with A): O(n^3 + K^3 + n K M).

    Examples
    --------
    >>> from repdyn.analysis.update_kernel import cumulant_kernel_limit
    >>> import numpy as np
    >>> P = np.eye(2)
    >>> cumulant_kernel_limit(P, np.array([[1.0], [0.0]]), 0.5, np.array([[1.0]]))
    array([[4., 0.],
           [0., 0.]])
    """
    P = check_transition(P, "P", sparse_ok=True)
    gamma = check_gamma(gamma)
    n = P.shape[0]
    W = check_matrix(W, "W")
    if W.shape[0] == 0 or W.shape[1] == 0:
        raise ValueError(f"W must have at least one row and one head (column), got shape {W.shape}")
    C = check_matrix(C, "C", rows=n, cols=W.shape[1],
                     rows_of="the number of states", cols_of="the M heads, columns of W")
    G = W @ W.T
    if np.linalg.eigvalsh(G)[0] <= 1e-12 * max(np.abs(G).max(), 1e-300):
        raise ValueError("W: G = W W^T is singular (M < K or dependent heads): Phi_inf is not unique")
    from repdyn.analysis.propagator import Propagator
    F = np.linalg.solve(G, (C @ W.T).T).T           # C W^T G^{-1} (G symmetric)
    Phi_inf = Propagator(P, gamma).solve(F)
    return Phi_inf @ Phi_inf.T


# ------------------------------------------------------------------------ spectral form


def modal_rates(P, gamma):
    r"""Eigenvalues of P (by real part, descending) and the TD-error decay rates ``1 - gamma Re lambda``.

    Parameters
    ----------
    P : (n, n) dense row-stochastic;  gamma : in [0, 1)

    Returns
    -------
    lam : (n,) complex
    rates : (n,) float, ascending: the smooth eigenfunctions (lambda near 1) are fitted last.

    Raises
    ------
    ValueError
        Invalid P or gamma.

    Notes
    -----
    LAPACK ``geev``, O(n^3). For defective P the rate of a Jordan block is still
    ``1 - gamma Re lambda`` but with polynomial factors (module notes).

    Examples
    --------
    >>> from repdyn.analysis.update_kernel import modal_rates
    >>> import numpy as np
    >>> lam, r = modal_rates(np.array([[0.9, 0.1], [0.2, 0.8]]), 0.5)
    >>> np.round(lam.real, 12), np.round(r, 12)
    (array([1. , 0.7]), array([0.5 , 0.65]))
    """
    P = check_transition(P, "P")
    gamma = check_gamma(gamma)
    lam = np.linalg.eigvals(P)
    lam = lam[np.lexsort((-lam.imag, -lam.real))].astype(complex)
    return lam, 1.0 - gamma * lam.real


def td_error_modes(P, R, gamma, V0, t):
    r"""Modal coordinates of the TD error along the TD flow (docs: theory/c14, "non-smooth first").

    ``delta_t = R + gamma P V_t - V_t`` with ``V_t`` the exact TD trajectory
    (:func:`analysis.closed_form.td_values`), and ``c(t) = U^{-1} delta_t`` for
    ``P = U diag(lambda) U^{-1}`` (eigenvalues by real part, descending). In exact arithmetic
    ``c_i(t) = e^{-t (1 - gamma lambda_i)} c_i(0)``.

    Parameters
    ----------
    P : (n, n) dense, diagonalisable, row-stochastic;  R : (n,);  gamma : in [0, 1)
    V0 : (n,) initial values;  t : (T,) times >= 0

    Returns
    -------
    lam : (n,) complex eigenvalues;  coords : (T, n) complex modal coordinates

    Raises
    ------
    ValueError
        P not (numerically) diagonalisable: eigenvector condition number above
        :data:`MODAL_COND_MAX` (a defective P has polynomial factors ``t^j``; see the module
        notes), besides the usual input errors.

    Notes
    -----
    The coordinates come from ``np.linalg.solve(U, delta_t)``: absolute error about
    ``cond(U) u ||delta_t||``, so a fast mode is resolved while
    ``|c_i(t)| >> cond(U) u ||delta_t||``. The trajectory is computed independently of the
    eigendecomposition (uniformization or Chebyshev in :mod:`analysis.propagator`). Cost
    O(n^3 + T n^2).

    Examples
    --------
    >>> from repdyn.analysis.update_kernel import td_error_modes
    >>> import numpy as np
    >>> P = np.array([[0.5, 0.5], [0.5, 0.5]])
    >>> lam, c = td_error_modes(P, np.array([1.0, 0.0]), 0.5, np.zeros(2), [0.0, 1.0])
    >>> bool(np.allclose(np.abs(c[1] / c[0]), np.exp(-(1 - 0.5 * lam.real))))
    True
    """
    P = check_transition(P, "P")
    gamma = check_gamma(gamma)
    n = P.shape[0]
    R = check_vector(R, n, "R")
    V0 = check_vector(V0, n, "V0")
    t = check_times(t)
    lam, U = np.linalg.eig(P)
    order = np.lexsort((-lam.imag, -lam.real))
    lam, U = lam[order].astype(complex), U[:, order].astype(complex)
    s = np.linalg.svd(U, compute_uv=False)
    if s[-1] <= 0 or s[0] / s[-1] > MODAL_COND_MAX:
        raise ValueError(f"P: not (numerically) diagonalisable (eigenvector condition "
                         f"{s[0] / max(s[-1], 1e-300):.3g} > MODAL_COND_MAX = {MODAL_COND_MAX:g}); "
                         "modal coordinates are unavailable (defective P: polynomial factors t^j)")
    V = td_values(P, R, gamma, V0, t)
    D = R[None, :] + gamma * V @ P.T - V               # delta_t for every t, (T, n)
    coords = np.linalg.solve(U, D.T.astype(complex)).T
    return lam, coords
