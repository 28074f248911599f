"""Symbolic layer (analysis.symbolic, analysis.symbolic_limits) against the numeric closed forms.

Tolerances
----------
``REL`` = 1e-12, relative to the natural scale of the trajectory (``max|V0| + max|V*| + 1``):
the lambdified exact formula is evaluated in float64 (a handful of roundings per entry) and
``analysis.closed_form`` is accurate to ~1e-14 normwise, so 1e-12 leaves a factor ~100.
Near ``p + q -> 0`` the two-state formula divides by p + q: the difference
``(e^{-mu_1 t} - e^{-mu_2 t}) Pi`` cancels to a relative ~eps / (gamma t (p + q)). We restrict
the hypothesis domain to ``p + q >= 1e-3`` (error <= ~1e-13 there) and test ``p + q = 0``
(P = I) separately in exact arithmetic.
"""

import numpy as np
import pytest
import sympy as sp
from scipy.linalg import expm
from hypothesis import given, strategies as st

from repdyn.analysis import closed_form as cf
from repdyn.analysis import symbolic as S
from repdyn.analysis import symbolic_limits as L
from repdyn.analysis.spectral import rsbfs, grassmann_distance

REL = 1e-12
Q = sp.Rational
TS = np.array([0.0, 0.3, 1.0, 2.5, 7.0])


@pytest.fixture(scope="module")
def two_state():
    d = S.two_state_derivation()
    params = [d[k] for k in ("p", "q", "gamma", "R1", "R2", "V01", "V02")]
    return (S.lambdify_trajectory(d["td"], d["t"], params),
            S.lambdify_trajectory(d["mc"], d["t"], params))


def _f(M):
    return np.array(M.tolist(), dtype=float)


@given(p=st.floats(0, 1), q=st.floats(0, 1), gamma=st.floats(0, 0.99),
       R=st.lists(st.floats(-5, 5), min_size=2, max_size=2),
       V0=st.lists(st.floats(-5, 5), min_size=2, max_size=2))
def test_two_state_symbolic_matches_closed_form(two_state, p, q, gamma, R, V0):
    if p + q < 1e-3:
        p = q = 0.5e-3 + p                       # keep the domain p + q >= 1e-3 (module doc)
    td, mc = two_state
    P = np.array([[1 - p, p], [q, 1 - q]])
    Vs = cf.true_values(P, R, gamma)
    scale = np.max(np.abs(V0)) + np.max(np.abs(Vs)) + 1.0
    got = td(TS, p, q, gamma, *R, *V0)
    want = cf.td_values(P, R, gamma, V0, TS)
    np.testing.assert_allclose(got, want, rtol=REL, atol=REL * scale)
    np.testing.assert_allclose(mc(TS, p, q, gamma, *R, *V0), cf.mc_values(P, R, gamma, V0, TS),
                               rtol=REL, atol=REL * scale)


def test_two_state_derivation_is_structured():
    d = S.two_state_derivation()
    assert d["eigenvalues"] == (1, 1 - d["p"] - d["q"])
    P, Pi = d["P"], d["projector"]
    # Pi is the spectral projector of eigenvalue 1: Pi^2 = Pi, P Pi = Pi
    assert (Pi * Pi - Pi).applyfunc(sp.cancel) == sp.zeros(2, 2)
    assert (P * Pi - Pi).applyfunc(sp.cancel) == sp.zeros(2, 2)
    u = d["eigenvectors"][1]
    assert (P * u - (1 - d["p"] - d["q"]) * u).applyfunc(sp.expand) == sp.zeros(2, 1)


def test_identity_chain_p_plus_q_zero_exact():
    g, t = sp.Symbol("gamma"), sp.Symbol("t")
    E = S.semigroup(sp.eye(2), g, t)
    assert E == sp.exp(-t * (1 - g)) * sp.eye(2)


def _families():
    return {
        "birth-death 3": S.birth_death([Q(1, 2), Q(1, 3)], [Q(1, 4), Q(1, 5)]),
        "birth-death 4 (cubic, trig roots)": S.birth_death([Q(1, 2), Q(3, 10), Q(2, 5)],
                                                           [Q(1, 5), Q(2, 5), Q(1, 3)]),
        "random walk 4": S.birth_death([Q(1, 2)] * 3, [Q(1, 2)] * 3),
        "ring 5 (DFT)": S.circulant([Q(1, 5), Q(3, 5), 0, 0, Q(1, 5)]),
        "ring 4 (DFT)": S.circulant([Q(1, 10), Q(1, 2), Q(1, 5), Q(1, 5)]),
        "rank one": sp.Matrix([[Q(1, 3)] * 3] * 3),
        "defective": sp.Matrix([[1, 0, 0], [Q(1, 2), Q(1, 2), 0], [0, Q(1, 2), Q(1, 2)]]),
        "complex pair 3": sp.Matrix([[Q(1, 10), Q(9, 10), 0], [0, Q(1, 10), Q(9, 10)],
                                     [Q(9, 10), 0, Q(1, 10)]]),
        "complex pair 3 (cos/sin block)": sp.Matrix([[Q(1, 10), Q(9, 10), 0], [0, Q(1, 5), Q(4, 5)],
                                                     [Q(7, 10), 0, Q(3, 10)]]),
    }


@pytest.mark.parametrize("name", list(_families()))
def test_structured_families_symbolic_gamma(name):
    P = _families()[name]
    n = P.shape[0]
    g, t = sp.Symbol("gamma"), sp.Symbol("t")
    R = sp.Matrix([Q(i + 1, 3) for i in range(n)])
    V0 = sp.Matrix([Q((-1) ** i * (i + 2), 4) for i in range(n)])
    V = S.td_values(P, R, g, V0, t)
    for gamma in (0.5, 0.9):
        got = S.lambdify_trajectory(V, t, [g])(TS, gamma)
        want = cf.td_values(_f(P), _f(R).ravel(), gamma, _f(V0).ravel(), TS)
        scale = np.abs(want).max() + 1
        np.testing.assert_allclose(got, want, rtol=REL, atol=REL * scale)


def test_concrete_rational_6x6_with_quadratic_factors():
    # block-diagonal of three 2-state chains: charpoly (x-1)^3 (x-1/2)(x-3/10)(x+1/5)
    blocks = [S.two_state(Q(3, 10), Q(1, 5)), S.two_state(Q(1, 2), Q(1, 5)), S.two_state(Q(3, 5), Q(3, 5))]
    P = sp.diag(*blocks)
    # mix states so it is not block-structured to the eye: a permutation similarity
    perm = [3, 0, 5, 1, 4, 2]
    Pm = sp.Matrix(6, 6, lambda i, j: P[perm[i], perm[j]])
    t = sp.Symbol("t")
    R = sp.Matrix([1, 0, 2, -1, Q(1, 2), 0])
    V = S.td_values(Pm, R, Q(9, 10), sp.zeros(6, 1), t)
    got = S.lambdify_trajectory(V, t)(TS)
    want = cf.td_values(_f(Pm), _f(R).ravel(), 0.9, np.zeros(6), TS)
    np.testing.assert_allclose(got, want, rtol=REL, atol=REL * (np.abs(want).max() + 1))


def test_block_values_V0_matrix():
    P = S.two_state(Q(3, 10), Q(1, 5))
    t = sp.Symbol("t")
    V0 = sp.Matrix([[1, 2, 0], [0, -1, 3]])
    V = S.td_values(P, [1, 0], Q(9, 10), V0, t)
    assert V.shape == (2, 3)
    got = S.lambdify_trajectory(V, t)(TS)
    np.testing.assert_allclose(got, cf.td_values(_f(P), [1, 0], 0.9, _f(V0), TS), rtol=REL, atol=REL * 20)


def _generic_4x4():
    # characteristic polynomial (x - 1)(irreducible cubic with a complex pair)
    return sp.Matrix([[Q(1, 2), Q(1, 2), 0, 0], [Q(1, 2), 0, Q(1, 2), 0], [0, 0, 0, 1], [1, 0, 0, 0]])


@pytest.mark.parametrize("which", ["11x11", "symbolic 4x4"])
def test_bounded_time_refusal(which):
    rng = np.random.default_rng(11)
    g, t = sp.Symbol("gamma"), sp.Symbol("t")
    if which == "symbolic 4x4":
        a = sp.Symbol("a", positive=True)
        P = sp.Matrix([[1 - a, a, 0, 0], [0, 1 - a, a, 0], [Q(1, 2), 0, Q(1, 2), 0], [0, 0, a, 1 - a]])
    else:
        P, _ = S.rationalize(rng.dirichlet(np.ones(11), size=11), 1000, stochastic=True)
    with pytest.raises(S.SymbolicIntractableError):
        S.td_values(P, [1] * P.shape[0], g, [0] * P.shape[0], t)


def _root_sum_cases():
    rng = np.random.default_rng(11)
    B = sp.Matrix([[Q(1, 10), Q(9, 10), 0], [0, Q(1, 5), Q(4, 5)], [Q(7, 10), 0, Q(3, 10)]])
    out = {"x^3 - 1/2 (complex pair)": sp.Matrix([[0, 1, 0, 0], [0, 0, 1, 0], [Q(1, 2), 0, 0, Q(1, 2)],
                                                  [0, 0, 0, 1]]),
           "generic 4x4": _generic_4x4(),
           "repeated quadratic (x^2 + ...)^2": sp.diag(B, B)}
    for n in (5, 6, 8):
        out[f"random {n}"] = S.rationalize(rng.dirichlet(np.ones(n), size=n), 1000, stochastic=True)[0]
    return out


@pytest.mark.parametrize("name", list(_root_sum_cases()))
def test_root_sum_closed_forms_match_expm(name):
    """Irreducible factors of degree >= 3 (and repeated ones): exact RootSum forms. Checked
    against scipy's expm through sympy's own lambdify, evalf at a point, and V_0 = V0 exactly."""
    P = _root_sum_cases()[name]
    n = P.shape[0]
    t = sp.Symbol("t", nonnegative=True)
    R = sp.Matrix([Q((-1) ** i * (i + 1), 3) for i in range(n)])
    V0 = sp.Matrix([Q(i, 5) for i in range(n)])
    gamma = Q(9, 10)
    V = S.td_values(P, R, gamma, V0, t)
    assert V.subs(t, 0) == V0                               # exact: the root sums collapse
    A = np.eye(n) - 0.9 * _f(P)
    Vs = np.linalg.solve(A, _f(R).ravel())
    want = np.array([expm(-ti * A) @ (_f(V0).ravel() - Vs) + Vs for ti in TS])
    scale = np.abs(want).max() + 1
    f = sp.lambdify(t, V, "numpy")
    got = np.array([np.asarray(f(ti), dtype=float).ravel() for ti in TS])
    np.testing.assert_allclose(got, want, rtol=REL, atol=REL * scale)
    np.testing.assert_allclose(S.lambdify_trajectory(V, t)(TS), want, rtol=REL, atol=REL * scale)
    v = [float(e) for e in V.subs(t, Q(5, 2)).evalf(30)]   # real: no round-off imaginary part
    np.testing.assert_allclose(v, want[3], rtol=REL, atol=REL * scale)


def test_root_sum_block_with_a_defective_complex_pair():
    """The residue formula for f^m, m = 2: the companion matrix of (x^2 + 1/4)^2 is one Jordan
    block per root of a complex pair. Not stochastic, so the internal block routine is called
    directly with Pi = I, against scipy's expm."""
    x = S.X
    f = sp.Poly(x ** 2 + Q(1, 4), x)
    F = (f ** 2).all_coeffs()[::-1]                          # monic quartic
    C = sp.zeros(4, 4)
    for i in range(3):
        C[i + 1, i] = 1
    for i in range(4):
        C[i, 3] = -F[i]
    blk = S.SpectralBlock(f, 2, sp.eye(4))
    t, g = sp.Symbol("t", nonnegative=True), Q(1, 2)
    E = S._exp_on_block_rootsum(blk, C, g, t)
    fn = sp.lambdify(t, E, "numpy")
    Cf = _f(C)
    for ti in TS:
        np.testing.assert_allclose(np.asarray(fn(ti), dtype=float),
                                   expm(-ti * (np.eye(4) - 0.5 * Cf)), rtol=1e-12, atol=1e-12)


def test_root_sum_rational_case_matches_sympy():
    """RealRootSum's power-sum route for rational summands equals sympy's symmetric-function
    route (exact), including a symbolic parameter."""
    x, r, g = sp.symbols("x r g")
    for poly, fun in [(x ** 5 - x - 1, r / (r + 2)), (x ** 5 - x - 1, (r ** 4 + 1) / (r - 7)),
                      (x ** 3 - Q(1, 2), 1 / (1 - g * r)), (x ** 4 + 3 * x + 1, r ** 3)]:
        mine = S.RealRootSum(sp.Poly(poly, x), sp.Lambda(r, fun))
        ref = sp.RootSum(sp.Poly(poly, x), sp.Lambda(r, fun))
        assert sp.simplify(mine - ref) == 0


def test_spectral_blocks_exact_identities_generic_6x6():
    # where closed forms are refused, the exact spectral projectors still exist
    rng = np.random.default_rng(5)
    P, _ = S.rationalize(rng.dirichlet(np.ones(6), size=6), 1000, stochastic=True)
    blocks = S.spectral_blocks(P)
    assert blocks[0].factor.as_expr() == S.X - 1
    assert sum((b.projector for b in blocks), sp.zeros(6, 6)) == sp.eye(6)
    for b in blocks:
        assert b.projector * b.projector == b.projector
        assert S._polyval_matrix(b.factor ** b.multiplicity, P) * b.projector == sp.zeros(6, 6)


@pytest.mark.parametrize("bad, arg", [
    (dict(P=sp.Matrix([[1, 0, 0], [0, 1, 0]])), "P"),
    (dict(P=sp.Matrix([[Q(1, 2), Q(1, 3)], [0, 1]])), "P"),
    (dict(P=sp.Matrix([[Q(3, 2), Q(-1, 2)], [0, 1]])), "P"),
    (dict(P=np.array([[0.5, 0.5], [0.5, 0.5]])), "P"),
    (dict(P=sp.Matrix([[sp.Float(0.5), Q(1, 2)], [0, 1]])), "P"),
    (dict(gamma=1), "gamma"),
    (dict(gamma=Q(-1, 10)), "gamma"),
    (dict(t=-1), "t"),
    (dict(V0=[1, 2, 3]), "V0"),
    (dict(R=[1, 2, 3]), "R"),
])
def test_validation_names_argument(bad, arg):
    kw = dict(P=S.two_state(Q(3, 10), Q(1, 5)), R=[1, 0], gamma=Q(9, 10), V0=[0, 0], t=sp.Symbol("t"))
    kw.update(bad)
    with pytest.raises(ValueError, match=arg):
        S.td_values(**kw)
    if arg != "R":
        with pytest.raises(ValueError, match=arg):
            S.mc_values(**kw)


def test_symbolic_row_sum_check():
    a = sp.Symbol("a")
    with pytest.raises(ValueError, match="P"):
        S.as_transition(sp.Matrix([[1 - a, a], [a, 1]]))
    S.as_transition(sp.Matrix([[1 - a, a], [a, 1 - a]]))


def test_rationalize_is_exactly_stochastic():
    rng = np.random.default_rng(2)
    Pf = rng.dirichlet(np.ones(5), size=5)
    P, dev = S.rationalize(Pf, 10**6, stochastic=True)
    assert all(sum(P.row(i)) == 1 for i in range(5))
    assert dev < 2e-6


# ----------------------------------------------------------------------------- limits


def _mdps():
    return [(S.two_state(Q(3, 10), Q(1, 5)), sp.Matrix([1, 0])),
            (S.birth_death([Q(1, 2), Q(1, 3)], [Q(1, 4), Q(1, 5)]), sp.Matrix([0, 0, 1]))]


@pytest.mark.parametrize("W", [sp.Matrix([[1, -2, 1], [2, 1, 0]]),     # G > 0, irrational spectrum
                               sp.Matrix([[1], [3]]),                   # singular G (M < K)
                               sp.Matrix([[2, 1, 1], [1, 2, -1]])])     # rational spectrum
@pytest.mark.parametrize("k", [0, 1])
def test_finite_m_features_match_closed_form(W, k):
    P, R = _mdps()[k]
    n = P.shape[0]
    t = sp.Symbol("t")
    Phi0 = sp.Matrix(n, 2, lambda i, j: Q(i - j + 1, 3))
    gam = Q(9, 10)
    F = L.ensemble_features(P, R, gam, Phi0, W, Q(1, 2), t)
    got = S.lambdify_trajectory(F, t)(TS)
    want = cf.ensemble_features(_f(P), _f(R).ravel(), 0.9, _f(Phi0), _f(W), 0.5, TS)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11 * (np.abs(want).max() + 1))
    C = sp.Matrix(n, W.shape[1], lambda i, j: Q((-1) ** (i + j) * (i + 2 * j + 1), 5))
    F = L.random_cumulant_features(P, C, gam, Phi0, W, t)
    got = S.lambdify_trajectory(F, t)(TS)
    want = cf.random_cumulant_features(_f(P), _f(C), 0.9, _f(Phi0), _f(W), TS)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11 * (np.abs(want).max() + 1))


def test_limits_match_closed_form():
    P, R = _mdps()[1]
    g, t = sp.Symbol("gamma"), sp.Symbol("t")
    Phi0 = sp.Matrix([[1, 0], [0, 1], [Q(1, 2), -1]])
    eps = sp.Matrix([Q(1, 3), -2])
    Z = sp.Matrix([[1, 2], [0, -1], [Q(1, 2), 3]])
    Pf, Rf = _f(P), _f(R).ravel()
    for sym, num in (
            (L.ensemble_limit(P, R, g, Phi0, t), cf.ensemble_limit(Pf, Rf, 0.8, _f(Phi0), TS)),
            (L.ensemble_limit(P, R, g, Phi0, t, eps),
             cf.ensemble_limit(Pf, Rf, 0.8, _f(Phi0), TS, eps=_f(eps).ravel())),
            (L.random_cumulant_limit(P, Z, g, Phi0, t),
             cf.random_cumulant_limit(Pf, _f(Z), 0.8, _f(Phi0), TS))):
        got = S.lambdify_trajectory(sym, t, [g])(TS, 0.8)
        np.testing.assert_allclose(got, num, rtol=REL, atol=REL * (np.abs(num).max() + 1))


def test_phi_inf_covariance_and_rsbfs():
    P, _ = _mdps()[1]
    s = sp.symbols("s0:3", positive=True)
    Sig = sp.diag(*s)
    g = sp.Symbol("gamma")
    Cov = L.phi_inf_column_covariance(P, g, Sig)
    f = L.to_numpy(Cov, [g, *s])
    Pf = _f(P)
    vals = (0.9, 1.0, 2.0, 0.5)
    A = np.eye(3) - 0.9 * Pf
    Sn = np.diag(vals[1:])
    want = np.linalg.solve(A, np.linalg.solve(A, Sn).T).T
    np.testing.assert_allclose(f(*vals), want, rtol=1e-13)
    w, V = np.linalg.eigh(f(*vals))
    assert grassmann_distance(V[:, ::-1][:, :2], rsbfs(Pf, 0.9, 2, Sigma=Sn)) < 1e-10


def test_head_moments_textbook():
    for K in (1, 2, 4):
        for sc in ("i", "ii"):
            mo = L.ensemble_head_moments(K, scaling=sc)
            M = mo["M"]
            assert mo["E_G"] == sp.eye(K)
            # Wishart: Var(G_kl) = (1 + delta_kl)/M  =>  sum = K(K+1)/M
            assert sp.simplify(mo["E_frob_G_minus_I"] - K * (K + 1) / M) == 0
    assert L.ensemble_head_moments(2, scaling="ii")["s_cov"] == sp.eye(2)


def test_cumulant_covariance_flattenings_and_fourth_moment_vs_sympy_stats():
    from sympy.stats import E as Ex, Normal
    Sig = sp.Matrix([[2, 1], [1, 3]])
    K = 2
    assert L.cumulant_product_covariance(Sig, K, order="row") == sp.kronecker_product(Sig, sp.eye(K))
    assert L.cumulant_product_covariance(Sig, K, order="col") == sp.kronecker_product(sp.eye(K), Sig)
    # independent check of the fourth moment for M = 2 heads with sympy.stats
    M = 2
    r = [Normal(f"r{m}", 0, sp.sqrt(3)) for m in range(M)]
    w = [Normal(f"w{m}", 0, 1 / sp.sqrt(M)) for m in range(M)]
    z = sum(r[m] * w[m] for m in range(M))
    assert sp.simplify(Ex(z ** 4) - L.cumulant_product_fourth_moment(3, M)) == 0
    assert sp.simplify(Ex(z ** 2) - 3) == 0           # Var = Sigma_ii, for every M


def test_c8_limits_match_closed_form():
    Ps = [S.two_state(Q(3, 10), Q(1, 5)), S.two_state(Q(1, 2), Q(1, 10))]
    Rs = [sp.Matrix([1, 0]), sp.Matrix([0, 2])]
    eps = sp.Matrix([[1, Q(-1, 2)], [Q(1, 3), 2]])
    X = L.additional_policies_limit(Ps, Rs, Q(9, 10), eps)
    big = np.array([3000.0])              # exp(-t (1 - gamma)) = e^-300: the limit itself
    num = cf.multi_policy_limit(np.stack([_f(P) for P in Ps]), np.stack([_f(R).ravel() for R in Rs]),
                                0.9, np.zeros((2, 2)), big, eps=_f(eps))[0]
    np.testing.assert_allclose(L.to_numpy(X)(), num, rtol=1e-12)
    d = L.aux_task_limit("several_discounts", P=Ps[0], R=Rs[0], gammas=[Q(1, 2), Q(9, 10)], K=1)
    num = cf.multi_discount_limit(_f(Ps[0]), _f(Rs[0]).ravel(), [0.5, 0.9], np.zeros((2, 1)), big,
                                  eps=np.array([1.0]))[0]
    f = L.to_numpy(d["phi_inf"], list(d["eps"]))
    np.testing.assert_allclose(f(1.0), num, rtol=1e-12)


def test_talk_limit_equals_corrected_only_for_equal_rewards():
    Ps = [S.two_state(Q(3, 10), Q(1, 5)), S.two_state(Q(1, 2), Q(1, 10))]
    e = L.eps_symbols(1, 2)
    for Rs, same in (([sp.Matrix([1, 0])] * 2, True), ([sp.Matrix([1, 0]), sp.Matrix([0, 2])], False)):
        c1 = L.column_covariance(L.additional_policies_limit(Ps, Rs, Q(9, 10), e), list(e))
        c2 = L.column_covariance(L.talk_additional_policies_limit(Ps, Rs, Q(9, 10), e), list(e))
        assert ((c1 - c2).applyfunc(sp.simplify) == sp.zeros(2, 2)) == same


def test_symbolic_rates_birth_death_3():
    # birth-death chain with symbolic rates a (up) and b (down): quadratic factor with a symbolic
    # discriminant (sqrt kept; the numpy bridge evaluates it with complex-safe sqrt)
    a, b, g, t = sp.symbols("a b gamma t", positive=True)
    P = S.birth_death([a, a], [b, b])
    V = S.td_values(P, [0, 0, 1], g, [1, 0, -1], t)
    f = S.lambdify_trajectory(V, t, [a, b, g])
    for av, bv in ((0.3, 0.2), (0.45, 0.05)):
        Pn = np.array([[1 - av, av, 0], [bv, 1 - av - bv, av], [0, bv, 1 - bv]])
        want = cf.td_values(Pn, [0, 0, 1], 0.9, [1, 0, -1], TS)
        np.testing.assert_allclose(f(TS, av, bv, 0.9), want, rtol=REL, atol=REL * (np.abs(want).max() + 1))


def test_limits_validation_names_argument():
    P = S.two_state(Q(3, 10), Q(1, 5))
    t = sp.Symbol("t")
    Phi0 = sp.eye(2)
    with pytest.raises(ValueError, match="W"):
        L.ensemble_features(P, [1, 0], Q(9, 10), Phi0, sp.Matrix([[1, 2, 3]]), 1, t)
    with pytest.raises(ValueError, match="C"):
        L.random_cumulant_features(P, sp.ones(2, 3), Q(9, 10), Phi0, sp.ones(2, 2), t)
    with pytest.raises(ValueError, match="Z"):
        L.random_cumulant_limit(P, sp.ones(2, 3), Q(9, 10), Phi0, t)
    with pytest.raises(ValueError, match="eps"):
        L.ensemble_limit(P, [1, 0], Q(9, 10), Phi0, t, eps=[1, 2, 3])
    with pytest.raises(ValueError, match="Sigma"):
        L.phi_inf_column_covariance(P, Q(9, 10), sp.eye(3))
    with pytest.raises(ValueError, match="G"):
        L.linear_feature_flow(P, Q(9, 10), Phi0, sp.Matrix([[1, 2], [0, 1]]), sp.zeros(2, 2), t)
    with pytest.raises(ValueError, match="gamma"):
        L.ensemble_limit(P, [1, 0], Q(3, 2), Phi0, t)
    with pytest.raises(ValueError, match="scaling"):
        L.ensemble_head_moments(2, scaling="iii")
    with pytest.raises(ValueError, match="order"):
        L.cumulant_product_covariance(sp.eye(2), 2, order="diag")
    with pytest.raises(ValueError, match="task"):
        L.aux_task_limit("distillation", P=P, R=[1, 0], gamma=Q(9, 10))
    with pytest.raises(ValueError, match="singular"):
        L.random_cumulant_fixed_point(P, sp.ones(2, 1), Q(9, 10), sp.Matrix([[1], [2]]))
