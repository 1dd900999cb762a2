"""An active account's consents: where it stands, consenting to a new version, withdrawing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from onboarding_helpers import CONFIG, SECRET, latest_token, registration_form, service
from onboardkit import hookimpl
from onboardkit.accounts import Account
from onboardkit.consent import ConsentRecord
from onboardkit.errors import ValidationError
from onboardkit.onboarding import AccountNotFound, ConsentState, Onboarding
from onboardkit.sqlstore import SqlStore
from onboardkit.tenants import Tenants
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.passwords import CheapTestHasher

ANNA = "anna@example.com"
CLIENT = "192.0.2.10"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def onboarding(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Onboarding]:
    with service(memory_store, clock) as made:
        yield made


def active_account(onboarding: Onboarding, store: SqlStore, **extra: object) -> Account:
    """Anna, registered (with the consents in ``extra``), confirmed and approved in pim."""
    onboarding.register("pim", registration_form(ANNA, **extra), client_address=CLIENT)
    confirmed = onboarding.confirm(latest_token(store, ANNA, "confirmation"))
    return onboarding.approve(
        "pim", confirmed.id, reviewer="review@pim.example.com", roles=["viewer"]
    )


def by_purpose(states: list[ConsentState]) -> dict[str, ConsentState]:
    return {state.document.purpose: state for state in states}


def ledger_records(onboarding: Onboarding, account: Account) -> list[dict[str, Any]]:
    """The account's consent records, oldest first, as the GDPR export shows them."""
    records: list[dict[str, Any]] = onboarding.export_consents("pim", account.id)["records"]
    return records


def ledger_events(onboarding: Onboarding, account: Account) -> list[tuple[str, str, str]]:
    """(event, purpose, method) of every consent record of the account, oldest first."""
    return [
        (record["event"], record["purpose"], record["method"])
        for record in ledger_records(onboarding, account)
    ]


def test_the_states_show_what_was_given_at_sign_up(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    account = active_account(onboarding, memory_store)
    states = by_purpose(onboarding.consent_states("pim", account.id, "de"))
    assert list(states) == ["privacy", "newsletter"]
    privacy, newsletter = states["privacy"], states["newsletter"]
    assert (privacy.given, privacy.current, privacy.given_version) == (True, True, "2024-05")
    assert privacy.given_at is not None
    assert privacy.document.required
    assert privacy.document.title == "Privacy policy (de)"
    assert (newsletter.given, newsletter.current, newsletter.given_at) == (False, False, None)


def test_an_optional_consent_is_given_later_and_withdrawn_as_easily(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    account = active_account(onboarding, memory_store)
    form = {"consents.newsletter": "on"}
    given = by_purpose(onboarding.give_consents("pim", account.id, form, client_address=CLIENT))
    assert (given["newsletter"].given, given["newsletter"].current) == (True, True)
    withdrawn = by_purpose(
        onboarding.withdraw_consent("pim", account.id, "newsletter", client_address=CLIENT)
    )
    assert (withdrawn["newsletter"].given, withdrawn["newsletter"].current) == (False, False)
    assert withdrawn["privacy"].given
    # A second withdrawal changes nothing: no second record.
    onboarding.withdraw_consent("pim", account.id, "newsletter")
    assert ledger_events(onboarding, account) == [
        ("given", "privacy", "double_opt_in"),
        ("given", "newsletter", "form"),
        ("withdrawn", "newsletter", "form"),
    ]
    assert ledger_records(onboarding, account)[1]["evidence"] == {"client_network": "192.0.2.0/24"}


def test_a_required_consent_cannot_be_withdrawn_here(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    account = active_account(onboarding, memory_store)
    with pytest.raises(ValidationError) as raised:
        onboarding.withdraw_consent("pim", account.id, "privacy")
    assert [(issue.path, issue.code) for issue in raised.value.issues] == [
        ("consents.privacy", "consent.required_purpose")
    ]
    assert "Konto löschen" in raised.value.issues[0].localized("de")
    assert by_purpose(onboarding.consent_states("pim", account.id))["privacy"].given
    assert len(ledger_events(onboarding, account)) == 1


def test_an_unknown_purpose_is_refused(onboarding: Onboarding, memory_store: SqlStore) -> None:
    account = active_account(onboarding, memory_store)
    with pytest.raises(ValidationError) as raised:
        onboarding.withdraw_consent("pim", account.id, "cookies")
    assert raised.value.codes == ["consent.purpose_unknown"]


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"consents.newsletter": "off"},
        {"consents.newsletter": False},
        {"consents.newsletter": ["on", "on"]},
        {"consents.privacy": "on"},  # in effect for this version already
        {"consents.cookies": "on", "newsletter": "on"},
    ],
)
def test_a_form_that_gives_nothing_new_is_refused_and_records_nothing(
    onboarding: Onboarding, memory_store: SqlStore, form: dict[str, object]
) -> None:
    account = active_account(onboarding, memory_store)
    with pytest.raises(ValidationError) as raised:
        onboarding.give_consents("pim", account.id, form)
    assert raised.value.codes == ["consent.nothing_chosen"]
    assert len(ledger_events(onboarding, account)) == 1


def test_a_new_version_of_a_document_asks_again(
    memory_store: SqlStore, clock: FrozenClock, onboarding: Onboarding
) -> None:
    account = active_account(onboarding, memory_store)
    config = copy.deepcopy(CONFIG)
    versions = config["pim"]["consent"]["purposes"]["privacy"]["versions"]
    versions.append({**copy.deepcopy(versions[0]), "version": "2025-01"})
    versions[-1]["locales"]["en"]["text"] = "The new privacy policy text."
    updated = Onboarding(
        Tenants.from_mapping({"tenants": config}),
        memory_store,
        secret=SECRET,
        plugins=make_plugins(),
        hasher=CheapTestHasher(),
        limiter=None,
        clock=clock,
    )
    try:
        privacy = by_purpose(updated.consent_states("pim", account.id))["privacy"]
        assert (privacy.given, privacy.current) == (True, False)
        assert (privacy.given_version, privacy.document.version) == ("2024-05", "2025-01")
        renewed = updated.give_consents("pim", account.id, {"consents.privacy": "on"})
        privacy = by_purpose(renewed)["privacy"]
        assert (privacy.current, privacy.given_version) == (True, "2025-01")
    finally:
        updated.close()


def test_only_an_active_account_of_the_tenant_has_consents_to_manage(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form("pending@example.com"), client_address=CLIENT)
    pending = onboarding.store.atomic(lambda tx: tx.account_by_email("pim", "pending@example.com"))
    assert pending is not None
    account = active_account(onboarding, memory_store)
    form = {"consents.newsletter": "on"}
    for tenant, account_id in (("pim", pending.id), ("dam", account.id), ("pim", "0" * 32)):
        with pytest.raises(AccountNotFound):
            onboarding.give_consents(tenant, account_id, form)
        with pytest.raises(AccountNotFound):
            onboarding.consent_states(tenant, account_id)
    for account_id in (pending.id, "0" * 32):
        with pytest.raises(AccountNotFound):
            onboarding.withdraw_consent("pim", account_id, "newsletter")
    assert len(ledger_events(onboarding, account)) == 1


def test_consent_events_reach_observers(memory_store: SqlStore, clock: FrozenClock) -> None:
    seen: list[tuple[str, str]] = []

    class Observer:
        @hookimpl
        def onboardkit_consent_recorded(self, record: ConsentRecord) -> None:
            seen.append((record.event.value, record.purpose))

    with service(memory_store, clock, plugins=make_plugins(Observer())) as onboarding:
        account = active_account(onboarding, memory_store)
        onboarding.give_consents("pim", account.id, {"consents.newsletter": "on"})
        onboarding.withdraw_consent("pim", account.id, "newsletter")
    assert seen == [("given", "privacy"), ("given", "newsletter"), ("withdrawn", "newsletter")]
