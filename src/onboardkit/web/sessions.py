"""Who is signed in: the web layer's own session cookie, or the host's session.

Two modes (see :class:`onboardkit.web.OnboardingWeb`):

* **cookie** (standalone): a signed, HttpOnly session cookie per tenant holds the tenant, the
  account id and the time of sign-in, signed with HMAC-SHA256 together with a digest of the
  account's password hash. It expires after ``max_age``.
* **host**: the host application owns the session (Django's, Flask-Login's, an auth backend's).
  onboardkit sets no session cookie; it tells the plugin who signed in or out
  (:class:`SignedIn`, :class:`SignedOut` on the response), and the plugin hands the host
  session's :class:`HostSession` back with every request.

In both modes the proof of a session is bound to the account's password hash: a new password
(or an erased or disabled account) ends every other session at once. A :class:`SignedIn` carries
a *verifier* for that; the host keeps it in its session, as Django keeps its session auth hash.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

import attrs

from onboardkit.accounts import Account, AccountStatus

__all__ = [
    "COOKIE",
    "SESSION_MODES",
    "HostSession",
    "Session",
    "SessionChange",
    "SessionCookies",
    "SignedIn",
    "SignedOut",
]

COOKIE: Final = "onboardkit_session"
_LABEL: Final = b"onboardkit web: session v1\x00"
_VERIFIER_LABEL: Final = b"onboardkit web: host session verifier v1\x00"
_MAX_COOKIE: Final = 256
_MAX_VERIFIER: Final = 128
#: The session modes of :class:`onboardkit.web.OnboardingWeb`.
SESSION_MODES: Final = ("cookie", "host")


@attrs.frozen
class Session:
    """A session cookie's claims, before the account is checked."""

    tenant: str
    account_id: str
    signed_in_at: int


@attrs.frozen
class HostSession:
    """Who the host's session says is signed in, as a plugin hands it over with a request.

    A plugin keeps the three values of a :class:`SignedIn` in the host's session (or derives
    them from the host's user) and passes them as ``WebRequest.session``.

    :param tenant: The tenant the account belongs to.
    :param account_id: The onboardkit account id.
    :param verifier: The :attr:`SignedIn.verifier` given at sign-in; it stops matching when the
        password changes, which ends this session.
    """

    tenant: str
    account_id: str
    verifier: str


@attrs.frozen
class SignedIn:
    """The response signed a person in: the plugin logs them into the host's session.

    :param tenant: The account's tenant.
    :param account_id: The onboardkit account id.
    :param verifier: To keep in the host's session and hand back as
        ``HostSession.verifier``.
    """

    tenant: str
    account_id: str
    verifier: str = attrs.field(repr=False)

    @property
    def session(self) -> HostSession:
        """What to hand back with later requests."""
        return HostSession(self.tenant, self.account_id, self.verifier)


@attrs.frozen
class SignedOut:
    """The response signed a person out, or found their session ended (a new password, a
    disabled or erased account): the plugin logs them out of the host's session.

    :param tenant: The tenant whose session ended.
    :param account_id: The account that was signed in, when known.
    """

    tenant: str
    account_id: str | None = None


#: What a response tells the plugin about the session, if anything.
SessionChange = SignedIn | SignedOut


class SessionCookies:
    """Makes and reads session cookie values, and host-session verifiers."""

    def __init__(self, key: bytes, *, max_age: int) -> None:
        self._key = key
        self.max_age = max_age

    def _mac(self, claims: str, password_hash: str | None) -> str:
        binding = hashlib.sha256((password_hash or "").encode()).hexdigest()
        message = f"{claims}\x00{binding}".encode()
        return hmac.new(self._key, _LABEL + message, hashlib.sha256).hexdigest()

    def value(self, account: Account, now: float) -> str:
        """The cookie value that signs ``account`` in."""
        claims = f"{account.tenant}.{account.id}.{int(now)}"
        return f"{claims}.{self._mac(claims, account.password_hash)}"

    def claims(self, value: str | None, tenant: str, now: float) -> Session | None:
        """The unexpired claims of a cookie for ``tenant``, not yet bound to the account."""
        if not value or len(value) > _MAX_COOKIE or not value.isascii():
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != tenant or not parts[2].isdigit():
            return None
        signed_in_at = int(parts[2])
        if not now - self.max_age <= signed_in_at <= now + 60:
            return None
        return Session(tenant=parts[0], account_id=parts[1], signed_in_at=signed_in_at)

    def verifier(self, account: Account) -> str:
        """The proof a host session keeps for ``account`` as it is now (its password)."""
        binding = hashlib.sha256((account.password_hash or "").encode()).hexdigest()
        message = f"{account.tenant}\x00{account.id}\x00{binding}".encode()
        return hmac.new(self._key, _VERIFIER_LABEL + message, hashlib.sha256).hexdigest()

    def check_host_session(self, session: HostSession, account: Account) -> bool:
        """Whether ``session`` was signed in for ``account`` as it is now (active, same
        password); a verifier of any other shape is simply wrong, never an error."""
        verifier = session.verifier
        if not isinstance(verifier, str) or not verifier.isascii() or len(verifier) > _MAX_VERIFIER:
            return False
        return (
            account.status is AccountStatus.ACTIVE
            and account.tenant == session.tenant
            and hmac.compare_digest(self.verifier(account).encode(), verifier.encode())
        )

    def verify(self, value: str, account: Account) -> bool:
        """Whether ``value`` was made for ``account`` as it is now (active, same password)."""
        claims, _, mac = value.rpartition(".")
        return account.status is AccountStatus.ACTIVE and hmac.compare_digest(
            self._mac(claims, account.password_hash), mac
        )
