"""Who is signed in: onboardkit's own session cookie, or the host application's session.

In host mode the core never sets a session cookie; it tells the plugin who signed in or out
(``WebResponse.session``) and reads the host's session from ``WebRequest.session``. A password
change ends every other session in both modes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onboarding_helpers import OTHER_STRONG, STRONG
from onboardkit import hookimpl
from onboardkit.accounts import Account, AccountEvent
from onboardkit.errors import ConfigurationError, ValidationError
from onboardkit.onboarding import AccountNotFound
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.web import HostSession, SignedIn, SignedOut, WebRequest
from onboardkit.web.sessions import COOKIE
from web_helpers import REVIEWER, REVIEWER_PASSWORD, Browser, Site, sign_in, site

ANNA = "anna@example.com"
MODES = ["cookie", "host"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def web(memory_store: SqlStore, mode: str) -> Iterator[Site]:
    with site(memory_store, FrozenClock(), sessions=mode) as made:
        yield made


@pytest.fixture
def host_web(memory_store: SqlStore) -> Iterator[Site]:
    with site(memory_store, FrozenClock(), sessions="host") as made:
        yield made


def _active(web: Site, email: str = ANNA, tenant: str = "pim") -> Account:
    return web.onboarding.create_account(tenant, email, STRONG, roles=[], created_by="test")


def _signed_in_browser(web: Site, email: str = ANNA, password: str = STRONG) -> Browser:
    browser = web.browser()
    answer = sign_in(browser, "pim", email, password)
    assert answer.status == 303, answer.text
    return browser


def _session_cookies(browser: Browser) -> list[str]:
    return [name for name in browser.cookies if name == COOKIE]


def _is_signed_in(browser: Browser) -> bool:
    return browser.get("/pim/account").status == 200


# -- what the plugin is told ----------------------------------------------------------------------


def test_a_login_tells_the_plugin_who_signed_in(web: Site) -> None:
    account = _active(web)
    browser = web.browser()
    browser.get("/pim/login")
    answer = browser.post("/pim/login", {"email": ANNA, "password": STRONG})
    assert answer.status == 303
    assert isinstance(answer.session, SignedIn)
    assert (answer.session.tenant, answer.session.account_id) == ("pim", account.id)
    assert answer.session.verifier == web.web.session_verifier(account)


def test_an_api_login_tells_the_plugin_who_signed_in(web: Site) -> None:
    account = _active(web)
    answer = web.browser().post_json("/pim/api/login", {"email": ANNA, "password": STRONG})
    assert answer.status == 200, answer.text
    assert isinstance(answer.session, SignedIn)
    assert answer.session.account_id == account.id


def test_a_logout_tells_the_plugin_who_signed_out(web: Site) -> None:
    account = _active(web)
    browser = _signed_in_browser(web)
    answer = browser.post("/pim/logout")
    assert answer.status == 303
    assert answer.session == SignedOut("pim", account.id)
    assert not _is_signed_in(browser)


def test_a_refused_login_changes_no_session(web: Site) -> None:
    _active(web)
    browser = web.browser()
    answer = sign_in(browser, "pim", ANNA, OTHER_STRONG)
    assert answer.status == 401
    assert answer.session is None


def test_a_plain_page_changes_no_session(web: Site) -> None:
    _active(web)
    browser = _signed_in_browser(web)
    assert browser.get("/pim/account").session is None


# -- cookie mode ----------------------------------------------------------------------------------


def test_cookie_mode_keeps_the_sign_in_in_onboardkits_cookie(memory_store: SqlStore) -> None:
    with site(memory_store) as web:
        _active(web)
        browser = _signed_in_browser(web)
        assert _session_cookies(browser) == [COOKIE]
        browser.session = None  # a cookie-mode plugin keeps no host session
        assert _is_signed_in(browser)


# -- host mode ------------------------------------------------------------------------------------


def test_host_mode_sets_no_session_cookie(host_web: Site) -> None:
    _active(host_web)
    browser = host_web.browser()
    browser.get("/pim/login")
    answer = browser.post("/pim/login", {"email": ANNA, "password": STRONG})
    assert not any(line.startswith(f"{COOKIE}=") for line in answer.header_values("set-cookie"))
    logout = browser.post("/pim/logout")
    assert not any(line.startswith(f"{COOKIE}=") for line in logout.header_values("set-cookie"))


def test_host_mode_reads_the_sign_in_from_the_host_session(host_web: Site) -> None:
    _active(host_web)
    browser = _signed_in_browser(host_web)
    assert browser.session is not None
    assert _is_signed_in(browser)
    kept = browser.session
    browser.session = None
    assert browser.get("/pim/account").status == 303  # to the login page
    browser.session = kept
    assert _is_signed_in(browser)


def test_host_mode_ignores_onboardkits_cookie(host_web: Site, memory_store: SqlStore) -> None:
    _active(host_web)
    with site(memory_store) as cookie_web:  # the same secret: a valid cookie for the account
        cookie = _signed_in_browser(cookie_web).cookies[COOKIE]
    browser = host_web.browser()
    browser.cookies[COOKIE] = cookie
    assert not _is_signed_in(browser)


@pytest.mark.parametrize(
    "verifier",
    ["", "0" * 64, "ä" * 64, "\ud800", "x" * 10_000],
    ids=["empty", "wrong", "non-ascii", "surrogate", "huge"],
)
def test_a_forged_host_session_is_signed_out_never_an_error(host_web: Site, verifier: str) -> None:
    account = _active(host_web)
    browser = host_web.browser()
    browser.session = HostSession("pim", account.id, verifier)
    answer = browser.get("/pim/account")
    assert answer.status == 303
    assert answer.session == SignedOut("pim", account.id)


def test_a_host_session_of_another_tenant_does_not_sign_in(host_web: Site) -> None:
    _active(host_web, tenant="dam")
    browser = host_web.browser()
    answer = sign_in(browser, "dam", ANNA)
    assert answer.status == 303
    assert browser.session is not None
    assert browser.session.tenant == "dam"
    assert browser.get("/pim/account").status == 303


def test_a_host_session_lets_a_reviewer_review(host_web: Site) -> None:
    host_web.reviewer()
    browser = host_web.browser()
    assert browser.get("/pim/review").status == 303  # to the login page
    sign_in(browser, "pim", REVIEWER, REVIEWER_PASSWORD)
    assert browser.get("/pim/review").status == 200


def test_session_account_checks_a_stored_host_session(host_web: Site) -> None:
    account = _active(host_web)
    signed_in = _signed_in_browser(host_web).session
    assert signed_in is not None
    assert host_web.web.session_account(signed_in) == account
    assert host_web.web.session_account(HostSession("pim", account.id, "0" * 64)) is None
    assert host_web.web.session_account(HostSession("nowhere", account.id, "0" * 64)) is None
    assert host_web.web.session_account(HostSession("pim", "no-such-id", "0" * 64)) is None


def test_a_disabled_account_ends_its_host_session(host_web: Site) -> None:
    account = _active(host_web)
    browser = _signed_in_browser(host_web)
    host_web.onboarding.disable("pim", account.id, actor="test")
    answer = browser.get("/pim/account")
    assert answer.status == 303
    assert answer.session == SignedOut("pim", account.id)
    assert browser.session is None


def test_sessions_must_be_cookie_or_host(memory_store: SqlStore) -> None:
    with pytest.raises(ConfigurationError) as raised, site(memory_store, sessions="both"):
        pass
    assert raised.value.params["key"] == "sessions"


# -- a new password ends the other sessions -------------------------------------------------------


def test_a_password_change_ends_every_other_session(web: Site) -> None:
    account = _active(web)
    elsewhere = _signed_in_browser(web)
    here = _signed_in_browser(web)
    changed = web.onboarding.change_password("pim", account.id, STRONG, OTHER_STRONG)
    assert not _is_signed_in(elsewhere)
    assert not _is_signed_in(here)
    # The session that changed it is signed in again with the new verifier.
    again = web.browser()
    if web.web.session_mode == "host":
        again.session = HostSession("pim", account.id, web.web.session_verifier(changed))
    else:
        sign_in(again, "pim", ANNA, OTHER_STRONG)
    assert _is_signed_in(again)


def test_a_new_verifier_differs_from_the_old_one(host_web: Site) -> None:
    account = _active(host_web)
    changed = host_web.onboarding.change_password("pim", account.id, STRONG, OTHER_STRONG)
    assert host_web.web.session_verifier(changed) != host_web.web.session_verifier(account)


# -- changing a password --------------------------------------------------------------------------


def test_change_password_needs_the_current_one(host_web: Site) -> None:
    account = _active(host_web)
    with pytest.raises(ValidationError) as raised:
        host_web.onboarding.change_password("pim", account.id, OTHER_STRONG, "Brand-New-Lantern-88")
    assert [(i.path, i.code) for i in raised.value.issues] == [
        ("current_password", "password.current_wrong")
    ]
    assert host_web.onboarding.authenticate("pim", ANNA, STRONG).id == account.id


def test_change_password_applies_the_tenants_policy(host_web: Site) -> None:
    account = _active(host_web)
    with pytest.raises(ValidationError) as raised:
        host_web.onboarding.change_password("pim", account.id, STRONG, "short")
    assert {issue.path for issue in raised.value.issues} == {"password"}
    message = raised.value.issues[0].localized("de")
    assert message != raised.value.issues[0].localized("en")


def test_change_password_replaces_the_password_and_tells_observers(memory_store: SqlStore) -> None:
    events: list[AccountEvent] = []

    class Audit:
        @hookimpl
        def onboardkit_account_changed(self, event: AccountEvent) -> None:
            events.append(event)

    with site(memory_store, plugins=make_plugins(Audit())) as web:
        account = _active(web)
        events.clear()
        web.onboarding.change_password("pim", account.id, STRONG, OTHER_STRONG)
        assert web.onboarding.authenticate("pim", ANNA, OTHER_STRONG).id == account.id
        assert [event.action for event in events] == ["password_changed"]


def test_change_password_of_an_unknown_account_is_not_found(host_web: Site) -> None:
    with pytest.raises(AccountNotFound):
        host_web.onboarding.change_password("pim", "0" * 32, STRONG, OTHER_STRONG)


# -- the host's language --------------------------------------------------------------------------


def test_the_hosts_language_wins_over_accept_language(host_web: Site) -> None:
    browser = host_web.browser(headers={"accept-language": "en"}, locale="de-DE")
    page = browser.get("/pim/login")
    assert host_web.says(page, "page.login.title", "de")


def test_the_persons_explicit_choice_wins_over_the_hosts_language(host_web: Site) -> None:
    browser = host_web.browser(locale="de")
    page = browser.get("/pim/login", query={"lang": "en"})
    assert host_web.says(page, "page.login.title", "en")
    assert host_web.says(browser.get("/pim/login"), "page.login.title", "en")  # the cookie


def test_an_unsupported_host_language_falls_back(host_web: Site) -> None:
    browser = host_web.browser(headers={"accept-language": "de"}, locale="fr")
    assert host_web.says(browser.get("/pim/login"), "page.login.title", "de")


def test_signed_in_account_answers_for_a_hosts_own_view(web: Site) -> None:
    account = _active(web)
    browser = _signed_in_browser(web)
    request = WebRequest(
        "GET",
        "/dashboard",
        headers={"cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())},
        session=browser.session,
    )
    assert web.web.signed_in_account(request, "pim") == account
    assert web.web.signed_in_account(request, "dam") is None
    assert web.web.signed_in_account(request, "no-such-tenant") is None
    assert web.web.signed_in_account(WebRequest("GET", "/dashboard"), "pim") is None
