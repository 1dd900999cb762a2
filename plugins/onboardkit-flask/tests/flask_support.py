"""What the Flask plugin's tests share: a transport over Flask's test client, tenants and a
service on any store, and the databases the tests run on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onboardkit.web import WebResponse


class FlaskTransport:
    """A :class:`onboardkit.testing.Transport` over Flask's (werkzeug's) test client.

    The client keeps no cookies (``use_cookies=False``): the browser sends its own ``Cookie``
    header, so one client serves several browsers.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        answer = self.client.open(url, method=method, headers=list(headers), data=body)
        return WebResponse(
            answer.status_code,
            tuple((str(name), str(value)) for name, value in answer.headers.items()),
            bytes(answer.get_data()),
        )
