"""The README's Python examples run as written, each on its own (a stale README is a bug).

Every ```python block runs alone in a fresh interpreter, as a reader pasting it would run it:
a block that leans on an import of another block fails here.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
#: Each block's budget: a fresh interpreter imports numpy, scipy and sympy (~3 s on 2 cores);
#: the hypothesis block runs 100 examples (~5 s). A block that hangs must not hold the suite.
BLOCK_TIMEOUT_S = 120


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("i", range(len(BLOCKS)), ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs_alone(i, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(README.parent), env.get("PYTHONPATH", "")])
    p = subprocess.run([sys.executable, "-c", BLOCKS[i]], cwd=str(tmp_path), env=env,
                       capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    assert p.returncode == 0, f"README python block {i} fails alone:\n{BLOCKS[i]}\n{p.stderr}"


def test_readme_block_without_its_imports_fails(tmp_path):
    """The check can fail: a block with its numpy import removed (issue 16: the tour's
    hypothesis block had none, and ran only after the first block) is refused."""
    block = BLOCKS[0]
    assert "import numpy as np\n" in block
    broken = block.replace("import numpy as np\n", "")
    p = subprocess.run([sys.executable, "-c", broken], cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=BLOCK_TIMEOUT_S)
    assert p.returncode != 0 and "NameError" in p.stderr


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
