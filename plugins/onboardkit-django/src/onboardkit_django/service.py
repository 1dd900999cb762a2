"""The project's onboarding service, built once from the ``ONBOARDKIT`` setting.

:func:`service` builds it on first use (not at import, so ``manage.py`` commands that need no
onboarding never read its configuration) and keeps it for the life of the process; a change of
the setting in tests (``override_settings``) builds it afresh.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from django.apps import apps
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from onboardkit.errors import ConfigurationError
from onboardkit.onboarding import Onboarding
from onboardkit.settings import SECRET_KEY_ENV, Settings, build_onboarding, build_plugins
from onboardkit.storage import Store
from onboardkit.web import OnboardingWeb
from onboardkit_django.conf import SETTING, PluginSettings, plugin_settings
from onboardkit_django.users import UserMapping

__all__ = ["Service", "install", "load_settings", "reset", "service", "template_folders"]

#: The folder below each of the project's template folders that holds onboardkit's templates.
TEMPLATE_SUBFOLDER = "onboardkit"


@attrs.frozen
class Service:
    """What the app built: the service, its web layer and the user mapping.

    :param options: The ``ONBOARDKIT`` setting.
    :param settings: The onboardkit settings (the TOML file and the environment).
    :param onboarding: The onboarding service.
    :param web: The web layer the views hand requests to.
    :param users: The user mapping.
    :param reviewer: The host's decision on who reviews, if ``ONBOARDKIT["REVIEWER"]`` names one.
    """

    options: PluginSettings
    settings: Settings | None
    onboarding: Onboarding
    web: OnboardingWeb
    users: UserMapping
    reviewer: Callable[[Any, str], str | None] | None = None
    #: Built by the app from the settings (and closed by it), not handed in with :func:`install`.
    owned: bool = True

    @classmethod
    def for_web(cls, web: OnboardingWeb, options: PluginSettings | None = None) -> Service:
        """A service around a web layer built elsewhere (a test's, a project's own wiring),
        with the user mapping ``options`` names; see :func:`install`."""
        options = options or PluginSettings(sessions=web.session_mode)
        users = options.imported("USER_MAPPING")(web)
        reviewer = options.imported("REVIEWER") if options.reviewer else None
        return cls(options, None, web.onboarding, web, users, reviewer, owned=False)

    @property
    def database(self) -> str:
        """The Django database alias the store works on (``default`` for a store that is not
        on Django's ORM)."""
        alias = getattr(self.onboarding.store, "using", None)
        return alias if isinstance(alias, str) else "default"

    @property
    def authentication_tenants(self) -> tuple[str, ...]:
        """The tenants whose accounts the authentication backend signs in, in order."""
        if self.options.authentication_tenants is not None:
            return self.options.authentication_tenants
        if self.options.tenant is not None:
            return (self.options.tenant,)
        return tuple(self.onboarding.tenants)


def template_folders() -> list[Path]:
    """``onboardkit/`` below every template folder of the project: each engine's ``DIRS``, then
    each installed app's ``templates/`` (with ``APP_DIRS``), as Django searches them. A file
    ``templates/onboardkit/web/login.html`` replaces the sign-in page, and
    ``templates/onboardkit/mail/confirmation.html`` the confirmation mail."""
    folders: list[Path] = []
    engines = list(getattr(django_settings, "TEMPLATES", []))
    for engine in engines:
        folders.extend(Path(folder) / TEMPLATE_SUBFOLDER for folder in engine.get("DIRS", []))
    if any(engine.get("APP_DIRS") for engine in engines):
        for config in apps.get_app_configs():
            folders.append(Path(config.path) / "templates" / TEMPLATE_SUBFOLDER)
    return [folder for folder in dict.fromkeys(folders) if folder.is_dir()]


def load_settings(options: PluginSettings) -> Settings:
    """The onboardkit settings the ``ONBOARDKIT`` setting points to.

    :raises ConfigurationError: naming the exact key of the first problem.
    """
    environ: dict[str, str] = dict(os.environ)
    if options.secret_key is not None:
        environ[SECRET_KEY_ENV] = options.secret_key
    return Settings.load(options.config, environ=environ)


def build(options: PluginSettings) -> Service:
    """Build the service of ``options`` (see :func:`service`)."""
    from onboardkit_django.hooks import DjangoHooks
    from onboardkit_django.ratelimits import DjangoCacheRateLimitBackend
    from onboardkit_django.store import DjangoStore

    # Everything that can fail on the setting alone before anything opens a connection.
    mapping = options.imported("USER_MAPPING")
    reviewer = options.imported("REVIEWER") if options.reviewer else None
    settings = load_settings(options)
    folders = template_folders()
    settings = attrs.evolve(
        settings, template_folders=(*map(str, folders), *settings.template_folders)
    )
    plugins = build_plugins()
    hooks = DjangoHooks()
    plugins.register(hooks, name="onboardkit_django")
    store: Store = (
        options.imported("STORE")(settings) if options.store else DjangoStore(using="default")
    )
    counters = (
        DjangoCacheRateLimitBackend()
        if isinstance(store, DjangoStore) and settings.rate_limit_backend == "database"
        else None
    )
    onboarding = build_onboarding(
        settings, plugins=plugins, store=store, rate_limit_backend=counters
    )
    try:
        web = OnboardingWeb(
            onboarding,
            secret=settings.secret_key,
            sessions=options.sessions,
            tenant=options.tenant,
            propagate_exceptions=options.propagate_exceptions,
            template_folders=settings.template_folders,
        )
        users = mapping(web)
        if not isinstance(users, UserMapping):
            raise ConfigurationError(
                key=f'{SETTING}["USER_MAPPING"]', reason="expected a UserMapping (or a subclass)"
            )
    except BaseException:
        _close(onboarding)
        raise
    built = Service(options, settings, onboarding, web, users, reviewer)
    hooks.service = built
    return built


_lock = threading.Lock()
_built: Service | None = None


def service() -> Service:
    """The project's service, built on first use.

    :raises ConfigurationError: for a problem in ``ONBOARDKIT`` or the onboardkit settings
        (``manage.py check`` reports the same with its message).
    """
    global _built
    built = _built
    if built is not None:
        return built
    with _lock:
        if _built is None:
            _built = build(plugin_settings())
        return _built


def install(built: Service) -> None:
    """Serve ``built`` (see :meth:`Service.for_web`) instead of building from ``ONBOARDKIT``,
    until :func:`reset`. The app does not close a service it did not build."""
    global _built
    with _lock:
        _built = built


def reset() -> None:
    """Forget the built service (closing it); the next :func:`service` builds it again."""
    global _built
    with _lock:
        built, _built = _built, None
    if built is not None and built.owned:
        _close(built.onboarding)


def _close(onboarding: Onboarding) -> None:
    onboarding.close()
    # A store of its own (SQLAlchemy's pool; with Django's ORM store nothing) goes too.
    dispose = getattr(onboarding.store, "dispose", None)
    if callable(dispose):
        dispose()


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING, "TEMPLATES", "AUTH_PASSWORD_VALIDATORS", "INSTALLED_APPS"):
        reset()
