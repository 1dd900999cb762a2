"""Django system checks: ``manage.py check`` (and ``runserver``, ``migrate``) report every
misconfiguration of the app with the exact setting and what to do.

=====================  ====================================================================
``onboardkit.E001``    ``ONBOARDKIT`` is not valid (a key, a type, an unimportable path)
``onboardkit.E002``    the onboardkit configuration is not valid (the TOML file, a key in it)
``onboardkit.E003``    no secret key (``ONBOARDKIT_SECRET_KEY``, ``secret_key_file``)
``onboardkit.E004``    SQLite without immediate transactions
``onboardkit.E005``    a tenant's ``base_url`` is not where the URLs are included
``onboardkit.E006``    host sessions without Django's sessions or authentication
``onboardkit.W001``    ``onboardkit_django.urls`` is not included
``onboardkit.W002``    the backend is not in ``AUTHENTICATION_BACKENDS`` (Django's own login and
                       DRF do not know onboardkit's accounts)
``onboardkit.W003``    a store not on the Django ORM: users are made at first sign-in
``onboardkit.W004``    rate limits counted in a per-process cache (``LocMemCache``)
=====================  ====================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections
from django.urls import NoReverseMatch, reverse

from onboardkit.errors import ConfigurationError
from onboardkit.settings import SECRET_MISSING
from onboardkit_django.conf import SETTING, plugin_settings
from onboardkit_django.service import Service, service
from onboardkit_django.sessions import BACKEND

__all__ = ["check_onboardkit"]


def _error(id_: str, msg: str, hint: str | None = None) -> Error:
    return Error(msg, hint=hint, id=f"onboardkit.{id_}")


def _configuration(error: ConfigurationError) -> CheckMessage:
    key = str(error.params.get("key", ""))
    if error.params.get("reason") == SECRET_MISSING:
        return _error(
            "E003",
            str(error),
            "Set ONBOARDKIT_SECRET_KEY in the environment (at least 32 random characters: "
            'python -c "import secrets; print(secrets.token_urlsafe(32))"), or '
            'ONBOARDKIT["SECRET_KEY"] = os.environ[...].',
        )
    if key.startswith(SETTING):
        return _error("E001", str(error))
    return _error("E002", str(error), "See docs/configuration.md for the key named.")


@register(Tags.compatibility, Tags.security, Tags.urls, Tags.database)
def check_onboardkit(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> Sequence[CheckMessage]:
    """Every check of the app, in the order a reader fixes them."""
    try:
        options = plugin_settings()
    except ConfigurationError as error:
        return [_configuration(error)]
    found: list[CheckMessage] = []
    found.extend(_host_sessions(options.sessions))
    try:
        built = service()
    except ConfigurationError as error:
        return [*found, _configuration(error)]
    found.extend(_sqlite(built))
    found.extend(_store(built))
    found.extend(_mount(built))
    found.extend(_counters(built))
    return found


def _counters(built: Service) -> list[CheckMessage]:
    from onboardkit_django.ratelimits import DjangoCacheRateLimitBackend

    limiter = getattr(built.onboarding, "limiter", None)
    backend = getattr(limiter, "backend", None) or getattr(limiter, "_backend", None)
    if not isinstance(backend, DjangoCacheRateLimitBackend):
        return []
    engine = str(django_settings.CACHES.get(backend.alias, {}).get("BACKEND", ""))
    if not engine.endswith(("LocMemCache", "DummyCache")):
        return []
    return [
        Warning(
            f'onboardkit counts rate limits in the cache "{backend.alias}" ({engine}), which '
            "each process keeps on its own: with several processes the limits are per process.",
            hint="Use a shared cache (Redis, Memcached, the database cache) for it.",
            id="onboardkit.W004",
        )
    ]


def _host_sessions(mode: str) -> list[CheckMessage]:
    if mode != "host":
        return []
    found: list[CheckMessage] = []
    middleware = list(getattr(django_settings, "MIDDLEWARE", []))
    apps_needed = ("django.contrib.auth", "django.contrib.sessions", "django.contrib.contenttypes")
    for app in apps_needed:
        if app not in django_settings.INSTALLED_APPS:
            found.append(
                _error(
                    "E006",
                    f'ONBOARDKIT["SESSIONS"] = "host" signs people in to Django, which needs '
                    f"{app} in INSTALLED_APPS.",
                    f'Add "{app}" to INSTALLED_APPS, or set ONBOARDKIT["SESSIONS"] = "cookie".',
                )
            )
    for name in (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ):
        if name not in middleware:
            found.append(
                _error(
                    "E006",
                    f'ONBOARDKIT["SESSIONS"] = "host" keeps the sign-in in request.session and '
                    f"request.user, which needs {name} in MIDDLEWARE.",
                    f'Add "{name}" to MIDDLEWARE, or set ONBOARDKIT["SESSIONS"] = "cookie".',
                )
            )
    if BACKEND not in getattr(django_settings, "AUTHENTICATION_BACKENDS", []):
        found.append(
            Warning(
                f"{BACKEND} is not in AUTHENTICATION_BACKENDS: onboardkit's own pages sign people "
                "in, but Django's login views, the admin login and Django REST framework do not "
                "know onboardkit's accounts.",
                hint=f'Add "{BACKEND}" to AUTHENTICATION_BACKENDS.',
                id="onboardkit.W002",
            )
        )
    return found


def _sqlite(built: Service) -> list[CheckMessage]:
    alias = built.database
    entry = connections.settings.get(alias)
    if entry is None or entry.get("ENGINE") != "django.db.backends.sqlite3":
        return []
    mode = str((entry.get("OPTIONS") or {}).get("transaction_mode") or "").upper()
    if mode in ("IMMEDIATE", "EXCLUSIVE"):
        return []
    return [
        _error(
            "E004",
            f'The SQLite database "{alias}" starts transactions as DEFERRED: two registrations '
            "at once can fail with 'database is locked' instead of waiting for each other, "
            "because onboardkit reads and then writes in one transaction.",
            f'Set DATABASES["{alias}"]["OPTIONS"] = {{"transaction_mode": "IMMEDIATE"}} '
            "(Django 5.1 and later).",
        )
    ]


def _store(built: Service) -> list[CheckMessage]:
    if getattr(built.onboarding.store, "using", None) is not None:
        return []
    return [
        Warning(
            "The store's transactions are not Django's: the Django user of an approved account "
            "is created at the person's first sign-in, not in the approval's transaction.",
            hint='Leave ONBOARDKIT["STORE"] unset to use the store on the Django ORM.',
            id="onboardkit.W003",
        )
    ]


def _mount(built: Service) -> list[CheckMessage]:
    try:
        root = reverse("onboardkit:index")
    except NoReverseMatch:
        return [
            Warning(
                "onboardkit_django.urls is not included in the project's URLconf: onboardkit's "
                "pages and mailed links lead nowhere.",
                hint='Add path("onboarding/", include("onboardkit_django.urls")) to urlpatterns.',
                id="onboardkit.W001",
            )
        ]
    try:
        built.web.check_mount(root.rstrip("/"))
    except ConfigurationError as error:
        return [
            _error(
                "E005",
                str(error),
                f"The URLs are included at {root!r}; set each tenant's base_url to "
                f"https://<your host>{root}<tenant id>.",
            )
        ]
    return []
