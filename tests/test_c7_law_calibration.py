"""C7 law check (proofs.simulation._c7_law_on): calibrated false alarms for every n <= 200, power
against wrong covariances.

The old covariance test (Bartlett-corrected Gaussian likelihood ratio against a chi2 critical
value) rejected an exactly true law at n = 200 every time: its chi-square approximation needs
n/N small, and the Phi_inf columns are a Gaussian scale mixture, not Gaussian. The new tests are
exact for every (N, n, nu); here they are checked against samples drawn from the exact null law.
"""
import numpy as np
import pytest
from scipy import stats

from repdyn.proofs import simulation as psim

ALPHA = psim.FALSE_ALARM
REPS = 20


def _null_rows(N, n, nu, rng):
    """Rows iid sqrt((nu-2)/chi2_nu) N(0, I_n): the whitened law of a Phi_inf column."""
    return rng.standard_normal((N, n)) * np.sqrt((nu - 2) / rng.chisquare(nu, N))[:, None]


def _old_lr_pvalue(Y):
    """The removed test: Bartlett-corrected -2 log LR for N(0, I) against chi2_{n(n+1)/2}."""
    N, p = Y.shape
    S = Y.T @ Y / N
    rho = 1.0 - (2 * p * p + 3 * p - 1) / (6.0 * N * (p + 1))
    stat = rho * N * (np.trace(S) - np.linalg.slogdet(S)[1] - p)
    return stats.chi2.sf(stat, p * (p + 1) // 2)


def _random_mdp(n, seed, gamma=0.9):
    P = np.random.default_rng(seed).random((n, n)) ** 4
    return P / P.sum(axis=1, keepdims=True), gamma


@pytest.mark.parametrize("n, N", [(6, 400), (60, 400), (200, 200), (200, 400)])
@pytest.mark.parametrize("nu", [9, 199])             # M = 5K (the check) and M = 100K, K = 2
def test_false_alarm_under_the_exact_law(n, N, nu):
    """REPS draws from the exact null. Asserted: (a) no Bonferroni rejection at ALPHA (a priori
    chance of a spurious failure <= REPS * ALPHA = 0.02 per case; seeds fixed), (b) each of the
    four p-values is uniform by a KS test at level ALPHA (<= 4e-3 per case)."""
    rng = np.random.default_rng(1000 * n + N + nu)
    ps = np.array([list(psim._finite_m_law_pvalues(_null_rows(N, n, nu, rng), nu, rng).values())
                   for _ in range(REPS)])
    assert ps.shape == (REPS, 4)
    assert np.all(np.minimum(1, 4 * ps.min(axis=1)) >= ALPHA), ps.min(axis=1)
    for col in ps.T:
        assert stats.kstest(col, "uniform").pvalue >= ALPHA, col


def test_old_test_fails_where_the_new_one_holds():
    """At n = 200 (N = 200, the old --quick count; nu = 199, its M = 100K) the old LR p-values
    under the exact null are all < ALPHA; the new ones are not (test above)."""
    rng = np.random.default_rng(7)
    old = [_old_lr_pvalue(_null_rows(200, 200, 199, rng)) for _ in range(5)]
    assert max(old) < ALPHA


@pytest.mark.parametrize("n", [6, 60, 200])
def test_true_law_end_to_end(n):
    """Simulated Phi_inf columns of a random MDP against their true law: not rejected (3 seeds,
    a priori false-failure chance <= 3 * ALPHA)."""
    P, gamma = _random_mdp(n, n)
    for seed in range(3):
        law = psim._c7_law_on(P, gamma, np.random.default_rng(seed), n_draws=400)
        assert law.stat <= law.critical and law.p_adj >= ALPHA, law


@pytest.mark.parametrize("n", [6, 200])
def test_wrong_covariance_is_rejected(n):
    """Sigma scaled by 1.5, the talk's uncorrected covariance Psi Psi^T (no M/(M-K-1) = 10/7)
    and a rotated Psi: each rejected far beyond ALPHA (p < 1e-10; measured p <~ 1e-20)."""
    P, gamma = _random_mdp(n, n)
    K, M = 2, psim.C7_LAW_M_PER_K * 2
    Psi = np.linalg.inv(np.eye(n) - gamma * P)
    Q, R = np.linalg.qr(np.random.default_rng(1).standard_normal((n, n)))
    Q *= np.sign(np.diag(R))
    wrong = {"x1.5": {"cov_factor": 1.5},
             "uncorrected": {"Cov": Psi @ Psi.T},
             "rotated Psi": {"Cov": Q @ Psi @ Psi.T @ Q.T * M / (M - K - 1)}}
    for name, kw in wrong.items():
        law = psim._c7_law_on(P, gamma, np.random.default_rng(5), n_draws=400, K=K, M=M, **kw)
        assert law.stat > law.critical and law.p_adj < 1e-10, (name, law)


def test_transposed_resolvent_is_rejected_on_a_small_mdp():
    """Psi^T Psi instead of Psi Psi^T (same trace, different shape) on n = 6."""
    P, gamma = _random_mdp(6, 6)
    Psi = np.linalg.inv(np.eye(6) - gamma * P)
    law = psim._c7_law_on(P, gamma, np.random.default_rng(5), n_draws=400, Cov=Psi.T @ Psi * 10 / 7)
    assert law.p_adj < 1e-10, law


def test_needs_as_many_draws_as_states():
    with pytest.raises(ValueError, match="N >= n"):
        psim._finite_m_law_pvalues(np.ones((5, 6)), 9, np.random.default_rng(0))
