"""The FastAPI router passes onboardkit's plugin contract: it answers exactly as the core does,
in cookie mode and in host mode.

In host mode the app's sessions are a small ``SessionBackend`` keyed by a cookie of the app's own,
so that nothing but the router shapes the answers (Starlette's ``SessionMiddleware`` would rewrite
``Vary``; ``StarletteSessions`` is tested on its own in test_host_sessions.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from onboardkit_fastapi import onboarding_router

from onboardkit.testing import HttpxTransport, PluginContract, RecordingWeb, Transport
from onboardkit.web import HostSession, SessionChange, SignedIn, SignedOut


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
    client_address = "testclient"

    @pytest.fixture
    def plugin_client(self, contract_web: RecordingWeb, mount_prefix: str) -> Iterator[Transport]:
        with TestClient(_app(contract_web, mount_prefix)) as client:
            yield HttpxTransport(client)
