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

Plus :meth:`~Onboarding.authenticate` (login with typed reasons), an active account's
:meth:`~Onboarding.consent_states`, :meth:`~Onboarding.give_consents` and
:meth:`~Onboarding.withdraw_consent`, the administrative
:meth:`~Onboarding.disable`, :meth:`~Onboarding.enable`, :meth:`~Onboarding.erase`,
:meth:`~Onboarding.export_consents` and :meth:`~Onboarding.purge`.

Every step writes through one ``store.atomic(step)``: the account, its consent records and its
outgoing mail are committed together or not at all. Form input is read from flat keys:
``email``, ``password``, ``given_name``, ``family_name``, ``fields.<name>`` for the tenant's
custom fields, ``consents.<purpose>`` for consent checkboxes, and for the email-first sign-up
``kind``, ``company.name`` and ``partner_code``. Nothing else in a form is ever read.

The package holds one module per flow (``registration``, ``invitation``, ``signup``),
``login``, ``consents`` and ``administration``, what they share (``core``), and what they hand
out (``values``) or refuse with (``errors``); :class:`Onboarding` (``service``) puts the flows
together. Import from this package, not from its modules.
"""

from onboardkit.onboarding.errors import (
    AccountNotFound,
    FlowNotOffered,
    LoginFailed,
    NotOrganizationAdmin,
    ProvisioningFailed,
)
from onboardkit.onboarding.service import Onboarding
from onboardkit.onboarding.values import (
    ACTIVATE,
    CONFIRM,
    INVITE,
    ConsentState,
    LinkPaths,
    LinkPreview,
    PurgeReport,
    Submitted,
    mask_email,
)

__all__ = [
    "ACTIVATE",
    "CONFIRM",
    "INVITE",
    "AccountNotFound",
    "ConsentState",
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
