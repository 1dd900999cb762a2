"""What the plugin's tests share: a browser through the whole Django project, and the flows."""

from __future__ import annotations

from typing import Any, Final

from onboardkit_django.service import service
from onboardkit_django.testing import DjangoClientTransport

from onboardkit.testing import Browser
from onboardkit.testing.browser import follow_mail, sign_in
from onboardkit.web import WebResponse

PASSWORD: Final = "Tundra-Violet-Harbor-93"
REVIEWER: Final = "review@pim.example.com"


def browser() -> Browser:
    """A browser of the test project (tests/urls.py), onboardkit's pages at /onboarding."""
    return Browser(DjangoClientTransport(), base_url="https://testserver", root="/onboarding")


def register(client: Browser, email: str, tenant: str = "pim", **fields: Any) -> WebResponse:
    client.get(client.url(f"/{tenant}/register"))
    form = {
        "email": email,
        "password": PASSWORD,
        "given_name": "Ada",
        "family_name": "Lovelace",
        **fields,
    }
    return client.post(client.url(f"/{tenant}/register"), form)


def approved_account(client: Browser, email: str, roles: list[str] | None = None) -> str:
    """Register ``email`` in pim, confirm it and approve it; the account id."""
    answer = register(client, email)
    assert answer.status == 303, answer.text
    confirmed = follow_mail(client, service().onboarding.store, email, "confirmation")
    assert confirmed.status == 303, confirmed.text
    onboarding = service().onboarding
    account = next(a for a in onboarding.pending_reviews("pim") if a.email == email)
    onboarding.approve("pim", account.id, roles=roles or ["editor"], reviewer=REVIEWER)
    return account.id


def signed_in(client: Browser, email: str, password: str = PASSWORD) -> WebResponse:
    return sign_in(client, "pim", email, password)


def whoami(client: Browser) -> dict[str, Any]:
    answer = client.get("/whoami")
    assert answer.status == 200, answer.status
    found: dict[str, Any] = answer.json()
    return found
