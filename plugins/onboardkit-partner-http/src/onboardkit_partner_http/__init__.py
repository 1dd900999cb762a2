"""onboardkit-partner-http: an onboardkit partner provider backed by an HTTP JSON endpoint.

Installed, this package is the onboardkit plugin ``partner_http`` (entry-point group
``onboardkit``). It is configured from the environment::

    ONBOARDKIT_PARTNER_HTTP_URL="https://crm.example.com/partners/{code}"

and answers ``None`` (does not know the code) while that variable is unset. To configure it from
code instead, block the entry point and register a provider object::

    plugins = Plugins.load(blocked=["partner_http"])
    plugins.register(HttpPartnerProvider("https://crm.example.com/partners/{code}"), name="crm")
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from onboardkit import hookimpl
from onboardkit.partners import Partner
from onboardkit_partner_http.provider import ENVIRONMENT, HttpPartnerProvider, PartnerHttpError

__all__ = [
    "ENVIRONMENT",
    "HttpPartnerProvider",
    "PartnerHttpError",
    "configured_provider",
    "onboardkit_resolve_partner_code",
]

__version__ = "0.1.0.dev0"


class _Configured:
    """The provider built from the environment, rebuilt when the variables change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: tuple[str, ...] | None = None
        self._provider: HttpPartnerProvider | None = None

    def provider(self, environ: Mapping[str, str]) -> HttpPartnerProvider | None:
        settings = tuple(environ.get(name, "") for name in ENVIRONMENT.values())
        with self._lock:
            if settings != self._settings:
                self._provider = HttpPartnerProvider.from_environ(environ)
                self._settings = settings
            return self._provider


_configured = _Configured()


def configured_provider(environ: Mapping[str, str] | None = None) -> HttpPartnerProvider | None:
    """The provider the ``ONBOARDKIT_PARTNER_HTTP_*`` variables describe, ``None`` if unset.

    :raises onboardkit.errors.ConfigurationError: naming the variable that is wrong.
    """
    return _configured.provider(os.environ if environ is None else environ)


@hookimpl
def onboardkit_resolve_partner_code(tenant: str, code: str) -> Partner | None:
    """The partner of ``code`` from the configured endpoint; ``None`` when not configured."""
    provider = configured_provider()
    return None if provider is None else provider.lookup(tenant, code)
