"""Speed of :func:`kernels.probes.feature_rank` against ``np.linalg.svd(compute_uv=False)`` (issue 5).

Cases are 10^4 x 512 feature matrices (``--quick``: 2000 x 256): Gaussian features (full
rank), a low-rank-plus-noise matrix whose noise floor sits a factor 3 under eps, ReLU
features of a random network, singular values spread log-uniformly over 10 decades around
eps, half the singular values at 10^9 beside half in [0.005, 0.05] (the rounding floor of
the Gram route then exceeds eps^2, so it must decline and fall back to the SVD), and
a zero matrix. For every case the rank from ``feature_rank`` must equal the count of
``svd(F) / sqrt(n) > eps``; the ratio is SVD time / feature_rank time (best of ``--repeat``).
Target (issue 5): ratio >= 3 with identical ranks.

Run: ``python -m repdyn.benchmarks.bench_rank [--quick] [--threads 1] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


def _cases(n, d, rng):
    import numpy as np
    from repdyn.kernels.nn import Architecture, MLP

    def spectrum(s):
        k = len(s)
        U = np.linalg.qr(rng.standard_normal((n, k)))[0]
        V = np.linalg.qr(rng.standard_normal((d, k)))[0]
        return np.sqrt(n) * (U * s) @ V.T

    out = {"gaussian": rng.standard_normal((n, d))}
    low = rng.standard_normal((n, 20)) @ rng.standard_normal((20, d)) / np.sqrt(20)
    out["low-rank + noise at eps/3"] = low + (0.01 / 3) * rng.standard_normal((n, d))
    net = MLP(Architecture(64, (256, d), 1), rng)
    out["relu-network features"] = net.features(rng.standard_normal((n, 64)))
    out["log-spread 1e-7..1e3"] = spectrum(10.0 ** rng.uniform(-7, 3, size=d))
    big = np.concatenate([np.full(d // 2, 1e9), np.geomspace(5e-3, 5e-2, d - d // 2)])
    out["1e9 beside 0.005..0.05 (declines)"] = spectrum(big)
    out["zero"] = np.zeros((n, d))
    return out


def _best(f, repeat):
    best, val = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        val = f()
        best = min(best, time.perf_counter() - t)
    return best, val


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (set before numpy loads)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default="repdyn-bench",
                   help="folder for the JSON (default ./repdyn-bench, as `repdyn bench --out`)")
    a = p.parse_args(argv)
    if "numpy" not in sys.modules:
        for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[v] = str(a.threads)
    import numpy as np
    from repdyn.kernels.probes import RANK_EPS, feature_rank, gram_rank_certified

    n, d = (2000, 256) if a.quick else (10_000, 512)
    rng = np.random.default_rng(0)
    rows = []
    print(f"feature_rank vs np.linalg.svd(compute_uv=False), {n} x {d}, eps = {RANK_EPS}, "
          f"{a.threads} thread(s), best of {a.repeat}")
    print(f"{'case':34s} {'rank':>6s} {'svd rank':>8s} {'route':>6s} {'ours s':>8s} {'svd s':>8s} {'ratio':>6s}")
    for name, F in _cases(n, d, rng).items():
        t_ours, r = _best(lambda: feature_rank(F), a.repeat)
        t_svd, s = _best(lambda: np.linalg.svd(F, compute_uv=False), a.repeat)
        r_svd = int(np.count_nonzero(s / np.sqrt(n) > RANK_EPS))
        route = "gram" if gram_rank_certified(F) is not None else "svd"
        rows.append(dict(case=name, n=n, d=d, rank=r, svd_rank=r_svd, identical=r == r_svd, route=route,
                         seconds=t_ours, svd_seconds=t_svd, ratio=t_svd / t_ours))
        print(f"{name:34s} {r:6d} {r_svd:8d} {route:>6s} {t_ours:8.3f} {t_svd:8.3f} {t_svd / t_ours:6.1f}")
    ok = all(x["identical"] for x in rows)
    gram = [x["ratio"] for x in rows if x["route"] == "gram"]
    print(f"identical rank on every case: {ok}; ratio on Gram-route cases: min {min(gram):.1f}, "
          f"median {float(np.median(gram)):.1f} (target >= 3)")
    res = dict(benchmark="bench_rank", quick=a.quick, threads=a.threads, numpy=np.__version__,
               machine=platform.machine(), processor=platform.processor(), rows=rows,
               identical_on_every_case=ok)
    os.makedirs(a.out, exist_ok=True)
    path = Path(a.out) / f"bench_rank{'_quick' if a.quick else ''}.json"
    path.write_text(json.dumps(res, indent=1))
    print(f"wrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
