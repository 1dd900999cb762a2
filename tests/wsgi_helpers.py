"""Shared set-up of the WSGI tests: environ dicts as a server makes them, a real WSGI server
(the standard library's wsgiref) in a thread, and a cookie-keeping HTTP client over it."""

from __future__ import annotations

import http.client
import io
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import shift_path_info
from wsgiref.validate import validator

import attrs

__all__ = [
    "Answer",
    "HttpClient",
    "call",
    "environ",
    "mounted",
    "serve",
]

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def environ(
    method: str = "GET",
    path: bytes | str = b"/",
    *,
    query: bytes | str = b"",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    script_name: bytes | str = b"",
    content_length: str | None = None,
    https: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A PEP 3333 environ as a server builds it: the request line's bytes as latin-1 strings,
    ``Content-Type``/``Content-Length`` without the ``HTTP_`` prefix, ``wsgi.input`` a stream."""

    def native(value: bytes | str) -> str:
        return value.decode("latin-1") if isinstance(value, bytes) else value

    made: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": native(script_name),
        "PATH_INFO": native(path),
        "QUERY_STRING": native(query),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "443" if https else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.10",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if https else "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if content_length is not None:
        made["CONTENT_LENGTH"] = content_length
    elif body:
        made["CONTENT_LENGTH"] = str(len(body))
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            made[key] = value
        else:
            made[f"HTTP_{key}"] = value
    made.update(extra)
    return made


@attrs.frozen
class Answer:
    """What a WSGI application answered: the status line, every header, the body."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.status_line.split(" ", 1)[0])

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(app: Any, env: dict[str, Any], *, validate: bool = False) -> Answer:
    """Call ``app`` as a server would; with ``validate`` through wsgiref's PEP 3333 validator
    (which also insists on a Content-Type in every answer with a body, and on a well-formed
    environ, so it is left out for redirects and malformed requests)."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    result = (validator(app) if validate else app)(env, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started[0]
    return Answer(status, list(headers), body)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(app: Any) -> Iterator[int]:
    """Serve ``app`` with wsgiref's server in a thread; the port it listens on."""
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def mounted(prefix: str, app: Any) -> Any:
    """A dispatcher serving ``app`` below ``prefix`` (one segment), as a host app mounts it:
    the segment moves from ``PATH_INFO`` to ``SCRIPT_NAME``; anything else is 404."""

    def dispatch(env: dict[str, Any], start_response: Any) -> Any:
        if env.get("PATH_INFO", "").startswith(prefix + "/"):
            shift_path_info(env)
            return app(env, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not here"]

    return dispatch


class HttpClient:
    """An HTTP client of a served app that keeps cookies like a browser and follows nothing."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.csrf_token: str | None = None

    def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None = None,
        headers: Iterable[tuple[str, str]] = (),
        send_length: bool = True,
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            sent = list(headers)
            if self.cookies:
                cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
                sent.append(("Cookie", cookie))
            if body is not None and send_length:
                sent.append(("Content-Length", str(len(body))))
            for name, value in sent:
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            answer = Answer(
                f"{response.status} {response.reason}", response.getheaders(), response.read()
            )
        finally:
            connection.close()
        for line in answer.header_values("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(line)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if (answer.header("content-type") or "").startswith("text/html"):
            found = _CSRF.search(answer.text)
            if found is not None:
                self.csrf_token = found.group(1)
        return answer

    def get(self, target: str, **options: Any) -> Answer:
        return self.request("GET", target, **options)

    def post_form(self, target: str, form: Mapping[str, Any]) -> Answer:
        fields = {"csrf_token": self.csrf_token, **form}
        body = urlencode(fields, doseq=True).encode()
        content_type = ("Content-Type", "application/x-www-form-urlencoded")
        return self.request("POST", target, body=body, headers=[content_type])

    def post_json(self, target: str, body: bytes) -> Answer:
        return self.request(
            "POST", target, body=body, headers=[("Content-Type", "application/json")]
        )
