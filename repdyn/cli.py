"""The ``repdyn`` command. Thin: it parses arguments and calls the library and the registry.

Commands: ``verify`` (the claim registry), ``figures`` (the talk's figures), ``bench`` (every
``benchmarks.bench_*`` module), ``analyse`` (a user's MDP), ``experiment`` (the neural
experiments of :mod:`proofs.experiments`) and ``sweep`` (options and behaviour from
``repdyn.sweep.add_parser`` / ``repdyn.sweep.main``). Bad input prints one line and exits 2.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import re
import sys
import time

EXAMPLES = {
    "verify": "examples:\n  repdyn verify --quick\n  repdyn verify --claims C1,C2 --json results.json\n"
              "  repdyn verify --mdp my_mdp.npz --strict\n"
              "  repdyn verify --plugin my_checks     (import my_checks.py first: it may\n"
              "                                       register its own checks with\n"
              "                                       proofs.registry.check; or set\n"
              "                                       REPDYN_PLUGINS=my_checks)",
    "figures": "examples:\n  repdyn figures --out figs\n  repdyn figures --out figs --only fig1,fig3 "
               "--skip-neural\n(rerun with the same --out to resume: finished figures are kept)",
    "bench": "examples:\n  repdyn bench --quick --out bench-results\n  repdyn bench --only bench_rates"
             "\n(every benchmark writes its JSON and figures under --out, default ./repdyn-bench)",
    "analyse": "examples:\n  repdyn analyse my_mdp.npz --k 5 --out my_mdp_analysis\n"
               "(FILE: .npz or .json with P (n x n), R (n), gamma; or per-action P (A x n x n),\n"
               " R (A x n) and policy (n x A))",
    "experiment": "examples:\n  repdyn experiment E1 --seeds 5 --out runs\n"
                  "  repdyn experiment E1 --config paper --out runs   (the paper-scale protocol)\n"
                  "  repdyn experiment E3 --quick --out runs   (rerun with the same --out resumes)",
    "sweep": "example:\n  repdyn sweep SWEEP.toml --out runs/rates   (once repdyn.sweep is built)",
}

#: Environment variable naming extra modules to import before ``verify`` (comma-separated).
PLUGIN_ENV = "REPDYN_PLUGINS"


#: Default folder of ``repdyn bench`` (in the current directory; nothing is written elsewhere).
BENCH_OUT = "repdyn-bench"


# ----------------------------------------------------------------------------- argument checks
# Every value is checked while the command line is parsed, before any work starts: a type
# function raises ``argparse.ArgumentTypeError`` and ``_Parser.error`` prints one line naming
# the flag (``repdyn analyse: error: --t-max must be a finite number > 0, got -5``), exit 2.


class _Parser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line naming the flag (no usage block), exit 2.

    The subcommand parsers inherit it (``add_subparsers`` uses the parent's class).
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_flag_message(message)}\n")


def _flag_message(message: str) -> str:
    """``argument --t-max: must be ...`` -> ``--t-max must be ...``, on one line."""
    message = " ".join(str(message).split())
    m = re.match(r"argument (\S+?)(?:/\S+)?: (.*)", message)
    if not m:
        return message
    flag, rest = m.groups()
    return f"{flag} {rest}" if rest.split(" ", 1)[0] in ("must", "cannot", "is") else f"{flag}: {rest}"


def _int_at_least(lo: int):
    """Type function: an integer >= ``lo``."""
    def parse(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {s!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {v}")
        return v
    parse.__name__ = f"integer >= {lo}"
    return parse


def _positive_float(s):
    """Type function: a finite number > 0."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {s!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {s}")
    return v


def _name_list(s) -> list:
    """Type function: a comma-separated list of at least one non-empty name."""
    names = [x.strip() for x in s.split(",") if x.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must name at least one item (comma-separated), got {s!r}")
    return names


def _claim_list(s) -> list:
    """Type function: comma-separated claim ids such as C2,C5 (whether each is known is checked
    in ``_verify``: at once, or after the plugins, which may add claims, are imported)."""
    ids = [c.upper() for c in _name_list(s)]
    bad = [c for c in ids if not re.fullmatch(r"[A-Z][A-Z0-9_]*", c)]
    if bad:
        raise argparse.ArgumentTypeError(f"must be comma-separated claim ids such as C2,C5, got {bad}")
    return ids


def _select_claims(registry, claims):
    """``registry._select`` with the error naming ``--claims``."""
    try:
        return registry._select(claims)
    except ValueError as exc:
        msg = str(exc)
        raise ValueError("--" + msg if msg.startswith("claims:") else msg) from None


def _module_name(s) -> str:
    """Type function: an importable module name (dotted identifiers, no ``.py``)."""
    if s.endswith(".py") or not all(part.isidentifier() for part in s.split(".")):
        hint = f" (without .py: {s[:-3]!r})" if s.endswith(".py") else ""
        raise argparse.ArgumentTypeError(f"must be a module name such as my_checks, got {s!r}{hint}")
    return s


def _nearest_existing(path: str) -> str:
    p = os.path.abspath(path)
    while not os.path.exists(p):
        p = os.path.dirname(p)
    return p


def _out_dir(s) -> str:
    """Type function: a folder that exists and is writable, or can be created."""
    if not s.strip():
        raise argparse.ArgumentTypeError("must be a folder path, got ''")
    if os.path.exists(s):
        if not os.path.isdir(s):
            raise argparse.ArgumentTypeError(f"must be a folder, but {s!r} is a file")
        if not os.access(s, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"cannot be written: {s!r} is not writable")
        return s
    base = _nearest_existing(s)
    if not os.path.isdir(base):
        raise argparse.ArgumentTypeError(f"cannot be created: {base!r} is a file")
    if not os.access(base, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot be created: {base!r} is not writable")
    return s


def _out_file(s) -> str:
    """Type function: a file path whose folder exists and is writable (not a folder itself)."""
    if not s.strip():
        raise argparse.ArgumentTypeError("must be a file path, got ''")
    if os.path.isdir(s):
        raise argparse.ArgumentTypeError(f"must be a file, but {s!r} is a folder")
    parent = os.path.dirname(os.path.abspath(s))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"cannot be written: no such folder {os.path.dirname(s)!r}")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(s) and not os.access(s, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot be written: {s!r} is not writable")
    return s


def _in_file(s) -> str:
    """Type function: an existing, readable file (its contents are checked when loaded)."""
    if not os.path.exists(s):
        raise argparse.ArgumentTypeError(f"cannot be read: no such file {s!r}")
    if os.path.isdir(s):
        raise argparse.ArgumentTypeError(f"must be a file, but {s!r} is a folder")
    try:
        with open(s, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot be read: {s!r}: {exc.strerror or exc}") from None
    return s


def _experiment_name(s) -> str:
    """Type function: an experiment id such as E1 (which ones exist is checked on use)."""
    if not re.fullmatch(r"[eE]\d+", s.strip()):
        raise argparse.ArgumentTypeError(f"must be an experiment id such as E1, got {s!r}")
    return s.strip().upper()


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="repdyn", description="Representation dynamics in RL: "
                                "derive, simulate and check every claim (C1-C13).",
                                epilog="example: repdyn verify --quick   (repdyn COMMAND --help "
                                "for each command)")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, help):
        return sub.add_parser(name, help=help, description=help, epilog=EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    v = add("verify", "check the claims C1-C13 and print one table")
    v.add_argument("--quick", action="store_true", help="smaller runs, fewer seeds (< 30 s)")
    v.add_argument("--strict", action="store_true",
                   help="also exit 1 on not-reproduced / not-built claims, and on not-run checks "
                        "of the claims named in --claims (a check left out by --quick or by --mdp "
                        "is reported not-run and counted either way)")
    v.add_argument("--claims", default=None, type=_claim_list,
                   help="comma-separated claim ids, e.g. C2,C5")
    v.add_argument("--json", dest="json_path", default=None, type=_out_file,
                   help="write results as JSON here (rewritten as each check finishes); if the "
                        "file exists from a run with the same --quick, --seed, --mdp file, plugins "
                        "and code, its finished checks are reused, not recomputed (resume)")
    v.add_argument("--mdp", default=None, type=_in_file, help=".npz or .json with P, R, gamma: "
                   "check the claims that apply on your own MDP")
    v.add_argument("--seed", type=_int_at_least(0), default=0,
                   help="seed for every random draw, an integer >= 0 (default 0)")
    v.add_argument("--plugin", action="append", default=[], metavar="MODULE", type=_module_name,
                   help=f"import MODULE first (it may register checks; MODULE.py in the current "
                        f"folder is found too); repeatable; also ${PLUGIN_ENV}=mod1,mod2")

    f = add("figures", "write the talk's figures (PNG + JSON data) and an index.md")
    f.add_argument("--out", default="repdyn-figures", type=_out_dir,
                   help="output directory (default repdyn-figures)")
    f.add_argument("--only", default=None, type=_name_list,
                   help="comma-separated name prefixes, e.g. fig1,fig3")
    f.add_argument("--skip-neural", action="store_true",
                   help="do not run the neural experiments (the C11-C14 figures)")
    f.add_argument("--neural-seeds", type=_int_at_least(1), default=5,
                   help="seeds per neural experiment (default 5)")
    f.add_argument("--quick", action="store_true", help="neural figures from the quick "
                   "configuration (an illustration; their titles say so); default: the full one")
    f.add_argument("--full-neural", action="store_true", help=argparse.SUPPRESS)  # the default now

    b = add("bench", "run the speed and convergence-rate benchmarks (benchmarks/bench_*.py)")
    b.add_argument("--quick", action="store_true", help="small sizes")
    b.add_argument("--only", default=None, type=_name_list,
                   help="comma-separated module names, e.g. bench_rates")
    b.add_argument("--out", default=BENCH_OUT, type=_out_dir,
                   help=f"folder for every benchmark's JSON and figures (default ./{BENCH_OUT}); "
                        "nothing is written elsewhere")

    a = add("analyse", "spectrum, eigen-gaps, predicted rates and EBF/RSBF distance of your MDP")
    a.add_argument("file", type=_in_file, metavar="FILE", help=".npz or .json MDP file")
    a.add_argument("--k", type=_int_at_least(1), default=None,
                   help="largest order K (default min(n - 1, 8))")
    a.add_argument("--out", default=None, type=_out_dir, help="directory for figures and data "
                   "(default analyse-<file name>)")
    a.add_argument("--t-max", type=_positive_float, default=None,
                   help="time horizon of the alignment figure (default: from the eigen-gap)")

    e = add("experiment", "run one neural experiment of proofs.experiments (C10-C13)")
    e.add_argument("name", type=_experiment_name, help="experiment id: E1, E2, E3 or E4")
    e.add_argument("--seeds", type=_int_at_least(1), default=5, help="number of seeds (default 5)")
    e.add_argument("--quick", action="store_true", help="small configuration")
    e.add_argument("--out", default="repdyn-experiments", type=_out_dir, help="output directory")
    e.add_argument("--config", default=None, choices=("paper",),
                   help="a named configuration instead of the default one: 'paper' (E1 only: "
                   "all 1797 digits, width 256, 2,000 Adam steps per target; about an hour for "
                   "5 seeds on 2 cores)")
    sweep = _sweep_module()
    if sweep is not None and hasattr(sweep, "add_parser"):
        sweep.add_parser(sub)          # repdyn.sweep owns its options (issue 7)
    else:                              # placeholder until repdyn.sweep exists
        w = add("sweep", "run a parameter sweep over a study (needs repdyn.sweep)")
        w.add_argument("args", nargs=argparse.REMAINDER, help="arguments for repdyn.sweep")
    return p


def _sweep_module():
    """``repdyn.sweep`` if it is built and imports, else None."""
    if importlib.util.find_spec("repdyn.sweep") is None:
        return None
    try:
        return importlib.import_module("repdyn.sweep")
    except Exception:   # a half-written module: the placeholder reports it
        return None


def main(argv=None) -> int:
    """Run the command on ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Exit codes: 0 done, 1 a claim fails / a figure or benchmark broke, 2 bad input (one line
    on stderr naming the flag), 130 interrupted.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:      # --help (0) or a bad value (2): already printed
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    try:
        return {"verify": _verify, "figures": _figures, "bench": _bench, "analyse": _analyse,
                "experiment": _experiment, "sweep": _sweep}[args.command](args)
    except ValueError as exc:  # bad input: one line, exit 2
        print(f"repdyn {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:     # an output path that cannot be written (--out, --json)
        print(f"repdyn {args.command}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc) -> str:
    return " ".join(str(exc).split())


def _progress(total, unit="item"):
    from tqdm import tqdm
    return tqdm(total=total, file=sys.stderr, unit=unit, leave=False,
                disable=not sys.stderr.isatty())


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- verify


def _load_checks(plugins) -> tuple[list[str], list[str]]:
    """Import every check module that exists, then the plugins.

    Mirrors ``proofs.registry._load_check_modules`` but tolerates a family module that is not
    built yet (its claims then show as ``not-built``) or that fails to import (same, and
    ``verify`` exits 1: a broken certificate is never a pass). Returns (missing, broken) as
    message lines.
    """
    from repdyn.proofs import registry
    missing, broken = [], []
    for m in registry.CHECK_MODULES:
        if importlib.util.find_spec(m) is None:
            missing.append(f"{m} is not built yet: its claims show as not-built")
            continue
        try:
            importlib.import_module(m)
        except Exception as exc:  # a broken family must not hide the others
            broken.append(f"{m} failed to import ({type(exc).__name__}: {_one_line(exc)}): its "
                          "claims show as not-built")
    registry._LOADED = True
    for m in plugins:
        try:
            importlib.import_module(m)
        except Exception as exc:
            raise ValueError(f"--plugin {m}: import failed: {type(exc).__name__}: {exc}") from None
    return missing, broken


def _find_plugins(args) -> list[str]:
    """The plugin modules of ``--plugin`` and ``$REPDYN_PLUGINS``, each checked to exist before
    any work starts (one line naming the flag otherwise).

    The current folder is put first on ``sys.path``, as ``python -m`` does, so ``my_checks.py``
    beside the user is found even when ``repdyn`` runs as an installed script (whose
    ``sys.path[0]`` is the script's folder).
    """
    env = [m.strip() for m in os.environ.get(PLUGIN_ENV, "").split(",") if m.strip()]
    for m in env:
        try:
            _module_name(m)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"${PLUGIN_ENV} {exc}") from None
    plugins = list(args.plugin) + env
    if not plugins:
        return plugins
    cwd = os.getcwd()
    if not any(p in ("", ".") or os.path.abspath(p) == cwd for p in sys.path if isinstance(p, str)):
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()
    for m in plugins:
        try:
            found = importlib.util.find_spec(m) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            where = "--plugin" if m in args.plugin else f"${PLUGIN_ENV}"
            raise ValueError(f"{where}: no module named {m!r} in the current folder ({cwd}) or "
                             "on the Python path")
    return plugins


def _verify(args) -> int:
    from repdyn.proofs import registry
    from repdyn.report import format_table

    claims = args.claims                 # a list of ids, or None (all)
    plugins = _find_plugins(args)        # before any work: a missing plugin is exit 2
    if not plugins:                      # unknown ids refused at once (plugins may add claims)
        _select_claims(registry, claims)
    mdps = None
    if args.mdp:   # validate the user's input before importing the (heavier) check modules
        from repdyn.mdpfile import load_mdp
        mdps = [load_mdp(args.mdp)]
    missing, broken = _load_checks(plugins)
    ids = _select_claims(registry, claims)     # with the plugins' claims
    for problem in missing + broken:
        _log(f"repdyn verify: note: {problem}")
    ctx = registry.Context(quick=args.quick, seed=args.seed, mdps=mdps, user_mdp=mdps is not None)
    config = _verify_config(args, plugins)
    done = _resumable(args.json_path, config)
    if done:
        _log(f"repdyn verify: resuming from {args.json_path}: {len(done)} finished check(s) reused")
    chks = registry.checks_for(ids, quick=ctx.quick, user_mdp=ctx.user_mdp)
    todo = [c for c in chks if (c.claim, c.name) not in done]
    results = []
    t0 = time.perf_counter()
    bar = _progress(len(todo), "check")

    started = set()

    tty = sys.stderr.isatty()

    def on_start(chk):
        started.add((chk.claim, chk.name))
        bar.set_description(f"{chk.claim} {chk.name[:40]}")
        if not tty and ctx.user_mdp:   # a user's large MDP: one check can take minutes
            _log(f"[{n_done[0] + 1}/{len(todo)}] {chk.claim} {chk.name[:50]}: running")

    n_done = [0]

    def on_result(r):
        results.append(r)
        if (r.claim, r.check) in started:        # not the rows of checks that did not run
            bar.update(1)
            n_done[0] += 1
            if not tty:   # no progress bar without a terminal: one line per finished check
                _log(f"[{n_done[0]}/{len(todo)}] {r.claim} {r.check[:50]}: {r.verdict} ({r.seconds:.1f} s)")
        if args.json_path:  # written as each check finishes: an interrupt loses nothing done
            _write_json(args.json_path, results, ctx, time.perf_counter() - t0, False, config)

    try:
        registry.run(ids, ctx, on_result=on_result, on_start=on_start, done=done)
    except KeyboardInterrupt:
        bar.close()
        _log("interrupted: results so far" + (f" are in {args.json_path} (rerun the same command "
                                               "to resume)" if args.json_path else ""))
        print(format_table(results))
        return 130
    bar.close()
    total = time.perf_counter() - t0
    print(format_table(results))
    counts = {}
    for r in results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    n_resumed = sum(r.resumed for r in results)
    print(f"{len(results)} results in {total:.1f} s: "
          + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
          + (f" ({n_resumed} reused from {args.json_path})" if n_resumed else ""))
    if args.json_path:
        _write_json(args.json_path, results, ctx, total, True, config)
    for problem in broken:
        print(f"error: {problem}")
    # the front end counts failures itself as well: a broken exit_code cannot turn a fails
    # row into exit 0
    return max(registry.exit_code(results, strict=args.strict, requested=claims),
               int(any(r.verdict == "fails" for r in results)), int(bool(broken)))


def _verify_config(args, plugins) -> dict:
    """What a finished check's result depends on besides its name: ``--quick``, ``--seed``, the
    bytes of the ``--mdp`` file, the plugins, and the library's code (``registry.code_version``)."""
    import hashlib
    from repdyn.proofs import registry
    mdp_hash = None
    if args.mdp:
        with open(args.mdp, "rb") as fh:
            mdp_hash = hashlib.sha256(fh.read()).hexdigest()
    return {"quick": bool(args.quick), "seed": int(args.seed), "mdp_sha256": mdp_hash,
            "plugins": sorted(plugins), "code_version": registry.code_version()}


def _resumable(path, config) -> dict:
    """Finished results of an earlier ``--json`` file written under the same ``config``
    (``{(claim, check): Result}``); empty when there is no such file or it does not match."""
    import json
    from repdyn.proofs import registry
    if not path or not os.path.isfile(path):
        return {}
    try:
        with open(path) as fh:
            old = json.load(fh)
        if old.get("config") != config:
            return {}
        done = {}
        for d in old.get("results", []):
            r = registry.Result.from_dict(d)
            if r.verdict not in ("not-run", "not-built"):
                done[(r.claim, r.check)] = r
        return done
    except (ValueError, TypeError, AttributeError) as exc:   # unreadable: start afresh, say so
        _log(f"repdyn verify: note: {path} is not a resumable result file ({_one_line(exc)}); "
             "it will be overwritten")
        return {}


def _write_json(path, results, ctx, seconds, done, config=None):
    from repdyn.figures import write_json
    write_json(path, {"complete": done, "quick": ctx.quick, "seed": ctx.seed,
                      "mdps": [m.name for m in ctx.mdps], "seconds": seconds, "config": config,
                      "results": [r.to_dict() for r in results]})


# ----------------------------------------------------------------------------- figures


def _figures(args) -> int:
    from repdyn import figures as F
    from repdyn.experiments import neural_figures

    figs = list(F.FIGURES)
    notes = []
    if args.skip_neural:
        notes.append("Neural figures (C11-C14): skipped (--skip-neural); "
                     "run `repdyn figures` without it, or `repdyn experiment E1|E2|E3|E4`.")
    else:
        nf, note = neural_figures(seeds=args.neural_seeds, quick=args.quick, out=args.out)
        figs += nf
        if note:
            notes.append(note)
    if args.only:
        pref = args.only
        sel = [f for f in figs if any(f.name.startswith(p) for p in pref)]
        if not sel:
            raise ValueError(f"--only: no figure name starts with {pref}; names: "
                             + ", ".join(f.name for f in figs))
        rest = [f for f in figs if f not in sel]
        figs = sel
    else:
        rest = []
    t0 = time.perf_counter()
    bar = _progress(len(figs), "figure")
    try:
        done = F.build(args.out, figs, progress=bar, log=_log, notes=notes, also=rest)
    except KeyboardInterrupt:
        bar.close()
        _log(f"interrupted: finished figures are in {args.out}; rerun the same command to resume")
        return 130
    bar.close()
    print(f"{'figure':<40} {'status':<8} {'s':>6}")
    for e in done:
        print(f"{e['png']:<40} {e['status']:<8} {e['seconds']:6.1f}")
    for n in notes:
        print(f"note: {n}")
    print(f"index: {os.path.join(args.out, 'index.md')}  ({time.perf_counter() - t0:.1f} s)")
    return int(any(e["status"] == "error" for e in done))


# ----------------------------------------------------------------------------- bench


def _bench(args) -> int:
    import pkgutil
    if importlib.util.find_spec("repdyn.benchmarks") is None:
        raise ValueError("the benchmarks package is not installed (pip install -e .)")
    from repdyn import benchmarks
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    if args.only:
        want = args.only
        unknown = [w for w in want if w not in names]
        if unknown:
            raise ValueError(f"--only: unknown benchmark(s) {unknown}; available: {names}")
        names = [n for n in names if n in want]
    if not names:
        _log("repdyn bench: no benchmarks/bench_*.py modules are built yet: nothing to run")
        return 1
    summary = []
    for name in names:
        t0 = time.perf_counter()
        _log(f"== {name} {'(quick)' if args.quick else ''}")
        status = "ok"
        try:
            mod = importlib.import_module(f"repdyn.benchmarks.{name}")
            if not hasattr(mod, "main"):
                raise AttributeError(f"repdyn.benchmarks.{name} has no main(argv)")
            rc = mod.main(["--out", args.out] + (["--quick"] if args.quick else []))
            if rc not in (None, 0):
                status = f"exit {rc}"
        except KeyboardInterrupt:
            _log(f"interrupted during {name}; finished benchmarks: "
                 + ", ".join(s[0] for s in summary))
            return 130
        except SystemExit as exc:
            status = "ok" if exc.code in (None, 0) else f"exit {exc.code}"
        except Exception as exc:  # one broken benchmark must not stop the others
            status = f"error: {type(exc).__name__}: {_one_line(exc)}"
        summary.append((name, status, time.perf_counter() - t0))
        sys.stdout.flush()
    print(f"\n{'benchmark':<32} {'s':>7}  status")
    for name, status, s in summary:
        print(f"{name:<32} {s:7.1f}  {status}")
    print(f"results: {args.out}/")
    return int(any(st != "ok" for _, st, _ in summary))


# ----------------------------------------------------------------------------- analyse


def _analyse(args) -> int:
    from repdyn.analyse import analyse, format_analysis
    from repdyn.mdpfile import load_mdp
    out = args.out or f"analyse-{os.path.splitext(os.path.basename(args.file))[0]}"
    if args.out is None:            # the default folder is checked as --out would be
        try:
            _out_dir(out)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"--out (default {out}) {exc}") from None
    mdp = load_mdp(args.file, what="FILE")
    result = analyse(mdp, k=args.k, out=out, t_max=args.t_max, log=_log)
    print(format_analysis(result))
    print(f"figures and data: {out}/ (index.md, analysis.json)")
    broken = [f["name"] for f in result.get("figures", []) if f["status"] == "error"]
    if broken:       # a figure that could not be drawn is never a silent success
        print(f"error: figure(s) not drawn: {', '.join(broken)} (see {out}/index.md)")
    return int(bool(broken))


# ----------------------------------------------------------------------------- experiment


def _experiment(args) -> int:
    from repdyn.experiments import load_experiments, run_experiment
    exps = load_experiments()
    if exps is None:
        raise ValueError("repdyn.proofs.experiments is not built yet: no neural experiments to run")
    name = args.name                   # checked and upper-cased by the parser
    if name not in exps:
        raise ValueError(f"name: unknown experiment {args.name!r}; available: {', '.join(sorted(exps))}")
    if args.config is not None:
        import inspect
        if args.quick:
            raise ValueError(f"--config {args.config} and --quick: choose one configuration")
        if "config" not in inspect.signature(exps[name]).parameters:
            raise ValueError(f"--config: experiment {name} has no named configurations")
    t0 = time.perf_counter()
    try:
        entry = run_experiment(name, exps[name], seeds=args.seeds, quick=args.quick, out=args.out,
                               log=_log, config=args.config)
    except KeyboardInterrupt:
        _log(f"interrupted: finished parts are in {args.out}; rerun the same command to resume")
        return 130
    print(f"{name}: {entry['status']} in {time.perf_counter() - t0:.1f} s; data {entry['json']}, "
          f"figure {entry.get('png', '-')}")
    return 0 if entry["status"] in ("written", "cached") else 1


# ----------------------------------------------------------------------------- sweep


def _sweep(args) -> int:
    mod = _sweep_module()
    if mod is None or not hasattr(args, "spec") or not hasattr(mod, "main"):
        if importlib.util.find_spec("repdyn.sweep") is None:
            raise ValueError("repdyn.sweep is not built yet: no sweeps to run")
        try:
            importlib.import_module("repdyn.sweep")
        except Exception as exc:
            raise ValueError(f"repdyn.sweep failed to import: {type(exc).__name__}: {exc}") from None
        raise ValueError("repdyn.sweep has no add_parser(subparsers) / main(args)")
    rc = mod.main(args)                # parsed by repdyn.sweep.add_parser
    return 0 if rc is None else int(rc)


if __name__ == "__main__":
    raise SystemExit(main())
