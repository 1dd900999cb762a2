"""Seed 001: invitation, a password under the composition profile, then login."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest

from onboarding_helpers import latest_token, mails, registration_form, service
from onboardkit.accounts import AccountStatus, Flow
from onboardkit.errors import TokenStaleState, ValidationError
from onboardkit.onboarding import LoginFailed, Onboarding
from onboardkit.sqlstore import SqlStore
from onboardkit.tenants import Tenants
from onboardkit.testing import FrozenClock

ERIK = "erik@example.org"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def onboarding(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Onboarding]:
    with service(memory_store, clock) as built:
        yield built


def test_an_invitation_runs_to_login_with_the_composition_rules(
    store: SqlStore, clock: FrozenClock
) -> None:
    with service(store, clock) as onboarding:
        onboarding.invite("collab", ERIK, roles=["policyholder"], invited_by="Makler Müller")
        mail = mails(store, ERIK, "invitation")[0]
        assert "Makler Müller" in mail.text
        token = latest_token(store, ERIK, "invitation")
        assert onboarding.preview_invitation(token).status == "ready"

        with pytest.raises(ValidationError) as caught:
            onboarding.accept_invitation(token, {"password": "abc", "consents.privacy": "on"})
        assert set(caught.value.codes) == {
            "password.too_short",
            "password.needs_upper",
            "password.needs_digit",
            "password.needs_special",
        }
        german = {issue.localized("de") for issue in caught.value.issues}
        assert any("Ziffer" in text or "0-9" in text for text in german)

        account = onboarding.accept_invitation(
            token, {"password": "Sommer#2024", "consents.privacy": "on"}
        )
        assert account.status is AccountStatus.ACTIVE
        assert account.roles == ("policyholder",)
        assert onboarding.authenticate("collab", ERIK, "Sommer#2024").id == account.id
        exported = onboarding.export_consents("collab", account.id)
        assert exported["consents"]["privacy"]["method"] == "invitation"


def test_accepting_needs_the_required_consent(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.invite("collab", ERIK, roles=[], invited_by="Admin")
    token = latest_token(memory_store, ERIK, "invitation")
    with pytest.raises(ValidationError) as caught:
        onboarding.accept_invitation(token, {"password": "Sommer#2024"})
    assert caught.value.codes == ["consent.purpose_required"]


def test_a_second_acceptance_changes_nothing(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.invite("collab", ERIK, roles=[], invited_by="Admin")
    token = latest_token(memory_store, ERIK, "invitation")
    accepted = onboarding.accept_invitation(
        token, {"password": "Sommer#2024", "consents.privacy": "on"}
    )
    again = onboarding.accept_invitation(
        token, {"password": "Winter#2025", "consents.privacy": "on"}
    )
    assert again == accepted
    assert onboarding.preview_invitation(token).status == "already_done"
    with pytest.raises(LoginFailed):
        onboarding.authenticate("collab", ERIK, "Winter#2025")


def test_inviting_again_updates_the_roles_and_only_the_newest_link_works(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    first = onboarding.invite("collab", ERIK, roles=["policyholder"], invited_by="Admin")
    old = latest_token(memory_store, ERIK, "invitation")
    clock.advance(1)
    second = onboarding.invite("collab", ERIK, roles=["broker"], invited_by="Admin")
    assert first == second
    new = latest_token(memory_store, ERIK, "invitation")
    with pytest.raises(TokenStaleState):
        onboarding.preview_invitation(old)
    account = onboarding.accept_invitation(
        new, {"password": "Sommer#2024", "consents.privacy": "on"}
    )
    assert account.roles == ("broker",)


def test_resending_an_invitation_extends_its_expiry(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    onboarding.invite("collab", ERIK, roles=[], invited_by="Admin")
    clock.advance(6 * 86_400)
    onboarding.resend_invitation("collab", ERIK)
    clock.advance(3 * 86_400)
    token = latest_token(memory_store, ERIK, "invitation")
    account = onboarding.accept_invitation(
        token, {"password": "Sommer#2024", "consents.privacy": "on"}
    )
    assert account.status is AccountStatus.ACTIVE


def test_inviting_an_existing_account_mails_the_owner_instead(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    answer_when_new = onboarding.invite("collab", ERIK, roles=[], invited_by="Admin")
    token = latest_token(memory_store, ERIK, "invitation")
    accepted = onboarding.accept_invitation(
        token, {"password": "Sommer#2024", "consents.privacy": "on"}
    )
    clock.advance(1)
    assert onboarding.invite("collab", ERIK, roles=["broker"], invited_by="X") == answer_when_new
    assert mails(memory_store, ERIK)[0].kind == "already_registered"
    stored = memory_store.atomic(lambda tx: tx.account(accepted.id))
    assert stored == accepted


def test_an_invitation_refuses_unknown_roles(onboarding: Onboarding) -> None:
    with pytest.raises(ValidationError) as caught:
        onboarding.invite("collab", "not-an-address", roles=["god"], invited_by="Admin")
    assert caught.value.codes == ["email.invalid", "onboarding.role_unknown"]


def test_registering_an_invited_address_sends_a_fresh_invitation(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    with service(memory_store, clock) as onboarding:
        both = attrs.evolve(
            onboarding.tenants["pim"], flows=frozenset({Flow.REGISTRATION, Flow.INVITATION})
        )
        onboarding.tenants = Tenants.of([both])
        onboarding.invite("pim", ERIK, roles=["viewer"], invited_by="Admin")
        clock.advance(1)
        onboarding.register("pim", registration_form(ERIK))
        assert [m.kind for m in mails(memory_store, ERIK)] == ["invitation", "invitation"]
        account = memory_store.atomic(lambda tx: tx.account_by_email("pim", ERIK))
        assert account.status is AccountStatus.INVITED
        assert account.password_hash is None


def test_an_acceptance_form_cannot_change_roles_user_type_organization_or_address(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.invite("collab", ERIK, roles=["policyholder"], invited_by="Makler Müller")
    form = {
        "password": "Sommer#2024",
        "consents.privacy": "on",
        "roles": ["broker"],
        "user_type": "broker",
        "organization_id": "0" * 32,
        "email": "mallory@example.org",
        "status": "active",
    }
    account = onboarding.accept_invitation(latest_token(memory_store, ERIK, "invitation"), form)
    assert account.roles == ("policyholder",)
    assert account.user_type is None
    assert account.organization_id is None
    assert account.email == ERIK
