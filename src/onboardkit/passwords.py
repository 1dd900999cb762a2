"""Password policy: which passwords a person may choose, and why one was refused.

A :class:`PasswordPolicy` is configured per tenant (:meth:`PasswordPolicy.from_mapping`, from a
TOML table or a dict) and starts from a named profile (:data:`PROFILES`):

* ``default`` follows NIST SP 800-63B: 12 to 128 characters, no common password (a bundled list
  of 11,611 entries), nothing taken from the person's own details (email address, names, company,
  custom-field values), and a zxcvbn strength score of at least 3. No composition rules.
* ``composition`` reproduces the rules of the collaboration portal's invitation: at least 8
  characters with at least one special character, one digit (0-9) and one upper-case letter
  (A-Z), and nothing else.

:meth:`PasswordPolicy.check` returns every broken rule at once, each an :class:`Issue` at path
``password`` with a stable code (``password.too_short``); :meth:`PasswordPolicy.validate` raises
them as a :class:`~onboardkit.errors.PasswordPolicyError`; :meth:`PasswordPolicy.describe` gives
the rules as JSON-ready hints for a page to show while the person types.

The order of work keeps every check cheap whatever arrives: the length is checked before anything
else (input longer than four times the maximum is refused before it is even normalized), then the
password is normalized with NFKC (:func:`normalize_password`, applied identically by the hasher in
:mod:`onboardkit.hashing`), then the rules run. zxcvbn sees only a prefix bounded in length and in
the work its l33t matching would do (:func:`strength_input`), and never raises into the caller.

Rules come from the hook ``onboardkit_password_rules``: this module implements it for the built-in
rules (it is registered as a built-in plugin), and plugins add their own (:class:`PasswordRule`).
A plugin rule that raises is logged and skipped.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from datetime import date
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Protocol

import attrs

from onboardkit import hookimpl
from onboardkit.config import whole_number
from onboardkit.errors import (
    ConfigurationError,
    Issue,
    Message,
    PasswordPolicyError,
    message,
)
from onboardkit.i18n import normalize_locale

if TYPE_CHECKING:
    from onboardkit.plugins import Plugins

__all__ = [
    "CONTEXT_MAX_TERMS",
    "CONTEXT_MAX_VALUES",
    "CONTEXT_MAX_VALUE_LENGTH",
    "CONTEXT_MIN_WORD_LENGTH",
    "DEFAULT_TENANT",
    "MAX_LENGTH_CEILING",
    "MAX_LENGTH_FLOOR",
    "MIN_LENGTH_FLOOR",
    "NFKC_MAX_COMPOSITION",
    "PROFILES",
    "STRENGTH_COST_BUDGET",
    "STRENGTH_MAX_CHARS",
    "CharacterClass",
    "CharacterKind",
    "CommonPassword",
    "MinimumLength",
    "PasswordContext",
    "PasswordPolicy",
    "PasswordRule",
    "PersonalInformation",
    "Strength",
    "builtin_rules",
    "common_passwords",
    "estimate_strength",
    "normalize_password",
    "onboardkit_password_rules",
    "rule_description",
    "strength_input",
    "warm_up",
]

log = logging.getLogger(__name__)

PATH: Final = "password"
DEFAULT_TENANT: Final = "default"

# -- messages: what went wrong (issues) and what is asked for (hints) -------------------------

TOO_SHORT = message(
    "password.too_short", "The password is too short: use at least {min_length} characters."
)
TOO_LONG = message(
    "password.too_long", "The password is too long: use at most {max_length} characters."
)
TOO_COMMON = message(
    "password.too_common",
    "This password is on a list of commonly used passwords. Please choose a different one.",
)
PERSONAL = message(
    "password.contains_personal_info",
    "The password must not contain your name, email address, company or other details you entered.",
)
TOO_WEAK = message(
    "password.too_weak",
    "This password is too easy to guess. Add more words or characters, ideally uncommon ones.",
)
NEEDS_UPPER = message("password.needs_upper", "Include upper-case letters (A-Z): at least {count}.")
NEEDS_LOWER = message("password.needs_lower", "Include lower-case letters (a-z): at least {count}.")
NEEDS_DIGIT = message("password.needs_digit", "Include digits (0-9): at least {count}.")
NEEDS_SPECIAL = message(
    "password.needs_special",
    "Include special characters such as ! ? # or a space: at least {count}.",
)

#: A rule of the host application's own (a Django project's ``AUTH_PASSWORD_VALIDATORS``): the
#: host's text in the host's translations (``text``, a :class:`~onboardkit.errors.LocalizedText`)
#: and the host's code of the rule (``rule``).
HOST_RULE = message("password.host_rule", "{text}")
TOO_SHORT_HINT = message("password.hint.too_short", "At least {min_length} characters")
TOO_LONG_HINT = message("password.hint.too_long", "At most {max_length} characters")
TOO_COMMON_HINT = message("password.hint.too_common", "Not a commonly used password")
PERSONAL_HINT = message(
    "password.hint.contains_personal_info",
    "None of your name, email address, company or other details you entered",
)
TOO_WEAK_HINT = message(
    "password.hint.too_weak",
    "Hard to guess: several uncommon words or a long mix of characters",
)
NEEDS_UPPER_HINT = message(
    "password.hint.needs_upper", "Upper-case letters (A-Z): at least {count}"
)
NEEDS_LOWER_HINT = message(
    "password.hint.needs_lower", "Lower-case letters (a-z): at least {count}"
)
NEEDS_DIGIT_HINT = message("password.hint.needs_digit", "Digits (0-9): at least {count}")
NEEDS_SPECIAL_HINT = message(
    "password.hint.needs_special", "Special characters such as ! ? # or a space: at least {count}"
)

# -- limits --------------------------------------------------------------------------------------

#: No policy may allow passwords shorter than this (NIST SP 800-63B, ASVS 2.1.1).
MIN_LENGTH_FLOOR: Final = 8
#: Every policy accepts passwords at least this long (NIST SP 800-63B, ASVS 2.1.2).
MAX_LENGTH_FLOOR: Final = 64
#: No policy may allow longer passwords: beyond this, length only costs time.
MAX_LENGTH_CEILING: Final = 1024
#: NFKC composes at most four code points into one (U+1FAF from Greek omega and three marks), so
#: input longer than four times the maximum is too long after normalization too, and is refused
#: before normalization is paid for.
NFKC_MAX_COMPOSITION: Final = 4

#: Context words shorter than this are ignored: "max" or "ag" would forbid half of all passwords.
CONTEXT_MIN_WORD_LENGTH: Final = 4
#: Only this many leading characters of each context value are looked at.
CONTEXT_MAX_VALUE_LENGTH: Final = 128
#: Only this many context values (names, email, company, fields, words, in that order) are used.
CONTEXT_MAX_VALUES: Final = 32
#: At most this many context terms are compared, so many long custom-field values cannot make the
#: check slow (Django CVE-2021-45115).
CONTEXT_MAX_TERMS: Final = 64

#: zxcvbn sees at most this many leading characters of a password. Its matching costs grow with
#: the square of the length; 20 would be cheaper, but would rate a password of three long words
#: (RespectivelyRainfallBombing32) by its first two and refuse it.
STRENGTH_MAX_CHARS: Final = 24
#: zxcvbn sees the longest prefix whose estimated cost, (1 + l33t substitution tables) *
#: length**2, stays within this budget: 24 characters without l33t characters, as few as 6 of
#: them when every one opens new substitutions. bench/passwords.py measures the whole check with
#: it well within its 25 ms budget.
STRENGTH_COST_BUDGET: Final = 3000

#: zxcvbn's l33t table (zxcvbn.matching.L33T_TABLE of zxcvbn 4.5), letters in its order; a test
#: compares it with the installed zxcvbn.
_L33T_TABLE: Final[tuple[tuple[str, str], ...]] = (
    ("a", "4@"),
    ("b", "8"),
    ("c", "({[<"),
    ("e", "3"),
    ("g", "69"),
    ("i", "1!|"),
    ("l", "1|7"),
    ("o", "0"),
    ("s", "$5"),
    ("t", "+7"),
    ("x", "%"),
    ("z", "2"),
)
_L33T_CHARACTERS: Final = frozenset("".join(characters for _letter, characters in _L33T_TABLE))

_WORD_BREAK: Final = re.compile(r"[\W_]+")


def normalize_password(password: str) -> str:
    """The password as onboardkit checks and hashes it: Unicode NFKC.

    Applied identically when a password is set and when it is verified, so "é" typed as one code
    point or as "e" and a combining accent, or a full-width A (U+FF21) and "A", are the same
    password. Nothing else is changed: no trimming, no case folding, no truncation.
    """
    return unicodedata.normalize("NFKC", password)


# -- the blocklist -------------------------------------------------------------------------------


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled blocklist, NFKC-normalized and case folded; read once, on first use.

    ``data/common-passwords.txt`` is generated by ``scripts/make_blocklist.py`` from the password
    list zxcvbn ships (see the file's header for provenance and licence).
    """
    source = resources.files("onboardkit") / "data" / "common-passwords.txt"
    text = source.read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _folded(password: str) -> str:
    return normalize_password(password).casefold()


# -- strength (zxcvbn) ---------------------------------------------------------------------------

# zxcvbn keeps the user inputs of a call in a module-level dictionary, so two threads estimating
# at once would see each other's words; calls are serialized (each is bounded to a few ms).
_ZXCVBN_LOCK: Final = threading.Lock()


def _l33t_substitutions_bound(present: Set[str]) -> int:
    """An upper bound of the substitution tables zxcvbn's l33t matcher tries for these characters.

    zxcvbn builds its tables letter by letter: each table gets one of the letter's characters,
    and a character an earlier letter already took forks the table once more. Its matcher runs a
    full dictionary pass per table.
    """
    bound = 1
    taken: set[str] = set()
    for _letter, characters in _L33T_TABLE:
        mine = [character for character in characters if character in present]
        if mine:
            bound *= len(mine) + sum(1 for character in mine if character in taken)
            taken.update(mine)
    return bound


def strength_input(password: str) -> str:
    """The prefix of ``password`` that zxcvbn is shown.

    At most :data:`STRENGTH_MAX_CHARS` characters, and shorter where zxcvbn's l33t matching would
    multiply its work (a prefix full of ``1|7+({[`` can cost seconds): the longest prefix whose
    cost estimate stays within :data:`STRENGTH_COST_BUDGET`. What comes after the prefix is not
    rated, so the estimate errs on the cautious side: characters added to a password rarely make
    it easier to guess.
    """
    l33t_seen: set[str] = set()
    substitutions = 1
    for index, character in enumerate(password[:STRENGTH_MAX_CHARS]):
        if character in _L33T_CHARACTERS and character not in l33t_seen:
            l33t_seen.add(character)
            substitutions = _l33t_substitutions_bound(l33t_seen)
        length = index + 1
        if (1 + substitutions) * length * length > STRENGTH_COST_BUDGET:
            return password[:index]
    return password[:STRENGTH_MAX_CHARS]


def estimate_strength(password: str, user_inputs: Sequence[str] = ()) -> int:
    """zxcvbn's score (0 to 4) of :func:`strength_input` of ``password``; never raises.

    ``user_inputs`` are words zxcvbn treats as known to an attacker (the person's name, say); at
    most :data:`CONTEXT_MAX_TERMS` of them, each cut to :data:`CONTEXT_MAX_VALUE_LENGTH`
    characters. When zxcvbn fails (it raises on an empty password, for one), the estimate is 0,
    the most conservative, and a warning is logged that names the error type and the input
    length, never the password.
    """
    sample = strength_input(password)
    inputs = [str(word)[:CONTEXT_MAX_VALUE_LENGTH] for word in user_inputs[:CONTEXT_MAX_TERMS]]
    try:
        from zxcvbn import zxcvbn  # imported on first use: it builds large dictionaries

        with _ZXCVBN_LOCK:
            result = zxcvbn(sample, user_inputs=inputs)
        score = int(result["score"])
    except Exception as error:  # zxcvbn must never take a request down
        log.warning(
            "password strength estimation failed (%s on a %d-character input); "
            "rating the password 0",
            type(error).__name__,
            len(sample),
        )
        return 0
    return min(max(score, 0), 4)


def warm_up() -> None:
    """Load the blocklist and zxcvbn now instead of in the first request (about 60 ms)."""
    common_passwords()
    estimate_strength("warm-up estimate")


# -- context -------------------------------------------------------------------------------------


def _text_tuple(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    return tuple(values)


def _field_values(values: Mapping[str, object]) -> dict[str, object]:
    return dict(values)


def _context_text(value: object) -> str | None:
    """A custom-field value as text to compare, or ``None`` for values that are no words."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, date)):
        return None
    try:
        return str(value)
    except ValueError:  # an int too long to print (sys.get_int_max_str_digits)
        return None


@attrs.frozen(eq=True, hash=False)
class PasswordContext:
    """What the person told us, which their password must not contain.

    :param names: First name, last name, display name, user name.
    :param email: The email address; the whole address, its local part and the words of both
        count (``max.mustermann@example-gmbh.de``: ``mustermann``, ``example``, ``gmbh``).
    :param company: The company or organization.
    :param fields: Custom-field values by field name; values are compared as text.
    :param words: Any other words to refuse: the application's or tenant's name.

    Words shorter than :data:`CONTEXT_MIN_WORD_LENGTH` are ignored, and only bounded parts of
    the values are compared (:data:`CONTEXT_MAX_VALUES`, :data:`CONTEXT_MAX_VALUE_LENGTH`,
    :data:`CONTEXT_MAX_TERMS`), so a long custom-field value cannot make the check slow.
    """

    names: tuple[str, ...] = attrs.field(default=(), converter=_text_tuple)
    email: str | None = None
    company: str | None = None
    fields: Mapping[str, object] = attrs.field(factory=dict, converter=_field_values)
    words: tuple[str, ...] = attrs.field(default=(), converter=_text_tuple)

    def _values(self) -> Iterator[tuple[str, str]]:
        """(source, value as text) pairs in order of importance."""
        for name in self.names:
            text = _context_text(name)
            if text:
                yield "name", text
        if isinstance(self.email, str) and self.email:
            yield "email", self.email
            local_part, at, _domain = self.email.rpartition("@")
            if at and local_part:
                yield "email", local_part
        sources: Iterator[tuple[str, object]] = itertools.chain(
            (("company", self.company),),
            ((f"fields.{field_name}", value) for field_name, value in self.fields.items()),
            (("words", word) for word in self.words),
        )
        for source, value in sources:
            text = _context_text(value)
            if text:
                yield source, text

    def terms(self) -> tuple[tuple[str, str], ...]:
        """(source, term) pairs to compare with: each value and its words, NFKC and case folded.

        Bounded: the first :data:`CONTEXT_MAX_VALUES` values, the first
        :data:`CONTEXT_MAX_VALUE_LENGTH` characters of each, at most :data:`CONTEXT_MAX_TERMS`
        terms, none shorter than :data:`CONTEXT_MIN_WORD_LENGTH`.
        """
        found: dict[str, str] = {}
        for number, (source, raw) in enumerate(self._values()):
            if number >= CONTEXT_MAX_VALUES:
                break
            text = _folded(raw[:CONTEXT_MAX_VALUE_LENGTH]).strip()
            for term in (text, *_WORD_BREAK.split(text)):
                if len(term) >= CONTEXT_MIN_WORD_LENGTH and term not in found:
                    found[term] = source
                    if len(found) >= CONTEXT_MAX_TERMS:
                        return tuple((src, term) for term, src in found.items())
        return tuple((src, term) for term, src in found.items())


# -- rules ---------------------------------------------------------------------------------------


class PasswordRule(Protocol):
    """One rule of a password policy; plugins return these from ``onboardkit_password_rules``.

    ``check`` gets the password already NFKC-normalized and within the policy's maximum length;
    it returns an :class:`~onboardkit.errors.Issue` per violation (path ``password``, usually),
    nothing when the password is fine. ``describe`` gives the rule as a hint for the page,
    a mapping with ``code``, ``params`` and ``hint`` (the text in ``locale``; see
    :func:`rule_description`), or ``None`` to show nothing. A rule that raises is logged and
    skipped; its violation is then not reported.
    """

    @property
    def code(self) -> str:
        """The stable code of the issues this rule reports (``password.breached``)."""

    def check(self, password: str, context: PasswordContext) -> Iterable[Issue]:
        """The violations of this rule by ``password``."""

    def describe(self, locale: str | None) -> Mapping[str, Any] | None:
        """The rule as a hint for a page, in ``locale``."""


def rule_description(
    code: str, hint: Message, params: Mapping[str, Any], locale: str | None
) -> dict[str, Any]:
    """A rule's entry in :meth:`PasswordPolicy.describe`: code, params and the hint's text."""
    return {"code": code, "params": dict(params), "hint": hint.render(locale, params)}


@attrs.frozen
class MinimumLength:
    """At least ``min_length`` characters (code points, after normalization)."""

    code: ClassVar[str] = TOO_SHORT.code
    min_length: int

    def check(self, password: str, context: PasswordContext) -> list[Issue]:
        if len(password) >= self.min_length:
            return []
        return [Issue(PATH, TOO_SHORT, {"min_length": self.min_length})]

    def describe(self, locale: str | None) -> dict[str, Any]:
        return rule_description(self.code, TOO_SHORT_HINT, {"min_length": self.min_length}, locale)


@attrs.frozen
class CommonPassword:
    """Not on the bundled blocklist (compared after NFKC, ignoring case)."""

    code: ClassVar[str] = TOO_COMMON.code

    def check(self, password: str, context: PasswordContext) -> list[Issue]:
        if password.casefold() in common_passwords():
            return [Issue(PATH, TOO_COMMON)]
        return []

    def describe(self, locale: str | None) -> dict[str, Any]:
        return rule_description(self.code, TOO_COMMON_HINT, {}, locale)


@attrs.frozen
class PersonalInformation:
    """Neither contains nor is contained in the person's own details (ignoring case).

    The issue's ``sources`` param names where the details came from (``email``, ``name``,
    ``company``, ``fields.<name>``, ``words``), never the details themselves.
    """

    code: ClassVar[str] = PERSONAL.code

    def check(self, password: str, context: PasswordContext) -> list[Issue]:
        folded = password.casefold()
        sources: list[str] = []
        for source, term in context.terms():
            contained = term in folded or (
                len(folded) >= CONTEXT_MIN_WORD_LENGTH and folded in term
            )
            if contained and source not in sources:
                sources.append(source)
        if not sources:
            return []
        return [Issue(PATH, PERSONAL, {"sources": sources})]

    def describe(self, locale: str | None) -> dict[str, Any]:
        return rule_description(self.code, PERSONAL_HINT, {}, locale)


@attrs.frozen
class Strength:
    """A zxcvbn score of at least ``min_score`` (0 to 4), the person's details counted as known."""

    code: ClassVar[str] = TOO_WEAK.code
    min_score: int

    def check(self, password: str, context: PasswordContext) -> list[Issue]:
        user_inputs = [term for _source, term in context.terms()]
        if estimate_strength(password, user_inputs) >= self.min_score:
            return []
        return [Issue(PATH, TOO_WEAK, {"min_score": self.min_score})]

    def describe(self, locale: str | None) -> dict[str, Any]:
        return rule_description(self.code, TOO_WEAK_HINT, {"min_score": self.min_score}, locale)


CharacterKind = Literal["upper", "lower", "digit", "special"]


def _is_upper(character: str) -> bool:
    return "A" <= character <= "Z"


def _is_lower(character: str) -> bool:
    return "a" <= character <= "z"


def _is_digit(character: str) -> bool:
    return "0" <= character <= "9"


def _is_special(character: str) -> bool:
    # Anything but a letter or digit of any script: punctuation, symbols (§, €), space, emoji.
    return not character.isalnum()


_CHARACTER_KINDS: Final[Mapping[str, tuple[Message, Message, Callable[[str], bool]]]] = (
    MappingProxyType(
        {
            "upper": (NEEDS_UPPER, NEEDS_UPPER_HINT, _is_upper),
            "lower": (NEEDS_LOWER, NEEDS_LOWER_HINT, _is_lower),
            "digit": (NEEDS_DIGIT, NEEDS_DIGIT_HINT, _is_digit),
            "special": (NEEDS_SPECIAL, NEEDS_SPECIAL_HINT, _is_special),
        }
    )
)


@attrs.frozen
class CharacterClass:
    """A composition rule: at least ``count`` characters of one kind.

    ``upper`` is A-Z, ``lower`` a-z, ``digit`` 0-9 (as the collaboration portal words its rules);
    ``special`` is any character that is neither a letter nor a digit of any script: punctuation,
    symbols such as § and €, the space, emoji.
    """

    kind: CharacterKind = attrs.field(validator=attrs.validators.in_(tuple(_CHARACTER_KINDS)))
    count: int

    @property
    def code(self) -> str:
        return _CHARACTER_KINDS[self.kind][0].code

    def check(self, password: str, context: PasswordContext) -> list[Issue]:
        issue_message, _hint, matches = _CHARACTER_KINDS[self.kind]
        if sum(1 for character in password if matches(character)) >= self.count:
            return []
        return [Issue(PATH, issue_message, {"count": self.count})]

    def describe(self, locale: str | None) -> dict[str, Any]:
        _message, hint, _matches = _CHARACTER_KINDS[self.kind]
        return rule_description(self.code, hint, {"count": self.count}, locale)


_BUILTIN_RULE_TYPES: Final = (
    MinimumLength,
    CommonPassword,
    PersonalInformation,
    Strength,
    CharacterClass,
)


def builtin_rules(policy: PasswordPolicy) -> tuple[PasswordRule, ...]:
    """The rules ``policy`` asks for, in the order they are reported and shown."""
    rules: list[PasswordRule] = [MinimumLength(policy.min_length)]
    composition: tuple[tuple[CharacterKind, int], ...] = (
        ("upper", policy.min_upper),
        ("lower", policy.min_lower),
        ("digit", policy.min_digits),
        ("special", policy.min_special),
    )
    rules.extend(CharacterClass(kind, count) for kind, count in composition if count)
    if policy.blocklist:
        rules.append(CommonPassword())
    if policy.context:
        rules.append(PersonalInformation())
    if policy.min_score:
        rules.append(Strength(policy.min_score))
    return tuple(rules)


@hookimpl
def onboardkit_password_rules(tenant: str, policy: PasswordPolicy) -> list[PasswordRule]:
    """The built-in rules of ``policy``; registered by ``Plugins.load()`` as a built-in plugin."""
    return list(builtin_rules(policy))


def _rule_name(rule: object) -> str:
    kind = type(rule)
    return f"{kind.__module__}.{kind.__qualname__}"


def _apply(rule: PasswordRule, password: str, context: PasswordContext) -> list[Issue]:
    if isinstance(rule, _BUILTIN_RULE_TYPES):
        # Ours: a failure is a bug to surface, not a rule to drop silently (fail closed).
        return list(rule.check(password, context))
    try:
        found = list(rule.check(password, context))
    except Exception as error:  # a plugin's bug must not refuse every password with a 500
        log.error(
            "password rule %s raised %s and was skipped", _rule_name(rule), type(error).__name__
        )
        return []
    issues = [item for item in found if isinstance(item, Issue)]
    if len(issues) != len(found):
        log.error("password rule %s returned something other than issues", _rule_name(rule))
    return issues


def _describe(rule: PasswordRule, locale: str | None) -> dict[str, Any] | None:
    if isinstance(rule, _BUILTIN_RULE_TYPES):
        return rule.describe(locale)
    try:
        answer = rule.describe(locale)
        if answer is None:
            return None
        entry = {
            "code": answer["code"],
            "params": dict(answer.get("params") or {}),
            "hint": answer["hint"],
        }
        if not isinstance(entry["code"], str) or not isinstance(entry["hint"], str):
            raise TypeError("code and hint must be text")
        json.dumps(entry)
    except Exception as error:
        log.error(
            "password rule %s could not describe itself (%s); not shown",
            _rule_name(rule),
            type(error).__name__,
        )
        return None
    return entry


# -- the policy ----------------------------------------------------------------------------------


def _switch(_instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(key=attribute.name, reason="expected true or false")


@attrs.frozen
class PasswordPolicy:
    """The rules a tenant's passwords follow. Start from a profile: :meth:`from_mapping`.

    :param min_length: Fewest characters (code points after NFKC), 8 at the least; default 12.
    :param max_length: Most characters, between 64 and 1024; default 128. Checked first.
    :param blocklist: Refuse the common passwords of the bundled list.
    :param context: Refuse passwords that contain the person's own details
        (:class:`PasswordContext`).
    :param min_score: The lowest zxcvbn score (0 to 4) accepted; 0 turns zxcvbn off.
    :param min_upper: Composition: fewest upper-case letters A-Z (0: no rule).
    :param min_lower: Composition: fewest lower-case letters a-z.
    :param min_digits: Composition: fewest digits 0-9.
    :param min_special: Composition: fewest special characters (neither letter nor digit).
    :param profile: The name of the profile this policy was made from (for display).
    """

    min_length: int = attrs.field(
        default=12, validator=whole_number(MIN_LENGTH_FLOOR, MAX_LENGTH_CEILING)
    )
    max_length: int = attrs.field(
        default=128, validator=whole_number(MAX_LENGTH_FLOOR, MAX_LENGTH_CEILING)
    )
    blocklist: bool = attrs.field(default=True, validator=_switch)
    context: bool = attrs.field(default=True, validator=_switch)
    min_score: int = attrs.field(default=3, validator=whole_number(0, 4))
    min_upper: int = attrs.field(default=0, validator=whole_number(0, MAX_LENGTH_FLOOR))
    min_lower: int = attrs.field(default=0, validator=whole_number(0, MAX_LENGTH_FLOOR))
    min_digits: int = attrs.field(default=0, validator=whole_number(0, MAX_LENGTH_FLOOR))
    min_special: int = attrs.field(default=0, validator=whole_number(0, MAX_LENGTH_FLOOR))
    profile: str = "default"

    def __attrs_post_init__(self) -> None:
        if self.min_length > self.max_length:
            raise ConfigurationError(
                key="min_length", reason=f"must not exceed max_length ({self.max_length})"
            )
        required = self.min_upper + self.min_lower + self.min_digits + self.min_special
        if required > self.max_length:
            raise ConfigurationError(
                key="max_length",
                reason=f"the composition rules ask for {required} characters, more than this",
            )

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, Any],
        *,
        key: str = "passwords",
        profiles: Mapping[str, PasswordPolicy] | None = None,
    ) -> PasswordPolicy:
        """The policy a configuration table describes: a profile, and settings that override it.

        ``{"profile": "composition", "min_length": 10}`` is the composition profile with a
        longer minimum; without ``profile`` the ``default`` profile is the start. Settings are
        the parameters of this class (except ``profile``, which names the start). A ``hashing``
        sub-table is left to :meth:`onboardkit.hashing.PasswordHasher.from_mapping`.

        :param key: Where the table sits in the configuration, for error messages
            (``tenants.acme.passwords``).
        :param profiles: The named profiles to choose from; :data:`PROFILES` by default.
        :raises ConfigurationError: naming the exact key of an unknown or wrong setting.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(key=key, reason="expected a table")
        known = PROFILES if profiles is None else profiles
        name = mapping.get("profile", "default")
        if not isinstance(name, str) or name not in known:
            raise ConfigurationError(
                key=f"{key}.profile",
                reason=f"unknown profile {name!r}; known: {', '.join(sorted(known))}",
            )
        settings = {field.name for field in attrs.fields(cls)} - {"profile"}
        changes: dict[str, Any] = {}
        for setting, value in mapping.items():
            if setting in ("profile", "hashing"):
                continue
            if setting not in settings:
                raise ConfigurationError(key=f"{key}.{setting}", reason="unknown setting")
            changes[setting] = value
        try:
            return attrs.evolve(known[name], profile=name, **changes)
        except ConfigurationError as error:
            raise ConfigurationError(
                key=f"{key}.{error.params['key']}", reason=error.params["reason"]
            ) from None

    def rules(
        self, *, tenant: str = DEFAULT_TENANT, plugins: Plugins | None = None
    ) -> list[PasswordRule]:
        """The rules of this policy: the built-in ones, then the plugins'.

        Without ``plugins``, the built-in rules only (no entry point is loaded behind the
        caller's back); pass the application's :class:`~onboardkit.plugins.Plugins` to include
        plugin rules. When collecting from plugins raises, the built-in rules are used alone.
        """
        if plugins is None:
            return list(builtin_rules(self))
        try:
            return plugins.password_rules(tenant=tenant, policy=self)
        except Exception as error:
            log.error(
                "collecting password rules from plugins raised %s; using the built-in rules only",
                type(error).__name__,
            )
            return list(builtin_rules(self))

    def _too_long(self) -> Issue:
        return Issue(PATH, TOO_LONG, {"max_length": self.max_length})

    def check(
        self,
        password: str,
        *,
        context: PasswordContext | None = None,
        plugins: Plugins | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> list[Issue]:
        """Every rule ``password`` breaks, as issues at path ``password``; empty when it is fine.

        A password over the maximum length gets ``password.too_long`` alone, found before any
        other work: input longer than :data:`NFKC_MAX_COMPOSITION` times the maximum is refused
        without being normalized, longer normalized input right after normalizing.
        """
        if not isinstance(password, str):
            raise TypeError("password must be a str")
        if len(password) > self.max_length * NFKC_MAX_COMPOSITION:
            return [self._too_long()]
        normalized = normalize_password(password)
        if len(normalized) > self.max_length:
            return [self._too_long()]
        if context is None:
            context = PasswordContext()
        issues: list[Issue] = []
        for rule in self.rules(tenant=tenant, plugins=plugins):
            issues.extend(_apply(rule, normalized, context))
        return issues

    def validate(
        self,
        password: str,
        *,
        context: PasswordContext | None = None,
        plugins: Plugins | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> None:
        """Like :meth:`check`, but raise the issues.

        :raises PasswordPolicyError: holding every issue :meth:`check` found.
        """
        issues = self.check(password, context=context, plugins=plugins, tenant=tenant)
        if issues:
            raise PasswordPolicyError(issues)

    def describe(
        self,
        locale: str | None = None,
        *,
        plugins: Plugins | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> dict[str, Any]:
        """The policy as JSON-ready data for a page that shows live hints.

        ``{"profile", "min_length", "max_length", "locale", "rules": [{"code", "params",
        "hint"}, ...]}``: one entry per rule, the hint in ``locale`` (English or German).
        """
        entries: list[dict[str, Any]] = []
        for rule in self.rules(tenant=tenant, plugins=plugins):
            entry = _describe(rule, locale)
            if entry is not None:
                entries.append(entry)
        too_long = rule_description(
            TOO_LONG.code, TOO_LONG_HINT, {"max_length": self.max_length}, locale
        )
        after_min = next(
            (index + 1 for index, entry in enumerate(entries) if entry["code"] == TOO_SHORT.code),
            0,
        )
        entries.insert(after_min, too_long)
        return {
            "profile": self.profile,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "locale": normalize_locale(locale),
            "rules": entries,
        }


#: The named starting points of a policy. ``default`` follows NIST SP 800-63B; ``composition``
#: is exactly the collaboration portal's invitation rules (seed 001): 8 characters, one special
#: character, one digit 0-9, one upper-case letter A-Z, nothing else.
PROFILES: Final[Mapping[str, PasswordPolicy]] = MappingProxyType(
    {
        "default": PasswordPolicy(),
        "composition": PasswordPolicy(
            min_length=8,
            blocklist=False,
            context=False,
            min_score=0,
            min_upper=1,
            min_digits=1,
            min_special=1,
            profile="composition",
        ),
    }
)
