"""The password policy: length, normalization, blocklist, context words, zxcvbn, composition."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zxcvbn import matching as zxcvbn_matching
from zxcvbn import zxcvbn

from onboardkit import hookimpl, passwords
from onboardkit.errors import ConfigurationError, Issue, PasswordPolicyError, message
from onboardkit.hashing import PasswordHasher
from onboardkit.i18n import reload_catalogs
from onboardkit.passwords import (
    _L33T_TABLE,
    CONTEXT_MAX_TERMS,
    CONTEXT_MAX_VALUE_LENGTH,
    CONTEXT_MIN_WORD_LENGTH,
    PROFILES,
    STRENGTH_COST_BUDGET,
    STRENGTH_MAX_CHARS,
    CommonPassword,
    MinimumLength,
    PasswordContext,
    PasswordPolicy,
    PersonalInformation,
    Strength,
    _l33t_substitutions_bound,
    builtin_rules,
    common_passwords,
    estimate_strength,
    normalize_password,
    strength_input,
)
from onboardkit.testing import make_plugins

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
STRONG = "correct horse battery staple"
L33T_CHARACTERS = "".join(characters for _letter, characters in _L33T_TABLE)
#: Every code point, lone surrogates (which broken clients send) included.
ANY_CHARACTER = st.characters(exclude_categories=())

BREACHED = message("test.password.breached", "This password appeared in a data breach.")
BREACHED_HINT = message("test.password.hint.breached", "Not found in known data breaches")

#: Only the blocklist decides (no length beyond 8, no context, no zxcvbn).
BLOCKLIST_ONLY = PasswordPolicy(min_length=8, context=False, min_score=0)
#: Only context words decide.
CONTEXT_ONLY = PasswordPolicy(min_length=8, blocklist=False, min_score=0)

MUSTERMANN = PasswordContext(
    email="max.mustermann@example-makler.de",
    names=("Max", "Mustermann"),
    company="Versicherungsmakler Nord GmbH",
    fields={"customer_number": "4711081523", "founded": date(1985, 7, 19), "newsletter": True},
)


def codes(issues: list[Issue]) -> list[str]:
    return [issue.code for issue in issues]


def full_width(text: str) -> str:
    """``text`` with its printable ASCII characters in their full-width forms (U+FF01...)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# -- profiles and configuration --------------------------------------------------------------


def test_the_default_profile_follows_nist_without_composition_rules():
    policy = PasswordPolicy.from_mapping({})
    assert policy == PROFILES["default"]
    assert (policy.min_length, policy.max_length, policy.min_score) == (12, 128, 3)
    assert policy.blocklist
    assert policy.context
    assert (policy.min_upper, policy.min_lower, policy.min_digits, policy.min_special) == (
        0,
        0,
        0,
        0,
    )


def test_the_default_profile_accepts_a_long_passphrase_without_digits_or_capitals():
    assert PROFILES["default"].check(STRONG) == []


def test_a_minimum_length_below_8_is_refused_naming_the_key():
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.from_mapping({"min_length": 7})
    assert caught.value.params["key"] == "passwords.min_length"


def test_a_minimum_length_of_8_is_allowed():
    assert PasswordPolicy.from_mapping({"min_length": 8}).min_length == 8


def test_a_maximum_below_64_is_refused_so_64_characters_are_always_accepted():
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.from_mapping({"max_length": 63})
    assert caught.value.params["key"] == "passwords.max_length"


def test_a_minimum_above_the_maximum_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.from_mapping({"min_length": 100, "max_length": 64})
    assert caught.value.params["key"] == "passwords.min_length"


@pytest.mark.parametrize(
    ("setting", "value"),
    [("min_length", "12"), ("min_length", True), ("blocklist", "yes"), ("min_score", 5)],
)
def test_a_setting_of_the_wrong_type_or_range_is_refused(setting, value):
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.from_mapping({setting: value}, key="tenants.acme.passwords")
    assert caught.value.params["key"] == f"tenants.acme.passwords.{setting}"


def test_an_unknown_setting_is_refused_naming_the_key():
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.from_mapping({"min_lenght": 12})
    assert caught.value.params["key"] == "passwords.min_lenght"


def test_an_unknown_profile_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        PasswordPolicy.from_mapping({"profile": "strict"})
    assert caught.value.params["key"] == "passwords.profile"


def test_a_profile_can_be_overridden():
    policy = PasswordPolicy.from_mapping({"profile": "composition", "min_length": 10})
    assert policy.profile == "composition"
    assert policy.min_length == 10
    assert codes(policy.check("Abcdefg1!")) == ["password.too_short"]


def test_the_blocklist_can_be_added_to_the_composition_profile():
    passes_composition = "P@ssw0rd"
    assert PROFILES["composition"].check(passes_composition) == []
    with_blocklist = PasswordPolicy.from_mapping({"profile": "composition", "blocklist": True})
    assert codes(with_blocklist.check(passes_composition)) == ["password.too_common"]


def test_own_profiles_can_be_offered():
    profiles = {**PROFILES, "staff": PasswordPolicy(min_length=16, profile="staff")}
    policy = PasswordPolicy.from_mapping({"profile": "staff"}, profiles=profiles)
    assert policy.min_length == 16


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                *("profile", "min_length", "max_length", "blocklist", "context", "min_score"),
                *("min_upper", "min_lower", "min_digits", "min_special", "other"),
            ]
        ),
        st.one_of(st.integers(-5, 2000), st.booleans(), st.text(max_size=12), st.none()),
    )
)
def test_from_mapping_gives_a_policy_or_a_configuration_error_for_any_table(table):
    try:
        policy = PasswordPolicy.from_mapping(table)
    except ConfigurationError as error:
        refused: ConfigurationError | None = error
    else:
        refused = None
        assert 8 <= policy.min_length <= policy.max_length
    assert refused is None or refused.params["key"].startswith("passwords.")


# -- length --------------------------------------------------------------------------------------


def test_a_password_below_the_minimum_is_refused_naming_the_minimum():
    [issue] = PasswordPolicy(min_score=0).check("Vx9#kq2!")
    assert (issue.path, issue.code, dict(issue.params)) == (
        "password",
        "password.too_short",
        {"min_length": 12},
    )


def test_a_64_character_password_is_accepted():
    password = "Sixty-four characters: a sentence long enough to remember well!!"
    assert len(password) == 64
    assert PROFILES["default"].check(password) == []


def test_a_password_at_the_maximum_is_accepted_and_one_more_character_is_not():
    at_maximum = ("The quick brown fox jumps over the lazy dog. " * 3)[:128]
    assert PROFILES["default"].check(at_maximum) == []
    assert codes(PROFILES["default"].check(at_maximum + "x")) == ["password.too_long"]


def test_a_1_mb_password_gets_the_too_long_error_alone_and_no_rule_runs():
    seen: list[str] = []

    class Recorder:
        code = "test.password.recorder"

        def check(self, password, context):
            seen.append(password)
            return []

        def describe(self, locale):
            return None

    class RecorderPlugin:
        @hookimpl
        def onboardkit_password_rules(self, tenant, policy):
            return [Recorder()]

    issues = PROFILES["default"].check("a" * 1_000_000, plugins=make_plugins(RecorderPlugin()))
    assert [(issue.code, dict(issue.params)) for issue in issues] == [
        ("password.too_long", {"max_length": 128})
    ]
    assert seen == []
    PROFILES["default"].check(STRONG, plugins=make_plugins(RecorderPlugin()))
    assert seen == [STRONG]


def test_input_far_beyond_the_maximum_is_refused_before_it_is_normalized(monkeypatch):
    normalized: list[int] = []
    real = passwords.normalize_password

    def recording(password: str) -> str:
        normalized.append(len(password))
        return real(password)

    monkeypatch.setattr(passwords, "normalize_password", recording)
    assert codes(PROFILES["default"].check("\ufdfa" * 1_000_000)) == ["password.too_long"]
    assert normalized == []
    assert codes(PROFILES["default"].check("\ufdfa" * 100)) == ["password.too_long"]
    assert normalized == [100]


def test_the_maximum_counts_code_points_of_the_normalized_password():
    decomposed = "e\u0301" * 128  # 256 code points as typed, 128 after NFKC
    assert "password.too_long" not in codes(PROFILES["default"].check(decomposed))
    expanding = "\ufdfa" * 8  # 8 code points as typed, 144 after NFKC
    assert codes(PROFILES["default"].check(expanding)) == ["password.too_long"]


def test_the_length_limits_do_not_depend_on_the_zxcvbn_prefix():
    # A rule looking only at the first characters would miss what comes after them.
    password = "Vx9#kq2!Lm4$Rt7&Wz5^" * 3 + "mustermann"
    assert codes(CONTEXT_ONLY.check(password, context=MUSTERMANN)) == [
        "password.contains_personal_info"
    ]


def test_spaces_and_emoji_are_allowed_and_count_as_characters():
    assert PROFILES["default"].check("  my 🐴 eats 🔋 staples  ") == []
    assert codes(PROFILES["default"].check("🐴🐴🐴🐴🐴🐴🐴🐴🐴🐴🐴")) == [
        "password.too_short",
        "password.too_weak",
    ]


def test_normalization_is_nfkc_and_changes_nothing_else():
    assert normalize_password("Cafe\u0301 " + full_width("ABC")) == "Café ABC"
    assert normalize_password("  Mixed Case  ") == "  Mixed Case  "


def test_a_password_that_is_not_text_is_a_programming_error():
    with pytest.raises(TypeError):
        PROFILES["default"].check(b"bytes password")  # type: ignore[arg-type]


# -- blocklist -----------------------------------------------------------------------------------


def test_a_common_password_is_refused_ignoring_case():
    assert codes(BLOCKLIST_ONLY.check("PassWord1")) == ["password.too_common"]
    assert codes(PasswordPolicy(min_score=0).check("LeaveMeAlone")) == ["password.too_common"]


def test_the_blocklist_compares_after_nfkc():
    assert codes(BLOCKLIST_ONLY.check(full_width("password1"))) == ["password.too_common"]


def test_an_uncommon_password_passes_the_blocklist():
    assert BLOCKLIST_ONLY.check("Vx9#kq2!Lm") == []


def test_the_bundled_blocklist_is_a_real_list_of_at_least_10000_passwords():
    entries = common_passwords()
    assert len(entries) >= 10_000
    assert {"password", "iloveyou", "qwertyuiop", "p@ssw0rd"} <= entries
    assert all(len(entry) >= 8 and entry == entry.casefold() for entry in entries)


def test_the_blocklist_is_loaded_once():
    assert common_passwords() is common_passwords()


def test_the_blocklist_file_is_what_its_generator_writes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_blocklist.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- context words -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "source"),
    [
        ("max.mustermann@example-makler.de", "email"),
        ("ilove-MUSTERMANN-99", "name"),
        ("my-example-makler-pw", "email"),
        ("Versicherungsmakler!", "company"),
        ("4711081523-secret", "fields.customer_number"),
        ("since 1985-07-19 ok", "fields.founded"),
    ],
)
def test_a_password_containing_the_persons_details_is_refused(password, source):
    [issue] = CONTEXT_ONLY.check(password, context=MUSTERMANN)
    assert issue.code == "password.contains_personal_info"
    assert source in issue.params["sources"]


def test_a_password_contained_in_a_detail_is_refused():
    context = PasswordContext(company="NordlichtVersicherungsmakler GmbH")
    assert codes(CONTEXT_ONLY.check("lichtversicher", context=context)) == [
        "password.contains_personal_info"
    ]


def test_the_issue_names_where_the_detail_came_from_never_the_detail():
    [issue] = CONTEXT_ONLY.check("ilove-mustermann", context=MUSTERMANN)
    assert dict(issue.params) == {"sources": ["name"]}
    assert "mustermann" not in json.dumps(issue.as_dict("de")).lower()


def test_context_words_shorter_than_4_characters_are_ignored():
    context = PasswordContext(names=("Max", "Li"), email="ab@cd.io")
    assert CONTEXT_MIN_WORD_LENGTH == 4
    assert CONTEXT_ONLY.check("maxi-li-abcd-io", context=context) == []


def test_a_password_without_personal_details_passes():
    assert CONTEXT_ONLY.check("Vx9#kq2!Lm4$", context=MUSTERMANN) == []


def test_context_terms_are_bounded_in_number_and_length():
    context = PasswordContext(
        company="Firma " * 100_000,
        fields={f"field_{n}": "lorem ipsum dolor " * 10_000 + str(n) for n in range(2_000)},
        words=tuple("wort" * 5_000 for _ in range(1_000)),
    )
    terms = context.terms()
    assert len(terms) <= CONTEXT_MAX_TERMS
    assert all(len(term) <= CONTEXT_MAX_VALUE_LENGTH for _source, term in terms)
    assert PROFILES["default"].check(STRONG, context=context) == []


def test_words_far_into_a_long_value_are_not_compared():
    context = PasswordContext(fields={"notes": "x" * CONTEXT_MAX_VALUE_LENGTH + " geheimwort"})
    assert CONTEXT_ONLY.check("geheimwort-123", context=context) == []
    near = PasswordContext(fields={"notes": "x" * 20 + " geheimwort"})
    assert codes(CONTEXT_ONLY.check("geheimwort-123", context=near)) == [
        "password.contains_personal_info"
    ]


def test_context_values_that_are_no_text_are_skipped():
    context = PasswordContext(fields={"flag": True, "none": None, "big": 10**5000, "list": [1]})
    assert context.terms() == ()


# -- zxcvbn --------------------------------------------------------------------------------------


def test_an_easily_guessed_password_is_refused_by_its_strength():
    assert codes(PROFILES["default"].check("aaaaaaaaaaaaaaaa")) == ["password.too_weak"]


def test_the_strength_counts_the_persons_details_as_known():
    strength_only = PasswordPolicy(blocklist=False, context=False)
    context = PasswordContext(company="Zebrafinkenzucht")
    assert strength_only.check("Zebrafinkenzucht2") == []
    assert codes(strength_only.check("Zebrafinkenzucht2", context=context)) == ["password.too_weak"]


def test_raw_zxcvbn_refuses_long_input_but_the_check_rates_a_prefix():
    long_password = "Vx9#kq2!Lm4$Rt7&Wz5^Pn8*" * 5
    with pytest.raises(ValueError, match="max length"):
        zxcvbn(long_password)
    assert len(strength_input(long_password)) <= STRENGTH_MAX_CHARS
    assert PROFILES["default"].check(long_password) == []


def test_l33t_heavy_input_is_rated_on_a_prefix_short_enough_to_stay_cheap():
    # Raw zxcvbn takes about half a second on 24 of these characters (bench/passwords.py).
    password = (L33T_CHARACTERS * 7)[:128]
    prefix = strength_input(password)
    assert 0 < len(prefix) <= STRENGTH_MAX_CHARS // 2
    assert estimate_strength(password) == zxcvbn(prefix)["score"]


def test_a_failing_zxcvbn_rates_the_password_0_and_logs_without_the_password(caplog):
    # zxcvbn raises IndexError on the empty string; the check must answer anyway.
    with pytest.raises(IndexError):
        zxcvbn("")
    with caplog.at_level(logging.WARNING, logger="onboardkit.passwords"):
        issues = PROFILES["default"].check("")
    assert codes(issues) == ["password.too_short", "password.too_weak"]
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "IndexError" in record.getMessage()


def test_the_l33t_table_is_the_one_of_the_installed_zxcvbn():
    installed = tuple(
        (letter, "".join(characters)) for letter, characters in zxcvbn_matching.L33T_TABLE.items()
    )
    assert installed == _L33T_TABLE


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(L33T_CHARACTERS), max_size=9))
def test_the_l33t_cost_bound_is_never_below_what_zxcvbn_enumerates(characters):
    subtable = zxcvbn_matching.relevant_l33t_subtable(
        "".join(characters), zxcvbn_matching.L33T_TABLE
    )
    enumerated = len(zxcvbn_matching.enumerate_l33t_subs(subtable))
    assert _l33t_substitutions_bound(characters) >= enumerated


def test_the_l33t_cost_bound_holds_for_the_whole_table():
    subtable = zxcvbn_matching.relevant_l33t_subtable(L33T_CHARACTERS, zxcvbn_matching.L33T_TABLE)
    enumerated = len(zxcvbn_matching.enumerate_l33t_subs(subtable))
    assert _l33t_substitutions_bound(set(L33T_CHARACTERS)) >= enumerated


@given(st.text(alphabet=ANY_CHARACTER, max_size=300))
def test_zxcvbn_only_ever_sees_a_bounded_prefix(password):
    prefix = strength_input(password)
    assert password.startswith(prefix)
    assert len(prefix) <= STRENGTH_MAX_CHARS
    substitutions = _l33t_substitutions_bound(set(prefix) & set(L33T_CHARACTERS))
    assert (1 + substitutions) * len(prefix) ** 2 <= STRENGTH_COST_BUDGET


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80), st.lists(st.text(max_size=40), max_size=5))
def test_estimate_strength_never_raises_and_gives_a_score(password, user_inputs):
    assert estimate_strength(password, user_inputs) in range(5)


# -- composition ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["Abcdefg1!", "Passwort1!", "ABCDEFG1 ", "Aaaaaaa1!", "password1A!", "Ä§bcdef1Z", "Q1€€€€€€"],
)
def test_the_composition_profile_accepts_what_the_seed_allows(password):
    assert PROFILES["composition"].check(password) == []


@pytest.mark.parametrize(
    ("password", "refused_for"),
    [
        ("Abcde1!", "password.too_short"),
        ("abcdefg1!", "password.needs_upper"),
        ("Äbcdefg1!", "password.needs_upper"),  # only A-Z count
        ("Abcdefgh!", "password.needs_digit"),
        ("Abcdefg\u0661!", "password.needs_digit"),  # only 0-9 count
        ("Abcdefgh1", "password.needs_special"),
        ("Abcdefgh1ä", "password.needs_special"),  # letters of any script are no specials
    ],
)
def test_the_composition_profile_refuses_what_the_seed_refuses(password, refused_for):
    assert codes(PROFILES["composition"].check(password)) == [refused_for]


def test_the_composition_profile_reports_every_missing_kind_at_once():
    assert codes(PROFILES["composition"].check("abc")) == [
        "password.too_short",
        "password.needs_upper",
        "password.needs_digit",
        "password.needs_special",
    ]


def test_composition_counts_after_normalization():
    # Full-width capital A and digit 1 become A and 1.
    assert PROFILES["composition"].check(full_width("A") + "bcdefg" + full_width("1") + "!") == []


def test_composition_rules_can_ask_for_more_than_one_of_a_kind():
    policy = PasswordPolicy.from_mapping({"profile": "composition", "min_digits": 3})
    [issue] = policy.check("Abcdefg12!")
    assert (issue.code, dict(issue.params)) == ("password.needs_digit", {"count": 3})


# -- check, validate, describe -------------------------------------------------------------------


def test_validate_raises_every_issue_at_once():
    with pytest.raises(PasswordPolicyError) as caught:
        PROFILES["default"].validate("password", context=MUSTERMANN)
    assert caught.value.codes == ["password.too_short", "password.too_common", "password.too_weak"]
    assert all(issue.path == "password" for issue in caught.value.issues)


def test_validate_accepts_a_good_password_silently():
    assert PROFILES["default"].validate(STRONG, context=MUSTERMANN) is None


def test_messages_render_in_german():
    reload_catalogs()
    with pytest.raises(PasswordPolicyError) as caught:
        PROFILES["composition"].validate("abc")
    texts = [issue.localized("de") for issue in caught.value.issues]
    assert texts[0] == "Das Passwort ist zu kurz: Verwenden Sie mindestens 8 Zeichen."
    assert texts[1] == "Verwenden Sie Großbuchstaben (A-Z): mindestens 1."
    assert caught.value.as_dict("de")["issues"][3]["message"].startswith("Verwenden Sie Sonder")


def test_describe_lists_every_rule_with_code_params_and_hint_as_json():
    description = PROFILES["default"].describe("en")
    assert json.loads(json.dumps(description)) == description
    assert [rule["code"] for rule in description["rules"]] == [
        "password.too_short",
        "password.too_long",
        "password.too_common",
        "password.contains_personal_info",
        "password.too_weak",
    ]
    assert description["rules"][0] == {
        "code": "password.too_short",
        "params": {"min_length": 12},
        "hint": "At least 12 characters",
    }


def test_describe_gives_german_hints():
    reload_catalogs()
    description = PROFILES["composition"].describe("de-DE")
    assert description["locale"] == "de"
    assert [rule["hint"] for rule in description["rules"]] == [
        "Mindestens 8 Zeichen",
        "Höchstens 128 Zeichen",
        "Großbuchstaben (A-Z): mindestens 1",
        "Ziffern (0-9): mindestens 1",
        "Sonderzeichen wie ! ? # oder ein Leerzeichen: mindestens 1",
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet=ANY_CHARACTER, max_size=600),
    st.sampled_from(sorted(PROFILES)),
    st.builds(
        PasswordContext,
        email=st.none() | st.text(max_size=300),
        names=st.lists(st.text(max_size=200), max_size=4),
        company=st.none() | st.text(max_size=300),
        fields=st.dictionaries(st.text(max_size=10), st.text(max_size=300), max_size=5),
    ),
)
def test_check_answers_any_text_with_issues_and_never_raises(password, profile, context):
    issues = PROFILES[profile].check(password, context=context)
    assert isinstance(issues, list)
    assert all(isinstance(issue, Issue) and issue.path == "password" for issue in issues)
    assert len(issues) == len({issue.code for issue in issues}) <= 9
    allowed = {"min_length", "max_length", "min_score", "count", "sources"}
    assert all(set(issue.params) <= allowed for issue in issues)
    if len(unicodedata.normalize("NFKC", password)) > 128:
        assert codes(issues) == ["password.too_long"]


# -- rules and plugins ---------------------------------------------------------------------------


class BreachedPassword:
    """A fake breached-password check, as a plugin would add one."""

    code = BREACHED.code

    def __init__(self, breached: set[str]) -> None:
        self.breached = breached
        self.seen: list[str] = []

    def check(self, password, context):
        self.seen.append(password)
        return [Issue("password", BREACHED)] if password in self.breached else []

    def describe(self, locale):
        return {"code": self.code, "params": {}, "hint": BREACHED_HINT.render(locale)}


class BreachPlugin:
    def __init__(self, rule: BreachedPassword) -> None:
        self.rule = rule
        self.calls: list[tuple[str, PasswordPolicy]] = []

    @hookimpl
    def onboardkit_password_rules(self, tenant, policy):
        self.calls.append((tenant, policy))
        return [self.rule]


class Broken:
    code = "test.password.broken"

    def check(self, password, context):
        raise RuntimeError(f"bug while looking at {password}")

    def describe(self, locale):
        raise RuntimeError("no description either")


class BrokenPlugin:
    @hookimpl
    def onboardkit_password_rules(self, tenant, policy):
        return [Broken()]


def test_the_builtin_rules_come_through_the_hook():
    policy = PROFILES["default"]
    assert policy.rules(plugins=make_plugins()) == list(builtin_rules(policy))
    assert policy.rules(plugins=make_plugins(builtins=False)) == []
    assert PROFILES["default"].check("x", plugins=make_plugins(builtins=False)) == []


def test_without_plugins_the_builtin_rules_apply():
    assert PROFILES["default"].rules() == [
        MinimumLength(12),
        CommonPassword(),
        PersonalInformation(),
        Strength(3),
    ]


def test_a_plugin_rule_adds_its_violation_after_the_builtin_ones():
    plugin = BreachPlugin(BreachedPassword({"Sommer2024!"}))
    issues = PROFILES["default"].check("Sommer2024!", plugins=make_plugins(plugin), tenant="acme")
    assert codes(issues) == ["password.too_short", BREACHED.code]
    assert plugin.calls == [("acme", PROFILES["default"])]


def test_a_plugin_rule_sees_the_normalized_password():
    rule = BreachedPassword(set())
    PROFILES["default"].check(
        "Cafe\u0301 au lait, bitte!", plugins=make_plugins(BreachPlugin(rule))
    )
    assert rule.seen == ["Caf\u00e9 au lait, bitte!"]


def test_a_plugin_rule_that_raises_is_logged_and_skipped(caplog):
    with caplog.at_level(logging.ERROR, logger="onboardkit.passwords"):
        issues = PROFILES["default"].check("Sommer2024!", plugins=make_plugins(BrokenPlugin()))
    assert codes(issues) == ["password.too_short"]
    [record] = caplog.records
    assert "Broken" in record.getMessage()
    assert "RuntimeError" in record.getMessage()
    assert "Sommer2024!" not in caplog.text


def test_a_plugin_whose_hook_raises_leaves_the_builtin_rules_in_force(caplog):
    class Exploding:
        @hookimpl
        def onboardkit_password_rules(self, tenant, policy):
            raise RuntimeError("cannot reach the breach service")

    with caplog.at_level(logging.ERROR, logger="onboardkit.passwords"):
        issues = PROFILES["default"].check("password", plugins=make_plugins(Exploding()))
    assert codes(issues) == ["password.too_short", "password.too_common", "password.too_weak"]
    assert "RuntimeError" in caplog.text


def test_a_plugin_rule_that_returns_no_issues_but_junk_is_ignored(caplog):
    class Junk:
        code = "test.password.junk"

        def check(self, password, context):
            return ["not an issue", None]

        def describe(self, locale):
            return {"code": self.code, "hint": object()}

    class JunkPlugin:
        @hookimpl
        def onboardkit_password_rules(self, tenant, policy):
            return [Junk()]

    plugins = make_plugins(JunkPlugin())
    assert PROFILES["default"].check(STRONG, plugins=plugins) == []
    assert [rule["code"] for rule in PROFILES["default"].describe(plugins=plugins)["rules"]] == [
        "password.too_short",
        "password.too_long",
        "password.too_common",
        "password.contains_personal_info",
        "password.too_weak",
    ]


def test_describe_includes_plugin_hints_and_skips_broken_ones():
    plugins = make_plugins(BreachPlugin(BreachedPassword(set())), BrokenPlugin())
    description = PROFILES["composition"].describe("en", plugins=plugins)
    assert description["rules"][-1] == {
        "code": BREACHED.code,
        "params": {},
        "hint": "Not found in known data breaches",
    }
    assert "test.password.broken" not in [rule["code"] for rule in description["rules"]]


def test_rules_are_checked_in_the_documented_order():
    policy = PasswordPolicy(min_upper=1, min_lower=1, min_digits=1, min_special=1)
    assert [rule.code for rule in builtin_rules(policy)] == [
        "password.too_short",
        "password.needs_upper",
        "password.needs_lower",
        "password.needs_digit",
        "password.needs_special",
        "password.too_common",
        "password.contains_personal_info",
        "password.too_weak",
    ]


def test_every_builtin_rule_describes_itself_as_it_reports():
    policy = PasswordPolicy(min_upper=1, min_lower=1, min_digits=1, min_special=1)
    for rule in builtin_rules(policy):
        assert rule.describe("en")["code"] == rule.code


def test_rule_codes_stay_stable():
    # Clients map these codes; renaming one is a breaking change.
    assert {rule.code for rule in builtin_rules(PasswordPolicy(min_upper=1, min_special=2))} == {
        "password.too_short",
        "password.needs_upper",
        "password.needs_special",
        "password.too_common",
        "password.contains_personal_info",
        "password.too_weak",
    }


# -- the documentation ---------------------------------------------------------------------------


def _toml_blocks() -> list[str]:
    text = (ROOT / "docs" / "passwords.md").read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)


def test_the_configuration_examples_in_the_docs_work():
    on_top, full = (tomllib.loads(block)["passwords"] for block in _toml_blocks())
    assert PasswordPolicy.from_mapping(full) == PROFILES["default"]
    assert PasswordHasher.from_mapping(full["hashing"]) == PasswordHasher()
    policy = PasswordPolicy.from_mapping(on_top)
    assert codes(policy.check("P@ssw0rd")) == ["password.too_common"]
