"""The URLs of the plugin's test project."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path
from django.views.decorators.http import require_POST
from onboardkit_django.service import service
from onboardkit_django.sessions import change_password
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response


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


@require_POST
def new_password(request: HttpRequest) -> HttpResponse:
    """The project's own password change view, through the app's helper."""
    change_password(request, request.POST["current"], request.POST["new"])
    return HttpResponse(status=204)


@api_view(["GET"])
@authentication_classes([BasicAuthentication, SessionAuthentication])
@permission_classes([IsAuthenticated])
def api_whoami(request: Request) -> Response:
    """Django REST framework's view of the signed-in user."""
    return Response({"username": request.user.get_username()})


def invite(request: HttpRequest) -> HttpResponse:
    """A project view that calls the service; its typed errors reach the middleware."""
    service().onboarding.invite(
        "pim", request.GET.get("email", ""), roles=["viewer"], invited_by="admin@example.com"
    )
    return HttpResponse(status=202)


urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("onboarding/", include("onboardkit_django.urls")),
    path("whoami", whoami),
    path("invite", invite),
    path("accounts/login/", LoginView.as_view(template_name="admin/login.html")),
    path("new-password", new_password),
    path("api/whoami", api_whoami),
]
