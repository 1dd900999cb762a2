"""Seed 002: email-first sign-up of customers (organization + administrator) and partners."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onboarding_helpers import (
    STRONG,
    RemotePartners,
    latest_token,
    mails,
    service,
    signup_form,
)
from onboardkit import hookimpl
from onboardkit.accounts import AccountStatus
from onboardkit.errors import PartnerCodeError, PartnerProviderError, ValidationError
from onboardkit.onboarding import NotOrganizationAdmin, Onboarding
from onboardkit.ratelimits import RateLimited, RateLimiter, RateLimits
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.ratelimits import MemoryRateLimitBackend

CARLA = "carla@example.org"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def onboarding(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Onboarding]:
    with service(memory_store, clock, plugins=make_plugins(RemotePartners())) as built:
        yield built


def limited(clock: FrozenClock, action: str, limit: int) -> RateLimiter:
    limits = RateLimits.from_mapping({action: {"email": {"limit": limit, "window": 3600}}})
    return RateLimiter(limits, MemoryRateLimitBackend(), clock)


def activation_token(onboarding: Onboarding, store: SqlStore, email: str = CARLA) -> str:
    onboarding.start_signup("shop", email, client_address="203.0.113.5")
    return latest_token(store, email, "activation")


def test_a_customer_signup_creates_the_organization_and_its_administrator(
    store: SqlStore, clock: FrozenClock
) -> None:
    with service(store, clock) as onboarding:
        token = activation_token(onboarding, store)
        preview = onboarding.preview_signup(token)
        assert preview.offers == ("customer", "partner")
        account = onboarding.complete_signup(token, signup_form(), client_address="203.0.113.5")
        assert account.status is AccountStatus.ACTIVE
        assert account.user_type == "customer_admin"
        organization = store.atomic(lambda tx: tx.organization(account.organization_id))
        assert organization is not None
        assert organization.name == "Diaz Logistics"
        assert mails(store, CARLA, "approved")
        consents = onboarding.export_consents("shop", account.id)["consents"]
        assert set(consents) == {"terms", "privacy"}

        clock.advance(1)
        onboarding.invite_colleague("shop", account.id, "dan@example.org", roles=["buyer"])
        invitation = mails(store, "dan@example.org", "invitation")[0]
        assert CARLA in invitation.text
        colleague = onboarding.accept_invitation(
            latest_token(store, "dan@example.org", "invitation"),
            {
                "password": "Orbit-Saffron-Kettle-81",
                "consents.terms": "on",
                "consents.privacy": "on",
            },
        )
        assert colleague.organization_id == account.organization_id
        assert colleague.user_type == "customer_user"
        assert colleague.roles == ("buyer",)


def test_only_an_organization_administrator_may_invite_colleagues(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    admin = onboarding.complete_signup(activation_token(onboarding, memory_store), signup_form())
    clock.advance(1)
    onboarding.invite_colleague("shop", admin.id, "dan@example.org", roles=[])
    colleague = onboarding.accept_invitation(
        latest_token(memory_store, "dan@example.org", "invitation"),
        {"password": "Orbit-Saffron-Kettle-81", "consents.terms": "on", "consents.privacy": "on"},
    )
    with pytest.raises(NotOrganizationAdmin) as caught:
        onboarding.invite_colleague("shop", colleague.id, "eve@example.org", roles=[])
    assert caught.value.code == "organization.not_admin"
    onboarding.disable("shop", admin.id)
    with pytest.raises(NotOrganizationAdmin):
        onboarding.invite_colleague("shop", admin.id, "eve@example.org", roles=[])
    assert mails(memory_store, "eve@example.org") == []


def test_every_problem_of_a_signup_is_reported_at_once(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    token = activation_token(onboarding, memory_store)
    form = {"kind": "customer", "password": "x", "company.name": "y" * 201}
    with pytest.raises(ValidationError) as caught:
        onboarding.complete_signup(token, form)
    paths = {issue.path for issue in caught.value.issues}
    assert {
        "given_name",
        "family_name",
        "company.name",
        "password",
        "consents.terms",
        "consents.privacy",
    } <= paths


def test_a_partner_signup_with_a_bad_code_fails_then_a_good_code_succeeds(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    partner, code = onboarding.partner_registry.create("shop", "Acme Reseller", max_uses=1)
    token = activation_token(onboarding, memory_store)
    with pytest.raises(PartnerCodeError):
        onboarding.complete_signup(
            token, signup_form("partner", partner_code="0000-0000-0000-0000")
        )
    with pytest.raises(ValidationError) as caught:
        onboarding.complete_signup(token, signup_form("partner"))
    assert caught.value.codes == ["signup.partner_code_required"]

    account = onboarding.complete_signup(token, signup_form("partner", partner_code=code))
    assert account.partner == {"id": partner.id, "name": "Acme Reseller", "source": "registry"}
    assert account.user_type == "partner_user"
    assert account.organization_id is None
    record = onboarding.partner_registry.inspect("shop", code)
    assert record is not None
    assert record.uses == 1


def test_a_failed_signup_does_not_use_up_a_partner_code(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    class FailingProvisioning:
        @hookimpl
        def onboardkit_provision_account(self, tenant: object, account: object) -> None:
            raise RuntimeError("the host's user database is down")

    plugins = make_plugins(FailingProvisioning())
    with service(memory_store, clock, plugins=plugins) as onboarding:
        _partner, code = onboarding.partner_registry.create("shop", "Acme", max_uses=1)
        token = activation_token(onboarding, memory_store)
        with pytest.raises(Exception, match="could not be set up"):
            onboarding.complete_signup(token, signup_form("partner", partner_code=code))
        record = onboarding.partner_registry.inspect("shop", code)
        assert record is not None
        assert record.uses == 0


def test_an_expired_partner_code_fails_the_signup(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    _partner, code = onboarding.partner_registry.create("shop", "Acme", expires_at=clock.now + 60)
    token = activation_token(onboarding, memory_store)
    clock.advance(120)
    with pytest.raises(PartnerCodeError) as caught:
        onboarding.complete_signup(token, signup_form("partner", partner_code=code))
    assert caught.value.code == "partner_code.invalid"
    account = memory_store.atomic(lambda tx: tx.account_by_email("shop", CARLA))
    assert account.status is AccountStatus.PENDING_ACTIVATION


def test_a_provider_plugin_resolves_its_own_codes(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    token = activation_token(onboarding, memory_store)
    account = onboarding.complete_signup(token, signup_form("partner", partner_code="REMOTE-42"))
    assert account.partner == {"id": "remote-7", "name": "Remote Reseller", "source": "http"}


def test_a_failing_provider_fails_closed_with_a_typed_error(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    class BrokenProvider:
        @hookimpl
        def onboardkit_resolve_partner_code(self, tenant: str, code: str) -> None:
            raise ConnectionError("partner system unreachable")

    with service(memory_store, clock, plugins=make_plugins(BrokenProvider())) as onboarding:
        token = activation_token(onboarding, memory_store)
        with pytest.raises(PartnerProviderError) as caught:
            onboarding.complete_signup(token, signup_form("partner", partner_code="ANY-CODE"))
        assert caught.value.code == "partner_code.unavailable"


def test_starting_a_signup_for_an_existing_account_answers_the_same(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    answer_when_new = onboarding.start_signup("shop", CARLA)
    token = latest_token(memory_store, CARLA, "activation")
    onboarding.complete_signup(token, signup_form())
    clock.advance(1)
    assert onboarding.start_signup("shop", CARLA) == answer_when_new
    assert mails(memory_store, CARLA)[0].kind == "already_registered"


def test_a_completed_signup_link_is_answered_kindly_and_changes_nothing(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    token = activation_token(onboarding, memory_store)
    account = onboarding.complete_signup(token, signup_form())
    again = onboarding.complete_signup(token, signup_form(password="Other-Password-Value-9"))
    assert again == account
    assert onboarding.preview_signup(token).status == "already_done"
    assert onboarding.authenticate("shop", CARLA, STRONG).id == account.id


def test_partners_are_not_offered_when_the_tenant_has_them_off(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    import attrs

    from onboardkit.tenants import Tenants

    shop = attrs.evolve(onboarding.tenants["shop"], partners_enabled=False)
    onboarding.tenants = Tenants.of([shop])
    token = activation_token(onboarding, memory_store)
    assert onboarding.preview_signup(token).offers == ("customer",)
    with pytest.raises(ValidationError) as caught:
        onboarding.complete_signup(token, signup_form("partner", partner_code="REMOTE-42"))
    assert caught.value.codes == ["signup.kind_invalid"]


def test_a_signup_form_cannot_choose_its_organization_user_type_or_roles(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    victim = onboarding.complete_signup(activation_token(onboarding, memory_store), signup_form())
    clock.advance(1)
    token = activation_token(onboarding, memory_store, "mallory@example.org")
    form = signup_form(
        organization_id=victim.organization_id,
        user_type="partner_user",
        roles=["buyer"],
        partner={"id": "remote-7", "name": "Remote Reseller", "source": "http"},
        status="active",
    )
    account = onboarding.complete_signup(token, form)
    assert account.organization_id is not None
    assert account.organization_id != victim.organization_id
    assert account.user_type == "customer_admin"
    assert account.roles == ()
    assert account.partner is None


def test_starting_a_signup_is_rate_limited_per_address(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    with service(memory_store, clock, limiter=limited(clock, "activation", 2)) as onboarding:
        onboarding.start_signup("shop", CARLA, client_address="192.0.2.1")
        onboarding.start_signup("shop", CARLA, client_address="198.51.100.2")
        with pytest.raises(RateLimited):
            onboarding.start_signup("shop", "Carla@EXAMPLE.org", client_address="203.0.113.3")
    assert len(mails(memory_store, CARLA, "activation")) == 2


def test_partner_code_attempts_are_rate_limited_per_address(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    plugins = make_plugins(RemotePartners())
    limiter = limited(clock, "partner_code", 2)
    with service(memory_store, clock, plugins=plugins, limiter=limiter) as onboarding:
        token = activation_token(onboarding, memory_store)
        for guess in ("GUESS-1", "GUESS-2"):
            with pytest.raises(PartnerCodeError):
                onboarding.complete_signup(token, signup_form("partner", partner_code=guess))
        with pytest.raises(RateLimited):
            onboarding.complete_signup(token, signup_form("partner", partner_code="REMOTE-42"))


def test_a_password_containing_the_company_name_is_refused(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    token = activation_token(onboarding, memory_store)
    form = signup_form(password="Logistics-Harbor-Violet-93")
    with pytest.raises(ValidationError) as caught:
        onboarding.complete_signup(token, form)
    [issue] = caught.value.issues
    assert issue.code == "password.contains_personal_info"
    assert dict(issue.params) == {"sources": ["company"]}
