"""The experiment harness of the front end: runs the neural experiments (C10-C13) with the
one resumable store (:class:`repdyn.store.Store`, shared with ``repdyn sweep``) and draws
their feature-rank and capacity curves (``repdyn experiment``, ``repdyn figures``).

The experiments are defined in :mod:`repdyn.proofs.experiments` (the claims' statistical checks
use them too) as ``EXPERIMENTS = {"E1": fn, ...}`` with
``fn(seeds=..., quick=..., progress=None, store=None) -> dict``. This module only runs them and
draws whatever curves their result holds: every numeric series (a list of numbers, or a
seeds x steps list of lists) whose key path names a rank, a capacity, a loss or an error.
If ``proofs.experiments`` is not built, :func:`neural_figures` returns no figures and a note.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import numpy as np

from repdyn.figures import FIG_VERSION, Figure, build
from repdyn.store import Store

__all__ = ["load_experiments", "neural_figures", "run_experiment", "series"]

#: Key words (in a result's key path) that mark the curves worth drawing, one panel each.
KEYWORDS = ("rank", "capacity", "loss", "error")
#: Keys whose lists are not curves (interval end points).
SKIP_KEYS = ("ci", "interval", "seeds")
#: At most this many curves per panel (legends stay readable).
MAX_CURVES = 10


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
    """Yield ``(key path, array)`` for every numeric 1-d or 2-d list (>= 2 points) in ``d``.

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
    the curve's dict or one of its ancestors; None (use the index) if there is none."""
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


def _plot(data, config):
    special = PLOTS.get(config.get("experiment"))
    if special is not None:
        return special(data, config)
    from repdyn.figures import _plt
    plt = _plt()
    panels = _panels(data)
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{config['experiment']}: no rank/capacity/loss curves in the result",
                ha="center", va="center")
        return fig
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, (kw, items) in zip(axes[0], panels.items()):
        steps = False
        for i, (key, a, xs) in enumerate(items[:MAX_CURVES]):
            x = np.arange(a.shape[-1]) if xs is None else np.asarray(xs, float)
            steps = steps or xs is not None
            if a.ndim == 2:   # seeds x steps: mean and min-max band
                m = np.nanmean(a, axis=0)
                ax.fill_between(x, np.nanmin(a, axis=0), np.nanmax(a, axis=0), color=f"C{i}", alpha=0.2)
            else:
                m = a
            ax.plot(x, m, color=f"C{i}", label=key)
        ax.set_xlabel("training step" if steps else "index (target / phase, as recorded by the experiment)")
        ax.set_ylabel(kw)
        ax.set_title(f"{config['experiment']}: {kw}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _band(ax, x, a, color, label):
    """Mean over seeds (rows of ``a``) with a min-max band."""
    a = np.asarray(a, float)
    ax.fill_between(x, np.nanmin(a, axis=0), np.nanmax(a, axis=0), color=color, alpha=0.2)
    ax.plot(x, np.nanmean(a, axis=0), color=color, label=label)


def _plot_update_space(data, config):
    """E4 (C14): interference and the NTK's effective rank over training, TD vs MC, and the
    leading NTK eigenvalues (fractions of the trace) at the end, with seed bands."""
    from repdyn.figures import _plt
    plt = _plt()
    runs = data["per_seed"]
    steps = np.asarray(runs[0]["steps"], float)
    arms = (("td", "TD(0)", "C0"), ("mc", "MC regression", "C1"))
    fig, axes = plt.subplots(1, 3, figsize=(15.6, 4))
    for key, ax, ylabel in (("interference", axes[0], "interference  mean |K_ij| / K_jj"),
                            ("effective_rank", axes[1], "NTK effective rank")):
        for arm, label, col in arms:
            _band(ax, steps, [r[arm][key] for r in runs], col, label)
        ax.set_xlabel("training step (0 = untrained network)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    ax = axes[2]
    k = np.arange(1, len(runs[0]["td"]["spectrum"][0]) + 1)
    _band(ax, k, [r["td"]["spectrum"][0] for r in runs], "C7", "untrained")
    for arm, label, col in arms:
        _band(ax, k, [r[arm]["spectrum"][-1] for r in runs], col, f"{label}, end")
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("NTK eigenvalue / trace")
    ax.legend(fontsize=8)
    fig.suptitle("E4 (C14): the update-space view, TD vs MC (mean over seeds, min-max band)")
    fig.tight_layout()
    return fig


#: Experiments with a dedicated plot (the rest get the generic curve panels), and what it shows.
PLOTS = {"E4": _plot_update_space}
PLOT_NOTES = {"E4": "C14, the update-space view. Left: interference mean_{i != j} |K_ij| / K_jj of "
                    "the empirical NTK over the chain's states during TD(0) and during MC "
                    "regression onto V* from the same initial network (step 0); middle: the NTK's "
                    "effective rank; right: its 10 leading eigenvalues as fractions of the trace, "
                    "untrained and at the end. Mean over seeds with min-max bands."}


def _effects(d, path=()):
    """Yield (key path, effect dict) for every paired-effect summary (mean, ci, significant_*)."""
    if isinstance(d, dict):
        if "mean" in d and "ci" in d:
            yield "/".join(path), d
            return
        for k, v in d.items():
            yield from _effects(v, path + (str(k),))


def _caption(data, config):
    panels = _panels(data)
    desc = data.get("description") or data.get("claim") or ""
    eff = "; ".join(
        f"{k}: mean {e['mean']:.3g}, 95% CI [{e['ci'][0]:.3g}, {e['ci'][1]:.3g}]"
        + (" (CI above 0)" if e["ci"][0] > 0 else " (CI below 0)" if e["ci"][1] < 0 else " (CI contains 0)")
        for k, e in _effects(data.get("summary", {}))
        if isinstance(e.get("mean"), (int, float)) and isinstance(e.get("ci"), list) and len(e["ci"]) == 2
        and all(isinstance(c, (int, float)) for c in e["ci"]))
    if eff:
        desc = f"{desc} Effects over seeds: {eff}.".strip()
    if config.get("experiment") in PLOTS:
        return (f"Neural experiment {config['experiment']} from repdyn.proofs.experiments, "
                f"{config['seeds']} seed(s), {'quick' if config['quick'] else 'full'} configuration. "
                f"{desc} {PLOT_NOTES[config['experiment']]}")
    curves = "; ".join(f"{kw}: " + ", ".join(it[0] for it in items[:MAX_CURVES]) for kw, items in panels.items())
    return (f"Neural experiment {config['experiment']} (C10-C13) from repdyn.proofs.experiments, "
            f"{config['seeds']} seed(s), {'quick' if config['quick'] else 'full'} configuration. "
            f"{desc} Curves (mean over seeds with min-max band where the result holds one row per "
            f"seed): {curves or 'none found in the result'}.")


def _figure(name, fn, seeds, quick, out):
    config = {"v": FIG_VERSION, "experiment": name, "seeds": seeds, "quick": quick}

    def compute(c):
        store = Store(os.path.join(out, "experiments"))   # one store; records keyed per seed
        try:
            return fn(seeds=list(range(c["seeds"])), quick=c["quick"], progress=_progress_cb(name),
                      store=store)
        finally:
            store.close()

    title = ("Neural experiment E4: the update-space view (C14)" if name == "E4"
             else f"Neural experiment {name}: feature rank and capacity")
    return Figure(f"fig_neural_{name}", title,
                  config, compute, _plot, _caption)


def _progress_cb(name):
    def cb(*args, **kwargs):
        if len(args) == 2 and all(isinstance(a, (int, float)) for a in args):
            msg = f"{args[0]}/{args[1]} done"
        else:
            msg = " ".join(str(a) for a in args) + "".join(f" {k}={v}" for k, v in kwargs.items())
        print(f"  {name}: {msg}", file=sys.stderr, flush=True)
    return cb


def neural_figures(seeds: int, quick: bool, out: str):
    """(figures, note): one figure per experiment, or none and a note saying why.

    Examples
    --------
    Nothing runs until a figure is built (:func:`repdyn.figures.build`):

    >>> import tempfile
    >>> from repdyn.experiments import neural_figures
    >>> with tempfile.TemporaryDirectory() as d:
    ...     figs, note = neural_figures(1, True, d)
    >>> [f.name for f in figs], note
    (['fig_neural_E1', 'fig_neural_E2', 'fig_neural_E3', 'fig_neural_E4'], None)
    >>> figs[0].config["seeds"], figs[0].config["quick"]
    (1, True)
    """
    try:
        exps = load_experiments()
    except Exception as exc:
        return [], (f"Neural feature-rank and capacity curves (C10-C13): not produced, "
                    f"repdyn.proofs.experiments failed to import ({type(exc).__name__}: {exc}).")
    if exps is None:
        return [], ("Neural feature-rank and capacity curves (C10-C13): not produced, "
                    "repdyn.proofs.experiments is not built yet.")
    return [_figure(n, fn, seeds, quick, out) for n, fn in sorted(exps.items())], None


def run_experiment(name, fn, *, seeds, quick, out, log=None) -> dict:
    """Run one experiment (or reuse its stored result) and write its JSON, PNG and index.md.

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
    done = build(out, [_figure(name, fn, seeds, quick, out)], log=log)
    e = done[0]
    e["json"] = os.path.join(out, e["data"])
    e["png"] = os.path.join(out, e["png"])
    if e["status"] == "error" and log:
        log(e["caption"])
    return e
