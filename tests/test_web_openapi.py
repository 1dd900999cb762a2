"""The core's own OpenAPI document: valid OpenAPI 3.1, every API route and page with its
parameters, body and answers, one error schema, and served at /api/openapi.json by the core."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock
from onboardkit.web import ERROR_SCHEMA, OnboardingWeb, WebRequest
from onboardkit.web.openapi import ERROR_SCHEMA_NAME
from web_helpers import Site, site

ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}


@pytest.fixture
def web(memory_store: SqlStore) -> Iterator[OnboardingWeb]:
    with site(memory_store, FrozenClock()) as made:
        yield made.web


@pytest.fixture
def single(memory_store: SqlStore) -> Iterator[Site]:
    with site(memory_store, FrozenClock(), tenant="pim") as made:
        yield made


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method.lower()]
    return found


def test_the_document_is_valid_openapi_3_1(web: OnboardingWeb) -> None:
    document = web.openapi()
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_a_single_tenant_document_is_valid_too(single: Site) -> None:
    validate(single.web.openapi("/onboarding"), cls=OpenAPIV31SpecValidator)


def test_every_api_route_and_page_is_an_operation_and_static_files_are_not(
    web: OnboardingWeb,
) -> None:
    document = web.openapi()
    operations = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    expected = {
        (route.path, route.method)
        for route in web.routes
        if route.api or route.media_type == "text/html"
    }
    assert operations == expected
    assert ("/static/{name}", "GET") not in operations
    assert ("/{tenant}/theme.css", "GET") not in operations
    assert ("/api/openapi.json", "GET") not in operations


def test_operations_are_named_and_described_by_their_routes(web: OnboardingWeb) -> None:
    document = web.openapi()
    ids = []
    for route in web.routes:
        if not (route.api or route.media_type == "text/html"):
            continue
        operation = _operation(document, route.method, route.path)
        assert operation["operationId"] == route.name
        assert operation["summary"] == route.summary
        assert operation.get("description", "") == route.description
        assert operation.get("tags", []) == list(route.tags)
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))


def test_path_and_query_parameters_are_documented(web: OnboardingWeb) -> None:
    document = web.openapi()
    for route in web.routes:
        if not (route.api or route.media_type == "text/html"):
            continue
        parameters = _operation(document, route.method, route.path).get("parameters", [])
        assert [(p["name"], p["in"], p["required"]) for p in parameters] == [
            *((name, "path", True) for name in route.parameters),
            *((name, "query", False) for name in route.query),
        ], route.name


def test_json_bodies_are_documented(web: OnboardingWeb) -> None:
    document = web.openapi()
    with_body = [route for route in web.routes if route.request_schema is not None]
    assert with_body
    for route in with_body:
        body = _operation(document, route.method, route.path)["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == route.request_schema


def test_every_documented_answer_is_there_and_errors_share_one_schema(web: OnboardingWeb) -> None:
    document = web.openapi()
    assert document["components"]["schemas"] == {ERROR_SCHEMA_NAME: ERROR_SCHEMA}
    for route in web.routes:
        if not route.api:
            continue
        responses = _operation(document, route.method, route.path)["responses"]
        assert set(responses) == {str(status) for status in route.responses}, route.name
        for status, (description, schema) in route.responses.items():
            answer = responses[str(status)]
            assert answer["description"] == description
            if status >= 400:
                assert answer["content"] == {"application/json": {"schema": ERROR_REF}}
            elif schema is not None:
                assert answer["content"]["application/json"]["schema"] == schema


def test_pages_answer_html_or_a_redirect(web: OnboardingWeb) -> None:
    document = web.openapi()
    login_page = _operation(document, "GET", "/{tenant}/login")["responses"]
    assert login_page["200"]["content"] == {"text/html": {"schema": {"type": "string"}}}
    login = _operation(document, "POST", "/{tenant}/login")["responses"]
    assert set(login) == {"303", "4XX"}


def test_the_mount_is_the_server_and_title_and_version_are_the_callers(
    web: OnboardingWeb,
) -> None:
    document = web.openapi("/onboarding/", title="Portal sign-up", version="2.1")
    assert document["servers"] == [{"url": "/onboarding"}]
    assert document["info"] == {"title": "Portal sign-up", "version": "2.1"}
    assert "/{tenant}/api/register" in document["paths"]
    assert "servers" not in web.openapi()


def test_each_call_gives_a_fresh_document(web: OnboardingWeb) -> None:
    first = web.openapi()
    first["components"]["schemas"][ERROR_SCHEMA_NAME]["type"] = "string"
    _operation(first, "POST", "/{tenant}/api/register")["requestBody"].clear()
    second = web.openapi()
    assert second["components"]["schemas"][ERROR_SCHEMA_NAME] == ERROR_SCHEMA
    assert _operation(second, "POST", "/{tenant}/api/register")["requestBody"]


def test_a_single_tenant_document_has_no_tenant_id_in_its_paths(single: Site) -> None:
    paths = single.web.openapi()["paths"]
    assert "/api/register" in paths
    assert "/login" in paths
    assert "/" in paths
    assert not [path for path in paths if "{tenant}" in path]
    assert "parameters" not in paths["/api/register"]["post"]


def test_the_core_serves_its_document_at_openapi_json(web: OnboardingWeb) -> None:
    answer = web.handle(WebRequest("GET", "/api/openapi.json", root_path="/onboarding"))
    assert answer.status == 200
    assert answer.media_type == "application/vnd.oai.openapi+json"
    assert json.loads(answer.body) == web.openapi("/onboarding")


def test_openapi_json_is_no_tenant_and_answers_head(web: OnboardingWeb) -> None:
    head = web.handle(WebRequest("HEAD", "/api/openapi.json"))
    assert head.status == 200
    assert head.body == b""
    assert web.handle(WebRequest("POST", "/api/openapi.json")).status == 405


def test_a_single_tenant_mount_serves_its_document_too(single: Site) -> None:
    answer = single.browser().get("/api/openapi.json")
    assert answer.status == 200
    assert "/api/register" in json.loads(answer.body)["paths"]
