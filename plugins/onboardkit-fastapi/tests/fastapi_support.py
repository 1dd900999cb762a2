"""What the host-integration tests share: tenants, a service, and one person's way through the
router's JSON API (register, confirm, approve, sign in), as a browser-less client would go."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import httpx

from onboardkit.onboarding import Onboarding
from onboardkit.plugins import Plugins
from onboardkit.sqlstore import SqlStore
from onboardkit.tenants import Tenants
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.passwords import CheapTestHasher

SECRET = b"onboardkit fastapi test secret, 32 bytes or more"
WEB_SECRET = b"onboardkit fastapi web secret, 32 bytes or more"
PASSWORD = "Tundra-Violet-Harbor-93"
NEW_PASSWORD = "Quarry-Lilac-Sonnet-57"
REVIEWER = "review@pim.example.com"
ANNA = "anna@example.org"
TENANTS = Tenants.from_mapping(
    {
        "tenants": {
            # Self-registration with review.
            "pim": {
                "name": "PIM Portal",
                "base_url": "https://pim.example.com/onboarding",
                "sender": "no-reply@pim.example.com",
                "flows": ["registration"],
                "review": {"required": True, "reviewers": [REVIEWER]},
            },
            # Self-registration without review: confirming activates.
            "dam": {
                "name": "DAM",
                "base_url": "https://dam.example.com",
                "sender": "no-reply@dam.example.com",
                "flows": ["registration"],
            },
        }
    }
)


def service(
    store: SqlStore, plugins: Plugins | None = None, *, kind: type[Onboarding] = Onboarding
) -> Onboarding:
    return kind(
        TENANTS,
        store,
        secret=SECRET,
        plugins=plugins if plugins is not None else make_plugins(),
        hasher=CheapTestHasher(),
        clock=FrozenClock(),
    )


def client(app: Any) -> httpx.AsyncClient:
    """A client over HTTPS (cookies marked ``Secure`` come back) that keeps cookies."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711))
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


def mailed_token(store: SqlStore, tenant: str, email: str) -> str:
    """The token of the newest mail to ``email``."""
    mails = store.atomic(lambda tx: list(tx.mails(tenant, limit=50)))
    for mail in mails:
        if email in mail.recipient:
            found = re.search(r"[?&]token=([A-Za-z0-9_\-%.~]+)", mail.text)
            assert found is not None, mail.text
            return unquote(found.group(1))
    raise AssertionError(f"no mail to {email}")


async def login(http: httpx.AsyncClient, tenant: str, email: str, password: str) -> httpx.Response:
    return await http.post(
        f"/onboarding/{tenant}/api/login", json={"email": email, "password": password}
    )


async def register_and_approve(
    app: Any, store: SqlStore, onboarding: Onboarding, email: str = ANNA
) -> str:
    """``email`` registers with the review tenant, confirms through the mailed link and is
    approved by the reviewer (see :func:`add_reviewer`), who signs in through the router; the
    new account's id."""
    async with client(app) as person:
        registered = await person.post(
            "/onboarding/pim/api/register", json={"email": email, "password": PASSWORD}
        )
        assert registered.status_code == 202, registered.text
        token = mailed_token(store, "pim", email)
        confirmed = await person.post("/onboarding/pim/api/confirm", json={"token": token})
        assert confirmed.status_code == 200, confirmed.text
    async with client(app) as reviewer:
        assert (await login(reviewer, "pim", REVIEWER, PASSWORD)).status_code == 200
        queue = await reviewer.get("/onboarding/pim/api/reviews")
        assert queue.status_code == 200, queue.text
        (account_id,) = [a["id"] for a in queue.json()["accounts"] if a["email"] == email]
        approved = await reviewer.post(
            f"/onboarding/pim/api/reviews/{account_id}/approve", json={"roles": []}
        )
        assert approved.status_code == 200, approved.text
    return str(account_id)


def add_reviewer(onboarding: Onboarding) -> None:
    onboarding.create_account("pim", REVIEWER, PASSWORD, roles=[], created_by="test")


def set_cookie_names(response: httpx.Response) -> list[str]:
    return sorted(line.split("=", 1)[0] for line in response.headers.get_list("set-cookie"))
