"""Every text of the pages and of the web layer's own errors, in English; German comes from the
``web`` gettext catalog (``locale/de/LC_MESSAGES/web.po``).

Templates look texts up by code: ``{{ t("page.login.title") }}``, with parameters as keyword
arguments. A host that overrides a template keeps using these codes, or brings its own texts.
"""

from __future__ import annotations

from onboardkit.errors import Message, message, registered_messages

__all__ = ["PAGE_TEXTS", "page_text"]

# -- the web layer's errors (JSON ``error.code`` and the pages' error boxes) -------------------

CSRF_FAILED = message(
    "web.csrf_failed", "This form has expired. Please load the page again and send it once more."
)
NOT_FOUND = message("web.not_found", "There is no such page.")
METHOD_NOT_ALLOWED = message(
    "web.method_not_allowed", "This address does not accept {method} requests."
)
BODY_TOO_LARGE = message(
    "web.body_too_large", "The request is too large (at most {max_bytes} bytes)."
)
JSON_INVALID = message("web.json_invalid", "The request body is not a valid JSON object.")
FORM_INVALID = message("web.form_invalid", "The form data could not be read.")
MEDIA_TYPE = message(
    "web.unsupported_media_type",
    "Please send the request as JSON (Content-Type: application/json).",
)
FOREIGN_ORIGIN = message("web.foreign_origin", "Requests from other sites are not accepted.")
SIGN_IN_REQUIRED = message("web.sign_in_required", "Please sign in first.")
REVIEWER_REQUIRED = message("web.reviewer_required", "Only reviewers may do this.")
LINK_TENANT = message("web.link_wrong_portal", "This link belongs to another portal.")
TOKEN_REQUIRED = message(
    "web.token_required", "The link is incomplete. Please open it from the mail again."
)
INTERNAL = message(
    "web.internal", "Something went wrong on our side. Please try again in a few minutes."
)

# -- page texts --------------------------------------------------------------------------------

_PAGES = [
    # layout
    message("page.skip", "Skip to content"),
    message("page.language", "Language"),
    message("page.errors", "Please check the following:"),
    message("page.optional", "optional"),
    message("page.back", "Back"),
    message("page.expires", "This link is valid until {expires} (UTC)."),
    # sign-in
    message("page.login.title", "Sign in"),
    message("page.email", "Email address"),
    message("page.password", "Password"),
    message("page.login.submit", "Sign in"),
    message("page.login.register", "No account yet? Create an account"),
    message("page.login.signup", "New here? Sign up with your email address"),
    message("page.login.resend", "Send the confirmation mail again"),
    message("page.login.confirmed", "Your email address is confirmed. You can sign in now."),
    message("page.login.ready", "Your account is ready. You can sign in now."),
    message("page.login.signed_out", "You are signed out."),
    # the signed-in account
    message("page.account.title", "Your account"),
    message("page.account.signed_in", "You are signed in as {email}."),
    message("page.account.roles", "Roles"),
    message("page.account.user_type", "User type"),
    message("page.account.none", "none"),
    message("page.account.sign_out", "Sign out"),
    message("page.account.review", "Open the review queue"),
    message("page.account.invite", "Invite a colleague"),
    message("page.invite.submit", "Send the invitation"),
    message("page.invite.sent", "The invitation is on its way to {email}."),
    # registration
    message("page.register.title", "Create an account"),
    message("page.register.intro", "Register for {portal}. We review every registration."),
    message("page.register.intro_open", "Register for {portal}."),
    message("page.given_name", "First name"),
    message("page.family_name", "Last name"),
    message("page.register.submit", "Register"),
    message("page.register.login", "Already registered? Sign in"),
    message("page.password.rules", "Your password must meet these rules:"),
    message("page.password.met", "met"),
    message("page.password.unmet", "not met yet"),
    message("page.consent.read", "Show the text: {title}"),
    message("page.account.consents", "Your consents"),
    message("page.consent.given", "given on {date} (version {version})"),
    message(
        "page.consent.outdated", "given to version {version}; the new version needs your consent"
    ),
    message("page.consent.not_given", "not given"),
    message("page.consent.needed", "needed to use the portal"),
    message("page.consent.withdraw", "Withdraw"),
    message("page.consent.give", "Give the ticked consents"),
    message("page.consent.saved", "Your consents were saved."),
    message("page.consent.withdrawn", "Your consent was withdrawn."),
    # check your mail
    message("page.sent.title", "Check your mail"),
    message(
        "page.sent.register",
        "We sent a mail to {email}. Please open the link in it to confirm your address.",
    ),
    message(
        "page.sent.start_signup",
        "We sent a mail to {email}. Please open the link in it to continue your sign-up.",
    ),
    message(
        "page.sent.resend",
        "If a registration with {email} is waiting for confirmation, a new mail is on its way.",
    ),
    message("page.sent.spam", "No mail after a few minutes? Please look in your spam folder."),
    message("page.sent.again", "Send the mail again"),
    # links from mail
    message("page.confirm.title", "Confirm your email address"),
    message("page.confirm.intro", "Please confirm that {email} is your address."),
    message("page.confirm.submit", "Confirm my address"),
    message("page.link.used", "This link has already been used. Nothing more to do here."),
    message("page.link.invalid", "This link does not work"),
    message("page.link.new", "Request a new mail"),
    # review outcome
    message("page.pending.title", "Your registration is being reviewed"),
    message(
        "page.pending.text",
        "Thank you. Your address is confirmed and your registration is now being reviewed. "
        "You will receive an email as soon as a decision has been made.",
    ),
    message("page.rejected.title", "Registration not approved"),
    message(
        "page.rejected.text",
        "Your registration was not approved. If you think this is a mistake, please write to "
        "{support}.",
    ),
    message(
        "page.rejected.text_plain",
        "Your registration was not approved. If you think this is a mistake, please contact us.",
    ),
    # invitation
    message("page.invitation.title", "Accept your invitation"),
    message("page.invitation.intro", "Choose a password for {email}."),
    message("page.invitation.submit", "Set the password"),
    # email-first sign-up
    message("page.start.title", "Sign up"),
    message("page.start.intro", "Enter your email address. We will send you a link to continue."),
    message("page.start.submit", "Send the link"),
    message("page.signup.title", "Complete your sign-up"),
    message("page.signup.intro", "You are signing up as {email}."),
    message("page.signup.kind", "I am signing up as"),
    message("page.signup.customer", "a customer"),
    message("page.signup.partner", "a partner"),
    message("page.signup.company", "Your company"),
    message("page.signup.company_name", "Company name"),
    message("page.signup.person", "About you"),
    message("page.signup.partner_code", "Partner code"),
    message(
        "page.signup.partner_code_help", "The code we gave you, for example ABCD-EFGH-JKMN-PQRS."
    ),
    message("page.signup.terms", "Terms and privacy"),
    message("page.signup.company_help", "Required when you sign up as a customer."),
    message("page.signup.partner_code_needed", "Required when you sign up as a partner."),
    message("page.signup.submit", "Create my account"),
    # resend
    message("page.resend.title", "Send the confirmation mail again"),
    message(
        "page.resend.intro", "Enter the address you registered with. We will send a new link to it."
    ),
    message("page.resend.submit", "Send"),
    # review
    message("page.review.title", "Registrations to review"),
    message("page.review.empty", "No registration is waiting for review."),
    message("page.review.person", "Person"),
    message("page.review.confirmed", "Confirmed"),
    message("page.review.open", "Review"),
    message("page.review.detail", "Review the registration of {email}"),
    message("page.review.fields", "Details"),
    message("page.review.roles", "Roles to give"),
    message("page.review.user_type", "User type"),
    message("page.review.approve", "Approve"),
    message("page.review.reason", "Reason (sent to the person by email)"),
    message("page.review.reject", "Reject"),
    message("page.review.approved", "{email} has been approved."),
    message("page.review.rejected", "{email} has been rejected."),
    message("page.review.invite", "Invite a person"),
    message("page.review.invitations", "Invitations"),
    message("page.account.invite_people", "Invite people"),
    message("page.review.decided", "A decision has already been made on this registration."),
    # documents
    message("page.document.version", "Version {version}"),
    # errors
    message("page.error.title", "Something went wrong"),
    # demo pages
    message("page.tenants.title", "onboardkit demo"),
    message("page.tenants.intro", "Three portals, one for each onboarding flow."),
    message("page.mails.title", "Sent mail"),
    message(
        "page.mails.intro",
        "This demo sends no real mail. Every mail it would have sent is listed here.",
    ),
    message("page.mails.empty", "No mail yet."),
    message("page.mails.to", "To"),
    message("page.mails.subject", "Subject"),
    message("page.mails.at", "Sent at"),
    message("page.mails.links", "Links in this mail"),
]

#: Every page text by code.
PAGE_TEXTS: dict[str, Message] = {text.code: text for text in _PAGES}


def page_text(code: str) -> Message:
    """The text with ``code``: a page text, or any message onboardkit declares."""
    found = PAGE_TEXTS.get(code)
    if found is None:
        found = registered_messages()[code]
    return found
