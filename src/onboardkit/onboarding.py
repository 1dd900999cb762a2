"""The onboarding service: the three flows, review, login support and housekeeping, end to end.

:class:`Onboarding` runs every flow without a web framework; a web layer only turns requests
into these calls and their results (or typed errors) into pages:

1. **Self-registration with review** (double opt-in): :meth:`Onboarding.register`,
   :meth:`~Onboarding.preview_confirmation`, :meth:`~Onboarding.confirm`,
   :meth:`~Onboarding.resend_confirmation`, :meth:`~Onboarding.pending_reviews`,
   :meth:`~Onboarding.approve`, :meth:`~Onboarding.reject`.
2. **Invitation**: :meth:`~Onboarding.invite`, :meth:`~Onboarding.preview_invitation`,
   :meth:`~Onboarding.accept_invitation`, :meth:`~Onboarding.resend_invitation`.
3. **Email-first sign-up** (customers and partners): :meth:`~Onboarding.start_signup`,
   :meth:`~Onboarding.preview_signup`, :meth:`~Onboarding.complete_signup`,
   :meth:`~Onboarding.invite_colleague`.

Plus :meth:`~Onboarding.authenticate` (login with typed reasons), the administrative
:meth:`~Onboarding.disable`, :meth:`~Onboarding.enable`, :meth:`~Onboarding.erase`,
:meth:`~Onboarding.export_consents` and :meth:`~Onboarding.purge`.

Every step writes through one ``store.atomic(step)``: the account, its consent records and its
outgoing mail are committed together or not at all. Form input is read from flat keys:
``email``, ``password``, ``given_name``, ``family_name``, ``fields.<name>`` for the tenant's
custom fields, ``consents.<purpose>`` for consent checkboxes, and for the email-first sign-up
``kind``, ``company.name`` and ``partner_code``. Nothing else in a form is ever read.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypeVar, cast

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onboardkit.accounts import (
    Account,
    AccountEvent,
    AccountStatus,
    Action,
    Flow,
    Organization,
    new_id,
)
from onboardkit.addresses import EmailAddress, parse_email
from onboardkit.clock import Clock, system_clock
from onboardkit.consent import (
    ConsentDocument,
    ConsentLedger,
    check_consents,
    decisions_from_form,
    request_evidence,
)
from onboardkit.errors import (
    ConfigurationError,
    Issue,
    OnboardkitError,
    TokenStaleState,
    ValidationError,
    message,
)
from onboardkit.hashing import Hasher, PasswordHasher
from onboardkit.keys import KeyRingCache
from onboardkit.mail import MailBranding, MailDetails, Mailer, MailKind, MailRenderer, MailTenant
from onboardkit.outbox import enqueue
from onboardkit.partners import (
    REGISTRY_PLUGIN_NAME,
    REGISTRY_SOURCE,
    Partner,
    PartnerCodeRecord,
    PartnerCodes,
    PartnerRegistry,
)
from onboardkit.passwords import TOO_LONG as PASSWORD_TOO_LONG
from onboardkit.passwords import PasswordContext, warm_up
from onboardkit.plugins import Plugins
from onboardkit.ratelimits import RateLimiter
from onboardkit.storage import Conflict, OutboxMail, Store, Transaction
from onboardkit.tenants import ACCOUNT_ADMIN_PERMISSION, Lifetimes, Tenant, Tenants
from onboardkit.tokens import TokenSigner

__all__ = [
    "ACTIVATE",
    "CONFIRM",
    "INVITE",
    "AccountNotFound",
    "FlowNotOffered",
    "LinkPaths",
    "LinkPreview",
    "LoginFailed",
    "NotOrganizationAdmin",
    "Onboarding",
    "ProvisioningFailed",
    "PurgeReport",
    "Submitted",
    "mask_email",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
S = AccountStatus

#: Token purposes: a confirmation token is no invitation token.
CONFIRM: Final = "confirm"
INVITE: Final = "invite"
ACTIVATE: Final = "activate"

#: Per purpose: the flow its account has and the status the link acts on. A stale link of an
#: account of that flow that has moved past that status was used: it is answered kindly.
_LINK_TARGETS: Final[Mapping[str, tuple[Flow, AccountStatus]]] = {
    CONFIRM: (Flow.REGISTRATION, S.PENDING_CONFIRMATION),
    INVITE: (Flow.INVITATION, S.INVITED),
    ACTIVATE: (Flow.SIGNUP, S.PENDING_ACTIVATION),
}

#: Keys a form may have besides custom fields and consent checkboxes.
_FIXED_FORM_KEYS: Final = 16
NAME_MAX_LENGTH: Final = 100
COMPANY_MAX_LENGTH: Final = 200
REASON_MAX_LENGTH: Final = 1000
ACTOR_MAX_LENGTH: Final = 254
PARTNER_CODE_MAX_LENGTH: Final = 64
#: A password longer than this is refused without any other work (the policy refuses far less).
_PASSWORD_INPUT_LIMIT: Final = 4096
_MAX_PAGE: Final = 500
_SIGNUP_KINDS: Final = ("customer", "partner")
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Zl", "Zp"})
_BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

# -- messages ------------------------------------------------------------------------------------

FORM_INVALID = message("onboarding.form_invalid", "The form data could not be read.")
FORM_TOO_LARGE = message(
    "onboarding.form_too_large", "The form has too many entries (at most {max_keys})."
)
VALUE_REQUIRED = message("onboarding.required", "Please fill in this field.")
VALUE_WRONG_TYPE = message("onboarding.wrong_type", "This value is not of the expected kind.")
VALUE_TOO_LONG = message("onboarding.too_long", "Please enter at most {max_length} characters.")
VALUE_CONTROL_CHARACTERS = message(
    "onboarding.control_characters",
    "Please remove line breaks and other control characters.",
)
PASSWORD_REQUIRED = message("onboarding.password_required", "Please choose a password.")
KIND_INVALID = message(
    "signup.kind_invalid", "Please choose whether you sign up as a customer or as a partner."
)
PARTNER_CODE_REQUIRED = message("signup.partner_code_required", "Please enter your partner code.")
ROLE_UNKNOWN = message("onboarding.role_unknown", "The role {role} does not exist in this portal.")
USER_TYPE_UNKNOWN = message(
    "onboarding.user_type_unknown", "The user type {user_type} does not exist in this portal."
)
ORGANIZATION_UNKNOWN = message(
    "onboarding.organization_unknown", "The organization does not exist in this portal."
)
REASON_REQUIRED = message("review.reason_required", "Please give a reason for the rejection.")
REASON_TOO_LONG = message(
    "review.reason_too_long", "The reason can have at most {max_length} characters."
)
REASON_CONTROL_CHARACTERS = message(
    "review.reason_control_characters",
    "The reason must not contain control characters other than line breaks.",
)
PAGE_INVALID = message(
    "onboarding.page_invalid", "Please ask for 1 to {max_limit} entries from position 0 on."
)

ACCOUNT_NOT_FOUND = message("account.not_found", "This account does not exist.")
ACCOUNT_EXISTS = message("account.exists", "An account with this email address already exists.")
PROVISIONING_FAILED = message(
    "account.provisioning_failed", "The account could not be set up. Please try again."
)
NOT_ADMIN = message(
    "organization.not_admin",
    "Only an administrator of the customer account can invite colleagues.",
)
FLOW_NOT_OFFERED = message("flow.not_offered", "This way of signing up is not offered here.")
LOGIN_BAD_CREDENTIALS = message(
    "login.bad_credentials", "The email address or the password is not correct."
)
LOGIN_EMAIL_NOT_CONFIRMED = message(
    "login.email_not_confirmed",
    "Please confirm your email address first. We can send you the confirmation mail again.",
)
LOGIN_PENDING_REVIEW = message(
    "login.pending_review",
    "Your registration is being reviewed. You will receive an email as soon as it is approved.",
)
LOGIN_REJECTED = message("login.rejected", "Your registration was not approved.")
LOGIN_DISABLED = message(
    "login.disabled", "This account is disabled. Please contact the support team."
)


class AccountNotFound(OnboardkitError):
    """No account with this id in this tenant."""

    default_message = ACCOUNT_NOT_FOUND


class ProvisioningFailed(OnboardkitError):
    """A ``onboardkit_provision_account`` implementation raised; nothing was changed."""

    default_message = PROVISIONING_FAILED


class NotOrganizationAdmin(OnboardkitError):
    """Only an active account administrator of a customer organization may invite colleagues."""

    default_message = NOT_ADMIN


class FlowNotOffered(OnboardkitError):
    """The tenant does not offer this flow."""

    default_message = FLOW_NOT_OFFERED


class LoginFailed(OnboardkitError):
    """A login was refused; the code says why (reasons other than bad credentials come only
    after the password verified).

    Codes: ``login.bad_credentials``, ``login.email_not_confirmed`` (``resend_available``),
    ``login.pending_review``, ``login.rejected``, ``login.disabled``.
    """

    default_message = LOGIN_BAD_CREDENTIALS


# -- values --------------------------------------------------------------------------------------


def mask_email(address: str) -> str:
    """The address with its local part hidden but for the first character: ``a***@example.org``."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


@attrs.frozen
class Submitted:
    """The one neutral answer to register, resend, start_signup and invite.

    It never differs between a new address and one that already has an account.
    """

    tenant: str
    step: str
    #: The entered address, masked, for "we sent a mail to a***@example.org".
    email: str


@attrs.frozen
class LinkPreview:
    """What a page behind a mailed link may show before the person presses the button.

    Making one never changes anything: mail scanners open every link.
    """

    purpose: str
    tenant: str
    email: str
    status: Literal["ready", "already_done"]
    expires_at: float
    #: For the email-first sign-up: the kinds offered (``customer``, and ``partner``).
    offers: tuple[str, ...] = ()


@attrs.frozen
class PurgeReport:
    """What :meth:`Onboarding.purge` removed."""

    accounts: int = 0
    mails: int = 0
    rate_limits: int = 0


@attrs.frozen
class LinkPaths:
    """The pages mailed links lead to, under each tenant's base URL."""

    confirm: str = "/confirm"
    invitation: str = "/invitation"
    signup: str = "/signup"
    login: str = "/login"
    review: str = "/review"


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


# -- the service ---------------------------------------------------------------------------------


class Onboarding:
    """Every onboarding flow of every tenant, over one store.

    :param tenants: The tenants' configuration.
    :param store: Where accounts, consent records, mail and keys live.
    :param secret: At least 32 random bytes, stable across restarts and equal in every process;
        the consent ledger's and the partner registry's keys are derived from it (HKDF).
    :param plugins: The plugin manager; by default the built-ins and installed plugins.
    :param hasher: Password hashing; Argon2id at OWASP's parameters by default.
    :param mailer: Renders mail for the outbox; by default onboardkit's templates and plugins'.
    :param limiter: Rate limits; ``None`` switches them off (only for tests and demos: a real
        deployment builds one with :func:`onboardkit.settings.build_onboarding`).
    :param partner_codes: Partner-code resolution; by default through ``plugins`` with the
        built-in registry, in a worker pool this service owns (see the next three options).
    :param partner_timeout: Seconds a partner-code resolution may take before it fails closed.
    :param partner_workers: Resolutions that may run at once.
    :param reject_mistyped_partner_codes: Refuse a code shaped like a registry code whose check
        symbol fails before asking any provider (turn off when providers' codes look alike).
    :param clock: The time source.
    :param key_refresh: Seconds between reloads of the signing keys from the store, so a
        rotation reaches running processes.
    :param paths: The pages mailed links lead to.
    """

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

    def _provision(self, tenant: Tenant, account: Account) -> None:
        try:
            self.plugins.provision_account(tenant=tenant, account=account)
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

    # -- 1. self-registration with review ---------------------------------------------------

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
                self._provision(tenant, confirmed)
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

    def _decide(
        self,
        tenant: Tenant,
        account_id: str,
        action: Action,
        actor: str | None,
        finish: Callable[[Transaction, Account, Account], None],
        **changes: Any,
    ) -> Account:
        def step(tx: Transaction, events: Events) -> Account:
            account = (
                tx.account(account_id, for_update=True) if isinstance(account_id, str) else None
            )
            if account is None or account.tenant != tenant.id:
                raise AccountNotFound()
            moved = account.transition(action, self.clock(), **changes)
            self._update(tx, account, moved)
            finish(tx, account, moved)
            self._event(events, account, moved, action.value, actor)
            return moved

        return self._run(step)

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
            self._provision(tenant, approved)
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

    # -- 2. invitation -----------------------------------------------------------------------

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

    def _link_account(self, token: str, purpose: str) -> tuple[Account, bool]:
        signer = self._signer()
        return self._read(lambda tx: self._account_of_link(tx, signer, token, purpose, lock=False))

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
            self._provision(tenant, accepted)
            self._event(events, current, accepted, Action.ACCEPT.value)
            return accepted

        return self._run(step)

    # -- 3. email-first sign-up ----------------------------------------------------------------

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
            self._provision(tenant, completed)
            self._approved_mail(tx, tenant, completed)
            self._event(events, current, completed, Action.COMPLETE.value)
            return completed

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

    # -- 4. login support -----------------------------------------------------------------------

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

    # -- 5. administration -----------------------------------------------------------------------

    def account(self, tenant_id: str, account_id: str) -> Account:
        """One account of a tenant.

        :raises AccountNotFound: when the tenant has no account with this id.
        """
        tenant = self._tenant(tenant_id)
        found = (
            self._read(lambda tx: tx.account(account_id))
            if isinstance(account_id, str) and account_id
            else None
        )
        if found is None or found.tenant != tenant.id:
            raise AccountNotFound()
        return found

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
            self._provision(tenant, account)
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
            account = (
                tx.account(account_id, for_update=True) if isinstance(account_id, str) else None
            )
            if account is None or account.tenant != tenant.id:
                raise AccountNotFound()
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
