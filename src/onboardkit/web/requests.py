"""The core's request value: what a framework plugin hands over from its own request.

A plugin builds one :class:`WebRequest` per HTTP request and passes it to
:meth:`onboardkit.web.OnboardingWeb.handle`. Everything here is plain data; parsing of forms,
JSON, cookies and ``Accept-Language`` happens in the core, identically for every framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl

import attrs

from onboardkit.errors import message
from onboardkit.web.sessions import HostSession

__all__ = ["MALFORMED_REQUEST", "MAX_BODY_BYTES", "WebRequest", "parse_cookies"]

#: The largest request body the web layer reads (bytes); a plugin should stop reading beyond it
#: and pass what it has with ``body_too_large=True``.
MAX_BODY_BYTES = 64 * 1024
#: Query parameters read; the rest of a longer query string is ignored.
MAX_QUERY_FIELDS = 100

#: The answer (400) to a request the plugin could not read (``WebRequest.malformed``).
MALFORMED_REQUEST = message(
    "web.malformed_request",
    "The request could not be read: its address or length is not valid.",
)


def _upper(method: str) -> str:
    return method.upper()


def _lower_keys(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Mapping[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    joined: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        # HTTP/2 may split the Cookie header; its parts join with "; " (RFC 9113, 8.2.3).
        separator = "; " if key == "cookie" else ", "
        joined[key] = f"{joined[key]}{separator}{value}" if key in joined else value
    return joined


def _query_pairs(query: str | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    if isinstance(query, str):
        # Only the first fields count; a longer query is cut, never an error.
        kept = "&".join(query.split("&", MAX_QUERY_FIELDS)[:MAX_QUERY_FIELDS])
        return tuple(parse_qsl(kept, keep_blank_values=True))
    return tuple((str(name), str(value)) for name, value in query)


def parse_cookies(header: str | None) -> Mapping[str, str]:
    """The cookies of a ``Cookie`` header; a malformed header gives no cookies, never an error."""
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


@attrs.frozen
class WebRequest:
    """One HTTP request, as the core sees it.

    :param method: ``GET``, ``POST``, ... (any case; kept upper-case).
    :param path: The path below the mount point, starting with ``/``: ``/pim/login``.
    :param query: The raw query string, or its pairs.
    :param headers: Header names in any case; repeated headers are joined with ``", "``
        (``Cookie`` headers with ``"; "``).
    :param body: The raw body (at most :data:`MAX_BODY_BYTES`).
    :param client_address: The client's IP address, as the host trusts it (behind a proxy, the
        host decides which forwarded address counts).
    :param root_path: Where the onboarding pages are mounted (``/onboarding``), for links in
        pages; empty at the root.
    :param secure: Whether the request came over HTTPS (cookies are then ``Secure``).
    :param reviewer: Who the host says reviews this request's tenant, when ``reviewer_given``;
        ``None`` then means "not a reviewer". Without ``reviewer_given`` the core decides from
        its own sign-in (see :class:`onboardkit.web.OnboardingWeb`).
    :param body_too_large: The plugin stopped reading a body larger than the limit.
    :param session: In host session mode: who the host's session says is signed in (what the
        plugin kept of a :class:`~onboardkit.web.SignedIn`); ignored in cookie mode.
    :param locale: The language the host chose for this request (Django's
        ``request.LANGUAGE_CODE``, Flask-Babel's ``get_locale()``): it wins over
        ``Accept-Language``; only a choice the person made with the pages' language switcher
        (``?lang=`` and the cookie it sets) wins over it. Unsupported languages are ignored.
    :param malformed: The plugin could not read the request: its path or query is not UTF-8,
        or its ``Content-Length`` is not a number. The core answers 400
        (``web.malformed_request``) whatever the route, as a page or as JSON.
    """

    method: str = attrs.field(converter=_upper)
    path: str
    query: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_query_pairs)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_keys)
    body: bytes = b""
    client_address: str | None = None
    root_path: str = ""
    secure: bool = False
    reviewer: str | None = None
    reviewer_given: bool = False
    body_too_large: bool = False
    session: HostSession | None = None
    locale: str | None = None
    malformed: bool = False
    cookies: Mapping[str, str] = attrs.field(init=False)

    @cookies.default
    def _cookies(self) -> Mapping[str, str]:
        return parse_cookies(self.headers.get("cookie"))

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def query_value(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    def with_reviewer(self, reviewer: str | None) -> WebRequest:
        """This request with the host's decision on who reviews (``None``: nobody)."""
        return attrs.evolve(self, reviewer=reviewer, reviewer_given=True)
