"""``repdyn sweep`` (issue 7): real Dask engine, real worker processes, real signals.

* a sweep of >= 50 cells on a LocalCluster of 2 worker processes gives the same records as the
  same cells run serially (bit-identical results: BLAS/numba pinned to one thread);
* a worker process killed (SIGKILL) mid-sweep: the sweep completes, every cell recorded once;
* a sweep interrupted (Ctrl-C on the Dask engine, SIGKILL of the serial one) and rerun
  computes only the missing cells;
* bad sweep files give a one-line error naming the problem and exit code 2;
* retries are bounded and failures recorded; the report aggregates the store.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("dask.distributed", reason="repdyn sweep needs dask.distributed: "
                    "pip install 'repdyn[sweep]' (the lead puts dask into the test extra)")

from repdyn import __version__  # noqa: E402
from repdyn import studies  # noqa: E402
from repdyn.sweep import Store, _cli, cell_key, load_results, load_sweep  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = "import sys; from repdyn.sweep import _cli; sys.exit(_cli(sys.argv[1:]))"
#: A subprocess sweep must finish within this (2 shared cores; cluster start-up ~3 s).
PROC_TIMEOUT = 240

#: >= 50 cheap cells of the real study: 4 families x M in {limit, 16} x 7 seeds = 56.
RATES_56 = """
study = "convergence-rate"
seeds = 7
[grid]
family = ["chain", "reversible", "dirichlet", "four-rooms"]
M = [0, 16]
[fixed]
n = 8
K = 1
"""

#: Diagnostic cells of ~0.1-0.3 s each (200 x 200 eigendecompositions), long enough that a
#: kill or Ctrl-C lands while cells are still running.
SLOW_CELLS = """
study = "runner-check"
seeds = {n}
[fixed]
size = 200
reps = {reps}
"""


def _env():
    env = dict(os.environ, MPLBACKEND="Agg", **studies.THREAD_ENV)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    return env


def _popen(args, **kw):
    return subprocess.Popen([sys.executable, "-c", CLI, *args, "--no-progress"], cwd=ROOT,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _run(args):
    p = _popen(args)
    out, err = p.communicate(timeout=PROC_TIMEOUT)
    return p.returncode, out, err


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _lines(store):
    with open(os.path.join(store, Store.RESULTS)) as fh:
        return [json.loads(x) for x in fh if x.strip()]


def _wait_for_records(store, k, proc, timeout=PROC_TIMEOUT):
    path = os.path.join(store, Store.RESULTS)
    t0 = time.time()
    while time.time() - t0 < timeout:
        if os.path.exists(path):
            with open(path) as fh:
                recs = [json.loads(x) for x in fh if x.endswith("\n")]
            if len(recs) >= k:
                return recs
        if proc.poll() is not None:
            raise AssertionError(f"sweep exited early ({proc.returncode}): {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"fewer than {k} records after {timeout} s")


# ------------------------------------------------------------------- serial == distributed


def test_local_cluster_records_equal_serial_records(tmp_path):
    spec = _write(tmp_path, "rates.toml", RATES_56)
    serial, dist = str(tmp_path / "serial"), str(tmp_path / "dist")
    rc, _, err = _run([spec, "--out", serial, "--workers", "0"])
    assert rc == 0, err
    rc, _, err = _run([spec, "--out", dist, "--workers", "2"])
    assert rc == 0, err
    a, b = _lines(serial), _lines(dist)
    assert len(a) == len(b) == 56
    assert len({r["key"] for r in b}) == 56                        # each cell once
    assert {r["key"] for r in a} == {r["key"] for r in b}
    ra = {r["key"]: r["result"] for r in a}
    rb = {r["key"]: r["result"] for r in b}
    assert ra == rb                                   # bit-identical floats (JSON repr round-trips)
    assert len({r["worker"] for r in b}) == 2         # both worker processes took cells
    # the records are real measurements: the limit-M rates match theory (C2/C3, 5 % like proofs.values)
    lim = [r["result"] for r in b if r["config"]["M"] == 0 and r["result"]["applicable"]]
    assert lim and all(x["rel_error"] < 0.05 for x in lim)


# ----------------------------------------------------------------------- killed worker


def test_killed_worker_loses_no_cell_and_writes_none_twice(tmp_path):
    n = 40
    spec = _write(tmp_path, "slow.toml", SLOW_CELLS.format(n=n, reps=6))
    store = str(tmp_path / "store")
    proc = _popen([spec, "--out", store, "--workers", "2"])
    try:
        first = _wait_for_records(store, 4, proc)
        victim = int(first[-1]["worker"].rsplit(":", 1)[1])      # a worker process, busy with cells
        os.kill(victim, signal.SIGKILL)
        killed_at = len(first)
        out, err = proc.communicate(timeout=PROC_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    recs = _lines(store)
    keys = [r["key"] for r in recs]
    assert len(keys) == n and len(set(keys)) == n               # every cell exactly once
    assert len(recs) > killed_at                                # work went on after the kill
    assert not os.path.exists(os.path.join(store, Store.FAILURES))
    # results are the cell's own values, whichever (new) worker computed them
    for r in recs:
        ref = studies.runner_check(**r["config"])
        assert r["result"]["checksum"] == ref["checksum"]


def test_poison_cell_that_kills_its_worker_is_recorded_as_failed(tmp_path):
    """A cell that takes its worker process down every time (like a segfault): Dask gives up
    on it (KilledWorker; allowed-failures = 0 here to keep the test short), the runner retries
    it a bounded number of times, records the failure and finishes the other cell."""
    spec = _write(tmp_path, "poison.toml", 'study = "runner-check"\nretries = 1\n'
                  '[grid]\nfail = ["never", "exit"]\n')
    store = str(tmp_path / "store")
    p = subprocess.Popen([sys.executable, "-c", CLI, spec, "--out", store, "--workers", "2",
                          "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=dict(_env(), DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0"))
    out, err = p.communicate(timeout=PROC_TIMEOUT)
    assert p.returncode == 1, err
    ok = load_results(store)
    assert [r["config"]["fail"] for r in ok] == ["never"]
    fails = [json.loads(x) for x in open(os.path.join(store, Store.FAILURES))]
    assert len(fails) == 1 and fails[0]["config"]["fail"] == "exit"
    assert fails[0]["attempts"] == 2 and "KilledWorker" in fails[0]["error"]


# ----------------------------------------------------------------------------- resume


def test_ctrl_c_then_rerun_computes_only_missing_cells(tmp_path):
    n = 30
    spec = _write(tmp_path, "slow.toml", SLOW_CELLS.format(n=n, reps=12))
    store = str(tmp_path / "store")
    proc = _popen([spec, "--out", store, "--workers", "2"])
    try:
        _wait_for_records(store, 4, proc)
        proc.send_signal(signal.SIGINT)                         # Ctrl-C
        proc.communicate(timeout=PROC_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    first = _lines(store)
    k1 = len(first)
    assert 4 <= k1 < n, f"interrupt came too late to test resume ({k1} of {n} done)"
    rc, _, err = _run([spec, "--out", store, "--workers", "2"])
    assert rc == 0, err
    recs = _lines(store)
    assert len(recs) == n and len({r["key"] for r in recs}) == n
    assert recs[:k1] == first                                    # append-only
    lines = [json.loads(x) for x in open(os.path.join(store, Store.RUNS))]
    runs = [r for r in lines if "todo" in r]
    ends = [r for r in lines if "ended" in r]
    assert [r["todo"] for r in runs] == [n, n - k1]
    assert [(r["interrupted"], r["ran"]) for r in ends] == [(True, k1), (False, n - k1)]
    second = {r["run"] for r in recs[k1:]}
    assert second == {runs[1]["run"]}                            # the rerun wrote only the rest


def test_crash_then_rerun_serial(tmp_path):
    """SIGKILL of the whole (serial) process: finished cells survive, a torn line is skipped."""
    n = 25
    spec = _write(tmp_path, "slow.toml", SLOW_CELLS.format(n=n, reps=4))
    store = str(tmp_path / "store")
    proc = _popen([spec, "--out", store, "--workers", "0"])
    try:
        _wait_for_records(store, 3, proc)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open(os.path.join(store, Store.RESULTS), "a") as fh:   # simulate a torn last write
        fh.write('{"key": "torn", "resu')
    k1 = len(load_results(store))
    assert 3 <= k1 < n
    rc, _, err = _run([spec, "--out", store, "--workers", "0"])
    assert rc == 0, err
    recs = load_results(store)
    assert len(recs) == n and len({r["key"] for r in recs}) == n
    runs = [json.loads(x) for x in open(os.path.join(store, Store.RUNS))]
    assert [r["todo"] for r in runs if "todo" in r] == [n, n - k1]


# ------------------------------------------------------------------------- bad files

BAD = {
    "unknown study": ('study = "no-such-study"\n', "unknown study 'no-such-study'"),
    "unknown parameter": ('study = "convergence-rate"\n[grid]\nwidth = [1, 2]\n',
                          "unknown parameter 'width'"),
    "empty grid": ('study = "convergence-rate"\n[grid]\nK = []\n', "empty grid"),
    "empty seeds": ('study = "convergence-rate"\nseeds = []\n', "empty grid"),
    "malformed TOML": ('study = "convergence-rate\n[grid\n', "malformed TOML"),
    "bad value": ('study = "convergence-rate"\n[grid]\nfamily = ["chain", "torus"]\n',
                  "'family'"),
    "grid and fixed": ('study = "convergence-rate"\n[grid]\nK = [1]\n[fixed]\nK = 2\n',
                       "both [grid] and [fixed]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sweep_file_one_line_exit_2(case, tmp_path, capsys):
    text, needle = BAD[case]
    spec = _write(tmp_path, "bad.toml", text)
    rc = _cli([spec, "--out", str(tmp_path / "out"), "--workers", "0", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("repdyn sweep: error:")
    assert needle in err
    assert not os.path.exists(tmp_path / "out")                  # nothing ran, no store


def test_bad_sweep_file_exit_code_in_a_process(tmp_path):
    spec = _write(tmp_path, "bad.toml", BAD["unknown study"][0])
    rc, out, err = _run([spec, "--out", str(tmp_path / "out")])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "unknown study" in err


# ----------------------------------------------------------------- grid, keys, store


def test_grid_expansion_defaults_and_keys(tmp_path):
    a = load_sweep(_write(tmp_path, "a.toml", 'study = "convergence-rate"\nseeds = [3, 4]\n'
                          '[grid]\nfamily = ["chain", "ring"]\nK = [1, 3, 1]\n[fixed]\ngamma = 0.8\n'))
    assert len(a.cells) == 2 * 2 * 2                             # the repeated K = 1 is one cell
    c = a.cells[0].config
    assert c == {"family": "chain", "n": 10, "K": 1, "M": 0, "gamma": 0.8, "seed": 3}
    # the key depends on the configuration, not on how the file spelled it
    b = load_sweep(_write(tmp_path, "b.toml", 'study = "convergence-rate"\n[fixed]\nK = 1\n'
                          'gamma = 0.8\nseed = 3\nfamily = "chain"\nn = 10\nM = 0\n'))
    assert b.cells[0].key == a.cells[0].key
    assert cell_key("convergence-rate", c, "0.0.0") != cell_key("convergence-rate", c, __version__)
    # the neural studies key their resolved configuration (library defaults filled in)
    e = load_sweep(_write(tmp_path, "e.toml", 'study = "E1"\nseeds = 2\n'))
    from repdyn.proofs.experiments import E1_CONFIG
    assert e.cells[1].config == {"seed": 1, "quick": True,
                                 **json.loads(json.dumps(E1_CONFIG[True]))}


def test_store_lock_and_torn_line(tmp_path):
    s1, s2 = Store(tmp_path), Store(tmp_path)
    s1.lock()
    with pytest.raises(ValueError, match="another sweep"):
        s2.lock()
    s1.append(Store.RESULTS, {"key": "a", "x": 1.0})
    with open(tmp_path / Store.RESULTS, "a") as fh:
        fh.write('{"key": "b", "x"')                             # torn by a crash
    s1.close()
    s3 = Store(tmp_path)
    s3.lock()                                                    # released by close()
    s3.append(Store.RESULTS, {"key": "c", "x": 0.1 + 0.2})
    s3.close()
    recs = load_results(tmp_path)
    assert [r["key"] for r in recs] == ["a", "c"]
    assert recs[1]["x"] == 0.1 + 0.2                             # exact float round trip


# ------------------------------------------------------------------- retries, report


def test_failures_recorded_and_retries_bounded(tmp_path, capsys):
    spec = _write(tmp_path, "f.toml", 'study = "runner-check"\nseeds = 3\nretries = 1\n'
                  '[grid]\nfail = ["never", "always"]\n')
    store = str(tmp_path / "s")
    assert _cli([spec, "--out", store, "--workers", "0", "--no-progress"]) == 1
    assert "failed" in capsys.readouterr().err
    ok = load_results(store)
    fails = [json.loads(x) for x in open(os.path.join(store, Store.FAILURES))]
    assert len(ok) == 3 and all(r["config"]["fail"] == "never" for r in ok)
    assert len(fails) == 3
    assert all(f["attempts"] == 2 and "deliberate failure" in f["error"] and f["traceback"]
               for f in fails)
    # a rerun retries the failed cells only (and they fail again)
    assert _cli([spec, "--out", store, "--workers", "0", "--no-progress"]) == 1
    assert len(load_results(store)) == 3
    # a cell that fails once succeeds on its retry: one record, attempts = 2
    marker = tmp_path / "marker"
    spec2 = _write(tmp_path, "once.toml", f'study = "runner-check"\n[fixed]\nfail = "once"\n'
                   f'marker = "{marker}"\n')
    assert _cli([spec2, "--out", store, "--workers", "0", "--no-progress"]) == 0
    rec = [r for r in load_results(store) if r["config"]["fail"] == "once"]
    assert len(rec) == 1 and rec[0]["attempts"] == 2


def test_report_aggregates_over_seeds(tmp_path, capsys):
    spec = _write(tmp_path, "r.toml", 'study = "convergence-rate"\nseeds = 3\n'
                  '[grid]\nfamily = ["chain", "reversible"]\nK = [1, 9]\n[fixed]\nn = 8\n')
    store = str(tmp_path / "s")
    assert _cli([spec, "--out", store, "--workers", "0", "--no-progress"]) == 0
    capsys.readouterr()
    assert _cli(["--report", store]) == 0
    table = capsys.readouterr().out
    assert "convergence-rate: 12 cells" in table and "reversible" in table
    with open(os.path.join(store, "report", "convergence-rate.csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    recs = load_results(store)
    for row in rows:
        mine = [r["result"] for r in recs if r["config"]["family"] == row["family"]
                and r["config"]["K"] == int(row["K"])]
        assert int(row["seeds"]) == 3
        ok = [m for m in mine if m["applicable"]]
        assert int(row["n/a"]) == 3 - len(ok)                    # K = 9 >= n - ... not applicable
        if ok:
            assert float(row["measured"]) == pytest.approx(np.mean([m["measured_rate"] for m in ok]),
                                                           rel=1e-12)
    assert os.path.getsize(os.path.join(store, "report", "convergence-rate.png")) > 1000
    assert _cli(["--report", str(tmp_path / "nothing")]) == 2
