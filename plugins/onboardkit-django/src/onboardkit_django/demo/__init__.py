"""The onboardkit demo portal as a Django project, on SQLite::

    python -m onboardkit_django.demo [--host 127.0.0.1] [--port 8000] [--folder FOLDER]

The same three tenants, reviewer logins and partner code as the FastAPI demo
(:func:`onboardkit.demo.demo_settings` and :func:`onboardkit.demo.seed_demo`), here on the app's
Django ORM store, with Django's sessions (``request.user``) and the Django admin at ``/admin/``
(its superuser printed at start, with the review queue, the outbox and the partner codes).
Django's tables and onboardkit's share one SQLite file in ``--folder``; the first start migrates
it. Served by Django's own development server (``django.core.servers.basehttp``), static files
included.
"""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["DemoProject", "main", "prepare"]

ADMIN_USERNAME = "admin"
_STATE_FILE = "django-demo.json"


@attrs.frozen
class DemoProject:
    """What :func:`prepare` made: onboardkit's demo, and the Django superuser's login."""

    demo: Any  # onboardkit.demo.Demo
    admin_url: str
    admin_password: str

    def banner(self) -> str:
        """The demo's lines, then the admin's."""
        return "\n".join(
            [
                self.demo.banner().replace("onboardkit demo", "onboardkit demo (Django)", 1),
                f"  admin         {self.admin_url} as {ADMIN_USERNAME} / {self.admin_password}",
            ]
        )


def _state(folder: Path) -> dict[str, Any]:
    state_file = folder / _STATE_FILE
    if state_file.exists():
        found: dict[str, Any] = json.loads(state_file.read_text())
        return found
    state = {"secret_key": secrets.token_urlsafe(48), "admin_password": secrets.token_urlsafe(12)}
    state_file.write_text(json.dumps(state, indent=2))
    state_file.chmod(0o600)
    return state


def configure(folder: Path, secret_key: str) -> None:
    """Django's settings of the demo project (a settings module written out in code)."""
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY=secret_key,
        ALLOWED_HOSTS=["localhost", "127.0.0.1", "[::1]"],
        ROOT_URLCONF="onboardkit_django.demo.urls",
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "onboardkit_django",
        ],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.locale.LocaleMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(folder / "django-demo.sqlite3"),
                "OPTIONS": {"transaction_mode": "IMMEDIATE"},
            }
        },
        AUTHENTICATION_BACKENDS=[
            "django.contrib.auth.backends.ModelBackend",
            "onboardkit_django.backends.OnboardkitBackend",
        ],
        LANGUAGES=[("en", "English"), ("de", "Deutsch")],
        USE_TZ=True,
        STATIC_URL="static/",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        # Mail stays in onboardkit's outbox (the demo's /onboarding/mail page shows it); "Retry
        # now" in the admin prints it here.
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    )


def prepare(folder: str | Path, base_url: str) -> DemoProject:
    """Set Django up for the demo in ``folder`` (pages at ``base_url``), migrate, build the
    service on the ORM store and seed the reviewers, the partner code and the superuser."""
    import django
    from django.core.management import call_command

    from onboardkit.demo import Demo, demo_settings, seed_demo
    from onboardkit.settings import build_onboarding, build_plugins
    from onboardkit.web import OnboardingWeb

    root = Path(folder).resolve()
    root.mkdir(parents=True, exist_ok=True)
    state = _state(root)
    configure(root, state["secret_key"])
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth import get_user_model

    from onboardkit_django.conf import PluginSettings
    from onboardkit_django.hooks import DjangoHooks
    from onboardkit_django.ratelimits import DjangoCacheRateLimitBackend
    from onboardkit_django.service import Service, install
    from onboardkit_django.store import DjangoStore

    mount = f"{base_url.rstrip('/')}/onboarding"
    settings = demo_settings(root, mount)
    plugins = build_plugins()
    hooks = DjangoHooks()
    plugins.register(hooks, name="onboardkit_django")
    onboarding = build_onboarding(
        settings,
        plugins=plugins,
        store=DjangoStore(),
        rate_limit_backend=DjangoCacheRateLimitBackend(),
    )
    web = OnboardingWeb(
        onboarding,
        secret=settings.secret_key,
        sessions="host",
        propagate_exceptions=True,
        show_outbox=True,
        list_tenants=True,
    )
    built = Service.for_web(web, PluginSettings(sessions="host"))
    hooks.service = built
    install(built)
    logins, code = seed_demo(onboarding, root)
    users: Any = get_user_model()
    if not users.objects.filter(username=ADMIN_USERNAME).exists():
        users.objects.create_superuser(ADMIN_USERNAME, "admin@localhost", state["admin_password"])
    demo = Demo(onboarding, web, mount, root, logins, code)
    return DemoProject(demo, f"{base_url.rstrip('/')}/admin/", state["admin_password"])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m onboardkit_django.demo",
        description="Run the onboardkit demo portal as a Django project.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--folder", default="onboardkit-django-demo", help="where the demo keeps its database"
    )
    options = parser.parse_args(argv)
    # Mailed links must open in a browser on this machine: name the host it can reach.
    everywhere = ("127.0.0.1", "0.0.0.0", "::")  # noqa: S104 - compared, not bound
    shown_host = "localhost" if options.host in everywhere else options.host
    project = prepare(options.folder, f"http://{shown_host}:{options.port}")
    print(project.banner(), flush=True)

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    run(options.host, options.port, StaticFilesHandler(get_wsgi_application()), threading=True)


if __name__ == "__main__":
    main()
