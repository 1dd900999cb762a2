"""Exception handlers: a typed onboardkit error raised in the app's own endpoint answers exactly
as onboardkit's JSON API does (status, body, ``Retry-After``), in the request's language."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Response
from starlette.applications import Starlette

from onboardkit.errors import OnboardkitError
from onboardkit.web import OnboardingWeb, error_response, negotiate_locale
from onboardkit_fastapi.router import core_request, web_response

__all__ = ["HostLocale", "add_exception_handlers", "request_locale"]

#: The language the app chose for a request (``None``: let the request decide).
HostLocale = Callable[[Request], str | None]


def request_locale(
    request: Request, web: OnboardingWeb | None = None, locale: HostLocale | None = None
) -> str:
    """The language onboardkit's own pages would answer ``request`` in: ``?lang=`` and the
    language switcher's cookie, then the app's choice, then ``Accept-Language``, then the
    default language of the tenant in the path (``{tenant}``, when ``web`` knows it)."""
    tenant_id = request.path_params.get("tenant")
    tenant = web.onboarding.tenants.get(tenant_id) if web is not None and tenant_id else None
    chosen = locale(request) if locale is not None else None
    return negotiate_locale(core_request(request, request.url.path, locale=chosen), tenant)


def add_exception_handlers(
    app: Starlette, *, web: OnboardingWeb | None = None, locale: HostLocale | None = None
) -> None:
    """Answer every :class:`~onboardkit.errors.OnboardkitError` that leaves an endpoint or a
    dependency of ``app`` with :func:`onboardkit.web.error_response`::

        add_exception_handlers(app, web=web)

        @app.post("/admin/{tenant}/invitations")
        def invite(tenant: str, email: str, onboarding=Depends(onboarding_service)):
            onboarding.invite(tenant, email, roles=["viewer"], invited_by="admin@example.com")

    A refused invitation then answers 422 with onboardkit's error body, and a rate-limited one
    429 with ``Retry-After``.

    :param web: To fall back to the tenant's default language for a path with ``{tenant}``.
    :param locale: The app's language choice for a request (see ``WebRequest.locale``).
    """

    async def onboardkit_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, OnboardkitError)
        return web_response(error_response(error, locale=request_locale(request, web, locale)))

    app.add_exception_handler(OnboardkitError, onboardkit_error)
