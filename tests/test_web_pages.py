"""The HTML pages of the web layer: every flow end to end, through pages only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from onboarding_helpers import STRONG, latest_token, registration_form, signup_form
from onboardkit import hookimpl
from onboardkit.accounts import AccountStatus
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock, make_plugins
from web_helpers import (
    REVIEWER,
    REVIEWER_PASSWORD,
    Browser,
    Site,
    confirm_through_pages,
    heading,
    input_named,
    inputs,
    labels,
    language_links,
    location_query,
    register_through_pages,
    sign_in,
    site,
    tags,
    waiting_for_review,
)

ANNA = "anna@example.com"
CARLA = "carla@example.com"
INA = "ina@example.com"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def web(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Site]:
    with site(memory_store, clock) as made:
        yield made


def _reviewer_browser(web: Site) -> Browser:
    web.reviewer()
    browser = web.browser()
    answer = sign_in(browser, "pim", REVIEWER, REVIEWER_PASSWORD)
    assert answer.status == 303
    return browser


def _status(web: Site, tenant: str, email: str) -> AccountStatus:
    account = web.account(tenant, email)
    assert account is not None
    return account.status


def _invitation_token(web: Site) -> str:
    web.onboarding.invite("collab", INA, roles=["broker"], invited_by="admin@collab.example.com")
    return latest_token(web.store, INA, "invitation")


def _activation_token(web: Site, browser: Browser) -> str:
    browser.get("/shop/start")
    answer = browser.post("/shop/start", {"email": CARLA})
    assert answer.status == 303
    return latest_token(web.store, CARLA, "activation")


# -- 1. self-registration with review -----------------------------------------------------------


def test_a_registration_ends_on_the_check_your_mail_page(web: Site) -> None:
    browser = web.browser()
    answer = register_through_pages(browser, ANNA)
    assert answer.status == 303
    assert str(answer.header("location")).startswith("/pim/sent?")
    page = browser.follow(answer)
    assert page.status == 200
    assert web.says(page, "page.sent.register", email="a***@example.com")
    assert ANNA not in page.text  # only the masked address is shown
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_CONFIRMATION
    assert len(web.mails(ANNA, "confirmation")) == 1


def test_opening_the_confirmation_link_shows_a_button_and_changes_nothing(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    token = latest_token(web.store, ANNA, "confirmation")
    before = web.snapshot()

    page = web.browser().get("/pim/confirm", query={"token": token})

    assert page.status == 200
    assert 'action="/pim/confirm"' in page.text
    assert "<button" in page.text
    assert input_named(page.text, "token")["value"] == token
    assert web.snapshot() == before
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_CONFIRMATION


def test_pressing_the_confirmation_button_leads_to_the_pending_page(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    answer = confirm_through_pages(browser, web, ANNA)
    assert answer.status == 303
    assert answer.header("location") == "/pim/pending"
    page = browser.follow(answer)
    assert page.status == 200
    assert heading(page.text) == web.text("page.pending.title")
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_REVIEW
    assert len(web.mails(REVIEWER, "reviewer_notice")) == 1


def test_a_second_click_on_a_used_confirmation_link_says_so_kindly(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    confirm_through_pages(browser, web, ANNA)
    token = latest_token(web.store, ANNA, "confirmation")
    page = browser.get("/pim/confirm", query={"token": token})
    assert page.status == 200
    assert web.says(page, "page.link.used")
    assert "<button" not in page.text


def test_a_confirmation_without_review_lets_the_person_sign_in(web: Site) -> None:
    browser = web.browser()
    browser.get("/dam/register")
    form = {"email": ANNA, "password": STRONG, "consents.privacy": "on"}
    assert browser.post("/dam/register", form).status == 303
    answer = confirm_through_pages(browser, web, ANNA, tenant="dam")
    assert answer.header("location") == "/dam/login?notice=confirmed"
    assert web.says(browser.follow(answer), "page.login.confirmed")
    signed_in = sign_in(browser, "dam", ANNA)
    assert signed_in.header("location") == "/dam/account"


def test_a_reviewer_approves_with_roles_and_the_person_signs_in(web: Site) -> None:
    account = waiting_for_review(web, ANNA)
    reviewer = _reviewer_browser(web)

    queue = reviewer.get("/pim/review")
    assert queue.status == 200
    assert ANNA in queue.text
    assert f'href="/pim/review/{account.id}"' in queue.text

    detail = reviewer.get(f"/pim/review/{account.id}")
    assert detail.status == 200
    assert "123456" in detail.text  # the custom field the person entered
    answer = reviewer.post(
        f"/pim/review/{account.id}/approve", {"roles": ["viewer", "editor"], "user_type": "staff"}
    )
    assert answer.status == 303
    assert location_query(answer) == {"approved": "a***@example.com"}
    assert web.says(reviewer.follow(answer), "page.review.approved", email="a***@example.com")

    approved = web.account("pim", ANNA)
    assert approved is not None
    assert approved.status is AccountStatus.ACTIVE
    assert approved.roles == ("viewer", "editor")
    assert approved.user_type == "staff"
    assert approved.reviewed_by == REVIEWER
    assert len(web.mails(ANNA, "approved")) == 1

    person = web.browser()
    answer = sign_in(person, "pim", ANNA)
    assert answer.header("location") == "/pim/account"
    page = person.follow(answer)
    assert page.status == 200
    assert web.says(page, "page.account.signed_in", email=ANNA)
    assert "viewer, editor" in page.text
    assert "staff" in page.text


def test_the_review_queue_no_longer_lists_a_decided_registration(web: Site) -> None:
    account = waiting_for_review(web, ANNA)
    reviewer = _reviewer_browser(web)
    reviewer.get(f"/pim/review/{account.id}")
    reviewer.post(f"/pim/review/{account.id}/approve", {"roles": ["viewer"]})
    queue = reviewer.get("/pim/review")
    assert f"/pim/review/{account.id}" not in queue.text
    assert web.says(queue, "page.review.empty")


def test_signing_in_while_the_registration_is_reviewed_shows_the_pending_page(web: Site) -> None:
    waiting_for_review(web, ANNA)
    answer = sign_in(web.browser(), "pim", ANNA)
    assert answer.status == 403
    assert heading(answer.text) == web.text("page.pending.title")
    assert "onboardkit_session" not in " ".join(answer.header_values("set-cookie"))


def test_a_rejection_with_a_reason_is_mailed_to_the_person(web: Site) -> None:
    account = waiting_for_review(web, ANNA)
    reviewer = _reviewer_browser(web)
    reviewer.get(f"/pim/review/{account.id}")
    answer = reviewer.post(
        f"/pim/review/{account.id}/reject", {"reason": "We could not find your customer number."}
    )
    assert answer.status == 303
    assert location_query(answer) == {"rejected": "a***@example.com"}

    assert _status(web, "pim", ANNA) is AccountStatus.REJECTED
    rejected = web.mails(ANNA, "rejected")
    assert len(rejected) == 1
    assert "We could not find your customer number." in rejected[0].text

    refused = sign_in(web.browser(), "pim", ANNA)
    assert refused.status == 403
    assert heading(refused.text) == web.text("page.rejected.title")


def test_a_rejection_without_a_reason_is_refused_at_the_reason_field(web: Site) -> None:
    account = waiting_for_review(web, ANNA)
    reviewer = _reviewer_browser(web)
    reviewer.get(f"/pim/review/{account.id}")
    page = reviewer.post(f"/pim/review/{account.id}/reject", {"reason": "   "})

    assert page.status == 422
    (reason,) = tags(page.text, "textarea")
    assert reason["id"] == "reason"
    assert reason["aria-invalid"] == "true"
    described = str(reason["aria-describedby"]).split()
    problems = {str(tag["id"]): tag for tag in tags(page.text, "p") if tag.get("id")}
    assert all(name in problems for name in described)
    assert "reason-error" in described
    summary = [tag["href"] for tag in tags(page.text, "a") if tag.get("href") == "#reason"]
    assert summary == ["#reason"]
    assert web.says(page, "review.reason_required")
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_REVIEW
    assert web.mails(ANNA, "rejected") == []


def test_approving_with_an_unknown_role_is_refused_at_the_roles(web: Site) -> None:
    account = waiting_for_review(web, ANNA)
    reviewer = _reviewer_browser(web)
    reviewer.get(f"/pim/review/{account.id}")
    page = reviewer.post(f"/pim/review/{account.id}/approve", {"roles": ["owner"]})
    assert page.status == 422
    assert web.says(page, "onboarding.role_unknown", role="owner")
    assert 'href="#roles"' in page.text
    assert _status(web, "pim", ANNA) is AccountStatus.PENDING_REVIEW


def test_reviewer_pages_send_strangers_to_the_sign_in(web: Site) -> None:
    account = waiting_for_review(web, ANNA)
    answer = web.browser().get(f"/pim/review/{account.id}")
    assert answer.status == 303
    assert location_query(answer) == {"next": f"/pim/review/{account.id}"}


def test_reviewer_pages_refuse_a_signed_in_person_who_is_no_reviewer(web: Site) -> None:
    web.onboarding.create_account("pim", "mia@example.com", STRONG, roles=[], created_by="test")
    browser = web.browser()
    sign_in(browser, "pim", "mia@example.com")
    assert browser.get("/pim/review").status == 403
    account = waiting_for_review(web, ANNA)
    before = web.snapshot()
    assert browser.post(f"/pim/review/{account.id}/approve", {"roles": ["viewer"]}).status == 403
    assert web.snapshot() == before


# -- sign-in --------------------------------------------------------------------------------------


def test_an_unconfirmed_address_gets_the_resend_form_and_the_resend_works(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    first = latest_token(web.store, ANNA, "confirmation")

    page = sign_in(browser, "pim", ANNA)
    assert page.status == 403
    assert web.says(page, "login.email_not_confirmed")
    resend_forms = [tag for tag in tags(page.text, "form") if tag["action"] == "/pim/resend"]
    assert len(resend_forms) == 1
    assert input_named(page.text, "email")["value"] == ANNA

    web.clock.advance(1)  # the outbox lists the newest mail first
    answer = browser.post("/pim/resend", {"email": ANNA})
    assert answer.status == 303
    assert location_query(answer) == {"step": "resend", "to": "a***@example.com"}
    assert web.says(browser.follow(answer), "page.sent.resend", email="a***@example.com")
    assert len(web.mails(ANNA, "confirmation")) == 2
    second = latest_token(web.store, ANNA, "confirmation")
    assert second != first
    assert browser.get("/pim/confirm", query={"token": first}).status == 410
    assert confirm_through_pages(browser, web, ANNA).header("location") == "/pim/pending"


def test_the_account_page_asks_for_a_sign_in_and_returns_after_it(web: Site) -> None:
    web.onboarding.create_account("pim", "mia@example.com", STRONG, roles=[], created_by="test")
    browser = web.browser()
    answer = browser.get("/pim/account")
    assert answer.status == 303
    login = browser.follow(answer)
    assert input_named(login.text, "next")["value"] == "/pim/account"
    signed_in = browser.post(
        "/pim/login", {"email": "mia@example.com", "password": STRONG, "next": "/pim/account"}
    )
    assert signed_in.header("location") == "/pim/account"
    assert browser.follow(signed_in).status == 200


def test_signing_out_ends_the_session(web: Site) -> None:
    web.onboarding.create_account("pim", "mia@example.com", STRONG, roles=[], created_by="test")
    browser = web.browser()
    browser.follow(sign_in(browser, "pim", "mia@example.com"))
    answer = browser.post("/pim/logout")
    assert answer.status == 303
    assert web.says(browser.follow(answer), "page.login.signed_out")
    assert browser.get("/pim/account").status == 303


def test_wrong_credentials_are_refused_with_the_address_kept(web: Site) -> None:
    page = sign_in(web.browser(), "pim", "nobody@example.com", "Wrong-Password-1")
    assert page.status == 401
    assert web.says(page, "login.bad_credentials")
    assert input_named(page.text, "email")["value"] == "nobody@example.com"
    assert "Wrong-Password-1" not in page.text


# -- 2. invitation --------------------------------------------------------------------------------


def test_an_invitation_with_a_weak_password_lists_every_rule_and_hides_the_password(
    web: Site,
) -> None:
    token = _invitation_token(web)
    browser = web.browser()
    page = browser.get("/collab/invitation", query={"token": token})
    assert page.status == 200
    assert _status(web, "collab", INA) is AccountStatus.INVITED

    refused = browser.post(
        "/collab/invitation",
        {"token": token, "password": "qwzx", "given_name": "Ina", "consents.privacy": "on"},
    )
    assert refused.status == 422
    summary = [tag for tag in tags(refused.text, "a") if tag.get("href") == "#password"]
    # collab's composition profile: too short, no upper case, no digit, no special character
    assert len(summary) == 4
    password = input_named(refused.text, "password")
    assert "value" not in password
    assert password["aria-invalid"] == "true"
    assert "password-error" in str(password["aria-describedby"]).split()
    assert "qwzx" not in refused.text
    assert input_named(refused.text, "given_name")["value"] == "Ina"
    assert input_named(refused.text, "token")["value"] == token
    assert _status(web, "collab", INA) is AccountStatus.INVITED

    answer = browser.post(
        "/collab/invitation", {"token": token, "password": STRONG, "consents.privacy": "on"}
    )
    assert answer.status == 303
    assert answer.header("location") == "/collab/login?notice=ready"
    assert _status(web, "collab", INA) is AccountStatus.ACTIVE
    assert sign_in(browser, "collab", INA).header("location") == "/collab/account"


def test_an_invitation_without_the_required_consent_is_refused(web: Site) -> None:
    token = _invitation_token(web)
    browser = web.browser()
    browser.get("/collab/invitation", query={"token": token})
    page = browser.post("/collab/invitation", {"token": token, "password": STRONG})
    assert page.status == 422
    assert 'href="#consents-privacy"' in page.text
    assert input_named(page.text, "consents.privacy")["aria-invalid"] == "true"
    assert _status(web, "collab", INA) is AccountStatus.INVITED


# -- 3. email-first sign-up -----------------------------------------------------------------------


def test_a_partner_signup_with_a_bad_then_a_good_code(web: Site) -> None:
    partner, code = web.onboarding.partner_registry.create("shop", "Acme Reseller", max_uses=1)
    browser = web.browser()
    token = _activation_token(web, browser)
    page = browser.get("/shop/signup", query={"token": token})
    assert page.status == 200

    refused = browser.post(
        "/shop/signup",
        {"token": token, **signup_form("partner", partner_code="0000-0000-0000-0000")},
    )
    assert refused.status == 422
    field = input_named(refused.text, "partner_code")
    assert field["aria-invalid"] == "true"
    assert "partner_code-error" in str(field["aria-describedby"]).split()
    assert field["value"] == "0000-0000-0000-0000"
    assert 'href="#partner_code"' in refused.text
    assert web.says(refused, "partner_code.invalid")
    assert _status(web, "shop", CARLA) is AccountStatus.PENDING_ACTIVATION

    answer = browser.post(
        "/shop/signup", {"token": token, **signup_form("partner", partner_code=code)}
    )
    assert answer.status == 303
    assert answer.header("location") == "/shop/login?notice=ready"
    account = web.account("shop", CARLA)
    assert account is not None
    assert account.status is AccountStatus.ACTIVE
    assert account.partner == {"id": partner.id, "name": "Acme Reseller", "source": "registry"}
    assert account.user_type == "partner_user"

    page = browser.follow(sign_in(browser, "shop", CARLA))
    assert web.says(page, "page.account.signed_in", email=CARLA)


def test_a_customer_signup_makes_an_administrator_who_can_invite_colleagues(web: Site) -> None:
    browser = web.browser()
    token = _activation_token(web, browser)
    browser.get("/shop/signup", query={"token": token})
    assert browser.post("/shop/signup", {"token": token, **signup_form()}).status == 303
    page = browser.follow(sign_in(browser, "shop", CARLA))
    assert 'action="/shop/account/invite"' in page.text

    answer = browser.post("/shop/account/invite", {"email": "dora@example.com", "roles": ["buyer"]})
    assert answer.status == 303
    assert web.says(browser.follow(answer), "page.invite.sent", email="d***@example.com")
    colleague = web.account("shop", "dora@example.com")
    assert colleague is not None
    assert colleague.status is AccountStatus.INVITED
    assert colleague.user_type == "customer_user"


# -- languages ------------------------------------------------------------------------------------


def test_pages_are_german_for_a_german_browser(web: Site) -> None:
    page = web.browser(headers={"accept-language": "fr-CH, de;q=0.8, en;q=0.5"}).get("/pim/login")
    assert '<html lang="de">' in page.text
    assert heading(page.text) == web.text("page.login.title", "de")


def test_lang_in_the_query_switches_the_language_and_a_cookie_keeps_it(web: Site) -> None:
    browser = web.browser(headers={"accept-language": "en"})
    page = browser.get("/pim/register", query={"lang": "de"})
    assert heading(page.text) == web.text("page.register.title", "de")
    (cookie,) = [c for c in page.header_values("set-cookie") if c.startswith("onboardkit_lang=")]
    assert cookie.startswith("onboardkit_lang=de;")
    assert "Max-Age=" in cookie
    assert heading(browser.get("/pim/login").text) == web.text("page.login.title", "de")
    english = browser.get("/pim/login", query={"lang": "en"})
    assert heading(english.text) == web.text("page.login.title")
    assert heading(browser.get("/pim/login").text) == web.text("page.login.title")


def test_an_unknown_lang_is_ignored(web: Site) -> None:
    page = web.browser().get("/pim/login", query={"lang": "xx"})
    assert heading(page.text) == web.text("page.login.title")
    assert not any(c.startswith("onboardkit_lang") for c in page.header_values("set-cookie"))


def test_the_language_links_keep_the_query(web: Site) -> None:
    browser = web.browser()
    register_through_pages(browser, ANNA)
    token = latest_token(web.store, ANNA, "confirmation")
    page = browser.get("/pim/confirm", query={"token": token})
    links = language_links(page.text)
    assert links["de"] == f"/pim/confirm?token={token}&lang=de"
    assert links["en"] == f"/pim/confirm?token={token}&lang=en"
    german = browser.get(links["de"])
    assert german.status == 200
    assert heading(german.text) == web.text("page.confirm.title", "de")
    assert german.text.startswith('<!doctype html>\n<html lang="de">')
    assert input_named(german.text, "token")["value"] == token


def test_the_language_links_of_a_refused_invitation_keep_the_link(web: Site) -> None:
    token = _invitation_token(web)
    browser = web.browser()
    browser.get("/collab/invitation", query={"token": token, "lang": "en"})
    refused = browser.post("/collab/invitation", {"token": token, "password": "qwzx"})
    assert refused.status == 422
    links = language_links(refused.text)
    german = browser.get(links["de"])
    # Switching the language must not lose the invitation (the token came in the POST body).
    assert german.status == 200
    assert input_named(german.text, "token")["value"] == token


# -- accessibility and forms --------------------------------------------------------------------


def _form_pages(web: Site) -> dict[str, str]:
    pages: dict[str, str] = {}
    browser = web.browser()
    for path in ("/pim/login", "/pim/register", "/pim/resend", "/shop/start", "/dam/register"):
        pages[path] = browser.get(path).text
    pages["/collab/invitation"] = browser.get(
        "/collab/invitation", query={"token": _invitation_token(web)}
    ).text
    pages["/shop/signup"] = browser.get(
        "/shop/signup", query={"token": _activation_token(web, browser)}
    ).text
    pages["refused /pim/register"] = browser.post("/pim/register", {"email": "x"}).text
    account = waiting_for_review(web, ANNA)
    pages["/pim/review/{id}"] = _reviewer_browser(web).get(f"/pim/review/{account.id}").text
    return pages


def test_every_visible_input_has_a_label(web: Site) -> None:
    for name, page in _form_pages(web).items():
        labelled = labels(page)
        fields = [
            *(tag for tag in inputs(page) if tag.get("type") != "hidden"),
            *tags(page, "select"),
            *tags(page, "textarea"),
        ]
        assert fields, name
        for field in fields:
            assert field.get("id") in labelled, (name, field)


def test_ids_on_a_page_are_unique(web: Site) -> None:
    for name, page in _form_pages(web).items():
        ids = Counter(str(tag["id"]) for tag in tags(page) if tag.get("id"))
        assert [key for key, count in ids.items() if count > 1] == [], name


def test_consents_are_never_ticked_in_advance(web: Site) -> None:
    for name, page in _form_pages(web).items():
        for field in inputs(page):
            if str(field.get("name", "")).startswith("consents."):
                assert "checked" not in field, (name, field)


def test_a_refused_registration_keeps_what_was_entered_but_the_password(web: Site) -> None:
    browser = web.browser()
    browser.get("/pim/register")
    form = registration_form(
        ANNA,
        password="qwzx",
        **{"fields.customer_number": "12", "consents.newsletter": "on", "consents.privacy": ""},
    )
    page = browser.post("/pim/register", form)
    assert page.status == 422
    assert input_named(page.text, "email")["value"] == ANNA
    assert input_named(page.text, "given_name")["value"] == "Anna"
    assert input_named(page.text, "family_name")["value"] == "Berg"
    assert input_named(page.text, "fields.customer_number")["value"] == "12"
    assert input_named(page.text, "fields.employee_number")["value"] == "77"
    assert "checked" in input_named(page.text, "consents.newsletter")
    assert "checked" not in input_named(page.text, "consents.privacy")
    assert "value" not in input_named(page.text, "password")
    assert "qwzx" not in page.text
    for field in ("fields-customer_number", "password", "consents-privacy"):
        assert f'href="#{field}"' in page.text
    assert web.account("pim", ANNA) is None


def test_a_form_is_read_whatever_the_case_of_its_media_type(web: Site) -> None:
    # Media types are case-insensitive (RFC 9110, 8.3.1); the JSON API already treats them so.
    browser = web.browser()
    browser.get("/pim/login")
    answer = browser.post(
        "/pim/login",
        {"email": ANNA, "password": "Wrong-Password-1"},
        headers={"content-type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"},
    )
    assert answer.status == 401


def test_entered_text_is_escaped_on_a_refused_form(web: Site) -> None:
    browser = web.browser()
    browser.get("/pim/register")
    page = browser.post("/pim/register", {"email": ANNA, "given_name": '"><script>x()</script>'})
    assert page.status == 422
    assert "<script>x()" not in page.text
    assert input_named(page.text, "given_name")["value"] == '"><script>x()</script>'


# -- documents ----------------------------------------------------------------------------------


def test_the_consent_documents_have_pages(web: Site) -> None:
    browser = web.browser()
    register = browser.get("/pim/register")
    assert 'href="/pim/documents/privacy"' in register.text
    page = browser.get("/pim/documents/privacy")
    assert page.status == 200
    assert heading(page.text) == "Privacy policy"
    assert "The Privacy policy text." in page.text
    assert web.says(page, "page.document.version", version="2024-05")
    german = browser.get("/pim/documents/privacy", query={"lang": "de"})
    assert heading(german.text) == "Privacy policy (de)"
    assert "Der Text: Privacy policy." in german.text


def test_an_unknown_document_is_not_found(web: Site) -> None:
    assert web.browser().get("/pim/documents/cookies").status == 404


def test_a_flow_a_tenant_does_not_offer_has_no_page(web: Site) -> None:
    browser = web.browser()
    assert browser.get("/collab/register").status == 404
    assert browser.get("/pim/start").status == 404


def test_the_check_your_mail_page_shows_only_masked_addresses(web: Site) -> None:
    answer = web.browser().get("/pim/sent", query={"step": "register", "to": "anna@example.com"})
    assert answer.status == 303
    assert answer.header("location") == "/pim/login"


# -- templates ----------------------------------------------------------------------------------


class _Branding:
    """A plugin that brings its own sign-in page for one tenant."""

    def __init__(self, folder: Path, tenant: str) -> None:
        self.folder = folder
        self.tenant = tenant

    @hookimpl
    def onboardkit_template_folders(self, tenant: str) -> list[Path] | None:
        return [self.folder] if tenant == self.tenant else None


def _login_template(folder: Path, marker: str) -> Path:
    page = folder / "web" / "login.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '{% extends "web/base.html" %}{% block content %}<h1>' + marker + "</h1>{% endblock %}"
    )
    return folder


def test_a_host_folder_replaces_one_page_and_leaves_the_others(
    memory_store: SqlStore, clock: FrozenClock, tmp_path: Path
) -> None:
    folder = _login_template(tmp_path / "host", "Host sign-in")
    with site(memory_store, clock, template_folders=[folder]) as made:
        browser = made.browser()
        assert heading(browser.get("/pim/login").text) == "Host sign-in"
        assert heading(browser.get("/pim/register").text) == made.text("page.register.title")


def test_a_plugin_restyles_the_pages_of_the_tenants_it_serves_only(
    memory_store: SqlStore, clock: FrozenClock, tmp_path: Path
) -> None:
    branding = _Branding(_login_template(tmp_path / "plugin", "Partner sign-in"), "pim")
    with site(memory_store, clock, plugins=make_plugins(branding)) as made:
        browser = made.browser()
        page = browser.get("/pim/login")
        assert page.status == 200
        assert heading(page.text) == "Partner sign-in"
        assert heading(browser.get("/shop/login").text) == made.text("page.login.title")


def test_the_host_folder_wins_over_a_plugin_folder(
    memory_store: SqlStore, clock: FrozenClock, tmp_path: Path
) -> None:
    host = _login_template(tmp_path / "host", "Host sign-in")
    branding = _Branding(_login_template(tmp_path / "plugin", "Partner sign-in"), "pim")
    options = {"plugins": make_plugins(branding), "template_folders": [host]}
    with site(memory_store, clock, **options) as made:
        assert heading(made.browser().get("/pim/login").text) == "Host sign-in"


# -- consents after sign-up ---------------------------------------------------------------------


def _approved_and_signed_in(web: Site, email: str = ANNA) -> Browser:
    account = waiting_for_review(web, email)
    web.onboarding.approve("pim", account.id, reviewer=REVIEWER, roles=["viewer"])
    browser = web.browser()
    assert sign_in(browser, "pim", email).status == 303
    return browser


def test_the_account_page_lists_every_consent_and_offers_the_missing_ones(web: Site) -> None:
    browser = _approved_and_signed_in(web)
    page = browser.get("/pim/account")
    assert page.status == 200
    assert web.says(page, "page.account.consents")
    assert web.says(page, "page.consent.not_given")
    assert web.says(page, "page.consent.needed")
    # The form offers only the newsletter: privacy is in effect for the version in force.
    boxes = [field["name"] for field in inputs(page.text) if field.get("type") == "checkbox"]
    assert boxes == ["consents.newsletter"]
    assert "checked" not in str(input_named(page.text, "consents.newsletter"))


def test_an_optional_consent_is_given_and_withdrawn_on_the_account_page(web: Site) -> None:
    browser = _approved_and_signed_in(web)
    browser.get("/pim/account")
    given = browser.post("/pim/account/consents", {"consents.newsletter": "on"})
    assert given.status == 303
    assert given.header("location") == "/pim/account?consents=saved"
    page = browser.get(given.header("location") or "")
    assert web.says(page, "page.consent.saved")
    assert 'action="/pim/account/consents/newsletter/withdraw"' in page.text
    assert not [field for field in inputs(page.text) if field.get("type") == "checkbox"]
    withdrawn = browser.post("/pim/account/consents/newsletter/withdraw", {})
    assert withdrawn.status == 303
    page = browser.get(withdrawn.header("location") or "")
    assert web.says(page, "page.consent.withdrawn")
    account = web.account("pim", ANNA)
    assert account is not None
    records = web.onboarding.export_consents("pim", account.id)["records"]
    assert [(r["event"], r["purpose"], r["method"]) for r in records] == [
        ("given", "privacy", "double_opt_in"),
        ("given", "newsletter", "form"),
        ("withdrawn", "newsletter", "form"),
    ]


def test_nothing_ticked_is_answered_on_the_account_page_with_the_error(web: Site) -> None:
    browser = _approved_and_signed_in(web)
    browser.get("/pim/account", query={"lang": "de"})
    answer = browser.post("/pim/account/consents", {})
    assert answer.status == 422
    assert web.says(answer, "consent.nothing_chosen", "de")


def test_a_required_consent_has_no_withdraw_button_and_cannot_be_withdrawn(web: Site) -> None:
    browser = _approved_and_signed_in(web)
    page = browser.get("/pim/account")
    assert "/consents/privacy/withdraw" not in page.text
    answer = browser.post("/pim/account/consents/privacy/withdraw", {})
    assert answer.status == 422
    assert web.says(answer, "consent.required_purpose")


def test_consent_changes_need_a_sign_in_and_the_form_token(web: Site) -> None:
    stranger = web.browser()
    stranger.get("/pim/login")
    assert stranger.post("/pim/account/consents", {"consents.newsletter": "on"}).status == 401
    browser = _approved_and_signed_in(web)
    browser.get("/pim/account")
    forged = browser.post("/pim/account/consents", {"consents.newsletter": "on"}, csrf=False)
    assert forged.status == 403
    account = web.account("pim", ANNA)
    assert account is not None
    assert len(web.onboarding.export_consents("pim", account.id)["records"]) == 1
