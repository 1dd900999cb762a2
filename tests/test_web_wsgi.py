"""The WSGI adapter kit: environ to WebRequest, WebResponse to a WSGI answer, and the standalone
WSGI application, over direct environ dicts and over a real WSGI server (wsgiref)."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboarding_helpers import CONFIG, SECRET, STRONG, latest_token, mails, registration_form
from onboardkit.errors import ConfigurationError
from onboardkit.onboarding import Onboarding
from onboardkit.sqlstore import SqlStore
from onboardkit.tenants import Tenants
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.passwords import CheapTestHasher
from onboardkit.web import MAX_BODY_BYTES, HostSession, OnboardingWeb, WebResponse
from onboardkit.web.wsgi import OnboardingWSGI, read_body, status_line, web_request, wsgi_response
from wsgi_helpers import HttpClient, call, environ, mounted, serve

MOUNT = "/onboarding"
JSON = {"content-type": "application/json"}


def tenants_at(mount: str) -> Tenants:
    """The test tenants with each base URL where a multi-tenant mount at ``mount`` serves it."""
    config = copy.deepcopy(CONFIG)
    for tenant_id, tenant in config.items():
        tenant["base_url"] = f"https://{tenant_id}.example.com{mount}/{tenant_id}"
    return Tenants.from_mapping({"tenants": config})


@pytest.fixture
def onboarding(memory_store: SqlStore) -> Iterator[Onboarding]:
    service = Onboarding(
        tenants_at(MOUNT),
        memory_store,
        secret=SECRET,
        plugins=make_plugins(),
        hasher=CheapTestHasher(),
        clock=FrozenClock(),
    )
    yield service
    service.close()


@pytest.fixture
def web(onboarding: Onboarding) -> OnboardingWeb:
    return OnboardingWeb(onboarding, secret=SECRET)


@pytest.fixture
def app(web: OnboardingWeb) -> OnboardingWSGI:
    return OnboardingWSGI(web, root_path=MOUNT)


@pytest.fixture
def port(app: OnboardingWSGI) -> Iterator[int]:
    """The app on a real WSGI server, mounted at /onboarding by a dispatcher."""
    with serve(mounted(MOUNT, app)) as found:
        yield found


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


class CountingStream(io.BytesIO):
    """A request body stream that notes how many bytes were asked for and read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


# -- environ -> WebRequest --------------------------------------------------------------------


def test_method_path_below_script_name_and_query_are_taken_over() -> None:
    request = web_request(
        environ("post", b"/pim/login", query=b"next=%2Fpim%2Faccount&x=1", script_name=b"/onb")
    )
    assert request.method == "POST"
    assert request.path == "/pim/login"
    assert request.root_path == "/onb"
    assert request.query == (("next", "/pim/account"), ("x", "1"))


def test_an_empty_path_info_is_the_mount_root() -> None:
    assert web_request(environ(path=b"", script_name=b"/onb")).path == "/"


def test_a_mount_below_script_name_is_cut_from_the_path_and_joins_the_root() -> None:
    env = environ(path=b"/onboarding/pim/login", script_name=b"/site")
    request = web_request(env, mount="/onboarding/")
    assert request.path == "/pim/login"
    assert request.root_path == "/site/onboarding"


def test_the_mount_itself_is_its_root_page() -> None:
    request = web_request(environ(path=b"/onboarding"), mount="/onboarding")
    assert request.path == "/"


def test_a_path_outside_the_mount_is_the_plugins_mistake() -> None:
    with pytest.raises(ValueError, match="not below the mount"):
        web_request(environ(path=b"/onboardingX/pim"), mount="/onboarding")


def test_a_given_root_path_wins_over_script_name() -> None:
    request = web_request(environ(path=b"/pim/login", script_name=b"/inner"), root_path="/public")
    assert request.root_path == "/public"


def test_headers_come_from_http_variables_and_the_two_without_prefix() -> None:
    env = environ(
        "POST",
        b"/pim/api/login",
        headers={"Accept-Language": "de", "X-Request-Id": "42", "Content-Type": "application/json"},
        body=b"{}",
    )
    request = web_request(env)
    assert request.header("accept-language") == "de"
    assert request.header("x-request-id") == "42"
    assert request.header("content-type") == "application/json"
    assert request.header("content-length") == "2"
    assert request.body == b"{}"


def test_repeated_headers_joined_by_the_server_reach_the_core() -> None:
    request = web_request(environ(headers={"Accept-Language": "fr,de;q=0.5"}))
    assert request.header("accept-language") == "fr,de;q=0.5"


def test_cookies_are_read_from_the_cookie_header() -> None:
    request = web_request(environ(headers={"Cookie": "onboardkit_lang=de; other=1"}))
    assert request.cookies == {"onboardkit_lang": "de", "other": "1"}


def test_utf8_paths_and_queries_are_decoded_from_pep_3333_latin1_strings() -> None:
    env = environ(path=utf8("/pim/Müller"), query=utf8("name=Jürgen&q=%C3%A4"))
    request = web_request(env)
    assert request.path == "/pim/Müller"
    assert request.query == (("name", "Jürgen"), ("q", "ä"))
    assert not request.malformed


def test_a_server_that_decoded_already_is_taken_as_it_is() -> None:
    env = environ(path="/pim/日本")  # characters above U+00FF: not latin-1 bytes
    request = web_request(env)
    assert request.path == "/pim/日本"
    assert not request.malformed


@pytest.mark.parametrize(
    ("path", "query"),
    [(b"/pim/\xff\xfe", b""), (b"/pim/login", b"x=\xc3(")],
    ids=["path", "query"],
)
def test_bytes_that_are_not_utf8_make_the_request_malformed(path: bytes, query: bytes) -> None:
    assert web_request(environ(path=path, query=query)).malformed


def test_a_path_that_is_not_utf8_below_a_mount_is_malformed_not_an_exception() -> None:
    # Django and Flask route the percent-escaped form to the plugin's catch-all view.
    request = web_request(environ(path=b"/onboarding/pim/\xff"), mount="/onboarding")
    assert request.malformed
    assert request.root_path == "/onboarding"


def test_the_client_address_is_remote_addr_unless_the_host_says_otherwise() -> None:
    env = environ(REMOTE_ADDR="198.51.100.4")
    assert web_request(env).client_address == "198.51.100.4"
    assert web_request(env, client_address="203.0.113.9").client_address == "203.0.113.9"


def test_https_makes_the_request_secure() -> None:
    assert web_request(environ(https=True)).secure
    assert not web_request(environ()).secure


def test_session_locale_and_reviewer_are_passed_through() -> None:
    session = HostSession("pim", "a" * 32, "verifier")
    request = web_request(environ(), session=session, locale="de", reviewer=None)
    assert request.session == session
    assert request.locale == "de"
    assert request.reviewer_given
    assert request.reviewer is None
    assert not web_request(environ()).reviewer_given


def test_a_body_the_framework_read_already_is_used_as_it_is() -> None:
    env = environ("POST", body=b"unread")
    request = web_request(env, body=b"x" * 10, body_too_large=True)
    assert request.body == b"x" * 10
    assert request.body_too_large
    assert env["wsgi.input"].read(-1) == b"unread"


# -- reading the body -------------------------------------------------------------------------


def test_content_length_is_honoured_and_nothing_beyond_it_is_read() -> None:
    stream = CountingStream(b'{"a":1}trailing bytes of the next request')
    body, too_large, malformed = read_body(
        environ("POST", content_length="7", **{"wsgi.input": stream})
    )
    assert (body, too_large, malformed) == (b'{"a":1}', False, False)
    assert stream.consumed == 7


def test_a_declared_length_over_the_limit_is_too_large_and_not_read() -> None:
    stream = CountingStream(b"x" * (MAX_BODY_BYTES + 10))
    env = environ("POST", content_length=str(MAX_BODY_BYTES + 1), **{"wsgi.input": stream})
    assert read_body(env) == (b"", True, False)
    assert stream.consumed == 0


def test_a_body_of_exactly_the_limit_is_read_whole() -> None:
    data = b"y" * MAX_BODY_BYTES
    assert read_body(environ("POST", body=data)) == (data, False, False)


def test_a_short_body_is_what_the_client_sent() -> None:
    env = environ("POST", body=b"abc", content_length="10")
    assert read_body(env) == (b"abc", False, False)


def test_without_a_length_a_terminated_stream_is_read_to_its_end() -> None:
    env = environ(
        "POST", **{"wsgi.input": io.BytesIO(b"chunked body"), "wsgi.input_terminated": True}
    )
    assert read_body(env) == (b"chunked body", False, False)


def test_without_a_length_a_terminated_stream_is_read_no_further_than_the_limit() -> None:
    stream = CountingStream(b"z" * (3 * MAX_BODY_BYTES))
    env = environ("POST", **{"wsgi.input": stream, "wsgi.input_terminated": True})
    body, too_large, _ = read_body(env)
    assert too_large
    assert body == b"z" * MAX_BODY_BYTES
    assert stream.consumed <= MAX_BODY_BYTES + 1


def test_without_a_length_an_unterminated_stream_is_not_read() -> None:
    """A chunked body on a server that does not de-chunk (wsgiref): reading would wait for the
    client to close, so there is no body, as werkzeug and Django decide too."""
    stream = CountingStream(b"5\r\nhello\r\n0\r\n\r\n")
    env = environ("POST", headers={"Transfer-Encoding": "chunked"}, **{"wsgi.input": stream})
    assert read_body(env) == (b"", False, False)
    assert stream.consumed == 0


@pytest.mark.parametrize("length", ["12x", "-1", "1e3", "٣", "9" * 40])
def test_a_length_that_is_no_number_makes_the_request_malformed(length: str) -> None:
    stream = CountingStream(b"123")
    env = environ("POST", content_length=length, **{"wsgi.input": stream})
    assert read_body(env) == (b"", False, True)
    assert web_request(environ("POST", content_length=length)).malformed
    assert stream.consumed == 0


# -- WebResponse -> WSGI ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (200, "200 OK"),
        (202, "202 Accepted"),
        (204, "204 No Content"),
        (303, "303 See Other"),
        (401, "401 Unauthorized"),
        (410, "410 Gone"),
        (415, "415 Unsupported Media Type"),
        (429, "429 Too Many Requests"),
        (503, "503 Service Unavailable"),
        (599, "599 Unknown"),
    ],
)
def test_status_lines_carry_the_standard_reason_phrase(status: int, line: str) -> None:
    assert status_line(status) == line


@pytest.mark.parametrize(
    ("status", "lines"),
    [
        (413, {"413 Request Entity Too Large", "413 Content Too Large"}),
        (422, {"422 Unprocessable Entity", "422 Unprocessable Content"}),
    ],
)
def test_phrases_renamed_by_rfc_9110_follow_the_interpreter(status: int, lines: set[str]) -> None:
    """Python 3.13 took RFC 9110's names for these two; either is standard."""
    assert status_line(status) in lines


def _started(response: WebResponse, **options: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    body = b"".join(wsgi_response(response, start_response, **options))
    return started[0][0], started[0][1], body


def test_every_header_goes_out_as_it_is_with_one_set_cookie_per_cookie() -> None:
    response = WebResponse(
        200,
        (("content-type", "text/plain"), ("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2")),
        b"hello",
    )
    status, headers, body = _started(response)
    assert status == "200 OK"
    assert headers == [*response.headers, ("content-length", "5")]
    assert body == b"hello"


def test_a_head_answer_has_neither_body_nor_length() -> None:
    _, headers, body = _started(WebResponse(200, (("content-type", "text/html"),)), head=True)
    assert body == b""
    assert "content-length" not in {name for name, _ in headers}


def test_a_204_answer_has_neither_body_nor_length() -> None:
    _, headers, body = _started(WebResponse(204, (), b"ignored"))
    assert body == b""
    assert headers == []


# -- the WSGI application, called with environ dicts ------------------------------------------


def test_a_page_answers_through_the_pep_3333_validator(app: OnboardingWSGI) -> None:
    answer = call(app, environ(path=b"/pim/login"), validate=True)
    assert answer.status == 200
    assert answer.header("content-type") == "text/html; charset=utf-8"
    assert 'action="/onboarding/pim/login"' in answer.text
    assert answer.header("content-length") == str(len(answer.body))


def test_an_api_error_answers_through_the_pep_3333_validator(app: OnboardingWSGI) -> None:
    answer = call(app, environ(path=b"/nowhere/api/me"), validate=True)
    assert answer.status == 404
    assert answer.status_line == "404 Not Found"
    assert answer.header("content-type") == "application/json"


def test_links_use_the_root_path_not_script_name(app: OnboardingWSGI) -> None:
    """Behind a proxy that strips /onboarding, SCRIPT_NAME is empty; links must still work."""
    answer = call(app, environ(path=b"/pim/login", script_name=b""))
    assert 'href="/onboarding/pim/register"' in answer.text


def test_a_path_that_is_not_utf8_is_a_typed_400_page(app: OnboardingWSGI) -> None:
    answer = call(app, environ(path=b"/pim/\xff"))
    assert answer.status == 400
    assert answer.header("content-type") == "text/html; charset=utf-8"


def test_a_malformed_api_request_is_a_typed_400_error_body(app: OnboardingWSGI) -> None:
    answer = call(app, environ("POST", b"/pim/api/login", content_length="abc", headers=JSON))
    assert answer.status == 400
    error = json.loads(answer.body)["error"]
    assert error["code"] == "web.malformed_request"


def test_the_malformed_request_error_speaks_german(app: OnboardingWSGI) -> None:
    env = environ(path=b"/pim/api/form", query=b"x=\xff", headers={"Accept-Language": "de"})
    error = json.loads(call(app, env).body)["error"]
    assert error["code"] == "web.malformed_request"
    assert error["message"].startswith("Die Anfrage konnte nicht gelesen werden")


def test_a_non_ascii_path_is_no_page(app: OnboardingWSGI) -> None:
    assert call(app, environ(path=utf8("/pim/anmeldung-ä"))).status == 404


def test_a_body_over_the_limit_is_413(app: OnboardingWSGI) -> None:
    env = environ("POST", b"/pim/api/register", headers=JSON, body=b"[" * (MAX_BODY_BYTES + 1))
    answer = call(app, env)
    assert answer.status == 413
    assert json.loads(answer.body)["error"]["code"] == "web.body_too_large"


def test_head_answers_the_headers_of_get_without_a_body(app: OnboardingWSGI) -> None:
    get = call(app, environ("GET", b"/pim/login"))
    head = call(app, environ("HEAD", b"/pim/login"))
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.header("content-type") == get.header("content-type")
    assert head.header("content-length") is None


def test_https_cookies_are_secure(app: OnboardingWSGI) -> None:
    answer = call(app, environ(path=b"/pim/login", https=True))
    cookies = answer.header_values("set-cookie")
    assert cookies
    assert all("Secure" in cookie for cookie in cookies)
    plain = call(app, environ(path=b"/pim/login")).header_values("set-cookie")
    assert not any("Secure" in cookie for cookie in plain)


def test_the_trusted_client_address_of_the_host_is_used(web: OnboardingWeb) -> None:
    seen: list[str | None] = []

    def forwarded(env: dict[str, Any]) -> str | None:
        address = env.get("HTTP_X_FORWARDED_FOR")
        seen.append(address)
        return address

    app = OnboardingWSGI(web, root_path=MOUNT, client_address=forwarded)
    call(app, environ(path=b"/pim/login", headers={"X-Forwarded-For": "203.0.113.5"}))
    assert seen == ["203.0.113.5"]


def test_the_hosts_reviewer_decision_is_asked_for_reviewer_routes_only(
    web: OnboardingWeb,
) -> None:
    asked: list[str] = []

    def reviewer(env: dict[str, Any], tenant: str) -> str | None:
        asked.append(tenant)
        return "boss@pim.example.com"

    app = OnboardingWSGI(web, root_path=MOUNT, reviewer=reviewer)
    assert call(app, environ(path=b"/pim/api/reviews")).status == 200
    assert call(app, environ(path=b"/pim/login")).status == 200
    assert asked == ["pim"]


def test_host_session_mode_is_refused(onboarding: Onboarding) -> None:
    web = OnboardingWeb(onboarding, secret=SECRET, sessions="host")
    with pytest.raises(ConfigurationError) as raised:
        OnboardingWSGI(web, root_path=MOUNT)
    assert raised.value.params["key"] == "sessions"


# -- the WSGI application on a real server ----------------------------------------------------


def test_register_confirm_and_sign_in_through_the_pages_over_http(
    port: int, memory_store: SqlStore
) -> None:
    browser = HttpClient(port)
    assert browser.get("/onboarding/dam/register").status == 200
    sent = browser.post_form("/onboarding/dam/register", registration_form("anna@example.com"))
    assert sent.status == 303
    assert (sent.header("location") or "").startswith("/onboarding/dam/sent?step=register")

    mail = mails(memory_store, "anna@example.com", "confirmation")[0]
    link = next(word for word in mail.text.split() if "token=" in word)
    parts = urlsplit(link)
    assert parts.path == "/onboarding/dam/confirm"  # the mailed link is where the page is
    assert browser.get(f"{parts.path}?{parts.query}").status == 200
    token = latest_token(memory_store, "anna@example.com", "confirmation")
    confirmed = browser.post_form("/onboarding/dam/confirm", {"token": token})
    assert confirmed.status == 303
    assert confirmed.header("location") == "/onboarding/dam/login?notice=confirmed"

    browser.get("/onboarding/dam/login")
    signed_in = browser.post_form(
        "/onboarding/dam/login", {"email": "anna@example.com", "password": STRONG}
    )
    assert signed_in.status == 303
    session = [c for c in signed_in.header_values("set-cookie") if c.startswith("onboardkit_s")]
    assert session
    assert "Path=/onboarding/dam/" in session[0]
    account = browser.get("/onboarding/dam/account")
    assert account.status == 200
    assert "anna@example.com" in account.text


def test_the_json_api_over_http(port: int) -> None:
    client = HttpClient(port)
    answer = client.post_json(
        "/onboarding/dam/api/register",
        json.dumps(
            {"email": "ben@example.com", "password": STRONG, "consents": {"privacy": True}}
        ).encode(),
    )
    assert answer.status == 202
    assert answer.status_line == "202 Accepted"
    assert answer.header("content-type") == "application/json"
    assert answer.header("content-length") == str(len(answer.body))


def test_head_over_http_has_no_body(port: int) -> None:
    answer = HttpClient(port).request("HEAD", "/onboarding/pim/login")
    assert answer.status == 200
    assert answer.body == b""
    assert answer.header("content-type") == "text/html; charset=utf-8"


def test_repeated_headers_over_http_all_count(port: int) -> None:
    client = HttpClient(port)
    page = client.get(
        "/onboarding/pim/login", headers=[("Accept-Language", "fr"), ("Accept-Language", "de")]
    )
    assert '<html lang="de"' in page.text


def test_a_declared_body_over_the_limit_over_http_is_413_without_reading_it(port: int) -> None:
    client = HttpClient(port)
    answer = client.request(
        "POST",
        "/onboarding/pim/api/register",
        body=b"{}",
        headers=[("Content-Type", "application/json"), ("Content-Length", str(10**9))],
    )
    assert answer.status == 413


def test_a_chunked_body_over_wsgiref_gets_an_answer_and_no_hang(port: int) -> None:
    client = HttpClient(port)
    answer = client.request(
        "POST",
        "/onboarding/pim/api/login",
        body=b"2\r\n{}\r\n0\r\n\r\n",
        headers=[("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
        send_length=False,
    )
    assert answer.status == 400


def test_non_ascii_and_undecodable_paths_over_http(port: int) -> None:
    client = HttpClient(port)
    assert client.get("/onboarding/pim/" + quote("anmeldung-ä")).status == 404
    undecodable = client.get("/onboarding/pim/%FF")
    assert undecodable.status == 400
    assert undecodable.status_line == "400 Bad Request"


def test_cookies_set_over_http_come_back(port: int) -> None:
    client = HttpClient(port)
    client.get("/onboarding/pim/login?lang=de")
    assert client.cookies["onboardkit_lang"] == "de"
    page = client.get("/onboarding/pim/login")
    assert '<html lang="de"' in page.text


# -- whatever a client sends ------------------------------------------------------------------

_LATIN1 = st.binary(max_size=40).map(lambda raw: raw.decode("latin-1"))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "BREW"]),
    tenant=st.sampled_from(["pim", "dam", "nope", ""]),
    rest=_LATIN1,
    query=_LATIN1,
    header=_LATIN1,
    length=st.one_of(st.none(), st.text(max_size=6), st.integers(0, 10**7).map(str)),
    body=st.binary(max_size=64),
)
def test_no_request_makes_the_app_fail(
    app: OnboardingWSGI,
    method: str,
    tenant: str,
    rest: str,
    query: str,
    header: str,
    length: str | None,
    body: bytes,
) -> None:
    env = environ(
        method,
        f"/{tenant}/{rest}",
        query=query,
        headers={"Accept-Language": header, "Cookie": header, "Content-Type": header},
        body=body,
        content_length=length,
    )
    answer = call(app, env)
    assert 200 <= answer.status < 500
    assert answer.header("content-security-policy")
