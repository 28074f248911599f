"""The talk's figures, reproduced from the library (``repdyn figures``).

Each figure is a :class:`Figure`: a config (every number that determines it), a ``compute``
that turns the config into plain data (lists of floats), a ``plot`` that draws only that
data, and a ``caption`` paragraph for ``index.md``. The data is written beside the PNG as
``<name>.json`` ``{"config": ..., "data": ...}``, so a user can re-plot it; a rerun with the
same ``--out`` skips every figure whose JSON holds the same config and whose PNG exists.

Matplotlib runs headless (Agg). Theory figures use the exact closed forms of
:mod:`analysis.closed_form` (no ODE solver), so they take seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
import json
import os
import time
from typing import Callable

import numpy as np

__all__ = ["Figure", "FIGURES", "build", "write_json", "savefig", "fitted_rate"]

#: Bump to invalidate every cached figure after a change in how data are computed.
FIG_VERSION = 1


@dataclass(frozen=True)
class Figure:
    """One reproducible figure: ``name``, ``title``, the ``config`` that determines it, and
    ``compute(config) -> data``, ``plot(data, config) -> matplotlib Figure`` and
    ``caption(data, config) -> str`` (see the module docstring; :func:`build` writes it).

    Examples
    --------
    >>> from repdyn.figures import FIGURES, Figure
    >>> from matplotlib.figure import Figure as MplFigure
    >>> def plot(data, config):
    ...     fig = MplFigure()
    ...     fig.add_subplot().plot(data["x"], data["y"])
    ...     return fig
    >>> sq = Figure("squares", "Squares", {"n": 4},
    ...             compute=lambda c: {"x": list(range(c["n"])), "y": [i * i for i in range(c["n"])]},
    ...             plot=plot, caption=lambda d, c: f"{c['n']} squares, the last {d['y'][-1]}.")
    >>> data = sq.compute(sq.config)
    >>> data["y"], sq.caption(data, sq.config)
    ([0, 1, 4, 9], '4 squares, the last 9.')
    >>> [f.name for f in FIGURES][:2]                      # the talk's figures
    ['fig1_two_state_td_vs_mc', 'fig2_alignment_to_ebfs']
    """

    name: str
    title: str
    config: dict
    compute: Callable[[dict], dict]
    plot: Callable[[dict, dict], object]          # (data, config) -> matplotlib Figure
    caption: Callable[[dict, dict], str]          # (data, config) -> paragraph


# ----------------------------------------------------------------------------- io helpers


def write_json(path: str, payload) -> None:
    """Atomic JSON write (an interrupt leaves the old file or the new one, never half).

    Examples
    --------
    >>> import json, os, tempfile
    >>> from repdyn.figures import write_json
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "data.json")
    ...     write_json(path, {"config": {"n": 2}, "data": [1.5, float("nan")]})
    ...     with open(path) as fh:
    ...         back = json.load(fh)
    ...     files = os.listdir(d)
    >>> back["config"], back["data"][0], files              # no temporary file left behind
    ({'n': 2}, 1.5, ['data.json'])
    """
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=1, allow_nan=True)
    os.replace(tmp, path)


def savefig(fig, path: str) -> None:
    """Atomic PNG write, then close the figure.

    Examples
    --------
    >>> import os, tempfile
    >>> from matplotlib.figure import Figure as MplFigure
    >>> from repdyn.figures import savefig
    >>> fig = MplFigure()
    >>> _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     savefig(fig, os.path.join(d, "line.png"))
    ...     with open(os.path.join(d, "line.png"), "rb") as fh:
    ...         magic = fh.read(4)
    ...     files = os.listdir(d)
    >>> magic[1:], files                                     # the PNG signature
    (b'PNG', ['line.png'])
    """
    import matplotlib.pyplot as plt
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)


def _plt():
    """pyplot on the headless Agg backend, unless a caller (a notebook) already chose one."""
    import sys
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _cached(out: str, name: str, config: dict):
    """The stored data if ``<name>.json`` holds ``config`` and ``<name>.png`` exists, else None."""
    jp, pp = os.path.join(out, f"{name}.json"), os.path.join(out, f"{name}.png")
    if not (os.path.exists(jp) and os.path.exists(pp)):
        return None
    try:
        with open(jp) as fh:
            stored = json.load(fh)
    except (OSError, json.JSONDecodeError):
        return None
    if stored.get("config") != json.loads(json.dumps(config)):
        return None
    return stored.get("data")


def fitted_rate(t, d, lo: float = 1e-12, hi: float = 0.3) -> float:
    """Least-squares slope of ``-log d`` against t over the points with lo < d < hi.

    The asymptotic regime of an alignment curve: below ``hi`` the leading mode dominates,
    above ``lo`` rounding does not. NaN if fewer than 3 such points.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.figures import fitted_rate
    >>> t = np.linspace(0.0, 20.0, 21)
    >>> round(fitted_rate(t, 0.2 * np.exp(-0.5 * t)), 6)     # d = 0.2 exp(-0.5 t)
    0.5
    >>> fitted_rate([0.0, 1.0], [0.1, 0.01])                 # fewer than 3 points
    nan
    """
    t, d = np.asarray(t, float), np.asarray(d, float)
    m = np.isfinite(d) & (d > lo) & (d < hi)
    if m.sum() < 3:
        return float("nan")
    return float(-np.polyfit(t[m], np.log(d[m]), 1)[0])


# ----------------------------------------------------------------------------- Figure 1


def _fig1_compute(c):
    from repdyn.analysis.closed_form import mc_values, td_values, true_values
    from repdyn.analysis.mdp import two_state
    P = two_state(c["p"], c["q"])
    R = np.array(c["R"], float)
    Vs = true_values(P, R, c["gamma"])
    t = np.linspace(0.0, c["t_max"], c["n_t"])
    ang = np.linspace(0, 2 * np.pi, c["n_starts"], endpoint=False) + 0.3
    V0s = Vs[None] + c["radius"] * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    td = td_values(P, R, c["gamma"], V0s.T, t)        # (T, 2, n_starts)
    mc = mc_values(P, R, c["gamma"], V0s.T, t)
    w, U = np.linalg.eig(P)
    order = np.argsort(-w.real)
    U = U[:, order].real
    U = U / np.linalg.norm(U, axis=0)
    return {"t": t.tolist(), "V_star": Vs.tolist(), "V0": V0s.tolist(),
            "td": np.transpose(td, (2, 0, 1)).tolist(), "mc": np.transpose(mc, (2, 0, 1)).tolist(),
            "eigenvalues": w[order].real.tolist(), "eigenvectors": U.T.tolist()}


def _fig1_plot(d, c):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 6))
    Vs = np.array(d["V_star"])
    for i, (td, mc) in enumerate(zip(d["td"], d["mc"])):
        td, mc = np.array(td), np.array(mc)
        ax.plot(td[:, 0], td[:, 1], color="C0", lw=1.6, label="TD" if i == 0 else None)
        ax.plot(mc[:, 0], mc[:, 1], color="C1", lw=1.2, ls="--", label="MC" if i == 0 else None)
        ax.plot(*td[0], "o", color="0.4", ms=3)
    r = 1.15 * c["radius"]
    for lam, u, col in zip(d["eigenvalues"], d["eigenvectors"], ("C2", "C3")):
        u = np.array(u)
        ax.plot([Vs[0] - r * u[0], Vs[0] + r * u[0]], [Vs[1] - r * u[1], Vs[1] + r * u[1]],
                color=col, lw=1, ls=":", label=f"eigenvector of P, lambda = {lam:.2f}")
    ax.plot(*Vs, "k*", ms=14, label="fixed point V*")
    ax.set_xlabel("V(s1) (return units)")
    ax.set_ylabel("V(s2) (return units)")
    ax.set_title(f"TD vs MC value flow, 2-state MDP (p={c['p']}, q={c['q']}, gamma={c['gamma']})")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _fig1_caption(d, c):
    lam = d["eigenvalues"]
    return (f"Figure 1 of the talk (C1, C2). Value trajectories V_t of the Monte Carlo flow "
            f"(dashed, straight lines to V*) and the TD flow (solid) from {c['n_starts']} "
            f"initialisations on a circle around the fixed point V* (star), for the 2-state MDP "
            f"P = [[1-p, p], [q, 1-q]] with p = {c['p']}, q = {c['q']}, R = {c['R']}, gamma = "
            f"{c['gamma']}, t in [0, {c['t_max']}]. The dotted lines are the eigenvector "
            f"directions of P (eigenvalues {lam[0]:.2f} and {lam[1]:.2f}). TD errors decay like "
            f"exp(-t(1 - gamma lambda_i)) along eigenvector i, so the TD curves bend onto the "
            f"slow direction of lambda_1 = 1 (the constant vector) before reaching V*.")


# ----------------------------------------------------------------------------- Figure 2


def _chain(c):
    from repdyn.analysis.mdp import random_walk_chain
    return random_walk_chain(c["n"], c["p_right"])


def _fig2_compute(c):
    from repdyn.analysis.closed_form import ensemble_features, span_trajectory, true_values
    from repdyn.analysis.mdp import MDP
    from repdyn.analysis.spectral import alignment_rate, ebfs, eigenvalues, grassmann_distance
    g = c["gamma"]
    P = MDP(_chain(c), gamma=g)           # validated once; spectrum, Schur form, propagator cached
    n = P.n
    rng = np.random.default_rng(c["seed"])
    R = np.zeros(n); R[-1] = 1.0
    t = np.linspace(0.0, c["t_max"], c["n_t"])
    Vs = true_values(P, R, g)
    curves = []
    for K in c["value_K"]:
        V0 = rng.standard_normal((n, K))
        Q = span_trajectory(P, g, V0 - Vs[:, None], t)        # span(V_t - V*) = span exp(-tA)(V0 - V*)
        E = ebfs(P, K)
        dist = [grassmann_distance(Qi, E) for Qi in Q]
        curves.append({"label": f"span(V_t - V*), K = {K} value functions",
                       "K": K, "dist": dist, "predicted_rate": alignment_rate(P, g, K)})
    K, M = c["ens_K"], c["ens_M"]
    Phi0 = rng.standard_normal((n, K))
    W = rng.standard_normal((K, M))
    alpha = 1.0 / M
    G = alpha * W @ W.T
    dmin = float(np.linalg.eigvalsh(G).min())
    Phi = ensemble_features(P, np.zeros(n), g, Phi0, W, alpha, t)
    E = ebfs(P, K)
    dist = []
    for F in Phi:   # exp(-tA) Phi G-flow acts on both sides: keep only points whose span is resolved
        s = np.linalg.svd(F / np.linalg.norm(F, axis=0), compute_uv=False)
        dist.append(grassmann_distance(F, E) if s[-1] > c["span_floor"] else float("nan"))
    curves.append({"label": f"span Phi_t, ensemble of M = {M} heads, R = 0, K = {K}", "K": K,
                   "dist": dist, "predicted_rate": alignment_rate(P, g, K, d_min=dmin),
                   "d_min_G": dmin})
    for cv in curves:
        cv["measured_rate"] = fitted_rate(t, cv["dist"])
    return {"t": t.tolist(), "eigenvalues": eigenvalues(P).real.tolist(), "curves": curves}


def _fig2_plot(d, c):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.6))
    t = np.array(d["t"])
    for i, cv in enumerate(d["curves"]):
        y = np.array(cv["dist"], float)
        ax.semilogy(t, y, color=f"C{i}", lw=1.8, label=f"{cv['label']} (fit {cv['measured_rate']:.3f})")
        ok = np.where(np.isfinite(y) & (y > 1e-12))[0]
        if len(ok):
            j = ok[len(ok) // 2]
            ax.semilogy(t, y[j] * np.exp(-cv["predicted_rate"] * (t - t[j])), color=f"C{i}", ls="--",
                        lw=1, label=f"predicted slope {cv['predicted_rate']:.3f}")
    ax.set_ylim(1e-10, 5)
    ax.set_xlabel("time t (flow units)")
    ax.set_ylabel("Grassmann distance to EBFs (rad)")
    ax.set_title(f"Alignment with the EBFs, biased chain (n={c['n']}, p_right={c['p_right']}, "
                 f"gamma={c['gamma']})", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def _fig2_caption(d, c):
    parts = ", ".join(f"{cv['label']}: fitted rate {cv['measured_rate']:.4f} vs predicted "
                      f"{cv['predicted_rate']:.4f}" for cv in d["curves"])
    return (f"Convergence to the eigenbasis functions (C2, C3, C6). Grassmann distance (log "
            f"scale) between the span of the TD value errors V_t - V* (K = 1 and K = 3 "
            f"independent initialisations) or of collapsing ensemble features Phi_t (R = 0, "
            f"finite M, exact solution) and the EBFs U_1:K of the biased random-walk chain "
            f"(n = {c['n']}, p_right = {c['p_right']}, gamma = {c['gamma']}). Dashed lines: the "
            f"predicted slopes gamma (lambda_K - lambda_K+1), times d_min(G) for the finite "
            f"ensemble. Value spans are tracked by subspace iteration "
            f"(analysis.closed_form.span_trajectory); ensemble points whose span float64 no "
            f"longer resolves are left out. {parts}.")


# ----------------------------------------------------------------------------- C8 table


def _c8_compute(c):
    from repdyn.analysis.closed_form import (ensemble_limit, multi_discount_limit, multi_policy_limit,
                                      random_cumulant_limit, span_trajectory)
    from repdyn.analysis.mdp import random_walk_chain
    from repdyn.analysis.mdp import MDP
    from repdyn.analysis.spectral import ebfs, grassmann_distance, rsbfs
    Pa, g, K = _chain(c), c["gamma"], c["K"]
    P = MDP(Pa)                           # one validated object per MDP: factorisations cached
    n = Pa.shape[0]
    rng = np.random.default_rng(c["seed"])
    t = np.linspace(0.0, c["t_max"], c["n_t"])
    R = np.zeros(n); R[-1] = 1.0
    Phi0 = rng.standard_normal((n, K))
    eps = rng.standard_normal(K)
    Z = rng.standard_normal((n, K))
    Ps = np.stack([random_walk_chain(n, p) for p in c["policies_p_right"]])
    J = len(Ps)
    Rs = np.zeros((J, n))
    for j, s in enumerate(c["policy_reward_states"]):
        Rs[j, s] = 1.0
    eps_J = rng.standard_normal((J, K))
    gammas = np.array(c["gammas"])
    Pbar_a, gbar = Ps.mean(axis=0), float(gammas.mean())
    Pbar = MDP(Pbar_a)
    I = np.eye(n)
    tasks = {
        "ensemble": (P, g,
                     lambda r: ensemble_limit(P, R, g, Phi0, t, eps if r else None),
                     lambda r: np.linalg.solve(I - g * Pa, np.outer(R, eps)) if r else np.zeros((n, K))),
        "random cumulants": (P, g,
                             lambda r: random_cumulant_limit(P, Z, g, Phi0, t),
                             lambda r: np.linalg.solve(I - g * Pa, Z)),
        "additional policies": (Pbar, g,
                                lambda r: multi_policy_limit(Ps, Rs, g, Phi0, t, eps_J if r else None),
                                lambda r: (np.linalg.solve(I - g * Pbar_a, Rs.T @ eps_J / np.sqrt(J))
                                           if r else np.zeros((n, K)))),
        "several discounts": (P, gbar,
                              lambda r: multi_discount_limit(P, R, gammas, Phi0, t, eps if r else None),
                              lambda r: np.linalg.solve(I - gbar * Pa, np.outer(R, eps)) if r else np.zeros((n, K))),
    }
    RS = rsbfs(P, g, K)
    out = {"t": t.tolist(), "rows": []}
    for task, (Pt, gt, traj, inf) in tasks.items():
        E = ebfs(Pt, K)
        for r in (False, True):
            Phi = traj(r)
            Phi_inf = inf(r)
            span_dev = span_trajectory(Pt, gt, Phi0 - Phi_inf, t)       # span(Phi_t - Phi_inf)
            span_phi = (span_dev if not np.any(Phi_inf) else None)       # collapse: same span
            d_ebf = [grassmann_distance(Q, E) for Q in span_dev]
            if span_phi is None:
                d_rsbf = [grassmann_distance(F, RS) if np.linalg.matrix_rank(F) == K else float("nan")
                          for F in Phi]
            else:
                d_rsbf = [grassmann_distance(Q, RS) for Q in span_phi]
            out["rows"].append({
                "task": task, "reward": r,
                "norm": np.linalg.norm(Phi, axis=(1, 2)).tolist(),
                "norm_inf": float(np.linalg.norm(Phi_inf)),
                "dist_dev_ebf": d_ebf, "dist_phi_rsbf": d_rsbf,
                "ebf_of": "P_bar" if task == "additional policies" else "P",
            })
    out["dist_ebf_rsbf"] = grassmann_distance(ebfs(P, K), RS)
    return out


def _c8_plot(d, c):
    plt = _plt()
    fig, axes = plt.subplots(3, 2, figsize=(11, 9.5), sharex=True)
    t = np.array(d["t"])
    tasks = list(dict.fromkeys(r["task"] for r in d["rows"]))
    for row in d["rows"]:
        col = 1 if row["reward"] else 0
        color = f"C{tasks.index(row['task'])}"
        axes[0, col].semilogy(t, row["norm"], color=color, label=row["task"])
        axes[1, col].semilogy(t, row["dist_dev_ebf"], color=color, label=row["task"])
        axes[2, col].plot(t, row["dist_phi_rsbf"], color=color, label=row["task"])
    for col, title in enumerate(("no reward (r = 0)", "with reward (r != 0, scaling (ii))")):
        axes[0, col].set_title(title)
        axes[0, col].set_ylabel("||Phi_t||_F")
        axes[1, col].set_ylabel("d(span(Phi_t - Phi_inf), EBFs) (rad)")
        axes[1, col].set_ylim(1e-10, 5)
        axes[2, col].set_ylabel("d(span Phi_t, RSBFs) (rad)")
        axes[2, col].axhline(d["dist_ebf_rsbf"], color="k", ls=":", lw=1, label="d(EBFs, RSBFs)")
        axes[2, col].set_xlabel("time t (flow units)")
    axes[2, 0].legend(fontsize=8)
    fig.suptitle(f"Auxiliary tasks (C8), infinite-ensemble limits: chain n={c['n']}, "
                 f"p_right={c['p_right']}, gamma={c['gamma']}, K={c['K']}")
    fig.tight_layout()
    return fig


def _c8_caption(d, c):
    ends = "; ".join(f"{r['task']}{' (r != 0)' if r['reward'] else ''}: ||Phi_T|| = {r['norm'][-1]:.3g}, "
                     f"d_EBF = {r['dist_dev_ebf'][-1]:.2g}" for r in d["rows"])
    return (f"The auxiliary-task table (C5-C8) as curves, from the exact infinite-ensemble limits "
            f"(analysis.closed_form) on the biased chain (n = {c['n']}, p_right = {c['p_right']}, "
            f"gamma = {c['gamma']}, K = {c['K']}). Rows: the feature norm ||Phi_t||_F; the "
            f"Grassmann distance of span(Phi_t - Phi_inf) to the EBFs of the task's generator "
            f"(P, or P_bar = mean of the {len(c['policies_p_right'])} policies' matrices for "
            f"'additional policies'; discounts {c['gammas']} act through their mean); the distance "
            f"of span Phi_t itself to the RSBFs of P (dotted: d(EBFs, RSBFs) = "
            f"{d['dist_ebf_rsbf']:.3f}). Left without reward: ensemble, additional policies and "
            f"discounts collapse (norm -> 0) while aligning with the EBFs; random cumulants do "
            f"not collapse. Right with reward (scaling (ii)): every limit is non-zero, and the "
            f"path still aligns with the EBFs. At t = {c['t_max']}: {ends}.")


# ----------------------------------------------------------------------------- Figure 3 (C9)


def _c9_compute(c):
    from repdyn.analysis.value_improvement import value_improvement_transfer
    r = value_improvement_transfer(gamma=c["gamma"], k=c["k"], draws=c["draws"], eta=c["eta"],
                                   seed=c["seed"])
    d = r.to_dict()
    d["beat_fraction"] = {f"{nm}{'+V0' if v else ''}": r.beat_fraction(nm, v)
                          for v in (False, True) for nm in ("ebf", "rsbf")}
    for tag, e in (("errors", r.errors), ("errors_v0", r.errors_v0)):
        q = np.quantile(e["random"], [0.1, 0.5, 0.9], axis=0)
        d[tag + "_random_quantiles"] = {"q10": q[0].tolist(), "median": q[1].tolist(), "q90": q[2].tolist()}
    return d


def _c9_plot(d, c):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharey=False)
    j = np.array(d["j"])
    for ax, tag, title in ((axes[0], "errors", f"k = {c['k']} features"),
                           (axes[1], "errors_v0", f"k = {c['k']} features + V^pi0")):
        e, q = d[tag], d[tag + "_random_quantiles"]
        ax.fill_between(j, np.maximum(q["q10"], 1e-17), np.maximum(q["q90"], 1e-17), color="0.8",
                        label=f"random features, 10-90% of {c['draws']} draws")
        ax.plot(j, np.maximum(q["median"], 1e-17), color="0.3", label="random features, median")
        ax.plot(j, np.maximum(e["ebf"], 1e-17), "o-", ms=3, color="C0", label="EBFs of P^pi0")
        ax.plot(j, np.maximum(e["rsbf"], 1e-17), "s-", ms=3, color="C3", label="RSBFs of P^pi0")
        ax.set_yscale("log")
        ax.set_ylim(1e-4 if tag == "errors_v0" else 1e-2, 1.5)
        ax.set_xlabel("policy index j on the soft policy-iteration path")
        ax.set_ylabel("normalised error ||V - proj V|| / ||V||")
        ax.set_title(title)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Transfer along the value-improvement path (C9): two-action chain n = 20, "
                 f"gamma = {c['gamma']}, eta = {c['eta']}")
    fig.tight_layout()
    return fig


def _c9_caption(d, c):
    bf = d["beat_fraction"]
    return (f"Figure 3 of the talk (C9, our reconstruction). Normalised least-squares error of "
            f"fitting V^pi_j with features fixed from the uniform policy pi_0, for the "
            f"{len(d['j'])} policies of soft policy iteration (eta = {c['eta']}) from uniform to "
            f"greedy on the 20-state two-action chain (right succeeds 0.9, left 0.7, rewards 1 "
            f"and 0.1 at the ends, gamma = {c['gamma']}). Left: k = {c['k']} EBFs, RSBFs of "
            f"P^pi0 and {c['draws']} random Gaussian feature sets (median and 10-90% band); "
            f"right: the same with V^pi0 appended (error 0 at j = 0 by construction). EBFs and "
            f"RSBFs beat the median random draw at a fraction "
            + ", ".join(f"{k} {v:.2f}" for k, v in bf.items()) + " of the path.")


# ----------------------------------------------------------------------------- registry


_CHAIN = {"n": 10, "p_right": 0.7, "gamma": 0.9}

FIGURES: list[Figure] = [
    Figure("fig1_two_state_td_vs_mc", "Figure 1: TD vs MC value trajectories",
           {"v": FIG_VERSION, "p": 0.3, "q": 0.2, "R": [1.0, 0.0], "gamma": 0.9, "t_max": 12.0,
            "n_t": 241, "n_starts": 8, "radius": 3.0},
           _fig1_compute, _fig1_plot, _fig1_caption),
    Figure("fig2_alignment_to_ebfs", "Convergence of value errors and features to the EBFs",
           {"v": FIG_VERSION, **_CHAIN, "t_max": 120.0, "n_t": 241, "value_K": [1, 3], "ens_K": 2,
            "ens_M": 20, "span_floor": 1e-9, "seed": 0},
           _fig2_compute, _fig2_plot, _fig2_caption),
    Figure("fig_c8_auxiliary_tasks", "The auxiliary-task table (C8) as curves",
           {"v": FIG_VERSION, **_CHAIN, "K": 3, "t_max": 80.0, "n_t": 161, "seed": 0,
            "policies_p_right": [0.3, 0.5, 0.7], "policy_reward_states": [0, 5, 9],
            "gammas": [0.6, 0.8, 0.9, 0.99]},
           _c8_compute, _c8_plot, _c8_caption),
    Figure("fig3_value_improvement_transfer", "Figure 3: transfer along the value-improvement path",
           {"v": FIG_VERSION, "gamma": 0.9, "k": 5, "draws": 200, "eta": 0.25, "seed": 0},
           _c9_compute, _c9_plot, _c9_caption),
]


# ----------------------------------------------------------------------------- driver


def build(out: str, figures=None, *, progress=None, log=print, notes=(), also=()) -> list[dict]:
    """Compute and write every figure in ``figures`` (default :data:`FIGURES`) into ``out``.

    ``also``: figures not to compute now, but to keep in ``index.md`` if ``out`` already holds
    them with a matching config (``repdyn figures --only`` keeps the rest of the index).

    Each figure's JSON and PNG are written as soon as it is done and ``index.md`` is
    rewritten after every figure, so an interrupt loses only the figure being drawn. Figures
    whose stored config matches are not recomputed (``status = "cached"``).

    Returns one dict per figure: name, status ("written" / "cached" / "error"), seconds,
    caption, and error message if any.

    Examples
    --------
    >>> import os, tempfile
    >>> from repdyn.figures import Figure, build
    >>> from matplotlib.figure import Figure as MplFigure
    >>> def plot(data, config):
    ...     fig = MplFigure()
    ...     fig.add_subplot().plot(data["x"], data["y"])
    ...     return fig
    >>> sq = Figure("squares", "Squares", {"n": 4},
    ...             compute=lambda c: {"x": list(range(c["n"])), "y": [i * i for i in range(c["n"])]},
    ...             plot=plot, caption=lambda d, c: f"{c['n']} squares, the last {d['y'][-1]}.")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     first = build(d, [sq], log=None)
    ...     second = build(d, [sq], log=None)                # same config: not recomputed
    ...     files = sorted(os.listdir(d))
    >>> first[0]["status"], second[0]["status"], second[0]["caption"]
    ('written', 'cached', '4 squares, the last 9.')
    >>> files
    ['index.md', 'squares.json', 'squares.png']
    """
    os.makedirs(out, exist_ok=True)
    figures = FIGURES if figures is None else figures
    kept = []
    for fig in also:
        data = _cached(out, fig.name, fig.config)
        if data is not None:
            try:
                kept.append({"name": fig.name, "title": fig.title, "png": f"{fig.name}.png",
                             "data": f"{fig.name}.json", "status": "cached",
                             "caption": fig.caption(data, fig.config)})
            except Exception:  # a stale data file with another layout: leave it out
                pass
    done = []
    for fig in figures:
        t0 = time.perf_counter()
        if progress is not None:
            progress.set_description(fig.name)
        entry = {"name": fig.name, "title": fig.title, "png": f"{fig.name}.png",
                 "data": f"{fig.name}.json"}
        try:
            data = _cached(out, fig.name, fig.config)
            if data is not None:
                entry["status"] = "cached"
            else:
                data = fig.compute(dict(fig.config))
                data = json.loads(json.dumps(data, default=_np_default))
                write_json(os.path.join(out, f"{fig.name}.json"), {"config": fig.config, "data": data})
                savefig(fig.plot(data, fig.config), os.path.join(out, f"{fig.name}.png"))
                entry["status"] = "written"
            entry["caption"] = fig.caption(data, fig.config)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one broken figure must not lose the others
            entry["status"] = "error"
            entry["caption"] = f"Not produced: {type(exc).__name__}: {exc}"
        entry["seconds"] = time.perf_counter() - t0
        done.append(entry)
        if log:
            log(f"{entry['status']:>8}  {fig.name}.png  {entry['seconds']:.1f} s")
        if progress is not None:
            progress.update(1)
        write_index(out, done + kept, [f for f in figures if f.name not in {e["name"] for e in done}],
                    notes)
    if not figures:
        write_index(out, kept, (), notes)
    return done


def write_index(out: str, done: list[dict], pending=(), notes=()) -> None:
    """``index.md``: every produced figure with its paragraph; pending ones listed."""
    lines = ["# repdyn figures", "",
             "Written by `repdyn figures`. Each PNG has its data beside it as JSON "
             "(`{\"config\": ..., \"data\": ...}`) for re-plotting.", ""]
    for e in done:
        lines += [f"## {e['title']}", ""]
        if e["status"] != "error":
            lines += [f"![{e['name']}]({e['png']})", "", e["caption"], "",
                      f"Data: [`{e['data']}`]({e['data']}).", ""]
        else:
            lines += [e["caption"], ""]
    for f in pending:
        lines += [f"## {f.title}", "", "Not produced yet (interrupted or still running; rerun "
                  "`repdyn figures` with the same `--out` to resume).", ""]
    for note in notes:
        lines += [note, ""]
    tmp = os.path.join(out, "index.md.tmp")
    with open(tmp, "w") as fh:
        fh.write("\n".join(lines))
    os.replace(tmp, os.path.join(out, "index.md"))


def _np_default(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")
