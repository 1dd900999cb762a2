"""The README's test command is the one CI runs."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _readme_commands() -> list[str]:
    block = re.search(r"```console\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block, "the README opens with a console block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_opens_with_the_demo_then_the_test_command():
    demo, tests = _readme_commands()[:2]
    assert demo.endswith("python -m onboardkit_fastapi.demo")
    assert demo.startswith("python -m pip install . ")
    assert tests == "python -m pip install tox && python -m tox"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_demo_command_serves_the_three_portals_and_prints_the_logins(tmp_path):
    """The README's demo command, after its install step: it starts, prints where to go and how
    to sign in, and serves the portals and the sent-mail page."""
    port = _free_port()
    command = [sys.executable, "-m", "onboardkit_fastapi.demo", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(10)]
        text = "".join(banner)
        assert f"http://localhost:{port}/" in text
        assert "review@pim.example.com / " in text
        assert "partner code for iot: " in text
        pages = {}
        deadline = time.monotonic() + 30
        for path in ("/", "/mail", "/pim/register", "/collaboration/login", "/iot/start"):
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as answer:
                        pages[path] = (answer.status, answer.read().decode())
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        assert all(status == 200 for status, _ in pages.values())
        assert "Customer number" in pages["/pim/register"][1]
        assert (tmp_path / "onboardkit-demo" / "onboardkit-demo.sqlite3").exists()
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


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
