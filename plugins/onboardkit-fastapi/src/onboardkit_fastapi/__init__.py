"""onboardkit-fastapi: onboardkit's onboarding pages and JSON API in a FastAPI application.

::

    from fastapi import FastAPI
    from onboardkit.web import OnboardingWeb
    from onboardkit_fastapi import add_exception_handlers, onboarding_lifespan, onboarding_router

    web = OnboardingWeb(onboarding, secret=secret)
    app = FastAPI(lifespan=onboarding_lifespan(onboarding))
    app.include_router(onboarding_router(web), prefix="/onboarding")
    add_exception_handlers(app, web=web)

The router only translates: onboardkit decides every answer, in a worker thread. Host sign-in
(``OnboardingWeb(sessions="host")``) goes through a :class:`SessionBackend`:
:class:`StarletteSessions` here, ``onboardkit_fastapi.users.FastAPIUsersSessions`` for
fastapi-users (an optional extra, so it is not imported here).
"""

from __future__ import annotations

from onboardkit_fastapi.accounts import current_account
from onboardkit_fastapi.errors import add_exception_handlers, request_locale
from onboardkit_fastapi.lifespan import onboarding_lifespan
from onboardkit_fastapi.router import (
    ERROR_SCHEMA_NAME,
    ROUTE_NAME_PREFIX,
    ReviewerHook,
    core_request,
    onboarding_dependency,
    onboarding_router,
    web_response,
)
from onboardkit_fastapi.sessions import SessionBackend, StarletteSessions

__all__ = [
    "ERROR_SCHEMA_NAME",
    "ROUTE_NAME_PREFIX",
    "ReviewerHook",
    "SessionBackend",
    "StarletteSessions",
    "add_exception_handlers",
    "core_request",
    "current_account",
    "onboarding_dependency",
    "onboarding_lifespan",
    "onboarding_router",
    "request_locale",
    "web_response",
]

__version__ = "0.1.0.dev0"
