"""The values the onboarding service hands out, and the limits it reads forms with."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import attrs

from onboardkit.consent import ConsentDocument

#: Token purposes: a confirmation token is no invitation token.
CONFIRM: Final = "confirm"
INVITE: Final = "invite"
ACTIVATE: Final = "activate"

#: The longest text each form entry may hold, in characters.
NAME_MAX_LENGTH: Final = 100
COMPANY_MAX_LENGTH: Final = 200
REASON_MAX_LENGTH: Final = 1000
ACTOR_MAX_LENGTH: Final = 254
PARTNER_CODE_MAX_LENGTH: Final = 64
#: A password longer than this is refused without any other work (the policy refuses far less).
_PASSWORD_INPUT_LIMIT: Final = 4096


def mask_email(address: str) -> str:
    """The address with its local part hidden but for the first character: ``a***@example.org``."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


@attrs.frozen
class Submitted:
    """The one neutral answer to register, resend, start_signup and invite.

    It never differs between a new address and one that already has an account.
    """

    tenant: str
    step: str
    #: The entered address, masked, for "we sent a mail to a***@example.org".
    email: str


@attrs.frozen
class LinkPreview:
    """What a page behind a mailed link may show before the person presses the button.

    Making one never changes anything: mail scanners open every link.
    """

    purpose: str
    tenant: str
    email: str
    status: Literal["ready", "already_done"]
    expires_at: float
    #: For the email-first sign-up: the kinds offered (``customer``, and ``partner``).
    offers: tuple[str, ...] = ()


@attrs.frozen
class PurgeReport:
    """What :meth:`Onboarding.purge` removed."""

    accounts: int = 0
    mails: int = 0
    rate_limits: int = 0


@attrs.frozen
class LinkPaths:
    """The pages mailed links lead to, under each tenant's base URL."""

    confirm: str = "/confirm"
    invitation: str = "/invitation"
    signup: str = "/signup"
    login: str = "/login"
    review: str = "/review"


@attrs.frozen
class ConsentState:
    """Where an account stands on one consent purpose of its tenant."""

    #: The purpose's current document, in the language asked for.
    document: ConsentDocument
    #: The consent in effect covers this version and text: there is nothing to ask again.
    current: bool
    #: The version the consent in effect was given to, and when (``None``: none is in effect).
    given_version: str | None = None
    given_at: datetime | None = None

    @property
    def given(self) -> bool:
        """A consent to the purpose is in effect, of this or an older version."""
        return self.given_version is not None
