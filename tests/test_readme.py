"""The README's test command is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _readme_commands() -> list[str]:
    block = re.search(r"```console\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block, "the README opens with a console block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_word_for_word():
    test_command = next(cmd for cmd in _readme_commands() if "tox" in cmd)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
