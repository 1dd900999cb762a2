"""The app's own endpoints next to the router: the signed-in account as a dependency (cookie
mode), typed errors answered as the API answers them, and the service's lifespan."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import pytest

fastapi = pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI  # noqa: E402
from fastapi_support import (  # noqa: E402
    ANNA,
    PASSWORD,
    WEB_SECRET,
    client,
    login,
    service,
)
from onboardkit_fastapi import (  # noqa: E402
    add_exception_handlers,
    current_account,
    onboarding_dependency,
    onboarding_lifespan,
    onboarding_router,
)

from onboardkit.accounts import Account  # noqa: E402
from onboardkit.errors import ConfigurationError  # noqa: E402
from onboardkit.onboarding import Onboarding  # noqa: E402
from onboardkit.outbox import OutboxWorker  # noqa: E402
from onboardkit.ratelimits import RateLimited  # noqa: E402
from onboardkit.sqlstore import SqlStore  # noqa: E402
from onboardkit.testing.store import memory_store  # noqa: E402
from onboardkit.web import OnboardingWeb, error_response  # noqa: E402

pytestmark = pytest.mark.anyio


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
    yield made
    made.close()


@pytest.fixture
def web(onboarding: Onboarding) -> OnboardingWeb:
    return OnboardingWeb(onboarding, secret=WEB_SECRET)


def _active(onboarding: Onboarding, email: str = ANNA) -> Account:
    return onboarding.create_account("dam", email, PASSWORD, roles=[], created_by="test")


# -- the signed-in account, cookie mode --------------------------------------------------------


def _account_app(web: OnboardingWeb) -> FastAPI:
    app = FastAPI()
    app.include_router(onboarding_router(web), prefix="/onboarding")
    add_exception_handlers(app, web=web)
    signed_in = current_account(web)
    required = current_account(web, required=True)

    # The browser sends onboardkit's cookie only below the tenant's path.
    @app.get("/onboarding/{tenant}/host/whoami")
    async def whoami(account: Account | None = Depends(signed_in)) -> dict[str, Any]:  # noqa: B008
        return {"email": account.email if account is not None else None}

    @app.get("/onboarding/{tenant}/host/private")
    async def private(account: Account = Depends(required)) -> dict[str, Any]:  # noqa: B008
        return {"email": account.email}

    return app


async def test_cookie_mode_gives_the_account_of_onboardkits_session(
    web: OnboardingWeb, onboarding: Onboarding
) -> None:
    _active(onboarding)
    async with client(_account_app(web)) as person:
        assert (await person.get("/onboarding/dam/host/whoami")).json() == {"email": None}
        assert (await login(person, "dam", ANNA, PASSWORD)).status_code == 200
        assert (await person.get("/onboarding/dam/host/whoami")).json() == {"email": ANNA}
        # Signed in to dam is not signed in to pim.
        assert (await person.get("/onboarding/pim/host/whoami")).json() == {"email": None}
        await person.post("/onboarding/dam/api/logout")
        assert (await person.get("/onboarding/dam/host/whoami")).json() == {"email": None}


async def test_cookie_mode_honours_a_password_change(
    web: OnboardingWeb, onboarding: Onboarding
) -> None:
    account = _active(onboarding)
    async with client(_account_app(web)) as person:
        await login(person, "dam", ANNA, PASSWORD)
        onboarding.change_password("dam", account.id, PASSWORD, "Quarry-Lilac-Sonnet-57")
        assert (await person.get("/onboarding/dam/host/whoami")).json() == {"email": None}


async def test_a_required_account_answers_401_with_onboardkits_body(web: OnboardingWeb) -> None:
    async with client(_account_app(web)) as http:
        answer = await http.get("/onboarding/dam/host/private")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "web.sign_in_required"


async def test_a_required_account_is_given_when_signed_in(
    web: OnboardingWeb, onboarding: Onboarding
) -> None:
    _active(onboarding)
    async with client(_account_app(web)) as person:
        await login(person, "dam", ANNA, PASSWORD)
        answer = await person.get("/onboarding/dam/host/private")
    assert answer.json() == {"email": ANNA}


async def test_a_required_account_without_the_handlers_says_what_is_missing(
    web: OnboardingWeb,
) -> None:
    app = FastAPI()

    @app.get("/private")
    async def private(
        account: Account = Depends(current_account(web, tenant="dam", required=True)),  # noqa: B008
    ) -> None:
        return None

    async with client(app) as http:
        with pytest.raises(ConfigurationError, match="add_exception_handlers"):
            await http.get("/private")


def test_an_unknown_tenant_is_refused_at_once(web: OnboardingWeb) -> None:
    with pytest.raises(ConfigurationError):
        current_account(web, tenant="nowhere")


# -- typed errors in the app's endpoints ---------------------------------------------------------


def _invite_app(web: OnboardingWeb) -> FastAPI:
    app = FastAPI()
    add_exception_handlers(app, web=web)
    onboarding_service = onboarding_dependency(web)

    @app.post("/admin/{tenant}/invitations")
    def invite(
        tenant: str,
        email: str,
        onboarding: Onboarding = Depends(onboarding_service),  # noqa: B008
    ) -> dict[str, bool]:
        onboarding.invite(tenant, email, roles=["viewer"], invited_by="admin@example.com")
        return {"invited": True}

    @app.get("/limited")
    def limited() -> None:
        raise RateLimited(retry_after=42)

    return app


async def test_a_typed_error_in_a_host_endpoint_answers_like_the_api(web: OnboardingWeb) -> None:
    async with client(_invite_app(web)) as http:
        # dam offers no invitations: the service refuses with a typed error.
        answer = await http.post("/admin/dam/invitations", params={"email": "x@example.org"})
    expected = error_response(_raised(web, "dam"), locale="en")
    assert answer.status_code == expected.status
    assert answer.content == expected.body
    assert answer.headers["content-type"] == "application/json"


async def test_the_error_is_in_the_requests_language(web: OnboardingWeb) -> None:
    async with client(_invite_app(web)) as http:
        answer = await http.post(
            "/admin/dam/invitations",
            params={"email": "x@example.org"},
            headers={"accept-language": "de"},
        )
    assert answer.content == error_response(_raised(web, "dam"), locale="de").body


async def test_the_apps_language_choice_wins_over_accept_language(web: OnboardingWeb) -> None:
    app = FastAPI()
    add_exception_handlers(app, web=web, locale=lambda request: "de")

    @app.get("/limited")
    def limited() -> None:
        raise RateLimited(retry_after=42)

    async with client(app) as http:
        answer = await http.get("/limited", headers={"accept-language": "en"})
    assert answer.content == error_response(RateLimited(retry_after=42), locale="de").body


async def test_a_rate_limited_host_endpoint_says_when_to_retry(web: OnboardingWeb) -> None:
    async with client(_invite_app(web)) as http:
        answer = await http.get("/limited")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "42"
    assert answer.json()["error"]["code"] == RateLimited(retry_after=42).code


def _raised(web: OnboardingWeb, tenant: str) -> Any:
    try:
        web.onboarding.invite(tenant, "x@example.org", roles=["viewer"], invited_by="a@b.example")
    except Exception as error:
        return error
    raise AssertionError("the invitation went through")


# -- the lifespan --------------------------------------------------------------------------------


class _ClosingOnboarding(Onboarding):
    """The service, noting that it was closed."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


async def test_the_lifespan_migrates_the_store_and_closes_the_service(tmp_path: Any) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'onboardkit.db'}")
    try:
        assert store.schema_revision() is None
        onboarding = _closing_service(store)
        app = FastAPI(lifespan=onboarding_lifespan(onboarding))
        async with app.router.lifespan_context(app):
            assert store.schema_revision() is not None
            assert not onboarding.closed
        assert onboarding.closed
    finally:
        store.dispose()


async def test_the_lifespan_runs_the_apps_own_inside(store: SqlStore) -> None:
    onboarding = _closing_service(store)
    steps: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        steps.append(f"start, closed={onboarding.closed}")
        yield {"greeting": "hello"}
        steps.append(f"stop, closed={onboarding.closed}")

    app = FastAPI(lifespan=onboarding_lifespan(onboarding, lifespan=own))
    async with app.router.lifespan_context(app) as state:
        assert state == {"greeting": "hello"}
    assert steps == ["start, closed=False", "stop, closed=False"]
    assert onboarding.closed


async def test_the_lifespan_runs_the_outbox_worker_until_shutdown(
    store: SqlStore, onboarding: Onboarding
) -> None:
    onboarding.register("dam", {"email": ANNA, "password": PASSWORD})
    transport = RecordingTransport()
    worker = OutboxWorker(
        store, transport, onboarding.clock, sender="Portal <no-reply@example.com>"
    )
    app = FastAPI(lifespan=onboarding_lifespan(onboarding, outbox=worker, idle_sleep=0.05))
    async with app.router.lifespan_context(app):
        assert _eventually(lambda: len(transport.messages) == 1)
        assert transport.messages[0]["To"] == ANNA
        assert any(thread.name == "onboardkit-outbox" for thread in threading.enumerate())
    assert not any(thread.name == "onboardkit-outbox" for thread in threading.enumerate())


def _closing_service(store: SqlStore) -> _ClosingOnboarding:
    made = service(store, kind=_ClosingOnboarding)
    assert isinstance(made, _ClosingOnboarding)
    return made


class RecordingTransport:
    """A mail transport that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.messages.append(message)


def _eventually(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False
