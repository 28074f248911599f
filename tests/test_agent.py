"""Tests of kernels/agent.py: a small TD run, determinism, logs (C13)."""
import numpy as np
import pytest

from repdyn.analysis.mdp import random_walk_chain, two_state
from repdyn.kernels.agent import AgentConfig, TDAgent, observations
from repdyn.proofs.references import forward_numpy as _forward_numpy

N = 12
GAMMA = 0.9


def _agent(aux="none", seed=0, **kw):
    P = random_walk_chain(N, 0.5)
    R = np.zeros(N)
    R[-1] = 1.0
    cfg = AgentConfig(aux=aux, hidden=(16, 16), n_aux=3, log_every=100, target_update=20,
                      lr=3e-3, **kw)
    return TDAgent(P, R, GAMMA, observations(N, "random", seed=seed, dim=8), cfg, seed=seed)


@pytest.mark.parametrize("aux", ["none", "ensemble", "cumulants", "discounts", "infer"])
def test_small_run_logs(aux):
    ag = _agent(aux)
    log = ag.train(300)
    assert log["step"] == [0, 100, 200, 300]
    for key in ("rank", "feature_norm", "value_error", "d_ebf", "d_rsbf"):
        assert len(log[key]) == 4 and np.all(np.isfinite(log[key]))
    # independent count: singular values of Phi / sqrt(n) above eps = 0.01 (numpy SVD of the
    # plain-numpy forward pass' penultimate activations)
    Phi = _forward_numpy(ag.net.params, ag.net.arch, ag.obs)[1][-1]
    sv = np.linalg.svd(Phi / np.sqrt(N), compute_uv=False)
    assert log["rank"][-1] == int(np.sum(sv > 0.01))
    # srank_0.01 by its definition: smallest k with sum_{i<=k} sigma_i >= 0.99 sum sigma
    assert log["srank"][-1] == int(np.flatnonzero(np.cumsum(sv) >= 0.99 * sv.sum())[0] + 1)
    # principal angles lie in [0, pi/2]: the Grassmann distance of 5-dim spaces is at most sqrt(5) pi/2
    assert 0 <= min(log["d_ebf"]) and max(log["d_ebf"]) <= np.sqrt(5) * np.pi / 2 + 1e-12


def test_td_learns_the_value():
    # expected-update TD on a small chain: the main head approaches V* = (I - gamma P)^{-1} R
    ag = _agent("none", sample_next=False)
    log = ag.train(1500)
    assert log["value_error"][-1] < 0.2 * log["value_error"][0]


def test_determinism_same_seed_same_bits():
    a, b = _agent("cumulants", seed=3), _agent("cumulants", seed=3)
    a.train(150)
    b.train(150)
    assert np.array_equal(a.net.params, b.net.params)
    np.testing.assert_equal(a.log, b.log)          # NaN-aware (capacity not measured)
    c = _agent("cumulants", seed=4)
    c.train(150)
    assert not np.array_equal(a.net.params, c.net.params)


def test_training_in_two_phases_equals_one():
    a, b = _agent("infer", seed=5), _agent("infer", seed=5)
    a.train(200)
    b.train(120)
    b.train(80)
    assert np.array_equal(a.net.params, b.net.params)


def test_capacity_logged_and_ablation_variants():
    ag = _agent("infer", variant="h2", capacity_every=2, capacity_steps=20, capacity_targets=1)
    assert ag.net.arch.hidden == (16, 32)
    log = ag.train(200)
    assert np.isfinite(log["capacity"][0]) and np.isnan(log["capacity"][1]) and np.isfinite(log["capacity"][2])
    h1 = _agent("none", variant="h1", h1_features=4)
    assert h1.net.arch.n_extra == 4
    h1.train(100)


def test_validation():
    with pytest.raises(ValueError, match="aux"):
        AgentConfig(aux="bogus")
    with pytest.raises(ValueError, match="h2"):
        AgentConfig(variant="h2")
    with pytest.raises(ValueError, match="obs"):
        TDAgent(two_state(0.1, 0.2), np.zeros(2), 0.9, np.ones((3, 2)), seed=0)
    with pytest.raises(ValueError, match="gamma"):
        TDAgent(two_state(0.1, 0.2), np.zeros(2), 1.0, np.ones((2, 2)), seed=0)
    with pytest.raises(ValueError, match="kind"):
        observations(4, "pixels", seed=0)


BAD_CONFIG = [
    ("hidden", ()), ("hidden", (True,)), ("hidden", (4.5,)), ("hidden", 5), ("activation", "gelu"),
    ("n_aux", True), ("n_aux", 2.0), ("n_aux", 0), ("batch_size", 1.9), ("target_update", "5"),
    ("log_every", None), ("aux_weight", -1.0), ("aux_weight", float("nan")), ("aux_weight", "1"),
    ("aux_weight", True), ("lr", 0.0), ("lr", -1e-3), ("lr", float("inf")), ("k_subspace", 0),
    ("k_subspace", 2.5), ("k_subspace", True), ("rank_eps", 0.0), ("rank_eps", float("nan")),
    ("capacity_every", -1), ("capacity_every", 1.5), ("capacity_targets", 0),
    ("capacity_steps", 0), ("capacity_steps", 10.0), ("h1_features", 0), ("h1_features", 2.5),
    ("sample_next", 1), ("infer", dict(k=3)),
]


@pytest.mark.parametrize("name,value", BAD_CONFIG)
def test_config_rejects_bad_values_naming_the_field(name, value):
    with pytest.raises(ValueError, match=name):
        AgentConfig(**{name: value})


def test_agent_rejects_bad_arguments():
    P, R, obs = random_walk_chain(6, 0.5), np.zeros(6), np.eye(6)
    with pytest.raises(ValueError, match="k_subspace"):          # k > n: not NaN distances
        TDAgent(P, R, 0.9, obs, AgentConfig(hidden=(4,), k_subspace=7), seed=0)
    with pytest.raises(ValueError, match="config"):
        TDAgent(P, R, 0.9, obs, dict(hidden=(4,)), seed=0)
    ag = TDAgent(P, R, 0.9, obs, AgentConfig(hidden=(8,), k_subspace=6), seed=0)   # k = n is fine
    assert np.isfinite(ag.train(0)["d_ebf"][0])
    for bad in (2.5, "3", None, True, -1):
        with pytest.raises(ValueError, match="n_steps"):
            ag.train(bad)


def test_only_a_tie_is_logged_as_an_undefined_subspace():
    # two identical disconnected 2-state chains: lambda_1 = lambda_2 = 1, so k = 1 ties and
    # the top-1 subspace is not defined (logged as NaN, not raised)
    P2 = two_state(0.1, 0.2)
    P = np.zeros((4, 4))
    P[:2, :2] = P2
    P[2:, 2:] = P2
    ag = TDAgent(P, np.zeros(4), 0.9, np.eye(4), AgentConfig(hidden=(4,), k_subspace=1), seed=0)
    assert isinstance(ag._bases["ebf"], str) and "not defined" in ag._bases["ebf"]
    assert np.isnan(ag.train(0)["d_ebf"][0])


# ----------------------------------------------------------------- experiments and judges

TINY_TD = dict(n=10, hidden=(8, 8), obs_dim=6, T0=100, T1=100, log_every=50, target_update=25,
               n_aux=3, k=3, infer=dict(k=3, beta=10.0, alpha=0.1))


def test_e2_runs_and_resumes_from_store(tmp_path):
    import json
    from repdyn.proofs.experiments import EXPERIMENTS
    from repdyn.store import Store
    store = Store(tmp_path)
    calls = []
    r1 = EXPERIMENTS["E2"](seeds=[0, 1], quick=True, store=store,
                           progress=lambda i, n: calls.append((i, n)), **TINY_TD)
    assert calls == [(1, 2), (2, 2)]
    json.dumps(r1)                                            # JSON-serialisable
    assert set(r1["summary"]["rank_end_phase1_mean"]) == {"none", "ensemble", "cumulants", "infer"}
    recs = store.read(Store.RESULTS)
    assert sorted(r["seed"] for r in recs) == [0, 1]
    marked = next(r for r in recs if r["seed"] == 1)
    marked["result"]["none"]["random_baseline"] = -123.0       # a marker only a reload can see
    store.put(marked.pop("key"), marked)
    r2 = EXPERIMENTS["E2"](seeds=[0, 1], quick=True, store=Store(tmp_path), **TINY_TD)
    assert r2["per_seed"][1]["none"]["random_baseline"] == -123.0
    assert r2["per_seed"][0] == r1["per_seed"][0]
    # a different configuration does not reuse the stored seeds
    r3 = EXPERIMENTS["E2"](seeds=[1], quick=True, store=store, **dict(TINY_TD, lr=1e-3))
    assert r3["per_seed"][0]["none"]["random_baseline"] != -123.0
    with pytest.raises(ValueError, match="store"):
        EXPERIMENTS["E2"](seeds=[1], quick=True, store=str(tmp_path), **TINY_TD)


def test_e1_and_e3_tiny_runs():
    from repdyn.proofs.experiments import EXPERIMENTS
    r = EXPERIMENTS["E1"](seeds=[0, 1], quick=True, n=40, hidden=(8, 8), T=2, steps=20,
                          probe_steps=10, batch=16)
    assert [len(r["summary"]["capacity_mean"][f]["none"]) for f in ("smooth", "high-frequency")] == [3, 3]
    assert set(r["summary"]) >= {"c11_capacity_loss", "c12_capacity_gain", "c12_rank_gain"}
    r = EXPERIMENTS["E3"](seeds=[0, 1], quick=True, T_dense=100, h1_features=3, **TINY_TD)
    assert set(r["summary"]["dense_error_mean"]) == {"none", "infer", "h1", "h2"}


def test_paired_effect_and_judges_can_fail():
    from repdyn.proofs.experiments import paired_effect
    from repdyn.proofs.neural import c13_ablation_outcome, judge
    e = paired_effect([1.0, 2.0, 3.0, 2.0, 2.0])
    # t_{0.975, 4} = 2.776; sd = 0.7071; half-width 2.776 * 0.7071 / sqrt(5) = 0.878
    assert e["mean"] == 2.0 and e["ci"] == pytest.approx([2 - 0.8779, 2 + 0.8779], abs=1e-3)
    assert e["significant_positive"] and e["significant_nonzero"]
    null = paired_effect([1.0, -1.0, 0.5, -0.5, 0.2])
    assert not null["significant_positive"] and not null["significant_nonzero"]
    assert judge({"x": e}, "").verdict == "holds"
    assert judge({"x": e, "y": null}, "").verdict == "not-reproduced"
    neg = paired_effect([-1.0, -2.0, -1.5, -1.2, -1.8])
    summ = dict(infer_gain_sparse=e, h1_vs_infer_sparse=e, infer_cost_dense=e, h2_recovery_dense=e,
                h2_removes_half_dense=e, h2_fraction_of_cost_removed=0.8,
                sparse=dict(late_error_mean={}), dense_error_mean={})
    cfg = dict(n=10, gamma=0.9, hidden=(8, 8), h1_features=3, infer=dict(k=3, beta=10.0, alpha=0.1))
    assert c13_ablation_outcome(summ, 5, cfg).verdict == "holds"
    # each sub-claim can break the verdict; H1 *better* than InFeR, or InFeR not helping, is
    # not "H1 fails to reproduce InFeR"; half the cost must be removed with a paired interval
    for key, bad in [("h2_removes_half_dense", null), ("h1_vs_infer_sparse", null),
                     ("h1_vs_infer_sparse", neg), ("infer_gain_sparse", neg),
                     ("infer_gain_sparse", null), ("infer_cost_dense", null)]:
        assert c13_ablation_outcome(dict(summ, **{key: bad}), 5, cfg).verdict == "not-reproduced", key


def test_shipped_digits_equal_scikit_learns():
    """The packaged array is scikit-learn's load_digits, value for value (exact: integers 0..16)."""
    sk = pytest.importorskip("sklearn.datasets")
    from repdyn.kernels.agent import load_digits
    images, labels = load_digits()
    d = sk.load_digits()
    assert np.array_equal(images * 16.0, d.data) and np.array_equal(labels, d.target)


def test_shipped_digits_load_without_scikit_learn(monkeypatch):
    import sys
    from repdyn.kernels import agent
    monkeypatch.setitem(sys.modules, "sklearn", None)         # import sklearn now fails
    monkeypatch.setattr(agent, "_DIGITS", {})
    images, labels = agent.load_digits()
    assert images.shape == (1797, 64) and images.dtype == np.float64
    assert set(np.unique(labels).tolist()) == set(range(10))
    assert np.all(images * 16.0 == np.round(images * 16.0)) and images.max() == 1.0


def test_digit_observations_show_their_class():
    from repdyn.kernels.agent import load_digits
    images, labels = load_digits()
    obs = observations(23, "digits", seed=0)
    assert obs.shape == (23, 64) and obs.min() >= 0 and obs.max() <= 1
    for s in range(23):
        match = np.flatnonzero(np.all(images == obs[s], axis=1))
        assert match.size >= 1 and np.all(labels[match] == s % 10)


def test_experiment_seed_argument():
    from repdyn.proofs.experiments import _seed_list
    assert _seed_list(3) == [0, 1, 2]
    assert _seed_list(range(2, 4)) == [2, 3]
    for bad in (0, [], "ab", None):
        with pytest.raises(ValueError, match="seeds"):
            _seed_list(bad)


def test_agent_log_flags_a_dead_network():
    """A first hidden layer with every bias at -1e3 (observations O(1)) is off on every state."""
    ag = _agent("none")
    assert ag.measure()["dead"] is False
    h = ag.net.arch.hidden[0]
    d_in = ag.net.arch.d_in
    ag.net.params[d_in * h:d_in * h + h] = -1e3
    assert ag.measure()["dead"] is True
