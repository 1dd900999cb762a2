"""The Django demo's URLs: onboardkit below ``/onboarding/``, the admin at ``/admin/``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView

urlpatterns: list[URLPattern | URLResolver] = [
    path("", RedirectView.as_view(url="/onboarding/")),
    path("admin/", admin.site.urls),
    path("onboarding/", include("onboardkit_django.urls")),
]
