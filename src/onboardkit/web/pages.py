"""The HTML pages: every flow's forms, the links from mail, the reviewer queue.

Each handler reads the form, runs the flow on :class:`onboardkit.onboarding.Onboarding` and
answers with a page or a redirect (POST, then redirect, then GET). A refused form is shown again
with every problem next to its field, the entered values kept (never the password).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from onboardkit.accounts import Account, AccountStatus, Flow
from onboardkit.errors import OnboardkitError, PartnerCodeError, TokenError, ValidationError
from onboardkit.onboarding import FlowNotOffered, LoginFailed, mask_email
from onboardkit.ratelimits import RateLimited
from onboardkit.tenants import ACCOUNT_ADMIN_PERMISSION
from onboardkit.web.exchange import Exchange, WebError, safe_next
from onboardkit.web.responses import WebResponse
from onboardkit.web.routes import Route
from onboardkit.web.statuses import refusal_status
from onboardkit.web.texts import (
    NOT_FOUND,
)

__all__ = ["OUTBOX_ROUTES", "ROUTES", "TENANT_LIST_ROUTES"]

#: Fields never shown again after a refused form.
_SECRET_FIELDS: Final = frozenset({"password", "csrf_token", "token"})
_NOTICES: Final = {
    "confirmed": "page.login.confirmed",
    "ready": "page.login.ready",
    "signed_out": "page.login.signed_out",
}
_SENT_STEPS: Final = {
    "register": "page.sent.register",
    "start_signup": "page.sent.start_signup",
    "resend": "page.sent.resend",
}
_MASKED: Final = re.compile(r"^[^\s@]{0,4}\*\*\*@[^\s@]{1,253}$")
_LINK: Final = re.compile(r"https?://[^\s<>\"']+")


# -- helpers -------------------------------------------------------------------------------------


class FormState:
    """What a form page shows: entered values and problems by field."""

    def __init__(
        self,
        exchange: Exchange,
        values: Mapping[str, object] | None = None,
        error: OnboardkitError | None = None,
    ) -> None:
        self.values = {
            key: value for key, value in (values or {}).items() if key not in _SECRET_FIELDS
        }
        self.problems: dict[str, list[str]] = {}
        self.summary: list[tuple[str, str]] = []
        self.message: str | None = None
        if isinstance(error, ValidationError):
            for issue in error.issues:
                self._add(issue.path, issue.localized(exchange.locale))
        elif isinstance(error, PartnerCodeError) and error.code.startswith("partner_code."):
            self._add("partner_code", error.localized(exchange.locale))
        elif error is not None:
            self.message = error.localized(exchange.locale)

    def _add(self, path: str, text: str) -> None:
        field = path.split("[", 1)[0]
        self.problems.setdefault(field, []).append(text)
        self.summary.append((field, text))

    def value(self, name: str) -> str:
        found = self.values.get(name)
        return found if isinstance(found, str) else ""

    def chosen(self, name: str, option: str) -> bool:
        found = self.values.get(name)
        return found == option or (isinstance(found, list) and option in found)

    def invalid(self, name: str) -> bool:
        return name in self.problems


def _refused(
    exchange: Exchange, template: str, error: OnboardkitError, **context: Any
) -> WebResponse:
    state = FormState(exchange, exchange.form(), error)
    return exchange.render(template, refusal_status(exchange, error), form=state, **context)


def _tenant(exchange: Exchange) -> Any:
    assert exchange.tenant is not None
    return exchange.tenant


def _offers(exchange: Exchange, flow: Flow) -> None:
    if not _tenant(exchange).offers(flow):
        raise FlowNotOffered(flow=flow.value)


def _form_context(exchange: Exchange, *, fields: bool = True) -> dict[str, Any]:
    """Custom fields, consent documents and password hints for a form page."""
    tenant = _tenant(exchange)
    return {
        "fields": tenant.fields.fields if fields else (),
        "documents": tenant.consents.current(exchange.locale),
        "hints": exchange.web.onboarding.password_hints(tenant.id, exchange.locale),
    }


def _text_field(exchange: Exchange, name: str) -> str:
    value = exchange.form().get(name)
    return value if isinstance(value, str) else ""


def _masked(value: str | None) -> str | None:
    return value if value is not None and _MASKED.match(value) else None


# -- sign-in ---------------------------------------------------------------------------------------


def tenant_home(exchange: Exchange) -> WebResponse:
    return exchange.redirect(exchange.url("/login"))


def login_page(exchange: Exchange) -> WebResponse:
    if exchange.account() is not None:
        return exchange.redirect(safe_next(exchange.query("next")) or exchange.url("/account"))
    notice = _NOTICES.get(exchange.query("notice") or "")
    return exchange.render(
        "login.html",
        form=FormState(exchange, {"next": exchange.query("next") or ""}),
        notice=exchange.text(notice) if notice else None,
        resend=False,
    )


def login(exchange: Exchange) -> WebResponse:
    tenant = _tenant(exchange)
    onboarding = exchange.web.onboarding
    try:
        account = onboarding.authenticate(
            tenant.id,
            _text_field(exchange, "email"),
            _text_field(exchange, "password"),
            client_address=exchange.client_address,
        )
    except LoginFailed as error:
        if error.code == "login.pending_review":
            return exchange.render("pending.html", 403)
        if error.code == "login.rejected":
            return exchange.render("rejected.html", 403)
        resend = error.code == "login.email_not_confirmed"
        return _refused(exchange, "login.html", error, notice=None, resend=resend)
    except RateLimited as error:
        return _refused(exchange, "login.html", error, notice=None, resend=False)
    exchange.web.sign_in(exchange, account)
    target = safe_next(exchange.form().get("next")) or exchange.url("/account")
    return exchange.redirect(target)


def logout(exchange: Exchange) -> WebResponse:
    exchange.web.sign_out(exchange)
    return exchange.redirect(exchange.url("/login", notice="signed_out"))


def _is_org_admin(exchange: Exchange, account: Account) -> bool:
    tenant = _tenant(exchange)
    kind = tenant.user_types.get(account.user_type or "")
    return (
        account.organization_id is not None
        and kind is not None
        and ACCOUNT_ADMIN_PERMISSION in kind.permissions
        and tenant.offers(Flow.SIGNUP)
    )


_CONSENT_NOTICES: Final = ("saved", "withdrawn")


def _account_view(
    exchange: Exchange,
    account: Account,
    status: int = 200,
    form: FormState | None = None,
    consent_form: FormState | None = None,
) -> WebResponse:
    notice = exchange.query("consents")
    return exchange.render(
        "account.html",
        status,
        account=account,
        reviewer=exchange.web.reviewer(exchange),
        org_admin=_is_org_admin(exchange, account),
        invited=_masked(exchange.query("invited")),
        form=form or FormState(exchange),
        consents=exchange.web.onboarding.consent_states(
            _tenant(exchange).id, account.id, exchange.locale
        ),
        consent_form=consent_form or FormState(exchange),
        consent_notice=notice if notice in _CONSENT_NOTICES else None,
    )


def account_page(exchange: Exchange) -> WebResponse:
    account = exchange.account()
    if account is None:
        return exchange.redirect(exchange.url("/login", next=exchange.url("/account")))
    return _account_view(exchange, account)


def invite_colleague(exchange: Exchange) -> WebResponse:
    account = exchange.require_account()
    tenant = _tenant(exchange)
    try:
        sent = exchange.web.onboarding.invite_colleague(
            tenant.id,
            account.id,
            _text_field(exchange, "email"),
            roles=exchange.form_list("roles"),
            locale=_text_field(exchange, "locale") or None,
        )
    except (ValidationError, RateLimited) as error:
        state = FormState(exchange, exchange.form(), error)
        return _account_view(exchange, account, refusal_status(exchange, error), state)
    return exchange.redirect(exchange.url("/account", invited=sent.email))


def give_consents(exchange: Exchange) -> WebResponse:
    account = exchange.require_account()
    try:
        exchange.web.onboarding.give_consents(
            _tenant(exchange).id,
            account.id,
            exchange.form(),
            client_address=exchange.client_address,
            locale=exchange.locale,
        )
    except ValidationError as error:
        state = FormState(exchange, exchange.form(), error)
        return _account_view(exchange, account, refusal_status(exchange, error), consent_form=state)
    return exchange.redirect(exchange.url("/account", consents="saved"))


def withdraw_consent(exchange: Exchange) -> WebResponse:
    account = exchange.require_account()
    try:
        exchange.web.onboarding.withdraw_consent(
            _tenant(exchange).id,
            account.id,
            exchange.params["purpose"],
            client_address=exchange.client_address,
            locale=exchange.locale,
        )
    except ValidationError as error:
        state = FormState(exchange, {}, error)
        return _account_view(exchange, account, refusal_status(exchange, error), consent_form=state)
    return exchange.redirect(exchange.url("/account", consents="withdrawn"))


# -- 1. self-registration ----------------------------------------------------------------------


def register_page(exchange: Exchange) -> WebResponse:
    _offers(exchange, Flow.REGISTRATION)
    return exchange.render("register.html", form=FormState(exchange), **_form_context(exchange))


def register(exchange: Exchange) -> WebResponse:
    _offers(exchange, Flow.REGISTRATION)
    tenant = _tenant(exchange)
    try:
        sent = exchange.web.onboarding.register(
            tenant.id,
            exchange.form(),
            client_address=exchange.client_address,
            locale=exchange.locale,
        )
    except (ValidationError, RateLimited) as error:
        return _refused(exchange, "register.html", error, **_form_context(exchange))
    return exchange.redirect(exchange.url("/sent", step="register", to=sent.email))


def sent_page(exchange: Exchange) -> WebResponse:
    step = exchange.query("step") or ""
    text = _SENT_STEPS.get(step)
    masked = _masked(exchange.query("to"))
    if text is None or masked is None:
        return exchange.redirect(exchange.url("/login"))
    return exchange.render("sent.html", message=exchange.text(text, email=masked), step=step)


def _link_refused(exchange: Exchange, error: OnboardkitError) -> WebResponse:
    return exchange.render(
        "link_invalid.html",
        refusal_status(exchange, error),
        message=error.localized(exchange.locale),
    )


def confirm_page(exchange: Exchange) -> WebResponse:
    try:
        token = exchange.link_token()
        preview = exchange.link_preview("confirm", token)
    except (TokenError, WebError) as error:
        return _link_refused(exchange, error)
    return exchange.render("confirm.html", preview=preview, token=token)


def confirm(exchange: Exchange) -> WebResponse:
    try:
        token = exchange.link_token(exchange.form())
        exchange.link_preview("confirm", token)
        account = exchange.web.onboarding.confirm(token, client_address=exchange.client_address)
    except (TokenError, WebError) as error:
        return _link_refused(exchange, error)
    if account.status is AccountStatus.PENDING_REVIEW:
        return exchange.redirect(exchange.url("/pending"))
    if account.status is AccountStatus.REJECTED:
        return exchange.redirect(exchange.url("/rejected"))
    return exchange.redirect(exchange.url("/login", notice="confirmed"))


def pending_page(exchange: Exchange) -> WebResponse:
    return exchange.render("pending.html")


def rejected_page(exchange: Exchange) -> WebResponse:
    return exchange.render("rejected.html")


def resend_page(exchange: Exchange) -> WebResponse:
    return exchange.render(
        "resend.html", form=FormState(exchange, {"email": exchange.query("email") or ""})
    )


def resend(exchange: Exchange) -> WebResponse:
    tenant = _tenant(exchange)
    try:
        sent = exchange.web.onboarding.resend_confirmation(
            tenant.id,
            _text_field(exchange, "email"),
            client_address=exchange.client_address,
            locale=exchange.locale,
        )
    except (ValidationError, RateLimited) as error:
        return _refused(exchange, "resend.html", error)
    return exchange.redirect(exchange.url("/sent", step="resend", to=sent.email))


# -- 2. invitation ---------------------------------------------------------------------------------


def invitation_page(exchange: Exchange) -> WebResponse:
    try:
        token = exchange.link_token()
        preview = exchange.link_preview("invitation", token)
    except (TokenError, WebError) as error:
        return _link_refused(exchange, error)
    return exchange.render(
        "invitation.html",
        preview=preview,
        token=token,
        form=FormState(exchange),
        **_form_context(exchange, fields=False),
    )


def accept_invitation(exchange: Exchange) -> WebResponse:
    try:
        token = exchange.link_token(exchange.form())
        preview = exchange.link_preview("invitation", token)
        exchange.web.onboarding.accept_invitation(
            token, exchange.form(), client_address=exchange.client_address
        )
    except (TokenError, WebError) as error:
        return _link_refused(exchange, error)
    except (ValidationError, RateLimited) as error:
        return _refused(
            exchange,
            "invitation.html",
            error,
            preview=preview,
            token=token,
            **_form_context(exchange, fields=False),
        )
    return exchange.redirect(exchange.url("/login", notice="ready"))


# -- 3. email-first sign-up ----------------------------------------------------------------------


def start_page(exchange: Exchange) -> WebResponse:
    _offers(exchange, Flow.SIGNUP)
    return exchange.render("start.html", form=FormState(exchange))


def start(exchange: Exchange) -> WebResponse:
    _offers(exchange, Flow.SIGNUP)
    tenant = _tenant(exchange)
    try:
        sent = exchange.web.onboarding.start_signup(
            tenant.id,
            _text_field(exchange, "email"),
            client_address=exchange.client_address,
            locale=exchange.locale,
        )
    except (ValidationError, RateLimited) as error:
        return _refused(exchange, "start.html", error)
    return exchange.redirect(exchange.url("/sent", step="start_signup", to=sent.email))


def signup_page(exchange: Exchange) -> WebResponse:
    try:
        token = exchange.link_token()
        preview = exchange.link_preview("signup", token)
    except (TokenError, WebError) as error:
        return _link_refused(exchange, error)
    return exchange.render(
        "signup.html",
        preview=preview,
        token=token,
        form=FormState(exchange, {"kind": preview.offers[0] if preview.offers else ""}),
        **_form_context(exchange),
    )


def complete_signup(exchange: Exchange) -> WebResponse:
    try:
        token = exchange.link_token(exchange.form())
        preview = exchange.link_preview("signup", token)
        exchange.web.onboarding.complete_signup(
            token, exchange.form(), client_address=exchange.client_address
        )
    except (TokenError, WebError) as error:
        return _link_refused(exchange, error)
    except (ValidationError, RateLimited, PartnerCodeError) as error:
        return _refused(
            exchange, "signup.html", error, preview=preview, token=token, **_form_context(exchange)
        )
    return exchange.redirect(exchange.url("/login", notice="ready"))


# -- review ----------------------------------------------------------------------------------------


def _reviewer(exchange: Exchange) -> str | WebResponse:
    """Who reviews; nobody signed in is sent to sign in and back (to the queue after a POST)."""
    try:
        return exchange.web.require_reviewer(exchange)
    except WebError as error:
        if error.status != 401:
            raise
    here = exchange.request
    target = f"{exchange.root}{here.path}" if here.method == "GET" else exchange.url("/review")
    return exchange.redirect(exchange.url("/login", next=target))


def _queue(exchange: Exchange, status: int = 200, form: FormState | None = None) -> WebResponse:
    tenant = _tenant(exchange)
    waiting = exchange.web.onboarding.pending_reviews(tenant.id, limit=100)
    decided = None
    for key in ("approved", "rejected", "invited"):
        masked = _masked(exchange.query(key))
        if masked is not None:
            code = "page.invite.sent" if key == "invited" else f"page.review.{key}"
            decided = exchange.text(code, email=masked)
    return exchange.render(
        "review_queue.html",
        status,
        waiting=waiting,
        notice=decided,
        can_invite=tenant.offers(Flow.INVITATION),
        form=form or FormState(exchange),
    )


def review_queue(exchange: Exchange) -> WebResponse:
    who = _reviewer(exchange)
    if isinstance(who, WebResponse):
        return who
    return _queue(exchange)


def review_invite(exchange: Exchange) -> WebResponse:
    who = _reviewer(exchange)
    if isinstance(who, WebResponse):
        return who
    tenant = _tenant(exchange)
    user_type = _text_field(exchange, "user_type") or None
    try:
        sent = exchange.web.onboarding.invite(
            tenant.id,
            _text_field(exchange, "email"),
            roles=exchange.form_list("roles"),
            invited_by=who,
            user_type=user_type,
            locale=_text_field(exchange, "locale") or None,
        )
    except (ValidationError, RateLimited) as error:
        return _queue(
            exchange, refusal_status(exchange, error), FormState(exchange, exchange.form(), error)
        )
    return exchange.redirect(exchange.url("/review", invited=sent.email))


def _detail(
    exchange: Exchange, account: Account, status: int = 200, form: FormState | None = None
) -> WebResponse:
    return exchange.render(
        "review_detail.html", status, account=account, form=form or FormState(exchange)
    )


def review_detail(exchange: Exchange) -> WebResponse:
    who = _reviewer(exchange)
    if isinstance(who, WebResponse):
        return who
    account = exchange.web.onboarding.account(_tenant(exchange).id, exchange.params["account_id"])
    return _detail(exchange, account)


def approve(exchange: Exchange) -> WebResponse:
    who = _reviewer(exchange)
    if isinstance(who, WebResponse):
        return who
    tenant = _tenant(exchange)
    onboarding = exchange.web.onboarding
    account_id = exchange.params["account_id"]
    try:
        approved = onboarding.approve(
            tenant.id,
            account_id,
            reviewer=who,
            roles=exchange.form_list("roles"),
            user_type=_text_field(exchange, "user_type") or None,
        )
    except ValidationError as error:
        account = onboarding.account(tenant.id, account_id)
        state = FormState(exchange, exchange.form(), error)
        return _detail(exchange, account, refusal_status(exchange, error), state)
    return exchange.redirect(exchange.url("/review", approved=mask_email(approved.email)))


def reject(exchange: Exchange) -> WebResponse:
    who = _reviewer(exchange)
    if isinstance(who, WebResponse):
        return who
    tenant = _tenant(exchange)
    onboarding = exchange.web.onboarding
    account_id = exchange.params["account_id"]
    try:
        rejected = onboarding.reject(
            tenant.id, account_id, reviewer=who, reason=_text_field(exchange, "reason")
        )
    except ValidationError as error:
        account = onboarding.account(tenant.id, account_id)
        state = FormState(exchange, exchange.form(), error)
        return _detail(exchange, account, refusal_status(exchange, error), state)
    return exchange.redirect(exchange.url("/review", rejected=mask_email(rejected.email)))


# -- documents and style ---------------------------------------------------------------------------


def document_page(exchange: Exchange) -> WebResponse:
    purpose = exchange.params["purpose"]
    for document in _tenant(exchange).consents.current(exchange.locale):
        if document.purpose == purpose:
            return exchange.render("document.html", document=document)
    raise WebError(404, NOT_FOUND)


_COLOR: Final = re.compile(r"^#[0-9a-fA-F]{3,8}$")


def theme(exchange: Exchange) -> WebResponse:
    color = _tenant(exchange).branding.primary_color
    chosen = color if color and _COLOR.match(color) else "#1a56db"
    body = f":root {{ --primary: {chosen}; }}\n".encode()
    return WebResponse(200, (("content-type", "text/css; charset=utf-8"),), body)


# -- demo pages ------------------------------------------------------------------------------------


def tenant_list(exchange: Exchange) -> WebResponse:
    tenants = list(exchange.web.onboarding.tenants.values())
    return exchange.render("tenants.html", tenants=tenants)


def _links(text: str) -> list[str]:
    return list(dict.fromkeys(_LINK.findall(text)))


def outbox_page(exchange: Exchange) -> WebResponse:
    mails = exchange.web.onboarding.outbox(limit=200)
    return exchange.render("mails.html", mails=[(mail, _links(mail.text)) for mail in mails])


ROUTES: Final = (
    Route("GET", "/{tenant}", "tenant_home", tenant_home, summary="The tenant's start: sign-in"),
    Route(
        "GET",
        "/{tenant}/login",
        "login_page",
        login_page,
        summary="Sign-in page",
        query=("next", "notice", "lang"),
    ),
    Route("POST", "/{tenant}/login", "login", login, summary="Sign in"),
    Route("POST", "/{tenant}/logout", "logout", logout, summary="Sign out", page="/{tenant}/login"),
    Route(
        "GET",
        "/{tenant}/account",
        "account_page",
        account_page,
        summary="The signed-in account",
        reviewer=True,
        query=("invited", "consents"),
    ),
    Route(
        "POST",
        "/{tenant}/account/invite",
        "invite_colleague",
        invite_colleague,
        summary="An organization's administrator invites a colleague",
        page="/{tenant}/account",
    ),
    Route(
        "POST",
        "/{tenant}/account/consents",
        "give_consents",
        give_consents,
        summary="Give the ticked consents (a new version, or an optional purpose)",
        page="/{tenant}/account",
    ),
    Route(
        "POST",
        "/{tenant}/account/consents/{purpose}/withdraw",
        "withdraw_consent",
        withdraw_consent,
        summary="Withdraw an optional consent",
        page="/{tenant}/account",
    ),
    Route("GET", "/{tenant}/register", "register_page", register_page, summary="Registration form"),
    Route("POST", "/{tenant}/register", "register", register, summary="Register"),
    Route(
        "GET",
        "/{tenant}/sent",
        "sent_page",
        sent_page,
        summary="Check your mail",
        query=("step", "to"),
    ),
    Route(
        "GET",
        "/{tenant}/confirm",
        "confirm_page",
        confirm_page,
        summary="Confirmation link: shows a button",
        query=("token",),
    ),
    Route("POST", "/{tenant}/confirm", "confirm", confirm, summary="Confirm the address"),
    Route(
        "GET",
        "/{tenant}/pending",
        "pending_page",
        pending_page,
        summary="Registration under review",
    ),
    Route(
        "GET",
        "/{tenant}/rejected",
        "rejected_page",
        rejected_page,
        summary="Registration not approved",
    ),
    Route(
        "GET",
        "/{tenant}/resend",
        "resend_page",
        resend_page,
        summary="Ask for the confirmation mail again",
        query=("email",),
    ),
    Route("POST", "/{tenant}/resend", "resend", resend, summary="Send the confirmation mail again"),
    Route(
        "GET",
        "/{tenant}/invitation",
        "invitation_page",
        invitation_page,
        summary="Invitation link: choose a password",
        query=("token",),
    ),
    Route(
        "POST",
        "/{tenant}/invitation",
        "accept_invitation",
        accept_invitation,
        summary="Accept the invitation",
    ),
    Route(
        "GET",
        "/{tenant}/start",
        "start_page",
        start_page,
        summary="Email-first sign-up: enter the address",
    ),
    Route(
        "POST",
        "/{tenant}/start",
        "start",
        start,
        summary="Email-first sign-up: send the activation mail",
    ),
    Route(
        "GET",
        "/{tenant}/signup",
        "signup_page",
        signup_page,
        summary="Activation link: the sign-up form",
        query=("token",),
    ),
    Route(
        "POST",
        "/{tenant}/signup",
        "complete_signup",
        complete_signup,
        summary="Complete the sign-up",
    ),
    Route(
        "GET",
        "/{tenant}/review",
        "review_queue",
        review_queue,
        summary="Reviewer queue",
        reviewer=True,
    ),
    Route(
        "POST",
        "/{tenant}/review/invite",
        "review_invite",
        review_invite,
        summary="A reviewer invites a person",
        reviewer=True,
        page="/{tenant}/review",
    ),
    Route(
        "GET",
        "/{tenant}/review/{account_id}",
        "review_detail",
        review_detail,
        summary="One registration to review",
        reviewer=True,
    ),
    Route(
        "POST",
        "/{tenant}/review/{account_id}/approve",
        "approve",
        approve,
        summary="Approve with roles and user type",
        reviewer=True,
        page="/{tenant}/review/{account_id}",
    ),
    Route(
        "POST",
        "/{tenant}/review/{account_id}/reject",
        "reject",
        reject,
        summary="Reject with a reason",
        reviewer=True,
        page="/{tenant}/review/{account_id}",
    ),
    Route(
        "GET",
        "/{tenant}/documents/{purpose}",
        "document_page",
        document_page,
        summary="A consent document",
    ),
    Route(
        "GET",
        "/{tenant}/theme.css",
        "theme",
        theme,
        summary="The tenant's colours",
        media_type="text/css",
    ),
)
TENANT_LIST_ROUTES: Final = (
    Route("GET", "/", "tenant_list", tenant_list, summary="Demo: every tenant"),
)
OUTBOX_ROUTES: Final = (
    Route("GET", "/mail", "outbox", outbox_page, summary="Demo: every mail sent"),
)
