"""Speed of one training step of the numba MLP against plain numpy and PyTorch CPU (issue 5).

The step: forward, backward and Adam for ``64 -> w -> w`` ReLU with 11 linear heads
(1 main + 10 InFeR), batch 128, loss ``sum_j c_j mean_b (g_j - y_j)^2`` — default w = 256.
Contenders, all in one process with the same number of BLAS/intra-op threads (``--threads``):

* **numba** — :meth:`kernels.nn.MLP.fit` (the whole loop of steps in one jitted call;
  per-step time) and :meth:`kernels.nn.MLP.step` (one Python call per step);
* **numpy** — the plain-numpy reference (``_loss_grad_numpy`` + ``_adam_numpy``), i.e. how
  the same network is written without numba;
* **torch** — ``nn.Sequential`` + ``torch.optim.Adam`` (if ``import torch`` works; otherwise
  skipped with a message). ``pip install torch==2.13.0`` installs a CPU build; it is never a
  dependency of repdyn.

Ratios are contender time / numba ``fit`` time per step (> 1: numba faster). The width sweep
reports where PyTorch overtakes numba (the crossover), if it does. Targets (issue 5): at the
default size at least as fast as PyTorch and >= 5x faster than numpy.

Run: ``python -m benchmarks.bench_nn [--quick] [--threads 1] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

D_IN, N_OUT, BATCH = 64, 11, 128


def _timeit(f, n_steps, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        f(n_steps)
        best = min(best, (time.perf_counter() - t) / n_steps)
    return best


def _numba_times(w, X, Y, cw, n_steps, repeat):
    import numpy as np
    from kernels.nn import MLP, Adam, Architecture
    net = MLP(Architecture(D_IN, (w, w), N_OUT), seed=0)
    opt = Adam(1e-4)
    batches = np.tile(np.arange(BATCH), (n_steps, 1))
    net.fit_batches(X, Y, cw, opt, batches[:2])           # compile / warm
    t_fit = _timeit(lambda k: net.fit_batches(X, Y, cw, opt, batches[:k]), n_steps, repeat)

    def loop(k):
        for _ in range(k):
            net.step(X, Y, cw, opt)
    t_step = _timeit(loop, n_steps, repeat)
    return t_fit, t_step


def _numpy_time(w, X, Y, cw, n_steps, repeat):
    import numpy as np
    from kernels.nn import Architecture, _adam_numpy, _loss_grad_numpy, init_params
    arch = Architecture(D_IN, (w, w), N_OUT)
    state = dict(p=init_params(arch, seed=0), m=None, v=None, t=0)
    state["m"] = np.zeros_like(state["p"])
    state["v"] = np.zeros_like(state["p"])

    def loop(k):
        for _ in range(k):
            state["t"] += 1
            g = _loss_grad_numpy(state["p"], arch, X, Y, cw)[1]
            state["p"], state["m"], state["v"] = _adam_numpy(state["p"], g, state["m"], state["v"],
                                                             state["t"], 1e-4, 0.9, 0.999, 1e-8)
    loop(1)
    return _timeit(loop, n_steps, repeat)


def _torch_time(w, X, Y, cw, n_steps, repeat, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)     # torch's own init only; the timing does not depend on values
    net = torch.nn.Sequential(torch.nn.Linear(D_IN, w), torch.nn.ReLU(), torch.nn.Linear(w, w),
                              torch.nn.ReLU(), torch.nn.Linear(w, N_OUT)).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    Xt, Yt, ct = (torch.from_numpy(a) for a in (X, Y, cw))

    def loop(k):
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = (ct * (net(Xt) - Yt) ** 2).mean(0).sum()
            loss.backward()
            opt.step()
    loop(3)
    return _timeit(loop, n_steps, repeat)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = p.parse_args(argv)
    if "numpy" not in sys.modules:
        for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[v] = str(a.threads)
    import numpy as np
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
        print("PyTorch not importable: skipping the torch comparison "
              "(pip install torch==2.13.0 installs a CPU build for this benchmark)")
    widths = (64, 256) if a.quick else (32, 64, 128, 256, 512, 1024)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, D_IN))
    Y = rng.standard_normal((BATCH, N_OUT))
    cw = np.full(N_OUT, 0.1)
    cw[0] = 1.0
    rows = []
    print(f"one training step (fwd + bwd + Adam), {D_IN} -> w -> w -> {N_OUT} heads, batch {BATCH}, "
          f"float64, {a.threads} thread(s); times in microseconds per step; ratio = other / numba fit")
    print(f"{'w':>5s} {'numba fit':>10s} {'numba step':>10s} {'numpy':>10s} {'torch':>10s} "
          f"{'numpy/nb':>9s} {'torch/nb':>9s}")
    for w in widths:
        k = max(5, int(2e8 / (BATCH * w * (D_IN + w + N_OUT) * 6)))   # ~0.2 GFLOP per timing
        k = min(k, 50 if a.quick else 400)
        t_fit, t_step = _numba_times(w, X, Y, cw, k, a.repeat)
        t_np = _numpy_time(w, X, Y, cw, k, a.repeat)
        t_torch = _torch_time(w, X, Y, cw, k, a.repeat, a.threads) if torch_version else None
        row = dict(width=w, steps=k, numba_fit_us=t_fit * 1e6, numba_step_us=t_step * 1e6,
                   numpy_us=t_np * 1e6, torch_us=None if t_torch is None else t_torch * 1e6,
                   numpy_ratio=t_np / t_fit, torch_ratio=None if t_torch is None else t_torch / t_fit)
        rows.append(row)
        tt = f"{t_torch * 1e6:10.1f}" if t_torch else f"{'-':>10s}"
        tr = f"{t_torch / t_fit:9.2f}" if t_torch else f"{'-':>9s}"
        print(f"{w:5d} {t_fit * 1e6:10.1f} {t_step * 1e6:10.1f} {t_np * 1e6:10.1f} {tt} "
              f"{t_np / t_fit:9.2f} {tr}")
    cross = None
    if torch_version:
        slower = [r["width"] for r in rows if r["torch_ratio"] < 1.0]
        cross = slower[0] if slower else None
        print("crossover: PyTorch faster from width " + (str(cross) if cross else
              f"- (numba faster at every width up to {widths[-1]})"))
    res = dict(benchmark="bench_nn", quick=a.quick, threads=a.threads, numpy=np.__version__,
               torch=torch_version, machine=platform.machine(), batch=BATCH, d_in=D_IN,
               n_out=N_OUT, rows=rows, torch_faster_from_width=cross)
    os.makedirs(a.out, exist_ok=True)
    path = Path(a.out) / f"bench_nn{'_quick' if a.quick else ''}.json"
    path.write_text(json.dumps(res, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
