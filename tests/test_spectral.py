"""Principal angles, Grassmann distance, EBFs and RSBFs (docs: theory/index)."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from repdyn.analysis import strategies as rs
from repdyn.analysis.mdp import EIG_TIE_TOL, random_walk_chain, ring, two_state
from repdyn.analysis.spectral import (alignment_rate, ebfs, eigenvalues, grassmann_distance,
                               principal_angles, rsbfs)

#: Angles from arctan2(sin, cos) are accurate to a few eps absolute (the contract asks for 1e-12).
ANGLE_ATOL = 1e-12
#: Invariance residual ||(I - EE^T) P E|| of a Schur basis: backward stable, O(n eps ||P||).
INVARIANCE_ATOL = 1e-12


def _pair_with_angles(n, thetas, rng):
    """Bases of two k-dim subspaces of R^n (n >= 2k) with exactly the given principal angles."""
    k = len(thetas)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    A = Q[:, :k]
    B = Q[:, :k] * np.cos(thetas) + Q[:, k:2 * k] * np.sin(thetas)
    # arbitrary invertible mixing: the span, not the basis, is what counts
    return A @ rng.standard_normal((k, k)), B @ (np.eye(k) + 0.3 * rng.standard_normal((k, k)))


@given(st.lists(st.floats(1e-13, np.pi / 2), min_size=1, max_size=4), st.integers(0, 2**31))
def test_principal_angles_recover_known_angles(thetas, seed):
    rng = np.random.default_rng(seed)
    thetas = np.array(thetas)
    A, B = _pair_with_angles(2 * len(thetas) + 1, thetas, rng)
    assume(np.linalg.cond(A) < 1e6 and np.linalg.cond(B) < 1e6)
    got = principal_angles(A, B)
    # a perturbation of relative size cond*eps moves an angle by that much in absolute terms
    tol = ANGLE_ATOL + 1e-15 * (np.linalg.cond(A) + np.linalg.cond(B))
    np.testing.assert_allclose(got, np.sort(thetas), rtol=0, atol=tol)
    assert got.shape == (len(thetas),)


def test_tiny_angle_beside_right_angle():
    """Known trap: scipy 1.17 subspace_angles gets the small one wrong here."""
    e = np.eye(6)
    A = e[:, :2]
    B = np.c_[np.cos(1e-10) * e[:, 0] + np.sin(1e-10) * e[:, 2], e[:, 3]]
    got = principal_angles(A, B)
    np.testing.assert_allclose(got, [1e-10, np.pi / 2], rtol=1e-6, atol=0)
    np.testing.assert_allclose(grassmann_distance(A, B), np.hypot(1e-10, np.pi / 2), rtol=1e-14)


def test_unequal_dimensions():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((7, 2))
    B = np.c_[A, rng.standard_normal((7, 2))]      # span A inside span B
    np.testing.assert_allclose(principal_angles(A, B), [0, 0], atol=ANGLE_ATOL)
    assert principal_angles(B, A).shape == (2,)
    with pytest.raises(ValueError, match="equal dimension"):
        grassmann_distance(A, B)


def _check_invariant(P, E, k):
    assert E.shape == (P.shape[0], k)
    np.testing.assert_allclose(E.T @ E, np.eye(k), atol=1e-12)
    resid = P @ E - E @ (E.T @ P @ E)
    assert np.abs(resid).max() <= INVARIANCE_ATOL * max(1, P.shape[0])
    # the eigenvalues of P restricted to span E are the top-k by real part
    inside = np.sort_complex(np.linalg.eigvals(E.T @ P @ E))
    top = np.sort_complex(eigenvalues(P)[:k])
    np.testing.assert_allclose(inside, top, atol=1e-8)


@given(rs.transition_matrices(n=st.integers(1, 7)), st.integers(1, 7))
def test_ebfs_span_the_top_invariant_subspace_or_refuse(P, k):
    n = P.shape[0]
    assume(k <= n)
    lam = eigenvalues(P)
    if k < n and lam[k - 1].real - lam[k].real <= EIG_TIE_TOL:
        with pytest.raises(ValueError, match="k ="):
            ebfs(P, k)
        return
    assume(k == n or lam[k - 1].real - lam[k].real > 1e-6)   # well separated: accuracy claim
    _check_invariant(P, ebfs(P, k), k)


def test_ebfs_defective_jordan_block():
    J = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])  # eigenvalue 0.5 defective
    np.testing.assert_allclose(np.abs(ebfs(J, 1)[:, 0]), np.ones(3) / np.sqrt(3), atol=1e-14)
    _check_invariant(J, ebfs(J, 3), 3)
    with pytest.raises(ValueError, match="tie"):
        ebfs(J, 2)


def test_ebfs_non_normal_gap_1e6():
    a, b = 0.5, 0.5 + 1e-6
    P = np.array([[a, 1 - a, 0.0], [0.0, b, 1 - b], [0.0, 0.0, 1.0]])
    E = ebfs(P, 2)
    v = np.array([(1 - a) / (b - a), 1.0, 0.0])       # eigenvector of b, by hand
    exact = np.c_[np.ones(3), v]
    # invariant-subspace sensitivity ~ eps / sep, sep ~ 1e-6
    assert grassmann_distance(E, exact) < 1e-8
    _check_invariant(P, E, 2)


def test_rings_need_odd_k():
    P = ring(9)
    for k in (1, 3, 5, 7, 9):
        _check_invariant(P, ebfs(P, k), k)
    for k in (2, 4):
        with pytest.raises(ValueError, match="complex conjugate pair"):
            ebfs(P, k)


def test_small_sizes():
    np.testing.assert_allclose(ebfs(np.array([[1.0]]), 1), [[1.0]])
    P = two_state(0.3, 0.2)
    np.testing.assert_allclose(np.abs(ebfs(P, 1)[:, 0]), [2 ** -0.5] * 2, atol=1e-15)
    assert alignment_rate(P, 0.9, 1) == pytest.approx(0.9 * 0.5, rel=1e-14)


def _symmetric_doubly_stochastic(draw_perm, weights, n):
    P = np.zeros((n, n))
    for perm, w in zip(draw_perm, weights):
        Pi = np.eye(n)[perm]
        P += w * (Pi + Pi.T) / 2
    return P / sum(weights)


@given(st.integers(2, 7).flatmap(lambda n: st.tuples(
    st.lists(st.permutations(range(n)), min_size=1, max_size=4), st.just(n))),
    st.lists(st.floats(0.1, 1.0), min_size=4, max_size=4), st.floats(0.05, 0.999), st.integers(1, 6))
def test_rsbfs_equal_ebfs_for_symmetric_P(perms_n, weights, gamma, k):
    perms, n = perms_n
    P = _symmetric_doubly_stochastic(perms, weights[:len(perms)], n)
    assume(k < n)
    lam = np.sort(np.linalg.eigvalsh(P))[::-1]
    assume(lam[k - 1] - lam[k] > 1e-6)
    assert grassmann_distance(ebfs(P, k), rsbfs(P, gamma, k)) < 1e-8


@given(rs.transition_matrices(n=st.integers(2, 7)), st.floats(0.05, 0.99), st.integers(1, 6),
       st.integers(0, 2**31))
def test_rsbfs_against_explicit_resolvent(P, gamma, k, seed):
    n = P.shape[0]
    assume(k < n)
    A = np.eye(n) - gamma * P
    Psi = np.linalg.solve(A, np.eye(n))                    # reference only
    L = np.random.default_rng(seed).standard_normal((n, n))
    Sigma = L @ L.T / n
    for S, M in ((None, Psi @ Psi.T), (Sigma, Psi @ Sigma @ Psi.T)):
        ev, V = np.linalg.eigh(M)
        ev, V = ev[::-1], V[:, ::-1]
        if ev[k - 1] - ev[k] <= 1e-6 * ev[0]:
            continue
        # Davis-Kahan: the subspace error is ~ eps * ||M|| / gap
        tol = 1e-12 * ev[0] / (ev[k - 1] - ev[k]) + 1e-12
        assert grassmann_distance(rsbfs(P, gamma, k, Sigma=S), V[:, :k]) < tol


def test_rsbfs_refuse_ties():
    with pytest.raises(ValueError, match="tie"):
        rsbfs(random_walk_chain(5), 0.0, 2)             # gamma = 0: Psi = I
    with pytest.raises(ValueError, match="Sigma"):
        rsbfs(random_walk_chain(5), 0.5, 2, Sigma=-np.eye(5))


def test_undefined_subspace_has_its_own_error_type():
    """Ties and split complex pairs raise UndefinedSubspaceError (a ValueError), so callers can
    tell an undefined subspace from bad input without matching message text."""
    from repdyn.analysis.spectral import UndefinedSubspaceError
    cycle = np.roll(np.eye(4), 1, axis=1)                  # eigenvalues 1, i, -i, -1
    with pytest.raises(UndefinedSubspaceError, match="complex conjugate pair"):
        ebfs(cycle, 2)
    with pytest.raises(UndefinedSubspaceError, match="tie"):
        ebfs(np.eye(3), 1)
    with pytest.raises(UndefinedSubspaceError, match="tie"):
        rsbfs(np.eye(3), 0.9, 1)
    with pytest.raises(ValueError) as info:                 # bad input is not that error
        ebfs(np.eye(3), 4)
    assert not isinstance(info.value, UndefinedSubspaceError)


def test_figures_and_studies_factorise_each_mdp_once(monkeypatch):
    """One validated MDP object per MDP (issue 12): the O(n^3) factorisations behind the dense
    route -- the eigenvalues (LAPACK geev) and the real Schur form (gees) -- happen once per MDP
    however many orders K a figure or a study cell asks for (each K reorders the cached Schur
    form). Counted by wrapping the two LAPACK entry points."""
    import scipy.linalg as sla
    import repdyn.analysis.spectral as spectral
    from repdyn import figures
    from repdyn.studies import convergence_rate

    calls = {"schur": 0, "eigvals": 0}
    schur, eigvals = sla.schur, np.linalg.eigvals

    def count_schur(a, *args, **kw):
        calls["schur"] += np.shape(a)[0] > 8        # the MDPs here have n >= 10; blocks are <= 8
        return schur(a, *args, **kw)

    def count_eigvals(a, *args, **kw):
        calls["eigvals"] += np.shape(a)[0] > 8
        return eigvals(a, *args, **kw)

    monkeypatch.setattr(spectral.sla, "schur", count_schur)
    monkeypatch.setattr(np.linalg, "eigvals", count_eigvals)
    fig = {f.name: f for f in figures.FIGURES}
    for name, n_mdps in (("fig2_alignment_to_ebfs", 1),       # K = 1, 3 (values) and 2 (ensemble)
                         ("fig_c8_auxiliary_tasks", 2)):       # P and P_bar, ebfs and rsbfs
        calls.update(schur=0, eigvals=0)
        fig[name].compute(fig[name].config)
        assert calls == {"schur": n_mdps, "eigvals": n_mdps}, (name, calls)
    for cfg in (dict(family="chain", n=30, K=2, M=0, gamma=0.9, seed=0),
                dict(family="four-rooms", n=104, K=4, M=0, gamma=0.9, seed=0),
                dict(family="chain", n=10, K=2, M=16, gamma=0.9, seed=0)):
        calls.update(schur=0, eigvals=0)
        r = convergence_rate(**cfg)
        assert r["applicable"] and calls == {"schur": 1, "eigvals": 1}, (cfg, calls)


def test_modal_span_with_unequal_head_weights_at_long_times():
    """ModalSpan's mpmath solve X = B T^-1 must not refuse a top block whose columns differ
    only in scale: with G = alpha W W^T of unequal eigenvalues d_j, column j of the modal
    matrix carries exp(-t d_j mu_i), and before column equilibration mpmath's absolute
    singularity test raised 'matrix is numerically singular' for this cell (the fit reaches
    t ~ 3700). The measured rate must match d_min gamma (lambda_K - lambda_K+1) to the study's
    fit accuracy: the fit window ends where the slowest correction has decayed by e^-SETTLE
    (~4.5e-5 relative), so MAX_REL_ERROR = 2 e^-SETTLE."""
    from repdyn.studies import SETTLE, convergence_rate
    MAX_REL_ERROR = 2.0 * np.exp(-SETTLE)
    r = convergence_rate(family="chain", n=30, K=3, M=16, gamma=0.9, seed=0)
    assert r["applicable"], r["reason"]
    assert abs(r["measured_rate"] - r["predicted_rate"]) <= MAX_REL_ERROR * r["predicted_rate"], r
