"""Email addresses: parsed by email-validator, with a stored form and a canonical form.

:func:`parse_email` turns what a person typed into an :class:`EmailAddress`, or raises a
:class:`~onboardkit.errors.ValidationError` with one issue and a stable code. It never looks
anything up on the network: deliverability is proven by the confirmation mail, not by DNS.

An address has two forms with two jobs:

* :attr:`EmailAddress.normalized` is the address as stored and the only one mail is sent to:
  email-validator's normalized form (domain lower-cased and IDNA-normalized, local part in Unicode
  NFC, case kept, since the receiving server decides whether ``John`` and ``john`` are one mailbox).
* :attr:`EmailAddress.canonical` is a key for uniqueness and rate limits, never an address to send
  to: the local part compared caselessly (Unicode compatibility caseless matching: NFKC and
  case folding), the domain as normalized. ``John.Doe@Example.COM`` and ``john.doe@example.com``
  share a key, and so do ``straße@…`` and ``STRASSE@…``.

Why keep them apart (Django CVE-2019-19844): if a look-up by canonical key finds an account, every
mail about it goes to the address stored with that account, never to the variant just typed. So a
collision of two keys can at worst make a second person look like the first one's duplicate; it can
never route the first one's mail to the second.
"""

from __future__ import annotations

import unicodedata

import attrs
from email_validator import EmailNotValidError, ValidatedEmail, validate_email

from onboardkit.errors import Issue, Message, ValidationError, message

__all__ = [
    "EMAIL_INVALID",
    "EMAIL_MAX_LENGTH",
    "EMAIL_REQUIRED",
    "EMAIL_TOO_LONG",
    "EMAIL_UNSAFE_CHARACTERS",
    "EmailAddress",
    "canonical_local_part",
    "parse_email",
]

#: RFC 5321 4.5.3.1.3 (with RFC 3696 errata 1690): at most 254 octets, counted in UTF-8.
EMAIL_MAX_LENGTH = 254

EMAIL_REQUIRED = message("email.required", "Please enter an email address.")
EMAIL_TOO_LONG = message(
    "email.too_long", "An email address can have at most {max_length} characters."
)
EMAIL_UNSAFE_CHARACTERS = message(
    "email.control_characters",
    "The email address contains a line break or another control character.",
)
EMAIL_INVALID = message(
    "email.invalid", "Please enter a valid email address, such as name@example.com."
)

#: Longer input is refused before any other work, white space included.
_INPUT_LIMIT = 4 * EMAIL_MAX_LENGTH

# Control characters (C0, C1, DEL: CR and LF among them), format characters (the bidirectional
# overrides and zero-width characters that make one address render as another) and the Unicode
# line and paragraph separators (str.splitlines and some mail software break lines there).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


@attrs.frozen
class EmailAddress:
    """A syntactically valid email address, in the forms onboardkit needs.

    ``str(address)`` is :attr:`normalized`. Two addresses are equal when their normalized forms
    are; what exactly was typed does not take part.
    """

    #: The address as the person typed it, surrounding white space removed; for showing it back.
    as_entered: str = attrs.field(eq=False)
    #: The address to store and the only one mail is ever sent to.
    normalized: str
    #: The key for uniqueness and rate limits; never used as a recipient.
    canonical: str

    def __str__(self) -> str:
        return self.normalized

    @property
    def domain(self) -> str:
        """The domain as normalized (Unicode form, lower case)."""
        return self.normalized.rpartition("@")[2]


def canonical_local_part(local_part: str) -> str:
    """The local part for caseless comparison: Unicode's compatibility caseless match.

    That is ``NFKD(casefold(NFKD(casefold(NFD(x)))))`` (The Unicode Standard, 3.13, D145),
    composed again with NFC for storage. It folds case, ``ß`` to ``ss`` included, and
    compatibility look-alikes such as full-width letters and ligatures.
    """
    decomposed = unicodedata.normalize("NFD", local_part).casefold()
    decomposed = unicodedata.normalize("NFKD", decomposed).casefold()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKD", decomposed))


def _issue(path: str, msg: Message, **params: object) -> ValidationError:
    return ValidationError([Issue(path, msg, params)])


def _validate(text: str) -> ValidatedEmail:
    # No DNS, no quoted local parts, no IP literals, no display names: an address of a person
    # who confirms it by mail, in the one plain form every mail system handles alike.
    return validate_email(
        text,
        check_deliverability=False,
        allow_quoted_local=False,
        allow_domain_literal=False,
        allow_display_name=False,
        allow_empty_local=False,
    )


def parse_email(text: object, *, path: str = "email") -> EmailAddress:
    """Parse an email address as typed into a form or sent by an API client.

    Surrounding white space is removed. Nothing is looked up on the network.

    :param text: The input; anything that is not a string is rejected as invalid.
    :param path: The path of the issue in the raised error (``fields.contact_email``, say).
    :raises ValidationError: with one issue: ``email.required`` (empty),
        ``email.control_characters`` (CR, LF, other control or format characters, anywhere),
        ``email.too_long`` (over 254 octets) or ``email.invalid`` (anything else).
    """
    if not isinstance(text, str):
        raise _issue(path, EMAIL_INVALID)
    if len(text) > _INPUT_LIMIT:
        raise _issue(path, EMAIL_TOO_LONG, max_length=EMAIL_MAX_LENGTH)
    # Checked before stripping: a trailing CR LF is a header injection attempt, not white space.
    if any(unicodedata.category(character) in _UNSAFE_CATEGORIES for character in text):
        raise _issue(path, EMAIL_UNSAFE_CHARACTERS)
    entered = text.strip()
    if not entered:
        raise _issue(path, EMAIL_REQUIRED)
    if len(entered.encode("utf-8", "surrogatepass")) > EMAIL_MAX_LENGTH:
        raise _issue(path, EMAIL_TOO_LONG, max_length=EMAIL_MAX_LENGTH)
    try:
        parsed = _validate(entered)
        canonical = canonical_local_part(parsed.local_part) + "@" + parsed.domain
        # The key must itself be an address whose key it is: full-width "@" or "⑴" in a local
        # part would fold into characters an address cannot hold, and such input is refused.
        if _validate(canonical).normalized != canonical:
            raise _issue(path, EMAIL_INVALID)
    except EmailNotValidError:
        raise _issue(path, EMAIL_INVALID) from None
    return EmailAddress(as_entered=entered, normalized=parsed.normalized, canonical=canonical)
