"""Helpers for tests: onboardkit's own, plugin authors' and host applications'.

Everything here is public and stable in the same way as the rest of the API::

    from onboardkit.testing import FrozenClock, make_plugins

Fakes for the building blocks' storage live in submodules and are re-exported here.
"""

from __future__ import annotations

import threading

import attrs

from onboardkit.plugins import Plugins

__all__ = ["FrozenClock", "make_plugins"]


def make_plugins(*plugins: object, builtins: bool = True) -> Plugins:
    """A plugin manager with exactly the given plugins (and the built-ins, unless turned off).

    Installed entry-point plugins are never loaded, so a test sees only what it asked for.
    """
    manager = Plugins.load(builtins=builtins, entry_points=False, environ={})
    for plugin in plugins:
        manager.register(plugin)
    return manager


@attrs.define
class FrozenClock:
    """A clock that stands still until told to move: ``clock()`` returns ``now``."""

    now: float = 1_800_000_000.0
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
