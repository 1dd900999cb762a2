"""Partner codes: the code a partner's people enter to sign up under that partner.

An operator registers a partner and hands out a code; a person signing up enters it, and the
sign-up is tied to that partner. Codes come from two places:

* the built-in :class:`PartnerRegistry`: codes the operator issued, stored as keyed digests;
* provider plugins implementing ``onboardkit_resolve_partner_code``, which look partners up in a
  remote system (see the ``onboardkit-partner-http`` distribution).

:class:`PartnerCodes` asks both through the plugin manager, in a bounded worker pool with a time
limit, and fails closed: a provider that raises or hangs gives ``partner_code.unavailable``, a code
nobody knows gives ``partner_code.invalid``. :meth:`PartnerCodes.resolve` checks a code (form
time); :meth:`PartnerCodes.redeem` checks it and counts one use (when the sign-up completes).

Registry codes look like ``7K3M-Q9XR-2B4T-8HWM``: 15 random symbols of Crockford's base32 alphabet
(no I, L, O, U) and Crockford's mod-37 check symbol, in groups of four.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import math
import secrets
import threading
import time
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Final, Literal, NoReturn, Protocol, TypeAlias

import attrs
from cryptography.hazmat.primitives import hashes, hmac

from onboardkit import hookimpl
from onboardkit.clock import Clock, system_clock
from onboardkit.errors import (
    ConfigurationError,
    Issue,
    OnboardkitError,
    PartnerCodeError,
    PartnerProviderError,
    ValidationError,
    message,
)

if TYPE_CHECKING:
    from onboardkit.plugins import Plugins

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "MAX_INPUT_LENGTH",
    "REGISTRY_PLUGIN_NAME",
    "REGISTRY_SOURCE",
    "DetailValue",
    "Partner",
    "PartnerCodeRecord",
    "PartnerCodeStore",
    "PartnerCodes",
    "PartnerRegistry",
    "Refusal",
    "check_symbol",
    "format_code",
    "generate_code",
    "normalize_code",
]

log = logging.getLogger(__name__)

# -- messages --------------------------------------------------------------------------------

MISTYPED = message(
    "partner_code.mistyped",
    "This partner code contains a typo. Please check it character by character.",
)
PARTNER_INVALID = message("partner.invalid", "The partner data is not valid.")
PARTNER_NOT_MAPPING = message("partner.not_mapping", "Partner data must be a mapping.")
PARTNER_TEXT = message(
    "partner.text_invalid",
    "Enter a text of 1 to {max_length} characters without control characters.",
)
PARTNER_DETAILS = message(
    "partner.details_invalid",
    "Details must be a mapping of at most {max_entries} entries with names of 1 to "
    "{max_length} characters.",
)
PARTNER_DETAIL = message(
    "partner.detail_invalid",
    "A detail must be a text of at most {max_length} characters, a finite number, true, false "
    "or empty.",
)
MAX_USES_INVALID = message(
    "partner_code.max_uses_invalid", "The number of uses must be a whole number of at least 1."
)
EXPIRY_PAST = message("partner_code.expiry_past", "The expiry must lie in the future.")

# -- the code format -------------------------------------------------------------------------

#: Crockford's base32 symbols: digits and letters without I, L, O and U.
ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Crockford's check symbols for the values 0 to 36; codes are generated so that theirs is always
#: one of the first 32, so a code never contains ``*~$=U``.
_CHECK_SYMBOLS: Final = ALPHABET + "*~$=U"
_VALUES: Final = {symbol: value for value, symbol in enumerate(ALPHABET)}
#: What people type for what they see: O for zero, I and L for one, U for V.
_LOOK_ALIKES: Final = {"O": "0", "I": "1", "L": "1", "U": "V"}
_DATA_LENGTH: Final = 15
#: Symbols of a code, check symbol included.
CODE_LENGTH: Final = _DATA_LENGTH + 1
_GROUP: Final = 4
#: Longer input is refused before anything else looks at it.
MAX_INPUT_LENGTH: Final = 64


def _check_value(symbols: str) -> int:
    # The code read as one base-32 number, modulo the prime 37: changing one symbol changes the
    # number by d * 32**k with 0 < |d| < 32, which 37 never divides, so the check always changes.
    value = 0
    for symbol in symbols:
        value = (value * 32 + _VALUES[symbol]) % 37
    return value


def check_symbol(symbols: str) -> str:
    """Crockford's mod-37 check symbol of ``symbols`` (upper-case symbols of :data:`ALPHABET`).

    :raises ValueError: when ``symbols`` holds anything else.
    """
    unknown = set(symbols) - set(ALPHABET)
    if unknown:
        raise ValueError("check_symbol takes symbols of ALPHABET only")
    return _CHECK_SYMBOLS[_check_value(symbols)]


def _code_symbols(text: str) -> str | None:
    """The code's symbols after forgiving case, separators and look-alikes, or ``None``.

    ``None`` means the text does not have the shape of a registry code at all (wrong length or
    characters); the check symbol is not looked at here.
    """
    if len(text) > MAX_INPUT_LENGTH:
        return None
    symbols: list[str] = []
    for character in unicodedata.normalize("NFKC", text):
        # Spaces, dashes of every kind and invisible format characters (soft hyphen, zero-width
        # space) come with copy and paste; they never carry meaning.
        if character.isspace() or unicodedata.category(character) in ("Pd", "Cf"):
            continue
        if not character.isascii():
            return None
        symbol = character.upper()
        symbol = _LOOK_ALIKES.get(symbol, symbol)
        if symbol not in _VALUES or len(symbols) == CODE_LENGTH:
            return None
        symbols.append(symbol)
    return "".join(symbols) if len(symbols) == CODE_LENGTH else None


def _check_holds(symbols: str) -> bool:
    return _VALUES[symbols[-1]] == _check_value(symbols[:-1])


def normalize_code(text: str) -> str:
    """The canonical form of a registry code (16 upper-case symbols, no separators).

    Forgives case, spaces, hyphens and look-alike characters (O for 0, I and L for 1, U for V).

    :raises PartnerCodeError: ``partner_code.invalid`` when ``text`` is not shaped like a code,
        ``partner_code.mistyped`` when the check symbol does not match (a typo).
    """
    symbols = _code_symbols(text)
    if symbols is None:
        raise PartnerCodeError()
    if not _check_holds(symbols):
        raise PartnerCodeError(MISTYPED)
    return symbols


def format_code(text: str) -> str:
    """A code for display: ``7K3M-Q9XR-2B4T-8HWM``. Takes any input :func:`normalize_code` takes."""
    symbols = normalize_code(text)
    return "-".join(symbols[start : start + _GROUP] for start in range(0, CODE_LENGTH, _GROUP))


def generate_code() -> str:
    """A new random code for display, from :mod:`secrets`.

    Codes whose check value would need one of Crockford's five extra check symbols are drawn
    again, so about 74.8 of the 75 random bits remain.
    """
    while True:
        data = "".join(secrets.choice(ALPHABET) for _ in range(_DATA_LENGTH))
        value = _check_value(data)
        if value < len(ALPHABET):
            return format_code(data + ALPHABET[value])


# -- partners --------------------------------------------------------------------------------

#: The values a partner's details may hold: what JSON calls scalars.
DetailValue: TypeAlias = str | int | float | bool | None

#: ``Partner.source`` of partners from the built-in registry.
REGISTRY_SOURCE: Final = "registry"
_MAX_TEXT: Final = 200
_MAX_DETAILS: Final = 32
_MAX_DETAIL_NAME: Final = 64
_MAX_DETAIL_TEXT: Final = 1000


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(character) == "Cc" for character in text)


def _is_text(value: object, max_length: int) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and bool(value.strip())
        and not _has_control_characters(value)
    )


def _is_detail_value(value: object) -> bool:
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return (
        isinstance(value, str)
        and len(value) <= _MAX_DETAIL_TEXT
        and not _has_control_characters(value)
    )


def _partner_issues(partner_id: object, name: object, details: object) -> list[Issue]:
    issues = [
        Issue(path, PARTNER_TEXT, {"max_length": _MAX_TEXT})
        for path, value in (("id", partner_id), ("name", name))
        if not _is_text(value, _MAX_TEXT)
    ]
    if not isinstance(details, Mapping) or len(details) > _MAX_DETAILS:
        issues.append(_details_issue())
        return issues
    if not all(_is_text(key, _MAX_DETAIL_NAME) for key in details):
        issues.append(_details_issue())
        return issues
    issues += [
        Issue(f"details.{key}", PARTNER_DETAIL, {"max_length": _MAX_DETAIL_TEXT})
        for key, value in details.items()
        if not _is_detail_value(value)
    ]
    return issues


def _details_issue() -> Issue:
    return Issue(
        "details", PARTNER_DETAILS, {"max_entries": _MAX_DETAILS, "max_length": _MAX_DETAIL_NAME}
    )


def _frozen_details(value: Mapping[str, DetailValue]) -> Mapping[str, DetailValue]:
    return MappingProxyType(dict(value))


@attrs.frozen(eq=True, hash=False)
class Partner:
    """A partner organization a sign-up belongs to, as a code resolved it.

    :param id: The partner's id in the system that knows it (the registry or a provider).
    :param name: Its display name (1 to 200 characters, no control characters).
    :param tenant: The tenant the partner belongs to.
    :param source: Who answered: ``"registry"`` or the provider's name (``"http"``).
    :param details: A few more facts (at most 32; JSON scalars), read-only.
    :raises ValidationError: ``partner.invalid`` with an issue per bad value.
    """

    id: str
    name: str
    tenant: str
    source: str = REGISTRY_SOURCE
    details: Mapping[str, DetailValue] = attrs.field(factory=dict, converter=_frozen_details)

    def __attrs_post_init__(self) -> None:
        issues = _partner_issues(self.id, self.name, self.details)
        if issues:
            raise ValidationError(issues, PARTNER_INVALID)

    @classmethod
    def from_mapping(cls, data: object, *, tenant: str, source: str) -> Partner:
        """A partner from untrusted data (a provider's JSON): keys ``id``, ``name``, ``details``.

        ``tenant`` and ``source`` come from the caller, never from the data. Other keys are
        ignored.

        :raises ValidationError: ``partner.invalid``, one issue per problem, by path (``name``,
            ``details.<name>``).
        """
        if not isinstance(data, Mapping):
            raise ValidationError([Issue("", PARTNER_NOT_MAPPING)], PARTNER_INVALID)
        partner_id, name, details = data.get("id"), data.get("name"), data.get("details")
        if details is None:
            details = {}
        issues = _partner_issues(partner_id, name, details)
        if issues:
            raise ValidationError(issues, PARTNER_INVALID)
        assert isinstance(partner_id, str)
        assert isinstance(name, str)
        assert isinstance(details, Mapping)
        return cls(id=partner_id, name=name, tenant=tenant, source=source, details=details)


# -- storage ---------------------------------------------------------------------------------

#: Why a code was refused; for operators (logs, :meth:`PartnerRegistry.inspect`), never users.
Refusal = Literal["unknown", "revoked", "expired", "used_up"]


@attrs.frozen
class PartnerCodeRecord:
    """One issued code as stored: its keyed digest, never the code itself.

    :param tenant: The tenant the code is valid in.
    :param digest: HMAC-SHA256 (hex) of the canonical code under the registry's secret.
    :param hint: The code's last four symbols, for operators telling codes apart.
    :param partner: The partner the code belongs to.
    :param created_at: When it was issued (seconds since the epoch).
    :param expires_at: From when on it is refused, or ``None``.
    :param max_uses: How many sign-ups may redeem it, or ``None`` for no limit.
    :param uses: How many have.
    :param revoked_at: When an operator revoked it, or ``None``.
    """

    tenant: str
    digest: str
    hint: str
    partner: Partner
    created_at: float
    expires_at: float | None = None
    max_uses: int | None = None
    uses: int = 0
    revoked_at: float | None = None

    def refusal(self, now: float) -> Refusal | None:
        """Why the code cannot be used at ``now``, or ``None`` when it can."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "used_up"
        return None


class PartnerCodeStore(Protocol):
    """Where :class:`PartnerRegistry` keeps its codes; records are keyed by tenant and digest.

    :class:`onboardkit.testing.partners.InMemoryPartnerCodeStore` is one for tests; a database
    store implements the same four methods. Stores are called from :class:`PartnerCodes`' worker
    threads, so must be thread-safe. ``onboardkit.testing.partners.PartnerCodeStoreContract``
    tests an implementation.
    """

    def add(self, record: PartnerCodeRecord) -> None:
        """Store a new record; raise (any exception) if the tenant has one with its digest."""

    def find(self, tenant: str, digest: str) -> PartnerCodeRecord | None:
        """The record with this digest in this tenant, or ``None``."""

    def consume(self, tenant: str, digest: str, now: float) -> bool:
        """Count one use, atomically, if the code is usable at ``now``; say whether it was.

        Usable means: not revoked, ``expires_at`` unset or later than ``now``, ``max_uses`` unset
        or above ``uses``. Check and increment must be one step (in SQL:
        ``UPDATE ... SET uses = uses + 1 WHERE ... AND (max_uses IS NULL OR uses < max_uses)``
        and test the row count), so concurrent sign-ups never exceed the limit.
        """

    def revoke(self, tenant: str, digest: str, now: float) -> bool:
        """Mark the record revoked at ``now``; ``False`` if unknown or already revoked."""


# -- the registry ----------------------------------------------------------------------------

#: The name to register the registry under in :class:`onboardkit.plugins.Plugins`.
REGISTRY_PLUGIN_NAME: Final = "onboardkit.partner_registry"
_MIN_SECRET_BYTES: Final = 32
_DIGEST_CONTEXT: Final = b"onboardkit.partner_code\x00"


def _secret_keys(secret: bytes | str | Sequence[bytes | str]) -> tuple[bytes, ...]:
    listed = [secret] if isinstance(secret, (bytes, str)) else list(secret)
    keys = tuple(key.encode() if isinstance(key, str) else key for key in listed)
    if not keys:
        raise ConfigurationError(key="partner_registry.secret", reason="no secret is given")
    if any(len(key) < _MIN_SECRET_BYTES for key in keys):
        raise ConfigurationError(
            key="partner_registry.secret",
            reason=f"each secret must be at least {_MIN_SECRET_BYTES} bytes long",
        )
    return keys


class PartnerRegistry:
    """Partner codes the operator issues, and the built-in resolver for them.

    Only a keyed digest of each code is stored (HMAC-SHA256 under ``secret``, a server-side
    pepper) plus a four-symbol hint, so a leaked database holds no usable code. The plain code is
    returned once, by :meth:`create` or :meth:`issue`.

    Register it with the plugin manager; it answers before any provider plugin::

        plugins.register(registry, name=REGISTRY_PLUGIN_NAME)

    :param store: Where records live.
    :param secret: The pepper (at least 32 bytes), or several: the first digests new codes, all
        are tried on lookup, so the pepper can be rotated without voiding issued codes.
    :param clock: The time source for expiry.
    :param reject_mistyped: Refuse input shaped like a registry code whose check symbol fails
        (``partner_code.mistyped``) without asking anyone. Turn off when a provider's codes can
        have the same shape (16 symbols of :data:`ALPHABET`); such input then goes on to the
        providers.
    :raises ConfigurationError: ``partner_registry.secret`` when a secret is missing or short.
    """

    def __init__(
        self,
        store: PartnerCodeStore,
        secret: bytes | str | Sequence[bytes | str],
        clock: Clock = system_clock,
        *,
        reject_mistyped: bool = True,
    ) -> None:
        self._store = store
        self._keys = _secret_keys(secret)
        self._clock = clock
        self.reject_mistyped = reject_mistyped

    @classmethod
    def from_mapping(
        cls, store: PartnerCodeStore, data: Mapping[str, object], *, clock: Clock = system_clock
    ) -> PartnerRegistry:
        """A registry from the ``[partner_registry]`` settings: ``secret``, ``reject_mistyped``.

        ``secret`` is a string or a list of strings (newest first).

        :raises ConfigurationError: naming the bad key (``partner_registry.secret``).
        """
        _refuse_unknown_keys("partner_registry", data, {"secret", "reject_mistyped"})
        secret = data.get("secret")
        if isinstance(secret, str) or (
            isinstance(secret, list) and all(isinstance(item, str) for item in secret)
        ):
            keys: str | list[str] = secret
        else:
            raise ConfigurationError(
                key="partner_registry.secret", reason="must be a string or a list of strings"
            )
        reject_mistyped = data.get("reject_mistyped", True)
        if not isinstance(reject_mistyped, bool):
            raise ConfigurationError(
                key="partner_registry.reject_mistyped", reason="must be true or false"
            )
        return cls(store, keys, clock, reject_mistyped=reject_mistyped)

    def _digest(self, key: bytes, tenant: str, symbols: str) -> str:
        encoded_tenant = tenant.encode()
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(_DIGEST_CONTEXT)
        mac.update(len(encoded_tenant).to_bytes(4, "big") + encoded_tenant)
        mac.update(symbols.encode("ascii"))
        return mac.finalize().hex()

    def _find(self, tenant: str, symbols: str) -> PartnerCodeRecord | None:
        for key in self._keys:
            record = self._store.find(tenant, self._digest(key, tenant, symbols))
            if record is not None:
                return record
        return None

    def create(
        self,
        tenant: str,
        name: str,
        details: Mapping[str, DetailValue] | None = None,
        *,
        partner_id: str | None = None,
        expires_at: float | None = None,
        max_uses: int | None = None,
    ) -> tuple[Partner, str]:
        """Register a partner and issue its first code.

        :param partner_id: The partner's id; a random one by default.
        :param expires_at: When the code stops working (seconds since the epoch), or never.
        :param max_uses: How many sign-ups may redeem the code, or no limit.
        :return: The partner and the plain code for display. Show it once: it is not stored.
        :raises ValidationError: ``partner.invalid`` or ``validation.failed`` with an issue per
            bad argument (``name``, ``details.<name>``, ``expires_at``, ``max_uses``).
        """
        partner = Partner(
            id=uuid.uuid4().hex if partner_id is None else partner_id,
            name=name,
            tenant=tenant,
            source=REGISTRY_SOURCE,
            details=details or {},
        )
        return partner, self.issue(partner, expires_at=expires_at, max_uses=max_uses)

    def issue(
        self, partner: Partner, *, expires_at: float | None = None, max_uses: int | None = None
    ) -> str:
        """Issue another code for ``partner`` (a replacement for a revoked one, say).

        :return: The plain code for display; only its digest is stored.
        :raises ValidationError: an issue at ``expires_at`` or ``max_uses``.
        """
        now = self._clock()
        issues: list[Issue] = []
        if expires_at is not None and expires_at <= now:
            issues.append(Issue("expires_at", EXPIRY_PAST))
        if max_uses is not None and (
            isinstance(max_uses, bool) or not isinstance(max_uses, int) or max_uses < 1
        ):
            issues.append(Issue("max_uses", MAX_USES_INVALID))
        if issues:
            raise ValidationError(issues)
        code = generate_code()
        symbols = normalize_code(code)
        self._store.add(
            PartnerCodeRecord(
                tenant=partner.tenant,
                digest=self._digest(self._keys[0], partner.tenant, symbols),
                hint=symbols[-4:],
                partner=attrs.evolve(partner, source=REGISTRY_SOURCE),
                created_at=now,
                expires_at=expires_at,
                max_uses=max_uses,
            )
        )
        return code

    def inspect(self, tenant: str, code: str) -> PartnerCodeRecord | None:
        """The stored record for ``code`` (for support staff: ``record.refusal(now)`` says why
        it is refused), or ``None`` when it was never issued in ``tenant``.

        :raises PartnerCodeError: when ``code`` is not a registry code or is mistyped.
        """
        return self._find(tenant, normalize_code(code))

    def revoke(self, tenant: str, code: str) -> bool:
        """Revoke ``code`` for good; ``False`` if it is unknown or already revoked.

        :raises PartnerCodeError: when ``code`` is not a registry code or is mistyped.
        """
        record = self.inspect(tenant, code)
        return record is not None and self._store.revoke(tenant, record.digest, self._clock())

    def redeem(self, tenant: str, code: str) -> Partner:
        """Count one use of ``code`` and return its partner (when a sign-up completes).

        :raises PartnerCodeError: ``partner_code.invalid`` when unknown, expired, revoked or used
            up (also when the last use went to a concurrent sign-up); ``partner_code.mistyped``.
        """
        symbols = normalize_code(code)
        record = self._find(tenant, symbols)
        if record is None:
            _refuse(tenant, "unknown")
        self._refuse_unusable(record)
        if not self._store.consume(tenant, record.digest, self._clock()):
            current = self._store.find(tenant, record.digest)
            refusal = None if current is None else current.refusal(self._clock())
            _refuse(tenant, refusal or "used_up", record)
        return record.partner

    def _refuse_unusable(self, record: PartnerCodeRecord) -> None:
        refusal = record.refusal(self._clock())
        if refusal is not None:
            _refuse(record.tenant, refusal, record)

    @hookimpl(tryfirst=True)
    def onboardkit_resolve_partner_code(self, tenant: str, code: str) -> Partner | None:
        """The partner of a registry code; ``None`` for codes the registry does not know."""
        symbols = _code_symbols(code)
        if symbols is None:
            return None
        if not _check_holds(symbols):
            if self.reject_mistyped:
                raise PartnerCodeError(MISTYPED)
            return None
        record = self._find(tenant, symbols)
        if record is None:
            return None
        self._refuse_unusable(record)
        return record.partner


def _refuse(tenant: str, refusal: Refusal, record: PartnerCodeRecord | None = None) -> NoReturn:
    """Raise the one generic refusal; the reason goes to the operators' log only."""
    extra = {"partner_code_refusal": refusal}
    if record is None:
        log.info("partner code refused in tenant %r: %s", tenant, refusal, extra=extra)
    else:
        log.info(
            "partner code refused in tenant %r: %s (partner %r, code ending %s)",
            tenant,
            refusal,
            record.partner.id,
            record.hint,
            extra=extra,
        )
    raise PartnerCodeError()


def _refuse_unknown_keys(section: str, data: Mapping[str, object], known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(key=f"{section}.{unknown[0]}", reason="is not a known setting")


# -- resolution ------------------------------------------------------------------------------


def _describe(error: BaseException) -> str:
    """What the log may say about a provider's exception: its text could hold the code."""
    if isinstance(error, OnboardkitError):
        return f"{type(error).__name__} ({error.code}): {error.message}"
    return f"{type(error).__module__}.{type(error).__qualname__}"


class PartnerCodes:
    """Resolve partner codes through the plugins (the registry first, then providers).

    The hook runs in a pool of at most ``max_workers`` threads and is given ``timeout`` seconds.
    Python cannot stop a thread, so a provider that hangs keeps its worker until it returns. At most
    ``max_workers`` calls run at once; a resolution waits for a free worker within its time limit
    and fails closed when none frees up, so hung providers never pile up threads or queued work.
    Close the instance (or use it as a context manager) when the application shuts down.

    :param plugins: The plugin manager, with the registry registered if codes are issued.
    :param timeout: Seconds to wait for an answer before failing closed.
    :param max_workers: How many resolutions may run (or hang) at the same time.
    :param registry: The registry whose codes :meth:`redeem` counts uses of.
    :raises ConfigurationError: ``partner_codes.timeout`` or ``partner_codes.max_workers``.
    """

    def __init__(
        self,
        plugins: Plugins,
        *,
        timeout: float = 5.0,
        max_workers: int = 8,
        registry: PartnerRegistry | None = None,
    ) -> None:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not (0 < timeout <= 600)
        ):
            raise ConfigurationError(
                key="partner_codes.timeout",
                reason="must be a number of seconds above 0, at most 600",
            )
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ConfigurationError(
                key="partner_codes.max_workers", reason="must be a whole number of at least 1"
            )
        self._plugins = plugins
        self._timeout = float(timeout)
        self._registry = registry
        self._max_workers = max_workers
        self._slots = threading.BoundedSemaphore(max_workers)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="onboardkit-partner-code"
        )

    @classmethod
    def from_mapping(
        cls,
        plugins: Plugins,
        data: Mapping[str, object],
        *,
        registry: PartnerRegistry | None = None,
    ) -> PartnerCodes:
        """Resolution from the ``[partner_codes]`` settings: ``timeout``, ``max_workers``.

        :raises ConfigurationError: naming the bad key (``partner_codes.timeout``).
        """
        _refuse_unknown_keys("partner_codes", data, {"timeout", "max_workers"})
        timeout = data.get("timeout", 5.0)
        max_workers = data.get("max_workers", 8)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise ConfigurationError(key="partner_codes.timeout", reason="must be a number")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise ConfigurationError(key="partner_codes.max_workers", reason="must be a number")
        return cls(plugins, timeout=timeout, max_workers=max_workers, registry=registry)

    def resolve(self, tenant: str, code: str) -> Partner:
        """The partner ``code`` belongs to, without counting a use (to check a form entry).

        :raises PartnerCodeError: ``partner_code.invalid`` when no one knows the code or it is
            expired, revoked or used up; ``partner_code.mistyped`` for a typo in a registry code.
        :raises PartnerProviderError: ``partner_code.unavailable`` when a plugin raised, did not
            answer within the time limit, or answered with something that is not a partner of
            ``tenant``.
        """
        if len(code) > MAX_INPUT_LENGTH:
            _refuse(tenant, "unknown")
        text = code.strip()
        if not text:
            _refuse(tenant, "unknown")
        answer = self._ask_plugins(tenant, text)
        if answer is None:
            _refuse(tenant, "unknown")
        if not isinstance(answer, Partner) or answer.tenant != tenant:
            log.error(
                "a partner-provider plugin answered for tenant %r with %s, not a partner of it",
                tenant,
                type(answer).__name__ if not isinstance(answer, Partner) else "another tenant",
            )
            raise PartnerProviderError()
        return answer

    def redeem(self, tenant: str, code: str) -> Partner:
        """The partner ``code`` belongs to, counting one use (when the sign-up completes).

        Registry codes count towards their ``max_uses``; codes a provider answered for are the
        provider's to limit.

        :raises PartnerCodeError: as :meth:`resolve`, and when the last use was just taken.
        :raises ConfigurationError: ``partner_codes.registry`` for a registry partner when no
            registry was given (its uses could not be counted).
        """
        partner = self.resolve(tenant, code)
        if partner.source != REGISTRY_SOURCE:
            return partner
        if self._registry is None:
            raise ConfigurationError(
                key="partner_codes.registry",
                reason="pass the PartnerRegistry to PartnerCodes so registry codes count uses",
            )
        return self._registry.redeem(tenant, code.strip())

    def _ask_plugins(self, tenant: str, code: str) -> object:
        deadline = time.monotonic() + self._timeout
        # Waiting for a worker counts towards the time limit; when every worker is still held
        # by a provider that has not returned, the wait ends in failing closed, not in a queue.
        if not self._slots.acquire(timeout=self._timeout):
            log.error(
                "partner code for tenant %r refused: all %d workers stayed busy for %s seconds",
                tenant,
                self._max_workers,
                self._timeout,
            )
            raise PartnerProviderError()
        try:
            # The caller's context variables (request ids, tracing) go along into the worker.
            context = contextvars.copy_context()
            future = self._pool.submit(
                context.run, self._plugins.resolve_partner_code, tenant=tenant, code=code
            )
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _done: self._slots.release())
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except PartnerCodeError:
            raise  # a refusal (the registry, or a provider rejecting a code it knows)
        except Exception as error:
            if future.done():
                log.error(
                    "a partner-provider plugin failed for tenant %r: %s", tenant, _describe(error)
                )
            else:
                log.error(
                    "partner-provider plugins did not answer for tenant %r within %s seconds",
                    tenant,
                    self._timeout,
                )
            # No chaining: the provider's exception text could hold the code.
            raise PartnerProviderError() from None

    @property
    def timeout(self) -> float:
        """Seconds a resolution may take before it fails closed."""
        return self._timeout

    @property
    def max_workers(self) -> int:
        """Resolutions that may run at once."""
        return self._max_workers

    def close(self) -> None:
        """Stop taking work; threads held by hung providers end when their call returns."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> PartnerCodes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
