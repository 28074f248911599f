"""The Krylov route for large and sparse P agrees with the dense route, certifies what it can,
and refuses ties (docs: theory/index, docs: architecture).

Sizes stay at n <= 2000 with dense comparisons at n <= 1000 (the dense real Schur form costs
O(n^3)); the 10^5- and 10^6-state cases are in ``benchmarks/bench_spectral.py``.
"""
import numpy as np
import pytest
import scipy.sparse as sp
import threadpoolctl

from repdyn.analysis.errors import UndefinedSubspaceError
from repdyn.analysis.krylov import TopSpectrum, count_above, top_basis, top_spectrum
from repdyn.analysis.mdp import (MDP, four_rooms, random_dirichlet, random_reversible, random_sparse_chain,
                                 random_walk_chain, ring)
from repdyn.analysis.spectral import (FULL_SPECTRUM_MAX_N, alignment_rate, ebf_certificate, ebfs, eigenvalues,
                                      grassmann_distance, rsbfs)

#: Agreement between the routes. Both are backward stable: each basis is within
#: ~ eps ||P|| / gap of the true subspace (dense Schur), resp. residual / gap with the residual
#: <= ~1e-11 (Krylov, KRYLOV_TOL); the smallest gap in these cases is ~1e-4, so both are within
#: ~1e-11 / 1e-4 = 1e-7 in the worst case, ~1e-11 measured; the target 1e-9 of docs: architecture.
GRASSMANN_TOL = 1e-9

#: Eigenvalues from the two routes: both backward stable, simple eigenvalues, condition <= ~1e2.
EIG_TOL = 1e-11


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """LAPACK's real Schur form (the dense reference) runs ~40x slower with OpenBLAS threads on
    a loaded 2-core machine (measured: 1.1 s against 0.03 s at n = 200); one thread keeps the
    dense references fast."""
    with threadpoolctl.threadpool_limits(limits=1):
        yield


def _defective(n, seed=0):
    """Jordan block of 0.95 (two transient states feeding each other) above a random reversible
    recurrent class: lambda = 1, 0.95 (algebraic multiplicity 2, geometric 1), then small."""
    Q = random_reversible(n - 2, seed=seed)
    P = np.zeros((n, n))
    P[2:, 2:] = Q
    P[0, 0], P[0, 1] = 0.95, 0.05
    P[1, 1] = 0.95
    P[1, 2:] = 0.05 / (n - 2)
    return P


CASES = [  # (name, P, orders k with a defined subspace: no tie, no split conjugate pair)
    ("complex non-normal dense (Dirichlet)", random_dirichlet(400, seed=1), [1, 3, 4]),
    ("complex normal (ring, pairs)", ring(501, sparse=True), [1, 3, 5, 7]),
    ("defective Jordan block", _defective(400), [1, 3, 4]),
    ("sparse non-normal random chain", random_sparse_chain(1000, 4, seed=2), [2, 3, 7]),
    ("reversible, not symmetric (dense)", random_reversible(400, seed=3), [1, 3, 8]),
    # pi spans e^10: non-normal, still reversible within the certificate's scaling limit
    ("birth-death chain, drift", random_walk_chain(300, 0.51, sparse=True), [2, 5]),
    ("four-rooms", four_rooms(12), [1, 4]),
]


@pytest.mark.parametrize("name, P, ks", CASES, ids=[c[0] for c in CASES])
def test_krylov_agrees_with_dense(name, P, ks):
    dense, kry = MDP(P), MDP(P)
    kmax = max(ks)
    np.testing.assert_allclose(eigenvalues(kry, kmax + 1, method="krylov"),
                               eigenvalues(dense, kmax + 1, method="dense"), atol=EIG_TOL)
    for k in ks:
        E_d, E_k = ebfs(dense, k, method="dense"), ebfs(kry, k, method="krylov")
        assert grassmann_distance(E_d, E_k) <= GRASSMANN_TOL, (name, k)
        np.testing.assert_allclose(E_k.T @ E_k, np.eye(k), atol=1e-13)
        cert = ebf_certificate(kry, k)
        assert cert.method == "krylov-schur" and cert.residual < 1e-10
    for gamma in (0.9, 0.99):
        k = ks[-1]
        d = grassmann_distance(rsbfs(dense, gamma, k, method="dense"), rsbfs(kry, gamma, k, method="krylov"))
        assert d <= GRASSMANN_TOL, (name, gamma)


def test_rsbfs_with_sigma_dense_and_sparse_agree():
    P = random_sparse_chain(350, 5, seed=7)
    rng = np.random.default_rng(0)
    B = rng.standard_normal((350, 3))
    Sigma = np.diag(rng.uniform(0.5, 2.0, 350)) + B @ B.T
    ref = rsbfs(P, 0.9, 3, Sigma, method="dense")
    assert grassmann_distance(ref, rsbfs(P, 0.9, 3, Sigma, method="krylov")) <= GRASSMANN_TOL
    D = sp.diags(rng.uniform(0.5, 2.0, 350))
    assert grassmann_distance(rsbfs(P, 0.9, 2, D.toarray(), method="dense"),
                              rsbfs(P, 0.9, 2, D, method="krylov")) <= GRASSMANN_TOL
    with pytest.raises(ValueError, match="Sigma must be symmetric"):
        rsbfs(P, 0.9, 2, Sigma + np.triu(np.ones((350, 350)), 1), method="krylov")


def test_four_rooms_near_tie_is_refused_with_the_gap():
    # four_rooms(15): lambda_2 = lambda_3 by symmetry (to rounding); four_rooms(50): 4.7e-9 apart
    for P, meth in ((four_rooms(15), "dense"), (four_rooms(15), "krylov"), (four_rooms(50), "auto")):
        with pytest.raises(UndefinedSubspaceError, match=r"k = 2: lambda_2 and lambda_3 tie .*gap"):
            ebfs(P, 2, method=meth)
    m = MDP(four_rooms(50))
    assert ebfs(m, 3).shape == (10004, 3)          # the pair taken whole is defined
    assert ebf_certificate(m, 3).top_k_certified is True


def test_split_conjugate_pair_is_refused_on_the_krylov_route():
    with pytest.raises(UndefinedSubspaceError, match="splits the complex conjugate pair"):
        ebfs(ring(1001, sparse=True), 2)


def test_reversible_certificate_counts_exactly():
    m = MDP(random_walk_chain(2000, 0.5, sparse=True))
    E = ebfs(m, 6)
    cert = ebf_certificate(m, 6)
    # one count certifies the computed block down to its widest gap at or below k = 6
    assert cert.top_k_certified is True and cert.count_above >= 6
    lam = np.cos(np.pi * np.arange(7) / 2000)     # closed form of this chain's spectrum
    np.testing.assert_allclose(eigenvalues(m, 7).real, lam, atol=1e-12)
    assert cert.gap == pytest.approx(lam[5] - lam[6], rel=1e-6)
    assert E.shape == (2000, 6)


@pytest.mark.parametrize("dense", [True, False])
def test_inertia_count_matches_the_spectrum(dense):
    P = random_reversible(120, seed=11)
    m = MDP(P if dense else sp.csr_matrix(P))
    lam = np.sort(np.linalg.eigvals(P).real)[::-1]
    sq = m.sqrt_stationary()
    for j in (1, 2, 5, 17, 60):
        c = 0.5 * (lam[j - 1] + lam[j])
        count, eps = count_above(m.P, c, sq)
        assert count == j
        assert eps < 0.5 * (lam[j - 1] - lam[j])     # the bound that makes the count exact


def test_certificate_fails_when_an_eigenvalue_is_missed():
    # a block that skips lambda_2 of the chain: whatever cut inside the block the count uses,
    # it sees one eigenvalue more above it than the block holds
    n = 500
    P = random_walk_chain(n, sparse=True)
    j = np.arange(n)
    U = np.cos(np.pi * np.outer(j + 0.5, [0, 2, 3, 4, 5]) / n)
    V = np.linalg.qr(U)[0]
    T = V.T @ (P @ V)
    w = np.sort(np.linalg.eigvals(T))[::-1]
    fake = TopSpectrum(V, T, w, float(np.linalg.norm(P @ V - V @ T)), 1.0 + 1e-6,
                       float(np.abs(w - 1).max()), 0.0, 0, 0)
    _, cert = top_basis(P, fake, 1, sqrt_pi=np.ones(n))
    assert cert.top_k_certified is False and cert.count_above == 5   # block: 4 above its cut
    assert "NOT certified" in cert.note


def test_general_P_says_what_is_not_certified():
    m = MDP(random_sparse_chain(1500, 4, seed=5))
    ebfs(m, 2)
    cert = ebf_certificate(m, 2)
    assert cert.top_k_certified is None and cert.count_above is None
    assert "not certified" in cert.note


def test_mdp_object_caches_and_returns_copies():
    m = MDP(four_rooms(20), gamma=0.9)
    E = ebfs(m, 3)
    top = m._cache["top"]
    E[:] = 0.0                                       # the caller's copy, not the cache
    E2 = m.ebfs(3)
    assert np.abs(E2).max() > 0 and m._cache["top"] is top   # no new factorisation
    ebfs(m, 4)
    assert m._cache["top"] is top                    # k = 4 derived from the same block
    U = m.rsbfs(3)
    assert grassmann_distance(E2, U) < 1e-8          # symmetric P: RSBFs = EBFs (docs: theory/index)
    assert alignment_rate(m, 0.9, 3) == pytest.approx(0.9 * (eigenvalues(m, 4)[2] - eigenvalues(m, 4)[3]).real)


def test_sparse_input_everywhere_and_full_spectrum_refused_when_large():
    P = random_walk_chain(FULL_SPECTRUM_MAX_N + 1, sparse=True)
    with pytest.raises(ValueError, match="full spectrum .* ask for the top k"):
        eigenvalues(P)
    assert eigenvalues(P, 3).shape == (3,)
    assert ebfs(four_rooms(4), 2).shape == (68, 2)   # small sparse P: dense route, no refusal


def test_krylov_is_deterministic():
    P = random_sparse_chain(800, 4, seed=9)
    a, b = ebfs(MDP(P), 3, method="krylov"), ebfs(MDP(P), 3, method="krylov")
    assert np.array_equal(a, b)


def test_top_spectrum_orthonormal_and_invariant():
    P = random_sparse_chain(600, 5, seed=4)
    top = top_spectrum(P, 8)
    np.testing.assert_allclose(top.V.T @ top.V, np.eye(top.p), atol=1e-13)
    assert top.residual < 1e-10


def test_symmetric_rsbfs_come_from_the_certified_ebfs(monkeypatch):
    """Exactly symmetric P, Sigma = I: Psi is symmetric with singular values 1 / (1 - gamma
    lambda), increasing in lambda, so the RSBFs are the top eigenvectors of P. The shortcut
    must be taken (the resolvent's LU and Lanczos are disabled here) and must agree with an
    independent dense SVD of I - gamma P; with a simple spectrum column by column (each
    singular vector within ~ eps / (relative gap) of the SVD's, gaps >= 1.5e-5 here)."""
    import repdyn.analysis.spectral as spectral

    def boom(*a, **k):
        raise AssertionError("the symmetric shortcut should not factorise I - gamma P")

    monkeypatch.setattr(spectral, "resolvent_lu", boom)
    monkeypatch.setattr(spectral, "resolvent_top", boom)
    for P, ks, columns in ((random_walk_chain(800, sparse=True), (1, 3, 8), True),
                           (four_rooms(15), (1, 3, 8), False)):
        m = MDP(P)
        assert m.is_symmetric()
        n = m.n
        for gamma in (0.9, 0.99):
            _, s, Vt = np.linalg.svd(np.eye(n) - gamma * P.toarray())
            ref = Vt[::-1].T                      # left singular vectors of Psi, descending
            for k in ks:
                U = rsbfs(m, gamma, k, method="krylov")
                np.testing.assert_allclose(U.T @ U, np.eye(k), atol=1e-13)
                assert grassmann_distance(U, ref[:, :k]) <= GRASSMANN_TOL, (n, gamma, k)
                if columns:
                    signs = np.sign(np.sum(U * ref[:, :k], axis=0))
                    np.testing.assert_allclose(U * signs, ref[:, :k], atol=GRASSMANN_TOL)
                assert ebf_certificate(m, k).top_k_certified is True
        with pytest.raises(UndefinedSubspaceError, match="singular values 3 and 4 .* tie"):
            rsbfs(m, 0.0, 3, method="krylov")     # gamma = 0: Psi = I, every singular value is 1


def test_rsbfs_shortcut_needs_exact_symmetry():
    """One ulp of asymmetry (still row-stochastic within 1e-10) takes the general route, which
    agrees with the dense SVD; a reversible non-symmetric chain is never shortcut."""
    P = random_walk_chain(400)
    P2 = P.copy()
    P2[0, 1] = np.nextafter(P2[0, 1], 1.0)             # P2[1, 0] keeps its value
    assert MDP(P).is_symmetric() and not MDP(P2).is_symmetric()
    assert not MDP(random_walk_chain(300, 0.51, sparse=True)).is_symmetric()
    for Q in (P2, random_walk_chain(400, 0.51, sparse=True)):
        m = MDP(Q)
        U = rsbfs(m, 0.9, 3, method="krylov")
        assert ("resolvent_top", 0.9) in m._cache                  # Lanczos ran
        assert grassmann_distance(U, rsbfs(Q, 0.9, 3, method="dense")) <= GRASSMANN_TOL


# ----------------------------------------------------------------------------- C6 (and C2/C3) on large P

#: The split tracker against the mpmath modal reference: both follow the same flow; the
#: tracker's float64 part loses ~eps e^STEP_EFOLDS per step relative (<= ~1e-11 over these
#: horizons), and ln d is compared absolutely (relative in d).
SPLIT_VS_MODAL_TOL = 1e-9


@pytest.mark.parametrize("P, K", [(random_walk_chain(30, 0.52, sparse=True), 2),        # reversible, not symmetric
                                  (__import__("repdyn.analysis.mdp", fromlist=["gridworld"]).gridworld(6, 7), 3),
                                  (sp.csr_matrix(random_reversible(20, seed=2)), 2)],
                         ids=["birth-death drift", "grid 6x7", "random reversible"])
def test_split_span_matches_the_mpmath_modal_reference(P, K):
    """ln d(span Phi_t, U_1:K) under dPhi/dt = -A Phi G, far past the float64 window (d down to
    ~1e-9), from SplitSpan (float64 complement, mpmath K x K) and ModalSpan (full mpmath)."""
    from repdyn.analysis.span_tracking import ModalSpan
    from repdyn.kernels import flows
    from repdyn.proofs.simulation import SplitSpan
    rng = np.random.default_rng(1)
    gamma = 0.99
    m = MDP(P, gamma=gamma)
    lam = eigenvalues(m).real
    W, a = flows.draw_heads(K, 8 * K, "i", rng)
    G = a * W @ W.T
    Phi0 = rng.standard_normal((m.n, K))
    r = alignment_rate(m, gamma, K, np.linalg.eigvalsh(G).min())
    t = np.array([1.0, 2 / r, 5 / r, 10 / r, 20 / r])
    ref = ModalSpan(P.toarray(), gamma, Phi0, G).log_distance(t)
    tr = SplitSpan(m, gamma, Phi0, G, K, lam[K])
    got = np.array([tr.log_distance(ti) for ti in t])
    assert ref[-1] < -18                                           # far below the float64 window
    np.testing.assert_allclose(got, ref, rtol=0, atol=SPLIT_VS_MODAL_TOL)


def test_c6_runs_numerically_on_a_large_sparse_mdp_and_fails_a_wrong_prediction():
    from repdyn.analysis.mdp import gridworld
    from repdyn.proofs.simulation import RATE_RTOL, _c6_on
    m = MDP(gridworld(15, 16), gamma=0.9)               # n = 240 > N_MAX: the sparse route
    ok, rel, ev = _c6_on(m, np.random.default_rng(3), True)
    assert ok is True and rel <= RATE_RTOL and ev["settled"], ev
    assert ev["collapse_ratio"] <= 1e-7 and ev["route"].startswith("sparse")
    ok, rel, _ = _c6_on(m, np.random.default_rng(3), True, rate_factor=1.1)
    assert ok is False and rel > RATE_RTOL
    ok, why, _ = _c6_on(MDP(ring(600, sparse=True), gamma=0.9), np.random.default_rng(3), True)
    assert ok is None and "reversible" in why


def test_lu_fill_in_is_estimated_and_refused_before_it_starts():
    """Expander-like random sparse chains fill the LU in (a dense block on a separator of ~n/3
    states); grids and rooms do not (separator ~ the side). The estimate comes first, in
    O(nnz): a refusal names the estimate instead of running for hours."""
    import warnings
    from repdyn.analysis.krylov import LU_MAX_BYTES, _check_lu_size, lu_fill_estimate
    from repdyn.analysis.mdp import gridworld
    assert lu_fill_estimate(four_rooms(158))["separator"] <= 2 * 317          # ~ the side, 317
    big = random_sparse_chain(100_000, 4, seed=0)
    assert lu_fill_estimate(big)["bytes"] > LU_MAX_BYTES
    with pytest.raises(ValueError, match=r"sparse LU of P - sigma I .* estimated .* GiB .* refused"):
        ebfs(big, 3)
    with pytest.raises(ValueError, match=r"sparse LU of I - gamma P"):
        rsbfs(MDP(big), 0.9, 3, sp.identity(100_000, format="csr"))
    with pytest.warns(RuntimeWarning, match=r"dense block of \d+ x \d+ .* flops"):
        _check_lu_size(random_sparse_chain(20_000, 4, seed=0), "P - sigma I")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_lu_size(gridworld(300, 300), "P - sigma I")                    # no warning
