"""The plugin contract, proven on a reference adapter -- and shown to catch broken ones.

:class:`ReferenceAdapter` is what a correct framework plugin does, as a plain callable: it
translates the HTTP request into a ``WebRequest`` (the path below its mount, the mount as
``root_path``, the body up to the limit), copies the ``WebResponse`` back unchanged, and in host
session mode keeps the host's session in a dict keyed by a cookie of its own, logging the person
in on ``SignedIn`` and out on ``SignedOut``. It passes :class:`PluginContract` in both session
modes; each broken variant below fails it with a message that names the fault.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import SplitResult, urlsplit

import attrs
import pytest

from onboardkit.testing import ContractRun, PluginContract, RecordingWeb, Transport, contract_web
from onboardkit.web import (
    MAX_BODY_BYTES,
    HostSession,
    OnboardingWeb,
    SignedIn,
    SignedOut,
    WebRequest,
    WebResponse,
)

#: The address the reference adapter's "server" sees for its client.
PEER = "203.0.113.9"


class ReferenceAdapter:
    """A correct plugin in a few lines (see the module documentation)."""

    session_cookie = "host_session"

    def __init__(self, web: OnboardingWeb, prefix: str) -> None:
        self.web = web
        self.prefix = prefix
        #: The host's sessions by the id in its cookie.
        self.sessions: dict[str, HostSession] = {}

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        parts = urlsplit(url)
        if not parts.path.startswith(self.prefix + "/"):
            return WebResponse(404)  # not ours: the host answers
        session_id = self.session_id(headers)
        session = self.sessions.get(session_id or "") if self.host_mode else None
        answer = self.web.handle(self.core_request(method, parts, headers, body, session))
        extra = self.act_on(answer, session_id) if self.host_mode else []
        return WebResponse(answer.status, (*self.headers_of(answer), *extra), answer.body)

    def core_request(
        self,
        method: str,
        parts: SplitResult,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        session: HostSession | None,
    ) -> WebRequest:
        return WebRequest(
            method,
            parts.path[len(self.prefix) :],
            query=parts.query,
            headers=headers,
            body=body[:MAX_BODY_BYTES],
            body_too_large=len(body) > MAX_BODY_BYTES,
            client_address=PEER,
            root_path=self.prefix,
            secure=parts.scheme == "https",
            session=session,
        )

    @property
    def host_mode(self) -> bool:
        return self.web.session_mode == "host"

    def session_id(self, headers: Sequence[tuple[str, str]]) -> str | None:
        jar: SimpleCookie = SimpleCookie()
        jar.load("; ".join(value for name, value in headers if name.lower() == "cookie"))
        found = jar.get(self.session_cookie)
        return found.value if found is not None else None

    def act_on(self, answer: WebResponse, session_id: str | None) -> list[tuple[str, str]]:
        """The host's login and logout: a new session id on sign-in, none after sign-out."""
        if isinstance(answer.session, SignedIn):
            self.sessions.pop(session_id or "", None)
            new_id = secrets.token_urlsafe(16)
            self.sessions[new_id] = answer.session.session
            return [("set-cookie", f"{self.session_cookie}={new_id}; Path=/; HttpOnly")]
        if isinstance(answer.session, SignedOut):
            return self.logout(session_id)
        return []

    def logout(self, session_id: str | None) -> list[tuple[str, str]]:
        self.sessions.pop(session_id or "", None)
        return [("set-cookie", f"{self.session_cookie}=; Max-Age=0; Path=/")]

    def headers_of(self, answer: WebResponse) -> tuple[tuple[str, str], ...]:
        return answer.headers


class TestReferenceAdapter(PluginContract):
    client_address = PEER

    @pytest.fixture
    def plugin_client(self, contract_web: RecordingWeb, mount_prefix: str) -> Transport:
        return ReferenceAdapter(contract_web, mount_prefix)


# -- the contract catches broken plugins ------------------------------------------------------


class DropsACookie(ReferenceAdapter):
    """Copies only the first Set-Cookie line (a dict of headers)."""

    def headers_of(self, answer: WebResponse) -> tuple[tuple[str, str], ...]:
        cookies = answer.header_values("set-cookie")[:1]
        others = tuple(line for line in answer.headers if line[0].lower() != "set-cookie")
        return (*others, *(("set-cookie", cookie) for cookie in cookies))


class IgnoresSignedOut(ReferenceAdapter):
    """Logs the person into the host but never out."""

    def logout(self, session_id: str | None) -> list[tuple[str, str]]:
        return []


class IgnoresSignedIn(ReferenceAdapter):
    """Never logs anybody into the host."""

    def act_on(self, answer: WebResponse, session_id: str | None) -> list[tuple[str, str]]:
        return []


class LosesTheMount(ReferenceAdapter):
    """Hands the core no root path, so its links and cookies miss the prefix."""

    def core_request(self, *args: Any) -> WebRequest:
        return attrs.evolve(super().core_request(*args), root_path="")


class AddsAHeader(ReferenceAdapter):
    """Adds a header of its own to every answer."""

    def headers_of(self, answer: WebResponse) -> tuple[tuple[str, str], ...]:
        return (*answer.headers, ("x-powered-by", "reference"))


class TurnsHeadIntoGet(ReferenceAdapter):
    """Asks the core a GET for a HEAD."""

    def core_request(self, *args: Any) -> WebRequest:
        request = super().core_request(*args)
        return attrs.evolve(request, method="GET") if request.method == "HEAD" else request


class ForgetsTheClient(ReferenceAdapter):
    """Passes no client address (rate limits and consent evidence go blind)."""

    def core_request(self, *args: Any) -> WebRequest:
        return attrs.evolve(super().core_request(*args), client_address=None)


RunWith = Callable[..., ContractRun]


@pytest.fixture
def run_with() -> Iterator[RunWith]:
    """Runs of the contract's flows through a given adapter, in a given mode."""
    with ExitStack() as stack:

        def make(
            adapter: type[ReferenceAdapter], mode: str, prefix: str = "/onboarding"
        ) -> ContractRun:
            web = stack.enter_context(contract_web(mode, prefix))
            return ContractRun(web, adapter(web, prefix), mount_prefix=prefix, client_address=PEER)

        yield make


@pytest.mark.parametrize("mode", ["cookie", "host"])
def test_a_dropped_cookie_is_caught(run_with: RunWith, mode: str) -> None:
    run = run_with(DropsACookie, mode)
    with pytest.raises(AssertionError, match="lacks the core's Set-Cookie lines"):
        run.static_files_and_head()  # ?lang= sets the language cookie with the CSRF cookie


def test_ignoring_signed_out_is_caught(run_with: RunWith) -> None:
    run = run_with(IgnoresSignedOut, "host")
    with pytest.raises(AssertionError, match="should be None"):
        run.ended_sessions()


def test_ignoring_signed_in_is_caught(run_with: RunWith) -> None:
    run = run_with(IgnoresSignedIn, "host")
    with pytest.raises(AssertionError, match="the host session None"):
        run.registration_through_pages()


def test_a_lost_mount_prefix_is_caught(run_with: RunWith) -> None:
    run = run_with(LosesTheMount, "cookie")
    with pytest.raises(AssertionError, match="root_path '', not the mount '/onboarding'"):
        run.static_files_and_head()


def test_a_header_of_the_plugins_own_is_caught(run_with: RunWith) -> None:
    run = run_with(AddsAHeader, "cookie")
    with pytest.raises(AssertionError, match="x-powered-by"):
        run.static_files_and_head()


def test_a_head_asked_as_get_is_caught(run_with: RunWith) -> None:
    run = run_with(TurnsHeadIntoGet, "cookie")
    with pytest.raises(AssertionError, match="the core got method GET"):
        run.static_files_and_head()


def test_a_missing_client_address_is_caught(run_with: RunWith) -> None:
    run = run_with(ForgetsTheClient, "cookie")
    with pytest.raises(AssertionError, match="client address None"):
        run.refusals()


def test_a_route_no_flow_reaches_is_named(run_with: RunWith) -> None:
    run = run_with(ReferenceAdapter, "cookie")
    run.static_files_and_head()
    assert "api_login" in run.missing_routes()
    assert "static" not in run.missing_routes()
