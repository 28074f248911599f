"""What the TD agent (kernels/agent.py) trains towards, recomputed independently (docs: theory/c13).

The agent's batch fitting call ``net._fit_batches(X, extra, Y, cw, opt, batches)`` is spied on;
for every call the regression targets ``Y`` and column weights ``cw`` are recomputed from the
module docstring's definition with the plain-numpy forward pass (:func:`repdyn.proofs.references.forward_numpy`):

    TD heads    y_bj = r_j(s_b) + gamma_j g_j(o(s'_b); theta^-)   (theta^- = params at the refresh)
    InFeR heads y_bj = beta g_j(o(s_b); theta_0),  c_j = alpha

and the sampled next states are tested against ``P`` with a chi-square test.
"""
import numpy as np
import pytest
from scipy import stats

from repdyn.analysis.mdp import random_walk_chain
from repdyn.kernels.agent import AgentConfig, TDAgent, observations
from repdyn.kernels.infer import InferConfig
from repdyn.proofs.references import forward_numpy as _forward_numpy

N, G, M = 12, 0.9, 3
AUX_WEIGHT, ALPHA, BETA = 0.7, 0.25, 3.0
R = np.random.default_rng(0).standard_normal(N)


def _spied_agent(aux, P=None, variant="base", sample_next=False, seed=2, **kw):
    """Agent whose fitting calls record (X, Y, cw, params at the call, batches).

    ``log_every`` is a multiple of ``target_update``, so every fitting call starts right at a
    target refresh: the target network's parameters are the parameters at the call."""
    P = random_walk_chain(N, 0.3) if P is None else P
    cfg = AgentConfig(aux=aux, variant=variant, hidden=(16, 16), n_aux=M, aux_weight=AUX_WEIGHT,
                      target_update=20, log_every=100, sample_next=sample_next, lr=1e-2,
                      infer=InferConfig(k=4, beta=BETA, alpha=ALPHA), **kw)
    obs = observations(P.shape[0], "random", seed=1, dim=8)
    ag = TDAgent(P, R[:P.shape[0]], G, obs, cfg, seed=seed)
    calls = []
    orig = ag.net._fit_batches

    def spy(X, extra, Y, cw, opt, batches):
        calls.append((X.copy(), Y.copy(), cw.copy(), ag.net.params.copy(), batches.copy()))
        return orig(X, extra, Y, cw, opt, batches)

    ag.net._fit_batches = spy
    return ag, obs, calls


def _states(X, obs):
    """Which state each row of X shows (random observations are distinct)."""
    match = np.all(X[:, None, :] == obs[None, :, :], axis=2)
    assert np.all(match.sum(axis=1) == 1)
    return match.argmax(axis=1)


def _expected_columns(ag, aux, n):
    """Independent per-column rewards (n, n_out), discounts and weights from the docstring."""
    n_out = ag.net.arch.n_out
    rew = np.zeros((n, n_out))
    rew[:, 0] = R[:n]
    gam = np.full(n_out, G)
    cw = np.ones(n_out)
    if aux in ("ensemble", "cumulants", "discounts"):
        cw[1:1 + M] = AUX_WEIGHT
        rew[:, 1:1 + M] = R[:n, None] if aux != "cumulants" else ag.cumulants
    if aux == "discounts":
        gam[1:1 + M] = G / 2 + np.arange(M) * (G / 2) / (M - 1)       # evenly spaced in [gamma/2, gamma]
    cols = np.arange(n_out - 4, n_out) if aux == "infer" else np.arange(0)
    cw[cols] = ALPHA
    return rew, gam, cw, cols


CASES = [("ensemble", "base"), ("cumulants", "base"), ("discounts", "base"), ("infer", "base"),
         ("infer", "h2"), ("none", "base")]


@pytest.mark.parametrize("aux,variant", CASES)
def test_expected_update_targets_and_column_weights(aux, variant):
    ag, obs, calls = _spied_agent(aux, variant=variant)
    ag.train(160)
    assert len(calls) == 8
    P = ag.P
    rew, gam, want_cw, cols = _expected_columns(ag, aux, N)
    out0 = _forward_numpy(np.array(ag.net.params0), ag.net.arch, obs)[0]
    td = np.setdiff1d(np.arange(ag.net.arch.n_out), cols)
    for X, Y, cw, params, _ in calls:
        s = _states(X, obs)
        out = _forward_numpy(params, ag.net.arch, obs)[0]
        want = rew[s] + gam * (P @ out)[s]
        np.testing.assert_allclose(Y[:, td], want[:, td], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(Y[:, cols], BETA * out0[s][:, cols], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(cw, want_cw)


def test_infer_columns_are_not_discounted_and_cumulants_are_fixed_normal():
    ag, _, _ = _spied_agent("infer")
    cols = ag.infer_cols
    assert list(cols) == list(range(1, 5))
    # the InFeR heads are regressions, not TD heads: discount 0 (their targets are overwritten
    # anyway, so this documents the intent the docstring states)
    np.testing.assert_array_equal(ag.gammas[cols], 0.0)
    ag, _, _ = _spied_agent("cumulants")
    C = ag.cumulants
    assert C.shape == (N, M)
    # r_m ~ N(0, 1) iid: mean within 5 s.e. of 0, variance within (chi2 bounds, 1e-6 each side)
    assert abs(C.mean()) < 5 / np.sqrt(C.size)
    lo, hi = stats.chi2.ppf([1e-6, 1 - 1e-6], C.size - 1) / (C.size - 1)
    assert lo < C.var(ddof=1) < hi
    assert not np.allclose(C, R[:, None])


def _sampled_next_states(ag, obs, calls, aux_cols):
    """Recover s' of every sampled transition from the bootstrap part of the targets."""
    S, S2 = [], []
    rew, gam, _, _ = _expected_columns(ag, ag.cfg.aux, N)
    for X, Y, cw, params, _ in calls:
        s = _states(X, obs)
        out = _forward_numpy(params, ag.net.arch, obs)[0]
        assert np.min(np.diff(np.sort(out[:, 0]))) > 1e-6        # the states are identifiable
        boot = (Y[:, 0] - rew[s, 0]) / gam[0]                       # = g_0(o(s'); theta^-)
        d = np.abs(boot[:, None] - out[None, :, 0])
        s2 = d.argmin(axis=1)
        assert np.max(d[np.arange(len(s)), s2]) < 1e-9
        # every TD column bootstraps from the same s'
        want = rew[s] + gam * out[s2]
        np.testing.assert_allclose(Y[:, aux_cols], want[:, aux_cols], rtol=1e-10, atol=1e-12)
        S.append(s)
        S2.append(s2)
    return np.concatenate(S), np.concatenate(S2)


def _chain_with_zeros(n, seed):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(n), size=n)
    P[rng.random((n, n)) < 0.3] = 0.0
    P[np.arange(n), rng.integers(0, n, n)] += 0.05                  # no empty row
    return P / P.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("which", ["walk", "dense"])
def test_sampled_next_states_follow_P(which):
    """Chi-square goodness of fit of the sampled (s, s') pairs to P(s, .), pooled over s.

    Seeded, so the outcome is deterministic; for a correct sampler the probability of a false
    alarm over the draw of seeds is 1e-6. A transition with P(s, s') = 0 fails at once."""
    P = random_walk_chain(N, 0.3) if which == "walk" else _chain_with_zeros(N, 7)
    ag, obs, calls = _spied_agent("discounts", P=P, sample_next=True, seed=11)
    ag.train(2000)
    s, s2 = _sampled_next_states(ag, obs, calls, np.arange(1 + M))
    assert s.size == 2000 * 32
    counts = np.zeros((N, N))
    np.add.at(counts, (s, s2), 1)
    assert counts[P == 0].sum() == 0, "s' sampled where P(s, s') = 0"
    n_s = counts.sum(axis=1)
    assert np.all(n_s > 100)
    E = n_s[:, None] * P
    sup = P > 0
    chi2 = np.sum((counts[sup] - E[sup]) ** 2 / E[sup])
    df = int(np.sum(sup.sum(axis=1) - 1))
    assert stats.chi2.sf(chi2, df) > 1e-6, (chi2, df)
