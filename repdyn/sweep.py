"""``repdyn sweep``: a resumable grid runner on dask.distributed (issue 7).

A sweep file (TOML) names a study of :mod:`repdyn.studies` and a grid::

    study = "convergence-rate"
    seeds = 5                       # or a list, e.g. [0, 1, 7]; fills the parameter `seed`
    retries = 2                     # optional: extra attempts for a cell that raises (default 2)
    [grid]                          # every list expands: the cells are the product
    family = ["chain", "reversible"]
    K = [1, 2]
    [fixed]                         # scalars (or list-valued parameters) used as they are
    gamma = 0.9

``run_sweep`` expands it into cells (every parameter, defaults filled and resolved by the
study), keys each cell by ``sha256(study, config, repdyn version)``, skips the keys already
in the store, and runs the rest: in this process (``workers=0``), on a fresh
``dask.distributed.LocalCluster`` of worker processes (the default), or on an existing Dask
cluster (``scheduler="tcp://..."``). Dask is the engine; nothing here schedules.

The store (directory ``out``)
    ``results.jsonl``   one JSON object per finished cell, exactly once per key;
    ``failures.jsonl``  one per cell that still failed after its retries (error + traceback);
    ``runs.jsonl``      two lines per invocation: its start (sweep file, cell counts, engine)
                        and its end (cells written, failures, seconds), same ``run`` id.
    Load with ``pandas.read_json("out/results.jsonl", lines=True)`` or
    :func:`load_results`. Why JSON Lines: one file a researcher loads in one line with no extra
    dependency (Parquet would need pyarrow and cannot be appended to a record at a time);
    a record is written with a *single* ``write`` on an ``O_APPEND`` descriptor and then
    ``fsync``-ed, by the client process only, so a record is either wholly in the file or not
    at all (a crash can at worst leave a torn last line, which readers skip and the next run
    terminates with a newline before appending); per-cell files would be equally atomic but
    give tens of thousands of files on a cluster file system. Workers never touch the store:
    a worker killed mid-cell loses only its unfinished cell, which Dask reschedules; the
    client writes a key once and remembers it, so no cell is written twice. A lock file keeps
    two sweeps from writing the same store at once.

Determinism: workers are started with BLAS/OpenMP/numba pinned to one thread
(:data:`repdyn.studies.THREAD_ENV`, set before the worker processes spawn) and
:func:`repdyn.studies.pin_threads` enforces the BLAS limit at run time on every worker (also
on an existing cluster's); the serial engine limits BLAS to one thread for the duration of the
sweep (threadpoolctl) and restores it after. A record is then bit-identical whichever worker
ran it (tested: serial vs 2 local workers, and by hand on an external cluster).

On an existing cluster the scheduler and every worker must import the same repdyn (the
scheduler unpickles the task graph, which names :func:`repdyn.studies.execute_cell`); a
worker whose version differs has its cells recorded as failed. Checked by hand with
``dask scheduler`` + ``dask worker --nworkers 2 --nthreads 1``: the 56-cell test sweep gave
records identical to the serial run.

This module imports dask only inside the functions that need it; ``--report`` and the serial
engine work without the ``[sweep]`` extra.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import itertools
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from repdyn.analysis.errors import SweepFileError
from repdyn.store import Store, _read_jsonl, load_results

__all__ = ["SweepFileError", "Sweep", "Cell", "load_sweep", "cell_key", "Store", "load_results",
           "run_sweep", "report", "add_parser", "main", "DEFAULT_RETRIES"]

#: Extra attempts for a cell that raises (a cell is tried at most 1 + retries times).
DEFAULT_RETRIES = 2
#: Futures in flight per worker thread: enough to hide the client round trip for tiny cells,
#: few enough that a 10^5-cell sweep does not sit in the scheduler's memory at once.
IN_FLIGHT_PER_THREAD = 16
#: Exit codes of ``repdyn sweep``.
EXIT_OK, EXIT_FAILED, EXIT_BAD_FILE, EXIT_INTERRUPTED = 0, 1, 2, 130

EPILOG = """examples:
  repdyn sweep benchmarks/sweeps/rates_small.toml --out runs/rates          (local cluster)
  repdyn sweep rates.toml --out runs/rates --workers 2
  repdyn sweep rates.toml --out runs/rates --scheduler tcp://10.0.0.5:8786  (existing cluster)
  repdyn sweep --report runs/rates          (tables, CSV and PNG under runs/rates/report)
Rerun the same command to resume: finished cells are skipped.
Sweep file (TOML):
  study = "convergence-rate"      # repdyn.studies.STUDIES
  seeds = 5                       # or [0, 1, 7]
  [grid]                          # lists expand to their product
  family = ["chain", "ring"]
  K = [1, 3]
  [fixed]
  gamma = 0.9
exit codes: 0 every cell finished, 1 some cells failed after retries, 2 bad sweep file,
130 interrupted (rerun to resume)"""




@dataclass(frozen=True)
class Cell:
    key: str
    study: str
    config: dict


@dataclass(frozen=True)
class Sweep:
    path: str
    study: str
    cells: tuple
    retries: int


_TOP_KEYS = ("study", "seeds", "retries", "grid", "fixed", "description")


def cell_key(study: str, config: dict, version: str | None = None) -> str:
    """``sha256`` of the canonical JSON of (study, full config, package version)."""
    if version is None:
        from repdyn import __version__ as version
    blob = json.dumps({"study": study, "config": config, "version": version}, sort_keys=True,
                      separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def load_sweep(path) -> Sweep:
    """Parse and expand a sweep file; :class:`SweepFileError` (one line) if it cannot run."""
    import tomllib
    from repdyn import studies

    path = os.fspath(path)
    where = os.path.basename(path)
    try:
        with open(path, "rb") as fh:
            spec = tomllib.load(fh)
    except FileNotFoundError:
        raise SweepFileError(f"{path}: no such sweep file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepFileError(f"{where}: malformed TOML: {' '.join(str(exc).split())}") from None
    bad = [k for k in spec if k not in _TOP_KEYS]
    if bad:
        raise SweepFileError(f"{where}: unknown key {bad[0]!r} at top level "
                             f"(allowed: {', '.join(_TOP_KEYS)})")
    if "study" not in spec:
        raise SweepFileError(f"{where}: missing 'study' (known: {', '.join(sorted(studies.STUDIES))})")
    try:
        study = studies.get_study(spec["study"])
    except ValueError as exc:
        raise SweepFileError(f"{where}: {exc}") from None
    grid = spec.get("grid", {})
    fixed = spec.get("fixed", {})
    for name, tbl in (("grid", grid), ("fixed", fixed)):
        if not isinstance(tbl, dict):
            raise SweepFileError(f"{where}: [{name}] must be a table, got {type(tbl).__name__}")
    for k in list(grid) + list(fixed):
        if k not in study.params:
            raise SweepFileError(f"{where}: unknown parameter {k!r} for study {study.name!r} "
                                 f"(known: {', '.join(study.params)})")
    both = sorted(set(grid) & set(fixed))
    if both:
        raise SweepFileError(f"{where}: parameter {both[0]!r} is in both [grid] and [fixed]")
    for k, v in grid.items():
        if not isinstance(v, list):
            raise SweepFileError(f"{where}: grid.{k} must be a list (put single values in [fixed])")
        if len(v) == 0:
            raise SweepFileError(f"{where}: empty grid: grid.{k} is an empty list (no cells)")
    axes = dict(grid)
    if "seeds" in spec:
        s = spec["seeds"]
        if "seed" in grid or "seed" in fixed:
            raise SweepFileError(f"{where}: give seeds either as 'seeds' or as parameter 'seed', not both")
        if isinstance(s, int) and not isinstance(s, bool):
            if s < 1:
                raise SweepFileError(f"{where}: empty grid: seeds = {s} (need >= 1)")
            s = list(range(s))
        if not isinstance(s, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                              for x in s):
            raise SweepFileError(f"{where}: seeds must be a count >= 1 or a list of integers >= 0")
        if len(s) == 0:
            raise SweepFileError(f"{where}: empty grid: seeds is an empty list (no cells)")
        axes["seed"] = s
    retries = spec.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise SweepFileError(f"{where}: retries must be an integer >= 0, got {retries!r}")
    from repdyn import __version__
    cells, seen = [], set()
    names = list(axes)
    for values in itertools.product(*(axes[k] for k in names)):
        params = dict(fixed)
        params.update(zip(names, values))
        try:
            cfg = studies.full_config(study, params)
        except ValueError as exc:
            raise SweepFileError(f"{where}: {' '.join(str(exc).split())} (cell {params})") from None
        key = cell_key(study.name, cfg, __version__)
        if key not in seen:               # a repeated grid value is one cell
            seen.add(key)
            cells.append(Cell(key, study.name, cfg))
    return Sweep(path, study.name, tuple(cells), retries)


# ================================================================================== runner

def _progress(total, initial):
    from tqdm import tqdm
    tty = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, file=sys.stderr, unit="cell", dynamic_ncols=True,
                mininterval=0.2 if tty else 10.0, desc="sweep", smoothing=0.1)


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


class _Interrupt:
    """SIGINT (Ctrl-C) deferred while a record is being written and counted.

    Python runs signal handlers in the main thread between bytecodes, so a plain
    KeyboardInterrupt could land between the ``write`` of a record and the bookkeeping that
    counts it. Inside :meth:`section` the handler only notes the signal; it is raised on exit.
    """

    def __init__(self):
        self.critical = False
        self.pending = False
        self.previous = None

    def _handler(self, signum, frame):
        if self.critical:
            self.pending = True
        else:
            raise KeyboardInterrupt

    def install(self):
        import signal
        import threading
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)

    def restore(self):
        import signal
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    @contextlib.contextmanager
    def section(self):
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt


class _Loop:
    """Bookkeeping shared by both engines: records, retries, progress."""

    def __init__(self, store, sweep, todo, done_before, run_id, progress):
        self.store, self.sweep, self.run_id = store, sweep, run_id
        self.attempts = {c.key: 0 for c in todo}
        self.written = set()
        self.failed = []
        self.bar = _progress(len(sweep.cells), done_before) if progress else None
        self.errors = 0
        self.t_start = self.t_end = None
        self.interrupt = _Interrupt()

    def finish(self, cell: Cell, out: dict) -> Cell | None:
        """Handle one attempt's outcome; returns the cell if it should be tried again."""
        from repdyn import __version__
        self.attempts[cell.key] += 1
        if out.get("status") == "ok" and out.get("version") != __version__:
            out = dict(out, status="error", error=f"worker runs repdyn {out.get('version')}, "
                       f"client {__version__}: install the same version on every worker")
        if out.get("status") == "ok":
            if cell.key not in self.written:  # a key is written once, whatever happens
                with self.interrupt.section():
                    self._write_result(cell, out)
            self._tick()
            return None
        self.errors += 1
        if self.attempts[cell.key] <= self.sweep.retries:
            self._postfix()
            return cell
        with self.interrupt.section():
            self.store.append(Store.FAILURES, {
                "key": cell.key, "study": cell.study, "config": cell.config, "version": __version__,
                "error": out.get("error"), "traceback": out.get("traceback"),
                "attempts": self.attempts[cell.key], "worker": out.get("worker"), "run": self.run_id,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            self.failed.append((cell, out.get("error")))
        self._tick()
        return None

    def _write_result(self, cell, out):
        from repdyn import __version__
        self.store.append(Store.RESULTS, {
            "key": cell.key, "study": cell.study, "config": cell.config,
            "version": __version__, "result": out["result"], "seconds": out["seconds"],
            "attempts": self.attempts[cell.key], "worker": out.get("worker"),
            "run": self.run_id, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self.written.add(cell.key)

    def _postfix(self):
        if self.bar is not None:
            self.bar.set_postfix(failed=len(self.failed), retried=self.errors, refresh=False)

    def _tick(self):
        if self.bar is not None:
            self._postfix()
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _run_serial(loop, todo, progress=True):
    """Run the cells in this process, BLAS limited to one thread for the duration only."""
    from repdyn.studies import execute_cell
    try:
        import threadpoolctl
        limit = threadpoolctl.threadpool_limits(limits=1)
    except ImportError:
        limit = contextlib.nullcontext()
        if progress:
            _log("repdyn sweep: warning: threadpoolctl is not installed; BLAS runs on one thread "
                 "only if OPENBLAS_NUM_THREADS/OMP_NUM_THREADS=1 were set before this process started")
    with limit:
        queue = list(todo)
        while queue:
            cell = queue.pop(0)
            again = loop.finish(cell, execute_cell(cell.study, cell.config, pin=False))
            if again is not None:
                queue.append(again)


def _run_dask(loop, todo, client):
    from dask.distributed import as_completed
    from repdyn.studies import execute_cell

    nthreads = max(1, sum(client.nthreads().values()))
    window = IN_FLIGHT_PER_THREAD * nthreads
    pending = iter(todo)
    by_key = {}
    # results are gathered in the client's background thread; an errored future (e.g.
    # KilledWorker after repeated worker deaths) comes back with its exception
    ac = as_completed(with_results=True, raise_errors=False)

    def submit(cell):
        k = f"cell-{cell.key[:20]}-{loop.attempts[cell.key]}"
        fut = client.submit(execute_cell, cell.study, cell.config, key=k, pure=False, retries=0)
        by_key[fut.key] = cell
        ac.add(fut)

    for cell in itertools.islice(pending, window):
        submit(cell)
    for fut, out in ac:
        cell = by_key.pop(fut.key)
        if fut.status == "error" or not isinstance(out, dict):
            exc = out[1] if isinstance(out, tuple) and len(out) == 3 else out
            out = {"status": "error", "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
        fut.release()
        again = loop.finish(cell, out)
        if again is not None:
            submit(again)
        nxt = next(pending, None)
        if nxt is not None:
            submit(nxt)


def _worker_setup() -> dict:
    """Run once on every worker: import the studies, pin threads, report what is set."""
    from repdyn import __version__
    from repdyn.studies import pin_threads
    info = pin_threads()
    try:
        import threadpoolctl
        n = max((d["num_threads"] for d in threadpoolctl.threadpool_info()
                 if d.get("user_api") == "blas"), default=None)
    except ImportError:
        n = os.environ.get("OPENBLAS_NUM_THREADS")
    return {"version": __version__, "blas_threads": n, "pid": os.getpid(), **info}


def _start_cluster(workers):
    """A LocalCluster of single-threaded worker processes with pinned thread environment."""
    import logging
    import dask
    from dask.distributed import Client, LocalCluster
    from repdyn.studies import THREAD_ENV

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    env.update(THREAD_ENV)
    # pre-spawn-environ is read when each Nanny is created and applied before every (re)spawn
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    return cluster, Client(cluster)


def run_sweep(sweep: Sweep, out, *, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> dict:
    """Run the cells of ``sweep`` not yet in store ``out``; returns a summary dict.

    ``workers = 0``: serial, in this process. Else a LocalCluster of ``workers`` processes
    (default: the CPU count), or the cluster at ``scheduler``. Summary keys: ``total``,
    ``done_before``, ``ran``, ``finished``, ``failed`` (list of (config, error)),
        ``interrupted``, ``seconds`` (all of it), ``cell_phase_seconds`` (from the first
    submission to the last record: without cluster start-up and shutdown), ``engine``, ``run``.
    Raises ``ValueError`` when the store is locked by another sweep, the scheduler cannot be
    reached, or its workers cannot import repdyn.
    """
    from repdyn import __version__

    store = Store(out)
    store.lock()
    run_id = uuid.uuid4().hex[:12]
    t0 = time.perf_counter()
    try:
        finished = store.finished_keys()
        todo = [c for c in sweep.cells if c.key not in finished]
        done_before = len(sweep.cells) - len(todo)
        engine = ("serial" if workers == 0 else f"scheduler {scheduler}" if scheduler
                  else f"local cluster, {workers or os.cpu_count()} worker processes")
        if progress:
            _log(f"repdyn sweep: {sweep.study}: {len(sweep.cells)} cells, {done_before} already in "
                 f"{store.path}, running {len(todo)} ({engine})")
        store.append(Store.RUNS, {"run": run_id, "sweep": os.path.abspath(sweep.path),
                                  "study": sweep.study, "cells": len(sweep.cells),
                                  "todo": len(todo), "engine": engine, "version": __version__,
                                  "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        loop = _Loop(store, sweep, todo, done_before, run_id, progress)
        interrupted = False
        cluster = client = None
        loop.interrupt.install()
        try:
            if todo and workers == 0:
                loop.t_start = time.perf_counter()
                _run_serial(loop, todo, progress)
            elif todo:
                if scheduler:
                    from dask.distributed import Client
                    try:
                        client = Client(scheduler, timeout="20s")
                    except (OSError, TimeoutError) as exc:
                        raise ValueError(f"--scheduler {scheduler}: cannot connect "
                                         f"({type(exc).__name__}: {exc})") from None
                else:
                    cluster, client = _start_cluster(workers or os.cpu_count() or 1)
                try:                                # imports + thread pin, once per worker
                    info = client.run(_worker_setup)
                except Exception as exc:
                    raise ValueError(f"the Dask workers cannot run repdyn cells ({type(exc).__name__}: "
                                     f"{exc}); install the same repdyn on every worker") from None
                if progress:
                    _log(f"repdyn sweep: {len(info)} workers ready; BLAS threads per worker: "
                         f"{sorted({str(v['blas_threads']) for v in info.values()})}")
                loop.t_start = time.perf_counter()
                _run_dask(loop, todo, client)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            loop.t_end = time.perf_counter()
            loop.interrupt.restore()
            loop.close()
            if client is not None:
                try:
                    client.close(timeout=10)
                except Exception:
                    pass
            if cluster is not None:
                try:
                    cluster.close(timeout=10)
                except Exception:
                    pass
        summary = {"total": len(sweep.cells), "done_before": done_before, "ran": len(loop.written),
                   "finished": done_before + len(loop.written),
                   "failed": [(c.config, e) for c, e in loop.failed], "interrupted": interrupted,
                   "seconds": time.perf_counter() - t0, "engine": engine, "run": run_id,
                   "cell_phase_seconds": (loop.t_end - loop.t_start) if loop.t_start else 0.0}
        store.append(Store.RUNS, {"run": run_id, "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  **{k: summary[k] for k in ("ran", "interrupted", "seconds",
                                                             "cell_phase_seconds")},
                                  "failed": len(loop.failed)})
        return summary
    finally:
        store.close()


# ================================================================================== report

def _flatten(d, prefix=""):
    """Scalar leaves of a result: nested keys joined by '.', lists of numbers -> [0] and [-1]."""
    out = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, name + "."))
        elif isinstance(v, bool):
            out[name] = float(v)
        elif isinstance(v, (int, float)):
            out[name] = float(v)
        elif isinstance(v, list) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                               for x in v):
            out[name + "[0]"] = float(v[0])
            out[name + "[-1]"] = float(v[-1])
    return out


def _group(records, drop=("seed",)):
    """Group records by their configuration without ``drop``: {config-json: [records]}."""
    groups = {}
    for r in records:
        cfg = {k: v for k, v in r["config"].items() if k not in drop}
        groups.setdefault(json.dumps(cfg, sort_keys=True), []).append(r)
    return groups


def _stats(vals):
    import numpy as np
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size)


def _fmt_table(header, rows) -> str:
    cells = [header] + [[("" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x))
                         for x in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r)) for r in cells]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def _report_rates(records, folder) -> str:
    """Measured vs predicted rate per (family, n, K, M, gamma), spread over seeds."""
    header = ["family", "n", "n_states", "K", "M", "gamma", "seeds", "n/a", "predicted",
              "measured", "measured_sd", "rel_err_mean", "rel_err_max"]
    rows, pts = [], []
    for cfg_json, recs in sorted(_group(records).items()):
        cfg = json.loads(cfg_json)
        res = [r["result"] for r in recs]
        ok = [x for x in res if x.get("applicable") and x.get("measured_rate") is not None]
        pm = _stats([x["predicted_rate"] for x in ok])
        mm = _stats([x["measured_rate"] for x in ok])
        rel = [x["rel_error"] for x in ok]
        rows.append([cfg["family"], cfg["n"], res[0].get("n_states"), cfg["K"], cfg["M"],
                     cfg["gamma"], len(recs), len(res) - len(ok), pm[0], mm[0], mm[1],
                     _stats(rel)[0], max(rel) if rel else None])
        pts.extend((cfg["family"], x["predicted_rate"], x["measured_rate"]) for x in ok)
    with open(os.path.join(folder, "convergence-rate.csv"), "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(header)
        wr.writerows(rows)
    if pts:
        import matplotlib
        if "matplotlib.pyplot" not in sys.modules:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5.5, 5))
        fams = sorted({p[0] for p in pts})
        for f in fams:
            x = [p[1] for p in pts if p[0] == f]
            y = [p[2] for p in pts if p[0] == f]
            ax.scatter(x, y, s=14, label=f, alpha=0.7)
        lo = min(min(p[1], p[2]) for p in pts) * 0.8
        hi = max(max(p[1], p[2]) for p in pts) * 1.25
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="measured = predicted")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"predicted rate $d_{min}\,\gamma\,(\lambda_K-\lambda_{K+1})$")
        ax.set_ylabel("measured rate")
        ax.set_title("Alignment rate to the EBFs, one point per cell")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(folder, "convergence-rate.png"), dpi=120)
        plt.close(fig)
    return _fmt_table(header, rows)


def _report_generic(study, records, folder, max_cols=6) -> str:
    """Mean and sd over seeds of every scalar in the results, per configuration."""
    groups = _group(records)
    metrics = []
    for r in records:
        for k in _flatten(r["result"]):
            if k not in metrics:
                metrics.append(k)
    varying = sorted({k for g in groups for k in json.loads(g)
                      if len({json.dumps(json.loads(h).get(k)) for h in groups}) > 1})
    header = varying + ["seeds"] + [f"{m} {s}" for m in metrics for s in ("mean", "sd")]
    rows = []
    for cfg_json, recs in sorted(groups.items()):
        cfg = json.loads(cfg_json)
        flat = [_flatten(r["result"]) for r in recs]
        row = [json.dumps(cfg.get(k)) if isinstance(cfg.get(k), (list, dict)) else cfg.get(k)
               for k in varying]
        row.append(len(recs))
        for m in metrics:
            mu, sd, _ = _stats([f.get(m) for f in flat])
            row += [mu, sd]
        rows.append(row)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in study)
    with open(os.path.join(folder, f"{safe}.csv"), "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(header)
        wr.writerows(rows)
    shown = len(varying) + 1 + 2 * min(max_cols, len(metrics))
    note = (f"\n({len(metrics)} metrics; the first {min(max_cols, len(metrics))} shown, all in "
            f"{safe}.csv)" if len(metrics) > max_cols else "")
    return _fmt_table(header[:shown], [r[:shown] for r in rows]) + note


def report(path, out=None) -> str:
    """Aggregate store ``path`` into tables (printed), CSV and PNG under ``path/report``.

    ``convergence-rate``: measured vs predicted rate per family / n / K / M with the mean and
    spread over seeds (``convergence-rate.csv``, ``convergence-rate.png``). Other studies:
    mean and sd over seeds of every scalar result, per configuration (``<study>.csv``).
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"--report {path}: no such directory")
    records = load_results(path)
    if not records:
        raise ValueError(f"--report {path}: no finished cells in {os.path.join(path, Store.RESULTS)}")
    folder = os.fspath(out) if out else os.path.join(path, "report")
    os.makedirs(folder, exist_ok=True)
    parts = []
    for study in sorted({r["study"] for r in records}):
        recs = [r for r in records if r["study"] == study]
        body = (_report_rates(recs, folder) if study == "convergence-rate"
                else _report_generic(study, recs, folder))
        parts.append(f"== {study}: {len(recs)} cells ==\n{body}")
    fails = _read_jsonl(os.path.join(path, Store.FAILURES))
    done = {r["key"] for r in records}
    open_fail = {f["key"]: f for f in fails if f["key"] not in done}
    if open_fail:
        parts.append(f"{len(open_fail)} cells failed and have no result (see {Store.FAILURES}); "
                     "rerun the sweep to retry them")
    text = "\n\n".join(parts)
    with open(os.path.join(folder, "report.txt"), "w") as fh:
        fh.write(text + "\n")
    return text


# ===================================================================================== CLI

def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to an ``argparse`` subparsers object; returns it."""
    help_ = "run a grid of cells of a study on Dask, resumably (or --report an existing store)"
    p = subparsers.add_parser("sweep", help=help_, description=help_, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", default=None, metavar="SWEEP.toml", help="the sweep file")
    p.add_argument("--out", default=None, metavar="DIR", help="the store (created; reused to resume)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of an existing Dask scheduler, e.g. tcp://host:8786 "
                        "(default: start a local cluster)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the local cluster (default: CPU count; 0: run "
                        "serially in this process, no Dask needed)")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="aggregate the store DIR into tables, CSV and PNG (DIR/report)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(args) -> int:
    """Run ``repdyn sweep`` from parsed ``args``; returns the exit code (see EPILOG)."""
    def err(msg):
        print(f"repdyn sweep: error: {' '.join(str(msg).split())}", file=sys.stderr)
        return EXIT_BAD_FILE

    if args.spec is None and args.report is None:
        return err("give a sweep file (SWEEP.toml --out DIR) or --report DIR")
    code = EXIT_OK
    if args.spec is not None:
        if args.out is None:
            return err("--out DIR is required with a sweep file")
        if args.workers is not None and args.workers < 0:
            return err(f"--workers must be >= 0, got {args.workers}")
        if args.scheduler and args.workers is not None:
            return err("give --scheduler or --workers, not both")
        try:
            sweep = load_sweep(args.spec)
        except SweepFileError as exc:
            return err(exc)
        if args.workers != 0:
            try:
                import dask.distributed  # noqa: F401
            except ImportError:
                return err("dask.distributed is not installed: pip install 'repdyn[sweep]', "
                           "or run serially with --workers 0")
        try:
            s = run_sweep(sweep, args.out, workers=args.workers, scheduler=args.scheduler,
                          progress=not args.no_progress)
        except ValueError as exc:             # e.g. the store is locked by another sweep
            return err(exc)
        _log(f"repdyn sweep: {s['finished']} of {s['total']} cells finished ({s['ran']} this run, "
             f"{s['seconds']:.1f} s), {len(s['failed'])} failed after retries; store {args.out}")
        for cfg, e in s["failed"][:5]:
            _log(f"  failed: {cfg}: {e}")
        if s["interrupted"]:
            _log("repdyn sweep: interrupted; rerun the same command to resume")
            return EXIT_INTERRUPTED
        code = EXIT_FAILED if s["failed"] else EXIT_OK
    if args.report is not None:
        try:
            print(report(args.report))
        except ValueError as exc:
            return err(exc)
    return code


def _cli(argv=None) -> int:
    """Stand-alone entry: ``python -c 'import sys; from repdyn.sweep import _cli;
    sys.exit(_cli(sys.argv[1:]))' SWEEP.toml --out DIR`` (until ``repdyn sweep`` is wired)."""
    parser = argparse.ArgumentParser(prog="repdyn")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["sweep", *(argv if argv is not None else sys.argv[1:])])
    return main(args)


if __name__ == "__main__":
    sys.exit(_cli())
