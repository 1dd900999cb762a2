"""Cross-site request forgery protection for the HTML forms.

Every browser gets a random cookie (``onboardkit_csrf``, HttpOnly, ``SameSite=Lax``); every form
carries a hidden ``csrf_token`` that is an HMAC of that cookie under the web layer's secret. A
POST is accepted only when the two belong together, so another site, which can neither read the
cookie nor compute the HMAC, cannot post a form in the person's name. The JSON API is protected
differently (see :mod:`onboardkit.web.api`): it accepts only ``application/json`` bodies, which
a cross-site form cannot send, and refuses a foreign ``Origin``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

__all__ = ["COOKIE", "FIELD", "CsrfGuard"]

COOKIE: Final = "onboardkit_csrf"
FIELD: Final = "csrf_token"
_LABEL: Final = b"onboardkit web: csrf v1\x00"


class CsrfGuard:
    """Issues and checks form tokens bound to the browser's CSRF cookie."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @staticmethod
    def new_cookie() -> str:
        """A fresh cookie value: 32 random bytes, URL-safe."""
        return secrets.token_urlsafe(32)

    @staticmethod
    def usable_cookie(value: str | None) -> bool:
        """Whether a cookie value has the shape :meth:`new_cookie` gives (else a new one is set)."""
        return (
            value is not None
            and 40 <= len(value) <= 64
            and value.isascii()
            and all(c.isalnum() or c in "-_" for c in value)
        )

    def token(self, cookie: str) -> str:
        """The form token that belongs to ``cookie``."""
        return hmac.new(self._key, _LABEL + cookie.encode(), hashlib.sha256).hexdigest()

    def check(self, cookie: str | None, submitted: object) -> bool:
        """Whether ``submitted`` (the form's field) belongs to the browser's ``cookie``."""
        if not self.usable_cookie(cookie) or not isinstance(submitted, str):
            return False
        assert cookie is not None
        return hmac.compare_digest(self.token(cookie), submitted)
