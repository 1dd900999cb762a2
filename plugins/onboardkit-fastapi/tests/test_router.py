"""The FastAPI router, against the real core on the in-memory store: it translates, nothing more."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import unquote

import pytest

fastapi = pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from onboardkit_fastapi import ERROR_SCHEMA_NAME, onboarding_dependency, onboarding_router  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from onboardkit.errors import ConfigurationError  # noqa: E402
from onboardkit.onboarding import Onboarding  # noqa: E402
from onboardkit.sqlstore import SqlStore  # noqa: E402
from onboardkit.tenants import Tenants  # noqa: E402
from onboardkit.testing import FrozenClock, make_plugins  # noqa: E402
from onboardkit.testing.passwords import CheapTestHasher  # noqa: E402
from onboardkit.testing.store import memory_store  # noqa: E402
from onboardkit.web import MAX_BODY_BYTES, OnboardingWeb, WebRequest  # noqa: E402

pytestmark = pytest.mark.anyio

SECRET = b"onboardkit fastapi test secret, 32 bytes or more"
WEB_SECRET = b"onboardkit fastapi web secret, 32 bytes or more"
PASSWORD = "Tundra-Violet-Harbor-93"
REVIEWER = "review@pim.example.com"
TENANTS = Tenants.from_mapping(
    {
        "tenants": {
            # Self-registration with review.
            "pim": {
                "name": "PIM Portal",
                "base_url": "https://pim.example.com/onboarding",
                "sender": "no-reply@pim.example.com",
                "flows": ["registration"],
                "review": {"required": True, "reviewers": [REVIEWER]},
            },
            # Self-registration without review: confirming activates.
            "dam": {
                "name": "DAM",
                "base_url": "https://dam.example.com",
                "sender": "no-reply@dam.example.com",
                "flows": ["registration"],
            },
        }
    }
)
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}


class ThreadNotingHasher:
    """The cheap test hasher, noting the thread of each ``hash`` and, when armed, waiting there
    for as many other hashes as the barrier has parties."""

    def __init__(self) -> None:
        self._inner = CheapTestHasher()
        self.threads: list[threading.Thread] = []
        self.barrier: threading.Barrier | None = None

    def hash(self, password: str) -> str:
        self.threads.append(threading.current_thread())
        if self.barrier is not None:
            self.barrier.wait()
        return self._inner.hash(password)

    def verify(self, password: str, stored: str) -> bool:
        return self._inner.verify(password, stored)

    def needs_rehash(self, stored: str) -> bool:
        return self._inner.needs_rehash(stored)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store() -> Iterator[SqlStore]:
    found = memory_store()
    yield found
    found.dispose()


@pytest.fixture
def hasher() -> ThreadNotingHasher:
    return ThreadNotingHasher()


@pytest.fixture
def onboarding(store: SqlStore, hasher: ThreadNotingHasher) -> Iterator[Onboarding]:
    service = Onboarding(
        TENANTS,
        store,
        secret=SECRET,
        plugins=make_plugins(),
        hasher=hasher,
        clock=FrozenClock(),
    )
    yield service
    service.close()


@pytest.fixture
def web(onboarding: Onboarding) -> OnboardingWeb:
    return OnboardingWeb(onboarding, secret=WEB_SECRET)


def _app(web: OnboardingWeb, **options: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(onboarding_router(web, **options), prefix="/onboarding")
    return app


@pytest.fixture
def app(web: OnboardingWeb) -> FastAPI:
    return _app(web)


def _client(app: Any, *, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711), root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as found:
        yield found


def _active_account(onboarding: Onboarding, store: SqlStore, email: str) -> None:
    """Register ``email`` with the dam tenant and confirm it through the mailed link."""
    onboarding.register("dam", {"email": email, "password": PASSWORD})
    mails = store.atomic(lambda tx: list(tx.mails("dam", limit=10)))
    found = re.search(r"[?&]token=([A-Za-z0-9_\-%]+)", mails[0].text)
    assert found is not None
    onboarding.confirm(unquote(found.group(1)))


def _without_csrf_value(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers with the CSRF cookie's value blanked: it is random for every answer."""
    return [
        (name, re.sub(r"^onboardkit_csrf=[^;]*", "onboardkit_csrf=*", value))
        for name, value in headers
    ]


def _cookie(response: httpx.Response, name: str) -> str:
    for line in response.headers.get_list("set-cookie"):
        if line.startswith(f"{name}="):
            return line
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


# -- the OpenAPI document ---------------------------------------------------------------------


def test_every_page_and_api_route_is_an_operation(web: OnboardingWeb, app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for route in web.routes:
        if route.media_type not in ("application/json", "text/html"):
            continue
        operation = paths[f"/onboarding{route.path}"][route.method.lower()]
        assert operation["operationId"].startswith(f"onboardkit_{route.name}")
        assert operation["summary"] == route.summary


def test_static_files_are_left_out_of_the_openapi_document(
    web: OnboardingWeb, app: FastAPI
) -> None:
    paths = app.openapi()["paths"]
    static = [
        route for route in web.routes if route.media_type not in ("application/json", "text/html")
    ]
    assert static, "the core serves its style sheet"
    for route in static:
        assert route.method.lower() not in paths.get(f"/onboarding{route.path}", {})


def test_api_posts_document_their_json_body(web: OnboardingWeb, app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    with_body = [route for route in web.routes if route.request_schema is not None]
    assert with_body
    for route in with_body:
        body = paths[f"/onboarding{route.path}"][route.method.lower()]["requestBody"]
        assert body["content"]["application/json"]["schema"] == route.request_schema


def test_path_and_query_parameters_are_documented(web: OnboardingWeb, app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for route in web.routes:
        if not route.api:
            continue
        operation = paths[f"/onboarding{route.path}"][route.method.lower()]
        documented = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
        expected = {(name, "path") for name in route.parameters}
        expected |= {(name, "query") for name in route.query}
        assert documented == expected, route.name


def test_every_status_is_documented_and_errors_refer_to_one_schema(
    web: OnboardingWeb, app: FastAPI
) -> None:
    document = app.openapi()
    assert document["components"]["schemas"][ERROR_SCHEMA_NAME] == web.error_schema
    for route in web.routes:
        if not route.api:
            continue
        responses = document["paths"][f"/onboarding{route.path}"][route.method.lower()]["responses"]
        assert set(responses) == {str(status) for status in route.responses}, route.name
        for status, (description, schema) in route.responses.items():
            answer = responses[str(status)]
            assert answer["description"] == description
            if status >= 400:
                assert answer["content"]["application/json"]["schema"] == ERROR_REF
            elif schema is not None:
                assert answer["content"]["application/json"]["schema"] == schema


def test_every_reference_in_the_document_resolves(app: FastAPI) -> None:
    document = app.openapi()

    def refs(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    for ref in set(refs(document)):
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]


def test_two_routers_of_one_web_share_the_error_schema(web: OnboardingWeb) -> None:
    app = FastAPI()
    app.include_router(onboarding_router(web, include_pages=False), prefix="/api-only")
    app.include_router(onboarding_router(web), prefix="/onboarding")
    assert list(app.openapi()["components"]["schemas"]) == [ERROR_SCHEMA_NAME]


def test_without_pages_only_the_api_is_routed(web: OnboardingWeb) -> None:
    router = onboarding_router(web, include_pages=False)
    names = {route.name for route in router.routes}  # type: ignore[attr-defined]
    assert names == {f"onboardkit:{route.name}" for route in web.routes if route.api}


# -- route names ----------------------------------------------------------------------------------


def test_every_route_is_named_onboardkit_colon_the_cores_name(web: OnboardingWeb) -> None:
    router = onboarding_router(web)
    names = {route.name for route in router.routes}  # type: ignore[attr-defined]
    assert names == {f"onboardkit:{route.name}" for route in web.routes}


async def test_url_for_finds_onboardkits_routes_below_the_prefix(app: FastAPI) -> None:
    @app.get("/host/links")
    def links(request: Request) -> dict[str, str]:
        return {
            "login": str(request.url_for("onboardkit:login_page", tenant="pim")),
            "review": str(request.url_for("onboardkit:api_review", tenant="pim", account_id="a1")),
        }

    async with _client(app) as client:
        response = await client.get("/host/links")
    assert response.json() == {
        "login": "http://testserver/onboarding/pim/login",
        "review": "http://testserver/onboarding/pim/api/reviews/a1",
    }


async def test_the_apps_own_route_names_do_not_clash(web: OnboardingWeb) -> None:
    app = FastAPI()

    @app.get("/sign-in", name="login")
    def own_login(request: Request) -> dict[str, str]:
        return {
            "own": str(request.url_for("login")),
            "ours": str(request.url_for("onboardkit:login", tenant="pim")),
        }

    app.include_router(onboarding_router(web), prefix="/onboarding")
    async with _client(app) as client:
        response = await client.get("/sign-in")
    assert response.json() == {
        "own": "http://testserver/sign-in",
        "ours": "http://testserver/onboarding/pim/login",
    }


# -- requests and answers ---------------------------------------------------------------------


async def test_an_api_post_answers_exactly_what_the_core_answers(
    web: OnboardingWeb, onboarding: Onboarding, store: SqlStore, client: httpx.AsyncClient
) -> None:
    _active_account(onboarding, store, "anna@example.org")
    body = b'{"email": "anna@example.org", "password": "' + PASSWORD.encode() + b'"}'
    headers = {"content-type": "application/json", "accept-language": "de"}

    response = await client.post("/onboarding/dam/api/login?lang=de", content=body, headers=headers)
    direct = web.handle(
        WebRequest(
            "POST",
            "/dam/api/login",
            query="lang=de",
            headers={**headers, "host": "testserver"},
            body=body,
            client_address="203.0.113.7",
            root_path="/onboarding",
        )
    )

    assert response.status_code == direct.status == 200
    assert response.content == direct.body
    served = [(k, v) for k, v in response.headers.multi_items() if k != "content-length"]
    assert _without_csrf_value(served) == _without_csrf_value(
        [(name.lower(), value) for name, value in direct.headers]
    )
    cookies = [line.split("=", 1)[0] for line in response.headers.get_list("set-cookie")]
    # Signing in replaces the CSRF cookie the request would have got: it is set once.
    assert sorted(cookies) == ["onboardkit_csrf", "onboardkit_lang", "onboardkit_session"]


async def test_the_content_length_is_the_bodys(client: httpx.AsyncClient) -> None:
    response = await client.get("/onboarding/pim/api/form")
    assert response.status_code == 200
    assert response.headers.get_list("content-length") == [str(len(response.content))]


async def test_an_api_error_is_the_cores_json_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/onboarding/nowhere/api/form")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()["error"]) >= {"code", "message", "params"}


@pytest.mark.parametrize(
    "languages",
    [
        pytest.param(("de", "fr"), id="the-first-counts"),
        pytest.param(("fr", "de"), id="the-last-counts"),
    ],
)
async def test_repeated_request_headers_all_reach_the_core(
    client: httpx.AsyncClient, languages: tuple[str, str]
) -> None:
    # Only German is supported of the two, so the answer is German only if both headers arrive.
    headers = [("accept-language", language) for language in languages]
    response = await client.get("/onboarding/pim/api/form", headers=headers)
    assert response.json()["locale"] == "de"


async def test_a_body_over_the_limit_is_flagged_and_refused_by_the_core(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/onboarding/pim/api/register",
        content=b"{" + b" " * MAX_BODY_BYTES + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "web.body_too_large"


async def test_a_body_at_the_limit_is_read_whole(client: httpx.AsyncClient) -> None:
    body = b'{"password": "x"' + b" " * (MAX_BODY_BYTES - 17) + b"}"
    assert len(body) == MAX_BODY_BYTES
    response = await client.post(
        "/onboarding/pim/api/password-check",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["ok"] is False


async def test_head_is_answered_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/onboarding/pim/login")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"].startswith("text/html")


# -- where the router is mounted ----------------------------------------------------------------


async def test_under_a_prefix_the_core_sees_its_own_path_and_the_prefix_as_root(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/onboarding/pim/review")
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/onboarding/pim/login?next=%2Fonboarding%2Fpim%2Freview"
    )
    assert "Path=/onboarding/;" in _cookie(response, "onboardkit_csrf")


async def test_below_a_mount_and_a_proxy_root_path_links_keep_the_whole_prefix(
    app: FastAPI,
) -> None:
    outer = Starlette(routes=[Mount("/portal", app=app)])
    async with _client(outer, root_path="/proxy") as client:
        response = await client.get("/proxy/portal/onboarding/pim/review")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/proxy/portal/onboarding/pim/login?")
    assert "Path=/proxy/portal/onboarding/;" in _cookie(response, "onboardkit_csrf")


async def test_at_the_root_the_core_gets_an_empty_root_path(web: OnboardingWeb) -> None:
    app = FastAPI()
    app.include_router(onboarding_router(web))
    async with _client(app) as client:
        response = await client.get("/pim/review")
    assert response.headers["location"] == "/pim/login?next=%2Fpim%2Freview"


async def test_https_requests_get_secure_cookies(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.get("/onboarding/pim/login")
    assert "; Secure" in _cookie(response, "onboardkit_csrf")


# -- the reviewer hook ------------------------------------------------------------------------


def _noting_hook(
    answer: str | None, asked: list[tuple[str, str, threading.Thread]], *, coroutine: bool
) -> Callable[..., Any]:
    def note(request: Request, tenant: str) -> str | None:
        asked.append((request.url.path, tenant, threading.current_thread()))
        return answer

    if not coroutine:
        return note

    async def hook(request: Request, tenant: str) -> str | None:
        return note(request, tenant)

    return hook


@pytest.mark.parametrize("coroutine", [True, False], ids=["async", "sync"])
async def test_the_hosts_reviewer_is_let_into_the_review_api(
    web: OnboardingWeb, coroutine: bool
) -> None:
    asked: list[tuple[str, str, threading.Thread]] = []
    app = _app(web, reviewer=_noting_hook(REVIEWER, asked, coroutine=coroutine))
    async with _client(app) as client:
        response = await client.get("/onboarding/pim/api/reviews")
    assert response.status_code == 200
    assert response.json() == {"accounts": []}
    assert [(path, tenant) for path, tenant, _ in asked] == [("/onboarding/pim/api/reviews", "pim")]


@pytest.mark.parametrize("coroutine", [True, False], ids=["async", "sync"])
async def test_whom_the_host_does_not_name_is_refused(web: OnboardingWeb, coroutine: bool) -> None:
    asked: list[tuple[str, str, threading.Thread]] = []
    app = _app(web, reviewer=_noting_hook(None, asked, coroutine=coroutine))
    async with _client(app) as client:
        response = await client.get("/onboarding/pim/api/reviews")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "web.reviewer_required"
    assert len(asked) == 1


@pytest.mark.parametrize("coroutine", [True, False], ids=["async", "sync"])
async def test_the_reviewer_hook_is_asked_only_for_reviewer_routes(
    web: OnboardingWeb, coroutine: bool
) -> None:
    asked: list[tuple[str, str, threading.Thread]] = []
    app = _app(web, reviewer=_noting_hook(REVIEWER, asked, coroutine=coroutine))
    async with _client(app) as client:
        await client.get("/onboarding/pim/api/form")
        await client.get("/onboarding/pim/login")
        await client.get("/onboarding/pim/review")
    assert [path for path, _, _ in asked] == ["/onboarding/pim/review"]


async def test_a_plain_reviewer_hook_runs_off_the_event_loop(web: OnboardingWeb) -> None:
    asked: list[tuple[str, str, threading.Thread]] = []
    app = _app(web, reviewer=_noting_hook(REVIEWER, asked, coroutine=False))
    async with _client(app) as client:
        await client.get("/onboarding/pim/api/reviews")
    assert asked[0][2] is not threading.current_thread()


async def test_an_async_reviewer_hook_runs_on_the_event_loop(web: OnboardingWeb) -> None:
    asked: list[tuple[str, str, threading.Thread]] = []
    app = _app(web, reviewer=_noting_hook(REVIEWER, asked, coroutine=True))
    async with _client(app) as client:
        await client.get("/onboarding/pim/api/reviews")
    assert asked[0][2] is threading.current_thread()


# -- the core runs in worker threads ------------------------------------------------------------


async def test_the_core_runs_off_the_event_loop(
    client: httpx.AsyncClient, hasher: ThreadNotingHasher
) -> None:
    hasher.threads.clear()
    response = await client.post(
        "/onboarding/dam/api/register",
        json={"email": "ben@example.org", "password": PASSWORD},
    )
    assert response.status_code == 202
    assert hasher.threads
    assert threading.current_thread() not in hasher.threads


async def test_two_slow_requests_are_served_at_once(
    client: httpx.AsyncClient, hasher: ThreadNotingHasher
) -> None:
    import anyio

    # Each registration's hash waits for the other's: served one after the other, both fail.
    hasher.barrier = threading.Barrier(2, timeout=5)
    statuses: list[int] = []

    async def register(email: str) -> None:
        response = await client.post(
            "/onboarding/dam/api/register", json={"email": email, "password": PASSWORD}
        )
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        group.start_soon(register, "carla@example.org")
        group.start_soon(register, "dora@example.org")
    assert statuses == [202, 202]


# -- the dependency ---------------------------------------------------------------------------


async def test_host_endpoints_get_the_onboarding_service(web: OnboardingWeb) -> None:
    app = _app(web)
    onboarding_service = onboarding_dependency(web)

    @app.get("/host/tenants")
    def tenants(onboarding: Onboarding = Depends(onboarding_service)) -> list[str]:  # noqa: B008
        return sorted(onboarding.tenants)

    async with _client(app) as client:
        response = await client.get("/host/tenants")
    assert response.json() == ["dam", "pim"]


async def test_an_empty_answer_gets_no_media_type_of_the_routers_own(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/onboarding/pim/api/logout")
    assert response.status_code == 204
    assert "content-type" not in response.headers
    names = [line.split("=", 1)[0] for line in response.headers.get_list("set-cookie")]
    assert sorted(names) == ["onboardkit_csrf", "onboardkit_session"]


# -- unexpected exceptions ------------------------------------------------------------------------


class BrokenHasher(CheapTestHasher):
    """A hasher with a bug: registering fails with an exception onboardkit does not know."""

    def hash(self, password: str) -> str:
        if password == PASSWORD:
            raise RuntimeError("the hasher broke")
        return super().hash(password)


def _broken_app(store: SqlStore, *, propagate: bool, debug: bool = False) -> FastAPI:
    service = Onboarding(
        TENANTS, store, secret=SECRET, plugins=make_plugins(), hasher=BrokenHasher()
    )
    app = FastAPI(debug=debug)
    web = OnboardingWeb(service, secret=WEB_SECRET, propagate_exceptions=propagate)
    app.include_router(onboarding_router(web), prefix="/onboarding")
    return app


def _broken_client(app: FastAPI, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _register(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/onboarding/dam/api/register", json={"email": "eve@example.org", "password": PASSWORD}
    )


async def test_a_propagated_exception_reaches_the_framework(store: SqlStore) -> None:
    async with _broken_client(_broken_app(store, propagate=True)) as client:
        with pytest.raises(RuntimeError, match="the hasher broke"):
            await _register(client)


async def test_a_propagated_exception_shows_fastapis_debug_page(store: SqlStore) -> None:
    app = _broken_app(store, propagate=True, debug=True)
    async with _broken_client(app, raise_app_exceptions=False) as client:
        response = await _register(client)
    assert response.status_code == 500
    assert "RuntimeError" in response.text
    assert "the hasher broke" in response.text


async def test_a_propagated_exception_reaches_the_apps_error_handler(store: SqlStore) -> None:
    app = _broken_app(store, propagate=True)
    reported: list[BaseException] = []

    @app.exception_handler(Exception)
    async def report(request: Request, error: Exception) -> JSONResponse:
        reported.append(error)
        return JSONResponse({"reported": True}, status_code=500)

    async with _broken_client(app, raise_app_exceptions=False) as client:
        response = await _register(client)
    assert response.json() == {"reported": True}
    assert [str(error) for error in reported] == ["the hasher broke"]


async def test_without_propagation_onboardkit_answers_its_own_500(store: SqlStore) -> None:
    async with _broken_client(_broken_app(store, propagate=False)) as client:
        response = await _register(client)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "web.internal"


# -- the mount ------------------------------------------------------------------------------------


async def test_a_prefix_that_matches_the_base_url_mounts_the_router(onboarding: Onboarding) -> None:
    # pim's base_url is https://pim.example.com/onboarding: its pages alone, at /onboarding.
    web = OnboardingWeb(onboarding, secret=WEB_SECRET, tenant="pim")
    app = FastAPI()
    app.include_router(onboarding_router(web, prefix="/onboarding/"))
    async with _client(app) as client:
        page = await client.get("/onboarding/login")
    assert page.status_code == 200


def test_a_prefix_that_misses_a_base_url_fails_at_start_up(web: OnboardingWeb) -> None:
    # Many tenants at /onboarding: pim's base_url would have to end in /onboarding/pim.
    with pytest.raises(ConfigurationError) as raised:
        onboarding_router(web, prefix="/onboarding")
    assert raised.value.code == "mounts.base_url_mismatch"
    assert "tenants.pim.base_url" in raised.value.message
