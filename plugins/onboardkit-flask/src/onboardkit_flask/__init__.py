"""onboardkit-flask: onboardkit's onboarding pages and JSON API as a Flask extension.

::

    from flask import Flask
    from onboardkit_flask import Onboardkit

    onboardkit = Onboardkit()

    def create_app():
        app = Flask(__name__)
        app.config["ONBOARDKIT_SETTINGS"] = "onboardkit.toml"
        onboardkit.init_app(app)
        return app

The extension only translates: onboardkit's core decides every answer. With Flask-Login on the
app, onboardkit's sign-in logs the app's own user in (host session mode); see docs/flask.md.
"""

from __future__ import annotations

from onboardkit_flask.extension import CONFIG_DEFAULTS, Onboardkit, OnboardkitState
from onboardkit_flask.mail import MailmanTransport
from onboardkit_flask.sessions import SESSION_KEY
from onboardkit_flask.views import BLUEPRINT_NAME, core_request, flask_response, host_locale

__all__ = [
    "BLUEPRINT_NAME",
    "CONFIG_DEFAULTS",
    "SESSION_KEY",
    "MailmanTransport",
    "Onboardkit",
    "OnboardkitState",
    "core_request",
    "flask_response",
    "host_locale",
]

__version__ = "0.1.0.dev0"
