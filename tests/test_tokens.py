"""Signed tokens: key ring, rotation, purpose, binding to address and state, lifetime, parsing."""

from __future__ import annotations

import ast
import base64
import hashlib
import logging
import re
import sys
import threading
import tracemalloc
import urllib.parse
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from onboardkit import tokens
from onboardkit.errors import (
    ConfigurationError,
    TokenBadSignature,
    TokenError,
    TokenExpired,
    TokenMalformed,
    TokenStaleState,
    TokenWrongPurpose,
)
from onboardkit.testing import FrozenClock
from onboardkit.tokens import (
    DEFAULT_LEEWAY,
    MAX_TOKEN_LENGTH,
    KeyRing,
    PeekedToken,
    SigningKey,
    TokenNotYetValid,
    TokenSigner,
    VerifiedToken,
    bound_email,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SECRET_A = bytes(range(32))
SECRET_B = bytes(range(100, 140))
PURPOSE = "registration.confirm"
SUBJECT = "42"
EMAIL = "Ada.Lovelace@example.org"
STATE = "registration:42:pending_confirmation:v3"
DAY = 24 * 3600
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
DOCS = Path(__file__).parent.parent / "docs" / "tokens.md"


def key_a() -> SigningKey:
    return SigningKey("2025-01", SECRET_A)


def key_b() -> SigningKey:
    return SigningKey("2025-06", SECRET_B)


def signer(
    *keys: SigningKey, clock: FrozenClock | None = None, leeway: int = DEFAULT_LEEWAY
) -> TokenSigner:
    return TokenSigner(KeyRing(keys or (key_a(),)), clock=clock or FrozenClock(), leeway=leeway)


def issue(token_signer: TokenSigner, **overrides: object) -> str:
    arguments: dict[str, object] = {
        "purpose": PURPOSE,
        "subject": SUBJECT,
        "email": EMAIL,
        "state": STATE,
        "ttl": DAY,
    }
    arguments.update(overrides)
    return token_signer.issue(**arguments)  # type: ignore[arg-type]


def verify(token_signer: TokenSigner, token: object, **overrides: object) -> VerifiedToken:
    arguments: dict[str, object] = {"purpose": PURPOSE, "email": EMAIL, "state": STATE}
    arguments.update(overrides)
    return token_signer.verify(token, **arguments)  # type: ignore[arg-type]


def decode(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def the_error(function, *args, **kwargs) -> TokenError:  # type: ignore[no-untyped-def]
    with pytest.raises(TokenError) as caught:
        function(*args, **kwargs)
    return caught.value


# -- issue and verify ----------------------------------------------------------------------------


def test_a_token_verifies_for_its_purpose_address_and_state():
    clock = FrozenClock(1_800_000_000.5)
    token_signer = signer(clock=clock)
    verified = verify(token_signer, issue(token_signer))
    assert verified == VerifiedToken(
        kid="2025-01",
        purpose=PURPOSE,
        subject=SUBJECT,
        issued_at=1_800_000_000,
        expires_at=1_800_000_000 + DAY,
    )


def test_a_token_is_one_url_safe_segment_without_padding_or_dots():
    token = issue(signer())
    assert URL_SAFE.fullmatch(token)
    assert urllib.parse.quote(token, safe="") == token


def test_a_token_holds_neither_the_address_nor_the_state_in_clear():
    token = issue(signer())
    raw = decode(token)
    for secret_fact in (EMAIL, EMAIL.lower(), "example.org", STATE, "pending_confirmation"):
        assert secret_fact.encode() not in raw
        assert secret_fact not in token


def test_the_tag_is_a_full_hmac_sha256_under_a_key_derived_from_the_secret():
    raw = decode(issue(signer()))
    derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=tokens._HKDF_INFO).derive(
        SECRET_A
    )
    mac = crypto_hmac.HMAC(derived[:32], hashes.SHA256())
    mac.update(raw[:-32])
    mac.verify(raw[-32:])


def test_the_binding_is_a_keyed_digest_not_a_plain_hash_of_the_address():
    raw = decode(issue(signer()))
    binding = raw[15:31]
    for plain in (EMAIL, EMAIL.lower(), bound_email(EMAIL)):
        for data in (plain.encode(), plain.encode() + STATE.encode()):
            assert hashlib.blake2b(data, digest_size=16).digest() != binding
            assert hashlib.sha256(data).digest()[:16] != binding


def test_a_timedelta_lifetime_is_accepted():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock)
    verified = verify(token_signer, issue(token_signer, ttl=timedelta(hours=2)))
    assert verified.expires_at - verified.issued_at == 7200


def test_bytes_state_binds_like_a_string_state():
    token_signer = signer()
    token = issue(token_signer, state=STATE.encode())
    assert verify(token_signer, token, state=STATE).subject == SUBJECT


def test_a_token_given_as_bytes_verifies():
    token_signer = signer()
    assert verify(token_signer, issue(token_signer).encode()).subject == SUBJECT


# -- key ring and rotation -----------------------------------------------------------------------


def test_the_newest_key_signs():
    token_signer = signer(key_b(), key_a())
    assert verify(token_signer, issue(token_signer)).kid == "2025-06"


def test_rotation_keeps_links_signed_with_the_old_key_verifying():
    clock = FrozenClock()
    before = signer(key_a(), clock=clock)
    link_in_flight = issue(before)
    after = TokenSigner(before.ring.rotated(key_b()), clock=clock)
    assert verify(after, link_in_flight).kid == "2025-01"
    assert verify(after, issue(after)).kid == "2025-06"


def test_a_removed_key_no_longer_verifies_its_links():
    before = signer(key_b(), key_a())
    old_link = issue(TokenSigner(KeyRing([key_a()]), clock=before.clock))
    after = TokenSigner(before.ring.without("2025-01"), clock=before.clock)
    assert isinstance(the_error(verify, after, old_link), TokenBadSignature)


def test_rotation_can_cap_how_many_old_keys_stay():
    ring = KeyRing([key_a()]).rotated(key_b(), keep=0)
    assert ring.kids == ("2025-06",)
    third = SigningKey.generate("2026-01")
    assert KeyRing([key_b(), key_a()]).rotated(third, keep=1).kids == ("2026-01", "2025-06")


def test_a_key_with_a_known_id_but_another_secret_is_a_bad_signature():
    forger = TokenSigner(KeyRing([SigningKey("2025-01", bytes(32))]))
    assert isinstance(the_error(verify, signer(), issue(forger)), TokenBadSignature)


def test_an_unknown_key_id_is_a_bad_signature():
    stranger = TokenSigner(KeyRing([SigningKey.generate("elsewhere")]))
    assert isinstance(the_error(verify, signer(), issue(stranger)), TokenBadSignature)


def test_a_secret_shorter_than_32_bytes_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        SigningKey("short", bytes(31))
    assert caught.value.params["key"] == "tokens.keys"


def test_a_secret_of_another_type_is_refused():
    with pytest.raises(ConfigurationError):
        SigningKey("text", "a" * 40)  # type: ignore[arg-type]


@pytest.mark.parametrize("kid", ["", "has space", "colon:kid", "ümlaut", "x" * 33])
def test_a_key_id_outside_the_allowed_characters_is_refused(kid):
    with pytest.raises(ConfigurationError):
        SigningKey(kid, SECRET_A)


def test_a_key_ring_needs_a_key():
    with pytest.raises(ConfigurationError):
        KeyRing([])


def test_a_key_ring_refuses_the_same_key_id_twice():
    with pytest.raises(ConfigurationError) as caught:
        KeyRing([key_a(), SigningKey("2025-01", SECRET_B)])
    assert "2025-01" in caught.value.params["reason"]


def test_rotating_in_a_key_id_already_in_the_ring_is_refused():
    with pytest.raises(ConfigurationError):
        KeyRing([key_a()]).rotated(SigningKey("2025-01", SECRET_B))


def test_removing_the_last_key_is_refused():
    with pytest.raises(ConfigurationError):
        KeyRing([key_a()]).without("2025-01")


def test_generated_keys_have_32_random_bytes():
    first, second = SigningKey.generate("a"), SigningKey.generate("b")
    assert len(first.secret) == 32
    assert first.secret != second.secret


def test_a_key_survives_its_string_form():
    generated = SigningKey.generate("2025-06")
    assert SigningKey.from_string(generated.to_string()) == generated


def test_key_strings_are_read_newest_first():
    ring = KeyRing.from_strings([key_b().to_string(), key_a().to_string()])
    assert ring.kids == ("2025-06", "2025-01")
    assert ring.signing_key == key_b()


def test_key_strings_may_come_as_one_comma_separated_string():
    ring = KeyRing.from_strings(f"{key_b().to_string()}, {key_a().to_string()}")
    assert ring.kids == ("2025-06", "2025-01")


def test_a_bad_key_string_is_named_by_its_position():
    short = "weak:" + encode(bytes(16))
    with pytest.raises(ConfigurationError) as caught:
        KeyRing.from_strings([key_a().to_string(), short])
    assert caught.value.params["key"] == "tokens.keys[1]"
    assert "32 bytes" in caught.value.params["reason"]


@pytest.mark.parametrize("entry", ["no-colon", "kid:not base64!", "kid:" + "A" * 45])
def test_a_key_string_that_is_not_kid_and_base64url_is_refused(entry):
    with pytest.raises(ConfigurationError):
        KeyRing.from_strings([entry])


def test_a_key_table_is_read_newest_first():
    table = {"2025-06": encode(SECRET_B), "2025-01": encode(SECRET_A)}
    assert KeyRing.from_mapping(table).keys == (key_b(), key_a())


def test_a_bad_key_table_entry_is_named_by_its_key_id():
    with pytest.raises(ConfigurationError) as caught:
        KeyRing.from_mapping({"2025-06": encode(SECRET_B), "old": encode(bytes(8))})
    assert caught.value.params["key"] == "tokens.keys.old"


# -- purpose -------------------------------------------------------------------------------------


def test_a_token_for_another_purpose_is_refused_although_its_signature_is_valid():
    token_signer = signer()
    token = issue(token_signer, purpose="invitation.accept")
    assert isinstance(the_error(verify, token_signer, token), TokenWrongPurpose)


@pytest.mark.parametrize("purpose", [PURPOSE + ".extra", "registration", "Registration.confirm"])
def test_a_purpose_that_is_only_similar_to_the_expected_one_is_refused(purpose):
    token_signer = signer()
    token = issue(token_signer, purpose=purpose)
    assert isinstance(the_error(verify, token_signer, token), TokenWrongPurpose)


# -- binding to subject, address and state -------------------------------------------------------


def test_a_token_for_another_address_is_stale():
    token_signer = signer()
    token = issue(token_signer)
    error = the_error(verify, token_signer, token, email="eve@example.org")
    assert isinstance(error, TokenStaleState)


def test_a_used_token_is_stale_once_the_state_moved_on():
    token_signer = signer()
    token = issue(token_signer)
    error = the_error(verify, token_signer, token, state="registration:42:confirmed:v4")
    assert isinstance(error, TokenStaleState)


def test_a_token_for_one_registration_does_not_act_on_another():
    token_signer = signer()
    token = issue(token_signer)
    other = "registration:43:pending_confirmation:v3"
    assert isinstance(the_error(verify, token_signer, token, state=other), TokenStaleState)


def test_address_and_state_cannot_trade_characters():
    token_signer = signer()
    token = issue(token_signer, email="a@b.c", state="xy")
    assert isinstance(
        the_error(verify, token_signer, token, email="a@b.cx", state="y"), TokenStaleState
    )


def test_the_case_of_the_domain_does_not_matter():
    token_signer = signer()
    token = issue(token_signer, email="Ada.Lovelace@Example.ORG")
    assert verify(token_signer, token, email="Ada.Lovelace@example.org").subject == SUBJECT


def test_the_case_of_the_local_part_matters():
    token_signer = signer()
    token = issue(token_signer, email="Ada.Lovelace@example.org")
    error = the_error(verify, token_signer, token, email="ada.lovelace@example.org")
    assert isinstance(error, TokenStaleState)


def test_bound_email_lowers_only_the_domain():
    assert bound_email("Ada@Example.ORG") == "Ada@example.org"
    assert bound_email('"a@b"@Example.ORG') == '"a@b"@example.org'
    assert bound_email("NoAtSign") == "NoAtSign"


def test_a_changed_subject_breaks_the_signature():
    raw = bytearray(decode(issue(signer())))
    assert raw[-34:-32] == SUBJECT.encode()
    raw[-34:-32] = b"43"
    assert isinstance(the_error(verify, signer(), encode(bytes(raw))), TokenBadSignature)


def test_a_changed_lifetime_breaks_the_signature():
    raw = bytearray(decode(issue(signer())))
    raw[11] ^= 0x80  # the high byte of the lifetime: a much longer life
    assert isinstance(the_error(verify, signer(), encode(bytes(raw))), TokenBadSignature)


# -- lifetime ------------------------------------------------------------------------------------


def test_a_token_verifies_until_its_expiry_plus_the_leeway():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock, leeway=30)
    token = issue(token_signer, ttl=60)
    clock.advance(89)
    assert verify(token_signer, token).subject == SUBJECT
    clock.advance(1)
    assert type(the_error(verify, token_signer, token)) is TokenExpired


def test_without_leeway_a_token_expires_at_its_expiry():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock, leeway=0)
    token = issue(token_signer, ttl=60)
    clock.advance(59.5)
    assert verify(token_signer, token).subject == SUBJECT
    clock.advance(0.5)
    assert isinstance(the_error(verify, token_signer, token), TokenExpired)


def test_expiry_is_checked_on_every_verify():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock)
    token = issue(token_signer, ttl=60)
    verify(token_signer, token)
    clock.advance(3600)
    assert isinstance(the_error(verify, token_signer, token), TokenExpired)


def test_a_token_from_the_future_within_the_leeway_verifies():
    clock = FrozenClock(1_800_000_000)
    ahead = signer(clock=FrozenClock(1_800_000_030))
    assert verify(signer(clock=clock, leeway=30), issue(ahead)).subject == SUBJECT


def test_a_token_from_beyond_the_leeway_in_the_future_is_refused():
    ahead = signer(clock=FrozenClock(1_800_000_031))
    behind = signer(clock=FrozenClock(1_800_000_000), leeway=30)
    error = the_error(verify, behind, issue(ahead))
    assert isinstance(error, TokenNotYetValid)
    assert isinstance(error, TokenExpired)
    assert error.code == "token.not_yet_valid"


def test_a_token_from_the_future_speaks_german():
    assert TokenNotYetValid().localized("de") == (
        "Dieser Link ist noch nicht gültig. Bitte versuchen Sie es in einigen Minuten erneut "
        "oder fordern Sie einen neuen an."
    )


@pytest.mark.parametrize("leeway", [-1, 61, 3600, 1.5, True, "30"])
def test_a_leeway_outside_0_to_60_seconds_is_refused(leeway):
    with pytest.raises(ConfigurationError) as caught:
        TokenSigner(KeyRing([key_a()]), leeway=leeway)
    assert caught.value.params["key"] == "tokens.leeway"


@pytest.mark.parametrize("ttl", [0, -1, -0.5, DAY * 30 + 1, timedelta(0), float("inf"), True])
def test_issue_refuses_a_lifetime_that_is_not_from_1_second_to_the_maximum(ttl):
    with pytest.raises(ValueError, match="ttl"):
        issue(signer(), ttl=ttl)


def test_issue_has_no_default_lifetime():
    with pytest.raises(TypeError):
        signer().issue(PURPOSE, SUBJECT, email=EMAIL, state=STATE)  # type: ignore[call-arg]


def test_max_age_shortens_the_lifetime_at_verify():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock, leeway=0)
    token = issue(token_signer, ttl=DAY)
    clock.advance(3600)
    assert verify(token_signer, token, max_age=7200).expires_at == 1_800_000_000 + 7200
    assert isinstance(the_error(verify, token_signer, token, max_age=3600), TokenExpired)


def test_max_age_never_lengthens_the_lifetime():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock, leeway=0)
    token = issue(token_signer, ttl=60)
    clock.advance(120)
    assert isinstance(the_error(verify, token_signer, token, max_age=DAY), TokenExpired)


@pytest.mark.parametrize("max_age", [0, -5])
def test_max_age_must_be_positive(max_age):
    token_signer = signer()
    with pytest.raises(ValueError, match="max_age"):
        verify(token_signer, issue(token_signer), max_age=max_age)


def test_lowering_max_ttl_shortens_links_already_sent():
    clock = FrozenClock(1_800_000_000)
    generous = TokenSigner(KeyRing([key_a()]), clock=clock, max_ttl=30 * DAY)
    token = issue(generous, ttl=30 * DAY)
    strict = TokenSigner(KeyRing([key_a()]), clock=clock, leeway=0, max_ttl=DAY)
    assert verify(strict, token).expires_at == 1_800_000_000 + DAY
    clock.advance(DAY)
    assert isinstance(the_error(verify, strict, token), TokenExpired)


def test_max_ttl_is_bounded():
    with pytest.raises(ConfigurationError) as caught:
        TokenSigner(KeyRing([key_a()]), max_ttl=366 * DAY)
    assert caught.value.params["key"] == "tokens.max_ttl"


# -- order of checks -----------------------------------------------------------------------------


def test_a_forged_token_is_a_bad_signature_whatever_else_is_wrong_with_it():
    clock = FrozenClock(1_800_000_000)
    forger = TokenSigner(KeyRing([SigningKey("2025-01", bytes(32))]), clock=clock)
    forged = issue(forger, purpose="other", ttl=1)
    clock.advance(DAY)
    error = the_error(verify, signer(clock=clock), forged, email="x@y.z", state="other")
    assert isinstance(error, TokenBadSignature)


def test_the_purpose_is_checked_before_the_lifetime():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock)
    token = issue(token_signer, purpose="invitation.accept", ttl=1)
    clock.advance(DAY)
    assert isinstance(the_error(verify, token_signer, token), TokenWrongPurpose)


def test_the_lifetime_is_checked_before_the_binding():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock)
    token = issue(token_signer, ttl=1)
    clock.advance(DAY)
    error = the_error(verify, token_signer, token, state="registration:42:confirmed:v4")
    assert isinstance(error, TokenExpired)


# -- peek ----------------------------------------------------------------------------------------


def test_peek_reads_the_subject_before_the_state_is_known():
    token_signer = signer()
    peeked = token_signer.peek(issue(token_signer), PURPOSE)
    assert isinstance(peeked, PeekedToken)
    assert not isinstance(peeked, VerifiedToken)
    assert peeked.subject == SUBJECT


def test_peek_still_checks_signature_purpose_and_lifetime():
    clock = FrozenClock(1_800_000_000)
    token_signer = signer(clock=clock)
    stranger = TokenSigner(KeyRing([SigningKey.generate("2025-01")]), clock=clock)
    with pytest.raises(TokenBadSignature):
        token_signer.peek(issue(stranger), PURPOSE)
    with pytest.raises(TokenWrongPurpose):
        token_signer.peek(issue(token_signer, purpose="other"), PURPOSE)
    token = issue(token_signer, ttl=60)
    clock.advance(DAY)
    with pytest.raises(TokenExpired):
        token_signer.peek(token, PURPOSE)


def test_peek_does_not_check_the_binding():
    token_signer = signer()
    token = issue(token_signer, email="someone@else.example", state="whatever")
    assert token_signer.peek(token, PURPOSE).subject == SUBJECT


def test_threads_can_share_one_signer():
    token_signer = signer()
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for number in range(300):
                state = f"registration:{number}:pending_confirmation:v1"
                token = issue(token_signer, subject=str(number), state=state)
                assert verify(token_signer, token, state=state).subject == str(number)
        except BaseException as error:  # handed to the main thread
            failures.append(error)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []


# -- malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    ["", "a", "abcd", "AQ", "not a token", "A" * 100, "a.b.c", "%41%42", "é" * 80, None, 42],
)
def test_garbage_is_malformed(garbage):
    assert isinstance(the_error(verify, signer(), garbage), TokenMalformed)


@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_huge_token_is_malformed_without_being_decoded(as_bytes):
    token_signer = signer()
    huge: str | bytes = issue(token_signer) + "A" * 1_000_000
    if as_bytes:
        huge = huge.encode()
    tracemalloc.start()
    try:
        error = the_error(verify, token_signer, huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, TokenMalformed)
    # Decoding, or even copying, a megabyte would allocate a megabyte.
    assert peak < 50_000


def test_a_token_just_over_the_longest_possible_is_malformed():
    assert isinstance(the_error(verify, signer(), "A" * (MAX_TOKEN_LENGTH + 1)), TokenMalformed)


def test_the_longest_possible_token_fits_the_limit():
    longest = TokenSigner(KeyRing([SigningKey("k" * 32, SECRET_A)]))
    token = issue(longest, purpose="p" * 64, subject="s" * 255)
    assert len(token) <= MAX_TOKEN_LENGTH
    assert verify(longest, token, purpose="p" * 64).subject == "s" * 255


@pytest.mark.parametrize("subject", ["4", "42"])  # 2 and 3 characters in the last group
def test_unused_bits_of_the_last_character_must_be_zero(subject):
    token = issue(signer(), subject=subject)
    last = ALPHABET.index(token[-1])
    spare_bits = {2: 0x0F, 3: 0x03}[len(token) % 4]
    assert last & spare_bits == 0
    twin = token[:-1] + ALPHABET[last | 1]
    assert decode(twin) == decode(token)
    assert isinstance(the_error(verify, signer(), twin), TokenMalformed)


@pytest.mark.parametrize("change", ["padding", "standard alphabet", "whitespace", "newline"])
def test_only_the_canonical_encoding_is_accepted(change):
    token_signer = signer()
    token = issue(token_signer, subject="?>?>?>")  # encodes to '+' and '/' in standard base64
    standard = base64.b64encode(decode(token)).decode().rstrip("=")
    assert standard != token
    variant = {
        "padding": token + "=" * (-len(token) % 4 or 4),
        "standard alphabet": standard,
        "whitespace": token[:10] + " " + token[10:],
        "newline": token + "\n",
    }[change]
    assert isinstance(the_error(verify, token_signer, variant), TokenMalformed)


def test_an_unknown_format_version_is_malformed():
    raw = bytearray(decode(issue(signer())))
    raw[0] = 2
    assert isinstance(the_error(verify, signer(), encode(bytes(raw))), TokenMalformed)


@pytest.mark.parametrize("length_byte", [1, 2])
def test_lengths_that_do_not_add_up_are_malformed(length_byte):
    raw = bytearray(decode(issue(signer())))
    raw[length_byte] = 250
    error = the_error(verify, signer(), encode(bytes(raw)))
    assert isinstance(error, (TokenMalformed, TokenBadSignature))


# -- secrets stay out of errors, reprs and logs --------------------------------------------------


def _every_failure(token_signer: TokenSigner, clock: FrozenClock, token: str) -> list[TokenError]:
    broken = token[:-1] + ("A" if token[-1] != "A" else "E")
    expired_signer = TokenSigner(token_signer.ring, clock=FrozenClock(clock.now + 365 * DAY))
    past_signer = TokenSigner(token_signer.ring, clock=FrozenClock(clock.now - DAY))
    return [
        the_error(verify, token_signer, token[: len(token) // 2]),
        the_error(verify, token_signer, broken),
        the_error(verify, token_signer, token, purpose="other"),
        the_error(verify, expired_signer, token),
        the_error(verify, past_signer, token),
        the_error(verify, token_signer, token, state="used"),
        the_error(token_signer.peek, token + "!", PURPOSE),
    ]


def _pieces(text: str, size: int = 6) -> set[str]:
    return {text[start : start + size] for start in range(len(text) - size + 1)}


def test_no_error_carries_any_part_of_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    clock = FrozenClock()
    token_signer = signer(clock=clock)
    token = issue(token_signer)
    errors = _every_failure(token_signer, clock, token)
    assert {type(error) for error in errors} >= {
        TokenMalformed,
        TokenBadSignature,
        TokenWrongPurpose,
        TokenExpired,
        TokenNotYetValid,
        TokenStaleState,
    }
    pieces = _pieces(token)
    for error in errors:
        shown = " ".join(
            [str(error), repr(error), repr(error.params), repr(error.args), str(error.as_dict())]
        )
        assert not any(piece in shown for piece in pieces), type(error)
        assert error.params == {}
        assert error.__context__ is None
        assert error.__cause__ is None


def test_rejections_are_logged_by_reason_without_token_address_or_secret(caplog):
    caplog.set_level(logging.DEBUG)
    clock = FrozenClock()
    token_signer = signer(clock=clock)
    token = issue(token_signer)
    _every_failure(token_signer, clock, token)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "token rejected: token.stale" in logged
    forbidden = _pieces(token) | {EMAIL, STATE, key_a().to_string().split(":")[1][:8]}
    assert not any(piece in logged for piece in forbidden)


def test_reprs_never_show_a_secret():
    key = key_a()
    encoded_secret = key.to_string().split(":", 1)[1]
    token_signer = signer(key)
    for shown in (repr(key), repr(token_signer.ring), repr(token_signer), str(token_signer)):
        assert encoded_secret not in shown
        assert repr(SECRET_A) not in shown
        assert SECRET_A.hex() not in shown


def test_configuration_errors_never_show_the_secret():
    weak = encode(b"0123456789abcdef")
    with pytest.raises(ConfigurationError) as caught:
        KeyRing.from_strings([f"k:{weak}"])
    shown = str(caught.value) + repr(caught.value)
    assert weak not in shown
    assert "0123456789abcdef" not in shown


def test_the_tag_is_compared_only_by_hmac_verify_and_the_binding_only_in_constant_time():
    tree = ast.parse(Path(tokens.__file__).read_text())
    compares = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Compare)]
    assert not [text for text in compares if re.search(r"\btag\b|binding|digest", text)]
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "mac.verify" in calls
    assert "_stdlib_hmac.compare_digest" in calls


# -- configuration -------------------------------------------------------------------------------


def _toml_example() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    return blocks[0]


def test_the_documented_toml_configuration_loads():
    settings_ = tomllib.loads(_toml_example())["tokens"]
    token_signer = TokenSigner.from_mapping(settings_, clock=FrozenClock())
    assert token_signer.leeway == 30
    assert token_signer.max_ttl == 7 * DAY
    assert len(token_signer.ring.keys) == 2
    assert verify(token_signer, issue(token_signer)).kid == token_signer.ring.kids[0]


def test_the_settings_may_name_keys_as_a_table():
    table = {"keys": {"2025-06": encode(SECRET_B), "2025-01": encode(SECRET_A)}, "leeway": 10}
    token_signer = TokenSigner.from_mapping(table)
    assert token_signer.ring.kids == ("2025-06", "2025-01")
    assert token_signer.leeway == 10


@pytest.mark.parametrize(
    ("settings_", "key"),
    [
        ({}, "tokens.keys"),
        ({"keys": [], "leeway": 5}, "tokens.keys"),
        ({"keys": ["k:" + encode(SECRET_A)], "leway": 5}, "tokens.leway"),
        ({"keys": ["k:" + encode(SECRET_A)], "leeway": 90}, "tokens.leeway"),
        ({"keys": ["k:" + encode(SECRET_A)], "max_ttl": 0}, "tokens.max_ttl"),
        ({"keys": ["k:" + encode(SECRET_A), "k:" + encode(SECRET_B)]}, "tokens.keys"),
        ({"keys": 5}, "tokens.keys"),
    ],
)
def test_a_bad_setting_is_named_exactly(settings_, key):
    with pytest.raises(ConfigurationError) as caught:
        TokenSigner.from_mapping(settings_)
    assert caught.value.params["key"] == key


# -- properties ----------------------------------------------------------------------------------


def _utf8_at_most(limit: int) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=limit).filter(lambda text: len(text.encode()) <= limit)


@settings(max_examples=200)
@given(
    purpose=_utf8_at_most(64),
    subject=_utf8_at_most(255),
    email=st.text(),
    state=st.one_of(st.text(), st.binary()),
)
def test_any_purpose_subject_address_and_state_survive_the_round_trip(
    purpose, subject, email, state
):
    token_signer = signer()
    token = token_signer.issue(purpose, subject, email=email, state=state, ttl=60)
    assert URL_SAFE.fullmatch(token)
    verified = token_signer.verify(token, purpose, email=email, state=state)
    assert (verified.purpose, verified.subject) == (purpose, subject)


@settings(max_examples=300)
@given(
    garbage=st.one_of(
        st.text(),
        st.binary(),
        st.text(alphabet=ALPHABET, max_size=MAX_TOKEN_LENGTH + 4),
        st.binary(min_size=60, max_size=420).map(encode),
    )
)
def test_verifying_garbage_raises_only_token_errors(garbage):
    with pytest.raises(TokenError):
        verify(signer(), garbage)


@settings(max_examples=300)
@given(data=st.data())
def test_any_single_character_change_breaks_a_valid_token(data):
    token = issue(signer(), subject=data.draw(_utf8_at_most(40)))
    position = data.draw(st.integers(0, len(token)))
    kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind != "insert" and position == len(token):
        position -= 1
    character = data.draw(st.one_of(st.sampled_from(ALPHABET), st.characters()))
    if kind == "replace":
        if character == token[position]:
            return
        changed = token[:position] + character + token[position + 1 :]
    elif kind == "insert":
        changed = token[:position] + character + token[position:]
    else:
        changed = token[:position] + token[position + 1 :]
    error = the_error(verify, signer(), changed)
    assert isinstance(error, (TokenMalformed, TokenBadSignature))


@given(
    local=st.text(min_size=1),
    domain=st.text(min_size=1).filter(lambda text: "@" not in text),
    ascii_domain=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-", min_size=1
    ),
)
def test_bound_email_lowers_the_case_of_the_domain_only(local, domain, ascii_domain):
    assert bound_email(f"{local}@{domain}") == f"{local}@{domain.lower()}"
    assert bound_email(f"{local}@{ascii_domain.upper()}") == bound_email(
        f"{local}@{ascii_domain.lower()}"
    )
