"""Fixtures of the Django demo's browser tests: the demo in a process of its own, a headless
Chromium per module, a page per test, numbered screenshots.

The demo runs as a person starts it (``python -m onboardkit_django.demo``), on a free port and
in a temporary folder, not inside the test process: it is a Django project with settings of its
own. Chromium is the system's (``ONBOARDKIT_TEST_CHROMIUM``, else ``/usr/bin/chromium``), driven
through Playwright as in the core's browser tests; screenshots go to
``$ONBOARDKIT_TEST_ARTIFACTS`` (else ``<repo>/test-artifacts``) under ``screenshots/``.
Without Playwright or Chromium the tests are left out with the reason, or fail when
``ONBOARDKIT_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[4]
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
START_TIMEOUT = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium through Playwright")


def _required() -> bool:
    return os.environ.get("ONBOARDKIT_REQUIRE_SERVICES", "").strip() not in ("", "0")


def _missing(reason: str) -> None:
    if _required():
        pytest.fail(f"the browser group is required: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.frozen
class DemoSite:
    """The served Django demo and what its banner printed."""

    url: str
    folder: Path
    banner: str

    @property
    def onboarding(self) -> str:
        return f"{self.url}/onboarding"

    def login_of(self, tenant: str) -> tuple[str, str]:
        found = re.search(rf"reviewer\s+{tenant}: (\S+) / (\S+)", self.banner)
        assert found is not None, self.banner
        return found.group(1), found.group(2)

    @property
    def admin_password(self) -> str:
        found = re.search(r"admin\s+\S+ as admin / (\S+)", self.banner)
        assert found is not None, self.banner
        return found.group(1)

    @property
    def partner_code(self) -> str:
        found = re.search(r"partner code for iot: (\S+)", self.banner)
        assert found is not None, self.banner
        return found.group(1)

    def status(self, tenant: str, email: str) -> str | None:
        """The account's status as the demo's database holds it (read-only)."""
        import sqlite3

        database = self.folder / "django-demo.sqlite3"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT status FROM onboardkit_accounts WHERE tenant = ? AND canonical_email = ?",
                (tenant, email.lower()),
            ).fetchone()
        return None if row is None else str(row[0])


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """``python -m onboardkit_django.demo`` on a free port, until the module's tests are done."""
    folder = tmp_path_factory.mktemp("django-demo")
    port = free_port()
    log = folder / "demo.log"
    with log.open("w") as output:
        command = [sys.executable, "-m", "onboardkit_django.demo", "--port", str(port)]
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our arguments
            [*command, "--folder", str(folder)],
            stdout=output,
            stderr=subprocess.STDOUT,
            # The demo is a project of its own: not the test suite's settings module.
            env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the demo stopped: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the demo did not start: {log.read_text()}")
                time.sleep(0.1)
        yield DemoSite(f"http://localhost:{port}", folder, log.read_text())
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install playwright)")
    executable = os.environ.get("ONBOARDKIT_TEST_CHROMIUM") or "/usr/bin/chromium"
    if not Path(executable).exists():
        _missing(f"no Chromium at {executable} (ONBOARDKIT_TEST_CHROMIUM names another)")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


@pytest.fixture
def make_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``make_page(locale="en-US")``: a page in a fresh browser context, closed after the test."""
    contexts: list[Any] = []

    def make(locale: str = "en-US") -> Page:
        context = browser.new_context(locale=locale)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(make_page: Callable[..., Page]) -> Page:
    return make_page()


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shoot(page, name)``: a numbered full-page screenshot of this test."""
    root = Path(os.environ.get("ONBOARDKIT_TEST_ARTIFACTS") or REPO / "test-artifacts")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{request.path.stem}.{request.node.name}")
    directory = root / "screenshots" / name
    for old in directory.glob("[0-9][0-9]-*.png"):
        old.unlink()
    count = 0

    def shoot(page: Page, what: str) -> Path:
        nonlocal count
        count += 1
        path = directory / f"{count:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', what)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot
