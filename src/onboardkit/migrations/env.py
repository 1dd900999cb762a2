"""Alembic environment for onboardkit's own tables.

:meth:`onboardkit.sqlstore.SqlStore.migrate` runs it with an open connection (``connection``
in the config's attributes), inside a transaction it commits. For writing a new migration, the
``alembic`` command works too: ``alembic -c <ini> revision --autogenerate -m "..."`` with an ini
file whose ``script_location`` is this folder and whose ``sqlalchemy.url`` names a database at
the newest revision; ``alembic ... upgrade head --sql`` prints the SQL for a database
administrator instead of running it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from onboardkit.sqlstore import SqlStore, alembic_options


def _run_on(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        # SQLite cannot alter most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        **alembic_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    config = context.config
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **alembic_options(),
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if isinstance(connection, sa.Connection):
        _run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or migrate through SqlStore.migrate()")
    store = SqlStore.from_url(url)
    try:
        with store.engine.begin() as connection:
            _run_on(connection)
    finally:
        store.dispose()


_run()
