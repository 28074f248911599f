"""Speed, correctness and memory of the spectra of large and sparse P (issue 12).

Cases, all in one process, timings the best of ``--repeats`` (each on a fresh
:class:`analysis.mdp.MDP`, so no cache is reused between repetitions):

* **Top of the spectrum at scale**: ``ebfs(P, k)`` and ``rsbfs(P, 0.99, k)`` on the sparse
  four-rooms gridworld at ~10^4 and ~10^5 states (and ~10^6 outside ``--quick``), against the
  plain ARPACK call a user would make, ``scipy.sparse.linalg.eigs(P, k + 1, which='LR')``
  (no shift-invert), whose top-k eigenvalues are compared with ours (the issue saw it miss
  two members of a four-fold cluster at 10^5 states). k = 8 where the order-8 subspace is
  defined, else the next defined order (four-rooms has symmetric ties).
* **Against the dense path** at n ~ 4,000 (four_rooms(32), ``method="dense"``: the eigenvalues
  and a reordered real Schur form, O(n^3); ``--quick``: n ~ 1,000): target >= 100x.
* **Crossover**: the dense and the Krylov route of ``ebfs(P, 8)`` on dense random reversible
  chains and on sparse four-rooms of growing n; the crossover is the first n where the Krylov
  route is faster (the constant ``KRYLOV_MIN_N`` of :mod:`analysis.spectral` sits above it).
* **repdyn analyse** end to end (``repdyn.cli.main``): a 2,000-state ring (dense ``.npz``) and
  the ~10^5-state four-rooms (CSR ``.npz``).

Peak memory is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the process's high-water
mark: SuperLU allocates outside Python, so ``tracemalloc`` would not see the factors),
printed after each scale case; cases run in increasing size, so each peak belongs to the
largest case so far. BLAS runs single-threaded (``--blas-threads``; the reason is in
``bench_closed_form``: on a busy machine a threaded OpenBLAS call times the scheduler).

Run: ``python -m repdyn.benchmarks.bench_spectral [--quick] [--out DIR]``; only the scale rows
(merged into the stored JSON): ``--scale-only 50,158,500 --no-general 500``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse.linalg as spla

from repdyn.analysis.errors import UndefinedSubspaceError
from repdyn.analysis.mdp import MDP, four_rooms, random_reversible, ring
from repdyn.analysis.spectral import KRYLOV_MIN_N, ebf_certificate, ebfs, eigenvalues, rsbfs
from repdyn.benchmarks.bench_closed_form import blas_threads

#: Targets of issue 12.
TARGET_EBF_1E5_S = 10.0
TARGET_EBF_1E6_S = 120.0
TARGET_MEM_GB = 4.0
TARGET_RSBF_OVER_EBF = 3.0
TARGET_VS_DENSE = 100.0
TARGET_ANALYSE_RING_S = 20.0
TARGET_ANALYSE_1E5_S = 60.0


def _maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20      # kB on Linux


def _time(fn, repeats=1):
    best, out = np.inf, None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _defined_k(P, k0=8, kmax=16):
    """The first order >= k0 whose EBF subspace is defined (top eigenvalues, Krylov)."""
    m = MDP(P)
    w = eigenvalues(m, kmax + 1)
    from repdyn.analysis.mdp import EIG_TIE_TOL
    for k in range(k0, kmax + 1):
        if w[k - 1].real - w[k].real > EIG_TIE_TOL:
            return k
    return k0


def scale_case(room, repeats, peer=True, general=True):
    P = four_rooms(room)
    n = P.shape[0]
    k = _defined_k(P)
    t_e, _ = _time(lambda: ebfs(MDP(P), k), repeats)
    m = MDP(P)
    E = ebfs(m, k)
    cert = ebf_certificate(m, k)
    lam = eigenvalues(m, k + 1)
    # four-rooms is exactly symmetric: rsbfs reuses the certified EBFs (the time includes them)
    t_r, U = _time(lambda: rsbfs(MDP(P), 0.99, k), repeats)
    row = {"case": f"four_rooms({room})", "n": n, "k": k, "t_ebfs": t_e, "t_rsbfs": t_r,
           "rsbf_over_ebf": t_r / t_e, "certified": cert.top_k_certified, "residual": cert.residual,
           "gap": cert.gap, "rsbfs_route": "symmetric P: certified EBFs"}
    if general:
        # the general route on the same operator: Sigma = I passed explicitly skips the shortcut
        # (one LU of I - gamma P, Lanczos on Psi Psi^T)
        import scipy.sparse as sp
        t_g, Ug = _time(lambda: rsbfs(MDP(P), 0.99, k, sp.identity(n, format="csr")), 1)
        from repdyn.analysis.spectral import grassmann_distance
        row.update(t_rsbfs_general=t_g, general_over_ebf=t_g / t_e,
                   grassmann_shortcut_vs_general=grassmann_distance(U, Ug))
    if peer:
        t0 = time.perf_counter()
        try:
            wp = spla.eigs(P, k=k + 1, which="LR", return_eigenvectors=False, tol=0,
                           v0=np.random.default_rng(0).standard_normal(n))
            row["t_peer"] = time.perf_counter() - t0
            wp = np.sort(wp.real)[::-1][:k]
            row["peer_max_eig_err"] = float(np.abs(wp - lam[:k].real).max())
        except spla.ArpackNoConvergence as exc:
            row["t_peer"] = time.perf_counter() - t0
            row["peer_max_eig_err"] = None
            row["peer_note"] = f"ARPACK did not converge: {exc}"
        row["speedup_vs_peer"] = row["t_peer"] / t_e
    row["maxrss_gb"] = _maxrss_gb()
    return row


def dense_case(room, repeats):
    P = four_rooms(room)
    n = P.shape[0]
    k = _defined_k(P)
    t_k, Ek = _time(lambda: ebfs(MDP(P), k, method="krylov"), repeats)
    t_d, Ed = _time(lambda: ebfs(MDP(P), k, method="dense"), 1)
    from repdyn.analysis.spectral import grassmann_distance
    return {"case": f"four_rooms({room}) dense vs Krylov", "n": n, "k": k, "t_dense": t_d, "t_krylov": t_k,
            "speedup": t_d / t_k, "grassmann": grassmann_distance(Ed, Ek)}


def crossover(ns, rooms, repeats):
    rows = []
    for fam, mats in (("dense random_reversible", [(n, random_reversible(n, seed=0)) for n in ns]),
                      ("sparse four_rooms", [(four_rooms(r).shape[0], four_rooms(r)) for r in rooms])):
        for n, P in mats:
            k = 8
            out = {}
            for meth in ("dense", "krylov"):
                try:
                    out[meth], _ = _time(lambda: ebfs(MDP(P), k, method=meth), repeats)
                except UndefinedSubspaceError:       # timing up to the refusal is still the cost
                    out[meth], _ = _time(lambda: eigenvalues(MDP(P), k + 1, method=meth), repeats)
            rows.append({"family": fam, "n": n, "t_dense": out["dense"], "t_krylov": out["krylov"],
                         "krylov_faster": out["krylov"] < out["dense"]})
    cross = {}
    for fam in {r["family"] for r in rows}:
        fr = [r for r in rows if r["family"] == fam]
        faster = [r["n"] for r in fr if r["krylov_faster"]]
        cross[fam] = min(faster) if faster else None
    return rows, cross


def analyse_cases(quick):
    from repdyn.cli import main as cli
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        n = 2000
        R = np.zeros(n)
        R[0] = 1.0
        np.savez(os.path.join(tmp, "ring.npz"), P=ring(n), R=R, gamma=0.9)
        room = 50 if quick else 158
        P = four_rooms(room)
        R = np.zeros(P.shape[0])
        R[-1] = 1.0
        np.savez(os.path.join(tmp, "rooms.npz"), format="csr", shape=P.shape, data=P.data,
                 indices=P.indices, indptr=P.indptr, R=R, gamma=0.99)
        for name, target in (("ring.npz", TARGET_ANALYSE_RING_S), ("rooms.npz", TARGET_ANALYSE_1E5_S)):
            t0 = time.perf_counter()
            rc = cli(["analyse", os.path.join(tmp, name), "--out", os.path.join(tmp, name + ".out")])
            out.append({"file": name, "n": n if name == "ring.npz" else P.shape[0], "rc": rc,
                        "seconds": time.perf_counter() - t0, "target_s": target})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10^4 and 10^5 states, n = 1000 dense comparison")
    ap.add_argument("--out", default="repdyn-bench",
                    help="folder for the JSON (default ./repdyn-bench, as `repdyn bench --out`)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS threads (0: leave as is)")
    ap.add_argument("--no-analyse", action="store_true", help="skip the repdyn analyse runs")
    ap.add_argument("--scale-only", default=None, metavar="ROOMS",
                    help="only the scale rows for these four_rooms sizes (e.g. 50,158), without the "
                         "peer; merged into the existing JSON (other rows and the peer's numbers kept)")
    ap.add_argument("--no-general", default="", metavar="ROOMS",
                    help="with --scale-only: sizes where the general RSBF route is not timed (slow)")
    args = ap.parse_args(argv)
    print(f"OpenBLAS threads: {blas_threads(args.blas_threads if args.blas_threads > 0 else None)}")
    if args.scale_only:
        return _scale_only(args)
    res = {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
           "quick": args.quick, "KRYLOV_MIN_N": KRYLOV_MIN_N}

    print("\n== crossover: ebfs(P, 8), dense route vs Krylov route (seconds) ==")
    ns = (100, 200, 300, 500) if args.quick else (100, 150, 200, 300, 500, 800)
    rooms = (4, 6, 8, 11) if args.quick else (4, 6, 8, 10, 14, 20)
    rows, cross = crossover(ns, rooms, max(args.repeats, 2))
    print(f"{'family':26s} {'n':>6s} {'dense s':>9s} {'krylov s':>9s} {'dense/krylov':>13s}")
    for r in rows:
        print(f"{r['family']:26s} {r['n']:6d} {r['t_dense']:9.4f} {r['t_krylov']:9.4f} "
              f"{r['t_dense'] / r['t_krylov']:13.2f}")
    print(f"crossover (first n where Krylov is faster): {cross}; KRYLOV_MIN_N = {KRYLOV_MIN_N}")
    res["crossover_rows"], res["crossover"] = rows, cross

    print("\n== dense path vs Krylov route (ebfs, one MDP) ==")
    d = dense_case(15 if args.quick else 32, args.repeats)
    print(f"{d['case']}: n = {d['n']}, k = {d['k']}: dense {d['t_dense']:.2f} s, Krylov {d['t_krylov']:.3f} s, "
          f"ratio {d['speedup']:.0f}x (target >= {TARGET_VS_DENSE:.0f}x at n ~ 4000), Grassmann {d['grassmann']:.1e}")
    res["dense_vs_krylov"] = d

    print("\n== scale: sparse four-rooms (seconds; peer = eigs(P, k+1, which='LR'), no shift) ==")
    hdr = (f"{'case':16s} {'n':>8s} {'k':>3s} {'ebfs':>8s} {'rsbfs':>8s} {'rs/eb':>6s} {'peer':>8s} "
           f"{'peer/ebfs':>9s} {'peer err':>9s} {'cert':>5s} {'residual':>9s} {'maxrss GB':>9s}")
    print(hdr)
    print("-" * len(hdr))
    scale = []
    plan = [(50, True), (158, not args.quick)] + ([] if args.quick else [(500, False)])
    for room, peer in plan:
        r = scale_case(room, args.repeats, peer=peer)
        scale.append(r)
        pe = "-" if r.get("peer_max_eig_err") is None else f"{r['peer_max_eig_err']:.1e}"
        print(f"{r['case']:16s} {r['n']:8d} {r['k']:3d} {r['t_ebfs']:8.2f} {r['t_rsbfs']:8.2f} "
              f"{r['rsbf_over_ebf']:6.1f} {r.get('t_peer', float('nan')):8.2f} "
              f"{r.get('speedup_vs_peer', float('nan')):9.1f} {pe:>9s} {str(r['certified']):>5s} "
              f"{r['residual']:9.1e} {r['maxrss_gb']:9.2f}", flush=True)
    res["scale"] = scale

    if not args.no_analyse:
        print("\n== repdyn analyse end to end ==")
        an = analyse_cases(args.quick)
        for a in an:
            print(f"analyse {a['file']:10s} n = {a['n']:7d}: {a['seconds']:.1f} s (target < {a['target_s']:.0f} s), "
                  f"exit {a['rc']}")
        res["analyse"] = an
    res["maxrss_gb"] = _maxrss_gb()
    print(f"\npeak memory of the process (ru_maxrss): {res['maxrss_gb']:.2f} GB (target < {TARGET_MEM_GB} GB)")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / ("bench_spectral_quick.json" if args.quick else "bench_spectral.json")
    path.write_text(json.dumps(res, indent=1, default=float))
    print(f"wrote {path}")
    return 0


def _scale_only(args) -> int:
    path = Path(args.out) / "bench_spectral.json"
    res = json.loads(path.read_text()) if path.exists() else {"scale": []}
    rows = {r["case"]: r for r in res.get("scale", [])}
    skip_general = {int(x) for x in args.no_general.split(",") if x}
    for room in (int(x) for x in args.scale_only.split(",")):
        r = scale_case(room, args.repeats, peer=False, general=room not in skip_general)
        old = rows.get(r["case"], {})
        peer = {k: v for k, v in old.items() if k.startswith("peer") or k in ("t_peer", "speedup_vs_peer")}
        if "t_peer" in peer:
            peer["speedup_vs_peer"] = peer["t_peer"] / r["t_ebfs"]
            peer["peer_note_run"] = "peer time from the previous full run (not re-run)"
        r.update(peer)
        r["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        r["load_avg_1min"] = os.getloadavg()[0]
        rows[r["case"]] = r
        g = (f", general route {r['t_rsbfs_general']:.2f} s ({r['general_over_ebf']:.1f}x)"
             if "t_rsbfs_general" in r else "")
        print(f"{r['case']}: n = {r['n']}, k = {r['k']}: ebfs {r['t_ebfs']:.2f} s, rsbfs {r['t_rsbfs']:.2f} s "
              f"({r['rsbf_over_ebf']:.2f}x){g}, certified {r['certified']}, peak RSS {r['maxrss_gb']:.2f} GB, "
              f"load {r['load_avg_1min']:.1f}", flush=True)
    res["scale"] = sorted(rows.values(), key=lambda r: r["n"])
    path.write_text(json.dumps(res, indent=1, default=float))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
