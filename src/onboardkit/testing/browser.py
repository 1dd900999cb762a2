"""A browser-like client of onboardkit's pages and JSON API, over any transport.

:class:`Browser` does what a browser does for the pages: it keeps the cookies the answers set
(a ``Set-Cookie`` with ``Max-Age=0`` or an empty value removes one), scrapes the CSRF token from
the last page, posts forms urlencoded (repeated fields for lists) and JSON bodies, and follows
redirects when asked. It sends each request through a *transport*:

* :class:`CoreTransport` hands it straight to :meth:`onboardkit.web.OnboardingWeb.handle`, the
  way a plugin would (keeping the host's session in host session mode) -- for a host
  application's tests without a framework;
* any callable ``transport(method, url, headers, body) -> WebResponse`` reaches it through a
  framework, e.g. :class:`HttpxTransport` over Starlette's ``TestClient``.

::

    from onboardkit.testing import Browser, follow_mail, sign_in

    browser = Browser.for_web(web, root_path="/onboarding")
    browser.get("/onboarding/acme/register")
    browser.post("/onboarding/acme/register", {"email": "anna@example.org", ...})
    follow_mail(browser, store, "anna@example.org", "confirmation")
    assert sign_in(browser, "acme", "anna@example.org", password).status == 303

Answers are :class:`~onboardkit.web.WebResponse` values whichever the transport
(``session`` is set only by the core transport).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

from onboardkit.storage import Store
from onboardkit.testing.outbox import mail_link, newest_mail
from onboardkit.web import HostSession, OnboardingWeb, SignedIn, SignedOut, WebRequest, WebResponse

__all__ = [
    "CLIENT_ADDRESS",
    "Browser",
    "CoreTransport",
    "HttpxTransport",
    "Transport",
    "follow_mail",
    "page_forms",
    "sign_in",
    "without_csrf",
]

#: The client address :class:`CoreTransport` reports (TEST-NET-1, never a real client).
CLIENT_ADDRESS = "192.0.2.10"
#: Where a browser's relative targets go unless told otherwise.
BASE_URL = "http://testserver"
_CSRF_FIELD = "csrf_token"
_CSRF_COOKIE = "onboardkit_csrf"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
_REDIRECTS = (301, 302, 303, 307, 308)
_B = TypeVar("_B", bound="Browser")


class Transport(Protocol):
    """Sends one HTTP request and returns the complete answer.

    :param method: ``GET``, ``POST``, ``HEAD``, ...
    :param url: Absolute: ``http://testserver/onboarding/acme/login?next=...``.
    :param headers: Every header to send (the browser's cookies in one ``cookie`` header).
    :param body: The raw body.
    """

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse: ...


class CoreTransport:
    """A transport straight into :meth:`OnboardingWeb.handle`, built as a plugin builds it.

    The path below ``root_path`` becomes ``WebRequest.path``; ``https`` URLs are ``secure``. In
    host session mode it plays the host's session: it keeps the
    :class:`~onboardkit.web.HostSession` of a :class:`~onboardkit.web.SignedIn` in
    :attr:`session`, hands it over with every request and drops it on a
    :class:`~onboardkit.web.SignedOut`.

    :param web: The core web layer.
    :param root_path: Where the pages are mounted (``/onboarding``); empty at the root.
    :param client_address: The client's address as the host would trust it.
    :param locale: The language the host chose (``WebRequest.locale``).
    """

    def __init__(
        self,
        web: OnboardingWeb,
        *,
        root_path: str = "",
        client_address: str | None = CLIENT_ADDRESS,
        locale: str | None = None,
    ) -> None:
        self.web = web
        self.root_path = root_path.rstrip("/")
        self.client_address = client_address
        self.locale = locale
        #: The host's session, in host session mode: what the last ``SignedIn`` gave.
        self.session: HostSession | None = None

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        parts = urlsplit(url)
        assert parts.path.startswith(self.root_path), f"{parts.path} is not below {self.root_path}"
        response = self.web.handle(
            WebRequest(
                method,
                parts.path[len(self.root_path) :] or "/",
                query=parts.query,
                headers=headers,
                body=body,
                client_address=self.client_address,
                root_path=self.root_path,
                secure=parts.scheme == "https",
                session=self.session,
                locale=self.locale,
            )
        )
        if isinstance(response.session, SignedIn):
            self.session = response.session.session
        elif isinstance(response.session, SignedOut):
            self.session = None
        return response


class HttpxTransport:
    """A transport over an ``httpx.Client`` or ``httpx2.Client`` -- Starlette's and FastAPI's
    ``TestClient`` is one.

    It never follows redirects and keeps no cookies in the client (the :class:`Browser` keeps
    them), so one client may serve several browsers.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        self.client.cookies.clear()
        answer = self.client.request(
            method, url, headers=list(headers), content=body, follow_redirects=False
        )
        self.client.cookies.clear()
        return WebResponse(
            answer.status_code,
            tuple((str(name), str(value)) for name, value in answer.headers.multi_items()),
            bytes(answer.content),
        )


class Browser:
    """A cookie-keeping client of the pages and the API (see the module documentation).

    :param transport: Where requests go: a :class:`CoreTransport`, a :class:`HttpxTransport`
        or any :class:`Transport`.
    :param base_url: Scheme and host that targets given as paths are sent to.
    :param root: Where the pages are mounted (``/onboarding``): :meth:`url` puts it in front of
        a path below the mount.
    :param headers: Sent with every request (``accept-language``, ``origin``, ...).
    """

    #: A page with a form to load for a CSRF token when no page was loaded yet (the CSRF cookie
    #: and so its token serve every tenant below the mount); ``None``: load one yourself.
    csrf_page: str | None = None

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str = BASE_URL,
        root: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.root = root.rstrip("/")
        self.headers = dict(headers or {})
        #: The cookies kept, by name (paths and domains are not told apart).
        self.cookies: dict[str, str] = {}
        #: The last HTML page with a body.
        self.last: WebResponse | None = None
        self._token: str | None = None

    @classmethod
    def for_web(
        cls: type[_B],
        web: OnboardingWeb,
        *,
        root_path: str = "",
        client_address: str | None = CLIENT_ADDRESS,
        secure: bool = False,
        locale: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _B:
        """A browser on ``web`` through a :class:`CoreTransport` (``secure``: over https)."""
        transport = CoreTransport(
            web, root_path=root_path, client_address=client_address, locale=locale
        )
        base_url = "https://testserver" if secure else BASE_URL
        return cls(transport, base_url=base_url, root=root_path, headers=headers)

    def url(self, path: str, **query: str) -> str:
        """``path`` below the mount point as the browser requests it: ``/acme/login`` ->
        ``/onboarding/acme/login``."""
        target = self.root + path
        return f"{target}?{urlencode(query)}" if query else target

    # -- sending ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        target: str,
        *,
        query: str | Mapping[str, str] = "",
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        cookies: bool = True,
    ) -> WebResponse:
        """Send one request; ``target`` is an absolute URL or a path (with its query) as the
        host serves it. Cookies are sent unless ``cookies=False``."""
        address, _, raw_query = target.partition("?")
        if not isinstance(query, str):
            query = urlencode(query)
        joined = "&".join(part for part in (raw_query, query) if part)
        if "://" not in address:
            assert address.startswith("/"), f"a target is a URL or an absolute path: {target}"
            address = self.base_url + address
        url = f"{address}?{joined}" if joined else address
        sent = dict(self.headers)
        if cookies and self.cookies:
            sent["cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        sent.update(headers or {})
        response = self.transport(method.upper(), url, list(sent.items()), body)
        self._keep_cookies(response)
        if response.media_type == "text/html" and response.body:
            self.last = response
            found = _CSRF.search(response.text)
            if found is not None:
                self._token = found.group(1)
        return response

    def _keep_cookies(self, response: WebResponse) -> None:
        for line in response.header_values("set-cookie"):
            pair, *attributes = (part.strip() for part in line.split(";"))
            name, _, value = pair.partition("=")
            if name == _CSRF_COOKIE and self.cookies.get(name) != value:
                self._token = None  # the tokens on earlier pages belong to the old cookie
            if any(a.lower() == "max-age=0" for a in attributes) or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def get(self, target: str, **options: Any) -> WebResponse:
        return self.request("GET", target, **options)

    def head(self, target: str, **options: Any) -> WebResponse:
        return self.request("HEAD", target, **options)

    def post(
        self,
        target: str,
        form: Mapping[str, object] | None = None,
        *,
        csrf: bool = True,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> WebResponse:
        """A urlencoded form post (a list value: the field repeated), with the CSRF token of the
        last page unless one is given or ``csrf=False``."""
        fields = dict(form or {})
        if csrf and _CSRF_FIELD not in fields:
            fields[_CSRF_FIELD] = self.csrf_token
        sent = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
        body = urlencode(fields, doseq=True).encode()
        return self.request("POST", target, body=body, headers=sent, **options)

    def post_json(
        self,
        target: str,
        data: object = None,
        *,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> WebResponse:
        """A JSON post (``data=None``: an empty body)."""
        body = b"" if data is None else json.dumps(data).encode()
        sent = {"content-type": "application/json", **(headers or {})}
        return self.request("POST", target, body=body, headers=sent, **options)

    def follow(self, response: WebResponse) -> WebResponse:
        """GET the redirect target of ``response`` (an ``AssertionError`` if it is none)."""
        assert response.status in _REDIRECTS, f"not a redirect: {response.status}"
        location = response.header("location")
        assert location is not None, "a redirect without a location"
        return self.get(location)

    def follow_all(self, response: WebResponse, *, limit: int = 10) -> WebResponse:
        """Follow redirects from ``response`` until an answer that is none."""
        for _ in range(limit):
            if response.status not in _REDIRECTS:
                return response
            response = self.follow(response)
        raise AssertionError(f"more than {limit} redirects")

    def submit(
        self,
        fields: Mapping[str, object] | None = None,
        *,
        page: WebResponse | None = None,
        action: str | None = None,
    ) -> WebResponse:
        """Press the button of a form on ``page`` (default: the last page): post its hidden
        fields with ``fields`` to its action. ``action`` picks the form whose action ends so;
        else the page's first form that posts."""
        shown = page or self.last
        assert shown is not None, "no page was loaded"
        forms = [
            form
            for form in page_forms(shown.text)
            if form.method == "post" and (action is None or form.action.endswith(action))
        ]
        assert forms, f"no form posting to {action or 'anywhere'} on the page"
        form = forms[0]
        return self.post(form.action, {**form.hidden, **(fields or {})})

    # -- reading ----------------------------------------------------------------------------

    @property
    def csrf_token(self) -> str:
        """The CSRF token of the last page with a form (loading :attr:`csrf_page` if none)."""
        if self._token is None and self.csrf_page is not None:
            self.get(self.url(self.csrf_page))
        assert self._token is not None, "no page with a form was loaded"
        return self._token


class PageForm:
    """A form of a page: where it posts, and its hidden fields."""

    def __init__(self, method: str, action: str) -> None:
        self.method = method
        self.action = action
        self.hidden: dict[str, str] = {}


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[PageForm] = []
        self._open: PageForm | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self._open = PageForm((found.get("method") or "get").lower(), found.get("action") or "")
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and found.get("type") == "hidden":
            name = found.get("name")
            if name:
                self._open.hidden[name] = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def page_forms(html: str) -> list[PageForm]:
    """The forms of ``html``, in order."""
    parser = _Forms()
    parser.feed(html)
    parser.close()
    return parser.forms


def without_csrf(text: str) -> str:
    """A page with its CSRF tokens blanked (they differ per browser), to compare pages."""
    return _CSRF.sub('name="csrf_token" value=""', text)


def sign_in(
    browser: Browser, tenant: str, email: str, password: str, **extra: object
) -> WebResponse:
    """Open ``tenant``'s sign-in page and sign in; the answer to the form's post (a redirect
    when it worked)."""
    browser.get(browser.url(f"/{tenant}/login"))
    return browser.post(
        browser.url(f"/{tenant}/login"), {"email": email, "password": password, **extra}
    )


def follow_mail(
    browser: Browser,
    store: Store,
    recipient: str,
    kind: str,
    fields: Mapping[str, object] | None = None,
) -> WebResponse:
    """Do what the newest ``kind`` mail to ``recipient`` asks: open its link and press the
    page's button (with ``fields``, e.g. a password for an invitation); the answer to the post.

    The link is opened as mailed, so the tenant's ``base_url`` must be where the browser
    reaches its pages.
    """
    page = browser.get(mail_link(newest_mail(store, recipient, kind)).url)
    assert page.status == 200, f"the {kind} link of {recipient} answered {page.status}"
    return browser.submit(fields, page=page)
