"""Helpers for tests: onboardkit's own, plugin authors' and host applications'.

Everything here is public and stable in the same way as the rest of the API::

    from onboardkit.testing import FrozenClock, make_plugins

The stores, fakes and servers of the building blocks live in submodules and are re-exported
here; they are imported on first use, so ``import onboardkit.testing`` stays cheap and needs
no test-only package (``LocalSmtpServer`` needs ``aiosmtpd``, from the ``test`` extra).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import attrs

from onboardkit.plugins import Plugins

_LAZY = {
    "CheapTestHasher": "onboardkit.testing.passwords",
    "fast_argon2_hasher": "onboardkit.testing.passwords",
    "InMemoryConsentStore": "onboardkit.testing.consent",
    "InMemoryPartnerCodeStore": "onboardkit.testing.partners",
    "PartnerCodeStoreContract": "onboardkit.testing.partners",
    "MemoryRateLimitBackend": "onboardkit.testing.ratelimits",
    "RateLimitBackendContract": "onboardkit.testing.ratelimits",
    "LocalSmtpServer": "onboardkit.testing.mail",
    "memory_store": "onboardkit.testing.store",
    "Browser": "onboardkit.testing.browser",
    "CLIENT_ADDRESS": "onboardkit.testing.browser",
    "CoreTransport": "onboardkit.testing.browser",
    "HttpxTransport": "onboardkit.testing.browser",
    "Transport": "onboardkit.testing.browser",
    "follow_mail": "onboardkit.testing.browser",
    "page_forms": "onboardkit.testing.browser",
    "sign_in": "onboardkit.testing.browser",
    "without_csrf": "onboardkit.testing.browser",
    "MailLink": "onboardkit.testing.outbox",
    "mail_link": "onboardkit.testing.outbox",
    "mail_token": "onboardkit.testing.outbox",
    "newest_mail": "onboardkit.testing.outbox",
    "outbox_mails": "onboardkit.testing.outbox",
    "ContractRun": "onboardkit.testing.plugin_contract",
    "PluginContract": "onboardkit.testing.plugin_contract",
    "RecordingWeb": "onboardkit.testing.plugin_contract",
    "contract_web": "onboardkit.testing.plugin_contract",
    "InMemoryStore": "onboardkit.testing.store",
    "StoreContract": "onboardkit.testing.store_contract",
}

__all__ = ["FrozenClock", "make_plugins", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
