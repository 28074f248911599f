"""Start-up cost of the command: ``repdyn --help`` against ``python -c pass``, in one run.

Both are started as fresh interpreters, alternately, ``--repeat`` times; the table gives the
median and minimum wall time of each and their difference (the cost repdyn adds). It also
lists which heavy modules (numba, scipy, sympy, matplotlib) ``import repdyn`` and
``repdyn --help`` load: none, because the public API on :mod:`repdyn` is loaded lazily.
Target (issue 11): ``repdyn --help`` within 0.3 s of ``python -c pass``.

Run: ``python -m repdyn.benchmarks.bench_startup [--quick] [--repeat N] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("numba", "scipy", "sympy", "matplotlib")
PROBE = ("import contextlib, io, runpy, sys\nsys.argv = ['repdyn', '--help']\n"
         "with contextlib.redirect_stdout(io.StringIO()):\n"
         "    try:\n        runpy.run_module('repdyn', run_name='__main__')\n"
         "    except SystemExit:\n        pass\n"
         "print(','.join(m for m in {heavy!r} if m in sys.modules))")


def _time(cmd) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 repeats instead of 20")
    p.add_argument("--repeat", type=int, default=None)
    p.add_argument("--out", default="repdyn-bench",
                   help="folder for the JSON (default ./repdyn-bench, as `repdyn bench --out`)")
    a = p.parse_args(argv)
    n = a.repeat or (5 if a.quick else 20)
    py = sys.executable
    cmds = {"python -c pass": [py, "-c", "pass"], "repdyn --help": [py, "-m", "repdyn", "--help"],
            "python -c 'import repdyn'": [py, "-c", "import repdyn"]}
    times = {k: [] for k in cmds}
    for _ in range(n):                        # alternate, so machine load hits every command alike
        for k, c in cmds.items():
            times[k].append(_time(c))
    loaded = subprocess.run([py, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True,
                            check=True).stdout.strip()
    base = statistics.median(times["python -c pass"])
    print(f"start-up, {n} alternating runs each ({py})")
    print(f"{'command':28s} {'median s':>9s} {'min s':>7s} {'- pass (median)':>16s}")
    rows = []
    for k, ts in times.items():
        med = statistics.median(ts)
        rows.append(dict(command=k, median=med, min=min(ts), over_pass=med - base))
        print(f"{k:28s} {med:9.3f} {min(ts):7.3f} {med - base:16.3f}")
    diff = statistics.median(times["repdyn --help"]) - base
    print(f"repdyn --help costs {diff:.3f} s over python -c pass (target <= 0.3 s); heavy modules "
          f"loaded by repdyn --help: {loaded or 'none'}")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "bench_startup.json"), "w") as fh:
        json.dump(dict(repeat=n, rows=rows, help_minus_pass=diff, heavy_loaded=loaded.split(",")
                       if loaded else []), fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
