"""What the onboarding flows refuse with: their messages and error classes."""

from __future__ import annotations

from onboardkit.errors import OnboardkitError, message

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
CURRENT_PASSWORD_WRONG = message("password.current_wrong", "This is not your current password.")

CONSENT_NOTHING_CHOSEN = message(
    "consent.nothing_chosen", "Please tick the consents you want to give."
)
CONSENT_PURPOSE_UNKNOWN = message(
    "consent.purpose_unknown", "There is no such consent in this portal."
)
CONSENT_REQUIRED_PURPOSE = message(
    "consent.required_purpose",
    "This consent is needed to use the portal, so it cannot be withdrawn here. To end it, ask "
    "for your account to be deleted.",
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
