"""
A sweep: a resumable grid of cells
==================================

``repdyn sweep SPEC.toml --out DIR`` expands a grid of parameters of a study in
:mod:`repdyn.studies` into cells, runs the cells not yet in the store ``DIR`` and appends one
JSON line per finished cell (rerunning resumes). It runs in this process (``--workers 0``), on
a fresh local Dask cluster (the default; ``pip install ".[sweep]"``), or on an **existing
Dask cluster**: start ``dask scheduler`` and ``dask worker tcp://host:8786 --nthreads 1`` on
the machines (each importing the same repdyn), then pass the scheduler's address::

    repdyn sweep my_sweep.toml --out runs/my_sweep --scheduler tcp://host:8786

Reference sweeps are in ``benchmarks/sweeps/``. Here a 4-cell convergence-rate sweep runs
serially, then on a Dask cluster started beforehand (standing in for yours), and the records
are compared: they are bit-identical whichever engine ran them.
"""
import os
import tempfile

from repdyn.sweep import load_results, load_sweep, report, run_sweep

folder = tempfile.mkdtemp()
spec = os.path.join(folder, "rates_tiny.toml")
with open(spec, "w") as fh:
    fh.write("""
study = "convergence-rate"
seeds = 1

[grid]
family = ["chain", "reversible"]
K = [1, 3]

[fixed]
n = 12
M = 0           # the M -> infinity limit (G = I)
gamma = 0.9
""")

out = os.path.join(folder, "runs")
summary = run_sweep(load_sweep(spec), out, workers=0, progress=False)
print({k: summary[k] for k in ("total", "ran", "finished", "engine")})

# %%
# Rerunning with the same store runs nothing: every cell is already there.
again = run_sweep(load_sweep(spec), out, workers=0, progress=False)
print({k: again[k] for k in ("total", "done_before", "ran")})

# %%
# The report, and the raw records (one dict per cell):
print(report(out))
print(load_results(out)[0])

# %%
# The same sweep on an existing Dask cluster: here a one-worker ``LocalCluster`` (in this
# process, so the example needs no worker start-up) started
# first, reached only through its address, exactly as ``--scheduler tcp://host:8786`` does.
try:
    from dask.distributed import LocalCluster
except ImportError:                       # the [sweep] extra is not installed
    LocalCluster = None

if LocalCluster is not None:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        out_dask = os.path.join(folder, "runs_dask")
        s2 = run_sweep(load_sweep(spec), out_dask, scheduler=cluster.scheduler_address,
                       progress=False)
    print(s2["engine"], "-", s2["finished"], "cells")

    def results_by_key(store):
        return {r["key"]: r["result"] for r in load_results(store)}

    print("identical records:", results_by_key(out) == results_by_key(out_dask))
