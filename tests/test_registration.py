"""Seed 000: self-registration with custom fields, double opt-in, review, approval or rejection."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from onboarding_helpers import (
    OTHER_STRONG,
    STRONG,
    CountingHasher,
    latest_token,
    link_token,
    mails,
    registration_form,
    service,
)
from onboardkit import hookimpl
from onboardkit.accounts import AccountStatus, InvalidTransition
from onboardkit.errors import (
    TokenExpired,
    TokenStaleState,
    TokenWrongPurpose,
    ValidationError,
)
from onboardkit.onboarding import AccountNotFound, LoginFailed, Onboarding, Submitted
from onboardkit.ratelimits import RateLimited, RateLimiter, RateLimits
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.ratelimits import MemoryRateLimitBackend

ANNA = "anna@example.org"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def onboarding(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Onboarding]:
    with service(memory_store, clock) as built:
        yield built


def account_of(store: SqlStore, tenant: str, email: str):
    return store.atomic(lambda tx: tx.account_by_email(tenant, email))


def limited(clock: FrozenClock, action: str, scope: str, limit: int) -> RateLimiter:
    limits = RateLimits.from_mapping({action: {scope: {"limit": limit, "window": 3600}}})
    return RateLimiter(limits, MemoryRateLimitBackend(), clock)


def registered_and_confirmed(onboarding: Onboarding, store: SqlStore, email: str = ANNA):
    onboarding.register("pim", registration_form(email), client_address="198.51.100.7")
    return onboarding.confirm(latest_token(store, email, "confirmation"))


def test_registration_runs_from_form_to_approval_on_every_database(
    store: SqlStore, clock: FrozenClock
) -> None:
    with service(store, clock) as onboarding:
        answer = onboarding.register("pim", registration_form(ANNA), client_address="192.0.2.1")
        assert answer == Submitted("pim", "register", "a***@example.org")
        pending = account_of(store, "pim", ANNA)
        assert pending.status is AccountStatus.PENDING_CONFIRMATION
        assert pending.fields == {"customer_number": "123456", "employee_number": "77"}

        confirmed = onboarding.confirm(latest_token(store, ANNA, "confirmation"))
        assert confirmed.status is AccountStatus.PENDING_REVIEW
        notice = mails(store, "review@pim.example.com", "reviewer_notice")[0]
        assert "123456" in notice.text
        assert [a.id for a in onboarding.pending_reviews("pim")] == [confirmed.id]

        approved = onboarding.approve(
            "pim", confirmed.id, reviewer="lead@pim.example.com", roles=["editor"]
        )
        assert approved.status is AccountStatus.ACTIVE
        assert approved.roles == ("editor",)
        assert mails(store, ANNA, "approved")
        assert onboarding.authenticate("pim", ANNA, STRONG).id == approved.id


def test_rejection_tells_the_person_the_reason(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    confirmed = registered_and_confirmed(onboarding, memory_store)
    rejected = onboarding.reject(
        "pim", confirmed.id, reviewer="lead@pim.example.com", reason="Unknown <customer> number"
    )
    assert rejected.status is AccountStatus.REJECTED
    mail = mails(memory_store, ANNA, "rejected")[0]
    assert "Unknown <customer> number" in mail.text
    assert "Unknown &lt;customer&gt; number" in (mail.html or "")


def test_a_rejection_needs_a_bounded_reason_without_control_characters(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    confirmed = registered_and_confirmed(onboarding, memory_store)
    for reason, code in [
        ("", "review.reason_required"),
        ("x" * 1001, "review.reason_too_long"),
        ("bad\x00reason", "review.reason_control_characters"),
    ]:
        with pytest.raises(ValidationError) as caught:
            onboarding.reject("pim", confirmed.id, reviewer="lead", reason=reason)
        assert caught.value.codes == [code]
    assert account_of(memory_store, "pim", ANNA).status is AccountStatus.PENDING_REVIEW


def test_reviewer_notices_escape_what_the_applicant_entered(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    form = registration_form(ANNA, given_name="<script>alert(1)</script>")
    onboarding.register("pim", form)
    onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
    html = mails(memory_store, "review@pim.example.com", "reviewer_notice")[0].html or ""
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_every_problem_of_a_registration_is_reported_at_once(onboarding: Onboarding) -> None:
    form = {
        "email": "not an address",
        "password": "short",
        "fields.customer_number": "12",
        "given_name": "x" * 500,
    }
    with pytest.raises(ValidationError) as caught:
        onboarding.register("pim", form)
    paths = {issue.path for issue in caught.value.issues}
    assert {"email", "password", "fields.customer_number", "given_name", "consents.privacy"} <= (
        paths
    )


def test_a_german_registration_error_reads_in_german(onboarding: Onboarding) -> None:
    with pytest.raises(ValidationError) as caught:
        onboarding.register("pim", registration_form(ANNA, given_name="x" * 101))
    issue = next(issue for issue in caught.value.issues if issue.path == "given_name")
    assert issue.localized("de") == "Bitte geben Sie höchstens 100 Zeichen ein."


def test_a_password_containing_the_email_is_refused(onboarding: Onboarding) -> None:
    form = registration_form("harborlight@example.org", password="Harborlight-Example-2024")
    with pytest.raises(ValidationError) as caught:
        onboarding.register("pim", form)
    assert caught.value.codes == ["password.contains_personal_info"]


def test_registration_without_the_required_consent_is_refused(onboarding: Onboarding) -> None:
    form = registration_form(ANNA)
    del form["consents.privacy"]
    with pytest.raises(ValidationError) as caught:
        onboarding.register("pim", form)
    assert caught.value.codes == ["consent.purpose_required"]


def test_consents_are_recorded_only_at_confirmation_as_double_opt_in(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form(ANNA, **{"consents.newsletter": "on"}))
    pending = account_of(memory_store, "pim", ANNA)
    assert onboarding.export_consents("pim", pending.id)["records"] == []
    onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"), client_address="::1")
    exported = onboarding.export_consents("pim", pending.id)
    assert set(exported["consents"]) == {"privacy", "newsletter"}
    assert {c["method"] for c in exported["consents"].values()} == {"double_opt_in"}


def test_mass_assignment_fields_in_the_form_are_ignored(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    form = registration_form(
        ANNA,
        status="active",
        roles=["editor"],
        is_staff=True,
        user_type="staff",
        **{"fields.is_staff": "1", "fields.status": "active"},
    )
    onboarding.register("pim", form)
    account = account_of(memory_store, "pim", ANNA)
    assert account.status is AccountStatus.PENDING_CONFIRMATION
    assert account.roles == ()
    assert account.user_type is None
    assert set(account.fields) == {"customer_number", "employee_number"}


def test_registering_an_existing_address_answers_the_same_and_mails_the_owner(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    answer_when_new = onboarding.register("pim", registration_form(ANNA))
    confirmed = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
    before = len(mails(memory_store))
    clock.advance(1)

    answer_when_taken = onboarding.register("pim", registration_form(ANNA))
    onboarding.register("pim", registration_form("ANNA@Example.ORG"))

    assert answer_when_taken == answer_when_new
    assert account_of(memory_store, "pim", ANNA) == confirmed
    new_mails = mails(memory_store)[: len(mails(memory_store)) - before]
    assert [m.kind for m in new_mails] == ["already_registered", "already_registered"]
    # Mail goes to the stored address, never to the variant just typed.
    assert {m.recipient for m in new_mails} == {ANNA}


def test_pre_hijacking_the_real_owner_replaces_an_attackers_unconfirmed_registration(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    attacker_form = registration_form(
        ANNA,
        password=OTHER_STRONG,
        given_name="Mallory",
        **{"fields.customer_number": "666666", "consents.newsletter": "on"},
    )
    onboarding.register("pim", attacker_form)
    attackers_link = latest_token(memory_store, ANNA, "confirmation")

    clock.advance(1)
    onboarding.register("pim", registration_form(ANNA))
    owners_link = latest_token(memory_store, ANNA, "confirmation")
    with pytest.raises(TokenStaleState):
        onboarding.confirm(attackers_link)
    account = onboarding.confirm(owners_link)
    onboarding.approve("pim", account.id, reviewer="lead", roles=["viewer"])

    assert account.fields["customer_number"] == "123456"
    assert account.profile["given_name"] == "Anna"
    assert onboarding.authenticate("pim", ANNA, STRONG).id == account.id
    with pytest.raises(LoginFailed) as caught:
        onboarding.authenticate("pim", ANNA, OTHER_STRONG)
    assert caught.value.code == "login.bad_credentials"
    consents = onboarding.export_consents("pim", account.id)
    assert set(consents["consents"]) == {"privacy"}
    assert len(consents["records"]) == 1


def test_a_preview_never_changes_anything(onboarding: Onboarding, memory_store: SqlStore) -> None:
    onboarding.register("pim", registration_form(ANNA))
    token = latest_token(memory_store, ANNA, "confirmation")
    before = account_of(memory_store, "pim", ANNA)
    mail_count = len(mails(memory_store))
    for _ in range(5):
        preview = onboarding.preview_confirmation(token)
        assert preview.status == "ready"
        assert preview.email == "a***@example.org"
    assert account_of(memory_store, "pim", ANNA) == before
    assert len(mails(memory_store)) == mail_count
    assert onboarding.confirm(token).status is AccountStatus.PENDING_REVIEW


def test_a_second_confirmation_is_answered_kindly(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    token = latest_token(memory_store, ANNA, "confirmation")
    confirmed = onboarding.confirm(token)
    assert onboarding.confirm(token) == confirmed
    assert onboarding.preview_confirmation(token).status == "already_done"
    assert len(mails(memory_store, "review@pim.example.com")) == 1


def test_an_older_confirmation_link_is_stale_after_a_resend(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    first = latest_token(memory_store, ANNA, "confirmation")
    clock.advance(1)
    assert onboarding.resend_confirmation("pim", ANNA).step == "resend"
    second = latest_token(memory_store, ANNA, "confirmation")
    with pytest.raises(TokenStaleState):
        onboarding.preview_confirmation(first)
    assert onboarding.confirm(second).status is AccountStatus.PENDING_REVIEW


def test_resend_gives_the_same_answer_for_unknown_addresses(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    known = onboarding.resend_confirmation("pim", ANNA)
    unknown = onboarding.resend_confirmation("pim", "zed@example.org")
    assert (known.tenant, known.step) == (unknown.tenant, unknown.step)
    assert mails(memory_store, "zed@example.org") == []


def test_an_expired_confirmation_link_fails(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    token = latest_token(memory_store, ANNA, "confirmation")
    clock.advance(2 * 86_400 + 120)
    with pytest.raises(TokenExpired):
        onboarding.confirm(token)
    assert account_of(memory_store, "pim", ANNA).status is AccountStatus.PENDING_CONFIRMATION


def test_a_confirmation_link_is_no_invitation(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    token = link_token(mails(memory_store, ANNA, "confirmation")[0])
    with pytest.raises(TokenWrongPurpose):
        onboarding.preview_invitation(token)


def test_every_invalid_transition_is_a_typed_error(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    pending = account_of(memory_store, "pim", ANNA)
    with pytest.raises(InvalidTransition):
        onboarding.approve("pim", pending.id, reviewer="lead", roles=[])
    with pytest.raises(InvalidTransition):
        onboarding.reject("pim", pending.id, reviewer="lead", reason="no")
    with pytest.raises(InvalidTransition):
        onboarding.disable("pim", pending.id)
    with pytest.raises(InvalidTransition):
        onboarding.enable("pim", pending.id)
    confirmed = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
    onboarding.reject("pim", confirmed.id, reviewer="lead", reason="no")
    with pytest.raises(InvalidTransition) as caught:
        onboarding.approve("pim", confirmed.id, reviewer="lead", roles=[])
    assert caught.value.code == "account.invalid_transition"
    with pytest.raises(AccountNotFound):
        onboarding.approve("dam", confirmed.id, reviewer="lead", roles=[])


def test_approval_refuses_roles_and_user_types_the_tenant_lacks(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    confirmed = registered_and_confirmed(onboarding, memory_store)
    with pytest.raises(ValidationError) as caught:
        onboarding.approve(
            "pim", confirmed.id, reviewer="lead", roles=["viewer", "root"], user_type="admin"
        )
    assert caught.value.codes == ["onboarding.role_unknown", "onboarding.user_type_unknown"]
    approved = onboarding.approve(
        "pim", confirmed.id, reviewer="lead", roles=["viewer"], user_type="staff"
    )
    assert approved.user_type == "staff"


def test_without_review_confirmation_activates_and_welcomes(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("dam", {**registration_form(ANNA)})
    account = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
    assert account.status is AccountStatus.ACTIVE
    assert mails(memory_store, ANNA, "approved")


def test_a_megabyte_password_is_refused_at_once_and_nothing_is_stored(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    # Django CVE-2013-1443: a huge password must not buy a long hash or a long rule check.
    checked: list[int] = []

    class RecordingRule:
        code = "test.recording_rule"

        def check(self, password: str, context: object) -> list[object]:
            checked.append(len(password))
            return []

        def describe(self, locale: str | None) -> None:
            return None

    class RecordingRules:
        @hookimpl
        def onboardkit_password_rules(self, tenant: str, policy: object) -> list[RecordingRule]:
            return [RecordingRule()]

    hasher = CountingHasher()
    plugins = make_plugins(RecordingRules())
    with service(memory_store, clock, hasher=hasher, plugins=plugins) as onboarding:
        hasher.calls.clear()  # the service's own stand-in hash, made when it starts
        with pytest.raises(ValidationError) as caught:
            onboarding.register("pim", registration_form(ANNA, password="a" * 1_000_000))
    [issue] = caught.value.issues
    assert (issue.path, issue.code, dict(issue.params)) == (
        "password",
        "password.too_long",
        {"max_length": 128},
    )
    assert "128" in issue.localized("en")
    assert checked == []
    assert hasher.calls == []
    assert account_of(memory_store, "pim", ANNA) is None
    assert mails(memory_store) == []


def test_registering_a_taken_address_costs_the_same_password_work_as_a_new_one(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    hasher = CountingHasher()
    with service(memory_store, clock, hasher=hasher) as onboarding:
        new = hasher.cost_of(lambda: onboarding.register("pim", registration_form(ANNA)))
        onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
        clock.advance(1)
        taken = hasher.cost_of(lambda: onboarding.register("pim", registration_form(ANNA)))
    assert new == taken == ["hash"]


def test_addresses_that_only_look_alike_get_accounts_of_their_own(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    # Django CVE-2019-19844: a dotless i or a dropped accent must not lead to another's account.
    look_alikes = [
        "mike@example.org",
        "m\u0131ke@example.org",
        "muller@example.org",
        "m\u00fcller@example.org",
    ]
    for address in look_alikes:
        onboarding.register("pim", registration_form(address))
    accounts = memory_store.atomic(lambda tx: list(tx.accounts("pim")))
    assert sorted(account.email for account in accounts) == sorted(look_alikes)
    for address in look_alikes:
        assert [mail.kind for mail in mails(memory_store, address)] == ["confirmation"]


def test_mailed_links_start_at_the_tenants_configured_base_url(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    mail = mails(memory_store, ANNA, "confirmation")[0]
    links = re.findall(r"https?://[^\s\"'<>]+", mail.text + (mail.html or ""))
    assert links
    assert all(
        link.startswith("https://pim.example.com/onboarding/confirm?token=") for link in links
    )


def test_registration_is_rate_limited_per_address_whatever_the_client(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    with service(memory_store, clock, limiter=limited(clock, "register", "email", 2)) as onboarding:
        onboarding.register("pim", registration_form(ANNA), client_address="192.0.2.1")
        onboarding.register("pim", registration_form(ANNA), client_address="198.51.100.2")
        with pytest.raises(RateLimited) as caught:
            onboarding.register(
                "pim", registration_form("ANNA@Example.ORG"), client_address="203.0.113.3"
            )
        assert caught.value.code == "rate_limited"
        onboarding.register(
            "pim", registration_form("bert@example.org"), client_address="203.0.113.3"
        )


def test_registration_is_rate_limited_per_client_whatever_the_address(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    with service(memory_store, clock, limiter=limited(clock, "register", "ip", 2)) as onboarding:
        for address in (ANNA, "bert@example.org"):
            onboarding.register("pim", registration_form(address), client_address="192.0.2.1")
        with pytest.raises(RateLimited):
            onboarding.register(
                "pim", registration_form("cleo@example.org"), client_address="192.0.2.1"
            )
        onboarding.register(
            "pim", registration_form("cleo@example.org"), client_address="192.0.2.2"
        )


def test_resending_is_rate_limited_per_address(memory_store: SqlStore, clock: FrozenClock) -> None:
    with service(memory_store, clock, limiter=limited(clock, "resend", "email", 2)) as onboarding:
        onboarding.register("pim", registration_form(ANNA))
        onboarding.resend_confirmation("pim", ANNA, client_address="192.0.2.1")
        onboarding.resend_confirmation("pim", ANNA, client_address="198.51.100.2")
        with pytest.raises(RateLimited):
            onboarding.resend_confirmation("pim", "Anna@EXAMPLE.org", client_address="203.0.113.3")
    assert len(mails(memory_store, ANNA, "confirmation")) == 3


def test_line_breaks_in_an_address_or_a_name_are_refused(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    form = registration_form(
        "anna@example.org\r\nBcc: everyone@example.net",
        given_name="Anna\r\nBcc: everyone@example.net",
        family_name="Berg\u2028Reply-To: eve@example.net",
    )
    with pytest.raises(ValidationError) as caught:
        onboarding.register("pim", form)
    assert [(issue.path, issue.code) for issue in caught.value.issues] == [
        ("email", "email.control_characters"),
        ("given_name", "onboarding.control_characters"),
        ("family_name", "onboarding.control_characters"),
    ]
    assert mails(memory_store) == []


def test_a_password_containing_a_custom_field_value_is_refused(onboarding: Onboarding) -> None:
    form = registration_form(ANNA, password="Tundra-123456-Violet-Harbor")
    with pytest.raises(ValidationError) as caught:
        onboarding.register("pim", form)
    [issue] = caught.value.issues
    assert issue.code == "password.contains_personal_info"
    assert dict(issue.params) == {"sources": ["fields.customer_number"]}
