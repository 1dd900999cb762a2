"""Fixtures of the Django plugin's tests (pytest-django, settings in tests/settings.py).

The PostgreSQL and MariaDB aliases need their servers. Each is checked once per run with a short
connect timeout; a test that asks for an unreachable one is skipped with the reason, or fails when
``ONBOARDKIT_REQUIRE_SERVICES=1`` (CI), like the core suite's service groups.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterator

import pytest
import settings as django_settings_module
from django.conf import settings


def server_of(alias: str) -> str | None:
    """Which server (``postgresql``, ``mariadb``) the alias is on, or None for SQLite."""
    engine = settings.DATABASES[alias]["ENGINE"]
    if engine.endswith("postgresql"):
        return "postgresql"
    return "mariadb" if engine.endswith("mysql") else None


def services_required() -> bool:
    return os.environ.get("ONBOARDKIT_REQUIRE_SERVICES", "").strip() not in ("", "0")


@functools.cache
def unreachable(alias: str) -> str | None:
    """Why the server of ``alias`` cannot be reached, or None when it can (or it is SQLite)."""
    server = server_of(alias)
    if server is None:
        return None
    entry = settings.DATABASES[alias]
    address = (entry["HOST"], int(entry["PORT"] or {"postgresql": 5432, "mariadb": 3306}[server]))
    try:
        socket.create_connection(address, timeout=3).close()
    except OSError as error:
        return f"{alias} at {address[0]}:{address[1]}: {error}"
    return None


def databases_of(item: pytest.Item) -> set[str]:
    marker = item.get_closest_marker("django_db")
    named = set(marker.kwargs.get("databases") or ()) if marker else set()
    if "__all__" in named:
        named = set(settings.DATABASES)
    if "database" in getattr(item, "fixturenames", ()):
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "database" in callspec.params:
            named.add(callspec.params["database"])
    return named


MISSING = pytest.StashKey[str]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needed = databases_of(item)
        if item.get_closest_marker("django_db") is not None:
            needed.add("default")
        for alias in sorted(needed & set(settings.DATABASES)):
            reason = unreachable(alias)
            if reason is None:
                continue
            if services_required():
                item.stash[MISSING] = reason
            else:
                item.add_marker(pytest.mark.skip(reason=f"service unavailable: {reason}"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = item.stash.get(MISSING, None)
    if reason is not None:
        pytest.fail(
            f"service unavailable: {reason} (ONBOARDKIT_REQUIRE_SERVICES=1 requires it)",
            pytrace=False,
        )


@pytest.fixture(params=list(django_settings_module.DATABASE_ALIASES))
def database(request: pytest.FixtureRequest) -> str:
    """The alias of each of the three databases in turn; the test runs once per alias.

    Ask for it together with ``@pytest.mark.django_db(databases="__all__")`` (or the aliases).
    """
    return str(request.param)


@pytest.fixture(autouse=True)
def fresh_service() -> Iterator[None]:
    """Every test builds the app's service afresh (with the settings it overrides)."""
    from onboardkit_django.service import reset

    reset()
    yield
    reset()
