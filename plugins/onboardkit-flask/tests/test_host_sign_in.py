"""Sign-in through the app's Flask-Login: onboardkit's login logs in the app's user and keeps
onboardkit's sign-in in Flask's session, its logout logs out, a new password ends the other
sessions, and the plugin never brings a login manager of its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest.importorskip("flask_login")
pytest.importorskip("flask_sqlalchemy")

from flask_support import ANNA, NEW_PASSWORD, PASSWORD, HostApp
from onboardkit_flask import SESSION_KEY

from onboardkit.errors import ConfigurationError
from onboardkit.testing import sign_in


@pytest.fixture
def host(sqlite_url: str) -> Iterator[HostApp]:
    host = HostApp(sqlite_url)
    yield host
    host.close()


def test_with_flask_login_onboardkit_runs_in_host_session_mode(host: HostApp):
    assert host.onboardkit.state(host.app).web.session_mode == "host"
    assert host.app.login_manager is host.login_manager  # the app's own, no second one


def test_an_approved_account_becomes_the_app_s_user_in_the_same_step(host: HostApp):
    host.active_account()
    with host.app.app_context():
        users = host.db.session.execute(host.db.select(host.User)).scalars().all()
    assert [user.email for user in users] == [ANNA]


def test_onboardkit_s_login_page_logs_in_the_app_s_user(host: HostApp):
    host.active_account()
    person = host.browser()
    assert person.get("/me").text == "anonymous"
    assert sign_in(person, "dam", ANNA, PASSWORD).status == 303
    assert person.get("/me").text == ANNA
    assert "onboardkit_session" not in person.cookies
    assert set(person.cookies) == {"session", "onboardkit_csrf"}


def test_the_api_login_keeps_onboardkit_s_sign_in_in_flask_s_session(host: HostApp):
    account = host.active_account()
    client = host.app.test_client()
    answer = client.post("/onboarding/dam/api/login", json={"email": ANNA, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    with client.session_transaction() as session:
        kept = dict(session[SESSION_KEY])
        assert session["_user_id"]  # Flask-Login's own key
    assert kept["tenant"] == "dam"
    assert kept["account_id"] == account.id
    assert kept["verifier"]
    assert client.get("/onboarding/dam/api/me").json["account"]["email"] == ANNA


def test_onboardkit_s_logout_logs_the_app_s_user_out(host: HostApp):
    host.active_account()
    person = host.browser()
    sign_in(person, "dam", ANNA, PASSWORD)
    person.get("/onboarding/dam/account")
    assert person.submit(action="/logout").status == 303
    assert person.get("/me").text == "anonymous"
    assert person.get("/onboarding/dam/account").status == 303  # to the sign-in page


def test_a_password_change_ends_the_app_s_other_sessions(host: HostApp):
    account = host.active_account()
    laptop, phone = host.browser(), host.browser()
    for browser in (laptop, phone):
        assert sign_in(browser, "dam", ANNA, PASSWORD).status == 303
        assert browser.get("/me").text == ANNA
    host.onboarding.change_password("dam", account.id, PASSWORD, NEW_PASSWORD)
    assert phone.get("/me").text == "anonymous"  # the app's own view
    assert laptop.get("/onboarding/dam/account").status == 303  # onboardkit's page
    assert laptop.get("/me").text == "anonymous"


def test_sign_in_keeps_the_session_that_changed_the_password(host: HostApp):
    host.active_account()
    client = host.app.test_client()
    client.post("/onboarding/dam/api/login", json={"email": ANNA, "password": PASSWORD})
    changed = client.post("/password", data={"current": PASSWORD, "new": NEW_PASSWORD})
    assert changed.text == "changed"
    assert client.get("/me").text == ANNA
    assert client.get("/onboarding/dam/api/me").json["account"]["email"] == ANNA


def test_an_account_without_an_app_user_is_not_logged_in(
    host: HostApp, caplog: pytest.LogCaptureFixture
):
    host.active_account()
    with host.app.app_context():
        host.db.session.execute(host.db.delete(host.User))
        host.db.session.commit()
    person = host.browser()
    with caplog.at_level(logging.WARNING, logger="onboardkit_flask.sessions"):
        sign_in(person, "dam", ANNA, PASSWORD)
    assert "no user of the app" in caplog.text
    assert person.get("/me").text == "anonymous"
    assert person.get("/onboarding/dam/api/me").status == 401


def test_an_inactive_app_user_is_not_logged_in(host: HostApp):
    host.active_account()
    with host.app.app_context():
        host.db.session.execute(host.db.update(host.User).values(active=False))
        host.db.session.commit()
    person = host.browser()
    sign_in(person, "dam", ANNA, PASSWORD)
    assert person.get("/me").text == "anonymous"
    assert person.get("/onboarding/dam/api/me").status == 401


def test_the_app_s_own_login_is_left_alone(host: HostApp):
    host.active_account()
    client = host.app.test_client()
    assert client.post("/own-login").text == "in"
    assert client.get("/me").text == ANNA
    assert client.get("/onboarding/dam/api/me").status_code == 401  # not onboardkit's sign-in


def test_current_account_in_the_app_s_own_view(host: HostApp):
    host.active_account()
    client = host.app.test_client()
    assert client.get("/dashboard").text == "nobody"
    client.post("/onboarding/dam/api/login", json={"email": ANNA, "password": PASSWORD})
    assert client.get("/dashboard").text == ANNA


def test_flask_login_without_a_user_callback_is_a_configuration_error(sqlite_url: str):
    from flask import Flask
    from flask_login import LoginManager
    from flask_support import settings
    from onboardkit_flask import Onboardkit

    app = Flask(__name__)
    app.config["ONBOARDKIT_SETTINGS"] = settings()
    app.config["ONBOARDKIT_DATABASE_URL"] = sqlite_url
    LoginManager(app)
    with pytest.raises(ConfigurationError) as raised:
        Onboardkit(app)
    assert raised.value.params["key"] == "user_for_account"


def test_without_flask_login_onboardkit_keeps_its_own_cookie(sqlite_url: str):
    host = HostApp(sqlite_url, login=False)
    try:
        assert host.onboardkit.state(host.app).web.session_mode == "cookie"
        host.active_account()
        person = host.browser()
        assert sign_in(person, "dam", ANNA, PASSWORD).status == 303
        assert "onboardkit_session" in person.cookies
        assert "session" not in person.cookies
    finally:
        host.close()


def test_host_mode_without_flask_login_keeps_the_sign_in_in_flask_s_session(sqlite_url: str):
    host = HostApp(sqlite_url, login=False, config={"ONBOARDKIT_SESSIONS": "host"})
    try:
        host.active_account()
        person = host.browser()
        assert sign_in(person, "dam", ANNA, PASSWORD).status == 303
        assert "onboardkit_session" not in person.cookies
        assert person.get("/onboarding/dam/api/me").json()["account"]["email"] == ANNA
    finally:
        host.close()


def test_the_app_decides_who_reviews_from_its_own_sign_in(sqlite_url: str):
    from flask_login import current_user

    asked: list[str] = []

    def who_reviews(tenant: str) -> str | None:
        asked.append(tenant)
        return str(current_user.email) if current_user.is_authenticated else None

    host = HostApp(sqlite_url, reviewer=who_reviews)
    try:
        host.active_account()
        client = host.app.test_client()
        assert client.get("/onboarding/pim/api/reviews").status_code == 403
        assert client.get("/onboarding/pim/login").status_code == 200
        assert asked == ["pim"]  # asked only for the reviewer route
        client.post("/own-login")
        queue = client.get("/onboarding/pim/api/reviews")
        assert queue.status_code == 200, queue.text
        assert queue.json == {"accounts": []}
    finally:
        host.close()
