"""Password hashing: Argon2id PHC strings, normalization, upgrades of stored parameters."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from onboardkit.errors import ConfigurationError
from onboardkit.hashing import (
    MAX_ITERATIONS,
    MAX_MEMORY_COST,
    Argon2Parameters,
    Hasher,
    PasswordHasher,
)
from onboardkit.passwords import PROFILES, normalize_password
from onboardkit.testing.passwords import CheapTestHasher, fast_argon2_hasher

PHC = re.compile(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)")
ANY_CHARACTER = st.characters(exclude_categories=())

FAST = fast_argon2_hasher()


def full_width(text: str) -> str:
    """``text`` with its printable ASCII characters in their full-width forms (U+FF01...)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _decoded_length(text: str) -> int:
    return len(base64.b64decode(text + "=" * (-len(text) % 4)))


def _foreign_argon2id(password: bytes, *, iterations: int, memory_cost: int) -> str:
    """A hash made by cryptography directly, with parameters our hasher would not choose."""
    kdf = Argon2id(
        salt=b"0123456789abcdef", length=32, iterations=iterations, lanes=1, memory_cost=memory_cost
    )
    return kdf.derive_phc_encoded(password)


# -- the default hasher --------------------------------------------------------------------------


def test_the_default_hasher_uses_argon2id_at_owasp_parameters_with_a_16_byte_salt():
    hasher = PasswordHasher()
    stored = hasher.hash("correct horse battery staple")
    found = PHC.fullmatch(stored)
    assert found is not None
    assert found.group(1, 2, 3) == ("19456", "2", "1")
    assert _decoded_length(found.group(4)) == 16
    assert _decoded_length(found.group(5)) == 32
    assert hasher.verify("correct horse battery staple", stored)
    assert not hasher.verify("correct horse battery stapler", stored)
    assert not hasher.needs_rehash(stored)


def test_every_hash_gets_its_own_salt():
    assert FAST.hash("same password") != FAST.hash("same password")


def test_the_parameters_travel_in_the_stored_hash():
    stored = PasswordHasher(memory_cost=47_104, iterations=1).hash("pw")
    assert Argon2Parameters.from_phc(stored) == Argon2Parameters(19, 47_104, 1, 1, 16, 32)


# -- normalization and no truncation -------------------------------------------------------------


def test_a_password_typed_decomposed_verifies_against_the_composed_one():
    stored = FAST.hash("Caf\u00e9 crème")
    assert FAST.verify("Cafe\u0301 cre\u0300me", stored)


def test_full_width_characters_verify_as_their_plain_form():
    stored = FAST.hash("Passwort 2024")
    assert FAST.verify(full_width("Passwort 2024"), stored)


def test_the_policy_and_the_hasher_normalize_the_same_way():
    typed = "\ufb01ne " + full_width("Stra") + "\u00dfe e\u0301"
    assert FAST.verify(normalize_password(typed), FAST.hash(typed))
    assert FAST.verify(typed, FAST.hash(normalize_password(typed)))


def test_nothing_after_the_72nd_byte_is_ignored():
    # bcrypt silently drops everything after 72 bytes; this hasher must not.
    common = "x" * 72
    stored = FAST.hash(common + "first ending")
    assert not FAST.verify(common + "other ending", stored)
    assert not FAST.verify(common, stored)


def test_a_long_password_is_hashed_whole():
    password = "a sentence " * 100
    stored = FAST.hash(password)
    assert FAST.verify(password, stored)
    assert not FAST.verify(password[:-1] + "!", stored)


def test_spaces_are_kept_not_trimmed():
    stored = FAST.hash("  padded password  ")
    assert FAST.verify("  padded password  ", stored)
    assert not FAST.verify("padded password", stored)


def test_emoji_passwords_round_trip():
    stored = FAST.hash("🐴🔋📎 correct")
    assert FAST.verify("🐴🔋📎 correct", stored)
    assert not FAST.verify("🐴🔋 correct", stored)


def test_lone_surrogates_hash_and_verify_consistently():
    stored = FAST.hash("broken \ud800 client")
    assert FAST.verify("broken \ud800 client", stored)
    assert not FAST.verify("broken \ud801 client", stored)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=ANY_CHARACTER, max_size=200), st.text(alphabet=ANY_CHARACTER, max_size=200))
def test_hash_and_verify_round_trip_for_any_text(password, other):
    stored = FAST.hash(password)
    assert FAST.verify(password, stored)
    assert FAST.verify(normalize_password(password), stored)
    assume(normalize_password(other) != normalize_password(password))
    assert not FAST.verify(other, stored)


# -- upgrades ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory_cost", "iterations"), [(47_104, 2), (19_456, 3)], ids=["memory", "iterations"]
)
def test_raising_either_parameter_marks_older_hashes_for_a_rehash(memory_cost, iterations):
    old = PasswordHasher().hash("pw")
    assert PasswordHasher(memory_cost=memory_cost, iterations=iterations).needs_rehash(old)


def test_a_hash_weaker_than_configured_needs_a_rehash():
    old = PasswordHasher().hash("pw")
    stronger = PasswordHasher(memory_cost=65_536, iterations=3)
    assert stronger.verify("pw", old)
    assert stronger.needs_rehash(old)
    assert not stronger.needs_rehash(stronger.hash("pw"))


def test_a_hash_stronger_than_configured_is_kept():
    stronger = PasswordHasher(memory_cost=32_768, iterations=3).hash("pw")
    assert not PasswordHasher().needs_rehash(stronger)
    assert PasswordHasher().verify("pw", stronger)


def test_a_test_strength_hash_needs_a_rehash_under_the_default_hasher():
    assert PasswordHasher().needs_rehash(FAST.hash("pw"))


def test_a_hash_with_other_lanes_needs_a_rehash():
    assert PasswordHasher().needs_rehash(PasswordHasher(lanes=2).hash("pw"))


@pytest.mark.parametrize(
    "stored",
    [
        "pbkdf2_sha256$600000$c2FsdA$aGFzaA==",
        "$2b$12$abcdefghijklmnopqrstuuJ0e9P2p5n7i9XwqHc0qj4v7GnS4ScXq",
        "$argon2i$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$YWJjZGVmZ2hpamtsbW5vcA",
        "$argon2id$v=16$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$YWJjZGVmZ2hpamtsbW5vcA",
        "",
    ],
)
def test_another_format_needs_a_rehash_and_does_not_verify(stored):
    hasher = PasswordHasher()
    assert hasher.needs_rehash(stored)
    assert not hasher.verify("pw", stored)


# -- stored values that cannot be used -----------------------------------------------------------


def test_a_malformed_stored_hash_does_not_verify_and_is_logged_without_it(caplog):
    stored = FAST.hash("pw")
    damaged = stored[:-8]
    with caplog.at_level(logging.ERROR, logger="onboardkit.hashing"):
        assert not FAST.verify("pw", damaged + "!!")
    assert "cannot be verified" in caplog.text
    assert damaged not in caplog.text
    assert "pw" not in caplog.text.replace("password", "")


def test_a_stored_hash_asking_for_too_many_iterations_is_refused_unrun(caplog):
    # cryptography would verify this one (it is correct); running it is what must not happen.
    stored = _foreign_argon2id(b"pw", iterations=MAX_ITERATIONS + 1, memory_cost=8)
    assert Argon2id.verify_phc_encoded(b"pw", stored) is None
    with caplog.at_level(logging.ERROR, logger="onboardkit.hashing"):
        assert not FAST.verify("pw", stored)
    assert "iterations" in caplog.text


def test_a_stored_hash_asking_for_too_much_memory_is_refused():
    stored = f"$argon2id$v=19$m={MAX_MEMORY_COST + 1},t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + "A" * 43
    assert not FAST.verify("pw", stored)
    assert FAST.needs_rehash(stored)


@given(st.text(alphabet=ANY_CHARACTER, max_size=300))
def test_reading_parameters_never_fails_on_any_text(text):
    parameters = Argon2Parameters.from_phc(text)
    assert parameters is None or text.startswith("$argon2id$")


@given(
    st.integers(0, 10**10 - 1),
    st.integers(0, 10**10 - 1),
    st.integers(0, 10**10 - 1),
    st.binary(min_size=1, max_size=64),
    st.binary(min_size=1, max_size=64),
)
def test_reading_parameters_gives_back_what_the_string_states(m, t, p, salt, digest):
    def encode(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    text = f"$argon2id$v=19$m={m},t={t},p={p}${encode(salt)}${encode(digest)}"
    assert Argon2Parameters.from_phc(text) == Argon2Parameters(19, m, t, p, len(salt), len(digest))


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=ANY_CHARACTER, max_size=300))
def test_verify_and_needs_rehash_answer_any_stored_text(text):
    assert FAST.verify("pw", text) is False
    assert FAST.needs_rehash(text) is True


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory_cost", "iterations"), [(47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5)]
)
def test_owasps_equally_strong_settings_are_accepted(memory_cost, iterations):
    hasher = PasswordHasher.from_mapping({"memory_cost": memory_cost, "iterations": iterations})
    assert (hasher.memory_cost, hasher.iterations) == (memory_cost, iterations)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("memory_cost", 19_455),
        ("iterations", 1),
        ("memory_cost", "19456"),
        ("salt_length", 8),
        ("lanes", 0),
        ("memory_cost", MAX_MEMORY_COST + 1),
    ],
)
def test_weaker_or_wrong_settings_are_refused_naming_the_key(setting, value):
    with pytest.raises(ConfigurationError) as caught:
        PasswordHasher.from_mapping({setting: value}, key="tenants.acme.hashing")
    assert caught.value.params["key"].startswith("tenants.acme.hashing.")


def test_weak_parameters_cannot_be_switched_on_from_configuration():
    with pytest.raises(ConfigurationError) as caught:
        PasswordHasher.from_mapping({"memory_cost": 64, "allow_weak_parameters": True})
    assert caught.value.params["key"] == "passwords.hashing.allow_weak_parameters"


def test_weak_parameters_need_an_explicit_opt_in():
    with pytest.raises(ConfigurationError):
        PasswordHasher(memory_cost=64, iterations=1)
    assert PasswordHasher(memory_cost=64, iterations=1, allow_weak_parameters=True)


# -- the Hasher protocol and the test hasher -----------------------------------------------------


def _set_then_log_in(hasher: Hasher, password: str, attempt: str) -> bool:
    return hasher.verify(attempt, hasher.hash(password))


@pytest.mark.parametrize("hasher", [FAST, CheapTestHasher()], ids=["argon2id", "cheap"])
def test_both_hashers_serve_the_same_protocol(hasher):
    assert _set_then_log_in(hasher, "Cafe\u0301 au lait", "Caf\u00e9 au lait")
    assert not _set_then_log_in(hasher, "right", "wrong")


def test_the_cheap_test_hasher_and_argon2id_refuse_each_others_hashes():
    cheap = CheapTestHasher()
    assert not cheap.verify("pw", FAST.hash("pw"))
    assert cheap.needs_rehash(FAST.hash("pw"))
    assert not FAST.verify("pw", cheap.hash("pw"))
    assert not cheap.needs_rehash(cheap.hash("pw"))


def test_a_password_the_policy_accepts_is_hashed_as_checked():
    typed = full_width("Correct") + " horse battery staple"
    assert PROFILES["default"].check(typed) == []
    assert FAST.verify("Correct horse battery staple", FAST.hash(typed))
