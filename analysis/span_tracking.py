"""Stable tracking of span(Phi_t) at long horizons, and the float64 window (docs: theory/c6, C3, C7).

Under ``dPhi/dt = -A Phi G`` (R = 0, fixed heads; also ``Phi_t - Phi_inf`` for C5/C7) every
column turns towards the slowest mode, the constant vector: in float64 the span of ``Phi_t``
is lost long before ``d(span Phi_t, U_{1:K})`` is small. Three tools:

``left_span`` (G = c I)
    The flow acts on the left only, ``Phi_t = exp(-c t A) Phi_0``, so subspace iteration with
    QR (:func:`analysis.closed_form.span_trajectory`) keeps the span exactly: trustworthy at
    every t, angles accurate to ~1e-15 absolute.
``modal_distance`` (any symmetric PSD G, finite M)
    The reference for finite M. With ``G = Q diag(d) Q^T`` and ``P = U diag(lambda) U^{-1}``,
    column j of ``Phi_t Q`` has modal coefficients ``c_ij exp(-t d_j mu_i)``, mu = 1 - gamma
    lambda. Write the span as ``span(U_top + U_bot X)`` with ``X = B T^{-1}`` (B, T: the modal
    coefficients below and above the cut K). Forming X is the only step with cancellation
    (the d_j differ, so T is not a row-scaled constant matrix); it is done in mpmath with
    enough digits to cover the dynamic range ``t d_max (Re mu_n - Re mu_1)``. Everything else
    is O(1) float64 geometry: ``tan(theta) = svals(N M^{-1})`` with ``N = (I - Q1 Q1^H) U_bot X``
    and ``M = Q1^H (U_top + U_bot X)``, ``Q1 R1 = U_top``, and ``log d`` is returned so the
    distance never underflows.
``float64_window``
    The horizon up to which a plain float64 trajectory (RK4 kernel or closed form) gives
    ``d(span Phi_t, U_{1:K})`` to relative accuracy ``tol``.

Window (derivation; checked against ``modal_distance`` in tests/test_theorems.py and in the C6
certificate): a float64 trajectory holds ``Phi_t = Psi_t Q^T`` with absolute error
``~ rho kappa eps ||Phi_t||`` (kappa: eigenvector condition number of P; rho: rounding
accumulated over <= 1e4 RK4 steps or series terms). QR then fixes the span to an angle
``~ rho kappa eps cond(Phi_t)``, and ``cond(Phi_t) ~ exp(t [(d_max - d_min)(1 - gamma) +
d_min gamma (lambda_1 - lambda_K)])`` (the slow column dominates the norm; the columns agree
up to their u_K parts). The distance itself is ``~ exp(-t d_min gamma (lambda_K - lambda_{K+1}))``,
so its relative error grows like ``rho kappa eps exp(t r64)`` with

    r64 = (d_max - d_min)(1 - gamma) + d_min gamma (lambda_1 - lambda_{K+1})      (real parts)

and float64 is trustworthy to relative accuracy ``tol`` for

    t <= T64 = ln(tol / (rho kappa eps)) / r64,      rho = ROUNDING_GROWTH = 1e4.

For G = I this is the C6 window's ``exp(-t gamma (lambda_1 - lambda_{K+1})) >~ rho eps / tol``. (An
earlier estimate with d_max in place of d_min in the second term ignored that the slow
column dominates the rounding; on a 10-state chain it promised t <= 165 where errors reached
1e-3 at t ~ 100. With rho = 1e4 the formula gives 94 there.) Every rate in
:mod:`benchmarks.bench_rates` and :mod:`proofs.simulation` is measured on ``modal_distance``
(or ``left_span`` when G = c I), never on a raw float64 trajectory past T64.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np

from repdyn.analysis.closed_form import span_trajectory
from repdyn.analysis.mdp import check_gamma, check_k, check_matrix, check_times, check_transition
from repdyn.analysis.spectral import _top_k_threshold, grassmann_distance

__all__ = ["DIAG_COND_MAX", "EXTRA_DIGITS", "ROUNDING_GROWTH", "left_span", "ModalSpan", "modal_distance",
           "float64_window", "span_distances", "fit_rate"]

#: Largest eigenvector condition number of P for the modal reference (its error is ~cond * eps).
DIAG_COND_MAX = 1e8
#: Rounding accumulated by a float64 trajectory (RK4 steps, uniformization terms), relative to
#: eps: the prefactor of the float64 window (measured: ~1e3 after 1.5e3 RK4 steps).
ROUNDING_GROWTH = 1e4
#: Rate fits end at max(DEPTH / rate, SETTLE / correction rate), capped at CAP / rate: deep
#: enough that ln d is ~ -DEPTH and the slowest correction has decayed by e^-SETTLE.
DEPTH = 50.0
SETTLE = 10.0
CAP = 400.0
#: Two working precisions must agree on ln d to this (absolute; relative in d).
AGREE_TOL = 1e-9
#: Give up beyond this many digits.
MAX_DIGITS = 200_000
#: Complex spectra: the fit horizon covers this many turns of the slowest rotation
#: d_min gamma min|Im lambda_i| (i <= K+1), so the envelope fit averages over them.
PERIODS = 4.0
#: Points of the lower-envelope fit for complex spectra (ModalSpan.asymptotic_rate).
ENVELOPE_POINTS = 160
#: Guard digits on top of the dynamic range in ``ModalSpan`` (the K x K solve loses at most
#: log10 cond(T) digits; cond(T) is bounded by the dynamic range times cond(c_top) <= 1e8).
EXTRA_DIGITS = 30


def left_span(P, gamma, X0, t, c: float = 1.0) -> np.ndarray:
    """Orthonormal bases of ``span(exp(-c t A) X0)`` (G = c I), by subspace iteration with QR.

    Returns (T, n, K). ``t`` ascending. Trustworthy at every horizon (the span is re-
    orthonormalised after every step of length <= 5 / c).

    Examples
    --------
    Orthonormal bases whose span approaches the top-2 EBFs; at t = 1 the distance agrees
    with the high-precision reference :func:`modal_distance`:

    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> from repdyn.analysis.spectral import ebfs, grassmann_distance
    >>> from repdyn.analysis.span_tracking import left_span, modal_distance
    >>> P = random_walk_chain(5)
    >>> X0 = np.random.default_rng(0).standard_normal((5, 2))
    >>> B = left_span(P, 0.9, X0, [0.0, 1.0, 50.0])
    >>> B.shape, bool(np.allclose(B[-1].T @ B[-1], np.eye(2)))
    ((3, 5, 2), True)
    >>> d = [grassmann_distance(b, ebfs(P, 2)) for b in B]
    >>> d[0] > d[1] > d[2], d[2] < 1e-8
    (True, True)
    >>> ld = modal_distance(P, 0.9, X0, np.eye(2), [1.0])
    >>> bool(np.isclose(d[1], np.exp(ld[0]), rtol=1e-9))
    True
    >>> left_span(P, 0.9, X0, [1.0], c=0)
    Traceback (most recent call last):
    ...
    ValueError: c must be finite and > 0, got 0
    """
    if not (np.isfinite(c) and c > 0):
        raise ValueError(f"c must be finite and > 0, got {c!r}")
    return span_trajectory(P, gamma, X0, c * check_times(t))


def _reversible_sym(P):
    """If P is reversible (pi_i P_ij = pi_j P_ji with pi > 0), return sqrt(pi); else None."""
    w, V = np.linalg.eig(P.T)
    i = int(np.argmin(np.abs(w - 1.0)))
    pi = np.real(V[:, i])
    pi = pi / pi.sum()
    if np.any(pi <= 0) or abs(w[i] - 1.0) > 1e-10:
        return None
    F = pi[:, None] * P
    if np.abs(F - F.T).max() > 1e-12 * F.max():
        return None
    return np.sqrt(pi)


def _sorted_eig(P):
    """Eigenvalues sorted by real part (descending) and unit eigenvectors of a dense P.

    Symmetric or reversible P go through ``eigh`` of the symmetrised matrix, so repeated
    eigenvalues still get a well-conditioned eigenbasis; otherwise ``eig``.
    """
    sq = np.ones(P.shape[0]) if np.array_equal(P, P.T) else _reversible_sym(P)
    if sq is not None:
        S = sq[:, None] * P / sq[None, :]
        lam, V = np.linalg.eigh(0.5 * (S + S.T))
        U = V / sq[:, None]
    else:
        lam, U = np.linalg.eig(P)
    order = np.lexsort((-lam.imag, -lam.real)) if np.iscomplexobj(lam) else np.argsort(-lam, kind="stable")
    lam, U = lam[order].astype(complex), U[:, order].astype(complex)
    U = U / np.linalg.norm(U, axis=0)
    s = np.linalg.svd(U, compute_uv=False)
    cond = s[0] / s[-1] if s[-1] > 0 else np.inf
    if not np.isfinite(cond) or cond > DIAG_COND_MAX:
        raise ValueError(f"P: eigenvector condition number {cond:.3g} > {DIAG_COND_MAX:g}; P is not "
                         "diagonalisable in practice and the modal reference does not apply")
    return lam, U, cond


class ModalSpan:
    """High-precision ``d(span Phi_t, U_{1:K})`` for ``dPhi/dt = -A Phi G`` (docs: theory/c6).

    Parameters
    ----------
    P : dense (n, n) row-stochastic, diagonalisable (eigenvector condition <= DIAG_COND_MAX)
    gamma : discount
    Phi0 : (n, K) initial features (or ``Phi_0 - Phi_inf`` for the C5/C7 path)
    G : (K, K) symmetric positive semi-definite (``alpha W W^T``)

    ``log_distance(t)`` gives ``ln d`` (natural log) at each t; ``distance(t)`` gives d
    (underflows to 0 past ~1e-308; use the log for rates).

    Notes
    -----
    Cost per time: n K mpmath exponentials and a K x K mpmath solve at
    ``EXTRA_DIGITS + t d_max (Re mu_max - Re mu_min) / ln 10`` digits, then O(n K^2) float64.
    Raises ``ValueError`` when the cut at K splits a conjugate pair or ties (U_{1:K}
    undefined), or the top-K modal block of Phi0 Q is singular (a non-generic start).

    Examples
    --------
    Far past the float64 window, ``ln d`` still decays at the predicted rate
    ``d_min gamma (lambda_K - lambda_K+1)`` (:func:`analysis.spectral.alignment_rate`), while
    ``d`` itself underflows:

    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> from repdyn.analysis.spectral import alignment_rate
    >>> from repdyn.analysis.span_tracking import ModalSpan, float64_window
    >>> P = random_walk_chain(5)
    >>> Phi0 = np.random.default_rng(0).standard_normal((5, 2))
    >>> ms = ModalSpan(P, 0.9, Phi0, np.eye(2))
    >>> round(float64_window(P, 0.9, 2), 1)
    32.0
    >>> ld = ms.log_distance([1000.0, 2000.0])
    >>> round(float(ld[0] - ld[1]) / 1000, 6), round(alignment_rate(P, 0.9, 2), 6)
    (0.45, 0.45)
    >>> ms.distance([2000.0])
    array([0.])
    >>> ModalSpan(P, 0.9, Phi0, -np.eye(2))
    Traceback (most recent call last):
    ...
    ValueError: G must be positive semi-definite (min eigenvalue -1)
    """

    def __init__(self, P, gamma, Phi0, G):
        P = check_transition(P, "P")
        self.gamma = check_gamma(gamma)
        n = P.shape[0]
        Phi0 = check_matrix(Phi0, "Phi0", rows=n)
        K = check_k(Phi0.shape[1], n - 1, "K (columns of Phi0)")
        G = check_matrix(G, "G", K, K)
        d, Q = np.linalg.eigh(0.5 * (G + G.T))
        if d.min() < -1e-12 * max(1.0, d.max()):
            raise ValueError(f"G must be positive semi-definite (min eigenvalue {d.min():.3g})")
        self.d = np.clip(d, 0.0, None)
        lam, U, self.cond = _sorted_eig(P)
        _top_k_threshold(lam, K)
        self.lam, self.K, self.n = lam, K, n
        self.mu = 1.0 - self.gamma * lam
        self.coef = np.linalg.solve(U, (Phi0 @ Q).astype(complex))     # modal coefficients
        if np.linalg.svd(self.coef[:K], compute_uv=False)[-1] <= 1e-12 * np.abs(self.coef).max():
            raise ValueError("Phi0: its top-K modal block is singular (Phi0 is not generic)")
        Utop, self.Ubot = U[:, :K], U[:, K:]
        self.Q1, self.R1 = np.linalg.qr(Utop)
        self.Nbot = self.Ubot - self.Q1 @ (self.Q1.conj().T @ self.Ubot)   # (I - Q1 Q1^H) U_bot
        self.Mbot = self.Q1.conj().T @ self.Ubot

    def _X(self, t: float, dps: int):
        """X = B T^{-1} in mpmath at ``dps`` digits; returns (s = max|X| as mpf, X / s as complex128)."""
        with mpmath.workdps(dps):
            K, n = self.K, self.n
            E = mpmath.matrix(n, K)
            for i in range(n):
                mui = mpmath.mpc(self.mu[i].real, self.mu[i].imag)
                for j in range(K):
                    c = self.coef[i, j]
                    E[i, j] = mpmath.mpc(c.real, c.imag) * mpmath.exp(-t * mpmath.mpf(self.d[j]) * mui)
            # X = B T^{-1} is invariant under scaling the columns of E; scaling each column to a
            # top-block maximum of 1 keeps mpmath's absolute singularity test (relative to the
            # matrix norm) from refusing a column that is only small, when G's d_j differ.
            for j in range(K):
                cs = max(abs(E[i, j]) for i in range(K))
                if cs != 0:
                    for i in range(n):
                        E[i, j] /= cs
            T = E[:K, :]
            B = E[K:, :]
            X = B * mpmath.inverse(T) if n > K else mpmath.matrix(0, K)
            s = max((abs(X[i, j]) for i in range(n - K) for j in range(K)), default=mpmath.mpf(0))
            if s == 0:
                return mpmath.mpf(0), np.zeros((n - K, K), complex)
            Xs = np.array([[complex(X[i, j] / s) for j in range(K)] for i in range(n - K)])
            return s, Xs

    def _log_d(self, t: float, dps: int) -> float:
        s, Xs = self._X(t, dps)
        if s == 0:
            return -np.inf
        log_s = float(mpmath.log(s))
        sf = float(s) if log_s > -700 else 0.0
        Mmat = self.R1 + sf * (self.Mbot @ Xs)
        # tan(theta) / s = svals(N M^{-1}) / s, with N M^{-1} = (M^{-T} N^T)^T
        tanth = np.linalg.svd(np.linalg.solve(Mmat.T, (self.Nbot @ Xs).T).T, compute_uv=False)
        if log_s > -30:
            nrm = np.linalg.norm(np.arctan(np.exp(log_s) * tanth))
            return float(np.log(nrm)) if nrm > 0 else -np.inf
        return float(log_s + np.log(np.linalg.norm(tanth)))     # theta = tan(theta) to O(s^2)

    def digits(self, t: float) -> int:
        """First working precision at time t: the range of the top block ``T`` (its condition
        number is at most ~exp(t d_max Re(mu_K+1 - mu_1)) times cond of the coefficients);
        :meth:`log_distance` raises it until two precisions agree."""
        mu_re = self.mu.real
        K = self.K
        top = mu_re[min(K, self.n - 1)] - mu_re[0]
        return int(EXTRA_DIGITS + math.ceil(t * self.d.max() * top / math.log(10.0)))

    def log_distance(self, t) -> np.ndarray:
        """``ln d(span Phi_t, U_{1:K})`` for each t (-inf if Phi_t lies in U_{1:K} exactly).

        Adaptive precision: evaluated at ``p`` and ``1.5 p + 20`` digits, doubling ``p`` until the
        two agree to AGREE_TOL (absolute in ln d, i.e. relative in d).
        """
        t = check_times(t)
        out = np.empty(len(t))
        for k, tk in enumerate(t):
            p = self.digits(float(tk))
            while True:
                a = self._log_d(float(tk), p)
                b = self._log_d(float(tk), int(1.5 * p) + 20)
                if a == b or abs(a - b) <= AGREE_TOL:
                    out[k] = b
                    break
                if p > MAX_DIGITS:
                    raise ValueError(f"t = {tk}: ln d did not settle below {MAX_DIGITS} digits")
                p *= 2
        return out

    def distance(self, t) -> np.ndarray:
        return np.exp(self.log_distance(t))

    def horizon(self, depth: float = DEPTH, settle: float = SETTLE, cap: float = CAP) -> float:
        """End time of a rate fit: ``max(depth / r, settle / delta)``, at most ``cap / r``.

        ``r = d_min gamma Re(lambda_K - lambda_K+1)`` is the predicted rate and ``delta`` the
        slowest correction to it: ``(d_2 - d_1) gamma Re(lambda_K - lambda_K+1)`` (the second
        slowest column) or ``d_1 gamma Re(lambda_K+1 - lambda_K+2)`` (the next mode).
        """
        lr = self.lam.real
        K, g = self.K, self.gamma
        d = np.sort(self.d)
        r = d[0] * g * (lr[K - 1] - lr[K])
        cands = []
        if K >= 2:
            cands.append((d[1] - d[0]) * g * (lr[K - 1] - lr[K]))
        if K + 1 < self.n:
            cands.append(d[0] * g * (lr[K] - lr[K + 1]))
        cands = [c for c in cands if c > 0]
        delta = min(cands) if cands else r
        t_end = max(depth / r, settle / delta)
        im = np.abs(self.lam[:K + 1].imag)
        if np.any(im > 0):          # complex: cover ~PERIODS turns of the slowest rotation
            t_end = max(t_end, PERIODS * 2 * np.pi / (d[0] * g * im[im > 0].min()))
        return float(min(t_end, cap / r))

    def asymptotic_rate(self, n_points: int = 8) -> tuple[float, float]:
        """Measured asymptotic decay rate of d. Returns ``(rate, t_end)``.

        Real spectrum near the cut: least-squares slope of ``ln d`` over the last quarter of
        :meth:`horizon`. A complex eigenvalue among lambda_1..lambda_K+1 makes ``ln d + r t``
        oscillate (the top block T turns at frequencies d_j Im mu_i and is periodically near
        singular, so d spikes upwards): then the slope of the lower envelope over the last
        three quarters is fitted (ENVELOPE_POINTS points; least squares refitted three times
        on the points at or below the median residual).
        """
        t_end = self.horizon()
        if np.all(np.abs(self.lam[:self.K + 1].imag) <= 0):
            t = np.linspace(0.75 * t_end, t_end, n_points)
            return fit_rate(t, self.log_distance(t), -np.inf, np.inf), t_end
        t = np.linspace(0.25 * t_end, t_end, max(n_points, ENVELOPE_POINTS))
        y = self.log_distance(t)
        keep = np.isfinite(y)
        for _ in range(4):
            slope, icpt = np.polyfit(t[keep], y[keep], 1)
            res = y - (slope * t + icpt)
            keep = np.isfinite(y) & (res <= np.median(res[np.isfinite(y)]))
        return float(-slope), t_end


def modal_distance(P, gamma, Phi0, G, t) -> np.ndarray:
    """``ln d(span Phi_t, U_{1:K})`` under ``dPhi/dt = -A Phi G`` (see :class:`ModalSpan`).

    Examples
    --------
    With G = I (and within the float64 window) it matches the float64 distance of the
    subspace-iteration trajectory :func:`left_span`:

    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> from repdyn.analysis.spectral import ebfs
    >>> from repdyn.analysis.span_tracking import left_span, modal_distance, span_distances
    >>> P = random_walk_chain(5)
    >>> Phi0 = np.random.default_rng(0).standard_normal((5, 2))
    >>> t = [0.5, 2.0, 5.0]
    >>> ld = modal_distance(P, 0.9, Phi0, np.eye(2), t)
    >>> d64 = span_distances(left_span(P, 0.9, Phi0, t), ebfs(P, 2))
    >>> bool(np.allclose(np.exp(ld), d64, rtol=1e-9)), bool(np.all(np.diff(ld) < 0))
    (True, True)
    """
    return ModalSpan(P, gamma, Phi0, G).log_distance(t)


def float64_window(P, gamma, K: int, G=None, tol: float = 1e-3) -> float:
    """Horizon T64 up to which a float64 trajectory gives ``d(span Phi_t, U_{1:K})`` to
    relative accuracy ``tol`` (module docstring):
    ``T64 = ln(tol / (rho kappa eps)) / ((d_max - d_min)(1 - gamma) + d_min gamma (lambda_1 - lambda_{K+1}))``
    (real parts; G = None means I; rho = ROUNDING_GROWTH). Returns inf when the rate vanishes.

    Examples
    --------
    For G = I and symmetric P (kappa = 1) the window is
    ``ln(tol / (rho eps)) / (gamma (lambda_1 - lambda_{K+1}))``; spread in G shortens it:

    >>> import numpy as np
    >>> from repdyn.analysis.mdp import random_walk_chain
    >>> from repdyn.analysis.spectral import eigenvalues
    >>> from repdyn.analysis.span_tracking import ROUNDING_GROWTH, float64_window
    >>> P = random_walk_chain(5)
    >>> lam = eigenvalues(P)                     # 1, 0.809, 0.309, -0.309, -0.809
    >>> T64 = float64_window(P, 0.9, 2)
    >>> expected = np.log(1e-3 / (ROUNDING_GROWTH * np.finfo(float).eps)) / (0.9 * (lam[0] - lam[2]))
    >>> round(T64, 3), bool(np.isclose(T64, expected)), T64 == float64_window(P, 0.9, 2, G=np.eye(2))
    (32.041, True, True)
    >>> float64_window(P, 0.9, 2, G=np.diag([1.0, 2.0])) < T64
    True
    >>> float64_window(P, 0.0, 2)                # gamma = 0, G = I: nothing turns
    inf
    """
    P = check_transition(P, "P")
    gamma = check_gamma(gamma)
    n = P.shape[0]
    K = check_k(K, n - 1, "K")
    lam, _, kappa = _sorted_eig(P)
    if G is None:
        dmin = dmax = 1.0
    else:
        d = np.linalg.eigvalsh(check_matrix(G, "G", K, K))
        dmin, dmax = max(d.min(), 0.0), d.max()
    lr = lam.real
    rate = (dmax - dmin) * (1.0 - gamma * lr[0]) + dmin * gamma * (lr[0] - lr[K])
    if rate <= 0:
        return np.inf
    return float(np.log(tol / (ROUNDING_GROWTH * kappa * np.finfo(float).eps)) / rate)


def span_distances(Phi_traj, U) -> np.ndarray:
    """Float64 ``d(span Phi_t, span U)`` for every record (nan where Phi_t is rank-deficient).

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.span_tracking import span_distances
    >>> U = np.eye(3, 1)
    >>> X = [U, np.zeros((3, 1)), np.array([[1.0], [1.0], [0.0]])]
    >>> d = span_distances(X, U)
    >>> d.shape, round(float(d[0]), 6), bool(np.isnan(d[1]))
    ((3,), 0.0, True)
    >>> bool(np.isclose(d[2], np.pi / 4))        # 45 degrees from e_1
    True
    """
    out = np.empty(len(Phi_traj))
    for k, X in enumerate(Phi_traj):
        try:
            out[k] = grassmann_distance(X, U)
        except ValueError:
            out[k] = np.nan
    return out


def fit_rate(t, log_d, lo: float, hi: float) -> float:
    """Decay rate ``-slope`` of the least-squares line through ``(t, ln d)`` where
    ``lo <= ln d <= hi``. Raises ValueError if fewer than 3 points fall in the band.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.span_tracking import fit_rate
    >>> t = np.linspace(0.0, 5.0, 6)
    >>> log_d = 1.0 - 2.0 * t                    # d = e * exp(-2 t)
    >>> round(fit_rate(t, log_d, -np.inf, np.inf), 6), round(fit_rate(t, log_d, -5.0, 0.0), 6)
    (2.0, 2.0)
    >>> fit_rate(t, log_d, -2.0, 0.0)
    Traceback (most recent call last):
    ...
    ValueError: log_d: fewer than 3 points in the fitting band [-2.0, 0.0]
    """
    t = np.asarray(t, float)
    y = np.asarray(log_d, float)
    m = np.isfinite(y) & (y >= lo) & (y <= hi)
    if m.sum() < 3:
        raise ValueError(f"log_d: fewer than 3 points in the fitting band [{lo}, {hi}]")
    return float(-np.polyfit(t[m], y[m], 1)[0])
