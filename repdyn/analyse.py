"""``repdyn analyse FILE``: the spectral facts the theory needs, for a user's own MDP.

For K = 1..k: Re lambda_K, the eigen-gap Re lambda_K - Re lambda_{K+1}, the predicted
alignment rate gamma (lambda_K - lambda_{K+1}) of C2/C3 (and of C6 with d_min(G) = 1), and the
Grassmann distance between the order-K EBFs and RSBFs. Orders where the subspace U_1:K is not
defined (a tie, a split conjugate pair) are reported as such, never given a number.

Large MDPs (n > ``KRYLOV_MIN_N`` of :mod:`repdyn.analysis.spectral`): the MDP object is built
once and every order K reuses its factorisations; only the top ``k + 1`` eigenvalues are
computed (shift-invert Krylov, certified where possible: docs: architecture, large MDPs) and
the output says so. Before any dense step the memory it needs is estimated and the run refused
(one line, exit 2) when it would not fit.
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
import textwrap
import time

import numpy as np
import scipy.sparse as sp

from repdyn.figures import FIG_VERSION, Figure, build, fitted_rate, write_json

__all__ = ["analyse", "format_analysis", "DEFAULT_K"]

#: Default largest order K (capped at n - 1).
DEFAULT_K = 8

#: Bytes per n^2 the dense route needs at its peak (P, its Schur form and vectors, the SVD's
#: factors and workspace: about 6 dense n x n float64 arrays).
DENSE_BYTES_PER_N2 = 6 * 8

#: Longest default horizon of the alignment figure, and the fewest e-folds of predicted
#: alignment worth drawing within it (slower MDPs get a note instead of a flat curve that
#: costs minutes: a 2,000-state ring aligns at rate 3.6e-6).
ALIGN_T_MAX = 2000.0
ALIGN_MIN_EFOLDS = 3.0

#: Width at which the notes of ``format_analysis`` are wrapped (at word boundaries, never cut).
NOTE_WIDTH = 96

#: Above this many states the alignment figure (a tracked span over the whole horizon, one
#: propagator step per 5 time units) is skipped.
ALIGN_FIGURE_MAX_N = 200_000


def _mdp_hash(P, R, gamma) -> str:
    h = hashlib.sha256()
    if sp.issparse(P):
        P = P.tocsr()
        parts = (np.asarray(P.shape, np.int64), P.indptr.astype(np.int64), P.indices.astype(np.int64),
                 np.ascontiguousarray(P.data, float))
    else:
        parts = (np.ascontiguousarray(P, float),)
    for a in (*parts, np.ascontiguousarray(R, float), np.array([gamma])):
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def memory_estimate(n: int, nnz: int, k: int, krylov: bool, dense_lu: bool = False) -> int:
    """Bytes ``analyse`` needs at its peak: the dense route's ``DENSE_BYTES_PER_N2 n^2``, or on
    the Krylov route the bases (Krylov-Schur ``n (2 (k + 4) + 11)``, Lanczos ``n max(2 (k + 4) + 1,
    20)``, the figures' ``n k`` blocks) plus two LUs: dense ones (``dense_lu``: 8 n^2 bytes each)
    or sparse ones, estimated as 40 nonzeros of fill per stored entry of P (measured ~21 on the
    10^5-state four-rooms with the minimum-degree order) at 12 bytes each."""
    if not krylov:
        return DENSE_BYTES_PER_N2 * n * n
    p = k + 4
    vecs = n * (2 * p + 11) + n * max(2 * p + 1, 20) + 8 * n * k
    lus = 2 * 8 * n * n if dense_lu else 2 * 40 * 12 * max(nnz, n)
    return 8 * vecs + lus


def spectral_table(P, R, gamma, k, log=None) -> dict:
    """The numbers ``repdyn analyse`` prints (JSON-ready).

    ``P`` may be an array, a sparse matrix or an :class:`analysis.mdp.MDP` (then its caches
    serve every order K: one factorisation in all).
    """
    from repdyn.analysis.mdp import MDP, as_mdp
    from repdyn.analysis.spectral import (KRYLOV_MIN_N, alignment_rate, ebf_certificate, ebfs, eigenvalues,
                                          grassmann_distance, rsbfs)
    m = as_mdp(P)
    krylov = m.n > KRYLOV_MIN_N
    t0 = time.perf_counter()
    say = log or (lambda msg: None)
    if krylov:
        import scipy.sparse.linalg as spla
        say(f"analyse: top {k + 1} eigenvalues by shift-invert Krylov (n = {m.n}) ...")
        try:
            w = eigenvalues(m, k + 1)
        except spla.ArpackError as exc:       # no convergence: one line, not a traceback
            raise ValueError(f"FILE: the top of the spectrum could not be computed: {exc}") from None
        try:                                          # warm the caches at the largest order
            ebfs(m, k)
        except ValueError:
            pass
        if gamma > 0:
            try:
                rsbfs(m, gamma, k)
            except ValueError:
                pass
        say(f"analyse: spectrum and factorisations done in {time.perf_counter() - t0:.1f} s")
    else:
        w = eigenvalues(m)
    rows = []
    bar = _bar(k, "order")
    for K in range(1, k + 1):
        row = {"K": K, "re_lambda_K": float(w[K - 1].real), "im_lambda_K": float(w[K - 1].imag),
               "gap": float(w[K - 1].real - w[K].real)}
        try:
            row["predicted_rate"] = alignment_rate(m, gamma, K)
            if gamma == 0:
                row["note"] = "gamma = 0: A = I, nothing aligns"
        except ValueError as exc:
            row["predicted_rate"] = None
            row["note"] = " ".join(str(exc).split())
        try:
            row["d_ebf_rsbf"] = grassmann_distance(ebfs(m, K), rsbfs(m, gamma, K))
        except ValueError as exc:
            row["d_ebf_rsbf"] = None
            row.setdefault("note", " ".join(str(exc).split()))
        if krylov and row["predicted_rate"] is not None:
            try:
                cert = ebf_certificate(m, K)
                row["top_k_certified"] = cert.top_k_certified
                row["certificate"] = cert.note
                row["residual"] = cert.residual
            except ValueError:
                pass
        rows.append(row)
        bar.update(1)
    bar.close()
    return {"eigenvalues_re": w.real.tolist(), "eigenvalues_im": w.imag.tolist(), "rows": rows,
            "real_spectrum": bool(np.all(np.abs(w.imag) <= 1e-12)),
            "full_spectrum": not krylov,
            "spectrum_note": (f"only the top {k + 1} eigenvalues were computed (n = {m.n} > "
                              f"{KRYLOV_MIN_N}: shift-invert Krylov); the full spectrum was not"
                              if krylov else "full spectrum (dense)")}


def _bar(total, unit):
    from tqdm import tqdm
    return tqdm(total=total, file=sys.stderr, unit=unit, leave=False, disable=not sys.stderr.isatty())


def _spectrum_plot(d, c):
    from repdyn.figures import _plt
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    ax = axes[0]
    th = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(th), np.sin(th), color="0.7", lw=0.8, label="unit circle")
    re, im = np.array(d["eigenvalues_re"]), np.array(d["eigenvalues_im"])
    ax.scatter(re, im, s=18, color="C0", label="eigenvalues of P")
    ax.scatter(re[:c["k"]], im[:c["k"]], s=40, facecolors="none", edgecolors="C3",
               label=f"top {c['k']} by real part")
    ax.set_aspect("equal")
    ax.set_xlabel("Re lambda")
    ax.set_ylabel("Im lambda")
    ax.set_title(f"Spectrum of P ({c['name']})" + ("" if d.get("full_spectrum", True)
                                                    else f": top {len(re)} only"))
    ax.legend(fontsize=8)
    ax = axes[1]
    K = np.array([r["K"] for r in d["rows"]])
    rate = np.array([np.nan if r["predicted_rate"] is None else r["predicted_rate"] for r in d["rows"]])
    dist = np.array([np.nan if r["d_ebf_rsbf"] is None else r["d_ebf_rsbf"] for r in d["rows"]])
    ax.plot(K, rate, "o-", color="C0", label="predicted rate gamma (lambda_K - lambda_K+1) (1/time)")
    ax.set_xlabel("order K")
    ax.set_ylabel("predicted alignment rate (1/time)")
    ax2 = ax.twinx()
    ax2.plot(K, dist, "s--", color="C3", label="d(EBFs, RSBFs) (rad)")
    ax2.set_ylabel("Grassmann distance EBFs-RSBFs (rad)")
    top = np.nanmax(dist) if np.isfinite(dist).any() else 0.0
    ax2.set_ylim(0.0, max(0.1, 1.1 * top))        # rounding-level distances read as 0
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="best")
    ax.set_title("Rates and EBF/RSBF distance by order K (gaps undefined where missing)")
    fig.tight_layout()
    return fig


def _spectrum_caption(d, c):
    bad = [r["K"] for r in d["rows"] if r["predicted_rate"] is None]
    return (f"Spectrum of P for {c['name']} (n = {c['n']}, gamma = {c['gamma']}), "
            f"{'real' if d['real_spectrum'] else 'complex'} spectrum"
            + ("" if d.get("full_spectrum", True) else f" ({d['spectrum_note']})")
            + ". Right: the predicted "
            f"alignment rates gamma (Re lambda_K - Re lambda_K+1) of C2/C3 and the Grassmann "
            f"distance between the order-K EBFs and RSBFs, for K = 1..{c['k']}"
            + (f"; U_1:K is not defined for K = {bad} (tie or split conjugate pair)." if bad else "."))


def _align_compute(c, P, R, gamma):
    from repdyn.analysis.closed_form import span_trajectory, true_values
    from repdyn.analysis.spectral import ebfs, grassmann_distance
    t = np.linspace(0.0, c["t_max"], c["n_t"])
    rng = np.random.default_rng(c["seed"])
    Vs = true_values(P, R, gamma)
    curves = []
    for K, rate in zip(c["Ks"], c["rates"]):
        V0 = rng.standard_normal((Vs.shape[0], K))
        Q = span_trajectory(P, gamma, V0 - Vs[:, None], t)
        E = ebfs(P, K)
        dist = [grassmann_distance(q, E) for q in Q]
        curves.append({"K": K, "dist": dist, "predicted_rate": rate, "measured_rate": fitted_rate(t, dist)})
    return {"t": t.tolist(), "curves": curves}


def _align_plot(d, c):
    from repdyn.figures import _plt
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    t = np.array(d["t"])
    for i, cv in enumerate(d["curves"]):
        y = np.array(cv["dist"])
        ax.semilogy(t, y, color=f"C{i}", label=f"K = {cv['K']} (fit {cv['measured_rate']:.3g})")
        ok = np.where(y > 1e-12)[0]
        if len(ok):
            j = ok[len(ok) // 2]
            ax.semilogy(t, y[j] * np.exp(-cv["predicted_rate"] * (t - t[j])), color=f"C{i}", ls="--",
                        lw=1, label=f"predicted slope {cv['predicted_rate']:.3g}")
    ax.set_ylim(1e-10, 5)
    ax.set_xlabel("time t (flow units)")
    ax.set_ylabel("d(span(V_t - V*), EBFs) (rad)")
    ax.set_title(f"TD value errors align with the EBFs: {c['name']}")
    ax.legend(fontsize=8)
    return fig


def _align_caption(d, c):
    parts = ", ".join(f"K = {cv['K']}: fitted {cv['measured_rate']:.4g} vs predicted "
                      f"{cv['predicted_rate']:.4g}" for cv in d["curves"])
    return (f"Grassmann distance between span(V_t - V*) of K independent TD value functions and "
            f"the order-K EBFs of {c['name']}, on a log scale, with the predicted slopes dashed "
            f"(C2, C3; exact closed form tracked by subspace iteration). {parts}.")


def analyse(mdp, k=None, out=None, t_max=None, log=None) -> dict:
    """Compute the spectral table for ``mdp`` and, with ``out``, write figures and data.

    ``mdp`` is an :class:`analysis.mdp.MDP` (with ``R`` and ``gamma``), built once: every order K
    and every figure reuses its factorisations. Returns the JSON-ready dict also written to
    ``out/analysis.json``. Raises ``ValueError`` (one line) when the estimated memory
    (:func:`memory_estimate`) exceeds what is available.

    Examples
    --------
    The symmetric 5-state random walk has eigenvalues ``cos(pi j / 5)``, so the order-1 rate is
    ``gamma (1 - cos(pi / 5))``; it is reversible, so its EBFs and RSBFs coincide:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import MDP, random_walk_chain
    >>> from repdyn.analyse import analyse
    >>> R = np.zeros(5); R[-1] = 1.0
    >>> m = MDP(random_walk_chain(5), R, 0.9, name="chain-5")
    >>> res = analyse(m, k=3)
    >>> [r["K"] for r in res["rows"]], res["real_spectrum"]
    ([1, 2, 3], True)
    >>> row = res["rows"][0]
    >>> bool(np.isclose(row["predicted_rate"], 0.9 * (1 - np.cos(np.pi / 5)))), row["d_ebf_rsbf"] < 1e-12
    (True, True)
    >>> analyse(m, k=5)
    Traceback (most recent call last):
    ...
    ValueError: --k must lie in 1..n-1 = 1..4 (an eigen-gap needs lambda_K+1), got 5

    With ``out`` the table and the figures are written there:

    >>> with tempfile.TemporaryDirectory() as d:
    ...     res = analyse(m, k=1, out=d)
    ...     files = sorted(os.listdir(d))
    >>> [(f["name"], f["status"]) for f in res["figures"]]
    [('spectrum', 'written'), ('alignment', 'written')]
    >>> files
    ['alignment.json', 'alignment.png', 'analysis.json', 'index.md', 'spectrum.json', 'spectrum.png']
    """
    from repdyn.analysis.mdp import MDP, check_k
    from repdyn.analysis.spectral import KRYLOV_MIN_N
    from repdyn.mdpfile import check_fits
    if not isinstance(mdp, MDP):
        mdp = MDP(mdp.P, mdp.R, mdp.gamma, name=getattr(mdp, "name", None))
    n = mdp.n
    if n < 2:
        raise ValueError("FILE: the MDP needs at least 2 states to have an eigen-gap")
    if k is not None and isinstance(k, int) and not 1 <= k <= n - 1:
        raise ValueError(f"--k must lie in 1..n-1 = 1..{n - 1} (an eigen-gap needs lambda_K+1), got {k}")
    k = min(DEFAULT_K, n - 1) if k is None else check_k(k, n - 1, "--k")
    if t_max is not None:
        try:
            t_max = float(t_max)
        except (TypeError, ValueError):
            raise ValueError(f"--t-max must be a finite number > 0, got {t_max!r}") from None
        if not math.isfinite(t_max) or t_max <= 0:
            raise ValueError(f"--t-max must be a finite number > 0, got {t_max}")
    if mdp.R is None or mdp.gamma is None:
        raise ValueError("FILE: analyse needs R and gamma with P")
    R, gamma = np.asarray(mdp.R, float), float(mdp.gamma)
    krylov = n > KRYLOV_MIN_N
    from repdyn.analysis.spectral import DENSE_TO_CSR_DENSITY
    nnz = mdp.P.nnz if mdp.sparse else int(np.count_nonzero(mdp.P))
    dense_lu = not mdp.sparse and nnz >= DENSE_TO_CSR_DENSITY * n * n
    need = memory_estimate(n, nnz, k, krylov, dense_lu)
    check_fits(need, f"FILE: the {'Krylov' if krylov else 'dense'} analysis of n = {n} states")
    if log and krylov:
        log(f"analyse: n = {n}, nnz = {nnz}: Krylov route, estimated peak memory "
            f"{need / 2**20:.0f} MiB")
    P = mdp
    base = {"v": FIG_VERSION, "name": mdp.name, "n": n, "gamma": gamma, "mdp_sha": _mdp_hash(mdp.P, R, gamma)}
    table = spectral_table(mdp, R, gamma, k, log=log)
    result = {"mdp": {"name": mdp.name, "n": n, "gamma": gamma}, **table,
              "memory_estimate_bytes": int(need)}
    if out is None:
        return result
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "analysis.json"), result)
    figs = [Figure("spectrum", "Spectrum, rates and EBF/RSBF distance", {**base, "k": k},
                   lambda c: table, _spectrum_plot, _spectrum_caption)]
    Ks = [r["K"] for r in table["rows"] if r["predicted_rate"] and r["K"] <= 3][:2]
    rates = [next(r["predicted_rate"] for r in table["rows"] if r["K"] == K) for K in Ks]
    notes = []
    tm = None
    if Ks and gamma > 0:
        tm = t_max if t_max is not None else float(min(np.log(1e7) / min(rates), ALIGN_T_MAX))
    if Ks and gamma > 0 and t_max is None and min(rates) * tm < ALIGN_MIN_EFOLDS:
        notes.append(f"No alignment figure: the slowest predicted rate {min(rates):.3g} gives fewer "
                     f"than {ALIGN_MIN_EFOLDS} e-folds of alignment by t = {tm:g} (pass --t-max to "
                     "draw it anyway).")
    elif Ks and gamma > 0 and n <= ALIGN_FIGURE_MAX_N:
        figs.append(Figure("alignment", "Alignment of TD value errors with the EBFs",
                           {**base, "Ks": Ks, "rates": rates, "t_max": tm, "n_t": 201, "seed": 0},
                           lambda c: _align_compute(c, P, R, gamma), _align_plot, _align_caption))
    elif n > ALIGN_FIGURE_MAX_N:
        notes.append(f"No alignment figure: n = {n} > {ALIGN_FIGURE_MAX_N} (ALIGN_FIGURE_MAX_N).")
    else:
        notes.append("No alignment figure: no order K <= 3 has a defined subspace "
                     "and a positive rate (gamma > 0 and a strict real gap needed).")
    result["figures"] = [{"name": e["name"], "status": e["status"], "caption": e["caption"]}
                         for e in build(out, figs, log=log, notes=notes)]
    result["notes"] = notes
    write_json(os.path.join(out, "analysis.json"), result)
    return result


def format_analysis(res: dict) -> str:
    """Plain-text report of :func:`analyse`.

    Examples
    --------
    >>> import numpy as np
    >>> from repdyn.analysis.mdp import MDP, random_walk_chain
    >>> from repdyn.analyse import analyse, format_analysis
    >>> R = np.zeros(5); R[-1] = 1.0
    >>> text = format_analysis(analyse(MDP(random_walk_chain(5), R, 0.9, name="chain-5"), k=2))
    >>> for line in text.splitlines()[:2]:
    ...     print(line)
    MDP chain-5: n = 5 states, gamma = 0.9, real spectrum
    eigenvalues of P (by real part): 1, 0.809, 0.309, -0.309, -0.809
    >>> text.splitlines()[5].split()[:4]            # K, Re lambda_K, gap, rate gamma * gap
    ['1', '1', '0.191', '0.1719']
    """
    m = res["mdp"]
    w = [complex(a, b) for a, b in zip(res["eigenvalues_re"], res["eigenvalues_im"])]
    full = res.get("full_spectrum", True)
    lines = [f"MDP {m['name']}: n = {m['n']} states, gamma = {m['gamma']:g}, "
             f"{'real' if res['real_spectrum'] else 'complex'} "
             f"{'spectrum' if full else 'top of the spectrum'}",
             *([] if full else [f"NOTE: {res['spectrum_note']}"]),
             ("eigenvalues of P (by real part): " if full else "top eigenvalues of P (by real part): ")
             + ", ".join(f"{z.real:.4g}" if abs(z.imag) <= 1e-12 else f"{z.real:.4g}{z.imag:+.3g}i"
                         for z in w[:12]) + (", ..." if len(w) > 12 else ""),
             "",
             f"{'K':>3}  {'Re lambda_K':>12}  {'gap':>10}  {'rate gamma*gap':>14}  {'d(EBF,RSBF)':>11}  note",
             "-" * 72]
    notes = []                      # (marker, text): printed in full below the table
    for r in res["rows"]:
        rate = "undefined" if r["predicted_rate"] is None else f"{r['predicted_rate']:.4g}"
        dist = "undefined" if r["d_ebf_rsbf"] is None else f"{r['d_ebf_rsbf']:.4g}"
        mark = ""
        if r.get("note"):
            mark = f"[{len(notes) + 1}]"
            notes.append((mark, f"K = {r['K']}: {r['note']}"))
        lines.append(f"{r['K']:>3}  {r['re_lambda_K']:>12.6g}  {r['gap']:>10.4g}  {rate:>14}  "
                     f"{dist:>11}  {mark}".rstrip())
    if notes:
        lines.append("")
        for mark, text in notes:
            lines.extend(textwrap.wrap(text, NOTE_WIDTH, initial_indent=f"{mark} ",
                                       subsequent_indent=" " * (len(mark) + 1),
                                       break_long_words=False, break_on_hyphens=False))
    certs = [r for r in res["rows"] if "top_k_certified" in r]
    if certs:
        yes = [r["K"] for r in certs if r["top_k_certified"] is True]
        unk = [r["K"] for r in certs if r["top_k_certified"] is None]
        worst = max(r["residual"] for r in certs)
        lines.append("")
        lines.extend(textwrap.wrap(
            f"Krylov certificates: residual ||PQ - QT||_F <= {worst:.2g}; top K certified "
            f"(reversible P, Sylvester's inertia count) for K = {yes or 'none'}"
            + (f"; not certifiable (P not reversible: residual and disc argument only) "
               f"for K = {unk}" if unk else ""),
            NOTE_WIDTH, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False))
    for note in res.get("notes", ()):        # why a figure was not drawn
        lines.append("")
        lines.extend(textwrap.wrap(f"note: {note}", NOTE_WIDTH, subsequent_indent="  ",
                                   break_long_words=False, break_on_hyphens=False))
    return "\n".join(lines)
