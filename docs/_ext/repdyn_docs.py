"""Sphinx extension of the repdyn documentation: pages generated from the code.

Nothing on these pages is typed twice. The claim text, the list of checks and the measured
numbers come from the claim registry (:mod:`repdyn.proofs.registry`: ``CLAIMS``, and the
checks registered by the modules in ``CHECK_MODULES``) and from a stored ``repdyn verify
--json`` result (``docs/_data/verify.json``); the API reference comes from the modules'
``__all__`` and ``repdyn._API``; the benchmark tables from ``benchmarks/results/*.json``.

Directives (for MyST Markdown pages; they emit Markdown):

``{repdyn-claim} C7``
    The claim's statement, assumptions and kind, its registered checks, and the stored
    verdicts with measured and predicted numbers. A claim that is not registered yet renders
    a "not yet registered" note instead.
``{repdyn-claims-table}``
    One row per registered claim: title, kind, checks, stored verdicts.
``{repdyn-verify-meta}``
    When and how the stored result was produced, and the command that regenerates it.
``{repdyn-verify-table}``
    The stored run's table, as ``repdyn verify`` prints it.
``{repdyn-bench} bench_rank``
    The table of ``benchmarks/results/bench_rank.json``.

At ``config-inited`` the API pages are written into ``docs/api/`` from the conf value
``repdyn_api_modules`` (the one list to edit when a module moves).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import os
import re
from collections import Counter

from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(HERE)
ROOT = os.path.dirname(DOCS)
VERIFY_JSON = os.path.join(DOCS, "_data", "verify.json")
BENCH_DIR = os.path.join(ROOT, "benchmarks", "results")
REGENERATE = "python -m repdyn verify --json docs/_data/verify.json"

VERDICT_MARK = {"holds": "holds", "fails": "**fails**", "not-reproduced": "*not-reproduced*",
                "not-applicable": "not-applicable", "not-run": "not-run", "not-built": "*not-built*"}


# ----------------------------------------------------------------------------- data sources


_cache: dict = {}


def registry():
    """The claim registry with every importable check module loaded.

    A check module that fails to import is logged as a warning (a broken certificate must not
    vanish silently from the docs); a module that does not exist yet is skipped.
    """
    if "registry" in _cache:
        return _cache["registry"]
    reg = importlib.import_module("repdyn.proofs.registry")
    problems = []
    for m in getattr(reg, "CHECK_MODULES", ()):
        if importlib.util.find_spec(m) is None:
            problems.append(f"{m} is not built yet")
            continue
        try:
            importlib.import_module(m)
        except Exception as exc:  # report, never hide
            logger.warning(f"repdyn_docs: check module {m} failed to import: "
                           f"{type(exc).__name__}: {exc}")
            problems.append(f"{m} failed to import")
    reg._LOADED = True
    _cache["registry"] = reg
    _cache["registry_problems"] = problems
    return reg


def stored_results() -> dict:
    """The stored ``repdyn verify --json`` payload ({} when there is none)."""
    if "verify" not in _cache:
        try:
            with open(VERIFY_JSON) as fh:
                _cache["verify"] = json.load(fh)
        except FileNotFoundError:
            logger.warning(f"repdyn_docs: {VERIFY_JSON} missing; regenerate with `{REGENERATE}`")
            _cache["verify"] = {}
    return _cache["verify"]


def checks_of(reg, cid: str) -> list:
    return [c for c in reg._CHECKS if c.claim == cid]


# ----------------------------------------------------------------------------- formatting


def cell(x) -> str:
    """Text safe inside one Markdown table cell (roles such as {doc}`...` are kept)."""
    s = str(x).replace("|", "\u2223").replace("\n", " ")
    return s if s.startswith("{doc}`") else s.replace("`", "'")


def fmt(x, depth: int = 0) -> str:
    """A measured / predicted value, compactly: floats to 4 significant digits."""
    if x is None:
        return "\u2014"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.4g}"
    if isinstance(x, str):
        return x
    if isinstance(x, (list, tuple)):
        items = [fmt(v, depth + 1) for v in x[:6]]
        more = f", \u2026 ({len(x)} values)" if len(x) > 6 else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(x, dict):
        items = [f"{k}: {fmt(v, depth + 1)}" for k, v in list(x.items())[:8]]
        more = ", \u2026" if len(x) > 8 else ""
        return "{" + ", ".join(items) + more + "}"
    return str(x)


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(cell(h) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return out


class _MarkdownDirective(SphinxDirective):
    """A directive whose output is MyST Markdown, parsed in place."""

    def markdown(self) -> list[str]:
        raise NotImplementedError

    def run(self):
        from docutils import nodes
        lines = self.markdown()
        container = nodes.container()
        self.state.nested_parse(_string_list(lines, self.get_source_info()[0]),
                                self.content_offset, container)
        return container.children


def _string_list(lines, source):
    from docutils.statemachine import StringList
    return StringList(list(lines), source=source)


# ----------------------------------------------------------------------------- claims


class ClaimDirective(_MarkdownDirective):
    required_arguments = 1
    has_content = False

    def markdown(self) -> list[str]:
        cid = self.arguments[0].strip().upper()
        reg = registry()
        self.env.note_dependency(VERIFY_JSON)
        claim = reg.CLAIMS.get(cid)
        if claim is None:
            return [":::{note}",
                    f"{cid} is not yet registered: `repdyn.proofs.registry.CLAIMS` has no entry "
                    f"{cid!r} in this build, so there is no statement, check or stored result to "
                    "show. The text below describes the claim as planned; this box is replaced "
                    "by the registry's entry once the claim is added.",
                    ":::", ""]
        kind = ("exact: checked to tolerances that follow from the mathematics; it can only "
                "hold or fail" if claim.kind == "exact" else
                "empirical: judged over several seeds with an effect size and a confidence "
                "interval; it holds or is not reproduced")
        out = [f"**Statement** (registry). {claim.statement}", "",
               f"**Assumptions.** {claim.assumptions}", "",
               f"**Kind.** {kind}.", ""]
        chks = checks_of(reg, cid)
        if not chks:
            out += ["**Checks.** None registered yet: `repdyn verify` reports this claim as "
                    "`not-built` (never as holding).", ""]
        else:
            rows = []
            for c in chks:
                doc = inspect.getdoc(c.func) or ""
                first = doc.split("\n\n")[0].replace("\n", " ") if doc else ""
                rows.append([c.name, c.method, "yes" if c.quick else "no",
                             "yes" if c.user_mdp else "no",
                             f"{c.func.__module__}.{c.func.__qualname__}"
                             + (f": {first}" if first else "")])
            out += ["**Checks registered for this claim** (what `repdyn verify` runs):", ""]
            out += md_table(["check", "method", "in --quick", "on --mdp", "defined in"], rows)
            out += [""]
        out += self.results(cid, chks)
        return out

    def results(self, cid: str, chks) -> list[str]:
        data = stored_results()
        res = [r for r in data.get("results", []) if r.get("claim") == cid]
        out = ["**Stored result** "
               f"({'quick' if data.get('quick') else 'full'} run, seed {data.get('seed', '?')}; "
               "see [how it is produced](index.md#stored-verify-result)):", ""] if data else []
        if not data:
            return ["No stored `verify` result in this build.", ""]
        if not res:
            return out + [f"The stored result has no row for {cid}: it predates the claim's "
                          f"checks. Regenerate it with `{REGENERATE}`.", ""]
        rows = [[r.get("check", "-"), r.get("method", "-"), VERDICT_MARK.get(r["verdict"], r["verdict"]),
                 fmt(r.get("measured")), fmt(r.get("predicted")), fmt(r.get("tolerance")),
                 f"{r.get('seconds', 0.0):.1f}"] for r in res]
        out += md_table(["check", "method", "verdict", "measured", "predicted", "tolerance", "s"], rows)
        out += [""]
        reasons = [(r.get("check", "-"), r.get("reason", "")) for r in res if r.get("reason")]
        if reasons:
            out += ["What each check found:", ""]
            out += [f"- *{cell(name)}*: {reason.strip()}" for name, reason in reasons]
            out += [""]
        stored = {r.get("check") for r in res}
        new = [c.name for c in chks if c.name not in stored]
        gone = sorted(n for n in stored - {c.name for c in chks} if n not in ("-", None))
        if new or gone:
            msg = (f"The stored result is older than the code: "
                   + (f"checks without a stored row: {', '.join(new)}; " if new else "")
                   + (f"stored rows of checks that no longer exist: {', '.join(gone)}; " if gone else "")
                   + f"regenerate with `{REGENERATE}`.")
            out += [":::{warning}", msg, ":::", ""]
            logger.info(f"repdyn_docs: {cid}: {msg}")
        return out


class ClaimsTableDirective(_MarkdownDirective):
    has_content = False

    def markdown(self) -> list[str]:
        reg = registry()
        self.env.note_dependency(VERIFY_JSON)
        data = stored_results()
        rows = []
        for cid, c in reg.CLAIMS.items():
            has_page = os.path.exists(os.path.join(DOCS, "theory", f"c{cid[1:]}.md"))
            page = f"{{doc}}`{cid} </theory/c{cid[1:]}>`" if has_page else cid
            if not has_page and cid.startswith("C"):
                logger.warning(f"repdyn_docs: claim {cid} has no page docs/theory/c{cid[1:]}.md "
                               "(every claim needs one; add it to docs/theory/index.md too)",
                               location=self.get_location())
            counts = Counter(r["verdict"] for r in data.get("results", []) if r.get("claim") == cid)
            verdicts = ", ".join(f"{VERDICT_MARK.get(v, v)} {n}" for v, n in sorted(counts.items()))
            methods = sorted({k.method for k in checks_of(reg, cid)})
            rows.append([page, c.title, c.kind, str(len(checks_of(reg, cid))),
                         ", ".join(methods) or "\u2014", verdicts or "no stored row"])
        return md_table(["claim", "title", "kind", "checks", "methods", "stored verdicts"], rows) + [""]


class VerifyMetaDirective(_MarkdownDirective):
    has_content = False

    def markdown(self) -> list[str]:
        registry()
        self.env.note_dependency(VERIFY_JSON)
        data = stored_results()
        if not data:
            return [f"No stored result. Produce one with `{REGENERATE}`.", ""]
        counts = Counter(r["verdict"] for r in data.get("results", []))
        out = [f"The numbers on the theory pages come from `docs/_data/verify.json`, written by "
               f"`{REGENERATE}` ({'--quick, ' if data.get('quick') else ''}seed "
               f"{data.get('seed')}, {len(data.get('results', []))} rows in "
               f"{data.get('seconds', 0.0):.0f} s on the built-in MDPs: "
               f"{', '.join(data.get('mdps', []))}). Verdicts: "
               + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())) + "."]
        if not data.get("complete", False):
            out += ["", ":::{warning}", "The stored run did not finish: some claims have no row. "
                    f"Regenerate with `{REGENERATE}`.", ":::"]
        probs = _cache.get("registry_problems") or []
        if probs:
            out += ["", "Check modules not loaded in this build: " + "; ".join(probs) + "."]
        return out + [""]


class VerifyTableDirective(_MarkdownDirective):
    """The table ``repdyn verify`` printed for the stored run, exactly as the command prints it."""

    has_content = False

    def markdown(self) -> list[str]:
        reg = registry()
        from repdyn.report import format_table
        self.env.note_dependency(VERIFY_JSON)
        data = stored_results()
        fields = [f.name for f in __import__("dataclasses").fields(reg.Result)]
        rows = [reg.Result(**{k: r.get(k) for k in fields}) for r in data.get("results", [])]
        if not rows:
            return [f"No stored result (`{REGENERATE}`).", ""]
        return ["```text", "$ repdyn verify", format_table(rows), "```", ""]


# ----------------------------------------------------------------------------- benchmarks


def bench_payload(name: str) -> dict | None:
    path = os.path.join(BENCH_DIR, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


class BenchDirective(_MarkdownDirective):
    required_arguments = 1
    option_spec = {"columns": directives.unchanged}

    def markdown(self) -> list[str]:
        name = self.arguments[0]
        path = os.path.join(BENCH_DIR, f"{name}.json")
        self.env.note_dependency(path)
        data = bench_payload(name)
        if data is None:
            return [f"No stored result for `{name}` (run `python -m repdyn bench --only {name} --out benchmarks/results`).", ""]
        meta = {k: v for k, v in data.items() if k != "rows" and not isinstance(v, (list, dict))}
        rows = data.get("rows", [])
        cols = ([c.strip() for c in self.options["columns"].split(",")] if "columns" in self.options
                else list(dict.fromkeys(k for r in rows for k in r)))
        out = ["Recorded with " + ", ".join(f"{k} = {fmt(v)}" for k, v in meta.items()) + ".", ""]
        out += md_table(cols, [[fmt(r.get(c)) for c in cols] for r in rows])
        return out + [""]


class BenchListDirective(_MarkdownDirective):
    """Every ``benchmarks/bench_*.py``: what it compares, and whether a result is stored."""

    has_content = False

    def markdown(self) -> list[str]:
        import pkgutil
        bench = importlib.import_module("repdyn.benchmarks")
        rows = []
        for m in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
            if not m.name.startswith("bench_"):
                continue
            mod = importlib.import_module(f"repdyn.benchmarks.{m.name}")
            doc = (inspect.getdoc(mod) or "").split("\n\n")[0].replace("\n", " ")
            stored = os.path.exists(os.path.join(BENCH_DIR, f"{m.name}.json"))
            rows.append([f"`{m.name}`", doc or " ", "below" if stored else "not committed",
                         f"`python -m repdyn bench --only {m.name} --out benchmarks/results`"])
        return md_table(["benchmark", "what it measures", "stored result", "reproduce"], rows) + [""]


# ----------------------------------------------------------------------------- API pages


def _resolve(entry):
    """The first importable module of an entry (a name or a tuple of alternatives)."""
    names = (entry,) if isinstance(entry, str) else tuple(entry)
    for n in names:
        try:
            if importlib.util.find_spec(n) is not None:
                return n
        except ImportError:
            continue
    return None


def _defined_here(mod, name) -> bool:
    obj = getattr(mod, name)
    home = getattr(obj, "__module__", None)
    if inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj) and home:
        return home == mod.__name__
    return True   # data: constants, tuples, dicts, symbols


def _write_if_changed(path: str, text: str) -> None:
    if os.path.exists(path):
        with open(path) as fh:
            if fh.read() == text:
                return
    with open(path, "w") as fh:
        fh.write(text)


def _title(s: str, ch: str = "=") -> list[str]:
    return [s, ch * len(s)]


def generate_api(app, config) -> None:
    """Write docs/api/index.rst and one page per module from ``repdyn_api_modules``."""
    api = os.path.join(app.srcdir, "api")
    os.makedirs(api, exist_ok=True)
    documented: dict[str, str] = {}       # public object id -> canonical dotted name
    sections = []
    for title, entries in config.repdyn_api_modules:
        mods = []
        for entry in entries:
            name = _resolve(entry)
            if name is None:
                logger.warning(f"repdyn_docs: API module {entry!r} not found; update "
                               "repdyn_api_modules in docs/conf.py")
                continue
            mod = importlib.import_module(name)
            public = list(getattr(mod, "__all__", []))
            if not public:
                logger.warning(f"repdyn_docs: {name} has no __all__; nothing to document")
            own = [n for n in public if _defined_here(mod, n)]
            reexp = [n for n in public if n not in own]
            for n in own:
                documented.setdefault(id(getattr(mod, n)), f"{name}.{n}")
            mods.append((name, mod, own, reexp))
        sections.append((title, mods))

    summaries: dict[str, str] = {}
    for title, mods in sections:
        for name, mod, own, reexp in mods:
            doc = inspect.getdoc(mod) or ""
            summary = doc.split("\n\n")[0].replace("\n", " ") if doc else ""
            lines = _title(name) + ["", f".. automodule:: {name}", "   :no-members:", "",
                                    f".. currentmodule:: {name}", ""]
            if own:
                lines += [".. autosummary::", "   :toctree: generated/", "   :nosignatures:", ""]
                lines += [f"   {n}" for n in own]
                lines += [""]
            if reexp:
                lines += ["Also importable from this module (defined elsewhere):", ""]
                for n in reexp:
                    target = documented.get(id(getattr(mod, n)))
                    lines += [f"* :obj:`{n} <{target}>`" if target else f"* ``{n}``"]
                lines += [""]
            _write_if_changed(os.path.join(api, f"{name}.rst"), "\n".join(lines) + "\n")
            summaries[name] = summary

    written = {f"{name}.rst" for _, mods in sections for name, *_ in mods}
    for fn in os.listdir(api):          # a module dropped from the list leaves no stale page
        if fn.startswith("repdyn.") and fn.endswith(".rst") and fn not in written:
            os.remove(os.path.join(api, fn))

    top = importlib.import_module("repdyn")
    rows = []
    for pub, target in top._API.items():
        modname, _, attr = target.partition(":")
        attr = attr or pub
        try:
            obj = getattr(importlib.import_module(modname), attr)
        except Exception as exc:
            logger.warning(f"repdyn_docs: repdyn.{pub} -> {target} does not import: {exc}")
            continue
        canon = documented.get(id(obj))
        if canon is None:
            logger.warning(f"repdyn_docs: repdyn.{pub} ({target}) is on no API page; add its "
                           "module to repdyn_api_modules in docs/conf.py")
            rows.append((pub, f"``{modname}.{attr}``"))
        else:
            rows.append((pub, f":obj:`{canon}`"))

    lines = _title("API reference") + [
        "",
        "Every public name has a page with its numpydoc sections; the examples in the "
        "docstrings run as doctests (``python -m sphinx -b doctest docs docs/_build/doctest``). The "
        "folders ``analysis/``, ``kernels/``, ``proofs/`` install as ``repdyn.analysis``, "
        "``repdyn.kernels`` and ``repdyn.proofs``: always import the full name, e.g. "
        "``from repdyn.analysis.spectral import ebfs``. Argument conventions and the rules for "
        "invalid input are on :doc:`../contract`.",
        "",
    ] + _title("The curated names of ``import repdyn``", "-") + [
        "",
        "``repdyn`` re-exports these names lazily (the first use imports the defining module).",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 30 70",
        "",
        "   * - ``repdyn.<name>``",
        "     - defined as",
    ]
    for pub, ref in rows:
        lines += [f"   * - ``{pub}``", f"     - {ref}"]
    lines += [""]
    for title, mods in sections:
        lines += _title(title, "-") + [""]
        lines += [".. list-table::", "   :widths: 35 65", ""]
        for name, mod, own, reexp in mods:
            lines += [f"   * - :doc:`{name}`", f"     - {summaries[name] or ' '}"]
        lines += [""]
    missing = []
    for _, mods in sections:
        for name, mod, own, _ in mods:
            for n in own:
                obj = getattr(mod, n)
                if (inspect.isfunction(obj) or inspect.isclass(obj)) and ">>>" not in (inspect.getdoc(obj) or ""):
                    missing.append(f"{name}.{n}")
    if missing:
        lines += _title("Not yet with a runnable example", "-") + [
            "", f"These {len(missing)} public functions and classes have an API page but no "
            "``Examples`` section yet (computed at build time):", ""]
        lines += [f"* :obj:`{m}`" for m in missing] + [""]
    lines += [".. toctree::", "   :hidden:", ""]
    lines += [f"   {name}" for _, mods in sections for name, *_ in mods]
    _write_if_changed(os.path.join(api, "index.rst"), "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- references


ROOMS = ("analysis.", "kernels.", "proofs.", "benchmarks.")


def _importable(dotted: str) -> bool:
    """True if ``dotted`` names a module, or an attribute of a module, that exists."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        modname = ".".join(parts[:i])
        try:
            if importlib.util.find_spec(modname) is None:
                continue
        except (ImportError, ValueError):
            continue
        obj = importlib.import_module(modname)
        try:
            for a in parts[i:]:
                obj = getattr(obj, a)
        except AttributeError:
            return False
        return True
    return False


def resolve_room_reference(app, env, node, contnode):
    """Resolve the code's short references (``analysis.mdp.MDP``, ``SymbolicIntractableError``).

    Docstrings name objects by their room (``analysis.x``, the folder) or by their bare name;
    both mean ``repdyn.analysis.x``. The reference is linked to the documented object if there
    is exactly one candidate; an object that exists but has no page (a private module, a check
    function) is shown as plain code. Anything else stays unresolved, so ``-n`` reports it.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    domain = env.get_domain("py")
    candidates = []
    if target.startswith(ROOMS):
        candidates.append("repdyn." + target)
    modname = node.get("py:module") or ""
    clsname = node.get("py:class") or ""
    if modname and clsname and "." not in target:
        candidates.append(f"{modname}.{clsname}.{target}")
    if modname and "." not in target:
        candidates.append(f"{modname}.{target}")
    objects = domain.objects
    for cand in candidates:
        if cand in objects:
            return _make_ref(app, env, node, contnode, cand, domain)
        if cand in domain.modules:
            return _make_ref(app, env, node, contnode, cand, domain)
    if "." not in target:      # a bare name: a unique documented object of that name
        hits = [k for k in objects if k.startswith("repdyn.") and k.rsplit(".", 1)[-1] == target]
        if len(hits) == 1:
            return _make_ref(app, env, node, contnode, hits[0], domain)
    for cand in candidates + ["repdyn." + target if not target.startswith("repdyn.") else target]:
        if _importable(cand):
            return contnode        # exists, but is not on the site: plain code, no link
    return None


def _make_ref(app, env, node, contnode, fullname, domain):
    return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", fullname, node, contnode)


_BAR = re.compile(r"(?<![\\`|])\|([^|`\s][^|`]*?[^|`\s]|[^|`\s])\|(?![|_`])")


_DOCS_REF = re.compile(r"docs: (theory/c\d+|theory/index|contract|architecture)\b")


def _link_docs_refs(line: str) -> str:
    """``docs: theory/c7`` in a docstring becomes a link to that page (outside literals)."""
    out, last = [], 0
    for m in _DOCS_REF.finditer(line):
        if line.count("``", 0, m.start()) % 2 or line.count("`", 0, m.start()) % 2:
            continue                      # inside a literal or a role: leave as written
        out.append(line[last:m.start()])
        out.append(f":doc:`docs: {m.group(1)} </{m.group(1)}>`")
        last = m.end()
    return "".join(out) + line[last:] if out else line


def tidy_docstring(app, what, name, obj, options, lines):
    """Make plain-text mathematics in docstrings safe for reStructuredText.

    The code points at pages of this site as ``docs: theory/c7``: those become links. It
    writes norms and absolute values as ``|x|`` (read by docutils as a substitution)
    and sometimes underlines a numpydoc heading one character short; an ellipsis inside a literal
of the first paragraph would end autosummary's one-line summary mid-literal. All are repaired here,
    on the rendered text only, so the source stays as written.
    """
    for i, line in enumerate(lines):
        if not line.strip():
            break
        if "``" in line:   # autosummary cuts the summary at '. ': keep '...' in a literal whole
            lines[i] = line.replace("...", "\u2026")
    for i, line in enumerate(lines):
        if "docs: " in line:
            lines[i] = line = _link_docs_refs(line)
        s = line.strip()
        if s and not s.startswith(("|", "+")) and "|" in line:
            lines[i] = _BAR.sub(lambda m: "\\|" + m.group(1) + "\\|", line)
        if i and s and set(s) <= set("-=~^") and len(s) >= 3:
            prev = lines[i - 1].strip()
            if prev and len(prev) > len(s) and not set(prev) <= set("-=~^"):
                lines[i] = line[: len(line) - len(line.lstrip())] + s[0] * len(prev)


def _patch_autosummary_summary():
    """autosummary ends a summary at the first '. ', even inside a ``literal`` that holds
    '... ' (e.g. ``E[x_1 ... x_2p]``); then the literal is left open. Keep it closed."""
    from sphinx.ext import autosummary as asm
    if getattr(asm.extract_summary, "_repdyn", False):
        return
    original = asm.extract_summary

    def extract_summary(doc, document):
        doc = [line.replace("...", "\u2026") if "``" in line else line for line in doc]
        return original(doc, document)
    extract_summary._repdyn = True
    asm.extract_summary = extract_summary


def setup(app):
    _patch_autosummary_summary()
    app.connect("missing-reference", resolve_room_reference)
    app.connect("autodoc-process-docstring", tidy_docstring)
    app.add_config_value("repdyn_api_modules", [], "env")
    app.connect("config-inited", generate_api)
    app.add_directive("repdyn-claim", ClaimDirective)
    app.add_directive("repdyn-claims-table", ClaimsTableDirective)
    app.add_directive("repdyn-verify-meta", VerifyMetaDirective)
    app.add_directive("repdyn-verify-table", VerifyTableDirective)
    app.add_directive("repdyn-bench", BenchDirective)
    app.add_directive("repdyn-bench-list", BenchListDirective)
    # env_version: bump when the rendered Markdown changes, so incremental builds re-read pages
    return {"version": "1.0", "env_version": 3, "parallel_read_safe": True,
            "parallel_write_safe": True}
