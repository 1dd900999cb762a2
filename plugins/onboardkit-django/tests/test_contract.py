"""The plugin contract: through the whole Django stack, every route answers exactly as the core,
in both session modes, at the root and below a prefix."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest
from django.urls import include, path
from onboardkit_django.conf import PluginSettings
from onboardkit_django.service import Service, install, reset
from onboardkit_django.testing import DjangoClientTransport

from onboardkit.testing import PluginContract
from onboardkit.testing.browser import Transport
from onboardkit.testing.plugin_contract import HARMLESS_HEADERS, RecordingWeb

pytestmark = pytest.mark.django_db(transaction=True)


def urlconf(mount_prefix: str) -> str:
    """A URLconf module with onboardkit's URLs at ``mount_prefix``; its name."""
    name = f"contract_urls_{mount_prefix.strip('/') or 'root'}"
    module = types.ModuleType(name)
    prefix = mount_prefix.strip("/") + "/" if mount_prefix.strip("/") else ""
    module.urlpatterns = [path(prefix, include("onboardkit_django.urls"))]  # type: ignore[attr-defined]
    sys.modules[name] = module
    return name


class TestDjangoPlugin(PluginContract):
    client_address = "127.0.0.1"  # what Django's test client reports
    # SessionMiddleware adds "Vary: Cookie" to every answer that read the session, as the view
    # does in host mode; onboardkit's answers are no-store (static files aside), so it changes
    # nothing a cache does with them.
    extra_headers = HARMLESS_HEADERS | {"vary"}

    @pytest.fixture
    def plugin_client(
        self, contract_web: RecordingWeb, mount_prefix: str, settings
    ) -> Iterator[Transport]:  # type: ignore[no-untyped-def]
        settings.ROOT_URLCONF = urlconf(mount_prefix)
        # Django's session and sign-in; the project's other middleware adds headers of its own
        # (Content-Language, Vary), which the contract counts as not the core's.
        settings.MIDDLEWARE = [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ]
        install(Service.for_web(contract_web, PluginSettings(sessions=contract_web.session_mode)))
        yield DjangoClientTransport()
        reset()
