"""Host sign-in: onboardkit's sign-in kept in Flask's session, and the app's own login.

With ``OnboardingWeb(sessions="host")`` (``ONBOARDKIT_SESSIONS = "host"``, the default when the
app uses Flask-Login) onboardkit sets no cookie of its own:

* the :class:`~onboardkit.web.HostSession` of a :class:`~onboardkit.web.SignedIn` is kept under
  one key of Flask's ``session`` and handed back with every request;
* with Flask-Login on the app, the sign-in also logs the app's user in (``login_user``, or
  Flask-Security-Too's), found by the extension's ``user_for_account`` callback; a
  :class:`~onboardkit.web.SignedOut` logs them out (``logout_user``). The plugin never installs
  a login manager of its own;
* before each of the app's own requests, a kept sign-in whose verifier no longer holds (the
  password changed, the account was disabled or erased) is ended: the key is removed and the
  user logged out, so ``current_user`` follows onboardkit's decision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from flask import current_app, request
from flask import session as flask_session

from onboardkit.web import HostSession, SessionChange, SignedIn, SignedOut

if TYPE_CHECKING:
    from onboardkit_flask.extension import Onboardkit

__all__ = ["SESSION_KEY", "act_on", "end_if_over", "ends", "kept", "uses_flask_login"]

log = logging.getLogger(__name__)

#: The key of Flask's ``session`` onboardkit's sign-in is kept under.
SESSION_KEY: Final = "onboardkit"
_FIELDS: Final = ("tenant", "account_id", "verifier")


def uses_flask_login() -> bool:
    """Whether the current app signs its users in with Flask-Login (or Flask-Security-Too)."""
    return getattr(current_app, "login_manager", None) is not None


def kept(extension: Onboardkit) -> HostSession | None:
    """The sign-in Flask's session keeps, in host session mode; ``None`` in cookie mode."""
    if extension.web.session_mode != "host":
        return None
    value = flask_session.get(SESSION_KEY)
    if not isinstance(value, Mapping):
        return None
    fields = [value.get(name) for name in _FIELDS]
    if not all(isinstance(field, str) for field in fields):
        return None
    tenant, account_id, verifier = (str(field) for field in fields)
    return HostSession(tenant, account_id, verifier)


def ends(change: SignedOut, session: HostSession | None) -> bool:
    """Whether ``change`` ends ``session``: only the sign-in it names, so that signing out of
    one tenant leaves a sign-in to another alone."""
    if session is None or session.tenant != change.tenant:
        return False
    return change.account_id is None or change.account_id == session.account_id


def act_on(extension: Onboardkit, change: SessionChange) -> None:
    """Log the person into or out of the app, as the core's answer says."""
    if isinstance(change, SignedIn):
        _sign_in(extension, change)
    elif ends(change, kept(extension)):
        flask_session.pop(SESSION_KEY, None)
        if uses_flask_login():
            extension.logout_user()


def _sign_in(extension: Onboardkit, change: SignedIn) -> None:
    if uses_flask_login():
        account = extension.web.session_account(change.session)
        user = extension.app_user(account) if account is not None else None
        if user is None:
            log.warning(
                "onboardkit: no user of the app for account %s of tenant %s; not logged in",
                change.account_id,
                change.tenant,
            )
            flask_session.pop(SESSION_KEY, None)
            return
        if not extension.login_user(user):
            log.warning("onboardkit: the app's login_user refused account %s", change.account_id)
            flask_session.pop(SESSION_KEY, None)
            return
    flask_session[SESSION_KEY] = {
        "tenant": change.tenant,
        "account_id": change.account_id,
        "verifier": change.verifier,
    }


def end_if_over(extension: Onboardkit) -> None:
    """Before a request of the app's own: end a kept sign-in that no longer holds.

    onboardkit's own routes need no such check: the core decides there and answers a
    :class:`~onboardkit.web.SignedOut`.
    """
    if request.blueprint == extension.blueprint_name:
        return
    session = kept(extension)
    if session is None:
        return
    if extension.web.session_account(session) is None:
        act_on(extension, SignedOut(session.tenant, session.account_id))
