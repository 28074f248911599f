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


def test_readme_has_exactly_the_two_commands_ci_runs():
    text = README.read_text()
    shell = re.findall(r"```\n(.*?)```", text, re.S)
    assert [s.strip() for s in shell] == ["pip install . && repdyn verify",
                                          'pip install -e ".[test]" && python -m pytest']
    ci = (README.parent / ".ci" / "run").read_text()
    assert shell[1].strip() in ci
