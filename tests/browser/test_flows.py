"""The demo portal's flows, driven through Chromium as a person would use them.

One demo (three tenants on a SQLite file) is served for the whole module by the FastAPI plugin;
its mail links point at the server's own address, so the port is chosen before the demo is
prepared. Each test uses its own email addresses, so the tests do not depend on each other.
Every page visited is kept as a screenshot (see ``shoot`` in ``conftest.py``).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

import browser_harness as harness
from onboardkit.accounts import Account, AccountStatus
from onboardkit.demo import Demo, prepare_demo
from onboardkit.onboarding import mask_email
from onboardkit.web.texts import page_text

if TYPE_CHECKING:
    # Only for annotations: without Playwright the tests are left out, not a collection error.
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

Shoot = Callable[["Page", str], Path]

#: A password every demo policy accepts (composition: 8+ characters, upper, digit, special).
GOOD_PASSWORD = "Sommer#2024x"
#: A strong password for the default profile (12+ characters, hard to guess).
STRONG_PASSWORD = "Lantern-Orbit-Quiver-93"
#: The sign-in form's labels: email field, password field, button.
SIGN_IN_EN = ("Email address", "Password", "Sign in")
SIGN_IN_DE = ("E-Mail-Adresse", "Passwort", "Anmelden")


def text(code: str, locale: str = "en", **params: object) -> str:
    """A page text as the pages show it (for sentences that may yet be reworded)."""
    return page_text(code).render(locale, params)


def expect(actual: Any) -> Any:
    """Playwright's ``expect``, imported when used (Playwright is an optional test dependency)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)


def free_port() -> int:
    """A port no one listens on now (the operating system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.frozen
class Site:
    """The served demo: its base URL and what ``prepare_demo`` made."""

    url: str
    demo: Demo

    def login_of(self, tenant: str) -> tuple[str, str]:
        """The demo's reviewer (or administrator) of ``tenant``: address and password."""
        for login in self.demo.logins:
            if login.tenant == tenant:
                return login.email, login.password
        raise LookupError(tenant)

    def account(self, tenant: str, email: str) -> Account | None:
        canonical = email.lower()
        store = self.demo.onboarding.store
        return store.atomic(lambda tx: tx.account_by_email(tenant, canonical))

    def status(self, tenant: str, email: str) -> AccountStatus | None:
        account = self.account(tenant, email)
        return None if account is None else account.status


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo portal, served on 127.0.0.1 for this module; its data in a temporary folder."""
    from onboardkit_fastapi.demo import demo_app

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    demo = prepare_demo(tmp_path_factory.mktemp("demo"), base_url)
    with harness.live_server(demo_app(demo), port=port) as served:
        assert served == base_url
        yield Site(served, demo)


# -- what a person does ----------------------------------------------------------------------------


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def visit(page: Page, shoot: Shoot, url: str, name: str) -> None:
    page.goto(url)
    shoot(page, name)


def newest_mail(page: Page, email: str) -> Locator:
    """On the sent-mail page: the newest mail to ``email`` (the page lists the newest first)."""
    # "To: <address> · Sent at: ..." (or "An: ..." on the German page).
    to_line = page.locator("p").filter(has_text=re.compile(rf":\s{re.escape(email)}\s·"))
    return page.locator("article.mail").filter(has=to_line).first


def open_mail_link(
    page: Page, shoot: Shoot, site: Site, email: str, path: str, subject: str | None = None
) -> None:
    """Open the sent-mail page, find the newest mail to ``email`` (with ``subject``, when
    given) and click its link that contains ``path``."""
    visit(page, shoot, f"{site.url}/mail", "mail")
    mail = newest_mail(page, email)
    expect(mail).to_be_visible()
    if subject is not None:
        expect(mail.get_by_role("heading")).to_have_text(subject)
    link = mail.get_by_role("link", name=path)
    expect(link).to_have_count(1)
    link.click()
    page.wait_for_url(re.compile(re.escape(path)))


def sign_in(
    page: Page, email: str, password: str, labels: tuple[str, str, str] = SIGN_IN_EN
) -> None:
    """Fill the sign-in form and press its button; ``labels``: email, password, button."""
    email_label, password_label, submit = labels
    page.get_by_label(email_label).fill(email)
    page.get_by_label(password_label, exact=True).fill(password)
    page.get_by_role("button", name=submit, exact=True).click()


def sign_out(page: Page, shoot: Shoot, site: Site, tenant: str) -> None:
    # The review pages have no way out: a person types the account page's address.
    visit(page, shoot, f"{site.url}/{tenant}/account", "account-before-sign-out")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    shoot(page, "signed-out")


def register_at_pim(page: Page, shoot: Shoot, site: Site, email: str, given: str) -> None:
    """From the sign-in page to "Check your mail" with a complete registration."""
    visit(page, shoot, f"{site.url}/pim/login", "login")
    page.get_by_role("link", name="Create an account").click()
    expect(heading(page)).to_have_text("Create an account")
    shoot(page, "register")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("First name").fill(given)
    page.get_by_label("Last name").fill("Example")
    page.get_by_label("Customer number").fill("1234567")
    page.get_by_label("Employee number").fill("4711")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_label("I have read the privacy policy and agree to it.").check()
    shoot(page, "register-filled")
    page.get_by_role("button", name="Register").click()
    expect(heading(page)).to_have_text("Check your mail")
    expect(page.get_by_role("status")).to_contain_text(mask_email(email))
    shoot(page, "check-your-mail")


def confirm_address(page: Page, shoot: Shoot, site: Site, email: str) -> None:
    """Follow the confirmation link and press its button: the registration goes to review."""
    open_mail_link(page, shoot, site, email, "/pim/confirm?token=")
    expect(heading(page)).to_have_text("Confirm your email address")
    shoot(page, "confirm")
    # Opening the link changes nothing (mail scanners open links): only the button confirms.
    assert site.status("pim", email) is AccountStatus.PENDING_CONFIRMATION
    page.get_by_role("button", name="Confirm my address").click()
    expect(heading(page)).to_have_text("Your registration is being reviewed")
    assert page.url == f"{site.url}/pim/pending"
    assert site.status("pim", email) is AccountStatus.PENDING_REVIEW
    shoot(page, "pending")


def open_review_of(page: Page, shoot: Shoot, site: Site, email: str) -> None:
    """The pim reviewer signs in from the review queue and opens ``email``'s registration."""
    reviewer, password = site.login_of("pim")
    visit(page, shoot, f"{site.url}/pim/review", "review-needs-sign-in")
    expect(heading(page)).to_have_text("Sign in")
    sign_in(page, reviewer, password)
    expect(heading(page)).to_have_text("Registrations to review")
    assert page.url == f"{site.url}/pim/review"
    row = page.get_by_role("row").filter(has_text=email)
    expect(row).to_have_count(1)
    shoot(page, "review-queue")
    row.get_by_role("link", name=f"Review {email}").click()
    expect(heading(page)).to_have_text(f"Review the registration of {email}")
    shoot(page, "review-detail")


# -- 1. self-registration, review, approval --------------------------------------------------------


def test_a_person_registers_is_approved_and_signs_in(site: Site, page: Page, shoot: Shoot) -> None:
    email = "paula.pim@example.com"
    register_at_pim(page, shoot, site, email, "Paula")
    assert site.status("pim", email) is AccountStatus.PENDING_CONFIRMATION
    confirm_address(page, shoot, site, email)

    open_review_of(page, shoot, site, email)
    details = page.locator("dl")
    expect(details).to_contain_text("Paula")
    expect(details).to_contain_text("1234567")
    expect(details).to_contain_text("4711")
    page.get_by_label("editor").check()
    page.get_by_label("User type").select_option("customer")
    shoot(page, "review-decided")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text(
        text("page.review.approved", email=mask_email(email))
    )
    expect(page.get_by_role("row").filter(has_text=email)).to_have_count(0)
    shoot(page, "approved")
    assert site.status("pim", email) is AccountStatus.ACTIVE

    sign_out(page, shoot, site, "pim")
    # The person learns of the approval by mail and follows its link to the sign-in page.
    subject = "Your access to PIM Portal has been approved"
    open_mail_link(page, shoot, site, email, f"{site.url}/pim/login", subject)
    expect(heading(page)).to_have_text("Sign in")
    shoot(page, "login")
    sign_in(page, email, STRONG_PASSWORD)
    expect(heading(page)).to_have_text("Your account")
    assert page.url == f"{site.url}/pim/account"
    expect(page.get_by_role("status")).to_have_text(f"You are signed in as {email}.")
    facts = page.locator("dl")
    expect(facts.locator("dt", has_text="Roles").locator("+ dd")).to_have_text("editor")
    expect(facts.locator("dt", has_text="User type").locator("+ dd")).to_have_text("customer")
    shoot(page, "account")


# -- 2. rejection ----------------------------------------------------------------------------------


def test_a_rejected_person_sees_why_on_sign_in_and_by_mail(
    site: Site, page: Page, shoot: Shoot
) -> None:
    email = "rolf.pim@example.com"
    reason = "We cannot find customer number 1234567."
    register_at_pim(page, shoot, site, email, "Rolf")
    confirm_address(page, shoot, site, email)

    open_review_of(page, shoot, site, email)
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_have_text(
        text("page.review.rejected", email=mask_email(email))
    )
    shoot(page, "rejected-in-queue")
    assert site.status("pim", email) is AccountStatus.REJECTED

    sign_out(page, shoot, site, "pim")
    sign_in(page, email, STRONG_PASSWORD)
    expect(heading(page)).to_have_text("Registration not approved")
    expect(page.get_by_role("status")).to_contain_text("support@pim.example.com")
    shoot(page, "not-approved")

    visit(page, shoot, f"{site.url}/mail", "mail")
    newest = newest_mail(page, email)
    expect(newest.get_by_role("heading")).to_have_text("Your registration with PIM Portal")
    newest.locator("summary").click()
    expect(newest.locator("pre")).to_contain_text(reason)
    shoot(page, "rejection-mail")


# -- 3. invitation ---------------------------------------------------------------------------------


def test_an_invited_person_chooses_a_password_by_the_composition_rules(
    site: Site, make_page: Callable[..., Page], shoot: Shoot
) -> None:
    # The collaboration portal is German; its people's browsers ask for German.
    email = "ida.eingeladen@example.de"
    admin = make_page(locale="de-DE")
    admin_email, admin_password = site.login_of("collaboration")
    visit(admin, shoot, f"{site.url}/collaboration/login", "admin-login")
    expect(heading(admin)).to_have_text("Anmelden")
    sign_in(admin, admin_email, admin_password, SIGN_IN_DE)
    expect(heading(admin)).to_have_text("Ihr Konto")
    shoot(admin, "admin-account")
    admin.get_by_role("link", name="Personen einladen").click()
    expect(heading(admin)).to_have_text("Einladungen")
    shoot(admin, "admin-review")
    invite = admin.locator("form", has=admin.get_by_role("button", name="Einladung senden"))
    invite.get_by_label("E-Mail-Adresse").fill(email)
    invite.get_by_label("policyholder").check()
    invite.get_by_role("button", name="Einladung senden").click()
    expect(admin.get_by_role("status")).to_have_text(
        f"Die Einladung an {mask_email(email)} ist unterwegs."
    )
    shoot(admin, "admin-invited")
    assert site.status("collaboration", email) is AccountStatus.INVITED

    person = make_page(locale="de-DE")
    open_mail_link(person, shoot, site, email, "/collaboration/invitation?token=")
    expect(heading(person)).to_have_text("Einladung annehmen")
    shoot(person, "invitation")
    password = person.get_by_label("Passwort", exact=True)
    password.fill("kurz")
    person.get_by_label("Ich akzeptiere die Nutzungsbedingungen.").check()
    person.get_by_role("button", name="Passwort festlegen").click()
    expect(heading(person)).to_have_text("Einladung annehmen")
    problems = person.locator("#password-error")
    violations = site.demo.onboarding.check_password("collaboration", "kurz")
    assert {issue.code for issue in violations} == {
        "password.too_short",
        "password.needs_upper",
        "password.needs_digit",
        "password.needs_special",
    }
    for issue in violations:
        expect(problems).to_contain_text(issue.localized("de"))
    expect(password).to_have_value("")
    expect(password).to_have_attribute("aria-invalid", "true")
    shoot(person, "invitation-weak-password")
    assert site.status("collaboration", email) is AccountStatus.INVITED

    assert site.demo.onboarding.check_password("collaboration", GOOD_PASSWORD) == []
    password.fill(GOOD_PASSWORD)
    person.get_by_label("Ich akzeptiere die Nutzungsbedingungen.").check()
    person.get_by_role("button", name="Passwort festlegen").click()
    expect(person.get_by_role("status")).to_have_text(
        "Ihr Konto ist eingerichtet. Sie können sich jetzt anmelden."
    )
    shoot(person, "ready")
    sign_in(person, email, GOOD_PASSWORD, SIGN_IN_DE)
    expect(heading(person)).to_have_text("Ihr Konto")
    expect(person.locator("dl")).to_contain_text("policyholder")
    shoot(person, "account")


# -- 4. email-first partner sign-up ----------------------------------------------------------------


def test_a_partner_signs_up_email_first_with_a_partner_code(
    site: Site, page: Page, shoot: Shoot
) -> None:
    email = "otto.partner@example.com"
    visit(page, shoot, f"{site.url}/iot/start", "start")
    expect(heading(page)).to_have_text("Sign up")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(heading(page)).to_have_text("Check your mail")
    shoot(page, "check-your-mail")

    open_mail_link(page, shoot, site, email, "/iot/signup?token=")
    expect(heading(page)).to_have_text("Complete your sign-up")
    shoot(page, "signup")
    page.get_by_label("a partner").check()
    page.get_by_label("Company name").fill("Otto Sensors GmbH")
    code = page.get_by_label("Partner code")
    code.fill("ABCD-EFGH-JKMN-PQRS")
    page.get_by_label("First name").fill("Otto")
    page.get_by_label("Last name").fill("Partner")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_label("I accept the Terms of Service.").check()
    page.get_by_label("I have read the Privacy Policy.").check()
    page.get_by_role("button", name="Create my account").click()
    expect(page.locator("#partner_code-error")).to_be_visible()
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("a partner")).to_be_checked()
    expect(page.get_by_label("Company name")).to_have_value("Otto Sensors GmbH")
    shoot(page, "signup-wrong-code")
    assert site.status("iot", email) is AccountStatus.PENDING_ACTIVATION

    code.fill(site.demo.partner_code)
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_label("I accept the Terms of Service.").check()
    page.get_by_label("I have read the Privacy Policy.").check()
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("status")).to_have_text("Your account is ready. You can sign in now.")
    shoot(page, "ready")
    sign_in(page, email, STRONG_PASSWORD)
    expect(heading(page)).to_have_text("Your account")
    facts = page.locator("dl")
    expect(facts.locator("dt", has_text="User type").locator("+ dd")).to_have_text("partner_user")
    shoot(page, "account")


# -- 5. German pages and the language switcher -----------------------------------------------------


def test_the_pages_speak_german_to_a_german_browser_and_switch_language(
    site: Site, make_page: Callable[..., Page], shoot: Shoot
) -> None:
    page = make_page(locale="de-DE")
    html = page.locator("html")
    visit(page, shoot, f"{site.url}/pim/login", "login-de")
    expect(html).to_have_attribute("lang", "de")
    expect(page).to_have_title("Anmelden · PIM Portal")
    expect(heading(page)).to_have_text("Anmelden")
    expect(page.get_by_label("E-Mail-Adresse")).to_be_visible()
    expect(page.get_by_label("Passwort", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Anmelden")).to_be_visible()
    page.get_by_role("link", name="Noch kein Konto? Jetzt registrieren").click()

    expect(heading(page)).to_have_text("Registrierung")
    expect(html).to_have_attribute("lang", "de")
    intro = "Registrieren Sie sich bei PIM Portal. Wir prüfen jede Registrierung."
    expect(page.get_by_text(intro)).to_be_visible()
    for label in ("Vorname", "Nachname", "Kundennummer", "Personalnummer"):
        expect(page.get_by_label(label)).to_be_visible()
    expect(page.get_by_text("Ihr Passwort muss folgende Anforderungen erfüllen:")).to_be_visible()
    expect(page.get_by_role("button", name="Registrieren")).to_be_visible()
    assert "Create an account" not in page.content()
    shoot(page, "register-de")

    languages = page.get_by_role("navigation", name="Sprache")
    expect(languages.get_by_role("link", name="Deutsch")).to_have_attribute("aria-current", "true")
    languages.get_by_role("link", name="English").click()
    expect(heading(page)).to_have_text("Create an account")
    expect(html).to_have_attribute("lang", "en")
    expect(page.get_by_label("Customer number")).to_be_visible()
    shoot(page, "register-en")
    # The choice is kept (a cookie) for the next page, over the browser's language.
    page.get_by_role("link", name="Already registered? Sign in").click()
    expect(heading(page)).to_have_text("Sign in")
    expect(html).to_have_attribute("lang", "en")
    shoot(page, "login-en")

    page.get_by_role("navigation", name="Language").get_by_role("link", name="Deutsch").click()
    expect(heading(page)).to_have_text("Anmelden")
    expect(html).to_have_attribute("lang", "de")
    shoot(page, "login-de-again")


# -- 6. live password hints, and the same page without JavaScript ----------------------------------


def rule(page: Page, code: str) -> Locator:
    return page.locator(f'#password-rules li[data-rule="{code}"]')


def test_password_hints_follow_typing_and_the_page_works_without_javascript(
    site: Site, make_page: Callable[..., Page], shoot: Shoot
) -> None:
    page = make_page()
    visit(page, shoot, f"{site.url}/pim/register", "register")
    page.get_by_label("Email address").fill("hanna.hint@example.com")
    password = page.get_by_label("Password", exact=True)
    too_short, too_weak = rule(page, "password.too_short"), rule(page, "password.too_weak")
    expect(too_short).not_to_have_class(re.compile(r"\b(un)?met\b"))

    with page.expect_response(re.compile(r"/pim/api/password-check$")) as checked:
        password.press_sequentially("hanna")
    assert checked.value.ok
    expect(too_short).to_have_class(re.compile(r"\bunmet\b"))
    expect(too_short).to_contain_text("(not met yet)")
    expect(rule(page, "password.contains_personal_info")).to_have_class(re.compile(r"\bunmet\b"))
    shoot(page, "hints-weak")

    password.fill("")
    password.press_sequentially(STRONG_PASSWORD)
    expect(too_short).to_have_class(re.compile(r"(^|\s)met\b"))
    expect(too_short).to_contain_text("(met)")
    expect(too_weak).to_have_class(re.compile(r"(^|\s)met\b"))
    expect(rule(page, "password.contains_personal_info")).to_have_class(re.compile(r"(^|\s)met\b"))
    shoot(page, "hints-strong")

    # Without JavaScript: the rules are there to read, and the server says what is wrong.
    plain = make_page(java_script_enabled=False)
    visit(plain, shoot, f"{site.url}/pim/register", "register-no-js")
    rules = plain.locator("#password-rules li[data-rule]")
    expect(rules.first).to_be_visible()
    expect(rules).to_have_count(len(site.demo.onboarding.password_hints("pim", "en")["rules"]))
    expect(plain.locator("#password-rules li.met, #password-rules li.unmet")).to_have_count(0)
    plain.get_by_label("Email address").fill("noscript.nora@example.com")
    plain.get_by_label("Customer number").fill("7654321")
    plain.get_by_label("Password", exact=True).fill("short")
    plain.get_by_label("I have read the privacy policy and agree to it.").check()
    plain.get_by_role("button", name="Register").click()
    expect(heading(plain)).to_have_text("Create an account")
    problems = plain.locator("#password-error")
    issues = site.demo.onboarding.check_password("pim", "short")
    assert issues
    for issue in issues:
        expect(problems).to_contain_text(issue.localized("en"))
    expect(plain.get_by_role("alert")).to_contain_text("Please check the following:")
    expect(plain.get_by_label("Email address")).to_have_value("noscript.nora@example.com")
    expect(plain.get_by_label("Password", exact=True)).to_have_value("")
    shoot(plain, "register-no-js-refused")
    assert site.account("pim", "noscript.nora@example.com") is None


# -- 7. keyboard -----------------------------------------------------------------------------------


def test_the_sign_in_form_works_with_the_keyboard_alone(
    site: Site, page: Page, shoot: Shoot
) -> None:
    reviewer, password = site.login_of("pim")
    visit(page, shoot, f"{site.url}/pim/login", "login")
    email_field = page.get_by_label("Email address")
    password_field = page.get_by_label("Password", exact=True)
    submit = page.get_by_role("button", name="Sign in", exact=True)

    email_field.focus()
    page.keyboard.type(reviewer)
    page.keyboard.press("Tab")
    expect(password_field).to_be_focused()
    page.keyboard.type(password)
    page.keyboard.press("Tab")
    expect(submit).to_be_focused()
    shoot(page, "login-keyboard")
    page.keyboard.press("Enter")
    expect(heading(page)).to_have_text("Your account")
    assert page.url == f"{site.url}/pim/account"
    shoot(page, "account")
