"""An authentication backend for onboardkit's accounts: Django's login, the admin's and Django
REST framework's authentication check the password with onboardkit.

.. code-block:: python

    AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "onboardkit_django.backends.OnboardkitBackend",
    ]

The person signs in with their email address (in the form's username field) and onboardkit
password. The backend asks the core (``Onboarding.authenticate``: the tenant's hasher, rate
limits, refusals of unconfirmed, pending, rejected and disabled accounts) in each tenant of
``ONBOARDKIT["AUTHENTICATION_TENANTS"]`` in turn, and answers with the account's Django user.
No password hash is copied into Django's user table; the user's password stays unusable.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from onboardkit.onboarding.errors import LoginFailed
from onboardkit.ratelimits import RateLimited
from onboardkit.web import HostSession
from onboardkit_django.service import service
from onboardkit_django.sessions import _VERIFIED

__all__ = ["OnboardkitBackend"]


class OnboardkitBackend(BaseBackend):
    """Authenticates onboardkit accounts by email address and password."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **credentials: Any,
    ) -> Any | None:
        # DRF's basic authentication passes the user model's USERNAME_FIELD by name.
        email = username or credentials.get(str(getattr(get_user_model(), "USERNAME_FIELD", "")))
        email = email or credentials.get("email")
        if not isinstance(email, str) or not isinstance(password, str):
            return None
        built = service()
        address = request.META.get("REMOTE_ADDR") if request is not None else None
        for tenant_id in built.authentication_tenants:
            try:
                account = built.onboarding.authenticate(
                    tenant_id, email, password, client_address=address
                )
            except (LoginFailed, RateLimited):
                continue
            user = built.users.signed_in_user(built.onboarding.tenants[tenant_id], account)
            if not getattr(user, "is_active", True):
                return None
            if request is not None:
                verifier = built.web.session_verifier(account)
                setattr(request, _VERIFIED, HostSession(tenant_id, account.id, verifier))
            return user
        return None

    def get_user(self, user_id: Any) -> Any | None:
        model = get_user_model()
        user = model._default_manager.filter(pk=user_id).first()
        return user if user is not None and getattr(user, "is_active", True) else None
