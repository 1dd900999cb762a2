"""What the Flask plugin's tests share: a transport over Flask's test client, tenants and a
service on any store, and the databases the tests run on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onboardkit.web import WebResponse


class FlaskTransport:
    """A :class:`onboardkit.testing.Transport` over Flask's (werkzeug's) test client.

    The client keeps no cookies (``use_cookies=False``): the browser sends its own ``Cookie``
    header, so one client serves several browsers.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(
        self, method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> WebResponse:
        answer = self.client.open(url, method=method, headers=list(headers), data=body)
        return WebResponse(
            answer.status_code,
            tuple((str(name), str(value)) for name, value in answer.headers.items()),
            bytes(answer.get_data()),
        )


# -- an app as the docs build it -------------------------------------------------------------

PASSWORD = "Tundra-Violet-Harbor-93"
NEW_PASSWORD = "Quarry-Lilac-Sonnet-57"
REVIEWER = "review@pim.example.com"
ANNA = "anna@example.org"


def settings(base_url: str = "http://localhost/onboarding") -> dict[str, Any]:
    """Settings with two tenants below ``base_url``: ``pim`` (registration with review) and
    ``dam`` (registration without review: confirming activates)."""
    return {
        "secret_key": "onboardkit flask tests: a secret of 32+ characters",
        "tenants": {
            "pim": {
                "name": "PIM Portal",
                "base_url": f"{base_url}/pim",
                "sender": "no-reply@pim.example.com",
                "flows": ["registration", "invitation"],
                "roles": ["viewer"],
                "review": {"required": True, "reviewers": [REVIEWER]},
            },
            "dam": {
                "name": "DAM",
                "base_url": f"{base_url}/dam",
                "sender": "no-reply@dam.example.com",
                "flows": ["registration"],
            },
        },
    }


class HostApp:
    """A Flask app with Flask-SQLAlchemy (a ``User`` model) and, unless ``login=False``,
    Flask-Login, wired to onboardkit as docs/flask.md says; ``/me`` shows ``current_user``."""

    def __init__(
        self,
        database_url: str,
        *,
        login: bool = True,
        config: dict[str, Any] | None = None,
        before: Any = None,
        reviewer: Any = None,
        **options: Any,
    ) -> None:
        from flask import Flask
        from flask_sqlalchemy import SQLAlchemy
        from onboardkit_flask import Onboardkit

        db = SQLAlchemy()
        self.db = db

        class User(db.Model):  # type: ignore[name-defined,misc]
            id = db.Column(db.Integer, primary_key=True)
            email = db.Column(db.String(320), unique=True, nullable=False)
            active = db.Column(db.Boolean, nullable=False, default=True)

            # Flask-Login's user protocol (UserMixin, spelled out for the active flag).
            is_authenticated = True
            is_anonymous = False

            @property
            def is_active(self) -> bool:
                return bool(self.active)

            def get_id(self) -> str:
                return str(self.id)

        self.User = User
        self.provisioned: list[str] = []
        self.onboardkit = Onboardkit(db=db, **options)
        if reviewer is not None:
            self.onboardkit.reviewer(reviewer)

        @self.onboardkit.provision_account
        def create_user(account: Any, session: Any) -> None:
            session.add(User(email=account.email))
            self.provisioned.append(account.email)

        @self.onboardkit.user_for_account
        def find_user(account: Any) -> Any:
            return db.session.execute(db.select(User).filter_by(email=account.email)).scalar()

        app = Flask(__name__, static_folder=None)
        app.config.update(
            TESTING=True,
            SECRET_KEY="flask tests: the app's own session secret",
            SQLALCHEMY_DATABASE_URI=database_url,
            ONBOARDKIT_SETTINGS=settings(),
        )
        app.config.update(config or {})
        db.init_app(app)
        if login:
            from flask_login import LoginManager

            self.login_manager = LoginManager()
            self.login_manager.user_loader(lambda user_id: db.session.get(User, int(user_id)))
            self.login_manager.init_app(app)
        if before is not None:
            before(app)
        with app.app_context():
            db.create_all()
        self.onboardkit.init_app(app)

        @app.get("/me")
        def me() -> str:
            if not login:
                return "no login manager"
            from flask_login import current_user

            return str(current_user.email) if current_user.is_authenticated else "anonymous"

        @app.post("/own-login")
        def own_login() -> str:
            from flask_login import login_user

            login_user(db.session.execute(db.select(User)).scalar_one())
            return "in"

        @app.get("/dashboard")
        def dashboard() -> str:
            account = self.onboardkit.current_account("dam")
            return account.email if account is not None else "nobody"

        @app.post("/invite")
        def invite() -> str:
            from flask import request

            self.onboardkit.onboarding.invite(
                "pim", request.form["email"], roles=["viewer"], invited_by=REVIEWER
            )
            return "invited"

        @app.post("/password")
        def password() -> str:
            from flask import request

            account = self.onboardkit.current_account("dam")
            assert account is not None
            changed = self.onboardkit.onboarding.change_password(
                "dam", account.id, request.form["current"], request.form["new"]
            )
            self.onboardkit.sign_in(changed)
            return "changed"

        self.app = app

    @property
    def onboarding(self) -> Any:
        return self.onboardkit.state(self.app).onboarding

    def browser(self, headers: dict[str, str] | None = None) -> Any:
        from onboardkit.testing import Browser

        return Browser(
            FlaskTransport(self.app.test_client(use_cookies=False)),
            base_url="http://localhost",
            root="/onboarding",
            headers=headers,
        )

    def account(self, tenant: str, email: str) -> Any:
        found = self.onboarding.store.atomic(lambda tx: tx.account_by_email(tenant, email))
        assert found is not None
        return found

    def active_account(self, email: str = ANNA, tenant: str = "dam") -> Any:
        """``email`` registers with ``tenant`` (no review) and confirms: an active account,
        provisioned as the app's user."""
        from onboardkit.testing import follow_mail

        person = self.browser()
        person.get(f"/onboarding/{tenant}/register")
        sent = person.post(f"/onboarding/{tenant}/register", {"email": email, "password": PASSWORD})
        assert sent.status == 303, sent.text
        assert follow_mail(person, self.onboarding.store, email, "confirmation").status == 303
        return self.account(tenant, email)

    def close(self) -> None:
        self.onboardkit.close(self.app)
        with self.app.app_context():
            self.db.engine.dispose()
