"""Flask's conventions: the extension pattern and its configuration keys, Flask-WTF's CSRF
protection beside onboardkit's, Flask-Babel's language, templates from the app's folder,
typed errors in the app's own views, exceptions as Flask propagates them, Flask-Mailman's
mail and ``flask onboardkit``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flask")

from flask import Flask, url_for
from flask_support import ANNA, PASSWORD, REVIEWER, FlaskTransport, HostApp, settings
from onboardkit_flask import CONFIG_DEFAULTS, Onboardkit

from onboardkit.errors import ConfigurationError, ValidationError
from onboardkit.testing import Browser, newest_mail, outbox_mails

_APPS: list[Flask] = []


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    """Every app a test made releases what onboardkit opened for it (its store's
    connections), as an app does at the end of its process."""
    yield
    while _APPS:
        app = _APPS.pop()
        extension = app.extensions.get("onboardkit")
        if extension is not None:
            extension.close(app)


def plain_app(tmp_path: Path, **config: Any) -> Flask:
    """An app without Flask-Login whose root (and template folder) is ``tmp_path``."""
    app = Flask("plain_app", root_path=str(tmp_path))
    _APPS.append(app)
    app.config.update(
        TESTING=True,
        SECRET_KEY="flask tests: the app's own session secret",
        ONBOARDKIT_SETTINGS=settings(),
        ONBOARDKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'onboardkit.db'}",
    )
    app.config.update(config)
    return app


def browser(app: Flask, **headers: str) -> Browser:
    return Browser(
        FlaskTransport(app.test_client(use_cookies=False)),
        base_url="http://localhost",
        root="/onboarding",
        headers=headers,
    )


@pytest.fixture
def host(sqlite_url: str) -> Iterator[HostApp]:
    host = HostApp(sqlite_url)
    yield host
    host.close()


# -- the extension pattern -------------------------------------------------------------------


def test_init_app_in_a_factory_keeps_the_instance_in_app_extensions(tmp_path: Path):
    onboardkit = Onboardkit()
    app = plain_app(tmp_path)
    onboardkit.init_app(app)
    assert app.extensions["onboardkit"] is onboardkit
    with app.app_context():
        assert onboardkit.web is onboardkit.state(app).web
        assert onboardkit.onboarding.tenants.keys() == {"pim", "dam"}


def test_every_key_is_set_with_setdefault_and_the_app_s_values_win(tmp_path: Path):
    app = plain_app(tmp_path, ONBOARDKIT_URL_PREFIX="/join")
    app.config["ONBOARDKIT_SETTINGS"] = settings("http://localhost/join")
    Onboardkit(app)
    assert {key for key in app.config if key.startswith("ONBOARDKIT_")} == set(CONFIG_DEFAULTS)
    assert app.config["ONBOARDKIT_URL_PREFIX"] == "/join"
    assert app.config["ONBOARDKIT_SHOW_OUTBOX"] is False
    assert app.test_client().get("/join/pim/login").status_code == 200


def test_one_instance_serves_two_apps(tmp_path: Path):
    onboardkit = Onboardkit()
    first = plain_app(tmp_path / "first")
    second = plain_app(tmp_path / "second", ONBOARDKIT_URL_PREFIX="/join")
    second.config["ONBOARDKIT_SETTINGS"] = settings("http://localhost/join")
    for app in (first, second):
        (tmp_path / app.root_path).mkdir(parents=True, exist_ok=True)
        onboardkit.init_app(app)
    assert onboardkit.state(first).web is not onboardkit.state(second).web
    assert first.test_client().get("/onboarding/pim/login").status_code == 200
    assert second.test_client().get("/join/pim/login").status_code == 200


def test_routes_are_named_in_the_onboardkit_blueprint(tmp_path: Path):
    app = plain_app(tmp_path)
    Onboardkit(app)
    with app.test_request_context():
        assert url_for("onboardkit.login_page", tenant="pim") == "/onboarding/pim/login"
        assert url_for("onboardkit.api_register", tenant="pim") == "/onboarding/pim/api/register"


def test_the_core_answers_other_methods_and_unknown_paths_below_the_prefix(tmp_path: Path):
    app = plain_app(tmp_path)
    Onboardkit(app)

    @app.get("/elsewhere")
    def elsewhere() -> str:
        return "the app's"

    client = app.test_client()
    wrong_method = client.delete("/onboarding/pim/login")
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    unknown = client.get("/onboarding/pim/no/such/page")
    assert unknown.status_code == 404
    assert "frame-ancestors 'none'" in unknown.headers["content-security-policy"]
    api = client.get("/onboarding/pim/api/nothing-here")
    assert api.json["error"]["code"] == "web.not_found"
    assert client.get("/elsewhere").text == "the app's"  # the rest of the URL space is the app's
    assert client.get("/nowhere").status_code == 404


def test_a_base_url_outside_the_prefix_is_refused_at_init_app(tmp_path: Path):
    app = plain_app(tmp_path, ONBOARDKIT_URL_PREFIX="/join")
    with pytest.raises(ConfigurationError) as raised:
        Onboardkit(app)
    assert raised.value.params["key"] == "tenants.pim.base_url"
    assert raised.value.params["expected"] == "/join/pim"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ONBOARDKIT_SESSIONS", "both"),
        ("ONBOARDKIT_URL_PREFIX", "onboarding"),
        ("ONBOARDKIT_SHOW_OUTBOX", "yes"),
        ("ONBOARDKIT_SESSION_MAX_AGE", 0),
        ("ONBOARDKIT_MAIL_TRANSPORT", "carrier-pigeon"),
        ("ONBOARDKIT_SETTINGS", 42),
        ("ONBOARDKIT_SECRET_KEY", "too short"),
    ],
)
def test_a_wrong_value_is_a_configuration_error_naming_its_key(
    tmp_path: Path, key: str, value: object
):
    app = plain_app(tmp_path, **{key: value})
    with pytest.raises(ConfigurationError) as raised:
        Onboardkit(app)
    assert raised.value.code == "config.invalid"
    assert raised.value.params["key"] in (key, "secret_key")
    assert "Die Einstellung" in raised.value.localized("de")


def test_a_wrong_flag_is_explained_in_german_too(tmp_path: Path):
    app = plain_app(tmp_path, ONBOARDKIT_ERROR_HANDLER="off")
    with pytest.raises(ConfigurationError) as raised:
        Onboardkit(app)
    assert raised.value.localized("en") == (
        "The setting ONBOARDKIT_ERROR_HANDLER is not valid: expected true or false"
    )
    assert raised.value.localized("de").startswith(
        "Die Einstellung ONBOARDKIT_ERROR_HANDLER ist ungültig"
    )
    assert "true or false" not in raised.value.localized("de")


def test_the_secret_and_database_keys_win_over_the_settings(tmp_path: Path):
    table = settings()
    del table["secret_key"]
    app = plain_app(
        tmp_path,
        ONBOARDKIT_SETTINGS=table,
        ONBOARDKIT_SECRET_KEY="another secret of thirty-two or more characters",
        ONBOARDKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'chosen.db'}",
    )
    onboardkit = Onboardkit(app)
    state = onboardkit.state(app)
    assert state.settings is not None
    assert state.settings.secret_key == b"another secret of thirty-two or more characters"
    assert (tmp_path / "chosen.db").exists()


def test_a_settings_file_is_read_relative_to_the_app(tmp_path: Path):
    (tmp_path / "onboardkit.toml").write_text(
        'secret_key = "a secret of thirty-two or more characters, from a file"\n'
        "[tenants.pim]\n"
        'name = "PIM"\n'
        'base_url = "https://pim.example.com/onboarding/pim"\n'
        'sender = "no-reply@pim.example.com"\n'
        'flows = ["registration"]\n',
        encoding="utf-8",
    )
    app = plain_app(tmp_path, ONBOARDKIT_SETTINGS="onboardkit.toml")
    onboardkit = Onboardkit(app)
    settings_read = onboardkit.state(app).settings
    assert settings_read is not None
    assert settings_read.source == tmp_path / "onboardkit.toml"


# -- Flask-WTF -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["csrf first", "onboardkit first"])
def test_csrf_protect_guards_the_app_and_onboardkit_guards_its_routes(tmp_path: Path, order: str):
    pytest.importorskip("flask_wtf")
    from flask_wtf import CSRFProtect

    app = plain_app(tmp_path)
    csrf = CSRFProtect()
    if order == "csrf first":
        csrf.init_app(app)
        Onboardkit(app)
    else:
        Onboardkit(app)
        csrf.init_app(app)

    @app.post("/own-form")
    def own_form() -> str:
        return "accepted"

    client = app.test_client()
    assert client.post("/own-form").status_code == 400  # Flask-WTF: no token

    person = browser(app)
    person.get("/onboarding/pim/register")
    sent = person.post("/onboarding/pim/register", {"email": ANNA, "password": PASSWORD})
    assert sent.status == 303, sent.text  # onboardkit's token, not Flask-WTF's
    refused = person.post("/onboarding/pim/register", {"email": ANNA}, csrf=False)
    assert refused.status == 403  # onboardkit's own check: web.csrf_failed
    api = client.post("/onboarding/dam/api/register", json={"email": ANNA, "password": PASSWORD})
    assert api.status_code == 202, api.text
    foreign = client.post(
        "/onboarding/dam/api/register",
        json={"email": "ben@example.org", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert foreign.json["error"]["code"] == "web.foreign_origin"


# -- Flask-Babel -----------------------------------------------------------------------------


def test_the_language_follows_flask_babel(tmp_path: Path):
    pytest.importorskip("flask_babel")
    from flask_babel import Babel

    app = plain_app(tmp_path)
    Babel(app, locale_selector=lambda: "de_DE")
    Onboardkit(app)
    wrong = {"email": ANNA, "password": "not the password at all"}
    english = {"Accept-Language": "en"}
    page = app.test_client().get("/onboarding/dam/login", headers=english)
    assert '<html lang="de"' in page.text
    answer = app.test_client().post("/onboarding/dam/api/login", json=wrong, headers=english)
    assert answer.status_code == 401
    german = answer.json["error"]["message"]
    chosen = app.test_client().post(
        "/onboarding/dam/api/login?lang=en", json=wrong, headers=english
    )
    assert chosen.json["error"]["message"] != german  # the person's own choice wins


def test_without_flask_babel_the_request_decides(tmp_path: Path):
    app = plain_app(tmp_path)
    Onboardkit(app)
    page = app.test_client().get("/onboarding/dam/login", headers={"Accept-Language": "de"})
    assert '<html lang="de"' in page.text
    page = app.test_client().get("/onboarding/dam/login", headers={"Accept-Language": "en"})
    assert '<html lang="en"' in page.text


# -- templates -------------------------------------------------------------------------------


def test_pages_are_overridable_from_the_app_s_template_folder(tmp_path: Path):
    folder = tmp_path / "templates" / "onboardkit" / "web"
    folder.mkdir(parents=True)
    (folder / "login.html").write_text(
        '{% extends "web/base.html" %}{% block content %}<p>Our own sign-in</p>{% endblock %}',
        encoding="utf-8",
    )
    app = plain_app(tmp_path)
    Onboardkit(app)
    client = app.test_client()
    assert "Our own sign-in" in client.get("/onboarding/pim/login").text
    assert "Our own sign-in" not in client.get("/onboarding/pim/register").text


# -- errors ----------------------------------------------------------------------------------


def test_a_typed_error_in_the_app_s_view_answers_as_the_api_does(host: HostApp):
    app = host.app
    client = app.test_client()
    answer = client.post(
        "/invite", data={"email": "not an address"}, headers={"Accept-Language": "de"}
    )
    assert answer.status_code == 422
    error = answer.json["error"]
    assert error["code"] == "validation.failed"
    assert error["issues"]
    assert error["message"] == ValidationError([]).localized("de")
    assert answer.headers["content-type"].startswith("application/json")


def test_the_error_handler_can_be_left_out(sqlite_url: str):
    host = HostApp(sqlite_url, config={"ONBOARDKIT_ERROR_HANDLER": False})
    try:
        with pytest.raises(ValidationError):
            host.app.test_client().post("/invite", data={"email": "not an address"})
    finally:
        host.close()


def broken_login_page(tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "onboardkit" / "web"
    folder.mkdir(parents=True)
    (folder / "login.html").write_text("{{ no_such_variable }}", encoding="utf-8")


def test_unexpected_exceptions_propagate_as_flask_decides(tmp_path: Path):
    broken_login_page(tmp_path)
    app = plain_app(tmp_path, TESTING=True)  # Flask propagates when testing
    Onboardkit(app)
    with pytest.raises(Exception, match="no_such_variable"):
        app.test_client().get("/onboarding/pim/login")


def test_without_propagation_onboardkit_answers_its_500_page(tmp_path: Path):
    broken_login_page(tmp_path)
    app = plain_app(tmp_path, TESTING=False)
    Onboardkit(app)
    answer = app.test_client().get("/onboarding/pim/login")
    assert answer.status_code == 500
    assert "content-security-policy" in answer.headers


def test_propagate_exceptions_follows_flask_s_setting(tmp_path: Path):
    app = plain_app(tmp_path, TESTING=False, PROPAGATE_EXCEPTIONS=True)
    assert Onboardkit(app).state(app).web.propagate_exceptions is True
    app = plain_app(tmp_path, TESTING=True, ONBOARDKIT_PROPAGATE_EXCEPTIONS=False)
    assert Onboardkit(app).state(app).web.propagate_exceptions is False


# -- mail and the command line ---------------------------------------------------------------


def test_flask_onboardkit_runs_the_operator_commands_on_the_app_s_service(host: HostApp):
    runner = host.app.test_cli_runner()
    person = host.browser()
    person.get("/onboarding/pim/register")
    person.post("/onboarding/pim/register", {"email": ANNA, "password": PASSWORD})
    from onboardkit.testing import follow_mail

    follow_mail(person, host.onboarding.store, ANNA, "confirmation")
    pending = runner.invoke(args=["onboardkit", "pending", "--tenant", "pim", "--json"])
    assert pending.exit_code == 0, pending.output
    (waiting,) = json.loads(pending.output)
    approved = runner.invoke(
        args=["onboardkit", "approve", waiting["id"], "--reviewer", REVIEWER, "--tenant", "pim"]
    )
    assert approved.exit_code == 0, approved.output
    assert host.provisioned == [ANNA]  # the app's provisioning ran for the operator too
    helped = runner.invoke(args=["onboardkit", "--help"])
    assert helped.exit_code == 0
    assert helped.output.startswith("usage: flask onboardkit")
    wrong = runner.invoke(args=["onboardkit", "approve"])
    assert wrong.exit_code == 2


def test_flask_onboardkit_db_upgrade_migrates(tmp_path: Path):
    table = settings()
    table["database"] = {"auto_migrate": False}
    app = plain_app(tmp_path, ONBOARDKIT_SETTINGS=table)
    onboardkit = Onboardkit(app)
    store = onboardkit.state(app).onboarding.store
    assert store.schema_revision() is None  # type: ignore[attr-defined]
    upgraded = app.test_cli_runner().invoke(args=["onboardkit", "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert store.schema_revision() is not None  # type: ignore[attr-defined]


def test_mail_goes_out_through_flask_mailman(tmp_path: Path):
    pytest.importorskip("flask_mailman")
    from flask_mailman import Mail

    app = plain_app(tmp_path, MAIL_BACKEND="locmem")
    Mail(app)
    onboardkit = Onboardkit(app)
    person = browser(app)
    person.get("/onboarding/pim/register")
    person.post("/onboarding/pim/register", {"email": ANNA, "password": PASSWORD})
    store = onboardkit.state(app).onboarding.store
    queued = newest_mail(store, ANNA, "confirmation")
    delivered = app.test_cli_runner().invoke(args=["onboardkit", "outbox", "deliver", "--once"])
    assert delivered.exit_code == 0, delivered.output
    (sent,) = app.extensions["mailman"].outbox
    assert sent.to == [ANNA]
    assert sent.subject == queued.subject
    assert sent.body == queued.text
    assert sent.alternatives[0][1] == "text/html"
    assert sent.extra_headers["Message-ID"].startswith(f"<{queued.id}.confirmation@")
    assert "PIM Portal" in sent.from_email
    assert all(mail.sent_at is not None for mail in outbox_mails(store, ANNA))


def test_any_store_serves_and_the_callback_gets_the_step_s_transaction(tmp_path: Path):
    from onboardkit.testing import InMemoryStore, follow_mail

    table = settings()
    table["rate_limits"] = {"backend": "off"}
    app = plain_app(tmp_path, ONBOARDKIT_SETTINGS=table)
    onboardkit = Onboardkit(store=InMemoryStore())
    given: list[object] = []

    @onboardkit.provision_account
    def remember(account: Any, step: Any) -> None:
        given.append(step)

    onboardkit.init_app(app)
    person = browser(app)
    person.get("/onboarding/dam/register")
    person.post("/onboarding/dam/register", {"email": ANNA, "password": PASSWORD})
    store = onboardkit.state(app).onboarding.store
    assert follow_mail(person, store, ANNA, "confirmation").status == 303
    (step,) = given
    assert hasattr(step, "handle")  # the step's Transaction, not an ORM session
    assert hasattr(step, "insert_account")


def test_two_apps_on_one_service_provision_once(tmp_path: Path):
    from onboardkit.settings import Settings, build_onboarding
    from onboardkit.testing import follow_mail

    service = build_onboarding(
        Settings.from_mapping(
            {**settings(), "database_url": f"sqlite:///{tmp_path / 'shared.db'}"}, environ={}
        )
    )
    onboardkit = Onboardkit(onboarding=service)
    made: list[str] = []

    @onboardkit.provision_account
    def remember(account: Any, session: Any) -> None:
        made.append(account.email)

    secret = "a web secret of thirty-two or more characters"
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        onboardkit.init_app(plain_app(tmp_path / name, ONBOARDKIT_SECRET_KEY=secret))
    app = Flask("third", root_path=str(tmp_path))
    _APPS.append(app)
    app.config.update(TESTING=True, ONBOARDKIT_SECRET_KEY=secret)
    onboardkit.init_app(app)
    person = browser(app)
    person.get("/onboarding/dam/register")
    person.post("/onboarding/dam/register", {"email": ANNA, "password": PASSWORD})
    assert follow_mail(person, service.store, ANNA, "confirmation").status == 303
    assert made == [ANNA]
    service.close()
    service.store.dispose()  # type: ignore[attr-defined]


def outgoing_message() -> Any:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = '"PIM Portal" <no-reply@pim.example.com>'
    message["To"] = ANNA
    message["Subject"] = "Confirm your address"
    message["Message-ID"] = "<m1.confirmation@pim.example.com>"
    message.set_content("Open the link.")
    message.add_alternative("<p>Open the link.</p>", subtype="html")
    return message


def test_the_mailman_transport_works_outside_the_app_s_context(tmp_path: Path):
    pytest.importorskip("flask_mailman")
    from flask_mailman import Mail
    from onboardkit_flask import MailmanTransport

    app = plain_app(tmp_path, MAIL_BACKEND="locmem")
    Mail(app)
    MailmanTransport(app).send(outgoing_message())  # as an outbox worker thread would
    (sent,) = app.extensions["mailman"].outbox
    assert sent.extra_headers["Message-ID"] == "<m1.confirmation@pim.example.com>"
    assert sent.body == "Open the link.\n"


def test_a_mailman_failure_raises_so_the_outbox_retries(tmp_path: Path):
    pytest.importorskip("flask_mailman")
    from flask_mailman import Mail
    from onboardkit_flask import MailmanTransport

    app = plain_app(tmp_path, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=9)
    Mail(app)
    with pytest.raises(ConnectionRefusedError):
        MailmanTransport(app).send(outgoing_message())


def test_close_releases_the_store_onboardkit_opened(tmp_path: Path):
    app = plain_app(tmp_path)
    onboardkit = Onboardkit(app)
    store = onboardkit.state(app).onboarding.store
    assert onboardkit.state(app).owns_store
    with store.engine.connect():  # type: ignore[attr-defined]
        pass
    assert store.engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    onboardkit.close(app)
    assert store.engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError):
        onboardkit.state(app)


def test_close_leaves_the_app_s_own_engine_alone(sqlite_url: str):
    host = HostApp(sqlite_url)
    try:
        assert not host.onboardkit.state(host.app).owns_store
        with host.app.app_context():
            engine = host.db.engine
            with engine.connect():
                pass
        host.onboardkit.close(host.app)
        assert engine.pool.checkedin() == 1
    finally:
        host.close()
