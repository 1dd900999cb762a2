"""Test helpers: drive onboardkit's pages through Django's test client with
:class:`onboardkit.testing.Browser` (forms, CSRF tokens, mailed links)::

    from onboardkit.testing import Browser
    from onboardkit_django.testing import DjangoClientTransport

    browser = Browser(DjangoClientTransport(), base_url="https://testserver", root="/onboarding")
    browser.get(browser.url("/pim/register"))
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from django.test import Client

from onboardkit.web import WebResponse

__all__ = ["DjangoClientTransport"]


class DjangoClientTransport:
    """An :class:`onboardkit.testing.Transport` over Django's test ``Client``: the whole
    project answers (middleware, URLconf, views), in process.

    It never follows redirects and keeps no cookies in the client (the ``Browser`` keeps them),
    so one client may serve several browsers.

    :param client: The test client; a new one by default.
    """

    def __init__(self, client: Client | None = None) -> None:
        self.client = client or Client()

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        parts = urlsplit(url)
        sent: dict[str, str] = {}
        content_type: str | None = None
        for name, value in headers:
            if name.lower() == "content-type":
                content_type = value
            else:
                known = sent.get(name.lower())
                sent[name.lower()] = value if known is None else f"{known}, {value}"
        self.client.cookies.clear()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        # Django's client sets CONTENT_TYPE only for a body; an empty one keeps its type too.
        extra = {"content_type": content_type, "CONTENT_TYPE": content_type} if content_type else {}
        if parts.hostname and "host" not in sent:
            sent["host"] = parts.netloc
        answer = self.client.generic(
            method,
            target,
            body,
            secure=parts.scheme == "https",
            headers=sent,
            **extra,  # type: ignore[arg-type]
        )
        self.client.cookies.clear()
        lines = list(answer.items()) + [
            ("Set-Cookie", morsel.OutputString()) for morsel in answer.cookies.values()
        ]
        content = b"" if getattr(answer, "streaming", False) else answer.content
        return WebResponse(answer.status_code, tuple(lines), content)
