"""Accounts and their states: the one record every onboarding flow creates and moves along.

Each of the three flows starts an account in its own first state and moves it through an explicit
table of allowed transitions (:data:`TRANSITIONS`)::

    registration   pending_confirmation --confirm--> pending_review --approve--> active
                                        \\                          \\--reject---> rejected
                                         \\--confirm (no review)--------------> active
    invitation     invited --accept--> active
    email-first    pending_activation --complete--> active
    any active     active --disable--> disabled --enable--> active

Anything else is an :class:`InvalidTransition` with a stable code. Every transition bumps
``version``; signed links are bound to ``(id, status, version)`` through :meth:`Account.state`, so
a link that was used, or that belongs to an older state, fails even with a valid signature.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from onboardkit.errors import OnboardkitError, message

__all__ = [
    "TRANSITIONS",
    "Account",
    "AccountEvent",
    "AccountStatus",
    "Action",
    "Flow",
    "InvalidTransition",
    "Organization",
    "new_id",
]


class Flow(str, enum.Enum):
    """How an account came to be."""

    REGISTRATION = "registration"
    INVITATION = "invitation"
    SIGNUP = "signup"


class AccountStatus(str, enum.Enum):
    """Where an account stands."""

    PENDING_CONFIRMATION = "pending_confirmation"
    PENDING_REVIEW = "pending_review"
    INVITED = "invited"
    PENDING_ACTIVATION = "pending_activation"
    ACTIVE = "active"
    REJECTED = "rejected"
    DISABLED = "disabled"


class Action(str, enum.Enum):
    """What moves an account from one status to the next."""

    CONFIRM = "confirm"
    CONFIRM_WITHOUT_REVIEW = "confirm_without_review"
    APPROVE = "approve"
    REJECT = "reject"
    ACCEPT = "accept"
    COMPLETE = "complete"
    DISABLE = "disable"
    ENABLE = "enable"


S = AccountStatus

#: Every allowed transition: (flow, status, action) -> new status.
TRANSITIONS: Mapping[tuple[Flow, AccountStatus, Action], AccountStatus] = {
    (Flow.REGISTRATION, S.PENDING_CONFIRMATION, Action.CONFIRM): S.PENDING_REVIEW,
    (Flow.REGISTRATION, S.PENDING_CONFIRMATION, Action.CONFIRM_WITHOUT_REVIEW): S.ACTIVE,
    (Flow.REGISTRATION, S.PENDING_REVIEW, Action.APPROVE): S.ACTIVE,
    (Flow.REGISTRATION, S.PENDING_REVIEW, Action.REJECT): S.REJECTED,
    (Flow.INVITATION, S.INVITED, Action.ACCEPT): S.ACTIVE,
    (Flow.SIGNUP, S.PENDING_ACTIVATION, Action.COMPLETE): S.ACTIVE,
    **{(flow, S.ACTIVE, Action.DISABLE): S.DISABLED for flow in Flow},
    **{(flow, S.DISABLED, Action.ENABLE): S.ACTIVE for flow in Flow},
}

#: Statuses of accounts that nobody has proven to own yet; they expire and never block anyone.
UNCLAIMED = frozenset({S.PENDING_CONFIRMATION, S.INVITED, S.PENDING_ACTIVATION})

INVALID_TRANSITION = message(
    "account.invalid_transition", "This step is not possible in the current state of the account."
)


class InvalidTransition(OnboardkitError):
    """The action is not allowed from the account's current status (and flow)."""

    default_message = INVALID_TRANSITION


def new_id() -> str:
    """A new random identifier (32 hex digits) for accounts, organizations and mails."""
    return uuid.uuid4().hex


def _json_dict(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen
class Organization:
    """A customer organization created by an email-first customer sign-up."""

    id: str
    tenant: str
    name: str
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_json_dict)
    created_at: float = 0.0


@attrs.frozen
class Account:
    """A person's account in one tenant, from the first step of a flow to approval and beyond.

    ``email`` is the address as entered (mail goes only there); ``canonical_email`` is the form the
    database keeps unique per tenant. ``fields`` holds the tenant's custom-field values, ``profile``
    the person's own data (names), both JSON-ready.
    """

    id: str
    tenant: str
    flow: Flow = attrs.field(converter=Flow)
    status: AccountStatus = attrs.field(converter=AccountStatus)
    email: str
    canonical_email: str
    created_at: float
    updated_at: float
    locale: str = "en"
    password_hash: str | None = attrs.field(default=None, repr=False)
    profile: Mapping[str, Any] = attrs.field(factory=dict, converter=_json_dict)
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_json_dict)
    user_type: str | None = None
    roles: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    organization_id: str | None = None
    partner: Mapping[str, Any] | None = None
    invited_by: str | None = None
    reviewed_by: str | None = None
    rejection_reason: str | None = None
    #: The consent decisions of an unconfirmed registration, recorded at confirmation.
    pending_consents: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    confirmed_at: float | None = None
    decided_at: float | None = None
    expires_at: float | None = None
    version: int = 1

    def state(self) -> str:
        """The fingerprint signed links are bound to: it changes with every transition."""
        return f"{self.id}:{self.status.value}:{self.version}"

    @property
    def unclaimed(self) -> bool:
        """Nobody has proven to own the address yet (confirmation or invitation pending)."""
        return self.status in UNCLAIMED

    def can(self, action: Action) -> bool:
        return (self.flow, self.status, action) in TRANSITIONS

    def transition(self, action: Action, now: float, **changes: Any) -> Account:
        """A copy moved by ``action``, with ``changes`` applied and the version bumped.

        :raises InvalidTransition: when ``action`` is not allowed from the current status.
        """
        target = TRANSITIONS.get((self.flow, self.status, action))
        if target is None:
            raise InvalidTransition(status=self.status.value, action=action.value)
        return attrs.evolve(
            self, status=target, updated_at=now, version=self.version + 1, **changes
        )


@attrs.frozen
class AccountEvent:
    """Something happened to an account: it was created, moved, replaced or removed.

    Observers (``onboardkit_account_changed``) get one after the step committed, for an audit
    trail. ``action`` is an :class:`Action` value for transitions, or one of ``created``,
    ``replaced`` (an unclaimed account was taken over by a new registration or invitation),
    ``updated`` (an invitation's roles), ``erased`` and ``purged``. ``to_status`` is ``None``
    when the account is gone.
    """

    tenant: str
    account_id: str
    flow: Flow
    action: str
    from_status: AccountStatus | None
    to_status: AccountStatus | None
    at: float
    actor: str | None = None
