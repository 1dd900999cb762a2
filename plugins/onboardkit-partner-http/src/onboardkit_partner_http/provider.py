"""Partner details by code from an HTTP JSON endpoint, with a time limit and a cache."""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import IO, Final
from urllib.parse import quote, urlsplit

import attrs

from onboardkit import __version__ as onboardkit_version
from onboardkit import hookimpl
from onboardkit.errors import ConfigurationError, ValidationError
from onboardkit.partners import Partner

__all__ = ["ENVIRONMENT", "HttpPartnerProvider", "PartnerHttpError"]

log = logging.getLogger(__name__)

#: The environment variables :meth:`HttpPartnerProvider.from_environ` reads, by setting.
ENVIRONMENT: Final = {
    "url_template": "ONBOARDKIT_PARTNER_HTTP_URL",
    "timeout": "ONBOARDKIT_PARTNER_HTTP_TIMEOUT",
    "cache_ttl": "ONBOARDKIT_PARTNER_HTTP_CACHE_TTL",
    "negative_cache_ttl": "ONBOARDKIT_PARTNER_HTTP_NEGATIVE_CACHE_TTL",
    "cache_size": "ONBOARDKIT_PARTNER_HTTP_CACHE_SIZE",
}
_USER_AGENT: Final = f"onboardkit-partner-http (onboardkit {onboardkit_version})"
#: Codes longer than this are never sent anywhere; onboardkit itself passes at most 64 characters.
_MAX_CODE_LENGTH: Final = 256
_CHUNK: Final = 8192


class PartnerHttpError(Exception):
    """The endpoint could not be asked or gave an unusable answer.

    Its text says what went wrong but never holds the code or the URL (which contains the code),
    so it is safe to log.
    """


@attrs.frozen
class _Answer:
    partner: Partner | None


class _TtlCache:
    """A thread-safe mapping with an expiry per entry that drops the least recently used first."""

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, _Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> _Answer | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, answer = entry
            if self._clock() >= expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return answer

    def put(self, key: tuple[str, str], answer: _Answer, ttl: float) -> None:
        if ttl <= 0 or self._size <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: the endpoint is configured, not discovered; a 3xx is an error."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _number(value: object, key: str, *, minimum: float, whole: bool = False) -> float:
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise ConfigurationError(key=key, reason="must be a number")
    if value < minimum:
        raise ConfigurationError(key=key, reason=f"must be at least {minimum:g}")
    return float(value)


def _check_template(template: object) -> str:
    if not isinstance(template, str) or "{code}" not in template:
        raise ConfigurationError(key="url_template", reason="must be a URL containing {code}")
    try:
        example = template.format(code="code", tenant="tenant")
    except (KeyError, IndexError, ValueError):
        raise ConfigurationError(
            key="url_template", reason="may use only the placeholders {code} and {tenant}"
        ) from None
    parts = urlsplit(example)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(key="url_template", reason="must be an http or https URL")
    return template


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


class HttpPartnerProvider:
    """A partner provider that asks ``GET <url_template>`` for each code it has not cached.

    The endpoint answers ``200`` with ``{"id": ..., "name": ..., "details": {...}}`` for a known
    code and ``404`` for an unknown one. Anything else (another status, a redirect, a timeout,
    more than ``max_response_bytes``, malformed JSON, JSON of another shape) raises
    :class:`PartnerHttpError`, so onboardkit fails closed with ``partner_code.unavailable``.
    Answers are cached per tenant and code; failures are not.

    :param url_template: The endpoint, with ``{code}`` (and optionally ``{tenant}``) where the
        URL-encoded values go: ``https://crm.example.com/partners/{code}``.
    :param timeout: Seconds for connecting and for each read; reading the whole answer is also
        given up after about this long.
    :param cache_ttl: Seconds a found partner is remembered (0 turns caching off).
    :param negative_cache_ttl: Seconds a ``404`` is remembered.
    :param cache_size: How many answers are remembered at most.
    :param max_response_bytes: Larger answers are refused.
    :param source: The ``Partner.source`` of the partners found.
    :param clock: The time source for cache expiry (seconds, any epoch).
    :raises ConfigurationError: naming the bad parameter.
    """

    def __init__(
        self,
        url_template: str,
        *,
        timeout: float = 2.0,
        cache_ttl: float = 300.0,
        negative_cache_ttl: float = 60.0,
        cache_size: int = 1024,
        max_response_bytes: int = 64 * 1024,
        source: str = "http",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url_template = _check_template(url_template)
        self._timeout = _number(timeout, "timeout", minimum=0.001)
        self._cache_ttl = _number(cache_ttl, "cache_ttl", minimum=0)
        self._negative_cache_ttl = _number(negative_cache_ttl, "negative_cache_ttl", minimum=0)
        size = int(_number(cache_size, "cache_size", minimum=0, whole=True))
        self._max_response_bytes = int(
            _number(max_response_bytes, "max_response_bytes", minimum=1, whole=True)
        )
        self._source = source
        self._cache = _TtlCache(size, clock)
        self._opener = urllib.request.build_opener(_NoRedirects())
        self._host = urlsplit(url_template.format(code="", tenant="")).netloc

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HttpPartnerProvider | None:
        """The provider the ``ONBOARDKIT_PARTNER_HTTP_*`` variables describe, or ``None`` when
        ``ONBOARDKIT_PARTNER_HTTP_URL`` is unset or empty.

        :raises ConfigurationError: naming the variable that is wrong.
        """
        url_template = environ.get(ENVIRONMENT["url_template"], "").strip()
        if not url_template:
            return None
        numbers: dict[str, float] = {}
        for setting in ("timeout", "cache_ttl", "negative_cache_ttl", "cache_size"):
            text = environ.get(ENVIRONMENT[setting], "").strip()
            if text:
                try:
                    numbers[setting] = int(text) if setting == "cache_size" else float(text)
                except ValueError:
                    raise ConfigurationError(
                        key=ENVIRONMENT[setting], reason="must be a number"
                    ) from None
        try:
            return cls(
                url_template,
                timeout=numbers.get("timeout", 2.0),
                cache_ttl=numbers.get("cache_ttl", 300.0),
                negative_cache_ttl=numbers.get("negative_cache_ttl", 60.0),
                cache_size=int(numbers.get("cache_size", 1024)),
            )
        except ConfigurationError as error:
            key = ENVIRONMENT.get(error.params["key"], error.params["key"])
            raise ConfigurationError(key=key, reason=error.params["reason"]) from None

    @hookimpl
    def onboardkit_resolve_partner_code(self, tenant: str, code: str) -> Partner | None:
        """onboardkit's hook: the partner of ``code``, ``None`` when the endpoint says 404."""
        return self.lookup(tenant, code)

    def lookup(self, tenant: str, code: str) -> Partner | None:
        """The partner of ``code`` in ``tenant``, from the cache or the endpoint.

        :raises PartnerHttpError: when the endpoint cannot be asked or answers unusably.
        """
        if not code or len(code) > _MAX_CODE_LENGTH:
            return None
        key = (tenant, code)
        cached = self._cache.get(key)
        if cached is not None:
            return cached.partner
        partner = self._fetch(tenant, code)
        ttl = self._cache_ttl if partner is not None else self._negative_cache_ttl
        self._cache.put(key, _Answer(partner), ttl)
        return partner

    def _fetch(self, tenant: str, code: str) -> Partner | None:
        url = self._url_template.format(code=quote(code, safe=""), tenant=quote(tenant, safe=""))
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s)
            url, headers={"Accept": "application/json", "User-Agent": _USER_AGENT}
        )
        deadline = time.monotonic() + self._timeout
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                if response.status != 200:
                    raise self._failure(f"answered with HTTP status {response.status}")
                body = self._read(response, deadline)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 404:
                return None
            raise self._failure(f"answered with HTTP status {error.code}") from None
        except (OSError, http.client.HTTPException) as error:
            # Timeouts, refused connections, name resolution and protocol errors; their text can
            # hold the URL, so only the kind is passed on.
            raise self._failure(f"could not be asked ({type(error).__name__})") from None
        return self._partner(tenant, body)

    def _read(self, response: http.client.HTTPResponse, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_response_bytes:
            raise self._failure(f"answer is larger than {self._max_response_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > self._max_response_bytes:
                raise self._failure(f"answer is larger than {self._max_response_bytes} bytes")
            if time.monotonic() > deadline:
                raise self._failure("answer took longer than the timeout")
            chunks.append(chunk)
        return b"".join(chunks)

    def _partner(self, tenant: str, body: bytes) -> Partner:
        try:
            data = json.loads(body, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise self._failure("answer is not valid JSON") from None
        try:
            return Partner.from_mapping(data, tenant=tenant, source=self._source)
        except ValidationError as error:
            problems = ", ".join(f"{issue.path or '(top)'}: {issue.code}" for issue in error.issues)
            raise self._failure(f"answer is not a partner ({problems})") from None

    def _failure(self, reason: str) -> PartnerHttpError:
        log.warning("partner lookup at %s failed: %s", self._host, reason)
        return PartnerHttpError(f"partner endpoint at {self._host}: {reason}")
