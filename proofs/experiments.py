"""Experiments E1-E3 of issue 5 (docs: theory/c11-C13): seeded, resumable, JSON-serialisable.

Each experiment is a plain function ``fn(seeds=..., quick=..., progress=None, store=None) -> dict``
collected in :data:`EXPERIMENTS` (``seeds``: an iterable of ints, or an int n for range(n);
keyword overrides of the size configuration are recorded, and an unknown key raises
``ValueError`` naming it and the valid keys, :func:`resolve_config`):

* **E1** (C11, C12) — sequential regression on fixed inputs: fit T = 10 targets in turn and
  measure the capacity probe and the feature rank after each, without and with InFeR.
* **E2** (C13) — TD on a sparse-reward chain: zero reward for ``T0`` steps, then a reward
  at the right end; feature rank over training for no auxiliary task, ensemble heads, random
  cumulants and InFeR; how fast the main head fits the reward once it appears; the Grassmann
  distance of the top-k feature subspace to the EBFs/RSBFs of P.
* **E3** (C13) — InFeR and its ablations (H1 frozen initial features, H2 doubled width)
  against the baseline on the sparse-reward chain and on a dense-reward one (R ~ N(0, 1)).
* **E4** (C14) — the update-space view: the same network trained by TD(0) and by Monte Carlo
  regression to V* on the chain with digit-image observations; the empirical NTK over the
  states, its spectrum and the interference between states over training.

With a ``store`` (:class:`repdyn.store.Store`, the one resumable store of experiments and
sweeps; or any object with ``get(key)`` / ``put(key, record)``) every seed's result is saved as
soon as it finishes, keyed by experiment, size, seed and a hash of the configuration
(:func:`seed_key`); a rerun with the same store loads finished seeds instead of recomputing
them. ``progress(done, total)`` is called after each unit of work.
The returned dict holds the configuration, the per-seed results and a summary with paired
effect sizes and 95 % t-intervals over seeds (:func:`paired_effect`).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from repdyn.analysis.jsonable import to_jsonable
from scipy import stats

from repdyn.analysis.mdp import random_walk_chain
from repdyn.analysis.mdp import check_matrix
from repdyn.kernels.agent import DIGITS_SOURCE, AgentConfig, TDAgent, load_digits, observations
from repdyn.kernels.infer import InferConfig, build, infer_objective
from repdyn.kernels.nn import INIT_SCHEMES, Adam
from repdyn.kernels.probes import (TARGET_FAMILIES, capacity, dead_units, feature_rank, interference_matrix,
                                   interference_score, kernel_alignment, make_targets, ntk_gram,
                                   ntk_ranks)

__all__ = ["EXPERIMENTS", "e1_sequential_regression", "e2_sparse_td", "e3_ablations",
           "e4_update_space", "paired_effect", "E1_CONFIG", "E1_PAPER", "E2_CONFIG", "E3_CONFIG",
           "E4_CONFIG", "resolve_config"]

#: Confidence level of every interval reported.
CONFIDENCE = 0.95


def paired_effect(diffs, confidence: float = CONFIDENCE) -> dict:
    """Mean of paired differences over seeds with a two-sided Student-t interval.

    ``significant_positive`` is True when the whole interval lies above 0 (the effect is
    significant in the positive direction at level ``1 - confidence``);
    ``significant_nonzero`` when it excludes 0 on either side. With zero spread
    and a non-zero mean the interval collapses to the mean.

    Examples
    --------
    >>> from repdyn.proofs.experiments import paired_effect
    >>> e = paired_effect([1.0, 2.0, 3.0])      # mean 2, sd 1, t_{0.975, 2} = 4.303
    >>> e["mean"], e["sd"], e["n"], [round(c, 4) for c in e["ci"]]
    (2.0, 1.0, 3, [-0.4841, 4.4841])
    >>> e["significant_positive"], e["significant_nonzero"]
    (False, False)
    >>> paired_effect([0.9, 1.0, 1.1, 1.0])["significant_positive"]
    True
    >>> paired_effect([0.5])["ci"]               # one seed: no interval
    [nan, nan]
    """
    d = np.asarray(diffs, dtype=float)
    n = d.size
    m = float(d.mean()) if n else float("nan")
    if n < 2:
        return dict(mean=m, ci=[float("nan"), float("nan")], n=int(n), sd=float("nan"),
                    significant_positive=False, significant_nonzero=False)
    sd = float(d.std(ddof=1))
    h = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n))
    lo, hi = m - h, m + h
    return dict(mean=m, ci=[lo, hi], n=int(n), sd=sd, significant_positive=bool(lo > 0),
                significant_nonzero=bool(lo > 0 or hi < 0))


# ----------------------------------------------------------------------------- persistence


def _seed_list(seeds) -> list:
    """``seeds`` as a list of ints: an iterable of ints, or an int n meaning range(n)."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive count or a list of seeds, got {seeds!r}")
        return list(range(int(seeds)))
    try:
        out = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise ValueError(f"seeds must be an int or an iterable of ints, got {seeds!r}") from None
    if len(out) == 0:
        raise ValueError("seeds must contain at least one seed")
    return out


def seed_key(name: str, quick: bool, seed: int, config: dict) -> str:
    """Store key of one seed of experiment ``name``: it changes with anything that changes the
    result (configuration, size, seed)."""
    blob = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return f"{name}/{'quick' if quick else 'full'}/seed={seed}/{digest}"


def _run_seeds(name, seeds, quick, config, one_seed, progress, store):
    """Run ``one_seed(seed)`` for every seed; with a ``store`` (``get(key)`` / ``put(key, rec)``,
    e.g. :class:`repdyn.store.Store`) finished seeds are loaded, new ones saved as they finish."""
    seeds = _seed_list(seeds)
    cfg = to_jsonable(config)
    if store is not None and not (hasattr(store, "get") and hasattr(store, "put")):
        raise ValueError(f"store must have get(key) and put(key, record), got {type(store).__name__}")
    results = []
    for i, s in enumerate(seeds):
        key = seed_key(name, quick, s, cfg)
        stored = store.get(key) if store is not None else None
        if stored is not None and stored.get("config") == cfg:
            res = stored["result"]
        else:
            res = to_jsonable(one_seed(s))
            if store is not None:
                store.put(key, {"experiment": name, "seed": s, "quick": bool(quick),
                                "config": cfg, "result": res})
        results.append(res)
        if progress is not None:
            progress(i + 1, len(seeds))
    return cfg, results


# ------------------------------------------------------------------------- configuration


def resolve_config(name: str, defaults: dict, overrides: dict, optional=()) -> dict:
    """``defaults`` updated with ``overrides``; an unknown key is refused in one line.

    ``optional`` names keys that are valid overrides without a default entry (the experiment
    reads them with a fallback, so a configuration without them keeps its stored hash).

    Examples
    --------
    >>> from repdyn.proofs.experiments import resolve_config
    >>> resolve_config("E1", dict(width=64, lr=1e-3), dict(lr=3e-3))
    {'width': 64, 'lr': 0.003}
    >>> resolve_config("E1", dict(width=64, lr=1e-3), dict(widht=256))
    Traceback (most recent call last):
    ...
    ValueError: E1: unknown configuration key 'widht'; valid keys: lr, width
    """
    valid = set(defaults) | set(optional)
    unknown = sorted(k for k in overrides if k not in valid)
    if unknown:
        word = "key" if len(unknown) == 1 else "keys"
        raise ValueError(f"{name}: unknown configuration {word} {', '.join(repr(k) for k in unknown)}; "
                         f"valid keys: {', '.join(sorted(valid))}")
    cfg = dict(defaults)
    cfg.update(overrides)
    return cfg


# ------------------------------------------------------------------------------ inputs


def _inputs(n, rng, X=None, labels=None):
    """Regression inputs ``(X, labels, source)``: ``n`` rows drawn without replacement from the
    shipped digits (:func:`kernels.agent.load_digits`, pixels in [0, 1]) or, when ``X`` is given,
    all of its rows (``labels`` optional, one per row; default: zeros). No fallback."""
    if X is None:
        if labels is not None:
            raise ValueError("labels were given without X; pass both or neither")
        images, lab = load_digits()
        if not (1 <= n <= images.shape[0]):
            raise ValueError(f"n must be in [1, {images.shape[0]}] for the digits, got {n!r}")
        idx = rng.choice(images.shape[0], size=n, replace=False)
        return images[idx], lab[idx].astype(float), DIGITS_SOURCE
    X = check_matrix(X, "X")
    if X.shape[0] < 2:
        raise ValueError(f"X must have at least 2 rows, got shape {X.shape}")
    if labels is None:
        y = np.zeros(X.shape[0])
    else:
        y = np.asarray(labels, dtype=float)
        if y.shape != (X.shape[0],) or not np.all(np.isfinite(y)):
            raise ValueError(f"labels must be {X.shape[0]} finite numbers (one per row of X)")
    digest = hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest()[:12]
    return X, y, f"user-{X.shape[0]}x{X.shape[1]}-{digest}"


# ----------------------------------------------------------------------------------- E1

#: E1 capacity is summarised over the last this-many measurements (see E1's docstring).
LATE_WINDOW = 3

#: Probe families of E1 (independent of the training family): low-frequency and high-frequency.
E1_PROBE_FAMILIES = ("smooth", "high-frequency")

#: E1 sizes (default and ``quick``). Targets are standardised (mean 0, variance 1, no offset), so
#: a capacity error of 1 is chance (the best constant) for every family. Chosen on development
#: seeds 0-4 only, with the rule fixed before looking: both families' C11 interval above 0, no
#: dead network, and a fresh network clear of chance on the high-frequency family. Sweep
#: (digits, n = 512, hidden (64, 64), He init, 10 x 1000 steps, 3 probe targets x 300 steps;
#: C11 = C_late - C_0, mean [95 % CI], benchmarks/results/e1_defaults_sweep.json):
#:
#: ======  ===========================  ======================  ========================  ======
#: lr      high-frequency family        smooth                  high-frequency            C_0 hf
#: ======  ===========================  ======================  ========================  ======
#: 1e-3    natural phase, frequency 10  0.060 [0.026, 0.094]    0.028 [-0.067, 0.122]     0.39
#: 1e-3    standardised phase, freq 5   0.064 [0.044, 0.084]    -0.072 [-0.136, -0.007]   0.64
#: 3e-3    natural phase, frequency 10  0.084 [0.041, 0.126]    0.084 [0.056, 0.112]      0.18
#: 3e-3    standardised phase, freq 5   0.149 [0.058, 0.240]    0.137 [-0.093, 0.367]     0.35
#: 3e-3    standardised phase, freq 3   0.125 [0.078, 0.171]    0.139 [-0.057, 0.334]     0.27
#: ======  ===========================  ======================  ========================  ======
#:
#: Only lr 3e-3 with the natural phase at frequency 10 meets the rule (no dead network in any
#: row); at lr 1e-3 training on the family teaches the network the family (the high-frequency
#: capacity error falls with the standardised phase). The old frequency 1e5 makes the targets a
#: hash of the input, on which a fresh network is near chance and cannot get worse.
E1_CONFIG = {
    False: dict(n=512, hidden=(64, 64), T=10, steps=1000, batch=64, lr=3e-3, init="he",
                family="high-frequency", probe_families=E1_PROBE_FAMILIES, frequency=10.0,
                phase="natural", target_width=30, target_depth=2, standardise=True, probe_targets=3,
                probe_steps=300, probe_lr=3e-3, probe_dtype="float64",
                infer=dict(k=10, beta=10.0, alpha=0.1)),
    True: dict(n=128, hidden=(32, 32), T=10, steps=200, batch=64, lr=3e-3, init="he",
               family="high-frequency", probe_families=E1_PROBE_FAMILIES, frequency=10.0,
               phase="natural", target_width=30, target_depth=2, standardise=True, probe_targets=2,
               probe_steps=80, probe_lr=3e-3, probe_dtype="float64",
               infer=dict(k=10, beta=10.0, alpha=0.1)),
}

#: The paper-scale E1: the capacity protocol the issue ran against PyTorch (Lyle et al. ICLR
#: 2022): all 1797 digits, 64 -> 256 -> 256, Adam 1e-3 (training and probes), batch 128, ten
#: sequential high-frequency targets of 2,000 steps; probes of 1,000 steps. ~86,000 Adam steps
#: per learner at 16x the default's cost per step: one seed (both learners) took 23 min on the
#: shared 2-core development machine, against ~20 s for the default; ``config="paper"``, never
#: the default.
E1_PAPER = dict(E1_CONFIG[False], n=1797, hidden=(256, 256), steps=2000, batch=128, lr=1e-3,
                probe_lr=1e-3, probe_steps=1000, probe_targets=3)

_E1_NAMED = {"paper": E1_PAPER}


def _check_e1(cfg):
    """Validate the E1 configuration values that the kernels would not name themselves."""
    fams = cfg["probe_families"]
    if isinstance(fams, str) or not fams or any(f not in TARGET_FAMILIES for f in fams):
        raise ValueError(f"probe_families must be a non-empty tuple of {TARGET_FAMILIES}, got {fams!r}")
    if cfg["family"] not in TARGET_FAMILIES:
        raise ValueError(f"family must be one of {TARGET_FAMILIES}, got {cfg['family']!r}")
    if cfg["probe_dtype"] not in ("float64", "float32"):
        raise ValueError(f"probe_dtype must be 'float64' or 'float32', got {cfg['probe_dtype']!r}")
    if cfg["init"] not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES}, got {cfg['init']!r}")
    for k in ("T", "steps", "batch", "probe_targets", "probe_steps"):
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{k} must be a positive integer, got {v!r}")
    if not isinstance(cfg["infer"], dict):
        raise ValueError(f"infer must be a dict of InferConfig fields (k, beta, alpha), got {cfg['infer']!r}")
    InferConfig(**cfg["infer"])


def e1_sequential_regression(seeds=range(5), quick=False, progress=None, store=None, *, config=None,
                             X=None, labels=None, **overrides) -> dict:
    """E1 (C11, C12): capacity and feature rank over a sequence of T regression targets.

    For each seed and each variant (``"none"``, ``"infer"``): inputs ``X`` (``n`` rows of the
    shipped digits, or the ``X`` passed in) and a network ``d_in -> hidden -> 1 (+ k InFeR
    heads)`` initialised by ``init``; for t = 0..T measure, for every family of
    ``probe_families``, the capacity probe (mean final MSE over ``probe_targets`` fresh
    targets of that family, ``probe_steps`` Adam steps at ``probe_lr`` from the current
    parameters, InFeR off during the probe; in float32 when ``probe_dtype="float32"``, every
    other quantity in float64), the feature rank of ``phi(X)`` and whether the
    network is dead (some ReLU layer inactive on every input, :func:`kernels.probes.dead_units`);
    between measurements train ``steps`` Adam steps on the next target of ``family`` (with the
    InFeR loss for ``"infer"``). Every target is drawn by :func:`kernels.probes.make_targets`
    from a random target network of its own size (``target_width``, ``target_depth``) and,
    with ``standardise``, has mean 0 and variance 1 over ``X`` (capacity 1 = chance). Targets
    and probe targets are the same for both variants of a seed.

    With ``C_late`` the mean capacity error of the last ``LATE_WINDOW`` = 3 measurements
    (t = T-2..T; averaging three probe stages damps the probe's per-target noise), the summary
    effects (paired over seeds, per probe family ``f``) are
    ``c11_capacity_loss[f] = C_late - C_0`` (none; > 0 predicted),
    ``c12_capacity_gain[f] = C_late(none) - C_late(infer)`` (> 0 predicted), and
    ``c12_rank_gain = rank_T(infer) - rank_T(none)`` (> 0 predicted). A seed whose network
    is dead at some measurement is listed in ``dead_seeds`` and left out of every effect that
    reads that variant (``n`` of each effect counts the seeds used): a dead network is a
    different phenomenon from gradual capacity loss and is never averaged in silently.

    Parameters
    ----------
    seeds : iterable of int or int
    quick : bool
        Smaller sizes (:data:`E1_CONFIG` ``[True]``).
    progress, store :
        See the module docstring.
    config : {None, "paper"}
        A named configuration instead of the default/quick sizes: ``"paper"`` is
        :data:`E1_PAPER` (width 256, 2,000 steps per target).
    X : array_like, shape (n, d_in), optional
        Inputs to use instead of the digits (every row is used; ``n`` is set to its rows).
    labels : array_like, shape (n,), optional
        Labels of ``X`` (only the ``"permuted-labels"`` family reads them).
    **overrides
        Keys of :data:`E1_CONFIG`; any other key raises ``ValueError`` naming it.

    Returns
    -------
    dict
        ``experiment, seeds, quick, config, per_seed, summary`` (JSON-serialisable; the keys
        are listed in docs: architecture, experiment records).

    Raises
    ------
    ValueError
        On an unknown configuration key or named configuration, or bad values.

    Notes
    -----
    Cost per seed and variant: ``T * steps + (T + 1) * len(probe_families) * probe_targets *
    probe_steps`` Adam steps of batch ``batch`` (the default: 10,000 + 19,800).

    Defaults (chosen on development seeds 0-4 by a rule fixed in advance; the verdicts use
    other seeds; the sweep is tabulated at :data:`E1_CONFIG`): Adam lr 3e-3 (training and
    probe), He init, standardised targets, high-frequency family at frequency 10 on the
    natural phase. At the old frequency 1e5 the targets are a hash of the input and a fresh
    network is near chance on them (it cannot get worse); at 10 a fresh network reaches
    C_0 ~ 0.2.

    Examples
    --------
    One seed at a tiny size (keyword overrides of :data:`E1_CONFIG`, recorded in the result);
    a rerun with the same store loads the finished seed instead of recomputing it:

    >>> import tempfile
    >>> from repdyn.proofs.experiments import e1_sequential_regression
    >>> from repdyn.store import Store
    >>> tiny = dict(n=32, hidden=(8,), T=2, steps=10, probe_targets=1, probe_steps=5)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = Store(d)
    ...     r = e1_sequential_regression(seeds=[0], quick=True, store=store, **tiny)
    ...     again = e1_sequential_regression(seeds=[0], quick=True, store=store, **tiny)
    ...     n_records = len(store.finished_keys())
    ...     store.close()
    >>> r["config"]["T"], len(r["per_seed"][0]["none"]["rank"])     # T + 1 measurements
    (2, 3)
    >>> sorted(r["per_seed"][0]), sorted(r["per_seed"][0]["none"]["capacity"])
    (['infer', 'none'], ['high-frequency', 'smooth'])
    >>> r["summary"]["c12_rank_gain"]["n"], r["summary"]["inputs"]
    (1, 'uci-digits-8x8')
    >>> n_records, again["per_seed"] == r["per_seed"]
    (1, True)
    >>> e1_sequential_regression(seeds=[0], quick=True, widht=256)
    Traceback (most recent call last):
    ...
    ValueError: E1: unknown configuration key 'widht'; valid keys: T, batch, family, frequency, hidden, infer, init, lr, n, phase, probe_dtype, probe_families, probe_lr, probe_steps, probe_targets, standardise, steps, target_depth, target_width
    """
    if config is None:
        base = E1_CONFIG[bool(quick)]
    elif config in _E1_NAMED:
        base = _E1_NAMED[config]
    else:
        raise ValueError(f"config must be None or one of {sorted(_E1_NAMED)}, got {config!r}")
    cfg = resolve_config("E1", base, overrides)
    cfg["probe_families"] = tuple(cfg["probe_families"]) if not isinstance(cfg["probe_families"], str) \
        else cfg["probe_families"]
    _check_e1(cfg)
    if config is not None:
        cfg["name"] = config
    icfg = InferConfig(**cfg["infer"])
    if X is not None:
        X0, y0, source0 = _inputs(None, None, X, labels)
        cfg["n"] = X0.shape[0]
        cfg["inputs"] = source0
    elif labels is not None:
        raise ValueError("labels were given without X; pass both or neither")
    fams = cfg["probe_families"]
    tkw = dict(frequency=cfg["frequency"], phase=cfg["phase"], width=cfg["target_width"], depth=cfg["target_depth"],
               standardise=bool(cfg["standardise"]) if cfg["standardise"] else None)

    def one_seed(seed):
        res = {}
        for v in ("none", "infer"):
            if X is None:
                Xs, y, source = _inputs(cfg["n"], np.random.default_rng([seed, 1]))
            else:
                Xs, y, source = X0, y0, source0
            trng = np.random.default_rng([seed, 2])     # targets: same for both variants
            net, cols = build(v, Xs.shape[1], cfg["hidden"], 1, np.random.default_rng([seed, 3]), cfg=icfg,
                              init=cfg["init"])
            Y, cw = infer_objective(net, Xs, cols, icfg)
            opt = Adam(cfg["lr"])
            caps = {f: [] for f in fams}
            ranks, train_mse, dead, dead_frac = [], [], [], []
            for t in range(cfg["T"] + 1):
                for j, fam in enumerate(fams):
                    prng = np.random.default_rng([seed, 4, t, j])
                    P = make_targets(Xs, fam, cfg["probe_targets"], prng, labels=y, **tkw)
                    caps[fam].append(capacity(net, Xs, P, n_steps=cfg["probe_steps"], batch_size=cfg["batch"],
                                              lr=cfg["probe_lr"], rng=prng, dtype=cfg["probe_dtype"]))
                ranks.append(feature_rank(net.features(Xs)))
                du = dead_units(net, Xs)
                dead_frac.append(du)
                dead.append(bool(any(u == 1.0 for u in du)))
                if t == cfg["T"]:
                    break
                f = make_targets(Xs, cfg["family"], 1, trng, labels=y, **tkw)[0]
                Y[:, 0] = f
                net.fit(Xs, Y, cw, opt, cfg["steps"], cfg["batch"], trng)
                train_mse.append(float(np.mean((net.forward(Xs)[:, 0] - f) ** 2)))
            res[v] = dict(capacity=caps, rank=ranks, train_mse=train_mse, dead=dead,
                          dead_units=dead_frac, inputs=source)
        return res

    conf, results = _run_seeds("E1", seeds, quick, cfg, one_seed, progress, store)
    seed_list = _seed_list(seeds)
    return to_jsonable(dict(experiment="E1", seeds=seed_list, quick=bool(quick), config=conf,
                            per_seed=results, summary=_e1_summary(results, seed_list, cfg)))


def _e1_summary(results, seed_list, cfg):
    """Paired effects per probe family over the seeds whose networks stayed alive."""
    V = ("none", "infer")
    fams = list(results[0]["none"]["capacity"])
    alive = {v: np.array([not any(r[v]["dead"]) for r in results]) for v in V}
    both = alive["none"] & alive["infer"]
    cap = {f: {v: np.array([r[v]["capacity"][f] for r in results]) for v in V} for f in fams}
    rank = {v: np.array([r[v]["rank"] for r in results], dtype=float) for v in V}
    w = min(LATE_WINDOW, cfg["T"])
    late = {f: {v: cap[f][v][:, -w:].mean(axis=1) for v in V} for f in fams}

    def curves(a, m):
        return a[m].mean(0) if m.any() else np.full(a.shape[1], np.nan)

    def sds(a, m):
        return a[m].std(0, ddof=1) if m.sum() > 1 else np.full(a.shape[1], np.nan)

    return dict(
        probe_families=fams,
        capacity_mean={f: {v: curves(cap[f][v], alive[v]) for v in V} for f in fams},
        capacity_sd={f: {v: sds(cap[f][v], alive[v]) for v in V} for f in fams},
        rank_mean={v: curves(rank[v], alive[v]) for v in V},
        rank_sd={v: sds(rank[v], alive[v]) for v in V},
        capacity_initial_mean={f: float(cap[f]["none"][:, 0].mean()) for f in fams},
        c11_capacity_loss={f: paired_effect((late[f]["none"] - cap[f]["none"][:, 0])[alive["none"]])
                           for f in fams},
        c12_capacity_gain={f: paired_effect((late[f]["none"] - late[f]["infer"])[both]) for f in fams},
        c12_rank_gain=paired_effect((rank["infer"][:, -1] - rank["none"][:, -1])[both]),
        late_window=w,
        dead_seeds={v: [s for s, a in zip(seed_list, alive[v]) if not a] for v in V},
        n_alive={v: int(alive[v].sum()) for v in V},
        inputs=results[0]["none"]["inputs"],
    )


# ----------------------------------------------------------------------------------- E2

#: E2/E3 MDP and agent sizes (a 40-state random-walk chain, gamma = 0.9, random-projection
#: observations of dimension 32; sparse reward 1 in the right-end state). ``p_right`` (an
#: override, default 0.5) makes the chain non-symmetric, so that EBFs and RSBFs differ.
#: The defaults were re-checked on the development seeds 0-4 against Adam lr 1e-3 / 3e-3, hidden
#: (32, 32) / (64, 64) and random / digit observations, by a rule fixed in advance that reads none
#: of C13's effects (no dead network; the baseline learns: dense-reward value error <= 0.5;
#: initial feature rank >= half the width): all eight settings are admissible, so the default
#: was kept (benchmarks/e23_defaults_sweep.py; results/e23_defaults_sweep.json).
E2_CONFIG = {
    False: dict(n=40, gamma=0.9, obs="random", obs_dim=32, hidden=(32, 32), lr=3e-3, batch=32,
                target_update=50, T0=4000, T1=4000, log_every=500, k=5, n_aux=10,
                aux=("none", "ensemble", "cumulants", "infer"), infer=dict(k=10, beta=100.0, alpha=0.1)),
    True: dict(n=30, gamma=0.9, obs="random", obs_dim=16, hidden=(16, 16), lr=3e-3, batch=32,
               target_update=50, T0=1000, T1=500, log_every=250, k=5, n_aux=10,
               aux=("none", "ensemble", "cumulants", "infer"), infer=dict(k=10, beta=100.0, alpha=0.1)),
}


def _agent(cfg, seed, P, R0, aux="none", variant="base"):
    obs = observations(P.shape[0], cfg["obs"], np.random.default_rng([seed, 5]), dim=cfg["obs_dim"])
    ac = AgentConfig(hidden=tuple(cfg["hidden"]), aux=aux, n_aux=cfg["n_aux"], variant=variant,
                     infer=InferConfig(**cfg["infer"]), lr=cfg["lr"], batch_size=cfg["batch"],
                     target_update=cfg["target_update"], log_every=cfg["log_every"],
                     k_subspace=cfg["k"], h1_features=cfg.get("h1_features"))
    return TDAgent(P, R0, cfg["gamma"], obs, ac, np.random.default_rng([seed, 6]))


def _sparse(n):
    R = np.zeros(n)
    R[-1] = 1.0
    return R


def e2_sparse_td(seeds=range(5), quick=False, progress=None, store=None, **overrides) -> dict:
    """E2 (C13): feature rank under TD with zero reward, then fitting a late reward.

    Per seed and auxiliary task: ``T0`` TD steps with R = 0, then ``T1`` with the sparse
    reward. Logged: feature rank, feature norm, value error, distances to EBFs/RSBFs.
    Summary (paired over seeds): ``rank_drop_ensemble = rank_0 - rank_T0`` (> 0 predicted),
    ``rank_gain_<aux> = rank_T0(aux) - rank_T0(ensemble)`` for cumulants and InFeR (> 0
    predicted); ``late_error_<aux>`` the mean normalised value error over the reward phase
    (lower = fits the late reward faster); ``ebf_approach_<aux> = d(0) - d(T0)`` with
    ``d`` the Grassmann distance between the top-k left singular subspace of the n x d
    features and the top-k EBFs (> 0: the features moved towards the EBFs; likewise
    ``rsbf_approach_<aux>``), and ``ebf_gap_<aux> = random baseline - d(T0)`` (> 0: closer to
    the EBFs than a random k-subspace).

    Examples
    --------
    One seed, two auxiliary tasks, a tiny chain (keyword overrides of :data:`E2_CONFIG`):

    >>> from repdyn.proofs.experiments import e2_sparse_td
    >>> r = e2_sparse_td(seeds=[0], quick=True, n=8, hidden=(8,), obs_dim=8, T0=100, T1=100,
    ...                  log_every=50, k=2, n_aux=2, aux=("none", "ensemble"))
    >>> r["summary"]["steps"]                   # logged every 50 steps over T0 + T1
    [0, 50, 100, 150, 200]
    >>> sorted(r["per_seed"][0]), r["per_seed"][0]["none"]["phase1_logs"]
    (['ensemble', 'none'], 3)
    >>> r["summary"]["rank_drop_ensemble"]["n"]
    1
    """
    cfg = resolve_config("E2", E2_CONFIG[bool(quick)], overrides, optional=("p_right", "h1_features"))

    def one_seed(seed):
        P = random_walk_chain(cfg["n"], cfg.get("p_right", 0.5))
        res = {}
        for aux in cfg["aux"]:
            ag = _agent(cfg, seed, P, np.zeros(cfg["n"]), aux)
            ag.train(cfg["T0"])
            n0 = len(ag.log["step"])
            ag.train(cfg["T1"], R=_sparse(cfg["n"]))
            log = {k: list(v) for k, v in ag.log.items()}
            res[aux] = dict(log=log, phase1_logs=n0, random_baseline=ag.random_baseline)
        return res

    conf, results = _run_seeds("E2", seeds, quick, cfg, one_seed, progress, store)
    summary = _td_summary(results, cfg["aux"], "ensemble", _seed_list(seeds))
    return to_jsonable(dict(experiment="E2", seeds=_seed_list(seeds), quick=bool(quick),
                          config=conf, per_seed=results, summary=summary))


def _td_summary(results, names, ref, seeds=None):
    """Paired effects over seeds for rank at the end of phase 1 and errors in phase 2; the seeds
    whose network was dead at some log row (reported, not left out: under TD with R = 0 dying
    features are part of what is measured)."""
    def at(r, a, key, i):
        v = r[a]["log"][key][i]
        return np.nan if v is None else v          # NaN is stored as null in JSON

    s = {}
    seeds = list(range(len(results))) if seeds is None else list(seeds)
    s["dead_seeds"] = {a: [sd for sd, r in zip(seeds, results) if any(r[a]["log"].get("dead", []))]
                       for a in names}
    i0 = [r[names[0]]["phase1_logs"] - 1 for r in results]
    rank0 = {a: np.array([at(r, a, "rank", 0) for r in results]) for a in names}
    rankT = {a: np.array([at(r, a, "rank", i) for r, i in zip(results, i0)]) for a in names}
    late = {a: np.array([np.mean(r[a]["log"]["value_error"][i + 1:]) if len(r[a]["log"]["value_error"]) > i + 1
                         else np.nan for r, i in zip(results, i0)]) for a in names}
    final = {a: np.array([r[a]["log"]["value_error"][-1] for r in results]) for a in names}
    debf = {a: np.array([at(r, a, "d_ebf", i) for r, i in zip(results, i0)]) for a in names}
    base = {a: np.array([r[a]["random_baseline"] for r in results]) for a in names}
    s["rank_initial_mean"] = {a: float(rank0[a].mean()) for a in names}
    s["rank_end_phase1_mean"] = {a: float(rankT[a].mean()) for a in names}
    s["late_error_mean"] = {a: float(np.nanmean(late[a])) for a in names}
    s["final_error_mean"] = {a: float(final[a].mean()) for a in names}
    s["d_ebf_end_phase1_mean"] = {a: float(debf[a].mean()) for a in names}
    s["random_subspace_distance"] = float(np.mean(base[names[0]]))
    if ref in names:
        s["rank_drop_" + ref] = paired_effect(rank0[ref] - rankT[ref])
        for a in names:
            if a != ref:
                s["rank_gain_" + a] = paired_effect(rankT[a] - rankT[ref])
    drs0 = {a: np.array([at(r, a, "d_rsbf", 0) for r in results]) for a in names}
    drs = {a: np.array([at(r, a, "d_rsbf", i) for r, i in zip(results, i0)]) for a in names}
    s["d_rsbf_end_phase1_mean"] = {a: float(drs[a].mean()) for a in names}
    debf0 = {a: np.array([at(r, a, "d_ebf", 0) for r in results]) for a in names}
    s["d_ebf_initial_mean"] = {a: float(debf0[a].mean()) for a in names}
    for a in names:
        s["ebf_gap_" + a] = paired_effect(base[a] - debf[a])
        s["ebf_approach_" + a] = paired_effect(debf0[a] - debf[a])
        s["rsbf_approach_" + a] = paired_effect(drs0[a] - drs[a])
        s["rank_curve_" + a] = np.mean([r[a]["log"]["rank"] for r in results], axis=0)
        s["error_curve_" + a] = np.mean([r[a]["log"]["value_error"] for r in results], axis=0)
    if all("srank" in r[a]["log"] for r in results for a in names):
        # scale check: rho counts singular values above an absolute eps, so features that grow
        # (InFeR, beta > 1) or shrink (ensemble, R = 0) move it; srank and the norm do not
        srT = {a: np.array([at(r, a, "srank", i) for r, i in zip(results, i0)]) for a in names}
        s["srank_end_phase1_mean"] = {a: float(srT[a].mean()) for a in names}
        s["norm_ratio_end_phase1_mean"] = {
            a: float(np.mean([at(r, a, "feature_norm", i) / at(r, a, "feature_norm", 0)
                              for r, i in zip(results, i0)])) for a in names}
        if ref in names:
            s["srank_ref"] = ref
            for a in names:
                if a != ref:
                    s["srank_gain_" + a] = paired_effect(srT[a] - srT[ref])
    s["steps"] = results[0][names[0]]["log"]["step"]
    return s


# ----------------------------------------------------------------------------------- E3

E3_CONFIG = {
    False: dict(E2_CONFIG[False], variants=("none", "infer", "h1", "h2"), T_dense=4000, h1_features=10),
    True: dict(E2_CONFIG[True], variants=("none", "infer", "h1", "h2"), T_dense=1000, h1_features=10),
}
for _c in E3_CONFIG.values():
    _c.pop("aux")


def e3_ablations(seeds=range(5), quick=False, progress=None, store=None, **overrides) -> dict:
    """E3 (C13): InFeR, its ablations H1/H2 and the baseline on sparse and dense rewards.

    Sparse: as E2 (R = 0 for T0 steps, then the sparse reward for T1); metric: mean value
    error over the reward phase. Dense: R ~ N(0, 1) at every state from the start, T_dense
    steps; metric: mean value error over training (area under the error curve) and final.
    Summary (paired over seeds): ``infer_gain_sparse = err(none) - err(infer)``,
    ``h1_vs_infer_sparse = err(h1) - err(infer)`` (> 0: H1 does not reproduce InFeR),
    ``infer_cost_dense = err(infer) - err(none)`` (> 0: InFeR costs accuracy),
    ``h2_recovery_dense = err(infer) - err(h2)``, the fraction of InFeR's cost that H2 removes
    (ratio of means) and ``h2_removes_half_dense = rec - cost / 2`` per seed (> 0: H2 removes more
    than half of InFeR's cost, with a paired interval).

    Examples
    --------
    One seed at a tiny size (keyword overrides of :data:`E3_CONFIG`):

    >>> from repdyn.proofs.experiments import e3_ablations
    >>> r = e3_ablations(seeds=[0], quick=True, n=8, hidden=(8,), obs_dim=8, T0=100, T1=100,
    ...                  T_dense=100, log_every=50, k=2, n_aux=2, h1_features=2,
    ...                  infer=dict(k=2, beta=100.0, alpha=0.1))
    >>> sorted(r["per_seed"][0]["dense"])
    ['h1', 'h2', 'infer', 'none']
    >>> r["summary"]["sparse"]["steps"], r["summary"]["infer_gain_sparse"]["n"]
    ([0, 50, 100, 150, 200], 1)
    """
    cfg = resolve_config("E3", E3_CONFIG[bool(quick)], overrides, optional=("p_right",))

    def one_seed(seed):
        P = random_walk_chain(cfg["n"], cfg.get("p_right", 0.5))
        Rd = np.random.default_rng([seed, 7]).standard_normal(cfg["n"])
        res = {"sparse": {}, "dense": {}}
        for v in cfg["variants"]:
            aux = "infer" if v in ("infer", "h2") else "none"
            variant = {"none": "base", "infer": "base", "h1": "h1", "h2": "h2"}[v]
            ag = _agent(cfg, seed, P, np.zeros(cfg["n"]), aux, variant)
            ag.train(cfg["T0"])
            n0 = len(ag.log["step"])
            ag.train(cfg["T1"], R=_sparse(cfg["n"]))
            res["sparse"][v] = dict(log={k: list(x) for k, x in ag.log.items()}, phase1_logs=n0,
                                    random_baseline=ag.random_baseline)
            ag = _agent(cfg, seed, P, Rd, aux, variant)
            ag.train(cfg["T_dense"])
            err = ag.log["value_error"]
            res["dense"][v] = dict(log={k: list(x) for k, x in ag.log.items()},
                                   auc=float(np.mean(err[1:])), final=float(err[-1]))
        return res

    conf, results = _run_seeds("E3", seeds, quick, cfg, one_seed, progress, store)
    V = cfg["variants"]
    sp = _td_summary([r["sparse"] for r in results], V, "none", _seed_list(seeds))
    late = {v: np.array([np.mean(r["sparse"][v]["log"]["value_error"][r["sparse"][v]["phase1_logs"]:])
                         for r in results]) for v in V}
    dense = {v: np.array([r["dense"][v]["auc"] for r in results]) for v in V}
    cost = dense["infer"] - dense["none"]
    rec = dense["infer"] - dense["h2"]
    summary = dict(
        sparse=sp,
        dense_dead_seeds={v: [sd for sd, r in zip(_seed_list(seeds), results)
                              if any(r["dense"][v]["log"].get("dead", []))] for v in V},
        dense_error_mean={v: float(dense[v].mean()) for v in V},
        dense_final_mean={v: float(np.mean([r["dense"][v]["final"] for r in results])) for v in V},
        infer_gain_sparse=paired_effect(late["none"] - late["infer"]),
        h1_vs_infer_sparse=paired_effect(late["h1"] - late["infer"]),
        h1_gain_sparse=paired_effect(late["none"] - late["h1"]),
        infer_cost_dense=paired_effect(cost),
        h2_recovery_dense=paired_effect(rec),
        h2_cost_dense=paired_effect(dense["h2"] - dense["none"]),
        h2_fraction_of_cost_removed=float(rec.mean() / cost.mean()) if cost.mean() != 0 else float("nan"),
        h2_removes_half_dense=paired_effect(rec - 0.5 * cost),
    )
    return to_jsonable(dict(experiment="E3", seeds=_seed_list(seeds), quick=bool(quick),
                          config=conf, per_seed=results, summary=summary))


# ----------------------------------------------------------------------------------- E4

#: E4 sizes, fixed before any run (not tuned on outcomes): E2's chain (random walk, gamma =
#: 0.9, sparse reward 1 at the right end) with digit-image observations (the issue's set-up;
#: E2 itself uses random projections), E2's optimiser (Adam 3e-3, batch 32, target network
#: every 50 steps), TD(0) and MC regression for the same number of steps from the same
#: initial network. ``n_spectrum``: leading NTK eigenvalues kept per log.
E4_CONFIG = {
    False: dict(n=40, gamma=0.9, obs="digits", hidden=(32, 32), lr=3e-3, batch=32,
                target_update=50, T=4000, log_every=500, k=5, n_spectrum=10),
    True: dict(n=20, gamma=0.9, obs="digits", hidden=(16, 16), lr=3e-3, batch=32,
               target_update=50, T=600, log_every=200, k=5, n_spectrum=10),
}
#: Arms of E4: the network trained by TD(0) and by MC regression (step 0 is the untrained one).
E4_ARMS = ("td", "mc")


def _digit_observations(n, rng):
    """State s shows an 8x8 digit image of class ``s mod 10`` (the shipped digits, pixels in
    [0, 1]; :func:`kernels.agent.observations`). Returns ``(obs (n, 64), source)``."""
    return observations(n, "digits", rng), DIGITS_SOURCE


def _update_space_row(net, obs, P, gamma, Vstar, k, n_spec):
    """NTK probes over all states: interference (mean |off-diagonal| and signed mean of the
    column-normalised Gram), spectrum (leading eigenvalues as fractions of the trace), effective
    rank, value error and alignment of the top-k eigenvectors with the EBFs and RSBFs."""
    from repdyn.analysis.errors import UndefinedSubspaceError
    K = ntk_gram(net, obs)
    sc = interference_score(interference_matrix(K))
    r = ntk_ranks(K)
    spec = np.asarray(r["spectrum"])
    tot = spec.sum()
    V = net.forward(obs)[:, 0]
    try:
        al = kernel_alignment(K, P, gamma, k)
    except UndefinedSubspaceError:
        al = dict(ebf=float("nan"), rsbf=float("nan"))
    d = np.sqrt(np.diag(K))
    off = ~np.eye(K.shape[0], dtype=bool)
    cosine = float(np.abs(K / np.outer(d, d))[off].mean())     # the normalisation-free variant
    return dict(interference=sc["mean_abs_offdiag"], interference_signed=sc["mean_offdiag"],
                interference_cosine=cosine,
                effective_rank=r["effective_rank"], ntk_rank=r["rank"],
                ntk_trace=float(np.trace(K)) / K.shape[0],
                spectrum=(spec[:n_spec] / tot if tot > 0 else spec[:n_spec]).tolist(),
                value_error=float(np.linalg.norm(V - Vstar) / np.linalg.norm(Vstar)),
                d_ebf=al["ebf"], d_rsbf=al["rsbf"])


def e4_update_space(seeds=range(5), quick=False, progress=None, store=None, **overrides) -> dict:
    """E4 (C14): does TD training lower interference between states?

    Per seed: E2's chain (``n`` states, sparse reward at the right end, gamma) with digit-image
    observations (state s shows an image of class s mod 10), one initial network
    ``64 -> hidden -> 1``; arm ``"td"`` trains it by semi-gradient TD(0) with a target network
    (:class:`kernels.agent.TDAgent`), arm ``"mc"`` by regression of the value head onto
    ``V* = (I - gamma P)^{-1} R`` (Monte Carlo regression to the same values, noiseless), both
    with Adam, the same batch size and ``T`` steps. Every ``log_every`` steps: the empirical NTK
    Gram over the n observations (:func:`kernels.probes.ntk_gram`) and from it the interference
    ``mean_{i != j} |K_ij| / K_jj`` (how much a small update on state j moves state i, in units
    of its own move), the signed mean, the spectrum, effective rank, value error and the
    distances of the top-k eigenvectors to the EBFs/RSBFs; also the gradient cosines
    ``mean_{i != j} |K_ij| / sqrt(K_ii K_jj)`` (the other common normalisation).

    Summary (paired over seeds, at the end of training): ``td_vs_mc = I(mc) - I(td)`` and
    ``td_vs_init = I(init) - I(td)`` (> 0: TD lowers interference), plus the same for the signed
    mean, the cosine variant and the effective rank (reported, not judged) and the value errors.

    Examples
    --------
    One seed at a tiny size (keyword overrides of :data:`E4_CONFIG`):

    >>> from repdyn.proofs.experiments import e4_update_space
    >>> r = e4_update_space(seeds=[0], quick=True, n=10, hidden=(8,), T=100, log_every=50, k=2,
    ...                     n_spectrum=3)
    >>> r["summary"]["steps"]                   # step 0 is the untrained network
    [0, 50, 100]
    >>> td = r["per_seed"][0]["td"]
    >>> len(td["interference"]), [len(s) for s in td["spectrum"]]
    (3, [3, 3, 3])
    >>> all(0 < sum(s) <= 1 + 1e-12 for s in td["spectrum"])    # fractions of the NTK trace
    True
    """
    cfg = resolve_config("E4", E4_CONFIG[bool(quick)], overrides, optional=("p_right",))

    def one_seed(seed):
        P = random_walk_chain(cfg["n"], cfg.get("p_right", 0.5))
        R = _sparse(cfg["n"])
        Vstar = np.linalg.solve(np.eye(cfg["n"]) - cfg["gamma"] * P, R)
        obs, source = _digit_observations(cfg["n"], np.random.default_rng([seed, 5]))
        res = {"observations": source}
        for arm in E4_ARMS:
            ac = AgentConfig(hidden=tuple(cfg["hidden"]), lr=cfg["lr"], batch_size=cfg["batch"],
                             target_update=cfg["target_update"], log_every=cfg["log_every"],
                             k_subspace=cfg["k"])
            ag = TDAgent(P, R, cfg["gamma"], obs, ac, np.random.default_rng([seed, 6]))  # same init
            rows = [_update_space_row(ag.net, ag.obs, P, cfg["gamma"], Vstar, cfg["k"], cfg["n_spectrum"])]
            brng = np.random.default_rng([seed, 8])
            Y = Vstar[:, None]
            cw = np.ones(1)
            for _ in range(cfg["T"] // cfg["log_every"]):
                if arm == "td":
                    ag.train(cfg["log_every"])
                else:
                    b = brng.integers(0, cfg["n"], size=(cfg["log_every"], cfg["batch"]))
                    ag.net.fit_batches(ag.obs, Y, cw, ag.opt, b)
                rows.append(_update_space_row(ag.net, ag.obs, P, cfg["gamma"], Vstar, cfg["k"],
                                              cfg["n_spectrum"]))
            res[arm] = {key: [r[key] for r in rows] for key in rows[0]}
        res["steps"] = list(range(0, cfg["T"] + 1, cfg["log_every"]))[:len(rows)]
        return res

    conf, results = _run_seeds("E4", seeds, quick, cfg, one_seed, progress, store)

    def end(arm, key):
        return np.array([r[arm][key][-1] for r in results], dtype=float)

    def init(key):
        return np.array([r["td"][key][0] for r in results], dtype=float)

    summary = dict(
        td_vs_mc=paired_effect(end("mc", "interference") - end("td", "interference")),
        td_vs_init=paired_effect(init("interference") - end("td", "interference")),
        signed_td_vs_mc=paired_effect(end("mc", "interference_signed") - end("td", "interference_signed")),
        signed_td_vs_init=paired_effect(init("interference_signed") - end("td", "interference_signed")),
        cosine_td_vs_mc=paired_effect(end("mc", "interference_cosine") - end("td", "interference_cosine")),
        cosine_td_vs_init=paired_effect(init("interference_cosine") - end("td", "interference_cosine")),
        effective_rank_td_minus_mc=paired_effect(end("td", "effective_rank") - end("mc", "effective_rank")),
        interference_end_mean={a: float(end(a, "interference").mean()) for a in E4_ARMS},
        interference_initial_mean=float(init("interference").mean()),
        value_error_end_mean={a: float(end(a, "value_error").mean()) for a in E4_ARMS},
        effective_rank_end_mean={a: float(end(a, "effective_rank").mean()) for a in E4_ARMS},
        effective_rank_initial_mean=float(init("effective_rank").mean()),
        steps=results[0]["steps"],
        observations=results[0]["observations"],
        alignment_initial_mean=dict(ebf=float(np.nanmean(init("d_ebf"))), rsbf=float(np.nanmean(init("d_rsbf")))),
        alignment_end_mean={a: dict(ebf=float(np.nanmean(end(a, "d_ebf"))),
                                    rsbf=float(np.nanmean(end(a, "d_rsbf")))) for a in E4_ARMS},
        ebf_approach_td_vs_mc=paired_effect(end("mc", "d_ebf") - end("td", "d_ebf")),
    )
    for a in E4_ARMS:
        summary["interference_curve_" + a] = np.mean([r[a]["interference"] for r in results], axis=0)
    return to_jsonable(dict(experiment="E4", seeds=_seed_list(seeds), quick=bool(quick),
                            config=conf, per_seed=results, summary=summary))


#: The experiments by name, for the ``repdyn experiment`` command.
EXPERIMENTS = {"E1": e1_sequential_regression, "E2": e2_sparse_td, "E3": e3_ablations,
               "E4": e4_update_space}
