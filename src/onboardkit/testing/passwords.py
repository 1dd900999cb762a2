"""Password hashers for tests and benchmarks only. Never store a real password with these.

* :class:`CheapTestHasher` satisfies :class:`onboardkit.hashing.Hasher` at the cost of one SHA-256,
  for tests and benchmarks of flows that set and check passwords many times (registration,
  invitation) where Argon2's deliberate slowness would drown what is measured.
* :func:`fast_argon2_hasher` is the real :class:`~onboardkit.hashing.PasswordHasher` with the
  smallest Argon2id parameters, for property tests of hashing itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

import attrs

from onboardkit.hashing import PasswordHasher, password_bytes

__all__ = ["CheapTestHasher", "fast_argon2_hasher"]

_PREFIX: Final = "$onboardkit-test-sha256$"


@attrs.frozen
class CheapTestHasher:
    """A salted SHA-256 hasher with onboardkit's normalization. FOR TESTS ONLY: unsafe to store.

    Its hashes look like ``$onboardkit-test-sha256$<salt hex>$<digest hex>``; anything else, an
    Argon2id hash included, does not verify and needs a rehash.
    """

    def hash(self, password: str) -> str:
        salt = secrets.token_hex(8)
        return f"{_PREFIX}{salt}${self._digest(salt, password)}"

    def verify(self, password: str, stored: str) -> bool:
        if not stored.startswith(_PREFIX):
            return False
        salt, _, digest = stored[len(_PREFIX) :].partition("$")
        return hmac.compare_digest(digest, self._digest(salt, password))

    def needs_rehash(self, stored: str) -> bool:
        return not stored.startswith(_PREFIX)

    @staticmethod
    def _digest(salt: str, password: str) -> str:
        return hashlib.sha256(salt.encode() + b"$" + password_bytes(password)).hexdigest()


def fast_argon2_hasher() -> PasswordHasher:
    """The real Argon2id hasher with the smallest parameters (64 KiB, 1 pass). FOR TESTS ONLY."""
    return PasswordHasher(memory_cost=64, iterations=1, lanes=1, allow_weak_parameters=True)
