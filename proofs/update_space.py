"""C14: the update-space view — how an update on one state moves the predictions on others.

Exact parts (each can fail; the per-MDP helpers take the claim as an argument, so the tests
feed them wrong claims):

* (a) the update kernel ``K = alpha ||w||^2 I + beta Phi Phi^T`` of the linear-FA flow
  equals the velocity of ``V = Phi w`` measured by finite differences of the RK4 kernel
  (:func:`kernels.flows.simulate_linear_fa`), ``dV/dt = K delta``;
* (b) under ensemble collapse (R = 0) the feature kernel ``Phi_t Phi_t^T`` vanishes at rate
  ``2 d_min(G)(1 - gamma)`` towards the predicted rank-one shape, by the closed form, by the
  RK4 kernel and by the null-space asymptote (three computations); under random cumulants
  it tends to ``Phi_inf Phi_inf^T != 0``;
* (c) the TD error's modal coordinates decay at ``1 - gamma Re lambda_i`` (fitted slopes of
  the exact TD trajectory): the smooth components (lambda near 1) are fitted last.

The empirical part (TD lowers interference) lives beside them (experiment E4).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from repdyn.analysis import closed_form as cf
from repdyn.analysis.update_kernel import (collapse_kernel_asymptote, cumulant_kernel_limit,
                                           feature_kernel, modal_rates, td_error,
                                           td_error_modes, update_kernel)
from repdyn.kernels import flows
from repdyn.proofs.registry import Context, Outcome, check
from repdyn.proofs.simulation import _verdict, _worst_over_mdps

# ----------------------------------------------------------------------------- constants

#: (a) step of the one-sided finite difference. With the state scaled so that the flow's
#: Lipschitz scale ``(alpha ||w||^2 + beta ||Phi||_2^2)(1 + gamma)`` is <= 1, the fourth-order
#: stencil's truncation is ~h^4/5 ||V^(5)|| ~ 2e-17, RK4's local errors (h^5, four steps,
#: divided by h) ~1e-16, and rounding ~ (sum |stencil weights| / 12) u ||V|| / h = 10.7 u
#: ||V|| / h ~ 2.4e-11 ||V||: the budget is rounding, ~1e-10 relative while
#: ||V|| <= 4 ||dV/dt||, two orders below FD_RTOL.
FD_H = 1e-4
#: (a) the issue's target: the kernel formula agrees with finite differences to 1e-8.
FD_RTOL = 1e-8
#: Fourth-order forward stencil for f'(0) from f(0), f(h), ..., f(4h) (times 12 h).
_STENCIL = np.array([-25.0, 48.0, -36.0, 16.0, -3.0]) / 12.0
#: (b) the late window starts where the sub-leading terms are below e^-LATE_LOG (1e-9 of
#: the leading one) and ends at twice that time (1e-18): the fitted slope is then exact to
#: ~1e-9 / (rate t), and e^{rt} K_t equals its limit to ~1e-9 plus the propagator's
#: rounding (~N u, N <~ 1e3 series terms).
LATE_LOG = np.log(1e9)
#: (b) relative error of the asymptote and of the rate.
ASYMPTOTE_RTOL = 1e-7
#: (b) RK4 step for the cross-check; relative error of the slowest mode after time t is
#: ~t mu^5 dt^4 / 120 (mu = d_min(1 - gamma)), computed per MDP (RK4_SAFETY times it, plus
#: 1e-8 for the fast modes left in the window).
RK4_DT = 0.05
RK4_SAFETY = 10.0
#: (b) the RK4 cross-check is skipped (and says so in the evidence) when the late window
#: needs more steps than this (slowly separating modes: gamma near 1, close d_j).
RK4_MAX_STEPS = 100_000
#: (b) the kernel's norm falls like e^{-rate t}: beyond rate * t = UNDERFLOW_LOG it would
#: approach float64's smallest normal numbers (1e-308 ~ e^-709), so no late window exists.
UNDERFLOW_LOG = 600.0
#: (b) cumulants keep the kernel: ||K_inf||_2 must exceed this fraction of ||K_0||_2
#: (generic draws give O(1); a collapse would give 0).
KEEP_MIN = 1e-3
#: (c) relative error of the fitted decay rates; coordinates are fitted only where their
#: rounding error ``cond(U) u ||delta_t|| / |c_i(t)|`` is below MODAL_FIT_FLOOR.
MODAL_RTOL = 1e-6
MODAL_FIT_FLOOR = 1e-9
#: Largest n for the dense checks (eigenvalues, null spaces, n x n kernels).
N_MAX = 200


def _dense(P):
    return P.toarray() if sp.issparse(P) else np.asarray(P, dtype=float)


# ------------------------------------------------------------------------------------ (a)


def kernel_fd_on(P, R, gamma, rng, kernel_fn=update_kernel, alpha=1.0, beta=0.5, K=3):
    """Relative gap between ``kernel_fn(Phi, w, alpha, beta) @ delta`` and the finite-difference
    velocity of ``V = Phi w`` along the RK4 linear-FA flow, at a random state.

    The state is scaled so that ``alpha ||w||^2 + beta ||Phi||_2^2 = 1/(1 + gamma)`` (the
    Lipschitz scale of FD_H's error budget) and R to max-norm 1 (if non-zero).
    Returns ``(rel_gap, evidence)``.
    """
    n = P.shape[0]
    K = min(K, n)
    Phi = rng.standard_normal((n, K))
    w = rng.standard_normal(K)
    s2 = 1.0 / ((alpha * (w @ w) + beta * np.linalg.norm(Phi, 2) ** 2) * (1.0 + gamma))
    Phi, w = Phi * np.sqrt(s2), w * np.sqrt(s2)
    R = np.asarray(R, dtype=float)
    R = R / np.abs(R).max() if np.abs(R).max() > 0 else R
    _, Ph, Wt = flows.simulate_linear_fa(P, R, gamma, Phi, w, alpha, beta, FD_H, 4, 1)
    V = np.einsum("tnk,tk->tn", Ph, Wt)
    fd = np.tensordot(_STENCIL, V, axes=1) / FD_H
    delta = td_error(P, R, gamma, Phi @ w)
    pred = kernel_fn(Phi, w, alpha, beta) @ delta
    scale = np.linalg.norm(pred)
    gap = float(np.linalg.norm(fd - pred) / scale)
    return gap, {"rel_gap": gap, "|dV/dt|": float(scale), "|V|": float(np.linalg.norm(V[0])),
                 "K": K, "alpha": alpha, "beta": beta}


@check("C14", "update kernel alpha||w||^2 I + beta Phi Phi^T = finite differences of the flow",
       method="numeric", quick=True, user_mdp=True)
def _c14_kernel_fd(ctx: Context) -> Outcome:
    ev, worst = {}, 0.0
    for i, m in enumerate(ctx.mdps):
        if m.n > N_MAX:
            ev[m.name] = f"not applicable: n > {N_MAX} (the n x n kernel)"
            continue
        gap, e = kernel_fd_on(m.P, m.R, m.gamma, ctx.rng(1400 + i))
        worst = max(worst, gap)
        ev[m.name] = e
    if not any(isinstance(v, dict) for v in ev.values()):
        return Outcome("not-applicable", reason=f"every MDP has n > {N_MAX}", evidence=ev)
    return Outcome(_verdict(worst <= FD_RTOL), measured=worst, predicted=0.0, tolerance=FD_RTOL,
                   reason="worst ||FD velocity - K delta|| / ||K delta|| over the MDPs (alpha = 1, "
        f"beta = 0.5, 4th-order forward stencil, h = {FD_H:g})", evidence=ev)


# ------------------------------------------------------------------------------------ (b)


def collapse_on(P, gamma, rng, rate_factor=1.0, K=2, M_per_K=8):
    """Ensemble collapse (R = 0, scaling (i)): the feature kernel's rate and asymptote by the
    closed form, the RK4 kernel and the null-space asymptote; random cumulants keep it.

    ``rate_factor`` multiplies the predicted rate (1 for the claim). Returns
    ``(ok | None, worst_rel | reason, evidence)``.
    """
    P = _dense(P)
    n = P.shape[0]
    K = min(K, n)
    M = M_per_K * K
    W, a = flows.draw_heads(K, M, "i", rng)
    Phi0 = rng.standard_normal((n, K))
    asym = collapse_kernel_asymptote(P, gamma, Phi0, W, a)
    if not np.isfinite(asym.gap) or asym.gap <= 0:
        return None, ("the slowest columns are not separated from the others (one head direction, "
                      "gamma = 0 and equal d_j): no late window to measure"), {}
    rate = asym.rate * rate_factor
    t1 = LATE_LOG / asym.gap
    if asym.rate * 2.0 * t1 > UNDERFLOW_LOG:
        return None, (f"the late window (t up to {2 * t1:.3g}) lies beyond float64's range: the kernel "
                      f"would fall below e^-{UNDERFLOW_LOG:g} (slowly separating modes, gap "
                      f"{asym.gap:.3g} vs rate {asym.rate:.3g})"), {}
    t = np.linspace(t1, 2.0 * t1, 9)
    Kt = feature_kernel(cf.ensemble_features(P, np.zeros(n), gamma, Phi0, W, a, t))
    norms = np.linalg.norm(Kt, 2, axis=(1, 2))
    slope = float(-np.polyfit(t, np.log(norms), 1)[0])
    rate_err = abs(slope / rate - 1.0)
    # the asymptote, computed from null spaces (no propagator): e^{r t} K_t -> L
    Lnorm = np.linalg.norm(asym.limit, 2)
    lim_err = float(np.linalg.norm(np.exp(rate * t[-1]) * Kt[-1] - asym.limit, 2) / Lnorm)
    # the RK4 kernel over the same window (relative, per time)
    steps = 8 * int(np.ceil(t[-1] / (8 * RK4_DT)))      # records at 0, t_end/8, ..., t_end
    dt = t[-1] / steps
    mu = asym.rate / 2.0
    rk_tol = RK4_SAFETY * t[-1] * mu ** 5 * dt ** 4 / 120.0 + 1e-8
    if steps <= RK4_MAX_STEPS:
        rec = steps // 8
        tk, Ph, _ = flows.simulate_ensemble(P, np.zeros(n), gamma, Phi0, W, a, 0.0, dt, steps, rec)
        late = tk >= t1 * (1 - 1e-12)
        Kc = feature_kernel(cf.ensemble_features(P, np.zeros(n), gamma, Phi0, W, a, tk[late]))
        Kr = feature_kernel(Ph[late])
        rk_err = float(np.max(np.linalg.norm(Kr - Kc, 2, axis=(1, 2)) / np.linalg.norm(Kc, 2, axis=(1, 2))))
    else:
        rk_err = None                                  # skipped: window too long for RK4
    # random cumulants (alpha = 1, w ~ N(0, I/M), r ~ N(0, I)): K_t -> Phi_inf Phi_inf^T != 0
    Wc, _ = flows.draw_heads(K, M, "ii", rng)
    C = flows.draw_cumulants(n, M, None, rng)
    Kinf = cumulant_kernel_limit(P, C, gamma, Wc)
    dc = float(np.linalg.eigvalsh(Wc @ Wc.T)[0])
    tc = np.array([0.0, 2.0 * LATE_LOG / (dc * (1.0 - gamma))])
    Kc_t = feature_kernel(cf.random_cumulant_features(P, C, gamma, Phi0, Wc, tc))
    keep = float(np.linalg.norm(Kinf, 2) / np.linalg.norm(Kc_t[0], 2))
    cum_err = float(np.linalg.norm(Kc_t[-1] - Kinf, 2) / np.linalg.norm(Kinf, 2))
    collapsed = float(norms[-1] / np.linalg.norm(Phi0, 2) ** 2)
    ok = (rate_err <= ASYMPTOTE_RTOL and lim_err <= ASYMPTOTE_RTOL and (rk_err is None or rk_err <= rk_tol)
          and cum_err <= ASYMPTOTE_RTOL and keep >= KEEP_MIN)
    worst = max(rate_err, lim_err, cum_err)
    ev = {"K": K, "M": M, "d_min": mu / (1.0 - gamma) if gamma < 1 else None,
          "predicted_rate": rate, "measured_rate": slope, "rate_rel_err": rate_err,
          "asymptote_rel_err": lim_err, "window": [float(t1), float(2 * t1)],
          "rk4_rel_err": rk_err if rk_err is not None else f"skipped ({steps} steps > {RK4_MAX_STEPS})",
          "rk4_tol": rk_tol, "ensemble_kernel_ratio_at_end": collapsed,
          "cumulant_limit_rel_err": cum_err, "cumulant_kernel_kept": keep,
          "limit_rank_one": bool(np.linalg.matrix_rank(asym.limit, 1e-10 * Lnorm) == 1)}
    return ok, worst, ev


@check("C14", "collapse: feature kernel -> 0 at 2 d_min (1-gamma); random cumulants keep it",
       method="exact", quick=True, user_mdp=True)
def _c14_collapse(ctx: Context) -> Outcome:
    return _worst_over_mdps(
        ctx, lambda m, rng, quick: collapse_on(m.P, m.gamma, rng), 1410, N_MAX,
        "C14 (a measurable late window)",
        "worst relative error of the rate 2 d_min(G)(1 - gamma) (fitted slope of "
        "log ||Phi_t Phi_t^T||_2), of the asymptote e^{rt} K_t -> L (null-space "
        "projector) and of the random-cumulant limit Phi_inf Phi_inf^T; RK4 kernel "
        "within its step error; cumulants keep ||K_inf|| >= "
        f"{KEEP_MIN:g} ||K_0||",
        tolerance=ASYMPTOTE_RTOL)


# ------------------------------------------------------------------------------------ (c)


def modal_decay_on(P, R, gamma, rng, rates_fn=None):
    """Fitted decay rates of the TD error's modal coordinates vs ``rates_fn(P, gamma)``
    (default :func:`analysis.update_kernel.modal_rates`). Returns ``(ok | None, rel | why, ev)``."""
    P = _dense(P)
    n = P.shape[0]
    lam, pred = (rates_fn or modal_rates)(P, gamma)
    true = 1.0 - gamma * lam.real
    spread = float(true.max() - true.min())
    T = np.log(1e6) / spread if spread > 1e-6 else 10.0
    t = np.linspace(0.0, T, 25)
    V0 = rng.standard_normal(n)
    try:
        lam2, c = td_error_modes(P, R, gamma, V0, t)
    except ValueError as exc:
        return None, str(exc), {}
    lam_, U = np.linalg.eig(P)
    cond = np.linalg.cond(U)
    dnorm = np.linalg.norm(c, axis=1)     # same order as ||delta_t|| (U columns unit norm)
    measured = np.full(n, np.nan)
    for i in range(n):
        a = np.abs(c[:, i])
        good = a > cond * np.finfo(float).eps * dnorm / MODAL_FIT_FLOOR
        if good.sum() >= 3:
            measured[i] = -np.polyfit(t[good], np.log(a[good]), 1)[0]
    fit = np.isfinite(measured)
    if fit.sum() == 0:
        return None, "no modal coordinate above the rounding floor", {}
    rel = np.abs(measured[fit] / pred[fit] - 1.0)
    ok = bool(rel.max() <= MODAL_RTOL)
    return ok, float(rel.max()), {
        "lambda_re": lam2.real.tolist(), "lambda_im": lam2.imag.tolist(), "predicted_rates": pred.tolist(),
        "measured_rates": [None if not np.isfinite(x) else float(x) for x in measured],
        "modes_fitted": int(fit.sum()), "eigvec_cond": float(cond), "horizon": float(T)}


@check("C14", "TD error along eigenvectors of P decays at 1 - gamma lambda_i (smooth last)",
       method="exact", quick=True, user_mdp=True)
def _c14_modal(ctx: Context) -> Outcome:
    return _worst_over_mdps(
        ctx, lambda m, rng, quick: modal_decay_on(m.P, m.R, m.gamma, rng), 1420, N_MAX,
        "C14 (a diagonalisable P)",
        "worst relative error of the fitted decay rate of |(U^-1 delta_t)_i| "
        "against 1 - gamma Re lambda_i on the exact TD trajectory (rates ascend "
        "with decreasing lambda: the smooth components are fitted last)",
        tolerance=MODAL_RTOL)


# ------------------------------------------------------------------------------ empirical


@check("C14", "TD lowers interference vs MC regression and the untrained net (E4)",
       method="statistical", quick=True)
def _c14_interference(ctx: Context) -> Outcome:
    from repdyn.proofs.neural import _experiment, _fmt, judge
    r = _experiment("E4", ctx)
    s = r["summary"]
    c = r["config"]
    out = judge({"td_vs_mc": s["td_vs_mc"], "td_vs_init": s["td_vs_init"]},
                f"E4: {len(r['seeds'])} held-out seeds, random-walk chain n = {c['n']}, gamma = "
                f"{c['gamma']}, sparse reward at the right end, {s['observations']} observations "
                f"(class s mod 10), MLP {c['hidden']}, Adam lr {c['lr']}, {c['T']} steps of TD(0) "
                "(target network every "
                f"{c['target_update']}) or of regression onto V*, from the same initial network. "
                "Interference I = mean_{i != j} |K_ij| / K_jj of the empirical NTK over the states; "
                "td_vs_mc = I(MC) - I(TD), td_vs_init = I(untrained) - I(TD) (> 0: TD lowers "
                f"interference). Mean I at the end: {_r3(s['interference_end_mean'])}, untrained "
                f"{s['interference_initial_mean']:.3f}. Not judged: signed mean "
                f"I(MC) - I(TD) = {_fmt(s['signed_td_vs_mc'])}; gradient cosines mean |K_ij| / "
                f"sqrt(K_ii K_jj): MC - TD = {_fmt(s['cosine_td_vs_mc'])}, untrained - TD = "
                f"{_fmt(s['cosine_td_vs_init'])}; NTK effective rank TD - MC = "
                f"{_fmt(s['effective_rank_td_minus_mc'])} (end means {_r3(s['effective_rank_end_mean'])}, "
                f"untrained {s['effective_rank_initial_mean']:.1f}); value error at the end "
                f"{_r3(s['value_error_end_mean'])} (||V - V*|| / ||V*||). Grassmann distance of the "
                f"NTK's top-{c['k']} eigenvectors to the top-{c['k']} EBFs: untrained "
                f"{s['alignment_initial_mean']['ebf']:.3f}, end "
                f"{ {a: round(v['ebf'], 3) for a, v in s['alignment_end_mean'].items()} } (MC - TD "
                f"{_fmt(s['ebf_approach_td_vs_mc'])}; P is symmetric, so EBFs = RSBFs).")
    out.evidence = dict(out.evidence, summary=s)
    return out


def _r3(d):
    return {k: round(float(v), 3) for k, v in d.items()}
