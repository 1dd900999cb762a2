"""The framework-agnostic web layer: pages and JSON API for every onboarding flow.

A framework plugin builds a :class:`WebRequest` from its request, calls
:meth:`OnboardingWeb.handle` in a worker thread, and copies the :class:`WebResponse` into its own
response. Everything in between (routing, CSRF, forms, JSON, templates, status codes, headers,
cookies) is decided here, the same for every framework.
"""

from onboardkit.web.app import ERROR_SCHEMA, OnboardingWeb, status_for
from onboardkit.web.requests import MAX_BODY_BYTES, WebRequest
from onboardkit.web.responses import WebResponse
from onboardkit.web.routes import Route

__all__ = [
    "ERROR_SCHEMA",
    "MAX_BODY_BYTES",
    "OnboardingWeb",
    "Route",
    "WebRequest",
    "WebResponse",
    "status_for",
]
