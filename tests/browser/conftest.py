"""Fixtures of the browser tests: one headless Chromium per run, a page per test, screenshots.

A browser test carries the ``browser`` marker; without Chromium or Playwright it is left out (or,
with ``ONBOARDKIT_REQUIRE_SERVICES=1``, fails). See ``tests/browser_harness.py`` for the helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import browser_harness as harness

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[Browser]:
    """A headless Chromium per test module (Playwright's sync API).

    Not per session: Playwright's sync API keeps an event loop running in the main thread while
    it is started, and the asyncio tests that run after the browser tests need that thread.
    """
    with harness.chromium(chromium_executable) as launched:
        yield launched


@pytest.fixture
def make_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``make_page(locale="en-US", **context_options)``: a page in a fresh browser context.

    ``context_options`` go to ``Browser.new_context``. Every context is closed after the test.
    """
    contexts: list[Any] = []

    def make(locale: str = harness.DEFAULT_LOCALE, **context_options: Any) -> Page:
        context = browser.new_context(locale=locale, **context_options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, make_page: Callable[..., Page]) -> Page:
    """A page in a fresh context, locale "en-US"; another locale by indirect parametrisation:

    ``@pytest.mark.parametrize("page", ["de-DE"], indirect=True)``
    """
    return make_page(locale=getattr(request, "param", harness.DEFAULT_LOCALE))


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shoot(page, name) -> Path``: a full-page PNG screenshot, numbered in order, at
    ``<artifacts>/screenshots/<module>.<test>/<nn>-<name>.png``; ``<artifacts>`` is
    ``$ONBOARDKIT_TEST_ARTIFACTS`` or ``<repo>/test-artifacts``.
    """
    return harness.Camera(harness.screenshots_dir(request.path.stem, request.node.name))


@pytest.fixture
def live_server() -> Iterator[Callable[..., str]]:
    """``live_server(app, **uvicorn_config) -> base_url``: serve an ASGI app for this test.

    The server runs in a thread on 127.0.0.1 at a free port and stops after the test. For a
    server shared by several tests, use ``browser_harness.live_server`` (a context manager) in a
    fixture of a wider scope.
    """
    with ExitStack() as servers:
        yield lambda app, **config: servers.enter_context(harness.live_server(app, **config))
