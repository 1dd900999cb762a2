"""A middleware answering onboardkit's typed errors raised in the project's own views.

.. code-block:: python

    MIDDLEWARE = [..., "onboardkit_django.middleware.OnboardkitErrorMiddleware"]

    def invite(request, tenant):
        onboarding().invite(tenant, request.POST["email"], roles=["viewer"], invited_by=...)

A refused invitation then answers 422 with onboardkit's error body in the request's language, a
rate-limited one 429 with ``Retry-After`` (see :func:`onboardkit.web.error_response`). Other
exceptions pass on to Django.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from onboardkit.errors import OnboardkitError
from onboardkit_django.views import onboardkit_error_response

__all__ = ["OnboardkitErrorMiddleware"]


class OnboardkitErrorMiddleware:
    """Answers an :class:`~onboardkit.errors.OnboardkitError` that leaves a view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OnboardkitError):
            return onboardkit_error_response(request, exception)
        return None
