"""The plugin manager: the one place that talks to pluggy.

:class:`Plugins` owns the :class:`pluggy.PluginManager` and gives the rest of onboardkit a typed
method per hook; no other module touches ``pm.hook``. Built-in behaviour is registered as plugins
too, so a plugin sees the same hooks the core uses.

Nothing is loaded at import time: :meth:`Plugins.load` registers the built-ins, then the
third-party plugins of the entry-point group ``onboardkit``. A third-party plugin that fails to
load (import error, unknown hook, bad signature) is logged and listed in
:attr:`Plugins.failures`; the host keeps running without it. The environment variable
``ONBOARDKIT_DISABLE_PLUGINS`` (comma-separated plugin names) blocks plugins by name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any, cast

import attrs
import pluggy

from onboardkit import hookspecs

if TYPE_CHECKING:
    from onboardkit.accounts import Account, AccountEvent
    from onboardkit.consent import ConsentRecord
    from onboardkit.errors import Issue
    from onboardkit.fields import FieldSpec
    from onboardkit.partners import Partner
    from onboardkit.passwords import PasswordPolicy, PasswordRule
    from onboardkit.storage import Transaction
    from onboardkit.tenants import Tenant
    from onboardkit.transports import Transport

__all__ = ["BUILTIN_PLUGINS", "DISABLE_ENV", "ENTRY_POINT_GROUP", "PluginFailure", "Plugins"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "onboardkit"
DISABLE_ENV = "ONBOARDKIT_DISABLE_PLUGINS"

#: Modules holding onboardkit's own hook implementations, registered under their module name.
BUILTIN_PLUGINS: tuple[str, ...] = ("onboardkit.passwords",)


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded, and why."""

    name: str
    source: str
    error: str


def _blocked_from(environ: Mapping[str, str]) -> set[str]:
    return {name.strip() for name in environ.get(DISABLE_ENV, "").split(",") if name.strip()}


class Plugins:
    """The registered plugins, and a typed method per hook."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []

    @classmethod
    def load(
        cls,
        *,
        builtins: bool = True,
        entry_points: bool = True,
        blocked: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> Plugins:
        """Built-ins plus the installed third-party plugins, minus the blocked ones.

        :param builtins: Register onboardkit's own implementations (turn off only in tests).
        :param entry_points: Load the plugins of the ``onboardkit`` entry-point group.
        :param blocked: Plugin names never to register, added to ``ONBOARDKIT_DISABLE_PLUGINS``.
        :param environ: Where to read ``ONBOARDKIT_DISABLE_PLUGINS`` (default ``os.environ``).
        """
        plugins = cls()
        for name in set(blocked) | _blocked_from(os.environ if environ is None else environ):
            plugins._pm.set_blocked(name)
        if builtins:
            for module_name in BUILTIN_PLUGINS:
                if not plugins._pm.is_blocked(module_name):
                    plugins.register(import_module(module_name), name=module_name)
        if entry_points:
            plugins._load_entry_points()
        return plugins

    def _load_entry_points(self) -> None:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            name = entry_point.name
            if self._pm.is_blocked(name) or self._pm.has_plugin(name):
                continue
            try:
                plugin = entry_point.load()
                self.register(plugin, name=name)
            except Exception as exc:  # a broken plugin must not take the host down
                log.error(
                    "onboardkit plugin %r (%s) failed to load: %r", name, entry_point.value, exc
                )
                self.failures.append(PluginFailure(name, entry_point.value, repr(exc)))

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register ``plugin`` (a module or an object with ``@hookimpl`` methods).

        :raises pluggy.PluginValidationError: when it implements a hook that does not exist or
            with arguments its spec does not have; nothing stays registered then.
        """
        registered = self._pm.register(plugin, name=name)
        if registered is None:
            raise ValueError(f"plugin {name!r} is blocked")
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError:
            self._pm.unregister(name=registered)
            raise
        return registered

    def unregister(self, name: str) -> None:
        self._pm.unregister(name=name)

    def names(self) -> list[str]:
        """The names of the registered plugins."""
        return [name for name, _plugin in self._pm.list_name_plugin() if name is not None]

    def is_registered(self, name: str) -> bool:
        return self._pm.has_plugin(name)

    @property
    def _hook(self) -> Any:
        return self._pm.hook

    # -- one typed method per hook ---------------------------------------------------------

    def password_rules(self, *, tenant: str, policy: PasswordPolicy) -> list[PasswordRule]:
        answers = self._hook.onboardkit_password_rules(tenant=tenant, policy=policy)
        # pluggy calls the latest registered first; built-ins (registered first) lead the list.
        return [rule for answer in reversed(answers) for rule in answer or ()]

    def validate_field(
        self, *, tenant: str, field: FieldSpec, value: object, values: Mapping[str, object]
    ) -> list[Issue]:
        answers = self._hook.onboardkit_validate_field(
            tenant=tenant, field=field, value=value, values=values
        )
        return [issue for answer in reversed(answers) for issue in answer or ()]

    def resolve_partner_code(self, *, tenant: str, code: str) -> Partner | None:
        return cast(
            "Partner | None", self._hook.onboardkit_resolve_partner_code(tenant=tenant, code=code)
        )

    def consent_recorded(self, *, record: ConsentRecord) -> None:
        self._hook.onboardkit_consent_recorded(record=record)

    def template_folders(self, *, tenant: str) -> list[str | os.PathLike[str]]:
        answers = self._hook.onboardkit_template_folders(tenant=tenant)
        return [folder for answer in reversed(answers) for folder in answer or ()]

    def mail_transports(
        self,
    ) -> list[Mapping[str, Callable[[Mapping[str, object]], Transport]]]:
        """Each plugin's answer on its own, first registered first (duplicates stay visible)."""
        answers = self._hook.onboardkit_mail_transports()
        return [dict(answer) for answer in reversed(answers) if answer]

    def account_changed(self, *, event: AccountEvent) -> None:
        """Tell every observer; one that raises is logged and the others are still told."""
        hook = self._hook.onboardkit_account_changed
        for implementation in reversed(hook.get_hookimpls()):
            arguments = {"event": event}
            try:
                implementation.function(
                    **{name: arguments[name] for name in implementation.argnames}
                )
            except Exception:  # an audit observer must never undo or break the change
                log.exception(
                    "onboardkit_account_changed of plugin %r raised", implementation.plugin_name
                )

    def provision_account(
        self, *, tenant: Tenant, account: Account, transaction: Transaction
    ) -> None:
        """Let every plugin create its user in ``transaction``; an exception propagates (the step
        rolls back)."""
        self._hook.onboardkit_provision_account(
            tenant=tenant, account=account, transaction=transaction
        )
