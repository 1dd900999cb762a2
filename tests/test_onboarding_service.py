"""The onboarding service as a whole: hooks, faults, concurrency, keys, housekeeping, bad input."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from onboarding_helpers import (
    CONFIG,
    OTHER_STRONG,
    SECRET,
    STRONG,
    TENANTS,
    latest_token,
    mails,
    registration_form,
    service,
    signup_form,
)
from onboardkit import hookimpl, schema
from onboardkit.accounts import Account, AccountEvent, AccountStatus
from onboardkit.errors import (
    ConfigurationError,
    OnboardkitError,
    TokenBadSignature,
    TokenError,
)
from onboardkit.keys import load_key_ring, rotate_signing_keys
from onboardkit.onboarding import (
    FlowNotOffered,
    LoginFailed,
    Onboarding,
    ProvisioningFailed,
    Submitted,
)
from onboardkit.outbox import OutboxWorker
from onboardkit.ratelimits import RateLimiter, RateLimits
from onboardkit.sqlstore import SqlStore
from onboardkit.tenants import Tenant, Tenants
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.ratelimits import MemoryRateLimitBackend
from onboardkit.testing.store import memory_store as make_memory_store
from onboardkit.transports import SmtpTransport

ANNA = "anna@example.org"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def onboarding(memory_store: SqlStore, clock: FrozenClock) -> Iterator[Onboarding]:
    with service(memory_store, clock) as built:
        yield built


class Recorder:
    def __init__(self) -> None:
        self.events: list[AccountEvent] = []
        self.provisioned: list[Account] = []
        self.fail = False

    @hookimpl
    def onboardkit_account_changed(self, event: AccountEvent) -> None:
        self.events.append(event)

    @hookimpl
    def onboardkit_provision_account(self, tenant: Tenant, account: Account) -> None:
        if self.fail:
            raise RuntimeError("host database down")
        self.provisioned.append(account)


def test_a_failing_provisioning_hook_rolls_the_step_back(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    recorder = Recorder()
    with service(memory_store, clock, plugins=make_plugins(recorder)) as onboarding:
        onboarding.register("pim", registration_form(ANNA))
        pending = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
        mail_count = len(mails(memory_store))
        recorder.fail = True
        with pytest.raises(ProvisioningFailed) as caught:
            onboarding.approve("pim", pending.id, reviewer="lead", roles=["viewer"])
        assert caught.value.code == "account.provisioning_failed"
        assert memory_store.atomic(lambda tx: tx.account(pending.id)) == pending
        assert len(mails(memory_store)) == mail_count
        assert [e.action for e in recorder.events][-1] == "confirm"

        recorder.fail = False
        approved = onboarding.approve("pim", pending.id, reviewer="lead", roles=["viewer"])
        assert recorder.provisioned == [approved]


def test_observers_see_every_change_after_it_committed(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    recorder = Recorder()

    class Broken:
        @hookimpl
        def onboardkit_account_changed(self, event: AccountEvent) -> None:
            raise RuntimeError("audit log full")

    plugins = make_plugins(Broken(), recorder)
    with service(memory_store, clock, plugins=plugins) as onboarding:
        onboarding.register("pim", registration_form(ANNA))
        account = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
        onboarding.approve("pim", account.id, reviewer="lead", roles=[])
        onboarding.disable("pim", account.id, actor="admin")
        onboarding.enable("pim", account.id, actor="admin")
        onboarding.erase("pim", account.id, actor="dpo")
    steps = [(e.action, e.from_status, e.to_status) for e in recorder.events]
    s = AccountStatus
    assert steps == [
        ("created", None, s.PENDING_CONFIRMATION),
        ("confirm", s.PENDING_CONFIRMATION, s.PENDING_REVIEW),
        ("approve", s.PENDING_REVIEW, s.ACTIVE),
        ("disable", s.ACTIVE, s.DISABLED),
        ("enable", s.DISABLED, s.ACTIVE),
        ("erased", s.ACTIVE, None),
    ]
    assert recorder.events[2].actor == "lead"
    assert {e.account_id for e in recorder.events} == {account.id}


def test_the_registration_is_kept_and_answered_alike_when_the_mail_server_is_down(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    worker = OutboxWorker(
        memory_store,
        SmtpTransport("127.0.0.1", port=closed_port, security="none", timeout=2),
        clock,
        sender="no-reply@pim.example.com",
    )
    answer = onboarding.register("pim", registration_form(ANNA))
    assert answer == Submitted("pim", "register", "a***@example.org")
    report = worker.deliver_once()
    assert report.failed == 1
    waiting = mails(memory_store, ANNA, "confirmation")
    assert len(waiting) == 1
    assert waiting[0].sent_at is None
    assert waiting[0].last_error
    assert onboarding.confirm(latest_token(memory_store, ANNA, "confirmation")).status is (
        AccountStatus.PENDING_REVIEW
    )


def test_no_log_record_of_a_whole_onboarding_holds_a_password_a_token_or_a_link(
    memory_store: SqlStore, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    worker = OutboxWorker(
        memory_store,
        SmtpTransport("127.0.0.1", port=closed_port, security="none", timeout=2),
        clock,
        sender="no-reply@pim.example.com",
    )
    with service(memory_store, clock) as onboarding:
        onboarding.register("pim", registration_form(ANNA), client_address="192.0.2.1")
        first = latest_token(memory_store, ANNA, "confirmation")
        clock.advance(1)
        onboarding.resend_confirmation("pim", ANNA)
        token = latest_token(memory_store, ANNA, "confirmation")
        for bad in (first, token[:-2]):
            with pytest.raises(TokenError):
                onboarding.confirm(bad)
        for password in (OTHER_STRONG, STRONG):
            with pytest.raises(LoginFailed):
                onboarding.authenticate("pim", ANNA, password)
        onboarding.confirm(token, client_address="192.0.2.1")
        onboarding.confirm(token)
        assert worker.deliver_once().failed == 3
    mailed = "".join(mail.text + (mail.html or "") for mail in mails(memory_store))
    links = set(re.findall(r"https://[^\s\"'<>]+", mailed))
    assert len(links) >= 3
    tokens = {first, token, quote(first, safe=""), quote(token, safe="")}
    secrets = {STRONG, OTHER_STRONG, *tokens, *links}
    logged = caplog.text + "".join(repr(vars(record)) for record in caplog.records)
    assert "token rejected" in logged
    assert "failed (attempt 1 of" in logged
    assert [secret for secret in secrets if secret in logged] == []


@pytest.mark.postgresql
def test_twenty_simultaneous_registrations_of_one_address_make_one_account(
    postgresql_store: SqlStore, clock: FrozenClock
) -> None:
    with service(postgresql_store, clock) as onboarding:
        load_key_ring(postgresql_store, clock)
        barrier = threading.Barrier(20)

        def register(number: int) -> Submitted:
            barrier.wait()
            return onboarding.register("pim", registration_form(ANNA, given_name=f"Anna {number}"))

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(register, range(20)))
    assert set(answers) == {Submitted("pim", "register", "a***@example.org")}
    accounts = postgresql_store.atomic(lambda tx: list(tx.accounts("pim")))
    assert len(accounts) == 1


def test_the_first_signing_key_is_created_once_by_concurrent_processes(
    sqlite_store: SqlStore, clock: FrozenClock
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        rings = list(pool.map(lambda _: load_key_ring(sqlite_store, clock), range(8)))
    assert {ring.kids for ring in rings} == {("k0",)}


def test_a_rotation_reaches_running_services_and_old_links_keep_working(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    with service(memory_store, clock) as onboarding:
        onboarding.register("pim", registration_form(ANNA))
        old_token = latest_token(memory_store, ANNA, "confirmation")
        new_kid = rotate_signing_keys(memory_store, clock, keep=3)
        assert load_key_ring(memory_store, clock).kids == (new_kid, "k0")
        clock.advance(61)
        assert onboarding._keys.ring().kids[0] == new_kid
        assert onboarding.confirm(old_token).status is AccountStatus.PENDING_REVIEW


def test_a_retired_key_stops_verifying_its_links(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    with service(memory_store, clock) as onboarding:
        onboarding.register("pim", registration_form(ANNA))
        token = latest_token(memory_store, ANNA, "confirmation")
        rotate_signing_keys(memory_store, clock, keep=0)
        assert len(load_key_ring(memory_store, clock).keys) == 1
        clock.advance(61)
        with pytest.raises(TokenBadSignature):
            onboarding.confirm(token)


def test_purge_removes_expired_unclaimed_accounts_and_old_sent_mail(
    onboarding: Onboarding, memory_store: SqlStore, clock: FrozenClock
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    onboarding.register("pim", registration_form("bert@example.org"))
    token = latest_token(memory_store, "bert@example.org", "confirmation")
    confirmed = onboarding.confirm(token)
    for mail in mails(memory_store):
        memory_store.atomic(lambda tx, mail_id=mail.id: tx.mark_mail_sent(mail_id, clock.now))
    assert onboarding.purge().accounts == 0
    clock.advance(2 * 86_400 + 7 * 86_400 + 1)
    report = onboarding.purge()
    assert report.accounts == 1
    assert report.mails == 3
    assert memory_store.atomic(lambda tx: tx.account_by_email("pim", ANNA)) is None
    assert memory_store.atomic(lambda tx: tx.account(confirmed.id)) == confirmed


def test_erasure_deletes_the_account_and_keeps_pseudonymous_consent_proof(
    onboarding: Onboarding, memory_store: SqlStore
) -> None:
    onboarding.register("pim", registration_form(ANNA))
    account = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
    onboarding.erase("pim", account.id)
    assert memory_store.atomic(lambda tx: tx.account(account.id)) is None
    records = memory_store.atomic(lambda tx: list(tx.consents.records("pim")))
    assert [r.event.value for r in records] == ["given", "erased"]
    assert all(r.subject is None and r.evidence is None for r in records)


def test_a_flow_the_tenant_does_not_offer_is_refused(onboarding: Onboarding) -> None:
    with pytest.raises(FlowNotOffered) as caught:
        onboarding.register("collab", registration_form(ANNA))
    assert caught.value.code == "flow.not_offered"
    with pytest.raises(FlowNotOffered):
        onboarding.start_signup("pim", ANNA)


def test_passwords_are_stored_with_argon2id_at_owasp_parameters_by_default(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    onboarding = Onboarding(
        TENANTS, memory_store, secret=SECRET, plugins=make_plugins(), clock=clock
    )
    try:
        onboarding.register("dam", registration_form(ANNA))
    finally:
        onboarding.close()
    account = memory_store.atomic(lambda tx: tx.account_by_email("dam", ANNA))
    assert account is not None
    assert account.password_hash is not None
    assert account.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_short_secret_is_a_configuration_error(memory_store: SqlStore) -> None:
    with pytest.raises(ConfigurationError):
        Onboarding(TENANTS, memory_store, secret=b"short", plugins=make_plugins())


def test_colleagues_get_the_default_user_type_unless_configured() -> None:
    shop = dict(CONFIG["shop"])
    del shop["colleague_user_type"]
    tenants = Tenants.from_mapping({"tenants": {"shop": shop}})
    assert tenants["shop"].colleague_user_type == "customer_admin"
    assert TENANTS["shop"].colleague_user_type == "customer_user"
    with pytest.raises(ConfigurationError) as caught:
        Tenants.from_mapping({"tenants": {"shop": {**shop, "colleague_user_type": "boss"}}})
    assert caught.value.params["key"] == "tenants.shop.colleague_user_type"


def test_a_tenant_colour_that_mail_cannot_use_is_refused_at_start_up() -> None:
    dam = {**CONFIG["dam"], "branding": {"primary_color": "red; background: url(x)"}}
    with pytest.raises(ConfigurationError) as caught:
        Tenants.from_mapping({"tenants": {"dam": dam}})
    assert caught.value.params["key"] == "tenants.dam.branding.primary_color"


def test_a_tenant_without_consent_documents_registers_without_consents(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    dam = {key: value for key, value in CONFIG["dam"].items() if key != "consent"}
    with service(memory_store, clock) as onboarding:
        onboarding.tenants = Tenants.from_mapping({"tenants": {"dam": dam}})
        form = registration_form(ANNA)
        del form["consents.privacy"]
        onboarding.register("dam", form)
        account = onboarding.confirm(latest_token(memory_store, ANNA, "confirmation"))
        assert account.status is AccountStatus.ACTIVE


# -- bad input of any kind is a typed error -------------------------------------------------------

KEYS = [
    "email",
    "password",
    "given_name",
    "family_name",
    "kind",
    "company.name",
    "partner_code",
    "fields.customer_number",
    "fields.employee_number",
    "consents.privacy",
    "consents.terms",
    "status",
    "roles",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.sampled_from([ANNA, STRONG, "on", "customer", "partner", "123456", "\r\n", "x" * 5000]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.binary(max_size=10),
)
FORMS = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=20)), VALUES, max_size=20)


@pytest.fixture(scope="module")
def fuzz_service() -> Iterator[tuple[Onboarding, str, str]]:
    store = make_memory_store()
    clock = FrozenClock()
    with service(store, clock, plugins=make_plugins()) as onboarding:
        onboarding.invite("collab", "fuzz@example.org", roles=[], invited_by="Admin")
        invitation = latest_token(store, "fuzz@example.org", "invitation")
        onboarding.start_signup("shop", "fuzz@example.org")
        activation = latest_token(store, "fuzz@example.org", "activation")
        yield onboarding, invitation, activation
    store.dispose()


def _only_typed_errors(call: Any) -> None:
    with contextlib.suppress(OnboardkitError):
        call()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form=FORMS)
def test_arbitrary_forms_get_typed_errors_only(
    fuzz_service: tuple[Onboarding, str, str], form: dict[Any, Any]
) -> None:
    onboarding, invitation, activation = fuzz_service
    _only_typed_errors(lambda: onboarding.register("pim", form))
    _only_typed_errors(lambda: onboarding.accept_invitation(invitation, form))
    _only_typed_errors(lambda: onboarding.complete_signup(activation, form))


@settings(max_examples=60, deadline=None)
@given(token=st.one_of(st.text(max_size=400), st.binary(max_size=400).map(repr)))
def test_arbitrary_tokens_get_typed_errors_only(
    fuzz_service: tuple[Onboarding, str, str], token: str
) -> None:
    onboarding, _invitation, _activation = fuzz_service
    _only_typed_errors(lambda: onboarding.preview_confirmation(token))
    _only_typed_errors(lambda: onboarding.confirm(token))
    _only_typed_errors(lambda: onboarding.complete_signup(token, signup_form()))


def test_secret_values_never_show_in_reprs(onboarding: Onboarding, memory_store: SqlStore) -> None:
    onboarding.register("pim", registration_form(ANNA))
    account = memory_store.atomic(lambda tx: tx.account_by_email("pim", ANNA))
    assert "password_hash" not in repr(account)
    assert SECRET.decode() not in repr(onboarding.__dict__)


def _row_counts(store: SqlStore) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            name: int(
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
            for name, table in schema.metadata.tables.items()
        }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(form={"email": "refused@example.org", "password": "short"})
@example(form=signup_form("partner", partner_code="NOBODY-KNOWS-ME"))
@given(form=FORMS)
def test_refused_forms_leave_no_trace(
    fuzz_service: tuple[Onboarding, str, str], form: dict[Any, Any]
) -> None:
    onboarding, invitation, activation = fuzz_service
    calls = [
        lambda: onboarding.register("pim", form),
        lambda: onboarding.accept_invitation(invitation, form),
        lambda: onboarding.complete_signup(activation, form),
    ]
    for call in calls:
        before = _row_counts(onboarding.store)
        try:
            call()
        except OnboardkitError:
            assert _row_counts(onboarding.store) == before


LOGIN_VALUES = st.one_of(
    VALUES,
    st.text(max_size=5000),
    st.sampled_from(["fuzz@example.org", "a" * 1_000_000, "x@y\r\nBcc: z@example.org"]),
)
CLIENT_ADDRESSES = st.one_of(st.none(), st.text(max_size=80), st.ip_addresses().map(str))


@pytest.fixture(scope="module")
def limited_service() -> Iterator[tuple[Onboarding, FrozenClock]]:
    store = make_memory_store()
    clock = FrozenClock()
    limiter = RateLimiter(RateLimits.from_mapping({}), MemoryRateLimitBackend(), clock)
    with service(store, clock, plugins=make_plugins(), limiter=limiter) as onboarding:
        onboarding.register("pim", registration_form("fuzz@example.org"))
        yield onboarding, clock
    store.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(email=LOGIN_VALUES, password=LOGIN_VALUES, client_address=CLIENT_ADDRESSES)
def test_arbitrary_logins_and_addresses_get_typed_errors_only(
    limited_service: tuple[Onboarding, FrozenClock],
    email: Any,
    password: Any,
    client_address: str | None,
) -> None:
    onboarding, clock = limited_service
    clock.advance(7200)  # every example starts with fresh rate-limit windows
    _only_typed_errors(
        lambda: onboarding.authenticate("pim", email, password, client_address=client_address)
    )
    _only_typed_errors(
        lambda: onboarding.resend_confirmation("pim", email, client_address=client_address)
    )
    _only_typed_errors(
        lambda: onboarding.start_signup("shop", email, client_address=client_address)
    )


def test_the_service_loads_the_blocklist_and_zxcvbn_when_it_starts_not_in_a_request():
    # The first password check of a process costs about 60 ms while they load; a fresh
    # interpreter shows whether the service took that cost at start-up.
    import subprocess
    import sys

    code = (
        "from onboardkit.passwords import common_passwords\n"
        "from onboardkit.testing import CheapTestHasher, make_plugins, memory_store\n"
        "from onboardkit.onboarding import Onboarding\n"
        "from onboardkit.tenants import Tenants\n"
        "assert common_passwords.cache_info().currsize == 0\n"
        "tenants = Tenants.from_mapping({'t': {'name': 'T', 'base_url': 'https://t.example',"
        " 'sender': 'no-reply@t.example', 'flows': ['invitation']}})\n"
        "Onboarding(tenants, memory_store(), secret=b's' * 32, plugins=make_plugins(),"
        " hasher=CheapTestHasher())\n"
        "assert common_passwords.cache_info().currsize == 1\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
