"""repdyn.analysis.propagator: every method against independent references on adversarial inputs (docs: theory/c1).

References: ``exp(-tau A)`` in 40-digit arithmetic (``mpmath.expm``; mpmath ships with sympy)
for the small adversarial matrices -- scipy's ``expm`` itself is off by 2.7e-12 on the
non-normal gap-1e-6 matrix at tau = 7, where uniformization is within 1e-15 -- and
``scipy.linalg.expm`` (Pade scaling and squaring) for the larger ones; the
augmented-matrix exponential ``expm(tau [[-A, I], [0, 0]])`` (top-right block
``int_0^tau exp(-uA) du``, Van Loan 1978) for the integral; closed forms for n = 1, n = 2 and
gamma = 0. Inputs: defective P (one Jordan block), non-normal P with eigen-gap 1e-6, rings
(complex pairs) including a pure rotation (|lambda| = 1, no mixing at all), reducible and
periodic chains, gamma in {0, 0.9, 0.999}, tau = 0, n = 1 and 2, sparse vs dense.
"""
import functools

import mpmath
import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from hypothesis import given, strategies as st

from repdyn.analysis import strategies as rs
from repdyn.analysis.mdp import (four_rooms, random_dirichlet, random_reversible, random_walk_chain, ring,
                          two_state)
from repdyn.analysis.propagator import ERGODIC_TOL, Propagator

EPS = np.finfo(np.float64).eps
#: t <= 20: our bound is (TAIL + c N u) with N <= ~70 terms (uniformization/Chebyshev) or
#: cond(U) u <= 1e4 u (modal); scipy's expm is backward stable with error ~ ||tau A|| u.
#: Both are ~1e-14 relative to ||exp(-tau A)|| ||X||; 1e-12 leaves a 100x margin.
REL_TOL = 1e-12
#: tau up to 2000 (gamma = 0.999): the reference's scaling and squaring (about 12 squarings of
#: ||tau A|| ~ 4000) and the modal path's e^{-tau mu} with mu perturbed by ~u both carry an
#: error ~ tau u ~ 4e-13 relative; 1e-11 is that with a margin of 25.
LONG_TOL = 1e-11
#: The integral reference (augmented 2n x 2n expm) loses ~||tau A|| u; the tau > 1 path
#: A^{-1}(X - exp(-tau A) X) cancels up to a factor ||A^{-1}|| / tau <= 1/(1 - gamma) = 1000.
INT_TOL = 1e-12 / (1 - 0.999)
#: scipy.linalg.expm on the non-normal matrices: measured off by up to 3e-12 against the 40-digit
#: reference (eigen-gap 1e-6, tau = 7); 1e-10 is the issue's error target.
SCIPY_NONNORMAL_TOL = 1e-10
TIMES = np.array([0.0, 1e-3, 0.3, 1.0, 2.5, 7.0, 20.0])
GAMMAS = (0.0, 0.9, 0.999)


def _jordan(n=6, a=0.5):
    """Upper bidiagonal, absorbing last state: eigenvalue a with ONE Jordan block of size n-1."""
    P = np.zeros((n, n))
    for i in range(n - 1):
        P[i, i], P[i, i + 1] = a, 1 - a
    P[-1, -1] = 1.0
    return P


def _gap(n=8, gap=1e-6):
    """Upper triangular (non-normal) with diagonal 0.5 + j gap: eigenvalues 1e-6 apart, so the
    eigenvector matrix has condition number ~1e6^(n-2) (modal must refuse it)."""
    P = np.zeros((n, n))
    for i in range(n - 1):
        P[i, i] = 0.5 + i * gap
        P[i, i + 1] = 1 - P[i, i]
    P[-1, -1] = 1.0
    return P


def _rotation(n=7):
    """Pure cyclic shift: eigenvalues are the n-th roots of unity; P^k X never converges."""
    return np.roll(np.eye(n), 1, axis=1)


def _reducible():
    """Two closed classes plus a transient state: eigenvalue 1 twice (reversible on each class)."""
    P = np.zeros((5, 5))
    P[:2, :2] = [[0.3, 0.7], [0.4, 0.6]]
    P[2:4, 2:4] = [[0.5, 0.5], [0.5, 0.5]]
    P[4] = [0.2, 0.2, 0.2, 0.2, 0.2]
    return P


def _sparse_reversible(n, seed=0):
    """P = D^{-1} W, W symmetric sparse (a ring plus random chords, exponential weights):
    reversible with pi ~ rowsum(W), not symmetric, slowly mixing along the ring."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    rows = np.concatenate([i, (i + 1) % n, rng.integers(0, n, n // 20)])
    cols = np.concatenate([(i + 1) % n, i, rng.integers(0, n, n // 20)])
    W = sp.coo_matrix((rng.exponential(size=len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    W = W + W.T
    return sp.csr_matrix(W.multiply(1.0 / np.asarray(W.sum(axis=1))))


def _matrices():
    rng = np.random.default_rng(20261127)
    return {
        "dirichlet": random_dirichlet(12, rng),
        "reversible": random_reversible(12, rng),
        "ring": ring(9),
        "rotation": _rotation(),
        "jordan": _jordan(),
        "gap1e-6": _gap(),
        "chain": random_walk_chain(10, 0.5),
        "reducible": _reducible(),
        "two-state": two_state(0.3, 0.2),
        "n=1": np.ones((1, 1)),
        "four-rooms": four_rooms(2),
    }


MATS = _matrices()


def _dense(P):
    return P.toarray() if sp.issparse(P) else np.asarray(P)


#: The non-normal matrices get the 40-digit reference (scipy's expm is not accurate enough on
#: them); the others, whose eigenvectors are well conditioned, get scipy's expm.
MP_NAMES = ("jordan", "gap1e-6")


@functools.lru_cache(maxsize=None)
def _mp_expm(key, g, t):
    """exp(-t A) for P = the matrix bytes in ``key``, in 40-digit arithmetic, rounded to float64."""
    P = np.frombuffer(key[1], dtype=np.float64).reshape(key[0], key[0])
    with mpmath.workdps(40):
        A = mpmath.matrix((np.eye(key[0]) - g * P).tolist())
        return np.array((mpmath.expm(-mpmath.mpf(t) * A)).tolist(), dtype=np.float64)


def _ref_expm(P, g, X, t, exact=False):
    D = np.ascontiguousarray(_dense(P), dtype=np.float64)
    n = D.shape[0]
    if exact:
        key = (n, D.tobytes())
        return np.stack([_mp_expm(key, float(g), float(tj)) @ X for tj in t])
    A = np.eye(n) - g * D
    return np.stack([sla.expm(-tj * A) @ X for tj in t])


def _ref_integral(P, g, X, t):
    n = P.shape[0]
    M = np.zeros((2 * n, 2 * n))
    M[:n, :n] = -(np.eye(n) - g * _dense(P))
    M[:n, n:] = np.eye(n)
    return np.stack([sla.expm(tj * M)[:n, n:] @ X for tj in t])


def _relerr(Y, R):
    """max over times of ||Y_t - R_t||_F / ||R_t||_F."""
    T = len(R)
    d = np.linalg.norm((Y - R).reshape(T, -1), axis=1)
    r = np.linalg.norm(R.reshape(T, -1), axis=1)
    return float(np.max(d / np.where(r > 0, r, 1.0)))


def _make(P, g, method):
    try:
        return Propagator(P, g, method)
    except ValueError:
        return None


def _applicable(prop, X, t):
    try:
        return prop.expm(X, t)
    except ValueError:
        return None


@pytest.mark.parametrize("name", sorted(MATS))
@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("method", ["auto", "uniformization", "chebyshev", "modal"])
def test_expm_and_integral_match_references(name, gamma, method):
    P = MATS[name]
    n = P.shape[0]
    X = np.random.default_rng(7).standard_normal((n, 3))
    prop = _make(P, gamma, method)
    if prop is None:
        assert method in ("chebyshev", "modal")         # refused: not reversible / sparse
        pytest.skip(f"{method} not applicable to {name}")
    Y = _applicable(prop, X, TIMES)
    if Y is None:
        assert method == "modal"                        # refused: ill-conditioned eigenvectors
        pytest.skip(f"modal refused for {name}")
    assert Y.shape == (len(TIMES), n, 3)
    assert _relerr(Y, _ref_expm(P, gamma, X, TIMES, exact=name in MP_NAMES)) <= REL_TOL
    if name in MP_NAMES:                                # and against scipy, at scipy's accuracy
        assert _relerr(Y, _ref_expm(P, gamma, X, TIMES)) <= SCIPY_NONNORMAL_TOL
    Z = prop.integral(X, TIMES)
    assert _relerr(Z, _ref_integral(P, gamma, X, TIMES)) <= INT_TOL
    # tau = 0 is the identity exactly (every method); gamma = 0 is e^{-tau} exactly (no series)
    np.testing.assert_array_equal(Y[0], X)
    np.testing.assert_array_equal(Z[0], 0.0)
    if method != "modal":
        if gamma == 0.0:
            np.testing.assert_array_equal(Y, np.exp(-TIMES)[:, None, None] * X[None])


@pytest.mark.parametrize("name", ["dirichlet", "reversible", "ring", "jordan", "gap1e-6",
                                  "rotation", "chain", "four-rooms"])
def test_long_horizon_gamma_0999(name):
    """t up to 2000 at gamma = 0.999: e^{-t} underflows, the series needs ~2000 Poisson terms
    (or the ergodic tail / Chebyshev / modal cuts it short)."""
    P = MATS[name]
    n = P.shape[0]
    t = np.array([0.0, 10.0, 150.0, 700.0, 2000.0])
    X = np.random.default_rng(3).standard_normal((n, 2))
    R = _ref_expm(P, 0.999, X, t, exact=name in MP_NAMES)
    for method in ("auto", "uniformization", "chebyshev", "modal"):
        prop = _make(P, 0.999, method)
        Y = None if prop is None else _applicable(prop, X, t)
        if Y is not None:
            assert _relerr(Y, R) <= LONG_TOL, (method, prop.last_method)
        if method != "modal" and Y is not None:
            np.testing.assert_array_equal(Y[0], X)


def test_two_state_closed_form_to_t_1e4():
    """n = 2: P = Pi + lam2 (I - Pi), Pi = 1 pi^T, so exp(-tA) = e^{-t(1-g)} Pi + e^{-t(1-g lam2)} (I - Pi):
    an independent reference at t = 1e4, where expm itself is least reliable."""
    p, q, g = 0.3, 0.2, 0.999
    P = two_state(p, q)
    pi = np.array([q, p]) / (p + q)
    Pi = np.outer(np.ones(2), pi)
    lam2 = 1 - p - q
    t = np.array([0.0, 1.0, 100.0, 3000.0, 1e4])
    X = np.array([[1.0, -2.0], [0.5, 3.0]])
    R = np.stack([np.exp(-tj * (1 - g)) * Pi @ X + np.exp(-tj * (1 - g * lam2)) * (np.eye(2) - Pi) @ X
                  for tj in t])
    for method in ("auto", "uniformization", "chebyshev", "modal"):
        Y = Propagator(P, g, method).expm(X, t)     # 2-state chains are reversible
        assert _relerr(Y, R) <= REL_TOL, method


def test_n1_is_scalar_exponential():
    for g in GAMMAS:
        for method in ("auto", "uniformization", "chebyshev", "modal"):
            Y = Propagator(np.ones((1, 1)), g, method).expm(np.array([[2.0]]), np.array([0.0, 3.0, 1e4]))
            np.testing.assert_allclose(Y[:, 0, 0], 2.0 * np.exp(-np.array([0.0, 3.0, 1e4]) * (1 - g)),
                                       rtol=REL_TOL, atol=0)


@pytest.mark.parametrize("P", [four_rooms(3), sp.csr_matrix(random_dirichlet(30, np.random.default_rng(1))),
                               sp.csr_matrix(_jordan(7)), sp.csr_matrix(ring(11))],
                         ids=["four-rooms", "dirichlet", "jordan", "ring"])
@pytest.mark.parametrize("gamma", GAMMAS)
def test_sparse_matches_dense(P, gamma):
    n = P.shape[0]
    X = np.random.default_rng(5).standard_normal((n, 2))
    t = np.array([0.0, 0.5, 3.0, 40.0])
    Ys = Propagator(P, gamma).expm(X, t)
    Yd = Propagator(P.toarray(), gamma, "uniformization").expm(X, t)
    assert _relerr(Ys, Yd) <= REL_TOL
    Zs = Propagator(P, gamma).integral(X, t)
    Zd = Propagator(P.toarray(), gamma).integral(X, t)
    assert _relerr(Zs, Zd) <= INT_TOL * EPS / EPS
    A = np.eye(n) - gamma * P.toarray()
    np.testing.assert_allclose(Propagator(P, gamma).solve(X), np.linalg.solve(A, X),
                               rtol=0, atol=1e3 * EPS * np.abs(X).max() / (1 - gamma))


def test_solve_neumann_path_matches_lu():
    """Dense, fast-mixing: solve() takes the certified Neumann series (cheaper than LU); it
    must agree with LU to ~u ||A^{-1}|| ||X|| (||A^{-1}||_inf = 1/(1-gamma))."""
    rng = np.random.default_rng(11)
    for n, g in ((200, 0.9), (300, 0.999), (1, 0.5)):
        P = random_dirichlet(n, rng)
        R = rng.standard_normal(n)
        A = np.eye(n) - g * P
        got = Propagator(P, g).solve(R)
        assert got.shape == (n,)
        np.testing.assert_allclose(got, np.linalg.solve(A, R), rtol=0,
                                   atol=100 * EPS * np.abs(R).max() / (1 - g))


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_solve_sparse_iterative_paths_match_dense_lu(gamma):
    """Sparse, n >= 1000, slowly mixing: solve() tries the certified Neumann series, then the
    Chebyshev semi-iteration (reversible P: symmetric four-rooms, and a non-symmetric
    birth-death chain), then SuperLU. Whatever it picks must match dense LU to LU's own
    normwise bound ~cond_inf(A) u = (1+gamma)/(1-gamma) u (x 50 margin)."""
    for P in (four_rooms(16), _sparse_reversible(1100)):
        n = P.shape[0]
        R = np.random.default_rng(n).standard_normal(n)
        got = Propagator(P, gamma).solve(R)
        ref = np.linalg.solve(np.eye(n) - gamma * P.toarray(), R)
        bound = 50 * EPS * (1 + gamma) / (1 - gamma)
        assert np.abs(got - ref).max() <= bound * np.abs(ref).max()


def test_chebyshev_on_nonsymmetric_reversible_sparse():
    """Chebyshev runs the recurrence on P itself (no symmetrisation); for a reversible but
    non-symmetric sparse P it must agree with dense uniformization (a different basis, a
    different truncation) at long horizons."""
    P = _sparse_reversible(300, seed=3)
    X = np.random.default_rng(1).standard_normal((300, 2))
    t = np.array([0.0, 3.0, 50.0, 500.0])
    cheb = Propagator(P, 0.99, "chebyshev")
    Yc = cheb.expm(X, t)
    assert cheb.last_method == "chebyshev"
    Yu = Propagator(P.toarray(), 0.99, "uniformization").expm(X, t)
    assert _relerr(Yc, Yu) <= LONG_TOL


def test_modal_refuses_defective_and_near_defective():
    for P in (_jordan(), _gap()):
        with pytest.raises(ValueError, match="P"):
            Propagator(P, 0.9, "modal").expm(np.ones((P.shape[0], 1)), np.array([1.0]))


def test_reversibility_detection():
    rng = np.random.default_rng(2)
    blocks = sla.block_diag(two_state(0.3, 0.6), random_reversible(4, rng), np.ones((1, 1)))
    for P in (random_reversible(15, rng), random_walk_chain(9, 0.3), four_rooms(2), blocks,
              sp.csr_matrix(blocks), two_state(0.1, 0.7), np.ones((1, 1))):
        Propagator(P, 0.9, "chebyshev")                  # accepted
    W = random_reversible(15, rng)
    W[0, 1] += 1e-6
    W[0, 2] -= 1e-6                                      # still stochastic, no longer reversible
    # _reducible() has a transient state (P[4, j] > 0 = P[j, 4]): not reversible
    for P in (ring(9), random_dirichlet(10, rng), _jordan(), W, _rotation(), _reducible()):
        with pytest.raises(ValueError, match="reversible"):
            Propagator(P, 0.9, "chebyshev")


def test_auto_picks_fast_methods_and_they_are_exact():
    """Method choice is a cost decision; whichever is picked must be exact.
    Fast-mixing dense chain at t = 1e4: the ergodic tail stops after a few products.
    Slowly mixing symmetric gridworld at t = 1e3: Chebyshev (~sqrt(t) terms, not ~t)."""
    rng = np.random.default_rng(4)
    P = random_dirichlet(40, rng)
    X = rng.standard_normal((40, 2))
    t = np.array([0.0, 5.0, 1e4])
    prop = Propagator(P, 0.999)
    Y = prop.expm(X, t)
    assert prop.last_method == "uniformization" and prop.last_terms < 60
    assert _relerr(Y[:2], _ref_expm(P, 0.999, X, t[:2])) <= REL_TOL
    # at t = 1e4 the exact answer is e^{-t(1-g)} 1 pi^T X up to e^{-t(1 - g|lam2|)} ~ 0
    A = np.eye(40) - P.T
    A[-1] = 1.0
    pi = np.linalg.solve(A, np.eye(40)[-1])
    np.testing.assert_allclose(Y[2], np.exp(-1e4 * 0.001) * np.outer(np.ones(40), pi @ X),
                               rtol=1e-12, atol=0)
    G = four_rooms(3)
    Xg = rng.standard_normal((G.shape[0], 1))
    tg = np.array([0.0, 300.0, 1000.0])
    prop = Propagator(G, 0.999)
    Yg = prop.expm(Xg, tg)
    assert prop.last_method == "chebyshev"
    assert _relerr(Yg, _ref_expm(G, 0.999, Xg, tg)) <= LONG_TOL


def test_ergodic_tail_is_needed_and_certified():
    """P^k X for a rotation never settles (osc constant): the series must run (almost) to the
    Poisson cut. For a fast-mixing chain the cut fires early, and the closed-form tail
    e^{-t(1-g)} Q(N, t g) 1 c^T is what keeps it exact: the same N terms without it are O(1)
    wrong (so this test would catch a dropped or mis-weighted tail)."""
    from scipy.special import pdtrc
    from repdyn.analysis.propagator import _poisson_terms
    P = _rotation(5)
    X = np.arange(10.0).reshape(5, 2)
    prop = Propagator(P, 0.9, "uniformization")
    t = np.array([30.0])
    Y = prop.expm(X, t)
    # P^k X permutes X: osc = (8 - 0) / 2 = 4 for every k, ||X|| = 9, so the certified cut is
    # the first N with Q(N, 27) * 4 <= ERGODIC_TOL * 9 -- or up to 3 products later, since
    # beyond k = 32 the oscillation is only measured at every 4th product
    N0 = _poisson_terms(27.0, tail=ERGODIC_TOL * 9.0 / 4.0)
    assert N0 <= prop.last_terms <= N0 + 3
    assert _relerr(Y, _ref_expm(P, 0.9, X, t)) <= REL_TOL
    D = random_dirichlet(20, np.random.default_rng(9))
    Xd = np.random.default_rng(10).standard_normal((20, 1))
    prop = Propagator(D, 0.9, "uniformization")
    Yd = prop.expm(Xd, np.array([30.0]))
    N = prop.last_terms
    assert N < _poisson_terms(27.0) / 2                      # the ergodic cut fired
    R = _ref_expm(D, 0.9, Xd, [30.0])
    assert _relerr(Yd, R) <= REL_TOL
    # the same N terms without the tail (independent plain-numpy evaluation)
    S, Pk = np.zeros_like(Xd), Xd.copy()
    for k in range(N + 1):
        S += np.exp(-30.0 + k * np.log(27.0) - np.sum(np.log(np.arange(1, k + 1)))) * Pk
        Pk = D @ Pk
    assert pdtrc(N, 27.0) > 0.5 and _relerr(S[None], R) > 0.5


def test_unsorted_times_and_shapes():
    P = MATS["dirichlet"]
    X = np.random.default_rng(0).standard_normal((12, 4))
    t = np.array([5.0, 0.0, 20.0, 1.0, 5.0])
    for method in ("auto", "uniformization", "modal"):
        Y = Propagator(P, 0.9, method).expm(X, t)
        assert Y.shape == (5, 12, 4)
        assert _relerr(Y, _ref_expm(P, 0.9, X, t)) <= REL_TOL
    assert Propagator(P, 0.9).expm(X, np.array([])).shape == (0, 12, 4)


def test_underflowing_times_are_zero_without_a_series():
    """tau (1 - gamma) > 745: ||exp(-tau A) X|| <= e^{-tau(1-gamma)} ||X|| underflows, so the
    answer is 0 -- and it must come back at once, not after ~tau Poisson terms (here 9e8)."""
    P = MATS["ring"]
    X = np.ones((9, 1))
    t = np.array([0.0, 1e9, 5.0])
    for method in ("auto", "uniformization", "modal"):
        Y = Propagator(P, 0.9, method).expm(X, t)
        assert np.all(Y[1] == 0.0)
        assert _relerr(Y[[0, 2]], _ref_expm(P, 0.9, X, t[[0, 2]])) <= REL_TOL


def test_bad_method_names():
    with pytest.raises(ValueError, match="method"):
        Propagator(MATS["dirichlet"], 0.9, "krylov")
    with pytest.raises(ValueError, match="modal"):
        Propagator(four_rooms(2), 0.9, "modal")


@given(rs.transition_matrices(), rs.discounts(0.0, 0.999), st.floats(0.0, 50.0),
       st.integers(0, 2**31))
def test_property_any_stochastic_P(P, gamma, tmax, seed):
    """Any stochastic P (the strategy includes sparse rows, duplicates, n = 1): auto and
    uniformization agree with the 40-digit exp(-tA) (scipy's expm is off by ~1e-12 relative
    to the decayed solution already on P = ones/3, gamma = 1/32, t = 8, found by this test);
    the semigroup law exp(-(s+t)A) = exp(-sA) exp(-tA) holds."""
    n = P.shape[0]
    X = np.random.default_rng(seed).standard_normal((n, 2))
    t = np.array([0.0, 0.5 * tmax, tmax])
    R = _ref_expm(P, gamma, X, t, exact=True)
    tol = REL_TOL * max(1.0, tmax / 20.0)
    for method in ("auto", "uniformization"):
        prop = Propagator(P, gamma, method)
        assert _relerr(prop.expm(X, t), R) <= tol
        half = prop.expm(X, t[1:2])[0]
        assert _relerr(prop.expm(half, t[1:2]), R[2:3]) <= 10 * tol


@given(rs.reversible_matrices(), rs.discounts(0.0, 0.999), st.floats(0.0, 300.0),
       st.integers(0, 2**31))
def test_property_reversible_chebyshev_equals_uniformization(P, gamma, tmax, seed):
    """Two different bases and truncations (Chebyshev T_k(P) with Bessel weights; powers P^k
    with Poisson weights and the ergodic tail) must agree on every reversible P, to the sum of
    their bounds ~ (N^2 kappa + N) u relative to ||exp(-tau A)|| ||X||."""
    n = P.shape[0]
    X = np.random.default_rng(seed).standard_normal((n, 2))
    t = np.array([0.0, 0.3 * tmax, tmax])
    Yu = Propagator(P, gamma, "uniformization").expm(X, t)
    Yc = Propagator(P, gamma, "chebyshev").expm(X, t)
    scale = np.exp(-t * (1 - gamma))[:, None, None] * np.abs(X).max()
    assert np.all(np.abs(Yu - Yc) <= LONG_TOL * scale)


@given(st.one_of(rs.gridworlds(4), rs.rings().map(sp.csr_matrix),
                 rs.transition_matrices(n=st.integers(2, 10), sparsity=0.7).map(sp.csr_matrix)),
       rs.discounts(0.0, 0.999), st.floats(0.0, 300.0))
def test_property_sparse_auto_equals_dense_uniformization(P, gamma, tmax):
    """Sparse P (gridworlds: symmetric, Chebyshev territory; rings and sparse random chains:
    non-reversible) through ``auto`` against dense uniformization, normwise as guaranteed."""
    n = P.shape[0]
    X = np.random.default_rng(n).standard_normal((n, 2))
    t = np.array([0.0, 0.1 * tmax, tmax])
    Ys = Propagator(P, gamma).expm(X, t)
    Yd = Propagator(P.toarray(), gamma, "uniformization").expm(X, t)
    scale = np.exp(-t * (1 - gamma))[:, None, None] * np.abs(X).max()
    assert np.all(np.abs(Ys - Yd) <= LONG_TOL * scale)


def test_benchmark_smoke(tmp_path):
    """benchmarks/bench_closed_form.py runs end to end on tiny cases (dense with the expm-loop
    reference, sparse with the per-time expm_multiply reference) and its errors are at the
    propagator's accuracy."""
    from repdyn.benchmarks.bench_closed_form import run_case
    for case in (dict(family="dirichlet", n=16, T=8, K=2, tmax=5.0, gamma=0.9),
                 dict(family="four-rooms", room=2, T=8, K=1, tmax=5.0, gamma=0.9)):
        rows = run_case(case, repeats=1)
        assert [r["function"] for r in rows] == ["td_values", "ensemble_limit"]
        for r in rows:
            assert r["err"] <= REL_TOL and r["t_ours"] > 0 and r["ratio_em"] > 0
