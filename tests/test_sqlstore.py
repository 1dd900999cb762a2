"""The SQL store on SQLite, PostgreSQL and MariaDB: what the flows rely on it for."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboardkit import schema
from onboardkit.accounts import Account, AccountStatus, Action, Flow, Organization
from onboardkit.consent import (
    GENESIS_HASH,
    ConsentDocument,
    ConsentEvent,
    ConsentLedger,
    ConsentRecord,
    StaleChainHead,
)
from onboardkit.errors import ConfigurationError
from onboardkit.partners import Partner, PartnerCodeRecord, PartnerCodeStore
from onboardkit.sqlstore import MIGRATIONS_DIR, SqlStore, SqlTransaction
from onboardkit.storage import Conflict, OutboxMail, SigningKeyRow
from onboardkit.testing import FrozenClock
from onboardkit.testing.partners import PartnerCodeStoreContract
from onboardkit.testing.store import memory_store

NOW = 1_800_000_000.0
EMAIL = "anna.schmidt@example.org"
SECRET = bytes(range(32))


def make_account(
    account_id: str = "a" * 32,
    *,
    tenant: str = "acme",
    email: str = EMAIL,
    canonical_email: str | None = None,
    created_at: float = NOW,
    **changes: object,
) -> Account:
    account = Account(
        id=account_id,
        tenant=tenant,
        flow=Flow.REGISTRATION,
        status=AccountStatus.PENDING_CONFIRMATION,
        email=email,
        canonical_email=canonical_email or email.lower(),
        created_at=created_at,
        updated_at=created_at,
    )
    return attrs.evolve(account, **changes)


def make_mail(mail_id: str, *, tenant: str = "acme", created_at: float = NOW, **changes: object):
    mail = OutboxMail(
        id=mail_id,
        tenant=tenant,
        kind="confirm_registration",
        recipient=EMAIL,
        subject="Bitte bestätigen Sie Ihre Registrierung",
        text="Hallo Anna,\nbitte bestätigen Sie: https://portal.example/confirm/…",
        html="<p>Hallo Anna, bitte bestätigen Sie 😀</p>",
        created_at=created_at,
        next_attempt_at=created_at,
    )
    return attrs.evolve(mail, **changes)


def make_record(
    sequence: int,
    prev_hash: str,
    *,
    tenant: str = "acme",
    pseudonym: str = "a1" * 32,
    recorded_at: datetime = datetime(2027, 1, 15, 8, 30, 45, 123456, tzinfo=timezone.utc),
) -> ConsentRecord:
    draft = ConsentRecord(
        sequence=sequence,
        tenant=tenant,
        event=ConsentEvent.GIVEN,
        subject=EMAIL,
        subject_pseudonym=pseudonym,
        purpose="privacy",
        document_version="2",
        text_sha256="ab" * 32,
        locale="de",
        recorded_at=recorded_at,
        method="double_opt_in",
        evidence={"ip": "192.0.2.10", "user_agent": "Mozilla/5.0"},
        evidence_digest="cd" * 32,
        prev_hash=prev_hash,
        record_hash="",
    )
    return attrs.evolve(draft, record_hash=draft.content_hash())


def make_chain(length: int, **options: object) -> list[ConsentRecord]:
    records: list[ConsentRecord] = []
    for sequence in range(1, length + 1):
        previous = records[-1].record_hash if records else GENESIS_HASH
        records.append(make_record(sequence, previous, **options))
    return records


def make_partner_code(digest: str = "ef" * 32, **changes: object) -> PartnerCodeRecord:
    record = PartnerCodeRecord(
        tenant="acme",
        digest=digest,
        hint="8HWM",
        partner=Partner(
            id="p-7", name="Müller Elektro GmbH", tenant="acme", details={"customer": "K-1042"}
        ),
        created_at=NOW,
    )
    return attrs.evolve(record, **changes)


def count_rows(store: SqlStore, table: str) -> int:
    with store.engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(schema.metadata.tables[table])
        return int(connection.execute(query).scalar_one())


def run_in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(work, range(count)))


# -- accounts -------------------------------------------------------------------------------------


def test_an_inserted_account_comes_back_with_every_field(store: SqlStore) -> None:
    store.atomic(
        lambda tx: tx.insert_organization(
            Organization(id="o" * 32, tenant="acme", name="Müller GmbH", created_at=NOW)
        )
    )
    account = make_account(
        locale="de",
        password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        profile={"first_name": "Anna", "last_name": "Schmidt-Größe"},
        fields={"customer_number": "K-1042", "newsletter": False, "seats": 3},
        user_type="customer",
        roles=("buyer", "admin"),
        organization_id="o" * 32,
        partner={"id": "p-7", "name": "Müller Elektro", "details": {"tier": 2}},
        invited_by="chef@example.org",
        confirmed_at=NOW + 0.125,
        expires_at=NOW + 86_400.5,
        version=3,
    )
    store.atomic(lambda tx: tx.insert_account(account))
    assert store.atomic(lambda tx: tx.account(account.id)) == account


def test_an_unknown_account_id_finds_nothing(store: SqlStore) -> None:
    assert store.atomic(lambda tx: tx.account("f" * 32)) is None


def test_an_account_is_found_by_tenant_and_canonical_email(store: SqlStore) -> None:
    account = make_account(email="Anna.Schmidt@Example.ORG", canonical_email=EMAIL)
    store.atomic(lambda tx: tx.insert_account(account))
    assert store.atomic(lambda tx: tx.account_by_email("acme", EMAIL)) == account
    assert store.atomic(lambda tx: tx.account_by_email("globex", EMAIL)) is None


def test_locking_reads_return_the_same_account(store: SqlStore) -> None:
    account = make_account()
    store.atomic(lambda tx: tx.insert_account(account))
    assert store.atomic(lambda tx: tx.account(account.id, for_update=True)) == account
    found = store.atomic(lambda tx: tx.account_by_email("acme", EMAIL, for_update=True))
    assert found == account


def test_addresses_that_differ_in_case_or_accents_are_different_accounts(
    store: SqlStore,
) -> None:
    # MariaDB's default collation would call these equal: one would block or find the other.
    addresses = ["muller@example.org", "müller@example.org", "Muller@example.org"]
    for number, address in enumerate(addresses):
        account = make_account(f"{number:032x}", email=address, canonical_email=address)
        store.atomic(lambda tx, account=account: tx.insert_account(account))
    for number, address in enumerate(addresses):
        found = store.atomic(lambda tx, address=address: tx.account_by_email("acme", address))
        assert found is not None
        assert found.id == f"{number:032x}"


def test_tenants_that_differ_only_in_case_are_different_tenants(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.insert_account(make_account("1" * 32, tenant="acme")))
    store.atomic(lambda tx: tx.insert_account(make_account("2" * 32, tenant="ACME")))
    assert [a.id for a in store.atomic(lambda tx: tx.accounts("ACME"))] == ["2" * 32]


def test_a_second_account_with_a_taken_address_is_a_conflict(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.insert_account(make_account("1" * 32)))
    with pytest.raises(Conflict):
        store.atomic(lambda tx: tx.insert_account(make_account("2" * 32)), attempts=1)
    assert count_rows(store, "onboardkit_accounts") == 1


def test_one_address_may_have_an_account_in_each_tenant(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.insert_account(make_account("1" * 32, tenant="acme")))
    store.atomic(lambda tx: tx.insert_account(make_account("2" * 32, tenant="globex")))
    assert count_rows(store, "onboardkit_accounts") == 2


def test_a_taken_address_leaves_the_transaction_usable(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.insert_account(make_account("1" * 32)))

    def step(tx: SqlTransaction) -> Account | None:
        with pytest.raises(Conflict):
            tx.insert_account(make_account("2" * 32))
        tx.enqueue_mail(make_mail("m" * 32))
        return tx.account_by_email("acme", EMAIL)

    found = store.atomic(step, attempts=1)
    assert found is not None
    assert found.id == "1" * 32
    assert count_rows(store, "onboardkit_outbox") == 1


def test_an_update_at_the_current_version_is_stored(store: SqlStore) -> None:
    account = make_account()
    store.atomic(lambda tx: tx.insert_account(account))
    confirmed = account.transition(Action.CONFIRM, NOW + 60, confirmed_at=NOW + 60)
    store.atomic(lambda tx: tx.update_account(confirmed, expected_version=account.version))
    assert store.atomic(lambda tx: tx.account(account.id)) == confirmed


def test_an_update_at_a_stale_version_is_a_conflict_and_changes_nothing(store: SqlStore) -> None:
    account = make_account(version=4)
    store.atomic(lambda tx: tx.insert_account(account))
    changed = attrs.evolve(account, locale="de", version=5)
    with pytest.raises(Conflict):
        store.atomic(lambda tx: tx.update_account(changed, expected_version=3), attempts=1)
    assert store.atomic(lambda tx: tx.account(account.id)) == account


def test_updating_a_deleted_account_is_a_conflict(store: SqlStore) -> None:
    account = make_account()
    store.atomic(lambda tx: tx.insert_account(account))
    store.atomic(lambda tx: tx.delete_account(account.id))
    with pytest.raises(Conflict):
        store.atomic(lambda tx: tx.update_account(account, expected_version=1), attempts=1)


def test_a_deleted_account_is_gone_and_its_address_free_again(store: SqlStore) -> None:
    account = make_account()
    store.atomic(lambda tx: tx.insert_account(account))
    store.atomic(lambda tx: tx.delete_account(account.id))
    assert store.atomic(lambda tx: tx.account(account.id)) is None
    store.atomic(lambda tx: tx.insert_account(make_account("b" * 32)))


def test_an_account_cannot_name_an_organization_that_does_not_exist(store: SqlStore) -> None:
    account = make_account(organization_id="0" * 32)
    with pytest.raises(sa.exc.IntegrityError):
        store.atomic(lambda tx: tx.insert_account(account))
    assert count_rows(store, "onboardkit_accounts") == 0


def test_an_organization_is_stored_with_its_data(store: SqlStore) -> None:
    organization = Organization(
        id="o" * 32,
        tenant="acme",
        name="Müller Elektro GmbH",
        data={"vat_id": "DE123456789", "sites": ["Köln", "Bonn"]},
        created_at=NOW,
    )
    store.atomic(lambda tx: tx.insert_organization(organization))
    assert store.atomic(lambda tx: tx.organization(organization.id)) == organization
    assert store.atomic(lambda tx: tx.organization("x" * 32)) is None


def _insert_people(store: SqlStore) -> None:
    store.atomic(
        lambda tx: tx.insert_organization(Organization(id="o" * 32, tenant="acme", name="Müller"))
    )
    people = [
        make_account(
            "3" * 32,
            email="c@example.org",
            created_at=NOW + 3,
            status=AccountStatus.ACTIVE,
            organization_id="o" * 32,
        ),
        make_account("1" * 32, email="a@example.org", created_at=NOW + 1),
        make_account("2" * 32, email="b@example.org", created_at=NOW + 2, tenant="globex"),
        make_account("4" * 32, email="d@example.org", created_at=NOW + 4),
        make_account(
            "5" * 32, email="e@example.org", created_at=NOW + 5, status=AccountStatus.ACTIVE
        ),
    ]
    for person in people:
        store.atomic(lambda tx, person=person: tx.insert_account(person))


def _ids(accounts: object) -> list[str]:
    return [account.id[0] for account in accounts]  # type: ignore[attr-defined]


def test_accounts_are_listed_oldest_first_and_filtered(store: SqlStore) -> None:
    _insert_people(store)
    assert _ids(store.atomic(lambda tx: tx.accounts())) == ["1", "2", "3", "4", "5"]
    assert _ids(store.atomic(lambda tx: tx.accounts("acme"))) == ["1", "3", "4", "5"]
    active = store.atomic(lambda tx: tx.accounts("acme", status=AccountStatus.ACTIVE))
    assert _ids(active) == ["3", "5"]
    members = store.atomic(lambda tx: tx.accounts(organization_id="o" * 32))
    assert _ids(members) == ["3"]


def test_accounts_are_paged_with_limit_and_offset(store: SqlStore) -> None:
    _insert_people(store)
    assert _ids(store.atomic(lambda tx: tx.accounts(limit=2))) == ["1", "2"]
    assert _ids(store.atomic(lambda tx: tx.accounts(limit=2, offset=2))) == ["3", "4"]
    assert _ids(store.atomic(lambda tx: tx.accounts(limit=2, offset=4))) == ["5"]


def test_expired_accounts_are_the_unclaimed_ones_past_their_expiry(store: SqlStore) -> None:
    accounts = [
        make_account("1" * 32, email="a@example.org", expires_at=NOW - 10),
        make_account("2" * 32, email="b@example.org", expires_at=NOW + 10),
        make_account("3" * 32, email="c@example.org"),  # never expires
        make_account(
            "4" * 32, email="d@example.org", expires_at=NOW - 20, status=AccountStatus.ACTIVE
        ),
        make_account(
            "5" * 32,
            email="e@example.org",
            expires_at=NOW - 30,
            flow=Flow.INVITATION,
            status=AccountStatus.INVITED,
        ),
        make_account(
            "6" * 32,
            email="f@example.org",
            expires_at=NOW - 5,
            flow=Flow.SIGNUP,
            status=AccountStatus.PENDING_ACTIVATION,
        ),
    ]
    for account in accounts:
        store.atomic(lambda tx, account=account: tx.insert_account(account))
    assert _ids(store.atomic(lambda tx: tx.expired_accounts(NOW))) == ["5", "1", "6"]
    assert _ids(store.atomic(lambda tx: tx.expired_accounts(NOW, limit=1))) == ["5"]


# -- atomic steps ---------------------------------------------------------------------------------


def test_atomic_commits_the_step_and_returns_its_result(store: SqlStore) -> None:
    def step(tx: SqlTransaction) -> str:
        tx.insert_account(make_account())
        return "registered"

    assert store.atomic(step) == "registered"
    assert count_rows(store, "onboardkit_accounts") == 1


def test_a_step_that_hits_a_taken_address_runs_again_and_sees_the_row(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.insert_account(make_account("1" * 32)))
    runs: list[Account | None] = []

    def register(tx: SqlTransaction) -> str:
        runs.append(tx.account_by_email("acme", EMAIL))
        if len(runs) == 1:
            # As if the lookup had run just before the other registration committed.
            tx.insert_account(make_account("2" * 32))
        existing = runs[-1]
        return "created" if existing is None else f"exists {existing.id[0]}"

    assert store.atomic(register) == "exists 1"
    assert len(runs) == 2


def test_a_step_that_raises_leaves_nothing_half_written(store: SqlStore) -> None:
    def step(tx: SqlTransaction) -> None:
        tx.insert_organization(Organization(id="o" * 32, tenant="acme", name="Müller"))
        tx.insert_account(make_account(organization_id="o" * 32))
        tx.consents.append(make_record(1, GENESIS_HASH))
        tx.enqueue_mail(make_mail("m" * 32))
        tx.partner_codes.add(make_partner_code())
        tx.add_signing_key(SigningKeyRow(kid="k1", secret=b"\x00" * 32, created_at=NOW))
        raise RuntimeError("the mail template failed to render")

    with pytest.raises(RuntimeError):
        store.atomic(step)
    for table in (
        "onboardkit_organizations",
        "onboardkit_accounts",
        "onboardkit_consent_records",
        "onboardkit_outbox",
        "onboardkit_partner_codes",
        "onboardkit_signing_keys",
    ):
        assert count_rows(store, table) == 0, table


def test_a_step_that_keeps_conflicting_gives_up_after_the_last_attempt(store: SqlStore) -> None:
    runs: list[int] = []

    def step(tx: SqlTransaction) -> None:
        runs.append(1)
        tx.enqueue_mail(make_mail(uuid.uuid4().hex))
        raise Conflict()

    with pytest.raises(Conflict):
        store.atomic(step, attempts=3)
    assert len(runs) == 3
    assert count_rows(store, "onboardkit_outbox") == 0


def test_an_error_that_is_no_conflict_is_not_retried(store: SqlStore) -> None:
    runs: list[int] = []

    def step(tx: SqlTransaction) -> None:
        runs.append(1)
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        store.atomic(step)
    assert runs == [1]


def test_atomic_refuses_to_open_a_second_transaction_inside_a_step(store: SqlStore) -> None:
    def step(tx: SqlTransaction) -> None:
        tx.insert_account(make_account())
        store.atomic(lambda inner: inner.account("a" * 32))

    with pytest.raises(RuntimeError, match="inside a step"):
        store.atomic(step)
    assert count_rows(store, "onboardkit_accounts") == 0
    assert store.atomic(lambda tx: tx.accounts()) == []


def test_atomic_needs_at_least_one_attempt(memory_store: SqlStore) -> None:
    with pytest.raises(ValueError, match="attempts"):
        memory_store.atomic(lambda tx: None, attempts=0)


def test_twenty_simultaneous_registrations_of_one_address_make_one_account(
    store: SqlStore, store_on: Callable[..., SqlStore]
) -> None:
    callers = 20
    servers = store.dialect != "sqlite"
    # Enough connections for every caller to be in its transaction at the same time.
    shared = store_on(store, pool_size=callers + 2, max_overflow=0) if servers else store
    # On a server every caller looks the address up before anyone inserts: the worst case.
    # SQLite lets one write transaction in at a time, so there the lookups see the winner.
    looked = threading.Barrier(callers, timeout=60) if servers else None
    runs: Counter[int] = Counter()

    def register(caller: int) -> tuple[str, str]:
        def step(tx: SqlTransaction) -> tuple[str, str]:
            runs[caller] += 1
            existing = tx.account_by_email("acme", EMAIL)
            if looked is not None and runs[caller] == 1:
                looked.wait()
            if existing is not None:
                return "exists", existing.id
            account = make_account(f"{caller:032x}")
            tx.insert_account(account)
            return "created", account.id

        return shared.atomic(step)

    answers = run_in_threads(callers, register)
    created = [account_id for outcome, account_id in answers if outcome == "created"]
    assert len(created) == 1
    assert all(account_id == created[0] for _, account_id in answers)
    assert count_rows(store, "onboardkit_accounts") == 1
    if servers:
        # Everyone but the winner lost the race once and took the "exists" path on the rerun.
        assert sum(runs.values()) == callers + callers - 1


# -- outbox ---------------------------------------------------------------------------------------


def test_an_enqueued_mail_comes_back_with_its_texts(store: SqlStore) -> None:
    mail = make_mail("m" * 32)
    store.atomic(lambda tx: tx.enqueue_mail(mail))
    assert store.atomic(lambda tx: tx.mails()) == [mail]


def test_claiming_counts_an_attempt_and_hides_the_mail_for_the_lease(store: SqlStore) -> None:
    mail = make_mail("m" * 32)
    store.atomic(lambda tx: tx.enqueue_mail(mail))
    claimed = store.atomic(lambda tx: tx.claim_mail(NOW, lease=60, limit=10))
    assert claimed == [attrs.evolve(mail, attempts=1, next_attempt_at=NOW + 60)]
    assert store.atomic(lambda tx: tx.claim_mail(NOW + 59, lease=60, limit=10)) == []
    again = store.atomic(lambda tx: tx.claim_mail(NOW + 60, lease=60, limit=10))
    assert [(m.id, m.attempts) for m in again] == [(mail.id, 2)]


def test_mails_not_yet_due_are_not_claimed(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.enqueue_mail(make_mail("m" * 32, next_attempt_at=NOW + 1)))
    assert store.atomic(lambda tx: tx.claim_mail(NOW, lease=60, limit=10)) == []


def test_claiming_takes_at_most_the_limit_the_longest_due_first(store: SqlStore) -> None:
    for number, due in enumerate([NOW - 1, NOW - 3, NOW - 2, NOW]):
        mail = make_mail(f"{number:032x}", next_attempt_at=due)
        store.atomic(lambda tx, mail=mail: tx.enqueue_mail(mail))
    claimed = store.atomic(lambda tx: tx.claim_mail(NOW, lease=60, limit=2))
    assert [int(mail.id, 16) for mail in claimed] == [1, 2]


def test_a_sent_mail_is_never_claimed_again(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.enqueue_mail(make_mail("m" * 32)))
    store.atomic(lambda tx: tx.claim_mail(NOW, lease=60, limit=10))
    store.atomic(lambda tx: tx.mark_mail_sent("m" * 32, NOW + 1))
    assert store.atomic(lambda tx: tx.claim_mail(NOW + 3600, lease=60, limit=10)) == []
    [sent] = store.atomic(lambda tx: tx.mails())
    assert sent.sent_at == NOW + 1


def test_a_failed_mail_is_claimed_again_when_its_retry_is_due(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.enqueue_mail(make_mail("m" * 32)))
    store.atomic(lambda tx: tx.claim_mail(NOW, lease=60, limit=10))
    store.atomic(lambda tx: tx.mark_mail_failed("m" * 32, "421 4.7.0 try again later", NOW + 300))
    assert store.atomic(lambda tx: tx.claim_mail(NOW + 299, lease=60, limit=10)) == []
    [retry] = store.atomic(lambda tx: tx.claim_mail(NOW + 300, lease=60, limit=10))
    assert (retry.attempts, retry.last_error) == (2, "421 4.7.0 try again later")


def test_a_long_delivery_error_is_shortened_to_fit(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.enqueue_mail(make_mail("m" * 32)))
    store.atomic(lambda tx: tx.mark_mail_failed("m" * 32, "550 " + "x" * 2000, NOW + 300))
    [mail] = store.atomic(lambda tx: tx.mails())
    assert mail.last_error == ("550 " + "x" * 2000)[:500]


def test_mails_are_listed_newest_first_by_tenant_and_unsent_only(store: SqlStore) -> None:
    store.atomic(lambda tx: tx.enqueue_mail(make_mail("1" * 32, created_at=NOW + 1)))
    store.atomic(lambda tx: tx.enqueue_mail(make_mail("2" * 32, created_at=NOW + 2)))
    store.atomic(
        lambda tx: tx.enqueue_mail(make_mail("3" * 32, created_at=NOW + 3, tenant="globex"))
    )
    store.atomic(lambda tx: tx.mark_mail_sent("2" * 32, NOW + 5))
    assert _ids(store.atomic(lambda tx: tx.mails())) == ["3", "2", "1"]
    assert _ids(store.atomic(lambda tx: tx.mails("acme"))) == ["2", "1"]
    assert _ids(store.atomic(lambda tx: tx.mails(unsent_only=True))) == ["3", "1"]
    assert _ids(store.atomic(lambda tx: tx.mails(limit=1))) == ["3"]


def test_sent_mails_before_the_cutoff_are_deleted(store: SqlStore) -> None:
    for number in range(1, 4):
        mail = make_mail(f"{number:032x}")
        store.atomic(lambda tx, mail=mail: tx.enqueue_mail(mail))
    store.atomic(lambda tx: tx.mark_mail_sent(f"{1:032x}", NOW + 10))
    store.atomic(lambda tx: tx.mark_mail_sent(f"{2:032x}", NOW + 20))
    assert store.atomic(lambda tx: tx.delete_sent_mail(NOW + 20)) == 1
    assert [int(m.id, 16) for m in store.atomic(lambda tx: tx.mails())] == [3, 2]


def test_concurrent_workers_send_every_mail_exactly_once(
    store: SqlStore, store_on: Callable[..., SqlStore]
) -> None:
    mails, workers = 200, 4
    ids = [f"{number:032x}" for number in range(mails)]

    def enqueue_all(tx: SqlTransaction) -> None:
        for mail_id in ids:
            tx.enqueue_mail(make_mail(mail_id))

    store.atomic(enqueue_all)
    shared = store_on(store, pool_size=workers + 2) if store.dialect != "sqlite" else store
    start = threading.Barrier(workers, timeout=60)
    sent: list[str] = []

    def work(_worker: int) -> None:
        start.wait()
        while True:
            batch = shared.atomic(lambda tx: tx.claim_mail(NOW, lease=300, limit=5))
            if not batch:
                return
            for mail in batch:
                shared.atomic(lambda tx, mail=mail: tx.mark_mail_sent(mail.id, NOW))
                sent.append(mail.id)

    run_in_threads(workers, work)
    assert sorted(sent) == ids
    assert store.atomic(lambda tx: tx.mails(unsent_only=True)) == []


# -- signing keys ---------------------------------------------------------------------------------


def test_signing_keys_are_listed_newest_first_with_their_bytes(store: SqlStore) -> None:
    old = SigningKeyRow(kid="2026-01", secret=bytes(range(32)), created_at=NOW)
    new = SigningKeyRow(kid="2026-07", secret=bytes(range(255, 191, -1)), created_at=NOW + 1)
    store.atomic(lambda tx: tx.add_signing_key(old))
    store.atomic(lambda tx: tx.add_signing_key(new))
    assert store.atomic(lambda tx: tx.signing_keys()) == [new, old]


def test_a_key_id_is_stored_only_once(store: SqlStore) -> None:
    key = SigningKeyRow(kid="2026-01", secret=b"\x01" * 32, created_at=NOW)
    store.atomic(lambda tx: tx.add_signing_key(key))
    with pytest.raises(Conflict):
        store.atomic(lambda tx: tx.add_signing_key(key), attempts=1)


# -- consent records ------------------------------------------------------------------------------


def test_the_consent_head_is_the_record_with_the_highest_sequence(store: SqlStore) -> None:
    consents = store.consent_store()
    assert consents.head("acme") is None
    chain = make_chain(3)
    for record in chain:
        consents.append(record)
    assert consents.head("acme") == chain[-1]
    assert consents.head("globex") is None


def test_a_consent_record_keeps_its_time_to_the_microsecond_in_utc(store: SqlStore) -> None:
    shown_at = datetime(2027, 3, 28, 2, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2)))
    record = make_record(1, GENESIS_HASH, recorded_at=shown_at)
    store.consent_store().append(record)
    stored = store.consent_store().head("acme")
    assert stored == record
    assert stored is not None
    assert stored.recorded_at == shown_at
    assert stored.recorded_at.tzinfo == timezone.utc
    assert stored.content_hash() == stored.record_hash


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param(lambda chain: make_record(3, chain[1].record_hash), id="taken-sequence"),
        pytest.param(lambda chain: make_record(4, "0" * 64), id="wrong-previous-hash"),
        pytest.param(lambda chain: make_record(5, chain[2].record_hash), id="gap"),
        pytest.param(lambda chain: make_record(1, GENESIS_HASH), id="second-genesis"),
        pytest.param(lambda chain: make_record(0, GENESIS_HASH), id="sequence-zero"),
    ],
)
def test_an_append_that_does_not_continue_the_head_is_refused(
    store: SqlStore, stale: Callable[[list[ConsentRecord]], ConsentRecord]
) -> None:
    consents = store.consent_store()
    chain = make_chain(3)
    for record in chain:
        consents.append(record)
    with pytest.raises(StaleChainHead):
        consents.append(stale(chain))
    assert consents.records("acme") == chain


def test_a_refused_append_leaves_the_transaction_usable(store: SqlStore) -> None:
    chain = make_chain(2)
    store.consent_store().append(chain[0])

    def step(tx: SqlTransaction) -> None:
        with pytest.raises(StaleChainHead):
            tx.consents.append(chain[0])  # a concurrent writer got there first
        tx.consents.append(chain[1])

    store.atomic(step, attempts=1)
    assert store.consent_store().records("acme") == chain


def test_consent_records_are_listed_in_order_and_by_pseudonym(store: SqlStore) -> None:
    consents = store.consent_store()
    records: list[ConsentRecord] = []
    for sequence, pseudonym in enumerate(["a1" * 32, "b2" * 32, "a1" * 32], start=1):
        previous = records[-1].record_hash if records else GENESIS_HASH
        records.append(make_record(sequence, previous, pseudonym=pseudonym))
        consents.append(records[-1])
    assert consents.records("acme") == records
    assert consents.records("acme", "a1" * 32) == [records[0], records[2]]
    assert consents.records("globex") == []


def test_erasing_removes_only_the_personal_fields_up_to_the_sequence(store: SqlStore) -> None:
    consents = store.consent_store()
    records: list[ConsentRecord] = []
    for sequence, pseudonym in enumerate(["a1" * 32, "b2" * 32, "a1" * 32], start=1):
        previous = records[-1].record_hash if records else GENESIS_HASH
        records.append(make_record(sequence, previous, pseudonym=pseudonym))
        consents.append(records[-1])
    assert consents.erase("acme", "a1" * 32, 1) == 1
    assert consents.erase("acme", "a1" * 32, 1) == 0
    after = consents.records("acme")
    assert after[0] == attrs.evolve(records[0], subject=None, evidence=None)
    assert after[1:] == records[1:]


def test_a_ledger_on_the_store_records_verifies_and_erases(store: SqlStore) -> None:
    clock = FrozenClock()
    ledger = ConsentLedger(store.consent_store(), SECRET, clock=clock)
    document = ConsentDocument(
        tenant="acme",
        purpose="privacy",
        version="2",
        locale="de",
        title="Datenschutzerklärung",
        required=True,
        text="Wir verarbeiten Ihre Daten, um das Portal zu betreiben.",
    )
    ledger.give("acme", EMAIL, document, evidence={"ip": "192.0.2.10"})
    clock.advance(0.000001)
    ledger.give("acme", "ben@example.org", document)
    ledger.erase("acme", EMAIL)
    head = ledger.verify("acme")
    assert head is not None
    assert head.sequence == 3
    assert ledger.records("acme", EMAIL)[0].subject is None


def test_concurrent_ledger_appends_keep_one_valid_chain(
    store: SqlStore, store_on: Callable[..., SqlStore]
) -> None:
    writers, each = 8, 5
    shared = store_on(store, pool_size=writers + 2) if store.dialect != "sqlite" else store
    document = ConsentDocument(
        tenant="acme",
        purpose="terms",
        version="1",
        locale="en",
        title="Terms",
        required=True,
        text="Be nice.",
    )
    start = threading.Barrier(writers, timeout=60)

    def write(writer: int) -> None:
        start.wait()
        for number in range(each):
            subject = f"writer{writer}-{number}@example.org"
            shared.atomic(
                lambda tx, subject=subject: ConsentLedger(tx.consents, SECRET).give(
                    "acme", subject, document
                )
            )

    run_in_threads(writers, write)
    ledger = ConsentLedger(store.consent_store(), SECRET)
    head = ledger.verify("acme")
    assert head is not None
    assert head.sequence == writers * each


@pytest.fixture(scope="module")
def shared_memory_store() -> Iterator[SqlStore]:
    store = memory_store()
    yield store
    store.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2999, 12, 31),
        timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-9, minutes=-30))]),
    )
)
def test_any_consent_time_survives_storage_to_the_microsecond(
    shared_memory_store: SqlStore, moment: datetime
) -> None:
    tenant = uuid.uuid4().hex
    record = make_record(1, GENESIS_HASH, tenant=tenant, recorded_at=moment)
    shared_memory_store.atomic(lambda tx: tx.consents.append(record))
    stored = shared_memory_store.atomic(lambda tx: tx.consents.head(tenant))
    assert stored == record
    assert stored is not None
    assert stored.recorded_at == moment


# -- partner codes --------------------------------------------------------------------------------


class TestSqlitePartnerCodeStore(PartnerCodeStoreContract):
    @pytest.fixture
    def store(self, sqlite_store: SqlStore) -> PartnerCodeStore:
        return sqlite_store.partner_code_store()


@pytest.mark.postgresql
class TestPostgresqlPartnerCodeStore(PartnerCodeStoreContract):
    @pytest.fixture
    def store(self, postgresql_store: SqlStore) -> PartnerCodeStore:
        return postgresql_store.partner_code_store()


@pytest.mark.mariadb
class TestMariadbPartnerCodeStore(PartnerCodeStoreContract):
    @pytest.fixture
    def store(self, mariadb_store: SqlStore) -> PartnerCodeStore:
        return mariadb_store.partner_code_store()


def test_a_partner_code_comes_back_with_its_partner(store: SqlStore) -> None:
    record = make_partner_code(expires_at=NOW + 3600, max_uses=10, uses=2)
    store.atomic(lambda tx: tx.partner_codes.add(record))
    assert store.atomic(lambda tx: tx.partner_codes.find("acme", record.digest)) == record


def test_a_use_counted_in_a_step_that_fails_is_not_counted(store: SqlStore) -> None:
    record = make_partner_code(max_uses=1)
    store.atomic(lambda tx: tx.partner_codes.add(record))

    def sign_up(tx: SqlTransaction) -> None:
        assert tx.partner_codes.consume("acme", record.digest, NOW)
        raise RuntimeError("the registration failed after the code was counted")

    with pytest.raises(RuntimeError):
        store.atomic(sign_up)
    assert store.atomic(lambda tx: tx.partner_codes.consume("acme", record.digest, NOW))


def test_a_partner_of_another_tenant_is_not_stored_under_a_code(memory_store: SqlStore) -> None:
    record = make_partner_code()
    foreign = attrs.evolve(record, partner=attrs.evolve(record.partner, tenant="globex"))
    with pytest.raises(ValueError, match="tenant"):
        memory_store.atomic(lambda tx: tx.partner_codes.add(foreign))


# -- SQLite ---------------------------------------------------------------------------------------

_COUNTER_SCRIPT = """
import sys
import attrs
from onboardkit.sqlstore import SqlStore

store = SqlStore.from_url(sys.argv[1])

def bump(tx):
    account = tx.account("c" * 32)
    count = account.profile["count"]
    changed = attrs.evolve(account, profile={"count": count + 1}, version=account.version + 1)
    tx.update_account(changed, expected_version=account.version)

for _ in range(int(sys.argv[2])):
    store.atomic(bump, attempts=1)
store.dispose()
"""


def test_sqlite_writers_in_several_processes_take_turns_instead_of_failing(
    tmp_path: Path,
) -> None:
    # Each step reads and then writes, with a single attempt: a transaction that started as a
    # reader would meet another process's write and fail ("database is locked", or a stale
    # version). BEGIN IMMEDIATE makes them queue up instead.
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store = SqlStore.from_url(url)
    store.migrate()
    store.atomic(lambda tx: tx.insert_account(make_account("c" * 32, profile={"count": 0})))
    processes, steps = 4, 25
    running = [
        subprocess.Popen(
            [sys.executable, "-c", _COUNTER_SCRIPT, url, str(steps)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outcomes = [(process.wait(timeout=120), process.stderr) for process in running]
    errors = [stderr.read() for code, stderr in outcomes if code != 0 and stderr is not None]
    for process in running:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert errors == []
    account = store.atomic(lambda tx: tx.account("c" * 32))
    assert account is not None
    assert account.profile == {"count": processes * steps}
    store.dispose()


def test_a_sqlite_file_is_switched_to_write_ahead_logging(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'wal.db'}")
    plain = SqlStore.from_url(f"sqlite:///{tmp_path / 'plain.db'}", wal=False)
    for each in (store, plain):
        each.migrate()
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with plain.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    store.dispose()
    plain.dispose()


@pytest.mark.postgresql
def test_postgresql_runs_at_read_committed(postgresql_store: SqlStore) -> None:
    level = postgresql_store.atomic(
        lambda tx: tx.connection.exec_driver_sql("SHOW transaction_isolation").scalar()
    )
    assert level == "read committed"


@pytest.mark.mariadb
def test_mariadb_runs_at_read_committed(mariadb_store: SqlStore) -> None:
    # REPEATABLE READ would show a retrying step its stale snapshot again (see sqlstore).
    level = mariadb_store.atomic(
        lambda tx: tx.connection.exec_driver_sql("SELECT @@session.tx_isolation").scalar()
    )
    assert level == "READ-COMMITTED"


def test_sqlite_enforces_foreign_keys_in_every_connection(sqlite_store: SqlStore) -> None:
    with sqlite_store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# -- the in-memory store and the store's surface -------------------------------------------------


def test_the_memory_store_is_migrated_to_the_newest_revision(memory_store: SqlStore) -> None:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert memory_store.schema_revision() == head


def test_the_memory_store_may_be_shared_between_threads(memory_store: SqlStore) -> None:
    def register(caller: int) -> None:
        for number in range(10):
            account = make_account(
                f"{caller:016x}{number:016x}", email=f"p{caller}-{number}@example.org"
            )
            memory_store.atomic(lambda tx, account=account: tx.insert_account(account))

    run_in_threads(8, register)
    assert len(memory_store.atomic(lambda tx: tx.accounts(limit=1000))) == 80


def test_the_store_repr_hides_the_database_password() -> None:
    store = SqlStore.from_url("postgresql+psycopg://onboardkit:s3cr3t-pw@db.example/portal")
    assert "s3cr3t-pw" not in repr(store)
    store.dispose()


@pytest.mark.parametrize(
    "url", ["oracle://scott:tiger@db.example/portal", "not a database url", "sqlite+nope://"]
)
def test_a_url_of_an_unsupported_database_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SqlStore.from_url(url)
    assert raised.value.params["key"] == "storage.url"


def test_a_store_is_made_from_its_settings(tmp_path: Path) -> None:
    store = SqlStore.from_mapping(
        {"url": f"sqlite:///{tmp_path / 'portal.db'}", "busy_timeout": 5, "wal": False}
    )
    store.migrate()
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    store.dispose()


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({}, "storage.url"),
        ({"url": ""}, "storage.url"),
        ({"url": 5}, "storage.url"),
        ({"url": "sqlite://", "busy_timeout": "soon"}, "storage.busy_timeout"),
        ({"url": "sqlite://", "busy_timeout": -1}, "storage.busy_timeout"),
        ({"url": "sqlite://", "wal": "yes"}, "storage.wal"),
        ({"url": "sqlite://", "pool_size": 0}, "storage.pool_size"),
        ({"url": "sqlite://", "pool_size": True}, "storage.pool_size"),
        ({"url": "sqlite://", "echo": True}, "storage.echo"),
    ],
)
def test_bad_storage_settings_name_their_key(settings: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SqlStore.from_mapping(settings)
    assert raised.value.params["key"] == key


def test_a_conflict_reads_well_in_german() -> None:
    assert Conflict().localized("de") == (
        "Jemand anderes hat dies im selben Moment geändert. Bitte versuchen Sie es erneut."
    )


def test_a_new_sqlite_file_locked_by_another_writer_is_opened_once_the_lock_goes(tmp_path):
    # Switching a file to WAL needs it to itself, and SQLite refuses at once instead of waiting
    # out the busy timeout; several processes opening a new file together used to fail here.
    import sqlite3

    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        store = SqlStore.from_url(f"sqlite:///{path}", busy_timeout=5.0)
        store.migrate()
        assert store.atomic(lambda tx: list(tx.signing_keys())) == []
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        store.dispose()
    finally:
        release.join()
        holder.close()


def test_database_errors_and_logs_never_show_statement_parameters(tmp_path, caplog):
    # Outbox rows carry mail bodies with their links; a failed statement must not put them into
    # an error report, nor SQLAlchemy's engine log into the host's logs.
    import logging

    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'hidden.db'}")
    store.migrate()
    link = "https://portal.example/confirm?token=SECRET-TOKEN-VALUE"
    row = {
        "id": "m1",
        "tenant": "t",
        "kind": "confirmation",
        "recipient": "a@example.org",
        "subject": "s",
        "text": link,
        "html": None,
        "created_at": 1.0,
        "next_attempt_at": 1.0,
        "attempts": 0,
    }
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    store.engine.echo = True
    with store.engine.begin() as connection:
        connection.execute(sa.insert(schema.outbox), row)
    with pytest.raises(sa.exc.IntegrityError) as caught, store.engine.begin() as connection:
        connection.execute(sa.insert(schema.outbox), row)
    store.dispose()
    assert "SECRET-TOKEN-VALUE" not in str(caught.value)
    assert "SECRET-TOKEN-VALUE" not in caplog.text
