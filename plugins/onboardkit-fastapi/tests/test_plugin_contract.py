"""The FastAPI router passes onboardkit's plugin contract: it answers exactly as the core does,
in cookie mode and in host mode.

In host mode the app's sessions are a small ``SessionBackend`` keyed by a cookie of the app's own,
so that nothing but the router shapes the answers (Starlette's ``SessionMiddleware`` would rewrite
``Vary``; ``StarletteSessions`` is tested on its own in test_host_sessions.py).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from onboardkit_fastapi import onboarding_router

from onboardkit.testing import PluginContract, RecordingWeb, Transport
from onboardkit.web import HostSession, SessionChange, SignedIn, SignedOut, WebResponse


class AsgiTransport:
    """The contract's way into the app: each request through httpx's in-process ASGI transport
    (the client address is httpx's ``127.0.0.1``), no cookies kept, no redirects followed."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport) as client:
                request = client.build_request(method, url, headers=list(headers), content=body)
                return await client.send(request, follow_redirects=False)

        answer = asyncio.run(send())
        return WebResponse(
            answer.status_code,
            tuple((str(name), str(value)) for name, value in answer.headers.multi_items()),
            bytes(answer.content),
        )


class HostSessions:
    """The app's sessions as a ``SessionBackend``: a dict keyed by the app's own cookie."""

    cookie = "host_session"

    def __init__(self) -> None:
        self.sessions: dict[str, HostSession] = {}

    async def load(self, request: Request) -> HostSession | None:
        return self.sessions.get(request.cookies.get(self.cookie, ""))

    async def save(self, request: Request, response: Response, change: SessionChange) -> None:
        self.sessions.pop(request.cookies.get(self.cookie, ""), None)
        if isinstance(change, SignedIn):
            session_id = secrets.token_urlsafe(16)
            self.sessions[session_id] = change.session
            response.set_cookie(self.cookie, session_id, httponly=True, samesite="lax")
        elif isinstance(change, SignedOut):
            response.delete_cookie(self.cookie)


def _app(web: RecordingWeb, mount_prefix: str) -> FastAPI:
    app = FastAPI()
    sessions = HostSessions() if web.session_mode == "host" else None
    app.include_router(onboarding_router(web, sessions=sessions), prefix=mount_prefix)
    return app


class TestFastAPIRouter(PluginContract):
    session_modes = ("cookie", "host")
    client_address = "127.0.0.1"

    @pytest.fixture
    def plugin_client(self, contract_web: RecordingWeb, mount_prefix: str) -> Transport:
        return AsgiTransport(_app(contract_web, mount_prefix))
