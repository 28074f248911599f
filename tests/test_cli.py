"""The ``repdyn`` command end to end, in subprocesses, on small configurations."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.linalg as sla

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = ("verify", "figures", "bench", "analyse", "experiment", "sweep")
#: The closed forms are exact up to rounding (~1e-14 relative); JSON keeps 17 digits.
CLOSED_FORM_TOL = 1e-10


def run(args, tmp_path=None, timeout=300, env_extra=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + ([str(tmp_path)] if tmp_path else [])
                                        + [env.get("PYTHONPATH", "")])
    env.pop("REPDYN_PLUGINS", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "repdyn", *args], cwd=str(tmp_path or ROOT),
                          env=env, capture_output=True, text=True, timeout=timeout)


# ----------------------------------------------------------------------------- help


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_shows_an_example(cmd):
    p = run([cmd, "--help"])
    assert p.returncode == 0
    assert "example" in p.stdout.lower()
    assert f"repdyn {cmd}" in p.stdout


# ----------------------------------------------------------------------------- verify

PLUGIN = '''
from repdyn.proofs.registry import check, Outcome
@check("C9", "plugin check", method="statistical")
def _plugin(ctx):
    return Outcome({verdict!r}, measured=1.0, predicted=0.0, reason="set by the test plugin")
'''


def _plugin(tmp_path, name, verdict):
    (tmp_path / f"{name}.py").write_text(PLUGIN.format(verdict=verdict))
    return name


def test_verify_exit_code_flips_when_a_claim_fails(tmp_path):
    base = ["verify", "--quick", "--claims", "C9"]
    ok = run(base + ["--plugin", _plugin(tmp_path, "plug_holds", "holds"), "--json", "ok.json"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = run(base + ["--plugin", _plugin(tmp_path, "plug_fails", "fails"), "--json", "bad.json"], tmp_path)
    assert bad.returncode == 1, bad.stderr
    for line in ("plugin check", "fails", "C9"):
        assert line in bad.stdout
    res = json.loads((tmp_path / "bad.json").read_text())
    assert res["complete"] is True
    verdicts = {r["check"]: r["verdict"] for r in res["results"]}
    assert verdicts["plugin check"] == "fails"
    assert verdicts["EBF/RSBF beat median random along soft PI"] == "holds"   # the real C9 check
    # the environment hook does the same
    env = run(base, tmp_path, env_extra={"REPDYN_PLUGINS": "plug_fails"})
    assert env.returncode == 1


def test_verify_strict_counts_not_reproduced(tmp_path):
    name = _plugin(tmp_path, "plug_nr", "not-reproduced")
    base = ["verify", "--quick", "--claims", "C9", "--plugin", name]
    assert run(base, tmp_path).returncode == 0
    assert run(base + ["--strict"], tmp_path).returncode == 1


COUNTING_PLUGIN = '''
import os
from repdyn.proofs.registry import check, Outcome
@check("C9", "counting check", method="statistical")
def _count(ctx):
    with open(os.path.join(os.getcwd(), "calls.txt"), "a") as fh:
        fh.write("x")
    return Outcome("holds", measured=1.0, predicted=0.0)
'''


def test_verify_json_resumes_only_under_the_same_configuration(tmp_path):
    (tmp_path / "plug_count.py").write_text(COUNTING_PLUGIN)
    base = ["verify", "--quick", "--claims", "C9", "--plugin", "plug_count", "--json", "r.json"]
    calls = lambda: len((tmp_path / "calls.txt").read_text())      # noqa: E731
    assert run(base, tmp_path).returncode == 0
    assert calls() == 1
    p = run(base, tmp_path)                      # same configuration and code: reused
    assert p.returncode == 0 and calls() == 1
    assert "reused" in p.stdout
    res = json.loads((tmp_path / "r.json").read_text())
    assert all(r["resumed"] for r in res["results"]) and res["config"]["seed"] == 0
    assert run(base + ["--seed", "1"], tmp_path).returncode == 0    # another seed: recomputed
    assert calls() == 2
    cfg = json.loads((tmp_path / "r.json").read_text())
    cfg["config"]["code_version"] = "0" * 64                       # other code: recomputed
    (tmp_path / "r.json").write_text(json.dumps(cfg))
    assert run(base + ["--seed", "1"], tmp_path).returncode == 0
    assert calls() == 3


def test_verify_quick_strict_reports_not_run_and_fails_only_for_named_claims(tmp_path):
    """C7's exact certificate is full-only: under --quick it is a not-run row with the reason,
    counted in the summary; --strict exits 1 on it only because C7 was asked for by name."""
    from repdyn.proofs import registry
    registry._load_check_modules()
    assert any(c.claim == "C7" and not c.quick for c in registry._CHECKS)
    p = run(["verify", "--quick", "--claims", "C7"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "not-applicable" not in p.stdout
    assert "not-run" in p.stdout and "not run under --quick" in p.stdout
    assert " not-run" in p.stdout.splitlines()[-1]            # the summary line counts it
    assert run(["verify", "--quick", "--claims", "C7", "--strict"], tmp_path).returncode == 1


def test_verify_table_columns_and_user_mdp_not_applicable(tmp_path):
    from repdyn.analysis.mdp import random_walk_chain
    np.savez(tmp_path / "chain.npz", P=random_walk_chain(6, 0.7), R=np.eye(6)[-1], gamma=0.9)
    p = run(["verify", "--quick", "--claims", "C9", "--mdp", "chain.npz"], tmp_path)
    assert p.returncode == 0, p.stderr
    head = p.stdout.splitlines()[0].split()
    for col in ("claim", "statement", "method", "measured", "predicted", "verdict", "s"):
        assert col in head
    row = next(line for line in p.stdout.splitlines() if line.startswith("C9 "))
    assert "not-applicable" in row
    assert "per-action" in p.stdout           # the reason is printed


def test_verify_c9_on_a_users_per_action_mdp(tmp_path):
    from repdyn.analysis.mdp import two_action_chain
    P, R = two_action_chain(20, 0.9, 0.7, 1.0, 0.1)
    pol = np.full((20, 2), 0.5)
    (tmp_path / "pa.json").write_text(json.dumps({"P": P.tolist(), "R": R.tolist(), "gamma": 0.9,
                                                  "policy": pol.tolist()}))
    p = run(["verify", "--quick", "--claims", "C9", "--mdp", "pa.json", "--json", "r.json"], tmp_path)
    assert p.returncode == 0, p.stderr
    r = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert r["verdict"] == "holds" and r["evidence"]["mdp"] == "pa.json"
    # too small for k = 5 features: not applicable, with the reason
    P4, R4 = two_action_chain(4)
    (tmp_path / "small.json").write_text(json.dumps({"P": P4.tolist(), "R": R4.tolist(), "gamma": 0.9,
                                                     "policy": np.full((4, 2), 0.5).tolist()}))
    p = run(["verify", "--quick", "--claims", "C9", "--mdp", "small.json"], tmp_path)
    assert p.returncode == 0 and "not-applicable" in p.stdout and "k must lie in" in p.stdout


MALFORMED = {
    "not_stochastic.json": '{"P": [[0.5, 0.6], [0.5, 0.5]], "R": [1, 0], "gamma": 0.9}',
    "missing_gamma.json": '{"P": [[1.0]], "R": [1]}',
    "bad_gamma.json": '{"P": [[1.0]], "R": [1], "gamma": 1.5}',
    "null_gamma.json": '{"P": [[1.0]], "R": [1], "gamma": null}',
    "nan.json": '{"P": [[NaN, 1.0], [0.5, 0.5]], "R": [1, 0], "gamma": 0.9}',
    "ragged.json": '{"P": [[1.0], [0.5, 0.5]], "R": [1, 0], "gamma": 0.9}',
    "wrong_R.json": '{"P": [[1.0, 0.0], [0.5, 0.5]], "R": [1, 0, 3], "gamma": 0.9}',
    "not_json.json": '{"P": [[1.0',
    "list.json": '[1, 2, 3]',
    "string_gamma.json": '{"P": [[1.0]], "R": [1], "gamma": "0.9"}',
    "bool_gamma.json": '{"P": [[1.0]], "R": [1], "gamma": true}',
    "policy_with_2d_P.json": '{"P": [[1.0]], "R": [1], "gamma": 0.5, "policy": [[1.0]]}',
    "null_entry.json": '{"P": [[null]], "R": [1], "gamma": 0.5}',
    "policy_shape.json": '{"P": [[[1.0]], [[1.0]]], "R": [[1.0], [0.0]], "gamma": 0.5, "policy": [[1.0]]}',
    "garbage.npz": "this is not a zip archive",
    "mdp.txt": "P R gamma",
}


@pytest.mark.parametrize("fname", sorted(MALFORMED))
def test_malformed_mdp_one_line_exit_2(tmp_path, fname):
    (tmp_path / fname).write_text(MALFORMED[fname])
    p = run(["verify", "--quick", "--mdp", fname], tmp_path)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("repdyn verify: error: --mdp")


def test_missing_mdp_file_and_bad_options(tmp_path):
    (tmp_path / "a_file").write_text("x")
    for args in (["verify", "--mdp", "nope.npz"], ["verify", "--claims", "C99"],
                 ["analyse", "nope.json"], ["bench", "--only", "bench_nope"],
                 ["figures", "--only", "nofig", "--skip-neural", "--out", "f"],
                 ["verify", "--claims", "C9", "--json", "no/such/dir/r.json"],
                 ["figures", "--only", "fig1", "--skip-neural", "--out", "a_file"]):
        p = run(args, tmp_path)
        assert p.returncode == 2, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)


# ----------------------------------------------------------------------------- figures


def _is_png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_figures_written_resumed_and_data_is_exact(tmp_path):
    args = ["figures", "--out", "figs", "--only", "fig1,fig3", "--skip-neural"]
    p = run(args, tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "figs"
    names = ["fig1_two_state_td_vs_mc", "fig3_value_improvement_transfer"]
    index = (out / "index.md").read_text()
    for nm in names:
        assert _is_png(out / f"{nm}.png") and (out / f"{nm}.png").stat().st_size > 10_000
        assert f"]({nm}.png)" in index
    assert "skipped (--skip-neural)" in index
    # Figure 1 data against an independent closed form: V_t = expm(-tA)(V0 - V*) + V*
    d1 = json.loads((out / f"{names[0]}.json").read_text())
    c, d = d1["config"], d1["data"]
    P = np.array([[1 - c["p"], c["p"]], [c["q"], 1 - c["q"]]])
    A = np.eye(2) - c["gamma"] * P
    Vs = np.linalg.solve(A, np.array(c["R"]))
    t = np.array(d["t"])
    for V0, td, mc in zip(d["V0"], d["td"], d["mc"]):
        for i in (0, len(t) // 3, len(t) - 1):
            expect = sla.expm(-t[i] * A) @ (np.array(V0) - Vs) + Vs
            np.testing.assert_allclose(td[i], expect, rtol=CLOSED_FORM_TOL)
            np.testing.assert_allclose(mc[i], np.exp(-t[i]) * (np.array(V0) - Vs) + Vs, rtol=CLOSED_FORM_TOL)
    # Figure 3: the plotted quantiles are those of the stored raw errors
    d3 = json.loads((out / f"{names[1]}.json").read_text())["data"]
    raw = np.array(d3["errors"]["random"])
    np.testing.assert_allclose(d3["errors_random_quantiles"]["median"], np.median(raw, axis=0), rtol=1e-15)
    assert max(d3["errors_v0"]["ebf"][0], d3["errors_v0"]["rsbf"][0]) < 1e-12
    # rerun with the same --out: nothing recomputed
    mtimes = {nm: (out / f"{nm}.png").stat().st_mtime_ns for nm in names}
    p2 = run(args, tmp_path)
    assert p2.returncode == 0
    assert p2.stdout.count("cached") == 2
    assert all((out / f"{nm}.png").stat().st_mtime_ns == mtimes[nm] for nm in names)
    # a stored config that differs (e.g. an older version) is recomputed
    stored = json.loads((out / f"{names[0]}.json").read_text())
    stored["config"]["n_starts"] = 3
    (out / f"{names[0]}.json").write_text(json.dumps(stored))
    p3 = run(args, tmp_path)
    assert "written" in p3.stdout and p3.stdout.count("cached") == 1


def test_plotted_lines_are_the_stored_data():
    """In-process: every line drawn in Figure 3 and Figure 1 comes from the JSON data."""
    from repdyn.figures import FIGURES
    figs = {f.name: f for f in FIGURES}
    f3 = figs["fig3_value_improvement_transfer"]
    cfg = dict(f3.config, draws=20)
    data = json.loads(json.dumps(f3.compute(cfg)))
    fig = f3.plot(data, cfg)
    for ax, tag in zip(fig.axes[:2], ("errors", "errors_v0")):
        ys = [np.asarray(ln.get_ydata()) for ln in ax.get_lines()]
        for series in (data[tag]["ebf"], data[tag]["rsbf"], data[tag + "_random_quantiles"]["median"]):
            assert any(np.allclose(y, np.maximum(series, 1e-17), rtol=0, atol=0) for y in ys)
    f1 = figs["fig1_two_state_td_vs_mc"]
    d1 = json.loads(json.dumps(f1.compute(dict(f1.config))))
    fig = f1.plot(d1, f1.config)
    xs = [np.asarray(ln.get_xdata()) for ln in fig.axes[0].get_lines()]
    for td in d1["td"]:
        assert any(len(x) == len(td) and np.array_equal(x, np.array(td)[:, 0]) for x in xs)


def test_figures_interrupt_keeps_finished_and_resumes(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "repdyn", "figures", "--out", "figs", "--skip-neural"],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = tmp_path / "figs" / "fig1_two_state_td_vs_mc.png"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    interrupted = proc.poll() is None
    if interrupted:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert first.exists() and _is_png(first)
    if interrupted and proc.returncode == 130:
        assert "rerun" in err
    p = run(["figures", "--out", "figs", "--skip-neural"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "fig1_two_state_td_vs_mc.png" in p.stdout and "cached" in p.stdout.split("fig1")[1].split("\n")[0]
    index = (tmp_path / "figs" / "index.md").read_text()
    assert index.count("![") == 4 and "Not produced yet" not in index


# ----------------------------------------------------------------------------- analyse


def test_analyse_prints_rates_and_writes_figures(tmp_path):
    from repdyn.analysis.mdp import random_walk_chain
    P = random_walk_chain(7, 0.7)
    gamma = 0.8
    (tmp_path / "m.json").write_text(json.dumps({"P": P.tolist(), "R": [0, 0, 0, 0, 0, 0, 1],
                                                 "gamma": gamma}))
    p = run(["analyse", "m.json", "--k", "3", "--out", "an"], tmp_path)
    assert p.returncode == 0, p.stderr
    res = json.loads((tmp_path / "an" / "analysis.json").read_text())
    lam = np.sort(np.linalg.eigvals(P).real)[::-1]          # independent: real spectrum
    for row in res["rows"]:
        K = row["K"]
        assert abs(row["predicted_rate"] - gamma * (lam[K - 1] - lam[K])) < 1e-12
        assert f"{row['predicted_rate']:.4g}" in p.stdout
        assert 0 <= row["d_ebf_rsbf"] <= np.pi / 2 * np.sqrt(K)
    for nm in ("spectrum", "alignment"):
        assert _is_png(tmp_path / "an" / f"{nm}.png")
    al = json.loads((tmp_path / "an" / "alignment.json").read_text())["data"]
    for cv in al["curves"]:      # measured slope of the plotted curve vs the prediction
        assert abs(cv["measured_rate"] / cv["predicted_rate"] - 1) < 0.05


# ----------------------------------------------------------------------------- experiment


def test_experiment_unknown_or_missing_is_one_line_error(tmp_path):
    p = run(["experiment", "E9", "--quick", "--out", "x"], tmp_path)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1
    assert "E9" in p.stderr or "not built" in p.stderr


# ----------------------------------------------------------------------------- neural (fake module)


def test_neural_figures_and_experiment_command_with_a_fake_module(tmp_path, monkeypatch):
    """In-process with a stand-in proofs.experiments: data stored, drawn, and resumed. The stand-in
    is an experiment no claim figure reads (E7), so both commands draw its generic figure."""
    import importlib.machinery
    import types
    from repdyn.cli import main
    from repdyn.experiments import _plot
    calls = []

    def fake(seeds, quick, progress=None, store=None):
        calls.append((list(seeds), quick))
        if progress:
            progress(1, 1)
        return {"experiment": "E7", "per_seed": [{"rank": [9, 8, 7]}],
                "summary": {"rank_curve_none": [5.0, 4.0, 3.0],
                            "capacity_mean": {"none": [0.1, 0.2, 0.3], "infer": [0.1, 0.1, 0.1]}}}

    mod = types.ModuleType("repdyn.proofs.experiments")
    mod.__spec__ = importlib.machinery.ModuleSpec("repdyn.proofs.experiments", None)
    mod.EXPERIMENTS = {"E7": fake}
    monkeypatch.setitem(sys.modules, "repdyn.proofs.experiments", mod)
    out = tmp_path / "x"
    assert main(["experiment", "e7", "--seeds", "2", "--quick", "--out", str(out)]) == 0
    assert calls == [([0, 1], True)]
    stored = json.loads((out / "fig_neural_E7.json").read_text())
    assert stored["data"]["summary"]["rank_curve_none"] == [5.0, 4.0, 3.0]
    assert _is_png(out / "fig_neural_E7.png")
    fig = _plot(stored["data"], stored["config"])
    ys = [list(ln.get_ydata()) for ax in fig.axes for ln in ax.get_lines()]
    # the summary curves are drawn, the per-seed ones are not (a summary exists)
    assert [5.0, 4.0, 3.0] in ys and [0.1, 0.2, 0.3] in ys and [9, 8, 7] not in ys
    assert main(["experiment", "E7", "--seeds", "2", "--quick", "--out", str(out)]) == 0
    assert len(calls) == 1                                   # resumed from the stored data
    assert main(["experiment", "E2", "--out", str(out)]) == 2
    # the figures command draws the neural curves through the same path
    assert main(["figures", "--out", str(out), "--only", "fig_neural", "--neural-seeds", "2",
                 "--quick"]) == 0
    assert len(calls) == 1 and "fig_neural_E7.png" in (out / "index.md").read_text()


def test_verify_exits_1_when_a_check_module_is_broken(tmp_path, monkeypatch, capsys):
    """A family module that exists but fails to import is never a silent pass."""
    from repdyn.proofs import registry
    from repdyn.cli import main
    (tmp_path / "broken_family.py").write_text("raise RuntimeError('half-written module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "CHECK_MODULES", ("repdyn.proofs.transfer", "broken_family", "not_there_yet"))
    assert main(["verify", "--quick", "--claims", "C9"]) == 1
    out, err = capsys.readouterr()
    assert "broken_family failed to import" in out and "half-written module" in err
    assert "not_there_yet is not built yet" in err
    # a module that is merely missing does not fail the run
    monkeypatch.setattr(registry, "CHECK_MODULES", ("repdyn.proofs.transfer", "not_there_yet"))
    assert main(["verify", "--quick", "--claims", "C9"]) == 0


def test_alignment_and_c8_figures_plot_their_data():
    """Figure 2 and the C8 figure: every stored curve is drawn, and Figure 2's fitted rates
    match the predicted gamma (lambda_K - lambda_K+1) (d_min(G) times it for the ensemble)."""
    from repdyn.figures import FIGURES
    figs = {f.name: f for f in FIGURES}

    def drawn(fig):
        return [np.asarray(ln.get_ydata(), float) for ax in fig.axes for ln in ax.get_lines()]

    def is_drawn(series, ys):
        s = np.asarray(series, float)
        return any(len(y) == len(s) and np.array_equal(y, s, equal_nan=True) for y in ys)

    f2 = figs["fig2_alignment_to_ebfs"]
    d2 = json.loads(json.dumps(f2.compute(dict(f2.config))))
    ys = drawn(f2.plot(d2, f2.config))
    for cv in d2["curves"]:
        assert is_drawn(cv["dist"], ys)
        # slope of the exact closed form in its asymptotic window: within 3 % of theory
        assert abs(cv["measured_rate"] / cv["predicted_rate"] - 1) < 0.03
    f8 = figs["fig_c8_auxiliary_tasks"]
    cfg = dict(f8.config, n_t=41)
    d8 = json.loads(json.dumps(f8.compute(cfg)))
    ys = drawn(f8.plot(d8, cfg))
    assert len(d8["rows"]) == 8
    for row in d8["rows"]:
        for key in ("norm", "dist_dev_ebf", "dist_phi_rsbf"):
            assert is_drawn(row[key], ys), (row["task"], row["reward"], key)
        if not row["reward"] and row["task"] != "random cumulants":
            assert row["norm"][-1] < 1e-2 * row["norm"][0]         # collapse without reward
        assert row["dist_dev_ebf"][-1] < 1e-4                        # the path aligns with the EBFs


def test_sweep_is_wired_to_repdyn_sweep(tmp_path):
    """``repdyn sweep`` parses with repdyn.sweep's own options and runs its main (serially)."""
    import importlib.util
    if importlib.util.find_spec("repdyn.sweep") is None:
        p = run(["sweep", "x.toml"], tmp_path)
        assert p.returncode == 2 and "not built" in p.stderr
        return
    (tmp_path / "sw.toml").write_text('study = "runner-check"\nseeds = 1\n[grid]\nsize = [4, 5]\n')
    p = run(["sweep", "sw.toml", "--out", "store", "--workers", "0", "--no-progress"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "2 of 2 cells finished" in p.stderr


def test_complex_mdp_file_is_refused(tmp_path):
    """numpy would cast complex P or R to float, dropping the imaginary part: refuse instead."""
    P = np.array([[0.5, 0.5], [0.5, 0.5]])
    for key, bad in (("P", P + 0.1j), ("R", np.array([1.0, 2.0 + 1j]))):
        data = {"P": P, "R": np.array([1.0, 2.0]), "gamma": 0.9, key: bad}
        np.savez(tmp_path / f"c_{key}.npz", **data)
        p = run(["verify", "--quick", "--mdp", f"c_{key}.npz"], tmp_path)
        assert p.returncode == 2 and key in p.stderr and "complex" in p.stderr, p.stderr


# ----------------------------------------------------------------------------- large / sparse MDPs (issue 12)


def _save_csr(path, P, R, gamma):
    P = P.tocsr()
    np.savez(path, format="csr", shape=P.shape, data=P.data, indices=P.indices, indptr=P.indptr,
             R=R, gamma=gamma)


def test_analyse_sparse_npz_top_of_spectrum_only(tmp_path):
    from repdyn.analysis.mdp import random_walk_chain
    n, gamma = 600, 0.9
    _save_csr(tmp_path / "walk.npz", random_walk_chain(n, sparse=True), np.eye(n)[0], gamma)
    p = run(["analyse", "walk.npz", "--k", "4", "--out", "an"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "NOTE: only the top 5 eigenvalues were computed" in p.stdout
    assert ("top K certified (reversible P, Sylvester's inertia count) for K = [1, 2, 3, 4]"
            in " ".join(p.stdout.split()))               # the line is wrapped, never cut
    res = json.loads((tmp_path / "an" / "analysis.json").read_text())
    assert res["full_spectrum"] is False and len(res["eigenvalues_re"]) == 5
    lam = np.cos(np.pi * np.arange(6) / n)                  # closed form of this chain
    for row in res["rows"]:
        K = row["K"]
        assert abs(row["predicted_rate"] - gamma * (lam[K - 1] - lam[K])) < 1e-12
        assert row["d_ebf_rsbf"] < 1e-8                      # symmetric P: RSBFs = EBFs


def test_analyse_refuses_what_does_not_fit_in_one_line(tmp_path, monkeypatch, capsys):
    from repdyn import mdpfile
    from repdyn.analysis.mdp import ring
    from repdyn.cli import main
    np.savez(tmp_path / "ring.npz", P=ring(400), R=np.zeros(400), gamma=0.9)
    monkeypatch.setattr(mdpfile, "memory_available", lambda: 1 << 20)       # 1 MiB
    assert main(["analyse", str(tmp_path / "ring.npz"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GiB" in err[0] and "refused" in err[0]


def test_scipy_save_npz_alone_is_refused_naming_R_and_gamma(tmp_path):
    import scipy.sparse as sp
    from repdyn.analysis.mdp import four_rooms
    sp.save_npz(tmp_path / "p.npz", four_rooms(4))
    p = run(["analyse", "p.npz"], tmp_path)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "['R', 'gamma']" in p.stderr and "save_npz" in p.stderr


def test_verify_c2_on_a_sparse_mdp_above_the_dense_limit(tmp_path):
    # 2,500-state gridworld (> DENSE_MAX = 2000): Krylov EBFs, sparse tracked span; the
    # prediction is also the closed form gamma (1 - cos(pi/50)) / 2 of the 50 x 50 grid walk
    from repdyn.analysis.mdp import gridworld
    G = gridworld(50, 50)
    R = np.zeros(2500)
    R[0] = 1.0
    _save_csr(tmp_path / "grid.npz", G, R, 0.9)
    p = run(["verify", "--quick", "--claims", "C2", "--mdp", "grid.npz", "--json", "r.json"], tmp_path)
    assert p.returncode == 0, p.stderr
    res = json.loads((tmp_path / "r.json").read_text())
    rows = res["results"] if isinstance(res, dict) else res
    r = next(x for x in rows if x["method"] == "numeric")
    assert r["verdict"] == "holds", r["reason"]
    pred = 0.9 * (1 - np.cos(np.pi / 50)) / 2
    assert abs(r["predicted"][0] - pred) < 1e-12
    assert abs(r["measured"][0] / pred - 1) < 0.05



# ----------------------------------------------------------------------------- every value checked up front (issue 16)


def _small_mdp(tmp_path):
    from repdyn.analysis.mdp import random_walk_chain
    P = random_walk_chain(5, 0.7)
    (tmp_path / "m.json").write_text(json.dumps({"P": P.tolist(), "R": [0, 0, 0, 0, 1], "gamma": 0.9}))
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "n.json").write_text((tmp_path / "m.json").read_text())
    (tmp_path / "analyse-n").write_text("a file where analyse's default folder would go")


#: (bad argv, the flag the one-line message must name). Each is refused while parsing, before
#: any work: exit 2, one stderr line, no traceback, nothing written.
BAD_ARGV = [
    (["analyse", "m.json", "--t-max", "-5"], "--t-max"),        # exited 0 with a figure missing
    (["analyse", "m.json", "--t-max", "0"], "--t-max"),
    (["analyse", "m.json", "--t-max", "nan"], "--t-max"),
    (["analyse", "m.json", "--t-max", "inf"], "--t-max"),
    (["analyse", "m.json", "--t-max", "soon"], "--t-max"),
    (["analyse", "m.json", "--k", "0"], "--k"),
    (["analyse", "m.json", "--k", "2.5"], "--k"),
    (["analyse", "m.json", "--k", "9"], "--k"),                  # > n - 1: checked on load
    (["analyse", "m.json", "--out", "a_file"], "--out"),
    (["analyse", "m.json", "--out", "a_file/sub"], "--out"),
    (["analyse", "n.json"], "--out"),                           # default analyse-n is a file
    (["analyse", "no_such.json"], "FILE"),
    (["analyse", "a_dir"], "FILE"),
    (["analyse"], "FILE"),
    (["experiment", "E1", "--config", "big"], "--config"),
    (["experiment", "E2", "--config", "paper"], "--config"),     # E1 only
    (["experiment", "E1", "--config", "paper", "--quick"], "--config"),
    (["figures", "--neural-seeds", "0"], "--neural-seeds"),     # exited 1
    (["figures", "--neural-seeds", "-2"], "--neural-seeds"),
    (["figures", "--neural-seeds", "three"], "--neural-seeds"),
    (["figures", "--only", ""], "--only"),
    (["figures", "--only", " , "], "--only"),
    (["figures", "--out", "a_file"], "--out"),
    (["verify", "--claims", ""], "--claims"),                   # ran everything
    (["verify", "--claims", ","], "--claims"),
    (["verify", "--claims", "C2,C99"], "--claims"),
    (["verify", "--seed", "-1"], "--seed"),                     # did not name the flag
    (["verify", "--seed", "1.5"], "--seed"),
    (["verify", "--json", "no/such/dir/r.json"], "--json"),
    (["verify", "--json", "a_dir"], "--json"),
    (["verify", "--json", ""], "--json"),
    (["verify", "--mdp", "no_such.npz"], "--mdp"),
    (["verify", "--mdp", "a_dir"], "--mdp"),
    (["verify", "--plugin", "my_checks.py"], "--plugin"),
    (["verify", "--plugin", "not-a-module"], "--plugin"),
    (["verify", "--plugin", "no_such_plugin_xyz"], "--plugin"),
    (["verify", "--quick", "--bogus"], "--bogus"),
    (["bench", "--only", ""], "--only"),
    (["bench", "--only", "bench_nope"], "--only"),
    (["bench", "--out", "a_file"], "--out"),
    (["experiment", "E1", "--seeds", "0"], "--seeds"),
    (["experiment", "E1", "--seeds", "x"], "--seeds"),
    (["experiment", "1", "--quick"], "name"),
    (["experiment", "E1", "--out", "a_file"], "--out"),
    (["sweep", "s.toml", "--out", "st", "--workers", "-1"], "--workers"),
    (["sweep", "s.toml", "--out", "st", "--workers", "two"], "--workers"),
    ([], "command"),
]


@pytest.mark.parametrize("argv,flag", BAD_ARGV, ids=[" ".join(a) or "(none)" for a, _ in BAD_ARGV])
def test_bad_value_exit_2_one_line_naming_the_flag(tmp_path, monkeypatch, capsys, argv, flag):
    """In-process: ``main(argv)`` returns 2 and prints one line that names the flag."""
    import importlib.util
    from repdyn.cli import main
    if argv[:1] == ["sweep"] and importlib.util.find_spec("repdyn.sweep") is None:
        flag = "not built"
    _small_mdp(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPDYN_PLUGINS", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))          # --plugin may add the cwd
    before = sorted(os.listdir(tmp_path))
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert flag in lines[0] and "Traceback" not in err
    assert lines[0].startswith("repdyn")
    assert sorted(os.listdir(tmp_path)) == before              # refused before any work


def test_the_issues_cases_as_a_user_runs_them(tmp_path):
    """The same refusals through the real process (``python -m repdyn``): exit status 2."""
    _small_mdp(tmp_path)
    for argv, flag in ((["analyse", "m.json", "--t-max", "-5"], "--t-max"),
                       (["figures", "--neural-seeds", "0"], "--neural-seeds"),
                       (["verify", "--seed", "-1"], "--seed")):
        p = run(argv, tmp_path)
        assert p.returncode == 2, (argv, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and flag in p.stderr, p.stderr
    assert not (tmp_path / "analyse-m").exists()


def test_plugin_names_from_the_environment_are_checked(tmp_path, monkeypatch, capsys):
    from repdyn.cli import main
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPDYN_PLUGINS", "bad name")
    assert main(["verify", "--claims", "C9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "REPDYN_PLUGINS" in err[0]


def test_unreadable_mdp_file_says_why_not_invalid_npz(tmp_path, monkeypatch, capsys):
    """A file that cannot be opened is reported as unreadable, with the OS's reason; a file
    that opens but is not an npz is reported as such."""
    import builtins
    from repdyn import cli, mdpfile
    from repdyn.analysis.mdp import random_walk_chain
    np.savez(tmp_path / "ok.npz", P=random_walk_chain(4), R=np.zeros(4), gamma=0.5)
    (tmp_path / "zip.npz").write_text("not a zip")
    target = str(tmp_path / "ok.npz")
    real_open = builtins.open

    def denying_open(path, *a, **k):
        if os.path.abspath(str(path)) == target:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(mdpfile, "open", denying_open, raising=False)
    with pytest.raises(ValueError, match="cannot read .*Permission denied") as info:
        mdpfile.load_mdp(target)
    assert "not a valid" not in str(info.value)
    monkeypatch.setattr(cli, "open", denying_open, raising=False)
    for argv in (["verify", "--mdp", target], ["analyse", target]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "cannot be read" in err[0] and "Permission denied" in err[0], err
    monkeypatch.undo()
    with pytest.raises(ValueError, match="not a valid .npz"):
        mdpfile.load_mdp(str(tmp_path / "zip.npz"))
    if hasattr(os, "geteuid") and os.geteuid() != 0:        # a real unreadable file (not as root)
        os.chmod(target, 0)
        try:
            with pytest.raises(ValueError, match="cannot read"):
                mdpfile.load_mdp(target)
        finally:
            os.chmod(target, 0o644)


def test_analyse_t_max_checked_by_the_library_too():
    from repdyn.analyse import analyse
    from repdyn.analysis.mdp import MDP, random_walk_chain
    m = MDP(random_walk_chain(4), np.eye(4)[0], 0.9, name="c4")
    for bad in (-5, 0.0, float("nan"), float("inf"), "soon"):
        with pytest.raises(ValueError, match="--t-max must be a finite number > 0"):
            analyse(m, k=1, t_max=bad)


def test_analyse_notes_wrapped_not_cut():
    """Every note is printed whole (word boundaries kept), no line longer than the wrap width."""
    from repdyn.analyse import NOTE_WIDTH, analyse, format_analysis
    from repdyn.analysis.mdp import MDP, ring
    res = analyse(MDP(ring(7), np.eye(7)[0], 0.9, name="ring-7"), k=5)
    notes = [r["note"] for r in res["rows"] if r.get("note")]
    assert len(notes) == 2 and all(len(n) > 100 for n in notes)      # conjugate pairs split
    text = format_analysis(res)
    flat = " ".join(text.split())
    for note in notes:
        assert " ".join(note.split()) in flat
    table_end = text.index("[1] K = ")
    assert all(len(ln) <= NOTE_WIDTH + 4 for ln in text[table_end:].splitlines())


PLUGIN_HERE = """
from repdyn.proofs.registry import CLAIMS, Claim, Outcome, check
CLAIMS["U1"] = Claim("U1", "a user's claim", "Holds by construction.", "none", "exact")
@check("U1", "plugin from the current folder", method="numeric")
def _here(ctx):
    return Outcome("holds", measured=1.0, predicted=1.0, reason="found in the current folder")
"""


#: What the console script does, without the current folder that ``-c`` / ``-m`` put first on
#: sys.path (``python -P`` does the same from Python 3.11 on).
SCRIPT_LIKE = ("import os, sys\n"
               "sys.path[:] = [p for p in sys.path if p not in ('', '.') and os.path.abspath(p) != os.getcwd()]\n"
               "from repdyn.cli import main\n"
               "raise SystemExit(main())\n")


def test_plugin_found_in_the_current_folder_and_may_add_claims(tmp_path):
    """Run as the installed ``repdyn`` script runs (the current folder not on sys.path): the
    plugin is still found there, and ``--claims`` accepts the claim it adds. A missing plugin
    or an id known to neither is one line, exit 2."""
    (tmp_path / "my_checks.py").write_text(PLUGIN_HERE)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=ROOT)
    env.pop("REPDYN_PLUGINS", None)

    def cmd(*args):
        return subprocess.run([sys.executable, "-c", SCRIPT_LIKE, *args], cwd=str(tmp_path), env=env,
                              capture_output=True, text=True, timeout=300)
    p = cmd("verify", "--quick", "--claims", "U1", "--plugin", "my_checks")
    assert p.returncode == 0, p.stderr
    row = next(ln for ln in p.stdout.splitlines() if ln.startswith("U1 "))
    assert "plugin from the current folder" in row and "holds" in row
    for args, names in ((("--claims", "U1", "--plugin", "my_chekcs"), ("--plugin", "my_chekcs")),
                        (("--claims", "U2", "--plugin", "my_checks"), ("--claims", "U2"))):
        p = cmd("verify", "--quick", *args)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert all(n in p.stderr for n in names), p.stderr


BENCH_FAKE = """
import argparse, json, os
def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default="repdyn-bench")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "bench_fake.json"), "w") as fh:
        json.dump({"quick": a.quick}, fh)
    return 0
"""


def test_bench_passes_out_to_every_benchmark(tmp_path, monkeypatch, capsys):
    from repdyn import benchmarks
    from repdyn.cli import main
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "bench_fake.py").write_text(BENCH_FAKE)
    monkeypatch.setattr(benchmarks, "__path__", list(benchmarks.__path__) + [str(pkg)])
    monkeypatch.delitem(sys.modules, "repdyn.benchmarks.bench_fake", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["bench", "--only", "bench_fake", "--quick", "--out", "res"]) == 0
    assert json.loads((work / "res" / "bench_fake.json").read_text()) == {"quick": True}
    assert main(["bench", "--only", "bench_fake"]) == 0              # default: ./repdyn-bench
    assert sorted(os.listdir(work)) == ["repdyn-bench", "res"]
    assert "results: repdyn-bench/" in capsys.readouterr().out
    sys.modules.pop("repdyn.benchmarks.bench_fake", None)


def test_every_benchmark_writes_only_under_out(tmp_path, capsys):
    """Each benchmarks/bench_*.py takes --out with the default ./repdyn-bench; one real
    (quick, ~2 s) benchmark run writes under --out and nowhere else, the package included."""
    import pkgutil
    from repdyn import benchmarks
    pkg_dir = os.path.dirname(benchmarks.__file__)

    def snapshot(d):
        return sorted((os.path.relpath(os.path.join(r, f), d), os.path.getmtime(os.path.join(r, f)))
                      for r, _, fs in os.walk(d) for f in fs if "__pycache__" not in r)
    before = snapshot(pkg_dir)
    # a process of its own: its BLAS threads are set before numpy loads (in this process they
    # are not, and the timing loops run many times slower on a loaded machine)
    p = run(["bench", "--only", "bench_rank", "--quick", "--out", "o"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert os.listdir(tmp_path) == ["o"] and os.listdir(tmp_path / "o") == ["bench_rank_quick.json"]
    assert snapshot(pkg_dir) == before
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    assert len(names) >= 5
    capsys.readouterr()
    for name in names:
        mod = __import__(f"repdyn.benchmarks.{name}", fromlist=["main"])
        with pytest.raises(SystemExit):
            mod.main(["--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--out" in text and "repdyn-bench" in text, name


def test_analyse_exits_1_when_a_figure_cannot_be_drawn(tmp_path, monkeypatch, capsys):
    """A figure that fails is never a silent success (``analyse --t-max -5`` used to exit 0
    with the alignment figure missing)."""
    from repdyn import analyse as A
    from repdyn.cli import main
    _small_mdp(tmp_path)
    monkeypatch.chdir(tmp_path)

    def broken(d, c):
        raise RuntimeError("cannot draw")
    monkeypatch.setattr(A, "_align_plot", broken)
    assert main(["analyse", "m.json", "--k", "2", "--out", "an"]) == 1
    out = capsys.readouterr().out
    assert "figure(s) not drawn: alignment" in out
    assert json.loads((tmp_path / "an" / "analysis.json").read_text())["figures"][1]["status"] == "error"
