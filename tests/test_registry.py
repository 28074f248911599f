"""The claim registry: verdicts, not-built claims, crashing checks, exit codes."""
import pytest

from repdyn.proofs import registry
from repdyn.proofs.registry import CLAIMS, Context, Outcome, Result, exit_code


def _result(verdict):
    return Result("C1", "t", "c", "numeric", verdict, None, None, None, "", {}, 0.0)


def test_every_spec_claim_is_registered_with_a_check():
    assert list(CLAIMS) == [f"C{i}" for i in range(1, 15)]
    have = {c.claim for c in registry.checks_for(None)}
    assert have == set(CLAIMS), f"claims without a check: {set(CLAIMS) - have}"


def test_exit_codes():
    assert exit_code([_result("holds"), _result("not-applicable")]) == 0
    assert exit_code([_result("holds"), _result("fails")]) == 1
    assert exit_code([_result("not-reproduced")]) == 0
    assert exit_code([_result("not-reproduced")], strict=True) == 1
    assert exit_code([_result("not-built")], strict=True) == 1
    # not-run: never an exit 1 without --strict; under --strict only for a claim asked for by name
    assert exit_code([_result("holds"), _result("not-run")]) == 0
    assert exit_code([_result("not-run")], strict=True) == 0
    assert exit_code([_result("not-run")], strict=True, requested=["c1"]) == 1
    assert exit_code([_result("not-run")], strict=True, requested=["C2"]) == 0
    assert exit_code([_result("not-run")], strict=False, requested=["C1"]) == 0


def test_a_crashing_check_fails_and_unknown_claims_are_refused(monkeypatch):
    def boom(ctx):
        raise RuntimeError("kaput")
    chk = registry._Check("C1", "boom", "numeric", boom, True, False)
    r = registry.run_check(chk, Context(quick=True))
    assert r.verdict == "fails" and "kaput" in r.reason
    with pytest.raises(ValueError, match="claims"):
        registry.run(["C99"], Context(quick=True))
    with pytest.raises(ValueError, match="verdict"):
        Outcome("maybe")


def test_claims_without_checks_are_not_built(monkeypatch):
    monkeypatch.setattr(registry, "_CHECKS", [c for c in registry._CHECKS if c.claim != "C4"])
    res = registry.run(["C4"], Context(quick=True))
    assert [r.verdict for r in res] == ["not-built"]


def test_quick_run_reports_each_skipped_check(monkeypatch):
    """C13 has a quick check and a full-only one: under --quick the full-only check must show
    as its own not-run row, not vanish behind the quick check's verdict."""
    from repdyn.proofs import registry as reg
    reg._load_check_modules()
    full_only = [c for c in reg._CHECKS if c.claim == "C13" and not c.quick]
    assert full_only
    monkeypatch.setattr(reg, "run_check", lambda chk, ctx: reg.Result(
        chk.claim, "", chk.name, chk.method, "holds", None, None, None, "", {}, 0.0))
    rows = reg.run(["C13"], reg.Context(quick=True))
    skipped = [r for r in rows if r.verdict == "not-run"]
    assert {r.check for r in skipped} == {c.name for c in full_only}
    assert all("--quick" in r.reason for r in skipped)
    assert not any(r.verdict == "not-applicable" for r in rows)
    assert len(rows) == sum(c.claim == "C13" for c in reg._CHECKS)


def test_a_claim_with_no_quick_check_lists_each_check_not_run(monkeypatch):
    """Every registered check of a selected claim gives one row, whatever was left out."""
    from repdyn.proofs import registry as reg
    reg._load_check_modules()
    only_full = [reg._Check("C9", f"full {i}", "numeric", lambda ctx: Outcome("holds"), False, False)
                 for i in range(2)]
    monkeypatch.setattr(reg, "_CHECKS", [c for c in reg._CHECKS if c.claim != "C9"] + only_full)
    rows = reg.run(["C9"], reg.Context(quick=True))
    assert [(r.check, r.verdict) for r in rows] == [("full 0", "not-run"), ("full 1", "not-run")]
    rows = reg.run(["C9"], reg.Context(quick=False))
    assert [r.verdict for r in rows] == ["holds", "holds"]


def test_done_results_are_reused_not_recomputed(monkeypatch):
    from repdyn.proofs import registry as reg
    reg._load_check_modules()
    calls = []

    def chk(ctx):
        calls.append(1)
        return Outcome("holds", measured=1.0)
    mine = [reg._Check("C9", "a", "numeric", chk, True, False),
            reg._Check("C9", "b", "numeric", chk, True, False)]
    monkeypatch.setattr(reg, "_CHECKS", [c for c in reg._CHECKS if c.claim != "C9"] + mine)
    prev = Result.from_dict(_result("fails").to_dict() | {"claim": "C9", "check": "a"})
    rows = reg.run(["C9"], reg.Context(quick=True), done={("C9", "a"): prev})
    assert [(r.check, r.verdict, r.resumed) for r in rows] == [("a", "fails", True),
                                                               ("b", "holds", False)]
    assert len(calls) == 1
    with pytest.raises(ValueError, match="verdict"):
        Result.from_dict(_result("holds").to_dict() | {"verdict": "maybe"})


def test_code_version_is_a_stable_hash_of_the_sources():
    v = registry.code_version()
    assert len(v) == 64 and v == registry.code_version()


def test_import_repdyn_and_help_load_no_heavy_module():
    """The curated API is lazy: ``import repdyn`` and ``repdyn --help`` import neither numba,
    scipy, sympy nor matplotlib; the first use of a name loads its module."""
    import subprocess
    import sys
    code = ("import contextlib, io, sys, repdyn\n"
            "from repdyn.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('numba', 'scipy', 'sympy', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(repdyn.ebfs) and 'scipy' in sys.modules\n"
            "assert repdyn.ebfs is __import__('repdyn.analysis.spectral', fromlist=['x']).ebfs\n"
            "try:\n    repdyn.no_such_name\nexcept AttributeError:\n    pass\n"
            "else:\n    raise SystemExit('missing name did not raise')\n")
    subprocess.run([sys.executable, "-c", code], check=True)
