"""What every flow shares: set-up, transactions and events, mail, form validation, and
reading mailed links.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar, cast

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onboardkit.accounts import Account, AccountEvent, AccountStatus, Action, Flow, new_id
from onboardkit.addresses import EmailAddress, parse_email
from onboardkit.clock import Clock, system_clock
from onboardkit.consent import ConsentDocument, ConsentLedger, check_consents, decisions_from_form
from onboardkit.errors import ConfigurationError, Issue, TokenStaleState, ValidationError
from onboardkit.hashing import Hasher, PasswordHasher
from onboardkit.keys import KeyRingCache
from onboardkit.mail import MailBranding, MailDetails, Mailer, MailKind, MailRenderer, MailTenant
from onboardkit.onboarding.errors import (
    FORM_INVALID,
    FORM_TOO_LARGE,
    PASSWORD_REQUIRED,
    ROLE_UNKNOWN,
    USER_TYPE_UNKNOWN,
    VALUE_CONTROL_CHARACTERS,
    VALUE_REQUIRED,
    VALUE_TOO_LONG,
    VALUE_WRONG_TYPE,
    AccountNotFound,
    FlowNotOffered,
    ProvisioningFailed,
)
from onboardkit.onboarding.values import (
    _PASSWORD_INPUT_LIMIT,
    ACTIVATE,
    ACTOR_MAX_LENGTH,
    CONFIRM,
    INVITE,
    NAME_MAX_LENGTH,
    LinkPaths,
    LinkPreview,
    mask_email,
)
from onboardkit.outbox import enqueue
from onboardkit.partners import (
    REGISTRY_PLUGIN_NAME,
    PartnerCodeRecord,
    PartnerCodes,
    PartnerRegistry,
)
from onboardkit.passwords import TOO_LONG as PASSWORD_TOO_LONG
from onboardkit.passwords import PasswordContext, warm_up
from onboardkit.plugins import Plugins
from onboardkit.ratelimits import RateLimiter
from onboardkit.storage import Conflict, Store, Transaction
from onboardkit.tenants import Tenant, Tenants
from onboardkit.tokens import TokenSigner

log = logging.getLogger(__name__)

T = TypeVar("T")
S = AccountStatus

#: Keys a form may have besides custom fields and consent checkboxes.
_FIXED_FORM_KEYS: Final = 16
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Zl", "Zp"})
_BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

#: Per purpose: the flow its account has and the status the link acts on. A stale link of an
#: account of that flow that has moved past that status was used: it is answered kindly.
_LINK_TARGETS: Final[Mapping[str, tuple[Flow, AccountStatus]]] = {
    CONFIRM: (Flow.REGISTRATION, S.PENDING_CONFIRMATION),
    INVITE: (Flow.INVITATION, S.INVITED),
    ACTIVATE: (Flow.SIGNUP, S.PENDING_ACTIVATION),
}


# -- helpers -------------------------------------------------------------------------------------


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)


def _unsafe(text: str, *, allow_newlines: bool = False) -> bool:
    for character in text:
        if allow_newlines and character == "\n":
            continue
        if unicodedata.category(character) in _UNSAFE_CATEGORIES or character in _BIDI_CONTROLS:
            return True
    return False


def _line(
    form: Mapping[Any, object],
    key: str,
    issues: list[Issue],
    *,
    required: bool,
    max_length: int = NAME_MAX_LENGTH,
) -> str | None:
    """One line of text from the form, bounded and free of control characters."""
    raw = form.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            issues.append(Issue(key, VALUE_REQUIRED))
        return None
    if not isinstance(raw, str):
        issues.append(Issue(key, VALUE_WRONG_TYPE))
        return None
    if len(raw) > 4 * max_length:
        issues.append(Issue(key, VALUE_TOO_LONG, {"max_length": max_length}))
        return None
    text = unicodedata.normalize("NFC", raw).strip()
    if _unsafe(text):
        issues.append(Issue(key, VALUE_CONTROL_CHARACTERS))
        return None
    if len(text) > max_length:
        issues.append(Issue(key, VALUE_TOO_LONG, {"max_length": max_length}))
        return None
    return text


def _display_name(account: Account) -> str | None:
    names = [account.profile.get("given_name"), account.profile.get("family_name")]
    text = " ".join(name for name in names if isinstance(name, str) and name)
    return text or None


def _issues_of(error: ValidationError) -> list[Issue]:
    return list(error.issues)


class _StorePartnerCodes:
    """A partner-code store on a :class:`Store`; each call is a transaction of its own.

    Used by the registry that answers ``onboardkit_resolve_partner_code`` in
    :class:`PartnerCodes`' worker threads, outside any step.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, record: PartnerCodeRecord) -> None:
        self._store.atomic(lambda tx: tx.partner_codes.add(record), attempts=1)

    def find(self, tenant: str, digest: str) -> PartnerCodeRecord | None:
        return self._store.atomic(lambda tx: tx.partner_codes.find(tenant, digest))

    def consume(self, tenant: str, digest: str, now: float) -> bool:
        return self._store.atomic(lambda tx: tx.partner_codes.consume(tenant, digest, now))

    def revoke(self, tenant: str, digest: str, now: float) -> bool:
        return self._store.atomic(lambda tx: tx.partner_codes.revoke(tenant, digest, now))


@attrs.frozen
class _Validated:
    """A checked submission: what goes onto the account."""

    password_hash: str | None
    profile: Mapping[str, Any]
    fields: Mapping[str, Any]
    shown: tuple[ConsentDocument, ...]
    decisions: Mapping[str, bool]


Events = list[AccountEvent]


class OnboardingCore:
    """What the flows build on; the service to use is :class:`~onboardkit.onboarding.Onboarding`."""

    def __init__(
        self,
        tenants: Tenants,
        store: Store,
        *,
        secret: bytes,
        plugins: Plugins | None = None,
        hasher: Hasher | None = None,
        mailer: Mailer | None = None,
        limiter: RateLimiter | None = None,
        partner_codes: PartnerCodes | None = None,
        partner_timeout: float = 5.0,
        partner_workers: int = 8,
        reject_mistyped_partner_codes: bool = True,
        clock: Clock = system_clock,
        key_refresh: float = 60,
        paths: LinkPaths | None = None,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < 32:
            raise ConfigurationError(key="secret_key", reason="expected at least 32 random bytes")
        self.tenants = tenants
        self.store = store
        self.plugins = plugins if plugins is not None else Plugins.load()
        self.hasher: Hasher = hasher if hasher is not None else PasswordHasher()
        self.mailer = (
            mailer
            if mailer is not None
            else Mailer(MailRenderer(plugins=self.plugins), clock=clock)
        )
        self.limiter = limiter
        self.clock = clock
        self.paths = paths or LinkPaths()
        self._consent_secret = _derive(secret, b"onboardkit onboarding: consent ledger v1")
        self._partner_secret = _derive(secret, b"onboardkit onboarding: partner registry v1")
        self._keys = KeyRingCache(store, clock, refresh=key_refresh)
        #: The built-in registry of operator-issued partner codes (for issuing and revoking).
        self.partner_registry = PartnerRegistry(
            _StorePartnerCodes(store),
            self._partner_secret,
            clock,
            reject_mistyped=reject_mistyped_partner_codes,
        )
        if not self.plugins.is_registered(REGISTRY_PLUGIN_NAME):
            self.plugins.register(self.partner_registry, name=REGISTRY_PLUGIN_NAME)
        self._owns_partner_codes = partner_codes is None
        self.partner_codes = (
            partner_codes
            if partner_codes is not None
            else PartnerCodes(
                self.plugins,
                timeout=partner_timeout,
                max_workers=partner_workers,
                registry=self.partner_registry,
            )
        )
        self._mail_tenants: dict[str, MailTenant] = {}
        # What an unknown address's password is checked against, so that it costs as much as a
        # known one's; made now, so that not even the first unknown login is cheaper.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(24))
        # The blocklist and zxcvbn load now, not in the first request (about 60 ms).
        warm_up()

    def close(self) -> None:
        """Release the partner-code worker pool (when this service created it)."""
        if self._owns_partner_codes:
            self.partner_codes.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _tenant(self, tenant_id: str, flow: Flow | None = None) -> Tenant:
        tenant = self.tenants.get_tenant(tenant_id)
        if flow is not None and not tenant.offers(flow):
            raise FlowNotOffered(flow=flow.value)
        return tenant

    def _signer(self) -> TokenSigner:
        return TokenSigner(self._keys.ring(), clock=self.clock)

    def _ledger(self, tx: Transaction) -> ConsentLedger:
        return ConsentLedger(tx.consents, self._consent_secret, self.plugins, self.clock)

    def _limit(self, action: str, client_address: str | None, email: str | None) -> None:
        if self.limiter is not None:
            self.limiter.check(action, client_address=client_address, email=email)

    def _run(self, step: Callable[[Transaction, Events], T]) -> T:
        """Run ``step`` atomically; tell observers of its events once it committed."""
        events: Events = []

        def attempt(tx: Transaction) -> T:
            events.clear()  # a step that is run again starts over
            return step(tx, events)

        result = self.store.atomic(attempt)
        for event in events:
            self.plugins.account_changed(event=event)
        return result

    def _read(self, step: Callable[[Transaction], T]) -> T:
        return self.store.atomic(step)

    def mail_tenant(self, tenant: Tenant) -> MailTenant:
        """What mails know of ``tenant``: name, base URL, support address, colours."""
        found = self._mail_tenants.get(tenant.id)
        if found is None:
            branding = tenant.branding
            found = MailTenant(
                id=tenant.id,
                display_name=branding.display_name,
                base_url=tenant.base_url,
                support_address=branding.support_email,
                branding=(
                    MailBranding(logo_url=branding.logo_url, accent_color=branding.primary_color)
                    if branding.primary_color
                    else MailBranding(logo_url=branding.logo_url)
                ),
            )
            self._mail_tenants[tenant.id] = found
        return found

    def _mail(
        self,
        tx: Transaction,
        tenant: Tenant,
        kind: MailKind,
        recipient: str,
        details: MailDetails,
        locale: str,
    ) -> None:
        mail = self.mailer.compose(
            kind, self.mail_tenant(tenant), recipient, details, locale=locale
        )
        enqueue(tx, mail)

    def _link_mail(
        self,
        tx: Transaction,
        tenant: Tenant,
        signer: TokenSigner,
        account: Account,
        purpose: str,
    ) -> None:
        """The mail with the link that moves ``account`` on (confirm, invite, activate)."""
        lifetimes = tenant.lifetimes
        kind, path, ttl = {
            CONFIRM: (MailKind.CONFIRMATION, self.paths.confirm, lifetimes.confirmation),
            INVITE: (MailKind.INVITATION, self.paths.invitation, lifetimes.invitation),
            ACTIVATE: (MailKind.ACTIVATION, self.paths.signup, lifetimes.activation),
        }[purpose]
        token = signer.issue(
            purpose, account.id, email=account.canonical_email, state=account.state(), ttl=ttl
        )
        details = MailDetails(
            recipient_name=_display_name(account),
            link_path=path,
            token=token,
            expires_at=self.clock() + ttl,
            roles=cast(Any, account.roles),
            inviter_name=account.invited_by,
        )
        self._mail(tx, tenant, kind, account.email, details, account.locale)

    def _already_registered_mail(self, tx: Transaction, tenant: Tenant, account: Account) -> None:
        details = MailDetails(recipient_name=_display_name(account), link_path=self.paths.login)
        self._mail(tx, tenant, MailKind.ALREADY_REGISTERED, account.email, details, account.locale)

    def _approved_mail(self, tx: Transaction, tenant: Tenant, account: Account) -> None:
        details = MailDetails(
            recipient_name=_display_name(account),
            link_path=self.paths.login,
            roles=cast(Any, account.roles),
        )
        self._mail(tx, tenant, MailKind.APPROVED, account.email, details, account.locale)

    def _event(
        self,
        events: Events,
        before: Account | None,
        after: Account | None,
        action: str,
        actor: str | None = None,
    ) -> None:
        subject = after if after is not None else before
        assert subject is not None
        events.append(
            AccountEvent(
                tenant=subject.tenant,
                account_id=subject.id,
                flow=subject.flow,
                action=action,
                from_status=None if before is None else before.status,
                to_status=None if after is None else after.status,
                at=self.clock(),
                actor=actor,
            )
        )

    def _provision(self, tx: Transaction, tenant: Tenant, account: Account) -> None:
        try:
            self.plugins.provision_account(tenant=tenant, account=account, transaction=tx)
        except Conflict:
            raise  # the host's own write lost a race: the step runs again
        except Exception as error:
            log.exception(
                "onboardkit_provision_account failed for account %s of tenant %s",
                account.id,
                tenant.id,
            )
            raise ProvisioningFailed() from error

    def _update(self, tx: Transaction, before: Account, after: Account) -> None:
        tx.update_account(after, expected_version=before.version)

    def _replaced(self, existing: Account, **changes: Any) -> Account:
        """``existing`` taken over by a new start: nothing of the old attempt survives."""
        now = self.clock()
        fresh: dict[str, Any] = {
            "password_hash": None,
            "profile": {},
            "fields": {},
            "user_type": None,
            "roles": (),
            "organization_id": None,
            "partner": None,
            "invited_by": None,
            "reviewed_by": None,
            "rejection_reason": None,
            "pending_consents": None,
            "confirmed_at": None,
            "decided_at": None,
        }
        fresh.update(changes)
        return attrs.evolve(existing, updated_at=now, version=existing.version + 1, **fresh)

    def _renewed(self, account: Account, lifetime: int) -> Account:
        """``account`` with a new expiry; the version moves on, so only the newest link works."""
        now = self.clock()
        return attrs.evolve(
            account, updated_at=now, expires_at=now + lifetime, version=account.version + 1
        )

    def _claim_address(
        self,
        tx: Transaction,
        events: Events,
        tenant: Tenant,
        signer: TokenSigner,
        address: EmailAddress,
        changes: Mapping[str, Any],
        *,
        now: float,
        resumes: AccountStatus | None = None,
        resume: Callable[[Account], tuple[Account, str | None]] | None = None,
        actor: str | None = None,
    ) -> Account | None:
        """Start a flow on ``address``: the one place that decides what a known address means.

        A new address gets a new account made of ``changes``. An account already in this flow's
        first status (``resumes``) is carried on by ``resume``, which returns the account and the
        event to report (or ``None``). An open invitation of another flow gets its invitation
        mailed again. Any other unclaimed account is replaced: nobody proved the address, so it
        never blocks the real owner, who inherits nothing of it. A claimed account's owner is
        told instead. Returns the account to mail a link to, or ``None`` when a mail went out.
        """
        existing = tx.account_by_email(tenant.id, address.canonical, for_update=True)
        if existing is None:
            account = Account(
                id=new_id(),
                tenant=tenant.id,
                canonical_email=address.canonical,
                created_at=now,
                updated_at=now,
                **changes,
            )
            tx.insert_account(account)
            self._event(events, None, account, "created", actor)
            return account
        if resume is not None and existing.status is resumes:
            account, event = resume(existing)
            self._update(tx, existing, account)
            if event is not None:
                self._event(events, existing, account, event, actor)
            return account
        if existing.status is S.INVITED:
            self._link_mail(tx, tenant, signer, existing, INVITE)
            return None
        if existing.unclaimed:
            account = self._replaced(existing, **changes)
            self._update(tx, existing, account)
            self._event(events, existing, account, "replaced", actor)
            return account
        self._already_registered_mail(tx, tenant, existing)
        return None

    def _tenant_account(
        self, tx: Transaction, tenant: Tenant, account_id: object, *, lock: bool = False
    ) -> Account:
        """The account ``account_id`` of ``tenant``, locked for the step when ``lock``.

        :raises AccountNotFound: for an id of no account, or of another tenant's.
        """
        account = (
            tx.account(account_id, for_update=lock)
            if isinstance(account_id, str) and account_id
            else None
        )
        if account is None or account.tenant != tenant.id:
            raise AccountNotFound()
        return account

    def _decide(
        self,
        tenant: Tenant,
        account_id: str,
        action: Action,
        actor: str | None,
        finish: Callable[[Transaction, Account, Account], None],
        **changes: Any,
    ) -> Account:
        """Move one account of ``tenant`` by ``action``; ``finish`` adds the step's own writes
        (a mail, say) in the same transaction.

        :raises AccountNotFound: when the tenant has no account with this id.
        :raises InvalidTransition: when the account's status does not allow ``action``.
        """

        def step(tx: Transaction, events: Events) -> Account:
            account = self._tenant_account(tx, tenant, account_id, lock=True)
            moved = account.transition(action, self.clock(), **changes)
            self._update(tx, account, moved)
            finish(tx, account, moved)
            self._event(events, account, moved, action.value, actor)
            return moved

        return self._run(step)

    # -- validation ---------------------------------------------------------------------------

    def _form(self, tenant: Tenant, form: object) -> Mapping[Any, object]:
        if not isinstance(form, Mapping):
            raise ValidationError([Issue("form", FORM_INVALID)])
        max_keys = (
            tenant.fields.max_submission_keys + len(tenant.consents.purposes()) + _FIXED_FORM_KEYS
        )
        if len(form) > max_keys:
            raise ValidationError([Issue("form", FORM_TOO_LARGE, {"max_keys": max_keys})])
        return form

    def _email(self, value: object, issues: list[Issue]) -> EmailAddress | None:
        try:
            return parse_email(value)
        except ValidationError as error:
            issues.extend(_issues_of(error))
            return None

    def _submission(
        self,
        tenant: Tenant,
        form: Mapping[Any, object],
        issues: list[Issue],
        *,
        email: str | None,
        locale: str,
        names_required: bool,
        company: str | None = None,
        with_fields: bool = True,
        with_consents: bool = True,
    ) -> _Validated | None:
        """Check names, custom fields, password and consents; every problem goes to ``issues``."""
        given_name = _line(form, "given_name", issues, required=names_required)
        family_name = _line(form, "family_name", issues, required=names_required)
        profile = {
            name: value
            for name, value in (("given_name", given_name), ("family_name", family_name))
            if value
        }
        values: dict[str, object] = {}
        if with_fields and tenant.fields.fields:
            submitted = {spec.name: form.get(spec.path) for spec in tenant.fields.fields}
            try:
                values = tenant.fields.validate(submitted, tenant=tenant.id, plugins=self.plugins)
            except ValidationError as error:
                issues.extend(_issues_of(error))
        password = form.get("password")
        if not isinstance(password, str) or not password:
            issues.append(Issue("password", PASSWORD_REQUIRED))
            password = None
        elif len(password) > _PASSWORD_INPUT_LIMIT:
            issues.append(
                Issue(
                    "password", PASSWORD_TOO_LONG, {"max_length": tenant.password_policy.max_length}
                )
            )
            password = None
        else:
            context = PasswordContext(
                names=tuple(profile.values()),
                email=email,
                company=company,
                fields=values,
                words=(tenant.name,),
            )
            issues.extend(
                tenant.password_policy.check(
                    password, context=context, plugins=self.plugins, tenant=tenant.id
                )
            )
        shown = tuple(tenant.consents.current(locale)) if with_consents else ()
        decisions = decisions_from_form(form, shown)
        try:
            check_consents(shown, decisions)
        except ValidationError as error:
            issues.extend(_issues_of(error))
        if issues or password is None:
            return None
        return _Validated(
            password_hash=None,
            profile=profile,
            fields=tenant.fields.to_json(values) if values else {},
            shown=shown,
            decisions=decisions,
        )

    def _hashed(self, validated: _Validated, form: Mapping[Any, object]) -> _Validated:
        password = form.get("password")
        assert isinstance(password, str)
        return attrs.evolve(validated, password_hash=self.hasher.hash(password))

    def _roles(self, tenant: Tenant, roles: object, issues: list[Issue]) -> tuple[str, ...]:
        if isinstance(roles, str) or not isinstance(roles, Sequence):
            issues.append(Issue("roles", VALUE_WRONG_TYPE))
            return ()
        chosen: list[str] = []
        for index, role in enumerate(roles):
            if not isinstance(role, str) or role not in tenant.roles:
                shown = role[:64] if isinstance(role, str) else type(role).__name__
                issues.append(Issue(f"roles[{index}]", ROLE_UNKNOWN, {"role": shown}))
            elif role not in chosen:
                chosen.append(role)
        return tuple(chosen)

    def _user_type(self, tenant: Tenant, user_type: object, issues: list[Issue]) -> str | None:
        if user_type is None:
            return None
        if not isinstance(user_type, str) or user_type not in tenant.user_types:
            shown = user_type[:64] if isinstance(user_type, str) else type(user_type).__name__
            issues.append(Issue("user_type", USER_TYPE_UNKNOWN, {"user_type": shown}))
            return None
        return user_type

    def _actor(self, value: object, path: str, issues: list[Issue]) -> str | None:
        return _line({path: value}, path, issues, required=True, max_length=ACTOR_MAX_LENGTH)

    @staticmethod
    def _pending_consents(validated: _Validated, evidence: Mapping[str, str]) -> dict[str, Any]:
        given = check_consents(validated.shown, validated.decisions)
        return {
            "documents": [
                {"purpose": d.purpose, "version": d.version, "locale": d.locale} for d in given
            ],
            "evidence": dict(evidence),
        }

    # -- tokens and previews ----------------------------------------------------------------

    def _account_of_link(
        self, tx: Transaction, signer: TokenSigner, token: str, purpose: str, *, lock: bool
    ) -> tuple[Account, bool]:
        """The account a link names, and whether the link was already used (kindly answered).

        :raises TokenError: for a link that is forged, expired, for another purpose, or stale
            without having been used (replaced by a newer link or another registration).
        """
        peeked = signer.peek(token, purpose)
        account = tx.account(peeked.subject, for_update=lock)
        if account is None:
            raise TokenStaleState()
        try:
            signer.verify(token, purpose, email=account.canonical_email, state=account.state())
        except TokenStaleState:
            flow, first_status = _LINK_TARGETS[purpose]
            if account.flow is flow and account.status is not first_status:
                return account, True
            raise
        return account, False

    def _preview(self, token: str, purpose: str) -> LinkPreview:
        signer = self._signer()
        peeked = signer.peek(token, purpose)
        account, done = self._read(
            lambda tx: self._account_of_link(tx, signer, token, purpose, lock=False)
        )
        tenant = self.tenants.get_tenant(account.tenant)
        offers: tuple[str, ...] = ()
        if purpose == ACTIVATE:
            offers = ("customer", "partner") if tenant.partners_enabled else ("customer",)
        return LinkPreview(
            purpose=purpose,
            tenant=tenant.id,
            email=mask_email(account.email),
            status="already_done" if done else "ready",
            expires_at=float(peeked.expires_at),
            offers=offers,
        )

    def preview_confirmation(self, token: str) -> LinkPreview:
        """What the confirmation page may show (GET). Changes nothing."""
        return self._preview(token, CONFIRM)

    def preview_invitation(self, token: str) -> LinkPreview:
        """What the invitation page may show (GET). Changes nothing."""
        return self._preview(token, INVITE)

    def preview_signup(self, token: str) -> LinkPreview:
        """What the sign-up page may show (GET), with the kinds offered. Changes nothing."""
        return self._preview(token, ACTIVATE)

    def _link_account(self, token: str, purpose: str) -> tuple[Account, bool]:
        signer = self._signer()
        return self._read(lambda tx: self._account_of_link(tx, signer, token, purpose, lock=False))
