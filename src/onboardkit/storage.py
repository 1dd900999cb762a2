"""Storage: what the onboarding flows need from a database, as a protocol.

onboardkit ships one implementation, :class:`onboardkit.sqlstore.SqlStore` on SQLAlchemy 2
(SQLite as the embedded default, PostgreSQL, MariaDB), and framework plugins may bring their own
(the Django plugin uses the ORM). A store hands out transactions; everything one step of a flow
writes (the account, its consent records, its outgoing mail) goes through one
:class:`Transaction` and is committed together or not at all::

    def step(tx: Transaction) -> Account:
        ...

    account = store.atomic(step)

:meth:`Store.atomic` runs the step in a transaction and runs it again (a bounded number of times)
when the database reports a conflict, such as two registrations of one address at the same moment
(:class:`Conflict`): the second run sees the first one's committed row and takes the "address
exists" path, so no caller sees an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs

from onboardkit.errors import OnboardkitError, message

if TYPE_CHECKING:
    from onboardkit.accounts import Account, AccountStatus, Organization
    from onboardkit.consent import ConsentStore
    from onboardkit.partners import PartnerCodeStore

__all__ = ["Conflict", "OutboxMail", "SigningKeyRow", "Store", "Transaction"]

T = TypeVar("T")


class Conflict(OnboardkitError):
    """A write lost a race (a unique key or a changed version); the step is run again."""

    default_message = message(
        "storage.conflict", "Someone else changed this at the same moment. Please try again."
    )


@attrs.frozen
class OutboxMail:
    """A rendered mail waiting in the outbox, and its delivery bookkeeping."""

    id: str
    tenant: str
    kind: str
    recipient: str
    subject: str
    text: str = attrs.field(repr=False)
    html: str | None = attrs.field(repr=False)
    created_at: float
    next_attempt_at: float
    attempts: int = 0
    sent_at: float | None = None
    last_error: str | None = None


@attrs.frozen
class SigningKeyRow:
    """A stored signing key for links (see :class:`onboardkit.tokens.KeyRing`)."""

    kid: str
    secret: bytes = attrs.field(repr=False)
    created_at: float


class Transaction(Protocol):
    """One database transaction, seen through the flows' needs."""

    @property
    def handle(self) -> object:
        """The store's own handle on this transaction, for a host's writes in the same step.

        What it is depends on the store: :class:`onboardkit.sqlstore.SqlStore` gives its
        :class:`sqlalchemy.engine.Connection` (join a host's ORM session to it with
        :func:`onboardkit.sqlstore.joined_session`); a store on a framework's ORM gives what that
        ORM names a transaction by, such as the Django database alias. Whatever is written
        through it commits with the step or rolls back with it.
        """

    # -- accounts ----------------------------------------------------------------------------

    def account(self, account_id: str, *, for_update: bool = False) -> Account | None:
        """The account with this id, locked against concurrent changes when ``for_update``."""

    def account_by_email(
        self, tenant: str, canonical_email: str, *, for_update: bool = False
    ) -> Account | None:
        """The tenant's account with this canonical address."""

    def insert_account(self, account: Account) -> None:
        """Add a new account. :raises Conflict: when the tenant already has the address."""

    def update_account(self, account: Account, *, expected_version: int) -> None:
        """Store ``account`` over the row whose version is ``expected_version``.

        :raises Conflict: when the row's version changed meanwhile (optimistic locking).
        """

    def delete_account(self, account_id: str) -> None: ...

    def accounts(
        self,
        tenant: str | None = None,
        *,
        status: AccountStatus | None = None,
        organization_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Account]:
        """Accounts, oldest first, filtered by tenant, status and organization."""

    def expired_accounts(self, now: float, limit: int = 500) -> Sequence[Account]:
        """Unclaimed accounts whose ``expires_at`` lies before ``now``."""

    # -- organizations -----------------------------------------------------------------------

    def insert_organization(self, organization: Organization) -> None: ...

    def organization(self, organization_id: str) -> Organization | None: ...

    # -- outbox ------------------------------------------------------------------------------

    def enqueue_mail(self, mail: OutboxMail) -> None:
        """Put a mail into the outbox; it is sent only if this transaction commits."""

    def claim_mail(self, now: float, lease: float, limit: int) -> Sequence[OutboxMail]:
        """Take up to ``limit`` due mails for sending, hidden from other workers for ``lease``.

        Concurrent workers never claim the same mail (``FOR UPDATE SKIP LOCKED`` where the
        database has it). Claiming counts an attempt.
        """

    def mark_mail_sent(self, mail_id: str, now: float) -> None: ...

    def mark_mail_failed(self, mail_id: str, error: str, next_attempt_at: float) -> None: ...

    def mails(
        self, tenant: str | None = None, *, limit: int = 100, unsent_only: bool = False
    ) -> Sequence[OutboxMail]:
        """Mails in the outbox, newest first."""

    def delete_sent_mail(self, sent_before: float) -> int:
        """Remove mails sent before the given time; returns how many."""

    # -- signing keys ------------------------------------------------------------------------

    def signing_keys(self) -> Sequence[SigningKeyRow]:
        """Stored signing keys, newest first."""

    def add_signing_key(self, key: SigningKeyRow) -> None: ...

    def delete_signing_key(self, kid: str) -> None:
        """Remove a retired key: links signed with it stop verifying."""

    # -- the building blocks' own stores, bound to this transaction --------------------------

    @property
    def consents(self) -> ConsentStore: ...

    @property
    def partner_codes(self) -> PartnerCodeStore: ...


class Store(Protocol):
    """A database the flows can run steps in."""

    def atomic(self, step: Callable[[Transaction], T], *, attempts: int = 5) -> T:
        """Run ``step`` in one transaction and commit; run it again after a :class:`Conflict`.

        Any other exception rolls the transaction back and propagates.
        """
