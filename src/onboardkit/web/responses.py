"""The core's response value: what a framework plugin turns into its own response."""

from __future__ import annotations

import json
from typing import Any

import attrs

from onboardkit.web.sessions import SessionChange

__all__ = ["WebResponse"]


@attrs.frozen
class WebResponse:
    """One HTTP response, complete: status, every header (``Set-Cookie`` lines included) and body.

    A plugin copies all three as they are; it adds nothing and drops nothing. ``session`` tells
    it whether the answer signed a person in or out (:class:`~onboardkit.web.SignedIn`,
    :class:`~onboardkit.web.SignedOut`): in host session mode the plugin then calls the
    framework's own login or logout.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    session: SessionChange | None = None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Every header called ``name`` (``Set-Cookie`` comes once per cookie)."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def media_type(self) -> str | None:
        content_type = self.header("content-type")
        return content_type.split(";", 1)[0].strip() if content_type else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)
