"""Throughput and per-cell overhead of ``repdyn sweep`` (issue 7).

Two measurements, each repeated (``--repeat``; the machine may be shared, so the spread is
printed with the median):

* **throughput**: ``N`` cells of ~1 s each (``runner-check``: 450 x 450 symmetric
  eigendecompositions, calibrated to ~1 s per cell first) on a LocalCluster of 2 worker
  processes against the same cells run serially in one process. Both runs are separate
  processes with OMP/OPENBLAS/MKL/NUMBA threads = 1 in their environment before numpy loads.
  Cells/s is measured over the cell phase (first submission to last record: without cluster
  start-up/shutdown and interpreter start; the ``end`` line of ``runs.jsonl``) and end to end
  (the whole command). Goal (issue 7): cell-phase ratio >= 1.7 on 2 cores.
* **overhead**: ``M`` tiny cells (``size = 8``, ~0.1 ms of work) on 2 workers and serially.
  Overhead per cell = ``workers x cell-phase seconds / M - mean cell seconds`` (the worker
  time the runner costs each cell: submission, scheduling, transfer, the fsync'ed record).
  Goal: <= 20 ms.
* **ceiling**: the same ~1 s cells as plain numpy (no repdyn, no Dask) in one process against
  two concurrent processes. On a machine shared with other jobs (or 2 vCPUs that are SMT
  siblings on the host) this can be far below 2; the runner's ratio divided by it is the
  runner's own efficiency.

Run: ``python -m repdyn.benchmarks.bench_sweep [--quick] [--repeat R] [--out DIR]``. Writes
``DIR/bench_sweep[_quick].json``. Needs dask.distributed (the ``[sweep]`` extra); without it
the benchmark says so and exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys; from repdyn.sweep import _cli; sys.exit(_cli(sys.argv[1:]))"
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1"}
#: Matrix size of the ~1 s cells; reps are calibrated to reach TARGET_CELL_SECONDS.
SIZE = 450
TARGET_CELL_SECONDS = 1.0


def _env():
    env = dict(os.environ, MPLBACKEND="Agg", **THREADS)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _calibrate() -> int:
    """reps of SIZE x SIZE eigh giving ~TARGET_CELL_SECONDS on one thread (in a subprocess)."""
    code = ("import time, numpy as np\n"
            f"A = np.random.default_rng(0).standard_normal(({SIZE}, {SIZE})); A = A + A.T\n"
            "np.linalg.eigvalsh(A); t = time.perf_counter()\n"
            "for _ in range(3): np.linalg.eigvalsh(A)\n"
            "print((time.perf_counter() - t) / 3)")
    one = float(subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                               text=True, check=True).stdout)
    return max(1, round(TARGET_CELL_SECONDS / one))


def _ceiling(reps, cells) -> float:
    """What the hardware gives right now: ``cells`` cells of plain numpy work in one process
    against the same work split over two concurrent processes (no repdyn, no Dask). Returns
    the speed-up; the runner's ratio cannot exceed it."""
    def code(k):
        return ("import time, numpy as np\n"
                f"A = np.random.default_rng(0).standard_normal(({SIZE}, {SIZE})); A = A + A.T\n"
                f"for _ in range({k * reps}): np.linalg.eigvalsh(A)\n")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code(cells)], env=_env(), check=True)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    ps = [subprocess.Popen([sys.executable, "-c", code(c)], env=_env())
          for c in (cells // 2, cells - cells // 2)]
    for q in ps:
        q.wait()
    two = time.perf_counter() - t0
    return one / two


def _sweep(spec_text, workers, tmp) -> dict:
    d = tempfile.mkdtemp(dir=tmp)
    spec = os.path.join(d, "sweep.toml")
    with open(spec, "w") as fh:
        fh.write(spec_text)
    store = os.path.join(d, "store")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CLI, spec, "--out", store, "--workers", str(workers),
                        "--no-progress"], cwd=str(ROOT), env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"sweep failed ({p.returncode}): {p.stderr[-2000:]}")
    runs = [json.loads(x) for x in open(os.path.join(store, "runs.jsonl"))]
    end = [r for r in runs if "ended" in r][-1]
    recs = [json.loads(x) for x in open(os.path.join(store, "results.jsonl"))]
    return {"wall": wall, "phase": end["cell_phase_seconds"], "cells": len(recs),
            "cell_seconds_mean": statistics.fmean(r["seconds"] for r in recs),
            "results": {r["key"]: r["result"] for r in recs}}


def _med(xs):
    return statistics.median(xs), min(xs), max(xs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="6 slow / 200 tiny cells, 1 repeat")
    p.add_argument("--repeat", type=int, default=None, help="repeats (default 3; --quick 1)")
    p.add_argument("--slow-cells", type=int, default=None, help="~1 s cells (default 16; quick 6)")
    p.add_argument("--tiny-cells", type=int, default=None, help="tiny cells (default 600; quick 200)")
    p.add_argument("--out", default="repdyn-bench",
                   help="folder for the JSON (default ./repdyn-bench, as `repdyn bench --out`)")
    a = p.parse_args(argv)
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        print("bench_sweep: skipped: dask.distributed is not installed (pip install 'repdyn[sweep]')")
        return 0
    repeat = a.repeat or (1 if a.quick else 3)
    n_slow = a.slow_cells or (6 if a.quick else 16)
    n_tiny = a.tiny_cells or (200 if a.quick else 600)
    reps = _calibrate()
    slow = f'study = "runner-check"\nseeds = {n_slow}\n[fixed]\nsize = {SIZE}\nreps = {reps}\n'
    tiny = f'study = "runner-check"\nseeds = {n_tiny}\n[fixed]\nsize = 8\nreps = 1\n'
    print(f"sweep runner: {n_slow} cells of ~{TARGET_CELL_SECONDS:g} s ({reps} x eigh {SIZE}x{SIZE}) "
          f"and {n_tiny} tiny cells; 2 workers vs serial, 1 thread per process; {repeat} repeat(s); "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared: noisy)")
    rows = []
    identical = True
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeat):
            s = _sweep(slow, 0, tmp)
            d = _sweep(slow, 2, tmp)
            identical &= s["results"] == d["results"]
            ceiling = _ceiling(reps, n_slow)
            ts = _sweep(tiny, 0, tmp)
            td = _sweep(tiny, 2, tmp)
            row = dict(
                repeat=r, cell_seconds_serial=s["cell_seconds_mean"],
                cell_seconds_workers=d["cell_seconds_mean"],
                serial_cells_per_s=n_slow / s["phase"], workers_cells_per_s=n_slow / d["phase"],
                serial_cells_per_s_end_to_end=n_slow / s["wall"],
                workers_cells_per_s_end_to_end=n_slow / d["wall"],
                tiny_overhead_ms_workers=1e3 * (2 * td["phase"] / n_tiny - td["cell_seconds_mean"]),
                tiny_wall_ms_per_cell_workers=1e3 * td["phase"] / n_tiny,
                tiny_overhead_ms_serial=1e3 * (ts["phase"] / n_tiny - ts["cell_seconds_mean"]),
                load_average=os.getloadavg()[0])
            row["ratio"] = row["workers_cells_per_s"] / row["serial_cells_per_s"]
            row["hardware_ceiling"] = ceiling
            row["runner_efficiency"] = row["ratio"] / ceiling
            row["ratio_end_to_end"] = (row["workers_cells_per_s_end_to_end"]
                                       / row["serial_cells_per_s_end_to_end"])
            rows.append(row)
            print(f"  repeat {r}: mean cell {s['cell_seconds_mean']:.2f} s serial / "
                  f"{d['cell_seconds_mean']:.2f} s on workers; cells/s serial {row['serial_cells_per_s']:.3f}, "
                  f"2 workers {row['workers_cells_per_s']:.3f}, ratio {row['ratio']:.2f} "
                  f"(end to end {row['ratio_end_to_end']:.2f}; plain numpy in 2 processes: "
                  f"{ceiling:.2f}); tiny-cell overhead "
                  f"{row['tiny_overhead_ms_workers']:.1f} ms (2 workers), "
                  f"{row['tiny_overhead_ms_serial']:.2f} ms (serial); load {row['load_average']:.1f}")
    ratio = _med([x["ratio"] for x in rows])
    e2e = _med([x["ratio_end_to_end"] for x in rows])
    ceil = _med([x["hardware_ceiling"] for x in rows])
    eff = _med([x["runner_efficiency"] for x in rows])
    ov = _med([x["tiny_overhead_ms_workers"] for x in rows])
    ovs = _med([x["tiny_overhead_ms_serial"] for x in rows])
    print(f"throughput ratio 2 workers / serial (cell phase): median {ratio[0]:.2f} "
          f"[{ratio[1]:.2f}, {ratio[2]:.2f}] (goal >= 1.7); end to end {e2e[0]:.2f} "
          f"[{e2e[1]:.2f}, {e2e[2]:.2f}]")
    print(f"the same work as plain numpy in 2 concurrent processes vs 1 (what the machine gives "
          f"now): median {ceil[0]:.2f} [{ceil[1]:.2f}, {ceil[2]:.2f}]; runner ratio / that: "
          f"median {eff[0]:.2f}")
    print(f"per-cell runner overhead, tiny cells: 2 workers median {ov[0]:.1f} ms "
          f"[{ov[1]:.1f}, {ov[2]:.1f}] (goal <= 20 ms); serial {ovs[0]:.2f} ms")
    print(f"records identical between serial and 2-worker runs: {identical}")
    res = dict(benchmark="bench_sweep", quick=a.quick, repeat=repeat, slow_cells=n_slow,
               tiny_cells=n_tiny, reps=reps, size=SIZE, rows=rows, ratio_median=ratio[0],
               ratio_end_to_end_median=e2e[0], hardware_ceiling_median=ceil[0],
               runner_efficiency_median=eff[0], overhead_ms_median=ov[0],
               overhead_serial_ms_median=ovs[0], identical=identical,
               machine=platform.machine(), cpus=os.cpu_count())
    os.makedirs(a.out, exist_ok=True)
    path = Path(a.out) / f"bench_sweep{'_quick' if a.quick else ''}.json"
    path.write_text(json.dumps(res, indent=1))
    print(f"wrote {path}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
