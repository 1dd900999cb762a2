"""Login support: an address and a password checked, with a typed reason for every refusal."""

from __future__ import annotations

import attrs

from onboardkit.accounts import Account, AccountStatus
from onboardkit.addresses import EmailAddress, parse_email
from onboardkit.errors import Issue, ValidationError
from onboardkit.onboarding.core import Events, OnboardingCore
from onboardkit.onboarding.errors import (
    CURRENT_PASSWORD_WRONG,
    LOGIN_BAD_CREDENTIALS,
    LOGIN_DISABLED,
    LOGIN_EMAIL_NOT_CONFIRMED,
    LOGIN_PENDING_REVIEW,
    LOGIN_REJECTED,
    AccountNotFound,
    LoginFailed,
)
from onboardkit.onboarding.values import _PASSWORD_INPUT_LIMIT
from onboardkit.storage import Transaction

S = AccountStatus


class LoginSupport(OnboardingCore):
    """Login with typed reasons."""

    def authenticate(
        self, tenant_id: str, email: str, password: str, *, client_address: str | None = None
    ) -> Account:
        """Check a login; the active account, or :class:`LoginFailed` with the reason.

        Reasons other than ``login.bad_credentials`` are given only after the password verified;
        unknown addresses cost the same time as known ones. A hash made with weaker parameters
        is replaced on success.

        :raises LoginFailed: see its codes.
        :raises RateLimited: when too many attempts came from the client or for the address.
        """
        tenant = self._tenant(tenant_id)
        try:
            address: EmailAddress | None = parse_email(email)
        except ValidationError:
            address = None
        self._limit("login", client_address, address.canonical if address else None)
        if not isinstance(password, str) or len(password) > _PASSWORD_INPUT_LIMIT:
            raise LoginFailed(LOGIN_BAD_CREDENTIALS)
        account = None
        if address is not None:
            canonical = address.canonical
            account = self._read(lambda tx: tx.account_by_email(tenant.id, canonical))
        stored = account.password_hash if account is not None else None
        verified = self.hasher.verify(password, stored or self._dummy_hash)
        if account is None or stored is None or not verified:
            raise LoginFailed(LOGIN_BAD_CREDENTIALS)
        refusals: dict[AccountStatus, LoginFailed] = {
            S.PENDING_CONFIRMATION: LoginFailed(LOGIN_EMAIL_NOT_CONFIRMED, resend_available=True),
            S.PENDING_REVIEW: LoginFailed(LOGIN_PENDING_REVIEW),
            S.REJECTED: LoginFailed(LOGIN_REJECTED),
            S.DISABLED: LoginFailed(LOGIN_DISABLED),
        }
        if account.status is not S.ACTIVE:
            raise refusals.get(account.status, LoginFailed(LOGIN_BAD_CREDENTIALS))
        if self.hasher.needs_rehash(stored):
            return self._rehash(account, stored, self.hasher.hash(password))
        return account

    def change_password(
        self,
        tenant_id: str,
        account_id: str,
        current_password: str,
        new_password: str,
        *,
        client_address: str | None = None,
    ) -> Account:
        """A signed-in person replaces their password, proving the current one.

        The new password must meet the tenant's policy, with the person's address and names as
        context. Every session bound to the old password ends: onboardkit's session cookies and
        host sessions alike (their verifier stops matching), so the caller signs the person in
        again with the returned account (``OnboardingWeb.session_verifier``).

        :raises ValidationError: ``password.current_wrong`` at ``current_password``, and the
            new password's broken rules at ``password``, together.
        :raises AccountNotFound: for no active account ``account_id`` in the tenant.
        :raises RateLimited: after too many attempts from the client or for the account.
        """
        tenant = self._tenant(tenant_id)
        account = self._read(lambda tx: self._tenant_account(tx, tenant, account_id))
        if account.status is not S.ACTIVE or account.password_hash is None:
            raise AccountNotFound()
        self._limit("login", client_address, account.canonical_email)
        issues: list[Issue] = []
        stored = account.password_hash
        current_ok = (
            isinstance(current_password, str)
            and len(current_password) <= _PASSWORD_INPUT_LIMIT
            and self.hasher.verify(current_password, stored)
        )
        if not current_ok:
            issues.append(Issue("current_password", CURRENT_PASSWORD_WRONG))
        form = {"password": new_password, **account.profile}
        validated = self._submission(
            tenant,
            form,
            issues,
            email=account.email,
            locale=account.locale,
            names_required=False,
            with_fields=False,
            with_consents=False,
        )
        if issues or validated is None:
            raise ValidationError(issues)
        new_hash = self.hasher.hash(new_password)

        def step(tx: Transaction, events: Events) -> Account:
            current = self._tenant_account(tx, tenant, account.id, lock=True)
            if current.password_hash != stored or current.status is not S.ACTIVE:
                # Changed meanwhile (another session changed it, or the account was disabled):
                # the proof of the current password no longer holds.
                raise ValidationError([Issue("current_password", CURRENT_PASSWORD_WRONG)])
            changed = attrs.evolve(
                current,
                password_hash=new_hash,
                updated_at=self.clock(),
                version=current.version + 1,
            )
            self._update(tx, current, changed)
            self._event(events, current, changed, "password_changed", current.email)
            return changed

        return self._run(step)

    def _rehash(self, account: Account, stored: str, new_hash: str) -> Account:
        def step(tx: Transaction) -> Account:
            current = tx.account(account.id, for_update=True)
            if current is None or current.password_hash != stored:
                return current or account  # changed meanwhile: leave it
            upgraded = attrs.evolve(
                current,
                password_hash=new_hash,
                updated_at=self.clock(),
                version=current.version + 1,
            )
            tx.update_account(upgraded, expected_version=current.version)
            return upgraded

        return self.store.atomic(step)
