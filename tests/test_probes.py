"""Tests of kernels/probes.py: rank estimators on known spectra (C10), capacity probe (C11)."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from hypothesis.extra.numpy import arrays

from repdyn.kernels.nn import MLP, Architecture
from repdyn.kernels.probes import (capacity, dormant_fraction, effective_rank, feature_rank,
                            gram_rank_certified, make_targets, singular_values, srank,
                            stable_rank)

#: Singular values are recovered to O(u * sigma_max * min(n, d)); 1e-10 relative is ample.
SPEC_RTOL = 1e-10


def _with_spectrum(n, d, s, seed=0):
    """An n x d matrix whose scaled singular values (of F / sqrt(n)) are exactly s (up to rounding)."""
    rng = np.random.default_rng(seed)
    k = len(s)
    U = np.linalg.qr(rng.standard_normal((n, k)))[0]
    V = np.linalg.qr(rng.standard_normal((d, k)))[0]
    return np.sqrt(n) * (U * np.asarray(s, float)) @ V.T


# scaled singular values chosen away from eps = 0.01 by a factor >= 2
KNOWN_SPECTRUM = [3.0, 1.0, 0.5, 0.05, 0.021, 0.004, 1e-5, 0.0]
RANK_SPEC = 5


@pytest.mark.parametrize("n,d", [(2000, 20), (20, 2000), (30, 30), (8, 8), (50, 8)])
def test_feature_rank_known_spectrum(n, d):
    k = min(n, d, len(KNOWN_SPECTRUM))
    s = KNOWN_SPECTRUM[:k]
    F = _with_spectrum(n, d, s)
    np.testing.assert_allclose(singular_values(F)[:k], s, rtol=SPEC_RTOL, atol=1e-12)
    assert feature_rank(F) == sum(x > 0.01 for x in s)
    # the threshold is on F / sqrt(n): eps between two singular values moves the count by one
    assert feature_rank(F, eps=0.03) == sum(x > 0.03 for x in s)
    assert feature_rank(F, eps=0.6) == 2


def test_feature_rank_scaling_is_by_sqrt_n_and_uncentred():
    # n copies of the same row r: F / sqrt(n) has the single singular value |r|, whatever n
    r = np.array([0.02, 0.0, 0.0])
    for n in (1, 4, 400):
        assert feature_rank(np.tile(r, (n, 1))) == 1
        assert feature_rank(np.tile(r / 4, (n, 1))) == 0
    # uncentred: a constant feature counts (centring would remove it)
    assert feature_rank(np.ones((50, 1))) == 1


def test_feature_rank_zero_rank_deficient_and_single_row():
    assert feature_rank(np.zeros((100, 7))) == 0
    assert feature_rank(np.zeros((3, 70))) == 0
    assert feature_rank(np.zeros((5, 0))) == 0
    F = _with_spectrum(300, 40, [1.0, 1.0, 1.0])        # rank 3 exactly
    assert feature_rank(F) == 3
    assert feature_rank(np.array([[0.0, 3.0, 4.0]])) == 1


def test_feature_rank_validation():
    with pytest.raises(ValueError, match="features"):
        feature_rank(np.ones(5))
    with pytest.raises(ValueError, match="features"):
        feature_rank(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="features"):
        feature_rank(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="eps"):
        feature_rank(np.ones((2, 2)), eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        feature_rank(np.ones((2, 2)), eps=np.inf)


def test_gram_route_declines_near_threshold_and_at_huge_scale():
    # a singular value 1e-13 away from eps: the certificate must refuse, the answer stays right
    F = _with_spectrum(400, 10, [1.0, 0.01 * (1 + 1e-11), 0.5])
    assert gram_rank_certified(F) is None
    assert feature_rank(F) == int(np.sum(singular_values(F) > 0.01))
    # features at scale 1e9: the Gram rounding floor exceeds eps^2, so no certificate
    G = _with_spectrum(400, 10, [1e9, 1.0, 0.02])
    assert gram_rank_certified(G) is None
    assert feature_rank(G) == 3


@given(n=st.integers(1, 60), d=st.integers(1, 60), seed=st.integers(0, 2**31),
       scale=st.floats(1e-3, 1e3), spread=st.floats(0.0, 8.0))
def test_gram_route_identical_to_svd(n, d, seed, scale, spread):
    rng = np.random.default_rng(seed)
    k = min(n, d)
    s = scale * 10.0 ** (-spread * rng.random(k))
    F = _with_spectrum(n, d, s, seed)
    r_svd = int(np.sum(np.linalg.svd(F, compute_uv=False) / np.sqrt(n) > 0.01))
    r_gram = gram_rank_certified(F)
    assert r_gram is None or r_gram == r_svd
    assert feature_rank(F) == r_svd


@given(F=arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 12)),
                elements=st.floats(-10, 10)),
       c=st.floats(0.1, 10.0))
def test_rank_properties(F, c):
    s = singular_values(F)
    # stay away from the threshold where rounding could move one value across it
    assume(np.all(np.abs(s - 0.01) > 1e-6))
    r = feature_rank(F)
    assert 0 <= r <= min(F.shape)
    assert feature_rank(F, eps=0.02) <= r                     # monotone in eps
    assert feature_rank(np.vstack([F, F])) == r               # duplicating samples: same rank
    assert feature_rank(c * F, eps=0.01 * c) == r               # threshold scales with F
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((F.shape[1],) * 2))[0]
    assume(np.all(np.abs(singular_values(F @ Q) - 0.01) > 1e-6))
    assert feature_rank(F @ Q) == r                           # rotation invariant
    if s[0] > 1e-6:
        assert effective_rank(c * F) == pytest.approx(effective_rank(F), rel=1e-9)
        assert 1.0 - 1e-12 <= effective_rank(F) <= min(F.shape) + 1e-9
        assert 1.0 - 1e-12 <= stable_rank(F) <= min(F.shape) + 1e-9
        assert 1 <= srank(F) <= min(F.shape)


def test_effective_srank_stable_rank_on_known_spectra():
    F = _with_spectrum(100, 10, [1.0, 1.0, 1.0, 1.0])
    assert effective_rank(F) == pytest.approx(4.0, rel=SPEC_RTOL)
    assert stable_rank(F) == pytest.approx(4.0, rel=SPEC_RTOL)
    assert srank(F) == 4
    assert srank(F, delta=0.25) == 3          # 3/4 of the mass reaches 1 - 0.25 exactly
    s = np.array([4.0, 2.0, 1.0, 1.0])
    G = _with_spectrum(60, 6, s)
    p = s / s.sum()
    assert effective_rank(G) == pytest.approx(np.exp(-np.sum(p * np.log(p))), rel=SPEC_RTOL)
    assert stable_rank(G) == pytest.approx((16 + 4 + 1 + 1) / 16, rel=SPEC_RTOL)
    assert srank(G, delta=0.01) == 4
    assert srank(G, delta=0.2) == 3           # cumulative 4, 6, 7 of 8: 7/8 >= 0.8 > 6/8
    assert srank(G, delta=0.3) == 2           # 6/8 >= 0.7
    # srank is not the stable rank: they differ on this spectrum
    assert srank(G) != stable_rank(G)
    Z = np.zeros((4, 3))
    assert effective_rank(Z) == 0.0 and stable_rank(Z) == 0.0 and srank(Z) == 0
    with pytest.raises(ValueError, match="delta"):
        srank(G, delta=1.0)


def test_dormant_fraction():
    A = np.zeros((10, 4))
    A[:, 0] = 1.0
    A[:, 1] = 0.02                  # score 0.02 / mean(1, 0.02, 0, 0) = 0.0784
    assert dormant_fraction(A) == 0.5
    assert dormant_fraction(A, tau=0.1) == 0.75
    assert dormant_fraction(A, tau=0.05) == 0.5
    assert dormant_fraction(np.zeros((3, 5))) == 1.0
    with pytest.raises(ValueError, match="tau"):
        dormant_fraction(A, tau=-1)
    with pytest.raises(ValueError, match="activations"):
        dormant_fraction(np.ones(4))


def test_consistency_of_rho_n():
    # phi(x) = x ~ N(0, diag(lam)): E[phi phi^T] has eigenvalues lam; 3 lie above eps^2 = 1e-4
    lam = np.array([1.0, 0.1, 4e-4, 2.5e-5, 1e-6])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 5)) * np.sqrt(lam)
    assert feature_rank(X) == 3


def test_make_targets_families():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    for fam in ("random-network", "hash"):
        T = make_targets(X, fam, 3, seed=1)
        assert T.shape == (3, 64)
        np.testing.assert_allclose(T.mean(1), 0, atol=1e-12)
        np.testing.assert_allclose(T.std(1), 1, rtol=1e-12)
        assert np.array_equal(T, make_targets(X, fam, 3, seed=1))
        assert not np.array_equal(T[0], T[1])
    Xd = np.vstack([X, X[:3]])
    H = make_targets(Xd, "hash", 1, seed=2)[0]
    np.testing.assert_array_equal(H[-3:], H[:3])               # a function of the input
    hf = make_targets(X, "high-frequency", 2, seed=3, frequency=1e5, offset=False)
    assert np.all(np.abs(hf) <= 1.0)
    lab = np.arange(64) % 4
    P = make_targets(X, "permuted-labels", 2, seed=4, labels=lab)
    assert sorted(np.round(P[0], 9)) == sorted(np.round((lab - lab.mean()) / lab.std(), 9))
    with pytest.raises(ValueError, match="labels"):
        make_targets(X, "permuted-labels", 1, seed=0)
    with pytest.raises(ValueError, match="family"):
        make_targets(X, "bogus", 1, seed=0)


def test_make_targets_standardise_and_smooth_family():
    """standardise=True: every family has mean 0 and variance 1 per target (to rounding) and the
    high-frequency offset is gone; 'smooth' is 'random-network' under its experiment name; the
    target network's size is its own (a different width gives different targets)."""
    X = np.random.default_rng(0).standard_normal((300, 5))
    lab = np.arange(300) % 10
    for fam in ("smooth", "high-frequency", "hash", "permuted-labels"):
        T = make_targets(X, fam, 3, seed=1, standardise=True, labels=lab)
        np.testing.assert_allclose(T.mean(1), 0, atol=1e-12)
        np.testing.assert_allclose(T.std(1), 1, rtol=1e-12)
    raw = make_targets(X, "high-frequency", 1, seed=1, offset=False)[0]
    std = make_targets(X, "high-frequency", 1, seed=1, standardise=True)[0]
    np.testing.assert_allclose(std, (raw - raw.mean()) / raw.std(), rtol=1e-12, atol=1e-12)
    assert np.array_equal(make_targets(X, "smooth", 2, seed=4), make_targets(X, "random-network", 2, seed=4))
    assert not np.allclose(make_targets(X, "smooth", 1, seed=4, width=30),
                           make_targets(X, "smooth", 1, seed=4, width=256))
    # phase="standardised": sin(w z), z the target network's output standardised (written out)
    from repdyn.kernels.probes import _random_net_outputs
    f = _random_net_outputs(X, np.random.default_rng(5), 30, 2)
    z = (f - f.mean()) / f.std()
    y = np.sin(4.0 * z)
    got = make_targets(X, "high-frequency", 1, seed=5, frequency=4.0, phase="standardised", standardise=True)[0]
    np.testing.assert_allclose(got, (y - y.mean()) / y.std(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="phase"):
        make_targets(X, "high-frequency", 1, seed=0, phase="unit")
    with pytest.raises(ValueError, match="offset"):
        make_targets(X, "high-frequency", 1, seed=0, offset=True, standardise=True)
    with pytest.raises(ValueError, match="standardise"):
        make_targets(X, "smooth", 1, seed=0, standardise=False)
    with pytest.raises(ValueError, match="standardise"):
        make_targets(X, "smooth", 1, seed=0, standardise="yes")


def test_dead_units_against_explicit_activations():
    """dead_units: fraction of units zero on every row, per layer; a layer with every bias at
    -1e3 (inputs O(1)) is fully dead, and so is the network; tanh units are never exactly 0."""
    from repdyn.kernels.probes import dead_units, is_dead
    X = np.random.default_rng(0).standard_normal((50, 3))
    net = MLP(Architecture(3, (6, 4), 1), seed=0)
    W1, b1 = net.params[:18].reshape(3, 6), net.params[18:24]
    H1 = np.maximum(X @ W1 + b1, 0)
    assert dead_units(net, X)[0] == np.mean(np.all(H1 == 0, axis=0))
    net.params[18:21] = -1e3                                       # three of six units off
    assert dead_units(net, X)[0] == 0.5 and not is_dead(net, X)
    net.params[21:24] = -1e3
    assert dead_units(net, X) == [1.0, 1.0] and is_dead(net, X)   # layer 2 sees only zeros + bias
    tnet = MLP(Architecture(3, (6,), 1, activation="tanh"), seed=0)
    assert dead_units(tnet, X) == [0.0]


#: A 64-wide network fits a standardised smooth target to < 5% of its variance in 400 Adam
#: steps (measured ~0.005); with every ReLU dead only the head bias can move, so the error
#: stays at the target's variance 1 (the best constant).
CAN_FIT = 0.05
CANNOT_FIT = 0.95


def test_capacity_probe_can_and_cannot_fit():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8))
    T = make_targets(X, "random-network", 2, seed=1)
    net = MLP(Architecture(8, (64, 64), 1), seed=2)
    before = net.params.copy()
    c, per = capacity(net, X, T, n_steps=400, seed=3, return_all=True)
    assert c < CAN_FIT and per.shape == (2,)
    assert np.array_equal(net.params, before)               # probe does not touch the net
    dead = net.copy()
    dead.params[8 * 64:8 * 64 + 64] = -1e3                   # first-layer biases: all units dead
    assert capacity(dead, X, T, n_steps=400, seed=3) > CANNOT_FIT
    assert capacity(net, X, T, n_steps=400, seed=3) == c    # deterministic


def test_c10_registry_checks_hold_and_can_fail():
    from repdyn.proofs.neural import c10_consistency_outcome, c10_definitions_outcome
    assert c10_definitions_outcome().verdict == "holds"
    assert c10_consistency_outcome(quick=True).verdict == "holds"
    # a rank without the 1/sqrt(n) scaling, and a stable rank without squares, must be caught
    unscaled = lambda F: int(np.sum(np.linalg.svd(F, compute_uv=False) > 0.01))  # noqa: E731
    assert c10_definitions_outcome(dict(feature_rank=unscaled)).verdict == "fails"
    nosq = lambda F: float(np.sum(singular_values(F)) / max(singular_values(F)[0], 1e-300))  # noqa: E731
    assert c10_definitions_outcome(dict(stable_rank=nosq)).verdict == "fails"
    assert c10_consistency_outcome(unscaled, quick=True).verdict == "fails"


def _pnet():
    return MLP(Architecture(3, (4,), 2), seed=0)


_PX = np.random.default_rng(0).standard_normal((5, 3))
_PT = np.ones((1, 5))

BAD_PROBES = [
    ("head", lambda: capacity(_pnet(), _PX, _PT, head=1.5, seed=0)),
    ("head", lambda: capacity(_pnet(), _PX, _PT, head="a", seed=0)),
    ("head", lambda: capacity(_pnet(), _PX, _PT, head=True, seed=0)),
    ("head", lambda: capacity(_pnet(), _PX, _PT, head=2, seed=0)),
    ("head", lambda: capacity(_pnet(), _PX, _PT, head=-1, seed=0)),
    ("n_steps", lambda: capacity(_pnet(), _PX, _PT, n_steps=0, seed=0)),
    ("n_steps", lambda: capacity(_pnet(), _PX, _PT, n_steps=2.5, seed=0)),
    ("batch_size", lambda: capacity(_pnet(), _PX, _PT, batch_size=0, seed=0)),
    ("batch_size", lambda: capacity(_pnet(), _PX, _PT, batch_size=1.9, seed=0)),
    ("lr", lambda: capacity(_pnet(), _PX, _PT, lr=-1, seed=0)),
    ("lr", lambda: capacity(_pnet(), _PX, _PT, lr=float("nan"), seed=0)),
    ("net", lambda: capacity(None, _PX, _PT, seed=0)),
    ("targets", lambda: capacity(_pnet(), _PX, np.zeros((0, 5)), seed=0)),
    ("n_targets", lambda: make_targets(_PX, "hash", True, seed=0)),
    ("n_targets", lambda: make_targets(_PX, "hash", 2.0, seed=0)),
    ("n_targets", lambda: make_targets(_PX, "hash", 0, seed=0)),
    ("frequency", lambda: make_targets(_PX, "high-frequency", 1, seed=0, frequency=np.nan)),
    ("frequency", lambda: make_targets(_PX, "high-frequency", 1, seed=0, frequency=np.inf)),
    ("frequency", lambda: make_targets(_PX, "high-frequency", 1, seed=0, frequency=-1.0)),
    ("frequency", lambda: make_targets(_PX, "high-frequency", 1, seed=0, frequency="1e5")),
    ("offset", lambda: make_targets(_PX, "high-frequency", 1, seed=0, offset=2.0)),
    ("width", lambda: make_targets(_PX, "random-network", 1, seed=0, width=0)),
    ("width", lambda: make_targets(_PX, "random-network", 1, seed=0, width=3.5)),
    ("depth", lambda: make_targets(_PX, "random-network", 1, seed=0, depth=True)),
]


@pytest.mark.parametrize("name,call", BAD_PROBES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_PROBES)])
def test_probe_bad_inputs_raise_value_error_naming_the_argument(name, call):
    with pytest.raises(ValueError, match=name):
        call()


def _two_head_net(c0, c1):
    """Head weights 0 and biases (c0, c1): column j outputs the constant c_j on every input."""
    net = _pnet()
    a = net.arch
    net.params[a.n_body:a.n_body + a.head_in * a.n_out] = 0.0
    net.params[-2:] = (c0, c1)
    return net


def test_capacity_head_selects_the_column():
    """Column 0 outputs 3 (the target exactly), column 1 outputs -5. Fitting column 0: the
    gradient is exactly 0 at the start, Adam's update is 0/(0 + eps) = 0, so the error stays
    exactly 0. Fitting column 1: 5 Adam steps of lr 1e-3 move each of its 5 parameters by at
    most 5e-3, so its output moves by at most 5 * 5e-3 * (1 + max|phi|) and the error stays
    near (3 + 5)^2 = 64 (> 60 whatever phi is here). A probe that trains or reads the wrong
    column swaps the two numbers."""
    T = np.full((1, 5), 3.0)
    e0 = capacity(_two_head_net(3.0, -5.0), _PX, T, head=0, n_steps=5, seed=0)
    e1 = capacity(_two_head_net(3.0, -5.0), _PX, T, head=np.int64(1), n_steps=5, seed=0)
    assert e0 == 0.0
    assert 60.0 < e1 <= 64.0
    # and the other way round: column 1 fits, column 0 does not
    assert capacity(_two_head_net(-5.0, 3.0), _PX, T, head=1, n_steps=5, seed=0) == 0.0
    assert capacity(_two_head_net(-5.0, 3.0), _PX, T, head=0, n_steps=5, seed=0) > 60.0


def test_singular_values_exactly_at_eps_do_not_count():
    """rho_n counts sigma > eps strictly (docs: theory/c10). Diagonal features with rows a power
    of 4 have exactly representable scaled singular values (1, 0.25, 0.01, 0.01): rank 2 at
    eps = 0.01 on the SVD route (4 x 4) and on the Gram route's fallback (16 x 4, 64 x 4); just
    below eps they count."""
    for n in (4, 16, 64):
        F = np.zeros((n, 4))
        F[:4, :4] = np.diag(np.array([1.0, 0.25, 0.01, 0.01]) * np.sqrt(n))
        assert list(singular_values(F)) == [1.0, 0.25, 0.01, 0.01]
        assert feature_rank(F) == 2
        assert feature_rank(F, eps=0.25) == 1 and feature_rank(F, eps=np.nextafter(0.01, 0)) == 4
        assert feature_rank(F, eps=1.0) == 0


#: float32 probe against float64 from the same parameters and minibatches: unit roundoff
#: u32 = 6e-8; each step's forward/backward sums over <= 64 terms carry O(sqrt(64) u32) ~ 5e-7
#: relative error, and Adam's normalised step passes it on about linearly over a few steps.
F32_TOL_1_STEP = 2e-6
F32_TOL_10_STEPS = 2e-5


def test_capacity_float32_probe_tracks_float64():
    rng = np.random.default_rng(0)
    X = rng.random((128, 16))
    T = make_targets(X, "smooth", 2, seed=1)
    net = MLP(Architecture(16, (32, 32), 1), seed=2)
    for steps, tol in ((1, F32_TOL_1_STEP), (10, F32_TOL_10_STEPS)):
        e64 = capacity(net, X, T, n_steps=steps, batch_size=32, lr=1e-3, seed=3, return_all=True)[1]
        e32 = capacity(net, X, T, n_steps=steps, batch_size=32, lr=1e-3, seed=3, return_all=True,
                       dtype="float32")[1]
        assert np.all(np.abs(e32 - e64) <= tol * e64)
        assert np.any(e32 != e64)                          # really single precision
    with pytest.raises(ValueError, match="dtype"):
        capacity(net, X, T, n_steps=1, seed=0, dtype=np.float16)
