"""The HTTP partner provider, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import onboardkit_partner_http
import pytest
from onboardkit_partner_http import HttpPartnerProvider, PartnerHttpError
from onboardkit_partner_http.provider import _Answer, _TtlCache

from onboardkit.errors import ConfigurationError, PartnerCodeError, PartnerProviderError
from onboardkit.partners import Partner, PartnerCodes
from onboardkit.plugins import Plugins
from onboardkit.testing import FrozenClock, make_plugins

ACME = {"id": "p-1", "name": "ACME Reseller", "details": {"city": "Berlin", "tier": 2}}
ROUTE = re.compile(r"^(?:/t/(?P<tenant>[^/]*))?/partners/(?P<code>[^/?]*)$")


class PartnerServer:
    """What the endpoint knows, what it was asked, and a switch that holds slow answers."""

    def __init__(self) -> None:
        self.partners: dict[str, dict[str, object]] = {"ACME-2024": ACME}
        self.requests: list[str] = []
        self.release = threading.Event()
        self.base = ""
        self._lock = threading.Lock()

    def count(self, path_end: str) -> int:
        with self._lock:
            return sum(1 for path in self.requests if path.endswith(path_end))

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)


def _handler(server: PartnerServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.record(self.path)
            match = ROUTE.match(self.path)
            code = unquote(match["code"]) if match else ""
            if code == "SLOW":
                server.release.wait(timeout=10)
                self._send(200, json.dumps(ACME).encode())
            elif code == "MALFORMED":
                self._send(200, b'{"id": "p-1", "name": ')
            elif code == "WRONG-SHAPE":
                self._send(200, json.dumps({"id": 7, "details": ["x"]}).encode())
            elif code == "NOT-A-NUMBER":
                self._send(200, b'{"id": "p-1", "name": "N", "details": {"x": NaN}}')
            elif code == "HUGE":
                self._send(200, json.dumps({**ACME, "padding": "x" * 100_000}).encode())
            elif code == "HUGE-UNDECLARED":
                self._send(200, json.dumps({**ACME, "padding": "x" * 100_000}).encode(), False)
            elif code == "BROKEN":
                self._send(500, b"internal error")
            elif code == "MOVED":
                self.send_response(302)
                self.send_header("Location", "/partners/ACME-2024")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif code in server.partners:
                tenant = match["tenant"] if match else None
                partner = {**server.partners[code], **({"name": unquote(tenant)} if tenant else {})}
                self._send(200, json.dumps(partner).encode())
            else:
                self._send(404, b'{"error": "unknown"}')

        def _send(self, status: int, body: bytes, declare_length: bool = True) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if declare_length:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None  # keep test output quiet

    return Handler


@pytest.fixture
def server():
    state = PartnerServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    # urllib would send even 127.0.0.1 through a proxy named in the environment.
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def provider(server, clock):
    return HttpPartnerProvider(
        server.base + "/partners/{code}",
        timeout=5.0,
        cache_ttl=300,
        negative_cache_ttl=60,
        clock=clock,
    )


def _codes(*plugins: object, timeout: float = 5.0) -> PartnerCodes:
    return PartnerCodes(make_plugins(*plugins, builtins=False), timeout=timeout)


# -- answers ---------------------------------------------------------------------------------


def test_a_found_code_resolves_to_the_partner_with_its_details(provider):
    with _codes(provider) as codes:
        partner = codes.resolve("acme", "ACME-2024")
    assert partner == Partner(
        id="p-1", name="ACME Reseller", tenant="acme", source="http", details=ACME["details"]
    )


def test_an_unknown_code_answered_with_404_is_refused_as_invalid(provider):
    assert provider.lookup("acme", "NOBODY") is None
    with _codes(provider) as codes, pytest.raises(PartnerCodeError) as caught:
        codes.resolve("acme", "NOBODY")
    assert caught.value.code == "partner_code.invalid"


def test_a_server_slower_than_the_provider_timeout_fails_closed(server):
    slow = HttpPartnerProvider(server.base + "/partners/{code}", timeout=0.1)
    with _codes(slow) as codes, pytest.raises(PartnerProviderError) as caught:
        codes.resolve("acme", "SLOW")
    assert caught.value.code == "partner_code.unavailable"


def test_a_server_slower_than_the_core_time_limit_fails_closed(server):
    patient = HttpPartnerProvider(server.base + "/partners/{code}", timeout=10)
    with _codes(patient, timeout=0.1) as codes, pytest.raises(PartnerProviderError):
        codes.resolve("acme", "SLOW")


@pytest.mark.parametrize(
    "code",
    ["MALFORMED", "WRONG-SHAPE", "NOT-A-NUMBER", "HUGE", "HUGE-UNDECLARED", "BROKEN", "MOVED"],
)
def test_unusable_answers_fail_closed(provider, code):
    with pytest.raises(PartnerHttpError):
        provider.lookup("acme", code)
    with _codes(provider) as codes, pytest.raises(PartnerProviderError):
        codes.resolve("acme", code)


def test_failures_are_logged_without_the_code(provider, caplog):
    with pytest.raises(PartnerHttpError) as caught:
        provider.lookup("acme", "BROKEN")
    assert "HTTP status 500" in caplog.text
    assert "BROKEN" not in caplog.text
    assert "BROKEN" not in str(caught.value)


def test_the_code_and_tenant_are_url_encoded(server, clock):
    provider = HttpPartnerProvider(server.base + "/t/{tenant}/partners/{code}", clock=clock)
    server.partners["A/B?C#D E"] = ACME
    partner = provider.lookup("acme & co", "A/B?C#D E")
    assert partner is not None
    assert partner.name == "acme & co"
    assert server.requests == ["/t/acme%20%26%20co/partners/A%2FB%3FC%23D%20E"]


# -- the cache -------------------------------------------------------------------------------


def test_a_found_partner_is_served_from_the_cache(provider, server):
    first = provider.lookup("acme", "ACME-2024")
    assert provider.lookup("acme", "ACME-2024") == first
    assert server.count("/ACME-2024") == 1


def test_an_unknown_code_is_served_from_the_cache(provider, server):
    assert provider.lookup("acme", "NOBODY") is None
    assert provider.lookup("acme", "NOBODY") is None
    assert server.count("/NOBODY") == 1


def test_cached_partners_expire_after_their_ttl(provider, server, clock):
    provider.lookup("acme", "ACME-2024")
    clock.advance(299)
    provider.lookup("acme", "ACME-2024")
    clock.advance(1)
    provider.lookup("acme", "ACME-2024")
    assert server.count("/ACME-2024") == 2


def test_unknown_codes_are_remembered_for_their_own_shorter_ttl(provider, server, clock):
    provider.lookup("acme", "NOBODY")
    clock.advance(60)
    provider.lookup("acme", "NOBODY")
    assert server.count("/NOBODY") == 2


def test_cached_answers_belong_to_their_tenant(provider, server):
    provider.lookup("acme", "ACME-2024")
    partner = provider.lookup("globex", "ACME-2024")
    assert partner is not None
    assert partner.tenant == "globex"
    assert server.count("/ACME-2024") == 2


def test_failures_are_not_cached(provider, server):
    for _ in range(2):
        with pytest.raises(PartnerHttpError):
            provider.lookup("acme", "BROKEN")
    assert server.count("/BROKEN") == 2


def test_the_cache_drops_the_least_recently_used_answer_when_full(server, clock):
    provider = HttpPartnerProvider(server.base + "/partners/{code}", cache_size=2, clock=clock)
    for code in ("A", "B", "A", "C", "A"):
        provider.lookup("acme", code)
    assert [server.count(f"/{code}") for code in ("A", "B", "C")] == [1, 1, 1]
    provider.lookup("acme", "B")
    assert server.count("/B") == 2


def test_the_cache_stays_consistent_under_concurrent_use():
    # Straight at the cache: through the provider, HTTP round trips would hide any race. The
    # clock ticks on every reading, so entries keep expiring and being dropped while other
    # threads read and evict them.
    ticks = itertools.count()
    cache = _TtlCache(3, lambda: float(next(ticks)))
    errors: list[Exception] = []

    def use(offset: int, start: threading.Barrier) -> None:
        start.wait()
        try:
            for n in range(5000):
                key = ("acme", f"P{(offset + n) % 6}")
                if cache.get(key) is None:
                    cache.put(key, _Answer(None), 3)
        except Exception as error:  # any error is a race in the cache
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _round in range(5):
            start = threading.Barrier(8)
            threads = [threading.Thread(target=use, args=(n, start)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


# -- configuration and the entry point -------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://example.com/partners",
        "ftp://example.com/{code}",
        "file:///etc/{code}",
        "http://example.com/{code}/{secret}",
        "/partners/{code}",
    ],
)
def test_the_url_template_must_be_http_with_a_code_placeholder(template):
    with pytest.raises(ConfigurationError) as caught:
        HttpPartnerProvider(template)
    assert caught.value.params["key"] == "url_template"


def test_the_environment_configures_the_provider():
    provider = HttpPartnerProvider.from_environ(
        {"ONBOARDKIT_PARTNER_HTTP_URL": "https://crm.example.com/p/{code}"}
    )
    assert isinstance(provider, HttpPartnerProvider)
    assert HttpPartnerProvider.from_environ({}) is None


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"ONBOARDKIT_PARTNER_HTTP_URL": "crm"}, "ONBOARDKIT_PARTNER_HTTP_URL"),
        (
            {
                "ONBOARDKIT_PARTNER_HTTP_URL": "http://crm/{code}",
                "ONBOARDKIT_PARTNER_HTTP_TIMEOUT": "soon",
            },
            "ONBOARDKIT_PARTNER_HTTP_TIMEOUT",
        ),
        (
            {
                "ONBOARDKIT_PARTNER_HTTP_URL": "http://crm/{code}",
                "ONBOARDKIT_PARTNER_HTTP_CACHE_TTL": "-1",
            },
            "ONBOARDKIT_PARTNER_HTTP_CACHE_TTL",
        ),
    ],
)
def test_a_bad_environment_variable_is_named_in_the_error(environ, key):
    with pytest.raises(ConfigurationError) as caught:
        HttpPartnerProvider.from_environ(environ)
    assert caught.value.params["key"] == key


def test_plugins_load_discovers_the_entry_point():
    plugins = Plugins.load(builtins=False, environ={})
    assert plugins.is_registered("partner_http")
    assert [failure.name for failure in plugins.failures if failure.name == "partner_http"] == []


def test_the_entry_point_knows_no_code_while_unconfigured(monkeypatch):
    monkeypatch.delenv("ONBOARDKIT_PARTNER_HTTP_URL", raising=False)
    assert onboardkit_partner_http.onboardkit_resolve_partner_code("acme", "ACME-2024") is None
    plugins = Plugins.load(builtins=False, environ={})
    with PartnerCodes(plugins) as codes, pytest.raises(PartnerCodeError) as caught:
        codes.resolve("acme", "ACME-2024")
    assert caught.value.code == "partner_code.invalid"


def test_the_entry_point_resolves_through_the_configured_endpoint(monkeypatch, server):
    monkeypatch.setenv("ONBOARDKIT_PARTNER_HTTP_URL", server.base + "/partners/{code}")
    plugins = Plugins.load(builtins=False, environ={})
    with PartnerCodes(plugins) as codes:
        partner = codes.resolve("acme", "ACME-2024")
    assert (partner.name, partner.source) == ("ACME Reseller", "http")


def test_a_misconfigured_entry_point_fails_closed(monkeypatch, server):
    monkeypatch.setenv("ONBOARDKIT_PARTNER_HTTP_URL", server.base + "/partners/{code}")
    monkeypatch.setenv("ONBOARDKIT_PARTNER_HTTP_TIMEOUT", "soon")
    plugins = Plugins.load(builtins=False, environ={})
    with PartnerCodes(plugins) as codes, pytest.raises(PartnerProviderError):
        codes.resolve("acme", "ACME-2024")
