"""The view translates faithfully: languages, templates, refusals, cookie mode, errors raised in
the project's own views."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from support import approved_account, browser, signed_in, whoami

from onboardkit.web import MAX_BODY_BYTES

pytestmark = pytest.mark.django_db(transaction=True)

ERRORS = "onboardkit_django.middleware.OnboardkitErrorMiddleware"


def test_the_projects_language_is_the_pages_language(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LANGUAGE_CODE = "de"
    german = Client().get("/onboarding/pim/login")  # no Accept-Language: LocaleMiddleware's default
    assert german.status_code == 200
    assert '<html lang="de">' in german.content.decode()
    chosen = Client().get("/onboarding/pim/login?lang=en")  # the person's own choice still wins
    assert '<html lang="en">' in chosen.content.decode()


def test_a_template_in_the_projects_folders_replaces_onboardkits(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "onboardkit" / "web" / "pending.html"
    page.parent.mkdir(parents=True)
    page.write_text('{% extends "web/base.html" %}{% block content %}Our own words{% endblock %}')
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    answer = Client().get("/onboarding/pim/pending")
    assert answer.status_code == 200
    assert "Our own words" in answer.content.decode()


def test_a_body_over_the_limit_is_the_cores_413() -> None:
    answer = Client().post(
        "/onboarding/pim/api/register", b"x" * (MAX_BODY_BYTES + 1), content_type="application/json"
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "web.body_too_large"


@pytest.mark.parametrize(
    ("path", "core_path"),
    [("/onboarding/pim/%C3%A9", "/pim/é"), ("/onboarding/pim/%FF", "/pim/%FF")],
)
def test_paths_reach_the_core_as_django_decoded_them(path: str, core_path: str) -> None:
    from onboardkit_django.service import service
    from onboardkit_django.views import core_request

    answer = Client().get(path)
    assert answer.status_code == 404  # the core's answer for a path no route has
    assert answer["X-Frame-Options"] == "DENY"
    request = RequestFactory().get(path)
    assert core_request(request, core_path, built=service()).path == core_path


def test_every_cookie_line_is_the_cores_own() -> None:
    answer = Client().get("/onboarding/pim/login")
    lines = [morsel.OutputString() for morsel in answer.cookies.values()]
    assert any(line.startswith("onboardkit_csrf=") and "SameSite=Lax" in line for line in lines)
    assert "Content-Type" in answer
    assert answer["Content-Type"] == "text/html; charset=utf-8"


def test_the_static_files_and_openapi_come_from_the_core() -> None:
    css = Client().get("/onboarding/static/onboardkit.css")
    assert css.status_code == 200
    assert css["Cache-Control"] == "public, max-age=3600"
    document = Client().get("/onboarding/api/openapi.json").json()
    assert document["servers"][0]["url"].endswith("/onboarding")


def test_cookie_mode_keeps_djangos_session_out(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "SESSIONS": "cookie"}
    client = browser()
    approved_account(client, "ada@example.com")
    signed_in(client, "ada@example.com")
    assert "onboardkit_session" in client.cookies
    assert whoami(client)["authenticated"] is False


def test_a_typed_error_in_a_project_view_is_answered_like_the_api(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, ERRORS]
    answer = Client().get("/invite?email=not-an-address", headers={"accept-language": "de"})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation.failed"
    assert error["issues"][0]["path"] == "email"
    assert answer["Content-Language"] == "de" or "Bitte" in error["message"]


def decide_reviewer(request, tenant):  # type: ignore[no-untyped-def]
    """The project's rule: staff members review every tenant."""
    return request.user.email if request.user.is_staff else None


def test_the_project_decides_who_reviews(settings) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "REVIEWER": "test_web.decide_reviewer"}
    staff = get_user_model().objects.create_user(
        "boss", "boss@example.com", "pw-not-used-here", is_staff=True
    )
    client = Client()
    assert client.get("/onboarding/pim/api/reviews").status_code == 403
    client.force_login(staff)
    assert client.get("/onboarding/pim/api/reviews").status_code == 200


def test_a_mail_template_in_the_projects_folders_replaces_onboardkits(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from onboardkit_django.service import service
    from support import register

    from onboardkit.testing.outbox import newest_mail

    subject = tmp_path / "onboardkit" / "mail" / "confirmation.subject"
    subject.parent.mkdir(parents=True)
    subject.write_text("Our own subject")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    register(browser(), "ada@example.com")
    assert newest_mail(service().onboarding.store, "ada@example.com").subject == "Our own subject"
