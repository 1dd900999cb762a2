"""One request's way through the web layer: its tenant, language, cookies and answer helpers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from onboardkit.accounts import Account
from onboardkit.errors import OnboardkitError
from onboardkit.i18n import SUPPORTED_LOCALES
from onboardkit.onboarding import LinkPreview
from onboardkit.tenants import Tenant
from onboardkit.web import csrf
from onboardkit.web.requests import WebRequest
from onboardkit.web.responses import WebResponse
from onboardkit.web.routes import Route
from onboardkit.web.sessions import SessionChange
from onboardkit.web.texts import (
    FORM_INVALID,
    JSON_INVALID,
    LINK_TENANT,
    SIGN_IN_REQUIRED,
    TOKEN_REQUIRED,
)

if TYPE_CHECKING:
    from onboardkit.web.app import OnboardingWeb

__all__ = ["Exchange", "SignInRequired", "WebError", "negotiate_locale", "safe_next"]

LANGUAGE_COOKIE = "onboardkit_lang"
#: Form fields and JSON keys a request may carry at most (the core bounds each flow again).
MAX_FIELDS = 200


class WebError(OnboardkitError):
    """A request the web layer refuses before any flow runs; ``status`` is its HTTP status."""

    def __init__(self, status: int, msg: Any, /, **params: Any) -> None:
        super().__init__(msg, **params)
        self.status = status


class SignInRequired(WebError):
    """Nobody is signed in where a signed-in person is needed: 401 ``web.sign_in_required``.

    Host views raise it too (a dependency that needs the signed-in account), so their answer is
    the same as onboardkit's own.
    """

    def __init__(self) -> None:
        super().__init__(401, SIGN_IN_REQUIRED)


def negotiate_locale(request: WebRequest, tenant: Tenant | None) -> str:
    """The page language: ``?lang=``, then the language cookie (both are the person's explicit
    choice on these pages), then the host's choice (``WebRequest.locale``), then
    ``Accept-Language`` (by quality), then the tenant's default."""
    for choice in (request.query_value("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if choice in SUPPORTED_LOCALES:
            return choice
    if request.locale:
        host_choice = request.locale.strip().replace("_", "-").split("-", 1)[0].lower()
        if host_choice in SUPPORTED_LOCALES:
            return host_choice
    header = request.header("accept-language") or ""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:32]):
        tag, _, rest = item.strip().partition(";")
        language = tag.strip().lower().split("-", 1)[0]
        quality = 1.0
        rest = rest.strip()
        if rest.startswith("q="):
            try:
                quality = float(rest[2:])
            except ValueError:
                quality = 0.0
        if language in SUPPORTED_LOCALES and quality > 0:
            ranked.append((-quality, index, language))
    if ranked:
        return min(ranked)[2]
    return tenant.default_locale if tenant is not None else "en"


def safe_next(value: object) -> str | None:
    """``value`` when it is a same-site relative path (``/pim/account?x=1``), else ``None``.

    Refused: absolute and scheme-relative URLs (``//evil.example``), backslashes (browsers read
    ``/\\evil.example`` as another host), anything but printable ASCII (it becomes the
    ``Location`` header; percent-encode the rest) and anything over 512 characters.
    """
    if not isinstance(value, str) or not 1 <= len(value) <= 512:
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(not 0x21 <= ord(c) < 0x7F for c in value):  # a header value: printable ASCII only
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


class Exchange:
    """What a handler works with: the request, its tenant and language, and answer helpers."""

    def __init__(
        self,
        web: OnboardingWeb,
        request: WebRequest,
        params: Mapping[str, str],
        tenant: Tenant | None,
        *,
        api: bool,
    ) -> None:
        self.web = web
        self.request = request
        self.params = params
        self.tenant = tenant
        self.api = api
        self.locale = negotiate_locale(request, tenant)
        self.cookies: list[str] = []
        #: Headers the answer gets whatever renders it (``Retry-After`` of a refusal).
        self.headers: list[tuple[str, str]] = []
        cookie = request.cookies.get(csrf.COOKIE)
        if csrf.CsrfGuard.usable_cookie(cookie):
            assert cookie is not None
            self.csrf_cookie = cookie
        else:
            self.csrf_cookie = csrf.CsrfGuard.new_cookie()
            self.set_cookie(csrf.COOKIE, self.csrf_cookie, path=self.root + "/")
        chosen = request.query_value("lang")
        if chosen in SUPPORTED_LOCALES and request.cookies.get(LANGUAGE_COOKIE) != chosen:
            self.set_cookie(
                LANGUAGE_COOKIE, chosen, path=self.root + "/", max_age=365 * 86400, http_only=False
            )
        self.route: Route | None = None
        #: Whether the answer signs a person in or out (see ``WebResponse.session``).
        self.session_change: SessionChange | None = None
        self._form: dict[str, object] | None = None
        self._account: tuple[Account | None] | None = None

    # -- reading the request ------------------------------------------------------------------

    @property
    def root(self) -> str:
        return self.request.root_path.rstrip("/")

    @property
    def client_address(self) -> str | None:
        return self.request.client_address

    def query(self, name: str) -> str | None:
        return self.request.query_value(name)

    def form(self) -> dict[str, object]:
        """The urlencoded form: one string per field, a list where a field came more than once."""
        if self._form is None:
            content_type = (self.request.header("content-type") or "").split(";", 1)[0].strip()
            if content_type.lower() not in ("application/x-www-form-urlencoded", ""):
                raise WebError(415, FORM_INVALID)
            try:
                pairs = parse_qsl(
                    self.request.body.decode("utf-8"),
                    keep_blank_values=True,
                    strict_parsing=False,
                    max_num_fields=MAX_FIELDS,
                )
            except (UnicodeDecodeError, ValueError) as error:
                raise WebError(400, FORM_INVALID) from error
            form: dict[str, object] = {}
            for name, value in pairs:
                if name in form:
                    earlier = form[name]
                    form[name] = (
                        [*earlier, value] if isinstance(earlier, list) else [earlier, value]
                    )
                else:
                    form[name] = value
            self._form = form
        return self._form

    def form_list(self, name: str) -> list[str]:
        """Every value of a field that may repeat (checkboxes)."""
        value = self.form().get(name)
        if value is None:
            return []
        return (
            [item for item in value if isinstance(item, str)]
            if isinstance(value, list)
            else [str(value)]
        )

    def json(self) -> dict[str, Any]:
        """The JSON object of the body."""
        try:
            data = json.loads(self.request.body)
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise WebError(400, JSON_INVALID) from error
        if not isinstance(data, dict) or len(data) > MAX_FIELDS:
            raise WebError(400, JSON_INVALID)
        return data

    def link_token(self, body: Mapping[str, object] | None = None) -> str:
        """The mailed link's token: from ``body`` (a form or JSON) when given, else the query."""
        value = body.get("token") if body is not None else self.query("token")
        if not isinstance(value, str) or not value:
            raise WebError(400, TOKEN_REQUIRED)
        return value

    def link_preview(self, kind: str, token: str) -> LinkPreview:
        """What a mailed link of ``kind`` (``confirm``, ``invitation``, ``signup``) is for;
        a link of another tenant is refused here.

        :raises TokenError: for a forged, expired, replaced or wrong link.
        """
        onboarding = self.web.onboarding
        preview = {
            "confirm": onboarding.preview_confirmation,
            "invitation": onboarding.preview_invitation,
            "signup": onboarding.preview_signup,
        }[kind](token)
        if self.tenant is None or preview.tenant != self.tenant.id:
            raise WebError(404, LINK_TENANT)
        return preview

    # -- who is signed in ---------------------------------------------------------------------

    def account(self) -> Account | None:
        """The account signed in to this tenant with the web layer's session cookie."""
        if self._account is None:
            self._account = (self.web.signed_in(self),)
        return self._account[0]

    def require_account(self) -> Account:
        account = self.account()
        if account is None:
            raise SignInRequired()
        return account

    # -- answering ------------------------------------------------------------------------------

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        path: str,
        max_age: int | None = None,
        http_only: bool = True,
    ) -> None:
        parts = [f"{name}={value}", f"Path={path or '/'}", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if http_only:
            parts.append("HttpOnly")
        if self.request.secure:
            parts.append("Secure")
        self.cookies.append("; ".join(parts))

    def url(self, path: str = "", **query: str | None) -> str:
        """A URL of this tenant's pages: ``url("/login", next="/pim/account")``."""
        assert self.tenant is not None
        if self.web.single_tenant is not None:  # the tenant's pages are the mount's own
            base = f"{self.root}{path}" or "/"
        else:
            base = f"{self.root}/{self.tenant.id}{path}"
        pairs = {key: value for key, value in query.items() if value is not None}
        return f"{base}?{urlencode(pairs)}" if pairs else base

    def static(self, name: str) -> str:
        return f"{self.root}/static/{name}"

    def language_url(self, language: str) -> str:
        """This page in another language (the switcher's links).

        After a POST (a refused form) it is the form's page, with the mailed link's token.
        """
        if self.request.method == "POST":
            path = self.request.path
            if self.route is not None and self.route.page is not None:
                path = self.route.page.format_map(self.params)
            token = self._form.get("token") if self._form is not None and not self.api else None
            pairs = [("token", token)] if isinstance(token, str) else []
        else:
            path = self.request.path
            pairs = [(key, value) for key, value in self.request.query if key != "lang"]
        if safe_next(path) is None:  # an unmatched path such as //evil.example: stay here
            path, pairs = "/", []
        pairs.append(("lang", language))
        return f"{self.root}{path}?{urlencode(pairs)}"

    @property
    def csrf_token(self) -> str:
        return self.web.csrf.token(self.csrf_cookie)

    def text(self, code: str, **params: Any) -> str:
        return self.web.text(code, self.locale, params)

    def render(self, template: str, status: int = 200, **context: Any) -> WebResponse:
        body = self.web.render(template, self, context)
        return WebResponse(status, (("content-type", "text/html; charset=utf-8"),), body)

    def redirect(self, location: str, status: int = 303) -> WebResponse:
        return WebResponse(status, (("location", location),))

    def send_json(self, data: object, status: int = 200) -> WebResponse:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return WebResponse(status, (("content-type", "application/json"),), body)
