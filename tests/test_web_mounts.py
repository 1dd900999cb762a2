"""The start-up check that each tenant's base URL (where mailed links lead) is where the pages
are mounted: multi-tenant at mount + "/<tenant id>", single-tenant at the mount itself."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from onboarding_helpers import CONFIG, SECRET
from onboardkit.errors import ConfigurationError
from onboardkit.onboarding import Onboarding
from onboardkit.sqlstore import SqlStore
from onboardkit.tenants import Tenants
from onboardkit.testing import FrozenClock, make_plugins
from onboardkit.testing.passwords import CheapTestHasher
from onboardkit.web import OnboardingWeb
from onboardkit.web.mounts import BaseUrlMismatch
from onboardkit.web.wsgi import OnboardingWSGI


def _tenants(**base_urls: str) -> Tenants:
    config: dict[str, Any] = {}
    for tenant_id, base_url in base_urls.items():
        config[tenant_id] = copy.deepcopy(CONFIG[tenant_id])
        config[tenant_id]["base_url"] = base_url
    return Tenants.from_mapping({"tenants": config})


@pytest.fixture
def make_web(memory_store: SqlStore) -> Iterator[Any]:
    services: list[Onboarding] = []

    def make(tenant: str | None = None, **base_urls: str) -> OnboardingWeb:
        service = Onboarding(
            _tenants(**base_urls),
            memory_store,
            secret=SECRET,
            plugins=make_plugins(),
            hasher=CheapTestHasher(),
            clock=FrozenClock(),
        )
        services.append(service)
        return OnboardingWeb(service, secret=SECRET, tenant=tenant)

    yield make
    for service in services:
        service.close()


@pytest.mark.parametrize("mount", ["/onboarding", "/onboarding/"])
def test_multi_tenant_base_urls_at_mount_and_tenant_id_pass(make_web: Any, mount: str) -> None:
    web = make_web(
        pim="https://pim.example.com/onboarding/pim",
        dam="https://dam.example.com/onboarding/dam/",  # a trailing slash is the same place
    )
    web.check_mount(mount)


@pytest.mark.parametrize("mount", ["", "/"])
def test_at_the_root_the_base_url_path_is_the_tenant_id(make_web: Any, mount: str) -> None:
    make_web(pim="https://pim.example.com/pim").check_mount(mount)


def test_percent_encoded_paths_compare_decoded(make_web: Any) -> None:
    make_web(pim="https://pim.example.com/on%62oarding/pim").check_mount("/onboarding")


def test_a_multi_tenant_mismatch_names_the_setting_and_the_expected_path(make_web: Any) -> None:
    web = make_web(
        pim="https://pim.example.com/onboarding/pim",
        dam="https://dam.example.com/dam",
    )
    with pytest.raises(BaseUrlMismatch) as raised:
        web.check_mount("/onboarding")
    error = raised.value
    assert isinstance(error, ConfigurationError)
    assert error.code == "mounts.base_url_mismatch"
    assert error.params["key"] == "tenants.dam.base_url"
    assert error.params["expected"] == "/onboarding/dam"
    assert error.params["path"] == "/dam"
    assert "tenants.dam.base_url" in str(error)
    assert "'/onboarding/dam'" in str(error)
    assert "tenants.dam.base_url" in error.localized("de")
    assert error.localized("de").startswith("Die Einstellung")


def test_the_host_of_a_base_url_is_not_compared(make_web: Any) -> None:
    """A proxy may serve the pages under another name; only the path decides the links' pages."""
    make_web(pim="https://portal.example.org/onboarding/pim").check_mount("/onboarding")


def test_the_base_url_at_the_mount_itself_is_wrong_for_many_tenants(make_web: Any) -> None:
    web = make_web(pim="https://pim.example.com/onboarding")
    with pytest.raises(BaseUrlMismatch) as raised:
        web.check_mount("/onboarding")
    assert raised.value.params["expected"] == "/onboarding/pim"


@pytest.mark.parametrize("mount", ["/onboarding", "/onboarding/"])
def test_a_single_tenant_base_url_is_the_mount(make_web: Any, mount: str) -> None:
    web = make_web(
        "pim", pim="https://pim.example.com/onboarding/", dam="https://dam.example.com/x"
    )
    web.check_mount(mount)  # dam is not served here, so its base URL does not matter


def test_a_single_tenant_at_the_root_has_a_base_url_without_path(make_web: Any) -> None:
    make_web("pim", pim="https://pim.example.com").check_mount("")
    make_web("pim", pim="https://pim.example.com/").check_mount("/")


def test_a_single_tenant_mismatch_expects_the_mount(make_web: Any) -> None:
    web = make_web("pim", pim="https://pim.example.com/onboarding/pim")
    with pytest.raises(BaseUrlMismatch) as raised:
        web.check_mount("/onboarding")
    assert raised.value.params["key"] == "tenants.pim.base_url"
    assert raised.value.params["expected"] == "/onboarding"


def test_a_single_tenant_at_the_root_expects_the_root(make_web: Any) -> None:
    web = make_web("pim", pim="https://pim.example.com/onboarding")
    with pytest.raises(BaseUrlMismatch) as raised:
        web.check_mount("")
    assert raised.value.params["expected"] == "/"
    assert raised.value.params["root_path"] == "/"


def test_a_mount_that_is_not_a_path_is_refused(make_web: Any) -> None:
    web = make_web(pim="https://pim.example.com/onboarding/pim")
    with pytest.raises(ConfigurationError) as raised:
        web.check_mount("onboarding")
    assert raised.value.code == "mounts.root_path_invalid"


def test_the_wsgi_app_checks_its_mount_at_construction(make_web: Any) -> None:
    web = make_web(pim="https://pim.example.com/onboarding/pim")
    OnboardingWSGI(web, root_path="/onboarding")
    with pytest.raises(BaseUrlMismatch) as raised:
        OnboardingWSGI(web, root_path="/portal")
    assert raised.value.params["expected"] == "/portal/pim"
    with pytest.raises(BaseUrlMismatch):
        OnboardingWSGI(web)
