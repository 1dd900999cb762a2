"""The Flask extension: ``Onboardkit(app)`` or ``onboardkit.init_app(app)`` in an app factory.

It reads ``ONBOARDKIT_*`` keys of ``app.config`` (each set with ``setdefault``, so the app's own
values win), builds the onboarding service and its web layer once per app, registers the
blueprint under the app's prefix and checks there that every tenant's base URL is where its
pages are served, and wires what Flask apps already have: Flask-Login's sign-in, the app's
Flask-SQLAlchemy engine, Flask-WTF's CSRF protection, Flask-Babel's language, Flask-Mailman's
mail and ``app.cli``.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs
import sqlalchemy as sa
from flask import Flask, Response, current_app, request

from onboardkit import hookimpl
from onboardkit.accounts import Account
from onboardkit.errors import ConfigurationError, Message, OnboardkitError
from onboardkit.onboarding import Onboarding
from onboardkit.settings import (
    DATABASE_URL_ENV,
    EXPECTED_COUNT,
    EXPECTED_FLAG,
    EXPECTED_TEXT,
    SECRET_KEY_ENV,
    Settings,
    build_onboarding,
)
from onboardkit.sqlstore import SqlStore, joined_session
from onboardkit.storage import Store, Transaction
from onboardkit.tenants import Tenant
from onboardkit.transports import Transport
from onboardkit.web import OnboardingWeb, SignedIn, error_response, negotiate_locale
from onboardkit_flask import sessions
from onboardkit_flask.views import (
    BLUEPRINT_NAME,
    core_request,
    flask_response,
    onboarding_blueprint,
)

if TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy

__all__ = ["CONFIG_DEFAULTS", "Onboardkit", "OnboardkitState"]

#: Every configuration key and its default (see docs/flask.md for each).
CONFIG_DEFAULTS: Final[Mapping[str, Any]] = {
    "ONBOARDKIT_SETTINGS": None,
    "ONBOARDKIT_SECRET_KEY": None,
    "ONBOARDKIT_DATABASE_URL": None,
    "ONBOARDKIT_URL_PREFIX": "/onboarding",
    "ONBOARDKIT_SESSIONS": None,
    "ONBOARDKIT_SESSION_MAX_AGE": 8 * 3600,
    "ONBOARDKIT_TENANT": None,
    "ONBOARDKIT_TEMPLATE_FOLDER": "onboardkit",
    "ONBOARDKIT_SHOW_OUTBOX": False,
    "ONBOARDKIT_LIST_TENANTS": False,
    "ONBOARDKIT_PROPAGATE_EXCEPTIONS": None,
    "ONBOARDKIT_ERROR_HANDLER": True,
    "ONBOARDKIT_MAIL_TRANSPORT": None,
}
_SESSION_MODES: Final = ("host", "cookie")
_MAIL_TRANSPORTS: Final = ("mailman", "settings")

#: ``provision(account, session)``: make the app's user of an account that became active.
ProvisionCallback = Callable[[Account, Any], None]
#: ``user_for_account(account)``: the app's user of an onboardkit account, or ``None``.
UserCallback = Callable[[Account], Any]
#: ``reviewer(tenant)``: who reviews ``tenant`` for the current request, or ``None``.
ReviewerCallback = Callable[[str], "str | None"]
_F = TypeVar("_F", bound=Callable[..., Any])


@attrs.frozen
class OnboardkitState:
    """What the extension built for one app.

    :param settings: The settings the service was built from (``None`` for a given service).
    :param onboarding: The onboarding service.
    :param web: Its web layer.
    :param prefix: Where the blueprint is mounted (``/onboarding``; ``""`` at the root).
    :param transport: What ``flask onboardkit outbox deliver`` sends with, if known.
    :param owns_store: Whether onboardkit opened the store (from the settings' database), so
        that :meth:`Onboardkit.close` disposes of it; never the app's own engine.
    """

    settings: Settings | None
    onboarding: Onboarding
    web: OnboardingWeb
    prefix: str
    transport: Transport | None
    owns_store: bool = False


def _config_error(key: str, reason: str | Message) -> ConfigurationError:
    return ConfigurationError(key=key, reason=reason)


class Onboardkit:
    """onboardkit as a Flask extension::

        onboardkit = Onboardkit(db=db)   # db: the app's Flask-SQLAlchemy, optional

        def create_app():
            app = Flask(__name__)
            app.config.from_prefixed_env()
            db.init_app(app)
            login_manager.init_app(app)
            onboardkit.init_app(app)
            return app

    One instance serves any number of apps; it is ``app.extensions["onboardkit"]``, and its
    :attr:`onboarding`, :attr:`web` and :attr:`settings` are the current app's.

    :param app: Initialize for this app at once (``Onboardkit(app)``).
    :param db: The app's Flask-SQLAlchemy: the store then uses its engine (``SqlStore(db.engine)``,
        onboardkit's tables next to the app's) and the provisioning callback gets an ORM
        session in the approval's transaction.
    :param store: A :class:`~onboardkit.storage.Store` the app made (not with ``db``): a
        :class:`~onboardkit.sqlstore.SqlStore` or any other; by default the settings' database.
    :param onboarding: A service the app built itself (its plugins, its store); the settings
        are then not read, and ``ONBOARDKIT_SECRET_KEY`` is the web layer's secret.
    :param web: A web layer the app built itself (``OnboardingWeb(onboarding, ...)``, with
        its own ``is_reviewer``, say): its service is used, and the keys that configure a web
        layer (secret, sessions, templates, tenant, ...) are not read.
    :param login_user: How the app logs a user in: Flask-Login's ``login_user`` by default;
        Flask-Security-Too's own ``login_user`` for its tracking.
    :param logout_user: How the app logs a user out; Flask-Login's ``logout_user`` by default.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: SQLAlchemy | None = None,
        store: Store | None = None,
        onboarding: Onboarding | None = None,
        web: OnboardingWeb | None = None,
        login_user: Callable[[Any], bool] | None = None,
        logout_user: Callable[[], object] | None = None,
    ) -> None:
        if db is not None and store is not None:
            raise _config_error("store", "give db= or store=, not both")
        if web is not None and onboarding is not None:
            raise _config_error("web", "give onboarding= or web=, not both")
        self.given_web = web
        self.db = db
        self.store = store
        self.given_onboarding = onboarding
        self._login_user = login_user
        self._logout_user = logout_user
        self._provision: ProvisionCallback | None = None
        self._user_for_account: UserCallback | None = None
        #: The app's decision on who reviews a tenant, if it decides (see :meth:`reviewer`).
        self.reviewer_hook: ReviewerCallback | None = None
        self._states: weakref.WeakKeyDictionary[Flask, OnboardkitState] = (
            weakref.WeakKeyDictionary()
        )
        self.blueprint_name = BLUEPRINT_NAME
        if app is not None:
            self.init_app(app)

    # -- the app's callbacks -------------------------------------------------------------------

    def provision_account(self, callback: _F) -> _F:
        """Register ``callback(account, session)``, which makes the app's user of an account
        that became active (an approval, a confirmation without review, an accepted invitation,
        a completed sign-up)::

            @onboardkit.provision_account
            def create_user(account, session):
                session.add(User(email=account.email))

        It runs inside that step's transaction: with a SQL store (the settings' database, or the
        app's engine through ``db=``), ``session`` is a plain SQLAlchemy ``Session`` on the step's
        connection (:func:`onboardkit.sqlstore.joined_session`), so the user commits with the
        approval or not at all. Use the app's models with it, not Flask-SQLAlchemy's
        ``db.session``, which picks a connection of its own. With another store, ``session`` is
        the step's :class:`~onboardkit.storage.Transaction`. If it raises, the step rolls back
        and the reviewer gets ``account.provisioning_failed``.
        """
        self._provision = callback
        return callback

    def user_for_account(self, callback: _F) -> _F:
        """Register ``callback(account)``, the app's user of an onboardkit account (or
        ``None``), which onboardkit's sign-in logs in with Flask-Login::

            @onboardkit.user_for_account
            def find_user(account):
                return db.session.execute(
                    db.select(User).filter_by(email=account.email)
                ).scalar_one_or_none()
        """
        self._user_for_account = callback
        return callback

    def reviewer(self, callback: _F) -> _F:
        """Register ``callback(tenant)``: who reviews ``tenant`` by the app's own sign-in (a
        name or address for the review record), or ``None`` for nobody. Asked only for the
        reviewer pages and API calls; without it, onboardkit's own reviewer sign-in decides."""
        self.reviewer_hook = callback
        return callback

    # -- init_app --------------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Build onboardkit for ``app``: read its ``ONBOARDKIT_*`` configuration, register the
        blueprint, the ``flask onboardkit`` command and the error handler.

        Initialize Flask-Login (and Flask-SQLAlchemy, Flask-Babel, Flask-Mailman) first: the
        session mode and the mail transport follow what the app has at this point.

        :raises ConfigurationError: naming the key of the first problem, such as a tenant's
            ``base_url`` that is not below ``ONBOARDKIT_URL_PREFIX``.
        """
        for key, default in CONFIG_DEFAULTS.items():
            app.config.setdefault(key, default)
        given = self.given_web
        settings, onboarding = (None, given.onboarding) if given is not None else self._service(app)
        try:
            state = self._state(app, settings, onboarding)
        except BaseException:
            if given is None and self.given_onboarding is None:
                onboarding.close()  # built here for nothing: release it
                if self._owns_store() and isinstance(onboarding.store, SqlStore):
                    onboarding.store.dispose()
            raise
        self._states[app] = state
        app.extensions["onboardkit"] = self
        # Once per service: apps sharing one service would otherwise provision twice.
        hook_name = f"onboardkit_flask:{id(self)}"
        if not onboarding.plugins.is_registered(hook_name):
            onboarding.plugins.register(_Provisioning(self), name=hook_name)

        blueprint = onboarding_blueprint(self, state.web.routes, prefix=state.prefix)
        app.register_blueprint(blueprint)
        _exempt_from_flask_wtf(app, blueprint)
        if state.web.session_mode == "host":
            app.before_request(lambda: sessions.end_if_over(self))
        if _flag(app.config, "ONBOARDKIT_ERROR_HANDLER"):
            app.register_error_handler(OnboardkitError, self._error_answer)
        from onboardkit_flask.cli import onboardkit_command

        app.cli.add_command(onboardkit_command)

    def _state(
        self, app: Flask, settings: Settings | None, onboarding: Onboarding
    ) -> OnboardkitState:
        """The web layer over ``onboarding`` as ``app``'s configuration says, its mount checked."""
        config = app.config
        given = self.given_web
        mode = given.session_mode if given is not None else _session_mode(app)
        if mode == "host" and sessions_need_users(app) and self._user_for_account is None:
            raise _config_error(
                "user_for_account",
                "with Flask-Login, onboardkit's sign-in logs in the app's user: register "
                "@onboardkit.user_for_account",
            )
        web = (
            given
            if given is not None
            else OnboardingWeb(
                onboarding,
                secret=_web_secret(config, settings),
                session_max_age=_whole(config, "ONBOARDKIT_SESSION_MAX_AGE"),
                template_folders=_template_folders(app),
                show_outbox=_flag(config, "ONBOARDKIT_SHOW_OUTBOX"),
                list_tenants=_flag(config, "ONBOARDKIT_LIST_TENANTS"),
                sessions=mode,
                propagate_exceptions=_propagate(app),
                tenant=_optional_text(config, "ONBOARDKIT_TENANT"),
            )
        )
        prefix = _prefix(config)
        web.check_mount(prefix)
        _flag(config, "ONBOARDKIT_ERROR_HANDLER")  # checked before anything is registered
        return OnboardkitState(
            settings=settings,
            onboarding=onboarding,
            web=web,
            prefix=prefix,
            transport=_transport(app),
            owns_store=given is None and self._owns_store(),
        )

    def _service(self, app: Flask) -> tuple[Settings | None, Onboarding]:
        if self.given_onboarding is not None:
            return None, self.given_onboarding
        settings = _settings(app)
        store = self.store
        if self.db is not None:
            with app.app_context():
                engine = self.db.engine
            store = SqlStore(engine)
        if isinstance(store, SqlStore) and settings.auto_migrate:
            store.migrate()
        return settings, build_onboarding(settings, store=store)

    def _owns_store(self) -> bool:
        return self.given_onboarding is None and self.db is None and self.store is None

    def close(self, app: Flask) -> None:
        """Release what :meth:`init_app` built for ``app``: the service's worker pool, and the
        database connections of a store onboardkit opened itself (the settings' database; the
        app's own engine and a given store or service stay the app's). For the end of a test
        or of a process; Flask has no shutdown hook of its own."""
        state = self._states.pop(app, None)
        if state is None:
            return
        if self.given_onboarding is None and self.given_web is None:
            state.onboarding.close()
        store = state.onboarding.store
        if state.owns_store and isinstance(store, SqlStore):
            store.dispose()

    # -- the current app's state -----------------------------------------------------------------

    def state(self, app: Flask | None = None) -> OnboardkitState:
        """What the extension built for ``app`` (default: the current app)."""
        found = self._states.get(app if app is not None else _current())
        if found is None:
            raise _config_error("app", "onboardkit.init_app(app) was not called for this app")
        return found

    @property
    def onboarding(self) -> Onboarding:
        """The current app's onboarding service."""
        return self.state().onboarding

    @property
    def web(self) -> OnboardingWeb:
        """The current app's web layer."""
        return self.state().web

    @property
    def settings(self) -> Settings | None:
        """The settings the current app's service was built from."""
        return self.state().settings

    # -- sign-in in the app's own views ------------------------------------------------------------

    def current_account(self, tenant: str) -> Account | None:
        """The onboardkit account signed in to ``tenant`` for the current request, decided as
        for onboardkit's own pages (host mode: Flask's session; cookie mode: onboardkit's
        cookie, which the browser sends only below the tenant's path)."""
        state = self.state()
        return state.web.signed_in_account(core_request(self, with_body=False), tenant)

    def sign_in(self, account: Account) -> None:
        """Sign ``account`` in to the app in host session mode, as onboardkit's login does:
        after :meth:`~onboardkit.onboarding.Onboarding.change_password`, which ends every
        session of the account, the one that changed it included."""
        web = self.web
        sessions.act_on(self, SignedIn(account.tenant, account.id, web.session_verifier(account)))

    # -- what the plugin calls ---------------------------------------------------------------------

    def app_user(self, account: Account) -> Any:
        """The app's user of ``account`` (the ``user_for_account`` callback)."""
        if self._user_for_account is None:
            raise _config_error("user_for_account", "register @onboardkit.user_for_account")
        return self._user_for_account(account)

    def login_user(self, user: Any) -> bool:
        if self._login_user is not None:
            return bool(self._login_user(user))
        from flask_login import login_user  # type: ignore[import-untyped]

        return bool(login_user(user))

    def logout_user(self) -> None:
        if self._logout_user is not None:
            self._logout_user()
            return
        from flask_login import logout_user

        logout_user()

    def provision(self, account: Account, transaction: Transaction) -> None:
        """Run the app's provisioning callback inside ``transaction`` (see
        :meth:`provision_account`)."""
        callback = self._provision
        if callback is None:
            return
        if isinstance(transaction.handle, sa.Connection):
            with joined_session(transaction) as session:
                callback(account, session)
        else:
            callback(account, transaction)

    def _error_answer(self, error: OnboardkitError) -> Response:
        """A typed onboardkit error from one of the app's views, answered as the JSON API
        answers it: its status, onboardkit's error body, in the request's language."""
        onboarding = self.onboarding
        tenant_id = (request.view_args or {}).get("tenant")
        tenant: Tenant | None = (
            onboarding.tenants.get(tenant_id) if isinstance(tenant_id, str) else None
        )
        locale = negotiate_locale(core_request(self, with_body=False), tenant)
        return flask_response(error_response(error, locale=locale))


class _Provisioning:
    """The app's provisioning callback as an onboardkit plugin."""

    def __init__(self, extension: Onboardkit) -> None:
        self.extension = extension

    @hookimpl
    def onboardkit_provision_account(
        self, tenant: Tenant, account: Account, transaction: Transaction
    ) -> None:
        self.extension.provision(account, transaction)


def _current() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def sessions_need_users(app: Flask) -> bool:
    """Whether the app logs users in with Flask-Login: onboardkit's sign-in then logs in the
    app's user too."""
    return getattr(app, "login_manager", None) is not None


def _session_mode(app: Flask) -> str:
    chosen = app.config["ONBOARDKIT_SESSIONS"]
    if chosen is None:
        return "host" if sessions_need_users(app) else "cookie"
    if chosen not in _SESSION_MODES:
        raise _config_error("ONBOARDKIT_SESSIONS", "expected 'host' or 'cookie'")
    return str(chosen)


def _settings(app: Flask) -> Settings:
    config = app.config
    environ = dict(os.environ)
    secret = _optional_text(config, "ONBOARDKIT_SECRET_KEY")
    if secret is not None:
        environ[SECRET_KEY_ENV] = secret
    database_url = _optional_text(config, "ONBOARDKIT_DATABASE_URL")
    if database_url is not None:
        environ[DATABASE_URL_ENV] = database_url
    source = config["ONBOARDKIT_SETTINGS"]
    if isinstance(source, Mapping):
        return Settings.from_mapping(source, environ=environ, base_dir=app.root_path)
    if source is None:
        return Settings.load(environ=environ)
    if not isinstance(source, (str, os.PathLike)):
        raise _config_error("ONBOARDKIT_SETTINGS", "expected a file's path or a mapping")
    return Settings.load(Path(app.root_path) / source, environ=environ)


def _web_secret(config: Mapping[str, Any], settings: Settings | None) -> bytes:
    given = config["ONBOARDKIT_SECRET_KEY"]
    if isinstance(given, bytes):
        return given
    if isinstance(given, str):
        return given.encode("utf-8")
    if settings is not None:
        return settings.secret_key
    raise _config_error(
        "ONBOARDKIT_SECRET_KEY", "missing: a service given to Onboardkit needs the web's secret"
    )


def _prefix(config: Mapping[str, Any]) -> str:
    prefix = config["ONBOARDKIT_URL_PREFIX"]
    if prefix is None:
        return ""
    if not isinstance(prefix, str) or (prefix and not prefix.startswith("/")):
        raise _config_error("ONBOARDKIT_URL_PREFIX", "expected a path starting with '/', or ''")
    return prefix.rstrip("/")


def _template_folders(app: Flask) -> tuple[str, ...]:
    below = app.config["ONBOARDKIT_TEMPLATE_FOLDER"]
    if not below or app.template_folder is None:
        return ()
    return (os.path.join(app.root_path, os.fspath(app.template_folder), os.fspath(below)),)


def _propagate(app: Flask) -> bool:
    chosen = app.config["ONBOARDKIT_PROPAGATE_EXCEPTIONS"]
    if chosen is None:
        chosen = app.config.get("PROPAGATE_EXCEPTIONS")
    if chosen is None:
        # Flask's own rule for its PROPAGATE_EXCEPTIONS: on when testing or debugging.
        return bool(app.testing or app.debug)
    return bool(chosen)


def _transport(app: Flask) -> Transport | None:
    chosen = app.config["ONBOARDKIT_MAIL_TRANSPORT"]
    if chosen is not None and chosen not in _MAIL_TRANSPORTS:
        raise _config_error("ONBOARDKIT_MAIL_TRANSPORT", "expected 'mailman' or 'settings'")
    if chosen == "mailman" or (chosen is None and "mailman" in app.extensions):
        from onboardkit_flask.mail import MailmanTransport

        return MailmanTransport(app)
    # None: the deployment sends with the settings' [mail.transport], built when needed.
    return None


def _flag(config: Mapping[str, Any], key: str) -> bool:
    value = config[key]
    if not isinstance(value, bool):
        raise _config_error(key, EXPECTED_FLAG)
    return value


def _whole(config: Mapping[str, Any], key: str) -> int:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _config_error(key, EXPECTED_COUNT)
    return value


def _optional_text(config: Mapping[str, Any], key: str) -> str | None:
    value = config[key]
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _config_error(key, EXPECTED_TEXT)
    return value


def _exempt_from_flask_wtf(app: Flask, blueprint: Any) -> None:
    """Flask-WTF's ``CSRFProtect`` leaves onboardkit's routes alone: the core checks a form
    token on every page post and the origin of every API post itself, and a second check would
    refuse the API's clients. Works whether ``CSRFProtect`` is initialized before or after."""
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(blueprint)
        return

    exempted = False

    def exempt_when_protected() -> None:
        nonlocal exempted
        late = current_app.extensions.get("csrf")
        if late is not None and not exempted:
            late.exempt(blueprint)
            exempted = True

    # Registered now, so it runs before a CSRFProtect initialized later.
    app.before_request(exempt_when_protected)
