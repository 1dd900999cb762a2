"""The project's AUTH_PASSWORD_VALIDATORS apply to onboardkit's passwords, typed and bilingual."""

from __future__ import annotations

import pytest
from onboardkit_django.passwords import project_password_rules
from support import browser

from onboardkit.passwords import PasswordContext

pytestmark = pytest.mark.django_db(transaction=True)

NUMERIC = [{"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"}]


def test_a_validators_refusal_is_a_typed_issue_in_english_and_german(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTH_PASSWORD_VALIDATORS = NUMERIC
    (rule,) = project_password_rules()
    (issue,) = rule.check("73914682057319468205", PasswordContext())
    assert issue.code == "password.host_rule"
    assert issue.params["rule"] == "password_entirely_numeric"
    assert issue.localized("en") == "This password is entirely numeric."
    assert issue.localized("de") == "Dieses Passwort ist komplett numerisch."


def test_the_registration_api_refuses_with_the_projects_rule(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTH_PASSWORD_VALIDATORS = NUMERIC
    client = browser()
    answer = client.post_json(
        client.url("/shop/api/register"),
        {"email": "ada@example.com", "password": "73914682057319468205"},
        headers={"accept-language": "de"},
    )
    assert answer.status == 422
    issues = answer.json()["error"]["issues"]
    assert {
        "path": "password",
        "code": "password.host_rule",
        "message": "Dieses Passwort ist komplett numerisch.",
        "params": {
            "rule": "password_entirely_numeric",
            "text": "This password is entirely numeric.",
        },
    } in issues


def test_the_similarity_validator_sees_what_the_person_entered(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTH_PASSWORD_VALIDATORS = [
        {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"}
    ]
    (rule,) = project_password_rules()
    issues = rule.check("lovelace-ada", PasswordContext(names=("Ada", "Lovelace")))
    assert [issue.params["rule"] for issue in issues] == ["password_too_similar"]


def test_the_validators_help_texts_are_the_fields_hints(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTH_PASSWORD_VALIDATORS = NUMERIC
    page = browser().get("/onboarding/shop/register?lang=de")
    assert "Das Passwort darf nicht komplett aus Ziffern bestehen." in page.text


def test_the_validators_can_be_left_out(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTH_PASSWORD_VALIDATORS = NUMERIC
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "PASSWORD_VALIDATORS": False}
    client = browser()
    answer = client.post_json(
        client.url("/shop/api/register"),
        {"email": "ada@example.com", "password": "73914682057319468205"},
    )
    assert answer.status == 202
