"""Bad input (docs: contract): every public function raises ValueError naming the argument — no other
exception, never a result. A hypothesis test corrupts one argument of a valid call at a time."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from repdyn.analysis import closed_form as cf
from repdyn.analysis import spectral as spc
from repdyn.analysis.mdp import random_dirichlet
from repdyn.kernels import flows, probes

N, K, M = 4, 2, 3
_rng = np.random.default_rng(0)
_P = random_dirichlet(N, seed=2)          # real spectrum, simple: k = 2 is valid
VALID = {
    "P": _P, "R": _rng.standard_normal(N), "gamma": 0.9, "V0": _rng.standard_normal(N),
    "Phi0": _rng.standard_normal((N, K)), "W": _rng.standard_normal((K, M)), "alpha": 0.5,
    "t": np.array([0.0, 0.5, 2.0]), "C": _rng.standard_normal((N, M)),
    "Z": _rng.standard_normal((N, K)), "eps": _rng.standard_normal(K), "k": 2,
    "A": _rng.standard_normal((N, 2)), "B": _rng.standard_normal((N, 2)),
    "Ps": np.stack([_P, random_dirichlet(N, seed=2)]), "Rs": _rng.standard_normal((2, N)),
    "gammas": np.array([0.5, 0.9]), "Sigma": np.eye(N),
    "beta": 0.0, "dt": 0.01, "n_steps": 5, "record_every": 1,
    "features": _rng.standard_normal((10, 3)), "rank_eps": 0.01,
}
#: The name the error message must contain when it differs from the key above.
MSG_NAME = {"rank_eps": "eps"}

#: (function, argument names in call order, keyword arguments)
FUNCTIONS = [
    (spc.principal_angles, ["A", "B"]),
    (spc.grassmann_distance, ["A", "B"]),
    (spc.ebfs, ["P", "k"]),
    (spc.rsbfs, ["P", "gamma", "k", "Sigma"]),
    (cf.td_values, ["P", "R", "gamma", "V0", "t"]),
    (cf.mc_values, ["P", "R", "gamma", "V0", "t"]),
    (cf.ensemble_features, ["P", "R", "gamma", "Phi0", "W", "alpha", "t"]),
    (cf.ensemble_limit, ["P", "R", "gamma", "Phi0", "t", "eps"]),
    (cf.random_cumulant_features, ["P", "C", "gamma", "Phi0", "W", "t"]),
    (cf.random_cumulant_limit, ["P", "Z", "gamma", "Phi0", "t"]),
    (cf.multi_policy_limit, ["Ps", "Rs", "gamma", "Phi0", "t"]),
    (cf.multi_discount_limit, ["P", "R", "gammas", "Phi0", "t", "eps"]),
    (flows.simulate_ensemble, ["P", "R", "gamma", "Phi0", "W", "alpha", "beta", "dt", "n_steps",
                               "record_every"]),
    (flows.simulate_random_cumulants, ["P", "C", "gamma", "Phi0", "W", "dt", "n_steps", "record_every"]),
    (probes.feature_rank, ["features", "rank_eps"]),
]


def _nan_at(x, i):
    x = np.array(x, dtype=float, copy=True)
    x.flat[i % x.size] = np.nan
    return x


#: A column count that only has to match another argument's: dropping a column is an error
#: only when one of these is in the call.
COUPLED_COLS = {"Phi0": ("W", "Z", "eps"), "W": ("C",), "C": ("W",), "Z": ("Phi0",)}


def _bad_values(name, draw, args=()):
    """Corruptions of argument ``name`` (each must be rejected in a call with ``args``)."""
    v = VALID[name]
    bad = []
    if name in ("P",):
        neg = v.copy(); neg[0, 0] -= 0.5; neg[0, 1] += 0.5 + 0.0 * neg[0, 1]
        neg[0] = v[0]; neg[0, 0], neg[0, 1] = -0.1, v[0, 0] + v[0, 1] + 0.1
        bad += [v[:, :-1], v * 1.01, neg, _nan_at(v, draw(st.integers(0, 15))),
                v[None], np.zeros((0, 0)), v + 1e-8, "P"]
    elif name == "Ps":
        bad += [v[:, :, :-1], v * 0.5, _nan_at(v, 3), []]
    elif name in ("gamma",):
        bad += [1.0, -0.1, np.nan, np.inf, 1.5, "0.9", None, True]
    elif name == "gammas":
        bad += [np.array([0.5, 1.0]), np.array([]), np.array([[0.5]]), np.array([np.nan])]
    elif name == "t":
        bad += [np.array([0.0, -1.0]), np.array([np.nan]), np.ones((2, 2)), np.array([np.inf])]
    elif name == "k":
        bad += [0, N + 1, 1.5, -1, "2", True]
    elif name in ("alpha", "beta", "dt", "rank_eps"):
        bad += [-1.0, np.nan, np.inf, "a"] + ([0.0] if name == "dt" else [])
    elif name in ("n_steps", "record_every"):
        bad += [-1, 2.5, "3", None] + ([0] if name == "record_every" else [])
    elif name == "features":
        bad += [_nan_at(v, 2), v[0], np.zeros((0, 3)), v[None], "features"]
    elif name == "Sigma":
        bad += [np.eye(N + 1), -np.eye(N), np.triu(np.ones((N, N))), _nan_at(np.eye(N), 0)]
    elif name in ("A", "B"):
        rd = v.copy(); rd[:, 1] = 2 * rd[:, 0]
        bad += [rd, _nan_at(v, 1), np.zeros((N, 2)), np.ones((N, 2, 2)), v[:-1] if name == "B" else np.zeros((0, 1))]
    else:   # vectors and matrices with a fixed shape
        a = np.asarray(v)
        bad += [_nan_at(a, draw(st.integers(0, a.size - 1))), np.concatenate([a, a[:1]], axis=0)]
        if a.ndim == 2:
            if name not in COUPLED_COLS or set(COUPLED_COLS[name]) & set(args):
                bad.append(a[:, :-1] if a.shape[1] > 1 else a[:, :0])
            bad.append(a[:, :, None])
        elif name == "V0":                      # (n,) and (n, K) are both valid
            bad.append(a[:, None, None] * np.ones((1, 2, 2)))
        else:
            bad.append(a[:, None] * np.ones((1, 3)))
    if isinstance(v, np.ndarray):          # complex: a float64 cast would drop the imaginary part
        bad.append(v + 1e-3j)
    return bad


@pytest.mark.parametrize("func,args", FUNCTIONS, ids=[f.__name__ for f, _ in FUNCTIONS])
@given(data=st.data())
def test_bad_input_raises_value_error_naming_the_argument(func, args, data):
    name = data.draw(st.sampled_from(args))
    values = _bad_values(name, data.draw, args)
    bad = data.draw(st.sampled_from(values))
    call = [VALID[a] for a in args]
    call[args.index(name)] = bad
    with pytest.raises(ValueError) as info:
        func(*call)
    msg = str(info.value)
    # the message names the argument (or its element, e.g. "Ps[0]", "gammas[1]")
    name = MSG_NAME.get(name, name)
    assert name in msg or (name in ("A", "B") and ("A" in msg or "B" in msg)), msg


@pytest.mark.parametrize("func,args", FUNCTIONS, ids=[f.__name__ for f, _ in FUNCTIONS])
def test_valid_call_succeeds(func, args):
    out = func(*[VALID[a] for a in args])
    for part in (out if isinstance(out, tuple) else (out,)):
        assert np.all(np.isfinite(part))


def test_unstable_step_raises_instead_of_returning_nan():
    """RK4 on dPhi/dt = -A Phi G with G = 100 and dt = 1 is far outside its stability region:
    the simulators must refuse to return the overflowed trajectory."""
    P = np.full((3, 3), 1 / 3)
    with pytest.raises(flows.UnstableStepError, match="dt"):      # a ValueError subclass
        flows.simulate_ensemble(P, np.ones(3), 0.5, np.ones((3, 1)), 10 * np.ones((1, 1)), 1.0,
                                0.0, 1.0, 200, 50)
    with pytest.raises(ValueError, match="dt"):
        flows.simulate_random_cumulants(P, np.ones((3, 1)), 0.5, np.ones((3, 1)),
                                        10 * np.ones((1, 1)), 1.0, 200, 50)
    # the same flow with a stable step decays to its fixed point
    _, Phi, _ = flows.simulate_ensemble(P, np.zeros(3), 0.5, np.ones((3, 1)), 10 * np.ones((1, 1)),
                                        1.0, 0.0, 1e-3, 200, 50)
    assert np.all(np.isfinite(Phi))


@pytest.mark.parametrize("func,args", FUNCTIONS, ids=[f.__name__ for f, _ in FUNCTIONS])
def test_complex_input_is_refused_not_truncated(func, args):
    for name in args:
        if not isinstance(VALID[name], np.ndarray):
            continue
        call = [VALID[a] for a in args]
        call[args.index(name)] = VALID[name] + 1e-3j
        with pytest.raises(ValueError, match="must be real"):
            func(*call)
