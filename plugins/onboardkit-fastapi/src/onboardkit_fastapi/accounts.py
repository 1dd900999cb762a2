"""The signed-in onboardkit account as a dependency of the app's own endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from onboardkit.accounts import Account
from onboardkit.errors import ConfigurationError, OnboardkitError
from onboardkit.web import OnboardingWeb, SignInRequired
from onboardkit_fastapi.router import core_request
from onboardkit_fastapi.sessions import SessionBackend, check_sessions

__all__ = ["current_account"]


def current_account(
    web: OnboardingWeb,
    *,
    tenant: str | None = None,
    sessions: SessionBackend | None = None,
    required: bool = False,
) -> Callable[[Request], Awaitable[Account | None]]:
    """A dependency giving the onboardkit account signed in to a tenant, or ``None``::

        signed_in = current_account(web, tenant="pim", sessions=sessions)

        @app.get("/dashboard")
        def dashboard(account: Account | None = Depends(signed_in)): ...

    The core decides, as for its own pages: in host mode from the host session that
    ``sessions`` loads, in cookie mode from onboardkit's session cookie. (The browser sends that
    cookie only below the tenant's path, ``/onboarding/pim/``; host mode has no such limit.) A
    session that no longer holds (a new password, a disabled account) gives ``None``.

    :param tenant: The tenant; by default the endpoint's ``{tenant}`` path parameter.
    :param sessions: The host's session backend: required exactly when ``web`` has
        ``sessions="host"``, as for :func:`~onboardkit_fastapi.onboarding_router`.
    :param required: Refuse with 401 and onboardkit's error body (``web.sign_in_required``)
        instead of giving ``None``; the app needs
        :func:`~onboardkit_fastapi.add_exception_handlers`.
    :raises ConfigurationError: for ``sessions`` as with the router; for an unknown ``tenant``.
    """
    check_sessions(web, sessions)
    if tenant is not None and tenant not in web.onboarding.tenants:
        raise ConfigurationError(key="tenant", reason=f"no tenant {tenant[:64]!r}")

    async def onboardkit_account(request: Request) -> Account | None:
        tenant_id = tenant if tenant is not None else request.path_params.get("tenant")
        account = None
        if isinstance(tenant_id, str) and tenant_id in web.onboarding.tenants:
            session = await sessions.load(request) if sessions is not None else None
            core = core_request(request, request.url.path, session=session)
            account = await run_in_threadpool(web.signed_in_account, core, tenant_id)
        if account is None and required:
            if OnboardkitError not in request.app.exception_handlers:
                raise ConfigurationError(
                    key="current_account",
                    reason="required=True answers through add_exception_handlers(app)",
                )
            raise SignInRequired()
        return account

    return onboardkit_account
