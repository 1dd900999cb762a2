"""The JSON API: the same flows as the pages, for single-page and mobile clients.

Requests are JSON objects (``Content-Type: application/json``); answers are JSON, errors
``{"error": {"code", "message", "params", "issues"}}`` in the request's language (``?lang=``,
the language cookie, ``Accept-Language``, then the tenant's default).
Nested objects map onto the flows' form keys: ``{"fields": {"customer_number": "1234567"}}``
is ``fields.customer_number``, ``{"consents": {"privacy": true}}`` is ``consents.privacy``,
``{"company": {"name": "ACME"}}`` is ``company.name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from onboardkit.accounts import Account, AccountStatus
from onboardkit.onboarding import ConsentState, LinkPreview, Submitted
from onboardkit.web.exchange import Exchange
from onboardkit.web.responses import WebResponse
from onboardkit.web.routes import Route

__all__ = ["ROUTES", "flatten"]

_NESTED: Final = ("fields", "consents", "company")


def flatten(data: Mapping[str, Any]) -> dict[str, object]:
    """A JSON body as the flows' form: nested ``fields``, ``consents`` and ``company`` objects
    become dotted keys; anything else nested is dropped (never taken over)."""
    form: dict[str, object] = {}
    for key, value in data.items():
        if key in _NESTED:
            if isinstance(value, Mapping):
                for name, inner in value.items():
                    if isinstance(name, str):
                        form[f"{key}.{name}"] = inner
        elif not isinstance(value, Mapping):
            form[key] = value
    return form


def _string(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _submitted(exchange: Exchange, sent: Submitted) -> WebResponse:
    return exchange.send_json({"step": sent.step, "email": sent.email}, 202)


def account_json(account: Account) -> dict[str, Any]:
    """What the API tells about an account (never its password hash or consents)."""
    return {
        "id": account.id,
        "tenant": account.tenant,
        "email": account.email,
        "status": account.status.value,
        "flow": account.flow.value,
        "given_name": account.profile.get("given_name"),
        "family_name": account.profile.get("family_name"),
        "fields": dict(account.fields),
        "roles": list(account.roles),
        "user_type": account.user_type,
        "organization_id": account.organization_id,
        "created_at": account.created_at,
        "confirmed_at": account.confirmed_at,
    }


def _preview_json(preview: LinkPreview) -> dict[str, Any]:
    return {
        "purpose": preview.purpose,
        "tenant": preview.tenant,
        "email": preview.email,
        "status": preview.status,
        "expires_at": preview.expires_at,
        "offers": list(preview.offers),
    }


def _tenant_id(exchange: Exchange) -> str:
    assert exchange.tenant is not None
    return exchange.tenant.id


# -- handlers --------------------------------------------------------------------------------------


def form_description(exchange: Exchange) -> WebResponse:
    tenant = exchange.tenant
    assert tenant is not None
    documents = [
        {
            "purpose": d.purpose,
            "version": d.version,
            "locale": d.locale,
            "title": d.title,
            "label": d.label,
            "required": d.required,
            "text": d.text,
            "url": d.url,
            "text_sha256": d.text_sha256,
        }
        for d in tenant.consents.current(exchange.locale)
    ]
    return exchange.send_json(
        {
            "tenant": tenant.id,
            "name": tenant.branding.display_name,
            "locale": exchange.locale,
            "flows": sorted(flow.value for flow in tenant.flows),
            "fields": tenant.fields.json_schema(locale=exchange.locale),
            "consents": documents,
            "password": exchange.web.onboarding.password_hints(tenant.id, exchange.locale),
            "partners": tenant.partners_enabled,
        }
    )


def password_check(exchange: Exchange) -> WebResponse:
    data = exchange.json()
    names = [_string(data, "given_name"), _string(data, "family_name")]
    issues = exchange.web.onboarding.check_password(
        _tenant_id(exchange),
        _string(data, "password"),
        email=_string(data, "email") or None,
        names=[name for name in names if name],
        company=_string(data, "company") or None,
    )
    return exchange.send_json(
        {"ok": not issues, "issues": [issue.as_dict(exchange.locale) for issue in issues]}
    )


def register(exchange: Exchange) -> WebResponse:
    sent = exchange.web.onboarding.register(
        _tenant_id(exchange),
        flatten(exchange.json()),
        client_address=exchange.client_address,
        locale=exchange.locale,
    )
    return _submitted(exchange, sent)


def resend(exchange: Exchange) -> WebResponse:
    sent = exchange.web.onboarding.resend_confirmation(
        _tenant_id(exchange),
        _string(exchange.json(), "email"),
        client_address=exchange.client_address,
        locale=exchange.locale,
    )
    return _submitted(exchange, sent)


def preview_confirmation(exchange: Exchange) -> WebResponse:
    return exchange.send_json(
        _preview_json(exchange.link_preview("confirm", exchange.link_token()))
    )


def confirm(exchange: Exchange) -> WebResponse:
    token = exchange.link_token(exchange.json())
    exchange.link_preview("confirm", token)
    account = exchange.web.onboarding.confirm(token, client_address=exchange.client_address)
    return exchange.send_json({"status": account.status.value})


def preview_invitation(exchange: Exchange) -> WebResponse:
    return exchange.send_json(
        _preview_json(exchange.link_preview("invitation", exchange.link_token()))
    )


def accept_invitation(exchange: Exchange) -> WebResponse:
    data = exchange.json()
    token = exchange.link_token(data)
    exchange.link_preview("invitation", token)
    account = exchange.web.onboarding.accept_invitation(
        token, flatten(data), client_address=exchange.client_address
    )
    return exchange.send_json({"status": account.status.value})


def start_signup(exchange: Exchange) -> WebResponse:
    sent = exchange.web.onboarding.start_signup(
        _tenant_id(exchange),
        _string(exchange.json(), "email"),
        client_address=exchange.client_address,
        locale=exchange.locale,
    )
    return _submitted(exchange, sent)


def preview_signup(exchange: Exchange) -> WebResponse:
    return exchange.send_json(_preview_json(exchange.link_preview("signup", exchange.link_token())))


def complete_signup(exchange: Exchange) -> WebResponse:
    data = exchange.json()
    token = exchange.link_token(data)
    exchange.link_preview("signup", token)
    account = exchange.web.onboarding.complete_signup(
        token, flatten(data), client_address=exchange.client_address
    )
    return exchange.send_json({"status": account.status.value, "account": account_json(account)})


def login(exchange: Exchange) -> WebResponse:
    data = exchange.json()
    account = exchange.web.onboarding.authenticate(
        _tenant_id(exchange),
        _string(data, "email"),
        _string(data, "password"),
        client_address=exchange.client_address,
    )
    exchange.web.sign_in(exchange, account)
    return exchange.send_json({"account": account_json(account)})


def logout(exchange: Exchange) -> WebResponse:
    exchange.web.sign_out(exchange)
    return WebResponse(204)


def me(exchange: Exchange) -> WebResponse:
    account = exchange.require_account()
    return exchange.send_json(
        {"account": account_json(account), "reviewer": exchange.web.reviewer(exchange) is not None}
    )


def reviews(exchange: Exchange) -> WebResponse:
    exchange.web.require_reviewer(exchange)
    waiting = exchange.web.onboarding.pending_reviews(_tenant_id(exchange), limit=100)
    return exchange.send_json({"accounts": [account_json(account) for account in waiting]})


def review(exchange: Exchange) -> WebResponse:
    exchange.web.require_reviewer(exchange)
    account = exchange.web.onboarding.account(_tenant_id(exchange), exchange.params["account_id"])
    return exchange.send_json({"account": account_json(account)})


def approve(exchange: Exchange) -> WebResponse:
    who = exchange.web.require_reviewer(exchange)
    data = exchange.json()
    user_type = data.get("user_type")
    approved = exchange.web.onboarding.approve(
        _tenant_id(exchange),
        exchange.params["account_id"],
        reviewer=who,
        roles=data.get("roles", []),
        user_type=user_type if user_type is None else str(user_type)[:64],
    )
    return exchange.send_json({"account": account_json(approved)})


def reject(exchange: Exchange) -> WebResponse:
    who = exchange.web.require_reviewer(exchange)
    rejected = exchange.web.onboarding.reject(
        _tenant_id(exchange),
        exchange.params["account_id"],
        reviewer=who,
        reason=_string(exchange.json(), "reason"),
    )
    return exchange.send_json({"account": account_json(rejected)})


def invite(exchange: Exchange) -> WebResponse:
    who = exchange.web.require_reviewer(exchange)
    data = exchange.json()
    user_type = data.get("user_type")
    sent = exchange.web.onboarding.invite(
        _tenant_id(exchange),
        _string(data, "email"),
        roles=data.get("roles", []),
        invited_by=who,
        user_type=user_type if user_type is None else str(user_type)[:64],
        locale=_string(data, "locale") or None,  # the invitee's language: else the tenant's
    )
    return _submitted(exchange, sent)


def invite_colleague(exchange: Exchange) -> WebResponse:
    account = exchange.require_account()
    data = exchange.json()
    sent = exchange.web.onboarding.invite_colleague(
        _tenant_id(exchange),
        account.id,
        _string(data, "email"),
        roles=data.get("roles", []),
        locale=_string(data, "locale") or None,
    )
    return _submitted(exchange, sent)


def consent_state_json(state: ConsentState) -> dict[str, Any]:
    """What the API tells about one consent purpose of the signed-in account."""
    document = state.document
    return {
        "purpose": document.purpose,
        "title": document.title,
        "version": document.version,
        "required": document.required,
        "url": document.url,
        "given": state.given,
        "current": state.current,
        "given_version": state.given_version,
        "given_at": state.given_at.isoformat().replace("+00:00", "Z") if state.given_at else None,
    }


def _consents(exchange: Exchange, states: list[ConsentState]) -> WebResponse:
    return exchange.send_json({"consents": [consent_state_json(state) for state in states]})


def my_consents(exchange: Exchange) -> WebResponse:
    account = exchange.require_account()
    return _consents(
        exchange,
        exchange.web.onboarding.consent_states(_tenant_id(exchange), account.id, exchange.locale),
    )


def give_consents(exchange: Exchange) -> WebResponse:
    account = exchange.require_account()
    states = exchange.web.onboarding.give_consents(
        _tenant_id(exchange),
        account.id,
        flatten(exchange.json()),
        client_address=exchange.client_address,
        locale=exchange.locale,
    )
    return _consents(exchange, states)


def withdraw_consent(exchange: Exchange) -> WebResponse:
    account = exchange.require_account()
    states = exchange.web.onboarding.withdraw_consent(
        _tenant_id(exchange),
        account.id,
        exchange.params["purpose"],
        client_address=exchange.client_address,
        locale=exchange.locale,
    )
    return _consents(exchange, states)


# -- schemas ---------------------------------------------------------------------------------------

_EMAIL: Final = {"type": "string", "format": "email", "maxLength": 320}
_PASSWORD: Final = {"type": "string", "maxLength": 4096}
_NAME: Final = {"type": "string", "maxLength": 100}
_TOKEN: Final = {
    "type": "string",
    "maxLength": 2048,
    "description": "The token of the mailed link.",
}
_FIELDS: Final = {
    "type": "object",
    "description": "The tenant's custom fields by name (GET /{tenant}/api/form has their schema).",
}
_CONSENTS: Final = {
    "type": "object",
    "additionalProperties": {"type": "boolean"},
    "description": "true for every purpose the person agrees to; required ones must be true.",
}
_ROLES: Final = {"type": "array", "items": {"type": "string"}, "maxItems": 50}
_CONSENT_STATES: Final = {
    "type": "object",
    "required": ["consents"],
    "properties": {
        "consents": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["purpose", "title", "version", "required", "given", "current"],
                "properties": {
                    "purpose": {"type": "string"},
                    "title": {"type": "string"},
                    "version": {"type": "string", "description": "The version in force."},
                    "required": {"type": "boolean"},
                    "url": {"type": ["string", "null"]},
                    "given": {"type": "boolean", "description": "A consent is in effect."},
                    "current": {
                        "type": "boolean",
                        "description": "The consent in effect covers the version in force.",
                    },
                    "given_version": {"type": ["string", "null"]},
                    "given_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        }
    },
}


def _object(required: list[str], **properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": dict(properties)}


_SUBMITTED: Final = _object(
    ["step", "email"],
    step={"type": "string"},
    email={"type": "string", "description": "The address, masked: a***@example.org"},
)
_ACCOUNT: Final = _object(
    ["id", "tenant", "email", "status"],
    id={"type": "string"},
    tenant={"type": "string"},
    email={"type": "string"},
    status={"type": "string", "enum": [status.value for status in AccountStatus]},
    flow={"type": "string"},
    given_name={"type": ["string", "null"]},
    family_name={"type": ["string", "null"]},
    fields={"type": "object"},
    roles={"type": "array", "items": {"type": "string"}},
    user_type={"type": ["string", "null"]},
    organization_id={"type": ["string", "null"]},
    created_at={"type": "number"},
    confirmed_at={"type": ["number", "null"]},
)
_WITH_ACCOUNT: Final = _object(["account"], account=_ACCOUNT)
_STATUS: Final = _object(["status"], status={"type": "string"})
_PREVIEW: Final = _object(
    ["purpose", "tenant", "email", "status", "expires_at"],
    purpose={"type": "string"},
    tenant={"type": "string"},
    email={"type": "string"},
    status={"type": "string", "enum": ["ready", "already_done"]},
    expires_at={"type": "number"},
    offers={"type": "array", "items": {"type": "string"}},
)

_INPUT: Final = ("422", "The input was refused; error.issues lists every problem by path.")


def _answers(
    ok: int, description: str, schema: Mapping[str, Any] | None, *errors: int
) -> dict[int, tuple[str, Mapping[str, Any] | None]]:
    texts = {
        400: "Malformed request, link or JSON.",
        401: "Not signed in, or wrong email or password.",
        403: "Not allowed (not a reviewer, another site's request, login refused).",
        404: "No such tenant, account or flow.",
        409: "The account is not in a state that allows this.",
        410: "The link expired, or a newer one replaced it.",
        413: "The body is too large.",
        415: "The body is not JSON.",
        422: "The input was refused; error.issues lists every problem by path.",
        429: "Too many attempts; see Retry-After.",
        503: "A partner provider or a plugin did not answer.",
    }
    answers: dict[int, tuple[str, Mapping[str, Any] | None]] = {ok: (description, schema)}
    for status in (*errors, 400, 404):
        answers[status] = (texts[status], None)
    return answers


def _api(method: str, path: str, name: str, handler: Any, summary: str, **options: Any) -> Route:
    if method == "POST":  # only bodies can be too large or not JSON
        answers = dict(options.pop("responses", {}))
        answers.setdefault(413, ("The body is too large.", None))
        answers.setdefault(415, ("The body is not JSON.", None))
        options["responses"] = answers
    return Route(
        method,
        f"/{{tenant}}/api{path}",
        name,
        handler,
        api=True,
        summary=summary,
        media_type="application/json",
        tags=("onboarding",),
        **options,
    )


_LINK_ERRORS: Final = (410,)

ROUTES: Final = (
    _api(
        "GET",
        "/form",
        "api_form",
        form_description,
        "What the forms need",
        description="Custom fields (JSON Schema), consent documents, password rules, flows.",
        responses=_answers(200, "The tenant's form description.", {"type": "object"}),
    ),
    _api(
        "POST",
        "/password-check",
        "api_password_check",
        password_check,
        "Check a password while it is typed",
        request_schema=_object(
            ["password"],
            password=_PASSWORD,
            email=_EMAIL,
            given_name=_NAME,
            family_name=_NAME,
            company=_NAME,
        ),
        responses=_answers(
            200,
            "ok, and every rule broken.",
            _object(["ok", "issues"], ok={"type": "boolean"}, issues={"type": "array"}),
        ),
    ),
    _api(
        "POST",
        "/register",
        "api_register",
        register,
        "Register (self-registration with review)",
        description="The answer is the same for new and known addresses.",
        request_schema=_object(
            ["email", "password"],
            email=_EMAIL,
            password=_PASSWORD,
            given_name=_NAME,
            family_name=_NAME,
            fields=_FIELDS,
            consents=_CONSENTS,
        ),
        responses=_answers(202, "A confirmation mail is on its way.", _SUBMITTED, 422, 429),
    ),
    _api(
        "POST",
        "/resend",
        "api_resend",
        resend,
        "Send the confirmation mail again",
        request_schema=_object(["email"], email=_EMAIL),
        responses=_answers(202, "The same answer for every address.", _SUBMITTED, 422, 429),
    ),
    _api(
        "GET",
        "/confirm",
        "api_confirm_preview",
        preview_confirmation,
        "What a confirmation link is for (changes nothing)",
        query=("token",),
        responses=_answers(200, "The link's preview.", _PREVIEW, *_LINK_ERRORS),
    ),
    _api(
        "POST",
        "/confirm",
        "api_confirm",
        confirm,
        "Confirm the address",
        request_schema=_object(["token"], token=_TOKEN),
        responses=_answers(200, "The account's new status.", _STATUS, *_LINK_ERRORS, 503),
    ),
    _api(
        "GET",
        "/invitation",
        "api_invitation_preview",
        preview_invitation,
        "What an invitation link is for (changes nothing)",
        query=("token",),
        responses=_answers(200, "The link's preview.", _PREVIEW, *_LINK_ERRORS),
    ),
    _api(
        "POST",
        "/invitation",
        "api_accept_invitation",
        accept_invitation,
        "Accept an invitation: password and consents",
        request_schema=_object(
            ["token", "password"],
            token=_TOKEN,
            password=_PASSWORD,
            given_name=_NAME,
            family_name=_NAME,
            consents=_CONSENTS,
        ),
        responses=_answers(200, "The account is active.", _STATUS, *_LINK_ERRORS, 422, 503),
    ),
    _api(
        "POST",
        "/signup/start",
        "api_start_signup",
        start_signup,
        "Email-first sign-up: send the activation mail",
        request_schema=_object(["email"], email=_EMAIL),
        responses=_answers(
            202, "The same answer for new and known addresses.", _SUBMITTED, 422, 429
        ),
    ),
    _api(
        "GET",
        "/signup",
        "api_signup_preview",
        preview_signup,
        "What an activation link is for (changes nothing)",
        query=("token",),
        responses=_answers(
            200, "The link's preview with the kinds offered.", _PREVIEW, *_LINK_ERRORS
        ),
    ),
    _api(
        "POST",
        "/signup",
        "api_complete_signup",
        complete_signup,
        "Complete an email-first sign-up",
        request_schema=_object(
            ["token", "kind", "given_name", "family_name", "password"],
            token=_TOKEN,
            kind={"type": "string", "enum": ["customer", "partner"]},
            given_name=_NAME,
            family_name=_NAME,
            company=_object(["name"], name=_NAME),
            password=_PASSWORD,
            fields=_FIELDS,
            consents=_CONSENTS,
            partner_code={"type": "string", "maxLength": 64},
        ),
        responses=_answers(
            200,
            "The account is active.",
            _object(["status", "account"], status={"type": "string"}, account=_ACCOUNT),
            *_LINK_ERRORS,
            422,
            429,
            503,
        ),
    ),
    _api(
        "POST",
        "/login",
        "api_login",
        login,
        "Sign in (sets the session cookie)",
        request_schema=_object(["email", "password"], email=_EMAIL, password=_PASSWORD),
        responses=_answers(200, "Signed in.", _WITH_ACCOUNT, 401, 403, 429),
    ),
    _api(
        "POST",
        "/logout",
        "api_logout",
        logout,
        "Sign out",
        responses=_answers(204, "Signed out.", None),
    ),
    _api(
        "GET",
        "/me",
        "api_me",
        me,
        "The signed-in account",
        reviewer=True,
        responses=_answers(
            200,
            "The account.",
            _object(["account", "reviewer"], account=_ACCOUNT, reviewer={"type": "boolean"}),
            401,
        ),
    ),
    _api(
        "GET",
        "/reviews",
        "api_reviews",
        reviews,
        "Registrations waiting for review",
        reviewer=True,
        responses=_answers(
            200,
            "Oldest first.",
            _object(["accounts"], accounts={"type": "array", "items": _ACCOUNT}),
            401,
            403,
        ),
    ),
    _api(
        "GET",
        "/reviews/{account_id}",
        "api_review",
        review,
        "One registration",
        reviewer=True,
        responses=_answers(200, "The account.", _WITH_ACCOUNT, 401, 403),
    ),
    _api(
        "POST",
        "/reviews/{account_id}/approve",
        "api_approve",
        approve,
        "Approve with roles and a user type",
        reviewer=True,
        request_schema=_object(["roles"], roles=_ROLES, user_type={"type": ["string", "null"]}),
        responses=_answers(200, "The account is active.", _WITH_ACCOUNT, 401, 403, 409, 422, 503),
    ),
    _api(
        "POST",
        "/reviews/{account_id}/reject",
        "api_reject",
        reject,
        "Reject with a reason",
        reviewer=True,
        request_schema=_object(["reason"], reason={"type": "string", "maxLength": 1000}),
        responses=_answers(200, "The account is rejected.", _WITH_ACCOUNT, 401, 403, 409, 422),
    ),
    _api(
        "POST",
        "/invitations",
        "api_invite",
        invite,
        "A reviewer invites a person",
        reviewer=True,
        request_schema=_object(
            ["email", "roles"],
            email=_EMAIL,
            roles=_ROLES,
            user_type={"type": ["string", "null"]},
            locale={"type": "string"},
        ),
        responses=_answers(202, "The invitation is on its way.", _SUBMITTED, 401, 403, 422),
    ),
    _api(
        "POST",
        "/colleagues",
        "api_invite_colleague",
        invite_colleague,
        "An organization's administrator invites a colleague",
        request_schema=_object(["email"], email=_EMAIL, roles=_ROLES, locale={"type": "string"}),
        responses=_answers(202, "The invitation is on its way.", _SUBMITTED, 401, 403, 422),
    ),
    _api(
        "GET",
        "/me/consents",
        "api_my_consents",
        my_consents,
        "The signed-in account's consents",
        description="Every consent purpose of the tenant: the version in force, and whether the "
        "account's consent in effect covers it.",
        responses=_answers(200, "The consents.", _CONSENT_STATES, 401),
    ),
    _api(
        "POST",
        "/me/consents",
        "api_give_consents",
        give_consents,
        "Give consents",
        description="Consent to the version in force of each purpose set to true; purposes "
        "already covered are left as they are.",
        request_schema=_object(["consents"], consents=_CONSENTS),
        responses=_answers(200, "The consents after the change.", _CONSENT_STATES, 401, 422),
    ),
    _api(
        "POST",
        "/me/consents/{purpose}/withdraw",
        "api_withdraw_consent",
        withdraw_consent,
        "Withdraw an optional consent",
        description="Required consents cannot be withdrawn (consent.required_purpose); "
        "withdrawing a consent not in effect changes nothing.",
        responses=_answers(200, "The consents after the change.", _CONSENT_STATES, 401, 422),
    ),
)
