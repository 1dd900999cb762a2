"""Signing keys for mailed links, kept in the store so every process signs with the same ring.

The first process that needs a key creates one (:func:`load_key_ring`); processes that race to
create it agree on one, because the first key always has the same key id and the database keeps
key ids unique: the loser's insert is a :class:`~onboardkit.storage.Conflict`, its step runs again
and reads the winner's key. :func:`rotate_signing_keys` (the ``onboardkit keys rotate`` command)
puts a new key in front and retires all but the newest ``keep`` older ones; running processes pick
the new ring up within their refresh interval (:class:`KeyRingCache`).

Keys are secrets: they are stored as bytes in ``onboardkit_signing_keys`` and never logged.
"""

from __future__ import annotations

import secrets
import threading

from onboardkit.clock import Clock, system_clock
from onboardkit.storage import SigningKeyRow, Store, Transaction
from onboardkit.tokens import MIN_SECRET_LENGTH, KeyRing, SigningKey

__all__ = ["FIRST_KEY_ID", "KeyRingCache", "load_key_ring", "rotate_signing_keys"]

#: The key id of the very first key: fixed, so concurrent creators collide and one wins.
FIRST_KEY_ID = "k0"


def _ring(rows: list[SigningKeyRow]) -> KeyRing:
    return KeyRing(tuple(SigningKey(row.kid, row.secret) for row in rows))


def load_key_ring(store: Store, clock: Clock = system_clock) -> KeyRing:
    """The stored keys as a ring, newest first; creates the first key when there is none."""

    def step(tx: Transaction) -> list[SigningKeyRow]:
        rows = list(tx.signing_keys())
        if not rows:
            first = SigningKeyRow(
                kid=FIRST_KEY_ID,
                secret=secrets.token_bytes(MIN_SECRET_LENGTH),
                created_at=clock(),
            )
            tx.add_signing_key(first)  # Conflict when another process was first: run again
            rows = [first]
        return rows

    return _ring(store.atomic(step))


def rotate_signing_keys(store: Store, clock: Clock = system_clock, keep: int = 3) -> str:
    """Add a new signing key and keep only the ``keep`` newest older keys; return the new kid.

    Links signed with a retired key stop working at once, so ``keep`` should cover the longest
    link lifetime divided by the rotation interval.

    :raises ValueError: when ``keep`` is negative.
    """
    if keep < 0:
        raise ValueError("keep must be 0 or more")

    def step(tx: Transaction) -> str:
        rows = list(tx.signing_keys())
        now = clock()
        # Strictly newer than every stored key, so "newest first" never depends on the kid.
        created_at = max([now, *(row.created_at + 0.001 for row in rows)])
        kid = f"k{int(created_at)}-{secrets.token_hex(4)}"
        tx.add_signing_key(
            SigningKeyRow(
                kid=kid, secret=secrets.token_bytes(MIN_SECRET_LENGTH), created_at=created_at
            )
        )
        for retired in rows[keep:]:
            tx.delete_signing_key(retired.kid)
        return kid

    return store.atomic(step)


class KeyRingCache:
    """The current ring for one process, reloaded from the store at most every ``refresh`` s."""

    def __init__(self, store: Store, clock: Clock = system_clock, *, refresh: float = 60) -> None:
        if not refresh >= 0:
            raise ValueError("refresh must be 0 or more seconds")
        self._store = store
        self._clock = clock
        self._refresh = float(refresh)
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0

    def ring(self) -> KeyRing:
        """The ring; loads it when it is older than the refresh interval."""
        with self._lock:
            now = self._clock()
            if self._ring is None or not 0 <= now - self._loaded_at < self._refresh:
                self._ring = load_key_ring(self._store, self._clock)
                self._loaded_at = now
            return self._ring

    def invalidate(self) -> None:
        """Forget the ring; the next use loads it again (after a rotation in this process)."""
        with self._lock:
            self._ring = None
