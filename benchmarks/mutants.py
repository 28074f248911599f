"""Mutation testing: plant realistic one-line bugs, one at a time, and count what catches them.

Usage (from the repository root)::

    python -m repdyn.benchmarks.mutants              # every mutant: verify --quick and the tests
    python -m repdyn.benchmarks.mutants --verify     # only repdyn verify --quick (exit 1 = killed)
    python -m repdyn.benchmarks.mutants --suite      # only the test subset of each mutant
    python -m repdyn.benchmarks.mutants --only M03,M17 --jobs 2 --root /path/to/checkout
    python -m repdyn.benchmarks.mutants --list       # the mutants and whether each applies

Each mutant is (id, file, old text, new text, test files): the old text must occur exactly once
in the file. For every mutant the source tree of ``--root`` (default: this checkout) is copied to
a temporary directory laid out as an installed package (``repdyn/``, ``repdyn/analysis/``, ...,
numba caches carried over so only the mutated file recompiles), the one line is replaced there —
never in the working tree — and, with that copy first on ``PYTHONPATH``, ``repdyn verify --quick``
(killed: exit code 1) and the mutant's test files (killed: pytest fails) are run. A mutant whose
old text is not found in ``--root`` (e.g. an older checkout) is reported as not applicable.
``--jobs`` mutants run in parallel (default 2; each also runs one-threaded BLAS). Prints one line
per mutant and the kill rates; ``--json PATH`` saves them.

Cost: ~20 s (verify) + 10-60 s (tests) per mutant; 35 mutants on 2 workers take ~15 min.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

#: Package folders of the checkout and where they go in the installed layout.
LAYOUT = {"repdyn": "repdyn", "analysis": "repdyn/analysis", "kernels": "repdyn/kernels",
          "proofs": "repdyn/proofs", "benchmarks": "repdyn/benchmarks"}
VERIFY_TIMEOUT = 600
TEST_TIMEOUT = 900


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str          # path in the checkout
    old: str
    new: str
    tests: tuple       # test files (under tests/) that should catch it
    what: str


M = Mutant
MUTANTS = [
    # flow kernels (jitted) and their wrappers
    M("M01", "kernels/_flow_kernels.py", "B[i, k] = gamma * B[i, k] - Phi[i, k]",
      "B[i, k] = B[i, k] - Phi[i, k]", ("test_flows.py",), "learned-head flow drops gamma"),
    M("M02", "kernels/_flow_kernels.py", "dW[a, m] = beta * (dW[a, m] + u[a])",
      "dW[a, m] = beta * dW[a, m]", ("test_flows.py",), "head update drops the reward term"),
    M("M03", "kernels/_flow_kernels.py", "dPhi[i, k] = alpha * (dPhi[i, k] + R[i] * s[k])",
      "dPhi[i, k] = alpha * dPhi[i, k] + R[i] * s[k]", ("test_flows.py",),
      "learned flow: alpha not applied to the reward term"),
    M("M04", "kernels/_flow_kernels.py",
      "x[i, k] += s * (k1[i, k] + 2.0 * k2[i, k] + 2.0 * k3[i, k] + k4[i, k])",
      "x[i, k] += s * (k1[i, k] + 2.0 * k2[i, k] + 2.0 * k3[i, k] + k3[i, k])",
      ("test_flows.py",), "RK4 combination uses k3 for k4"),
    M("M05", "kernels/_flow_kernels.py", "out[i, k] = F[i, k] - out[i, k]",
      "out[i, k] = F[i, k] + out[i, k]", ("test_flows.py",), "linear flow: sign of -X G"),
    M("M06", "kernels/flows.py", "        G = alpha * (W @ W.T)\n        s = alpha * W.sum(axis=1)",
      "        G = W @ W.T\n        s = alpha * W.sum(axis=1)", ("test_flows.py",),
      "ensemble (beta = 0): alpha dropped from G"),
    M("M07", "kernels/flows.py", "H = np.tensordot(g, Gs, axes=1)", "H = g.mean() * Gs.sum(axis=0)",
      ("test_flows.py",), "several discounts: mean discount instead of per-group"),
    # closed forms, propagator, spectral
    M("M08", "analysis/propagator.py", "        mu = 1.0 - self.gamma * lam",
      "        mu = 1.0 - lam", ("test_propagator.py", "test_closed_form.py"),
      "modal propagator drops gamma"),
    M("M09", "analysis/propagator.py", "TAIL = 1e-17", "TAIL = 1e-8",
      ("test_propagator.py", "test_closed_form.py"), "series tails truncated at 1e-8"),
    M("M10", "analysis/propagator.py",
      "return np.linalg.solve(np.eye(self.n) - self.gamma * self.P, X)",
      "return np.linalg.solve(np.eye(self.n) - self.gamma * self.P.T, X)",
      ("test_propagator.py", "test_closed_form.py"), "V* solve with P transposed"),
    M("M11", "analysis/spectral.py", "return float(d_min * gamma * (w[K - 1].real - w[K].real))",
      "return float(d_min * (w[K - 1].real - w[K].real))", ("test_spectral.py",),
      "alignment rate without gamma"),
    M("M12", "analysis/spectral.py", "        w = w[np.lexsort((-w.imag, -w.real))]",
      "        w = w[np.lexsort((-w.imag, w.real))]", ("test_spectral.py",), "eigenvalues ascending"),
    M("M13", "analysis/spectral.py", "sin = np.sort(np.linalg.svd(resid, compute_uv=False))",
      "sin = np.linalg.svd(resid, compute_uv=False)", ("test_spectral.py",),
      "principal angles: sines not sorted"),
    M("M14", "analysis/spectral.py", "vecs = Vt[::-1].T", "vecs = Vt.T", ("test_spectral.py",),
      "RSBFs: wrong end of the spectrum"),
    M("M15", "analysis/closed_form.py", "    mu = 1.0 - gamma * lam", "    mu = 1.0 - lam",
      ("test_closed_form.py",), "log alignment distance without gamma"),
    M("M16", "analysis/span_tracking.py", "self.mu = 1.0 - self.gamma * lam", "self.mu = 1.0 - lam",
      ("test_theorems.py",), "span tracker without gamma"),
    # symbolic
    M("M17", "analysis/symbolic.py", "rates=(1 - gamma, 1 - gamma * (1 - p - q)),",
      "rates=(1 - gamma, 1 - (1 - p - q)),", ("test_symbolic.py", "test_exact_certificates.py"),
      "two-state derivation reports a rate without gamma"),
    M("M18", "analysis/symbolic_limits.py", "X = resolvent_solve(P, gamma, R) * eps.T",
      "X = R * eps.T", ("test_symbolic.py", "test_exact_certificates.py"),
      "eq. (14) limit without the resolvent"),
    # network, optimisers, InFeR, probes, agent
    M("M19", "kernels/_nn_kernels.py", "                    if A[r, c] <= 0.0:\n                        dZ[r, c] = 0.0",
      "                    if A[r, c] < 0.0:\n                        dZ[r, c] = 0.0", ("test_nn.py",),
      "ReLU mask off at zero"),
    M("M20", "kernels/_nn_kernels.py", "params[i] -= lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps)",
      "params[i] -= lr * m[i] / (np.sqrt(v[i]) + eps)", ("test_nn.py",),
      "Adam without bias correction"),
    M("M21", "kernels/_nn_kernels.py", "out[r, j] = 2.0 * cw[j] * e / B", "out[r, j] = cw[j] * e / B",
      ("test_nn.py",), "loss gradient off by a factor 2"),
    M("M22", "kernels/_nn_kernels.py", "dZ[r, c] *= 1.0 - A[r, c] * A[r, c]", "dZ[r, c] *= 1.0 - A[r, c]",
      ("test_nn.py",), "tanh derivative wrong"),
    M("M23", "kernels/_nn_kernels.py", "dbuf2, grad, opt, m, v, t0 + s + 1, lr, b1, b2, eps)",
      "dbuf2, grad, opt, m, v, t0 + 1, lr, b1, b2, eps)", ("test_nn.py",),
      "Adam step count frozen inside fit"),
    M("M24", "kernels/infer.py", "return beta * net.initial_forward(X)[:, cols]",
      "return net.initial_forward(X)[:, cols]", ("test_infer.py",), "InFeR targets without beta"),
    M("M25", "kernels/probes.py", "        Y[:, int(head)] = f", "        Y[:, 0] = f",
      ("test_probes.py",), "capacity probe always fits column 0"),
    M("M26", "kernels/probes.py", "    return int(np.count_nonzero(s > eps))",
      "    return int(np.count_nonzero(s >= eps))", ("test_probes.py",),
      "feature_rank counts sigma = eps"),
    M("M27", "kernels/probes.py", "return np.linalg.svd(F, compute_uv=False) / np.sqrt(F.shape[0])",
      "return np.linalg.svd(F, compute_uv=False) / F.shape[0]", ("test_probes.py",),
      "singular values scaled by 1/n"),
    M("M28", "kernels/probes.py", "return int(np.argmax(c >= target - slack) + 1)",
      "return int(np.argmax(c > target + slack) + 1)", ("test_probes.py",),
      "srank misses exact ties"),
    M("M29", "kernels/agent.py", "Y = rew + self.gammas * boot", "Y = rew + self.gamma * boot",
      ("test_agent.py", "test_agent_targets.py"), "agent ignores per-head discounts"),
    M("M30", "kernels/agent.py", "self.cw[self.infer_cols] = cfg.infer.alpha",
      "self.cw[self.infer_cols] = 1.0", ("test_agent.py", "test_agent_targets.py"),
      "agent ignores InFeR alpha"),
    M("M31", "kernels/agent.py", "boot = self._target_exp[s]", "boot = self._target_out[s]",
      ("test_agent.py", "test_agent_targets.py"), "expected-next target uses the current state"),
    # value improvement, transfer
    M("M32", "analysis/value_improvement.py", "Q = (R + gamma * P @ V).T", "Q = (R + P @ V).T",
      ("test_value_improvement.py",), "greedy Q without gamma"),
    M("M33", "analysis/value_improvement.py",
      "return np.linalg.solve(np.eye(P.shape[1]) - gamma * Ppi, Rpi)",
      "return np.linalg.solve(np.eye(P.shape[1]) - gamma * Ppi.T, Rpi)",
      ("test_value_improvement.py",), "policy values with P transposed"),
    # the checks themselves and the registry
    M("M34", "proofs/exact.py", "    return d_min * gamma * (lams[K - 1] - lams[K])",
      "    return d_min * (lams[K - 1] - lams[K])", ("test_exact_certificates.py",),
      "exact certificate's theory rate without gamma"),
    M("M35", "proofs/registry.py", "    bad = {\"fails\"} | ({\"not-reproduced\", \"not-built\"} if strict else set())",
      "    bad = ({\"not-reproduced\", \"not-built\"} if strict else set())",
      ("test_registry.py", "test_cli.py"), "exit code ignores fails"),
    M("M36", "proofs/registry.py",
      "        out = Outcome(\"fails\", reason=f\"raised {type(exc).__name__}: {exc}\",",
      "        out = Outcome(\"not-applicable\", reason=f\"raised {type(exc).__name__}: {exc}\",",
      ("test_registry.py",), "a crashing check reads not-applicable"),
    M("M37", "kernels/infer.py", "        cw[cols] = cfg.alpha\n",
      "        cw[cols] = 1.0\n", ("test_kernel_checks.py",), "E1 trains InFeR with weight 1, not alpha"),
    M("M38", "proofs/transfer.py",
      "x = np.sum(random_err <= np.asarray(method_err, float)[None] + BEAT_TOL, axis=0)",
      "x = np.sum(random_err >= np.asarray(method_err, float)[None] - BEAT_TOL, axis=0)",
      ("test_value_improvement.py", "test_theorems.py"), "C9 counts the wrong side"),
    # modules added alongside the mutation tool (large MDPs, C14, the one store)
    M("M39", "analysis/update_kernel.py", "    K[np.diag_indices_from(K)] += alpha * float(w @ w)",
      "    K[np.diag_indices_from(K)] += alpha * float(w @ w) ** 0.5", ("test_update_kernel.py",),
      "update kernel with ||w|| instead of ||w||^2"),
    M("M40", "kernels/_nn_kernels.py", "                out[r, c] += (G[r, c] + 1.0) * DD[r, c]",
      "                out[r, c] += G[r, c] * DD[r, c]", ("test_ntk.py",),
      "NTK Gram drops the hidden biases' contribution"),
    M("M41", "analysis/krylov.py", "    T, Z, sdim = sla.schur(top.T, output=\"real\", sort=lambda re, im: re > c)",
      "    T, Z, sdim = sla.schur(top.T, output=\"real\", sort=lambda re, im: abs(re + 1j * im) > c)",
      ("test_sparse_spectral.py",), "Krylov EBFs select by modulus, not by real part"),
    M("M42", "analysis/krylov.py", "    T = V.T @ PV\n", "    T = V.T @ PV + 1e-9 * np.eye(V.shape[1])\n",
      ("test_sparse_spectral.py",), "Rayleigh quotient of the top block perturbed (eigenvalues off by 1e-9)"),
    M("M43", "repdyn/store.py", "            if r.get(\"key\") == key:\n                found = r",
      "            if r.get(\"key\") == key:\n                return r", ("test_agent.py",),
      "the store returns the first record of a key, not the last (a rerun reads stale data)"),
]


def _copy_tree(root: str, dst: str) -> None:
    """Installed-package layout of ``root`` under ``dst/pkg``; tests and config under ``dst``."""
    for src, rel in LAYOUT.items():
        s = os.path.join(root, src)
        if os.path.isdir(s):
            shutil.copytree(s, os.path.join(dst, "pkg", rel), dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("results", "sweeps", "*.tmp"))
    shutil.copytree(os.path.join(root, "tests"), os.path.join(dst, "tests"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("setup.cfg", "pyproject.toml", "README.md"):
        if os.path.exists(os.path.join(root, f)):
            shutil.copy2(os.path.join(root, f), os.path.join(dst, f))


def _target(dst: str, file: str) -> str:
    top, rest = file.split("/", 1)
    return os.path.join(dst, "pkg", LAYOUT[top], rest)


def applies(m: Mutant, root: str) -> bool:
    p = os.path.join(root, m.file)
    return os.path.exists(p) and open(p).read().count(m.old) == 1


def _env(dst: str) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(dst, "pkg"), env.get("PYTHONPATH", "")])
    env.pop("REPDYN_PLUGINS", None)
    return env


def run_mutant(m: Mutant | None, root: str, do_verify: bool, do_suite: bool) -> dict:
    """Apply ``m`` (None: the unmutated tree) in a temporary copy and run the checks."""
    out = {"id": m.id if m else "none", "what": m.what if m else "unmutated",
           "file": m.file if m else None}
    if m is not None and not applies(m, root):
        out["status"] = "not-applicable"
        return out
    with tempfile.TemporaryDirectory(prefix="repdyn-mutant-") as dst:
        _copy_tree(root, dst)
        if m is not None:
            path = _target(dst, m.file)
            text = open(path).read()
            st = os.stat(path)
            with open(path, "w") as fh:
                fh.write(text.replace(m.old, m.new, 1))
            os.utime(path, (st.st_atime, st.st_mtime + 10))   # invalidate its numba cache
        env = _env(dst)
        out["status"] = "run"
        if do_verify:
            t0 = time.perf_counter()
            try:
                p = subprocess.run([sys.executable, "-m", "repdyn", "verify", "--quick"], cwd=dst,
                                   env=env, capture_output=True, text=True, timeout=VERIFY_TIMEOUT)
                out["verify_exit"] = p.returncode
                out["verify_killed"] = p.returncode != 0
                out["verify_tail"] = p.stdout.strip().splitlines()[-1:] if p.stdout else p.stderr[-300:]
                out["verify_not_holding"] = sorted(
                    {" / ".join(re.split(r"\s{2,}", line)[i] for i in (0, 2, 6))
                     for line in p.stdout.splitlines()
                     if len(re.split(r"\s{2,}", line)) > 6
                     and re.split(r"\s{2,}", line)[6] in ("fails", "not-reproduced")})
            except subprocess.TimeoutExpired:
                out["verify_exit"], out["verify_killed"] = "timeout", True
            out["verify_s"] = round(time.perf_counter() - t0, 1)
        if do_suite:
            tests = m.tests if m else sorted({t for mm in MUTANTS for t in mm.tests})
            t0 = time.perf_counter()
            try:
                p = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                    *[os.path.join("tests", t) for t in tests]], cwd=dst, env=env,
                                   capture_output=True, text=True, timeout=TEST_TIMEOUT)
                out["suite_exit"] = p.returncode
                out["suite_killed"] = p.returncode != 0
                out["suite_tail"] = p.stdout.strip().splitlines()[-1:] if p.stdout else []
            except subprocess.TimeoutExpired:
                out["suite_exit"], out["suite_killed"] = "timeout", True
            out["suite_s"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m repdyn.benchmarks.mutants",
                                 description="plant one-line bugs and report kill rates")
    ap.add_argument("--verify", action="store_true", help="run only repdyn verify --quick")
    ap.add_argument("--suite", action="store_true", help="run only each mutant's test files")
    ap.add_argument("--only", default=None, help="comma-separated mutant ids")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run in parallel (default 2)")
    ap.add_argument("--root", default=None, help="checkout to mutate (default: this one)")
    ap.add_argument("--json", dest="json_path", default=None, help="write the results here")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--baseline", action="store_true",
                    help="first run the unmutated tree (both must pass for the rates to mean anything)")
    a = ap.parse_args(argv)
    root = os.path.abspath(a.root or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    do_verify = a.verify or not a.suite
    do_suite = a.suite or not a.verify
    sel = MUTANTS
    if a.only:
        ids = {s.strip().upper() for s in a.only.split(",") if s.strip()}
        unknown = ids - {m.id for m in MUTANTS}
        if unknown:
            raise SystemExit(f"--only: unknown mutant id(s) {sorted(unknown)}")
        sel = [m for m in MUTANTS if m.id in ids]
    if a.list:
        for m in sel:
            print(f"{m.id}  {'applies' if applies(m, root) else 'NOT FOUND'}  {m.file}: {m.what}")
        return 0
    results = []
    if a.baseline:
        b = run_mutant(None, root, do_verify, do_suite)
        print(f"baseline (unmutated): verify exit {b.get('verify_exit')}, tests exit {b.get('suite_exit')}",
              flush=True)
        results.append(b)
    with cf.ThreadPoolExecutor(max(1, a.jobs)) as ex:
        futs = {ex.submit(run_mutant, m, root, do_verify, do_suite): m for m in sel}
        for f in cf.as_completed(futs):
            r = f.result()
            results.append(r)
            if r["status"] != "run":
                print(f"{r['id']}  {r['status']:<14}  {r['what']}", flush=True)
                continue
            v = "-" if "verify_killed" not in r else ("KILLED" if r["verify_killed"] else "survived")
            s = "-" if "suite_killed" not in r else ("KILLED" if r["suite_killed"] else "survived")
            print(f"{r['id']}  verify {v:<8} ({r.get('verify_s', 0):5.1f} s)  tests {s:<8} "
                  f"({r.get('suite_s', 0):5.1f} s)  {r['file']}: {r['what']}", flush=True)
    ran = [r for r in results if r["status"] == "run" and r["id"] != "none"]
    lines = [f"{len(ran)} mutants run ({len(sel) - len(ran)} not applicable to {root})"]
    for key, name in (("verify_killed", "verify --quick (exit != 0)"), ("suite_killed", "test subset")):
        rs = [r for r in ran if key in r]
        if rs:
            k = sum(bool(r[key]) for r in rs)
            lines.append(f"{name}: killed {k}/{len(rs)} = {100.0 * k / len(rs):.0f} %; survivors: "
                         + (", ".join(sorted(r["id"] for r in rs if not r[key])) or "none"))
    print("\n".join(lines))
    if a.json_path:
        with open(a.json_path, "w") as fh:
            json.dump({"root": root, "results": sorted(results, key=lambda r: r["id"]),
                       "summary": lines}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
