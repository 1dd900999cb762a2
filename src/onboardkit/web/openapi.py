"""The OpenAPI 3.1 document of the web layer, built from the routes' own descriptions, so that
every framework serves the same document (``GET /api/openapi.json``) with no code of its own.

Documented: every API route and every page (as FastAPI's document of the same routes does),
their path and query parameters, JSON bodies and every documented answer; every API error
refers to one schema under ``components/schemas`` (:data:`ERROR_SCHEMA_NAME`). Style sheets and
scripts are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any, Final

from onboardkit.web.routes import Route

__all__ = ["ERROR_SCHEMA_NAME", "MEDIA_TYPE", "OPENAPI_VERSION", "documented", "openapi_document"]

OPENAPI_VERSION: Final = "3.1.0"
#: The name of the API error body under ``components/schemas``.
ERROR_SCHEMA_NAME: Final = "OnboardkitError"
#: The media type of the served document (OpenAPI's own; it is JSON).
MEDIA_TYPE: Final = "application/vnd.oai.openapi+json;version=3.1"
_ERROR_REF: Final = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
_HTML: Final = "text/html"


def documented(route: Route) -> bool:
    """Whether ``route`` is in the document: API routes and pages, not static files."""
    return route.api or route.media_type == _HTML


def _version() -> str:
    try:
        return metadata.version("onboardkit")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "0"


def _parameters(route: Route) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.parameters
    ] + [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in route.query
    ]


def _api_responses(route: Route, error_schema: Mapping[str, Any]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, (description, schema) in route.responses.items():
        answer: dict[str, Any] = {"description": description}
        if status >= 400 and (schema is None or schema == error_schema):
            answer["content"] = {"application/json": {"schema": dict(_ERROR_REF)}}
        elif schema is not None:
            answer["content"] = {route.media_type: {"schema": _copy(schema)}}
        elif 200 <= status < 300 and status != 204:
            answer["content"] = {route.media_type: {}}
        answers[str(status)] = answer
    return answers


def _page_responses(route: Route) -> dict[str, Any]:
    page = {_HTML: {"schema": {"type": "string"}}}
    if route.method == "GET":
        return {
            "200": {"description": "The page.", "content": page},
            "303": {"description": "Elsewhere first (to sign in, say): see Location."},
            "4XX": {"description": "A page saying what went wrong.", "content": page},
        }
    return {
        "303": {"description": "Done: the next page is in Location."},
        "4XX": {"description": "The form again, saying what to correct.", "content": page},
    }


def _operation(route: Route, error_schema: Mapping[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.name}
    if route.summary:
        operation["summary"] = route.summary
    if route.description:
        operation["description"] = route.description
    if route.tags:
        operation["tags"] = list(route.tags)
    parameters = _parameters(route)
    if parameters:
        operation["parameters"] = parameters
    if route.request_schema is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _copy(route.request_schema)}},
        }
    operation["responses"] = (
        _api_responses(route, error_schema) if route.api else _page_responses(route)
    )
    return operation


def _copy(schema: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(schema))
    return copied


def openapi_document(
    routes: Iterable[Route],
    error_schema: Mapping[str, Any],
    *,
    root_path: str = "",
    title: str = "onboardkit",
    version: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``: paths below ``root_path``, which becomes the
    document's server URL. A fresh dict each time: change it as you like."""
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for route in routes:
        if not documented(route):
            continue
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, error_schema)
        tags.update(dict.fromkeys(route.tags))
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version or _version()},
    }
    root = root_path.rstrip("/")
    if root:
        document["servers"] = [{"url": root}]
    document["paths"] = paths
    document["components"] = {"schemas": {ERROR_SCHEMA_NAME: _copy(error_schema)}}
    if tags:
        document["tags"] = [{"name": tag} for tag in tags]
    return document
