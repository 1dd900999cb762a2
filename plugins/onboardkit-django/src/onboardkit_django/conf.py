"""The ``ONBOARDKIT`` setting: one dictionary in the project's settings module.

.. code-block:: python

    ONBOARDKIT = {"CONFIG": BASE_DIR / "onboardkit.toml"}

Every key is optional; the secret comes from ``ONBOARDKIT_SECRET_KEY`` in the environment (or
``secret_key_file`` in the TOML file) unless ``SECRET_KEY`` names it. docs/django.md lists the keys.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from onboardkit.errors import ConfigurationError

__all__ = ["DEFAULT_USER_MAPPING", "SETTING", "PluginSettings", "plugin_settings"]

#: The name of the Django setting.
SETTING: Final = "ONBOARDKIT"
DEFAULT_USER_MAPPING: Final = "onboardkit_django.users.UserMapping"
_KEYS: Final = frozenset(
    {
        "CONFIG",
        "SECRET_KEY",
        "SESSIONS",
        "TENANT",
        "USER_MAPPING",
        "AUTHENTICATION_TENANTS",
        "PASSWORD_VALIDATORS",
        "STORE",
        "PROPAGATE_EXCEPTIONS",
        "REVIEWER",
        "REVIEW_PERMISSION",
    }
)


def _key(name: str) -> str:
    return f'{SETTING}["{name}"]'


@attrs.frozen
class PluginSettings:
    """The ``ONBOARDKIT`` setting, read and checked.

    :param config: The onboardkit TOML file; ``None``: ``ONBOARDKIT_CONFIG``, else
        ``onboardkit.toml`` in the current folder (see :meth:`onboardkit.settings.Settings.load`).
    :param secret_key: The deployment's secret, when the settings module names it (read from the
        environment there, never written into the file); ``None``: onboardkit's own sources.
    :param sessions: ``"host"`` (Django's session and ``request.user``, the default) or
        ``"cookie"`` (onboardkit's own cookie, no Django sign-in).
    :param tenant: Serve only this tenant, with no tenant id in the URLs.
    :param user_mapping: The dotted path of the :class:`~onboardkit_django.users.UserMapping`
        (a subclass, or a callable returning one).
    :param authentication_tenants: The tenants whose accounts the authentication backend signs
        in, tried in order; ``None``: every tenant (only ``TENANT`` with a single-tenant mount).
    :param password_validators: Apply ``AUTH_PASSWORD_VALIDATORS`` to onboardkit's passwords.
    :param store: The dotted path of ``(settings) -> Store``; ``None``: the Django ORM store.
    :param propagate_exceptions: Let unexpected exceptions reach Django's error handling (its
        debug page, ``ADMINS`` mail, its 500 page) instead of onboardkit's 500 page.
    :param reviewer: The dotted path of ``(request, tenant) -> str | None``, the host's decision
        on who reviews a tenant; ``None``: onboardkit's own rule.
    :param review_permission: The permission (``app_label.codename``) a staff member needs for
        the review actions of the Django admin.
    """

    config: Path | None = None
    secret_key: str | None = attrs.field(default=None, repr=False)
    sessions: str = "host"
    tenant: str | None = None
    user_mapping: str = DEFAULT_USER_MAPPING
    authentication_tenants: tuple[str, ...] | None = None
    password_validators: bool = True
    store: str | None = None
    propagate_exceptions: bool = True
    reviewer: str | None = None
    review_permission: str = "onboardkit.review_account"

    @classmethod
    def from_mapping(cls, data: object) -> PluginSettings:
        """The settings of ``data``, the value of ``ONBOARDKIT``.

        :raises ConfigurationError: naming the key (``ONBOARDKIT["SESSIONS"]``) of the first
            problem.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(key=SETTING, reason="expected a dictionary")
        unknown = sorted(str(name) for name in data if name not in _KEYS)
        if unknown:
            raise ConfigurationError(key=_key(unknown[0]), reason="no such key")
        config = data.get("CONFIG")
        if config is not None and not isinstance(config, (str, os.PathLike)):
            raise ConfigurationError(key=_key("CONFIG"), reason="expected a path")
        secret = data.get("SECRET_KEY")
        if secret is not None and not isinstance(secret, str):
            raise ConfigurationError(key=_key("SECRET_KEY"), reason="expected text")
        sessions = data.get("SESSIONS", "host")
        if sessions not in ("host", "cookie"):
            raise ConfigurationError(key=_key("SESSIONS"), reason='expected "host" or "cookie"')
        for name in ("TENANT", "USER_MAPPING", "STORE", "REVIEWER", "REVIEW_PERMISSION"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ConfigurationError(key=_key(name), reason="expected text")
        tenants = data.get("AUTHENTICATION_TENANTS")
        if tenants is not None and (
            isinstance(tenants, str) or not all(isinstance(t, str) for t in tenants)
        ):
            raise ConfigurationError(
                key=_key("AUTHENTICATION_TENANTS"), reason="expected a list of tenant ids"
            )
        for name in ("PASSWORD_VALIDATORS", "PROPAGATE_EXCEPTIONS"):
            if not isinstance(data.get(name, True), bool):
                raise ConfigurationError(key=_key(name), reason="expected True or False")
        return cls(
            config=Path(config) if config is not None else None,
            secret_key=secret,
            sessions=sessions,
            tenant=data.get("TENANT"),
            user_mapping=data.get("USER_MAPPING") or DEFAULT_USER_MAPPING,
            authentication_tenants=tuple(tenants) if tenants is not None else None,
            password_validators=data.get("PASSWORD_VALIDATORS", True),
            store=data.get("STORE"),
            propagate_exceptions=data.get("PROPAGATE_EXCEPTIONS", True),
            reviewer=data.get("REVIEWER"),
            review_permission=data.get("REVIEW_PERMISSION") or "onboardkit.review_account",
        )

    def imported(self, name: str) -> Callable[..., Any]:
        """The object the dotted path of setting ``name`` (``USER_MAPPING``) names.

        :raises ConfigurationError: when it cannot be imported.
        """
        path = {"USER_MAPPING": self.user_mapping, "STORE": self.store, "REVIEWER": self.reviewer}[
            name
        ]
        try:
            found: Callable[..., Any] = import_string(str(path))
        except ImportError as error:
            raise ConfigurationError(
                key=_key(name), reason=f"cannot import {path!r}: {error}"
            ) from None
        return found


def plugin_settings() -> PluginSettings:
    """The project's ``ONBOARDKIT`` setting (an empty one when it has none).

    :raises ConfigurationError: naming the key of the first problem.
    """
    return PluginSettings.from_mapping(getattr(django_settings, SETTING, {}))
