"""The URLs of the plugin's test project."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path


def whoami(request: HttpRequest) -> JsonResponse:
    """Who ``request.user`` is: what the project's own views see."""
    user = request.user
    return JsonResponse(
        {
            "authenticated": user.is_authenticated,
            "username": user.get_username() if user.is_authenticated else None,
            "email": getattr(user, "email", None),
            "groups": sorted(user.groups.values_list("name", flat=True))
            if user.is_authenticated
            else [],
        }
    )


urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("onboarding/", include("onboardkit_django.urls")),
    path("whoami", whoami),
]
