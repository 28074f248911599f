"""MDP builders have the spectra their docstrings state; validation tolerances."""
import numpy as np
import pytest

from repdyn.analysis.mdp import (STOCHASTIC_TOL, check_transition, default_mdps, four_rooms, random_dirichlet,
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
