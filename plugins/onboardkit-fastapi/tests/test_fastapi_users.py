"""Host sign-in through fastapi-users: after onboardkit's login the person is the app's
fastapi-users ``current_user``; logout and a new password end it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("fastapi_users")
pytest.importorskip("fastapi_users_db_sqlalchemy")
pytest.importorskip("aiosqlite")

import sqlalchemy as sa  # noqa: E402
from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from fastapi_support import (  # noqa: E402
    ANNA,
    NEW_PASSWORD,
    PASSWORD,
    REVIEWER,
    WEB_SECRET,
    add_reviewer,
    client,
    login,
    register_and_approve,
    service,
    set_cookie_names,
)
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin  # noqa: E402
from fastapi_users.authentication import (  # noqa: E402
    AuthenticationBackend,
    BearerTransport,
    CookieTransport,
    JWTStrategy,
)
from fastapi_users.authentication.strategy.db import DatabaseStrategy  # noqa: E402
from fastapi_users_db_sqlalchemy import (  # noqa: E402
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyUserDatabase,
)
from fastapi_users_db_sqlalchemy.access_token import (  # noqa: E402
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
)
from onboardkit_fastapi import current_account, onboarding_router  # noqa: E402
from onboardkit_fastapi.users import FastAPIUsersSessions  # noqa: E402
from sqlalchemy.ext.asyncio import (  # noqa: E402
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

from onboardkit import hookimpl  # noqa: E402
from onboardkit.accounts import Account  # noqa: E402
from onboardkit.errors import ConfigurationError  # noqa: E402
from onboardkit.onboarding import Onboarding  # noqa: E402
from onboardkit.sqlstore import SqlStore  # noqa: E402
from onboardkit.tenants import Tenant  # noqa: E402
from onboardkit.testing import make_plugins  # noqa: E402
from onboardkit.testing.store import memory_store  # noqa: E402
from onboardkit.web import OnboardingWeb, SignedIn  # noqa: E402
from onboardkit.web.sessions import COOKIE as ONBOARDKIT_SESSION  # noqa: E402

pytestmark = pytest.mark.anyio

JWT_SECRET = "fastapi-users jwt secret for the tests, long enough"
AUTH_COOKIE = "fastapiusersauth"


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    """The app's own user, as the fastapi-users SQLAlchemy example has it."""


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    """Tokens of the database strategy."""


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = JWT_SECRET
    verification_token_secret = JWT_SECRET


class ProvisionAppUser:
    """The app's provisioning hook: every account that becomes active gets an app user.

    onboardkit keeps the password; the app user's own is never usable.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @hookimpl
    def onboardkit_provision_account(self, tenant: Tenant, account: Account) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(User(email=account.email, hashed_password="!", is_verified=True))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store() -> Iterator[SqlStore]:
    found = memory_store()
    yield found
    found.dispose()


@pytest.fixture
async def app_database(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The app's own database: a SQLite file with the users and access-token tables."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


@pytest.fixture
def app_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """The app's database for its (synchronous) provisioning hook."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def onboarding(store: SqlStore, app_engine: sa.Engine) -> Iterator[Onboarding]:
    made = service(store, make_plugins(ProvisionAppUser(app_engine)))
    yield made
    made.close()


@pytest.fixture
def web(onboarding: Onboarding, app_database: Any) -> OnboardingWeb:
    add_reviewer(onboarding)
    return OnboardingWeb(onboarding, secret=WEB_SECRET, sessions="host")


def _users_app(
    web: OnboardingWeb,
    maker: async_sessionmaker[AsyncSession],
    *,
    database_strategy: bool = False,
) -> tuple[FastAPI, FastAPIUsersSessions[User, uuid.UUID]]:
    """The app as the fastapi-users SQLAlchemy example builds it, with onboardkit's router."""

    async def get_async_session() -> AsyncIterator[AsyncSession]:
        async with maker() as session:
            yield session

    async def get_user_db(
        session: AsyncSession = Depends(get_async_session),  # noqa: B008
    ) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
        yield SQLAlchemyUserDatabase(session, User)

    async def get_user_manager(
        user_db: SQLAlchemyUserDatabase[User, uuid.UUID] = Depends(get_user_db),  # noqa: B008
    ) -> AsyncIterator[UserManager]:
        yield UserManager(user_db)

    def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
        return JWTStrategy(secret=JWT_SECRET, lifetime_seconds=3600)

    def get_database_strategy(
        session: AsyncSession = Depends(get_async_session),  # noqa: B008
    ) -> DatabaseStrategy[User, uuid.UUID, AccessToken]:
        return DatabaseStrategy(SQLAlchemyAccessTokenDatabase(session, AccessToken), 3600)

    # Outside FastAPI's dependencies, as the fastapi-users cookbook opens them.
    @asynccontextmanager
    async def user_manager() -> AsyncIterator[UserManager]:
        async with maker() as session:
            yield UserManager(SQLAlchemyUserDatabase(session, User))

    @asynccontextmanager
    async def database_strategy_outside() -> AsyncIterator[Any]:
        async with maker() as session:
            yield get_database_strategy(session)

    async def user_for_account(account: Account, users: Any) -> User | None:
        found: User = await users.get_by_email(account.email)
        return found

    transport = CookieTransport(cookie_max_age=3600)
    if database_strategy:
        backend = AuthenticationBackend("cookie", transport, get_database_strategy)
        strategy: Any = database_strategy_outside
    else:
        backend = AuthenticationBackend("cookie", transport, get_jwt_strategy)
        strategy = None
    sessions = FastAPIUsersSessions(
        web,
        backend,
        user_manager=user_manager,
        user_for_account=user_for_account,
        strategy=strategy,
    )
    fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [sessions.backend])
    current_user = fastapi_users.current_user(active=True)

    app = FastAPI()
    app.include_router(onboarding_router(web, sessions=sessions), prefix="/onboarding")
    app.include_router(fastapi_users.get_auth_router(sessions.backend), prefix="/auth")

    @app.get("/me")
    async def me(user: User = Depends(current_user)) -> dict[str, str]:  # noqa: B008
        return {"email": user.email}

    @app.get("/account")
    async def onboardkit_account(
        account: Account | None = Depends(current_account(web, tenant="pim", sessions=sessions)),  # noqa: B008
    ) -> dict[str, str | None]:
        return {"id": account.id if account is not None else None}

    @app.post("/password")
    async def change_password(request: Request) -> JSONResponse:
        kept = await sessions.load(request)
        assert kept is not None
        data = await request.json()
        changed = await run_in_threadpool(
            web.onboarding.change_password, "pim", kept.account_id, data["current"], data["new"]
        )
        response = JSONResponse({"changed": True})
        verifier = web.session_verifier(changed)
        await sessions.save(request, response, SignedIn("pim", changed.id, verifier))
        return response

    return app, sessions


@pytest.fixture
def app(web: OnboardingWeb, app_database: async_sessionmaker[AsyncSession]) -> FastAPI:
    return _users_app(web, app_database)[0]


async def _me(http: Any) -> str | None:
    answer = await http.get("/me")
    if answer.status_code == 401:
        return None
    assert answer.status_code == 200, answer.text
    email: str = answer.json()["email"]
    return email


# -- signing in and out ------------------------------------------------------------------------


async def test_after_onboardkits_login_the_person_is_the_apps_current_user(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    account_id = await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        assert await _me(person) is None
        assert (await person.get("/account")).json() == {"id": None}
        signed_in = await login(person, "pim", ANNA, PASSWORD)
        assert signed_in.status_code == 200, signed_in.text
        assert AUTH_COOKIE in set_cookie_names(signed_in)
        assert ONBOARDKIT_SESSION not in set_cookie_names(signed_in)
        assert await _me(person) == ANNA
        # The onboardkit account is there for the app's endpoints too.
        assert (await person.get("/account")).json() == {"id": account_id}
        # onboardkit's own pages read the same session.
        assert (await person.get("/onboarding/pim/api/me")).json()["account"]["email"] == ANNA


async def test_onboardkits_logout_ends_the_apps_session(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        await login(person, "pim", ANNA, PASSWORD)
        signed_out = await person.post("/onboarding/pim/api/logout")
        assert signed_out.status_code == 204
        assert AUTH_COOKIE in set_cookie_names(signed_out)
        assert ONBOARDKIT_SESSION not in set_cookie_names(signed_out)
        assert await _me(person) is None
        assert (await person.get("/onboarding/pim/api/me")).status_code == 401


async def test_the_apps_own_logout_ends_onboardkits_sign_in(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        await login(person, "pim", ANNA, PASSWORD)
        assert (await person.post("/auth/logout")).status_code == 204
        assert await _me(person) is None
        assert (await person.get("/onboarding/pim/api/me")).status_code == 401


async def test_signing_out_of_another_tenant_keeps_the_apps_session(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        await login(person, "pim", ANNA, PASSWORD)
        await person.post("/onboarding/dam/api/logout")
        assert await _me(person) == ANNA


async def test_a_password_change_ends_the_other_sessions_of_current_user(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    await register_and_approve(app, store, onboarding)
    async with client(app) as here, client(app) as elsewhere:
        await login(here, "pim", ANNA, PASSWORD)
        await login(elsewhere, "pim", ANNA, PASSWORD)
        assert await _me(elsewhere) == ANNA
        changed = await here.post("/password", json={"current": PASSWORD, "new": NEW_PASSWORD})
        assert changed.status_code == 200, changed.text
        assert await _me(here) == ANNA  # signed in again with the new verifier
        assert await _me(elsewhere) is None
        # onboardkit's pages find the old session over and clear the app's cookie.
        answer = await elsewhere.get("/onboarding/pim/api/me")
        assert answer.status_code == 401
        assert AUTH_COOKIE in set_cookie_names(answer)


async def test_a_disabled_account_is_no_current_user(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    account_id = await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        await login(person, "pim", ANNA, PASSWORD)
        onboarding.disable("pim", account_id, actor="test")
        assert await _me(person) is None


async def test_the_apps_own_tokens_pass_through(
    web: OnboardingWeb, app_database: async_sessionmaker[AsyncSession]
) -> None:
    app, _ = _users_app(web, app_database)
    async with app_database() as session:
        user = await SQLAlchemyUserDatabase(session, User).get_by_email(REVIEWER)
    assert user is not None
    token = await JWTStrategy[User, uuid.UUID](JWT_SECRET, 3600).write_token(user)
    async with client(app) as http:
        http.cookies.set(AUTH_COOKIE, token)
        assert await _me(http) == REVIEWER
        # onboardkit does not count a sign-in it did not make.
        assert (await http.get("/onboarding/pim/api/me")).status_code == 401


async def test_an_account_without_an_app_user_is_not_logged_in(
    app: FastAPI,
    onboarding: Onboarding,
    app_engine: sa.Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    account = onboarding.create_account("pim", ANNA, PASSWORD, roles=[], created_by="test")
    with Session(app_engine) as session, session.begin():
        session.execute(sa.delete(User).where(User.email == ANNA))
    async with client(app) as person:
        with caplog.at_level(logging.WARNING, logger="onboardkit_fastapi.users"):
            answer = await login(person, "pim", ANNA, PASSWORD)
        assert answer.status_code == 200
        assert AUTH_COOKIE not in set_cookie_names(answer)
        assert await _me(person) is None
    assert account.id in caplog.text


# -- the database strategy -----------------------------------------------------------------------


async def test_with_the_database_strategy_logout_destroys_the_token(
    web: OnboardingWeb,
    store: SqlStore,
    onboarding: Onboarding,
    app_database: async_sessionmaker[AsyncSession],
) -> None:
    app, _ = _users_app(web, app_database, database_strategy=True)
    await register_and_approve(app, store, onboarding)
    before = await _access_tokens(app_database)  # the reviewer's
    async with client(app) as person:
        await login(person, "pim", ANNA, PASSWORD)
        assert await _me(person) == ANNA
        assert await _access_tokens(app_database) == before + 1
        token = person.cookies[AUTH_COOKIE]
        await person.post("/onboarding/pim/api/logout")
    assert await _access_tokens(app_database) == before
    async with client(app) as replay:
        replay.cookies.set(AUTH_COOKIE, token)
        assert await _me(replay) is None


async def _access_tokens(maker: async_sessionmaker[AsyncSession]) -> int:
    async with maker() as session:
        counted = await session.execute(sa.select(sa.func.count()).select_from(AccessToken))
        return int(counted.scalar_one())


# -- configuration -------------------------------------------------------------------------------


def _user_manager() -> Any:
    raise AssertionError("not opened")


async def _no_user(account: Account, users: Any) -> None:
    return None


async def test_the_backend_must_keep_the_sign_in_in_a_cookie(web: OnboardingWeb) -> None:
    backend: AuthenticationBackend[User, uuid.UUID] = AuthenticationBackend(
        "bearer", BearerTransport(tokenUrl="auth/login"), lambda: JWTStrategy(JWT_SECRET, 60)
    )
    with pytest.raises(ConfigurationError, match="CookieTransport"):
        FastAPIUsersSessions(web, backend, user_manager=_user_manager, user_for_account=_no_user)


async def test_a_strategy_with_dependencies_must_be_opened_for_onboardkit(
    web: OnboardingWeb,
) -> None:
    def get_strategy(session: Any = Depends(lambda: None)) -> JWTStrategy[User, uuid.UUID]:  # noqa: B008
        return JWTStrategy(JWT_SECRET, 60)

    backend = AuthenticationBackend("cookie", CookieTransport(), get_strategy)
    with pytest.raises(ConfigurationError, match="strategy="):
        FastAPIUsersSessions(web, backend, user_manager=_user_manager, user_for_account=_no_user)
