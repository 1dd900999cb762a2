"""The provisioning hook writes the host's user in the step's own transaction.

A host table lives in the same database as onboardkit's. What the hook writes through the
transaction it is given commits with the step, and goes away with it when a plugin called later
fails; on SQLite it never waits for the step's write lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from onboarding_helpers import latest_token, mails, registration_form, service, signup_form
from onboardkit import hookimpl
from onboardkit.accounts import Account, AccountStatus
from onboardkit.onboarding import Onboarding, ProvisioningFailed
from onboardkit.sqlstore import SqlStore, joined_session
from onboardkit.storage import Transaction
from onboardkit.tenants import Tenant
from onboardkit.testing import FrozenClock, make_plugins

ANNA = "anna@example.org"
INVITED = "erik@example.org"
SIGNUP = "carla@example.org"


class HostModel(DeclarativeBase):
    pass


class HostUser(HostModel):
    """The host application's own user table, next to onboardkit's."""

    __tablename__ = "host_users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    roles: Mapped[str] = mapped_column(sa.String(200))


HOST_USERS = HostUser.__table__


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def host_table(store: SqlStore) -> Iterator[SqlStore]:
    """The store, with the host's user table in its database (dropped after the test)."""
    HostModel.metadata.create_all(store.engine)
    yield store
    HostModel.metadata.drop_all(store.engine)


def host_rows(store: SqlStore) -> list[tuple[str, str]]:
    """The host's users as another connection sees them: committed rows only."""
    with store.engine.connect() as connection:
        query = sa.select(HOST_USERS.c.id, HOST_USERS.c.email).order_by(HOST_USERS.c.email)
        return [(row.id, row.email) for row in connection.execute(query)]


# -- the host's plugins ----------------------------------------------------------------------------

HostSessions = sessionmaker()


class OrmHost:
    """Creates the user with the host's ORM session, joined to the step's transaction."""

    def __init__(self) -> None:
        self.written: list[str] = []

    @hookimpl
    def onboardkit_provision_account(
        self, tenant: Tenant, account: Account, transaction: Transaction
    ) -> None:
        with joined_session(transaction, HostSessions) as session:
            session.add(HostUser(id=account.id, email=account.email, roles=",".join(account.roles)))
            # Out of habit: inside the step this commits the session's savepoint only.
            session.commit()
        self.written.append(account.id)


class CoreHost:
    """Creates the user with a Core statement on the step's connection."""

    def __init__(self) -> None:
        self.written: list[str] = []

    @hookimpl
    def onboardkit_provision_account(self, account: Account, transaction: Transaction) -> None:
        values = {"id": account.id, "email": account.email, "roles": ",".join(account.roles)}
        transaction.handle.execute(HOST_USERS.insert().values(values))  # type: ignore[attr-defined]
        self.written.append(account.id)


class FailsAfterTheHost:
    """A plugin registered later whose provisioning fails, after the host's has run.

    pluggy calls the most recently registered implementation first; ``trylast`` puts this one
    after the host's all the same.
    """

    def __init__(self) -> None:
        self.fail = True

    @hookimpl(trylast=True)
    def onboardkit_provision_account(self, account: Account) -> None:
        if self.fail:
            raise RuntimeError("the CRM refused the new customer")


HOSTS = [pytest.param(OrmHost, id="orm-session"), pytest.param(CoreHost, id="core-connection")]


def pending_review(onboarding: Onboarding, store: SqlStore) -> Account:
    onboarding.register("pim", registration_form(ANNA))
    return onboarding.confirm(latest_token(store, ANNA, "confirmation"))


# -- on every database -----------------------------------------------------------------------------


@pytest.mark.parametrize("host_class", HOSTS)
def test_the_host_user_written_in_the_hook_commits_with_the_step(
    host_table: SqlStore, clock: FrozenClock, host_class: Callable[[], OrmHost | CoreHost]
) -> None:
    store = host_table
    host = host_class()
    with service(store, clock, plugins=make_plugins(host)) as onboarding:
        pending = pending_review(onboarding, store)
        approved = onboarding.approve("pim", pending.id, reviewer="lead", roles=["viewer"])
    assert approved.status is AccountStatus.ACTIVE
    assert host.written == [approved.id]
    assert host_rows(store) == [(approved.id, ANNA)]


@pytest.mark.parametrize("host_class", HOSTS)
def test_a_plugin_failing_after_the_host_takes_the_host_user_back_with_the_step(
    host_table: SqlStore, clock: FrozenClock, host_class: Callable[[], OrmHost | CoreHost]
) -> None:
    store = host_table
    host, crm = host_class(), FailsAfterTheHost()
    with service(store, clock, plugins=make_plugins(host, crm)) as onboarding:
        pending = pending_review(onboarding, store)
        mail_count = len(mails(store))

        with pytest.raises(ProvisioningFailed) as caught:
            onboarding.approve("pim", pending.id, reviewer="lead", roles=["viewer"])

        assert caught.value.code == "account.provisioning_failed"
        assert host.written == [pending.id]  # the host's row was written, then rolled back
        assert host_rows(store) == []
        assert store.atomic(lambda tx: tx.account(pending.id)) == pending
        assert len(mails(store)) == mail_count

        crm.fail = False
        approved = onboarding.approve("pim", pending.id, reviewer="lead", roles=["viewer"])
    assert host_rows(store) == [(approved.id, ANNA)]


def test_the_transaction_handle_of_the_sql_store_is_its_connection(store: SqlStore) -> None:
    assert store.atomic(lambda tx: tx.handle is tx.connection)
    assert store.atomic(lambda tx: isinstance(tx.handle, sa.Connection))


# -- every step that activates an account ----------------------------------------------------------


def _approve(onboarding: Onboarding, store: SqlStore) -> str:
    pending = pending_review(onboarding, store)
    onboarding.approve("pim", pending.id, reviewer="lead", roles=["viewer"])
    return ANNA


def _confirm_without_review(onboarding: Onboarding, store: SqlStore) -> str:
    onboarding.register("dam", registration_form(ANNA))
    onboarding.confirm(latest_token(store, ANNA, "confirmation"))
    return ANNA


def _accept_invitation(onboarding: Onboarding, store: SqlStore) -> str:
    onboarding.invite("collab", INVITED, roles=["broker"], invited_by="Admin")
    token = latest_token(store, INVITED, "invitation")
    onboarding.accept_invitation(token, {"password": "Sommer#2024", "consents.privacy": "on"})
    return INVITED


def _complete_signup(onboarding: Onboarding, store: SqlStore) -> str:
    onboarding.start_signup("shop", SIGNUP, client_address="203.0.113.5")
    onboarding.complete_signup(latest_token(store, SIGNUP, "activation"), signup_form())
    return SIGNUP


def _create_account(onboarding: Onboarding, store: SqlStore) -> str:
    onboarding.create_account(
        "pim", ANNA, "Tundra-Violet-Harbor-93", roles=["editor"], created_by="setup"
    )
    return ANNA


ACTIVATIONS = [
    pytest.param(_approve, id="approve"),
    pytest.param(_confirm_without_review, id="confirm-without-review"),
    pytest.param(_accept_invitation, id="accept-invitation"),
    pytest.param(_complete_signup, id="complete-signup"),
    pytest.param(_create_account, id="create-account"),
]


@pytest.mark.parametrize("activate", ACTIVATIONS)
def test_every_step_that_activates_an_account_provisions_in_its_transaction(
    sqlite_store: SqlStore,
    clock: FrozenClock,
    activate: Callable[[Onboarding, SqlStore], str],
) -> None:
    HostModel.metadata.create_all(sqlite_store.engine)
    with service(sqlite_store, clock, plugins=make_plugins(OrmHost())) as onboarding:
        email = activate(onboarding, sqlite_store)
    assert [found for _id, found in host_rows(sqlite_store)] == [email]


@pytest.mark.parametrize("activate", ACTIVATIONS)
def test_every_step_that_activates_an_account_takes_the_host_user_back_when_it_fails(
    sqlite_store: SqlStore,
    clock: FrozenClock,
    activate: Callable[[Onboarding, SqlStore], str],
) -> None:
    HostModel.metadata.create_all(sqlite_store.engine)
    plugins = make_plugins(OrmHost(), FailsAfterTheHost())
    with (
        service(sqlite_store, clock, plugins=plugins) as onboarding,
        pytest.raises(ProvisioningFailed),
    ):
        activate(onboarding, sqlite_store)
    assert host_rows(sqlite_store) == []
    active = sqlite_store.atomic(lambda tx: tx.accounts(status=AccountStatus.ACTIVE))
    assert active == []


# -- SQLite: one writer at a time ------------------------------------------------------------------


def test_on_sqlite_the_hook_writes_without_waiting_for_the_steps_write_lock(
    tmp_path: Path, clock: FrozenClock
) -> None:
    # A wait for the lock would last the whole busy timeout and then fail.
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'app.db'}", busy_timeout=30)
    store.migrate()
    HostModel.metadata.create_all(store.engine)
    try:
        with service(store, clock, plugins=make_plugins(OrmHost())) as onboarding:
            pending = pending_review(onboarding, store)
            started = time.monotonic()
            onboarding.approve("pim", pending.id, reviewer="lead", roles=["viewer"])
            assert time.monotonic() - started < 5
        assert len(host_rows(store)) == 1
    finally:
        store.dispose()


def test_on_sqlite_a_connection_of_the_hosts_own_meets_the_steps_write_lock(
    sqlite_store: SqlStore, clock: FrozenClock
) -> None:
    """Why the hook gets the transaction: the same write on a second connection fails."""
    HostModel.metadata.create_all(sqlite_store.engine)
    elsewhere = sa.create_engine(sqlite_store.engine.url, connect_args={"timeout": 0.2})

    class SeparateConnectionHost:
        @hookimpl
        def onboardkit_provision_account(self, account: Account) -> None:
            with elsewhere.begin() as connection:
                connection.execute(HOST_USERS.insert().values(id=account.id, email=account.email))

    try:
        with service(sqlite_store, clock, plugins=make_plugins(SeparateConnectionHost())) as ok:
            pending = pending_review(ok, sqlite_store)
            with pytest.raises(ProvisioningFailed) as caught:
                ok.approve("pim", pending.id, reviewer="lead", roles=["viewer"])
    finally:
        elsewhere.dispose()
    assert "database is locked" in str(caught.value.__cause__)
    assert host_rows(sqlite_store) == []


# -- plugins written before the transaction argument -----------------------------------------------


def test_an_implementation_without_the_transaction_argument_still_works(
    memory_store: SqlStore, clock: FrozenClock
) -> None:
    class TwoArguments:
        def __init__(self) -> None:
            self.provisioned: list[tuple[str, Account]] = []

        @hookimpl
        def onboardkit_provision_account(self, tenant: Tenant, account: Account) -> None:
            self.provisioned.append((tenant.id, account))

    plugin = TwoArguments()
    with service(memory_store, clock, plugins=make_plugins(plugin)) as onboarding:
        pending = pending_review(onboarding, memory_store)
        approved = onboarding.approve("pim", pending.id, reviewer="lead", roles=["viewer"])
    assert plugin.provisioned == [("pim", approved)]


# -- joined_session --------------------------------------------------------------------------------


def test_a_joined_session_keeps_its_objects_readable_after_the_block(
    host_table: SqlStore,
) -> None:
    store = host_table

    def step(tx: Transaction) -> HostUser:
        with joined_session(tx) as session:
            user = HostUser(id="u-1", email=ANNA, roles="viewer")
            session.add(user)
        return user

    user = store.atomic(step)
    assert (user.id, user.email) == ("u-1", ANNA)
    assert host_rows(store) == [("u-1", ANNA)]


def test_an_error_in_a_joined_session_discards_its_work_and_propagates(
    host_table: SqlStore,
) -> None:
    store = host_table

    def step(tx: Transaction) -> None:
        with joined_session(tx) as session:
            session.add(HostUser(id="u-1", email=ANNA, roles="viewer"))
            session.flush()
            raise LookupError("no such department")

    with pytest.raises(LookupError):
        store.atomic(step)
    assert host_rows(store) == []


def test_a_joined_session_needs_the_transaction_of_a_sql_store() -> None:
    class DjangoTransaction:
        handle = "default"

    with (
        pytest.raises(TypeError, match="SqlStore"),
        joined_session(DjangoTransaction()),  # type: ignore[arg-type]
    ):
        pass


def test_a_session_class_that_chooses_its_own_engine_is_refused(host_table: SqlStore) -> None:
    """Flask-SQLAlchemy's session picks its engine in get_bind and would miss the step."""
    store = host_table

    class EngineChoosingSession(Session):
        def get_bind(self, *args: Any, **kwargs: Any) -> sa.Engine:
            return store.engine

    def step(tx: Transaction) -> None:
        with joined_session(tx, EngineChoosingSession) as session:
            session.add(HostUser(id="u-1", email=ANNA, roles="viewer"))

    with pytest.raises(TypeError, match="chooses Engine itself"):
        store.atomic(step)
    assert host_rows(store) == []
