"""The README's Python examples run as written (a stale README is a bug)."""
import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    ns = {"np": np}
    for block in blocks:
        exec(compile(block, str(README), "exec"), ns)
    ns["test_constant_reward"]()          # the hypothesis example in the README


def _plain_blocks(text):
    """Contents of fenced blocks without a language tag."""
    blocks, cur, lang = [], None, None
    for line in text.splitlines():
        if line.startswith("```"):
            if cur is None:
                cur, lang = [], line[3:].strip()
            else:
                if not lang:
                    blocks.append("\n".join(cur))
                cur = None
        elif cur is not None:
            cur.append(line)
    return blocks


def test_readme_has_exactly_the_two_commands_ci_runs():
    text = README.read_text()
    shell = _plain_blocks(text)
    assert [s.strip() for s in shell] == ["pip install . && repdyn verify",
                                          'pip install -e ".[test]" && python -m pytest']
    ci = (README.parent / ".ci" / "run").read_text()
    assert shell[1].strip() in ci
