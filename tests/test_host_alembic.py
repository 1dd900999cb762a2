"""A host's own Alembic autogenerate leaves onboardkit's tables alone with the documented filter.

The host has an Alembic project of its own (its ``env.py``, its metadata with its own tables) on
the database where onboardkit migrated its tables. ``alembic revision --autogenerate`` compares
the host's metadata with the whole database: without the filter it proposes to drop every
``onboardkit_*`` table, the consent ledger included; with ``host_include_name`` and
``host_include_object`` it proposes the host's own changes only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from onboardkit import schema
from onboardkit.sqlstore import VERSION_TABLE, SqlStore, host_include_name, host_include_object

ONBOARDKIT_TABLES = sorted([*schema.metadata.tables, VERSION_TABLE])

HOST_ENV = '''\
"""The host application's Alembic environment, as its developers write it."""

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

from onboardkit.sqlstore import host_include_name, host_include_object

metadata = sa.MetaData()
sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
)

config = context.config
# Only for this test: the same project run with and without the filter.
filters = {}
if config.get_main_option("onboardkit_filter") == "on":
    filters = {"include_name": host_include_name, "include_object": host_include_object}

engine = sa.create_engine(config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, **filters)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
'''


def host_project(folder: Path, url: str, *, onboardkit_filter: bool) -> Config:
    """A host's Alembic project: ``alembic init``, then the host's own ``env.py``."""
    config = Config(str(folder / "alembic.ini"))
    command.init(config, str(folder / "migrations"))
    (folder / "migrations" / "env.py").write_text(HOST_ENV)
    config = Config(str(folder / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("onboardkit_filter", "on" if onboardkit_filter else "off")
    return config


def autogenerate(config: Config) -> str:
    """The text of the revision ``alembic revision --autogenerate`` writes."""
    script = command.revision(config, message="host changes", autogenerate=True)
    assert script is not None
    assert not isinstance(script, list)
    return Path(script.path).read_text()


def dropped_tables(revision: str) -> list[str]:
    upgrade = revision.split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
    return sorted(re.findall(r"drop_table\(['\"](\w+)['\"]", upgrade))


def url_of(store: SqlStore) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_autogenerate_with_the_filter_leaves_onboardkits_tables_alone(
    store: SqlStore, tmp_path: Path
) -> None:
    revision = autogenerate(host_project(tmp_path, url_of(store), onboardkit_filter=True))
    assert "create_table('customers'" in revision  # the host's own change is there
    assert dropped_tables(revision) == []
    assert "onboardkit_" not in revision


def test_autogenerate_without_the_filter_would_drop_every_onboardkit_table(
    store: SqlStore, tmp_path: Path
) -> None:
    """Why hosts need the filter: the same project without it."""
    revision = autogenerate(host_project(tmp_path, url_of(store), onboardkit_filter=False))
    assert dropped_tables(revision) == ONBOARDKIT_TABLES
    assert "onboardkit_consent_records" in ONBOARDKIT_TABLES


def _host_metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table("customers", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


def _touched_tables(diffs: list[Any]) -> set[str]:
    """The tables an autogenerate comparison would create, change or drop."""
    names: set[str] = set()
    for diff in diffs:
        for step in diff if isinstance(diff, list) else [diff]:
            for part in step[1:]:
                table = part if isinstance(part, sa.Table) else getattr(part, "table", None)
                if isinstance(table, sa.Table):
                    names.add(table.name)
                elif isinstance(part, str) and part.startswith("onboardkit_"):
                    names.add(part)
    return names


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"include_name": host_include_name}, id="include_name"),
        pytest.param({"include_object": host_include_object}, id="include_object"),
    ],
)
def test_either_filter_alone_keeps_onboardkits_tables_out_of_the_comparison(
    store: SqlStore, options: dict[str, Any]
) -> None:
    with store.engine.connect() as connection:
        unfiltered = compare_metadata(MigrationContext.configure(connection), _host_metadata())
        context = MigrationContext.configure(connection, opts=options)
        filtered = compare_metadata(context, _host_metadata())
    assert _touched_tables(unfiltered) == {"customers", *ONBOARDKIT_TABLES}
    assert _touched_tables(filtered) == {"customers"}


def test_include_object_also_keeps_onboardkits_tables_in_the_hosts_metadata_out(
    sqlite_store: SqlStore,
) -> None:
    # A host whose metadata happens to hold onboardkit's tables (it imported onboardkit.schema
    # into its own): on a database without them, they are not created by the host's migration.
    sqlite_store.downgrade("base")
    metadata = _host_metadata()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(metadata)
    with sqlite_store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": host_include_object}
        )
        assert _touched_tables(compare_metadata(context, metadata)) == {"customers"}
