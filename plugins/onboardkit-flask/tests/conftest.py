"""The databases the Flask plugin's tests run on: SQLite always; PostgreSQL and MariaDB where
the core's tests find them (``ONBOARDKIT_TEST_POSTGRESQL_URL``, ``ONBOARDKIT_TEST_MARIADB_URL``,
else the standard local ports). Each test that asks gets a database of its own, dropped after
it. An unreachable server leaves its tests out, or fails them with
``ONBOARDKIT_REQUIRE_SERVICES=1`` (CI), as in the core's suite (tests/conftest.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

SERVERS = {
    "postgresql": (
        "ONBOARDKIT_TEST_POSTGRESQL_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "mariadb": ("ONBOARDKIT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
_reachable: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    for name, (variable, default) in SERVERS.items():
        config.addinivalue_line(
            "markers", f"{name}: needs a {name} server ({variable}, default {default})"
        )


def _admin_engine(name: str) -> sa.Engine:
    variable, default = SERVERS[name]
    return sa.create_engine(
        os.environ.get(variable) or default,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )


def _unreachable(name: str) -> str | None:
    if name not in _reachable:
        engine = _admin_engine(name)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            _reachable[name] = None
        except Exception as error:
            _reachable[name] = str(error).strip().splitlines()[0] if str(error) else repr(error)
        finally:
            engine.dispose()
    return _reachable[name]


def _server_database(name: str) -> Iterator[str]:
    reason = _unreachable(name)
    if reason is not None:
        if os.environ.get("ONBOARDKIT_REQUIRE_SERVICES", "").strip() not in ("", "0"):
            pytest.fail(f"service {name} unavailable: {reason}", pytrace=False)
        pytest.skip(f"service {name} unavailable: {reason}")
    engine = _admin_engine(name)
    database = f"onboardkit_{secrets.token_hex(6)}"
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {database}")
    try:
        yield engine.url.set(database=database).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": database},
                )
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {database}")
        engine.dispose()


DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of the test's own, on each database in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    yield from _server_database(request.param)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of an empty SQLite database of the test's own."""
    return f"sqlite:///{tmp_path / 'app.db'}"
