"""onboardkit's routes as a Flask blueprint: each route of ``web.routes`` is one URL rule, and
every rule's view translates the Flask request into a :class:`~onboardkit.web.WebRequest` with
the WSGI kit, lets the core answer and copies the :class:`~onboardkit.web.WebResponse` back.

Flask runs views in worker threads already, so the core's blocking work (Argon2id, the
database) runs in the view as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from flask import Blueprint, Response, current_app, request

from onboardkit.web import Route, WebRequest, WebResponse
from onboardkit.web.wsgi import web_request
from onboardkit_flask import sessions

if TYPE_CHECKING:
    from onboardkit_flask.extension import Onboardkit

__all__ = [
    "BLUEPRINT_NAME",
    "core_request",
    "flask_response",
    "host_locale",
    "onboarding_blueprint",
]

#: The blueprint's name: every route's endpoint is ``onboardkit.<route name>``
#: (``url_for("onboardkit.login_page", tenant="pim")``).
BLUEPRINT_NAME: Final = "onboardkit"
_PARAMETER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: The methods a client may send; those a path does not serve still reach the core.
_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def host_locale() -> str | None:
    """The language the app chose: Flask-Babel's ``get_locale()`` when the app uses it."""
    if "babel" not in current_app.extensions:
        return None
    from flask_babel import get_locale  # type: ignore[import-untyped]

    chosen = get_locale()
    return str(chosen) if chosen is not None else None


def core_request(
    extension: Onboardkit | None = None, mount: str = "", *, with_body: bool = True
) -> WebRequest:
    """The core's view of the current Flask request, below ``mount`` (the blueprint's prefix),
    with the host session ``extension`` keeps in host session mode.

    The body is read from the WSGI stream, at most ``MAX_BODY_BYTES``; a before-request
    handler of the app that read the form of onboardkit's routes would leave it empty.
    """
    return web_request(
        request.environ,
        mount=mount,
        body=None if with_body else b"",
        session=sessions.kept(extension) if extension is not None else None,
        locale=host_locale(),
    )


def flask_response(answer: WebResponse, *, head: bool = False) -> Response:
    """The core's answer as a Flask response: status, every header in order (one
    ``Set-Cookie`` per cookie), the body; Flask adds no ``Content-Type`` of its own."""
    reply = Response(status=answer.status)
    reply.headers.clear()
    for name, value in answer.headers:
        reply.headers.add(name, value)
    if head:
        # The core does not know the length of the GET this HEAD stands for.
        reply.automatically_set_content_length = False
    else:
        reply.set_data(answer.body)
    return reply


def _rule(path: str) -> str:
    """A core route path as a Flask rule: ``/{tenant}/review/{account_id}`` ->
    ``/<tenant>/review/<account_id>``."""
    return _PARAMETER.sub(r"<\1>", path)


def onboarding_blueprint(
    extension: Onboardkit, routes: Iterable[Route], *, prefix: str
) -> Blueprint:
    """The blueprint serving ``routes`` (the app's ``web.routes``) under ``prefix``.

    Each route is a rule named after it. Every other method on a route's path reaches the core
    too (it answers 405 with ``Allow``, as a page or JSON), and so, below a prefix, does every
    other path (404): only at the root are unknown paths left to the app.
    """
    blueprint = Blueprint(BLUEPRINT_NAME, __name__, url_prefix=prefix or None)
    served: dict[str, set[str]] = {}
    for route in routes:
        rule = _rule(route.path)
        served.setdefault(rule, set()).add(route.method)
        blueprint.add_url_rule(
            rule,
            endpoint=route.name,
            view_func=_view(extension, route.name, prefix),
            methods=[route.method],
            # The core answers OPTIONS itself (405 with Allow), as it answers any method.
            provide_automatic_options=False,
        )
    for number, (rule, methods) in enumerate(served.items()):
        others = [
            m for m in _METHODS if m not in methods and not (m == "HEAD" and "GET" in methods)
        ]
        name = f"other_methods_{number}"
        blueprint.add_url_rule(
            rule,
            endpoint=name,
            view_func=_view(extension, name, prefix),
            methods=others,
            provide_automatic_options=False,
        )
    if prefix:
        for rule in ("/", "/<path:unknown>"):
            blueprint.add_url_rule(
                rule,
                endpoint="unknown" if rule == "/" else "unknown_path",
                view_func=_view(extension, "unknown", prefix),
                methods=list(_METHODS),
                provide_automatic_options=False,
            )
    return blueprint


def _view(extension: Onboardkit, name: str, prefix: str) -> Callable[..., Response]:
    def view(**params: str) -> Response:
        web = extension.web
        core = core_request(extension, prefix)
        hook = extension.reviewer_hook
        if hook is not None:
            tenant = web.reviewer_tenant(core)
            if tenant is not None:
                core = core.with_reviewer(hook(tenant))
        # With propagate_exceptions an unexpected error leaves here on purpose: Flask's debug
        # page, its error handlers and its error reporting see it.
        answer = web.handle(core)
        reply = flask_response(answer, head=core.method == "HEAD")
        if answer.session is not None and web.session_mode == "host":
            sessions.act_on(extension, answer.session)
        return reply

    view.__name__ = view.__qualname__ = name
    return view
