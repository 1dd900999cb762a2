"""An in-memory rate-limit backend, and the tests every backend must pass.

``MemoryRateLimitBackend`` is for tests and single-process demos: its counters live in one
process only. ``RateLimitBackendContract`` holds the behaviour
:class:`onboardkit.ratelimits.RateLimitBackend` promises; a backend's own test module runs it by
subclassing and providing a ``backend`` fixture that returns an empty backend::

    class TestSqlRateLimitBackend(RateLimitBackendContract):
        @pytest.fixture
        def backend(self, engine):
            return SqlRateLimitBackend(engine)
"""

from __future__ import annotations

import secrets
import threading
from typing import TYPE_CHECKING

from onboardkit.ratelimits import RateLimitBackendError, window_start

if TYPE_CHECKING:
    from onboardkit.ratelimits import RateLimitBackend

__all__ = ["MemoryRateLimitBackend", "RateLimitBackendContract"]


class MemoryRateLimitBackend:
    """A thread-safe :class:`~onboardkit.ratelimits.RateLimitBackend` in a dict.

    Set ``down = True`` to make every call fail as an unreachable store would, to test how an
    application answers when limits cannot be checked.
    """

    def __init__(self) -> None:
        # (key, window start) -> (count, expires at)
        self._counters: dict[tuple[str, int], tuple[int, int]] = {}
        self._lock = threading.Lock()
        self.down = False

    def _refuse_when_down(self) -> None:
        if self.down:
            raise RateLimitBackendError()

    def hit(self, key: str, window: int, now: float) -> int:
        self._refuse_when_down()
        start = window_start(now, window)
        with self._lock:
            self._counters = {
                counter: entry for counter, entry in self._counters.items() if entry[1] > now
            }
            count = self._counters.get((key, start), (0, 0))[0] + 1
            self._counters[key, start] = (count, start + 2 * window)
            return count

    def count(self, key: str, window: int, now: float) -> int:
        self._refuse_when_down()
        with self._lock:
            return self._counters.get((key, window_start(now, window)), (0, 0))[0]

    def reset(self, key: str) -> None:
        self._refuse_when_down()
        with self._lock:
            for counter in [counter for counter in self._counters if counter[0] == key]:
                del self._counters[counter]

    def __len__(self) -> int:
        """How many counters are kept (expired ones go on the next hit)."""
        with self._lock:
            return len(self._counters)


def _fresh_key() -> str:
    # Unique per test, so the contract can run against a store shared with earlier runs.
    return "login:email:" + secrets.token_hex(32)


class RateLimitBackendContract:
    """Tests every :class:`~onboardkit.ratelimits.RateLimitBackend` must pass.

    Subclass it in a test module (its name must start with ``Test``) and provide a ``backend``
    fixture returning a backend. Keys are unique per test, so a store shared between test runs
    is fine.
    """

    now = 1_800_000_000.0

    def test_a_hit_returns_the_count_of_the_window_including_it(
        self, backend: RateLimitBackend
    ) -> None:
        key = _fresh_key()
        assert [backend.hit(key, 60, self.now + second) for second in range(3)] == [1, 2, 3]

    def test_count_reads_without_counting(self, backend: RateLimitBackend) -> None:
        key = _fresh_key()
        backend.hit(key, 60, self.now)
        assert backend.count(key, 60, self.now) == 1
        assert backend.count(key, 60, self.now) == 1

    def test_an_unknown_key_counts_zero(self, backend: RateLimitBackend) -> None:
        key = _fresh_key()
        assert backend.count(key, 60, self.now) == 0

    def test_each_window_counts_on_its_own(self, backend: RateLimitBackend) -> None:
        key = _fresh_key()
        start = window_start(self.now, 60)
        backend.hit(key, 60, start + 59.9)
        assert backend.hit(key, 60, start + 60) == 1
        assert backend.count(key, 60, start + 0.5) == 1

    def test_the_previous_window_stays_readable(self, backend: RateLimitBackend) -> None:
        key = _fresh_key()
        start = window_start(self.now, 60)
        backend.hit(key, 60, start)
        backend.hit(key, 60, start + 119)
        assert backend.count(key, 60, start + 1) == 1

    def test_keys_count_apart(self, backend: RateLimitBackend) -> None:
        key = _fresh_key()
        backend.hit(key, 60, self.now)
        assert backend.hit(key + "0", 60, self.now) == 1

    def test_reset_forgets_every_window_of_the_key_only(self, backend: RateLimitBackend) -> None:
        key = _fresh_key()
        other = key + "0"  # shares the beginning, which must not matter
        backend.hit(key, 60, self.now)
        backend.hit(key, 60, self.now + 60)
        backend.hit(other, 60, self.now)
        backend.reset(key)
        assert backend.count(key, 60, self.now) == 0
        assert backend.count(key, 60, self.now + 60) == 0
        assert backend.count(other, 60, self.now) == 1

    def test_concurrent_hits_are_each_counted_once(self, backend: RateLimitBackend) -> None:
        key = _fresh_key()
        threads, hits = 8, 25
        counts: list[int] = []
        lock = threading.Lock()
        barrier = threading.Barrier(threads)

        def hammer() -> None:
            barrier.wait()
            mine = [backend.hit(key, 3600, self.now) for _ in range(hits)]
            with lock:
                counts.extend(mine)

        workers = [threading.Thread(target=hammer) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert sorted(counts) == list(range(1, threads * hits + 1))
        assert backend.count(key, 3600, self.now) == threads * hits
