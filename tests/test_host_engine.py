"""``SqlStore(engine)`` on an engine the host made keeps every guarantee of the store.

Flask-SQLAlchemy and other hosts make their engine themselves, without onboardkit's set-up. The
store adopts it: a failed step leaves nothing, concurrent registrations of one address make one
account, the servers run onboardkit's transactions at READ COMMITTED, SQLite enforces foreign
keys, all without a second connection pool and without changing the host's own transactions.
A connection instead of an engine is refused with a clear error.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from onboardkit import schema
from onboardkit.accounts import Account, AccountStatus, Flow, Organization
from onboardkit.errors import ConfigurationError
from onboardkit.sqlstore import SqlStore, SqlTransaction, joined_session
from onboardkit.storage import OutboxMail

NOW = 1_800_000_000.0
EMAIL = "anna.schmidt@example.org"


def make_account(account_id: str = "a" * 32, **changes: Any) -> Account:
    values: dict[str, Any] = {
        "id": account_id,
        "tenant": "acme",
        "flow": Flow.REGISTRATION,
        "status": AccountStatus.PENDING_CONFIRMATION,
        "email": EMAIL,
        "canonical_email": EMAIL,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return Account(**values)


def make_mail(mail_id: str = "m" * 32) -> OutboxMail:
    return OutboxMail(
        id=mail_id,
        tenant="acme",
        kind="confirm_registration",
        recipient=EMAIL,
        subject="Please confirm",
        text="https://portal.example/confirm?token=secret",
        html=None,
        created_at=NOW,
        next_attempt_at=NOW,
    )


def count_rows(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(schema.metadata.tables[table])
        return int(connection.execute(query).scalar_one())


# -- engines as hosts make them --------------------------------------------------------------------


def _sqlite_file(tmp_path: Path, **options: Any) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}", **options)


def _sqlite_memory(_tmp_path: Path) -> sa.Engine:
    # What Flask-SQLAlchemy makes for sqlite:// : one shared in-memory connection.
    return sa.create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )


def _sqlite_autocommit(tmp_path: Path) -> sa.Engine:
    return _sqlite_file(tmp_path, isolation_level="AUTOCOMMIT")


def _sqlite_begin_recipe(tmp_path: Path) -> sa.Engine:
    # SQLAlchemy's documented work-around for pysqlite's transactions, in the host's engine:
    # the driver's own transaction handling off, and a plain BEGIN from a begin listener.
    engine = _sqlite_file(tmp_path)

    @sa.event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


SQLITE_HOSTS: dict[str, Callable[[Path], sa.Engine]] = {
    "sqlite-file": _sqlite_file,
    "sqlite-memory": _sqlite_memory,
    "sqlite-autocommit": _sqlite_autocommit,
    "sqlite-begin-recipe": _sqlite_begin_recipe,
}
HOSTS = [
    *(pytest.param(name, id=name) for name in SQLITE_HOSTS),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


def server_url(request: pytest.FixtureRequest, name: str) -> str:
    """The URL of the run's migrated database on a server (its rows emptied after the test)."""
    store: SqlStore = request.getfixturevalue(f"{name}_store")
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture(params=HOSTS)
def host_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine as a host makes it, already used by the host before onboardkit gets it."""
    if request.param in SQLITE_HOSTS:
        engine = SQLITE_HOSTS[request.param](tmp_path)
    else:
        engine = sa.create_engine(server_url(request, request.param))
    with engine.connect() as connection:  # leaves a connection in the host's pool
        connection.exec_driver_sql("SELECT 1")
    yield engine
    engine.dispose()


@pytest.fixture
def host_store(host_engine: sa.Engine) -> SqlStore:
    store = SqlStore(host_engine)
    store.migrate()
    return store


# -- a failed step leaves nothing ------------------------------------------------------------------


def test_a_failing_step_on_a_host_engine_leaves_nothing(host_store: SqlStore) -> None:
    def step(tx: SqlTransaction) -> None:
        tx.insert_organization(Organization(id="o" * 32, tenant="acme", name="Müller"))
        tx.insert_account(make_account(organization_id="o" * 32))
        tx.enqueue_mail(make_mail())
        raise RuntimeError("the mail template failed to render")

    with pytest.raises(RuntimeError):
        host_store.atomic(step)
    for table in ("onboardkit_organizations", "onboardkit_accounts", "onboardkit_outbox"):
        assert count_rows(host_store.engine, table) == 0, table


def test_a_step_on_a_host_engine_commits_everything_it_wrote(host_store: SqlStore) -> None:
    def step(tx: SqlTransaction) -> None:
        tx.insert_account(make_account())
        tx.enqueue_mail(make_mail())

    host_store.atomic(step)
    assert count_rows(host_store.engine, "onboardkit_accounts") == 1
    assert count_rows(host_store.engine, "onboardkit_outbox") == 1


def test_a_host_engine_refuses_an_account_of_an_organization_that_does_not_exist(
    host_store: SqlStore,
) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        host_store.atomic(lambda tx: tx.insert_account(make_account(organization_id="0" * 32)))
    assert count_rows(host_store.engine, "onboardkit_accounts") == 0


def test_the_store_shares_the_host_engines_pool(
    host_engine: sa.Engine, host_store: SqlStore
) -> None:
    assert host_store.engine.pool is host_engine.pool


def test_disposing_the_store_leaves_the_host_engine_to_the_host(
    host_engine: sa.Engine, host_store: SqlStore
) -> None:
    host_store.atomic(lambda tx: tx.insert_account(make_account()))
    host_store.dispose()
    # The host's engine still works, and an in-memory database still has its rows.
    assert count_rows(host_engine, "onboardkit_accounts") == 1


def test_statement_parameters_stay_out_of_error_texts_on_a_host_engine(
    host_store: SqlStore,
) -> None:
    # A mail without a subject: the database refuses it, and the error shows the statement.
    refused = sa.insert(schema.outbox).values(
        id="m" * 32,
        tenant="acme",
        kind="k",
        recipient=EMAIL,
        subject=None,
        text="https://portal.example/confirm?token=secret",
        created_at=NOW,
        next_attempt_at=NOW,
        attempts=0,
    )
    with pytest.raises(sa.exc.IntegrityError) as caught:
        host_store.atomic(lambda tx: tx.connection.execute(refused))
    # SQLAlchemy's part of the text; what the server itself says is the server's.
    assert "[parameters:" not in str(caught.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(caught.value)


def test_a_host_orm_session_joined_to_a_step_on_a_host_engine_goes_with_the_step(
    host_engine: sa.Engine, host_store: SqlStore
) -> None:
    # A Flask-SQLAlchemy host: its engine, its table, its ORM session in onboardkit's step.
    metadata = sa.MetaData()
    users = sa.Table("host_users", metadata, sa.Column("email", sa.String(254), primary_key=True))
    metadata.create_all(host_engine)

    def step(tx: SqlTransaction, *, fail: bool) -> None:
        tx.insert_account(make_account())
        with joined_session(tx) as session:
            session.execute(users.insert().values(email=EMAIL))
        if fail:
            raise RuntimeError("a plugin called after the host's failed")

    def host_emails() -> list[str]:
        with host_engine.connect() as connection:
            return list(connection.execute(sa.select(users.c.email)).scalars())

    try:
        with pytest.raises(RuntimeError):
            host_store.atomic(lambda tx: step(tx, fail=True))
        assert host_emails() == []
        assert count_rows(host_engine, "onboardkit_accounts") == 0
        host_store.atomic(lambda tx: step(tx, fail=False))
        assert host_emails() == [EMAIL]
        assert count_rows(host_engine, "onboardkit_accounts") == 1
    finally:
        metadata.drop_all(host_engine)


# -- concurrency -----------------------------------------------------------------------------------


def _register_concurrently(stores: list[SqlStore], callers: int, barrier: bool) -> list[str]:
    """``callers`` threads register one address, spread over ``stores``; their outcomes."""
    looked = threading.Barrier(callers, timeout=60) if barrier else None
    runs: Counter[int] = Counter()

    def register(caller: int) -> str:
        def step(tx: SqlTransaction) -> str:
            runs[caller] += 1
            existing = tx.account_by_email("acme", EMAIL)
            if looked is not None and runs[caller] == 1:
                looked.wait()
            if existing is not None:
                return f"exists {existing.id}"
            account = make_account(f"{caller:032x}")
            tx.insert_account(account)
            return f"created {account.id}"

        return stores[caller % len(stores)].atomic(step)

    with ThreadPoolExecutor(max_workers=callers) as pool:
        return list(pool.map(register, range(callers)))


def _one_account(answers: list[str]) -> None:
    created = [answer.split()[1] for answer in answers if answer.startswith("created")]
    assert len(created) == 1
    assert {answer.split()[1] for answer in answers} == set(created)


def test_concurrent_registrations_on_host_sqlite_engines_make_one_account(tmp_path: Path) -> None:
    # Four engines on one file, as four processes of the host would have: they meet in
    # SQLite's write lock, not in one store's queue.
    engines = [_sqlite_file(tmp_path) for _ in range(4)]
    try:
        stores = [SqlStore(engine) for engine in engines]
        stores[0].migrate()
        answers = _register_concurrently(stores, callers=16, barrier=False)
        _one_account(answers)
        assert count_rows(engines[0], "onboardkit_accounts") == 1
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.parametrize(
    "server",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_concurrent_registrations_on_a_host_server_engine_make_one_account(
    request: pytest.FixtureRequest, server: str
) -> None:
    callers = 12
    # Enough connections for every caller to be in its transaction at the same time, and the
    # server's default isolation level (REPEATABLE READ on MariaDB) in the host's engine.
    engine = sa.create_engine(server_url(request, server), pool_size=callers + 2, max_overflow=0)
    try:
        store = SqlStore(engine)
        # Every caller looks the address up before anyone inserts: the worst case.
        answers = _register_concurrently([store], callers=callers, barrier=True)
        _one_account(answers)
        assert count_rows(engine, "onboardkit_accounts") == 1
    finally:
        engine.dispose()


# -- isolation: onboardkit's transactions, not the host's ------------------------------------------

_ISOLATION_QUERY = {
    "postgresql": "SHOW transaction_isolation",
    "mariadb": "SELECT @@tx_isolation",
}


def _isolation(connection: sa.Connection, server: str) -> str:
    value = connection.exec_driver_sql(_ISOLATION_QUERY[server]).scalar_one()
    return str(value).replace("-", " ").lower()


@pytest.mark.parametrize(
    "server",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_a_host_server_engine_runs_onboardkits_transactions_at_read_committed(
    request: pytest.FixtureRequest, server: str
) -> None:
    engine = sa.create_engine(
        server_url(request, server), isolation_level="SERIALIZABLE", pool_size=1, max_overflow=0
    )
    try:
        store = SqlStore(engine)
        assert store.atomic(lambda tx: _isolation(tx.connection, server)) == "read committed"
        # The one pooled connection goes back to the host at the host's own level.
        with engine.connect() as connection:
            assert _isolation(connection, server) == "serializable"
        assert store.atomic(lambda tx: _isolation(tx.connection, server)) == "read committed"
    finally:
        engine.dispose()


def test_a_host_sqlite_engine_enforces_foreign_keys_for_onboardkit_only(tmp_path: Path) -> None:
    engine = _sqlite_file(tmp_path, pool_size=1, max_overflow=0)
    try:
        store = SqlStore(engine)
        store.migrate()
        assert store.atomic(
            lambda tx: tx.connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        )
        with engine.connect() as connection:
            # The host's connection (the same one, from the pool) is as the host had it.
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
            assert connection.connection.driver_connection.isolation_level == ""
    finally:
        engine.dispose()


# -- what cannot keep the guarantees ---------------------------------------------------------------


def test_a_host_connection_is_refused_with_what_to_do_instead(tmp_path: Path) -> None:
    engine = _sqlite_file(tmp_path)
    try:
        with engine.connect() as connection, pytest.raises(ConfigurationError) as caught:
            SqlStore(connection)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    error = caught.value
    assert error.code == "config.invalid"
    assert error.params["key"] == "engine"
    assert "pass the Engine (connection.engine) instead" in error.message
    assert "Engine (connection.engine)" in error.localized("de")
    assert error.localized("de") != error.message


def test_something_other_than_an_engine_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        SqlStore("sqlite:///onboardkit.db")  # type: ignore[arg-type]
    assert caught.value.params["key"] == "engine"
    assert "create_engine()" in caught.value.message


def test_an_engine_onboardkit_made_is_used_as_it_is(tmp_path: Path) -> None:
    made = SqlStore.from_url(f"sqlite:///{tmp_path / 'own.db'}")
    try:
        again = SqlStore(made.engine)
        assert again.engine is made.engine
    finally:
        made.dispose()
