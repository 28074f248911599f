"""The theorems as properties of the simulated flows (docs: theory/c4-C8; Thm 4.1, Cor 4.2, Thm 4.3).

Statistical tests use fixed seeds, so CI is deterministic; each states its false-alarm rate
(the probability that a correct implementation fails it over random seeds). Rates are measured
on the high-precision modal reference (analysis.span_tracking), which is itself checked against
a brute-force mpmath computation and against the float64 kernels inside their window.
"""
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from repdyn.analysis import closed_form as cf
from repdyn.analysis import strategies as rs
from repdyn.analysis.mdp import random_dirichlet, random_reversible, random_walk_chain
from repdyn.analysis.spectral import ebfs, eigenvalues, rsbfs
from repdyn.kernels import flows
from repdyn.analysis.span_tracking import (ModalSpan, float64_window, left_span, span_distances)
import repdyn.proofs.simulation as psim

#: Thm 4.1 (i): fitted slope of log gap against log M must lie in this band around -1/2.
SLOPE_BAND = (-0.65, -0.35)
#: Per-test false-alarm rate of the distributional tests.
FALSE_ALARM = 1e-3
#: Two-sided normal critical value for FALSE_ALARM.
Z_CRIT = stats.norm.ppf(1 - FALSE_ALARM / 2)
#: Rates from the modal reference are exact up to asymptotic corrections that have decayed
#: by e^-10 at the fitting horizon (ModalSpan.horizon): 1% is ample.
RATE_RTOL = 0.01
#: Inside float64_window(tol) a kernel trajectory's distance must match the reference to tol.
WINDOW_TOL = 1e-3


def _nested_gaps(P, R, gamma, Phi0, Ms, n_seeds, scaling, seed, T=3.0, dt=0.05):
    """RMS over seeds of max_t ||Phi^M_t - limit_t||_F for a growing ensemble (heads 1..M)."""
    rng = np.random.default_rng(seed)
    K = Phi0.shape[1]
    steps = int(round(T / dt))
    t = dt * (steps // 6) * np.arange(7)
    lim_i = cf.ensemble_limit(P, R, gamma, Phi0, t)
    gaps = np.empty((n_seeds, len(Ms)))
    for s in range(n_seeds):
        Z = rng.standard_normal((K, max(Ms)))
        for k, M in enumerate(Ms):
            W, a = (Z[:, :M], 1.0 / M) if scaling == "i" else (Z[:, :M] / np.sqrt(M), 1.0)
            _, Ph, _ = flows.simulate_ensemble(P, R, gamma, Phi0, W, a, 0.0, dt, steps, steps // 6)
            lim = lim_i if scaling == "i" else cf.ensemble_limit(P, R, gamma, Phi0, t,
                                                                  eps=W.sum(axis=1))
            gaps[s, k] = np.linalg.norm(Ph - lim, axis=(1, 2)).max()
    return np.sqrt(np.mean(gaps ** 2, axis=0))


# ----------------------------------------------------------------------------- Thm 4.1


@pytest.mark.parametrize("kind", ["reversible", "dirichlet", "chain"])
@pytest.mark.parametrize("scaling", ["i", "ii"])
def test_thm41_gap_shrinks_like_inverse_sqrt_M(kind, scaling):
    """(i): gap to exp(-tA)Phi0; (ii): gap to the limit (14) coupled by eps = sum_m w^m.

    Heads are nested (ensemble of M = the first M heads of one draw) and 32 seeds are pooled
    (RMS), so the fitted slope has sd ~ 0.03: a 5-sd band. A wrong limit (uncoupled eps, or
    the R term dropped) gives slope ~ 0 and fails (test_certificates_can_fail).
    """
    rng = np.random.default_rng(40)
    n = 8
    P = {"reversible": random_reversible(n, rng), "dirichlet": random_dirichlet(n, rng),
         "chain": random_walk_chain(n)}[kind]
    R = rng.standard_normal(n)
    Phi0 = rng.standard_normal((n, 2))
    Ms = [16, 64, 256, 1024, 4096]
    gaps = _nested_gaps(P, R, 0.9, Phi0, Ms, 32, scaling, seed=41)
    slope = np.polyfit(np.log(Ms), np.log(gaps), 1)[0]
    assert SLOPE_BAND[0] <= slope <= SLOPE_BAND[1], (slope, gaps)


def _phi_inf_ensemble(P, R, gamma, W, a, Phi0):
    """Run the kernel until the slowest mode, e^{-t d_min (1 - gamma)}, is below e^-40.

    RK4's fixed point of an affine ODE is the exact one, so the end state is Phi_inf up to
    e^-40 and rounding. dt * d_max * ||A|| <= 0.5 * 1.5 keeps RK4 well inside stability."""
    d = np.linalg.eigvalsh(a * W @ W.T)
    dt = min(0.1, 0.5 / d.max())
    steps = int(np.ceil(40.0 / (d.min() * (1 - gamma)) / dt))
    _, Ph, _ = flows.simulate_ensemble(P, R, gamma, Phi0, W, a, 0.0, dt, steps, steps)
    return Ph[-1]


def _law_stats(Z, cov):
    """Mean (chi2 with p dof) and Bartlett-corrected covariance LR (chi2, p(p+1)/2 dof)
    statistics of the rows of Z against N(0, cov)."""
    N, p = Z.shape
    Y = np.linalg.solve(np.linalg.cholesky(cov), Z.T).T
    mean_stat = N * np.sum(Y.mean(axis=0) ** 2)
    S = Y.T @ Y / N
    rho = 1.0 - (2 * p * p + 3 * p - 1) / (6.0 * N * (p + 1))
    lr = rho * N * (np.trace(S) - np.linalg.slogdet(S)[1] - p)
    return (mean_stat, stats.chi2.ppf(1 - FALSE_ALARM, p),
            lr, stats.chi2.ppf(1 - FALSE_ALARM, p * (p + 1) // 2))


def _trace_z(Z, c):
    """z-score of mean ||z||^2 / p against c (CLT; valid without Gaussianity)."""
    q = np.sum(Z ** 2, axis=1) / Z.shape[1]
    return (q.mean() - c) / (q.std(ddof=1) / np.sqrt(len(q)))


def test_thm41_ii_law_of_phi_inf():
    """Scaling (ii), R != 0: Phi_inf = V* z^T with z = G^{-1} s (G = W W^T, s = W 1).

    Limit law (M >= 100 K): z ~ N(0, I_K). Finite M: E z z^T = M / (M - K - 1) I exactly (rotation
    invariance plus E S^{-1} = I / (M - K - 1) for S ~ Wishart(M, I)); tested by the trace.
    Phi_inf comes from the RK4 kernel run to convergence (slowest mode e^{-t d_min (1 - gamma)}).
    Each test has false-alarm rate FALSE_ALARM; the wrong law (limit at small M) is rejected.
    """
    rng = np.random.default_rng(42)
    n, K, gamma = 5, 2, 0.5
    P = random_dirichlet(n, rng)
    R = rng.standard_normal(n)
    Vs = cf.true_values(P, R, gamma)
    Phi0 = rng.standard_normal((n, K))
    for M, N in ((100 * K, 300), (12, 1500)):
        Zs = np.empty((N, K))
        for k in range(N):
            W, a = flows.draw_heads(K, M, "ii", rng)
            Phi = _phi_inf_ensemble(P, R, gamma, W, a, Phi0)
            Zs[k] = Phi.T @ Vs / (Vs @ Vs)
            # Phi_inf is rank one along V* (up to the integration / convergence error)
            assert np.abs(Phi - np.outer(Vs, Zs[k])).max() <= 1e-9 * np.abs(Phi).max()
        if M >= 100 * K:
            ms, mc, lr, lc = _law_stats(Zs, np.eye(K))
            assert ms <= mc and lr <= lc, (ms, mc, lr, lc)
        else:
            c = M / (M - K - 1)
            assert abs(_trace_z(Zs, c)) <= Z_CRIT
            assert abs(_trace_z(Zs, 1.0)) > Z_CRIT          # the limit law is wrong at M = 12
            h = N * Zs.mean(0) @ np.linalg.solve(np.cov(Zs.T), Zs.mean(0))   # Hotelling, mean 0
            assert h <= stats.chi2.ppf(1 - FALSE_ALARM, K)


def test_thm43_law_of_phi_inf():
    """Random cumulants (alpha = 1, w ~ N(0, I/M), r ~ N(0, Sigma)): Phi_inf = A^{-1} C W^T G^{-1}.

    Its first column is N(0, Psi Sigma Psi^T (G^{-1})_11) given W, so its covariance is
    Psi Sigma Psi^T M / (M - K - 1) exactly; at M >= 100 K the limit N(0, Psi Sigma Psi^T) is
    tested with mean and Bartlett LR statistics (false alarm FALSE_ALARM each). The same test
    rejects the law without the resolvent (Sigma in place of Psi Sigma Psi^T).
    """
    rng = np.random.default_rng(43)
    n, K, gamma, M = 4, 2, 0.6, 200
    P = random_reversible(n, rng)
    B = rng.standard_normal((n, n))
    Sigma = B @ B.T / n + 0.5 * np.eye(n)
    A = np.eye(n) - gamma * P
    Psi = np.linalg.solve(A, np.eye(n))
    Phi0 = rng.standard_normal((n, K))
    N = 300
    cols = np.empty((N, n))
    for k in range(N):
        W, _ = flows.draw_heads(K, M, "ii", rng)
        C = flows.draw_cumulants(n, M, Sigma, rng)
        _, Ph = flows.simulate_random_cumulants(P, C, gamma, Phi0, W, 0.1, 600, 600)
        exact = np.linalg.solve(A, C @ np.linalg.solve(W @ W.T, W).T)
        assert np.abs(Ph[-1] - exact).max() <= 1e-6 * np.abs(exact).max()
        cols[k] = Ph[-1][:, 0]
    ms, mc, lr, lc = _law_stats(cols, Psi @ Sigma @ Psi.T)
    assert ms <= mc and lr <= lc, (ms, mc, lr, lc)
    _, _, lr_wrong, _ = _law_stats(cols, Sigma)
    assert lr_wrong > lc


# ----------------------------------------------------------------------------- C6


def test_modal_reference_matches_brute_force_mpmath():
    """ModalSpan against an independent 100-digit computation: eigendecomposition, flow, QR
    and principal angles all in mpmath (symmetric P)."""
    rng = np.random.default_rng(44)
    n, K, gamma = 6, 2, 0.9
    P = random_walk_chain(n)
    W, a = flows.draw_heads(K, 8, "i", rng)
    G = a * W @ W.T
    Phi0 = rng.standard_normal((n, K))
    ms = ModalSpan(P, gamma, Phi0, G)
    d, Qg = np.linalg.eigh(G)
    Psi0 = Phi0 @ Qg
    with mpmath.workdps(100):
        E, Q = mpmath.eigsy(mpmath.matrix(P.tolist()))
        order = sorted(range(n), key=lambda i: -E[i])
        Ut = mpmath.matrix(n, K)
        for k, i in enumerate(order[:K]):
            for r in range(n):
                Ut[r, k] = Q[r, i]
        for t in (20.0, 120.0):
            cols = mpmath.matrix(n, K)
            for j in range(K):
                c = Q.T * mpmath.matrix(Psi0[:, j].tolist())
                for i in range(n):
                    c[i] *= mpmath.exp(-t * mpmath.mpf(d[j]) * (1 - mpmath.mpf(gamma) * E[i]))
                x = Q * c
                for i in range(n):
                    cols[i, j] = x[i]
            Qp = mpmath.qr(cols)[0][:, :K]
            res = Qp - Ut * (Ut.T * Qp)
            s = mpmath.svd_r(res, compute_uv=False)
            ref = float(mpmath.sqrt(sum(mpmath.asin(x) ** 2 for x in s)))
            assert abs(np.exp(ms.log_distance([t])[0]) / ref - 1) <= 1e-9


@pytest.mark.parametrize("kind,K", [("chain", 2), ("chain", 3), ("reversible", 2)])
def test_c6_collapse_and_finite_M_rate(kind, K):
    """R = 0, M >= K: Phi_t -> 0 and d(span Phi_t, U_1:K) decays at d_min(G) gamma (l_K - l_K+1),
    not at the limit's gamma (l_K - l_K+1); the kernel matches the reference inside T64."""
    rng = np.random.default_rng(45 + K)
    n, gamma = 9, 0.9
    P = random_walk_chain(n) if kind == "chain" else random_reversible(n, rng)
    lam = eigenvalues(P).real
    W, a = flows.draw_heads(K, 4 * K, "i", rng)
    G = a * W @ W.T
    dmin = np.linalg.eigvalsh(G).min()
    Phi0 = rng.standard_normal((n, K))
    ms = ModalSpan(P, gamma, Phi0, G)
    rate, _ = ms.asymptotic_rate()
    pred = dmin * gamma * (lam[K - 1] - lam[K])
    assert abs(rate / pred - 1) <= RATE_RTOL
    assert abs(rate / (gamma * (lam[K - 1] - lam[K])) - 1) > 10 * RATE_RTOL   # d_min matters
    # collapse, by the kernel: ||Phi_T|| <= e^{-T d_min (1 - gamma)} ||Phi0|| (up to transients)
    T = 12.0 / (dmin * (1 - gamma))
    _, Ph, _ = flows.simulate_ensemble(P, np.zeros(n), gamma, Phi0, W, a, 0.0, 0.05,
                                       int(T / 0.05), int(T / 0.05))
    assert np.linalg.norm(Ph[-1]) <= 10 * np.exp(-12.0) * np.linalg.norm(Phi0)
    # the float64 kernel agrees with the reference inside its window ...
    T64 = float64_window(P, gamma, K, G, tol=WINDOW_TOL)
    t, Pw, _ = flows.simulate_ensemble(P, np.zeros(n), gamma, Phi0, W, a, 0.0, 0.05,
                                       int(0.9 * T64 / 0.05), max(1, int(0.9 * T64 / 0.05) // 8))
    dref = np.exp(ms.log_distance(t))
    assert np.max(np.abs(span_distances(Pw, ebfs(P, K)) / dref - 1)) <= WINDOW_TOL


@pytest.mark.parametrize("n,pf,pb", [(7, 0.6, 0.2), (9, 0.5, 0.3)])
def test_c6_rate_on_rings_uses_real_parts(n, pf, pb):
    """Complex spectrum (odd K = 3, no pair split): d oscillates, its envelope decays at
    d_min gamma Re(lambda_K - lambda_K+1) (lower-envelope fit over >= 4 turns of the slowest
    rotation, ModalSpan.asymptotic_rate)."""
    from repdyn.analysis.mdp import ring
    P = ring(n, pf, pb)
    lam = eigenvalues(P)
    K = 3
    rng = np.random.default_rng(n)
    W, a = flows.draw_heads(K, 4 * K, "i", rng)
    G = a * W @ W.T
    ms = ModalSpan(P, 0.9, rng.standard_normal((n, K)), G)
    pred = np.linalg.eigvalsh(G).min() * 0.9 * (lam[K - 1].real - lam[K].real)
    rate, _ = ms.asymptotic_rate()
    assert abs(rate / pred - 1) <= RATE_RTOL


def test_float64_window_is_not_vacuous():
    """Past twice the window a plain float64 trajectory has lost the distance (so the window,
    and the high-precision reference, are needed), on the 10-state chain of the notes."""
    rng = np.random.default_rng(46)
    n, K, gamma = 10, 2, 0.9
    P = random_walk_chain(n)
    W, a = flows.draw_heads(K, 16, "i", rng)
    G = a * W @ W.T
    Phi0 = rng.standard_normal((n, K))
    T64 = float64_window(P, gamma, K, G, tol=WINDOW_TOL)
    t = np.array([2.0 * T64, 2.5 * T64])
    ex = cf.ensemble_features(P, np.zeros(n), gamma, Phi0, W, a, t)
    dref = np.exp(ModalSpan(P, gamma, Phi0, G).log_distance(t))
    err = np.abs(span_distances(ex, ebfs(P, K)) / dref - 1)
    assert np.all(~(err <= WINDOW_TOL)), err       # nan (rank loss) also counts as lost


def test_left_span_agrees_with_modal_reference_for_G_proportional_to_I():
    """G = c I: QR subspace iteration and the modal reference give the same distance, far
    past the float64 window of a plain trajectory."""
    rng = np.random.default_rng(47)
    n, K, gamma, c = 8, 3, 0.95, 0.7
    P = random_reversible(n, rng)
    Phi0 = rng.standard_normal((n, K))
    lam = eigenvalues(P).real
    rate = c * gamma * (lam[K - 1] - lam[K])
    t = np.array([5.0, 15.0, 25.0]) / rate            # d from ~e^-5 down to ~e^-25
    Q = left_span(P, gamma, Phi0, t, c=c)
    dq = span_distances(Q, ebfs(P, K))
    dm = np.exp(ModalSpan(P, gamma, Phi0, c * np.eye(K)).log_distance(t))
    # QR tracking: angles accurate to ~1e-15 absolute, so relative 1e-4 while d >= 1e-11
    ok = dm >= 1e-11
    assert ok.sum() >= 2
    assert np.all(np.abs(dq[ok] / dm[ok] - 1) <= 1e-4)
    assert T64_lt(P, gamma, K, c, t[-1])


def T64_lt(P, gamma, K, c, t):
    """The last time probed lies beyond the float64 window of a plain trajectory."""
    return float64_window(P, gamma, K, c * np.eye(K)) < t


def test_fewer_heads_than_features_no_collapse():
    """M < K: G is singular; Phi_t Q_0 (its null directions) never moves, Phi_t does not -> 0."""
    rng = np.random.default_rng(48)
    n, K, gamma = 7, 3, 0.9
    P = random_reversible(n, rng)
    Phi0 = rng.standard_normal((n, K))
    for M in (1, 2):
        W, a = flows.draw_heads(K, M, "i", rng)
        e, Q = np.linalg.eigh(a * W @ W.T)
        null = Q[:, e <= 1e-12 * e.max()]
        assert null.shape[1] == K - M
        _, Ph, _ = flows.simulate_ensemble(P, np.zeros(n), gamma, Phi0, W, a, 0.0, 0.05, 6000, 2000)
        for X in Ph:
            np.testing.assert_allclose(X @ null, Phi0 @ null, rtol=0, atol=1e-12 * np.abs(Phi0).max())
        # the rest decays: ||Phi_T|| tends to ||Phi0 Q_0|| (> 0) from above, up to rounding
        assert np.linalg.norm(Ph[-1]) >= (1 - 1e-12) * np.linalg.norm(Phi0 @ null) > 0.1


@given(data=rs.gapped_matrices(n=st.integers(4, 7), min_rel_gap=0.2), seed=st.integers(0, 2**31))
@settings(max_examples=8)
def test_c6_rate_on_gapped_chains(data, seed):
    """Property: on metastable chains with a clear gap, the measured rate is the finite-M one."""
    P, K = data
    rng = np.random.default_rng(seed)
    n = P.shape[0]
    W, a = flows.draw_heads(K, 4 * K, "i", rng)
    G = a * W @ W.T
    ms = ModalSpan(P, 0.9, rng.standard_normal((n, K)), G)
    lam = eigenvalues(P).real
    pred = np.linalg.eigvalsh(G).min() * 0.9 * (lam[K - 1] - lam[K])
    rate, _ = ms.asymptotic_rate()
    assert abs(rate / pred - 1) <= RATE_RTOL


# ----------------------------------------------------------------------------- C7


def test_c7_pooled_columns_approach_rsbfs():
    """Top-k principal directions of Phi_inf's pooled columns approach the RSBFs (the
    eigenvectors of Psi Sigma Psi^T) as the pool grows: within 4 predicted RMS (Anderson's
    asymptotic eigenvector variance) at every pool size, and 10x closer at 100x the pool."""
    rng = np.random.default_rng(49)
    n, gamma, k = 8, 0.9, 2
    P = random_walk_chain(n, 0.7)        # not symmetric: RSBFs != EBFs
    pools = [100, 1000, 10000]
    d = psim._rsbf_pool(P, gamma, k, rng, pools)
    rms = psim._rsbf_rms(P, gamma, k, np.array(pools, float))
    assert np.all(d <= 4 * rms), (d, rms)
    assert d[-1] <= d[0] / 3
    # the destination is not the EBFs here: the pooled directions stay away from them
    U = ebfs(P, k)
    assert np.linalg.norm(np.linalg.svd(U - rsbfs(P, gamma, k) @ (rsbfs(P, gamma, k).T @ U),
                                        compute_uv=False)) > 10 * d[-1]


def test_c7_path_aligns_with_ebfs():
    """span(Phi_t - Phi_inf) -> U_1:K at d_min gamma (l_K - l_K+1): the path is set by the EBFs."""
    rng = np.random.default_rng(50)
    n, K, gamma, M = 8, 2, 0.9, 16
    P = random_walk_chain(n, 0.7)
    W, _ = flows.draw_heads(K, M, "ii", rng)
    C = flows.draw_cumulants(n, M, None, rng)
    G = W @ W.T
    Phi0 = rng.standard_normal((n, K))
    Phi_inf = np.linalg.solve(np.eye(n) - gamma * P, C @ np.linalg.solve(G, W).T)
    ms = ModalSpan(P, gamma, Phi0 - Phi_inf, G)
    lam = eigenvalues(P).real
    rate, _ = ms.asymptotic_rate()
    assert abs(rate / (np.linalg.eigvalsh(G).min() * gamma * (lam[K - 1] - lam[K])) - 1) <= RATE_RTOL
    # the kernel's Phi_t - Phi_inf follows the reference early on (before cancellation bites)
    t, Ph = flows.simulate_random_cumulants(P, C, gamma, Phi0, W, 0.05, 400, 100)
    dk = span_distances(Ph - Phi_inf, ebfs(P, K))
    np.testing.assert_allclose(dk, np.exp(ms.log_distance(t)), rtol=1e-4)


# ----------------------------------------------------------------------------- C4, C8


def test_c4_linear_fa_reaches_true_values():
    rng = np.random.default_rng(51)
    for seed in range(3):
        P = random_dirichlet(6, rng)
        R = rng.standard_normal(6)
        Phi0 = rng.standard_normal((6, 2)) / np.sqrt(2)
        _, Ph, w = flows.simulate_linear_fa(P, R, 0.9, Phi0, rng.standard_normal(2), 1.0, 1.0,
                                            0.02, 5000, 5000)
        Vs = cf.true_values(P, R, 0.9)
        assert np.linalg.norm(Ph[-1] @ w[-1] - Vs) <= 1e-6 * np.linalg.norm(Vs)


def test_c8_limits_by_simulation():
    """Additional policies and several discounts approach the (corrected) C8 limits like M^-1/2."""
    from repdyn.analysis.mdp import MDP
    rng = np.random.default_rng(52)
    m = MDP("d", random_dirichlet(6, rng), rng.standard_normal(6), 0.9)
    Ms = 64 * 4 ** np.arange(5)
    gp, gd = psim._c8_gaps(m, rng, Ms, 24)
    for g in (gp, gd):
        s = np.polyfit(np.log(Ms), np.log(g), 1)[0]
        assert SLOPE_BAND[0] <= s <= SLOPE_BAND[1], (s, g)


# ----------------------------------------------------------------------------- certificates fail


def test_certificates_can_fail():
    """Each registry check fails on a deliberately wrong prediction."""
    from repdyn.proofs.registry import Context
    ctx = Context(quick=True)
    chain = ctx.mdps[1]
    ok, rel, _ = psim._c6_on(chain, ctx.rng(601), True)
    assert ok
    ev = psim._c6_on(chain, ctx.rng(601), True)[2]
    wrong = 1.0 / ev["d_min"]                         # the limit's rate gamma (l_K - l_K+1)
    ok_w, _, _ = psim._c6_on(chain, ctx.rng(601), True, rate_factor=wrong)
    assert not ok_w
    ok_p, _, _ = psim._c7_path_on(chain, ctx.rng(711), True, rate_factor=1.1)
    assert not ok_p
    # Thm 4.1 (ii) against the uncoupled limit: the gap does not shrink
    P, R = chain.P, chain.R
    Phi0 = np.random.default_rng(0).standard_normal((P.shape[0], 2))
    Ms = [64, 256, 1024, 4096]
    rng = np.random.default_rng(1)
    t = 0.05 * 10 * np.arange(7)
    g = []
    for M in Ms:
        W, a = flows.draw_heads(2, M, "ii", rng)
        _, Ph, _ = flows.simulate_ensemble(P, R, chain.gamma, Phi0, W, a, 0.0, 0.05, 60, 10)
        g.append(np.linalg.norm(Ph - cf.ensemble_limit(P, R, chain.gamma, Phi0, t), axis=(1, 2)).max())
    assert not (SLOPE_BAND[0] <= np.polyfit(np.log(Ms), np.log(g), 1)[0] <= SLOPE_BAND[1])
    # C7 law: the statistic rejects a covariance off by 30%
    stat, crit, _, _ = psim._c7_law_on(_dense(chain.P), chain.gamma, ctx.rng(3), n_draws=400,
                                       cov_factor=1.3)
    assert stat > crit


def _dense(P):
    return P.toarray() if hasattr(P, "toarray") else np.asarray(P)


# ----------------------------------------------------------------------------- span tools: input


def test_modal_reference_refuses_undefined_subspaces():
    from repdyn.analysis.mdp import ring
    P = ring(9)
    with pytest.raises(ValueError, match="conjugate pair"):
        ModalSpan(P, 0.9, np.ones((9, 2)) + np.eye(9)[:, :2], np.eye(2))       # K = 2 splits a pair
    J = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])        # defective (Jordan)
    with pytest.raises(ValueError, match="diagonalisable"):
        ModalSpan(J, 0.9, np.eye(3)[:, :1] + 0.3, np.eye(1))
    with pytest.raises(ValueError, match="G"):
        ModalSpan(random_walk_chain(4), 0.9, np.eye(4)[:, :2] + 0.1, -np.eye(2))
    with pytest.raises(ValueError, match="c"):
        left_span(random_walk_chain(4), 0.9, np.eye(4)[:, :2], [1.0], c=0.0)
    # gamma = 0 and G = I: A = I, nothing turns, float64 never loses the span
    assert float64_window(random_walk_chain(4), 0.0, 2) == np.inf
