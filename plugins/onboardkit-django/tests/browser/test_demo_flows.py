"""The Django demo's three flows, driven through Chromium as people would use them.

Self-registration with review (the reviewer decides in the Django admin), an invitation, and an
email-first sign-up with a partner code, on ``python -m onboardkit_django.demo``. Each test uses
addresses of its own; every page visited is kept as a screenshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from .conftest import DemoSite

pytestmark = pytest.mark.browser

Shoot = Callable[["Page", str], Path]

GOOD_PASSWORD = "Sommer#2024x"
STRONG_PASSWORD = "Lantern-Orbit-Quiver-93"
SIGN_IN_EN = ("Email address", "Password", "Sign in")
SIGN_IN_DE = ("E-Mail-Adresse", "Passwort", "Anmelden")


def expect(actual: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def visit(page: Page, shoot: Shoot, url: str, name: str) -> None:
    page.goto(url)
    shoot(page, name)


def open_mail_link(page: Page, shoot: Shoot, site: DemoSite, email: str, path: str) -> None:
    """On the demo's sent-mail page, click the link containing ``path`` in the newest mail to
    ``email``."""
    visit(page, shoot, f"{site.onboarding}/mail", "mail")
    to_line = page.locator("p").filter(has_text=re.compile(rf":\s{re.escape(email)}\s·"))
    mail = page.locator("article.mail").filter(has=to_line).first
    expect(mail).to_be_visible()
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


def test_a_person_registers_is_approved_in_the_admin_and_signs_in(
    demo_site: DemoSite, make_page: Callable[..., Page], shoot: Shoot
) -> None:
    site = demo_site
    email = "paula.pim@example.com"
    page = make_page()
    visit(page, shoot, f"{site.onboarding}/pim/login", "login")
    page.get_by_role("link", name="Create an account").click()
    expect(heading(page)).to_have_text("Create an account")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("First name").fill("Paula")
    page.get_by_label("Last name").fill("Example")
    page.get_by_label("Customer number").fill("1234567")
    page.get_by_label("Employee number").fill("4711")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_label("I have read the privacy policy and agree to it.").check()
    shoot(page, "register-filled")
    page.get_by_role("button", name="Register").click()
    expect(heading(page)).to_have_text("Check your mail")
    shoot(page, "check-your-mail")
    assert site.status("pim", email) == "pending_confirmation"

    open_mail_link(page, shoot, site, email, "/pim/confirm?token=")
    expect(heading(page)).to_have_text("Confirm your email address")
    page.get_by_role("button", name="Confirm my address").click()
    expect(heading(page)).to_have_text("Your registration is being reviewed")
    shoot(page, "pending")
    assert site.status("pim", email) == "pending_review"

    # The reviewer works in the Django admin: the review queue, the "Approve…" action.
    admin = make_page()
    visit(admin, shoot, f"{site.url}/admin/onboardkit/accountrow/review/", "admin-login")
    admin.get_by_label("Username").fill("admin")
    admin.get_by_label("Password").fill(site.admin_password)
    admin.get_by_role("button", name="Log in").click()
    row = admin.get_by_role("row").filter(has_text=email)
    expect(row).to_have_count(1)
    shoot(admin, "admin-review-queue")
    row.locator("input.action-select").check()
    admin.locator("select[name=action]").select_option("approve")
    admin.get_by_role("button", name="Go").click()
    expect(admin.get_by_role("heading", name="Approve registrations in PIM Portal")).to_be_visible()
    admin.get_by_label("editor").check()
    shoot(admin, "admin-approve")
    admin.get_by_role("button", name="Approve").click()
    expect(admin.locator("ul.messagelist")).to_contain_text("Approved 1 account(s).")
    shoot(admin, "admin-approved")
    assert site.status("pim", email) == "active"

    open_mail_link(page, shoot, site, email, f"{site.onboarding}/pim/login")
    expect(heading(page)).to_have_text("Sign in")
    sign_in(page, email, STRONG_PASSWORD)
    expect(heading(page)).to_have_text("Your account")
    facts = page.locator("dl")
    expect(facts.locator("dt", has_text="Roles").locator("+ dd")).to_have_text("editor")
    shoot(page, "account")


def test_an_invited_person_sets_a_password_and_signs_in(
    demo_site: DemoSite, make_page: Callable[..., Page], shoot: Shoot
) -> None:
    site = demo_site
    email = "ida.eingeladen@example.de"
    admin = make_page(locale="de-DE")
    admin_email, admin_password = site.login_of("collaboration")
    visit(admin, shoot, f"{site.onboarding}/collaboration/login", "admin-login")
    sign_in(admin, admin_email, admin_password, SIGN_IN_DE)
    expect(heading(admin)).to_have_text("Ihr Konto")
    admin.get_by_role("link", name="Personen einladen").click()
    expect(heading(admin)).to_have_text("Einladungen")
    invite = admin.locator("form", has=admin.get_by_role("button", name="Einladung senden"))
    invite.get_by_label("E-Mail-Adresse").fill(email)
    invite.get_by_label("policyholder").check()
    invite.get_by_role("button", name="Einladung senden").click()
    expect(admin.get_by_role("status")).to_contain_text("ist unterwegs")
    shoot(admin, "admin-invited")
    assert site.status("collaboration", email) == "invited"

    person = make_page(locale="de-DE")
    open_mail_link(person, shoot, site, email, "/collaboration/invitation?token=")
    expect(heading(person)).to_have_text("Einladung annehmen")
    person.get_by_label("Passwort", exact=True).fill(GOOD_PASSWORD)
    person.get_by_label("Ich akzeptiere die Nutzungsbedingungen.").check()
    shoot(person, "invitation")
    person.get_by_role("button", name="Passwort festlegen").click()
    expect(person.get_by_role("status")).to_have_text(
        "Ihr Konto ist eingerichtet. Sie können sich jetzt anmelden."
    )
    shoot(person, "ready")
    sign_in(person, email, GOOD_PASSWORD, SIGN_IN_DE)
    expect(heading(person)).to_have_text("Ihr Konto")
    expect(person.locator("dl")).to_contain_text("policyholder")
    shoot(person, "account")
    assert site.status("collaboration", email) == "active"


def test_a_partner_signs_up_email_first_with_a_partner_code(
    demo_site: DemoSite, page: Page, shoot: Shoot
) -> None:
    site = demo_site
    email = "otto.partner@example.com"
    visit(page, shoot, f"{site.onboarding}/iot/start", "start")
    expect(heading(page)).to_have_text("Sign up")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(heading(page)).to_have_text("Check your mail")
    shoot(page, "check-your-mail")

    open_mail_link(page, shoot, site, email, "/iot/signup?token=")
    expect(heading(page)).to_have_text("Complete your sign-up")
    page.get_by_label("a partner").check()
    page.get_by_label("Company name").fill("Otto Sensors GmbH")
    page.get_by_label("Partner code").fill(site.partner_code)
    page.get_by_label("First name").fill("Otto")
    page.get_by_label("Last name").fill("Partner")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_label("I accept the Terms of Service.").check()
    page.get_by_label("I have read the Privacy Policy.").check()
    shoot(page, "signup-filled")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("status")).to_have_text("Your account is ready. You can sign in now.")
    shoot(page, "ready")
    sign_in(page, email, STRONG_PASSWORD)
    expect(heading(page)).to_have_text("Your account")
    facts = page.locator("dl")
    expect(facts.locator("dt", has_text="User type").locator("+ dd")).to_have_text("partner_user")
    shoot(page, "account")
    assert site.status("iot", email) == "active"
