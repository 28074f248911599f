"""Plain-text tables of registry results."""
from __future__ import annotations


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}"
    if isinstance(x, dict):
        s = ", ".join(f"{k}={_fmt(v)}" for k, v in x.items())
        return s if len(s) <= 28 else s[:25] + "..."
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in x[:3]) + (f", ... ({len(x)})" if len(x) > 3 else "") + "]"
    s = str(x)
    return s if len(s) <= 28 else s[:25] + "..."


def format_table(results) -> str:
    """One row per check: claim, statement (title), check, method, measured, predicted, verdict, seconds.

    Columns are at most 44 characters wide (longer cells are cut); reasons of every result
    that does not hold follow the table as notes.
    """
    head = ("claim", "statement", "check", "method", "measured", "predicted", "verdict", "s")
    rows = [head] + [(r.claim, r.title, r.check, r.method, _fmt(r.measured), _fmt(r.predicted),
                      r.verdict, f"{r.seconds:.2f}") for r in results]
    widths = [min(max(len(str(row[i])) for row in rows), 44) for i in range(len(head))]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(str(c)[:widths[i]].ljust(widths[i]) for i, c in enumerate(row)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {r.claim} {r.check}: {r.reason}" for r in results
             if r.reason and r.verdict not in ("holds",)]
    if notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(notes)
    return "\n".join(lines)
