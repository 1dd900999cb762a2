"""onboardkit for Django: the onboarding pages and JSON API as a Django app.

Add ``"onboardkit_django"`` to ``INSTALLED_APPS``, include ``onboardkit_django.urls`` and set
``ONBOARDKIT``; docs/django.md has the quickstart and the settings reference.
"""

from __future__ import annotations

__all__: list[str] = []
