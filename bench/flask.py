"""Registrations over HTTP on Flask: the onboardkit Flask plugin against Flask-Security-Too.

Every peer is a Flask application driven by its own test client (werkzeug's ``Client``: a real
WSGI request and response, in-process, no sockets, no server); the requests are sequential, and
every one is a registration of a fresh address as a JSON body. Each answer's status is checked,
and after the run the number of stored rows must equal the number of registrations sent, so a
broken peer cannot look fast.

Same hasher, same database: every peer stores into one database (a SQLite file in a temporary
folder, or with ``--database postgresql`` a PostgreSQL database created for the run and dropped
after it), each in its own tables, and onboardkit and Flask-Security-Too hash with one and the same
``passlib`` ``CryptContext`` (``hex_sha256``: one SHA-256, the price of onboardkit's
``CheapTestHasher``; Flask-Security-Too's pre-hash HMAC is off for it through
``SECURITY_PASSWORD_SINGLE_HASH``). Both are then measured on what they do around the hash.

Peers, in the same run and interleaved round by round (the order rotates each round):

* ``onboardkit``: ``POST /onboarding/pim/api/register`` through ``onboardkit_flask.Onboardkit``
  (the extension on a service built with that hasher, no rate limiter) for the seed-000-like
  tenant of ``bench/registration.py`` (custom fields, consents, double opt-in, review): email,
  password, names, two custom fields and the privacy consent. 202 after the password policy
  (zxcvbn), hashing, the account insert and the confirmation mail rendered into the outbox;
* ``flask_security``: Flask-Security-Too's own ``/register`` view (``SECURITY_REGISTERABLE``,
  ``SECURITY_CONFIRMABLE``: it mails a confirmation link too, through Flask-Mailman's ``locmem``
  backend) with its Flask-SQLAlchemy datastore and ``fsqla_v3`` models, email and password as
  JSON, 200. The hash inside its confirmation token (``SECURITY_HASHING_SCHEMES``) is the same
  one SHA-256. Its defaults otherwise (password length 8, no complexity checker); email
  addresses are checked without a DNS lookup (``check_deliverability`` off, as onboardkit does),
  and Flask-WTF's CSRF check is off (onboardkit's JSON API checks the request's origin instead);
* ``flask_security_defaults``: the same with Flask-Security-Too's default token hash
  (``sha256_crypt``, 535,000 rounds: about 0.3 s of CPU per registration), what a user of it
  gets; on fewer registrations per round, for information;
* ``noop``: a Flask view that reads the same JSON form as onboardkit's, writes one row with
  Flask-SQLAlchemy and answers 201. That is the floor.

onboardkit's outbox and Flask-Mailman's ``locmem`` outbox are emptied between rounds, outside the
timed requests. The garbage collector is off inside a timed round.

Run: ``python bench/flask.py [--rounds 15] [--per-round 50] [--database sqlite|postgresql]
[--postgresql-url URL] [--defaults-per-round 3] [--quick]``. The last line of output is one JSON
object with the medians over rounds of the CPU time of the process per registration
(``<peer>_cpu_s``; ``time.process_time``, steadier than the wall clock on a loaded machine) and of
the wall clock (``<peer>_s``, ``<peer>_per_s``), the ratios taken within each round and then the
median: ``flask_security_over_onboardkit_cpu`` (how many times onboardkit's CPU per registration
Flask-Security-Too takes: goal 3 of issue 15 is at least 2),
``flask_security_defaults_over_onboardkit_cpu``, ``onboardkit_over_noop_cpu`` and
``flask_security_over_noop_cpu``, ``goal_met``, the database, and the 1-minute load average.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# This file is bench/flask.py: its own folder must not stand before the real flask on the path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]
import flask  # noqa: E402, F401 - the real one, before bench/ is on the path again

sys.path.append(_HERE)  # bench/registration.py

import attrs  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import Flask, request  # noqa: E402
from flask_mailman import Mail  # noqa: E402
from flask_security import Security, SQLAlchemyUserDatastore  # noqa: E402
from flask_security.models import fsqla_v3 as fsqla  # noqa: E402
from flask_sqlalchemy import SQLAlchemy  # noqa: E402
from onboardkit_flask import Onboardkit  # noqa: E402
from passlib.context import CryptContext  # noqa: E402
from registration import (  # noqa: E402 - seed 000, as measured there
    DEFAULT_POSTGRESQL_URL,
    PASSWORD,
    SECRET,
    TENANT,
    TENANTS,
    postgresql_database,
)

from onboardkit import schema  # noqa: E402
from onboardkit.onboarding import Onboarding  # noqa: E402
from onboardkit.sqlstore import SqlStore  # noqa: E402
from onboardkit.tenants import Tenants  # noqa: E402
from onboardkit.testing import make_plugins  # noqa: E402

FASTER_THAN_FLASK_SECURITY = 2.0
PREFIX = "/onboarding"
#: The one password hash of every peer: one SHA-256 (FOR BENCHMARKS ONLY).
HASH_SCHEME = "hex_sha256"
FLASK_SECRET = "Flask benchmark secret, 32 bytes or more"


def registration_body(serial: int) -> dict[str, Any]:
    """The registration form as JSON, the same for onboardkit and the no-op."""
    return {
        "email": f"anna.berg.{serial}.{secrets.token_hex(4)}@example.org",
        "password": PASSWORD,
        "given_name": "Anna",
        "family_name": "Berg",
        "fields": {"customer_number": "123456", "employee_number": "77"},
        "consents": {"privacy": True},
    }


def flask_security_body(prefix: str) -> Callable[[int], dict[str, Any]]:
    """What Flask-Security-Too's register form has: email, password, its confirmation; the
    address starts with ``prefix`` (two peers share its user table)."""

    def body(serial: int) -> dict[str, Any]:
        email = f"{prefix}.{serial}.{secrets.token_hex(4)}@example.org"
        return {"email": email, "password": PASSWORD, "password_confirm": PASSWORD}

    return body


class PasslibHasher:
    """onboardkit's :class:`~onboardkit.hashing.Hasher` over a passlib ``CryptContext``: the
    context Flask-Security-Too hashes with, so both peers pay for the same hash."""

    def __init__(self, context: CryptContext) -> None:
        self.context = context

    def hash(self, password: str) -> str:
        return str(self.context.hash(password))

    def verify(self, password: str, stored: str) -> bool:
        return bool(self.context.verify(password, stored))

    def needs_rehash(self, stored: str) -> bool:
        return bool(self.context.needs_update(stored))


def hash_context() -> CryptContext:
    return CryptContext(schemes=[HASH_SCHEME], default=HASH_SCHEME)


@attrs.define
class Peer:
    """One Flask application and the registration request it answers."""

    name: str
    app: Flask
    path: str
    status: int
    body: Callable[[int], dict[str, Any]]
    per_round: int
    stored: Callable[[], int]
    between_rounds: Callable[[], None] = lambda: None
    close: Callable[[], None] = lambda: None
    serial: int = 0
    wall: list[float] = attrs.Factory(list)  # seconds per registration, per round
    cpu: list[float] = attrs.Factory(list)
    client: Any = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Every registration is a new visitor: no cookie carried from one to the next (Flask-
        # Security-Too's flashed messages would otherwise pile up in its session cookie).
        self.client = self.app.test_client(use_cookies=False)

    def register_once(self) -> None:
        self.serial += 1
        body = self.body(self.serial)
        answer = self.client.post(self.path, json=body)
        if answer.status_code != self.status:
            raise AssertionError(
                f"{self.name}: POST {self.path} answered {answer.status_code}, expected"
                f" {self.status}\n  sent: {json.dumps(body)}\n  came back: {answer.text[:2000]}"
            )

    def run(self, count: int) -> tuple[float, float]:
        """``count`` registrations, one after another: seconds per registration (wall, CPU)."""
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(count):
            self.register_once()
        wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
        return wall / count, cpu / count

    def run_round(self) -> None:
        self.between_rounds()
        gc.collect()
        gc.disable()
        try:
            wall, cpu = self.run(self.per_round)
        finally:
            gc.enable()
        self.wall.append(wall)
        self.cpu.append(cpu)

    def check_stored(self) -> None:
        count = self.stored()
        if count != self.serial:
            raise AssertionError(f"{self.name}: {self.serial} registrations, {count} rows")


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- onboardkit ------------------------------------------------------------------------------------


def onboardkit_peer(database_url: str, per_round: int) -> Peer:
    store = SqlStore.from_url(database_url)
    store.migrate()
    # The seed-000 tenant of bench/registration.py, its pages where the blueprint serves them.
    tenant = attrs.evolve(TENANTS[TENANT], base_url=f"https://bench.example.com{PREFIX}/{TENANT}")
    service = Onboarding(
        Tenants.of([tenant]),
        store,
        secret=SECRET,
        plugins=make_plugins(),
        hasher=PasslibHasher(hash_context()),
        limiter=None,
    )
    app = Flask("bench_onboardkit")
    app.config.update(
        SECRET_KEY=FLASK_SECRET, ONBOARDKIT_SECRET_KEY=SECRET, ONBOARDKIT_URL_PREFIX=PREFIX
    )
    extension = Onboardkit(app, onboarding=service)

    def empty_outbox() -> None:
        with store.engine.begin() as connection:
            connection.execute(sa.delete(schema.outbox))

    def close() -> None:
        extension.close(app)
        service.close()
        store.dispose()

    return Peer(
        "onboardkit",
        app,
        f"{PREFIX}/{TENANT}/api/register",
        202,
        registration_body,
        per_round,
        stored=lambda: _count(store.engine, schema.accounts),
        between_rounds=empty_outbox,
        close=close,
    )


# -- Flask-Security-Too ----------------------------------------------------------------------------


def flask_security_peer(
    name: str, database_url: str, per_round: int, *, token_hash: str | None
) -> Peer:
    """Flask-Security-Too's register view; ``token_hash``: the scheme of the hash in its
    confirmation token, ``None`` for its default (sha256_crypt)."""
    app = Flask(f"bench_{name}")
    app.config.update(
        SECRET_KEY=FLASK_SECRET,
        SECURITY_PASSWORD_SALT="benchmark salt, not secret",
        SQLALCHEMY_DATABASE_URI=database_url,
        SECURITY_REGISTERABLE=True,
        SECURITY_CONFIRMABLE=True,
        SECURITY_PASSWORD_HASH=HASH_SCHEME,
        SECURITY_PASSWORD_SCHEMES=[HASH_SCHEME],
        SECURITY_DEPRECATED_PASSWORD_SCHEMES=[],
        SECURITY_PASSWORD_SINGLE_HASH=True,
        SECURITY_EMAIL_VALIDATOR_ARGS={"check_deliverability": False},
        WTF_CSRF_ENABLED=False,
        MAIL_BACKEND="locmem",
        MAIL_DEFAULT_SENDER="no-reply@pim.example.com",
    )
    if token_hash is not None:
        app.config.update(
            SECURITY_HASHING_SCHEMES=[token_hash], SECURITY_DEPRECATED_HASHING_SCHEMES=[]
        )
    db = SQLAlchemy(app)
    fsqla.FsModels.set_db_info(db)

    class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
        pass

    class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
        pass

    mail = Mail(app)
    Security(app, SQLAlchemyUserDatastore(db, User, Role))
    with app.app_context():
        db.create_all()
        engine = db.engine
    users = User.__table__

    def empty_outbox() -> None:
        mail.outbox.clear()

    def stored() -> int:
        query = sa.select(sa.func.count()).where(users.c.email.startswith(f"{name}."))
        with engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    return Peer(
        name,
        app,
        "/register",
        200,
        flask_security_body(name),
        per_round,
        stored=stored,
        between_rounds=empty_outbox,
        close=engine.dispose,
    )


# -- the floor: a view that reads the form and writes one row --------------------------------------


def noop_peer(database_url: str, per_round: int) -> Peer:
    app = Flask("bench_noop")
    app.config.update(SECRET_KEY=FLASK_SECRET, SQLALCHEMY_DATABASE_URI=database_url)
    db = SQLAlchemy(app)
    registrations = sa.Table(
        "bench_noop_registrations",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password", sa.String(200), nullable=False),
        sa.Column("given_name", sa.String(200), nullable=False),
        sa.Column("family_name", sa.String(200), nullable=False),
    )

    @app.post("/register")
    def register() -> tuple[dict[str, str], int]:
        form = request.get_json()
        db.session.execute(
            registrations.insert().values(
                email=form["email"],
                password=form["password"],
                given_name=form["given_name"],
                family_name=form["family_name"],
            )
        )
        db.session.commit()
        return {"status": "ok"}, 201

    with app.app_context():
        db.create_all()
        engine = db.engine
    return Peer(
        "noop",
        app,
        "/register",
        201,
        registration_body,
        per_round,
        stored=lambda: _count(engine, registrations),
        close=engine.dispose,
    )


# -- the run ---------------------------------------------------------------------------------------


def run(database_url: str, options: argparse.Namespace) -> list[Peer]:
    peers = [
        onboardkit_peer(database_url, options.per_round),
        flask_security_peer(
            "flask_security", database_url, options.per_round, token_hash=HASH_SCHEME
        ),
        flask_security_peer(
            "flask_security_defaults",
            database_url,
            options.defaults_per_round,
            token_hash=None,
        ),
        noop_peer(database_url, options.per_round),
    ]
    try:
        for peer in peers:
            peer.run(options.warm_up if peer.per_round == options.per_round else 2)
        for round_number in range(options.rounds):
            shift = round_number % len(peers)
            for peer in peers[shift:] + peers[:shift]:
                peer.run_round()
        for peer in peers:
            peer.check_stored()
    finally:
        for peer in peers:
            peer.close()
    return peers


def _paired(numerator: list[float], denominator: list[float]) -> float:
    return round(statistics.median(a / b for a, b in zip(numerator, denominator, strict=True)), 2)


def report(peers: list[Peer], options: argparse.Namespace) -> None:
    print(
        f"one registration over WSGI (Flask's test client), sequential, on {options.database}:"
        f" median over {options.rounds} rounds of the mean per registration"
    )
    print(f"  {'':24}{'n/round':>8}{'cpu us':>9}{'wall us':>9}{'reg/s':>8}   cpu min / max (us)")
    for peer in peers:
        cpu, wall = statistics.median(peer.cpu), statistics.median(peer.wall)
        print(
            f"  {peer.name:24}{peer.per_round:8}{cpu * 1e6:9.0f}{wall * 1e6:9.0f}{1 / wall:8.0f}"
            f"   {min(peer.cpu) * 1e6:.0f} / {max(peer.cpu) * 1e6:.0f}"
        )
    by_name = {peer.name: peer for peer in peers}
    result: dict[str, Any] = {}
    for peer in peers:
        result[f"{peer.name}_cpu_s"] = round(statistics.median(peer.cpu), 7)
        result[f"{peer.name}_s"] = round(statistics.median(peer.wall), 7)
        result[f"{peer.name}_per_s"] = round(1 / statistics.median(peer.wall), 1)
    ours, theirs, floor = by_name["onboardkit"], by_name["flask_security"], by_name["noop"]
    over_ours = _paired(theirs.cpu, ours.cpu)
    result["flask_security_over_onboardkit_cpu"] = over_ours
    result["onboardkit_over_noop_cpu"] = _paired(ours.cpu, floor.cpu)
    result["flask_security_over_noop_cpu"] = _paired(theirs.cpu, floor.cpu)
    result["flask_security_over_onboardkit_wall"] = _paired(theirs.wall, ours.wall)
    result["flask_security_defaults_over_onboardkit_cpu"] = _paired(
        by_name["flask_security_defaults"].cpu, ours.cpu
    )
    result["goal_met"] = over_ours >= FASTER_THAN_FLASK_SECURITY
    result["database"] = options.database
    result["rounds"] = options.rounds
    result["per_round"] = options.per_round
    result["defaults_per_round"] = options.defaults_per_round
    result["python"] = ".".join(map(str, sys.version_info[:3]))
    result["load_1min"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    print(json.dumps(result))


@contextmanager
def database(options: argparse.Namespace) -> Iterator[str]:
    """The run's database: a SQLite file in a temporary folder, or a PostgreSQL database
    created for the run and dropped after it."""
    if options.database == "postgresql":
        with postgresql_database(options.postgresql_url) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="bench-flask-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=50, help="registrations per round")
    parser.add_argument(
        "--defaults-per-round",
        type=int,
        default=3,
        help="registrations per round with Flask-Security-Too's default token hash",
    )
    parser.add_argument("--warm-up", type=int, default=30, help="untimed registrations per peer")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL_URL)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds of 10")
    options = parser.parse_args()
    if options.quick:
        options.rounds, options.per_round, options.warm_up = 3, 10, 5
        options.defaults_per_round = 1
    with database(options) as url:
        report(run(url, options), options)


if __name__ == "__main__":
    main()
