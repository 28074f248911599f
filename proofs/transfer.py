"""C9: transfer of EBFs/RSBFs along the value-improvement path (docs: theory/c9, the talk's Figure 3).

The computation is :func:`analysis.value_improvement.value_improvement_transfer`; this module
only judges it. C9 is empirical: ``holds`` or ``not-reproduced``.
"""
from __future__ import annotations

import numpy as np

from repdyn.proofs.registry import check, Context, Outcome

__all__ = ["C9_SEEDS", "C9_DRAWS", "C9_MAJORITY", "C9_ALPHA", "c9_verdict", "random_win_upper"]

#: Independent seeds of the random-feature draws (docs: theory/index: empirical claims over >= 5 seeds).
C9_SEEDS = 5
#: Random Gaussian feature matrices per seed (docs: theory/c9: >= 100).
C9_DRAWS = 100
#: "At most points of the path": strictly more than half of the policies pi_j.
C9_MAJORITY = 0.5
#: Two-sided level of the Clopper-Pearson interval on p_j, the probability that a random
#: feature set fits V^{pi_j} at least as well as the EBFs/RSBFs (draws are independent).
C9_ALPHA = 0.05

_VARIANTS = [(name, v0) for v0 in (False, True) for name in ("ebf", "rsbf")]


def _label(name, v0):
    return f"{name}{'+V0' if v0 else ''}"


def random_win_upper(method_err, random_err, alpha: float = C9_ALPHA):
    """Upper Clopper-Pearson bound on p_j = P(random draw fits at least as well), per path point.

    ``method_err`` (J,), ``random_err`` (draws, J). A draw "fits at least as well" when its
    error is <= the method's + :data:`analysis.value_improvement.BEAT_TOL`. The method beats
    the median random draw at j with confidence 1 - alpha/2 when the bound is < 1/2.
    """
    from scipy.stats import beta
    from repdyn.analysis.value_improvement import BEAT_TOL
    random_err = np.asarray(random_err, float)
    N = random_err.shape[0]
    x = np.sum(random_err <= np.asarray(method_err, float)[None] + BEAT_TOL, axis=0)
    return np.where(x >= N, 1.0, beta.ppf(1 - alpha / 2, x + 1, np.maximum(N - x, 1)))


def c9_verdict(results) -> Outcome:
    """Judge C9 from a list of :class:`~analysis.value_improvement.TransferResult` (one per seed).

    For each feature set (EBFs, RSBFs; with and without V^{pi_0}) and path point j, the random
    draws of all seeds are pooled and p_j (the chance that a random feature set fits V^{pi_j}
    at least as well) gets a Clopper-Pearson upper bound (:func:`random_win_upper`). The
    feature set *significantly beats the median random draw* at j when that bound is < 1/2.
    ``holds`` when every feature set does so at more than :data:`C9_MAJORITY` of the path
    points, and also beats the median at most points for every seed separately; otherwise
    ``not-reproduced``. Measured: the smallest such fraction. Evidence: the fractions, the
    per-seed beat-the-median fractions and the effect size (median over j of the relative
    gap to the random median, per seed).
    """
    if not results:
        raise ValueError("results must hold at least one TransferResult")
    fracs = {_label(n, v): [r.beat_fraction(n, v) for r in results] for n, v in _VARIANTS}
    signif = {}
    for n, v in _VARIANTS:
        # pool the draws of every seed, each compared with its own seed's feature errors
        diff = np.concatenate([(r.errors_v0 if v else r.errors)["random"]
                               - (r.errors_v0 if v else r.errors)[n][None] for r in results])
        up = random_win_upper(np.zeros(diff.shape[1]), diff)
        signif[_label(n, v)] = float(np.mean(up < 0.5))
    effect = {}
    for n, v in _VARIANTS:
        gaps = []
        for r in results:
            e = r.errors_v0 if v else r.errors
            med = np.median(e["random"], axis=0)
            ok = med > 0
            gaps.append(float(np.median((med[ok] - e[n][ok]) / med[ok])))
        effect[_label(n, v)] = gaps
    worst_key = min(signif, key=signif.get)
    worst = signif[worst_key]
    worst_seed = min(min(f) for f in fracs.values())
    ok = worst > C9_MAJORITY and worst_seed > C9_MAJORITY
    summary = ", ".join(f"{k} {f:.2f}" for k, f in signif.items())
    reason = (f"fraction of the {len(results[0].values)} path points where the features beat the "
              f"median of {len(results)} x {results[0].config.get('draws')} random draws "
              f"(Clopper-Pearson {1 - C9_ALPHA / 2:.3f} upper bound on P(random at least as good) "
              f"< 1/2): {summary}")
    if not ok:
        reason = (f"{worst_key} significantly beats the random median at only {worst:.2f} of the "
                  f"path (worst single seed {worst_seed:.2f}); " + reason)
    return Outcome("holds" if ok else "not-reproduced", measured=worst,
                   predicted=f"> {C9_MAJORITY}", tolerance=None, reason=reason,
                   evidence={"significant_fraction": signif, "beat_fraction_per_seed": fracs,
                             "relative_gap_median": effect, "alpha": C9_ALPHA,
                             "path_length": len(results[0].values), "seeds": len(results),
                             "config": results[0].config})


@check("C9", "EBF/RSBF beat median random along soft PI", method="statistical",
       quick=True, user_mdp=True)
def _c9_transfer(ctx: Context) -> Outcome:
    """The C9 chain of docs: theory/c9; on a user's per-action MDP (``verify --mdp``), that MDP."""
    from repdyn.analysis.value_improvement import value_improvement_transfer
    if not ctx.user_mdp:
        targets = [("C9 chain", None, None, 0.9)]
    else:
        targets = [(m.name, m.extra["P_actions"], m.extra["R_actions"], m.gamma)
                   for m in ctx.mdps if "P_actions" in getattr(m, "extra", {})]
        if not targets:
            return Outcome("not-applicable", reason="C9 needs a per-action MDP (P of shape (A, n, n), "
                           "R (A, n) and a policy); the file gives one policy's P only")
    outs = []
    for name, P, R, gamma in targets:
        try:
            results = [value_improvement_transfer(P, R, gamma, draws=C9_DRAWS, rng=ctx.rng(9000 + s))
                       for s in range(C9_SEEDS)]
        except ValueError as exc:   # e.g. n <= 5, a tie at lambda_5, a zero value function
            if not ctx.user_mdp:
                raise
            return Outcome("not-applicable", reason=f"{name}: the C9 set-up does not apply: {exc}")
        out = c9_verdict(results)
        out.evidence["mdp"] = name
        if ctx.user_mdp:
            out.reason = (f"{name}: path from the uniform policy (docs: theory/c9; the file's policy is not "
                          "used here); " + out.reason)
        outs.append(out)
    return min(outs, key=lambda o: (o.verdict == "holds", o.measured))
