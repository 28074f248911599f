"""Reference checks of the kernels the claims rest on (docs: architecture, docs: contract).

A claim's verdict is only as good as the code that computes it: a wrong sign in a jitted
right-hand side, a ReLU mask off at zero or Adam without bias correction can leave an
empirical claim ``not-reproduced`` (exit 0) or even ``holds``. Every check here recomputes
what one kernel computes by an independent route written in a few lines of numpy/scipy in
this module (never the kernel's own twin), on a small fixed problem, and returns ``holds`` or
``fails`` — so a wrong kernel makes ``repdyn verify --quick`` exit 1. Each check is attached
to the claim whose verdict uses the kernel.

==========  ===============================================================================
claim       kernel checked (reference)
==========  ===============================================================================
C1          ``flows.simulate_values`` TD and MC, RK4 and Euler (``scipy.linalg.expm``;
            Euler: the exact one-step map ``(I - dt A)^k``)
C4          ``flows.simulate_linear_fa`` / ``simulate_ensemble`` with beta > 0, RK4 and
            Euler (a numpy integrator of the right-hand side written head by head), and that
            numpy RK4 against ``scipy.integrate.solve_ivp`` (DOP853, rtol 1e-12)
C10         ``probes.feature_rank`` / ``singular_values`` / ``srank`` / ``stable_rank`` /
            ``effective_rank`` on matrices with singular values exactly at eps (strict ``>``)
C11         MLP forward (numpy), loss gradient (central differences), Adam (bias-corrected,
            numpy) and SGD, the ReLU mask at exactly zero, ``probes.capacity`` (the trained
            column and its targets: a numpy replay of the probe)
C12         ``infer.infer_targets`` (``beta g(x; theta_0)``) and ``infer.infer_loss``
C3          ``spectral.eigenvalues`` / ``alignment_rate`` / ``ebfs`` / ``rsbfs`` /
            ``principal_angles`` (np.linalg.eigvals, svd, scipy.linalg.subspace_angles)
C5          ``flows.draw_heads`` / ``draw_cumulants`` (moments of 40000 draws, seeding)
C9          ``value_improvement.policy_matrices`` / ``policy_values`` / ``greedy_policy`` and
            one soft policy-iteration step (loops over states and actions, ``np.linalg.solve``)
C12         the E1 trainer's InFeR targets and column weights (captured from its fit calls)
C13         ``agent.TDAgent`` regression targets and column weights (TD(0) with a target
            network, auxiliary heads, InFeR heads)
==========  ===============================================================================

Cost: about 1 s together, warm (numba caches on disk).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from repdyn.proofs.registry import Context, Outcome, check

__all__ = ["flow_values_outcome", "learned_flow_outcome", "rank_boundary_outcome",
           "mlp_outcome", "optimiser_outcome", "capacity_outcome", "infer_outcome",
           "agent_targets_outcome", "value_improvement_outcome", "e1_training_outcome",
           "spectral_outcome", "draws_outcome"]

EPS = np.finfo(float).eps
#: Two implementations of the same fixed-step scheme (same dt, same arithmetic up to the order
#: of the floating-point sums) differ only by rounding: ~n_steps * eps * (state size) relative.
#: 200 steps: ~1e-13; 1e-10 leaves three decades and still sees any wrong term (O(dt) or more).
SAME_SCHEME_RTOL = 1e-10
#: RK4 against the exact solution at dt = 1e-2 over t <= 2 with ||A|| <= 2: global error
#: <= t (||A|| dt)^5 / 120 / dt * e^{...} ~ 1e-9 relative; 1e-7 leaves a margin; an O(dt) or
#: O(dt^2) error (a wrong stage weight) is >= 1e-5.
RK4_EXACT_RTOL = 1e-7
#: solve_ivp (DOP853) at rtol = atol = 1e-12 vs the numpy RK4 at dt = 5e-3 over t = 1 with
#: a Lipschitz constant of order 3: RK4 error ~ (3 dt)^4 ~ 5e-8 (same bound as above); 1e-6.
RK4_IVP_RTOL = 1e-6
#: Central differences of the loss with step h: truncation h^2 |f'''| / 6 ~ 1e-11 and
#: rounding eps |f| / h ~ 2e-11 at h = 1e-5 for O(1) losses and derivatives; relative to
#: the gradient's norm 1e-6 leaves a wide margin and misses no wrong term (O(1) relative).
FD_STEP = 1e-5
FD_RTOL = 1e-6
#: Training replays (Adam/SGD over a few steps) amplify rounding differences by the steps'
#: conditioning; 1e-9 relative over <= 20 steps.
REPLAY_RTOL = 1e-9


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _outcome(rows: dict, tol, what: str) -> Outcome:
    """``rows``: name -> (measured relative error, tolerance) or a failure message string."""
    bad = [f"{k}: {v}" if isinstance(v, str) else f"{k}: {v[0]:.3g} > {v[1]:.3g}"
           for k, v in rows.items() if isinstance(v, str) or not v[0] <= v[1]]
    worst = max((v[0] for v in rows.values() if not isinstance(v, str)), default=0.0)
    return Outcome("fails" if bad else "holds", measured=worst, predicted=0.0, tolerance=tol,
                   reason=("kernel disagrees with its independent reference: " + "; ".join(bad))
                   if bad else what,
                   evidence={k: (v if isinstance(v, str) else {"rel_err": v[0], "tol": v[1]})
                             for k, v in rows.items()})


def _small_mdp(seed: int, n: int = 6):
    rng = np.random.default_rng([seed, 4242, n])
    P = rng.random((n, n)) ** 3
    P /= P.sum(axis=1, keepdims=True)
    R = rng.standard_normal(n)
    return P, R, 0.8, rng


# ----------------------------------------------------------------------------- C1 value flow


def flow_values_outcome(simulate=None, seed: int = 0) -> Outcome:
    """``simulate_values`` (TD, MC; RK4, Euler) against expm / the exact Euler map."""
    from repdyn.kernels import flows
    simulate = simulate or flows.simulate_values
    P, R, g, rng = _small_mdp(seed)
    n = P.shape[0]
    A = np.eye(n) - g * P
    Vs = np.linalg.solve(A, R)
    V0 = rng.standard_normal((n, 2)) * 3
    dt, steps = 1e-2, 200
    rows = {}
    for flow, gen in (("td", A), ("mc", np.eye(n))):
        t, V = simulate(P, R, g, V0, dt, steps, 50, method="rk4", flow=flow)
        want = np.stack([sla.expm(-tk * gen) @ (V0 - Vs[:, None]) + Vs[:, None] for tk in t])
        rows[f"{flow} rk4 vs expm"] = (_rel(V, want), RK4_EXACT_RTOL)
        t, V = simulate(P, R, g, V0, dt, steps, 50, method="euler", flow=flow)
        step = np.eye(n) - dt * gen             # Euler: X_{k+1} - V* = (I - dt gen)(X_k - V*)
        want = np.stack([np.linalg.matrix_power(step, int(round(tk / dt))) @ (V0 - Vs[:, None])
                         + Vs[:, None] for tk in t])
        rows[f"{flow} euler vs (I - dt A)^k"] = (_rel(V, want), SAME_SCHEME_RTOL)
        if not np.allclose(t, dt * np.arange(0, steps + 1, 50), rtol=0, atol=1e-12):
            rows[f"{flow} times"] = f"times {t} are not 0, 50 dt, 100 dt, ..."
    return _outcome(rows, {"rk4": RK4_EXACT_RTOL, "euler": SAME_SCHEME_RTOL},
                    "TD and MC value flows (RK4 and Euler) equal expm / the exact Euler map")


@check("C1", "kernel: value-flow RK4/Euler = expm and the exact Euler map", method="numeric",
       quick=True)
def _k_values(ctx: Context) -> Outcome:
    return flow_values_outcome(seed=ctx.seed)


# ----------------------------------------------------------------------------- C4 learned heads


def _learned_rhs_numpy(P, R, g, alpha, beta, Phi, W):
    """Ensemble flow written head by head: delta_m = R + gamma P Phi w_m - Phi w_m,
    dPhi = alpha sum_m delta_m w_m^T, dw_m = beta Phi^T delta_m."""
    dPhi = np.zeros_like(Phi)
    dW = np.zeros_like(W)
    for m in range(W.shape[1]):
        w = W[:, m]
        delta = R + g * (P @ (Phi @ w)) - Phi @ w
        dPhi += alpha * np.outer(delta, w)
        dW[:, m] = beta * (Phi.T @ delta)
    return dPhi, dW


def _integrate_numpy(f, Phi, W, dt, steps, method):
    for _ in range(steps):
        if method == "euler":
            a, b = f(Phi, W)
            Phi, W = Phi + dt * a, W + dt * b
            continue
        k1 = f(Phi, W)
        k2 = f(Phi + dt / 2 * k1[0], W + dt / 2 * k1[1])
        k3 = f(Phi + dt / 2 * k2[0], W + dt / 2 * k2[1])
        k4 = f(Phi + dt * k3[0], W + dt * k3[1])
        Phi = Phi + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        W = W + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return Phi, W


def learned_flow_outcome(ensemble=None, linear_fa=None, seed: int = 0) -> Outcome:
    """The learned-head kernels (ensemble with beta > 0, linear FA) against a numpy integrator
    of the head-by-head right-hand side (same scheme, same dt: rounding only), and that numpy
    RK4 against ``solve_ivp`` (DOP853) — so the reference itself is checked."""
    from scipy.integrate import solve_ivp
    from repdyn.kernels import flows
    ensemble = ensemble or flows.simulate_ensemble
    linear_fa = linear_fa or flows.simulate_linear_fa
    P, R, g, rng = _small_mdp(seed, 5)
    n, K, M = 5, 2, 3
    Phi0 = rng.standard_normal((n, K)) * 0.5
    W0 = rng.standard_normal((K, M)) * 0.5
    w0 = rng.standard_normal(K) * 0.5
    alpha, beta, dt, steps = 0.7, 0.4, 5e-3, 200
    f = lambda Ph, W: _learned_rhs_numpy(P, R, g, alpha, beta, Ph, W)   # noqa: E731
    rows = {}
    for method in ("rk4", "euler"):
        _, Ph, Ws = ensemble(P, R, g, Phi0, W0, alpha, beta, dt, steps, steps, method=method)
        rP, rW = _integrate_numpy(f, Phi0, W0, dt, steps, method)
        rows[f"ensemble beta>0 {method}"] = (max(_rel(Ph[-1], rP), _rel(Ws[-1], rW)), SAME_SCHEME_RTOL)
        _, Ph, ws = linear_fa(P, R, g, Phi0, w0, alpha, beta, dt, steps, steps, method=method)
        rP, rw = _integrate_numpy(f, Phi0, w0[:, None], dt, steps, method)
        rows[f"linear FA {method}"] = (max(_rel(Ph[-1], rP), _rel(ws[-1], rw[:, 0])), SAME_SCHEME_RTOL)
    # the numpy RK4 itself against an adaptive high-order integrator
    def vec_rhs(_, y):
        a, b = f(y[:n * K].reshape(n, K), y[n * K:].reshape(K, M))
        return np.concatenate([a.ravel(), b.ravel()])
    sol = solve_ivp(vec_rhs, (0.0, dt * steps), np.concatenate([Phi0.ravel(), W0.ravel()]),
                    method="DOP853", rtol=1e-12, atol=1e-12)
    rP, rW = _integrate_numpy(f, Phi0, W0, dt, steps, "rk4")
    rows["numpy RK4 vs solve_ivp"] = (_rel(np.concatenate([rP.ravel(), rW.ravel()]), sol.y[:, -1]),
                                      RK4_IVP_RTOL)
    return _outcome(rows, {"same scheme": SAME_SCHEME_RTOL, "vs solve_ivp": RK4_IVP_RTOL},
                    "learned-head ensemble (beta > 0) and linear-FA kernels, RK4 and Euler, equal a "
                    "head-by-head numpy integrator; that RK4 equals solve_ivp (DOP853)")


@check("C4", "kernel: learned-head / linear-FA flow = numpy integrator = solve_ivp",
       method="numeric", quick=True)
def _k_learned(ctx: Context) -> Outcome:
    return learned_flow_outcome(seed=ctx.seed)


# ----------------------------------------------------------------------------- C10 rank boundary


def rank_boundary_outcome(estimators=None) -> Outcome:
    """Estimators on matrices whose scaled singular values are exactly representable, with two
    of them exactly at eps = 0.01 (``feature_rank`` counts ``sigma > eps``: they do not count);
    square (SVD route) and tall 16 x 4 and 64 x 4 (Gram route declines near eps: SVD fallback)."""
    from repdyn.kernels import probes
    est = estimators or {"feature_rank": probes.feature_rank, "srank": probes.srank,
                         "stable_rank": probes.stable_rank, "effective_rank": probes.effective_rank,
                         "singular_values": probes.singular_values}
    s = np.array([1.0, 0.25, 0.01, 0.01, 0.001])
    rows = {}
    for n in (4, 16, 64):
        d = 4
        sv = s[:d]
        F = np.zeros((n, d))
        F[:d, :d] = np.diag(sv * np.sqrt(n))     # sqrt(n) a power of 2: exact
        p = sv / sv.sum()
        want = {"feature_rank": 2, "srank": int(np.argmax(np.cumsum(sv) >= 0.99 * sv.sum()) + 1),
                "stable_rank": float(np.sum(sv ** 2) / sv[0] ** 2),
                "effective_rank": float(np.exp(-np.sum(p * np.log(p)))),
                "singular_values": sv}
        for k, fn in est.items():
            got = fn(F)
            if k in ("feature_rank", "srank"):
                rows[f"{k} {n}x{d}"] = (0.0, 0.0) if got == want[k] else f"{got} != {want[k]}"
            else:
                rows[f"{k} {n}x{d}"] = (_rel(got, want[k]), 1e-12)
        # srank at an exact tie: four equal singular values, delta = 1/4: the partial sums
        # reach (1 - delta) of the total exactly at k = 3
        T4 = np.zeros((n, d))
        T4[:d, :d] = np.eye(d) * np.sqrt(n)
        got = probes.srank(T4, 0.25) if "srank" in est else 3
        rows[f"srank tie {n}x{d}"] = (0.0, 0.0) if got == 3 else f"srank(delta=1/4) = {got} != 3"
        # a numpy SVD count with strict '>' on a generic matrix of the same sizes
        G = np.random.default_rng([n, 10]).standard_normal((n, d)) * np.array([1, 0.1, 0.02, 0.003])
        ref = int(np.sum(np.linalg.svd(G, compute_uv=False) / np.sqrt(n) > 0.01))
        got = est["feature_rank"](G)
        rows[f"feature_rank generic {n}x{d}"] = (0.0, 0.0) if got == ref else f"{got} != SVD count {ref}"
    return _outcome(rows, 1e-12, "rank estimators equal numpy SVD definitions, including "
                    "singular values exactly at eps (not counted: strict >)")


@check("C10", "kernel: rank estimators at sigma = eps exactly (strict >) and vs numpy SVD",
       method="exact", quick=True)
def _k_rank(ctx: Context) -> Outcome:
    return rank_boundary_outcome()


# ----------------------------------------------------------------------------- C11 network


def _np_forward(params, dims, n_out, act, X, extra=None):
    """Independent forward pass from the documented layout (W_l row-major (fan_in, fan_out),
    then b_l; the head last, reading [phi, extra])."""
    po, A, acts = 0, X, []
    for i, o in zip(dims[:-1], dims[1:]):
        W = params[po:po + i * o].reshape(i, o); po += i * o
        b = params[po:po + o]; po += o
        Z = A @ W + b
        A = np.where(Z > 0, Z, 0.0) if act == "relu" else np.tanh(Z)
        acts.append(A)
    H = A if extra is None or extra.shape[1] == 0 else np.hstack([A, extra])
    hi = H.shape[1]
    Wh = params[po:po + hi * n_out].reshape(hi, n_out); po += hi * n_out
    return H @ Wh + params[po:po + n_out], acts


def _np_loss(params, dims, n_out, act, X, Y, cw, extra=None):
    out, _ = _np_forward(params, dims, n_out, act, X, extra)
    return float(np.sum(cw * (out - Y) ** 2) / X.shape[0])


def _fd_grad(f, p, h=FD_STEP):
    g = np.empty_like(p)
    for i in range(p.size):
        e = np.zeros_like(p)
        e[i] = h
        g[i] = (f(p + e) - f(p - e)) / (2 * h)
    return g


def mlp_outcome(seed: int = 0) -> Outcome:
    """MLP forward vs numpy, loss and gradient vs central differences (ReLU and tanh, with
    frozen extra features), and the ReLU convention relu'(0) = 0: at inputs and biases 0 every
    first-layer pre-activation is exactly 0, so the first-layer gradient must be exactly 0."""
    from repdyn.kernels.nn import Architecture, MLP
    rng = np.random.default_rng([seed, 77])
    rows = {}
    for act, n_extra in (("relu", 0), ("tanh", 1), ("relu", 2)):
        arch = Architecture(3, (5, 4), 3, n_extra=n_extra, activation=act)
        net = MLP(arch, seed=seed + 3)
        net.params[:] = net.params + 0.1 * rng.standard_normal(net.params.size)  # nonzero biases
        X = rng.standard_normal((7, 3))
        Y = rng.standard_normal((7, 3))
        cw = np.array([1.0, 0.5, 2.0])
        extra = net._extra(X) if n_extra else None
        if n_extra:       # the frozen extra features are phi(x; theta_0)[:, idx]
            _, acts0 = _np_forward(np.asarray(net.params0), arch.dims, 3, act, X, None)
            rows[f"{act} extra = phi0[:, idx]"] = (_rel(extra, acts0[-1][:, net.extra_idx]), 1e-13)
        out = net.forward(X)
        want, acts = _np_forward(net.params, arch.dims, 3, act, X, extra)
        rows[f"{act} forward (n_extra {n_extra})"] = (_rel(out, want), 1e-13)
        rows[f"{act} features"] = (_rel(net.features(X), acts[-1]), 1e-13)
        loss, grad = net.loss_grad(X, Y, cw)
        f = lambda p: _np_loss(p, arch.dims, 3, act, X, Y, cw, extra)   # noqa: E731
        rows[f"{act} loss"] = (abs(loss - f(net.params)) / abs(f(net.params)), 1e-13)
        fd = _fd_grad(f, net.params.copy())
        rows[f"{act} gradient vs central differences (n_extra {n_extra})"] = (
            float(np.max(np.abs(grad - fd)) / np.max(np.abs(fd))), FD_RTOL)
    # relu'(0) = 0 convention
    arch = Architecture(2, (3,), 1)
    net = MLP(arch, seed=seed)
    net.params[6:9] = 0.0                          # first-layer biases
    X0 = np.zeros((2, 2))
    _, grad = net.loss_grad(X0, np.ones((2, 1)), np.ones(1))
    if np.any(grad[:9] != 0.0):
        rows["relu mask at z = 0"] = (f"first-layer gradient {grad[:9]} != 0 at pre-activation "
                                      "exactly 0 (convention relu'(0) = 0)")
    else:
        rows["relu mask at z = 0"] = (0.0, 0.0)
    return _outcome(rows, {"forward": 1e-13, "gradient": FD_RTOL},
                    "MLP forward = numpy, gradient = central differences (ReLU, tanh, frozen extra "
                    "features), relu'(0) = 0")


def _np_adam(p, g, m, v, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), m, v


def optimiser_outcome(seed: int = 0) -> Outcome:
    """``MLP.step`` and ``MLP.fit_batches`` with Adam (bias-corrected) and SGD against a numpy
    replay of the update rule. The replay's gradients come from ``MLP.loss_grad`` at the
    replayed parameters (checked independently by :func:`mlp_outcome`), so this check isolates
    the optimisers and the jitted training loop (minibatch gathering, step count)."""
    from repdyn.kernels.nn import Adam, Architecture, MLP, SGD
    rng = np.random.default_rng([seed, 78])
    arch = Architecture(3, (4,), 2)
    X = rng.standard_normal((6, 3))
    Y = rng.standard_normal((6, 2))
    cw = np.array([1.0, 0.3])
    rows = {}
    for name, make in (("adam", lambda: Adam(1e-2, 0.8, 0.95, 1e-6)), ("sgd", lambda: SGD(0.05))):
        net = MLP(arch, seed=seed + 5)
        ref = net.copy()
        opt = make()
        p, m, v = ref.params.copy(), np.zeros(arch.n_params), np.zeros(arch.n_params)
        batches = rng.integers(0, 6, size=(6, 3))
        for s in range(3):                       # three single steps
            net.step(X[batches[s]], Y[batches[s]], cw, opt)
            ref.params[:] = p
            _, g = ref.loss_grad(X[batches[s]], Y[batches[s]], cw)
            if name == "adam":
                p, m, v = _np_adam(p, g, m, v, s + 1, 1e-2, 0.8, 0.95, 1e-6)
            else:
                p = p - 0.05 * g
        net.fit_batches(X, Y, cw, opt, batches[3:])   # then three inside the jitted loop
        for s in range(3, 6):
            ref.params[:] = p
            _, g = ref.loss_grad(X[batches[s]], Y[batches[s]], cw)
            if name == "adam":
                p, m, v = _np_adam(p, g, m, v, s + 1, 1e-2, 0.8, 0.95, 1e-6)
            else:
                p = p - 0.05 * g
        rows[f"{name} 6 steps"] = (_rel(net.params, p), REPLAY_RTOL)
        if name == "adam":
            rows["adam step count"] = (0.0, 0.0) if opt.t == 6 else f"t = {opt.t} after 6 steps"
            first = MLP(arch, seed=seed + 5)    # step 1 moves every weight with g != 0 by ~lr
            p0 = first.params.copy()
            _, g0 = first.loss_grad(X[:3], Y[:3], cw)
            first.step(X[:3], Y[:3], cw, Adam(1e-2, 0.8, 0.95, 1e-6))
            mv = np.abs(first.params - p0)[np.abs(g0) > 1e-3]
            rows["adam first step ~ lr (bias correction)"] = (_rel(mv, np.full(mv.shape, 1e-2)), 1e-3)
    return _outcome(rows, REPLAY_RTOL, "Adam (bias-corrected) and SGD steps, single and inside "
                    "the jitted loop, equal a numpy replay; Adam's first step moves each weight by lr")


@check("C11", "kernel: MLP forward/gradient (central differences), relu'(0) = 0",
       method="numeric", quick=True)
def _k_mlp(ctx: Context) -> Outcome:
    return mlp_outcome(seed=ctx.seed)


@check("C11", "kernel: Adam (bias-corrected) and SGD = numpy replay", method="numeric", quick=True)
def _k_opt(ctx: Context) -> Outcome:
    return optimiser_outcome(seed=ctx.seed)


def capacity_outcome(capacity=None, seed: int = 0) -> Outcome:
    """``probes.capacity`` replayed in numpy: a copy of the net, fresh Adam(lr), minibatches drawn
    ``rng.integers(0, n, (n_steps, B))`` per target, loss on column ``head`` only (targets f
    there), final MSE of that column over X; the net passed in is unchanged."""
    from repdyn.kernels import probes
    from repdyn.kernels.nn import Architecture, MLP
    capacity = capacity or probes.capacity
    rng = np.random.default_rng([seed, 79])
    net = MLP(Architecture(3, (6,), 3), seed=seed + 7)
    X = rng.standard_normal((10, 3))
    T = rng.standard_normal((2, 10))
    before = net.params.copy()
    rows = {}
    for head in (1, 2):
        got, errs = capacity(net, X, T, n_steps=8, batch_size=4, lr=1e-2, head=head,
                             seed=seed + 11, return_all=True)
        brng = np.random.default_rng(seed + 11)
        want = []
        for f in T:
            ref = net.copy()
            p, m, v = ref.params.copy(), np.zeros(net.params.size), np.zeros(net.params.size)
            batches = brng.integers(0, 10, size=(8, 4))
            cw = np.zeros(3)
            cw[head] = 1.0
            Yf = np.zeros((10, 3))
            Yf[:, head] = f
            for s, b in enumerate(batches):
                ref.params[:] = p
                _, g = ref.loss_grad(X[b], Yf[b], cw)
                p, m, v = _np_adam(p, g, m, v, s + 1, 1e-2, 0.9, 0.999, 1e-8)
            out, _ = _np_forward(p, net.arch.dims, 3, "relu", X)
            want.append(np.mean((out[:, head] - f) ** 2))
        rows[f"head {head} per-target MSE"] = (_rel(errs, want), REPLAY_RTOL)
        rows[f"head {head} mean"] = (abs(got - np.mean(want)) / np.mean(want), REPLAY_RTOL)
    rows["net unchanged"] = (0.0, 0.0) if np.array_equal(before, net.params) else "capacity moved the net"
    return _outcome(rows, REPLAY_RTOL, "capacity trains column `head` only on its targets with fresh "
                    "Adam and reports that column's MSE (numpy replay), leaving the net unchanged")


@check("C11", "kernel: capacity probe = numpy replay (trained column, targets)", method="numeric",
       quick=True)
def _k_capacity(ctx: Context) -> Outcome:
    return capacity_outcome(seed=ctx.seed)


# ----------------------------------------------------------------------------- C12 InFeR


def infer_outcome(seed: int = 0) -> Outcome:
    """InFeR targets ``beta g_i(x; theta_0)`` and loss ``mean_x sum_i (g_i(x; theta) - beta
    g_i(x; theta_0))^2`` from the numpy forward at params0 and params; the InFeR columns of
    ``build("infer", ...)`` are the last k and the "h2" variant doubles the last width."""
    from repdyn.kernels import infer
    rng = np.random.default_rng([seed, 80])
    cfg = infer.InferConfig(k=3, beta=7.0, alpha=0.1)
    net, cols = infer.build("infer", 4, (5, 6), 2, seed=seed, cfg=cfg)
    rows = {}
    rows["infer columns are the last k"] = ((0.0, 0.0) if list(cols) == [2, 3, 4]
                                            and net.arch.n_out == 5 else f"cols {cols}, n_out {net.arch.n_out}")
    arch_h2, cols_h2 = infer.variant_architecture("h2", 4, (5, 6), 2, cfg)
    rows["h2 doubles the last width"] = ((0.0, 0.0) if arch_h2.hidden == (5, 12) and list(cols_h2) == [2, 3, 4]
                                         else f"h2 hidden {arch_h2.hidden}, cols {cols_h2}")
    X = rng.standard_normal((9, 4))
    g0, _ = _np_forward(np.asarray(net.params0), net.arch.dims, 5, "relu", X)
    rows["targets = beta g(x; theta_0)"] = (_rel(infer.infer_targets(net, X, cols, 7.0), 7.0 * g0[:, 2:]), 1e-13)
    net.params[:] = net.params + 0.05 * rng.standard_normal(net.params.size)
    g, _ = _np_forward(net.params, net.arch.dims, 5, "relu", X)
    want = float(np.mean(np.sum((g[:, 2:] - 7.0 * g0[:, 2:]) ** 2, axis=1)))
    rows["loss"] = (abs(infer.infer_loss(net, X, cols, 7.0) - want) / want, 1e-12)
    return _outcome(rows, 1e-12, "InFeR targets beta g(x; theta_0), loss and head layout equal "
                    "the numpy forward at theta_0 and theta")


@check("C12", "kernel: InFeR targets beta g(x; theta_0) and loss = numpy", method="numeric",
       quick=True)
def _k_infer(ctx: Context) -> Outcome:
    return infer_outcome(seed=ctx.seed)


# ----------------------------------------------------------------------------- C13 TD agent


def agent_targets_outcome(seed: int = 0) -> Outcome:
    """The regression targets and column weights of :class:`kernels.agent.TDAgent` on its first
    training period (captured from the fit call), against TD(0) written out: column 0
    ``R(s) + gamma (P g_target)(s)`` (expected next value, ``sample_next=False``; or the value at
    a next state the agent drew, which must be a successor of s), auxiliary columns with their
    own reward and discount, InFeR columns ``beta g(s; theta_0)`` with weight alpha."""
    from repdyn.kernels import agent as A
    from repdyn.kernels.infer import InferConfig
    n = 6
    P, R, g, _ = _small_mdp(seed, n)
    P[P < 0.05] = 0.0                           # some impossible transitions
    P /= P.sum(axis=1, keepdims=True)
    obs = np.eye(n)
    rows = {}
    for aux, sample_next in (("infer", False), ("cumulants", False), ("discounts", True),
                             ("ensemble", True)):
        cfg = A.AgentConfig(hidden=(8,), aux=aux, n_aux=3, aux_weight=0.5, batch_size=4,
                            target_update=5, log_every=5, sample_next=sample_next,
                            infer=InferConfig(k=2, beta=3.0, alpha=0.2), k_subspace=2)
        ag = A.TDAgent(P, R, g, obs, cfg, seed=seed)
        target = ag.net.forward(obs)            # the target network is the net before training
        cap = {}
        orig = ag.net._fit_batches

        def spy(X, extra, Y, cw, opt, batches, _orig=orig):
            if "Y" not in cap:
                cap.update(X=X.copy(), Y=Y.copy(), cw=cw.copy())
            return _orig(X, extra, Y, cw, opt, batches)
        ag.net._fit_batches = spy
        ag.train(5)
        s = np.argmax(cap["X"], axis=1)
        Y, cw = cap["Y"], cap["cw"]
        M = 3
        r = np.zeros((n, Y.shape[1]))
        gam = np.full(Y.shape[1], g)
        r[:, 0] = R
        want_cw = np.full(Y.shape[1], 0.5)
        want_cw[0] = 1.0
        if aux in ("ensemble", "discounts"):
            r[:, 1:1 + M] = R[:, None]
        if aux == "cumulants":
            r[:, 1:1 + M] = ag.cumulants
        if aux == "discounts":
            gam[1:1 + M] = np.linspace(0.5 * g, g, M)
        boot_cols = slice(0, 1 + (M if aux != "infer" else 0))
        if sample_next:
            # Y - r(s) = gamma_j g_target(s', j) for one s' per row: recover s' from column 0
            # and require it to be a successor of s and to explain every other column
            ok = True
            for b in range(len(s)):
                cand = [s2 for s2 in range(n) if P[s[b], s2] > 0 and np.allclose(
                    Y[b, boot_cols], r[s[b], boot_cols] + gam[boot_cols] * target[s2, boot_cols],
                    rtol=1e-12, atol=1e-12)]
                ok &= bool(cand)
            rows[f"{aux} sampled-next targets"] = (0.0, 0.0) if ok else \
                "a target is not R(s) + gamma_j g_target(s') for any successor s' of s"
        else:
            want = r[s] + gam * (P @ target)[s]
            rows[f"{aux} expected-next targets"] = (_rel(Y[:, boot_cols], want[:, boot_cols]), 1e-12)
        if aux == "infer":
            g0, _ = _np_forward(np.asarray(ag.net.params0), ag.net.arch.dims, ag.net.arch.n_out,
                                "relu", obs)
            rows["infer targets beta g(s; theta_0)"] = (_rel(Y[:, ag.infer_cols], 3.0 * g0[s][:, ag.infer_cols]), 1e-12)
            want_cw[ag.infer_cols] = 0.2
        rows[f"{aux} column weights"] = (_rel(cw, want_cw), 0.0)
    return _outcome(rows, 1e-12, "TD agent targets (expected and sampled next state; auxiliary "
                    "rewards and discounts; InFeR beta g(s; theta_0)) and column weights equal "
                    "TD(0) written out")


@check("C13", "kernel: TD agent targets and column weights = TD(0) written out",
       method="numeric", quick=True)
def _k_agent(ctx: Context) -> Outcome:
    return agent_targets_outcome(seed=ctx.seed)


# ----------------------------------------------------------------------------- C9 value improvement


def value_improvement_outcome(seed: int = 0) -> Outcome:
    """Policy evaluation, the greedy policy and one soft policy-iteration step against loops
    over states and actions on a random 3-action, 7-state MDP."""
    from repdyn.analysis import value_improvement as vi
    rng = np.random.default_rng([seed, 81])
    A_, n, g, eta = 3, 7, 0.85, 0.25
    P = rng.random((A_, n, n)) ** 8            # peaked rows: actions lead to different states
    P /= P.sum(axis=2, keepdims=True)
    R = 0.2 * rng.standard_normal((A_, n))      # small next to gamma P V: the future decides
    R[:, 0] += 2.0
    pi = rng.random((n, A_))
    pi /= pi.sum(axis=1, keepdims=True)
    Ppi = np.array([[sum(pi[s, a] * P[a, s, t] for a in range(A_)) for t in range(n)] for s in range(n)])
    Rpi = np.array([sum(pi[s, a] * R[a, s] for a in range(A_)) for s in range(n)])
    V = np.linalg.solve(np.eye(n) - g * Ppi, Rpi)
    rows = {}
    got_P, got_R = vi.policy_matrices(P, R, pi)
    rows["policy_matrices"] = (max(_rel(got_P, Ppi), _rel(got_R, Rpi)), 1e-13)
    rows["policy_values"] = (_rel(vi.policy_values(P, R, g, pi), V), 1e-12)
    def greedy_of(Rx, Vx):
        Q = np.array([[Rx[a, s] + g * P[a, s] @ Vx for a in range(A_)] for s in range(n)])
        out = np.zeros((n, A_))
        out[np.arange(n), Q.argmax(axis=1)] = 1.0       # continuous draws: no ties
        return out
    greedy = greedy_of(R, V)
    rows["greedy_policy"] = (_rel(vi.greedy_policy(P, R, g, V), greedy), 0.0)
    # rewards that cancel the bootstrap at a discount (1 + gamma)/2: Q = (gamma - (1 + gamma)/2)
    # P V + noise picks argmin_a (P V)(s, a), while any discount above the midpoint picks the
    # argmax, so a greedy step with a wrong discount differs in every state
    Vx = rng.standard_normal(n)
    Rx = -0.5 * (1 + g) * (P @ Vx) + 1e-3 * rng.standard_normal((A_, n))
    rows["greedy_policy, discount-sensitive rewards"] = (
        _rel(vi.greedy_policy(P, Rx, g, Vx), greedy_of(Rx, Vx)), 0.0)
    path = vi.soft_policy_iteration(P, R, g, eta=eta, pi0=pi)
    rows["soft PI step"] = (_rel(path[1], (1 - eta) * pi + eta * greedy), 1e-13)
    V_end = np.linalg.solve(np.eye(n) - g * np.einsum("sa,ast->st", path[-1], P),
                            np.einsum("sa,as->s", path[-1], R))
    Q_end = np.array([[R[a, s] + g * P[a, s] @ V_end for a in range(A_)] for s in range(n)])
    rows["path ends greedy (optimal)"] = (float(np.max(Q_end.max(axis=1) - V_end)) /
                                          max(np.abs(V_end).max(), 1.0), 1e-9)
    return _outcome(rows, 1e-12, "policy evaluation, greedy policy and soft policy iteration "
                    "equal loops over states and actions; the path ends at a policy greedy for "
                    "its own values")


@check("C9", "kernel: policy evaluation, greedy policy, soft PI = loops", method="numeric",
       quick=True)
def _k_vi(ctx: Context) -> Outcome:
    return value_improvement_outcome(seed=ctx.seed)


# ----------------------------------------------------------------------------- C12 E1 trainer


def e1_training_outcome(seed: int = 0) -> Outcome:
    """A two-target E1 run on a tiny configuration with ``MLP.fit`` observed: the InFeR learner
    trains column 0 with weight 1 on the current target and its InFeR columns with weight
    alpha on ``beta g(x; theta_0)`` (numpy forward at theta_0); the plain learner has no extra
    columns."""
    from repdyn.kernels import nn
    from repdyn.proofs.experiments import EXPERIMENTS
    seen = []
    real = nn.MLP.fit

    def spy(self, X, Y, cw, *a, **k):
        cw_ = np.array(cw, float)
        if self.arch.n_out > 1 and np.any(cw_[1:] != 0):   # training, not a capacity probe
            out0, _ = _np_forward(np.asarray(self.params0), self.arch.dims, self.arch.n_out,
                                  self.arch.activation, np.asarray(X, float))
            seen.append(("infer", np.array(Y, float), cw_, out0))
        return real(self, X, Y, cw, *a, **k)
    cfg = {"k": 3, "beta": 100.0, "alpha": 0.1}
    nn.MLP.fit = spy
    try:
        EXPERIMENTS["E1"](seeds=[seed], quick=True, n=32, hidden=(8,), T=1, steps=2, batch=8,
                          probe_targets=1, probe_steps=1, infer=cfg)
    finally:
        nn.MLP.fit = real
    rows = {}
    main = [x for x in seen if x[0] == "infer" and x[1].shape[1] == 1 + cfg["k"]]
    if not main:
        return Outcome("fails", reason="E1 did not train an InFeR learner with 1 + k columns "
                       "and nonzero InFeR weights", evidence={"fit_calls": len(seen)})
    for _, Y, cw, out0 in main[:1]:
        rows["infer column weights (1, alpha...)"] = (
            _rel(cw, np.array([1.0] + [cfg["alpha"]] * cfg["k"])), 0.0)
        rows["infer targets beta g(x; theta_0)"] = (_rel(Y[:, 1:], cfg["beta"] * out0[:, 1:]), 1e-12)
    return _outcome(rows, 1e-12, "E1's InFeR learner trains with weights (1, alpha, ...) on "
                    "targets (f, beta g(x; theta_0)) as the claim states")


@check("C12", "kernel: E1 trainer's InFeR targets and weights", method="numeric", quick=True)
def _k_e1(ctx: Context) -> Outcome:
    return e1_training_outcome(seed=ctx.seed)


# ----------------------------------------------------------------------------- C2, C3, C7 spectral


def spectral_outcome(seed: int = 0) -> Outcome:
    """``eigenvalues`` (sorted by real part), ``alignment_rate``, ``ebfs`` (invariant, with the
    top-k eigenvalues), ``rsbfs`` (top-k left singular vectors of ``(I - gamma P)^{-1}``) and
    ``principal_angles`` / ``grassmann_distance`` against numpy/scipy on random chains, with
    angles far from 0 (where a mispairing of sines and cosines shows)."""
    from scipy.linalg import subspace_angles
    from repdyn.analysis import spectral as sp_
    rng = np.random.default_rng([seed, 82])
    rows = {}
    n, g = 7, 0.9
    X = rng.random((n, n))
    P = X @ X.T                                     # reversible chain: real spectrum
    P /= P.sum(axis=1, keepdims=True)
    lam = np.linalg.eigvals(P)
    lam = lam[np.argsort(-lam.real)]
    rows["eigenvalues sorted by real part"] = (_rel(sp_.eigenvalues(P), lam), 1e-10)
    for K in (1, 2, 3):
        rows[f"alignment_rate K={K}"] = (
            abs(sp_.alignment_rate(P, g, K) - g * (lam[K - 1].real - lam[K].real))
            / (g * (lam[K - 1].real - lam[K].real)), 1e-9)
        E = sp_.ebfs(P, K)
        resid = P @ E - E @ (E.T @ P @ E)
        rows[f"ebfs K={K} invariant"] = (float(np.abs(resid).max()), 1e-12)
        rows[f"ebfs K={K} eigenvalues"] = (_rel(np.sort(np.linalg.eigvals(E.T @ P @ E).real)[::-1],
                                                lam[:K].real), 1e-10)
        Psi = np.linalg.solve(np.eye(n) - g * P, np.eye(n))
        U = np.linalg.svd(Psi)[0][:, :K]
        rows[f"rsbfs K={K}"] = (float(np.max(subspace_angles(sp_.rsbfs(P, g, K), U))), 1e-9)
    for k1, k2 in ((2, 2), (3, 3), (2, 4)):
        A = rng.standard_normal((n, k1))
        B = rng.standard_normal((n, k2))
        want = np.sort(subspace_angles(A, B))
        rows[f"principal_angles {k1}x{k2}"] = (_rel(sp_.principal_angles(A, B), want), 1e-10)
        if k1 == k2:
            rows[f"grassmann_distance {k1}"] = (
                abs(sp_.grassmann_distance(A, B) - np.linalg.norm(want)) / np.linalg.norm(want), 1e-10)
    return _outcome(rows, 1e-10, "eigenvalues, alignment rate, EBFs, RSBFs and principal angles "
                    "equal numpy/scipy (np.linalg.eigvals, svd, scipy.linalg.subspace_angles)")


@check("C3", "kernel: eigenvalues, rates, EBFs, RSBFs, principal angles = numpy/scipy",
       method="numeric", quick=True)
def _k_spectral(ctx: Context) -> Outcome:
    return spectral_outcome(seed=ctx.seed)


# ----------------------------------------------------------------------------- C5, C7 draws


#: Moments of M = 40000 Gaussian draws: a variance estimate has relative standard error
#: sqrt(2 / M) = 0.7 %, a covariance entry ~ sqrt((S_ii S_jj + S_ij^2) / M); 6 standard errors
#: (a false alarm < 1e-8 per entry) still catch any wrong scaling (a factor M or sqrt M) or a
#: wrong square root of Sigma.
DRAW_M = 40000
DRAW_SE = 6.0


def draws_outcome(seed: int = 0) -> Outcome:
    """``draw_heads`` (scalings (i): w ~ N(0, I), alpha = 1/M; (ii): w ~ N(0, I/M), alpha = 1)
    and ``draw_cumulants`` (columns ~ N(0, Sigma)) against their stated laws; same seed, same bits."""
    from repdyn.kernels import flows
    rows = {}
    K, M = 2, DRAW_M
    for scaling, var, alpha in (("i", 1.0, 1.0 / M), ("ii", 1.0 / M, 1.0)):
        W, a = flows.draw_heads(K, M, scaling, np.random.default_rng([seed, 83]))
        W2, _ = flows.draw_heads(K, M, scaling, np.random.default_rng([seed, 83]))
        rows[f"heads ({scaling}) alpha"] = (0.0, 0.0) if a == alpha else f"alpha {a} != {alpha}"
        rows[f"heads ({scaling}) seeded"] = (0.0, 0.0) if np.array_equal(W, W2) else "same seed, other bits"
        z = np.abs(np.mean(W ** 2, axis=1) / var - 1) / np.sqrt(2.0 / M)
        rows[f"heads ({scaling}) variance, in standard errors"] = (float(z.max()), DRAW_SE)
    S = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    C = flows.draw_cumulants(3, M, S, np.random.default_rng([seed, 84]))
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S ** 2) / M)
    rows["cumulants covariance, in standard errors"] = (float(np.max(np.abs(C @ C.T / M - S) / se)),
                                                        DRAW_SE)
    return _outcome(rows, DRAW_SE, "heads and cumulants follow their stated laws (moments of "
                    f"{M} draws within {DRAW_SE:g} standard errors), seeded")


@check("C5", "kernel: head and cumulant draws follow their laws", method="statistical", quick=True)
def _k_draws(ctx: Context) -> Outcome:
    return draws_outcome(seed=ctx.seed)


# ------------------------------------------------------------- C3 Krylov route (large P)


#: Krylov and dense routes on the same P: Grassmann distance and eigenvalues agree to a few
#: hundred ulps of the Schur residual (both backward stable; the spectra here are well
#: separated at the cut, gap >= 1e-5, so the subspace error is residual / gap ~ 1e-10).
KRYLOV_DENSE_TOL = 1e-9


def krylov_outcome(seed: int = 0) -> Outcome:
    """EBFs and top eigenvalues by the Krylov route against the dense route (numpy ``eigvals``
    and a dense Schur form) on matrices above the crossover size: a lazy directed ring (complex
    pairs at the cut) and a random reversible chain."""
    from repdyn.analysis.spectral import ebfs, eigenvalues, grassmann_distance
    n = 400
    ring = 0.5 * np.eye(n) + 0.5 * np.roll(np.eye(n), 1, axis=1)   # eigenvalues 0.5 + 0.5 e^{i theta}
    rng = np.random.default_rng([seed, 31])
    W = rng.random((n, n)) ** 8
    W = W + W.T + np.diag(rng.random(n))
    rev = W / W.sum(axis=1, keepdims=True)
    rows = {}
    for name, P, k in (("lazy directed ring", ring, 3), ("random reversible", rev, 4)):
        w = np.linalg.eigvals(P)
        w = w[np.lexsort((-w.imag, -w.real))][:k + 1]
        try:
            wk = eigenvalues(P, k + 1, method="krylov")
            Qk = ebfs(P, k, method="krylov")
            Qd = ebfs(P, k, method="dense")
        except ValueError as exc:
            rows[name] = f"raised {type(exc).__name__}: {exc}"
            continue
        rows[f"{name}: top {k + 1} eigenvalues vs numpy"] = (
            float(np.max(np.abs(np.sort_complex(wk) - np.sort_complex(w)))), KRYLOV_DENSE_TOL)
        rows[f"{name}: EBFs (k = {k}) Krylov vs dense"] = (grassmann_distance(Qk, Qd),
                                                           KRYLOV_DENSE_TOL)
    return _outcome(rows, KRYLOV_DENSE_TOL, "Krylov EBFs and top eigenvalues = dense route "
                    "(complex pairs at the cut, reversible chain), n = 400")


@check("C3", "kernel: Krylov EBFs and top eigenvalues = dense route (n = 400)",
       method="numeric", quick=True)
def _k_krylov(ctx: Context) -> Outcome:
    return krylov_outcome(seed=ctx.seed)


# ------------------------------------------------------------------------- C14 NTK Gram


#: J from central differences of an independent forward pass: truncation h^2 |g'''| ~ 1e-10 and
#: rounding eps |g| / h ~ 2e-11 per entry at h = 1e-5; K = J J^T inherits ~1e-9 relative.
NTK_FD_RTOL = 1e-6


def ntk_outcome(seed: int = 0) -> Outcome:
    """``kernels.probes.ntk_gram`` against ``J J^T`` with J the per-state gradients of output
    ``head`` from central differences of an independent forward pass (ReLU and tanh, frozen
    extra features, two heads)."""
    from repdyn.kernels.nn import Architecture, MLP
    from repdyn.kernels.probes import ntk_gram
    rng = np.random.default_rng([seed, 141])
    rows = {}
    for act, n_extra, head in (("relu", 0, 0), ("tanh", 1, 1)):
        arch = Architecture(3, (5, 4), 2, n_extra=n_extra, activation=act)
        net = MLP(arch, seed=seed + 5)
        net.params[:] = net.params + 0.1 * rng.standard_normal(net.params.size)
        X = rng.standard_normal((6, 3))
        extra = net._extra(X) if n_extra else None
        p0 = net.params.copy()
        J = np.empty((X.shape[0], p0.size))
        for i in range(p0.size):
            e = np.zeros_like(p0)
            e[i] = FD_STEP
            fp = _np_forward(p0 + e, arch.dims, 2, act, X, extra)[0][:, head]
            fm = _np_forward(p0 - e, arch.dims, 2, act, X, extra)[0][:, head]
            J[:, i] = (fp - fm) / (2 * FD_STEP)
        K = ntk_gram(net, X, head=head)
        rows[f"{act} head {head} (n_extra {n_extra})"] = (_rel(K, J @ J.T), NTK_FD_RTOL)
    return _outcome(rows, NTK_FD_RTOL, "NTK Gram = J J^T with J from central differences of an "
                    "independent forward pass")


@check("C14", "kernel: NTK Gram = J J^T by central differences", method="numeric", quick=True)
def _k_ntk(ctx: Context) -> Outcome:
    return ntk_outcome(seed=ctx.seed)
