"""The project's ``AUTH_PASSWORD_VALIDATORS`` as rules of onboardkit's password policy.

Each validator becomes a rule checked after the tenant's own (the ``onboardkit_password_rules``
hook), on every password onboardkit sets: registration, invitation, sign-up, a password change.
A violation is an issue with the stable code ``password.host_rule``, the validator's own code as
``params.rule`` (``password_too_similar``), and the validator's text in English and German from
Django's own translations; the password field's hints list each validator's help text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import get_default_password_validators
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import translation

from onboardkit.errors import Issue, LocalizedText
from onboardkit.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, normalize_locale
from onboardkit.passwords import HOST_RULE, PasswordContext, PasswordRule

__all__ = ["ProjectPasswordValidator", "project_password_rules"]


class ProjectPasswordValidator:
    """One of the project's password validators as an onboardkit password rule.

    :param validator: The validator, as ``get_default_password_validators()`` builds it.
    """

    code = HOST_RULE.code

    def __init__(self, validator: Any) -> None:
        self.validator = validator

    def check(self, password: str, context: PasswordContext) -> list[Issue]:
        user = _person(context)
        # Django translates a refusal when it is raised: check once per language.
        refusals: dict[str, list[DjangoValidationError]] = {}
        for language in SUPPORTED_LOCALES:
            with translation.override(language):
                try:
                    self.validator.validate(password, user)
                except DjangoValidationError as refusal:
                    refusals[language] = [
                        DjangoValidationError(str(text).strip(), code=error.code)
                        for error in refusal.error_list
                        for text in error.messages
                    ]
                else:
                    return []
        english = refusals[DEFAULT_LOCALE]
        return [
            Issue(
                "password",
                HOST_RULE,
                {
                    "rule": error.code or type(self.validator).__name__,
                    "text": LocalizedText(
                        {
                            language: str(found[index].message) if index < len(found) else ""
                            for language, found in refusals.items()
                        }
                    ),
                },
            )
            for index, error in enumerate(english)
        ]

    def describe(self, locale: str | None) -> Mapping[str, Any] | None:
        if not hasattr(self.validator, "get_help_text"):
            return None
        with translation.override(normalize_locale(locale)):
            hint = str(self.validator.get_help_text())
        return {"code": self.code, "params": {"rule": type(self.validator).__name__}, "hint": hint}


def _person(context: PasswordContext) -> Any:
    """An unsaved user holding what the person entered, for validators that compare the
    password with the user's attributes (``UserAttributeSimilarityValidator``)."""
    model = get_user_model()
    names = {field.name for field in model._meta.get_fields()}
    values = {
        "username": context.email or "",
        "email": context.email or "",
        "first_name": context.names[0] if context.names else "",
        "last_name": context.names[1] if len(context.names) > 1 else "",
    }
    return model(**{name: value for name, value in values.items() if name in names})


def project_password_rules() -> list[PasswordRule]:
    """A rule per validator in ``AUTH_PASSWORD_VALIDATORS``."""
    return [ProjectPasswordValidator(v) for v in get_default_password_validators()]
