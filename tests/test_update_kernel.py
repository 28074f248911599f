"""C14 theory (analysis.update_kernel) and its exact certificates (proofs.update_space).

Every certificate holds on the defaults and fails on a deliberately wrong claim: swapped step
sizes or a missing term in the kernel, a rate off by 1 %, the MC rate 1 - lambda for the
TD rate 1 - gamma lambda.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from repdyn.analysis import closed_form as cf
from repdyn.analysis import update_kernel as U
from repdyn.analysis.mdp import default_mdps, random_reversible, random_walk_chain
from repdyn.kernels import flows
from repdyn.proofs import update_space as S
from repdyn.proofs.registry import CLAIMS, Context, _CHECKS, checks_for, run_check

#: Products of O(1) numbers in float64: a few ulps times the sizes involved.
ROUND_RTOL = 1e-13


def _state(rng, n=6, K=3):
    return rng.standard_normal((n, K)), rng.standard_normal(K)


# ------------------------------------------------------------------------- the kernel


@given(st.integers(0, 10_000), st.floats(0, 3), st.floats(0, 3))
def test_kernel_is_the_product_rule(seed, alpha, beta):
    """K delta == (dPhi/dt) w + Phi dw/dt with the flow's own right-hand side written out."""
    rng = np.random.default_rng(seed)
    P = random_reversible(6, rng)
    R = rng.standard_normal(6)
    Phi, w = _state(rng)
    delta = R + 0.9 * P @ (Phi @ w) - Phi @ w
    dPhi = alpha * np.outer(delta, w)
    dw = beta * Phi.T @ delta
    want = dPhi @ w + Phi @ dw
    K = U.update_kernel(Phi, w, alpha, beta)
    scale = np.abs(want).max() + (alpha * w @ w + beta * np.abs(Phi).sum() ** 2) * np.abs(delta).max()
    assert np.abs(K @ delta - want).max() <= ROUND_RTOL * 10 * scale
    assert np.abs(U.value_velocity(P, R, 0.9, Phi, w, alpha, beta) - want).max() <= ROUND_RTOL * 10 * scale
    # symmetric, PSD, smallest eigenvalue alpha ||w||^2 when K < n
    assert np.array_equal(K, K.T)
    assert np.linalg.eigvalsh(K)[0] >= alpha * (w @ w) - ROUND_RTOL * 10 * np.abs(K).max()


def test_kernel_input_errors():
    Phi, w = _state(np.random.default_rng(0))
    with pytest.raises(ValueError, match="w must"):
        U.update_kernel(Phi, w[:2], 1.0, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        U.update_kernel(Phi, w, -1.0, 1.0)
    with pytest.raises(ValueError, match="beta"):
        U.update_kernel(Phi, w, 1.0, np.nan)
    with pytest.raises(ValueError, match="Phi"):
        U.update_kernel(Phi[:, :, None], w, 1.0, 1.0)


# ------------------------------------------------------------------ along the closed forms


def test_collapse_asymptote_matches_closed_form_and_is_rank_one():
    rng = np.random.default_rng(3)
    P = random_walk_chain(7, 0.6)
    W, a = flows.draw_heads(2, 16, "i", rng)
    Phi0 = rng.standard_normal((7, 2))
    asym = U.collapse_kernel_asymptote(P, 0.8, Phi0, W, a)
    d = np.linalg.eigvalsh(a * W @ W.T)
    assert asym.rate == pytest.approx(2 * d[0] * 0.2, rel=1e-14)
    # L = c 1 1^T with c = sum (pi^T psi_j)^2, pi the stationary law (independent of null_space)
    ev, vl = np.linalg.eig(P.T)
    pi = np.real(vl[:, np.argmin(np.abs(ev - 1))])
    pi /= pi.sum()
    psi = Phi0 @ np.linalg.eigh(a * W @ W.T)[1][:, 0]
    assert np.allclose(asym.limit, (pi @ psi) ** 2 * np.ones((7, 7)), rtol=1e-10, atol=0)
    t = np.array([np.log(1e10) / asym.gap])
    Kt = U.feature_kernel(cf.ensemble_features(P, np.zeros(7), 0.8, Phi0, W, a, t))[0]
    # relative error O(e^{-gap t}) = 1e-10 times an O(1) constant
    assert np.linalg.norm(np.exp(asym.rate * t[0]) * Kt - asym.limit) <= 1e-8 * np.linalg.norm(asym.limit)


def test_collapse_at_gamma_zero_keeps_the_whole_slowest_column():
    rng = np.random.default_rng(7)
    P = random_walk_chain(5, 0.6)
    W = np.diag([1.0, 2.0])                          # G = diag(1, 4): d_min = 1, no tie
    Phi0 = rng.standard_normal((5, 2))
    asym = U.collapse_kernel_asymptote(P, 0.0, Phi0, W, 1.0)
    # A = I: Phi_t = Phi0 diag(e^{-t}, e^{-4t}) exactly, so e^{2t} K_t -> psi_1 psi_1^T
    assert asym.rate == 2.0 and asym.gap == pytest.approx(6.0)
    assert np.allclose(asym.limit, np.outer(Phi0[:, 0], Phi0[:, 0]), rtol=1e-13, atol=0)


def test_collapse_needs_positive_definite_G():
    rng = np.random.default_rng(4)
    W, a = flows.draw_heads(3, 2, "i", rng)         # M < K: G singular, no collapse
    with pytest.raises(ValueError, match="W: G"):
        U.collapse_kernel_asymptote(random_walk_chain(5), 0.9, rng.standard_normal((5, 3)), W, a)


def test_cumulant_limit_is_phi_inf_outer():
    rng = np.random.default_rng(5)
    P = random_reversible(6, rng)
    W, _ = flows.draw_heads(2, 8, "ii", rng)
    C = rng.standard_normal((6, 8))
    A = np.eye(6) - 0.9 * P
    Phi_inf = np.linalg.solve(A, C @ W.T) @ np.linalg.solve(W @ W.T, np.eye(2))
    assert np.allclose(U.cumulant_kernel_limit(P, C, 0.9, W), Phi_inf @ Phi_inf.T, rtol=1e-10, atol=0)


# ----------------------------------------------------------------------- spectral form


def test_modal_coordinates_decay_exactly_and_smooth_last():
    P = random_walk_chain(8, 0.5)                   # eigenvalues cos(pi j / 8)
    rng = np.random.default_rng(6)
    t = np.array([0.0, 1.0, 2.5])
    lam, c = U.td_error_modes(P, rng.standard_normal(8), 0.9, rng.standard_normal(8), t)
    lam_r, rates = U.modal_rates(P, 0.9)
    assert np.allclose(np.sort(lam.real)[::-1], np.cos(np.pi * np.arange(8) / 8), atol=1e-12)
    want = c[0][None, :] * np.exp(-t[:, None] * (1 - 0.9 * lam[None, :]))
    assert np.allclose(c, want, rtol=1e-9, atol=1e-12 * np.abs(c[0]).max())
    assert np.all(np.diff(rates) >= 0)              # lambda_1 = 1 (the constant) slowest


def test_defective_P_has_no_modal_coordinates():
    # eigenvalue 0 twice with one eigenvector (a Jordan block), and 1
    P = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="P: not .*diagonalisable"):
        U.td_error_modes(P, np.ones(3), 0.5, np.zeros(3), [0.0, 1.0])
    # what holds instead: delta_t = e^{-t} exp(t gamma P) delta_0 with a polynomial factor t
    # on the block (the s P term below), computed here in closed form
    d0 = np.array([0.0, 1.0, -1.0])
    t = np.array([0.0, 0.7, 3.0])
    R = np.zeros(3)
    A = np.eye(3) - 0.5 * P
    V0 = -np.linalg.solve(A, d0)                    # delta_0 = R - A V0 = d0
    V = cf.td_values(P, R, 0.5, V0, t)
    D = R - V @ A.T
    # exp(t gamma P) on this P in closed form: P^2 = P^3 = (rows e_3, e_3, e_3), so
    # exp(s P) = I + s P + (e^s - 1 - s) P^2
    for ti, Di in zip(t, D):
        s = 0.5 * ti
        P2 = P @ P
        E = np.eye(3) + s * P + (np.exp(s) - 1 - s) * P2
        assert np.allclose(Di, np.exp(-ti) * E @ d0, rtol=1e-12, atol=1e-14)


def test_non_normal_P_error_grows_in_two_norm_not_max_norm():
    n = 10
    P = np.zeros((n, n))
    P[:, 0] = 1.0                                   # every state jumps to state 0: P = 1 e_1^T
    x = np.ones(n)
    x[0] = 2.0                                      # x^T P x = 2 (n + 1) > ||x||^2 / gamma
    gamma = 0.9
    A = np.eye(n) - gamma * P
    V0 = -np.linalg.solve(A, x)                     # TD error at t = 0 is x (R = 0)
    t = np.array([0.0, 0.05, 0.1])
    D = -cf.td_values(P, np.zeros(n), gamma, V0, t) @ A.T
    assert np.linalg.norm(D[1]) > np.linalg.norm(D[0])          # transient growth
    assert np.abs(D[1]).max() <= np.abs(D[0]).max()             # ||exp(-tA)||_inf <= 1
    lam, c = U.td_error_modes(P, np.zeros(n), gamma, V0, t)     # still exact modal decay
    assert np.allclose(c[2], c[0] * np.exp(-0.1 * (1 - gamma * lam)), rtol=1e-10, atol=1e-13)


def test_docstring_examples_run():
    import doctest
    from repdyn.kernels import probes
    for mod in (U, probes):
        res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


# ------------------------------------------------------------------------ certificates


def test_c14_registered():
    assert "C14" in CLAIMS
    names = [c.name for c in checks_for(["C14"])]
    assert len(names) >= 3


@pytest.fixture(scope="module")
def quick_results():
    ctx = Context(quick=True)
    return {c.name: run_check(c, ctx) for c in checks_for(["C14"], quick=True)
            if c.func.__module__ == "repdyn.proofs.update_space" and c.method != "statistical"}


def test_exact_checks_hold_on_defaults(quick_results):
    bad = {k: (r.verdict, r.reason) for k, r in quick_results.items() if r.verdict != "holds"}
    assert not bad


def test_fd_check_fails_on_wrong_kernels():
    m = default_mdps(quick=True)[1]
    rng = np.random.default_rng
    ok, _ = S.kernel_fd_on(m.P, m.R, m.gamma, rng(0))
    assert ok <= S.FD_RTOL
    swapped, _ = S.kernel_fd_on(m.P, m.R, m.gamma, rng(0),
                                kernel_fn=lambda Phi, w, a, b: U.update_kernel(Phi, w, b, a))
    no_features, _ = S.kernel_fd_on(m.P, m.R, m.gamma, rng(0),
                                    kernel_fn=lambda Phi, w, a, b: U.update_kernel(Phi, w, 0.0, b))
    assert swapped > 1e3 * S.FD_RTOL and no_features > 1e3 * S.FD_RTOL


def test_collapse_check_fails_on_wrong_rate():
    m = default_mdps(quick=True)[1]
    ok, _, _ = S.collapse_on(m.P, m.gamma, np.random.default_rng(1))
    assert ok
    bad, rel, _ = S.collapse_on(m.P, m.gamma, np.random.default_rng(1), rate_factor=1.01)
    assert not bad and rel > 1e-3


def test_modal_check_fails_on_mc_rates():
    m = default_mdps(quick=True)[2]
    ok, _, _ = S.modal_decay_on(m.P, m.R, m.gamma, np.random.default_rng(2))
    assert ok

    def mc_rates(P, gamma):
        lam, _ = U.modal_rates(P, gamma)
        return lam, 1.0 - lam.real + 1e-3          # gamma dropped (plus a floor for lambda = 1)
    bad, rel, _ = S.modal_decay_on(m.P, m.R, m.gamma, np.random.default_rng(2), rates_fn=mc_rates)
    assert not bad and rel > 1e-3
