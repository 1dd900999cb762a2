"""System checks report each misconfiguration with its own id and the setting to change."""

from __future__ import annotations

from pathlib import Path

import pytest
import settings as django_settings_module
from django.core.checks import CheckMessage
from django.db import connections
from onboardkit_django.checks import check_onboardkit

HERE = Path(__file__).resolve().parent


def run_checks() -> list[CheckMessage]:
    """The app's checks (Django's own model checks ask MariaDB's server for its version)."""
    return list(check_onboardkit(app_configs=None, databases=None))


def ids() -> list[str]:
    return [message.id or "" for message in run_checks() if message.id]


def onboardkit_ids() -> list[str]:
    return [found for found in ids() if found.startswith("onboardkit.")]


def test_the_check_is_registered_with_django() -> None:
    from django.core.checks import registry

    assert check_onboardkit in registry.registry.get_checks()


def test_the_test_project_has_no_errors() -> None:
    assert [found for found in onboardkit_ids() if ".E" in found] == []


def test_a_missing_secret_is_reported(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ONBOARDKIT_SECRET_KEY", raising=False)
    settings.ONBOARDKIT = {"CONFIG": HERE / "onboardkit.toml"}
    found = [m for m in run_checks() if m.id == "onboardkit.E003"]
    assert len(found) == 1
    assert "ONBOARDKIT_SECRET_KEY" in found[0].msg
    assert "ONBOARDKIT_SECRET_KEY" in (found[0].hint or "")


def test_an_unknown_key_of_the_setting_is_reported(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "SESSION": "host"}
    found = [m for m in run_checks() if m.id == "onboardkit.E001"]
    assert len(found) == 1
    assert 'ONBOARDKIT["SESSION"]' in found[0].msg


def test_a_wrong_key_in_the_toml_file_is_reported_by_its_name(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "onboardkit.toml"
    text = (HERE / "onboardkit.toml").read_text().replace('roles = ["customer"]', "roles = 7")
    config.write_text(text)
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "CONFIG": config}
    found = [m for m in run_checks() if m.id == "onboardkit.E002"]
    assert len(found) == 1
    assert "tenants.shop.roles" in found[0].msg


def test_sqlite_without_immediate_transactions_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    deferred = {**django_settings_module.SQLITE, "OPTIONS": {}}
    monkeypatch.setitem(connections.settings, "default", deferred)
    found = [m for m in run_checks() if m.id == "onboardkit.E004"]
    assert len(found) == 1
    assert '"transaction_mode": "IMMEDIATE"' in (found[0].hint or "")


def test_a_server_database_needs_no_transaction_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(connections.settings, "default", django_settings_module.SERVERS["mariadb"])
    assert "onboardkit.E004" not in onboardkit_ids()


def test_a_base_url_that_does_not_match_the_mount_is_reported(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "onboardkit.toml"
    text = (HERE / "onboardkit.toml").read_text().replace("/onboarding/pim", "/portal/pim")
    config.write_text(text)
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "CONFIG": config}
    found = [m for m in run_checks() if m.id == "onboardkit.E005"]
    assert len(found) == 1
    assert "tenants.pim.base_url" in found[0].msg
    assert "/onboarding/pim" in found[0].msg


def test_urls_that_are_not_included_are_reported(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ROOT_URLCONF = "no_onboarding_urls"
    assert "onboardkit.W001" in onboardkit_ids()


def test_host_sessions_without_djangos_session_middleware_are_reported(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if "SessionMiddleware" not in name]
    assert "onboardkit.E006" in onboardkit_ids()
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "SESSIONS": "cookie"}
    assert "onboardkit.E006" not in onboardkit_ids()


def test_a_missing_authentication_backend_is_a_warning(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert "onboardkit.W002" in onboardkit_ids()


def test_a_user_mapping_that_cannot_be_imported_is_reported(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ONBOARDKIT = {**settings.ONBOARDKIT, "USER_MAPPING": "nowhere.Mapping"}
    found = [m for m in run_checks() if m.id == "onboardkit.E001"]
    assert len(found) == 1
    assert "nowhere.Mapping" in found[0].msg
