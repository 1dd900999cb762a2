"""The onboardkit demo portal as a Flask app with Flask-Login::

    python -m onboardkit_flask.demo [--host 127.0.0.1] [--port 5000] [--folder FOLDER]

``--folder`` defaults to ``onboardkit-flask-demo``.

Everything onboardkit serves comes from :func:`onboardkit.demo.prepare_demo`: three tenants
shaped like the three seed systems on a SQLite file in ``--folder``, a page listing the mail the
demo "sent", a reviewer login per reviewed tenant and a partner code (all printed at start).

Around it is what a Flask app of one's own has, wired the way ``docs/flask.md`` says: an
``Onboardkit`` extension under ``/onboarding``, Flask-Login with a small user model of the app
(a ``demo_users`` table next to onboardkit's, made by the provisioning callback inside the step's
transaction), and the app's own home page at ``/``, which shows Flask-Login's ``current_user``:
signing in on onboardkit's pages signs the person in to the app (host session mode).

Nothing here is for production: the secrets are files in ``--folder``, the mail page shows every
mailed link, and werkzeug's development server serves it.
"""

from __future__ import annotations

import argparse
import logging
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, render_template_string
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from onboardkit.accounts import Account
from onboardkit.demo import Demo, prepare_demo
from onboardkit.sqlstore import SqlStore
from onboardkit_flask.extension import Onboardkit

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

__all__ = ["PREFIX", "DemoUser", "demo_app", "demo_base_url", "main", "make_server"]

#: Where the demo mounts onboardkit; the app's own pages are around it.
PREFIX = "/onboarding"
_FLASK_SECRET_FILE = "flask-secret.key"  # noqa: S105 - a file name, not a secret

_HOME = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>onboardkit Flask demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
li{margin:.3rem 0}</style></head>
<body>
<h1>onboardkit Flask demo</h1>
<p role="status" id="current-user">{% if user.is_authenticated -%}
Signed in to this Flask app as {{ user.email }} (tenant {{ user.tenant }}).
{%- else -%}
Not signed in to this Flask app.
{%- endif %}</p>
<p>This page is the app's own: it shows Flask-Login's <code>current_user</code>. Signing in on
onboardkit's pages signs you in here too.</p>
<h2>Tenants</h2>
<ul>
{% for tenant in tenants %}<li><a href="{{ tenant.base_url }}/login">{{ tenant.name }}</a>
({{ tenant.id }})</li>
{% endfor %}</ul>
<p><a href="{{ prefix }}/mail">Sent mail</a> · <a href="{{ prefix }}/">All tenants</a></p>
</body>
</html>
"""


class _Base(DeclarativeBase):
    pass


class DemoUser(_Base):
    """The app's user: one per active onboardkit account, made by the provisioning callback."""

    __tablename__ = "demo_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(100))
    account_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    email: Mapped[str] = mapped_column(sa.String(320))

    # Flask-Login's user protocol (what its UserMixin gives).
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


def demo_base_url(host: str, port: int) -> str:
    """Where the demo's pages are for a browser on this machine (mailed links point there)."""
    everywhere = ("127.0.0.1", "0.0.0.0", "::")  # noqa: S104 - compared, not bound
    shown_host = "localhost" if host in everywhere else host
    return f"http://{shown_host}:{port}"


def _secret(folder: Path, name: str) -> str:
    path = folder / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def demo_app(demo: Demo) -> Flask:
    """A Flask app serving ``demo`` below :data:`PREFIX`, with Flask-Login and the app's own
    home page at ``/``. ``demo`` must be prepared for ``<base URL>/onboarding``."""
    from flask_login import LoginManager, current_user  # type: ignore[import-untyped]

    store = demo.onboarding.store
    if not isinstance(store, SqlStore):
        raise TypeError("the demo keeps its users next to onboardkit's tables: a SqlStore")
    engine = store.engine
    _Base.metadata.create_all(engine)

    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=_secret(demo.folder, _FLASK_SECRET_FILE),
        # onboardkit's secret is its own, apart from Flask's: the one prepare_demo made.
        ONBOARDKIT_SECRET_KEY=_secret(demo.folder, "secret.key"),
        ONBOARDKIT_URL_PREFIX=PREFIX,
        ONBOARDKIT_SHOW_OUTBOX=True,
        ONBOARDKIT_LIST_TENANTS=True,
    )
    login_manager = LoginManager()

    def load_user(user_id: str) -> DemoUser | None:
        with Session(engine, expire_on_commit=False) as session:
            return session.get(DemoUser, int(user_id))

    login_manager.user_loader(load_user)
    login_manager.init_app(app)
    onboardkit = Onboardkit(onboarding=demo.onboarding)

    @onboardkit.provision_account
    def create_user(account: Account, session: Session) -> None:
        # Inside the approval's (or sign-up's, or invitation's) transaction.
        session.add(DemoUser(tenant=account.tenant, account_id=account.id, email=account.email))

    @onboardkit.user_for_account
    def find_user(account: Account) -> DemoUser | None:
        with Session(engine, expire_on_commit=False) as session:
            return session.scalar(sa.select(DemoUser).filter_by(account_id=account.id))

    onboardkit.init_app(app)
    _users_for_reviewers(demo, engine)

    @app.get("/")
    def home() -> str:
        return render_template_string(
            _HOME,
            user=current_user,
            tenants=list(demo.onboarding.tenants.values()),
            prefix=PREFIX,
        )

    return app


def _users_for_reviewers(demo: Demo, engine: sa.Engine) -> None:
    """The reviewers ``prepare_demo`` created before the app's provisioning callback was
    registered: give them the app's user too, so that they can sign in."""
    store = demo.onboarding.store
    # Looked up first: onboardkit's transactions take SQLite's write lock when they begin.
    accounts: list[Account | None] = []
    for login in demo.logins:
        tenant, email = login.tenant, login.email.lower()
        accounts.append(store.atomic(lambda tx: tx.account_by_email(tenant, email)))  # noqa: B023
    with Session(engine) as session, session.begin():
        for account in accounts:
            if account is None:
                continue
            known = session.scalar(sa.select(DemoUser.id).filter_by(account_id=account.id))
            if known is None:
                session.add(
                    DemoUser(tenant=account.tenant, account_id=account.id, email=account.email)
                )


def make_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """werkzeug's threaded development server for ``app`` (``port`` 0: a free one)."""
    from werkzeug.serving import make_server as werkzeug_server

    return werkzeug_server(host, port, app, threaded=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m onboardkit_flask.demo", description="Run the onboardkit demo on Flask."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--folder", default="onboardkit-flask-demo", help="where the demo keeps its database"
    )
    options = parser.parse_args(argv)
    try:
        import flask_login  # noqa: F401
    except ImportError:
        parser.exit(2, "The demo needs Flask-Login: pip install 'onboardkit-flask[login]'\n")
    demo = prepare_demo(options.folder, demo_base_url(options.host, options.port) + PREFIX)
    try:
        app = demo_app(demo)
        server = make_server(app, options.host, options.port)
        print(demo.banner(), flush=True)
        print(f"  the app       {demo_base_url(options.host, options.port)}/", flush=True)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    finally:
        demo.onboarding.close()
        _dispose(demo.onboarding.store)


def _dispose(store: Any) -> None:
    if isinstance(store, SqlStore):
        store.dispose()


if __name__ == "__main__":
    main()
