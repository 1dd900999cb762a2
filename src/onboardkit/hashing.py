"""Password hashing: Argon2id in PHC strings, with parameters that can be raised later.

:class:`PasswordHasher` stores a password as a standard PHC string,
``$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>``, made and checked by the ``cryptography``
package (``Argon2id.derive_phc_encoded`` and ``verify_phc_encoded``). The parameters travel in the
string, so when the configured parameters are raised, :meth:`PasswordHasher.needs_rehash` says
which stored hashes are weaker, and the application hashes the password again at the next login.

The defaults are OWASP's (Password Storage Cheat Sheet): 19 MiB of memory, 2 iterations, 1 lane,
a random 16-byte salt and a 32-byte hash. The password is NFKC-normalized exactly as the policy
normalizes it (:func:`onboardkit.passwords.normalize_password`), so what was checked is what is
hashed, and a password typed in another Unicode form still verifies.

Anything that satisfies :class:`Hasher` can stand in for the real hasher where speed matters more
than safety; :mod:`onboardkit.testing.passwords` has one for tests and benchmarks.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any, Final, Protocol

import attrs
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from onboardkit.config import whole_number
from onboardkit.errors import ConfigurationError
from onboardkit.passwords import normalize_password

__all__ = [
    "ARGON2_VERSION",
    "MAX_ITERATIONS",
    "MAX_LANES",
    "MAX_MEMORY_COST",
    "OWASP_MINIMUMS",
    "Argon2Parameters",
    "Hasher",
    "PasswordHasher",
    "password_bytes",
]

log = logging.getLogger(__name__)

#: The Argon2 version cryptography writes and reads (0x13).
ARGON2_VERSION: Final = 19

#: OWASP's equally strong Argon2id settings at one lane, as (memory in KiB, iterations). A hasher
#: is strong enough when its memory and iterations both reach those of one row.
OWASP_MINIMUMS: Final[tuple[tuple[int, int], ...]] = (
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
)

#: Stored hashes asking for more than this are refused instead of verified: a tampered row must
#: not make one login allocate gigabytes or run for minutes. Configured parameters obey them too.
MAX_MEMORY_COST: Final = 1_048_576  # KiB, 1 GiB
MAX_ITERATIONS: Final = 64
MAX_LANES: Final = 64

_MIN_SALT_LENGTH: Final = 16
_MIN_HASH_LENGTH: Final = 16
_MAX_PHC_LENGTH: Final = 4096

_PHC: Final = re.compile(
    r"\$argon2id\$v=([0-9]{1,4})\$m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,10})"
    r"\$([A-Za-z0-9+/]{1,1400})\$([A-Za-z0-9+/]{1,1400})"
)


def password_bytes(password: str) -> bytes:
    """The bytes that are hashed: the NFKC-normalized password in UTF-8.

    Lone surrogates (which a broken client can send) are kept as they are ("surrogatepass"), so
    hashing never fails and the same input always gives the same bytes.
    """
    return normalize_password(password).encode("utf-8", "surrogatepass")


def _unpadded_base64_length(text: str) -> int | None:
    try:
        return len(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None


@attrs.frozen
class Argon2Parameters:
    """The parameters of a stored Argon2id hash, as its PHC string states them."""

    version: int
    memory_cost: int
    iterations: int
    lanes: int
    salt_length: int
    hash_length: int

    @classmethod
    def from_phc(cls, phc: str) -> Argon2Parameters | None:
        """The parameters of an Argon2id PHC string, or ``None`` when it is not one.

        Only the form cryptography writes is read: ``$argon2id$v=..$m=..,t=..,p=..$salt$hash``
        with unpadded standard base64. Never raises for any text.
        """
        if not isinstance(phc, str) or len(phc) > _MAX_PHC_LENGTH:
            return None
        found = _PHC.fullmatch(phc)
        if found is None:
            return None
        version, memory_cost, iterations, lanes = (int(found.group(n)) for n in range(1, 5))
        salt_length = _unpadded_base64_length(found.group(5))
        hash_length = _unpadded_base64_length(found.group(6))
        if salt_length is None or hash_length is None:
            return None
        return cls(version, memory_cost, iterations, lanes, salt_length, hash_length)

    def problem(self) -> str | None:
        """Why a hash with these parameters cannot be verified safely, or ``None``."""
        if self.version != ARGON2_VERSION:
            return f"Argon2 version {self.version} is not supported"
        if not 1 <= self.lanes <= MAX_LANES:
            return f"lanes must be between 1 and {MAX_LANES}"
        if not 8 * self.lanes <= self.memory_cost <= MAX_MEMORY_COST:
            return f"memory must be between 8 KiB per lane and {MAX_MEMORY_COST} KiB"
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            return f"iterations must be between 1 and {MAX_ITERATIONS}"
        if self.salt_length < 8 or self.hash_length < 4:
            return "salt or hash is too short"
        return None


class Hasher(Protocol):
    """What onboardkit needs from a password hasher; :class:`PasswordHasher` is the real one."""

    def hash(self, password: str) -> str:
        """A new, salted hash of ``password`` to store."""

    def verify(self, password: str, stored: str) -> bool:
        """Whether ``password`` is the one ``stored`` was made from."""

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` should be replaced by a new hash at the next successful login."""


@attrs.frozen
class PasswordHasher:
    """Argon2id password hashing with the given parameters (OWASP's by default).

    :param memory_cost: Memory in KiB (19456 = 19 MiB).
    :param iterations: Passes over the memory.
    :param lanes: Degree of parallelism.
    :param salt_length: Bytes of random salt per hash (16 at least).
    :param hash_length: Bytes of derived hash (16 at least).
    :param allow_weak_parameters: Accept parameters below OWASP's minimums. Only for tests that
        hash many times (property tests); :meth:`from_mapping` never sets it.
    :raises ConfigurationError: for parameters out of range, or below OWASP's minimums.
    """

    memory_cost: int = attrs.field(default=19_456, validator=whole_number(8, MAX_MEMORY_COST))
    iterations: int = attrs.field(default=2, validator=whole_number(1, MAX_ITERATIONS))
    lanes: int = attrs.field(default=1, validator=whole_number(1, MAX_LANES))
    salt_length: int = attrs.field(default=16, validator=whole_number(_MIN_SALT_LENGTH, 64))
    hash_length: int = attrs.field(default=32, validator=whole_number(_MIN_HASH_LENGTH, 64))
    allow_weak_parameters: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.memory_cost < 8 * self.lanes:
            raise ConfigurationError(key="memory_cost", reason="must be at least 8 KiB per lane")
        if not self.allow_weak_parameters and not any(
            self.memory_cost >= memory and self.iterations >= iterations
            for memory, iterations in OWASP_MINIMUMS
        ):
            raise ConfigurationError(
                key="memory_cost",
                reason=(
                    f"m={self.memory_cost} KiB with t={self.iterations} is weaker than OWASP's "
                    "minimum (m=19456 KiB, t=2, or an equal setting)"
                ),
            )

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, key: str = "passwords.hashing"
    ) -> PasswordHasher:
        """A hasher from a configuration table with any of ``memory_cost`` (KiB),
        ``iterations``, ``lanes``, ``salt_length``, ``hash_length``; the rest keep their
        defaults.

        :raises ConfigurationError: naming the exact key of an unknown, wrong or too weak
            setting.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(key=key, reason="expected a table")
        settings = {field.name for field in attrs.fields(cls)} - {"allow_weak_parameters"}
        for setting in mapping:
            if setting not in settings:
                raise ConfigurationError(key=f"{key}.{setting}", reason="unknown setting")
        try:
            return cls(**dict(mapping))
        except ConfigurationError as error:
            raise ConfigurationError(
                key=f"{key}.{error.params['key']}", reason=error.params["reason"]
            ) from None

    @property
    def parameters(self) -> Argon2Parameters:
        """The parameters new hashes get."""
        return Argon2Parameters(
            ARGON2_VERSION,
            self.memory_cost,
            self.iterations,
            self.lanes,
            self.salt_length,
            self.hash_length,
        )

    def hash(self, password: str) -> str:
        """A PHC string of ``password`` (NFKC-normalized) with a fresh random salt.

        No length limit of its own: Argon2 reads the password once, so a long one costs one
        pass over its bytes (unlike PBKDF2, CVE-2013-1443); the policy bounds the length.
        """
        kdf = Argon2id(
            salt=secrets.token_bytes(self.salt_length),
            length=self.hash_length,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_cost,
        )
        return kdf.derive_phc_encoded(password_bytes(password))

    def verify(self, password: str, stored: str) -> bool:
        """Whether ``password`` (NFKC-normalized) matches the stored PHC string.

        ``False`` for a wrong password, and also for a stored value that is not a usable
        Argon2id PHC string (malformed, another algorithm, parameters beyond
        :data:`MAX_MEMORY_COST`, :data:`MAX_ITERATIONS` or :data:`MAX_LANES`): a login must fail
        closed and never turn into a server error. That case is logged as an error, without the
        stored value or the password.
        """
        parameters = Argon2Parameters.from_phc(stored)
        problem = "it is not an Argon2id PHC string" if parameters is None else parameters.problem()
        if problem is not None:
            log.error("stored password hash cannot be verified: %s", problem)
            return False
        try:
            Argon2id.verify_phc_encoded(password_bytes(password), stored)
        except InvalidKey:
            return False
        except (ValueError, MemoryError) as error:
            log.error("stored password hash cannot be verified: %s", type(error).__name__)
            return False
        return True

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` should be replaced after the next successful verification.

        ``True`` when it is no Argon2id PHC string of the supported version, when its memory or
        iterations are below the configured ones, its lanes differ, or its salt or hash is
        shorter. A stored hash that is stronger than configured is kept.
        """
        stored_parameters = Argon2Parameters.from_phc(stored)
        if stored_parameters is None or stored_parameters.problem() is not None:
            return True
        return (
            stored_parameters.memory_cost < self.memory_cost
            or stored_parameters.iterations < self.iterations
            or stored_parameters.lanes != self.lanes
            or stored_parameters.salt_length < self.salt_length
            or stored_parameters.hash_length < self.hash_length
        )
