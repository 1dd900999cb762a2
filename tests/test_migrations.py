"""The shipped Alembic migrations create exactly the tables of onboardkit.schema, everywhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from onboardkit import schema
from onboardkit.accounts import Account, AccountStatus, Flow
from onboardkit.sqlstore import MIGRATIONS_DIR, VERSION_TABLE, SqlStore, alembic_options

HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


@pytest.fixture
def empty_store(empty_database_url: str) -> Iterator[SqlStore]:
    store = SqlStore.from_url(empty_database_url)
    yield store
    store.dispose()


def differences(store: SqlStore) -> list[Any]:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=alembic_options())
        return list(compare_metadata(context, schema.metadata))


def table_names(store: SqlStore) -> set[str]:
    with store.engine.connect() as connection:
        return set(sa.inspect(connection).get_table_names())


def an_account() -> Account:
    return Account(
        id="a" * 32,
        tenant="acme",
        flow=Flow.REGISTRATION,
        status=AccountStatus.PENDING_CONFIRMATION,
        email="anna@example.org",
        canonical_email="anna@example.org",
        created_at=1_800_000_000.0,
        updated_at=1_800_000_000.0,
    )


def test_the_migrations_have_one_head() -> None:
    assert len(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()) == 1


def test_the_migrated_database_matches_the_schema_exactly(empty_store: SqlStore) -> None:
    empty_store.migrate()
    assert differences(empty_store) == []
    assert empty_store.schema_revision() == HEAD


def test_the_comparison_notices_tables_that_drifted(empty_store: SqlStore) -> None:
    # The test above could pass by comparing nothing; here it must see the drift.
    empty_store.migrate()
    with empty_store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE onboardkit_rate_limits")
        connection.exec_driver_sql("CREATE TABLE onboardkit_stray (id INTEGER PRIMARY KEY)")
    found = {(kind, table.name) for kind, table, *_ in differences(empty_store) if "table" in kind}
    assert found == {("add_table", "onboardkit_rate_limits"), ("remove_table", "onboardkit_stray")}


def test_migrating_again_changes_nothing_and_keeps_the_rows(empty_store: SqlStore) -> None:
    empty_store.migrate()
    empty_store.atomic(lambda tx: tx.insert_account(an_account()))
    empty_store.migrate()
    assert empty_store.schema_revision() == HEAD
    assert empty_store.atomic(lambda tx: tx.account("a" * 32)) == an_account()


def test_downgrading_to_base_drops_everything_and_upgrading_again_works(
    empty_store: SqlStore,
) -> None:
    empty_store.migrate()
    empty_store.downgrade("base")
    assert table_names(empty_store) == {VERSION_TABLE}
    assert empty_store.schema_revision() is None
    empty_store.migrate()
    assert differences(empty_store) == []


def test_the_host_applications_own_alembic_version_is_left_alone(empty_store: SqlStore) -> None:
    with empty_store.engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
        )
        connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('hostapp42')")
        connection.exec_driver_sql("CREATE TABLE shop_orders (id INTEGER PRIMARY KEY)")
    empty_store.migrate()
    with empty_store.engine.connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    assert [row[0] for row in versions] == ["hostapp42"]
    assert {"alembic_version", "shop_orders"} <= table_names(empty_store)
    assert differences(empty_store) == []


def test_processes_starting_together_migrate_once(
    empty_database_url: str, empty_store: SqlStore
) -> None:
    starters = 4
    stores = [SqlStore.from_url(empty_database_url) for _ in range(starters)]
    start = threading.Barrier(starters, timeout=60)

    def start_up(number: int) -> None:
        start.wait()
        stores[number].migrate()

    try:
        with ThreadPoolExecutor(max_workers=starters) as pool:
            list(pool.map(start_up, range(starters)))
    finally:
        for store in stores:
            store.dispose()
    assert empty_store.schema_revision() == HEAD
    assert differences(empty_store) == []
