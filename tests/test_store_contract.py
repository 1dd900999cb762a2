"""Every store onboardkit ships passes the store contract (onboardkit.testing.StoreContract).

SqlStore on SQLite (a file, and the in-memory test store), PostgreSQL and MariaDB, and the
pure-Python InMemoryStore, which shows that the contract asks nothing SQL-shaped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onboardkit.sqlstore import SqlStore
from onboardkit.storage import Store
from onboardkit.testing import InMemoryStore, StoreContract
from onboardkit.testing import memory_store as make_memory_store


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
