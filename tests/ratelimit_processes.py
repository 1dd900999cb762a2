"""The worker processes of test_ratelimits: kept apart so that a spawned process imports little."""

from __future__ import annotations

from onboardkit.ratelimits import (
    RateLimit,
    RateLimitBackend,
    RateLimited,
    RateLimiter,
    RateLimits,
    RedisRateLimitBackend,
    SqlRateLimitBackend,
)
from onboardkit.sqlstore import SqlStore
from onboardkit.testing import FrozenClock

WINDOW = 3600


def limiter(backend: RateLimitBackend, limit: int, now: float) -> RateLimiter:
    limits = RateLimits([RateLimit("login", "email", limit, WINDOW)], frozenset())
    return RateLimiter(limits, backend, FrozenClock(now))


def hammer(where, email, attempts, limit, now, barrier, results) -> None:
    """Try ``attempts`` logins of ``email`` in the store ``where``; put how many got through."""
    kind, url, prefix = where
    store = None
    if kind == "redis":
        backend: RateLimitBackend = RedisRateLimitBackend(url, prefix)
    else:
        store = SqlStore.from_url(url)
        backend = SqlRateLimitBackend(store.engine)
    attempt = limiter(backend, limit, now)
    through = 0
    barrier.wait()
    for _ in range(attempts):
        try:
            attempt.check("login", email=email)
        except RateLimited:
            continue
        through += 1
    if store is not None:
        store.dispose()
    results.put(through)
