"""Stores for tests: :func:`memory_store` (SQL) and :class:`InMemoryStore` (no SQL at all).

:func:`memory_store` is the real :class:`onboardkit.sqlstore.SqlStore` on SQLite, migrated with
the shipped migrations, so a test exercises the same SQL as production; only the file is
missing::

    from onboardkit.testing.store import memory_store

    store = memory_store()
    account = store.atomic(lambda tx: tx.account_by_email("acme", "anna@example.org"))

:class:`InMemoryStore` keeps everything in Python dicts. It is the reference of what
:class:`onboardkit.storage.Store` promises, without a database's help: it passes the same
:class:`~onboardkit.testing.store_contract.StoreContract` as the SQL store, and a new store (an
ORM's, say) can be read against it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import attrs

from onboardkit.accounts import UNCLAIMED, Account, AccountStatus, Organization
from onboardkit.consent import GENESIS_HASH, ConsentRecord, StaleChainHead
from onboardkit.partners import PartnerCodeRecord
from onboardkit.sqlstore import SqlStore
from onboardkit.storage import Conflict, OutboxMail, SigningKeyRow

if TYPE_CHECKING:
    from onboardkit.consent import ConsentStore
    from onboardkit.partners import PartnerCodeStore
    from onboardkit.storage import Store, Transaction

__all__ = ["InMemoryStore", "InMemoryTransaction", "memory_store"]

T = TypeVar("T")

# What the SQL store keeps of a delivery error (its column's length).
_MAX_ERROR_LENGTH = 500


def memory_store() -> SqlStore:
    """A new, empty, migrated SQLite database in memory.

    One connection serves every thread (``StaticPool``); the store queues their transactions,
    so it may be shared between threads. The data is gone after ``store.dispose()``.
    """
    store = SqlStore.from_url("sqlite://")
    store.migrate()
    return store


@attrs.define
class _Tables:
    """Everything an :class:`InMemoryStore` holds; values are immutable or copied on the way."""

    accounts: dict[str, Account] = attrs.Factory(dict)
    organizations: dict[str, Organization] = attrs.Factory(dict)
    outbox: dict[str, OutboxMail] = attrs.Factory(dict)
    signing_keys: dict[str, SigningKeyRow] = attrs.Factory(dict)
    consent_chains: dict[str, list[ConsentRecord]] = attrs.Factory(dict)
    partner_codes: dict[tuple[str, str], PartnerCodeRecord] = attrs.Factory(dict)

    def copy(self) -> _Tables:
        """A copy a step may change freely; the store keeps it only if the step succeeds."""
        return _Tables(
            accounts=dict(self.accounts),
            organizations=dict(self.organizations),
            outbox=dict(self.outbox),
            signing_keys=dict(self.signing_keys),
            consent_chains={tenant: list(chain) for tenant, chain in self.consent_chains.items()},
            partner_codes=dict(self.partner_codes),
        )


def _detached(value: T) -> T:
    # Accounts and organizations carry plain dicts (profile, fields, data): a caller changing
    # one it passed in or got back must not change what is stored, as with a database.
    return copy.deepcopy(value)


class InMemoryStore:
    """A thread-safe :class:`~onboardkit.storage.Store` in Python dicts, for tests and demos.

    A step works on a private copy of the data, so it sees its own writes and nobody else's
    unfinished ones; the copy replaces the data when the step returns, and is dropped when it
    raises (every write of the step, mail and consent records included, or none). Steps run one
    at a time, on a store-wide lock: that is what makes ``for_update`` reads, a tenant's unique
    addresses, the consent chain's head and claiming mail right here, where a database store
    relies on row locks and unique indexes. Nothing survives the process.
    """

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.Lock()
        self._steps = threading.local()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def atomic(self, step: Callable[[InMemoryTransaction], T], *, attempts: int = 5) -> T:
        """Run ``step`` on a copy of the data and keep the copy; after a
        :class:`~onboardkit.storage.Conflict`, run it again on a fresh copy, at most
        ``attempts`` times in all, then let the conflict propagate. Any other exception drops
        the copy and propagates at once.
        """
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if getattr(self._steps, "running", False):
            # The lock is held by this very step: a second one would wait for ever.
            raise RuntimeError(
                "InMemoryStore.atomic() was called inside a step; use its transaction"
            )
        for attempt in range(1, attempts + 1):
            with self._lock:
                working = self._tables.copy()
                self._steps.running = True
                try:
                    result = step(InMemoryTransaction(working))
                except Conflict:
                    if attempt == attempts:
                        raise
                    continue
                finally:
                    self._steps.running = False
                self._tables = working
                return result
        raise AssertionError("unreachable: the last attempt returns or raises")


class InMemoryTransaction:
    """One step's view of an :class:`InMemoryStore`: an :class:`onboardkit.storage.Transaction`.

    Only valid inside the step :meth:`InMemoryStore.atomic` hands it to.
    """

    def __init__(self, tables: _Tables) -> None:
        self._tables = tables
        self._consents = _InMemoryChains(tables)
        self._partner_codes = _InMemoryPartnerCodes(tables)

    @property
    def handle(self) -> InMemoryTransaction:
        """The store's own handle on this step: the transaction itself, as there is no other.

        Whatever a host writes through it commits with the step or is dropped with it.
        """
        return self

    # -- accounts ---------------------------------------------------------------------------------

    def account(self, account_id: str, *, for_update: bool = False) -> Account | None:
        # for_update needs nothing more: no other step runs until this one ends.
        found = self._tables.accounts.get(account_id)
        return None if found is None else _detached(found)

    def account_by_email(
        self, tenant: str, canonical_email: str, *, for_update: bool = False
    ) -> Account | None:
        for account in self._tables.accounts.values():
            if account.tenant == tenant and account.canonical_email == canonical_email:
                return _detached(account)
        return None

    def _refuse_taken_address(self, account: Account) -> None:
        for other in self._tables.accounts.values():
            if (
                other.id != account.id
                and other.tenant == account.tenant
                and other.canonical_email == account.canonical_email
            ):
                raise Conflict()

    def _refuse_unknown_organization(self, account: Account) -> None:
        # The SQL store's foreign key: a mistake in the calling code, not a lost race.
        organization = account.organization_id
        if organization is not None and organization not in self._tables.organizations:
            raise ValueError(f"no organization {organization!r} for account {account.id!r}")

    def insert_account(self, account: Account) -> None:
        if account.id in self._tables.accounts:
            raise Conflict()
        self._refuse_taken_address(account)
        self._refuse_unknown_organization(account)
        self._tables.accounts[account.id] = _detached(account)

    def update_account(self, account: Account, *, expected_version: int) -> None:
        stored = self._tables.accounts.get(account.id)
        if stored is None or stored.version != expected_version:
            raise Conflict()
        self._refuse_taken_address(account)
        self._refuse_unknown_organization(account)
        self._tables.accounts[account.id] = _detached(account)

    def delete_account(self, account_id: str) -> None:
        self._tables.accounts.pop(account_id, None)

    def accounts(
        self,
        tenant: str | None = None,
        *,
        status: AccountStatus | None = None,
        organization_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Account]:
        wanted = None if status is None else AccountStatus(status)
        found = [
            account
            for account in self._tables.accounts.values()
            if (tenant is None or account.tenant == tenant)
            and (wanted is None or account.status is wanted)
            and (organization_id is None or account.organization_id == organization_id)
        ]
        found.sort(key=lambda account: (account.created_at, account.id))
        return [_detached(account) for account in found[offset : offset + limit]]

    def expired_accounts(self, now: float, limit: int = 500) -> Sequence[Account]:
        found = [
            account
            for account in self._tables.accounts.values()
            if account.status in UNCLAIMED
            and account.expires_at is not None
            and account.expires_at < now
        ]
        found.sort(key=lambda account: (account.expires_at, account.id))
        return [_detached(account) for account in found[:limit]]

    # -- organizations ----------------------------------------------------------------------------

    def insert_organization(self, organization: Organization) -> None:
        if organization.id in self._tables.organizations:
            raise Conflict()
        self._tables.organizations[organization.id] = _detached(organization)

    def organization(self, organization_id: str) -> Organization | None:
        found = self._tables.organizations.get(organization_id)
        return None if found is None else _detached(found)

    # -- outbox -----------------------------------------------------------------------------------

    def enqueue_mail(self, mail: OutboxMail) -> None:
        if mail.id in self._tables.outbox:
            raise Conflict()
        self._tables.outbox[mail.id] = attrs.evolve(mail, last_error=_bounded(mail.last_error))

    def claim_mail(self, now: float, lease: float, limit: int) -> Sequence[OutboxMail]:
        due = sorted(
            (
                mail
                for mail in self._tables.outbox.values()
                if mail.sent_at is None and mail.next_attempt_at <= now
            ),
            key=lambda mail: (mail.next_attempt_at, mail.id),
        )[:limit]
        claimed = []
        for mail in due:
            taken = attrs.evolve(mail, next_attempt_at=now + lease, attempts=mail.attempts + 1)
            self._tables.outbox[mail.id] = taken
            claimed.append(taken)
        return claimed

    def mark_mail_sent(self, mail_id: str, now: float) -> None:
        mail = self._tables.outbox.get(mail_id)
        if mail is not None:
            self._tables.outbox[mail_id] = attrs.evolve(mail, sent_at=now, last_error=None)

    def mark_mail_failed(self, mail_id: str, error: str, next_attempt_at: float) -> None:
        mail = self._tables.outbox.get(mail_id)
        if mail is not None:
            self._tables.outbox[mail_id] = attrs.evolve(
                mail, last_error=_bounded(error), next_attempt_at=next_attempt_at
            )

    def mails(
        self, tenant: str | None = None, *, limit: int = 100, unsent_only: bool = False
    ) -> Sequence[OutboxMail]:
        found = [
            mail
            for mail in self._tables.outbox.values()
            if (tenant is None or mail.tenant == tenant)
            and not (unsent_only and mail.sent_at is not None)
        ]
        found.sort(key=lambda mail: (mail.created_at, mail.id), reverse=True)
        return found[:limit]

    def delete_sent_mail(self, sent_before: float) -> int:
        gone = [
            mail.id
            for mail in self._tables.outbox.values()
            if mail.sent_at is not None and mail.sent_at < sent_before
        ]
        for mail_id in gone:
            del self._tables.outbox[mail_id]
        return len(gone)

    # -- signing keys -----------------------------------------------------------------------------

    def signing_keys(self) -> Sequence[SigningKeyRow]:
        return sorted(
            self._tables.signing_keys.values(),
            key=lambda key: (key.created_at, key.kid),
            reverse=True,
        )

    def add_signing_key(self, key: SigningKeyRow) -> None:
        if key.kid in self._tables.signing_keys:
            raise Conflict()
        self._tables.signing_keys[key.kid] = key

    def delete_signing_key(self, kid: str) -> None:
        self._tables.signing_keys.pop(kid, None)

    # -- the building blocks' own stores ----------------------------------------------------------

    @property
    def consents(self) -> ConsentStore:
        return self._consents

    @property
    def partner_codes(self) -> PartnerCodeStore:
        return self._partner_codes


def _bounded(error: str | None) -> str | None:
    return None if error is None else error[:_MAX_ERROR_LENGTH]


class _InMemoryChains:
    """The consent chains of one step's copy: a :class:`~onboardkit.consent.ConsentStore`."""

    def __init__(self, tables: _Tables) -> None:
        self._chains = tables.consent_chains

    def head(self, tenant: str) -> ConsentRecord | None:
        chain = self._chains.get(tenant)
        return chain[-1] if chain else None

    def append(self, record: ConsentRecord) -> None:
        chain = self._chains.get(record.tenant, [])
        head_sequence, head_hash = (
            (chain[-1].sequence, chain[-1].record_hash) if chain else (0, GENESIS_HASH)
        )
        if record.sequence != head_sequence + 1 or record.prev_hash != head_hash:
            raise StaleChainHead()
        self._chains[record.tenant] = [*chain, record]

    def records(self, tenant: str, pseudonym: str | None = None) -> Sequence[ConsentRecord]:
        return [
            record
            for record in self._chains.get(tenant, ())
            if pseudonym is None or record.subject_pseudonym == pseudonym
        ]

    def erase(self, tenant: str, pseudonym: str, through_sequence: int) -> int:
        chain = self._chains.get(tenant)
        if not chain:
            return 0
        changed = 0
        erased = []
        for record in chain:
            if (
                record.subject_pseudonym == pseudonym
                and record.sequence <= through_sequence
                and (record.subject is not None or record.evidence is not None)
            ):
                record = attrs.evolve(record, subject=None, evidence=None)
                changed += 1
            erased.append(record)
        self._chains[tenant] = erased
        return changed


class _InMemoryPartnerCodes:
    """The partner codes of one step's copy: a :class:`~onboardkit.partners.PartnerCodeStore`."""

    def __init__(self, tables: _Tables) -> None:
        self._codes = tables.partner_codes

    def add(self, record: PartnerCodeRecord) -> None:
        if record.partner.tenant != record.tenant:
            raise ValueError("a partner code's partner must belong to the code's tenant")
        key = (record.tenant, record.digest)
        if key in self._codes:
            raise Conflict()
        self._codes[key] = record

    def find(self, tenant: str, digest: str) -> PartnerCodeRecord | None:
        return self._codes.get((tenant, digest))

    def consume(self, tenant: str, digest: str, now: float) -> bool:
        record = self._codes.get((tenant, digest))
        if record is None or record.refusal(now) is not None:
            return False
        self._codes[tenant, digest] = attrs.evolve(record, uses=record.uses + 1)
        return True

    def revoke(self, tenant: str, digest: str, now: float) -> bool:
        record = self._codes.get((tenant, digest))
        if record is None or record.revoked_at is not None:
            return False
        self._codes[tenant, digest] = attrs.evolve(record, revoked_at=now)
        return True


if TYPE_CHECKING:
    # mypy checks here that the classes implement the protocols completely.
    def _protocol_checks(
        store: InMemoryStore, tx: InMemoryTransaction
    ) -> tuple[Store, Transaction]:
        return store, tx
