"""onboardkit's store on the Django ORM: :class:`DjangoStore`.

It keeps onboardkit's rows in the models of :mod:`onboardkit_django.models` (tables
``onboardkit_*``, created by the app's migrations) and runs every step of a flow in
:func:`django.db.transaction.atomic` on one database alias, through Django's own connections:
no second connection pool, and whatever the host writes through that alias inside a step (the
provisioning hook's Django user, say) commits with the step or rolls back with it.

The guarantees are :class:`onboardkit.sqlstore.SqlStore`'s, on SQLite, PostgreSQL and MariaDB:

* A step that lost a race runs again after a short random pause: a
  :class:`~onboardkit.storage.Conflict`, a unique key taken by a concurrent transaction (two
  registrations of one address), a serialization failure, a deadlock, or on SQLite a busy
  database. After the last attempt the :class:`~onboardkit.storage.Conflict` propagates.
* Locking reads use ``SELECT ... FOR UPDATE``; mail workers claim disjoint batches with ``FOR
  UPDATE SKIP LOCKED`` (PostgreSQL, MariaDB 10.6+), and on SQLite the write transaction keeps
  every other writer out.
* PostgreSQL and MariaDB run at ``READ COMMITTED``, Django's default on both (on MariaDB since
  Django 3.0; keep ``OPTIONS["isolation_level"]`` at ``"read committed"``): a step that runs again
  after a lost race must see the winner's row. SQLite needs ``OPTIONS["transaction_mode"] =
  "IMMEDIATE"`` (Django 5.1+), so a transaction takes the write lock when it begins rather than
  failing half-way through; the app's system checks say so.

Inside a transaction the host opened itself (``ATOMIC_REQUESTS``, a ``transaction.atomic``
block around the call), a step runs in a savepoint of it: its writes commit with the host's
transaction. A taken unique key still runs it again; a deadlock or serialization failure, which
ends the host's whole transaction on some databases, propagates as a
:class:`~onboardkit.storage.Conflict` at once.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Model, Q, QuerySet

from onboardkit.accounts import UNCLAIMED, Account, AccountStatus, Organization
from onboardkit.consent import GENESIS_HASH, ConsentRecord, StaleChainHead
from onboardkit.partners import PartnerCodeRecord
from onboardkit.ratelimits import RateLimitBackendError, window_start
from onboardkit.sqlstore import (
    account_from_row,
    account_values,
    consent_record_from_row,
    consent_record_values,
    mail_from_row,
    mail_values,
    organization_from_row,
    organization_values,
    partner_code_from_row,
    partner_code_values,
    signing_key_from_row,
)
from onboardkit.storage import Conflict, OutboxMail, SigningKeyRow
from onboardkit_django import models

if TYPE_CHECKING:
    from onboardkit.consent import ConsentStore
    from onboardkit.partners import PartnerCodeStore
    from onboardkit.ratelimits import RateLimitBackend
    from onboardkit.storage import Store, Transaction

__all__ = [
    "DjangoConsentStore",
    "DjangoPartnerCodeStore",
    "DjangoRateLimitBackend",
    "DjangoStore",
    "DjangoTransaction",
]

T = TypeVar("T")

# Error numbers that mean "lost a race, run again", by Django's vendor name.
_PG_UNIQUE_VIOLATION = "23505"
_PG_RETRYABLE = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_MYSQL_DUPLICATE_KEY = frozenset({1062, 1586})  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
_MYSQL_RETRYABLE = frozenset({1205, 1213})  # lock wait timeout, deadlock
_SQLITE_UNIQUE = frozenset({1555, 2067})  # SQLITE_CONSTRAINT_PRIMARYKEY, _UNIQUE
_SQLITE_RETRYABLE = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (primary codes)

_MAX_ERROR_LENGTH = 500
#: How often a rate-limit hit is tried after a deadlock or serialization failure.
_RATE_LIMIT_ATTEMPTS = 5
_BACKOFF_BASE = 0.005
_BACKOFF_CAP = 0.2

_CONSENT_COLUMNS = (
    "tenant",
    "sequence",
    "event",
    "subject",
    "subject_pseudonym",
    "purpose",
    "document_version",
    "text_sha256",
    "locale",
    "recorded_at_us",
    "method",
    "evidence",
    "evidence_digest",
    "prev_hash",
    "record_hash",
)
_PARTNER_CODE_COLUMNS = tuple(
    field.attname for field in models.PartnerCodeRow._meta.concrete_fields if field.name != "id"
)

# The steps running in this thread, by database alias: a store refuses to open a step inside
# another one on the same alias (it would be a savepoint of it, not a transaction to retry).
_running = threading.local()
# The connections steps used in threads other than the main one, closed when their thread ends.
_thread_connections = threading.local()
# SQLite lets one writer in at a time anyway: queueing this process's threads on a lock spares
# them SQLite's busy polling.
_sqlite_locks: dict[str, threading.RLock] = {}
_sqlite_locks_guard = threading.Lock()


class _ClosedWithThread:
    """Closes the database connections of a thread's steps when the thread ends.

    Django opens a connection per thread and closes it at the end of a request; threads that
    are not requests (a pool of mail workers, ``ThreadPoolExecutor`` jobs) would otherwise leave
    theirs open until the garbage collector finds them, holding a server session meanwhile.
    Python drops a thread's ``threading.local`` values when the thread ends, which calls
    ``__del__`` here, while the Django connection objects are still alive through this one.
    """

    def __init__(self) -> None:
        self.wrappers: dict[str, BaseDatabaseWrapper] = {}

    def __del__(self) -> None:
        for wrapper in self.wrappers.values():
            # Not wrapper.close(): that insists on the owning thread, which may be gone.
            driver = wrapper.connection
            if driver is not None:
                with suppress(Exception):
                    driver.close()


def _close_with_thread(using: str) -> None:
    if threading.current_thread() is threading.main_thread():
        return
    owner = getattr(_thread_connections, "owner", None)
    if owner is None:
        owner = _thread_connections.owner = _ClosedWithThread()
    owner.wrappers.setdefault(using, connections[using])


# -- what a database error means ------------------------------------------------------------------


def _driver_error(error: BaseException) -> BaseException | None:
    """The database driver's exception that Django wrapped (psycopg, PyMySQL, sqlite3)."""
    return error.__cause__


def _is_unique_violation(error: BaseException, vendor: str) -> bool:
    """Whether the database refused a row because its unique or primary key is taken."""
    original = _driver_error(error)
    if original is None:
        return False
    if vendor == "postgresql":
        return getattr(original, "sqlstate", None) == _PG_UNIQUE_VIOLATION
    if vendor == "sqlite":
        code = getattr(original, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code in _SQLITE_UNIQUE
        return str(original).startswith("UNIQUE constraint failed")
    return _mysql_errno(original) in _MYSQL_DUPLICATE_KEY


def _is_lost_race(error: BaseException, vendor: str) -> bool:
    """A deadlock, a serialization failure or a busy database: another try may succeed."""
    original = _driver_error(error)
    if original is None:
        return False
    if vendor == "postgresql":
        return getattr(original, "sqlstate", None) in _PG_RETRYABLE
    if vendor == "sqlite":
        code = getattr(original, "sqlite_errorcode", None)
        if isinstance(code, int):
            return (code & 0xFF) in _SQLITE_RETRYABLE
        return "is locked" in str(original)
    return _mysql_errno(original) in _MYSQL_RETRYABLE


def _mysql_errno(error: BaseException) -> int | None:
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


# -- rows <-> values ------------------------------------------------------------------------------


def _django_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The row values of onboardkit's mappers as Django takes them: SQL NULL is ``None``.

    (The mappers mark a JSON column's NULL as ``sa.null()``, which Django's JSONField stores
    for a ``None`` of its own.)
    """
    return {
        name: None if isinstance(value, sa.sql.elements.Null) else value
        for name, value in values.items()
    }


def _bounded_error(error: str) -> str:
    return error[:_MAX_ERROR_LENGTH]


@contextmanager
def _guarded_write(using: str, lost_race: Callable[[], Exception]) -> Iterator[None]:
    """A write that may meet a taken unique key, in a savepoint.

    A taken key raises ``lost_race()``; thanks to the savepoint the transaction stays usable
    (PostgreSQL would otherwise refuse every further statement), so a caller may catch it.
    """
    try:
        with transaction.atomic(using=using):
            yield
    except IntegrityError as error:
        if _is_unique_violation(error, connections[using].vendor):
            raise lost_race() from error
        raise


def _insert(using: str, row: Model, lost_race: Callable[[], Exception]) -> None:
    with _guarded_write(using, lost_race):
        row.save(using=using, force_insert=True)


# -- the building blocks' stores, bound to one transaction ----------------------------------------


class DjangoConsentStore:
    """The consent ledger's :class:`~onboardkit.consent.ConsentStore` in a step's transaction.

    Get it from :attr:`DjangoTransaction.consents`.
    """

    def __init__(self, using: str) -> None:
        self._using = using

    def _rows(self) -> QuerySet[models.ConsentRecordRow]:
        return models.ConsentRecordRow.objects.using(self._using)

    def head(self, tenant: str) -> ConsentRecord | None:
        row = self._rows().filter(tenant=tenant).order_by("-sequence").values(*_CONSENT_COLUMNS)
        found = row.first()
        return None if found is None else consent_record_from_row(found)

    def append(self, record: ConsentRecord) -> None:
        """Add ``record`` if it continues the chain's head, else raise ``StaleChainHead``.

        The previous record's hash is checked here; the unique key on ``(tenant, sequence)``
        refuses a second record at the same position, also one a concurrent transaction is
        about to commit (the insert waits for it).
        """
        if record.sequence < 1:
            raise StaleChainHead()
        if record.sequence == 1:
            previous: str | None = GENESIS_HASH
        else:
            previous = (
                self._rows()
                .filter(tenant=record.tenant, sequence=record.sequence - 1)
                .values_list("record_hash", flat=True)
                .first()
            )
        if previous is None or previous != record.prev_hash:
            raise StaleChainHead()
        row = models.ConsentRecordRow(**_django_values(consent_record_values(record)))
        _insert(self._using, row, StaleChainHead)

    def records(self, tenant: str, pseudonym: str | None = None) -> Sequence[ConsentRecord]:
        rows = self._rows().filter(tenant=tenant)
        if pseudonym is not None:
            rows = rows.filter(subject_pseudonym=pseudonym)
        return [
            consent_record_from_row(row)
            for row in rows.order_by("sequence").values(*_CONSENT_COLUMNS)
        ]

    def erase(self, tenant: str, pseudonym: str, through_sequence: int) -> int:
        erased: int = (
            self._rows()
            .filter(
                Q(subject__isnull=False) | Q(evidence__isnull=False),
                tenant=tenant,
                subject_pseudonym=pseudonym,
                sequence__lte=through_sequence,
            )
            .update(subject=None, evidence=None)
        )
        return erased


class DjangoPartnerCodeStore:
    """The partner registry's :class:`~onboardkit.partners.PartnerCodeStore` in a step's
    transaction. Get it from :attr:`DjangoTransaction.partner_codes`."""

    def __init__(self, using: str) -> None:
        self._using = using

    def _codes(self, tenant: str, digest: str) -> QuerySet[models.PartnerCodeRow]:
        codes: QuerySet[models.PartnerCodeRow] = models.PartnerCodeRow.objects.using(
            self._using
        ).filter(tenant=tenant, digest=digest)
        return codes

    def add(self, record: PartnerCodeRecord) -> None:
        """Store a new code. :raises Conflict: when the tenant has a code with this digest."""
        if record.partner.tenant != record.tenant:
            raise ValueError("a partner code's partner must belong to the code's tenant")
        row = models.PartnerCodeRow(**_django_values(partner_code_values(record)))
        _insert(self._using, row, Conflict)

    def find(self, tenant: str, digest: str) -> PartnerCodeRecord | None:
        row = self._codes(tenant, digest).values(*_PARTNER_CODE_COLUMNS).first()
        return None if row is None else partner_code_from_row(row)

    def consume(self, tenant: str, digest: str, now: float) -> bool:
        # Check and count in one statement: concurrent sign-ups wait for each other's row
        # lock and then see the new count, so a code is never used beyond its limit.
        used: int = (
            self._codes(tenant, digest)
            .filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")),
                revoked_at__isnull=True,
            )
            .update(uses=F("uses") + 1)
        )
        return used == 1

    def revoke(self, tenant: str, digest: str, now: float) -> bool:
        revoked: int = (
            self._codes(tenant, digest).filter(revoked_at__isnull=True).update(revoked_at=now)
        )
        return revoked == 1


# -- the transaction ------------------------------------------------------------------------------


class DjangoTransaction:
    """One step's transaction of a :class:`DjangoStore`: an
    :class:`onboardkit.storage.Transaction`. Only valid inside the step it is handed to."""

    def __init__(self, using: str) -> None:
        self._using = using
        self._consents = DjangoConsentStore(using)
        self._partner_codes = DjangoPartnerCodeStore(using)

    @property
    def handle(self) -> str:
        """The Django database alias of this transaction: what a host writes through
        (``instance.save(using=transaction.handle)``) commits with the step."""
        return self._using

    @property
    def using(self) -> str:
        """The Django database alias (the same as :attr:`handle`)."""
        return self._using

    def _accounts(self) -> QuerySet[models.AccountRow]:
        return models.AccountRow.objects.using(self._using)

    def _mails(self) -> QuerySet[models.OutboxMailRow]:
        return models.OutboxMailRow.objects.using(self._using)

    def _keys(self) -> QuerySet[models.SigningKeyRow]:
        return models.SigningKeyRow.objects.using(self._using)

    # -- accounts ---------------------------------------------------------------------------------

    @staticmethod
    def _one_account(rows: QuerySet[models.AccountRow], for_update: bool) -> Account | None:
        if for_update:
            rows = rows.select_for_update()
        found = rows.values().first()
        return None if found is None else account_from_row(found)

    def account(self, account_id: str, *, for_update: bool = False) -> Account | None:
        return self._one_account(self._accounts().filter(id=account_id), for_update)

    def account_by_email(
        self, tenant: str, canonical_email: str, *, for_update: bool = False
    ) -> Account | None:
        rows = self._accounts().filter(tenant=tenant, canonical_email=canonical_email)
        return self._one_account(rows, for_update)

    def insert_account(self, account: Account) -> None:
        """Add a new account. :raises Conflict: when the tenant already has the address."""
        row = models.AccountRow(**_django_values(account_values(account)))
        _insert(self._using, row, Conflict)

    def update_account(self, account: Account, *, expected_version: int) -> None:
        """Store ``account`` over the row at ``expected_version``; else raise ``Conflict``."""
        values = _django_values(account_values(account))
        del values["id"]
        with _guarded_write(self._using, Conflict):
            updated = (
                self._accounts().filter(id=account.id, version=expected_version).update(**values)
            )
        if updated != 1:
            raise Conflict()

    def delete_account(self, account_id: str) -> None:
        self._accounts().filter(id=account_id).delete()

    def accounts(
        self,
        tenant: str | None = None,
        *,
        status: AccountStatus | None = None,
        organization_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Account]:
        rows = self._accounts()
        if tenant is not None:
            rows = rows.filter(tenant=tenant)
        if status is not None:
            rows = rows.filter(status=AccountStatus(status).value)
        if organization_id is not None:
            rows = rows.filter(organization_id=organization_id)
        page = rows.order_by("created_at", "id").values()[offset : offset + limit]
        return [account_from_row(row) for row in page]

    def expired_accounts(self, now: float, limit: int = 500) -> Sequence[Account]:
        rows = self._accounts().filter(
            status__in=sorted(status.value for status in UNCLAIMED),
            expires_at__isnull=False,
            expires_at__lt=now,
        )
        return [account_from_row(row) for row in rows.order_by("expires_at", "id").values()[:limit]]

    # -- organizations ----------------------------------------------------------------------------

    def insert_organization(self, organization: Organization) -> None:
        row = models.OrganizationRow(**_django_values(organization_values(organization)))
        _insert(self._using, row, Conflict)

    def organization(self, organization_id: str) -> Organization | None:
        row = (
            models.OrganizationRow.objects.using(self._using)
            .filter(id=organization_id)
            .values()
            .first()
        )
        return None if row is None else organization_from_row(row)

    # -- outbox -----------------------------------------------------------------------------------

    def enqueue_mail(self, mail: OutboxMail) -> None:
        models.OutboxMailRow(**_django_values(mail_values(mail))).save(
            using=self._using, force_insert=True
        )

    def claim_mail(self, now: float, lease: float, limit: int) -> Sequence[OutboxMail]:
        """Take up to ``limit`` due mails, oldest due first, and hide them for ``lease`` seconds.

        PostgreSQL and MariaDB 10.6+ lock the chosen rows with ``FOR UPDATE SKIP LOCKED``, so
        concurrent workers take disjoint batches without waiting for each other; an older
        MariaDB waits for the other worker's lock and then skips what it claimed. On SQLite the
        write transaction already keeps everyone else out.
        """
        due = self._mails().filter(sent_at__isnull=True, next_attempt_at__lte=now)
        features = connections[self._using].features
        if features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        elif features.has_select_for_update:
            due = due.select_for_update()
        ids = list(due.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        self._mails().filter(id__in=ids).update(
            next_attempt_at=now + lease, attempts=F("attempts") + 1
        )
        claimed = {
            row["id"]: mail_from_row(row) for row in self._mails().filter(id__in=ids).values()
        }
        return [claimed[mail_id] for mail_id in ids]

    def mark_mail_sent(self, mail_id: str, now: float) -> None:
        self._mails().filter(id=mail_id).update(sent_at=now, last_error=None)

    def mark_mail_failed(self, mail_id: str, error: str, next_attempt_at: float) -> None:
        self._mails().filter(id=mail_id).update(
            last_error=_bounded_error(error), next_attempt_at=next_attempt_at
        )

    def mails(
        self, tenant: str | None = None, *, limit: int = 100, unsent_only: bool = False
    ) -> Sequence[OutboxMail]:
        rows = self._mails()
        if tenant is not None:
            rows = rows.filter(tenant=tenant)
        if unsent_only:
            rows = rows.filter(sent_at__isnull=True)
        return [mail_from_row(row) for row in rows.order_by("-created_at", "-id").values()[:limit]]

    def delete_sent_mail(self, sent_before: float) -> int:
        deleted: int
        deleted, _ = self._mails().filter(sent_at__isnull=False, sent_at__lt=sent_before).delete()
        return deleted

    # -- signing keys -----------------------------------------------------------------------------

    def signing_keys(self) -> Sequence[SigningKeyRow]:
        rows = self._keys().order_by("-created_at", "-kid").values()
        return [signing_key_from_row(row) for row in rows]

    def add_signing_key(self, key: SigningKeyRow) -> None:
        """Store a new key. :raises Conflict: when a key with its ``kid`` exists."""
        row = models.SigningKeyRow(kid=key.kid, secret=key.secret, created_at=key.created_at)
        _insert(self._using, row, Conflict)

    def delete_signing_key(self, kid: str) -> None:
        self._keys().filter(kid=kid).delete()

    # -- the building blocks' own stores ----------------------------------------------------------

    @property
    def consents(self) -> DjangoConsentStore:
        return self._consents

    @property
    def partner_codes(self) -> DjangoPartnerCodeStore:
        return self._partner_codes


# -- the store ------------------------------------------------------------------------------------


class DjangoStore:
    """onboardkit's store on the Django ORM, on the database alias ``using`` (see the module
    documentation). Its tables come with the app's migrations (``manage.py migrate``)."""

    def __init__(self, using: str = "default") -> None:
        self._using = using

    def __repr__(self) -> str:
        return f"{type(self).__name__}(using={self._using!r})"

    @property
    def using(self) -> str:
        """The Django database alias the store works on."""
        return self._using

    @contextmanager
    def _serialized(self, vendor: str, in_host_transaction: bool) -> Iterator[None]:
        # Inside the host's transaction the connection may hold SQLite's write lock already:
        # queueing on the lock then would make another thread's step wait for both.
        if vendor != "sqlite" or in_host_transaction:
            yield
            return
        with _sqlite_locks_guard:
            lock = _sqlite_locks.setdefault(self._using, threading.RLock())
        with lock:
            yield

    def atomic(self, step: Callable[[DjangoTransaction], T], *, attempts: int = 5) -> T:
        """Run ``step`` in one transaction and commit; run it again after a lost race.

        A :class:`~onboardkit.storage.Conflict` raised in the step, a unique key taken by a
        concurrent transaction, a serialization failure, a deadlock or a busy SQLite database
        roll the transaction back and, after a short random pause, run the step again in a new
        one, at most ``attempts`` times in all; then the :class:`~onboardkit.storage.Conflict`
        propagates. Any other exception rolls back and propagates at once.

        :raises RuntimeError: when called inside a step on the same alias (use its transaction).
        """
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        running: set[str] = getattr(_running, "aliases", set())
        if self._using in running:
            # A second transaction from inside a step would be a savepoint of the first, or on
            # another connection wait for the first one's locks.
            raise RuntimeError("DjangoStore.atomic() was called inside a step; use its transaction")
        connection = connections[self._using]
        vendor = connection.vendor
        _close_with_thread(self._using)
        # Inside the host's own transaction, a lost race other than a taken key may have ended
        # that transaction as a whole: it cannot be run again from here.
        in_host_transaction = connection.in_atomic_block
        for attempt in range(1, attempts + 1):
            try:
                with (
                    self._serialized(vendor, in_host_transaction),
                    transaction.atomic(using=self._using),
                ):
                    _running.aliases = running | {self._using}
                    try:
                        return step(DjangoTransaction(self._using))
                    finally:
                        _running.aliases = running
            except Conflict:
                if attempt == attempts:
                    raise
            except DatabaseError as error:
                if _is_unique_violation(error, vendor):
                    if attempt == attempts:
                        raise Conflict() from error
                elif _is_lost_race(error, vendor):
                    if attempt == attempts or in_host_transaction:
                        raise Conflict() from error
                else:
                    raise
            _pause(attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _pause(attempt: int) -> None:
    """A random pause that grows with the attempt, so racing steps stop colliding."""
    ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt)
    time.sleep(secrets.randbelow(int(ceiling * 1_000_000) + 1) / 1_000_000)


# -- rate-limit counters --------------------------------------------------------------------------


class DjangoRateLimitBackend:
    """The rate limiter's counters in ``onboardkit_rate_limits`` through the Django ORM: an
    :class:`onboardkit.ratelimits.RateLimitBackend` on the same database alias as the store.

    One row per key and window (``<key>:<window start>``). A hit counts with an ``UPDATE ...
    SET count = count + 1`` and inserts the row when there is none; of two first hits at once,
    the second meets the taken key in a savepoint and counts on the first one's row. The row
    lock the update takes keeps the read of the new count to this hit. A deadlock or
    serialization failure is tried again; any other database error, and the last failed try,
    raise :class:`~onboardkit.ratelimits.RateLimitBackendError`, so the limiter applies its
    failure policy. :meth:`purge` deletes counters no window reads any more.
    """

    def __init__(self, using: str = "default") -> None:
        self._using = using

    def __repr__(self) -> str:
        return f"{type(self).__name__}(using={self._using!r})"

    def _counters(self) -> QuerySet[models.RateLimitRow]:
        rows: QuerySet[models.RateLimitRow] = models.RateLimitRow.objects.using(self._using)
        return rows

    def _run(self, work: Callable[[], T]) -> T:
        vendor = connections[self._using].vendor
        _close_with_thread(self._using)
        for attempt in range(1, _RATE_LIMIT_ATTEMPTS + 1):
            try:
                with transaction.atomic(using=self._using):
                    return work()
            except DatabaseError as error:
                if attempt < _RATE_LIMIT_ATTEMPTS and _is_lost_race(error, vendor):
                    _pause(attempt)
                    continue
                raise RateLimitBackendError() from error
        raise AssertionError("unreachable: the last attempt returns or raises")

    def hit(self, key: str, window: int, now: float) -> int:
        start = window_start(now, window)
        row_key = f"{key}:{start}"
        expires_at = float(start + 2 * window)

        def count_one() -> int:
            counters = self._counters().filter(key=row_key)
            if not counters.update(count=F("count") + 1):
                try:
                    with transaction.atomic(using=self._using):
                        models.RateLimitRow(key=row_key, count=1, expires_at=expires_at).save(
                            using=self._using, force_insert=True
                        )
                    return 1
                except IntegrityError as error:
                    if not _is_unique_violation(error, connections[self._using].vendor):
                        raise
                    counters.update(count=F("count") + 1)
            counted: int = counters.values_list("count", flat=True).get()
            return counted

        return self._run(count_one)

    def count(self, key: str, window: int, now: float) -> int:
        row_key = f"{key}:{window_start(now, window)}"

        def read() -> int:
            found: int | None = (
                self._counters().filter(key=row_key).values_list("count", flat=True).first()
            )
            return found or 0

        return self._run(read)

    def reset(self, key: str) -> None:
        self._run(lambda: self._counters().filter(key__startswith=f"{key}:").delete())

    def purge(self, now: float) -> int:
        """Delete counters no window can read any more; return how many."""

        def delete() -> int:
            deleted: int
            deleted, _ = self._counters().filter(expires_at__lt=now).delete()
            return deleted

        return self._run(delete)


if TYPE_CHECKING:
    # mypy checks here that the classes implement the protocols completely.
    def _protocol_checks(
        store: DjangoStore, transaction: DjangoTransaction
    ) -> tuple[Store, Transaction, ConsentStore, PartnerCodeStore, RateLimitBackend]:
        return (
            store,
            transaction,
            transaction.consents,
            transaction.partner_codes,
            DjangoRateLimitBackend(),
        )
