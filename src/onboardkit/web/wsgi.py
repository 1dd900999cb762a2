"""The WSGI adapter kit: a WSGI environ to a :class:`~onboardkit.web.WebRequest`, a
:class:`~onboardkit.web.WebResponse` to a WSGI answer, and :class:`OnboardingWSGI`, a complete
WSGI application serving the pages and API on their own.

The Django and Flask plugins share the two translations (PEP 3333 is the same under both);
each adds only what is truly its framework's: its router, its sessions, its users.

PEP 3333 hands over the request line's bytes as ``str`` decoded as latin-1
(``PATH_INFO``, ``SCRIPT_NAME``, ``QUERY_STRING``, header values). The path and query are
encoded back to those bytes and decoded as UTF-8, which is what browsers send; bytes that are
not UTF-8 make the request ``malformed``, which the core answers with a typed 400. Header values
stay as the server gave them (latin-1), as under ASGI.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias
from urllib.parse import quote

from onboardkit.errors import ConfigurationError
from onboardkit.web.mounts import COOKIE_MODE_ONLY, normalize_mount
from onboardkit.web.requests import MAX_BODY_BYTES, WebRequest
from onboardkit.web.responses import WebResponse
from onboardkit.web.sessions import HostSession

if TYPE_CHECKING:
    from onboardkit.web.app import OnboardingWeb

__all__ = [
    "NOT_GIVEN",
    "OnboardingWSGI",
    "ReviewerHook",
    "StartResponse",
    "WSGIEnvironment",
    "read_body",
    "status_line",
    "web_request",
    "wsgi_response",
]

log = logging.getLogger(__name__)

WSGIEnvironment: TypeAlias = Mapping[str, Any]


class StartResponse(Protocol):
    """PEP 3333's ``start_response`` callable."""

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = ..., /
    ) -> Callable[[bytes], object]: ...


#: Who reviews ``tenant`` for this request, by the host's own sign-in: a name or address, or
#: ``None`` for nobody.
ReviewerHook: TypeAlias = Callable[[WSGIEnvironment, str], "str | None"]


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: "The host did not decide who reviews": the core's own reviewer sign-in applies.
NOT_GIVEN: Final = _NotGiven()

#: The headers PEP 3333 passes without the ``HTTP_`` prefix.
_UNPREFIXED: Final = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}
#: Bytes read from ``wsgi.input`` at a time when the length is not known.
_CHUNK: Final = 16 * 1024
#: Characters left as they are when the mount point is written into links.
_PATH_SAFE: Final = "/!$&'()*+,;=:@-._~"


def _raw(value: str) -> bytes | None:
    """The bytes a PEP 3333 string stands for; ``None`` when a server broke the rule and gave
    characters above U+00FF (it decoded already: the string is taken as it is)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return None


def _text(value: str) -> str | None:
    """A PEP 3333 string decoded as UTF-8; ``None`` when its bytes are not UTF-8."""
    raw = _raw(value)
    if raw is None:
        return value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _headers(environ: WSGIEnvironment) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
            if name in ("content-type", "content-length"):
                continue  # a server's HTTP_CONTENT_TYPE duplicate; CONTENT_TYPE is the one
            headers.append((name, value))
        elif key in _UNPREFIXED and value:
            headers.append((_UNPREFIXED[key], value))
    return headers


def _content_length(environ: WSGIEnvironment) -> tuple[int | None, bool]:
    """The declared body length (``None``: none given), and whether it is no number."""
    text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not text:
        return None, False
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None, True
    return int(text), False


def read_body(environ: WSGIEnvironment, limit: int = MAX_BODY_BYTES) -> tuple[bytes, bool, bool]:
    """The request body from ``wsgi.input``, never more than ``limit`` bytes.

    :returns: ``(body, too_large, malformed)``. With a ``Content-Length`` over ``limit``
        nothing is read (``too_large``); otherwise exactly that many bytes (fewer if the client
        stopped early). Without one, the body is read to its end, up to ``limit`` bytes, only
        when the server says the stream ends there (``wsgi.input_terminated``: gunicorn,
        waitress, werkzeug, mod_wsgi de-chunk); else there is no body, as in werkzeug and
        Django, since reading on could wait for ever. A length that is no number is
        ``malformed``.
    """
    length, bad_length = _content_length(environ)
    if bad_length:
        return b"", False, True
    stream = environ.get("wsgi.input")
    if stream is None:
        return b"", False, False
    if length is not None:
        if length > limit:
            return b"", True, False
        return _read(stream, length), False, False
    if not environ.get("wsgi.input_terminated"):
        return b"", False, False
    body = _read(stream, limit + 1)
    if len(body) > limit:
        return body[:limit], True, False
    return body, False, False


def _read(stream: Any, wanted: int) -> bytes:
    """Up to ``wanted`` bytes; a short read is not the end, an empty one is."""
    chunks = io.BytesIO()
    left = wanted
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.write(chunk)
        left -= len(chunk)
    return chunks.getvalue()


def web_request(
    environ: WSGIEnvironment,
    *,
    mount: str = "",
    root_path: str | None = None,
    body: bytes | None = None,
    body_too_large: bool = False,
    client_address: str | None = None,
    session: HostSession | None = None,
    locale: str | None = None,
    reviewer: str | _NotGiven | None = NOT_GIVEN,
) -> WebRequest:
    """The :class:`~onboardkit.web.WebRequest` of a WSGI request. Never raises for what a
    client sent: a path or query that is not UTF-8, or a length that is no number, makes it
    ``malformed`` (the core answers 400).

    :param environ: The PEP 3333 environ.
    :param mount: Where the onboarding routes start below ``SCRIPT_NAME`` (a framework that
        routes by the full path, as Django and Flask do: ``/onboarding``); it is cut from
        ``PATH_INFO`` and joins the root path.
    :param root_path: Where clients reach the onboarding pages, for the links in pages (behind
        a proxy that strips a prefix); default ``SCRIPT_NAME`` + ``mount``.
    :param body: The body, when the framework read it already (Django's ``request.body``,
        Flask's ``get_data()``); else it is read from ``wsgi.input`` (see :func:`read_body`).
    :param body_too_large: With ``body``: the framework stopped reading at the limit.
    :param client_address: The client's address as the host trusts it (behind a proxy); default
        ``REMOTE_ADDR``.
    :param session: The host's session (host session mode).
    :param locale: The language the host chose.
    :param reviewer: The host's decision on who reviews (``None``: nobody); leave it out to let
        the core decide from its own sign-in.
    :raises ValueError: when ``PATH_INFO`` is not below ``mount``: the plugin routed a request
        that is not onboardkit's.
    """
    malformed = False
    path = _text(str(environ.get("PATH_INFO") or ""))
    if path is None:
        malformed, path = True, ""
    query = _text(str(environ.get("QUERY_STRING") or ""))
    if query is None:
        malformed, query = True, ""
    mount = mount.rstrip("/")
    # A path that is not UTF-8 has no mount to cut (the answer is 400 either way).
    if mount and not malformed:
        if not (path == mount or path.startswith(mount + "/")):
            raise ValueError(f"the path {path[:200]!r} is not below the mount {mount!r}")
        path = path[len(mount) :]
    if root_path is None:
        script = str(environ.get("SCRIPT_NAME") or "")
        raw = _raw(script)
        script = quote(raw, safe=_PATH_SAFE) if raw is not None else quote(script, _PATH_SAFE)
        root_path = script.rstrip("/") + quote(mount, safe=_PATH_SAFE)
    if body is None:
        body, body_too_large, bad_length = read_body(environ)
        malformed = malformed or bad_length
    remote = environ.get("REMOTE_ADDR")
    request = WebRequest(
        method=str(environ.get("REQUEST_METHOD") or "GET"),
        path=path or "/",
        query=query,
        headers=_headers(environ),
        body=body,
        client_address=client_address or (remote if isinstance(remote, str) and remote else None),
        root_path=root_path.rstrip("/"),
        secure=environ.get("wsgi.url_scheme") == "https",
        body_too_large=body_too_large,
        session=session,
        locale=locale,
        malformed=malformed,
    )
    if not isinstance(reviewer, _NotGiven):
        request = request.with_reviewer(reviewer)
    return request


def status_line(status: int) -> str:
    """The WSGI status line of ``status``: ``"303 See Other"``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"{status} {phrase}"


def _no_body(status: int) -> bool:
    return status < 200 or status in (204, 304)


def wsgi_response(
    response: WebResponse, start_response: StartResponse, *, head: bool = False
) -> list[bytes]:
    """Start the WSGI answer of ``response`` and return its body iterable.

    Every header of ``response`` goes out as it is (``Set-Cookie`` once per cookie), with a
    ``Content-Length`` when it has none; the answer to a ``HEAD`` (``head=True``) has no body
    and no length, since the core does not know the length of the ``GET`` it stands for.
    """
    headers = [(name, value) for name, value in response.headers]
    named = {name.lower() for name, _ in headers}
    body = b"" if head or _no_body(response.status) else response.body
    if "content-length" not in named and not head and not _no_body(response.status):
        headers.append(("content-length", str(len(body))))
    start_response(status_line(response.status), headers)
    return [body] if body else []


class OnboardingWSGI:
    """The onboarding pages and API as a WSGI application, on their own, in cookie session
    mode: for any WSGI server, under a dispatcher next to another app, and for tests::

        web = OnboardingWeb(onboarding, secret=secret)
        application = OnboardingWSGI(web, root_path="/onboarding")

    :param web: The core web layer (``sessions="cookie"``: this app keeps no session of its own
        for the host mode to use).
    :param root_path: Where clients reach this app (``/onboarding``; ``""`` for the root): the
        links in pages start there, and every tenant's base URL is checked against it at
        construction (:meth:`~onboardkit.web.OnboardingWeb.check_mount`). ``SCRIPT_NAME`` is
        not used: behind a proxy that strips the prefix it would be wrong.
    :param reviewer: The host's decision on who reviews a tenant, asked only for reviewer pages
        and API calls; without it the core's own reviewer sign-in applies.
    :param client_address: The client's address as the host trusts it (behind a proxy: from
        the forwarded header the proxy sets); default ``REMOTE_ADDR``.
    :raises ConfigurationError: when a tenant's base URL is not where ``root_path`` serves it,
        or ``web`` keeps sessions in the host.
    """

    def __init__(
        self,
        web: OnboardingWeb,
        *,
        root_path: str = "",
        reviewer: ReviewerHook | None = None,
        client_address: Callable[[WSGIEnvironment], str | None] | None = None,
    ) -> None:
        if web.session_mode != "cookie":
            raise ConfigurationError(key="sessions", reason=COOKIE_MODE_ONLY)
        web.check_mount(root_path)
        self.web = web
        self.root_path = normalize_mount(root_path)
        self.reviewer = reviewer
        self.client_address = client_address

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        client = self.client_address(environ) if self.client_address is not None else None
        request = web_request(environ, root_path=self.root_path, client_address=client)
        if self.reviewer is not None:
            tenant = self.web.reviewer_tenant(request)
            if tenant is not None:
                request = request.with_reviewer(self.reviewer(environ, tenant))
        response = self.web.handle(request)
        return wsgi_response(response, start_response, head=request.method == "HEAD")
