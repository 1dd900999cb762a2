"""An account's consents after sign-up: see where it stands, consent again, withdraw.

A new version of a document asks again (GDPR Art. 7(1): the consent must cover the text now in
force), and an optional consent is withdrawn as easily as it was given (Art. 7(3)). A required
consent cannot be withdrawn here: the portal cannot be used without it, so the way out is
erasure of the account.
"""

from __future__ import annotations

from collections.abc import Mapping

from onboardkit.accounts import Account, AccountStatus
from onboardkit.consent import ConsentDocument, decisions_from_form, request_evidence
from onboardkit.errors import Issue, ValidationError
from onboardkit.onboarding.core import Events, OnboardingCore
from onboardkit.onboarding.errors import (
    CONSENT_NOTHING_CHOSEN,
    CONSENT_PURPOSE_UNKNOWN,
    CONSENT_REQUIRED_PURPOSE,
    AccountNotFound,
)
from onboardkit.onboarding.values import ConsentState
from onboardkit.storage import Transaction
from onboardkit.tenants import Tenant


class ConsentSupport(OnboardingCore):
    """What an active account does with its consents."""

    def consent_states(
        self, tenant_id: str, account_id: str, locale: str | None = None
    ) -> list[ConsentState]:
        """Every consent purpose of the tenant as it stands for the account, in the tenant's order,
        with the current document in ``locale``.

        :raises AccountNotFound: unless the tenant has an active account with this id.
        """
        tenant = self._tenant(tenant_id)
        shown = tenant.consents.current(tenant.locale_for(locale))

        def read(tx: Transaction) -> list[ConsentState]:
            account = self._consenting_account(tx, tenant, account_id)
            return self._states(tx, tenant, account, shown)

        return self._read(read)

    def give_consents(
        self,
        tenant_id: str,
        account_id: str,
        form: Mapping[str, object],
        *,
        client_address: str | None = None,
        locale: str | None = None,
    ) -> list[ConsentState]:
        """Record the consents ticked in ``form`` (``consents.<purpose>``) that are not in effect
        for the current version yet; those in effect already are left as they are.

        :raises ValidationError: ``consent.nothing_chosen`` at ``consents`` when the form ticks
            no purpose that needs a consent.
        :raises AccountNotFound: unless the tenant has an active account with this id.
        """
        tenant = self._tenant(tenant_id)
        shown = tenant.consents.current(tenant.locale_for(locale))
        data = self._form(tenant, form)
        decisions = decisions_from_form(data, shown)
        evidence = request_evidence(client_address)

        def step(tx: Transaction, events: Events) -> list[ConsentState]:
            account = self._consenting_account(tx, tenant, account_id)
            ledger = self._ledger(tx)
            asked = ledger.missing(tenant.id, account.id, shown)
            chosen = [document for document in asked if decisions.get(document.purpose)]
            if not chosen:
                raise ValidationError([Issue("consents", CONSENT_NOTHING_CHOSEN)])
            for document in chosen:
                ledger.give(tenant.id, account.id, document, method="form", evidence=evidence)
            return self._states(tx, tenant, account, shown)

        return self._run(step)

    def withdraw_consent(
        self,
        tenant_id: str,
        account_id: str,
        purpose: str,
        *,
        client_address: str | None = None,
        locale: str | None = None,
    ) -> list[ConsentState]:
        """Withdraw the account's consent to an optional ``purpose``. Withdrawing a consent that
        is not in effect changes nothing, so a second click is harmless.

        :raises ValidationError: ``consent.purpose_unknown`` for a purpose the tenant does not
            have, ``consent.required_purpose`` for one the portal cannot do without.
        :raises AccountNotFound: unless the tenant has an active account with this id.
        """
        tenant = self._tenant(tenant_id)
        shown = tenant.consents.current(tenant.locale_for(locale))
        document = next((d for d in shown if d.purpose == purpose), None)
        if document is None:
            raise ValidationError([Issue("purpose", CONSENT_PURPOSE_UNKNOWN)])
        if document.required:
            raise ValidationError([Issue(f"consents.{purpose}", CONSENT_REQUIRED_PURPOSE)])
        evidence = request_evidence(client_address)

        def step(tx: Transaction, events: Events) -> list[ConsentState]:
            account = self._consenting_account(tx, tenant, account_id)
            ledger = self._ledger(tx)
            ledger.withdraw(tenant.id, account.id, purpose, method="form", evidence=evidence)
            return self._states(tx, tenant, account, shown)

        return self._run(step)

    def _consenting_account(self, tx: Transaction, tenant: Tenant, account_id: str) -> Account:
        account = self._tenant_account(tx, tenant, account_id)
        if account.status is not AccountStatus.ACTIVE:
            raise AccountNotFound()
        return account

    def _states(
        self, tx: Transaction, tenant: Tenant, account: Account, shown: list[ConsentDocument]
    ) -> list[ConsentState]:
        ledger = self._ledger(tx)
        in_effect = ledger.current_consents(tenant.id, account.id)
        asked = {document.purpose for document in ledger.missing(tenant.id, account.id, shown)}
        states = []
        for document in shown:
            record = in_effect.get(document.purpose)
            states.append(
                ConsentState(
                    document=document,
                    current=document.purpose not in asked,
                    given_version=record.document_version if record is not None else None,
                    given_at=record.recorded_at if record is not None else None,
                )
            )
        return states
