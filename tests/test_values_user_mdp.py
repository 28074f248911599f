"""C1-C4 (proofs.values) on unusual user MDPs, run the way ``repdyn verify --mdp FILE --quick``
runs them: the file is read by ``repdyn.mdpfile.load_mdp`` and the checks get
``Context(quick=True, mdps=[mdp], user_mdp=True)`` (repdyn/cli.py).

docs: theory/index: a claim whose assumptions are unmet is ``not-applicable`` with a reason; a numeric
claim (C4) is never ``fails``; nothing evaluated is never ``holds``.
"""

import numpy as np
import pytest

from repdyn.proofs import registry, values
from repdyn.proofs.registry import Context
from repdyn.mdpfile import load_mdp


def _user_ctx(tmp_path, name, P, R, gamma, quick=True):
    path = tmp_path / f"{name}.npz"
    np.savez(path, P=np.asarray(P, float), R=np.asarray(R, float), gamma=gamma)
    mdp = load_mdp(str(path))
    return Context(quick=quick, seed=0, mdps=[mdp], user_mdp=True)


def _run(ctx, claim, name):
    """Run the registered check ``claim``/``name`` through the registry (as verify does)."""
    chks = [c for c in registry.checks_for([claim], quick=ctx.quick, user_mdp=ctx.user_mdp)
            if c.name == name]
    assert len(chks) == 1, f"{claim} {name!r} not registered for user MDPs under --quick"
    return registry.run_check(chks[0], ctx)


C1 = ("C1", "closed forms vs expm and the ODE")
C2 = ("C2", "rate of d(span(V_t - V*), U_1)")
C3 = ("C3", "rate of d(span{V_t^k - V*}, U_1:K)")
C4 = ("C4", "linear FA: Phi_t w_t -> V* from generic inits")


def _jordan5():
    """Jordan block of size 3 at 0.6 (defective), as the audit's jordan5."""
    return np.array([[0.6, 0.4, 0, 0, 0], [0, 0.6, 0.4, 0, 0], [0, 0, 0.6, 0.4, 0],
                     [0, 0, 0, 0.2, 0.8], [0, 0, 0, 0.7, 0.3]])


def _reversible(n, seed):
    rng = np.random.default_rng(seed)
    W = rng.random((n, n))
    W = W + W.T
    return W / W.sum(1, keepdims=True)


def _walk(n):
    """Lazy-ended symmetric random walk on a path (the audit's walk500): rate ~ 1e-5."""
    P = np.zeros((n, n))
    for i in range(n):
        P[i, max(i - 1, 0)] += 0.5
        P[i, min(i + 1, n - 1)] += 0.5
    return P


# ----------------------------------------------------------------------------- C2/C3: Jordan P


def test_jordan_P_c2_c3_not_applicable_not_fails(tmp_path):
    ctx = _user_ctx(tmp_path, "jordan5", _jordan5(), np.random.default_rng(1).standard_normal(5), 0.9)
    r2, r3 = _run(ctx, *C2), _run(ctx, *C3)
    for r in (r2, r3):
        assert r.verdict == "not-applicable", (r.verdict, r.reason)
        assert "not (numerically) diagonalisable" in r.reason
    assert r2.reason == r3.reason             # same criterion and wording as C2
    r1 = _run(ctx, *C1)                       # the closed forms need no diagonalisability
    assert r1.verdict == "holds", r1.reason


# ----------------------------------------------------------------------------- C4: huge R


def test_huge_reward_c4_holds_and_c2_c3_hold(tmp_path):
    R = 1e8 * np.random.default_rng(2).standard_normal(6)
    ctx = _user_ctx(tmp_path, "reward_huge", _reversible(6, 0), R, 0.9)
    out = values.linear_fa_check(ctx)
    assert out.verdict == "holds", out.reason
    assert out.measured <= values.C4_TOL
    ev = out.evidence["reward_huge.npz"]
    assert ev["R_scale"] < 1e-6                # run on the rescaled reward (scale-covariant flow)
    for claim in (C2, C3):
        r = _run(ctx, *claim)
        assert r.verdict == "holds", r.reason


def test_c4_integration_failure_is_not_reproduced_never_fails(tmp_path, monkeypatch):
    """If RK4 cannot be made stable, C4 (numeric) reports not-reproduced with the reason."""
    ctx = _user_ctx(tmp_path, "reward_huge", _reversible(6, 0), 1e8 * np.ones(6), 0.9)
    monkeypatch.setattr(values, "C4_SCALE_BAND", (1e9, 1e9))   # far outside RK4's stability
    monkeypatch.setattr(values, "C4_DT_HALVINGS", 1)
    out = values.linear_fa_check(ctx)
    assert out.verdict == "not-reproduced"
    assert "could not run" in out.reason and "dt" in out.reason


def test_c4_registered_check_is_the_scale_free_one(tmp_path):
    """Through the registry (as ``verify`` runs it): huge R must not make C4 fail."""
    chk = [c for c in registry.checks_for(["C4"], quick=True, user_mdp=True) if c.name == C4[1]]
    assert len(chk) == 1 and chk[0].func.__module__ == "repdyn.proofs.values"
    ctx = _user_ctx(tmp_path, "reward_huge", _reversible(6, 0), 1e8 * np.ones(6), 0.9)
    r = _run(ctx, *C4)
    assert r.verdict == "holds", r.reason


# ----------------------------------------------------------------------------- C4: gamma = 0.999


def test_gamma_0999_c4_holds_under_quick(tmp_path):
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(6), size=6)
    ctx = _user_ctx(tmp_path, "gamma0999", P, rng.standard_normal(6), 0.999)
    out = values.linear_fa_check(ctx)
    assert out.verdict == "holds", (out.reason, out.evidence)
    ev = out.evidence["gamma0999.npz"]
    assert ev["T_max"] == pytest.approx(values.C4_HORIZON[0] / (1 - 0.999))
    assert ev["T_reached"] > 100.0             # the old fixed T = 100 was not enough


def test_c4_zero_reward_only_is_not_applicable(tmp_path):
    ctx = _user_ctx(tmp_path, "reward_zero", _reversible(5, 1), np.zeros(5), 0.9)
    out = values.linear_fa_check(ctx)
    assert out.verdict == "not-applicable" and "R = 0" in out.reason


# ----------------------------------------------------------------------------- C1: skipped


def test_c1_all_skipped_is_not_applicable(tmp_path):
    n = values.C1_N_MAX + 1
    ctx = _user_ctx(tmp_path, "big", _walk(n), np.ones(n), 0.9)
    r = _run(ctx, *C1)
    assert r.verdict == "not-applicable", r.verdict
    assert f"n = {n} > {values.C1_N_MAX}" in r.reason


def test_c1_partly_skipped_says_so_and_tolerances_are_the_applied_ones(tmp_path):
    n = values.C1_N_MAX + 1
    big = _user_ctx(tmp_path, "big", _walk(n), np.ones(n), 0.9).mdps[0]
    small = _user_ctx(tmp_path, "small", _reversible(5, 2), np.arange(5.0), 0.9).mdps[0]
    ctx = Context(quick=True, seed=0, mdps=[small, big], user_mdp=True)
    r = _run(ctx, *C1)
    assert r.verdict == "holds", r.reason
    assert "evaluated 1 of 2" in r.reason and "big.npz" in r.reason
    # every printed measured value is within its printed (applied) tolerance
    assert set(r.measured) == set(r.tolerance)
    assert all(r.measured[k] <= r.tolerance[k] for k in r.measured), (r.measured, r.tolerance)
    assert r.tolerance["ode"] == values.FD_RTOL


# ----------------------------------------------------------------------------- C2/C3: slow walk


def test_slow_walk_c2_c3_hold_quickly_with_cross_check(tmp_path):
    """walk500: rate ~2e-5; the tracker's rounding floor is respected, so our two methods agree
    (the old fixed-step tracker disagreed by 0.81 and the check said fails, in 127 s)."""
    n = 500
    R = np.zeros(n)
    R[-1] = 1.0
    ctx = _user_ctx(tmp_path, "walk", _walk(n), R, 0.9)
    for claim in (C2, C3):
        r = _run(ctx, *claim)
        assert r.verdict == "holds", r.reason
        row = r.evidence["rows"][0]
        assert row["tracked_vs_eigen_rel"] is not None
        assert row["tracked_vs_eigen_rel"] < values.TRACK_RTOL


def test_methods_disagreeing_above_the_tracker_floor_fails(tmp_path, monkeypatch):
    """Above its rounding floor the tracked span is the true one: a departure from the exact
    eigen-coordinate distance there is a real disagreement, reported as ``fails``."""
    ctx = _user_ctx(tmp_path, "rev", _reversible(6, 4), np.arange(6.0), 0.9)
    real = values.measure_alignment_rate

    def disagreeing(*a, **k):
        r = real(*a, **k)
        r["tracked_vs_eigen_rel"] = 0.81
        return r

    monkeypatch.setattr(values, "measure_alignment_rate", disagreeing)
    r = _run(ctx, *C2)
    assert r.verdict == "fails", r.reason
    assert "0.81" in r.reason and "departs" in r.reason


def test_tracked_cross_check_skipped_certifies_nothing(tmp_path, monkeypatch):
    """Without the tracked span the only distance shares eig(P) with the prediction: the MDP is
    not certified (not-applicable with the reason), never a ``holds`` on that alone."""
    ctx = _user_ctx(tmp_path, "rev", _reversible(6, 5), np.arange(6.0), 0.9)
    monkeypatch.setattr(values, "TRACK_FLOP_BUDGET", 1.0)
    r = _run(ctx, *C3)
    assert r.verdict == "not-applicable", r.reason
    assert "tracked cross-check skipped" in r.reason and "independent" in r.reason
