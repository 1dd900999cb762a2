"""Host sign-in: onboardkit's sign-in is Django's, kept in ``request.session``.

With ``ONBOARDKIT["SESSIONS"] = "host"`` (the default) onboardkit sets no session cookie of its
own. A sign-in on onboardkit's pages or API logs the person's Django user in
(``django.contrib.auth.login``) and keeps the three values of the core's
:class:`~onboardkit.web.SignedIn` under ``request.session["onboardkit"]``; a sign-out, or an
answer that finds the session ended, logs them out (``logout``). A sign-in through Django's own
login views (the admin's, ``LoginView``) with the
:class:`~onboardkit_django.backends.OnboardkitBackend` keeps them too, so onboardkit's pages
know the person either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from django.conf import settings as django_settings
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from onboardkit.accounts import Account
from onboardkit.web import HostSession, SessionChange, SignedIn, SignedOut, SignInRequired
from onboardkit_django.service import Service, service

__all__ = ["BACKEND", "SESSION_KEY", "act_on", "change_password", "host_session", "keep"]

#: Where the sign-in is kept in ``request.session``.
SESSION_KEY: Final = "onboardkit"
#: The authentication backend of onboardkit's accounts.
BACKEND: Final = "onboardkit_django.backends.OnboardkitBackend"
#: Where the backend leaves the sign-in it verified, for :func:`_keep_backend_sign_in`.
_VERIFIED: Final = "_onboardkit_session"


def host_session(request: HttpRequest) -> HostSession | None:
    """Who ``request.session`` says is signed in to onboardkit, or ``None``. Only reads: whether
    the session still holds is the core's decision."""
    session = getattr(request, "session", None)
    kept = session.get(SESSION_KEY) if session is not None else None
    if not isinstance(kept, Mapping):
        return None
    values = [kept.get(name) for name in ("tenant", "account_id", "verifier")]
    if not all(isinstance(value, str) for value in values):
        return None
    tenant, account_id, verifier = (str(value) for value in values)
    return HostSession(tenant, account_id, verifier)


def keep(request: HttpRequest, signed_in: HostSession | SignedIn) -> None:
    """Keep a sign-in in ``request.session``."""
    request.session[SESSION_KEY] = {
        "tenant": signed_in.tenant,
        "account_id": signed_in.account_id,
        "verifier": signed_in.verifier,
    }


def _login_backend() -> str:
    configured = list(django_settings.AUTHENTICATION_BACKENDS)
    # Django's get_user() loads the user through the backend named in the session, which must
    # be configured; any backend whose get_user() loads the user model's rows will do.
    return BACKEND if BACKEND in configured or not configured else configured[0]


def act_on(request: HttpRequest, change: SessionChange, built: Service | None = None) -> None:
    """Log the person in to (``SignedIn``) or out of (``SignedOut``) Django's session."""
    built = built or service()
    if isinstance(change, SignedIn):
        tenant = built.onboarding.tenants[change.tenant]
        account = built.onboarding.account(change.tenant, change.account_id)
        user = built.users.signed_in_user(tenant, account)
        login(request, user, backend=_login_backend())
        keep(request, change)
    elif isinstance(change, SignedOut):
        kept = host_session(request)
        ended = kept is not None and kept.tenant == change.tenant
        if ended and change.account_id is not None and kept is not None:
            ended = change.account_id == kept.account_id
        if ended:
            logout(request)


def change_password(
    request: HttpRequest, current_password: str, new_password: str, *, tenant: str | None = None
) -> Account:
    """The signed-in person replaces their onboardkit password, from the project's own view.

    Every other session of the person ends (Django's session check, through the user's
    password field, and onboardkit's verifier); this one stays signed in.

    :raises SignInRequired: nobody is signed in to onboardkit (to ``tenant``, if given).
    :raises ValidationError: ``password.current_wrong``, the new password's broken rules.
    :raises RateLimited: after too many attempts.
    """
    built = service()
    # Load request.user (it is lazy) while the session still matches the old password: loaded
    # afterwards, Django's session check would end this session too.
    signed_in = getattr(request, "user", None)
    if signed_in is None or not signed_in.is_authenticated:
        raise SignInRequired()
    kept = host_session(request)
    if kept is None or (tenant is not None and kept.tenant != tenant):
        raise SignInRequired()
    if built.web.session_account(kept) is None:
        raise SignInRequired()
    account = built.onboarding.change_password(
        kept.tenant,
        kept.account_id,
        current_password,
        new_password,
        client_address=request.META.get("REMOTE_ADDR"),
    )
    user = built.users.signed_in_user(built.onboarding.tenants[kept.tenant], account)
    update_session_auth_hash(request, user)
    keep(request, HostSession(kept.tenant, account.id, built.web.session_verifier(account)))
    return account


@receiver(user_logged_in)
def _keep_backend_sign_in(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    """A sign-in through Django's own login (the admin's, ``LoginView``) that the
    :class:`~onboardkit_django.backends.OnboardkitBackend` verified is onboardkit's sign-in too."""
    verified = getattr(request, _VERIFIED, None) if request is not None else None
    if isinstance(verified, HostSession) and getattr(request, "session", None) is not None:
        assert request is not None
        keep(request, verified)
