"""The Django application of onboardkit."""

from __future__ import annotations

from django.apps import AppConfig


class OnboardkitConfig(AppConfig):
    """onboardkit's Django app.

    The label is ``onboardkit`` (not the module name), so its tables are ``onboardkit_*`` and its
    permissions ``onboardkit.<codename>``, e.g. ``onboardkit.review_account``.
    """

    name = "onboardkit_django"
    label = "onboardkit"
    verbose_name = "Onboarding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks and the receivers of Django's signals.
        from onboardkit_django import checks, service, sessions  # noqa: F401
