"""Shared set-up of the onboarding tests: the three seed tenants, the service, mail and links."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from onboardkit import hookimpl
from onboardkit.errors import OnboardkitError
from onboardkit.onboarding import Onboarding
from onboardkit.partners import Partner
from onboardkit.plugins import Plugins
from onboardkit.ratelimits import RateLimiter
from onboardkit.storage import OutboxMail, Store
from onboardkit.tenants import Tenants
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.outbox import mail_link, mail_token, outbox_mails
from onboardkit.testing.passwords import CheapTestHasher

SECRET = b"onboardkit test secret, 32 bytes or more"
STRONG = "Tundra-Violet-Harbor-93"
OTHER_STRONG = "Quartz-Meadow-Lantern-57"


def _purpose(title: str, *, required: bool) -> dict[str, Any]:
    return {
        "required": required,
        "versions": [
            {
                "version": "2024-05",
                "locales": {
                    "en": {"title": title, "text": f"The {title} text."},
                    "de": {"title": f"{title} (de)", "text": f"Der Text: {title}."},
                },
            }
        ],
    }


CONFIG: dict[str, Any] = {
    # Seed 000: self-registration with custom fields, double opt-in and review.
    "pim": {
        "name": "PIM Portal",
        "base_url": "https://pim.example.com/onboarding",
        "sender": "no-reply@pim.example.com",
        "flows": ["registration"],
        "roles": ["viewer", "editor"],
        "user_types": {"staff": {"permissions": ["edit"]}},
        "review": {"required": True, "reviewers": ["review@pim.example.com"]},
        "fields": {
            "customer_number": {
                "type": "text",
                "label": "Customer number",
                "required": True,
                "pattern": "[0-9]{6}",
            },
            "employee_number": {"type": "text", "label": "Employee number", "max_length": 12},
        },
        "consent": {
            "purposes": {
                "privacy": _purpose("Privacy policy", required=True),
                "newsletter": _purpose("Newsletter", required=False),
            }
        },
    },
    # Seed 000 without review: confirmation activates.
    "dam": {
        "name": "DAM",
        "base_url": "https://dam.example.com",
        "sender": "no-reply@dam.example.com",
        "flows": ["registration"],
        "consent": {"purposes": {"privacy": _purpose("Privacy policy", required=True)}},
    },
    # Seed 001: invitations with the composition password profile.
    "collab": {
        "name": "collaboration",
        "base_url": "https://collab.example.com",
        "sender": "no-reply@collab.example.com",
        "default_locale": "de",
        "flows": ["invitation"],
        "roles": ["policyholder", "broker"],
        "passwords": {"profile": "composition"},
        "consent": {"purposes": {"privacy": _purpose("Privacy policy", required=True)}},
    },
    # Seed 002: email-first sign-up of customers and partners.
    "shop": {
        "name": "Shop",
        "base_url": "https://shop.example.com",
        "sender": "no-reply@shop.example.com",
        "flows": ["signup"],
        "roles": ["buyer", "viewer"],
        "user_types": {
            "customer_admin": {"permissions": ["customer_account_admin", "buy"]},
            "customer_user": {"permissions": ["buy"]},
            "partner_user": {"permissions": ["resell"]},
        },
        "default_user_type": "customer_admin",
        "colleague_user_type": "customer_user",
        "partner_user_type": "partner_user",
        "partners": {"enabled": True},
        "consent": {
            "purposes": {
                "terms": _purpose("Terms of service", required=True),
                "privacy": _purpose("Privacy policy", required=True),
            }
        },
    },
}

TENANTS = Tenants.from_mapping({"tenants": CONFIG})


class RemotePartners:
    """A partner-provider plugin that knows one code."""

    @hookimpl
    def onboardkit_resolve_partner_code(self, tenant: str, code: str) -> Partner | None:
        if code == "REMOTE-42":
            return Partner(id="remote-7", name="Remote Reseller", tenant=tenant, source="http")
        return None


class CountingHasher(CheapTestHasher):
    """The cheap test hasher, noting each call ("hash" or "verify") in :attr:`calls`."""

    calls: list[str]

    def __init__(self) -> None:
        object.__setattr__(self, "calls", [])

    def hash(self, password: str) -> str:
        self.calls.append("hash")
        return super().hash(password)

    def verify(self, password: str, stored: str) -> bool:
        self.calls.append("verify")
        return super().verify(password, stored)

    def cost_of(self, call: Callable[[], object]) -> list[str]:
        """The hasher calls ``call`` makes, whether it returns or raises a typed error."""
        self.calls.clear()
        with suppress(OnboardkitError):
            call()
        return list(self.calls)


@contextmanager
def service(
    store: Store,
    clock: FrozenClock,
    *,
    plugins: Plugins | None = None,
    limiter: RateLimiter | None = None,
    hasher: Any = None,
) -> Iterator[Onboarding]:
    onboarding = Onboarding(
        TENANTS,
        store,
        secret=SECRET,
        plugins=plugins if plugins is not None else make_plugins(),
        hasher=hasher if hasher is not None else CheapTestHasher(),
        limiter=limiter,
        clock=clock,
    )
    try:
        yield onboarding
    finally:
        onboarding.close()


def mails(store: Store, recipient: str | None = None, kind: str | None = None) -> list[OutboxMail]:
    """Mails in the outbox, newest first."""
    return outbox_mails(store, recipient, kind)


def link_token(mail: OutboxMail) -> str:
    """The token of the link in a mail, read from its text as a person would click it."""
    return mail_link(mail).token


def latest_token(store: Store, recipient: str, kind: str) -> str:
    return mail_token(store, recipient, kind)


def registration_form(email: str, password: str = STRONG, **extra: object) -> dict[str, object]:
    form: dict[str, object] = {
        "email": email,
        "password": password,
        "given_name": "Anna",
        "family_name": "Berg",
        "fields.customer_number": "123456",
        "fields.employee_number": "77",
        "consents.privacy": "on",
    }
    form.update(extra)
    return form


def signup_form(kind: str = "customer", **extra: object) -> dict[str, object]:
    form: dict[str, object] = {
        "kind": kind,
        "given_name": "Carla",
        "family_name": "Diaz",
        "company.name": "Diaz Logistics",
        "password": STRONG,
        "consents.terms": "on",
        "consents.privacy": "on",
    }
    form.update(extra)
    return form
