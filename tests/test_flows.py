"""Flow kernels (kernels.flows): against plain-numpy references, against the exact closed forms
(docs: theory/c1, C5, C7, C8) to a tolerance derived from the step size, convergence order, validation.
"""
import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from repdyn.analysis import closed_form as cf
from repdyn.analysis import strategies as rs
from repdyn.analysis.mdp import four_rooms, random_dirichlet, random_reversible, ring
from repdyn.kernels import flows
from repdyn.proofs import references

#: Kernel vs numpy reference: the same arithmetic in a different order; rounding differences
#: grow at most linearly with the number of steps (contracting flows), so n_steps * eps * 100
#: relative to the scale of the state is generous and still catches any wrong term.
REF_RTOL_PER_STEP = 100 * np.finfo(float).eps
#: RK4 global error bound: SAFETY * t * dt^4 * ||L||^5 / 120 * e^{dt ||L||} * scale, the
#: propagated Taylor remainder of the exponential (L the vec-form generator). SAFETY covers
#: transient growth of non-normal flows (||e^{-tL}|| <= a few) and the forcing term.
RK4_SAFETY = 10.0
#: Halving dt divides the RK4 error by 2^4 = 16 and the Euler error by 2; accept +-25%.
ORDER_BAND = 0.25


def _mdp(kind, n, rng):
    if kind == "reversible":
        return random_reversible(n, rng)
    if kind == "dirichlet":
        return random_dirichlet(n, rng)
    return ring(n)


def _vec_generator(Ps, gammas, Gs):
    """L = sum_j G_j kron A_j, A_j = I - gamma_j P_j (column-stacked vec)."""
    n = Ps[0].shape[0]
    return sum(np.kron(G, np.eye(n) - g * np.asarray(P.toarray() if sp.issparse(P) else P))
               for P, g, G in zip(Ps, gammas, Gs))


def _vec_exact(L, f, X0, t):
    """Exact solution of vec dX/dt = -L vec X + f through the augmented exponential."""
    N = L.shape[0]
    Z = np.zeros((N + 1, N + 1))
    Z[:N, :N] = -L
    Z[:N, N] = f
    v0 = np.append(X0.reshape(-1, order="F"), 1.0)
    n, K = X0.shape
    return np.stack([(sla.expm(tk * Z) @ v0)[:N].reshape((n, K), order="F") for tk in t])


def _rk4_tol(L, dt, t_end, scale):
    nl = np.linalg.norm(L, 2)
    return RK4_SAFETY * t_end * dt ** 4 * nl ** 5 / 120.0 * np.exp(dt * nl) * scale


# ----------------------------------------------------------------------------- records


def test_records_start_at_zero_and_step_every_record_every():
    rng = np.random.default_rng(0)
    P = random_reversible(5, rng)
    W, a = flows.draw_heads(2, 7, "ii", rng)
    Phi0 = rng.standard_normal((5, 2))
    t, Ph, Wt = flows.simulate_ensemble(P, np.ones(5), 0.9, Phi0, W, a, 0.0, 0.05, 10, 3)
    np.testing.assert_array_equal(t, 0.05 * np.array([0.0, 3.0, 6.0, 9.0]))   # step count * dt
    assert Ph.shape == (4, 5, 2) and Wt.shape == (4, 2, 7)
    np.testing.assert_array_equal(Ph[0], Phi0)
    assert not Wt.flags.writeable and np.array_equal(Wt[-1], W)      # beta = 0: heads fixed
    t0, Ph0, _ = flows.simulate_ensemble(P, np.ones(5), 0.9, Phi0, W, a, 0.0, 0.05, 0, 1)
    assert t0.tolist() == [0.0] and np.array_equal(Ph0[0], Phi0)
    # records are snapshots of one run: recording every step reproduces the sparse records
    _, Ph1, _ = flows.simulate_ensemble(P, np.ones(5), 0.9, Phi0, W, a, 0.0, 0.05, 9, 1)
    np.testing.assert_array_equal(Ph1[::3], Ph)


def test_vector_values_keep_their_shape():
    rng = np.random.default_rng(1)
    P = random_reversible(4, rng)
    t, V = flows.simulate_values(P, np.ones(4), 0.5, np.zeros(4), 0.1, 4, 2)
    assert V.shape == (3, 4)
    t, V = flows.simulate_values(P, np.ones(4), 0.5, np.zeros((4, 3)), 0.1, 4, 2, flow="mc")
    assert V.shape == (3, 4, 3)


# ----------------------------------------------------------------------------- vs numpy reference


def _cases(rng, n, K, M, P):
    R = rng.standard_normal(n)
    Phi0 = rng.standard_normal((n, K))
    W, a = flows.draw_heads(K, M, "ii", rng)
    C = flows.draw_cumulants(n, M, None, rng)
    P2 = random_reversible(n, rng)
    Pd = P.toarray() if sp.issparse(P) else P
    Ps = [P, sp.csr_matrix(P2) if sp.issparse(P) else P2]
    Rs = np.stack([R, rng.standard_normal(n)])
    gs = np.array([0.5, 0.95])
    args = (0.02, 60, 20)
    return {
        "td": (flows.simulate_values(P, R, 0.9, Phi0, *args),
               references.reference_values(P, R, 0.9, Phi0, *args)),
        "mc": (flows.simulate_values(P, R, 0.9, Phi0, *args, flow="mc"),
               references.reference_values(Pd, R, 0.9, Phi0, *args, flow="mc")),
        "ensemble-fixed": (flows.simulate_ensemble(P, R, 0.9, Phi0, W, a, 0.0, *args),
                           references.reference_ensemble(P, R, 0.9, Phi0, W, a, 0.0, *args)),
        "ensemble-learned": (flows.simulate_ensemble(P, R, 0.9, Phi0, W, a, 0.7, *args),
                             references.reference_ensemble(P, R, 0.9, Phi0, W, a, 0.7, *args)),
        "linear-fa": (flows.simulate_linear_fa(P, R, 0.9, Phi0, W[:, 0], 1.0, 0.5, *args),
                      references.reference_linear_fa(P, R, 0.9, Phi0, W[:, 0], 1.0, 0.5, *args)),
        "cumulants": (flows.simulate_random_cumulants(P, C, 0.9, Phi0, W, *args),
                      references.reference_random_cumulants(P, C, 0.9, Phi0, W, *args)),
        "multi-policy": (flows.simulate_multi_policy(Ps, Rs, 0.9, Phi0, W, a, *args),
                         references.reference_multi_policy(Ps, Rs, 0.9, Phi0, W, a, *args)),
        "multi-discount": (flows.simulate_multi_discount(P, R, gs, Phi0, W, a, *args),
                           references.reference_multi_discount(P, R, gs, Phi0, W, a, *args)),
    }


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("method", ["rk4", "euler"])
def test_kernels_match_numpy_reference(sparse, method):
    rng = np.random.default_rng(2)
    n, K, M = 7, 3, 11
    P = random_dirichlet(n, rng)
    P = sp.csr_matrix(P) if sparse else P
    cases = _cases(rng, n, K, M, P)
    if method == "euler":  # the same cases, integrated by Euler
        R = rng.standard_normal(n)
        Phi0 = rng.standard_normal((n, K))
        W, a = flows.draw_heads(K, M, "i", rng)
        args = (0.02, 60, 20, "euler")
        cases = {"ensemble-learned-euler": (
            flows.simulate_ensemble(P, R, 0.9, Phi0, W, a, 0.3, *args),
            references.reference_ensemble(P, R, 0.9, Phi0, W, a, 0.3, *args)),
            "td-euler": (flows.simulate_values(P, R, 0.9, Phi0, *args),
                         references.reference_values(P, R, 0.9, Phi0, *args))}
    for name, (got, ref) in cases.items():
        np.testing.assert_array_equal(got[0], ref[0], err_msg=name)
        for g, r in zip(got[1:], ref[1:]):
            scale = max(1.0, np.abs(r).max())
            assert np.abs(g - r).max() <= 60 * REF_RTOL_PER_STEP * scale, name


@given(P=rs.transition_matrices(n=st.integers(1, 6)), gamma=rs.discounts(0.0, 0.99),
       seed=st.integers(0, 2**32 - 1), M=st.integers(1, 9))
@settings(max_examples=20)
def test_ensemble_kernel_matches_reference_on_any_mdp(P, gamma, seed, M):
    rng = np.random.default_rng(seed)
    n = P.shape[0]
    K = int(rng.integers(1, 4))
    R, Phi0 = rng.standard_normal(n), rng.standard_normal((n, K))
    W, a = flows.draw_heads(K, M, "i", rng)
    for beta in (0.0, 0.5):
        got = flows.simulate_ensemble(P, R, gamma, Phi0, W, a, beta, 0.05, 20, 5)
        ref = references.reference_ensemble(P, R, gamma, Phi0, W, a, beta, 0.05, 20, 5)
        for g, r in zip(got[1:], ref[1:]):
            assert np.abs(g - r).max() <= 20 * REF_RTOL_PER_STEP * max(1.0, np.abs(r).max())


# ----------------------------------------------------------------------------- vs closed forms


@pytest.mark.parametrize("kind", ["reversible", "dirichlet", "ring"])
@pytest.mark.parametrize("M", [2, 40])          # M = 2 < K = 3: singular G
def test_rk4_matches_exact_finite_M(kind, M):
    rng = np.random.default_rng(3)
    n, K, gamma = 6, 3, 0.9
    P = _mdp(kind, n, rng)
    R = rng.standard_normal(n)
    Phi0 = rng.standard_normal((n, K))
    dt, steps, every = 0.05, 100, 25
    for scaling in ("i", "ii"):
        W, a = flows.draw_heads(K, M, scaling, rng)
        t, Ph, _ = flows.simulate_ensemble(P, R, gamma, Phi0, W, a, 0.0, dt, steps, every)
        ex = cf.ensemble_features(P, R, gamma, Phi0, W, a, t)
        G = a * W @ W.T
        L = _vec_generator([P], [gamma], [G])
        # the tolerance's scale comes from the inputs and scipy's expm of the vec form, never
        # from the code under test (a wrong closed form or kernel cannot widen it)
        ref = _vec_exact(L, np.outer(R, a * W.sum(1)).reshape(-1, order="F"), Phi0, t)
        scale = np.abs(ref).max() + np.abs(R).max() * np.abs(a * W.sum(1)).max() * steps * dt
        assert np.abs(ex - ref).max() <= 1e-10 * scale          # closed form = expm (rounding)
        assert np.abs(Ph - ref).max() <= _rk4_tol(L, dt, t[-1], scale)
    C = flows.draw_cumulants(n, M, None, rng)
    W, _ = flows.draw_heads(K, M, "ii", rng)
    t, Ph = flows.simulate_random_cumulants(P, C, gamma, Phi0, W, dt, steps, every)
    ex = cf.random_cumulant_features(P, C, gamma, Phi0, W, t)
    L = _vec_generator([P], [gamma], [W @ W.T])
    ref = _vec_exact(L, (C @ W.T).reshape(-1, order="F"), Phi0, t)
    scale = np.abs(ref).max() + np.abs(C @ W.T).max() * steps * dt
    assert np.abs(ex - ref).max() <= 1e-10 * scale
    assert np.abs(Ph - ref).max() <= _rk4_tol(L, dt, t[-1], scale)


@pytest.mark.parametrize("flow", ["td", "mc"])
def test_rk4_values_match_closed_forms(flow):
    rng = np.random.default_rng(4)
    n, gamma = 8, 0.95
    P = random_dirichlet(n, rng)
    R = rng.standard_normal(n)
    V0 = rng.standard_normal((n, 2))
    dt = 0.1
    t, V = flows.simulate_values(P, R, gamma, V0, dt, 200, 50, flow=flow)
    ex = (cf.td_values if flow == "td" else cf.mc_values)(P, R, gamma, V0, t)
    L = np.eye(n) - gamma * P if flow == "td" else np.eye(n)
    Vs = np.linalg.solve(np.eye(n) - gamma * P, R)[:, None]
    ref = np.stack([sla.expm(-tk * L) @ (V0 - Vs) + Vs for tk in t])   # independent of the code
    scale = np.abs(V0).max() + 2 * np.abs(Vs).max()       # ||V_t|| <= ||V0|| + 2 ||V*|| (a priori)
    assert np.abs(ex - ref).max() <= 1e-12 * scale
    assert np.abs(V - ref).max() <= _rk4_tol(L, dt, t[-1], scale)


def test_sparse_four_rooms_matches_dense_and_exact():
    P = four_rooms(3)
    n = P.shape[0]
    rng = np.random.default_rng(5)
    R, Phi0 = rng.standard_normal(n), rng.standard_normal((n, 2))
    W, a = flows.draw_heads(2, 64, "i", rng)
    t, Ps_, _ = flows.simulate_ensemble(P, R, 0.9, Phi0, W, a, 0.0, 0.05, 40, 20)
    _, Pd_, _ = flows.simulate_ensemble(P.toarray(), R, 0.9, Phi0, W, a, 0.0, 0.05, 40, 20)
    np.testing.assert_allclose(Ps_, Pd_, rtol=0, atol=40 * REF_RTOL_PER_STEP * np.abs(Pd_).max())
    ex = cf.ensemble_features(P, R, 0.9, Phi0, W, a, t)
    L = _vec_generator([P], [0.9], [a * W @ W.T])
    assert np.abs(Ps_ - ex).max() <= _rk4_tol(L, 0.05, t[-1], np.abs(ex).max() + np.abs(R).max())


@pytest.mark.parametrize("method,order", [("rk4", 4), ("euler", 1)])
def test_convergence_order(method, order):
    """Halving dt divides the global error by 2^order (the error is far above rounding here)."""
    rng = np.random.default_rng(6)
    n, K = 5, 2
    P = random_dirichlet(n, rng)
    R, Phi0 = rng.standard_normal(n), rng.standard_normal((n, K))
    W, a = flows.draw_heads(K, 30, "i", rng)
    ex = cf.ensemble_features(P, R, 0.9, Phi0, W, a, [2.0])[0]
    errs = []
    for dt, steps in ((0.2, 10), (0.1, 20), (0.05, 40)):
        _, Ph, _ = flows.simulate_ensemble(P, R, 0.9, Phi0, W, a, 0.0, dt, steps, steps,
                                           method=method)
        errs.append(np.abs(Ph[-1] - ex).max())
    for e1, e2 in zip(errs, errs[1:]):
        assert abs(e1 / e2 / 2 ** order - 1) <= ORDER_BAND, errs


# ----------------------------------------------------------------------------- C8, vec form


@pytest.mark.parametrize("sparse", [False, True])
def test_multi_policy_matches_vec_form(sparse):
    """G_j do not commute: the exact finite-M solution is the vec (Kronecker) exponential."""
    rng = np.random.default_rng(7)
    n, K, M, J, gamma = 5, 3, 12, 3, 0.9
    Ps = [random_dirichlet(n, rng) for _ in range(J)]
    Rs = rng.standard_normal((J, n))
    Phi0 = rng.standard_normal((n, K))
    W, a = flows.draw_heads(K, M, "ii", rng)
    gr = flows.head_groups(M, J)
    Gs = [a * W[:, g] @ W[:, g].T for g in gr]
    assert np.abs(Gs[0] @ Gs[1] - Gs[1] @ Gs[0]).max() > 1e-3          # really non-commuting
    F = sum(np.outer(Rs[j], a * W[:, g].sum(1)) for j, g in enumerate(gr))
    L = _vec_generator(Ps, [gamma] * J, Gs)
    dt, steps = 0.05, 80
    PP = [sp.csr_matrix(P) for P in Ps] if sparse else Ps
    t, Ph = flows.simulate_multi_policy(PP, Rs, gamma, Phi0, W, a, dt, steps, 20)
    ex = _vec_exact(L, F.reshape(-1, order="F"), Phi0, t)
    scale = np.abs(ex).max() + np.abs(F).max() * steps * dt
    assert np.abs(Ph - ex).max() <= _rk4_tol(L, dt, t[-1], scale)


def test_multi_discount_matches_vec_form():
    rng = np.random.default_rng(8)
    n, K, M = 6, 2, 9
    P = random_dirichlet(n, rng)
    R = rng.standard_normal(n)
    gs = np.array([0.3, 0.9, 0.99])
    Phi0 = rng.standard_normal((n, K))
    W, a = flows.draw_heads(K, M, "ii", rng)
    gr = flows.head_groups(M, 3, groups=np.arange(M) % 3)
    Gs = [a * W[:, g] @ W[:, g].T for g in gr]
    L = _vec_generator([P] * 3, gs, Gs)
    F = np.outer(R, a * W.sum(1))
    dt, steps = 0.05, 80
    t, Ph = flows.simulate_multi_discount(P, R, gs, Phi0, W, a, dt, steps, 20,
                                          groups=np.arange(M) % 3)
    ex = _vec_exact(L, F.reshape(-1, order="F"), Phi0, t)
    scale = np.abs(ex).max() + np.abs(F).max() * steps * dt
    assert np.abs(Ph - ex).max() <= _rk4_tol(L, dt, t[-1], scale)


def test_single_group_multi_flows_reduce_to_the_ensemble():
    rng = np.random.default_rng(9)
    P = random_dirichlet(5, rng)
    R, Phi0 = rng.standard_normal(5), rng.standard_normal((5, 2))
    W, a = flows.draw_heads(2, 6, "ii", rng)
    _, E, _ = flows.simulate_ensemble(P, R, 0.8, Phi0, W, a, 0.0, 0.1, 10, 5)
    _, A1 = flows.simulate_multi_policy([P], R[None], 0.8, Phi0, W, a, 0.1, 10, 5)
    _, A2 = flows.simulate_multi_discount(P, R, [0.8], Phi0, W, a, 0.1, 10, 5)
    np.testing.assert_allclose(A1, E, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(A2, E, rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------- draws


def test_draws_are_seeded_and_scaled():
    W1, a1 = flows.draw_heads(3, 50, "i", np.random.default_rng(10))
    W2, a2 = flows.draw_heads(3, 50, "i", np.random.default_rng(10))
    assert np.array_equal(W1, W2) and a1 == a2 == 1 / 50
    Wii, aii = flows.draw_heads(3, 50, "ii", np.random.default_rng(10))
    np.testing.assert_allclose(Wii, W1 / np.sqrt(50), rtol=1e-15)
    assert aii == 1.0
    # alpha W W^T is the same matrix under both scalings (G -> I as M grows)
    np.testing.assert_allclose(a1 * W1 @ W1.T, aii * Wii @ Wii.T, rtol=1e-12)
    S = np.array([[2.0, 1.0], [1.0, 1.0]])
    C = flows.draw_cumulants(2, 200_000, S, np.random.default_rng(11))
    # sample covariance of 2e5 Gaussian draws: entry sd <= sqrt(2 * 4 / 2e5) ~ 6e-3; 5 sd
    np.testing.assert_allclose(C @ C.T / C.shape[1], S, atol=0.03)
    Csing = flows.draw_cumulants(3, 10, np.diag([1.0, 0.0, 2.0]), np.random.default_rng(1))
    assert np.all(Csing[1] == 0.0)


# ----------------------------------------------------------------------------- validation


def _ok():
    rng = np.random.default_rng(12)
    P = random_reversible(4, rng)
    W, a = flows.draw_heads(2, 5, "ii", rng)
    return dict(P=P, R=np.ones(4), gamma=0.9, Phi0=np.ones((4, 2)), W=W, alpha=a, beta=0.0,
                dt=0.1, n_steps=3, record_every=1)


@pytest.mark.parametrize("field,value,word", [
    ("P", np.ones((4, 4)), "P"), ("P", np.ones((4, 3)) / 3, "P"), ("R", np.ones(3), "R"),
    ("gamma", 1.0, "gamma"), ("Phi0", np.ones((3, 2)), "Phi0"), ("W", np.ones((3, 5)), "W"),
    ("W", np.ones((2, 0)), "W"), ("alpha", -1.0, "alpha"), ("beta", np.nan, "beta"),
    ("dt", 0.0, "dt"), ("dt", -0.1, "dt"), ("n_steps", -1, "n_steps"), ("n_steps", 2.5, "n_steps"),
    ("record_every", 0, "record_every"), ("Phi0", np.full((4, 2), np.inf), "Phi0"),
])
def test_bad_input_names_the_argument(field, value, word):
    kw = _ok()
    kw[field] = value
    with pytest.raises(ValueError, match=word):
        flows.simulate_ensemble(**kw)


def test_bad_method_and_other_wrappers():
    kw = _ok()
    with pytest.raises(ValueError, match="method"):
        flows.simulate_ensemble(**kw, method="rk45")
    with pytest.raises(ValueError, match="C"):
        flows.simulate_random_cumulants(kw["P"], np.ones((4, 4)), 0.9, kw["Phi0"], kw["W"], 0.1, 2, 1)
    with pytest.raises(ValueError, match="gammas"):
        flows.simulate_multi_discount(kw["P"], kw["R"], [0.5, 1.2], kw["Phi0"], kw["W"], 1.0, 0.1, 2, 1)
    with pytest.raises(ValueError, match="Rs"):
        flows.simulate_multi_policy([kw["P"]] * 2, np.ones((3, 4)), 0.9, kw["Phi0"], kw["W"], 1.0, 0.1, 2, 1)
    with pytest.raises(ValueError, match="groups"):
        flows.simulate_multi_policy([kw["P"]] * 2, np.ones((2, 4)), 0.9, kw["Phi0"], kw["W"], 1.0,
                                    0.1, 2, 1, groups=[0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="w0"):
        flows.simulate_linear_fa(kw["P"], kw["R"], 0.9, kw["Phi0"], np.ones(3), 1.0, 1.0, 0.1, 2, 1)
    with pytest.raises(ValueError, match="flow"):
        flows.simulate_values(kw["P"], kw["R"], 0.9, kw["R"], 0.1, 2, 1, flow="sarsa")
    with pytest.raises(ValueError, match="scaling"):
        flows.draw_heads(2, 3, "iii", np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng"):
        flows.draw_heads(2, 3, "i", 0)
    with pytest.raises(ValueError, match="Sigma"):
        flows.draw_cumulants(2, 3, -np.eye(2), np.random.default_rng(0))


def test_sparse_policies_with_different_sparsity_patterns():
    """Stacked CSR (per-policy row pointers into shared arrays) = dense, when nnz differ."""
    P = four_rooms(2)
    n = P.shape[0]
    lazy = (sp.identity(n, format="csr") + P) * 0.5
    assert lazy.nnz != P.nnz
    rng = np.random.default_rng(13)
    Rs = rng.standard_normal((2, n))
    Phi0 = rng.standard_normal((n, 2))
    W, a = flows.draw_heads(2, 6, "ii", rng)
    _, S = flows.simulate_multi_policy([P, lazy], Rs, 0.9, Phi0, W, a, 0.05, 40, 20)
    _, D = flows.simulate_multi_policy([P.toarray(), lazy.toarray()], Rs, 0.9, Phi0, W, a, 0.05, 40, 20)
    np.testing.assert_allclose(S, D, rtol=0, atol=40 * REF_RTOL_PER_STEP * np.abs(D).max())
