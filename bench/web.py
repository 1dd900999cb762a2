"""Registrations per second over HTTP: the onboardkit FastAPI plugin against fastapi-users.

Every peer is a FastAPI application driven by one ``httpx.AsyncClient`` over
``httpx.ASGITransport`` (in-process, no sockets, no server) in one asyncio loop; the requests are
sequential (one client, one request at a time) and every one is a registration of a fresh address
with the same JSON body (email, password, given and family name, two custom fields, a consent).
Each response's status is checked (202 for onboardkit, 201 for the others), and after the run
the number of stored accounts must equal the number of registrations sent, so a broken peer cannot
look fast.

Peers, in the same run and interleaved round by round (the order rotates each round):

* ``onboardkit``: ``POST /{tenant}/api/register`` of the ``onboardkit_fastapi`` plugin
  (``app.include_router(onboarding_router(web))``) over
  :class:`onboardkit.web.OnboardingWeb` and :class:`onboardkit.onboarding.Onboarding` for a
  seed-000-like tenant (custom fields, consents, double opt-in, review; the tenant of
  ``bench/registration.py``), the in-memory SQLite store
  (:func:`onboardkit.testing.store.memory_store`) and
  :class:`onboardkit.testing.passwords.CheapTestHasher` (one SHA-256), no rate limiter. The
  answer is 202 after the password policy (zxcvbn), hashing, the account insert and the
  confirmation mail rendered into the outbox;
* ``fastapi_users_cheap``: fastapi-users' standard ``get_register_router`` (``POST
  /auth/register``, 201) with its SQLAlchemy adapter on an async in-memory SQLite database
  (``sqlite+aiosqlite://``, ``StaticPool``), a user table with given and family name added, and
  a password helper of one salted SHA-256 (like onboardkit's cheap hasher): like for like;
* ``fastapi_users_argon2``: the same with fastapi-users' default ``PasswordHelper`` (Argon2id
  through pwdlib at its defaults, what a user of it gets), on fewer registrations per round;
* ``noop``: a FastAPI ``POST`` endpoint that parses the same JSON body into a pydantic model,
  opens an ``AsyncSession`` on the same kind of async in-memory SQLite database through a
  dependency (as fastapi-users does) and answers 201 with a small JSON. That is the floor.

onboardkit's outbox is emptied between rounds (as a relay would), outside the timed requests.
The garbage collector is off inside a timed round. The client's own cost is in every figure
(about half of the no-op's time); only its failed import of sniffio per request, when sniffio is
not installed, is taken out (see :func:`_no_failed_import_per_request`).

Run: ``/tmp/venv/bin/python bench/web.py [--rounds 15] [--per-round 50] [--argon2-per-round 4]
[--quick]``. The last line of output is one JSON object with the medians over rounds of the
seconds per registration (wall clock; ``<peer>_s``) and registrations per second
(``<peer>_per_s``), the CPU time of the process per registration, the ratios
``fastapi_users_over_onboardkit`` (how many times faster onboardkit is than fastapi-users with
the cheap helper: the like-for-like figure of the goal, at least 3),
``fastapi_users_argon2_over_onboardkit`` (against fastapi-users' default hasher) and
``onboardkit_over_noop`` (goal: at most 2), ``goal_met``, the two goal ratios taken within each
round and then the median (``*_paired``) and the 1-minute load average.
"""

import argparse
import asyncio
import gc
import hashlib
import hmac
import json
import os
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import sqlalchemy as sa
from fastapi import Depends, FastAPI
from fastapi_users import FastAPIUsers, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.manager import BaseUserManager, UUIDIDMixin
from fastapi_users.password import PasswordHelper, PasswordHelperProtocol
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from onboardkit_fastapi import onboarding_router
from pydantic import BaseModel
from registration import PASSWORD, SECRET, TENANT, TENANTS  # seed 000, as measured there
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool

from onboardkit import schema
from onboardkit.onboarding import Onboarding
from onboardkit.testing import make_plugins
from onboardkit.testing.passwords import CheapTestHasher
from onboardkit.testing.store import memory_store
from onboardkit.web import OnboardingWeb

FASTER_THAN_FASTAPI_USERS = 3.0
AT_MOST_NOOP = 2.0
JWT_SECRET = "fastapi-users benchmark secret, 32 bytes or more"


def _no_failed_import_per_request() -> None:
    """Without sniffio installed, ``httpx.ASGITransport`` tries (and fails) to import it in every
    request, a cost of the client that no server has; a failed import is remembered here."""
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def registration_body(serial: int) -> dict[str, Any]:
    """The JSON body of one registration, the same for every peer, with a fresh address."""
    return {
        "email": f"anna.berg.{serial}.{secrets.token_hex(4)}@example.org",
        "password": PASSWORD,
        "given_name": "Anna",
        "family_name": "Berg",
        "fields": {"customer_number": "123456", "employee_number": "77"},
        "consents": {"privacy": True},
    }


class Peer:
    """One ASGI application and the request that registers on it."""

    def __init__(
        self,
        name: str,
        app: Any,
        path: str,
        status: int,
        per_round: int,
        *,
        setup: Callable[[], Any] | None = None,
        between_rounds: Callable[[], Any] | None = None,
        stored: Callable[[], Any] | None = None,
        close: Callable[[], Any] | None = None,
    ) -> None:
        self.name = name
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 40000)),
            base_url="https://bench.example.com",
        )
        self.path = path
        self.status = status
        self.per_round = per_round
        self._setup = setup
        self._between_rounds = between_rounds
        self._stored = stored
        self._close = close
        self._serial = 0
        self.wall: list[float] = []  # seconds per registration, per round
        self.cpu: list[float] = []

    async def setup(self) -> None:
        if self._setup is not None:
            await _maybe_await(self._setup())

    async def register_once(self) -> None:
        self._serial += 1
        body = registration_body(self._serial)
        response = await self.client.post(self.path, json=body)
        if response.status_code != self.status:
            raise AssertionError(
                f"{self.name}: POST {self.path} answered {response.status_code}, expected"
                f" {self.status}\n  sent: {json.dumps(body)}\n  came back: {response.text[:2000]}"
            )

    async def run(self, count: int) -> tuple[float, float]:
        """``count`` registrations, one after another: seconds per registration (wall, CPU)."""
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(count):
            await self.register_once()
        wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
        return wall / count, cpu / count

    async def run_round(self) -> None:
        if self._between_rounds is not None:
            await _maybe_await(self._between_rounds())
        gc.collect()
        gc.disable()
        try:
            wall, cpu = await self.run(self.per_round)
        finally:
            gc.enable()
        self.wall.append(wall)
        self.cpu.append(cpu)

    async def check_stored(self) -> None:
        """Every registration sent left one account behind (not timed)."""
        if self._stored is None:
            return
        count = self._stored()
        if asyncio.iscoroutine(count):
            count = await count
        if count != self._serial:
            raise AssertionError(f"{self.name}: {self._serial} registrations, {count} accounts")

    async def aclose(self) -> None:
        await self.client.aclose()
        if self._close is not None:
            await _maybe_await(self._close())

    def median(self) -> float:
        return statistics.median(self.wall)

    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


def async_memory_engine() -> AsyncEngine:
    """An async in-memory SQLite database whose tables outlive a session (one connection)."""
    return create_async_engine(
        "sqlite+aiosqlite://",
        poolclass=StaticPool,
        connect_args={"check_same_thread": False},
    )


# -- fastapi-users --------------------------------------------------------------------------------


class UsersBase(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, UsersBase):
    given_name: Mapped[str] = mapped_column(sa.String(200), default="")
    family_name: Mapped[str] = mapped_column(sa.String(200), default="")


class UserRead(schemas.BaseUser[uuid.UUID]):
    given_name: str
    family_name: str


class UserCreate(schemas.BaseUserCreate):
    given_name: str
    family_name: str


class CheapPasswordHelper(PasswordHelperProtocol):
    """One salted SHA-256, like onboardkit's ``CheapTestHasher``. FOR BENCHMARKS ONLY."""

    def hash(self, password: str) -> str:
        salt = secrets.token_hex(8)
        return f"$sha256${salt}${self._digest(salt, password)}"

    def verify_and_update(self, plain_password: str, hashed_password: str) -> tuple[bool, None]:
        _, _, salt, digest = hashed_password.split("$", 3)
        return hmac.compare_digest(digest, self._digest(salt, plain_password)), None

    def generate(self) -> str:
        return secrets.token_urlsafe()

    @staticmethod
    def _digest(salt: str, password: str) -> str:
        return hashlib.sha256(f"{salt}${password}".encode()).hexdigest()


def fastapi_users_peer(name: str, helper: PasswordHelperProtocol, per_round: int) -> Peer:
    """fastapi-users as its documentation sets it up, with the given password helper."""
    engine = async_memory_engine()
    session_maker = async_sessionmaker(engine, expire_on_commit=False)

    async def get_async_session() -> AsyncIterator[AsyncSession]:
        async with session_maker() as session:
            yield session

    async def get_user_db(
        session: Annotated[AsyncSession, Depends(get_async_session)],
    ) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
        yield SQLAlchemyUserDatabase(session, User)

    class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
        reset_password_token_secret = JWT_SECRET
        verification_token_secret = JWT_SECRET

    async def get_user_manager(
        user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
    ) -> AsyncIterator[UserManager]:
        yield UserManager(user_db, helper)

    backend = AuthenticationBackend(
        name="jwt",
        transport=BearerTransport(tokenUrl="auth/jwt/login"),
        get_strategy=lambda: JWTStrategy(secret=JWT_SECRET, lifetime_seconds=3600),
    )
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
    app = FastAPI()
    app.include_router(users.get_register_router(UserRead, UserCreate), prefix="/auth")

    async def create_tables() -> None:
        async with engine.begin() as connection:
            await connection.run_sync(UsersBase.metadata.create_all)

    async def users() -> int:
        async with session_maker() as session:
            return (
                await session.execute(sa.select(sa.func.count()).select_from(User))
            ).scalar_one()

    return Peer(
        name,
        app,
        "/auth/register",
        201,
        per_round,
        setup=create_tables,
        stored=users,
        close=engine.dispose,
    )


# -- the floor: a no-op POST that opens a session -------------------------------------------------


class Registration(BaseModel):
    email: str
    password: str
    given_name: str
    family_name: str
    fields: dict[str, str] = {}
    consents: dict[str, bool] = {}


def noop_peer(per_round: int) -> Peer:
    engine = async_memory_engine()
    session_maker = async_sessionmaker(engine, expire_on_commit=False)

    async def get_async_session() -> AsyncIterator[AsyncSession]:
        async with session_maker() as session:
            yield session

    app = FastAPI()

    @app.post("/register", status_code=201)
    async def register(
        registration: Registration,
        session: Annotated[AsyncSession, Depends(get_async_session)],
    ) -> dict[str, str]:
        return {"status": "ok"}

    return Peer("noop", app, "/register", 201, per_round, close=engine.dispose)


# -- onboardkit ------------------------------------------------------------------------------------


def onboardkit_peer(per_round: int) -> Peer:
    store = memory_store()
    service = Onboarding(
        TENANTS,
        store,
        secret=SECRET,
        plugins=make_plugins(),
        hasher=CheapTestHasher(),
        limiter=None,
    )
    web = OnboardingWeb(service, secret=SECRET)
    app = FastAPI()
    app.include_router(onboarding_router(web))

    def empty_outbox() -> None:
        with store.engine.begin() as connection:
            connection.execute(sa.delete(schema.outbox))

    def accounts() -> int:
        with store.engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(schema.accounts)
            return int(connection.execute(query).scalar_one())

    def close() -> None:
        service.close()
        store.dispose()

    return Peer(
        "onboardkit",
        app,
        f"/{TENANT}/api/register",
        202,
        per_round,
        between_rounds=empty_outbox,
        stored=accounts,
        close=close,
    )


# -- the run ---------------------------------------------------------------------------------------


async def run(options: argparse.Namespace) -> list[Peer]:
    peers = [
        onboardkit_peer(options.per_round),
        noop_peer(options.per_round),
        fastapi_users_peer("fastapi_users_cheap", CheapPasswordHelper(), options.per_round),
        fastapi_users_peer("fastapi_users_argon2", PasswordHelper(), options.argon2_per_round),
    ]
    try:
        for peer in peers:
            await peer.setup()
        for peer in peers:
            await peer.run(options.warm_up if peer.per_round == options.per_round else 2)
        for round_number in range(options.rounds):
            shift = round_number % len(peers)
            for peer in peers[shift:] + peers[:shift]:
                await peer.run_round()
        for peer in peers:
            await peer.check_stored()
    finally:
        for peer in peers:
            await peer.aclose()
    return peers


def report(peers: list[Peer], options: argparse.Namespace) -> None:
    print(
        f"one registration over in-process ASGI (httpx.ASGITransport), sequential: median over"
        f" {options.rounds} rounds of the mean per registration (wall clock; CPU of the process)"
    )
    print(f"  {'':21}{'n/round':>8}{'us':>9}{'reg/s':>9}{'cpu us':>9}   min / max round (us)")
    for peer in peers:
        median = peer.median()
        print(
            f"  {peer.name:21}{peer.per_round:8}{median * 1e6:9.0f}{1 / median:9.0f}"
            f"{peer.cpu_median() * 1e6:9.0f}   {min(peer.wall) * 1e6:.0f} /"
            f" {max(peer.wall) * 1e6:.0f}"
        )

    by_name = {peer.name: peer for peer in peers}
    result: dict[str, Any] = {}
    for peer in peers:
        result[f"{peer.name}_s"] = round(peer.median(), 7)
        result[f"{peer.name}_per_s"] = round(1 / peer.median(), 1)
        result[f"{peer.name}_cpu_s"] = round(peer.cpu_median(), 7)
    ours = by_name["onboardkit"].median()
    cheap = by_name["fastapi_users_cheap"].median() / ours
    argon2 = by_name["fastapi_users_argon2"].median() / ours
    over_noop = ours / by_name["noop"].median()
    # The goal's figure is the like-for-like one (both with a cheap hasher).
    result["fastapi_users_over_onboardkit"] = round(cheap, 2)
    result["fastapi_users_argon2_over_onboardkit"] = round(argon2, 2)
    result["onboardkit_over_noop"] = round(over_noop, 2)
    result["goal_met"] = cheap >= FASTER_THAN_FASTAPI_USERS and over_noop <= AT_MOST_NOOP
    # The same ratios taken within each round, then the median: steadier when the machine's load
    # changes during the run (the peers of one round run within about two seconds).
    result["fastapi_users_over_onboardkit_paired"] = _paired(
        by_name["fastapi_users_cheap"], by_name["onboardkit"]
    )
    result["onboardkit_over_noop_paired"] = _paired(by_name["onboardkit"], by_name["noop"])
    result["fastapi_users_cheap_over_noop"] = round(
        by_name["fastapi_users_cheap"].median() / by_name["noop"].median(), 2
    )
    result["rounds"] = options.rounds
    result["per_round"] = options.per_round
    result["argon2_per_round"] = options.argon2_per_round
    result["load_1min"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    print(json.dumps(result))


def _paired(numerator: Peer, denominator: Peer) -> float:
    ratios = [a / b for a, b in zip(numerator.wall, denominator.wall, strict=True)]
    return round(statistics.median(ratios), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=50, help="registrations per round")
    parser.add_argument(
        "--argon2-per-round",
        type=int,
        default=4,
        help="registrations per round with fastapi-users' default (Argon2id) password helper",
    )
    parser.add_argument("--warm-up", type=int, default=30, help="untimed registrations per peer")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds of 10")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.per_round, options.argon2_per_round = 3, 10, 2
        options.warm_up = 5
    _no_failed_import_per_request()
    report(asyncio.run(run(options)), options)


if __name__ == "__main__":
    main()
