"""The Flask demo's three flows, driven through Chromium as a person would use them.

The demo (``python -m onboardkit_flask.demo``: three tenants on a SQLite file, onboardkit below
``/onboarding``, Flask-Login and the app's own user model around it) is served by werkzeug's
threaded server for the whole module. Its mail links point at the server's own address, so the
port is chosen before the demo is prepared. Besides onboardkit's pages, every flow ends on the
app's own home page, which shows Flask-Login's ``current_user``: a sign-in on onboardkit's pages
is a sign-in to the app (host session mode), and the app's user was made by the provisioning
callback. Every page visited is kept as a screenshot (see ``shoot`` in ``conftest.py``).
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from onboardkit.accounts import Account, AccountStatus
from onboardkit.demo import Demo, prepare_demo
from onboardkit.onboarding import mask_email
from onboardkit.web.texts import page_text

pytest.importorskip("onboardkit_flask")
pytest.importorskip("flask_login")

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

Shoot = Callable[["Page", str], Path]

#: A password every demo policy accepts (composition: 8+ characters, upper, digit, special).
GOOD_PASSWORD = "Sommer#2024x"
#: A strong password for the default profile (12+ characters, hard to guess).
STRONG_PASSWORD = "Lantern-Orbit-Quiver-93"
SIGN_IN_EN = ("Email address", "Password", "Sign in")
SIGN_IN_DE = ("E-Mail-Adresse", "Passwort", "Anmelden")


def expect(actual: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.frozen
class Site:
    """The served Flask demo: the app's root URL, onboardkit's (below ``/onboarding``) and
    what ``prepare_demo`` made."""

    app_url: str
    url: str
    demo: Demo

    def login_of(self, tenant: str) -> tuple[str, str]:
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
    """The Flask demo, served on 127.0.0.1 by werkzeug in a thread; its data in a temporary
    folder."""
    from onboardkit_flask.demo import PREFIX, demo_app, make_server

    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    demo = prepare_demo(tmp_path_factory.mktemp("flask-demo"), app_url + PREFIX)
    try:
        server = make_server(demo_app(demo), "127.0.0.1", port)
        thread = threading.Thread(target=server.serve_forever, name="flask_demo", daemon=True)
        thread.start()
        try:
            yield Site(app_url, app_url + PREFIX, demo)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
    finally:
        demo.onboarding.close()
        demo.onboarding.store.dispose()  # type: ignore[attr-defined]


# -- what a person does ----------------------------------------------------------------------------


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def visit(page: Page, shoot: Shoot, url: str, name: str) -> None:
    page.goto(url)
    shoot(page, name)


def newest_mail(page: Page, email: str) -> Locator:
    to_line = page.locator("p").filter(has_text=re.compile(rf":\s{re.escape(email)}\s·"))
    return page.locator("article.mail").filter(has=to_line).first


def open_mail_link(
    page: Page, shoot: Shoot, site: Site, email: str, path: str, subject: str | None = None
) -> None:
    """On the sent-mail page, click the link containing ``path`` in the newest mail to
    ``email`` (with ``subject``, when given)."""
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
    email_label, password_label, submit = labels
    page.get_by_label(email_label).fill(email)
    page.get_by_label(password_label, exact=True).fill(password)
    page.get_by_role("button", name=submit, exact=True).click()


def app_user(page: Page, shoot: Shoot, site: Site, name: str) -> Locator:
    """The app's own home page: who Flask-Login's ``current_user`` is."""
    visit(page, shoot, f"{site.app_url}/", name)
    expect(page.get_by_role("heading", level=1)).to_have_text("onboardkit Flask demo")
    return page.locator("#current-user")


def signed_in_to_app(email: str, tenant: str) -> str:
    return f"Signed in to this Flask app as {email} (tenant {tenant})."


NOT_SIGNED_IN = "Not signed in to this Flask app."


def sign_out(page: Page, shoot: Shoot, site: Site, tenant: str, button: str = "Sign out") -> None:
    visit(page, shoot, f"{site.url}/{tenant}/account", "account-before-sign-out")
    page.get_by_role("button", name=button).click()
    shoot(page, "signed-out")
    expect(app_user(page, shoot, site, "app-after-sign-out")).to_have_text(NOT_SIGNED_IN)


# -- 1. self-registration, review, approval --------------------------------------------------------


def test_a_person_registers_is_approved_and_signs_in_to_the_app(
    site: Site, make_page: Callable[..., Page], shoot: Shoot
) -> None:
    email = "paula.flask@example.com"
    person = make_page()
    expect(app_user(person, shoot, site, "app-anonymous")).to_have_text(NOT_SIGNED_IN)
    person.get_by_role("link", name="PIM Portal").click()
    expect(heading(person)).to_have_text("Sign in")
    person.get_by_role("link", name="Create an account").click()
    expect(heading(person)).to_have_text("Create an account")
    person.get_by_label("Email address").fill(email)
    person.get_by_label("First name").fill("Paula")
    person.get_by_label("Last name").fill("Example")
    person.get_by_label("Customer number").fill("1234567")
    person.get_by_label("Employee number").fill("4711")
    person.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    person.get_by_label("I have read the privacy policy and agree to it.").check()
    shoot(person, "register-filled")
    person.get_by_role("button", name="Register").click()
    expect(heading(person)).to_have_text("Check your mail")
    expect(person.get_by_role("status")).to_contain_text(mask_email(email))
    shoot(person, "check-your-mail")
    assert site.status("pim", email) is AccountStatus.PENDING_CONFIRMATION

    open_mail_link(person, shoot, site, email, "/onboarding/pim/confirm?token=")
    expect(heading(person)).to_have_text("Confirm your email address")
    shoot(person, "confirm")
    person.get_by_role("button", name="Confirm my address").click()
    expect(heading(person)).to_have_text("Your registration is being reviewed")
    assert person.url == f"{site.url}/pim/pending"
    assert site.status("pim", email) is AccountStatus.PENDING_REVIEW
    shoot(person, "pending")

    # The reviewer signs in on onboardkit's pages: that signs them in to the app too.
    reviewer_email, reviewer_password = site.login_of("pim")
    reviewer = make_page()
    visit(reviewer, shoot, f"{site.url}/pim/review", "review-needs-sign-in")
    expect(heading(reviewer)).to_have_text("Sign in")
    sign_in(reviewer, reviewer_email, reviewer_password)
    expect(heading(reviewer)).to_have_text("Registrations to review")
    row = reviewer.get_by_role("row").filter(has_text=email)
    expect(row).to_have_count(1)
    shoot(reviewer, "review-queue")
    row.get_by_role("link", name=f"Review {email}").click()
    expect(heading(reviewer)).to_have_text(f"Review the registration of {email}")
    expect(reviewer.locator("dl")).to_contain_text("1234567")
    reviewer.get_by_label("editor").check()
    reviewer.get_by_label("User type").select_option("customer")
    shoot(reviewer, "review-decided")
    reviewer.get_by_role("button", name="Approve").click()
    expect(reviewer.get_by_role("status")).to_have_text(
        page_text("page.review.approved").render("en", {"email": mask_email(email)})
    )
    shoot(reviewer, "approved")
    assert site.status("pim", email) is AccountStatus.ACTIVE
    expect(app_user(reviewer, shoot, site, "app-reviewer")).to_have_text(
        signed_in_to_app(reviewer_email, "pim")
    )

    subject = "Your access to PIM Portal has been approved"
    open_mail_link(person, shoot, site, email, f"{site.url}/pim/login", subject)
    expect(heading(person)).to_have_text("Sign in")
    sign_in(person, email, STRONG_PASSWORD)
    expect(heading(person)).to_have_text("Your account")
    assert person.url == f"{site.url}/pim/account"
    facts = person.locator("dl")
    expect(facts.locator("dt", has_text="Roles").locator("+ dd")).to_have_text("editor")
    shoot(person, "account")
    # The approval made the app's user (provisioning); the sign-in made it current_user.
    expect(app_user(person, shoot, site, "app-signed-in")).to_have_text(
        signed_in_to_app(email, "pim")
    )
    sign_out(person, shoot, site, "pim")


# -- 2. invitation ---------------------------------------------------------------------------------


def test_an_invited_person_sets_a_password_and_signs_in_to_the_app(
    site: Site, make_page: Callable[..., Page], shoot: Shoot
) -> None:
    # The collaboration portal is German; its people's browsers ask for German.
    email = "ida.flask@example.de"
    admin = make_page(locale="de-DE")
    admin_email, admin_password = site.login_of("collaboration")
    visit(admin, shoot, f"{site.url}/collaboration/login", "admin-login")
    expect(heading(admin)).to_have_text("Anmelden")
    sign_in(admin, admin_email, admin_password, SIGN_IN_DE)
    expect(heading(admin)).to_have_text("Ihr Konto")
    admin.get_by_role("link", name="Personen einladen").click()
    expect(heading(admin)).to_have_text("Einladungen")
    shoot(admin, "admin-invitations")
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
    open_mail_link(person, shoot, site, email, "/onboarding/collaboration/invitation?token=")
    expect(heading(person)).to_have_text("Einladung annehmen")
    shoot(person, "invitation")
    person.get_by_label("Passwort", exact=True).fill(GOOD_PASSWORD)
    person.get_by_label("Ich akzeptiere die Nutzungsbedingungen.").check()
    person.get_by_role("button", name="Passwort festlegen").click()
    expect(person.get_by_role("status")).to_have_text(
        "Ihr Konto ist eingerichtet. Sie können sich jetzt anmelden."
    )
    shoot(person, "ready")
    assert site.status("collaboration", email) is AccountStatus.ACTIVE
    sign_in(person, email, GOOD_PASSWORD, SIGN_IN_DE)
    expect(heading(person)).to_have_text("Ihr Konto")
    expect(person.locator("dl")).to_contain_text("policyholder")
    shoot(person, "account")
    expect(app_user(person, shoot, site, "app-signed-in")).to_have_text(
        signed_in_to_app(email, "collaboration")
    )
    sign_out(person, shoot, site, "collaboration", button="Abmelden")


# -- 3. email-first partner sign-up ----------------------------------------------------------------


def test_a_partner_signs_up_email_first_and_signs_in_to_the_app(
    site: Site, page: Page, shoot: Shoot
) -> None:
    email = "otto.flask@example.com"
    visit(page, shoot, f"{site.url}/iot/start", "start")
    expect(heading(page)).to_have_text("Sign up")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(heading(page)).to_have_text("Check your mail")
    shoot(page, "check-your-mail")

    open_mail_link(page, shoot, site, email, "/onboarding/iot/signup?token=")
    expect(heading(page)).to_have_text("Complete your sign-up")
    page.get_by_label("a partner").check()
    page.get_by_label("Company name").fill("Otto Sensors GmbH")
    page.get_by_label("Partner code").fill(site.demo.partner_code)
    page.get_by_label("First name").fill("Otto")
    page.get_by_label("Last name").fill("Partner")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_label("I accept the Terms of Service.").check()
    page.get_by_label("I have read the Privacy Policy.").check()
    shoot(page, "signup-filled")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("status")).to_have_text("Your account is ready. You can sign in now.")
    shoot(page, "ready")
    assert site.status("iot", email) is AccountStatus.ACTIVE

    sign_in(page, email, STRONG_PASSWORD)
    expect(heading(page)).to_have_text("Your account")
    facts = page.locator("dl")
    expect(facts.locator("dt", has_text="User type").locator("+ dd")).to_have_text("partner_user")
    shoot(page, "account")
    expect(app_user(page, shoot, site, "app-signed-in")).to_have_text(
        signed_in_to_app(email, "iot")
    )
    sign_out(page, shoot, site, "iot")
