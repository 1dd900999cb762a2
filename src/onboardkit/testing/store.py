"""An in-memory SQL store for tests: :func:`memory_store`.

It is the real :class:`onboardkit.sqlstore.SqlStore` on SQLite, migrated with the shipped
migrations, so a test exercises the same SQL as production; only the file is missing::

    from onboardkit.testing.store import memory_store

    store = memory_store()
    account = store.atomic(lambda tx: tx.account_by_email("acme", "anna@example.org"))
"""

from __future__ import annotations

from onboardkit.sqlstore import SqlStore

__all__ = ["memory_store"]


def memory_store() -> SqlStore:
    """A new, empty, migrated SQLite database in memory.

    One connection serves every thread (``StaticPool``); the store queues their transactions,
    so it may be shared between threads. The data is gone after ``store.dispose()``.
    """
    store = SqlStore.from_url("sqlite://")
    store.migrate()
    return store
