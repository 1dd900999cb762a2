"""With Flask-Security-Too (built on Flask-Login), onboardkit's sign-in logs the person in
through Flask-Security's own ``login_user``, so its login tracking runs, and onboardkit's
sign-out through its ``logout_user``. The plugin brings no login manager: Flask-Security's is
the app's."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    # Flask-Security-Too 5.6 and older (the releases for Flask 3.0) hash with passlib, which
    # imports the deprecated pkg_resources.
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    pytest.importorskip("flask_security")
pytest.importorskip("flask_sqlalchemy")

from flask import Flask, after_this_request
from flask_sqlalchemy import SQLAlchemy
from flask_support import ANNA, PASSWORD, FlaskTransport, settings
from onboardkit_flask import Onboardkit

from onboardkit.testing import Browser, follow_mail, sign_in


class SecurityApp:
    def __init__(self, database_url: str) -> None:
        from flask_security import (
            Security,
            SQLAlchemyUserDatastore,
            current_user,
            login_user,
            logout_user,
        )
        from flask_security.models import fsqla_v3 as fsqla

        db = SQLAlchemy()
        fsqla.FsModels.set_db_info(db)

        class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
            pass

        class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
            pass

        self.db, self.User = db, User
        app = Flask(__name__, static_folder=None)
        app.config.update(
            TESTING=True,
            SECRET_KEY="flask-security tests: the app's session secret",
            SECURITY_PASSWORD_SALT="flask-security tests: salt",
            SECURITY_TRACKABLE=True,
            SQLALCHEMY_DATABASE_URI=database_url,
            ONBOARDKIT_SETTINGS=settings(),
        )
        db.init_app(app)
        self.users = SQLAlchemyUserDatastore(db, User, Role)
        Security(app, self.users)
        with app.app_context():
            db.create_all()

        def login_and_track(user: Any) -> bool:
            # Flask-Security's login_user leaves committing its tracking to the caller.
            after_this_request(commit)
            return bool(login_user(user))

        def commit(response: Any) -> Any:
            self.users.commit()
            return response

        onboardkit = Onboardkit(db=db, login_user=login_and_track, logout_user=logout_user)

        @onboardkit.provision_account
        def create_user(account: Any, session: Any) -> None:
            session.add(User(email=account.email, fs_uniquifier=uuid.uuid4().hex, active=True))

        @onboardkit.user_for_account
        def find_user(account: Any) -> Any:
            return self.users.find_user(email=account.email)

        onboardkit.init_app(app)

        @app.get("/me")
        def me() -> str:
            return str(current_user.email) if current_user.is_authenticated else "anonymous"

        self.app, self.onboardkit = app, onboardkit

    def browser(self) -> Browser:
        return Browser(
            FlaskTransport(self.app.test_client(use_cookies=False)),
            base_url="http://localhost",
            root="/onboarding",
        )

    def login_count(self) -> int:
        with self.app.app_context():
            user = self.users.find_user(email=ANNA)
            return int(user.login_count or 0)


@pytest.fixture
def security(sqlite_url: str) -> Iterator[SecurityApp]:
    security = SecurityApp(sqlite_url)
    yield security
    security.onboardkit.close(security.app)
    with security.app.app_context():
        security.db.engine.dispose()


def test_onboardkit_s_sign_in_goes_through_flask_security(security: SecurityApp):
    state = security.onboardkit.state(security.app)
    assert state.web.session_mode == "host"  # Flask-Security's login manager is Flask-Login's
    person = security.browser()
    person.get("/onboarding/dam/register")
    person.post("/onboarding/dam/register", {"email": ANNA, "password": PASSWORD})
    assert follow_mail(person, state.onboarding.store, ANNA, "confirmation").status == 303
    assert security.login_count() == 0

    assert sign_in(person, "dam", ANNA, PASSWORD).status == 303
    assert person.get("/me").text == ANNA
    assert security.login_count() == 1  # Flask-Security's tracking ran: its login_user

    person.get("/onboarding/dam/account")
    assert person.submit(action="/logout").status == 303
    assert person.get("/me").text == "anonymous"
