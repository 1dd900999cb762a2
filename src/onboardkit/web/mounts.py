"""Where the pages are mounted: the single-tenant route table and the start-up check that every
tenant's base URL (where mailed links lead) is where its pages are served.

A mailed link is the tenant's ``base_url`` plus a page path (``/confirm``, see
:class:`onboardkit.onboarding.LinkPaths`). Pages mounted at ``/onboarding`` serve tenant ``pim``
at ``/onboarding/pim`` (or at ``/onboarding`` itself in a single-tenant mount), so the base URL's
path must be exactly that, or every mailed link leads to a missing page. That is a configuration
mistake best found at start-up, not by the first person who registers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote, urlsplit

import attrs

from onboardkit.errors import ConfigurationError, message
from onboardkit.tenants import Tenant
from onboardkit.web.routes import Route

__all__ = ["BaseUrlMismatch", "check_mount", "normalize_mount", "single_tenant_routes"]

#: The path parameter that names the tenant in the multi-tenant route table.
TENANT_PREFIX: Final = "/{tenant}"

MOUNT_INVALID = message(
    "mounts.root_path_invalid",
    "The mount point {root_path} is not valid: expected an empty path or a path starting with"
    " '/', such as /onboarding.",
)

TENANT_UNKNOWN = message("mounts.tenant_unknown", "is not one of the tenants")
NO_TENANT_LIST = message(
    "mounts.no_tenant_list", "a single-tenant mount has no tenant list: leave it out"
)
COOKIE_MODE_ONLY = message(
    "mounts.cookie_mode_only",
    "the WSGI application keeps sign-ins in onboardkit's cookie: use sessions='cookie'",
)


class BaseUrlMismatch(ConfigurationError):
    """A tenant's base URL is not where its pages are mounted, so mailed links would miss them.

    ``params``: ``key`` (``tenants.<id>.base_url``), ``tenant``, ``base_url``, ``path`` (the
    base URL's path), ``root_path`` (the mount) and ``expected`` (the path it must have).
    """

    default_message = message(
        "mounts.base_url_mismatch",
        "The setting {key} is not valid: its path is '{path}', but the pages mounted at"
        " '{root_path}' serve tenant {tenant} at '{expected}', so every mailed link would lead"
        " to a missing page. Set the base URL's path to '{expected}', or mount the pages where"
        " the base URL says.",
    )


class MountInvalid(ConfigurationError):
    """The mount point given is not a path."""

    default_message = MOUNT_INVALID


def normalize_mount(root_path: str) -> str:
    """``root_path`` without its trailing ``/`` (``""`` for the root).

    :raises MountInvalid: for anything but an empty path or one starting with ``/``.
    """
    if not isinstance(root_path, str) or (root_path and not root_path.startswith("/")):
        raise MountInvalid(key="root_path", root_path=repr(root_path)[:200])
    return root_path.rstrip("/")


def expected_base_path(root_path: str, tenant_id: str, *, single_tenant: bool) -> str:
    """The path a tenant's base URL must have when the pages are mounted at ``root_path``."""
    mount = normalize_mount(root_path)
    return mount if single_tenant else f"{mount}/{tenant_id}"


def check_mount(root_path: str, tenants: Iterable[Tenant], *, single_tenant: bool) -> None:
    """Check that each of ``tenants`` has its base URL where its pages are served.

    Paths are compared percent-decoded and without a trailing ``/``; host and scheme are not
    compared (a proxy may serve the pages under another name).

    :raises BaseUrlMismatch: naming the first tenant whose base URL's path is not the expected.
    :raises MountInvalid: when ``root_path`` is not a path.
    """
    for tenant in tenants:
        expected = expected_base_path(root_path, tenant.id, single_tenant=single_tenant)
        path = urlsplit(tenant.base_url).path.rstrip("/")
        if unquote(path) != unquote(expected):
            raise BaseUrlMismatch(
                key=f"tenants.{tenant.id}.base_url",
                tenant=tenant.id,
                base_url=tenant.base_url,
                path=path or "/",
                root_path=normalize_mount(root_path) or "/",
                expected=expected or "/",
            )


def _below_tenant(path: str) -> str:
    rest = path.removeprefix(TENANT_PREFIX)
    return rest or "/"


def single_tenant_routes(routes: Iterable[Route]) -> tuple[Route, ...]:
    """``routes`` with the leading ``/{tenant}`` taken out of every tenant route's path (and of
    its form's page): ``/{tenant}/api/register`` becomes ``/api/register``, ``/{tenant}`` the
    mount's root ``/``. Routes outside a tenant stay as they are."""
    served: list[Route] = []
    for route in routes:
        if route.path == TENANT_PREFIX or route.path.startswith(TENANT_PREFIX + "/"):
            page = _below_tenant(route.page) if route.page is not None else None
            route = attrs.evolve(route, path=_below_tenant(route.path), page=page)
        served.append(route)
    return tuple(served)
