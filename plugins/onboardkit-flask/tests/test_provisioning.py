"""Provisioning in the approval's transaction, on the app's own Flask-SQLAlchemy engine: the
app's user commits with the approval or not at all, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("flask_login")
pytest.importorskip("flask_sqlalchemy")

from flask_support import ANNA, PASSWORD, REVIEWER, HostApp

from onboardkit import hookimpl
from onboardkit.accounts import AccountStatus
from onboardkit.onboarding import ProvisioningFailed
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import follow_mail


@pytest.fixture
def host(database_url: str) -> Iterator[HostApp]:
    host = HostApp(database_url)
    yield host
    host.close()


def under_review(host: HostApp) -> str:
    person = host.browser()
    person.get("/onboarding/pim/register")
    person.post("/onboarding/pim/register", {"email": ANNA, "password": PASSWORD})
    follow_mail(person, host.onboarding.store, ANNA, "confirmation")
    account = host.account("pim", ANNA)
    assert account.status is AccountStatus.PENDING_REVIEW
    return str(account.id)


def app_users(host: HostApp) -> list[str]:
    with host.app.app_context():
        return [u.email for u in host.db.session.execute(host.db.select(host.User)).scalars()]


def test_the_store_works_in_the_app_s_database_through_its_engine(host: HostApp):
    store = host.onboarding.store
    assert isinstance(store, SqlStore)
    with host.app.app_context():
        assert store.engine.url == host.db.engine.url
        tables = set(host.db.inspect(host.db.engine).get_table_names())
    assert {"user", "onboardkit_accounts"} <= tables


def test_an_approval_makes_the_app_s_user(host: HostApp):
    account_id = under_review(host)
    assert app_users(host) == []
    with host.app.app_context():
        host.onboarding.approve("pim", account_id, reviewer=REVIEWER, roles=["viewer"])
    assert app_users(host) == [ANNA]


def test_a_failing_callback_leaves_neither_user_nor_approval(host: HostApp):
    account_id = under_review(host)

    @host.onboardkit.provision_account
    def half_then_fail(account: Any, session: Any) -> None:
        session.add(host.User(email=account.email))
        session.flush()
        raise RuntimeError("the app's user could not be made")

    with host.app.app_context(), pytest.raises(ProvisioningFailed):
        host.onboarding.approve("pim", account_id, reviewer=REVIEWER, roles=[])
    assert app_users(host) == []
    assert host.account("pim", ANNA).status is AccountStatus.PENDING_REVIEW


def test_a_plugin_failing_after_the_callback_rolls_the_app_s_user_back(host: HostApp):
    account_id = under_review(host)

    class Auditor:
        @hookimpl(trylast=True)
        def onboardkit_provision_account(self, tenant: Any, account: Any) -> None:
            raise RuntimeError("the audit trail is down")

    host.onboarding.plugins.register(Auditor(), name="auditor")
    with host.app.app_context(), pytest.raises(ProvisioningFailed):
        host.onboarding.approve("pim", account_id, reviewer=REVIEWER, roles=[])
    assert app_users(host) == []
    host.onboarding.plugins.unregister("auditor")
    with host.app.app_context():
        host.onboarding.approve("pim", account_id, reviewer=REVIEWER, roles=[])
    assert app_users(host) == [ANNA]


def test_flask_sqlalchemy_s_own_session_class_is_refused_in_the_step(host: HostApp):
    from onboardkit.sqlstore import joined_session

    account_id = under_review(host)

    @host.onboardkit.provision_account
    def with_db_session(account: Any, session: Any) -> None:
        with joined_session(host._step, host.db.session.session_factory):  # type: ignore[attr-defined]
            pass

    class KeepStep:
        @hookimpl(tryfirst=True)
        def onboardkit_provision_account(self, transaction: Any) -> None:
            host._step = transaction  # type: ignore[attr-defined]

    host.onboarding.plugins.register(KeepStep(), name="keep-step")
    with host.app.app_context(), pytest.raises(ProvisioningFailed):
        host.onboarding.approve("pim", account_id, reviewer=REVIEWER, roles=[])
    assert app_users(host) == []
