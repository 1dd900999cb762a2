"""Django users for onboardkit accounts: who an approved person is in ``request.user``.

An account that becomes active (approval after review, confirmation without review, an accepted
invitation, a completed sign-up) gets a Django user of ``get_user_model()`` inside the same
transaction, through the ``onboardkit_provision_account`` hook; its groups are the account's
roles. The user has an **unusable password**: onboardkit keeps the password hash and checks it
(:class:`~onboardkit_django.backends.OnboardkitBackend`). The unusable value is derived from the
account's session verifier, so Django's own session check (``get_session_auth_hash``) ends every
other session of the person when their onboardkit password changes.

The mapping is a class: subclass :class:`UserMapping` and name the subclass in
``ONBOARDKIT["USER_MAPPING"]`` to change the username, the fields, the groups or staff status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import Group
from django.db import transaction

from onboardkit.accounts import Account, AccountEvent, AccountStatus
from onboardkit.onboarding.errors import AccountNotFound
from onboardkit.tenants import Tenant

if TYPE_CHECKING:
    from onboardkit.web import OnboardingWeb

__all__ = ["UserMapping"]

#: Statuses in which the Django user may sign in.
_ACTIVE: Final = AccountStatus.ACTIVE


class UserMapping:
    """How an onboardkit account becomes a Django user, and stays in step with it.

    :param web: The web layer (for the session verifier).
    """

    def __init__(self, web: OnboardingWeb) -> None:
        self.web = web

    # -- which user ----------------------------------------------------------------------------

    def username(self, tenant_id: str, account_id: str) -> str:
        """The value of the user model's ``USERNAME_FIELD`` for an account: unique per tenant and
        account, and never an address someone could register to take over an existing user."""
        return f"{tenant_id}.{account_id}"

    def lookup(self, tenant_id: str, account_id: str) -> dict[str, Any]:
        """The filter that finds the account's user."""
        field = str(getattr(get_user_model(), "USERNAME_FIELD", "username"))
        return {field: self.username(tenant_id, account_id)}

    def user(self, tenant_id: str, account_id: str, *, using: str | None = None) -> Any | None:
        """The account's Django user, or ``None`` when it has none (yet)."""
        manager = get_user_model()._default_manager
        queryset = manager.db_manager(using) if using else manager
        return queryset.filter(**self.lookup(tenant_id, account_id)).first()

    # -- what it holds -------------------------------------------------------------------------

    def group_names(self, tenant: Tenant, account: Account) -> Iterable[str]:
        """The names of the groups the user is in: the account's roles, as they are."""
        return sorted(account.roles)

    def fields(self, tenant: Tenant, account: Account) -> dict[str, Any]:
        """The user's fields besides the username, for the fields the user model has."""
        model = get_user_model()
        names = {field.name for field in model._meta.get_fields()}
        wanted = {
            "email": account.email,
            "first_name": str(account.profile.get("given_name") or "")[:150],
            "last_name": str(account.profile.get("family_name") or "")[:150],
            "is_active": account.status is _ACTIVE,
        }
        return {name: value for name, value in wanted.items() if name in names}

    def unusable_password(self, account: Account) -> str:
        """The user's password field: unusable, and derived from the account's password hash
        (through its session verifier), so it changes exactly when that password changes."""
        verifier = self.web.session_verifier(account)
        digest = hashlib.sha256(b"onboardkit-django user " + verifier.encode()).hexdigest()
        return UNUSABLE_PASSWORD_PREFIX + digest[:40]

    # -- keeping it in step --------------------------------------------------------------------

    def provision(self, tenant: Tenant, account: Account, *, using: str | None = None) -> Any:
        """Create or update the account's user and its groups; called inside the step that
        activates the account, on the store's database alias, so it commits with the step."""
        model = get_user_model()
        user = self.user(tenant.id, account.id, using=using)
        if user is None:
            user = model(**self.lookup(tenant.id, account.id))
        for name, value in self.fields(tenant, account).items():
            setattr(user, name, value)
        user.password = self.unusable_password(account)
        user.save(using=using)
        if hasattr(user, "groups"):
            groups = [
                Group.objects.db_manager(using).get_or_create(name=name)[0]
                for name in self.group_names(tenant, account)
            ]
            user.groups.set(groups)
        return user

    def account_changed(self, event: AccountEvent, *, using: str | None = None) -> None:
        """Follow an account change on its user (after the step committed): a new password ends
        the user's other sessions, a disabled, rejected or erased account cannot sign in."""
        user = self.user(event.tenant, event.account_id, using=using)
        if user is None:
            return
        try:
            account: Account | None = self.web.onboarding.account(event.tenant, event.account_id)
        except AccountNotFound:
            account = None
        changed: list[str] = []
        if account is None or account.status is not _ACTIVE:
            if getattr(user, "is_active", False):
                user.is_active = False
                changed.append("is_active")
        else:
            password = self.unusable_password(account)
            if user.password != password:
                user.password = password
                changed.append("password")
        if changed:
            user.save(using=using, update_fields=changed)

    def signed_in_user(self, tenant: Tenant, account: Account) -> AbstractBaseUser:
        """The user to log into Django's session for a sign-in: the account's user, made now
        for an account that was active before the app was installed."""
        user = self.user(tenant.id, account.id)
        if user is None or user.password != self.unusable_password(account):
            with transaction.atomic():
                user = self.provision(tenant, account)
        found: AbstractBaseUser = user
        return found
