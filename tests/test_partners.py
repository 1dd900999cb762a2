"""Partner codes: the code format, the registry of issued codes, and resolution through plugins."""

from __future__ import annotations

import logging
import math
import re
import sys
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from hypothesis import assume, given
from hypothesis import strategies as st

from onboardkit import hookimpl
from onboardkit.errors import (
    ConfigurationError,
    PartnerCodeError,
    PartnerProviderError,
    ValidationError,
)
from onboardkit.partners import (
    ALPHABET,
    CODE_LENGTH,
    MAX_INPUT_LENGTH,
    REGISTRY_PLUGIN_NAME,
    Partner,
    PartnerCodes,
    PartnerRegistry,
    check_symbol,
    format_code,
    generate_code,
    normalize_code,
)
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.partners import InMemoryPartnerCodeStore, PartnerCodeStoreContract

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SECRET = b"s" * 32
OTHER_SECRET = b"t" * 32
DOCS = Path(__file__).parent.parent / "docs" / "partner-codes.md"
LOOK_ALIKES = {"O": "0", "I": "1", "L": "1", "U": "V"}


# -- helpers and fixtures --------------------------------------------------------------------


class AnsweringProvider:
    """A provider that knows the codes it is given and records every question."""

    def __init__(self, partners: dict[str, Partner] | None = None, answer_all: bool = False):
        self.partners = partners or {}
        self.answer_all = answer_all
        self.calls: list[str] = []

    @hookimpl
    def onboardkit_resolve_partner_code(self, tenant, code):
        self.calls.append(code)
        if self.answer_all:
            return Partner(id="remote", name="Remote Partner", tenant=tenant, source="crm")
        return self.partners.get(code)


class RaisingProvider:
    @hookimpl
    def onboardkit_resolve_partner_code(self, tenant, code):
        raise RuntimeError(f"backend down while looking up {code}")


class HangingProvider:
    """Blocks until released (never longer than ten seconds, so a failing test still ends)."""

    def __init__(self):
        self.release = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    @hookimpl
    def onboardkit_resolve_partner_code(self, tenant, code):
        self.calls += 1
        self.entered.set()
        self.release.wait(timeout=10)


class CountingStore(InMemoryPartnerCodeStore):
    def __init__(self):
        super().__init__()
        self.finds = 0

    def find(self, tenant, digest):
        self.finds += 1
        return super().find(tenant, digest)


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def store():
    return CountingStore()


@pytest.fixture
def registry(store, clock):
    return PartnerRegistry(store, SECRET, clock)


@pytest.fixture
def provider():
    return AnsweringProvider()


@pytest.fixture
def plugins(registry, provider):
    # The provider is registered after the registry, so pluggy would call it first if the
    # registry were not marked tryfirst.
    plugins = make_plugins(builtins=False)
    plugins.register(registry, name=REGISTRY_PLUGIN_NAME)
    plugins.register(provider, name="provider")
    return plugins


@pytest.fixture
def codes(plugins, registry):
    with PartnerCodes(plugins, timeout=5.0, registry=registry) as codes:
        yield codes


@pytest.fixture
def hanging():
    provider = HangingProvider()
    yield provider
    provider.release.set()


def _mistype(code: str) -> str:
    symbols = normalize_code(code)
    wrong = ALPHABET[(ALPHABET.index(symbols[5]) + 1) % len(ALPHABET)]
    return symbols[:5] + wrong + symbols[6:]


def _refusal(caught: pytest.ExceptionInfo[PartnerCodeError]) -> dict[str, object]:
    return caught.value.as_dict()


# -- the code format -------------------------------------------------------------------------


def test_generated_codes_are_grouped_for_display():
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", generate_code())


def test_generated_codes_use_only_unambiguous_symbols():
    symbols = {symbol for _ in range(200) for symbol in generate_code().replace("-", "")}
    assert symbols <= set(ALPHABET)
    assert not symbols & set("ILOU*~$=")


def test_every_random_position_of_a_code_takes_every_symbol():
    samples = [normalize_code(generate_code()) for _ in range(2000)]
    for position in range(CODE_LENGTH - 1):
        assert {sample[position] for sample in samples} == set(ALPHABET)


def test_codes_carry_at_least_60_random_bits():
    # 15 random symbols of 32, less what redrawing codes with an extra check symbol costs.
    bits = (CODE_LENGTH - 1) * math.log2(len(ALPHABET)) - math.log2(37 / 32)
    assert bits >= 60


def test_normalization_forgives_case_spaces_and_hyphens():
    code = normalize_code(generate_code())
    typed = f" {code[:4].lower()} {code[4:8]}\u2013{code[8:12].lower()}--{code[12:]} "
    assert normalize_code(typed) == code


def test_look_alike_letters_read_as_the_symbols_they_resemble():
    # 01V01V01V01V01V has the check symbol 7.
    assert normalize_code("oiu-OLU-0Iv-o1U-Olv-7") == "01V01V01V01V01V7"


def test_a_typo_is_caught_by_the_check_symbol():
    code = normalize_code(generate_code())
    with pytest.raises(PartnerCodeError) as caught:
        normalize_code(_mistype(code))
    assert caught.value.code == "partner_code.mistyped"


def test_a_typo_is_explained_in_german():
    with pytest.raises(PartnerCodeError) as caught:
        normalize_code(_mistype(generate_code()))
    assert caught.value.localized("de") == (
        "Dieser Partnercode enthält einen Tippfehler. Bitte prüfen Sie ihn Zeichen für Zeichen."
    )


@pytest.mark.parametrize("text", ["", "7K3M-Q9XR-2B4T", "7K3M-Q9XR-2B4T-8HWZ-1", "7K3M#Q9XR"])
def test_text_not_shaped_like_a_code_is_invalid(text):
    with pytest.raises(PartnerCodeError) as caught:
        normalize_code(text)
    assert caught.value.code == "partner_code.invalid"


def test_input_beyond_the_length_limit_is_invalid():
    code = generate_code()
    with pytest.raises(PartnerCodeError) as caught:
        normalize_code(code + " " * (MAX_INPUT_LENGTH - len(code) + 1))
    assert caught.value.code == "partner_code.invalid"


@st.composite
def valid_codes(draw):
    data = draw(
        st.text(alphabet=ALPHABET, min_size=CODE_LENGTH - 1, max_size=CODE_LENGTH - 1).filter(
            lambda data: check_symbol(data) in ALPHABET
        )
    )
    return data + check_symbol(data)


def _spellings(symbol: str) -> list[str]:
    fullwidth = chr(ord(symbol) - ord("0") + 0xFF10) if symbol.isdigit() else None
    if symbol.isalpha():
        fullwidth = chr(ord(symbol) - ord("A") + 0xFF21)
    typed = [symbol, symbol.lower(), fullwidth]
    typed += [alike for alike, meant in LOOK_ALIKES.items() if meant == symbol]
    typed += [alike.lower() for alike, meant in LOOK_ALIKES.items() if meant == symbol]
    return [spelling for spelling in typed if spelling]


@given(valid_codes())
def test_property_valid_codes_normalize_to_themselves(code):
    assert normalize_code(code) == code
    assert normalize_code(format_code(code)) == code


@given(valid_codes(), st.integers(0, CODE_LENGTH - 1), st.sampled_from(ALPHABET + "ILOUilou"))
def test_property_any_single_substitution_is_caught(code, position, typed):
    assume(LOOK_ALIKES.get(typed.upper(), typed.upper()) != code[position])
    with pytest.raises(PartnerCodeError) as caught:
        normalize_code(code[:position] + typed + code[position + 1 :])
    assert caught.value.code == "partner_code.mistyped"


@given(valid_codes(), st.integers(0, CODE_LENGTH - 2))
def test_property_swapping_neighbouring_symbols_is_caught(code, position):
    assume(code[position] != code[position + 1])
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    with pytest.raises(PartnerCodeError) as caught:
        normalize_code(swapped)
    assert caught.value.code == "partner_code.mistyped"


@given(valid_codes(), st.data())
def test_property_codes_survive_any_separators_case_and_look_alikes(code, data):
    separators = ["", "", " ", "-", "  ", "\u2013", "\u00ad", "\t", "\u3000"]
    typed = "".join(
        data.draw(st.sampled_from(_spellings(symbol))) + data.draw(st.sampled_from(separators))
        for symbol in code
    )
    assume(len(typed) <= MAX_INPUT_LENGTH)
    assert normalize_code(typed) == code
    assert format_code(typed) == format_code(code)


@given(st.one_of(st.text(max_size=80), st.text(alphabet=ALPHABET + "-  oOiIlLuU*~$=", max_size=40)))
def test_property_normalizing_any_text_gives_a_valid_code_or_a_partner_code_error(text):
    try:
        symbols = normalize_code(text)
    except PartnerCodeError as error:
        refused = error.code
    else:
        refused = None
        assert len(symbols) == CODE_LENGTH
        assert set(symbols) <= set(ALPHABET)
        assert check_symbol(symbols[:-1]) == symbols[-1]
    assert refused in {None, "partner_code.invalid", "partner_code.mistyped"}


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=30))
def test_property_the_check_symbol_is_crockfords_mod_37(data):
    as_base32 = data.translate(str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv"))
    assert check_symbol(data) == "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"[int(as_base32, 32) % 37]


# -- partners --------------------------------------------------------------------------------


def test_partner_data_reports_every_problem_by_path():
    with pytest.raises(ValidationError) as caught:
        Partner.from_mapping(
            {"id": 5, "name": "", "details": {"ok": 1, "list": [1], "nan": float("nan")}},
            tenant="acme",
            source="crm",
        )
    assert caught.value.code == "partner.invalid"
    assert [issue.path for issue in caught.value.issues] == [
        "id",
        "name",
        "details.list",
        "details.nan",
    ]


def test_partner_data_must_be_a_mapping():
    with pytest.raises(ValidationError) as caught:
        Partner.from_mapping(["id", "name"], tenant="acme", source="crm")
    assert caught.value.codes == ["partner.not_mapping"]


def test_partner_tenant_and_source_never_come_from_the_data():
    partner = Partner.from_mapping(
        {"id": "p", "name": "P", "tenant": "other", "source": "registry"},
        tenant="acme",
        source="crm",
    )
    assert (partner.tenant, partner.source) == ("acme", "crm")


def test_partner_names_with_control_characters_are_refused():
    with pytest.raises(ValidationError) as caught:
        Partner(id="p", name="Evil\r\nBcc: all@example.com", tenant="acme")
    assert [issue.path for issue in caught.value.issues] == ["name"]


def test_partner_details_are_read_only():
    partner = Partner(id="p", name="P", tenant="acme", details={"city": "Berlin"})
    with pytest.raises(TypeError):
        partner.details["city"] = "Paris"  # type: ignore[index]


def test_too_many_partner_details_are_refused():
    with pytest.raises(ValidationError) as caught:
        Partner(id="p", name="P", tenant="acme", details={f"k{n}": n for n in range(33)})
    assert caught.value.issues[0].path == "details"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.one_of(
        json_values,
        st.dictionaries(st.sampled_from(["id", "name", "details", "other"]), json_values),
    )
)
def test_property_partner_data_gives_a_partner_or_a_validation_error(data):
    try:
        partner = Partner.from_mapping(data, tenant="acme", source="crm")
    except ValidationError as error:
        issues = error.issues
    else:
        issues = ()
        assert partner.tenant == "acme"
    assert issues or partner


# -- the registry and its store --------------------------------------------------------------


class TestInMemoryPartnerCodeStore(PartnerCodeStoreContract):
    @pytest.fixture
    def store(self):
        return InMemoryPartnerCodeStore()


def test_the_store_holds_a_keyed_digest_and_a_hint_but_never_the_code(registry, store):
    _partner, code = registry.create("acme", "Partner One")
    symbols = normalize_code(code)
    [record] = store.records()
    mac = hmac.HMAC(SECRET, hashes.SHA256())
    mac.update(b"onboardkit.partner_code\x00" + (4).to_bytes(4, "big") + b"acme")
    mac.update(symbols.encode())
    assert record.digest == mac.finalize().hex()
    assert record.hint == symbols[-4:]
    assert symbols not in repr(record)
    assert code not in repr(record)


def test_a_leaked_store_is_useless_without_the_secret(registry, store, clock):
    _partner, code = registry.create("acme", "Partner One")
    assert PartnerRegistry(store, OTHER_SECRET, clock).inspect("acme", code) is None


def test_codes_issued_under_an_older_secret_still_work_after_rotation(store, clock):
    _partner, old_code = PartnerRegistry(store, OTHER_SECRET, clock).create("acme", "Old")
    rotated = PartnerRegistry(store, [SECRET, OTHER_SECRET], clock)
    _partner, new_code = rotated.create("acme", "New")
    assert rotated.inspect("acme", old_code) is not None
    assert PartnerRegistry(store, SECRET, clock).inspect("acme", new_code) is not None


def test_a_short_secret_is_a_configuration_error(store):
    with pytest.raises(ConfigurationError) as caught:
        PartnerRegistry(store, b"too short")
    assert caught.value.params["key"] == "partner_registry.secret"
    assert "too short" not in caught.value.message


def test_the_registry_is_configured_from_a_mapping(store, clock):
    registry = PartnerRegistry.from_mapping(
        store, {"secret": ["n" * 32, "o" * 32], "reject_mistyped": False}, clock=clock
    )
    assert registry.reject_mistyped is False


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({}, "partner_registry.secret"),
        ({"secret": 42}, "partner_registry.secret"),
        ({"secret": "s" * 32, "reject_mistyped": "yes"}, "partner_registry.reject_mistyped"),
        ({"secret": "s" * 32, "pepper": "x"}, "partner_registry.pepper"),
    ],
)
def test_bad_registry_settings_name_their_key(store, settings, key):
    with pytest.raises(ConfigurationError) as caught:
        PartnerRegistry.from_mapping(store, settings)
    assert caught.value.params["key"] == key


def test_a_code_needs_a_future_expiry_and_at_least_one_use(registry, clock):
    with pytest.raises(ValidationError) as caught:
        registry.create("acme", "Partner One", expires_at=clock.now, max_uses=0)
    assert [issue.path for issue in caught.value.issues] == ["expires_at", "max_uses"]


def test_another_code_can_be_issued_for_a_partner(registry, codes):
    partner, first = registry.create("acme", "Partner One")
    second = registry.issue(partner)
    assert second != first
    assert codes.resolve("acme", second) == partner


def test_revoking_a_code_reports_whether_it_changed_anything(registry):
    _partner, code = registry.create("acme", "Partner One")
    assert registry.revoke("acme", code) is True
    assert registry.revoke("acme", code) is False
    assert registry.revoke("acme", generate_code()) is False


def test_operators_can_see_why_a_code_is_refused(registry, clock):
    _partner, code = registry.create("acme", "Partner One", expires_at=clock.now + 60)
    clock.advance(60)
    record = registry.inspect("acme", code)
    assert record is not None
    assert record.refusal(clock.now) == "expired"


# -- resolution ------------------------------------------------------------------------------


def test_an_issued_code_resolves_to_its_partner_however_it_is_typed(registry, codes):
    partner, code = registry.create("acme", "Partner One", {"city": "Berlin"})
    assert codes.resolve("acme", "  " + code.lower().replace("-", " ") + " ") == partner


def test_the_registry_answers_before_any_provider(registry, codes, provider):
    provider.answer_all = True
    partner, code = registry.create("acme", "Partner One")
    assert codes.resolve("acme", code) == partner
    assert provider.calls == []


def test_a_provider_answers_for_codes_the_registry_does_not_know(codes, provider):
    remote = Partner(id="r-1", name="Remote", tenant="acme", source="crm")
    unknown_registry_shaped = generate_code()
    provider.partners = {"ACME-2024": remote, unknown_registry_shaped: remote}
    assert codes.resolve("acme", "ACME-2024") == remote
    assert codes.resolve("acme", unknown_registry_shaped) == remote


def test_an_unknown_code_is_refused_as_invalid(codes):
    with pytest.raises(PartnerCodeError) as caught:
        codes.resolve("acme", generate_code())
    assert type(caught.value) is PartnerCodeError
    assert caught.value.code == "partner_code.invalid"


def test_a_code_issued_in_another_tenant_is_unknown(registry, codes):
    _partner, code = registry.create("globex", "Partner One")
    with pytest.raises(PartnerCodeError):
        codes.resolve("acme", code)


def test_a_typo_is_refused_before_any_lookup(registry, codes, store, provider):
    _partner, code = registry.create("acme", "Partner One")
    finds = store.finds
    with pytest.raises(PartnerCodeError) as caught:
        codes.resolve("acme", _mistype(code))
    assert caught.value.code == "partner_code.mistyped"
    assert store.finds == finds
    assert provider.calls == []


def test_a_typo_goes_on_to_providers_when_the_registry_is_told_not_to_reject_it(
    registry, codes, provider
):
    registry.reject_mistyped = False
    _partner, code = registry.create("acme", "Partner One")
    with pytest.raises(PartnerCodeError) as caught:
        codes.resolve("acme", _mistype(code))
    assert caught.value.code == "partner_code.invalid"
    assert provider.calls == [_mistype(code)]


def test_overlong_input_is_refused_before_any_plugin_is_asked(codes, store, provider):
    with pytest.raises(PartnerCodeError) as caught:
        codes.resolve("acme", "A" * 1_000_000)
    assert caught.value.code == "partner_code.invalid"
    assert (store.finds, provider.calls) == (0, [])


def test_blank_input_is_refused_without_asking_plugins(codes, provider):
    with pytest.raises(PartnerCodeError):
        codes.resolve("acme", "   ")
    assert provider.calls == []


def test_providers_get_the_code_stripped(codes, provider):
    with pytest.raises(PartnerCodeError):
        codes.resolve("acme", "  acme-2024\t")
    assert provider.calls == ["acme-2024"]


@pytest.mark.parametrize("refusal", ["expired", "revoked", "used_up"])
def test_expired_revoked_and_used_up_codes_get_the_same_answer_as_unknown_ones(
    registry, codes, clock, caplog, refusal
):
    _partner, code = registry.create("acme", "Partner One", expires_at=clock.now + 60, max_uses=1)
    if refusal == "expired":
        clock.advance(60)
    elif refusal == "revoked":
        registry.revoke("acme", code)
    else:
        codes.redeem("acme", code)
    with pytest.raises(PartnerCodeError) as unknown:
        codes.resolve("acme", generate_code())
    with (
        caplog.at_level(logging.INFO, logger="onboardkit.partners"),
        pytest.raises(PartnerCodeError) as refused,
    ):
        codes.resolve("acme", code)
    assert _refusal(refused) == _refusal(unknown)
    logged = [getattr(record, "partner_code_refusal", None) for record in caplog.records]
    assert logged == [refusal]
    assert normalize_code(code) not in caplog.text


def test_resolving_counts_no_use_and_redeeming_counts_one(registry, codes, store):
    partner, code = registry.create("acme", "Partner One", max_uses=1)
    assert codes.resolve("acme", code) == partner
    assert codes.resolve("acme", code) == partner
    assert codes.redeem("acme", code) == partner
    with pytest.raises(PartnerCodeError):
        codes.resolve("acme", code)
    with pytest.raises(PartnerCodeError):
        codes.redeem("acme", code)
    assert [record.uses for record in store.records()] == [1]


def test_concurrent_sign_ups_redeem_a_code_no_more_often_than_allowed(plugins, registry):
    _partner, code = registry.create("acme", "Partner One", max_uses=3)
    start = threading.Barrier(12)
    outcomes: list[str] = []

    def sign_up(codes):
        start.wait()
        try:
            codes.redeem("acme", code)
            outcomes.append("redeemed")
        except PartnerCodeError as error:
            outcomes.append(error.code)

    with PartnerCodes(plugins, max_workers=12, registry=registry) as codes:
        threads = [threading.Thread(target=sign_up, args=(codes,)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(outcomes) == ["partner_code.invalid"] * 9 + ["redeemed"] * 3


def test_a_provider_partner_is_redeemed_without_counting(plugins, provider):
    remote = Partner(id="r-1", name="Remote", tenant="acme", source="crm")
    provider.partners = {"ACME-2024": remote}
    with PartnerCodes(plugins) as codes:
        assert codes.redeem("acme", "ACME-2024") == remote


def test_redeeming_a_registry_code_without_the_registry_is_a_configuration_error(plugins, registry):
    _partner, code = registry.create("acme", "Partner One", max_uses=1)
    with PartnerCodes(plugins) as codes, pytest.raises(ConfigurationError) as caught:
        codes.redeem("acme", code)
    assert caught.value.params["key"] == "partner_codes.registry"


def test_a_raising_provider_fails_closed_with_a_generic_error(caplog):
    with (
        PartnerCodes(make_plugins(RaisingProvider(), builtins=False)) as codes,
        pytest.raises(PartnerProviderError) as caught,
    ):
        codes.resolve("acme", "ACME-2024")
    assert caught.value.code == "partner_code.unavailable"
    assert caught.value.message == (
        "The partner code cannot be checked right now. Please try again later."
    )
    assert caught.value.__cause__ is None
    assert "RuntimeError" in caplog.text
    assert "ACME-2024" not in caplog.text
    assert "ACME-2024" not in repr(caught.value)


def test_a_hanging_provider_fails_closed_within_the_time_limit(hanging, caplog):
    with (
        PartnerCodes(make_plugins(hanging, builtins=False), timeout=0.05) as codes,
        pytest.raises(PartnerProviderError) as caught,
    ):
        codes.resolve("acme", "ACME-2024")
    assert caught.value.code == "partner_code.unavailable"
    assert "within 0.05 seconds" in caplog.text
    assert "ACME-2024" not in caplog.text


def test_hung_providers_hold_no_more_than_max_workers_threads(hanging):
    with PartnerCodes(make_plugins(hanging, builtins=False), timeout=0.05, max_workers=1) as codes:
        for _ in range(3):
            with pytest.raises(PartnerProviderError):
                codes.resolve("acme", "ACME-2024")
        assert hanging.entered.wait(timeout=5)
        assert hanging.calls == 1


def test_a_provider_may_refuse_a_code_it_knows(plugins):
    class RefusingProvider:
        @hookimpl
        def onboardkit_resolve_partner_code(self, tenant, code):
            raise PartnerCodeError()

    with (
        PartnerCodes(make_plugins(RefusingProvider(), builtins=False)) as codes,
        pytest.raises(PartnerCodeError) as caught,
    ):
        codes.resolve("acme", "ACME-2024")
    assert caught.value.code == "partner_code.invalid"


@pytest.mark.parametrize(
    "answer",
    [
        {"id": "r-1", "name": "Remote"},
        Partner(id="r-1", name="Remote", tenant="globex", source="crm"),
    ],
    ids=["not-a-partner", "partner-of-another-tenant"],
)
def test_a_provider_answering_nonsense_fails_closed(answer):
    class ConfusedProvider:
        @hookimpl
        def onboardkit_resolve_partner_code(self, tenant, code):
            return answer

    with (
        PartnerCodes(make_plugins(ConfusedProvider(), builtins=False)) as codes,
        pytest.raises(PartnerProviderError),
    ):
        codes.resolve("acme", "ACME-2024")


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"timeout": "slow"}, "partner_codes.timeout"),
        ({"timeout": 0}, "partner_codes.timeout"),
        ({"max_workers": 0}, "partner_codes.max_workers"),
        ({"max_workers": 2.5}, "partner_codes.max_workers"),
        ({"timout": 1}, "partner_codes.timout"),
    ],
)
def test_bad_resolution_settings_name_their_key(settings, key):
    with pytest.raises(ConfigurationError) as caught:
        PartnerCodes.from_mapping(make_plugins(builtins=False), settings)
    assert caught.value.params["key"] == key


def test_the_configuration_example_in_the_docs_works(store, clock):
    [example] = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    settings = tomllib.loads(example)
    registry = PartnerRegistry.from_mapping(
        store, {**settings["partner_registry"], "secret": "s" * 32}, clock=clock
    )
    with PartnerCodes.from_mapping(
        make_plugins(builtins=False), settings["partner_codes"], registry=registry
    ) as codes:
        assert isinstance(codes, PartnerCodes)
