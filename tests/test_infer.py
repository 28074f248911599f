"""Tests of kernels/infer.py: the InFeR loss (C12) and its ablation architectures."""
import numpy as np
import pytest

from repdyn.kernels.infer import (InferConfig, build, infer_columns, infer_loss, infer_objective, infer_targets,
                                  variant_architecture)
from repdyn.kernels.nn import Adam
from repdyn.proofs.references import forward_numpy as _forward_numpy


def _X(n=40, d=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def test_infer_loss_matches_an_independent_numpy_computation():
    """infer_loss = mean_x sum_i (g_i(x; theta) - beta g_i(x; theta_0))^2, recomputed with the
    plain-numpy forward pass at theta_0 and after training has moved theta away from theta_0."""
    net, cols = build("infer", 6, (16, 12), 1, seed=1)
    X = _X()
    g0 = _forward_numpy(np.array(net.params0), net.arch, X)[0][:, cols]
    for beta in (1.0, 100.0):
        want = (beta - 1.0) ** 2 * np.mean(np.sum(g0 ** 2, axis=1))
        assert infer_loss(net, X, cols, beta) == pytest.approx(want, rel=1e-10, abs=1e-300)
        np.testing.assert_allclose(infer_targets(net, X, cols, beta), beta * g0, rtol=1e-12)
    net.fit(X, np.ones((X.shape[0], net.arch.n_out)), np.ones(net.arch.n_out), Adam(1e-2), 20, 8, seed=0)
    g = _forward_numpy(net.params, net.arch, X)[0][:, cols]
    assert not np.allclose(g, g0)
    for beta in (1.0, 3.0):
        want = np.mean(np.sum((g - beta * g0) ** 2, axis=1))
        assert want > 0 and infer_loss(net, X, cols, beta) == pytest.approx(want, rel=1e-10)


def test_infer_objective_is_main_mse_plus_alpha_infer_loss():
    """With the (Y, cw) of infer_objective and a main target f in column 0, the network's loss
    is MSE(g_0, f) + alpha * L_InFeR (both recomputed with the numpy forward pass)."""
    cfg = InferConfig(k=3, beta=7.0, alpha=0.3)
    net, cols = build("infer", 6, (16, 12), 1, seed=2, cfg=cfg)
    X = _X(seed=1)
    net.fit(X, np.ones((X.shape[0], net.arch.n_out)), np.ones(net.arch.n_out), Adam(1e-2), 15, 8, seed=0)
    Y, cw = infer_objective(net, X, cols, cfg)
    f = np.sin(X[:, 0])
    Y[:, 0] = f
    g = _forward_numpy(net.params, net.arch, X)[0]
    g0 = _forward_numpy(np.array(net.params0), net.arch, X)[0][:, cols]
    want = np.mean((g[:, 0] - f) ** 2) + 0.3 * np.mean(np.sum((g[:, cols] - 7.0 * g0) ** 2, axis=1))
    assert net.loss_grad(X, Y, cw)[0] == pytest.approx(want, rel=1e-10)
    plain, none_cols = build("none", 6, (16, 12), 1, seed=2, cfg=cfg)
    Y0, cw0 = infer_objective(plain, X, none_cols, cfg)
    assert np.all(Y0 == 0) and cw0.tolist() == [1.0]
    with pytest.raises(ValueError, match="cfg"):
        infer_objective(net, X, cols, dict(k=3))


def _states(X, obs):
    match = np.all(X[:, None, :] == obs[None, :, :], axis=2)
    assert np.all(match.sum(axis=1) == 1)
    return match.argmax(axis=1)


def test_infer_training_loss_and_gradient_vanish_at_init_when_beta_is_one():
    """beta = 1: the InFeR targets/weights the agent builds give loss 0 and gradient exactly 0
    at theta_0; beta = 2: loss = alpha * mean_s sum_i (g_i - 2 g_i)^2 (closed form, numpy)."""
    from repdyn.analysis.mdp import random_walk_chain
    from repdyn.kernels.agent import AgentConfig, TDAgent, observations
    N, G, ALPHA = 12, 0.9, 0.25
    R = np.random.default_rng(0).standard_normal(N)
    P = random_walk_chain(N, 0.3)
    obs = observations(N, "random", seed=1, dim=8)
    for beta in (1.0, 2.0):
        cfg = AgentConfig(aux="infer", hidden=(16, 16), infer=InferConfig(k=4, beta=beta, alpha=ALPHA))
        ag = TDAgent(P, R, G, obs, cfg, seed=3)
        calls = []
        orig = ag.net._fit_batches
        ag.net._fit_batches = lambda X, e, Y, cw, o, b: (calls.append((X.copy(), Y.copy(), cw.copy())), orig(X, e, Y, cw, o, b))[1]
        ag.train(1)
        Xb, Yb, cwb = calls[0]
        assert Yb.shape[0] == 32
        cols = ag.infer_cols
        # the InFeR part of the training loss on all n states, with the training code's targets
        # (the rows of the first batch, placed at their states) and column weights
        cw = np.zeros_like(cwb)
        cw[cols] = cwb[cols]
        s = _states(Xb, obs)
        assert np.unique(s).size == N
        Y = np.zeros((N, ag.net.arch.n_out))
        Y[s[:, None], cols[None, :]] = Yb[:, cols]
        net = ag.net.copy()
        net.params = np.array(ag.net.params0)
        loss, grad = net.loss_grad(obs, Y, cw)
        g = _forward_numpy(np.array(ag.net.params0), ag.net.arch, obs)[0][:, cols]
        if beta == 1.0:
            assert loss == 0.0 and np.all(grad == 0.0)
        else:
            closed = ALPHA * np.mean(np.sum((g - 2.0 * g) ** 2, axis=1))
            assert closed > 0 and loss == pytest.approx(closed, rel=1e-12)
            assert np.any(grad != 0.0)


def test_training_on_infer_targets_reduces_the_loss():
    net, cols = build("infer", 6, (16, 12), 1, seed=2, cfg=InferConfig(k=4))
    X = _X(seed=3)
    Y = np.zeros((X.shape[0], net.arch.n_out))
    Y[:, cols] = infer_targets(net, X, cols, 10.0)
    cw = np.zeros(net.arch.n_out)
    cw[cols] = 1.0
    before = infer_loss(net, X, cols, 10.0)
    net.fit(X, Y, cw, Adam(1e-2), 300, 20, seed=4)
    assert infer_loss(net, X, cols, 10.0) < 0.1 * before


def test_ablation_shapes():
    cfg = InferConfig(k=10)
    a, c = variant_architecture("none", 8, (32, 32), 3, cfg)
    assert a.n_out == 3 and c.size == 0 and a.n_extra == 0 and a.width == 32
    a, c = variant_architecture("infer", 8, (32, 32), 3, cfg)
    assert a.n_out == 13 and list(c) == list(range(3, 13)) and a.width == 32
    a, c = variant_architecture("h2", 8, (32, 32), 3, cfg)     # doubled width, same heads
    assert a.hidden == (32, 64) and a.n_out == 13 and list(c) == list(range(3, 13))
    a, c = variant_architecture("h1", 8, (32, 32), 3, cfg)     # frozen initial features, no InFeR
    assert a.n_extra == 10 and a.head_in == 42 and a.n_out == 3 and c.size == 0
    a, _ = variant_architecture("h1", 8, (32, 32), 3, cfg, h1_features=5)
    assert a.n_extra == 5
    net, cols = build("infer", 8, (32, 32), 3, seed=0, cfg=cfg)
    assert list(infer_columns(net, 10)) == list(cols)


def test_h1_head_sees_frozen_initial_features():
    net, _ = build("h1", 6, (16,), 1, seed=5, h1_features=4)
    X = _X(seed=6)
    Y = np.ones((X.shape[0], 1))
    f0 = net._extra(X)
    net.fit(X, Y, np.ones(1), Adam(1e-2), 50, 10, seed=7)
    np.testing.assert_array_equal(net._extra(X), f0)            # frozen
    assert not np.array_equal(net.features(X)[:, net.extra_idx], f0)  # the live ones moved


BAD_INFER = [
    ("cols", lambda n, X: infer_loss(n, X, [99], 1.0)),
    ("cols", lambda n, X: infer_loss(n, X, [-1], 1.0)),
    ("cols", lambda n, X: infer_loss(n, X, [1.5], 1.0)),
    ("cols", lambda n, X: infer_loss(n, X, [], 1.0)),
    ("cols", lambda n, X: infer_loss(n, X, [1, 1], 1.0)),
    ("cols", lambda n, X: infer_targets(n, X, [True], 1.0)),
    ("cols", lambda n, X: infer_targets(n, X, [[1]], 1.0)),
    ("beta", lambda n, X: infer_loss(n, X, [1], float("nan"))),
    ("beta", lambda n, X: infer_loss(n, X, [1], float("inf"))),
    ("beta", lambda n, X: infer_targets(n, X, [1], -1.0)),
    ("beta", lambda n, X: infer_targets(n, X, [1], "2")),
    ("net", lambda n, X: infer_loss(None, X, [1], 1.0)),
    ("k", lambda n, X: infer_columns(n, 2.5)),
    ("k", lambda n, X: infer_columns(n, True)),
    ("k", lambda n, X: infer_columns(n, 99)),
    ("hidden", lambda n, X: variant_architecture("infer", 3, (4.5,), 1)),
    ("hidden", lambda n, X: variant_architecture("h2", 3, (True,), 1)),
    ("h1_features", lambda n, X: variant_architecture("h1", 3, (4,), 1, h1_features=2.5)),
    ("h1_features", lambda n, X: variant_architecture("h1", 3, (4,), 1, h1_features=True)),
    ("n_main", lambda n, X: variant_architecture("infer", 3, (4,), 1.0)),
    ("d_in", lambda n, X: variant_architecture("infer", 3.0, (4,), 1)),
    ("cfg", lambda n, X: variant_architecture("infer", 3, (4,), 1, dict(k=2))),
    ("k", lambda n, X: InferConfig(k=True)),
    ("alpha", lambda n, X: InferConfig(alpha=-0.1)),
]


@pytest.mark.parametrize("name,call", BAD_INFER, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_INFER)])
def test_bad_inputs_raise_value_error_naming_the_argument(name, call):
    net, _ = build("infer", 6, (8,), 1, seed=0, cfg=InferConfig(k=3))
    with pytest.raises(ValueError, match=name):
        call(net, _X())


def test_config_validation():
    with pytest.raises(ValueError, match="k"):
        InferConfig(k=0)
    with pytest.raises(ValueError, match="beta"):
        InferConfig(beta=float("nan"))
    with pytest.raises(ValueError, match="variant"):
        variant_architecture("h3", 3, (4,), 1)
