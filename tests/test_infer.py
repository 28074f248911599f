"""Tests of kernels/infer.py: the InFeR loss (C12) and its ablation architectures."""
import numpy as np
import pytest

from kernels.infer import InferConfig, build, infer_columns, infer_loss, infer_targets, variant_architecture
from kernels.nn import Adam


def _X(n=40, d=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def test_infer_loss_zero_at_init_with_beta_one_and_closed_form_otherwise():
    net, cols = build("infer", 6, (16, 12), 1, seed=1)
    X = _X()
    assert infer_loss(net, X, cols, beta=1.0) == 0.0
    g0 = net.forward(X)[:, cols]
    # at theta = theta_0 the loss is (beta - 1)^2 E sum_i g_i(x; theta_0)^2
    expected = 99.0 ** 2 * np.mean(np.sum(g0 ** 2, axis=1))
    assert infer_loss(net, X, cols, beta=100.0) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(infer_targets(net, X, cols, 100.0), 100.0 * g0)


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


def test_config_validation():
    with pytest.raises(ValueError, match="k"):
        InferConfig(k=0)
    with pytest.raises(ValueError, match="beta"):
        InferConfig(beta=float("nan"))
    with pytest.raises(ValueError, match="variant"):
        variant_architecture("h3", 3, (4,), 1)
