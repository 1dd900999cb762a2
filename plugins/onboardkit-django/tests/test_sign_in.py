"""Users and sign-in: an approved account is a Django user, onboardkit's sign-in is Django's."""

from __future__ import annotations

import pytest
from support import PASSWORD, approved_account, browser, signed_in, whoami

pytestmark = pytest.mark.django_db(transaction=True)


def test_signing_in_on_onboardkits_page_makes_the_person_request_user() -> None:
    client = browser()
    account_id = approved_account(client, "ada@example.com", roles=["editor", "viewer"])
    assert whoami(client)["authenticated"] is False

    answer = signed_in(client, "ada@example.com")

    assert answer.status == 303
    assert "onboardkit_session" not in client.cookies  # Django's session, not a second one
    me = whoami(client)
    assert me == {
        "authenticated": True,
        "username": f"pim.{account_id}",
        "email": "ada@example.com",
        "groups": ["editor", "viewer"],
    }


def test_signing_out_on_onboardkits_page_ends_the_django_session() -> None:
    client = browser()
    approved_account(client, "grace@example.com")
    signed_in(client, "grace@example.com")
    account_page = client.get(client.url("/pim/account"))
    assert account_page.status == 200

    client.submit(page=account_page, action=client.url("/pim/logout"))

    assert whoami(client)["authenticated"] is False


def test_a_wrong_password_signs_nobody_in() -> None:
    client = browser()
    approved_account(client, "alan@example.com")
    answer = signed_in(client, "alan@example.com", PASSWORD + "x")
    assert answer.status == 401
    assert whoami(client)["authenticated"] is False
