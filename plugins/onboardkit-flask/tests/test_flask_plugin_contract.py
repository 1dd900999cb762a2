"""The Flask extension passes onboardkit's plugin contract, in both session modes, at the root
and below a prefix: every request reaches the core as it was sent, every answer leaves as the
core gave it, and in host mode the sign-in lives in Flask's session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("flask")

from flask import Flask
from flask_support import FlaskTransport
from onboardkit_flask import Onboardkit

from onboardkit.testing import PluginContract, RecordingWeb, Transport
from onboardkit.testing.plugin_contract import HARMLESS_HEADERS


class TestFlaskExtension(PluginContract):
    session_modes = ("cookie", "host")
    client_address = "127.0.0.1"  # werkzeug's test client
    # Flask's session says its answers vary by cookie when a request read it (host mode).
    extra_headers = HARMLESS_HEADERS | {"vary"}

    @pytest.fixture
    def plugin_client(self, contract_web: RecordingWeb, mount_prefix: str) -> Iterator[Transport]:
        # At the root the pages' /static/<name> is onboardkit's, not the app's static folder.
        app = Flask(__name__, static_folder=None)
        app.config.update(SECRET_KEY="flask session secret", ONBOARDKIT_URL_PREFIX=mount_prefix)
        Onboardkit(app, web=contract_web)
        return FlaskTransport(app.test_client(use_cookies=False))
