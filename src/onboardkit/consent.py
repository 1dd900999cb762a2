"""Consent: the documents a person agrees to, their decisions, and a ledger that proves them.

GDPR Art. 7 asks the controller to *demonstrate* that a person consented: to which text, in which
version, when and how. Art. 17 asks it to erase personal data on request. This module does both:

* :class:`ConsentDocument` is one text (privacy policy, terms, newsletter) of a tenant in one
  version and one language, identified by the SHA-256 of its exact text;
  :class:`ConsentDocuments` is a tenant's set of them, read from configuration with
  :meth:`ConsentDocuments.from_mapping`.
* :func:`decisions_from_form` and :func:`check_consents` turn a submitted form into decisions and
  refuse a registration that lacks a required consent, naming *every* missing purpose. Optional
  purposes are separate checkboxes, never pre-ticked, and only an explicit "yes" counts
  (:func:`is_explicit_consent`).
* :class:`ConsentLedger` appends :class:`ConsentRecord` events (given, withdrawn, erased) to a
  hash chain per tenant in a :class:`ConsentStore`. The chain covers a keyed pseudonym of the
  person and a keyed digest of the request evidence instead of the personal data itself, so
  :meth:`ConsentLedger.erase` can remove the personal data while the proof and the chain stay
  intact.

Canonical form of a record (what its ``record_hash`` is the SHA-256 of, format 1): a JSON object
with exactly the keys ``format`` (1), ``tenant``, ``sequence``, ``event``, ``subject_pseudonym``,
``purpose``, ``document_version``, ``text_sha256``, ``locale``, ``recorded_at`` (UTC,
``YYYY-MM-DDTHH:MM:SS.ffffffZ``), ``method``, ``evidence_digest`` and ``prev_hash``, serialized
with sorted keys, no white space (separators ``,`` and ``:``), non-ASCII characters unescaped, and
encoded as UTF-8. The first record of a tenant has ``prev_hash`` :data:`GENESIS_HASH`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onboardkit.clock import Clock, system_clock, utc_datetime
from onboardkit.errors import (
    ConfigurationError,
    ConsentError,
    ConsentRequired,
    Issue,
    LedgerIntegrityError,
    message,
)

if TYPE_CHECKING:
    from onboardkit.plugins import Plugins

__all__ = [
    "ACCEPTED_FORM_VALUES",
    "FORMAT_VERSION",
    "GENESIS_HASH",
    "MAX_EVIDENCE_ITEMS",
    "MAX_EVIDENCE_KEY_LENGTH",
    "MAX_EVIDENCE_VALUE_LENGTH",
    "MAX_METHOD_LENGTH",
    "MAX_SUBJECT_LENGTH",
    "MIN_SECRET_BYTES",
    "ChainHead",
    "ConsentChoice",
    "ConsentDocument",
    "ConsentDocuments",
    "ConsentEvent",
    "ConsentLedger",
    "ConsentRecord",
    "ConsentStore",
    "StaleChainHead",
    "bounded_evidence",
    "check_consents",
    "consent_choices",
    "consent_field_name",
    "decisions_from_form",
    "is_explicit_consent",
    "request_evidence",
]

log = logging.getLogger(__name__)

#: Version of the canonical record serialization; part of every hashed record.
FORMAT_VERSION = 1
#: The ``prev_hash`` of a tenant's first record.
GENESIS_HASH = "0" * 64

#: Form values that count as a ticked checkbox (compared case-insensitively, nothing stripped).
ACCEPTED_FORM_VALUES = frozenset({"on", "true", "1", "yes"})

MAX_SUBJECT_LENGTH = 320
MAX_TENANT_LENGTH = 128
MAX_METHOD_LENGTH = 32
MAX_EVIDENCE_ITEMS = 8
MAX_EVIDENCE_KEY_LENGTH = 32
MAX_EVIDENCE_VALUE_LENGTH = 256
MAX_TITLE_LENGTH = 200
MAX_LABEL_LENGTH = 1000
MAX_URL_LENGTH = 2048
#: The ledger secret keys the pseudonyms and evidence digests; it must be at least this long.
MIN_SECRET_BYTES = 32

_PURPOSE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_LOCALE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}")
_METHOD = re.compile(r"[a-z][a-z0-9_]{0,31}")
_EVIDENCE_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ELLIPSIS = "\u2026"

# -- texts ---------------------------------------------------------------------------------------

PURPOSE_REQUIRED = message("consent.purpose_required", "Please agree to “{title}” to continue.")
UNKNOWN_DOCUMENT = message(
    "consent.unknown_document", "There is no consent document {purpose} in version {version}."
)
DUPLICATE_PURPOSE = message(
    "consent.duplicate_purpose", "The consent for {purpose} is shown more than once."
)
WRONG_TENANT = message(
    "consent.wrong_tenant", "This consent document belongs to a different tenant."
)
TENANT_INVALID = message(
    "consent.tenant_invalid",
    "A tenant id must consist of 1 to {max_length} printable characters without spaces.",
)
SUBJECT_INVALID = message(
    "consent.subject_invalid",
    "The person a consent belongs to must be named with 1 to {max_length} printable characters.",
)
METHOD_INVALID = message(
    "consent.method_invalid",
    "The way a consent was given must be named with up to {max_length} lower-case letters, "
    "digits and underscores.",
)
EVIDENCE_INVALID = message(
    "consent.evidence_invalid",
    "The request details kept with a consent must be at most {max_items} text values with short "
    "lower-case names.",
)
CONSENT_BUSY = message(
    "consent.busy", "Your consent could not be recorded right now. Please try again."
)
HEAD_MOVED = message(
    "consent.head_moved", "The consent ledger moved on while a record was being added."
)


class StaleChainHead(ConsentError):
    """A store refused an append because the chain's head is no longer the one it continues.

    Raised by :meth:`ConsentStore.append`; :class:`ConsentLedger` catches it and retries on the
    new head, so callers only see it from a store used directly.
    """

    default_message = HEAD_MOVED


# -- small checks shared by the constructors and the configuration reader -----------------------


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_printable_line(value: str) -> bool:
    # str.isprintable() is False for control, format, surrogate and unassigned characters.
    return value.isprintable()


def _tenant_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "expected text"
    if not 0 < len(value) <= MAX_TENANT_LENGTH:
        return f"expected 1 to {MAX_TENANT_LENGTH} characters"
    if not _is_printable_line(value) or any(ch.isspace() for ch in value):
        return "expected printable characters without spaces"
    return None


def _pattern_problem(value: object, pattern: re.Pattern[str], what: str) -> str | None:
    if not isinstance(value, str):
        return "expected text"
    if pattern.fullmatch(value) is None:
        return what
    return None


def _purpose_problem(value: object) -> str | None:
    return _pattern_problem(
        value, _PURPOSE, "expected 1 to 32 lower-case letters, digits, '-' or '_', letter first"
    )


def _version_problem(value: object) -> str | None:
    return _pattern_problem(
        value, _VERSION, "expected 1 to 32 letters, digits, '.', '-' or '_', no leading symbol"
    )


def _locale_problem(value: object) -> str | None:
    return _pattern_problem(value, _LOCALE, "expected a language tag such as 'en' or 'de-AT'")


def _line_problem(value: object, max_length: int) -> str | None:
    if not isinstance(value, str):
        return "expected text"
    if not value.strip():
        return "must not be empty"
    if len(value) > max_length:
        return f"expected at most {max_length} characters"
    if not _is_printable_line(value):
        return "must be a single line of printable characters"
    return None


def _title_problem(value: object) -> str | None:
    return _line_problem(value, MAX_TITLE_LENGTH)


def _label_problem(value: object) -> str | None:
    return _line_problem(value, MAX_LABEL_LENGTH)


def _text_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "expected text"
    if not value.strip():
        return "must not be empty"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def _url_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "expected text"
    if len(value) > MAX_URL_LENGTH or not _is_printable_line(value) or " " in value:
        return f"expected a URL of at most {MAX_URL_LENGTH} printable characters without spaces"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "expected an absolute http or https URL"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "expected an absolute http or https URL"
    return None


def _sha256_problem(value: object) -> str | None:
    if not isinstance(value, str) or _SHA256_HEX.fullmatch(value.lower()) is None:
        return "expected 64 hexadecimal digits (the SHA-256 of the text)"
    return None


def _raise_value_error(problem: str | None, name: str) -> None:
    if problem is not None:
        raise ValueError(f"{name}: {problem}")


def _locale_key(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


# -- documents -----------------------------------------------------------------------------------


def _default_text_sha256(document: ConsentDocument) -> str:
    return _sha256_hex(document.text) if isinstance(document.text, str) else ""


def _default_label(document: ConsentDocument) -> str:
    return document.title


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


@attrs.frozen
class ConsentDocument:
    """One consent text of a tenant, in one version and one language.

    The text is identified by :attr:`text_sha256`, the SHA-256 (hex) of its exact UTF-8 bytes:
    computed from :attr:`text` when the text is given (and checked against a given hash), and
    required when only a reference (:attr:`url`) is given. :attr:`title` names the document
    (“Privacy policy”), :attr:`label` is the checkbox text (the title unless given).
    """

    tenant: str = attrs.field()
    purpose: str = attrs.field()
    version: str = attrs.field()
    locale: str = attrs.field()
    title: str = attrs.field()
    required: bool = attrs.field()
    text: str | None = attrs.field(default=None, repr=False)
    url: str | None = attrs.field(default=None)
    text_sha256: str = attrs.field(
        default=attrs.Factory(_default_text_sha256, takes_self=True), converter=_lower
    )
    label: str = attrs.field(default=attrs.Factory(_default_label, takes_self=True))

    @tenant.validator
    def _check_tenant(self, _attribute: object, value: object) -> None:
        _raise_value_error(_tenant_problem(value), "tenant")

    @purpose.validator
    def _check_purpose(self, _attribute: object, value: object) -> None:
        _raise_value_error(_purpose_problem(value), "purpose")

    @version.validator
    def _check_version(self, _attribute: object, value: object) -> None:
        _raise_value_error(_version_problem(value), "version")

    @locale.validator
    def _check_locale(self, _attribute: object, value: object) -> None:
        _raise_value_error(_locale_problem(value), "locale")

    @title.validator
    def _check_title(self, _attribute: object, value: object) -> None:
        _raise_value_error(_line_problem(value, MAX_TITLE_LENGTH), "title")

    @required.validator
    def _check_required(self, _attribute: object, value: object) -> None:
        if not isinstance(value, bool):
            raise TypeError("required: expected true or false")

    @text.validator
    def _check_text(self, _attribute: object, value: object) -> None:
        if value is not None:
            _raise_value_error(_text_problem(value), "text")

    @url.validator
    def _check_url(self, _attribute: object, value: object) -> None:
        if value is not None:
            _raise_value_error(_url_problem(value), "url")
        elif self.text is None:
            raise ValueError("a consent document needs its text or a url")

    @text_sha256.validator
    def _check_text_sha256(self, _attribute: object, value: object) -> None:
        if self.text is None and value == "":
            raise ValueError("text_sha256: required when only a url is given")
        _raise_value_error(_sha256_problem(value), "text_sha256")
        if self.text is not None and value != _sha256_hex(self.text):
            raise ValueError("text_sha256: does not match the text")

    @label.validator
    def _check_label(self, _attribute: object, value: object) -> None:
        _raise_value_error(_line_problem(value, MAX_LABEL_LENGTH), "label")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready description without the text itself (its hash identifies it)."""
        return {
            "purpose": self.purpose,
            "version": self.version,
            "locale": self.locale,
            "title": self.title,
            "required": self.required,
            "url": self.url,
            "text_sha256": self.text_sha256,
        }


_DOCUMENTS_KEYS = frozenset({"default_locale", "purposes"})
_PURPOSE_KEYS = frozenset({"required", "versions"})
_VERSION_KEYS = frozenset({"version", "locales"})
_LOCALE_KEYS = frozenset({"title", "label", "text", "url", "sha256"})


def _table(value: object, key: str) -> Mapping[str, Any]:
    if value is None:
        raise ConfigurationError(key=key, reason="missing")
    if not isinstance(value, Mapping):
        raise ConfigurationError(key=key, reason="expected a table")
    return value


def _no_unknown_keys(table: Mapping[str, Any], allowed: frozenset[str], key: str) -> None:
    for name in table:
        if name not in allowed:
            raise ConfigurationError(key=f"{key}.{name}", reason="unknown setting")


def _config_check(problem: str | None, key: str) -> None:
    if problem is not None:
        raise ConfigurationError(key=key, reason=problem)


def _config_text(value: object, problem: Callable[[object], str | None], key: str) -> str:
    _config_check(problem(value), key)
    assert isinstance(value, str)  # every problem function rejects what is not text
    return value


def _document_from_mapping(
    table: Mapping[str, Any],
    key: str,
    *,
    tenant: str,
    purpose: str,
    version: str,
    locale: str,
    required: bool,
) -> ConsentDocument:
    _no_unknown_keys(table, _LOCALE_KEYS, key)
    if "title" not in table:
        raise ConfigurationError(key=f"{key}.title", reason="missing")
    title = _config_text(table["title"], _title_problem, f"{key}.title")
    label = _config_text(table.get("label", title), _label_problem, f"{key}.label")
    if table.get("text") is None and table.get("url") is None:
        raise ConfigurationError(key=f"{key}.text", reason="give the text, or a url and its sha256")
    text = url = None
    if table.get("text") is not None:
        text = _config_text(table["text"], _text_problem, f"{key}.text")
    if table.get("url") is not None:
        url = _config_text(table["url"], _url_problem, f"{key}.url")
    if table.get("sha256") is not None:
        sha256 = _config_text(table["sha256"], _sha256_problem, f"{key}.sha256").lower()
        if text is not None and sha256 != _sha256_hex(text):
            raise ConfigurationError(key=f"{key}.sha256", reason="does not match the text")
    elif text is not None:
        sha256 = _sha256_hex(text)
    else:
        raise ConfigurationError(key=f"{key}.sha256", reason="required when only a url is given")
    return ConsentDocument(
        tenant=tenant,
        purpose=purpose,
        version=version,
        locale=locale,
        title=title,
        label=label,
        required=required,
        text=text,
        url=url,
        text_sha256=sha256,
    )


def _purpose_from_mapping(
    value: object, key: str, *, tenant: str, purpose: str, default_locale: str
) -> list[ConsentDocument]:
    table = _table(value, key)
    _no_unknown_keys(table, _PURPOSE_KEYS, key)
    required = table.get("required")
    if not isinstance(required, bool):
        raise ConfigurationError(key=f"{key}.required", reason="expected true or false")
    versions = table.get("versions")
    if not isinstance(versions, Sequence) or isinstance(versions, str) or not versions:
        raise ConfigurationError(
            key=f"{key}.versions", reason="expected a list of versions, oldest first"
        )
    documents: list[ConsentDocument] = []
    seen_versions: set[str] = set()
    for index, version_value in enumerate(versions):
        version_key = f"{key}.versions[{index}]"
        version_table = _table(version_value, version_key)
        _no_unknown_keys(version_table, _VERSION_KEYS, version_key)
        version = _config_text(
            version_table.get("version"), _version_problem, f"{version_key}.version"
        )
        if version in seen_versions:
            raise ConfigurationError(
                key=f"{version_key}.version", reason="this version is listed twice"
            )
        seen_versions.add(version)
        locales = _table(version_table.get("locales"), f"{version_key}.locales")
        seen_locales: set[str] = set()
        for locale, locale_value in locales.items():
            locale_key = f"{version_key}.locales.{locale}"
            locale = _config_text(locale, _locale_problem, locale_key)
            if _locale_key(locale) in seen_locales:
                raise ConfigurationError(key=locale_key, reason="this locale is listed twice")
            seen_locales.add(_locale_key(locale))
            documents.append(
                _document_from_mapping(
                    _table(locale_value, locale_key),
                    locale_key,
                    tenant=tenant,
                    purpose=purpose,
                    version=version,
                    locale=locale,
                    required=required,
                )
            )
        if _locale_key(default_locale) not in seen_locales:
            raise ConfigurationError(
                key=f"{version_key}.locales.{default_locale}",
                reason="every version needs a text in the default locale",
            )
    return documents


def _pick_locale(
    documents: Sequence[ConsentDocument], locale: str | None
) -> ConsentDocument | None:
    """The document in ``locale``: exact tag, then same language; ``None`` when there is none."""
    if not locale:
        return None
    wanted = _locale_key(locale)
    for document in documents:
        if _locale_key(document.locale) == wanted:
            return document
    language = wanted.split("-", 1)[0].split(".", 1)[0]
    for document in documents:
        if _locale_key(document.locale).split("-", 1)[0] == language:
            return document
    return None


def _check_document_set(
    tenant: str, documents: Sequence[ConsentDocument], default_locale: str
) -> None:
    seen: set[tuple[str, str, str]] = set()
    required: dict[tuple[str, str], bool] = {}
    for document in documents:
        if document.tenant != tenant:
            raise ValueError(f"document {document.purpose} belongs to tenant {document.tenant!r}")
        identity = (document.purpose, document.version, _locale_key(document.locale))
        if identity in seen:
            raise ValueError(
                f"{document.purpose} {document.version} {document.locale} is listed twice"
            )
        seen.add(identity)
        known = required.setdefault((document.purpose, document.version), document.required)
        if known != document.required:
            raise ValueError(f"{document.purpose} {document.version}: 'required' differs by locale")
    for purpose, version in required:
        if (purpose, version, _locale_key(default_locale)) not in seen:
            raise ValueError(f"{purpose} {version} has no text in the default locale")


def _document_tuple(documents: Iterable[ConsentDocument]) -> tuple[ConsentDocument, ...]:
    return tuple(documents)


@attrs.frozen
class ConsentDocuments:
    """A tenant's consent documents: every purpose, every version, every language.

    :attr:`documents` lists the versions of a purpose oldest first; the last version listed is
    the purpose's *current* version. :meth:`current` gives, for a locale, the current version of
    every purpose in that locale (exact tag, then same language, then :attr:`default_locale`).
    An older translation is never shown for a newer version: a version without a text in the
    person's language is shown in the default locale.
    """

    tenant: str
    documents: tuple[ConsentDocument, ...] = attrs.field(converter=_document_tuple)
    default_locale: str = attrs.field(default="en")

    def __attrs_post_init__(self) -> None:
        _raise_value_error(_tenant_problem(self.tenant), "tenant")
        _raise_value_error(_locale_problem(self.default_locale), "default_locale")
        _check_document_set(self.tenant, self.documents, self.default_locale)

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, tenant: str, key: str = "consent"
    ) -> ConsentDocuments:
        """Read a tenant's documents from configuration (a TOML table or a dict).

        Shape (see the consent documentation for a full example)::

            default_locale = "en"
            [purposes.<purpose>]
            required = true
            [[purposes.<purpose>.versions]]          # oldest first
            version = "2024-05"
            [purposes.<purpose>.versions.locales.<locale>]
            title = "..."   label = "..."   text = "..."  # or: url = "..." and sha256 = "..."

        :param tenant: The tenant the documents belong to.
        :param key: Where ``mapping`` sits in the configuration, for error messages.
        :raises ConfigurationError: naming the exact key (``consent.purposes.privacy.versions[0]
            .locales.de.sha256``) of the first problem found.
        """
        _config_check(_tenant_problem(tenant), "tenant")
        table = _table(mapping, key)
        _no_unknown_keys(table, _DOCUMENTS_KEYS, key)
        default_locale = _config_text(
            table.get("default_locale", "en"), _locale_problem, f"{key}.default_locale"
        )
        purposes = _table(table.get("purposes"), f"{key}.purposes")
        if not purposes:
            raise ConfigurationError(key=f"{key}.purposes", reason="declare at least one purpose")
        documents: list[ConsentDocument] = []
        for purpose, purpose_value in purposes.items():
            documents += _purpose_from_mapping(
                purpose_value,
                f"{key}.purposes.{purpose}",
                tenant=tenant,
                purpose=_config_text(purpose, _purpose_problem, f"{key}.purposes.{purpose}"),
                default_locale=default_locale,
            )
        return cls(tenant=tenant, documents=tuple(documents), default_locale=default_locale)

    def purposes(self) -> list[str]:
        """The purposes, in the order they are declared."""
        return list(dict.fromkeys(document.purpose for document in self.documents))

    def versions(self, purpose: str) -> list[str]:
        """The versions of ``purpose``, oldest first."""
        return list(dict.fromkeys(d.version for d in self.documents if d.purpose == purpose))

    def _in_locale(self, purpose: str, version: str, locale: str | None) -> ConsentDocument | None:
        candidates = [d for d in self.documents if d.purpose == purpose and d.version == version]
        return _pick_locale(candidates, locale) or _pick_locale(candidates, self.default_locale)

    def current(self, locale: str | None = None) -> list[ConsentDocument]:
        """The document to show for every purpose: its current version, in ``locale``."""
        shown = []
        for purpose in self.purposes():
            document = self._in_locale(purpose, self.versions(purpose)[-1], locale)
            if document is not None:
                shown.append(document)
        return shown

    def document(self, purpose: str, version: str, locale: str | None = None) -> ConsentDocument:
        """The document of ``purpose`` in ``version`` (a value a form sent back), in ``locale``.

        :raises ConsentError: ``consent.unknown_document`` when there is no such document.
        """
        found = None
        if isinstance(purpose, str) and isinstance(version, str):
            found = self._in_locale(purpose, version, locale)
        if found is None:
            raise ConsentError(
                UNKNOWN_DOCUMENT, purpose=_param_text(purpose), version=_param_text(version)
            )
        return found


def _param_text(value: object, limit: int = 64) -> str:
    """A bounded, printable rendering of an untrusted value for error params."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch for ch in text[: limit * 4] if ch.isprintable())
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


# -- decisions -----------------------------------------------------------------------------------


def is_explicit_consent(value: object) -> bool:
    """Whether a submitted value is an explicit “yes”.

    Only the boolean ``True`` itself and the strings in :data:`ACCEPTED_FORM_VALUES` (``on``,
    ``true``, ``1``, ``yes``; ASCII, any case, nothing stripped) count. Everything else is no
    consent: absence, ``False``, ``None``, numbers (``1`` included), bytes, lists (a multi-valued
    field is ambiguous), empty or padded strings, ``off``/``no``/``0``/``false`` and anything else.
    """
    if value is True:
        return True
    return isinstance(value, str) and value.isascii() and value.lower() in ACCEPTED_FORM_VALUES


def consent_field_name(purpose: str) -> str:
    """The form field of a purpose's checkbox: ``consents.<purpose>`` (also its issue path)."""
    return f"consents.{purpose}"


def _unique_by_purpose(shown: Iterable[ConsentDocument]) -> list[ConsentDocument]:
    documents = list(shown)
    purposes = [document.purpose for document in documents]
    for purpose in purposes:
        if purposes.count(purpose) > 1:
            raise ConsentError(DUPLICATE_PURPOSE, purpose=purpose)
    return documents


def decisions_from_form(
    form: Mapping[str, object], shown: Iterable[ConsentDocument]
) -> dict[str, bool]:
    """The person's decision for every shown purpose, read from its own form field.

    Only the fields of the shown purposes are read (``consents.<purpose>``, see
    :func:`consent_field_name`); any other field is ignored, so there is no way to consent to
    several purposes at once. A missing field is a “no”.
    """
    return {
        document.purpose: is_explicit_consent(form.get(consent_field_name(document.purpose)))
        for document in _unique_by_purpose(shown)
    }


def check_consents(
    shown: Iterable[ConsentDocument], decisions: Mapping[str, object]
) -> list[ConsentDocument]:
    """The shown documents the person consented to; refuses when a required one is missing.

    :param shown: The documents shown to the person, one per purpose.
    :param decisions: The person's decision per purpose; each value goes through
        :func:`is_explicit_consent`, so a missing or non-``True`` value is a “no”.
    :raises ConsentRequired: with one issue at ``consents.<purpose>`` for *every* required
        purpose without an explicit “yes”.
    """
    documents = _unique_by_purpose(shown)
    given = [d for d in documents if is_explicit_consent(decisions.get(d.purpose))]
    missing = [d for d in documents if d.required and d not in given]
    if missing:
        raise ConsentRequired(
            [
                Issue(
                    consent_field_name(d.purpose),
                    PURPOSE_REQUIRED,
                    {"purpose": d.purpose, "version": d.version, "title": d.title},
                )
                for d in missing
            ]
        )
    return given


@attrs.frozen
class ConsentChoice:
    """One checkbox of a consent form: a document, its field and whether it shows as ticked."""

    document: ConsentDocument
    field_name: str
    checked: bool

    @property
    def required(self) -> bool:
        return self.document.required


def consent_choices(
    shown: Iterable[ConsentDocument], decisions: Mapping[str, object] | None = None
) -> list[ConsentChoice]:
    """The checkboxes to render, one per purpose, none ticked unless the person ticked it.

    Pass the person's previous ``decisions`` when showing the form again after an error, so
    what they ticked stays ticked; nothing is ever ticked by default.
    """
    previous = decisions or {}
    return [
        ConsentChoice(
            document=document,
            field_name=consent_field_name(document.purpose),
            checked=is_explicit_consent(previous.get(document.purpose)),
        )
        for document in _unique_by_purpose(shown)
    ]


# -- evidence ------------------------------------------------------------------------------------


def _clean_value(value: str) -> str:
    # Evidence is request metadata, not text the person wrote, so cutting it is acceptable.
    # Control and invisible characters go; every other separator (no-break space, line and
    # paragraph separators) becomes a plain space, so a stored value is one printable line.
    cleaned = "".join(
        " " if category.startswith("Z") else ch
        for ch in value
        if not (category := unicodedata.category(ch)).startswith("C")
    )
    if len(cleaned) > MAX_EVIDENCE_VALUE_LENGTH:
        return cleaned[: MAX_EVIDENCE_VALUE_LENGTH - 1] + _ELLIPSIS
    return cleaned


def bounded_evidence(evidence: Mapping[str, object] | None) -> dict[str, str]:
    """The request evidence as it will be stored.

    At most :data:`MAX_EVIDENCE_ITEMS` entries; names are 1 to 32 lower-case letters, digits and
    underscores (letter first); values are text. Values lose control and other invisible
    characters, other separators become spaces, and values are cut to
    :data:`MAX_EVIDENCE_VALUE_LENGTH` characters (the last one becoming ``…``).

    :raises ConsentError: ``consent.evidence_invalid`` for too many entries, a bad name or a
        value that is not text (the caller built the evidence wrongly; nothing is recorded).
    """
    if evidence is None:
        return {}
    if not isinstance(evidence, Mapping) or len(evidence) > MAX_EVIDENCE_ITEMS:
        raise ConsentError(EVIDENCE_INVALID, max_items=MAX_EVIDENCE_ITEMS)
    bounded: dict[str, str] = {}
    for name, value in evidence.items():
        if not isinstance(name, str) or _EVIDENCE_KEY.fullmatch(name) is None:
            raise ConsentError(EVIDENCE_INVALID, max_items=MAX_EVIDENCE_ITEMS)
        if not isinstance(value, str):
            raise ConsentError(EVIDENCE_INVALID, max_items=MAX_EVIDENCE_ITEMS)
        bounded[name] = _clean_value(value)
    return bounded


def request_evidence(
    client_address: str | None = None, user_agent: str | None = None
) -> dict[str, str]:
    """Minimal evidence of the request a consent came with.

    The client address is reduced to its network (IPv4 ``/24``, IPv6 ``/48``) as
    ``client_network``; an address that does not parse is left out. The user agent is kept as
    ``user_agent``, bounded like every evidence value (see :func:`bounded_evidence`).
    """
    evidence: dict[str, str] = {}
    if isinstance(client_address, str) and len(client_address) <= 64:
        try:
            address = ipaddress.ip_address(client_address.strip())
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address is not None:
            prefix = 24 if address.version == 4 else 48
            network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            evidence["client_network"] = str(network)
    if isinstance(user_agent, str) and user_agent:
        evidence["user_agent"] = user_agent[: MAX_EVIDENCE_VALUE_LENGTH * 4]
    return bounded_evidence(evidence)


# -- records -------------------------------------------------------------------------------------


class ConsentEvent(str, enum.Enum):
    """What a record says happened."""

    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    #: The person's data was erased (Art. 17); the consent ends, the pseudonymous proof stays.
    ERASED = "erased"


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("recorded_at must be an aware datetime")
    return value.astimezone(timezone.utc)


def _frozen_evidence(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if value is None else MappingProxyType(dict(value))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("recorded_at must be an ISO-8601 time")
    return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)


def _canonical_json(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@attrs.frozen(hash=False)
class ConsentRecord:
    """One event of the consent ledger, as stored.

    ``subject`` and ``evidence`` are the personal data; both are ``None`` once the person's data
    was erased (and always on ``erased`` events). The chain covers only their keyed digests,
    ``subject_pseudonym`` and ``evidence_digest``, so erasure leaves every hash valid.

    Stores build records from their rows with :meth:`from_row`; the constructor checks no more
    than types of time, so that a tampered row still loads and :meth:`ConsentLedger.verify`
    reports it.
    """

    sequence: int
    tenant: str
    event: ConsentEvent = attrs.field(converter=ConsentEvent)
    subject: str | None
    subject_pseudonym: str
    purpose: str
    document_version: str
    text_sha256: str
    locale: str
    recorded_at: datetime = attrs.field(converter=_utc)
    method: str
    evidence: Mapping[str, str] | None = attrs.field(converter=_frozen_evidence)
    evidence_digest: str
    prev_hash: str
    record_hash: str

    def canonical_content(self) -> bytes:
        """The bytes ``record_hash`` is the SHA-256 of (see the module documentation)."""
        return _canonical_json(
            {
                "format": FORMAT_VERSION,
                "tenant": self.tenant,
                "sequence": self.sequence,
                "event": self.event.value,
                "subject_pseudonym": self.subject_pseudonym,
                "purpose": self.purpose,
                "document_version": self.document_version,
                "text_sha256": self.text_sha256,
                "locale": self.locale,
                "recorded_at": _iso(self.recorded_at),
                "method": self.method,
                "evidence_digest": self.evidence_digest,
                "prev_hash": self.prev_hash,
            }
        )

    def content_hash(self) -> str:
        """The SHA-256 (hex) of :meth:`canonical_content`; equals ``record_hash`` when intact."""
        return hashlib.sha256(self.canonical_content()).hexdigest()

    @property
    def is_erased(self) -> bool:
        """Whether the personal data of this record was removed."""
        return self.subject is None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of every field (times as ISO-8601 UTC with ``Z``)."""
        return {
            "sequence": self.sequence,
            "tenant": self.tenant,
            "event": self.event.value,
            "subject": self.subject,
            "subject_pseudonym": self.subject_pseudonym,
            "purpose": self.purpose,
            "document_version": self.document_version,
            "text_sha256": self.text_sha256,
            "locale": self.locale,
            "recorded_at": _iso(self.recorded_at),
            "method": self.method,
            "evidence": None if self.evidence is None else dict(self.evidence),
            "evidence_digest": self.evidence_digest,
            "prev_hash": self.prev_hash,
            "record_hash": self.record_hash,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ConsentRecord:
        """A record from a stored row with the keys of :meth:`as_dict`.

        ``recorded_at`` may be an aware datetime or ISO-8601 text; ``evidence`` a mapping, JSON
        text or ``None``.
        """
        evidence = row["evidence"]
        if isinstance(evidence, str):
            evidence = json.loads(evidence)
        return cls(
            sequence=int(row["sequence"]),
            tenant=row["tenant"],
            event=row["event"],
            subject=row["subject"],
            subject_pseudonym=row["subject_pseudonym"],
            purpose=row["purpose"],
            document_version=row["document_version"],
            text_sha256=row["text_sha256"],
            locale=row["locale"],
            recorded_at=_parse_iso(row["recorded_at"]),
            method=row["method"],
            evidence=evidence,
            evidence_digest=row["evidence_digest"],
            prev_hash=row["prev_hash"],
            record_hash=row["record_hash"],
        )


@attrs.frozen
class ChainHead:
    """A position in a tenant's chain: publish it elsewhere to detect later truncation."""

    tenant: str
    sequence: int
    record_hash: str


# -- storage -------------------------------------------------------------------------------------


class ConsentStore(Protocol):
    """Where a ledger keeps its records: one append-only chain per tenant.

    Four operations, each atomic. Records are never updated except by :meth:`erase`, which only
    removes the personal fields; nothing is ever deleted. The reference implementation is
    :class:`onboardkit.testing.consent.InMemoryConsentStore`.
    """

    def head(self, tenant: str) -> ConsentRecord | None:
        """The tenant's record with the highest sequence, or ``None`` for an empty chain."""

    def append(self, record: ConsentRecord) -> None:
        """Add ``record`` if, and only if, it continues the current head (compare-and-append).

        It continues the head when ``record.sequence`` is the head's sequence plus one and
        ``record.prev_hash`` is the head's ``record_hash`` (sequence 1 and :data:`GENESIS_HASH`
        for an empty chain). Otherwise store nothing and raise :class:`StaleChainHead`; the
        ledger then retries on the new head, so concurrent appends never fork the chain. A SQL
        store gets this from a unique index on ``(tenant, sequence)`` plus the ``prev_hash``
        check in the same transaction.
        """

    def records(self, tenant: str, pseudonym: str | None = None) -> Sequence[ConsentRecord]:
        """The tenant's records in sequence order, only those of ``pseudonym`` when given."""

    def erase(self, tenant: str, pseudonym: str, through_sequence: int) -> int:
        """Set ``subject`` and ``evidence`` to ``None`` on the records of ``pseudonym`` with a
        sequence up to ``through_sequence``; every other field stays. Returns how many records
        changed.
        """


# -- the ledger ----------------------------------------------------------------------------------


def _derive_key(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


def _hmac_hex(key: bytes, data: bytes) -> str:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize().hex()


def _latest_by_purpose(records: Iterable[ConsentRecord]) -> dict[str, ConsentRecord]:
    latest: dict[str, ConsentRecord] = {}
    for record in records:
        latest[record.purpose] = record
    return latest


class ConsentLedger:
    """Records consent events in a hash chain per tenant and answers questions about them.

    :param store: Where the records live (see :class:`ConsentStore`).
    :param secret: At least :data:`MIN_SECRET_BYTES` random bytes, kept stable: it keys the
        subject pseudonyms and evidence digests. It is not needed to check the chain's hashes,
        but it is to find a person's records and to check the personal fields.
    :param plugins: Told of every appended record (``onboardkit_consent_recorded``).
    :param clock: The time source (seconds since the epoch).
    :param max_attempts: How often an append is retried when other appends move the head.
    """

    def __init__(
        self,
        store: ConsentStore,
        secret: bytes,
        plugins: Plugins | None = None,
        clock: Clock = system_clock,
        *,
        max_attempts: int = 50,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                key="consent.secret", reason=f"expected at least {MIN_SECRET_BYTES} random bytes"
            )
        self._store = store
        self._pseudonym_key = _derive_key(secret, b"onboardkit consent subject pseudonym v1")
        self._evidence_key = _derive_key(secret, b"onboardkit consent evidence digest v1")
        self._plugins = plugins
        self._clock = clock
        self._max_attempts = max(1, max_attempts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(store={self._store!r})"

    # -- keyed digests ------------------------------------------------------------------------

    def pseudonym(self, tenant: str, subject: str) -> str:
        """The keyed pseudonym of ``subject`` in ``tenant`` (HMAC-SHA256, hex)."""
        return _hmac_hex(self._pseudonym_key, _canonical_json([tenant, subject]))

    def evidence_digest(self, evidence: Mapping[str, str]) -> str:
        """The keyed digest of stored evidence (HMAC-SHA256 of its canonical JSON, hex)."""
        return _hmac_hex(self._evidence_key, _canonical_json(dict(evidence)))

    # -- checks of caller input ---------------------------------------------------------------

    @staticmethod
    def _check_tenant(tenant: str) -> None:
        if _tenant_problem(tenant) is not None:
            raise ConsentError(TENANT_INVALID, max_length=MAX_TENANT_LENGTH)

    @staticmethod
    def _check_subject(subject: str) -> None:
        if (
            not isinstance(subject, str)
            or not 0 < len(subject) <= MAX_SUBJECT_LENGTH
            or not _is_printable_line(subject)
        ):
            raise ConsentError(SUBJECT_INVALID, max_length=MAX_SUBJECT_LENGTH)

    @staticmethod
    def _check_method(method: str) -> None:
        if not isinstance(method, str) or _METHOD.fullmatch(method) is None:
            raise ConsentError(METHOD_INVALID, max_length=MAX_METHOD_LENGTH)

    @staticmethod
    def _check_document(tenant: str, document: ConsentDocument) -> None:
        if not isinstance(document, ConsentDocument) or document.tenant != tenant:
            raise ConsentError(WRONG_TENANT)

    # -- appending ----------------------------------------------------------------------------

    def _append(self, tenant: str, build: Callable[[int, str], ConsentRecord]) -> ConsentRecord:
        for attempt in range(self._max_attempts):
            head = self._store.head(tenant)
            sequence, prev_hash = (
                (1, GENESIS_HASH)
                if head is None
                else (
                    head.sequence + 1,
                    head.record_hash,
                )
            )
            draft = build(sequence, prev_hash)
            record = attrs.evolve(draft, record_hash=draft.content_hash())
            try:
                self._store.append(record)
            except StaleChainHead:
                # Random back-off spreads out writers that collided on the same head.
                time.sleep(secrets.randbelow(1000 * min(attempt + 1, 10)) / 1_000_000)
                continue
            self._notify(record)
            return record
        raise ConsentError(CONSENT_BUSY)

    def _notify(self, record: ConsentRecord) -> None:
        if self._plugins is None:
            return
        try:
            self._plugins.consent_recorded(record=record)
        except Exception as exc:  # the record is stored; an observer must not undo the answer
            log.error(
                "onboardkit_consent_recorded failed for tenant %r record %d: %s",
                record.tenant,
                record.sequence,
                type(exc).__name__,
            )

    def _event(
        self,
        tenant: str,
        subject: str | None,
        pseudonym: str,
        event: ConsentEvent,
        *,
        purpose: str,
        document_version: str,
        text_sha256: str,
        locale: str,
        method: str,
        evidence: Mapping[str, str] | None,
    ) -> ConsentRecord:
        recorded_at = utc_datetime(self._clock)
        digest = self.evidence_digest(evidence or {})

        def build(sequence: int, prev_hash: str) -> ConsentRecord:
            return ConsentRecord(
                sequence=sequence,
                tenant=tenant,
                event=event,
                subject=subject,
                subject_pseudonym=pseudonym,
                purpose=purpose,
                document_version=document_version,
                text_sha256=text_sha256,
                locale=locale,
                recorded_at=recorded_at,
                method=method,
                evidence=evidence,
                evidence_digest=digest,
                prev_hash=prev_hash,
                record_hash="",
            )

        return self._append(tenant, build)

    def give(
        self,
        tenant: str,
        subject: str,
        document: ConsentDocument,
        *,
        method: str = "form",
        evidence: Mapping[str, object] | None = None,
    ) -> ConsentRecord:
        """Record that ``subject`` consented to ``document`` (the exact version and text shown).

        :param method: How the consent was given: ``form``, ``double_opt_in`` or another name of
            up to 32 lower-case letters, digits and underscores.
        :param evidence: Minimal request details (see :func:`request_evidence`), bounded by
            :func:`bounded_evidence`.
        :raises ConsentError: for a document of another tenant or a bad subject, method or
            evidence; nothing is recorded then.
        """
        self._check_tenant(tenant)
        self._check_subject(subject)
        self._check_document(tenant, document)
        self._check_method(method)
        stored = bounded_evidence(evidence)
        return self._event(
            tenant,
            subject,
            self.pseudonym(tenant, subject),
            ConsentEvent.GIVEN,
            purpose=document.purpose,
            document_version=document.version,
            text_sha256=document.text_sha256,
            locale=document.locale,
            method=method,
            evidence=stored,
        )

    def record_decisions(
        self,
        tenant: str,
        subject: str,
        shown: Iterable[ConsentDocument],
        decisions: Mapping[str, object],
        *,
        method: str = "form",
        evidence: Mapping[str, object] | None = None,
    ) -> list[ConsentRecord]:
        """Check the person's decisions on the shown documents and record every consent given.

        :raises ConsentRequired: listing every required purpose without an explicit “yes”;
            nothing is recorded then (see :func:`check_consents`).
        """
        documents = list(shown)
        given = check_consents(documents, decisions)
        self._check_tenant(tenant)
        self._check_subject(subject)
        for document in documents:
            self._check_document(tenant, document)
        self._check_method(method)
        stored = bounded_evidence(evidence)
        return [
            self.give(tenant, subject, document, method=method, evidence=stored)
            for document in given
        ]

    def withdraw(
        self,
        tenant: str,
        subject: str,
        purpose: str,
        *,
        method: str = "form",
        evidence: Mapping[str, object] | None = None,
    ) -> ConsentRecord | None:
        """Record that ``subject`` withdrew consent to ``purpose``, as a new event.

        The withdrawal names the version and text of the consent it ends. Returns ``None``
        (recording nothing) when there is no consent to ``purpose`` in effect, so a second click
        on “unsubscribe” is harmless.
        """
        self._check_tenant(tenant)
        self._check_subject(subject)
        self._check_method(method)
        stored = bounded_evidence(evidence)
        current = self.current_consents(tenant, subject).get(purpose)
        if current is None:
            return None
        return self._event(
            tenant,
            subject,
            current.subject_pseudonym,
            ConsentEvent.WITHDRAWN,
            purpose=current.purpose,
            document_version=current.document_version,
            text_sha256=current.text_sha256,
            locale=current.locale,
            method=method,
            evidence=stored,
        )

    def erase(self, tenant: str, subject: str) -> list[ConsentRecord]:
        """Erase ``subject``'s personal data from the ledger (GDPR Art. 17), keeping the proof.

        Appends an ``erased`` event per purpose the person has records of (ending any consent in
        effect), then removes ``subject`` and ``evidence`` from all their records up to the last
        of them. What stays is pseudonymous: the pseudonym, purpose, version, text hash, locale,
        time and method. Calling it again finishes an erasure that was interrupted. Returns the
        appended events.
        """
        self._check_tenant(tenant)
        self._check_subject(subject)
        pseudonym = self.pseudonym(tenant, subject)
        history = list(self._store.records(tenant, pseudonym))
        appended = [
            self._event(
                tenant,
                None,
                pseudonym,
                ConsentEvent.ERASED,
                purpose=latest.purpose,
                document_version=latest.document_version,
                text_sha256=latest.text_sha256,
                locale=latest.locale,
                method="erasure",
                evidence=None,
            )
            for latest in _latest_by_purpose(history).values()
            if latest.event is not ConsentEvent.ERASED
        ]
        erased_events = [r for r in [*history, *appended] if r.event is ConsentEvent.ERASED]
        if erased_events:
            self._store.erase(tenant, pseudonym, max(r.sequence for r in erased_events))
        return appended

    # -- questions ----------------------------------------------------------------------------

    def records(self, tenant: str, subject: str | None = None) -> list[ConsentRecord]:
        """The tenant's records in order, only ``subject``'s when given (found by pseudonym)."""
        if subject is None:
            return list(self._store.records(tenant))
        return list(self._store.records(tenant, self.pseudonym(tenant, subject)))

    def current_consents(self, tenant: str, subject: str) -> dict[str, ConsentRecord]:
        """The consents of ``subject`` in effect, by purpose: the latest event is ``given``."""
        return {
            purpose: record
            for purpose, record in _latest_by_purpose(self.records(tenant, subject)).items()
            if record.event is ConsentEvent.GIVEN
        }

    def missing(
        self, tenant: str, subject: str, documents: Iterable[ConsentDocument]
    ) -> list[ConsentDocument]:
        """The ``documents`` (usually :meth:`ConsentDocuments.current`) to ask ``subject`` again.

        A document is missing unless a consent to its purpose is in effect for its version; in
        the same locale the text hash must match too, so a text changed without a new version is
        asked again. Optional documents are included; filter on ``required`` where needed.
        """
        current = self.current_consents(tenant, subject)
        missing = []
        for document in documents:
            self._check_document(tenant, document)
            record = current.get(document.purpose)
            if (
                record is None
                or record.document_version != document.version
                or (
                    _locale_key(record.locale) == _locale_key(document.locale)
                    and record.text_sha256 != document.text_sha256
                )
            ):
                missing.append(document)
        return missing

    def head(self, tenant: str) -> ChainHead | None:
        """The tenant's current chain head, to publish or keep elsewhere as an anchor."""
        record = self._store.head(tenant)
        return None if record is None else ChainHead(tenant, record.sequence, record.record_hash)

    def verify(self, tenant: str, *, anchor: ChainHead | None = None) -> ChainHead | None:
        """Check the tenant's chain; return its head.

        Checked: sequences run 1, 2, 3, ...; every ``prev_hash`` is the previous record's hash;
        every ``record_hash`` is the hash of the record's content; a subject still present
        matches its pseudonym and evidence still present matches its digest; personal data is
        missing only from records of a person erased later in the chain, and ``erased`` events
        carry none. With an ``anchor`` (an earlier :meth:`head`), the chain must still contain
        that record, which detects removal of the newest records.

        :raises LedgerIntegrityError: with ``sequence`` the position of the first bad record.
        """
        records = list(self._store.records(tenant))
        bad: list[int] = []
        previous = GENESIS_HASH
        for position, record in enumerate(records, start=1):
            if not (
                record.sequence == position
                and record.tenant == tenant
                and record.prev_hash == previous
                and hmac.compare_digest(record.record_hash, record.content_hash())
            ):
                bad.append(position)
                break
            previous = record.record_hash
        # Every erased event counts here: one that was tampered with fails the chain check.
        erased_through: dict[str, int] = {}
        for record in records:
            if record.event is ConsentEvent.ERASED:
                erased_through[record.subject_pseudonym] = record.sequence
        for position, record in enumerate(records, start=1):
            if not self._personal_fields_intact(record, position, erased_through):
                bad.append(position)
                break
        if anchor is not None:
            at = records[anchor.sequence - 1] if 0 < anchor.sequence <= len(records) else None
            if anchor.tenant != tenant or at is None or at.record_hash != anchor.record_hash:
                bad.append(max(anchor.sequence, 1))
        if bad:
            raise LedgerIntegrityError(sequence=min(bad))
        return self.head(tenant)

    def _personal_fields_intact(
        self, record: ConsentRecord, position: int, erased_through: Mapping[str, int]
    ) -> bool:
        if record.event is ConsentEvent.ERASED:
            return record.subject is None and record.evidence is None
        if (record.subject is None) != (record.evidence is None):
            return False
        if record.subject is None:
            return erased_through.get(record.subject_pseudonym, 0) > position
        if not isinstance(record.subject, str) or not hmac.compare_digest(
            self.pseudonym(record.tenant, record.subject), record.subject_pseudonym
        ):
            return False
        assert record.evidence is not None
        return hmac.compare_digest(self.evidence_digest(record.evidence), record.evidence_digest)

    # -- export -------------------------------------------------------------------------------

    def export(
        self, tenant: str, subject: str, documents: ConsentDocuments | None = None
    ) -> dict[str, Any]:
        """Everything the ledger holds about ``subject``, JSON-ready (GDPR Art. 15 and 20).

        Holds the current consents by purpose, every record (times ISO-8601 UTC) and the
        documents they refer to (purpose, version, locale, text hash; title, URL and whether
        required when ``documents`` knows them).
        """
        self._check_tenant(tenant)
        self._check_subject(subject)
        history = self.records(tenant, subject)
        referenced: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for record in history:
            identity = (record.purpose, record.document_version, record.locale, record.text_sha256)
            if identity in referenced:
                continue
            entry: dict[str, Any] = {
                "purpose": record.purpose,
                "version": record.document_version,
                "locale": record.locale,
                "text_sha256": record.text_sha256,
            }
            if documents is not None:
                for document in documents.documents:
                    if (
                        document.purpose,
                        document.version,
                        document.locale,
                        document.text_sha256,
                    ) == identity:
                        entry.update(document.as_dict())
            referenced[identity] = entry
        return {
            "format": FORMAT_VERSION,
            "tenant": tenant,
            "subject": subject,
            "subject_pseudonym": self.pseudonym(tenant, subject),
            "exported_at": _iso(utc_datetime(self._clock)),
            "consents": {
                purpose: {
                    "document_version": record.document_version,
                    "text_sha256": record.text_sha256,
                    "locale": record.locale,
                    "given_at": _iso(record.recorded_at),
                    "method": record.method,
                }
                for purpose, record in self.current_consents(tenant, subject).items()
            },
            "records": [record.as_dict() for record in history],
            "documents": list(referenced.values()),
        }
