"""Errors: one base class, stable machine codes, messages in English and German.

Every error onboardkit raises on purpose is an :class:`OnboardkitError`. It carries

* ``code``: a stable, dotted machine code (``token.expired``) that callers map to responses and
  that never changes meaning between releases;
* ``params``: the values its message mentions (JSON-safe; never a secret);
* ``message``: the English text, and :meth:`OnboardkitError.localized` for any supported locale.

Errors about user input that can go wrong in several places at once are a
:class:`ValidationError` holding one :class:`Issue` per problem, each with a path such as
``fields.customer_number`` or ``password``, so a form can show them all next to their fields.

Texts are declared once with :func:`message`, which registers the code; the German text comes
from the gettext catalogs (see :mod:`onboardkit.i18n`).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs

from onboardkit.i18n import DEFAULT_LOCALE, normalize_locale, translate

__all__ = [
    "ConfigurationError",
    "ConsentError",
    "ConsentRequired",
    "Issue",
    "LedgerIntegrityError",
    "LocalizedText",
    "Message",
    "OnboardkitError",
    "PartnerCodeError",
    "PartnerProviderError",
    "PasswordPolicyError",
    "TokenBadSignature",
    "TokenError",
    "TokenExpired",
    "TokenMalformed",
    "TokenStaleState",
    "TokenWrongPurpose",
    "ValidationError",
    "message",
    "registered_messages",
]


class _Formatter(string.Formatter):
    """``str.format`` that leaves unknown placeholders as they are instead of raising."""

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str) and key not in kwargs:
            return "{" + key + "}"
        return super().get_value(key, args, kwargs)


_FORMATTER = _Formatter()


def _text_map(texts: Mapping[str, str]) -> dict[str, str]:
    return dict(texts)


@attrs.frozen
class LocalizedText:
    """Text a host application wrote and translated itself, as an error's param.

    A :class:`Message` renders it in its own locale, like a nested :class:`Message`; JSON
    answers carry the English text. For texts onboardkit cannot know (a Django project's
    password validators), with the host's own translations.

    :param texts: The text by language (``en``, ``de``); English is required, a language
        without a text falls back to it.
    """

    texts: Mapping[str, str] = attrs.field(converter=_text_map)

    @texts.validator
    def _english(self, attribute: object, value: Mapping[str, str]) -> None:
        if not isinstance(value.get(DEFAULT_LOCALE), str):
            raise ValueError("a LocalizedText needs its English text")

    def render(self, locale: str | None = None) -> str:
        return self.texts.get(normalize_locale(locale)) or self.texts[DEFAULT_LOCALE]


@attrs.frozen
class Message:
    """A user-facing text: its stable ``code`` and its English ``template``.

    The template uses ``str.format`` placeholders (``{min_length}``) filled from an error's params.
    """

    code: str
    template: str

    def render(self, locale: str | None = None, params: Mapping[str, Any] | None = None) -> str:
        """The text in ``locale`` (English by default) with ``params`` filled in.

        A param that is itself a :class:`Message` (a configuration error's ``reason``, say) or
        a :class:`LocalizedText` is rendered in the same locale.
        """
        text = translate(self.template, context=self.code, locale=locale)
        values = {
            name: value.render(locale) if isinstance(value, (Message, LocalizedText)) else value
            for name, value in (params or {}).items()
        }
        return _FORMATTER.vformat(text, (), values)


_REGISTRY: dict[str, Message] = {}


def message(code: str, template: str) -> Message:
    """Declare the text for ``code``; every code is declared exactly once, at import time.

    Babel extracts these calls (keyword ``message:1c,2``) into the gettext catalogs.
    """
    known = _REGISTRY.get(code)
    if known is not None and known.template != template:
        raise ValueError(f"message code {code!r} is declared twice with different texts")
    declared = Message(code, template)
    _REGISTRY[code] = declared
    return declared


def registered_messages() -> dict[str, Message]:
    """Every message declared so far, by code (for docs, catalogs and tests)."""
    return dict(_REGISTRY)


def _frozen_params(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


def _json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params for a JSON answer: a nested :class:`Message` becomes its code, a
    :class:`LocalizedText` its English text."""
    return {
        name: value.code
        if isinstance(value, Message)
        else value.render(DEFAULT_LOCALE)
        if isinstance(value, LocalizedText)
        else value
        for name, value in params.items()
    }


@attrs.frozen(eq=True, hash=False)
class Issue:
    """One problem with one piece of input: where (``path``), what (``message``) and details."""

    path: str
    message: Message
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_params)

    @property
    def code(self) -> str:
        return self.message.code

    def localized(self, locale: str | None) -> str:
        return self.message.render(locale, self.params)

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        """A JSON-ready description: path, code, params and the text in ``locale``."""
        return {
            "path": self.path,
            "code": self.code,
            "message": self.localized(locale),
            "params": _json_params(self.params),
        }


class OnboardkitError(Exception):
    """Base of every error onboardkit raises on purpose."""

    #: The text used when the raiser names none; subclasses set their own.
    default_message: ClassVar[Message]

    def __init__(self, msg: Message | None = None, /, **params: Any) -> None:
        self.msg = msg if msg is not None else type(self).default_message
        self.params: dict[str, Any] = params
        super().__init__(self.msg.render(None, params))

    @property
    def code(self) -> str:
        return self.msg.code

    @property
    def message(self) -> str:
        """The English text."""
        return self.msg.render(None, self.params)

    def localized(self, locale: str | None) -> str:
        return self.msg.render(locale, self.params)

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        """A JSON-ready description of the error for API answers."""
        return {
            "code": self.code,
            "message": self.localized(locale),
            "params": _json_params(self.params),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, params={self.params!r})"


OnboardkitError.default_message = message("error", "Something went wrong. Please try again.")


class ConfigurationError(OnboardkitError):
    """A configuration value is missing or wrong; ``params['key']`` names it."""

    default_message = message("config.invalid", "The setting {key} is not valid: {reason}")


class ValidationError(OnboardkitError):
    """Input was rejected; ``issues`` lists every problem found, each with its path."""

    default_message = message("validation.failed", "Please correct the marked entries.")

    def __init__(
        self, issues: Iterable[Issue], msg: Message | None = None, /, **params: Any
    ) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        super().__init__(msg, **params)

    @property
    def codes(self) -> list[str]:
        return [issue.code for issue in self.issues]

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        answer = super().as_dict(locale)
        answer["issues"] = [issue.as_dict(locale) for issue in self.issues]
        return answer


class PasswordPolicyError(ValidationError):
    """A password broke one or more rules of the policy; every broken rule is an issue."""

    default_message = message("password.rejected", "Please choose a different password.")


# -- signed tokens -------------------------------------------------------------------------------


class TokenError(OnboardkitError):
    """A signed link or token cannot be used. Subclasses say why."""

    default_message = message("token.invalid", "This link is not valid.")


class TokenMalformed(TokenError):
    """Not a token of ours at all: truncated, garbled or of an unknown format."""

    default_message = message(
        "token.malformed", "This link is incomplete or damaged. Please copy the whole link."
    )


class TokenBadSignature(TokenError):
    """Well formed, but not signed by any key of the key ring."""

    default_message = message("token.bad_signature", "This link is not valid.")


class TokenExpired(TokenError):
    """Signed by us, but past its expiry (plus the clock-skew leeway)."""

    default_message = message("token.expired", "This link has expired. Please request a new one.")


class TokenWrongPurpose(TokenError):
    """Signed by us for another purpose (a confirmation token used as an invitation)."""

    default_message = message("token.wrong_purpose", "This link cannot be used here.")


class TokenStaleState(TokenError):
    """Signed by us, but for another address or for a state that has since changed (used)."""

    default_message = message(
        "token.stale", "This link has already been used or is no longer current."
    )


# -- consent -------------------------------------------------------------------------------------


class ConsentError(OnboardkitError):
    """A consent operation failed."""

    default_message = message("consent.error", "Your consent could not be recorded.")


class ConsentRequired(ValidationError):
    """Required consents are missing; each missing purpose is an issue at ``consents.<purpose>``."""

    default_message = message("consent.required", "Please accept the required terms to continue.")


class LedgerIntegrityError(ConsentError):
    """The consent ledger's hash chain does not verify: a record was changed or removed."""

    default_message = message(
        "consent.ledger_broken", "The consent ledger failed verification at record {sequence}."
    )


# -- partner codes -------------------------------------------------------------------------------


class PartnerCodeError(OnboardkitError):
    """A partner code cannot be used: unknown, expired, revoked or used up."""

    default_message = message("partner_code.invalid", "This partner code is not valid.")


class PartnerProviderError(PartnerCodeError):
    """A partner-provider plugin failed or timed out; resolution fails closed."""

    default_message = message(
        "partner_code.unavailable",
        "The partner code cannot be checked right now. Please try again later.",
    )
