"""verify's kernel reference checks (proofs/kernel_checks.py): each holds on the library's kernels
and FAILS when the kernel it guards is wrong (a planted bug through the check's argument or a
monkeypatched module function)."""
import numpy as np
import pytest

from repdyn.kernels import flows, probes
from repdyn.proofs import kernel_checks as kc
from repdyn.proofs import registry


def test_every_kernel_check_holds_on_the_library():
    for f in (kc.flow_values_outcome, kc.learned_flow_outcome, kc.rank_boundary_outcome,
              kc.mlp_outcome, kc.optimiser_outcome, kc.capacity_outcome, kc.infer_outcome,
              kc.agent_targets_outcome, kc.value_improvement_outcome, kc.e1_training_outcome,
              kc.spectral_outcome, kc.draws_outcome, kc.krylov_outcome, kc.ntk_outcome):
        o = f()
        assert o.verdict == "holds", (f.__name__, o.reason)


def test_kernel_checks_are_registered_on_their_claims():
    registry._load_check_modules()
    claims = {c.claim for c in registry._CHECKS if c.name.startswith("kernel:") and c.quick}
    assert claims >= {"C1", "C3", "C4", "C9", "C10", "C11", "C12", "C13", "C14"}


def test_wrong_value_flow_fails():
    def drops_gamma(P, R, gamma, *a, **k):
        return flows.simulate_values(P, R, 0.97 * gamma, *a, **k)
    assert kc.flow_values_outcome(simulate=drops_gamma).verdict == "fails"


def test_wrong_learned_flow_fails():
    def slow_heads(P, R, gamma, Phi0, W, alpha, beta, *a, **k):     # beta off by 1 %
        return flows.simulate_ensemble(P, R, gamma, Phi0, W, alpha, 0.99 * beta, *a, **k)

    def euler_for_rk4(*a, method="rk4"):
        return flows.simulate_linear_fa(*a, method="euler")
    assert kc.learned_flow_outcome(ensemble=slow_heads).verdict == "fails"
    assert kc.learned_flow_outcome(linear_fa=euler_for_rk4).verdict == "fails"


def test_rank_counted_at_eps_fails():
    def geq(F, eps=0.01):
        return int(np.sum(probes.singular_values(F) >= eps))
    out = kc.rank_boundary_outcome({"feature_rank": geq})
    assert out.verdict == "fails" and "feature_rank" in out.reason


def test_capacity_on_the_wrong_column_fails():
    def column0(net, X, T, head=0, **k):
        return probes.capacity(net, X, T, head=0, **k)
    assert kc.capacity_outcome(capacity=column0).verdict == "fails"


def test_wrong_gradient_fails(monkeypatch):
    from repdyn.kernels import nn
    real = nn._loss_grad

    def half(*a):
        loss = real(*a)
        a[-1][:] *= 0.5          # the gradient buffer
        return loss
    monkeypatch.setattr(nn, "_loss_grad", half)
    assert kc.mlp_outcome().verdict == "fails"


def test_infer_targets_without_beta_fail(monkeypatch):
    from repdyn.kernels import infer
    monkeypatch.setattr(infer, "infer_targets",
                        lambda net, X, cols, beta: net.initial_forward(X)[:, cols])
    assert kc.infer_outcome().verdict == "fails"


def test_agent_with_wrong_auxiliary_rewards_fails(monkeypatch):
    from repdyn.kernels.agent import TDAgent
    real = TDAgent._rewards

    def no_aux(self, R):
        r = real(self, R)
        r[:, 1:] = 0.0
        return r
    monkeypatch.setattr(TDAgent, "_rewards", no_aux)
    out = kc.agent_targets_outcome()
    assert out.verdict == "fails" and "cumulants" in out.reason


def test_a_wrong_kernel_makes_the_registered_check_fail(monkeypatch):
    """Through the registry, as verify runs it: the C10 kernel row turns to fails."""
    registry._load_check_modules()
    chk = next(c for c in registry._CHECKS if c.claim == "C10" and c.name.startswith("kernel:"))
    monkeypatch.setattr(probes, "feature_rank",
                        lambda F, eps=0.01: int(np.sum(probes.singular_values(F) >= eps)))
    r = registry.run_check(chk, registry.Context(quick=True))
    assert r.verdict == "fails"


@pytest.mark.parametrize("seed", [1, 7])
def test_kernel_checks_hold_for_other_seeds(seed):
    for f in (kc.flow_values_outcome, kc.learned_flow_outcome, kc.mlp_outcome,
              kc.capacity_outcome, kc.agent_targets_outcome):
        assert f(seed=seed).verdict == "holds", f.__name__


def test_greedy_policy_without_gamma_fails(monkeypatch):
    from repdyn.analysis import value_improvement as vi
    real = vi.greedy_policy
    monkeypatch.setattr(vi, "greedy_policy", lambda P, R, gamma, V: real(P, R, 0.0, V))
    assert kc.value_improvement_outcome().verdict == "fails"


def test_e1_with_infer_targets_without_beta_fails(monkeypatch):
    from repdyn.kernels import infer            # E1 builds its targets with infer.infer_objective
    monkeypatch.setattr(infer, "infer_targets",
                        lambda net, X, cols, beta: net.initial_forward(X)[:, cols])
    assert kc.e1_training_outcome().verdict == "fails"


def test_alignment_rate_without_gamma_fails(monkeypatch):
    from repdyn.analysis import spectral
    real = spectral.alignment_rate
    monkeypatch.setattr(spectral, "alignment_rate", lambda P, g, K, d_min=1.0: real(P, g, K) / g)
    out = kc.spectral_outcome()
    assert out.verdict == "fails" and "alignment_rate" in out.reason


def test_heads_scaled_by_the_wrong_power_of_M_fail(monkeypatch):
    real = flows.draw_heads

    def wrong(K, M, scaling, rng):
        W, a = real(K, M, scaling, rng)
        return (W / np.sqrt(M), a) if scaling == "ii" else (W, a)
    monkeypatch.setattr(flows, "draw_heads", wrong)
    assert kc.draws_outcome().verdict == "fails"


def test_ntk_gram_without_the_bias_terms_fails(monkeypatch):
    from repdyn.kernels import nn, probes as pr
    real = pr.ntk_gram

    def no_head_bias(net, X, head=0):
        return real(net, X, head=head) - 1.0          # drops the head bias' all-ones term
    monkeypatch.setattr(pr, "ntk_gram", no_head_bias)
    assert kc.ntk_outcome().verdict == "fails"


def test_krylov_eigenvalues_off_by_1e_8_fail(monkeypatch):
    from repdyn.analysis import spectral
    real = spectral.eigenvalues

    def shifted(P, k=None, *, method="auto"):
        w = real(P, k, method=method)
        return w + (1e-8 if method == "krylov" else 0.0)
    monkeypatch.setattr(spectral, "eigenvalues", shifted)
    assert kc.krylov_outcome().verdict == "fails"
