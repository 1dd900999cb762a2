"""Every store onboardkit ships passes the store contract (onboardkit.testing.StoreContract).

SqlStore on SQLite (a file, and the in-memory test store), PostgreSQL and MariaDB, and the
pure-Python InMemoryStore, which shows that the contract asks nothing SQL-shaped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onboarding_helpers import STRONG, latest_token, mails, registration_form, service
from onboardkit.accounts import AccountStatus
from onboardkit.sqlstore import SqlStore
from onboardkit.storage import Store
from onboardkit.testing import FrozenClock, InMemoryStore, StoreContract
from onboardkit.testing import memory_store as make_memory_store

ANNA = "anna@example.org"


class TestSqliteFileStore(StoreContract):
    @pytest.fixture
    def store(self, sqlite_store: SqlStore) -> Store:
        return sqlite_store


class TestSqliteMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = make_memory_store()
        yield store
        store.dispose()


@pytest.mark.postgresql
class TestPostgresqlStore(StoreContract):
    @pytest.fixture
    def store(self, postgresql_store: SqlStore) -> Store:
        return postgresql_store


@pytest.mark.mariadb
class TestMariadbStore(StoreContract):
    @pytest.fixture
    def store(self, mariadb_store: SqlStore) -> Store:
        return mariadb_store


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return InMemoryStore()


def test_a_registration_runs_from_form_to_approval_on_the_store_without_sql() -> None:
    # The contract is what the flows need: a store that passes it carries a whole flow.
    store = InMemoryStore()
    with service(store, FrozenClock()) as onboarding:
        onboarding.register("pim", registration_form(ANNA), client_address="192.0.2.1")
        confirmed = onboarding.confirm(latest_token(store, ANNA, "confirmation"))
        assert confirmed.status is AccountStatus.PENDING_REVIEW
        approved = onboarding.approve(
            "pim", confirmed.id, reviewer="lead@pim.example.com", roles=["editor"]
        )
        assert approved.status is AccountStatus.ACTIVE
        assert mails(store, ANNA, "approved")
        assert onboarding.authenticate("pim", ANNA, STRONG).id == approved.id
        consents = store.atomic(lambda tx: tx.consents.records("pim"))
        assert [record.purpose for record in consents] == ["privacy"]
