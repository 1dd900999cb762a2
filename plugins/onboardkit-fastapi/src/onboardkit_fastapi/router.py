"""onboardkit's pages and JSON API as a FastAPI router, and the service as a dependency.

Every route comes from :attr:`onboardkit.web.OnboardingWeb.routes`; each is served by the same
endpoint, which turns the FastAPI request into a :class:`~onboardkit.web.WebRequest`, lets the
core answer in a worker thread (it hashes passwords and talks to the database) and copies the
:class:`~onboardkit.web.WebResponse` back unchanged; in host session mode a
:class:`~onboardkit_fastapi.SessionBackend` supplies the host session and acts on the answer's
sign-in or sign-out. The OpenAPI document is built from the routes' own descriptions.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any, Final, TypeAlias

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from starlette.concurrency import run_in_threadpool

from onboardkit.onboarding import Onboarding
from onboardkit.web import (
    MAX_BODY_BYTES,
    HostSession,
    OnboardingWeb,
    Route,
    WebRequest,
    WebResponse,
)
from onboardkit_fastapi.sessions import SessionBackend, check_sessions

__all__ = [
    "ERROR_SCHEMA_NAME",
    "ROUTE_NAME_PREFIX",
    "ReviewerHook",
    "core_request",
    "onboarding_dependency",
    "onboarding_router",
    "web_response",
]

#: The name of the API error body under ``components/schemas`` in the OpenAPI document.
ERROR_SCHEMA_NAME = "OnboardkitError"
#: Every route's name starts with it (``onboardkit:login``), for ``request.url_for``; the app's
#: own route names cannot clash with onboardkit's.
ROUTE_NAME_PREFIX = "onboardkit:"

#: Who reviews ``tenant`` for this request: the reviewer's name or address, ``None`` for nobody.
#: A coroutine function is awaited; a plain function runs in a worker thread, as FastAPI runs
#: plain dependencies.
ReviewerHook: TypeAlias = Callable[[Request, str], str | Awaitable[str | None] | None]

Endpoint: TypeAlias = Callable[[Request], Awaitable[Response]]


def onboarding_router(
    web: OnboardingWeb,
    *,
    reviewer: ReviewerHook | None = None,
    include_pages: bool = True,
    sessions: SessionBackend | None = None,
    prefix: str | None = None,
) -> APIRouter:
    """A router with every route of ``web``; include it with the prefix to mount it under, or
    give the prefix here to have it checked against the tenants' base URLs at start-up.

    Each route is named after the core's route with :data:`ROUTE_NAME_PREFIX`:
    ``request.url_for("onboardkit:login_page", tenant="pim")``.

    :param web: The core web layer, over the onboarding service.
    :param reviewer: The host's decision on who reviews a tenant (its own sign-in); without it
        the core's own reviewer sign-in applies. Asked only for reviewer pages and API calls.
    :param include_pages: ``False`` leaves out the HTML pages and their static files, for an
        API-only deployment.
    :param sessions: The host's session, for a web with ``sessions="host"`` (and only then):
        read for every request to a tenant's route, and told when an answer signs a person in
        or out.
    :param prefix: Where the router is mounted (``"/onboarding"``; ``""`` for the root): the
        router gets this prefix, and every tenant's ``base_url`` must lead there
        (:meth:`~onboardkit.web.OnboardingWeb.check_mount`), so mailed links open these pages.
        Include the router without a prefix of its own then.
    :raises ConfigurationError: ``sessions`` missing in host mode or given in cookie mode; a
        tenant's ``base_url`` that does not match ``prefix`` (``mounts.base_url_mismatch``).
    """
    check_sessions(web, sessions)
    if prefix is not None:
        web.check_mount(prefix)
    router = APIRouter(prefix=(prefix or "").rstrip("/"))
    error_model = _error_model(web.error_schema)
    for route in web.routes:
        if not (route.api or include_pages):
            continue
        endpoint = _endpoint(web, route, reviewer, sessions)
        successes = sorted(status for status in route.responses if status < 400)
        name = ROUTE_NAME_PREFIX + route.name
        router.add_api_route(
            route.path,
            endpoint,
            methods=[route.method],
            name=name,
            summary=route.summary,
            description=route.description,
            tags=list(route.tags) or None,
            include_in_schema=route.api or route.media_type == "text/html",
            response_class=Response,
            response_model=None,
            status_code=successes[0] if successes else None,
            responses=_responses(route, web.error_schema, error_model),
            openapi_extra=_operation(route),
        )
        if route.method == "GET":
            # The core answers HEAD like GET; FastAPI routes only the methods it is given.
            router.add_api_route(
                route.path, endpoint, methods=["HEAD"], name=name, include_in_schema=False
            )
    # Every other method of a path goes to the core too: it answers 405 with the path's whole
    # Allow list, where Starlette would name only the first route's method.
    served: dict[str, tuple[Route, set[str]]] = {}
    for route in web.routes:
        if route.api or include_pages:
            _first, methods = served.setdefault(route.path, (route, set()))
            methods.update({route.method, "HEAD"} if route.method == "GET" else {route.method})
    for path, (route, methods) in served.items():
        others = [method for method in _OTHER_METHODS if method not in methods]
        router.add_api_route(
            path,
            _endpoint(web, route, reviewer, sessions),
            methods=others,
            name=ROUTE_NAME_PREFIX + route.name,
            include_in_schema=False,
        )
    return router


#: Methods no route of the core takes: the core refuses them with 405 and the path's Allow list.
_OTHER_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def onboarding_dependency(web: OnboardingWeb) -> Callable[[], Awaitable[Onboarding]]:
    """A dependency giving the onboarding service::

        onboarding_service = onboarding_dependency(web)

        @app.post("/admin/{tenant}/invitations")
        def invite(tenant: str, onboarding: Onboarding = Depends(onboarding_service)): ...

    The service blocks (database, password hashing): call it from plain ``def`` endpoints, which
    FastAPI runs in a worker thread, or through ``run_in_threadpool``.
    """

    async def onboarding_service() -> Onboarding:
        return web.onboarding

    return onboarding_service


def core_request(
    request: Request,
    path: str,
    *,
    body: bytes = b"",
    body_too_large: bool = False,
    session: HostSession | None = None,
    locale: str | None = None,
) -> WebRequest:
    """The core's view of ``request``, for the core's ``path`` below where it is mounted."""
    full_path = request.url.path
    return WebRequest(
        method=request.method,
        path=path,
        query=request.url.query,
        headers=request.headers.items(),
        body=body,
        client_address=request.client.host if request.client else None,
        root_path=full_path[: -len(path)] if full_path.endswith(path) else "",
        secure=request.url.scheme == "https",
        body_too_large=body_too_large,
        session=session,
        locale=locale,
    )


def _endpoint(
    web: OnboardingWeb,
    route: Route,
    reviewer: ReviewerHook | None,
    sessions: SessionBackend | None,
) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        body, too_large = await _read_body(request)
        path = route.path.format_map({k: str(v) for k, v in request.path_params.items()})
        session = None
        if sessions is not None and "tenant" in route.parameters:
            # Only a tenant's routes have a sign-in; static files need no session lookup.
            session = await sessions.load(request)
        core = core_request(request, path, body=body, body_too_large=too_large, session=session)
        if reviewer is not None:
            tenant = web.reviewer_tenant(core)
            if tenant is not None:
                core = core.with_reviewer(await _ask(reviewer, request, tenant))
        # With propagate_exceptions an unexpected error leaves here on purpose: Starlette's
        # ServerErrorMiddleware (the debug page, the app's Exception handler) gets it.
        answer = await run_in_threadpool(web.handle, core)
        reply = web_response(answer)
        if sessions is not None and answer.session is not None:
            await sessions.save(request, reply, answer.session)
        return reply

    endpoint.__name__ = endpoint.__qualname__ = route.name
    return endpoint


async def _read_body(request: Request) -> tuple[bytes, bool]:
    """The body up to :data:`MAX_BODY_BYTES`, and whether there was more."""
    body = bytearray()
    async with aclosing(request.stream()) as chunks:
        async for chunk in chunks:
            if len(body) + len(chunk) > MAX_BODY_BYTES:
                body += chunk[: MAX_BODY_BYTES - len(body)]
                return bytes(body), True
            body += chunk
    return bytes(body), False


async def _ask(reviewer: ReviewerHook, request: Request, tenant: str) -> str | None:
    ask = functools.partial(reviewer, request, tenant)
    outcome = ask() if inspect.iscoroutinefunction(reviewer) else await run_in_threadpool(ask)
    if outcome is None or isinstance(outcome, str):
        return outcome
    decided: str | None = await outcome
    return decided


def web_response(answer: WebResponse) -> Response:
    """The core's answer as a Starlette response: status, body and every header as they are."""
    reply = Response(content=answer.body, status_code=answer.status)
    given = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
    ]
    # Starlette's own headers (Content-Length) only where the core set none of that name.
    named = {name for name, _ in given}
    reply.raw_headers = [pair for pair in reply.raw_headers if pair[0] not in named] + given
    return reply


def _operation(route: Route) -> dict[str, Any]:
    """What FastAPI cannot see in the endpoint's signature: parameters and the JSON body."""
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.parameters
    ] + [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in route.query
    ]
    operation: dict[str, Any] = {}
    if parameters:
        operation["parameters"] = parameters
    if route.request_schema is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": dict(route.request_schema)}},
        }
    return operation


def _responses(
    route: Route, error_schema: Mapping[str, Any], error_model: type[BaseModel]
) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {}
    for status, (description, schema) in route.responses.items():
        if route.api and status >= 400 and (schema is None or schema == error_schema):
            documented[status] = {"description": description, "model": error_model}
        elif schema is not None:
            documented[status] = {
                "description": description,
                "content": {route.media_type: {"schema": dict(schema)}},
            }
        elif 200 <= status < 300 and status != 204:
            documented[status] = {"description": description, "content": {route.media_type: {}}}
        else:
            documented[status] = {"description": description}
    return documented


_error_models: dict[str, type[BaseModel]] = {}


def _error_model(schema: Mapping[str, Any]) -> type[BaseModel]:
    """A model FastAPI files under ``components/schemas`` as :data:`ERROR_SCHEMA_NAME`.

    It exists only for the OpenAPI document (FastAPI collects components from models); its JSON
    Schema is the core's error schema, unchanged. One class per schema, so that routers of the
    same web in one app share one component.
    """
    key = json.dumps(schema, sort_keys=True)
    known = _error_models.get(key)
    if known is not None:
        return known
    frozen = json.loads(key)

    class OnboardkitError(BaseModel):
        @classmethod
        def __get_pydantic_json_schema__(
            cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
        ) -> JsonSchemaValue:
            copy: JsonSchemaValue = json.loads(json.dumps(frozen))
            return copy

    OnboardkitError.__name__ = OnboardkitError.__qualname__ = ERROR_SCHEMA_NAME
    _error_models[key] = OnboardkitError
    return OnboardkitError
