"""The tests every :class:`onboardkit.storage.Store` must pass: :class:`StoreContract`.

The flows rely on a store for more than keeping rows: a tenant's address is unique, a step is
all or nothing, a step that lost a race runs again, a locking read waits, two mail workers never
send one mail, and a consent record only ever continues the chain's head. The contract checks
each of these through the :class:`~onboardkit.storage.Store` and
:class:`~onboardkit.storage.Transaction` protocols alone, so it runs unchanged on any store. A
store's own test module subclasses it (the class name must start with ``Test``) and provides a
``store`` fixture returning an empty store::

    import pytest

    from onboardkit.testing import StoreContract


    class TestDjangoStore(StoreContract):
        @pytest.fixture
        def store(self, transactional_db):
            return DjangoStore()

The store is used from several threads at once in some tests, as web servers and mail workers
do; it must allow a handful of concurrent transactions (a connection pool of 5 is plenty). The
whole contract takes a few seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs

from onboardkit.accounts import Account, AccountStatus, Flow, Organization
from onboardkit.consent import (
    GENESIS_HASH,
    ConsentDocument,
    ConsentEvent,
    ConsentLedger,
    ConsentRecord,
    StaleChainHead,
)
from onboardkit.partners import Partner, PartnerCodeRecord
from onboardkit.storage import Conflict, OutboxMail, SigningKeyRow, Store, Transaction

__all__ = ["StoreContract"]

T = TypeVar("T")

_NOW = 1_800_000_000.0
_EMAIL = "anna.schmidt@example.org"
_SECRET = bytes(range(32))
_ARGON2_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
# How long a step holding a lock (or an unfinished write) keeps it while another step tries.
_HOLD = 0.15
# Upper bound for anything a test waits for; a store that hangs fails instead of blocking.
_PATIENCE = 30.0


def _id(number: int) -> str:
    return f"{number:032x}"


def _account(number: int = 1, *, email: str = _EMAIL, **changes: Any) -> Account:
    account = Account(
        id=_id(number),
        tenant="acme",
        flow=Flow.REGISTRATION,
        status=AccountStatus.PENDING_CONFIRMATION,
        email=email,
        canonical_email=email.lower(),
        created_at=_NOW,
        updated_at=_NOW,
    )
    return attrs.evolve(account, **changes)


def _changed(account: Account, **changes: Any) -> Account:
    """``account`` changed as a flow changes it: one version further."""
    return attrs.evolve(account, version=account.version + 1, **changes)


def _organization(number: int = 1, **changes: Any) -> Organization:
    organization = Organization(
        id=_id(number),
        tenant="acme",
        name="Müller Elektro GmbH",
        data={"vat_id": "DE123456789", "address": {"city": "Köln"}},
        created_at=_NOW,
    )
    return attrs.evolve(organization, **changes)


def _mail(number: int, **changes: Any) -> OutboxMail:
    mail = OutboxMail(
        id=_id(number),
        tenant="acme",
        kind="confirm_registration",
        recipient=_EMAIL,
        subject="Bitte bestätigen Sie Ihre Registrierung",
        text="Hallo Anna,\nbitte bestätigen Sie: https://portal.example/confirm/…",
        html="<p>Hallo Anna, bitte bestätigen Sie 😀</p>",
        created_at=_NOW,
        next_attempt_at=_NOW,
    )
    return attrs.evolve(mail, **changes)


def _key(kid: str, created_at: float = _NOW) -> SigningKeyRow:
    return SigningKeyRow(kid=kid, secret=kid.encode().ljust(32, b"\xff"), created_at=created_at)


def _record(
    sequence: int, prev_hash: str, *, tenant: str = "acme", pseudonym: str = "a1" * 32
) -> ConsentRecord:
    draft = ConsentRecord(
        sequence=sequence,
        tenant=tenant,
        event=ConsentEvent.GIVEN,
        subject=_EMAIL,
        subject_pseudonym=pseudonym,
        purpose="privacy",
        document_version="2",
        text_sha256="ab" * 32,
        locale="de",
        recorded_at=datetime(2027, 1, 15, 8, 30, 45, 123456, tzinfo=timezone.utc),
        method="double_opt_in",
        evidence={"ip": "192.0.2.10", "user_agent": "Mozilla/5.0"},
        evidence_digest="cd" * 32,
        prev_hash=prev_hash,
        record_hash="",
    )
    return attrs.evolve(draft, record_hash=draft.content_hash())


def _chain(
    length: int, *, tenant: str = "acme", pseudonyms: tuple[str, ...] = ("a1" * 32,)
) -> list[ConsentRecord]:
    """``length`` records, each continuing the one before it."""
    records: list[ConsentRecord] = []
    for sequence in range(1, length + 1):
        previous = records[-1].record_hash if records else GENESIS_HASH
        pseudonym = pseudonyms[(sequence - 1) % len(pseudonyms)]
        records.append(_record(sequence, previous, tenant=tenant, pseudonym=pseudonym))
    return records


def _partner_code(digest: str = "ef" * 32, **changes: Any) -> PartnerCodeRecord:
    record = PartnerCodeRecord(
        tenant="acme",
        digest=digest,
        hint="8HWM",
        partner=Partner(
            id="p-7", name="Müller Elektro GmbH", tenant="acme", details={"customer": "K-1042"}
        ),
        created_at=_NOW,
    )
    return attrs.evolve(record, **changes)


_DOCUMENT = ConsentDocument(
    tenant="acme",
    purpose="terms",
    version="1",
    locale="en",
    title="Terms",
    required=True,
    text="Be nice.",
)


@contextmanager
def _raises(expected: type[BaseException]) -> Iterator[None]:
    # pytest.raises without pytest: this module is importable wherever onboardkit is.
    try:
        yield
    except expected:
        return
    raise AssertionError(f"{expected.__name__} was not raised")


def _together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(0)`` to ``work(count - 1)`` in threads that start at the same moment.

    Threads switch every microsecond meanwhile: a store in pure Python would otherwise run
    each short step to its end before the next thread gets a turn, and hide its races.
    """
    start = threading.Barrier(count, timeout=_PATIENCE)

    def run(number: int) -> T:
        start.wait()
        return work(number)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(run, range(count), timeout=_PATIENCE))
    finally:
        sys.setswitchinterval(interval)


def _meet(barrier: threading.Barrier) -> None:
    """Wait until every thread reached ``barrier``, or give up after a moment.

    On a store that runs one step at a time the others cannot come while this step runs;
    there the first to arrive gives up and breaks the barrier, and the rest pass straight on.
    """
    with suppress(threading.BrokenBarrierError):
        barrier.wait()


def _read(store: Store, read: Callable[[Transaction], T]) -> T:
    return store.atomic(read)


def _append_all(store: Store, records: list[ConsentRecord]) -> None:
    def append(tx: Transaction) -> None:
        for record in records:
            tx.consents.append(record)

    store.atomic(append)


class StoreContract:
    """Tests every :class:`~onboardkit.storage.Store` must pass.

    Subclass it in a test module (its name must start with ``Test``) and provide a ``store``
    fixture returning an empty store that several threads may share.
    """

    # -- accounts ---------------------------------------------------------------------------------

    def test_an_inserted_account_comes_back_with_every_field(self, store: Store) -> None:
        organization = _organization()
        account = _account(
            flow=Flow.SIGNUP,
            status=AccountStatus.PENDING_REVIEW,
            email="Anna.Schmidt@Example.org",
            canonical_email="anna.schmidt@example.org",
            locale="de",
            password_hash=_ARGON2_HASH,
            profile={"given_name": "Anna", "family_name": "Schmidt-Müller 😀"},
            fields={"customer_number": "K-1042", "employees": 12, "tags": ["a", "b"], "x": None},
            user_type="customer",
            roles=("viewer", "editor"),
            organization_id=organization.id,
            partner={"id": "p-7", "name": "Müller Elektro GmbH", "source": "registry"},
            invited_by="admin@example.org",
            reviewed_by="review@example.org",
            rejection_reason="Kein Kunde",
            pending_consents={"privacy": {"version": "2", "given": True}},
            updated_at=_NOW + 1.5,
            confirmed_at=_NOW + 1.25,
            decided_at=_NOW + 2.5,
            expires_at=_NOW + 86_400.75,
            version=3,
        )

        def insert(tx: Transaction) -> None:
            tx.insert_organization(organization)
            tx.insert_account(account)

        store.atomic(insert)
        assert _read(store, lambda tx: tx.account(account.id)) == account

    def test_an_unknown_account_is_not_found(self, store: Store) -> None:
        store.atomic(lambda tx: tx.insert_account(_account(1)))
        assert _read(store, lambda tx: tx.account(_id(2))) is None
        assert _read(store, lambda tx: tx.account_by_email("acme", "ben@example.org")) is None

    def test_an_account_is_found_by_its_tenant_and_canonical_address(self, store: Store) -> None:
        account = _account(email="Anna@Example.org")
        store.atomic(lambda tx: tx.insert_account(account))
        assert _read(store, lambda tx: tx.account_by_email("acme", "anna@example.org")) == account
        assert _read(store, lambda tx: tx.account_by_email("globex", "anna@example.org")) is None

    def test_locking_reads_find_the_same_account(self, store: Store) -> None:
        account = _account()
        store.atomic(lambda tx: tx.insert_account(account))
        assert _read(store, lambda tx: tx.account(account.id, for_update=True)) == account
        found = _read(store, lambda tx: tx.account_by_email("acme", _EMAIL, for_update=True))
        assert found == account

    def test_addresses_and_tenants_are_compared_exactly(self, store: Store) -> None:
        # Canonical forms that differ in case or accents are different people (a database's
        # case- or accent-insensitive collation would merge them).
        addresses = ["anna@example.org", "Anna@example.org", "änna@example.org"]

        def insert(tx: Transaction) -> None:
            for number, address in enumerate(addresses, start=1):
                tx.insert_account(_account(number, email=address, canonical_email=address))
            tx.insert_account(_account(4, tenant="Acme", canonical_email="anna@example.org"))

        store.atomic(insert, attempts=1)

        def found(tenant: str, address: str) -> str | None:
            account = _read(store, lambda tx: tx.account_by_email(tenant, address))
            return None if account is None else account.id

        assert [found("acme", address) for address in addresses] == [_id(1), _id(2), _id(3)]
        assert found("Acme", "anna@example.org") == _id(4)

    def test_a_tenant_has_each_canonical_address_only_once(self, store: Store) -> None:
        store.atomic(lambda tx: tx.insert_account(_account(1)))
        with _raises(Conflict):
            store.atomic(lambda tx: tx.insert_account(_account(2)), attempts=1)
        assert [account.id for account in _read(store, lambda tx: tx.accounts())] == [_id(1)]

    def test_one_address_may_have_an_account_in_each_tenant(self, store: Store) -> None:
        def insert(tx: Transaction) -> None:
            tx.insert_account(_account(1, tenant="acme"))
            tx.insert_account(_account(2, tenant="globex"))

        store.atomic(insert, attempts=1)
        assert len(_read(store, lambda tx: tx.accounts())) == 2

    def test_an_update_at_the_expected_version_is_stored(self, store: Store) -> None:
        account = _account()
        store.atomic(lambda tx: tx.insert_account(account))
        confirmed = _changed(account, status=AccountStatus.PENDING_REVIEW, confirmed_at=_NOW + 5)
        store.atomic(lambda tx: tx.update_account(confirmed, expected_version=account.version))
        assert _read(store, lambda tx: tx.account(account.id)) == confirmed

    def test_an_update_at_a_stale_version_is_a_conflict_and_changes_nothing(
        self, store: Store
    ) -> None:
        account = _account()
        store.atomic(lambda tx: tx.insert_account(account))
        first = _changed(account, locale="de")
        store.atomic(lambda tx: tx.update_account(first, expected_version=account.version))
        late = _changed(account, locale="fr")  # made from the version before the first update
        with _raises(Conflict):
            store.atomic(
                lambda tx: tx.update_account(late, expected_version=account.version), attempts=1
            )
        assert _read(store, lambda tx: tx.account(account.id)) == first

    def test_updating_a_deleted_account_is_a_conflict(self, store: Store) -> None:
        account = _account()
        store.atomic(lambda tx: tx.insert_account(account))
        store.atomic(lambda tx: tx.delete_account(account.id))
        with _raises(Conflict):
            store.atomic(
                lambda tx: tx.update_account(_changed(account), expected_version=account.version),
                attempts=1,
            )
        assert _read(store, lambda tx: tx.account(account.id)) is None

    def test_a_deleted_account_is_gone_and_its_address_free_again(self, store: Store) -> None:
        store.atomic(lambda tx: tx.insert_account(_account(1)))
        store.atomic(lambda tx: tx.delete_account(_id(1)))
        assert _read(store, lambda tx: tx.account(_id(1))) is None
        assert _read(store, lambda tx: tx.account_by_email("acme", _EMAIL)) is None
        store.atomic(lambda tx: tx.insert_account(_account(2)), attempts=1)
        found = _read(store, lambda tx: tx.account_by_email("acme", _EMAIL))
        assert found is not None
        assert found.id == _id(2)

    def test_accounts_are_listed_oldest_first(self, store: Store) -> None:
        created = {1: _NOW + 20, 2: _NOW + 10, 3: _NOW + 20, 4: _NOW}  # a tie: by id

        def insert(tx: Transaction) -> None:
            for number, moment in created.items():
                tx.insert_account(
                    _account(number, email=f"p{number}@example.org", created_at=moment)
                )

        store.atomic(insert)
        listed = _read(store, lambda tx: tx.accounts())
        assert [account.id for account in listed] == [_id(4), _id(2), _id(1), _id(3)]

    def test_accounts_are_filtered_by_tenant_status_and_organization(self, store: Store) -> None:
        def insert(tx: Transaction) -> None:
            tx.insert_organization(_organization(1))
            tx.insert_organization(_organization(2))
            tx.insert_account(_account(1, email="a@example.org", organization_id=_id(1)))
            tx.insert_account(
                _account(
                    2,
                    email="b@example.org",
                    status=AccountStatus.ACTIVE,
                    organization_id=_id(1),
                )
            )
            tx.insert_account(_account(3, email="c@example.org", organization_id=_id(2)))
            tx.insert_account(_account(4, email="a@example.org", tenant="globex"))

        store.atomic(insert)

        def ids(**filters: Any) -> list[str]:
            return [account.id for account in _read(store, lambda tx: tx.accounts(**filters))]

        assert ids() == [_id(1), _id(2), _id(3), _id(4)]
        assert ids(tenant="acme") == [_id(1), _id(2), _id(3)]
        assert ids(tenant="globex") == [_id(4)]
        assert ids(status=AccountStatus.ACTIVE) == [_id(2)]
        assert ids(tenant="acme", status=AccountStatus.PENDING_CONFIRMATION) == [_id(1), _id(3)]
        assert ids(organization_id=_id(1)) == [_id(1), _id(2)]
        assert ids(tenant="acme", status=AccountStatus.ACTIVE, organization_id=_id(2)) == []

    def test_accounts_are_paged_with_limit_and_offset(self, store: Store) -> None:
        def insert(tx: Transaction) -> None:
            for number in range(1, 6):
                email = f"p{number}@example.org"
                tx.insert_account(_account(number, email=email, created_at=_NOW + number))

        store.atomic(insert)

        def page(limit: int, offset: int) -> list[str]:
            listed = _read(store, lambda tx: tx.accounts(limit=limit, offset=offset))
            return [account.id for account in listed]

        assert page(2, 0) == [_id(1), _id(2)]
        assert page(2, 2) == [_id(3), _id(4)]
        assert page(2, 4) == [_id(5)]
        assert page(2, 6) == []

    def test_expired_accounts_are_the_unclaimed_ones_past_their_expiry(self, store: Store) -> None:
        past, future = _NOW - 10, _NOW + 10
        accounts = [
            _account(1, expires_at=past - 1),
            _account(2, flow=Flow.INVITATION, status=AccountStatus.INVITED, expires_at=past - 3),
            _account(
                3, flow=Flow.SIGNUP, status=AccountStatus.PENDING_ACTIVATION, expires_at=past - 2
            ),
            _account(4, expires_at=future),  # not yet
            _account(5, expires_at=None),  # never
            _account(6, status=AccountStatus.PENDING_REVIEW, expires_at=past),  # claimed
            _account(7, status=AccountStatus.ACTIVE, expires_at=past),  # claimed
            _account(8, expires_at=_NOW),  # expires at this very moment: not yet past
        ]

        def insert(tx: Transaction) -> None:
            for account in accounts:
                tx.insert_account(attrs.evolve(account, canonical_email=f"{account.id}@x.org"))

        store.atomic(insert)
        expired = _read(store, lambda tx: tx.expired_accounts(_NOW))
        assert [account.id for account in expired] == [_id(2), _id(3), _id(1)]
        expired = _read(store, lambda tx: tx.expired_accounts(_NOW, limit=2))
        assert [account.id for account in expired] == [_id(2), _id(3)]

    # -- organizations ----------------------------------------------------------------------------

    def test_an_organization_comes_back_with_its_data(self, store: Store) -> None:
        organization = _organization()
        store.atomic(lambda tx: tx.insert_organization(organization))
        assert _read(store, lambda tx: tx.organization(organization.id)) == organization
        assert _read(store, lambda tx: tx.organization(_id(99))) is None

    # -- atomic steps -----------------------------------------------------------------------------

    def test_a_step_returns_its_result_and_its_writes_are_committed(self, store: Store) -> None:
        def register(tx: Transaction) -> str:
            tx.insert_account(_account())
            tx.enqueue_mail(_mail(1))
            return "registered"

        assert store.atomic(register) == "registered"
        assert _read(store, lambda tx: tx.account(_id(1))) == _account()
        assert _read(store, lambda tx: tx.mails()) == [_mail(1)]

    def test_a_step_sees_its_own_writes(self, store: Store) -> None:
        def step(tx: Transaction) -> None:
            account = _account()
            tx.insert_account(account)
            assert tx.account_by_email("acme", _EMAIL, for_update=True) == account
            confirmed = _changed(account, status=AccountStatus.ACTIVE)
            tx.update_account(confirmed, expected_version=account.version)
            assert tx.account(account.id) == confirmed
            tx.enqueue_mail(_mail(1))
            assert tx.mails(unsent_only=True) == [_mail(1)]
            record = _record(1, GENESIS_HASH)
            tx.consents.append(record)
            assert tx.consents.head("acme") == record
            tx.partner_codes.add(_partner_code())
            assert tx.partner_codes.consume("acme", "ef" * 32, _NOW)
            found = tx.partner_codes.find("acme", "ef" * 32)
            assert found is not None
            assert found.uses == 1
            tx.add_signing_key(_key("k1"))
            assert [key.kid for key in tx.signing_keys()] == ["k1"]

        store.atomic(step, attempts=1)

    def test_a_step_that_raises_leaves_nothing_written(self, store: Store) -> None:
        def step(tx: Transaction) -> None:
            tx.insert_organization(_organization())
            tx.insert_account(_account(organization_id=_id(1)))
            tx.consents.append(_record(1, GENESIS_HASH))
            tx.enqueue_mail(_mail(1))
            tx.partner_codes.add(_partner_code())
            tx.add_signing_key(_key("k1"))
            raise RuntimeError("the mail template failed to render")

        with _raises(RuntimeError):
            store.atomic(step)
        assert _read(store, lambda tx: tx.organization(_id(1))) is None
        assert _read(store, lambda tx: tx.accounts()) == []
        assert _read(store, lambda tx: tx.consents.head("acme")) is None
        assert _read(store, lambda tx: tx.mails()) == []
        assert _read(store, lambda tx: tx.partner_codes.find("acme", "ef" * 32)) is None
        assert _read(store, lambda tx: tx.signing_keys()) == []

    def test_a_step_that_raises_undoes_its_changes_and_deletions(self, store: Store) -> None:
        kept, removed = _account(1), _account(2, email="ben@example.org")
        chain = _chain(1)

        def prepare(tx: Transaction) -> None:
            tx.insert_account(kept)
            tx.insert_account(removed)
            tx.enqueue_mail(_mail(1))
            tx.enqueue_mail(_mail(2, sent_at=_NOW))
            tx.consents.append(chain[0])
            tx.partner_codes.add(_partner_code(max_uses=1))
            tx.add_signing_key(_key("k1"))

        store.atomic(prepare)

        def step(tx: Transaction) -> None:
            tx.update_account(_changed(kept, locale="de"), expected_version=kept.version)
            tx.delete_account(removed.id)
            assert [mail.id for mail in tx.claim_mail(_NOW, 60, 10)] == [_id(1)]
            tx.mark_mail_sent(_id(1), _NOW)
            assert tx.delete_sent_mail(_NOW + 1) == 2
            assert tx.consents.erase("acme", "a1" * 32, 1) == 1
            assert tx.partner_codes.consume("acme", "ef" * 32, _NOW)
            tx.delete_signing_key("k1")
            raise RuntimeError("a plugin failed")

        with _raises(RuntimeError):
            store.atomic(step)
        assert _read(store, lambda tx: tx.accounts()) == [kept, removed]
        assert _read(store, lambda tx: tx.mails()) == [_mail(2, sent_at=_NOW), _mail(1)]
        assert _read(store, lambda tx: tx.consents.records("acme")) == chain
        found = _read(store, lambda tx: tx.partner_codes.find("acme", "ef" * 32))
        assert found == _partner_code(max_uses=1)
        assert [key.kid for key in _read(store, lambda tx: tx.signing_keys())] == ["k1"]

    def test_an_exception_other_than_a_conflict_propagates_at_once(self, store: Store) -> None:
        runs: list[int] = []
        error = ValueError("bad input")

        def step(tx: Transaction) -> None:
            runs.append(1)
            raise error

        caught: list[BaseException] = []
        try:
            store.atomic(step, attempts=5)
        except ValueError as raised:
            caught.append(raised)
        assert caught == [error]
        assert runs == [1]

    def test_a_step_that_raises_a_conflict_runs_again_from_a_clean_slate(
        self, store: Store
    ) -> None:
        runs: list[int] = []

        def step(tx: Transaction) -> int:
            runs.append(1)
            tx.enqueue_mail(_mail(len(runs)))
            if len(runs) == 1:
                raise Conflict()
            return len(runs)

        assert store.atomic(step, attempts=2) == 2
        assert [mail.id for mail in _read(store, lambda tx: tx.mails())] == [_id(2)]

    def test_a_step_that_keeps_conflicting_runs_attempts_times_then_the_conflict_propagates(
        self, store: Store
    ) -> None:
        runs: list[int] = []

        def step(tx: Transaction) -> None:
            runs.append(1)
            tx.enqueue_mail(_mail(len(runs)))
            raise Conflict()

        with _raises(Conflict):
            store.atomic(step, attempts=3)
        assert len(runs) == 3
        assert _read(store, lambda tx: tx.mails()) == []

    def test_a_step_that_hits_a_taken_address_runs_again_and_sees_the_winner(
        self, store: Store
    ) -> None:
        store.atomic(lambda tx: tx.insert_account(_account(1)))
        seen: list[Account | None] = []

        def register(tx: Transaction) -> str:
            seen.append(tx.account_by_email("acme", _EMAIL, for_update=True))
            if len(seen) == 1:
                # As if the lookup had run just before the other registration committed.
                tx.insert_account(_account(2))
            existing = seen[-1]
            return "created" if existing is None else f"exists {existing.id}"

        assert store.atomic(register) == f"exists {_id(1)}"
        assert len(seen) == 2

    def test_a_step_never_sees_another_steps_unfinished_writes(self, store: Store) -> None:
        written, looked = threading.Event(), threading.Event()

        def writer(tx: Transaction) -> None:
            tx.insert_account(_account())
            tx.enqueue_mail(_mail(1))
            written.set()
            # A store that runs one step at a time makes the reader wait: give up waiting.
            looked.wait(_HOLD)
            raise RuntimeError("the step fails after all")

        def write() -> None:
            with _raises(RuntimeError):
                store.atomic(writer)

        def read() -> tuple[Account | None, list[OutboxMail]]:
            written.wait(_PATIENCE)
            try:
                return store.atomic(
                    lambda tx: (tx.account_by_email("acme", _EMAIL), list(tx.mails()))
                )
            finally:
                looked.set()

        outcomes = _together(2, lambda number: write() if number == 0 else read())
        assert outcomes[1] == (None, [])

    def test_simultaneous_registrations_of_one_address_make_one_account(self, store: Store) -> None:
        callers = 4
        # Where steps run side by side, every caller looks up before anyone inserts.
        looked = threading.Barrier(callers, timeout=_HOLD)

        def register(caller: int) -> str:
            runs = 0

            def step(tx: Transaction) -> str:
                nonlocal runs
                runs += 1
                existing = tx.account_by_email("acme", _EMAIL, for_update=True)
                if runs == 1:
                    _meet(looked)
                if existing is not None:
                    return existing.id
                tx.insert_account(_account(caller + 1))
                return _id(caller + 1)

            return store.atomic(step, attempts=10)

        answers = _together(callers, register)
        accounts = _read(store, lambda tx: tx.accounts())
        assert len(accounts) == 1
        assert answers == [accounts[0].id] * callers

    # -- row locks --------------------------------------------------------------------------------

    def _second_locking_step_waits(
        self, store: Store, lookup: Callable[[Transaction], Account | None]
    ) -> None:
        store.atomic(lambda tx: tx.insert_account(_account()))
        locked = threading.Event()
        runs: Counter[str] = Counter()

        def mark(tx: Transaction, account: Account | None, name: str) -> None:
            assert account is not None
            profile = {**account.profile, name: True}
            tx.update_account(_changed(account, profile=profile), expected_version=account.version)

        def first(tx: Transaction) -> None:
            runs["first"] += 1
            account = tx.account(_id(1), for_update=True)
            locked.set()
            time.sleep(_HOLD)  # the second step asks for the lock meanwhile
            mark(tx, account, "first")

        def second(tx: Transaction) -> None:
            runs["second"] += 1
            mark(tx, lookup(tx), "second")

        def run(number: int) -> None:
            if number == 0:
                store.atomic(first)
            else:
                locked.wait(_PATIENCE)
                store.atomic(second)

        _together(2, run)
        final = _read(store, lambda tx: tx.account(_id(1)))
        assert final is not None
        assert final.profile == {"first": True, "second": True}
        assert final.version == 3
        # The second step read after the first committed: it never had to run again.
        assert runs == Counter(first=1, second=1)

    def test_a_locking_read_by_id_waits_for_the_step_holding_the_lock(self, store: Store) -> None:
        self._second_locking_step_waits(store, lambda tx: tx.account(_id(1), for_update=True))

    def test_a_locking_read_by_address_waits_for_the_step_holding_the_lock(
        self, store: Store
    ) -> None:
        self._second_locking_step_waits(
            store, lambda tx: tx.account_by_email("acme", _EMAIL, for_update=True)
        )

    # -- outbox -----------------------------------------------------------------------------------

    def test_an_enqueued_mail_comes_back_with_its_texts(self, store: Store) -> None:
        store.atomic(lambda tx: tx.enqueue_mail(_mail(1)))
        assert _read(store, lambda tx: tx.mails()) == [_mail(1)]

    def test_claiming_counts_an_attempt_and_hides_the_mail_for_the_lease(
        self, store: Store
    ) -> None:
        store.atomic(lambda tx: tx.enqueue_mail(_mail(1)))
        claimed = store.atomic(lambda tx: tx.claim_mail(_NOW, 60, 10))
        assert claimed == [_mail(1, attempts=1, next_attempt_at=_NOW + 60)]
        assert store.atomic(lambda tx: tx.claim_mail(_NOW + 59, 60, 10)) == []
        again = store.atomic(lambda tx: tx.claim_mail(_NOW + 60, 60, 10))
        assert again == [_mail(1, attempts=2, next_attempt_at=_NOW + 120)]

    def test_mails_not_yet_due_are_not_claimed(self, store: Store) -> None:
        store.atomic(lambda tx: tx.enqueue_mail(_mail(1, next_attempt_at=_NOW + 30)))
        assert store.atomic(lambda tx: tx.claim_mail(_NOW, 60, 10)) == []
        assert _read(store, lambda tx: tx.mails()) == [_mail(1, next_attempt_at=_NOW + 30)]

    def test_claiming_takes_at_most_the_limit_the_longest_due_first(self, store: Store) -> None:
        due = {1: _NOW - 5, 2: _NOW - 30, 3: _NOW - 5, 4: _NOW - 10}  # a tie: by id

        def enqueue(tx: Transaction) -> None:
            for number, moment in due.items():
                tx.enqueue_mail(_mail(number, next_attempt_at=moment))

        store.atomic(enqueue)
        claimed = store.atomic(lambda tx: tx.claim_mail(_NOW, 60, 3))
        assert [mail.id for mail in claimed] == [_id(2), _id(4), _id(1)]
        rest = store.atomic(lambda tx: tx.claim_mail(_NOW, 60, 3))
        assert [mail.id for mail in rest] == [_id(3)]

    def test_a_sent_mail_is_never_claimed_again(self, store: Store) -> None:
        store.atomic(lambda tx: tx.enqueue_mail(_mail(1)))
        store.atomic(lambda tx: tx.claim_mail(_NOW, 60, 10))
        store.atomic(lambda tx: tx.mark_mail_sent(_id(1), _NOW + 1))
        assert store.atomic(lambda tx: tx.claim_mail(_NOW + 3600, 60, 10)) == []
        sent = _read(store, lambda tx: tx.mails())
        assert [(mail.sent_at, mail.attempts) for mail in sent] == [(_NOW + 1, 1)]

    def test_a_sent_mail_forgets_the_error_of_an_earlier_attempt(self, store: Store) -> None:
        store.atomic(lambda tx: tx.enqueue_mail(_mail(1)))
        store.atomic(lambda tx: tx.mark_mail_failed(_id(1), "SMTP 451: try again", _NOW))
        store.atomic(lambda tx: tx.mark_mail_sent(_id(1), _NOW + 1))
        assert [mail.last_error for mail in _read(store, lambda tx: tx.mails())] == [None]

    def test_a_failed_mail_keeps_its_error_and_is_claimed_again_when_its_retry_is_due(
        self, store: Store
    ) -> None:
        store.atomic(lambda tx: tx.enqueue_mail(_mail(1)))
        store.atomic(lambda tx: tx.claim_mail(_NOW, 300, 10))
        store.atomic(lambda tx: tx.mark_mail_failed(_id(1), "SMTP 451: try again", _NOW + 30))
        failed = _mail(1, attempts=1, next_attempt_at=_NOW + 30, last_error="SMTP 451: try again")
        assert _read(store, lambda tx: tx.mails()) == [failed]
        assert store.atomic(lambda tx: tx.claim_mail(_NOW + 29, 300, 10)) == []
        again = store.atomic(lambda tx: tx.claim_mail(_NOW + 30, 300, 10))
        assert again == [attrs.evolve(failed, attempts=2, next_attempt_at=_NOW + 330)]

    def test_mails_are_listed_newest_first_by_tenant_and_unsent_only(self, store: Store) -> None:
        def enqueue(tx: Transaction) -> None:
            tx.enqueue_mail(_mail(1, created_at=_NOW))
            tx.enqueue_mail(_mail(2, created_at=_NOW + 2, sent_at=_NOW + 3))
            tx.enqueue_mail(_mail(3, created_at=_NOW + 1, tenant="globex"))
            tx.enqueue_mail(_mail(4, created_at=_NOW + 1))  # a tie: by id, newest first

        store.atomic(enqueue)

        def ids(**filters: Any) -> list[str]:
            return [mail.id for mail in _read(store, lambda tx: tx.mails(**filters))]

        assert ids() == [_id(2), _id(4), _id(3), _id(1)]
        assert ids(tenant="acme") == [_id(2), _id(4), _id(1)]
        assert ids(unsent_only=True) == [_id(4), _id(3), _id(1)]
        assert ids(tenant="acme", unsent_only=True, limit=1) == [_id(4)]

    def test_sent_mails_before_the_cutoff_are_deleted(self, store: Store) -> None:
        def enqueue(tx: Transaction) -> None:
            tx.enqueue_mail(_mail(1, sent_at=_NOW + 10))
            tx.enqueue_mail(_mail(2, sent_at=_NOW + 20))  # at the cutoff: kept
            tx.enqueue_mail(_mail(3, created_at=_NOW - 100))  # unsent: always kept

        store.atomic(enqueue)
        assert store.atomic(lambda tx: tx.delete_sent_mail(_NOW + 20)) == 1
        assert {mail.id for mail in _read(store, lambda tx: tx.mails())} == {_id(2), _id(3)}

    def test_concurrent_claimers_never_get_the_same_mail(self, store: Store) -> None:
        count = 40

        def enqueue(tx: Transaction) -> None:
            for number in range(count):
                tx.enqueue_mail(_mail(number))

        store.atomic(enqueue)
        workers = 4
        started = threading.Barrier(workers, timeout=_HOLD)

        def claim(tx: Transaction, first: bool) -> list[OutboxMail]:
            if first:
                _meet(started)  # where steps run side by side, all workers claim at once
            return list(tx.claim_mail(_NOW, 300, 3))

        def claim_batch(first: bool) -> list[OutboxMail]:
            return store.atomic(lambda tx: claim(tx, first))

        def mark_sent(mail_id: str) -> None:
            store.atomic(lambda tx: tx.mark_mail_sent(mail_id, _NOW))

        def work(_worker: int) -> list[str]:
            mine: list[str] = []
            while batch := claim_batch(first=not mine):
                for mail in batch:
                    mark_sent(mail.id)
                    mine.append(mail.id)
            return mine

        claimed = [mail_id for batch in _together(workers, work) for mail_id in batch]
        assert sorted(claimed) == [_id(number) for number in range(count)]
        assert _read(store, lambda tx: tx.mails(unsent_only=True)) == []

    # -- signing keys -----------------------------------------------------------------------------

    def test_signing_keys_are_listed_newest_first_with_their_bytes(self, store: Store) -> None:
        old = SigningKeyRow(kid="k0", secret=bytes(range(32)), created_at=_NOW)
        new = SigningKeyRow(kid="k1", secret=bytes(range(255, 191, -1)), created_at=_NOW + 1)
        store.atomic(lambda tx: tx.add_signing_key(old))
        store.atomic(lambda tx: tx.add_signing_key(new))
        assert _read(store, lambda tx: tx.signing_keys()) == [new, old]

    def test_a_signing_key_id_is_stored_only_once(self, store: Store) -> None:
        store.atomic(lambda tx: tx.add_signing_key(_key("k0")))
        with _raises(Conflict):
            store.atomic(lambda tx: tx.add_signing_key(_key("k0", _NOW + 1)), attempts=1)
        assert _read(store, lambda tx: tx.signing_keys()) == [_key("k0")]

    def test_a_deleted_signing_key_is_gone(self, store: Store) -> None:
        def add(tx: Transaction) -> None:
            tx.add_signing_key(_key("k0"))
            tx.add_signing_key(_key("k1", _NOW + 1))

        store.atomic(add)
        store.atomic(lambda tx: tx.delete_signing_key("k0"))
        assert _read(store, lambda tx: tx.signing_keys()) == [_key("k1", _NOW + 1)]

    def test_processes_creating_the_first_signing_key_at_once_agree_on_one(
        self, store: Store
    ) -> None:
        # What load_key_ring does: the loser's insert is a Conflict, and its rerun reads the key.
        callers = 4
        looked = threading.Barrier(callers, timeout=_HOLD)

        def load(caller: int) -> bytes:
            runs: list[int] = []

            def step(tx: Transaction) -> bytes:
                runs.append(1)
                keys = list(tx.signing_keys())
                if len(runs) == 1:
                    _meet(looked)
                if keys:
                    return keys[0].secret
                mine = SigningKeyRow(kid="k0", secret=bytes([caller]) * 32, created_at=_NOW)
                tx.add_signing_key(mine)
                return mine.secret

            return store.atomic(step, attempts=10)

        secrets = _together(callers, load)
        stored = _read(store, lambda tx: tx.signing_keys())
        assert len(stored) == 1
        assert secrets == [stored[0].secret] * callers

    # -- the consent chain ------------------------------------------------------------------------

    def test_an_empty_chain_has_no_head(self, store: Store) -> None:
        assert _read(store, lambda tx: tx.consents.head("acme")) is None

    def test_the_head_is_the_tenants_record_with_the_highest_sequence(self, store: Store) -> None:
        chain, other = _chain(3), _chain(1, tenant="globex")
        _append_all(store, [*chain, *other])
        assert _read(store, lambda tx: tx.consents.head("acme")) == chain[-1]
        assert _read(store, lambda tx: tx.consents.head("globex")) == other[-1]

    def test_a_consent_record_comes_back_to_the_microsecond(self, store: Store) -> None:
        record = _record(1, GENESIS_HASH)
        store.atomic(lambda tx: tx.consents.append(record))
        stored = _read(store, lambda tx: tx.consents.head("acme"))
        assert stored == record
        assert stored is not None
        assert stored.recorded_at == record.recorded_at
        assert stored.content_hash() == stored.record_hash

    def test_an_append_on_a_stale_head_is_refused_as_a_stale_chain_head(self, store: Store) -> None:
        chain = _chain(2)
        store.atomic(lambda tx: tx.consents.append(chain[0]))
        store.atomic(lambda tx: tx.consents.append(chain[1]))
        # Built on the head before the last append: what a concurrent writer would send.
        stale = _record(2, chain[0].record_hash, pseudonym="b2" * 32)
        with _raises(StaleChainHead):
            store.atomic(lambda tx: tx.consents.append(stale), attempts=1)
        assert _read(store, lambda tx: tx.consents.records("acme")) == chain

    def test_an_append_that_does_not_continue_the_head_is_refused(self, store: Store) -> None:
        chain = _chain(3)
        _append_all(store, chain)
        refused = [
            _record(4, "0" * 64),  # wrong previous hash
            _record(5, chain[2].record_hash),  # a gap
            _record(1, GENESIS_HASH),  # a second genesis
            _record(0, GENESIS_HASH),
        ]
        for record in refused:
            with _raises(StaleChainHead):
                _append_all(store, [record])
        assert _read(store, lambda tx: tx.consents.records("acme")) == chain

    def test_a_refused_append_leaves_the_step_usable(self, store: Store) -> None:
        # The ledger catches StaleChainHead inside the step and appends on the new head.
        chain = _chain(2)
        store.atomic(lambda tx: tx.consents.append(chain[0]))

        def step(tx: Transaction) -> None:
            tx.insert_account(_account())
            with _raises(StaleChainHead):
                tx.consents.append(chain[0])
            tx.consents.append(chain[1])

        store.atomic(step, attempts=1)
        assert _read(store, lambda tx: tx.consents.records("acme")) == chain
        assert _read(store, lambda tx: tx.account(_id(1))) == _account()

    def test_consent_records_are_listed_in_order_and_by_pseudonym(self, store: Store) -> None:
        chain = _chain(3, pseudonyms=("a1" * 32, "b2" * 32))
        _append_all(store, chain)
        assert _read(store, lambda tx: tx.consents.records("acme")) == chain
        mine = _read(store, lambda tx: tx.consents.records("acme", "a1" * 32))
        assert mine == [chain[0], chain[2]]
        assert _read(store, lambda tx: tx.consents.records("globex")) == []

    def test_erasing_removes_only_the_personal_fields_up_to_the_sequence(
        self, store: Store
    ) -> None:
        chain = _chain(3, pseudonyms=("a1" * 32, "b2" * 32))
        _append_all(store, chain)
        assert store.atomic(lambda tx: tx.consents.erase("acme", "a1" * 32, 1)) == 1
        assert store.atomic(lambda tx: tx.consents.erase("acme", "a1" * 32, 1)) == 0
        after = _read(store, lambda tx: tx.consents.records("acme"))
        assert after == [attrs.evolve(chain[0], subject=None, evidence=None), *chain[1:]]

    def test_concurrent_ledger_appends_keep_one_unbroken_chain(self, store: Store) -> None:
        writers, each = 4, 3
        started = threading.Barrier(writers, timeout=_HOLD)

        def give(tx: Transaction, subject: str, first: bool) -> None:
            if first:
                _meet(started)  # where steps run side by side, all writers meet one head
            ConsentLedger(tx.consents, _SECRET).give("acme", subject, _DOCUMENT)

        def record(subject: str, first: bool) -> None:
            store.atomic(lambda tx: give(tx, subject, first))

        def write(writer: int) -> None:
            for number in range(each):
                record(f"writer{writer}-{number}@example.org", first=number == 0)

        _together(writers, write)
        head = _read(store, lambda tx: ConsentLedger(tx.consents, _SECRET).verify("acme"))
        assert head is not None
        assert head.sequence == writers * each

    # -- partner codes ----------------------------------------------------------------------------

    def test_a_partner_code_comes_back_with_its_partner(self, store: Store) -> None:
        record = _partner_code(expires_at=_NOW + 3600, max_uses=5)
        store.atomic(lambda tx: tx.partner_codes.add(record))
        assert _read(store, lambda tx: tx.partner_codes.find("acme", "ef" * 32)) == record
        assert _read(store, lambda tx: tx.partner_codes.find("globex", "ef" * 32)) is None

    def test_a_partner_code_digest_is_stored_once_per_tenant(self, store: Store) -> None:
        store.atomic(lambda tx: tx.partner_codes.add(_partner_code()))
        refused = False
        try:
            store.atomic(lambda tx: tx.partner_codes.add(_partner_code(hint="ZZZZ")), attempts=1)
        except Exception:  # the protocol asks for "any exception"
            refused = True
        assert refused, "the second add of the same digest was accepted"
        assert _read(store, lambda tx: tx.partner_codes.find("acme", "ef" * 32)) == _partner_code()

    def test_a_revoked_partner_code_is_not_consumed(self, store: Store) -> None:
        store.atomic(lambda tx: tx.partner_codes.add(_partner_code()))
        assert store.atomic(lambda tx: tx.partner_codes.revoke("acme", "ef" * 32, _NOW))
        assert not store.atomic(lambda tx: tx.partner_codes.revoke("acme", "ef" * 32, _NOW + 1))
        assert not store.atomic(lambda tx: tx.partner_codes.consume("acme", "ef" * 32, _NOW))
        found = _read(store, lambda tx: tx.partner_codes.find("acme", "ef" * 32))
        assert found == _partner_code(revoked_at=_NOW)

    def test_concurrent_steps_never_use_a_partner_code_beyond_its_limit(self, store: Store) -> None:
        store.atomic(lambda tx: tx.partner_codes.add(_partner_code(max_uses=3)))
        callers = 6
        started = threading.Barrier(callers, timeout=_HOLD)

        def consume(tx: Transaction, first: bool) -> bool:
            if first:
                _meet(started)  # where steps run side by side, all of them use it at once
            return tx.partner_codes.consume("acme", "ef" * 32, _NOW)

        def sign_up(_caller: int) -> bool:
            runs: list[int] = []

            def step(tx: Transaction) -> bool:
                runs.append(1)
                return consume(tx, len(runs) == 1)

            return store.atomic(step)

        assert sorted(_together(callers, sign_up)) == [False] * 3 + [True] * 3
        found = _read(store, lambda tx: tx.partner_codes.find("acme", "ef" * 32))
        assert found is not None
        assert found.uses == 3
