"""Signed tokens for links in mail: double opt-in confirmation, invitations, resumed sign-ups.

A token is one base64url string (no padding, no dots) holding, in this order::

    version                 1 byte, 1
    kid length, purpose length                1 byte each
    issued_at, lifetime     8 and 4 bytes, unsigned big-endian whole seconds
    binding                 16 bytes, keyed BLAKE2b of email and state
    kid, purpose, subject   ASCII, UTF-8, UTF-8; the subject takes the rest up to the tag
    tag                     32 bytes, HMAC-SHA256 of everything before it

The fixed-size fields come first so that one ``struct`` call reads them all.

The newest key of a :class:`KeyRing` signs; every key of the ring verifies, so rotating keys never
breaks links already in mail. Each key's secret is stretched with HKDF into two independent keys:
one for the HMAC tag, one for the binding digest.

The binding ties a token to the email address and to the state it acts on (for example
``"registration:42:pending_confirmation:v3"``). The address is never in the token in clear, only
inside that keyed digest; a token whose state has moved on (a used link) or that names another
address still carries a valid signature and fails with :class:`~onboardkit.errors.TokenStaleState`.

:meth:`TokenSigner.verify` checks, in this order: the token parses, its tag verifies under the key
it names, its purpose is the expected one, it is within its lifetime, and its binding matches.
Nothing read from the token is trusted before the tag has verified, so an attacker can neither pick
which error they get for a forged token nor make onboardkit act on unauthenticated data.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac as _stdlib_hmac
import logging
import math
import re
import secrets
import struct
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, ClassVar

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onboardkit.clock import Clock, system_clock
from onboardkit.errors import (
    ConfigurationError,
    TokenBadSignature,
    TokenError,
    TokenExpired,
    TokenMalformed,
    TokenStaleState,
    TokenWrongPurpose,
    message,
)

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TTL",
    "MAX_KID_LENGTH",
    "MAX_LEEWAY",
    "MAX_PURPOSE_LENGTH",
    "MAX_SUBJECT_LENGTH",
    "MAX_TOKEN_LENGTH",
    "MAX_TTL_LIMIT",
    "MIN_SECRET_LENGTH",
    "KeyRing",
    "PeekedToken",
    "SigningKey",
    "TokenNotYetValid",
    "TokenSigner",
    "VerifiedToken",
    "bound_email",
]

logger = logging.getLogger(__name__)

#: Fewest bytes a signing secret may have: 256 bits, twice the 128 bits of security required.
MIN_SECRET_LENGTH = 32
#: Longest key id; key ids are ASCII letters, digits, ``.``, ``_`` and ``-``.
MAX_KID_LENGTH = 32
#: Longest purpose and subject, in UTF-8 bytes.
MAX_PURPOSE_LENGTH = 64
MAX_SUBJECT_LENGTH = 255
#: Default and largest clock-skew leeway, in seconds.
DEFAULT_LEEWAY = 30
MAX_LEEWAY = 60
#: Default longest lifetime a token may be issued with (30 days), and the largest value that
#: setting itself may take (365 days).
DEFAULT_MAX_TTL = 30 * 24 * 3600
MAX_TTL_LIMIT = 365 * 24 * 3600

_VERSION = 1
_BINDING_LENGTH = 16
_HEAD = struct.Struct(f">BBBQI{_BINDING_LENGTH}s")
_LENGTH = struct.Struct(">I")
_TAG_LENGTH = 32
_HKDF_INFO = b"onboardkit tokens v1: hmac-sha256 tag key | blake2b binding key"
_KID_PATTERN = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_KID_LENGTH}}}")
_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# Into the standard alphabet, with every character outside the URL-safe one (``+`` and ``/``
# included) turned into ``!``, which then marks the token as malformed.
_FROM_TOKEN = bytes(_TO_STANDARD[byte] if byte in _ALPHABET else ord("!") for byte in range(256))
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_PADDING = (b"", b"", b"==", b"=")
# The characters that may end a canonical encoding, by length modulo 4: with 2 or 3 characters
# in the last group, the low 4 or 2 bits of the last one are unused and must be zero.
_CANONICAL_LAST: tuple[frozenset[int], ...] = (
    frozenset(_ALPHABET),
    frozenset(),
    frozenset(_ALPHABET[value] for value in range(64) if value & 0x0F == 0),
    frozenset(_ALPHABET[value] for value in range(64) if value & 0x03 == 0),
)

_MIN_RAW_LENGTH = _HEAD.size + 3 + _TAG_LENGTH
_MAX_RAW_LENGTH = (
    _HEAD.size + MAX_KID_LENGTH + MAX_PURPOSE_LENGTH + MAX_SUBJECT_LENGTH + _TAG_LENGTH
)
#: Longest token string :meth:`TokenSigner.verify` looks at; anything longer is malformed at once.
MAX_TOKEN_LENGTH = math.ceil(_MAX_RAW_LENGTH * 4 / 3)
_MIN_TOKEN_LENGTH = math.ceil(_MIN_RAW_LENGTH * 4 / 3)


class TokenNotYetValid(TokenExpired):
    """Signed by us, but issued later than now plus the leeway: the servers' clocks disagree.

    A subclass of :class:`~onboardkit.errors.TokenExpired`, because the person's way out is the
    same (try again, or ask for a new link); the distinct code tells operators to check clocks.
    """

    default_message = message(
        "token.not_yet_valid",
        "This link is not valid yet. Please try again in a few minutes or request a new one.",
    )


def bound_email(email: str) -> str:
    """The form of ``email`` a token is bound to: the domain in lower case, the rest as given.

    Pass the canonical address your application stores for uniqueness; this only makes sure that
    ``Ada@Example.ORG`` and ``Ada@example.org`` are the same binding. The local part stays case
    sensitive, as mail servers may treat it so.
    """
    at = email.rfind("@")
    if at < 0:
        return email
    return email[:at] + email[at:].lower()


def _binding(material: _KeyMaterial, email: str, state: str | bytes) -> bytes:
    """The keyed digest of the bound address (see :func:`bound_email`), length first, and state."""
    local, at, domain = email.rpartition("@")
    address = (local + at + domain.lower()).encode() if at else email.encode()
    digest = material.binding.copy()
    digest.update(
        b"%s%s%s"
        % (_LENGTH.pack(len(address)), address, state.encode() if isinstance(state, str) else state)
    )
    return digest.digest()


def _secret_problem(secret: object) -> str | None:
    if not isinstance(secret, bytes):
        return "the secret must be bytes"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"the secret must have at least {MIN_SECRET_LENGTH} bytes, it has {len(secret)}"
    return None


def _kid_problem(kid: object) -> str | None:
    if not isinstance(kid, str) or not _KID_PATTERN.fullmatch(kid):
        return f"a key id must be 1 to {MAX_KID_LENGTH} ASCII letters, digits, '.', '_' or '-'"
    return None


@attrs.frozen(repr=False)
class _KeyMaterial:
    """The per-key contexts, ready to be copied for each use (deriving them costs microseconds)."""

    kid: bytes
    name: str
    mac: crypto_hmac.HMAC
    binding: hashlib.blake2b


@attrs.frozen
class SigningKey:
    """A secret with its key id (``kid``); the kid travels in each token, the secret never does.

    Make one with :meth:`generate` and keep its :meth:`to_string` form in your secret store.
    """

    kid: str
    secret: bytes = attrs.field(repr=False)
    _material: _KeyMaterial = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        problem = _kid_problem(self.kid) or _secret_problem(self.secret)
        if problem is not None:
            raise ConfigurationError(key="tokens.keys", reason=problem)
        derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_HKDF_INFO).derive(
            self.secret
        )
        material = _KeyMaterial(
            kid=self.kid.encode("ascii"),
            name=self.kid,
            mac=crypto_hmac.HMAC(derived[:32], hashes.SHA256()),
            binding=hashlib.blake2b(key=derived[32:], digest_size=_BINDING_LENGTH),
        )
        object.__setattr__(self, "_material", material)

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        """A new key with 32 random bytes from the operating system's CSPRNG."""
        return cls(kid, secrets.token_bytes(MIN_SECRET_LENGTH))

    @classmethod
    def from_string(cls, entry: str, *, key: str = "tokens.keys") -> SigningKey:
        """Parse ``"kid:base64url-secret"``; ``key`` names the setting in errors."""
        if not isinstance(entry, str) or ":" not in entry:
            raise ConfigurationError(key=key, reason="expected 'kid:base64url-secret'")
        kid, _, encoded = entry.partition(":")
        return cls._from_parts(kid.strip(), encoded.strip(), key=key)

    @classmethod
    def _from_parts(cls, kid: str, encoded: object, *, key: str) -> SigningKey:
        problem = _kid_problem(kid)
        if problem is not None:
            raise ConfigurationError(key=key, reason=problem)
        if not isinstance(encoded, str) or not _SECRET_PATTERN.fullmatch(encoded):
            raise ConfigurationError(key=key, reason="the secret must be base64url text")
        stripped = encoded.rstrip("=").encode("ascii")
        if len(stripped) % 4 == 1:
            raise ConfigurationError(key=key, reason="the secret must be base64url text")
        secret = binascii.a2b_base64(stripped.translate(_TO_STANDARD) + _PADDING[len(stripped) % 4])
        problem = _secret_problem(secret)
        if problem is not None:
            raise ConfigurationError(key=key, reason=problem)
        return cls(kid, secret)

    def to_string(self) -> str:
        """``"kid:base64url-secret"``, the form :meth:`from_string` reads. This is secret."""
        encoded = binascii.b2a_base64(self.secret, newline=False).translate(_TO_URLSAFE)
        return self.kid + ":" + encoded.rstrip(b"=").decode("ascii")


def _key_tuple(value: Iterable[SigningKey] | SigningKey) -> tuple[SigningKey, ...]:
    if isinstance(value, SigningKey):
        return (value,)
    return tuple(value)


@attrs.frozen
class KeyRing:
    """Signing keys, newest first: ``keys[0]`` signs new tokens, every key verifies.

    To rotate, put a new key in front (:meth:`rotated`) and deploy; tokens signed with the old
    keys keep verifying for as long as those keys stay in the ring.
    """

    keys: tuple[SigningKey, ...] = attrs.field(converter=_key_tuple)
    _by_kid: Mapping[bytes, _KeyMaterial] = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )
    _signing: _KeyMaterial = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError(
                key="tokens.keys", reason="the key ring needs at least one key"
            )
        by_kid: dict[bytes, _KeyMaterial] = {}
        for signing_key in self.keys:
            if not isinstance(signing_key, SigningKey):
                raise ConfigurationError(key="tokens.keys", reason="every key must be a SigningKey")
            kid = signing_key.kid.encode("ascii")
            if kid in by_kid:
                raise ConfigurationError(
                    key="tokens.keys", reason=f"the key id {signing_key.kid!r} appears twice"
                )
            by_kid[kid] = signing_key._material
        object.__setattr__(self, "_by_kid", by_kid)
        object.__setattr__(self, "_signing", self.keys[0]._material)

    @property
    def signing_key(self) -> SigningKey:
        """The key new tokens are signed with: the newest."""
        return self.keys[0]

    @property
    def kids(self) -> tuple[str, ...]:
        """The key ids, newest first."""
        return tuple(signing_key.kid for signing_key in self.keys)

    def rotated(self, new_key: SigningKey, *, keep: int | None = None) -> KeyRing:
        """A ring where ``new_key`` signs and the current keys still verify.

        ``keep`` caps how many of the older keys stay (``keep=2``: the new key and the two newest
        of the old ones); ``None`` keeps all. Links signed with a dropped key stop working.
        """
        if keep is not None and keep < 0:
            raise ValueError("keep must be 0 or more")
        older = self.keys if keep is None else self.keys[:keep]
        return KeyRing((new_key, *older))

    def without(self, kid: str) -> KeyRing:
        """A ring without the key ``kid`` (a leaked key): its links stop working at once."""
        remaining = tuple(signing_key for signing_key in self.keys if signing_key.kid != kid)
        if len(remaining) == len(self.keys):
            raise ValueError(f"the key ring has no key {kid!r}")
        return KeyRing(remaining)

    @classmethod
    def from_strings(cls, entries: Iterable[str] | str, *, key: str = "tokens.keys") -> KeyRing:
        """Read ``"kid:base64url-secret"`` entries, newest first.

        A single string may hold several entries separated by commas (handy in an environment
        variable). ``key`` is the setting's name for errors; entries are named ``key[index]``.
        """
        if isinstance(entries, str):
            entries = [part for part in entries.split(",") if part.strip()]
        if not isinstance(entries, Iterable):
            raise ConfigurationError(key=key, reason="expected a list of 'kid:secret' strings")
        keys = [
            SigningKey.from_string(entry, key=f"{key}[{index}]")
            for index, entry in enumerate(entries)
        ]
        return cls._checked(keys, key=key)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str], *, key: str = "tokens.keys") -> KeyRing:
        """Read a table of kid to base64url secret, newest first (TOML tables keep their order)."""
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(key=key, reason="expected a table of key id to secret")
        keys = [
            SigningKey._from_parts(str(kid), encoded, key=f"{key}.{kid}")
            for kid, encoded in mapping.items()
        ]
        return cls._checked(keys, key=key)

    @classmethod
    def _checked(cls, keys: list[SigningKey], *, key: str) -> KeyRing:
        try:
            return cls(keys)
        except ConfigurationError as error:
            reason = error.params.get("reason", "")
        raise ConfigurationError(key=key, reason=reason)


@attrs.frozen
class VerifiedToken:
    """A token that passed every check: signature, purpose, lifetime and binding."""

    kid: str
    purpose: str
    subject: str
    issued_at: int
    expires_at: int


@attrs.frozen
class PeekedToken:
    """What an unverified-binding token claims: authentic, in time, for this purpose.

    It authorizes nothing: the email and state binding has not been checked, so the link may be
    used up or belong to another address. Use ``subject`` only to load the record the token
    names, then call :meth:`TokenSigner.verify` with that record's state.
    """

    kid: str
    purpose: str
    subject: str
    issued_at: int
    expires_at: int


def _seconds(value: object, *, name: str) -> int:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds or a timedelta")
    return math.ceil(value)


def _config_seconds(value: object, *, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            key=key, reason=f"expected whole seconds from {low} to {high}, got {value!r}"
        )
    return value


def _check_leeway(instance: object, attribute: object, value: int) -> None:
    _config_seconds(value, key="tokens.leeway", low=0, high=MAX_LEEWAY)


def _check_max_ttl(instance: object, attribute: object, value: int) -> None:
    _config_seconds(value, key="tokens.max_ttl", low=1, high=MAX_TTL_LIMIT)


def _rejected(error: type[TokenError]) -> TokenError:
    # The reason only; the token, the key id it names and the caller's inputs stay out of logs.
    logger.debug("token rejected: %s", error.default_message.code)
    return error()


@attrs.frozen
class TokenSigner:
    """Issues and verifies tokens with a :class:`KeyRing`.

    ``leeway`` (0 to 60 seconds, default 30) tolerates clocks that differ between the server that
    issued a token and the one verifying it: a token counts as expired only ``leeway`` seconds
    after its expiry, and one issued up to ``leeway`` seconds "in the future" is accepted.
    ``max_ttl`` (default 30 days) bounds every lifetime, at issue and at verify.
    """

    _SETTINGS: ClassVar[frozenset[str]] = frozenset({"keys", "leeway", "max_ttl"})

    ring: KeyRing
    clock: Clock = attrs.field(default=system_clock, repr=False)
    leeway: int = attrs.field(default=DEFAULT_LEEWAY, validator=_check_leeway)
    max_ttl: int = attrs.field(default=DEFAULT_MAX_TTL, validator=_check_max_ttl)

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, clock: Clock = system_clock, key: str = "tokens"
    ) -> TokenSigner:
        """Read the ``[tokens]`` settings: ``keys`` (a list of ``"kid:secret"`` strings or a
        table of kid to secret, newest first), ``leeway`` and ``max_ttl`` in seconds.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(key=key, reason="expected a table")
        for name in mapping:
            if name not in cls._SETTINGS:
                raise ConfigurationError(key=f"{key}.{name}", reason="unknown setting")
        if "keys" not in mapping:
            raise ConfigurationError(key=f"{key}.keys", reason="missing")
        keys = mapping["keys"]
        if isinstance(keys, Mapping):
            ring = KeyRing.from_mapping(keys, key=f"{key}.keys")
        else:
            ring = KeyRing.from_strings(keys, key=f"{key}.keys")
        leeway = _config_seconds(
            mapping.get("leeway", DEFAULT_LEEWAY), key=f"{key}.leeway", low=0, high=MAX_LEEWAY
        )
        max_ttl = _config_seconds(
            mapping.get("max_ttl", DEFAULT_MAX_TTL), key=f"{key}.max_ttl", low=1, high=MAX_TTL_LIMIT
        )
        return cls(ring, clock=clock, leeway=leeway, max_ttl=max_ttl)

    def issue(
        self,
        purpose: str,
        subject: str,
        *,
        email: str,
        state: str | bytes,
        ttl: int | float | timedelta,
    ) -> str:
        """A token for ``purpose`` naming ``subject``, bound to ``email`` and ``state``.

        ``ttl`` (seconds or a timedelta, rounded up to whole seconds) is required and must be from
        1 second to ``max_ttl``. ``email`` should be the canonical address you store (see
        :func:`bound_email`); ``state`` a string or bytes that changes whenever the token must stop
        working, such as ``"registration:42:pending_confirmation:v3"``. The arguments come from
        your code, never from a request, so a bad one is a bug and raises :class:`ValueError`.
        """
        lifetime = ttl if type(ttl) is int else _seconds(ttl, name="ttl")
        purpose_bytes = purpose.encode()
        subject_bytes = subject.encode()
        now = self.clock()
        if not (
            0 < lifetime <= self.max_ttl
            and 0 < len(purpose_bytes) <= MAX_PURPOSE_LENGTH
            and 0 < len(subject_bytes) <= MAX_SUBJECT_LENGTH
            and 0 <= now < 2**63
        ):
            raise ValueError(self._issue_problem(lifetime, purpose_bytes, subject_bytes, now))
        material = self.ring._signing
        kid = material.kid
        head = _HEAD.pack(
            _VERSION,
            len(kid),
            len(purpose_bytes),
            int(now),
            lifetime,
            _binding(material, email, state),
        )
        payload = head + kid + purpose_bytes + subject_bytes
        mac = material.mac.copy()
        mac.update(payload)
        encoded = binascii.b2a_base64(payload + mac.finalize(), newline=False)
        return encoded.translate(_TO_URLSAFE).rstrip(b"=").decode()

    def _issue_problem(self, lifetime: int, purpose: bytes, subject: bytes, now: float) -> str:
        if not 0 < lifetime <= self.max_ttl:
            return f"ttl must be from 1 second to tokens.max_ttl ({self.max_ttl} s)"
        if not 0 < len(purpose) <= MAX_PURPOSE_LENGTH:
            return f"purpose must have 1 to {MAX_PURPOSE_LENGTH} UTF-8 bytes"
        if not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
            return f"subject must have 1 to {MAX_SUBJECT_LENGTH} UTF-8 bytes"
        return f"the clock must return seconds since the epoch, not {now!r}"

    def peek(
        self, token: str | bytes, purpose: str, *, max_age: int | float | timedelta | None = None
    ) -> PeekedToken:
        """Check signature, purpose and lifetime, but NOT the email and state binding.

        This authorizes nothing. It exists to read the subject of a link (which registration it
        names) so you can load that record and then :meth:`verify` against its state.
        """
        kid, _, subject, issued_at, expires_at, _ = self._open(token, purpose, max_age)
        return PeekedToken(kid, purpose, subject, issued_at, expires_at)

    def verify(
        self,
        token: str | bytes,
        purpose: str,
        *,
        email: str,
        state: str | bytes,
        max_age: int | float | timedelta | None = None,
    ) -> VerifiedToken:
        """Check everything and return the token's claims, or raise a :class:`TokenError`.

        ``max_age`` (seconds) shortens the lifetime the token was issued with, never lengthens
        it. Errors: :class:`TokenMalformed`, :class:`TokenBadSignature` (also for an unknown key
        id), :class:`TokenWrongPurpose`, :class:`TokenExpired` (:class:`TokenNotYetValid` for a
        token from the future) and :class:`TokenStaleState` (other address or changed state).
        """
        kid, material, subject, issued_at, expires_at, binding = self._open(token, purpose, max_age)
        if not _stdlib_hmac.compare_digest(_binding(material, email, state), binding):
            raise _rejected(TokenStaleState)
        return VerifiedToken(kid, purpose, subject, issued_at, expires_at)

    def _open(
        self, token: object, purpose: str, max_age: int | float | timedelta | None
    ) -> tuple[str, _KeyMaterial, str, int, int, bytes]:
        """Parse, authenticate, then check purpose and lifetime; the binding is the caller's."""
        age_cap = 0
        if max_age is not None:
            age_cap = _seconds(max_age, name="max_age")
            if age_cap <= 0:
                raise ValueError("max_age must be more than 0 seconds")

        # Parse the structure; nothing in it is believed yet. The length comes first, so a huge
        # input costs nothing. No error is raised inside an ``except`` block, so none carries the
        # token along as its context.
        if type(token) is str:
            if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
                raise _rejected(TokenMalformed)
            text = token.encode()
        elif isinstance(token, (bytes, bytearray, memoryview)):
            if len(token) > MAX_TOKEN_LENGTH:
                raise _rejected(TokenMalformed)
            text = bytes(token)
        else:
            raise _rejected(TokenMalformed)
        # Only the canonical encoding is accepted, so that no two strings carry the same token:
        # nothing outside the URL-safe alphabet, and no set bits where the last character has
        # bits to spare.
        size = len(text)
        if size < _MIN_TOKEN_LENGTH or text[-1] not in _CANONICAL_LAST[size & 3]:
            raise _rejected(TokenMalformed)
        standard = text.translate(_FROM_TOKEN)
        if b"!" in standard:
            raise _rejected(TokenMalformed)
        raw = binascii.a2b_base64(standard + _PADDING[size & 3])
        size = len(raw)
        version, kid_length, purpose_length, issued_at, lifetime, binding = _HEAD.unpack_from(raw)
        kid_end = _HEAD.size + kid_length
        purpose_end = kid_end + purpose_length
        tag_start = size - _TAG_LENGTH
        if version != _VERSION or purpose_end >= tag_start:
            raise _rejected(TokenMalformed)

        # Authenticate: the key the token names, then its tag, compared in constant time.
        material = self.ring._by_kid.get(raw[_HEAD.size : kid_end])
        if material is None:
            raise _rejected(TokenBadSignature)
        mac = material.mac.copy()
        mac.update(raw[:tag_start])
        tag = raw[tag_start:]
        authentic = True
        try:
            mac.verify(tag)
        except InvalidSignature:
            authentic = False
        if not authentic:
            raise _rejected(TokenBadSignature)

        # Purpose, then lifetime, read from authenticated bytes only.
        if raw[kid_end:purpose_end] != purpose.encode():
            raise _rejected(TokenWrongPurpose)
        if lifetime > self.max_ttl:
            lifetime = self.max_ttl
        if age_cap and lifetime > age_cap:
            lifetime = age_cap
        expires_at = issued_at + lifetime
        now = self.clock()
        leeway = self.leeway
        if issued_at > now + leeway:
            raise _rejected(TokenNotYetValid)
        if now >= expires_at + leeway:
            raise _rejected(TokenExpired)
        return (
            material.name,
            material,
            raw[purpose_end:tag_start].decode(),
            issued_at,
            expires_at,
            binding,
        )
