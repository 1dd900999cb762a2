"""Host sessions: onboardkit's sign-in, sign-out and password changes act on Django's sessions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from onboardkit_django.service import service
from onboardkit_django.signals import account_changed
from support import PASSWORD, approved_account, browser, signed_in, whoami

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "Quartz-Meadow-Lantern-58"


def django_login(email: str, password: str = PASSWORD) -> Client:
    client = Client()
    answer = client.post("/accounts/login/", {"username": email, "password": password})
    assert answer.status_code == 302
    return client


def test_signing_in_through_the_json_api_logs_into_django() -> None:
    client = browser()
    approved_account(client, "ada@example.com")
    answer = client.post_json(
        client.url("/pim/api/login"), {"email": "ada@example.com", "password": PASSWORD}
    )
    assert answer.status == 200
    assert whoami(client)["email"] == "ada@example.com"


def test_a_password_change_ends_the_persons_other_sessions_but_not_this_one() -> None:
    here = browser()
    account_id = approved_account(here, "ada@example.com")
    signed_in(here, "ada@example.com")
    elsewhere = django_login("ada@example.com")
    assert elsewhere.get("/whoami").json()["authenticated"]

    changed = here.post("/new-password", {"current": PASSWORD, "new": NEW_PASSWORD}, csrf=False)

    assert changed.status == 204
    assert whoami(here)["username"] == f"pim.{account_id}"
    assert here.get(here.url("/pim/account")).status == 200  # onboardkit's verifier follows
    assert elsewhere.get("/whoami").json()["authenticated"] is False
    assert django_login("ada@example.com", NEW_PASSWORD).get("/whoami").json()["authenticated"]


def test_a_password_changed_outside_the_session_ends_every_session() -> None:
    here = browser()
    account_id = approved_account(here, "ada@example.com")
    signed_in(here, "ada@example.com")

    service().onboarding.change_password("pim", account_id, PASSWORD, NEW_PASSWORD)

    assert whoami(here)["authenticated"] is False


def test_a_disabled_account_is_signed_out_and_its_user_inactive() -> None:
    here = browser()
    account_id = approved_account(here, "ada@example.com")
    signed_in(here, "ada@example.com")

    service().onboarding.disable("pim", account_id, actor="admin@example.com")

    assert whoami(here)["authenticated"] is False
    assert get_user_model().objects.get(email="ada@example.com").is_active is False


def test_onboardkits_pages_answer_a_person_signed_out_of_django_as_signed_out() -> None:
    here = browser()
    approved_account(here, "ada@example.com")
    signed_in(here, "ada@example.com")
    here.cookies.pop("sessionid")
    answer = here.get(here.url("/pim/account"))
    assert answer.status == 303
    assert "/pim/login" in (answer.header("location") or "")


def test_account_changes_are_signalled_after_djangos_commit() -> None:
    seen: list[tuple[str, str]] = []

    def receive(sender: object, event: object, tenant: str, action: str, **kwargs: object) -> None:
        seen.append((tenant, action))

    account_changed.connect(receive)
    try:
        account_id = approved_account(browser(), "ada@example.com")
        assert seen == [("pim", "created"), ("pim", "confirm"), ("pim", "approve")]
        seen.clear()
        with transaction.atomic():
            service().onboarding.disable("pim", account_id, actor="admin@example.com")
            assert seen == []  # not before the project's transaction commits
        assert seen == [("pim", "disable")]
    finally:
        account_changed.disconnect(receive)
