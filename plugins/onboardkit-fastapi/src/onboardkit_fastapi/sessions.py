"""Host sign-in: how the router reads the host's session and logs a person in or out of it.

With ``OnboardingWeb(sessions="host")`` onboardkit keeps no session of its own. The router asks
a :class:`SessionBackend` who the host's session says is signed in (``load``, handed to the core
as ``WebRequest.session``) and tells it when an answer signed a person in or out (``save`` with
the answer's :class:`~onboardkit.web.SignedIn` or :class:`~onboardkit.web.SignedOut`).

Two backends ship: :class:`StarletteSessions` on Starlette's ``SessionMiddleware`` (here) and
:class:`onboardkit_fastapi.users.FastAPIUsersSessions` on a fastapi-users authentication backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from fastapi import Request, Response

from onboardkit.errors import ConfigurationError
from onboardkit.web import HostSession, OnboardingWeb, SessionChange, SignedIn, SignedOut

__all__ = ["SessionBackend", "StarletteSessions", "check_sessions", "ends"]


@runtime_checkable
class SessionBackend(Protocol):
    """The host's session, as the router and :func:`onboardkit_fastapi.current_account` use it."""

    async def load(self, request: Request) -> HostSession | None:
        """Who the host's session of ``request`` says is signed in, or ``None``.

        Only reads: whether the session still holds (the password changed, the account was
        disabled) is the core's decision.
        """
        ...

    async def save(self, request: Request, response: Response, change: SessionChange) -> None:
        """Log the person in (:class:`~onboardkit.web.SignedIn`) or out
        (:class:`~onboardkit.web.SignedOut`) of the host's session, on ``response``."""
        ...


def check_sessions(web: OnboardingWeb, sessions: SessionBackend | None) -> None:
    """A backend is given exactly when ``web`` leaves the sign-in to the host.

    :raises ConfigurationError: ``sessions`` missing in host mode, or given in cookie mode.
    """
    if web.session_mode == "host" and sessions is None:
        raise ConfigurationError(
            key="sessions",
            reason='OnboardingWeb(sessions="host") needs a session backend: pass sessions=...',
        )
    if web.session_mode != "host" and sessions is not None:
        raise ConfigurationError(
            key="sessions",
            reason='a session backend is only used with OnboardingWeb(sessions="host");'
            " this web keeps its own session cookie",
        )
    if sessions is not None and not isinstance(sessions, SessionBackend):
        raise ConfigurationError(key="sessions", reason="expected async load() and save()")


def ends(change: SignedOut, kept: HostSession | None) -> bool:
    """Whether a :class:`~onboardkit.web.SignedOut` ends the session ``kept``: only the sign-in
    it names, so that signing out of one tenant leaves a sign-in to another alone."""
    if kept is None or kept.tenant != change.tenant:
        return False
    return change.account_id is None or change.account_id == kept.account_id


class StarletteSessions:
    """Host sessions in Starlette's ``SessionMiddleware`` (``request.session``, a signed cookie)::

        from starlette.middleware.sessions import SessionMiddleware

        app.add_middleware(SessionMiddleware, secret_key=..., https_only=True)
        app.include_router(
            onboarding_router(web, sessions=StarletteSessions()), prefix="/onboarding"
        )

    The sign-in is kept under ``key`` in the session, next to whatever else the app keeps there;
    signing out removes only that key. One person is signed in per browser session, as with
    any host login.

    :param key: The session key onboardkit's sign-in is kept under.
    """

    def __init__(self, key: str = "onboardkit") -> None:
        self.key = key

    async def load(self, request: Request) -> HostSession | None:
        kept = _session(request).get(self.key)
        if not isinstance(kept, Mapping):
            return None
        values = [kept.get(name) for name in ("tenant", "account_id", "verifier")]
        if not all(isinstance(value, str) for value in values):
            return None
        tenant, account_id, verifier = (str(value) for value in values)
        return HostSession(tenant, account_id, verifier)

    async def save(self, request: Request, response: Response, change: SessionChange) -> None:
        session = _session(request)
        if isinstance(change, SignedIn):
            session[self.key] = {
                "tenant": change.tenant,
                "account_id": change.account_id,
                "verifier": change.verifier,
            }
        elif ends(change, await self.load(request)):
            session.pop(self.key, None)


def _session(request: Request) -> dict[str, object]:
    if "session" not in request.scope:
        raise ConfigurationError(
            key="sessions",
            reason="StarletteSessions needs starlette.middleware.sessions.SessionMiddleware"
            " on the app (app.add_middleware(SessionMiddleware, secret_key=...))",
        )
    session: dict[str, object] = request.session
    return session
