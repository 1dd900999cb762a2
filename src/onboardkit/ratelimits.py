"""Rate limits: how many attempts a client address and an email address may make, and when.

Registration, resending a confirmation mail, the email-first activation, login and partner-code
entry are each limited twice: per client address (``ip``) and per canonical email address
(``email``). :class:`RateLimiter` counts every attempt under every limit that applies and raises
:class:`RateLimited` (code ``rate_limited``, with ``retry_after`` in seconds) when any of them is
exceeded::

    limiter = RateLimiter(RateLimits.from_mapping(config["rate_limits"]), backend)
    limiter.check("login", client_address=request.remote_addr, email=address.canonical)

Counting: a *sliding window approximated by two fixed windows*. Counters live in fixed windows
aligned to the epoch (whole seconds); an attempt is let through when

    previous window's count x (share of the sliding window still inside it) + current count

is at most the limit. The current count alone never exceeds the limit for an attempt that gets
through, so no fixed window lets more than ``limit`` attempts through; and unlike plain fixed
windows, a burst at the end of one window is still felt at the start of the next. Every attempt
counts, refused ones too: a client that keeps trying while limited stays limited.

Counters live in a :class:`RateLimitBackend` that counts atomically across processes:
:class:`SqlRateLimitBackend` (SQLite, PostgreSQL, MariaDB; the ``onboardkit_rate_limits`` table)
or :class:`RedisRateLimitBackend`. Keys hold SHA-256 digests (or, with a secret, HMAC-SHA-256
digests), never the addresses themselves.

When the backend cannot be reached, each action either lets attempts through with a logged warning
(fail open: registration, resend, activation) or refuses them with :class:`RateLimitUnavailable`
(fail closed: login, partner codes).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from onboardkit import schema
from onboardkit.clock import Clock, system_clock
from onboardkit.errors import ConfigurationError, OnboardkitError, message

if TYPE_CHECKING:
    import redis

__all__ = [
    "ACTIONS",
    "DEFAULT_LIMITS",
    "FAIL_OPEN_BY_DEFAULT",
    "SCOPES",
    "UNKNOWN_CLIENT",
    "RateLimit",
    "RateLimitBackend",
    "RateLimitBackendError",
    "RateLimitUnavailable",
    "RateLimited",
    "RateLimiter",
    "RateLimits",
    "RedisRateLimitBackend",
    "Scope",
    "SqlRateLimitBackend",
    "client_bucket",
    "window_start",
]

log = logging.getLogger(__name__)

Scope = Literal["ip", "email"]
SCOPES: Final[tuple[Scope, ...]] = ("ip", "email")

#: The actions onboardkit limits. ``activation`` is the first step of the email-first sign-up
#: (an address is entered and an activation mail goes out).
ACTIONS: Final = ("register", "resend", "activation", "login", "partner_code")

_HOUR: Final = 3600
_FIVE_MINUTES: Final = 300

#: ``(action, scope) -> (limit, window in seconds)``. Mail-sending actions are tight per address
#: (mail bombing of a third party) and generous per client address (an office behind one NAT
#: signs up together); login follows NIST SP 800-63B's advice to throttle guessing per account.
DEFAULT_LIMITS: Final[Mapping[tuple[str, Scope], tuple[int, int]]] = {
    ("register", "ip"): (50, _HOUR),
    ("register", "email"): (5, _HOUR),
    ("resend", "ip"): (20, _HOUR),
    ("resend", "email"): (3, _HOUR),
    ("activation", "ip"): (50, _HOUR),
    ("activation", "email"): (5, _HOUR),
    ("login", "ip"): (50, _FIVE_MINUTES),
    ("login", "email"): (10, _FIVE_MINUTES),
    ("partner_code", "ip"): (20, _HOUR),
    ("partner_code", "email"): (10, _HOUR),
}

#: Actions that let attempts through when the backend is down. Losing a sign-up costs more than
#: a short spell without limits; a login or partner code must never be guessable without limit.
FAIL_OPEN_BY_DEFAULT: Final = frozenset({"register", "resend", "activation"})

#: The bucket shared by every client address that is not an IP address.
UNKNOWN_CLIENT: Final = "unknown"

_MAX_LIMIT: Final = 1_000_000
_MAX_WINDOW: Final = 7 * 24 * _HOUR
_ACTION_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FAILURE_POLICIES: Final = {"allow": True, "deny": False}
_UNAVAILABLE_RETRY_AFTER: Final = 60

# -- messages --------------------------------------------------------------------------------


class RateLimited(OnboardkitError):
    """Too many attempts; ``params['retry_after']`` says after how many seconds to try again.

    ``params['minutes']`` is the same wait in whole minutes, rounded up, for the text. Map it to
    HTTP 429 with a ``Retry-After`` header.
    """

    default_message = message(
        "rate_limited", "Too many attempts. Please try again in {minutes} min."
    )

    def __init__(self, retry_after: int) -> None:
        wait = max(1, int(retry_after))
        super().__init__(retry_after=wait, minutes=math.ceil(wait / 60))

    @property
    def retry_after(self) -> int:
        wait: int = self.params["retry_after"]
        return wait


class RateLimitUnavailable(RateLimited):
    """The limits cannot be checked (backend down) and the action fails closed.

    A :class:`RateLimited`, so code that handles one handles both; its own code says why.
    """

    default_message = message(
        "rate_limit.unavailable",
        "This cannot be accepted right now. Please try again in a few minutes.",
    )

    def __init__(self) -> None:
        super().__init__(_UNAVAILABLE_RETRY_AFTER)


class RateLimitBackendError(OnboardkitError):
    """A backend could not count: its database or Redis is unreachable or failed.

    Backends raise this (with the driver's error as ``__cause__``) instead of driver errors, so
    the limiter applies the failure policy to outages and nothing else.
    """

    default_message = message(
        "rate_limit.backend_failed", "The rate-limit store cannot be reached."
    )


# -- limits ----------------------------------------------------------------------------------


def _check_action(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _ACTION_NAME.fullmatch(value):
        raise ValueError("an action is 1 to 32 lower-case letters, digits or underscores")


def _check_positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a whole number of at least 1")


@attrs.frozen
class RateLimit:
    """At most ``limit`` attempts of ``action`` per ``window`` seconds and per ``scope`` value."""

    action: str = attrs.field(validator=_check_action)
    scope: Scope = attrs.field(validator=attrs.validators.in_(SCOPES))
    limit: int = attrs.field(validator=_check_positive)
    #: Whole seconds; windows are aligned to the epoch.
    window: int = attrs.field(validator=_check_positive)


def _config_int(data: Mapping[str, Any], name: str, key: str, maximum: int, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ConfigurationError(
            key=f"{key}.{name}", reason=f"must be a whole number from 1 to {maximum}"
        )
    return value


def _refuse_unknown(key: str, data: Mapping[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(str(name) for name in data if name not in set(known))
    if unknown:
        raise ConfigurationError(key=f"{key}.{unknown[0]}", reason="is not a known setting")


def _mapping(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(key=key, reason="must be a table of settings")
    return value


def _limit_tuple(limits: Iterable[RateLimit]) -> tuple[RateLimit, ...]:
    return tuple(limits)


def _name_set(actions: Iterable[str]) -> frozenset[str]:
    return frozenset(actions)


@attrs.frozen
class RateLimits:
    """Every configured :class:`RateLimit`, and which actions fail open when the backend is down."""

    limits: tuple[RateLimit, ...] = attrs.field(converter=_limit_tuple)
    fail_open: frozenset[str] = attrs.field(default=FAIL_OPEN_BY_DEFAULT, converter=_name_set)

    @limits.validator
    def _one_limit_per_scope(self, attribute: object, value: tuple[RateLimit, ...]) -> None:
        pairs = [(limit.action, limit.scope) for limit in value]
        if len(pairs) != len(set(pairs)):
            raise ValueError("each action has at most one limit per scope")

    @classmethod
    def defaults(cls) -> RateLimits:
        """onboardkit's defaults (:data:`DEFAULT_LIMITS`, :data:`FAIL_OPEN_BY_DEFAULT`)."""
        return cls.from_mapping({})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RateLimits:
        """Limits from the ``rate_limits`` section of the configuration.

        Every action and scope not mentioned keeps its default::

            [rate_limits.login]
            email = { limit = 5, window = 600 }
            ip = false                     # no limit per client address
            on_backend_failure = "deny"    # or "allow"

        :raises ConfigurationError: naming the exact key, e.g. ``rate_limits.login.email.limit``.
        """
        data = _mapping(data, "rate_limits")
        _refuse_unknown("rate_limits", data, ACTIONS)
        limits: list[RateLimit] = []
        fail_open: set[str] = set()
        for action in ACTIONS:
            key = f"rate_limits.{action}"
            section = _mapping(data.get(action, {}), key)
            _refuse_unknown(key, section, (*SCOPES, "on_backend_failure"))
            for scope in SCOPES:
                default_limit, default_window = DEFAULT_LIMITS[action, scope]
                setting = section.get(scope, {})
                if setting is False:
                    continue
                setting = _mapping(setting, f"{key}.{scope}")
                _refuse_unknown(f"{key}.{scope}", setting, ("limit", "window"))
                limit = _config_int(setting, "limit", f"{key}.{scope}", _MAX_LIMIT, default_limit)
                window = _config_int(
                    setting, "window", f"{key}.{scope}", _MAX_WINDOW, default_window
                )
                limits.append(RateLimit(action, scope, limit, window))
            policy = section.get(
                "on_backend_failure", "allow" if action in FAIL_OPEN_BY_DEFAULT else "deny"
            )
            if not isinstance(policy, str) or policy not in _FAILURE_POLICIES:
                raise ConfigurationError(
                    key=f"{key}.on_backend_failure", reason='must be "allow" or "deny"'
                )
            if _FAILURE_POLICIES[policy]:
                fail_open.add(action)
        return cls(limits, fail_open)

    @property
    def actions(self) -> frozenset[str]:
        """The actions :meth:`RateLimiter.check` accepts: onboardkit's and any configured one."""
        return frozenset(ACTIONS) | {limit.action for limit in self.limits}

    def for_action(self, action: str) -> tuple[RateLimit, ...]:
        return tuple(limit for limit in self.limits if limit.action == action)


# -- keys ------------------------------------------------------------------------------------


def client_bucket(address: str) -> str:
    """The bucket a client address counts in.

    An IPv4 address is its own bucket; an IPv6 address counts in its /64 network, because one
    subscriber usually gets a whole /64 and can pick any address in it. IPv4 addresses written as
    IPv6 (``::ffff:192.0.2.1``, as dual-stack servers report them) count as the IPv4 address.
    Anything that is not an IP address (a port appended, a garbled proxy header) counts in one
    shared bucket, :data:`UNKNOWN_CLIENT`, so that varying garbage cannot escape the limit.
    """
    text = address.strip()
    if len(text) > 64:
        return UNKNOWN_CLIENT
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return UNKNOWN_CLIENT
    if isinstance(parsed, ipaddress.IPv6Address):
        mapped = parsed.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        network = ipaddress.IPv6Network((int(parsed) >> 64 << 64, 64))
        return str(network)
    return str(parsed)


def window_start(now: float, window: int) -> int:
    """The start (whole seconds since the epoch) of the ``window``-second window holding ``now``."""
    second = math.floor(now)
    return second - second % window


# -- backends --------------------------------------------------------------------------------


class RateLimitBackend(Protocol):
    """Counters in fixed windows, shared by every process that limits the same things.

    ``key`` is ``<action>:<scope>:<digest>`` (at most 120 characters); a backend keeps one counter
    per key and window, the window being :func:`window_start` of ``now``. A counter must live at
    least two windows (the limiter reads the previous one). Backends raise
    :class:`RateLimitBackendError` when their store fails.
    """

    def hit(self, key: str, window: int, now: float) -> int:
        """Count one attempt; return the window's count including it. Atomic across processes."""
        ...

    def count(self, key: str, window: int, now: float) -> int:
        """The count of the window holding ``now``, without counting anything."""
        ...

    def reset(self, key: str) -> None:
        """Forget every window's count of ``key``."""
        ...


_T = TypeVar("_T")

#: How often a hit is tried again after a deadlock or serialization failure.
_SQL_ATTEMPTS: Final = 5


class SqlRateLimitBackend:
    """Counters in the ``onboardkit_rate_limits`` table (see :mod:`onboardkit.schema`).

    One row per key and window, ``key`` being ``<key>:<window start>``. A hit is one atomic upsert:
    ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on PostgreSQL and on SQLite 3.35 or newer,
    ``INSERT ... ON DUPLICATE KEY UPDATE`` followed by a read in the same transaction on MariaDB
    (and on older SQLite), where the row lock taken by the update keeps others out until commit.

    Rows are kept for two windows; :meth:`purge` deletes older ones. Run it now and then, such as
    from the job that delivers the outbox.
    """

    def __init__(self, engine: sa.Engine) -> None:
        dialect = engine.dialect.name
        if dialect not in ("postgresql", "sqlite", "mysql", "mariadb"):
            raise ConfigurationError(
                key="rate_limits.backend",
                reason=f"the SQL backend supports SQLite, PostgreSQL and MariaDB, not {dialect}",
            )
        self._engine = engine
        self._dialect = dialect
        self._table = schema.rate_limits

    def _run(self, work: Callable[[sa.Connection], _T]) -> _T:
        for attempt in range(_SQL_ATTEMPTS):
            try:
                with self._engine.begin() as connection:
                    return work(connection)
            except sa_exc.DBAPIError as error:
                # A deadlock between concurrent upserts of a new row (MariaDB's gap locks) rolls
                # the transaction back; trying again is the documented answer.
                if attempt + 1 < _SQL_ATTEMPTS and _is_transient(error):
                    continue
                raise RateLimitBackendError() from error
            except sa_exc.SQLAlchemyError as error:
                raise RateLimitBackendError() from error
        raise RateLimitBackendError()  # pragma: no cover - the loop returns or raises

    def hit(self, key: str, window: int, now: float) -> int:
        start = window_start(now, window)
        row_key = f"{key}:{start}"
        expires_at = float(start + 2 * window)
        return self._run(lambda connection: self._upsert(connection, row_key, expires_at))

    def _upsert(self, connection: sa.Connection, row_key: str, expires_at: float) -> int:
        table = self._table
        values = {"key": row_key, "count": 1, "expires_at": expires_at}
        if self._dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            pg_insert = postgresql.insert(table).values(values)
            pg_statement = pg_insert.on_conflict_do_update(
                index_elements=[table.c.key], set_={"count": table.c.count + 1}
            ).returning(table.c.count)
            return int(connection.execute(pg_statement).scalar_one())
        if self._dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            lite_insert = sqlite.insert(table).values(values)
            lite_statement = lite_insert.on_conflict_do_update(
                index_elements=[table.c.key], set_={"count": table.c.count + 1}
            )
            if _sqlite_returning():
                return int(connection.execute(lite_statement.returning(table.c.count)).scalar_one())
            connection.execute(lite_statement)
        else:
            from sqlalchemy.dialects import mysql

            my_insert = mysql.insert(table).values(values)
            connection.execute(my_insert.on_duplicate_key_update(count=table.c.count + 1))
        read = sa.select(table.c.count).where(table.c.key == row_key)
        return int(connection.execute(read).scalar_one())

    def count(self, key: str, window: int, now: float) -> int:
        row_key = f"{key}:{window_start(now, window)}"
        read = sa.select(self._table.c.count).where(self._table.c.key == row_key)
        found = self._run(lambda connection: connection.execute(read).scalar_one_or_none())
        return int(found or 0)

    def reset(self, key: str) -> None:
        pattern = _escape_like(key) + ":%"
        delete = sa.delete(self._table).where(self._table.c.key.like(pattern, escape="\\"))
        self._run(lambda connection: connection.execute(delete))

    def purge(self, now: float) -> int:
        """Delete counters no window can read any more; return how many."""
        delete = sa.delete(self._table).where(self._table.c.expires_at < now)
        return self._run(lambda connection: connection.execute(delete).rowcount)


def _sqlite_returning() -> bool:
    import sqlite3

    return sqlite3.sqlite_version_info >= (3, 35)


def _is_transient(error: sa_exc.DBAPIError) -> bool:
    # PostgreSQL: serialization failure, deadlock; MariaDB: lock wait timeout, deadlock.
    code = getattr(error.orig, "sqlstate", None)
    if code in ("40001", "40P01"):
        return True
    arguments: tuple[object, ...] = getattr(error.orig, "args", ())
    return bool(arguments) and arguments[0] in (1205, 1213)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _escape_glob(text: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


class RedisRateLimitBackend:
    """Counters in Redis: one key per counter and window, expiring after two windows.

    A hit is ``INCR`` and ``EXPIRE`` in one ``MULTI``/``EXEC`` transaction, so every key gets its
    expiry even when a process dies. Pass a ``redis.Redis`` client or a URL; a client made from
    a URL gives up after ``timeout`` seconds instead of holding a request; :meth:`close` closes it.
    Needs the ``redis`` extra: ``pip install onboardkit[redis]``.
    """

    def __init__(
        self,
        client: redis.Redis | str,
        prefix: str = "onboardkit:rate_limits:",
        *,
        timeout: float = 2.0,
    ) -> None:
        if isinstance(client, str):
            try:
                import redis as redis_module
            except ImportError:
                raise ConfigurationError(
                    key="rate_limits.redis_url",
                    reason="needs the redis package: pip install onboardkit[redis]",
                ) from None
            client = redis_module.Redis.from_url(
                client, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            self._owns_client = True
        else:
            self._owns_client = False
        self._client = client
        self._prefix = prefix

    def close(self) -> None:
        """Close the connections of a client made from a URL (a given client stays open)."""
        if self._owns_client:
            self._client.close()

    def _key(self, key: str, window: int, now: float) -> str:
        return f"{self._prefix}{key}:{window_start(now, window)}"

    def _call(self, work: Callable[[], _T]) -> _T:
        from redis.exceptions import RedisError

        try:
            return work()
        except RedisError as error:
            raise RateLimitBackendError() from error

    def hit(self, key: str, window: int, now: float) -> int:
        counter = self._key(key, window, now)
        # Relative expiry from the caller's clock: the counter lives until two windows after its
        # window started, whatever Redis's own clock says.
        ttl = max(1, window_start(now, window) + 2 * window - math.floor(now))

        def work() -> int:
            pipeline = self._client.pipeline(transaction=True)
            pipeline.incr(counter)
            pipeline.expire(counter, ttl)
            count, _ = pipeline.execute()
            return int(count)

        return self._call(work)

    def count(self, key: str, window: int, now: float) -> int:
        counter = self._key(key, window, now)
        value = self._call(lambda: self._client.get(counter))
        return int(value or 0)

    def reset(self, key: str) -> None:
        pattern = _escape_glob(f"{self._prefix}{key}:") + "*"

        def work() -> None:
            found = list(self._client.scan_iter(match=pattern, count=500))
            if found:
                self._client.delete(*found)

        self._call(work)


# -- the limiter -----------------------------------------------------------------------------


@attrs.frozen
class _Counted:
    limit: RateLimit
    start: int
    elapsed: int
    current: int
    previous: int

    @property
    def allowed(self) -> bool:
        # previous * (window - elapsed) / window + current <= limit, in integers.
        return (
            self.current <= self.limit.limit
            and self.previous * (self.limit.window - self.elapsed)
            <= (self.limit.limit - self.current) * self.limit.window
        )

    def next_allowed_at(self) -> int:
        """The first whole second at which one more attempt would get through."""
        limit, window = self.limit.limit, self.limit.window
        if self.current + 1 <= limit:
            if self.previous == 0:
                return self.start + self.elapsed
            # Earliest elapsed second e with previous * (window - e) <= (limit - current - 1) * w.
            elapsed = window - ((limit - self.current - 1) * window) // self.previous
            if elapsed < window:
                return self.start + max(elapsed, self.elapsed)
        # In the next window, this window's count is the previous one and the attempt the first.
        elapsed = max(0, window - ((limit - 1) * window) // self.current)
        return self.start + window + elapsed


class RateLimiter:
    """Counts attempts under :class:`RateLimits` in a backend, and refuses those over a limit.

    ``secret``, when given, keys the digests (HMAC-SHA-256), so counters cannot be traced back to
    an address by trying every IPv4 address; every process must use the same secret.
    """

    def __init__(
        self,
        limits: RateLimits,
        backend: RateLimitBackend,
        clock: Clock = system_clock,
        *,
        secret: bytes | None = None,
    ) -> None:
        self._limits = limits
        self._backend = backend
        self._clock = clock
        self._secret = secret

    @property
    def limits(self) -> RateLimits:
        return self._limits

    def _digest(self, scope: Scope, value: str) -> str:
        data = f"onboardkit rate limit\0{scope}\0{value}".encode()
        if self._secret is not None:
            return hmac.new(self._secret, data, hashlib.sha256).hexdigest()
        return hashlib.sha256(data).hexdigest()

    def _keyed(
        self, action: str, client_address: str | None, email: str | None
    ) -> list[tuple[RateLimit, str]]:
        if action not in self._limits.actions:
            raise ValueError(f"{action!r} is not a rate-limited action")
        values: dict[Scope, str | None] = {
            "ip": None if client_address is None else client_bucket(client_address),
            "email": email,
        }
        keyed = []
        for limit in self._limits.for_action(action):
            value = values[limit.scope]
            if value is not None:
                keyed.append((limit, f"{action}:{limit.scope}:{self._digest(limit.scope, value)}"))
        return keyed

    def check(
        self, action: str, *, client_address: str | None = None, email: str | None = None
    ) -> None:
        """Count one attempt of ``action``; refuse it if any limit is exceeded.

        ``email`` is the canonical address (:attr:`onboardkit.addresses.EmailAddress.canonical`);
        ``client_address`` the client's IP address as the host determined it. A scope whose value
        is ``None`` is not limited.

        :raises RateLimited: with ``retry_after`` (seconds) when a limit is exceeded.
        :raises RateLimitUnavailable: when the backend is down and ``action`` fails closed.
        :raises ValueError: for an action no limit knows (a typo must not switch limits off).
        """
        now = self._clock()
        second = math.floor(now)
        counted: list[_Counted] = []
        failed: RateLimitBackendError | None = None
        for limit, key in self._keyed(action, client_address, email):
            try:
                counted.append(self._count(limit, key, now, second))
            except RateLimitBackendError as error:
                failed = error
                break
        refused = [entry for entry in counted if not entry.allowed]
        if refused:
            log.info("rate limit exceeded: %s per %s", action, refused[0].limit.scope)
            retry_at = max(entry.next_allowed_at() for entry in counted)
            raise RateLimited(retry_at - second)
        if failed is not None:
            if action in self._limits.fail_open:
                log.warning(
                    "rate limits for %s not checked, letting the attempt through: %s",
                    action,
                    type(failed.__cause__).__name__,
                )
                return
            raise RateLimitUnavailable() from failed

    def _count(self, limit: RateLimit, key: str, now: float, second: int) -> _Counted:
        start = window_start(now, limit.window)
        current = self._backend.hit(key, limit.window, now)
        previous = 0
        if current <= limit.limit:
            previous = self._backend.count(key, limit.window, now - limit.window)
        return _Counted(limit, start, second - start, current, previous)

    def counts(
        self, action: str, *, client_address: str | None = None, email: str | None = None
    ) -> dict[Scope, int]:
        """The attempts of ``action`` counted in the current window, per scope (for support)."""
        now = self._clock()
        return {
            limit.scope: self._backend.count(key, limit.window, now)
            for limit, key in self._keyed(action, client_address, email)
        }

    def reset(
        self, action: str, *, client_address: str | None = None, email: str | None = None
    ) -> None:
        """Forget the counts of ``action`` for these values (support unblocking someone)."""
        for _, key in self._keyed(action, client_address, email):
            self._backend.reset(key)

    def purge(self, now: float | None = None) -> int:
        """Remove counters whose windows have passed; returns how many.

        Only the SQL backend keeps such rows; Redis keys expire by themselves (0).
        """
        if isinstance(self._backend, SqlRateLimitBackend):
            return self._backend.purge(self._clock() if now is None else now)
        return 0
