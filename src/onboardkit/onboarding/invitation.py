"""Invitation: an administrator, or a customer's account administrator, invites a person who
sets a password behind the mailed link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from onboardkit.accounts import Account, AccountStatus, Action, Flow
from onboardkit.consent import request_evidence
from onboardkit.errors import Issue, ValidationError
from onboardkit.onboarding.core import Events, OnboardingCore
from onboardkit.onboarding.errors import ORGANIZATION_UNKNOWN, NotOrganizationAdmin
from onboardkit.onboarding.values import INVITE, Submitted, mask_email
from onboardkit.storage import Transaction
from onboardkit.tenants import ACCOUNT_ADMIN_PERMISSION, Tenant

S = AccountStatus


class InvitationFlow(OnboardingCore):
    """Invitations by an administrator and by a customer's account administrator."""

    def invite(
        self,
        tenant_id: str,
        email: str,
        *,
        roles: Sequence[str],
        invited_by: str,
        organization_id: str | None = None,
        user_type: str | None = None,
        locale: str | None = None,
    ) -> Submitted:
        """Invite a person by mail; they choose a password through the link.

        An address with an account gets an "already registered" mail instead (same answer); a
        pending invitation is updated (roles) and sent again.

        :raises ValidationError: for a bad address, unknown roles, user type or organization.
        """
        tenant = self._tenant(tenant_id, Flow.INVITATION)
        return self._invite(
            tenant,
            email,
            roles=roles,
            invited_by=invited_by,
            organization_id=organization_id,
            user_type=user_type,
            locale=locale,
        )

    def _invite(
        self,
        tenant: Tenant,
        email: str,
        *,
        roles: Sequence[str],
        invited_by: object,
        organization_id: str | None,
        user_type: str | None,
        locale: str | None,
        admin_id: str | None = None,
    ) -> Submitted:
        issues: list[Issue] = []
        address = self._email(email, issues)
        chosen = self._roles(tenant, roles, issues)
        kind = self._user_type(tenant, user_type, issues)
        inviter = None if admin_id is not None else self._actor(invited_by, "invited_by", issues)
        if organization_id is not None and not isinstance(organization_id, str):
            issues.append(Issue("organization_id", ORGANIZATION_UNKNOWN))
        if issues or address is None:
            raise ValidationError(issues)
        language = tenant.locale_for(locale)
        signer = self._signer()

        def step(tx: Transaction, events: Events) -> None:
            now = self.clock()
            organization, inviter_name = organization_id, inviter
            if admin_id is not None:
                admin = self._organization_admin(tx, tenant, admin_id)
                organization, inviter_name = admin.organization_id, admin.email
            if organization is not None:
                found = tx.organization(organization)
                if found is None or found.tenant != tenant.id:
                    raise ValidationError([Issue("organization_id", ORGANIZATION_UNKNOWN)])
            changes: dict[str, Any] = {
                "flow": Flow.INVITATION,
                "status": S.INVITED,
                "email": address.normalized,
                "locale": language,
                "roles": chosen,
                "user_type": kind,
                "organization_id": organization,
                "invited_by": inviter_name,
                "expires_at": now + tenant.lifetimes.invitation,
            }

            def resume(existing: Account) -> tuple[Account, str | None]:
                updated = attrs.evolve(
                    existing, updated_at=now, version=existing.version + 1, **changes
                )
                return updated, "updated"

            account = self._claim_address(
                tx,
                events,
                tenant,
                signer,
                address,
                changes,
                now=now,
                resumes=S.INVITED,
                resume=resume,
                actor=inviter_name,
            )
            if account is None:
                return
            self._link_mail(tx, tenant, signer, account, INVITE)

        self._run(step)
        return Submitted(tenant.id, "invite", mask_email(address.normalized))

    def resend_invitation(
        self, tenant_id: str, email: str, *, locale: str | None = None
    ) -> Submitted:
        """Send a pending invitation again with a new link and a new expiry.

        The answer is the same for every address; only a pending invitation gets a mail.
        """
        tenant = self._tenant(tenant_id)
        issues: list[Issue] = []
        address = self._email(email, issues)
        if address is None:
            raise ValidationError(issues)
        signer = self._signer()

        def step(tx: Transaction, events: Events) -> None:
            account = tx.account_by_email(tenant.id, address.canonical, for_update=True)
            if account is None or account.status is not S.INVITED:
                return
            renewed = self._renewed(account, tenant.lifetimes.invitation)
            if locale is not None:
                renewed = attrs.evolve(renewed, locale=tenant.locale_for(locale))
            self._update(tx, account, renewed)
            self._link_mail(tx, tenant, signer, renewed, INVITE)

        self._run(step)
        return Submitted(tenant.id, "resend_invitation", mask_email(address.normalized))

    def accept_invitation(
        self, token: str, form: Mapping[str, object], *, client_address: str | None = None
    ) -> Account:
        """Accept an invitation (POST): set the password, give consents; the account is active.

        Form: ``password``, ``consents.<purpose>``, optional ``given_name`` and ``family_name``.
        Accepting an already accepted invitation returns the account unchanged.

        :raises TokenError: for a forged, expired, replaced or wrong link.
        :raises ValidationError: with every password rule broken and every consent missing.
        """
        account, done = self._link_account(token, INVITE)
        if done:
            return account
        tenant = self.tenants.get_tenant(account.tenant)
        data = self._form(tenant, form)
        issues: list[Issue] = []
        validated = self._submission(
            tenant,
            data,
            issues,
            email=account.email,
            locale=account.locale,
            names_required=False,
            with_fields=False,
        )
        if issues or validated is None:
            raise ValidationError(issues)
        validated = self._hashed(validated, data)
        evidence = request_evidence(client_address)
        signer = self._signer()

        def step(tx: Transaction, events: Events) -> Account:
            current, used = self._account_of_link(tx, signer, token, INVITE, lock=True)
            if used:
                return current
            now = self.clock()
            accepted = current.transition(
                Action.ACCEPT,
                now,
                password_hash=validated.password_hash,
                profile={**current.profile, **validated.profile},
                confirmed_at=now,
                decided_at=now,
                expires_at=None,
            )
            self._update(tx, current, accepted)
            self._ledger(tx).record_decisions(
                tenant.id,
                accepted.id,
                validated.shown,
                validated.decisions,
                method="invitation",
                evidence=evidence,
            )
            self._provision(tx, tenant, accepted)
            self._event(events, current, accepted, Action.ACCEPT.value)
            return accepted

        return self._run(step)

    def _organization_admin(self, tx: Transaction, tenant: Tenant, admin_id: str) -> Account:
        admin = tx.account(admin_id) if isinstance(admin_id, str) else None
        if (
            admin is None
            or admin.tenant != tenant.id
            or admin.status is not S.ACTIVE
            or admin.organization_id is None
            or admin.user_type is None
            or admin.user_type not in tenant.user_types
            or ACCOUNT_ADMIN_PERMISSION not in tenant.user_types[admin.user_type].permissions
        ):
            raise NotOrganizationAdmin()
        return admin

    def invite_colleague(
        self,
        tenant_id: str,
        admin_account_id: str,
        email: str,
        *,
        roles: Sequence[str],
        locale: str | None = None,
    ) -> Submitted:
        """A customer's account administrator invites a colleague into their organization.

        :raises NotOrganizationAdmin: unless the inviter is an active account administrator.
        """
        tenant = self._tenant(tenant_id, Flow.SIGNUP)
        return self._invite(
            tenant,
            email,
            roles=roles,
            invited_by=None,
            organization_id=None,
            user_type=tenant.colleague_user_type,
            locale=locale,
            admin_id=admin_account_id,
        )
