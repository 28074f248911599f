"""Tests of E1's configuration, inputs, dead-network handling and summary (proofs/experiments.py)."""
import numpy as np
import pytest

from repdyn.proofs.experiments import (E1_CONFIG, E1_PAPER, EXPERIMENTS, _e1_summary,
                                       e1_sequential_regression, paired_effect, resolve_config)

#: A tiny E1: a few hundred Adam steps in total per seed (well under a second).
TINY = dict(n=40, hidden=(8, 8), T=2, steps=20, probe_targets=1, probe_steps=10, batch=16)


@pytest.mark.parametrize("name", ["E1", "E2", "E3", "E4"])
def test_unknown_configuration_key_is_refused_in_one_line(name):
    with pytest.raises(ValueError) as exc:
        EXPERIMENTS[name](seeds=[0], quick=True, widht=256)
    msg = str(exc.value)
    assert "\n" not in msg and "'widht'" in msg and "valid keys:" in msg and "hidden" in msg


def test_resolve_config_optional_keys_do_not_enter_the_record():
    assert resolve_config("E2", {"a": 1}, {}, optional=("p_right",)) == {"a": 1}
    assert resolve_config("E2", {"a": 1}, {"p_right": 0.7}, optional=("p_right",)) == {"a": 1, "p_right": 0.7}


def test_paper_configuration_is_named_and_not_the_default():
    assert E1_PAPER["hidden"] == (256, 256) and E1_PAPER["steps"] == 2000
    assert E1_CONFIG[False]["hidden"] != E1_PAPER["hidden"]
    with pytest.raises(ValueError, match="config"):
        e1_sequential_regression(seeds=[0], config="huge")


def test_e1_records_families_data_and_same_bits():
    r = e1_sequential_regression(seeds=[0], quick=True, **TINY)
    again = e1_sequential_regression(seeds=[0], quick=True, **TINY)
    assert r["per_seed"] == again["per_seed"]                      # same seed, same bits
    rec = r["per_seed"][0]["none"]
    assert sorted(rec["capacity"]) == ["high-frequency", "smooth"]
    assert all(len(c) == TINY["T"] + 1 for c in rec["capacity"].values())
    assert len(rec["dead"]) == TINY["T"] + 1 and len(rec["dead_units"][0]) == len(TINY["hidden"])
    assert r["summary"]["inputs"] == "uci-digits-8x8" and r["config"]["standardise"] is True
    # data passed in: every row used, the source recorded with a hash of X
    X = np.random.default_rng(1).random((30, 5))
    u = e1_sequential_regression(seeds=[0], quick=True, X=X, labels=np.arange(30) % 3, **TINY)
    assert u["config"]["n"] == 30 and u["summary"]["inputs"].startswith("user-30x5-")
    with pytest.raises(ValueError, match="labels"):
        e1_sequential_regression(seeds=[0], quick=True, labels=np.zeros(40), **TINY)
    with pytest.raises(ValueError, match="probe_families"):
        e1_sequential_regression(seeds=[0], quick=True, **dict(TINY, probe_families=("bogus",)))
    with pytest.raises(ValueError, match="probe_dtype"):
        e1_sequential_regression(seeds=[0], quick=True, **dict(TINY, probe_dtype="half"))
    r32 = e1_sequential_regression(seeds=[0], quick=True, **dict(TINY, probe_dtype="float32"))
    assert r32["per_seed"][0]["none"]["rank"] == rec["rank"]         # only the probes change
    with pytest.raises(ValueError, match="init"):
        e1_sequential_regression(seeds=[0], quick=True, **dict(TINY, init="xavier"))


def _rec(caps, ranks, dead=False):
    return dict(capacity={"smooth": caps}, rank=ranks, train_mse=[], dead=[dead] * len(ranks),
                dead_units=[[0.0]] * len(ranks), inputs="x")


def test_e1_summary_leaves_dead_seeds_out_and_names_them():
    """Effects written out by hand: C_late - C_0 over the alive seeds (late window 3 of T = 3)."""
    results = [
        {"none": _rec([0.1, 0.2, 0.3, 0.4], [5, 4, 3, 2]), "infer": _rec([0.1, 0.1, 0.1, 0.1], [5, 5, 5, 5])},
        {"none": _rec([0.2, 0.4, 0.5, 0.6], [5, 4, 3, 3]), "infer": _rec([0.2, 0.2, 0.2, 0.2], [5, 5, 5, 4])},
        {"none": _rec([0.1, 1.0, 1.0, 1.0], [5, 0, 0, 0], dead=True),
         "infer": _rec([0.1, 0.1, 0.1, 0.1], [5, 5, 5, 5])},
    ]
    s = _e1_summary(results, [7, 8, 9], dict(T=3))
    assert s["dead_seeds"] == {"none": [9], "infer": []} and s["n_alive"] == {"none": 2, "infer": 3}
    want = paired_effect([0.3 - 0.1, 0.5 - 0.2])                   # means 0.2, 0.3: mean 0.25
    got = s["c11_capacity_loss"]["smooth"]
    assert got["n"] == 2 and got["mean"] == pytest.approx(0.25, rel=1e-12)
    assert got["ci"] == pytest.approx(want["ci"], rel=1e-12)
    assert s["c12_rank_gain"] == paired_effect([5 - 2, 4 - 3])
    np.testing.assert_allclose(s["capacity_mean"]["smooth"]["none"], [0.15, 0.3, 0.4, 0.5])
    np.testing.assert_allclose(s["capacity_mean"]["smooth"]["infer"], [0.4 / 3, 0.4 / 3, 0.4 / 3, 0.4 / 3])


def test_e1_detects_a_dead_network():
    """Adam at lr 10 kills a small ReLU network within a few steps on the digits (every unit of
    a layer pushed negative); the record says so and the summary leaves the seed out."""
    r = e1_sequential_regression(seeds=[0, 1], quick=True, **dict(TINY, lr=10.0))
    dead = {v: [s for s, p in zip(r["seeds"], r["per_seed"]) if any(p[v]["dead"])] for v in ("none", "infer")}
    assert dead["none"], "lr = 10 should kill the network"
    assert r["summary"]["dead_seeds"] == dead
    assert r["summary"]["c11_capacity_loss"]["smooth"]["n"] == 2 - len(dead["none"])


def test_docstring_examples_run():
    """The numpydoc Examples of the modules this branch changed run as doctests."""
    import doctest
    from repdyn.kernels import agent, infer, nn
    from repdyn.proofs import experiments
    for mod in (agent, nn, infer, experiments):
        res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


def test_c11_check_refuses_holds_with_a_dead_seed_and_names_the_data(monkeypatch):
    """Significant effects on the alive seeds, but one dead seed: C11 is not 'holds'; the note
    names the data set and the dead seed."""
    from repdyn.proofs import neural
    from repdyn.proofs.registry import Context
    good = paired_effect([0.1, 0.12, 0.11, 0.09])
    fams = ("smooth", "high-frequency")
    fake = dict(seeds=[100, 101, 102, 103, 104], config=dict(E1_CONFIG[False]),
                summary=dict(probe_families=list(fams), c11_capacity_loss={f: good for f in fams},
                             c12_capacity_gain={f: good for f in fams}, c12_rank_gain=good,
                             capacity_initial_mean={f: 0.1 for f in fams}, late_window=3,
                             capacity_mean={}, rank_mean={}, inputs="uci-digits-8x8",
                             dead_seeds={"none": [], "infer": []}))
    monkeypatch.setattr(neural, "_experiment", lambda name, ctx, **kw: fake)
    ok = neural._c11_capacity(Context(quick=False))
    assert ok.verdict == "holds" and "uci-digits-8x8" in ok.reason and "No dead network" in ok.reason
    fake["summary"]["dead_seeds"] = {"none": [103], "infer": []}
    out = neural._c11_capacity(Context(quick=False))
    assert out.verdict == "not-reproduced" and "103" in out.reason
    assert neural._c12_infer(Context(quick=False)).verdict == "not-reproduced"
