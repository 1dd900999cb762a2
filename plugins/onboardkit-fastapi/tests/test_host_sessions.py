"""Host sign-in on Starlette's SessionMiddleware: onboardkit's login signs the person into the
app's own session, the app's endpoints see the account, and onboardkit keeps no cookie of its
own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("itsdangerous")  # SessionMiddleware signs its cookie with it

from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from fastapi_support import (  # noqa: E402
    ANNA,
    NEW_PASSWORD,
    PASSWORD,
    WEB_SECRET,
    add_reviewer,
    client,
    login,
    register_and_approve,
    service,
    set_cookie_names,
)
from onboardkit_fastapi import (  # noqa: E402
    StarletteSessions,
    add_exception_handlers,
    current_account,
    onboarding_router,
)
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.middleware.sessions import SessionMiddleware  # noqa: E402

from onboardkit.accounts import Account  # noqa: E402
from onboardkit.errors import ConfigurationError  # noqa: E402
from onboardkit.onboarding import Onboarding  # noqa: E402
from onboardkit.sqlstore import SqlStore  # noqa: E402
from onboardkit.testing.store import memory_store  # noqa: E402
from onboardkit.web import OnboardingWeb, SignedIn, SignedOut  # noqa: E402
from onboardkit.web.sessions import COOKIE as ONBOARDKIT_SESSION  # noqa: E402

pytestmark = pytest.mark.anyio

SESSION_SECRET = "starlette session secret for the tests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store() -> Iterator[SqlStore]:
    found = memory_store()
    yield found
    found.dispose()


@pytest.fixture
def onboarding(store: SqlStore) -> Iterator[Onboarding]:
    made = service(store)
    add_reviewer(made)
    yield made
    made.close()


@pytest.fixture
def web(onboarding: Onboarding) -> OnboardingWeb:
    return OnboardingWeb(onboarding, secret=WEB_SECRET, sessions="host")


@pytest.fixture
def sessions() -> StarletteSessions:
    return StarletteSessions()


def host_app(web: OnboardingWeb, sessions: StarletteSessions) -> FastAPI:
    """An app with its own session, onboardkit under /onboarding, and endpoints of its own."""
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SESSION_SECRET)
    app.include_router(onboarding_router(web, sessions=sessions), prefix="/onboarding")
    add_exception_handlers(app, web=web)
    signed_in = current_account(web, tenant="pim", sessions=sessions)
    required = current_account(web, tenant="pim", sessions=sessions, required=True)

    @app.get("/dashboard")
    async def dashboard(account: Account | None = Depends(signed_in)) -> dict[str, Any]:  # noqa: B008
        return {"email": account.email if account is not None else None}

    @app.post("/cart")
    async def cart(request: Request) -> dict[str, Any]:
        request.session["cart"] = ["sku-1"]
        return {}

    @app.get("/cart")
    async def show_cart(request: Request) -> dict[str, Any]:
        return {"cart": request.session.get("cart")}

    @app.post("/password")
    async def change_password(
        request: Request,
        account: Account = Depends(required),  # noqa: B008
    ) -> JSONResponse:
        data = await request.json()
        changed = await run_in_threadpool(
            web.onboarding.change_password, "pim", account.id, data["current"], data["new"]
        )
        response = JSONResponse({"changed": True})
        # The session that changed the password stays signed in, with the new verifier.
        verifier = web.session_verifier(changed)
        await sessions.save(request, response, SignedIn("pim", changed.id, verifier))
        return response

    return app


@pytest.fixture
def app(web: OnboardingWeb, sessions: StarletteSessions) -> FastAPI:
    return host_app(web, sessions)


@pytest.fixture
async def signed_in_client(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> AsyncIterator[Any]:
    await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        assert (await login(person, "pim", ANNA, PASSWORD)).status_code == 200
        yield person


async def _dashboard(http: Any) -> str | None:
    answer = await http.get("/dashboard")
    assert answer.status_code == 200
    email: str | None = answer.json()["email"]
    return email


# -- configuration -----------------------------------------------------------------------------


def test_a_host_mode_web_needs_a_session_backend(web: OnboardingWeb) -> None:
    with pytest.raises(ConfigurationError) as raised:
        onboarding_router(web)
    assert raised.value.params["key"] == "sessions"
    with pytest.raises(ConfigurationError):
        current_account(web, tenant="pim")


def test_a_cookie_mode_web_refuses_a_session_backend(onboarding: Onboarding) -> None:
    cookie_web = OnboardingWeb(onboarding, secret=WEB_SECRET)
    with pytest.raises(ConfigurationError) as raised:
        onboarding_router(cookie_web, sessions=StarletteSessions())
    assert raised.value.params["key"] == "sessions"
    with pytest.raises(ConfigurationError):
        current_account(cookie_web, tenant="pim", sessions=StarletteSessions())


async def test_without_the_session_middleware_the_error_names_it(
    web: OnboardingWeb, sessions: StarletteSessions
) -> None:
    app = FastAPI()
    app.include_router(onboarding_router(web, sessions=sessions), prefix="/onboarding")
    async with client(app) as http:
        with pytest.raises(ConfigurationError, match="SessionMiddleware"):
            await http.get("/onboarding/pim/login")


# -- signing in and out ------------------------------------------------------------------------


async def test_after_register_confirm_approve_and_login_the_apps_endpoint_sees_the_account(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    account_id = await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        assert await _dashboard(person) is None
        answer = await login(person, "pim", ANNA, PASSWORD)
        assert answer.status_code == 200
        assert answer.json()["account"]["id"] == account_id
        assert await _dashboard(person) == ANNA
        me = await person.get("/onboarding/pim/api/me")  # onboardkit's own pages see it too
        assert me.status_code == 200
        assert me.json()["account"]["email"] == ANNA


async def test_logout_ends_the_apps_session_too(signed_in_client: Any) -> None:
    answer = await signed_in_client.post("/onboarding/pim/api/logout")
    assert answer.status_code == 204
    assert await _dashboard(signed_in_client) is None
    assert (await signed_in_client.get("/onboarding/pim/api/me")).status_code == 401


async def test_a_page_login_signs_into_the_apps_session(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        page = await person.get("/onboarding/pim/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        answer = await person.post(
            "/onboarding/pim/login",
            data={"email": ANNA, "password": PASSWORD, "csrf_token": found.group(1)},
        )
        assert answer.status_code == 303, answer.text
        assert await _dashboard(person) == ANNA


async def test_host_mode_sets_no_onboardkit_session_cookie(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        signed_in = await login(person, "pim", ANNA, PASSWORD)
        signed_out = await person.post("/onboarding/pim/api/logout")
    for answer in (signed_in, signed_out):
        assert ONBOARDKIT_SESSION not in set_cookie_names(answer)
        assert "session" in set_cookie_names(answer)  # the app's own


async def test_the_apps_own_session_data_survives_login_and_logout(
    app: FastAPI, store: SqlStore, onboarding: Onboarding
) -> None:
    await register_and_approve(app, store, onboarding)
    async with client(app) as person:
        await person.post("/cart")
        await login(person, "pim", ANNA, PASSWORD)
        await person.post("/onboarding/pim/api/logout")
        assert (await person.get("/cart")).json() == {"cart": ["sku-1"]}


async def test_signing_out_of_another_tenant_keeps_the_sign_in(signed_in_client: Any) -> None:
    answer = await signed_in_client.post("/onboarding/dam/api/logout")
    assert answer.status_code == 204
    assert await _dashboard(signed_in_client) == ANNA


async def test_a_refused_login_leaves_the_session_alone(signed_in_client: Any) -> None:
    answer = await login(signed_in_client, "pim", ANNA, NEW_PASSWORD)
    assert answer.status_code == 401
    assert await _dashboard(signed_in_client) == ANNA


async def test_a_required_account_refuses_with_onboardkits_error_body(app: FastAPI) -> None:
    async with client(app) as http:
        answer = await http.post("/password", json={}, headers={"accept-language": "de"})
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "web.sign_in_required"
    assert error["message"] != "Please sign in first."  # German


# -- a new password ------------------------------------------------------------------------------


async def test_a_password_change_ends_the_other_host_sessions(
    app: FastAPI, signed_in_client: Any
) -> None:
    async with client(app) as elsewhere:
        assert (await login(elsewhere, "pim", ANNA, PASSWORD)).status_code == 200
        assert await _dashboard(elsewhere) == ANNA

        changed = await signed_in_client.post(
            "/password", json={"current": PASSWORD, "new": NEW_PASSWORD}
        )
        assert changed.status_code == 200, changed.text

        assert await _dashboard(signed_in_client) == ANNA  # the session that changed it
        assert await _dashboard(elsewhere) is None
        # onboardkit's own pages find the session over and log it out of the app's session.
        assert (await elsewhere.get("/onboarding/pim/api/me")).status_code == 401
        assert "onboardkit" not in _session_keys(elsewhere)


def _session_keys(http: Any) -> set[str]:
    import base64
    import json

    value = http.cookies.get("session")
    if not value:
        return set()
    payload = value.split(".", 1)[0]
    decoded = base64.b64decode(payload + "=" * (-len(payload) % 4))
    return set(json.loads(decoded))


# -- the protocol ----------------------------------------------------------------------------------


class NotingSessions(StarletteSessions):
    """A backend of the app's own, noting what the router asks and tells it."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.saved: list[Any] = []

    async def load(self, request: Request) -> Any:
        self.loaded.append(request.url.path)
        return await super().load(request)

    async def save(self, request: Request, response: Any, change: Any) -> None:
        self.saved.append(change)
        await super().save(request, response, change)


async def test_the_backend_is_told_who_signed_in_and_out(
    web: OnboardingWeb, store: SqlStore, onboarding: Onboarding
) -> None:
    noting = NotingSessions()
    app = host_app(web, noting)
    account_id = await register_and_approve(app, store, onboarding)
    noting.saved.clear()
    async with client(app) as person:
        await login(person, "pim", ANNA, PASSWORD)
        await person.post("/onboarding/pim/api/logout")
    signed_in, signed_out = noting.saved
    assert isinstance(signed_in, SignedIn)
    assert (signed_in.tenant, signed_in.account_id) == ("pim", account_id)
    assert signed_out == SignedOut("pim", account_id)


async def test_the_backend_is_asked_only_for_a_tenants_routes(web: OnboardingWeb) -> None:
    noting = NotingSessions()
    async with client(host_app(web, noting)) as http:
        assert (await http.get("/onboarding/static/onboardkit.css")).status_code == 200
        assert noting.loaded == []
        await http.get("/onboarding/pim/login")
    assert noting.loaded == ["/onboarding/pim/login"]
