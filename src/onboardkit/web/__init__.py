"""The framework-agnostic web layer: pages and JSON API for every onboarding flow.

A framework plugin builds a :class:`WebRequest` from its request, calls
:meth:`OnboardingWeb.handle` in a worker thread, and copies the :class:`WebResponse` into its own
response. Everything in between (routing, CSRF, forms, JSON, templates, status codes, headers,
cookies) is decided here, the same for every framework.

Who is signed in is kept either by onboardkit's own session cookie or by the host application's
session (``sessions="host"``, see :mod:`onboardkit.web.sessions`).
"""

from onboardkit.web.app import ERROR_SCHEMA, OnboardingWeb
from onboardkit.web.exchange import SignInRequired, negotiate_locale
from onboardkit.web.requests import MAX_BODY_BYTES, WebRequest
from onboardkit.web.responses import WebResponse
from onboardkit.web.routes import Route
from onboardkit.web.sessions import HostSession, SessionChange, SignedIn, SignedOut
from onboardkit.web.statuses import error_response, status_for

__all__ = [
    "ERROR_SCHEMA",
    "MAX_BODY_BYTES",
    "HostSession",
    "OnboardingWeb",
    "Route",
    "SessionChange",
    "SignInRequired",
    "SignedIn",
    "SignedOut",
    "WebRequest",
    "WebResponse",
    "error_response",
    "negotiate_locale",
    "status_for",
]
