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


def test_the_python_example_runs_against_the_example_configuration(tmp_path, monkeypatch):
    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block, "the README shows the flows from Python"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("ONBOARDKIT_SECRET_KEY", "readme-example-" + "k3y-Material-" * 3)
    monkeypatch.setenv("ONBOARDKIT_DATABASE_URL", f"sqlite:///{tmp_path / 'readme.sqlite3'}")
    monkeypatch.setenv("ONBOARDKIT_SMTP_PASSWORD", "not-used-by-the-example")
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our README
    namespace["onboarding"].store.dispose()
    assert namespace["submitted"].tenant == "pim"
    assert not (ROOT / "onboardkit.sqlite3").exists()
