"""Certificates of proofs/exact.py: every one holds on its defaults, every wrong claim fails.

The wrong claims are the ones the brief names: a perturbed closed form, a wrong rate, Monte
Carlo dynamics said to align with the EBFs, and the talk's R_bar eps^T limit for additional
policies with unequal rewards (plus a wrong flattening and a wrong moment).
"""
import numpy as np
import pytest
import sympy as sp

from repdyn.analysis import symbolic as S
from repdyn.analysis import symbolic_limits as L
from repdyn.analysis.mdp import default_mdps
from repdyn.analysis.spectral import alignment_rate
from repdyn.proofs import exact as X
from repdyn.proofs.registry import Context, _CHECKS, run_check

Q = sp.Rational


def _mine(quick):
    return [c for c in _CHECKS if c.func.__module__ == "repdyn.proofs.exact" and (c.quick or not quick)]


def test_every_claim_has_an_exact_certificate():
    assert {c.claim for c in _mine(False)} == {"C1", "C2", "C3", "C5", "C6", "C7", "C8"}
    assert all(c.method in ("symbolic", "exact") for c in _mine(False))


@pytest.fixture(scope="module")
def full_results():
    ctx = Context(quick=False)
    return {(c.claim, c.name): run_check(c, ctx) for c in _mine(False)}


def test_every_certificate_holds_on_defaults(full_results):
    bad = {k: (r.verdict, r.reason) for k, r in full_results.items() if r.verdict != "holds"}
    assert not bad


# ----------------------------------------------------------------------------- wrong claims


def _perturbed_td(P, R, gamma, V0, t):
    return S.td_values(P, R, gamma, V0, t) + sp.exp(-2 * t) * t / 1000 * sp.ones(*V0.shape)


def _wrong_mc(P, R, gamma, V0, t):
    Vs = S.true_values(P, R, gamma) * sp.ones(1, V0.shape[1])
    return sp.exp(-2 * t) * (V0 - Vs) + Vs


def test_c1_fails_on_perturbed_closed_forms():
    assert X.certify_c1_symbolic().verdict == "holds"
    assert X.certify_c1_symbolic(td_claim=_perturbed_td).verdict == "fails"
    assert X.certify_c1_symbolic(mc_claim=_wrong_mc).verdict == "fails"
    mdps = default_mdps(quick=True)[:2]
    assert X.certify_c1_rational(mdps, td_claim=_perturbed_td).verdict == "fails"


def test_c1_fails_on_wrong_limit():
    # solves dV/dt = R + gamma P V - V only if R is replaced: converges to V* + 1/10
    def shifted(P, R, gamma, V0, t):
        return S.td_values(P, R + (sp.eye(2) - gamma * P) * sp.ones(2, 1) / 10, gamma, V0, t)
    out = X.certify_c1_symbolic(td_claim=shifted)
    assert out.verdict == "fails"


def test_c2_fails_on_wrong_rate():
    assert X.certify_two_state_rate().verdict == "holds"
    assert X.certify_two_state_rate(claimed_rate=lambda lams, g: (1 - g) * (lams[0] - lams[1])).verdict == "fails"
    assert X.certify_two_state_rate(claimed_rate=lambda lams, g: g * (lams[0] - lams[1]) / 2).verdict == "fails"
    assert X.certify_alignment_exact(K=1, claimed_rate=lambda l, g, K, d: g * (l[0] - l[1]) + Q(1, 100)).verdict == "fails"


def test_c3_fails_on_wrong_rate():
    wrong = lambda l, g, K, d: g * (l[0] - l[K])          # noqa: E731  gap to lambda_1, not lambda_K
    assert X.certify_alignment_exact(K=2).verdict == "holds"
    assert X.certify_alignment_exact(K=2, claimed_rate=wrong).verdict == "fails"


@pytest.mark.parametrize("claim", ["C2", "C3"])
def test_algebraic_rate_fails_on_perturbed_float_rate(claim):
    mdps = default_mdps(quick=True)[:2]
    K = None if claim == "C2" else 2
    assert X.certify_rate_algebraic(mdps, K=K, claim=claim).verdict == "holds"
    off = lambda P, g, k: 1.01 * alignment_rate(P, g, k)  # noqa: E731
    assert X.certify_rate_algebraic(mdps, K=K, claimed_rate=off, claim=claim).verdict == "fails"


def test_algebraic_rate_not_applicable_outside_assumptions():
    ring = [m for m in default_mdps(quick=True) if m.name.startswith("ring")]
    out = X.certify_rate_algebraic(ring, claim="C2")            # complex spectrum
    assert out.verdict == "not-applicable"


def test_c5_fails_on_perturbed_closed_form_and_wrong_moment():
    def limit_form(P, R, g, Phi0, W, a, t):                   # the M -> oo form used at finite M
        return L.ensemble_limit(P, R, g, Phi0, t, a * W * sp.ones(W.shape[1], 1))

    def perturbed(P, R, g, Phi0, W, a, t):
        return L.ensemble_features(P, R, g, Phi0, W, a, t) + t * sp.exp(-t) / 1000 * sp.ones(*Phi0.shape)

    assert X.certify_c5_finite_m().verdict == "holds"
    assert X.certify_c5_finite_m(claim=limit_form).verdict == "fails"
    assert X.certify_c5_finite_m(claim=perturbed).verdict == "fails"
    assert X.certify_c5_limits(frob_claim=lambda K, M: K ** 2 / M).verdict == "fails"


def test_c5_limit_fails_on_wrong_eq14():
    def wrong14(P, R, g, Phi0, t, eps=None):                   # V* eps^T with the sign flipped
        if eps is None:
            return L.ensemble_limit(P, R, g, Phi0, t)
        return L.ensemble_limit(P, -R, g, Phi0, t, eps)
    assert X.certify_c5_limits(limit14=wrong14).verdict == "fails"


def test_c6_mc_dynamics_do_not_align():
    assert X.certify_c6_collapse().verdict == "holds"
    assert X.certify_c6_collapse(generator=X._mc_generator).verdict == "fails"
    # the infinite-M rate (without d_min) is wrong at finite M
    assert X.certify_c6_collapse(claimed_rate=lambda l, g, K, d: g * (l[K - 1] - l[K])).verdict == "fails"


def test_c7_fails_on_mc_dynamics_and_wrong_flattening():
    assert X.certify_c7(generator=X._mc_generator).verdict == "fails"
    assert X.certify_c7(cov_claim=lambda Sig, K: sp.kronecker_product(sp.eye(K), Sig)).verdict == "fails"


def test_c8_talk_limit_fails_with_unequal_rewards_only():
    assert X.certify_c8().verdict == "holds"
    assert X.certify_c8(policies_limit=L.talk_additional_policies_limit).verdict == "fails"
    assert X.certify_c8(policies_limit=L.talk_additional_policies_limit,
                        equal_rewards=True).verdict == "holds"


# ----------------------------------------------------------------------------- helpers


def test_prove_zero_refutes_and_proves():
    t, a = sp.symbols("t a", positive=True)
    assert X.prove_zero(sp.exp(-a * t) * (a + 1) - sp.exp(-a * t) * a - sp.exp(-a * t), t)[0]
    assert not X.prove_zero(sp.exp(-a * t) - sp.exp(-2 * a * t), t)[0]
    assert X.prove_zero(sp.cosh(t) - (sp.exp(t) + sp.exp(-t)) / 2, t)[0]
    assert not X.prove_zero(sp.sqrt(2) * sp.exp(t) - sp.Rational(1414213562, 10**9) * sp.exp(t), t)[0]


def test_limit_t_inf():
    t = sp.Symbol("t", nonnegative=True)
    M = sp.Matrix([3 + sp.exp(-t) * t, 2 - sp.exp(-t / 2)])
    assert X.limit_t_inf(M, t) == sp.Matrix([3, 2])
    with pytest.raises(ValueError):
        X.limit_t_inf(sp.Matrix([sp.exp(t)]), t)
    with pytest.raises(ValueError):
        X.limit_t_inf(sp.Matrix([t]), t)


def test_rational_mdp_roundtrip():
    m = default_mdps(quick=True)[0]
    P, R, g, dev = X.rational_mdp(m)
    assert P == S.two_state(Q(3, 10), Q(1, 5)) and g == Q(9, 10) and dev < 1e-12
    np.testing.assert_allclose(np.array(R.tolist(), dtype=float).ravel(), m.R)


def test_c1_families_fail_on_perturbed_closed_form():
    assert X.certify_c1_families(td_claim=_perturbed_td).verdict == "fails"


def test_provably_positive():
    g = sp.Symbol("g", positive=True)
    assert X._provably_positive((2 * g + 2 - sp.sqrt(2)) / (2 * g + 2))
    assert not X._provably_positive((2 * g - sp.sqrt(2)) / (2 * g + 2))   # sign unknown


def test_two_state_derivation_and_certificates_hold():
    # (speed is measured in benchmarks, never asserted in a test)
    S.two_state_derivation()
    assert X.certify_c1_symbolic().verdict == "holds"
    assert X.certify_two_state_rate().verdict == "holds"


def test_two_state_rate_fails_when_components_have_wrong_rates():
    # MC trajectory: every component decays at rate 1, not 1 - gamma lambda_i
    def mc_as_td(P, R, gamma, V0, t):
        return S.mc_values(P, R, gamma, V0, t)
    assert X.certify_two_state_rate(td_claim=mc_as_td).verdict == "fails"
