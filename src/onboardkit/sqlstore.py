"""The SQL store: :class:`onboardkit.storage.Store` on SQLAlchemy 2 Core.

One implementation for three databases, with the tables of :mod:`onboardkit.schema`:

* **SQLite**, the embedded default (``sqlite:///onboardkit.db``; ``sqlite://`` keeps it in memory
  for tests). Every transaction starts with ``BEGIN IMMEDIATE``, so writers in several threads
  and processes queue up for the database lock (waiting up to ``busy_timeout``) instead of
  failing with "database is locked" half-way through; within one process the store also queues
  them on a lock, which spares them SQLite's polling. Foreign keys are switched on, and a file
  is switched to write-ahead logging (one sync per commit).
* **PostgreSQL** through psycopg 3 (``postgresql+psycopg://``).
* **MariaDB** 10.6 or later through PyMySQL (``mysql+pymysql://``).

``SqlStore(engine)`` adopts an engine the host made, with the same guarantees for onboardkit's
transactions and without touching the host's own (see :class:`SqlStore`).

PostgreSQL and MariaDB both run at ``READ COMMITTED``. MariaDB's default, ``REPEATABLE READ``,
would let a step that lost a race keep reading its old snapshot, so a consent append that met a
moved chain head would retry on the same stale head forever; with ``READ COMMITTED`` every
statement sees what was committed before it, on both databases alike, and ``FOR UPDATE SKIP
LOCKED`` gives concurrent mail workers disjoint batches.

:meth:`SqlStore.atomic` runs a step in one transaction and runs it again, after a short random
pause, when the database reports a lost race: a unique key taken by a concurrent transaction (two
registrations of one address), a serialization failure or a deadlock. Those surface as
:class:`onboardkit.storage.Conflict`; after the last attempt the conflict propagates.

:meth:`SqlStore.migrate` brings the tables up to date with the Alembic migrations shipped in
``onboardkit/migrations``; their version is kept in ``onboardkit_alembic_version``, apart from a
host application's own ``alembic_version``.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import StaticPool

from onboardkit import schema
from onboardkit.accounts import UNCLAIMED, Account, AccountStatus, Organization
from onboardkit.consent import GENESIS_HASH, ConsentRecord, StaleChainHead
from onboardkit.errors import ConfigurationError, message
from onboardkit.partners import Partner, PartnerCodeRecord
from onboardkit.storage import Conflict, OutboxMail, SigningKeyRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from onboardkit.consent import ConsentStore
    from onboardkit.partners import PartnerCodeStore
    from onboardkit.storage import Store, Transaction

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "SqlConsentStore",
    "SqlPartnerCodeStore",
    "SqlStore",
    "SqlTransaction",
    "account_from_row",
    "account_values",
    "alembic_options",
    "consent_record_from_row",
    "consent_record_values",
    "host_include_name",
    "host_include_object",
    "joined_session",
    "mail_from_row",
    "mail_values",
    "organization_from_row",
    "organization_values",
    "partner_code_from_row",
    "partner_code_values",
    "signing_key_from_row",
]

T = TypeVar("T")

#: Where the Alembic environment and its versions live, inside the installed package.
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Alembic's version table for onboardkit's tables; a host's own ``alembic_version`` stays apart.
VERSION_TABLE = "onboardkit_alembic_version"
#: Every table onboardkit owns starts with this.
TABLE_PREFIX = "onboardkit_"

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")
_STORAGE_KEYS = frozenset({"url", "busy_timeout", "wal", "pool_size"})

# Advisory lock that lets one process at a time migrate (PostgreSQL: a bigint; MariaDB: a name).
_MIGRATION_LOCK_NAME = "onboardkit.migrate"
_MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(_MIGRATION_LOCK_NAME.encode()).digest()[:8], "big", signed=True
)
_MIGRATION_LOCK_TIMEOUT = 300

# Error numbers that mean "lost a race, run again".
_PG_UNIQUE_VIOLATION = "23505"
_PG_RETRYABLE = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_MYSQL_DUPLICATE_KEY = frozenset({1062, 1586})  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
_MYSQL_RETRYABLE = frozenset({1205, 1213})  # lock wait timeout, deadlock
_SQLITE_UNIQUE = frozenset({1555, 2067})  # SQLITE_CONSTRAINT_PRIMARYKEY, _UNIQUE
_SQLITE_RETRYABLE = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (primary codes)

# An execution option that marks the engines SqlStore.from_url made: they carry onboardkit's
# set-up already, where an engine the host made is adopted (see SqlStore.__init__).
_OWN_ENGINE = "onboardkit_store_engine"

CONNECTION_GIVEN = message(
    "sqlstore.connection_given",
    "is a SQLAlchemy Connection, but onboardkit runs every step in a transaction of its own, "
    "which it commits, rolls back and runs again after a lost race; pass the Engine "
    "(connection.engine) instead. A host's own writes join a step's transaction in the "
    "provisioning hook.",
)
NOT_AN_ENGINE = message(
    "sqlstore.not_an_engine", "must be a SQLAlchemy Engine, such as create_engine() makes"
)

_MAX_ERROR_LENGTH = 500
_BACKOFF_BASE = 0.005
_BACKOFF_CAP = 0.2


# -- rows <-> values ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready copy: read-only mappings and tuples become dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _json_or_null(value: Any) -> Any:
    # Without sa.null(), a JSON column stores Python None as the JSON text 'null', not SQL NULL.
    return sa.null() if value is None else _plain(value)


def _time(value: Any) -> float:
    return float(value)


def _optional_time(value: Any) -> float | None:
    return None if value is None else float(value)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def _microseconds(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no detour through a float)."""
    return (moment.astimezone(timezone.utc) - _EPOCH) // _MICROSECOND


def _moment(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(microseconds))


def account_values(account: Account) -> dict[str, Any]:
    """The column values of ``account``'s row."""
    return {
        "id": account.id,
        "tenant": account.tenant,
        "flow": account.flow.value,
        "status": account.status.value,
        "email": account.email,
        "canonical_email": account.canonical_email,
        "locale": account.locale,
        "password_hash": account.password_hash,
        "profile": _plain(account.profile),
        "fields": _plain(account.fields),
        "user_type": account.user_type,
        "roles": list(account.roles),
        "organization_id": account.organization_id,
        "partner": _json_or_null(account.partner),
        "invited_by": account.invited_by,
        "reviewed_by": account.reviewed_by,
        "rejection_reason": account.rejection_reason,
        "pending_consents": _json_or_null(account.pending_consents),
        "created_at": account.created_at,
        "updated_at": account.updated_at,
        "confirmed_at": account.confirmed_at,
        "decided_at": account.decided_at,
        "expires_at": account.expires_at,
        "version": account.version,
    }


def account_from_row(row: Mapping[Any, Any]) -> Account:
    """The :class:`~onboardkit.accounts.Account` an ``onboardkit_accounts`` row holds."""
    return Account(
        id=row["id"],
        tenant=row["tenant"],
        flow=row["flow"],
        status=row["status"],
        email=row["email"],
        canonical_email=row["canonical_email"],
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        locale=row["locale"],
        password_hash=row["password_hash"],
        profile=row["profile"],
        fields=row["fields"],
        user_type=row["user_type"],
        roles=tuple(row["roles"] or ()),
        organization_id=row["organization_id"],
        partner=row["partner"],
        invited_by=row["invited_by"],
        reviewed_by=row["reviewed_by"],
        rejection_reason=row["rejection_reason"],
        pending_consents=row["pending_consents"],
        confirmed_at=_optional_time(row["confirmed_at"]),
        decided_at=_optional_time(row["decided_at"]),
        expires_at=_optional_time(row["expires_at"]),
        version=int(row["version"]),
    )


def organization_values(organization: Organization) -> dict[str, Any]:
    """The column values of ``organization``'s row."""
    return {
        "id": organization.id,
        "tenant": organization.tenant,
        "name": organization.name,
        "data": _plain(organization.data),
        "created_at": organization.created_at,
    }


def organization_from_row(row: Mapping[Any, Any]) -> Organization:
    """The :class:`~onboardkit.accounts.Organization` of an ``onboardkit_organizations`` row."""
    return Organization(
        id=row["id"],
        tenant=row["tenant"],
        name=row["name"],
        data=row["data"],
        created_at=_time(row["created_at"]),
    )


def mail_values(mail: OutboxMail) -> dict[str, Any]:
    """The column values of ``mail``'s outbox row."""
    return {
        "id": mail.id,
        "tenant": mail.tenant,
        "kind": mail.kind,
        "recipient": mail.recipient,
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
        "created_at": mail.created_at,
        "next_attempt_at": mail.next_attempt_at,
        "attempts": mail.attempts,
        "sent_at": mail.sent_at,
        "last_error": _bounded_error(mail.last_error),
    }


def mail_from_row(row: Mapping[Any, Any]) -> OutboxMail:
    """The :class:`~onboardkit.storage.OutboxMail` of an ``onboardkit_outbox`` row."""
    return OutboxMail(
        id=row["id"],
        tenant=row["tenant"],
        kind=row["kind"],
        recipient=row["recipient"],
        subject=row["subject"],
        text=row["text"],
        html=row["html"],
        created_at=_time(row["created_at"]),
        next_attempt_at=_time(row["next_attempt_at"]),
        attempts=int(row["attempts"]),
        sent_at=_optional_time(row["sent_at"]),
        last_error=row["last_error"],
    )


def signing_key_from_row(row: Mapping[Any, Any]) -> SigningKeyRow:
    """The :class:`~onboardkit.storage.SigningKeyRow` of an ``onboardkit_signing_keys`` row."""
    return SigningKeyRow(
        kid=row["kid"], secret=bytes(row["secret"]), created_at=_time(row["created_at"])
    )


def consent_record_values(record: ConsentRecord) -> dict[str, Any]:
    """The column values of ``record``'s row; the time is kept to the microsecond."""
    return {
        "tenant": record.tenant,
        "sequence": record.sequence,
        "event": record.event.value,
        "subject": record.subject,
        "subject_pseudonym": record.subject_pseudonym,
        "purpose": record.purpose,
        "document_version": record.document_version,
        "text_sha256": record.text_sha256,
        "locale": record.locale,
        "recorded_at_us": _microseconds(record.recorded_at),
        "method": record.method,
        "evidence": _json_or_null(record.evidence),
        "evidence_digest": record.evidence_digest,
        "prev_hash": record.prev_hash,
        "record_hash": record.record_hash,
    }


def consent_record_from_row(row: Mapping[Any, Any]) -> ConsentRecord:
    """The :class:`~onboardkit.consent.ConsentRecord` of an ``onboardkit_consent_records`` row."""
    fields = {name: row[name] for name in row if name != "recorded_at_us"}
    fields["recorded_at"] = _moment(row["recorded_at_us"])
    return ConsentRecord.from_row(fields)


def partner_code_values(record: PartnerCodeRecord) -> dict[str, Any]:
    """The column values of a partner code's row (its partner is stored alongside)."""
    return {
        "tenant": record.tenant,
        "digest": record.digest,
        "hint": record.hint,
        "partner_id": record.partner.id,
        "partner_name": record.partner.name,
        "partner_source": record.partner.source,
        "partner_details": _plain(record.partner.details),
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "max_uses": record.max_uses,
        "uses": record.uses,
        "revoked_at": record.revoked_at,
    }


def partner_code_from_row(row: Mapping[Any, Any]) -> PartnerCodeRecord:
    """The :class:`~onboardkit.partners.PartnerCodeRecord` of a partner code's row."""
    return PartnerCodeRecord(
        tenant=row["tenant"],
        digest=row["digest"],
        hint=row["hint"],
        partner=Partner(
            id=row["partner_id"],
            name=row["partner_name"],
            tenant=row["tenant"],
            source=row["partner_source"],
            details=row["partner_details"],
        ),
        created_at=_time(row["created_at"]),
        expires_at=_optional_time(row["expires_at"]),
        max_uses=None if row["max_uses"] is None else int(row["max_uses"]),
        uses=int(row["uses"]),
        revoked_at=_optional_time(row["revoked_at"]),
    )


def _bounded_error(error: str | None) -> str | None:
    return None if error is None else error[:_MAX_ERROR_LENGTH]


# -- what a database error means ------------------------------------------------------------------


def _sqlstate(error: BaseException) -> str | None:
    # psycopg 3 names it sqlstate, psycopg2 pgcode. (PyMySQL has a sqlstate too, but a coarse
    # one: 23000 for every integrity error; its error number tells them apart.)
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return state if isinstance(state, str) else None


def _mysql_errno(error: BaseException) -> int | None:
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _sqlite_code(error: BaseException) -> int | None:
    # sqlite_errorcode exists from Python 3.11 on; on 3.10 the message is all there is.
    code = getattr(error, "sqlite_errorcode", None)
    return code if isinstance(code, int) else None


def _is_unique_violation(error: sa.exc.DBAPIError, dialect: str) -> bool:
    """Whether the database refused a row because its unique or primary key is taken."""
    original = error.orig
    if original is None:
        return False
    if dialect == "postgresql":
        return _sqlstate(original) == _PG_UNIQUE_VIOLATION
    if dialect == "sqlite":
        code = _sqlite_code(original)
        if code is not None:
            return code in _SQLITE_UNIQUE
        return str(original).startswith("UNIQUE constraint failed")
    return _mysql_errno(original) in _MYSQL_DUPLICATE_KEY


def _is_retryable(error: sa.exc.DBAPIError, dialect: str) -> bool:
    """Whether running the transaction again may succeed: a lost race, not a mistake."""
    if _is_unique_violation(error, dialect):
        return True
    original = error.orig
    if original is None:
        return False
    if dialect == "postgresql":
        return _sqlstate(original) in _PG_RETRYABLE
    if dialect == "sqlite":
        code = _sqlite_code(original)
        if code is not None:
            return (code & 0xFF) in _SQLITE_RETRYABLE
        return "is locked" in str(original)
    return _mysql_errno(original) in _MYSQL_RETRYABLE


def _guarded_write(
    connection: sa.Connection,
    statement: sa.Insert | sa.Update,
    lost_race: Callable[[], Exception],
    parameters: Mapping[str, Any] | None = None,
) -> sa.CursorResult[Any]:
    """Run a write that may meet a taken unique key, inside a savepoint.

    A taken key raises ``lost_race()``; thanks to the savepoint the transaction stays usable
    (PostgreSQL would otherwise refuse every further statement), so a caller may catch it.
    """
    try:
        with connection.begin_nested():
            return connection.execute(statement, parameters)
    except sa.exc.IntegrityError as error:
        if _is_unique_violation(error, connection.dialect.name):
            raise lost_race() from error
        raise


def _supports_skip_locked(connection: sa.Connection) -> bool:
    dialect = connection.dialect
    if dialect.name == "postgresql":
        return True
    if dialect.name in ("mysql", "mariadb"):
        version = dialect.server_version_info or ()
        if getattr(dialect, "is_mariadb", False):
            return version >= (10, 6)
        return version >= (8, 0, 1)
    return False


# -- the building blocks' stores, bound to one transaction ----------------------------------------

# The writes of every flow, built once with their values passed at execution: SQLAlchemy then
# reuses each statement's cache key and compiled form, where building the statement with its
# values on every call took most of the write's time. (A JSON column's ``sa.null()`` parameter
# is still SQL NULL.)
_INSERT_ACCOUNT: Final = sa.insert(schema.accounts)
_UPDATE_ACCOUNT: Final = sa.update(schema.accounts).where(
    schema.accounts.c.id == sa.bindparam("match_id"),
    schema.accounts.c.version == sa.bindparam("match_version"),
)
_INSERT_MAIL: Final = sa.insert(schema.outbox)
_INSERT_CONSENT_RECORD: Final = sa.insert(schema.consent_records)
# Likewise the reads of every flow, keyed by whether they lock the rows they read.
_ACCOUNT_BY_ID: Final = sa.select(schema.accounts).where(
    schema.accounts.c.id == sa.bindparam("account_id")
)
_ACCOUNT_BY_EMAIL: Final = sa.select(schema.accounts).where(
    schema.accounts.c.tenant == sa.bindparam("tenant"),
    schema.accounts.c.canonical_email == sa.bindparam("canonical_email"),
)
_ACCOUNT_QUERIES: Final = {
    (query, lock): query.with_for_update() if lock else query
    for query in (_ACCOUNT_BY_ID, _ACCOUNT_BY_EMAIL)
    for lock in (False, True)
}
_CONSENT_HEAD: Final = (
    sa.select(schema.consent_records)
    .where(schema.consent_records.c.tenant == sa.bindparam("tenant"))
    .order_by(schema.consent_records.c.sequence.desc())
    .limit(1)
)
_CONSENT_RECORD_HASH: Final = sa.select(schema.consent_records.c.record_hash).where(
    schema.consent_records.c.tenant == sa.bindparam("tenant"),
    schema.consent_records.c.sequence == sa.bindparam("sequence"),
)


class SqlConsentStore:
    """The consent ledger's :class:`~onboardkit.consent.ConsentStore` in one transaction.

    Get it from :attr:`SqlTransaction.consents`; :meth:`SqlStore.consent_store` gives one that
    runs each call in a transaction of its own.
    """

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def head(self, tenant: str) -> ConsentRecord | None:
        row = self._connection.execute(_CONSENT_HEAD, {"tenant": tenant}).mappings().first()
        return None if row is None else consent_record_from_row(row)

    def append(self, record: ConsentRecord) -> None:
        """Add ``record`` if it continues the chain's head, else raise ``StaleChainHead``.

        The previous record's hash is checked here; the primary key on ``(tenant, sequence)``
        refuses a second record at the same position, also one a concurrent transaction is
        about to commit (the insert waits for it).
        """
        if record.sequence < 1:
            raise StaleChainHead()
        if record.sequence == 1:
            previous: str | None = GENESIS_HASH
        else:
            previous = self._connection.execute(
                _CONSENT_RECORD_HASH, {"tenant": record.tenant, "sequence": record.sequence - 1}
            ).scalar_one_or_none()
        if previous is None or previous != record.prev_hash:
            raise StaleChainHead()
        _guarded_write(
            self._connection, _INSERT_CONSENT_RECORD, StaleChainHead, consent_record_values(record)
        )

    def records(self, tenant: str, pseudonym: str | None = None) -> Sequence[ConsentRecord]:
        table = schema.consent_records
        query = sa.select(table).where(table.c.tenant == tenant)
        if pseudonym is not None:
            query = query.where(table.c.subject_pseudonym == pseudonym)
        rows = self._connection.execute(query.order_by(table.c.sequence)).mappings()
        return [consent_record_from_row(row) for row in rows]

    def erase(self, tenant: str, pseudonym: str, through_sequence: int) -> int:
        table = schema.consent_records
        result = self._connection.execute(
            sa.update(table)
            .where(
                table.c.tenant == tenant,
                table.c.subject_pseudonym == pseudonym,
                table.c.sequence <= through_sequence,
                sa.or_(table.c.subject.is_not(None), table.c.evidence.is_not(None)),
            )
            .values(subject=None, evidence=sa.null())
        )
        return int(result.rowcount)


class SqlPartnerCodeStore:
    """The partner registry's :class:`~onboardkit.partners.PartnerCodeStore` in one transaction.

    Get it from :attr:`SqlTransaction.partner_codes`; :meth:`SqlStore.partner_code_store` gives
    one that runs each call in a transaction of its own (what a long-lived
    :class:`~onboardkit.partners.PartnerRegistry` needs).
    """

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def add(self, record: PartnerCodeRecord) -> None:
        """Store a new code. :raises Conflict: when the tenant has a code with this digest."""
        if record.partner.tenant != record.tenant:
            raise ValueError("a partner code's partner must belong to the code's tenant")
        _guarded_write(
            self._connection,
            sa.insert(schema.partner_codes).values(partner_code_values(record)),
            Conflict,
        )

    def find(self, tenant: str, digest: str) -> PartnerCodeRecord | None:
        table = schema.partner_codes
        row = (
            self._connection.execute(
                sa.select(table).where(table.c.tenant == tenant, table.c.digest == digest)
            )
            .mappings()
            .first()
        )
        return None if row is None else partner_code_from_row(row)

    def consume(self, tenant: str, digest: str, now: float) -> bool:
        # Check and count in one statement: concurrent sign-ups wait for each other's row
        # lock and then see the new count, so a code is never used beyond its limit.
        table = schema.partner_codes
        result = self._connection.execute(
            sa.update(table)
            .where(
                table.c.tenant == tenant,
                table.c.digest == digest,
                table.c.revoked_at.is_(None),
                sa.or_(table.c.expires_at.is_(None), table.c.expires_at > now),
                sa.or_(table.c.max_uses.is_(None), table.c.uses < table.c.max_uses),
            )
            .values(uses=table.c.uses + 1)
        )
        return result.rowcount == 1

    def revoke(self, tenant: str, digest: str, now: float) -> bool:
        table = schema.partner_codes
        result = self._connection.execute(
            sa.update(table)
            .where(
                table.c.tenant == tenant,
                table.c.digest == digest,
                table.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return result.rowcount == 1


# -- the transaction ------------------------------------------------------------------------------


class SqlTransaction:
    """One transaction of a :class:`SqlStore`: an :class:`onboardkit.storage.Transaction`.

    Only valid inside the step :meth:`SqlStore.atomic` hands it to.
    """

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._consents = SqlConsentStore(connection)
        self._partner_codes = SqlPartnerCodeStore(connection)

    @property
    def connection(self) -> sa.Connection:
        """The SQLAlchemy connection, for a host's own statements in the same transaction."""
        return self._connection

    @property
    def handle(self) -> sa.Connection:
        """The store's handle on this transaction: the SQLAlchemy connection (see
        :attr:`onboardkit.storage.Transaction.handle` and :func:`joined_session`)."""
        return self._connection

    # -- accounts ---------------------------------------------------------------------------------

    def _one_account(
        self, query: sa.Select[Any], parameters: Mapping[str, Any], for_update: bool
    ) -> Account | None:
        locked = _ACCOUNT_QUERIES[query, bool(for_update)]
        row = self._connection.execute(locked, parameters).mappings().first()
        return None if row is None else account_from_row(row)

    def account(self, account_id: str, *, for_update: bool = False) -> Account | None:
        return self._one_account(_ACCOUNT_BY_ID, {"account_id": account_id}, for_update)

    def account_by_email(
        self, tenant: str, canonical_email: str, *, for_update: bool = False
    ) -> Account | None:
        parameters = {"tenant": tenant, "canonical_email": canonical_email}
        return self._one_account(_ACCOUNT_BY_EMAIL, parameters, for_update)

    def insert_account(self, account: Account) -> None:
        """Add a new account. :raises Conflict: when the tenant already has the address."""
        _guarded_write(self._connection, _INSERT_ACCOUNT, Conflict, account_values(account))

    def update_account(self, account: Account, *, expected_version: int) -> None:
        """Store ``account`` over the row at ``expected_version``; else raise ``Conflict``."""
        values = account_values(account)
        del values["id"]
        values.update(match_id=account.id, match_version=expected_version)
        result = _guarded_write(self._connection, _UPDATE_ACCOUNT, Conflict, values)
        if result.rowcount != 1:
            raise Conflict()

    def delete_account(self, account_id: str) -> None:
        table = schema.accounts
        self._connection.execute(sa.delete(table).where(table.c.id == account_id))

    def accounts(
        self,
        tenant: str | None = None,
        *,
        status: AccountStatus | None = None,
        organization_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Account]:
        table = schema.accounts
        query = sa.select(table)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        if status is not None:
            query = query.where(table.c.status == AccountStatus(status).value)
        if organization_id is not None:
            query = query.where(table.c.organization_id == organization_id)
        query = query.order_by(table.c.created_at, table.c.id).limit(limit).offset(offset)
        return [account_from_row(row) for row in self._connection.execute(query).mappings()]

    def expired_accounts(self, now: float, limit: int = 500) -> Sequence[Account]:
        table = schema.accounts
        query = (
            sa.select(table)
            .where(
                table.c.status.in_(sorted(status.value for status in UNCLAIMED)),
                table.c.expires_at.is_not(None),
                table.c.expires_at < now,
            )
            .order_by(table.c.expires_at, table.c.id)
            .limit(limit)
        )
        return [account_from_row(row) for row in self._connection.execute(query).mappings()]

    # -- organizations ----------------------------------------------------------------------------

    def insert_organization(self, organization: Organization) -> None:
        _guarded_write(
            self._connection,
            sa.insert(schema.organizations).values(organization_values(organization)),
            Conflict,
        )

    def organization(self, organization_id: str) -> Organization | None:
        table = schema.organizations
        row = (
            self._connection.execute(sa.select(table).where(table.c.id == organization_id))
            .mappings()
            .first()
        )
        return None if row is None else organization_from_row(row)

    # -- outbox -----------------------------------------------------------------------------------

    def enqueue_mail(self, mail: OutboxMail) -> None:
        self._connection.execute(_INSERT_MAIL, mail_values(mail))

    def claim_mail(self, now: float, lease: float, limit: int) -> Sequence[OutboxMail]:
        """Take up to ``limit`` due mails, oldest due first, and hide them for ``lease`` seconds.

        PostgreSQL and MariaDB lock the chosen rows with ``FOR UPDATE SKIP LOCKED``, so
        concurrent workers take disjoint batches without waiting for each other; on SQLite the
        write transaction already keeps everyone else out.
        """
        table = schema.outbox
        due = (
            sa.select(table.c.id)
            .where(table.c.sent_at.is_(None), table.c.next_attempt_at <= now)
            .order_by(table.c.next_attempt_at, table.c.id)
            .limit(limit)
        )
        if _supports_skip_locked(self._connection):
            due = due.with_for_update(skip_locked=True)
        ids = list(self._connection.execute(due).scalars())
        if not ids:
            return []
        self._connection.execute(
            sa.update(table)
            .where(table.c.id.in_(ids))
            .values(next_attempt_at=now + lease, attempts=table.c.attempts + 1)
        )
        rows = self._connection.execute(sa.select(table).where(table.c.id.in_(ids))).mappings()
        claimed = {row["id"]: mail_from_row(row) for row in rows}
        return [claimed[mail_id] for mail_id in ids]

    def mark_mail_sent(self, mail_id: str, now: float) -> None:
        table = schema.outbox
        self._connection.execute(
            sa.update(table).where(table.c.id == mail_id).values(sent_at=now, last_error=None)
        )

    def mark_mail_failed(self, mail_id: str, error: str, next_attempt_at: float) -> None:
        table = schema.outbox
        self._connection.execute(
            sa.update(table)
            .where(table.c.id == mail_id)
            .values(last_error=_bounded_error(error), next_attempt_at=next_attempt_at)
        )

    def mails(
        self, tenant: str | None = None, *, limit: int = 100, unsent_only: bool = False
    ) -> Sequence[OutboxMail]:
        table = schema.outbox
        query = sa.select(table)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        if unsent_only:
            query = query.where(table.c.sent_at.is_(None))
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
        return [mail_from_row(row) for row in self._connection.execute(query).mappings()]

    def delete_sent_mail(self, sent_before: float) -> int:
        table = schema.outbox
        result = self._connection.execute(
            sa.delete(table).where(table.c.sent_at.is_not(None), table.c.sent_at < sent_before)
        )
        return int(result.rowcount)

    # -- signing keys -----------------------------------------------------------------------------

    def signing_keys(self) -> Sequence[SigningKeyRow]:
        table = schema.signing_keys
        query = sa.select(table).order_by(table.c.created_at.desc(), table.c.kid.desc())
        return [signing_key_from_row(row) for row in self._connection.execute(query).mappings()]

    def add_signing_key(self, key: SigningKeyRow) -> None:
        """Store a new key. :raises Conflict: when a key with its ``kid`` exists."""
        _guarded_write(
            self._connection,
            sa.insert(schema.signing_keys).values(
                kid=key.kid, secret=key.secret, created_at=key.created_at
            ),
            Conflict,
        )

    def delete_signing_key(self, kid: str) -> None:
        table = schema.signing_keys
        self._connection.execute(sa.delete(table).where(table.c.kid == kid))

    # -- the building blocks' own stores ----------------------------------------------------------

    @property
    def consents(self) -> SqlConsentStore:
        return self._consents

    @property
    def partner_codes(self) -> SqlPartnerCodeStore:
        return self._partner_codes


# -- a host's ORM session in a step's transaction -------------------------------------------------


@contextlib.contextmanager
def joined_session(
    transaction: Transaction, factory: Callable[..., Session] | None = None, **options: Any
) -> Iterator[Session]:
    """A SQLAlchemy ORM session that writes in a step's transaction, for the provisioning hook::

        @hookimpl
        def onboardkit_provision_account(tenant, account, transaction):
            with joined_session(transaction) as session:
                session.add(User(email=account.email, roles=list(account.roles)))

    The session is bound to the transaction's connection and keeps its work in a savepoint
    (SQLAlchemy's ``join_transaction_mode="create_savepoint"``). When the block ends, the session
    is flushed and the savepoint released, so its rows commit with the step or roll back with it,
    also when a plugin called later fails. Inside the block, ``session.commit()`` releases the
    savepoint only, never the step, and ``session.rollback()`` undoes the session's own work only.
    An exception in the block discards the session's work and propagates, failing the step.

    :param transaction: The step's transaction, as the hook receives it; a :class:`SqlStore`'s,
        whose :attr:`~SqlTransaction.handle` is a SQLAlchemy ``Connection``.
    :param factory: What makes the session: the host's ``sessionmaker`` (its options and session
        class apply) or a ``Session`` subclass. It is called with ``bind``,
        ``join_transaction_mode`` and ``options``. Default: :class:`sqlalchemy.orm.Session`
        with ``expire_on_commit=False``, so the objects stay readable after the block.
    :raises TypeError: when the transaction is not a SQL store's, or when the session class
        chooses its engine itself rather than the given connection (Flask-SQLAlchemy's
        ``db.session`` does; its models work with a plain ``Session``).
    """
    connection = transaction.handle
    if not isinstance(connection, sa.Connection):
        raise TypeError(
            "joined_session() needs the transaction of a SqlStore, whose handle is a "
            f"SQLAlchemy Connection, not {type(connection).__name__}"
        )
    if factory is None:
        from sqlalchemy.orm import Session

        factory = Session
        options.setdefault("expire_on_commit", False)
    session = factory(bind=connection, join_transaction_mode="create_savepoint", **options)
    chosen = session.get_bind()
    if chosen is not connection:
        # Flask-SQLAlchemy's session class picks its engine itself and would write through a
        # connection of its own: outside the step, and on SQLite waiting for the step's lock.
        session.close()
        raise TypeError(
            f"joined_session() needs a session bound to the step's connection, but a "
            f"{type(session).__module__}.{type(session).__qualname__} chooses "
            f"{type(chosen).__name__} itself; use "
            "sqlalchemy.orm.Session, or a sessionmaker of it, with the host's models"
        )
    try:
        yield session
        session.commit()  # releases the session's savepoint; the step commits later, or not
    finally:
        session.close()


# -- stores that run each call in a transaction of their own --------------------------------------


class _OwnTransactionConsentStore:
    """A consent store on a :class:`SqlStore`; each call is one transaction."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._store!r})"

    def head(self, tenant: str) -> ConsentRecord | None:
        return self._store.atomic(lambda tx: tx.consents.head(tenant))

    def append(self, record: ConsentRecord) -> None:
        self._store.atomic(lambda tx: tx.consents.append(record))

    def records(self, tenant: str, pseudonym: str | None = None) -> Sequence[ConsentRecord]:
        return self._store.atomic(lambda tx: tx.consents.records(tenant, pseudonym))

    def erase(self, tenant: str, pseudonym: str, through_sequence: int) -> int:
        return self._store.atomic(lambda tx: tx.consents.erase(tenant, pseudonym, through_sequence))


class _OwnTransactionPartnerCodeStore:
    """A partner-code store on a :class:`SqlStore`; each call is one transaction."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._store!r})"

    def add(self, record: PartnerCodeRecord) -> None:
        # A taken digest stays taken: running the insert again cannot help.
        self._store.atomic(lambda tx: tx.partner_codes.add(record), attempts=1)

    def find(self, tenant: str, digest: str) -> PartnerCodeRecord | None:
        return self._store.atomic(lambda tx: tx.partner_codes.find(tenant, digest))

    def consume(self, tenant: str, digest: str, now: float) -> bool:
        return self._store.atomic(lambda tx: tx.partner_codes.consume(tenant, digest, now))

    def revoke(self, tenant: str, digest: str, now: float) -> bool:
        return self._store.atomic(lambda tx: tx.partner_codes.revoke(tenant, digest, now))


# -- the store ------------------------------------------------------------------------------------


def _sqlite_use_wal(cursor: Any, busy_timeout: float) -> None:
    """Switch the file to write-ahead logging unless it already is (the mode is persistent).

    The switch needs the file to itself, and SQLite answers "database is locked" at once rather
    than through the busy handler when another connection holds it, as happens when several
    processes open a new file together; so a locked switch is tried again until the busy
    timeout has passed.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        mode = str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode in {"wal", "memory"}:
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(0.005 + secrets.randbelow(20) / 1000)


def _sqlite_setup(*, busy_timeout: float, wal: bool) -> Callable[[Any, Any], None]:
    pragmas = [f"PRAGMA busy_timeout = {max(0, int(busy_timeout * 1000)):d}"]
    pragmas.append("PRAGMA foreign_keys = ON")

    def set_up(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions on its own (it would defer them, and leave
        # SAVEPOINTs outside); _sqlite_on_begin opens each one as a write transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
            if wal:
                # One sync per commit instead of several, and readers never wait for the writer.
                _sqlite_use_wal(cursor, busy_timeout)
        finally:
            cursor.close()

    return set_up


def _sqlite_on_begin(connection: sa.Connection) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that started reading never has to
    # upgrade its lock later, the moment at which SQLite gives up with "database is locked".
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _adopt(engine: sa.Engine) -> sa.Engine:
    """onboardkit's view of an engine the host made: the same pool, onboardkit's options."""
    options: dict[str, Any] = {}
    if engine.dialect.name != "sqlite":
        # Set on each connection as it is checked out for onboardkit and reset when it goes
        # back to the pool: the host's own connections keep the host's isolation level.
        options["isolation_level"] = "READ COMMITTED"
    adopted = engine.execution_options(**options)
    # Statement parameters hold mail bodies with their links: never in a log or an error text.
    # An option engine keeps this flag of its own; the host's statements are unaffected.
    adopted.hide_parameters = True
    return adopted


def _driver_connection(connection: sa.Connection) -> Any:
    return connection.connection.driver_connection


@contextlib.contextmanager
def _foreign_keys_enforced(connection: sa.Connection) -> Iterator[None]:
    """Foreign keys enforced on a host's SQLite connection for one transaction, then as before.

    SQLite ignores the switch inside a transaction, so it is flipped before the transaction
    begins and after it ended, on the driver's connection (no SQLAlchemy transaction opens).
    """
    driver = _driver_connection(connection)
    cursor = driver.cursor()
    try:
        enforced = bool(cursor.execute("PRAGMA foreign_keys").fetchone()[0])
        if not enforced:
            cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
    try:
        yield
    finally:
        if not enforced and not connection.invalidated:
            try:
                driver.execute("PRAGMA foreign_keys = OFF").close()
            except sqlite3.Error:
                # Never hand the host a connection in a state it did not choose.
                connection.invalidate()


def _begin_immediate(connection: sa.Connection) -> None:
    """Take SQLite's write lock now, unless a ``begin`` listener of the host began already.

    Without an explicit BEGIN, the driver would leave the step's savepoints outside any
    transaction, and releasing one would commit it: a failed step would keep its rows.
    """
    if not getattr(_driver_connection(connection), "in_transaction", False):
        _sqlite_on_begin(connection)


def _is_memory_database(url: sa.URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def alembic_options() -> dict[str, Any]:
    """The options onboardkit's Alembic environment configures its migration context with.

    Pass them to ``MigrationContext.configure(connection, opts=alembic_options())`` to compare
    a database with :data:`onboardkit.schema.metadata` the way the migrations see it.
    """
    return {
        "target_metadata": schema.metadata,
        "version_table": VERSION_TABLE,
        "include_object": _is_own_object,
        "compare_type": True,
    }


def _table_of(item: Any, name: str | None, type_: str) -> str | None:
    """The name of the table an object of an Alembic comparison is or belongs to, if any."""
    if type_ == "table":
        return name
    table_name = getattr(getattr(item, "table", None), "name", None)
    return table_name if isinstance(table_name, str) else None


def _is_own_object(
    item: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any
) -> bool:
    # Hosts keep their own tables in the same database; migrations never touch those.
    table = _table_of(item, name, type_)
    if type_ == "table":
        return table is not None and table.startswith(TABLE_PREFIX)
    return table is None or table.startswith(TABLE_PREFIX)


def host_include_name(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
    """Alembic's ``include_name`` for a host's own migrations: leaves onboardkit's tables out.

    Pass it with :func:`host_include_object` to ``context.configure`` in the host's ``env.py``,
    so ``alembic revision --autogenerate`` neither reflects onboardkit's tables (every one named
    ``onboardkit_...``, its version table ``onboardkit_alembic_version`` included) nor proposes
    to drop them; :meth:`SqlStore.migrate` looks after those. Everything else is included.
    """
    if type_ == "table":
        table = name
    else:
        found = parent_names.get("table_name")
        table = found if isinstance(found, str) else None
    return table is None or not table.startswith(TABLE_PREFIX)


def host_include_object(
    item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's ``include_object`` for a host's own migrations: leaves onboardkit's tables out.

    The counterpart of :func:`host_include_name` for objects that are compared rather than
    reflected by name: onboardkit's tables, with their columns, indexes and constraints, are
    neither created, changed nor dropped by the host's autogenerate, also when the host's
    metadata happens to hold them. Everything else is included.
    """
    table = _table_of(item, name, type_)
    return table is None or not table.startswith(TABLE_PREFIX)


class SqlStore:
    """onboardkit's store in a SQL database (see the module documentation).

    Make one with :meth:`from_url` or :meth:`from_mapping`, bring its tables up to date with
    :meth:`migrate`, run steps with :meth:`atomic`, and call :meth:`dispose` at shutdown.

    ``SqlStore(engine)`` adopts an engine the host made (Flask-SQLAlchemy's ``db.engine``, say)
    with every guarantee of the module documentation, for onboardkit's own transactions only:
    it works through ``engine.execution_options(...)``, which shares the host's connection pool,
    and leaves the host's own transactions as they were. On PostgreSQL and MariaDB its
    transactions run at ``READ COMMITTED``. On SQLite each begins with ``BEGIN IMMEDIATE``
    (unless the host's ``begin`` listener has begun it already) and enforces foreign keys, which
    are switched back off afterwards on a connection that had them off; the host's busy timeout
    and journal mode stay as the host set them. Statement parameters are hidden from the logs
    of onboardkit's statements. The host disposes of its engine itself.

    :raises ConfigurationError: ``engine``, when given a SQLAlchemy ``Connection`` (a step needs
        transactions of its own; pass the engine) or anything else that is not an ``Engine``;
        ``storage.url`` for a database onboardkit does not support.
    """

    def __init__(self, engine: sa.Engine) -> None:
        if isinstance(engine, sa.Connection):
            raise ConfigurationError(key="engine", reason=CONNECTION_GIVEN)
        if not isinstance(engine, sa.Engine):
            raise ConfigurationError(key="engine", reason=NOT_AN_ENGINE)
        self._dialect = engine.dialect.name
        if self._dialect not in SUPPORTED_BACKENDS:
            raise ConfigurationError(
                key="storage.url",
                reason="names an unsupported database; use sqlite, postgresql or mysql (MariaDB)",
            )
        #: Whether the host made the engine (and disposes of it), rather than from_url.
        self._adopted = not engine.get_execution_options().get(_OWN_ENGINE, False)
        self._engine = _adopt(engine) if self._adopted else engine
        # SQLite lets one writer in at a time anyway: queueing the threads of this process on a
        # lock spares them SQLite's polling, and is what makes one shared in-memory connection
        # (StaticPool) safe.
        self._lock: threading.RLock | None = (
            threading.RLock() if self._dialect == "sqlite" else None
        )
        self._steps = threading.local()

    @classmethod
    def from_url(
        cls,
        url: str | sa.URL,
        *,
        busy_timeout: float = 30.0,
        wal: bool = True,
        **engine_options: Any,
    ) -> SqlStore:
        """A store for the database at ``url``, set up for onboardkit's transactions.

        :param url: ``sqlite:///path/onboardkit.db`` (``sqlite://`` for memory),
            ``postgresql+psycopg://user:password@host/db`` or
            ``mysql+pymysql://user:password@host/db``.
        :param busy_timeout: SQLite only: seconds a transaction waits for another process's
            write lock before the step counts as a conflict.
        :param wal: SQLite files only: switch the database to write-ahead logging, several
            times faster per commit. The file then has ``-wal`` and ``-shm`` companions while
            open; turn it off for a database on a network file system, which WAL does not
            support.
        :param engine_options: Passed on to :func:`sqlalchemy.create_engine` (``pool_size``,
            ``connect_args``, ...), overriding onboardkit's defaults.
        :raises ConfigurationError: ``storage.url`` when the URL is malformed or names a database
            onboardkit does not support.
        """
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigurationError(
                key="storage.url", reason="is not a database URL such as sqlite:///onboardkit.db"
            ) from None
        backend = parsed.get_backend_name()
        if backend not in SUPPORTED_BACKENDS:
            raise ConfigurationError(
                key="storage.url",
                reason="names an unsupported database; use sqlite, postgresql or mysql (MariaDB)",
            )
        # Statement parameters hold mail bodies with their links and other personal data: never
        # show them in SQLAlchemy's logs or in the text of a database error.
        options: dict[str, Any] = {"hide_parameters": True}
        connect_args: dict[str, Any] = {}
        if backend == "sqlite":
            connect_args["check_same_thread"] = False
            if _is_memory_database(parsed):
                options["poolclass"] = StaticPool
        else:
            options["isolation_level"] = "READ COMMITTED"
            options["pool_pre_ping"] = True
        if backend in ("mysql", "mariadb"):
            connect_args["charset"] = "utf8mb4"
            # MariaDB drops connections idle longer than wait_timeout (8 hours by default).
            options["pool_recycle"] = 3600
        connect_args.update(engine_options.pop("connect_args", {}))
        options.update(engine_options)
        try:
            engine = sa.create_engine(parsed, connect_args=connect_args, **options)
        except (ImportError, sa.exc.NoSuchModuleError) as error:
            raise ConfigurationError(
                key="storage.url",
                reason=f"names a database driver that is not installed ({parsed.drivername}); "
                "install onboardkit[postgresql] or onboardkit[mariadb]",
            ) from error
        if backend == "sqlite":
            memory = _is_memory_database(parsed)
            setup = _sqlite_setup(busy_timeout=busy_timeout, wal=wal and not memory)
            sa.event.listen(engine, "connect", setup)
            sa.event.listen(engine, "begin", _sqlite_on_begin)
        engine.update_execution_options(**{_OWN_ENGINE: True})
        return cls(engine)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> SqlStore:
        """A store from the ``[storage]`` settings.

        ``url`` (required; see :meth:`from_url`), ``pool_size`` (connections kept per process,
        PostgreSQL and MariaDB), ``busy_timeout`` and ``wal`` (SQLite).

        :raises ConfigurationError: naming the bad key, such as ``storage.url``.
        """
        unknown = sorted(set(data) - _STORAGE_KEYS)
        if unknown:
            raise ConfigurationError(key=f"storage.{unknown[0]}", reason="is not a known setting")
        url = data.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigurationError(
                key="storage.url", reason="must be a database URL such as sqlite:///onboardkit.db"
            )
        busy_timeout = data.get("busy_timeout", 30.0)
        if (
            isinstance(busy_timeout, bool)
            or not isinstance(busy_timeout, (int, float))
            or not 0 <= busy_timeout <= 3600
        ):
            raise ConfigurationError(
                key="storage.busy_timeout", reason="must be a number of seconds from 0 to 3600"
            )
        wal = data.get("wal", True)
        if not isinstance(wal, bool):
            raise ConfigurationError(key="storage.wal", reason="must be true or false")
        options: dict[str, Any] = {}
        if "pool_size" in data:
            pool_size = data["pool_size"]
            if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
                raise ConfigurationError(
                    key="storage.pool_size", reason="must be a whole number of at least 1"
                )
            if not url.startswith("sqlite"):
                options["pool_size"] = pool_size
        return cls.from_url(url, busy_timeout=float(busy_timeout), wal=wal, **options)

    def __repr__(self) -> str:
        # URL's repr hides the password.
        return f"{type(self).__name__}({self._engine.url!r})"

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql``/``mariadb``."""
        return self._dialect

    def dispose(self) -> None:
        """Close the pooled connections (at shutdown; an in-memory database is gone then).

        An engine the host made and handed to ``SqlStore(engine)`` is left to the host.
        """
        if not self._adopted:
            self._engine.dispose()

    @contextlib.contextmanager
    def _serialized(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield

    # -- transactions -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """A connection in a new transaction; committed at the end, rolled back on an error."""
        with self._serialized(), self._engine.connect() as connection:
            if not (self._adopted and self._dialect == "sqlite"):
                # PostgreSQL and MariaDB need nothing more (the isolation level comes with the
                # engine); SQLite engines from from_url begin with BEGIN IMMEDIATE on their own.
                with connection.begin():
                    yield connection
                return
            with _foreign_keys_enforced(connection), connection.begin():
                _begin_immediate(connection)
                yield connection

    def atomic(self, step: Callable[[SqlTransaction], T], *, attempts: int = 5) -> T:
        """Run ``step`` in one transaction and commit; run it again after a lost race.

        A :class:`~onboardkit.storage.Conflict` raised in the step, a unique key taken by a
        concurrent transaction, a serialization failure or a deadlock roll the transaction back
        and, after a short random pause, run the step again in a new one, at most ``attempts``
        times in all; then the :class:`~onboardkit.storage.Conflict` propagates. Any other
        exception rolls back and propagates at once.
        """
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if getattr(self._steps, "running", False):
            # A second transaction from inside a step would wait for the first one's locks.
            raise RuntimeError("SqlStore.atomic() was called inside a step; use its transaction")
        for attempt in range(1, attempts + 1):
            try:
                with self._transaction() as connection:
                    self._steps.running = True
                    try:
                        return step(SqlTransaction(connection))
                    finally:
                        self._steps.running = False
            except Conflict:
                if attempt == attempts:
                    raise
            except sa.exc.DBAPIError as error:
                if not _is_retryable(error, self._dialect):
                    raise
                if attempt == attempts:
                    raise Conflict() from error
            _pause(attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def consent_store(self) -> ConsentStore:
        """A :class:`~onboardkit.consent.ConsentStore` whose every call is one transaction."""
        return _OwnTransactionConsentStore(self)

    def partner_code_store(self) -> PartnerCodeStore:
        """A :class:`~onboardkit.partners.PartnerCodeStore` whose every call is one transaction.

        Thread-safe; give it to a long-lived :class:`~onboardkit.partners.PartnerRegistry`.
        """
        return _OwnTransactionPartnerCodeStore(self)

    # -- migrations -------------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Bring onboardkit's tables up to ``revision`` (the newest by default).

        Safe to call at every start-up and from several processes at once: they take turns
        (an advisory lock on PostgreSQL and MariaDB, the write lock on SQLite), and a database
        that is up to date is left as it is. Tables other than onboardkit's are never touched.
        """
        with self._migration_connection() as connection:
            command.upgrade(self._alembic_config(connection), revision)

    def downgrade(self, revision: str) -> None:
        """Take onboardkit's tables back to ``revision``; ``"base"`` drops them and their rows."""
        with self._migration_connection() as connection:
            command.downgrade(self._alembic_config(connection), revision)

    def schema_revision(self) -> str | None:
        """The migration the database is at, or ``None`` before the first :meth:`migrate`."""
        with self._serialized(), self._engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()

    @contextlib.contextmanager
    def _migration_connection(self) -> Iterator[sa.Connection]:
        if self._dialect in ("mysql", "mariadb"):
            # DDL commits implicitly on MariaDB, so the lock is the session's, not the
            # transaction's. It is given back only after the transaction (which records the
            # new revision) has committed: a migrator that got the lock earlier would find the
            # tables but not their revision, and create them again.
            with self._serialized(), self._engine.connect() as connection:
                got = connection.execute(
                    sa.text("SELECT GET_LOCK(:name, :timeout)"),
                    {"name": _MIGRATION_LOCK_NAME, "timeout": _MIGRATION_LOCK_TIMEOUT},
                ).scalar()
                connection.commit()
                if got != 1:
                    raise Conflict()
                try:
                    with connection.begin():
                        yield connection
                finally:
                    connection.execute(
                        sa.text("SELECT RELEASE_LOCK(:name)"), {"name": _MIGRATION_LOCK_NAME}
                    )
                    connection.commit()
            return
        with self._transaction() as connection:
            if self._dialect == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            yield connection

    @staticmethod
    def _alembic_config(connection: sa.Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        config.attributes["connection"] = connection
        return config


def _pause(attempt: int) -> None:
    """A random pause that grows with the attempt, so racing steps stop colliding."""
    ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt)
    time.sleep(secrets.randbelow(int(ceiling * 1_000_000) + 1) / 1_000_000)


if TYPE_CHECKING:
    # mypy checks here that the classes implement the protocols completely.
    def _protocol_checks(
        store: SqlStore, transaction: SqlTransaction, connection: sa.Connection
    ) -> tuple[Store, Transaction, ConsentStore, PartnerCodeStore, ConsentStore, PartnerCodeStore]:
        return (
            store,
            transaction,
            SqlConsentStore(connection),
            SqlPartnerCodeStore(connection),
            _OwnTransactionConsentStore(store),
            _OwnTransactionPartnerCodeStore(store),
        )
