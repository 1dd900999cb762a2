"""The view that serves onboardkit's pages and JSON API, and the translation of its answers.

One view serves every route below where ``onboardkit_django.urls`` is included: it builds the
core's :class:`~onboardkit.web.WebRequest` with the WSGI kit (``web_request``), hands it to
``OnboardingWeb.handle`` and copies the :class:`~onboardkit.web.WebResponse` into an
``HttpResponse`` unchanged. Everything else is the core's decision.

It is ``csrf_exempt``: the core checks every form's token and every API call's origin itself
(docs/django.md, "CSRF"), and Django's check would refuse the JSON API's clients.
"""

from __future__ import annotations

from http.cookies import Morsel, SimpleCookie
from typing import Any

import attrs
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from onboardkit.errors import OnboardkitError
from onboardkit.web import (
    MAX_BODY_BYTES,
    HostSession,
    WebRequest,
    WebResponse,
    error_response,
    negotiate_locale,
)
from onboardkit.web.wsgi import web_request
from onboardkit_django.service import Service, service
from onboardkit_django.sessions import act_on, host_session

__all__ = ["core_request", "django_response", "onboarding", "onboardkit_error_response"]


def core_request(
    request: HttpRequest,
    path: str | None = None,
    *,
    built: Service | None = None,
    body: bool = True,
) -> WebRequest:
    """The core's view of ``request``.

    :param path: The core's path, below the mount (the view's ``path`` argument); ``None``
        for a request outside onboardkit's URLs (the project's own views), served at the root.
    :param body: Read the body (at most ``MAX_BODY_BYTES``, the rest is left unread).
    """
    built = built or service()
    full = request.path_info
    mount = "" if path is None else full[: len(full) - len(path)].rstrip("/")
    data, too_large = b"", False
    if body:
        data = request.read(MAX_BODY_BYTES + 1)
        data, too_large = data[:MAX_BODY_BYTES], len(data) > MAX_BODY_BYTES
    session: HostSession | None = None
    if built.web.session_mode == "host":
        session = host_session(request)
    # META is the WSGI environ, with the keys the ASGI handler fills in too. Django has put
    # its decoded path into it; PEP 3333 (what web_request reads) wants UTF-8 as latin-1.
    environ = {
        **request.META,
        "PATH_INFO": _pep3333(request.path_info),
        "SCRIPT_NAME": _pep3333(str(request.META.get("SCRIPT_NAME") or "")),
    }
    core = web_request(
        environ,
        mount=mount if path is not None else "",
        root_path=None if path is not None else "",
        body=data,
        body_too_large=too_large,
        session=session,
        locale=getattr(request, "LANGUAGE_CODE", None),
    )
    # Django's own answer: it knows SECURE_PROXY_SSL_HEADER.
    return attrs.evolve(core, secure=request.is_secure())


def _pep3333(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


class _CoreCookie(Morsel[str]):
    """A cookie exactly as the core wrote its ``Set-Cookie`` line (Django's own rendering
    would reorder the attributes and quote values)."""

    line = ""

    def OutputString(self, attrs: Any = None) -> str:
        return self.line


def django_response(answer: WebResponse) -> HttpResponse:
    """The core's answer as an ``HttpResponse``: status, body and every header as they are, one
    ``Set-Cookie`` line per cookie."""
    response = HttpResponse(answer.body, status=answer.status)
    del response["Content-Type"]  # only the core's own
    for name, value in answer.headers:
        if name.lower() != "set-cookie":
            response[name] = value
            continue
        parsed = SimpleCookie()
        parsed.load(value)
        for key, morsel in parsed.items():
            cookie = _CoreCookie()
            cookie.set(key, morsel.value, morsel.coded_value)
            cookie.update(morsel)
            cookie.line = value
            dict.__setitem__(response.cookies, key, cookie)
    return response


@csrf_exempt
def onboarding(request: HttpRequest, path: str = "") -> HttpResponse:
    """Every onboardkit route: mount it with ``include("onboardkit_django.urls")``."""
    built = service()
    core = core_request(request, "/" + path, built=built)
    if built.reviewer is not None:
        tenant = built.web.reviewer_tenant(core)
        if tenant is not None:
            core = core.with_reviewer(built.reviewer(request, tenant))
    # Django runs a sync view in a worker thread of its own under ASGI; with the default
    # PROPAGATE_EXCEPTIONS an unexpected error reaches Django's handling (debug page, ADMINS).
    answer = built.web.handle(core)
    if answer.session is not None and built.web.session_mode == "host":
        act_on(request, answer.session, built)
    return django_response(answer)


def onboardkit_error_response(request: HttpRequest, error: OnboardkitError) -> HttpResponse:
    """A typed onboardkit error raised in the project's own view, answered as onboardkit's
    JSON API answers it (status, body, ``Retry-After``), in the request's language."""
    built = service()
    core = core_request(request, None, built=built, body=False)
    match = getattr(request, "resolver_match", None)
    tenant_id = match.kwargs.get("tenant") if match is not None else None
    tenant = built.onboarding.tenants.get(tenant_id) if isinstance(tenant_id, str) else None
    return django_response(error_response(error, locale=negotiate_locale(core, tenant)))
