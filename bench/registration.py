"""One complete self-registration through the core, and the core's own cost in it.

"Complete" is the whole of flow 1 for a seed-000-like tenant (custom fields, consents, double
opt-in, review by a reviewer), three calls to :class:`onboardkit.onboarding.Onboarding`:

1. ``register(form)``: form with email, password, names, two custom fields (one with a pattern)
   and a consent checkbox; password policy (``default`` profile: length, blocklist, context
   words, zxcvbn), password hashing, account insert, confirmation mail rendered into the outbox;
2. ``confirm(token)``: the token read from that mail's text; the link is checked, the account
   moves to review, the consents given at registration go into the consent ledger, and a notice
   is rendered for the reviewer;
3. ``approve(...)``: the reviewer approves with a role and a user type; the account becomes
   active and the "approved" mail is rendered.

Set-up: built-in plugins only, the default mailer (onboardkit's templates), the real system
clock, no rate limiter (``limiter=None``), a fresh address per registration. Reading the token
from the outbox and emptying the outbox after each registration (as a relay would) happen
outside the timed calls.

Peers, in the same run and interleaved round by round (the order rotates each round):

* ``sqlite_cheap``: the in-memory SQLite store (:func:`onboardkit.testing.store.memory_store`)
  with :class:`onboardkit.testing.passwords.CheapTestHasher` (one SHA-256);
* ``postgresql_cheap``: the same on a real PostgreSQL (a database created for this run and
  dropped at the end; skipped, and said so in the JSON, when the server cannot be reached);
* ``sqlite_argon2``: the same as ``sqlite_cheap`` with the real Argon2id hasher at its defaults
  (OWASP: 19 MiB, 2 passes), on fewer registrations per round.

Within each registration the time spent in the database and in password hashing is measured and
taken out: database time is the time inside the DBAPI driver (every ``cursor.execute`` through
SQLAlchemy's ``before_cursor_execute``/``after_cursor_execute`` events, plus the driver's begin,
commit, rollback and pool ping); hashing time is the time inside the hasher's ``hash`` and
``verify``. What is left, the core overhead, includes everything else: onboardkit's own code,
the libraries it calls (zxcvbn, jinja2, cryptography, email-validator, pluggy) and SQLAlchemy
building statements and reading rows. Two parts of it are shown on their own: ``policy``, the
tenant's ``PasswordPolicy.check`` (zxcvbn), and ``mail``, ``Mailer.compose`` of the three mails.

Run: ``/tmp/venv/bin/python bench/registration.py [--rounds 15] [--iterations 40]
[--argon2-iterations 2] [--postgresql-url URL | --no-postgresql]``. The last line of output is one
JSON object with the medians over rounds of the per-registration means in microseconds
(``<peer>_{total,database,hashing,core,policy,mail}_us``), the ratios ``postgresql_over_sqlite``
and ``argon2_over_cheap`` (totals) and ``argon2_hashing_over_core``, the 1-minute load average,
and ``goal_met``: the core overhead on SQLite with the cheap hasher is at most 1 ms (1000 us).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa

from onboardkit import schema
from onboardkit.errors import Issue
from onboardkit.hashing import Hasher, PasswordHasher
from onboardkit.mail import Mailer, MailRenderer
from onboardkit.onboarding import Onboarding
from onboardkit.passwords import PasswordPolicy
from onboardkit.plugins import Plugins
from onboardkit.sqlstore import SqlStore, mail_from_row
from onboardkit.storage import OutboxMail
from onboardkit.tenants import Tenants
from onboardkit.testing import make_plugins
from onboardkit.testing.passwords import CheapTestHasher
from onboardkit.testing.store import memory_store

GOAL_US = 1000.0
SECRET = b"onboardkit benchmark secret, 32 bytes or more"
PASSWORD = "Tundra-Violet-Harbor-93"
TENANT = "pim"
DEFAULT_POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _purpose(title: str, *, required: bool) -> dict[str, Any]:
    return {
        "required": required,
        "versions": [
            {
                "version": "2024-05",
                "locales": {
                    "en": {"title": title, "text": f"The {title} text."},
                    "de": {"title": f"{title} (de)", "text": f"Der Text: {title}."},
                },
            }
        ],
    }


# Seed 000: self-registration with custom fields, double opt-in and review.
TENANTS = Tenants.from_mapping(
    {
        "tenants": {
            TENANT: {
                "name": "PIM Portal",
                "base_url": "https://pim.example.com/onboarding",
                "sender": "no-reply@pim.example.com",
                "flows": ["registration"],
                "roles": ["viewer", "editor"],
                "user_types": {"staff": {"permissions": ["edit"]}},
                "review": {"required": True, "reviewers": ["review@pim.example.com"]},
                "fields": {
                    "customer_number": {
                        "type": "text",
                        "label": "Customer number",
                        "required": True,
                        "pattern": "[0-9]{6}",
                    },
                    "employee_number": {
                        "type": "text",
                        "label": "Employee number",
                        "max_length": 12,
                    },
                },
                "consent": {
                    "purposes": {
                        "privacy": _purpose("Privacy policy", required=True),
                        "newsletter": _purpose("Newsletter", required=False),
                    }
                },
            }
        }
    }
)

_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_\-%]+)")


class Meter:
    """Nanoseconds spent in the database driver and in the hasher since the last ``reset``, and,
    as parts of the core overhead, in the password policy's check and in composing mail."""

    #: The meter of the peer that runs now (password policies are shared by all peers).
    active: Meter | None = None

    def __init__(self) -> None:
        self.database = 0
        self.hashing = 0
        self.policy = 0
        self.mail = 0
        self._started: list[int] = []

    def reset(self) -> None:
        self.restore({"database": 0, "hashing": 0, "policy": 0, "mail": 0})
        Meter.active = self

    def snapshot(self) -> dict[str, int]:
        return {
            "database": self.database,
            "hashing": self.hashing,
            "policy": self.policy,
            "mail": self.mail,
        }

    def restore(self, values: dict[str, int]) -> None:
        self.database = values["database"]
        self.hashing = values["hashing"]
        self.policy = values["policy"]
        self.mail = values["mail"]

    def watch(self, engine: sa.Engine) -> None:
        """Count the time of every statement, and of the driver's begin, commit and rollback."""

        def before(*_args: Any) -> None:
            self._started.append(time.perf_counter_ns())

        def after(*_args: Any) -> None:
            self.database += time.perf_counter_ns() - self._started.pop()

        sa.event.listen(engine, "before_cursor_execute", before)
        sa.event.listen(engine, "after_cursor_execute", after)
        dialect: Any = engine.dialect
        for name in ("do_begin", "do_commit", "do_rollback", "do_ping"):
            setattr(dialect, name, self._timed(getattr(dialect, name)))

    def _timed(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return function(*args, **kwargs)
            finally:
                self.database += time.perf_counter_ns() - start

        return timed


class TimedHasher:
    """A :class:`Hasher` that adds the time of each call to a :class:`Meter`."""

    def __init__(self, hasher: Hasher, meter: Meter) -> None:
        self._hasher = hasher
        self._meter = meter

    def hash(self, password: str) -> str:
        start = time.perf_counter_ns()
        try:
            return self._hasher.hash(password)
        finally:
            self._meter.hashing += time.perf_counter_ns() - start

    def verify(self, password: str, stored: str) -> bool:
        start = time.perf_counter_ns()
        try:
            return self._hasher.verify(password, stored)
        finally:
            self._meter.hashing += time.perf_counter_ns() - start

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.needs_rehash(stored)


def time_policy_checks() -> None:
    """Make :meth:`PasswordPolicy.check` (zxcvbn and the other rules) add its time to the
    active meter. The policy is the tenant's own, so it is timed where it is defined."""
    original = PasswordPolicy.check

    def check(self: PasswordPolicy, password: str, **options: Any) -> list[Issue]:
        start = time.perf_counter_ns()
        try:
            return original(self, password, **options)
        finally:
            if Meter.active is not None:
                Meter.active.policy += time.perf_counter_ns() - start

    PasswordPolicy.check = check  # type: ignore[method-assign]


class TimedMailer(Mailer):
    """The default mailer, adding the time of each ``compose`` (check, render) to a meter."""

    def __init__(self, plugins: Plugins, meter: Meter) -> None:
        super().__init__(MailRenderer(plugins=plugins))
        self._meter = meter

    def compose(self, *args: Any, **kwargs: Any) -> OutboxMail:
        start = time.perf_counter_ns()
        try:
            return super().compose(*args, **kwargs)
        finally:
            self._meter.mail += time.perf_counter_ns() - start


class Peer:
    """One onboarding service over one store, registering fresh addresses."""

    def __init__(self, name: str, store: SqlStore, hasher: Hasher, iterations: int) -> None:
        self.name = name
        self.store = store
        self.iterations = iterations
        self.meter = Meter()
        self.meter.watch(store.engine)
        plugins = make_plugins()
        self.service = Onboarding(
            TENANTS,
            store,
            secret=SECRET,
            plugins=plugins,
            hasher=TimedHasher(hasher, self.meter),
            mailer=TimedMailer(plugins, self.meter),
            limiter=None,
        )
        self.hasher = hasher
        self._serial = 0
        #: Per measured quantity (total, register, confirm, approve, database, hashing, policy,
        #: mail, core), per round: the mean per registration in microseconds.
        self.rounds: dict[str, list[float]] = {}

    def close(self) -> None:
        self.service.close()
        self.store.dispose()

    def _outbox_token(self, recipient: str) -> str:
        """The link token of the confirmation mail to ``recipient`` (not timed)."""
        table = schema.outbox
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                sa.select(table).where(
                    table.c.recipient == recipient, table.c.kind == "confirmation"
                )
            ).mappings()
            mail = mail_from_row(next(iter(rows)))
        found = _TOKEN.search(mail.text)
        if found is None:
            raise AssertionError("the confirmation mail has no link with a token")
        return unquote(found.group(1))

    def _empty_outbox(self) -> None:
        with self.store.engine.begin() as connection:
            connection.execute(sa.delete(schema.outbox))

    def register_once(self) -> dict[str, int]:
        """One complete registration: its ns in all, per step, and in the metered parts."""
        self._serial += 1
        email = f"anna.berg.{self._serial}.{secrets.token_hex(4)}@example.org"
        form: dict[str, object] = {
            "email": email,
            "password": PASSWORD,
            "given_name": "Anna",
            "family_name": "Berg",
            "fields.customer_number": "123456",
            "fields.employee_number": "77",
            "consents.privacy": "on",
        }
        meter, service = self.meter, self.service
        meter.reset()
        start = time.perf_counter_ns()
        service.register(TENANT, form, client_address="203.0.113.7")
        registered = time.perf_counter_ns()
        metered = meter.snapshot()
        token = self._outbox_token(email)  # not timed, not metered
        meter.restore(metered)
        start_confirm = time.perf_counter_ns()
        account = service.confirm(token, client_address="203.0.113.7")
        confirmed = time.perf_counter_ns()
        service.approve(
            TENANT,
            account.id,
            reviewer="review@pim.example.com",
            roles=["viewer"],
            user_type="staff",
        )
        approved = time.perf_counter_ns()
        sample = {
            "register": registered - start,
            "confirm": confirmed - start_confirm,
            "approve": approved - confirmed,
            **meter.snapshot(),
        }
        sample["total"] = sample["register"] + sample["confirm"] + sample["approve"]
        if not self.hasher.verify(PASSWORD, account.password_hash or ""):
            raise AssertionError("the stored hash does not verify")
        self._empty_outbox()
        return sample

    def run_round(self) -> None:
        """Register ``iterations`` times; keep the mean per registration in microseconds."""
        sums: dict[str, int] = {}
        for _ in range(self.iterations):
            for key, value in self.register_once().items():
                sums[key] = sums.get(key, 0) + value
        for key, value in sums.items():
            self.rounds.setdefault(key, []).append(value / self.iterations / 1000)
        self.rounds.setdefault("core", []).append(
            self.rounds["total"][-1] - self.rounds["database"][-1] - self.rounds["hashing"][-1]
        )

    def median(self, key: str) -> float:
        return statistics.median(self.rounds[key])


@contextmanager
def postgresql_database(url: str) -> Iterator[str]:
    """A new database on the server of ``url`` for this run, dropped afterwards; its URL."""
    server = sa.make_url(url)
    name = f"onboardkit_bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def reachable(url: str) -> str | None:
    """``None`` when the PostgreSQL server answers, else why not."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as error:  # any failure to connect means: skip this peer
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    finally:
        engine.dispose()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--iterations", type=int, default=40, help="registrations per round")
    parser.add_argument(
        "--argon2-iterations", type=int, default=2, help="registrations per round with Argon2id"
    )
    parser.add_argument("--warm-up", type=int, default=20, help="untimed registrations per peer")
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL_URL)
    parser.add_argument("--no-postgresql", action="store_true")
    options = parser.parse_args()

    time_policy_checks()
    postgresql_skipped = "--no-postgresql" if options.no_postgresql else None
    if postgresql_skipped is None:
        postgresql_skipped = reachable(options.postgresql_url)

    with _maybe_postgresql(options.postgresql_url, postgresql_skipped) as postgresql_url:
        peers = [
            Peer("sqlite_cheap", memory_store(), CheapTestHasher(), options.iterations),
            Peer("sqlite_argon2", memory_store(), PasswordHasher(), options.argon2_iterations),
        ]
        if postgresql_url is not None:
            store = SqlStore.from_url(postgresql_url)
            store.migrate()
            peers.insert(1, Peer("postgresql_cheap", store, CheapTestHasher(), options.iterations))
        try:
            for peer in peers:
                for _ in range(options.warm_up if peer.iterations > 2 else 2):
                    peer.register_once()
            for round_number in range(options.rounds):
                shift = round_number % len(peers)
                for peer in peers[shift:] + peers[:shift]:
                    gc.collect()
                    gc.disable()
                    try:
                        peer.run_round()
                    finally:
                        gc.enable()
        finally:
            for peer in peers:
                peer.close()
        report(peers, options, postgresql_skipped)


@contextmanager
def _maybe_postgresql(url: str, skipped: str | None) -> Iterator[str | None]:
    if skipped is not None:
        yield None
        return
    with postgresql_database(url) as database_url:
        yield database_url


COLUMNS = ("total", "database", "hashing", "core", "policy", "mail")
STEPS = ("register", "confirm", "approve")


def report(peers: list[Peer], options: argparse.Namespace, postgresql_skipped: str | None) -> None:
    print(
        f"one complete registration (register + confirm + approve): median over {options.rounds}"
        " rounds of the mean per registration, microseconds (wall clock); core = total -"
        " database - hashing, of which policy (password rules, zxcvbn) and mail (3 mails)"
    )
    header = "".join(f"{name:>9}" for name in (*COLUMNS, *STEPS))
    print(f"  {'':17}{'n/round':>8}{header}   core min / max round")
    for peer in peers:
        values = "".join(f"{peer.median(name):9.0f}" for name in (*COLUMNS, *STEPS))
        spread = peer.rounds["core"]
        print(
            f"  {peer.name:17}{peer.iterations:8}{values}   {min(spread):.0f} / {max(spread):.0f}"
        )
    if postgresql_skipped is not None:
        print(f"  postgresql_cheap skipped: {postgresql_skipped}")

    by_name = {peer.name: peer for peer in peers}
    result: dict[str, Any] = {}
    for peer in peers:
        for name in COLUMNS:
            result[f"{peer.name}_{name}_us"] = round(peer.median(name), 1)
    if postgresql_skipped is not None:
        result["postgresql_skipped"] = postgresql_skipped
    sqlite, argon2 = by_name["sqlite_cheap"], by_name["sqlite_argon2"]
    core = sqlite.median("core")
    if "postgresql_cheap" in by_name:
        postgresql = by_name["postgresql_cheap"]
        result["postgresql_over_sqlite"] = round(
            postgresql.median("total") / sqlite.median("total"), 2
        )
    result["argon2_over_cheap"] = round(argon2.median("total") / sqlite.median("total"), 2)
    result["argon2_hashing_over_core"] = round(argon2.median("hashing") / core, 2)
    result["core_over_goal"] = round(core / GOAL_US, 2)
    result["goal_us"] = GOAL_US
    result["goal_met"] = core <= GOAL_US
    result["load_1min"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
