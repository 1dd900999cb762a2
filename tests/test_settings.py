"""Settings: one deployment's configuration from TOML and the environment, checked by exact key."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from onboardkit.errors import ConfigurationError
from onboardkit.ratelimits import RateLimited, RateLimiter
from onboardkit.settings import (
    DEFAULT_DATABASE_URL,
    RATE_LIMIT_LABEL,
    Settings,
    build_onboarding,
    build_outbox_worker,
    build_rate_limiter,
    build_transport,
    derive_secret,
    secret_key_problem,
)
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import InMemoryStore, MemoryRateLimitBackend, make_plugins
from onboardkit.transports import FolderTransport, parse_sender

EXAMPLE = Path(__file__).parent.parent / "examples" / "onboardkit.toml"
CONFIGURATION_DOC = Path(__file__).parent.parent / "docs" / "configuration.md"
SECRET = secrets.token_urlsafe(32)
NO_ENV: dict[str, str] = {}


def tenant(**overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "name": "PIM Portal",
        "base_url": "https://pim.example.com/onboarding",
        "sender": "no-reply@pim.example.com",
        "flows": ["registration"],
        "roles": ["viewer", "editor"],
        "review": {"required": True, "reviewers": ["review@pim.example.com"]},
    }
    table.update(overrides)
    return table


def config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"secret_key": SECRET, "tenants": {"pim": tenant()}}
    data.update(overrides)
    return data


@pytest.fixture
def sql_store() -> Iterator[SqlStore]:
    """An in-memory SQLite store, disposed after the test (Python 3.13 warns about leaks)."""
    store = SqlStore.from_url("sqlite://")
    yield store
    store.dispose()


def key_of(error: pytest.ExceptionInfo[ConfigurationError]) -> str:
    return str(error.value.params["key"])


def load(data: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    return Settings.from_mapping(data, environ=NO_ENV if environ is None else environ)


# -- defaults -----------------------------------------------------------------------------------


def test_a_minimal_configuration_uses_the_embedded_sqlite_default():
    settings = load(config())
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///onboardkit.sqlite3"
    assert settings.database_backend == "sqlite"
    assert settings.rate_limit_backend == "database"
    assert list(settings.tenants) == ["pim"]
    assert settings.mail.transport is None


def test_unknown_top_level_setting_is_named():
    with pytest.raises(ConfigurationError) as error:
        load(config(databse_url="sqlite://"))
    assert key_of(error) == "databse_url"


# -- the secret key ---------------------------------------------------------------------------


def test_secret_key_is_required():
    data = config()
    del data["secret_key"]
    with pytest.raises(ConfigurationError) as error:
        load(data)
    assert key_of(error) == "secret_key"


def test_secret_key_shorter_than_32_characters_is_refused():
    with pytest.raises(ConfigurationError) as error:
        load(config(secret_key="a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P"))
    assert key_of(error) == "secret_key"
    assert "32" in error.value.message


def test_placeholder_secret_key_is_refused():
    with pytest.raises(ConfigurationError) as error:
        load(config(secret_key="changeme" * 5))
    assert key_of(error) == "secret_key"
    assert "placeholder" in error.value.message


def test_secret_key_from_the_environment_wins_over_the_file():
    other = secrets.token_hex(32)
    settings = load(config(), {"ONBOARDKIT_SECRET_KEY": other})
    assert settings.secret_key == other.encode()


def test_bad_secret_key_in_the_environment_names_the_variable():
    with pytest.raises(ConfigurationError) as error:
        load(config(), {"ONBOARDKIT_SECRET_KEY": "too-short"})
    assert key_of(error) == "ONBOARDKIT_SECRET_KEY"


def test_secret_key_file_is_read_relative_to_the_configuration(tmp_path: Path):
    (tmp_path / "secret").write_text(SECRET + "\n")
    data = config(secret_key_file="secret")
    del data["secret_key"]
    settings = Settings.from_mapping(data, environ=NO_ENV, base_dir=tmp_path)
    assert settings.secret_key == SECRET.encode()


def test_secret_key_and_secret_key_file_together_are_refused():
    with pytest.raises(ConfigurationError) as error:
        load(config(secret_key_file="secret"))
    assert key_of(error) == "secret_key_file"


def test_secrets_never_appear_in_the_repr_or_in_errors():
    url = "postgresql+psycopg://onboarding:db-password-123@db.internal/onboarding"
    settings = load(
        config(
            database_url=url,
            rate_limits={"backend": "redis", "redis_url": "redis://:redis-pw-456@cache:6379/0"},
            mail={
                "transport": {
                    "type": "smtp",
                    "host": "mail",
                    "username": "u",
                    "password": "smtp-pw",
                }
            },
        )
    )
    shown = repr(settings)
    for secret in (SECRET, "db-password-123", "redis-pw-456", "smtp-pw"):
        assert secret not in shown
    assert "db-password-123" not in settings.redacted_database_url
    with pytest.raises(ConfigurationError) as error:
        load(config(secret_key=SECRET[:20]))
    assert SECRET[:20] not in str(error.value) + repr(error.value)


def test_secret_key_check_names_control_characters():
    assert secret_key_problem("a\x1b[31m" + SECRET) is not None
    assert secret_key_problem(SECRET) is None


@given(st.text(max_size=80))
def test_secret_key_check_never_raises(text: str):
    problem = secret_key_problem(text)
    if len(set(text)) >= 8 and len(text) >= 32 and text.isprintable():
        assert problem is None


def test_derived_secrets_differ_by_label_and_are_stable():
    key = SECRET.encode()
    assert derive_secret(key, "a") == derive_secret(key, "a")
    assert derive_secret(key, "a") != derive_secret(key, "b")
    assert len(derive_secret(key, RATE_LIMIT_LABEL)) == 32


# -- database ---------------------------------------------------------------------------------


def test_database_url_from_the_environment_wins():
    settings = load(config(database_url="sqlite:///a.db"), {"ONBOARDKIT_DATABASE_URL": "sqlite://"})
    assert settings.database_url == "sqlite://"


@pytest.mark.parametrize("url", ["not a url", "oracle://scott@db/orcl", ""])
def test_bad_database_url_is_named(url: str):
    with pytest.raises(ConfigurationError) as error:
        load(config(database_url=url))
    assert key_of(error) == "database_url"


def test_database_table_keys_are_checked():
    with pytest.raises(ConfigurationError) as error:
        load(config(database={"pool_size": 0}))
    assert key_of(error) == "database.pool_size"
    with pytest.raises(ConfigurationError) as error:
        load(config(database={"wall": True}))
    assert key_of(error) == "database.wall"


# -- tenants ----------------------------------------------------------------------------------


def test_tenants_come_inline_or_from_a_file_not_both(tmp_path: Path):
    (tmp_path / "tenants.toml").write_text(
        '[tenants.iot]\nname = "IoT"\nbase_url = "https://iot.example.com"\n'
        'sender = "no-reply@iot.example.com"\nflows = ["invitation"]\n'
    )
    data = config(tenants_file="tenants.toml")
    with pytest.raises(ConfigurationError) as error:
        Settings.from_mapping(data, environ=NO_ENV, base_dir=tmp_path)
    assert key_of(error) == "tenants_file"
    del data["tenants"]
    settings = Settings.from_mapping(data, environ=NO_ENV, base_dir=tmp_path)
    assert list(settings.tenants) == ["iot"]


def test_missing_tenants_are_named():
    data = config()
    del data["tenants"]
    with pytest.raises(ConfigurationError) as error:
        load(data)
    assert key_of(error) == "tenants"


def test_a_tenant_problem_names_the_exact_key():
    bad = tenant(review={"required": True, "reviewers": ["not an address"]})
    with pytest.raises(ConfigurationError) as error:
        load(config(tenants={"pim": bad}))
    assert key_of(error) == "tenants.pim.review.reviewers[0]"


def test_unreadable_tenants_file_is_named(tmp_path: Path):
    data = config(tenants_file="missing.toml")
    del data["tenants"]
    with pytest.raises(ConfigurationError) as error:
        Settings.from_mapping(data, environ=NO_ENV, base_dir=tmp_path)
    assert key_of(error) == "tenants_file"


# -- mail -------------------------------------------------------------------------------------


def test_builtin_transport_is_checked_when_read():
    with pytest.raises(ConfigurationError) as error:
        load(config(mail={"transport": {"type": "smtp", "host": "mail", "port": 70000}}))
    assert key_of(error) == "mail.transport.port"


def test_plugin_transport_is_checked_once_plugins_are_loaded():
    settings = load(config(mail={"transport": {"type": "carrier-pigeon"}}))
    with pytest.raises(ConfigurationError) as error:
        build_transport(settings, make_plugins())
    assert key_of(error) == "mail.transport.type"


def test_missing_transport_is_named_when_mail_is_to_be_delivered():
    with pytest.raises(ConfigurationError) as error:
        build_transport(load(config()))
    assert key_of(error) == "mail.transport"


@pytest.mark.parametrize(
    ("outbox", "key"),
    [
        ({"batch": 0}, "mail.outbox.batch"),
        ({"lease": -1}, "mail.outbox.lease"),
        ({"max_attempts": 1.5}, "mail.outbox.max_attempts"),
        ({"backoff_base": 60, "backoff_cap": 30}, "mail.outbox.backoff_cap"),
        ({"idle_sleep": "5"}, "mail.outbox.idle_sleep"),
        ({"leese": 60}, "mail.outbox.leese"),
    ],
)
def test_outbox_options_are_checked_by_key(outbox: dict[str, Any], key: str):
    with pytest.raises(ConfigurationError) as error:
        load(config(mail={"outbox": outbox}))
    assert key_of(error) == key


def test_senders_must_name_a_tenant_and_an_address():
    with pytest.raises(ConfigurationError) as error:
        load(config(mail={"senders": {"nope": "a@example.com"}}))
    assert key_of(error) == "mail.senders.nope"
    with pytest.raises(ConfigurationError) as error:
        load(config(mail={"senders": {"pim": "a@example.com, b@example.com"}}))
    assert key_of(error) == "mail.senders.pim"
    with pytest.raises(ConfigurationError) as error:
        load(config(mail={"sender": "Portal <a@example.com>\r\nBcc: x@example.com"}))
    assert key_of(error) == "mail.sender"


def test_each_tenant_sends_as_itself_under_its_display_name():
    named = tenant(branding={"display_name": 'Acme, "PIM" Portal'})
    settings = load(config(tenants={"pim": named}))
    sender = parse_sender(settings.sender_for("pim"))
    assert sender.display_name == 'Acme, "PIM" Portal'
    assert sender.addr_spec == "no-reply@pim.example.com"


def test_configured_sender_overrides_the_tenants_own(tmp_path: Path, sql_store: SqlStore):
    settings = load(
        config(
            mail={
                "transport": {"type": "folder", "path": str(tmp_path)},
                "senders": {"pim": "Portal <portal@example.com>"},
            }
        )
    )
    worker = build_outbox_worker(settings, sql_store)
    assert worker.senders["pim"].addr_spec == "portal@example.com"
    assert isinstance(worker.transport, FolderTransport)


def test_relative_folder_transport_path_is_relative_to_the_configuration(tmp_path: Path):
    settings = Settings.from_mapping(
        config(mail={"transport": {"type": "folder", "path": "outgoing"}}),
        environ=NO_ENV,
        base_dir=tmp_path,
    )
    transport = build_transport(settings)
    assert isinstance(transport, FolderTransport)
    assert transport.path == tmp_path / "outgoing"


# -- rate limits, partners, hashing, keys -----------------------------------------------------


def test_unknown_rate_limit_backend_is_named():
    with pytest.raises(ConfigurationError) as error:
        load(config(rate_limits={"backend": "memcached"}))
    assert key_of(error) == "rate_limits.backend"


def test_redis_backend_needs_a_url():
    with pytest.raises(ConfigurationError) as error:
        load(config(rate_limits={"backend": "redis"}))
    assert key_of(error) == "rate_limits.redis_url"
    with pytest.raises(ConfigurationError) as error:
        load(config(rate_limits={"backend": "redis", "redis_url": "http://cache"}))
    assert key_of(error) == "rate_limits.redis_url"


def test_rate_limit_problem_names_the_exact_key():
    with pytest.raises(ConfigurationError) as error:
        load(config(rate_limits={"login": {"email": {"limit": 0}}}))
    assert key_of(error) == "rate_limits.login.email.limit"


def test_rate_limits_off_builds_no_limiter(sql_store: SqlStore):
    settings = load(config(rate_limits={"backend": "off"}))
    assert build_rate_limiter(settings, sql_store) is None


def test_database_rate_limits_count_in_the_store(sql_store: SqlStore):
    settings = load(config(rate_limits={"login": {"email": {"limit": 1, "window": 60}}}))
    sql_store.migrate()
    limiter = build_rate_limiter(settings, sql_store)
    assert isinstance(limiter, RateLimiter)
    limiter.check("login", email="anna@example.com")
    with pytest.raises(RateLimited):
        limiter.check("login", email="anna@example.com")


@pytest.mark.redis
def test_redis_rate_limits_count_in_redis(redis_url: str, sql_store: SqlStore):
    settings = load(
        config(
            rate_limits={
                "backend": "redis",
                "redis_url": redis_url,
                "register": {"email": {"limit": 1, "window": 60}},
            }
        )
    )
    limiter = build_rate_limiter(settings, sql_store)
    assert limiter is not None
    address = f"{secrets.token_hex(8)}@example.com"
    limiter.check("register", email=address)
    with pytest.raises(RateLimited):
        limiter.check("register", email=address)


def test_a_given_rate_limit_backend_replaces_the_configured_one(sql_store: SqlStore):
    settings = load(config(rate_limits={"login": {"email": {"limit": 1, "window": 60}}}))
    backend = MemoryRateLimitBackend()
    limiter = build_rate_limiter(settings, sql_store, backend=backend)
    assert limiter is not None
    limiter.check("login", email="anna@example.com")
    assert len(backend) == 1
    with pytest.raises(RateLimited):
        limiter.check("login", email="anna@example.com")


def test_rate_limits_off_win_over_a_given_backend():
    settings = load(config(rate_limits={"backend": "off"}))
    assert build_rate_limiter(settings, InMemoryStore(), backend=MemoryRateLimitBackend()) is None


def test_the_database_backend_on_a_store_without_sql_names_the_setting():
    settings = load(config())
    with pytest.raises(ConfigurationError) as error:
        build_rate_limiter(settings, InMemoryStore())
    assert key_of(error) == "rate_limits.backend"
    assert error.value.code == "config.invalid"
    assert "pass a rate-limit backend" in error.value.message
    assert "Ratenbegrenzung" in error.value.localized("de")


@pytest.mark.redis
def test_redis_rate_limits_need_no_sql_store(redis_url: str):
    settings = load(config(rate_limits={"backend": "redis", "redis_url": redis_url}))
    limiter = build_rate_limiter(settings, InMemoryStore())
    assert limiter is not None
    limiter.check("register", email=f"{secrets.token_hex(8)}@example.com")


def test_onboarding_is_built_on_any_store_with_its_rate_limit_backend():
    settings = load(config(rate_limits={"login": {"email": {"limit": 1, "window": 60}}}))
    store, backend = InMemoryStore(), MemoryRateLimitBackend()
    onboarding = build_onboarding(
        settings, plugins=make_plugins(), store=store, rate_limit_backend=backend
    )
    try:
        assert onboarding.store is store
        assert onboarding.limiter is not None
        onboarding.limiter.check("login", email="anna@example.com")
        assert len(backend) == 1
    finally:
        onboarding.close()


def test_onboarding_on_a_store_without_sql_needs_a_rate_limit_backend():
    with pytest.raises(ConfigurationError) as error:
        build_onboarding(load(config()), plugins=make_plugins(), store=InMemoryStore())
    assert key_of(error) == "rate_limits.backend"


def test_partner_settings_are_checked_by_key():
    with pytest.raises(ConfigurationError) as error:
        load(config(partners={"timeout": 0}))
    assert key_of(error) == "partners.timeout"
    with pytest.raises(ConfigurationError) as error:
        load(config(partners={"max_workers": True}))
    assert key_of(error) == "partners.max_workers"


def test_weak_password_hashing_is_refused_by_key():
    with pytest.raises(ConfigurationError) as error:
        load(config(password_hashing={"memory_cost": 1024, "iterations": 1}))
    assert key_of(error) == "password_hashing.memory_cost"


def test_signing_key_settings_are_checked_by_key():
    with pytest.raises(ConfigurationError) as error:
        load(config(signing_keys={"keep": 0}))
    assert key_of(error) == "signing_keys.keep"


# -- files and the environment ----------------------------------------------------------------


def test_invalid_toml_names_the_file(tmp_path: Path):
    path = tmp_path / "onboardkit.toml"
    path.write_text("database_url = \n")
    with pytest.raises(ConfigurationError) as error:
        Settings.from_toml(path, environ=NO_ENV)
    assert key_of(error) == str(path)


def test_template_folders_are_relative_to_the_file(tmp_path: Path):
    path = tmp_path / "onboardkit.toml"
    path.write_text(
        f'secret_key = "{SECRET}"\ntemplate_folders = ["mail-templates"]\n'
        '[tenants.pim]\nname = "PIM"\nbase_url = "https://pim.example.com"\n'
        'sender = "no-reply@pim.example.com"\nflows = ["invitation"]\n'
    )
    settings = Settings.from_toml(path, environ=NO_ENV)
    assert settings.template_folders == (str(tmp_path / "mail-templates"),)
    assert settings.source == path


def test_load_reads_the_file_onboardkit_config_names(tmp_path: Path):
    path = tmp_path / "deployment.toml"
    path.write_text(
        '[tenants.pim]\nname = "PIM"\nbase_url = "https://pim.example.com"\n'
        'sender = "no-reply@pim.example.com"\nflows = ["invitation"]\n'
    )
    settings = Settings.load(
        environ={"ONBOARDKIT_CONFIG": str(path), "ONBOARDKIT_SECRET_KEY": SECRET}
    )
    assert settings.source == path
    with pytest.raises(ConfigurationError) as error:
        Settings.load(environ={"ONBOARDKIT_CONFIG": str(tmp_path / "missing.toml")})
    assert key_of(error) == "ONBOARDKIT_CONFIG"


def test_configuration_errors_read_in_german():
    with pytest.raises(ConfigurationError) as error:
        load(config(secret_key="short"))
    german = error.value.localized("de")
    assert "secret_key" in german
    assert "mindestens 32 Zeichen" in german


# -- the shipped example ------------------------------------------------------------------------


def test_the_example_configuration_validates(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ONBOARDKIT_SMTP_PASSWORD", "smtp-password")
    settings = Settings.from_toml(EXAMPLE, environ={"ONBOARDKIT_SECRET_KEY": SECRET})
    assert list(settings.tenants) == ["pim", "collaboration", "iot"]
    pim, collaboration, iot = settings.tenants.values()
    assert pim.review_required
    assert {spec.name for spec in pim.fields.fields} >= {"customer_number", "employee_number"}
    assert collaboration.password_policy.profile == "composition"
    assert iot.partners_enabled
    assert iot.default_user_type == "customer_admin"
    assert settings.mail.transport_type == "smtp"
    build_transport(settings, make_plugins())


def test_the_configuration_docs_show_the_example_verbatim():
    blocks = re.findall(r"```toml\n(.*?)```", CONFIGURATION_DOC.read_text(), re.DOTALL)
    assert EXAMPLE.read_text() in blocks


# -- any input --------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "database_url",
        "database",
        "secret_key",
        "tenants",
        "mail",
        "rate_limits",
        "partners",
        "password_hashing",
        "signing_keys",
        "template_folders",
        "transport",
        "outbox",
        "backend",
        "type",
        "pim",
        "x",
    ]
)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@hypothesis_settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_any_mapping_loads_or_fails_with_a_configuration_error(data: dict[str, Any]):
    try:
        Settings.from_mapping({**config(), **data}, environ=NO_ENV)
    except ConfigurationError as error:
        key = error.params["key"]
    else:
        key = "loaded"
    assert key


# -- wiring -------------------------------------------------------------------------------------


def test_the_wired_service_applies_the_partner_settings_and_closes_its_worker_pool(tmp_path):
    settings = load(
        config(
            database_url=f"sqlite:///{tmp_path / 'onboardkit.sqlite3'}",
            partners={"timeout": 1.5, "max_workers": 2, "reject_mistyped": False},
        )
    )
    service = build_onboarding(settings, plugins=make_plugins())
    try:
        assert service.partner_codes.timeout == 1.5
        assert service.partner_codes.max_workers == 2
        assert service.partner_registry.reject_mistyped is False
    finally:
        service.close()
        service.store.dispose()
    with pytest.raises(RuntimeError):
        service.partner_codes.resolve("pim", "7K3M-Q9XR-2B4T-8HWM")
