"""The authentication backend: Django's login, the admin's and DRF authenticate onboardkit
accounts with onboardkit's password check, and no hash is copied into Django's user table."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.test import Client, RequestFactory
from onboardkit_django.service import service
from onboardkit_django.sessions import SESSION_KEY
from onboardkit_django.users import UserMapping
from support import PASSWORD, approved_account, browser, register, whoami

pytestmark = pytest.mark.django_db(transaction=True)


class StaffEditors(UserMapping):
    """A project's mapping: editors may use the admin."""

    def fields(self, tenant, account):  # type: ignore[no-untyped-def]
        return {**super().fields(tenant, account), "is_staff": "editor" in account.roles}


def test_djangos_authenticate_checks_the_password_with_onboardkit() -> None:
    account_id = approved_account(browser(), "ada@example.com")
    request = RequestFactory().post("/login")

    user = authenticate(request, username="ada@example.com", password=PASSWORD)

    assert user is not None
    assert user.get_username() == f"pim.{account_id}"
    assert authenticate(request, username="ada@example.com", password=PASSWORD + "!") is None


def test_no_password_hash_reaches_djangos_user_table() -> None:
    approved_account(browser(), "ada@example.com")
    assert authenticate(None, username="ada@example.com", password=PASSWORD) is not None
    user = get_user_model().objects.get(email="ada@example.com")
    assert not user.has_usable_password()
    assert "argon2" not in user.password


def test_an_account_not_yet_approved_is_refused() -> None:
    client = browser()
    register(client, "pending@example.com")
    assert authenticate(None, username="pending@example.com", password=PASSWORD) is None


def test_djangos_login_is_onboardkits_sign_in_too() -> None:
    approved_account(browser(), "ada@example.com")
    client = Client()

    answer = client.post(
        "/accounts/login/", {"username": "ada@example.com", "password": PASSWORD, "next": "/"}
    )

    assert answer.status_code == 302
    assert client.session[SESSION_KEY]["tenant"] == "pim"
    assert client.get("/whoami").json()["email"] == "ada@example.com"
    # onboardkit's own pages know the person: the account page answers instead of redirecting.
    assert client.get("/onboarding/pim/account").status_code == 200


def test_the_admin_login_signs_in_an_account_the_mapping_makes_staff(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "USER_MAPPING": "test_backend.StaffEditors"}
    approved_account(browser(), "ada@example.com", roles=["editor"])
    client = Client()

    answer = client.post(
        "/admin/login/?next=/admin/", {"username": "ada@example.com", "password": PASSWORD}
    )

    assert answer.status_code == 302
    assert answer["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_django_rest_framework_authenticates_with_basic_auth() -> None:
    account_id = approved_account(browser(), "ada@example.com")
    good = base64.b64encode(f"ada@example.com:{PASSWORD}".encode()).decode()
    bad = base64.b64encode(b"ada@example.com:wrong-password").decode()
    client = Client()

    answer = client.get("/api/whoami", headers={"authorization": f"Basic {good}"})
    refused = client.get("/api/whoami", headers={"authorization": f"Basic {bad}"})

    assert answer.status_code == 200
    assert answer.json() == {"username": f"pim.{account_id}"}
    assert refused.status_code in (401, 403)


def test_django_rest_framework_sees_onboardkits_sign_in_through_the_session() -> None:
    client = browser()
    account_id = approved_account(client, "ada@example.com")
    from support import signed_in

    signed_in(client, "ada@example.com")
    answer = client.get("/api/whoami")
    assert answer.status == 200
    assert answer.json() == {"username": f"pim.{account_id}"}
    assert whoami(client)["authenticated"]


def test_authentication_tenants_limits_where_the_backend_looks(settings) -> None:  # type: ignore[no-untyped-def]
    approved_account(browser(), "ada@example.com")
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "AUTHENTICATION_TENANTS": ["shop"]}
    assert service().authentication_tenants == ("shop",)
    assert authenticate(None, username="ada@example.com", password=PASSWORD) is None
