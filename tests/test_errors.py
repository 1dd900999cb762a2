"""The error base: stable codes, params, English and German texts, JSON answers."""

from __future__ import annotations

import pytest

from onboardkit.errors import (
    ConfigurationError,
    Issue,
    LocalizedText,
    OnboardkitError,
    TokenError,
    TokenExpired,
    ValidationError,
    message,
    registered_messages,
)
from onboardkit.passwords import HOST_RULE

SAMPLE = message("test.sample", "Use at least {min_length} characters.")


def test_an_error_carries_its_stable_code_and_english_message():
    error = TokenExpired()
    assert error.code == "token.expired"
    assert error.message == "This link has expired. Please request a new one."
    assert str(error) == error.message


def test_an_error_speaks_german_when_asked():
    assert TokenExpired().localized("de-DE") == (
        "Dieser Link ist abgelaufen. Bitte fordern Sie einen neuen an."
    )


def test_an_unknown_locale_falls_back_to_english():
    assert TokenExpired().localized("xx") == TokenExpired().message


def test_every_domain_error_is_an_onboardkit_error():
    assert issubclass(TokenExpired, TokenError)
    assert issubclass(TokenError, OnboardkitError)
    assert issubclass(ValidationError, OnboardkitError)


def test_params_fill_the_message():
    error = OnboardkitError(SAMPLE, min_length=12)
    assert error.message == "Use at least 12 characters."
    assert error.params == {"min_length": 12}


def test_a_missing_param_leaves_its_placeholder_instead_of_raising():
    assert OnboardkitError(SAMPLE).message == "Use at least {min_length} characters."


def test_a_nested_message_param_is_rendered_in_the_same_locale():
    error = ConfigurationError(key="fields.x.type", reason=registered_messages()["token.expired"])
    assert "Dieser Link ist abgelaufen" in error.localized("de")
    assert error.as_dict()["params"] == {"key": "fields.x.type", "reason": "token.expired"}


def test_as_dict_is_a_json_answer_with_code_message_and_params():
    answer = OnboardkitError(SAMPLE, min_length=8).as_dict("en")
    assert answer == {
        "code": "test.sample",
        "message": "Use at least 8 characters.",
        "params": {"min_length": 8},
    }


def test_a_validation_error_reports_every_issue_with_its_path():
    error = ValidationError(
        [Issue("fields.customer_number", SAMPLE, {"min_length": 6}), Issue("email", SAMPLE)]
    )
    assert error.code == "validation.failed"
    assert error.codes == ["test.sample", "test.sample"]
    answer = error.as_dict("de")
    assert [issue["path"] for issue in answer["issues"]] == ["fields.customer_number", "email"]
    assert answer["message"] == "Bitte korrigieren Sie die markierten Angaben."


def test_a_code_cannot_be_declared_twice_with_different_texts():
    with pytest.raises(ValueError, match="declared twice"):
        message("test.sample", "Another text.")


def test_declaring_the_same_text_again_is_harmless():
    assert message("test.sample", SAMPLE.template) == SAMPLE


def test_a_localized_text_param_is_rendered_in_the_messages_locale() -> None:
    rule = LocalizedText({"en": "Too similar to the username.", "de": "Zu ähnlich wie der Name."})
    issue = Issue("password", HOST_RULE, {"text": rule, "rule": "password_too_similar"})
    assert issue.localized("en") == "Too similar to the username."
    assert issue.localized("de-AT") == "Zu ähnlich wie der Name."
    assert issue.as_dict("de")["params"] == {
        "text": "Too similar to the username.",
        "rule": "password_too_similar",
    }


def test_a_localized_text_falls_back_to_english_and_needs_it() -> None:
    assert LocalizedText({"en": "Only digits."}).render("de") == "Only digits."
    with pytest.raises(ValueError, match="English"):
        LocalizedText({"de": "Nur Ziffern."})
