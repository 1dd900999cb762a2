"""The databases and services the tests run against.

SQLite needs nothing. PostgreSQL, MariaDB and Redis are real servers, found at the machine's
standard ports or at the URLs in ``ONBOARDKIT_TEST_POSTGRESQL_URL``,
``ONBOARDKIT_TEST_MARIADB_URL`` and ``ONBOARDKIT_TEST_REDIS_URL``. A test that needs one carries
its marker (``postgresql``, ``mariadb``, ``redis``) or asks for its fixture. Each service is
checked once per run with a short connect timeout; when it is unreachable, its tests are skipped
and the summary names the group that was left out and why. With
``ONBOARDKIT_REQUIRE_SERVICES=1`` (CI) an unreachable service is an error in each of its tests.

The ``browser`` group is the same kind of group: its tests drive a real Chromium (the executable
at ``ONBOARDKIT_TEST_CHROMIUM``, default ``/usr/bin/chromium``) through Playwright's Python
package, and are left out (or, in CI, fail) when either is missing. Its fixtures live in
``tests/browser/conftest.py``, its helpers in ``tests/browser_harness.py``.

Every run works in databases of its own (``onboardkit_<random>``, dropped at the end) and in a
Redis database index it claimed, so parallel runs (tox environments) never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from onboardkit import schema
from onboardkit.sqlstore import SqlStore
from onboardkit.testing.store import memory_store as make_memory_store

REQUIRE_SERVICES = "ONBOARDKIT_REQUIRE_SERVICES"
CONNECT_TIMEOUT = 3
SERVICES = {
    "postgresql": (
        "ONBOARDKIT_TEST_POSTGRESQL_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "mariadb": ("ONBOARDKIT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
    "redis": ("ONBOARDKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
}
DEFAULT_PORTS = {"postgresql": 5432, "mariadb": 3306, "redis": 6379}
BROWSER = "browser"
CHROMIUM = ("ONBOARDKIT_TEST_CHROMIUM", "/usr/bin/chromium")
#: Every group a test can need: the servers above and the browser.
GROUPS = (*SERVICES, BROWSER)
REDIS_CLAIM_KEY = "onboardkit-test-run"


def _required() -> bool:
    return os.environ.get(REQUIRE_SERVICES, "").strip() not in ("", "0")


def service_url(name: str) -> str:
    variable, default = SERVICES[name]
    return os.environ.get(variable) or default


def chromium_path() -> str:
    """The Chromium executable the browser tests drive."""
    variable, default = CHROMIUM
    return os.environ.get(variable) or default


def _address(name: str, url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[name]


def _first_line(error: BaseException) -> str:
    args = error.args
    # PyMySQL's errors are (number, text) pairs.
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return args[1]
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _probe_socket(host: str, port: int) -> str | None:
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            return None
    except ConnectionRefusedError:
        return f"connection refused at {where}"
    except TimeoutError:
        return f"no answer within {CONNECT_TIMEOUT} s at {where}"
    except OSError as error:
        return f"{error.strerror or type(error).__name__} at {where}"


def _probe_database(url: str, where: str) -> str | None:
    try:
        engine = sa.create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT}
        )
    except ImportError as error:
        return f"its driver is not installed ({error.name}); install onboardkit[test]"
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as error:
        return f"{_first_line(error.orig or error)} at {where}"
    finally:
        engine.dispose()
    return None


def _probe_redis(url: str, where: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed; install onboardkit[test]"
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as error:
        return f"{_first_line(error)} at {where}"
    finally:
        client.close()
    return None


def _probe_browser() -> str | None:
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return f"no Chromium executable at {path}; set {CHROMIUM[0]}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed; install onboardkit[test]"
    return None


class Services:
    """Which services this run can reach; each is checked once, on first need."""

    def __init__(self) -> None:
        self._reasons: dict[str, str | None] = {}
        #: Services some test needed but could not have, with the reason.
        self.left_out: dict[str, str] = {}

    def reason_unavailable(self, name: str) -> str | None:
        if name not in self._reasons and name == BROWSER:
            self._reasons[name] = _probe_browser()
        if name not in self._reasons:
            url = service_url(name)
            host, port = _address(name, url)
            reason = _probe_socket(host, port)
            if reason is None:
                where = f"{host}:{port}"
                probe = _probe_redis if name == "redis" else _probe_database
                reason = probe(url, where)
            self._reasons[name] = reason
        return self._reasons[name]

    def require(self, name: str) -> None:
        """Skip the running test when ``name`` is unreachable, or fail it in CI."""
        reason = self.reason_unavailable(name)
        if reason is not None:
            self.leave_out(name, reason)

    def leave_out(self, name: str, reason: str) -> None:
        """Skip the running test for want of ``name``, or fail it in CI."""
        self.left_out[name] = reason
        if _required():
            pytest.fail(
                f"service {name} unavailable: {reason} ({REQUIRE_SERVICES}=1 requires it)",
                pytrace=False,
            )
        pytest.skip(f"service {name} unavailable: {reason}")


SERVICES_KEY = pytest.StashKey[Services]()


def pytest_configure(config: pytest.Config) -> None:
    for name, (variable, default) in SERVICES.items():
        config.addinivalue_line(
            "markers", f"{name}: needs a {name} server ({variable}, default {default})"
        )
    variable, default = CHROMIUM
    config.addinivalue_line(
        "markers",
        f"{BROWSER}: drives a real Chromium through Playwright ({variable}, default {default})",
    )
    config.stash[SERVICES_KEY] = Services()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    services = item.config.stash[SERVICES_KEY]
    for name in GROUPS:
        if item.get_closest_marker(name) is not None:
            services.require(name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    services = terminalreporter.config.stash[SERVICES_KEY]
    for name, reason in sorted(services.left_out.items()):
        if _required():
            terminalreporter.write_line(f"required but unavailable: {name} ({reason})", red=True)
        else:
            terminalreporter.write_line(f"left out: {name} ({reason})", yellow=True)


# -- browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_executable(request: pytest.FixtureRequest) -> str:
    """The path of the Chromium to drive; the test is left out (or fails in CI) without one."""
    request.config.stash[SERVICES_KEY].require(BROWSER)
    return chromium_path()


# -- database servers -----------------------------------------------------------------------------


class DatabaseServer:
    """A PostgreSQL or MariaDB server on which this run creates (and drops) its own databases."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = sa.make_url(admin_url)
        self._engine = sa.create_engine(
            self.admin_url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": CONNECT_TIMEOUT},
        )
        self._created: list[str] = []

    @property
    def is_postgresql(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    def create_database(self) -> str:
        """A new empty database; its URL, password included."""
        name = f"onboardkit_{secrets.token_hex(6)}"
        with self._engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        self._created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = sa.make_url(url).database
        assert name is not None
        assert name.startswith("onboardkit_")
        with self._engine.connect() as connection:
            if self.is_postgresql:
                # Connections a failed test left behind would keep the database in use.
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        with suppress(ValueError):
            self._created.remove(name)

    def close(self) -> None:
        for name in list(self._created):
            self.drop_database(str(self.admin_url.set(database=name)))
        self._engine.dispose()


def _server(request: pytest.FixtureRequest, name: str) -> Iterator[DatabaseServer]:
    request.config.stash[SERVICES_KEY].require(name)
    server = DatabaseServer(service_url(name))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgresql_server(request: pytest.FixtureRequest) -> Iterator[DatabaseServer]:
    yield from _server(request, "postgresql")


@pytest.fixture(scope="session")
def mariadb_server(request: pytest.FixtureRequest) -> Iterator[DatabaseServer]:
    yield from _server(request, "mariadb")


@pytest.fixture(scope="session")
def postgresql_url(postgresql_server: DatabaseServer) -> str:
    """The URL of an empty PostgreSQL database of this run's own."""
    return postgresql_server.create_database()


@pytest.fixture(scope="session")
def mariadb_url(mariadb_server: DatabaseServer) -> str:
    """The URL of an empty MariaDB database of this run's own."""
    return mariadb_server.create_database()


# -- redis ----------------------------------------------------------------------------------------


def _with_database_index(url: str, index: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{index}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty Redis database index claimed for this run; emptied at the end."""
    services = request.config.stash[SERVICES_KEY]
    services.require("redis")
    import redis

    token = secrets.token_hex(8).encode()
    base = service_url("redis")
    client, url = None, ""
    for index in range(1, 16):
        url = _with_database_index(base, index)
        candidate = redis.Redis.from_url(url, socket_timeout=CONNECT_TIMEOUT)
        try:
            if candidate.set(REDIS_CLAIM_KEY, token, nx=True, ex=24 * 3600):
                if candidate.dbsize() == 1:
                    client = candidate
                    break
                candidate.delete(REDIS_CLAIM_KEY)  # an index someone else uses
        except redis.ResponseError:
            candidate.close()
            break  # past the server's last database index
        candidate.close()
    if client is None:
        services.leave_out("redis", "no empty database index to claim")
        return
    try:
        yield url
    finally:
        if client.get(REDIS_CLAIM_KEY) == token:
            client.flushdb()
        client.close()


# -- stores ---------------------------------------------------------------------------------------


def empty_tables(store: SqlStore) -> None:
    """Delete every row of onboardkit's tables."""
    with store.engine.begin() as connection:
        for table in reversed(schema.metadata.sorted_tables):
            connection.execute(table.delete())


def _migrated(url: str) -> Iterator[SqlStore]:
    store = SqlStore.from_url(url)
    try:
        store.migrate()
        yield store
    finally:
        store.dispose()


@pytest.fixture(scope="session")
def _postgresql_store(postgresql_url: str) -> Iterator[SqlStore]:
    yield from _migrated(postgresql_url)


@pytest.fixture(scope="session")
def _mariadb_store(mariadb_url: str) -> Iterator[SqlStore]:
    yield from _migrated(mariadb_url)


@pytest.fixture
def postgresql_store(_postgresql_store: SqlStore) -> Iterator[SqlStore]:
    """The run's migrated PostgreSQL store, emptied after each test."""
    yield _postgresql_store
    empty_tables(_postgresql_store)


@pytest.fixture
def mariadb_store(_mariadb_store: SqlStore) -> Iterator[SqlStore]:
    """The run's migrated MariaDB store, emptied after each test."""
    yield _mariadb_store
    empty_tables(_mariadb_store)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated SQLite store in a file of the test's own."""
    yield from _migrated(f"sqlite:///{tmp_path / 'onboardkit.db'}")


DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(params=DATABASES)
def store(request: pytest.FixtureRequest) -> SqlStore:
    """An empty, migrated store on each database in turn."""
    found: SqlStore = request.getfixturevalue(f"{request.param}_store")
    return found


@pytest.fixture
def memory_store() -> Iterator[SqlStore]:
    """onboardkit.testing's in-memory SQLite store."""
    store = make_memory_store()
    yield store
    store.dispose()


@pytest.fixture(params=DATABASES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables at all, of the test's own, on each database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: DatabaseServer = request.getfixturevalue(f"{request.param}_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


@pytest.fixture
def store_on() -> Iterator[Callable[..., SqlStore]]:
    """Open more stores (with their own pools) on a store's database; closed after the test."""
    opened: list[SqlStore] = []

    def open_store(store: SqlStore, **engine_options: object) -> SqlStore:
        other = SqlStore.from_url(store.engine.url, **engine_options)
        opened.append(other)
        return other

    yield open_store
    for other in opened:
        other.dispose()
