"""The neural figures of ``repdyn figures`` (one per claim, C11-C14): files written, captions
that state the effect and interval of the data they were given, the configuration in the title,
plain-language labels, 95 % t-bands.

Every experiment result here is a small synthetic dict written by hand (the layout of
:mod:`repdyn.proofs.experiments`), so the expected numbers come from the test, not from the
code under test, and nothing trains a network (the doctest run is the one exception: it runs
E1 at a tiny size).
"""
import doctest
import json
import re

import numpy as np
import pytest

import repdyn.experiments as X
from repdyn.figures import build

#: t_{0.975, 2}: the two-sided 95 % Student-t quantile with 2 degrees of freedom (tables: 4.3027).
T975_DF2 = 4.302652729749462
#: Band end points are sums of a few float64 products: equal to the hand value to rounding.
BAND_RTOL = 1e-12
#: Raw record keys that must never reach a legend as they are.
RAW = {"none", "infer", "ensemble", "cumulants", "h1", "h2", "td", "mc", "capacity", "rank",
       "sparse", "dense", "smooth", "high-frequency"}
#: A snake_case identifier (capacity_mean, rank_gain_infer, c11_capacity_loss): a raw key.
SNAKE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")


def eff(mean, lo, hi, n=3):
    return {"mean": mean, "ci": [lo, hi], "n": n, "sd": 1.0,
            "significant_positive": lo > 0, "significant_nonzero": lo > 0 or hi < 0}


# Effects with distinct digits, so a caption containing them contains exactly these.
C11 = eff(0.123, 0.0456, 0.201)
C12_CAP = eff(0.0777, -0.0312, 0.187)          # interval contains 0
C12_RANK = eff(36.7, 24.9, 48.4)
E2_DROP, E2_CUM, E2_INF = eff(23.3, 14.6, 32.1), eff(25.7, 18.1, 33.3), eff(19.4, 11.2, 27.6)
E3_H1, E3_COST = eff(-0.134, -0.151, -0.109), eff(0.113, 0.0415, 0.184)
E4_MC, E4_INIT = eff(0.0681, 0.0123, 0.124), eff(-0.116, -0.457, 0.224)

CAP_NONE = [[0.10, 0.20, 0.30, 0.40], [0.12, 0.22, 0.28, 0.50], [0.08, 0.18, 0.35, 0.45]]
CAP_INFER = [[0.10, 0.11, 0.12, 0.10], [0.12, 0.10, 0.11, 0.12], [0.09, 0.10, 0.10, 0.11]]
RANK = {"none": [[30, 25, 20, 15], [31, 24, 22, 16], [29, 26, 21, 14]],
        "infer": [[30, 30, 29, 30], [31, 31, 30, 30], [29, 30, 30, 29]]}


def e1(families=None):
    """E1 as recorded today (one probe family), or with one entry per probe family."""
    def cap(rows, s):
        return rows[s] if families is None else {f: [v * (1 + i) for v in rows[s]]
                                                 for i, f in enumerate(families)}
    per_seed = [{v: {"capacity": cap(CAP_NONE if v == "none" else CAP_INFER, s),
                     "rank": RANK[v][s], "train_mse": [0.1, 0.1, 0.1]} for v in ("none", "infer")}
                for s in range(3)]
    loss = C11 if families is None else {f: eff(0.123 * (1 + i), 0.0456 * (1 + i), 0.201 * (1 + i))
                                         for i, f in enumerate(families)}
    return {"experiment": "E1", "seeds": [0, 1, 2], "quick": False,
            "config": {"T": 3, "steps": 50, "probe_steps": 7, "probe_targets": 2,
                       "family": "high-frequency", "infer": {"k": 10, "beta": 10.0, "alpha": 0.1}},
            "per_seed": per_seed,
            "summary": {"c11_capacity_loss": loss, "c12_capacity_gain": C12_CAP,
                        "c12_rank_gain": C12_RANK, "late_window": 2, "inputs": "sklearn-digits"}}


def _td_arm(seed, a, n_logs=5, phase1=3):
    return {"log": {"step": [10 * i for i in range(n_logs)],
                    "rank": [20.0 - a * i - seed for i in range(n_logs)],
                    "value_error": [1.0 / (1 + i + a + seed) for i in range(n_logs)]},
            "phase1_logs": phase1}


def e2():
    arms = ("none", "ensemble", "cumulants", "infer")
    return {"experiment": "E2", "seeds": [0, 1, 2], "quick": False, "config": {"T0": 20, "T1": 20},
            "per_seed": [{a: _td_arm(s, i) for i, a in enumerate(arms)} for s in range(3)],
            "summary": {"rank_drop_ensemble": E2_DROP, "rank_gain_cumulants": E2_CUM,
                        "rank_gain_infer": E2_INF}}


def e3():
    vs = ("none", "infer", "h1", "h2")
    return {"experiment": "E3", "seeds": [0, 1, 2], "quick": False, "config": {"T0": 20},
            "per_seed": [{"sparse": {v: _td_arm(s, i) for i, v in enumerate(vs)},
                          "dense": {v: {"log": _td_arm(s, i, 4)["log"], "auc": 0.3, "final": 0.2}
                                    for i, v in enumerate(vs)}} for s in range(3)],
            "summary": {"h1_vs_infer_sparse": E3_H1, "infer_cost_dense": E3_COST,
                        "h2_fraction_of_cost_removed": 0.25}}


def e4():
    def arm(s, a):
        return {"interference": [0.5, 0.4 + a, 0.3 + a + 0.01 * s],
                "effective_rank": [30.0, 25.0 + a, 20.0 + a],
                "spectrum": [[0.5, 0.2, 0.1], [0.6, 0.2, 0.05], [0.7, 0.1, 0.05]]}
    return {"experiment": "E4", "seeds": [0, 1, 2], "quick": False, "config": {},
            "per_seed": [{"steps": [0, 10, 20], "td": arm(s, 0.0), "mc": arm(s, 0.1),
                          "observations": "sklearn-digits"} for s in range(3)],
            "summary": {"td_vs_mc": E4_MC, "td_vs_init": E4_INIT, "observations": "sklearn-digits"}}


def fakes(calls, e1_result=None):
    results = {"E1": e1_result or e1(), "E2": e2(), "E3": e3(), "E4": e4()}

    def make(name):
        def fn(seeds, quick, progress=None, store=None):
            calls.append((name, list(seeds), quick))
            if progress:
                progress(len(seeds), len(seeds))
            return json.loads(json.dumps(results[name]))
        return fn
    return {n: make(n) for n in results}


def numbers(e):
    """The effect's numbers as a caption writes them (3 significant digits)."""
    return [f"{e['mean']:.3g}", f"{e['ci'][0]:.3g}", f"{e['ci'][1]:.3g}"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The four claim figures built once (drawing them is most of this file's time)."""
    out = tmp_path_factory.mktemp("neural_figures")
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(X, "load_experiments", lambda: fakes(calls))
        figs, note = X.neural_figures(3, False, str(out))
        done = build(str(out), figs, log=None)
    return out, figs, {e["name"]: e for e in done}, calls


def test_one_figure_per_claim_written_with_its_data(built):
    out, figs, done, calls = built
    assert [f.config["claim"] for f in figs] == ["C11", "C12", "C13", "C14"]
    for name, e in done.items():
        assert e["status"] == "written", e["caption"]
        with open(out / f"{name}.png", "rb") as fh:
            assert fh.read(4)[1:] == b"PNG"
        stored = json.loads((out / f"{name}.json").read_text())
        assert stored["config"]["claim"] == name.split("_")[2].upper()
        for exp, r in stored["data"]["experiments"].items():      # the full numbers, as given
            assert r["summary"] == json.loads(json.dumps(fakes([])[exp](range(3), False)["summary"]))
    # each experiment runs once per figure that reads it, full configuration, 3 seeds
    assert sorted(calls) == sorted([("E1", [0, 1, 2], False)] * 2 + [("E2", [0, 1, 2], False),
                                    ("E3", [0, 1, 2], False), ("E4", [0, 1, 2], False)])
    # index.md: one heading per figure, the same words as the plot's title
    index = (out / "index.md").read_text()
    for f in figs:
        assert f"## {f.title}\n" in index
    assert sum(line.startswith("## ") for line in index.splitlines()) == 4


def test_captions_state_the_effects_and_intervals_they_were_given(built):
    _, _, done, _ = built
    cap = {name.split("_")[2]: e["caption"] for name, e in done.items()}
    want = {"c11": [C11], "c12": [C12_CAP, C12_RANK], "c13": [E2_DROP, E2_CUM, E2_INF, E3_H1, E3_COST],
            "c14": [E4_MC, E4_INIT]}
    for claim, effects in want.items():
        for e in effects:
            for s in numbers(e):
                assert s in cap[claim], (claim, s, cap[claim])
    assert "above 0" in cap["c11"] and "contains 0" in cap["c12"]
    assert "25 %" in cap["c13"]                                   # H2's fraction of InFeR's cost
    for c in cap.values():                                        # short: one or a few sentences
        assert len(c) < 900 and "95 % t-band" in c and "3 seeds (0-2, full configuration)" in c


def _texts(fig):
    out = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return [t for t in out if t]


def _draw(fig_spec):
    data = fig_spec.compute(dict(fig_spec.config))
    return data, fig_spec.plot(json.loads(json.dumps(data)), fig_spec.config)


@pytest.mark.parametrize("quick", [False, True])
def test_configuration_in_title_and_plain_labels(tmp_path, monkeypatch, quick):
    monkeypatch.setattr(X, "load_experiments", lambda: fakes([]))
    figs, _ = X.neural_figures(3, quick, str(tmp_path))
    import matplotlib.pyplot as plt
    for f in figs:
        assert ("quick configuration" in f.title) is quick
        assert ("full configuration" in f.title) is (not quick)
        _, fig = _draw(f)
        texts = _texts(fig)
        norm = [re.sub(r"[\s;]+", " ", t) for t in (texts[0], f.title)]
        assert norm[0] == norm[1]                                  # the plot says what index.md says
        legends = [t.get_text() for ax in fig.axes if ax.get_legend()
                   for t in ax.get_legend().get_texts()]
        assert legends and not RAW & set(legends), legends
        for t in texts:
            assert not SNAKE.search(t), t
            assert "index (" not in t
        plt.close(fig)


def test_new_schema_probe_families_and_dead_seeds(tmp_path, monkeypatch):
    """E1 records of the new layout (docs: figures): one capacity entry per probe family, drawn
    in the summary's order, one panel and one interval each; a seed whose network died is left
    out of the curves (as the experiment leaves it out of its effects) and named in the caption;
    standardised targets get the chance line."""
    fams = ["high-frequency", "smooth"]                     # record order
    r = e1(fams)
    r["config"]["probe_families"] = ["smooth", "high-frequency"]       # drawing order
    r["summary"]["probe_families"] = fams                   # as a store read-back sorts it
    r["summary"]["dead_seeds"] = {"none": [2], "infer": []}
    r["config"]["standardise"] = True
    monkeypatch.setattr(X, "load_experiments", lambda: fakes([], r))
    figs, _ = X.neural_figures(3, False, str(tmp_path))
    c11 = figs[0]
    data, fig = _draw(c11)
    caption = c11.caption(data, c11.config)
    assert "smooth probe targets" in caption and "high-frequency probe targets" in caption
    for i in range(2):
        for s in numbers(eff(0.123 * (1 + i), 0.0456 * (1 + i), 0.201 * (1 + i))):
            assert s in caption
    assert "1 of 3 no auxiliary task" in caption
    assert len(fig.axes) == 2
    assert [ax.get_title().splitlines()[0] for ax in fig.axes] == ["smooth probe targets",
                                                                   "high-frequency probe targets"]
    ax = fig.axes[1]                                         # high-frequency: factor 1 + 0
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "no auxiliary task")
    np.testing.assert_allclose(line.get_ydata(), np.mean(CAP_NONE[:2], axis=0), rtol=BAND_RTOL)
    assert "chance (standardised targets)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_band_is_the_95_percent_t_interval_of_the_seeds(tmp_path, monkeypatch):
    monkeypatch.setattr(X, "load_experiments", lambda: fakes([]))
    figs, _ = X.neural_figures(3, False, str(tmp_path))
    _, fig = _draw(figs[0])                                        # C11: one curve, one band
    ax = fig.axes[0]
    rows = np.array(CAP_NONE)
    mean = rows.mean(axis=0)
    half = T975_DF2 * rows.std(axis=0, ddof=1) / np.sqrt(3)
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "no auxiliary task")
    np.testing.assert_allclose(line.get_ydata(), mean, rtol=BAND_RTOL)
    poly = ax.collections[0].get_paths()[0].vertices
    for j, x in enumerate(range(4)):
        ys = poly[np.isclose(poly[:, 0], x), 1]
        np.testing.assert_allclose([ys.min(), ys.max()], [mean[j] - half[j], mean[j] + half[j]],
                                   rtol=BAND_RTOL)
    # a column with one finite value has no band; NaN (a missing log) is left out
    m, lo, hi, n = X.tband([[1.0, np.nan], [3.0, 5.0]])
    assert n.tolist() == [2, 1] and lo[1] == hi[1] == m[1] == 5.0


@pytest.mark.parametrize("key", ["capacity_mean/none", "capacity_mean/smooth/infer",
                                 "c11_capacity_loss/high-frequency", "rank_gain_hash",
                                 "srank_gain_cumulants", "probe_family_permuted-labels",
                                 "interference_curve_td", "per_seed/3/dense/h2/value_error"])
def test_labels_of_record_keys_are_words(key):
    lab = X.label(key)
    assert "_" not in lab and "/" not in lab and lab.strip()


def test_docstring_examples_run():
    res = doctest.testmod(X, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_td_dead_networks_are_named_in_the_c13_caption(tmp_path, monkeypatch):
    r2 = e2()
    r2["summary"]["dead_seeds"] = {"none": [], "ensemble": [1, 2], "cumulants": [], "infer": []}
    results = fakes([])

    def fake_e2(seeds, quick, progress=None, store=None):
        return json.loads(json.dumps(r2))
    monkeypatch.setattr(X, "load_experiments", lambda: {**results, "E2": fake_e2})
    figs, _ = X.neural_figures(3, False, str(tmp_path))
    c13 = figs[2]
    data = c13.compute(dict(c13.config))
    caption = c13.caption(data, c13.config)
    assert "E2 ensemble heads: seeds 1, 2" in caption
    assert "InFeR: seed" not in caption                     # no dead seed, no mention


def test_named_configuration_is_in_the_key_title_and_caption(tmp_path):
    """``repdyn experiment E1 --config paper`` (E1's paper-scale table): the name reaches the
    experiment, the figure's cache key, its title and its caption."""
    got = []

    def fn(seeds, quick, progress=None, store=None, config=None):
        got.append(config)
        return json.loads(json.dumps(e1()))
    e = X.run_experiment("E1", fn, seeds=3, quick=False, out=str(tmp_path), config="paper")
    again = X.run_experiment("E1", fn, seeds=3, quick=False, out=str(tmp_path))   # default: not cached
    assert got == ["paper", None] and e["status"] == again["status"] == "written"
    stored = json.loads((tmp_path / "fig_neural_E1.json").read_text())
    assert "config_name" not in stored["config"]
    assert "paper configuration" in e["title"] and "full configuration" in again["title"]
    assert "3 seeds (0-2, paper configuration)" in e["caption"]


def test_figures_command_is_full_by_default_and_quick_on_request(tmp_path, monkeypatch):
    from repdyn.cli import main
    calls = []
    monkeypatch.setattr(X, "load_experiments", lambda: fakes(calls))
    full, quick = tmp_path / "full", tmp_path / "quick"
    assert main(["figures", "--out", str(full), "--only", "fig_neural_c14"]) == 0
    assert main(["figures", "--out", str(quick), "--only", "fig_neural_c14", "--quick"]) == 0
    assert [(name, q) for name, _, q in calls] == [("E4", False), ("E4", True)]
    assert "## C14" in (full / "index.md").read_text()
    assert "full configuration" in (full / "index.md").read_text()
    assert "quick configuration" not in (full / "index.md").read_text()
    assert "quick configuration" in (quick / "index.md").read_text()
