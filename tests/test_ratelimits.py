"""Rate limits: configuration, counting per client address and email, backends, outages."""

from __future__ import annotations

import ipaddress
import logging
import multiprocessing
import re
import secrets
import socket
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

import ratelimit_processes
from onboardkit import schema
from onboardkit.errors import ConfigurationError
from onboardkit.ratelimits import (
    ACTIONS,
    DEFAULT_LIMITS,
    UNKNOWN_CLIENT,
    RateLimit,
    RateLimitBackendError,
    RateLimited,
    RateLimiter,
    RateLimits,
    RateLimitUnavailable,
    RedisRateLimitBackend,
    SqlRateLimitBackend,
    client_bucket,
    window_start,
)
from onboardkit.testing import FrozenClock
from onboardkit.testing.ratelimits import MemoryRateLimitBackend, RateLimitBackendContract

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DOCS = Path(__file__).parent.parent / "docs" / "rate-limits.md"
# The start of a 3600-second window (and so of every shorter window dividing it).
START = 1_800_000_000 - 1_800_000_000 % 3600
EMAIL = "ada@example.org"
IP = "192.0.2.10"


# -- helpers and fixtures --------------------------------------------------------------------


def _limits(*limits: RateLimit, fail_open: frozenset[str] = frozenset()) -> RateLimits:
    return RateLimits(limits, fail_open)


def _limiter(
    *limits: RateLimit, clock: FrozenClock | None = None, backend: object = None
) -> tuple[RateLimiter, FrozenClock]:
    clock = clock or FrozenClock(float(START))
    return RateLimiter(_limits(*limits), backend or MemoryRateLimitBackend(), clock), clock


def _allowed(limiter: RateLimiter, attempts: int, action: str = "login", **values: str) -> int:
    through = 0
    for _ in range(attempts):
        try:
            limiter.check(action, **values)
        except RateLimited:
            continue
        through += 1
    return through


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sql_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    schema.metadata.create_all(engine, tables=[schema.rate_limits])
    return engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = _sql_engine(f"sqlite:///{tmp_path / 'limits.db'}")
    yield engine
    engine.dispose()


SQL_DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"onboardkit-test-{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    found = list(client.scan_iter(match=prefix + "*"))
    if found:
        client.delete(*found)
    client.close()


# -- configuration ---------------------------------------------------------------------------


def test_defaults_limit_every_action_per_client_address_and_per_email():
    limits = RateLimits.defaults()
    assert {(limit.action, limit.scope) for limit in limits.limits} == {
        (action, scope) for action in ACTIONS for scope in ("ip", "email")
    }
    assert RateLimit("login", "email", 10, 300) in limits.limits
    assert RateLimit("login", "ip", 50, 300) in limits.limits


def test_by_default_sign_up_steps_fail_open_and_login_and_partner_codes_fail_closed():
    assert RateLimits.defaults().fail_open == {"register", "resend", "activation"}


def test_a_setting_replaces_only_its_own_default():
    limits = RateLimits.from_mapping({"login": {"email": {"limit": 3}}})
    assert RateLimit("login", "email", 3, 300) in limits.limits
    assert RateLimit("login", "ip", 50, 300) in limits.limits
    assert RateLimit("register", "email", *DEFAULT_LIMITS["register", "email"]) in limits.limits


def test_a_scope_set_to_false_is_not_limited():
    limits = RateLimits.from_mapping({"partner_code": {"email": False}})
    assert [limit.scope for limit in limits.for_action("partner_code")] == ["ip"]


def test_the_failure_policy_is_chosen_per_action():
    limits = RateLimits.from_mapping(
        {"login": {"on_backend_failure": "allow"}, "register": {"on_backend_failure": "deny"}}
    )
    assert "login" in limits.fail_open
    assert "register" not in limits.fail_open


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"logon": {}}, "rate_limits.logon"),
        ({"login": []}, "rate_limits.login"),
        ({"login": {"phone": {}}}, "rate_limits.login.phone"),
        ({"login": {"email": 5}}, "rate_limits.login.email"),
        ({"login": {"email": True}}, "rate_limits.login.email"),
        ({"login": {"email": {"per": 60}}}, "rate_limits.login.email.per"),
        ({"login": {"email": {"limit": 0}}}, "rate_limits.login.email.limit"),
        ({"login": {"email": {"limit": True}}}, "rate_limits.login.email.limit"),
        ({"login": {"email": {"limit": "10"}}}, "rate_limits.login.email.limit"),
        ({"login": {"ip": {"window": 0}}}, "rate_limits.login.ip.window"),
        ({"login": {"ip": {"window": 1.5}}}, "rate_limits.login.ip.window"),
        ({"login": {"ip": {"window": 8 * 24 * 3600}}}, "rate_limits.login.ip.window"),
        ({"login": {"on_backend_failure": "open"}}, "rate_limits.login.on_backend_failure"),
    ],
)
def test_a_wrong_setting_names_its_exact_key(config, key):
    with pytest.raises(ConfigurationError) as caught:
        RateLimits.from_mapping(config)
    assert caught.value.params["key"] == key


def test_the_section_must_be_a_table():
    with pytest.raises(ConfigurationError) as caught:
        RateLimits.from_mapping([])  # type: ignore[arg-type]
    assert caught.value.params["key"] == "rate_limits"


def test_an_action_has_at_most_one_limit_per_scope():
    with pytest.raises(ValueError, match="one limit per scope"):
        _limits(RateLimit("login", "ip", 5, 60), RateLimit("login", "ip", 50, 3600))


_SETTING_NAMES = st.sampled_from(
    [*ACTIONS, "ip", "email", "limit", "window", "on_backend_failure", "allow", "deny", "x"]
)
_SETTING_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**7) | st.floats() | _SETTING_NAMES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_SETTING_NAMES, inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(_SETTING_NAMES, _SETTING_VALUES, max_size=4))
def test_any_configuration_is_either_limits_or_a_configuration_error(config):
    try:
        limits = RateLimits.from_mapping(config)
    except ConfigurationError as error:
        key = str(error.params["key"])
    else:
        key = "rate_limits"
        assert all(limit.action in ACTIONS for limit in limits.limits)
    assert key.startswith("rate_limits")


@given(
    st.sampled_from(ACTIONS),
    st.sampled_from(["ip", "email"]),
    st.integers(1, 1_000_000),
    st.integers(1, 7 * 24 * 3600),
)
def test_every_valid_limit_is_configured_as_given(action, scope, limit, window):
    limits = RateLimits.from_mapping({action: {scope: {"limit": limit, "window": window}}})
    assert RateLimit(action, scope, limit, window) in limits.limits


def test_the_documented_examples_configure_the_same_limits():
    text = DOCS.read_text()
    [toml_example] = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    python_example = next(
        block
        for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL)
        if "from_mapping(" in block
    )
    namespace: dict[str, object] = {}
    exec(python_example, namespace)  # noqa: S102 - our own documentation
    from_toml = RateLimits.from_mapping(tomllib.loads(toml_example)["rate_limits"])
    assert namespace["limits"] == from_toml
    assert RateLimit("login", "email", 5, 600) in from_toml.limits


# -- counting --------------------------------------------------------------------------------


def test_an_email_gets_exactly_the_limit_through_in_a_window():
    limiter, _ = _limiter(RateLimit("login", "email", 3, 300))
    assert _allowed(limiter, 10, email=EMAIL) == 3


def test_a_client_address_gets_exactly_the_limit_through_in_a_window():
    limiter, _ = _limiter(RateLimit("login", "ip", 4, 300))
    assert _allowed(limiter, 10, client_address=IP) == 4


def test_the_email_limit_holds_across_client_addresses():
    limiter, _ = _limiter(RateLimit("login", "email", 3, 300), RateLimit("login", "ip", 50, 300))
    through = sum(
        _allowed(limiter, 1, email=EMAIL, client_address=f"198.51.100.{n}") for n in range(10)
    )
    assert through == 3


def test_the_client_address_limit_holds_across_emails():
    limiter, _ = _limiter(RateLimit("login", "email", 3, 300), RateLimit("login", "ip", 5, 300))
    through = sum(
        _allowed(limiter, 1, email=f"user{n}@example.org", client_address=IP) for n in range(10)
    )
    assert through == 5


def test_an_exhausted_email_leaves_other_emails_from_the_same_address_alone():
    limiter, _ = _limiter(RateLimit("login", "email", 2, 300), RateLimit("login", "ip", 50, 300))
    _allowed(limiter, 5, email=EMAIL, client_address=IP)
    assert _allowed(limiter, 2, email="grace@example.org", client_address=IP) == 2


def test_an_exhausted_client_address_leaves_the_email_free_elsewhere():
    limiter, _ = _limiter(RateLimit("login", "email", 50, 300), RateLimit("login", "ip", 2, 300))
    _allowed(limiter, 5, email=EMAIL, client_address=IP)
    assert _allowed(limiter, 2, email=EMAIL, client_address="203.0.113.5") == 2


def test_a_scope_without_a_value_is_not_limited():
    limiter, _ = _limiter(RateLimit("login", "email", 1, 300))
    assert _allowed(limiter, 5, client_address=IP) == 5


def test_actions_count_apart():
    limiter, _ = _limiter(RateLimit("login", "email", 1, 300), RateLimit("resend", "email", 1, 300))
    assert _allowed(limiter, 1, "login", email=EMAIL) == 1
    assert _allowed(limiter, 1, "resend", email=EMAIL) == 1


def test_an_unknown_action_is_refused_as_a_programming_error():
    limiter, _ = _limiter(RateLimit("login", "email", 1, 300))
    with pytest.raises(ValueError, match="logon"):
        limiter.check("logon", email=EMAIL)


def test_a_known_action_without_limits_lets_everything_through():
    limiter, _ = _limiter(RateLimit("login", "email", 1, 300))
    assert _allowed(limiter, 5, "register", email=EMAIL) == 5


def test_a_full_window_opens_again_two_windows_later():
    limiter, clock = _limiter(RateLimit("login", "email", 3, 300))
    _allowed(limiter, 3, email=EMAIL)
    clock.advance(600)
    assert _allowed(limiter, 5, email=EMAIL) == 3


def test_a_burst_at_the_end_of_a_window_is_still_felt_at_the_start_of_the_next():
    # Plain fixed windows would let the full limit through again one second later.
    limiter, clock = _limiter(RateLimit("login", "email", 10, 300))
    clock.advance(299)
    assert _allowed(limiter, 10, email=EMAIL) == 10
    clock.advance(1)
    assert _allowed(limiter, 1, email=EMAIL) == 0


def test_the_previous_window_weighs_less_as_the_window_moves_on():
    limiter, clock = _limiter(RateLimit("login", "email", 10, 300))
    assert _allowed(limiter, 10, email=EMAIL) == 10
    # 60 % into the next window, 40 % of the 10 old attempts still count: 6 more get through.
    clock.advance(300 + 180)
    assert _allowed(limiter, 10, email=EMAIL) == 6


def test_refused_attempts_count_too():
    limiter, clock = _limiter(RateLimit("login", "email", 2, 300))
    assert _allowed(limiter, 20, email=EMAIL) == 2
    # 20 counted attempts keep the next window closed until 20 x share <= 1, at 285 seconds.
    clock.advance(300 + 284)
    assert _allowed(limiter, 1, email=EMAIL) == 0


def test_reset_lets_a_refused_email_in_again():
    limiter, _ = _limiter(RateLimit("login", "email", 2, 300))
    _allowed(limiter, 5, email=EMAIL)
    limiter.reset("login", email=EMAIL)
    assert _allowed(limiter, 2, email=EMAIL) == 2


# -- the answer ------------------------------------------------------------------------------


def test_a_refused_attempt_is_a_typed_answer_with_code_and_retry_after():
    limiter, clock = _limiter(RateLimit("login", "email", 2, 300))
    clock.advance(100)
    _allowed(limiter, 2, email=EMAIL)
    with pytest.raises(RateLimited) as caught:
        limiter.check("login", email=EMAIL)
    refused = caught.value
    # The next window opens for one more attempt once 3 x share <= 1: 200 seconds into it.
    assert refused.code == "rate_limited"
    assert refused.retry_after == 200 + 200
    assert refused.params == {"retry_after": 400, "minutes": 7}
    assert refused.as_dict()["params"]["retry_after"] == 400


def test_the_refusal_speaks_german():
    assert RateLimited(125).localized("de") == (
        "Zu viele Versuche. Bitte versuchen Sie es in 3 Min. erneut."
    )
    assert RateLimited(125).message == "Too many attempts. Please try again in 3 min."


def test_retry_after_is_exactly_the_wait_for_the_next_attempt():
    def refused_after_burst() -> tuple[RateLimiter, FrozenClock, int]:
        limiter, clock = _limiter(RateLimit("login", "email", 5, 60))
        clock.advance(30.5)
        _allowed(limiter, 5, email=EMAIL)
        with pytest.raises(RateLimited) as caught:
            limiter.check("login", email=EMAIL)
        return limiter, clock, caught.value.retry_after

    limiter, clock, wait = refused_after_burst()
    clock.advance(wait)
    assert _allowed(limiter, 1, email=EMAIL) == 1
    limiter, clock, wait = refused_after_burst()
    clock.advance(wait - 1)
    assert _allowed(limiter, 1, email=EMAIL) == 0


def test_retry_after_waits_for_every_exceeded_limit():
    limiter, _ = _limiter(RateLimit("login", "email", 1, 60), RateLimit("login", "ip", 1, 3600))
    _allowed(limiter, 1, email=EMAIL, client_address=IP)
    with pytest.raises(RateLimited) as caught:
        limiter.check("login", email=EMAIL, client_address=IP)
    # With a limit of 1, the window after next is the first to let an attempt through.
    assert caught.value.retry_after == 2 * 3600


# -- keys ------------------------------------------------------------------------------------


def test_the_store_holds_digests_never_addresses(sqlite_engine):
    limiter, _ = _limiter(*RateLimits.defaults().limits, backend=SqlRateLimitBackend(sqlite_engine))
    limiter.check("register", email=EMAIL, client_address=IP)
    with sqlite_engine.connect() as connection:
        keys = connection.execute(sa.select(schema.rate_limits.c.key)).scalars().all()
    assert len(keys) == 2
    for key in keys:
        assert EMAIL not in key
        assert IP not in key
        assert re.fullmatch(r"register:(ip|email):[0-9a-f]{64}:\d+", key)


def test_a_secret_keys_the_digests():
    backend = MemoryRateLimitBackend()
    limits = _limits(RateLimit("login", "email", 1, 300))
    clock = FrozenClock(float(START))
    RateLimiter(limits, backend, clock, secret=b"k" * 32).check("login", email=EMAIL)
    # The same address under another secret is another counter.
    RateLimiter(limits, backend, clock, secret=b"j" * 32).check("login", email=EMAIL)
    with pytest.raises(RateLimited):
        RateLimiter(limits, backend, clock, secret=b"k" * 32).check("login", email=EMAIL)


def test_ipv6_addresses_of_one_64_network_share_a_limit():
    limiter, _ = _limiter(RateLimit("login", "ip", 2, 300))
    assert _allowed(limiter, 1, client_address="2001:db8:1:2::1") == 1
    assert _allowed(limiter, 1, client_address="2001:db8:1:2:ffff:ffff:ffff:ffff") == 1
    assert _allowed(limiter, 1, client_address="2001:db8:1:2:abcd::9") == 0
    assert _allowed(limiter, 1, client_address="2001:db8:1:3::1") == 1


def test_an_ipv4_address_in_ipv6_form_counts_as_the_ipv4_address():
    assert client_bucket("::ffff:192.0.2.10") == "192.0.2.10"
    assert client_bucket(" 192.0.2.10 ") == "192.0.2.10"


def test_neighbouring_ipv4_addresses_count_apart():
    assert client_bucket("192.0.2.10") != client_bucket("192.0.2.11")


@pytest.mark.parametrize("garbage", ["192.0.2.10:8080", "", "unknown", "1.2.3.4, 5.6.7.8"])
def test_what_is_not_an_ip_address_counts_in_one_shared_bucket(garbage):
    assert client_bucket(garbage) == UNKNOWN_CLIENT


@given(st.text(max_size=100))
def test_any_text_gets_a_bucket_without_error(text):
    bucket = client_bucket(text)
    assert bucket == UNKNOWN_CLIENT or ipaddress.ip_network(bucket, strict=True)


@given(st.ip_addresses(v=6), st.integers(0, 2**64 - 1))
def test_every_address_of_a_64_network_lands_in_its_bucket(address, host):
    sibling = ipaddress.IPv6Address(int(address) >> 64 << 64 | host)
    if address.ipv4_mapped is None:
        assert client_bucket(str(sibling)) == client_bucket(str(address))
        assert ipaddress.IPv6Network(client_bucket(str(address))).prefixlen == 64


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_is_its_own_bucket(address):
    assert client_bucket(str(address)) == str(address)
    assert client_bucket(f"::ffff:{address}") == str(address)


# -- the limit as a property -----------------------------------------------------------------

# A step is an attempt (by one of two emails from one of two addresses) or a clock advance in
# tenths of a second.
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("attempt"), st.integers(0, 1), st.integers(0, 1)),
        st.tuples(st.just("advance"), st.integers(0, 900), st.just(0)),
    ),
    max_size=200,
)
_PROPERTY_LIMITS = (
    st.tuples(st.integers(1, 6), st.sampled_from([1, 7, 60]))
    .flatmap(
        lambda email: st.tuples(st.just(email), st.integers(1, 6), st.sampled_from([1, 10, 45]))
    )
    .map(
        lambda chosen: (
            RateLimit("login", "email", *chosen[0]),
            RateLimit("login", "ip", chosen[1], chosen[2]),
        )
    )
)


def _run(limits, steps, offset, *, stop_at_refusal):
    """Run ``steps``: the limiter, its clock, the attempts let through and the first refusal."""
    limiter, clock = _limiter(*limits, clock=FrozenClock(START + offset / 10))
    through: list[tuple[float, str, str]] = []
    for kind, first, second in steps:
        if kind == "advance":
            clock.advance(first / 10)
            continue
        email, address = f"user{first}@example.org", f"192.0.2.{second}"
        try:
            limiter.check("login", email=email, client_address=address)
        except RateLimited as refused:
            if stop_at_refusal:
                return limiter, clock, through, (refused, email, address)
            continue
        through.append((clock.now, email, address))
    return limiter, clock, through, None


@settings(max_examples=300)
@given(_PROPERTY_LIMITS, _STEPS, st.integers(0, 36000))
def test_no_window_ever_lets_more_than_the_limit_through(limits, steps, offset):
    _, _, through, _ = _run(limits, steps, offset, stop_at_refusal=False)
    email_limit, ip_limit = limits
    for limit, position in ((email_limit, 1), (ip_limit, 2)):
        per_window = Counter(
            (entry[position], window_start(entry[0], limit.window)) for entry in through
        )
        assert max(per_window.values(), default=0) <= limit.limit


@settings(max_examples=300)
@given(_PROPERTY_LIMITS, _STEPS, st.integers(0, 36000))
def test_after_waiting_retry_after_the_next_attempt_gets_through(limits, steps, offset):
    limiter, clock, _, refusal = _run(limits, steps, offset, stop_at_refusal=True)
    if refusal is None:
        return
    refused, email, address = refusal
    clock.advance(refused.retry_after)
    limiter.check("login", email=email, client_address=address)


@settings(max_examples=300)
@given(_PROPERTY_LIMITS, _STEPS, st.integers(0, 36000))
def test_one_second_before_retry_after_the_next_attempt_is_refused(limits, steps, offset):
    limiter, clock, _, refusal = _run(limits, steps, offset, stop_at_refusal=True)
    if refusal is None or refusal[0].retry_after == 1:
        return
    refused, email, address = refusal
    # A fraction of a second into the same second as the refusal counts as the refusal's second.
    clock.advance(refused.retry_after - 1)
    with pytest.raises(RateLimited):
        limiter.check("login", email=email, client_address=address)


# -- backends --------------------------------------------------------------------------------


class TestMemoryBackend(RateLimitBackendContract):
    @pytest.fixture
    def backend(self):
        return MemoryRateLimitBackend()


class TestSqlBackend(RateLimitBackendContract):
    """On the migrated store of each database (the table as the migrations create it)."""

    @pytest.fixture(params=SQL_DATABASES)
    def backend(self, request):
        return SqlRateLimitBackend(request.getfixturevalue(f"{request.param}_store").engine)


class TestSqliteBackendOnAPlainEngine(RateLimitBackendContract):
    @pytest.fixture(params=["returning", "upsert-then-read"])
    def backend(self, request, sqlite_engine, monkeypatch):
        if request.param == "upsert-then-read":
            # The path SQLite before 3.35 takes (no RETURNING), on this SQLite.
            monkeypatch.setattr("onboardkit.ratelimits._sqlite_returning", lambda: False)
        return SqlRateLimitBackend(sqlite_engine)


@pytest.mark.redis
class TestRedisBackend(RateLimitBackendContract):
    @pytest.fixture
    def backend(self, redis_url, redis_prefix):
        backend = RedisRateLimitBackend(redis_url, redis_prefix)
        yield backend
        backend.close()


def test_purge_deletes_only_counters_no_window_reads_any_more(sqlite_engine):
    backend = SqlRateLimitBackend(sqlite_engine)
    backend.hit("login:email:old", 60, START)
    backend.hit("login:email:new", 60, START + 60)
    assert backend.purge(START + 120.5) == 1
    assert backend.count("login:email:old", 60, START) == 0
    assert backend.count("login:email:new", 60, START + 60) == 1


def test_the_limiter_purges_spent_sql_counters_and_nothing_elsewhere(sqlite_engine):
    clock = FrozenClock(START)
    limits = RateLimits.defaults()
    sql = RateLimiter(limits, SqlRateLimitBackend(sqlite_engine), clock)
    sql.check("login", email="ada@example.com")
    clock.advance(24 * 3600)
    assert sql.purge() == 1
    assert sql.purge() == 0
    assert RateLimiter(limits, MemoryRateLimitBackend(), clock).purge() == 0


@pytest.mark.redis
def test_redis_counters_expire_two_windows_after_their_window_began(redis_url, redis_prefix):
    backend = RedisRateLimitBackend(redis_url, redis_prefix)
    backend.hit("login:email:abc", 300, START + 100)
    backend.close()
    client = redis.Redis.from_url(redis_url)
    assert client.ttl(f"{redis_prefix}login:email:abc:{START}") == 500
    client.close()


def test_the_sql_backend_refuses_an_unsupported_database():
    engine = sa.create_mock_engine("oracle://", lambda statement, *args, **kwargs: None)
    with pytest.raises(ConfigurationError) as caught:
        SqlRateLimitBackend(engine)  # type: ignore[arg-type]
    assert caught.value.params["key"] == "rate_limits.backend"


# -- when the store is down ------------------------------------------------------------------


@pytest.fixture
def unreachable_redis() -> Iterator[RedisRateLimitBackend]:
    backend = RedisRateLimitBackend(f"redis://127.0.0.1:{_closed_port()}/0", timeout=1)
    yield backend
    backend.close()


@pytest.fixture
def unreachable_postgresql() -> Iterator[SqlRateLimitBackend]:
    engine = sa.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test",
        connect_args={"connect_timeout": 1},
    )
    yield SqlRateLimitBackend(engine)
    engine.dispose()


@pytest.mark.parametrize("store", ["unreachable_redis", "unreachable_postgresql"])
def test_login_fails_closed_when_the_store_is_unreachable(store, request):
    limiter = RateLimiter(RateLimits.defaults(), request.getfixturevalue(store))
    with pytest.raises(RateLimitUnavailable) as caught:
        limiter.check("login", email=EMAIL, client_address=IP)
    assert caught.value.code == "rate_limit.unavailable"
    assert caught.value.retry_after == 60
    assert isinstance(caught.value, RateLimited)


@pytest.mark.parametrize("store", ["unreachable_redis", "unreachable_postgresql"])
def test_partner_codes_fail_closed_when_the_store_is_unreachable(store, request):
    limiter = RateLimiter(RateLimits.defaults(), request.getfixturevalue(store))
    with pytest.raises(RateLimitUnavailable):
        limiter.check("partner_code", email=EMAIL, client_address=IP)


@pytest.mark.parametrize("store", ["unreachable_redis", "unreachable_postgresql"])
def test_registration_fails_open_with_a_warning_when_the_store_is_unreachable(
    store, request, caplog
):
    limiter = RateLimiter(RateLimits.defaults(), request.getfixturevalue(store))
    with caplog.at_level(logging.WARNING, logger="onboardkit.ratelimits"):
        limiter.check("register", email=EMAIL, client_address=IP)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "register" in record.getMessage()
    assert EMAIL not in record.getMessage()
    assert IP not in record.getMessage()


def test_the_configured_policy_lets_login_through_when_the_store_is_unreachable(
    unreachable_redis,
):
    limits = RateLimits.from_mapping({"login": {"on_backend_failure": "allow"}})
    RateLimiter(limits, unreachable_redis).check("login", email=EMAIL)


def test_the_unavailable_answer_speaks_german():
    assert RateLimitUnavailable().localized("de") == (
        "Das kann gerade nicht angenommen werden. Bitte versuchen Sie es in einigen Minuten erneut."
    )


class _IpCounterDown(MemoryRateLimitBackend):
    """Counts per email, but fails on the per-address counter once told to."""

    ip_down = False

    def hit(self, key: str, window: int, now: float) -> int:
        if self.ip_down and key.startswith("register:ip:"):
            raise RateLimitBackendError()
        return super().hit(key, window, now)


def test_a_limit_exceeded_before_the_store_failed_still_refuses():
    backend = _IpCounterDown()
    limiter = RateLimiter(
        _limits(
            RateLimit("register", "email", 1, 300),
            RateLimit("register", "ip", 9, 300),
            fail_open=frozenset({"register"}),
        ),
        backend,
        FrozenClock(float(START)),
    )
    limiter.check("register", email=EMAIL, client_address=IP)
    backend.ip_down = True
    with pytest.raises(RateLimited) as caught:
        limiter.check("register", email=EMAIL, client_address=IP)
    assert type(caught.value) is RateLimited


def test_counts_tell_support_staff_how_often_someone_tried():
    limiter, _ = _limiter(RateLimit("login", "email", 2, 300), RateLimit("login", "ip", 9, 300))
    _allowed(limiter, 5, email=EMAIL, client_address=IP)
    assert limiter.counts("login", email=EMAIL, client_address=IP) == {"email": 5, "ip": 5}
    assert limiter.counts("login", email="grace@example.org") == {"email": 0}


# -- across processes ------------------------------------------------------------------------

_PROCESSES, _ATTEMPTS, _LIMIT = 4, 30, 50


def _hammer_from_processes(store: tuple[str, str, str], email: str) -> int:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(_PROCESSES)
    results = context.Queue()
    arguments = (store, email, _ATTEMPTS, _LIMIT, float(START), barrier, results)
    workers = [
        context.Process(target=ratelimit_processes.hammer, args=arguments)
        for _ in range(_PROCESSES)
    ]
    for worker in workers:
        worker.start()
    through = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return sum(through)


@pytest.fixture(params=[*SQL_DATABASES, pytest.param("redis", marks=pytest.mark.redis)])
def shared_store(request):
    """A store several processes can reach: (kind, url, redis prefix), and a backend on it."""
    if request.param == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        backend = RedisRateLimitBackend(url, prefix)
        yield ("redis", url, prefix), backend
        backend.close()
        return
    engine = request.getfixturevalue(f"{request.param}_store").engine
    url = engine.url.render_as_string(hide_password=False)
    yield ("sql", url, ""), SqlRateLimitBackend(engine)


def test_processes_hammering_one_key_count_every_hit_and_let_exactly_the_limit_through(
    shared_store,
):
    store, backend = shared_store
    email = f"{secrets.token_hex(4)}@example.org"
    assert _hammer_from_processes(store, email) == _LIMIT
    counts = ratelimit_processes.limiter(backend, _LIMIT, float(START)).counts("login", email=email)
    assert counts == {"email": _PROCESSES * _ATTEMPTS}
