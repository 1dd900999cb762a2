"""onboardkit's URLs: ``path("onboarding/", include("onboardkit_django.urls"))``.

One catch-all view serves every page, the JSON API, the static files and the OpenAPI document
(``api/openapi.json``) below the prefix; the core matches the path and answers unknown paths and
wrong methods itself. ``reverse("onboardkit:index")`` is the prefix.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from onboardkit_django.views import onboarding

app_name = "onboardkit"

urlpatterns: list[URLPattern] = [
    path("", onboarding, name="index"),
    path("<path:path>", onboarding, name="page"),
]
