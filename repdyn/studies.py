"""The registry of sweepable studies: a name -> one cell of a grid (``repdyn sweep``, issue 7).

A *study* is a plain function ``fn(**config) -> dict`` (JSON-able) with a declared parameter
set and defaults. A sweep file names a study and a grid over its parameters; the runner
(:mod:`repdyn.sweep`) expands the grid, fills every parameter's default
(:func:`full_config`) and calls :func:`execute_cell` once per cell, on whichever worker.

Registered here:

``convergence-rate`` (docs: theory/c2, C3, C6)
    One MDP family at one size, order ``K`` and head count ``M``, one seed: the measured
    asymptotic rate of ``d(span Phi_t, U_{1:K})`` against the predicted one
    ``d_min(G) gamma (Re lambda_K - Re lambda_{K+1})`` (:func:`analysis.spectral.alignment_rate`).
    ``M = 0`` is the M -> infinity limit (G = I), measured by
    :func:`proofs.values.measure_alignment_rate` (exact eigen-coordinate slope, cross-checked
    against a span tracked by subspace iteration); ``M >= K`` draws fixed heads
    ``W ~ N(0, 1)^{K x M}``, ``G = W W^T / M`` (scaling (i) of C5) and measures the slope of
    :class:`analysis.span_tracking.ModalSpan` (mpmath modal reference), cross-checked at one
    time inside the float64 window against the closed form
    :func:`analysis.closed_form.ensemble_features`.
``E1``, ``E2``, ``E3`` (docs: theory/c11-C13)
    The neural experiments of :data:`proofs.experiments.EXPERIMENTS`, one seed per cell. Every
    key of the experiment's configuration is a parameter; its default is the library's value
    for the chosen ``quick`` size, resolved *before* the cell is keyed (so a changed library
    default is a different cell, never a stale hit).
``runner-check``
    A diagnostic cell for the runner's own tests and benchmark: ``reps`` symmetric
    eigendecompositions of a seeded ``size x size`` matrix (deterministic bits), with an
    optional deliberate failure. It says nothing about the mathematics.

Determinism: a cell's result depends only on its configuration. Every random draw comes from
``np.random.default_rng([seed, salt])``; BLAS and numba run on one thread
(:func:`pin_threads`, called once per process by :func:`execute_cell`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
import os
import socket
import time
import traceback
from typing import Callable

import numpy as np

from repdyn.analysis.jsonable import to_jsonable

__all__ = ["Study", "STUDIES", "register", "get_study", "full_config", "execute_cell",
           "pin_threads", "THREAD_ENV", "REQUIRED"]

#: Environment that pins BLAS/OpenMP and numba to one thread. Must be in a process's
#: environment before numpy loads to take effect through the libraries themselves; the runner
#: sets it for worker processes before they spawn, and :func:`pin_threads` enforces the BLAS
#: part at run time (threadpoolctl) where the process started without it.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}


class _Required:
    def __repr__(self):
        return "REQUIRED"


#: Default of a parameter that every sweep must give.
REQUIRED = _Required()


@dataclass(frozen=True)
class Study:
    """A sweepable study: ``fn(**config) -> dict``.

    ``params`` maps every accepted parameter to its default (``REQUIRED``: no default);
    ``resolve(config) -> config`` (optional) fills library defaults that depend on other
    parameters; ``check(config)`` (optional) raises ``ValueError`` naming a bad value.

    Examples
    --------
    A study need not be registered to be configured and run:

    >>> from repdyn.studies import Study, full_config
    >>> double = Study("double", lambda seed, x: {"y": 2 * x}, {"seed": 0, "x": 1})
    >>> cfg = full_config(double, {"x": 3})
    >>> cfg, double.fn(**cfg)
    ({'seed': 0, 'x': 3}, {'y': 6})
    """

    name: str
    fn: Callable[..., dict]
    params: dict
    doc: str = ""
    resolve: Callable[[dict], dict] | None = None
    check: Callable[[dict], None] | None = None
    extra: dict = field(default_factory=dict)


#: name -> Study. Add one with :func:`register`.
STUDIES: dict[str, Study] = {}


def register(name: str, params: dict, *, resolve=None, check=None, doc: str | None = None):
    """Decorator: register ``fn`` as study ``name`` with parameters ``params`` (name -> default).

    Every study takes ``seed`` (the sweep file's ``seeds`` entry fills it).

    Examples
    --------
    >>> from repdyn.studies import STUDIES, full_config, get_study, register
    >>> @register("doc-square", {"seed": 0, "x": 2})
    ... def square(seed, x):
    ...     return {"x2": x * x}
    >>> study = get_study("doc-square")
    >>> study.fn(**full_config(study, {"x": 5}))
    {'x2': 25}
    >>> del STUDIES["doc-square"]                 # leave the registry as it was
    >>> register("no-seed", {"x": 1})
    Traceback (most recent call last):
    ...
    ValueError: study 'no-seed': params must declare 'seed'
    """
    if "seed" not in params:
        raise ValueError(f"study {name!r}: params must declare 'seed'")

    def deco(fn):
        STUDIES[name] = Study(name, fn, dict(params), doc if doc is not None else (fn.__doc__ or ""),
                              resolve, check)
        return fn
    return deco


def get_study(name: str) -> Study:
    """The registered study ``name``; ``ValueError`` naming the known ones otherwise.

    Examples
    --------
    >>> from repdyn.studies import get_study
    >>> get_study("runner-check").params
    {'seed': 0, 'size': 8, 'reps': 1, 'fail': 'never', 'marker': ''}
    >>> get_study("nope")
    Traceback (most recent call last):
    ...
    ValueError: unknown study 'nope' (known: ...)
    """
    try:
        return STUDIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown study {name!r} (known: {', '.join(sorted(STUDIES))})") from None


def full_config(study: Study | str, params: dict) -> dict:
    """Every parameter of ``study`` with ``params`` applied over the defaults, resolved, checked.

    Raises ``ValueError`` for an unknown parameter (naming it and the known ones), a missing
    required one, or a bad value (``study.check``).

    Examples
    --------
    >>> from repdyn.proofs.experiments import E1_CONFIG
    >>> from repdyn.studies import full_config
    >>> full_config("runner-check", {"size": 4})
    {'seed': 0, 'size': 4, 'reps': 1, 'fail': 'never', 'marker': ''}
    >>> cfg = full_config("E1", {"seed": 1})          # library defaults filled before keying
    >>> cfg["quick"], cfg["n"] == E1_CONFIG[True]["n"]
    (True, True)
    >>> full_config("runner-check", {"sise": 4})
    Traceback (most recent call last):
    ...
    ValueError: unknown parameter 'sise' for study 'runner-check' (known: seed, size, reps, fail, marker)
    >>> full_config("runner-check", {"fail": "maybe"})
    Traceback (most recent call last):
    ...
    ValueError: parameter 'fail': must be 'never', 'always', 'once' or 'exit', got 'maybe'
    """
    study = get_study(study) if isinstance(study, str) else study
    unknown = [k for k in params if k not in study.params]
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} for study {study.name!r} "
                         f"(known: {', '.join(study.params)})")
    cfg = {k: params.get(k, v) for k, v in study.params.items()}
    missing = [k for k, v in cfg.items() if v is REQUIRED]
    if missing:
        raise ValueError(f"parameter {missing[0]!r} of study {study.name!r} has no default: "
                         "give it in [grid] or [fixed]")
    if study.resolve is not None:
        cfg = study.resolve(cfg)
    if study.check is not None:
        study.check(cfg)
    return to_jsonable(cfg)


_PINNED = False


def pin_threads() -> dict:
    """Pin BLAS (threadpoolctl, when importable) and numba to one thread in this process.

    Returns what was found, for the record. Idempotent; cheap after the first call.

    Examples
    --------
    This pins the calling process for good (what a sweep worker wants):

    >>> from repdyn.studies import THREAD_ENV, pin_threads
    >>> pin_threads()["pinned"], pin_threads()
    (True, {'pinned': True})
    >>> sorted(set(THREAD_ENV.values()))
    ['1']
    """
    global _PINNED
    info = {"pinned": True}
    if _PINNED:
        return info
    for k, v in THREAD_ENV.items():
        os.environ.setdefault(k, v)
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(limits=1)
    except ImportError:                       # env vars set before spawn are the only pin
        info["threadpoolctl"] = False
    _PINNED = True
    return info


def execute_cell(study_name: str, config: dict, pin: bool = True) -> dict:
    """Run one cell; never raises for an error *inside* the cell.

    ``pin``: pin this process to one BLAS/numba thread first, for good (:func:`pin_threads`;
    what a worker wants). The serial runner passes False and limits threads for the duration
    of the sweep only.

    Returns ``{"status": "ok", "result": ..., "seconds": ..., "worker": host:pid,
    "version": ...}`` or ``{"status": "error", "error": "Type: message", "traceback": ...}``.
    This is what a Dask worker (or the serial runner) executes; the caller writes records.

    Examples
    --------
    The ``runner-check`` checksum is the sum of the eigenvalues of ``A + A^T``, i.e. its trace:

    >>> import numpy as np
    >>> from repdyn.studies import execute_cell, full_config
    >>> out = execute_cell("runner-check", full_config("runner-check", {"size": 4}), pin=False)
    >>> out["status"], out["result"]["size"]
    ('ok', 4)
    >>> A = np.random.default_rng([0, 7003]).standard_normal((4, 4))
    >>> bool(np.isclose(out["result"]["checksum"], 2 * np.trace(A)))
    True
    >>> bad = execute_cell("runner-check", full_config("runner-check", {"fail": "always"}), pin=False)
    >>> bad["status"], bad["error"]                   # recorded, not raised
    ('error', 'RuntimeError: deliberate failure (seed 0)')
    """
    from repdyn import __version__
    if pin:
        pin_threads()
    out = {"worker": f"{socket.gethostname()}:{os.getpid()}", "version": __version__}
    t0 = time.perf_counter()
    try:
        study = get_study(study_name)
        res = to_jsonable(study.fn(**config))
        json.dumps(res, allow_nan=False)      # a non-serialisable result is the cell's error
        out.update(status="ok", result=res)
    except Exception as exc:                  # recorded as a failed attempt, retried
        out.update(status="error", error=f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                   traceback=traceback.format_exc(limit=20))
    out["seconds"] = time.perf_counter() - t0
    return out


# =========================================================================== convergence-rate

#: MDP families of the convergence-rate study. ``n`` is the number of states; four-rooms takes
#: the largest room width whose grid has at most ``n`` states (8, 20, 40, 68, 104, ... for
#: widths 1, 2, 3, ...; ``n_states`` in the result is the actual count).
FAMILIES = ("chain", "reversible", "ring", "four-rooms", "dirichlet")
#: Rate fits end at ``max(DEPTH / r, SETTLE / delta)`` (capped at ``CAP / r``): ln d has fallen
#: by ~DEPTH and the slowest correction (rate delta) by e^-SETTLE, so the slope is the
#: asymptotic one to ~e^-SETTLE relative.
DEPTH, SETTLE, CAP = 50.0, 10.0, 400.0
#: Fit points on [0.75 T, T].
FIT_POINTS = 4
#: With a complex eigenvalue among lambda_1..lambda_{K+1} (and G != I), ln d oscillates about
#: its mean slope with an amplitude a of order 1: the fit then spans [CAP / 2r, CAP / r] with
#: this many points, so the slope's bias is ~ 4 a / CAP ~ 1 % relative.
FIT_POINTS_OSC = 24
#: Float64 cross-check of the modal reference: relative accuracy asked of the float64 window.
F64_TOL = 1e-6


def build_family(family: str, n: int, rng) -> np.ndarray:
    """Dense P of ``family`` (see :data:`FAMILIES`); random families draw from ``rng``."""
    from repdyn.analysis import mdp
    if family == "chain":
        return mdp.random_walk_chain(n, 0.5)
    if family == "reversible":
        return mdp.random_reversible(n, rng)
    if family == "ring":
        return mdp.ring(n)
    if family == "four-rooms":
        room = 1
        while 4 * (room + 1) ** 2 + 4 <= n:   # states of width w: (2w+1)^2 - (4w+1) + 4 = 4w^2 + 4
            room += 1
        return mdp.four_rooms(room).toarray()
    if family == "dirichlet":
        return mdp.random_dirichlet(n, rng)
    raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")


def _check_rate_config(c: dict) -> None:
    if c["family"] not in FAMILIES:
        raise ValueError(f"parameter 'family': {c['family']!r} is not one of {', '.join(FAMILIES)}")
    for k, lo in (("n", 2), ("K", 1), ("M", 0), ("seed", 0)):
        v = c[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"parameter {k!r}: must be an integer >= {lo}, got {v!r}")
    g = c["gamma"]
    if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0.0 < g < 1.0:
        raise ValueError(f"parameter 'gamma': must lie in (0, 1), got {g!r}")


def _fit_end(lam_re, d, gamma, K) -> float:
    """End time of the rate fit (see DEPTH, SETTLE, CAP); ``lam_re`` descending, ``d`` = eig(G)."""
    d = np.sort(d)
    r = d[0] * gamma * (lam_re[K - 1] - lam_re[K])
    corr = []
    if K >= 2:
        corr.append((d[1] - d[0]) * gamma * (lam_re[K - 1] - lam_re[K]))
    if K + 1 < len(lam_re):
        corr.append(d[0] * gamma * (lam_re[K] - lam_re[K + 1]))
    corr = [c for c in corr if c > 1e-12 * r]
    delta = min(corr) if corr else r
    return float(min(max(DEPTH / r, SETTLE / delta), CAP / r))


@register("convergence-rate", {"family": "chain", "n": 10, "K": 2, "M": 0, "gamma": 0.9,
                               "seed": 0}, check=_check_rate_config)
def convergence_rate(family, n, K, M, gamma, seed) -> dict:
    """Measured vs predicted alignment rate of ``span Phi_t`` to the EBFs (docs: theory/c2, C3, C6).

    Flow ``dPhi/dt = -A Phi G`` (R = 0, fixed heads), ``Phi_0 ~ N(0, 1)^{n x K}``. Predicted
    rate ``r = d_min(G) gamma (Re lambda_K - Re lambda_{K+1})``.

    * ``M = 0``: G = I (the C5 (i) limit); :func:`proofs.values.measure_alignment_rate`.
    * ``M >= K``: ``W ~ N(0, 1)^{K x M}``, ``G = W W^T / M``; slope of the modal reference
      ``ln d`` (:class:`analysis.span_tracking.ModalSpan`) over ``[0.75 T, T]``,
      ``T = max(50 / r, 10 / delta)`` capped at ``400 / r`` (delta: slowest correction), and
      ``float64_check_rel``: the float64 closed form (``ensemble_features``) against the modal
      distance at one time inside :func:`analysis.span_tracking.float64_window`.
    * ``0 < M < K``: G is singular, some columns never move: not applicable.

    Returns a dict with ``applicable`` (False with a ``reason`` when an assumption fails: no
    strict gap after lambda_K, a split conjugate pair, M < K, a defective P), ``n_states``,
    ``predicted_rate``, ``measured_rate``, ``rel_error`` and the cross-checks.

    Notes
    -----
    Cost: O(n^3) for the spectrum, plus (M = 0) ~180 QR steps of an n x K basis, or (M > 0)
    FIT_POINTS modal evaluations in mpmath at ~``T d_max range / ln 10`` digits. About 0.02-0.3 s
    for n <= 20; 1-3 s when a complex eigenvalue makes ln d oscillate (rings, some Dirichlet
    draws; FIT_POINTS_OSC points out to CAP / r). Accuracy: the fitted slope is the asymptotic
    rate up to the slowest correction left at the fit's end, ~e^-SETTLE relative when T is
    not capped; when it is capped at CAP / r (near-equal eigenvalues of G, or a small gap
    below lambda_{K+1}), a few per cent (four-rooms K = 3 at M = 16-256: 1-4 %, converging
    towards the prediction as T grows).
    """
    from repdyn.analysis.mdp import EIG_TIE_TOL, MDP
    from repdyn.analysis.spectral import alignment_rate, ebfs, eigenvalues, grassmann_distance
    rng = np.random.default_rng([seed, 7001])
    P = MDP(build_family(family, n, rng), gamma=gamma)   # once per cell: factorisations cached
    N = P.n
    X0 = rng.standard_normal((N, K))
    out = {"n_states": int(N), "applicable": True, "reason": ""}
    lam = eigenvalues(P)
    out["lambda_K"] = float(lam[min(K, N) - 1].real)
    if K >= N:
        return dict(out, applicable=False, reason=f"K = {K} >= n_states = {N}")
    out["gap"] = float(lam[K - 1].real - lam[K].real)
    if 0 < M < K:
        return dict(out, applicable=False, reason=f"M = {M} < K = {K}: G is singular, no collapse")
    if M == 0:
        W, G, d = None, np.eye(K), np.ones(K)
    else:
        W = rng.standard_normal((K, M))
        G = W @ W.T / M
        d = np.linalg.eigvalsh(G)
    out["d_min"] = float(d.min())
    try:
        pred = alignment_rate(P, gamma, K, d_min=float(d.min()))
    except ValueError as exc:                 # tie or split conjugate pair: U_1:K undefined
        return dict(out, applicable=False, reason=" ".join(str(exc).split()))
    out["predicted_rate"] = pred
    try:
        if M == 0:
            from repdyn.proofs.values import measure_alignment_rate
            r = measure_alignment_rate(P, gamma, X0, K)
            out["measured_rate"] = r["measured_rate"]
            out["tracked_rate"] = r["tracked_rate"]
            out["eigen_rate"] = r["eigen_rate"]
            out["tracked_vs_eigen_rel"] = r.get("tracked_vs_eigen_rel")
            out["final_distance"] = r["final_distance"]
        else:
            from repdyn.analysis.closed_form import ensemble_features
            from repdyn.analysis.span_tracking import ModalSpan, fit_rate, float64_window
            ms = ModalSpan(P, gamma, X0, G)
            T = _fit_end(ms.lam.real, ms.d, gamma, K)
            osc = bool(np.any(np.abs(ms.lam[:K + 1].imag) > EIG_TIE_TOL))
            if osc:       # ln d oscillates about its mean slope: fit over a long window
                T = CAP / pred
            t = np.linspace((0.5 if osc else 0.75) * T, T, FIT_POINTS_OSC if osc else FIT_POINTS)
            out["oscillating"] = osc
            out["measured_rate"] = fit_rate(t, ms.log_distance(t), -np.inf, np.inf)
            out["fit_end"] = T
            t64 = min(0.5 * float64_window(P, gamma, K, G, tol=F64_TOL), 2.0 / pred)
            phi = ensemble_features(P, np.zeros(N), gamma, X0, W, 1.0 / M, np.array([t64]))[0]
            d64 = grassmann_distance(phi, ebfs(P, K))
            dm = float(np.exp(ms.log_distance(np.array([t64]))[0]))
            out["float64_check_t"] = t64
            out["float64_check_rel"] = abs(d64 - dm) / dm
    except ValueError as exc:                 # defective / ill-conditioned eigenvectors
        return dict(out, applicable=False, reason=" ".join(str(exc).split()))
    m = out["measured_rate"]
    out["rel_error"] = abs(m - pred) / pred if m is not None else None
    return out


# ==================================================================== neural experiments

def _experiment_study(eid: str):
    """Register experiment ``eid`` of :data:`proofs.experiments.EXPERIMENTS` as a study."""
    from repdyn.proofs import experiments as ex
    configs = {"E1": ex.E1_CONFIG, "E2": ex.E2_CONFIG, "E3": ex.E3_CONFIG}[eid]
    keys = list(dict.fromkeys(list(configs[True]) + list(configs[False])))
    extra = {"E2": {"p_right": 0.5}, "E3": {"p_right": 0.5}}.get(eid, {})
    params = {"seed": 0, "quick": True, **{k: None for k in keys}, **extra}

    def resolve(c):
        base = dict(configs[bool(c["quick"])])
        out = {"seed": c["seed"], "quick": bool(c["quick"])}
        for k in keys:
            out[k] = base.get(k) if c[k] is None else c[k]
        for k, v in extra.items():
            out[k] = c[k]
        return out

    def check(c):
        if isinstance(c["seed"], bool) or not isinstance(c["seed"], int) or c["seed"] < 0:
            raise ValueError(f"parameter 'seed': must be an integer >= 0, got {c['seed']!r}")

    def cell(seed, quick, **cfg):
        r = ex.EXPERIMENTS[eid](seeds=[seed], quick=quick, **cfg)
        return r["per_seed"][0]

    cell.__doc__ = (f"Experiment {eid} (:func:`proofs.experiments.{ex.EXPERIMENTS[eid].__name__}`) "
                    "for one seed: its per-seed result.")
    register(eid, params, resolve=resolve, check=check)(cell)


for _eid in ("E1", "E2", "E3"):
    _experiment_study(_eid)


# ========================================================================== runner-check

def _check_runner(c):
    if c["fail"] not in ("never", "always", "once", "exit"):
        raise ValueError(f"parameter 'fail': must be 'never', 'always', 'once' or 'exit', "
                         f"got {c['fail']!r}")
    for k, lo in (("seed", 0), ("size", 1), ("reps", 0)):
        if isinstance(c[k], bool) or not isinstance(c[k], int) or c[k] < lo:
            raise ValueError(f"parameter {k!r}: must be an integer >= {lo}, got {c[k]!r}")


@register("runner-check", {"seed": 0, "size": 8, "reps": 1, "fail": "never", "marker": ""},
          check=_check_runner)
def runner_check(seed, size, reps, fail, marker) -> dict:
    """Diagnostic cell for the runner: ``reps`` eigendecompositions of a seeded symmetric matrix.

    ``fail``: ``"never"``; ``"always"`` (raises RuntimeError); ``"once"`` (raises unless the
    file ``marker`` exists, and creates it: the first attempt fails, a retry succeeds);
    ``"exit"`` (kills the process running it with ``os._exit(13)``, like a segfault: a
    "poison" cell that takes its Dask worker down every time; never use it with
    ``--workers 0``, where that process is the sweep itself).
    Result: ``checksum`` = sum of all eigenvalues over the reps (deterministic bits).

    Notes
    -----
    Cost ~ reps * size^3 / 3 flops (~1 s for size 400, reps 12 on one core).
    """
    if fail == "always":
        raise RuntimeError(f"deliberate failure (seed {seed})")
    if fail == "exit":
        os._exit(13)
    if fail == "once":
        if not marker:
            raise ValueError("parameter 'marker': fail = 'once' needs a marker file path")
        if not os.path.exists(marker):
            with open(marker, "w") as fh:
                fh.write("failed once\n")
            raise RuntimeError(f"deliberate first-attempt failure (seed {seed})")
    rng = np.random.default_rng([seed, 7003])
    total = 0.0
    for _ in range(int(reps)):
        A = rng.standard_normal((size, size))
        total += float(np.linalg.eigvalsh(A + A.T).sum())
    return {"checksum": total, "size": int(size), "reps": int(reps)}
