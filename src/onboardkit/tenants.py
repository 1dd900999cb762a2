"""Tenants: one deployment serves several customer systems, each configured on its own.

A tenant has its own custom fields, consent documents, password policy, review requirement, user
types (and the default one for customer sign-ups), partner settings, base URL for links, sender
address and branding. The configuration comes from TOML or a dict and is checked completely at
start-up; the first problem raises :class:`~onboardkit.errors.ConfigurationError` naming the exact
key (``tenants.pim.user_types.customer_admin.permissions``) and what is wrong with it.

.. code-block:: toml

    [tenants.pim]
    name = "PIM Portal"
    base_url = "https://pim.example.com/onboarding"
    sender = "no-reply@pim.example.com"
    flows = ["registration", "invitation"]
    roles = ["viewer", "editor"]

    [tenants.pim.review]
    required = true
    reviewers = ["review@pim.example.com"]

    [tenants.pim.fields.customer_number]
    type = "text"
    required = true
    pattern = "[0-9]{6}"
    label = "Customer number"

    [tenants.pim.consent.purposes.privacy]
    required = true
    [[tenants.pim.consent.purposes.privacy.versions]]
    version = "2024-05"
    [tenants.pim.consent.purposes.privacy.versions.locales.en]
    title = "Privacy policy"
    text = "..."
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from onboardkit.accounts import Flow
from onboardkit.addresses import parse_email
from onboardkit.consent import ConsentDocuments
from onboardkit.errors import ConfigurationError, OnboardkitError, ValidationError, message
from onboardkit.fields import FieldSchema
from onboardkit.i18n import SUPPORTED_LOCALES, normalize_locale
from onboardkit.passwords import PasswordPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "ACCOUNT_ADMIN_PERMISSION",
    "Branding",
    "Lifetimes",
    "Tenant",
    "Tenants",
    "UnknownTenant",
    "UserType",
]

#: The permission the default user type of customer sign-ups must carry (seed 002).
ACCOUNT_ADMIN_PERMISSION = "customer_account_admin"

DAY = 86_400
_MAX_LIFETIME = 30 * DAY
_TENANT_KEYS = {
    "name",
    "base_url",
    "sender",
    "default_locale",
    "flows",
    "roles",
    "user_types",
    "default_user_type",
    "partner_user_type",
    "colleague_user_type",
    "review",
    "partners",
    "branding",
    "lifetimes",
    "fields",
    "max_submission_keys",
    "consent",
    "passwords",
}

UNKNOWN_TENANT = message("tenant.unknown", "This portal is not known.")


class UnknownTenant(OnboardkitError):
    """No tenant has the requested id."""

    default_message = UNKNOWN_TENANT


def _fail(key: str, reason: str) -> ConfigurationError:
    return ConfigurationError(key=key, reason=reason)


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, "expected a table")
    return value


def _text(value: object, key: str, *, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, "expected a non-empty string")
    if len(value) > max_length or any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
        raise _fail(key, f"expected one line of at most {max_length} characters")
    return value.strip()


def _names(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _fail(key, "expected a list of names")
    names = tuple(_text(item, f"{key}[{index}]", max_length=64) for index, item in enumerate(value))
    if len(set(names)) != len(names):
        raise _fail(key, "names must not repeat")
    return names


def _email(value: object, key: str) -> str:
    try:
        return parse_email(value).normalized
    except ValidationError:
        raise _fail(key, "expected an email address") from None


def _seconds(value: object, key: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= _MAX_LIFETIME:
        raise _fail(key, f"expected whole seconds from 60 to {_MAX_LIFETIME}")
    return value


def _base_url(value: object, key: str) -> str:
    text = _text(value, key, max_length=500)
    parts = urlsplit(text)
    local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise _fail(key, "expected an https:// address (http:// only for localhost)")
    if not parts.hostname or parts.query or parts.fragment or parts.username:
        raise _fail(key, "expected scheme, host and an optional path, nothing else")
    return text.rstrip("/")


def _permission_set(permissions: Iterable[str]) -> frozenset[str]:
    return frozenset(permissions)


@attrs.frozen
class UserType:
    """A set of permissions a user is created with (seed 002)."""

    name: str
    permissions: frozenset[str] = attrs.field(converter=_permission_set)


@attrs.frozen
class Branding:
    """How a tenant presents itself on pages and in mail."""

    display_name: str
    support_email: str | None = None
    logo_url: str | None = None
    primary_color: str | None = None


@attrs.frozen
class Lifetimes:
    """How long mailed links and unclaimed accounts stay valid, in seconds."""

    confirmation: int = 2 * DAY
    invitation: int = 7 * DAY
    activation: int = 1 * DAY
    #: How long an expired unconfirmed registration or unused invitation is kept before purging.
    purge_after: int = 7 * DAY
    #: How long a sent mail's body is kept in the outbox.
    sent_mail: int = 7 * DAY


@attrs.frozen
class Tenant:
    """One customer system's complete onboarding configuration."""

    id: str
    name: str
    base_url: str
    sender: str
    branding: Branding
    fields: FieldSchema
    consents: ConsentDocuments
    password_policy: PasswordPolicy
    flows: frozenset[Flow] = frozenset(Flow)
    default_locale: str = "en"
    roles: tuple[str, ...] = ()
    user_types: Mapping[str, UserType] = attrs.field(factory=dict)
    default_user_type: str | None = None
    partner_user_type: str | None = None
    #: The user type of colleagues a customer's administrator invites (default: the default one).
    colleague_user_type: str | None = None
    review_required: bool = False
    reviewers: tuple[str, ...] = ()
    partners_enabled: bool = False
    lifetimes: Lifetimes = Lifetimes()

    def offers(self, flow: Flow) -> bool:
        return flow in self.flows

    @classmethod
    def from_mapping(cls, tenant_id: str, data: Mapping[str, Any], *, key: str) -> Tenant:
        """Read one tenant's table; ``key`` is where it sits (``tenants.pim``)."""
        table = _table(data, key)
        for setting in table:
            if setting not in _TENANT_KEYS:
                raise _fail(f"{key}.{setting}", "unknown setting")
        name = _text(table.get("name"), f"{key}.name")
        default_locale = table.get("default_locale", "en")
        if default_locale not in SUPPORTED_LOCALES:
            raise _fail(f"{key}.default_locale", f"expected one of {', '.join(SUPPORTED_LOCALES)}")

        flows = _flows(table.get("flows", [flow.value for flow in Flow]), f"{key}.flows")
        roles = _names(table.get("roles", []), f"{key}.roles")
        user_types = _user_types(table.get("user_types", {}), f"{key}.user_types")
        partners = _table(table.get("partners", {}), f"{key}.partners")
        partners_enabled = _flag(partners.get("enabled", False), f"{key}.partners.enabled")
        default_user_type = _user_type_name(
            table.get("default_user_type"), user_types, f"{key}.default_user_type"
        )
        partner_user_type = _user_type_name(
            table.get("partner_user_type"), user_types, f"{key}.partner_user_type"
        )
        colleague_user_type = _user_type_name(
            table.get("colleague_user_type"), user_types, f"{key}.colleague_user_type"
        )
        if Flow.SIGNUP in flows:
            if default_user_type is None:
                raise _fail(f"{key}.default_user_type", "email-first sign-up needs a user type")
            if ACCOUNT_ADMIN_PERMISSION not in user_types[default_user_type].permissions:
                raise _fail(
                    f"{key}.user_types.{default_user_type}.permissions",
                    f"the default user type must carry {ACCOUNT_ADMIN_PERMISSION!r}: its first "
                    "user administers the new customer account",
                )
            if partners_enabled and partner_user_type is None:
                raise _fail(f"{key}.partner_user_type", "partner sign-up needs a user type")

        review = _table(table.get("review", {}), f"{key}.review")
        reviewers = tuple(
            _email(item, f"{key}.review.reviewers[{index}]")
            for index, item in enumerate(review.get("reviewers", []))
        )
        branding = _table(table.get("branding", {}), f"{key}.branding")
        lifetimes = _table(table.get("lifetimes", {}), f"{key}.lifetimes")
        defaults = Lifetimes()
        return cls(
            id=tenant_id,
            name=name,
            base_url=_base_url(table.get("base_url"), f"{key}.base_url"),
            sender=_email(table.get("sender"), f"{key}.sender"),
            branding=Branding(
                display_name=_text(
                    branding.get("display_name", name), f"{key}.branding.display_name"
                ),
                support_email=(
                    _email(branding["support_email"], f"{key}.branding.support_email")
                    if "support_email" in branding
                    else None
                ),
                logo_url=_optional_url(branding.get("logo_url"), f"{key}.branding.logo_url"),
                primary_color=_optional_color(
                    branding.get("primary_color"), f"{key}.branding.primary_color"
                ),
            ),
            fields=FieldSchema.from_mapping(table, key=key),
            consents=(
                ConsentDocuments.from_mapping(
                    table["consent"], tenant=tenant_id, key=f"{key}.consent"
                )
                if "consent" in table
                else ConsentDocuments(tenant=tenant_id, documents=())
            ),
            password_policy=PasswordPolicy.from_mapping(
                table.get("passwords", {}), key=f"{key}.passwords"
            ),
            flows=flows,
            default_locale=default_locale,
            roles=roles,
            user_types=user_types,
            default_user_type=default_user_type,
            partner_user_type=partner_user_type,
            colleague_user_type=colleague_user_type or default_user_type,
            review_required=_flag(review.get("required", False), f"{key}.review.required"),
            reviewers=reviewers,
            partners_enabled=partners_enabled,
            lifetimes=Lifetimes(
                **{
                    name: _seconds(lifetimes.get(name), f"{key}.lifetimes.{name}", default)
                    for name, default in attrs.asdict(defaults).items()
                }
            ),
        )

    def locale_for(self, requested: str | None) -> str:
        """The language to speak: the requested one if supported, else the tenant's default."""
        return normalize_locale(requested) if requested else self.default_locale


def _optional_color(value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise _fail(key, "expected a colour like #1f6feb")
    return value


def _optional_url(value: object, key: str) -> str | None:
    if value is None:
        return None
    text = _text(value, key, max_length=2000)
    parts = urlsplit(text)
    local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise _fail(key, "expected an https:// address (http:// only for localhost)")
    if not parts.hostname or parts.username:
        raise _fail(key, "expected an https:// address")
    return text


def _flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, "expected true or false")
    return value


def _flows(value: object, key: str) -> frozenset[Flow]:
    names = _names(value, key)
    known = {flow.value for flow in Flow}
    for index, name in enumerate(names):
        if name not in known:
            raise _fail(f"{key}[{index}]", f"expected one of {', '.join(sorted(known))}")
    return frozenset(Flow(name) for name in names)


def _user_types(value: object, key: str) -> dict[str, UserType]:
    table = _table(value, key)
    types = {}
    for name, spec in table.items():
        spec_table = _table(spec, f"{key}.{name}")
        permissions = _names(spec_table.get("permissions", []), f"{key}.{name}.permissions")
        types[name] = UserType(name=name, permissions=frozenset(permissions))
    return types


def _user_type_name(value: object, user_types: Mapping[str, UserType], key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in user_types:
        raise _fail(key, f"expected one of the declared user types: {', '.join(user_types)}")
    return value


@attrs.frozen
class Tenants(Mapping[str, Tenant]):
    """Every tenant of a deployment, by id."""

    _by_id: Mapping[str, Tenant]

    def __getitem__(self, tenant_id: str) -> Tenant:
        return self._by_id[tenant_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def get_tenant(self, tenant_id: str) -> Tenant:
        """The tenant with this id. :raises UnknownTenant: when there is none."""
        tenant = self._by_id.get(tenant_id)
        if tenant is None:
            raise UnknownTenant(tenant=tenant_id[:64])
        return tenant

    @classmethod
    def of(cls, tenants: Iterable[Tenant]) -> Tenants:
        return cls({tenant.id: tenant for tenant in tenants})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, key: str = "tenants") -> Tenants:
        """Read ``{"tenants": {id: {...}}}`` (or the inner table itself)."""
        table = _table(data, key)
        if set(table) == {"tenants"}:
            table = _table(table["tenants"], key)
        if not table:
            raise _fail(key, "declare at least one tenant")
        tenants = []
        for tenant_id in table:
            if not isinstance(tenant_id, str) or not tenant_id.replace("-", "_").isidentifier():
                raise _fail(f"{key}.{tenant_id}", "tenant ids are letters, digits, _ and -")
            if len(tenant_id) > 64:
                raise _fail(f"{key}.{tenant_id}", "tenant ids have at most 64 characters")
            tenants.append(
                Tenant.from_mapping(tenant_id, table[tenant_id], key=f"{key}.{tenant_id}")
            )
        return cls.of(tenants)

    @classmethod
    def from_toml(cls, source: str | PathLike[str]) -> Tenants:
        """Read a TOML file (a path) of ``[tenants.<id>]`` tables."""
        path = Path(source)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise _fail(str(path), f"cannot be read: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise _fail(str(path), f"is not valid TOML: {error}") from None
        return cls.from_mapping(data)
