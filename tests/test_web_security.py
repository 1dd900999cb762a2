"""The web layer's protections: CSRF, origins, redirects, headers, sessions, enumeration, links."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboarding_helpers import OTHER_STRONG, STRONG, latest_token, registration_form
from onboardkit.accounts import Account, AccountStatus
from onboardkit.errors import TokenWrongPurpose
from onboardkit.sqlstore import SqlStore
from onboardkit.storage import Transaction
from onboardkit.testing import FrozenClock
from onboardkit.web import WebRequest, WebResponse
from web_helpers import (
    REVIEWER,
    REVIEWER_PASSWORD,
    Browser,
    Site,
    confirm_through_pages,
    error_of,
    register_through_pages,
    sign_in,
    site,
    tags,
    waiting_for_review,
    without_csrf,
)

ANNA = "anna@example.com"
MIA = "mia@example.com"
KNOWN_STATUSES = {200, 202, 204, 303, 400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def web(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Site]:
    with site(memory_store, clock, show_outbox=False) as made:
        yield made


def _member(web: Site, email: str = MIA, tenant: str = "pim") -> Account:
    return web.onboarding.create_account(tenant, email, STRONG, roles=[], created_by="test")


def _signed_in(
    web: Site, email: str = MIA, tenant: str = "pim", password: str = STRONG, secure: bool = False
) -> Browser:
    browser = web.browser(secure=secure)
    answer = sign_in(browser, tenant, email, password)
    assert answer.status == 303, answer.status
    return browser


def _reviewer(web: Site) -> Browser:
    web.reviewer()
    return _signed_in(web, REVIEWER, password=REVIEWER_PASSWORD)


def _cookie(response: WebResponse, name: str) -> str:
    found = [line for line in response.header_values("set-cookie") if line.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return found[-1]


# -- CSRF -----------------------------------------------------------------------------------------


def _csrf_targets(web: Site) -> list[tuple[str, dict[str, object]]]:
    """Page forms that change something, with a form that would pass but for CSRF."""
    account = waiting_for_review(web, ANNA)
    register_through_pages(web.browser(), "nina@example.com")
    token = latest_token(web.store, "nina@example.com", "confirmation")
    return [
        ("/pim/register", registration_form("otto@example.com")),
        ("/pim/confirm", {"token": token}),
        ("/pim/resend", {"email": "nina@example.com"}),
        ("/pim/login", {"email": REVIEWER, "password": REVIEWER_PASSWORD}),
        (f"/pim/review/{account.id}/approve", {"roles": ["editor"]}),
        (f"/pim/review/{account.id}/reject", {"reason": "No."}),
    ]


def test_forms_without_the_csrf_cookie_are_refused(web: Site) -> None:
    reviewer = _reviewer(web)
    targets = _csrf_targets(web)
    before = web.snapshot()
    for path, form in targets:
        token = reviewer.csrf_token
        # The session cookie alone, as a cross-site form would bring it.
        session = reviewer.cookies["onboardkit_session"]
        answer = reviewer.post(
            path,
            {**form, "csrf_token": token},
            headers={"cookie": f"onboardkit_session={session}"},
            cookies=False,
        )
        assert answer.status == 403, path
        assert "web.csrf_failed" in answer.text
    assert web.snapshot() == before


def test_forms_with_a_wrong_or_missing_token_are_refused(web: Site) -> None:
    reviewer = _reviewer(web)
    targets = _csrf_targets(web)
    before = web.snapshot()
    for path, form in targets:
        valid = reviewer.csrf_token
        altered = valid[:-1] + ("1" if valid.endswith("0") else "0")
        for token in ("", "0" * 64, altered, valid.upper(), valid + "0", None):
            fields = dict(form) if token is None else {**form, "csrf_token": token}
            answer = reviewer.post(path, fields, csrf=False)
            assert answer.status == 403, (path, token)
    assert web.snapshot() == before


def test_a_token_of_another_browser_is_refused(web: Site) -> None:
    reviewer = _reviewer(web)
    attacker = web.browser()
    attacker.get("/pim/login")
    targets = _csrf_targets(web)
    before = web.snapshot()
    for path, form in targets:
        answer = reviewer.post(path, {**form, "csrf_token": attacker.csrf_token})
        assert answer.status == 403, path
    assert web.snapshot() == before


def test_forms_with_the_right_token_pass(web: Site) -> None:
    reviewer = _reviewer(web)
    for path, form in _csrf_targets(web):
        assert reviewer.post(path, form).status != 403, path


def test_the_csrf_cookie_is_renewed_at_sign_in(web: Site) -> None:
    _member(web)
    browser = web.browser()
    browser.get("/pim/login")
    before = browser.cookies["onboardkit_csrf"]
    old_token = browser.csrf_token
    answer = sign_in(browser, "pim", MIA)
    assert browser.cookies["onboardkit_csrf"] != before
    assert "HttpOnly" in _cookie(answer, "onboardkit_csrf")
    assert browser.post("/pim/logout", {"csrf_token": old_token}).status == 403


# -- the API's origin check ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param({"origin": "null"}, id="null-origin"),
        pytest.param({"origin": "https://dam.example.com"}, id="another-tenant"),
        pytest.param({"sec-fetch-site": "cross-site"}, id="cross-site"),
        pytest.param(
            {"origin": "https://pim.example.com", "sec-fetch-site": "cross-site"},
            id="cross-site-with-own-origin",
        ),
    ],
)
def test_the_api_refuses_requests_of_other_sites(web: Site, headers: dict[str, str]) -> None:
    api = web.browser(headers={"host": "pim.example.com"})
    before = web.snapshot()
    for path, data in (
        ("/pim/api/register", {"email": ANNA, "password": STRONG}),
        ("/pim/api/login", {"email": ANNA, "password": STRONG}),
        ("/pim/api/resend", {"email": ANNA}),
    ):
        answer = api.post_json(path, data, headers=headers)
        assert answer.status == 403, path
        assert error_of(answer)["code"] == "web.foreign_origin"
    assert web.snapshot() == before


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-origin"),
        pytest.param({"origin": "https://pim.example.com"}, id="tenant-base-url"),
        pytest.param({"origin": "http://localhost:8000", "host": "localhost:8000"}, id="own-host"),
        pytest.param({"sec-fetch-site": "same-origin"}, id="same-origin"),
    ],
)
def test_the_api_accepts_requests_of_its_own_site(web: Site, headers: dict[str, str]) -> None:
    answer = web.browser().post_json(
        "/pim/api/login", {"email": ANNA, "password": "x"}, headers=headers
    )
    assert answer.status == 401


# -- redirects after sign-in --------------------------------------------------------------------

OPEN_REDIRECTS = [
    "//evil.example",
    "//evil.example/pim/account",
    "https://evil.example",
    "https://evil.example/pim/account",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\r\n/evil.example",
    "/pim/account\r\nSet-Cookie: x=1",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "",
    "/" + "a" * 600,
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_a_foreign_next_lands_on_the_account_page(web: Site, target: str) -> None:
    _member(web)
    answer = sign_in(web.browser(), "pim", MIA, next=target)
    assert answer.status == 303
    assert answer.header("location") == "/pim/account"


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_a_foreign_next_is_ignored_when_already_signed_in(web: Site, target: str) -> None:
    _member(web)
    browser = _signed_in(web)
    answer = browser.get("/pim/login", query={"next": target})
    assert answer.status == 303
    assert answer.header("location") == "/pim/account"


@pytest.mark.parametrize("target", ["/pim/documents/\u20ac", "/pim/\u00fcber", "/pim/\x85x"])
def test_a_next_with_other_than_ascii_characters_gives_an_ascii_location(
    web: Site, target: str
) -> None:
    # Header values must be ASCII: a framework encodes them as Latin-1 at best and fails on
    # "\u20ac"; C1 control characters (\x85) must never reach a header at all.
    _member(web)
    answer = sign_in(web.browser(), "pim", MIA, next=target)
    assert answer.status == 303
    location = str(answer.header("location"))
    assert location.isascii(), location
    assert location.startswith("/pim/"), location


def test_a_same_site_next_is_honoured(web: Site) -> None:
    _member(web)
    answer = sign_in(web.browser(), "pim", MIA, next="/pim/documents/privacy?lang=de")
    assert answer.header("location") == "/pim/documents/privacy?lang=de"


def test_links_on_an_error_page_stay_on_the_site(web: Site) -> None:
    for path in ("//evil.example/x", "/\\evil.example", "/pim/nothing"):
        answer = web.browser().get(path)
        assert answer.status == 404
        for link in tags(answer.text, "a"):
            href = str(link["href"])
            assert href.startswith(("/", "#")), href
            assert not href.startswith(("//", "/\\")), (path, href)


# -- security headers -----------------------------------------------------------------------------


def _answers_of_every_kind(web: Site) -> dict[str, WebResponse]:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    token = latest_token(web.store, ANNA, "confirmation")
    api = web.browser()
    return {
        "page": browser.get("/pim/login"),
        "token page": browser.get("/pim/confirm", query={"token": token}),
        "refused form": browser.post("/pim/register", {"email": "x"}),
        "redirect": browser.post("/pim/confirm", {"token": token}),
        "error page": browser.get("/pim/nothing"),
        "csrf error": browser.post("/pim/login", {"csrf_token": "x"}),
        "405 page": browser.request("PUT", "/pim/login"),
        "413 page": browser.request("POST", "/pim/register", body=b"x" * 70_000),
        "head": browser.request("HEAD", "/pim/register"),
        "api": api.get("/pim/api/form"),
        "api preview": api.get("/pim/api/confirm", query={"token": token}),
        "api error": api.post_json("/pim/api/login", {"email": ANNA, "password": "x"}),
        "api 404": api.get("/nowhere/api/form"),
        "api 405": api.request("DELETE", "/pim/api/login"),
        "api 415": api.request("POST", "/pim/api/login", body=b"x"),
        "stylesheet": api.get("/static/onboardkit.css"),
        "theme": api.get("/pim/theme.css"),
    }


def test_every_answer_carries_the_security_headers(web: Site) -> None:
    for kind, answer in _answers_of_every_kind(web).items():
        assert answer.header("x-frame-options") == "DENY", kind
        assert answer.header("x-content-type-options") == "nosniff", kind
        assert answer.header("referrer-policy") == "no-referrer", kind
        policy = str(answer.header("content-security-policy"))
        assert "frame-ancestors 'none'" in policy, kind
        assert "default-src 'none'" in policy, kind
        assert "unsafe-inline" not in policy, kind
        assert "unsafe-eval" not in policy, kind
        assert len(answer.header_values("content-security-policy")) == 1, kind


def test_pages_and_api_answers_are_never_cached(web: Site) -> None:
    for kind, answer in _answers_of_every_kind(web).items():
        if kind != "stylesheet":
            assert answer.header("cache-control") == "no-store", kind


def test_pages_load_no_inline_script_or_style(web: Site) -> None:
    for kind, answer in _answers_of_every_kind(web).items():
        if answer.media_type == "text/html" and answer.body:
            assert all(script.get("src") for script in tags(answer.text, "script")), kind
            assert not tags(answer.text, "style"), kind
            assert " style=" not in answer.text, kind
            assert not re.search(r" on[a-z]+=", answer.text), kind


def test_head_answers_have_no_body(web: Site) -> None:
    browser = web.browser()
    for path in ("/pim/login", "/pim/register", "/pim/nothing", "/pim/api/form", "/pim/api/me"):
        head = browser.request("HEAD", path)
        get = browser.get(path)
        assert head.body == b"", path
        assert head.status == get.status, path
        assert head.header("content-type") == get.header("content-type"), path


# -- cookies and sessions -------------------------------------------------------------------------


def test_the_session_cookie_is_http_only_same_site_and_scoped_to_the_tenant(web: Site) -> None:
    _member(web)
    answer = sign_in(web.browser(), "pim", MIA)
    cookie = _cookie(answer, "onboardkit_session")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=Lax" in cookie or "SameSite=Strict" in cookie
    assert "Path=/pim/" in cookie
    assert "secure" not in attributes


def test_cookies_are_secure_over_https(web: Site) -> None:
    _member(web)
    browser = web.browser(secure=True)
    first = browser.get("/pim/login", query={"lang": "de"})
    answer = sign_in(browser, "pim", MIA)
    for cookie in (
        _cookie(answer, "onboardkit_session"),
        _cookie(answer, "onboardkit_csrf"),
        _cookie(first, "onboardkit_csrf"),
        _cookie(first, "onboardkit_lang"),
    ):
        assert "; Secure" in cookie, cookie
    api = web.browser(secure=True).post_json("/pim/api/login", {"email": MIA, "password": STRONG})
    assert "; Secure" in _cookie(api, "onboardkit_session")


def test_a_new_password_ends_every_session(web: Site) -> None:
    account = _member(web)
    browser = _signed_in(web)
    assert browser.get("/pim/account").status == 200
    assert browser.get("/pim/api/me").status == 200
    new_hash = web.onboarding.hasher.hash(OTHER_STRONG)

    def change(tx: Transaction) -> None:
        current = tx.account(account.id)
        assert current is not None
        changed = attrs.evolve(current, password_hash=new_hash, version=current.version + 1)
        tx.update_account(changed, expected_version=current.version)

    web.store.atomic(change)
    assert browser.get("/pim/account").status == 303
    assert browser.get("/pim/api/me").status == 401


def test_disabling_an_account_ends_its_session(web: Site) -> None:
    account = _member(web)
    browser = _signed_in(web)
    web.onboarding.disable("pim", account.id, actor="test")
    assert browser.get("/pim/account").status == 303
    assert browser.get("/pim/api/me").status == 401


def test_a_session_expires(web: Site, clock: FrozenClock) -> None:
    _member(web)
    browser = _signed_in(web)
    clock.advance(web.web.sessions.max_age + 1)
    assert browser.get("/pim/api/me").status == 401


def test_a_session_of_one_tenant_is_no_session_of_another(web: Site) -> None:
    _member(web, tenant="pim")
    _member(web, tenant="dam")
    browser = _signed_in(web, tenant="pim")
    value = browser.cookies["onboardkit_session"]
    answer = web.browser().get("/dam/api/me", headers={"cookie": f"onboardkit_session={value}"})
    assert answer.status == 401
    forged = "dam" + value[len("pim") :]
    answer = web.browser().get("/dam/api/me", headers={"cookie": f"onboardkit_session={forged}"})
    assert answer.status == 401


def test_forged_and_tampered_session_cookies_are_ignored(web: Site) -> None:
    mia = _member(web)
    other = _member(web, "olga@example.com")
    value = _signed_in(web).cookies["onboardkit_session"]
    tenant, account_id, signed_at, mac = value.split(".")
    assert account_id == mia.id
    forgeries = [
        f"{tenant}.{other.id}.{signed_at}.{mac}",
        f"{tenant}.{account_id}.{int(signed_at) + 30}.{mac}",
        f"{tenant}.{account_id}.{signed_at}.{'0' * len(mac)}",
        f"{tenant}.{account_id}.{signed_at}.{mac[:-1]}",
        f"{tenant}.{account_id}.{signed_at}",
        f"{tenant}.{account_id}.{signed_at}.{mac}.x",
        f"{tenant}.{account_id}.-1.{mac}",
        "",
        "x" * 1000,
    ]
    for forged in forgeries:
        answer = web.browser().get(
            "/pim/api/me", headers={"cookie": f"onboardkit_session={forged}"}
        )
        assert answer.status == 401, forged
        page = web.browser().get("/pim/account", headers={"cookie": f"onboardkit_session={forged}"})
        assert page.status == 303, forged


# -- links in mail --------------------------------------------------------------------------------


def test_mailed_links_use_the_configured_base_url_never_the_host_header(web: Site) -> None:
    evil = {
        "host": "evil.example",
        "x-forwarded-host": "evil.example",
        "x-forwarded-proto": "http",
        "forwarded": "host=evil.example",
    }
    browser = web.browser(headers=evil)
    register_through_pages(browser, ANNA)
    web.browser(headers=evil).post_json(
        "/pim/api/register", {"email": "otto@example.com", "password": STRONG}, headers=evil
    )
    _member(web, "known@example.com")
    register_through_pages(web.browser(headers=evil), "known@example.com")
    confirmation = web.mails(ANNA, "confirmation")[0]
    assert "https://pim.example.com/onboarding/confirm?token=" in confirmation.text
    for mail in web.mails():
        assert "evil.example" not in mail.text
        assert "evil.example" not in (mail.html or "")


# -- no enumeration -------------------------------------------------------------------------------


def _strip(answer: WebResponse) -> tuple[int, tuple[tuple[str, str], ...], str]:
    headers = tuple((n, v) for n, v in answer.headers if n.lower() != "set-cookie")
    return answer.status, headers, without_csrf(answer.body.decode())


def test_registering_a_known_or_a_new_address_answers_the_same(web: Site) -> None:
    _member(web, "known@example.com")
    answers = []
    for email in ("known@example.com", "kn0wn@example.com"):
        browser = web.browser()
        answer = register_through_pages(browser, email)
        answers.append((_strip(answer), _strip(browser.follow(answer))))
    assert answers[0] == answers[1]
    assert answers[0][0][0] == 303
    assert len(web.mails("known@example.com", "already_registered")) == 1
    assert len(web.mails("kn0wn@example.com", "confirmation")) == 1


def test_registering_a_known_or_a_new_address_through_the_api_answers_the_same(web: Site) -> None:
    _member(web, "known@example.com")
    answers = []
    for email in ("known@example.com", "kn0wn@example.com"):
        data = {
            "email": email,
            "password": STRONG,
            "fields": {"customer_number": "123456"},
            "consents": {"privacy": True},
        }
        answers.append(_strip(web.browser().post_json("/pim/api/register", data)))
    assert answers[0] == answers[1]
    assert answers[0][0] == 202


def test_an_unknown_address_and_a_wrong_password_answer_the_same(web: Site) -> None:
    _member(web, "known@example.com")
    pages, api = [], []
    for email in ("known@example.com", "kn0wn@example.com"):
        status, headers, body = _strip(sign_in(web.browser(), "pim", email, "Wrong-Password-77"))
        pages.append((status, headers, body.replace(email, "EMAIL")))
        api.append(
            _strip(web.browser().post_json("/pim/api/login", {"email": email, "password": "x"}))
        )
    assert pages[0] == pages[1]
    assert pages[0][0] == 401
    assert api[0] == api[1]
    assert api[0][0] == 401


def test_resending_for_a_known_or_an_unknown_address_answers_the_same(web: Site) -> None:
    register_through_pages(web.browser(), ANNA)
    answers = []
    for email in (ANNA, "anja@example.com"):
        browser = web.browser()
        browser.get("/pim/resend")
        answer = browser.post("/pim/resend", {"email": email})
        answers.append((_strip(answer), _strip(browser.follow(answer))))
    assert answers[0] == answers[1]


# -- links used in the wrong place ----------------------------------------------------------------


def test_a_link_of_one_tenant_is_refused_on_another(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    token = latest_token(web.store, ANNA, "confirmation")
    before = web.snapshot()
    assert browser.get("/dam/confirm", query={"token": token}).status == 404
    browser.get("/dam/register")
    assert browser.post("/dam/confirm", {"token": token}).status == 404
    api = web.browser()
    assert api.get("/dam/api/confirm", query={"token": token}).status == 404
    assert error_of(api.post_json("/dam/api/confirm", {"token": token}))["code"] == (
        "web.link_wrong_portal"
    )
    assert web.snapshot() == before
    account = web.account("pim", ANNA)
    assert account is not None
    assert account.status is AccountStatus.PENDING_CONFIRMATION


def test_a_confirmation_link_is_no_invitation_or_signup_link(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    token = latest_token(web.store, ANNA, "confirmation")
    before = web.snapshot()
    for page in ("/pim/invitation", "/pim/signup"):
        assert browser.get(page, query={"token": token}).status == 400
        answer = browser.post(page, {"token": token, "password": OTHER_STRONG})
        assert answer.status == 400
        assert TokenWrongPurpose().localized("en") in answer.text
    api = web.browser()
    refused = api.post_json(
        "/pim/api/invitation",
        {"token": token, "password": OTHER_STRONG, "consents": {"privacy": True}},
    )
    assert refused.status == 400
    assert error_of(refused)["code"] == "token.wrong_purpose"
    assert web.snapshot() == before


def test_a_forged_token_is_refused(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    token = latest_token(web.store, ANNA, "confirmation")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    before = web.snapshot()
    assert browser.get("/pim/confirm", query={"token": forged}).status == 400
    assert browser.post("/pim/confirm", {"token": forged}).status == 400
    assert web.snapshot() == before


def test_a_used_confirmation_link_changes_nothing_more(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    confirm_through_pages(browser, web, ANNA)
    before = web.snapshot()
    again = confirm_through_pages(browser, web, ANNA)
    assert again.status == 303
    assert web.snapshot() == before


# -- what pages show -----------------------------------------------------------------------------


def test_what_people_enter_is_escaped_for_the_reviewer(web: Site) -> None:
    person = web.browser()
    script = "<script>alert(1)</script>"
    register_through_pages(
        person,
        ANNA,
        given_name=script,
        family_name='"><img src=x>',
        **{"fields.employee_number": "<b>1</b>"},
    )
    confirm_through_pages(person, web, ANNA)
    account = web.account("pim", ANNA)
    assert account is not None
    reviewer = _reviewer(web)
    for page in (reviewer.get("/pim/review"), reviewer.get(f"/pim/review/{account.id}")):
        assert page.status == 200
        assert script not in page.text
        assert "<img src=x>" not in page.text
        assert "<b>1</b>" not in page.text
        assert "&lt;script&gt;" in page.text


def test_mass_assignment_through_a_page_form_is_ignored(web: Site) -> None:
    browser = web.browser()
    register_through_pages(
        browser,
        ANNA,
        status="active",
        roles=["editor"],
        user_type="staff",
        reviewed_by="me",
        **{"fields.internal_rating": "A+"},
    )
    account = web.account("pim", ANNA)
    assert account is not None
    assert account.status is AccountStatus.PENDING_CONFIRMATION
    assert account.roles == ()
    assert account.user_type is None
    assert "internal_rating" not in account.fields


# -- robustness -----------------------------------------------------------------------------------


def test_a_request_with_many_query_parameters_is_answered(web: Site) -> None:
    query = "&".join(f"p{number}=1" for number in range(500))
    request = WebRequest("GET", "/pim/login", query=query, client_address="192.0.2.1")
    assert web.web.handle(request).status in KNOWN_STATUSES


@pytest.mark.parametrize(
    ("path", "headers", "body", "status"),
    [
        pytest.param("/pim/login", {"content-type": "text/plain"}, b"a=b", 415, id="text-body"),
        pytest.param("/pim/login", {"content-type": "0"}, b"", 415, id="odd-content-type"),
        pytest.param("/pim/register", {}, b"\x80\x81=1", 400, id="not-utf8"),
        pytest.param("/pim/confirm", {"content-type": "application/json"}, b"{}", 415, id="json"),
        pytest.param("/pim/x/y", {"content-type": "text/plain"}, b"x", 404, id="unknown-page"),
        pytest.param("/pim", {"content-type": "text/plain"}, b"x", 405, id="get-only-page"),
    ],
)
def test_an_unreadable_form_gets_an_error_page(
    web: Site, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    answer = web.browser().request("POST", path, headers=headers, body=body)
    assert answer.status == status
    assert answer.media_type == "text/html"
    assert answer.header("x-frame-options") == "DENY"


_PATHS = st.sampled_from(
    [
        "/",
        "/pim",
        "/pim/login",
        "/pim/register",
        "/pim/confirm",
        "/pim/review",
        "/pim/review/abc/approve",
        "/pim/documents/privacy",
        "/pim/api/login",
        "/pim/api/register",
        "/pim/api/confirm",
        "/pim/api/password-check",
        "/pim/api/reviews/abc/reject",
        "/shop/api/signup",
        "/collab/invitation",
        "/static/onboardkit.css",
    ]
) | st.text(min_size=0, max_size=40).map(lambda text: "/" + text)
_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "content-type",
            "accept-language",
            "cookie",
            "origin",
            "sec-fetch-site",
            "host",
            "content-length",
        ]
    ),
    st.one_of(
        st.text(max_size=60),
        st.sampled_from(["application/json", "application/x-www-form-urlencoded", "de", "en"]),
    ),
    max_size=5,
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["email", "password", "token", "fields", "consents", "roles", "kind"])
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)
_BODIES = st.one_of(
    st.binary(max_size=300),
    _JSON.map(lambda value: json.dumps(value).encode()),
    st.text(max_size=200).map(str.encode),
)


def test_random_requests_never_get_a_server_error(web: Site) -> None:
    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
        report_multiple_bugs=False,
    )
    @given(
        method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]),
        path=_PATHS,
        query=st.text(max_size=60),
        headers=_HEADERS,
        body=_BODIES,
    )
    def check(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> None:
        request = WebRequest(
            method, path, query=query, headers=headers, body=body, client_address="192.0.2.7"
        )
        answer = web.web.handle(request)
        assert answer.status in KNOWN_STATUSES, (answer.status, answer.body[:200])
        assert answer.header("x-frame-options") == "DENY"

    check()


def test_random_json_to_every_api_flow_never_gets_a_server_error(web: Site) -> None:
    api_paths = [
        "/pim/api/register",
        "/pim/api/login",
        "/pim/api/resend",
        "/pim/api/confirm",
        "/pim/api/password-check",
        "/collab/api/invitation",
        "/shop/api/signup/start",
        "/shop/api/signup",
    ]

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
        report_multiple_bugs=False,
    )
    @given(
        path=st.sampled_from(api_paths),
        data=st.dictionaries(
            st.sampled_from(
                [
                    "email",
                    "password",
                    "token",
                    "fields",
                    "consents",
                    "company",
                    "kind",
                    "given_name",
                    "partner_code",
                ]
            ),
            _JSON,
            max_size=6,
        ),
    )
    def check(path: str, data: dict[str, object]) -> None:
        answer = web.browser().post_json(path, data)
        assert answer.status in KNOWN_STATUSES, (answer.status, answer.body[:200])
        if answer.status >= 400:
            error_of(answer)

    check()
