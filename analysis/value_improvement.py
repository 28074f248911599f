"""The value-improvement path and how well fixed features transfer along it (docs: theory/c9, Figure 3).

Set-up (docs: theory/c9, our reconstruction of the talk's Figure 3): the two-action chain of
:func:`analysis.mdp.two_action_chain` (n = 20, gamma = 0.9, "right" succeeds w.p. 0.9, "left"
w.p. 0.7, reward 1 at the right end and 0.1 at the left end). Soft policy iteration from the
uniform policy, ``pi_{j+1} = (1 - eta) pi_j + eta greedy(pi_j)`` with eta = 0.25, gives the
path pi_0, pi_1, ..., ending at the greedy (optimal) policy. Features are fixed from pi_0:
k = 5 EBFs and RSBFs of P^{pi_0}, and random Gaussian features; for every policy on the path
we report the normalised least-squares error of fitting V^{pi_j} with them, with and without
V^{pi_0} appended as an extra feature.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import numbers

import numpy as np

from repdyn.analysis.mdp import (check_basis, check_gamma, check_k, check_matrix, check_rng, check_transition,
                          check_vector, two_action_chain)
from repdyn.analysis.spectral import ebfs, rsbfs

__all__ = ["GREEDY_TIE_TOL", "PATH_TOL", "BEAT_TOL", "policy_matrices", "policy_values", "greedy_policy",
           "soft_policy_iteration", "projection_error", "TransferResult", "value_improvement_transfer"]

#: Two action values within this (relative to ``max |Q|``) count as tied; tied actions share the
#: greedy probability equally, so the greedy policy does not depend on rounding in Q.
GREEDY_TIE_TOL = 1e-10

#: A normalised error must be below the random median by more than this to count as a win:
#: errors are in [0, 1] and computed to ~1e-15, so smaller differences are rounding.
BEAT_TOL = 1e-12

#: Soft policy iteration stops once ``max_s,a |pi_j - greedy(pi_j)| <= PATH_TOL`` and greedy(pi_j)
#: is greedy with respect to its own value (it is optimal); the greedy policy is then appended
#: as the last point of the path. pi_j approaches its greedy target geometrically, like
#: (1 - eta)^j, so the mixture itself never equals it exactly. With eta = 0.25 this gives a path
#: of about 25 policies.
PATH_TOL = 1e-3


def _check_mdp(P, R, gamma):
    """Validate per-action P (A, n, n), R (A, n) and gamma."""
    P = np.asarray(P, dtype=np.float64) if not isinstance(P, np.ndarray) else P
    if P.ndim != 3 or P.shape[0] == 0:
        raise ValueError(f"P must be a per-action array of shape (A, n, n), got shape {np.shape(P)}")
    Ps = np.stack([check_transition(P[a], f"P[{a}]") for a in range(P.shape[0])])
    A, n = Ps.shape[0], Ps.shape[1]
    R = check_matrix(R, "R", rows=A, cols=n)
    return Ps, R, check_gamma(gamma)


def _check_policy(pi, n, A, name="pi"):
    pi = check_matrix(pi, name, rows=n, cols=A)
    if np.any(pi < 0) or np.any(np.abs(pi.sum(axis=1) - 1.0) > 1e-10):
        raise ValueError(f"{name} must have non-negative rows summing to one")
    return pi


def policy_matrices(P, R, pi):
    """``P^pi[s, s'] = sum_a pi(a|s) P[a, s, s']`` and ``R^pi[s] = sum_a pi(a|s) R[a, s]``.

    Parameters
    ----------
    P : (A, n, n) per-action transition matrices
    R : (A, n) per-action rewards
    pi : (n, A) policy, rows summing to one

    Returns
    -------
    (P^pi (n, n), R^pi (n,))

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.value_improvement import policy_matrices
    >>> P = np.array([np.eye(2), [[0.0, 1.0], [1.0, 0.0]]])     # action 0 stays, action 1 swaps
    >>> R = np.array([[0.0, 1.0], [0.0, 1.0]])
    >>> Ppi, Rpi = policy_matrices(P, R, np.full((2, 2), 0.5))
    >>> Ppi.tolist(), Rpi.tolist()
    ([[0.5, 0.5], [0.5, 0.5]], [0.0, 1.0])
    """
    P, R, _ = _check_mdp(P, R, 0.0)
    pi = _check_policy(pi, P.shape[1], P.shape[0])
    return np.einsum("sa,ast->st", pi, P), np.einsum("sa,as->s", pi, R)


def policy_values(P, R, gamma, pi) -> np.ndarray:
    """``V^pi = (I - gamma P^pi)^{-1} R^pi`` by an LU solve (no inverse formed).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.value_improvement import policy_values
    >>> P = np.array([np.eye(2), [[0.0, 1.0], [1.0, 0.0]]]); R = np.ones((2, 2))
    >>> policy_values(P, R, 0.5, np.full((2, 2), 0.5)).tolist()    # constant reward: 1 / (1 - gamma)
    [2.0, 2.0]
    """
    P, R, gamma = _check_mdp(P, R, gamma)
    Ppi, Rpi = policy_matrices(P, R, pi)
    return np.linalg.solve(np.eye(P.shape[1]) - gamma * Ppi, Rpi)


def greedy_policy(P, R, gamma, V) -> np.ndarray:
    """The greedy policy of ``Q(s, a) = R[a, s] + gamma sum_s' P[a, s, s'] V[s']``.

    Actions whose values tie within :data:`GREEDY_TIE_TOL` (relative) share probability
    equally. Returns an (n, A) policy.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.value_improvement import greedy_policy
    >>> P = np.array([np.eye(2), [[0.0, 1.0], [1.0, 0.0]]]); R = np.zeros((2, 2))
    >>> greedy_policy(P, R, 0.9, np.array([0.0, 1.0])).tolist()    # move to (or stay in) state 1
    [[0.0, 1.0], [1.0, 0.0]]
    >>> greedy_policy(P, R, 0.9, np.array([1.0, 1.0])).tolist()    # ties share the probability
    [[0.5, 0.5], [0.5, 0.5]]
    """
    P, R, gamma = _check_mdp(P, R, gamma)
    V = check_vector(V, P.shape[1], "V")
    Q = (R + gamma * P @ V).T                      # (n, A)
    tol = GREEDY_TIE_TOL * max(np.abs(Q).max(), 1.0)
    best = Q >= Q.max(axis=1, keepdims=True) - tol
    return best / best.sum(axis=1, keepdims=True)


def soft_policy_iteration(P, R, gamma, eta: float = 0.25, pi0=None, tol: float = PATH_TOL,
                          max_iter: int = 10_000) -> np.ndarray:
    """The value-improvement path of soft policy iteration (docs: theory/c9).

    ``pi_{j+1} = (1 - eta) pi_j + eta greedy(pi_j)``, from ``pi0`` (uniform by default), until
    ``max |pi_j - greedy(pi_j)| <= tol`` with ``greedy(pi_j)`` greedy for its own value; the
    path then ends with that greedy (hence optimal, by the policy-improvement theorem)
    policy.

    Parameters
    ----------
    P : (A, n, n) per-action transitions;  R : (A, n) rewards;  gamma : discount in [0, 1)
    eta : mixing step in (0, 1]
    pi0 : (n, A) start policy; uniform if None
    tol : stopping distance to the greedy policy, in (0, 1)
    max_iter : raise ``ValueError`` if the path is not finished after this many steps

    Returns
    -------
    (J + 1, n, A) array of policies; the last one is deterministic up to exact ties.

    Notes
    -----
    Each step costs one n x n LU solve (O(n^3)); the path has about
    ``log(tol) / log(1 - eta)`` steps after the greedy policy stops changing.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import two_action_chain
    >>> from repdyn.analysis.value_improvement import greedy_policy, policy_values, soft_policy_iteration
    >>> P, R = two_action_chain(6)
    >>> path = soft_policy_iteration(P, R, 0.9, eta=0.25)
    >>> path.shape[1:], bool(np.allclose(path[0], 0.5))         # (J + 1, n, A), from uniform
    ((6, 2), True)
    >>> last = path[-1]                                          # ends greedy for its own value
    >>> bool(np.allclose(greedy_policy(P, R, 0.9, policy_values(P, R, 0.9, last)), last))
    True
    """
    P, R, gamma = _check_mdp(P, R, gamma)
    A, n = P.shape[0], P.shape[1]
    if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, numbers.Real) or not (0 < eta <= 1):
        raise ValueError(f"eta must be a real number in (0, 1], got {eta!r}")
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not (0 < tol < 1):
        raise ValueError(f"tol must be a real number in (0, 1), got {tol!r}")
    max_iter = check_k(max_iter, 10**9, "max_iter")
    pi = np.full((n, A), 1.0 / A) if pi0 is None else _check_policy(pi0, n, A, "pi0").copy()
    path = [pi]
    for _ in range(max_iter):
        g = greedy_policy(P, R, gamma, policy_values(P, R, gamma, pi))
        if np.abs(pi - g).max() <= tol:
            if np.array_equal(greedy_policy(P, R, gamma, policy_values(P, R, gamma, g)), g):
                if not np.array_equal(g, pi):
                    path.append(g)
                return np.stack(path)
        pi = (1.0 - eta) * pi + eta * g
        path.append(pi)
    raise ValueError(f"max_iter: soft policy iteration did not reach its greedy policy in "
                     f"{max_iter} steps")


def projection_error(Phi, V) -> float:
    """Normalised least-squares error ``||V - Phi Phi^+ V||_2 / ||V||_2`` in [0, 1].

    Euclidean norm over states (uniform weighting). ``Phi`` (n, k) must have full column
    rank; ``V`` must be non-zero.

    Notes
    -----
    Through a thin QR of ``Phi``: the residual is ``V - Q (Q^T V)``, re-orthogonalised once,
    accurate to O(cond(Phi) eps). Cost O(n k^2).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.value_improvement import projection_error
    >>> Phi = np.array([[1.0], [1.0], [0.0]])
    >>> bool(projection_error(Phi, np.array([2.0, 2.0, 0.0])) < 1e-15)   # V in span Phi
    True
    >>> float(projection_error(Phi, np.array([0.0, 0.0, 1.0])))         # V orthogonal to Phi
    1.0
    """
    Phi = check_basis(Phi, "Phi")
    V = check_vector(V, Phi.shape[0], "V")
    nv = np.linalg.norm(V)
    if nv == 0:
        raise ValueError("V must be non-zero (the error is normalised by ||V||)")
    return _proj_err(np.linalg.qr(Phi)[0], V) / nv


def _proj_err(Q, V):
    r = V - Q @ (Q.T @ V)
    r = r - Q @ (Q.T @ r)
    return float(np.linalg.norm(r))


@dataclass
class TransferResult:
    """Everything C9 measures; arrays are indexed by path position j (last axis).

    ``errors[name]`` is (J+1,) for ``"ebf"``/``"rsbf"`` and (draws, J+1) for ``"random"``;
    ``errors_v0`` is the same with V^{pi_0} appended as an extra feature.

    Examples
    --------
    >>> from repdyn.analysis.value_improvement import value_improvement_transfer
    >>> r = value_improvement_transfer(k=3, draws=20, seed=0)
    >>> sorted(r.errors), r.errors["random"].shape[0]
    (['ebf', 'random', 'rsbf'], 20)
    >>> 0.0 <= r.beat_fraction("ebf") <= 1.0
    True
    """

    policies: np.ndarray
    values: np.ndarray
    errors: dict
    errors_v0: dict
    config: dict = field(default_factory=dict)

    def beat_fraction(self, name: str, with_v0: bool = False) -> float:
        """Fraction of path points j where ``name``'s error is below the median random draw.

        "Below" means by more than :data:`BEAT_TOL`, so exact ties (every feature set with
        V^{pi_0} fits V^{pi_0} to rounding at j = 0) do not count as wins.
        """
        e = (self.errors_v0 if with_v0 else self.errors)
        med = np.median(e["random"], axis=0)
        return float(np.mean(e[name] < med - BEAT_TOL))

    def to_dict(self) -> dict:
        """JSON-ready dict (lists of floats)."""
        out = {"config": self.config, "j": list(range(len(self.values))),
               "policy_right_prob": self.policies[:, :, -1].tolist(), "values": self.values.tolist()}
        for tag, e in (("errors", self.errors), ("errors_v0", self.errors_v0)):
            out[tag] = {k: np.asarray(v).tolist() for k, v in e.items()}
        return out


def value_improvement_transfer(P=None, R=None, gamma: float = 0.9, k: int = 5, draws: int = 100,
                               eta: float = 0.25, rng=None, *, seed=None,
                               tol: float = PATH_TOL) -> TransferResult:
    """docs: theory/c9: errors of fixed features (EBFs, RSBFs, random) along the value-improvement path.

    For every policy pi_j on the soft-policy-iteration path (:func:`soft_policy_iteration`)
    and every feature set Phi fixed from pi_0, the normalised least-squares error
    ``||V^{pi_j} - Phi Phi^+ V^{pi_j}|| / ||V^{pi_j}||`` (:func:`projection_error`), for Phi
    (n, k) and for ``[Phi, V^{pi_0}]`` (n, k + 1).

    Parameters
    ----------
    P, R : per-action MDP, (A, n, n) and (A, n); default the C9 chain
        ``two_action_chain(20, 0.9, 0.7, 1.0, 0.1)``.
    gamma : discount (0.9)
    k : number of features (5)
    draws : number of random Gaussian feature matrices (N(0, 1) entries), >= 1 (C9 asks >= 100)
    eta : soft policy-iteration step (0.25)
    rng, seed : randomness of the random features (one of them is required)
    tol : see :func:`soft_policy_iteration`

    Returns
    -------
    :class:`TransferResult`

    Notes
    -----
    EBFs and RSBFs are those of ``P^{pi_0}`` (uniform policy) with Sigma = I; for the default
    chain P^{pi_0} is a birth-death chain (real, simple spectrum) and not symmetric, so EBFs
    and RSBFs differ. Cost: O(J n^3) for the path plus O(draws J n k^2) for the fits — about
    0.1 s for the default with 100 draws (38 policies x 101 QR fits, two variants).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.value_improvement import value_improvement_transfer
    >>> r = value_improvement_transfer(gamma=0.9, k=5, draws=100, seed=0)   # the C9 chain
    >>> J1 = r.policies.shape[0]                                 # policies on the path
    >>> r.errors["ebf"].shape == (J1,), r.errors["random"].shape == (100, J1)
    (True, True)
    >>> bool(np.allclose(r.errors_v0["ebf"][0], 0.0))            # V^pi0 is a feature: exact at j = 0
    True
    >>> print(r.beat_fraction("ebf") > 0.5, r.beat_fraction("rsbf") > 0.5)   # the claim (C9)
    True True
    """
    if P is None and R is None:
        P, R = two_action_chain(20, 0.9, 0.7, 1.0, 0.1)
    elif P is None or R is None:
        raise ValueError("give both P and R, or neither (the C9 chain)")
    P, R, gamma = _check_mdp(P, R, gamma)
    n = P.shape[1]
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and not 1 <= k <= n - 2:
        raise ValueError(f"k must lie in 1..n-2 = 1..{n - 2}, got {k}: with n = {n} states, k + 1 "
                         "features (k and V^pi0) would span every value function, so every fit is "
                         "exact and there is nothing to compare")
    k = check_k(k, n - 2, "k")
    draws = check_k(draws, 10**7, "draws")
    rng = check_rng(rng, seed)
    path = soft_policy_iteration(P, R, gamma, eta=eta, tol=tol)
    values = np.stack([policy_values(P, R, gamma, pi) for pi in path])
    if np.any(np.linalg.norm(values, axis=1) == 0):
        raise ValueError("R: some V^pi_j is zero, the normalised error is undefined")
    P0, _ = policy_matrices(P, R, path[0])
    feats = {"ebf": ebfs(P0, k), "rsbf": rsbfs(P0, gamma, k)}
    rand = rng.standard_normal((draws, n, k))
    V0 = values[0][:, None]
    errors, errors_v0 = {}, {}
    for name, Phi in list(feats.items()) + [("random", None)]:
        mats = [Phi] if Phi is not None else list(rand)
        e = np.empty((len(mats), len(values)))
        e0 = np.empty_like(e)
        for i, M in enumerate(mats):
            Q = np.linalg.qr(check_basis(M, f"{name} features", n))[0]
            Q0 = np.linalg.qr(check_basis(np.hstack([M, V0]), f"[{name} features, V^pi0]", n))[0]
            nv = np.linalg.norm(values, axis=1)
            for j, V in enumerate(values):
                e[i, j] = _proj_err(Q, V) / nv[j]
                e0[i, j] = _proj_err(Q0, V) / nv[j]
        errors[name], errors_v0[name] = (e[0], e0[0]) if Phi is not None else (e, e0)
    config = {"n": n, "actions": P.shape[0], "gamma": gamma, "k": k, "draws": draws, "eta": eta,
              "tol": tol, "path_length": len(path)}
    return TransferResult(path, values, errors, errors_v0, config)
