"""An in-memory consent store for tests: :class:`InMemoryConsentStore`.

It implements :class:`onboardkit.consent.ConsentStore` exactly, including compare-and-append, and
is safe to share between threads. Tests that need to simulate tampering edit :meth:`rows`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from onboardkit.consent import GENESIS_HASH, ConsentRecord, ConsentStore, StaleChainHead

__all__ = ["InMemoryConsentStore"]


class InMemoryConsentStore:
    """A :class:`~onboardkit.consent.ConsentStore` that keeps each tenant's chain in a list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chains: dict[str, list[ConsentRecord]] = {}

    def head(self, tenant: str) -> ConsentRecord | None:
        with self._lock:
            chain = self._chains.get(tenant)
            return chain[-1] if chain else None

    def append(self, record: ConsentRecord) -> None:
        with self._lock:
            chain = self._chains.setdefault(record.tenant, [])
            head_sequence, head_hash = (
                (chain[-1].sequence, chain[-1].record_hash) if chain else (0, GENESIS_HASH)
            )
            if record.sequence != head_sequence + 1 or record.prev_hash != head_hash:
                raise StaleChainHead()
            chain.append(record)

    def records(self, tenant: str, pseudonym: str | None = None) -> Sequence[ConsentRecord]:
        with self._lock:
            chain = list(self._chains.get(tenant, ()))
        if pseudonym is None:
            return chain
        return [record for record in chain if record.subject_pseudonym == pseudonym]

    def erase(self, tenant: str, pseudonym: str, through_sequence: int) -> int:
        changed = 0
        with self._lock:
            chain = self._chains.get(tenant, [])
            for index, record in enumerate(chain):
                if (
                    record.subject_pseudonym == pseudonym
                    and record.sequence <= through_sequence
                    and (record.subject is not None or record.evidence is not None)
                ):
                    chain[index] = attrs.evolve(record, subject=None, evidence=None)
                    changed += 1
        return changed

    def rows(self, tenant: str) -> list[ConsentRecord]:
        """The tenant's stored list itself (not a copy), for tests that tamper with it."""
        with self._lock:
            return self._chains.setdefault(tenant, [])


if TYPE_CHECKING:
    # mypy checks here that the fake implements the protocol completely.
    _PROTOCOL_CHECK: ConsentStore = InMemoryConsentStore()
