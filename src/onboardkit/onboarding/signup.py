"""Email-first sign-up: an address, the activation link, then company, person, password and
consents; a customer founds an organization, a partner gives a code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from onboardkit.accounts import Account, AccountStatus, Action, Flow, Organization, new_id
from onboardkit.consent import request_evidence
from onboardkit.errors import Issue, ValidationError
from onboardkit.onboarding.core import Events, OnboardingCore, _line
from onboardkit.onboarding.errors import KIND_INVALID, PARTNER_CODE_REQUIRED
from onboardkit.onboarding.values import (
    ACTIVATE,
    COMPANY_MAX_LENGTH,
    PARTNER_CODE_MAX_LENGTH,
    Submitted,
    mask_email,
)
from onboardkit.partners import REGISTRY_SOURCE, Partner, PartnerRegistry
from onboardkit.storage import Transaction

S = AccountStatus

_SIGNUP_KINDS: Final = ("customer", "partner")


class SignupFlow(OnboardingCore):
    """The email-first sign-up of customers and partners."""

    def start_signup(
        self,
        tenant_id: str,
        email: str,
        *,
        client_address: str | None = None,
        locale: str | None = None,
    ) -> Submitted:
        """Start an email-first sign-up: an activation mail with a link to the sign-up page.

        The answer is the same whether the address is new or not.
        """
        tenant = self._tenant(tenant_id, Flow.SIGNUP)
        issues: list[Issue] = []
        address = self._email(email, issues)
        if address is None:
            self._limit("activation", client_address, None)
            raise ValidationError(issues)
        self._limit("activation", client_address, address.canonical)
        language = tenant.locale_for(locale)
        signer = self._signer()

        def step(tx: Transaction, events: Events) -> None:
            now = self.clock()
            changes: dict[str, Any] = {
                "flow": Flow.SIGNUP,
                "status": S.PENDING_ACTIVATION,
                "email": address.normalized,
                "locale": language,
                "expires_at": now + tenant.lifetimes.activation,
            }

            def resume(existing: Account) -> tuple[Account, str | None]:
                renewed = self._renewed(existing, tenant.lifetimes.activation)
                return attrs.evolve(renewed, locale=language), None

            account = self._claim_address(
                tx,
                events,
                tenant,
                signer,
                address,
                changes,
                now=now,
                resumes=S.PENDING_ACTIVATION,
                resume=resume,
            )
            if account is None:
                return
            self._link_mail(tx, tenant, signer, account, ACTIVATE)

        self._run(step)
        return Submitted(tenant.id, "start_signup", mask_email(address.normalized))

    def complete_signup(
        self, token: str, form: Mapping[str, object], *, client_address: str | None = None
    ) -> Account:
        """Complete an email-first sign-up (POST) as a customer or a partner.

        Form: ``kind`` (``customer`` or ``partner``), ``given_name``, ``family_name``,
        ``company.name`` (required for customers), ``password``, ``fields.<name>``,
        ``consents.<purpose>`` and, for partners, ``partner_code``. A customer sign-up creates
        the organization and makes the person its account administrator.

        :raises TokenError: for a forged, expired, replaced or wrong link.
        :raises ValidationError: with every problem of the form at once.
        :raises PartnerCodeError: for a partner code nobody knows, or one expired or used up.
        :raises PartnerProviderError: when the partner provider failed or did not answer.
        """
        account, done = self._link_account(token, ACTIVATE)
        if done:
            return account
        tenant = self.tenants.get_tenant(account.tenant)
        data = self._form(tenant, form)
        issues: list[Issue] = []
        offered = _SIGNUP_KINDS if tenant.partners_enabled else _SIGNUP_KINDS[:1]
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in offered:
            issues.append(Issue("kind", KIND_INVALID))
        company = _line(
            data,
            "company.name",
            issues,
            required=kind == "customer",
            max_length=COMPANY_MAX_LENGTH,
        )
        code = None
        if kind == "partner":
            code = _line(
                data, "partner_code", issues, required=False, max_length=PARTNER_CODE_MAX_LENGTH
            )
            if code is None and not any(issue.path == "partner_code" for issue in issues):
                issues.append(Issue("partner_code", PARTNER_CODE_REQUIRED))
        validated = self._submission(
            tenant,
            data,
            issues,
            email=account.email,
            locale=account.locale,
            names_required=True,
            company=company,
        )
        if issues or validated is None:
            raise ValidationError(issues)
        partner: Partner | None = None
        if code is not None:
            self._limit("partner_code", client_address, account.canonical_email)
            partner = self.partner_codes.resolve(tenant.id, code)  # fails closed, typed
        validated = self._hashed(validated, data)
        evidence = request_evidence(client_address)
        signer = self._signer()

        def step(tx: Transaction, events: Events) -> Account:
            current, used = self._account_of_link(tx, signer, token, ACTIVATE, lock=True)
            if used:
                return current
            now = self.clock()
            changes: dict[str, Any] = {
                "password_hash": validated.password_hash,
                "profile": validated.profile,
                "fields": validated.fields,
                "confirmed_at": now,
                "decided_at": now,
                "expires_at": None,
            }
            if partner is not None and code is not None:
                if partner.source == REGISTRY_SOURCE:
                    # Counted in this transaction: a failed sign-up never uses up a code.
                    registry = PartnerRegistry(tx.partner_codes, self._partner_secret, self.clock)
                    registry.redeem(tenant.id, code)
                changes["partner"] = {
                    "id": partner.id,
                    "name": partner.name,
                    "source": partner.source,
                }
                changes["user_type"] = tenant.partner_user_type
                if company:
                    changes["profile"] = {**validated.profile, "company": company}
            else:
                organization = Organization(
                    id=new_id(), tenant=tenant.id, name=company or "", created_at=now
                )
                tx.insert_organization(organization)
                changes["organization_id"] = organization.id
                changes["user_type"] = tenant.default_user_type
            completed = current.transition(Action.COMPLETE, now, **changes)
            self._update(tx, current, completed)
            self._ledger(tx).record_decisions(
                tenant.id,
                completed.id,
                validated.shown,
                validated.decisions,
                method="double_opt_in",
                evidence=evidence,
            )
            self._provision(tx, tenant, completed)
            self._approved_mail(tx, tenant, completed)
            self._event(events, current, completed, Action.COMPLETE.value)
            return completed

        return self._run(step)
