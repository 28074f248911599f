"""The ``repdyn`` command. Thin: it parses arguments and calls the library and the registry."""
from __future__ import annotations

import argparse
import json
import sys
import time

EXAMPLES = {
    "verify": "example: repdyn verify --quick --claims C1,C2 --json results.json",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repdyn", description="Representation dynamics in RL: "
                                "derive, simulate and check every claim (C1-C13).")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check the claims and print one table",
                       epilog=EXAMPLES["verify"],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("--quick", action="store_true", help="smaller runs, fewer seeds")
    v.add_argument("--strict", action="store_true",
                   help="also exit 1 on not-reproduced / not-built claims")
    v.add_argument("--claims", default=None, help="comma-separated claim ids, e.g. C2,C5")
    v.add_argument("--json", dest="json_path", default=None, help="write results as JSON here")
    v.add_argument("--mdp", default=None, help=".npz or .json with P, R, gamma: check the "
                   "exact claims on your own MDP")
    v.add_argument("--seed", type=int, default=0, help="seed for every random draw (default 0)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "verify":
            return _verify(args)
    except ValueError as exc:  # bad input: one line, exit 2
        print(f"repdyn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 2


def _verify(args) -> int:
    from proofs import registry
    from repdyn.report import format_table

    claims = args.claims.split(",") if args.claims else None
    mdps = None
    if args.mdp:
        from repdyn.mdpfile import load_mdp
        mdps = [load_mdp(args.mdp)]
    ctx = registry.Context(quick=args.quick, seed=args.seed, mdps=mdps, user_mdp=mdps is not None)
    chks = registry.checks_for(registry._select(claims), quick=ctx.quick, user_mdp=ctx.user_mdp)
    results = []
    t0 = time.perf_counter()
    bar = _progress(len(chks))

    def on_start(chk):
        bar.set_description(f"{chk.claim} {chk.name[:40]}")

    def on_result(r):
        results.append(r)
        if r.check != "-":
            bar.update(1)
        if args.json_path:  # written as each check finishes: an interrupt loses nothing done
            _write_json(args.json_path, results, ctx, time.perf_counter() - t0, done=False)

    try:
        registry.run(claims, ctx, on_result=on_result, on_start=on_start)
    except KeyboardInterrupt:
        bar.close()
        print("interrupted: results so far" + (f" are in {args.json_path}" if args.json_path else ""),
              file=sys.stderr)
        print(format_table(results))
        return 130
    bar.close()
    total = time.perf_counter() - t0
    print(format_table(results))
    print(f"{len(results)} results in {total:.1f} s")
    if args.json_path:
        _write_json(args.json_path, results, ctx, total, done=True)
    return registry.exit_code(results, strict=args.strict)


def _progress(total):
    from tqdm import tqdm
    return tqdm(total=total, file=sys.stderr, unit="check", leave=False,
                disable=not sys.stderr.isatty())


def _write_json(path, results, ctx, seconds, done):
    import os
    payload = {"complete": done, "quick": ctx.quick, "seed": ctx.seed,
               "mdps": [m.name for m in ctx.mdps], "seconds": seconds,
               "results": [r.to_dict() for r in results]}
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(payload, fh, indent=1)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
