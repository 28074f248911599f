"""Exact (sympy) representation flows, their limits and the moments behind them (docs: theory/c5-C8).

Feature flows with fixed heads are linear: ``dPhi/dt = -A Phi G + F`` (``A = I - gamma P``).

* Finite M, exact (C5, C7): with ``G Q = Q D`` (any eigenbasis of the symmetric G) and
  ``Psi = Phi Q``, column j obeys ``dpsi_j/dt = -d_j A psi_j + (F Q)_j``, so
  ``psi_j(t) = exp(-t d_j A) psi_j(0) + t phi_1(-t d_j A)(F Q)_j``,
  ``t phi_1(-t d A) f = A^{-1}(f - exp(-t d A) f)/d`` (d > 0) and ``t f`` (d = 0, singular G),
  and ``Phi_t = Psi_t Q^{-1}``. Ensemble: ``G = alpha W W^T``, ``F = R s^T``, ``s = alpha W 1``;
  random cumulants: ``G = W W^T``, ``F = C W^T``.
* Limits: eq. (13) ``exp(-tA) Phi0``; eq. (14) ``exp(-tA)(Phi0 - A^{-1} R eps^T) + A^{-1} R eps^T``;
  Thm 4.3 ``exp(-tA)(Phi0 - A^{-1} Z) + A^{-1} Z``; Phi_inf's columns have covariance
  ``(I - gamma P)^{-1} Sigma (I - gamma P)^{-T}``.
* Moments by exact moment algebra (Isserlis' theorem for the Gaussian heads and cumulants,
  independence across heads): ``E[sum_m w^m w^mT]``, ``E||G - I||_F^2 = K(K+1)/M``, the law of
  ``sum_m w^m`` under scalings (i) and (ii), and ``Cov(sum_m r^m w^mT)``.
  Flattening convention (stated once, used everywhere): **row-major** ``vec_r(Z)[i K + k] = Z[i, k]``
  gives ``Sigma ⊗ I_K``; **column-stacked** ``vec_c(Z)[k n + i] = Z[i, k]`` gives ``I_K ⊗ Sigma``.
  Both are exact for every M; the law is Gaussian only as M -> oo (excess kurtosis 6/M).
* C8: the four auxiliary-task generators (expected finite-M generators) and their limits,
  with the corrected additional-policies limit ``A_bar^{-1} sum_j R_j eps_j^T / sqrt(J)``.

Every result is a sympy object; :func:`to_numpy` bridges any of them to numpy.
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from repdyn.analysis.symbolic import (as_block, as_gamma, as_time, as_transition, resolvent_solve,
                               semigroup, _as_matrix)

__all__ = ["linear_feature_flow", "ensemble_features", "random_cumulant_features",
           "ensemble_limit", "random_cumulant_limit", "random_cumulant_fixed_point",
           "phi_inf_column_covariance", "eps_symbols", "isserlis", "ensemble_head_moments",
           "cumulant_product_covariance", "cumulant_product_fourth_moment",
           "AUX_TASKS", "aux_task_limit", "additional_policies_limit",
           "talk_additional_policies_limit", "column_covariance", "to_numpy"]


# ----------------------------------------------------------------------------- flows


def _check_features(P, gamma, Phi0, t):
    P = as_transition(P)
    gamma, t = as_gamma(gamma), as_time(t)
    Phi0 = as_block(Phi0, P.shape[0], "Phi0")
    return P, gamma, Phi0, t


def integral_semigroup(P, gamma, tau_scale, t, f) -> sp.Matrix:
    """``int_0^t exp(-u d A) du f = t phi_1(-t d A) f`` for a scalar d = ``tau_scale`` >= 0."""
    if tau_scale == 0:
        return t * f
    E = semigroup(P, gamma, t * tau_scale)
    return resolvent_solve(P, gamma, f - E * f) / tau_scale


def linear_feature_flow(P, gamma, Phi0, G, F, t) -> sp.Matrix:
    """Exact solution of ``dPhi/dt = -A Phi G + F`` for symmetric PSD G (K x K), F (n x K).

    Notes
    -----
    Diagonalises G exactly (``G.eigenvects()``; K <= 3 keeps the eigenvalues in radicals) and
    propagates each column with :func:`analysis.symbolic.semigroup` at the time ``t d_j``.
    Correct for singular G (d_j = 0: the column moves linearly, ``psi_j(t) = psi_j(0) + t f_j``).

    Examples
    --------
    The result starts at Phi0 and solves the ODE exactly, here with a singular G:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import linear_feature_flow
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> t = sp.Symbol("t")
    >>> Phi0, G, F = sp.eye(2), sp.Matrix([[2, 0], [0, 0]]), sp.eye(2)
    >>> Phi = linear_feature_flow(P, gamma, Phi0, G, F, t)
    >>> Phi.subs(t, 0) == Phi0
    True
    >>> (Phi.diff(t) + A * Phi * G - F).applyfunc(sp.simplify) == sp.zeros(2, 2)
    True
    >>> Phi[:, 1].T      # d = 0: psi(t) = psi(0) + t f
    Matrix([[0, t + 1]])
    >>> linear_feature_flow(P, gamma, Phi0, sp.Matrix([[1, 2], [0, 1]]), F, t)
    Traceback (most recent call last):
    ...
    ValueError: G must be symmetric
    """
    P, gamma, Phi0, t = _check_features(P, gamma, Phi0, t)
    K = Phi0.shape[1]
    G = _as_matrix(G, "G")
    F = as_block(F, P.shape[0], "F")
    if G.shape != (K, K) or F.shape[1] != K:
        raise ValueError(f"G must be {K} x {K} and F must have {K} columns")
    if (G - G.T).applyfunc(sp.expand) != sp.zeros(K, K):
        raise ValueError("G must be symmetric")
    cols, ds = [], []
    for val, mult, vecs in G.eigenvects():
        if val.is_number and val.is_negative:
            raise ValueError(f"G must be positive semidefinite, has eigenvalue {val}")
        for v in vecs:
            cols.append(v)
            ds.append(val)
    Q = sp.Matrix.hstack(*cols)
    Psi0, FQ = Phi0 * Q, F * Q
    out = []
    for j, d in enumerate(ds):
        d = sp.nsimplify(d) if d.is_number else d
        if d == 0:
            out.append(Psi0[:, j] + t * FQ[:, j])
            continue
        E = semigroup(P, gamma, t * d)
        col = E * Psi0[:, j]
        if FQ[:, j] != sp.zeros(P.shape[0], 1):
            col += resolvent_solve(P, gamma, FQ[:, j] - E * FQ[:, j]) * sp.radsimp(1 / d)
        out.append(col)
    Qinv = Q.inv()
    if Qinv.has(sp.Pow):                       # radicals in G's eigenvectors: rationalise once
        Qinv = Qinv.applyfunc(lambda e: sp.expand(sp.radsimp(e)))
    return sp.Matrix.hstack(*out) * Qinv


def ensemble_features(P, R, gamma, Phi0, W, alpha, t) -> sp.Matrix:
    """Exact finite-M ensemble features (docs: theory/c5, Thm 4.1): ``dPhi/dt = -A Phi G + R s^T``.

    Parameters
    ----------
    P, R, gamma : exact MDP (see :func:`analysis.symbolic.td_values`)
    Phi0 : (n, K) initial features
    W : (K, M) fixed heads, one per column; ``G = alpha W W^T``, ``s = alpha W 1``
    alpha : learning rate (Rational or symbol)
    t : time symbol or value

    Returns
    -------
    (n, K) sympy Matrix.

    Notes
    -----
    Exact, through :func:`linear_feature_flow`; singular G (M < K) included. Cost: one
    semigroup per distinct eigenvalue of G (K <= 3 keeps G's eigenvalues in radicals);
    ~0.1 s for n = 2, K = 2.

    Examples
    --------
    Two heads (M = 2, K = 2): the features start at Phi0 and solve
    ``dPhi/dt = -A Phi G + R s^T`` with ``G = alpha W W^T``, ``s = alpha W 1``:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import ensemble_features
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> t, alpha = sp.Symbol("t"), sp.Rational(1, 2)
    >>> R, Phi0, W = sp.Matrix([1, 0]), sp.eye(2), sp.Matrix([[1, 1], [1, -1]])
    >>> Phi = ensemble_features(P, R, gamma, Phi0, W, alpha, t)
    >>> Phi.subs(t, 0) == Phi0
    True
    >>> G, s = alpha * W * W.T, alpha * W * sp.ones(2, 1)
    >>> (Phi.diff(t) + A * Phi * G - R * s.T).applyfunc(sp.simplify) == sp.zeros(2, 2)
    True
    >>> ensemble_features(P, R, gamma, Phi0, sp.ones(3, 2), alpha, t)
    Traceback (most recent call last):
    ...
    ValueError: W must have K = 2 rows, got shape (3, 2)
    """
    P, gamma, Phi0, t = _check_features(P, gamma, Phi0, t)
    R = as_block(R, P.shape[0], "R")
    W = _as_matrix(W, "W")
    if W.shape[0] != Phi0.shape[1]:
        raise ValueError(f"W must have K = {Phi0.shape[1]} rows, got shape {W.shape}")
    alpha = sp.sympify(alpha)
    G = alpha * W * W.T
    s = alpha * W * sp.ones(W.shape[1], 1)
    return linear_feature_flow(P, gamma, Phi0, G, R * s.T, t)


def random_cumulant_features(P, C, gamma, Phi0, W, t) -> sp.Matrix:
    """Exact finite-M random-cumulant features (docs: theory/c7, Thm 4.3).

    ``dPhi/dt = sum_m (c^m + gamma P Phi w^m - Phi w^m) w^mT = -A Phi W W^T + C W^T`` with
    C (n, M) the cumulants and W (K, M) the heads. Returns an (n, K) sympy Matrix.

    Notes
    -----
    Exact (see :func:`linear_feature_flow`); as t -> oo it tends to
    :func:`random_cumulant_fixed_point` when W W^T is invertible.

    Examples
    --------
    The flow starts at Phi0, and started at the fixed point it stays there:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import (random_cumulant_features,
    ...                                              random_cumulant_fixed_point)
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> t = sp.Symbol("t")
    >>> C, W = sp.Matrix([[1, 0], [0, 2]]), sp.Matrix([[1, 1], [1, -1]])
    >>> random_cumulant_features(P, C, gamma, sp.eye(2), W, t).subs(t, 0) == sp.eye(2)
    True
    >>> Xs = random_cumulant_fixed_point(P, C, gamma, W)
    >>> random_cumulant_features(P, C, gamma, Xs, W, t) == Xs
    True
    """
    P, gamma, Phi0, t = _check_features(P, gamma, Phi0, t)
    W = _as_matrix(W, "W")
    C = as_block(C, P.shape[0], "C")
    if W.shape[0] != Phi0.shape[1] or C.shape[1] != W.shape[1]:
        raise ValueError(f"W must be (K={Phi0.shape[1]}, M) and C (n, M); got {W.shape}, {C.shape}")
    return linear_feature_flow(P, gamma, Phi0, W * W.T, C * W.T, t)


def random_cumulant_fixed_point(P, C, gamma, W) -> sp.Matrix:
    """Finite-M stationary features ``A^{-1} C W^T G^{-1}`` (G = W W^T invertible, docs: theory/c7).

    Examples
    --------
    The fixed point zeroes the right-hand side ``-A Phi W W^T + C W^T``:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import random_cumulant_fixed_point
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> C, W = sp.Matrix([[1, 0], [0, 2]]), sp.Matrix([[1, 1], [1, -1]])
    >>> Xs = random_cumulant_fixed_point(P, C, gamma, W)
    >>> Xs
    Matrix([
    [ 9/7,   1/7],
    [13/7, -11/7]])
    >>> A * Xs * W * W.T == C * W.T
    True
    >>> random_cumulant_fixed_point(P, [1, 0], gamma, sp.Matrix([[1], [1]]))
    Traceback (most recent call last):
    ...
    ValueError: W W^T is singular (M < K): there is no unique fixed point
    """
    P = as_transition(P)
    W = _as_matrix(W, "W")
    C = as_block(C, P.shape[0], "C")
    G = W * W.T
    if G.det() == 0:
        raise ValueError("W W^T is singular (M < K): there is no unique fixed point")
    return resolvent_solve(P, gamma, C * W.T) * G.inv()


def ensemble_limit(P, R, gamma, Phi0, t, eps=None) -> sp.Matrix:
    """Eq. (13) (``eps is None``): ``exp(-tA) Phi0``; eq. (14): with ``V* eps^T`` (docs: theory/c5).

    Examples
    --------
    Eq. (13) is the semigroup applied to Phi0; in eq. (14) ``V* eps^T`` is a fixed point:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic import semigroup
    >>> from repdyn.analysis.symbolic_limits import ensemble_limit
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> t, R, Phi0 = sp.Symbol("t"), sp.Matrix([1, 0]), sp.eye(2)
    >>> ensemble_limit(P, R, gamma, Phi0, t) == semigroup(P, gamma, t) * Phi0
    True
    >>> ensemble_limit(P, R, gamma, Phi0, 0, eps=[1, 2]) == Phi0
    True
    >>> X = A.inv() * R * sp.Matrix([[1, 2]])
    >>> ensemble_limit(P, R, gamma, X, t, eps=[1, 2]) == X
    True
    """
    P, gamma, Phi0, t = _check_features(P, gamma, Phi0, t)
    E = semigroup(P, gamma, t)
    if eps is None:
        return E * Phi0
    R = as_block(R, P.shape[0], "R")
    eps = _as_matrix(eps, "eps")
    if eps.shape[0] == 1:
        eps = eps.T
    if eps.shape != (Phi0.shape[1], 1):
        raise ValueError(f"eps must be a vector of length K = {Phi0.shape[1]}")
    X = resolvent_solve(P, gamma, R) * eps.T
    return E * (Phi0 - X) + X


def random_cumulant_limit(P, Z, gamma, Phi0, t) -> sp.Matrix:
    """Thm 4.3 limit ``exp(-tA)(Phi0 - A^{-1} Z) + A^{-1} Z`` (docs: theory/c7).

    Examples
    --------
    It starts at Phi0, and ``A^{-1} Z`` is its fixed point:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import random_cumulant_limit
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> t, Z = sp.Symbol("t"), sp.Matrix([[1, 0], [0, 1]])
    >>> random_cumulant_limit(P, Z, gamma, sp.ones(2, 2), 0) == sp.ones(2, 2)
    True
    >>> random_cumulant_limit(P, Z, gamma, A.inv() * Z, t) == A.inv() * Z
    True
    >>> random_cumulant_limit(P, [1, 0], gamma, sp.eye(2), t)
    Traceback (most recent call last):
    ...
    ValueError: Z must have shape (2, 2), got (2, 1)
    """
    P, gamma, Phi0, t = _check_features(P, gamma, Phi0, t)
    Z = as_block(Z, P.shape[0], "Z")
    if Z.shape != Phi0.shape:
        raise ValueError(f"Z must have shape {Phi0.shape}, got {Z.shape}")
    X = resolvent_solve(P, gamma, Z)
    return semigroup(P, gamma, t) * (Phi0 - X) + X


def phi_inf_column_covariance(P, gamma, Sigma) -> sp.Matrix:
    """``(I - gamma P)^{-1} Sigma (I - gamma P)^{-T}``: covariance of each column of
    ``Phi_inf = A^{-1} Z_Sigma`` (docs: theory/c7); its top-k eigenvectors are the RSBFs.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import phi_inf_column_covariance
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> Sigma = sp.Matrix([[2, 1], [1, 3]])
    >>> phi_inf_column_covariance(P, gamma, Sigma) == A.inv() * Sigma * A.inv().T
    True
    >>> phi_inf_column_covariance(P, 0, Sigma) == Sigma     # gamma = 0: A = I
    True
    >>> phi_inf_column_covariance(P, gamma, sp.eye(3))
    Traceback (most recent call last):
    ...
    ValueError: Sigma must be 2 x 2, got (3, 3)
    """
    P = as_transition(P)
    Sigma = _as_matrix(Sigma, "Sigma")
    n = P.shape[0]
    if Sigma.shape != (n, n):
        raise ValueError(f"Sigma must be {n} x {n}, got {Sigma.shape}")
    Xm = resolvent_solve(P, gamma, Sigma)
    return resolvent_solve(P, gamma, Xm.T).T


# ----------------------------------------------------------------------------- moments


def eps_symbols(K: int, J: int | None = None, name: str = "eps") -> sp.Matrix:
    """Standard-normal symbols: a K-vector (J None) or a J x K matrix (row j = eps_j).

    Examples
    --------
    >>> from repdyn.analysis.symbolic_limits import eps_symbols
    >>> eps_symbols(2).T
    Matrix([[eps0, eps1]])
    >>> eps_symbols(2, J=2)
    Matrix([
    [eps0_0, eps0_1],
    [eps1_0, eps1_1]])
    >>> all(e.is_real for e in eps_symbols(3))
    True
    """
    if J is None:
        return sp.Matrix(sp.symbols(f"{name}0:{K}", real=True))
    return sp.Matrix(J, K, sp.symbols(f"{name}0:{J}_0:{K}", real=True))


def isserlis(cov, idx) -> sp.Expr:
    """``E[x_{i1} ... x_{i2k}]`` for x ~ N(0, cov): sum over pairings of products of cov entries.

    Examples
    --------
    ``E[x^4] = 3 s^2`` for x ~ N(0, s); odd moments vanish;
    ``E[x0^2 x1^2] = 1 + 2 c^2`` for unit variances and correlation c:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic_limits import isserlis
    >>> s = sp.Symbol("s", positive=True)
    >>> isserlis(sp.Matrix([[s]]), (0, 0, 0, 0))
    3*s**2
    >>> isserlis(sp.eye(2), (0, 1, 1))
    0
    >>> isserlis(sp.Matrix([[1, sp.Rational(1, 2)], [sp.Rational(1, 2), 1]]), (0, 1, 0, 1))
    3/2
    """
    idx = list(idx)
    if len(idx) % 2:
        return sp.Integer(0)
    if not idx:
        return sp.Integer(1)
    a, rest = idx[0], idx[1:]
    tot = sp.Integer(0)
    for j, b in enumerate(rest):
        tot += cov[a, b] * isserlis(cov, rest[:j] + rest[j + 1:])
    return tot


def ensemble_head_moments(K: int, M=None, scaling: str = "ii") -> dict:
    """Moments behind Thm 4.1 (docs: theory/c5), exact for every M (symbolic M by default).

    Heads ``w^m ~ N(0, sigma^2 I_K)`` iid; ``G = alpha sum_m w^m w^mT``, ``s = alpha sum_m w^m``.
    Scaling ``"i"``: alpha = 1/M, sigma^2 = 1; ``"ii"``: alpha = 1, sigma^2 = 1/M.

    Returns dict with ``E_G`` (K x K), ``E_frob_G_minus_I`` (``E||G - I||_F^2``), ``s_cov``
    (s is exactly N(0, s_cov): a sum of independent Gaussians), ``s_limit`` ("0 in probability"
    under (i), "N(0, I_K)" under (ii)), ``alpha``, ``sigma2``, ``M``.

    Notes
    -----
    Per head, moments from :func:`isserlis`; sums over heads by independence:
    ``E[G_kl] = alpha M E[w_k w_l]`` and
    ``Var(G_kl) = alpha^2 M (E[w_k^2 w_l^2] - E[w_k w_l]^2)``.

    Examples
    --------
    Under both scalings ``E[G] = I`` and ``E||G - I||_F^2 = K(K+1)/M`` (6/M for K = 2); only
    the law of s differs:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic_limits import ensemble_head_moments
    >>> m = ensemble_head_moments(2)
    >>> m["E_G"] == sp.eye(2), m["E_frob_G_minus_I"], m["s_cov"] == sp.eye(2), m["s_limit"]
    (True, 6/M, True, 'N(0, I_K)')
    >>> m1 = ensemble_head_moments(2, scaling="i")
    >>> m1["E_frob_G_minus_I"], m1["s_cov"][0, 0], m1["s_limit"]
    (6/M, 1/M, '0 in probability')
    >>> ensemble_head_moments(3, M=4)["E_frob_G_minus_I"]     # K (K + 1) / M = 12 / 4
    3
    >>> ensemble_head_moments(2, scaling="iii")
    Traceback (most recent call last):
    ...
    ValueError: scaling must be 'i' or 'ii', got 'iii'
    """
    M = sp.Symbol("M", positive=True, integer=True) if M is None else sp.sympify(M)
    if scaling == "i":
        alpha, s2 = 1 / M, sp.Integer(1)
    elif scaling == "ii":
        alpha, s2 = sp.Integer(1), 1 / M
    else:
        raise ValueError(f"scaling must be 'i' or 'ii', got {scaling!r}")
    cov = s2 * sp.eye(K)
    EG = sp.Matrix(K, K, lambda k, l: alpha * M * isserlis(cov, (k, l)))
    frob = sp.Integer(0)
    for k, l in itertools.product(range(K), repeat=2):
        var = alpha ** 2 * M * (isserlis(cov, (k, l, k, l)) - isserlis(cov, (k, l)) ** 2)
        frob += var + (EG[k, l] - (1 if k == l else 0)) ** 2
    s_cov = (alpha ** 2 * M * s2 * sp.eye(K)).applyfunc(sp.simplify)
    return dict(E_G=EG.applyfunc(sp.simplify), E_frob_G_minus_I=sp.simplify(frob), s_cov=s_cov,
                s_limit="0 in probability" if scaling == "i" else "N(0, I_K)",
                alpha=alpha, sigma2=s2, M=M)


def cumulant_product_covariance(Sigma, K: int, M=None, order: str = "row") -> sp.Matrix:
    """``Cov(vec sum_m r^m w^mT)`` with r^m ~ N(0, Sigma), w^m ~ N(0, I_K/M) (docs: theory/c7).

    ``order="row"``: row-major ``vec_r(Z)[i K + k] = Z[i, k]`` -> ``Sigma ⊗ I_K``;
    ``order="col"``: column-stacked ``vec_c(Z)[k n + i] = Z[i, k]`` -> ``I_K ⊗ Sigma``.
    Exact for every M (the M cancels): ``E[Z_ik Z_jl] = M E[r_i r_j] E[w_k w_l]``, the
    cross-head terms vanishing by independence and zero means.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic_limits import cumulant_product_covariance
    >>> Sigma = sp.Matrix([[2, 1], [1, 3]])
    >>> C = cumulant_product_covariance(Sigma, 2)
    >>> C == sp.kronecker_product(Sigma, sp.eye(2)), C.free_symbols    # no M left
    (True, set())
    >>> cumulant_product_covariance(Sigma, 2, order="col") == sp.kronecker_product(sp.eye(2), Sigma)
    True
    >>> cumulant_product_covariance(Sigma, 2, order="diag")
    Traceback (most recent call last):
    ...
    ValueError: order must be 'row' or 'col', got 'diag'
    """
    Sigma = _as_matrix(Sigma, "Sigma")
    n = Sigma.shape[0]
    M = sp.Symbol("M", positive=True, integer=True) if M is None else sp.sympify(M)
    covw = sp.eye(K) / M
    if order == "row":
        pos = lambda i, k: i * K + k      # noqa: E731
    elif order == "col":
        pos = lambda i, k: k * n + i      # noqa: E731
    else:
        raise ValueError(f"order must be 'row' or 'col', got {order!r}")
    C = sp.zeros(n * K, n * K)
    for i, k, j, l in itertools.product(range(n), range(K), range(n), range(K)):
        C[pos(i, k), pos(j, l)] = sp.cancel(M * isserlis(Sigma, (i, j)) * isserlis(covw, (k, l)))
    return C


def cumulant_product_fourth_moment(sigma2=None, M=None) -> sp.Expr:
    """``E[Z_ik^4]`` for ``Z = sum_m r^m w^mT`` (one entry; r_i ~ N(0, sigma2), w_k ~ N(0, 1/M)).

    ``= M E[x^4] + 3 M (M - 1) E[x^2]^2`` with x = r_i w_k, giving ``3 sigma2^2 (1 + 2/M)``:
    excess kurtosis 6/M, so Z is Gaussian only as M -> oo.

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic_limits import cumulant_product_fourth_moment
    >>> cumulant_product_fourth_moment()
    3*sigma2**2*(M + 2)/M
    >>> s2, M = sp.Symbol("s2", positive=True), sp.Symbol("M", positive=True)
    >>> sp.simplify(cumulant_product_fourth_moment(s2, M) / s2**2 - 3)     # excess kurtosis
    6/M
    >>> cumulant_product_fourth_moment(1, 3)
    5
    """
    M = sp.Symbol("M", positive=True, integer=True) if M is None else sp.sympify(M)
    s2 = sp.Symbol("sigma2", positive=True) if sigma2 is None else sp.sympify(sigma2)
    r = sp.Matrix([[s2]])
    w = sp.Matrix([[1 / M]])
    Ex2 = isserlis(r, (0, 0)) * isserlis(w, (0, 0))
    Ex4 = isserlis(r, (0,) * 4) * isserlis(w, (0,) * 4)
    return sp.factor(sp.expand(M * Ex4 + 3 * M * (M - 1) * Ex2 ** 2))


# ----------------------------------------------------------------------------- C8


AUX_TASKS = ("ensemble", "random_cumulants", "additional_policies", "several_discounts")


def additional_policies_limit(Ps, Rs, gamma, eps) -> sp.Matrix:
    """Corrected C8 limit ``A_bar^{-1} sum_j R_j eps_j^T / sqrt(J)``, ``A_bar = I - gamma P_bar``.

    ``Ps``: J transition matrices, ``Rs``: J reward vectors, ``eps``: J x K (row j = eps_j).

    Examples
    --------
    With one policy it is ``V* eps^T``; with two it has the same column law as the talk's
    entry (:func:`talk_additional_policies_limit`) only when the rewards agree:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import (additional_policies_limit, column_covariance,
    ...     eps_symbols, talk_additional_policies_limit)
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> additional_policies_limit([P], [[1, 0]], gamma, [[1]]) == A.inv() * sp.Matrix([1, 0])
    True
    >>> Ps, eps = [P, two_state(sp.Rational(1, 4), sp.Rational(1, 2))], eps_symbols(1, J=2)
    >>> def same_law(Rs):
    ...     a = additional_policies_limit(Ps, Rs, gamma, eps)
    ...     b = talk_additional_policies_limit(Ps, Rs, gamma, eps)
    ...     return column_covariance(a, eps) == column_covariance(b, eps)
    >>> same_law([[1, 0], [1, 0]]), same_law([[1, 0], [0, 1]])
    (True, False)
    >>> additional_policies_limit(Ps, [[1, 0], [0, 1]], gamma, eps_symbols(1, J=3))
    Traceback (most recent call last):
    ...
    ValueError: eps must have J = 2 rows, got (3, 1)
    """
    Pbar, Rs, J = _policies(Ps, Rs)
    eps = _as_matrix(eps, "eps")
    if eps.shape[0] != J:
        raise ValueError(f"eps must have J = {J} rows, got {eps.shape}")
    F = sum((Rs[j] * eps[j, :] for j in range(J)), sp.zeros(Pbar.shape[0], eps.shape[1]))
    return resolvent_solve(Pbar, gamma, F) / sp.sqrt(J)


def talk_additional_policies_limit(Ps, Rs, gamma, eps) -> sp.Matrix:
    """The talk's table entry ``A_bar^{-1} R_bar eps^T`` (eps = eps_1 ... any one N(0, I) vector).

    Kept only to show that it is wrong unless every policy has the same reward (docs: theory/c8).

    Examples
    --------
    Its column covariance matches the corrected limit's (:func:`additional_policies_limit`)
    for equal rewards, and not otherwise:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import (additional_policies_limit, column_covariance,
    ...     eps_symbols, talk_additional_policies_limit)
    >>> gamma, eps = sp.Rational(1, 2), eps_symbols(1, J=2)
    >>> h, q = sp.Rational(1, 2), sp.Rational(1, 4)
    >>> Ps = [two_state(h, q), two_state(q, h)]
    >>> def cov(f, Rs):
    ...     return column_covariance(f(Ps, Rs, gamma, eps), eps)
    >>> [cov(talk_additional_policies_limit, Rs) == cov(additional_policies_limit, Rs)
    ...  for Rs in ([[1, 0], [1, 0]], [[1, 0], [0, 1]])]
    [True, False]
    >>> cov(talk_additional_policies_limit, [[1, 0], [0, 1]])    # A_bar^{-1} R_bar = (1, 1)
    Matrix([
    [1, 1],
    [1, 1]])
    """
    Pbar, Rs, J = _policies(Ps, Rs)
    eps = _as_matrix(eps, "eps")
    Rbar = sum(Rs, sp.zeros(Pbar.shape[0], 1)) / J
    return resolvent_solve(Pbar, gamma, Rbar * eps[0, :])


def _policies(Ps, Rs):
    Ps = [as_transition(Pj, f"Ps[{j}]") for j, Pj in enumerate(Ps)]
    if not Ps:
        raise ValueError("Ps must hold at least one transition matrix")
    n = Ps[0].shape[0]
    if any(Pj.shape != (n, n) for Pj in Ps):
        raise ValueError("Ps: every policy's matrix must have the same shape")
    J = len(Ps)
    Rs = [as_block(Rj, n, f"Rs[{j}]") for j, Rj in enumerate(Rs)]
    if len(Rs) != J:
        raise ValueError(f"Rs must hold J = {J} reward vectors, got {len(Rs)}")
    return sum(Ps, sp.zeros(n, n)) / J, Rs, J


def aux_task_limit(task: str, *, P=None, R=None, gamma=None, K: int = 1, Ps=None, Rs=None,
                   gammas=None, Sigma=None) -> dict:
    """The C8 table, derived: expected generator, Phi_inf (r = 0 and r != 0), column law.

    The heads are split evenly over J tasks, M/J heads each with ``w ~ N(0, I/M)``, so
    ``E[G_j] = I/J`` and ``s_j = sum_{m in j} w^m ~ N(0, I/J)`` exactly (write
    ``s_j = eps_j / sqrt(J)``). The finite-M generator ``Phi -> sum_j A_j Phi G_j`` has
    expectation ``Phi -> (sum_j A_j / J) Phi``; the forcing is ``sum_j R_j s_j^T``.

    Returns dict: ``generator`` (n x n ``A_gen``, dynamics ``-A_gen Phi + forcing``),
    ``forcing`` (n x K, in the symbols ``eps``), ``phi_inf_r0`` (Phi_inf with r = 0),
    ``phi_inf`` (r != 0), ``eps`` (the symbols), ``column_cov`` (covariance of each column of
    phi_inf), ``span_limit`` (whose EBFs span(Phi_t - Phi_inf) aligns with).

    Examples
    --------
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic import two_state
    >>> from repdyn.analysis.symbolic_limits import aux_task_limit, phi_inf_column_covariance
    >>> P, gamma = two_state(sp.Rational(1, 2), sp.Rational(1, 4)), sp.Rational(1, 2)
    >>> A = sp.eye(2) - gamma * P
    >>> out = aux_task_limit("ensemble", P=P, R=[1, 0], gamma=gamma, K=2)
    >>> out["generator"] == A, out["phi_inf_r0"] == sp.zeros(2, 2), out["span_limit"][0]
    (True, True, 'P')
    >>> out["phi_inf"] == A.inv() * sp.Matrix([1, 0]) * out["eps"].T
    True
    >>> rc = aux_task_limit("random_cumulants", P=P, gamma=gamma, K=1)
    >>> rc["column_cov"] == phi_inf_column_covariance(P, gamma, sp.eye(2))
    True
    >>> Ps = [P, two_state(sp.Rational(1, 4), sp.Rational(1, 2))]
    >>> ap = aux_task_limit("additional_policies", Ps=Ps, Rs=[[1, 0], [0, 1]], gamma=gamma)
    >>> Pbar = (Ps[0] + Ps[1]) / 2
    >>> ap["generator"] == sp.eye(2) - gamma * Pbar, ap["span_limit"][1] == Pbar, ap["eps"].shape
    (True, True, (2, 1))
    >>> aux_task_limit("bogus")
    Traceback (most recent call last):
    ...
    ValueError: task must be one of (...), got 'bogus'
    """
    if task not in AUX_TASKS:
        raise ValueError(f"task must be one of {AUX_TASKS}, got {task!r}")
    if task == "additional_policies":
        Pbar, Rs_, J = _policies(Ps, Rs)
        gamma = as_gamma(gamma)
        n = Pbar.shape[0]
        Agen = sum(((sp.eye(n) - gamma * as_transition(Pj)) / J for Pj in Ps), sp.zeros(n, n))
        eps = eps_symbols(K, J)
        forcing = sum((Rs_[j] * eps[j, :] for j in range(J)), sp.zeros(n, K)) / sp.sqrt(J)
        span = ("P_bar", Pbar)
        Pgen, ggen = Pbar, gamma
    elif task == "several_discounts":
        P = as_transition(P)
        n = P.shape[0]
        gs = [as_gamma(g, f"gammas[{j}]") for j, g in enumerate(gammas)]
        J = len(gs)
        gbar = sum(gs) / J
        Agen = sum(((sp.eye(n) - g * P) / J for g in gs), sp.zeros(n, n))
        R_ = as_block(R, n, "R")
        eps = eps_symbols(K)
        forcing = R_ * eps.T                 # sum_j s_j = eps ~ N(0, I_K)
        span = ("P", P)
        Pgen, ggen = P, gbar
    else:
        P = as_transition(P)
        gamma = as_gamma(gamma)
        n = P.shape[0]
        Agen = sp.eye(n) - gamma * P
        span = ("P", P)
        Pgen, ggen = P, gamma
        if task == "ensemble":
            R_ = as_block(R, n, "R")
            eps = eps_symbols(K)
            forcing = R_ * eps.T
        else:
            eps = sp.Matrix(n, K, sp.symbols(f"z0:{n}_0:{K}", real=True))
            forcing = eps                    # Z_Sigma: columns iid N(0, Sigma)
    phi_inf = resolvent_solve(Pgen, ggen, forcing)
    if task == "random_cumulants":
        Sig = sp.eye(n) if Sigma is None else _as_matrix(Sigma, "Sigma")
        col_cov = phi_inf_column_covariance(Pgen, ggen, Sig)
        phi_r0 = phi_inf
    else:
        col_cov = column_covariance(phi_inf, list(eps), 0)
        phi_r0 = sp.zeros(n, K)
    return dict(generator=Agen, forcing=forcing, phi_inf_r0=phi_r0, phi_inf=phi_inf, eps=eps,
                column_cov=col_cov, span_limit=span)


def column_covariance(X: sp.Matrix, eps, k: int = 0) -> sp.Matrix:
    """Covariance of column k of ``X``, linear in iid standard-normal symbols ``eps``:
    ``sum_e (dX_k/de)(dX_k/de)^T`` (exact; X must be linear without offset).

    Examples
    --------
    For ``x = (e0, e0 + 2 e1)`` with iid standard normals, ``Cov(x) = [[1, 1], [1, 5]]``:

    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic_limits import column_covariance
    >>> e0, e1 = sp.symbols("e0 e1", real=True)
    >>> column_covariance(sp.Matrix([[e0], [e0 + 2 * e1]]), [e0, e1])
    Matrix([
    [1, 1],
    [1, 5]])
    >>> column_covariance(sp.Matrix([[e0 + 1]]), [e0])
    Traceback (most recent call last):
    ...
    ValueError: X must be linear in eps with no constant term
    """
    col = X[:, k]
    Jac = col.jacobian(sp.Matrix(list(eps)))
    if (col - Jac * sp.Matrix(list(eps))).applyfunc(sp.expand) != sp.zeros(col.shape[0], 1):
        raise ValueError("X must be linear in eps with no constant term")
    return (Jac * Jac.T).applyfunc(sp.cancel)


# ----------------------------------------------------------------------------- bridge


def to_numpy(expr, params=()):
    """numpy function ``f(*param_values)`` of a sympy scalar or Matrix (exact numbers -> float).

    Examples
    --------
    >>> import numpy as np
    >>> import sympy as sp
    >>> from repdyn.analysis.symbolic_limits import to_numpy
    >>> x = sp.Symbol("x")
    >>> f = to_numpy(sp.sqrt(2) * x, [x])
    >>> bool(np.isclose(f(3.0), 3 * np.sqrt(2)))
    True
    >>> g = to_numpy(sp.Matrix([[sp.exp(-x), 1], [0, x]]), [x])
    >>> g(0.0).dtype, bool(np.allclose(g(0.0), [[1, 1], [0, 0]]))
    (dtype('float64'), True)
    >>> to_numpy(sp.Rational(1, 3))()
    array(0.33333333)
    """
    expr = sp.sympify(expr) if not isinstance(expr, sp.MatrixBase) else expr

    def _num(e):
        reps = {a: sp.Float(a.evalf(30), 30) for a in e.atoms(sp.Pow, sp.cos, sp.sin) if a.is_number}
        return e.xreplace(reps) if reps else e
    expr = expr.applyfunc(_num) if isinstance(expr, sp.MatrixBase) else _num(expr)
    fn = sp.lambdify(list(params), expr, modules=[{"sqrt": np.emath.sqrt}, "numpy"])

    def f(*vals):
        out = np.asarray(fn(*vals))
        if np.iscomplexobj(out):
            out = out.real
        return out.astype(np.float64)
    return f
