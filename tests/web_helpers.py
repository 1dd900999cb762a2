"""Shared set-up of the web layer tests: a site (service + web layer) and a browser-like client.

:class:`Browser` is the public :class:`onboardkit.testing.Browser` on the core: it drives
:meth:`onboardkit.web.OnboardingWeb.handle` the way a browser would: it keeps the cookies the
answers set, scrapes the CSRF token from the last page and sends forms urlencoded (repeated
fields with ``doseq``) or JSON bodies.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from onboarding_helpers import SECRET, STRONG, latest_token, mails, registration_form, service
from onboardkit import testing
from onboardkit.accounts import Account
from onboardkit.onboarding import Onboarding
from onboardkit.plugins import Plugins
from onboardkit.ratelimits import RateLimiter
from onboardkit.storage import Store
from onboardkit.testing import FrozenClock, without_csrf
from onboardkit.web import HostSession, OnboardingWeb, WebResponse

__all__ = [
    "CLIENT",
    "REVIEWER",
    "REVIEWER_PASSWORD",
    "Browser",
    "Site",
    "confirm_through_pages",
    "error_of",
    "heading",
    "input_named",
    "inputs",
    "labels",
    "language_links",
    "location_query",
    "register_through_pages",
    "sign_in",
    "site",
    "tags",
    "waiting_for_review",
    "without_csrf",
]

#: The address listed as reviewer of the pim tenant in onboarding_helpers.CONFIG.
REVIEWER = "review@pim.example.com"
REVIEWER_PASSWORD = "Glacier-Orchid-Tempo-81"
CLIENT = testing.CLIENT_ADDRESS


@attrs.define
class Site:
    """What a web test works with: the store, clock, service and web layer."""

    store: Store
    clock: FrozenClock
    onboarding: Onboarding
    web: OnboardingWeb

    def browser(self, **options: Any) -> Browser:
        return Browser.for_web(self.web, **options)

    def text(self, code: str, locale: str = "en", **params: Any) -> str:
        """A page or error text as the pages show it (so rewording a text breaks no test)."""
        return self.web.text(code, locale, params)

    def says(self, page: WebResponse, code: str, locale: str = "en", **params: Any) -> bool:
        """Whether ``page`` shows the text ``code``."""
        return self.text(code, locale, **params) in html.unescape(page.text)

    def account(self, tenant: str, email: str) -> Account | None:
        """The stored account of ``email`` in ``tenant`` (canonical address), or ``None``."""
        canonical = email.lower()
        return self.store.atomic(lambda tx: tx.account_by_email(tenant, canonical))

    def mails(self, recipient: str | None = None, kind: str | None = None) -> list[Any]:
        return mails(self.store, recipient, kind)

    def reviewer(self, tenant: str = "pim", email: str = REVIEWER) -> Account:
        """An active account whose address is one of the tenant's reviewers."""
        return self.onboarding.create_account(
            tenant, email, REVIEWER_PASSWORD, roles=[], created_by="test"
        )

    def snapshot(self) -> tuple[Any, ...]:
        """Every account (id, status, version) and the number of mails: equal means unchanged."""
        accounts = self.store.atomic(
            lambda tx: sorted((a.id, a.status.value, a.version) for a in tx.accounts(limit=500))
        )
        return (tuple(accounts), len(self.mails()))


@contextmanager
def site(
    store: Store,
    clock: FrozenClock | None = None,
    *,
    limiter: RateLimiter | None = None,
    plugins: Plugins | None = None,
    **web_options: Any,
) -> Iterator[Site]:
    """A service on ``store`` with the cheap test hasher and its web layer."""
    clock = clock or FrozenClock()
    with service(store, clock, limiter=limiter, plugins=plugins) as onboarding:
        web = OnboardingWeb(onboarding, secret=SECRET, **web_options)
        yield Site(store=store, clock=clock, onboarding=onboarding, web=web)


class Browser(testing.Browser):
    """The public test browser on the core (:class:`onboardkit.testing.CoreTransport`), with
    pim's resend page as the source of a CSRF token and the host session at hand."""

    csrf_page = "/pim/resend"
    transport: testing.CoreTransport

    @property
    def session(self) -> HostSession | None:
        """The host's session in host session mode, kept like a framework would keep it."""
        return self.transport.session

    @session.setter
    def session(self, value: HostSession | None) -> None:
        self.transport.session = value


def location_query(response: WebResponse) -> dict[str, str]:
    location = response.header("location") or ""
    return dict(parse_qsl(urlsplit(location).query))


def error_of(response: WebResponse) -> dict[str, Any]:
    """The ``error`` object of an API answer, checked for its shape."""
    data = response.json()
    assert set(data) == {"error"}, data
    error = data["error"]
    assert {"code", "message", "params"} <= set(error), error
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["params"], dict)
    assert set(error) <= {"code", "message", "params", "issues"}
    return error


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str, name: str | None = None) -> list[dict[str, str | None]]:
    """The attributes of every start tag (of ``name``) in ``html``, in order."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return [found for tag, found in parser.tags if name is None or tag == name]


def inputs(html: str) -> list[dict[str, str | None]]:
    return tags(html, "input")


def labels(html: str) -> set[str]:
    """The ``for`` of every ``<label>``."""
    return {str(label["for"]) for label in tags(html, "label") if label.get("for")}


def language_links(page: str) -> dict[str, str]:
    """The language switcher's links by language, unescaped."""
    return {
        str(link["hreflang"]): html.unescape(str(link["href"]))
        for link in tags(page, "a")
        if link.get("hreflang")
    }


def input_named(html: str, name: str) -> dict[str, str | None]:
    found = [field for field in inputs(html) if field.get("name") == name]
    assert found, f"no input named {name}"
    return found[0]


def register_through_pages(
    browser: Browser, email: str, tenant: str = "pim", **extra: object
) -> WebResponse:
    """Load the registration page, post the form; the answer to the post."""
    browser.get(f"/{tenant}/register")
    return browser.post(f"/{tenant}/register", registration_form(email, **extra))


def sign_in(
    browser: Browser, tenant: str, email: str, password: str = STRONG, **extra: object
) -> WebResponse:
    return testing.sign_in(browser, tenant, email, password, **extra)


def confirm_through_pages(
    browser: Browser, site: Site, email: str, tenant: str = "pim"
) -> WebResponse:
    """Open the newest confirmation link of ``email`` and press its button; the POST's answer."""
    token = latest_token(site.store, email, "confirmation")
    browser.get(f"/{tenant}/confirm", query={"token": token})
    return browser.post(f"/{tenant}/confirm", {"token": token})


def waiting_for_review(site: Site, email: str) -> Account:
    """A registration of ``email`` at pim, confirmed through the pages, waiting for review."""
    person = site.browser()
    register_through_pages(person, email)
    confirm_through_pages(person, site, email)
    account = site.account("pim", email)
    assert account is not None
    return account


def heading(html: str) -> str:
    """The text of the page's first ``<h1>``."""
    found = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert found is not None, "the page has no h1"
    return found.group(1).strip()
