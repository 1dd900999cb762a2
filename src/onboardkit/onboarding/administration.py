"""Administration: one account, accounts made by an operator, consent export, erasure and
housekeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from onboardkit.accounts import Account, AccountStatus, Action, Flow, new_id
from onboardkit.errors import Issue, ValidationError
from onboardkit.onboarding.core import Events, OnboardingCore
from onboardkit.onboarding.errors import ACCOUNT_EXISTS, AccountNotFound
from onboardkit.onboarding.values import _PASSWORD_INPUT_LIMIT, PurgeReport
from onboardkit.passwords import TOO_LONG as PASSWORD_TOO_LONG
from onboardkit.passwords import PasswordContext
from onboardkit.storage import OutboxMail, Transaction
from onboardkit.tenants import Lifetimes

S = AccountStatus


class Administration(OnboardingCore):
    """What operators do: look up, create, disable, enable, erase, export and purge."""

    def account(self, tenant_id: str, account_id: str) -> Account:
        """One account of a tenant.

        :raises AccountNotFound: when the tenant has no account with this id.
        """
        tenant = self._tenant(tenant_id)
        return self._read(lambda tx: self._tenant_account(tx, tenant, account_id))

    def create_account(
        self,
        tenant_id: str,
        email: str,
        password: str,
        *,
        roles: Sequence[str],
        created_by: str,
        user_type: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
        locale: str | None = None,
    ) -> Account:
        """An operator creates an active account directly (a first reviewer or administrator).

        The password must meet the tenant's policy. Unlike the flows, this tells the operator
        when the address is taken: only trusted callers (``onboardkit account create``, a setup
        script, the demo) use it.

        :raises ValidationError: for a bad address, password, roles or user type, or
            ``account.exists`` at ``email``.
        :raises ProvisioningFailed: when a plugin could not create the user (nothing changed).
        """
        tenant = self._tenant(tenant_id)
        issues: list[Issue] = []
        address = self._email(email, issues)
        chosen = self._roles(tenant, roles, issues)
        kind = self._user_type(tenant, user_type, issues)
        actor = self._actor(created_by, "created_by", issues)
        form = {"password": password, "given_name": given_name, "family_name": family_name}
        validated = self._submission(
            tenant,
            {key: value for key, value in form.items() if value is not None},
            issues,
            email=address.normalized if address else None,
            locale=tenant.locale_for(locale),
            names_required=False,
            with_fields=False,
            with_consents=False,
        )
        if issues or validated is None or address is None:
            raise ValidationError(issues)
        password_hash = self.hasher.hash(password)

        def step(tx: Transaction, events: Events) -> Account:
            if tx.account_by_email(tenant.id, address.canonical, for_update=True) is not None:
                raise ValidationError([Issue("email", ACCOUNT_EXISTS)])
            now = self.clock()
            account = Account(
                id=new_id(),
                tenant=tenant.id,
                flow=Flow.INVITATION,
                status=S.ACTIVE,
                email=address.normalized,
                canonical_email=address.canonical,
                created_at=now,
                updated_at=now,
                locale=tenant.locale_for(locale),
                password_hash=password_hash,
                profile=validated.profile,
                user_type=kind,
                roles=cast(Any, chosen),
                invited_by=actor,
                confirmed_at=now,
                decided_at=now,
            )
            tx.insert_account(account)
            self._provision(tx, tenant, account)
            self._event(events, None, account, "created", actor)
            return account

        return self._run(step)

    def password_hints(self, tenant_id: str, locale: str | None = None) -> dict[str, Any]:
        """The tenant's password policy as hints for a page (see
        :meth:`onboardkit.passwords.PasswordPolicy.describe`)."""
        tenant = self._tenant(tenant_id)
        return tenant.password_policy.describe(
            tenant.locale_for(locale), plugins=self.plugins, tenant=tenant.id
        )

    def check_password(
        self,
        tenant_id: str,
        password: str,
        *,
        email: str | None = None,
        names: Sequence[str] = (),
        company: str | None = None,
    ) -> list[Issue]:
        """Every rule of the tenant's policy ``password`` breaks, for live hints while typing.

        Only a hint: the flows check again with everything the person entered.
        """
        tenant = self._tenant(tenant_id)
        if not isinstance(password, str) or len(password) > _PASSWORD_INPUT_LIMIT:
            return [
                Issue(
                    "password", PASSWORD_TOO_LONG, {"max_length": tenant.password_policy.max_length}
                )
            ]
        context = PasswordContext(
            names=tuple(name for name in names if isinstance(name, str)),
            email=email if isinstance(email, str) else None,
            company=company if isinstance(company, str) else None,
            words=(tenant.name,),
        )
        return tenant.password_policy.check(
            password, context=context, plugins=self.plugins, tenant=tenant.id
        )

    def outbox(self, tenant_id: str | None = None, *, limit: int = 100) -> list[OutboxMail]:
        """Mail in the outbox, newest first (sent or not): for a demo's "sent mail" page."""
        return list(self._read(lambda tx: tx.mails(tenant_id, limit=limit)))

    def _move(self, tenant_id: str, account_id: str, action: Action, actor: str | None) -> Account:
        tenant = self._tenant(tenant_id)

        def finish(_tx: Transaction, _before: Account, _after: Account) -> None:
            return None

        return self._decide(tenant, account_id, action, actor, finish)

    def disable(self, tenant_id: str, account_id: str, *, actor: str | None = None) -> Account:
        """Disable an active account. :raises InvalidTransition: when it is not active."""
        return self._move(tenant_id, account_id, Action.DISABLE, actor)

    def enable(self, tenant_id: str, account_id: str, *, actor: str | None = None) -> Account:
        """Enable a disabled account again. :raises InvalidTransition: when it is not disabled."""
        return self._move(tenant_id, account_id, Action.ENABLE, actor)

    def erase(self, tenant_id: str, account_id: str, *, actor: str | None = None) -> None:
        """Erase an account (GDPR Art. 17): the consent proof stays in pseudonymous form.

        :raises AccountNotFound: when the tenant has no such account.
        """
        tenant = self._tenant(tenant_id)

        def step(tx: Transaction, events: Events) -> None:
            account = self._tenant_account(tx, tenant, account_id, lock=True)
            self._ledger(tx).erase(tenant.id, account.id)
            tx.delete_account(account.id)
            self._event(events, account, None, "erased", actor)

        self._run(step)

    def export_consents(self, tenant_id: str, account_id: str) -> dict[str, Any]:
        """Everything the consent ledger holds about an account (GDPR Art. 15 and 20)."""
        tenant = self._tenant(tenant_id)
        if not isinstance(account_id, str) or not account_id:
            raise AccountNotFound()
        return self._read(
            lambda tx: self._ledger(tx).export(tenant.id, account_id, tenant.consents)
        )

    def purge(self, now: float | None = None) -> PurgeReport:
        """Delete what is kept too long: unclaimed accounts expired more than ``purge_after``
        ago, mail sent more than ``sent_mail`` ago (the shortest of the tenants' settings) and
        spent rate-limit counters (SQL backend).

        Unclaimed accounts never have consent records, so no proof is lost.
        """
        moment = self.clock() if now is None else now
        defaults = Lifetimes()
        lifetimes = [tenant.lifetimes for tenant in self.tenants.values()] or [defaults]
        cutoff = moment - min(item.purge_after for item in lifetimes)

        def purge_after(tenant_id: str) -> int:
            tenant = self.tenants.get(tenant_id)
            return (tenant.lifetimes if tenant else defaults).purge_after

        def accounts_step(tx: Transaction, events: Events) -> int:
            deleted = 0
            for account in tx.expired_accounts(cutoff, limit=500):
                expires_at = account.expires_at
                if expires_at is not None and expires_at + purge_after(account.tenant) < moment:
                    tx.delete_account(account.id)
                    self._event(events, account, None, "purged")
                    deleted += 1
            return deleted

        accounts = 0
        while True:
            deleted = self._run(accounts_step)
            accounts += deleted
            if deleted == 0:
                break
        sent_before = moment - min(item.sent_mail for item in lifetimes)
        mails = self.store.atomic(lambda tx: tx.delete_sent_mail(sent_before))
        rate_limits = self.limiter.purge(moment) if self.limiter is not None else 0
        return PurgeReport(accounts=accounts, mails=mails, rate_limits=rate_limits)
