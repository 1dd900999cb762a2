"""pytest-django settings of the plugin's tests.

Three database aliases, one per server onboardkit supports: SQLite (in a file, with immediate
transactions), ``postgresql`` (127.0.0.1:5432, user postgres) and ``mariadb`` (127.0.0.1:3306,
root without password). One of them is ``default``, the database the suite runs on: SQLite, or
the server ``ONBOARDKIT_DJANGO_DATABASE`` names; the other two keep their names (SQLite's is
``sqlite``). ``ONBOARDKIT_TEST_POSTGRESQL_URL`` and
``ONBOARDKIT_TEST_MARIADB_URL`` point them elsewhere (the core suite reads the same variables).

Every run names its test databases afresh (``test_onboardkit_<random>``), so two runs on one
server (tox envs side by side, two checkouts) never drop each other's database. A test picks its
databases the pytest-django way, ``@pytest.mark.django_db(databases=["postgresql"])``; the
``database`` fixture of conftest.py runs a test once per alias.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import django
import pymysql

# Django's MySQL backend imports MySQLdb (mysqlclient, a C extension that needs the client
# library to build); PyMySQL speaks the same protocol. Django asks for mysqlclient >= 2.2.1.
pymysql.version_info = (2, 2, 1, "final", 0)
pymysql.install_as_MySQLdb()

RUN = secrets.token_hex(4)
TEST_DATABASE_NAME = f"test_onboardkit_{RUN}"
HERE = Path(__file__).resolve().parent
#: The SQLite file of this run (an in-memory database would be private to one connection).
SQLITE_FILE = Path(tempfile.gettempdir()) / f"onboardkit-django-{RUN}.sqlite3"

POSTGRESQL_URL = os.environ.get(
    "ONBOARDKIT_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "ONBOARDKIT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def server_database(engine: str, url: str, **options: Any) -> dict[str, Any]:
    """A Django DATABASES entry for the server at ``url`` (an SQLAlchemy-style URL)."""
    parts = urlsplit(url)
    return {
        "ENGINE": engine,
        # Django connects to this one to create and drop the test database.
        "NAME": parts.path.lstrip("/") or "test",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        "TEST": {
            "NAME": TEST_DATABASE_NAME,
            **({"CHARSET": "utf8mb4"} if "mysql" in engine else {}),
        },
    }


SQLITE: dict[str, Any] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": str(SQLITE_FILE),
    # Without it two writers deadlock on the upgrade from a read to a write lock.
    "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    "TEST": {"NAME": str(SQLITE_FILE)},
}
SERVERS: dict[str, dict[str, Any]] = {
    "sqlite": SQLITE,
    "postgresql": server_database("django.db.backends.postgresql", POSTGRESQL_URL),
    "mariadb": server_database(
        "django.db.backends.mysql", MARIADB_URL, charset="utf8mb4", isolation_level="read committed"
    ),
}
#: The database the whole suite runs on as ``default`` (the project's own database, where the
#: users, sessions and onboardkit's tables are): ``sqlite`` unless
#: ``ONBOARDKIT_DJANGO_DATABASE`` names ``postgresql`` or ``mariadb`` (tox runs each).
DEFAULT_DATABASE = os.environ.get("ONBOARDKIT_DJANGO_DATABASE", "sqlite")
if DEFAULT_DATABASE not in SERVERS:
    raise ValueError(f"ONBOARDKIT_DJANGO_DATABASE: one of {', '.join(SERVERS)}")
DATABASES: dict[str, dict[str, Any]] = {
    "default": SERVERS[DEFAULT_DATABASE],
    **{alias: entry for alias, entry in SERVERS.items() if alias != DEFAULT_DATABASE},
}
#: The aliases a test can run on, in the order the ``database`` fixture runs them: each server
#: once, whichever is the default.
DATABASE_ALIASES = ("default", *(alias for alias in SERVERS if alias != DEFAULT_DATABASE))

SECRET_KEY = "django-insecure-tests-only-" + RUN
ONBOARDKIT = {
    "CONFIG": HERE / "onboardkit.toml",
    "SECRET_KEY": "onboardkit-django tests only: not a real secret " + RUN,
}
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "onboardkit_django.backends.OnboardkitBackend",
]
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "German")]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "urls"
STATIC_URL = "static/"
STATIC_ROOT = str(Path(tempfile.gettempdir()) / f"onboardkit-django-static-{RUN}")
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "onboardkit_django",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
