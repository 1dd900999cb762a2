"""The core's own OpenAPI document and FastAPI's document of the same routes stay in step:
the same operations (paths x methods), parameters, bodies, answers and error schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

fastapi = pytest.importorskip("fastapi")

from fastapi import FastAPI  # noqa: E402
from onboardkit_fastapi import onboarding_router  # noqa: E402

from onboardkit.onboarding import Onboarding  # noqa: E402
from onboardkit.tenants import Tenants  # noqa: E402
from onboardkit.testing import FrozenClock, make_plugins  # noqa: E402
from onboardkit.testing.passwords import CheapTestHasher  # noqa: E402
from onboardkit.testing.store import memory_store  # noqa: E402
from onboardkit.web import OnboardingWeb  # noqa: E402

SECRET = b"onboardkit fastapi test secret, 32 bytes or more"
TENANTS = Tenants.from_mapping(
    {
        "tenants": {
            "pim": {
                "name": "PIM Portal",
                "base_url": "https://pim.example.com/onboarding",
                "sender": "no-reply@pim.example.com",
                "flows": ["registration"],
                "review": {"required": True, "reviewers": ["review@pim.example.com"]},
            },
        }
    }
)


@pytest.fixture
def onboarding() -> Iterator[Onboarding]:
    store = memory_store()
    service = Onboarding(
        TENANTS,
        store,
        secret=SECRET,
        plugins=make_plugins(),
        hasher=CheapTestHasher(),
        clock=FrozenClock(),
    )
    yield service
    service.close()
    store.dispose()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _fastapi_document(web: OnboardingWeb) -> dict[str, Any]:
    app = FastAPI()
    app.include_router(onboarding_router(web))
    document: dict[str, Any] = app.openapi()
    return document


@pytest.mark.parametrize("tenant", [None, "pim"], ids=["every tenant", "single tenant"])
def test_both_documents_have_the_same_operations(
    onboarding: Onboarding, tenant: str | None
) -> None:
    web = OnboardingWeb(onboarding, secret=SECRET, tenant=tenant)
    core = _operations(web.openapi())
    framework = _operations(_fastapi_document(web))
    assert set(core) == set(framework)


def test_both_documents_agree_on_parameters_bodies_and_api_answers(
    onboarding: Onboarding,
) -> None:
    web = OnboardingWeb(onboarding, secret=SECRET)
    core_document = web.openapi()
    framework_document = _fastapi_document(web)
    assert core_document["components"]["schemas"] == {
        name: schema
        for name, schema in framework_document["components"]["schemas"].items()
        if name == "OnboardkitError"
    }
    core = _operations(core_document)
    framework = _operations(framework_document)
    api = {(route.path, route.method.lower()) for route in web.routes if route.api}
    for key, operation in core.items():
        theirs = framework[key]
        assert operation.get("parameters", []) == theirs.get("parameters", []), key
        assert operation.get("requestBody") == theirs.get("requestBody"), key
        assert operation["summary"] == theirs["summary"], key
        if key in api:
            assert operation["responses"] == theirs["responses"], key
