"""Tests of kernels/nn.py: gradients, optimisers against numpy references, determinism."""
import numpy as np
import pytest

from repdyn.kernels.nn import MLP, SGD, Adam, Architecture, init_params
from repdyn.proofs.references import (adam_numpy as _adam_numpy, forward_numpy as _forward_numpy,
                                      loss_grad_numpy as _loss_grad_numpy)

#: Jitted kernels and the numpy references do the same float64 operations up to BLAS
#: summation order: agreement to a few hundred ulps of the largest term.
KERNEL_RTOL = 1e-11
#: Central differences with h = 1e-6: truncation O(h^2 |L'''|) ~ 1e-12 plus rounding
#: O(u |L| / h) ~ 1e-10 on O(1) losses; 1e-6 leaves room and still catches any wrong term.
FD_TOL = 1e-6
FD_H = 1e-6

ARCHS = [
    Architecture(5, (7,), 3, activation="relu"),
    Architecture(5, (7, 6, 8), 4, n_extra=3, activation="relu"),
    Architecture(4, (6, 5), 2, n_extra=2, activation="tanh"),
]


def _data(arch, B=9, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, arch.d_in)), rng.standard_normal((B, arch.n_out)),
            rng.random(arch.n_out) + 0.1)


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{a.activation}{a.hidden}x{a.n_extra}")
def test_gradient_matches_finite_differences(arch):
    net = MLP(arch, seed=1)
    X, Y, cw = _data(arch)
    extra = net._extra(X)
    loss, g = net.loss_grad(X, Y, cw)
    fd = np.empty_like(g)
    for i in range(g.size):
        p = net.params.copy()
        p[i] += FD_H
        lp = _loss_grad_numpy(p, arch, X, Y, cw, extra)[0]
        p[i] -= 2 * FD_H
        lm = _loss_grad_numpy(p, arch, X, Y, cw, extra)[0]
        fd[i] = (lp - lm) / (2 * FD_H)
    assert np.abs(fd - g).max() <= FD_TOL * max(1.0, np.abs(g).max())
    # every parameter block is exercised (no identically-zero gradient slice by construction)
    assert np.count_nonzero(g) > g.size // 2


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{a.activation}{a.hidden}x{a.n_extra}")
def test_kernels_match_numpy_reference(arch):
    net = MLP(arch, seed=2)
    X, Y, cw = _data(arch, B=13, seed=3)
    extra = net._extra(X)
    out_ref, acts, _ = _forward_numpy(net.params, arch, X, extra)
    out, phi = net.forward_features(X)
    np.testing.assert_allclose(out, out_ref, rtol=KERNEL_RTOL, atol=KERNEL_RTOL * np.abs(out_ref).max())
    np.testing.assert_allclose(phi, acts[-1], rtol=KERNEL_RTOL, atol=1e-14)
    loss, g = net.loss_grad(X, Y, cw)
    loss_ref, g_ref = _loss_grad_numpy(net.params, arch, X, Y, cw, extra)
    assert loss == pytest.approx(loss_ref, rel=KERNEL_RTOL)
    np.testing.assert_allclose(g, g_ref, rtol=KERNEL_RTOL, atol=KERNEL_RTOL * np.abs(g_ref).max())


def test_adam_and_sgd_match_numpy_reference():
    arch = ARCHS[1]
    X, Y, cw = _data(arch, B=11, seed=4)
    net = MLP(arch, seed=5)
    p = net.params.copy()
    m = np.zeros_like(p); v = np.zeros_like(p)
    opt = Adam(lr=3e-3, b1=0.8, b2=0.99, eps=1e-7)
    extra = net._extra(X)
    for t in range(1, 6):
        g = _loss_grad_numpy(p, arch, X, Y, cw, extra)[1]
        p, m, v = _adam_numpy(p, g, m, v, t, 3e-3, 0.8, 0.99, 1e-7)
        net.step(X, Y, cw, opt)
    np.testing.assert_allclose(net.params, p, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(opt.m, m, rtol=1e-10, atol=1e-15)
    net2 = MLP(arch, seed=5)
    p = net2.params.copy()
    sgd = SGD(lr=0.05)
    for _ in range(5):
        p = p - 0.05 * _loss_grad_numpy(p, arch, X, Y, cw, extra)[1]
        net2.step(X, Y, cw, sgd)
    np.testing.assert_allclose(net2.params, p, rtol=1e-10, atol=1e-13)


def test_fit_loop_equals_python_loop_bitwise():
    arch = ARCHS[1]
    X, Y, cw = _data(arch, B=40, seed=6)
    a, b = MLP(arch, seed=7), MLP(arch, seed=7)
    la = a.fit(X, Y, cw, Adam(1e-2), 20, 8, seed=8)
    rng = np.random.default_rng(8)
    idx = rng.integers(0, 40, size=(20, 8))
    opt = Adam(1e-2)
    lb = [b.step(X[i], Y[i], cw, opt) for i in idx]
    assert np.array_equal(a.params, b.params)
    assert np.array_equal(la, np.array(lb))
    assert la[-1] < la[0]          # it learns


def test_same_seed_same_bits_and_frozen_initial_params():
    arch = ARCHS[1]
    X, Y, cw = _data(arch, B=30, seed=9)
    runs = []
    for _ in range(2):
        net = MLP(arch, seed=11)
        net.fit(X, Y, cw, Adam(1e-2), 15, 6, seed=12)
        runs.append(net)
    assert np.array_equal(runs[0].params, runs[1].params)
    assert np.array_equal(runs[0].extra_idx, runs[1].extra_idx)
    other = MLP(arch, seed=13)
    assert not np.array_equal(other.params0, runs[0].params0)
    # the frozen copy is the initialisation, read-only, and unchanged by training
    assert np.array_equal(runs[0].params0, init_params(arch, np.random.default_rng(11)))
    assert not runs[0].params0.flags.writeable
    assert not np.array_equal(runs[0].params, runs[0].params0)
    # frozen extra features are the initial penultimate features, also after training
    np.testing.assert_array_equal(runs[0]._extra(X), runs[0].initial_features(X)[:, runs[0].extra_idx])


def test_copy_is_independent():
    arch = ARCHS[0]
    X, Y, cw = _data(arch)
    net = MLP(arch, seed=0)
    c = net.copy()
    c.fit(X, Y, cw, Adam(1e-2), 5, 4, seed=1)
    assert np.array_equal(net.params, MLP(arch, seed=0).params)
    assert not np.array_equal(c.params, net.params)


@pytest.mark.parametrize("scheme,gain", [("he", 2.0), ("lecun", 1.0)])
def test_initialisation_variance(scheme, gain):
    arch = Architecture(200, (300,), 1)
    p = init_params(arch, seed=0, scheme=scheme)
    W = p[:200 * 300]
    # sample variance of N Gaussians has relative s.d. sqrt(2/N) = 0.6%; allow 6 s.d.
    assert np.var(W) == pytest.approx(gain / 200, rel=6 * np.sqrt(2 / W.size))
    assert np.all(p[200 * 300:200 * 300 + 300] == 0)


def test_torch_initialisation_is_uniform_with_fan_in_bound_for_every_layer():
    """PyTorch's nn.Linear default: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), head included."""
    from scipy import stats
    arch = Architecture(50, (80, 60), 30)
    p = init_params(arch, seed=3, scheme="torch")
    assert np.array_equal(p, init_params(arch, seed=3, scheme="torch"))     # same seed, same bits
    layers, head = __import__("repdyn.kernels.nn", fromlist=["_unpack"])._unpack(p, arch)
    for (W, b), fan_in in zip(layers + [head], (50, 80, 60)):
        bound = 1.0 / np.sqrt(fan_in)
        assert np.all(np.abs(W) <= bound) and np.all(np.abs(b) <= bound) and np.all(b != 0)
        # Kolmogorov-Smirnov against U(-bound, bound): p < 1e-4 happens by chance 1 in 1e4 per layer
        assert stats.kstest(W.ravel(), "uniform", args=(-bound, 2 * bound)).pvalue > 1e-4


def test_gaussian_schemes_keep_their_draw_order():
    """He / LeCun: per hidden layer N(0, gain/fan_in) then zero bias, the head LeCun; the bits
    follow from one standard-normal stream in layer order (written out independently here)."""
    arch = Architecture(3, (4, 5), 2)
    rng = np.random.default_rng(7)
    want = np.concatenate([rng.standard_normal(12) * np.sqrt(2 / 3), np.zeros(4),
                           rng.standard_normal(20) * np.sqrt(2 / 4), np.zeros(5),
                           rng.standard_normal(10) * np.sqrt(1 / 5), np.zeros(2)])
    assert np.array_equal(init_params(arch, seed=7, scheme="he"), want)
    assert np.array_equal(MLP(arch, seed=7, init="auto").params, want)
    with pytest.raises(ValueError, match="scheme must be one of"):
        MLP(arch, seed=0, init="kaiming")


def test_validation():
    with pytest.raises(ValueError, match="hidden"):
        Architecture(3, (), 1)
    with pytest.raises(ValueError, match="n_extra"):
        Architecture(3, (4,), 1, n_extra=5)
    with pytest.raises(ValueError, match="activation"):
        Architecture(3, (4,), 1, activation="gelu")
    net = MLP(Architecture(3, (4,), 2), seed=0)
    with pytest.raises(ValueError, match="X"):
        net.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="X"):
        net.forward(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="Y"):
        net.loss_grad(np.ones((2, 3)), np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="cw"):
        net.loss_grad(np.ones((2, 3)), np.ones((2, 2)), -np.ones(2))
    with pytest.raises(ValueError, match="lr"):
        Adam(lr=0.0)
    with pytest.raises(ValueError, match="seed|rng"):
        MLP(Architecture(3, (4,), 2))


def _net():
    return MLP(Architecture(3, (4,), 2), seed=0)


_XX, _YY, _CW = np.ones((5, 3)), np.zeros((5, 2)), np.ones(2)

BAD_NN = [
    ("hidden", lambda: Architecture(3, (True,), 1)),
    ("hidden", lambda: Architecture(3, (4.5,), 1)),
    ("hidden", lambda: Architecture(3, 5, 1)),
    ("hidden", lambda: Architecture(3, "44", 1)),
    ("n_extra", lambda: Architecture(3, (4,), 1, n_extra=True)),
    ("n_extra", lambda: Architecture(3, (4,), 1, n_extra=1.0)),
    ("d_in", lambda: Architecture(True, (4,), 1)),
    ("n_out", lambda: Architecture(3, (4,), 2.0)),
    ("n_steps", lambda: _net().fit(_XX, _YY, _CW, Adam(), 2.7, 2, seed=0)),
    ("n_steps", lambda: _net().fit(_XX, _YY, _CW, Adam(), "3", 2, seed=0)),
    ("n_steps", lambda: _net().fit(_XX, _YY, _CW, Adam(), None, 2, seed=0)),
    ("n_steps", lambda: _net().fit(_XX, _YY, _CW, Adam(), True, 2, seed=0)),
    ("n_steps", lambda: _net().fit(_XX, _YY, _CW, Adam(), -1, 2, seed=0)),
    ("batch_size", lambda: _net().fit(_XX, _YY, _CW, Adam(), 2, 1.9, seed=0)),
    ("batch_size", lambda: _net().fit(_XX, _YY, _CW, Adam(), 2, 0, seed=0)),
    ("opt", lambda: _net().fit(_XX, _YY, _CW, None, 2, 2, seed=0)),
    ("opt", lambda: _net().step(_XX, _YY, _CW, "adam")),
    ("batches", lambda: _net().fit_batches(_XX, _YY, _CW, Adam(), np.full((2, 2), 1.5))),
    ("b1", lambda: Adam(b1="x")),
    ("b1", lambda: Adam(b1=None)),
    ("b2", lambda: Adam(b2=1.0)),
    ("b1", lambda: Adam(b1=float("nan"))),
    ("eps", lambda: Adam(eps=0.0)),
    ("lr", lambda: SGD(lr=True)),
    ("lr", lambda: SGD(lr="1")),
    ("params", lambda: _net().forward(_XX, params=np.zeros(3))),
    ("params", lambda: _net().forward(_XX, params=np.full(_net().arch.n_params, np.nan))),
    ("params", lambda: _net().forward(_XX, params=np.zeros((2, 13)))),
    ("params", lambda: _net().forward(_XX, params="abc")),
]


@pytest.mark.parametrize("name,call", BAD_NN, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_NN)])
def test_bad_inputs_raise_value_error_naming_the_argument(name, call):
    with pytest.raises(ValueError, match=name):
        call()


def test_integer_like_arguments_that_are_valid_still_work():
    net = _net()
    assert len(net.fit(_XX, _YY, _CW, Adam(lr=1), np.int64(3), np.int32(2), seed=0)) == 3
    a = Architecture(np.int64(3), [np.int64(4)], np.int64(2), n_extra=np.int64(1))
    assert a.hidden == (4,) and type(a.hidden[0]) is int and type(a.n_extra) is int
    p = net.params.copy()
    np.testing.assert_array_equal(net.forward(_XX, params=list(p)), net.forward(_XX))
