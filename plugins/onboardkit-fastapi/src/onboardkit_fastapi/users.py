"""Host sign-in through fastapi-users: onboardkit's login logs the person into the app's own
authentication backend, so they are the app's ``current_user``.

onboardkit keeps the passwords and decides who signs in; the app's fastapi-users backend
(a :class:`~fastapi_users.authentication.CookieTransport` and any strategy) keeps the session.
The token written at onboardkit's login carries onboardkit's host session next to the
strategy's own token, and :attr:`FastAPIUsersSessions.backend`, the app's backend with its
strategy wrapped, checks it on every request: a new password (or a disabled account) ends the
person's other sessions for ``current_user`` too. Tokens the app writes itself (fastapi-users'
own login routes) pass through unchanged.

Needs ``pip install "onboardkit-fastapi[fastapi-users]"``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, Generic

from fastapi import Request, Response
from fastapi_users import exceptions, models
from fastapi_users.authentication import AuthenticationBackend, CookieTransport, Strategy
from fastapi_users.authentication.strategy import StrategyDestroyNotSupportedError
from fastapi_users.manager import BaseUserManager
from starlette.concurrency import run_in_threadpool

from onboardkit.accounts import Account
from onboardkit.errors import ConfigurationError
from onboardkit.web import HostSession, OnboardingWeb, SessionChange, SignedIn
from onboardkit_fastapi.sessions import ends

__all__ = ["FastAPIUsersSessions", "OnboardkitStrategy"]

log = logging.getLogger(__name__)

#: Marks a token written for an onboardkit sign-in: ``onboardkit~tenant~account~verifier~inner``.
#: ``~`` is neither in tenant ids, account ids, verifiers, JWTs nor URL-safe tokens, and is
#: allowed in cookies and bearer tokens.
_MARK: Final = "onboardkit"
_SEPARATOR: Final = "~"

#: Finds the app's user for an onboardkit account (``None``: the app has none).
UserForAccount = Callable[
    [Account, BaseUserManager[models.UP, models.ID]], Awaitable[models.UP | None]
]


def _session_token(session: HostSession, inner: str) -> str:
    return _SEPARATOR.join((_MARK, session.tenant, session.account_id, session.verifier, inner))


def _split(token: str | None) -> tuple[HostSession, str] | None:
    """The host session and the strategy's own token of an onboardkit token, else ``None``."""
    if not token or not token.startswith(_MARK + _SEPARATOR):
        return None
    parts = token.split(_SEPARATOR, 4)
    if len(parts) != 5 or not all(parts[1:]):
        return None
    _, tenant, account_id, verifier, inner = parts
    return HostSession(tenant, account_id, verifier), inner


class OnboardkitStrategy(Generic[models.UP, models.ID]):
    """The app's strategy, refusing a token whose onboardkit sign-in has ended.

    :param web: The web layer that checks a host session.
    :param inner: The app's own strategy (JWT, database, Redis), which writes and reads the
        token proper.
    """

    def __init__(self, web: OnboardingWeb, inner: Strategy[models.UP, models.ID]) -> None:
        self.web = web
        self.inner = inner

    async def read_token(
        self, token: str | None, user_manager: BaseUserManager[models.UP, models.ID]
    ) -> models.UP | None:
        split = _split(token)
        if split is None:
            return await self.inner.read_token(token, user_manager)
        session, inner = split
        if await run_in_threadpool(self.web.session_account, session) is None:
            return None  # a new password, a disabled or erased account
        return await self.inner.read_token(inner, user_manager)

    async def write_token(self, user: models.UP) -> str:
        return await self.inner.write_token(user)

    async def write_session_token(self, user: models.UP, session: HostSession) -> str:
        """A token that signs ``user`` in for as long as onboardkit's ``session`` holds."""
        return _session_token(session, await self.inner.write_token(user))

    async def destroy_token(self, token: str, user: models.UP) -> None:
        split = _split(token)
        await self.inner.destroy_token(split[1] if split is not None else token, user)


class FastAPIUsersSessions(Generic[models.UP, models.ID]):
    """Host sessions in the app's fastapi-users authentication backend::

        @asynccontextmanager
        async def user_manager():
            async with async_session_maker() as session:
                yield UserManager(SQLAlchemyUserDatabase(session, User))

        async def user_for_account(account, users):
            return await users.get_by_email(account.email)

        sessions = FastAPIUsersSessions(
            web, auth_backend, user_manager=user_manager, user_for_account=user_for_account
        )
        fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [sessions.backend])
        app.include_router(onboarding_router(web, sessions=sessions), prefix="/onboarding")

    :param web: The web layer (``sessions="host"``).
    :param backend: The app's backend; its transport must be a ``CookieTransport`` (onboardkit's
        login answers are pages and JSON, not a bearer token).
    :param user_manager: Opens a user manager outside FastAPI's dependencies, as fastapi-users
        documents for scripts.
    :param user_for_account: The app's user for an onboardkit account, usually created by the
        app's ``onboardkit_provision_account`` hook; ``None`` (or ``UserNotExists``) when there
        is none: the person is then not logged in, and a warning is logged.
    :param strategy: Opens the app's strategy outside FastAPI's dependencies; needed when the
        backend's ``get_strategy`` takes dependencies (a database strategy). By default it is
        called without arguments (a JWT strategy's getter).
    """

    def __init__(
        self,
        web: OnboardingWeb,
        backend: AuthenticationBackend[models.UP, models.ID],
        *,
        user_manager: Callable[
            [], AbstractAsyncContextManager[BaseUserManager[models.UP, models.ID]]
        ],
        user_for_account: UserForAccount[models.UP, models.ID],
        strategy: Callable[[], AbstractAsyncContextManager[Strategy[models.UP, models.ID]]]
        | None = None,
    ) -> None:
        if not isinstance(backend.transport, CookieTransport):
            raise ConfigurationError(
                key="sessions", reason="the fastapi-users backend must use a CookieTransport"
            )
        get_strategy = backend.get_strategy
        if strategy is None and inspect.signature(get_strategy).parameters:
            raise ConfigurationError(
                key="sessions",
                reason="the backend's get_strategy takes dependencies: pass strategy=, an"
                " async context manager giving the strategy outside a request",
            )
        self.web = web
        self.transport: CookieTransport = backend.transport
        self._user_manager = user_manager
        self._user_for_account = user_for_account
        self._strategy = strategy or _no_dependencies(get_strategy)
        #: The app's backend with its strategy wrapped in :class:`OnboardkitStrategy`: give
        #: this one to ``FastAPIUsers`` so that ``current_user`` honours onboardkit's sign-in.
        self.backend: AuthenticationBackend[models.UP, models.ID] = AuthenticationBackend(
            backend.name, backend.transport, self._wrapped(get_strategy)
        )

    async def load(self, request: Request) -> HostSession | None:
        split = _split(request.cookies.get(self.transport.cookie_name))
        if split is None:
            return None
        session, inner = split
        if await self._read_user(inner) is None:
            return None  # expired, or logged out through the app
        return session

    async def save(self, request: Request, response: Response, change: SessionChange) -> None:
        if isinstance(change, SignedIn):
            await self._log_in(response, change)
            return
        split = _split(request.cookies.get(self.transport.cookie_name))
        if split is None or not ends(change, split[0]):
            return
        async with self._strategy() as strategy:
            user = await self._read_user(split[1], strategy)
            if user is not None:
                # A JWT cannot be destroyed: it stays valid until it expires, but its cookie
                # goes below.
                with contextlib.suppress(StrategyDestroyNotSupportedError):
                    await strategy.destroy_token(split[1], user)
        _copy_cookies(await self.transport.get_logout_response(), response)

    async def _log_in(self, response: Response, change: SignedIn) -> None:
        account = await run_in_threadpool(self.web.session_account, change.session)
        if account is None:
            return
        async with self._user_manager() as users:
            try:
                user = await self._user_for_account(account, users)
            except exceptions.UserNotExists:
                user = None
        if user is None:
            log.warning(
                "onboardkit account %s of tenant %s has no fastapi-users user: not logged in",
                account.id,
                account.tenant,
            )
            return
        async with self._strategy() as strategy:
            token = _session_token(change.session, await strategy.write_token(user))
        _copy_cookies(await self.transport.get_login_response(token), response)

    async def _read_user(
        self, inner: str, strategy: Strategy[models.UP, models.ID] | None = None
    ) -> models.UP | None:
        async with self._user_manager() as users:
            if strategy is not None:
                return await strategy.read_token(inner, users)
            async with self._strategy() as opened:
                return await opened.read_token(inner, users)

    def _wrapped(self, get_strategy: Callable[..., Any]) -> Callable[..., Any]:
        """``get_strategy`` with the same dependencies, giving an :class:`OnboardkitStrategy`."""
        web = self.web

        async def get_onboardkit_strategy(*args: Any, **kwargs: Any) -> Any:
            inner = get_strategy(*args, **kwargs)
            if inspect.isawaitable(inner):
                inner = await inner
            return OnboardkitStrategy(web, inner)

        # FastAPI reads the dependencies from the signature; string annotations are resolved
        # in the getter's own module.
        get_onboardkit_strategy.__signature__ = inspect.signature(  # type: ignore[attr-defined]
            get_strategy, eval_str=True
        )
        return get_onboardkit_strategy


def _no_dependencies(
    get_strategy: Callable[..., Any],
) -> Callable[[], AbstractAsyncContextManager[Any]]:
    @asynccontextmanager
    async def opened() -> AsyncIterator[Any]:
        strategy = get_strategy()
        if inspect.isawaitable(strategy):
            strategy = await strategy
        yield strategy

    return opened


def _copy_cookies(source: Response, target: Response) -> None:
    target.raw_headers.extend(
        (name, value) for name, value in source.raw_headers if name == b"set-cookie"
    )
