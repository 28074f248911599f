"""Numeric and statistical certificates from the flow kernels: C5-C8 by simulation (C4: proofs.values).

Each check runs the jitted flows of :mod:`kernels.flows` and compares them with the exact
finite-M solutions and the limits of :mod:`analysis.closed_form`; rates are measured on the
stable span references of :mod:`analysis.span_tracking` (never on a float64 trajectory past its
window). The per-MDP work lives in ``_..._on(...)`` helpers that take the prediction as an
argument, so the tests can show that every check fails on a deliberately wrong prediction.

Tolerances and statistical thresholds are named constants below, each with its reason.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy import stats

from repdyn.analysis import closed_form as cf
from repdyn.analysis.mdp import EIG_TIE_TOL
from repdyn.analysis.spectral import ebfs, eigenvalues, rsbfs
from repdyn.kernels import flows
from repdyn.analysis.span_tracking import ModalSpan, float64_window, span_distances
from repdyn.proofs.registry import Context, Outcome, check

# ----------------------------------------------------------------------------- constants

#: RK4 step for every certificate. Stable for dt * ||G|| * (1 + gamma) < 2.7 (heads below
#: keep ||G|| <= ~4 in scaling (i) at M >= 16); global error O(dt^4) ~ 1e-6 relative.
DT = 0.05
#: RK4 vs exact finite-M solution: dt^4 = 6e-6 times ||L||^5/120 * t <~ 1e-5 * scale here;
#: 1e-4 relative leaves room for ||G|| ~ 3 and still catches any wrong term (those are O(1)).
EXACT_RTOL = 1e-4
#: Thm 4.1: the fitted log-log slope of the gap over M must lie in this band around -1/2.
SLOPE_BAND = (-0.65, -0.35)
#: C6/C7 rates from the high-precision modal reference (ModalSpan.asymptotic_rate: fitted where
#: the slowest correction has decayed by e^-10, so the slope bias is < 0.1%); 2% is the claim's
#: tolerance, far from d_min = 1 (the limit's rate is off by 1/d_min - 1 >= 10% here).
RATE_RTOL = 0.02
#: Inside float64_window(tol=WINDOW_TOL) a kernel trajectory's distance must match the
#: reference to WINDOW_TOL relative (the window's own accuracy promise).
WINDOW_TOL = 1e-3
#: False-alarm rate of every distributional test (fixed seeds make the outcome deterministic).
FALSE_ALARM = 1e-3
#: C7 law: heads per feature. M = 5K (nu = M - K + 1 = 9 at K = 2) makes the finite-M factor
#: M/(M-K-1) = 10/7 visible to the radius test (at M = 100K it is 1.015, below any power).
#: The tests are exact for every M >= K + 2, so no large-M approximation is needed.
C7_LAW_M_PER_K = 5
#: C7 law: draws of Phi_inf (>= n = N_MAX, which the Bartlett test needs); ~10 ms of tests at n = 200.
C7_LAW_DRAWS = (400, 1000)      # (quick, full)
#: Smallest usable relative eigengap (lambda_K - lambda_K+1) / spread for a rate measurement.
MIN_REL_GAP = 0.02
#: Smallest relative gap (s_k^2 - s_k+1^2) / s_k^2 of the resolvent for the RSBF pooling check.
RSBF_MIN_GAP = 0.1
#: Pooled directions may sit at most this many predicted RMS distances from the RSBFs (the
#: squared distance is ~ a weighted chi-square; 4 RMS is beyond its 1e-4 tail for 1 dof).
RSBF_SIGMAS = 4.0
#: Largest n for checks that need dense spectra or mpmath.
N_MAX = 200


def _dense(P):
    return P.toarray() if sp.issparse(P) else np.asarray(P)


def _verdict(ok: bool) -> str:
    return "holds" if ok else "fails"


def _pick_K(P, gamma):
    """The K <= 4 whose cut separates real eigenvalues with the largest relative gap
    ``(lambda_K - lambda_K+1) / (lambda_1 - Re lambda_n)`` (at least MIN_REL_GAP), or a reason.

    A large relative gap keeps the horizon of the rate fit (~50 / rate) and with it the
    mpmath precision (~ horizon * spectral spread digits) small.
    """
    if gamma == 0:
        return None, "gamma = 0: A = I, nothing aligns"
    n = P.shape[0]
    lam = eigenvalues(P)
    spread = lam[0].real - lam[-1].real
    best, best_gap = None, MIN_REL_GAP
    for K in range(1, min(4, n - 1) + 1):
        a, b = lam[K - 1], lam[K]
        if abs(a.imag) > EIG_TIE_TOL or abs(b.imag) > EIG_TIE_TOL:
            continue
        g = (a.real - b.real) / spread
        if g >= best_gap:
            best, best_gap = K, g
    if best is None:
        top = ", ".join(f"{z.real:.4g}{z.imag:+.4g}i" if abs(z.imag) > EIG_TIE_TOL else f"{z.real:.4g}"
                        for z in lam[:min(5, n)])
        return None, (f"no K <= 4 where both lambda_K and lambda_K+1 are real with relative gap "
                      f">= {MIN_REL_GAP} (the modal reference needs a real cut); top eigenvalues: {top}")
    return best, ""


# ----------------------------------------------------------------------------- C5


def _exact_gap(m, rng, K=3, M=24, T=4.0):
    """Relative max gap between the RK4 kernel and the exact finite-M solution (both scalings)."""
    n = m.n
    K = min(K, n)
    R = m.R
    Phi0 = rng.standard_normal((n, K))
    worst = 0.0
    steps = int(round(T / DT))
    for scaling in ("i", "ii"):
        W, a = flows.draw_heads(K, M, scaling, rng)
        t, Ph, _ = flows.simulate_ensemble(m.P, R, m.gamma, Phi0, W, a, 0.0, DT, steps, steps // 4)
        ex = cf.ensemble_features(m.P, R, m.gamma, Phi0, W, a, t)
        worst = max(worst, float(np.abs(Ph - ex).max() / max(np.abs(ex).max(), 1e-300)))
    return worst


@check("C5", "RK4 kernel = exact finite-M solution", method="exact", quick=True, user_mdp=True)
def _c5_exact(ctx: Context) -> Outcome:
    ev = {m.name: _exact_gap(m, ctx.rng(500 + i)) for i, m in enumerate(ctx.mdps)}
    worst = max(ev.values())
    return Outcome(_verdict(worst <= EXACT_RTOL), measured=worst, predicted=0.0,
                   tolerance=EXACT_RTOL, reason="max relative gap, scalings (i) and (ii), M = 24",
                   evidence=ev)


def _thm41_gaps(m, scaling, Ms, n_seeds, rng, K=2, T=3.0, limit=None):
    """RMS over seeds of max_t ||Phi^M_t - limit_t||_F / ||Phi0||_F for every M.

    scaling "i": limit exp(-tA) Phi0. "ii": coupled limit (14) with eps = W 1.
    """
    n = m.n
    K = min(K, n)
    Phi0 = rng.standard_normal((n, K))
    steps = int(round(T / DT))
    t = DT * (steps // 6) * np.arange(7)
    base = cf.ensemble_limit(m.P, m.R, m.gamma, Phi0, t) if scaling == "i" else None
    gaps = np.empty((n_seeds, len(Ms)))
    for s in range(n_seeds):
        Z = rng.standard_normal((K, int(max(Ms))))     # nested ensembles: heads 1..M of one draw
        for k, M in enumerate(Ms):
            W, a = _nested(Z, M, scaling)
            _, Ph, _ = flows.simulate_ensemble(m.P, m.R, m.gamma, Phi0, W, a, 0.0, DT, steps,
                                               steps // 6)
            lim = base if scaling == "i" else cf.ensemble_limit(m.P, m.R, m.gamma, Phi0, t,
                                                                eps=W.sum(axis=1))
            gaps[s, k] = np.linalg.norm(Ph - lim, axis=(1, 2)).max() / np.linalg.norm(Phi0)
    return np.sqrt(np.mean(gaps ** 2, axis=0))     # RMS: E gap^2 ~ 1/M to first order


def _nested(Z, M, scaling):
    """Heads 1..M of one standard-normal draw Z, scaled as draw_heads(K, M, scaling): a growing
    ensemble, so the gaps at different M share their noise and the fitted slope is stable."""
    M = int(M)
    if scaling == "i":
        return np.ascontiguousarray(Z[:, :M]), 1.0 / M
    return np.ascontiguousarray(Z[:, :M]) / np.sqrt(M), 1.0


def _slope(Ms, gaps):
    return float(np.polyfit(np.log(Ms), np.log(gaps), 1)[0])


def _thm41_check(ctx, scaling):
    # M >= 64: at M = 16, ||G - I|| ~ sqrt(K(K+1)/M) ~ 0.6 and second-order terms bend the line
    # a wide range of M keeps the slope's noise (sd ~ 0.2 / sqrt(seeds) / range) well inside the band
    Ms = 64 * 4 ** np.arange(6)                 # 64 ... 65536; the fast path's cost does not grow with M
    n_seeds = 16 if ctx.quick else 48
    ev, slopes = {}, []
    for i, m in enumerate(ctx.mdps):
        gaps = _thm41_gaps(m, scaling, Ms, n_seeds, ctx.rng(510 + i))
        s = _slope(Ms, gaps)
        slopes.append(s)
        ev[m.name] = {"M": Ms, "mean_gap": gaps, "slope": s}
    ok = all(SLOPE_BAND[0] <= s <= SLOPE_BAND[1] for s in slopes)
    worst = max(slopes, key=lambda s: abs(s + 0.5))
    return Outcome(_verdict(ok), measured=worst, predicted=-0.5, tolerance=SLOPE_BAND,
                   reason=f"log-log slope of the gap to the limit over M (worst of {len(slopes)} "
                   f"MDPs), {n_seeds} seeds per M", evidence=ev)


@check("C5", "Thm 4.1 (i): gap to exp(-tA)Phi0 ~ M^-1/2", method="statistical", quick=True,
       user_mdp=True)
def _c5_i(ctx: Context) -> Outcome:
    return _thm41_check(ctx, "i")


@check("C5", "Thm 4.1 (ii): coupled gap (eps = W 1) ~ M^-1/2", method="statistical", quick=True,
       user_mdp=True)
def _c5_ii(ctx: Context) -> Outcome:
    return _thm41_check(ctx, "ii")


# ----------------------------------------------------------------------------- C6


def _c6_on(m, rng, quick, rate_factor=1.0):
    """Collapse, alignment rate, float64 window and the M < K case on one MDP (R = 0).

    ``rate_factor`` multiplies the predicted rate (1 for the claim; tests pass a wrong one).
    Returns (ok, measured_rel_err, evidence) or (None, reason, {}) if not applicable.
    """
    if N_MAX < m.n <= C6_SPARSE_MAX:
        return _c6_sparse_on(m, rng, quick, rate_factor)
    if m.n > N_MAX:
        return None, (f"n = {m.n} > {C6_SPARSE_MAX}: too large for the sparse C6 check (the mpmath "
                      f"modal reference, the RK4 window and M < K need n <= {N_MAX})"), {}
    P = _dense(m.P)
    K, why = _pick_K(P, m.gamma)
    if K is None:
        return None, why, {}
    n = P.shape[0]
    R0 = np.zeros(n)
    M = 8 * K
    W, a = flows.draw_heads(K, M, "i", rng)
    G = a * W @ W.T
    d = np.linalg.eigvalsh(G)
    Phi0 = rng.standard_normal((n, K))
    try:
        ms = ModalSpan(P, m.gamma, Phi0, G)
    except ValueError as exc:
        return None, str(exc), {}
    lam = eigenvalues(P)
    pred = d.min() * m.gamma * (lam[K - 1].real - lam[K].real) * rate_factor
    true_pred = d.min() * m.gamma * (lam[K - 1].real - lam[K].real)
    # rate from the high-precision reference, deep in the asymptotic regime
    rate, t_end = ms.asymptotic_rate(4 if quick else 8)
    rel = abs(rate / pred - 1.0)
    # collapse: Phi_T -> 0 by the kernel (slowest mode decays at d_min (1 - gamma lambda_1))
    T_c = np.log(1e8) / (d.min() * (1.0 - m.gamma))
    dt = min(DT, 0.5 / d.max())
    steps = int(np.ceil(T_c / dt))
    _, Ph, _ = flows.simulate_ensemble(m.P, R0, m.gamma, Phi0, W, a, 0.0, dt, steps, steps)
    shrink = np.linalg.norm(Ph[-1]) / np.linalg.norm(Phi0)
    # float64 window: the kernel's distance matches the reference inside T64
    T64 = float64_window(P, m.gamma, K, G, tol=WINDOW_TOL)
    tw = np.linspace(0.0, 0.9 * min(T64, 60.0 / true_pred), 10)
    stepw = max(1, int(round(tw[1] / dt)))
    dtw = tw[1] / stepw
    tk, Pw, _ = flows.simulate_ensemble(m.P, R0, m.gamma, Phi0, W, a, 0.0, dtw, 9 * stepw, stepw)
    d64 = span_distances(Pw, ebfs(P, K))
    dref = np.exp(ms.log_distance(tk))
    win_err = float(np.max(np.abs(d64 / dref - 1.0)))
    # M < K: the null space of G never moves, no collapse
    nc = True
    if K >= 2:
        W2, a2 = flows.draw_heads(K, K - 1, "i", rng)
        e, Qg = np.linalg.eigh(a2 * W2 @ W2.T)
        null = Qg[:, e <= 1e-12 * e.max()]
        _, Pn, _ = flows.simulate_ensemble(m.P, R0, m.gamma, Phi0, W2, a2, 0.0, dt, steps, steps)
        frozen = np.abs(Pn[-1] @ null - Phi0 @ null).max() / np.abs(Phi0).max()
        nc = frozen <= 1e-10 and np.linalg.norm(Pn[-1]) >= 0.99 * np.linalg.norm(Phi0 @ null)
    # RK4 at this dt has relative error ~1e-6 in d; the window promises WINDOW_TOL
    ok = rel <= RATE_RTOL and shrink <= 1e-7 and win_err <= WINDOW_TOL + 1e-5 and nc
    ev = {"K": K, "M": M, "d_min": float(d.min()), "predicted_rate": pred, "measured_rate": rate,
          "rate_rel_err": rel, "fit_horizon": t_end, "collapse_ratio": float(shrink), "T64": T64,
          "window_rel_err": win_err, "M<K_no_collapse": bool(nc)}
    return ok, float(rel), ev


# ----------------------------------------------------------------------------- C6, large sparse P

#: Large MDPs (N_MAX < n <= C6_SPARSE_MAX, reversible P): the numeric C6 check (rate and collapse)
#: by the split tracker :class:`SplitSpan`; the mpmath modal reference, the RK4 kernel's
#: float64 window and the M < K case stay with n <= N_MAX (dense, O(n^2) per RK4 step).
C6_SPARSE_MAX = 100_000
#: Work cap of the split tracker: the flops of the shortest settled fit (:func:`_sparse_split_cost`;
#: the adaptive fit may take ~2-4x more). Measured (one core, machine load 2-5):
#: four_rooms(50) (1e4 states), C6 ~1.2e10 flops in 20-30 s; four_rooms(158) (99,860 states,
#: gamma 0.9), estimated 4.3e10 (C2), 3.5e10 (C3, K = 4) and 9.3e10 (C6): all three hold, in
#: 89 s, 201 s and 346 s, 0.5 GB peak. The cap admits that 1e5-state four-rooms and refuses
#: chains whose gap would need longer.
SPARSE_TRACK_FLOP_BUDGET = 1.5e11
#: Per propagation step the complement may decay by at most e^STEP_EFOLDS relative to the slowest
#: mode (lambda_1): its rounding is amplified by at most that factor (e^9 ~ 8e3: ~1e-12 relative
#: error per step) and a rounding leak into the top K modes grows by at most that before the
#: next projection removes it.
STEP_EFOLDS = 9.0
#: Adaptive rate fit: the local slope of ln d over segments of FIT_SEGMENT / r (r the predicted
#: rate), from FIT_START / r on, until three successive slopes agree to FIT_SETTLED relative, at
#: most FIT_CAP / r. Late corrections at rate r + delta decay geometrically over the segments;
#: with a ratio q per segment the remaining bias is the last change times q / (1 - q): <= 2.3x
#: it for q <= 0.7 (measured on four_rooms(50): q ~ 0.7 per 5 / r), so below RATE_RTOL / 4.
#: Early on (t < ~30 / r there) clusters of modes make the slope non-monotone: one agreement
#: of two slopes is not enough (it stopped a 1.8%-biased fit in a trial).
FIT_START, FIT_SEGMENT, FIT_CAP = 15.0, 5.0, 200.0
FIT_SETTLED = 0.1 * RATE_RTOL
#: Gamma just below 1 for the stochastic semigroup exp(-s (I - P)) through a Propagator
#: (exp(-s (I - g P)) = e^{-s (1 - g)} exp(-s g (I - P))): e^{-s 2^-40} is undone exactly.
_GAMMA_1 = 1.0 - 2.0 ** -40


class SplitSpan:
    """``ln d(span Phi_t, U_1:K)`` for ``dPhi/dt = -A Phi G`` on a large reversible ``P``, in
    float64 for the n-dimensional part and mpmath for a K x K block (docs: theory/c6).

    Split ``Phi = E Y + Z`` by the spectral projector ``Pi = E (E^T D E)^{-1} E^T D`` of the
    top-K invariant subspace (``E`` the Krylov EBFs, ``D = diag(pi)``: for reversible P the
    complementary invariant subspace is the D-orthogonal complement of span E, since right
    eigenvectors are D-orthogonal). In the eigenbasis ``G = Q diag(d) Q^T`` column j of
    ``Phi Q`` evolves alone under ``exp(-t d_j A)``, and each column may be rescaled by any
    positive factor without changing the span; with ``e^{t d_j (1 - gamma lambda_cut)}``
    (``lambda_cut = lambda_K+1``):

    * ``Z~_j = e^{tau (1 - gamma lambda_cut)} exp(-tau A) z_j`` (tau = t d_j) stays O(1); it is
      propagated in float64 with ``P`` itself (the sparse Propagator applied to the stochastic
      semigroup ``exp(-s (I - P))``), in steps of at most STEP_EFOLDS e-folds of
      ``gamma (1 - lambda_cut) tau``, and re-projected onto the complement after each step;
    * ``Y~_j = exp(tau gamma (T - lambda_cut I)) y_j``, ``T = E^T P E`` (K x K), grows and its
      columns all turn towards lambda_1: it is formed in mpmath (digits for its dynamic range),
      and so is the inverse of ``M = Y~ + E^T Z~``.

    Then ``span Phi_t = span(E + Z_perp M^{-1})``, ``Z_perp = (I - E E^T) Z~``, so
    ``tan theta = svals(Z_perp M^{-1})``. No float64 cancellation: ``M^{-1}`` is of the order
    of the answer (the scaling by lambda_cut), ``Z~`` is O(1). The flow followed is ``P`` with
    its top-K block replaced by ``T`` (a perturbation of the size of the EBF residual,
    ~1e-14), so rates are the true ones to ~residual / gap. Checked against the mpmath modal
    reference :class:`analysis.span_tracking.ModalSpan` (tests/test_sparse_spectral.py).

    Cost: ~sqrt(2 rho ln(1/TAIL)) products of P with an n x K block per step (Chebyshev,
    rho = gamma d_max dt), plus K mpmath K x K exponentials per evaluated time.

    Examples
    --------
    Far below the float64 window (d ~ e^-20), against the full mpmath modal reference:

    >>> import numpy as np
    >>> from repdyn.analysis.mdp import MDP, gridworld
    >>> from repdyn.analysis.spectral import eigenvalues
    >>> from repdyn.analysis.span_tracking import ModalSpan
    >>> from repdyn.proofs.simulation import SplitSpan
    >>> m = MDP(gridworld(6, 7), gamma=0.99)
    >>> rng = np.random.default_rng(1)
    >>> Phi0, G = rng.standard_normal((42, 3)), np.diag([0.5, 1.0, 1.5])
    >>> tr = SplitSpan(m, 0.99, Phi0, G, 3, eigenvalues(m, 4)[3].real)
    >>> t = 20.0 / (0.5 * 0.99 * float(eigenvalues(m, 4)[2].real - eigenvalues(m, 4)[3].real))
    >>> ld = tr.log_distance(t)
    >>> ref = ModalSpan(m.P.toarray(), 0.99, Phi0, G).log_distance([t])[0]
    >>> bool(ld < -15), bool(abs(ld - ref) < 1e-9)
    (True, True)
    """

    def __init__(self, m, gamma, Phi0, G, K, lam_cut, E=None):
        from repdyn.analysis.propagator import Propagator
        self.m, self.gamma, self.K, self.lam_cut = m, float(gamma), int(K), float(lam_cut)
        sq = m.sqrt_stationary()
        self.Dw = sq * sq
        self.E = ebfs(m, K) if E is None else E
        E = self.E
        self.T = E.T @ (m.P @ E)
        self.C = E.T @ (self.Dw[:, None] * E)
        self.d, Qg = np.linalg.eigh(0.5 * (G + G.T))
        X = Phi0 @ Qg
        self.Y0 = np.linalg.solve(self.C, E.T @ (self.Dw[:, None] * X))
        self.Z = X - E @ self.Y0
        self.prop = Propagator(m.P, _GAMMA_1)
        self.c_cut = self.gamma * (1.0 - self.lam_cut)
        self.lam1 = float(np.max(np.linalg.eigvals(self.T).real))
        self.t, self.products = 0.0, 0

    def _proj_out(self, Z):
        return Z - self.E @ np.linalg.solve(self.C, self.E.T @ (self.Dw[:, None] * Z))

    def log_distance(self, t: float) -> float:
        """``ln d`` at time ``t`` (not before the last time asked for)."""
        import mpmath
        span = t - self.t
        if span < 0:
            raise ValueError(f"t = {t} is before the tracker's time {self.t}")
        d, K, gamma = self.d, self.K, self.gamma
        if span > 0:
            nsteps = max(1, int(np.ceil(span * d.max() * self.c_cut / STEP_EFOLDS)))
            dt = span / nsteps
            for _ in range(nsteps):
                taus = dt * d                                        # per column
                s = gamma * taus / _GAMMA_1
                Yb = self.prop.expm(self.Z, s)                       # (K, n, K)
                self.products += self.prop.last_terms
                Z = np.stack([Yb[j, :, j] for j in range(K)], axis=1)
                Z *= np.exp(s * (1.0 - _GAMMA_1) + taus * self.c_cut)[None, :]
                self.Z = self._proj_out(Z)
            self.t = t
        tau = t * d
        dps = 30 + int(np.ceil(float(tau.max()) * gamma * max(self.lam1 - self.lam_cut, 0.0) / np.log(10.0)))
        EtZ = self.E.T @ self.Z
        Zp = self.Z - self.E @ EtZ
        with mpmath.workdps(dps):
            Tm = mpmath.matrix(self.T.tolist()) - mpmath.mpf(self.lam_cut) * mpmath.eye(K)
            M = mpmath.matrix(K, K)
            for j in range(K):
                Ej = mpmath.expm(Tm * (mpmath.mpf(float(tau[j])) * mpmath.mpf(gamma)))
                col = Ej * mpmath.matrix(self.Y0[:, j].tolist())
                for r in range(K):
                    M[r, j] = col[r] + mpmath.mpf(float(EtZ[r, j]))
            Mi = mpmath.inverse(M)
            sc = max(abs(Mi[r, j]) for r in range(K) for j in range(K))
            Mis = np.array([[float(Mi[r, j] / sc) for j in range(K)] for r in range(K)])
            log_s = float(mpmath.log(sc))
        tanth = np.linalg.svd(Zp @ Mis, compute_uv=False)
        nt = float(np.linalg.norm(tanth))
        if nt == 0.0:
            return -np.inf
        if log_s + np.log(nt) > -30:
            return float(np.log(np.linalg.norm(np.arctan(np.exp(log_s) * tanth))))
        return log_s + np.log(nt)                                    # theta = tan theta to O(d^2)


def _sparse_split_cost(m, gamma, K, d_max, lam_cut, rate) -> float:
    """Flops of the shortest settled fit of :func:`_sparse_settled_rate` (to FIT_START / r, then
    three segments of FIT_SEGMENT / r): each propagation call costs ~sqrt(2 rho ln(1/TAIL))
    Chebyshev products of P with an n x K block (rho = gamma d_max times its length), and a call
    spans at most STEP_EFOLDS e-folds of the complement."""
    c_cut = gamma * (1.0 - lam_cut)
    products = 0.0
    for length, calls in ((FIT_START / rate, 1), (FIT_SEGMENT / rate, 3)):
        steps = max(1.0, np.ceil(length * d_max * c_cut / STEP_EFOLDS))
        products += calls * steps * np.sqrt(2.0 * gamma * d_max * length / steps * 37.0)
    return float(products * 2.0 * m.P.nnz * K)


def _sparse_settled_rate(tracker, pred_rate: float) -> dict:
    """Local slopes of ``ln d`` over segments of FIT_SEGMENT / r from FIT_START / r until three
    successive ones agree to FIT_SETTLED (relative), at most FIT_CAP / r. Returns the last
    slope (``measured_rate``), whether it settled, the window and the ln d values."""
    r = pred_rate
    t = FIT_START / r
    prev_ld = tracker.log_distance(t)
    slopes, ts, lds = [], [t], [prev_ld]
    settled = False
    while t < FIT_CAP / r:
        t2 = t + FIT_SEGMENT / r
        ld = tracker.log_distance(t2)
        if not np.isfinite(ld):
            break
        slopes.append(-(ld - prev_ld) / (t2 - t))
        ts.append(t2)
        lds.append(ld)
        t, prev_ld = t2, ld
        if len(slopes) >= 3 and all(abs(slopes[-1] - x) <= FIT_SETTLED * abs(slopes[-1]) for x in slopes[-3:-1]):
            settled = True
            break
    return {"measured_rate": float(slopes[-1]) if slopes else float("nan"), "settled": settled,
            "slopes": [float(s) for s in slopes], "fit_window": [float(ts[-2]), float(ts[-1])] if slopes else None,
            "ln_d": [float(x) for x in lds], "products_with_P": int(tracker.products)}


def _c6_sparse_on(m, rng, quick, rate_factor=1.0):
    """C6 on a large reversible P (N_MAX < n <= C6_SPARSE_MAX): the finite-M alignment rate
    ``d_min(G) gamma (lambda_K - lambda_K+1)`` measured on :class:`SplitSpan` (adaptive
    horizon: :func:`_sparse_settled_rate`), and collapse ``||Phi_T|| -> 0`` by the sparse
    propagator (the flow's exact solution, column by column in G's eigenbasis). Same return
    convention as :func:`_c6_on`."""
    import time
    from repdyn.analysis.errors import UndefinedSubspaceError
    t_start = time.perf_counter()
    gamma = m.gamma
    if gamma == 0:
        return None, "gamma = 0: A = I, nothing aligns", {}
    if m.sqrt_stationary() is False:
        return None, (f"n = {m.n} > {N_MAX}: the sparse C6 check needs a reversible P (real spectrum; "
                      "the complement of U_1:K is then an invariant D-orthogonal subspace); this P is "
                      "not (detectably) reversible"), {}
    lam = eigenvalues(m, 6).real
    best, K = 0.0, None
    for k in (2, 3, 4, 1):                # the widest gap (shortest horizon); K >= 2 preferred on ties
        g = lam[k - 1] - lam[k]
        if g > EIG_TIE_TOL and g > best * (1.0 + 1e-12):
            best, K = g, k
    if K is None:
        return None, "no strict gap after lambda_K (K <= 4) among the top eigenvalues", {}
    try:
        E = ebfs(m, K)
    except UndefinedSubspaceError as exc:
        return None, str(exc), {}
    M = 8 * K
    W, a = flows.draw_heads(K, M, "i", rng)
    G = a * W @ W.T
    d = np.sort(np.linalg.eigvalsh(G))
    Phi0 = rng.standard_normal((m.n, K))
    true_pred = d[0] * gamma * (lam[K - 1] - lam[K])
    pred = true_pred * rate_factor
    flops = _sparse_split_cost(m, gamma, K, d[-1], lam[K], true_pred)
    if flops > SPARSE_TRACK_FLOP_BUDGET:
        return None, (f"n = {m.n}: the predicted rate {true_pred:.3g} needs t >= {30.0 / true_pred:.3g} of "
                      f"tracked propagation (~{flops:.2g} flops > {SPARSE_TRACK_FLOP_BUDGET:.2g})"), {}
    fit = _sparse_settled_rate(SplitSpan(m, gamma, Phi0, G, K, lam[K], E=E), true_pred)
    rate = fit["measured_rate"]
    rel = abs(rate / pred - 1.0)
    # collapse: the exact solution exp(-T d_j A) (Phi_0 Q)_j at T = ln(1e8) / (d_min (1 - gamma))
    T_c = np.log(1e8) / (d[0] * (1.0 - gamma))
    dd, Qg = np.linalg.eigh(G)
    Yc = m.propagator(gamma).expm(Phi0 @ Qg, T_c * dd)
    PhiT = np.stack([Yc[j, :, j] for j in range(K)], axis=1)
    shrink = float(np.linalg.norm(PhiT) / np.linalg.norm(Phi0))
    rel = float(rel)
    ok = bool(rel <= RATE_RTOL and shrink <= 1e-7)
    ev = {"K": K, "M": M, "d_min": float(d[0]), "predicted_rate": float(pred), "measured_rate": rate,
          "rate_rel_err": rel, "collapse_ratio": shrink, **{k: fit[k] for k in ("settled", "fit_window",
                                                                                 "products_with_P")},
          "ln_d_at_fit_end": fit["ln_d"][-1],
          "route": "sparse: Krylov EBFs, split tracker (float64 complement, mpmath K x K block)",
          "seconds": round(time.perf_counter() - t_start, 2),
          "not_checked_here": f"the RK4 kernel's float64 window and M < K (dense, n <= {N_MAX})"}
    return ok, float(rel), ev


def _worst_over_mdps(ctx: Context, check_one, salt: int, n_max, claim: str, reason: str,
                     tolerance: float = RATE_RTOL) -> Outcome:
    """Run ``check_one(mdp, rng, quick) -> (ok | None, rel | why, evidence)`` on every MDP and
    report the worst relative error (against ``tolerance``); MDPs whose assumptions fail are
    listed, not judged."""
    ev, rels, ok_all = {}, [], True
    for i, m in enumerate(ctx.mdps):
        if n_max is not None and m.n > n_max:
            ev[m.name] = f"not applicable: n > {n_max}"
            continue
        ok, rel, e = check_one(m, ctx.rng(salt + i), ctx.quick)
        if ok is None:
            ev[m.name] = f"not applicable: {rel}"
            continue
        ok_all &= ok
        rels.append(rel)
        ev[m.name] = e
    if not rels:
        what = f"of {claim} " if claim else ""
        why = "; ".join(f"{k}: {str(v).removeprefix('not applicable: ')}" for k, v in ev.items())
        return Outcome("not-applicable", reason=f"no MDP meets the assumptions {what}({why})", evidence=ev)
    return Outcome(_verdict(ok_all), measured=max(rels), predicted=0.0, tolerance=tolerance,
                   reason=reason, evidence=ev)


@check("C6", "collapse, finite-M alignment rate, M < K", method="exact", quick=True, user_mdp=True)
def _c6(ctx: Context) -> Outcome:
    return _worst_over_mdps(ctx, _c6_on, 600, None, "C6",
                            "worst |measured/predicted - 1| of d_min(G) gamma (lambda_K - lambda_K+1); "
                            "also ||Phi_T|| -> 0; float64 window and M < K for n <= 200 (mpmath modal "
                            "reference); reversible P with 200 < n <= 1e5: rate and collapse only, by the "
                            "split tracker (float64 complement, mpmath K x K block)")


# ----------------------------------------------------------------------------- C7


def _finite_m_law_pvalues(Y, nu, rng):
    """Exact p-values for H0: the rows of Y are iid ``sqrt((nu-2)/chi2_nu) z`` with z ~ N(0, I_n)
    (the whitened finite-M law of a Phi_inf column: a Gaussian scale mixture, i.e. a multivariate
    t with nu dof scaled to unit covariance). Needs N >= n rows and nu > 2.

    Under H0 the radius and the direction u = y/|y| of each row are independent, u is uniform
    on the sphere and ``|y|^2 nu / ((nu-2) n) ~ F(n, nu)``. Four tests, each exact for every
    (N, n) and nu (none relies on n/N being small: the chi-square approximation of the Gaussian
    likelihood-ratio statistic has a null mean of ~1.47 times its dof at n = 200, N = 256, and
    rejects a true law every time):

    * ``radius``: the normal scores Phi^-1(F_{n,nu}(.)) of the N radii sum to N(0, N); two-sided.
      It sees the overall scale, e.g. a missing finite-M factor M/(M-K-1).
    * ``mean``, ``offdiag``, ``diag``: the directions are given fresh independent chi_n radii
      (drawn from ``rng``), which makes the rows exactly iid N(0, I_n) under H0. Then
      N |mean|^2 ~ chi2_n, and the Bartlett decomposition of their Gram matrix T T^T (T lower
      triangular) has independent T_ij ~ N(0, 1) (i > j) and T_jj^2 ~ chi2_{N-j+1}: the sum of
      the T_ij^2 ~ chi2_{n(n-1)/2} and the sum of the squared normal scores of the T_jj^2 ~
      chi2_n. Together they see any shape other than I (a wrong or rotated Psi).
    """
    N, n = Y.shape
    if N < n or nu <= 2:
        raise ValueError(f"need N >= n and nu > 2, got N = {N}, n = {n}, nu = {nu}")
    r2 = np.einsum("ij,ij->i", Y, Y)
    z = _normal_scores(stats.f, r2 * nu / ((nu - 2) * n), n, nu)
    p = {"radius": float(2 * stats.norm.sf(abs(z.sum()) / np.sqrt(N)))}
    Z = Y / np.sqrt(r2)[:, None] * np.sqrt(rng.chisquare(n, N))[:, None]
    p["mean"] = float(stats.chi2.sf(N * np.sum(Z.mean(axis=0) ** 2), n))
    T = np.linalg.cholesky(Z.T @ Z)
    p["offdiag"] = float(stats.chi2.sf(np.sum(np.tril(T, -1) ** 2), n * (n - 1) // 2))
    zd = _normal_scores(stats.chi2, np.diag(T) ** 2, N - np.arange(n))
    p["diag"] = float(stats.chi2.sf(np.sum(zd ** 2), n))
    return p


def _normal_scores(dist, x, *args):
    """Phi^-1(dist.cdf(x)), accurate in both tails."""
    lo = dist.cdf(x, *args)
    return np.where(lo < 0.5, stats.norm.ppf(lo), stats.norm.isf(dist.sf(x, *args)))


class LawTest(NamedTuple):
    """Outcome of :func:`_c7_law_on`: rejected iff ``stat > critical``."""
    stat: float          #: -log10 of p_adj
    critical: float      #: -log10 FALSE_ALARM
    p_adj: float         #: smallest of the four p-values times 4 (Bonferroni)
    p: dict              #: the separate p-values


def _c7_law_on(P, gamma, rng, n_draws=400, K=2, M=None, cov_factor=1.0, Cov=None):
    """Phi_inf's first column over n_draws draws vs its exact finite-M law (Sigma = I).

    Phi_inf = A^-1 C W^T G^-1 with C ~ N(0, I), W ~ N(0, I/M): given W its first column is
    N(0, (G^-1)_11 Psi Psi^T) and M / (G^-1)_11 ~ chi2_nu, nu = M - K + 1 (Schur complement of
    a Wishart). So the column is the scale mixture sqrt(M/chi2_nu) Psi z, with covariance
    Psi Psi^T M/(M-K-1). The columns are whitened by the claimed covariance (``Cov``, default
    Psi Psi^T M/(M-K-1) times ``cov_factor``; the tests pass a wrong one) and judged by the
    exact tests of :func:`_finite_m_law_pvalues`, Bonferroni-combined.
    """
    n = P.shape[0]
    M = M or C7_LAW_M_PER_K * K
    Psi = np.linalg.solve(np.eye(n) - gamma * P, np.eye(n))
    cv = np.empty((n_draws, n))
    for k in range(n_draws):
        W, _ = flows.draw_heads(K, M, "ii", rng)
        C = flows.draw_cumulants(n, M, None, rng)
        cv[k] = C @ np.linalg.solve(W @ W.T, W)[0]              # (C W^T G^-1)[:, 0]
    cols = cv @ Psi.T                                          # A^-1 C W^T G^-1, first column
    if Cov is None:
        Cov = Psi @ Psi.T * (M / (M - K - 1)) * cov_factor
    L = np.linalg.cholesky(Cov)
    Y = np.linalg.solve(L, cols.T).T
    p = _finite_m_law_pvalues(Y, M - K + 1, rng)
    p_adj = min(1.0, len(p) * min(p.values()))
    return LawTest(-np.log10(max(p_adj, 1e-300)), -np.log10(FALSE_ALARM), p_adj, p)


def _pick_k_rsbf(P, gamma):
    """k <= 3 with the largest relative gap of the squared resolvent singular values, or None."""
    n = P.shape[0]
    s2 = (1.0 / np.linalg.svd(np.eye(n) - gamma * P, compute_uv=False)[::-1]) ** 2
    gaps = [(s2[k - 1] - s2[k]) / s2[k - 1] for k in range(1, min(3, n - 1) + 1)]
    if not gaps or max(gaps) < RSBF_MIN_GAP:
        return None
    return int(np.argmax(gaps)) + 1


def _rsbf_rms(P, gamma, k, pools):
    """Predicted RMS distance of the top-k sample principal directions from the population ones
    for N iid N(0, C) columns (Anderson 1963): ``E d^2 ~ (1/N) sum_{i<=k<j} l_i l_j / (l_i - l_j)^2``,
    l the eigenvalues of C = Psi Psi^T (Sigma = I)."""
    n = P.shape[0]
    Psi = np.linalg.solve(np.eye(n) - gamma * P, np.eye(n))
    lam = np.sort(np.linalg.eigvalsh(Psi @ Psi.T))[::-1]
    s = sum(lam[i] * lam[j] / (lam[i] - lam[j]) ** 2 for i in range(k) for j in range(k, n))
    return np.sqrt(s / pools)


def _rsbf_pool(P, gamma, k, rng, pools, K=2, M=50):
    """d(top-k principal directions of pooled Phi_inf columns, RSBFs) for growing pools."""
    n = P.shape[0]
    A = np.eye(n) - gamma * P
    U = rsbfs(P, gamma, k)
    cols = []
    need = max(pools)
    while len(cols) * K < need:
        W, _ = flows.draw_heads(K, M, "ii", rng)
        C = flows.draw_cumulants(n, M, None, rng)
        cols.append(np.linalg.solve(A, C @ np.linalg.solve(W @ W.T, W).T))
    X = np.concatenate(cols, axis=1)
    out = []
    for N in pools:
        S = X[:, :N] @ X[:, :N].T
        top = np.linalg.eigh(S)[1][:, ::-1][:, :k]
        out.append(float(np.linalg.norm(np.arcsin(np.clip(np.linalg.svd(
            top - U @ (U.T @ top), compute_uv=False), 0, 1)))))
    return np.array(out)


@check("C7", "RSBF law of Phi_inf (pooled columns) and its finite-M covariance",
       method="statistical", quick=True, user_mdp=True)
def _c7_law(ctx: Context) -> Outcome:
    ev, ok_all, worst = {}, True, 1.0
    pools = [64, 512, 4096] if ctx.quick else [64, 512, 4096, 16384]
    for i, m in enumerate(ctx.mdps):
        if m.n > N_MAX or m.gamma == 0:
            ev[m.name] = "not applicable: n > 200 or gamma = 0"
            continue
        P = _dense(m.P)
        rng = ctx.rng(700 + i)
        law = _c7_law_on(P, m.gamma, rng, n_draws=C7_LAW_DRAWS[0 if ctx.quick else 1])
        ok_law = law.stat <= law.critical
        k = _pick_k_rsbf(P, m.gamma)
        e = {"p_" + name: v for name, v in law.p.items()}
        e["p_bonferroni"] = law.p_adj
        ok_rsbf = True
        if k:
            try:
                dists = _rsbf_pool(P, m.gamma, k, rng, pools)
                rms = _rsbf_rms(P, m.gamma, k, np.array(pools, float))
                ok_rsbf = bool(np.all(dists <= RSBF_SIGMAS * rms)) and dists[-1] < dists[0]
                e.update({"k": k, "pool": pools, "d_to_RSBF": dists, "predicted_rms": rms})
            except ValueError as exc:          # tie in the resolvent's singular values
                e["rsbf"] = f"not applicable: {exc}"
        else:
            e["rsbf"] = f"not applicable: no k <= 3 with relative resolvent gap >= {RSBF_MIN_GAP}"
        ok_all &= ok_law and ok_rsbf
        worst = min(worst, law.p_adj)
        ev[m.name] = e
    if not ev or all(isinstance(v, str) for v in ev.values()):
        return Outcome("not-applicable", reason="no MDP with n <= 200 and gamma > 0", evidence=ev)
    return Outcome("holds" if ok_all else "fails", measured=worst, predicted=f">= {FALSE_ALARM:g}",
                   tolerance=f"false alarm {FALSE_ALARM:g} per MDP",
                   reason="smallest Bonferroni p-value of four exact tests (radius, mean, Bartlett "
                   "off-diagonal and diagonal) of Phi_inf's exact finite-M law sqrt(M/chi2_(M-K+1)) Psi z "
                   "(covariance Psi Psi^T M/(M-K-1), M = 5K); pooled "
                   "principal directions within 4 predicted RMS of the RSBFs, shrinking with the pool", evidence=ev)


def _c7_path_on(m, rng, quick, rate_factor=1.0):
    """span(Phi_t - Phi_inf) -> EBFs: kernel in its window vs the modal reference, and the rate."""
    P = _dense(m.P)
    K, why = _pick_K(P, m.gamma)
    if K is None:
        return None, why, {}
    n = P.shape[0]
    M = 8 * K
    W, _ = flows.draw_heads(K, M, "ii", rng)
    C = flows.draw_cumulants(n, M, None, rng)
    G = W @ W.T
    Phi0 = rng.standard_normal((n, K))
    Phi_inf = np.linalg.solve(np.eye(n) - m.gamma * P, C @ np.linalg.solve(G, W).T)
    try:
        ms = ModalSpan(P, m.gamma, Phi0 - Phi_inf, G)
    except ValueError as exc:
        return None, str(exc), {}
    d = np.linalg.eigvalsh(G)
    lam = eigenvalues(P)
    true_pred = d.min() * m.gamma * (lam[K - 1].real - lam[K].real)
    pred = true_pred * rate_factor
    rate, t_end = ms.asymptotic_rate(4 if quick else 8)
    # kernel: Phi_t - Phi_inf in float64 loses ||Phi_inf|| eps absolutely: shorter window
    T64 = float64_window(P, m.gamma, K, G, tol=WINDOW_TOL)
    Tw = 0.5 * min(T64, 30.0 / true_pred)
    stepw = max(1, int(np.ceil(Tw / 9 / DT)))
    dtw = Tw / 9 / stepw
    tk, Ph = flows.simulate_random_cumulants(m.P, C, m.gamma, Phi0, W, dtw, 9 * stepw, stepw)
    d64 = span_distances(Ph - Phi_inf, ebfs(P, K))
    win_err = float(np.nanmax(np.abs(d64 / np.exp(ms.log_distance(tk)) - 1.0)))
    rel = abs(rate / pred - 1.0)
    ok = rel <= RATE_RTOL and win_err <= 10 * WINDOW_TOL
    return ok, float(rel), {"K": K, "predicted_rate": pred, "measured_rate": rate, "rate_rel_err": rel,
                     "fit_horizon": t_end, "kernel_vs_reference_in_window": win_err}


@check("C7", "EBF path: span(Phi_t - Phi_inf) -> U_1:K at the finite-M rate", method="exact",
       quick=True, user_mdp=True)
def _c7_path(ctx: Context) -> Outcome:
    return _worst_over_mdps(ctx, _c7_path_on, 710, N_MAX, "",
                            "worst |measured/predicted - 1| of the path's alignment rate")


@check("C7", "RK4 kernel = exact finite-M random-cumulant solution", method="exact", quick=True,
       user_mdp=True)
def _c7_exact(ctx: Context) -> Outcome:
    ev = {}
    for i, m in enumerate(ctx.mdps):
        rng = ctx.rng(720 + i)
        n, K, M = m.n, min(3, m.n), 24
        W, _ = flows.draw_heads(K, M, "ii", rng)
        C = flows.draw_cumulants(n, M, None, rng)
        Phi0 = rng.standard_normal((n, K))
        t, Ph = flows.simulate_random_cumulants(m.P, C, m.gamma, Phi0, W, DT, 80, 20)
        ex = cf.random_cumulant_features(m.P, C, m.gamma, Phi0, W, t)
        ev[m.name] = float(np.abs(Ph - ex).max() / np.abs(ex).max())
    worst = max(ev.values())
    return Outcome(_verdict(worst <= EXACT_RTOL), measured=worst, predicted=0.0,
                   tolerance=EXACT_RTOL, reason="max relative gap kernel vs closed form", evidence=ev)


# ----------------------------------------------------------------------------- C8


def _vec_exact(Ps, gammas, Gs, F, Phi0, t):
    import scipy.linalg as sla
    n, K = Phi0.shape
    L = sum(np.kron(G, np.eye(n) - g * _dense(P)) for P, g, G in zip(Ps, gammas, Gs))
    N = n * K
    Z = np.zeros((N + 1, N + 1))
    Z[:N, :N] = -L
    Z[:N, N] = F.reshape(-1, order="F")
    v0 = np.append(Phi0.reshape(-1, order="F"), 1.0)
    return np.stack([(sla.expm(tk * Z) @ v0)[:N].reshape((n, K), order="F") for tk in t])


def _c8_setup(m, rng):
    """Two policies from the MDP: P itself and a lazy version (1/2)(I + P), rewards R and a draw."""
    n = m.n
    P = _dense(m.P)
    Ps = [P, 0.5 * (np.eye(n) + P)]
    Rs = np.stack([m.R, rng.standard_normal(n)])
    gammas = np.array([0.5 * m.gamma, m.gamma])
    return Ps, Rs, gammas


@check("C8", "RK4 kernels = exact vec-form solutions (policies, discounts)", method="exact",
       quick=True, user_mdp=True)
def _c8_exact(ctx: Context) -> Outcome:
    ev = {}
    for i, m in enumerate(ctx.mdps):
        if m.n > 40:
            ev[m.name] = "skipped: vec form is (nK)^2, n > 40"
            continue
        rng = ctx.rng(800 + i)
        Ps, Rs, gammas = _c8_setup(m, rng)
        n, K, M = m.n, min(2, m.n), 10
        W, a = flows.draw_heads(K, M, "ii", rng)
        Phi0 = rng.standard_normal((n, K))
        gr = flows.head_groups(M, 2)
        Gs = [a * W[:, g] @ W[:, g].T for g in gr]
        t, Ph = flows.simulate_multi_policy(Ps, Rs, m.gamma, Phi0, W, a, DT, 60, 20)
        F = sum(np.outer(Rs[j], a * W[:, g].sum(1)) for j, g in enumerate(gr))
        ex = _vec_exact(Ps, [m.gamma] * 2, Gs, F, Phi0, t)
        e1 = float(np.abs(Ph - ex).max() / np.abs(ex).max())
        t, Ph = flows.simulate_multi_discount(Ps[0], m.R, gammas, Phi0, W, a, DT, 60, 20)
        ex = _vec_exact([Ps[0]] * 2, gammas, Gs, np.outer(m.R, a * W.sum(1)), Phi0, t)
        e2 = float(np.abs(Ph - ex).max() / np.abs(ex).max())
        ev[m.name] = {"policies": e1, "discounts": e2}
    vals = [max(v.values()) for v in ev.values() if isinstance(v, dict)]
    if not vals:
        return Outcome("not-applicable", reason="every MDP too large for the vec form", evidence=ev)
    worst = max(vals)
    return Outcome(_verdict(worst <= EXACT_RTOL), measured=worst, predicted=0.0,
                   tolerance=EXACT_RTOL, reason="max relative gap kernel vs expm of the vec form",
                   evidence=ev)


def _c8_gaps(m, rng, Ms, n_seeds, K=2, T=3.0):
    Ps, Rs, gammas = _c8_setup(m, rng)
    n = m.n
    Phi0 = rng.standard_normal((n, K))
    steps = int(round(T / DT))
    every = steps // 6
    t = DT * every * np.arange(7)
    a1 = np.empty((n_seeds, len(Ms)))
    a2 = np.empty((n_seeds, len(Ms)))
    for s in range(n_seeds):
        Z = rng.standard_normal((K, int(max(Ms))))
        for k, M in enumerate(Ms):
            W, a = _nested(Z, M, "ii")
            gr = flows.head_groups(int(M), 2)
            _, Ph = flows.simulate_multi_policy(Ps, Rs, m.gamma, Phi0, W, a, DT, steps, every)
            eps = np.stack([np.sqrt(2) * W[:, g].sum(1) for g in gr])
            lim = cf.multi_policy_limit(Ps, Rs, m.gamma, Phi0, t, eps=eps)
            a1[s, k] = np.linalg.norm(Ph - lim, axis=(1, 2)).max() / np.linalg.norm(Phi0)
            _, Ph = flows.simulate_multi_discount(Ps[0], m.R, gammas, Phi0, W, a, DT, steps, every)
            lim = cf.multi_discount_limit(Ps[0], m.R, gammas, Phi0, t, eps=W.sum(1))
            a2[s, k] = np.linalg.norm(Ph - lim, axis=(1, 2)).max() / np.linalg.norm(Phi0)
    return np.sqrt(np.mean(a1 ** 2, axis=0)), np.sqrt(np.mean(a2 ** 2, axis=0))


@check("C8", "finite-M flows -> C8 limits like M^-1/2 (scaling (ii))", method="statistical",
       quick=False, user_mdp=True)
def _c8_limits(ctx: Context) -> Outcome:
    Ms = 64 * 4 ** np.arange(6)
    ev, slopes = {}, []
    for i, m in enumerate(ctx.mdps):
        if m.n > N_MAX:
            ev[m.name] = "skipped: n > 200"
            continue
        gp, gd = _c8_gaps(m, ctx.rng(810 + i), Ms, 24)
        sp_, sd_ = _slope(Ms, gp), _slope(Ms, gd)
        slopes += [sp_, sd_]
        ev[m.name] = {"M": Ms, "gap_policies": gp, "gap_discounts": gd, "slope_policies": sp_,
                      "slope_discounts": sd_}
    ok = all(SLOPE_BAND[0] <= s <= SLOPE_BAND[1] for s in slopes)
    worst = max(slopes, key=lambda s: abs(s + 0.5))
    return Outcome(_verdict(ok), measured=worst, predicted=-0.5, tolerance=SLOPE_BAND,
                   reason="log-log slope of the gap to the (corrected) C8 limits over M",
                   evidence=ev)
