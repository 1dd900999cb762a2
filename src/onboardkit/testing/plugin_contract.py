"""The contract every framework plugin runs: it answers exactly as the core does, for every route.

A plugin's test module subclasses :class:`PluginContract` and provides one fixture,
``plugin_client``, that serves the contract's web layer through the framework and returns a
:class:`~onboardkit.testing.Transport` reaching it (for Starlette's ``TestClient``,
:class:`~onboardkit.testing.HttpxTransport`)::

    class TestFastAPIPlugin(PluginContract):
        client_address = "testclient"  # what the framework's test client reports

        @pytest.fixture
        def plugin_client(self, contract_web, mount_prefix):
            app = FastAPI()
            app.include_router(onboarding_router(contract_web), prefix=mount_prefix)
            with TestClient(app) as client:
                yield HttpxTransport(client)

The contract builds the web layer itself (:func:`contract_web`): a :class:`RecordingWeb` over a
fresh in-memory store, the cheap test hasher and a frozen clock, in the session mode under
test, with its own tenants whose base URLs are where the plugin is mounted. It then walks every
flow through the plugin -- registration, confirmation, review, sign-in, the account page,
consents, invitations, sign-up, the JSON API, the static files, refusals -- and checks, for
every request:

* the plugin built the core request faithfully: method, path below the mount, query, body
  (or ``body_too_large``), every header sent, the client address, ``secure`` and the mount
  prefix as ``root_path``;
* the HTTP answer is the core's answer: the status; every core header with its value; the
  ``Set-Cookie`` lines equal as a set (in host mode the host's own session cookie may come on
  top); no other header but harmless ones (:attr:`PluginContract.extra_headers`); the body byte
  for byte, and none for ``HEAD``;
* in host session mode, the plugin acts on ``WebResponse.session``: after a
  :class:`~onboardkit.web.SignedIn` the next request it builds carries that session, after a
  :class:`~onboardkit.web.SignedOut` none, and ``onboardkit_session`` never appears.

It runs in both session modes and at the root and below a prefix, and fails naming any route of
``web.routes`` that no flow reached. A request that matches no route at all may be answered by
the framework itself (the host owns its URL space), with the core's status (and ``Allow``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import pytest

from onboardkit.onboarding import Onboarding
from onboardkit.tenants import Tenants
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.browser import Browser, Transport, follow_mail, sign_in
from onboardkit.testing.outbox import mail_token
from onboardkit.testing.passwords import CheapTestHasher
from onboardkit.testing.store import memory_store
from onboardkit.web import (
    MAX_BODY_BYTES,
    HostSession,
    OnboardingWeb,
    SignedIn,
    SignedOut,
    WebRequest,
    WebResponse,
)
from onboardkit.web.routes import match

__all__ = [
    "ContractRun",
    "PluginContract",
    "RecordingWeb",
    "contract_tenants",
    "contract_web",
]

#: The host every contract request is addressed to.
HOST: Final = "localhost"
#: The password of every account the contract makes (a test password, never a real one).
PASSWORD: Final = "Tundra-Violet-Harbor-93"  # noqa: S105
REVIEWER: Final = "review@pim.example.com"
_SECRET: Final = b"onboardkit plugin contract: service secret"
_WEB_SECRET: Final = b"onboardkit plugin contract: web secret, 32+"
_SESSION_COOKIE: Final = "onboardkit_session"
#: Headers a framework may add to an answer: they describe the transfer, not the answer.
HARMLESS_HEADERS: Final = frozenset({"content-length", "date", "server"})


def _document(title: str, *, required: bool) -> dict[str, Any]:
    return {
        "required": required,
        "versions": [
            {
                "version": "2024-05",
                "locales": {
                    "en": {"title": title, "text": f"The {title} text."},
                    "de": {"title": f"{title} (de)", "text": f"Der Text: {title}."},
                },
            }
        ],
    }


def contract_tenants(base_url: str) -> Tenants:
    """The contract's tenants, their pages under ``base_url`` (``http://localhost/onboarding``):
    ``pim`` (registration with review, invitations, custom fields, two consents) and ``shop``
    (email-first sign-up of customers who invite colleagues)."""
    return Tenants.from_mapping(
        {
            "tenants": {
                "pim": {
                    "name": "PIM Portal",
                    "base_url": f"{base_url}/pim",
                    "sender": "no-reply@pim.example.com",
                    "flows": ["registration", "invitation"],
                    "roles": ["viewer", "editor"],
                    "review": {"required": True, "reviewers": [REVIEWER]},
                    "fields": {
                        "customer_number": {
                            "type": "text",
                            "label": "Customer number",
                            "required": True,
                            "pattern": "[0-9]{6}",
                        }
                    },
                    "consent": {
                        "purposes": {
                            "privacy": _document("Privacy policy", required=True),
                            "newsletter": _document("Newsletter", required=False),
                        }
                    },
                },
                "shop": {
                    "name": "Shop",
                    "base_url": f"{base_url}/shop",
                    "sender": "no-reply@shop.example.com",
                    "flows": ["signup"],
                    "roles": ["buyer"],
                    "user_types": {
                        "customer_admin": {"permissions": ["customer_account_admin", "buy"]},
                        "customer_user": {"permissions": ["buy"]},
                    },
                    "default_user_type": "customer_admin",
                    "colleague_user_type": "customer_user",
                    "consent": {
                        "purposes": {"privacy": _document("Privacy policy", required=True)}
                    },
                },
            }
        }
    )


class RecordingWeb(OnboardingWeb):
    """An :class:`~onboardkit.web.OnboardingWeb` that keeps every request it handled and its
    answer, so a test can compare them with what went over HTTP."""

    def __init__(self, onboarding: Onboarding, **options: Any) -> None:
        super().__init__(onboarding, **options)
        self._lock = threading.Lock()
        self._handled: list[tuple[WebRequest, WebResponse]] = []

    def handle(self, request: WebRequest) -> WebResponse:
        response = super().handle(request)
        with self._lock:
            self._handled.append((request, response))
        return response

    def take(self) -> list[tuple[WebRequest, WebResponse]]:
        """The requests handled since the last call, with their answers, oldest first."""
        with self._lock:
            handled, self._handled = self._handled, []
        return handled


@contextmanager
def contract_web(session_mode: str = "cookie", mount_prefix: str = "") -> Iterator[RecordingWeb]:
    """The contract's web layer: a :class:`RecordingWeb` in ``session_mode`` over a fresh
    in-memory store, the cheap test hasher and a frozen clock; its tenants' pages live at
    ``http://localhost<mount_prefix>``. The tenant list and the outbox page are on."""
    store = memory_store()
    onboarding = Onboarding(
        contract_tenants(f"http://{HOST}{mount_prefix}"),
        store,
        secret=_SECRET,
        plugins=make_plugins(),
        hasher=CheapTestHasher(),
        clock=FrozenClock(),
    )
    try:
        yield RecordingWeb(
            onboarding,
            secret=_WEB_SECRET,
            sessions=session_mode,
            show_outbox=True,
            list_tenants=True,
        )
    finally:
        onboarding.close()
        store.dispose()


def _methods(allow: str | None) -> set[str]:
    return {method.strip().upper() for method in (allow or "").split(",") if method.strip()}


def _lines(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in headers]


class _CheckedTransport:
    """A browser's way through the plugin: every request is checked against the core's record.

    One per browser, because the host session it expects is that browser's.
    """

    def __init__(self, run: ContractRun) -> None:
        self.run = run
        #: In host mode: the session the plugin must hand over with the next request.
        self.expected: HostSession | None = None

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        run = self.run
        run.clock.advance(1)  # mails and records sort by time: each request a second later
        run.web.take()
        answer = run.client(method, url, headers, body)
        handled = run.web.take()
        where = f"{method} {url}"
        if not handled:
            assert run.unrouted_allowed, f"{where}: the plugin did not hand the request to the core"
            run.check_framework_refusal(where, method, url, headers, answer)
            return answer
        assert len(handled) == 1, f"{where}: the plugin called the core {len(handled)} times"
        request, response = handled[0]
        run.check_request(where, request, method, url, headers, body)
        run.check_answer(where, method, response, answer)
        if run.web.session_mode == "host":
            assert request.session == self.expected, (
                f"{where}: the plugin handed the core the host session {request.session!r}, "
                f"but after the answers so far it should be {self.expected!r} (a SignedIn "
                "logs the person in, a SignedOut logs them out)"
            )
            if isinstance(response.session, SignedIn):
                self.expected = response.session.session
            elif isinstance(response.session, SignedOut):
                self.expected = None
        route, _, _ = match(run.web.routes, request.method, request.path)
        if route is not None:
            run.exercised.add(route.name)
        return answer


class ContractRun:
    """The contract's flows through one plugin client, with the checks of every request.

    :param web: The contract's web layer (see :func:`contract_web`), as the plugin serves it.
    :param client: Reaches the plugin: ``client(method, url, headers, body) -> WebResponse``.
    :param mount_prefix: Where the plugin mounted the pages (``""`` or ``/onboarding``).
    :param client_address: The client address the framework reports for its test client
        (``None``: the plugin cannot know it).
    :param extra_headers: Header names the framework may add to an answer.
    """

    def __init__(
        self,
        web: RecordingWeb,
        client: Transport,
        *,
        mount_prefix: str = "",
        client_address: str | None = "testclient",
        extra_headers: frozenset[str] = HARMLESS_HEADERS,
    ) -> None:
        self.web = web
        self.client = client
        self.prefix = mount_prefix
        self.client_address = client_address
        self.extra_headers = extra_headers
        self.onboarding = web.onboarding
        clock = web.onboarding.clock
        assert isinstance(clock, FrozenClock), "build the web with contract_web()"
        self.clock = clock
        #: The names of the routes a request reached.
        self.exercised: set[str] = set()
        self.unrouted_allowed = False

    # -- browsers and paths -------------------------------------------------------------------

    def browser(self, headers: Mapping[str, str] | None = None, *, secure: bool = False) -> Browser:
        """A new browser through the plugin, with no cookies and no session (over https when
        ``secure``)."""
        scheme = "https" if secure else "http"
        return Browser(
            _CheckedTransport(self),
            base_url=f"{scheme}://{HOST}",
            root=self.prefix,
            headers=headers,
        )

    def url(self, path: str) -> str:
        return self.prefix + path

    def ensure_reviewer(self) -> None:
        """pim's reviewer has an account (made by an operator, as a tenant's first reviewer is)."""
        if self.onboarding.store.atomic(lambda tx: tx.account_by_email("pim", REVIEWER)) is None:
            self.onboarding.create_account(
                "pim", REVIEWER, PASSWORD, roles=[], created_by="contract"
            )

    def reviewer(self) -> Browser:
        """A browser signed in as pim's reviewer through the pages."""
        self.ensure_reviewer()
        browser = self.browser()
        self.expect(sign_in(browser, "pim", REVIEWER, PASSWORD), 303)
        return browser

    def account_id(self, tenant: str, email: str) -> str:
        found = self.onboarding.store.atomic(lambda tx: tx.account_by_email(tenant, email))
        assert found is not None, f"no account of {email} in {tenant}"
        return found.id

    @staticmethod
    def expect(answer: WebResponse, status: int) -> WebResponse:
        """``answer``, when its status is ``status`` (the flow went as the core means it to)."""
        assert answer.status == status, f"expected {status}, got {answer.status}: {answer.body!r}"
        return answer

    # -- the checks -------------------------------------------------------------------------

    def check_request(
        self,
        where: str,
        request: WebRequest,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
    ) -> None:
        """The core request is the HTTP request, translated and nothing else."""
        parts = urlsplit(url)
        assert request.method == method, f"{where}: the core got method {request.method}"
        assert parts.path.startswith(self.prefix)
        path = parts.path[len(self.prefix) :]
        assert request.path == path, f"{where}: the core got path {request.path!r}, not {path!r}"
        query = tuple(parse_qsl(parts.query, keep_blank_values=True))
        assert request.query == query, f"{where}: the core got query {request.query!r}"
        assert request.root_path == self.prefix, (
            f"{where}: the core got root_path {request.root_path!r}, not the mount {self.prefix!r}"
        )
        secure = parts.scheme == "https"
        assert request.secure is secure, f"{where}: the core got secure={request.secure}"
        assert request.client_address == self.client_address, (
            f"{where}: the core got client address {request.client_address!r}, "
            f"not {self.client_address!r}"
        )
        for name, value in _lines(headers):
            assert request.headers.get(name) == value, (
                f"{where}: the header {name}: {value!r} reached the core as "
                f"{request.headers.get(name)!r}"
            )
        if len(body) > MAX_BODY_BYTES:
            assert request.body_too_large or len(request.body) > MAX_BODY_BYTES, (
                f"{where}: a body over the limit was neither flagged nor passed whole"
            )
        else:
            assert request.body == body, f"{where}: the core got another body"
            assert not request.body_too_large, f"{where}: a body within the limit was flagged"

    def check_answer(self, where: str, method: str, core: WebResponse, answer: WebResponse) -> None:
        """The HTTP answer is the core's answer: status, headers, cookies, body."""
        assert answer.status == core.status, (
            f"{where}: answered {answer.status}, the core said {core.status}"
        )
        host_mode = self.web.session_mode == "host"
        core_cookies = set(core.header_values("set-cookie"))
        cookies = set(answer.header_values("set-cookie"))
        missing = core_cookies - cookies
        assert not missing, f"{where}: the answer lacks the core's Set-Cookie lines {missing}"
        extra = cookies - core_cookies
        assert not (extra and not host_mode), f"{where}: Set-Cookie lines not the core's: {extra}"
        for line in extra:
            assert not line.startswith("onboardkit_"), (
                f"{where}: an onboardkit cookie not the core's: {line}"
            )
        if host_mode:
            sessions = [line for line in cookies if line.startswith(f"{_SESSION_COOKIE}=")]
            assert not sessions, f"{where}: {_SESSION_COOKIE} in host session mode: {sessions}"
        core_lines = Counter(line for line in _lines(core.headers) if line[0] != "set-cookie")
        lines = Counter(line for line in _lines(answer.headers) if line[0] != "set-cookie")
        lacking = core_lines - lines
        assert not lacking, f"{where}: the answer lacks the core's headers {sorted(lacking)}"
        added = sorted((lines - core_lines).elements())
        foreign = [line for line in added if line[0] not in self.extra_headers]
        assert not foreign, f"{where}: headers that are not the core's: {foreign}"
        if method == "HEAD":
            assert answer.body == b"", f"{where}: a HEAD answer with a body"
            return
        assert answer.body == core.body, f"{where}: the body is not the core's"
        lengths = answer.header_values("content-length")
        assert lengths in ([], [str(len(answer.body))]), f"{where}: Content-Length {lengths}"

    def check_framework_refusal(
        self,
        where: str,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        answer: WebResponse,
    ) -> None:
        """A request the framework answered itself gets the core's status and ``Allow``."""
        parts = urlsplit(url)
        core = self.web.handle(
            WebRequest(
                method,
                parts.path[len(self.prefix) :],
                query=parts.query,
                headers=headers,
                root_path=self.prefix,
            )
        )
        self.web.take()
        assert answer.status == core.status, (
            f"{where}: the framework answered {answer.status}, the core would say {core.status}"
        )
        if core.status == 405:
            allowed = _methods(answer.header("allow"))
            assert allowed == _methods(core.header("allow")), (
                f"{where}: Allow {answer.header('allow')!r}, the core says {core.header('allow')!r}"
            )

    @contextmanager
    def unrouted(self) -> Iterator[None]:
        """Requests matching no route: the framework may answer them itself."""
        self.unrouted_allowed = True
        try:
            yield
        finally:
            self.unrouted_allowed = False

    # -- the flows ------------------------------------------------------------------------------

    def registration_through_pages(self) -> None:
        """Register, confirm by mail, be approved (and another rejected), sign in, consent,
        sign out -- on the pages, with the demo pages on the way."""
        anna, ben = "anna@example.com", "ben@example.com"
        person = self.browser({"accept-language": "en"})
        self.expect(person.get(self.url("/")), 200)
        self.expect(person.get(self.url("/pim")), 303)
        for email in (anna, ben):
            self.expect(person.get(self.url("/pim/register")), 200)
            sent = person.post(self.url("/pim/register"), self.registration_form(email))
            self.expect(person.follow(self.expect(sent, 303)), 200)
        self.expect(person.get(self.url("/mail")), 200)
        self.expect(person.get(self.url("/pim/resend"), query={"email": anna}), 200)
        self.expect(person.post(self.url("/pim/resend"), {"email": anna}), 303)
        for email in (anna, ben):
            confirmed = follow_mail(person, self.onboarding.store, email, "confirmation")
            self.expect(person.follow(self.expect(confirmed, 303)), 200)  # the pending page
        reviewer = self.browser()
        self.expect(reviewer.get(self.url("/pim/review")), 303)  # to sign in first
        reviewer = self.reviewer()
        self.expect(reviewer.get(self.url("/pim/review")), 200)
        anna_id, ben_id = self.account_id("pim", anna), self.account_id("pim", ben)
        self.expect(reviewer.get(self.url(f"/pim/review/{anna_id}")), 200)
        approved = reviewer.post(
            self.url(f"/pim/review/{anna_id}/approve"), {"roles": ["viewer", "editor"]}
        )
        self.expect(reviewer.follow(self.expect(approved, 303)), 200)
        self.expect(reviewer.get(self.url(f"/pim/review/{ben_id}")), 200)
        rejected = reviewer.post(self.url(f"/pim/review/{ben_id}/reject"), {"reason": "Unknown"})
        self.expect(rejected, 303)
        self.expect(sign_in(self.browser(), "pim", ben, PASSWORD), 403)
        self.expect(person.get(self.url("/pim/rejected")), 200)
        self.expect(person.get(self.url("/pim/pending")), 200)
        signed_in = sign_in(person, "pim", anna, PASSWORD)
        self.expect(person.follow(self.expect(signed_in, 303)), 200)  # the account page
        given = person.post(
            self.url("/pim/account/consents"),
            {"consents.privacy": "on", "consents.newsletter": "on"},
        )
        self.expect(given, 303)
        withdrawn = person.post(self.url("/pim/account/consents/newsletter/withdraw"))
        self.expect(person.follow(self.expect(withdrawn, 303)), 200)
        self.expect(person.get(self.url("/pim/documents/privacy")), 200)
        signed_out = person.post(self.url("/pim/logout"))
        self.expect(person.follow(self.expect(signed_out, 303)), 200)  # the sign-in page
        self.expect(person.get(self.url("/pim/account")), 303)

    def invitation_through_pages(self) -> None:
        """A reviewer invites; the invitee accepts through the mailed link and signs in."""
        dora = "dora@example.com"
        reviewer = self.reviewer()
        self.expect(reviewer.get(self.url("/pim/review")), 200)
        invited = reviewer.post(self.url("/pim/review/invite"), {"email": dora, "roles": "viewer"})
        self.expect(invited, 303)
        invitee = self.browser()
        accepted = follow_mail(
            invitee,
            self.onboarding.store,
            dora,
            "invitation",
            {"password": PASSWORD, "given_name": "Dora", "consents.privacy": "on"},
        )
        self.expect(invitee.follow(self.expect(accepted, 303)), 200)
        self.expect(sign_in(invitee, "pim", dora, PASSWORD), 303)

    def signup_through_pages(self) -> None:
        """Email-first sign-up of a customer, who then invites a colleague who accepts."""
        eva, fred = "eva@example.com", "fred@example.com"
        person = self.browser()
        self.expect(person.get(self.url("/shop/start")), 200)
        self.expect(person.post(self.url("/shop/start"), {"email": eva}), 303)
        done = follow_mail(person, self.onboarding.store, eva, "activation", self.signup_form())
        self.expect(done, 303)
        signed_in = sign_in(person, "shop", eva, PASSWORD)
        self.expect(person.follow(self.expect(signed_in, 303)), 200)
        invited = person.post(self.url("/shop/account/invite"), {"email": fred, "roles": "buyer"})
        self.expect(invited, 303)
        colleague = self.browser()
        accepted = follow_mail(
            colleague,
            self.onboarding.store,
            fred,
            "invitation",
            {"password": PASSWORD, "consents.privacy": "on"},
        )
        self.expect(accepted, 303)

    def flows_through_the_api(self) -> None:
        """Every flow again through the JSON API."""
        anna, ben, dora, eva, fred = (
            f"{name}@api.example.com" for name in ("anna", "ben", "dora", "eva", "fred")
        )
        store = self.onboarding.store
        api = self.browser()
        self.expect(api.get(self.url("/pim/api/form")), 200)
        self.expect(api.post_json(self.url("/pim/api/password-check"), {"password": "x"}), 200)
        for email in (anna, ben):
            self.expect(api.post_json(self.url("/pim/api/register"), self.registration(email)), 202)
        self.expect(api.post_json(self.url("/pim/api/resend"), {"email": anna}), 202)
        for email in (anna, ben):
            token = mail_token(store, email, "confirmation")
            self.expect(api.get(self.url("/pim/api/confirm"), query={"token": token}), 200)
            self.expect(api.post_json(self.url("/pim/api/confirm"), {"token": token}), 200)
        reviewer = self.browser()
        self.expect(reviewer.get(self.url("/pim/api/reviews")), 401)
        self.expect(self.sign_in_api(reviewer, "pim", REVIEWER), 200)
        self.expect(reviewer.get(self.url("/pim/api/me")), 200)
        self.expect(reviewer.get(self.url("/pim/api/reviews")), 200)
        anna_id, ben_id = self.account_id("pim", anna), self.account_id("pim", ben)
        self.expect(reviewer.get(self.url(f"/pim/api/reviews/{anna_id}")), 200)
        approve = self.url(f"/pim/api/reviews/{anna_id}/approve")
        self.expect(reviewer.post_json(approve, {"roles": ["viewer"]}), 200)
        reject = self.url(f"/pim/api/reviews/{ben_id}/reject")
        self.expect(reviewer.post_json(reject, {"reason": "Unknown"}), 200)
        invite = {"email": dora, "roles": ["viewer"]}
        self.expect(reviewer.post_json(self.url("/pim/api/invitations"), invite), 202)
        token = mail_token(store, dora, "invitation")
        self.expect(api.get(self.url("/pim/api/invitation"), query={"token": token}), 200)
        accept = {"token": token, "password": PASSWORD, "consents": {"privacy": True}}
        self.expect(api.post_json(self.url("/pim/api/invitation"), accept), 200)
        person = self.browser()
        self.expect(self.sign_in_api(person, "pim", anna), 200)
        self.expect(person.get(self.url("/pim/api/me/consents")), 200)
        consents = {"consents": {"privacy": True, "newsletter": True}}
        self.expect(person.post_json(self.url("/pim/api/me/consents"), consents), 200)
        withdraw = self.url("/pim/api/me/consents/newsletter/withdraw")
        self.expect(person.post_json(withdraw), 200)
        self.expect(person.post_json(self.url("/pim/api/logout")), 204)
        self.expect(person.get(self.url("/pim/api/me")), 401)
        customer = self.browser()
        self.expect(customer.post_json(self.url("/shop/api/signup/start"), {"email": eva}), 202)
        token = mail_token(store, eva, "activation")
        self.expect(customer.get(self.url("/shop/api/signup"), query={"token": token}), 200)
        signup = {"token": token, **self.signup()}
        self.expect(customer.post_json(self.url("/shop/api/signup"), signup), 200)
        self.expect(self.sign_in_api(customer, "shop", eva), 200)
        colleague = {"email": fred, "roles": ["buyer"]}
        self.expect(customer.post_json(self.url("/shop/api/colleagues"), colleague), 202)

    def static_files_and_head(self) -> None:
        """The style sheet, script, theme and a document; HEAD like GET without a body; https."""
        browser = self.browser()
        for name in ("onboardkit.css", "onboardkit.js"):
            self.expect(browser.get(self.url(f"/static/{name}")), 200)
        self.expect(browser.get(self.url("/pim/theme.css")), 200)
        self.expect(browser.get(self.url("/pim/documents/newsletter")), 200)
        self.expect(browser.get(self.url("/api/openapi.json")), 200)
        self.expect(browser.head(self.url("/pim/login")), 200)
        self.expect(browser.head(self.url("/static/onboardkit.css")), 200)
        self.expect(browser.head(self.url("/pim/api/form")), 200)
        page = self.expect(self.browser(secure=True).get(self.url("/pim/login")), 200)
        assert any("Secure" in line for line in page.header_values("set-cookie"))
        query = "next=%2Fpim%2Freview&lang=de&lang=en&empty="
        self.expect(self.browser().get(self.url(f"/pim/login?{query}")), 200)  # two cookies

    def refusals(self) -> None:
        """The core's refusals pass through unchanged: unknown tenant, account and file (404),
        a body too large (413), no CSRF token, a foreign origin (403), a wrong media type (415);
        unknown paths and methods get the core's status even from the framework."""
        browser = self.browser()
        self.expect(browser.get(self.url("/nowhere/login")), 404)
        self.expect(browser.get(self.url("/nowhere/api/form")), 404)
        self.expect(browser.get(self.url("/static/nothing.css")), 404)
        self.expect(browser.get(self.url("/pim/documents/nothing")), 404)
        reviewer = self.reviewer()
        self.expect(reviewer.get(self.url("/pim/api/reviews/0123456789abcdef")), 404)
        huge = b'{"email": "' + b"x" * MAX_BODY_BYTES + b'"}'
        big = browser.request(
            "POST",
            self.url("/pim/api/register"),
            body=huge,
            headers={"content-type": "application/json"},
        )
        self.expect(big, 413)
        self.expect(browser.get(self.url("/pim/login")), 200)
        self.expect(browser.post(self.url("/pim/login"), {"email": "x"}, csrf=False), 403)
        evil = {"origin": "https://evil.example"}
        login = {"email": REVIEWER, "password": PASSWORD}
        self.expect(browser.post_json(self.url("/pim/api/login"), login, headers=evil), 403)
        plain = {"content-type": "text/plain"}
        self.expect(
            browser.request("POST", self.url("/pim/api/login"), body=b"x", headers=plain), 415
        )
        with self.unrouted():
            self.expect(browser.get(self.url("/pim/no/such/page")), 404)
            self.expect(browser.get(self.url("/pim/api/login")), 405)
            self.expect(browser.request("DELETE", self.url("/static/onboardkit.css")), 405)
            # A path with two methods: the Allow list names both.
            self.expect(browser.request("PUT", self.url("/pim/login")), 405)

    def ended_sessions(self) -> None:
        """A session ends when the account is disabled: in host mode the core says so
        (SignedOut) and the plugin logs the person out; a new sign-in works again."""
        gina = "gina@example.com"
        account = self.onboarding.create_account("pim", gina, PASSWORD, roles=[], created_by="c")
        person = self.browser()
        self.expect(sign_in(person, "pim", gina, PASSWORD), 303)
        self.expect(person.get(self.url("/pim/account")), 200)
        self.expect(person.get(self.url("/pim/api/me")), 200)
        self.onboarding.disable("pim", account.id)
        self.expect(person.get(self.url("/pim/account")), 303)
        self.expect(person.get(self.url("/pim/api/me")), 401)
        self.onboarding.enable("pim", account.id)
        self.expect(sign_in(person, "pim", gina, PASSWORD), 303)
        self.expect(person.get(self.url("/pim/account")), 200)
        self.expect(person.post(self.url("/pim/logout")), 303)
        self.expect(person.get(self.url("/pim/api/me")), 401)

    def every_flow(self) -> None:
        """All the flows above, one after the other."""
        self.registration_through_pages()
        self.invitation_through_pages()
        self.signup_through_pages()
        self.flows_through_the_api()
        self.static_files_and_head()
        self.refusals()
        self.ended_sessions()

    def missing_routes(self) -> list[str]:
        """The routes of the web layer no request reached, in route order."""
        return [route.name for route in self.web.routes if route.name not in self.exercised]

    # -- forms ------------------------------------------------------------------------------

    def sign_in_api(self, browser: Browser, tenant: str, email: str) -> WebResponse:
        if email == REVIEWER:
            self.ensure_reviewer()
        login = {"email": email, "password": PASSWORD}
        return browser.post_json(self.url(f"/{tenant}/api/login"), login)

    @staticmethod
    def registration_form(email: str) -> dict[str, object]:
        return {
            "email": email,
            "password": PASSWORD,
            "given_name": "Anna",
            "family_name": "Berg",
            "fields.customer_number": "123456",
            "consents.privacy": "on",
        }

    @staticmethod
    def registration(email: str) -> dict[str, object]:
        return {
            "email": email,
            "password": PASSWORD,
            "given_name": "Anna",
            "fields": {"customer_number": "123456"},
            "consents": {"privacy": True},
        }

    @staticmethod
    def signup_form() -> dict[str, object]:
        return {
            "kind": "customer",
            "given_name": "Eva",
            "family_name": "Lind",
            "company.name": "Lind Logistics",
            "password": PASSWORD,
            "consents.privacy": "on",
        }

    @staticmethod
    def signup() -> dict[str, object]:
        return {
            "kind": "customer",
            "given_name": "Eva",
            "family_name": "Lind",
            "company": {"name": "Lind Logistics"},
            "password": PASSWORD,
            "consents": {"privacy": True},
        }


class PluginContract:
    """The tests a framework plugin passes; subclass as ``Test...`` and provide the
    ``plugin_client`` fixture (see the module documentation).

    Each test runs in every session mode of :attr:`session_modes` and at every mount prefix of
    :attr:`mount_prefixes`.
    """

    #: The session modes the plugin supports: ``"cookie"`` and ``"host"``.
    session_modes: tuple[str, ...] = ("cookie", "host")
    #: Where the plugin is mounted: at the root and below a prefix.
    mount_prefixes: tuple[str, ...] = ("", "/onboarding")
    #: The client address the framework's test client reports (Starlette's: ``testclient``).
    client_address: str | None = "testclient"
    #: Header names the framework may add to an answer besides the core's.
    extra_headers: frozenset[str] = HARMLESS_HEADERS

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "session_mode" in metafunc.fixturenames:
            metafunc.parametrize("session_mode", self.session_modes)
        if "mount_prefix" in metafunc.fixturenames:
            metafunc.parametrize(
                "mount_prefix", self.mount_prefixes, ids=[p or "root" for p in self.mount_prefixes]
            )

    @pytest.fixture
    def contract_web(self, session_mode: str, mount_prefix: str) -> Iterator[RecordingWeb]:
        """The web layer the plugin serves, in the mode under test."""
        with contract_web(session_mode, mount_prefix) as web:
            yield web

    @pytest.fixture
    def plugin_client(self, contract_web: RecordingWeb, mount_prefix: str) -> Transport:
        """Override: serve ``contract_web`` through the framework at ``mount_prefix`` (with the
        host's session in host mode: ``contract_web.session_mode``) and return a transport."""
        raise NotImplementedError(
            "a PluginContract subclass provides the plugin_client fixture: serve contract_web "
            "through the framework at mount_prefix and return a Transport"
        )

    @pytest.fixture
    def contract(
        self, contract_web: RecordingWeb, plugin_client: Transport, mount_prefix: str
    ) -> ContractRun:
        return ContractRun(
            contract_web,
            plugin_client,
            mount_prefix=mount_prefix,
            client_address=self.client_address,
            extra_headers=self.extra_headers,
        )

    def test_registration_review_sign_in_and_consents_through_the_pages(
        self, contract: ContractRun
    ) -> None:
        contract.registration_through_pages()

    def test_invitation_through_the_pages(self, contract: ContractRun) -> None:
        contract.invitation_through_pages()

    def test_signup_and_colleague_invitation_through_the_pages(self, contract: ContractRun) -> None:
        contract.signup_through_pages()

    def test_every_flow_through_the_api(self, contract: ContractRun) -> None:
        contract.flows_through_the_api()

    def test_static_files_head_https_and_queries(self, contract: ContractRun) -> None:
        contract.static_files_and_head()

    def test_refusals_are_the_cores(self, contract: ContractRun) -> None:
        contract.refusals()

    def test_an_ended_session_signs_out(self, contract: ContractRun) -> None:
        contract.ended_sessions()

    def test_every_route_is_exercised(self, contract: ContractRun) -> None:
        contract.every_flow()
        missing = contract.missing_routes()
        assert not missing, f"routes no request reached: {', '.join(missing)}"
