"""onboardkit for Django: the onboarding pages and JSON API as a Django app.

Add ``"onboardkit_django"`` to ``INSTALLED_APPS``, include ``onboardkit_django.urls`` and set
``ONBOARDKIT``; docs/django.md has the quickstart and the settings reference. The public parts:

* :mod:`onboardkit_django.urls` and :func:`onboardkit_django.views.onboarding`, the view;
* :func:`onboardkit_django.service.service`, the service the app built;
* :class:`onboardkit_django.users.UserMapping`, how an account becomes a Django user;
* :class:`onboardkit_django.backends.OnboardkitBackend`, the authentication backend;
* :func:`onboardkit_django.sessions.change_password`, for the project's own views;
* :data:`onboardkit_django.signals.account_changed`;
* :class:`onboardkit_django.mail.DjangoEmailTransport`;
* :class:`onboardkit_django.middleware.OnboardkitErrorMiddleware`;
* :mod:`onboardkit_django.checks`, the system checks;
* :class:`onboardkit_django.testing.DjangoClientTransport`, for tests.

Nothing is imported here, so the package can be named in ``INSTALLED_APPS`` before Django's
apps are loaded.
"""

from __future__ import annotations

__all__: list[str] = []
