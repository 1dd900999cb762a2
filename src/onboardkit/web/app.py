"""The framework-agnostic web application: pages and JSON API for every onboarding flow.

:class:`OnboardingWeb` decides every answer: it matches the route, checks CSRF, the body and the
origin, reads the form or JSON, runs the flow and renders the page or the JSON, with status,
headers and cookies. A framework plugin only translates its request into a
:class:`~onboardkit.web.WebRequest` and the :class:`~onboardkit.web.WebResponse` back, and runs
:meth:`OnboardingWeb.handle` in a worker thread (it hashes passwords and uses the database).
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jinja2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onboardkit.accounts import Account
from onboardkit.errors import (
    ConfigurationError,
    OnboardkitError,
)
from onboardkit.onboarding import (
    AccountNotFound,
    Onboarding,
)
from onboardkit.tenants import Tenant, UnknownTenant
from onboardkit.web import api, pages
from onboardkit.web.csrf import COOKIE as CSRF_COOKIE
from onboardkit.web.csrf import FIELD as CSRF_FIELD
from onboardkit.web.csrf import CsrfGuard
from onboardkit.web.exchange import Exchange, SignInRequired, WebError
from onboardkit.web.mounts import (
    NO_TENANT_LIST,
    TENANT_UNKNOWN,
    check_mount,
    single_tenant_routes,
)
from onboardkit.web.openapi import MEDIA_TYPE as OPENAPI_MEDIA_TYPE
from onboardkit.web.openapi import openapi_document
from onboardkit.web.requests import MALFORMED_REQUEST, MAX_BODY_BYTES, WebRequest
from onboardkit.web.responses import WebResponse
from onboardkit.web.routes import Route, match
from onboardkit.web.sessions import COOKIE as SESSION_COOKIE
from onboardkit.web.sessions import (
    SESSION_MODES,
    HostSession,
    SessionCookies,
    SignedIn,
    SignedOut,
)
from onboardkit.web.statuses import refusal_status, status_for
from onboardkit.web.texts import (
    BODY_TOO_LARGE,
    CSRF_FAILED,
    FOREIGN_ORIGIN,
    INTERNAL,
    MEDIA_TYPE,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    REVIEWER_REQUIRED,
    page_text,
)

__all__ = ["ERROR_SCHEMA", "OnboardingWeb", "status_for"]

log = logging.getLogger(__name__)

#: Headers on every answer.
SECURITY_HEADERS: Final = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
)
#: Pages load only their own style sheet and script; nothing inline, no frames, forms only here.
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

#: Tenant ids the pages can serve, and the ids their own paths take.
TENANT_SEGMENT: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
RESERVED_TENANT_IDS: Final = frozenset({"static", "mail", "api"})
#: Account ids are 32 hex digits; anything much longer is no account's.
_MAX_ACCOUNT_ID: Final = 128

_ISSUE_SCHEMA: Final = {
    "type": "object",
    "required": ["path", "code", "message", "params"],
    "properties": {
        "path": {
            "type": "string",
            "description": "Where: a form field such as fields.customer_number.",
        },
        "code": {"type": "string"},
        "message": {"type": "string", "description": "In the request's language."},
        "params": {"type": "object"},
    },
}
#: The body of every error answer of the JSON API.
ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "params"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable, for programs: login.bad_credentials",
                },
                "message": {"type": "string", "description": "For people, English or German."},
                "params": {"type": "object"},
                "issues": {"type": "array", "items": _ISSUE_SCHEMA},
            },
        }
    },
}


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)


def _read_static(name: str) -> bytes:
    return (resources.files("onboardkit.web") / "static" / name).read_bytes()


_STATIC_TYPES: Final = {"onboardkit.css": "text/css", "onboardkit.js": "text/javascript"}


class OnboardingWeb:
    """The onboarding pages and JSON API, for any web framework.

    :param onboarding: The service every flow runs on.
    :param secret: At least 32 random bytes (the CSRF and session keys are derived from it);
        stable across restarts and equal in every process.
    :param session_max_age: Seconds a sign-in lasts.
    :param is_reviewer: Who reviews a tenant when the host does not say (see
        ``WebRequest.reviewer``): by default an active account signed in here whose address is
        one of the tenant's ``reviewers``.
    :param template_folders: Folders searched before onboardkit's own page templates
        (``web/<page>.html``), to restyle or reword pages.
    :param show_outbox: Serve ``/mail``, a page listing every mail in the outbox. For demos and
        development only: it shows every link that was mailed.
    :param list_tenants: Serve ``/``, a page linking to every tenant (demos).
    :param sessions: Who keeps the sign-in. ``"cookie"`` (the default): onboardkit's own
        signed session cookie, for apps without sessions of their own (the demo). ``"host"``:
        the host application's session. onboardkit then sets no session cookie; an answer that
        signs a person in or out says so in ``WebResponse.session``, the plugin calls the
        framework's login or logout, and hands the host session back as
        ``WebRequest.session`` (see :mod:`onboardkit.web.sessions`).
    :param propagate_exceptions: Let an unexpected exception (a bug, a database that went
        away) leave :meth:`handle`, so the framework's debug page and error reporting see it,
        instead of answering onboardkit's own 500 page. onboardkit's typed errors are always
        answered (see :func:`onboardkit.web.error_response` for host views).
    :param tenant: Serve this one tenant with no tenant id in the path (``/login``,
        ``/api/register``), for an app that serves one customer system; every other tenant is
        unreachable here. Its ``base_url`` is then the mount itself (see :meth:`check_mount`).
    """

    def __init__(
        self,
        onboarding: Onboarding,
        *,
        secret: bytes,
        session_max_age: int = 8 * 3600,
        is_reviewer: Callable[[Tenant, Account], bool] | None = None,
        template_folders: Iterable[str | Path] = (),
        show_outbox: bool = False,
        list_tenants: bool = False,
        sessions: str = "cookie",
        propagate_exceptions: bool = False,
        tenant: str | None = None,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < 32:
            raise ConfigurationError(key="secret_key", reason="expected at least 32 random bytes")
        if sessions not in SESSION_MODES:
            raise ConfigurationError(key="sessions", reason="must be 'cookie' or 'host'")
        if tenant is not None:
            if tenant not in onboarding.tenants:
                raise ConfigurationError(key="tenant", reason=TENANT_UNKNOWN)
            if list_tenants:
                raise ConfigurationError(key="list_tenants", reason=NO_TENANT_LIST)
        for tenant_id in onboarding.tenants if tenant is None else ():
            if tenant_id in RESERVED_TENANT_IDS or not TENANT_SEGMENT.match(tenant_id):
                raise ConfigurationError(
                    key=f"tenants.{tenant_id}",
                    reason="this id cannot be served by the web pages (use ASCII letters, digits,"
                    " '-' and '_', starting with a letter or digit; not 'static', 'mail' or 'api')",
                )
        self.onboarding = onboarding
        #: The one tenant served, with no tenant id in the path; ``None``: every tenant.
        self.single_tenant = tenant
        self.csrf = CsrfGuard(_derive(secret, b"onboardkit web: csrf v1"))
        self.sessions = SessionCookies(
            _derive(secret, b"onboardkit web: sessions v1"), max_age=session_max_age
        )
        #: ``"cookie"`` or ``"host"``: who keeps the sign-in.
        self.session_mode = sessions
        self.propagate_exceptions = propagate_exceptions
        self.is_reviewer = is_reviewer or _listed_reviewer
        self.show_outbox = show_outbox
        self.list_tenants = list_tenants
        self._template_folders = tuple(os.fspath(folder) for folder in template_folders)
        self._static = {name: _read_static(name) for name in _STATIC_TYPES}
        demo: list[Route] = []
        if list_tenants:
            demo.extend(pages.TENANT_LIST_ROUTES)
        if show_outbox:
            demo.extend(pages.OUTBOX_ROUTES)
        static = Route("GET", "/static/{name}", "static", _static_file, media_type="text/css")
        # Under /api, which is no tenant's id, so that it never meets a tenant's pages nor the
        # framework's own /openapi.json (FastAPI's, say) when mounted at the root.
        openapi = Route(
            "GET",
            "/api/openapi.json",
            "openapi",
            _openapi,
            summary="This API's OpenAPI document",
            media_type=OPENAPI_MEDIA_TYPE.split(";", 1)[0],
        )
        served: tuple[Route, ...] = (*api.ROUTES, *pages.ROUTES)
        if tenant is not None:
            served = single_tenant_routes(served)
        #: Every route, in matching order.
        self.routes: tuple[Route, ...] = (static, openapi, *demo, *served)
        #: JSON Schema of every API error body.
        self.error_schema: Mapping[str, Any] = ERROR_SCHEMA

    # -- what plugins call --------------------------------------------------------------------

    def reviewer_tenant(self, request: WebRequest) -> str | None:
        """The tenant whose reviewers a request is for, or ``None``: a plugin with its own idea
        of reviewers asks only for these requests."""
        route, params, _ = match(self.routes, request.method, request.path)
        if route is None or not route.reviewer:
            return None
        return self.single_tenant or params.get("tenant")

    def check_mount(self, root_path: str) -> None:
        """Check, at start-up, that every tenant served has its base URL where the pages are
        mounted at ``root_path`` (``/onboarding``; ``""`` or ``"/"`` for the root), so mailed
        links lead to them: the base URL's path must be ``root_path + "/<tenant id>"``, or
        ``root_path`` itself in a single-tenant mount. Host and scheme are not compared.

        :raises ConfigurationError: (:class:`~onboardkit.web.mounts.BaseUrlMismatch`) naming
            ``tenants.<id>.base_url`` and the path it must have.
        """
        tenants = self.onboarding.tenants
        served = [tenants[self.single_tenant]] if self.single_tenant else tenants.values()
        check_mount(root_path, served, single_tenant=self.single_tenant is not None)

    def openapi(
        self, root_path: str = "", *, title: str = "onboardkit", version: str | None = None
    ) -> dict[str, Any]:
        """The OpenAPI 3.1 document of every API route and page, as served at
        ``/api/openapi.json``; ``root_path`` (the mount) is its server URL, ``version`` defaults to
        onboardkit's. A fresh dict each time."""
        return openapi_document(
            self.routes, self.error_schema, root_path=root_path, title=title, version=version
        )

    def handle(self, request: WebRequest) -> WebResponse:
        """The complete answer to ``request``. Blocking: run it in a worker thread."""
        route, params, allowed = match(self.routes, request.method, request.path)
        tenant: Tenant | None = None
        tenant_id = params.get("tenant")
        if self.single_tenant is not None:
            tenant_id = self.single_tenant
            api_call = request.path.split("/", 2)[1:2] == ["api"]
        else:
            api_call = request.path.split("/", 3)[2:3] == ["api"]
        if tenant_id is not None:
            tenant = self.onboarding.tenants.get(tenant_id)
        exchange = Exchange(
            self, request, params, tenant, api=route.api if route is not None else api_call
        )
        exchange.route = route
        try:
            if request.malformed:
                raise WebError(400, MALFORMED_REQUEST)
            if route is None:
                if allowed:
                    exchange.headers.append(("allow", ", ".join(allowed)))
                    raise WebError(405, METHOD_NOT_ALLOWED, method=request.method[:16])
                raise WebError(404, NOT_FOUND)
            if tenant_id is not None and tenant is None:
                raise UnknownTenant(tenant=tenant_id[:64])
            self._check(exchange, route)
            response = route.handler(exchange)
        except OnboardkitError as error:
            response = self._refusal(exchange, error)
        except Exception:
            if self.propagate_exceptions:
                raise
            log.exception("onboardkit web: %s %s failed", request.method, request.path[:200])
            response = self._refusal(exchange, WebError(500, INTERNAL))
        return self._finish(exchange, response)

    def _refusal(self, exchange: Exchange, error: OnboardkitError) -> WebResponse:
        """The error answer; should rendering it fail too (a broken template folder), a plain
        page that needs no template."""
        try:
            return self.error_response(exchange, error)
        except Exception:
            if self.propagate_exceptions:
                raise
            log.exception("onboardkit web: the error page for %s failed", error.code)
        text = html.escape(exchange.text(INTERNAL.code))
        body = f"<!doctype html><title>{text}</title><p>{text}</p>".encode()
        return WebResponse(500, (("content-type", "text/html; charset=utf-8"),), body)

    # -- checks ---------------------------------------------------------------------------------

    def _check(self, exchange: Exchange, route: Route) -> None:
        request = exchange.request
        if request.body_too_large or len(request.body) > MAX_BODY_BYTES:
            raise WebError(413, BODY_TOO_LARGE, max_bytes=MAX_BODY_BYTES)
        if request.method != "POST":
            return
        if route.api:
            content_type = (request.header("content-type") or "").split(";", 1)[0].strip()
            if content_type.lower() != "application/json" and request.body:
                raise WebError(415, MEDIA_TYPE)
            if not _same_origin(request, exchange.tenant):
                raise WebError(403, FOREIGN_ORIGIN)
            return
        cookie = request.cookies.get(CSRF_COOKIE)
        if not self.csrf.check(cookie, exchange.form().get(CSRF_FIELD)):
            raise WebError(403, CSRF_FAILED)

    # -- sign-in and reviewers -------------------------------------------------------------------

    def signed_in(self, exchange: Exchange) -> Account | None:
        """The account signed in to the request's tenant, when its session is valid.

        A host session that no longer holds (a new password, a disabled or erased account)
        counts as signed out, and the answer tells the plugin so (``SignedOut``).
        """
        tenant = exchange.tenant
        if tenant is None:
            return None
        request = exchange.request
        if self.session_mode == "host":
            session = request.session
            if session is None or session.tenant != tenant.id:
                return None
            account = self.session_account(session)
            if account is None and exchange.session_change is None:
                exchange.session_change = SignedOut(tenant.id, _bounded_id(session.account_id))
            return account
        value = request.cookies.get(SESSION_COOKIE)
        claims = self.sessions.claims(value, tenant.id, self.onboarding.clock())
        if claims is None or value is None:
            return None
        account = self._account(tenant.id, claims.account_id)
        if account is None:
            return None
        return account if self.sessions.verify(value, account) else None

    def signed_in_account(self, request: WebRequest, tenant_id: str) -> Account | None:
        """The account signed in to ``tenant_id`` for ``request``, decided as for onboardkit's
        own pages (host mode: ``request.session``; cookie mode: onboardkit's cookie). For a
        host's own endpoints: FastAPI's ``current_account`` dependency, a Flask view."""
        tenant = self.onboarding.tenants.get(tenant_id)
        if tenant is None:
            return None
        return self.signed_in(Exchange(self, request, {"tenant": tenant_id}, tenant, api=True))

    def session_account(self, session: HostSession) -> Account | None:
        """The account a host session signs in, or ``None`` when that session has ended.

        For the host's own request handling (an authentication backend's ``get_user``, a
        user loader): a session whose verifier no longer matches (the password changed, the
        account was disabled or erased) is over.
        """
        if not isinstance(session, HostSession):
            return None
        if not isinstance(session.account_id, str) or not isinstance(session.tenant, str):
            return None
        if session.tenant not in self.onboarding.tenants:
            return None
        account = self._account(session.tenant, session.account_id)
        if account is None or not self.sessions.check_host_session(session, account):
            return None
        return account

    def session_verifier(self, account: Account) -> str:
        """The verifier a host session of ``account`` keeps (see ``SignedIn.verifier``): after
        the account's password changed, hand the new one to the session that changed it."""
        return self.sessions.verifier(account)

    def _account(self, tenant_id: str, account_id: str) -> Account | None:
        if not account_id or len(account_id) > _MAX_ACCOUNT_ID:
            return None
        try:
            return self.onboarding.account(tenant_id, account_id)
        except AccountNotFound:
            return None

    def reviewer(self, exchange: Exchange) -> str | None:
        """Who reviews, for this request: the host's answer, or the signed-in reviewer."""
        if exchange.request.reviewer_given:
            return exchange.request.reviewer
        account = exchange.account()
        if account is None or exchange.tenant is None:
            return None
        return account.email if self.is_reviewer(exchange.tenant, account) else None

    def require_reviewer(self, exchange: Exchange) -> str:
        """Who reviews, or a refusal: 401 when nobody is signed in (and the host did not
        decide), 403 for anyone else."""
        reviewer = self.reviewer(exchange)
        if reviewer is not None:
            return reviewer
        if exchange.account() is None and not exchange.request.reviewer_given:
            raise SignInRequired()
        raise WebError(403, REVIEWER_REQUIRED)

    def sign_in(self, exchange: Exchange, account: Account) -> None:
        """Sign ``account`` in: the session cookie in cookie mode, a ``SignedIn`` for the
        host in host mode; a new CSRF cookie comes with either."""
        exchange.session_change = SignedIn(
            account.tenant, account.id, self.sessions.verifier(account)
        )
        if self.session_mode == "cookie":
            exchange.set_cookie(
                SESSION_COOKIE,
                self.sessions.value(account, self.onboarding.clock()),
                path=exchange.url("/") if exchange.tenant else "/",
                max_age=self.sessions.max_age,
            )
        exchange.csrf_cookie = CsrfGuard.new_cookie()
        exchange.cookies = [c for c in exchange.cookies if not c.startswith(f"{CSRF_COOKIE}=")]
        exchange.set_cookie(CSRF_COOKIE, exchange.csrf_cookie, path=exchange.root + "/")

    def sign_out(self, exchange: Exchange) -> None:
        """End the request's sign-in: the cookie in cookie mode; a ``SignedOut`` either way."""
        assert exchange.tenant is not None
        account = exchange.account()
        exchange.session_change = SignedOut(
            exchange.tenant.id, account.id if account is not None else None
        )
        if self.session_mode == "cookie":
            exchange.set_cookie(SESSION_COOKIE, "", path=exchange.url("/"), max_age=0)

    # -- rendering ------------------------------------------------------------------------------

    def text(self, code: str, locale: str, params: Mapping[str, Any] | None = None) -> str:
        return page_text(code).render(locale, params)

    def template_folders(self, tenant: Tenant | None) -> tuple[str, ...]:
        """The folders searched for a page of ``tenant`` before onboardkit's own, in order:
        the host's, then those plugins return from ``onboardkit_template_folders`` for the
        tenant (none for pages outside a tenant, such as the tenant list)."""
        if tenant is None:
            return self._template_folders
        plugin_folders = self.onboarding.plugins.template_folders(tenant=tenant.id)
        return (*self._template_folders, *(os.fspath(folder) for folder in plugin_folders))

    def render(self, template: str, exchange: Exchange, context: Mapping[str, Any]) -> bytes:
        environment = _page_templates(self.template_folders(exchange.tenant))
        page = environment.get_template(f"web/{template}")
        return page.render(
            ex=exchange,
            tenant=exchange.tenant,
            locale=exchange.locale,
            t=exchange.text,
            **context,
        ).encode("utf-8")

    def static_file(self, name: str) -> WebResponse | None:
        body = self._static.get(name)
        if body is None:
            return None
        return WebResponse(
            200,
            (
                ("content-type", f"{_STATIC_TYPES[name]}; charset=utf-8"),
                ("cache-control", "public, max-age=3600"),
            ),
            body,
        )

    def error_response(self, exchange: Exchange, error: OnboardkitError) -> WebResponse:
        """The answer to a refused request: JSON for the API, an error page for the pages."""
        status = refusal_status(exchange, error)
        if exchange.api:
            response = exchange.send_json({"error": error.as_dict(exchange.locale)}, status)
        else:
            response = exchange.render(
                "error.html",
                status,
                error=error,
                message=error.localized(exchange.locale),
            )
        return response

    def _finish(self, exchange: Exchange, response: WebResponse) -> WebResponse:
        headers = list(response.headers)
        names = {name.lower() for name, _ in headers}
        if "cache-control" not in names:
            headers.append(("cache-control", "no-store"))
        if "content-security-policy" not in names:
            policy = API_CSP
            if response.media_type == "text/html":
                policy = PAGE_CSP
                logo = exchange.tenant.branding.logo_url if exchange.tenant else None
                if logo:  # the tenant's logo may live on its own host (https only)
                    policy = policy.replace(
                        "img-src 'self' data:", f"img-src 'self' data: {_origin_of(logo)}"
                    )
            headers.append(("content-security-policy", policy))
        if exchange.api or response.media_type == "text/html":
            headers.append(("vary", "Cookie, Accept-Language"))
        headers.extend(exchange.headers)
        headers.extend(SECURITY_HEADERS)
        headers.extend(("set-cookie", cookie) for cookie in exchange.cookies)
        body = b"" if exchange.request.method == "HEAD" else response.body
        return WebResponse(response.status, tuple(headers), body, session=exchange.session_change)


@functools.lru_cache(maxsize=64)
def _page_templates(folders: tuple[str, ...]) -> jinja2.Environment:
    """The page templates of ``folders`` over onboardkit's own, compiled once per process for
    every web layer and tenant with the same folders (an environment holds nothing of a
    request)."""
    loaders: list[jinja2.BaseLoader] = [
        jinja2.FileSystemLoader(list(folders)),
        jinja2.PackageLoader("onboardkit", "templates"),
    ]
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["datetime"] = _utc_time
    return environment


def _utc_time(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _bounded_id(account_id: object) -> str | None:
    if isinstance(account_id, str) and 0 < len(account_id) <= _MAX_ACCOUNT_ID:
        return account_id
    return None


def _listed_reviewer(tenant: Tenant, account: Account) -> bool:
    listed = {address.casefold() for address in tenant.reviewers}
    return account.email.casefold() in listed or account.canonical_email.casefold() in listed


def _origin_of(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}"


def _same_origin(request: WebRequest, tenant: Tenant | None) -> bool:
    """An API POST comes from this site: its ``Origin`` (when a browser sent one) is the
    request's own host or the tenant's base URL; ``Sec-Fetch-Site`` is not ``cross-site``."""
    if (request.header("sec-fetch-site") or "").lower() == "cross-site":
        return False
    origin = request.header("origin")
    if origin is None:
        return True  # not a browser's cross-site request: programs and same-origin GETs
    origin = origin.strip().lower()
    host = (request.header("host") or "").lower()
    allowed = {f"http://{host}", f"https://{host}"} if host else set()
    if tenant is not None:
        allowed.add(_origin_of(tenant.base_url))
    return origin in allowed


def _openapi(exchange: Exchange) -> WebResponse:
    document = exchange.web.openapi(exchange.root)
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return WebResponse(200, (("content-type", OPENAPI_MEDIA_TYPE),), body)


def _static_file(exchange: Exchange) -> WebResponse:
    found = exchange.web.static_file(exchange.params["name"])
    if found is None:
        raise WebError(404, NOT_FOUND)
    return found
