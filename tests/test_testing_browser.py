"""The public test browser and outbox readers of onboardkit.testing, on the real web layer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import parse_qsl

import pytest

from onboardkit.storage import OutboxMail
from onboardkit.testing import (
    Browser,
    CoreTransport,
    RecordingWeb,
    contract_web,
    follow_mail,
    mail_link,
    newest_mail,
    outbox_mails,
    sign_in,
)
from onboardkit.testing.plugin_contract import PASSWORD, REVIEWER
from onboardkit.web import WebResponse

ANNA = "anna@example.com"


@pytest.fixture
def web() -> Iterator[RecordingWeb]:
    with contract_web("cookie", "/onboarding") as made:
        yield made


@pytest.fixture
def browser(web: RecordingWeb) -> Browser:
    return Browser.for_web(web, root_path="/onboarding")


def _registration(email: str = ANNA) -> dict[str, object]:
    return {
        "email": email,
        "password": PASSWORD,
        "fields.customer_number": "123456",
        "consents.privacy": "on",
    }


def _registered(browser: Browser, email: str = ANNA) -> WebResponse:
    browser.get(browser.url("/pim/register"))
    return browser.post(browser.url("/pim/register"), _registration(email))


def _reviewer(web: RecordingWeb) -> None:
    web.onboarding.create_account("pim", REVIEWER, PASSWORD, roles=[], created_by="test")


class Noting:
    """A transport that notes each request before handing it on."""

    def __init__(self, inner: CoreTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str, dict[str, str], bytes]] = []

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        self.sent.append((method, url, dict(headers), body))
        return self.inner(method, url, headers, body)


# -- the browser --------------------------------------------------------------------------------


def test_a_path_below_the_mount_is_requested_with_the_mount(browser: Browser) -> None:
    assert browser.url("/pim/login") == "/onboarding/pim/login"
    assert browser.url("/pim/login", next="/x") == "/onboarding/pim/login?next=%2Fx"


def test_the_browser_keeps_the_cookies_answers_set(browser: Browser) -> None:
    browser.get(browser.url("/pim/login"))
    assert set(browser.cookies) == {"onboardkit_csrf"}
    assert _registered(browser).status == 303  # the CSRF cookie and token went back


def test_a_cookie_set_with_max_age_zero_is_removed(web: RecordingWeb, browser: Browser) -> None:
    _reviewer(web)
    browser.follow(sign_in(browser, "pim", REVIEWER, PASSWORD))  # a page with a fresh token
    assert "onboardkit_session" in browser.cookies
    browser.post(browser.url("/pim/logout"))
    assert "onboardkit_session" not in browser.cookies


def test_a_form_list_is_sent_as_repeated_fields(web: RecordingWeb) -> None:
    noting = Noting(CoreTransport(web))
    browser = Browser(noting)
    browser.get("/pim/login")
    browser.post("/pim/review/invite", {"email": "x@example.com", "roles": ["viewer", "editor"]})
    method, url, headers, body = noting.sent[-1]
    assert (method, url) == ("POST", "http://testserver/pim/review/invite")
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    fields = parse_qsl(body.decode())
    assert [value for name, value in fields if name == "roles"] == ["viewer", "editor"]
    assert ("csrf_token", browser.csrf_token) in fields


def test_a_json_post_says_so(web: RecordingWeb) -> None:
    noting = Noting(CoreTransport(web))
    answer = Browser(noting).post_json("/pim/api/password-check", {"password": "x"})
    assert answer.status == 200
    _, _, headers, body = noting.sent[-1]
    assert headers["content-type"] == "application/json"
    assert body == b'{"password": "x"}'


def test_without_a_page_there_is_no_csrf_token(browser: Browser) -> None:
    with pytest.raises(AssertionError, match="no page with a form"):
        _ = browser.csrf_token


def test_a_redirect_is_followed_to_its_location(browser: Browser) -> None:
    sent = _registered(browser)
    page = browser.follow(sent)
    assert page.status == 200
    assert browser.follow_all(browser.get(browser.url("/pim"))).status == 200
    with pytest.raises(AssertionError, match="not a redirect"):
        browser.follow(page)


def test_an_https_browser_gets_secure_cookies(web: RecordingWeb) -> None:
    secure = Browser.for_web(web, secure=True)
    page = secure.get("/pim/login")
    assert all("Secure" in line for line in page.header_values("set-cookie"))


def test_the_core_transport_keeps_the_host_session() -> None:
    with contract_web("host") as web:
        _reviewer(web)
        browser = Browser.for_web(web)
        transport = browser.transport
        assert isinstance(transport, CoreTransport)
        assert sign_in(browser, "pim", REVIEWER, PASSWORD).status == 303
        assert transport.session is not None
        assert "onboardkit_session" not in browser.cookies
        assert browser.get("/pim/review").status == 200  # a page with a fresh token
        browser.post("/pim/logout")
        assert transport.session is None
        assert browser.get("/pim/review").status == 303


# -- mail -----------------------------------------------------------------------------------------


def test_the_newest_mail_of_a_kind_to_an_address_is_found(
    web: RecordingWeb, browser: Browser
) -> None:
    _registered(browser)
    _registered(browser, "ben@example.com")
    store = web.onboarding.store
    mail = newest_mail(store, ANNA, "confirmation")
    assert (mail.recipient, mail.kind) == (ANNA, "confirmation")
    assert len(outbox_mails(store)) == 2
    assert outbox_mails(store, ANNA, "invitation") == []
    with pytest.raises(AssertionError, match=r"no invitation to anna@example\.com"):
        newest_mail(store, ANNA, "invitation")


def test_a_mail_link_is_read_with_its_token(web: RecordingWeb, browser: Browser) -> None:
    _registered(browser)
    link = mail_link(newest_mail(web.onboarding.store, ANNA, "confirmation"))
    assert link.url.startswith("http://localhost/onboarding/pim/confirm?token=")
    assert link.path == f"/onboarding/pim/confirm?token={link.url.split('token=')[1]}"
    assert link.token
    assert "%" not in link.token


def test_a_full_stop_after_a_link_is_not_part_of_its_token() -> None:
    mail = OutboxMail(
        id="m",
        tenant="pim",
        kind="confirmation",
        recipient=ANNA,
        subject="Confirm",
        text="Open https://pim.example.com/confirm?token=abc%2Ddef.\nThanks",
        html=None,
        created_at=0,
        next_attempt_at=0,
    )
    assert mail_link(mail).token == "abc-def"


def test_following_the_mail_opens_the_link_and_presses_its_button(
    web: RecordingWeb, browser: Browser
) -> None:
    _registered(browser)
    confirmed = follow_mail(browser, web.onboarding.store, ANNA, "confirmation")
    assert confirmed.status == 303
    assert confirmed.header("location") == "/onboarding/pim/pending"
