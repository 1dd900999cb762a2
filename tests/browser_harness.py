"""Helpers of the browser tests: a live ASGI server, a headless Chromium, screenshots.

The fixtures built on them are in ``tests/browser/conftest.py``; whether the browser tests run at
all (the ``browser`` group: Chromium and Playwright present) is decided in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = ("ONBOARDKIT_TEST_ARTIFACTS", REPO / "test-artifacts")
#: Headless Chromium on this machine needs these; without the background-networking ones it
#: keeps trying (and failing) to reach Google's services.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DEFAULT_LOCALE = "en-US"
SERVER_START_TIMEOUT = 10.0


def artifacts_dir() -> Path:
    """Where test artifacts go: ``$ONBOARDKIT_TEST_ARTIFACTS`` or ``<repo>/test-artifacts``."""
    variable, default = ARTIFACTS
    return Path(os.environ.get(variable) or default)


@contextmanager
def live_server(app: Any, **config: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn on 127.0.0.1 in a thread; yield its base URL.

    The port is a free one the operating system picks. ``config`` adds to or overrides the
    ``uvicorn.Config`` arguments. The server has started (lifespan startup included) when the
    URL is yielded, and has stopped when the block is left.
    """
    import uvicorn

    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "log_level": "warning",
        "lifespan": "on",
        # No websockets: importing uvicorn's websockets support may warn, and warnings are errors.
        "ws": "none",
        **config,
    }
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, name="live_server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the live server stopped before it started")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the live server did not start in {SERVER_START_TIMEOUT} s")
            time.sleep(0.01)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_START_TIMEOUT)


@contextmanager
def chromium(executable_path: str) -> Iterator[Browser]:
    """A headless Chromium driven through Playwright's sync API; closed when the block is left."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=executable_path, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "shot"


class Camera:
    """Numbered full-page screenshots of one test: ``<dir>/<nn>-<name>.png``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def __call__(self, page: Page, name: str) -> Path:
        if self.count == 0:
            # A previous run's shots of this test would mix with this run's numbers.
            for old in self.directory.glob("[0-9][0-9]-*.png"):
                old.unlink()
        self.count += 1
        path = self.directory / f"{self.count:02d}-{_safe(name)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        return path


def screenshots_dir(module: str, test: str) -> Path:
    """The screenshot folder of one test (module file stem, test name with its parameters)."""
    return artifacts_dir() / "screenshots" / _safe(f"{module}.{test}")
