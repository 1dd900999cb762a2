"""onboardkit's rate-limit counters in Django's cache framework.

With the store on the Django ORM, ``rate_limits.backend = "database"`` (the default) counts in
the project's cache, ``CACHES["default"]``. Counters must be shared by every process that serves
the project: use a shared cache (Redis, Memcached, the database cache), not the per-process
``LocMemCache`` (system check ``onboardkit.W004``).
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches

from onboardkit.ratelimits import RateLimitBackendError, window_start

__all__ = ["DjangoCacheRateLimitBackend"]

_PREFIX = "onboardkit:rate-limit"


class DjangoCacheRateLimitBackend:
    """A :class:`~onboardkit.ratelimits.RateLimitBackend` on a Django cache: one counter per key
    and window (``add`` then ``incr``, atomic on every shared cache Django ships), kept for two
    windows and a minute. ``reset`` starts a new generation of the key's counters.

    :param alias: The cache alias.
    """

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    def _cache(self) -> Any:
        return caches[self.alias]

    def _row(self, key: str, window: int, now: float) -> str:
        generation = self._cache().get(f"{_PREFIX}:{key}:generation", 0)
        return f"{_PREFIX}:{key}:{generation}:{window}:{window_start(now, window)}"

    def hit(self, key: str, window: int, now: float) -> int:
        try:
            cache, row = self._cache(), self._row(key, window, now)
            if cache.add(row, 1, timeout=2 * window + 60):
                return 1
            try:
                return int(cache.incr(row))
            except ValueError:  # expired between add and incr
                cache.add(row, 1, timeout=2 * window + 60)
                return 1
        except RateLimitBackendError:
            raise
        except Exception as error:
            raise RateLimitBackendError() from error

    def count(self, key: str, window: int, now: float) -> int:
        try:
            return int(self._cache().get(self._row(key, window, now), 0))
        except Exception as error:
            raise RateLimitBackendError() from error

    def reset(self, key: str) -> None:
        try:
            cache, name = self._cache(), f"{_PREFIX}:{key}:generation"
            if not cache.add(name, 1, timeout=None):
                cache.incr(name)
        except Exception as error:
            raise RateLimitBackendError() from error
