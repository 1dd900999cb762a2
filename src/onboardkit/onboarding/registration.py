"""Self-registration with review: register, confirm by mail, review, approve or reject."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from onboardkit.accounts import Account, AccountStatus, Action, Flow
from onboardkit.consent import request_evidence
from onboardkit.errors import Issue, ValidationError
from onboardkit.mail import MailDetails, MailKind
from onboardkit.onboarding.core import Events, OnboardingCore, _display_name, _unsafe
from onboardkit.onboarding.errors import (
    PAGE_INVALID,
    REASON_CONTROL_CHARACTERS,
    REASON_REQUIRED,
    REASON_TOO_LONG,
)
from onboardkit.onboarding.values import CONFIRM, REASON_MAX_LENGTH, Submitted, mask_email
from onboardkit.storage import Transaction
from onboardkit.tenants import Tenant

S = AccountStatus

#: The most registrations one call of pending_reviews lists.
_MAX_PAGE: Final = 500


class RegistrationFlow(OnboardingCore):
    """Self-registration with double opt-in and review by the tenant's reviewers."""

    def register(
        self,
        tenant_id: str,
        form: Mapping[str, object],
        *,
        client_address: str | None = None,
        locale: str | None = None,
    ) -> Submitted:
        """Register with email, password, names, custom fields and consents (double opt-in).

        The answer is the same whether the address is new or not: an existing account's owner
        gets an "already registered" mail instead, and an unconfirmed registration of the address
        is replaced (the real owner is never blocked and never inherits another's password).

        :raises ValidationError: with every problem of the form at once.
        :raises RateLimited: when too many attempts came from the client or for the address.
        """
        tenant = self._tenant(tenant_id, Flow.REGISTRATION)
        data = self._form(tenant, form)
        language = tenant.locale_for(locale)
        issues: list[Issue] = []
        address = self._email(data.get("email"), issues)
        self._limit("register", client_address, address.canonical if address else None)
        validated = self._submission(
            tenant,
            data,
            issues,
            email=address.normalized if address else None,
            locale=language,
            names_required=False,
        )
        if issues or validated is None or address is None:
            raise ValidationError(issues)
        validated = self._hashed(validated, data)  # also for existing addresses: same cost
        pending = self._pending_consents(validated, request_evidence(client_address))
        signer = self._signer()

        def step(tx: Transaction, events: Events) -> None:
            now = self.clock()
            changes: dict[str, Any] = {
                "flow": Flow.REGISTRATION,
                "status": S.PENDING_CONFIRMATION,
                "email": address.normalized,
                "locale": language,
                "password_hash": validated.password_hash,
                "profile": validated.profile,
                "fields": validated.fields,
                "pending_consents": pending,
                "expires_at": now + tenant.lifetimes.confirmation,
            }
            account = self._claim_address(tx, events, tenant, signer, address, changes, now=now)
            if account is None:
                return
            self._link_mail(tx, tenant, signer, account, CONFIRM)

        self._run(step)
        return Submitted(tenant.id, "register", mask_email(address.normalized))

    def resend_confirmation(
        self,
        tenant_id: str,
        email: str,
        *,
        client_address: str | None = None,
        locale: str | None = None,
    ) -> Submitted:
        """Send the confirmation mail again (after ``login.email_not_confirmed``).

        The answer is the same for every address; only an unconfirmed registration gets a mail,
        with a new link (earlier links stop working).
        """
        tenant = self._tenant(tenant_id)
        issues: list[Issue] = []
        address = self._email(email, issues)
        if address is None:
            raise ValidationError(issues)
        self._limit("resend", client_address, address.canonical)
        signer = self._signer()

        def step(tx: Transaction, events: Events) -> None:
            account = tx.account_by_email(tenant.id, address.canonical, for_update=True)
            if account is None or account.status is not S.PENDING_CONFIRMATION:
                return
            renewed = self._renewed(account, tenant.lifetimes.confirmation)
            self._update(tx, account, renewed)
            self._link_mail(tx, tenant, signer, renewed, CONFIRM)

        self._run(step)
        return Submitted(tenant.id, "resend", mask_email(address.normalized))

    def confirm(self, token: str, *, client_address: str | None = None) -> Account:
        """Confirm an address (POST): the registration moves on to review, or becomes active.

        The consents given at registration are recorded now (method ``double_opt_in``). A second
        confirmation of an already confirmed registration returns the account unchanged.

        :raises TokenError: for a forged, expired, replaced or wrong link.
        :raises ProvisioningFailed: when activation without review failed in a plugin.
        """
        signer = self._signer()

        def step(tx: Transaction, events: Events) -> Account:
            account, done = self._account_of_link(tx, signer, token, CONFIRM, lock=True)
            if done:
                return account
            tenant = self.tenants.get_tenant(account.tenant)
            now = self.clock()
            common: dict[str, Any] = {
                "confirmed_at": now,
                "expires_at": None,
                "pending_consents": None,
            }
            if tenant.review_required:
                confirmed = account.transition(Action.CONFIRM, now, **common)
            else:
                confirmed = account.transition(
                    Action.CONFIRM_WITHOUT_REVIEW, now, decided_at=now, **common
                )
            self._update(tx, account, confirmed)
            self._record_pending_consents(tx, tenant, account, client_address)
            if confirmed.status is S.ACTIVE:
                self._provision(tx, tenant, confirmed)
                self._approved_mail(tx, tenant, confirmed)
                self._event(events, account, confirmed, Action.CONFIRM_WITHOUT_REVIEW.value)
            else:
                self._reviewer_notices(tx, tenant, confirmed)
                self._event(events, account, confirmed, Action.CONFIRM.value)
            return confirmed

        return self._run(step)

    def _record_pending_consents(
        self, tx: Transaction, tenant: Tenant, account: Account, client_address: str | None
    ) -> None:
        pending = account.pending_consents or {}
        documents = pending.get("documents") or []
        if not documents:
            return
        evidence = {str(k): str(v) for k, v in dict(pending.get("evidence") or {}).items()}
        confirmed_from = request_evidence(client_address).get("client_network")
        if confirmed_from:
            evidence["confirmed_from"] = confirmed_from
        ledger = self._ledger(tx)
        for entry in documents:
            document = tenant.consents.document(
                str(entry["purpose"]), str(entry["version"]), str(entry["locale"])
            )
            ledger.give(tenant.id, account.id, document, method="double_opt_in", evidence=evidence)

    def _reviewer_notices(self, tx: Transaction, tenant: Tenant, account: Account) -> None:
        if not tenant.reviewers:
            return
        shown: list[tuple[str, object]] = []
        for spec in tenant.fields.fields:
            if spec.name in account.fields:
                shown.append((spec.label.get(tenant.default_locale), account.fields[spec.name]))
        details = MailDetails(
            applicant_name=_display_name(account),
            applicant_email=account.email,
            registration_fields=shown,
            link_path=f"{self.paths.review.rstrip('/')}/{account.id}",
        )
        for reviewer in tenant.reviewers:
            self._mail(
                tx, tenant, MailKind.REVIEWER_NOTICE, reviewer, details, tenant.default_locale
            )

    def pending_reviews(self, tenant_id: str, *, limit: int = 50, offset: int = 0) -> list[Account]:
        """Confirmed registrations waiting for review, oldest first."""
        tenant = self._tenant(tenant_id)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not isinstance(offset, int)
            or not 1 <= limit <= _MAX_PAGE
            or offset < 0
        ):
            raise ValidationError([Issue("limit", PAGE_INVALID, {"max_limit": _MAX_PAGE})])
        return list(
            self._read(
                lambda tx: tx.accounts(
                    tenant.id, status=S.PENDING_REVIEW, limit=limit, offset=offset
                )
            )
        )

    def approve(
        self,
        tenant_id: str,
        account_id: str,
        *,
        reviewer: str,
        roles: Sequence[str],
        user_type: str | None = None,
    ) -> Account:
        """Approve a reviewed registration with roles (and a user type); it becomes active.

        :raises ValidationError: for roles or a user type the tenant does not have.
        :raises InvalidTransition: when the account is not waiting for review.
        :raises ProvisioningFailed: when a plugin could not create the user (nothing changed).
        """
        tenant = self._tenant(tenant_id)
        issues: list[Issue] = []
        who = self._actor(reviewer, "reviewer", issues)
        chosen = self._roles(tenant, roles, issues)
        kind = self._user_type(tenant, user_type, issues)
        if issues or who is None:
            raise ValidationError(issues)

        def finish(tx: Transaction, _before: Account, approved: Account) -> None:
            self._provision(tx, tenant, approved)
            self._approved_mail(tx, tenant, approved)

        return self._decide(
            tenant,
            account_id,
            Action.APPROVE,
            who,
            finish,
            roles=chosen,
            user_type=kind,
            reviewed_by=who,
            decided_at=self.clock(),
        )

    def reject(self, tenant_id: str, account_id: str, *, reviewer: str, reason: str) -> Account:
        """Reject a reviewed registration; the person gets a mail with the reason.

        :raises ValidationError: for a missing, too long or unsafe reason.
        :raises InvalidTransition: when the account is not waiting for review.
        """
        tenant = self._tenant(tenant_id)
        issues: list[Issue] = []
        who = self._actor(reviewer, "reviewer", issues)
        text = None
        if not isinstance(reason, str) or not reason.strip():
            issues.append(Issue("reason", REASON_REQUIRED))
        elif len(reason) > 4 * REASON_MAX_LENGTH:
            issues.append(Issue("reason", REASON_TOO_LONG, {"max_length": REASON_MAX_LENGTH}))
        else:
            text = unicodedata.normalize("NFC", reason.replace("\r\n", "\n")).strip()
            if _unsafe(text, allow_newlines=True):
                issues.append(Issue("reason", REASON_CONTROL_CHARACTERS))
            elif len(text) > REASON_MAX_LENGTH:
                issues.append(Issue("reason", REASON_TOO_LONG, {"max_length": REASON_MAX_LENGTH}))
        if issues or who is None or text is None:
            raise ValidationError(issues)

        def finish(tx: Transaction, _before: Account, rejected: Account) -> None:
            details = MailDetails(recipient_name=_display_name(rejected), reason=text)
            self._mail(tx, tenant, MailKind.REJECTED, rejected.email, details, rejected.locale)

        return self._decide(
            tenant,
            account_id,
            Action.REJECT,
            who,
            finish,
            reviewed_by=who,
            rejection_reason=text,
            decided_at=self.clock(),
        )
