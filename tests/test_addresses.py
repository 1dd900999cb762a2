"""Email addresses: parsed without network, stored as normalized, compared by canonical key."""

from __future__ import annotations

import socket

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from onboardkit.addresses import EMAIL_MAX_LENGTH, EmailAddress, parse_email
from onboardkit.errors import ValidationError


def _valid(text: str) -> EmailAddress:
    """The parsed address; hypothesis drops the example when it is not an address."""
    try:
        return parse_email(text)
    except ValidationError:
        assume(False)
        raise


def _code(text: object) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_email(text)
    (issue,) = caught.value.issues
    return issue.code


# -- the stored form -----------------------------------------------------------------------------


def test_the_stored_address_lower_cases_the_domain_and_keeps_the_local_part_as_typed():
    address = parse_email("John.Doe@Example.COM")
    assert address.normalized == "John.Doe@example.com"
    assert str(address) == "John.Doe@example.com"


def test_surrounding_white_space_is_removed():
    address = parse_email("  john@example.com \u00a0")
    assert address.as_entered == "john@example.com"
    assert address.normalized == "john@example.com"


def test_an_ascii_domain_is_stored_in_its_unicode_form():
    assert parse_email("kontakt@xn--bcher-kva.de").normalized == "kontakt@bücher.de"


def test_an_international_local_part_is_accepted():
    assert parse_email("jörg@müller.de").normalized == "jörg@müller.de"


def test_addresses_are_equal_when_their_stored_forms_are_whatever_was_typed():
    assert parse_email("a@Example.com") == parse_email(" a@example.com ")


# -- the canonical key ---------------------------------------------------------------------------


def test_addresses_differing_only_in_case_share_a_canonical_key():
    assert parse_email("John.Doe@Example.COM").canonical == "john.doe@example.com"
    assert parse_email("john.doe@example.com").canonical == "john.doe@example.com"


def test_sharp_s_and_ss_share_a_key_but_mail_still_goes_to_the_address_as_typed():
    # Django CVE-2019-19844: a caseless match must never redirect mail to the other spelling.
    first, second = parse_email("straße@example.de"), parse_email("STRASSE@example.de")
    assert first.canonical == second.canonical == "strasse@example.de"
    assert first.normalized == "straße@example.de"
    assert second.normalized == "STRASSE@example.de"


def test_dotless_i_does_not_fold_into_an_ascii_i():
    # Django CVE-2019-19844: "m\u0131ke" (dotless i) upper-cases to "MIKE"; it must not share
    # mike's key, or a look-up by the look-alike would find mike's account.
    look_alike = parse_email("m\u0131ke@example.org")
    assert look_alike.canonical == "m\u0131ke@example.org"
    assert look_alike.canonical != parse_email("mike@example.org").canonical
    assert look_alike.canonical != parse_email("MIKE@example.org").canonical


def test_full_width_letters_fold_into_the_canonical_key():
    address = parse_email("\uff4a\uff4f\uff48\uff4e@example.com")  # full-width "john"
    assert address.canonical == "john@example.com"
    assert address.normalized == "\uff4a\uff4f\uff48\uff4e@example.com"


def test_a_domain_in_ascii_and_unicode_form_shares_the_canonical_key():
    assert parse_email("info@XN--BCHER-KVA.de").canonical == parse_email("info@Bücher.de").canonical


def test_a_local_part_that_folds_into_an_impossible_address_is_refused():
    # A full-width "@" folds into a second "@": there would be no address for the key.
    assert _code("a\uff20b@example.com") == "email.invalid"


# -- what is refused -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "victim@example.com\r\nBcc: everyone@example.net",
        "victim@example.com\nBcc: everyone@example.net",
        "victim@example.com\rBcc: everyone@example.net",
        "victim@example.com\r\n",
        "\r\nvictim@example.com",
        "vic\x00tim@example.com",
        "victim@example.com\x85",
        "victim@example.com\u2028Bcc: everyone@example.net",
        "victim@exa\tmple.com",
    ],
)
def test_line_breaks_and_control_characters_are_refused_anywhere(text):
    assert _code(text) == "email.control_characters"


def test_a_bidirectional_override_is_refused_as_a_control_character():
    assert _code("moc.elpmaxe\u202e@evil.example") == "email.control_characters"


def test_an_address_of_254_octets_is_accepted_and_one_more_is_too_long():
    domain = "@" + ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 10]) + ".com"
    local = "x" * (EMAIL_MAX_LENGTH - len(domain))
    assert len(parse_email(local + domain).normalized) == 254
    assert _code("x" + local + domain) == "email.too_long"


def test_the_length_bound_counts_octets_of_the_utf8_form():
    text = "ä" * 125 + "@example.com"  # 137 characters, 262 octets
    assert len(text) < EMAIL_MAX_LENGTH
    assert _code(text) == "email.too_long"


def test_a_megabyte_of_input_is_too_long():
    assert _code("a" * 1_000_000 + "@example.com") == "email.too_long"


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_input_asks_for_an_address(text):
    assert _code(text) == "email.required"


@pytest.mark.parametrize(
    "text",
    [
        "john",
        "john@",
        "@example.com",
        "john@@example.com",
        "john@localhost",
        "john..doe@example.com",
        "John Doe <john@example.com>",
        '"john doe"@example.com',
        "john@[192.0.2.1]",
        "john@example.invalid",
    ],
)
def test_anything_but_a_plain_address_is_invalid(text):
    assert _code(text) == "email.invalid"


@pytest.mark.parametrize("value", [None, 42, b"john@example.com", ["john@example.com"]])
def test_input_that_is_not_text_is_invalid(value):
    assert _code(value) == "email.invalid"


def test_the_issue_is_reported_at_the_given_path():
    with pytest.raises(ValidationError) as caught:
        parse_email("nope", path="fields.contact_email")
    assert [issue.path for issue in caught.value.issues] == ["fields.contact_email"]


def test_the_default_path_is_email():
    with pytest.raises(ValidationError) as caught:
        parse_email("nope")
    assert caught.value.issues[0].path == "email"


def test_messages_render_in_german():
    with pytest.raises(ValidationError) as caught:
        parse_email("a" * 300)
    assert caught.value.issues[0].localized("de") == (
        "Eine E-Mail-Adresse darf höchstens 254 Zeichen lang sein."
    )


def test_parsing_never_touches_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("parse_email used the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "sendto", no_network)
    assert parse_email("someone@no-such-host-for-onboardkit.example.com").domain == (
        "no-such-host-for-onboardkit.example.com"
    )


# -- properties ----------------------------------------------------------------------------------

_ATOM = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+",
    min_size=1,
    max_size=20,
)
_LABEL = st.from_regex(r"[a-z][a-z0-9]{0,14}", fullmatch=True)
_DOMAIN = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "de", "org", "net"]),
)


def _random_case(text: str, flips: list[bool]) -> str:
    return "".join(
        char.upper() if flip else char.lower()
        for char, flip in zip(text, flips + [False] * len(text), strict=False)
    )


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_a_validation_error(text):
    try:
        codes = [] if isinstance(parse_email(text), EmailAddress) else ["not an address"]
    except ValidationError as error:
        codes = error.codes
    assert all(code.startswith("email.") for code in codes)


@given(st.one_of(st.emails(), st.builds("{}@{}".format, _ATOM, _DOMAIN)))
def test_the_canonical_key_is_its_own_canonical_key(text):
    address = _valid(text)
    assert parse_email(address.canonical).canonical == address.canonical
    assert parse_email(address.normalized).canonical == address.canonical


@given(st.text(st.characters(categories=["L", "M", "N", "P", "S"]), min_size=1, max_size=40))
def test_the_canonical_key_of_any_unicode_local_part_is_stable(local):
    address = _valid(local + "@example.com")
    assert parse_email(address.canonical).canonical == address.canonical


@given(st.emails())
def test_the_stored_form_is_its_own_stored_form(text):
    address = _valid(text)
    assert parse_email(address.normalized).normalized == address.normalized


@given(_ATOM, _DOMAIN, st.lists(st.booleans(), max_size=60))
def test_addresses_that_differ_only_in_the_case_of_the_domain_share_a_key(local, domain, flips):
    plain = parse_email(f"{local}@{domain}")
    shouted = parse_email(f"{local}@{_random_case(domain, flips)}")
    assert shouted.canonical == plain.canonical
    assert shouted.normalized == plain.normalized


@given(
    st.text(max_size=60),
    st.sampled_from(["\r\n", "\n", "\r", "\x00", "\u2028", "\u2029", "\x0b", "\x0c", "\x85"]),
    st.text(max_size=60),
)
def test_text_with_a_line_break_or_control_character_is_always_refused(before, breaker, after):
    assert _code(before + breaker + after) == "email.control_characters"
