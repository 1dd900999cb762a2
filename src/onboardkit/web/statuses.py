"""Which HTTP status each error gets, for pages and API alike, and the JSON answer to an error
that host views share."""

from __future__ import annotations

import json
from typing import Final

from onboardkit.accounts import InvalidTransition
from onboardkit.errors import (
    OnboardkitError,
    PartnerCodeError,
    PartnerProviderError,
    TokenError,
    TokenExpired,
    TokenStaleState,
    ValidationError,
)
from onboardkit.onboarding import (
    AccountNotFound,
    FlowNotOffered,
    LoginFailed,
    NotOrganizationAdmin,
    ProvisioningFailed,
)
from onboardkit.ratelimits import RateLimitBackendError, RateLimited
from onboardkit.storage import Conflict
from onboardkit.tenants import UnknownTenant
from onboardkit.web.exchange import Exchange, WebError
from onboardkit.web.responses import WebResponse

__all__ = ["error_response", "refusal_status", "status_for"]

_STATUS: Final[tuple[tuple[type[OnboardkitError], int], ...]] = (
    (WebError, 400),  # its own status wins, see status_for
    (RateLimited, 429),
    (ValidationError, 422),
    (TokenExpired, 410),
    (TokenStaleState, 410),
    (TokenError, 400),
    (LoginFailed, 403),
    (NotOrganizationAdmin, 403),
    (UnknownTenant, 404),
    (FlowNotOffered, 404),
    (AccountNotFound, 404),
    (InvalidTransition, 409),
    (Conflict, 409),
    (PartnerProviderError, 503),
    (PartnerCodeError, 422),
    (ProvisioningFailed, 503),
    (RateLimitBackendError, 503),
)


def status_for(error: OnboardkitError) -> int:
    """The HTTP status of an error: 422 for input, 401 for bad credentials, 429 when limited..."""
    if isinstance(error, WebError):
        return error.status
    if isinstance(error, LoginFailed) and error.code == "login.bad_credentials":
        return 401
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


def refusal_status(exchange: Exchange, error: OnboardkitError) -> int:
    """The status of ``error`` for this exchange's answer, whichever page or body shows it;
    the headers that belong to it (``Retry-After`` when rate limited) join the answer."""
    if isinstance(error, RateLimited):
        exchange.headers.append(("retry-after", str(error.params["retry_after"])))
    return status_for(error)


def error_response(error: OnboardkitError, *, locale: str | None = "en") -> WebResponse:
    """The JSON API's answer to ``error``, for a host's own views and exception handlers.

    The status comes from :func:`status_for`, the body is the API's error body
    (``{"error": {"code": ..., "message": ..., "params": ...}}``, the message in ``locale``),
    and a rate-limited answer carries ``Retry-After``: a host endpoint that calls the service
    answers exactly like onboardkit's own API does::

        try:
            onboarding.invite(tenant, form, invited_by=user.email)
        except OnboardkitError as error:
            answer = error_response(error, locale=request.LANGUAGE_CODE)
    """
    headers: list[tuple[str, str]] = [
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ]
    if isinstance(error, RateLimited):
        headers.append(("retry-after", str(error.params["retry_after"])))
    body = json.dumps(
        {"error": error.as_dict(locale)}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    return WebResponse(status_for(error), tuple(headers), body)
