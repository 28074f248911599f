"""MDP builders have the spectra their docstrings state; validation tolerances."""
import numpy as np
import pytest

from repdyn.analysis.mdp import (MDP, STOCHASTIC_TOL, check_transition, default_mdps, four_rooms, gridworld,
                          random_dirichlet, random_sparse_chain,
                          random_reversible, random_walk_chain, ring, two_action_chain, two_state)
from repdyn.analysis.spectral import eigenvalues

#: Eigenvalues of these small, well-conditioned matrices are accurate to a few eps.
EIG_ATOL = 1e-12


def test_two_state_spectrum():
    for p, q in [(0.3, 0.2), (0.9, 0.7), (0.0, 1.0)]:
        np.testing.assert_allclose(np.sort(eigenvalues(two_state(p, q)).real), np.sort([1, 1 - p - q]),
                                   atol=EIG_ATOL)


def test_chain_spectrum_is_cosines():
    n = 9
    lam = np.sort(eigenvalues(random_walk_chain(n)).real)[::-1]
    np.testing.assert_allclose(lam, np.cos(np.pi * np.arange(n) / n), atol=EIG_ATOL)


def test_ring_spectrum_formula():
    n, pf, pb = 7, 0.6, 0.2
    w = np.exp(2j * np.pi * np.arange(n) / n)
    expected = 1 - pf - pb + pf * w + pb / w
    got = eigenvalues(ring(n, pf, pb))
    np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(expected), atol=EIG_ATOL)


def test_reversible_has_real_spectrum_and_dirichlet_is_stochastic():
    P = random_reversible(8, seed=3)
    assert np.abs(np.linalg.eigvals(P).imag).max() < 1e-10
    for M in (P, random_dirichlet(8, seed=3)):
        check_transition(M)


def test_four_rooms_is_symmetric_sparse_and_stochastic():
    P = four_rooms(5)
    assert P.shape == (104, 104) and P.nnz < 5 * 104
    check_transition(P, sparse_ok=True)
    assert abs(P - P.T).max() == 0
    with pytest.raises(ValueError, match="dense"):
        check_transition(P)


def test_two_action_chain_of_C9():
    P, R = two_action_chain()
    assert P.shape == (2, 20, 20) and R.shape == (2, 20)
    for a in range(2):
        check_transition(P[a])
    assert P[1, 0, 1] == 0.9 and P[0, 5, 4] == 0.7 and R[0, -1] == 1.0 and R[0, 0] == 0.1


def test_stochasticity_tolerance():
    """docs: contract: rows must sum to 1 within 1e-10 absolute (hard-coded here, not read from
    the library: a changed constant must fail this test)."""
    assert STOCHASTIC_TOL == 1e-10
    P = two_state(0.3, 0.2)
    check_transition(P + np.array([[5e-11, 0], [0, 0]]))
    check_transition(P - np.array([[0, 9e-11], [0, 0]]))
    for bump in (2e-10, 1e-9, 1e-6):
        with pytest.raises(ValueError, match="row-stochastic"):
            check_transition(P + np.array([[bump, 0], [0, 0]]))
        with pytest.raises(ValueError, match="row-stochastic"):
            check_transition(P - np.array([[0, 0], [bump, 0]]))


def test_default_mdps_are_valid():
    for m in default_mdps():
        check_transition(m.P, sparse_ok=True)
        assert m.R.shape == (m.n,) and 0 < m.gamma < 1


# ----------------------------------------------------------------------------- large builders (issue 12)


def _loop_gridworld(height, width, wall):
    """Independent reference: one Python loop per cell (the construction the vectorised
    builder replaced)."""
    idx = -np.ones((height, width), dtype=int)
    cells = [(i, j) for i in range(height) for j in range(width) if not wall[i, j]]
    for s, (i, j) in enumerate(cells):
        idx[i, j] = s
    P = np.zeros((len(cells), len(cells)))
    for s, (i, j) in enumerate(cells):
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            a, b = i + di, j + dj
            ok = 0 <= a < height and 0 <= b < width and not wall[a, b]
            P[s, idx[a, b] if ok else s] += 0.25
    return P


def test_gridworld_matches_the_per_cell_loop():
    rng = np.random.default_rng(0)
    wall = rng.random((7, 9)) < 0.2
    np.testing.assert_array_equal(gridworld(7, 9, wall).toarray(), _loop_gridworld(7, 9, wall))
    size, room = 11, 5
    w = np.zeros((size, size), dtype=bool)
    w[room, :] = w[:, room] = True
    w[room, 2] = w[room, 8] = w[2, room] = w[8, room] = False
    np.testing.assert_array_equal(four_rooms(5).toarray(), _loop_gridworld(size, size, w))


def test_million_state_four_rooms_is_sparse_symmetric_stochastic():
    P = four_rooms(500)                     # (1001^2 - 2*1001 + 1 + 4) states, vectorised
    n = 1001 ** 2 - 2 * 1001 + 1 + 4
    assert P.shape == (n, n) and P.nnz <= 5 * n
    assert abs(P - P.T).max() == 0
    np.testing.assert_allclose(np.asarray(P.sum(axis=1)).ravel(), 1.0, atol=STOCHASTIC_TOL)


def test_sparse_ring_and_chain_equal_dense():
    np.testing.assert_array_equal(ring(11, 0.5, 0.3, sparse=True).toarray(), ring(11, 0.5, 0.3))
    np.testing.assert_array_equal(random_walk_chain(9, 0.3, sparse=True).toarray(), random_walk_chain(9, 0.3))


def test_random_sparse_chain_seeded_stochastic_irreducible():
    import scipy.sparse.csgraph as csg
    a, b = random_sparse_chain(3000, 5, seed=4), random_sparse_chain(3000, 5, seed=4)
    assert (a != b).nnz == 0 and a.nnz == 5 * 3000
    np.testing.assert_allclose(np.asarray(a.sum(axis=1)).ravel(), 1.0, atol=STOCHASTIC_TOL)
    assert csg.connected_components(a, directed=True, connection="strong")[0] == 1
    assert np.all(a.diagonal() > 0)
    with pytest.raises(ValueError, match="seed"):
        random_sparse_chain(10, 3)


# ----------------------------------------------------------------------------- the MDP object


def test_mdp_validates_once_and_is_read_only():
    P = random_walk_chain(5)
    m = MDP(P, np.ones(5), 0.9, name="c")
    assert check_transition(m) is m.P                      # passes without re-validation
    P[0, 0] = 7.0                                          # the caller's array: not the stored one
    assert m.P[0, 0] == 0.5
    with pytest.raises(ValueError):
        m.P[0, 0] = 1.0
    with pytest.raises(AttributeError):
        m.gamma = 0.5
    S = MDP(four_rooms(3))
    assert not S.P.data.flags.writeable and S.sparse
    with pytest.raises(ValueError, match="dense array for this function"):
        check_transition(S)
    for bad, msg in (((np.ones((2, 2)),), "row-stochastic"), ((m.P, np.ones(4)), "R must have length 5"),
                     ((random_walk_chain(5), None, 1.0), "gamma must lie in")):
        with pytest.raises(ValueError, match=msg):
            MDP(*bad)


def test_mdp_legacy_positional_form_and_public_name():
    import repdyn
    m = MDP("two", two_state(0.3, 0.2), [1.0, 0.0], 0.9, "notes")
    assert (m.name, m.gamma, m.notes, m.n) == ("two", 0.9, "notes", 2)
    assert repdyn.MDP is MDP


def test_mdp_object_goes_wherever_P_goes():
    from repdyn.analysis.closed_form import ensemble_limit, td_values, true_values
    P = random_reversible(30, seed=1)
    R = np.linspace(0, 1, 30)
    m = MDP(P, R, 0.9)
    t = np.array([0.0, 1.0, 5.0])
    np.testing.assert_array_equal(td_values(m, R, 0.9, np.zeros(30), t), td_values(P, R, 0.9, np.zeros(30), t))
    Phi0 = np.eye(30)[:, :3]
    np.testing.assert_array_equal(ensemble_limit(m, R, 0.9, Phi0, t), ensemble_limit(P, R, 0.9, Phi0, t))
    assert m.propagator(0.9) is m.propagator()             # cached, one per gamma
    np.testing.assert_allclose(true_values(m, R, 0.9), np.linalg.solve(np.eye(30) - 0.9 * P, R), atol=1e-12)
