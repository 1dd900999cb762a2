"""A built deployment: the onboarding service with what operating it needs.

The operator commands (:mod:`onboardkit.cli`) work on a :class:`Deployment`. The ``onboardkit``
program builds one from the settings file; a web framework builds its own, over its own store,
mail and migrations, and hands it to :func:`onboardkit.cli.main`, so that ``manage.py
onboardkit pending`` or ``flask onboardkit pending`` review the same registrations the site
shows::

    from onboardkit.cli import main
    from onboardkit.deployment import Deployment

    deployment = Deployment(
        onboarding, transport=DjangoMailTransport(), migrate_with="python manage.py migrate"
    )
    code = main(["pending"], deployment=deployment, prog="manage.py onboardkit")

A deployment only describes what the host made; the host keeps owning it (closing the service,
disposing of its database connections).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from onboardkit.errors import ConfigurationError, OnboardkitError, message

if TYPE_CHECKING:
    from onboardkit.clock import Clock
    from onboardkit.onboarding import Onboarding
    from onboardkit.outbox import OutboxWorker
    from onboardkit.settings import Settings
    from onboardkit.storage import Store
    from onboardkit.tenants import Tenant, Tenants
    from onboardkit.transports import Transport

__all__ = ["DEFAULT_KEEP_KEYS", "Deployment", "Migrations", "MigrationsElsewhere"]

#: Older signing keys that keep verifying links when the settings do not say (``keep_keys``).
DEFAULT_KEEP_KEYS = 3

MIGRATIONS_ELSEWHERE = message(
    "deployment.migrations_elsewhere",
    "onboardkit does not migrate the tables of this deployment; run {command} instead.",
)
MIGRATIONS_OF_THE_FRAMEWORK = message(
    "deployment.migrations_of_the_framework",
    "onboardkit does not migrate the tables of this deployment; migrate them the way its "
    "framework migrates its own tables.",
)
NO_TRANSPORT = message(
    "deployment.no_transport",
    "missing: give the deployment a mail transport, or settings with [mail.transport]",
)


class MigrationsElsewhere(OnboardkitError):
    """The deployment's tables are migrated by its framework, not by onboardkit.

    ``params['command']`` is the command to run instead, when the deployment names one.
    """

    default_message = MIGRATIONS_OF_THE_FRAMEWORK


@runtime_checkable
class Migrations(Protocol):
    """How a store's tables are brought up to date (a :class:`~onboardkit.sqlstore.SqlStore`)."""

    def migrate(self) -> None:
        """Bring the tables up to the newest revision; safe to run again and at once."""

    def schema_revision(self) -> str | None:
        """The revision the tables are at, or ``None`` before the first migration."""


def _store_migrations(deployment: Deployment) -> Migrations | None:
    store = deployment.onboarding.store
    return store if isinstance(store, Migrations) else None


def _tenant_sender(tenant: Tenant) -> str:
    # Quoted as onboardkit.settings quotes it, so commas or dots stay the display name's.
    name = tenant.branding.display_name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{name}" <{tenant.sender}>'


@attrs.frozen
class Deployment:
    """One deployment of onboardkit, built: the service and how to operate its store and mail.

    :param onboarding: The onboarding service; its ``store`` may be any
        :class:`~onboardkit.storage.Store` and its ``tenants`` are the deployment's tenants.
    :param settings: The settings the service was built from, if it was; they give the mail
        transport, the outbox worker's options and ``keep_keys`` when nothing else does.
    :param transport: How ``outbox deliver`` sends mail; by default the settings'
        ``[mail.transport]``.
    :param migrations: How ``migrate`` brings the tables up to date; by default the store
        itself when it migrates its own tables (as a :class:`~onboardkit.sqlstore.SqlStore`
        does), else ``None``: the framework migrates them.
    :param migrate_with: The command that migrates the tables when onboardkit does not
        (``"python manage.py migrate"``), for the operator who runs ``migrate``.
    """

    onboarding: Onboarding
    settings: Settings | None = None
    transport: Transport | None = None
    migrations: Migrations | None = attrs.field(
        default=attrs.Factory(_store_migrations, takes_self=True)
    )
    migrate_with: str | None = None

    @property
    def store(self) -> Store:
        """The service's store: any :class:`~onboardkit.storage.Store`."""
        return self.onboarding.store

    @property
    def tenants(self) -> Tenants:
        """The service's tenants."""
        return self.onboarding.tenants

    @property
    def clock(self) -> Clock:
        """The service's time source."""
        return self.onboarding.clock

    @property
    def keep_keys(self) -> int:
        """Older signing keys that keep verifying links after a rotation."""
        return self.settings.keep_keys if self.settings is not None else DEFAULT_KEEP_KEYS

    @property
    def store_label(self) -> str:
        """The store, for operators' messages: a SQL store's URL with its password masked, else
        the store's class name."""
        from onboardkit.settings import redacted_url
        from onboardkit.sqlstore import SqlStore

        store = self.store
        if isinstance(store, SqlStore):
            return redacted_url(store.engine.url.render_as_string(hide_password=False))
        return type(store).__name__

    def migrate(self) -> str | None:
        """Bring the tables up to date; the revision they are at then.

        :raises MigrationsElsewhere: when the framework migrates them (no ``migrations``).
        """
        if self.migrations is None:
            if self.migrate_with:
                raise MigrationsElsewhere(MIGRATIONS_ELSEWHERE, command=self.migrate_with)
            raise MigrationsElsewhere()
        self.migrations.migrate()
        return self.migrations.schema_revision()

    def mail_transport(self) -> Transport:
        """The transport ``outbox deliver`` sends with.

        :raises ConfigurationError: when neither the deployment nor its settings give one.
        """
        from onboardkit.settings import build_transport

        if self.transport is not None:
            return self.transport
        if self.settings is not None:
            return build_transport(self.settings, self.onboarding.plugins)
        raise ConfigurationError(key="Deployment.transport", reason=NO_TRANSPORT)

    def outbox_worker(self) -> OutboxWorker:
        """A worker that sends the outbox with :meth:`mail_transport`, each tenant's mail from
        its sender (the settings' ``mail.senders`` and options when there are settings)."""
        from onboardkit.outbox import OutboxWorker
        from onboardkit.settings import build_outbox_worker

        transport = self.mail_transport()
        if self.settings is not None:
            return build_outbox_worker(
                self.settings, self.store, transport=transport, clock=self.clock
            )
        senders = {tenant.id: _tenant_sender(tenant) for tenant in self.tenants.values()}
        return OutboxWorker(
            self.store,
            transport,
            self.clock,
            sender=next(iter(senders.values())),
            senders=senders,
        )

    @property
    def idle_sleep(self) -> float:
        """Seconds a looping outbox worker waits when nothing was due."""
        from onboardkit.settings import MailSettings

        mail = self.settings.mail if self.settings is not None else MailSettings()
        return mail.idle_sleep
