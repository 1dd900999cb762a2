"""The web layer's own sign-in: a signed, HttpOnly session cookie per tenant.

A host application with its own sessions can ignore it; the pages use it to show the signed-in
account and to let reviewers in (a host can decide who reviews instead, see
:class:`onboardkit.web.WebRequest`). The cookie holds the tenant, the account id and the time of
sign-in, signed with HMAC-SHA256 together with a digest of the account's password hash: a new
password (or an erased account) ends every session at once. It expires after ``max_age``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

import attrs

from onboardkit.accounts import Account, AccountStatus

__all__ = ["COOKIE", "Session", "SessionCookies"]

COOKIE: Final = "onboardkit_session"
_LABEL: Final = b"onboardkit web: session v1\x00"
_MAX_COOKIE: Final = 256


@attrs.frozen
class Session:
    """A session cookie's claims, before the account is checked."""

    tenant: str
    account_id: str
    signed_in_at: int


class SessionCookies:
    """Makes and reads session cookie values."""

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

    def verify(self, value: str, account: Account) -> bool:
        """Whether ``value`` was made for ``account`` as it is now (active, same password)."""
        claims, _, mac = value.rpartition(".")
        return account.status is AccountStatus.ACTIVE and hmac.compare_digest(
            self._mac(claims, account.password_hash), mac
        )
