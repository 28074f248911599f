"""Convergence rates: measured against predicted, across MDP families (docs: theory/c5, C6).

Two studies.

Alignment rate (C6, Cor 4.2). With R = 0 and fixed heads (scaling (i), alpha = 1/M), the
distance ``d(span Phi_t, U_{1:K})`` decays asymptotically like ``exp(-r t)`` with the finite-M
rate ``r = d_min(G) gamma (Re lambda_K - Re lambda_{K+1})``, G = alpha W W^T; the M -> inf limit
(G = I) has ``gamma (Re lambda_K - Re lambda_{K+1})``. Measured on the high-precision modal
reference (:class:`analysis.span_tracking.ModalSpan`: slope of ln d over the last quarter of a
horizon where the slowest correction has decayed by e^-10), and for G = I on QR subspace
iteration (:func:`analysis.span_tracking.left_span`) -- never on a float64 trajectory past its
window T64, which the table reports. Families: random-walk chains, random reversible chains,
rings (complex spectrum; odd K so no conjugate pair is split), four-rooms (sparse).

M-scaling (Thm 4.1). The gap between the finite-M kernel trajectory and its limit (scaling
(i): exp(-tA) Phi0; scaling (ii): eq. (14) coupled by eps = W 1), RMS over seeds of nested
ensembles, against M; the fitted log-log slope is predicted to be -1/2.

Output: a printed table, ``rates.json`` and ``rates.png`` in ``--out``.
Usage: ``python -m repdyn.benchmarks.bench_rates [--quick] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _families(quick: bool, seed: int):
    from repdyn.analysis.mdp import four_rooms, random_reversible, random_walk_chain, ring
    rng = np.random.default_rng(seed)
    fam = [
        ("chain(n=12)", random_walk_chain(12, 0.5), 0.9, [2, 4]),
        ("reversible(n=12)", random_reversible(12, rng), 0.95, [2, 3]),
        ("ring(n=11)", ring(11, 0.6, 0.2), 0.9, [3, 5]),
        ("four-rooms(room=3)" if quick else "four-rooms(room=4)", four_rooms(3 if quick else 4),
         0.95, [4]),
    ]
    if quick:
        fam = [(name, P, g, Ks[:1]) for name, P, g, Ks in fam]
    return fam


def alignment_rates(quick: bool = False, seed: int = 0) -> list[dict]:
    """One row per (family, K, M): predicted and measured alignment rates."""
    from repdyn.analysis.spectral import ebfs, eigenvalues
    from repdyn.kernels import flows
    from repdyn.analysis.span_tracking import ModalSpan, float64_window, left_span, span_distances

    rows = []
    mults = [2, 8] if quick else [2, 8, 32]
    for name, P, gamma, Ks in _families(quick, seed):
        Pd = P.toarray() if hasattr(P, "toarray") else np.asarray(P)
        n = Pd.shape[0]
        lam = eigenvalues(Pd)
        for K in Ks:
            gap = lam[K - 1].real - lam[K].real
            rng = np.random.default_rng([seed, K, n])
            Phi0 = rng.standard_normal((n, K))
            for mult in mults + [None]:
                t0 = time.perf_counter()
                if mult is None:                       # the limit: G = I
                    M, G = np.inf, np.eye(K)
                    pred = gamma * gap
                    ms = ModalSpan(Pd, gamma, Phi0, G)
                    meas, horizon = ms.asymptotic_rate(24)
                    # cross-check: QR subspace iteration (float64, G = I only) against the
                    # modal reference while d >= 1e-11 (QR angles: ~1e-15 absolute)
                    t = np.linspace(2.0, 25.0, 12) / pred
                    dq = span_distances(left_span(Pd, gamma, Phi0, t), ebfs(Pd, K))
                    dm = np.exp(ms.log_distance(t))
                    ok = dm >= 1e-11
                    qr_check = float(np.max(np.abs(dq[ok] / dm[ok] - 1)))
                    method = f"modal; QR agrees to {qr_check:.0e}"
                else:
                    M = mult * K
                    W, a = flows.draw_heads(K, M, "i", rng)
                    G = a * W @ W.T
                    pred = np.linalg.eigvalsh(G).min() * gamma * gap
                    ms = ModalSpan(Pd, gamma, Phi0, G)
                    meas, horizon = ms.asymptotic_rate(24)
                    method = "mpmath modal reference"
                    qr_check = None
                dmin = float(np.linalg.eigvalsh(G).min())
                rows.append({"family": name, "n": n, "K": K,
                             "M": None if not np.isfinite(M) else int(M),   # None: the limit G = I
                             "gamma": gamma,
                             "d_min": dmin, "gap_re": float(gap),
                             "complex_cut": bool(abs(lam[K - 1].imag) > 0 or abs(lam[K].imag) > 0),
                             "predicted": float(pred), "measured": float(meas),
                             "rel_err": float(abs(meas / pred - 1)),
                             "limit_rate": float(gamma * gap),
                             "T64": float(float64_window(Pd, gamma, K, G)),
                             "horizon": horizon, "method": method, "qr_vs_modal": qr_check,
                             "seconds": time.perf_counter() - t0})
    return rows


def m_scaling(quick: bool = False, seed: int = 0) -> list[dict]:
    """Fitted exponent of the gap to the Thm 4.1 limits over M, per family and scaling."""
    from repdyn.analysis.closed_form import ensemble_limit
    from repdyn.kernels import flows

    Ms = np.array([64, 256, 1024, 4096] if quick else [16, 64, 256, 1024, 4096, 16384])
    n_seeds = 6 if quick else 24
    dt, steps, K = 0.05, 60, 2
    out = []
    for name, P, gamma, _ in _families(quick, seed):
        n = P.shape[0]
        rng = np.random.default_rng([seed, 7, n])
        R = rng.standard_normal(n)
        Phi0 = rng.standard_normal((n, K))
        t = dt * 10 * np.arange(steps // 10 + 1)
        lim_i = ensemble_limit(P, R, gamma, Phi0, t)
        for scaling in ("i", "ii"):
            gaps = np.empty((n_seeds, len(Ms)))
            for s in range(n_seeds):
                Z = rng.standard_normal((K, Ms.max()))
                for k, M in enumerate(Ms):
                    W, a = (Z[:, :M], 1.0 / M) if scaling == "i" else (Z[:, :M] / np.sqrt(M), 1.0)
                    _, Ph, _ = flows.simulate_ensemble(P, R, gamma, Phi0, W, a, 0.0, dt, steps, 10)
                    lim = lim_i if scaling == "i" else ensemble_limit(P, R, gamma, Phi0, t,
                                                                       eps=W.sum(axis=1))
                    gaps[s, k] = np.linalg.norm(Ph - lim, axis=(1, 2)).max() / np.linalg.norm(Phi0)
            rms = np.sqrt(np.mean(gaps ** 2, axis=0))
            slope, icpt = np.polyfit(np.log(Ms), np.log(rms), 1)
            out.append({"family": name, "scaling": scaling, "M": Ms.tolist(), "rms_gap": rms.tolist(),
                        "slope": float(slope), "intercept": float(icpt), "seeds": n_seeds})
    return out


def format_tables(res: dict) -> str:
    lines = [f"{'family':20s} {'K':>2s} {'M':>5s} {'d_min':>6s} {'predicted':>10s} {'measured':>10s} "
             f"{'rel err':>8s} {'limit':>8s} {'T64':>7s}  method"]
    lines.append("-" * len(lines[0]))
    for r in res["alignment"]:
        M = "inf" if r["M"] is None else str(r["M"])
        lines.append(f"{r['family']:20s} {r['K']:2d} {M:>5s} {r['d_min']:6.3f} {r['predicted']:10.5f} "
                     f"{r['measured']:10.5f} {r['rel_err']:8.1e} {r['limit_rate']:8.5f} "
                     f"{r['T64']:7.1f}  {r['method']}")
    lines.append("")
    lines.append(f"{'family':20s} {'scaling':>7s} {'slope':>7s}  (Thm 4.1: -0.5)   M range")
    for r in res["m_scaling"]:
        lines.append(f"{r['family']:20s} {r['scaling']:>7s} {r['slope']:7.3f}  {'':18s} "
                     f"{r['M'][0]}..{r['M'][-1]} ({r['seeds']} seeds)")
    return "\n".join(lines)


def plot(res: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    fams = sorted({r["family"] for r in res["alignment"]})
    for f, mk in zip(fams, "osD^v<>"):
        rs = [r for r in res["alignment"] if r["family"] == f]
        ax1.loglog([r["predicted"] for r in rs], [r["measured"] for r in rs], mk, label=f, alpha=0.8)
    lo = min(r["predicted"] for r in res["alignment"]) / 1.5
    hi = max(r["predicted"] for r in res["alignment"]) * 1.5
    ax1.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
    ax1.set_xlabel(r"predicted $d_{\min}(G)\,\gamma\,(\lambda_K-\lambda_{K+1})$")
    ax1.set_ylabel(r"measured rate of $d(\mathrm{span}\,\Phi_t, U_{1:K})$")
    ax1.set_title("C6: alignment rate (finite M and G = I)")
    ax1.legend(fontsize=7)
    for r in res["m_scaling"]:
        ax2.loglog(r["M"], r["rms_gap"], "-o" if r["scaling"] == "i" else "--s", ms=3,
                   label=f"{r['family']} ({r['scaling']}): {r['slope']:.2f}")
    M = np.array(res["m_scaling"][0]["M"], float)
    ax2.loglog(M, 0.5 * M ** -0.5 * np.sqrt(M[0]) * res["m_scaling"][0]["rms_gap"][0] * 2, "k:",
               label="slope -1/2")
    ax2.set_xlabel("M (heads)")
    ax2.set_ylabel("RMS gap to the limit")
    ax2.set_title("Thm 4.1: gap ~ M^-1/2")
    ax2.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(quick: bool = False, seed: int = 0) -> dict:
    from repdyn.kernels import flows
    flows._warmup()
    t0 = time.perf_counter()
    res = {"benchmark": "rates", "quick": quick, "seed": seed,
           "alignment": alignment_rates(quick, seed), "m_scaling": m_scaling(quick, seed)}
    res["seconds"] = time.perf_counter() - t0
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_rates", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer families' orders, M and seeds")
    p.add_argument("--out", default="repdyn-bench",
                   help="folder for rates.json and rates.png (default ./repdyn-bench, as "
                        "`repdyn bench --out`)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    res = run(args.quick, args.seed)
    print(format_tables(res))
    os.makedirs(args.out, exist_ok=True)
    jpath = os.path.join(args.out, "rates.json")
    with open(jpath, "w") as fh:
        json.dump(res, fh, indent=1, default=lambda x: None if x is None else float(x))
    ppath = os.path.join(args.out, "rates.png")
    plot(res, ppath)
    print(f"wrote {jpath} and {ppath} ({res['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
