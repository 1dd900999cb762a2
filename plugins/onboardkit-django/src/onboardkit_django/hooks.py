"""onboardkit's hooks as the Django app implements them: users, signals, password validators,
mail through ``EMAIL_BACKEND``. Registered on the service's plugins when it is built."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import transaction as django_transaction

from onboardkit import hookimpl
from onboardkit.accounts import Account, AccountEvent
from onboardkit.passwords import PasswordPolicy, PasswordRule
from onboardkit.storage import Transaction
from onboardkit.tenants import Tenant
from onboardkit.transports import Transport
from onboardkit_django.mail import DjangoEmailTransport
from onboardkit_django.passwords import project_password_rules
from onboardkit_django.signals import account_changed

if TYPE_CHECKING:
    from onboardkit_django.service import Service

__all__ = ["DjangoHooks"]


class DjangoHooks:
    """The app's hook implementations; :attr:`service` is set once the service is built."""

    def __init__(self) -> None:
        self.service: Service | None = None

    def _service(self) -> Service:
        assert self.service is not None, "the hooks run only once the service is built"
        return self.service

    @hookimpl
    def onboardkit_provision_account(
        self, tenant: Tenant, account: Account, transaction: Transaction
    ) -> None:
        using = transaction.handle
        if not isinstance(using, str):
            # Not the Django ORM store: a write through Django's connection would be another
            # transaction than the step's (outliving a rolled-back approval, or waiting for the
            # step's locks). The user is made at the first sign-in instead (check W003).
            return
        self._service().users.provision(tenant, account, using=using)

    @hookimpl
    def onboardkit_account_changed(self, event: AccountEvent) -> None:
        built = self._service()
        built.users.account_changed(event, using=built.database)
        django_transaction.on_commit(
            lambda: account_changed.send(
                sender=AccountEvent,
                event=event,
                tenant=event.tenant,
                account_id=event.account_id,
                action=event.action,
            ),
            using=built.database,
        )

    @hookimpl
    def onboardkit_password_rules(
        self, tenant: str, policy: PasswordPolicy
    ) -> Iterable[PasswordRule] | None:
        if not self._service().options.password_validators:
            return None
        return project_password_rules()

    @hookimpl
    def onboardkit_mail_transports(
        self,
    ) -> Mapping[str, Callable[[Mapping[str, object]], Transport]]:
        def django(table: Mapping[str, Any]) -> Transport:
            return DjangoEmailTransport.from_mapping(table)

        return {"django": django}
