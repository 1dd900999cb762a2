"""Consent: documents, decisions, the append-only ledger, its hash chain, erasure and export."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from onboardkit import hookimpl
from onboardkit.consent import (
    ACCEPTED_FORM_VALUES,
    GENESIS_HASH,
    MAX_EVIDENCE_ITEMS,
    MAX_EVIDENCE_VALUE_LENGTH,
    ChainHead,
    ConsentDocument,
    ConsentDocuments,
    ConsentEvent,
    ConsentLedger,
    ConsentRecord,
    StaleChainHead,
    bounded_evidence,
    check_consents,
    consent_choices,
    decisions_from_form,
    is_explicit_consent,
    request_evidence,
)
from onboardkit.errors import (
    ConfigurationError,
    ConsentError,
    ConsentRequired,
    LedgerIntegrityError,
)
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.consent import InMemoryConsentStore

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SECRET = bytes(range(32))
TENANT = "pim"
PRIVACY_V1 = "We process your data to run the portal."
PRIVACY_V2 = "We process your data to run the portal and to send you invoices."
DATENSCHUTZ_V2 = "Wir verarbeiten Ihre Daten, um das Portal zu betreiben und Rechnungen zu senden."


def config() -> dict[str, object]:
    return {
        "default_locale": "en",
        "purposes": {
            "privacy": {
                "required": True,
                "versions": [
                    {
                        "version": "1",
                        "locales": {
                            "en": {"title": "Privacy policy", "text": PRIVACY_V1},
                            "de": {"title": "Datenschutzerklärung", "text": "Alt."},
                        },
                    },
                    {
                        "version": "2",
                        "locales": {
                            "en": {
                                "title": "Privacy policy",
                                "label": "I have read the privacy policy.",
                                "text": PRIVACY_V2,
                            },
                            "de": {"title": "Datenschutzerklärung", "text": DATENSCHUTZ_V2},
                        },
                    },
                ],
            },
            "terms": {
                "required": True,
                "versions": [
                    {
                        "version": "2024-05",
                        "locales": {
                            "en": {
                                "title": "Terms of service",
                                "url": "https://example.com/terms-2024-05.html",
                                "sha256": "ab" * 32,
                            }
                        },
                    }
                ],
            },
            "newsletter": {
                "required": False,
                "versions": [
                    {
                        "version": "1",
                        "locales": {"en": {"title": "Newsletter", "text": "News once a month."}},
                    }
                ],
            },
        },
    }


def documents() -> ConsentDocuments:
    return ConsentDocuments.from_mapping(config(), tenant=TENANT)


def current(locale: str = "en") -> dict[str, ConsentDocument]:
    return {document.purpose: document for document in documents().current(locale)}


def make_ledger(plugins=None, store=None, **options) -> ConsentLedger:
    return ConsentLedger(
        store if store is not None else InMemoryConsentStore(),
        SECRET,
        plugins=plugins,
        clock=FrozenClock(),
        **options,
    )


@pytest.fixture
def store() -> InMemoryConsentStore:
    return InMemoryConsentStore()


@pytest.fixture
def ledger(store) -> ConsentLedger:
    return make_ledger(store=store)


EVIDENCE = {"client_network": "203.0.113.0/24", "user_agent": "Mozilla/5.0"}


def give_all(ledger: ConsentLedger, subject: str = "user-1") -> list[ConsentRecord]:
    return ledger.record_decisions(
        TENANT,
        subject,
        current().values(),
        {"privacy": True, "terms": True, "newsletter": True},
        evidence=EVIDENCE,
    )


# -- documents -----------------------------------------------------------------------------------


def test_a_document_is_identified_by_the_sha256_of_its_exact_text():
    document = ConsentDocument(
        tenant=TENANT,
        purpose="privacy",
        version="1",
        locale="en",
        title="P",
        required=True,
        text="Text\n",
    )
    assert document.text_sha256 == hashlib.sha256(b"Text\n").hexdigest()


def test_a_document_given_only_by_reference_needs_the_hash_of_its_text():
    with pytest.raises(ValueError, match="text_sha256"):
        ConsentDocument(
            tenant=TENANT,
            purpose="terms",
            version="1",
            locale="en",
            title="Terms",
            required=True,
            url="https://example.com/terms",
        )


def test_a_document_refuses_a_hash_that_does_not_match_its_text():
    with pytest.raises(ValueError, match="does not match"):
        ConsentDocument(
            tenant=TENANT,
            purpose="privacy",
            version="1",
            locale="en",
            title="P",
            required=True,
            text="Text",
            text_sha256="00" * 32,
        )


def test_a_documents_label_is_its_title_unless_given():
    assert current()["terms"].label == "Terms of service"
    assert current()["privacy"].label == "I have read the privacy policy."


TOML_CONFIG = """
[consent]
default_locale = "en"

[consent.purposes.privacy]
required = true

[[consent.purposes.privacy.versions]]
version = "2024-05"

[consent.purposes.privacy.versions.locales.en]
title = "Privacy policy"
text = "We process your data to run the portal."

[consent.purposes.privacy.versions.locales.de]
title = "Datenschutzerklärung"
url = "https://example.com/datenschutz-2024-05.html"
sha256 = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"

[consent.purposes.newsletter]
required = false

[[consent.purposes.newsletter.versions]]
version = "1"

[consent.purposes.newsletter.versions.locales.en]
title = "Newsletter"
text = "News once a month."
"""


def test_documents_are_read_from_toml_configuration():
    parsed = ConsentDocuments.from_mapping(tomllib.loads(TOML_CONFIG)["consent"], tenant=TENANT)
    german = {document.purpose: document for document in parsed.current("de")}
    assert german["privacy"].url == "https://example.com/datenschutz-2024-05.html"
    assert german["privacy"].text_sha256 == "ab" * 32
    assert german["privacy"].required is True
    assert german["newsletter"].locale == "en"
    assert german["newsletter"].required is False


def _broken(change) -> dict[str, object]:
    broken = config()
    change(broken)
    return broken


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda c: c.update(purposes={}), "consent.purposes"),
        (lambda c: c.update(colour="red"), "consent.colour"),
        (lambda c: c.update(default_locale="de_DE"), "consent.default_locale"),
        (lambda c: c["purposes"].update({"Bad Purpose": {}}), "consent.purposes.Bad Purpose"),
        (lambda c: c["purposes"]["terms"].pop("required"), "consent.purposes.terms.required"),
        (
            lambda c: c["purposes"]["terms"].update(required="yes"),
            "consent.purposes.terms.required",
        ),
        (lambda c: c["purposes"]["terms"].update(versions=[]), "consent.purposes.terms.versions"),
        (
            lambda c: c["purposes"]["privacy"]["versions"][1].update(version="1"),
            "consent.purposes.privacy.versions[1].version",
        ),
        (
            lambda c: c["purposes"]["privacy"]["versions"][1]["locales"]["de"].update(
                sha256="00" * 32
            ),
            "consent.purposes.privacy.versions[1].locales.de.sha256",
        ),
        (
            lambda c: c["purposes"]["terms"]["versions"][0]["locales"]["en"].pop("sha256"),
            "consent.purposes.terms.versions[0].locales.en.sha256",
        ),
        (
            lambda c: c["purposes"]["terms"]["versions"][0]["locales"]["en"].update(
                url="ftp://example.com/terms"
            ),
            "consent.purposes.terms.versions[0].locales.en.url",
        ),
        (
            lambda c: c["purposes"]["newsletter"]["versions"][0]["locales"]["en"].pop("title"),
            "consent.purposes.newsletter.versions[0].locales.en.title",
        ),
        (
            lambda c: c["purposes"]["newsletter"]["versions"][0]["locales"]["en"].pop("text"),
            "consent.purposes.newsletter.versions[0].locales.en.text",
        ),
        (
            lambda c: c["purposes"]["newsletter"]["versions"][0]["locales"]["en"].update(
                titel="typo"
            ),
            "consent.purposes.newsletter.versions[0].locales.en.titel",
        ),
        (
            lambda c: c["purposes"]["newsletter"]["versions"][0].update(
                locales={"de": {"title": "Newsletter", "text": "Monatlich."}}
            ),
            "consent.purposes.newsletter.versions[0].locales.en",
        ),
    ],
)
def test_configuration_errors_name_the_exact_key(change, key):
    with pytest.raises(ConfigurationError) as caught:
        ConsentDocuments.from_mapping(_broken(change), tenant=TENANT)
    assert caught.value.params["key"] == key


def test_configuration_errors_use_the_key_the_caller_names():
    with pytest.raises(ConfigurationError) as caught:
        ConsentDocuments.from_mapping({"purposes": {}}, tenant=TENANT, key="tenants.pim.consent")
    assert caught.value.params["key"] == "tenants.pim.consent.purposes"


def test_the_last_listed_version_is_current():
    assert current()["privacy"].version == "2"
    assert current()["privacy"].text == PRIVACY_V2


def test_the_current_document_is_shown_in_the_persons_language():
    assert current("de-AT")["privacy"].text == DATENSCHUTZ_V2
    assert current("de-AT")["privacy"].locale == "de"


def test_a_version_without_a_translation_is_shown_in_the_default_locale():
    assert current("de")["terms"].locale == "en"
    assert current("fr")["privacy"].locale == "en"


def test_an_older_translation_is_never_shown_for_a_newer_version():
    only_english_v3 = config()
    only_english_v3["purposes"]["privacy"]["versions"].append(
        {"version": "3", "locales": {"en": {"title": "Privacy policy", "text": "Version 3."}}}
    )
    shown = ConsentDocuments.from_mapping(only_english_v3, tenant=TENANT).current("de")
    privacy = next(document for document in shown if document.purpose == "privacy")
    assert (privacy.version, privacy.locale) == ("3", "en")


def test_a_document_version_sent_back_by_a_form_must_be_known():
    assert documents().document("privacy", "1", "de").text == "Alt."
    with pytest.raises(ConsentError) as caught:
        documents().document("privacy", "9", "en")
    assert caught.value.code == "consent.unknown_document"


_config_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "purposes",
                    "privacy",
                    "required",
                    "versions",
                    "version",
                    "locales",
                    "en",
                    "de",
                    "title",
                    "text",
                    "url",
                    "sha256",
                    "label",
                    "default_locale",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


def _mostly(valid, invalid):
    """Valid values seven times in eight, so that whole configurations often parse."""
    # Not 0 or 7: Hypothesis draws the ends of a range more often than the middle.
    return st.integers(0, 7).flatmap(lambda n: invalid if n == 3 else valid)


_title = _mostly(
    st.sampled_from(["Privacy policy", "Terms"]), st.sampled_from(["", " ", "x" * 300])
)
_locale_table = st.fixed_dictionaries(
    {
        "title": _title,
        "text": _mostly(st.text(min_size=1, max_size=20).filter(str.strip), st.just("")),
    },
    optional={
        "url": _mostly(st.just("https://example.com/p"), st.sampled_from(["ftp://x", "a.b"])),
        "sha256": _mostly(st.none(), st.sampled_from(["ab" * 32, "zz"])),
        "label": _title,
    },
)
_near_valid_config = st.fixed_dictionaries(
    {
        "purposes": st.dictionaries(
            _mostly(st.sampled_from(["privacy", "terms"]), st.sampled_from(["Bad", "", "a" * 40])),
            st.fixed_dictionaries(
                {
                    "required": _mostly(st.booleans(), st.sampled_from([None, "yes", 1])),
                    "versions": st.lists(
                        st.fixed_dictionaries(
                            {
                                "version": _mostly(
                                    st.sampled_from(["1", "2", "2024-05"]),
                                    st.sampled_from([".x", None]),
                                ),
                                "locales": st.dictionaries(
                                    _mostly(
                                        st.sampled_from(["en", "de"]), st.sampled_from(["EN", "d"])
                                    ),
                                    _locale_table,
                                    min_size=1,
                                    max_size=3,
                                ),
                            }
                        ),
                        min_size=1,
                        max_size=3,
                    ),
                }
            ),
            max_size=3,
        )
    },
    optional={"default_locale": _mostly(st.just("en"), st.sampled_from(["de", "xx_YY", ""]))},
)


@given(mapping=st.one_of(_config_values, _near_valid_config))
@settings(max_examples=200)
def test_any_configuration_is_read_or_refused_with_a_configuration_error(mapping):
    refused: ConfigurationError | None = None
    try:
        parsed = ConsentDocuments.from_mapping(mapping, tenant=TENANT)
    except ConfigurationError as error:
        refused = error
    if refused is None:
        assert parsed.current()
    else:
        assert refused.params["key"].startswith("consent")


# -- decisions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, "on", "ON", "true", "True", "1", "yes"])
def test_an_explicit_yes_counts_as_consent(value):
    assert is_explicit_consent(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        False,
        1,
        1.0,
        "",
        "0",
        "off",
        "false",
        "no",
        " on",
        "on ",
        "y",
        "checked",
        b"on",
        ["on"],
        ("1",),
        {"on": True},
        "\uff4f\uff4e",  # fullwidth "on"
    ],
)
def test_anything_but_an_explicit_yes_is_no_consent(value):
    assert not is_explicit_consent(value)


@given(
    value=st.one_of(
        st.text(),
        st.binary(),
        st.integers(),
        st.floats(),
        st.none(),
        st.lists(st.text()),
        st.dictionaries(st.text(), st.booleans()),
        st.booleans(),
    )
)
def test_arbitrary_input_counts_as_consent_only_when_explicitly_yes(value):
    explicit = value is True or (
        isinstance(value, str) and value.lower() in ACCEPTED_FORM_VALUES and value.isascii()
    )
    assert is_explicit_consent(value) is explicit


@given(
    form=st.dictionaries(
        st.text(max_size=30),
        st.one_of(st.text(max_size=10), st.booleans(), st.integers(), st.none()),
    )
)
def test_decisions_read_from_any_form_are_yes_only_for_an_explicit_yes_in_the_own_field(form):
    decisions = decisions_from_form(form, current().values())
    assert set(decisions) == {"privacy", "terms", "newsletter"}
    for purpose, decided in decisions.items():
        assert decided is is_explicit_consent(form.get(f"consents.{purpose}"))


def test_registration_without_required_consents_names_every_missing_purpose():
    with pytest.raises(ConsentRequired) as caught:
        check_consents(current().values(), {"newsletter": True})
    assert [issue.path for issue in caught.value.issues] == ["consents.privacy", "consents.terms"]
    assert caught.value.codes == ["consent.purpose_required", "consent.purpose_required"]


def test_a_missing_consent_is_explained_in_german():
    with pytest.raises(ConsentRequired) as caught:
        check_consents(current("de").values(), {"terms": True})
    (issue,) = caught.value.issues
    assert issue.localized("de") == "Bitte akzeptieren Sie „Datenschutzerklärung“, um fortzufahren."


def test_optional_purposes_are_not_needed_to_register():
    given_documents = check_consents(current().values(), {"privacy": True, "terms": "on"})
    assert [document.purpose for document in given_documents] == ["privacy", "terms"]


def test_an_absent_checkbox_is_no_consent():
    assert decisions_from_form({}, current().values()) == {
        "privacy": False,
        "terms": False,
        "newsletter": False,
    }


def test_consenting_to_required_purposes_never_consents_to_optional_ones():
    decisions = decisions_from_form(
        {"consents.privacy": "on", "consents.terms": "on"}, current().values()
    )
    assert decisions["newsletter"] is False


def test_no_form_field_consents_to_several_purposes_at_once():
    form = {"consents": "on", "consents.all": "on", "accept_all": "on", "consents.*": "on"}
    assert not any(decisions_from_form(form, current().values()).values())


def test_consent_checkboxes_are_never_ticked_by_default():
    choices = consent_choices(current().values())
    assert [(choice.field_name, choice.checked) for choice in choices] == [
        ("consents.privacy", False),
        ("consents.terms", False),
        ("consents.newsletter", False),
    ]


def test_a_ticked_checkbox_stays_ticked_when_the_form_is_shown_again():
    choices = consent_choices(current().values(), {"newsletter": True, "privacy": "off"})
    assert {choice.document.purpose: choice.checked for choice in choices} == {
        "privacy": False,
        "terms": False,
        "newsletter": True,
    }


def test_a_purpose_shown_twice_is_refused():
    privacy = current()["privacy"]
    with pytest.raises(ConsentError) as caught:
        check_consents([privacy, privacy], {"privacy": True})
    assert caught.value.code == "consent.duplicate_purpose"


def test_nothing_is_recorded_when_a_required_consent_is_missing(ledger, store):
    with pytest.raises(ConsentRequired):
        ledger.record_decisions(TENANT, "user-1", current().values(), {"privacy": True})
    assert store.records(TENANT) == []


def test_only_the_consents_given_are_recorded(ledger):
    records = ledger.record_decisions(
        TENANT, "user-1", current().values(), {"privacy": "on", "terms": "on", "newsletter": ""}
    )
    assert [record.purpose for record in records] == ["privacy", "terms"]
    assert set(ledger.current_consents(TENANT, "user-1")) == {"privacy", "terms"}


# -- records -------------------------------------------------------------------------------------


def test_a_consent_record_holds_the_proof(ledger):
    document = current("de")["privacy"]
    record = ledger.give(TENANT, "user-1", document, method="double_opt_in", evidence=EVIDENCE)
    assert record.event is ConsentEvent.GIVEN
    assert record.subject == "user-1"
    assert record.subject_pseudonym == ledger.pseudonym(TENANT, "user-1") != "user-1"
    assert (record.purpose, record.document_version, record.locale) == ("privacy", "2", "de")
    assert record.text_sha256 == document.text_sha256
    assert record.recorded_at == datetime.fromtimestamp(1_800_000_000, tz=timezone.utc)
    assert record.recorded_at.utcoffset() == timedelta(0)
    assert record.method == "double_opt_in"
    assert dict(record.evidence) == EVIDENCE
    assert (record.sequence, record.prev_hash) == (1, GENESIS_HASH)
    assert record.record_hash == record.content_hash()


def test_a_record_with_a_time_in_another_zone_is_kept_in_utc(ledger):
    record = ledger.give(TENANT, "user-1", current()["privacy"])
    berlin = timezone(timedelta(hours=2))
    moved = attrs.evolve(record, recorded_at=record.recorded_at.astimezone(berlin))
    assert moved.recorded_at.tzinfo is timezone.utc
    assert moved.content_hash() == record.record_hash


def test_a_withdrawal_is_a_new_event_that_leaves_the_consent_record_unchanged(ledger, store):
    given_record = ledger.give(TENANT, "user-1", current()["newsletter"])
    withdrawal = ledger.withdraw(TENANT, "user-1", "newsletter", method="unsubscribe_link")
    assert withdrawal is not None
    assert withdrawal.event is ConsentEvent.WITHDRAWN
    assert withdrawal.sequence == given_record.sequence + 1
    assert (withdrawal.document_version, withdrawal.text_sha256) == (
        given_record.document_version,
        given_record.text_sha256,
    )
    assert store.records(TENANT) == [given_record, withdrawal]


def test_a_withdrawal_ends_the_consent(ledger):
    ledger.give(TENANT, "user-1", current()["newsletter"])
    ledger.withdraw(TENANT, "user-1", "newsletter")
    assert ledger.current_consents(TENANT, "user-1") == {}
    assert ledger.missing(TENANT, "user-1", [current()["newsletter"]]) == [current()["newsletter"]]


def test_withdrawing_a_consent_not_in_effect_records_nothing(ledger, store):
    assert ledger.withdraw(TENANT, "user-1", "newsletter") is None
    assert store.records(TENANT) == []


def test_a_new_document_version_requires_consent_again(ledger):
    version_1 = documents().document("privacy", "1", "en")
    ledger.give(TENANT, "user-1", version_1)
    assert ledger.missing(TENANT, "user-1", [current()["privacy"]]) == [current()["privacy"]]
    ledger.give(TENANT, "user-1", current()["privacy"])
    assert ledger.missing(TENANT, "user-1", [current()["privacy"]]) == []


def test_consent_to_the_current_version_in_another_language_still_counts(ledger):
    ledger.give(TENANT, "user-1", current("de")["privacy"])
    assert ledger.missing(TENANT, "user-1", [current("en")["privacy"]]) == []


def test_consent_to_an_older_version_in_another_language_is_asked_again(ledger):
    ledger.give(TENANT, "user-1", documents().document("privacy", "1", "de"))
    assert ledger.missing(TENANT, "user-1", [current("en")["privacy"]]) == [current()["privacy"]]


def test_a_text_changed_without_a_new_version_is_asked_again(ledger):
    ledger.give(TENANT, "user-1", current()["newsletter"])
    edited = attrs.evolve(
        current()["newsletter"],
        text="News every day.",
        text_sha256=hashlib.sha256(b"News every day.").hexdigest(),
    )
    assert ledger.missing(TENANT, "user-1", [edited]) == [edited]


def test_missing_lists_every_document_without_consent_in_effect(ledger):
    ledger.give(TENANT, "user-1", current()["terms"])
    assert [d.purpose for d in ledger.missing(TENANT, "user-1", current().values())] == [
        "privacy",
        "newsletter",
    ]


def test_a_document_of_another_tenant_is_refused(ledger):
    foreign = attrs.evolve(current()["privacy"], tenant="dam")
    with pytest.raises(ConsentError) as caught:
        ledger.give(TENANT, "user-1", foreign)
    assert caught.value.code == "consent.wrong_tenant"


@pytest.mark.parametrize("subject", ["", "x" * 321, "user\n1", None])
def test_a_subject_must_be_a_short_printable_name(ledger, subject):
    with pytest.raises(ConsentError) as caught:
        ledger.give(TENANT, subject, current()["privacy"])
    assert caught.value.code == "consent.subject_invalid"


@pytest.mark.parametrize("method", ["", "Form", "double opt-in", "m" * 33, None])
def test_the_method_must_be_a_short_name(ledger, method):
    with pytest.raises(ConsentError) as caught:
        ledger.give(TENANT, "user-1", current()["privacy"], method=method)
    assert caught.value.code == "consent.method_invalid"


def test_a_secret_shorter_than_32_bytes_is_refused(store):
    with pytest.raises(ConfigurationError) as caught:
        ConsentLedger(store, b"short")
    assert caught.value.params["key"] == "consent.secret"


def test_the_ledger_does_not_show_its_secret_in_its_repr(ledger):
    assert SECRET.hex() not in repr(ledger)
    assert repr(SECRET) not in repr(ledger)


# -- evidence ------------------------------------------------------------------------------------


def test_long_evidence_values_are_cut_and_marked():
    stored = bounded_evidence({"user_agent": "A" * 10_000})
    assert len(stored["user_agent"]) == MAX_EVIDENCE_VALUE_LENGTH
    assert stored["user_agent"].endswith("…")


def test_evidence_values_lose_control_characters():
    assert bounded_evidence({"user_agent": "Mozilla\r\n\x00/5.0\u200b"}) == {
        "user_agent": "Mozilla/5.0"
    }


@pytest.mark.parametrize(
    "evidence",
    [
        {f"k{index}": "v" for index in range(MAX_EVIDENCE_ITEMS + 1)},
        {"User-Agent": "x"},
        {"k" * 33: "x"},
        {"user_agent": 5},
        ["user_agent"],
    ],
)
def test_evidence_of_the_wrong_shape_is_refused(evidence):
    with pytest.raises(ConsentError) as caught:
        bounded_evidence(evidence)
    assert caught.value.code == "consent.evidence_invalid"


def test_wrong_evidence_records_nothing(ledger, store):
    with pytest.raises(ConsentError):
        ledger.record_decisions(
            TENANT,
            "user-1",
            current().values(),
            {"privacy": True, "terms": True},
            evidence={"password": 12345},
        )
    assert store.records(TENANT) == []


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
    ],
)
def test_request_evidence_keeps_only_the_client_network(address, network):
    assert request_evidence(address, "Mozilla/5.0") == {
        "client_network": network,
        "user_agent": "Mozilla/5.0",
    }


def test_request_evidence_leaves_out_an_address_that_does_not_parse():
    assert request_evidence("unix:/run/app.sock", None) == {}


@given(
    evidence=st.dictionaries(
        st.text(max_size=40), st.one_of(st.text(max_size=600), st.integers()), max_size=12
    )
)
@example(evidence={"user_agent": "Mozilla/5.0\xa0(X11)\u2028Injected: yes\u2029"})
def test_any_evidence_is_stored_within_bounds_or_refused(evidence):
    refused: ConsentError | None = None
    try:
        stored = bounded_evidence(evidence)
    except ConsentError as error:
        refused = error
    if refused is None:
        assert len(stored) <= MAX_EVIDENCE_ITEMS
        assert all(len(value) <= MAX_EVIDENCE_VALUE_LENGTH for value in stored.values())
        assert all(value.isprintable() for value in stored.values())
    else:
        assert refused.code == "consent.evidence_invalid"


@given(address=st.text(max_size=80), agent=st.one_of(st.none(), st.text(max_size=2000)))
def test_request_evidence_from_any_input_is_bounded(address, agent):
    evidence = request_evidence(address, agent)
    assert set(evidence) <= {"client_network", "user_agent"}
    assert all(len(value) <= MAX_EVIDENCE_VALUE_LENGTH for value in evidence.values())


# -- plugins -------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.seen: list[ConsentRecord] = []

    @hookimpl
    def onboardkit_consent_recorded(self, record):
        self.seen.append(record)


def test_observers_are_told_of_every_appended_record():
    recorder = Recorder()
    ledger = make_ledger(plugins=make_plugins(recorder, builtins=False))
    give_all(ledger)
    ledger.withdraw(TENANT, "user-1", "newsletter")
    erased = ledger.erase(TENANT, "user-1")
    assert [record.event for record in recorder.seen] == [ConsentEvent.GIVEN] * 3 + [
        ConsentEvent.WITHDRAWN
    ] + [ConsentEvent.ERASED] * len(erased)
    assert [record.sequence for record in recorder.seen] == list(range(1, 5 + len(erased)))


class Broken:
    @hookimpl
    def onboardkit_consent_recorded(self, record):
        raise RuntimeError("audit log is down")


def test_a_failing_observer_does_not_undo_or_hide_the_record(store, caplog):
    ledger = make_ledger(plugins=make_plugins(Broken(), builtins=False), store=store)
    record = ledger.give(TENANT, "user-1", current()["privacy"])
    assert store.records(TENANT) == [record]
    assert "RuntimeError" in caplog.text
    assert "user-1" not in caplog.text


# -- the chain -----------------------------------------------------------------------------------


def test_an_intact_chain_verifies(ledger):
    records = give_all(ledger)
    assert ledger.verify(TENANT) == ChainHead(TENANT, 3, records[-1].record_hash)


def test_an_empty_chain_verifies(ledger):
    assert ledger.verify(TENANT) is None


def test_each_record_continues_the_previous_one(ledger):
    records = give_all(ledger)
    assert [record.sequence for record in records] == [1, 2, 3]
    assert [record.prev_hash for record in records] == [
        GENESIS_HASH,
        records[0].record_hash,
        records[1].record_hash,
    ]


def _verify_fails_at(ledger: ConsentLedger, anchor: ChainHead | None = None) -> int:
    with pytest.raises(LedgerIntegrityError) as caught:
        ledger.verify(TENANT, anchor=anchor)
    return caught.value.params["sequence"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("document_version", "1"),
        ("text_sha256", "00" * 32),
        ("purpose", "newsletter"),
        ("event", ConsentEvent.WITHDRAWN),
        ("recorded_at", datetime(2020, 1, 1, tzinfo=timezone.utc)),
        ("method", "double_opt_in"),
        ("subject_pseudonym", "00" * 32),
        ("locale", "de"),
    ],
)
def test_a_changed_record_is_detected_at_its_sequence(ledger, store, field, value):
    give_all(ledger)
    store.rows(TENANT)[1] = attrs.evolve(store.rows(TENANT)[1], **{field: value})
    assert _verify_fails_at(ledger) == 2


def test_a_changed_record_with_a_recomputed_hash_breaks_the_next_link(ledger, store):
    give_all(ledger)
    forged = attrs.evolve(store.rows(TENANT)[0], document_version="0")
    store.rows(TENANT)[0] = attrs.evolve(forged, record_hash=forged.content_hash())
    assert _verify_fails_at(ledger) == 2


def test_a_deleted_record_is_detected(ledger, store):
    give_all(ledger)
    del store.rows(TENANT)[1]
    assert _verify_fails_at(ledger) == 2


def test_reordered_records_are_detected(ledger, store):
    give_all(ledger)
    rows = store.rows(TENANT)
    rows[0], rows[2] = rows[2], rows[0]
    assert _verify_fails_at(ledger) == 1


def test_removing_the_newest_records_is_detected_against_an_anchor(ledger, store):
    give_all(ledger)
    anchor = ledger.head(TENANT)
    ledger.give(TENANT, "user-2", current()["privacy"])
    assert ledger.verify(TENANT, anchor=anchor) is not None
    del store.rows(TENANT)[2:]
    assert _verify_fails_at(ledger, anchor) == 3


def test_a_changed_subject_is_detected(ledger, store):
    give_all(ledger)
    store.rows(TENANT)[1] = attrs.evolve(store.rows(TENANT)[1], subject="user-2")
    assert _verify_fails_at(ledger) == 2


def test_changed_evidence_is_detected(ledger, store):
    give_all(ledger)
    store.rows(TENANT)[2] = attrs.evolve(
        store.rows(TENANT)[2], evidence={"client_network": "198.51.100.0/24"}
    )
    assert _verify_fails_at(ledger) == 3


def test_personal_data_removed_without_an_erasure_is_detected(ledger, store):
    give_all(ledger)
    store.rows(TENANT)[0] = attrs.evolve(store.rows(TENANT)[0], subject=None, evidence=None)
    assert _verify_fails_at(ledger) == 1


def test_each_tenant_has_its_own_chain(ledger):
    give_all(ledger)
    dam_document = attrs.evolve(current()["privacy"], tenant="dam")
    record = ledger.give("dam", "user-1", dam_document)
    assert (record.sequence, record.prev_hash) == (1, GENESIS_HASH)
    assert ledger.pseudonym("dam", "user-1") != ledger.pseudonym(TENANT, "user-1")
    ledger.verify(TENANT)
    ledger.verify("dam")


def test_the_hashed_content_is_canonical_json_with_a_format_version(ledger):
    record = ledger.give(TENANT, "user-1", current("de")["privacy"], evidence=EVIDENCE)
    expected = (
        "{"
        f'"document_version":"2","event":"given","evidence_digest":"{record.evidence_digest}",'
        '"format":1,"locale":"de","method":"form",'
        f'"prev_hash":"{GENESIS_HASH}","purpose":"privacy",'
        '"recorded_at":"2027-01-15T08:00:00.000000Z","sequence":1,'
        f'"subject_pseudonym":"{record.subject_pseudonym}","tenant":"pim",'
        f'"text_sha256":"{record.text_sha256}"'
        "}"
    ).encode()
    assert record.canonical_content() == expected
    assert record.record_hash == hashlib.sha256(expected).hexdigest()


def test_the_chain_covers_digests_of_personal_data_not_the_data(ledger):
    record = ledger.give(
        TENANT, "jane@example.com", current()["privacy"], evidence={"user_agent": "JaneBrowser"}
    )
    content = record.canonical_content().decode()
    assert "jane@example.com" not in content
    assert "JaneBrowser" not in content


def test_pseudonyms_and_evidence_digests_are_keyed_with_the_ledger_secret(ledger):
    other = ConsentLedger(InMemoryConsentStore(), bytes(32))
    assert ledger.pseudonym(TENANT, "jane@example.com") != other.pseudonym(
        TENANT, "jane@example.com"
    )
    assert ledger.evidence_digest(EVIDENCE) != other.evidence_digest(EVIDENCE)
    plain = hashlib.sha256(json.dumps(EVIDENCE, sort_keys=True).encode()).hexdigest()
    assert ledger.evidence_digest(EVIDENCE) != plain


def test_a_record_survives_a_round_trip_through_a_json_row(ledger):
    record = ledger.give(TENANT, "user-1", current()["privacy"], evidence=EVIDENCE)
    row = json.loads(json.dumps(record.as_dict()))
    assert ConsentRecord.from_row(row) == record


def test_the_store_refuses_an_append_that_does_not_continue_the_head(ledger, store):
    first = ledger.give(TENANT, "user-1", current()["privacy"])
    stale = attrs.evolve(first, subject="user-2")
    with pytest.raises(StaleChainHead):
        store.append(stale)
    assert store.records(TENANT) == [first]


@pytest.fixture
def frequent_thread_switches():
    """Switch threads every microsecond, so that racing appends really interleave."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


class YieldingStore(InMemoryConsentStore):
    """Hands the processor to another thread right after reading the head, as a busy server
    would: every append then races the others."""

    def head(self, tenant: str) -> ConsentRecord | None:
        current_head = super().head(tenant)
        time.sleep(0)
        return current_head


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_appends_form_one_chain_without_lost_records():
    store = YieldingStore()
    ledger = make_ledger(store=store)
    threads_count, per_thread = 8, 25
    barrier = threading.Barrier(threads_count)
    failures: list[BaseException] = []
    privacy = current()["privacy"]

    def register(worker: int) -> None:
        barrier.wait()
        try:
            for index in range(per_thread):
                ledger.give(TENANT, f"user-{worker}-{index}", privacy)
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    workers = [threading.Thread(target=register, args=(n,)) for n in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    records = store.records(TENANT)
    assert [record.sequence for record in records] == list(range(1, threads_count * per_thread + 1))
    assert {record.subject for record in records} == {
        f"user-{worker}-{index}" for worker in range(threads_count) for index in range(per_thread)
    }
    ledger.verify(TENANT)


class AlwaysMovingStore(InMemoryConsentStore):
    """A store where another writer always got there first."""

    def append(self, record: ConsentRecord) -> None:
        raise StaleChainHead()


def test_the_ledger_gives_up_with_a_clear_error_when_the_head_keeps_moving():
    ledger = make_ledger(store=AlwaysMovingStore(), max_attempts=3)
    with pytest.raises(ConsentError) as caught:
        ledger.give(TENANT, "user-1", current()["privacy"])
    assert caught.value.code == "consent.busy"


# -- erasure -------------------------------------------------------------------------------------


def test_erasure_removes_subject_and_evidence_but_keeps_the_proof(ledger, store):
    given_records = give_all(ledger, "jane@example.com")
    ledger.erase(TENANT, "jane@example.com")
    for before, after in zip(given_records, store.records(TENANT)[:3], strict=True):
        assert (after.subject, after.evidence) == (None, None)
        assert attrs.evolve(after, subject=before.subject, evidence=before.evidence) == before


def test_the_chain_still_verifies_after_erasure(ledger):
    give_all(ledger, "jane@example.com")
    give_all(ledger, "john@example.com")
    ledger.erase(TENANT, "jane@example.com")
    assert ledger.verify(TENANT) is not None


def test_erasure_appends_an_erased_event_per_purpose_and_ends_the_consents(ledger):
    give_all(ledger, "jane@example.com")
    erased = ledger.erase(TENANT, "jane@example.com")
    assert sorted(record.purpose for record in erased) == ["newsletter", "privacy", "terms"]
    assert {record.event for record in erased} == {ConsentEvent.ERASED}
    assert ledger.current_consents(TENANT, "jane@example.com") == {}


def test_erased_records_hold_no_personal_data(ledger, store):
    give_all(ledger, "jane@example.com")
    ledger.erase(TENANT, "jane@example.com")
    stored = json.dumps([record.as_dict() for record in store.records(TENANT)])
    assert "jane@example.com" not in stored
    assert "203.0.113" not in stored
    assert "Mozilla" not in stored


def test_erasure_leaves_other_people_alone(ledger, store):
    give_all(ledger, "jane@example.com")
    give_all(ledger, "john@example.com")
    ledger.erase(TENANT, "jane@example.com")
    assert [r.subject for r in store.records(TENANT) if r.subject is not None] == [
        "john@example.com"
    ] * 3


def test_a_person_who_registers_again_after_erasure_consents_anew(ledger):
    give_all(ledger, "jane@example.com")
    ledger.erase(TENANT, "jane@example.com")
    assert len(ledger.missing(TENANT, "jane@example.com", current().values())) == 3
    give_all(ledger, "jane@example.com")
    assert ledger.missing(TENANT, "jane@example.com", current().values()) == []
    ledger.erase(TENANT, "jane@example.com")
    ledger.verify(TENANT)


class EraseFailsOnce(InMemoryConsentStore):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def erase(self, tenant: str, pseudonym: str, through_sequence: int) -> int:
        if not self.failed:
            self.failed = True
            raise OSError("connection lost")
        return super().erase(tenant, pseudonym, through_sequence)


def test_an_interrupted_erasure_is_finished_by_asking_again():
    store = EraseFailsOnce()
    ledger = make_ledger(store=store)
    give_all(ledger, "jane@example.com")
    with pytest.raises(OSError, match="connection lost"):
        ledger.erase(TENANT, "jane@example.com")
    ledger.verify(TENANT)
    assert ledger.erase(TENANT, "jane@example.com") == []
    assert all(record.subject is None for record in store.records(TENANT))
    ledger.verify(TENANT)


def test_an_erased_event_carrying_personal_data_is_detected(ledger, store):
    give_all(ledger, "jane@example.com")
    ledger.erase(TENANT, "jane@example.com")
    rows = store.rows(TENANT)
    rows[-1] = attrs.evolve(rows[-1], subject="jane@example.com", evidence={})
    assert _verify_fails_at(ledger) == len(rows)


# -- export --------------------------------------------------------------------------------------


def test_export_is_json_with_utc_times_and_the_document_versions_and_hashes(ledger):
    give_all(ledger)
    ledger.withdraw(TENANT, "user-1", "newsletter")
    exported = json.loads(json.dumps(ledger.export(TENANT, "user-1")))
    assert exported["subject"] == "user-1"
    assert set(exported["consents"]) == {"privacy", "terms"}
    assert exported["consents"]["privacy"]["document_version"] == "2"
    assert exported["consents"]["privacy"]["given_at"] == "2027-01-15T08:00:00.000000Z"
    assert [record["event"] for record in exported["records"]] == [
        "given",
        "given",
        "given",
        "withdrawn",
    ]
    assert {(d["purpose"], d["version"], d["text_sha256"]) for d in exported["documents"]} == {
        (doc.purpose, doc.version, doc.text_sha256) for doc in current().values()
    }


def test_export_describes_the_documents_when_it_knows_them(ledger):
    give_all(ledger)
    exported = ledger.export(TENANT, "user-1", documents())
    terms = next(d for d in exported["documents"] if d["purpose"] == "terms")
    assert terms["url"] == "https://example.com/terms-2024-05.html"
    assert terms["title"] == "Terms of service"


def test_export_holds_only_the_subjects_records(ledger):
    give_all(ledger, "user-1")
    give_all(ledger, "user-2")
    exported = ledger.export(TENANT, "user-1")
    assert {record["subject"] for record in exported["records"]} == {"user-1"}


# -- properties of the ledger --------------------------------------------------------------------

SUBJECTS = ["ann", "bob", "cy"]
PURPOSES = ["privacy", "terms", "newsletter"]
_operations = st.lists(
    st.tuples(
        st.sampled_from(["give", "withdraw", "erase"]),
        st.sampled_from(SUBJECTS),
        st.sampled_from(PURPOSES),
    ),
    max_size=25,
)


def _replay(operations) -> tuple[ConsentLedger, InMemoryConsentStore, dict]:
    store = InMemoryConsentStore()
    clock = FrozenClock()
    ledger = ConsentLedger(store, SECRET, clock=clock)
    shown = current()
    model: dict[tuple[str, str], bool] = {}
    for kind, subject, purpose in operations:
        clock.advance(1.5)
        if kind == "give":
            ledger.give(TENANT, subject, shown[purpose], evidence={"user_agent": subject})
            model[subject, purpose] = True
        elif kind == "withdraw":
            ledger.withdraw(TENANT, subject, purpose)
            model[subject, purpose] = False
        else:
            ledger.erase(TENANT, subject)
            for other in PURPOSES:
                model[subject, other] = False
    return ledger, store, model


@given(operations=_operations)
@settings(max_examples=60, deadline=None)
def test_any_sequence_of_consent_events_keeps_the_chain_valid(operations):
    ledger, _store, model = _replay(operations)
    ledger.verify(TENANT)
    for subject in SUBJECTS:
        expected = {purpose for (who, purpose), on in model.items() if who == subject and on}
        assert set(ledger.current_consents(TENANT, subject)) == expected


_FIELDS = [
    "sequence",
    "tenant",
    "event",
    "subject",
    "subject_pseudonym",
    "purpose",
    "document_version",
    "text_sha256",
    "locale",
    "recorded_at",
    "method",
    "evidence",
    "evidence_digest",
    "prev_hash",
    "record_hash",
]


def _changed(record: ConsentRecord, field: str):
    value = getattr(record, field)
    if field == "sequence":
        return value + 1
    if field == "event":
        return next(event for event in ConsentEvent if event is not value)
    if field == "recorded_at":
        return value + timedelta(microseconds=1)
    if field == "subject":
        return "intruder" if value is None else None
    if field == "evidence":
        return {"user_agent": "forged"} if value is None else None
    return value + "0"


@given(
    operations=_operations,
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_any_single_change_to_the_stored_chain_is_detected(operations, data):
    ledger, store, _model = _replay([("give", "ann", "privacy"), *operations])
    anchor = ledger.head(TENANT)
    rows = store.rows(TENANT)
    kind = data.draw(st.sampled_from(["change", "delete", "swap"]), label="mutation")
    index = data.draw(st.integers(0, len(rows) - 1), label="index")
    if kind == "change":
        field = data.draw(st.sampled_from(_FIELDS), label="field")
        rows[index] = attrs.evolve(rows[index], **{field: _changed(rows[index], field)})
    elif kind == "delete":
        del rows[index]
    else:
        other = data.draw(st.integers(0, len(rows) - 1).filter(lambda i: i != index), label="other")
        rows[index], rows[other] = rows[other], rows[index]
    with pytest.raises(LedgerIntegrityError) as caught:
        ledger.verify(TENANT, anchor=anchor)
    assert 1 <= caught.value.params["sequence"] <= len(rows) + 1
