"""The web layer's route table: one :class:`Route` per page, API endpoint and static file.

Framework plugins read :attr:`onboardkit.web.OnboardingWeb.routes` to register each route with
their own router (for their URL reversing and their OpenAPI); the core matches the path again
when it handles the request, so a plugin never needs to pass more than the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from onboardkit.web.exchange import Exchange
    from onboardkit.web.responses import WebResponse

__all__ = ["Route", "match"]

_PARAM = re.compile(r"\{([a-z_]+)\}")
#: What a path parameter may hold: tenant ids, account ids, purposes, file names.
_SEGMENT = r"([A-Za-z0-9][A-Za-z0-9_.\-]{0,127})"


def _pattern(path: str) -> re.Pattern[str]:
    literals = _PARAM.split(path)[::2]  # split keeps the names at the odd places
    return re.compile("^" + _SEGMENT.join(re.escape(part) for part in literals) + "$")


@attrs.frozen
class Route:
    """One route.

    :param method: ``GET`` or ``POST``.
    :param path: The path template below the mount point, with ``{name}`` parameters.
    :param name: Unique; framework plugins use it as the route's name.
    :param handler: The core function that answers it.
    :param api: Part of the JSON API (else an HTML page or a static file).
    :param summary: One line for OpenAPI.
    :param description: More, for OpenAPI.
    :param request_schema: JSON Schema of the JSON body (API POSTs).
    :param responses: Status -> (description, JSON Schema of the body or ``None``).
    :param media_type: What a successful answer is.
    :param query: The query parameters it reads.
    :param reviewer: Whether it asks who reviews the tenant (reviewer pages, and pages that
        show reviewers a link): a plugin with the host's own reviewer decision gives it for
        these requests (see ``WebRequest.reviewer``).
    :param tags: OpenAPI tags.
    :param page: For a form's POST whose page has another address: the GET path template that
        shows that page (where the language switcher of a refused form leads).
    """

    method: str
    path: str
    name: str
    handler: Callable[[Exchange], WebResponse] = attrs.field(repr=False, eq=False)
    api: bool = False
    summary: str = ""
    description: str = ""
    request_schema: Mapping[str, Any] | None = attrs.field(default=None, repr=False, eq=False)
    responses: Mapping[int, tuple[str, Mapping[str, Any] | None]] = attrs.field(
        factory=dict, repr=False, eq=False
    )
    media_type: str = "text/html"
    query: tuple[str, ...] = ()
    reviewer: bool = False
    tags: tuple[str, ...] = ()
    page: str | None = None
    pattern: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)

    @pattern.default
    def _compile(self) -> re.Pattern[str]:
        return _pattern(self.path)

    @property
    def parameters(self) -> tuple[str, ...]:
        """The names of the path parameters, in order."""
        return tuple(_PARAM.findall(self.path))


def match(
    routes: tuple[Route, ...], method: str, path: str
) -> tuple[Route | None, dict[str, str], tuple[str, ...]]:
    """The route for ``method`` and ``path`` with its parameters; else ``None`` and the methods
    that path allows (empty: no such path)."""
    allowed: list[str] = []
    for route in routes:
        found = route.pattern.match(path)
        if found is None:
            continue
        if route.method == method or (method == "HEAD" and route.method == "GET"):
            return route, dict(zip(route.parameters, found.groups(), strict=True)), ()
        allowed.append(route.method)
    return None, {}, tuple(dict.fromkeys(allowed))
