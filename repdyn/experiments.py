"""The experiment harness of the front end: runs the neural experiments (C10-C14) with the
one resumable store (:class:`repdyn.store.Store`, shared with ``repdyn sweep``) and draws
one figure per claim (``repdyn figures``) or one per experiment (``repdyn experiment``).

The experiments are defined in :mod:`repdyn.proofs.experiments` (the claims' statistical checks
use them too) as ``EXPERIMENTS = {"E1": fn, ...}`` with
``fn(seeds=..., quick=..., progress=None, store=None) -> dict``. This module runs them and
draws their results (docs: figures):

* one figure per claim -- C11 (E1), C12 (E1), C13 (E2 and E3), C14 (E4) -- whose caption
  states the measured effect and its 95 % interval in one or two sentences; the full numbers
  (configuration, per-seed curves, every paired effect) go to the figure's JSON file;
* curves are the mean over seeds with a 95 % Student-t band (:func:`tband`);
* every legend, axis and heading is plain language, from one table (:data:`LABELS`,
  :func:`label`), which also labels record keys it does not know by their words.

An experiment that no claim figure uses (a new one, or a stand-in) gets a generic figure of
every rank / capacity / loss / error curve in its result. If ``proofs.experiments`` is not
built, :func:`neural_figures` returns no figures and a note.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
import time

import numpy as np

from repdyn.figures import FIG_VERSION, Figure, build
from repdyn.store import Store

__all__ = ["CLAIM_FIGURES", "LABELS", "effect_text", "label", "load_experiments",
           "neural_figures", "run_experiment", "series", "tband"]

#: Confidence level of the seed bands and of the intervals quoted in captions.
CONFIDENCE = 0.95
#: Bump to redraw the neural figures after a change in how they are drawn or captioned
#: (kept apart from :data:`repdyn.figures.FIG_VERSION`, which the theory figures use).
NEURAL_FIG_VERSION = 2

#: Key words (in a result's key path) that mark the curves worth drawing in a generic figure.
KEYWORDS = ("rank", "capacity", "loss", "error")
#: Keys whose lists are not curves (interval end points).
SKIP_KEYS = ("ci", "interval", "seeds")
#: At most this many curves per panel (legends stay readable).
MAX_CURVES = 10

# ----------------------------------------------------------------------------- labels

#: Plain-language labels of the words that appear in the experiments' record keys: arms and
#: learners, probe-target families, measurements and settings. One table for every legend,
#: axis and heading; :func:`label` falls back to a key's words for anything not listed.
LABELS = {
    # learners, auxiliary tasks and arms
    "none": "no auxiliary task",
    "base": "no auxiliary task",
    "infer": "InFeR",
    "ensemble": "ensemble heads",
    "cumulants": "random cumulants",
    "h1": "H1: frozen initial features appended",
    "h2": "H2: penultimate layer doubled",
    "td": "TD(0)",
    "mc": "Monte Carlo regression",
    "init": "untrained network",
    "untrained": "untrained network",
    # probe / target families
    "smooth": "smooth probe targets",
    "random-network": "smooth probe targets (random network)",
    "high-frequency": "high-frequency probe targets",
    "hash": "hash probe targets",
    "label": "label-permutation probe targets",
    "labels": "label-permutation probe targets",
    "permuted-labels": "label-permutation probe targets",
    # measurements
    "capacity": "capacity error",
    "rank": "feature rank",
    "srank": "srank (scale-free rank)",
    "feature_norm": "feature norm",
    "value_error": "normalised value error",
    "error": "error",
    "td_loss": "TD loss",
    "train_mse": "training error (MSE)",
    "interference": "interference",
    "effective_rank": "NTK effective rank",
    "d_ebf": "distance to the EBFs",
    "d_rsbf": "distance to the RSBFs",
    # settings
    "sparse": "sparse reward",
    "dense": "dense reward",
}
#: Words of a key that carry no meaning for a reader (``capacity_mean`` is "capacity error").
_FILLER = {"mean", "curve", "curves", "log", "per", "seed", "summary", "result"}


def label(key: str) -> str:
    """Plain-language label of a record key or key path (``/``-separated).

    Each path part is looked up in :data:`LABELS`; a part that is not listed is split at
    ``_`` and each word looked up, filler words (``mean``, ``curve``, ...) dropped, the rest
    kept as words. The result never contains ``_`` or ``/``, so new keys (a probe family the
    experiments add) still read as words.

    Parameters
    ----------
    key : str
        A record key (``capacity_mean``) or key path (``capacity_mean/smooth/none``).

    Returns
    -------
    str
        Comma-separated plain labels, one per meaningful part; ``"value"`` if none is left.

    Notes
    -----
    Longest known run of ``_``-separated words first, so ``value_error`` is one label and not
    "value, error". O(words^2) per part.

    Examples
    --------
    >>> from repdyn.experiments import label
    >>> label("capacity_mean/none")
    'capacity error, no auxiliary task'
    >>> label("capacity/smooth/infer")
    'capacity error, smooth probe targets, InFeR'
    >>> label("rank_curve_cumulants"), label("per_seed/0/td/interference")
    ('feature rank, random cumulants', '0, TD(0), interference')
    >>> label("brand_new_key")                    # unknown words are kept, without underscores
    'brand new key'
    """
    out = []
    for part in str(key).split("/"):
        if not part or part in _FILLER:
            continue
        if part in LABELS:
            out.append(LABELS[part])
            continue
        groups, plain, i, toks = [], [], 0, part.split("_")
        while i < len(toks):        # longest known run of words first (value_error, d_ebf)
            for j in range(len(toks), i, -1):
                w = "_".join(toks[i:j])
                if w in LABELS:
                    if plain:
                        groups.append(" ".join(plain))
                        plain = []
                    groups.append(LABELS[w])
                    i = j
                    break
            else:
                if toks[i] not in _FILLER and toks[i]:
                    plain.append(toks[i])
                i += 1
        if plain:
            groups.append(" ".join(plain))
        if groups:
            out.append(", ".join(groups))
    return ", ".join(out) if out else "value"


# ----------------------------------------------------------------------------- statistics


def tband(rows, confidence: float = CONFIDENCE):
    """Mean over seeds (rows) with a two-sided Student-t interval per column.

    Parameters
    ----------
    rows : array_like, (seeds, points)
        One row per seed; NaN entries (a measurement a seed did not record, or a seed left
        out) are left out of their column.
    confidence : float, default 0.95
        Two-sided level, in (0, 1).

    Returns
    -------
    mean, lo, hi : ndarray (points,)
        The mean and the band's end points; with fewer than 2 finite values in a column the
        band is the mean itself (no interval from one seed).
    n : ndarray of int (points,)
        Finite values per column.

    Raises
    ------
    ValueError
        If ``confidence`` is not in (0, 1).

    Notes
    -----
    ``mean +- t_{(1 + confidence)/2, n-1} sd / sqrt(n)`` with the sample sd (ddof = 1): the
    interval for the mean over seeds, the same one the experiments report for their paired
    effects. O(seeds x points).

    Examples
    --------
    >>> from repdyn.experiments import tband
    >>> m, lo, hi, n = tband([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])   # sd 2, t_{0.975, 2} = 4.303
    >>> m.tolist(), [round(float(v), 3) for v in hi - m], n.tolist()
    ([3.0, 4.0], [4.968, 4.968], [3, 3])
    >>> tband([[1.0, 2.0]])[1].tolist()                               # one seed: no band
    [1.0, 2.0]
    """
    from scipy import stats
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    a = np.atleast_2d(np.asarray(rows, dtype=float))
    ok = np.isfinite(a)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n > 0, np.nansum(np.where(ok, a, 0.0), axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(ok, a - m, 0.0)
        sd = np.sqrt((dev ** 2).sum(axis=0) / np.maximum(n - 1, 1))
        t = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
        h = np.where(n >= 2, t * sd / np.sqrt(np.maximum(n, 1)), 0.0)
    return m, m - h, m + h, n


def _band(ax, x, rows, color, lab, ls="-", positive=False):
    """Mean over seeds (rows) with its 95 % t-band (``positive``: clipped at the smallest
    positive value of ``rows``, for a log axis)."""
    m, lo, hi, _ = tband(rows)
    if positive:
        r = np.asarray(rows, float)
        lo = np.maximum(lo, np.nanmin(np.where(r > 0, r, np.nan)))
    x = np.asarray(x, float)[:m.size]
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
    ax.plot(x, m, color=color, label=lab, ls=ls, lw=1.8)


def _is_effect(e) -> bool:
    return isinstance(e, dict) and "mean" in e and "ci" in e


def _num(v) -> str:
    return "n/a" if v is None or not math.isfinite(float(v)) else f"{float(v):.3g}"


def effect_text(e, unit: str = "") -> str:
    """A paired effect as a caption writes it: mean, 95 % interval, and where it lies.

    Parameters
    ----------
    e : dict
        ``{"mean", "ci": [lo, hi], "n", ...}`` as :func:`repdyn.proofs.experiments.paired_effect`
        returns it (NaN may be stored as None).
    unit : str, optional
        Written after the mean.

    Returns
    -------
    str
        ``"mean (95 % CI lo to hi, above 0 | contains 0 | below 0)"``, 3 significant digits;
        no interval when the effect has none (fewer than 2 seeds).

    Examples
    --------
    >>> from repdyn.experiments import effect_text
    >>> effect_text({"mean": 0.123, "ci": [0.0456, 0.201], "n": 5})
    '0.123 (95 % CI 0.0456 to 0.201, above 0)'
    >>> effect_text({"mean": 0.5, "ci": [float("nan"), float("nan")], "n": 1})
    '0.5 (one seed, no interval)'
    """
    u = f" {unit}" if unit else ""
    if not _is_effect(e):
        return "n/a (not in the result)"
    lo, hi = (float("nan") if c is None else float(c) for c in e["ci"])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        n = e.get("n")
        why = "one seed, no interval" if n == 1 else f"no interval, n = {n}"
        return f"{_num(e['mean'])}{u} ({why})"
    where = "above 0" if lo > 0 else "below 0" if hi < 0 else "contains 0"
    return f"{_num(e['mean'])}{u} (95 % CI {_num(lo)} to {_num(hi)}, {where})"


def _by_family(value, default):
    """``{family: value}``: a dict keyed by probe family as it is, anything else under
    ``default`` (today's records hold one family; newer ones may hold one entry per family)."""
    if isinstance(value, dict) and value and not _is_effect(value):
        return value
    return {default: value}


def _config_word(config) -> str:
    """The configuration a figure ran: a named one (``paper``), else quick or full."""
    return config.get("config_name") or ("quick" if config.get("quick") else "full")


def _seeds_text(n, word, seeds=None) -> str:
    """``3 seeds (0-2, full configuration)``: how many, which, and the configuration."""
    which = ""
    if isinstance(seeds, list) and seeds and all(isinstance(x, int) for x in seeds):
        which = (f"{seeds[0]}-{seeds[-1]}, " if seeds == list(range(seeds[0], seeds[-1] + 1))
                 and len(seeds) > 1 else ", ".join(map(str, seeds)) + ", ")
    return f"{n} seed{'s' if n != 1 else ''} ({which}{word} configuration)"


# ----------------------------------------------------------------------------- experiment data


def _rows(per_seed, *path):
    """seeds x points array of ``per_seed[s][path...]`` (ragged rows padded with NaN)."""
    rows = []
    for r in per_seed:
        v = r
        for p in path:
            v = v[p]
        rows.append([np.nan if x is None else float(x) for x in v])
    n = max(len(r) for r in rows)
    return np.array([r + [np.nan] * (n - len(r)) for r in rows], dtype=float)


def _dead_rows(r, v):
    """Boolean per ``per_seed`` row: the seed's network died in arm ``v`` (all units of a layer
    inactive). The experiment's ``summary.dead_seeds`` decides; else any per-seed ``dead`` flag."""
    dead = (r.get("summary") or {}).get("dead_seeds")
    if isinstance(dead, dict):
        seeds = list(r.get("seeds") or range(len(r["per_seed"])))
        return np.array([s in set(dead.get(v) or ()) for s in seeds[:len(r["per_seed"])]], bool)
    return np.array([bool(any(p[v].get("dead") or ())) for p in r["per_seed"]], bool)


def _e1(r):
    """E1's arrays: ``cap[family][variant]`` and ``rank[variant]`` (seeds x T+1, rows of seeds
    whose network died set to NaN, as the experiment leaves them out of its effects), the
    variants and the default family name (records with one capacity list per arm)."""
    c = r["config"]
    default = c.get("family") or c.get("probe_family") or "probe"
    variants = [v for v in ("none", "infer") if v in r["per_seed"][0]] or list(r["per_seed"][0])
    cap, rank = {}, {}
    for v in variants:
        dead = _dead_rows(r, v)
        capv = r["per_seed"][0][v]["capacity"]
        for fam in (list(capv) if isinstance(capv, dict) else [default]):
            path = (v, "capacity", fam) if isinstance(capv, dict) else (v, "capacity")
            a = _rows(r["per_seed"], *path)
            a[dead] = np.nan
            cap.setdefault(fam, {})[v] = a
        rank[v] = _rows(r["per_seed"], v, "rank")
        rank[v][dead] = np.nan
    # the configured order (a record read back from the store has its keys sorted)
    order = list(c.get("probe_families") or (r.get("summary") or {}).get("probe_families") or ())
    cap = {f: cap[f] for f in sorted(cap, key=lambda f: order.index(f) if f in order else len(order))}
    return cap, rank, variants, default


#: Plain names of the experiments' input sources.
INPUTS = {"uci-digits-8x8": "the 8x8 UCI digits", "sklearn-digits": "the 8x8 UCI digits",
          "synthetic-64d": "a synthetic 64-d stand-in for the digits"}


def _inputs_text(name) -> str:
    if isinstance(name, str) and name.startswith("user-"):
        return f"your inputs ({name.split('-')[1]})"
    return INPUTS.get(name, str(name))


def _dead_text(r, variants) -> str:
    """A sentence naming the seeds left out because their network died, or ''."""
    n = len(r["per_seed"])
    parts = [f"{int(_dead_rows(r, v).sum())} of {n} {label(v)}" for v in variants
             if _dead_rows(r, v).any()]
    return (" Seeds whose network died (a layer inactive on every input) are left out of the "
            f"curves and effects: {', '.join(parts)}.") if parts else ""


def _e1_effect(s, key, fam, default):
    return _by_family(s.get(key), default).get(fam)


def _suptitle(fig, title):
    """The figure's heading (the same words as in index.md): the claim on the first line(s),
    the configuration and seeds on the last, wrapped to the figure's width."""
    import textwrap
    width = max(60, int(fig.get_figwidth() * 11))          # ~11 characters per inch at 11 pt
    head, _, tail = title.rpartition("; ")
    lines = [ln for part in ((head, tail) if head else (title,)) for ln in textwrap.wrap(part, width)]
    fig.suptitle("\n".join(lines), fontsize=11)


# ----------------------------------------------------------------------------- C11


def _c11_plot(data, config):
    from repdyn.figures import _plt
    plt = _plt()
    r = data["experiments"]["E1"]
    cap, _, _, default = _e1(r)
    fams = list(cap)
    fig, axes = plt.subplots(1, len(fams), figsize=(5.6 * len(fams), 4.2), squeeze=False)
    for ax, fam in zip(axes[0], fams):
        rows = cap[fam]["none"]
        x = np.arange(rows.shape[1])
        _band(ax, x, rows, "C0", LABELS["none"])
        w = r["summary"].get("late_window", 1)
        ax.axhline(np.nanmean(rows[:, 0]), color="0.4", ls=":", lw=1, label="fresh network (target 0)")
        if r["config"].get("standardise"):
            ax.axhline(1.0, color="k", ls="--", lw=0.8, label="chance (standardised targets)")
        ax.axvspan(x[-1] - w + 0.5, x[-1] + 0.3, color="0.93", zorder=0,
                   label=f"last {w} measurements (averaged)")
        e = _e1_effect(r["summary"], "c11_capacity_loss", fam, default)
        ax.set_title(f"{label(fam)}\nafter minus fresh: {effect_text(e)}", fontsize=9)
        ax.set_xlabel("target number (sequential regression; 0 = fresh network)")
        ax.set_ylabel("capacity error (probe MSE; lower = more capacity)")
        ax.legend(fontsize=8)
    _suptitle(fig, config["title"])
    fig.tight_layout()
    return fig


def _c11_caption(data, config):
    r = data["experiments"]["E1"]
    s, c = r["summary"], r["config"]
    cap, _, _, default = _e1(r)
    parts = " and ".join(f"{effect_text(_e1_effect(s, 'c11_capacity_loss', f, default))} on {label(f)}"
                         for f in cap)
    return (f"Capacity loss (C11 predicts > 0): the capacity error of the network without an "
            f"auxiliary task after {c['T']} sequential targets minus that of the fresh network "
            f"is {parts}. Capacity error: mean MSE after {c['probe_steps']} Adam steps on each of "
            f"{c['probe_targets']} fresh targets"
            + (" (probes trained in float32)" if c.get("probe_dtype") == "float32" else "")
            + f", 'after' the mean of the last "
            f"{s.get('late_window', 1)} measurements (shaded); mean over "
            f"{_seeds_text(len(r['per_seed']), _config_word(config), r.get('seeds'))} with a 95 % "
            f"t-band; inputs "
            f"{_inputs_text(s.get('inputs', c.get('inputs', 'n/a')))}." + _dead_text(r, ["none"]))


# ----------------------------------------------------------------------------- C12


def _c12_plot(data, config):
    from repdyn.figures import _plt
    plt = _plt()
    r = data["experiments"]["E1"]
    cap, rank, variants, default = _e1(r)
    fams = list(cap)
    fig, axes = plt.subplots(1, len(fams) + 1, figsize=(5.2 * (len(fams) + 1), 4.2), squeeze=False)
    cols = {"none": "C0", "infer": "C3"}
    for ax, fam in zip(axes[0], fams):
        for i, v in enumerate(variants):
            _band(ax, np.arange(cap[fam][v].shape[1]), cap[fam][v], cols.get(v, f"C{i + 4}"), label(v))
        e = _e1_effect(r["summary"], "c12_capacity_gain", fam, default)
        ax.set_title(f"capacity error, {label(fam)}\nno auxiliary task minus InFeR:\n{effect_text(e)}",
                     fontsize=9)
        if r["config"].get("standardise"):
            ax.axhline(1.0, color="k", ls="--", lw=0.8, label="chance (standardised targets)")
        ax.set_ylabel("capacity error (probe MSE; lower = more capacity)")
    ax = axes[0][-1]
    for i, v in enumerate(variants):
        _band(ax, np.arange(rank[v].shape[1]), rank[v], cols.get(v, f"C{i + 4}"), label(v))
    gain = effect_text(r["summary"].get("c12_rank_gain"))
    ax.set_title(f"feature rank\nInFeR minus no auxiliary task:\n{gain}",
                 fontsize=9)
    ax.set_ylabel("feature rank (singular values > 0.01)")
    for ax in axes[0]:
        ax.set_xlabel("target number (sequential regression; 0 = fresh network)")
        ax.legend(fontsize=8)
    _suptitle(fig, config["title"])
    fig.tight_layout()
    return fig


def _c12_caption(data, config):
    r = data["experiments"]["E1"]
    s, c = r["summary"], r["config"]
    cap, _, _, default = _e1(r)
    ic = c.get("infer", {})
    gains = " and ".join(f"{effect_text(_e1_effect(s, 'c12_capacity_gain', f, default))} on {label(f)}"
                         for f in cap)
    return (f"InFeR's gain (C12 predicts > 0): after {c['T']} sequential targets, the capacity "
            f"error without an auxiliary task minus with InFeR is {gains}; InFeR's feature rank "
            f"minus the baseline's is {effect_text(s.get('c12_rank_gain'))}. InFeR k = "
            f"{ic.get('k')}, beta = {ic.get('beta')}, alpha = {ic.get('alpha')}; mean over "
            f"{_seeds_text(len(r['per_seed']), _config_word(config), r.get('seeds'))} with a 95 % t-band."
            + _dead_text(r, _e1(r)[2]))


# ----------------------------------------------------------------------------- C13


def _td_rows(per_seed, arm, key):
    return _rows(per_seed, arm, "log", key)


def _c13_plot(data, config):
    from repdyn.figures import _plt
    plt = _plt()
    exps = data["experiments"]
    panels = []
    if "E2" in exps:
        panels.append(("E2", None, "rank", "E2: feature rank, TD with zero reward then a sparse one"))
        panels.append(("E2", None, "value_error", "E2: value error"))
    if "E3" in exps:
        panels.append(("E3", "sparse", "value_error", "E3: value error, sparse reward"))
        panels.append(("E3", "dense", "value_error", "E3: value error, dense reward"))
    ncol = 2 if len(panels) == 4 else len(panels)
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.6 * ncol, 4.2 * nrow), squeeze=False)
    axes = [list(axes.ravel())]
    colors = {"none": "C0", "ensemble": "C1", "cumulants": "C2", "infer": "C3", "h1": "C4", "h2": "C5"}
    for ax, (name, setting, key, title) in zip(axes[0], panels):
        r = exps[name]
        ps = [p[setting] for p in r["per_seed"]] if setting else r["per_seed"]
        arms = list(ps[0])
        for i, a in enumerate(arms):
            _band(ax, ps[0][a]["log"]["step"], _td_rows(ps, a, key), colors.get(a, f"C{i + 6}"),
                  label(a))
        if "phase1_logs" in ps[0][arms[0]]:
            i0 = ps[0][arms[0]]["phase1_logs"] - 1
            ax.axvline(ps[0][arms[0]]["log"]["step"][i0], color="0.4", ls=":", lw=1,
                       label="reward appears")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("feature rank (singular values > 0.01)" if key == "rank"
                      else "normalised value error (lower is better)")
        ax.legend(fontsize=7)
    _suptitle(fig, config["title"])
    fig.tight_layout()
    return fig


def _c13_caption(data, config):
    exps = data["experiments"]
    out = []
    n = seeds = None
    if "E2" in exps:
        s, c = exps["E2"]["summary"], exps["E2"]["config"]
        n, seeds = len(exps["E2"]["per_seed"]), exps["E2"].get("seeds")
        out.append(f"E2, {c['T0']} TD steps with zero reward (C13 predicts > 0): feature rank "
                   f"lost by ensemble heads {effect_text(s.get('rank_drop_ensemble'))}; rank of "
                   f"random cumulants minus ensemble heads {effect_text(s.get('rank_gain_cumulants'))}, "
                   f"of InFeR minus ensemble heads {effect_text(s.get('rank_gain_infer'))}.")
    if "E3" in exps:
        s = exps["E3"]["summary"]
        if n is None:
            n, seeds = len(exps["E3"]["per_seed"]), exps["E3"].get("seeds")
        frac = s.get("h2_fraction_of_cost_removed")
        frac = f"{100 * frac:.0f} %" if isinstance(frac, (int, float)) and math.isfinite(frac) else "n/a"
        out.append(f"E3 (predicted > 0): value error on the sparse chain after the reward "
                   f"appears, H1 minus InFeR {effect_text(s.get('h1_vs_infer_sparse'))}; mean "
                   f"value error on dense rewards, InFeR minus no auxiliary task "
                   f"{effect_text(s.get('infer_cost_dense'))}, of which H2 removed {frac}.")
    out.append(f"Mean over {_seeds_text(n, _config_word(config), seeds)} with a 95 % t-band."
               + _td_dead_text(exps))
    return " ".join(out)


def _td_dead_text(exps) -> str:
    """The TD seeds whose network died (E2, E3: reported, not left out, since dying features
    are part of what these experiments measure), or ''."""
    parts = []
    for name, where, dead in (("E2", "", (exps.get("E2") or {}).get("summary", {}).get("dead_seeds")),
                              ("E3", "sparse ", (exps.get("E3") or {}).get("summary", {})
                               .get("sparse", {}).get("dead_seeds")),
                              ("E3", "dense ", (exps.get("E3") or {}).get("summary", {})
                               .get("dense_dead_seeds"))):
        for arm, seeds in (dead or {}).items() if isinstance(dead, dict) else ():
            if seeds:
                parts.append(f"{name} {where}{label(arm)}: seed{'s' if len(seeds) > 1 else ''} "
                             + ", ".join(map(str, seeds)))
    return (" Networks that died (a layer inactive on every state; kept in the curves and "
            "effects): " + "; ".join(parts) + ".") if parts else ""


# ----------------------------------------------------------------------------- C14 (E4)


def _c14_plot(data, config):
    from repdyn.figures import _plt
    plt = _plt()
    r = data["experiments"]["E4"]
    runs = r["per_seed"]
    steps = np.asarray(runs[0]["steps"], float)
    arms = (("td", "C0"), ("mc", "C1"))
    fig, axes = plt.subplots(1, 3, figsize=(15.6, 4.3))
    for key, ax, ylabel, title in (
            ("interference", axes[0], "interference: mean over i != j of |K_ij| / K_jj",
             f"interference; MC minus TD(0) at the end: {effect_text(r['summary'].get('td_vs_mc'))}"),
            ("effective_rank", axes[1], "NTK effective rank", "NTK effective rank")):
        for arm, col in arms:
            _band(ax, steps, _rows(runs, arm, key), col, label(arm))
        ax.set_xlabel("training step (0 = untrained network)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
    ax = axes[2]
    k = np.arange(1, len(runs[0]["td"]["spectrum"][0]) + 1)
    _band(ax, k, [p["td"]["spectrum"][0] for p in runs], "C7", LABELS["untrained"], positive=True)
    for arm, col in arms:
        _band(ax, k, [p[arm]["spectrum"][-1] for p in runs], col, f"{label(arm)}, end of training",
              positive=True)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue number (largest first)")
    ax.set_ylabel("NTK eigenvalue / trace")
    ax.set_title("leading NTK eigenvalues", fontsize=9)
    ax.legend(fontsize=8)
    _suptitle(fig, config["title"])
    fig.tight_layout()
    return fig


def _c14_caption(data, config):
    r = data["experiments"]["E4"]
    s = r["summary"]
    return (f"TD lowers interference (C14 predicts > 0): interference between the chain's states "
            f"at the end of training (mean |K_ij| / K_jj of the empirical NTK), Monte Carlo "
            f"regression minus TD(0) {effect_text(s.get('td_vs_mc'))}; untrained network minus "
            f"TD(0) {effect_text(s.get('td_vs_init'))}. Mean over "
            f"{_seeds_text(len(r['per_seed']), _config_word(config), r.get('seeds'))} with a 95 % "
            f"t-band; observations "
            f"{_inputs_text(s.get('observations', 'n/a'))}.")


# ----------------------------------------------------------------------------- the claim figures

#: One figure per claim: (claim, figure name, experiments it reads, heading, plot, caption).
#: The heading is also the plot's title, so ``index.md`` and the PNG say the same thing.
CLAIM_FIGURES = (
    ("C11", "fig_neural_c11_capacity_loss", ("E1",),
     "C11: after a sequence of targets a network fits a new target worse (E1, capacity error)",
     _c11_plot, _c11_caption),
    ("C12", "fig_neural_c12_infer", ("E1",),
     "C12: InFeR keeps capacity and feature rank (E1, capacity error and feature rank)",
     _c12_plot, _c12_caption),
    ("C13", "fig_neural_c13_td_auxiliary_tasks", ("E2", "E3"),
     "C13: TD with a sparse reward, feature rank by auxiliary task and InFeR's ablations "
     "(E2 rank and value error, E3 value error)",
     _c13_plot, _c13_caption),
    ("C14", "fig_neural_c14_update_space", ("E4",),
     "C14: TD lowers interference between states (E4, empirical NTK)",
     _c14_plot, _c14_caption),
)


def _title(heading, seeds, quick, config_name=None):
    what = ("quick configuration (an illustration, not the judged result)" if quick
            else f"{config_name or 'full'} configuration")
    return (f"{heading}; {what}, "
            f"{seeds} seed{'s' if seeds != 1 else ''}")


def _experiment_config(name, quick, config_name=None):
    """The experiment's default configuration (so a figure is redrawn when it changes), or None;
    for a named configuration the module's ``<name>_<CONFIG_NAME>`` table (``E1_PAPER``)."""
    mod = sys.modules.get("repdyn.proofs.experiments")
    if config_name is not None:
        named = getattr(mod, f"{name}_{str(config_name).upper()}", None)
        if isinstance(named, dict):
            from repdyn.analysis.jsonable import to_jsonable
            return to_jsonable(named)
    cfgs = getattr(mod, f"{name}_CONFIG", None)
    if not isinstance(cfgs, dict):
        return None
    from repdyn.analysis.jsonable import to_jsonable
    for k in (bool(quick), "quick" if quick else "full"):     # keyed by quick, or by name
        if k in cfgs:
            return to_jsonable(cfgs[k])
    return to_jsonable(cfgs)             # one table of every configuration: any change redraws


def _run(exps, name, seeds, quick, out, tag):
    store = Store(os.path.join(out, "experiments"))   # one store; records keyed per seed
    try:
        return exps[name](seeds=list(range(seeds)), quick=quick, progress=_progress_cb(tag, quick),
                          store=store)
    finally:
        store.close()


def _claim_figure(spec, exps, seeds, quick, out):
    claim, fname, names, heading, plot, caption = spec
    title = _title(heading, seeds, quick)
    config = {"v": FIG_VERSION, "neural_v": NEURAL_FIG_VERSION, "claim": claim,
              "experiments": list(names), "seeds": seeds, "quick": quick, "title": title,
              "experiment_configs": {n: _experiment_config(n, quick) for n in names}}

    def compute(c):
        return {"claim": claim,
                "experiments": {n: _run(exps, n, c["seeds"], c["quick"], out, f"{claim} ({n})")
                                for n in names}}

    return Figure(fname, title, config, compute, plot, caption)


def _progress_cb(tag, quick, config_name=None):
    t0 = time.perf_counter()
    word = "quick" if quick else config_name or "full"

    def cb(*args, **kwargs):
        if len(args) == 2 and all(isinstance(a, (int, float)) for a in args):
            msg = f"seed {args[0]} of {args[1]} done"
        else:
            msg = " ".join(str(a) for a in args) + "".join(f" {k}={v}" for k, v in kwargs.items())
        print(f"  {tag}, {word} configuration: {msg} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return cb


# ----------------------------------------------------------------------------- generic figures


def load_experiments():
    """``proofs.experiments.EXPERIMENTS``, or None when the module is not built yet.

    Examples
    --------
    >>> from repdyn.experiments import load_experiments
    >>> exps = load_experiments()
    >>> sorted(exps), exps["E1"].__name__
    (['E1', 'E2', 'E3', 'E4'], 'e1_sequential_regression')
    """
    if importlib.util.find_spec("repdyn.proofs.experiments") is None:
        return None
    mod = importlib.import_module("repdyn.proofs.experiments")
    exps = getattr(mod, "EXPERIMENTS", None)
    if not isinstance(exps, dict):
        raise ValueError("repdyn.proofs.experiments has no EXPERIMENTS dict")
    return exps


def series(d, path=()):
    """Yield ``(key path, array)`` for every numeric 1-d or 2-d list (>= 3 points) in ``d``.

    Examples
    --------
    Curves need at least 3 points; confidence intervals (key ``ci``) are not curves:

    >>> from repdyn.experiments import series
    >>> result = {"summary": {"rank": [5, 4, 3], "gain": {"mean": 0.1, "ci": [0.0, 0.1, 0.2]}},
    ...           "per_seed": [{"loss": [1.0, 0.5, 0.2]}, {"loss": [0.9, 0.4, 0.1]}],
    ...           "error": [[1.0, 0.5, 0.2], [0.9, 0.4, 0.1]], "seeds": [0, 1]}
    >>> [(key, a.shape) for key, a in series(result)]
    [('summary/rank', (3,)), ('per_seed/0/loss', (3,)), ('per_seed/1/loss', (3,)), ('error', (2, 3))]
    """
    if isinstance(d, dict):
        for k, v in d.items():
            yield from series(v, path + (str(k),))
        return
    if isinstance(d, (list, tuple)) and len(d) >= 2:
        try:
            a = np.asarray(d, dtype=float)
        except (TypeError, ValueError):
            a = None
        if path and path[-1] in SKIP_KEYS:      # confidence intervals are not curves
            return
        if a is not None and a.ndim in (1, 2) and a.shape[-1] >= 3 and np.isfinite(a).any():
            yield "/".join(path), a
            return
        for i, v in enumerate(d):
            if isinstance(v, dict):
                yield from series(v, path + (str(i),))


def _panels(data):
    """Curves by keyword; the experiment's ``summary`` (means over seeds) is preferred when it
    holds any, so per-seed curves are drawn only when there is no summary curve."""
    out = {}
    src = data
    if isinstance(data, dict) and isinstance(data.get("summary"), dict):
        if any(any(w in k.lower() for w in KEYWORDS) for k, _ in series(data["summary"])):
            src = data["summary"]
    for key, a in series(src):
        low = key.lower()
        kw = next((w for w in KEYWORDS if w in low), None)
        if kw is not None:
            out.setdefault(kw, []).append((key, a, _x_axis(src, key.split("/"), a.shape[-1])))
    return out


def _x_axis(src, path, length):
    """The recorded training steps for a curve: a ``steps``/``step`` list of the same length in
    the curve's dict or one of its ancestors; None (use the measurement number) if none."""
    nodes = [src]
    for p in path[:-1]:
        nxt = nodes[-1].get(p) if isinstance(nodes[-1], dict) else None
        if nxt is None:
            break
        nodes.append(nxt)
    for node in reversed(nodes):
        if isinstance(node, dict):
            for k in ("steps", "step"):
                v = node.get(k)
                if isinstance(v, list) and len(v) == length:
                    return v
    return None


def _as_claim_data(data, config):
    """A single experiment's result in the layout the claim plots read."""
    name = config.get("experiment")
    return {"experiments": {name: data}}, {**config, "title": config.get("title") or
                                            _title(f"Experiment {name}", config.get("seeds", 1),
                                                   config.get("quick", False))}


def _plot_e1(data, config):
    return _c12_plot(*_as_claim_data(data, config))


def _plot_e2_e3(data, config):
    return _c13_plot(*_as_claim_data(data, config))


def _plot_update_space(data, config):
    """E4 (C14): interference and the NTK's effective rank over training, TD vs MC, and the
    leading NTK eigenvalues (fractions of the trace), mean over seeds with a 95 % t-band."""
    return _c14_plot(*_as_claim_data(data, config))


#: Experiments with a dedicated per-experiment plot ``plot(result, config)`` (``repdyn experiment``).
PLOTS = {"E1": _plot_e1, "E2": _plot_e2_e3, "E3": _plot_e2_e3, "E4": _plot_update_space}
#: Per-experiment captions, from the claim captions.
_CAPTIONS = {"E1": (_c11_caption, _c12_caption), "E2": (_c13_caption,), "E3": (_c13_caption,),
             "E4": (_c14_caption,)}


def _plot(data, config):
    special = PLOTS.get(config.get("experiment"))
    if special is not None:          # a result it cannot read is an error, never another plot
        return special(data, config)
    from repdyn.figures import _plt
    plt = _plt()
    panels = _panels(data)
    title = config.get("title") or f"Experiment {config['experiment']}"
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{title}: no rank, capacity, loss or error curves in the result",
                ha="center", va="center")
        return fig
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, (kw, items) in zip(axes[0], panels.items()):
        steps = False
        for i, (key, a, xs) in enumerate(items[:MAX_CURVES]):
            x = np.arange(a.shape[-1]) if xs is None else np.asarray(xs, float)
            steps = steps or xs is not None
            if a.ndim == 2:   # seeds x points: mean and 95 % t-band
                _band(ax, x, a, f"C{i}", label(key))
            else:
                ax.plot(x, a, color=f"C{i}", label=label(key))
        ax.set_xlabel("training step" if steps else "measurement number (in the order recorded)")
        ax.set_ylabel(label(kw))
        ax.set_title(label(kw), fontsize=9)
        ax.legend(fontsize=7)
    _suptitle(fig, title)
    fig.tight_layout()
    return fig


def _caption(data, config):
    caps = _CAPTIONS.get(config.get("experiment"))
    if caps:
        d, c = _as_claim_data(data, config)
        return " ".join(cap(d, c) for cap in caps) + " Full numbers in the JSON data file."
    curves = "; ".join(f"{label(kw)}: " + ", ".join(label(it[0]) for it in items[:MAX_CURVES])
                       for kw, items in _panels(data).items())
    effects = [(k, e) for k, e in _effects(data.get("summary", {}))][:3]
    eff = "; ".join(f"{label(k)} {effect_text(e)}" for k, e in effects)
    return (f"Experiment {config['experiment']}, {_seeds_text(config['seeds'], _config_word(config))}. "
            f"Curves: {curves or 'none found in the result'}"
            + (f". Effects: {eff}" if eff else "") + ". Full numbers in the JSON data file.")


def _effects(d, path=()):
    """Yield (key path, effect dict) for every paired-effect summary (mean, ci)."""
    if isinstance(d, dict):
        if _is_effect(d):
            yield "/".join(path), d
            return
        for k, v in d.items():
            yield from _effects(v, path + (str(k),))


#: Headings of the per-experiment figures (``repdyn experiment``); others read "Experiment <name>".
EXPERIMENT_HEADINGS = {
    "E1": "Experiment E1 (C11, C12): sequential regression, capacity error and feature rank",
    "E2": "Experiment E2 (C13): TD with zero then sparse reward, feature rank and value error "
          "by auxiliary task",
    "E3": "Experiment E3 (C13): InFeR's ablations, value error on sparse and dense rewards",
    "E4": "Experiment E4 (C14): interference under TD and Monte Carlo training",
}


def _figure(name, fn, seeds, quick, out, config_name=None):
    title = _title(EXPERIMENT_HEADINGS.get(name, f"Experiment {name}"), seeds, quick, config_name)
    config = {"v": FIG_VERSION, "neural_v": NEURAL_FIG_VERSION, "experiment": name,
              "seeds": seeds, "quick": quick, "title": title,
              "experiment_config": _experiment_config(name, quick, config_name)}
    if config_name is not None:             # a named configuration is part of the cache key
        config["config_name"] = config_name

    def compute(c):
        store = Store(os.path.join(out, "experiments"))   # one store; records keyed per seed
        kw = {} if config_name is None else {"config": config_name}
        try:
            return fn(seeds=list(range(c["seeds"])), quick=c["quick"],
                      progress=_progress_cb(name, c["quick"], config_name), store=store, **kw)
        finally:
            store.close()

    return Figure(f"fig_neural_{name}", title, config, compute, _plot, _caption)


def neural_figures(seeds: int, quick: bool, out: str):
    """(figures, note): one figure per claim (C11-C14), plus a generic one for any experiment no
    claim figure reads; or none and a note saying why.

    Parameters
    ----------
    seeds : int
        Seeds per experiment (0 .. seeds - 1).
    quick : bool
        The experiments' quick configuration (titles then say "quick configuration");
        False, the default of ``repdyn figures``, is the full one.
    out : str
        Output folder: the store is ``out/experiments``.

    Returns
    -------
    figures : list of repdyn.figures.Figure
        Nothing runs until :func:`repdyn.figures.build` (or ``Figure.compute``) is called.
    note : str or None
        Why there are no neural figures, if there are none.

    Every figure runs its experiments through the one store in ``out/experiments``, so the
    two figures of E1 (C11, C12) share its seeds and a rerun only reads them back.

    Examples
    --------
    Nothing runs until a figure is built (:func:`repdyn.figures.build`):

    >>> import tempfile
    >>> from repdyn.experiments import neural_figures
    >>> with tempfile.TemporaryDirectory() as d:
    ...     figs, note = neural_figures(1, True, d)
    >>> [f.name for f in figs], note                      # doctest: +NORMALIZE_WHITESPACE
    (['fig_neural_c11_capacity_loss', 'fig_neural_c12_infer',
      'fig_neural_c13_td_auxiliary_tasks', 'fig_neural_c14_update_space'], None)
    >>> figs[0].config["seeds"], "quick configuration" in figs[0].title
    (1, True)
    """
    try:
        exps = load_experiments()
    except Exception as exc:
        return [], (f"Neural figures (C11-C14): not produced, repdyn.proofs.experiments failed "
                    f"to import ({type(exc).__name__}: {exc}).")
    if exps is None:
        return [], ("Neural figures (C11-C14): not produced, repdyn.proofs.experiments is not "
                    "built yet.")
    figs, used = [], set()
    for spec in CLAIM_FIGURES:
        if all(n in exps for n in spec[2]):
            figs.append(_claim_figure(spec, exps, seeds, quick, out))
            used.update(spec[2])
    figs += [_figure(n, fn, seeds, quick, out) for n, fn in sorted(exps.items()) if n not in used]
    return figs, None


def run_experiment(name, fn, *, seeds, quick, out, log=None, config=None) -> dict:
    """Run one experiment (or reuse its stored result) and write its JSON, PNG and index.md.

    ``config``: a named configuration of the experiment (``"paper"`` for E1), passed on as
    ``fn(..., config=config)``; it is part of the figure's cache key and said in its title
    and caption. None: the quick or default (full) configuration.

    Examples
    --------
    E1 at a tiny size (keyword overrides bound with ``functools.partial``), one seed:

    >>> import functools, os, tempfile
    >>> from repdyn.experiments import run_experiment
    >>> from repdyn.proofs.experiments import e1_sequential_regression
    >>> fn = functools.partial(e1_sequential_regression, n=32, hidden=(8,), T=2, steps=10,
    ...                        probe_targets=1, probe_steps=5)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     e = run_experiment("E1", fn, seeds=1, quick=True, out=d)
    ...     again = run_experiment("E1", fn, seeds=1, quick=True, out=d)   # reused, not rerun
    ...     written = os.path.exists(e["json"]), os.path.exists(e["png"])
    >>> e["status"], again["status"], written
    ('written', 'cached', (True, True))
    >>> os.path.basename(e["png"])
    'fig_neural_E1.png'
    """
    done = build(out, [_figure(name, fn, seeds, quick, out, config)], log=log)
    e = done[0]
    e["json"] = os.path.join(out, e["data"])
    e["png"] = os.path.join(out, e["png"])
    if e["status"] == "error" and log:
        log(e["caption"])
    return e
