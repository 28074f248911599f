"""The claim registry: one entry per claim C1-C14 (docs: theory/index), with the checks attached to it.

A *claim* is a statement of the theory (its id, a few-word title, the statement, its
assumptions and whether it is exact or empirical). A *check* is one way of certifying it
(symbolic derivation, exact rational arithmetic, numeric, statistical) and is registered
from the module that holds it with the :func:`check` decorator::

    @check("C1", "TD/MC closed forms solve their ODEs", method="numeric")
    def _c1_ode(ctx: Context) -> Outcome:
        ...
        return Outcome(verdict="holds", measured=err, predicted=0.0, tolerance=tol)

``run()`` executes the selected checks and returns :class:`Result` records; ``repdyn verify``
only prints them. A claim with no check registered is reported ``not-built`` (never as
holding). A registered check that was not run (``--quick`` leaves out the full-only checks; a
user's MDP leaves out the checks that do not run on ``ctx.mdps``) is reported ``not-run`` with
the reason, one row per check: never ``not-applicable``, which is reserved for a check that ran
and found the claim's assumptions unmet. Adding a claim is one :class:`Claim` entry plus one
decorated function.

Exit codes (:func:`exit_code`): 1 if any check ``fails``. With ``strict``: also 1 on
``not-reproduced`` and ``not-built``, and on ``not-run`` for a claim the user named explicitly
(``repdyn verify --claims C7 --quick --strict`` exits 1 when a C7 check was left out; a plain
``--quick --strict`` over every claim reports and counts its ``not-run`` rows but does not fail on
them, since leaving them out is what ``--quick`` asks for). docs: contract.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
import time
import traceback
from typing import Callable, Iterable

import numpy as np

from repdyn.analysis.jsonable import to_jsonable

__all__ = ["VERDICTS", "METHODS", "Claim", "Outcome", "Result", "Context", "CLAIMS",
           "check", "checks_for", "run", "run_check", "exit_code", "code_version"]

#: Verdicts of docs: theory/index, plus ``not-built`` for claims whose checks do not exist yet and
#: ``not-run`` for a registered check this run left out (with the reason).
VERDICTS = ("holds", "fails", "not-reproduced", "not-applicable", "not-built", "not-run")
METHODS = ("symbolic", "exact", "numeric", "statistical")


@dataclass(frozen=True)
class Claim:
    """One statement of the theory, as ``repdyn verify`` and the docs show it.

    Parameters
    ----------
    id : str
        ``"C1"`` ... ``"C14"``; the page is docs: theory/cN.
    title : str
        A few words, for the table.
    statement : str
        The claim in one or two sentences.
    assumptions : str
        What it needs (a verdict of ``not-applicable`` names the one that is unmet).
    kind : {"exact", "empirical"}
        ``exact`` claims can only hold or fail; ``empirical`` ones hold or are not reproduced.

    Examples
    --------
    >>> from repdyn.proofs.registry import CLAIMS
    >>> c = CLAIMS["C2"]
    >>> c.id, c.kind
    ('C2', 'exact')
    >>> "gamma > 0" in c.assumptions
    True
    """

    id: str
    title: str          # a few words, for the table
    statement: str
    assumptions: str
    kind: str           # "exact" (can only hold or fail) or "empirical" (holds / not-reproduced)


@dataclass
class Outcome:
    """What a check function returns. ``measured``/``predicted`` are the headline numbers.

    Examples
    --------
    >>> from repdyn.proofs.registry import Outcome
    >>> Outcome("holds", measured=1e-15, predicted=0.0, tolerance=1e-12).verdict
    'holds'
    >>> Outcome("passes")
    Traceback (most recent call last):
    ...
    ValueError: verdict must be one of ('holds', 'fails', 'not-reproduced', 'not-applicable', 'not-built', 'not-run'), got 'passes'
    """

    verdict: str
    measured: object = None
    predicted: object = None
    tolerance: object = None
    reason: str = ""
    evidence: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass
class Result:
    """One row of ``repdyn verify``: a check's :class:`Outcome` with its claim and timing.

    ``to_dict()`` gives the JSON record that ``verify --json`` writes (numpy values become
    plain numbers and lists).

    Examples
    --------
    >>> from repdyn.proofs.registry import Context, run
    >>> r = run(["C10"], Context(quick=True))[0]
    >>> r.claim, r.verdict
    ('C10', 'holds')
    >>> sorted(r.to_dict())[:4]
    ['check', 'claim', 'evidence', 'measured']
    """

    claim: str
    title: str
    check: str
    method: str
    verdict: str
    measured: object
    predicted: object
    tolerance: object
    reason: str
    evidence: dict
    seconds: float
    resumed: bool = False     # taken from an earlier run's --json file, not recomputed

    def to_dict(self) -> dict:
        return to_jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        """The inverse of :meth:`to_dict` (numbers come back as JSON gave them)."""
        keys = ("claim", "title", "check", "method", "verdict", "measured", "predicted",
                "tolerance", "reason", "evidence", "seconds")
        missing = [k for k in keys if k not in d]
        if missing:
            raise ValueError(f"result record: missing key(s) {missing}")
        if d["verdict"] not in VERDICTS:
            raise ValueError(f"result record: verdict must be one of {VERDICTS}, got {d['verdict']!r}")
        return cls(*(d[k] for k in keys), resumed=True)


@dataclass
class Context:
    """What a check gets: run size, seed, and the MDPs to run on.

    ``mdps`` is the list of :class:`analysis.mdp.MDP` to check on: the built-in defaults,
    or the user's own MDP from ``repdyn verify --mdp FILE`` (then ``user_mdp`` is True and
    only checks registered with ``user_mdp=True`` run).

    Examples
    --------
    >>> from repdyn.proofs.registry import Context
    >>> ctx = Context(quick=True, seed=3)
    >>> [m.name for m in ctx.mdps][:2]
    ['two-state(p=0.3,q=0.2)', 'chain(n=10,p=0.5)']
    >>> bool(ctx.rng(1).standard_normal() == Context(seed=3, mdps=[]).rng(1).standard_normal())
    True
    """

    quick: bool = False
    seed: int = 0
    mdps: list | None = None
    user_mdp: bool = False

    def __post_init__(self):
        if self.mdps is None:
            from repdyn.analysis.mdp import default_mdps
            self.mdps = default_mdps(quick=self.quick, seed=self.seed)

    def rng(self, salt: int = 0) -> np.random.Generator:
        """A Generator that depends only on the context's seed and ``salt``."""
        return np.random.default_rng([self.seed, salt])


@dataclass(frozen=True)
class _Check:
    claim: str
    name: str
    method: str
    func: Callable[[Context], Outcome]
    quick: bool
    user_mdp: bool


CLAIMS: dict[str, Claim] = {c.id: c for c in [
    Claim("C1", "closed forms", "MC: V_t = e^{-t}(V0 - V*) + V*; TD: V_t = exp(-tA)(V0 - V*) + V*; "
          "both solve their ODEs and V_t -> V*.", "P stochastic, 0 <= gamma < 1", "exact"),
    Claim("C2", "TD error aligns with U_1", "d(span(V_t - V*), U_1) -> 0 like "
          "exp(-t gamma (lambda_1 - lambda_2)) for almost every V0 (Prop. 3.4).",
          "P diagonalisable, real spectrum, lambda_1 > lambda_2, gamma > 0", "exact"),
    Claim("C3", "K values align with U_1:K", "d(span{V_t^k - V*}, U_1:K) -> 0 like "
          "exp(-t gamma (lambda_K - lambda_K+1)) (Prop. 3.5).",
          "strict gap Re lambda_K > Re lambda_K+1, gamma > 0", "exact"),
    Claim("C4", "linear FA reaches V*", "Two-timescale feature/weight flow: Phi_t w_t -> V* "
          "from generic initialisations.", "alpha, beta > 0", "empirical"),
    Claim("C5", "ensemble limit (Thm 4.1)", "Fixed heads: finite-M flow is linear with an exact "
          "solution; as M -> inf it tends to exp(-tA)Phi0 (alpha=1/M) or eq. (14) (sigma^2=1/M).",
          "beta = 0", "exact"),
    Claim("C6", "collapse to EBFs (Cor 4.2)", "R = 0, fixed heads, G > 0: Phi_t -> 0 and "
          "d(span Phi_t, U_1:K) -> 0 at rate d_min(G) gamma (lambda_K - lambda_K+1).",
          "R = 0, M >= K, gamma > 0, strict gap", "exact"),
    Claim("C7", "random cumulants (Thm 4.3)", "Phi_t -> exp(-tA)(Phi0 - A^-1 Z) + A^-1 Z; Phi_inf "
          "columns ~ N(0, Psi Sigma Psi^T) (RSBFs); span(Phi_t - Phi_inf) -> EBFs.",
          "beta = 0, alpha = 1, w ~ N(0, I/M), r ~ N(0, Sigma)", "exact"),
    Claim("C8", "other auxiliary tasks", "Additional policies and several discounts follow the "
          "C8 table (corrected additional-policies limit).", "as in the table", "exact"),
    Claim("C9", "value-improvement transfer", "EBFs and RSBFs of P^pi0 fit the values along the "
          "soft policy-iteration path better than the median random feature set.",
          "20-state two-action chain, gamma = 0.9, k = 5", "empirical"),
    Claim("C10", "feature-rank estimators", "Each rank estimator matches its definition; "
          "rho_n is consistent as n grows.", "eps = 0.01", "exact"),
    Claim("C11", "capacity loss", "After fitting a sequence of targets, a network fits a new "
          "target worse than a fresh one.", "MLP, Adam, fixed budget", "empirical"),
    Claim("C12", "InFeR preserves capacity", "InFeR keeps feature rank and target-fitting "
          "capacity higher than no regulariser.", "k = 10, beta = 100, alpha = 0.1", "empirical"),
    Claim("C13", "neural TD collapse", "Sparse reward: ensemble heads lose feature rank; random "
          "cumulants and InFeR keep it; ablations of InFeR (H1, H2).", "small MLP, TD(0)", "empirical"),
    Claim("C14", "update-space view", "Linear FA: update kernel K_t = alpha ||w_t||^2 I + beta Phi_t "
          "Phi_t^T; its feature part vanishes under ensemble collapse (R = 0) and is kept by random "
          "cumulants; TD error along eigenvectors of P decays at 1 - gamma lambda_i. Networks: TD "
          "training lowers interference (NTK) compared with MC regression and the untrained net.",
          "linear FA flow (alpha, beta); diagonalisable P for the modal rates; small MLP for the "
          "empirical part", "exact"),
]}

_CHECKS: list[_Check] = []


def check(claim: str, name: str, *, method: str, quick: bool = True, user_mdp: bool = False):
    """Register ``func(ctx) -> Outcome`` as a check of ``claim``.

    ``quick``: run under ``verify --quick``; ``user_mdp``: the check runs on ``ctx.mdps``
    and is therefore meaningful on a user's MDP (``verify --mdp``).

    Examples
    --------
    A check is a decorated function (see the gallery example "Your own check as a --plugin")::

        @check("C1", "my extra certificate", method="numeric", user_mdp=True)
        def my_check(ctx):
            ...
            return Outcome("holds", measured=err, predicted=0.0, tolerance=TOL)

    Claims and methods are validated when the decorator is created:

    >>> from repdyn.proofs.registry import check
    >>> check("C99", "anything", method="numeric")
    Traceback (most recent call last):
    ...
    ValueError: claim must be one of [...], got 'C99'
    >>> check("C1", "anything", method="guess")
    Traceback (most recent call last):
    ...
    ValueError: method must be one of ('symbolic', 'exact', 'numeric', 'statistical'), got 'guess'
    """
    if claim not in CLAIMS:
        raise ValueError(f"claim must be one of {sorted(CLAIMS)}, got {claim!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")

    def deco(func):
        if any(c.claim == claim and c.name == name for c in _CHECKS):
            raise ValueError(f"check {claim}/{name!r} registered twice")
        _CHECKS.append(_Check(claim, name, method, func, quick, user_mdp))
        return func
    return deco


def checks_for(claims: Iterable[str] | None = None, *, quick: bool = False,
               user_mdp: bool = False) -> list[_Check]:
    """The registered checks for ``claims`` (all if None), in claim order.

    Examples
    --------
    >>> from repdyn.proofs.registry import checks_for
    >>> chks = checks_for(["C10"])
    >>> len(chks) >= 1, {c.claim for c in chks}
    (True, {'C10'})
    >>> all(c.user_mdp for c in checks_for(["C1", "C2"], user_mdp=True))
    True
    """
    _load_check_modules()
    ids = _select(claims)
    order = {c: i for i, c in enumerate(CLAIMS)}
    sel = [c for c in _CHECKS if c.claim in ids
           and (c.quick or not quick) and (c.user_mdp or not user_mdp)]
    return sorted(sel, key=lambda c: order[c.claim])


def run_check(chk: _Check, ctx: Context) -> Result:
    """Run one check, timing it; an exception inside a check is reported as ``fails``.

    Examples
    --------
    >>> from repdyn.proofs.registry import Context, checks_for, run_check
    >>> r = run_check(checks_for(["C10"])[0], Context(quick=True))
    >>> r.claim, r.verdict, r.seconds >= 0
    ('C10', 'holds', True)
    """
    t0 = time.perf_counter()
    try:
        out = chk.func(ctx)
        if not isinstance(out, Outcome):
            raise TypeError(f"check returned {type(out).__name__}, not Outcome")
    except Exception as exc:  # a crashing certificate is a failed certificate, never a pass
        out = Outcome("fails", reason=f"raised {type(exc).__name__}: {exc}",
                      evidence={"traceback": traceback.format_exc(limit=6)})
    c = CLAIMS[chk.claim]
    return Result(chk.claim, c.title, chk.name, chk.method, out.verdict, out.measured,
                  out.predicted, out.tolerance, out.reason, out.evidence,
                  time.perf_counter() - t0)


def _not_run(chk: _Check, why: str) -> Result:
    return Result(chk.claim, CLAIMS[chk.claim].title, chk.name, chk.method, "not-run",
                  None, None, None, why, {}, 0.0)


def run(claims: Iterable[str] | None = None, ctx: Context | None = None,
        on_result: Callable[[Result], None] | None = None,
        on_start: Callable[[_Check], None] | None = None,
        done: dict | None = None) -> list[Result]:
    """Run every selected check; claims without a check give one ``not-built`` result.

    Every registered check of a selected claim gives exactly one row: its result, or
    ``not-run`` with the reason (left out by ``--quick``, or not meaningful on a user's MDP).
    ``done`` maps ``(claim, check name)`` to a :class:`Result` already finished under the same
    configuration and code (``verify --json`` resuming): those are reported, not recomputed.
    ``on_start``/``on_result`` let a front end show progress and save results as they finish
    (``on_start`` is not called for a resumed result).

    Examples
    --------
    >>> from repdyn.proofs.registry import Context, run
    >>> results = run(["C10"], Context(quick=True))
    >>> sorted({r.verdict for r in results})
    ['holds']
    >>> run(["C77"])
    Traceback (most recent call last):
    ...
    ValueError: claims: unknown claim id(s) ['C77']; known: ...
    """
    ctx = ctx or Context()
    ids = _select(claims)
    chks = checks_for(ids, quick=ctx.quick, user_mdp=ctx.user_mdp)
    done = done or {}
    results = []

    def emit(r):
        results.append(r)
        if on_result:
            on_result(r)

    for cid in ids:
        mine = [c for c in chks if c.claim == cid]
        registered = [c for c in _CHECKS if c.claim == cid]
        if not registered:
            emit(Result(cid, CLAIMS[cid].title, "-", "-", "not-built", None, None, None,
                        "not built yet", {}, 0.0))
            continue
        for chk in mine:
            prev = done.get((chk.claim, chk.name))
            if prev is not None and prev.verdict != "not-run":
                emit(prev)
                continue
            if on_start:
                on_start(chk)
            emit(run_check(chk, ctx))
        for chk in (c for c in registered if c not in mine):
            # a claim whose other checks ran must not look fully checked: one row per skip
            why = ("not run on a user's MDP (this check does not run on --mdp input)"
                   if ctx.user_mdp and not chk.user_mdp
                   else "not run under --quick (run without --quick)")
            emit(_not_run(chk, why))
    return results


def exit_code(results: Iterable[Result], strict: bool = False,
              requested: Iterable[str] | None = None) -> int:
    """1 if any result ``fails``; with ``strict`` also on ``not-reproduced``/``not-built``, and
    on ``not-run`` for a claim in ``requested`` (the claims the user named explicitly).

    Examples
    --------
    >>> from repdyn.proofs.registry import Result, exit_code
    >>> def row(verdict):
    ...     return Result("C4", "t", "c", "numeric", verdict, None, None, None, "", {}, 0.0)
    >>> exit_code([row("holds"), row("not-reproduced")])
    0
    >>> exit_code([row("holds"), row("not-reproduced")], strict=True)
    1
    >>> exit_code([row("fails")])
    1
    >>> exit_code([row("not-run")], strict=True), exit_code([row("not-run")], strict=True, requested=["C4"])
    (0, 1)
    """
    req = {c.strip().upper() for c in (requested or ())}
    bad = {"fails"} | ({"not-reproduced", "not-built"} if strict else set())
    return int(any(r.verdict in bad or (strict and r.verdict == "not-run" and r.claim in req)
                   for r in results))


def code_version() -> str:
    """sha256 over the library's source files (every ``.py`` of analysis/, kernels/, proofs/,
    repdyn/, by relative path and content): a resumed ``verify --json`` reuses a result only if
    the code that produced it is byte for byte the code running now. Cost: one read of ~60 files.

    Examples
    --------
    >>> from repdyn.proofs.registry import code_version
    >>> v = code_version()
    >>> len(v), v == code_version()          # a hex sha256, the same while the code is unchanged
    (64, True)
    """
    import hashlib
    import os
    import repdyn.analysis
    import repdyn.kernels
    import repdyn.proofs
    import repdyn
    h = hashlib.sha256()
    for pkg in (repdyn.analysis, repdyn.kernels, repdyn.proofs, repdyn):
        root = os.path.dirname(os.path.abspath(pkg.__file__))
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(files):
                if f.endswith(".py"):
                    path = os.path.join(dirpath, f)
                    h.update(f"{pkg.__name__}/{os.path.relpath(path, root)}\0".encode())
                    with open(path, "rb") as fh:
                        h.update(fh.read())
                    h.update(b"\0")
    return h.hexdigest()


def _select(claims) -> list[str]:
    if claims is None:
        return list(CLAIMS)
    ids = [c.strip().upper() for c in claims if c.strip()]
    unknown = [c for c in ids if c not in CLAIMS]
    if unknown:
        raise ValueError(f"claims: unknown claim id(s) {unknown}; known: {', '.join(CLAIMS)}")
    return [c for c in CLAIMS if c in ids]


_LOADED = False
#: Modules whose import registers checks. One per family of claims (docs: architecture).
CHECK_MODULES = ("repdyn.proofs.values", "repdyn.proofs.exact", "repdyn.proofs.simulation", "repdyn.proofs.transfer",
                 "repdyn.proofs.neural", "repdyn.proofs.update_space", "repdyn.proofs.kernel_checks")


def _load_check_modules():
    global _LOADED
    if not _LOADED:
        import importlib
        for m in CHECK_MODULES:
            importlib.import_module(m)
        _LOADED = True
