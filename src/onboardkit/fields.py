"""Custom fields: the registration fields a tenant's customer system adds (customer number, ...).

A :class:`FieldSchema` is declared per tenant, in TOML or as a Python mapping, and does three
things with a submission:

* reads **only** the declared fields from it: any other key (``status``, ``is_staff``, ``roles``)
  is never looked at, so it can never reach an account (mass assignment);
* parses each value from form-style input (strings, lists of strings) or JSON-style input
  (numbers, booleans, lists), normalizes it and checks the declared rules, then lets plugins add
  checks through the ``onboardkit_validate_field`` hook;
* reports every problem at once, as a :class:`~onboardkit.errors.ValidationError` with one issue
  per field at ``fields.<name>`` and a stable code (``field.required``, ``field.too_long``, ...).

Every value is bounded in size even when the tenant declares no bound, and so is the number of
keys in a submission. The schema also exports JSON Schema (draft 2020-12) for API clients.
"""

from __future__ import annotations

import enum
import logging
import math
import re
import sys
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from onboardkit.addresses import EMAIL_MAX_LENGTH, EmailAddress, parse_email
from onboardkit.errors import ConfigurationError, Issue, Message, ValidationError, message
from onboardkit.i18n import normalize_locale

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

if TYPE_CHECKING:
    from onboardkit.plugins import Plugins

__all__ = [
    "DEFAULT_MAX_DIGITS",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MAX_SUBMISSION_KEYS",
    "MAX_DIGITS_LIMIT",
    "MAX_LENGTH_LIMIT",
    "RESERVED_NAMES",
    "Choice",
    "FieldSchema",
    "FieldSpec",
    "FieldType",
    "LocalizedText",
    "Normalization",
    "normalize_text",
]

log = logging.getLogger(__name__)

#: The length bound of a text field that declares no ``max_length``.
DEFAULT_MAX_LENGTH = 1000
#: The largest ``max_length`` a text field may declare.
MAX_LENGTH_LIMIT = 10_000
#: The digit bound of a number field that declares no ``max_digits``.
DEFAULT_MAX_DIGITS = 18
#: The largest ``max_digits`` a number field may declare (the precision of Python's decimals).
MAX_DIGITS_LIMIT = 28
#: The number of keys a submission may have when the schema declares no bound.
DEFAULT_MAX_SUBMISSION_KEYS = 100
#: Number input longer than this (white space included) is refused before it is parsed.
_NUMBER_INPUT_LIMIT = 100
#: Text input longer than this multiple of the bound is refused before it is normalized.
_TEXT_INPUT_FACTOR = 4

#: Names a custom field may not have: they name what an account or a registration is made of, and
#: a host that copies custom fields onto its user model must never be told to set one of them.
RESERVED_NAMES = frozenset(
    {
        "id",
        "pk",
        "email",
        "password",
        "tenant",
        "status",
        "state",
        "role",
        "roles",
        "group",
        "groups",
        "permissions",
        "is_active",
        "is_admin",
        "is_staff",
        "is_superuser",
        "approved",
        "confirmed",
        "created_at",
        "updated_at",
    }
)

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# Control characters, lone surrogates (unencodable), line and paragraph separators.
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

_TRUE_WORDS = frozenset({"on", "true", "1", "yes"})
_FALSE_WORDS = frozenset({"off", "false", "0", "no"})

# -- messages ------------------------------------------------------------------------------------

FIELD_REQUIRED = message("field.required", "This field is required.")
FIELD_WRONG_TYPE = message("field.wrong_type", "This value is not of the expected kind.")
FIELD_TOO_SHORT = message("field.too_short", "Please enter at least {min_length} characters.")
FIELD_TOO_LONG = message("field.too_long", "Please enter at most {max_length} characters.")
FIELD_CONTROL_CHARACTERS = message(
    "field.control_characters", "Please remove line breaks and other control characters."
)
FIELD_PATTERN_MISMATCH = message(
    "field.pattern_mismatch", "This value does not have the expected format."
)
FIELD_NOT_AN_INTEGER = message("field.not_an_integer", "Please enter a whole number.")
FIELD_NOT_A_NUMBER = message("field.not_a_number", "Please enter a number, such as 12.50.")
FIELD_TOO_MANY_DIGITS = message(
    "field.too_many_digits", "Please enter a number with at most {max_digits} digits."
)
FIELD_TOO_MANY_DECIMAL_PLACES = message(
    "field.too_many_decimal_places",
    "Please enter at most {decimal_places} digits after the decimal point.",
)
FIELD_TOO_SMALL = message("field.too_small", "Please enter a number of at least {min_value}.")
FIELD_TOO_LARGE = message("field.too_large", "Please enter a number of at most {max_value}.")
FIELD_NOT_A_DATE = message("field.not_a_date", "Please enter a date in the form YYYY-MM-DD.")
FIELD_TOO_EARLY = message("field.too_early", "Please enter a date on or after {min_value}.")
FIELD_TOO_LATE = message("field.too_late", "Please enter a date on or before {max_value}.")
FIELD_NOT_A_BOOLEAN = message("field.not_a_boolean", "Please answer with yes or no.")
FIELD_NOT_A_CHOICE = message("field.not_a_choice", "Please choose one of the offered options.")
FIELD_TOO_MANY_CHOICES = message(
    "field.too_many_choices", "Please choose at most {max_items} options."
)
FIELD_DUPLICATE_CHOICE = message("field.duplicate_choice", "Please choose each option only once.")
FIELD_CHECK_UNAVAILABLE = message(
    "field.check_unavailable", "This value cannot be checked right now. Please try again later."
)
FIELDS_WRONG_TYPE = message("fields.wrong_type", "The form data could not be read.")
FIELDS_TOO_MANY_KEYS = message(
    "fields.too_many_keys", "The form has more entries than allowed (at most {max_keys})."
)


class _Rejected(Exception):
    """A value broke a rule; :meth:`FieldSpec.parse` turns it into an issue at the field's path."""

    def __init__(self, msg: Message, **params: object) -> None:
        super().__init__(msg.code)
        self.msg = msg
        self.params = params


# -- declarations --------------------------------------------------------------------------------


class FieldType(enum.Enum):
    """The kinds of value a custom field holds, by their name in the configuration."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    EMAIL = "email"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    MULTI_CHOICE = "multi-choice"


class Normalization(enum.Enum):
    """A step applied to text before it is checked, by its name in the configuration."""

    STRIP = "strip"
    COLLAPSE_WHITESPACE = "collapse_whitespace"
    REMOVE_WHITESPACE = "remove_whitespace"
    NFKC = "nfkc"
    UPPER = "upper"
    LOWER = "lower"


@attrs.frozen
class LocalizedText:
    """A text shown to people (a label, a help text) in English and, optionally, German."""

    en: str
    de: str | None = None

    def get(self, locale: str | None) -> str:
        """The text in ``locale``; English when there is no text in that language."""
        if normalize_locale(locale) == "de" and self.de is not None:
            return self.de
        return self.en

    @classmethod
    def from_config(cls, value: object, *, key: str) -> LocalizedText:
        """From a string (every language) or a table ``{en = "...", de = "..."}``."""
        if isinstance(value, str):
            return cls(en=_nonblank_text(value, key=key))
        if not isinstance(value, Mapping):
            raise ConfigurationError(key=key, reason="must be a string or a table of en and de")
        unknown = sorted(str(language) for language in value if language not in ("en", "de"))
        if unknown:
            raise ConfigurationError(
                key=f"{key}.{unknown[0]}", reason="is not a supported language (en, de)"
            )
        if "en" not in value:
            raise ConfigurationError(key=f"{key}.en", reason="is missing (English is required)")
        german = value.get("de")
        return cls(
            en=_nonblank_text(value["en"], key=f"{key}.en"),
            de=None if german is None else _nonblank_text(german, key=f"{key}.de"),
        )


@attrs.frozen
class Choice:
    """One option of a choice or multi-choice field: the stored value and what people see."""

    value: str
    label: LocalizedText


_Bound = int | Decimal | date

_OPTIONS: dict[FieldType, frozenset[str]] = {
    FieldType.TEXT: frozenset({"min_length", "max_length", "pattern", "normalize"}),
    FieldType.INTEGER: frozenset({"min_value", "max_value", "max_digits"}),
    FieldType.DECIMAL: frozenset({"min_value", "max_value", "max_digits", "decimal_places"}),
    FieldType.EMAIL: frozenset(),
    FieldType.DATE: frozenset({"min_value", "max_value"}),
    FieldType.BOOLEAN: frozenset(),
    FieldType.CHOICE: frozenset({"choices"}),
    FieldType.MULTI_CHOICE: frozenset({"choices", "max_items"}),
}
_COMMON_OPTIONS = frozenset({"type", "label", "help", "required"})


@attrs.frozen
class FieldSpec:
    """The declaration of one custom field. Build it with :meth:`from_mapping`.

    Options a type does not use stay ``None`` (or empty). The bounds a field did not declare
    are still enforced: see :attr:`length_limit`, :attr:`digit_limit` and :attr:`item_limit`.
    """

    name: str
    type: FieldType
    label: LocalizedText
    help: LocalizedText | None = None
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    normalize: tuple[Normalization, ...] = (Normalization.STRIP,)
    min_value: _Bound | None = None
    max_value: _Bound | None = None
    max_digits: int | None = None
    decimal_places: int | None = None
    choices: tuple[Choice, ...] = ()
    max_items: int | None = None

    @property
    def path(self) -> str:
        """Where this field's issues are reported: ``fields.<name>``."""
        return f"fields.{self.name}"

    @property
    def length_limit(self) -> int:
        """The most characters a text value may have after normalization."""
        return self.max_length if self.max_length is not None else DEFAULT_MAX_LENGTH

    @property
    def digit_limit(self) -> int:
        """The most digits a number may have."""
        return self.max_digits if self.max_digits is not None else DEFAULT_MAX_DIGITS

    @property
    def item_limit(self) -> int:
        """The most options a multi-choice value may hold."""
        return self.max_items if self.max_items is not None else len(self.choices)

    @property
    def empty_value(self) -> object:
        """The parsed value when nothing was entered: ``False``, ``()`` or ``None``."""
        if self.type is FieldType.BOOLEAN:
            return False
        if self.type is FieldType.MULTI_CHOICE:
            return ()
        return None

    @classmethod
    def from_mapping(cls, name: str, config: Mapping[str, object], *, key: str) -> FieldSpec:
        """The field ``name`` from its configuration table.

        :param key: The dotted key of the table (``fields.customer_number``), for errors.
        :raises ConfigurationError: naming the exact key of the first wrong option.
        """
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigurationError(
                key=key,
                reason="field names are lower-case letters, digits and underscores, "
                "starting with a letter, at most 63 characters",
            )
        if name in RESERVED_NAMES:
            raise ConfigurationError(key=key, reason=f"{name!r} is reserved for onboardkit")
        if not isinstance(config, Mapping):
            raise ConfigurationError(key=key, reason="must be a table of options")
        options = _Options(config, key)
        try:
            field_type = FieldType(options.get("type"))
        except ValueError:
            known = ", ".join(member.value for member in FieldType)
            raise options.error("type", f"must be one of {known}") from None
        allowed = _COMMON_OPTIONS | _OPTIONS[field_type]
        for option in config:
            if option not in allowed:
                raise options.error(
                    str(option),
                    f"is not an option of {field_type.value} fields "
                    f"(options: {', '.join(sorted(allowed))})",
                )
        if "label" not in config:
            raise options.error("label", "is missing")
        help_config = config.get("help")
        spec = cls(
            name=name,
            type=field_type,
            label=LocalizedText.from_config(config["label"], key=f"{key}.label"),
            help=(
                None
                if help_config is None
                else LocalizedText.from_config(help_config, key=f"{key}.help")
            ),
            required=options.boolean("required"),
        )
        configure = _CONFIGURE.get(field_type)
        return configure(spec, options) if configure is not None else spec

    def parse(self, raw: object) -> object:
        """The parsed, normalized value of ``raw`` (what a form or an API client sent).

        Nothing entered (missing, ``None``, blank) gives :attr:`empty_value`, or the issue
        ``field.required`` when the field is required; a required boolean must be true.

        :raises ValidationError: with one issue at :attr:`path`.
        """
        try:
            if self.type is not FieldType.MULTI_CHOICE and isinstance(raw, (list, tuple)):
                # Form libraries hand over every value as a list (``to_dict(flat=False)``).
                if len(raw) > 1:
                    raise _Rejected(FIELD_WRONG_TYPE)
                raw = raw[0] if raw else None
            value = _PARSERS[self.type](self, raw)
            if value is None or value is False or value == ():
                if self.required:
                    raise _Rejected(FIELD_REQUIRED)
                return self.empty_value
            return value
        except _Rejected as rejected:
            raise ValidationError([Issue(self.path, rejected.msg, rejected.params)]) from None

    def to_json(self, value: object) -> object:
        """``value`` (as :meth:`parse` returns it) in a JSON-ready form :meth:`parse` accepts."""
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, EmailAddress):
            return value.normalized
        if isinstance(value, tuple):
            return list(value)
        return value

    def json_schema(self, *, locale: str | None = None) -> dict[str, Any]:
        """This field as a JSON Schema (draft 2020-12) property, titled in ``locale``."""
        schema: dict[str, Any] = {"title": self.label.get(locale)}
        if self.help is not None:
            schema["description"] = self.help.get(locale)
        schema.update(_JSON_SCHEMA[self.type](self, locale))
        return schema


# -- configuration -------------------------------------------------------------------------------


@attrs.frozen
class _Options:
    """Typed reads of one field's configuration table, with errors that name the key."""

    config: Mapping[str, object]
    key: str

    def error(self, option: str, reason: str) -> ConfigurationError:
        return ConfigurationError(key=f"{self.key}.{option}" if self.key else option, reason=reason)

    def get(self, option: str) -> object:
        return self.config.get(option)

    def boolean(self, option: str) -> bool:
        value = self.config.get(option, False)
        if not isinstance(value, bool):
            raise self.error(option, "must be true or false")
        return value

    def integer(self, option: str, *, minimum: int, maximum: int) -> int | None:
        value = self.config.get(option)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(option, "must be a whole number")
        if not minimum <= value <= maximum:
            raise self.error(option, f"must be between {minimum} and {maximum}")
        return value


def _nonblank_text(value: object, *, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(key=key, reason="must be a non-empty string")
    return value


def _configure_text(spec: FieldSpec, options: _Options) -> FieldSpec:
    max_length = options.integer("max_length", minimum=1, maximum=MAX_LENGTH_LIMIT)
    limit = max_length if max_length is not None else DEFAULT_MAX_LENGTH
    min_length = options.integer("min_length", minimum=0, maximum=limit)
    return attrs.evolve(
        spec,
        min_length=min_length,
        max_length=limit,
        pattern=_configure_pattern(options),
        normalize=_configure_normalize(options),
    )


def _configure_pattern(options: _Options) -> re.Pattern[str] | None:
    source = options.get("pattern")
    if source is None:
        return None
    if not isinstance(source, str) or not source:
        raise options.error("pattern", "must be a non-empty regular expression")
    try:
        # The anchored form is what JSON Schema clients get; it must compile as well (a global
        # flag such as "(?i)" in the middle of it does not). Patterns Python warns about (a
        # possible nested set, a misplaced flag on 3.10) are refused too: they mean different
        # things to different regex engines.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compiled = re.compile(source)
            re.compile(_anchored(source))
    except (re.error, Warning) as error:
        raise options.error("pattern", f"is not a valid regular expression: {error}") from None
    return compiled


def _configure_normalize(options: _Options) -> tuple[Normalization, ...]:
    names = options.get("normalize")
    if names is None:
        return (Normalization.STRIP,)
    if not isinstance(names, Sequence) or isinstance(names, str):
        raise options.error("normalize", "must be a list of normalization steps")
    steps: list[Normalization] = []
    for index, name in enumerate(names):
        try:
            step = Normalization(name)
        except ValueError:
            known = ", ".join(member.value for member in Normalization)
            raise options.error(f"normalize[{index}]", f"must be one of {known}") from None
        if step not in steps:
            steps.append(step)
    if Normalization.UPPER in steps and Normalization.LOWER in steps:
        raise options.error("normalize", "cannot hold both upper and lower")
    return tuple(steps)


def _configure_integer(spec: FieldSpec, options: _Options) -> FieldSpec:
    return _configure_bounds(
        attrs.evolve(
            spec, max_digits=options.integer("max_digits", minimum=1, maximum=MAX_DIGITS_LIMIT)
        ),
        options,
        _integer_bound,
    )


def _configure_decimal(spec: FieldSpec, options: _Options) -> FieldSpec:
    max_digits = options.integer("max_digits", minimum=1, maximum=MAX_DIGITS_LIMIT)
    places = options.integer(
        "decimal_places",
        minimum=0,
        maximum=max_digits if max_digits is not None else DEFAULT_MAX_DIGITS,
    )
    return _configure_bounds(
        attrs.evolve(spec, max_digits=max_digits, decimal_places=places), options, _decimal_bound
    )


def _configure_date(spec: FieldSpec, options: _Options) -> FieldSpec:
    return _configure_bounds(spec, options, _date_bound)


def _configure_bounds(
    spec: FieldSpec, options: _Options, convert: Callable[[object], _Bound | None]
) -> FieldSpec:
    bounds: dict[str, _Bound | None] = {}
    for option in ("min_value", "max_value"):
        raw = options.get(option)
        bound = None if raw is None else convert(raw)
        if raw is not None and bound is None:
            raise options.error(option, f"is not a valid {spec.type.value} value")
        bounds[option] = bound
    low, high = bounds["min_value"], bounds["max_value"]
    if low is not None and high is not None and low > high:  # type: ignore[operator]
        raise options.error("min_value", "is greater than max_value")
    return attrs.evolve(spec, min_value=low, max_value=high)


def _integer_bound(raw: object) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _decimal_bound(raw: object) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        raw = repr(raw)
    if isinstance(raw, (int, str)):
        try:
            value = Decimal(raw)
        except InvalidOperation:
            return None
        return value if value.is_finite() else None
    return None


def _date_bound(raw: object) -> date | None:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str):
        try:
            return _parse_date_text(raw)
        except _Rejected:
            return None
    return None


def _configure_choice(spec: FieldSpec, options: _Options) -> FieldSpec:
    raw = options.get("choices")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise options.error("choices", "must be a non-empty list of options")
    choices: list[Choice] = []
    for index, entry in enumerate(raw):
        key = f"choices[{index}]"
        table: Mapping[str, object] = {"value": entry} if isinstance(entry, str) else entry
        if not isinstance(table, Mapping):
            raise options.error(key, "must be a string or a table of value and label")
        unknown = sorted(str(option) for option in table if option not in ("value", "label"))
        if unknown:
            raise options.error(f"{key}.{unknown[0]}", "is not an option of a choice")
        value = table.get("value")
        if not isinstance(value, str) or not value or value != value.strip():
            raise options.error(
                f"{key}.value", "must be a non-empty string without surrounding spaces"
            )
        label = (
            LocalizedText.from_config(table["label"], key=f"{options.key}.{key}.label")
            if "label" in table
            else LocalizedText(en=value)
        )
        if len(value) > DEFAULT_MAX_LENGTH:
            raise options.error(f"{key}.value", f"is longer than {DEFAULT_MAX_LENGTH} characters")
        if any(choice.value == value for choice in choices):
            raise options.error(f"{key}.value", f"repeats the option {value!r}")
        choices.append(Choice(value=value, label=label))
    spec = attrs.evolve(spec, choices=tuple(choices))
    if spec.type is FieldType.MULTI_CHOICE:
        spec = attrs.evolve(
            spec, max_items=options.integer("max_items", minimum=1, maximum=len(choices))
        )
    return spec


_CONFIGURE: dict[FieldType, Callable[[FieldSpec, _Options], FieldSpec]] = {
    FieldType.TEXT: _configure_text,
    FieldType.INTEGER: _configure_integer,
    FieldType.DECIMAL: _configure_decimal,
    FieldType.DATE: _configure_date,
    FieldType.CHOICE: _configure_choice,
    FieldType.MULTI_CHOICE: _configure_choice,
}


# -- value parsers -------------------------------------------------------------------------------
# Each returns the parsed value, or None when nothing was entered, or raises _Rejected.


def normalize_text(text: str, steps: Iterable[Normalization]) -> str:
    """``text`` after the normalization ``steps``, in a fixed order whatever their order.

    NFKC, then the case mapping, then the white space step. A step can undo the work of another
    (upper-casing can leave text that is not NFKC; removing a space can let a combining mark
    compose with a letter), so the steps repeat until the text no longer changes: the result is
    its own normalization.
    """
    declared = frozenset(steps)
    for _round in range(4):
        normalized = _normalize_once(text, declared)
        if normalized == text:
            break
        text = normalized
    return text


def _normalize_once(text: str, steps: frozenset[Normalization]) -> str:
    if Normalization.NFKC in steps:
        text = unicodedata.normalize("NFKC", text)
    if Normalization.UPPER in steps:
        text = text.upper()
    elif Normalization.LOWER in steps:
        text = text.lower()
    if Normalization.REMOVE_WHITESPACE in steps:
        return "".join(text.split())
    if Normalization.COLLAPSE_WHITESPACE in steps:
        return " ".join(text.split())
    if Normalization.STRIP in steps:
        return text.strip()
    return text


def _parse_text(spec: FieldSpec, raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _Rejected(FIELD_WRONG_TYPE)
    limit = spec.length_limit
    if len(raw) > _TEXT_INPUT_FACTOR * limit:
        raise _Rejected(FIELD_TOO_LONG, max_length=limit)
    text = normalize_text(raw, spec.normalize)
    if not text:
        return None
    if _FORBIDDEN_IN_TEXT.search(text):
        raise _Rejected(FIELD_CONTROL_CHARACTERS)
    if len(text) > limit:
        raise _Rejected(FIELD_TOO_LONG, max_length=limit)
    if spec.min_length is not None and len(text) < spec.min_length:
        raise _Rejected(FIELD_TOO_SHORT, min_length=spec.min_length)
    if spec.pattern is not None and spec.pattern.fullmatch(text) is None:
        raise _Rejected(FIELD_PATTERN_MISMATCH)
    return text


def _number_text(
    spec: FieldSpec, raw: str, syntax: re.Pattern[str], not_a_number: Message
) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if len(text) > _NUMBER_INPUT_LIMIT:
        raise _Rejected(FIELD_TOO_MANY_DIGITS, max_digits=spec.digit_limit)
    if syntax.fullmatch(text) is None:
        raise _Rejected(not_a_number)
    return text


def _check_range(spec: FieldSpec, value: _Bound, low: Message, high: Message) -> None:
    if spec.min_value is not None and value < spec.min_value:  # type: ignore[operator]
        raise _Rejected(low, min_value=_bound_param(spec.min_value))
    if spec.max_value is not None and value > spec.max_value:  # type: ignore[operator]
        raise _Rejected(high, max_value=_bound_param(spec.max_value))


def _bound_param(bound: _Bound) -> int | str:
    if isinstance(bound, int):
        return bound
    if isinstance(bound, Decimal):
        return format(bound, "f")
    return bound.isoformat()


def _parse_integer(spec: FieldSpec, raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise _Rejected(FIELD_WRONG_TYPE)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            raise _Rejected(FIELD_NOT_AN_INTEGER)
        value = int(raw)
    elif isinstance(raw, str):
        text = _number_text(spec, raw, _INTEGER_TEXT, FIELD_NOT_AN_INTEGER)
        if text is None:
            return None
        value = int(text)
    else:
        raise _Rejected(FIELD_WRONG_TYPE)
    if abs(value) >= 10**spec.digit_limit:
        raise _Rejected(FIELD_TOO_MANY_DIGITS, max_digits=spec.digit_limit)
    _check_range(spec, value, FIELD_TOO_SMALL, FIELD_TOO_LARGE)
    return value


def _decimal_shape(value: Decimal) -> tuple[tuple[int, ...], int]:
    """The digits of finite ``value`` without trailing zeros, and the exponent that goes along."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    significant = tuple(digits)
    while len(significant) > 1 and significant[-1] == 0:
        significant = significant[:-1]
        exponent += 1
    if significant == (0,):
        return (0,), 0
    return significant, exponent


def _parse_decimal(spec: FieldSpec, raw: object) -> Decimal | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise _Rejected(FIELD_WRONG_TYPE)
    if isinstance(raw, int):
        if abs(raw) >= 10**spec.digit_limit:
            raise _Rejected(FIELD_TOO_MANY_DIGITS, max_digits=spec.digit_limit)
        value = Decimal(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise _Rejected(FIELD_NOT_A_NUMBER)
        # The shortest text that reads back as this float: 0.1 is 0.1, not 0.1000000000000000055.
        value = Decimal(repr(raw))
    elif isinstance(raw, Decimal):
        if not raw.is_finite():
            raise _Rejected(FIELD_NOT_A_NUMBER)
        value = raw
    elif isinstance(raw, str):
        text = _number_text(spec, raw, _DECIMAL_TEXT, FIELD_NOT_A_NUMBER)
        if text is None:
            return None
        value = Decimal(text)
    else:
        raise _Rejected(FIELD_WRONG_TYPE)
    digits, exponent = _decimal_shape(value)
    places = max(-exponent, 0)
    if spec.decimal_places is not None and places > spec.decimal_places:
        raise _Rejected(FIELD_TOO_MANY_DECIMAL_PLACES, decimal_places=spec.decimal_places)
    whole = max(len(digits) + exponent, 0)
    if spec.decimal_places is not None:
        places = spec.decimal_places
    if whole + places > spec.digit_limit:
        raise _Rejected(FIELD_TOO_MANY_DIGITS, max_digits=spec.digit_limit)
    # One canonical form per number: "1.50" and "1.5" are 1.5, or 1.50 with two decimal places.
    with localcontext() as context:
        context.prec = 2 * MAX_DIGITS_LIMIT
        # Built from the sign of the value, so -0 becomes 0.
        value = Decimal((0 if value >= 0 else 1, digits, exponent))
        value = value.quantize(Decimal(1).scaleb(-places))
    _check_range(spec, value, FIELD_TOO_SMALL, FIELD_TOO_LARGE)
    return value


def _parse_date_text(raw: str) -> date:
    match = _DATE_TEXT.fullmatch(raw.strip())
    if match is None:
        raise _Rejected(FIELD_NOT_A_DATE)
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise _Rejected(FIELD_NOT_A_DATE) from None


def _parse_date(spec: FieldSpec, raw: object) -> date | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        raise _Rejected(FIELD_WRONG_TYPE)
    if isinstance(raw, date):
        value = raw
    elif isinstance(raw, str):
        if not raw.strip():
            return None
        value = _parse_date_text(raw)
    else:
        raise _Rejected(FIELD_WRONG_TYPE)
    _check_range(spec, value, FIELD_TOO_EARLY, FIELD_TOO_LATE)
    return value


def _parse_boolean(spec: FieldSpec, raw: object) -> bool | None:
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, int):
        if raw in (0, 1):
            return raw == 1
        raise _Rejected(FIELD_NOT_A_BOOLEAN)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if not word or word in _FALSE_WORDS:
            return False
        raise _Rejected(FIELD_NOT_A_BOOLEAN)
    raise _Rejected(FIELD_WRONG_TYPE)


def _choice_value(spec: FieldSpec, raw: object) -> str | None:
    if not isinstance(raw, str):
        raise _Rejected(FIELD_WRONG_TYPE)
    value = raw.strip()
    if not value:
        return None
    if not any(choice.value == value for choice in spec.choices):
        raise _Rejected(FIELD_NOT_A_CHOICE)
    return value


def _parse_choice(spec: FieldSpec, raw: object) -> str | None:
    return None if raw is None else _choice_value(spec, raw)


def _parse_multi_choice(spec: FieldSpec, raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    items: Sequence[object]
    if isinstance(raw, str):
        items = (raw,)
    elif isinstance(raw, (list, tuple)):
        items = raw
    else:
        raise _Rejected(FIELD_WRONG_TYPE)
    if len(items) > spec.item_limit:
        raise _Rejected(FIELD_TOO_MANY_CHOICES, max_items=spec.item_limit)
    chosen: set[str] = set()
    for item in items:
        value = _choice_value(spec, item)
        if value is None:
            continue  # some form libraries send an empty marker for "nothing chosen"
        if value in chosen:
            raise _Rejected(FIELD_DUPLICATE_CHOICE)
        chosen.add(value)
    # Declared order, so equal selections are equal values.
    return tuple(choice.value for choice in spec.choices if choice.value in chosen)


def _parse_email(spec: FieldSpec, raw: object) -> EmailAddress | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    # Issues come out at the field's path with the email.* codes of onboardkit.addresses.
    return parse_email(raw, path=spec.path)


_PARSERS: dict[FieldType, Callable[[FieldSpec, object], object]] = {
    FieldType.TEXT: _parse_text,
    FieldType.INTEGER: _parse_integer,
    FieldType.DECIMAL: _parse_decimal,
    FieldType.EMAIL: _parse_email,
    FieldType.DATE: _parse_date,
    FieldType.BOOLEAN: _parse_boolean,
    FieldType.CHOICE: _parse_choice,
    FieldType.MULTI_CHOICE: _parse_multi_choice,
}


# -- JSON Schema ---------------------------------------------------------------------------------


def _anchored(pattern: str) -> str:
    # JSON Schema patterns search; onboardkit matches the whole value.
    return f"^(?:{pattern})$"


def _choice_options(spec: FieldSpec, locale: str | None) -> list[dict[str, str]]:
    return [{"const": choice.value, "title": choice.label.get(locale)} for choice in spec.choices]


def _text_schema(spec: FieldSpec, locale: str | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": spec.length_limit}
    min_length = max(spec.min_length or 0, 1 if spec.required else 0)
    if min_length:
        schema["minLength"] = min_length
    if spec.pattern is not None:
        schema["pattern"] = _anchored(spec.pattern.pattern)
    return schema


def _integer_schema(spec: FieldSpec, locale: str | None) -> dict[str, Any]:
    largest = 10**spec.digit_limit - 1
    low, high = spec.min_value, spec.max_value
    return {
        "type": "integer",
        "minimum": max(low, -largest) if isinstance(low, int) else -largest,
        "maximum": min(high, largest) if isinstance(high, int) else largest,
    }


def _decimal_schema(spec: FieldSpec, locale: str | None) -> dict[str, Any]:
    # Numbers, or strings for exact values; JSON Schema cannot count digits, onboardkit does.
    schema: dict[str, Any] = {
        "type": ["number", "string"],
        "pattern": _anchored(_DECIMAL_TEXT.pattern),
    }
    if isinstance(spec.min_value, Decimal):
        schema["minimum"] = _json_number(spec.min_value)
    if isinstance(spec.max_value, Decimal):
        schema["maximum"] = _json_number(spec.max_value)
    return schema


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _date_schema(spec: FieldSpec, locale: str | None) -> dict[str, Any]:
    return {"type": "string", "format": "date", "pattern": _anchored(_DATE_TEXT.pattern)}


def _email_schema(spec: FieldSpec, locale: str | None) -> dict[str, Any]:
    return {"type": "string", "format": "email", "maxLength": EMAIL_MAX_LENGTH}


def _boolean_schema(spec: FieldSpec, locale: str | None) -> dict[str, Any]:
    return {"type": "boolean", "const": True} if spec.required else {"type": "boolean"}


def _choice_schema(spec: FieldSpec, locale: str | None) -> dict[str, Any]:
    return {"type": "string", "oneOf": _choice_options(spec, locale)}


def _multi_choice_schema(spec: FieldSpec, locale: str | None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "array",
        "items": {"type": "string", "oneOf": _choice_options(spec, locale)},
        "uniqueItems": True,
        "maxItems": spec.item_limit,
    }
    if spec.required:
        schema["minItems"] = 1
    return schema


_JSON_SCHEMA: dict[FieldType, Callable[[FieldSpec, str | None], dict[str, Any]]] = {
    FieldType.TEXT: _text_schema,
    FieldType.INTEGER: _integer_schema,
    FieldType.DECIMAL: _decimal_schema,
    FieldType.EMAIL: _email_schema,
    FieldType.DATE: _date_schema,
    FieldType.BOOLEAN: _boolean_schema,
    FieldType.CHOICE: _choice_schema,
    FieldType.MULTI_CHOICE: _multi_choice_schema,
}


# -- the schema ----------------------------------------------------------------------------------


@attrs.frozen
class FieldSchema:
    """A tenant's custom fields, in the order a form shows them."""

    fields: tuple[FieldSpec, ...] = ()
    #: A submission with more keys than this is refused before any field is read.
    max_submission_keys: int = DEFAULT_MAX_SUBMISSION_KEYS

    @classmethod
    def from_mapping(cls, config: Mapping[str, object], *, key: str = "") -> FieldSchema:
        """The schema from a configuration mapping with a ``fields`` table.

        ``config["fields"]`` maps each field name to its options; ``config["max_submission_keys"]``
        optionally bounds the keys of a submission. Other keys of ``config`` belong to other
        building blocks and are left alone.

        :param key: The dotted key of ``config`` in a larger configuration (``tenants.acme``),
            prefixed to the keys in errors.
        :raises ConfigurationError: naming the exact key (``fields.customer_number.max_length``).
        """
        prefix = f"{key}." if key else ""
        if not isinstance(config, Mapping):
            raise ConfigurationError(key=key or "fields", reason="must be a table")
        table = config.get("fields", {})
        if not isinstance(table, Mapping):
            raise ConfigurationError(key=f"{prefix}fields", reason="must be a table of fields")
        fields = tuple(
            FieldSpec.from_mapping(name, options, key=f"{prefix}fields.{name}")
            for name, options in table.items()
        )
        max_keys = _Options(config, key or "").integer(
            "max_submission_keys", minimum=max(len(fields), 1), maximum=10_000
        )
        return cls(
            fields=fields,
            max_submission_keys=DEFAULT_MAX_SUBMISSION_KEYS if max_keys is None else max_keys,
        )

    @classmethod
    def from_toml(cls, source: str | PathLike[str]) -> FieldSchema:
        """The schema from TOML: a :class:`str` is TOML text, a path is a file to read.

        :raises ConfigurationError: when the file cannot be read, is not valid TOML, or holds a
            wrong option.
        """
        if isinstance(source, str):
            origin, text = "fields", source
        else:
            origin = str(source)
            try:
                text = Path(source).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ConfigurationError(key=origin, reason=f"cannot be read: {error}") from None
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigurationError(key=origin, reason=f"is not valid TOML: {error}") from None
        return cls.from_mapping(document)

    def __getitem__(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def validate(
        self, data: Mapping[str, object], *, tenant: str, plugins: Plugins | None = None
    ) -> dict[str, object]:
        """The parsed, normalized value of every declared field in ``data``.

        Only declared fields are read; every other key of ``data`` is ignored and never appears
        in the result. The result holds every declared field, with :attr:`FieldSpec.empty_value`
        for optional fields left empty. Values that pass their declared rules are then checked by
        the plugins' ``onboardkit_validate_field`` hooks.

        :param data: The submission: form-style (strings; lists for multi-choice) or JSON-style.
        :param tenant: The tenant whose schema this is, passed on to the plugins.
        :param plugins: Where to find the validation hooks; ``None`` for declared rules only.
        :raises ValidationError: with every issue of every field, each at ``fields.<name>``.
        """
        if not isinstance(data, Mapping):
            raise ValidationError([Issue("fields", FIELDS_WRONG_TYPE)])
        if len(data) > self.max_submission_keys:
            raise ValidationError(
                [Issue("fields", FIELDS_TOO_MANY_KEYS, {"max_keys": self.max_submission_keys})]
            )
        values: dict[str, object] = {}
        issues: list[Issue] = []
        for spec in self.fields:
            try:
                values[spec.name] = spec.parse(data.get(spec.name))
            except ValidationError as error:
                issues.extend(error.issues)
        if plugins is not None:
            view = MappingProxyType(dict(values))
            for spec in self.fields:
                value = values.get(spec.name)
                if value is not None and value is not False and value != ():
                    issues.extend(_plugin_issues(plugins, tenant, spec, value, view))
        if issues:
            raise ValidationError(issues)
        return values

    def to_json(self, values: Mapping[str, object]) -> dict[str, object]:
        """Validated ``values`` in JSON-ready form (for storage); :meth:`validate` reads it back.

        Decimals and dates become strings, email addresses their normalized form; fields whose
        value is ``None`` are left out.
        """
        return {
            spec.name: spec.to_json(values[spec.name])
            for spec in self.fields
            if values.get(spec.name) is not None
        }

    def json_schema(self, *, locale: str | None = None) -> dict[str, Any]:
        """The schema as JSON Schema (draft 2020-12) for API clients, titled in ``locale``.

        It describes values as onboardkit stores them; :meth:`validate` also accepts form-style
        input and normalizes text, and it is the one that decides.
        """
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {spec.name: spec.json_schema(locale=locale) for spec in self.fields},
            "required": [spec.name for spec in self.fields if spec.required],
            "maxProperties": self.max_submission_keys,
        }


def _plugin_issues(
    plugins: Plugins, tenant: str, spec: FieldSpec, value: object, values: Mapping[str, object]
) -> list[Issue]:
    try:
        found = plugins.validate_field(tenant=tenant, field=spec, value=value, values=values)
        if all(isinstance(issue, Issue) for issue in found):
            return found
        log.error(
            "onboardkit_validate_field answered with something other than issues "
            "for field %r of tenant %r",
            spec.name,
            tenant,
        )
    except Exception:  # a broken check fails closed, never as a server error
        log.exception(
            "onboardkit_validate_field failed for field %r of tenant %r", spec.name, tenant
        )
    return [Issue(spec.path, FIELD_CHECK_UNAVAILABLE)]
