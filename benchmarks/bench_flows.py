"""Speed of the jitted ensemble flows against a plain-numpy RK4 loop, in one process (docs: theory/c5).

Heads under scaling (i) (alpha = 1/M, sigma^2 = 1, so G ~ I and RK4 is stable at dt = 0.01).
The numpy loop is the one a researcher writes, with the right-hand side
``alpha * (R[:, None] + (gamma P - I) @ Phi @ W) @ W.T`` (and ``beta * Phi.T @ E`` for learned
heads), O(n K M) per evaluation. The kernels sum the heads out (fixed heads: G = alpha W W^T,
s = alpha W 1, O(n^2 K + n K^2) per evaluation; learned: O(n^2 K + n K^2 + K^2 M)).

Cases (targets from the issue):
  fixed heads   n = 64, K = 8, M = 4096, 1e4 steps: kernel >= 20x faster
  learned heads n = 64, K = 8, M = 256,  1e4 steps: kernel >= 1.5x faster
Accuracy: fixed heads against the exact finite-M solution (analysis.closed_form.ensemble_features,
max over 11 times along the run)
<= 1e-8 (max abs error relative to max |Phi|); learned heads against the numpy loop.

Usage: ``python -m repdyn.benchmarks.bench_flows [--quick] [--out DIR]`` (``--quick``: 1e3 steps).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

TARGET_FIXED = 20.0
TARGET_LEARNED = 1.5
ACCURACY = 1e-8


def _numpy_rk4(P, R, gamma, Phi0, W, alpha, beta, dt, n_steps):
    """The researcher's loop: RK4 on (Phi, W) with the O(n K M) right-hand side."""
    n = P.shape[0]
    Aneg = gamma * P - np.eye(n)
    Rc = R[:, None]

    def f(Phi, W):
        E = Rc + Aneg @ Phi @ W
        return alpha * E @ W.T, (beta * Phi.T @ E if beta else 0.0)

    Phi, W = Phi0.copy(), W.copy()
    h = dt
    for _ in range(n_steps):
        a1, b1 = f(Phi, W)
        a2, b2 = f(Phi + 0.5 * h * a1, W + 0.5 * h * b1)
        a3, b3 = f(Phi + 0.5 * h * a2, W + 0.5 * h * b2)
        a4, b4 = f(Phi + h * a3, W + h * b3)
        Phi = Phi + h / 6.0 * (a1 + 2 * a2 + 2 * a3 + a4)
        if beta:
            W = W + h / 6.0 * (b1 + 2 * b2 + 2 * b3 + b4)
    return Phi, W


def _best(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _blas_limit(threads):
    """Context limiting BLAS threads (threadpoolctl, if installed), so that the numpy loop and
    the kernels (whose np.dot calls also go to BLAS) run on the same number of cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                           # pragma: no cover - optional
        import contextlib
        return contextlib.nullcontext(), "default (threadpoolctl not installed)"
    return threadpool_limits(threads, user_api="blas"), str(threads)


def run(quick: bool = False, seed: int = 0, blas_threads: int = 1) -> dict:
    # Load both OpenBLAS copies first (numpy's ILP64 one, and scipy's LP64 one that numba's
    # np.dot calls through scipy.linalg.cython_blas): threadpoolctl limits the libraries
    # loaded when the context is entered.
    import scipy.linalg  # noqa: F401
    from repdyn.kernels import flows
    flows._warmup()
    ctx, label = _blas_limit(blas_threads)
    with ctx:
        try:
            from threadpoolctl import threadpool_info
            libs = [f"{i.get('internal_api')}:{i.get('num_threads')}" for i in threadpool_info()
                    if i.get("user_api") == "blas"]
        except ImportError:                       # pragma: no cover - optional
            libs = []
        res = _run(quick, seed)
    res["blas_threads"] = label
    res["blas_libraries"] = libs
    return res


def _run(quick: bool, seed: int) -> dict:
    from repdyn.analysis.closed_form import ensemble_features
    from repdyn.analysis.mdp import random_dirichlet
    from repdyn.kernels import flows

    flows._warmup()
    rng = np.random.default_rng(seed)
    n, K, gamma, dt = 64, 8, 0.9, 0.01
    steps = 1000 if quick else 10_000
    P = random_dirichlet(n, rng)
    R = rng.standard_normal(n)
    Phi0 = rng.standard_normal((n, K)) / np.sqrt(K)
    rows = []
    for label, M, beta, target in (("fixed heads", 4096, 0.0, TARGET_FIXED),
                                   ("learned heads", 256, 1.0, TARGET_LEARNED)):
        W, alpha = flows.draw_heads(K, M, "i", rng)
        # learned heads: beta scaled like alpha so the heads move at the features' pace
        b = beta * alpha
        every = steps // 10                    # 11 records: the error is checked along the path
        tk, (times, Ph, Wt) = _best(lambda: flows.simulate_ensemble(
            P, R, gamma, Phi0, W, alpha, b, dt, steps, every), 3)
        tn, (PhN, WN) = _best(lambda: _numpy_rk4(P, R, gamma, Phi0, W, alpha, b, dt, steps),
                              1 if beta == 0.0 else 3)
        if beta == 0.0:
            ex = ensemble_features(P, R, gamma, Phi0, W, alpha, times)
            err = float(np.max(np.abs(Ph - ex).max(axis=(1, 2)) / np.abs(ex).max(axis=(1, 2))))
            ref = "exact finite-M solution (max over 11 times)"
        else:
            err = float(max(np.abs(Ph[-1] - PhN).max() / np.abs(PhN).max(),
                            np.abs(Wt[-1] - WN).max() / np.abs(WN).max()))
            ref = "numpy RK4 loop"
        np_err = float(np.abs(PhN - Ph[-1]).max() / np.abs(Ph[-1]).max())
        rows.append({"case": label, "n": n, "K": K, "M": M, "alpha": alpha, "beta": b,
                     "dt": dt, "steps": steps, "kernel_s": tk, "numpy_s": tn,
                     "speedup": tn / tk, "target": target, "meets_target": tn / tk >= target,
                     "rel_error": err, "error_reference": ref, "kernel_vs_numpy": np_err,
                     "accurate": err <= ACCURACY})
    return {"benchmark": "flows", "quick": quick, "seed": seed, "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "rows": rows}


def format_table(res: dict) -> str:
    head = f"{'case':14s} {'M':>5s} {'steps':>6s} {'kernel s':>9s} {'numpy s':>9s} {'speedup':>8s} " \
           f"{'target':>7s} {'rel err':>9s}  reference"
    lines = [head, "-" * len(head)]
    for r in res["rows"]:
        lines.append(f"{r['case']:14s} {r['M']:5d} {r['steps']:6d} {r['kernel_s']:9.4f} "
                     f"{r['numpy_s']:9.3f} {r['speedup']:7.1f}x {r['target']:6.1f}x "
                     f"{r['rel_error']:9.2e}  {r['error_reference']}")
    lines.append(f"BLAS threads: {res.get('blas_threads')} {res.get('blas_libraries')}; the numpy "
                 "loop's right-hand side is "
                 "alpha (R 1^T + (gamma P - I) Phi W) W^T")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_flows", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1e3 steps instead of 1e4")
    p.add_argument("--out", default="repdyn-bench",
                   help="folder for flows.json (default ./repdyn-bench, as `repdyn bench --out`)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads for both sides (default 1: a single-core comparison)")
    args = p.parse_args(argv)
    res = run(args.quick, args.seed, args.blas_threads)
    print(format_table(res))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "flows.json")
    with open(path, "w") as fh:
        json.dump(res, fh, indent=1, default=float)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
