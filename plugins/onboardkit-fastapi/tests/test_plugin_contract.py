"""The FastAPI router passes onboardkit's plugin contract: it answers exactly as the core does.

Host session mode needs the router's ``sessions=`` (a ``SessionBackend`` with
``load(request)`` and ``save(request, response, change)``); until the router has it, only
cookie mode runs: add ``"host"`` to ``session_modes`` below to run both.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Iterator

import pytest

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("httpx2")  # Starlette's TestClient is built on it

from fastapi import APIRouter, FastAPI, Request, Response  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from onboardkit_fastapi import onboarding_router  # noqa: E402

from onboardkit.testing import HttpxTransport, PluginContract, RecordingWeb, Transport  # noqa: E402
from onboardkit.web import HostSession, SessionChange, SignedIn, SignedOut  # noqa: E402


class HostSessions:
    """The host app's sessions, as a ``SessionBackend``: a dict keyed by the host's own cookie
    (a real app would use Starlette's ``SessionMiddleware`` or its auth backend)."""

    cookie = "host_session"

    def __init__(self) -> None:
        self.sessions: dict[str, HostSession] = {}

    def load(self, request: Request) -> HostSession | None:
        return self.sessions.get(request.cookies.get(self.cookie, ""))

    def save(self, request: Request, response: Response, change: SessionChange) -> None:
        self.sessions.pop(request.cookies.get(self.cookie, ""), None)
        if isinstance(change, SignedIn):
            session_id = secrets.token_urlsafe(16)
            self.sessions[session_id] = change.session
            response.set_cookie(self.cookie, session_id, httponly=True, samesite="lax")
        elif isinstance(change, SignedOut):
            response.delete_cookie(self.cookie)


def _router(web: RecordingWeb) -> APIRouter:
    """The router as an app builds it: in host mode with the app's sessions."""
    if web.session_mode == "cookie":
        return onboarding_router(web)
    if "sessions" not in inspect.signature(onboarding_router).parameters:
        raise RuntimeError(
            "host session mode needs onboarding_router(web, sessions=<SessionBackend>); this "
            "router has no sessions= yet: keep session_modes = ('cookie',) until it has"
        )
    return onboarding_router(web, sessions=HostSessions())  # type: ignore[call-arg]


class TestFastAPIRouter(PluginContract):
    # Host mode runs once the router takes sessions=: then session_modes = ("cookie", "host").
    session_modes = ("cookie",)
    client_address = "testclient"

    @pytest.fixture
    def plugin_client(self, contract_web: RecordingWeb, mount_prefix: str) -> Iterator[Transport]:
        app = FastAPI()
        app.include_router(_router(contract_web), prefix=mount_prefix)
        with TestClient(app) as client:
            yield HttpxTransport(client)
