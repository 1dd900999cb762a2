"""An in-memory partner-code store, and the tests every store must pass.

``InMemoryPartnerCodeStore`` is for tests and demos. ``PartnerCodeStoreContract`` holds the
behaviour :class:`onboardkit.partners.PartnerCodeStore` promises; a store's own test module runs
it by subclassing and providing a ``store`` fixture that returns an empty store::

    class TestSqlPartnerCodeStore(PartnerCodeStoreContract):
        @pytest.fixture
        def store(self, database):
            return SqlPartnerCodeStore(database)
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from onboardkit.partners import Partner, PartnerCodeRecord, PartnerCodeStore

__all__ = ["InMemoryPartnerCodeStore", "PartnerCodeStoreContract"]


class InMemoryPartnerCodeStore:
    """A thread-safe :class:`~onboardkit.partners.PartnerCodeStore` in a dict."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], PartnerCodeRecord] = {}
        self._lock = threading.Lock()

    def add(self, record: PartnerCodeRecord) -> None:
        key = (record.tenant, record.digest)
        with self._lock:
            if key in self._records:
                raise ValueError("the tenant already has a partner code with this digest")
            self._records[key] = record

    def find(self, tenant: str, digest: str) -> PartnerCodeRecord | None:
        with self._lock:
            return self._records.get((tenant, digest))

    def consume(self, tenant: str, digest: str, now: float) -> bool:
        with self._lock:
            record = self._records.get((tenant, digest))
            if record is None or record.refusal(now) is not None:
                return False
            self._records[tenant, digest] = attrs.evolve(record, uses=record.uses + 1)
            return True

    def revoke(self, tenant: str, digest: str, now: float) -> bool:
        with self._lock:
            record = self._records.get((tenant, digest))
            if record is None or record.revoked_at is not None:
                return False
            self._records[tenant, digest] = attrs.evolve(record, revoked_at=now)
            return True

    def records(self) -> list[PartnerCodeRecord]:
        """Every stored record (to check what a database would hold)."""
        with self._lock:
            return list(self._records.values())


_NOW = 1_800_000_000.0


def _record(
    digest: str = "ab" * 32,
    tenant: str = "acme",
    *,
    expires_at: float | None = None,
    max_uses: int | None = None,
) -> PartnerCodeRecord:
    return PartnerCodeRecord(
        tenant=tenant,
        digest=digest,
        hint="8HWZ",
        partner=Partner(id="p-1", name="Partner One", tenant=tenant),
        created_at=_NOW,
        expires_at=expires_at,
        max_uses=max_uses,
    )


@contextmanager
def _frequent_thread_switches() -> Iterator[None]:
    # Switching threads every microsecond makes a check-then-write race show up reliably.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


class PartnerCodeStoreContract:
    """Tests for a partner-code store; subclass as ``Test...`` with a ``store`` fixture."""

    def test_an_added_record_is_found_by_tenant_and_digest(self, store: PartnerCodeStore) -> None:
        store.add(_record())
        assert store.find("acme", "ab" * 32) == _record()

    def test_an_unknown_digest_is_not_found(self, store: PartnerCodeStore) -> None:
        store.add(_record())
        assert store.find("acme", "cd" * 32) is None

    def test_a_digest_is_found_only_in_its_tenant(self, store: PartnerCodeStore) -> None:
        store.add(_record(tenant="acme"))
        assert store.find("globex", "ab" * 32) is None

    def test_adding_a_digest_twice_in_a_tenant_is_refused(self, store: PartnerCodeStore) -> None:
        store.add(_record())
        try:
            store.add(_record())
        except Exception:
            return
        raise AssertionError("the second add of the same digest was accepted")

    def test_consuming_counts_one_use(self, store: PartnerCodeStore) -> None:
        store.add(_record(max_uses=3))
        assert store.consume("acme", "ab" * 32, _NOW)
        found = store.find("acme", "ab" * 32)
        assert found is not None
        assert found.uses == 1

    def test_consuming_stops_at_the_usage_limit(self, store: PartnerCodeStore) -> None:
        store.add(_record(max_uses=2))
        answers = [store.consume("acme", "ab" * 32, _NOW) for _ in range(3)]
        assert answers == [True, True, False]

    def test_consuming_an_expired_code_is_refused(self, store: PartnerCodeStore) -> None:
        store.add(_record(expires_at=_NOW + 60))
        assert not store.consume("acme", "ab" * 32, _NOW + 60)

    def test_consuming_a_revoked_code_is_refused(self, store: PartnerCodeStore) -> None:
        store.add(_record())
        assert store.revoke("acme", "ab" * 32, _NOW)
        assert not store.consume("acme", "ab" * 32, _NOW)

    def test_consuming_an_unknown_code_is_refused(self, store: PartnerCodeStore) -> None:
        assert not store.consume("acme", "ab" * 32, _NOW)

    def test_revoking_records_the_time_once(self, store: PartnerCodeStore) -> None:
        store.add(_record())
        assert store.revoke("acme", "ab" * 32, _NOW)
        assert not store.revoke("acme", "ab" * 32, _NOW + 1)
        found = store.find("acme", "ab" * 32)
        assert found is not None
        assert found.revoked_at == _NOW

    def test_revoking_an_unknown_code_changes_nothing(self, store: PartnerCodeStore) -> None:
        assert not store.revoke("acme", "ab" * 32, _NOW)

    def test_concurrent_consumers_never_exceed_the_usage_limit(
        self, store: PartnerCodeStore
    ) -> None:
        # A race is a matter of luck, so several rounds of many threads each.
        limit, threads, rounds = 5, 48, 12
        successes: list[int] = []
        with _frequent_thread_switches():
            for round_number in range(rounds):
                digest = f"{round_number:064x}"
                store.add(_record(digest, max_uses=limit))
                successes.append(_consume_together(store, digest, threads))
        assert successes == [limit] * rounds
        for round_number in range(rounds):
            found = store.find("acme", f"{round_number:064x}")
            assert found is not None
            assert found.uses == limit


def _consume_together(store: PartnerCodeStore, digest: str, threads: int) -> int:
    start = threading.Barrier(threads)
    answers: list[bool] = []

    def consume() -> None:
        start.wait()
        answers.append(store.consume("acme", digest, _NOW))

    workers = [threading.Thread(target=consume) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return answers.count(True)
