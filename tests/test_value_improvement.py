"""C9: the value-improvement path and the transfer errors (analysis.value_improvement)."""
import numpy as np
import pytest

from repdyn.analysis.mdp import two_action_chain
from repdyn.analysis.spectral import ebfs, rsbfs
from repdyn.analysis.value_improvement import (
    BEAT_TOL, greedy_policy, policy_values, projection_error, soft_policy_iteration,
    value_improvement_transfer,
)

#: Least-squares errors are O(cond * eps) ~ 1e-14 for these well-conditioned bases.
LSQ_TOL = 1e-10
P, R = two_action_chain(20, 0.9, 0.7, 1.0, 0.1)
GAMMA = 0.9


@pytest.fixture(scope="module")
def result():
    return value_improvement_transfer(draws=100, seed=3)


def _independent_values(pi):
    """V^pi by fixed-point iteration V <- R^pi + gamma P^pi V (independent of the LU solve)."""
    Ppi = sum(pi[:, a:a + 1] * P[a] for a in range(2))
    Rpi = (pi * R.T).sum(axis=1)
    V = np.zeros(20)
    for _ in range(600):                # gamma^600 ~ 1e-28
        V = Rpi + GAMMA * Ppi @ V
    return V


def test_path_starts_uniform_and_ends_greedy_optimal(result):
    pols = result.policies
    assert np.all(pols[0] == 0.5)
    last = pols[-1]
    assert set(np.unique(last)) <= {0.0, 1.0}          # deterministic
    # optimal: greedy with respect to its own value, and V is the Bellman optimality fixed point
    V = _independent_values(last)
    Q = R + GAMMA * P @ V
    np.testing.assert_allclose(V, Q.max(axis=0), atol=LSQ_TOL)
    assert np.array_equal(greedy_policy(P, R, GAMMA, V), last)
    # optimal on this chain: always go right (the right-end reward 1 dominates 0.1)
    assert np.all(last[:, 1] == 1.0)
    # each step moves a quarter of the way to the greedy policy
    for a, b in zip(pols[:-2], pols[1:-1]):
        g = greedy_policy(P, R, GAMMA, policy_values(P, R, GAMMA, a))
        np.testing.assert_allclose(b, 0.75 * a + 0.25 * g, atol=1e-15)
    # far longer than plain policy iteration's ~1 step (docs: theory/c9)
    assert len(pols) > 10


def test_values_match_independent_iteration(result):
    for pi, V in zip(result.policies, result.values):
        np.testing.assert_allclose(V, _independent_values(pi), rtol=1e-10, atol=1e-12)


def test_errors_in_unit_interval_and_v0_exact_at_start(result):
    for e in (result.errors, result.errors_v0):
        for v in e.values():
            assert np.all((v >= 0) & (v <= 1 + 1e-12))
    for name in ("ebf", "rsbf"):
        assert result.errors_v0[name][0] < LSQ_TOL
    assert np.all(result.errors_v0["random"][:, 0] < LSQ_TOL)
    # adding a feature can only lower the least-squares error
    for name in ("ebf", "rsbf", "random"):
        assert np.all(result.errors_v0[name] <= result.errors[name] + LSQ_TOL)


def test_errors_against_lstsq(result):
    n, k = 20, 5
    P0 = 0.5 * (P[0] + P[1])
    for name, Phi in (("ebf", ebfs(P0, k)), ("rsbf", rsbfs(P0, GAMMA, k))):
        for j in (0, len(result.values) // 2, len(result.values) - 1):
            V = result.values[j]
            for Phi_, err in ((Phi, result.errors[name][j]),
                              (np.hstack([Phi, result.values[0][:, None]]), result.errors_v0[name][j])):
                w = np.linalg.lstsq(Phi_, V, rcond=None)[0]
                expect = np.linalg.norm(V - Phi_ @ w) / np.linalg.norm(V)
                assert abs(err - expect) < LSQ_TOL
    # random draws: reproduce draw 0 from the same seed
    Phi = np.random.default_rng(3).standard_normal((100, n, k))[0]
    for j in range(len(result.values)):
        V = result.values[j]
        w = np.linalg.lstsq(Phi, V, rcond=None)[0]
        assert abs(result.errors["random"][0, j] - np.linalg.norm(V - Phi @ w) / np.linalg.norm(V)) < LSQ_TOL


def test_ebfs_rsbfs_beat_median_random(result):
    # docs: theory/c9's expected outcome, measured on this seed
    for name in ("ebf", "rsbf"):
        assert result.beat_fraction(name) > 0.5
        assert result.beat_fraction(name, with_v0=True) > 0.5


def test_same_seed_same_bits():
    a = value_improvement_transfer(draws=5, seed=1)
    b = value_improvement_transfer(draws=5, seed=1)
    assert np.array_equal(a.errors["random"], b.errors["random"])


def test_projection_error_known_cases():
    e = np.eye(4)
    assert projection_error(e[:, :2], np.array([1.0, 1.0, 0.0, 0.0])) == 0.0
    assert abs(projection_error(e[:, :2], np.array([0.0, 0.0, 3.0, 4.0])) - 1.0) < 1e-15
    assert abs(projection_error(e[:, :1], np.array([1.0, 1.0, 0.0, 0.0])) - np.sqrt(0.5)) < 1e-15


@pytest.mark.parametrize("kwargs, word", [
    ({"k": 0}, "k"), ({"k": 20}, "k"), ({"draws": 0}, "draws"), ({"gamma": 1.0}, "gamma"),
    ({"eta": 0.0}, "eta"), ({"tol": 0.0}, "tol"), ({"P": P}, "P and R"),
])
def test_bad_input_names_argument(kwargs, word):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(ValueError, match=word):
        value_improvement_transfer(**kwargs)


def test_bad_mdp_and_policy():
    Pbad = P.copy()
    Pbad[1, 0, 0] += 0.1
    with pytest.raises(ValueError, match=r"P\[1\]"):
        soft_policy_iteration(Pbad, R, GAMMA)
    with pytest.raises(ValueError, match="pi0"):
        soft_policy_iteration(P, R, GAMMA, pi0=np.full((20, 2), 0.7))
    with pytest.raises(ValueError, match="max_iter"):
        soft_policy_iteration(P, R, GAMMA, max_iter=3)
    with pytest.raises(ValueError, match="V"):
        projection_error(np.eye(3)[:, :1], np.zeros(3))


def test_c9_check_holds_and_can_fail(result):
    from repdyn.proofs.transfer import c9_verdict
    assert c9_verdict([result]).verdict == "holds"
    # a deliberately wrong input: "EBFs" that are worse than every random draw
    import copy
    bad = copy.deepcopy(result)
    bad.errors["ebf"] = bad.errors["random"].max(axis=0) + 10 * BEAT_TOL
    out = c9_verdict([result, bad])
    assert out.verdict == "not-reproduced"
    assert out.measured == 0.0
    assert "ebf" in out.reason


def test_clopper_pearson_bound_known_values():
    from repdyn.proofs.transfer import random_win_upper
    # x = 0 of N: the exact upper bound is 1 - (alpha/2)^(1/N)
    for N in (3, 100, 500):
        up = random_win_upper(np.zeros(1), np.ones((N, 1)))
        assert abs(up[0] - (1 - 0.025 ** (1 / N))) < 1e-12
    # every draw at least as good: bound 1; exact ties count as "at least as good"
    assert random_win_upper(np.ones(1), np.ones((10, 1)))[0] == 1.0


def test_c9_too_few_draws_is_not_significant():
    from repdyn.proofs.transfer import c9_verdict
    # 3 draws per seed, one seed: even if the EBFs win everywhere, 3 draws cannot show p < 1/2
    r = value_improvement_transfer(draws=3, seed=0)
    out = c9_verdict([r])
    assert out.verdict == "not-reproduced"
    assert min(out.evidence["beat_fraction_per_seed"]["ebf"]) > 0.5   # it did beat the median


# ----------------------------------------------------------------------------- properties

from hypothesis import given, strategies as st  # noqa: E402


@st.composite
def _two_action_mdps(draw):
    n = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(n), size=(2, n))
    R = rng.standard_normal((2, n))
    gamma = draw(st.floats(0.1, 0.95))
    return P, R, gamma


@given(_two_action_mdps(), st.floats(0.1, 1.0))
def test_soft_pi_ends_optimal_on_random_mdps(mdp, eta):
    """The path ends at a policy satisfying the Bellman optimality equation (to rounding)."""
    P, R, gamma = mdp
    path = soft_policy_iteration(P, R, gamma, eta=eta)
    V = policy_values(P, R, gamma, path[-1])
    Q = R + gamma * P @ V
    scale = np.abs(R).max() / (1 - gamma)
    assert np.max(np.abs(V - Q.max(axis=0))) <= 1e-9 * scale
    # policy improvement: values never decrease along the path (soft PI is monotone)
    vals = np.stack([policy_values(P, R, gamma, pi) for pi in path])
    assert np.all(np.diff(vals, axis=0) >= -1e-9 * scale)


@given(st.integers(0, 2**32 - 1), st.integers(1, 5))
def test_projection_error_basis_invariant(seed, k):
    """The error depends on span(Phi) only: any invertible mixing of the columns leaves it."""
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((8, k))
    V = rng.standard_normal(8)
    M = rng.standard_normal((k, k)) + 3 * np.eye(k)
    e = projection_error(Phi, V)
    assert 0.0 <= e <= 1.0
    assert abs(projection_error(Phi @ M, V) - e) < 1e-10
    assert abs(projection_error(Phi, 5.0 * V) - e) < 1e-12
