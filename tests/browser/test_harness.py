"""The browser harness itself: a live ASGI server, Chromium submitting a form, a screenshot."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

if TYPE_CHECKING:
    # Only for annotations: without Playwright the test is left out, not a collection error.
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def form(request: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><title>Form</title>"
        '<form method="post" action="/greet">'
        '<label>Name <input name="name"></label> <button type="submit">Greet</button>'
        "</form>"
    )


async def greet(request: Request) -> HTMLResponse:
    # Parsed by hand: Starlette's request.form() needs python-multipart.
    fields = parse_qs((await request.body()).decode())
    name = fields.get("name", [""])[0]
    language = request.headers.get("accept-language", "")
    return HTMLResponse(
        "<!doctype html><title>Greeting</title>"
        f'<p id="greeting">Hello, {escape(name)}!</p>'
        f'<p id="language">{escape(language)}</p>'
    )


app = Starlette(routes=[Route("/", form), Route("/greet", greet, methods=["POST"])])


def test_a_form_posted_from_chromium_reaches_the_live_server(
    live_server: Callable[..., str], page: Page, shoot: Callable[[Page, str], Path]
) -> None:
    base_url = live_server(app)
    page.goto(f"{base_url}/")
    page.get_by_label("Name").fill("Ada <Lovelace>")
    page.get_by_role("button", name="Greet").click()
    page.wait_for_url(f"{base_url}/greet")

    assert page.locator("#greeting").inner_text() == "Hello, Ada <Lovelace>!"
    assert page.locator("#language").inner_text().startswith("en-US")
    screenshot = shoot(page, "greeting")
    assert screenshot.name == "01-greeting.png"
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
