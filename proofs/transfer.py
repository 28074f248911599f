"""C9: transfer of EBFs/RSBFs along the value-improvement path (SPEC C9, the talk's Figure 3).

The computation is :func:`analysis.value_improvement.value_improvement_transfer`; this module
only judges it. C9 is empirical: ``holds`` or ``not-reproduced``.
"""
from __future__ import annotations

import numpy as np

from proofs.registry import check, Context, Outcome

__all__ = ["C9_SEEDS", "C9_DRAWS", "C9_MAJORITY", "c9_verdict"]

#: Independent seeds of the random-feature draws (SPEC §1: empirical claims over >= 5 seeds).
C9_SEEDS = 5
#: Random Gaussian feature matrices per seed (SPEC C9: >= 100).
C9_DRAWS = 100
#: "At most points of the path": strictly more than half of the policies pi_j.
C9_MAJORITY = 0.5

_VARIANTS = [(name, v0) for v0 in (False, True) for name in ("ebf", "rsbf")]


def _label(name, v0):
    return f"{name}{'+V0' if v0 else ''}"


def c9_verdict(results) -> Outcome:
    """Judge C9 from a list of :class:`~analysis.value_improvement.TransferResult` (one per seed).

    ``holds`` when, for every seed, EBFs and RSBFs (each with and without V^{pi_0}) beat the
    median random draw at more than :data:`C9_MAJORITY` of the path points; otherwise
    ``not-reproduced``. Measured: the smallest such fraction; evidence: every fraction and the
    effect size (median over j of the relative gap to the random median).
    """
    if not results:
        raise ValueError("results must hold at least one TransferResult")
    fracs = {_label(n, v): [r.beat_fraction(n, v) for r in results] for n, v in _VARIANTS}
    effect = {}
    for n, v in _VARIANTS:
        gaps = []
        for r in results:
            e = r.errors_v0 if v else r.errors
            med = np.median(e["random"], axis=0)
            ok = med > 0
            gaps.append(float(np.median((med[ok] - e[n][ok]) / med[ok])))
        effect[_label(n, v)] = gaps
    worst_key = min(fracs, key=lambda k: min(fracs[k]))
    worst = min(fracs[worst_key])
    ok = worst > C9_MAJORITY
    summary = ", ".join(f"{k} {np.mean(f):.2f}" for k, f in fracs.items())
    reason = (f"fraction of the {len(results[0].values)} path points where the features beat the "
              f"median of {results[0].config.get('draws')} random draws (mean over "
              f"{len(results)} seeds): {summary}")
    if not ok:
        reason = f"{worst_key} beats the random median at only {worst:.2f} of the path; " + reason
    return Outcome("holds" if ok else "not-reproduced", measured=worst,
                   predicted=f"> {C9_MAJORITY}", tolerance=None, reason=reason,
                   evidence={"beat_fraction": fracs, "relative_gap_median": effect,
                             "path_length": len(results[0].values), "seeds": len(results),
                             "config": results[0].config})


@check("C9", "EBF/RSBF beat median random along soft PI", method="statistical",
       quick=True)
def _c9_transfer(ctx: Context) -> Outcome:
    from analysis.value_improvement import value_improvement_transfer
    results = [value_improvement_transfer(draws=C9_DRAWS, rng=ctx.rng(9000 + s))
               for s in range(C9_SEEDS)]
    return c9_verdict(results)
