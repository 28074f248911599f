"""Speed of :func:`kernels.probes.ntk_gram` against forming the Jacobian (issue 15, C14).

The empirical NTK Gram matrix of a ``64 -> 256 -> 256 -> 1`` ReLU MLP over 1000 states
(``--quick``: 300 states): ours by per-layer Gram identities in numba (cost ~ n^2 x sum of
widths), against two peers run in the same process on the same parameters and inputs:

* ``torch.func``: ``vmap(jacrev(f))`` for the per-example gradients, then ``J J^T``
  (float64, CPU), PyTorch's recommended route; skipped with a message if torch is absent
  (it is never a dependency: ``python -m pip install torch``);
* ``numpy J J^T``: our own per-state gradients (:func:`kernels.probes.per_state_gradients`)
  then one GEMM — the same full-Jacobian cost (n^2 x n_params) without torch.

Every peer must agree with ours to 1e-10 (max-norm, relative to max |K|). The ratio is peer
time / our time (best of ``--repeat``). Target (issue 15): >= 10x faster than torch.func.

Run: ``python -m repdyn.benchmarks.bench_ntk [--quick] [--threads 1] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

#: Agreement required between any two routes (relative to max |K|).
AGREE_RTOL = 1e-10


def _best(f, repeat):
    best, val = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        val = f()
        best = min(best, time.perf_counter() - t)
    return best, val


def _torch_route(net, X):
    """``(function computing K, torch version)`` or ``(None, reason)``."""
    try:
        import torch
        from torch.func import jacrev, vmap
    except ImportError as exc:
        return None, f"torch not installed ({exc}); python -m pip install torch"
    import numpy as np
    a = net.arch
    p = net.params
    layers, off = [], 0
    for i, o in zip(a.dims[:-1], a.dims[1:]):
        W = p[off:off + i * o].reshape(i, o); off += i * o
        b = p[off:off + o]; off += o
        layers += [W, b]
    Wh = p[off:off + a.head_in * a.n_out].reshape(a.head_in, a.n_out)[:, 0]; off += a.head_in * a.n_out
    bh = p[off:off + 1]
    params = tuple(torch.tensor(np.ascontiguousarray(x), dtype=torch.float64) for x in layers + [Wh, bh])
    Xt = torch.tensor(X, dtype=torch.float64)
    act = torch.relu if a.activation == "relu" else torch.tanh

    def f(params, x):
        h = x
        for l in range(0, len(params) - 2, 2):
            h = act(h @ params[l] + params[l + 1])
        return h @ params[-2] + params[-1][0]

    jf = vmap(jacrev(f), in_dims=(None, 0))

    def run():
        with torch.no_grad():
            jac = jf(params, Xt)
            J = torch.cat([j.reshape(Xt.shape[0], -1) for j in jac], dim=1)
            return (J @ J.T).numpy()
    return run, torch.__version__


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads (set before numpy loads)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="repdyn-bench",
                   help="folder for the JSON (default ./repdyn-bench, as `repdyn bench --out`)")
    a = p.parse_args(argv)
    if "numpy" not in sys.modules:
        for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[v] = str(a.threads)
    import numpy as np
    from repdyn.kernels.nn import MLP, Architecture
    from repdyn.kernels.probes import ntk_gram, per_state_gradients

    n = 300 if a.quick else 1000
    arch = Architecture(64, (256, 256), 1)
    rng = np.random.default_rng(0)
    net = MLP(arch, rng)
    net.params += 0.05 * rng.standard_normal(net.params.shape)      # non-zero biases
    X = rng.standard_normal((n, 64))
    ntk_gram(net, X[:4])                                              # compile outside the timing
    t_ours, K = _best(lambda: ntk_gram(net, X), a.repeat)
    scale = np.abs(K).max()
    rows = [dict(route="repdyn ntk_gram (per-layer Gram identities, numba)", seconds=t_ours,
                 ratio=1.0, rel_diff=0.0)]
    t_np, Kn = _best(lambda: (lambda J: J @ J.T)(per_state_gradients(net, X)), a.repeat)
    rows.append(dict(route="numpy J J^T (per_state_gradients + GEMM)", seconds=t_np, ratio=t_np / t_ours,
                     rel_diff=float(np.abs(Kn - K).max() / scale)))
    run, info = _torch_route(net, X)
    torch_row = None
    if run is None:
        print(f"torch.func column skipped: {info}")
    else:
        import torch
        torch.set_num_threads(a.threads)
        run()                                                          # warm-up (dispatch caches)
        t_t, Kt = _best(run, a.repeat)
        torch_row = dict(route=f"torch.func vmap(jacrev) + J J^T (torch {info}, float64, CPU)",
                         seconds=t_t, ratio=t_t / t_ours, rel_diff=float(np.abs(Kt - K).max() / scale))
        rows.append(torch_row)
    print(f"NTK Gram of a 64-256-256-1 ReLU MLP ({arch.n_params} parameters) over {n} states, "
          f"{a.threads} thread(s), best of {a.repeat}")
    print(f"{'route':72s} {'seconds':>9s} {'ratio':>7s} {'rel diff':>9s}")
    for r in rows:
        print(f"{r['route']:72s} {r['seconds']:9.4f} {r['ratio']:7.1f} {r['rel_diff']:9.1e}")
    agree = all(r["rel_diff"] <= AGREE_RTOL for r in rows)
    target = None if torch_row is None else bool(torch_row["ratio"] >= 10.0)
    print(f"all routes agree to {AGREE_RTOL:g}: {agree}; >= 10x faster than torch.func: "
          f"{'skipped (no torch)' if target is None else target}")
    res = dict(benchmark="bench_ntk", quick=a.quick, threads=a.threads, n=n, n_params=arch.n_params,
               numpy=np.__version__, machine=platform.machine(), processor=platform.processor(),
               rows=rows, agree=agree, torch_target_met=target)
    os.makedirs(a.out, exist_ok=True)
    path = Path(a.out) / f"bench_ntk{'_quick' if a.quick else ''}.json"
    path.write_text(json.dumps(res, indent=1))
    print(f"wrote {path}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
